%% Common Test suite: what only a remote connection has, against a REAL
%% server, tursodb 0.7.0 (`tursodb --sync-server', Hrana 2 over HTTP; see
%% /work/shared/protocols.md sections 1-2 and test/REMOTE_TESTING.md):
%% URLs and remote options at open, unreachable and silent servers, the
%% auth token kept out of every error and state, and a pool of remote
%% connections checked on the server.
%%
%% The API itself (types, statements, parameters, errors, batches,
%% execute_many, scripts, transactions, prepared statements, streaming,
%% connections) runs with the same case bodies against a local file and
%% this server in libsql_api_SUITE.
%%
%% The server has ONE shared database: each case uses tables named after
%% itself. libsql_tursodb:sql/2,3 (raw Hrana, not our client) checks the
%% server's state independently.
-module(libsql_remote_SUITE).

-include_lib("common_test/include/ct.hrl").

-import(libsql_test_util, [expect_error/2, timed/1, free_port/0]).
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).

%% pool
-export([pool_concurrent_inserts/1]).
%% open errors and secrets
-export([open_bad_url/1, open_bad_options/1, open_refused/1, open_silent_server/1,
         auth_token_hidden/1]).

-type config() :: [{atom(), term()}].

-define(TOKEN, "tok-SECRET-7f3a9c1e5b").

%% ---- CT callbacks ------------------------------------------------------

-spec suite() -> [tuple()].
suite() -> [{timetrap, {seconds, 120}}, {ct_hooks, [libsql_tursodb_cth]}].

-spec all() -> [{group, atom()}].
all() ->
    [{group, pool}, {group, open}].

-spec groups() -> [{atom(), list(), [atom()]}].
groups() ->
    [{pool, [], [pool_concurrent_inserts]},
     {open, [], [open_bad_url, open_bad_options, open_refused, open_silent_server,
                 auth_token_hidden]}].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    %% tursodb is started by libsql_tursodb_cth: {tursodb, _} and {url, _}.
    {ok, _} = application:ensure_all_started(libsql),
    Config.

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    ok.

-spec init_per_testcase(atom(), config()) -> config().
init_per_testcase(_Case, Config) ->
    {ok, _} = application:ensure_all_started(libsql),
    Config.

-spec end_per_testcase(atom(), config()) -> ok.
end_per_testcase(_Case, Config) ->
    %% Undo a query_only a failing case may have left on.
    _ = srv(Config, "PRAGMA query_only = 0"),
    %% Whatever a case did, the shared server must be back in autocommit:
    %% otherwise every later case would run inside its transaction.
    case server_in_autocommit(Config) of
        true -> ok;
        false ->
            _ = srv(Config, "ROLLBACK"),
            ct:fail(server_left_inside_a_transaction)
    end.

%% ---- pool ---------------------------------------------------------------------------

%% 8 processes x 200 inserts through a pool of 4: every row exactly once,
%% and each insert's last_insert_rowid is its own row's (the probes run in
%% the same request as the statement).
-spec pool_concurrent_inserts(config()) -> ok.
pool_concurrent_inserts(Config) ->
    Pool = libsql_remote_SUITE_pool,
    {ok, _} = libsql:start_pool(Pool, #{url => ?config(url, Config), size => 4}),
    try
        {ok, _} = libsql:execute(Pool, "CREATE TABLE pool_t(id INTEGER PRIMARY KEY, "
                                       "v INTEGER UNIQUE)"),
        Parent = self(),
        Procs = 8,
        Each = 200,
        Pids = [spawn_link(
                  fun() ->
                          Got = [begin
                                     V = P * 100000 + I,
                                     {ok, #{changes := 1, last_insert_rowid := Id}} =
                                         libsql:execute(Pool, "INSERT INTO pool_t(v) VALUES (?)",
                                                        [V]),
                                     {Id, V}
                                 end || I <- lists:seq(1, Each)],
                          Parent ! {done, self(), Got}
                  end) || P <- lists:seq(1, Procs)],
        Pairs = lists:append(
                  [receive {done, Pid, Got} -> Got after 100000 -> ct:fail({no_answer, Pid}) end
                   || Pid <- Pids]),
        Want = lists:sort([P * 100000 + I || P <- lists:seq(1, Procs), I <- lists:seq(1, Each)]),
        ?assertEqual(Want, lists:sort([V || {_, V} <- Pairs])),
        {ok, Server} = srv(Config, "SELECT id, v FROM pool_t ORDER BY id"),
        ?assertEqual(Procs * Each, length(Server)),
        ?assertEqual(Want, lists:sort([V || [_, V] <- Server])),
        %% The rowid each insert reported is the row it wrote.
        ?assertEqual(lists:sort([[Id, V] || {Id, V} <- Pairs]), Server),
        ?assertEqual({ok, [<<"n">>], [{Procs * Each}]},
                     libsql:query(Pool, "SELECT count(DISTINCT v) AS n FROM pool_t")),
        {ok, PS} = libsql:stats(Pool),
        ?assertEqual(4, maps:get(size, PS))
    after
        ok = libsql:stop_pool(Pool)
    end.

%% ---- open errors and secrets -------------------------------------------------------

-spec open_bad_url(config()) -> ok.
open_bad_url(Config) ->
    Url = ?config(url, Config),
    Port = integer_to_binary(maps:get(port, ?config(tursodb, Config))),
    lists:foreach(
      fun(U) ->
              {T, R} = timed(fun() -> libsql:open(#{url => U, connect_timeout => 2000}) end),
              expect_error(bad_argument, R),
              ?assert(T < 2000)
      end,
      [<<"ftp://127.0.0.1:", Port/binary>>, <<"127.0.0.1:", Port/binary>>,
       <<"file:///tmp/x.db">>, <<"http://">>,
       <<Url/binary, "?x=1">>, <<Url/binary, "/?authToken=abc">>, <<Url/binary, "#frag">>,
       <<"http://user:pw@127.0.0.1:", Port/binary>>, <<"">>, 42]),
    ok.

-spec open_bad_options(config()) -> ok.
open_bad_options(Config) ->
    Url = ?config(url, Config),
    [expect_error(bad_argument, libsql:open(O))
     || O <- [#{url => Url, path => ":memory:"},
              #{auth_token => <<?TOKEN>>},
              #{url => Url, read_only => true},
              #{url => Url, busy_timeout => 10},
              #{url => Url, auth_token => <<>>},
              #{url => Url, auth_token => 42},
              #{url => Url, connect_timeout => 0},
              #{url => Url, request_timeout => -1},
              #{path => ":memory:", connect_timeout => 100}]],
    %% A token next to a path is accepted and unused (one configuration can
    %% switch between a file and a server).
    {ok, L} = libsql:open(#{path => ":memory:", auth_token => <<?TOKEN>>}),
    ok = libsql:close(L).

%% Nothing listening: a network error, quickly (within connect_timeout).
-spec open_refused(config()) -> ok.
open_refused(_Config) ->
    Port = free_port(),
    Url = <<"http://127.0.0.1:", (integer_to_binary(Port))/binary>>,
    {T, R} = timed(fun() -> libsql:open(#{url => Url, connect_timeout => 1000}) end),
    E = expect_error(network, R),
    ct:pal("refused: ~p in ~b ms", [E, T]),
    ?assert(T < 1500),
    ?assert(byte_size(libsql:format_error(E)) > 0),
    ok.

%% Something that accepts and never answers: request_timeout bounds the
%% open.
-spec open_silent_server(config()) -> ok.
open_silent_server(_Config) ->
    {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}, {active, false}, {backlog, 16}]),
    {ok, Port} = inet:port(L),
    Url = <<"http://127.0.0.1:", (integer_to_binary(Port))/binary>>,
    try
        {T, R} = timed(fun() -> libsql:open(#{url => Url, connect_timeout => 1000,
                                              request_timeout => 500}) end),
        E = expect_error(timeout, R),
        ct:pal("silent server: ~p in ~b ms", [E, T]),
        ?assert(T >= 450 andalso T < 3000)
    after
        gen_tcp:close(L)
    end.

%% The token never shows in errors, in the connection's state or status,
%% nor in a pool's processes.
-spec auth_token_hidden(config()) -> ok.
auth_token_hidden(Config) ->
    Url = ?config(url, Config),
    %% tursodb ignores the token.
    {ok, C} = libsql:open(#{url => Url, auth_token => <<?TOKEN>>}),
    {ok, _, [{1}]} = libsql:query(C, "SELECT 1"),
    E1 = libsql:query(C, "SELECT * FROM auth_token_nosuch"),
    ?assertMatch({error, #{code := error}}, E1),
    E2 = libsql:query(C, "SELECT ?", [infinity]),
    ?assertMatch({error, #{code := bad_argument}}, E2),
    Terms = [E1, E2, libsql:info(C), libsql:stats(C), sys:get_state(C), sys:get_status(C),
             erlang:process_info(C, dictionary), libsql:format_error(E1)],
    [?assertEqual(false, holds_token(T)) || T <- Terms],
    ok = libsql:close(C),
    %% Failing opens (string token too).
    Refused = <<"http://127.0.0.1:", (integer_to_binary(free_port()))/binary>>,
    Errors = [libsql:open(#{url => Refused, auth_token => ?TOKEN}),
              libsql:open(#{url => <<Url/binary, "?x">>, auth_token => <<?TOKEN>>}),
              libsql:open(#{path => "/nonexistent-dir/x.db", create => false,
                            auth_token => <<?TOKEN>>}),
              libsql:open(#{url => Url, auth_token => <<?TOKEN>>, read_only => true}),
              libsql:start_pool(libsql_remote_SUITE_refused,
                                #{url => Refused, auth_token => <<?TOKEN>>, size => 1})],
    [?assertMatch({error, #{code := _}}, E) || E <- Errors],
    [?assertEqual(false, holds_token(E)) || E <- Errors],
    [?assertEqual(false, holds_token(libsql:format_error(E))) || E <- Errors],
    %% A pool with a token: none of its processes holds it in clear.
    Pool = libsql_remote_SUITE_token_pool,
    {ok, _} = libsql:start_pool(Pool, #{url => Url, auth_token => <<?TOKEN>>, size => 2}),
    try
        {ok, _, [{2}]} = libsql:query(Pool, "SELECT 2"),
        {ok, PoolSup} = libsql_pool:supervisor(Pool),
        Procs = all_children(PoolSup),
        ?assert(length(Procs) >= 3),
        [begin
             ?assertEqual(false, holds_token(sys:get_state(P))),
             ?assertEqual(false, holds_token(sys:get_status(P)))
         end || P <- [PoolSup | Procs]]
    after
        ok = libsql:stop_pool(Pool)
    end.

%% ---- helpers -----------------------------------------------------------------------

srv(Config, Sql) ->
    libsql_tursodb:sql(?config(url, Config), Sql).

%% The server is in autocommit when a BEGIN from another client succeeds.
server_in_autocommit(Config) ->
    case srv(Config, "BEGIN") of
        {ok, []} -> {ok, []} = srv(Config, "ROLLBACK"), true;
        {error, _} -> false
    end.

all_children(Sup) ->
    lists:append(
      [case Type of
           supervisor -> [P | all_children(P)];
           worker -> [P]
       end || {_, P, Type, _} <- supervisor:which_children(Sup), is_pid(P)]).

holds_token(Term) ->
    Bin = term_to_binary(Term),
    Text = iolist_to_binary(io_lib:format("~0tp", [Term])),
    binary:match(Bin, <<?TOKEN>>) =/= nomatch orelse binary:match(Text, <<?TOKEN>>) =/= nomatch.
