/*
 * open_options.h - the options of `open`, one line each: the single table
 * the port's decoder is built from (conn_cmds.c), and that the Erlang side
 * (erl/libsql_opts.erl, the open/1 docs) is checked against by
 * test/libsql_open_options_SUITE.erl. An X-macro table: define the LSQ_OPT_*
 * macros, then include it; no include guard on purpose.
 *
 *   LSQ_OPT_STRING(name, field, secret)      a binary without NUL bytes,
 *                                            copied into char *field
 *                                            (secret: wiped when freed)
 *   LSQ_OPT_INT(name, field, dflt, min, max) an integer in min..max into
 *                                            long long field
 *   LSQ_OPT_BYTES(name, field, secret)       a binary of any bytes (NUL
 *                                            included), copied into
 *                                            unsigned char *field with its
 *                                            length in size_t field_len
 *                                            (secret: wiped when freed)
 *   LSQ_OPT_BOOL(name, field, dflt)          true | false into int field
 *   LSQ_OPT_NULL(name, field)                null | nil | undefined (the
 *                                            atom SQL NULL reads back as,
 *                                            default null) into
 *                                            const char *field
 *
 * Keys are Erlang atoms; an unknown key is bad_argument.
 */
LSQ_OPT_STRING(path, path, 0)
LSQ_OPT_STRING(url, url, 0)
LSQ_OPT_STRING(auth_token, auth_token, 1)
LSQ_OPT_STRING(ca_file, ca_file, 0)
LSQ_OPT_BYTES(encryption_key, encryption_key, 1)
LSQ_OPT_INT(connect_timeout, connect_timeout_ms, 10000, 1, 2147483647)
LSQ_OPT_INT(request_timeout, request_timeout_ms, 60000, 0, 2147483647)
LSQ_OPT_BOOL(read_only, read_only, 0)
LSQ_OPT_BOOL(create, create, 1)
LSQ_OPT_INT(busy_timeout, busy_timeout_ms, 5000, 0, 2147483647)
LSQ_OPT_INT(sync_interval, sync_interval_ms, 0, 0, 2147483647)
LSQ_OPT_BOOL(read_your_writes, read_your_writes, 1)
LSQ_OPT_INT(sync_timeout, sync_timeout_ms, 60000, 1, 2147483647)
LSQ_OPT_INT(cache_size, cache_size, 100, 0, 100000)
LSQ_OPT_INT(max_result_bytes, max_result, 536870912, 1024, 1879048192)
LSQ_OPT_NULL(null, null_atom)
