%% Remote mode: HTTP connection reuse (issue 18, item 5). The same case
%% bodies run against four servers, each behind a relay of this suite that
%% counts the TCP connections the client opens:
%%
%%   own_keepalive  test/libsql_hrana_server.erl (keep-alive)        reuse
%%   nginx          Debian's nginx, keep-alive, in front of tursodb  reuse
%%   own_close      test/libsql_hrana_server.erl, keep_alive false   close
%%   tursodb        tursodb 0.7.0 itself (Connection: close)         close
%%
%% A server that keeps connections alive gets one TCP connection per
%% libsql connection, whatever the number of requests; a server that
%% closes after each answer gets one per request, and every request still
%% succeeds. A server that closes an idle connection costs a reconnect,
%% not an error, and nothing runs twice. The nginx group is skipped when
%% nginx is not installed (apt-get install nginx-light).
-module(libsql_remote_keepalive_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2]).
-export([sequential_requests/1, pool_of_8/1, idle_close_reconnects/1]).

-define(N, 20).          % sequential requests
-define(IDLE_MS, 2000).  % a server's idle close, where the group sets one (longer than a case's calls take)

-type config() :: [{atom(), term()}].

-spec suite() -> [{timetrap, {minutes, pos_integer()}} | {ct_hooks, [module()]}].
suite() ->
    [{timetrap, {minutes, 2}}, {ct_hooks, [libsql_tursodb_cth]}].

-spec all() -> [{group, atom()}].
all() ->
    [{group, G} || G <- [own_keepalive, nginx, own_close, tursodb]].

-spec groups() -> [{atom(), [], [atom()]}].
groups() ->
    %% an idle close only exists where connections are kept alive
    Cases = [sequential_requests, pool_of_8],
    [{G, [], Cases ++ [idle_close_reconnects]} || G <- [own_keepalive, nginx]] ++
        [{G, [], Cases} || G <- [own_close, tursodb]].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    {ok, _} = application:ensure_all_started(libsql),
    Config.

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    ok.

%% Each group: the server (and how to stop it), whether it keeps
%% connections alive, and after how long it closes an idle one (none: it
%% never does within a test).
-spec init_per_group(atom(), config()) -> config() | {skip, term()}.
init_per_group(Group, Config) ->
    #{url := Turso, port := TursoPort} = ?config(tursodb, Config),
    case start_server(Group, Turso, TursoPort, ?config(priv_dir, Config)) of
        {ok, Port, Stop, Reuse, Idle} ->
            Relay = relay_start(Port),
            [{relay, Relay}, {stop, Stop}, {reuse, Reuse}, {idle_ms, Idle}, {group, Group} | Config];
        {skip, _} = Skip ->
            Skip
    end.

-spec end_per_group(atom(), config()) -> ok.
end_per_group(_Group, Config) ->
    relay_stop(?config(relay, Config)),
    (?config(stop, Config))().

start_server(own_keepalive, Turso, _, _) ->
    {ok, #{port := Port} = S} = libsql_hrana_server:start(#{upstream => Turso,
                                                            idle_close_ms => ?IDLE_MS}),
    {ok, Port, fun() -> libsql_hrana_server:stop(S) end, true, ?IDLE_MS};
start_server(own_close, Turso, _, _) ->
    {ok, #{port := Port} = S} = libsql_hrana_server:start(#{upstream => Turso, keep_alive => false}),
    {ok, Port, fun() -> libsql_hrana_server:stop(S) end, false, none};
start_server(tursodb, _, TursoPort, _) ->
    {ok, TursoPort, fun() -> ok end, false, none};
start_server(nginx, _, TursoPort, PrivDir) ->
    case nginx_exe() of
        false -> {skip, "nginx not installed (Debian: apt-get install nginx-light)"};
        Exe -> nginx_start(Exe, TursoPort, filename:join(PrivDir, "nginx"))
    end.

%%% ------------------------------------------------------------------------
%%% Cases
%%% ------------------------------------------------------------------------

%% N requests one after the other on one connection (open's probe, the
%% INSERTs, a SELECT, close): one TCP connection on a keep-alive server;
%% on one that closes, one per request and no error.
-spec sequential_requests(config()) -> ok.
sequential_requests(Config) ->
    T = table(Config, "seq"),
    {C, Relay} = open(Config),
    {ok, _} = libsql:execute(C, <<"CREATE TABLE ", T/binary, " (x INTEGER)">>),
    _ = [{ok, _} = libsql:execute(C, <<"INSERT INTO ", T/binary, " VALUES (?)">>, [I])
         || I <- lists:seq(1, ?N)],
    {ok, _, [{?N}]} = libsql:query(C, <<"SELECT count(*) FROM ", T/binary>>),
    ok = libsql:close(C),
    Accepts = relay_accepts(Relay),
    ct:pal("~p: ~b requests on one connection, ~b TCP connections", [group(Config), ?N + 2, Accepts]),
    case ?config(reuse, Config) of
        true -> ?assertEqual(1, Accepts);
        %% the probe, CREATE, N INSERTs, SELECT, and a v3 server's close
        false -> ?assert(Accepts >= ?N + 3 andalso Accepts =< ?N + 4)
    end.

%% A pool of 8 with 8 callers at once, 10 calls each: on a keep-alive
%% server no TCP connection beyond those the pool's connections opened at
%% start (each open probes the server), one per request otherwise.
-spec pool_of_8(config()) -> ok.
pool_of_8(Config) ->
    Relay = ?config(relay, Config),
    relay_reset(Relay),
    Pool = list_to_atom("ka_pool_" ++ atom_to_list(group(Config))),
    {ok, _} = libsql:start_pool(Pool, #{url => relay_url(Relay), size => 8}),
    Opened = relay_settled(Relay, -1),
    relay_reset(Relay),
    Calls = 10,
    Self = self(),
    Callers = [spawn_link(fun() ->
                                  _ = [{ok, _, [{I}]} = libsql:query(Pool, <<"SELECT ?">>, [I])
                                       || I <- lists:seq(1, Calls)],
                                  Self ! {done, self()}
                          end) || _ <- lists:seq(1, 8)],
    _ = [receive {done, P} -> ok end || P <- Callers],
    %% Before the stop: closing sends a v3 server each stream's close.
    Accepts = relay_accepts(Relay),
    ok = libsql:stop_pool(Pool),
    ct:pal("~p: pool of 8, ~b TCP connections at start, then ~b calls on ~b new ones",
           [group(Config), Opened, 8 * Calls, Accepts]),
    case ?config(reuse, Config) of
        true -> ?assertEqual(0, Accepts);
        false -> ?assertEqual(8 * Calls, Accepts)
    end.

%% The server closes an idle keep-alive connection: the next request goes
%% out on a new connection, succeeds, and runs once.
-spec idle_close_reconnects(config()) -> ok | {skip, term()}.
idle_close_reconnects(Config) ->
    case ?config(idle_ms, Config) of
        none -> {skip, "this server does not keep connections alive"};
        IdleMs -> idle_close_reconnects(Config, IdleMs)
    end.

idle_close_reconnects(Config, IdleMs) ->
    T = table(Config, "idle"),
    {C, Relay} = open(Config),
    {ok, _} = libsql:execute(C, <<"CREATE TABLE ", T/binary, " (x INTEGER)">>),
    {ok, _} = libsql:execute(C, <<"INSERT INTO ", T/binary, " VALUES (1)">>),
    ?assertEqual(1, relay_accepts(Relay)),
    timer:sleep(2 * IdleMs + 500),
    ?assertEqual(0, relay_open(Relay)),   % the server did close it
    {ok, _} = libsql:execute(C, <<"INSERT INTO ", T/binary, " VALUES (2)">>),
    {ok, _, [{2}]} = libsql:query(C, <<"SELECT count(*) FROM ", T/binary>>),
    ?assertEqual(2, relay_accepts(Relay)),
    ok = libsql:close(C).

%%% ------------------------------------------------------------------------
%%% Helpers
%%% ------------------------------------------------------------------------

group(Config) -> ?config(group, Config).

table(Config, Name) ->
    iolist_to_binary(["ka_", atom_to_list(group(Config)), "_", Name]).

open(Config) ->
    Relay = ?config(relay, Config),
    relay_reset(Relay),
    {ok, C} = libsql:open(#{url => relay_url(Relay)}),
    {C, Relay}.

%% nginx: keep-alive towards the client (no limit on requests per
%% connection, an idle connection closed after ?IDLE_MS), a new upstream
%% connection to tursodb per request (tursodb closes them).
nginx_exe() ->
    case os:find_executable("nginx") of
        false -> case filelib:is_regular("/usr/sbin/nginx") of true -> "/usr/sbin/nginx"; false -> false end;
        Exe -> Exe
    end.

nginx_start(Exe, TursoPort, Dir) ->
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Port = free_port(),
    Conf = filename:join(Dir, "nginx.conf"),
    ok = file:write_file(Conf, nginx_conf(Dir, Port, TursoPort)),
    %% The shell kills nginx when the Erlang port (its stdin) closes: when
    %% its owner, a process of its own (init_per_group's exits), stops.
    Owner = spawn(fun() ->
                          P = open_port({spawn_executable, "/bin/sh"},
                                        [{args, ["-c", "\"$0\" -p \"$1\" -c \"$2\" & p=$!; "
                                                 "read _; kill $p; wait $p", Exe, Dir, Conf]},
                                         exit_status, stderr_to_stdout]),
                          receive {stop, From} -> port_close(P), From ! stopped end
                  end),
    ok = wait_listening(Port, 100),
    Stop = fun() -> Owner ! {stop, self()}, receive stopped -> ok after 5000 -> ok end end,
    {ok, Port, Stop, true, ?IDLE_MS}.

nginx_conf(Dir, Port, TursoPort) ->
    io_lib:format(
      "daemon off;\nworker_processes 1;\npid ~s/nginx.pid;\nerror_log ~s/error.log;\n"
      "events { worker_connections 256; }\n"
      "http {\n  access_log off;\n  client_body_temp_path ~s/body;\n  proxy_temp_path ~s/proxy;\n"
      "  server {\n    listen 127.0.0.1:~b;\n    keepalive_requests 1000000;\n"
      "    keepalive_timeout ~bms;\n"
      "    location / { proxy_pass http://127.0.0.1:~b; proxy_http_version 1.1;"
      " proxy_set_header Connection \"\"; proxy_buffering off; }\n  }\n}\n",
      [Dir, Dir, Dir, Dir, Port, ?IDLE_MS, TursoPort]).

free_port() ->
    {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}]),
    {ok, Port} = inet:port(L),
    ok = gen_tcp:close(L),
    Port.

wait_listening(_Port, 0) ->
    {error, not_listening};
wait_listening(Port, N) ->
    case gen_tcp:connect({127, 0, 0, 1}, Port, [], 100) of
        {ok, S} -> gen_tcp:close(S);
        {error, _} -> timer:sleep(50), wait_listening(Port, N - 1)
    end.

%% The relay: a TCP pass-through on loopback counting the connections
%% accepted and those still open. Each side's close closes the other.
relay_start(Target) ->
    {ok, L} = gen_tcp:listen(0, [binary, {ip, {127, 0, 0, 1}}, {active, false},
                                 {reuseaddr, true}, {nodelay, true}, {backlog, 128}]),
    {ok, Port} = inet:port(L),
    Counts = counters:new(2, []),
    Acceptor = spawn(fun() -> relay_accept(L, Target, Counts) end),
    ok = gen_tcp:controlling_process(L, Acceptor),
    #{listen => L, port => Port, counts => Counts, acceptor => Acceptor}.

relay_stop(#{listen := L, acceptor := A}) ->
    exit(A, kill),
    _ = gen_tcp:close(L),
    ok.

relay_url(#{port := Port}) -> iolist_to_binary(["http://127.0.0.1:", integer_to_list(Port)]).
relay_accepts(#{counts := Counts}) -> counters:get(Counts, 1).
relay_open(#{counts := Counts}) -> counters:get(Counts, 2).
relay_reset(#{counts := Counts}) -> counters:put(Counts, 1, 0).

%% The count once it has not moved for 300 ms (a pool's last opens may
%% still be under way when start_pool returns).
relay_settled(Relay, Last) ->
    case relay_accepts(Relay) of
        Last -> Last;
        Now -> timer:sleep(300), relay_settled(Relay, Now)
    end.

relay_accept(L, Target, Counts) ->
    case gen_tcp:accept(L) of
        {ok, Client} ->
            counters:add(Counts, 1, 1),
            counters:add(Counts, 2, 1),
            Pid = spawn(fun() -> receive go -> relay_pipe(Client, Target, Counts) end end),
            ok = gen_tcp:controlling_process(Client, Pid),
            Pid ! go,
            relay_accept(L, Target, Counts);
        {error, _} ->
            ok
    end.

relay_pipe(Client, Target, Counts) ->
    case gen_tcp:connect({127, 0, 0, 1}, Target, [binary, {active, true}, {nodelay, true}]) of
        {ok, Server} ->
            ok = inet:setopts(Client, [{active, true}]),
            relay_loop(Client, Server),
            _ = gen_tcp:close(Server);
        {error, _} ->
            ok
    end,
    _ = gen_tcp:close(Client),
    counters:sub(Counts, 2, 1).

relay_loop(Client, Server) ->
    receive
        {tcp, Client, Data} -> _ = gen_tcp:send(Server, Data), relay_loop(Client, Server);
        {tcp, Server, Data} -> _ = gen_tcp:send(Client, Data), relay_loop(Client, Server);
        {tcp_closed, _} -> ok;
        {tcp_error, _, _} -> ok
    end.
