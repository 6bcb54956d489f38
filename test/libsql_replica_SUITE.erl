%% Common Test suite: embedded replicas against the real server (tursodb
%% 0.7.0 --sync-server, a fresh one per case: several cases reset its
%% history). What the shared API bodies cannot show: bootstrap, sync after
%% every kind of server change, the history-reset hazard (H1 of
%% ../shared/protocols.md), a server that goes away and comes back, the
%% replica's own rules (never written locally, frozen, not a replica), the
%% background sync and its events, readers in other OS processes, and
%% kill -9 of the port in the middle of applies.
%%
%% "Equal" always means table by table, row by row, against the server's
%% own answer over raw Hrana (libsql_tursodb:sql/2), and every replica
%% state checked passes PRAGMA integrity_check.
-module(libsql_replica_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(libsql_test_util, [expect_error/2, contains/2]).

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([bootstrap/1, empty_server/1, converges/1, vacuum_shrinks/1, history_reset/1,
         server_restart/1, offline/1, read_your_writes/1, sync_until/1, file_is_guarded/1,
         not_a_replica/1, freeze/1, background_sync/1, other_process_readers/1,
         pool/1, crash_during_apply/1, agrees_with_turso_client/1, server_dies_mid_pull/1,
         crash_during_bootstrap/1, state_without_file/1, transactions_on_hrana3/1, outage_logged_once/1,
         encrypted/1, crash_during_apply_encrypted/1]).
-export([log/2]).

-type config() :: [{atom(), term()}].

-spec suite() -> [tuple()].
suite() -> [{timetrap, {minutes, 5}}].

-spec all() -> [atom()].
all() ->
    Cases = [bootstrap, empty_server, converges, vacuum_shrinks, history_reset, server_restart,
             offline, read_your_writes, sync_until, file_is_guarded, not_a_replica, freeze,
             background_sync, other_process_readers, pool, crash_during_apply,
             agrees_with_turso_client, server_dies_mid_pull, crash_during_bootstrap,
             state_without_file,
             transactions_on_hrana3, outage_logged_once, encrypted,
             crash_during_apply_encrypted],
    case valgrind() of
        %% Under valgrind (make valgrind) every port runs ~50x slower: the
        %% timing bounds of the readers case mean nothing there.
        true -> Cases -- [other_process_readers];
        false -> Cases
    end.

valgrind() -> os:getenv("LIBSQL_VALGRIND_DIR") =/= false.

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    libsql_test_util:init_per_suite(?MODULE, Config).

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    ok.

-spec init_per_testcase(atom(), config()) -> config().
init_per_testcase(Case, Config) ->
    {ok, _} = application:ensure_all_started(libsql),
    {ok, Server} = libsql_tursodb:start(?config(priv_dir, Config)),
    Path = libsql_test_util:db_path(Config, atom_to_list(Case) ++ ".db"),
    [file:delete(Path ++ S) || S <- ["", "-replica", "-journal", "-replica.lock"]],
    [{server, Server}, {path, Path} | Config].

-spec end_per_testcase(atom(), config()) -> ok.
end_per_testcase(_Case, Config) ->
    libsql_tursodb:stop(server(Config)).

%% ---- helpers ----------------------------------------------------------------

server(Config) -> ?config(server, Config).
url(Config) -> maps:get(url, server(Config)).
path(Config) -> ?config(path, Config).

opts(Config) -> opts(Config, #{}).
opts(Config, Extra) -> maps:merge(#{path => path(Config), url => url(Config)}, Extra).

open(Config) -> open(Config, #{}).
open(Config, Extra) ->
    {ok, Db} = libsql:open(opts(Config, Extra)),
    Db.

%% SQL on the server itself.
srv(Config, Sql) ->
    case libsql_tursodb:sql(url(Config), Sql) of
        {ok, Rows} -> Rows;
        {error, E} -> ct:fail({server_sql, Sql, E})
    end.

%% The rows of every table: the server's (raw Hrana) and the replica's.
server_tables(Config, Tables) ->
    [{T, srv(Config, ["SELECT * FROM ", T, " ORDER BY rowid"])} || T <- Tables].

replica_tables(Db, Tables) ->
    [{T, begin
             {ok, _, Rows} = libsql:query(Db, ["SELECT * FROM ", T, " ORDER BY rowid"]),
             [tuple_to_list(R) || R <- Rows]
         end} || T <- Tables].

assert_equal(Config, Db, Tables) ->
    ?assertEqual(server_tables(Config, Tables), replica_tables(Db, Tables)),
    ok = integrity(Db).

integrity(Db) ->
    ?assertEqual({ok, [<<"integrity_check">>], [{<<"ok">>}]},
                 libsql:query(Db, "PRAGMA integrity_check")),
    ok.

%% The tables the server has, but tursodb's own.
server_table_names(Config) ->
    [T || [T] <- srv(Config, "SELECT name FROM sqlite_schema WHERE type = 'table' "
                             "ORDER BY name")].

sync_ok(Db) ->
    {ok, #{revision := _} = Info} = libsql:sync(Db),
    Info.

os_pid(Db) ->
    {ok, Pid} = gen_server:call(Db, os_pid),
    Pid.

%% ---- cases --------------------------------------------------------------------

%% A missing file is made from the server's full page set: same rows,
%% rollback-journal mode (never the server's WAL bytes), a state file
%% beside it, and the server's revision.
-spec bootstrap(config()) -> ok.
bootstrap(Config) ->
    srv(Config, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, b BLOB)"),
    [srv(Config, io_lib:format("INSERT INTO t(v, b) VALUES ('row ~b', randomblob(~b))",
                               [I, I * 37])) || I <- lists:seq(1, 300)],
    ?assertNot(filelib:is_file(path(Config))),
    Db = open(Config),
    assert_equal(Config, Db, ["t"]),
    ?assertMatch({ok, _, [{<<"delete">>}]}, libsql:query(Db, "PRAGMA journal_mode")),
    ?assert(filelib:is_file(path(Config) ++ "-replica")),
    {ok, Rev} = libsql:replication_index(Db),
    ?assert(Rev > 0),
    %% Nothing changed on the server: a sync moves nothing.
    ?assertMatch(#{revision_before := Rev, revision := Rev, pages := 0, bootstrapped := false},
                 sync_ok(Db)),
    {ok, Info} = libsql:info(Db),
    ?assertMatch(#{mode := replica, journal_mode := <<"delete">>}, Info),
    ok = libsql:close(Db),
    %% Stock SQLite (a plain connection) reads the file as its own.
    {ok, Plain} = libsql:open(#{path => path(Config), read_only => true}),
    {ok, _, [{300}]} = libsql:query(Plain, "SELECT count(*) FROM t"),
    ok = integrity(Plain),
    ok = libsql:close(Plain).

%% A server nothing was ever written to replicates as an empty database;
%% its first table arrives with the next sync.
-spec empty_server(config()) -> ok.
empty_server(Config) ->
    Db = open(Config),
    ?assertEqual({ok, [<<"n">>], [{0}]}, libsql:query(Db, "SELECT count(*) AS n FROM sqlite_schema")),
    {ok, 0} = libsql:replication_index(Db),
    srv(Config, "CREATE TABLE t(x)"),
    srv(Config, "INSERT INTO t VALUES (1), (2)"),
    Info = sync_ok(Db),
    ?assertMatch(#{revision_before := 0}, Info),
    assert_equal(Config, Db, ["t"]),
    ok = libsql:close(Db).

%% Any mix of server changes, each followed by a sync: the replica equals
%% the server every time, table by table.
-spec converges(config()) -> ok.
converges(Config) ->
    srv(Config, "CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT, n INTEGER)"),
    Db = open(Config),
    rand:seed(exsss, {1, 2, 3}),
    lists:foreach(
      fun(Round) ->
              [srv(Config, change(Round, K)) || K <- lists:seq(1, 1 + rand:uniform(4))],
              sync_ok(Db),
              assert_equal(Config, Db, server_table_names(Config))
      end, lists:seq(1, 30)),
    ok = libsql:close(Db).

change(Round, K) ->
    case rand:uniform(7) of
        1 -> io_lib:format("INSERT INTO a(v, n) SELECT 'bulk ~b ' || value, value FROM "
                           "generate_series(1, 200)", [Round]);
        2 -> io_lib:format("UPDATE a SET v = v || '~b', n = n + 1 WHERE id % ~b = 0",
                           [K, 2 + rand:uniform(5)]);
        3 -> io_lib:format("DELETE FROM a WHERE id % ~b = 1", [5 + rand:uniform(20)]);
        4 -> io_lib:format("CREATE TABLE IF NOT EXISTS t~b(x TEXT)", [Round]);
        5 -> io_lib:format("INSERT INTO a(v, n) VALUES ('~s', ~b)",
                           [lists:duplicate(rand:uniform(3000), $x), Round]);
        6 -> io_lib:format("CREATE INDEX IF NOT EXISTS i~b ON a(n)", [Round rem 3]);
        7 -> "UPDATE a SET v = substr(v, 1, 10)"
    end.

%% Most rows deleted and the server vacuumed: the file shrinks with it
%% (a full page set applied into the existing file).
-spec vacuum_shrinks(config()) -> ok.
vacuum_shrinks(Config) ->
    srv(Config, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"),
    srv(Config, "INSERT INTO t(v) SELECT printf('%.2000c', 'x') FROM generate_series(1, 500)"),
    Db = open(Config),
    Big = filelib:file_size(path(Config)),
    srv(Config, "DELETE FROM t WHERE id > 10"),
    srv(Config, "VACUUM"),
    ?assertMatch(#{bootstrapped := true}, sync_ok(Db)),
    assert_equal(Config, Db, ["t"]),
    Small = filelib:file_size(path(Config)),
    ct:log("replica file: ~b bytes before VACUUM, ~b after", [Big, Small]),
    ?assert(Small < Big div 10),
    ok = libsql:close(Db).

%% H1: the server's WAL restarts (VACUUM) and grows past the revision we
%% hold; the same revision number now names other frames. Pulling from it
%% would corrupt the file (protocols.md 3.8, observed); the probe of the
%% page our revision wrote finds out and the full set is pulled again.
-spec history_reset(config()) -> ok.
history_reset(Config) ->
    srv(Config, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"),
    [srv(Config, io_lib:format("INSERT INTO t(v) VALUES ('~b')", [I])) || I <- lists:seq(1, 40)],
    Db = open(Config),
    {ok, Rev} = libsql:replication_index(Db),
    srv(Config, "VACUUM"),
    %% Writes until the server's revision is past ours again.
    past(Config, Rev, 1),
    ?assertMatch(#{bootstrapped := true, revision_before := Rev}, sync_ok(Db)),
    assert_equal(Config, Db, ["t"]),
    %% And from there on increments again.
    srv(Config, "INSERT INTO t(v) VALUES ('after')"),
    ?assertMatch(#{bootstrapped := false, pages := P} when P > 0, sync_ok(Db)),
    assert_equal(Config, Db, ["t"]),
    ok = libsql:close(Db).

%% Server writes until a probe of the server shows a revision above Rev.
past(Config, Rev, N) ->
    srv(Config, io_lib:format("INSERT INTO t(v) VALUES ('after reset ~b')", [N])),
    {ok, Probe} = libsql:open(#{path => path(Config) ++ ".probe", url => url(Config)}),
    {ok, Now} = libsql:replication_index(Probe),
    ok = libsql:close(Probe),
    [file:delete(path(Config) ++ ".probe" ++ S) || S <- ["", "-replica", "-replica.lock"]],
    case Now > Rev of
        true -> ok;
        false -> past(Config, Rev, N + 1)
    end.

%% The server killed and started again on the same file: the replica
%% goes on from where it was.
-spec server_restart(config()) -> ok.
server_restart(Config) ->
    srv(Config, "CREATE TABLE t(x)"),
    srv(Config, "INSERT INTO t VALUES (1)"),
    Db = open(Config),
    {ok, Server2} = libsql_tursodb:restart(server(Config)),
    Config2 = lists:keystore(server, 1, Config, {server, Server2}),
    srv(Config2, "INSERT INTO t VALUES (2)"),
    sync_ok(Db),
    assert_equal(Config2, Db, ["t"]),
    ok = libsql:close(Db),
    libsql_tursodb:stop(Server2),
    %% end_per_testcase stops the first one again: harmless.
    ok.

%% No server: reads go on from the file, writes and syncs fail with a
%% network error, and a replica file opens offline. The server back,
%% everything works again.
-spec offline(config()) -> ok.
offline(Config) ->
    srv(Config, "CREATE TABLE t(x)"),
    srv(Config, "INSERT INTO t VALUES (1)"),
    Db = open(Config, #{connect_timeout => 2000}),
    ok = libsql_tursodb:stop(server(Config)),
    {ok, _, [{1}]} = libsql:query(Db, "SELECT count(*) FROM t"),
    expect_error(network, libsql:execute(Db, "INSERT INTO t VALUES (2)")),
    expect_error(network, libsql:sync(Db)),
    {ok, _, [{1}]} = libsql:query(Db, "SELECT count(*) FROM t"),
    ok = libsql:close(Db),
    %% Opens offline (the file is there), reads.
    Db2 = open(Config, #{connect_timeout => 2000}),
    {ok, _, [{1}]} = libsql:query(Db2, "SELECT count(*) FROM t"),
    %% A file that is not there cannot be made offline.
    expect_error(network, libsql:open(#{path => path(Config) ++ ".new", url => url(Config),
                                        connect_timeout => 2000})),
    {ok, Server2} = libsql_tursodb:restart(server(Config)),
    Config2 = lists:keystore(server, 1, Config, {server, Server2}),
    {ok, #{changes := 1}} = libsql:execute(Db2, "INSERT INTO t VALUES (2)"),
    {ok, _, [{2}]} = libsql:query(Db2, "SELECT count(*) FROM t"),
    assert_equal(Config2, Db2, ["t"]),
    ok = libsql:close(Db2),
    libsql_tursodb:stop(Server2).

%% A read after a write sees it (the replica pulls first), unless
%% read_your_writes is off: then the next sync brings it.
-spec read_your_writes(config()) -> ok.
read_your_writes(Config) ->
    srv(Config, "CREATE TABLE t(x)"),
    Db = open(Config),
    {ok, #{changes := 1}} = libsql:execute(Db, "INSERT INTO t VALUES (1)"),
    {ok, _, [{1}]} = libsql:query(Db, "SELECT count(*) FROM t"),
    {ok, [_]} = libsql:batch(Db, [{"INSERT INTO t VALUES (?)", [2]}]),
    {ok, _, [{2}]} = libsql:query(Db, "SELECT count(*) FROM t"),
    %% A cursor of this connection holds the file: the read after a write
    %% cannot pull under it, and says so at once (not after busy_timeout).
    {ok, Cursor} = libsql:cursor_open(Db, "SELECT x FROM t", []),
    {ok, [_], more} = libsql:fetch(Cursor, 1),
    {ok, _} = libsql:execute(Db, "INSERT INTO t VALUES (3)"),
    {Us, Busy} = timer:tc(fun() -> libsql:query(Db, "SELECT count(*) FROM t") end),
    E = expect_error(busy, Busy),
    contains(maps:get(message, E), <<"cursor">>),
    ?assert(Us < 1000000),
    ok = libsql:cursor_close(Cursor),
    {ok, _, [{3}]} = libsql:query(Db, "SELECT count(*) FROM t"),
    ok = libsql:close(Db),
    Lazy = open(Config, #{read_your_writes => false}),
    {ok, #{changes := 1}} = libsql:execute(Lazy, "INSERT INTO t VALUES (4)"),
    {ok, _, [{3}]} = libsql:query(Lazy, "SELECT count(*) FROM t"),
    sync_ok(Lazy),
    {ok, _, [{4}]} = libsql:query(Lazy, "SELECT count(*) FROM t"),
    ok = libsql:close(Lazy).

%% A revision seen by one replica is reached by another with sync_until;
%% one the server never reaches times out.
-spec sync_until(config()) -> ok.
sync_until(Config) ->
    srv(Config, "CREATE TABLE t(x)"),
    A = open(Config),
    B = open(Config, #{path => path(Config) ++ ".b", read_your_writes => false,
                       sync_timeout => 500}),
    {ok, _} = libsql:execute(A, "INSERT INTO t VALUES (1)"),
    {ok, _, [{1}]} = libsql:query(A, "SELECT count(*) FROM t"),
    {ok, RevA} = libsql:replication_index(A),
    {ok, RevB} = libsql:replication_index(B),
    ?assert(RevB < RevA),
    ?assertMatch({ok, #{revision := R}} when R >= RevA, libsql:sync_until(B, RevA)),
    {ok, _, [{1}]} = libsql:query(B, "SELECT count(*) FROM t"),
    expect_error(timeout, libsql:sync_until(B, RevA + 1000000)),
    expect_error(bad_argument, libsql:sync_until(B, -1)),
    expect_error(bad_argument, libsql:sync_until(B, foo)),
    [ok = libsql:close(D) || D <- [A, B]].

%% The file is written by the sync alone: writes go to the server, and
%% what would change the file or lift its guard is refused.
-spec file_is_guarded(config()) -> ok.
file_is_guarded(Config) ->
    srv(Config, "CREATE TABLE t(x)"),
    Db = open(Config),
    Before = file_bytes(Config),
    [begin
         E = expect_error(readonly, libsql:execute(Db, Sql)),
         contains(maps:get(message, E), <<"refused">>)
     end || Sql <- ["PRAGMA journal_mode = WAL", "PRAGMA query_only = 0",
                    "PRAGMA locking_mode = EXCLUSIVE", "PRAGMA optimize",
                    "PRAGMA wal_checkpoint", "PRAGMA writable_schema = 1",
                    "PRAGMA main.journal_mode=wal"]],
    ?assertEqual(Before, file_bytes(Config)),
    %% VACUUM and ANALYZE are the server's (they write).
    {ok, _} = libsql:execute(Db, "ANALYZE"),
    {ok, _, [{<<"delete">>}]} = libsql:query(Db, "PRAGMA journal_mode"),
    {ok, _, [{1}]} = libsql:query(Db, "PRAGMA query_only"),
    %% PRAGMA user_version writes the database: the server's.
    {ok, _} = libsql:execute(Db, "PRAGMA user_version = 7"),
    ?assertEqual([[7]], srv(Config, "PRAGMA user_version")),
    {ok, _, [{7}]} = libsql:query(Db, "PRAGMA user_version"),
    ok = integrity(Db),
    ok = libsql:close(Db).

file_bytes(Config) ->
    {ok, B} = file:read_file(path(Config)),
    B.

%% Only a replica syncs; a file that is not one is never overwritten.
-spec not_a_replica(config()) -> ok.
not_a_replica(Config) ->
    {ok, Local} = libsql:open(#{path => path(Config)}),
    {ok, _} = libsql:execute(Local, "CREATE TABLE mine(x)"),
    [expect_error(not_supported, F(Local)) || F <- [fun libsql:sync/1, fun libsql:freeze/1,
                                                   fun libsql:replication_index/1]],
    expect_error(not_supported, libsql:sync_until(Local, 1)),
    expect_error(not_supported, libsql:subscribe(Local, sync)),
    ok = libsql:close(Local),
    Before = file_bytes(Config),
    E = expect_error(bad_argument, libsql:open(opts(Config))),
    contains(maps:get(message, E), <<"not a replica">>),
    ?assertEqual(Before, file_bytes(Config)),
    [expect_error(bad_argument, libsql:open(opts(Config, Extra)))
     || Extra <- [#{path => ":memory:"}, #{read_only => true}, #{create => false},
                  #{sync_interval => -1}, #{read_your_writes => maybe},
                  #{sync_timeout => 0}]],
    [expect_error(bad_argument, libsql:open(O))
     || O <- [#{path => path(Config), sync_interval => 10},
              #{url => url(Config), read_your_writes => true}]],
    ok.

%% freeze/1: a plain database from then on.
-spec freeze(config()) -> ok.
freeze(Config) ->
    srv(Config, "CREATE TABLE t(x)"),
    srv(Config, "INSERT INTO t VALUES (1)"),
    Db = open(Config),
    ok = libsql:freeze(Db),
    ok = libsql:freeze(Db),
    {ok, #{changes := 1}} = libsql:execute(Db, "INSERT INTO t VALUES (2)"),
    {ok, _, [{2}]} = libsql:query(Db, "SELECT count(*) FROM t"),
    ?assertEqual([[1]], srv(Config, "SELECT count(*) FROM t")),
    expect_error(not_supported, libsql:sync(Db)),
    {ok, _, [{0}]} = libsql:query(Db, "PRAGMA query_only"),
    ok = libsql:close(Db),
    E = expect_error(bad_argument, libsql:open(opts(Config))),
    contains(maps:get(message, E), <<"frozen">>),
    {ok, Plain} = libsql:open(#{path => path(Config)}),
    {ok, _, [{2}]} = libsql:query(Plain, "SELECT count(*) FROM t"),
    ok = libsql:close(Plain).

%% sync_interval: the port's sync thread pulls by itself, and every sync
%% that applied something is a message to subscribers.
-spec background_sync(config()) -> ok.
background_sync(Config) ->
    srv(Config, "CREATE TABLE t(x)"),
    Db = open(Config, #{sync_interval => 50, read_your_writes => false}),
    {ok, Ref} = libsql:subscribe(Db, sync),
    srv(Config, "INSERT INTO t VALUES (1)"),
    receive
        {libsql_sync, Ref, #{pages := P, revision := _}} when P > 0 -> ok
    after 5000 -> ct:fail(no_sync_event)
    end,
    {ok, _, [{1}]} = libsql:query(Db, "SELECT count(*) FROM t"),
    %% An explicit sync is an event too.
    srv(Config, "INSERT INTO t VALUES (2)"),
    ok = libsql:unsubscribe(Ref),
    ok = libsql:unsubscribe(Ref),
    {ok, Ref2} = libsql:subscribe(Db, sync),
    _ = libsql:sync(Db),
    true = libsql_test_util:wait_until(
           fun() -> {ok, _, [{N}]} = libsql:query(Db, "SELECT count(*) FROM t"), N =:= 2 end,
           5000),
    receive {libsql_sync, Ref, _} -> ct:fail(event_after_unsubscribe) after 0 -> ok end,
    receive {libsql_sync, Ref2, _} -> ok after 5000 -> ct:fail(no_event_after_resubscribe) end,
    ok = libsql:close(Db).

%% Readers never wait long and never see a state the server did not have:
%% a pool of replica workers and plain read-only connections (each its own
%% OS process) read continuously while another replica connection applies
%% 100 background syncs of transfers (the sum of all balances is constant).
%% Zero errors; no reader's statement waited on the lock longer than a
%% sync held it (locked_us of its events against the busy_wait_max_ms the
%% readers' ports count); no VM scheduler stall of 5 ms or more meanwhile
%% but for the OS's own preemptions (fewer than 10, each under 50 ms).
-spec other_process_readers(config()) -> ok.
other_process_readers(Config) ->
    srv(Config, "CREATE TABLE acct(id INTEGER PRIMARY KEY, bal INTEGER, pad TEXT)"),
    srv(Config, "INSERT INTO acct(bal, pad) SELECT 100, printf('%.300c', 'p') FROM "
                "generate_series(1, 200)"),
    Syncer = open(Config, #{sync_interval => 10, read_your_writes => false}),
    {ok, Ref} = libsql:subscribe(Syncer, sync),
    {ok, _} = libsql:start_pool(readers, opts(Config, #{size => 3, read_your_writes => false})),
    Parent = self(),
    Plain = fun() -> {ok, C} = libsql:open(#{path => path(Config), read_only => true}), C end,
    Plains = [Plain() || _ <- lists:seq(1, 2)],
    Readers = [spawn_link(fun() -> reader(Parent, readers, 0, 0, 0) end)
               || _ <- lists:seq(1, 3)] ++
              [spawn_link(fun() -> reader(Parent, C, 0, 0, 0) end) || C <- Plains],
    Monitor = spawn_link(fun() -> stalls([]) end),
    _ = erlang:system_monitor(Monitor, [{long_schedule, 5}]),
    Locked = lists:map(
               fun(I) ->
                       A = 1 + (I * 7) rem 200,
                       B = 1 + A rem 200,
                       srv(Config, io_lib:format("UPDATE acct SET bal = bal + CASE id WHEN ~b "
                                                 "THEN -~b WHEN ~b THEN ~b END WHERE id IN (~b, ~b)",
                                                 [A, I, B, I, A, B])),
                       receive
                           {libsql_sync, Ref, #{locked_us := L, pages := P}} when P > 0 -> L
                       after 10000 -> ct:fail({no_sync, I})
                       end
               end, lists:seq(1, 100)),
    _ = erlang:system_monitor(undefined),
    Monitor ! {stop, self()},
    Stalls = receive {stalls, S} -> S after 5000 -> ct:fail(stall_monitor) end,
    [R ! stop || R <- Readers],
    Counts = [receive {R, done, Reads, Errors, Max} -> {Reads, Errors, Max}
              after 10000 -> ct:fail(reader)
              end || R <- Readers],
    MaxLockedMs = lists:max(Locked) / 1000,
    MaxReadMs = lists:max([M || {_, _, M} <- Counts]) / 1000,
    %% How long the readers' statements waited on the file's lock, as
    %% their ports counted it (the busy handler's sleeps).
    Waits = [maps:with([busy_waits, busy_wait_max_ms], element(2, libsql:stats(C)))
             || C <- libsql_test_util:pool_workers(readers) ++ Plains],
    MaxWaitMs = lists:max([W || #{busy_wait_max_ms := W} <- Waits]),
    ct:log("100 syncs: lock held ~.2f ms at most (median ~.2f); readers (reads, errors, "
           "longest us): ~p; lock waits per reader: ~p; longest wait ~b ms; longest read "
           "~.2f ms; VM stalls >= 5 ms: ~p",
           [MaxLockedMs, lists:nth(50, lists:sort(Locked)) / 1000, Counts, Waits, MaxWaitMs,
            MaxReadMs, Stalls]),
    [?assertEqual(0, Errors) || {_, Errors, _} <- Counts],
    [?assert(Reads > 100) || {Reads, _, _} <- Counts],
    %% No reader waited longer than a sync kept readers out, but for the
    %% busy handler's granularity (it sleeps whole ms and then tries the
    %% lock again: 2 ms), and readers did meet the lock.
    ?assert(MaxWaitMs =< MaxLockedMs + 2),
    ?assert(lists:sum([N || #{busy_waits := N} <- Waits]) > 0),
    %% The whole read, port trip and scheduling included, stays short.
    ?assert(MaxReadMs < 500),
    %% A process that held its scheduler through syncs would stall at
    %% every one of the 100 (and for as long as a sync holds the lock).
    %% long_schedule counts wall time, so the OS taking a scheduler's CPU
    %% away on a loaded 2-core machine shows too, in any process: 6-7 ms,
    %% up to three in one CI run (a reader's connection, readers, inets'
    %% httpc of the test helpers). Allowed: fewer than one per ten syncs,
    %% each under 50 ms.
    ?assert(length(Stalls) < 10),
    [?assert(Ms < 50) || {_, Info, _} <- Stalls, {timeout, Ms} <- Info],
    [ok = libsql:close(C) || C <- Plains],
    ok = libsql:stop_pool(readers),
    {ok, _} = libsql:sync(Syncer),
    assert_equal(Config, Syncer, ["acct"]),
    ok = libsql:close(Syncer).

stalls(Acc) ->
    receive
        {monitor, Pid, long_schedule, Info} ->
            Who = case is_pid(Pid) of
                      true -> erlang:process_info(Pid, [registered_name, initial_call,
                                                        dictionary]);
                      false -> erlang:port_info(Pid, name)
                  end,
            stalls([{Pid, Info, Who} | Acc]);
        {stop, From} -> From ! {stalls, lists:reverse(Acc)}
    end.

%% Reads in a loop on C (a pool name, or a plain connection), each timed;
%% the invariant checked every time.
reader(Parent, C, Reads, Errors, Max) ->
    receive
        stop ->
            Parent ! {self(), done, Reads, Errors, Max}
    after 0 ->
            {E, M} = read_loop(C, 20, 0, Max),
            reader(Parent, C, Reads + 20, Errors + E, M)
    end.

read_loop(_C, 0, Errors, Max) -> {Errors, Max};
read_loop(C, N, Errors, Max) ->
    T0 = erlang:monotonic_time(microsecond),
    R = libsql:query(C, "SELECT sum(bal), count(*) FROM acct"),
    Us = erlang:monotonic_time(microsecond) - T0,
    case R of
        {ok, _, [{20000, 200}]} -> read_loop(C, N - 1, Errors, max(Max, Us));
        Other -> ct:log("reader saw ~p", [Other]), read_loop(C, N - 1, Errors + 1, max(Max, Us))
    end.

%% A pool on one replica file: the workers read what any of them (or the
%% background sync, run by one worker) applied.
-spec pool(config()) -> ok.
pool(Config) ->
    srv(Config, "CREATE TABLE t(x)"),
    {ok, _} = libsql:start_pool(replica_pool, opts(Config, #{size => 3, sync_interval => 50})),
    {ok, _} = libsql:execute(replica_pool, "INSERT INTO t VALUES (1)"),
    srv(Config, "INSERT INTO t VALUES (2)"),
    true = libsql_test_util:wait_until(
           fun() ->
                   lists:all(fun(_) ->
                                     {ok, _, [{N}]} = libsql:query(replica_pool,
                                                                   "SELECT count(*) FROM t"),
                                     N =:= 2
                             end, lists:seq(1, 6))
           end, 5000),
    {ok, #{revision := _}} = libsql:sync(replica_pool),
    %% A subscription on the pool hears every worker, a restarted one too.
    {ok, Ref} = libsql:subscribe(replica_pool, sync),
    [W1 | _] = libsql_test_util:pool_workers(replica_pool),
    exit(W1, kill),
    %% Its replacement is in (it pulls once as it opens, before it hears of
    %% the subscription: the row below must come after).
    true = libsql_test_util:wait_until(
             fun() ->
                     Ws = libsql_test_util:pool_workers(replica_pool),
                     length(Ws) =:= 3 andalso not lists:member(W1, Ws)
             end, 5000),
    srv(Config, "INSERT INTO t VALUES (3)"),
    receive {libsql_sync, Ref, #{pages := P}} when P > 0 -> ok
    after 5000 -> ct:fail(no_pool_sync_event)
    end,
    %% Each worker reads the new row (a read-your-writes-free pull each).
    [{ok, _} = libsql:sync(replica_pool) || _ <- lists:seq(1, 3)],
    ok = libsql:unsubscribe(Ref),
    flush_sync(Ref),
    srv(Config, "INSERT INTO t VALUES (4)"),
    timer:sleep(300),
    receive {libsql_sync, Ref, _} -> ct:fail(event_after_unsubscribe) after 0 -> ok end,
    ok = libsql:stop_pool(replica_pool),
    {ok, L} = libsql:open(#{path => path(Config) ++ ".plain"}),
    expect_error(not_supported, libsql:subscribe(L, sync)),
    ok = libsql:close(L),
    {ok, _} = libsql:start_pool(plain_pool, #{path => path(Config) ++ ".plain", size => 1}),
    expect_error(not_supported, libsql:subscribe(plain_pool, sync)),
    ok = libsql:stop_pool(plain_pool).

flush_sync(Ref) ->
    receive {libsql_sync, Ref, _} -> flush_sync(Ref) after 100 -> ok end.

%% kill -9 of the port at random moments of syncs that change many
%% pages: the file always opens, passes integrity_check and holds the old
%% or the new state, never a mix; the next sync completes.
-spec crash_during_apply(config()) -> ok.
crash_during_apply(Config) ->
    crash_during_apply(Config, #{}, 200).

%% The same on an encrypted replica: the journal's images are the pages as
%% the encryption shim wrote them, the rollback goes through it.
-spec crash_during_apply_encrypted(config()) -> ok.
crash_during_apply_encrypted(Config) ->
    crash_during_apply(Config, #{encryption_key => crypto:strong_rand_bytes(32)}, 100).

crash_during_apply(Config, Key, Runs) ->
    Iterations = case valgrind() of true -> 10; false -> Runs end,
    srv(Config, "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER, pad TEXT)"),
    srv(Config, "INSERT INTO t(n, pad) SELECT 0, printf('%.400c', 'q') FROM "
                "generate_series(1, 1500)"),
    %% How long such a sync takes here (under valgrind, ~50 times longer):
    %% the kills are spread over it.
    %% The longest of three: one quick sync (a warm cache, a quiet moment)
    %% would put every kill before the commit point.
    Db0 = open(Config, Key#{read_your_writes => false}),
    Timed = [begin
                 srv(Config, "UPDATE t SET n = n + 1"),
                 T0 = erlang:monotonic_time(millisecond),
                 {ok, #{pages := P0}} = libsql:sync(Db0),
                 {erlang:monotonic_time(millisecond) - T0, P0}
             end || _ <- [1, 2, 3]],
    {Took, P} = lists:max(Timed),
    ok = libsql:close(Db0),
    Stats = crash_loop(Config, Key, 1, Iterations, Took, #{old => 0, new => 0, journal => 0}),
    ct:log("a sync of ~b pages takes ~b ms; ~b kills: ~p", [P, Took, Iterations, Stats]),
    %% The kills landed on every side of the apply (too few kills under
    %% valgrind to ask that of them).
    valgrind() orelse ?assert(maps:get(old, Stats) > 0),
    valgrind() orelse ?assert(maps:get(new, Stats) > 0),
    valgrind() orelse ?assert(maps:get(journal, Stats) > 0),
    ok.

crash_loop(_Config, _Key, I, N, _Took, Stats) when I > N -> Stats;
crash_loop(Config, Key, I, N, Took, Stats) ->
    Db = open(Config, Key#{read_your_writes => false}),
    Old = checksum(Db),
    %% Every row changes: the apply writes every page of the table.
    srv(Config, "UPDATE t SET n = n + 1"),
    OsPid = os_pid(Db),
    Self = self(),
    spawn(fun() -> Self ! {synced, catch libsql:sync(Db)} end),
    timer:sleep(rand:uniform(max(1, Took * 6 div 5)) - 1),
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    receive {synced, _} -> ok after 10000 -> ct:fail(sync_never_returned) end,
    true = libsql_test_util:wait_gone(OsPid, 5000),
    Journal = filelib:is_file(path(Config) ++ "-journal"),
    %% Stock SQLite, read-write: rolls a hot journal back.
    {ok, Plain} = libsql:open(Key#{path => path(Config), create => false}),
    ok = integrity(Plain),
    Got = checksum(Plain),
    ok = libsql:close(Plain),
    New = Old + 1500,
    Side = if Got =:= Old -> old;
              Got =:= New -> new;
              true -> ct:fail({mixed_state, I, Old, New, Got})
           end,
    %% The replica opens and its next sync completes.
    Db2 = open(Config, Key),
    {ok, _} = libsql:sync(Db2),
    New = checksum(Db2),
    ok = libsql:close(Db2),
    crash_loop(Config, Key, I + 1, N, Took,
               Stats#{Side := maps:get(Side, Stats) + 1,
                      journal := maps:get(journal, Stats) + case Journal of
                                                                 true -> 1;
                                                                 false -> 0
                                                             end}).

%% An encrypted replica: bootstrapped, applied to and rolled back through
%% the encryption shim. The file holds no plaintext, opens with its key
%% only, and libSQL's own engine (npm libsql) reads it row for row.
-spec encrypted(config()) -> ok.
encrypted(Config) ->
    %% A key the peer can take (its keys are strings).
    Key = list_to_binary([io_lib:format("~2.16.0b", [B]) || <<B>> <= crypto:strong_rand_bytes(16)]),
    srv(Config, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"),
    srv(Config, "INSERT INTO t(v) SELECT printf('secret row %d', value) FROM generate_series(1, 300)"),
    Db = open(Config, #{encryption_key => Key}),
    assert_equal(Config, Db, ["t"]),
    ?assertMatch({ok, #{encrypted := true, mode := replica}}, libsql:info(Db)),
    no_plaintext(path(Config)),
    %% A forwarded write, pulled back into the file (an apply, with its
    %% journal), and a change made on the server.
    {ok, _} = libsql:execute(Db, "INSERT INTO t(v) VALUES ('secret row 301')"),
    {ok, _, [{301}]} = libsql:query(Db, "SELECT count(*) FROM t"),
    srv(Config, "UPDATE t SET v = v || ' changed' WHERE id % 2 = 0"),
    _ = sync_ok(Db),
    assert_equal(Config, Db, ["t"]),
    no_plaintext(path(Config)),
    ok = libsql:close(Db),
    expect_error(wrong_key, libsql:open(opts(Config, #{encryption_key => <<"not the key">>}))),
    expect_error(encrypted, libsql:open(opts(Config))),
    true = libsql_crypt_peer:available(),
    {ok, PeerRows} = libsql_crypt_peer:query(path(Config), Key, "SELECT id, v FROM t ORDER BY id"),
    Db2 = open(Config, #{encryption_key => Key}),
    {ok, _, Rows} = libsql:query(Db2, "SELECT id, v FROM t ORDER BY id"),
    ?assertEqual(301, length(Rows)),
    ?assertEqual(Rows, PeerRows),
    ok = libsql:close(Db2).

no_plaintext(Path) ->
    [begin
         {ok, Bin} = file:read_file(F),
         ?assertEqual({F, nomatch}, {F, binary:match(Bin, <<"secret row">>)})
     end || F <- [Path, Path ++ "-journal"], filelib:is_file(F)],
    ok.

checksum(Db) ->
    {ok, _, [{S, 1500}]} = libsql:query(Db, "SELECT sum(n), count(*) FROM t"),
    S.

%% Turso's own client (@tursodatabase/sync 0.7.2, test/js/sync_check.mjs)
%% pulls the same server into a file of its own: after writes of every kind
%% of value through the replica and server-side changes, it and the
%% replica agree on every row of every table (floats bit for bit), at a
%% bootstrap and again after increments. After a server VACUUM that client
%% cannot bootstrap at all ("invalid page size in database header: 0",
%% 0.7.2), so from there the replica is compared with the server itself.
-spec agrees_with_turso_client(config()) -> ok.
agrees_with_turso_client(Config) ->
    true = libsql_sync_check:available(),
    Db = open(Config),
    {ok, _} = libsql:execute(Db, "CREATE TABLE v(k INTEGER PRIMARY KEY, i INTEGER, r REAL, "
                                 "s TEXT, b BLOB, u)"),
    Rows = [[K, I, R, S, {blob, B}, U]
            || {K, I, R, S, B, U} <-
                   [{1, -9223372036854775808, -0.0, <<>>, <<>>, null},
                    {2, 9223372036854775807, 1.5, <<"é"/utf8, 0, "x">>, <<0, 255>>, 42},
                    {3, 0, 1.0e308, <<16#1F600/utf8>>, crypto:strong_rand_bytes(3000),
                     <<"text in u">>},
                    {4, -1, 5.0e-324, binary:copy(<<"long ">>, 2000), <<1>>, 2.25}]],
    {ok, _} = libsql:execute_many(Db, "INSERT INTO v VALUES (?, ?, ?, ?, ?, ?)", Rows),
    srv(Config, "CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT, n INTEGER)"),
    rand:seed(exsss, {4, 5, 6}),
    Js = filename:join(?config(priv_dir, Config), "turso_client.db"),
    lists:foreach(
      fun(Round) ->
              [srv(Config, change(Round, K)) || K <- [1, 2, 3]],
              sync_ok(Db),
              [agree(Db, url(Config), Js, T) || T <- server_table_names(Config)]
      end, lists:seq(1, 5)),
    srv(Config, "VACUUM"),
    srv(Config, "INSERT INTO a(v, n) VALUES ('after vacuum', 1)"),
    ?assertMatch(#{bootstrapped := true}, sync_ok(Db)),
    assert_equal(Config, Db, server_table_names(Config)),
    Fresh = filename:join(?config(priv_dir, Config), "turso_client_after_vacuum.db"),
    ct:log("Turso's client bootstrapping after VACUUM: ~tP",
           [libsql_sync_check:pull_dump(url(Config), Fresh, "a"), 12]),
    ok = libsql:close(Db).

agree(Db, Url, Js, T) ->
    {ok, Theirs} = libsql_sync_check:pull_dump(Url, Js, T),
    {ok, _, Ours} = libsql:query(Db, ["SELECT * FROM ", T, " ORDER BY rowid"]),
    ?assertEqual({T, length(Theirs)}, {T, length(Ours)}),
    ?assert(Theirs =:= [tuple_to_list(O) || O <- Ours]).

%% The server killed while it sends a pull: a bootstrap leaves no file
%% (nothing is linked in before the whole set arrived), an increment leaves
%% the file as it was; with the server back, both complete.
-spec server_dies_mid_pull(config()) -> ok.
server_dies_mid_pull(Config) ->
    srv(Config, "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER, pad TEXT)"),
    [srv(Config, "INSERT INTO t(n, pad) SELECT 0, printf('%.2000c', 'z') FROM "
                 "generate_series(1, 2000)") || _ <- lists:seq(1, 5)],
    Db = open(Config, #{read_your_writes => false}),
    {ok, _, [{0, 10000}]} = libsql:query(Db, "SELECT sum(n), count(*) FROM t"),
    srv(Config, "UPDATE t SET n = 1"),
    New = path(Config) ++ ".new",
    Self = self(),
    {Kill, Server2} = kill_during(Config, fun() ->
        spawn(fun() -> Self ! {sync, libsql:sync(Db)} end),
        spawn(fun() -> Self ! {open, libsql:open(#{path => New, url => url(Config)})} end)
    end),
    Sync = receive {sync, R1} -> R1 after 30000 -> ct:fail(sync_hung) end,
    Open = receive {open, R2} -> R2 after 30000 -> ct:fail(open_hung) end,
    ct:log("server killed after ~b ms: sync ~tP; open ~tP", [Kill, Sync, 8, Open, 8]),
    Config2 = lists:keystore(server, 1, Config, {server, Server2}),
    %% Whatever the kill interrupted: the replica holds a whole state.
    ok = integrity(Db),
    {ok, _, [{S, 10000}]} = libsql:query(Db, "SELECT sum(n), count(*) FROM t"),
    ?assert(S =:= 0 orelse S =:= 10000),
    case Open of
        {ok, D} -> ok = libsql:close(D);
        {error, _} -> ?assertNot(filelib:is_file(New))
    end,
    {ok, _} = libsql:sync(Db),
    assert_equal(Config2, Db, ["t"]),
    {ok, D2} = libsql:open(#{path => New, url => url(Config2)}),
    assert_equal(Config2, D2, ["t"]),
    [ok = libsql:close(C) || C <- [Db, D2]],
    libsql_tursodb:stop(Server2).

%% Start Fun's work, kill the server a moment later, start it again.
kill_during(Config, Fun) ->
    Fun(),
    Ms = 5 + rand:uniform(40),
    timer:sleep(Ms),
    {ok, Server2} = libsql_tursodb:restart(server(Config)),
    {Ms, Server2}.

%% kill -9 of the port while it bootstraps a new file: there is either no
%% file or a whole one, and the next open makes or opens it.
-spec crash_during_bootstrap(config()) -> ok.
crash_during_bootstrap(Config) ->
    srv(Config, "CREATE TABLE t(id INTEGER PRIMARY KEY, pad TEXT)"),
    [srv(Config, "INSERT INTO t(pad) SELECT printf('%.2000c', 'b') FROM generate_series(1, 1000)")
     || _ <- lists:seq(1, 5)],
    %% How long a whole bootstrap takes: the kills land anywhere in it.
    T0 = erlang:monotonic_time(millisecond),
    {ok, Probe} = libsql:open(#{path => path(Config), url => url(Config)}),
    Took = erlang:monotonic_time(millisecond) - T0,
    ok = libsql:close(Probe),
    Counts = kill_bootstraps(Config, 1, Took, #{}),
    ct:log("bootstrap of ~b ms; kills (the open's result, the file left): ~p", [Took, Counts]),
    %% Some kills landed before the file was linked in.
    ?assert(maps:get({killed, no_file}, Counts, 0) > 0),
    ok.

%% What a bootstrap killed between writing the state (the -replica
%% sidecar) and linking the file in leaves: the state alone. The next
%% open bootstraps again (crash_during_bootstrap's kills land there only
%% now and then; this makes the state itself).
-spec state_without_file(config()) -> ok.
state_without_file(Config) ->
    srv(Config, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"),
    srv(Config, "INSERT INTO t(v) VALUES ('a'), ('b')"),
    Path = path(Config),
    {ok, Db0} = libsql:open(#{path => Path, url => url(Config)}),
    ok = libsql:close(Db0),
    ok = file:delete(Path),
    ?assert(filelib:is_file(Path ++ "-replica")),
    srv(Config, "INSERT INTO t(v) VALUES ('c')"),
    {ok, Db} = libsql:open(#{path => Path, url => url(Config)}),
    ?assertMatch({ok, _, [{3}]}, libsql:query(Db, "SELECT count(*) FROM t")),
    ok = integrity(Db),
    ok = libsql:close(Db).

%% At least 20 kills, more (up to 60, the later ones earlier in the open)
%% until three landed before the file was linked in: how long an open
%% takes varies from run to run.
kill_bootstraps(Config, I, Took, Counts) ->
    Enough = I > 20 andalso maps:get({killed, no_file}, Counts, 0) >= 3,
    case Enough orelse I > 60 of
        true -> Counts;
        false ->
            Window = case I > 20 of true -> Took div 3; false -> Took end,
            R = bootstrap_killed(Config, I, Window),
            kill_bootstraps(Config, I + 1, Took, Counts#{R => maps:get(R, Counts, 0) + 1})
    end.

bootstrap_killed(Config, I, Window) ->
    Path = path(Config) ++ "." ++ integer_to_list(I),
    Self = self(),
    Pid = spawn(fun() -> Self ! {opened, libsql:open(#{path => Path, url => url(Config)})} end),
    timer:sleep(rand:uniform(max(1, Window))),
    %% The port of that open: the connection process is still in init
    %% (opening), linked to its port.
    case opening_port() of
        {ok, OsPid} -> _ = os:cmd("kill -9 " ++ integer_to_list(OsPid));
        none -> ok %% the open was done already
    end,
    Result = receive
                 {opened, {ok, D}} ->
                     %% The kill may have landed between the open's
                     %% return and this close (os:cmd takes a few ms).
                     case libsql:close(D) of
                         ok -> ok;
                         {error, #{code := port_exited}} -> ok;
                         Other -> ct:fail({I, close_after_open, Other})
                     end,
                     opened;
                 {opened, {error, _}} -> killed
             after 30000 -> ct:fail({I, open_hung, Pid})
             end,
    Exists = filelib:is_file(Path),
    %% Each step fails with its own reason: a flaky run must say which.
    Db = case libsql:open(#{path => Path, url => url(Config)}) of
             {ok, Db0} -> Db0;
             Err -> ct:fail({I, Result, Exists, reopen, Err})
         end,
    case libsql:query(Db, "SELECT count(*) FROM t") of
        {ok, _, [{5000}]} -> ok;
        Q -> ct:fail({I, Result, Exists, count, Q})
    end,
    ok = integrity(Db),
    ok = libsql:close(Db),
    {Result, case Exists of true -> file_whole; false -> no_file end}.

opening_port() ->
    %% (Not through libsql_conn_sup: it answers only once the open is done.)
    Conns = [C || C <- erlang:processes(),
                  {dictionary, D} <- [erlang:process_info(C, dictionary)],
                  proplists:get_value('$initial_call', D) =:= {libsql_conn, init, 1}],
    Ports = [P || C <- Conns, {links, Links} <- [erlang:process_info(C, links)],
                  P <- Links, is_port(P)],
    case [OsPid || P <- Ports, {os_pid, OsPid} <- [erlang:port_info(P, os_pid)]] of
        [OsPid | _] -> {ok, OsPid};
        [] -> none
    end.

%% On a server with Hrana 3 streams (our test server in front of tursodb,
%% passing pulls through) a replica's transaction is interactive and runs
%% on the server: reads inside see its own writes, a rollback leaves
%% nothing, and after the commit the file catches up (read_your_writes).
-spec transactions_on_hrana3(config()) -> ok.
transactions_on_hrana3(Config) ->
    srv(Config, "CREATE TABLE t(x)"),
    {ok, H3} = libsql_hrana_server:start(#{upstream => url(Config)}),
    try
        {ok, Db} = libsql:open(#{path => path(Config), url => maps:get(url, H3)}),
        {ok, 2} = libsql:transaction(
                    Db, fun(C) ->
                                {ok, _} = libsql:execute(C, "INSERT INTO t VALUES (1)"),
                                {ok, _} = libsql:execute(C, "INSERT INTO t VALUES (2)"),
                                %% A read inside: the server's, with the two rows.
                                {ok, _, [{N}]} = libsql:query(C, "SELECT count(*) FROM t"),
                                N
                        end),
        {ok, _, [{2}]} = libsql:query(Db, "SELECT count(*) FROM t"),
        {'EXIT', {undone, _}} =
            catch libsql:transaction(Db, fun(C) ->
                                                 {ok, _} = libsql:execute(C, "INSERT INTO t VALUES (3)"),
                                                 error(undone)
                                         end),
        {ok, _, [{2}]} = libsql:query(Db, "SELECT count(*) FROM t"),
        ?assertEqual([[2]], srv(Config, "SELECT count(*) FROM t")),
        ok = integrity(Db),
        ok = libsql:close(Db)
    after
        libsql_hrana_server:stop(H3)
    end.

%% Background sync with the server gone for a while: many failed attempts,
%% one warning (libsql_sync_failed), then one notice when it works again
%% (libsql_sync_recovered); the token appears in neither.
-spec outage_logged_once(config()) -> ok.
outage_logged_once(Config) ->
    srv(Config, "CREATE TABLE t(x)"),
    Db = open(Config, #{sync_interval => 20, connect_timeout => 500,
                        auth_token => <<"outage-secret-token">>}),
    ok = logger:add_handler(replica_log_capture, ?MODULE,
                            #{level => all, config => #{pid => self()}}),
    try
        ok = libsql_tursodb:stop(server(Config)),
        timer:sleep(1500),     %% the backoff doubles from 20 ms: several attempts
        {ok, Server2} = libsql_tursodb:restart(server(Config)),
        Config2 = lists:keystore(server, 1, Config, {server, Server2}),
        srv(Config2, "INSERT INTO t VALUES (1)"),
        true = libsql_test_util:wait_until(
                 fun() -> {ok, _, [{N}]} = libsql:query(Db, "SELECT count(*) FROM t"), N =:= 1 end,
                 70000),
        timer:sleep(200),
        Logged = drain_logs([]),
        What = [W || #{msg := {report, #{what := W}}} <- Logged],
        ct:log("logged: ~p", [What]),
        ?assertEqual(1, length([x || libsql_sync_failed <- What])),
        ?assertEqual(1, length([x || libsql_sync_recovered <- What])),
        ?assertEqual(nomatch, binary:match(term_to_binary(Logged), <<"outage-secret-token">>)),
        ok = libsql:close(Db),
        libsql_tursodb:stop(Server2)
    after
        logger:remove_handler(replica_log_capture)
    end.

drain_logs(Acc) ->
    receive {logged, E} -> drain_logs([E | Acc])
    after 0 -> lists:reverse(Acc)
    end.

%% Logger handler: every event to the test process.
-spec log(logger:log_event(), logger:handler_config()) -> ok.
log(Event, #{config := #{pid := Pid}}) ->
    Pid ! {logged, Event},
    ok.
