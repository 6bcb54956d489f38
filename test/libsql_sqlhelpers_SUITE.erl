%% Common Test suite: libSQL's uuid SQL functions (port/uuid_sql.c) and the
%% SQL-building helpers libsql_vector, libsql_json and
%% libsql_pragma:quote_ident/1 and vector_indexes/1,2, each used in a real
%% query on a real file whose result is asserted.
%%
%% The uuid cases marked "peer" hard-code what npm libsql@0.5.29 (libSQL's
%% engine, SQLite 3.45.1) answered here for the same SQL (2026-12); the
%% ones marked "tursodb" what tursodb 0.7.0 answered. Nothing else is taken
%% from either.
-module(libsql_sqlhelpers_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([uuid_formats/1, uuid_flags/1, uuid7_monotonic_statement/1, uuid7_monotonic_calls/1,
         uuid7_as_default/1, uuid7_timestamps/1, uuid_round_trip/1, uuid_peer_inputs/1,
         uuid_errors/1,
         quote_ident/1, vector_literals/1, vector_blobs/1, vector_decode/1,
         vector_bad_arguments/1, vector_distance/1, vector_index_and_top_k/1,
         vector_index_options/1,
         json_encode/1, json_bad_terms/1, json_paths/1, json_each_and_in_list/1]).

-type config() :: [{atom(), term()}].

-spec suite() -> [tuple()].
suite() -> [{timetrap, {minutes, 5}}].

-spec all() -> [{group, atom()}].
all() -> [{group, uuid}, {group, vector}, {group, json}].

-spec groups() -> [{atom(), list(), [atom()]}].
groups() ->
    [{uuid, [], [uuid_formats, uuid_flags, uuid7_monotonic_statement, uuid7_monotonic_calls,
                 uuid7_as_default, uuid7_timestamps, uuid_round_trip, uuid_peer_inputs,
                 uuid_errors]},
     {vector, [], [quote_ident, vector_literals, vector_blobs, vector_decode,
                   vector_bad_arguments, vector_distance, vector_index_and_top_k,
                   vector_index_options]},
     {json, [], [json_encode, json_bad_terms, json_paths, json_each_and_in_list]}].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    libsql_test_util:init_per_suite(?MODULE, Config).

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) -> ok.

-spec init_per_testcase(atom(), config()) -> config().
init_per_testcase(Case, Config) ->
    Path = libsql_test_util:db_path(Config, atom_to_list(Case) ++ ".db"),
    _ = file:delete(Path),
    {ok, C} = libsql:open(#{path => Path}),
    [{conn, C} | Config].

-spec end_per_testcase(atom(), config()) -> ok.
end_per_testcase(_Case, Config) ->
    ok = libsql:close(?config(conn, Config)).

%% ---- helpers -------------------------------------------------------------------

one(C, Sql) -> one(C, Sql, []).

one(C, Sql, Params) ->
    {ok, _, [Row]} = libsql:query(C, Sql, Params),
    case tuple_size(Row) of
        1 -> element(1, Row);
        _ -> Row
    end.

exec(C, Sql) -> exec(C, Sql, []).

exec(C, Sql, Params) ->
    {ok, _} = libsql:execute(C, Sql, Params),
    ok.

bad_argument({error, #{code := bad_argument, message := M}}) when is_binary(M) -> ok;
bad_argument(Other) -> ct:fail({expected_bad_argument, Other}).

is_text_uuid(T) ->
    match =:= re:run(T, <<"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$">>,
                     [{capture, none}]).

version(<<_:48, V:4, _:76>>) -> V.
variant(<<_:64, Var:2, _:62>>) -> Var.

text_to_bin(T) -> binary:decode_hex(binary:replace(T, <<"-">>, <<>>, [global])).

%% ---- uuid ------------------------------------------------------------------------

-spec uuid_formats(config()) -> ok.
uuid_formats(Config) ->
    C = ?config(conn, Config),
    %% uuid(): TEXT, version 4 (peer: `select typeof(uuid()), length(uuid())'
    %% gave text, 36).
    {U, <<"text">>} = one(C, <<"SELECT uuid(), typeof(uuid())">>),
    ?assert(is_text_uuid(U)),
    ?assertEqual({4, 2}, {version(text_to_bin(U)), variant(text_to_bin(U))}),
    %% uuid4(): a 16-byte BLOB (tursodb: typeof blob); uuid4_str() and
    %% gen_random_uuid(): TEXT.
    {{blob, B4}, <<"blob">>} = one(C, <<"SELECT uuid4(), typeof(uuid4())">>),
    ?assertEqual({16, 4, 2}, {byte_size(B4), version(B4), variant(B4)}),
    {S4, G4} = one(C, <<"SELECT uuid4_str(), gen_random_uuid()">>),
    [?assert(is_text_uuid(T)) || T <- [S4, G4]],
    [?assertEqual({4, 2}, {version(text_to_bin(T)), variant(text_to_bin(T))}) || T <- [S4, G4]],
    %% uuid7(): BLOB; uuid7_str(): TEXT; both version 7, variant 10.
    {{blob, B7}, <<"blob">>, S7} = one(C, <<"SELECT uuid7(), typeof(uuid7()), uuid7_str()">>),
    ?assertEqual({16, 7, 2}, {byte_size(B7), version(B7), variant(B7)}),
    ?assert(is_text_uuid(S7)),
    ?assertEqual({7, 2}, {version(text_to_bin(S7)), variant(text_to_bin(S7))}),
    %% Different every call, also within one statement.
    {A, B} = one(C, <<"SELECT uuid4(), uuid4()">>),
    ?assertNotEqual(A, B),
    0 = one(C, <<"SELECT uuid() = uuid()">>),
    ok.

%% The functions' flags as pragma_function_list shows them. Peer:
%% uuid 0|s|utf8|0|2097152 (innocuous), uuid_str and uuid_blob
%% 0|s|utf8|1|2099200 (innocuous, deterministic).
-spec uuid_flags(config()) -> ok.
uuid_flags(Config) ->
    C = ?config(conn, Config),
    {ok, _, Rows} = libsql:query(C, <<"SELECT name, narg, flags FROM pragma_function_list "
                                      "WHERE name LIKE '%uuid%' ORDER BY name, narg">>),
    Innocuous = 16#200000,
    Det = 16#800,
    ?assertEqual([{<<"gen_random_uuid">>, 0, Innocuous}, {<<"uuid">>, 0, Innocuous},
                  {<<"uuid4">>, 0, Innocuous}, {<<"uuid4_str">>, 0, Innocuous},
                  {<<"uuid7">>, 0, Innocuous}, {<<"uuid7">>, 1, Innocuous},
                  {<<"uuid7_str">>, 0, Innocuous}, {<<"uuid7_str">>, 1, Innocuous},
                  {<<"uuid7_timestamp_ms">>, 1, Innocuous bor Det},
                  {<<"uuid_blob">>, 1, Innocuous bor Det}, {<<"uuid_str">>, 1, Innocuous bor Det}],
                 Rows),
    ok.

-spec uuid7_monotonic_statement(config()) -> ok.
uuid7_monotonic_statement(Config) ->
    C = ?config(conn, Config),
    Before = os:system_time(millisecond),
    {ok, _, Rows} = libsql:query(C, <<"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                                      "FROM n WHERE i < 10000) SELECT i, uuid7(), uuid7_str() "
                                      "FROM n ORDER BY i">>),
    After = os:system_time(millisecond),
    ?assertEqual(10000, length(Rows)),
    %% Blobs and texts of one connection form one increasing sequence.
    Seq = lists:append([[B, text_to_bin(T)] || {_, {blob, B}, T} <- Rows]),
    ?assertEqual(20000, length(Seq)),
    increasing(Seq),
    [begin
         ?assertEqual({7, 2}, {version(U), variant(U)}),
         <<Ms:48, _/bitstring>> = U,
         %% The clock's millisecond, or a little ahead of it (the counter
         %% never runs out here, so not ahead at all).
         ?assert(Ms >= Before - 1 andalso Ms =< After + 1)
     end || U <- Seq],
    %% SQL agrees that they increase, bytewise and as text.
    0 = one(C, <<"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000),"
                 " u AS (SELECT i, uuid7() AS b FROM n),"
                 " l AS (SELECT b, uuid_str(b) AS s, lag(b) OVER (ORDER BY i) AS pb,"
                 "              uuid_str(lag(b) OVER (ORDER BY i)) AS ps FROM u)"
                 " SELECT count(*) FROM l WHERE pb IS NOT NULL AND (b <= pb OR s <= ps)">>),
    ok.

increasing([A, B | Rest]) ->
    case A < B of
        true -> increasing([B | Rest]);
        false -> ct:fail({not_increasing, A, B})
    end;
increasing(_) -> ok.

-spec uuid7_monotonic_calls(config()) -> ok.
uuid7_monotonic_calls(Config) ->
    C = ?config(conn, Config),
    Us = [begin
              {{blob, B}, T} = one(C, <<"SELECT uuid7(), uuid7_str()">>),
              [B, text_to_bin(T)]
          end || _ <- lists:seq(1, 1000)],
    increasing(lists:append(Us)),
    ok.

%% uuid7() as a column default, the way it is used for keys: rows inserted
%% in order get increasing keys, and the key orders the table.
-spec uuid7_as_default(config()) -> ok.
uuid7_as_default(Config) ->
    C = ?config(conn, Config),
    ok = exec(C, <<"CREATE TABLE ev(id BLOB PRIMARY KEY DEFAULT (uuid7()), n INTEGER) "
                   "WITHOUT ROWID">>),
    [ok = exec(C, <<"INSERT INTO ev(n) VALUES (?)">>, [N]) || N <- lists:seq(1, 300)],
    {ok, _, Rows} = libsql:query(C, <<"SELECT n FROM ev ORDER BY id">>),
    ?assertEqual([{N} || N <- lists:seq(1, 300)], Rows),
    300 = one(C, <<"SELECT count(DISTINCT uuid_str(id)) FROM ev">>),
    ok.

-spec uuid7_timestamps(config()) -> ok.
uuid7_timestamps(Config) ->
    C = ?config(conn, Config),
    Before = os:system_time(millisecond),
    {Ms, MsT} = one(C, <<"SELECT uuid7_timestamp_ms(uuid7()), uuid7_timestamp_ms(uuid7_str())">>),
    After = os:system_time(millisecond),
    [?assert(M >= Before - 1 andalso M =< After + 1) || M <- [Ms, MsT]],
    %% An explicit timestamp in seconds (tursodb: hex(uuid7(1700000000))
    %% starts 018BCFE56800, uuid7_timestamp_ms(uuid7_str(1700000000)) is
    %% 1700000000000).
    {{blob, <<16#018BCFE56800:48, 7:4, _:76>>}, 1700000000000, S} =
        one(C, <<"SELECT uuid7(1700000000), uuid7_timestamp_ms(uuid7(1700000000)), "
                 "uuid7_str(?)">>, [1700000000]),
    ?assertMatch(<<"018bcfe5-6800-7", _/binary>>, S),
    {0, 281474976710000} = one(C, <<"SELECT uuid7_timestamp_ms(uuid7(0)), "
                                    "uuid7_timestamp_ms(uuid7(281474976710))">>),
    %% Not a timestamp: NULL.
    {null, null, null, null, null} =
        one(C, <<"SELECT uuid7(-1), uuid7('x'), uuid7(1.5), uuid7(NULL), uuid7(281474976711)">>),
    %% Only a version 7 UUID has one (tursodb reads any 16 bytes: a choice).
    {null, null, null, null, null} =
        one(C, <<"SELECT uuid7_timestamp_ms(uuid4()), uuid7_timestamp_ms(uuid()), "
                 "uuid7_timestamp_ms('abc'), uuid7_timestamp_ms(NULL), uuid7_timestamp_ms(x'0011')">>),
    %% Text forms are read as uuid_str reads them (tursodb:
    %% '01a24535-a4be-75e0-a949-d854cfb05006' gave 1796457473214).
    1796457473214 = one(C, <<"SELECT uuid7_timestamp_ms('01a24535-a4be-75e0-a949-d854cfb05006')">>),
    1796457473214 = one(C, <<"SELECT uuid7_timestamp_ms('{01A24535A4BE75E0A949D854CFB05006}')">>),
    ok.

-spec uuid_round_trip(config()) -> ok.
uuid_round_trip(Config) ->
    C = ?config(conn, Config),
    [begin
         Bin = crypto:strong_rand_bytes(16),
         <<A:32, B:16, Cc:16, D:16, E:48>> = Bin,
         Text = iolist_to_binary(io_lib:format("~8.16.0b-~4.16.0b-~4.16.0b-~4.16.0b-~12.16.0b",
                                               [A, B, Cc, D, E])),
         {Text, {blob, Bin}, Text, {blob, Bin}} =
             one(C, <<"SELECT uuid_str(?1), uuid_blob(?2), uuid_str(uuid_blob(?2)), "
                      "uuid_blob(uuid_str(?1))">>, [{blob, Bin}, Text]),
         Upper = string:uppercase(Text),
         Text = one(C, <<"SELECT uuid_str(uuid_blob(?))">>, [Upper])
     end || _ <- lists:seq(1, 200)],
    %% Generated ones too.
    %% (Into a table first: SQLite would call uuid7_str() again for each
    %% use of a subquery's column.)
    ok = exec(C, <<"CREATE TABLE g AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
                   "SELECT i + 1 FROM n WHERE i < 1000) SELECT uuid7_str() AS s, uuid4() AS b FROM n">>),
    0 = one(C, <<"SELECT count(*) FROM g WHERE uuid_str(uuid_blob(s)) <> s "
                 "OR uuid_blob(uuid_str(b)) <> b OR s IS NULL OR b IS NULL">>),
    ok.

%% What uuid_str and uuid_blob accept: every row is a case the peer
%% answered, with its answer.
-spec uuid_peer_inputs(config()) -> ok.
uuid_peer_inputs(Config) ->
    C = ?config(conn, Config),
    U = <<"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11">>,
    Cases =
        [{<<"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'">>, U},
         {<<"'A0EEBC999C0B4EF8BB6D6BB9BD380A11'">>, U},
         {<<"'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'">>, U},
         {<<"'{a0eebc999c0b4ef8bb6d6bb9bd380a11}'">>, U},
         {<<"'{-a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'">>, U},
         {<<"'a0-eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'">>, U},
         {<<"'a0eebc99-9c0b4ef8-bb6d-6bb9bd380a11'">>, U},
         {<<"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a-11'">>, U},
         {<<"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'">>, U},
         {<<"'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'">>, U},
         {<<"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' || char(0) || 'zz'">>, U},
         {<<"x'a0eebc999c0b4ef8bb6d6bb9bd380a11'">>, U},
         {<<"cast('0123456789abcdef' AS BLOB)">>, <<"30313233-3435-3637-3839-616263646566">>},
         {<<"x'00000000000000000000000000000000'">>, <<"00000000-0000-0000-0000-000000000000">>},
         {<<"x'a0eebc999c0b4ef8bb6d6bb9bd380a'">>, null},
         {<<"x''">>, null},
         {<<"''">>, null},
         {<<"'xyz'">>, null},
         {<<"'0123456789abcdef'">>, null},
         {<<"' a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'">>, null},
         {<<"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 '">>, null},
         {<<"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-'">>, null},
         {<<"'a0ee--bc99-9c0b-4ef8-bb6d-6bb9bd380a11'">>, null},
         {<<"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1-1'">>, null},
         {<<"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}}'">>, null},
         {<<"'{{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'">>, null},
         {<<"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11x'">>, null},
         {<<"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1'">>, null},
         {<<"1">>, null}, {<<"1.5">>, null}, {<<"NULL">>, null}],
    [begin
         Got = one(C, [<<"SELECT uuid_str(">>, X, <<"), hex(uuid_blob(">>, X, <<"))">>]),
         Want = case Str of
                    null -> {null, <<>>};
                    _ -> {Str, string:uppercase(binary:replace(Str, <<"-">>, <<>>, [global]))}
                end,
         ?assertEqual({X, Want}, {X, Got})
     end || {X, Str} <- Cases],
    %% Peer: typeof(uuid_blob('a0eebc99-...')) is blob; uuid_blob(5) NULL.
    {<<"blob">>, null} = one(C, [<<"SELECT typeof(uuid_blob('">>, U, <<"')), uuid_blob(5)">>]),
    ok.

-spec uuid_errors(config()) -> ok.
uuid_errors(Config) ->
    C = ?config(conn, Config),
    [?assertMatch({error, #{code := error}}, libsql:query(C, Sql))
     || Sql <- [<<"SELECT uuid7(1, 2)">>, <<"SELECT uuid4(1)">>, <<"SELECT uuid_str()">>,
                <<"SELECT uuid_blob(1, 2)">>, <<"SELECT uuid(1)">>]],
    ok.

%% ---- identifiers and vectors -------------------------------------------------

-spec quote_ident(config()) -> ok.
quote_ident(Config) ->
    C = ?config(conn, Config),
    Names = [<<"plain">>, <<"with space">>, <<"quo\"te">>, <<"sel\"\"ect">>, <<"select">>,
             <<"ünï cødé"/utf8>>, <<"a'b">>, <<"x); DROP TABLE t; --">>],
    [begin
         {ok, Q} = libsql_pragma:quote_ident(N),
         ok = exec(C, [<<"CREATE TABLE ">>, Q, <<"(">>, Q, <<" INTEGER)">>]),
         ok = exec(C, [<<"INSERT INTO ">>, Q, <<" VALUES (7)">>]),
         7 = one(C, [<<"SELECT ">>, Q, <<" FROM ">>, Q]),
         {ok, [#{<<"name">> := N}]} = libsql_pragma:table_info(C, N)
     end || N <- Names],
    {ok, <<"\"atom\"">>} = libsql_pragma:quote_ident(atom),
    {ok, <<"\"str\"">>} = libsql_pragma:quote_ident("str"),
    [bad_argument(libsql_pragma:quote_ident(B)) || B <- [<<>>, <<"a", 0, "b">>, 12, {x}, <<255>>]],
    ok.

-spec vector_literals(config()) -> ok.
vector_literals(Config) ->
    C = ?config(conn, Config),
    {ok, <<"vector32('[1,2.5,0.1]')">> = V32} = libsql_vector:vector([1, 2.5, 0.1]),
    <<"[1,2.5,0.1]">> = one(C, [<<"SELECT vector_extract(">>, V32, <<")">>]),
    %% Full precision: the float32 of 0.1 reads back exactly.
    {ok, {blob, <<_:32, _:32, F01:32/float-little>>}} = libsql_vector:encode([1, 2.5, 0.1], f32),
    {blob, <<_:64, F01b:32/float-little>>} = one(C, [<<"SELECT ">>, V32]),
    ?assertEqual(F01, F01b),
    %% f64 as a blob literal: exact doubles.
    {ok, V64} = libsql_vector:vector([0.1, 1.0e300, -2], f64),
    {blob, B64} = one(C, [<<"SELECT ">>, V64]),
    {ok, {f64, [0.1, 1.0e300, -2.0]}} = libsql_vector:decode(B64),
    <<"[0.1,1e+300,-2]">> = one(C, [<<"SELECT vector_extract(">>, V64, <<")">>]),
    %% Every type's constructor parses what vector/2 writes.
    [begin
         {ok, Sql} = libsql_vector:vector([1, -1, 0.5], T),
         {blob, B} = one(C, [<<"SELECT ">>, Sql]),
         {ok, {T, Back}} = libsql_vector:decode(B),
         case T of
             %% 8-bit quantization: within a step of 1/255 of the range.
             f8 -> [?assert(abs(X - Y) =< 2.0 / 255) || {X, Y} <- lists:zip(Want, Back)];
             _ -> ?assertEqual(Want, Back)
         end
     end || {T, Want} <- [{f32, [1.0, -1.0, 0.5]}, {f64, [1.0, -1.0, 0.5]},
                          {f16, [1.0, -1.0, 0.5]}, {bf16, [1.0, -1.0, 0.5]},
                          {f8, [1.0, -1.0, 0.5]}, {'1bit', [1.0, -1.0, 1.0]}]],
    %% text/1 bound to a constructor.
    {ok, T3} = libsql_vector:text([3, 4.25]),
    <<"[3,4.25]">> = one(C, <<"SELECT vector_extract(vector32(?))">>, [T3]),
    {ok, <<"[]">>} = libsql_vector:text([]),
    <<>> = one(C, <<"SELECT hex(vector32(?))">>, [<<"[]">>]),
    %% column_type/2 in a table that an index then accepts.
    {ok, <<"F32_BLOB(3)">>} = libsql_vector:column_type(f32, 3),
    [{ok, _} = libsql_vector:column_type(T, 65536) || T <- [f64, f16, bf16, f8, '1bit']],
    {ok, <<"FB16_BLOB(2)">>} = libsql_vector:column_type(bf16, 2),
    ok.

-spec vector_blobs(config()) -> ok.
vector_blobs(Config) ->
    C = ?config(conn, Config),
    {ok, E32} = libsql_vector:encode([1, 2, 3], f32),
    %% vectors.md appendix: hex(vector32('[1,2,3]')) and vector64.
    <<"0000803F0000004000004040">> = one(C, <<"SELECT hex(vector32(?))">>, [E32]),
    ?assertEqual(E32, one(C, <<"SELECT vector32('[1,2,3]')">>)),
    {ok, E64} = libsql_vector:encode([1, 2, 3], f64),
    <<"000000000000F03F0000000000000040000000000000084002">> =
        one(C, <<"SELECT hex(vector64(?))">>, [E64]),
    ?assertEqual(E64, one(C, <<"SELECT vector64('[1,2,3]')">>)),
    <<"[1,2,3]">> = one(C, <<"SELECT vector_extract(?)">>, [E64]),
    %% Stored in a column and read back.
    ok = exec(C, <<"CREATE TABLE v(id INTEGER PRIMARY KEY, e F32_BLOB(3))">>),
    ok = exec(C, <<"INSERT INTO v VALUES (1, ?)">>, [E32]),
    {blob, Stored} = one(C, <<"SELECT e FROM v">>),
    {ok, {f32, [1.0, 2.0, 3.0]}} = libsql_vector:decode(Stored),
    {ok, {f32, [1.0, 2.0, 3.0]}} = libsql_vector:decode({blob, Stored}),
    ok.

-spec vector_decode(config()) -> ok.
vector_decode(Config) ->
    C = ?config(conn, Config),
    %% Each type made by SQL, decoded here (values exact in every type).
    Vs = [0.5, -2.0, 3.0, 0.0],
    [begin
         {blob, B} = one(C, [<<"SELECT ">>, F, <<"('[0.5,-2,3,0]')">>]),
         {ok, {T, Got}} = libsql_vector:decode(B),
         <<"[", _/binary>> = one(C, <<"SELECT vector_extract(?)">>, [{blob, B}]),
         case T of
             '1bit' -> ?assertEqual([1.0, -1.0, 1.0, -1.0], Got);
             f8 -> ?assertEqual(4, length(Got));
             _ -> ?assertEqual(Vs, Got)
         end
     end || {T, F} <- [{f32, <<"vector32">>}, {f64, <<"vector64">>}, {f16, <<"vector16">>},
                       {bf16, <<"vectorb16">>}, {f8, <<"vector8">>}, {'1bit', <<"vector1bit">>}]],
    %% f8: decode gives what vector_extract prints (6 significant digits).
    {blob, B8} = one(C, <<"SELECT vector8('[1,2,3,4,5,6,7,8]')">>),
    {ok, {f8, F8}} = libsql_vector:decode(B8),
    Printed = one(C, <<"SELECT vector_extract(?)">>, [{blob, B8}]),
    <<"[", Inner/binary>> = binary:part(Printed, 0, byte_size(Printed) - 1),
    Shown = [binary_to_number(X) || X <- binary:split(Inner, <<",">>, [global])],
    ?assertEqual(8, length(Shown)),
    [?assert(abs(X - Y) =< 1.0e-5 * abs(X)) || {X, Y} <- lists:zip(F8, Shown)],
    %% Special values (a hand-made blob: NaN, -NaN, Inf, -Inf, denormal).
    {ok, {f32, [nan, nan, infinity, neg_infinity, _]}} =
        libsql_vector:decode(binary:decode_hex(<<"0000C07F0000C0FF0000807F000080FF01000000">>)),
    %% Malformed blobs are refused, as SQL refuses them.
    [begin
         bad_argument(libsql_vector:decode(binary:decode_hex(Hex))),
         ?assertMatch({error, _}, libsql:query(C, <<"SELECT vector_extract(?)">>,
                                               [{blob, binary:decode_hex(Hex)}]))
     end || Hex <- [<<"000000">>, <<"0000803F02">>, <<"07">>, <<"03">>, <<"00">>]],
    bad_argument(libsql_vector:decode(<<0, 0>>)),
    bad_argument(libsql_vector:decode(not_a_blob)),
    ok.

binary_to_number(B) ->
    try binary_to_integer(B) of
        I -> float(I)
    catch
        error:badarg -> binary_to_float(B)
    end.

-spec vector_bad_arguments(config()) -> ok.
vector_bad_arguments(_Config) ->
    [bad_argument(R) || R <- [libsql_vector:vector([1, a]), libsql_vector:vector([nan]),
                              libsql_vector:vector([infinity]), libsql_vector:vector(not_list),
                              libsql_vector:vector([1.0e39]), libsql_vector:vector([1], f128),
                              libsql_vector:vector(lists:duplicate(65537, 0)),
                              libsql_vector:vector([1 bsl 1100], f64),
                              libsql_vector:text([<<"1">>]),
                              libsql_vector:encode([1], f16), libsql_vector:encode([1], foo),
                              libsql_vector:encode([1.0e39], f32),
                              libsql_vector:column_type(f32, 0),
                              libsql_vector:column_type(f32, 65537),
                              libsql_vector:column_type(int, 3),
                              libsql_vector:distance(dot, e, e),
                              libsql_vector:distance(cos, 3.5, e),
                              libsql_vector:distance(cos, {1, 2, 3}, e),
                              libsql_vector:distance(cos, e, {f32, [a]}),
                              libsql_vector:distance(cos, <<>>, e),
                              libsql_vector:top_k(i, [1], 0),
                              libsql_vector:top_k(i, [1], -1),
                              libsql_vector:top_k(<<"a b">>, [1], 1),
                              libsql_vector:top_k(<<>>, i, [1], 1),
                              libsql_vector:create_index(i, t, e, #{metric => dot}),
                              libsql_vector:create_index(i, t, e, #{max_neighbors => 0}),
                              libsql_vector:create_index(i, t, e, #{alpha => -1}),
                              libsql_vector:create_index(i, t, e, #{compress_neighbors => int4}),
                              libsql_vector:create_index(i, t, e, #{metric => l2,
                                                                    compress_neighbors => float1bit}),
                              libsql_vector:create_index(i, t, e, #{if_not_exists => yes}),
                              libsql_vector:create_index(i, t, e, #{unknown => 1}),
                              libsql_vector:create_index(i, t, e, [{metric, cos}]),
                              libsql_vector:create_index(<<"i; DROP">>, t, e, #{}),
                              libsql_vector:create_index(i, t, <<>>, #{})]],
    ok.

-spec vector_distance(config()) -> ok.
vector_distance(Config) ->
    C = ?config(conn, Config),
    ok = exec(C, <<"CREATE TABLE \"my docs\"(id INTEGER PRIMARY KEY, \"emb vec\" F32_BLOB(3))">>),
    Rows = [{1, [1, 2, 3]}, {2, [4, 5, 6]}, {3, [-1, 0, 1]}],
    [begin
         {ok, V} = libsql_vector:encode(Vec, f32),
         ok = exec(C, <<"INSERT INTO \"my docs\" VALUES (?, ?)">>, [Id, V])
     end || {Id, Vec} <- Rows],
    %% vectors.md appendix: cos([1,2,3],[4,5,6]) = 0.025368154048919678,
    %% l2 = 5.1961522102355957.
    {ok, {Cos, P1}} = libsql_vector:distance(cos, <<"emb vec">>, [4, 5, 6]),
    {ok, [<<"id">>, <<"d">>], [{1, D1}, {2, D2}, {3, _}]} =
        libsql:query(C, [<<"SELECT id, ">>, Cos, <<" AS d FROM \"my docs\" ORDER BY id">>], P1),
    ?assertEqual(0.025368154048919678, D1),
    ?assert(abs(D2) < 1.0e-6),
    {ok, {L2, P2}} = libsql_vector:distance(l2, {<<"my docs">>, <<"emb vec">>}, {f32, [1, 2, 3]}),
    5.1961522102355957 = one(C, [<<"SELECT ">>, L2, <<" FROM \"my docs\" WHERE id = 2">>], P2),
    %% Two vectors, and other types.
    {ok, {VV, PV}} = libsql_vector:distance(cos, {f64, [1, 0]}, {f64, [0, 1]}),
    1.0 = one(C, [<<"SELECT ">>, VV], PV),
    {ok, {V16, P16}} = libsql_vector:distance(l2, {f16, [1, 1]}, {f16, [-1, -1]}),
    2.8284270763397217 = one(C, [<<"SELECT ">>, V16], P16),
    %% Nearest first, by a distance ordering.
    {ok, {Near, PN}} = libsql_vector:distance(l2, 'emb vec', [-1, 0, 1.1]),
    {ok, _, [{3}, {1}, {2}]} =
        libsql:query(C, [<<"SELECT id FROM \"my docs\" ORDER BY ">>, Near], PN),
    ok.

-spec vector_index_and_top_k(config()) -> ok.
vector_index_and_top_k(Config) ->
    C = ?config(conn, Config),
    {ok, Ty} = libsql_vector:column_type(f32, 2),
    {ok, T} = libsql_pragma:quote_ident(<<"movie table">>),
    ok = exec(C, [<<"CREATE TABLE ">>, T, <<"(id INTEGER PRIMARY KEY, title TEXT, e ">>, Ty, <<")">>]),
    {ok, Idx} = libsql_vector:create_index(movies_idx, <<"movie table">>, e,
                                           #{metric => cos, max_neighbors => 16}),
    ok = exec(C, Idx),
    Movies = [{1, <<"east">>, [1, 0]}, {2, <<"north">>, [0, 1]}, {3, <<"north-east">>, [1, 1]},
              {4, <<"west">>, [-1, 0.1]}],
    [begin
         {ok, V} = libsql_vector:encode(Vec, f32),
         ok = exec(C, [<<"INSERT INTO ">>, T, <<" VALUES (?, ?, ?)">>], [Id, Title, V])
     end || {Id, Title, Vec} <- Movies],
    {ok, [#{name := <<"movies_idx">>, table := <<"movie table">>, sql := Sql}]} =
        libsql_pragma:vector_indexes(C, <<"movie table">>),
    ?assertNotEqual(nomatch, binary:match(Sql, <<"libsql_vector_idx(\"e\", 'max_neighbors=16', 'metric=cosine')">>)),
    {ok, [#{name := <<"movies_idx">>}]} = libsql_pragma:vector_indexes(C),
    {ok, []} = libsql_pragma:vector_indexes(C, nope),
    %% IF NOT EXISTS: a second run is a no-op.
    {ok, Again} = libsql_vector:create_index(movies_idx, <<"movie table">>, e,
                                             #{if_not_exists => true}),
    ok = exec(C, Again),
    {ok, {Q3, P3}} = libsql_vector:top_k(movies_idx, [1, 0.1], 2),
    {ok, {Q4, P4}} = libsql_vector:top_k(<<"movie table">>, movies_idx, [1, 0.1], 2),
    case libsql:query(C, Q3, P3) of
        {error, #{message := <<"no such table: vector_top_k">>}} ->
            %% vector_top_k is not in this build yet.
            {skip, "vector_top_k is not built yet"};
        {ok, [<<"id">>], Ids} ->
            ?assertEqual([{1}, {3}], Ids),
            {ok, _, [{1, <<"east">>, _}, {3, <<"north-east">>, _}]} = libsql:query(C, Q4, P4),
            ok
    end.

-spec vector_index_options(config()) -> ok.
vector_index_options(Config) ->
    C = ?config(conn, Config),
    ok = exec(C, <<"CREATE TABLE t(id INTEGER PRIMARY KEY, e F32_BLOB(4), f F64_BLOB(4))">>),
    Opts = [#{},
            #{metric => cosine, compress_neighbors => float8, max_neighbors => 64},
            #{metric => l2, alpha => 1.5, search_l => 100, insert_l => 50, type => diskann},
            #{compress_neighbors => '1bit'},
            #{compress_neighbors => f16, metric => cos}],
    [begin
         Name = <<"i", (integer_to_binary(N))/binary>>,
         {ok, Sql} = libsql_vector:create_index(Name, t, e, O),
         ok = exec(C, Sql),
         {ok, V} = libsql_vector:encode([N, 1, 2, 3], f32),
         ok = exec(C, <<"INSERT INTO t(id, e) VALUES (?, ?)">>, [N, V])
     end || {N, O} <- lists:zip(lists:seq(1, length(Opts)), Opts)],
    {ok, Is} = libsql_pragma:vector_indexes(C, t),
    ?assertEqual([<<"i1">>, <<"i2">>, <<"i3">>, <<"i4">>, <<"i5">>], [maps:get(name, I) || I <- Is]),
    {ok, Sql2} = libsql_vector:create_index(i2, t, e, lists:nth(2, Opts)),
    ?assertEqual(<<"CREATE INDEX \"i2\" ON \"t\"(libsql_vector_idx(\"e\", "
                   "'compress_neighbors=float8', 'max_neighbors=64', 'metric=cosine'))">>, Sql2),
    ok.

%% ---- JSON ------------------------------------------------------------------------

-spec json_encode(config()) -> ok.
json_encode(Config) ->
    C = ?config(conn, Config),
    Term = #{name => <<"Zoë \"Z\" \\ \n\t\x01 ☃"/utf8>>, n => 42, big => 1 bsl 70, f => 0.1,
             neg => -2.5e-10, ok => true, no => false, nothing => null,
             list => [1, [2, [3]], #{}], empty => [], <<"bin key">> => #{<<"é"/utf8>> => 1}},
    {ok, J} = libsql_json:encode(Term),
    %% SQLite reads it as valid JSON, and every part comes back.
    1 = one(C, <<"SELECT json_valid(?)">>, [J]),
    {ok, {Param, PP}} = libsql_json:param(Term),
    <<"object">> = one(C, [<<"SELECT json_type(">>, Param, <<")">>], PP),
    Checks = [{[name], <<"Zoë \"Z\" \\ \n\t\x01 ☃"/utf8>>}, {[n], 42}, {[f], 0.1},
              {[neg], -2.5e-10}, {[ok], 1}, {[no], 0}, {[nothing], null},
              {[list, 1, 1, 0], 3}, {[list, 2], <<"{}">>}, {[empty], <<"[]">>},
              {[<<"bin key">>, <<"é"/utf8>>], 1}],
    ok = exec(C, <<"CREATE TABLE d(id INTEGER PRIMARY KEY, doc TEXT)">>),
    ok = exec(C, [<<"INSERT INTO d VALUES (1, ">>, Param, <<")">>], PP),
    [begin
         {ok, {Ex, PE}} = libsql_json:extract(doc, Path),
         ?assertEqual({Path, Want}, {Path, one(C, [<<"SELECT ">>, Ex, <<" FROM d">>], PE)})
     end || {Path, Want} <- Checks],
    %% The big integer is written with all its digits.
    {ok, {ExB, PB}} = libsql_json:extract({d, doc}, [big]),
    {1, Big} = one(C, [<<"SELECT instr(doc, '1180591620717411303424') > 0, ">>, ExB,
                       <<" FROM d">>], PB),
    ?assert(abs(Big - 1180591620717411303424) < 1.0e6),
    ok.

-spec json_bad_terms(config()) -> ok.
json_bad_terms(_Config) ->
    [bad_argument(libsql_json:encode(T))
     || T <- [undefined, foo, {1, 2}, self(), <<255, 254>>, [1 | 2], #{1 => 2},
              #{a => 1, <<"a">> => 2}, [#{k => [bad]}], fun() -> ok end]],
    bad_argument(libsql_json:param(foo)),
    bad_argument(libsql_json:each({x})),
    bad_argument(libsql_json:in_list(id, not_a_list)),
    bad_argument(libsql_json:in_list(id, [{x}])),
    bad_argument(libsql_json:in_list("id", [1])),
    bad_argument(libsql_json:extract(<<>>, [a])),
    ok.

-spec json_paths(config()) -> ok.
json_paths(Config) ->
    C = ?config(conn, Config),
    {ok, <<"$.a.\"b c\"[0][#-1]">>} = libsql_json:path([a, <<"b c">>, 0, {from_end, 1}]),
    {ok, <<"$">>} = libsql_json:path([]),
    Doc = #{a => #{<<"b c">> => [[1, 2, 3], 9]}, <<"ü-key"/utf8>> => <<"x">>, arr => [10, 20, 30]},
    {ok, {P, PP}} = libsql_json:param(Doc),
    ok = exec(C, <<"CREATE TABLE d(doc TEXT)">>),
    ok = exec(C, [<<"INSERT INTO d VALUES (">>, P, <<")">>], PP),
    Cases = [{[a, <<"b c">>, 0, {from_end, 1}], 3},
             {[a, <<"b c">>, 1], 9},
             {[<<"ü-key"/utf8>>], <<"x">>},
             {[arr, {from_end, 3}], 10},
             {[missing], null},
             {<<"$.arr[1]">>, 20},
             {<<"$.a.\"b c\"[0][2]">>, 3},
             {<<"$.arr[#-1]">>, 30}],
    [begin
         {ok, {Ex, PE}} = libsql_json:extract(doc, Path),
         ?assertEqual({Path, Want}, {Path, one(C, [<<"SELECT ">>, Ex, <<" FROM d">>], PE)})
     end || {Path, Want} <- Cases],
    %% Each path text that path/1 accepts, SQLite accepts too.
    [begin
         {ok, Text} = libsql_json:path(Path),
         {ok, _, _} = libsql:query(C, <<"SELECT json_extract(doc, ?) FROM d">>, [Text])
     end || {Path, _} <- Cases],
    [bad_argument(libsql_json:path(B))
     || B <- [<<"a">>, <<"$.">>, <<"$a">>, <<"$[x]">>, <<"$[1">>, <<"$.\"unterminated">>,
              <<"$..a">>, [<<"quo\"te">>], [<<>>], [-1], [{from_end, 0}], [1.5], "$.a",
              [<<"nul", 0>>], not_a_path]],
    %% SQLite refuses what path/1 refuses (for text paths).
    [?assertMatch({error, _}, libsql:query(C, <<"SELECT json_extract(doc, ?) FROM d">>, [B]))
     || B <- [<<"a">>, <<"$.">>, <<"$a">>, <<"$[x]">>, <<"$[1">>, <<"$.\"unterminated">>]],
    ok.

-spec json_each_and_in_list(config()) -> ok.
json_each_and_in_list(Config) ->
    C = ?config(conn, Config),
    ok = exec(C, <<"CREATE TABLE p(id INTEGER PRIMARY KEY, name TEXT, tags TEXT)">>),
    [begin
         {ok, {TP, TPP}} = libsql_json:param(#{tags => Tags}),
         ok = exec(C, [<<"INSERT INTO p VALUES (?, ?, ">>, TP, <<")">>], [Id, Name] ++ TPP)
     end || {Id, Name, Tags} <- [{1, <<"ann">>, [<<"a">>, <<"b">>]}, {2, <<"bob">>, []},
                                 {3, <<"cy">>, [<<"b">>]}, {4, <<"dee">>, [<<"c">>]}]],
    %% in_list: the ids in an Erlang list, one parameter whatever its length.
    {ok, {In, PIn}} = libsql_json:in_list(id, [4, 1, 99]),
    {ok, _, [{1}, {4}]} = libsql:query(C, [<<"SELECT id FROM p WHERE ">>, In, <<" ORDER BY id">>], PIn),
    {ok, {InN, PInN}} = libsql_json:in_list({p, name}, [<<"bob">>, <<"cy">>]),
    {ok, _, [{2}, {3}]} = libsql:query(C, [<<"SELECT id FROM p WHERE ">>, InN, <<" ORDER BY id">>], PInN),
    {ok, {In0, P0}} = libsql_json:in_list(id, []),
    {ok, _, []} = libsql:query(C, [<<"SELECT id FROM p WHERE ">>, In0], P0),
    {ok, {InL, PL}} = libsql_json:in_list(id, lists:seq(1, 5000)),
    4 = one(C, [<<"SELECT count(*) FROM p WHERE ">>, InL], PL),
    %% each/2: a JSON column's array joined to its rows.
    {ok, {Each, PE}} = libsql_json:each({p, tags}, [tags]),
    {ok, _, Pairs} = libsql:query(C, [<<"SELECT p.id, j.value FROM p, ">>, Each,
                                      <<" AS j ORDER BY p.id, j.key">>], PE),
    ?assertEqual([{1, <<"a">>}, {1, <<"b">>}, {3, <<"b">>}, {4, <<"c">>}], Pairs),
    %% each/1: an Erlang term as a table.
    {ok, {Each1, PE1}} = libsql_json:each(#{x => 1, y => [2]}),
    {ok, _, KV} = libsql:query(C, [<<"SELECT key, value, type FROM ">>, Each1,
                                   <<" ORDER BY key">>], PE1),
    ?assertEqual([{<<"x">>, 1, <<"integer">>}, {<<"y">>, <<"[2]">>, <<"array">>}], KV),
    ok.
