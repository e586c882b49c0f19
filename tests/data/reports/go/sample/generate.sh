#!/bin/sh
# Regenerates the Go report fixtures from this sample module.
# Run from a copy of this folder: sh generate.sh OUT_DIR  (needs go and gotestsum on PATH;
# on Debian: apt-get install golang-go gotestsum). TestDiv fails on purpose, so the exit
# codes are ignored.
set -u
out=${1:?usage: sh generate.sh OUT_DIR}
mkdir -p "$out"

# gotestsum's JUnit and a plain `go test -coverprofile` (mode: set) from the same run.
gotestsum --junitfile "$out/gotestsum-junit.xml" --format testname \
    -- -coverprofile="$out/coverage.out" ./... > "$out/gotestsum-summary.txt" 2>&1

# -coverpkg over several packages: every test binary reports every block, so blocks repeat.
go test -covermode=count -coverpkg=./... -coverprofile="$out/coverage-coverpkg.out" ./... \
    > "$out/go-test-coverpkg.txt" 2>&1

# The figures `go tool cover` itself reads from each profile.
go tool cover -func="$out/coverage.out" > "$out/coverage.func.txt"
go tool cover -func="$out/coverage-coverpkg.out" > "$out/coverage-coverpkg.func.txt"
