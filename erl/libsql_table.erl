%% @private
%% @doc Query results as aligned text tables, for people at a shell.
-module(libsql_table).

-export([format/2]).

-define(MAX_CELL, 60).

%% @doc The columns and rows as a table: a header, a rule, one line per row.
%% Cells longer than 60 characters are cut with "...".
-spec format([binary()], [tuple() | map()]) -> iodata().
format(Columns, Rows) ->
    Cells = [[cell(V) || V <- row_values(Columns, R)] || R <- Rows],
    Head = [cell_text(C) || C <- Columns],
    Widths = widths([Head | Cells]),
    Rule = lists:join("-+-", [lists:duplicate(W, $-) || W <- Widths]),
    Lines = [line(Head, Widths), Rule | [line(C, Widths) || C <- Cells]],
    [lists:join($\n, Lines), $\n,
     io_lib:format("(~b row~s)~n", [length(Rows), case length(Rows) of 1 -> ""; _ -> "s" end])].

row_values(_Columns, R) when is_tuple(R) -> tuple_to_list(R);
row_values(Columns, R) when is_map(R) -> [maps:get(C, R, null) || C <- Columns].

line(Cells, Widths) ->
    lists:join(" | ", [pad(C, W) || {C, W} <- lists:zip(Cells, Widths)]).

pad(Text, W) -> [Text, lists:duplicate(W - string:length(Text), $\s)].

widths([First | _] = Lines) ->
    lists:foldl(fun(L, Acc) -> [max(string:length(C), A) || {C, A} <- lists:zip(L, Acc)] end,
                [0 || _ <- First], Lines).

cell(null) -> "NULL";
cell(V) when is_integer(V) -> integer_to_list(V);
cell(V) when is_float(V) -> io_lib:format("~p", [V]);
cell(V) when is_atom(V) -> atom_to_list(V);
cell({blob, B}) -> cut(["x'", binary:encode_hex(binary:part(B, 0, min(byte_size(B), 28))),
                       "'", case byte_size(B) > 28 of true -> "..."; false -> "" end]);
cell(V) when is_binary(V) -> cell_text(V);
cell(V) -> cut(io_lib:format("~0tp", [V])).

%% Text as it would print; invalid UTF-8 shown as its Erlang term.
cell_text(B) when is_binary(B) ->
    case unicode:characters_to_list(B) of
        L when is_list(L) -> cut(printable(L));
        _ -> cut(io_lib:format("~0p", [B]))
    end.

printable(L) -> [case C < 32 of true -> $.; false -> C end || C <- L].

cut(IoData) ->
    S = unicode:characters_to_list(IoData),
    case string:length(S) > ?MAX_CELL of
        true -> string:slice(S, 0, ?MAX_CELL - 3) ++ "...";
        false -> S
    end.
