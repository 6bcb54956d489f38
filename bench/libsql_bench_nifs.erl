%% @doc The NIF peers of the benchmark (bench/README.md, "NIF peers"):
%% esqlite (github.com/mmzeeman/esqlite) and exqlite
%% (github.com/elixir-sqlite/exqlite), SQLite inside the VM as NIFs. Neither
%% is part of this repository: when the environment variable
%% LIBSQL_BENCH_NIFS names a directory holding them, built outside the
%% repository,
%%
%%   esqlite/ebin/esqlite3.beam, esqlite3_nif.beam, esqlite.app
%%   esqlite/priv/esqlite3_nif.so
%%   exqlite/ebin/'Elixir.Exqlite.Sqlite3NIF'.beam, exqlite.app
%%   exqlite/priv/sqlite3_nif.so
%%   SOURCES (optional: one line saying what was built, printed with the table)
%%
%% libsql_bench adds a column for each one found. This module is how the
%% bench calls them, as each one's own layer would:
%%
%% - esqlite through its own Erlang module, esqlite3: open/1, q/3 (prepare,
%%   bind, step until '$done': one call a statement), exec/2 for BEGIN and
%%   COMMIT, close/1.
%% - exqlite's layer is Elixir (Exqlite.Sqlite3); its NIF functions are
%%   called here in the order Exqlite.Sqlite3 calls them, for the sequence of
%%   exqlite's README: open/2 with the default mode ([:readwrite, :create]),
%%   then per statement prepare/2, bind/2 (bind_parameter_count, each value
%%   through convert/1, which reads the application environment's
%%   type_extensions, then bind_integer/bind_float/bind_text, a result other
%%   than 0 raising), step/2 until :done, release/2; execute/2 for BEGIN,
%%   COMMIT and CREATE. DBConnection and Exqlite.Connection (its pool, its
%%   pragmas at connect, which would switch the shared file to WAL) are not
%%   used.
-module(libsql_bench_nifs).

-export([available/0, sources/0, open/2, close/2, query/4, exec/3]).

-define(EXQ, 'Elixir.Exqlite.Sqlite3NIF').
-define(SQLITE_OK, 0).
%% Exqlite.Flags: sqlite_open_readwrite bor sqlite_open_create, what
%% Exqlite.Sqlite3.open/2 passes for the default mode.
-define(EXQ_OPEN_FLAGS, (16#2 bor 16#4)).

-type lib() :: esqlite | exqlite.

%% @doc The peers found in $LIBSQL_BENCH_NIFS (their code paths added and
%% their NIFs loaded), and a note for the report: why none or some are
%% missing, or what was built (the SOURCES file).
-spec available() -> {[lib()], string()}.
available() ->
    case os:getenv("LIBSQL_BENCH_NIFS") of
        false -> {[], "esqlite, exqlite: not measured (LIBSQL_BENCH_NIFS is not set)"};
        "" -> {[], "esqlite, exqlite: not measured (LIBSQL_BENCH_NIFS is empty)"};
        Dir0 ->
            Dir = filename:absname(Dir0),
            Found = [{Lib, load(Dir, Lib)} || Lib <- [esqlite, exqlite]],
            Libs = [Lib || {Lib, ok} <- Found],
            Missing = [io_lib:format("~s not loaded from ~ts (~0tp)", [Lib, Dir, Why])
                       || {Lib, {error, Why}} <- Found],
            Note = lists:join("; ", [["NIF peers from LIBSQL_BENCH_NIFS=", Dir, ": ",
                                      lists:join(", ", sources())] | Missing]),
            {Libs, lists:flatten(Note)}
    end.

load(Dir, Lib) ->
    Ebin = filename:join([Dir, atom_to_list(Lib), "ebin"]),
    Mod = case Lib of esqlite -> esqlite3_nif; exqlite -> ?EXQ end,
    case filelib:is_dir(Ebin) of
        false -> {error, no_ebin};
        true ->
            true = code:add_patha(Ebin),
            case code:ensure_loaded(Mod) of
                {module, Mod} -> loaded(Lib);
                {error, Why} -> {error, Why}
            end
    end.

%% The NIF answers (the on_load of each module loaded its .so).
loaded(esqlite) ->
    case code:ensure_loaded(esqlite3) of
        {module, esqlite3} -> ok;
        {error, Why} -> {error, {esqlite3, Why}}
    end;
loaded(exqlite) ->
    case catch ?EXQ:errstr(0) of
        B when is_binary(B) -> ok;
        Other -> {error, Other}
    end.

%% @doc The lines of $LIBSQL_BENCH_NIFS/SOURCES (what was built), if any.
-spec sources() -> [string()].
sources() ->
    case os:getenv("LIBSQL_BENCH_NIFS") of
        false -> [];
        Dir ->
            case file:read_file(filename:join(Dir, "SOURCES")) of
                {ok, Bin} ->
                    [binary_to_list(L) || L <- binary:split(Bin, <<"\n">>, [global, trim_all])];
                {error, _} -> []
            end
    end.

%% @doc Open a connection to the file Path.
-spec open(lib(), file:filename()) -> term().
open(esqlite, Path) ->
    {ok, Db} = esqlite3:open(Path),
    Db;
open(exqlite, Path) ->
    %% Exqlite.Sqlite3.open(path): mode [:readwrite, :create]
    {ok, Db} = ?EXQ:open(unicode:characters_to_binary(Path), ?EXQ_OPEN_FLAGS),
    Db.

-spec close(lib(), term()) -> ok.
close(esqlite, Db) -> ok = esqlite3:close(Db);
close(exqlite, Db) -> ok = ?EXQ:close(Db).

%% @doc One statement with positional parameters: its rows, as lists.
-spec query(lib(), term(), binary(), list()) -> [list()].
query(esqlite, Db, Sql, Params) ->
    case esqlite3:q(Db, Sql, Params) of
        Rows when is_list(Rows) -> Rows;
        {error, _} = E -> error(E)
    end;
query(exqlite, Db, Sql, Params) ->
    {ok, Stmt} = ?EXQ:prepare(Db, Sql),           % Sqlite3.prepare/2
    ok = exq_bind(Stmt, Params),                  % Sqlite3.bind/2
    Rows = exq_steps(Db, Stmt, []),               % Sqlite3.step/2 until :done
    ok = ?EXQ:release(Db, Stmt),                  % Sqlite3.release/2
    Rows.

%% @doc SQL without parameters or results (BEGIN, COMMIT, CREATE TABLE).
-spec exec(lib(), term(), iodata()) -> ok.
exec(esqlite, Db, Sql) -> ok = esqlite3:exec(Db, Sql);
exec(exqlite, Db, Sql) -> ok = ?EXQ:execute(Db, iolist_to_binary(Sql)).

%% ---- Exqlite.Sqlite3, in Erlang -----------------------------------------------

%% bind(stmt, args) when is_list(args)
exq_bind(Stmt, Args) ->
    case ?EXQ:bind_parameter_count(Stmt) of
        {error, _} = E -> E;
        Count ->
            case length(Args) of
                Count -> exq_bind_all(Args, Stmt, 1);
                N -> error({badarg, io_lib:format("expected ~b arguments, got ~b", [Count, N])})
            end
    end.

exq_bind_all([Param | Params], Stmt, Idx) ->
    exq_do_bind(Stmt, Idx, Param),
    exq_bind_all(Params, Stmt, Idx + 1);
exq_bind_all([], _Stmt, _Idx) ->
    ok.

%% do_bind/3 for the types the bench binds; convert/1 of a number or a
%% binary (no Date/Time struct) is convert_with_type_extensions(
%% Application.get_env(:exqlite, :type_extensions), val), unset here.
exq_do_bind(Stmt, Idx, Param) ->
    case exq_convert(Param) of
        I when is_integer(I) -> exq_rc(Stmt, ?EXQ:bind_integer(Stmt, Idx, I));
        F when is_float(F) -> exq_rc(Stmt, ?EXQ:bind_float(Stmt, Idx, F));
        B when is_binary(B) -> exq_rc(Stmt, ?EXQ:bind_text(Stmt, Idx, B));
        Other -> error({badarg, {unsupported_type, Other}})
    end.

exq_convert(Val) ->
    case application:get_env(exqlite, type_extensions) of
        undefined -> Val;
        {ok, _} -> error({badarg, type_extensions_not_replicated})
    end.

%% bind_integer/3 etc.: @sqlite_ok -> :ok; rc -> raise with errmsg or errstr
exq_rc(_Stmt, ?SQLITE_OK) -> ok;
exq_rc(Stmt, Rc) ->
    Msg = case ?EXQ:errmsg(Stmt) of
              nil -> ?EXQ:errstr(Rc);
              M -> M
          end,
    error({exqlite_error, Msg}).

exq_steps(Db, Stmt, Acc) ->
    case ?EXQ:step(Db, Stmt) of
        {row, Row} -> exq_steps(Db, Stmt, [Row | Acc]);
        done -> lists:reverse(Acc);
        Other -> error({exqlite_step, Other})
    end.
