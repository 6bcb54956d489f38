%% @doc Helpers that build SQLite's JSON SQL safely: Erlang terms encoded
%% as JSON to bind, checked JSON paths, and `json_extract', `json_each'
%% and `IN (SELECT value FROM json_each(?))' fragments. Nothing here runs
%% SQL: a fragment is `{Sql, Params}', SQL text whose `?' placeholders
%% take Params in order, for {@link libsql:query/3} and the like. Column
%% and table names are quoted with {@link libsql_pragma:quote_ident/1};
%% JSON and paths are always bound as parameters, never spliced.
%%
%% Terms and their JSON: `null', `true', `false'; integers (any size) and
%% floats (shortest round-trip form); binaries are strings and must be
%% UTF-8; lists are arrays; maps are objects whose keys are binaries or
%% atoms. Other atoms, strings given as lists of characters (they would be
%% arrays of numbers: give a binary), tuples, pids and the like are refused.
%%
%% Example: the rows whose id is in an Erlang list, and a field of a JSON
%% column:
%% ```
%% {ok, {In, P1}} = libsql_json:in_list(id, [1, 2, 3]),
%% {ok, {Name, P2}} = libsql_json:extract(doc, [user, <<"name">>]),
%% {ok, _, Rows} = libsql:query(Db, [<<"SELECT ">>, Name, <<" FROM t WHERE ">>, In],
%%                              P2 ++ P1).
%% '''
%%
%% Errors: `{error, #{code := bad_argument, message := Why}}' for a term
%% that is not JSON, a bad path or a bad name, before any SQL exists.
-module(libsql_json).

-export([encode/1, param/1, path/1, extract/2, each/1, each/2, in_list/2]).

-export_type([json/0, path/0, column/0]).

-type json() :: null | boolean() | integer() | float() | binary() | [json()]
              | #{binary() | atom() => json()}.
%% An Erlang term that encodes as JSON (see the module doc).
-type path() :: binary() | [atom() | binary() | non_neg_integer() | {from_end, pos_integer()}].
%% A JSON path as text (`<<"$.a.b[0]">>') or as a list of steps: a key
%% (an atom or a binary), an array index, or `{from_end, N}' for the N-th
%% element from the end (`[#-N]').
-type column() :: atom() | binary() | {atom() | binary(), atom() | binary()}.
%% A column name, optionally with its table.
-type fragment() :: {Sql :: binary(), Params :: [libsql:value()]}.
%% SQL text whose `?' placeholders take Params, in order.
-type error() :: {error, libsql:error()}.
%% `bad_argument' (see the module doc).

%% @doc A term as JSON text: `{ok, <<"{\"a\":[1,2.5,null]}">>}' for
%% `#{a => [1, 2.5, null]}'. Strings escape `"', `\' and control
%% characters; other characters are written as UTF-8. Object members come
%% in key order. Errors: `bad_argument' for a term that is not json(),
%% a binary that is not UTF-8, or a map with two keys of the same text.
-spec encode(json()) -> {ok, binary()} | error().
encode(Term) ->
    try enc(Term) of
        IoData -> {ok, iolist_to_binary(IoData)}
    catch
        throw:{bad_json, Why} -> bad(Why)
    end.

%% @doc A term as a JSON parameter: `{ok, {<<"json(?)">>, [Text]}}', Text
%% its encode/1 text, so the value is SQLite JSON (an object or array stays
%% one, rather than a string) wherever the fragment is placed, for example
%% in `INSERT INTO t(doc) VALUES (json(?))'. Errors: those of encode/1.
-spec param(json()) -> {ok, fragment()} | error().
param(Term) ->
    case encode(Term) of
        {ok, J} -> {ok, {<<"json(?)">>, [J]}};
        {error, _} = E -> E
    end.

%% @doc A JSON path checked against SQLite's path syntax: `{ok, Text}'.
%% From steps, `[a, <<"b c">>, 0, {from_end, 1}]' gives
%% `<<"$.a.\"b c\"[0][#-1]">>' (a key other than `[A-Za-z_][A-Za-z0-9_]*'
%% is double-quoted). Text is checked as given: `$', then `.key',
%% `."key"', `[N]', `[#]' or `[#-N]' steps; a string (a list of
%% characters starting with `$') is refused, not read as steps.
%% Errors: `bad_argument' for text that is not such a path, a key holding a double quote (SQLite's
%% paths cannot express it) or a NUL, or another step.
-spec path(path()) -> {ok, binary()} | error().
path(P) ->
    try path_text(P) of
        Text -> {ok, Text}
    catch
        throw:{bad_json, Why} -> bad(Why)
    end.

%% @doc A `json_extract' of a column at a path: `{ok, {<<"json_extract(\"doc\", ?)">>,
%% [PathText]}}'. It yields SQL values: a JSON string as TEXT, a number as
%% INTEGER or REAL, null as NULL, an object or array as JSON text.
%% Errors: `bad_argument' for a bad column name or path (see path/1).
-spec extract(column(), path()) -> {ok, fragment()} | error().
extract(Column, Path) ->
    with_col_path(Column, Path, fun(C, P) -> {ok, {<<"json_extract(", C/binary, ", ?)">>, [P]}} end).

%% @doc `json_each' over a term, as a table to select from:
%% `{ok, {<<"json_each(?)">>, [Text]}}'; each row is a top-level element or
%% member, with the columns `key', `value', `type', `atom', `id',
%% `parent', `fullkey' and `path'. For example
%% `SELECT value FROM json_each(?)'. Errors: those of encode/1.
-spec each(json()) -> {ok, fragment()} | error().
each(Term) ->
    case encode(Term) of
        {ok, J} -> {ok, {<<"json_each(?)">>, [J]}};
        {error, _} = E -> E
    end.

%% @doc `json_each' over a JSON column at a path, as a table to join:
%% `{ok, {<<"json_each(\"t\".\"doc\", ?)">>, [PathText]}}' for
%% `({t, doc}, <<"$.tags">>)', as in `SELECT t.id, j.value FROM t,
%% json_each(t.doc, ?) AS j'. Errors: `bad_argument' for a bad column
%% name or path.
-spec each(column(), path()) -> {ok, fragment()} | error().
each(Column, Path) ->
    with_col_path(Column, Path, fun(C, P) -> {ok, {<<"json_each(", C/binary, ", ?)">>, [P]}} end).

%% @doc A condition that a column is one of Values, with the whole list
%% bound as one JSON array parameter (no SQL grows with the list):
%% `{ok, {<<"\"id\" IN (SELECT value FROM json_each(?))">>, [Array]}}'.
%% Values are json() scalars (integers, floats, binaries, booleans as
%% 1/0); an empty list matches nothing. Errors: `bad_argument' for a bad
%% column name, Values not a list, or an element that is not JSON.
-spec in_list(column(), [json()]) -> {ok, fragment()} | error().
in_list(Column, Values) when is_list(Values) ->
    case {column(Column), encode(Values)} of
        {{ok, C}, {ok, J}} ->
            {ok, {<<C/binary, " IN (SELECT value FROM json_each(?))">>, [J]}};
        {{error, _} = E, _} -> E;
        {_, {error, _} = E} -> E
    end;
in_list(_Column, _Values) -> bad(<<"in_list takes a list of values">>).

%% ---- internals ----------------------------------------------------------------

with_col_path(Column, Path, Then) ->
    case column(Column) of
        {ok, C} ->
            case path(Path) of
                {ok, P} -> Then(C, P);
                {error, _} = E -> E
            end;
        {error, _} = E -> E
    end.

column({T, C}) ->
    case {ident(T), ident(C)} of
        {{ok, QT}, {ok, QC}} -> {ok, <<QT/binary, ".", QC/binary>>};
        {{error, _} = E, _} -> E;
        {_, {error, _} = E} -> E
    end;
column(C) -> ident(C).

ident(N) when is_atom(N); is_binary(N) -> libsql_pragma:quote_ident(N);
ident(_) -> bad(<<"a column name must be an atom or a binary">>).

%% ---- encoding ----

enc(null) -> <<"null">>;
enc(true) -> <<"true">>;
enc(false) -> <<"false">>;
enc(I) when is_integer(I) -> integer_to_binary(I);
enc(F) when is_float(F) -> float_to_binary(F, [short]);
enc(B) when is_binary(B) -> string(B);
enc(L) when is_list(L) -> [$[, lists:join($,, [enc(E) || E <- proper(L)]), $]];
enc(M) when is_map(M) ->
    Members = lists:sort([{key(K), V} || {K, V} <- maps:to_list(M)]),
    case length(lists:ukeysort(1, Members)) =:= length(Members) of
        true -> ok;
        false -> throw({bad_json, <<"a JSON object has two keys of the same text">>})
    end,
    [${, lists:join($,, [[string(K), $:, enc(V)] || {K, V} <- Members]), $}];
enc(A) when is_atom(A) ->
    throw({bad_json, <<"the only atoms in JSON are null, true and false">>});
enc(_) ->
    throw({bad_json, <<"JSON is made of null, booleans, numbers, binaries, lists and maps">>}).

proper(L) ->
    try length(L) of
        _ -> L
    catch
        error:badarg -> throw({bad_json, <<"an improper list is not JSON">>})
    end.

key(K) when is_binary(K) -> K;
key(K) when is_atom(K) -> atom_to_binary(K, utf8);
key(_) -> throw({bad_json, <<"a JSON object key must be a binary or an atom">>}).

%% A binary as a JSON string; it must be UTF-8.
string(B) ->
    case unicode:characters_to_binary(B) of
        B -> [$", escape(B, 0, B, []), $"];
        _ -> throw({bad_json, <<"a JSON string must be UTF-8">>})
    end.

%% Copies runs of plain bytes as sub-binaries; escapes the rest.
escape(<<C, Rest/binary>>, N, Orig, Acc) when C =:= $"; C =:= $\\; C < 16#20 ->
    Run = binary:part(Orig, byte_size(Orig) - byte_size(Rest) - 1 - N, N),
    escape(Rest, 0, Orig, [esc(C), Run | Acc]);
escape(<<_, Rest/binary>>, N, Orig, Acc) -> escape(Rest, N + 1, Orig, Acc);
escape(<<>>, N, Orig, Acc) ->
    lists:reverse(Acc, [binary:part(Orig, byte_size(Orig) - N, N)]).

esc($") -> <<"\\\"">>;
esc($\\) -> <<"\\\\">>;
esc($\n) -> <<"\\n">>;
esc($\r) -> <<"\\r">>;
esc($\t) -> <<"\\t">>;
esc($\b) -> <<"\\b">>;
esc($\f) -> <<"\\f">>;
esc(C) -> io_lib:format("\\u~4.16.0b", [C]).

%% ---- paths ----

path_text(Text) when is_binary(Text) ->
    check_path(Text),
    Text;
path_text([$$ | _] = L) when length(L) > 1 ->
    case io_lib:printable_unicode_list(L) of
        true -> throw({bad_json, <<"a JSON path text must be a binary, not a string">>});
        false -> iolist_to_binary([$$ | [step(S) || S <- L]])
    end;
path_text(Steps) when is_list(Steps) ->
    iolist_to_binary([$$ | [step(S) || S <- proper(Steps)]]);
path_text(_) ->
    throw({bad_json, <<"a JSON path is a binary or a list of steps">>}).

step(I) when is_integer(I), I >= 0 -> [$[, integer_to_binary(I), $]];
step({from_end, N}) when is_integer(N), N >= 1 -> [<<"[#-">>, integer_to_binary(N), $]];
step(K) when is_atom(K) -> step(atom_to_binary(K, utf8));
step(K) when is_binary(K) ->
    case re:run(K, <<"^[A-Za-z_][A-Za-z0-9_]*$">>, [{capture, none}]) of
        match ->
            [$., K];
        nomatch ->
            case binary:match(K, [<<$">>, <<0>>]) of
                nomatch when K =/= <<>> -> string_key(K);
                nomatch -> throw({bad_json, <<"a JSON path key must not be empty">>});
                _ -> throw({bad_json, <<"a JSON path key cannot hold a double quote or a NUL">>})
            end
    end;
step(_) ->
    throw({bad_json, <<"a JSON path step is a key, an index or {from_end, N}">>}).

string_key(K) ->
    case unicode:characters_to_binary(K) of
        K -> [$., $", K, $"];
        _ -> throw({bad_json, <<"a JSON path key must be UTF-8">>})
    end.

check_path(<<"$", Rest/binary>>) -> check_steps(Rest);
check_path(_) -> throw({bad_json, <<"a JSON path starts with $">>}).

check_steps(<<>>) -> ok;
check_steps(<<".\"", Rest/binary>>) ->
    case binary:split(Rest, <<$">>) of
        [Key, Rest1] when Key =/= <<>> -> no_nul(Key), check_steps(Rest1);
        _ -> bad_path()
    end;
check_steps(<<".", Rest/binary>>) ->
    case binary:match(Rest, [<<".">>, <<"[">>]) of
        {0, _} -> bad_path();
        nomatch when Rest =:= <<>> -> bad_path();
        nomatch -> no_nul(Rest), ok;
        {At, _} -> no_nul(binary:part(Rest, 0, At)), check_steps(binary:part(Rest, At, byte_size(Rest) - At))
    end;
check_steps(<<"[#]", Rest/binary>>) -> check_steps(Rest);
check_steps(<<"[#-", Rest/binary>>) -> index(Rest);
check_steps(<<"[", Rest/binary>>) -> index(Rest);
check_steps(_) -> bad_path().

index(B) ->
    case re:run(B, <<"^([0-9]+)\\]">>, [{capture, all, index}]) of
        {match, [{0, Len} | _]} -> check_steps(binary:part(B, Len, byte_size(B) - Len));
        nomatch -> bad_path()
    end.

no_nul(K) ->
    case binary:match(K, <<0>>) of
        nomatch -> ok;
        _ -> bad_path()
    end.

-spec bad_path() -> no_return().
bad_path() ->
    throw({bad_json, <<"not a JSON path: $ then steps .key, .\"key\", [N], [#] or [#-N]">>}).

bad(Why) -> {error, libsql_proto:err(bad_argument, Why)}.
