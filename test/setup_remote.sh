#!/usr/bin/env bash
# Makes sure the remote test servers' binaries and the peers the tests compare
# against are in the test cache, and prints the path of the tursodb executable
# on stdout (nothing else goes to stdout, so callers can capture it).
#
#   cache: ${LIBSQL_TEST_CACHE:-$HOME/.cache/libsql-test}
#     package/tursodb                       npm @tursodatabase/cli-linux-x64-gnu@0.7.0
#     node_modules/@tursodatabase/sync       npm @tursodatabase/sync@0.7.2
#     node_modules/libsql                    npm libsql@0.5.29 (with its prebuilt
#                                            @libsql/linux-x64-gnu): the encryption
#                                            peer driven by test/js/crypt_peer.mjs
#
# Idempotent: when all are present at the right versions it does no network
# access. Exits non-zero with a message on stderr when anything fails.
set -euo pipefail

CLI_PKG=@tursodatabase/cli-linux-x64-gnu
CLI_VERSION=0.7.0
SYNC_PKG=@tursodatabase/sync
SYNC_VERSION=0.7.2
PEER_PKG=libsql
PEER_VERSION=0.5.29
CACHE=${LIBSQL_TEST_CACHE:-$HOME/.cache/libsql-test}
TURSODB=$CACHE/package/tursodb

die() { echo "setup_remote.sh: $*" >&2; exit 1; }

# pkg_version DIR: the "version" field of DIR/package.json, empty if absent.
# Uses node, which npm needs anyway, rather than parsing JSON with sed.
pkg_version() {
    [ -f "$1/package.json" ] || return 0
    node -e 'try { process.stdout.write(require(process.argv[1]).version || "") } catch (e) {}' \
        "$1/package.json"
}

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found; install Node.js/npm (Debian: apt-get install nodejs npm)"; }

ensure_cli() {
    if [ -x "$TURSODB" ] && [ "$(pkg_version "$CACHE/package")" = "$CLI_VERSION" ]; then
        return 0
    fi
    need npm
    local tgz=tursodatabase-cli-linux-x64-gnu-$CLI_VERSION.tgz
    # npm pack prints the tarball name; keep its chatter off our stdout.
    (cd "$CACHE" && npm pack --silent "$CLI_PKG@$CLI_VERSION" >/dev/null) \
        || die "npm pack $CLI_PKG@$CLI_VERSION failed"
    [ -f "$CACHE/$tgz" ] || die "npm pack did not produce $CACHE/$tgz"
    rm -rf "$CACHE/package"
    tar -xzf "$CACHE/$tgz" -C "$CACHE" || die "cannot unpack $CACHE/$tgz"
    [ -x "$TURSODB" ] || die "$TURSODB missing or not executable after unpacking $tgz"
}

ensure_sync() {
    local dir=$CACHE/node_modules/$SYNC_PKG
    if [ "$(pkg_version "$dir")" = "$SYNC_VERSION" ]; then
        return 0
    fi
    need npm
    npm install --prefix "$CACHE" --silent --no-audit --no-fund "$SYNC_PKG@$SYNC_VERSION" >/dev/null \
        || die "npm install $SYNC_PKG@$SYNC_VERSION into $CACHE failed"
    [ "$(pkg_version "$dir")" = "$SYNC_VERSION" ] \
        || die "$dir is not at version $SYNC_VERSION after npm install"
}

# The version check alone does not prove the native part (@libsql/linux-x64-gnu,
# an optional dependency npm may skip) is there, so the module must also load.
peer_loads() {
    node -e 'require(process.argv[1])' "$CACHE/node_modules/$PEER_PKG" >/dev/null 2>&1
}

ensure_libsql_peer() {
    local dir=$CACHE/node_modules/$PEER_PKG
    if [ "$(pkg_version "$dir")" = "$PEER_VERSION" ] && peer_loads; then
        return 0
    fi
    need npm
    npm install --prefix "$CACHE" --silent --no-audit --no-fund "$PEER_PKG@$PEER_VERSION" >/dev/null \
        || die "npm install $PEER_PKG@$PEER_VERSION into $CACHE failed"
    [ "$(pkg_version "$dir")" = "$PEER_VERSION" ] \
        || die "$dir is not at version $PEER_VERSION after npm install"
    peer_loads || die "$dir does not load (node -e \"require('$dir')\" failed; is @libsql/linux-x64-gnu installed?)"
}

need node
mkdir -p "$CACHE" || die "cannot create $CACHE"
ensure_cli
ensure_sync
ensure_libsql_peer
# A binary that cannot run (wrong arch, missing libc) is better reported here
# than as a server that never answers.
"$TURSODB" --version >/dev/null 2>&1 || die "$TURSODB does not run (tursodb --version failed)"
echo "$TURSODB"
