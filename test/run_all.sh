#!/usr/bin/env bash
# Runs every test of the project and ends with one line "N passed, N failed":
# the C tests (port/test) and every Common Test suite under test/.
# Exits non-zero if anything failed or a runner could not run.
set -u
cd "$(dirname "$0")/.."

passed=0; failed=0; status=0
log=$(mktemp -d)

echo "== C tests"
if make -s test-c 2>&1 | tee "$log/c.out"; then :; else status=1; fi
line=$(grep -E '^C tests: [0-9]+ passed, [0-9]+ failed' "$log/c.out" | tail -1)
if [ -n "$line" ]; then
    p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
    passed=$((passed + p)); failed=$((failed + f))
else
    echo "C tests did not report a count"; failed=$((failed + 1)); status=1
fi

echo "== Dialyzer (public API specs)"
if rebar3 dialyzer > "$log/dialyzer.out" 2>&1; then
    passed=$((passed + 1)); echo "dialyzer: clean"
else
    cat "$log/dialyzer.out"; failed=$((failed + 1)); status=1
fi

echo "== Common Test"
rebar3 ct 2>&1 | tee "$log/ct.out"
ct_rc=${PIPESTATUS[0]}
# rebar3 prints "All N tests passed." or "Failed F tests. Passed P tests."
if grep -qE 'All [0-9]+ tests passed' "$log/ct.out"; then
    p=$(grep -oE 'All [0-9]+ tests passed' "$log/ct.out" | tail -1 | grep -oE '[0-9]+')
    passed=$((passed + p))
elif grep -qE 'Failed [0-9]+ tests?\. Passed [0-9]+ tests?' "$log/ct.out"; then
    l=$(grep -oE 'Failed [0-9]+ tests?\. Passed [0-9]+ tests?' "$log/ct.out" | tail -1)
    f=$(grep -oE '[0-9]+' <<<"$l" | head -1); p=$(grep -oE '[0-9]+' <<<"$l" | tail -1)
    passed=$((passed + p)); failed=$((failed + f))
else
    echo "Common Test did not report a count"; failed=$((failed + 1))
fi
[ "$ct_rc" -eq 0 ] || status=1

rm -rf "$log"
[ "$failed" -eq 0 ] || status=1
echo "$passed passed, $failed failed"
exit $status
