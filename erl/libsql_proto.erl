%% @private
%% @doc Pure encoding and decoding of the port protocol (port/PROTOCOL.md):
%% parameter checking and conversion, request bodies, replies, exit codes.
%% No processes, no ports: unit-testable on its own.
-module(libsql_proto).

-include("libsql_protocol.hrl").

-export([sql/1, params/1, value/1, encode_body/2, frame/3, reply_ref/1, decode_reply/1,
         exit_reason/1, err/2, err/3, with_sql/2, shape_rows/3]).

-export_type([wire_value/0, wire_params/0]).

-type wire_value() :: null | integer() | float() | binary() | {blob, binary()}
                    | infinity | neg_infinity.
-type wire_params() :: [wire_value()] | {named, [{binary(), wire_value()}]}.

-define(INT64_MIN, -9223372036854775808).
-define(INT64_MAX, 9223372036854775807).

%% @doc SQL text as a binary: binaries, strings and iodata are accepted.
-spec sql(term()) -> {ok, binary()} | {error, libsql:error()}.
sql(Sql) when is_binary(Sql) -> {ok, Sql};
sql(Sql) when is_list(Sql) ->
    try unicode:characters_to_binary(Sql) of
        Bin when is_binary(Bin) -> {ok, Bin};
        _ -> {error, err(bad_argument, <<"SQL is not valid UTF-8 text">>)}
    catch
        error:_ -> {error, err(bad_argument, <<"SQL must be a binary, a string or iodata">>)}
    end;
sql(_) ->
    {error, err(bad_argument, <<"SQL must be a binary, a string or iodata">>)}.

%% @doc Check and convert parameters to their wire form. Errors name the
%% offending parameter by position (1-based) or by name.
-spec params(term()) -> {ok, wire_params()} | {error, libsql:error()}.
params(List) when is_list(List) ->
    %% Most parameter lists are already in wire form: check them with guards
    %% only and send them as they are; convert (and name the culprit) only
    %% when one is not.
    case is_wire_list(List) of
        true -> {ok, List};
        false -> positional(List, 1, [])
    end;
params(Map) when is_map(Map) -> named(maps:to_list(Map), []);
params(_) ->
    {error, err(bad_argument, <<"parameters must be a list (positional) or a map (named)">>)}.

is_wire_list([V | Rest]) when is_integer(V), V >= ?INT64_MIN, V =< ?INT64_MAX;
                             is_float(V); is_binary(V); V =:= null ->
    is_wire_list(Rest);
is_wire_list([{blob, B} | Rest]) when is_binary(B) -> is_wire_list(Rest);
is_wire_list([]) -> true;
is_wire_list(_) -> false.

positional([], _, Acc) -> {ok, lists:reverse(Acc)};
positional([V | Rest], N, Acc) ->
    case value(V) of
        {ok, W} -> positional(Rest, N + 1, [W | Acc]);
        {error, Why} -> {error, param_error(integer_to_binary(N), Why)}
    end;
positional(_Improper, _, _) ->
    {error, err(bad_argument, <<"parameters must be a proper list">>)}.

named([], Acc) -> {ok, {named, lists:reverse(Acc)}};
named([{K, V} | Rest], Acc) ->
    case name(K) of
        {ok, Name} ->
            case value(V) of
                {ok, W} -> named(Rest, [{Name, W} | Acc]);
                {error, Why} -> {error, param_error(Name, Why)}
            end;
        error ->
            {error, err(bad_argument,
                        io_lib:format("parameter name ~0tP must be a non-empty atom or "
                                      "UTF-8 binary", [K, 5]))}
    end.

name('') -> error;
name(K) when is_atom(K) -> {ok, atom_to_binary(K, utf8)};
name(K) when is_binary(K), K =/= <<>> ->
    %% A name goes into the error message and SQLite's names are UTF-8.
    case unicode:characters_to_binary(K) of
        K -> {ok, K};
        _ -> error
    end;
name(_) -> error.

%% Why is chardata (io_lib:format ~tP output: code points, not bytes).
param_error(Which, Why) ->
    err(bad_argument, ["parameter ", Which, ": ", Why], #{parameter => Which}).

%% @doc One value in its wire form, or why it has none (the message part).
-spec value(term()) -> {ok, wire_value()} | {error, iodata()}.
value(null) -> {ok, null};
value(undefined) -> {ok, null};
value(nil) -> {ok, null};          % Elixir's nil
value(true) -> {ok, 1};
value(false) -> {ok, 0};
value(I) when is_integer(I), I >= ?INT64_MIN, I =< ?INT64_MAX -> {ok, I};
value(I) when is_integer(I) ->
    {error, io_lib:format("integer ~b is outside the 64-bit signed range", [I])};
value(F) when is_float(F) -> {ok, F};
value(B) when is_binary(B) -> {ok, B};
value({blob, B} = V) when is_binary(B) -> {ok, V};
value({text, T}) ->
    try unicode:characters_to_binary(T) of
        B when is_binary(B) -> {ok, B};
        _ -> {error, "{text, _} holds invalid UTF-8"}
    catch
        error:_ -> {error, "{text, _} must hold iodata or a string"}
    end;
value(infinity) -> {ok, infinity};
value(neg_infinity) -> {ok, neg_infinity};
value(nan) -> {error, "NaN cannot be stored (SQLite has no NaN)"};
value(Other) ->
    {error, io_lib:format("unsupported value ~0tP (use null, an integer, a float, "
                          "a binary, {blob, Binary} or {text, IoData})", [Other, 5])}.

%% @doc The body of a request after its ref: the command atom and the
%% arguments, each in external format without the version byte. The
%% connection process puts the tuple header and ref in front (frame/3), so
%% large binaries are never copied on the way to the port.
-spec encode_body(atom(), [term()]) -> {non_neg_integer(), iodata()}.
encode_body(Cmd, Args) ->
    %% One term_to_binary of the list [Cmd | Args]: its elements are encoded
    %% one after the other between the list's header (131, 108, Len:32) and
    %% its tail (106), as they are standalone; it never becomes a STRING_EXT
    %% since Cmd is an atom. One call is half the cost of one per element.
    Bin = term_to_binary([Cmd | Args]),
    {length(Args) + 2, binary:part(Bin, 6, byte_size(Bin) - 7)}.

%% @doc A whole request frame for the port: {Ref, Cmd, Args...}.
-spec frame(pos_integer(), pos_integer(), iodata()) -> iodata().
frame(Ref, Arity, Body) when Ref >= 0, Ref =< ?LSQ_REF_MAX, Arity < 256 ->
    [<<131, 104, Arity, 98, Ref:32>> | Body];
frame(Ref, Arity, Body) when Ref >= 0, Ref =< ?LSQ_REF_MAX ->
    [<<131, 105, Arity:32, 98, Ref:32>> | Body].

%% @doc The ref of a reply frame, read without decoding the frame.
-spec reply_ref(binary()) -> {ok, non_neg_integer()} | error.
reply_ref(<<?LSQ_REPLY_HEAD, Ref:32, _/binary>>) -> {ok, Ref};
reply_ref(_) -> error.

%% @doc Decode a reply frame: {ok, Result} or {error, Error}.
-spec decode_reply(binary()) -> {ok, term()} | {error, libsql:error()}.
decode_reply(Bin) ->
    Size = byte_size(Bin),
    %% `used': bytes after the term mean a frame the port did not write.
    try binary_to_term(Bin, [used]) of
        {{_Ref, ok, Result}, Size} -> {ok, Result};
        {{_Ref, error, #{code := _} = E}, Size} -> {error, E};
        {Other, _} -> {error, err(protocol, <<"unexpected reply from the port">>,
                                  #{reply => Other})}
    catch
        error:badarg -> {error, err(protocol, <<"undecodable reply from the port">>)}
    end.

%% @doc Map a port exit status to a reason a supervisor can act on.
-spec exit_reason(integer()) -> atom() | {port_killed, pos_integer()}.
exit_reason(?LSQ_EXIT_OK) -> normal;
exit_reason(?LSQ_EXIT_READ) -> port_read_error;
exit_reason(?LSQ_EXIT_WRITE) -> port_write_error;
exit_reason(?LSQ_EXIT_NOMEM) -> port_out_of_memory;
exit_reason(?LSQ_EXIT_USAGE) -> port_usage;
exit_reason(?LSQ_EXIT_THREAD) -> port_thread_error;
exit_reason(S) when S > 128 -> {port_killed, S - 128};
exit_reason(_) -> port_failed.

%% @doc An error term as the API returns it.
-spec err(atom(), unicode:chardata()) -> libsql:error().
err(Code, Message) -> err(Code, Message, #{}).

-spec err(atom(), unicode:chardata(), map()) -> libsql:error().
err(Code, Message, Extra) ->
    Extra#{code => Code, message => message(Message)}.

%% Text as a UTF-8 binary, whatever it was given as: a message must never
%% be the {error, ...} of a failed conversion (bytes that are not UTF-8
%% are shown as a term).
message(Message) ->
    try unicode:characters_to_binary(Message) of
        Bin when is_binary(Bin) -> Bin;
        _ -> unicode:characters_to_binary(io_lib:format("~0tp", [Message]))
    catch
        error:_ -> unicode:characters_to_binary(io_lib:format("~0tp", [Message]))
    end.

%% @doc An error about a statement names its SQL (unless it already names
%% one, or is about the connection rather than the statement).
-spec with_sql(binary(), Result) -> Result when Result :: {ok, term()} | {error, libsql:error()}.
with_sql(SqlBin, {error, #{sql := _}} = E) when is_binary(SqlBin) -> E;
with_sql(SqlBin, {error, #{code := Code} = E}) when Code =/= closed, Code =/= port_exited,
                                                     Code =/= timeout ->
    {error, E#{sql => SqlBin}};
with_sql(_SqlBin, Other) ->
    Other.

%% @doc Rows as the caller asked: tuples as they come, or with
%% `#{rows => maps}' maps from column name to value.
-spec shape_rows([binary()], [tuple()], map()) -> [tuple() | map()].
shape_rows(Columns, Rows, #{rows := maps}) ->
    [maps:from_list(lists:zip(Columns, tuple_to_list(R))) || R <- Rows];
shape_rows(_Columns, Rows, _Opts) ->
    Rows.
