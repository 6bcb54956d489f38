%% Test utility for libsql_crypt_SUITE: a reference implementation, in Erlang
%% with crypto, of libSQL's encryption format (SQLite3MultipleCiphers'
%% `aes256cbc', non-legacy; /work/shared/encryption.md section 2), written
%% from the format's description and checked against its known-answer
%% vectors and the peer's files. It lets the suite look inside an encrypted
%% file without the code under test: decrypt it page by page (to check that
%% the rows really are in a file in which a marker is never found in the
%% clear), or encrypt a plain file the same way (an independent writer).
%%
%% Only whole database files (page 1 .. page N) are handled; journals and
%% WAL files are checked through the peer instead.
-module(libsql_crypt_util).

-export([master_key/1, page_key/2, page_iv/1,
         encrypt_page/3, decrypt_page/3,
         encrypt_file/2, decrypt_file/2, page_size/1,
         decrypt_wal/2, decrypt_journal/3,
         is_plain/1, diff_pages/3, find_all/2]).

-define(PDF_PAD, <<16#28, 16#BF, 16#4E, 16#5E, 16#4E, 16#75, 16#8A, 16#41,
                   16#64, 16#00, 16#4E, 16#56, 16#FF, 16#FA, 16#01, 16#08,
                   16#2E, 16#2E, 16#00, 16#B6, 16#D0, 16#68, 16#3E, 16#80,
                   16#2F, 16#0C, 16#A9, 16#FE, 16#64, 16#53, 16#69, 16#7A>>).
-define(KDF_ROUNDS, 4001).
-define(MAGIC, <<"SQLite format 3", 0>>).

%% @doc The 32-byte master key of a passphrase (section 2.1): only its first
%% 32 bytes count, padded with the PDF padding string, then SHA-256 4002
%% times in all.
-spec master_key(iodata()) -> <<_:256>>.
master_key(Pass0) ->
    Pass = iolist_to_binary(Pass0),
    N = min(byte_size(Pass), 32),
    Pad = <<(binary:part(Pass, 0, N))/binary, (binary:part(?PDF_PAD, 0, 32 - N))/binary>>,
    kdf(crypto:hash(sha256, Pad), ?KDF_ROUNDS).

kdf(K, 0) -> K;
kdf(K, I) -> kdf(crypto:hash(sha256, K), I - 1).

%% @doc The key of page Pgno (section 2.2).
-spec page_key(<<_:256>>, pos_integer()) -> <<_:256>>.
page_key(K, Pgno) ->
    crypto:hash(sha256, <<K/binary, Pgno:32/little, "sAlT">>).

%% @doc The IV of page Pgno (section 2.3).
-spec page_iv(pos_integer()) -> <<_:128>>.
page_iv(Pgno) ->
    crypto:hash(md5, iv_words(Pgno + 1, 4, <<>>)).

iv_words(_Z, 0, Acc) -> Acc;
iv_words(Z0, J, Acc) ->
    Q = Z0 div 52774,
    Z1 = 40692 * (Z0 - 52774 * Q) - 3791 * Q,
    Z = if Z1 < 0 -> Z1 + 2147483399; true -> Z1 end,
    iv_words(Z, J - 1, <<Acc/binary, Z:32/little-signed>>).

cbc(Dir, Key, IV, Data) ->
    crypto:crypto_one_time(aes_256_cbc, Key, IV, Data, [{encrypt, Dir =:= encrypt}, {padding, none}]).

%% @doc A page as it is on disk (section 2.4), from its plaintext.
-spec encrypt_page(<<_:256>>, pos_integer(), binary()) -> binary().
encrypt_page(K, 1, Plain) ->
    PK = page_key(K, 1),
    IV = page_iv(1),
    <<First:16/binary, Rest/binary>> = Plain,
    <<Clear:8/binary, _/binary>> = Rest,
    <<E1:8/binary, _/binary>> = cbc(encrypt, PK, IV, First),
    <<E2a:8/binary, E2b/binary>> = cbc(encrypt, PK, IV, Rest),
    <<E1/binary, E2a/binary, Clear/binary, E2b/binary>>;
encrypt_page(K, Pgno, Plain) ->
    cbc(encrypt, page_key(K, Pgno), page_iv(Pgno), Plain).

%% @doc The plaintext of an on-disk page (section 2.5). With a wrong key,
%% page 1 comes back with bytes 0..15 that are not SQLite's magic.
-spec decrypt_page(<<_:256>>, pos_integer(), binary()) -> binary().
decrypt_page(K, 1, Disk) ->
    <<Head:8/binary, C8:8/binary, H:8/binary, Rest/binary>> = Disk,
    <<P16:8/binary, _/binary>> = Plain = cbc(decrypt, page_key(K, 1), page_iv(1),
                                             <<C8/binary, Rest/binary>>),
    First = case P16 =:= H of
                true -> ?MAGIC;
                false -> <<Head/binary, C8/binary>>
            end,
    <<First/binary, Plain/binary>>;
decrypt_page(K, Pgno, Disk) ->
    cbc(decrypt, page_key(K, Pgno), page_iv(Pgno), Disk).

%% @doc The page size of a file from its header bytes 16..17 (in the clear in
%% both formats).
-spec page_size(binary()) -> pos_integer().
page_size(<<_:16/binary, 1:16, _/binary>>) -> 65536;
page_size(<<_:16/binary, Ps:16, _/binary>>) -> Ps.

%% @doc A whole encrypted database file, from a plain one, under Pass.
-spec encrypt_file(iodata(), binary()) -> binary().
encrypt_file(Pass, Plain) ->
    map_pages(fun(K, Pgno, Page) -> encrypt_page(K, Pgno, Page) end, Pass, Plain).

%% @doc A whole plain database file, from an encrypted one, under Pass.
-spec decrypt_file(iodata(), binary()) -> binary().
decrypt_file(Pass, Disk) ->
    map_pages(fun(K, Pgno, Page) -> decrypt_page(K, Pgno, Page) end, Pass, Disk).

map_pages(Fun, Pass, Bin) ->
    K = master_key(Pass),
    Ps = page_size(Bin),
    0 = byte_size(Bin) rem Ps,
    iolist_to_binary([Fun(K, I + 1, binary:part(Bin, I * Ps, Ps))
                      || I <- lists:seq(0, byte_size(Bin) div Ps - 1)]).

%% @doc The page images of a WAL file, decrypted: [{Pgno, Plaintext}] in file
%% order (frames of every generation: a frame's page number is in its clear
%% header, section 2.7). Checksums are not looked at.
-spec decrypt_wal(iodata(), binary()) -> [{pos_integer(), binary()}].
decrypt_wal(_Pass, Bin) when byte_size(Bin) < 32 -> [];
decrypt_wal(Pass, <<_:8/binary, Ps:32/big, _:20/binary, Frames/binary>>) ->
    K = master_key(Pass),
    wal_frames(K, Ps, Frames).

wal_frames(K, Ps, Bin) ->
    case Bin of
        <<Pgno:32/big, _:20/binary, Page:Ps/binary, Rest/binary>> when Pgno > 0 ->
            [{Pgno, decrypt_page(K, Pgno, Page)} | wal_frames(K, Ps, Rest)];
        _ -> []
    end.

%% @doc The page images of a rollback journal of a database of page size
%% Ps, decrypted: [{Pgno, Plaintext}] (section 2.6). Every segment (a header
%% at a sector boundary, then its records) is read; a segment whose record
%% count is 0 or -1 runs to the end of the file.
-spec decrypt_journal(iodata(), pos_integer(), binary()) -> [{pos_integer(), binary()}].
decrypt_journal(Pass, Ps, Bin) ->
    case Bin of
        <<16#d9d505f920a163d7:64, _:12/binary, Sector:32/big, _/binary>> when Sector >= 32 ->
            journal_segments(master_key(Pass), Ps, Sector, Bin, 0);
        _ -> []
    end.

journal_segments(K, Ps, Sector, Bin, Off) ->
    case Bin of
        <<_:Off/binary, 16#d9d505f920a163d7:64, NRec:32/big, _/binary>> ->
            Max = (byte_size(Bin) - Off - Sector) div (Ps + 8),
            N = if NRec =:= 0; NRec =:= 16#ffffffff -> Max; true -> min(NRec, Max) end,
            Start = Off + Sector,
            Recs = [begin
                        <<_:(Start + I * (Ps + 8))/binary, Pgno:32/big, Page:Ps/binary, _/binary>> = Bin,
                        {Pgno, decrypt_page(K, Pgno, Page)}
                    end || I <- lists:seq(0, N - 1)],
            End = Start + N * (Ps + 8),
            Next = ((End + Sector - 1) div Sector) * Sector,
            [R || {P, _} = R <- Recs, P > 0] ++
                case Next > Off andalso Next < byte_size(Bin) of
                    true -> journal_segments(K, Ps, Sector, Bin, Next);
                    false -> []
                end;
        _ -> []
    end.

%% @doc True when the bytes start with SQLite's magic (a plain file).
-spec is_plain(binary()) -> boolean().
is_plain(<<"SQLite format 3", 0, _/binary>>) -> true;
is_plain(_) -> false.

%% @doc Where two files differ: [{Pgno, [Offset in the page]}] (at most 16
%% offsets a page), plus {size, A, B} when their sizes differ.
-spec diff_pages(pos_integer(), binary(), binary()) -> [term()].
diff_pages(Ps, A, B) ->
    N = min(byte_size(A), byte_size(B)) div Ps,
    Pages = [{I + 1, offsets(binary:part(A, I * Ps, Ps), binary:part(B, I * Ps, Ps))}
             || I <- lists:seq(0, N - 1),
                binary:part(A, I * Ps, Ps) =/= binary:part(B, I * Ps, Ps)],
    Size = case byte_size(A) =:= byte_size(B) of
               true -> [];
               false -> [{size, byte_size(A), byte_size(B)}]
           end,
    Pages ++ Size.

offsets(A, B) ->
    lists:sublist([I || I <- lists:seq(0, byte_size(A) - 1), binary:at(A, I) =/= binary:at(B, I)], 16).

%% @doc Offsets of every occurrence of Needle in Bin.
-spec find_all(binary(), binary()) -> [non_neg_integer()].
find_all(Bin, Needle) ->
    [P || {P, _} <- binary:matches(Bin, Needle)].
