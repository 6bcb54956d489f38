%% TLS of the remote backend: certificate verification is on by default.
%% Certificates are made at test time with public_key:pkix_test_data/1 (no
%% external tool) and served by a tiny loopback HTTPS server on OTP ssl
%% that speaks just enough Hrana 2: GET /v3 is 404, POST /v2/pipeline
%% answers the client's batch for `SELECT 1'.
-module(libsql_tls_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").
-include_lib("public_key/include/public_key.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([untrusted_by_default/1,
         trusted_with_ca_file/1,
         ca_file_of_another_ca/1,
         hostname_mismatch/1,
         localhost_name/1,
         missing_ca_file/1,
         base_url_never_leaves_tls/1]).

-define(RECV_TIMEOUT, 10000).
%% ECDSA P-256 with SHA-256: what GnuTLS and OTP ssl agree on by default
%% (the test data's default keys and digest are refused as insecure).
-define(KEY_OPTS, [{key, {namedCurve, secp256r1}}, {digest, sha256}]).

-type config() :: [{atom(), term()}].

%%% ------------------------------------------------------------------------
%%% Common Test callbacks
%%% ------------------------------------------------------------------------

-spec suite() -> [{timetrap, {minutes, pos_integer()}}].
suite() ->
    [{timetrap, {minutes, 2}}].

-spec all() -> [atom()].
all() ->
    [untrusted_by_default,
     trusted_with_ca_file,
     ca_file_of_another_ca,
     hostname_mismatch,
     localhost_name,
     missing_ca_file,
     base_url_never_leaves_tls].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    {ok, _} = application:ensure_all_started(ssl),
    {ok, _} = application:ensure_all_started(libsql),
    Dir = ?config(priv_dir, Config),
    Root = public_key:pkix_test_root_cert("libsql test CA", ?KEY_OPTS),
    Other = public_key:pkix_test_root_cert("libsql other CA", ?KEY_OPTS),
    Good = server_cert(Root, [{dNSName, "localhost"}, {iPAddress, <<127, 0, 0, 1>>}]),
    Wrong = server_cert(Root, [{dNSName, "other.example"}]),
    CaFile = write_pem(Dir, "ca.pem", Root),
    OtherCaFile = write_pem(Dir, "other_ca.pem", Other),
    {ok, GoodSrv} = start_server(Good),
    {ok, WrongSrv} = start_server(Wrong),
    [{ca_file, CaFile}, {other_ca_file, OtherCaFile}, {good_ssl, Good},
     {good_server, GoodSrv}, {wrong_server, WrongSrv} | Config].

-spec end_per_suite(config()) -> ok.
end_per_suite(Config) ->
    stop_server(?config(good_server, Config)),
    stop_server(?config(wrong_server, Config)).

%%% ------------------------------------------------------------------------
%%% Cases
%%% ------------------------------------------------------------------------

%% A certificate from a CA the system does not know: refused.
-spec untrusted_by_default(config()) -> ok.
untrusted_by_default(Config) ->
    E = open_error(url(Config, good_server, "127.0.0.1"), #{}),
    ct:pal("no ca_file: ~p", [E]),
    ?assertMatch(#{code := tls}, E),
    assert_message(E, <<"verification failed">>),
    ok.

-spec trusted_with_ca_file(config()) -> ok.
trusted_with_ca_file(Config) ->
    {ok, C} = libsql:open(#{url => url(Config, good_server, "127.0.0.1"),
                            ca_file => ?config(ca_file, Config), connect_timeout => 5000}),
    {ok, [<<"1">>], [{1}]} = libsql:query(C, <<"SELECT 1">>),
    {ok, _, [{1}]} = libsql:query(C, <<"SELECT 1">>),
    ok = libsql:close(C).

-spec ca_file_of_another_ca(config()) -> ok.
ca_file_of_another_ca(Config) ->
    E = open_error(url(Config, good_server, "127.0.0.1"),
                   #{ca_file => ?config(other_ca_file, Config)}),
    ct:pal("another CA: ~p", [E]),
    ?assertMatch(#{code := tls}, E),
    assert_message(E, <<"verification failed">>),
    ok.

%% A certificate from the trusted CA, but for another name.
-spec hostname_mismatch(config()) -> ok.
hostname_mismatch(Config) ->
    E1 = open_error(url(Config, wrong_server, "127.0.0.1"), #{ca_file => ?config(ca_file, Config)}),
    E2 = open_error(url(Config, wrong_server, "localhost"), #{ca_file => ?config(ca_file, Config)}),
    ct:pal("name mismatch: ~p~n~p", [E1, E2]),
    ?assertMatch(#{code := tls}, E1),
    ?assertMatch(#{code := tls}, E2),
    assert_message(E1, <<"does not match">>),
    assert_message(E2, <<"does not match">>),
    ok.

%% The DNS name in the certificate works as well as the IP address.
-spec localhost_name(config()) -> ok.
localhost_name(Config) ->
    {ok, C} = libsql:open(#{url => url(Config, good_server, "localhost"),
                            ca_file => ?config(ca_file, Config), connect_timeout => 5000}),
    {ok, _, [{1}]} = libsql:query(C, <<"SELECT 1">>),
    ok = libsql:close(C).

%% A ca_file that does not exist is an error, never "trust everything".
-spec missing_ca_file(config()) -> ok.
missing_ca_file(Config) ->
    Missing = filename:join(?config(priv_dir, Config), "no_such_ca.pem"),
    E = open_error(url(Config, good_server, "127.0.0.1"), #{ca_file => Missing}),
    ct:pal("missing ca_file: ~p", [E]),
    ?assertMatch(#{code := tls}, E),
    ok.

%%% ------------------------------------------------------------------------
%%% Certificates
%%% ------------------------------------------------------------------------

%% A Hrana 3 server over TLS answers with a base_url on plain http: the
%% client must not follow it (the token would leave TLS). Every request
%% stays on the TLS server; nothing connects to the plain port.
-spec base_url_never_leaves_tls(config()) -> ok.
base_url_never_leaves_tls(Config) ->
    {ok, Plain} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]),
    {ok, PlainPort} = inet:port(Plain),
    {ok, V3} = start_server(?config(good_ssl, Config),
                            {v3, <<"http://127.0.0.1:", (integer_to_binary(PlainPort))/binary>>}),
    try
        {ok, C} = libsql:open(#{url => url([{v3, V3}], v3, "127.0.0.1"), auth_token => <<"tok">>,
                                ca_file => ?config(ca_file, Config), connect_timeout => 5000}),
        [{ok, _, [{1}]} = libsql:query(C, <<"SELECT 1">>) || _ <- lists:seq(1, 3)],
        ok = libsql:close(C),
        ?assertEqual({error, timeout}, gen_tcp:accept(Plain, 200))
    after
        stop_server(V3),
        gen_tcp:close(Plain)
    end.

%% A server certificate signed by Root with these subjectAltNames; the
%% ssl options to serve it.
server_cert(Root, AltNames) ->
    San = #'Extension'{extnID = ?'id-ce-subjectAltName', critical = false, extnValue = AltNames},
    Client = public_key:pkix_test_root_cert("libsql test client CA", ?KEY_OPTS),
    #{server_config := ServerConf} =
        public_key:pkix_test_data(#{server_chain => #{root => Root, intermediates => [],
                                                      peer => [{extensions, [San]} | ?KEY_OPTS]},
                                    client_chain => #{root => Client, intermediates => [],
                                                      peer => ?KEY_OPTS}}),
    [{cert, proplists:get_value(cert, ServerConf)}, {key, proplists:get_value(key, ServerConf)}].

write_pem(Dir, Name, #{cert := Der}) ->
    File = filename:join(Dir, Name),
    ok = file:write_file(File, public_key:pem_encode([{'Certificate', Der, not_encrypted}])),
    File.

%%% ------------------------------------------------------------------------
%%% The HTTPS server: one request per connection
%%% ------------------------------------------------------------------------

start_server(SslOpts) ->
    start_server(SslOpts, v2).

%% Mode: v2 (GET /v3 is 404) or {v3, BaseUrl} (Hrana 3, every response
%% carrying that base_url).
start_server(SslOpts, Mode) ->
    {ok, LSock} = ssl:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}},
                                 {reuseaddr, true} | SslOpts]),
    {ok, {_, Port}} = ssl:sockname(LSock),
    Pid = spawn(fun() -> put(mode, Mode), accept_loop(LSock) end),
    ok = ssl:controlling_process(LSock, Pid),
    {ok, #{pid => Pid, port => Port, lsock => LSock}}.

stop_server(#{pid := Pid, lsock := LSock}) ->
    exit(Pid, kill),
    _ = ssl:close(LSock),
    ok.

accept_loop(LSock) ->
    case ssl:transport_accept(LSock) of
        {ok, T} ->
            Mode = get(mode),
            _ = spawn(fun() -> put(mode, Mode), serve(T) end),
            accept_loop(LSock);
        {error, closed} ->
            ok;
        {error, _} ->
            accept_loop(LSock)
    end.

%% A handshake the client refuses ends here: that is the point of most cases.
serve(T) ->
    case ssl:handshake(T, ?RECV_TIMEOUT) of
        {ok, S} ->
            _ = (catch handle(S, <<>>)),
            _ = ssl:close(S);
        {error, _} ->
            ok
    end.

handle(S, Buf) ->
    case binary:split(Buf, <<"\r\n\r\n">>) of
        [Head, Rest] ->
            [Line | HeaderLines] = binary:split(Head, <<"\r\n">>, [global]),
            [Method, Path | _] = binary:split(Line, <<" ">>, [global]),
            Len = content_length(HeaderLines),
            Body = read_body(S, Rest, Len),
            {Status, RespBody} = route(Method, Path, Body),
            ok = ssl:send(S, ["HTTP/1.1 ", integer_to_list(Status), " X\r\n",
                              "Content-Type: application/json\r\n",
                              "Content-Length: ", integer_to_list(byte_size(RespBody)), "\r\n",
                              "Connection: close\r\n\r\n", RespBody]);
        [_] ->
            {ok, More} = ssl:recv(S, 0, ?RECV_TIMEOUT),
            handle(S, <<Buf/binary, More/binary>>)
    end.

content_length(Lines) ->
    lists:foldl(fun(L, Acc) ->
                        case binary:split(L, <<":">>) of
                            [K, V] ->
                                case string:lowercase(string:trim(K)) of
                                    <<"content-length">> -> binary_to_integer(string:trim(V));
                                    _ -> Acc
                                end;
                            _ -> Acc
                        end
                end, 0, Lines).

read_body(_S, Buf, Len) when byte_size(Buf) >= Len ->
    binary:part(Buf, 0, Len);
read_body(S, Buf, Len) ->
    {ok, More} = ssl:recv(S, 0, ?RECV_TIMEOUT),
    read_body(S, <<Buf/binary, More/binary>>, Len).

route(Method, Path, Body) ->
    route(Method, Path, Body, get(mode)).

route(<<"GET">>, <<"/v3">>, _Body, {v3, _}) ->
    {200, <<"{}">>};
route(<<"POST">>, <<"/v3/pipeline">>, Body, {v3, BaseUrl}) ->
    {ok, #{<<"requests">> := Reqs}} = libsql_test_json:decode(Body),
    Results = [#{type => ok, response => response(R)} || R <- Reqs],
    {200, libsql_test_json:encode(#{baton => <<"b">>, base_url => BaseUrl, results => Results})};
route(<<"POST">>, <<"/v2/pipeline">>, Body, v2) ->
    {ok, #{<<"requests">> := Reqs}} = libsql_test_json:decode(Body),
    Results = [#{type => ok, response => response(R)} || R <- Reqs],
    {200, libsql_test_json:encode(#{baton => null, base_url => null, results => Results})};
route(_, _, _, _) ->
    {404, <<"{\"message\":\"not found\"}">>}.

response(#{<<"type">> := <<"execute">>, <<"stmt">> := Stmt}) ->
    #{type => execute, result => stmt_result(Stmt)};
response(#{<<"type">> := <<"get_autocommit">>}) ->
    #{type => get_autocommit, is_autocommit => true};
response(#{<<"type">> := <<"close">>}) ->
    #{type => close};
response(#{<<"type">> := <<"batch">>, <<"batch">> := #{<<"steps">> := Steps}}) ->
    Results = [stmt_result(Stmt) || #{<<"stmt">> := Stmt} <- Steps],
    #{type => batch, result => #{step_results => Results, step_errors => [null || _ <- Steps]}}.

%% The answers SELECT 1 and the client's probes need: one row of integers.
stmt_result(#{<<"sql">> := Sql}) ->
    {Cols, Row} = case Sql of
                      <<"SELECT total_changes()">> -> {[<<"total_changes()">>], [0]};
                      <<"SELECT changes()", _/binary>> -> {[<<"a">>, <<"b">>, <<"c">>], [0, 0, 0]};
                      _ -> {[<<"1">>], [1]}
                  end,
    #{cols => [#{name => N, decltype => null} || N <- Cols],
      rows => [[#{type => integer, value => integer_to_binary(V)} || V <- Row]],
      affected_row_count => 0, last_insert_rowid => null}.

%%% ------------------------------------------------------------------------
%%% Helpers
%%% ------------------------------------------------------------------------

%% The failure is the check we mean (not, say, a handshake that could not
%% agree on algorithms).
assert_message(#{message := Msg}, Part) ->
    ?assertNotEqual(nomatch, binary:match(Msg, Part), Msg).

url(Config, Server, Host) ->
    #{port := Port} = ?config(Server, Config),
    iolist_to_binary(["https://", Host, ":", integer_to_list(Port)]).

open_error(Url, Extra) ->
    {Us, Result} = timer:tc(fun() -> libsql:open(maps:merge(#{url => Url, connect_timeout => 5000},
                                                            Extra))
                            end),
    ?assert(Us < 5000000),
    case Result of
        {error, E} -> E;
        {ok, C} -> ok = libsql:close(C), ct:fail({opened_anyway, Url, Extra})
    end.
