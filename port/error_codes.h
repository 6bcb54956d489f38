/*
 * error_codes.h - every error code of libsql: the one table the C port
 * and the Erlang side share.
 *
 * This is an X-macro table, not an ordinary header: it has no include
 * guard and is included wherever a table is built from it, with the
 * macros below defined to what that place needs (a macro left undefined
 * expands to nothing; all four are undefined again at the end). Its name
 * ends in .h so that the Makefile's header prerequisites and the Hex
 * package's file list (erl/libsql.app.src) take it in.
 *
 * LSQ_CLIENT(NAME, atom)
 *     A code of the client itself, with no SQLite result code behind it.
 *     C gets LSQ_E_NAME (errors.h), the atom's text; some codes only the
 *     Erlang side returns (port_exited).
 * LSQ_SQLITE(NAME, atom, rc, SQLNAME, from_server)
 *     The code of SQLite primary result code rc, SQLITE_SQLNAME (errors.c
 *     checks rc against sqlite3.h at compile time). C gets LSQ_E_NAME too.
 *     from_server 1: a server's error code SQLITE_SQLNAME or
 *     SQLITE_SQLNAME_* (Hrana) maps onto it (hrana_resp.c).
 * LSQ_HRANA(HRANA_CODE, NAME)
 *     A Hrana error code of sqld/tursodb that is not a SQLite code, and
 *     the code (LSQ_E_NAME) it maps onto (hrana_resp.c).
 * LSQ_EXTENDED(rc, SQLNAME)
 *     Names of SQLite extended result codes, SQLITE_SQLNAME, shown by
 *     libsql:format_error/1 (libsql_error:extended_name/1). The C side
 *     sends the number only.
 *
 * NAME is always the atom in upper case. The Erlang side (erl/
 * libsql_error.erl: codes/0, describe/1, extended_name/1) must agree
 * with this table, and no C file may write an error code as a string
 * literal: test/libsql_error_codes_SUITE.erl parses this file and checks
 * both. Keep one entry a line, in this shape, without nested parentheses.
 */

#ifndef LSQ_CLIENT
#define LSQ_CLIENT(NAME, atom)
#endif
#ifndef LSQ_SQLITE
#define LSQ_SQLITE(NAME, atom, rc, SQLNAME, from_server)
#endif
#ifndef LSQ_HRANA
#define LSQ_HRANA(HRANA_CODE, NAME)
#endif
#ifndef LSQ_EXTENDED
#define LSQ_EXTENDED(rc, SQLNAME)
#endif

/* Client codes. */
LSQ_CLIENT(BAD_ARGUMENT, bad_argument)
LSQ_CLIENT(BAD_FRAME, bad_frame)
LSQ_CLIENT(FRAME_TOO_LARGE, frame_too_large)
LSQ_CLIENT(CLOSED, closed)
LSQ_CLIENT(TIMEOUT, timeout)
LSQ_CLIENT(PORT_EXITED, port_exited)
LSQ_CLIENT(NOT_SUPPORTED, not_supported)
LSQ_CLIENT(NETWORK, network)
LSQ_CLIENT(HTTP, http)
LSQ_CLIENT(PROTOCOL, protocol)
LSQ_CLIENT(TLS, tls)
LSQ_CLIENT(STREAM_EXPIRED, stream_expired)
LSQ_CLIENT(AUTH, auth)
LSQ_CLIENT(WRONG_KEY, wrong_key)
LSQ_CLIENT(NOT_ENCRYPTED, not_encrypted)
LSQ_CLIENT(ENCRYPTED, encrypted)

/* SQLite's primary result codes. SQLITE_INTERRUPT is `interrupted', the
 * client's code for a cancelled request, whichever side stopped it;
 * SQLITE_PROTOCOL and SQLITE_AUTH are prefixed to keep them apart from the
 * client's `protocol' and `auth'. */
LSQ_SQLITE(ERROR, error, 1, ERROR, 1)
LSQ_SQLITE(INTERNAL, internal, 2, INTERNAL, 1)
LSQ_SQLITE(PERM, perm, 3, PERM, 1)
LSQ_SQLITE(ABORT, abort, 4, ABORT, 1)
LSQ_SQLITE(BUSY, busy, 5, BUSY, 1)
LSQ_SQLITE(LOCKED, locked, 6, LOCKED, 1)
LSQ_SQLITE(NOMEM, nomem, 7, NOMEM, 1)
LSQ_SQLITE(READONLY, readonly, 8, READONLY, 1)
LSQ_SQLITE(INTERRUPTED, interrupted, 9, INTERRUPT, 1)
LSQ_SQLITE(IOERR, ioerr, 10, IOERR, 1)
LSQ_SQLITE(CORRUPT, corrupt, 11, CORRUPT, 1)
LSQ_SQLITE(NOTFOUND, notfound, 12, NOTFOUND, 1)
LSQ_SQLITE(FULL, full, 13, FULL, 1)
LSQ_SQLITE(CANTOPEN, cantopen, 14, CANTOPEN, 1)
LSQ_SQLITE(SQLITE_PROTOCOL, sqlite_protocol, 15, PROTOCOL, 1)
LSQ_SQLITE(EMPTY, empty, 16, EMPTY, 1)
LSQ_SQLITE(SCHEMA, schema, 17, SCHEMA, 1)
LSQ_SQLITE(TOOBIG, toobig, 18, TOOBIG, 1)
LSQ_SQLITE(CONSTRAINT, constraint, 19, CONSTRAINT, 1)
LSQ_SQLITE(MISMATCH, mismatch, 20, MISMATCH, 1)
LSQ_SQLITE(MISUSE, misuse, 21, MISUSE, 1)
LSQ_SQLITE(NOLFS, nolfs, 22, NOLFS, 1)
LSQ_SQLITE(SQLITE_AUTH, sqlite_auth, 23, AUTH, 1)
LSQ_SQLITE(FORMAT, format, 24, FORMAT, 1)
LSQ_SQLITE(RANGE, range, 25, RANGE, 1)
LSQ_SQLITE(NOTADB, notadb, 26, NOTADB, 1)
LSQ_SQLITE(NOTICE, notice, 27, NOTICE, 0)
LSQ_SQLITE(WARNING, warning, 28, WARNING, 0)

/* Hrana error codes that are not SQLite codes. */
LSQ_HRANA(ARGS_INVALID, BAD_ARGUMENT)
LSQ_HRANA(ARGS_BOTH_POSITIONAL_AND_NAMED, BAD_ARGUMENT)
LSQ_HRANA(BIND_ERROR, BAD_ARGUMENT)
LSQ_HRANA(STREAM_EXPIRED, STREAM_EXPIRED)
LSQ_HRANA(RESPONSE_TOO_LARGE, TOOBIG)
LSQ_HRANA(TRANSACTION_BUSY, BUSY)
LSQ_HRANA(TRANSACTION_TIMEOUT, BUSY)
LSQ_HRANA(BLOCKED, READONLY)

/* SQLite extended result codes with a name of their own in
 * format_error/1; any other code is named after its primary code
 * (rc & 255), or SQLITE_UNKNOWN. Not checked against sqlite3.h: newer
 * codes are missing from older headers. */
LSQ_EXTENDED(257, ERROR_MISSING_COLLSEQ)
LSQ_EXTENDED(513, ERROR_RETRY)
LSQ_EXTENDED(769, ERROR_SNAPSHOT)
LSQ_EXTENDED(261, BUSY_RECOVERY)
LSQ_EXTENDED(517, BUSY_SNAPSHOT)
LSQ_EXTENDED(773, BUSY_TIMEOUT)
LSQ_EXTENDED(262, LOCKED_SHAREDCACHE)
LSQ_EXTENDED(264, READONLY_RECOVERY)
LSQ_EXTENDED(520, READONLY_CANTLOCK)
LSQ_EXTENDED(776, READONLY_ROLLBACK)
LSQ_EXTENDED(1032, READONLY_DBMOVED)
LSQ_EXTENDED(1288, READONLY_CANTINIT)
LSQ_EXTENDED(1544, READONLY_DIRECTORY)
LSQ_EXTENDED(266, IOERR_READ)
LSQ_EXTENDED(522, IOERR_SHORT_READ)
LSQ_EXTENDED(778, IOERR_WRITE)
LSQ_EXTENDED(1034, IOERR_FSYNC)
LSQ_EXTENDED(3082, IOERR_NOMEM)
LSQ_EXTENDED(3338, IOERR_ACCESS)
LSQ_EXTENDED(270, CANTOPEN_NOTEMPDIR)
LSQ_EXTENDED(526, CANTOPEN_ISDIR)
LSQ_EXTENDED(782, CANTOPEN_FULLPATH)
LSQ_EXTENDED(275, CONSTRAINT_CHECK)
LSQ_EXTENDED(531, CONSTRAINT_COMMITHOOK)
LSQ_EXTENDED(787, CONSTRAINT_FOREIGNKEY)
LSQ_EXTENDED(1043, CONSTRAINT_FUNCTION)
LSQ_EXTENDED(1299, CONSTRAINT_NOTNULL)
LSQ_EXTENDED(1555, CONSTRAINT_PRIMARYKEY)
LSQ_EXTENDED(1811, CONSTRAINT_TRIGGER)
LSQ_EXTENDED(2067, CONSTRAINT_UNIQUE)
LSQ_EXTENDED(2323, CONSTRAINT_VTAB)
LSQ_EXTENDED(2579, CONSTRAINT_ROWID)
LSQ_EXTENDED(3091, CONSTRAINT_DATATYPE)

#undef LSQ_CLIENT
#undef LSQ_SQLITE
#undef LSQ_HRANA
#undef LSQ_EXTENDED
