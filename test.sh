#!/usr/bin/env bash
# Builds Keyward and runs every test project. Ends with one line: "N passed, N failed[, N skipped]".
# Installs what the tests need that the machine lacks; exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")"

say() { printf '%s\n' "$*" >&2; }

if ! command -v dotnet >/dev/null 2>&1; then
  say "test.sh: the .NET 10 SDK (dotnet) is required and is not on PATH."
  echo "0 passed, 1 failed"
  exit 1
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# The PostgreSQL store's tests start a throwaway cluster (test/Keyward.Tests.Common/PostgresCluster.cs): they need
# PostgreSQL's server binaries. Without them those tests fail, naming the package; they are never skipped.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  say "== installing PostgreSQL's server binaries (apt-get install postgresql)"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if ! { timeout 600 $sudo apt-get update -qq \
      && timeout 900 $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }; then
    say "test.sh: installing PostgreSQL failed (apt-get install -y postgresql); the PostgreSQL store's tests will fail and say so."
  fi
fi

say "== build"
if ! dotnet build Keyward.slnx -c Debug -nologo -v quiet; then
  say "test.sh: the build failed."
  echo "0 passed, 1 failed"
  exit 1
fi

results=$(mktemp -d "${TMPDIR:-/tmp}/keyward-tests.XXXXXX")
trap 'rm -rf "$results"' EXIT

say "== test"
# A hung test is dumped and killed rather than stalling CI.
dotnet test Keyward.slnx --no-build -c Debug -nologo \
  --logger "trx" --logger "console;verbosity=minimal" \
  --results-directory "$results" \
  --blame-hang-timeout 5m
status=$?

passed=0 failed=0 skipped=0 files=0
for trx in "$results"/*.trx; do
  [ -e "$trx" ] || continue
  files=$((files + 1))
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  value() { printf '%s' "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  passed=$((passed + $(value passed)))
  failed=$((failed + $(value failed) + $(value error) + $(value timeout) + $(value aborted)))
  skipped=$((skipped + $(value notExecuted)))
done

# A test host that crashed before writing its results still counts as a failure.
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  say "test.sh: dotnet test exited with $status without reporting a failed test (a crashed test host?)."
  failed=1
fi
if [ "$files" -eq 0 ]; then
  say "test.sh: no test results were written."
  failed=$((failed + 1))
fi

line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
[ "$failed" -eq 0 ]
