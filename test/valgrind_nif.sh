#!/bin/bash
# `make valgrind-nif': the NIF of transport nif (priv/libsql_nif.so) under
# valgrind memcheck. Debian's OTP 25 beam is JIT-only, which memcheck cannot
# follow; OTP's own `valgrind' emulator type can (beam.valgrind.smp: the
# interpreter, with the VM's allocators off so that enif_alloc and resources
# are plain malloc and every leak or bad access of ours is seen). It is built
# from Debian's source of the same OTP by test/otp_valgrind_build.sh.
#
# usage: valgrind_nif.sh [--log FILE] WHAT [ARGS...]
#   WHAT = FILE.erl      compiled with the cache's erlc, then `-eval MOD:run()'
#                        (run/0 must halt with the status it wants)
#          FILE.escript  run as escript does (-run escript start -extra FILE ARGS)
#          anything else erl arguments as they are, e.g. -eval 'm:f(), halt().'
# env: OTP_VALGRIND     the cache (default ~/.cache/libsql/otp-25.2.3-valgrind)
#      LIBSQL_EBIN      added with -pa (default: this checkout's
#                       _build/default/lib/libsql/ebin; its ../priv has the NIF)
#      LIBSQL_NIF_SO    (read by libsql_nif.erl) another NIF build, path without .so
#      VALGRIND_FLAGS   extra valgrind flags (e.g. --gen-suppressions=all)
# Exit: 0 if the program exited 0 and no memcheck record (error or
# definite/indirect leak) has libsql_nif in its stack; 1 otherwise.
# Records that do not involve libsql_nif (VM noise) are only counted.
set -euo pipefail

OTP=${OTP_VALGRIND:-$HOME/.cache/libsql/otp-25.2.3-valgrind}
LOG=
if [ "${1:-}" = --log ]; then LOG=$2; shift 2; fi
[ $# -ge 1 ] || { sed -n '2,18p' "$0"; exit 2; }
ERL=$OTP/bin/erl
[ -x "$ERL" ] && ls "$OTP"/lib/erlang/erts-*/bin/beam.valgrind.smp >/dev/null 2>&1 || {
    echo "no valgrind emulator in $OTP: run otp_valgrind_build.sh first" >&2; exit 2; }
BINDIR=$(ls -d "$OTP"/lib/erlang/erts-*/bin | tail -1)
SUPP=$OTP/lib/erlang/misc/valgrind/suppress.standard

if [ -z "${LIBSQL_EBIN:-}" ]; then
    top=$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null || pwd)
    LIBSQL_EBIN=$top/_build/default/lib/libsql/ebin
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/nif_vg.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
[ -n "$LOG" ] || LOG=${TMPDIR:-/tmp}/nif_valgrind.$$.log

case "$1" in
    *.erl)
        "$OTP/bin/erlc" -o "$TMP" "$1"
        mod=$(basename "$1" .erl); shift
        set -- -pa "$TMP" -eval "$mod:run()" "$@" ;;
    *.escript)
        f=$1; shift
        set -- +B -boot no_dot_erlang -run escript start -extra "$f" "$@" ;;
esac

# the emulator's own arguments, as erlexec would pass them (what cerl does)
mapfile -t BEAM_ARGS < <("$ERL" -emu_type valgrind -emu_args_exit -noshell -pa "$LIBSQL_EBIN" "$@")

VG=(valgrind --tool=memcheck --log-file="$LOG"
    --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --show-possibly-lost=no
    --child-silent-after-fork=yes --trace-children=no --num-callers=40
    --suppressions="$SUPP")
# shellcheck disable=SC2206
VG+=(${VALGRIND_FLAGS:-})

# what bin/erl exports for erlexec and the emulator
export ROOTDIR=$OTP/lib/erlang BINDIR EMU=beam PROGNAME=erl
export PATH=$BINDIR:$OTP/bin:$PATH

start=$(date +%s.%N)
set +e
# -S/-SDcpu as cerl -valgrind: all schedulers online whatever the CPU mask
ncpu=$(nproc)
"${VG[@]}" "$BINDIR/beam.valgrind.smp" -S "$ncpu:$ncpu" -SDcpu "$ncpu:$ncpu" "${BEAM_ARGS[@]}"
rc=$?
set -e
wall=$(echo "$(date +%s.%N) - $start" | bc)

# split the log into records (blank-line separated); a record is ours if
# any frame is in libsql_nif*.so or its sources
awk -v ours="$TMP/ours.txt" -v other="$TMP/other.txt" '
    { sub(/^==[0-9]+== ?/, "") }
    /^Warning: set address range perms/ { next }
    /^$/ { flush(); next }
    { rec = rec $0 "\n" }
    END { flush() }
    function flush() {
        if (rec ~ /(Invalid|uninitialised|Uninitialised|Mismatched|overlap|Syscall param|are definitely lost|are indirectly lost|Source and destination)/) {
            if (rec ~ /libsql_nif|nif_frames\.c/) print rec > ours; else print rec > other
        }
        rec = ""
    }' "$LOG"
HEAD='^(Invalid|Conditional|Use of|Syscall|Mismatched|Source|[0-9,]+ .*bytes in .*lost)'
n_ours=$(grep -cE "$HEAD" "$TMP/ours.txt" 2>/dev/null || true)
n_other=$(grep -cE "$HEAD" "$TMP/other.txt" 2>/dev/null || true)
n_ours=${n_ours:-0}; n_other=${n_other:-0}

echo "---- memcheck ($LOG) ----"
grep -E 'ERROR SUMMARY|definitely lost:|indirectly lost:|possibly lost:' "$LOG" | sed 's/^==[0-9]*== //'
echo "records involving libsql_nif: $n_ours; VM/other records: $n_other"
if [ "$n_ours" != 0 ]; then cat "$TMP/ours.txt"; fi
echo "program exit: $rc; wall: ${wall}s"
[ "$rc" = 0 ] && [ "$n_ours" = 0 ]
