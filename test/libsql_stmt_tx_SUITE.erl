%% Common Test suite: statement cache, prepared statement handles,
%% transactions (managed, nested, modes, explicit control, savepoints),
%% batches, scripts and execute_many.
%%
%% What a remote connection does as well (a batch's results and its all or
%% nothing, execute_many, scripts, one prepared handle run many times, the
%% statement cache) runs with the same case bodies against a local file and
%% a remote server in libsql_api_SUITE; this suite keeps what goes beyond.
%%
%% Every assertion checks exact values. A case whose name ends in `_bug'
%% exposes a defect found while writing this suite: it is meant to fail
%% until the defect is fixed (the comment above it gives the reproducer).
%%
%% About `requests' in libsql:stats/1: the port counts every request it
%% dispatches, the stats request itself included, so two stats calls in a
%% row differ by exactly 1 (checked in stats_keys_and_self_count) and "X
%% took one round trip" reads as a delta of 2 between the stats taken
%% before and after X.
-module(libsql_stmt_tx_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").
-include("libsql.hrl").

-import(libsql_test_util, [db_path/2, expect_error/2, contains/2]).

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1]).

%% statement cache
-export([stats_keys_and_self_count/1, cache_lru_capacity_2/1,
         cache_lru_order/1, cache_size_zero/1, cache_default_capacity/1,
         cache_bad_option/1, cache_schema_change/1]).
%% prepared statements
-export([prepare_info/1, prepare_named_and_numbered/1,
         prepare_error_then_reuse/1, prepare_bad_params/1, stmt_after_finalize/1,
         finalize_twice/1, stmt_other_connection/1, stmt_after_close/1,
         prepare_invalid_sql/1, prepare_empty_sql/1, prepare_two_statements/1,
         stmt_after_reset/1, pool_stmt/1, pool_stmt_finalize/1]).
%% transactions
-export([tx_commit/1, tx_rollback_error/1, tx_rollback_exit/1, tx_rollback_throw/1,
         tx_rollback_badmatch/1, tx_pinned/1, tx_pinned_pool/1, tx_nested_inner_fails/1,
         tx_nested_with_options/1,
         tx_nested_inner_commits/1, tx_deep_nesting/1, tx_mode_deferred/1,
         tx_mode_immediate/1, tx_mode_exclusive/1, tx_mode_read_only/1,
         tx_mode_read_only_raise/1, tx_bad_mode/1, tx_bad_args/1, tx_commit_fails/1,
         tx_nested_bad_mode/1, tx_nested_read_only/1, tx_other_connection/1,
         tx_other_process_begin/1]).
%% explicit transaction control and savepoints
-export([explicit_begin_commit_rollback/1, explicit_modes/1, explicit_bad_mode/1,
         commit_without_tx/1, rollback_without_tx/1, begin_twice_keeps_tx/1,
         savepoint_release/1, savepoint_rollback_to/1, savepoint_unknown/1,
         savepoint_bad_names/1, savepoint_name_trailing_newline/1]).
%% batches
-export([batch_non_tx_results/1, batch_maps/1, batch_in_transaction/1,
         batch_bad_elements/1, batch_bad_option/1]).
%% scripts
-export([script_migration/1, script_prepare_error_sql/1]).
%% execute_many
-export([many_bad_params_at_k/1, many_wrong_count_at_k/1, many_in_transaction/1,
         many_empty/1, many_100000/1]).

-type config() :: [{atom(), term()}].

-define(STATS_KEYS, [cache_capacity, cache_evictions, cache_hits, cache_misses, cache_size,
                     cursors, errors, prepares, requests, rows, statements]).

%% ---- CT callbacks ------------------------------------------------------

-spec suite() -> [tuple()].
suite() -> [{timetrap, {seconds, 60}}].

-spec all() -> [{group, atom()}].
all() ->
    [{group, cache}, {group, statements}, {group, transactions}, {group, explicit},
     {group, batches}, {group, scripts}, {group, many}].

-spec groups() -> [{atom(), list(), [atom()]}].
groups() ->
    [{cache, [], [stats_keys_and_self_count, cache_lru_capacity_2,
                  cache_lru_order, cache_size_zero, cache_default_capacity,
                  cache_bad_option, cache_schema_change]},
     {statements, [], [prepare_info, prepare_named_and_numbered,
                       prepare_error_then_reuse, prepare_bad_params, stmt_after_finalize,
                       finalize_twice, stmt_other_connection, stmt_after_close,
                       prepare_invalid_sql, prepare_empty_sql, prepare_two_statements,
                       stmt_after_reset, pool_stmt, pool_stmt_finalize]},
     {transactions, [], [tx_commit, tx_rollback_error, tx_rollback_exit, tx_rollback_throw,
                         tx_rollback_badmatch, tx_pinned, tx_pinned_pool,
                         tx_nested_inner_fails, tx_nested_with_options,
                         tx_nested_inner_commits, tx_deep_nesting, tx_mode_deferred,
                         tx_mode_immediate, tx_mode_exclusive, tx_mode_read_only,
                         tx_mode_read_only_raise, tx_bad_mode, tx_bad_args,
                         tx_commit_fails, tx_nested_bad_mode,
                         tx_nested_read_only, tx_other_connection,
                         tx_other_process_begin]},
     {explicit, [], [explicit_begin_commit_rollback, explicit_modes, explicit_bad_mode,
                     commit_without_tx, rollback_without_tx, begin_twice_keeps_tx,
                     savepoint_release, savepoint_rollback_to, savepoint_unknown,
                     savepoint_bad_names, savepoint_name_trailing_newline]},
     {batches, [], [batch_non_tx_results, batch_maps, batch_in_transaction,
                    batch_bad_elements, batch_bad_option]},
     {scripts, [], [script_migration, script_prepare_error_sql]},
     {many, [], [many_bad_params_at_k, many_wrong_count_at_k, many_in_transaction,
                 many_empty, many_100000]}].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    libsql_test_util:init_per_suite(?MODULE, Config).

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    ok.

%% ---- statement cache -----------------------------------------------------

%% stats/1 has (at least) the documented keys; on a fresh connection nothing
%% is cached; two stats calls in a row differ only by that one request.
-spec stats_keys_and_self_count(config()) -> ok.
stats_keys_and_self_count(_Config) ->
    C = mem(),
    {ok, Raw} = libsql:stats(C),
    ?assertEqual([], ?STATS_KEYS -- maps:keys(Raw)),
    [?assert(is_integer(V) andalso V >= 0) || V <- maps:values(Raw)],
    S1 = stats(C),
    ?assertEqual(#{cache_capacity => 100, cache_evictions => 0, cache_hits => 0,
                   cache_misses => 0, cache_size => 0, cursors => 0, errors => 0,
                   prepares => 0, rows => 0, statements => 0},
                 maps:remove(requests, S1)),
    S2 = stats(C),
    ?assertEqual(#{requests => 1}, nonzero(delta(S1, S2))),
    ok = libsql:close(C).

%% Capacity 2, three SQL texts in a cycle: LRU thrashes, every execution
%% prepares and each one beyond the first two evicts; the cache never
%% holds more than 2.
-spec cache_lru_capacity_2(config()) -> ok.
cache_lru_capacity_2(_Config) ->
    {ok, C} = libsql:open(#{path => ":memory:", cache_size => 2}),
    S0 = stats(C),
    ?assertEqual(2, maps:get(cache_capacity, S0)),
    Sqls = [<<"SELECT 1 + ?">>, <<"SELECT 2 + ?">>, <<"SELECT 3 + ?">>],
    Sizes = [begin
                 {ok, _, [{V}]} = libsql:query(C, lists:nth(K, Sqls), [Round]),
                 ?assertEqual(K + Round, V),
                 maps:get(cache_size, stats(C))
             end || Round <- lists:seq(1, 10), K <- [1, 2, 3]],
    ?assertEqual([1, 2] ++ lists:duplicate(28, 2), Sizes),
    S1 = stats(C),
    ?assertEqual(#{prepares => 30, cache_hits => 0, cache_misses => 30,
                   cache_evictions => 28, cache_size => 2},
                 maps:with([prepares, cache_hits, cache_misses, cache_evictions, cache_size],
                           delta(S0, S1))),
    ?assertEqual(2, maps:get(cache_capacity, S1)),
    ok = libsql:close(C).

%% Least recently *used*, not least recently inserted, is evicted.
-spec cache_lru_order(config()) -> ok.
cache_lru_order(_Config) ->
    {ok, C} = libsql:open(#{path => ":memory:", cache_size => 2}),
    Run = fun(Sql) -> {ok, _, [{_}]} = libsql:query(C, Sql), ok end,
    S0 = stats(C),
    [Run(S) || S <- ["SELECT 'a'", "SELECT 'b'", "SELECT 'a'", "SELECT 'c'", "SELECT 'a'"]],
    %% a miss, b miss, a hit, c miss (evicts b, the least recently used), a hit
    ?assertEqual(#{cache_hits => 2, cache_misses => 3, cache_evictions => 1, prepares => 3},
                 maps:with([cache_hits, cache_misses, cache_evictions, prepares],
                           delta(S0, stats(C)))),
    S1 = stats(C),
    Run("SELECT 'b'"),          % miss: evicts c (a was used after it)
    Run("SELECT 'a'"),          % hit
    ?assertEqual(#{cache_hits => 1, cache_misses => 1, cache_evictions => 1, prepares => 1},
                 maps:with([cache_hits, cache_misses, cache_evictions, prepares],
                           delta(S1, stats(C)))),
    ok = libsql:close(C).

%% cache_size 0: no caching, every execution prepares.
-spec cache_size_zero(config()) -> ok.
cache_size_zero(_Config) ->
    {ok, C} = libsql:open(#{path => ":memory:", cache_size => 0}),
    S0 = stats(C),
    ?assertEqual(0, maps:get(cache_capacity, S0)),
    [{ok, _, [{I}]} = libsql:query(C, "SELECT ?", [I]) || I <- lists:seq(1, 50)],
    S1 = stats(C),
    ?assertEqual(#{prepares => 50, cache_hits => 0, cache_misses => 50, cache_evictions => 0,
                   cache_size => 0},
                 maps:with([prepares, cache_hits, cache_misses, cache_evictions, cache_size],
                           delta(S0, S1))),
    ?assertEqual(0, maps:get(cache_size, S1)),
    ok = libsql:close(C).

%% Default capacity is 100: the 101st distinct SQL evicts the oldest.
-spec cache_default_capacity(config()) -> ok.
cache_default_capacity(_Config) ->
    C = mem(),
    S0 = stats(C),
    ?assertEqual(100, maps:get(cache_capacity, S0)),
    Sql = fun(I) -> ["SELECT ", integer_to_list(I)] end,
    [{ok, _, [{I}]} = libsql:query(C, Sql(I)) || I <- lists:seq(1, 100)],
    S1 = stats(C),
    ?assertEqual(#{cache_size => 100, cache_evictions => 0, cache_misses => 100},
                 maps:with([cache_size, cache_evictions, cache_misses], S1)),
    {ok, _, [{101}]} = libsql:query(C, Sql(101)),
    S2 = stats(C),
    ?assertEqual(#{cache_size => 100, cache_evictions => 1, cache_misses => 101,
                   cache_hits => 0, cache_capacity => 100},
                 maps:with([cache_size, cache_evictions, cache_misses, cache_hits,
                            cache_capacity], S2)),
    {ok, _, [{1}]} = libsql:query(C, Sql(1)),        % evicted: a miss
    {ok, _, [{101}]} = libsql:query(C, Sql(101)),    % still there: a hit
    ?assertEqual(#{cache_misses => 1, cache_hits => 1, cache_evictions => 1, prepares => 1},
                 maps:with([cache_misses, cache_hits, cache_evictions, prepares],
                           delta(S2, stats(C)))),
    ok = libsql:close(C).

-spec cache_bad_option(config()) -> ok.
cache_bad_option(_Config) ->
    [expect_error(bad_argument, libsql:open(#{path => ":memory:", cache_size => V}))
     || V <- [-1, 100001, 1.5, big]],
    {ok, C} = libsql:open(#{path => ":memory:", cache_size => 100000}),
    ?assertEqual(100000, maps:get(cache_capacity, stats(C))),
    ok = libsql:close(C).

%% BUG: the first run of a cached statement after a schema change reports
%% the columns of the statement as it was prepared before the change, and
%% encodes only that many values per row: SQLite re-prepares the statement
%% inside the first sqlite3_step, but the port reads column_count/names
%% before stepping (query_or_execute -> run_one -> cmd_encode_columns,
%% then cmd_encode_rows with ncol taken before the step). Rows come back
%% truncated, or with values under the wrong names. The second run is
%% right; with cache_size 0 every run is right. Explicit handles
%% (cmd_stmt_query) have the same defect on their first run after the
%% change: two identical runs of one handle give different results.
%% Reproducer (silently wrong data):
%%   {ok, C} = libsql:open(#{path => ":memory:"}),
%%   {ok, _} = libsql:execute(C, "CREATE TABLE s(a, b)"),
%%   {ok, _} = libsql:execute(C, "INSERT INTO s(a, b) VALUES (1, 2)"),
%%   {ok, _, _} = libsql:query(C, "SELECT * FROM s"),
%%   {ok, _} = libsql:execute(C, "DROP TABLE s"),
%%   {ok, _} = libsql:execute(C, "CREATE TABLE s(b, a)"),
%%   {ok, _} = libsql:execute(C, "INSERT INTO s(a, b) VALUES (1, 2)"),
%%   libsql:query(C, "SELECT * FROM s", [], #{rows => maps}).
%%   %% -> {ok, [<<"a">>, <<"b">>], [#{<<"a">> => 2, <<"b">> => 1}]}
%%   %%    expected {ok, [<<"b">>, <<"a">>], [#{<<"a">> => 1, <<"b">> => 2}]}
-spec cache_schema_change(config()) -> ok.
cache_schema_change(_Config) ->
    C = mem(),
    {ok, _} = libsql:execute(C, "CREATE TABLE s(a, b)"),
    {ok, _} = libsql:execute(C, "INSERT INTO s(a, b) VALUES (1, 2)"),
    {ok, [<<"a">>, <<"b">>], [{1, 2}]} = libsql:query(C, "SELECT * FROM s"),
    {ok, St} = libsql:prepare(C, "SELECT * FROM s"),
    {ok, _} = libsql:execute(C, "ALTER TABLE s ADD COLUMN c DEFAULT 3"),
    Added = {ok, [<<"a">>, <<"b">>, <<"c">>], [{1, 2, 3}]},
    R1 = {query_after_alter, libsql:query(C, "SELECT * FROM s")},
    R2 = {stmt_first_run_after_alter, libsql:query(C, St, [])},
    R3 = {stmt_second_run_after_alter, libsql:query(C, St, [])},
    {ok, _} = libsql:execute(C, "DROP TABLE s"),
    {ok, _} = libsql:execute(C, "CREATE TABLE s(b, a)"),
    {ok, _} = libsql:execute(C, "INSERT INTO s(a, b) VALUES (1, 2)"),
    Swapped = {ok, [<<"b">>, <<"a">>], [#{<<"a">> => 1, <<"b">> => 2}]},
    R4 = {query_after_recreate, libsql:query(C, "SELECT * FROM s", [], #{rows => maps})},
    %% No rows at all: the column names must still be the current ones.
    {ok, _} = libsql:execute(C, "CREATE TABLE e(a)"),
    {ok, [<<"a">>], []} = libsql:query(C, "SELECT * FROM e"),
    {ok, _} = libsql:execute(C, "ALTER TABLE e ADD COLUMN b"),
    R5 = {empty_after_alter, libsql:query(C, "SELECT * FROM e")},
    ok = libsql:finalize(St),
    ok = libsql:close(C),
    ?assertEqual([{query_after_alter, Added}, {stmt_first_run_after_alter, Added},
                  {stmt_second_run_after_alter, Added}, {query_after_recreate, Swapped},
                  {empty_after_alter, {ok, [<<"a">>, <<"b">>], []}}],
                 [R1, R2, R3, R4, R5]).

%% ---- prepared statements ---------------------------------------------------

-spec prepare_info(config()) -> ok.
prepare_info(_Config) ->
    C = mem(),
    {ok, _} = libsql:execute(C, "CREATE TABLE t(id INTEGER PRIMARY KEY, name VARCHAR(10), "
                                "score REAL, data BLOB, n)"),
    S0 = stats(C),
    Sql = <<"SELECT id, name, score, data, n, id + 1 AS next, 'lit' FROM t "
            "WHERE id > :a AND name <> ? AND score < @b AND n <> :a">>,
    {ok, Stmt} = libsql:prepare(C, Sql),
    #libsql_stmt{conn = Conn, id = Id} = Stmt,
    ?assertEqual(C, Conn),
    true = is_integer(Id),
    Info = #{sql => Sql,
             columns => [<<"id">>, <<"name">>, <<"score">>, <<"data">>, <<"n">>, <<"next">>,
                         <<"'lit'">>],
             decltypes => [<<"INTEGER">>, <<"VARCHAR(10)">>, <<"REAL">>, <<"BLOB">>, null,
                           null, null],
             param_count => 3,
             param_names => [<<":a">>, null, <<"@b">>],
             readonly => true},
    ?assertEqual(Info, libsql:stmt_info(Stmt)),
    ?assertEqual(Info, #{sql => Stmt#libsql_stmt.sql, columns => Stmt#libsql_stmt.columns,
                         decltypes => Stmt#libsql_stmt.decltypes,
                         param_count => Stmt#libsql_stmt.param_count,
                         param_names => Stmt#libsql_stmt.param_names,
                         readonly => Stmt#libsql_stmt.readonly}),
    %% A writing statement: no columns, readonly false; iodata SQL accepted.
    {ok, Ins} = libsql:prepare(C, ["INSERT INTO t(name, score) ", <<"VALUES (?1, ?2)">>]),
    ?assertEqual(#{sql => <<"INSERT INTO t(name, score) VALUES (?1, ?2)">>, columns => [],
                   decltypes => [], param_count => 2, param_names => [<<"?1">>, <<"?2">>],
                   readonly => false},
                 libsql:stmt_info(Ins)),
    {ok, Ret} = libsql:prepare(C, "INSERT INTO t(n) VALUES ($v) RETURNING id, n * 2 AS dbl"),
    ?assertEqual(#{columns => [<<"id">>, <<"dbl">>], decltypes => [<<"INTEGER">>, null],
                   param_count => 1, param_names => [<<"$v">>], readonly => false},
                 maps:remove(sql, libsql:stmt_info(Ret))),
    %% Explicit handles are counted, prepared once each, and bypass the cache.
    S1 = stats(C),
    ?assertEqual(#{prepares => 3, statements => 3, requests => 4}, nonzero(delta(S0, S1))),
    [ok = libsql:finalize(S) || S <- [Stmt, Ins, Ret]],
    ?assertEqual(0, maps:get(statements, stats(C))),
    ok = libsql:close(C).

-spec prepare_named_and_numbered(config()) -> ok.
prepare_named_and_numbered(_Config) ->
    C = mem(),
    {ok, S} = libsql:prepare(C, "SELECT :a + @b, $c"),
    ?assertEqual([<<":a">>, <<"@b">>, <<"$c">>], S#libsql_stmt.param_names),
    ?assertEqual({ok, [<<":a + @b">>, <<"$c">>], [{3, <<"x">>}]},
                 libsql:query(C, S, #{a => 1, b => 2, c => <<"x">>})),
    ?assertEqual({ok, [<<":a + @b">>, <<"$c">>], [{30, null}]},
                 libsql:query(C, S, #{<<":a">> => 10, <<"@b">> => 20, <<"$c">> => null})),
    ?assertEqual({ok, [<<":a + @b">>, <<"$c">>], [{7, 1.5}]},
                 libsql:query(C, S, [3, 4, 1.5])),
    {ok, N} = libsql:prepare(C, "SELECT ?2, ?1"),
    ?assertEqual(2, N#libsql_stmt.param_count),
    ?assertEqual([<<"?1">>, <<"?2">>], N#libsql_stmt.param_names),
    ?assertEqual({ok, [<<"?2">>, <<"?1">>], [{<<"b">>, <<"a">>}]},
                 libsql:query(C, N, [<<"a">>, <<"b">>])),
    [ok = libsql:finalize(X) || X <- [S, N]],
    ok = libsql:close(C).

%% A statement error is an error of that run only: the handle is reset
%% and works on the next run.
-spec prepare_error_then_reuse(config()) -> ok.
prepare_error_then_reuse(_Config) ->
    C = mem(),
    {ok, _} = libsql:execute(C, "CREATE TABLE t(v UNIQUE)"),
    Sql = <<"INSERT INTO t VALUES (?)">>,
    {ok, Ins} = libsql:prepare(C, Sql),
    {ok, #{changes := 1, last_insert_rowid := 1}} = libsql:execute(C, Ins, [1]),
    E = expect_error(constraint, libsql:execute(C, Ins, [1])),
    ?assertEqual(#{code => constraint, extended_code => 2067, sql => Sql,
                   message => <<"UNIQUE constraint failed: t.v">>}, E),
    ?assertEqual({ok, #{changes => 1, last_insert_rowid => 2}}, libsql:execute(C, Ins, [2])),
    ?assertEqual({ok, [<<"v">>], [{1}, {2}]}, libsql:query(C, "SELECT v FROM t ORDER BY v")),
    ok = libsql:finalize(Ins),
    ok = libsql:close(C).

-spec prepare_bad_params(config()) -> ok.
prepare_bad_params(_Config) ->
    C = mem(),
    Sql = <<"SELECT ?, ?">>,
    {ok, S} = libsql:prepare(C, Sql),
    E1 = expect_error(bad_argument, libsql:query(C, S, [1])),
    ?assertEqual(Sql, maps:get(sql, E1)),
    E2 = expect_error(bad_argument, libsql:query(C, S, [1, self()])),
    ?assertEqual({Sql, <<"2">>}, {maps:get(sql, E2), maps:get(parameter, E2)}),
    expect_error(bad_argument, libsql:query(C, S, not_params)),
    %% Still usable afterwards.
    ?assertEqual({ok, [<<"?">>, <<"?">>], [{1, 2}]}, libsql:query(C, S, [1, 2])),
    ok = libsql:finalize(S),
    ok = libsql:close(C).

-spec stmt_after_finalize(config()) -> ok.
stmt_after_finalize(_Config) ->
    C = mem(),
    Sql = <<"SELECT ? + 1">>,
    {ok, S} = libsql:prepare(C, Sql),
    {ok, _, [{2}]} = libsql:query(C, S, [1]),
    ok = libsql:finalize(S),
    E1 = expect_error(bad_argument, libsql:query(C, S, [1])),
    ?assertEqual(Sql, maps:get(sql, E1)),
    contains(maps:get(message, E1), <<"finalized">>),
    E2 = expect_error(bad_argument, libsql:execute(C, S, [1])),
    ?assertEqual(Sql, maps:get(sql, E2)),
    %% The connection is fine.
    ?assertEqual({ok, [<<"x">>], [{1}]}, libsql:query(C, "SELECT 1 AS x")),
    ?assertEqual(0, maps:get(statements, stats(C))),
    %% Handle ids are not reused: the stale handle never runs a newer
    %% statement.
    {ok, S2} = libsql:prepare(C, "SELECT 'new'"),
    ?assertNotEqual(S#libsql_stmt.id, S2#libsql_stmt.id),
    expect_error(bad_argument, libsql:query(C, S, [1])),
    ?assertEqual({ok, [<<"'new'">>], [{<<"new">>}]}, libsql:query(C, S2, [])),
    ok = libsql:finalize(S2),
    ok = libsql:close(C).

-spec finalize_twice(config()) -> ok.
finalize_twice(_Config) ->
    C = mem(),
    {ok, S} = libsql:prepare(C, "SELECT 1"),
    ok = libsql:finalize(S),
    E = expect_error(bad_argument, libsql:finalize(S)),
    contains(maps:get(message, E), <<"finalized">>),
    expect_error(bad_argument, libsql:finalize(not_a_stmt)),
    ok = libsql:ping(C),
    ok = libsql:close(C).

-spec stmt_other_connection(config()) -> ok.
stmt_other_connection(_Config) ->
    C1 = mem(),
    C2 = mem(),
    Sql = <<"SELECT ?">>,
    {ok, S} = libsql:prepare(C1, Sql),
    R0 = stats(C2),
    Want = #{code => bad_argument, sql => Sql,
             message => <<"the statement belongs to another connection">>},
    ?assertEqual(Want, expect_error(bad_argument, libsql:query(C2, S, [1]))),
    ?assertEqual(Want, expect_error(bad_argument, libsql:execute(C2, S, [1]))),
    %% Refused before anything was sent to C2's port.
    ?assertEqual(#{requests => 1}, nonzero(delta(R0, stats(C2)))),
    %% Also from inside a transaction on C2.
    {ok, Want} = libsql:transaction(C2, fun(D) -> {error, E} = libsql:query(D, S, [1]), E end),
    {ok, _, [{5}]} = libsql:query(C1, S, [5]),
    ok = libsql:finalize(S),
    ok = libsql:close(C1),
    ok = libsql:close(C2).

-spec stmt_after_close(config()) -> ok.
stmt_after_close(_Config) ->
    C = mem(),
    {ok, S} = libsql:prepare(C, "SELECT ?"),
    ok = libsql:close(C),
    expect_error(closed, libsql:query(C, S, [1])),
    expect_error(closed, libsql:execute(C, S, [1])),
    expect_error(closed, libsql:prepare(C, "SELECT 1")),
    %% Finalizing a handle of a closed connection does not crash.
    case libsql:finalize(S) of
        ok -> ok;
        {error, #{code := closed}} -> ok;
        Other -> ct:fail({finalize_after_close, Other})
    end,
    %% On another (open) connection it is still "another connection".
    C2 = mem(),
    ?assertEqual(<<"the statement belongs to another connection">>,
                 maps:get(message, expect_error(bad_argument, libsql:query(C2, S, [1])))),
    ok = libsql:close(C2).

-spec prepare_invalid_sql(config()) -> ok.
prepare_invalid_sql(_Config) ->
    C = mem(),
    S0 = stats(C),
    ?assertEqual({error, #{code => error, extended_code => 1, sql => <<"SELEC 1">>,
                           message => <<"near \"SELEC\": syntax error">>}},
                 libsql:prepare(C, "SELEC 1")),
    ?assertEqual({error, #{code => error, extended_code => 1,
                           sql => <<"SELECT * FROM nosuch">>,
                           message => <<"no such table: nosuch">>}},
                 libsql:prepare(C, <<"SELECT * FROM nosuch">>)),
    ?assertEqual(#{requests => 3, errors => 2}, nonzero(delta(S0, stats(C)))),
    expect_error(bad_argument, libsql:prepare(C, 42)),
    ok = libsql:close(C).

-spec prepare_empty_sql(config()) -> ok.
prepare_empty_sql(_Config) ->
    C = mem(),
    [begin
         E = expect_error(bad_argument, libsql:prepare(C, Sql)),
         ?assertEqual(iolist_to_binary(Sql), maps:get(sql, E))
     end || Sql <- ["", <<>>, "   ", "-- only a comment\n", " ; ", "/* c */"]],
    ?assertEqual(0, maps:get(statements, stats(C))),
    ok = libsql:close(C).

-spec prepare_two_statements(config()) -> ok.
prepare_two_statements(_Config) ->
    C = mem(),
    expect_error(bad_argument, libsql:prepare(C, "SELECT 1; SELECT 2")),
    %% Trailing semicolons, white space and comments are fine.
    {ok, S} = libsql:prepare(C, "SELECT 1 AS one; -- done\n"),
    ?assertEqual({ok, [<<"one">>], [{1}]}, libsql:query(C, S, [])),
    ok = libsql:finalize(S),
    ok = libsql:close(C).

%% reset/1 finalizes every prepared statement of the connection.
-spec stmt_after_reset(config()) -> ok.
stmt_after_reset(_Config) ->
    C = mem(),
    {ok, S1} = libsql:prepare(C, "SELECT 1"),
    {ok, S2} = libsql:prepare(C, "SELECT 2"),
    ?assertEqual(2, maps:get(statements, stats(C))),
    ok = libsql:reset(C),
    ?assertEqual(0, maps:get(statements, stats(C))),
    expect_error(bad_argument, libsql:query(C, S1, [])),
    expect_error(bad_argument, libsql:execute(C, S2, [])),
    expect_error(bad_argument, libsql:finalize(S1)),
    ok = libsql:close(C).

%% prepare on a pool: the record describes the statement; any worker runs
%% it; inside a transaction on the pool it is a real handle of the pinned
%% connection.
-spec pool_stmt(config()) -> ok.
pool_stmt(Config) ->
    Pool = libsql_stmt_tx_SUITE_pool_stmt,
    Path = db_path(Config, "pool_stmt.db"),
    _ = file:delete(Path),
    {ok, _} = libsql:start_pool(Pool, #{path => Path, size => 2}),
    try
        {ok, _} = libsql:execute(Pool, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"),
        {ok, Ins} = libsql:prepare(Pool, "INSERT INTO t(v) VALUES (:v)"),
        ?assertEqual(#{sql => <<"INSERT INTO t(v) VALUES (:v)">>, columns => [],
                       decltypes => [], param_count => 1, param_names => [<<":v">>],
                       readonly => false}, libsql:stmt_info(Ins)),
        [{ok, #{changes := 1, last_insert_rowid := I}} =
             libsql:execute(Pool, Ins, #{v => integer_to_binary(I)}) || I <- lists:seq(1, 20)],
        {ok, Sel} = libsql:prepare(Pool, "SELECT v FROM t WHERE id = ?"),
        ?assertEqual([<<"v">>], Sel#libsql_stmt.columns),
        ?assertEqual([<<"TEXT">>], Sel#libsql_stmt.decltypes),
        [?assertEqual({ok, [<<"v">>], [{integer_to_binary(I)}]}, libsql:query(Pool, Sel, [I]))
         || I <- lists:seq(1, 20)],
        {ok, ok} = libsql:transaction(
                     Pool, fun(Conn) ->
                                   {ok, S} = libsql:prepare(Pool, "SELECT count(*) FROM t"),
                                   ?assertEqual(Conn, S#libsql_stmt.conn),
                                   ?assert(is_integer(S#libsql_stmt.id)),
                                   {ok, _, [{20}]} = libsql:query(Pool, S, []),
                                   ok = libsql:finalize(S),
                                   expect_error(bad_argument, libsql:query(Pool, S, [])),
                                   ok
                           end),
        ok = libsql:finalize(Ins),
        ok = libsql:finalize(Sel)
    after
        ok = libsql:stop_pool(Pool)
    end.

%% BUG (or a doc gap): a statement prepared on a pool (outside a
%% transaction) is only a description (id undefined): finalize/1 is a
%% no-op and the statement keeps working afterwards, and it also runs on
%% any unrelated connection, although finalize/1's doc says "Using it
%% afterwards is an error" (a connection's handle gives bad_argument in
%% both cases).
%% Reproducer:
%%   {ok, _} = libsql:start_pool(pp, #{path => "/tmp/pp.db", size => 2}),
%%   {ok, S} = libsql:prepare(pp, "SELECT ? + 1"),
%%   ok = libsql:finalize(S),
%%   libsql:query(pp, S, [1]).                  %% -> {ok, _, [{2}]}
%%   {ok, C} = libsql:open(#{path => ":memory:"}),
%%   libsql:query(C, S, [1]).                   %% -> {ok, _, [{2}]}
-spec pool_stmt_finalize(config()) -> ok.
pool_stmt_finalize(Config) ->
    Pool = libsql_stmt_tx_SUITE_pool_fin,
    Path = db_path(Config, "pool_fin.db"),
    _ = file:delete(Path),
    {ok, _} = libsql:start_pool(Pool, #{path => Path, size => 2}),
    C = mem(),
    try
        {ok, S} = libsql:prepare(Pool, "SELECT ? + 1"),
        {ok, _, [{2}]} = libsql:query(Pool, S, [1]),
        OnOther = libsql:query(C, S, [1]),
        ok = libsql:finalize(S),
        %% Documented: a pool statement is run by SQL text on any worker of
        %% its pool, so finalize releases nothing and it stays usable; on
        %% another connection it is refused.
        AfterFinalize = libsql:query(Pool, S, [1]),
        ?assertMatch({{error, #{code := bad_argument,
                                message := <<"the statement belongs to another pool">>}},
                      {ok, _, [{2}]}},
                     {OnOther, AfterFinalize})
    after
        ok = libsql:close(C),
        ok = libsql:stop_pool(Pool)
    end.

%% ---- transactions ----------------------------------------------------------

-spec tx_commit(config()) -> ok.
tx_commit(Config) ->
    {C, Path} = file_db(Config, "tx_commit.db"),
    ?assertEqual({ok, {done, 42}},
                 libsql:transaction(C, fun(D) ->
                                               {ok, _} = ins(D, 1),
                                               {ok, _} = ins(D, 2),
                                               {done, 42}
                                       end)),
    ?assertEqual([1, 2], ids(C)),
    ?assert(autocommit(C)),
    %% Really committed: another connection to the file sees it.
    {ok, O} = libsql:open(#{path => Path}),
    ?assertEqual([1, 2], ids(O)),
    ok = libsql:close(O),
    ok = libsql:close(C).

-spec tx_rollback_error(config()) -> ok.
tx_rollback_error(Config) ->
    rollback_case(Config, "tx_err.db", fun() -> error({boom, 1}) end, {error, {boom, 1}}).

-spec tx_rollback_exit(config()) -> ok.
tx_rollback_exit(Config) ->
    rollback_case(Config, "tx_exit.db", fun() -> exit(bye) end, {exit, bye}).

-spec tx_rollback_throw(config()) -> ok.
tx_rollback_throw(Config) ->
    rollback_case(Config, "tx_throw.db", fun() -> throw(ball) end, {throw, ball}).

rollback_case(Config, Name, Raise, {Class, Reason}) ->
    {C, Path} = file_db(Config, Name),
    {ok, _} = ins(C, 100),
    Got = try libsql:transaction(C, fun(D) ->
                                            {ok, _} = ins(D, 1),
                                            {ok, _} = ins(D, 2),
                                            ?assertEqual([1, 2, 100], ids(D)),
                                            Raise()
                                    end) of
              V -> {returned, V}
          catch
              K:R -> {K, R}
          end,
    ?assertEqual({Class, Reason}, Got),
    ?assertEqual([100], ids(C)),
    ?assert(autocommit(C)),
    {ok, O} = libsql:open(#{path => Path}),
    ?assertEqual([100], ids(O)),
    ok = libsql:close(O),
    %% The connection works normally afterwards, also for transactions.
    ?assertEqual({ok, ok}, libsql:transaction(C, fun(D) -> {ok, _} = ins(D, 3), ok end)),
    ?assertEqual([3, 100], ids(C)),
    ok = libsql:close(C).

%% A failing database call inside the fun (the usual way a fun fails).
-spec tx_rollback_badmatch(config()) -> ok.
tx_rollback_badmatch(_Config) ->
    C = mem_t(),
    Got = try libsql:transaction(C, fun(D) ->
                                            {ok, _} = ins(D, 1),
                                            {ok, _} = ins(D, 1)
                                    end)
          catch
              K:R -> {K, R}
          end,
    {error, {badmatch, {error, #{code := constraint, extended_code := 1555,
                                 sql := <<"INSERT INTO t(id) VALUES (?)">>}}}} = Got,
    ?assertEqual([], ids(C)),
    ?assert(autocommit(C)),
    ok = libsql:close(C).

%% Inside the fun, calls on the same Db from the same process go to the
%% pinned connection, which is inside the transaction; other connections
%% do not see its writes until commit.
-spec tx_pinned(config()) -> ok.
tx_pinned(Config) ->
    {C, Path} = file_db(Config, "tx_pinned.db"),
    {ok, O} = libsql:open(#{path => Path}),
    Self = self(),
    {ok, inside} =
        libsql:transaction(
          C, fun(D) ->
                     ?assertEqual(C, D),
                     {ok, _} = ins(C, 1),                  % by the Db the caller holds
                     ?assertEqual([1], ids(D)),
                     ?assertEqual([1], ids(C)),
                     ?assertNot(autocommit(C)),
                     ?assertEqual([], ids(O)),             % not committed yet
                     ?assertEqual(Self, self()),
                     inside
             end),
    ?assertEqual([1], ids(O)),
    ?assert(autocommit(C)),
    ok = libsql:close(O),
    ok = libsql:close(C).

%% On a pool, calls on the pool name inside the fun go to the connection
%% the transaction runs on (they see its uncommitted writes, nest as
%% savepoints), while other processes get other workers.
-spec tx_pinned_pool(config()) -> ok.
tx_pinned_pool(Config) ->
    Path = db_path(Config, "tx_pool.db"),
    _ = file:delete(Path),
    Pool = libsql_stmt_tx_SUITE_pool,
    {ok, _} = libsql:start_pool(Pool, #{path => Path, size => 3}),
    try
        {ok, _} = libsql:execute(Pool, "CREATE TABLE t(id INTEGER PRIMARY KEY)"),
        Self = self(),
        Other = fun() ->
                        _ = spawn(fun() -> Self ! {other, ids(Pool)} end),
                        receive {other, Ids} -> Ids after 5000 -> no_answer end
                end,
        {ok, done} =
            libsql:transaction(
              Pool, fun(Conn) ->
                            ?assert(is_pid(Conn)),
                            {ok, _} = ins(Pool, 1),
                            ?assertEqual([1], ids(Pool)),
                            ?assertEqual([1], ids(Conn)),
                            ?assertNot(autocommit(Pool)),
                            ?assertEqual([], Other()),        % another worker
                            %% Nested on the pool name, or on the connection:
                            %% savepoints of this transaction.
                            {throw, x} = catch_class(
                                           fun() ->
                                                   libsql:transaction(
                                                     Pool, fun(C2) ->
                                                                   ?assertEqual(Conn, C2),
                                                                   {ok, _} = ins(Pool, 2),
                                                                   throw(x)
                                                           end)
                                           end),
                            {ok, ok} = libsql:transaction(Conn, fun(_) ->
                                                                        {ok, _} = ins(Pool, 3),
                                                                        ok
                                                                end),
                            ?assertEqual([1, 3], ids(Pool)),
                            %% A transactional batch on the pool name: a savepoint.
                            expect_error(constraint,
                                         libsql:batch(Pool, [{"INSERT INTO t(id) VALUES (?)", [4]},
                                                             {"INSERT INTO t(id) VALUES (?)", [1]}])),
                            ?assertEqual([1, 3], ids(Pool)),
                            ?assertNot(autocommit(Pool)),
                            {ok, _} = ins(Pool, 5),
                            done
                    end),
        ?assertEqual([1, 3, 5], ids(Pool)),
        ?assertEqual([1, 3, 5], Other()),
        {error, boom} = catch_class(fun() ->
                                            libsql:transaction(Pool, fun(_) ->
                                                                             {ok, _} = ins(Pool, 6),
                                                                             error(boom)
                                                                     end)
                                    end),
        ?assertEqual([1, 3, 5], ids(Pool)),
        %% Outside a transaction the pin is gone: explicit transaction
        %% control on a pool needs one connection and is refused.
        expect_error(bad_argument, libsql:begin_transaction(Pool)),
        expect_error(bad_argument, libsql:savepoint(Pool, "sp")),
        ?assertEqual([1, 3, 5], ids(Pool))
    after
        ok = libsql:stop_pool(Pool)
    end.

%% Nested transaction = savepoint: an inner failure caught by the outer
%% fun rolls back only the inner writes; the outer commits.
-spec tx_nested_inner_fails(config()) -> ok.
tx_nested_inner_fails(Config) ->
    {C, Path} = file_db(Config, "tx_nested.db"),
    {ok, outer} =
        libsql:transaction(
          C, fun(D) ->
                     {ok, _} = ins(D, 1),
                     Caught = try libsql:transaction(D, fun(D2) ->
                                                                {ok, _} = ins(D2, 2),
                                                                ?assertEqual([1, 2], ids(D2)),
                                                                throw(inner_failed)
                                                        end)
                              catch throw:X -> {caught, X}
                              end,
                     ?assertEqual({caught, inner_failed}, Caught),
                     ?assertEqual([1], ids(D)),
                     ?assertNot(autocommit(D)),           % the outer is still open
                     {ok, _} = ins(D, 3),
                     outer
             end),
    ?assertEqual([1, 3], ids(C)),
    ?assert(autocommit(C)),
    {ok, O} = libsql:open(#{path => Path}),
    ?assertEqual([1, 3], ids(O)),
    ok = libsql:close(O),
    ok = libsql:close(C).

%% A nested transaction takes the options of transaction/3 (its mode is
%% ignored, its timeout bounds the savepoint statements), on a connection
%% and on a pool. (The savepoint statements once got the transaction's
%% options as their own, and `mode' is not an option of execute.)
-spec tx_nested_with_options(config()) -> ok.
tx_nested_with_options(Config) ->
    Opts = #{mode => immediate, timeout => 5000},
    Nest = fun(Db) ->
                   libsql:transaction(Db, fun(D) ->
                       {ok, _} = ins(D, 1),
                       {ok, inner} = libsql:transaction(D, fun(D2) ->
                                                                   {ok, _} = ins(D2, 2),
                                                                   inner
                                                           end, Opts),
                       Caught = (catch libsql:transaction(D, fun(D3) ->
                                                                     {ok, _} = ins(D3, 3),
                                                                     throw(undo)
                                                             end, Opts)),
                       ?assertEqual(undo, Caught),
                       ids(D)
                   end, Opts)
           end,
    C = mem_t(),
    ?assertEqual({ok, [1, 2]}, Nest(C)),
    ok = libsql:close(C),
    {C0, Path} = file_db(Config, "tx_nested_opts.db"),
    ok = libsql:close(C0),
    {ok, _} = libsql:start_pool(tx_nested_opts, #{path => Path, size => 2}),
    ?assertEqual({ok, [1, 2]}, Nest(tx_nested_opts)),
    ok = libsql:stop_pool(tx_nested_opts).

-spec tx_nested_inner_commits(config()) -> ok.
tx_nested_inner_commits(_Config) ->
    C = mem_t(),
    ?assertEqual({ok, {ok, inner}},
                 libsql:transaction(C, fun(D) ->
                                               {ok, _} = ins(D, 1),
                                               libsql:transaction(D, fun(D2) ->
                                                                            {ok, _} = ins(D2, 2),
                                                                            inner
                                                                    end)
                                       end)),
    ?assertEqual([1, 2], ids(C)),
    %% An outer failure undoes the committed inner savepoint too.
    try libsql:transaction(C, fun(D) ->
                                      {ok, {ok, _}} =
                                          {ok, libsql:transaction(D, fun(D2) -> ins(D2, 3) end)},
                                      error(outer_failed)
                              end) of
        V -> ct:fail({returned, V})
    catch error:outer_failed -> ok
    end,
    ?assertEqual([1, 2], ids(C)),
    ?assert(autocommit(C)),
    ok = libsql:close(C).

%% Three levels, failures at levels 3 and 2 caught one level up.
-spec tx_deep_nesting(config()) -> ok.
tx_deep_nesting(_Config) ->
    C = mem_t(),
    Tx = fun libsql:transaction/2,
    {ok, top} =
        Tx(C, fun(L1) ->
                      {ok, _} = ins(L1, 1),
                      {ok, l2} =
                          Tx(L1, fun(L2) ->
                                         {ok, _} = ins(L2, 2),
                                         {error, l3} = catch_class(
                                                         fun() ->
                                                                 Tx(L2, fun(L3) ->
                                                                                {ok, _} = ins(L3, 3),
                                                                                error(l3)
                                                                        end)
                                                         end),
                                         {ok, l3ok} = Tx(L2, fun(L3) ->
                                                                    {ok, _} = ins(L3, 4),
                                                                    l3ok
                                                            end),
                                         {ok, _} = ins(L2, 5),
                                         l2
                                 end),
                      ?assertEqual([1, 2, 4, 5], ids(L1)),
                      {exit, l2b} = catch_class(
                                      fun() ->
                                              Tx(L1, fun(L2) ->
                                                             {ok, _} = ins(L2, 6),
                                                             {ok, ok} = Tx(L2, fun(L3) ->
                                                                                       {ok, _} = ins(L3, 7),
                                                                                       ok
                                                                               end),
                                                             ?assertEqual([1, 2, 4, 5, 6, 7], ids(L2)),
                                                             exit(l2b)
                                                     end)
                                      end),
                      ?assertEqual([1, 2, 4, 5], ids(L1)),
                      {ok, _} = ins(L1, 8),
                      top
              end),
    ?assertEqual([1, 2, 4, 5, 8], ids(C)),
    ?assert(autocommit(C)),
    %% Savepoint names are reused correctly by a later nested run.
    {ok, {ok, {ok, deep}}} =
        Tx(C, fun(A) -> Tx(A, fun(B) -> Tx(B, fun(D) -> {ok, _} = ins(D, 9), deep end) end) end),
    ?assertEqual([1, 2, 4, 5, 8, 9], ids(C)),
    ok = libsql:close(C).

%% deferred: no lock until the first access; another connection can
%% write meanwhile.
-spec tx_mode_deferred(config()) -> ok.
tx_mode_deferred(Config) ->
    {C, Path} = file_db(Config, "mode_deferred.db"),
    {ok, O} = libsql:open(#{path => Path, busy_timeout => 0}),
    {ok, done} = libsql:transaction(C, fun(D) ->
                                               {ok, _} = ins(O, 50),
                                               {ok, _} = ins(D, 1),
                                               done
                                       end, #{mode => deferred}),
    ?assertEqual([1, 50], ids(C)),
    ok = libsql:close(O),
    ok = libsql:close(C).

%% immediate: the write lock is taken at BEGIN; other writers are busy,
%% readers are not.
-spec tx_mode_immediate(config()) -> ok.
tx_mode_immediate(Config) ->
    {C, Path} = file_db(Config, "mode_immediate.db"),
    {ok, _} = ins(C, 1),
    {ok, O} = libsql:open(#{path => Path, busy_timeout => 0}),
    {ok, done} = libsql:transaction(C, fun(D) ->
                                               expect_error(busy, ins(O, 50)),
                                               ?assertEqual([1], ids(O)),
                                               {ok, _} = ins(D, 2),
                                               done
                                       end, #{mode => immediate}),
    ?assertEqual([1, 2], ids(O)),
    {ok, _} = ins(O, 50),
    ok = libsql:close(O),
    ok = libsql:close(C).

%% exclusive: in rollback-journal mode even readers are busy.
-spec tx_mode_exclusive(config()) -> ok.
tx_mode_exclusive(Config) ->
    {C, Path} = file_db(Config, "mode_exclusive.db"),
    {ok, _} = ins(C, 1),
    {ok, O} = libsql:open(#{path => Path, busy_timeout => 0}),
    {ok, done} = libsql:transaction(C, fun(D) ->
                                               expect_error(busy, libsql:query(O, "SELECT id FROM t")),
                                               expect_error(busy, ins(O, 50)),
                                               {ok, _} = ins(D, 2),
                                               done
                                       end, #{mode => exclusive}),
    ?assertEqual([1, 2], ids(O)),
    ok = libsql:close(O),
    ok = libsql:close(C).

%% read_only: writes are refused with code readonly; reads work; after
%% the transaction, writes work again.
-spec tx_mode_read_only(config()) -> ok.
tx_mode_read_only(_Config) ->
    C = mem_t(),
    {ok, _} = ins(C, 1),
    {ok, {Err, Rows}} =
        libsql:transaction(C, fun(D) ->
                                      {error, E} = ins(D, 2),
                                      {E, ids(D)}
                              end, #{mode => read_only}),
    ?assertEqual(#{code => readonly, extended_code => 8,
                   message => <<"attempt to write a readonly database">>,
                   sql => <<"INSERT INTO t(id) VALUES (?)">>}, Err),
    ?assertEqual([1], Rows),
    expect_error(readonly,
                 element(2, libsql:transaction(C, fun(D) -> libsql:execute(D, "DELETE FROM t") end,
                                               #{mode => read_only}))),
    expect_error(readonly,
                 element(2, libsql:transaction(C, fun(D) -> libsql:execute(D, "CREATE TABLE x(a)") end,
                                               #{mode => read_only}))),
    ?assert(autocommit(C)),
    ?assertEqual({ok, #{changes => 1, last_insert_rowid => 2}}, ins(C, 2)),
    ?assertEqual({ok, ok}, libsql:transaction(C, fun(D) -> {ok, _} = ins(D, 3), ok end)),
    ?assertEqual([1, 2, 3], ids(C)),
    ok = libsql:close(C).

%% A read_only transaction that raises also switches read-only off again.
-spec tx_mode_read_only_raise(config()) -> ok.
tx_mode_read_only_raise(_Config) ->
    C = mem_t(),
    {throw, ro} = catch_class(fun() ->
                                      libsql:transaction(C, fun(_) -> throw(ro) end,
                                                         #{mode => read_only})
                              end),
    ?assertEqual({ok, #{changes => 1, last_insert_rowid => 1}}, ins(C, 1)),
    ?assert(autocommit(C)),
    ok = libsql:close(C).

-spec tx_bad_mode(config()) -> ok.
tx_bad_mode(_Config) ->
    C = mem_t(),
    S0 = stats(C),
    [begin
         E = expect_error(bad_argument,
                          libsql:transaction(C, fun(_) -> ct:fail(fun_called) end,
                                             #{mode => M})),
         contains(maps:get(message, E), <<"mode">>)
     end || M <- [bogus, "immediate", 1, read_write]],
    %% Nothing was sent.
    ?assertEqual(#{requests => 1}, nonzero(delta(S0, stats(C)))),
    ?assert(autocommit(C)),
    ok = libsql:close(C).

-spec tx_bad_args(config()) -> ok.
tx_bad_args(_Config) ->
    C = mem_t(),
    expect_error(bad_argument, libsql:transaction(C, not_a_fun)),
    expect_error(bad_argument, libsql:transaction(C, fun(_, _) -> ok end)),
    expect_error(bad_argument, libsql:transaction(C, fun(_) -> ok end, [{mode, immediate}])),
    ?assert(autocommit(C)),
    ok = libsql:close(C).

%% A COMMIT that fails (deferred foreign key) rolls back and is returned.
-spec tx_commit_fails(config()) -> ok.
tx_commit_fails(_Config) ->
    C = mem(),
    {ok, _} = libsql:execute(C, "PRAGMA foreign_keys = ON"),
    {ok, _} = libsql:execute(C, "CREATE TABLE p(id INTEGER PRIMARY KEY)"),
    {ok, _} = libsql:execute(C, "CREATE TABLE c(pid INTEGER REFERENCES p(id) "
                                "DEFERRABLE INITIALLY DEFERRED)"),
    R = libsql:transaction(C, fun(D) -> {ok, _} = libsql:execute(D, "INSERT INTO c VALUES (9)"),
                                        returned end),
    E = expect_error(constraint, R),
    ?assertEqual(787, maps:get(extended_code, E)),
    ?assert(autocommit(C)),
    ?assertEqual({ok, [<<"n">>], [{0}]}, libsql:query(C, "SELECT count(*) AS n FROM c")),
    ok = libsql:close(C).

%% A bad mode is refused in a nested transaction too. (Regression: before
%% commit 7c1b0b4 the nested call ignored its mode and returned
%% {ok, {ok, inner}}.)
-spec tx_nested_bad_mode(config()) -> ok.
tx_nested_bad_mode(_Config) ->
    C = mem_t(),
    {ok, Inner} = libsql:transaction(C, fun(D) ->
                                                libsql:transaction(D, fun(_) -> inner end,
                                                                   #{mode => bogus})
                                        end),
    expect_error(bad_argument, Inner),
    ok = libsql:close(C).

%% BUG: a nested transaction asked for mode read_only is not read-only:
%% writes inside it succeed.
%% Reproducer:
%%   {ok, C} = libsql:open(#{path => ":memory:"}),
%%   {ok, _} = libsql:execute(C, "CREATE TABLE t(id)"),
%%   libsql:transaction(C, fun(D) -> libsql:transaction(D, fun(E) ->
%%       libsql:execute(E, "INSERT INTO t VALUES (1)") end, #{mode => read_only}) end).
%%   %% -> {ok, {ok, {ok, #{changes => 1, ...}}}}; expected the insert to fail
%%   %%    with readonly (or the nested read_only request to be refused)
-spec tx_nested_read_only(config()) -> ok.
tx_nested_read_only(_Config) ->
    C = mem_t(),
    {ok, Inner} = libsql:transaction(C, fun(D) ->
                                                libsql:transaction(D, fun(E) -> ins(E, 1) end,
                                                                   #{mode => read_only})
                                        end),
    case Inner of
        {ok, {error, #{code := readonly}}} -> ok;          % writes refused inside
        {error, #{code := bad_argument}} -> ok;            % or the request refused
        Other -> ct:fail({nested_read_only_allowed_write, Other, ids(C)})
    end,
    ?assertEqual([], ids(C)),
    ok = libsql:close(C).

%% A transaction on another connection inside a transaction's fun is its
%% own top-level transaction, not a savepoint of the first.
-spec tx_other_connection(config()) -> ok.
tx_other_connection(Config) ->
    {C1, _} = file_db(Config, "tx_other_1.db"),
    {C2, _} = file_db(Config, "tx_other_2.db"),
    {throw, outer} =
        catch_class(
          fun() ->
                  libsql:transaction(
                    C1, fun(D1) ->
                                {ok, _} = ins(D1, 1),
                                {ok, c2} = libsql:transaction(C2, fun(D2) ->
                                                                          ?assertEqual(C2, D2),
                                                                          {ok, _} = ins(D2, 2),
                                                                          c2
                                                                  end),
                                ?assert(autocommit(C2)),      % committed on its own
                                {error, c2_fail} =
                                    catch_class(fun() ->
                                                        libsql:transaction(
                                                          C2, fun(D2) -> {ok, _} = ins(D2, 3),
                                                                         error(c2_fail)
                                                              end)
                                                end),
                                ?assertEqual([1], ids(D1)),   % C1 untouched by C2's failure
                                ?assertNot(autocommit(C1)),
                                throw(outer)
                        end)
          end),
    ?assertEqual([], ids(C1)),
    ?assertEqual([2], ids(C2)),
    ok = libsql:close(C1),
    ok = libsql:close(C2).

%% While one process runs transaction(C, Fun), another process calling
%% transaction(C, _) on the same connection gets "cannot start a
%% transaction within a transaction" and must not disturb the first
%% one's transaction. (Regression: before commit 7c1b0b4 the failed BEGIN
%% was followed by a ROLLBACK that threw the first process's writes away;
%% its later writes ran in autocommit and its transaction/2 returned
%% {error, "cannot commit - no transaction is active"}.) The scenario:
%%   {ok, C} = libsql:open(#{path => ":memory:"}),
%%   {ok, _} = libsql:execute(C, "CREATE TABLE t(id)"),
%%   Self = self(),
%%   libsql:transaction(C, fun(D) ->
%%       {ok, _} = libsql:execute(D, "INSERT INTO t VALUES (1)"),
%%       spawn(fun() -> Self ! libsql:transaction(C, fun(_) -> x end) end),
%%       receive _ -> ok end,
%%       {ok, _} = libsql:execute(D, "INSERT INTO t VALUES (2)"),
%%       done end).
%%   %% must give {ok, done} and rows 1 and 2
-spec tx_other_process_begin(config()) -> ok.
tx_other_process_begin(_Config) ->
    C = mem_t(),
    Self = self(),
    R = libsql:transaction(
          C, fun(D) ->
                     {ok, _} = ins(D, 1),
                     _ = spawn(fun() ->
                                       Self ! {other, libsql:transaction(C, fun(_) -> x end)}
                               end),
                     Other = receive {other, O} -> O after 5000 -> no_answer end,
                     expect_error(error, Other),
                     Seen = {autocommit(D), ids(D)},
                     {ok, _} = ins(D, 2),
                     Seen
             end),
    ?assertEqual({{ok, {false, [1]}}, [1, 2]}, {R, ids(C)}),
    ok = libsql:close(C).

%% ---- explicit transaction control ------------------------------------------

-spec explicit_begin_commit_rollback(config()) -> ok.
explicit_begin_commit_rollback(Config) ->
    {C, Path} = file_db(Config, "explicit.db"),
    ok = libsql:begin_transaction(C),
    ?assertNot(autocommit(C)),
    {ok, _} = ins(C, 1),
    ok = libsql:rollback(C),
    ?assert(autocommit(C)),
    ?assertEqual([], ids(C)),
    ok = libsql:begin_transaction(C, #{}),
    {ok, _} = ins(C, 2),
    {ok, O} = libsql:open(#{path => Path}),
    ?assertEqual([], ids(O)),
    ok = libsql:commit(C),
    ?assert(autocommit(C)),
    ?assertEqual([2], ids(O)),
    ok = libsql:close(O),
    ok = libsql:close(C).

-spec explicit_modes(config()) -> ok.
explicit_modes(Config) ->
    {C, Path} = file_db(Config, "explicit_modes.db"),
    {ok, O} = libsql:open(#{path => Path, busy_timeout => 0}),
    ok = libsql:begin_transaction(C, #{mode => immediate}),
    expect_error(busy, ins(O, 50)),
    ok = libsql:commit(C),
    ok = libsql:begin_transaction(C, #{mode => exclusive}),
    expect_error(busy, libsql:query(O, "SELECT id FROM t")),
    ok = libsql:rollback(C),
    ok = libsql:begin_transaction(C, #{mode => deferred}),
    {ok, _} = ins(O, 51),
    ok = libsql:commit(C),
    ok = libsql:begin_transaction(C, #{mode => read_only}),
    ?assertEqual(#{code => readonly, extended_code => 8, sql => <<"INSERT INTO t(id) VALUES (?)">>,
                   message => <<"attempt to write a readonly database">>},
                 expect_error(readonly, ins(C, 1))),
    ?assertEqual([51], ids(C)),
    ok = libsql:commit(C),
    %% read-only is over with the transaction.
    {ok, _} = ins(C, 1),
    ok = libsql:begin_transaction(C, #{mode => read_only}),
    ok = libsql:rollback(C),
    {ok, _} = ins(C, 2),
    ?assertEqual([1, 2, 51], ids(C)),
    ok = libsql:close(O),
    ok = libsql:close(C).

-spec explicit_bad_mode(config()) -> ok.
explicit_bad_mode(_Config) ->
    C = mem_t(),
    S0 = stats(C),
    expect_error(bad_argument, libsql:begin_transaction(C, #{mode => bogus})),
    ?assertEqual(#{requests => 1}, nonzero(delta(S0, stats(C)))),
    ?assert(autocommit(C)),
    ok = libsql:close(C).

-spec commit_without_tx(config()) -> ok.
commit_without_tx(_Config) ->
    C = mem_t(),
    {error, #{code := error, message := <<"cannot commit - no transaction is active">>}} =
        libsql:commit(C),
    ok = libsql:close(C).

-spec rollback_without_tx(config()) -> ok.
rollback_without_tx(_Config) ->
    C = mem_t(),
    {error, #{code := error, message := <<"cannot rollback - no transaction is active">>}} =
        libsql:rollback(C),
    ok = libsql:close(C).

%% begin_transaction while a transaction is open is an error that leaves
%% the open transaction and its writes alone. (Regression: before commit
%% 7c1b0b4 the failed BEGIN was followed by a ROLLBACK of the open
%% transaction.) The scenario:
%%   {ok, C} = libsql:open(#{path => ":memory:"}),
%%   {ok, _} = libsql:execute(C, "CREATE TABLE t(id)"),
%%   ok = libsql:begin_transaction(C),
%%   {ok, _} = libsql:execute(C, "INSERT INTO t VALUES (1)"),
%%   {error, #{message := <<"cannot start a transaction within a transaction">>}} =
%%       libsql:begin_transaction(C),
%%   ok = libsql:commit(C),
%%   {ok, _, [{1}]} = libsql:query(C, "SELECT id FROM t").
-spec begin_twice_keeps_tx(config()) -> ok.
begin_twice_keeps_tx(_Config) ->
    C = mem_t(),
    ok = libsql:begin_transaction(C),
    {ok, _} = ins(C, 1),
    E = expect_error(error, libsql:begin_transaction(C)),
    ?assertEqual(<<"cannot start a transaction within a transaction">>, maps:get(message, E)),
    ?assertEqual({false, [1]}, {autocommit(C), ids(C)}),
    ok = libsql:commit(C),
    ?assertEqual([1], ids(C)),
    ok = libsql:close(C).

-spec savepoint_release(config()) -> ok.
savepoint_release(_Config) ->
    C = mem_t(),
    %% A savepoint outside a transaction starts one; releasing it commits.
    ok = libsql:savepoint(C, "sp1"),
    ?assertNot(autocommit(C)),
    {ok, _} = ins(C, 1),
    ok = libsql:savepoint(C, <<"Sp_2">>),
    {ok, _} = ins(C, 2),
    ok = libsql:release(C, 'Sp_2'),
    ?assertNot(autocommit(C)),
    ok = libsql:release(C, sp1),
    ?assert(autocommit(C)),
    ?assertEqual([1, 2], ids(C)),
    %% Inside an explicit transaction, a released savepoint is undone by
    %% the outer rollback.
    ok = libsql:begin_transaction(C),
    ok = libsql:savepoint(C, "_x9"),
    {ok, _} = ins(C, 3),
    ok = libsql:release(C, "_x9"),
    ok = libsql:rollback(C),
    ?assertEqual([1, 2], ids(C)),
    %% The longest name allowed: 64 characters.
    Long = lists:duplicate(64, $a),
    ok = libsql:savepoint(C, Long),
    ok = libsql:release(C, list_to_binary(Long)),
    ?assert(autocommit(C)),
    ok = libsql:close(C).

%% rollback_to undoes later writes and keeps the savepoint open.
-spec savepoint_rollback_to(config()) -> ok.
savepoint_rollback_to(_Config) ->
    C = mem_t(),
    ok = libsql:begin_transaction(C),
    {ok, _} = ins(C, 1),
    ok = libsql:savepoint(C, "a"),
    {ok, _} = ins(C, 2),
    ok = libsql:savepoint(C, "b"),
    {ok, _} = ins(C, 3),
    ok = libsql:rollback_to(C, "a"),            % undoes 2 and 3, drops b
    ?assertEqual([1], ids(C)),
    ?assertNot(autocommit(C)),
    {error, #{message := <<"no such savepoint: b">>}} = libsql:release(C, "b"),
    {ok, _} = ins(C, 4),
    ok = libsql:rollback_to(C, "a"),            % "a" is still there
    ?assertEqual([1], ids(C)),
    {ok, _} = ins(C, 5),
    ok = libsql:release(C, "a"),
    ok = libsql:commit(C),
    ?assertEqual([1, 5], ids(C)),
    ?assert(autocommit(C)),
    ok = libsql:close(C).

-spec savepoint_unknown(config()) -> ok.
savepoint_unknown(_Config) ->
    C = mem_t(),
    %% Outside any transaction.
    ?assertEqual({error, #{code => error, extended_code => 1,
                           message => <<"no such savepoint: nope">>,
                           sql => <<"RELEASE SAVEPOINT \"nope\"">>}},
                 libsql:release(C, "nope")),
    E1 = expect_error(error, libsql:rollback_to(C, nope)),
    contains(maps:get(message, E1), <<"no such savepoint">>),
    %% Inside one: the error leaves the transaction and its writes alone.
    ok = libsql:begin_transaction(C),
    {ok, _} = ins(C, 1),
    ok = libsql:savepoint(C, "real"),
    E2 = expect_error(error, libsql:release(C, "nope")),
    ?assertEqual(<<"no such savepoint: nope">>, maps:get(message, E2)),
    E3 = expect_error(error, libsql:rollback_to(C, "nope")),
    ?assertEqual(<<"no such savepoint: nope">>, maps:get(message, E3)),
    ?assertEqual({false, [1]}, {autocommit(C), ids(C)}),
    ok = libsql:release(C, "real"),
    ok = libsql:commit(C),
    ?assertEqual([1], ids(C)),
    ok = libsql:close(C).

%% Names that are not plain identifiers are refused before anything is
%% sent; the table survives the injection attempt.
-spec savepoint_bad_names(config()) -> ok.
savepoint_bad_names(_Config) ->
    C = mem_t(),
    {ok, _} = ins(C, 1),
    Bad = ["a b", "x;DROP TABLE t", <<"x\";DROP TABLE t;--">>, "", <<>>, 42,
           lists:duplicate(65, $a), list_to_binary(lists:duplicate(65, $b)), "1abc",
           "a-b", <<"sp", 0>>, [self()], {sp}, 'a b', "é"],
    S0 = stats(C),
    [begin
         E = expect_error(bad_argument, F(C, Name)),
         contains(maps:get(message, E), <<"not a plain identifier">>)
     end || Name <- Bad,
            F <- [fun libsql:savepoint/2, fun libsql:release/2, fun libsql:rollback_to/2]],
    ?assertEqual(#{requests => 1}, nonzero(delta(S0, stats(C)))),
    ?assertEqual([1], ids(C)),
    ?assert(autocommit(C)),
    ok = libsql:close(C).

%% BUG: the identifier check uses re "^...$" without dollar_endonly, and
%% PCRE's $ also matches before a final newline, so "sp\n" (not a plain
%% identifier) is accepted and creates a savepoint named "sp\n".
%% Reproducer:
%%   {ok, C} = libsql:open(#{path => ":memory:"}),
%%   libsql:savepoint(C, <<"sp\n">>).   %% -> ok; expected bad_argument
-spec savepoint_name_trailing_newline(config()) -> ok.
savepoint_name_trailing_newline(_Config) ->
    C = mem_t(),
    S0 = stats(C),
    Results = [{Name, F(C, Name)} || Name <- [<<"sp\n">>, "sp\n"],
                                     F <- [fun libsql:savepoint/2, fun libsql:release/2]],
    Bad = [R || {_, Res} = R <- Results,
                not (is_tuple(Res) andalso element(1, Res) =:= error andalso
                     maps:get(code, element(2, Res)) =:= bad_argument)],
    ?assertEqual([], Bad),
    ?assertEqual(#{requests => 1}, nonzero(delta(S0, stats(C)))),
    ok = libsql:close(C).

%% ---- batches ----------------------------------------------------------------

-spec batch_non_tx_results(config()) -> ok.
batch_non_tx_results(_Config) ->
    C = mem_t(),
    S0 = stats(C),
    ?assertEqual({ok, [#{columns => [], rows => [], changes => 1, last_insert_rowid => 5},
                       #{columns => [], rows => [], changes => 1, last_insert_rowid => 6},
                       #{columns => [<<"n">>], rows => [{2}], changes => 0,
                         last_insert_rowid => 6}]},
                 libsql:batch(C, [{"INSERT INTO t(id) VALUES (?)", [5]},
                                  {"INSERT INTO t(id) VALUES (?)", [6]},
                                  "SELECT count(*) AS n FROM t"],
                              #{transaction => false})),
    ?assertEqual(#{requests => 2}, maps:with([requests], delta(S0, stats(C)))),
    ?assertEqual([5, 6], ids(C)),
    ok = libsql:close(C).

-spec batch_maps(config()) -> ok.
batch_maps(_Config) ->
    C = mem(),
    ?assertEqual({ok, [#{columns => [<<"a">>, <<"b">>],
                         rows => [#{<<"a">> => 1, <<"b">> => <<"two">>}],
                         changes => 0, last_insert_rowid => 0}]},
                 libsql:batch(C, [{"SELECT ? AS a, ? AS b", [1, <<"two">>]}],
                              #{rows => maps})),
    ok = libsql:close(C).

%% Inside transaction(), a transactional batch is a savepoint: its failure
%% undoes only the batch; the outer transaction commits its own writes.
-spec batch_in_transaction(config()) -> ok.
batch_in_transaction(Config) ->
    {C, Path} = file_db(Config, "batch_in_tx.db"),
    {ok, committed} =
        libsql:transaction(
          C, fun(D) ->
                     {ok, _} = ins(D, 100),
                     E = expect_error(constraint,
                                      libsql:batch(D, [{"INSERT INTO t(id) VALUES (?)", [7]},
                                                       {"INSERT INTO t(id) VALUES (?)", [100]}])),
                     ?assertEqual(2, maps:get(index, E)),
                     ?assertEqual([100], ids(D)),
                     ?assertNot(autocommit(D)),
                     {ok, [_]} = libsql:batch(D, [{"INSERT INTO t(id) VALUES (?)", [8]}]),
                     {ok, _} = ins(D, 101),
                     committed
             end),
    ?assertEqual([8, 100, 101], ids(C)),
    {ok, O} = libsql:open(#{path => Path}),
    ?assertEqual([8, 100, 101], ids(O)),
    ok = libsql:close(O),
    %% Same inside an explicit transaction.
    ok = libsql:begin_transaction(C),
    {ok, _} = ins(C, 200),
    expect_error(constraint, libsql:batch(C, [{"INSERT INTO t(id) VALUES (?)", [9]},
                                              {"INSERT INTO t(id) VALUES (?)", [200]}])),
    ?assertNot(autocommit(C)),
    ok = libsql:commit(C),
    ?assertEqual([8, 100, 101, 200], ids(C)),
    ok = libsql:close(C).

%% Bad elements are refused with their index before anything is sent.
-spec batch_bad_elements(config()) -> ok.
batch_bad_elements(_Config) ->
    C = mem_t(),
    Good = {"INSERT INTO t(id) VALUES (?)", [1]},
    Cases = [{[{123, []}], 1},
             {[Good, {<<"SELECT 1">>, self()}], 2},
             {[Good, Good, {"SELECT ?", [self()]}], 3},
             {[Good, {"SELECT ?", [1 bsl 64]}], 2},
             {[Good, {"SELECT ?", [1], extra}], 2},
             {[Good, 42], 2},
             {[Good, {"SELECT ?", {1}}], 2},
             {[Good, {"SELECT ?", [1 | 2]}], 2},
             {[Good | bad_tail], 2}],
    S0 = stats(C),
    [begin
         E = expect_error(bad_argument, libsql:batch(C, Batch)),
         ?assertEqual({Batch, Index}, {Batch, maps:get(index, E, none)})
     end || {Batch, Index} <- Cases],
    expect_error(bad_argument, libsql:batch(C, not_a_list)),
    ?assertEqual(#{requests => 1}, nonzero(delta(S0, stats(C)))),
    ?assertEqual([], ids(C)),
    ok = libsql:close(C).

-spec batch_bad_option(config()) -> ok.
batch_bad_option(_Config) ->
    C = mem_t(),
    expect_error(bad_argument, libsql:batch(C, [{"INSERT INTO t(id) VALUES (1)", []}],
                                            #{transaction => maybe})),
    expect_error(bad_argument, libsql:batch(C, [], not_a_map)),
    ?assertEqual([], ids(C)),
    ok = libsql:close(C).

%% ---- scripts ----------------------------------------------------------------

-define(MIGRATION, <<"-- migration 001: users\n"
                     "CREATE TABLE users (\n"
                     "  id INTEGER PRIMARY KEY,\n"
                     "  name TEXT NOT NULL, -- display name\n"
                     "  email TEXT UNIQUE\n"
                     ");\n"
                     "/* look-ups by name */\n"
                     "CREATE INDEX users_name ON users(name);\n"
                     "\n"
                     "INSERT INTO users(name, email) VALUES ('ann', 'ann@x');\n"
                     "INSERT INTO users(name, email) VALUES ('bob', 'bob@x'), ('cy', 'cy@x');\n"
                     "UPDATE users SET name = upper(name) WHERE id > 1; -- shout\n"
                     "-- end of migration\n">>).

-spec script_migration(config()) -> ok.
script_migration(_Config) ->
    C = mem(),
    S0 = stats(C),
    ?assertEqual({ok, #{statements => 5, changes => 5}}, libsql:execute_script(C, ?MIGRATION)),
    ?assertEqual(#{requests => 2}, maps:with([requests], delta(S0, stats(C)))),
    ?assertEqual({ok, [<<"type">>, <<"name">>],
                  [{<<"index">>, <<"sqlite_autoindex_users_1">>},
                   {<<"table">>, <<"users">>},
                   {<<"index">>, <<"users_name">>}]},
                 libsql:query(C, "SELECT type, name FROM sqlite_master ORDER BY name")),
    ?assertEqual({ok, [<<"id">>, <<"name">>, <<"email">>],
                  [{1, <<"ann">>, <<"ann@x">>}, {2, <<"BOB">>, <<"bob@x">>},
                   {3, <<"CY">>, <<"cy@x">>}]},
                 libsql:query(C, "SELECT id, name, email FROM users ORDER BY id")),
    %% Iodata, and a script that manages its own transaction.
    ?assertEqual({ok, #{statements => 4, changes => 2}},
                 libsql:execute_script(C, ["BEGIN;", <<"DELETE FROM users WHERE id = 3;">>,
                                           "UPDATE users SET email = NULL WHERE id = 2;",
                                           "COMMIT;"])),
    ?assertEqual({ok, [<<"n">>], [{2}]}, libsql:query(C, "SELECT count(*) AS n FROM users")),
    ?assert(autocommit(C)),
    ok = libsql:close(C).

%% BUG: when a script statement fails to *prepare* (no such table, syntax
%% error), the error's `sql' is the whole rest of the script from that
%% statement on, not that statement (cmd_execute_script passes
%% `sql + off, n - off'). A statement failing while it runs gets only its
%% own text.
%% Reproducer:
%%   {ok, C} = libsql:open(#{path => ":memory:"}),
%%   libsql:execute_script(C, "CREATE TABLE e(x);\nINSERT INTO nosuch VALUES (1);\n"
%%                            "CREATE TABLE f(y);").
%%   %% -> {error, #{index => 2, sql => <<"\nINSERT INTO nosuch VALUES (1);\n"
%%   %%                                    "CREATE TABLE f(y);">>, ...}}
-spec script_prepare_error_sql(config()) -> ok.
script_prepare_error_sql(_Config) ->
    C = mem(),
    E1 = expect_error(error, libsql:execute_script(
                               C, "CREATE TABLE e(x);\nINSERT INTO nosuch VALUES (1);\n"
                                  "CREATE TABLE f(y);\n")),
    ?assertEqual({2, <<"no such table: nosuch">>}, {maps:get(index, E1), maps:get(message, E1)}),
    ?assertEqual({ok, [<<"name">>], [{<<"e">>}]},
                 libsql:query(C, "SELECT name FROM sqlite_master ORDER BY name")),
    E2 = expect_error(error, libsql:execute_script(
                               C, "INSERT INTO e VALUES (1);\nINSERT INTO e VALUES (2);\n"
                                  "SELEC 3;\nINSERT INTO e VALUES (4);\n")),
    ?assertEqual({3, <<"near \"SELEC\": syntax error">>},
                 {maps:get(index, E2), maps:get(message, E2)}),
    ?assertEqual({ok, [<<"x">>], [{1}, {2}]}, libsql:query(C, "SELECT x FROM e ORDER BY x")),
    check_statement_sql(<<"INSERT INTO nosuch VALUES (1)">>, maps:get(sql, E1)),
    check_statement_sql(<<"SELEC 3">>, maps:get(sql, E2)),
    ok = libsql:close(C).

%% ---- execute_many -----------------------------------------------------------

%% Parameters the Erlang side can judge are refused with the element's
%% index before anything is sent.
-spec many_bad_params_at_k(config()) -> ok.
many_bad_params_at_k(_Config) ->
    C = mem(),
    {ok, _} = libsql:execute(C, "CREATE TABLE m(a, b)"),
    Sql = <<"INSERT INTO m VALUES (?, ?)">>,
    S0 = stats(C),
    E = expect_error(bad_argument,
                     libsql:execute_many(C, Sql, [[1, 2], [3, 4], [5, self()], [7, 8]])),
    ?assertEqual({3, Sql, <<"2">>},
                 {maps:get(index, E), maps:get(sql, E), maps:get(parameter, E)}),
    E2 = expect_error(bad_argument, libsql:execute_many(C, Sql, [[1, 2], not_params])),
    ?assertEqual(2, maps:get(index, E2)),
    E3 = expect_error(bad_argument, libsql:execute_many(C, Sql, [[1, 2], [1 bsl 63, 0]])),
    ?assertEqual(2, maps:get(index, E3)),
    E4 = expect_error(bad_argument, libsql:execute_many(C, Sql, [[1, 2], [3, 4] | tail])),
    ?assertEqual(3, maps:get(index, E4)),
    expect_error(bad_argument, libsql:execute_many(C, Sql, not_a_list)),
    expect_error(bad_argument, libsql:execute_many(C, 42, [[1, 2]])),
    ?assertEqual(#{requests => 1}, nonzero(delta(S0, stats(C)))),
    ?assertEqual({ok, [<<"n">>], [{0}]}, libsql:query(C, "SELECT count(*) AS n FROM m")),
    ok = libsql:close(C).

%% Parameters only the port can judge (the wrong count): index k, no rows.
-spec many_wrong_count_at_k(config()) -> ok.
many_wrong_count_at_k(_Config) ->
    C = mem(),
    {ok, _} = libsql:execute(C, "CREATE TABLE m(a, b)"),
    Sql = <<"INSERT INTO m VALUES (?, ?)">>,
    E = expect_error(bad_argument, libsql:execute_many(C, Sql, [[1, 2], [3, 4], [5]])),
    ?assertEqual({3, Sql}, {maps:get(index, E), maps:get(sql, E)}),
    E2 = expect_error(bad_argument,
                      libsql:execute_many(C, "INSERT INTO m VALUES (:a, :b)",
                                          [#{a => 1, b => 2}, #{a => 1, zz => 2}])),
    ?assertEqual(2, maps:get(index, E2)),
    ?assertEqual({ok, [<<"n">>], [{0}]}, libsql:query(C, "SELECT count(*) AS n FROM m")),
    ?assert(autocommit(C)),
    ok = libsql:close(C).

%% Inside a transaction execute_many is a savepoint: its failure leaves the
%% outer transaction's writes.
-spec many_in_transaction(config()) -> ok.
many_in_transaction(_Config) ->
    C = mem_t(),
    {ok, ok} = libsql:transaction(
                 C, fun(D) ->
                            {ok, _} = ins(D, 1),
                            E = expect_error(constraint,
                                             libsql:execute_many(D, "INSERT INTO t(id) VALUES (?)",
                                                                 [[2], [3], [1]])),
                            ?assertEqual(3, maps:get(index, E)),
                            ?assertEqual([1], ids(D)),
                            ?assertNot(autocommit(D)),
                            {ok, #{changes := 2}} =
                                libsql:execute_many(D, "INSERT INTO t(id) VALUES (?)", [[4], [5]]),
                            ok
                    end),
    ?assertEqual([1, 4, 5], ids(C)),
    ok = libsql:close(C).

-spec many_empty(config()) -> ok.
many_empty(_Config) ->
    C = mem_t(),
    {ok, #{changes := 0}} = libsql:execute_many(C, "INSERT INTO t(id) VALUES (?)", []),
    expect_error(bad_argument, libsql:execute_many(C, "  -- no statement", [[1]])),
    ?assertEqual([], ids(C)),
    ?assert(autocommit(C)),
    ok = libsql:close(C).

-spec many_100000(config()) -> ok.
many_100000(Config) ->
    {C, _Path} = file_db(Config, "many_100000.db"),
    {ok, _} = libsql:execute(C, "CREATE TABLE big(id INTEGER PRIMARY KEY, v INTEGER, s TEXT)"),
    Sql = <<"INSERT INTO big(v, s) VALUES (?, ?)">>,
    %% Warm up: afterwards every statement involved is in the cache.
    {ok, #{changes := 1, last_insert_rowid := 1}} = libsql:execute_many(C, Sql, [[0, <<"w">>]]),
    N = 100000,
    Params = [[I, <<"row">>] || I <- lists:seq(1, N)],
    S0 = stats(C),
    {Us, R} = timer:tc(fun() -> libsql:execute_many(C, Sql, Params, #{timeout => 50000}) end),
    ct:pal("execute_many of ~b rows (file database): ~b ms", [N, Us div 1000]),
    ?assertEqual({ok, #{changes => N, last_insert_rowid => N + 1}}, R),
    %% One round trip, no statement prepared again.
    ?assertEqual(#{requests => 2, prepares => 0, errors => 0},
                 maps:with([requests, prepares, errors], delta(S0, stats(C)))),
    ?assertEqual({ok, [<<"n">>, <<"s">>], [{N + 1, N * (N + 1) div 2}]},
                 libsql:query(C, "SELECT count(*) AS n, sum(v) AS s FROM big")),
    ok = libsql:close(C).

%% ---- helpers -----------------------------------------------------------------

mem() ->
    {ok, C} = libsql:open(#{path => ":memory:"}),
    C.

%% A :memory: connection with table t(id INTEGER PRIMARY KEY).
mem_t() ->
    C = mem(),
    {ok, _} = libsql:execute(C, "CREATE TABLE t(id INTEGER PRIMARY KEY)"),
    C.

%% A new database file with table t(id INTEGER PRIMARY KEY).
file_db(Config, Name) ->
    Path = db_path(Config, Name),
    _ = file:delete(Path),
    {ok, C} = libsql:open(#{path => Path}),
    {ok, _} = libsql:execute(C, "CREATE TABLE t(id INTEGER PRIMARY KEY)"),
    {C, Path}.

ins(Db, Id) ->
    libsql:execute(Db, "INSERT INTO t(id) VALUES (?)", [Id]).

ids(Db) ->
    {ok, [<<"id">>], Rows} = libsql:query(Db, "SELECT id FROM t ORDER BY id"),
    [Id || {Id} <- Rows].

autocommit(Db) ->
    {ok, #{autocommit := A}} = libsql:info(Db),
    A.

%% The documented counters of a connection (stats/1 may add more keys,
%% such as timings, which are left out here).
stats(Db) ->
    {ok, S} = libsql:stats(Db),
    ?assertEqual([], ?STATS_KEYS -- maps:keys(S)),
    maps:with(?STATS_KEYS, S).

delta(Before, After) ->
    maps:map(fun(K, V) -> V - maps:get(K, Before) end, After).

nonzero(Map) ->
    maps:filter(fun(_, V) -> V =/= 0 end, Map).

catch_class(Fun) ->
    try Fun() of
        V -> {returned, V}
    catch
        Class:Reason -> {Class, Reason}
    end.

%% The `sql' of a failing script statement is that statement: surrounding
%% white space and its own `;' aside, nothing else of the script.
check_statement_sql(Stmt, Got) ->
    Trimmed = string:trim(Got),
    case lists:member(Trimmed, [Stmt, <<Stmt/binary, ";">>]) of
        true -> ok;
        false -> ct:fail({script_error_sql, expected, Stmt, got, Got})
    end.
