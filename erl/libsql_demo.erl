%% @doc A short tour of the API against a local database file: what
%% `make demo' runs. Prints each step and its result.
-module(libsql_demo).

-export([main/0, main/1]).

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

step(What, Result) ->
    io:format("~n== ~s~n~tp~n", [What, Result]).
