%% Test utility: the vector peer. Runs test/js/vector_peer.mjs, which runs SQL on npm
%% libsql 0.5.29 (libSQL 3.45.1 with its vector functions), so libsql_vector_SUITE can
%% compare our vector SQL with libSQL's own. test/setup_remote.sh installs the package into
%% $LIBSQL_TEST_CACHE (default ~/.cache/libsql-test); finding node and the repo root is
%% libsql_crypt_peer's way (libsql_node).
%%
%%   true = libsql_vector_peer:available()
%%   [{rows, [[{blob, <<0,0,128,63>>}]]}, {error, #{message := <<"vector: must end with ']'">>}}] =
%%       libsql_vector_peer:eval(null, [<<"SELECT vector('[1]')">>, <<"SELECT vector('[1')">>])
%%   ok = libsql_vector_peer:exec(Path, "CREATE TABLE t(e F32_BLOB(3)); INSERT ...")
%%
%% Cells come back in the suite's canonical shape: null, {int, I}, {real, <<Bits:64>>} (the
%% double's IEEE-754 bits, so -0.0, the infinities and every last bit compare exactly),
%% {text, Bin}, {blob, Bin}. Nothing is ever bound (the peer panics on a bound Buffer):
%% blobs go into the SQL as x'..' literals.
-module(libsql_vector_peer).

-export([available/0, root/0, script/0, run/2, eval/2, eval/3, exec/2, ours/2]).

-define(SCRIPT, "test/js/vector_peer.mjs").
-define(PEER_VERSION, <<"0.5.29">>).
-define(DEFAULT_TIMEOUT, 300000).

-type cell() :: null | {int, integer()} | {real, <<_:64>>} | {text, binary()} | {blob, binary()}.
-type result() :: {rows, [[cell()]]} | {error, #{code := binary(), message := binary()}}.
-export_type([cell/0, result/0]).

%% @doc true when node, the script and libsql 0.5.29 are all there; else {false, Why}.
-spec available() -> true | {false, term()}.
available() ->
    try run(#{cmd => <<"version">>}, 60000) of
        #{<<"version">> := ?PEER_VERSION} -> true;
        #{<<"version">> := Other} -> {false, {wrong_libsql_version, Other, ?PEER_VERSION}};
        Other -> {false, {bad_output, Other}}
    catch
        error:Why -> {false, Why}
    end.

%% @doc Runs every statement on the peer, in order, on one connection to Path (null: an
%% in-memory database); one result a statement.
-spec eval(file:filename_all() | null, [iodata()]) -> [result()].
eval(Path, Sqls) ->
    eval(Path, Sqls, ?DEFAULT_TIMEOUT).

-spec eval(file:filename_all() | null, [iodata()], timeout()) -> [result()].
eval(Path, Sqls, Timeout) ->
    In = libsql_node:tmp_file("vector_peer_in"),
    ok = file:write_file(In, libsql_test_json:encode([iolist_to_binary(S) || S <- Sqls])),
    try run(#{cmd => <<"eval">>, path => path(Path), in => bin(In)}, Timeout) of
        #{<<"results">> := Rs} when length(Rs) =:= length(Sqls) -> [result(R) || R <- Rs];
        Other -> error({vector_peer_bad_output, Other})
    after
        _ = file:delete(In)
    end.

%% @doc db.exec(Sql) on the file Path (several statements allowed).
-spec exec(file:filename_all(), iodata()) -> ok | {error, #{code := binary(), message := binary()}}.
exec(Path, Sql) ->
    case run(#{cmd => <<"exec">>, path => path(Path), sql => iolist_to_binary(Sql)},
             ?DEFAULT_TIMEOUT) of
        #{<<"ok">> := true} -> ok;
        #{<<"error">> := E} -> {error, err(E)};
        Other -> error({vector_peer_bad_output, Other})
    end.

%% @doc Runs one command (see the script's header) and returns the JSON object it printed.
%% Raises an error when node cannot be run, the script fails or prints something else.
-spec run(map(), timeout()) -> map().
run(Cmd, Timeout) ->
    Node = case libsql_node:exe() of
               false -> error(node_not_found);
               N -> N
           end,
    Script = script(),
    filelib:is_regular(Script) orelse error({script_not_found, Script}),
    Json = libsql_test_json:encode(Cmd),
    case libsql_node:run(Node, Script, [Json], Timeout) of
        {ok, 0, Out, _Err} ->
            case libsql_test_json:decode(Out) of
                {ok, Map} when is_map(Map) -> Map;
                _ -> error({vector_peer_bad_output, Out})
            end;
        {ok, Status, Out, Err} ->
            error({vector_peer_failed, #{status => Status, stderr => Err, stdout => Out,
                                         cmd => Json}});
        {timeout, Err} ->
            error({vector_peer_timeout, #{stderr => Err, cmd => Json}})
    end.

%% @doc The repo root: $LIBSQL_ROOT, else the first folder above this source file, its
%% beam or the cwd that holds the script.
-spec root() -> file:filename().
root() ->
    case os:getenv("LIBSQL_ROOT") of
        Dir when is_list(Dir), Dir =/= "" -> Dir;
        _ ->
            Source = proplists:get_value(source, ?MODULE:module_info(compile), ?FILE),
            Starts = [filename:dirname(Source), filename:dirname(?FILE)]
                ++ case code:which(?MODULE) of
                       Beam when is_list(Beam) -> [filename:dirname(Beam)];
                       _ -> []
                   end
                ++ case file:get_cwd() of
                       {ok, Cwd} -> [Cwd];
                       _ -> []
                   end,
            libsql_node:find_root(?SCRIPT, [filename:absname(S) || S <- Starts])
    end.

-spec script() -> file:filename().
script() ->
    filename:join(root(), ?SCRIPT).

%% ---------------------------------------------------------------------------------------

result(#{<<"rows">> := Rows}) -> {rows, [[cell(C) || C <- Row] || Row <- Rows]};
result(#{<<"error">> := E}) -> {error, err(E)};
result(Other) -> error({vector_peer_bad_result, Other}).

err(#{<<"message">> := M} = E) -> #{code => maps:get(<<"code">>, E, null), message => M}.

cell(null) -> null;
cell(#{<<"i">> := D}) -> {int, binary_to_integer(D)};
cell(#{<<"r">> := H}) -> {real, binary:decode_hex(H)};
cell(#{<<"s">> := S}) -> {text, S};
cell(#{<<"b">> := H}) -> {blob, binary:decode_hex(H)};
cell(Other) -> error({vector_peer_bad_cell, Other}).

path(null) -> null;
path(P) -> bin(P).

bin(X) when is_binary(X) -> X;
bin(X) when is_list(X) -> unicode:characters_to_binary(X).

%% @doc One statement run by us (libsql:query/2 on Db), its result in the peer's shape
%% (as result(), errors as libsql gives them), so that the two compare with =:=.
-spec ours(libsql:db(), iodata()) -> {rows, [[cell() | {other, term()}]]} | {error, map()}.
ours(Db, Sql) ->
    case libsql:query(Db, Sql) of
        {ok, _Cols, Rows} -> {rows, [[our_cell(V) || V <- tuple_to_list(R)] || R <- Rows]};
        {error, #{message := M} = E} -> {error, E#{message => iolist_to_binary(M)}};
        {error, E} -> {error, #{message => iolist_to_binary(io_lib:format("~0p", [E]))}}
    end.

our_cell(null) -> null;
our_cell(I) when is_integer(I) -> {int, I};
our_cell(F) when is_float(F) -> {real, <<F:64/float>>};
our_cell(infinity) -> {real, <<16#7FF0000000000000:64>>};
our_cell(neg_infinity) -> {real, <<16#FFF0000000000000:64>>};
our_cell(B) when is_binary(B) -> {text, B};
our_cell({blob, B}) -> {blob, B};
our_cell(Other) -> {other, Other}.
