#!/bin/sh
# Runs the port program under valgrind memcheck; `make valgrind' points
# LIBSQL_PORT_EXECUTABLE here. One log per process in $LIBSQL_VALGRIND_DIR.
dir="${LIBSQL_VALGRIND_DIR:-build/valgrind}"
exec valgrind --quiet --fair-sched=yes --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect --track-origins=yes \
    --log-file="$dir/port.%p.log" "$(dirname "$0")/../priv/libsql_port" "$@"
