%% Crash isolation with real OS processes: the port program killed with
%% SIGKILL mid-query, its owner dying, the whole VM dying. The VM and other
%% connections must be unaffected and no libsql_port process may remain.
-module(libsql_crash_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(libsql_test_util, [db_path/2, kill9/1, os_alive/1, wait_gone/2]).

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([kill_port_mid_query/1, kill_port_idle/1, owner_exit_stops_port/1,
         close_stops_port/1, vm_killed_leaves_no_port/1, many_callers_all_answered/1,
         conn_process_killed_mid_query/1, no_message_after_caller_gave_up/1,
         lane_caller_late_after_kill/1]).

-define(SLOW_SQL, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                  "SELECT count(*) FROM c WHERE x < 2000000000").

all() ->
    [kill_port_mid_query, kill_port_idle, owner_exit_stops_port, close_stops_port,
     vm_killed_leaves_no_port, many_callers_all_answered, conn_process_killed_mid_query,
     no_message_after_caller_gave_up, lane_caller_late_after_kill].

init_per_suite(Config) ->
    libsql_test_util:init_per_suite(?MODULE, Config).

end_per_suite(_Config) ->
    ok.

kill_port_mid_query(Config) ->
    {ok, Db} = libsql:open(#{path => db_path(Config, "kill.db")}),
    {ok, Other} = libsql:open(#{path => db_path(Config, "other.db")}),
    {ok, OsPid} = libsql_conn:os_pid(Db),
    Mon = erlang:monitor(process, Db),
    Self = self(),
    Caller = spawn_link(fun() -> Self ! {result, libsql:query(Db, ?SLOW_SQL)} end),
    timer:sleep(300),                         % the query is running now
    ?assert(os_alive(OsPid)),
    kill9(OsPid),
    Result = receive {result, R} -> R after 5000 -> ct:fail(no_reply) end,
    ?assertMatch({error, #{code := port_exited, exit_status := 137}}, Result),
    ?assert(is_binary(libsql:format_error(Result))),
    receive
        {'DOWN', Mon, process, Db, Reason} ->
            ?assertEqual({port_exited, {port_killed, 9}}, Reason)
    after 5000 -> ct:fail(conn_still_alive)
    end,
    ?assertNot(is_process_alive(Caller)),
    ?assert(wait_gone(OsPid, 2000)),
    %% The other connection and the VM are unaffected.
    ?assertEqual({ok, [<<"1">>], [{1}]}, libsql:query(Other, "SELECT 1")),
    ?assertMatch({error, #{code := closed}}, libsql:query(Db, "SELECT 1")),
    ok = libsql:close(Other).

kill_port_idle(Config) ->
    {ok, Db} = libsql:open(#{path => db_path(Config, "idle.db")}),
    {ok, OsPid} = libsql_conn:os_pid(Db),
    Mon = erlang:monitor(process, Db),
    kill9(OsPid),
    receive {'DOWN', Mon, process, Db, {port_exited, {port_killed, 9}}} -> ok
    after 5000 -> ct:fail(conn_still_alive)
    end,
    ?assert(wait_gone(OsPid, 2000)).

owner_exit_stops_port(Config) ->
    Self = self(),
    Path = db_path(Config, "owner.db"),
    Owner = spawn(fun() ->
                      {ok, Db} = libsql:open(#{path => Path}),
                      {ok, OsPid} = libsql_conn:os_pid(Db),
                      Self ! {opened, Db, OsPid},
                      %% Die in the middle of a slow query.
                      _ = libsql:query(Db, ?SLOW_SQL)
                  end),
    {Db, OsPid} = receive {opened, D, P} -> {D, P} after 5000 -> ct:fail(no_open) end,
    Mon = erlang:monitor(process, Db),
    timer:sleep(200),
    exit(Owner, kill),
    receive {'DOWN', Mon, process, Db, _} -> ok after 5000 -> ct:fail(conn_survived_owner) end,
    ?assert(wait_gone(OsPid, 3000)).

close_stops_port(Config) ->
    {ok, Db} = libsql:open(#{path => db_path(Config, "close.db")}),
    {ok, OsPid} = libsql_conn:os_pid(Db),
    ok = libsql:close(Db),
    ?assert(wait_gone(OsPid, 2000)),
    ?assertNot(is_process_alive(Db)).

%% A whole VM killed with SIGKILL: its port programs see stdin close and exit.
vm_killed_leaves_no_port(Config) ->
    Ebin = filename:dirname(code:which(libsql)),
    Path = db_path(Config, "vm.db"),
    Erl = os:find_executable("erl"),
    Eval = "{ok, Db} = libsql:open(#{path => \"" ++ Path ++ "\"}), "
           "{ok, P} = libsql_conn:os_pid(Db), "
           "io:format(\"PORTPID ~b~n\", [P]), "
           "spawn(fun() -> libsql:query(Db, \"" ?SLOW_SQL "\") end), "
           "timer:sleep(infinity).",
    VmPort = open_port({spawn_executable, Erl},
                       [{args, ["-noshell", "-pa", Ebin, "-eval", Eval]},
                        exit_status, stderr_to_stdout, {line, 1024}]),
    {os_pid, VmPid} = erlang:port_info(VmPort, os_pid),
    PortPid = wait_line(VmPort, 10000),
    ?assert(os_alive(PortPid)),
    timer:sleep(300),
    kill9(VmPid),
    receive {VmPort, {exit_status, _}} -> ok after 5000 -> ct:fail(vm_not_dead) end,
    ?assert(wait_gone(PortPid, 3000)).

%% All callers waiting on a connection get an answer when its port dies.
many_callers_all_answered(Config) ->
    {ok, Db} = libsql:open(#{path => db_path(Config, "many.db")}),
    {ok, OsPid} = libsql_conn:os_pid(Db),
    Self = self(),
    Pids = [spawn(fun() -> Self ! {done, self(), libsql:query(Db, ?SLOW_SQL)} end)
            || _ <- lists:seq(1, 10)],
    timer:sleep(300),
    kill9(OsPid),
    [receive {done, P, R} ->
         ?assertMatch({error, #{code := port_exited}}, R)
     after 5000 -> ct:fail({no_answer, P})
     end || P <- Pids],
    ?assert(wait_gone(OsPid, 2000)).

%% The connection process itself killed while a caller waits: nothing
%% answers for it, so the caller learns it from the monitor it sets up
%% once a request has taken 50 ms (libsql_callback): `closed', promptly.
conn_process_killed_mid_query(Config) ->
    {ok, Db} = libsql:open(#{path => db_path(Config, "killed_conn.db")}),
    {ok, OsPid} = libsql_conn:os_pid(Db),
    Self = self(),
    _ = spawn(fun() -> Self ! {result, libsql:query(Db, ?SLOW_SQL)} end),
    timer:sleep(300),                         % the query is running, watched
    T0 = erlang:monotonic_time(millisecond),
    exit(Db, kill),
    Result = receive {result, R} -> R after 5000 -> ct:fail(no_reply) end,
    ?assert(erlang:monotonic_time(millisecond) - T0 < 1000),
    ?assertMatch({error, #{code := closed}}, Result),
    %% its program sees its stdin close and exits
    ?assert(wait_gone(OsPid, 3000)).

%% A caller stops waiting at its timeout plus a margin even when the
%% connection process does not answer at all (here: suspended). Nothing
%% the connection sends for that request once it runs again may reach the
%% caller: a stray message would land in, say, a gen_server's handle_info.
no_message_after_caller_gave_up(Config) ->
    {ok, Db} = libsql:open(#{path => db_path(Config, "gave_up.db")}),
    Self = self(),
    Caller = spawn(fun() ->
                           Self ! {gave_up, libsql:query(Db, ?SLOW_SQL, [], #{timeout => 200})},
                           receive stop -> ok end
                   end),
    timer:sleep(50),                          % the request is in the port
    ok = sys:suspend(Db),
    Result = receive {gave_up, R} -> R after 10000 -> ct:fail(caller_still_waits) end,
    ?assertMatch({error, #{code := timeout}}, Result),
    ok = sys:resume(Db),
    %% The connection catches up: its deadline (the caller's error), the
    %% cancel, the port's answer to the query. A query after them returns
    %% once all are handled (the port answers in order).
    ?assertMatch({ok, _, [{1}]}, libsql:query(Db, "SELECT 1")),
    ?assertEqual({messages, []}, process_info(Caller, messages)),
    Caller ! stop,
    ok = libsql:close(Db).

%% Over transport nif a caller waits on the program's pipe itself. Held
%% back (suspended) while the program is killed and the connection stops,
%% it finds both the pipe's end and the connection's 'DOWN' when it runs
%% again, and the connection is gone when it asks it: whichever it sees
%% first, the answer is port_exited, as the connection's own callers get,
%% never closed. Transport nif on both runs: the port transport has no
%% lane.
lane_caller_late_after_kill(Config) ->
    {ok, Db} = libsql:open(#{path => db_path(Config, "late.db"), transport => nif}),
    {ok, OsPid} = libsql_conn:os_pid(Db),
    Mon = erlang:monitor(process, Db),
    Self = self(),
    Caller = spawn_link(fun() -> Self ! {result, libsql:query(Db, ?SLOW_SQL)} end),
    %% asleep on the pipe, its request in the program
    true = libsql_test_util:wait_until(
           fun() -> process_info(Caller, current_function) =:=
                        {current_function, {libsql_conn, lane_wait, 6}} end, 5000),
    true = erlang:suspend_process(Caller),
    kill9(OsPid),
    receive
        {'DOWN', Mon, process, Db, Reason} ->
            ?assertEqual({port_exited, {port_killed, 9}}, Reason)
    after 5000 -> ct:fail(conn_still_alive)
    end,
    %% the pipe's end and the connection's 'DOWN' wait in its mailbox
    true = libsql_test_util:wait_until(
           fun() -> element(2, process_info(Caller, message_queue_len)) >= 2 end, 5000),
    true = erlang:resume_process(Caller),
    Result = receive {result, R} -> R after 5000 -> ct:fail(no_reply) end,
    ?assertMatch({error, #{code := port_exited}}, Result),
    ?assert(wait_gone(OsPid, 2000)).

%% ---- helpers ---------------------------------------------------------------

wait_line(Port, Ms) ->
    receive
        {Port, {data, {eol, "PORTPID " ++ N}}} -> list_to_integer(N);
        {Port, {data, _Other}} -> wait_line(Port, Ms)
    after Ms -> ct:fail(no_port_pid_line)
    end.
