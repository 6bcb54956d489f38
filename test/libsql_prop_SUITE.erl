%% Common Test suite: PropEr properties of value binding and round trips.
%%
%% (a) random values bound positionally to "SELECT ?, ?, ..." come back exactly;
%% (b) the same values stored in an untyped column come back exactly, with the
%%     right typeof();
%% (c) random named-parameter maps (atom, binary and prefixed binary keys)
%%     bound to "SELECT :n1, @n2, $n3 ..." come back exactly;
%% (d) integers outside int64 are always bad_argument, name their parameter,
%%     and never reach the connection process.
%%
%% Floats are compared by bit pattern, so -0.0 vs 0.0 is caught.
%% Tests per property: 300, or $LIBSQL_PROPER_NUMTESTS.
%%
%% The PropEr API is called directly (proper:forall/2, proper_types:bind/3)
%% rather than through the macros of proper/include/proper.hrl: Debian's
%% erlang-proper ships no include/ directory (the header is in
%% erlang-proper-dev), and this way the suite builds wherever erlang-proper
%% is installed.
-module(libsql_prop_SUITE).

-include_lib("common_test/include/ct.hrl").

-import(libsql_test_util, [db_path/2, canon/1]).

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([prop_select_roundtrip/1, prop_table_roundtrip/1, prop_named_roundtrip/1,
         prop_int_out_of_range/1]).

-type config() :: [{atom(), term()}].

-define(INT64_MIN, -9223372036854775808).
-define(INT64_MAX, 9223372036854775807).
-define(DEFAULT_NUMTESTS, 300).

%% ---- CT callbacks ------------------------------------------------------

-spec suite() -> [tuple()].
suite() -> [{timetrap, {seconds, 120}}].

-spec all() -> [atom()].
all() ->
    [prop_select_roundtrip, prop_table_roundtrip, prop_named_roundtrip,
     prop_int_out_of_range].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    libsql_test_util:init_per_suite(?MODULE, Config).

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    ok.

%% ---- cases -----------------------------------------------------------------

-spec prop_select_roundtrip(config()) -> ok.
prop_select_roundtrip(_Config) ->
    C = mem(),
    run(select_roundtrip,
        proper:forall(
          proper_types:non_empty(proper_types:list(value())),
          fun(Pairs) ->
                  {Ins, Exps} = lists:unzip(Pairs),
                  N = length(Ins),
                  Sql = ["SELECT ", lists:join(", ", lists:duplicate(N, "?"))],
                  Expected = {ok, lists:duplicate(N, <<"?">>), [list_to_tuple(Exps)]},
                  check(Expected, libsql:query(C, Sql, Ins), Ins)
          end)),
    ok = libsql:close(C).

-spec prop_table_roundtrip(config()) -> ok.
prop_table_roundtrip(Config) ->
    {ok, C} = libsql:open(#{path => db_path(Config, "prop.db")}),
    {ok, _} = libsql:execute(C, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)"),
    run(table_roundtrip,
        proper:forall(
          proper_types:non_empty(proper_types:list(value())),
          fun(Pairs) ->
                  {Ins, Exps} = lists:unzip(Pairs),
                  N = length(Ins),
                  {ok, _} = libsql:execute(C, "DELETE FROM t"),
                  Insert = ["INSERT INTO t(v) VALUES ", lists:join(", ", lists:duplicate(N, "(?)"))],
                  Inserted = libsql:execute(C, Insert, Ins),
                  Rows = libsql:query(C, "SELECT v, typeof(v) FROM t ORDER BY id"),
                  check({{ok, #{changes => N, last_insert_rowid => N}},
                         {ok, [<<"v">>, <<"typeof(v)">>], [{E, type_of(E)} || E <- Exps]}},
                        {Inserted, Rows}, Ins)
          end)),
    ok = libsql:close(C).

-spec prop_named_roundtrip(config()) -> ok.
prop_named_roundtrip(_Config) ->
    C = mem(),
    run(named_roundtrip,
        proper:forall(
          named_entries(),
          fun(Entries) ->
                  Sql = unicode:characters_to_binary(
                          ["SELECT ", lists:join(", ", [[P, N] || {N, P, _, _} <- Entries])]),
                  Params = maps:from_list([{key(N, P, Style), In}
                                           || {N, P, Style, {In, _}} <- Entries]),
                  Columns = [unicode:characters_to_binary([P, N]) || {N, P, _, _} <- Entries],
                  Row = list_to_tuple([Exp || {_, _, _, {_, Exp}} <- Entries]),
                  check({ok, Columns, [Row]}, libsql:query(C, Sql, Params), {Sql, Params})
          end)),
    ok = libsql:close(C).

-spec prop_int_out_of_range(config()) -> ok.
prop_int_out_of_range(_Config) ->
    %% The check watches the connection process's mailbox: transport port,
    %% where every request passes through it (with transport nif a valid
    %% query may bypass it, which is the point of that transport).
    {ok, C} = libsql:open(#{path => ":memory:", transport => port}),
    %% Positive control for the tracing below: a valid query is seen.
    {{ok, _, [{1}]}, Seen} = traced(C, fun() -> libsql:query(C, "SELECT ?", [1]) end),
    true = lists:any(fun is_call/1, Seen),
    run(int_out_of_range,
        proper:forall(
          {proper_types:list(value()), bad_int(), proper_types:list(value()),
           proper_types:boolean()},
          fun({Before, Bad, After, Named}) ->
                  Pos = length(Before) + 1,
                  Ins = [I || {I, _} <- Before] ++ [Bad] ++ [I || {I, _} <- After],
                  {Sql, Params, Which} =
                      case Named of
                          false ->
                              {["SELECT ", lists:join(", ", lists:duplicate(length(Ins), "?"))],
                               Ins, integer_to_binary(Pos)};
                          true ->
                              Names = [<<"p", (integer_to_binary(K))/binary>>
                                           || K <- lists:seq(1, length(Ins))],
                              {["SELECT ", lists:join(", ", [[":", Nm] || Nm <- Names])],
                               maps:from_list(lists:zip(Names, Ins)),
                               <<"p", (integer_to_binary(Pos))/binary>>}
                      end,
                  {Result, Msgs} = traced(C, fun() -> libsql:query(C, Sql, Params) end),
                  Ok = case Result of
                           {error, #{code := bad_argument, parameter := Which,
                                     message := Msg}} ->
                               binary:match(Msg, <<"parameter ", Which/binary>>) =/= nomatch;
                           _ ->
                               false
                       end,
                  Calls = lists:filter(fun is_call/1, Msgs),
                  case Ok andalso Calls =:= [] of
                      true -> true;
                      false ->
                          io:format(user, "~nbad int ~p at ~s: got ~p~nrequests seen: ~p~n",
                                    [Bad, Which, Result, Calls]),
                          false
                  end
          end)),
    %% The connection is untouched and works.
    {ok, _, [{2}]} = libsql:query(C, "SELECT 1 + 1"),
    ok = libsql:close(C).

%% ---- generators ----------------------------------------------------------------

%% {Input, ExpectedOutput}
value() ->
    proper_types:frequency(
      [{1, proper_types:elements([{null, null}, {undefined, null}])},
       {5, let_(int64(), fun(I) -> {I, I} end)},
       {5, let_(float64(), fun(F) -> {F, F} end)},
       {3, let_(proper_types:binary(), fun(B) -> {B, B} end)},
       {3, let_(proper_unicode:utf8(), fun(S) -> {S, S} end)},
       {3, let_(proper_types:binary(), fun(B) -> {{blob, B}, {blob, B}} end)},
       {1, proper_types:elements([{infinity, infinity}, {neg_infinity, neg_infinity},
                                  {true, 1}, {false, 0}, {<<>>, <<>>},
                                  {{blob, <<>>}, {blob, <<>>}}])},
       {1, let_(proper_unicode:utf8(), fun(S) -> {{text, [S]}, S} end)}]).

int64() ->
    proper_types:frequency(
      [{5, let_({proper_types:integer(0, 16#FFFFFFFF), proper_types:integer(0, 16#FFFFFFFF)},
                fun({Hi, Lo}) -> <<I:64/signed>> = <<Hi:32, Lo:32>>, I end)},
       {3, proper_types:integer()},
       {2, proper_types:elements([?INT64_MIN, ?INT64_MAX, ?INT64_MIN + 1, ?INT64_MAX - 1,
                                  0, -1, 1, 255, 256, 1 bsl 31, -(1 bsl 31), (1 bsl 31) - 1,
                                  1 bsl 32, (1 bsl 53) + 1, -(1 bsl 53) - 1])}]).

float64() ->
    proper_types:frequency(
      [{4, let_({proper_types:integer(0, 16#FFFFFFFF), proper_types:integer(0, 16#FFFFFFFF)},
                fun({Hi, Lo}) ->
                        %% Every bit pattern but NaN and the infinities.
                        case <<Hi:32, Lo:32>> of
                            <<F:64/float>> -> F;
                            _ -> 1.5
                        end
                end)},
       {3, proper_types:float()},
       {2, proper_types:elements([neg_zero(), 0.0, 1.0e308, -1.0e308, 5.0e-324, -5.0e-324,
                                  2.2250738585072014e-308, 2.225073858507201e-308,
                                  1.7976931348623157e308, -1.7976931348623157e308,
                                  0.1, -0.1, 1.0, -1.0, 9007199254740993.0])}]).

%% Out of int64, on either side, near and far.
bad_int() ->
    proper_types:oneof(
      [let_(proper_types:non_neg_integer(), fun(N) -> (1 bsl 63) + N end),
       let_(proper_types:non_neg_integer(), fun(N) -> -(1 bsl 63) - 1 - N end),
       let_(proper_types:integer(64, 1000), fun(E) -> 1 bsl E end),
       let_(proper_types:integer(64, 1000), fun(E) -> -(1 bsl E) end),
       let_(proper_types:largeint(),
            fun(I) when I >= 0 -> I + (1 bsl 63);
               (I) -> I - (1 bsl 63) - 1
            end)]).

%% [{Name, Prefix, KeyStyle, {Input, Expected}}] with distinct names.
named_entries() ->
    let_(proper_types:non_empty(
           proper_types:list({ident(), proper_types:elements([":", "@", "$"]),
                              proper_types:elements([atom, binary, prefixed]), value()})),
         fun(Entries) -> dedupe(Entries, #{}) end).

ident() ->
    First = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_",
    Rest = First ++ "0123456789" ++ [233, 252, 16#4E2D],
    let_({proper_types:elements(First), proper_types:list(proper_types:elements(Rest))},
         fun({H, T}) -> [H | lists:sublist(T, 12)] end).

dedupe([], _Seen) -> [];
dedupe([{Name, _, _, _} = E | Rest], Seen) ->
    case maps:is_key(Name, Seen) of
        true -> dedupe(Rest, Seen);
        false -> [E | dedupe(Rest, Seen#{Name => true})]
    end.

key(Name, _Prefix, atom) -> list_to_atom(Name);
key(Name, _Prefix, binary) -> unicode:characters_to_binary(Name);
key(Name, Prefix, prefixed) -> unicode:characters_to_binary([Prefix, Name]).

let_(Gen, Fun) ->
    proper_types:bind(Gen, Fun, false).

%% ---- helpers ---------------------------------------------------------------

numtests() ->
    case os:getenv("LIBSQL_PROPER_NUMTESTS") of
        false -> ?DEFAULT_NUMTESTS;
        "" -> ?DEFAULT_NUMTESTS;
        S -> list_to_integer(S)
    end.

run(Name, Prop) ->
    N = numtests(),
    {Micros, Result} =
        timer:tc(fun() ->
                         proper:quickcheck(Prop, [{numtests, N}, {to_file, user}, long_result])
                 end),
    ct:log("~p: ~b tests in ~b ms: ~p", [Name, N, Micros div 1000, Result]),
    case Result of
        true -> ok;
        Other -> ct:fail({property_failed, Name, Other})
    end.

check(Expected, Got, Input) ->
    case canon(Expected) =:= canon(Got) of
        true ->
            true;
        false ->
            io:format(user, "~ninput:    ~0P~nexpected: ~0P~ngot:      ~0P~n",
                      [Input, 60, Expected, 60, Got, 60]),
            false
    end.

type_of(null) -> <<"null">>;
type_of(I) when is_integer(I) -> <<"integer">>;
type_of(F) when is_float(F) -> <<"real">>;
type_of(infinity) -> <<"real">>;
type_of(neg_infinity) -> <<"real">>;
type_of(B) when is_binary(B) -> <<"text">>;
type_of({blob, _}) -> <<"blob">>.

%% Run Fun while tracing what the connection process receives; return
%% {Result, Messages}.
traced(Conn, Fun) ->
    1 = erlang:trace(Conn, true, ['receive', {tracer, self()}]),
    Result = Fun(),
    1 = erlang:trace(Conn, false, ['receive']),
    Ref = erlang:trace_delivered(Conn),
    receive {trace_delivered, Conn, Ref} -> ok end,
    {Result, flush_trace(Conn)}.

%% A call reaches a connection process as gen_server's or, for requests,
%% libsql_callback's.
is_call(Msg) ->
    is_tuple(Msg) andalso (element(1, Msg) =:= '$gen_call' orelse element(1, Msg) =:= libsql_call).

flush_trace(Conn) ->
    receive
        {trace, Conn, 'receive', Msg} -> [Msg | flush_trace(Conn)]
    after 0 -> []
    end.

mem() ->
    {ok, C} = libsql:open(#{path => ":memory:"}),
    C.

neg_zero() ->
    <<F:64/float>> = <<1:1, 0:63>>,
    F.
