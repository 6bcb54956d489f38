%% @doc A short tour of the API against a local database file: what
%% `make demo' runs. Prints each step and its result.
-module(libsql_demo).

-export([main/0, main/1, remote/1, remote_auto/0]).

%% @doc Run the demo on "demo.db" in the current directory.
-spec main() -> ok.
main() -> main("demo.db").

%% @doc Run the demo on the given database file (recreated each run).
-spec main(file:filename()) -> ok.
main(Path) ->
    _ = file:delete(Path),
    {ok, Db} = libsql:open(#{path => Path}),
    step("open", {ok, Db}),
    step("create table",
         libsql:execute(Db, "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
                            " price REAL, qty INTEGER, photo BLOB, note)")),
    step("insert with positional parameters",
         libsql:execute(Db, "INSERT INTO items (name, price, qty, photo, note) VALUES (?, ?, ?, ?, ?)",
                        [<<"teapot ☕"/utf8>>, 19.5, 9223372036854775807,
                         {blob, <<0, 1, 2, 255>>}, null])),
    step("insert with named parameters",
         libsql:execute(Db, "INSERT INTO items (name, price, qty, photo, note) "
                            "VALUES (:name, :price, :qty, :photo, :note)",
                        #{name => <<"cup">>, price => -0.0, qty => -9223372036854775808,
                          photo => {blob, <<>>}, note => <<"text with a\0NUL">>})),
    step("query it back", libsql:query(Db, "SELECT * FROM items ORDER BY id")),
    step("query rows as maps",
         libsql:query(Db, "SELECT name, qty FROM items WHERE price > ?", [0], #{rows => maps})),
    step("transaction (commits)",
         libsql:transaction(Db, fun(C) ->
             {ok, _} = libsql:execute(C, "UPDATE items SET qty = qty - 1 WHERE name = ?", [<<"teapot ☕"/utf8>>]),
             {ok, #{changes := 1}} = libsql:execute(C, "INSERT INTO items (name) VALUES (?)", [<<"saucer">>]),
             inserted_saucer
         end)),
    step("transaction (raises, rolls back)",
         catch libsql:transaction(Db, fun(C) ->
             {ok, #{changes := N}} = libsql:execute(C, "DELETE FROM items"),
             %% Any exception rolls back; here the fun changes its mind.
             case N > 0 of
                 true -> throw({changed_my_mind, N});
                 false -> nothing_deleted
             end
         end)),
    step("rows after both transactions", libsql:query(Db, "SELECT count(*) FROM items")),
    Err = libsql:execute(Db, "INSERT INTO items (name) VALUES (?)", [<<"cup">>]),
    step("a constraint error", Err),
    io:format("~n  format_error: ~ts~n", [libsql:format_error(Err)]),
    Bad = libsql:query(Db, "SELECT ?", [1 bsl 64]),
    io:format("  format_error: ~ts~n", [libsql:format_error(Bad)]),
    step("close", libsql:close(Db)),
    io:format("~ndemo done: ~ts~n", [Path]),
    ok.

%% @doc `make demo-remote': the remote tour against LIBSQL_URL, or against
%% a local tursodb started (and stopped) by the test helper
%% libsql_tursodb, which the Makefile puts on the code path.
-spec remote_auto() -> ok.
remote_auto() ->
    case os:getenv("LIBSQL_URL") of
        Url when is_list(Url), Url =/= "" ->
            remote(Url);
        _ ->
            Helper = libsql_tursodb, % test/, not part of the application
            {ok, #{url := Url} = T} = Helper:start("build/demo"),
            try remote(Url) after Helper:stop(T) end
    end.

%% @doc The same tour against a server (`make demo-remote' starts a local
%% tursodb for it): one HTTP request per call, a transactional batch
%% instead of an interactive transaction where the server has no streams.
-spec remote(binary() | string()) -> ok.
remote(Url) ->
    {ok, Db} = libsql:open(#{url => Url}),
    step("open " ++ unicode:characters_to_list(Url), {ok, Db}),
    step("info", libsql:info(Db)),
    step("drop and create table",
         libsql:execute_script(Db, "DROP TABLE IF EXISTS demo_items;"
                                   "CREATE TABLE demo_items (id INTEGER PRIMARY KEY,"
                                   " name TEXT NOT NULL UNIQUE, price REAL, photo BLOB);")),
    step("insert with named parameters (translated to positional in the port)",
         libsql:execute(Db, "INSERT INTO demo_items (name, price, photo) VALUES (:n, :p, :b)",
                        #{n => <<"teapot ☕"/utf8>>, p => -0.0, b => {blob, <<0, 255>>}})),
    step("execute_many: 1000 rows, one HTTP request",
         libsql:execute_many(Db, "INSERT INTO demo_items (name, price) VALUES (?, ?)",
                             [[<<"item ", (integer_to_binary(I))/binary>>, I * 1.5]
                              || I <- lists:seq(1, 1000)])),
    step("query", libsql:query(Db, "SELECT * FROM demo_items WHERE id <= ?", [3])),
    step("transactional batch (commits)",
         libsql:batch(Db, [{"UPDATE demo_items SET price = price * 2 WHERE id = ?", [2]},
                           {"SELECT price FROM demo_items WHERE id = ?", [2]}],
                      #{transaction => true})),
    Failed = libsql:batch(Db, [{"INSERT INTO demo_items (name) VALUES (?)", [<<"new">>]},
                               {"INSERT INTO demo_items (name) VALUES (?)", [<<"item 1">>]}],
                          #{transaction => true}),
    step("transactional batch (fails at statement 2, nothing applied)", Failed),
    step("count", libsql:query(Db, "SELECT count(*) FROM demo_items")),
    step("fold over the rows (chunked)",
         libsql:fold(Db, "SELECT price FROM demo_items", [],
                     fun({P}, Acc) when is_float(P) -> Acc + P; (_, Acc) -> Acc end, 0.0)),
    Tx = libsql:transaction(Db, fun(_) -> ok end),
    step("interactive transaction", Tx),
    io:format("~n  format_error: ~ts~n", [libsql:format_error(Tx)]),
    step("close", libsql:close(Db)),
    io:format("~ndemo done: ~ts~n", [Url]),
    ok.

step(What, Result) ->
    io:format("~n== ~s~n~tp~n", [What, Result]).
