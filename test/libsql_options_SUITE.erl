%% Common Test suite: the options contract of the libsql API.
%%
%% What it proves, with the SAME case bodies run against three targets
%% (groups `local': a connection from libsql:open/1 on a file; `pool': a
%% pool of 2 from libsql:start_pool/2 on a file; `remote': libsql:open/1
%% with the url of the real tursodb that libsql_tursodb_cth starts):
%%
%%  1. Every public function that takes an options map (ping/2, query/4,
%%     execute/4, transaction/3, begin_transaction/2, batch/3,
%%     execute_many/4, execute_script/3, cursor_open/4, fold/6, backup/3)
%%     answers a bad value of each key it takes, an unknown key, a key that
%%     only other functions take, and a non-map with
%%     `{error, #{code := bad_argument, option := Key}}', the message naming
%%     the key (and the bad value). The keys each function takes are
%%     written down here, in api/1, independently of libsql_opts: this is a
%%     contract test. Good values (including the bounds) are accepted and
%%     give the normal result (remote: the documented not_supported of
%%     interactive transactions and backup, which comes only after the
%%     options were found good).
%%  2. Bad options send nothing and arm nothing: the connection processes
%%     receive no message at all while the bad calls run (traced), their
%%     port programs count no request, the same processes and OS processes
%%     are there afterwards, a pool counts no checkout and no restart, no
%%     stray message reaches the caller later, and a query still works.
%%     (On a pool, begin_transaction runs inside libsql:with_conn/2; that
%%     session's own checkout, checkin and reset are counted exactly.)
%%  3. Nothing is logged above debug while the bad calls run (primary
%%     level `all', a capturing handler at level `all').
%%  4. libsql:open/1 (local and remote) and libsql:start_pool/2 (local)
%%     refuse bad options with bad_argument naming the option, starting
%%     no process and no port program and logging nothing; their bounds are
%%     accepted. A pool on a file that cannot be opened answers cantopen,
%%     and a pool name already taken answers bad_argument, both logging
%%     NOTHING at any level and leaving no process or port program behind
%%     (a good pool start is the positive control: its progress reports are
%%     seen by the same capture).
%%  5. Elixir: `nil' binds NULL (positional and named, in every statement
%%     kind), and the open option `null' (null | nil | undefined) is what
%%     NULL reads back as in query, batch, fold and cursor fetch results,
%%     `null' by default; connections with different settings do not
%%     affect each other.
%%
%% Every assertion compares exact values or counts.
-module(libsql_options_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(libsql_test_util, [db_path/2, wait_until/2]).

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, init_per_testcase/2, end_per_testcase/2]).
%% logger handler callback (the log capture)
-export([log/2]).
%% per-call options, every group
-export([bad_call_options_rejected/1, good_call_options_accepted/1,
         zero_timeouts_accepted/1, bad_calls_leave_connection_untouched/1,
         bad_calls_log_nothing/1]).
%% NULL and nil, every group
-export([nil_binds_null/1, null_option_reads_back/1]).
%% open and start_pool options (open: local and remote; start_pool: local)
-export([open_options_checked/1, start_pool_options_checked/1,
         start_pool_cantopen_logs_nothing/1, start_pool_duplicate_name_logs_nothing/1]).

-type config() :: [{atom(), term()}].
-type target() :: local | pool | remote.
%% What a bad call must be refused for: a bad value of a key, a key that
%% is not taken, or options that are not a map.
-type why() :: {value, atom(), term()} | {key, atom()} | not_a_map.

-define(POOL, libsql_options_SUITE_pool).
-define(EXTRA_POOL, libsql_options_SUITE_extra_pool).
-define(SCRATCH_POOL, libsql_options_SUITE_scratch_pool).
-define(POOL_SIZE, 2).
-define(LOG_ID, libsql_options_suite_capture).

%% Every key a per-call option map can hold, across the API.
-define(ALL_CALL_KEYS, [timeout, checkout_timeout, rows, chunk, transaction, mode]).
-define(BAD_TIMEOUTS, [-1, -5, 1.5, foo, 5000000000, 4294967296, <<"1000">>]).

%% =============================================================================
%% CT callbacks
%% =============================================================================

-spec suite() -> [tuple()].
suite() ->
    [{timetrap, {seconds, 120}}, {ct_hooks, [libsql_tursodb_cth]}].

-spec all() -> [{group, target()}].
all() ->
    [{group, local}, {group, pool}, {group, remote}].

-spec groups() -> [{target(), list(), [atom()]}].
groups() ->
    [{local, [], common_cases() ++ [open_options_checked, start_pool_options_checked,
                                    start_pool_cantopen_logs_nothing,
                                    start_pool_duplicate_name_logs_nothing]},
     {pool, [], common_cases()},
     {remote, [], common_cases() ++ [open_options_checked]}].

common_cases() ->
    [bad_call_options_rejected, good_call_options_accepted, zero_timeouts_accepted,
     bad_calls_leave_connection_untouched, bad_calls_log_nothing,
     nil_binds_null, null_option_reads_back].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    %% {url, Url} comes from libsql_tursodb_cth.
    true = is_binary(?config(url, Config)),
    libsql_test_util:init_per_suite(?MODULE, Config).

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    ok.

%% Each group's target, opened once; connections are owned by a process of
%% the group's own (a connection closes when its opener exits, and
%% init_per_group's process exits when it returns).
-spec init_per_group(target(), config()) -> config().
init_per_group(local, Config) ->
    Path = fresh_path(Config, "local.db"),
    Open = #{path => Path},
    {Owner, Db} = start_owner(fun() -> libsql:open(Open) end),
    ok = setup_tables(Db),
    [{target, local}, {db, Db}, {owner, Owner}, {open_opts, Open} | Config];
init_per_group(pool, Config) ->
    Path = fresh_path(Config, "pool.db"),
    Open = #{path => Path, size => ?POOL_SIZE},
    {ok, _} = libsql:start_pool(?POOL, Open),
    ok = setup_tables(?POOL),
    [{target, pool}, {db, ?POOL}, {open_opts, Open} | Config];
init_per_group(remote, Config) ->
    Open = #{url => ?config(url, Config)},
    {Owner, Db} = start_owner(fun() -> libsql:open(Open) end),
    ok = setup_tables(Db),
    [{target, remote}, {db, Db}, {owner, Owner}, {open_opts, Open} | Config].

-spec end_per_group(target(), config()) -> ok.
end_per_group(pool, _Config) ->
    ok = libsql:stop_pool(?POOL);
end_per_group(_Group, Config) ->
    ok = libsql:close(?config(db, Config)),
    ?config(owner, Config) ! stop,
    ok.

-spec init_per_testcase(atom(), config()) -> config().
init_per_testcase(_Case, Config) ->
    {ok, _} = application:ensure_all_started(libsql),
    #{level := Level} = logger:get_primary_config(),
    ok = settle(Config),
    [{primary_level, Level} | Config].

-spec end_per_testcase(atom(), config()) -> ok.
end_per_testcase(_Case, Config) ->
    stop_log_capture(Config),
    _ = [libsql:stop_pool(P) || P <- [?EXTRA_POOL, ?SCRATCH_POOL], whereis(P) =/= undefined],
    ok.

%% Logger handler: every event to the test process.
-spec log(logger:log_event(), logger:handler_config()) -> ok.
log(Event, #{config := #{pid := Pid}}) ->
    Pid ! {logged, Event},
    ok.

%% =============================================================================
%% The API under test: {Name, fun(Db, Opts) -> call, the keys it takes}
%% =============================================================================

%% Written independently of libsql_opts:call_keys/1 on purpose.
-spec api(config()) -> [{atom(), fun((libsql:db(), term()) -> term()), [atom()]}].
api(Config) ->
    Dest = db_path(Config, "backup_" ++ atom_to_list(?config(target, Config)) ++ ".db"),
    [{ping, fun(Db, O) -> libsql:ping(Db, O) end,
      [timeout, checkout_timeout]},
     {query, fun(Db, O) -> libsql:query(Db, "SELECT 1 AS a", [], O) end,
      [timeout, checkout_timeout, rows]},
     {execute, fun(Db, O) -> libsql:execute(Db, "DELETE FROM opts_scratch WHERE 0", [], O) end,
      [timeout, checkout_timeout]},
     {transaction, fun(Db, O) -> libsql:transaction(Db, fun(_) -> done end, O) end,
      [mode, timeout, checkout_timeout]},
     %% One connection across calls: on a pool only inside with_conn.
     {begin_transaction, fun(Db, O) -> session(Db, fun() -> begin_rollback(Db, O) end) end,
      [mode, timeout]},
     {batch, fun(Db, O) -> libsql:batch(Db, ["SELECT 1 AS a"], O) end,
      [transaction, timeout, checkout_timeout, rows]},
     {execute_many, fun(Db, O) -> libsql:execute_many(Db, "INSERT INTO opts_scratch(v) VALUES (?)",
                                                      [[1]], O) end,
      [timeout, checkout_timeout]},
     {execute_script, fun(Db, O) -> libsql:execute_script(Db, "SELECT 1; SELECT 2", O) end,
      [timeout, checkout_timeout]},
     {cursor_open, fun(Db, O) -> cursor_rows(Db, "SELECT a FROM opts_rows ORDER BY a", O) end,
      [timeout, checkout_timeout]},
     {fold, fun(Db, O) -> libsql:fold(Db, "SELECT a FROM opts_rows ORDER BY a", [],
                                      fun(R, Acc) -> Acc ++ [R] end, [], O) end,
      [chunk, timeout, checkout_timeout, rows]},
     {backup, fun(Db, O) -> libsql:backup(Db, Dest, O) end,
      [timeout, checkout_timeout]}].

bad_values(timeout) -> ?BAD_TIMEOUTS;
bad_values(checkout_timeout) -> ?BAD_TIMEOUTS;
bad_values(rows) -> [foo, true, 1];
bad_values(chunk) -> [0, -1, 1.5, 100000001, foo];
bad_values(transaction) -> [1, yes];
bad_values(mode) -> [sometimes, 1, "immediate"].

good_values(timeout) -> [infinity, 4294967295, 60000];
good_values(checkout_timeout) -> [infinity, 0, 4294967295, 1000];
good_values(rows) -> [tuples, maps];
good_values(chunk) -> [1, 2, 100000000];
good_values(transaction) -> [true, false];
good_values(mode) -> [deferred, immediate, exclusive, read_only].

%% One ordinary good value of each key.
plain(timeout) -> 60000;
plain(checkout_timeout) -> 5000;
plain(rows) -> maps;
plain(chunk) -> 10;
plain(transaction) -> true;
plain(mode) -> immediate.

%% [{Opts, Why}] for a function taking Keys.
-spec bad_cases([atom()]) -> [{term(), why()}].
bad_cases(Keys) ->
    Good = all_plain(Keys),
    %% each bad value alone
    [{#{K => V}, {value, K, V}} || K <- Keys, V <- bad_values(K)]
    %% a bad value among good values of every other key
    ++ [{Good#{K => hd(bad_values(K))}, {value, K, hd(bad_values(K))}} || K <- Keys]
    %% unknown keys, alone and among good ones
    ++ [{#{no_such_option => 1}, {key, no_such_option}},
        {#{rowz => maps}, {key, rowz}},
        {Good#{no_such_option => 1}, {key, no_such_option}}]
    %% keys other functions take (with values good there)
    ++ [{#{K => plain(K)}, {key, K}} || K <- ?ALL_CALL_KEYS -- Keys]
    %% not a map
    ++ [{[{timeout, 1}], not_a_map}, {[], not_a_map}].

good_cases(Keys) ->
    [#{}] ++ [#{K => V} || K <- Keys, V <- good_values(K)] ++ [all_plain(Keys)].

all_plain(Keys) ->
    maps:from_list([{K, plain(K)} || K <- Keys]).

%% Whether Result is the refusal Why calls for.
-spec rejected(why(), term()) -> boolean().
rejected({value, K, V}, {error, #{code := bad_argument, option := K, message := M}})
  when is_binary(M) ->
    has(M, atom_to_binary(K)) andalso has(M, printed(V));
rejected({key, K}, {error, #{code := bad_argument, option := K, message := M}})
  when is_binary(M) ->
    has(M, atom_to_binary(K));
rejected(not_a_map, {error, #{code := bad_argument, message := M}}) when is_binary(M) ->
    true;
rejected(_Why, _Result) ->
    false.

%% Whether Result is what function Name gives with good options Opts on
%% Target. Remote: no interactive transactions and no backup, refused
%% after the options were checked.
-spec accepted(atom(), map(), target(), term()) -> boolean().
accepted(ping, _, _, ok) -> true;
accepted(query, O, _, {ok, [<<"a">>], Rows}) -> Rows =:= rows(O, [1]);
accepted(execute, _, _, {ok, #{changes := 0, last_insert_rowid := Id}}) -> is_integer(Id);
accepted(transaction, _, remote, {error, #{code := not_supported}}) -> true;
accepted(transaction, _, T, {ok, done}) -> T =/= remote;
accepted(begin_transaction, _, remote, {error, #{code := not_supported}}) -> true;
accepted(begin_transaction, _, T, ok) -> T =/= remote;
accepted(batch, O, _, {ok, [#{columns := [<<"a">>], rows := Rows, changes := 0}]}) ->
    Rows =:= rows(O, [1]);
accepted(execute_many, _, _, {ok, #{changes := 1}}) -> true;
accepted(execute_script, _, _, {ok, #{statements := 2, changes := 0}}) -> true;
accepted(cursor_open, _, _, {ok, [{1}, {2}, {3}]}) -> true;
accepted(fold, O, _, {ok, Rows}) -> Rows =:= rows(O, [1, 2, 3]);
accepted(backup, _, remote, {error, #{code := not_supported}}) -> true;
accepted(backup, _, T, ok) -> T =/= remote;
accepted(_, _, _, _) -> false.

%% Rows of one column `a' as the rows option shapes them.
rows(Opts, Values) ->
    case maps:get(rows, Opts, tuples) of
        tuples -> [{V} || V <- Values];
        maps -> [#{<<"a">> => V} || V <- Values]
    end.

%% Every bad call of every function: [{Name, Opts, Why, Got}] of those
%% not refused as they must be.
run_bad_calls(Config) ->
    Db = ?config(db, Config),
    [{Name, Opts, Why, Got} || {Name, Call, Keys} <- api(Config),
                               {Opts, Why} <- bad_cases(Keys),
                               Got <- [Call(Db, Opts)],
                               not rejected(Why, Got)].

%% How many bad calls open a with_conn session (begin_transaction on a
%% pool): each is one checkout, one checkin and one reset of a worker.
sessions(Config) ->
    case ?config(target, Config) of
        pool -> lists:sum([length(bad_cases(Keys))
                           || {begin_transaction, _, Keys} <- api(Config)]);
        _ -> 0
    end.

%% =============================================================================
%% 1. per-call options: bad ones refused, good ones accepted
%% =============================================================================

-spec bad_call_options_rejected(config()) -> ok.
bad_call_options_rejected(Config) ->
    Calls = lists:sum([length(bad_cases(Keys)) || {_, _, Keys} <- api(Config)]),
    ct:pal("~b bad calls on ~p", [Calls, ?config(target, Config)]),
    ?assert(Calls > 200),
    ?assertEqual([], run_bad_calls(Config)).

-spec good_call_options_accepted(config()) -> ok.
good_call_options_accepted(Config) ->
    Db = ?config(db, Config),
    Target = ?config(target, Config),
    Conns = conns(Config),
    Failures = [{Name, Opts, Got} || {Name, Call, Keys} <- api(Config),
                                     Opts <- good_cases(Keys),
                                     Got <- [begin ok = settle(Config), Call(Db, Opts) end],
                                     not accepted(Name, Opts, Target, Got)],
    ?assertEqual([], Failures),
    ok = settle(Config),
    %% Timeouts up to 4294967295 ms were armed without harm.
    ?assertEqual(Conns, conns(Config)),
    ?assertEqual(ok, libsql:ping(Db)).

%% timeout 0 is a deadline that may pass before the answer: ok or timeout,
%% never bad_argument, and the connection survives it. checkout_timeout 0
%% with a free connection (or on a connection, where it does not apply)
%% succeeds.
-spec zero_timeouts_accepted(config()) -> ok.
zero_timeouts_accepted(Config) ->
    Db = ?config(db, Config),
    Conns = conns(Config),
    R1 = libsql:ping(Db, #{timeout => 0}),
    R2 = libsql:query(Db, "SELECT 1 AS a", [], #{timeout => 0}),
    ct:pal("timeout 0: ping ~p, query ~p", [R1, R2]),
    ?assert(R1 =:= ok orelse is_timeout(R1)),
    ?assert(R2 =:= {ok, [<<"a">>], [{1}]} orelse is_timeout(R2)),
    ok = settle(Config),
    ?assertEqual(ok, libsql:ping(Db, #{checkout_timeout => 0})),
    ?assertEqual({ok, [<<"a">>], [{1}]},
                 libsql:query(Db, "SELECT 1 AS a", [], #{checkout_timeout => 0,
                                                         timeout => infinity})),
    %% A late answer to a timed-out request never reaches the caller.
    timer:sleep(100),
    ?assertEqual([], drain()),
    ok = settle(Config),
    ?assertEqual(Conns, conns(Config)).

is_timeout({error, #{code := timeout}}) -> true;
is_timeout(_) -> false.

%% =============================================================================
%% 2. and 3. bad calls send nothing, arm nothing, log nothing
%% =============================================================================

-spec bad_calls_leave_connection_untouched(config()) -> ok.
bad_calls_leave_connection_untouched(Config) ->
    Db = ?config(db, Config),
    Before = snapshot(Config),
    Traced = traced_pids(Config),
    Tracer = trace_start(Traced),
    Failures = run_bad_calls(Config),
    %% Long enough for a timer armed with any small bad timeout to fire.
    timer:sleep(100),
    Received = trace_stop(Tracer, Traced),
    Mailbox = drain(),
    ?assertEqual([], Failures),
    ?assertEqual([], Mailbox),
    check_received(Config, Received),
    #{conns := Conns0, os_pids := OsPids0, requests := Requests0, pool := Pool0} = Before,
    ?assertEqual([], [C || C <- Conns0, not is_process_alive(C)]),
    ok = settle(Config),
    #{conns := Conns1, os_pids := OsPids1, requests := Requests1, pool := Pool1} =
        snapshot(Config),
    ?assertEqual(Conns0, Conns1),
    ?assertEqual(OsPids0, OsPids1),
    ?assert(lists:all(fun(P) -> libsql_test_util:os_alive(P, "libsql_port") end, OsPids1)),
    %% The port programs counted the stats calls of the snapshot and the
    %% resets of the with_conn sessions, nothing else.
    ?assertEqual(Requests0 + length(Conns1) + sessions(Config), Requests1),
    case ?config(target, Config) of
        pool ->
            ?assertMatch(#{size := ?POOL_SIZE, workers := ?POOL_SIZE, idle := ?POOL_SIZE,
                           busy := 0, waiting := 0, restarts := 0, checkout_timeouts := 0},
                         Pool1),
            ?assertEqual(maps:get(checkouts, Pool0) + sessions(Config),
                         maps:get(checkouts, Pool1));
        _ ->
            ?assertEqual(none, Pool1)
    end,
    ?assertEqual({ok, [<<"a">>], [{1}]}, libsql:query(Db, "SELECT 1 AS a")).

-spec bad_calls_log_nothing(config()) -> ok.
bad_calls_log_nothing(Config) ->
    ok = start_log_capture(),
    Failures = run_bad_calls(Config),
    timer:sleep(100),
    Logged = logs(),
    ?assertEqual([], Failures),
    ?assertEqual([], [summary(E) || #{level := L} = E <- Logged, L =/= debug]),
    %% The capture does see what is logged above debug.
    logger:notice("libsql_options_SUITE capture check"),
    ?assertMatch([#{level := notice}], logs()),
    stop_log_capture(Config).

%% Local and remote: the connection process received nothing at all. Pool:
%% the manager and the workers received exactly the messages of the
%% with_conn sessions of begin_transaction (per session: the checkin to be
%% reset at the manager, the reset at a worker, the port's answer to it,
%% and that answer passed on to the manager; a checkout only when no worker
%% was idle, all being reset after the sessions before: an idle worker is
%% checked out without a message), and nothing else but this process
%% introducing itself to the manager, once, if it had not used the pool
%% before.
check_received(Config, Received) ->
    case ?config(target, Config) of
        pool ->
            N = sessions(Config),
            {ok, Manager} = libsql_pool:lookup(?config(db, Config)),
            Self = self(),
            ToManager = [manager_msg(M, Self) || {trace, P, 'receive', M} <- Received,
                                                 P =:= Manager],
            ToWorkers = [W || {trace, P, 'receive', M} <- Received, P =/= Manager,
                              (W = worker_msg(M)) =/= select],
            ?assert(length([hello || hello <- ToManager]) =< 1),
            ?assert(length([checkout || checkout <- ToManager]) =< N),
            ?assertEqual(lists:sort(lists:append([[checkin, reset_reply]
                                                  || _ <- lists:seq(1, N)])),
                         lists:sort([M || M <- ToManager, M =/= hello, M =/= checkout])),
            ?assertEqual(lists:sort(lists:append([[reset, port_reply]
                                                  || _ <- lists:seq(1, N)])),
                         lists:sort(ToWorkers));
        _ ->
            ?assertEqual([], [M || {trace, _, 'receive', M} <- Received])
    end.

manager_msg({libsql_pool, hello, Self, _Id}, Self) -> hello;
manager_msg({'$gen_call', {Self, _}, {checkout, _Id, _Timeout}}, Self) -> checkout;
manager_msg({libsql_pool, checkin, _Slot, _Id, reset}, _Self) -> checkin;
manager_msg({[alias | _], {reply, _}}, _Self) -> reset_reply;
manager_msg({Ref, {reply, _}}, _Self) when is_reference(Ref) -> reset_reply;
manager_msg(M, _Self) -> {unexpected, M}.

worker_msg({'$gen_call', _, {request, _, _, _, reset}}) -> reset;
worker_msg({Port, {data, _}}) when is_port(Port) -> port_reply;
%% transport nif: the frame comes from the NIF's pipes, after a select
worker_msg({Nif, {data, _}}) when is_reference(Nif) -> port_reply;
worker_msg({select, _, undefined, ready_input}) -> select;
worker_msg(M) -> {unexpected, M}.

%% =============================================================================
%% 5. nil and the null option
%% =============================================================================

-spec nil_binds_null(config()) -> ok.
nil_binds_null(Config) ->
    Db = ?config(db, Config),
    Null = {ok, [<<"n">>, <<"t">>], [{1, <<"null">>}]},
    ?assertEqual(Null, libsql:query(Db, "SELECT ?1 IS NULL AS n, typeof(?1) AS t", [nil])),
    ?assertEqual(Null, libsql:query(Db, "SELECT :v IS NULL AS n, typeof(:v) AS t", #{v => nil})),
    ?assertEqual(Null, libsql:query(Db, "SELECT :v IS NULL AS n, typeof(:v) AS t",
                                    #{<<"v">> => nil})),
    %% Stored through every statement kind, read back as NULL.
    {ok, _} = libsql:execute(Db, "DELETE FROM opts_scratch WHERE k BETWEEN 1001 AND 1005"),
    Ins = "INSERT INTO opts_scratch(k, v) VALUES (?, ?)",
    ?assertMatch({ok, #{changes := 1}}, libsql:execute(Db, Ins, [1001, nil])),
    ?assertMatch({ok, #{changes := 1}},
                 libsql:execute(Db, "INSERT INTO opts_scratch(k, v) VALUES (:k, :v)",
                                #{k => 1002, v => nil})),
    ?assertMatch({ok, [#{changes := 1}]}, libsql:batch(Db, [{Ins, [1003, nil]}])),
    ?assertMatch({ok, #{changes := 1}}, libsql:execute_many(Db, Ins, [[1004, nil]])),
    ?assertMatch({ok, #{changes := 1}},
                 libsql:execute_many(Db, "INSERT INTO opts_scratch(k, v) VALUES (:k, :v)",
                                     [#{k => 1005, v => nil}])),
    ?assertEqual({ok, [<<"k">>, <<"v">>, <<"t">>],
                  [{K, null, <<"null">>} || K <- lists:seq(1001, 1005)]},
                 libsql:query(Db, "SELECT k, v, typeof(v) AS t FROM opts_scratch "
                                  "WHERE k BETWEEN 1001 AND 1005 ORDER BY k")),
    %% nil is not any atom: a near miss is refused.
    ?assertMatch({error, #{code := bad_argument, parameter := <<"1">>}},
                 libsql:query(Db, "SELECT ?", [nill])).

-spec null_option_reads_back(config()) -> ok.
null_option_reads_back(Config) ->
    Db = ?config(db, Config),
    %% The group's target, opened without the option.
    check_null_reads(Db, null),
    lists:foreach(
      fun({Extra, Atom}) ->
              {Other, Close} = open_like(Config, Extra),
              try
                  check_null_reads(Other, Atom),
                  %% Connections with another setting are not affected.
                  check_null_reads(Db, null)
              after
                  Close()
              end
      end,
      [{#{}, null}, {#{null => null}, null}, {#{null => nil}, nil},
       {#{null => undefined}, undefined}]).

%% NULL reads back as Atom in every kind of result; nil, null and
%% undefined all bind NULL.
check_null_reads(Db, Atom) ->
    Sql = "SELECT ? AS a, ? AS b, ? AS c, NULL AS d",
    Params = [nil, null, undefined],
    ?assertEqual({ok, [<<"a">>, <<"b">>, <<"c">>, <<"d">>], [{Atom, Atom, Atom, Atom}]},
                 libsql:query(Db, Sql, Params)),
    ?assertEqual({ok, [<<"a">>, <<"b">>, <<"c">>, <<"d">>],
                  [#{<<"a">> => Atom, <<"b">> => Atom, <<"c">> => Atom, <<"d">> => Atom}]},
                 libsql:query(Db, Sql, Params, #{rows => maps})),
    ?assertMatch({ok, [#{columns := [<<"a">>, <<"b">>, <<"c">>, <<"d">>],
                         rows := [{Atom, Atom, Atom, Atom}]},
                       #{columns := [<<"d">>], rows := [{Atom}]}]},
                 libsql:batch(Db, [{Sql, Params}, "SELECT NULL AS d"])),
    ?assertMatch({ok, [#{rows := [#{<<"a">> := Atom}]}]},
                 libsql:batch(Db, [{"SELECT ? AS a", [nil]}], #{rows => maps})),
    Three = "SELECT NULL AS a, a AS b FROM opts_rows ORDER BY a",
    Fold = fun(R, Acc) -> Acc ++ [R] end,
    ?assertEqual({ok, [{Atom, 1}, {Atom, 2}, {Atom, 3}]},
                 libsql:fold(Db, Three, [], Fold, [], #{chunk => 2})),
    ?assertEqual({ok, [#{<<"a">> => Atom, <<"b">> => B} || B <- [1, 2, 3]]},
                 libsql:fold(Db, Three, [], Fold, [], #{rows => maps})),
    ?assertEqual({ok, [{Atom, 1}, {Atom, 2}, {Atom, 3}]}, cursor_rows(Db, Three, #{})).

%% =============================================================================
%% 4. open and start_pool options
%% =============================================================================

-spec open_options_checked(config()) -> ok.
open_options_checked(Config) ->
    Target = ?config(target, Config),
    Base = case Target of
               local -> #{path => fresh_path(Config, "open.db")};
               remote -> ?config(open_opts, Config)
           end,
    Cases = [{Base#{K => V}, {value, K, V}} || {K, V} <- bad_conn_values()]
        ++ [{Base#{K => V}, {key, K}} || {K, V} <- unknown_open_keys()]
        ++ [{Base#{K => V}, {key, K}} || {K, V} <- wrong_target_keys(Target)]
        ++ [{#{}, {key, path}}, {[{path, "x.db"}], not_a_map}],
    Quiet = quiet_state(),
    ok = start_log_capture(),
    Failures = [{Opts, Why, Got} || {Opts, Why} <- Cases,
                                    Got <- [libsql:open(Opts)],
                                    not rejected(Why, Got)],
    timer:sleep(100),
    Logged = logs(),
    stop_log_capture(Config),
    ?assertEqual([], Failures),
    ?assertEqual([], [summary(E) || E <- Logged]),
    ok = same_quiet_state(Quiet),
    %% The bounds are good values.
    lists:foreach(
      fun({Opts, Atom}) ->
              {ok, C} = libsql:open(maps:merge(Base, Opts)),
              ?assertEqual({ok, [<<"a">>], [{Atom}]}, libsql:query(C, "SELECT NULL AS a")),
              ok = libsql:close(C)
      end,
      good_open_bounds(Target)).

-spec start_pool_options_checked(config()) -> ok.
start_pool_options_checked(Config) ->
    Name = ?SCRATCH_POOL,
    Base = #{path => fresh_path(Config, "start_pool.db"), size => ?POOL_SIZE},
    PoolValues = [{size, 0}, {size, 1001}, {size, two}, {checkout_timeout, 1.5},
                  {checkout_timeout, -1}, {checkout_timeout, 4294967296},
                  {slow_query_ms, -1}, {slow_query_ms, 1.5}, {max_restarts, -1}],
    Cases = [{Base#{K => V}, {value, K, V}} || {K, V} <- bad_conn_values() ++ PoolValues]
        ++ [{Base#{K => V}, {key, K}}
            || {K, V} <- [{no_such_option, 1}, {rowz, maps}, {name, other_name}]
                   ++ wrong_target_keys(local)]
        ++ [{#{size => 1}, {key, path}}, {[{path, "x.db"}], not_a_map}],
    Quiet = quiet_state(),
    ok = start_log_capture(),
    Failures = [{Opts, Why, Got} || {Opts, Why} <- Cases,
                                    Got <- [libsql:start_pool(Name, Opts)],
                                    not rejected(Why, Got)],
    timer:sleep(100),
    Logged = logs(),
    stop_log_capture(Config),
    ?assertEqual([], Failures),
    ?assertEqual([], [summary(E) || E <- Logged]),
    ok = same_quiet_state(Quiet),
    ?assertEqual(undefined, whereis(Name)),
    ?assertEqual(error, libsql_pool:lookup(Name)),
    %% The bounds are good values.
    {ok, _} = libsql:start_pool(Name, Base#{size => 1, checkout_timeout => 4294967295,
                                            slow_query_ms => 4294967295, max_restarts => 0,
                                            timeout => infinity}),
    ?assertEqual({ok, [<<"a">>], [{1}]}, libsql:query(Name, "SELECT 1 AS a")),
    ok = libsql:stop_pool(Name),
    {ok, _} = libsql:start_pool(Name, Base#{checkout_timeout => 0, max_restarts => 1000000,
                                            null => nil}),
    ?assertEqual({ok, [<<"a">>], [{nil}]}, libsql:query(Name, "SELECT NULL AS a")),
    ok = libsql:stop_pool(Name).

-spec start_pool_cantopen_logs_nothing(config()) -> ok.
start_pool_cantopen_logs_nothing(Config) ->
    Name = ?SCRATCH_POOL,
    Missing = filename:join([?config(priv_dir, Config), "libsql_options_SUITE_no_such_dir",
                             "x.db"]),
    Quiet = quiet_state(),
    ok = start_log_capture(),
    Result = libsql:start_pool(Name, #{path => Missing, size => ?POOL_SIZE}),
    ?assertMatch({error, #{code := cantopen}}, Result),
    ok = same_quiet_state(Quiet),
    timer:sleep(100),
    %% Nothing but SQLite's own log of the cause, at debug level (the
    %% caller has it as the error).
    ?assertEqual([], [summary(E) || E <- logs(), not sqlite_debug(E)]),
    ?assertEqual(undefined, whereis(Name)),
    ?assertEqual(error, libsql_pool:lookup(Name)),
    %% Positive control: the same capture sees the progress reports of a
    %% pool that does start.
    {ok, _} = libsql:start_pool(Name, #{path => fresh_path(Config, "cantopen_control.db"),
                                        size => ?POOL_SIZE}),
    Progress = [E || #{level := info,
                       msg := {report, #{label := {supervisor, progress}}}} = E <- logs()],
    ?assertNotEqual([], Progress),
    stop_log_capture(Config),
    ok = libsql:stop_pool(Name).

-spec start_pool_duplicate_name_logs_nothing(config()) -> ok.
start_pool_duplicate_name_logs_nothing(Config) ->
    Name = ?SCRATCH_POOL,
    Path = fresh_path(Config, "duplicate.db"),
    Missing = filename:join([?config(priv_dir, Config), "libsql_options_SUITE_no_such_dir",
                             "x.db"]),
    {ok, Pid} = libsql:start_pool(Name, #{path => Path, size => ?POOL_SIZE}),
    ok = settle_pool(Name),
    Workers = lists:sort(libsql_test_util:pool_workers(Name)),
    OsPids = [os_pid(W) || W <- Workers],
    Quiet = quiet_state(),
    ok = start_log_capture(),
    Again = libsql:start_pool(Name, #{path => Path, size => ?POOL_SIZE}),
    %% The name is checked before the database is opened.
    Elsewhere = libsql:start_pool(Name, #{path => Missing, size => 3}),
    %% A name some other process holds.
    true = register(libsql_options_SUITE_taken, self()),
    Taken = try libsql:start_pool(libsql_options_SUITE_taken, #{path => Path})
            after unregister(libsql_options_SUITE_taken)
            end,
    timer:sleep(100),
    Logged = logs(),
    stop_log_capture(Config),
    Running = iolist_to_binary(io_lib:format("a pool named ~p is already running", [Name])),
    ?assertEqual({error, #{code => bad_argument, message => Running}}, Again),
    ?assertEqual({error, #{code => bad_argument, message => Running}}, Elsewhere),
    ?assertMatch({error, #{code := bad_argument}}, Taken),
    ?assertEqual([], [summary(E) || E <- Logged]),
    ok = same_quiet_state(Quiet),
    %% The running pool is untouched.
    ?assertEqual(Pid, whereis(Name)),
    ?assertEqual(Workers, lists:sort(libsql_test_util:pool_workers(Name))),
    ?assertEqual(OsPids, [os_pid(W) || W <- Workers]),
    ?assertMatch({ok, #{workers := ?POOL_SIZE, restarts := 0}}, libsql:stats(Name)),
    ?assertEqual({ok, [<<"a">>], [{1}]}, libsql:query(Name, "SELECT 1 AS a")),
    ok = libsql:stop_pool(Name).

%% Bad values of keys every target takes (open and start_pool).
bad_conn_values() ->
    [{timeout, 5000000000}, {timeout, 4294967296}, {timeout, -1}, {timeout, 1.5},
     {timeout, foo}, {spin_us, 10001}, {spin_us, -1}, {cancel_timeout, 0},
     {cancel_timeout, 4294967296}, {max_frame, 10}, {max_frame, 1023},
     {null, nothing}, {null, "nil"}, {cache_size, -1}, {max_result_bytes, 10}].

%% Keys open/1 does not take (pool keys and made-up ones).
unknown_open_keys() ->
    [{size, 0}, {checkout_timeout, 1.5}, {slow_query_ms, -1}, {max_restarts, 1},
     {no_such_option, 1}].

%% Keys of the other kind of target, and bad values of this kind's own.
wrong_target_keys(local) ->
    [{busy_timeout, -1}, {busy_timeout, 2147483648}, {read_only, yes}, {create, 1},
     {connect_timeout, 1000}, {request_timeout, 1000}];
wrong_target_keys(remote) ->
    [{busy_timeout, -1}, {busy_timeout, 10}, {read_only, true}, {create, true},
     {connect_timeout, 0}, {request_timeout, -1}].

%% {Options at their bounds, what NULL reads back as}.
good_open_bounds(local) ->
    [{#{timeout => 4294967295, busy_timeout => 2147483647, spin_us => 10000,
        cancel_timeout => 4294967295, max_frame => 1024, cache_size => 0,
        null => undefined}, undefined},
     {#{timeout => infinity, busy_timeout => 0, spin_us => 0, cancel_timeout => 1,
        max_frame => 2147483647, null => nil}, nil}];
good_open_bounds(remote) ->
    [{#{timeout => 4294967295, connect_timeout => 2147483647, request_timeout => 0,
        spin_us => 10000, null => undefined}, undefined},
     {#{timeout => infinity, connect_timeout => 10000, request_timeout => 2147483647,
        cancel_timeout => 1, spin_us => 0, null => nil}, nil}].

%% =============================================================================
%% helpers: targets
%% =============================================================================

fresh_path(Config, Name) ->
    Path = db_path(Config, Name),
    _ = [file:delete(Path ++ Suffix) || Suffix <- ["", "-wal", "-shm", "-journal"]],
    Path.

%% Run Open() in a process that lives until told to stop; it owns what it
%% opened.
start_owner(Open) ->
    Self = self(),
    Owner = spawn(fun() ->
                          Self ! {owner, self(), Open()},
                          receive stop -> ok end
                  end),
    receive
        {owner, Owner, {ok, Db}} -> {Owner, Db};
        {owner, Owner, Other} -> ct:fail({open_failed, Other})
    after 30000 -> ct:fail(open_timed_out)
    end.

setup_tables(Db) ->
    {ok, _} = libsql:execute_script(
                Db, "DROP TABLE IF EXISTS opts_rows;"
                    "CREATE TABLE opts_rows(a INTEGER);"
                    "INSERT INTO opts_rows(a) VALUES (1), (2), (3);"
                    "DROP TABLE IF EXISTS opts_scratch;"
                    "CREATE TABLE opts_scratch(k INTEGER PRIMARY KEY, v)"),
    ok.

%% A second target like the group's, with Extra open options, and how to
%% close it.
open_like(Config, Extra) ->
    Opts = maps:merge(?config(open_opts, Config), Extra),
    case ?config(target, Config) of
        pool ->
            {ok, _} = libsql:start_pool(?EXTRA_POOL, Opts),
            {?EXTRA_POOL, fun() -> ok = libsql:stop_pool(?EXTRA_POOL) end};
        _ ->
            {ok, C} = libsql:open(Opts),
            {C, fun() -> ok = libsql:close(C) end}
    end.

%% Commands that need one connection across calls: on a pool, inside
%% with_conn (where calls on the pool use the pinned connection).
session(Db, Fun) ->
    case libsql_pool:lookup(Db) of
        {ok, _} -> libsql:with_conn(Db, fun(_Conn) -> Fun() end);
        error -> Fun()
    end.

begin_rollback(Db, Opts) ->
    case libsql:begin_transaction(Db, Opts) of
        ok -> ok = libsql:rollback(Db), ok;
        Other -> Other
    end.

%% All rows of Sql through a cursor (fetching two at a time), closed after.
cursor_rows(Db, Sql, Opts) ->
    case libsql:cursor_open(Db, Sql, [], Opts) of
        {ok, Cursor} ->
            try fetch_all(Cursor, [])
            after ok = libsql:cursor_close(Cursor)
            end;
        Other ->
            Other
    end.

fetch_all(Cursor, Acc) ->
    case libsql:fetch(Cursor, 2) of
        {ok, Rows, more} -> fetch_all(Cursor, Acc ++ Rows);
        {ok, Rows, done} -> {ok, Acc ++ Rows};
        {error, _} = E -> E
    end.

%% The connection processes of the group's target.
conns(Config) ->
    case ?config(target, Config) of
        pool -> lists:sort(libsql_test_util:pool_workers(?config(db, Config)));
        _ -> [?config(db, Config)]
    end.

traced_pids(Config) ->
    case ?config(target, Config) of
        pool ->
            {ok, Manager} = libsql_pool:lookup(?config(db, Config)),
            [Manager | conns(Config)];
        _ ->
            conns(Config)
    end.

%% A pool with every worker idle again (a reset after with_conn is
%% asynchronous); nothing to wait for on a connection.
settle(Config) ->
    case ?config(target, Config) of
        pool -> settle_pool(?config(db, Config));
        _ -> ok
    end.

settle_pool(Pool) ->
    Idle = fun() ->
                   case libsql:stats(Pool) of
                       {ok, #{size := N, workers := N, idle := N}} -> true;
                       _ -> false
                   end
           end,
    case wait_until(Idle, 5000) of
        true -> ok;
        false -> ct:fail({pool_not_idle, Pool, libsql:stats(Pool)})
    end.

snapshot(Config) ->
    Conns = conns(Config),
    #{conns => Conns,
      os_pids => [os_pid(C) || C <- Conns],
      requests => lists:sum([requests(C) || C <- Conns]),
      pool => case ?config(target, Config) of
                  pool -> {ok, S} = libsql:stats(?config(db, Config)), S;
                  _ -> none
              end}.

os_pid(Conn) ->
    {ok, OsPid} = libsql_conn:os_pid(Conn),
    OsPid.

%% Requests the port program of Conn has counted (this stats call included).
requests(Conn) ->
    {ok, #{requests := N, in_flight := 0}} = libsql:stats(Conn),
    N.

%% =============================================================================
%% helpers: what the VM runs and receives
%% =============================================================================

%% libsql processes, libsql_port OS processes of this VM, and the
%% children of the two dynamic supervisors.
quiet_state() ->
    #{procs => libsql_procs(), ports => my_ports(),
      conn_sup => supervisor:which_children(libsql_conn_sup),
      pools_sup => supervisor:which_children(libsql_pools_sup)}.

%% The same as Quiet, once whatever just failed has finished exiting.
same_quiet_state(Quiet) ->
    _ = wait_until(fun() -> quiet_state() =:= Quiet end, 3000),
    ?assertEqual(Quiet, quiet_state()),
    ok.

%% Processes of this application: started from a libsql module, or below
%% one of its named supervisors.
libsql_procs() ->
    lists:sort([P || P <- erlang:processes(), is_libsql_proc(P)]).

is_libsql_proc(P) ->
    case erlang:process_info(P, dictionary) of
        {dictionary, D} ->
            Init = case lists:keyfind('$initial_call', 1, D) of
                       {_, {M, F, _}} -> [M, F];
                       _ -> []
                   end,
            Ancestors = case lists:keyfind('$ancestors', 1, D) of
                            {_, As} -> [A || A <- As, is_atom(A)];
                            false -> []
                        end,
            lists:any(fun is_libsql_name/1, Init ++ Ancestors);
        undefined ->
            false
    end.

is_libsql_name(A) when is_atom(A) -> lists:prefix("libsql", atom_to_list(A));
is_libsql_name(_) -> false.

%% libsql_port processes started by this VM (children of its
%% erl_child_setup), so other VMs running suites do not count.
my_ports() ->
    Me = os:getpid(),
    Procs = [string:lexemes(L, " \t")
             || L <- string:split(os:cmd("ps -eo pid=,ppid=,comm="), "\n", all)],
    Setups = [Pid || [Pid, PPid, "erl_child_setup"] <- Procs, PPid =:= Me],
    lists:sort([Pid || [Pid, PPid, "libsql_port"] <- Procs, lists:member(PPid, Setups)]).

%% Trace every message Pids receive, into a collector process.
trace_start(Pids) ->
    Tracer = spawn_link(fun() -> collect([]) end),
    [1 = erlang:trace(P, true, ['receive', {tracer, Tracer}]) || P <- Pids],
    Tracer.

trace_stop(Tracer, Pids) ->
    %% A process that died meanwhile is no longer traced (the case then
    %% fails on its comparison of processes).
    _ = [catch erlang:trace(P, false, ['receive']) || P <- Pids],
    Refs = [erlang:trace_delivered(P) || P <- Pids],
    [receive {trace_delivered, _, Ref} -> ok after 5000 -> ct:fail(trace_not_delivered) end
     || Ref <- Refs],
    Tracer ! {get, self()},
    receive {collected, Tracer, Msgs} -> Msgs after 5000 -> ct:fail(tracer_silent) end.

collect(Acc) ->
    receive
        {get, From} -> From ! {collected, self(), lists:reverse(Acc)};
        Trace -> collect([Trace | Acc])
    end.

%% Every message in the mailbox now.
drain() ->
    receive M -> [M | drain()] after 0 -> [] end.

has(Bin, Part) ->
    binary:match(Bin, Part) =/= nomatch.

printed(V) ->
    iolist_to_binary(io_lib:format("~0tp", [V])).

%% ---- log capture ----

start_log_capture() ->
    ok = logger:set_primary_config(level, all),
    _ = logger:remove_handler(?LOG_ID),
    ok = logger:add_handler(?LOG_ID, ?MODULE, #{level => all, config => #{pid => self()}}),
    _ = logs(),
    ok.

stop_log_capture(Config) ->
    _ = logger:remove_handler(?LOG_ID),
    ok = logger:set_primary_config(level, ?config(primary_level, Config)),
    _ = logs(),
    ok.

logs() ->
    receive {logged, E} -> [E | logs()] after 0 -> [] end.

sqlite_debug(#{level := debug, meta := #{domain := [libsql, sqlite]}}) -> true;
sqlite_debug(_) -> false.

%% A log event as something readable in a failure.
summary(#{level := L, msg := Msg, meta := Meta}) ->
    {L, maps:get(mfa, Meta, undefined), Msg}.
