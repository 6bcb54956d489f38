%% @doc Helpers that build libSQL's vector SQL safely: vector values (as
%% SQL text or as blobs to bind), the declared type of a vector column,
%% `CREATE INDEX ... libsql_vector_idx(...)' statements, distance
%% expressions and `vector_top_k' queries. Nothing here runs SQL: each
%% function returns SQL text, or a fragment `{Sql, Params}' whose `?'
%% placeholders take Params in order, for {@link libsql:query/3} and the
%% like. Every name spliced into SQL is quoted with
%% {@link libsql_pragma:quote_ident/1}; every value is either checked
%% numbers or a bound parameter.
%%
%% Vector types, as libSQL names them: `f32' (FLOAT32, `vector32', the
%% default), `f64' (FLOAT64), `f16' (FLOAT16), `bf16' (FLOATB16), `f8'
%% (FLOAT8) and `1bit' (FLOAT1BIT; the atom is written '1bit'). A vector is a list of numbers
%% (at most 65536); as an operand it may also be `{Type, Numbers}'.
%% Numbers must be finite in the type libSQL parses them as: float32
%% for every type but `f64' (so `1.0e39' is refused in an `f32' vector).
%%
%% Example, for a table `docs(id INTEGER PRIMARY KEY, e F32_BLOB(3))':
%% ```
%% {ok, Idx} = libsql_vector:create_index(docs_idx, docs, e, #{metric => cos}),
%% {ok, _} = libsql:execute(Db, Idx, []),
%% {ok, V} = libsql_vector:encode([1, 2, 3], f32),
%% {ok, _} = libsql:execute(Db, <<"INSERT INTO docs VALUES (1, ?)">>, [V]),
%% {ok, {Sql, Params}} = libsql_vector:top_k(docs_idx, [1, 2, 3], 10),
%% {ok, [<<"id">>], Rows} = libsql:query(Db, Sql, Params).
%% '''
%%
%% Errors: `{error, #{code := bad_argument, message := Why}}' for anything
%% that does not fit (an unknown type or option, a non-number, NaN or
%% infinity, a bad name), before any SQL exists.
-module(libsql_vector).

-export([vector/1, vector/2, text/1, encode/2, decode/1, column_type/2,
         create_index/4, distance/3, top_k/3, top_k/4]).

-export_type([type/0, operand/0, fragment/0, index_opts/0]).

-type type() :: f32 | f64 | f16 | bf16 | f8 | '1bit'.
%% A libSQL vector type (see the module doc).
-type operand() :: column() | [number()] | {type(), [number()]}.
%% A column (`Name' or `{Table, Name}', each an atom or a binary) or a
%% vector (a list of numbers is an `f32' vector).
-type column() :: atom() | binary() | {atom() | binary(), atom() | binary()}.
%% A column name, optionally with its table.
-type fragment() :: {Sql :: binary(), Params :: [libsql:value()]}.
%% SQL text whose `?' placeholders take Params, in order.
-type index_opts() :: #{metric => cos | cosine | l2,
                        compress_neighbors => float1bit | float8 | float16 | floatb16 | float32
                                            | type(),
                        max_neighbors => pos_integer(), search_l => pos_integer(),
                        insert_l => pos_integer(), alpha => number(), type => diskann,
                        if_not_exists => boolean()}.
%% Options of create_index/4.
-type error() :: {error, libsql:error()}.
%% `bad_argument' (see the module doc).

-define(MAX_DIMS, 65536).
-define(MAX_INT_OPT, 16#7fffffff).

%% @doc As vector/2 with type `f32': `{ok, <<"vector32('[1,2.5]')">>}'.
%% Errors: `bad_argument' (see vector/2).
-spec vector([number()]) -> {ok, binary()} | error().
vector(Values) -> vector(Values, f32).

%% @doc A vector as an SQL expression to splice into SQL text:
%% `{ok, Sql}' with Sql the type's constructor applied to a literal, such
%% as `vector32('[1,2.5]')' or `vector16('[0.1]')'. An `f64' vector is
%% written as a blob literal (``vector64(X'...02')'') because libSQL does
%% not round decimal text to float64 exactly; the others are text, which
%% libSQL reads exactly as float32. Numbers print in full (shortest
%% round-trip form). Errors: `bad_argument' for an unknown type, a value
%% that is not a list of at most 65536 finite numbers, or a number beyond
%% float32's range in a type other than `f64'.
-spec vector([number()], type()) -> {ok, binary()} | error().
vector(Values, f64) ->
    with_encoded(Values, f64, fun({blob, B}) ->
                                      {ok, <<"vector64(X'", (binary:encode_hex(B))/binary, "')">>}
                              end);
vector(Values, Type) ->
    case constructor(Type) of
        {ok, F} -> with_text(Values, Type, fun(T) -> {ok, <<F/binary, "('", T/binary, "')">>} end);
        {error, _} = E -> E
    end.

%% @doc A vector's text form, to bind as a parameter of a constructor
%% such as `vector32(?)': `{ok, <<"[1,2.5]">>}'. Numbers print in full.
%% Errors: `bad_argument' for a value that is not a list of at most 65536
%% finite numbers within float32's range.
-spec text([number()]) -> {ok, binary()} | error().
text(Values) -> with_text(Values, f32, fun(T) -> {ok, T} end).

%% @doc A vector as libSQL's blob, ready to bind: `{ok, {blob, Bin}}'.
%% `f32': the numbers as little-endian float32, no trailer (libSQL's
%% FLOAT32 blob); `f64': little-endian float64 and a trailing byte 2.
%% Errors: `bad_argument' for another type (build those with vector/2,
%% or bind text/1's output to their constructor), a value that is not a
%% list of at most 65536 finite numbers, or (`f32') a number beyond
%% float32's range.
-spec encode([number()], f32 | f64) -> {ok, {blob, binary()}} | error().
encode(Values, Type) -> with_encoded(Values, Type, fun(B) -> {ok, B} end).

%% @doc A vector blob (as stored in a vector column or returned by
%% `vector32(...)' and its siblings; a binary or `{blob, Bin}') as
%% `{ok, {Type, Numbers}}', read by libSQL's rules: an even length is
%% FLOAT32, an odd one ends in its type byte. Elements are floats, or
%% `nan', `infinity' or `neg_infinity'; `f16', `bf16' and `f8' elements
%% are the float32 values libSQL computes, `1bit' elements 1.0 or -1.0.
%% Errors: `bad_argument' for a blob that is not a well-formed vector.
-spec decode(binary() | {blob, binary()}) ->
          {ok, {type(), [float() | nan | infinity | neg_infinity]}} | error().
decode({blob, B}) -> decode(B);
decode(B) when is_binary(B) ->
    try decode_blob(B) of
        {Type, Values} when length(Values) =< ?MAX_DIMS -> {ok, {Type, Values}};
        _ -> bad(<<"a vector has at most 65536 elements">>)
    catch
        throw:{bad_vector, Why} -> bad(Why)
    end;
decode(_) -> bad(<<"a vector blob must be a binary">>).

%% @doc The declared type of a vector column of Dims dimensions, for
%% `CREATE TABLE': `{ok, <<"F32_BLOB(768)">>}' for `(f32, 768)' (the
%% `Fxx_BLOB' names give the column BLOB affinity, which libSQL advises).
%% Errors: `bad_argument' for an unknown type or Dims not in 1..65536.
-spec column_type(type(), 1..65536) -> {ok, binary()} | error().
column_type(Type, Dims) when is_integer(Dims), Dims >= 1, Dims =< ?MAX_DIMS ->
    case lists:keyfind(Type, 1, types()) of
        {_, _, Col} -> {ok, <<Col/binary, "(", (integer_to_binary(Dims))/binary, ")">>};
        false -> bad_type()
    end;
column_type(_Type, _Dims) -> bad(<<"a vector column has 1 to 65536 dimensions">>).

%% @doc The `CREATE INDEX' statement of a libSQL vector index (DiskANN)
%% named Index on Table's vector column Column: `{ok, Sql}', such as
%% ``CREATE INDEX "i" ON "t"(libsql_vector_idx("e", 'metric=cosine'))''.
%% Options (all optional, in the map): `metric' (`cos' or `cosine', `l2'),
%% `compress_neighbors' (`float1bit', `float8', `float16', `floatb16',
%% `float32', or a type() atom), `max_neighbors', `search_l', `insert_l'
%% (positive integers below 2^31), `alpha' (a positive number), `type'
%% (`diskann'), and `if_not_exists' (a boolean). Index must be a plain
%% identifier (`[A-Za-z_][A-Za-z0-9_]*'), since libSQL names its shadow
%% table after it without quoting; Table and Column are quoted.
%% Errors: `bad_argument' for a bad name, an unknown option or value, or
%% `float1bit' compression with the `l2' metric (which libSQL refuses).
-spec create_index(atom() | binary(), atom() | binary(), atom() | binary(), index_opts()) ->
          {ok, binary()} | error().
create_index(Index, Table, Column, Opts) when is_map(Opts) ->
    maybe_all([fun() -> index_name(Index) end,
               fun() -> libsql_pragma:quote_ident(Table) end,
               fun() -> libsql_pragma:quote_ident(Column) end,
               fun() -> index_options(Opts) end],
              fun([I, T, C, {IfNot, Args}]) ->
                      Ine = case IfNot of true -> <<"IF NOT EXISTS ">>; false -> <<>> end,
                      {ok, iolist_to_binary(
                             [<<"CREATE INDEX ">>, Ine, <<$">>, I, <<"\" ON ">>, T,
                              <<"(libsql_vector_idx(">>, C,
                              [[<<", '">>, A, <<"'">>] || A <- Args], <<"))">>])}
              end);
create_index(_Index, _Table, _Column, _Opts) -> bad(<<"index options must be a map">>).

%% @doc A distance expression between two operands, each a column or a
%% vector (see operand()): `{ok, {Sql, Params}}' such as
%% `{<<"vector_distance_cos(\"e\", vector32(?))">>, [{blob, ...}]}'.
%% Metric is `cos' (or `cosine') or `l2'. A vector is bound as a
%% parameter (a blob for `f32' and `f64', text for the other types).
%% Errors: `bad_argument' for another metric, or a bad operand.
-spec distance(cos | cosine | l2, operand(), operand()) -> {ok, fragment()} | error().
distance(Metric, A, B) ->
    Fun = case Metric of
              cos -> {ok, <<"vector_distance_cos">>};
              cosine -> {ok, <<"vector_distance_cos">>};
              l2 -> {ok, <<"vector_distance_l2">>};
              _ -> bad(<<"a distance metric is cos or l2">>)
          end,
    maybe_all([fun() -> Fun end, fun() -> operand(A) end, fun() -> operand(B) end],
              fun([F, {SA, PA}, {SB, PB}]) ->
                      {ok, {<<F/binary, "(", SA/binary, ", ", SB/binary, ")">>, PA ++ PB}}
              end).

%% @doc A nearest-neighbour query through the vector index Index (see
%% create_index/4): `{ok, {<<"SELECT id FROM vector_top_k(?, vector32(?), ?)">>,
%% [IndexName, Vector, K]}}', whose rows are the K (at most) nearest rows'
%% ids (rowids), nearest first. Vector is a list of numbers (`f32') or
%% `{Type, Numbers}' of the index column's type. Errors: `bad_argument'
%% for a bad index name or vector, or K not a positive integer below 2^31.
-spec top_k(atom() | binary(), [number()] | {type(), [number()]}, pos_integer()) ->
          {ok, fragment()} | error().
top_k(Index, Vector, K) ->
    with_top_k(Index, Vector, K,
               fun(Args, Params) -> {ok, {<<"SELECT id FROM ", Args/binary>>, Params}} end).

%% @doc As top_k/3, returning Table's rows instead of ids: `{ok, {Sql,
%% Params}}' with Sql `SELECT "t".* FROM vector_top_k(?, vector32(?), ?)
%% AS "v" CROSS JOIN "t" ON "t".rowid = "v".id', so the nearest row comes
%% first (the CROSS JOIN keeps `vector_top_k' the outer loop). For tables
%% with a rowid. Errors: those of top_k/3, and `bad_argument' for a bad
%% table name.
-spec top_k(atom() | binary(), atom() | binary(), [number()] | {type(), [number()]},
            pos_integer()) -> {ok, fragment()} | error().
top_k(Table, Index, Vector, K) ->
    case libsql_pragma:quote_ident(Table) of
        {ok, T} ->
            with_top_k(Index, Vector, K,
                       fun(Args, Params) ->
                               {ok, {<<"SELECT ", T/binary, ".* FROM ", Args/binary,
                                       " AS \"v\" CROSS JOIN ", T/binary, " ON ", T/binary,
                                       ".rowid = \"v\".id">>, Params}}
                       end);
        {error, _} = E -> E
    end.

%% ---- internals ----------------------------------------------------------------

%% {Type, constructor, column type}
types() ->
    [{f32, <<"vector32">>, <<"F32_BLOB">>}, {f64, <<"vector64">>, <<"F64_BLOB">>},
     {f16, <<"vector16">>, <<"F16_BLOB">>}, {bf16, <<"vectorb16">>, <<"FB16_BLOB">>},
     {f8, <<"vector8">>, <<"F8_BLOB">>}, {'1bit', <<"vector1bit">>, <<"F1BIT_BLOB">>}].

constructor(Type) ->
    case lists:keyfind(Type, 1, types()) of
        {_, F, _} -> {ok, F};
        false -> bad_type()
    end.

bad_type() -> bad(<<"a vector type is f32, f64, f16, bf16, f8 or '1bit'">>).

with_top_k(Index, Vector, K, Then) ->
    Checks = [fun() -> index_name(Index) end,
              fun() -> vector_operand(Vector) end,
              fun() when is_integer(K), K >= 1, K =< ?MAX_INT_OPT -> {ok, K};
                 () -> bad(<<"k must be a positive integer">>)
              end],
    maybe_all(Checks,
              fun([I, {VSql, VParams}, KV]) ->
                      Then(<<"vector_top_k(?, ", VSql/binary, ", ?)">>, [I] ++ VParams ++ [KV])
              end).

%% Runs each check in turn (a fun returning {ok, V} or an error), stopping
%% at the first error; Then gets the values.
maybe_all(Checks, Then) -> maybe_all(Checks, [], Then).

maybe_all([], Acc, Then) -> Then(lists:reverse(Acc));
maybe_all([C | Cs], Acc, Then) ->
    case C() of
        {ok, V} -> maybe_all(Cs, [V | Acc], Then);
        {error, _} = E -> E
    end.

%% An index name as libSQL can use it: a plain identifier.
index_name(Name) when is_atom(Name) -> index_name(atom_to_binary(Name, utf8));
index_name(Name) when is_binary(Name) ->
    case re:run(Name, <<"^[A-Za-z_][A-Za-z0-9_]*$">>, [{capture, none}]) of
        match -> {ok, Name};
        nomatch -> bad(<<"a vector index name must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*)">>)
    end;
index_name(_) -> bad(<<"a vector index name must be an atom or a binary">>).

operand(V) when is_list(V); is_tuple(V), tuple_size(V) =:= 2, is_list(element(2, V)) ->
    vector_operand(V);
operand(C) -> column(C).

column({T, C}) ->
    maybe_all([fun() -> ident(T) end, fun() -> ident(C) end],
              fun([QT, QC]) -> {ok, {<<QT/binary, ".", QC/binary>>, []}} end);
column(C) ->
    case ident(C) of
        {ok, Q} -> {ok, {Q, []}};
        {error, _} = E -> E
    end.

%% Column and table names are atoms or binaries (a list is a vector).
ident(N) when is_atom(N); is_binary(N) -> libsql_pragma:quote_ident(N);
ident(_) -> bad(<<"a column name must be an atom or a binary">>).

%% A vector as `constructor(?)' and its parameter.
vector_operand({Type, Values}) ->
    case constructor(Type) of
        {ok, F} when Type =:= f32; Type =:= f64 ->
            with_encoded(Values, Type, fun(B) -> {ok, {<<F/binary, "(?)">>, [B]}} end);
        {ok, F} ->
            with_text(Values, Type, fun(T) -> {ok, {<<F/binary, "(?)">>, [T]}} end);
        {error, _} = E -> E
    end;
vector_operand(Values) when is_list(Values) -> vector_operand({f32, Values});
vector_operand(_) -> bad(<<"a vector is a list of numbers or {Type, Numbers}">>).

%% Values checked for Type, as floats.
check_values(Values, Type) when is_list(Values) ->
    case length(Values) =< ?MAX_DIMS andalso lists:all(fun is_number/1, Values) of
        true ->
            try [to_float(V, Type) || V <- Values] of
                Fs -> {ok, Fs}
            catch
                error:_ -> bad(range_message(Type))
            end;
        false ->
            bad(<<"a vector is a list of at most 65536 numbers">>)
    end;
check_values(_, _) -> bad(<<"a vector is a list of at most 65536 numbers">>).

range_message(f64) -> <<"a vector element is out of range for float64">>;
range_message(_) -> <<"a vector element is out of range for float32">>.

%% float/1 fails for an integer beyond float64; a float32 that overflows
%% fails to encode.
to_float(V, f64) -> float(V);
to_float(V, _) ->
    F = float(V),
    <<_:32/float>> = <<F:32/float>>,
    F.

with_text(Values, Type, Then) ->
    case check_values(Values, Type) of
        {ok, _} -> Then(iolist_to_binary([$[, lists:join($,, [num(V) || V <- Values]), $]]));
        {error, _} = E -> E
    end.

num(V) when is_integer(V) -> integer_to_binary(V);
num(V) -> float_to_binary(V, [short]).

with_encoded(Values, f32, Then) ->
    case check_values(Values, f32) of
        {ok, Fs} -> Then({blob, << <<F:32/float-little>> || F <- Fs >>});
        {error, _} = E -> E
    end;
with_encoded(Values, f64, Then) ->
    case check_values(Values, f64) of
        {ok, Fs} -> Then({blob, <<(<< <<F:64/float-little>> || F <- Fs >>)/binary, 2>>});
        {error, _} = E -> E
    end;
with_encoded(_Values, Type, _Then) ->
    case constructor(Type) of
        {ok, _} -> bad(<<"encode/2 makes f32 and f64 blobs; use vector/2 for other types">>);
        {error, _} = E -> E
    end.

%% ---- index options ----

index_options(Opts) ->
    try
        IfNot = case maps:get(if_not_exists, Opts, false) of
                    B when is_boolean(B) -> B;
                    _ -> throw({bad_opt, <<"if_not_exists is a boolean">>})
                end,
        Args = [index_option(K, V) || {K, V} <- lists:sort(maps:to_list(maps:remove(if_not_exists, Opts)))],
        case {maps:get(metric, Opts, cos), maps:get(compress_neighbors, Opts, none)} of
            {l2, C} when C =:= float1bit; C =:= '1bit' ->
                throw({bad_opt, <<"float1bit compression needs the cosine metric">>});
            _ -> ok
        end,
        {ok, {IfNot, Args}}
    catch
        throw:{bad_opt, Why} -> bad(Why)
    end.

index_option(metric, M) when M =:= cos; M =:= cosine -> <<"metric=cosine">>;
index_option(metric, l2) -> <<"metric=l2">>;
index_option(type, diskann) -> <<"type=diskann">>;
index_option(compress_neighbors, C) ->
    Map = #{float1bit => float1bit, float8 => float8, float16 => float16, floatb16 => floatb16,
            float32 => float32, '1bit' => float1bit, f8 => float8, f16 => float16,
            bf16 => floatb16, f32 => float32},
    case maps:find(C, Map) of
        {ok, N} -> <<"compress_neighbors=", (atom_to_binary(N, utf8))/binary>>;
        error -> throw({bad_opt, <<"compress_neighbors is float1bit, float8, float16, floatb16 "
                                   "or float32">>})
    end;
index_option(K, N) when (K =:= max_neighbors orelse K =:= search_l orelse K =:= insert_l),
                        is_integer(N), N >= 1, N =< ?MAX_INT_OPT ->
    <<(atom_to_binary(K, utf8))/binary, "=", (integer_to_binary(N))/binary>>;
index_option(alpha, A) when is_number(A), A > 0 ->
    F = float(A),
    <<"alpha=", (float_to_binary(F, [short]))/binary>>;
index_option(K, _V) when K =:= metric; K =:= type; K =:= max_neighbors; K =:= search_l;
                         K =:= insert_l; K =:= alpha ->
    throw({bad_opt, iolist_to_binary([<<"bad value for vector index option ">>,
                                      atom_to_binary(K, utf8)])});
index_option(K, _V) ->
    throw({bad_opt, iolist_to_binary(io_lib:format("unknown vector index option ~0tp", [K]))}).

%% ---- decoding ----

decode_blob(B) when byte_size(B) rem 2 =:= 0 -> {f32, f32s(B)};
decode_blob(B) ->
    M = byte_size(B) - 1,
    <<Data:M/binary, T>> = B,
    decode_typed(T, M, Data).

decode_typed(1, _M, Data) -> {f32, f32s(Data)};
decode_typed(2, M, Data) when M rem 8 =:= 0 -> {f64, [f64(X) || <<X:8/binary>> <= Data]};
decode_typed(5, M, Data) when M rem 2 =:= 0 -> {f16, [f16(X) || <<X:16/little>> <= Data]};
decode_typed(6, M, Data) when M rem 2 =:= 0 -> {bf16, [f32bits(X bsl 16) || <<X:16/little>> <= Data]};
decode_typed(3, M, Data) when M rem 2 =:= 0, M > 0 ->
    Tb = binary:last(Data),
    N = 8 * M - Tb,
    NBytes = (N + 7) div 8,
    (N >= 0 andalso NBytes =< M - 1) orelse throw({bad_vector, <<"bad float1bit vector blob">>}),
    <<Bits:NBytes/binary, _/binary>> = Data,
    {'1bit', take(N, [case (Byte bsr I) band 1 of 1 -> 1.0; 0 -> -1.0 end
                      || <<Byte>> <= Bits, I <- lists:seq(0, 7)])};
decode_typed(4, M, Data) when M rem 2 =:= 0, M >= 10 ->
    Pad = binary:at(Data, M - 1),
    N = M - 10 - Pad,
    (N >= 0) orelse throw({bad_vector, <<"bad float8 vector blob">>}),
    case Data of
        <<Qs:N/binary, _:Pad/binary, Alpha:32/little, Shift:32/little, _/binary>> ->
            {f8, [f8(f32bits(Alpha), Q, f32bits(Shift)) || <<Q>> <= Qs]};
        _ ->
            throw({bad_vector, <<"bad float8 vector blob">>})
    end;
decode_typed(T, _M, _Data) when T >= 1, T =< 6 ->
    throw({bad_vector, <<"a vector blob's length does not fit its type">>});
decode_typed(_T, _M, _Data) ->
    throw({bad_vector, <<"unknown vector type byte">>}).

f32s(B) when byte_size(B) rem 4 =:= 0 -> [f32bits(X) || <<X:32/little>> <= B];
f32s(_) -> throw({bad_vector, <<"a float32 vector blob's length must be a multiple of 4">>}).

%% A float32 from its bits (special values as atoms).
f32bits(X) ->
    case <<X:32>> of
        <<F:32/float>> -> F;
        _ -> special(X band 16#80000000, X band 16#7fffff)
    end.

f64(<<F:64/float-little>>) -> F;
f64(<<X:64/little>>) -> special(X bsr 63, X band (1 bsl 52 - 1)).

f16(X) ->
    case <<X:16>> of
        <<F:16/float>> -> F;
        _ -> special(X band 16#8000, X band 16#3ff)
    end.

special(_Sign, Mant) when Mant =/= 0 -> nan;
special(0, 0) -> infinity;
special(_, 0) -> neg_infinity.

%% libSQL decodes FLOAT8 as alpha * q + shift in float32 arithmetic: each
%% operation rounded to float32. Both are exact in float64 before that
%% rounding (or, for the sum, rounded there without changing the float32
%% result), so float64 arithmetic rounded to float32 after each step gives
%% the same number.
f8(Alpha, Q, Shift) when is_float(Alpha), is_float(Shift) ->
    case round32(Alpha * Q) of
        P when is_float(P) -> round32(P + Shift);
        Other -> Other
    end;
f8(_, _, _) -> nan.

round32(D) ->
    try <<D:32/float>> of
        <<F:32/float>> -> F
    catch
        error:badarg when D > 0 -> infinity;
        error:badarg -> neg_infinity
    end.

take(N, L) -> lists:sublist(L, N).

bad(Why) -> {error, libsql_proto:err(bad_argument, Why)}.
