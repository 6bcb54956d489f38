#!/bin/bash
# For `make valgrind-nif' (test/valgrind_nif.sh): builds OTP 25.2.3 (Debian
# 12's version, from Debian's own source tarball, so beams built by Debian's
# erlc load) without the JIT, plus OTP's `valgrind' emulator type
# (beam.valgrind.smp), and installs it into a cache outside the repository.
# Idempotent: does nothing if the cache is complete. About 7 minutes on 2
# cores the first time.
#
# usage: otp_valgrind_build.sh [PREFIX]   (default ~/.cache/libsql/otp-25.2.3-valgrind)
# env:   OTPV_WORK  where the tarball and the source tree go
#                   (default ${TMPDIR:-/tmp}/otp-25.2.3-valgrind-build; removed on success
#                   unless OTPV_KEEP=1)
# Needs: gcc, make, perl, libncurses-dev, valgrind (valgrind/valgrind.h),
# curl, xz-utils; installed with apt-get when missing and running as root.
set -euo pipefail

VSN=25.2.3
PREFIX=${1:-$HOME/.cache/libsql/otp-$VSN-valgrind}
WORK=${OTPV_WORK:-${TMPDIR:-/tmp}/otp-$VSN-valgrind-build}
TARBALL=erlang_$VSN+dfsg.orig.tar.xz
URL=http://deb.debian.org/debian/pool/main/e/erlang/$TARBALL
SHA256=65c77675af31235d19ee7888fb2a9d858759b1089ba33126344697be7600d271
STAMP=$PREFIX/.otp-valgrind-complete
JOBS=${JOBS:-$(nproc)}

if [ -f "$STAMP" ] && ls "$PREFIX"/lib/erlang/erts-*/bin/beam.valgrind.smp >/dev/null 2>&1; then
    echo "OTP $VSN valgrind emulator already in $PREFIX"
    exit 0
fi

# build dependencies (Debian package names)
need=()
for p in gcc make perl libncurses-dev valgrind curl xz-utils bc; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
    else
        echo "missing packages: ${need[*]}" >&2; exit 1
    fi
fi

mkdir -p "$WORK"
cd "$WORK"
if ! { [ -f "$TARBALL" ] && echo "$SHA256  $TARBALL" | sha256sum -c --quiet - >/dev/null 2>&1; }; then
    curl -sSfL -o "$TARBALL.part" "$URL"
    mv "$TARBALL.part" "$TARBALL"
    echo "$SHA256  $TARBALL" | sha256sum -c --quiet -
fi
SRC=$WORK/otp-OTP-$VSN
rm -rf "$SRC"
tar xf "$TARBALL"
cd "$SRC"
export ERL_TOP=$SRC
# A minimal system: erts, kernel, stdlib, compiler, sasl; parsetools is
# needed by the bootstrap (yecc makes stdlib's erl_parse.erl).
for d in lib/*/; do
    case $(basename "$d") in
        kernel|stdlib|compiler|sasl|parsetools) ;;
        *) touch "$d/SKIP" ;;
    esac
done

t0=$(date +%s)
./configure --disable-jit --prefix="$PREFIX" --without-wx --without-javac \
    --without-odbc --without-ssl --without-termcap > "$WORK/configure.log" 2>&1 ||
    { tail -30 "$WORK/configure.log"; exit 1; }
grep -q 'JIT_ENABLED=no' erts/emulator/*/Makefile ||
    { echo "configure left the JIT on" >&2; exit 1; }
make -j"$JOBS" > "$WORK/make.log" 2>&1 || { tail -30 "$WORK/make.log"; exit 1; }
make -j"$JOBS" emulator TYPE=valgrind > "$WORK/make-valgrind.log" 2>&1 ||
    { tail -30 "$WORK/make-valgrind.log"; exit 1; }
rm -rf "$PREFIX"
make install > "$WORK/install.log" 2>&1 || { tail -30 "$WORK/install.log"; exit 1; }

# `make install' installs only the opt emulator: add the valgrind one (its
# erl_child_setup has the same marker) and OTP's suppressions
HOSTBIN=$(ls -d "$SRC"/bin/*-*-*/ | head -1)
ERTSBIN=$(ls -d "$PREFIX"/lib/erlang/erts-*/bin)
cp -p "$HOSTBIN"/beam.valgrind.smp "$HOSTBIN"/erl_child_setup.valgrind "$ERTSBIN"/
mkdir -p "$PREFIX/lib/erlang/misc/valgrind"
cp -p erts/emulator/valgrind/suppress.standard "$PREFIX/lib/erlang/misc/valgrind/"

# smoke: the valgrind type starts (outside valgrind too)
"$PREFIX/bin/erl" -emu_type valgrind -noshell \
    -eval 'io:format("~s ~p~n", [erlang:system_info(otp_release), erlang:system_info(emu_type)]), halt().'

echo "built in $(( $(date +%s) - t0 ))s" > "$STAMP"
cat "$STAMP"
cd /
[ "${OTPV_KEEP:-0}" = 1 ] || rm -rf "$SRC"
echo "OTP $VSN valgrind emulator installed in $PREFIX"
