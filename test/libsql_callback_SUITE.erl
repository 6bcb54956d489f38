%% Common Test suite: callbacks across the process boundary (issue 16),
%% Erlang SQL functions first. One body per case, run against every
%% backend where the feature applies:
%%
%%   local    a database file in priv_dir, one per case
%%   pool     a pool of 3 connections to such a file
%%   replica  an embedded replica of a real tursodb (libsql_tursodb_cth):
%%            functions run in reads, which run on the file
%%   remote   the server itself: SQL runs there, so every callback API is
%%            `not_supported' (one case says so for each of them)
%%
%% The bodies use no table, so that the replica's reads need nothing from
%% the shared server: rows come from recursive CTEs. `db(Config)' is what
%% the case defines functions on (a connection or the pool), `conn(Config)'
%% one connection of it (the pool's pinned with with_conn/2 for the case).
-module(libsql_callback_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(libsql_test_util, [db_path/2, expect_error/2, contains/2]).

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, init_per_testcase/2, end_per_testcase/2]).
-export([fn_values/1, fn_conversions/1, fn_null_option/1, fn_variadic/1, fn_deterministic/1,
         fn_raises/1, fn_bad_return/1, fn_error_tuple/1, fn_deadline/1, fn_reentrant/1,
         fn_interrupt/1, fn_caller_dies/1, fn_replace_delete/1, fn_bad_args/1,
         fn_in_batch_fold_cursor/1, fn_result_over_frame/1, fn_many_calls/1,
         agg_group_by/1, agg_empty/1, agg_many_rows/1, agg_step_raises/1,
         agg_final_raises/1, agg_variadic/1, agg_two_in_one/1, agg_with_scalar/1,
         fn_rekey/1, fn_pool_every_worker/1, fn_pool_worker_restart/1,
         remote_not_supported/1]).

-type config() :: [{atom(), term()}].

-spec suite() -> [tuple()].
suite() -> [{timetrap, {seconds, 120}}, {ct_hooks, [libsql_tursodb_cth]}].

-spec all() -> [{group, atom()}].
all() ->
    [{group, local}, {group, pool}, {group, replica}, {group, remote}].

-spec groups() -> [{atom(), list(), list()}].
groups() ->
    Common = [{group, functions}, {group, aggregates}],
    [{local, [], Common ++ [fn_rekey]},
     {pool, [], Common ++ [fn_pool_every_worker, fn_pool_worker_restart]},
     {replica, [], Common},
     {remote, [], [remote_not_supported]},
     {functions, [], [fn_values, fn_conversions, fn_null_option, fn_variadic,
                      fn_deterministic, fn_raises, fn_bad_return, fn_error_tuple,
                      fn_deadline, fn_reentrant, fn_interrupt, fn_caller_dies,
                      fn_replace_delete, fn_bad_args, fn_in_batch_fold_cursor,
                      fn_result_over_frame, fn_many_calls]},
     {aggregates, [], [agg_group_by, agg_empty, agg_many_rows, agg_step_raises,
                       agg_final_raises, agg_variadic, agg_two_in_one, agg_with_scalar]}].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    libsql_test_util:init_per_suite(?MODULE, Config).

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    ok.

-spec init_per_group(atom(), config()) -> config().
init_per_group(G, Config) when G =:= local; G =:= pool; G =:= replica; G =:= remote ->
    [{backend, G} | Config];
init_per_group(_, Config) ->
    Config.

-spec end_per_group(atom(), config()) -> ok.
end_per_group(_, _Config) ->
    ok.

-spec init_per_testcase(atom(), config()) -> config().
init_per_testcase(Case, Config) ->
    {ok, _} = application:ensure_all_started(libsql),
    Backend = ?config(backend, Config),
    Opts = case_opts(Backend, Case, Config),
    case Backend of
        pool ->
            Pool = list_to_atom("cb_pool_" ++ atom_to_list(Case)),
            {ok, _} = libsql:start_pool(Pool, Opts#{size => 3}),
            [{db, Pool}, {open_opts, Opts} | Config];
        _ ->
            {ok, C} = libsql:open(Opts),
            [{db, C}, {open_opts, Opts} | Config]
    end.

-spec end_per_testcase(atom(), config()) -> ok.
end_per_testcase(_Case, Config) ->
    case ?config(backend, Config) of
        pool -> _ = libsql:stop_pool(?config(db, Config));
        _ -> _ = libsql:close(?config(db, Config))
    end,
    ok.

case_opts(Backend, Case, Config) ->
    Name = atom_to_list(Backend) ++ "_" ++ atom_to_list(Case) ++ ".db",
    Path = db_path(Config, Name),
    _ = [file:delete(Path ++ S) || S <- ["", "-wal", "-shm", "-journal", "-replica"]],
    case Backend of
        remote -> #{url => ?config(url, Config)};
        replica -> #{path => Path, url => ?config(url, Config)};
        _ -> #{path => Path}
    end.

db(Config) -> ?config(db, Config).

%% A connection of its own to the case's database (not a pool's).
open(Config, Extra) ->
    {ok, C} = libsql:open(maps:merge(?config(open_opts, Config), Extra)),
    C.

%% Fun(Conn) on one connection of the case's db: the pool's pinned.
with_one(Config, Fun) ->
    libsql:with_conn(db(Config), Fun).

q(Config, Sql) -> q(Config, Sql, []).

q(Config, Sql, Params) ->
    libsql:query(db(Config), Sql, Params).

%% The rows of Sql, which must succeed.
rows(Config, Sql) -> rows(Config, Sql, []).

rows(Config, Sql, Params) ->
    {ok, _Cols, Rows} = q(Config, Sql, Params),
    Rows.

%% Sql over the integers 1..N as column x.
upto(N, Select) ->
    io_lib:format("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                  "WHERE x < ~b) ~s", [N, Select]).

%% ---- scalar functions -------------------------------------------------------------

%% Every value a query reads comes into the function as it would come
%% out of a query, and every value a query binds goes back as bound.
fn_values(Config) ->
    ok = libsql:create_function(db(Config), echo, 1, fun(V) -> V end),
    Values = [0, 1, -1, -9223372036854775808, 9223372036854775807, 1.5, -2.25e300,
              5.0e-324, <<"text">>, <<"é ☃ \x{1F600}"/utf8>>, <<>>, <<"a", 0, "b">>,
              {blob, <<0, 1, 2, 255>>}, {blob, <<>>}, null, infinity, neg_infinity],
    lists:foreach(fun(V) ->
                          ?assertEqual([{V}], rows(Config, "SELECT echo(?)", [V]), V)
                  end, Values),
    %% SQLite's own types, made in SQL, reach the fun as such.
    ok = libsql:create_function(db(Config), kind, 1,
                                fun(V) when is_integer(V) -> <<"int">>;
                                   (V) when is_float(V) -> <<"real">>;
                                   (V) when is_binary(V) -> <<"text">>;
                                   ({blob, _}) -> <<"blob">>;
                                   (null) -> <<"null">>
                                end),
    ?assertEqual([{<<"int">>, <<"real">>, <<"text">>, <<"blob">>, <<"null">>}],
                 rows(Config, "SELECT kind(1), kind(2.5), kind('x'), kind(x'00'), kind(NULL)")),
    ok.

%% What a function returns is bound as a query's parameter would be.
fn_conversions(Config) ->
    Db = db(Config),
    Returns = [{true, 1}, {false, 0}, {undefined, null}, {nil, null},
               {{text, ["a", <<"b">>, $c]}, <<"abc">>}, {{blob, <<1>>}, {blob, <<1>>}}],
    lists:foreach(fun({Ret, Read}) ->
                          ok = libsql:create_function(Db, ret, 0, fun() -> Ret end),
                          ?assertEqual([{Read}], rows(Config, "SELECT ret()"), Ret)
                  end, Returns),
    ok.

%% The `null' open option names NULL for the function's arguments too.
fn_null_option(Config) ->
    C = open(Config, #{null => undefined}),
    try
        ok = libsql:create_function(C, is_undef, 1, fun(V) -> V =:= undefined end),
        ?assertEqual({ok, [<<"is_undef(NULL)">>, <<"is_undef(1)">>], [{1, 0}]},
                     libsql:query(C, "SELECT is_undef(NULL), is_undef(1)"))
    after
        libsql:close(C)
    end.

%% Arity -1 takes any number of arguments as one list; a fixed arity of
%% the same name wins for its count, as SQLite picks it.
fn_variadic(Config) ->
    Db = db(Config),
    ok = libsql:create_function(Db, nargs, -1, fun(Args) -> length(Args) end),
    ?assertEqual([{0, 1, 3}], rows(Config, "SELECT nargs(), nargs(1), nargs(1, 'a', NULL)")),
    ok = libsql:create_function(Db, nargs, 1, fun(_) -> 100 end),
    ?assertEqual([{100, 2}], rows(Config, "SELECT nargs(1), nargs(1, 2)")),
    ok = libsql:create_function(Db, concat3, 3, fun(A, B, C) -> <<A/binary, B/binary, C/binary>>
                                                 end),
    ?assertEqual([{<<"abc">>}], rows(Config, "SELECT concat3('a', 'b', 'c')")),
    %% The wrong number of arguments is SQLite's error, at prepare.
    E = expect_error(error, q(Config, "SELECT concat3('a')")),
    contains(maps:get(message, E), <<"concat3">>),
    ok.

%% A deterministic function may index an expression; another may not.
fn_deterministic(Config) ->
    Db = db(Config),
    ok = libsql:create_function(Db, det, 1, fun(X) -> X * 2 end, #{deterministic => true}),
    ok = libsql:create_function(Db, nondet, 1, fun(X) -> X * 2 end),
    %% SQLite evaluates a deterministic call with constant arguments once
    %% per statement: three uses, one call.
    Self = self(),
    ok = libsql:create_function(Db, counted, 1, fun(X) -> Self ! counted, X end,
                                #{deterministic => true}),
    ?assertEqual([{<<"a">>, 2}], rows(Config, "SELECT 'a', det(1)")),
    with_one(Config, fun(C) ->
        case ?config(backend, Config) of
            replica ->
                %% Writes go to the server, which has no such function.
                E = expect_error(error, libsql:execute(C, "CREATE TABLE cb_replica_det AS "
                                                          "SELECT det(1) AS x")),
                contains(maps:get(message, E), <<"det">>);
            _ ->
                {ok, _} = libsql:execute(C, "CREATE TABLE t(x)"),
                {ok, _} = libsql:execute(C, "CREATE INDEX t_det ON t(det(x))"),
                E = expect_error(error, libsql:execute(C, "CREATE INDEX t_nd ON t(nondet(x))")),
                contains(maps:get(message, E), <<"non-deterministic">>),
                {ok, _} = libsql:execute(C, "INSERT INTO t VALUES (1), (2), (3)"),
                {ok, _, [{3}]} = libsql:query(C, "SELECT x FROM t WHERE det(x) = 6"),
                ok
        end
    end),
    _ = rows(Config, upto(5, "SELECT counted(7) + x FROM c")),
    ?assertEqual(1, drain(counted)),
    ok.

drain(Msg) -> drain(Msg, 0).

drain(Msg, N) ->
    receive Msg -> drain(Msg, N + 1)
    after 0 -> N
    end.

%% A fun that raises fails its statement with the function's name and the
%% reason; the connection goes on working.
fn_raises(Config) ->
    Db = db(Config),
    ok = libsql:create_function(Db, boom, 1, fun(<<"error">>) -> error(badarith);
                                                 (<<"throw">>) -> throw(oops);
                                                 (<<"exit">>) -> exit(bye)
                                              end),
    lists:foreach(fun({How, Text}) ->
                          E = expect_error(error, q(Config, "SELECT boom(?)", [How])),
                          ?assertEqual(<<"boom raised ", Text/binary>>, maps:get(message, E)),
                          ?assertEqual(<<"SELECT boom(?)">>, maps:get(sql, E))
                  end, [{<<"error">>, <<"error:badarith">>}, {<<"throw">>, <<"throw:oops">>},
                        {<<"exit">>, <<"exit:bye">>}]),
    %% No clause matches: the reason says so.
    E2 = expect_error(error, q(Config, "SELECT boom(1)")),
    contains(maps:get(message, E2), <<"function_clause">>),
    ?assertEqual([{1}], rows(Config, "SELECT 1")),
    %% Raised in the middle of a result: no rows, the error.
    E3 = expect_error(error, q(Config, upto(100, "SELECT CASE WHEN x = 50 THEN boom('error') "
                                                 "ELSE x END FROM c"))),
    ?assertEqual(<<"boom raised error:badarith">>, maps:get(message, E3)),
    ok.

%% A return that is no value fails the statement and says what it was.
fn_bad_return(Config) ->
    Db = db(Config),
    Pid = self(),
    lists:foreach(fun({Ret, Part}) ->
                          ok = libsql:create_function(Db, bad, 0, fun() -> Ret end),
                          E = expect_error(error, q(Config, "SELECT bad()")),
                          Msg = maps:get(message, E),
                          contains(Msg, <<"bad returned">>),
                          contains(Msg, Part)
                  end, [{Pid, <<"unsupported value">>}, {nan, <<"NaN">>},
                        {1 bsl 64, <<"64-bit">>}, {{text, [-1]}, <<"text">>},
                        {[1, 2], <<"unsupported value">>}]),
    ok.

%% {error, Reason} fails the statement with Reason as the message.
fn_error_tuple(Config) ->
    Db = db(Config),
    ok = libsql:create_function(Db, check_positive,
                                1, fun(X) when X > 0 -> X;
                                      (X) -> {error, io_lib:format("~p is not positive", [X])}
                                   end),
    ?assertEqual([{5}], rows(Config, "SELECT check_positive(5)")),
    E = expect_error(error, q(Config, "SELECT check_positive(-2)")),
    ?assertEqual(<<"check_positive: -2 is not positive">>, maps:get(message, E)),
    ok = libsql:create_function(Db, term_error, 0, fun() -> {error, {not_text, 1}} end),
    E2 = expect_error(error, q(Config, "SELECT term_error()")),
    ?assertEqual(<<"term_error: {not_text,1}">>, maps:get(message, E2)),
    ok.

%% A fun that outlives the call's deadline: the statement is cancelled,
%% the error names the function, and the late answer harms nothing.
fn_deadline(Config) ->
    Db = db(Config),
    ok = libsql:create_function(Db, slow, 1, fun(Ms) -> timer:sleep(Ms), Ms end),
    with_one(Config, fun(C) ->
        E = expect_error(timeout, libsql:query(C, "SELECT slow(300)", [], #{timeout => 50})),
        ?assertEqual(<<"slow">>, maps:get(function, E)),
        contains(maps:get(message, E), <<"slow">>),
        %% The same caller (its answer to the cancelled call went to the
        %% port, which dropped it) and the same connection go on.
        ?assertEqual({ok, [<<"slow(1)">>], [{1}]}, libsql:query(C, "SELECT slow(1)")),
        ?assertEqual({ok, [<<"2">>], [{2}]}, libsql:query(C, "SELECT 2"))
    end),
    ok.

%% A fun that calls the connection running it gets misuse (it would wait
%% for itself); another connection is fine.
fn_reentrant(Config) ->
    Db = db(Config),
    Self = self(),
    with_one(Config, fun(C) ->
        ok = libsql:create_function(Db, again, 0, fun() ->
                                                           Self ! {inner, libsql:query(C, "SELECT 1")},
                                                           7
                                                   end),
        ?assertEqual({ok, [<<"again()">>], [{7}]}, libsql:query(C, "SELECT again()")),
        receive {inner, R} ->
                E = expect_error(misuse, R),
                contains(maps:get(message, E), <<"Erlang SQL function">>)
        after 1000 -> ct:fail(no_inner_result)
        end
    end),
    Other = open(Config, #{}),
    try
        ok = libsql:create_function(Db, other, 0, fun() ->
                                                          {ok, _, [{N}]} =
                                                              libsql:query(Other, "SELECT 41"),
                                                          N + 1
                                                  end),
        ?assertEqual([{42}], rows(Config, "SELECT other()"))
    after
        libsql:close(Other)
    end,
    ok.

%% interrupt/1 stops a statement that waits for a fun: the connection is
%% free again at once, while the fun is still running in its caller.
fn_interrupt(Config) ->
    C = open(Config, #{}),
    Self = self(),
    try
        ok = libsql:create_function(C, hang, 0, fun() -> Self ! hanging, timer:sleep(1500), 1 end),
        Caller = spawn_link(fun() -> Self ! {result, libsql:query(C, "SELECT hang()")} end),
        receive hanging -> ok after 5000 -> ct:fail(no_call) end,
        ok = libsql:interrupt(C),
        {Ms, R} = timer:tc(fun() -> libsql:query(C, "SELECT 3") end),
        ?assertEqual({ok, [<<"3">>], [{3}]}, R),
        ?assert(Ms < 1000000, {waited_for_the_fun, Ms}),
        receive {result, R2} -> expect_error(interrupted, R2)
        after 5000 -> ct:fail(no_result)
        end,
        unlink(Caller)
    after
        libsql:close(C)
    end.

%% A caller that dies while its fun runs: nobody will answer, so the
%% statement is cancelled and the connection serves the next caller.
fn_caller_dies(Config) ->
    C = open(Config, #{}),
    Self = self(),
    try
        ok = libsql:create_function(C, forever, 0, fun() -> Self ! calling,
                                                               receive never -> 0 end
                                                   end),
        Caller = spawn(fun() -> libsql:query(C, "SELECT forever()", [], #{timeout => infinity})
                       end),
        receive calling -> ok after 5000 -> ct:fail(no_call) end,
        exit(Caller, kill),
        ?assertEqual({ok, [<<"4">>], [{4}]}, libsql:query(C, "SELECT 4", [], #{timeout => 5000}))
    after
        libsql:close(C)
    end.

%% A definition replaces the one of the same name and arity (case aside);
%% deleting it leaves no such function.
fn_replace_delete(Config) ->
    Db = db(Config),
    ok = libsql:create_function(Db, f, 0, fun() -> 1 end),
    ?assertEqual([{1}], rows(Config, "SELECT f()")),
    ok = libsql:create_function(Db, "F", 0, fun() -> 2 end),
    ?assertEqual([{2}], rows(Config, "SELECT f()")),
    ok = libsql:delete_function(Db, <<"f">>, 0),
    E = expect_error(error, q(Config, "SELECT f()")),
    contains(maps:get(message, E), <<"no such function: f">>),
    ok = libsql:delete_function(Db, f, 0),
    %% A built-in can be replaced; deleting ours leaves the built-in hidden
    %% until the connection is opened again: SQLite keeps the name as an
    %% application function without a body (and says so strangely).
    ok = libsql:create_function(Db, upper, 1, fun(_) -> <<"mine">> end),
    ?assertEqual([{<<"mine">>}], rows(Config, "SELECT upper('a')")),
    ok = libsql:delete_function(Db, upper, 1),
    E2 = expect_error(error, q(Config, "SELECT upper('a')")),
    ?assertEqual(<<"wrong number of arguments to function upper()">>, maps:get(message, E2)),
    ok.

%% Bad arguments are refused before anything reaches the connection.
fn_bad_args(Config) ->
    Db = db(Config),
    F1 = fun(X) -> X end,
    [expect_error(bad_argument, R)
     || R <- [libsql:create_function(Db, <<>>, 1, F1),
              libsql:create_function(Db, binary:copy(<<"n">>, 256), 1, F1),
              libsql:create_function(Db, <<"a", 0>>, 1, F1),
              libsql:create_function(Db, {name}, 1, F1),
              libsql:create_function(Db, f, 128, fun(_) -> 1 end),
              libsql:create_function(Db, f, -2, F1),
              libsql:create_function(Db, f, one, F1),
              libsql:create_function(Db, f, 2, F1),
              libsql:create_function(Db, f, -1, fun(_, _) -> 1 end),
              libsql:create_function(Db, f, 1, not_a_fun),
              libsql:create_function(Db, f, 1, F1, #{deterministic => yes}),
              libsql:create_function(Db, f, 1, F1, #{bogus => 1}),
              libsql:create_function(Db, f, 1, F1, #{timeout => -1}),
              libsql:create_function(Db, f, 1, F1, not_a_map),
              libsql:create_aggregate(Db, f, 1, {0, fun(_) -> 1 end, F1}),
              libsql:create_aggregate(Db, f, 1, {0, fun(_, _) -> 1 end, fun(_, _) -> 1 end}),
              libsql:create_aggregate(Db, f, 1, not_a_triple),
              libsql:delete_function(Db, <<>>, 0),
              libsql:delete_function(Db, f, 200)]],
    expect_error(bad_argument, libsql:create_function(no_such_pool, f, 1, F1)),
    ok.

%% Functions in a batch, a fold (requests kept in flight) and a cursor.
fn_in_batch_fold_cursor(Config) ->
    Db = db(Config),
    ok = libsql:create_function(Db, sq, 1, fun(X) -> X * X end),
    {ok, [#{rows := [{4}]}, #{rows := [{9}]}]} =
        libsql:batch(Db, [{"SELECT sq(2)", []}, {"SELECT sq(3)", []}]),
    N = 5000,
    Sum = lists:sum([X * X || X <- lists:seq(1, N)]),
    ?assertEqual({ok, Sum}, libsql:fold(Db, upto(N, "SELECT sq(x) FROM c"), [],
                                        fun({V}, Acc) -> V + Acc end, 0)),
    with_one(Config, fun(C) ->
        {ok, Cur} = libsql:cursor_open(C, upto(10, "SELECT sq(x) FROM c"), []),
        ?assertEqual({ok, [{1}, {4}, {9}], more}, libsql:fetch(Cur, 3)),
        ?assertEqual({ok, [{16}, {25}], more}, libsql:fetch(Cur, 2)),
        ok = libsql:cursor_close(Cur)
    end),
    ok.

%% A result larger than the port takes in one frame fails the statement
%% (it would otherwise never arrive).
fn_result_over_frame(Config) ->
    C = open(Config, #{max_frame => 65536}),
    try
        ok = libsql:create_function(C, big, 1, fun(N) -> binary:copy(<<"x">>, N) end),
        ?assertEqual({ok, [<<"length(big(1000))">>], [{1000}]},
                     libsql:query(C, "SELECT length(big(1000))")),
        E = expect_error(error, libsql:query(C, "SELECT length(big(100000))")),
        ?assertEqual(<<"big: the result is over the frame limit (the max_frame option)">>,
                     maps:get(message, E)),
        ?assertEqual({ok, [<<"5">>], [{5}]}, libsql:query(C, "SELECT 5"))
    after
        libsql:close(C)
    end.

%% Many calls in one statement, each a round trip to the caller.
fn_many_calls(Config) ->
    ok = libsql:create_function(db(Config), inc, 1, fun(X) -> X + 1 end),
    N = 20000,
    ?assertEqual([{N * (N + 1) div 2 + N}], rows(Config, upto(N, "SELECT sum(inc(x)) FROM c"))),
    ok.

%% ---- aggregates ---------------------------------------------------------------------

sum_agg() -> {0, fun(X, Acc) -> X + Acc end, fun(Acc) -> Acc end}.

agg_group_by(Config) ->
    ok = libsql:create_aggregate(db(Config), mysum, 1, sum_agg()),
    Sql = upto(1000, "SELECT x % 7 AS g, mysum(x), sum(x) FROM c GROUP BY g ORDER BY g"),
    Rows = rows(Config, Sql),
    ?assertEqual(7, length(Rows)),
    [?assertEqual(S, M) || {_, M, S} <- Rows],
    ok.

%% No rows: the final fun of the initial accumulator.
agg_empty(Config) ->
    ok = libsql:create_aggregate(db(Config), mycount, 1,
                                 {0, fun(_, N) -> N + 1 end, fun(N) -> N end}),
    ?assertEqual([{0}], rows(Config, upto(3, "SELECT mycount(x) FROM c WHERE x > 10"))),
    ?assertEqual([{3}], rows(Config, upto(3, "SELECT mycount(x) FROM c"))),
    %% GROUP BY over no rows has no groups at all.
    ?assertEqual([], rows(Config, upto(3, "SELECT mycount(x) FROM c WHERE x > 10 GROUP BY x"))),
    ok.

%% Enough rows for many batches of steps, some of them waited for.
agg_many_rows(Config) ->
    ok = libsql:create_aggregate(db(Config), mysum, 1, sum_agg()),
    ok = libsql:create_aggregate(db(Config), strs, 1,
                                 {[], fun(S, Acc) -> [S | Acc] end,
                                  fun(Acc) -> iolist_size(Acc) end}),
    N = 200000,
    ?assertEqual([{N * (N + 1) div 2}], rows(Config, upto(N, "SELECT mysum(x) FROM c"))),
    ?assertEqual([{N * 20}],
                 rows(Config, upto(N, "SELECT strs(printf('%020d', x)) FROM c"))),
    ok.

agg_step_raises(Config) ->
    ok = libsql:create_aggregate(db(Config), picky, 1,
                                 {0, fun(500, _) -> error(five_hundred);
                                        (X, Acc) -> X + Acc
                                     end, fun(Acc) -> Acc end}),
    E = expect_error(error, q(Config, upto(100000, "SELECT picky(x) FROM c"))),
    ?assertEqual(<<"picky raised error:five_hundred">>, maps:get(message, E)),
    %% Without the bad row, the same function works.
    ?assertEqual([{1275}], rows(Config, upto(50, "SELECT picky(x) FROM c"))),
    ok.

agg_final_raises(Config) ->
    ok = libsql:create_aggregate(db(Config), fin, 1,
                                 {0, fun(X, Acc) -> X + Acc end, fun(_) -> throw(no_final) end}),
    E = expect_error(error, q(Config, upto(10, "SELECT fin(x) FROM c"))),
    ?assertEqual(<<"fin raised throw:no_final">>, maps:get(message, E)),
    ok = libsql:create_aggregate(db(Config), fin2, 1,
                                 {0, fun(X, Acc) -> X + Acc end, fun(_) -> self() end}),
    E2 = expect_error(error, q(Config, upto(10, "SELECT fin2(x) FROM c"))),
    contains(maps:get(message, E2), <<"fin2 returned">>),
    ok.

agg_variadic(Config) ->
    ok = libsql:create_aggregate(db(Config), argsum, -1,
                                 {0, fun(Args, Acc) -> lists:sum(Args) + Acc end,
                                  fun(Acc) -> Acc end}),
    ?assertEqual([{55 * 3}], rows(Config, upto(10, "SELECT argsum(x, x, x) FROM c"))),
    ?assertEqual([{55}], rows(Config, upto(10, "SELECT argsum(x) FROM c"))),
    ok.

%% Two aggregates of one statement step interleaved, each its own state.
agg_two_in_one(Config) ->
    Db = db(Config),
    ok = libsql:create_aggregate(Db, mysum, 1, sum_agg()),
    ok = libsql:create_aggregate(Db, mymax, 1, {null, fun(X, null) -> X; (X, M) -> max(X, M) end,
                                                fun(M) -> M end}),
    ?assertEqual([{0, 250500, 1000, 250500, 1000}, {1, 250000, 999, 250000, 999}],
                 rows(Config, upto(1000, "SELECT x % 2 AS g, mysum(x), mymax(x), sum(x), "
                                         "max(x) FROM c GROUP BY g ORDER BY g"))),
    ok.

agg_with_scalar(Config) ->
    Db = db(Config),
    ok = libsql:create_aggregate(Db, mysum, 1, sum_agg()),
    ok = libsql:create_function(Db, dbl, 1, fun(X) -> 2 * X end),
    ?assertEqual([{2 * 5050, 5050}], rows(Config, upto(100, "SELECT mysum(dbl(x)), mysum(x) "
                                                            "FROM c"))),
    ok.

%% ---- local and pool only --------------------------------------------------------------

%% Encrypting a plain file opens it again: the functions come along.
fn_rekey(Config) ->
    Db = db(Config),
    ok = libsql:create_function(Db, seven, 0, fun() -> 7 end),
    {ok, _} = libsql:execute(Db, "CREATE TABLE t(x)"),
    ok = libsql:rekey(Db, <<"a key">>),
    ?assertEqual([{7}], rows(Config, "SELECT seven()")),
    ok.

%% Every worker of a pool has the function: three callers hold the three
%% workers at once and each calls it.
fn_pool_every_worker(Config) ->
    Pool = db(Config),
    ok = libsql:create_function(Pool, who, 0, fun() -> 1 end),
    Self = self(),
    Pids = [spawn_link(fun() ->
                               libsql:with_conn(Pool, fun(C) ->
                                   Self ! {holding, self(), C},
                                   receive go -> ok end,
                                   Self ! {done, self(), C, libsql:query(C, "SELECT who()")}
                               end)
                       end) || _ <- [1, 2, 3]],
    Conns = [receive {holding, P, C} -> C after 5000 -> ct:fail(no_worker) end || P <- Pids],
    ?assertEqual(3, length(lists:usort(Conns))),
    [P ! go || P <- Pids],
    [receive {done, P, _, R} -> ?assertEqual({ok, [<<"who()">>], [{1}]}, R)
     after 5000 -> ct:fail(no_answer)
     end || P <- Pids],
    ok = libsql:delete_function(Pool, who, 0),
    [expect_error(error, libsql:query(Pool, "SELECT who()")) || _ <- [1, 2, 3, 4]],
    ok.

%% A worker that starts again after a crash gets the pool's functions.
fn_pool_worker_restart(Config) ->
    Pool = db(Config),
    ok = libsql:create_function(Pool, alive, 0, fun() -> <<"yes">> end),
    Workers = libsql_test_util:pool_workers(Pool),
    [begin
         {ok, OsPid} = libsql_conn:os_pid(W),
         libsql_test_util:kill9(OsPid)
     end || W <- Workers],
    true = libsql_test_util:wait_until(
             fun() ->
                     New = libsql_test_util:pool_workers(Pool),
                     length(New) =:= 3 andalso [W || W <- New, lists:member(W, Workers)] =:= []
             end, 10000),
    [?assertEqual({ok, [<<"alive()">>], [{<<"yes">>}]},
                  libsql:query(Pool, "SELECT alive()")) || _ <- [1, 2, 3, 4, 5, 6]],
    ok.

%% ---- remote ---------------------------------------------------------------------------

%% SQL runs on the server: nothing of ours can plug into it.
remote_not_supported(Config) ->
    Db = db(Config),
    E = expect_error(not_supported, libsql:create_function(Db, f, 0, fun() -> 1 end)),
    contains(maps:get(message, E), <<"server">>),
    expect_error(not_supported, libsql:create_aggregate(Db, g, 1, sum_agg())),
    expect_error(not_supported, libsql:delete_function(Db, f, 0)),
    {ok, _, [{1}]} = libsql:query(Db, "SELECT 1"),
    ok.
