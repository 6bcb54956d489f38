%% Remote mode (Hrana over HTTP) against test/libsql_hrana_server.erl, a
%% Hrana 3 proxy in front of a real tursodb: what the client puts on the
%% wire (protocol choice, batons, close, headers, keep-alive), interactive
%% transactions pinned to a stream, stream expiry, base_url stickiness,
%% and every injected fault. After each fault the same connection must
%% work again on the same port OS process.
%%
%% Needs tursodb (test/setup_remote.sh fills its cache; see
%% test/REMOTE_TESTING.md). Each test case gets a proxy of its own; tursodb
%% is shared, so every case uses tables of its own.
-module(libsql_remote_fault_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([hrana3_batons_close_auth/1,
         big_body_no_expect/1,
         transaction_v3/1,
         expire_outside_transaction/1,
         idle_expiry_outside_transaction/1,
         expire_inside_transaction/1,
         base_url_sticky/1, base_url_other_scheme_ignored/1,
         fault_status_500_json/1,
         fault_status_503_text/1,
         fault_status_400_text/1,
         fault_cut_off/1,
         fault_invalid_json/1,
         fault_close_immediately/1,
         fault_close_immediately_reused_conn/1,
         fault_run_then_close_no_duplicate/1,
         fault_never_answer_request_timeout/1,
         fault_never_answer_call_timeout/1,
         fault_huge_toobig/1,
         fault_huge_rows_default_cap/1,
         hrana2_only_server/1,
         open_server_closes_at_once/1,
         open_nothing_listening/1]).

-define(TOKEN, <<"test-token-0123456789">>).
%% Generous bounds for faults that need no waiting: they take milliseconds.
-define(REQUEST_TIMEOUT, 5000).
-define(CALL_TIMEOUT, 10000).
-define(HUGE_BYTES, 50000000).
-define(HUGE_CHUNK, 65536).

-type config() :: [{atom(), term()}].

%%% ------------------------------------------------------------------------
%%% Common Test callbacks
%%% ------------------------------------------------------------------------

-spec suite() -> [{timetrap, {minutes, pos_integer()}}].
suite() ->
    [{timetrap, {minutes, 2}}, {ct_hooks, [libsql_tursodb_cth]}].

-spec all() -> [atom()].
all() ->
    [hrana3_batons_close_auth,
     big_body_no_expect,
     transaction_v3,
     expire_outside_transaction,
     idle_expiry_outside_transaction,
     expire_inside_transaction,
     base_url_sticky,
     base_url_other_scheme_ignored,
     fault_status_500_json,
     fault_status_503_text,
     fault_status_400_text,
     fault_cut_off,
     fault_invalid_json,
     fault_close_immediately,
     fault_close_immediately_reused_conn,
     fault_run_then_close_no_duplicate,
     fault_never_answer_request_timeout,
     fault_never_answer_call_timeout,
     fault_huge_toobig,
     fault_huge_rows_default_cap,
     hrana2_only_server,
     open_server_closes_at_once,
     open_nothing_listening].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    %% tursodb is started by libsql_tursodb_cth: {tursodb, _} and {url, _}.
    {ok, _} = application:ensure_all_started(libsql),
    Config.

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    ok.

-spec init_per_testcase(atom(), config()) -> config().
init_per_testcase(Case, Config) ->
    Opts = case Case of
               idle_expiry_outside_transaction -> #{expire_ms => 300};
               hrana2_only_server -> #{hrana3 => false};
               _ -> #{}
           end,
    #{url := Upstream} = ?config(tursodb, Config),
    {ok, Server} = libsql_hrana_server:start(Opts#{upstream => Upstream}),
    [{server, Server} | Config].

-spec end_per_testcase(atom(), config()) -> ok.
end_per_testcase(_Case, Config) ->
    ok = libsql_hrana_server:stop(?config(server, Config)).

%%% ------------------------------------------------------------------------
%%% The wire
%%% ------------------------------------------------------------------------

%% Hrana 3 is chosen after the probe; the batons chain (null, then each
%% response's); close goes out at close; every request carries the token
%% and a Content-Length, and all of them share one TCP connection.
-spec hrana3_batons_close_auth(config()) -> ok.
hrana3_batons_close_auth(Config) ->
    S = ?config(server, Config),
    C = open(Config, #{}),
    {ok, _, [{1}]} = libsql:query(C, <<"SELECT 1">>),
    {ok, _} = libsql:execute(C, <<"CREATE TABLE IF NOT EXISTS wire_t (x)">>),
    {ok, #{changes := 1}} = libsql:execute(C, <<"INSERT INTO wire_t VALUES (?)">>, [7]),
    {ok, _, [{7}]} = libsql:query(C, <<"SELECT x FROM wire_t">>),
    ok = libsql:close(C),
    Reqs = libsql_hrana_server:requests(S),
    [Probe | Posts] = Reqs,
    ?assertMatch(#{method := <<"GET">>, path := <<"/v3">>}, Probe),
    ?assertEqual(5, length(Posts)),
    [?assertMatch(#{method := <<"POST">>, path := <<"/v3/pipeline">>, fault := none}, R)
     || R <- Posts],
    %% Batons: null first, then the stream's batons in sequence 1, 2, ...
    Batons = [baton(R) || R <- Posts],
    [null | Later] = Batons,
    Decoded = [decode_baton(B) || B <- Later],
    [{StreamId, _} | _] = Decoded,
    ?assertEqual([{StreamId, Seq} || Seq <- lists:seq(1, length(Later))], Decoded),
    %% get_autocommit ends every pipeline but the last, which is a lone
    %% close (asking after a close would only get an error back).
    [?assertEqual(<<"get_autocommit">>, lists:last(types(R))) || R <- lists:droplast(Posts)],
    ?assertEqual([<<"close">>], types(lists:last(Posts))),
    ?assertNot(lists:member(<<"close">>, lists:append([types(R) || R <- lists:droplast(Posts)]))),
    %% Headers.
    Bearer = <<"Bearer ", ?TOKEN/binary>>,
    [?assertEqual(Bearer, header(R, <<"authorization">>)) || R <- Reqs],
    [begin
         ?assertEqual(integer_to_binary(byte_size(Body)), header(R, <<"content-length">>)),
         ?assertEqual(undefined, header(R, <<"expect">>)),
         ?assertEqual(undefined, header(R, <<"transfer-encoding">>))
     end || #{body := Body} = R <- Posts],
    %% Keep-alive: one connection for all of them.
    ?assertEqual([1], lists:usort([N || #{conn := N} <- Reqs])),
    ok.

%% A 2 MB request body: no Expect: 100-continue (curl would add it over
%% 1 MiB and wait a second), Content-Length, and the rows arrive whole.
-spec big_body_no_expect(config()) -> ok.
big_body_no_expect(Config) ->
    S = ?config(server, Config),
    C = open(Config, #{}),
    {ok, _} = libsql:execute(C, <<"CREATE TABLE big_t (id INTEGER PRIMARY KEY, v TEXT)">>),
    ok = libsql_hrana_server:clear(S),
    Text = binary:copy(<<"abcdefgh">>, 128 * 1024),   % 1 MiB each
    {Us, {ok, #{changes := 2}}} =
        timer:tc(fun() ->
                         libsql:execute_many(C, <<"INSERT INTO big_t (v) VALUES (?)">>,
                                             [[Text], [Text]])
                 end),
    ct:pal("execute_many with a ~b byte body: ~b ms", [2 * byte_size(Text), Us div 1000]),
    [#{body := Body} = R] = posts(S),
    ?assert(byte_size(Body) > 2 * 1024 * 1024),
    ?assertEqual(undefined, header(R, <<"expect">>)),
    ?assertEqual(integer_to_binary(byte_size(Body)), header(R, <<"content-length">>)),
    ?assert(Us < 900000),
    {ok, [[2, 2097152]]} = upstream(Config, <<"SELECT count(*), sum(length(v)) FROM big_t">>),
    {ok, _, [{2}]} = libsql:query(C, <<"SELECT count(*) FROM big_t">>),
    ok = libsql:close(C).

%%% ------------------------------------------------------------------------
%%% Transactions and streams
%%% ------------------------------------------------------------------------

-spec transaction_v3(config()) -> ok.
transaction_v3(Config) ->
    S = ?config(server, Config),
    C = open(Config, #{}),
    {ok, _} = libsql:execute(C, <<"CREATE TABLE tx_t (x INTEGER)">>),
    ok = libsql_hrana_server:clear(S),
    %% transaction/2 commits.
    {ok, done} = libsql:transaction(C, fun(T) ->
                                               {ok, _} = libsql:execute(T, <<"INSERT INTO tx_t VALUES (1)">>),
                                               {ok, _} = libsql:execute(T, <<"INSERT INTO tx_t VALUES (2)">>),
                                               done
                                       end),
    {ok, [[2]]} = upstream(Config, <<"SELECT count(*) FROM tx_t">>),
    %% One stream throughout: no request opened a new one.
    ?assertNotEqual([], posts(S)),
    [?assertNotEqual(null, baton(R)) || R <- posts(S)],
    %% A throw rolls back and is re-raised.
    ?assertEqual(caught, try libsql:transaction(C, fun(T) ->
                                                        {ok, _} = libsql:execute(T, <<"INSERT INTO tx_t VALUES (3)">>),
                                                        {ok, [[3]]} = upstream(Config, <<"SELECT count(*) FROM tx_t">>),
                                                        throw(oops)
                                                end)
                         catch throw:oops -> caught
                         end),
    {ok, [[2]]} = upstream(Config, <<"SELECT count(*) FROM tx_t">>),
    {ok, #{autocommit := true}} = libsql:info(C),
    %% begin_transaction / commit by hand.
    ok = libsql:begin_transaction(C),
    {ok, #{autocommit := false}} = libsql:info(C),
    {ok, _} = libsql:execute(C, <<"INSERT INTO tx_t VALUES (4)">>),
    ok = libsql:commit(C),
    {ok, #{autocommit := true}} = libsql:info(C),
    {ok, [[3]]} = upstream(Config, <<"SELECT count(*) FROM tx_t">>),
    ok = libsql:begin_transaction(C),
    {ok, _} = libsql:execute(C, <<"INSERT INTO tx_t VALUES (5)">>),
    ok = libsql:rollback(C),
    {ok, [[3]]} = upstream(Config, <<"SELECT count(*) FROM tx_t">>),
    {ok, _, [{4}]} = libsql:query(C, <<"SELECT max(x) FROM tx_t">>),
    [?assertNotEqual(null, baton(R)) || R <- posts(S)],
    ok = libsql:close(C).

%% STREAM_EXPIRED outside a transaction: a new stream, the request sent
%% again once, and the caller sees nothing.
-spec expire_outside_transaction(config()) -> ok.
expire_outside_transaction(Config) ->
    S = ?config(server, Config),
    C = open(Config, #{}),
    {ok, OsPid} = libsql_conn:os_pid(C),
    {ok, _, [{1}]} = libsql:query(C, <<"SELECT 1">>),
    ok = libsql_hrana_server:clear(S),
    ok = libsql_hrana_server:set_fault(S, expire),
    {ok, _, [{2}]} = libsql:query(C, <<"SELECT 2">>),
    [First, Retry] = posts(S),
    ?assertEqual(expire, maps:get(fault, First)),
    ?assertNotEqual(null, baton(First)),
    ?assertEqual(none, maps:get(fault, Retry)),
    ?assertEqual(null, baton(Retry)),
    ?assertEqual(statements(First), statements(Retry)),
    healthy(C, OsPid),
    ok = libsql:close(C).

%% The same through real idle expiry (expire_ms 300).
-spec idle_expiry_outside_transaction(config()) -> ok.
idle_expiry_outside_transaction(Config) ->
    S = ?config(server, Config),
    C = open(Config, #{}),
    {ok, _, [{1}]} = libsql:query(C, <<"SELECT 1">>),
    timer:sleep(600),
    ok = libsql_hrana_server:clear(S),
    {ok, _, [{2}]} = libsql:query(C, <<"SELECT 2">>),
    [First, Retry] = posts(S),
    ?assertNotEqual(null, baton(First)),
    ?assertEqual(null, baton(Retry)),
    {ok, _, [{3}]} = libsql:query(C, <<"SELECT 3">>),
    ok = libsql:close(C).

%% STREAM_EXPIRED inside a transaction: the transaction is gone, so the
%% caller is told (stream_expired); the connection goes on in autocommit.
-spec expire_inside_transaction(config()) -> ok.
expire_inside_transaction(Config) ->
    S = ?config(server, Config),
    C = open(Config, #{}),
    {ok, OsPid} = libsql_conn:os_pid(C),
    {ok, _} = libsql:execute(C, <<"CREATE TABLE exp_t (x INTEGER)">>),
    ok = libsql:begin_transaction(C),
    {ok, _} = libsql:execute(C, <<"INSERT INTO exp_t VALUES (1)">>),
    ok = libsql_hrana_server:clear(S),
    ok = libsql_hrana_server:set_fault(S, expire),
    {error, #{code := stream_expired} = E} = libsql:execute(C, <<"INSERT INTO exp_t VALUES (2)">>),
    ct:pal("inside a transaction: ~p", [E]),
    ?assertEqual(1, length(posts(S))),          % not retried
    {ok, #{autocommit := true}} = libsql:info(C),
    %% The server rolled the stream's transaction back.
    {ok, [[0]]} = upstream(Config, <<"SELECT count(*) FROM exp_t">>),
    {ok, _, [{0}]} = libsql:query(C, <<"SELECT count(*) FROM exp_t">>),
    {ok, _} = libsql:execute(C, <<"INSERT INTO exp_t VALUES (3)">>),
    {ok, done} = libsql:transaction(C, fun(T) ->
                                               {ok, _} = libsql:execute(T, <<"INSERT INTO exp_t VALUES (4)">>),
                                               done
                                       end),
    {ok, [[2]]} = upstream(Config, <<"SELECT count(*) FROM exp_t">>),
    healthy(C, OsPid),
    ok = libsql:close(C).

%% base_url in a response: the stream's later requests go there.
-spec base_url_sticky(config()) -> ok.
base_url_sticky(Config) ->
    S = ?config(server, Config),
    #{url := Url} = S,
    C = open(Config, #{}),
    {ok, _, [{1}]} = libsql:query(C, <<"SELECT 1">>),
    ok = libsql_hrana_server:set_base_url(S, <<Url/binary, "/sticky">>),
    ok = libsql_hrana_server:clear(S),
    {ok, _, [{2}]} = libsql:query(C, <<"SELECT 2">>),     % answered with base_url
    {ok, _, [{3}]} = libsql:query(C, <<"SELECT 3">>),
    {ok, _, [{4}]} = libsql:query(C, <<"SELECT 4">>),
    ok = libsql:close(C),
    Paths = [P || #{path := P} <- posts(S)],
    ?assertEqual([<<"/v3/pipeline">>, <<"/sticky/v3/pipeline">>, <<"/sticky/v3/pipeline">>,
                  <<"/sticky/v3/pipeline">>], Paths).

%% A base_url to anything but http(s) is not followed (from https, not to
%% http either): the stream goes on at its own URL.
-spec base_url_other_scheme_ignored(config()) -> ok.
base_url_other_scheme_ignored(Config) ->
    S = ?config(server, Config),
    C = open(Config, #{}),
    {ok, _, [{1}]} = libsql:query(C, <<"SELECT 1">>),
    ok = libsql_hrana_server:set_base_url(S, <<"file:///etc">>),
    ok = libsql_hrana_server:clear(S),
    {ok, _, [{2}]} = libsql:query(C, <<"SELECT 2">>),
    {ok, _, [{3}]} = libsql:query(C, <<"SELECT 3">>),
    ok = libsql_hrana_server:set_base_url(S, null),
    ok = libsql:close(C),
    ?assertEqual([<<"/v3/pipeline">>, <<"/v3/pipeline">>, <<"/v3/pipeline">>],
                 [P || #{path := P} <- posts(S)]).

%%% ------------------------------------------------------------------------
%%% Faults
%%% ------------------------------------------------------------------------

-spec fault_status_500_json(config()) -> ok.
fault_status_500_json(Config) ->
    E = fault(Config, {status, 500, json, #{message => <<"boom">>, code => <<"INTERNAL">>}}, http),
    assert_message(E, [<<"500">>, <<"boom">>]).

-spec fault_status_503_text(config()) -> ok.
fault_status_503_text(Config) ->
    E = fault(Config, {status, 503, text, <<"upstream overloaded, try later">>}, http),
    assert_message(E, [<<"503">>, <<"upstream overloaded">>]).

-spec fault_status_400_text(config()) -> ok.
fault_status_400_text(Config) ->
    E = fault(Config, {status, 400, text, <<"invalid baton">>}, http),
    assert_message(E, [<<"400">>, <<"invalid baton">>]).

-spec fault_cut_off(config()) -> ok.
fault_cut_off(Config) ->
    _ = fault(Config, cut_off, network),
    ok.

-spec fault_invalid_json(config()) -> ok.
fault_invalid_json(Config) ->
    _ = fault(Config, invalid_json, protocol),
    ok.

%% Every attempt closed unread (a one-shot close on a reused keep-alive
%% connection: see the next case).
-spec fault_close_immediately(config()) -> ok.
fault_close_immediately(Config) ->
    _ = fault(Config, {always, close_immediately}, network),
    ok.

%% One close, before the server read the request, on a reused connection:
%% nothing ran, but the client cannot know that: libcurl's resend is
%% refused (port/http.c, on_prereq) and the error says it may have run.
%% A transparent retry would be as good here; whichever it is, the SQL
%% runs at most once.
-spec fault_close_immediately_reused_conn(config()) -> ok.
fault_close_immediately_reused_conn(Config) ->
    S = ?config(server, Config),
    C = open(Config, #{request_timeout => ?REQUEST_TIMEOUT}),
    {ok, OsPid} = libsql_conn:os_pid(C),
    {ok, _} = libsql:execute(C, <<"CREATE TABLE ci_t (x INTEGER)">>),
    ok = libsql_hrana_server:clear(S),
    ok = libsql_hrana_server:set_fault(S, close_immediately),
    Result = libsql:execute(C, <<"INSERT INTO ci_t VALUES (1)">>),
    Attempts = [{N, F} || #{conn := N, fault := F} <- posts(S)],
    ct:pal("one close_immediately on a reused connection: ~0p; attempts ~p", [Result, Attempts]),
    case Result of
        {ok, #{changes := 1}} -> {ok, [[1]]} = upstream(Config, <<"SELECT count(*) FROM ci_t">>);
        {error, #{code := network}} -> {ok, [[0]]} = upstream(Config, <<"SELECT count(*) FROM ci_t">>)
    end,
    healthy(C, OsPid),
    ok = libsql:close(C).

%% The server runs the pipeline, then dies without a byte of answer, on a
%% reused keep-alive connection, for a request opening a new stream (baton
%% null). The client cannot know whether it ran, so it must say so
%% (network) and must not send it again: a resend runs the INSERT twice.
-spec fault_run_then_close_no_duplicate(config()) -> ok.
fault_run_then_close_no_duplicate(Config) ->
    S = ?config(server, Config),
    C = open(Config, #{request_timeout => ?REQUEST_TIMEOUT}),
    {ok, OsPid} = libsql_conn:os_pid(C),
    {ok, _} = libsql:execute(C, <<"CREATE TABLE rc_t (x INTEGER)">>),
    %% Lose the stream with an answer that keeps the TCP connection.
    ok = libsql_hrana_server:set_fault(S, {status, 503, text, <<"busy">>}),
    {error, #{code := http}} = libsql:query(C, <<"SELECT 1">>),
    ok = libsql_hrana_server:clear(S),
    ok = libsql_hrana_server:set_fault(S, run_then_close),
    Result = libsql:execute(C, <<"INSERT INTO rc_t VALUES (1)">>),
    Attempts = [{N, baton(R), F} || #{conn := N, fault := F} = R <- posts(S)],
    {ok, [[Count]]} = upstream(Config, <<"SELECT count(*) FROM rc_t">>),
    ct:pal("run_then_close: ~0p; attempts (conn, baton, fault) ~p; rows upstream ~b",
           [Result, Attempts, Count]),
    ?assertMatch([{_, null, run_then_close}], Attempts),
    ?assertMatch({error, #{code := network}}, Result),
    ?assertEqual(1, Count),
    healthy(C, OsPid),
    ok = libsql:close(C).

%% curl's own request timeout.
-spec fault_never_answer_request_timeout(config()) -> ok.
fault_never_answer_request_timeout(Config) ->
    _ = fault(Config, never_answer, timeout, #{request_timeout => 500}, #{}, {400, 1500}),
    ok.

%% The call's timeout: the connection cancels, the port aborts the HTTP
%% request at once and stays (no kill, no restart).
-spec fault_never_answer_call_timeout(config()) -> ok.
fault_never_answer_call_timeout(Config) ->
    _ = fault(Config, never_answer, [timeout, interrupted], #{request_timeout => 60000},
              #{timeout => 300}, {250, 1000}),
    ok.

-spec fault_huge_toobig(config()) -> ok.
fault_huge_toobig(Config) ->
    _ = fault(Config, {huge, ?HUGE_BYTES}, toobig, #{max_result_bytes => 10000000}, #{}, {0, 5000}),
    ok.

%% 50 MB of rows under the default cap: they all arrive, and the port's
%% memory stays within a small multiple of the payload.
-spec fault_huge_rows_default_cap(config()) -> ok.
fault_huge_rows_default_cap(Config) ->
    S = ?config(server, Config),
    C = open(Config, #{timeout => 60000}),
    {ok, OsPid} = libsql_conn:os_pid(C),
    {ok, _, [{1}]} = libsql:query(C, <<"SELECT 1 AS huge">>),
    Rss0 = vm_kb(OsPid, "VmRSS"),
    ok = libsql_hrana_server:set_fault(S, {huge_rows, ?HUGE_BYTES}),
    {Us, Result} = timer:tc(fun() -> libsql:query(C, <<"SELECT 1 AS huge">>) end),
    {ok, [<<"huge">>], Rows} = Result,
    N = (?HUGE_BYTES + ?HUGE_CHUNK - 1) div ?HUGE_CHUNK,
    ?assertEqual(N, length(Rows)),
    Expected = binary:copy(<<"x">>, ?HUGE_CHUNK),
    ?assertEqual([Expected], lists:usort([V || {V} <- Rows])),
    Rss1 = vm_kb(OsPid, "VmRSS"),
    Hwm = vm_kb(OsPid, "VmHWM"),
    ct:pal("~b rows (~b bytes) in ~b ms; port VmRSS ~b kB before, ~b kB after, peak ~b kB",
           [N, N * ?HUGE_CHUNK, Us div 1000, Rss0, Rss1, Hwm]),
    %% The response held parsed plus the reply being built: well under 5x
    %% (ASan's redzones and quarantine, or valgrind, add their own share).
    Factor = case libsql_test_util:sanitized(OsPid) orelse under_valgrind(OsPid) of
                 true -> 3;
                 false -> 1
             end,
    ?assert(Hwm < Factor * 5 * ?HUGE_BYTES div 1024),
    ?assert(Rss1 < Factor * 3 * ?HUGE_BYTES div 1024),
    healthy(C, OsPid),
    ok = libsql:close(C).

%%% ------------------------------------------------------------------------
%%% Other servers
%%% ------------------------------------------------------------------------

%% A server without Hrana 3: /v2/pipeline, no batons, no get_autocommit, no
%% close; interactive transactions are refused.
-spec hrana2_only_server(config()) -> ok.
hrana2_only_server(Config) ->
    S = ?config(server, Config),
    C = open(Config, #{}),
    {ok, _, [{1}]} = libsql:query(C, <<"SELECT 1">>),
    {ok, _} = libsql:execute(C, <<"CREATE TABLE v2_t (x INTEGER)">>),
    {error, #{code := not_supported}} =
        libsql:transaction(C, fun(T) -> libsql:execute(T, <<"INSERT INTO v2_t VALUES (1)">>) end),
    {error, #{code := not_supported}} = libsql:begin_transaction(C),
    {error, #{code := not_supported}} = libsql:execute(C, <<"BEGIN">>),
    {ok, [[0]]} = upstream(Config, <<"SELECT count(*) FROM v2_t">>),
    {ok, _} = libsql:batch(C, [<<"INSERT INTO v2_t VALUES (1)">>, <<"INSERT INTO v2_t VALUES (2)">>],
                           #{transaction => true}),
    {ok, [[2]]} = upstream(Config, <<"SELECT count(*) FROM v2_t">>),
    ok = libsql:close(C),
    [Probe | Posts] = libsql_hrana_server:requests(S),
    ?assertMatch(#{method := <<"GET">>, path := <<"/v3">>}, Probe),
    ?assertNotEqual([], Posts),
    [begin
         ?assertMatch(#{method := <<"POST">>, path := <<"/v2/pipeline">>}, R),
         ?assertEqual(null, baton(R)),
         ?assertNot(lists:member(<<"get_autocommit">>, types(R))),
         ?assertNot(lists:member(<<"close">>, types(R)))
     end || R <- Posts],
    ok.

%% A server that accepts and closes without a byte: open says so.
-spec open_server_closes_at_once(config()) -> ok.
open_server_closes_at_once(_Config) ->
    {ok, LSock} = gen_tcp:listen(0, [binary, {ip, {127, 0, 0, 1}}, {active, false}, {reuseaddr, true}]),
    {ok, Port} = inet:port(LSock),
    Acceptor = spawn_link(fun() -> close_loop(LSock) end),
    try
        Url = iolist_to_binary(["http://127.0.0.1:", integer_to_list(Port)]),
        {Us, Result} = timer:tc(fun() ->
                                        libsql:open(#{url => Url, connect_timeout => 2000,
                                                      request_timeout => 5000})
                                end),
        ct:pal("open against a server closing at once: ~p in ~b ms", [Result, Us div 1000]),
        {error, #{code := network, message := Msg}} = Result,
        ?assert(is_binary(Msg) andalso Msg =/= <<>>),
        ?assert(Us < 3000000)
    after
        unlink(Acceptor),
        exit(Acceptor, kill),
        gen_tcp:close(LSock)
    end,
    ok.

-spec open_nothing_listening(config()) -> ok.
open_nothing_listening(_Config) ->
    {ok, LSock} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}]),
    {ok, Port} = inet:port(LSock),
    ok = gen_tcp:close(LSock),
    Url = iolist_to_binary(["http://127.0.0.1:", integer_to_list(Port)]),
    {Us, Result} = timer:tc(fun() -> libsql:open(#{url => Url, connect_timeout => 2000}) end),
    ct:pal("open with nothing listening: ~p in ~b ms", [Result, Us div 1000]),
    {error, #{code := network}} = Result,
    ?assert(Us < 3000000),
    ok.

close_loop(LSock) ->
    case gen_tcp:accept(LSock) of
        {ok, Sock} ->
            ok = gen_tcp:close(Sock),
            close_loop(LSock);
        {error, _} ->
            ok
    end.

%%% ------------------------------------------------------------------------
%%% Helpers
%%% ------------------------------------------------------------------------

open(Config, Extra) ->
    #{url := Url} = ?config(server, Config),
    {ok, C} = libsql:open(maps:merge(#{url => Url, auth_token => ?TOKEN}, Extra)),
    C.

%% One fault on the next pipeline of a fresh connection: the error code,
%% how long it took, and that the same connection (same port process)
%% works afterwards.
fault(Config, Fault, Code) ->
    fault(Config, Fault, Code, #{}, #{}, {0, ?REQUEST_TIMEOUT}).

fault(Config, Fault, Codes, OpenOpts, CallOpts, {MinMs, MaxMs}) ->
    S = ?config(server, Config),
    C = open(Config, maps:merge(#{request_timeout => ?REQUEST_TIMEOUT, timeout => ?CALL_TIMEOUT},
                                OpenOpts)),
    {ok, OsPid} = libsql_conn:os_pid(C),
    {ok, _, [{1}]} = libsql:query(C, <<"SELECT 1">>),
    ok = libsql_hrana_server:set_fault(S, Fault),
    T0 = erlang:monotonic_time(millisecond),
    Result = libsql:query(C, <<"SELECT 2">>, [], CallOpts),
    Ms = erlang:monotonic_time(millisecond) - T0,
    ct:pal("fault ~0P: ~0P in ~b ms", [Fault, 6, Result, 12, Ms]),
    ok = libsql_hrana_server:set_fault(S, none),
    {error, #{code := Code, message := Msg} = E} = Result,
    ?assert(lists:member(Code, lists:flatten([Codes]))),
    ?assert(is_binary(Msg) andalso Msg =/= <<>>),
    ?assert(Ms >= MinMs),
    ?assert(Ms =< MaxMs),
    %% The fault was applied to that request.
    Applied = case Fault of {always, F1} -> F1; _ -> Fault end,
    ?assert(lists:member(Applied, [F || #{fault := F} <- libsql_hrana_server:requests(S)])),
    healthy(C, OsPid),
    ok = libsql:close(C),
    E.

%% The connection answers, on the same port OS process, and the VM is fine.
healthy(C, OsPid) ->
    ?assert(is_process_alive(C)),
    {ok, _, [{42}]} = libsql:query(C, <<"SELECT 42">>),
    ok = libsql:ping(C),
    {ok, OsPid} = libsql_conn:os_pid(C),
    ?assert(os_alive(OsPid)),
    ?assert(erlang:memory(total) < 1024 * 1024 * 1024),
    ok.

assert_message(#{message := Msg}, Parts) ->
    [?assertNotEqual(nomatch, binary:match(Msg, P), {Msg, P}) || P <- Parts],
    ok.

posts(S) ->
    [R || #{method := <<"POST">>} = R <- libsql_hrana_server:requests(S)].

header(#{headers := Hs}, Name) ->
    maps:get(Name, Hs, undefined).

pipeline_json(#{body := Body}) ->
    {ok, Json} = libsql_test_json:decode(Body),
    Json.

baton(R) ->
    maps:get(<<"baton">>, pipeline_json(R)).

types(R) ->
    [T || #{<<"type">> := T} <- maps:get(<<"requests">>, pipeline_json(R))].

%% The SQL texts of a pipeline, in order (batch steps flattened).
statements(R) ->
    lists:append([case Q of
                      #{<<"type">> := <<"execute">>, <<"stmt">> := #{<<"sql">> := Sql}} -> [Sql];
                      #{<<"type">> := <<"batch">>, <<"batch">> := #{<<"steps">> := Steps}} ->
                          [Sql || #{<<"stmt">> := #{<<"sql">> := Sql}} <- Steps];
                      _ -> []
                  end || Q <- maps:get(<<"requests">>, pipeline_json(R))]).

%% The test server's batons: base64url of <<StreamId:32, Seq:32, Random:64>>.
decode_baton(B) ->
    Std = << <<(case C of $- -> $+; $_ -> $/; _ -> C end)>> || <<C>> <= B >>,
    Pad = binary:copy(<<"=">>, (4 - byte_size(Std) rem 4) rem 4),
    <<Id:32, Seq:32, _:64>> = base64:decode(<<Std/binary, Pad/binary>>),
    {Id, Seq}.

upstream(Config, Sql) ->
    #{url := Url} = ?config(tursodb, Config),
    libsql_tursodb:sql(Url, Sql).

vm_kb(OsPid, Key) ->
    {ok, Bin} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/status"),
    {match, [Kb]} = re:run(Bin, Key ++ ":\\s+(\\d+) kB", [{capture, all_but_first, binary}]),
    binary_to_integer(Kb).

os_alive(OsPid) ->
    filelib:is_file("/proc/" ++ integer_to_list(OsPid)).

under_valgrind(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/maps") of
        {ok, Maps} -> binary:match(Maps, <<"vgpreload">>) =/= nomatch;
        {error, _} -> false
    end.
