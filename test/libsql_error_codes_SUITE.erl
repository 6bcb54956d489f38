%% Common Test suite: the error codes of the C port and of the Erlang side
%% are one table, port/error_codes.h.
%%
%% The port is built from that table (errors.h, errors.c, hrana_resp.c
%% expand it), so C agrees with it by construction as long as no C file
%% writes an error code as a string literal. This suite parses the table
%% and checks the rest:
%%
%% * the table itself is well formed (one entry a line, NAME = upper-case
%%   atom, no duplicates, extended codes under their primary code);
%% * libsql_error:codes() is exactly the table's codes;
%% * libsql_error:describe/1 has a clause of its own for each of them, and
%%   for nothing else;
%% * libsql_error:extended_name/1 names every code 0..65535 as the table
%%   does (primary and extended names, SQLITE_UNKNOWN otherwise);
%% * no C source under port/ passes a string literal where an error code
%%   goes (lsq_error_set, reply_errorf, send_error, the Hrana parser's
%%   fail, an assignment to a `code', a table column, a designated array
%%   element, a return value), nor compares a code with an atom's text;
%% * port/PROTOCOL.md's list of error codes is the table's.
-module(libsql_error_codes_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([table_is_well_formed/1, codes_match_erlang/1, every_code_described/1,
         sqlite_names_match_erlang/1, no_code_literals_in_c/1, c_check_finds_literals/1,
         protocol_md_lists_codes/1]).

-type config() :: [{atom(), term()}].

-define(TABLE, "port/error_codes.h").

%% The C functions that take an error code, and the 0-based position of
%% the code among their arguments.
-define(CODE_TAKERS, [{"lsq_error_set", 1}, {"reply_errorf", 2}, {"reply_verrorf", 2},
                      {"send_error", 2},
                      {"fail", 1}, {"fz_intake_replied", 1}]).
%% Functions with a `const char *code' parameter that is not an error
%% code: the server's Hrana code, as bytes.
-define(SERVER_CODE_TAKERS, ["hr_map_error"]).

-spec all() -> [atom()].
all() ->
    [table_is_well_formed, codes_match_erlang, every_code_described,
     sqlite_names_match_erlang, c_check_finds_literals, no_code_literals_in_c,
     protocol_md_lists_codes].

-spec init_per_suite(config()) -> config().
init_per_suite(Config) ->
    Top = top(),
    [{top, Top}, {table, table(filename:join(Top, ?TABLE))} | Config].

-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    ok.

%%% ------------------------------------------------------------------------
%%% Test cases
%%% ------------------------------------------------------------------------

-spec table_is_well_formed(config()) -> ok.
table_is_well_formed(Config) ->
    T = ?config(table, Config),
    Codes = codes(T),
    [?assertNotEqual([], [E || E <- T, element(1, E) =:= K])
     || K <- [client, sqlite, hrana, extended]],
    %% NAME is the atom in upper case (LSQ_E_NAME is the atom's text).
    ?assertEqual([], [{Name, Atom} || {Name, Atom} <- names(T),
                                      Name =/= string:uppercase(atom_to_list(Atom))]),
    ?assertEqual([], dups(Codes)),
    %% SQLite's primary codes, each once.
    Rcs = [Rc || {sqlite, _, _, Rc, _, _} <- T],
    ?assertEqual([], dups(Rcs)),
    ?assertEqual([], [Rc || Rc <- Rcs, Rc < 1 orelse Rc > 255]),
    ?assertEqual([], lists:seq(1, 28) -- Rcs),
    ?assertEqual([], dups([S || {sqlite, _, _, _, S, _} <- T])),
    %% Hrana codes map onto codes of the table.
    ?assertEqual([], dups([H || {hrana, H, _} <- T])),
    ?assertEqual([], [{H, N} || {hrana, H, N} <- T, not lists:keymember(N, 1, names(T))]),
    %% Extended codes: above 255, each once, named after their primary code.
    Ext = [{Rc, S} || {extended, Rc, S} <- T],
    ?assertEqual([], dups([Rc || {Rc, _} <- Ext])),
    ?assertEqual([], dups([S || {_, S} <- Ext])),
    Prim = primaries(T),
    ?assertEqual([], [{Rc, S} || {Rc, S} <- Ext,
                                 Rc =< 255 orelse Rc > 65535 orelse
                                 not under_primary(Rc, S, Prim)]),
    ok.

under_primary(Rc, S, Prim) ->
    case lists:keyfind(Rc band 255, 1, Prim) of
        {_, P} -> lists:prefix(P ++ "_", S);
        false -> false
    end.

-spec codes_match_erlang(config()) -> ok.
codes_match_erlang(Config) ->
    Table = codes(?config(table, Config)),
    Erlang = libsql_error:codes(),
    ?assertEqual([], dups(Erlang)),
    ?assertEqual(#{only_in_table => [], only_in_erlang => []},
                 #{only_in_table => lists:sort(Table -- Erlang),
                   only_in_erlang => lists:sort(Erlang -- Table)}),
    ok.

%% A clause describe(code) -> ... of its own, not the catch-all that
%% echoes the atom: read from the module's abstract code.
-spec every_code_described(config()) -> ok.
every_code_described(Config) ->
    Table = codes(?config(table, Config)),
    Clauses = function_clauses(Config, libsql_error, describe, 1),
    Described = [A || {clause, _, [{atom, _, A}], [], _} <- Clauses],
    ?assertEqual([], dups(Described)),
    ?assertEqual(#{undescribed => [], described_not_in_table => []},
                 #{undescribed => lists:sort(Table -- Described),
                   described_not_in_table => lists:sort(Described -- Table)}),
    [?assert(is_binary(D) andalso byte_size(D) > 0)
     || C <- Table, D <- [libsql_error:describe(C)]],
    ok.

%% extended_name/1 against the table, for every code a SQLite extended
%% result code can be.
-spec sqlite_names_match_erlang(config()) -> ok.
sqlite_names_match_erlang(Config) ->
    T = ?config(table, Config),
    Prim = primaries(T),
    Ext = [{Rc, S} || {extended, Rc, S} <- T],
    Expected = fun(N) ->
                       case lists:keyfind(N, 1, Ext) of
                           {_, S} -> "SQLITE_" ++ S;
                           false ->
                               case lists:keyfind(N band 255, 1, Prim) of
                                   {_, S} -> "SQLITE_" ++ S;
                                   false -> "SQLITE_UNKNOWN"
                               end
                       end
               end,
    Wrong = [{N, {table, E}, {erlang, G}}
             || N <- lists:seq(0, 65535),
                E <- [Expected(N)], G <- [libsql_error:extended_name(N)], E =/= G],
    ?assertEqual([], lists:sublist(Wrong, 20)),
    ok.

-spec no_code_literals_in_c(config()) -> ok.
no_code_literals_in_c(Config) ->
    Top = ?config(top, Config),
    Atoms = [atom_to_list(A) || A <- codes(?config(table, Config))],
    Files = lists:sort(filelib:wildcard(filename:join(Top, "port/*.[ch]")) ++
                       filelib:wildcard(filename:join(Top, "port/fuzz/*.[ch]"))) --
            [filename:join(Top, ?TABLE)],
    ?assert(length(Files) > 20),
    Sources = [{filename:basename(F), c_source(read(F))} || F <- Files],
    ?assertEqual([], lists:append([c_violations(N, S, Atoms) || {N, S} <- Sources])),
    %% The list of functions that take a code is complete: every function
    %% with a `const char *code' parameter is known, and each known one is
    %% still there and called, so the check above is not looking at nothing.
    Declared = lists:usort(lists:append([code_params(S) || {_, S} <- Sources])),
    Takers = [F || {F, _} <- ?CODE_TAKERS],
    ?assertEqual([], Declared -- (Takers ++ ?SERVER_CODE_TAKERS)),
    ?assertEqual([], Takers -- Declared),
    ?assertEqual([], [F || F <- Takers,
                           lists:sum([length(calls(F, S)) || {_, S} <- Sources]) < 2]),
    ok.

%% The C check finds what it is meant to find.
-spec c_check_finds_literals(config()) -> ok.
c_check_finds_literals(Config) ->
    Atoms = [atom_to_list(A) || A <- codes(?config(table, Config))],
    Bad = ["lsq_error_set(err, \"busy\", \"x %d\", 1);",
           "lsq_error_set(&e,\n  \"no_such_code\", \"x\");",
           "lsq_error_set(err, ok ? \"auth\" : \"http\", \"m\");",
           "return reply_errorf(x, r->ref, \"internal\", \"lock failed\");",
           "send_error(x, ref, \"bad_frame\", \"y\");",
           "return fail(ps, \"protocol\", \"z\");",
           "err->code = \"toobig\";",
           "const char *code = n ? \"busy\" : LSQ_E_ERROR;",
           "if (strcmp(err->code, \"error\") != 0) return;",
           "if (e.code == \"closed\") return;",
           "static const struct { const char *n, *c; } a[] = { { \"X\", \"readonly\" } };",
           "static const char *const a[] = { [SQLITE_OK] = \"ok\", [SQLITE_BUSY] = \"busy\" };",
           "if (primary > 28) return \"error\";"],
    [?assertMatch([_ | _], c_violations("t.c", c_source(S), Atoms), S) || S <- Bad],
    Good = ["lsq_error_set(err, LSQ_E_BUSY, \"busy\");",
            "lsq_error_set(err, code, \"%s\", \"error\");",
            "/* lsq_error_set(err, \"busy\", \"x\"); */ x = 1;",
            "// fail(ps, \"protocol\", \"x\")\n",
            "puts(\"lsq_error_set(err, \\\"busy\\\", x)\");",
            "if (term_reply_begin(x, ref, \"error\") != 0) return -1;",
            "static const struct { const char *n; int k; } a[] = { { \"error\", 1 } };",
            "if (memcmp(code, \"STREAM_EXPIRED\", 14) == 0) return;",
            "static int fail(hr_parser *ps, const char *code, const char *what)",
            "static const char *const a[] = { [SQLITE_OK] = \"ok\", [SQLITE_BUSY] = LSQ_E_BUSY };",
            "code = json_field(eb, \"code\", &code_len);",
            "return \"ok\";"],
    [?assertEqual([], c_violations("t.c", c_source(S), Atoms), S) || S <- Good],
    ok.

%% PROTOCOL.md's "Error codes" table: one row per code, with the SQLite
%% result code of those that have one; the Hrana codes are named.
-spec protocol_md_lists_codes(config()) -> ok.
protocol_md_lists_codes(Config) ->
    T = ?config(table, Config),
    Md = read(filename:join(?config(top, Config), "port/PROTOCOL.md")),
    [_, AfterHead] = string:split(Md, "\n## Error codes\n"),
    [Section | _] = string:split(AfterHead, "\n## "),
    {match, Rows} = re:run(Section, "^\\| `([a-z_]+)` \\| (?:([0-9]+) `SQLITE_([A-Z]+)`)? ?\\|",
                           [multiline, global, {capture, all_but_first, list}]),
    Listed = [case Row of
                  [A] -> {list_to_atom(A), none};
                  [A, "", ""] -> {list_to_atom(A), none};
                  [A, Rc, S] -> {list_to_atom(A), {list_to_integer(Rc), S}}
              end || Row <- Rows],
    Want = [{A, none} || {client, _, A} <- T] ++
           [{A, {Rc, S}} || {sqlite, _, A, Rc, S, _} <- T],
    ?assertEqual(#{missing => [], extra => []},
                 #{missing => lists:sort(Want -- Listed), extra => lists:sort(Listed -- Want)}),
    ?assertEqual([], [H || {hrana, H, _} <- T,
                           string:find(Section, "`" ++ H ++ "`") =:= nomatch]),
    ok.

%%% ------------------------------------------------------------------------
%%% The table
%%% ------------------------------------------------------------------------

%% Entries, in the table's order:
%%   {client, Name, Atom}
%%   {sqlite, Name, Atom, Rc, SqliteName, FromServer}
%%   {hrana, HranaCode, Name}
%%   {extended, Rc, SqliteName}
%% Every line that is not blank, a comment or a preprocessor line must be
%% an entry: a line this parser does not understand fails the suite.
table(File) ->
    Lines = [string:trim(L) || L <- string:split(strip_c(read(File)), "\n", all)],
    [entry(L) || L <- Lines, L =/= "", hd(L) =/= $#].

entry(Line) ->
    case re:run(Line, "^(LSQ_[A-Z]+)\\(([^()]*)\\)$", [{capture, all_but_first, list}]) of
        {match, [Kind, ArgText]} ->
            Args = [string:trim(A) || A <- string:split(ArgText, ",", all)],
            try entry(Kind, Args)
            catch error:_ -> ct:fail({bad_table_entry, Line})
            end;
        nomatch ->
            ct:fail({not_a_table_entry, Line})
    end.

entry("LSQ_CLIENT", [Name, Atom]) ->
    {client, upper(Name), atom(Atom)};
entry("LSQ_SQLITE", [Name, Atom, Rc, S, FromServer]) when FromServer =:= "0";
                                                           FromServer =:= "1" ->
    {sqlite, upper(Name), atom(Atom), list_to_integer(Rc), upper(S), FromServer =:= "1"};
entry("LSQ_HRANA", [H, Name]) ->
    {hrana, upper(H), upper(Name)};
entry("LSQ_EXTENDED", [Rc, S]) ->
    {extended, list_to_integer(Rc), upper(S)}.

upper(S) ->
    {match, _} = re:run(S, "^[A-Z][A-Z0-9_]*$"),
    S.

atom(S) ->
    {match, _} = re:run(S, "^[a-z][a-z0-9_]*$"),
    list_to_atom(S).

%% The codes, and {Name, Atom} of each.
codes(T) ->
    [A || {_, A} <- names(T)].

names(T) ->
    [{N, A} || E <- T, {N, A} <- [name_atom(E)]].

name_atom({client, N, A}) -> {N, A};
name_atom({sqlite, N, A, _, _, _}) -> {N, A};
name_atom(_) -> none.

primaries(T) ->
    [{Rc, S} || {sqlite, _, _, Rc, S, _} <- T].

dups(L) ->
    lists:usort(L -- lists:usort(L)).

%%% ------------------------------------------------------------------------
%%% C sources
%%% ------------------------------------------------------------------------

%% A C source as two texts of the same length: comments blanked (newlines
%% kept, so lines still count), and that with the contents of string and
%% character literals blanked too. Patterns are searched for in the second
%% (nothing inside a literal is C), and literals read from the first.
c_source(Text) ->
    S = strip_c(Text),
    {S, mask_literals(S)}.

%% Where an error code is written as a string literal in one C source:
%% [{File, Line, Text}].
c_violations(File, {S, _} = Src, Atoms) ->
    HasAtom = fun(Text) -> lists:any(fun(L) -> lists:member(L, Atoms) end, literals(Text)) end,
    Lit = "(\"[^\"]*\")",
    %% An argument where a code goes holds no literal at all (an atom
    %% missing from the table is no better than one in it).
    Args = [{Pos, Arg} || {F, I} <- ?CODE_TAKERS, {Pos, As} <- calls(F, Src),
                          length(As) > I, Arg <- [lists:nth(I + 1, As)],
                          literals(Arg) =/= []],
    %% code = "...", code = x ? "busy" : ... (a variable or a field named
    %% code; not code = json_field(eb, "code", ...), the server's code).
    Assigned = [{Pos, Rhs} || [{Pos, _}, Rhs] <- matches("\\bcode\\s*=(?!=)([^;]*)", Src),
                              hd(string:trim(Rhs) ++ " ") =:= $" orelse HasAtom(Rhs)],
    %% code == "busy"
    Compared = [{Pos, L} || [{Pos, _}, L] <- matches("\\bcode\\s*[!=]=\\s*" ++ Lit, Src)],
    %% strcmp(x->code, "busy") and the like.
    Cmp = [{Pos, As} || F <- ["strcmp", "strncmp", "memcmp"], {Pos, As} <- calls(F, Src),
                        lists:any(fun(A) -> re:run(A, "\\bcode\\b") =/= nomatch end, As),
                        lists:any(HasAtom, As)],
    %% A table column other than the first: { "BLOCKED", "readonly" }; a
    %% designated array element: [SQLITE_BUSY] = "busy"; return "busy";.
    Other = [{Pos, L} || Re <- ["\\{\\s*[^{};()]*?,\\s*" ++ Lit, "\\]\\s*=\\s*" ++ Lit,
                                "\\breturn\\s*" ++ Lit ++ "\\s*;"],
                         [{Pos, _}, L] <- matches(Re, Src), HasAtom(L)],
    [{File, line(S, Pos), What}
     || {Pos, What} <- lists:sort(Args ++ Assigned ++ Compared ++ Cmp ++ Other)].

%% Every call F(...): [{Pos, Args}], Args the argument texts.
calls(F, {S, M}) ->
    [{Pos, args(S, Pos + Len)} || [{Pos, Len}] <- re_index("\\b" ++ F ++ "\\s*\\(", M)].

%% Names of functions declared or defined with a `const char *code'
%% parameter.
code_params(Src) ->
    Re = "\\b(\\w+)\\s*\\([^(){};]*\\bconst\\s+char\\s*\\*\\s*code\\s*[,)]",
    [Name || [_, Name] <- matches(Re, Src)].

%% The arguments of a call whose "(" ends before Pos: split at the commas
%% of depth 0, string and character literals kept whole.
args(S, Pos) ->
    args(lists:nthtail(Pos, S), 0, [], []).

args([], _, Cur, Acc) -> lists:reverse([string:trim(lists:reverse(Cur)) | Acc]);
args([$) | _], 0, Cur, Acc) -> lists:reverse([string:trim(lists:reverse(Cur)) | Acc]);
args([$, | R], 0, Cur, Acc) -> args(R, 0, [], [string:trim(lists:reverse(Cur)) | Acc]);
args([C | R], D, Cur, Acc) when C =:= $(; C =:= $[; C =:= ${ -> args(R, D + 1, [C | Cur], Acc);
args([C | R], D, Cur, Acc) when C =:= $); C =:= $]; C =:= $} -> args(R, D - 1, [C | Cur], Acc);
args([Q | R], D, Cur, Acc) when Q =:= $"; Q =:= $' ->
    {Lit, Rest} = quoted(R, Q, [Q]),
    args(Rest, D, lists:reverse(Lit) ++ Cur, Acc);
args([C | R], D, Cur, Acc) -> args(R, D, [C | Cur], Acc).

%% A literal's text up to and including its closing quote Q.
quoted([$\\, C | R], Q, Acc) -> quoted(R, Q, [C, $\\ | Acc]);
quoted([Q | R], Q, Acc) -> {lists:reverse([Q | Acc]), R};
quoted([C | R], Q, Acc) -> quoted(R, Q, [C | Acc]);
quoted([], _, Acc) -> {lists:reverse(Acc), []}.

%% The contents of the string literals in a piece of C.
literals(Text) ->
    [L || [L] <- matches_text("\"((?:[^\"\\\\]|\\\\.)*)\"", Text)].

%% C with its comments blanked; string and character literals are kept,
%% and comment markers inside them are not comments.
strip_c(S) -> strip_c(S, []).

strip_c([$/, $* | R], Acc) -> block(R, [$\s, $\s | Acc]);
strip_c([$/, $/ | R], Acc) -> line_comment(R, [$\s, $\s | Acc]);
strip_c([Q | R], Acc) when Q =:= $"; Q =:= $' ->
    {Lit, Rest} = quoted(R, Q, [Q]),
    strip_c(Rest, lists:reverse(Lit) ++ Acc);
strip_c([C | R], Acc) -> strip_c(R, [C | Acc]);
strip_c([], Acc) -> lists:reverse(Acc).

block([$*, $/ | R], Acc) -> strip_c(R, [$\s, $\s | Acc]);
block([$\n | R], Acc) -> block(R, [$\n | Acc]);
block([_ | R], Acc) -> block(R, [$\s | Acc]);
block([], Acc) -> lists:reverse(Acc).

line_comment([$\n | R], Acc) -> strip_c(R, [$\n | Acc]);
line_comment([_ | R], Acc) -> line_comment(R, [$\s | Acc]);
line_comment([], Acc) -> lists:reverse(Acc).

%% The contents of the literals of comment-free C blanked, quotes kept.
mask_literals([Q | R]) when Q =:= $"; Q =:= $' ->
    {Lit, Rest} = quoted(R, Q, [Q]),
    [Q | [case I =:= length(Lit) andalso C =:= Q of true -> Q; false -> $\s end
          || {I, C} <- lists:zip(lists:seq(2, length(Lit)), tl(Lit))]] ++ mask_literals(Rest);
mask_literals([C | R]) -> [C | mask_literals(R)];
mask_literals([]) -> [].

line(S, Pos) ->
    1 + length([C || C <- lists:sublist(S, Pos), C =:= $\n]).

%% Matches of Re in a source's masked text: each [{Pos, Len} of the whole
%% match, Group1Text, ...], the groups' texts read from the unmasked text.
matches(Re, {S, M}) ->
    case re:run(M, Re, [global, {capture, all, index}]) of
        {match, Ms} ->
            [[Whole | [text(S, G) || G <- Groups]] || [Whole | Groups] <- Ms];
        nomatch -> []
    end.

matches_text(Re, S) ->
    case re:run(S, Re, [global, {capture, all_but_first, list}]) of
        {match, Ms} -> Ms;
        nomatch -> []
    end.

re_index(Re, S) ->
    case re:run(S, Re, [global, {capture, first, index}]) of
        {match, Ms} -> Ms;
        nomatch -> []
    end.

text(_, {-1, 0}) -> "";
text(S, {P, L}) -> lists:sublist(S, P + 1, L).

%%% ------------------------------------------------------------------------
%%% Helpers
%%% ------------------------------------------------------------------------

read(File) ->
    {ok, Bin} = file:read_file(File),
    binary_to_list(Bin).

%% The checkout: the first directory above libsql's ebin (rebar3 runs the
%% suites from _build/test/lib/libsql) that holds the table.
top() ->
    Start = filename:dirname(filename:dirname(code:which(libsql_error))),
    top(filename:absname(Start), 6).

top(Dir, N) when N > 0 ->
    case filelib:is_regular(filename:join(Dir, ?TABLE)) of
        true -> Dir;
        false -> top(filename:dirname(Dir), N - 1)
    end;
top(_, _) ->
    ct:fail({not_found, ?TABLE}).

%% The clauses of M:F/A from the module's abstract code (debug_info), or
%% from its source in the checkout.
function_clauses(Config, M, F, A) ->
    Forms = case beam_lib:chunks(code:which(M), [abstract_code]) of
                {ok, {M, [{abstract_code, {raw_abstract_v1, Fs}}]}} -> Fs;
                _ ->
                    Src = filename:join([?config(top, Config), "erl", atom_to_list(M) ++ ".erl"]),
                    {ok, Fs} = epp:parse_file(Src, [{includes, [filename:join(?config(top, Config),
                                                                               "include")]}]),
                    Fs
            end,
    [Clauses] = [Cs || {function, _, F1, A1, Cs} <- Forms, F1 =:= F, A1 =:= A],
    Clauses.
