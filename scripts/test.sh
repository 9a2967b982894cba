#!/usr/bin/env bash
# The whole test suite: formatting, vet, and every test with the race
# detector. Installs what the tests need on a fresh machine (Debian).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v baresip >/dev/null 2>&1 || need+=(baresip)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${need[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) ||
    echo "warning: could not install ${need[*]}; tests that need them will be skipped" >&2
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed on:" $unformatted >&2
  exit 1
fi
go vet ./...
go test -race -timeout 20m -count=1 ./... 2>&1 | tee /tmp/strowger-test.log | grep -v '^ok\|no test files' || true
if grep -q '^FAIL\|^panic:' /tmp/strowger-test.log; then
  echo "tests failed" >&2
  exit 1
fi
pkgs=$(grep -c '^ok' /tmp/strowger-test.log || true)
echo "all tests passed ($pkgs packages)"
