%% A small JSON codec for the test utilities (OTP 25 has no json module and
%% the project takes no hex dependencies).
%%
%% Decoding: objects -> maps with binary keys, arrays -> lists, strings ->
%% UTF-8 binaries, integers -> integer(), numbers with a fraction or an
%% exponent -> float(), true/false/null -> atoms. Duplicate keys: the last wins.
%% Encoding takes the same shapes back; atoms other than true/false/null are
%% written as strings, so keys and values may be atoms for convenience.
-module(libsql_test_json).

-export([decode/1, encode/1]).

-export_type([json/0]).

-type json() :: null | boolean() | integer() | float() | binary()
              | [json()] | #{binary() | atom() => json()}.

-define(IS_WS(C), (C =:= $\s orelse C =:= $\t orelse C =:= $\n orelse C =:= $\r)).

%%--------------------------------------------------------------------
%% Decoding

%% @doc Decodes one JSON text; trailing whitespace is allowed, anything else
%% after the value is an error.
-spec decode(iodata()) -> {ok, json()} | {error, term()}.
decode(IoData) ->
    try value(ws(iolist_to_binary(IoData))) of
        {Value, Rest} ->
            case ws(Rest) of
                <<>> -> {ok, Value};
                Trailing -> {error, {trailing_data, byte_size(Trailing)}}
            end
    catch
        throw:{json, Reason} -> {error, Reason}
    end.

value(<<${, R/binary>>) -> object(ws(R), #{});
value(<<$[, R/binary>>) -> array(ws(R), []);
value(<<$", R/binary>>) -> string(R, []);
value(<<"true", R/binary>>) -> {true, R};
value(<<"false", R/binary>>) -> {false, R};
value(<<"null", R/binary>>) -> {null, R};
value(<<C, _/binary>> = B) when C =:= $-; C >= $0, C =< $9 -> number(B);
value(B) -> syntax(B).

object(<<$}, R/binary>>, Acc) when map_size(Acc) =:= 0 -> {Acc, R};
object(<<$", R/binary>>, Acc) ->
    {Key, R1} = string(R, []),
    {Val, R2} = value(ws(expect($:, ws(R1)))),
    Acc1 = Acc#{Key => Val},
    case ws(R2) of
        <<$,, R3/binary>> -> object(ws(R3), Acc1);
        <<$}, R3/binary>> -> {Acc1, R3};
        Other -> syntax(Other)
    end;
object(B, _) -> syntax(B).

array(<<$], R/binary>>, []) -> {[], R};
array(B, Acc) ->
    {Val, R1} = value(B),
    case ws(R1) of
        <<$,, R2/binary>> -> array(ws(R2), [Val | Acc]);
        <<$], R2/binary>> -> {lists:reverse(Acc, [Val]), R2};
        Other -> syntax(Other)
    end.

%% Strings are gathered as a list of binary slices and code points, so long
%% runs without escapes are copied once.
string(B, Acc) ->
    N = plain_run(B, 0),
    <<Run:N/binary, R/binary>> = B,
    string_escape(R, [Run | Acc]).

string_escape(<<$", R/binary>>, Acc) ->
    {unicode_bin(lists:reverse(Acc)), R};
string_escape(<<$\\, E, R/binary>>, Acc) ->
    {Piece, R1} = escape(E, R),
    string(R1, [Piece | Acc]);
string_escape(B, _) ->
    syntax(B).

%% Bytes up to the next quote, backslash or control character.
plain_run(B, N) ->
    case B of
        <<_:N/binary, C, _/binary>> when C =/= $", C =/= $\\, C >= 16#20 -> plain_run(B, N + 1);
        _ -> N
    end.

escape($", R) -> {<<$">>, R};
escape($\\, R) -> {<<$\\>>, R};
escape($/, R) -> {<<$/>>, R};
escape($b, R) -> {<<$\b>>, R};
escape($f, R) -> {<<$\f>>, R};
escape($n, R) -> {<<$\n>>, R};
escape($r, R) -> {<<$\r>>, R};
escape($t, R) -> {<<$\t>>, R};
escape($u, R) -> unicode_escape(R);
escape(E, R) -> syntax(<<E, R/binary>>).

%% \uXXXX, joining a UTF-16 surrogate pair into one code point; a lone
%% surrogate cannot be UTF-8 encoded, so it is an error rather than garbage.
unicode_escape(R) ->
    {Hi, R1} = hex4(R),
    if
        Hi >= 16#D800, Hi =< 16#DBFF ->
            case R1 of
                <<"\\u", R2/binary>> ->
                    {Lo, R3} = hex4(R2),
                    (Lo >= 16#DC00 andalso Lo =< 16#DFFF) orelse throw({json, {lone_surrogate, Hi}}),
                    {<<(16#10000 + ((Hi - 16#D800) bsl 10) + (Lo - 16#DC00))/utf8>>, R3};
                _ ->
                    throw({json, {lone_surrogate, Hi}})
            end;
        Hi >= 16#DC00, Hi =< 16#DFFF ->
            throw({json, {lone_surrogate, Hi}});
        true ->
            {<<Hi/utf8>>, R1}
    end.

hex4(<<H:4/binary, R/binary>>) ->
    try {binary_to_integer(H, 16), R}
    catch error:badarg -> syntax(H)
    end;
hex4(B) -> syntax(B).

unicode_bin(Parts) ->
    Bin = iolist_to_binary(Parts),
    case unicode:characters_to_binary(Bin) of
        Bin -> Bin;
        _ -> throw({json, invalid_utf8})
    end.

%% Numbers follow the JSON grammar; integers stay exact (bignums included).
number(B) ->
    {Int, R1} = span(B, fun(C) -> C =:= $- orelse (C >= $0 andalso C =< $9) end),
    {Frac, R2} = fraction(R1),
    {Exp, R3} = exponent(R2),
    validate_int_part(Int),
    case {Frac, Exp} of
        {<<>>, <<>>} -> {binary_to_integer(Int), R3};
        _ -> {to_float(Int, Frac, Exp), R3}
    end.

fraction(<<$., R/binary>>) ->
    case span(R, fun is_digit/1) of
        {<<>>, _} -> syntax(R);
        {Digits, R1} -> {Digits, R1}
    end;
fraction(R) -> {<<>>, R}.

exponent(<<E, R/binary>>) when E =:= $e; E =:= $E ->
    {Sign, R1} = case R of
                     <<S, Rs/binary>> when S =:= $+; S =:= $- -> {<<S>>, Rs};
                     _ -> {<<>>, R}
                 end,
    case span(R1, fun is_digit/1) of
        {<<>>, _} -> syntax(R1);
        {Digits, R2} -> {<<Sign/binary, Digits/binary>>, R2}
    end;
exponent(R) -> {<<>>, R}.

validate_int_part(<<$-, Digits/binary>>) -> validate_digits(Digits);
validate_int_part(Digits) -> validate_digits(Digits).

%% JSON forbids leading zeros ("01") and a bare "-".
validate_digits(<<$0>>) -> ok;
validate_digits(<<D, Rest/binary>> = B) when D >= $1, D =< $9 ->
    case span(Rest, fun is_digit/1) of
        {_, <<>>} -> ok;
        _ -> syntax(B)
    end;
validate_digits(B) -> syntax(B).

%% Erlang's float parser wants "I.FeX"; JSON allows "IeX" and "I.F".
to_float(Int, Frac, Exp) ->
    F = case Frac of <<>> -> <<"0">>; _ -> Frac end,
    E = case Exp of <<>> -> <<>>; _ -> <<$e, Exp/binary>> end,
    try binary_to_float(<<Int/binary, $., F/binary, E/binary>>)
    catch error:badarg -> throw({json, {float_out_of_range, <<Int/binary, $., F/binary, E/binary>>}})
    end.

is_digit(C) -> C >= $0 andalso C =< $9.

span(B, Pred) -> span(B, Pred, 0).

span(B, Pred, N) ->
    case B of
        <<_:N/binary, C, _/binary>> ->
            case Pred(C) of
                true -> span(B, Pred, N + 1);
                false -> split_binary(B, N)
            end;
        _ -> {B, <<>>}
    end.

expect(C, <<C, R/binary>>) -> R;
expect(_, B) -> syntax(B).

ws(<<C, R/binary>>) when ?IS_WS(C) -> ws(R);
ws(B) -> B.

-spec syntax(binary()) -> no_return().
syntax(B) ->
    throw({json, {syntax_error, binary:part(B, 0, min(byte_size(B), 32))}}).

%%--------------------------------------------------------------------
%% Encoding

%% @doc Encodes a term of the shapes decode/1 returns. Floats use the
%% shortest representation that reads back exactly; NaN and infinities
%% cannot occur in Erlang floats.
-spec encode(json() | atom()) -> binary().
encode(Term) -> iolist_to_binary(enc(Term)).

enc(null) -> <<"null">>;
enc(true) -> <<"true">>;
enc(false) -> <<"false">>;
enc(A) when is_atom(A) -> enc_string(atom_to_binary(A, utf8));
enc(I) when is_integer(I) -> integer_to_binary(I);
enc(F) when is_float(F) -> float_to_binary(F, [short]);
enc(B) when is_binary(B) -> enc_string(B);
enc(L) when is_list(L) -> [$[, join([enc(V) || V <- L]), $]];
enc(M) when is_map(M) ->
    Pairs = [[enc_key(K), $:, enc(V)] || {K, V} <- lists:sort(maps:to_list(M))],
    [${, join(Pairs), $}].

enc_key(K) when is_atom(K) -> enc_string(atom_to_binary(K, utf8));
enc_key(K) when is_binary(K) -> enc_string(K).

join([]) -> [];
join([H | T]) -> [H | [[$,, X] || X <- T]].

%% Only '"', '\' and control characters need escaping; other UTF-8 passes
%% through unchanged.
enc_string(B) -> [$", esc(B, 0), $"].

esc(B, N) ->
    case B of
        <<_:N/binary, C, _/binary>> when C =:= $"; C =:= $\\; C < 16#20 ->
            <<Pre:N/binary, _, Rest/binary>> = B,
            [Pre, esc_char(C) | esc(Rest, 0)];
        <<_:N/binary, _, _/binary>> ->
            esc(B, N + 1);
        _ ->
            [B]
    end.

esc_char($") -> <<"\\\"">>;
esc_char($\\) -> <<"\\\\">>;
esc_char($\n) -> <<"\\n">>;
esc_char($\r) -> <<"\\r">>;
esc_char($\t) -> <<"\\t">>;
esc_char(C) -> io_lib:format("\\u~4.16.0b", [C]).
