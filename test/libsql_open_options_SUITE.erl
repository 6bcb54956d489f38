%% Common Test suite: the options of `open' have one table,
%% port/open_options.h (name, type, default, range, secret), which the
%% port's decoder is built from. The Erlang side cannot include it, so
%% this suite checks everything else against it:
%%
%%  * every option of the table is accepted by libsql_opts and forwarded to
%%    the port, and libsql_opts forwards nothing the table does not have;
%%  * the ranges agree: the table's bounds are accepted, one past them is
%%    bad_argument naming the option (booleans, the null atoms, strings
%%    likewise);
%%  * the port itself takes the bounds of the options that apply to a file
%%    (a real open of a real port program);
%%  * the documentation of libsql:open/1 states each range and default as
%%    the table has it.
-module(libsql_open_options_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([table_parsed/1, every_option_forwarded/1, nothing_else_forwarded/1,
         ranges_agree/1, port_takes_bounds/1, docs_state_table/1]).

-type config() :: [{atom(), term()}].

%% Options that need a server (url), those of an embedded replica (path
%% and url); the rest are given with a path.
-define(URL_ONLY, [url, auth_token, ca_file, connect_timeout, request_timeout]).
-define(REPLICA_ONLY, [sync_interval, read_your_writes, sync_timeout]).

-spec all() -> [atom()].
all() -> [table_parsed, every_option_forwarded, nothing_else_forwarded, ranges_agree,
          port_takes_bounds, docs_state_table].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    {ok, _} = application:ensure_all_started(libsql),
    Top = filename:dirname(filename:dirname(code:which(libsql))),
    Root = case filelib:is_regular(filename:join(Top, "port/open_options.h")) of
               true -> Top;
               false -> filename:absname(filename:join([Top, "..", "..", "..", ".."]))
           end,
    [{root, Root}, {table, table(Root)} | Config].

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    ok.

%% The table: [{Name, Type, Props}] from the LSQ_OPT_* lines.
table(Root) ->
    {ok, Bin} = file:read_file(filename:join(Root, "port/open_options.h")),
    {match, Lines} = re:run(Bin, "^LSQ_OPT_(STRING|BYTES|INT|BOOL|NULL)\\(([^)]*)\\)\\s*$",
                            [multiline, global, {capture, all_but_first, list}]),
    [entry(Type, [string:trim(A) || A <- string:split(Args, ",", all)])
     || [Type, Args] <- Lines].

entry("STRING", [N, _Field, Secret]) -> {list_to_atom(N), string, #{secret => Secret =:= "1"}};
entry("BYTES", [N, _Field, Secret]) -> {list_to_atom(N), bytes, #{secret => Secret =:= "1"}};
entry("INT", [N, _Field, D, Min, Max]) ->
    {list_to_atom(N), int, #{default => list_to_integer(D), min => list_to_integer(Min),
                             max => list_to_integer(Max)}};
entry("BOOL", [N, _Field, D]) -> {list_to_atom(N), bool, #{default => D =:= "1"}};
entry("NULL", [N, _Field]) -> {list_to_atom(N), null, #{default => null}}.

%% The parse found the table (a change of its syntax must not silently
%% leave the checks below with nothing to check).
-spec table_parsed(config()) -> ok.
table_parsed(Config) ->
    T = ?config(table, Config),
    ?assert(length(T) >= 12),
    [?assert(lists:keymember(K, 1, T)) || K <- [path, url, auth_token, busy_timeout, null]],
    ?assertMatch({auth_token, string, #{secret := true}}, lists:keyfind(auth_token, 1, T)),
    ok.

%% A good value of each option, and the base a target needs.
good({_, string, _}) -> <<"x.pem">>;
good({_, bytes, _}) -> <<0, "key">>;
good({_, int, #{default := D}}) -> D;
good({_, bool, #{default := D}}) -> D;
good({_, null, _}) -> nil.

base(K) ->
    case {lists:member(K, ?URL_ONLY), lists:member(K, ?REPLICA_ONLY)} of
        {true, _} -> #{url => <<"http://127.0.0.1:1">>};
        {_, true} -> #{path => <<"x.db">>, url => <<"http://127.0.0.1:1">>};
        _ -> #{path => <<"x.db">>}
    end.

port_opts(Opts) ->
    {ok, #{port_opts := P}} = libsql_opts:conn(Opts),
    P.

-spec every_option_forwarded(config()) -> ok.
every_option_forwarded(Config) ->
    [begin
         Opts = maps:put(K, good(E), base(K)),
         ?assert(lists:keymember(K, 1, port_opts(Opts)), K)
     end || {K, _, _} = E <- ?config(table, Config), K =/= path],
    ok.

%% Everything libsql_opts takes, the table's options and every other
%% option open/1 documents, for a file and for a server: what it sends the
%% port is all in the table (an option known only to Erlang would be
%% refused by the port at every open).
-spec nothing_else_forwarded(config()) -> ok.
nothing_else_forwarded(Config) ->
    T = ?config(table, Config),
    Names = [K || {K, _, _} <- T],
    Documented = documented_keys(?config(root, Config)),
    ?assert(length(Documented) > length(T)),
    Sample = fun(K) ->
                     case lists:keyfind(K, 1, T) of
                         {_, _, _} = E -> good(E);
                         false -> maps:get(K, #{timeout => 1000, max_frame => 4096,
                                                spin_us => 0, port_executable => "x",
                                                cancel_timeout => 100, extensions => [],
                                                transport => port})
                     end
             end,
    [begin
         Opts = maps:from_list([{K, Sample(K)} || K <- Documented, K =/= path, K =/= url,
                                                  base(K) =:= Target orelse
                                                  not lists:member(K, Names)]),
         Sent = [K || {K, _} <- port_opts(maps:merge(Opts, Target))],
         ?assertEqual([], Sent -- Names),
         %% and every documented option was taken (none silently dropped)
         ?assertEqual([], [K || K <- maps:keys(Opts), lists:member(K, Names),
                                not lists:member(K, Sent)])
     end || Target <- [base(path), base(url), base(sync_interval)]],
    ok.

%% The keys open/1's documentation lists (`<li>`key'...').
documented_keys(Root) ->
    Doc = open_doc(Root),
    {match, Keys} = re:run(Doc, "%% <li>`([a-z_]+)'", [global, {capture, all_but_first, list}]),
    lists:usort([list_to_atom(K) || [K] <- Keys]).

-spec ranges_agree(config()) -> ok.
ranges_agree(Config) ->
    [check_range(E) || E <- ?config(table, Config)],
    ok.

check_range({K, Type, Props} = E) ->
    {Good, Bad} = case Type of
                      int -> #{min := Min, max := Max} = Props,
                             {[Min, Max], [Min - 1, Max + 1, 1.5, foo]};
                      bool -> {[true, false], [1, yes]};
                      null -> {[null, nil, undefined], [none, 0]};
                      string -> {[good(E)], [42, {x}]};
                      bytes -> {[good(E)], [42, {x}, <<>>]}
                  end,
    [?assertMatch({{ok, _}, K, V}, {libsql_opts:conn(maps:put(K, V, base(K))), K, V})
     || V <- Good, K =/= path, K =/= url],
    [?assertMatch({{error, #{code := bad_argument, option := K}}, K, V},
                  {libsql_opts:conn(maps:put(K, V, base(K))), K, V})
     || V <- Bad].

%% The port takes the table's bounds of the options that apply to a file
%% (the Erlang side sends them as they are).
-spec port_takes_bounds(config()) -> ok.
port_takes_bounds(Config) ->
    Ints = [E || {K, int, _} = E <- ?config(table, Config), not lists:member(K, ?URL_ONLY),
                 not lists:member(K, ?REPLICA_ONLY)],
    ?assertNotEqual([], Ints),
    [begin
         {ok, C} = libsql:open(#{path => ":memory:", K => V}),
         ?assertEqual({ok, [<<"1">>], [{1}]}, libsql:query(C, "SELECT 1")),
         ok = libsql:close(C)
     end || {K, int, #{min := Min, max := Max}} <- Ints, V <- [Min, Max],
            %% a result cap of 1 KiB still answers SELECT 1
            true],
    ok.

%% The open/1 documentation says each option's range and default.
-spec docs_state_table(config()) -> ok.
docs_state_table(Config) ->
    Doc = open_doc(?config(root, Config)),
    Items = binary:split(Doc, <<"%% <li>">>, [global]),
    Item = fun(K) ->
                   Key = <<"`", (atom_to_binary(K, utf8))/binary, "'">>,
                   case [I || I <- Items, binary:match(I, Key) =:= {0, byte_size(Key)}] of
                       [I | _] -> binary:replace(I, [<<"%%">>, <<"\n">>], <<" ">>, [global]);
                       [] -> ct:fail({not_documented, K})
                   end
           end,
    [begin
         I = Item(K),
         Expect = case Type of
                      int -> [range(Props), default(Props)];
                      bool -> [default(Props)];
                      _ -> []
                  end,
         [?assertNotEqual({K, nomatch}, {K, binary:match(squash(I), E)}) || E <- Expect]
     end || {K, Type, Props} <- ?config(table, Config)],
    ok.

%% The text of open/1's @doc (from its first line to its spec).
open_doc(Root) ->
    {ok, Src} = file:read_file(filename:join(Root, "erl/libsql.erl")),
    [Before | _] = binary:split(Src, <<"-spec open(">>),
    [_, Doc] = binary:split(Before, <<"%% @doc Open a connection">>),
    Doc.

range(#{min := Min, max := Max}) ->
    iolist_to_binary([integer_to_list(Min), "..", integer_to_list(Max)]).

default(#{default := D}) when is_integer(D) -> iolist_to_binary(["default ", integer_to_list(D)]);
default(#{default := D}) when is_boolean(D) -> iolist_to_binary(["default ", atom_to_list(D)]).

%% Runs of spaces as one (the doc text is wrapped over comment lines).
squash(Bin) ->
    re:replace(Bin, "\\s+", " ", [global, {return, binary}]).
