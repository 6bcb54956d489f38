%% Test utility (not a suite): a Hrana 3 over HTTP server of our own, on
%% loopback, for what tursodb 0.7.0 cannot show: version probes, real
%% batons, stream expiry, close, get_autocommit, base_url stickiness, and
%% injected faults. SQL is not run here: each client pipeline becomes one
%% POST /v2/pipeline to an upstream tursodb, so results are real.
%%
%% Processes: the gen_server owns the listen socket and the stream table; an
%% acceptor process hands each connection to a handler process (HTTP/1.1,
%% keep-alive, Content-Length bodies). Handlers are monitored and killed on
%% stop/1. See test/REMOTE_TESTING.md for the faults.
-module(libsql_hrana_server).
-behaviour(gen_server).

-export([start/1, stop/1, requests/1, clear/1, set_fault/2, set_base_url/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-export_type([server/0, fault/0]).

-type server() :: pid() | #{pid := pid(), _ => _}.
-type one_fault() :: {status, 100..599, json | text, iodata() | map()}
                   | expire | cut_off | never_answer | invalid_json
                   | {huge, pos_integer()} | {huge_rows, pos_integer()} | close_immediately
                   | run_then_close.
-type fault() :: none | one_fault() | {always, one_fault()}.

-define(EXPIRE_MS, 10000).
-define(IDLE_POLL_MS, 1000).
-define(KEEPALIVE_MS, 60000).
-define(NEVER_ANSWER_MS, 300000).
-define(UPSTREAM_TIMEOUT_MS, 30000).
-define(HUGE_CHUNK, 65536).
-define(HUGE_MARK, <<"@@libsql_hrana_server:huge_rows@@">>).
-define(NOT_SUPPORTED, #{message => <<"not supported by the test server">>, code => <<"NOT_SUPPORTED">>}).

%%====================================================================
%% API

%% @doc Starts a server on 127.0.0.1 (a free port). Options: upstream (the
%% tursodb base URL, required for SQL), expire_ms (stream idle expiry,
%% default 10000), hrana3 (default true; false makes /v3 paths 404, like a
%% Hrana-2-only server), keep_alive (default true; false answers every
%% request with Connection: close and closes, as tursodb does) and
%% idle_close_ms (an idle keep-alive connection is closed by the server
%% after this long, default 60000). Not linked to the caller; call stop/1.
-spec start(map()) -> {ok, #{pid := pid(), port := inet:port_number(), url := binary()}} | {error, term()}.
start(Opts) ->
    {ok, _} = application:ensure_all_started(inets),
    case gen_server:start(?MODULE, Opts, []) of
        {ok, Pid} ->
            Port = gen_server:call(Pid, port),
            {ok, #{pid => Pid, port => Port, url => url(Port, <<>>)}};
        Error ->
            Error
    end.

%% @doc Stops the server; all its connections are closed and its processes gone.
-spec stop(server()) -> ok.
stop(Server) -> gen_server:stop(pid(Server)).

%% @doc Every request received so far, oldest first: method, path, headers
%% (lowercase names), body, the connection number (to see keep-alive) and
%% the fault applied to it (none if served normally).
-spec requests(server()) -> [#{method := binary(), path := binary(), headers := #{binary() => binary()},
                               body := binary(), conn := pos_integer(), fault := fault()}].
requests(Server) -> gen_server:call(pid(Server), requests).

%% @doc Forgets the recorded requests.
-spec clear(server()) -> ok.
clear(Server) -> gen_server:call(pid(Server), clear).

%% @doc Sets the fault for the next pipeline request (then back to normal),
%% or for all of them with {always, F}; none clears it.
-spec set_fault(server(), fault()) -> ok.
set_fault(Server, Fault) -> gen_server:call(pid(Server), {set_fault, Fault}).

%% @doc Sets the base_url carried by pipeline responses (null: none). Its path
%% becomes an accepted prefix: with http://127.0.0.1:P/sticky the server
%% serves POST /sticky/v3/pipeline, so requests/1 shows whether a client
%% followed it. Accepts the atom null or a binary/string URL.
-spec set_base_url(server(), binary() | string() | null) -> ok.
set_base_url(Server, Url) -> gen_server:call(pid(Server), {set_base_url, Url}).

pid(#{pid := Pid}) -> Pid;
pid(Pid) when is_pid(Pid) -> Pid.

url(Port, Path) -> iolist_to_binary(["http://127.0.0.1:", integer_to_list(Port), Path]).

%%====================================================================
%% gen_server: listen socket, streams, recorded requests, fault

-spec init(map()) -> {ok, map()}.
init(Opts) ->
    process_flag(trap_exit, true),
    {ok, LSock} = gen_tcp:listen(0, [binary, {ip, {127, 0, 0, 1}}, {active, false},
                                     {reuseaddr, true}, {backlog, 128}]),
    {ok, Port} = inet:port(LSock),
    Self = self(),
    Acceptor = spawn_link(fun() -> accept_loop(Self, LSock, 1) end),
    {ok, #{lsock => LSock, port => Port, acceptor => Acceptor, conns => #{},
           upstream => maps:get(upstream, Opts, undefined),
           expire_ms => maps:get(expire_ms, Opts, ?EXPIRE_MS),
           hrana3 => maps:get(hrana3, Opts, true),
           keep_alive => maps:get(keep_alive, Opts, true),
           idle_close_ms => maps:get(idle_close_ms, Opts, ?KEEPALIVE_MS),
           streams => #{}, next_stream => 1, requests => [], fault => none,
           base_url => null, prefixes => [<<>>]}}.

-spec handle_call(term(), gen_server:from(), map()) -> {reply, term(), map()}.
handle_call(port, _From, #{port := Port} = S) ->
    {reply, Port, S};
handle_call(config, _From, S) ->
    {reply, maps:with([upstream, hrana3, base_url, prefixes, keep_alive, idle_close_ms], S), S};
handle_call(requests, _From, #{requests := Rs} = S) ->
    {reply, lists:reverse(Rs), S};
handle_call(peek_fault, _From, #{fault := F} = S) ->
    {reply, case F of {always, F1} -> F1; _ -> F end, S};
handle_call(clear, _From, S) ->
    {reply, ok, S#{requests := []}};
handle_call({set_fault, Fault}, _From, S) ->
    {reply, ok, S#{fault := Fault}};
handle_call({set_base_url, Url}, _From, S) ->
    {reply, ok, store_base_url(Url, S)};
handle_call({record, Req, Pipeline}, _From, S) ->
    {Fault, S1} = take_fault(Pipeline, S),
    {reply, Fault, S1#{requests := [Req#{fault => Fault} | maps:get(requests, S1)]}};
handle_call({open_stream, Baton}, _From, S) ->
    {Reply, S1} = open_stream(Baton, S),
    {reply, Reply, S1};
handle_call({next_baton, Id, Closed, InTx}, _From, S) ->
    {Baton, S1} = next_baton(Id, Closed, InTx, S),
    {reply, {Baton, maps:get(base_url, S1)}, S1};
handle_call({in_tx, Id}, _From, #{streams := Streams} = S) ->
    {reply, maps:get(in_tx, maps:get(Id, Streams, #{}), false), S};
handle_call({expire, Baton}, _From, S) ->
    {InTx, S1} = expire_stream(Baton, S),
    {reply, InTx, S1}.

-spec handle_cast({conn, pid()}, map()) -> {noreply, map()}.
handle_cast({conn, Pid}, #{conns := Conns} = S) ->
    {noreply, S#{conns := Conns#{Pid => erlang:monitor(process, Pid)}}}.

-spec handle_info(term(), map()) -> {noreply, map()} | {stop, term(), map()}.
handle_info({'DOWN', _, process, Pid, _}, #{conns := Conns} = S) ->
    {noreply, S#{conns := maps:remove(Pid, Conns)}};
handle_info({'EXIT', Pid, Reason}, #{acceptor := Pid} = S) ->
    {stop, {acceptor_died, Reason}, S};
handle_info(_, S) ->
    {noreply, S}.

%% Handlers may be blocked on a socket or an upstream call, so they are
%% killed rather than asked; waiting for their DOWN makes stop/1 leave no
%% process behind.
-spec terminate(term(), map()) -> ok.
terminate(_Reason, #{lsock := LSock, acceptor := Acceptor, conns := Conns}) ->
    unlink(Acceptor),
    exit(Acceptor, kill),
    _ = gen_tcp:close(LSock),
    maps:foreach(fun(Pid, _) -> exit(Pid, kill) end, Conns),
    maps:foreach(fun(Pid, MRef) -> receive {'DOWN', MRef, process, Pid, _} -> ok end end, Conns).

store_base_url(null, S) ->
    S#{base_url := null};
store_base_url(Url0, #{prefixes := Prefixes} = S) ->
    Url = iolist_to_binary(Url0),
    {ok, Path} = base_url_path(Url),
    S#{base_url := Url, prefixes := lists:usort([Path | Prefixes])}.

%% The path part of the URL without a trailing slash ("" for none).
base_url_path(Url) ->
    case uri_string:parse(Url) of
        #{path := Path} -> {ok, string:trim(Path, trailing, "/")};
        Error -> Error
    end.

take_fault(false, S) -> {none, S};
take_fault(true, #{fault := {always, F}} = S) -> {F, S};
take_fault(true, #{fault := F} = S) -> {F, S#{fault := none}}.

%%--------------------------------------------------------------------
%% Streams and batons, like sqld: a baton is good for exactly one request.
%% It is base64url of <<StreamId:32, Seq:32, Random:64>>, and the stream
%% remembers the one it handed out last.

open_stream(null, #{next_stream := Id} = S) ->
    {{ok, Id}, S#{next_stream := Id + 1, streams := maps:put(Id, new_stream(), maps:get(streams, S))}};
open_stream(Baton, S) when is_binary(Baton) ->
    case decode_baton(Baton) of
        {ok, Id, Seq} -> use_baton(Id, Seq, Baton, S);
        {error, _} -> {{error, invalid}, S}
    end;
open_stream(_, S) ->
    {{error, invalid}, S}.

use_baton(Id, Seq, Baton, #{streams := Streams, expire_ms := ExpireMs} = S) ->
    Now = erlang:monotonic_time(millisecond),
    case maps:find(Id, Streams) of
        {ok, #{state := expired}} ->
            {{error, {expired, false}}, S};
        {ok, #{baton := Baton, last := Last} = St} when Now - Last > ExpireMs ->
            {{error, {expired, maps:get(in_tx, St)}}, S#{streams := Streams#{Id := #{state => expired}}}};
        {ok, #{baton := Baton} = St} ->
            %% Consumed now, so a concurrent reuse is refused too.
            {{ok, Id}, S#{streams := Streams#{Id := St#{baton := used}}}};
        {ok, #{seq := Cur}} when Seq =< Cur ->
            {{error, used}, S};
        _ ->
            {{error, invalid}, S}
    end.

new_stream() ->
    #{state => open, seq => 0, baton => used, last => erlang:monotonic_time(millisecond),
      in_tx => false}.

%% InTx: whether the upstream connection was left inside a transaction by
%% this pipeline (unknown: as before).
next_baton(Id, true, _InTx, #{streams := Streams} = S) ->
    {null, S#{streams := maps:remove(Id, Streams)}};
next_baton(Id, false, InTx, #{streams := Streams} = S) ->
    #{seq := Seq, in_tx := InTx0} = St = maps:get(Id, Streams),
    Baton = encode_baton(Id, Seq + 1),
    St1 = St#{seq := Seq + 1, baton := Baton, last := erlang:monotonic_time(millisecond),
              in_tx := case InTx of unknown -> InTx0; _ -> InTx end},
    {Baton, S#{streams := Streams#{Id := St1}}}.

%% Returns whether the stream held an open transaction (which the caller
%% must roll back upstream, as sqld does when it drops a stream).
expire_stream(Baton, #{streams := Streams} = S) when is_binary(Baton) ->
    case decode_baton(Baton) of
        {ok, Id, _} when is_map_key(Id, Streams) ->
            InTx = maps:get(in_tx, maps:get(Id, Streams), false),
            {InTx, S#{streams := Streams#{Id := #{state => expired}}}};
        _ ->
            {false, S}
    end;
expire_stream(_, S) ->
    {false, S}.

encode_baton(Id, Seq) ->
    Raw = <<Id:32, Seq:32, (rand:uniform(1 bsl 62)):64>>,
    B64 = base64:encode(Raw),
    << <<(b64url(C))>> || <<C>> <= B64, C =/= $= >>.

b64url($+) -> $-;
b64url($/) -> $_;
b64url(C) -> C.

decode_baton(Baton) ->
    Std = << <<(b64std(C))>> || <<C>> <= Baton >>,
    Pad = binary:copy(<<"=">>, (4 - byte_size(Std) rem 4) rem 4),
    try base64:decode(<<Std/binary, Pad/binary>>) of
        <<Id:32, Seq:32, _:64>> -> {ok, Id, Seq};
        _ -> {error, invalid}
    catch
        error:_ -> {error, invalid}
    end.

b64std($-) -> $+;
b64std($_) -> $/;
b64std(C) -> C.

%%====================================================================
%% Acceptor

accept_loop(Server, LSock, N) ->
    case gen_tcp:accept(LSock) of
        {ok, Sock} ->
            Pid = spawn(fun() -> conn_init(Server, N) end),
            ok = gen_tcp:controlling_process(Sock, Pid),
            gen_server:cast(Server, {conn, Pid}),
            Pid ! {go, Sock},
            accept_loop(Server, LSock, N + 1);
        {error, closed} ->
            ok;
        {error, Reason} ->
            exit({accept_failed, Reason})
    end.

%%====================================================================
%% Connection handler: HTTP/1.1 with keep-alive

conn_init(Server, N) ->
    receive {go, Sock} -> ok end,
    ok = inet:setopts(Sock, [{packet, http_bin}]),
    #{idle_close_ms := IdleMax} = gen_server:call(Server, config),
    conn_loop(#{server => Server, sock => Sock, conn => N, idle => 0, idle_max => IdleMax,
                run_then_close => false}).

conn_loop(#{sock := Sock, idle := Idle, idle_max := IdleMax} = C) ->
    Poll = max(1, min(?IDLE_POLL_MS, IdleMax - Idle)),
    case gen_tcp:recv(Sock, 0, Poll) of
        {ok, {http_request, Method, {abs_path, Path}, _Vsn}} ->
            request_line(C#{idle := 0}, Method, Path);
        {error, timeout} when Idle + Poll < IdleMax ->
            %% Polling rather than blocking lets an idle connection notice a
            %% server that was killed without stop/1.
            case is_process_alive(maps:get(server, C)) of
                true -> conn_loop(C#{idle := Idle + Poll});
                false -> gen_tcp:close(Sock)
            end;
        {ok, {http_error, _}} ->
            close(C, 400, text, <<"bad request line">>);
        _ ->
            gen_tcp:close(Sock)
    end.

request_line(C, Method0, Path) ->
    Method = method(Method0),
    case Method =:= <<"POST">> andalso pipeline_version(C, Path) =/= false
         andalso peek_fault(C) =:= close_immediately of
        true ->
            %% Unread request bytes make the kernel send RST, as a crashing
            %% server would.
            _ = record(C, #{method => Method, path => Path, headers => #{}, body => <<>>}, true),
            gen_tcp:close(maps:get(sock, C));
        false ->
            read_headers(C, Method, Path, #{})
    end.

method(M) when is_atom(M) -> atom_to_binary(M, latin1);
method(M) -> M.

read_headers(#{sock := Sock} = C, Method, Path, Hs) ->
    case gen_tcp:recv(Sock, 0, ?KEEPALIVE_MS) of
        {ok, {http_header, _, Name, _, Value}} ->
            Key = string:lowercase(header_name(Name)),
            Hs1 = case Hs of
                      #{Key := Old} -> Hs#{Key := <<Old/binary, ", ", Value/binary>>};
                      _ -> Hs#{Key => Value}
                  end,
            read_headers(C, Method, Path, Hs1);
        {ok, http_eoh} ->
            read_body(C, Method, Path, Hs);
        _ ->
            gen_tcp:close(Sock)
    end.

header_name(N) when is_atom(N) -> atom_to_binary(N, latin1);
header_name(N) -> N.

read_body(#{sock := Sock} = C, Method, Path, Hs) ->
    case Hs of
        #{<<"transfer-encoding">> := _} ->
            close(C, 411, text, <<"chunked request bodies are not supported; send Content-Length">>);
        _ ->
            Len = binary_to_integer(maps:get(<<"content-length">>, Hs, <<"0">>)),
            continue_100(Sock, Hs),
            ok = inet:setopts(Sock, [{packet, raw}]),
            case recv_exact(Sock, Len) of
                {ok, Body} ->
                    ok = inet:setopts(Sock, [{packet, http_bin}]),
                    dispatch(C, #{method => Method, path => Path, headers => Hs, body => Body});
                {error, _} ->
                    gen_tcp:close(Sock)
            end
    end.

%% Answer Expect: 100-continue as a real server does; recorded headers still
%% show whether the client sent it.
continue_100(Sock, #{<<"expect">> := E}) ->
    case string:lowercase(E) of
        <<"100-continue">> -> ok = gen_tcp:send(Sock, <<"HTTP/1.1 100 Continue\r\n\r\n">>);
        _ -> ok
    end;
continue_100(_, _) ->
    ok.

recv_exact(_Sock, 0) -> {ok, <<>>};
recv_exact(Sock, Len) -> gen_tcp:recv(Sock, Len, ?KEEPALIVE_MS).

dispatch(C, #{method := Method, path := Path} = Req) ->
    #{keep_alive := ServerKeepsAlive} = config(C),
    C1 = C#{keep_alive => ServerKeepsAlive andalso keep_alive(Req)},
    case {Method, pipeline_version(C1, Path)} of
        {<<"POST">>, Vsn} when Vsn =/= false ->
            pipeline(C1#{version => Vsn}, Req, record(C1, Req, true));
        {<<"GET">>, _} ->
            _ = record(C1, Req, false),
            probe(C1, Path);
        {<<"POST">>, false} when Path =:= <<"/pull-updates">> ->
            %% An embedded replica's pulls: passed to tursodb as they are.
            _ = record(C1, Req, false),
            pull_updates(C1, Req);
        _ ->
            _ = record(C1, Req, false),
            reply(C1, 404, text, <<"not found">>)
    end.

keep_alive(#{headers := #{<<"connection">> := V}}) -> string:lowercase(V) =/= <<"close">>;
keep_alive(_) -> true.

record(#{server := Server, conn := N}, Req, Pipeline) ->
    gen_server:call(Server, {record, Req#{conn => N}, Pipeline}).

peek_fault(#{server := Server}) -> gen_server:call(Server, peek_fault).

config(#{server := Server}) -> gen_server:call(Server, config).

%% v2 or v3 for "{prefix}/vN/pipeline" with a known prefix, else false.
pipeline_version(C, Path) ->
    #{prefixes := Prefixes, hrana3 := V3} = config(C),
    Matches = [Vsn || Prefix <- Prefixes, {Suffix, Vsn} <- [{<<"/v2/pipeline">>, 2}, {<<"/v3/pipeline">>, 3}],
                      Path =:= <<Prefix/binary, Suffix/binary>>, Vsn =:= 2 orelse V3],
    case Matches of
        [Vsn | _] -> Vsn;
        [] -> false
    end.

probe(C, Path) ->
    #{hrana3 := V3} = config(C),
    case Path of
        <<"/v2">> -> reply(C, 200, json, <<"{}">>);
        <<"/v3">> when V3 -> reply(C, 200, json, <<"{}">>);
        _ -> reply(C, 404, text, <<"not found">>)
    end.

%%--------------------------------------------------------------------
%% Faults

pipeline(C, Req, none) -> serve_pipeline(C, Req);
pipeline(C, Req, cut_off) -> serve_pipeline(C#{cut_off => true}, Req);
pipeline(C, Req, run_then_close) -> serve_pipeline(C#{run_then_close => true}, Req);
pipeline(C, Req, {huge_rows, Bytes}) -> serve_pipeline(C#{huge_rows => Bytes}, Req);
pipeline(C, _Req, {status, Code, Kind, Body}) -> reply(C, Code, Kind, body_bin(Body));
pipeline(C, Req, expire) -> expire_reply(C, Req);
pipeline(C, _Req, never_answer) -> never_answer(C);
pipeline(C, _Req, invalid_json) -> reply(C, 200, json, <<"{\"baton\":null,\"results\":[{\"type\":\"ok\",">>);
pipeline(C, _Req, {huge, Bytes}) -> huge(C, Bytes);
pipeline(C, _Req, close_immediately) -> gen_tcp:close(maps:get(sock, C)).

body_bin(B) when is_map(B) -> libsql_test_json:encode(B);
body_bin(B) -> iolist_to_binary(B).

expire_reply(#{server := Server} = C, #{body := Body}) ->
    case libsql_test_json:decode(Body) of
        {ok, #{<<"baton">> := Baton}} ->
            gen_server:call(Server, {expire, Baton}) andalso rollback_upstream(C);
        _ ->
            ok
    end,
    reply(C, 400, json, expired_body()).

expired_body() ->
    libsql_test_json:encode(#{message => <<"The stream has expired due to inactivity">>,
                              code => <<"STREAM_EXPIRED">>}).

%% Hold the socket: wait for the client to give up (closed) or a long time.
never_answer(#{sock := Sock}) ->
    ok = inet:setopts(Sock, [{packet, raw}]),
    Deadline = erlang:monotonic_time(millisecond) + ?NEVER_ANSWER_MS,
    never_answer_loop(Sock, Deadline).

never_answer_loop(Sock, Deadline) ->
    case gen_tcp:recv(Sock, 0, ?IDLE_POLL_MS) of
        {error, timeout} ->
            case erlang:monotonic_time(millisecond) < Deadline of
                true -> never_answer_loop(Sock, Deadline);
                false -> gen_tcp:close(Sock)
            end;
        {ok, _} ->
            never_answer_loop(Sock, Deadline);
        {error, _} ->
            gen_tcp:close(Sock)
    end.

%% A valid response whose one execute result has ceil(Bytes/64K) rows of one
%% 64 KiB text each. The length is computed up front and the rows are sent
%% one by one, so the server never holds the whole body.
huge(#{sock := Sock} = C, Bytes) ->
    N = max(1, (Bytes + ?HUGE_CHUNK - 1) div ?HUGE_CHUNK),
    Row = iolist_to_binary([<<"[{\"type\":\"text\",\"value\":\"">>, binary:copy(<<"x">>, ?HUGE_CHUNK), <<"\"}]">>]),
    Head = <<"{\"baton\":null,\"base_url\":null,\"results\":[{\"type\":\"ok\",\"response\":{\"type\":\"execute\","
             "\"result\":{\"cols\":[{\"name\":\"v\",\"decltype\":\"TEXT\"}],\"rows\":[">>,
    Tail = iolist_to_binary(["],\"affected_row_count\":0,\"last_insert_rowid\":null,\"replication_index\":null,"
                             "\"rows_read\":", integer_to_list(N), ",\"rows_written\":0,\"query_duration_ms\":0.0}}}]}"]),
    Len = byte_size(Head) + N * byte_size(Row) + (N - 1) + byte_size(Tail),
    ok = gen_tcp:send(Sock, headers(C, 200, json, Len)),
    ok = gen_tcp:send(Sock, Head),
    case send_rows(Sock, Row, N) of
        ok -> ok = gen_tcp:send(Sock, Tail), next(C);
        {error, _} -> gen_tcp:close(Sock)
    end.

send_rows(Sock, Row, 1) ->
    gen_tcp:send(Sock, Row);
send_rows(Sock, Row, N) ->
    case gen_tcp:send(Sock, [Row, $,]) of
        ok -> send_rows(Sock, Row, N - 1);
        Error -> Error
    end.

%% The real response, except that every statement result whose only column
%% is named `huge' gets ceil(Bytes/64K) rows of one 64 KiB text each, so the
%% shape follows the request (batches, get_autocommit). Streamed with an
%% exact Content-Length.
huge_rows(#{sock := Sock} = C, Resp, Bytes) ->
    N = max(1, (Bytes + ?HUGE_CHUNK - 1) div ?HUGE_CHUNK),
    Row = iolist_to_binary([<<"[{\"type\":\"text\",\"value\":\"">>, binary:copy(<<"x">>, ?HUGE_CHUNK), <<"\"}]">>]),
    Parts = binary:split(libsql_test_json:encode(mark_huge(Resp)),
                         <<$", (?HUGE_MARK)/binary, $">>, [global]),
    RowsLen = 2 + N * byte_size(Row) + (N - 1),
    Len = lists:sum([byte_size(P) || P <- Parts]) + (length(Parts) - 1) * RowsLen,
    ok = gen_tcp:send(Sock, headers(C, 200, json, Len)),
    case send_parts(Sock, Parts, Row, N) of
        ok -> next(C);
        {error, _} -> gen_tcp:close(Sock)
    end.

send_parts(Sock, [Last], _Row, _N) ->
    gen_tcp:send(Sock, Last);
send_parts(Sock, [P | Parts], Row, N) ->
    case gen_tcp:send(Sock, [P, $[]) of
        ok ->
            case send_rows(Sock, Row, N) of
                ok ->
                    case gen_tcp:send(Sock, <<"]">>) of
                        ok -> send_parts(Sock, Parts, Row, N);
                        Error -> Error
                    end;
                Error ->
                    Error
            end;
        Error ->
            Error
    end.

mark_huge(#{<<"cols">> := [#{<<"name">> := <<"huge">>}], <<"rows">> := _} = M) ->
    M#{<<"rows">> := ?HUGE_MARK};
mark_huge(M) when is_map(M) ->
    maps:map(fun(_, V) -> mark_huge(V) end, M);
mark_huge(L) when is_list(L) ->
    [mark_huge(V) || V <- L];
mark_huge(V) ->
    V.

%%--------------------------------------------------------------------
%% The pipeline proper

serve_pipeline(#{server := Server} = C, #{body := Body}) ->
    case libsql_test_json:decode(Body) of
        {ok, #{<<"requests">> := Reqs} = Pipe} when is_list(Reqs) ->
            case gen_server:call(Server, {open_stream, maps:get(<<"baton">>, Pipe, null)}) of
                {ok, Id} -> run_stream(C, Id, Reqs);
                {error, {expired, InTx}} ->
                    _ = InTx andalso rollback_upstream(C),
                    reply(C, 400, json, expired_body());
                {error, used} -> reply(C, 400, text, <<"baton that has already been used">>);
                {error, invalid} -> reply(C, 400, text, <<"invalid baton">>)
            end;
        _ ->
            reply(C, 400, text, <<"invalid pipeline request body">>)
    end.

%% Every stream shares tursodb's one connection, so stream state is
%% emulated: after the client's SQL a probe step tells whether a
%% transaction is open (remembered per stream), and when a stream ends
%% (close, expiry) with one open it is rolled back upstream, as sqld's
%% dropping of the stream's connection would.
run_stream(#{server := Server} = C, Id, Reqs) ->
    case plan(Reqs, C, false, []) of
        {ok, Plan, Closed} ->
            UpReqs = [Up || {upstream, Up, _} <- Plan],
            Extra = case {UpReqs, Closed} of
                        {[], false} -> [];
                        {_, false} -> [autocommit_probe()];
                        {_, true} ->
                            case gen_server:call(Server, {in_tx, Id}) of
                                true -> [rollback_request()];
                                false -> []
                            end
                    end,
            case forward(C, UpReqs ++ Extra) of
                {ok, UpResults0} ->
                    {UpResults, InTx} = split_extra(Extra, UpResults0),
                    Results = assemble(Plan, UpResults),
                    {Baton, BaseUrl} = gen_server:call(Server, {next_baton, Id, Closed, InTx}),
                    Resp = #{baton => Baton, base_url => BaseUrl, results => Results},
                    case maps:find(huge_rows, C) of
                        {ok, Bytes} -> huge_rows(C, Resp, Bytes);
                        error -> reply(C, 200, json, libsql_test_json:encode(Resp))
                    end;
                {http, Status, CT, RespBody} ->
                    %% The upstream refused the whole pipeline (e.g. an integer
                    %% as a JSON number): pass it on; the stream is dead, as on sqld.
                    reply(C, Status, CT, RespBody);
                {error, Reason} ->
                    reply(C, 502, text, iolist_to_binary(io_lib:format("upstream failed: ~p", [Reason])))
            end;
        {error, Msg} ->
            reply(C, 400, text, Msg)
    end.

%% Each request becomes {local, Result} or {upstream, UpstreamRequest, Fun},
%% where Fun turns the upstream result into ours. After close, later requests
%% in the same pipeline fail: the stream no longer exists.
plan([], _C, Closed, Acc) ->
    {ok, lists:reverse(Acc), Closed};
plan([_ | Rest], C, true, Acc) ->
    Err = error_result(#{message => <<"The stream has been closed">>, code => <<"STREAM_CLOSED">>}),
    plan(Rest, C, true, [{local, Err} | Acc]);
plan([#{<<"type">> := Type} = R | Rest], C, false, Acc) ->
    case step(Type, R, C) of
        close -> plan(Rest, C, true, [{local, ok_result(#{type => close})} | Acc]);
        {error, _} = E -> E;
        Step -> plan(Rest, C, false, [Step | Acc])
    end;
plan(_, _C, _, _) ->
    {error, <<"invalid stream request">>}.

step(T, R, _C) when T =:= <<"execute">>; T =:= <<"batch">> ->
    {upstream, R, fun(Res) -> Res end};
step(<<"get_autocommit">>, _R, #{version := 3}) ->
    Probe = #{type => batch, batch => #{steps => [#{condition => #{type => is_autocommit},
                                                     stmt => #{sql => <<"SELECT 1">>}}]}},
    {upstream, Probe, fun autocommit_result/1};
step(<<"get_autocommit">>, _R, #{version := 2}) ->
    {local, error_result(#{message => <<"get_autocommit requires Hrana 3">>, code => <<"NOT_SUPPORTED">>})};
step(T, _R, _C) when T =:= <<"sequence">>; T =:= <<"describe">>;
                     T =:= <<"store_sql">>; T =:= <<"close_sql">> ->
    {local, error_result(?NOT_SUPPORTED)};
step(<<"close">>, _R, _C) ->
    close;
step(T, _R, _C) ->
    {error, <<"unknown stream request type: ", T/binary>>}.

autocommit_probe() ->
    #{type => batch, batch => #{steps => [#{condition => #{type => is_autocommit},
                                            stmt => #{sql => <<"SELECT 1">>}}]}}.

rollback_request() ->
    #{type => batch, batch => #{steps => [#{condition => #{type => 'not', 'cond' => #{type => is_autocommit}},
                                            stmt => #{sql => <<"ROLLBACK">>}}]}}.

%% The results of the client's requests, and whether a transaction is open
%% after them (unknown when nothing was asked or the stream was closed).
split_extra([], Results) ->
    {Results, unknown};
split_extra([#{batch := #{steps := [#{stmt := #{sql := <<"ROLLBACK">>}}]}}], Results) ->
    {lists:droplast(Results), false};
split_extra([_], Results) ->
    {Client, [Last]} = lists:split(length(Results) - 1, Results),
    InTx = case autocommit_result(Last) of
               #{response := #{is_autocommit := A}} -> not A;
               _ -> unknown
           end,
    {Client, InTx}.

%% For a stream dropped with a transaction open (best effort).
rollback_upstream(C) ->
    _ = forward(C, [rollback_request()]),
    true.

%% The probe step runs only when the connection is in autocommit mode.
autocommit_result(#{<<"type">> := <<"ok">>, <<"response">> := #{<<"result">> := #{<<"step_results">> := [R]}}}) ->
    ok_result(#{type => get_autocommit, is_autocommit => R =/= null});
autocommit_result(Other) ->
    Other.

assemble([], []) -> [];
assemble([{local, Res} | Plan], Up) -> [Res | assemble(Plan, Up)];
assemble([{upstream, _, Fun} | Plan], [U | Up]) -> [Fun(U) | assemble(Plan, Up)].

ok_result(Response) -> #{type => ok, response => Response}.
error_result(Error) -> #{type => error, error => Error}.

pull_updates(C, #{body := Body}) ->
    #{upstream := Upstream} = config(C),
    Target = unicode:characters_to_list([Upstream, "/pull-updates"]),
    Req = {Target, [{"connection", "close"}], "application/protobuf", Body},
    case httpc:request(post, Req, [{timeout, ?UPSTREAM_TIMEOUT_MS}], [{body_format, binary}]) of
        {ok, {{_, Status, _}, _, RespBody}} -> reply(C, Status, text, RespBody);
        {error, _} -> reply(C, 502, text, <<"upstream failed">>)
    end.

%% All SQL of one client pipeline goes to tursodb as one request, in order.
forward(_C, []) ->
    {ok, []};
forward(C, UpReqs) ->
    #{upstream := Upstream} = config(C),
    Body = libsql_test_json:encode(#{baton => null, requests => UpReqs}),
    Target = unicode:characters_to_list([Upstream, "/v2/pipeline"]),
    Req = {Target, [{"connection", "close"}], "application/json", Body},
    case httpc:request(post, Req, [{timeout, ?UPSTREAM_TIMEOUT_MS}], [{body_format, binary}]) of
        {ok, {{_, 200, _}, _, RespBody}} ->
            {ok, #{<<"results">> := Results}} = libsql_test_json:decode(RespBody),
            {ok, Results};
        {ok, {{_, Status, _}, Headers, RespBody}} ->
            {http, Status, content_kind(Headers), RespBody};
        {error, _} = Error ->
            Error
    end.

content_kind(Headers) ->
    case proplists:get_value("content-type", Headers, "") of
        "application/json" ++ _ -> json;
        _ -> text
    end.

%%--------------------------------------------------------------------
%% Responses

reply(#{sock := Sock} = C, Status, Kind, Body) ->
    Head = headers(C, Status, Kind, byte_size(Body)),
    case maps:get(cut_off, C, false) of
        _ when map_get(run_then_close, C) ->
            %% Done, but not a byte of it said: a server dying after the commit.
            gen_tcp:close(Sock);
        true ->
            %% Promise the whole body, deliver half, hang up.
            _ = gen_tcp:send(Sock, [Head, binary:part(Body, 0, byte_size(Body) div 2)]),
            gen_tcp:close(Sock);
        false ->
            case gen_tcp:send(Sock, [Head, Body]) of
                ok -> next(C);
                {error, _} -> gen_tcp:close(Sock)
            end
    end.

close(C, Status, Kind, Body) ->
    reply(C#{keep_alive => false}, Status, Kind, Body).

next(#{keep_alive := true} = C) -> conn_loop(maps:without([cut_off, version, huge_rows], C));
next(#{sock := Sock}) -> gen_tcp:close(Sock).

headers(C, Status, Kind, Len) ->
    CT = case Kind of json -> "application/json"; text -> "text/plain; charset=utf-8" end,
    Conn = case maps:get(keep_alive, C, false) of true -> "keep-alive"; false -> "close" end,
    ["HTTP/1.1 ", integer_to_list(Status), " ", reason(Status), "\r\n",
     "Content-Type: ", CT, "\r\n",
     "Content-Length: ", integer_to_list(Len), "\r\n",
     "Connection: ", Conn, "\r\n\r\n"].

reason(200) -> "OK";
reason(400) -> "Bad Request";
reason(401) -> "Unauthorized";
reason(404) -> "Not Found";
reason(411) -> "Length Required";
reason(429) -> "Too Many Requests";
reason(500) -> "Internal Server Error";
reason(502) -> "Bad Gateway";
reason(503) -> "Service Unavailable";
reason(_) -> "Status".
