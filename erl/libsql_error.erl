%% @private
%% @doc Sentences for error codes, used by libsql:format_error/1.
%% One clause per code: every code the port or the Erlang side returns.
%%
%% The codes, SQLite's primary result codes and the names of extended
%% codes are those of port/error_codes.h, the table the port program is
%% built from; test/libsql_error_codes_SUITE fails when this module and
%% that table disagree. A new code goes into both, with a describe/1 clause.
-module(libsql_error).

-export([describe/1, extended_name/1, codes/0]).

%% @doc Every error code this library can return: LSQ_CLIENT and LSQ_SQLITE
%% of port/error_codes.h.
-spec codes() -> [atom()].
codes() ->
    [bad_argument, bad_frame, frame_too_large, closed, timeout, port_exited,
     interrupted, not_supported, network, http, protocol, tls, stream_expired, auth,
     wrong_key, not_encrypted, encrypted,
     nomem, misuse,
     error, internal, perm, abort, busy, locked, readonly, ioerr, corrupt, notfound,
     full, cantopen, sqlite_protocol, empty, schema, toobig, constraint, mismatch,
     nolfs, sqlite_auth, format, range, notadb, notice, warning].

%% @doc What an error code means, as a short phrase.
-spec describe(atom()) -> binary().
describe(bad_argument) -> <<"bad argument">>;
describe(bad_frame) -> <<"malformed request to the port program">>;
describe(frame_too_large) -> <<"request too large for the port program">>;
describe(closed) -> <<"the connection is closed">>;
describe(timeout) -> <<"timed out">>;
describe(port_exited) -> <<"the port program exited">>;
describe(interrupted) -> <<"interrupted">>;
describe(not_supported) -> <<"not supported">>;
describe(network) -> <<"network error">>;
describe(http) -> <<"HTTP error">>;
describe(protocol) -> <<"protocol error">>;
describe(tls) -> <<"TLS error (certificate verification or handshake)">>;
describe(stream_expired) -> <<"the server closed the stream (and its transaction)">>;
describe(auth) -> <<"authentication failed">>;
describe(wrong_key) -> <<"the encryption key does not open the database">>;
describe(not_encrypted) -> <<"the database is not encrypted, but a key was given">>;
describe(encrypted) -> <<"the database is encrypted: open it with its encryption_key">>;
describe(nomem) -> <<"out of memory">>;
describe(misuse) -> <<"library misuse">>;
describe(error) -> <<"SQL error">>;
describe(internal) -> <<"internal SQLite error">>;
describe(perm) -> <<"access permission denied">>;
describe(abort) -> <<"operation aborted">>;
describe(busy) -> <<"the database is busy (locked by another connection)">>;
describe(locked) -> <<"a table in the database is locked">>;
describe(readonly) -> <<"attempt to write a read-only database">>;
describe(ioerr) -> <<"disk I/O error">>;
describe(corrupt) -> <<"the database disk image is malformed">>;
describe(notfound) -> <<"not found">>;
describe(full) -> <<"the database or disk is full">>;
describe(cantopen) -> <<"unable to open the database file">>;
describe(sqlite_protocol) -> <<"database locking protocol error">>;
describe(empty) -> <<"empty">>;
describe(schema) -> <<"the database schema changed">>;
describe(toobig) -> <<"string or blob too big">>;
describe(constraint) -> <<"constraint failed">>;
describe(mismatch) -> <<"datatype mismatch">>;
describe(nolfs) -> <<"large file support is disabled">>;
describe(sqlite_auth) -> <<"authorization denied">>;
describe(format) -> <<"format error">>;
describe(range) -> <<"parameter index out of range">>;
describe(notadb) -> <<"file is not a database">>;
describe(notice) -> <<"notice">>;
describe(warning) -> <<"warning">>;
describe(Other) when is_atom(Other) -> atom_to_binary(Other, utf8).

%% @doc Name of a SQLite extended result code, e.g. 2067 -> SQLITE_CONSTRAINT_UNIQUE.
-spec extended_name(integer()) -> string().
extended_name(Code) ->
    case lists:keyfind(Code, 1, extended_codes()) of
        {_, Name} -> Name;
        false -> "SQLITE_" ++ string:uppercase(atom_to_list(primary(Code band 255)))
    end.

%% SQLite's primary result codes and their names (SQLITE_<name>): LSQ_SQLITE
%% of port/error_codes.h.
primary(Code) ->
    Primaries = [{1, error}, {2, internal}, {3, perm}, {4, abort}, {5, busy}, {6, locked},
                 {7, nomem}, {8, readonly}, {9, interrupt}, {10, ioerr}, {11, corrupt},
                 {12, notfound}, {13, full}, {14, cantopen}, {15, protocol}, {16, empty},
                 {17, schema}, {18, toobig}, {19, constraint}, {20, mismatch},
                 {21, misuse}, {22, nolfs}, {23, auth}, {24, format}, {25, range},
                 {26, notadb}, {27, notice}, {28, warning}],
    case lists:keyfind(Code, 1, Primaries) of
        {_, A} -> A;
        false -> unknown
    end.

%% Extended codes with a name of their own: LSQ_EXTENDED of
%% port/error_codes.h (a primary code is named by primary/1).
extended_codes() ->
    [{257, "SQLITE_ERROR_MISSING_COLLSEQ"}, {513, "SQLITE_ERROR_RETRY"},
     {769, "SQLITE_ERROR_SNAPSHOT"},
     {261, "SQLITE_BUSY_RECOVERY"}, {517, "SQLITE_BUSY_SNAPSHOT"}, {773, "SQLITE_BUSY_TIMEOUT"},
     {262, "SQLITE_LOCKED_SHAREDCACHE"}, {264, "SQLITE_READONLY_RECOVERY"},
     {520, "SQLITE_READONLY_CANTLOCK"}, {776, "SQLITE_READONLY_ROLLBACK"},
     {1032, "SQLITE_READONLY_DBMOVED"}, {1288, "SQLITE_READONLY_CANTINIT"},
     {1544, "SQLITE_READONLY_DIRECTORY"}, {266, "SQLITE_IOERR_READ"},
     {522, "SQLITE_IOERR_SHORT_READ"}, {778, "SQLITE_IOERR_WRITE"},
     {1034, "SQLITE_IOERR_FSYNC"}, {3082, "SQLITE_IOERR_NOMEM"},
     {3338, "SQLITE_IOERR_ACCESS"},
     {270, "SQLITE_CANTOPEN_NOTEMPDIR"},
     {526, "SQLITE_CANTOPEN_ISDIR"}, {782, "SQLITE_CANTOPEN_FULLPATH"},
     {275, "SQLITE_CONSTRAINT_CHECK"}, {531, "SQLITE_CONSTRAINT_COMMITHOOK"},
     {787, "SQLITE_CONSTRAINT_FOREIGNKEY"}, {1043, "SQLITE_CONSTRAINT_FUNCTION"},
     {1299, "SQLITE_CONSTRAINT_NOTNULL"}, {1555, "SQLITE_CONSTRAINT_PRIMARYKEY"},
     {1811, "SQLITE_CONSTRAINT_TRIGGER"}, {2067, "SQLITE_CONSTRAINT_UNIQUE"},
     {2323, "SQLITE_CONSTRAINT_VTAB"}, {2579, "SQLITE_CONSTRAINT_ROWID"},
     {3091, "SQLITE_CONSTRAINT_DATATYPE"}].
