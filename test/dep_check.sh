#!/usr/bin/env bash
# libsql as a dependency, the way users take it. Builds a throwaway rebar3
# project and a throwaway mix project that depend on this checkout as a git
# dependency, and checks, each a counted test:
#   rebar3: the dependency compiles and its port program is built into the
#           dependency's own priv/ (not this checkout's);
#   rebar3: `rebar3 release' builds a release that starts (a pool from
#           sys.config), answers a query through libsql, stops, and leaves
#           no libsql_port process behind;
#   mix:    `mix compile' builds it (manager: :rebar3, Debian's elixir), and
#           the README's Elixir blocks run (:libsql.query/3 with Elixir's nil,
#           the null => nil open option, a pool under an Elixir Supervisor),
#           leaving no libsql_port process behind;
#   mix:    the API docs reach iex's h (EEP-48 chunks).
# What is depended on is a snapshot of the working tree (tracked files and
# new ones not ignored) committed to a scratch git repository, so what is
# tested is what a clean checkout of this tree would give, uncommitted
# changes included, build products excluded.
# Ends with one line "dependency checks: N passed, N failed"; exits non-zero
# if any failed. LIBSQL_DEP_KEEP=1 keeps the scratch directory.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d "${TMPDIR:-/tmp}/libsql-dep.XXXXXX")
LOG=$WORK/log
passed=0; failed=0; daemon=

cleanup() {
    # A release left running by a failed check must not outlive the run.
    [ -n "$daemon" ] && "$daemon" stop > /dev/null 2>&1
    pkill -f -- "$WORK/.*libsql_port" 2> /dev/null
    [ "${LIBSQL_DEP_KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

pass() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1"; [ -f "$LOG" ] && { tail -40 "$LOG"; echo; }; failed=$((failed + 1)); }

# ports_under DIR: how many libsql_port processes run from an executable under DIR.
ports_under() { pgrep -f -- "^$1/.*libsql_port" | wc -l; }

# wait_for SECONDS COMMAND...: retry COMMAND every 0.2 s until it succeeds.
wait_for() {
    local end=$((SECONDS + $1)); shift
    until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done
}

echo "== snapshot of the working tree as a git repository"
SRC=$WORK/libsql-src
mkdir -p "$SRC"
git ls-files -z --cached --others --exclude-standard \
    | tar --null -T - --ignore-failed-read -cf - 2> /dev/null | tar -C "$SRC" -xf - \
    && git -C "$SRC" init -q -b main \
    && git -C "$SRC" add -A \
    && git -C "$SRC" -c user.name=check -c user.email=check@localhost commit -qm snapshot \
    || { echo "cannot make the snapshot"; echo "dependency checks: 0 passed, 1 failed"; exit 1; }

echo "== a rebar3 project depending on libsql (git)"
APP=$WORK/depapp
mkdir -p "$APP/src" "$APP/config"
cat > "$APP/rebar.config" <<EOF
{deps, [{libsql, {git, "file://$SRC", {branch, "main"}}}]}.
{relx, [{release, {depapp, "0.1.0"}, [depapp]},
        {sys_config, "config/sys.config"},
        {vm_args, "config/vm.args"},
        {dev_mode, false}, {include_erts, true}, {extended_start_script, true}]}.
EOF
cat > "$APP/src/depapp.app.src" <<'EOF'
{application, depapp,
 [{description, "depends on libsql"}, {vsn, "0.1.0"},
  {applications, [kernel, stdlib, libsql]}, {env, []}]}.
EOF
cat > "$APP/config/sys.config" <<EOF
[{libsql, [{pools, [{depapp_db, #{path => "$WORK/depapp.db", size => 2}}]}]}].
EOF
printf -- '-sname depapp%s\n-setcookie depapp_check\n' "$$" > "$APP/config/vm.args"

PORT_BIN=$APP/_build/default/lib/libsql/priv/libsql_port
if (cd "$APP" && rebar3 compile) > "$LOG" 2>&1 && [ -x "$PORT_BIN" ]; then
    pass "rebar3 compile builds the port into the dependency's priv/ ($PORT_BIN)"
else
    fail "rebar3 compile of a project depending on libsql (no $PORT_BIN)"
fi

REL=$APP/_build/default/rel/depapp
if (cd "$APP" && rebar3 release) > "$LOG" 2>&1 && [ -x "$REL/bin/depapp" ]; then
    daemon=$REL/bin/depapp
    ok=1; why=
    "$daemon" daemon >> "$LOG" 2>&1 || { ok=0; why="daemon did not start"; }
    [ $ok = 1 ] && { wait_for 60 "$daemon" ping > /dev/null 2>&1 || { ok=0; why="no pong"; }; }
    if [ $ok = 1 ]; then
        answer=$("$daemon" eval 'case libsql:query(depapp_db, "SELECT 40 + 2 AS answer") of
                                      {ok, [<<"answer">>], [{42}]} -> query_ok;
                                      Other -> Other
                                  end.' 2>&1)
        [ "$answer" = query_ok ] || { ok=0; why="query answered: $answer"; }
    fi
    running=$(ports_under "$REL")
    [ $ok = 1 ] && [ "$running" != 2 ] && { ok=0; why="$running port programs under the release, not 2"; }
    "$daemon" stop >> "$LOG" 2>&1
    wait_for 30 sh -c "! '$daemon' ping > /dev/null 2>&1" || { ok=0; why="$why; did not stop"; }
    daemon=
    wait_for 10 sh -c "[ \$(pgrep -f -- '^$REL/.*libsql_port' | wc -l) = 0 ]" \
        || { ok=0; why="$why; libsql_port processes left: $(ports_under "$REL")"; }
    if [ $ok = 1 ]; then
        pass "rebar3 release: starts, queries a pool from sys.config, stops, no port left"
    else
        fail "rebar3 release: $why"
    fi
else
    fail "rebar3 release of a project depending on libsql"
fi

echo "== a mix project depending on libsql (git, manager: :rebar3)"
MIXAPP=$WORK/mixapp
mkdir -p "$MIXAPP/lib"
cat > "$MIXAPP/mix.exs" <<EOF
defmodule Mixapp.MixProject do
  use Mix.Project

  def project do
    [app: :mixapp, version: "0.1.0",
     deps: [{:libsql, git: "file://$SRC", branch: "main", manager: :rebar3}]]
  end

  def application, do: [extra_applications: [:logger]]
end
EOF
# The README's Elixir blocks are the check (a connection, nil in and out, a
# pool under an Elixir Supervisor), so the README cannot rot.
awk '/^```elixir/ {on = 1; next} /^```/ {on = 0} on' "$ROOT/README.md" > "$MIXAPP/check.exs"
echo 'IO.puts("mix check: ok")' >> "$MIXAPP/check.exs"
export MIX_REBAR3=${MIX_REBAR3:-$(command -v rebar3)}
if (cd "$MIXAPP" && mix deps.get && mix compile) > "$LOG" 2>&1 \
        && [ -x "$MIXAPP/_build/dev/lib/libsql/priv/libsql_port" ]; then
    if (cd "$MIXAPP" && mix run check.exs) > "$LOG" 2>&1 && grep -q "^mix check: ok$" "$LOG"; then
        if wait_for 10 sh -c "[ \$(pgrep -f -- '^$MIXAPP/.*libsql_port' | wc -l) = 0 ]"; then
            pass "mix: compiles, the README's Elixir section runs, no port left"
        else
            fail "mix: libsql_port processes left after mix run: $(ports_under "$MIXAPP")"
        fi
    else
        fail "mix run of the check script"
    fi
    if (cd "$MIXAPP" && mix run -e 'require IEx.Helpers; IEx.Helpers.h(:libsql.query/3)') \
            > "$LOG" 2>&1 && grep -q "As query/4" "$LOG" && ! grep -q "without docs" "$LOG"; then
        pass "mix: iex's h shows the docs of :libsql.query/3"
    else
        fail "mix: iex's h has no docs for :libsql.query/3"
    fi
else
    fail "mix deps.get / mix compile of a project depending on libsql"
fi

echo "dependency checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
