#!/usr/bin/env bash
# Runs every test of the project and ends with one line "N passed, N failed":
#   1. the C tests of the port (port/test), normal build and ASan/UBSan build;
#   2. Dialyzer, xref and the API docs build (`make docs'), one test each;
#   3. the dependency checks (test/dep_check.sh: a rebar3 project with a
#      release, and a mix project, depending on this tree), one test each;
#   4. every Common Test suite against the normal port build, then again
#      with transport nif as every connection's default;
#   5. every Common Test suite again against the port built with
#      AddressSanitizer + UBSan, then the NIF's suite and the API and local
#      suites over transport nif with the NIF built so too; any sanitizer
#      report fails the run.
# Exits non-zero if anything failed or a runner could not run.
# LIBSQL_SKIP_ASAN=1 skips steps 1b and 5 (quicker local runs).
set -u
cd "$(dirname "$0")/.."

passed=0; failed=0; status=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

# count_c FILE: add every "C tests: N passed, N failed" line of FILE (one
# per C test program; there are C_PROGRAMS of them).
C_PROGRAMS=2
count_c() {
    local line p f seen=0
    while read -r line; do
        p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
        passed=$((passed + p)); failed=$((failed + f)); seen=$((seen + 1))
    done < <(grep -E '^C tests: [0-9]+ passed, [0-9]+ failed' "$1")
    if [ "$seen" -ne "$C_PROGRAMS" ]; then
        echo "only $seen of $C_PROGRAMS C test programs reported a count"; failed=$((failed + 1)); status=1
    fi
}

# count_ct FILE: add rebar3 ct's "All N tests passed." or "[Failed F tests. ]
# [Skipped S (U, A) tests. ]Passed P tests." (a skip is neither: it is shown
# above the count; no suite skips on purpose in a full run).
count_ct() {
    local l p f
    if grep -qE 'All [0-9]+ tests passed' "$1"; then
        p=$(grep -oE 'All [0-9]+ tests passed' "$1" | tail -1 | grep -oE '[0-9]+')
        passed=$((passed + p))
    elif grep -qE 'Passed [0-9]+ tests?' "$1"; then
        l=$(grep -oE '(Failed [0-9]+ tests?\. )?(Skipped [0-9]+ \([0-9]+, [0-9]+\) tests?\. )?Passed [0-9]+ tests?' "$1" | tail -1)
        f=$(grep -oE 'Failed [0-9]+' <<<"$l" | grep -oE '[0-9]+' || true); f=${f:-0}
        p=$(grep -oE 'Passed [0-9]+' <<<"$l" | grep -oE '[0-9]+')
        grep -oE 'Skipped [0-9]+' <<<"$l" && echo "(skipped cases are listed above)"
        passed=$((passed + p)); failed=$((failed + f))
    else
        echo "Common Test did not report a count"; failed=$((failed + 1)); status=1
    fi
}

echo "== Remote test servers (tursodb 0.7.0, @tursodatabase/sync 0.7.2 from npm)"
if bash test/setup_remote.sh > "$log/setup.out" 2>&1; then
    tail -1 "$log/setup.out"
else
    cat "$log/setup.out"; echo "remote test servers could not be installed"; failed=$((failed + 1)); status=1
fi

echo "== C tests"
make -s test-c 2>&1 | tee "$log/c.out"; [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
count_c "$log/c.out"

echo "== Dialyzer (public API specs)"
if rebar3 dialyzer > "$log/dialyzer.out" 2>&1; then
    passed=$((passed + 1)); echo "dialyzer: clean"
else
    cat "$log/dialyzer.out"; failed=$((failed + 1)); status=1
fi

echo "== xref (undefined and deprecated calls, unused locals)"
if rebar3 xref > "$log/xref.out" 2>&1; then
    passed=$((passed + 1)); echo "xref: clean"
else
    cat "$log/xref.out"; failed=$((failed + 1)); status=1
fi

echo "== API docs (make docs: HTML and doc chunks)"
if make -s docs > "$log/docs.out" 2>&1 && [ -f doc/libsql.html ] && [ -f doc/chunks/libsql.chunk ] \
        && ! grep -qiE "warning|error" "$log/docs.out"; then
    passed=$((passed + 1)); echo "docs: built"
else
    cat "$log/docs.out"; failed=$((failed + 1)); status=1
fi

echo "== The library as a dependency (rebar3 with a release, mix)"
bash test/dep_check.sh 2>&1 | tee "$log/dep.out"; [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
if l=$(grep -oE '^dependency checks: [0-9]+ passed, [0-9]+ failed' "$log/dep.out"); then
    passed=$((passed + $(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$l")))
    failed=$((failed + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$l")))
else
    echo "the dependency checks did not report a count"; failed=$((failed + 1)); status=1
fi

echo "== Common Test"
rebar3 ct 2>&1 | tee "$log/ct.out"; [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
count_ct "$log/ct.out"

# Every suite again with transport nif (erl/libsql_nif.erl) as the default
# of every connection a test opens without naming one: each group runs
# over both transports.
echo "== Common Test over transport nif"
rebar3 ct --sys_config test/transport_nif.config 2>&1 | tee "$log/ct-nif.out"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
count_ct "$log/ct-nif.out"

if [ "${LIBSQL_SKIP_ASAN:-0}" != 1 ]; then
    echo "== C tests under AddressSanitizer + UBSan"
    make -s test-c-asan 2>&1 | tee "$log/c-asan.out"; [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    count_c "$log/c-asan.out"

    echo "== Common Test against the AddressSanitizer + UBSan port"
    if make -s port-asan > "$log/asan-build.out" 2>&1; then
        reports="$log/sanitizer"; mkdir -p "$reports"
        LIBSQL_PORT_EXECUTABLE="$PWD/build/asan/libsql_port" \
        ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1" \
        UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1" \
        LIBSQL_LOAD_SECONDS="${LIBSQL_ASAN_LOAD_SECONDS:-10}" \
            rebar3 ct 2>&1 | tee "$log/ct-asan.out"; [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
        count_ct "$log/ct-asan.out"
        # The NIF of transport nif under the sanitizers: its own suite and
        # the API and local suites over it, the port also the ASan build
        # (the VM is not instrumented: the runtimes are preloaded; its own
        # allocations are not leak-checked).
        echo "== Common Test over transport nif, the NIF built with AddressSanitizer + UBSan"
        LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
        LIBSQL_NIF_SO="$PWD/build/asan/libsql_nif" \
        LIBSQL_PORT_EXECUTABLE="$PWD/build/asan/libsql_port" \
        ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=0" \
        UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1" \
            rebar3 ct --sys_config test/transport_nif.config \
                --suite test/libsql_nif_SUITE,test/libsql_api_SUITE,test/libsql_local_SUITE \
                2>&1 | tee "$log/ct-nif-asan.out"; [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
        count_ct "$log/ct-nif-asan.out"
        if compgen -G "$reports/*" > /dev/null; then
            echo "sanitizer reports:"; cat "$reports"/*
            failed=$((failed + 1)); status=1
        else
            passed=$((passed + 1)); echo "sanitizers: no report"
        fi
    else
        cat "$log/asan-build.out"; failed=$((failed + 1)); status=1
    fi
fi

[ "$failed" -eq 0 ] || status=1
echo "$passed passed, $failed failed"
exit $status
