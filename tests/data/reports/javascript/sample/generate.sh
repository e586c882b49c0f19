#!/bin/sh
# Regenerates the JavaScript report fixtures from this sample project.
# Run from a copy of this folder: sh generate.sh OUT_DIR  (needs node >= 20 and npm).
# The tests fail on purpose, so the tools' exit codes are ignored.
set -u
out=${1:?usage: sh generate.sh OUT_DIR}
mkdir -p "$out"
npm install --no-audit --no-fund --silent
here=$(pwd)

# c8 around node's own test runner: coverage (Cobertura, LCOV, text) and the JUnit reporter.
npx c8 --all --include='src/**' --reporter=cobertura --reporter=lcov --reporter=text --reporter=text-summary \
    --reports-dir=coverage \
    node --test --test-reporter=spec --test-reporter-destination="$out/node-spec.txt" \
    --test-reporter=junit --test-reporter-destination="$out/node-junit.xml" test/ \
    > "$out/c8-summary.txt"
cp coverage/cobertura-coverage.xml "$out/c8-cobertura.xml"
cp coverage/lcov.info "$out/c8.lcov"

# Jest with jest-junit (jest.config.js writes jest-junit.xml here).
npx jest --ci > "$out/jest-summary.txt" 2>&1
cp jest-junit.xml "$out/jest-junit.xml"

# ESLint: the SARIF log, and the same run in ESLint's own words.
npx eslint --format @microsoft/eslint-formatter-sarif --output-file "$out/eslint.sarif" src
npx eslint src > "$out/eslint-summary.txt"

# Neutralise the build folder and host name, as for every vendored report.
for file in "$out"/*; do
    sed -i -e "s#$here#/build/calcplug-js#g" -e 's/hostname="[^"]*"/hostname="ci-runner"/g' "$file"
done
