%% Test utility (not a suite): what `make valgrind-nif' runs on OTP's
%% valgrind emulator (test/valgrind_nif.sh), so that memcheck sees every
%% path of the NIF of transport nif (port/nif/): frames written and read on
%% the caller's lane and through the connection process, long and short
%% answers, an SQLite error, requests abandoned at their deadline, callers
%% at once, a close, a program killed under a connection (port_exited), a
%% connection whose owner is killed, and the application stopped with
%% connections open. run/0 halts 0 when every step gave what it must, 1
%% otherwise; memcheck's verdict is the script's.
-module(libsql_nif_memcheck).

-export([run/0]).

-define(SLOW, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
              "WHERE x < 100000000) SELECT count(*) FROM c").

-spec run() -> no_return().
run() ->
    T0 = erlang:monotonic_time(millisecond),
    Dir = string:trim(os:cmd("mktemp -d")),
    Result = try steps(filename:join(Dir, "m.db")) of
                 ok -> ok
             catch
                 C:E:St -> {C, E, St}
             after
                 os:cmd("rm -rf '" ++ Dir ++ "'")
             end,
    Ms = erlang:monotonic_time(millisecond) - T0,
    case Result of
        ok ->
            io:format("libsql_nif_memcheck: every step passed in ~b ms~n", [Ms]),
            halt(0);
        _ ->
            io:format("libsql_nif_memcheck: FAILED after ~b ms~n~p~n", [Ms, Result]),
            halt(1)
    end.

steps(Db) ->
    {ok, _} = application:ensure_all_started(libsql),
    {ok, C} = libsql:open(#{path => Db, transport => nif}),
    {ok, _, _} = libsql:query(C, "CREATE TABLE t(a)", []),
    %% values of every type, one a frame of 100 KB
    Values = lists:seq(1, 150) ++ [<<"text">>, 1.5, {blob, <<0, 1, 2, 255>>}, null,
                                   binary:copy(<<"x">>, 100000)],
    [{ok, #{changes := 1}} = libsql:execute(C, "INSERT INTO t(a) VALUES (?)", [V]) || V <- Values],
    N = length(Values),
    %% short answers, then the whole table (a long one) as tuples and maps
    [{ok, _, [{N}]} = libsql:query(C, "SELECT count(*) FROM t", []) || _ <- lists:seq(1, 100)],
    {ok, _, Rows} = libsql:query(C, "SELECT a FROM t", []),
    N = length(Rows),
    {ok, _, _} = libsql:query(C, "SELECT a FROM t", [], #{rows => maps}),
    {error, #{code := _}} = libsql:query(C, "SELECT * FROM no_such_table", []),
    %% deadlines that pass while the caller sleeps on the pipe: the request
    %% is abandoned and cancelled, and the connection goes on
    [begin
         {error, #{code := timeout}} = libsql:query(C, ?SLOW, [], #{timeout => T}),
         {ok, _, [{N}]} = libsql:query(C, "SELECT count(*) FROM t", [])
     end || T <- [1, 2, 5, 10]],
    %% callers at once: one takes the lane, the others go through the
    %% connection process
    Self = self(),
    Callers = [spawn_link(fun() ->
                                  [{ok, _, _} = libsql:query(C, "SELECT a FROM t WHERE rowid = ?", [I])
                                   || I <- lists:seq(1, 20)],
                                  Self ! {done, self()}
                          end) || _ <- lists:seq(1, 4)],
    [receive {done, P} -> ok end || P <- Callers],
    ok = libsql:close(C),
    %% the program killed under a connection
    {ok, C2} = libsql:open(#{path => Db, transport => nif}),
    {ok, _, [{N}]} = libsql:query(C2, "SELECT count(*) FROM t", []),
    {ok, OsPid} = libsql_conn:os_pid(C2),
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    %% port_exited if the call meets the program's end, closed if the
    %% connection had already stopped for it
    {error, #{code := Code}} = libsql:query(C2, "SELECT 1", []),
    true = lists:member(Code, [port_exited, closed]),
    Mon = erlang:monitor(process, C2),
    receive {'DOWN', Mon, process, C2, _} -> ok after 5000 -> error(connection_did_not_stop) end,
    {error, #{code := closed}} = libsql:query(C2, "SELECT 1", []),
    %% a connection whose owner is killed
    Owner = spawn(fun() ->
                          {ok, C3} = libsql:open(#{path => Db, transport => nif}),
                          {ok, _, _} = libsql:query(C3, "SELECT 1", []),
                          Self ! {opened, C3},
                          receive stop -> ok end
                  end),
    C3 = receive {opened, X} -> X after 30000 -> error(owner_did_not_open) end,
    Mon3 = erlang:monitor(process, C3),
    exit(Owner, kill),
    receive {'DOWN', Mon3, process, C3, _} -> ok after 5000 -> error(owned_connection_stayed) end,
    %% and one left open when the application stops
    {ok, C4} = libsql:open(#{path => Db, transport => nif}),
    {ok, _, [{N}]} = libsql:query(C4, "SELECT count(*) FROM t", []),
    ok = application:stop(libsql),
    ok.
