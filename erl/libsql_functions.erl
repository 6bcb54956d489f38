%% @private
%% @doc Erlang SQL functions (libsql:create_function/4,5,
%% libsql:create_aggregate/4,5, libsql:delete_function/3): the arguments
%% checked, then the definition sent to the connection, or kept by a pool
%% (for workers that start later) and sent to each of its workers.
-module(libsql_functions).

-export([create/5, delete/3]).

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
                {ok, Workers} -> all_ok([OnConn(W, T) || W <- Workers]);
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
