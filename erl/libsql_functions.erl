%% @private
%% @doc Erlang SQL functions (libsql:create_function/4,5,
%% libsql:create_aggregate/4,5, libsql:delete_function/3) and the
%% authorizer (libsql:set_authorizer/2,3): the arguments checked, then the
%% definition sent to the connection, or kept by a pool (for workers that
%% start later) and sent to each of its workers.
-module(libsql_functions).

-export([create/5, delete/3, authorizer/3, load_extension/3]).

%% SQLite's authorizer actions (port/auth_rules.c), as rules name them.
-define(ACTIONS, [create_index, create_table, create_temp_index, create_temp_table,
                  create_temp_trigger, create_temp_view, create_trigger, create_view, delete,
                  drop_index, drop_table, drop_temp_index, drop_temp_table, drop_temp_trigger,
                  drop_temp_view, drop_trigger, drop_view, insert, pragma, read, select,
                  transaction, update, attach, detach, alter_table, reindex, analyze,
                  create_vtable, drop_vtable, function, savepoint, recursive]).

%% SQLite's limit on an application function's arguments
%% (port/functions.h, LSQ_FN_MAX_ARITY).
-define(MAX_ARITY, 127).

%% @doc Define a scalar (Body a fun) or aggregate (Body {Init, Step,
%% Final}) function.
-spec create(term(), term(), term(), scalar | aggregate, term()) -> ok | {error, libsql:error()}.
create(Db, Name, Arity, Kind, {Body, Opts}) ->
    case check(Name, Arity, Kind, Body, Opts) of
        {ok, Spec, Flags} ->
            Def = {erlang:unique_integer([positive]), Spec, Flags},
            on_db(Db, {define_function, Def}, Opts,
                  fun(Conn, T) -> libsql_conn:define_function(Conn, Def, T) end);
        {error, _} = E ->
            E
    end.

%% @doc Remove the function Name of Arity (`ok' also when there is none).
-spec delete(term(), term(), term()) -> ok | {error, libsql:error()}.
delete(Db, Name0, Arity) ->
    case {name(Name0), arity(Arity)} of
        {{ok, Name}, ok} ->
            on_db(Db, {delete_function, Name, Arity}, #{},
                  fun(Conn, T) -> libsql_conn:delete_function(Conn, {Name, Arity}, T) end);
        {{error, _} = E, _} -> E;
        {_, {error, _} = E} -> E
    end.

%% @doc Load the extension in file Path (entry point EntryPoint, or
%% SQLite's default for undefined).
-spec load_extension(term(), term(), term()) -> ok | {error, libsql:error()}.
load_extension(Db, Path0, Entry0) ->
    case {libsql_opts:path(Path0), entry(Entry0)} of
        {{ok, Path}, {ok, Entry}} ->
            on_db(Db, {load_extension, Path, Entry}, #{},
                  fun(Conn, T) -> libsql_conn:load_extension(Conn, {Path, Entry}, T) end);
        {{error, _} = E, _} -> E;
        {_, {error, _} = E} -> E
    end.

entry(undefined) -> {ok, undefined};
entry(E) ->
    case name(E) of
        {ok, B} -> {ok, B};
        {error, _} ->
            {error, libsql_proto:err(bad_argument,
                                     io_lib:format("the entry point ~0tP must be undefined or "
                                                   "a name of 1 to 255 bytes", [E, 5]))}
    end.

%% @doc Authorize statements by Rules, and Fun for what no rule decides
%% (undefined: allowed).
-spec authorizer(term(), term(), term()) -> ok | {error, libsql:error()}.
authorizer(Db, Rules0, Fun) ->
    case {rules(Rules0, 1, []), Fun} of
        {{error, _} = E, _} -> E;
        {{ok, Rules}, _} when Fun =:= undefined; is_function(Fun, 4) ->
            on_db(Db, {set_authorizer, Rules, Fun}, #{},
                  fun(Conn, T) -> libsql_conn:set_authorizer(Conn, {Rules, Fun}, T) end);
        {_, _} ->
            {error, libsql_proto:err(bad_argument,
                                     io_lib:format("the authorizer fun must be a fun of arity 4 "
                                                   "(or undefined), not ~0tP", [Fun, 5]))}
    end.

rules([{Verdict, Action, Object, Detail} = R | Rest], N, Acc)
  when Verdict =:= deny; Verdict =:= ignore ->
    case {Action =:= '_' orelse lists:member(Action, ?ACTIONS), pattern(Object),
          pattern(Detail)} of
        {true, {ok, O}, {ok, D}} -> rules(Rest, N + 1, [{Verdict, Action, O, D} | Acc]);
        _ -> bad_rule(N, R)
    end;
rules([], _, Acc) ->
    {ok, lists:reverse(Acc)};
rules([R | _], N, _) ->
    bad_rule(N, R);
rules(Other, _, _) ->
    {error, libsql_proto:err(bad_argument,
                             io_lib:format("authorizer rules must be a list, not ~0tP",
                                           [Other, 5]))}.

pattern('_') -> {ok, '_'};
pattern(Name) ->
    case name(Name) of
        {ok, B} -> {ok, B};
        {error, _} -> error
    end.

bad_rule(N, R) ->
    {error, libsql_proto:err(bad_argument,
                             io_lib:format("authorizer rule ~b, ~0tP, is not {deny | ignore, "
                                           "Action, Object, Detail} (Action one of SQLite's "
                                           "authorizer actions or '_', Object and Detail names "
                                           "or '_')", [N, R, 8]),
                             #{rule => N})}.

%% A pool keeps the change for the workers that start later and names
%% those running now; each gets it here, so that an error reaches the
%% caller. A pinned connection of a pool counts as the pool.
on_db(Db, PoolMsg, Opts, OnConn) ->
    T = maps:get(timeout, Opts, default),
    Target = case libsql_pool:lookup(Db) of
                 {ok, Pool} -> {pool, Pool};
                 error -> libsql_route:target(Db)
             end,
    case Target of
        {conn, Conn} -> OnConn(Conn, T);
        {pool, P} ->
            case libsql_pool:functions(P, PoolMsg) of
                {ok, Workers} ->
                    case all_ok([OnConn(W, T) || W <- Workers]) of
                        ok -> ok;
                        {error, _} = E ->
                            %% What the workers refuse (a remote pool's, a
                            %% replica pool's rules) is not kept for later.
                            _ = libsql_pool:functions(P, {forget, PoolMsg}),
                            E
                    end;
                {error, _} = E -> E
            end;
        {error, _} = E -> E
    end.

%% A worker that closed meanwhile is no error: it gets the function from
%% the pool when it starts again.
all_ok([ok | Rest]) -> all_ok(Rest);
all_ok([{error, #{code := closed}} | Rest]) -> all_ok(Rest);
all_ok([{error, _} = E | _]) -> E;
all_ok([]) -> ok.

check(Name0, Arity, Kind, Body, Opts) ->
    maybe([fun() -> name(Name0) end,
           fun(Name) -> case arity(Arity) of ok -> {ok, Name}; E -> E end end,
           fun(Name) -> case body(Kind, Arity, Body) of ok -> {ok, Name}; E -> E end end,
           fun(Name) ->
                   case flags(Kind, Opts) of
                       {ok, Flags} -> {ok, {Name, Kind, Arity, Body}, Flags};
                       E -> E
                   end
           end]).

%% Each check in turn, each given what the one before found.
maybe([F | Rest]) ->
    case F() of
        {ok, V} -> maybe(Rest, V);
        E -> E
    end.

maybe([], Result) -> Result;
maybe([F], V) -> F(V);
maybe([F | Rest], V) ->
    case F(V) of
        {ok, V1} -> maybe(Rest, V1);
        E -> E
    end.

name(A) when is_atom(A) -> name(atom_to_binary(A, utf8));
name(L) when is_list(L) ->
    try unicode:characters_to_binary(L) of
        B when is_binary(B) -> name(B);
        _ -> bad_name(L)
    catch
        error:_ -> bad_name(L)
    end;
name(B) when is_binary(B), byte_size(B) >= 1, byte_size(B) =< 255 ->
    case binary:match(B, <<0>>) of
        nomatch -> {ok, B};
        _ -> bad_name(B)
    end;
name(Other) -> bad_name(Other).

bad_name(N) ->
    {error, libsql_proto:err(bad_argument,
                             io_lib:format("function name ~0tP must be an atom, a string or "
                                           "a binary of 1 to 255 bytes without NUL", [N, 5]))}.

arity(A) when is_integer(A), A >= -1, A =< ?MAX_ARITY -> ok;
arity(A) ->
    {error, libsql_proto:err(bad_argument,
                             io_lib:format("arity ~0tP must be -1 (any number of arguments) or "
                                           "0..~b", [A, 5, ?MAX_ARITY]))}.

%% A scalar function takes the arguments (one list when variadic); an
%% aggregate's step takes them and the accumulator, its final the
%% accumulator.
body(scalar, Arity, Fun) ->
    need_fun(Fun, fun_arity(Arity, 0), "the function");
body(aggregate, Arity, {_Init, Step, Final}) ->
    case need_fun(Step, fun_arity(Arity, 1), "the step fun") of
        ok -> need_fun(Final, 1, "the final fun");
        E -> E
    end;
body(aggregate, _, Other) ->
    {error, libsql_proto:err(bad_argument,
                             io_lib:format("an aggregate is {Init, StepFun, FinalFun}, not ~0tP",
                                           [Other, 5]))}.

fun_arity(-1, Extra) -> 1 + Extra;
fun_arity(Arity, Extra) -> Arity + Extra.

need_fun(F, N, _What) when is_function(F, N) -> ok;
need_fun(F, N, What) ->
    {error, libsql_proto:err(bad_argument,
                             io_lib:format("~s must be a fun of arity ~b, not ~0tP",
                                           [What, N, F, 5]))}.

flags(Kind, Opts) when is_map(Opts) ->
    case {maps:get(deterministic, Opts, false), maps:keys(maps:without([deterministic, timeout],
                                                                       Opts))} of
        {_, [K | _]} ->
            {error, libsql_proto:err(bad_argument,
                                     io_lib:format("unknown option ~0tP (deterministic, "
                                                   "timeout)", [K, 5]), #{option => K})};
        {D, []} when is_boolean(D) ->
            case libsql_opts:is_timeout(maps:get(timeout, Opts, infinity)) of
                true ->
                    {ok, [aggregate || Kind =:= aggregate] ++ [deterministic || D]};
                false ->
                    {error, libsql_proto:err(bad_argument, <<"timeout must be infinity or an "
                                                             "integer 0..4294967295 (ms)">>,
                                             #{option => timeout})}
            end;
        {D, []} ->
            {error, libsql_proto:err(bad_argument,
                                     io_lib:format("deterministic must be a boolean, not ~0tP",
                                                   [D, 5]), #{option => deterministic})}
    end;
flags(_, Opts) ->
    {error, libsql_proto:err(bad_argument,
                             io_lib:format("options must be a map, not ~0tP", [Opts, 5]))}.
