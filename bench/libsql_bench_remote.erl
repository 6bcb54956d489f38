%% @doc The remote part of the libsql benchmarks (bench/README.md, "Remote"):
%% libsql against a local tursodb 0.7.0 (`--sync-server', Hrana over HTTP,
%% started with test/libsql_tursodb.erl), side by side in the same run with
%% `wrk' sending the identical JSON request: the server's own limit.
%%
%% The identical request: our client runs once against a capture proxy on
%% loopback (answers `GET /v3' with 404, as tursodb does, records each
%% `POST /v2/pipeline' body and its headers and forwards it to tursodb), and
%% the recorded body and headers go into a wrk Lua script in build/bench.
%%
%%   R1  point select, one connection, sequential calls   (wrk -t1 -c1)
%%   R2  point select, pool of 8, 8 concurrent callers     (wrk -t2 -c8)
%%   R3  1000-row transactional batch insert (execute_many) (wrk -t1 -c1)
%%   R2k R2 through nginx, keep-alive, in front of tursodb (wrk -t2 -c8)
%%   R2c R2 against nginx answering tursodb's answer itself (wrk -t2 -c8)
%%
%% tursodb closes every connection after its answer; R2k and R2c show the
%% pool on servers that keep connections alive (R2c: the client's own
%% limit, no database behind). Skipped without nginx (Debian nginx-light).
%%
%% Every round runs for a fixed time (the same as wrk's -d), contenders
%% interleaved round by round as in libsql_bench. Called from
%% libsql_bench:run/0; returns the text to print. LIBSQL_BENCH_REMOTE=0
%% skips it.
-module(libsql_bench_remote).

-export([run/1]).

-define(CREATE, <<"CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, v REAL)">>).
-define(INSERT, <<"INSERT INTO t (id, name, v) VALUES (?, ?, ?)">>).
-define(SELECT, <<"SELECT id, name, v FROM t WHERE id = ?">>).
-define(CREATE3, <<"CREATE TABLE r3 (id INTEGER PRIMARY KEY, name TEXT, v REAL)">>).
%% No id: the same body can run again and again (wrk repeats it).
-define(INSERT3, <<"INSERT INTO r3 (name, v) VALUES (?, ?)">>).
-define(MARK, 987654321).    % the id of the captured select, replaced by wrk
-define(ROWS, 10000).        % rows of t
-define(BATCH, 1000).        % rows of one R3 batch
-define(POOL, libsql_bench_remote_pool).
-define(CALLERS, 8).
-define(LONG, 120000).

-spec run(map()) -> iolist().
run(Cfg) ->
    case {os:getenv("LIBSQL_BENCH_REMOTE"), os:find_executable("wrk")} of
        {"0", _} -> skipped("LIBSQL_BENCH_REMOTE=0");
        {_, false} -> skipped("wrk not found (Debian: apt-get install wrk)");
        {_, Wrk} -> libsql_bench:with_tursodb(Cfg, "remote",
                                              fun(Url) -> measure(Cfg#{wrk => Wrk, url => Url}) end)
    end.

skipped(Why) ->
    libsql_bench:progress("remote: skipped: ~ts", [Why]),
    ["\nremote (tursodb): skipped: ", Why, "\n"].

config(#{quick := true}) -> #{rounds => 2, secs => 2};
config(#{quick := false}) -> #{rounds => 3, secs => 5}.

measure(#{url := Url, dir := Dir} = Cfg0) ->
    Cfg = maps:merge(Cfg0, config(Cfg0)),
    setup_data(Url),
    {Select, Batch} = capture(Url),
    Target = binary_to_list(Url) ++ "/v2/pipeline",
    Canned = check_request(Url, Select, ?MARK),
    _ = check_request(Url, Batch, none),
    SelScript = filename:join(Dir, "remote_select.lua"),
    BatchScript = filename:join(Dir, "remote_batch.lua"),
    ok = file:write_file(SelScript, select_script(Select)),
    ok = file:write_file(BatchScript, batch_script(Batch)),
    Wrk = fun(Threads, Conns, Script) ->
                  wrk_spec(Cfg, Threads, Conns, Script, Target)
          end,
    Rounds = maps:get(rounds, Cfg),
    R1 = libsql_bench:run_workload(
           "R1 remote point select, 1 connection", Rounds,
           [tag(r1, libsql, r1_spec(Cfg)), tag(r1, wrk, Wrk(1, 1, SelScript))]),
    R2 = libsql_bench:run_workload(
           "R2 remote point select, pool of 8", Rounds,
           [tag(r2, libsql, r2_spec(Cfg)), tag(r2, wrk, Wrk(2, ?CALLERS, SelScript))]),
    R2ka = keep_alive_rows(Cfg, Canned, SelScript),
    R3 = libsql_bench:run_workload(
           "R3 remote 1000-row batch insert", Rounds,
           [tag(r3, libsql, r3_spec(Cfg)), tag(r3, wrk, Wrk(1, 1, BatchScript))]),
    Res = maps:merge(maps:merge(maps:merge(R1, R2), R3), R2ka),
    report(Cfg, Res, byte_size(maps:get(body, Select)), byte_size(maps:get(body, Batch))).

tag(W, C, Spec) -> Spec#{key => {W, C}}.

%% ---- data and the captured requests ------------------------------------------------

setup_data(Url) ->
    {ok, C} = libsql:open(#{url => Url}),
    {ok, _} = libsql:execute(C, ?CREATE),
    _ = [{ok, _} = libsql:execute_many(C, ?INSERT, rows(First, First + 999), #{timeout => ?LONG})
         || First <- lists:seq(1, ?ROWS, 1000)],
    {ok, _} = libsql:execute(C, ?CREATE3),
    {ok, _, [{?ROWS}]} = libsql:query(C, <<"SELECT count(*) FROM t">>),
    ok = libsql:close(C).

rows(From, To) ->
    [[Id, <<"name-", (integer_to_binary(Id))/binary>>, Id / 7] || Id <- lists:seq(From, To)].

batch_rows() ->
    [[<<"name-", (integer_to_binary(I))/binary>>, I / 7] || I <- lists:seq(1, ?BATCH)].

%% Our client, once, through the capture proxy: the POST of a point select
%% (id ?MARK: no row) and of one R3 batch, as #{body, headers}.
capture(Url) ->
    {ok, L} = gen_tcp:listen(0, [binary, {ip, {127, 0, 0, 1}}, {active, false},
                                 {packet, http_bin}, {reuseaddr, true}]),
    {ok, Port} = inet:port(L),
    Parent = self(),
    Proxy = spawn_link(fun() -> proxy_accept(L, Url, Parent) end),
    ProxyUrl = iolist_to_binary(["http://127.0.0.1:", integer_to_list(Port)]),
    {ok, C} = libsql:open(#{url => ProxyUrl}),
    _ = flush_captured(),
    {ok, _, []} = libsql:query(C, ?SELECT, [?MARK]),
    [Select] = flush_captured(),
    {ok, #{changes := ?BATCH}} = libsql:execute_many(C, ?INSERT3, batch_rows(), #{timeout => ?LONG}),
    [Batch] = flush_captured(),
    ok = libsql:close(C),
    unlink(Proxy),
    ok = gen_tcp:close(L),
    exit(Proxy, kill),
    libsql_bench:progress("remote: captured the requests: select ~b bytes, batch ~b bytes",
                          [byte_size(maps:get(body, Select)), byte_size(maps:get(body, Batch))]),
    {Select, Batch}.

flush_captured() ->
    receive {captured, R} -> [R | flush_captured()]
    after 0 -> []
    end.

%% One connection at a time, one request per connection (Connection: close,
%% as tursodb does).
proxy_accept(L, Url, Parent) ->
    case gen_tcp:accept(L) of
        {ok, S} ->
            _ = (catch proxy_conn(S, Url, Parent)),
            _ = gen_tcp:close(S),
            proxy_accept(L, Url, Parent);
        {error, _} ->
            ok
    end.

proxy_conn(S, Url, Parent) ->
    {ok, {http_request, Method, {abs_path, Path}, _}} = gen_tcp:recv(S, 0, 10000),
    Headers = proxy_headers(S, []),
    Len = binary_to_integer(proplists:get_value(<<"content-length">>, Headers, <<"0">>)),
    ok = inet:setopts(S, [{packet, raw}]),
    Body = case Len of 0 -> <<>>; _ -> {ok, B} = gen_tcp:recv(S, Len, 10000), B end,
    {Status, Resp} =
        case {Method, Path} of
            {'POST', <<"/v2/pipeline">>} ->
                Parent ! {captured, #{headers => Headers, body => Body}},
                {ok, St, R} = libsql_tursodb:pipeline(Url, Body),
                {St, R};
            _ ->
                {404, <<>>}
        end,
    ok = gen_tcp:send(S, ["HTTP/1.1 ", integer_to_list(Status), " X\r\n",
                          "Content-Type: application/json\r\nConnection: close\r\n",
                          "Content-Length: ", integer_to_list(byte_size(Resp)), "\r\n\r\n", Resp]).

proxy_headers(S, Acc) ->
    case gen_tcp:recv(S, 0, 10000) of
        {ok, {http_header, _, Name, _, Value}} ->
            N = string:lowercase(if is_atom(Name) -> atom_to_binary(Name); true -> Name end),
            proxy_headers(S, [{N, Value} | Acc]);
        {ok, http_eoh} ->
            lists:reverse(Acc)
    end.

%% The request as wrk will send it must succeed on the server: HTTP 200 and
%% no error result. For the select, with a real id in place of ?MARK.
check_request(Url, #{body := Body}, Mark) ->
    Real = case Mark of
               none -> Body;
               _ -> iolist_to_binary(lists:join(<<"1">>, split_mark(Body)))
           end,
    case libsql_tursodb:pipeline(Url, Real) of
        {ok, 200, Resp} ->
            case binary:match(Resp, <<"\"type\":\"error\"">>) of
                nomatch -> Resp;
                _ -> error({captured_request_fails, Resp})
            end;
        Other ->
            error({captured_request_fails, Other})
    end.

split_mark(Body) ->
    case binary:split(Body, integer_to_binary(?MARK), [global]) of
        [_, _] = Parts -> Parts;
        Parts -> error({mark_not_once_in_body, length(Parts) - 1, Body})
    end.

%% ---- wrk ---------------------------------------------------------------------------

%% The select: 1000 requests made up front (random ids, as our client's),
%% request() hands them out in turn, so wrk runs no Lua per request beyond that.
select_script(#{body := Body, headers := Headers}) ->
    [Pre, Post] = split_mark(Body),
    [script_head(Headers),
     "local pre = ", lua_string(Pre), "\n",
     "local post = ", lua_string(Post), "\n",
     "local reqs, n = {}, 0\n",
     "init = function(args)\n",
     "  math.randomseed(os.time())\n",
     "  for i = 1, 1000 do\n",
     "    reqs[i] = wrk.format(nil, nil, nil, pre .. math.random(1, ", integer_to_list(?ROWS),
     ") .. post)\n",
     "  end\n",
     "end\n",
     "request = function()\n  n = n % 1000 + 1\n  return reqs[n]\nend\n"].

batch_script(#{body := Body, headers := Headers}) ->
    [script_head(Headers), "wrk.body = ", lua_string(Body), "\n"].

%% Our client's headers, but Host and Content-Length (wrk's own) and curl's
%% empty `Expect:' (which sends nothing).
script_head(Headers) ->
    ["-- written by bench/libsql_bench_remote.erl: the request libsql sends\n",
     "wrk.method = \"POST\"\n",
     [["wrk.headers[", lua_string(header_name(N)), "] = ", lua_string(V), "\n"]
      || {N, V} <- Headers, not lists:member(N, [<<"host">>, <<"content-length">>, <<"expect">>])]].

header_name(<<"content-type">>) -> <<"Content-Type">>;
header_name(<<"accept">>) -> <<"Accept">>;
header_name(<<"authorization">>) -> <<"Authorization">>;
header_name(N) -> N.

lua_string(Bin) ->
    [$", [lua_char(B) || <<B>> <= Bin], $"].

lua_char($") -> "\\\"";
lua_char($\\) -> "\\\\";
lua_char(B) when B >= 32, B < 127 -> B;
lua_char(B) -> io_lib:format("\\~3..0b", [B]).

wrk_spec(#{wrk := Exe, secs := Secs}, Threads, Conns, Script, Target) ->
    Args = ["-t" ++ integer_to_list(Threads), "-c" ++ integer_to_list(Conns),
            "-d" ++ integer_to_list(Secs) ++ "s", "--latency", "-s", Script, Target],
    #{init => fun() -> none end,
      round => fun(_) -> wrk_round(Exe, Args, Conns) end,
      aggregate => fun aggregate/1}.

wrk_round(Exe, Args, Conns) ->
    Port = open_port({spawn_executable, Exe},
                     [{args, Args}, exit_status, binary, use_stdio, stream, stderr_to_stdout]),
    Out = collect(Port, []),
    Lines = [string:lexemes(L, " \t") || L <- string:lexemes(binary_to_list(Out), "\n")],
    Get = fun(Key) -> hd([Rest || [K | Rest] <- Lines, K =:= Key] ++ [undefined]) end,
    case Get("Requests/sec:") of
        undefined -> error({wrk_output, Out});
        [Rps] ->
            Bad = case Get("Non-2xx") of undefined -> 0; Non2xx -> list_to_integer(lists:last(Non2xx)) end,
            Sock = case Get("Socket") of undefined -> ""; S -> lists:join(" ", S) end,
            _ = Bad > 0 andalso error({wrk_non_2xx_responses, Bad, Out}),
            #{rate => num(Rps), mean => 1000 * Conns / num(Rps), median => ms(hd(Get("50%"))),
              p99 => ms(hd(Get("99%"))), socket_errors => Sock}
    end.

collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect(Port, [Acc, D]);
        {Port, {exit_status, 0}} -> iolist_to_binary(Acc);
        {Port, {exit_status, S}} -> error({wrk_failed, S, iolist_to_binary(Acc)})
    after ?LONG -> error(wrk_timeout)
    end.

num(S) ->
    try list_to_float(S) catch error:badarg -> float(list_to_integer(S)) end.

%% wrk's durations: 812.00us, 9.31ms, 1.02s, 1.50m
ms(S) ->
    {Num, Unit} = lists:splitwith(fun(Ch) -> Ch =:= $. orelse (Ch >= $0 andalso Ch =< $9) end, S),
    num(Num) * case Unit of "us" -> 0.001; "ms" -> 1.0; "s" -> 1000.0; "m" -> 60000.0 end.

%% ---- libsql ------------------------------------------------------------------------

r1_spec(#{url := Url} = Cfg) ->
    #{init => fun() ->
                      {ok, C} = libsql:open(#{url => Url}),
                      {ok, OsPid} = libsql_conn:os_pid(C),
                      _ = [select(C) || _ <- lists:seq(1, 20)],
                      {C, OsPid}
              end,
      round => fun({C, OsPid}) ->
                       Cpu0 = libsql_test_util:cpu_ms(OsPid),
                       T0 = erlang:monotonic_time(),
                       Samples = timed_loop(fun() -> select(C) end, deadline(Cfg), []),
                       Wall = erlang:monotonic_time() - T0,
                       Cpu = libsql_test_util:cpu_ms(OsPid) - Cpu0,
                       (latencies(Samples, Wall, 1))#{cpu => cpu_pct(Cpu, Wall)}
               end,
      stop => fun({C, _}) -> libsql:close(C) end,
      aggregate => fun aggregate/1}.

select(Db) ->
    Id = rand:uniform(?ROWS),
    {ok, _, [{Id, _, _}]} = libsql:query(Db, ?SELECT, [Id]).

%% Eight callers on a pool of eight, all running until the same deadline.
r2_spec(#{url := Url} = Cfg) ->
    r2_spec(Cfg, Url, fun select/1).

%% Select: the call, given the pool.
r2_spec(Cfg, Url, Select) ->
    #{init => fun() ->
                      {ok, _} = libsql:start_pool(?POOL, #{url => Url, size => ?CALLERS}),
                      Parent = self(),
                      Call = fun() -> Select(?POOL) end,
                      Callers = [spawn_link(fun() -> caller(Parent, Call) end)
                                 || _ <- lists:seq(1, ?CALLERS)],
                      _ = [receive {ready, P} -> ok end || P <- Callers],
                      Callers
              end,
      round => fun(Callers) ->
                       Deadline = deadline(Cfg),
                       T0 = erlang:monotonic_time(),
                       _ = [P ! {go, self(), Deadline} || P <- Callers],
                       Samples = lists:append([receive {done, P, S} -> S end || P <- Callers]),
                       latencies(Samples, erlang:monotonic_time() - T0, ?CALLERS)
               end,
      stop => fun(Callers) ->
                      _ = [begin unlink(P), exit(P, kill) end || P <- Callers],
                      libsql:stop_pool(?POOL)
              end,
      aggregate => fun aggregate/1}.

caller(Parent, Call) ->
    _ = [Call() || _ <- lists:seq(1, 5)],
    Parent ! {ready, self()},
    caller_loop(Call).

caller_loop(Call) ->
    receive
        {go, From, Deadline} ->
            From ! {done, self(), timed_loop(Call, Deadline, [])},
            caller_loop(Call)
    end.

%% ---- keep-alive servers: nginx -----------------------------------------------------

%% R2 again on two nginx servers that keep client connections alive (no
%% limit on requests per connection): R2k proxies to tursodb (a new
%% upstream connection per request: tursodb closes them), R2c answers every
%% POST /v2/pipeline with tursodb's answer to the select of id 1 (Canned),
%% without a database: what is left is HTTP and each client's own cost.
keep_alive_rows(#{url := Url, dir := Dir} = Cfg, Canned, SelScript) ->
    case nginx_exe() of
        false ->
            libsql_bench:progress("remote: R2k, R2c skipped: nginx not found", []),
            #{};
        Exe ->
            #{port := TursoPort} = uri_string:parse(Url),
            {Nginx, ProxyPort, CannedPort} = nginx_start(Exe, filename:join(Dir, "nginx"),
                                                         TursoPort, Canned),
            try
                Rounds = maps:get(rounds, Cfg),
                Row = fun(W, Label, Port, Select) ->
                              U = iolist_to_binary(["http://127.0.0.1:", integer_to_list(Port)]),
                              libsql_bench:run_workload(
                                Label, Rounds,
                                [tag(W, libsql, r2_spec(Cfg, U, Select)),
                                 tag(W, wrk, wrk_spec(Cfg, 2, ?CALLERS, SelScript,
                                                      binary_to_list(U) ++ "/v2/pipeline"))])
                      end,
                maps:merge(Row(r2k, "R2k pool of 8, nginx keep-alive before tursodb", ProxyPort,
                               fun select/1),
                           Row(r2c, "R2c pool of 8, nginx keep-alive, canned answer", CannedPort,
                               fun select_canned/1))
            after
                nginx_stop(Nginx)
            end
    end.

%% The canned answer is the row of id 1, whatever id was asked for.
select_canned(Db) ->
    {ok, _, [{1, _, _}]} = libsql:query(Db, ?SELECT, [rand:uniform(?ROWS)]).

nginx_exe() ->
    case os:find_executable("nginx") of
        false ->
            case filelib:is_regular("/usr/sbin/nginx") of
                true -> "/usr/sbin/nginx";
                false -> false
            end;
        Exe -> Exe
    end.

%% nginx in the foreground under a shell that kills it when the Erlang port
%% (its stdin) closes; owned by a process of its own.
nginx_start(Exe, Dir, TursoPort, Canned) ->
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    _ = binary:match(Canned, [<<"$">>, <<"\\">>, <<"'">>]) =:= nomatch
        orelse error({canned_answer_needs_escaping, Canned}),
    [ProxyPort, CannedPort] = free_ports(2),
    Conf = filename:join(Dir, "nginx.conf"),
    Server = fun(Port, Location) ->
                     ["  server {\n    listen 127.0.0.1:", integer_to_list(Port), ";\n",
                      "    keepalive_requests 1000000;\n    keepalive_timeout 60s;\n",
                      Location, "  }\n"]
             end,
    ok = file:write_file(
           Conf,
           ["daemon off;\nworker_processes 1;\npid ", Dir, "/nginx.pid;\n",
            "error_log ", Dir, "/error.log;\nevents { worker_connections 1024; }\n",
            "http {\n  access_log off;\n  client_body_temp_path ", Dir, "/body;\n",
            "  proxy_temp_path ", Dir, "/proxy;\n",
            Server(ProxyPort, ["    location / { proxy_pass http://127.0.0.1:", integer_to_list(TursoPort),
                               "; proxy_http_version 1.1; proxy_set_header Connection \"\";"
                               " proxy_buffering off; }\n"]),
            Server(CannedPort, ["    location = /v2/pipeline { default_type application/json; "
                                "return 200 '", Canned, "'; }\n",
                                "    location / { return 404; }\n"]),
            "}\n"]),
    Parent = self(),
    Owner = spawn(fun() ->
                          P = open_port({spawn_executable, "/bin/sh"},
                                        [{args, ["-c", "\"$0\" -p \"$1\" -c \"$2\" & p=$!; "
                                                 "read _; kill $p; wait $p", Exe, Dir, Conf]},
                                         exit_status, stderr_to_stdout]),
                          Parent ! {nginx, self()},
                          receive {stop, From} -> port_close(P), From ! {stopped, self()} end
                  end),
    receive {nginx, Owner} -> ok end,
    ok = wait_listening(ProxyPort, 100),
    ok = wait_listening(CannedPort, 100),
    libsql_bench:progress("remote: nginx keep-alive on ports ~b (to tursodb) and ~b (canned)",
                          [ProxyPort, CannedPort]),
    {Owner, ProxyPort, CannedPort}.

nginx_stop(Owner) ->
    Owner ! {stop, self()},
    receive {stopped, Owner} -> ok after 5000 -> ok end.

free_ports(N) ->
    Ls = [begin {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}]), L end || _ <- lists:seq(1, N)],
    Ports = [begin {ok, P} = inet:port(L), P end || L <- Ls],
    _ = [gen_tcp:close(L) || L <- Ls],
    Ports.

wait_listening(Port, 0) ->
    error({nginx_not_listening, Port});
wait_listening(Port, N) ->
    case gen_tcp:connect({127, 0, 0, 1}, Port, [], 100) of
        {ok, S} -> gen_tcp:close(S);
        {error, _} -> timer:sleep(50), wait_listening(Port, N - 1)
    end.

%% Batches of 1000 rows (execute_many: one request, BEGIN ... COMMIT) until
%% the deadline, at least 3; the port's CPU time over the whole round.
r3_spec(#{url := Url} = Cfg) ->
    #{init => fun() ->
                      {ok, C} = libsql:open(#{url => Url}),
                      {ok, OsPid} = libsql_conn:os_pid(C),
                      Rows = batch_rows(),
                      insert_batch(C, Rows),
                      {C, OsPid, Rows}
              end,
      round => fun({C, OsPid, Rows}) ->
                       Cpu0 = libsql_test_util:cpu_ms(OsPid),
                       T0 = erlang:monotonic_time(),
                       Deadline = deadline(Cfg),
                       Samples = batch_loop(C, Rows, Deadline, []),
                       Wall = erlang:monotonic_time() - T0,
                       Cpu = libsql_test_util:cpu_ms(OsPid) - Cpu0,
                       L = latencies(Samples, Wall, 1),
                       L#{cpu => cpu_pct(Cpu, Wall), rows => maps:get(rate, L) * ?BATCH}
               end,
      stop => fun({C, _, _}) -> libsql:close(C) end,
      aggregate => fun aggregate/1}.

insert_batch(C, Rows) ->
    {ok, #{changes := ?BATCH}} = libsql:execute_many(C, ?INSERT3, Rows, #{timeout => ?LONG}).

batch_loop(C, Rows, Deadline, Acc) when length(Acc) < 3 ->
    batch_loop1(C, Rows, Deadline, Acc);
batch_loop(C, Rows, Deadline, Acc) ->
    case erlang:monotonic_time() >= Deadline of
        true -> Acc;
        false -> batch_loop1(C, Rows, Deadline, Acc)
    end.

batch_loop1(C, Rows, Deadline, Acc) ->
    T0 = erlang:monotonic_time(),
    insert_batch(C, Rows),
    batch_loop(C, Rows, Deadline, [erlang:monotonic_time() - T0 | Acc]).

%% ---- measuring ---------------------------------------------------------------------

deadline(#{secs := Secs}) ->
    erlang:monotonic_time() + erlang:convert_time_unit(Secs, second, native).

timed_loop(Call, Deadline, Acc) ->
    T0 = erlang:monotonic_time(),
    case T0 >= Deadline of
        true -> Acc;
        false ->
            _ = Call(),
            timed_loop(Call, Deadline, [erlang:monotonic_time() - T0 | Acc])
    end.

%% Per-call samples (native units), the round's wall time and how many
%% callers ran at once: median and p99 in ms, calls/s, and the mean time a
%% caller spent per call (wall / calls per caller, ms: all included).
latencies(Samples, Wall, Par) ->
    N = length(Samples),
    Sorted = list_to_tuple(lists:sort(Samples)),
    Ms = fun(Native) -> erlang:convert_time_unit(Native, native, nanosecond) / 1.0e6 end,
    #{median => Ms(element(N div 2 + 1, Sorted)),
      p99 => Ms(element(max(1, ceil(N * 0.99)), Sorted)),
      rate => N / (Ms(Wall) / 1000), mean => Ms(Wall) * Par / N}.

%% CPU milliseconds (libsql_test_util:cpu_ms/1, utime + stime) as % of Wall.
cpu_pct(Ms, Wall) ->
    100 * Ms / erlang:convert_time_unit(Wall, native, millisecond).

%% The median of every field over the rounds.
aggregate(Rounds) ->
    maps:from_list([{K, libsql_bench:median([maps:get(K, R) || R <- Rounds])}
                    || K <- maps:keys(hd(Rounds)), is_number(maps:get(K, hd(Rounds)))]).

%% ---- the report --------------------------------------------------------------------

report(#{rounds := Rounds, secs := Secs, url := Url}, Res, SelBytes, BatchBytes) ->
    Get = fun(W, C, F) ->
                  case maps:get({W, C}, Res, undefined) of
                      #{value := #{} = M} -> maps:get(F, M, undefined);
                      #{value := {error, _}} -> failed;
                      _ -> undefined
                  end
          end,
    Row = fun(Label, W, F, Unit, Goal) ->
                  L = Get(W, libsql, F),
                  K = case F of cpu -> undefined; rows -> Get(W, wrk, rate); _ -> Get(W, wrk, F) end,
                  K1 = case F of rows -> mul(K, ?BATCH); _ -> K end,
                  Q = case is_number(L) andalso is_number(K1) andalso K1 > 0 of
                          true -> L / K1;
                          false -> undefined
                      end,
                  [Label, cell(L, Unit), cell(K1, Unit), goal(Goal, L, Q),
                   case Q of undefined -> ""; _ -> libsql_bench:fmt("~.2fx", [Q]) end]
          end,
    Rows = [Row("R1 point select, 1 conn, mean (ms)", r1, mean, ms, {le_x, 1.1}),
            Row("R1 point select, 1 conn, median (ms)", r1, median, ms, none),
            Row("R1 point select, 1 conn, p99 (ms)", r1, p99, ms, none),
            Row("R1 point select, 1 conn (calls/s)", r1, rate, rate, none),
            Row("R1 port CPU (% of wall)", r1, cpu, pct, none),
            Row("R2 pool of 8, 8 callers (calls/s)", r2, rate, rate, {ge_x, 0.8}),
            Row("R2 pool of 8, 8 callers, median (ms)", r2, median, ms, none),
            Row("R2 pool of 8, 8 callers, p99 (ms)", r2, p99, ms, none),
            Row("R2k pool of 8, nginx keep-alive to tursodb (calls/s)", r2k, rate, rate, {ge_x, 0.8}),
            Row("R2k median (ms)", r2k, median, ms, none),
            Row("R2c pool of 8, nginx keep-alive, canned (calls/s)", r2c, rate, rate, {ge_x, 0.8}),
            Row("R2c median (ms)", r2c, median, ms, none),
            Row("R3 1000-row tx batch insert, median (ms)", r3, median, ms, none),
            Row("R3 1000-row tx batch insert (rows/s)", r3, rows, rate, none),
            Row("R3 port CPU (% of wall)", r3, cpu, pct, {lt, 20})],
    Head = ["remote workload (tursodb 0.7.0)", "libsql", "wrk", "goal", "libsql/wrk"],
    Sock = [libsql_bench:fmt("  wrk socket errors, ~s: ~s~n", [W, S])
            || W <- [r1, r2, r3, r2k, r2c], S <- [Get(W, wrk, socket_errors)], is_list(S), S =/= ""],
    ["\n",
     libsql_bench:fmt("remote: tursodb --sync-server at ~ts (a fresh database in build/bench/tmp), "
                      "table t of ~b rows; ~b rounds of ~b s each, interleaved~n",
                      [Url, ?ROWS, Rounds, Secs]),
     libsql_bench:fmt("load average at the end: ~s~n", [libsql_bench:load_average()]),
     libsql_bench:fmt("wrk sends the request libsql sent (captured: select ~b bytes with a random "
                      "id, batch ~b bytes) to /v2/pipeline: R1 and R3 wrk -t1 -c1, R2 wrk -t2 -c8; "
                      "scripts in build/bench/remote_*.lua~n", [SelBytes, BatchBytes]),
     "mean: wall time / requests per connection, everything included (wrk: connections / "
     "Requests/sec); median, p99: wrk's --latency 50% and 99%,\n"
     "which leave out its reconnect (tursodb closes every connection) while libsql's include "
     "the connect; libsql/wrk: the plain quotient\n",
     "\n", libsql_bench:render(Head, Rows), Sock].

mul(V, K) when is_number(V) -> V * K;
mul(V, _) -> V.

cell(undefined, _) -> "";
cell(failed, _) -> "failed";
cell(V, ms) -> libsql_bench:fmt("~.2f", [float(V)]);
cell(V, pct) -> libsql_bench:fmt("~.1f%", [float(V)]);
cell(V, rate) -> libsql_bench:rate(V).

goal(none, _, _) -> "";
goal({lt, G}, L, _) -> ["< ", integer_to_list(G), "%", verdict(is_number(L), L < G)];
goal({le_x, G}, _, Q) -> libsql_bench:fmt("<= ~.1fx wrk~s", [G, verdict(Q =/= undefined, Q =< G)]);
goal({ge_x, G}, _, Q) -> libsql_bench:fmt(">= ~.1fx wrk~s", [G, verdict(Q =/= undefined, Q >= G)]).

verdict(false, _) -> "";
verdict(true, true) -> " met";
verdict(true, false) -> " MISSED".
