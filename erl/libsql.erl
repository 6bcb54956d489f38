%% @doc libsql: SQLite, libSQL and Turso databases for Erlang.
%%
%% All database work runs in a separate OS process (priv/libsql_port), one
%% per connection, so nothing the database does can take the VM down: the
%% worst case is `{error, #{code := port_exited}}' for the callers of that
%% one connection.
%%
%% `Db' in every function is a connection pid returned by {@link open/1}, a
%% pool name given to {@link start_pool/2} or the pool pid it returned. On a
%% pool, each call checks out a free connection for that call only. Inside
%% {@link with_conn/2} and {@link transaction/2}, calls on the same `Db' from
%% the same process run on the connection pinned for the fun. What needs one
%% connection across calls (begin_transaction/1,2, commit/1, rollback/1,
%% savepoint/2, release/2, rollback_to/2, interrupt/1, reset/1) takes a
%% connection, or a pool only inside such a fun.
%%
%% Values: NULL reads back as `null', or as the atom of the `null' open
%% option (`nil' for Elixir, or `undefined'); `null', `undefined' and `nil'
%% all bind NULL. INTEGER is an integer (64-bit; out of range is
%% `bad_argument'), REAL a float (`infinity' and `neg_infinity' for the
%% infinities; NaN cannot be bound), TEXT a binary (UTF-8), BLOB
%% `{blob, Binary}'; `true'/`false' bind as 1/0 and `{text, IoData}' binds
%% text. Parameters are a list (binds `?', `?NNN' and named parameters by
%% position) or a map (binds `:name', `@name', `$name'; keys are atoms or
%% binaries, and a key without a prefix binds the first of the three the
%% statement uses).
%%
%% Errors are `{error, #{code := atom(), message := binary()}}' plus, where
%% known, `extended_code', `sql', `index' (1-based, in a batch, script or
%% parameter list), `parameter', `option' and `exit_status'. The codes:
%% <ul>
%% <li>`bad_argument': a bad argument, SQL text, parameter (named by
%%     `parameter') or option (named by `option'; unknown options too),
%%     found before anything runs;</li>
%% <li>`timeout': the call's deadline passed (the request is cancelled in
%%     the port), or no pool connection became free within
%%     `checkout_timeout';</li>
%% <li>`closed': the connection is closed, or the pool is not running;</li>
%% <li>`port_exited': the port program exited or was killed;</li>
%% <li>`interrupted': stopped by interrupt/1;</li>
%% <li>SQLite's result codes as lower-case atoms, with `extended_code':
%%     `error' (SQL error), `constraint', `busy', `locked', `readonly',
%%     `cantopen', `notadb', `toobig', `corrupt', `full', ...
%%     (`sqlite_protocol' and `sqlite_auth' for SQLITE_PROTOCOL and
%%     SQLITE_AUTH);</li>
%% <li>from a remote server also `network', `tls', `http', `auth',
%%     `protocol', `stream_expired', and `not_supported' for what the
%%     server or a remote connection cannot do.</li>
%% </ul>
%% {@link format_error/1} turns any of them into a sentence.
%%
%% Guides, with examples that run in the test suite: `doc/guides/local.md'
%% (local databases and pools) and `doc/guides/remote.md' (remote servers).
%% See also {@link libsql_pragma} (typed PRAGMA helpers) and
%% {@link libsql_events} (query events and the slow-query log).
-module(libsql).

-include("libsql.hrl").

-export([open/1, close/1, ping/1, ping/2,
         query/2, query/3, query/4,
         execute/2, execute/3, execute/4,
         transaction/2, transaction/3,
         format_error/1]).
-export([prepare/2, finalize/1, stmt_info/1,
         batch/2, batch/3, execute_many/3, execute_many/4,
         execute_script/2, execute_script/3,
         cursor_open/3, cursor_open/4, fetch/2, cursor_close/1, fold/5, fold/6,
         begin_transaction/1, begin_transaction/2, commit/1, rollback/1,
         savepoint/2, release/2, rollback_to/2,
         info/1, stats/1, set_busy_timeout/2, interrupt/1, reset/1,
         limit/2, limit/3, backup/2, backup/3, rekey/2]).
-export([sync/1, sync/2, sync_until/2, sync_until/3, replication_index/1, freeze/1,
         subscribe/2, unsubscribe/1]).
-export([create_function/4, create_function/5, create_aggregate/4, create_aggregate/5,
         delete_function/3, set_authorizer/2, set_authorizer/3,
         load_extension/2, load_extension/3, serialize/1, deserialize/2]).
-export([start_pool/2, stop_pool/1, child_spec/1, with_conn/2]).
-export([print/2, print/3]).

-export_type([db/0, conn/0, open_opts/0, value/0, params/0, row/0, error/0,
              query_opts/0, call_opts/0, transaction_opts/0, stmt/0, cursor/0, sql/0,
              batch_result/0, limit_name/0, pool/0, pool_opts/0, sync_info/0,
              function_opts/0, auth_rule/0, auth_action/0]).

-type conn() :: pid().
%% A connection, from {@link open/1}.
-type pool() :: atom() | pid().
%% A pool: the name given to {@link start_pool/2} or the pid it returned.
-type db() :: conn() | pool().
%% What every call runs on: a connection or a pool.
-type value() :: null | undefined | nil | boolean() | integer() | float() | binary()
               | {blob, binary()} | {text, iodata()} | infinity | neg_infinity.
%% A value bound or read. NULL reads back as `null' (or the atom of the
%% `null' open option: `nil' or `undefined'); `null', `undefined' and `nil'
%% bind NULL. Integers are 64-bit; `true'/`false' bind 1/0; `{text, IoData}'
%% binds text; `{blob, Binary}' is a BLOB; `infinity' and `neg_infinity' are
%% the float infinities. Reads give only `null' (or its replacement),
%% integers, floats, binaries, `{blob, Binary}' and the infinities.
-type params() :: [value()] | #{atom() | binary() => value()}.
%% Positional (a list) or named (a map) parameters; see the module doc.
-type row() :: tuple() | #{binary() => value()}.
%% A row: a tuple of values in column order, or with `rows => maps' a map
%% from column name to value.
-type error() :: #{code := atom(), message := binary(), atom() => term()}.
%% An error; see the module doc for the codes and the other keys.
%% The keys of open_opts(), which pool_opts() has too (a macro: map types
%% cannot be merged).
-define(OPEN_OPTS, path => file:name_all(),
                   url => iodata(),
                   auth_token => iodata(),
                   ca_file => file:name_all(),
                   connect_timeout => 1..2147483647,
                   request_timeout => 0..2147483647,
                   read_only => boolean(),
                   create => boolean(),
                   busy_timeout => 0..2147483647,
                   cache_size => 0..100000,
                   max_result_bytes => 1024..1879048192,
                   null => null | nil | undefined,
                   timeout => timeout(),
                   max_frame => 1024..2147483647,
                   spin_us => 0..10000,
                   transport => port | nif,
                   extensions => [file:name_all()],
                   port_executable => file:name_all(),
                   cancel_timeout => 1..4294967295,
                   sync_interval => 0..2147483647,
                   read_your_writes => boolean(),
                   sync_timeout => 1..2147483647,
                   encryption_key => iodata()).
-type open_opts() :: #{?OPEN_OPTS}.
%% The options of {@link open/1}, which describes them.
-type query_opts() :: #{timeout => timeout(), rows => tuples | maps,
                        checkout_timeout => timeout()}.
%% The options of {@link query/4}.
-type call_opts() :: #{timeout => timeout(), checkout_timeout => timeout()}.
%% The options of execute/4, ping/2, execute_many/4, execute_script/3,
%% cursor_open/4 and backup/3: `timeout' (`infinity' or 0..4294967295 ms,
%% default the connection's `timeout') and, on a pool, `checkout_timeout'
%% (the same range, default the pool's).
-type pool_opts() :: #{?OPEN_OPTS,
                       size => 1..1000,
                       checkout_timeout => timeout(),
                       slow_query_ms => 0..4294967295,
                       max_restarts => 0..1000000,
                       name => atom()}.
%% The options of {@link start_pool/2}: those of {@link open/1} and the
%% pool's own; `name' only in {@link child_spec/1}.
-type stmt() :: #libsql_stmt{}.
%% A prepared statement, from {@link prepare/2}.
-type cursor() :: #libsql_cursor{}.
%% An open cursor, from {@link cursor_open/3}.
-type sql() :: iodata() | stmt().
%% SQL text (a binary, a string or iodata, UTF-8) or a prepared statement.
-type batch_result() :: #{columns := [binary()], rows := [row()],
                          changes := non_neg_integer(), last_insert_rowid := integer()}.
%% The result of one statement of {@link batch/3}.
-type limit_name() :: length | sql_length | column | expr_depth | compound_select | vdbe_op
                    | function_arg | attached | like_pattern_length | variable_number
                    | trigger_depth | worker_threads.
%% A runtime limit of SQLite (SQLITE_LIMIT_LENGTH is `length', and so on).
-type sync_info() :: #{revision_before := non_neg_integer() | none,
                       revision := non_neg_integer(), pages := non_neg_integer(),
                       bytes := non_neg_integer(), ms := non_neg_integer(),
                       locked_us := non_neg_integer(), bootstrapped := boolean()}.
%% What {@link sync/2} did.
-type transaction_opts() :: #{mode => deferred | immediate | exclusive | read_only,
                              timeout => timeout(), checkout_timeout => timeout()}.
%% The options of {@link transaction/3}.

%% Process dictionary keys, the pgo idiom for pinning: {libsql_pin, Db}
%% holds the connection a with_conn/transaction fun runs on, so calls on
%% the same Db from the same process use it; {libsql_tx, Conn} holds the
%% transaction depth on that connection (0 = top level).

%% ---- connections ---------------------------------------------------------

%% @doc Open a connection to a local database file (`path'), a remote
%% libSQL server (`url'), or both: an embedded replica, a local copy of the
%% server's database that answers reads from the file and sends writes to
%% the server (doc/guides/replica.md). Each connection runs in a port
%% program of its own. Returns `{ok, Conn}'. The connection belongs to the
%% calling process, which it monitors (there is no link): it closes when
%% that process exits.
%%
%% An embedded replica's first open of a missing file makes it from the
%% server's full page set; a later open rolls back an apply a crash
%% interrupted, then pulls once if the server answers (offline, the file
%% serves reads as it is). Its file is written by its sync alone: reads run
%% on it, writes, transactions (but read-only ones) and
%% `PRAGMA user_version = N' on the server, and pragmas that would change
%% the file (`journal_mode', `query_only = 0', `optimize', ...) are
%% refused with `readonly'. Beside it, the file `<path>-replica' holds the
%% server revision it has.
%%
%% Options (at least one of `path' and `url' is required):
%% <ul>
%% <li>`path': a file name, `":memory:"' or a `file:' URI (a replica's:
%%     a file name).</li>
%% <li>`url': a server, `libsql://' (meaning `https://'), `https://' or
%%     `http://'; no user, query or fragment.</li>
%% <li>`auth_token': a binary or string, sent as a bearer token; it is
%%     never shown in errors, logs or process state. Accepted and unused
%%     next to `path', so one configuration can switch between the two.</li>
%% <li>`ca_file' (url only): a PEM file of CA certificates trusted besides
%%     the system's; certificates and host names are always verified.</li>
%% <li>`connect_timeout' (url only): 1..2147483647 ms, default 10000.</li>
%% <li>`request_timeout' (url only): the whole HTTP request,
%%     0..2147483647 ms, default 60000; 0: none.</li>
%% <li>`read_only' (path only, not a replica): boolean, default false.</li>
%% <li>`create' (path only, not a replica): create a missing file;
%%     boolean, default true (ignored when read-only).</li>
%% <li>`sync_interval' (replica only): sync in the background every
%%     this many ms, on a thread of the port (never the one that answers
%%     calls), 0..2147483647, default 0: never (sync/1 and
%%     `read_your_writes' only). Failures are retried with a growing wait
%%     and logged once per outage. A pool syncs its file from one
%%     worker.</li>
%% <li>`read_your_writes' (replica only): after a write went to the
%%     server, pull before the next read, so that it sees the write;
%%     boolean, default true.</li>
%% <li>`sync_timeout' (replica only): how long one pull from the server
%%     may take (a bootstrap is one pull of the whole database),
%%     1..2147483647 ms, default 60000. The open of a replica gets twice
%%     this on top of its `timeout'.</li>
%% <li>`busy_timeout' (path only): how long a statement waits for a lock
%%     held by another connection before `busy', 0..2147483647 ms, default
%%     5000.</li>
%% <li>`cache_size': capacity of the prepared-statement cache,
%%     0..100000, default 100; 0 turns it off.</li>
%% <li>`max_result_bytes': the largest reply a query, batch or fetch may
%%     build, 1024..1879048192, default 536870912 (512 MiB); past it the
%%     call fails with `toobig' and the connection stays up.</li>
%% <li>`null': what SQL NULL reads back as: `null' (default), `nil'
%%     (what Elixir users pass) or `undefined'.</li>
%% <li>`timeout': the default deadline of every call on this connection,
%%     `infinity' or 0..4294967295 ms, default 15000. The open itself gets
%%     the larger of it and 15000 ms.</li>
%% <li>`max_frame': the largest request in bytes (SQL and parameters),
%%     1024..2147483647, default 268435456 (256 MiB); a larger one is
%%     `bad_argument'.</li>
%% <li>`spin_us': how long the port busy-polls for the next request while
%%     requests come back to back, 0..10000 microseconds, default 50; 0:
%%     never. With `transport => nif' it is also how long a caller polls
%%     for its answer before it sleeps (at most 1000 per poll).</li>
%% <li>`transport': how a caller's requests reach the port program,
%%     `port' (the default, or the application's `transport' setting) or
%%     `nif'. Either way the database lives in the separate OS process.
%%     `port': through the connection process and an Erlang port. `nif':
%%     the program's frames go over two pipes held by a small NIF
%%     (priv/libsql_nif.so); a plain query or execute writes its request
%%     and polls for the answer in the calling process, for up to
%%     `spin_us', then sleeps on the pipe, never holding a scheduler
%%     longer; everything else (callbacks into Erlang functions, cursors,
%%     subscriptions, an embedded replica's events) goes through the
%%     connection process. If the program dies, callers get `port_exited'
%%     as with `port'. What a lane call makes the port send besides its
%%     answer (SQLite's log) reaches the connection process, and so the
%%     logger, on its own: possibly just after the call returned.
%%     `not_supported' when the NIF cannot be loaded.</li>
%% <li>`extensions': the files of SQLite extensions load_extension/2,3
%%     may load on this connection (at most 1000), default none; given
%%     once, at open. Not for a remote connection (the open fails with
%%     `not_supported').</li>
%% <li>`port_executable': the port program to run, default
%%     priv/libsql_port (or the LIBSQL_PORT_EXECUTABLE environment
%%     variable).</li>
%% <li>`cancel_timeout': how long the port may take to acknowledge the
%%     cancel of a request that timed out, 1..4294967295 ms, default 2000;
%%     past it the port is considered hung and killed, and the connection's
%%     callers get `port_exited'.</li>
%% <li>`encryption_key': a local file or an embedded replica's file: the
%%     file, its journal and its WAL are kept encrypted in libSQL's format
%%     (SQLite3MultipleCiphers' `aes256cbc', what the libsql crate and npm
%%     `libsql' write for an `encryptionKey'); temporary files stay in
%%     memory. A binary (or
%%     iodata) of 1..32 bytes: libSQL derives the key from the first 32
%%     bytes only, so a longer one is refused; a file written by a libSQL
%%     client with the string key "k" opens with `<<"k">>' (its UTF-8
%%     bytes). Use a random key (`crypto:strong_rand_bytes(32)'): libSQL's
%%     key derivation is weak for a passphrase. Checked at open:
%%     `wrong_key', `not_encrypted'. Never sent back, logged or kept in
%%     clear by this library; see doc/guides/encryption.md.</li>
%% </ul>
%%
%% Errors: `bad_argument' with `option' naming a bad or unknown option
%% (also for neither `path' nor `url', or an option of another kind of
%% target; a replica's `path' that exists but is not a replica, or was
%% frozen); opening
%% a file: `cantopen' and other SQLite codes (a file that is not a
%% database is found by the first statement, as `notadb'), `encrypted'
%% (a libSQL-encrypted file opened without its key), `wrong_key' (the
%% key does not open it), `not_encrypted' (a key given for a plain
%% file); opening a
%% server: `network', `tls', `http', `auth', `protocol'; a replica: those
%% of both, and `not_supported' (the server has no `/pull-updates');
%% `timeout' (the open took too long); `port_exited' (the port program could not start or
%% died).
-spec open(Opts :: open_opts()) -> {ok, conn()} | {error, error()}.
open(Opts) when is_map(Opts) ->
    case libsql_opts:conn(libsql_secret:hide(Opts)) of
        {ok, ConnOpts} ->
            {ok, _} = application:ensure_all_started(libsql),
            case libsql_conn_sup:start_conn(self(), ConnOpts) of
                {ok, Conn} ->
                    {ok, Conn};
                {error, {shutdown, {open_failed, Error}}} ->
                    {error, Error};
                {error, Reason} ->
                    {error, libsql_proto:err(
                              port_exited,
                              io_lib:format("could not start the connection: ~0tP",
                                            [Reason, 10]))}
            end;
        {error, _} = E ->
            E
    end;
open(_) ->
    {error, libsql_proto:err(bad_argument, <<"open takes a map of options">>)}.

%% @doc Close a connection and end its port program: `ok'. Closing twice,
%% or a connection that is already gone, is `ok' too. Calls still waiting
%% on it get `{error, #{code := closed}}'. Pools are stopped with
%% stop_pool/1, not closed.
%%
%% Errors: `bad_argument' (not a pid, or a pool's), `timeout' (the close did not finish
%% within the connection's `timeout'), `port_exited'.
-spec close(Conn :: conn()) -> ok | {error, error()}.
close(Conn) when is_pid(Conn) ->
    libsql_conn:close(Conn, default);
close(_) ->
    {error, libsql_proto:err(bad_argument, <<"close takes a connection">>)}.

%% @doc As ping/2 with Opts = #{}: `ok' or `{error, Error}'. Errors as
%% ping/2: `bad_argument', `timeout', `closed', `port_exited'.
-spec ping(Db :: db()) -> ok | {error, error()}.
ping(Db) -> ping(Db, #{}).

%% @doc Check that the connection (on a pool: a free one) and its port
%% program answer: `ok'.
%%
%% Options: `timeout' (`infinity' or 0..4294967295 ms, default the
%% connection's `timeout') and, on a pool, `checkout_timeout' (the same
%% range, default the pool's). Any other key, or a value out of range, is
%% `bad_argument' with `option' naming it.
%%
%% Errors: `bad_argument' (an option; `Db' is not a connection or a running
%% pool), `timeout', `closed', `port_exited'.
-spec ping(Db :: db(), Opts :: call_opts()) -> ok | {error, error()}.
ping(Db, Opts) ->
    checked(ping, Opts, fun() -> ok_or_error(libsql_route:call(Db, ping, [], Opts)) end).

%% ---- pools ---------------------------------------------------------------

%% @doc Start a pool of connections to one database, registered as Name,
%% under the libsql application's supervisor. Returns `{ok, Pid}'; Name and
%% Pid are both a `Db' for every call. The workers belong to the pool, not
%% to the caller: the pool runs until stop_pool/1.
%%
%% Options: those of {@link open/1} (every worker opens with them; their
%% `timeout' is each call's default deadline), plus:
%% <ul>
%% <li>`size': the number of connections, 1..1000, default 4.</li>
%% <li>`checkout_timeout': how long a call waits for a free connection,
%%     `infinity' or 0..4294967295 ms, default 5000; past it the call
%%     returns `timeout'. A call's own `checkout_timeout' option overrides
%%     it.</li>
%% <li>`slow_query_ms': log statements that take at least this long,
%%     0..4294967295 ms (see {@link libsql_events}); default the
%%     application environment's `slow_query_ms' (read when the
%%     application or a pool starts, or by libsql_events:reload/0), else
%%     none.</li>
%% <li>`max_restarts': how many worker restarts within 10 s the pool
%%     tolerates before it restarts all its workers (and stops if that
%%     keeps happening), 0..1000000, default max(10, 3 * size).</li>
%% </ul>
%%
%% The database is opened before anything starts: a pool that cannot open
%% it, or has a bad option, returns the error, leaves nothing running and
%% logs nothing.
%%
%% Errors: `bad_argument' (a bad or unknown option, named by `option';
%% Name not an atom or Opts not a map; Name already a running pool or
%% another process's registered name); `not_supported'
%% (`encryption_key'); the error of opening the database, as for open/1
%% (`cantopen', `network', `auth', `timeout', `port_exited', ...).
-spec start_pool(Name :: atom(), Opts :: pool_opts()) -> {ok, pid()} | {error, error()}.
start_pool(Name, Opts) when is_atom(Name), is_map(Opts) ->
    {ok, _} = application:ensure_all_started(libsql),
    case libsql_pools_sup:start_pool(Name, libsql_secret:hide(Opts)) of
        {ok, _Sup} -> libsql_pool:lookup(Name);
        {error, Reason} -> {error, libsql_opts:start_error(Name, Reason)}
    end;
start_pool(_Name, _Opts) ->
    {error, libsql_proto:err(bad_argument, <<"start_pool takes an atom and a map">>)}.

%% @doc Stop a pool started with start_pool/2 (or from the application
%% environment), given by name or pid: `ok'. Its connections close and
%% their port programs exit; calls waiting on them get `closed'.
%%
%% Errors: `bad_argument' (no such pool is running; a pool started from
%% child_spec/1 runs under your own supervisor and is stopped there).
-spec stop_pool(Pool :: pool()) -> ok | {error, error()}.
stop_pool(Pool) ->
    case libsql_pool:supervisor(Pool) of
        {ok, Sup} ->
            case libsql_pools_sup:stop_pool(Sup) of
                ok -> ok;
                {error, not_found} ->
                    {error, libsql_proto:err(bad_argument,
                                             <<"that pool runs under your own supervisor: "
                                               "stop it there">>)}
            end;
        error ->
            {error, libsql_proto:err(bad_argument,
                                     io_lib:format("no pool ~0tP is running", [Pool, 5]))}
    end.

%% @doc A child spec for a pool in your own supervision tree:
%% `libsql:child_spec(#{name => my_db, path => "app.db", size => 4})'.
%% `name' (an atom, required: without it this raises `function_clause') is
%% the pool's name; the other keys are those of start_pool/2. The options
%% are checked and the database opened when the supervisor starts the
%% child: a bad option or a database that cannot be opened fails that
%% start with the error. Stop the pool through your supervisor, not with
%% stop_pool/1.
-spec child_spec(Opts :: pool_opts()) -> supervisor:child_spec().
child_spec(#{name := Name} = Opts) when is_atom(Name) ->
    #{id => {libsql_pool, Name},
      start => {libsql_pool_sup, start_link,
                [Name, libsql_secret:hide(maps:remove(name, Opts))]},
      type => supervisor,
      shutdown => infinity}.

%% @doc Run Fun(Conn) with one connection and return what Fun returns. On
%% a pool, a connection is checked out for the whole fun (within the pool's
%% `checkout_timeout') and reset when given back (open transaction rolled
%% back, cursors closed, prepared statements finalized); on a connection,
%% Fun gets it. Inside the fun, calls on the same `Db' from this process
%% use that connection, so begin_transaction/1, commit/1 and the other
%% one-connection commands work on a pool. An exception in Fun passes
%% through (the connection is given back first).
%%
%% Errors, instead of running Fun: `bad_argument' (Fun is not a fun of one
%% argument; `Db' is not a connection or a running pool), `timeout' (no
%% connection became free in time), `closed' (the pool is not running).
-spec with_conn(Db :: db(), Fun :: fun((conn()) -> Result)) -> Result | {error, error()}.
with_conn(Db, Fun) when is_function(Fun, 1) ->
    libsql_route:with_conn(Db, Fun);
with_conn(_Db, _Fun) ->
    {error, libsql_proto:err(bad_argument, <<"with_conn takes a fun of one argument">>)}.

%% ---- statements ------------------------------------------------------------

%% @doc As query/4 with Params = [] and Opts = #{}:
%% `{ok, Columns, Rows}' or `{error, Error}'. Errors as query/4:
%% `bad_argument', SQLite's codes (`error', `constraint', `busy', ...),
%% `interrupted', `timeout', `closed', `port_exited', the remote codes.
-spec query(Db :: db(), Sql :: sql()) ->
          {ok, [binary()], [row()]} | {error, error()}.
query(Db, Sql) -> query(Db, Sql, [], #{}).

%% @doc As query/4 with Opts = #{}: `{ok, Columns, Rows}' or
%% `{error, Error}'. Errors as query/4: `bad_argument' (also for
%% parameters that do not fit, named by `parameter'), SQLite's codes
%% (`error', `constraint', `busy', ...), `interrupted', `timeout',
%% `closed', `port_exited', the remote codes.
-spec query(Db :: db(), Sql :: sql(), Params :: params()) ->
          {ok, [binary()], [row()]} | {error, error()}.
query(Db, Sql, Params) -> query(Db, Sql, Params, #{}).

%% @doc Run one statement and return its rows: `{ok, Columns, Rows}',
%% Columns the result column names (binaries), Rows the rows in order, as
%% tuples (or maps). Any statement works, writes with `RETURNING' too; one
%% without result columns gives `{ok, [], []}'. Sql is SQL text holding one
%% statement (trailing `;' and comments are fine) or a statement from
%% prepare/2; Params are bound to it (see the module doc).
%%
%% Options:
%% <ul>
%% <li>`timeout': `infinity' or 0..4294967295 ms, default the
%%     connection's `timeout' (open/1); on expiry the call returns
%%     `timeout' and the statement is cancelled in the port.</li>
%% <li>`checkout_timeout': on a pool, how long to wait for a free
%%     connection, `infinity' or 0..4294967295 ms, default the pool's.</li>
%% <li>`rows': `tuples' (default) or `maps' (each row a map from column
%%     name to value).</li>
%% </ul>
%% Any other key, or a value out of range, is `bad_argument' with `option'
%% naming it, and nothing runs.
%%
%% Errors: `bad_argument' (an option; SQL that is not text, holds a NUL
%% byte or more than one statement (use execute_script/2); parameters that
%% do not fit the statement, with `parameter' naming the one at fault; a
%% prepared statement of another connection or pool, or one finalized;
%% `Db' not a connection or running pool); SQLite's codes, such as `error'
%% (syntax error, no such table), `constraint', `busy', `locked',
%% `readonly', `toobig' (a result over `max_result_bytes'); `interrupted';
%% `timeout'; `closed'; `port_exited'; remote: `network', `tls', `http',
%% `auth', `protocol', `stream_expired', and `not_supported' for BEGIN,
%% COMMIT, ROLLBACK, SAVEPOINT or RELEASE on a server without streams
%% (Hrana 2). An error about the statement carries its `sql'.
-spec query(Db :: db(), Sql :: sql(), Params :: params(), Opts :: query_opts()) ->
          {ok, [binary()], [row()]} | {error, error()}.
query(Db, Sql, Params, Opts) ->
    checked(query, Opts, fun() ->
        case statement(Db, query, Sql, Params, Opts) of
            {ok, {Columns, Rows}} -> {ok, Columns, libsql_proto:shape_rows(Columns, Rows, Opts)};
            {error, _} = E -> E
        end
    end).

%% @doc As execute/4 with Params = [] and Opts = #{}:
%% `{ok, #{changes := N, last_insert_rowid := RowId}}' or `{error, Error}'.
%% Errors as execute/4: `bad_argument', SQLite's codes (`error',
%% `constraint', `busy', ...), `interrupted', `timeout', `closed',
%% `port_exited', the remote codes.
-spec execute(Db :: db(), Sql :: sql()) ->
          {ok, #{changes := non_neg_integer(), last_insert_rowid := integer()}}
        | {error, error()}.
execute(Db, Sql) -> execute(Db, Sql, [], #{}).

%% @doc As execute/4 with Opts = #{}:
%% `{ok, #{changes := N, last_insert_rowid := RowId}}' or `{error, Error}'.
%% Errors as execute/4: `bad_argument' (also for parameters that do not
%% fit, named by `parameter'), SQLite's codes (`error', `constraint',
%% `busy', ...), `interrupted', `timeout', `closed', `port_exited', the
%% remote codes.
-spec execute(Db :: db(), Sql :: sql(), Params :: params()) ->
          {ok, #{changes := non_neg_integer(), last_insert_rowid := integer()}}
        | {error, error()}.
execute(Db, Sql, Params) -> execute(Db, Sql, Params, #{}).

%% @doc Run one statement for its effect:
%% `{ok, #{changes := N, last_insert_rowid := RowId}}', N the rows the
%% statement inserted, updated or deleted (0 for one that changed
%% nothing), RowId the connection's last inserted rowid (on a pool, that
%% of the worker that ran it). Rows the statement returns are dropped. Sql
%% and Params as in query/4.
%%
%% Options: `timeout' (`infinity' or 0..4294967295 ms, default the
%% connection's `timeout') and, on a pool, `checkout_timeout' (the same
%% range, default the pool's). Any other key (`rows' too), or a value out
%% of range, is `bad_argument' with `option' naming it.
%%
%% Errors, as for query/4: `bad_argument' (an option, the SQL, a parameter
%% (named by `parameter'), a prepared statement of another connection);
%% SQLite's codes such as `error', `constraint', `busy', `locked',
%% `readonly'; `interrupted'; `timeout'; `closed'; `port_exited'; remote
%% also `network', `tls', `http', `auth', `protocol', `stream_expired' and
%% `not_supported' (transaction statements on a server without streams).
-spec execute(Db :: db(), Sql :: sql(), Params :: params(), Opts :: call_opts()) ->
          {ok, #{changes := non_neg_integer(), last_insert_rowid := integer()}}
        | {error, error()}.
execute(Db, Sql, Params, Opts) ->
    checked(execute, Opts, fun() ->
        case statement(Db, execute, Sql, Params, Opts) of
            {ok, {Changes, RowId}} -> {ok, #{changes => Changes, last_insert_rowid => RowId}};
            {error, _} = E -> E
        end
    end).

statement(Db, Cmd, #libsql_stmt{id = undefined, conn = Pool, sql = SqlBin}, Params, Opts) ->
    %% Prepared on a pool: any of its workers runs it from its statement
    %% cache; it belongs to that pool only.
    case Db =:= Pool orelse libsql_pool:lookup(Db) =:= libsql_pool:lookup(Pool) of
        true -> statement(Db, Cmd, SqlBin, Params, Opts);
        false -> {error, libsql_proto:err(bad_argument,
                                          <<"the statement belongs to another pool">>,
                                          #{sql => SqlBin})}
    end;
statement(Db, Cmd, #libsql_stmt{conn = Owner, id = Id, sql = SqlBin}, Params, Opts) ->
    libsql_events:span(Db, Cmd, SqlBin, fun() ->
        libsql_route:with_db(Db, Opts, fun(Conn) when Conn =:= Owner ->
                                  StmtCmd = case Cmd of query -> stmt_query;
                                                        execute -> stmt_execute end,
                                  libsql_proto:with_sql(
                                    SqlBin, run_params(Owner, StmtCmd, [Id], Params, Opts));
                             (_Other) ->
                                  {error, libsql_proto:err(
                                            bad_argument,
                                            <<"the statement belongs to another connection">>,
                                            #{sql => SqlBin})}
                          end)
    end);
statement(Db, Cmd, Sql, Params, Opts) ->
    case libsql_proto:sql(Sql) of
        {ok, SqlBin} ->
            case libsql_proto:params(Params) of
                {ok, Wire} ->
                    libsql_events:span(Db, Cmd, SqlBin, fun() ->
                        libsql_proto:with_sql(SqlBin,
                                              libsql_route:call(Db, Cmd, [SqlBin, Wire], Opts))
                    end);
                {error, E} ->
                    {error, E#{sql => SqlBin}}
            end;
        {error, _} = E ->
            E
    end.

run_params(Conn, Cmd, Args, Params, Opts) ->
    case libsql_proto:params(Params) of
        {ok, Wire} -> libsql_route:call_conn(Conn, Cmd, Args ++ [Wire], Opts);
        {error, _} = E -> E
    end.

%% ---- transactions ---------------------------------------------------------

%% @doc As transaction/3 with Opts = #{} (a deferred transaction):
%% `{ok, Result}' or `{error, Error}'. Errors as transaction/3:
%% `bad_argument', SQLite's codes from BEGIN and COMMIT (`busy',
%% `constraint', ...), `timeout', `closed', `port_exited', and on a remote
%% server `not_supported' (no streams) and the remote codes.
-spec transaction(Db :: db(), Fun :: fun((conn()) -> Result)) ->
          {ok, Result} | {error, error()}.
transaction(Db, Fun) -> transaction(Db, Fun, #{}).

%% @doc Run Fun(Conn) in a transaction: BEGIN, then commit when Fun
%% returns, giving `{ok, Result}' whatever Result is (a returned
%% `{error, _}' commits too); roll back and re-raise when Fun raises,
%% exits or throws. On a pool, one connection is checked out for the whole
%% transaction. Inside Fun, calls on the same `Db' (or on Conn) from the
%% same process run on that connection. A transaction inside a transaction
%% is a savepoint whose failure rolls back only itself. A failing COMMIT
%% rolls back and returns `{error, Error}'.
%%
%% Options:
%% <ul>
%% <li>`mode': `deferred' (default), `immediate', `exclusive' (SQLite's
%%     BEGIN modes) or `read_only' (deferred, with writes refused as
%%     `readonly' until the end); ignored by a nested transaction, which
%%     cannot be `read_only'.</li>
%% <li>`timeout': the deadline of each of BEGIN, COMMIT, ROLLBACK and the
%%     savepoint statements, not of Fun: `infinity' or 0..4294967295 ms,
%%     default the connection's `timeout'.</li>
%% <li>`checkout_timeout': on a pool, how long to wait for a free
%%     connection, `infinity' or 0..4294967295 ms, default the pool's.</li>
%% </ul>
%% Any other key, or a value out of range, is `bad_argument' with `option'
%% naming it.
%%
%% Errors: `bad_argument' (an option; Fun not a fun of one argument; a
%% nested `read_only' transaction; `Db' not a connection or running pool);
%% from BEGIN, COMMIT or a savepoint: `busy', `locked', `constraint'
%% (deferred foreign keys at COMMIT) and other SQLite codes; `timeout';
%% `closed'; `port_exited'; remote: `not_supported' on a server without
%% streams (Hrana 2), `stream_expired', `network' and the other remote
%% codes.
-spec transaction(Db :: db(), Fun :: fun((conn()) -> Result), Opts :: transaction_opts()) ->
          {ok, Result} | {error, error()}.
transaction(Db, Fun, Opts) when is_function(Fun, 1) ->
    checked(transaction, Opts, fun() -> libsql_tx:transaction(Db, Fun, Opts) end);
transaction(_Db, _Fun, _Opts) ->
    {error, libsql_proto:err(bad_argument,
                               <<"transaction takes a fun of one argument and a map">>)}.

%% ---- prepared statements ---------------------------------------------------

%% @doc Prepare a statement once and run it many times with query/2,3,4
%% and execute/2,3,4 (pass the statement where the SQL goes): `{ok, Stmt}'.
%% The record (stmt_info/1) holds its column names, declared types and
%% parameters. Prepared on a connection (or inside with_conn/2 or
%% transaction/2), it belongs to that connection until finalize/1, reset/1
%% or the connection's end. Prepared on a pool, it is not tied to a worker:
%% any worker of that pool runs it from its statement cache. On a remote
%% server nothing is sent: the server sees the statement when it runs, so
%% its columns and declared types are empty lists and `readonly' is judged
%% from its first keyword.
%%
%% Errors: `bad_argument' (SQL that is not text, holds a NUL byte or more
%% than one statement; `Db' not a connection or running pool); `error'
%% (a syntax error, no such table) and other SQLite codes; `timeout' (the
%% connection's `timeout'; on a pool also no free connection within its
%% `checkout_timeout'); `closed'; `port_exited'.
-spec prepare(Db :: db(), Sql :: iodata()) -> {ok, stmt()} | {error, error()}.
prepare(Db, Sql) ->
    case libsql_proto:sql(Sql) of
        {ok, SqlBin} ->
            %% Bound to one connection, or prepared on a pool?
            Bound = element(1, libsql_route:target(Db)) =:= conn,
            libsql_route:with_db(Db, #{}, fun(Conn) ->
                case libsql_proto:with_sql(
                       SqlBin, libsql_route:call_conn(Conn, prepare, [SqlBin], #{})) of
                    {ok, {Id, Info}} when Bound ->
                        {ok, stmt_record(Conn, Id, SqlBin, Info)};
                    {ok, {Id, Info}} ->
                        %% On a pool: learn the statement's shape, then let any
                        %% worker run it from its cache.
                        _ = libsql_route:call_conn(Conn, finalize, [Id], #{}),
                        {ok, stmt_record(Db, undefined, SqlBin, Info)};
                    {error, _} = E ->
                        E
                end
            end);
        {error, _} = E -> E
    end.

stmt_record(Owner, Id, SqlBin, Info) ->
    #libsql_stmt{conn = Owner, id = Id, sql = SqlBin,
                 columns = maps:get(columns, Info),
                 decltypes = maps:get(decltypes, Info),
                 param_count = maps:get(param_count, Info),
                 param_names = maps:get(param_names, Info),
                 readonly = maps:get(readonly, Info)}.

%% @doc Release a prepared statement: `ok'. Using it afterwards, or
%% finalizing it again, is `bad_argument'. A statement prepared on a pool
%% (outside with_conn/transaction) is not tied to one connection: it is run
%% by SQL text from the statement cache of whichever worker serves the
%% call, so finalize has nothing to release, returns `ok' and it stays
%% usable.
%%
%% Errors: `bad_argument' (not a statement; already finalized, or its
%% connection was reset), `timeout', `closed' (its connection is closed),
%% `port_exited'.
-spec finalize(Stmt :: stmt()) -> ok | {error, error()}.
finalize(#libsql_stmt{id = undefined}) ->
    ok;
finalize(#libsql_stmt{conn = Conn, id = Id}) ->
    case libsql_route:call_conn(Conn, finalize, [Id], #{}) of
        {ok, ok} -> ok;
        {error, _} = E -> E
    end;
finalize(_) ->
    {error, libsql_proto:err(bad_argument, <<"finalize takes a prepared statement">>)}.

%% @doc What a prepared statement reads and takes, as a map: its SQL, its
%% result column names and declared types (`null' for an expression),
%% its parameter count and names (`null' for `?'), and whether it cannot
%% write. Read from the record: no call is made, and a statement that is
%% not a record raises `function_clause'.
-spec stmt_info(Stmt :: stmt()) ->
          #{sql := binary(), columns := [binary()], decltypes := [binary() | null],
            param_count := non_neg_integer(), param_names := [binary() | null],
            readonly := boolean()}.
stmt_info(#libsql_stmt{} = S) ->
    #{sql => S#libsql_stmt.sql, columns => S#libsql_stmt.columns,
      decltypes => S#libsql_stmt.decltypes, param_count => S#libsql_stmt.param_count,
      param_names => S#libsql_stmt.param_names, readonly => S#libsql_stmt.readonly}.

%% ---- batches and scripts ---------------------------------------------------

%% @doc As batch/3 with Opts = #{} (all or nothing):
%% `{ok, [Result]}' or `{error, Error}'. Errors as batch/3, with the
%% failing statement's `index': `bad_argument', SQLite's codes,
%% `interrupted', `timeout', `closed', `port_exited', the remote codes.
-spec batch(Db :: db(), Statements :: [{iodata(), params()} | iodata()]) ->
          {ok, [batch_result()]} | {error, error()}.
batch(Db, Statements) -> batch(Db, Statements, #{}).

%% @doc Run many statements in one round trip: `{ok, Results}', one
%% `#{columns, rows, changes, last_insert_rowid}' per statement, in order.
%% Each element is `{Sql, Params}' or just `Sql' (SQL text of one
%% statement). With `transaction => true' (the default) the batch is all
%% or nothing (a savepoint inside an open transaction); otherwise it stops
%% at the first failure, earlier statements staying applied. An error
%% carries the failing statement's 1-based `index'.
%%
%% Options:
%% <ul>
%% <li>`transaction': boolean, default true.</li>
%% <li>`timeout': the deadline of the whole batch, `infinity' or
%%     0..4294967295 ms, default the connection's `timeout'.</li>
%% <li>`checkout_timeout': on a pool, how long to wait for a free
%%     connection, `infinity' or 0..4294967295 ms, default the pool's.</li>
%% <li>`rows': `tuples' (default) or `maps', as in query/4.</li>
%% </ul>
%% Any other key, or a value out of range, is `bad_argument' with `option'
%% naming it.
%%
%% Errors: `bad_argument' (an option; Statements not a proper list; a
%% statement's SQL or parameters, with `index'); SQLite's codes with
%% `index', such as `error', `constraint', `busy'; `interrupted';
%% `timeout'; `closed'; `port_exited'; remote: `not_supported' (a batch
%% that would leave a transaction open on a server without streams, rolled
%% back), and the other remote codes.
-spec batch(Db :: db(), Statements :: [{iodata(), params()} | iodata()],
            Opts :: #{transaction => boolean(), timeout => timeout(),
                      checkout_timeout => timeout(), rows => tuples | maps}) ->
          {ok, [batch_result()]} | {error, error()}.
batch(Db, Statements, Opts) when is_list(Statements) ->
    checked(batch, Opts, fun() ->
        Tx = maps:get(transaction, Opts, true),
        case batch_items(Statements, 1, []) of
            {ok, Items} ->
                case libsql_events:span(Db, batch, undefined,
                                        fun() -> libsql_route:call(Db, batch, [Items, Tx], Opts) end) of
                    {ok, Results} ->
                        {ok, [#{columns => C, rows => libsql_proto:shape_rows(C, R, Opts), changes => N,
                                last_insert_rowid => Id} || {C, R, N, Id} <- Results]};
                    {error, _} = E -> E
                end;
            {error, _} = E ->
                E
        end
    end);
batch(_Db, _Statements, _Opts) ->
    {error, libsql_proto:err(bad_argument, <<"batch takes a list of statements">>)}.

batch_items([], _I, Acc) -> {ok, lists:reverse(Acc)};
batch_items([{Sql, Params} | Rest], I, Acc) ->
    case {libsql_proto:sql(Sql), libsql_proto:params(Params)} of
        {{ok, S}, {ok, P}} -> batch_items(Rest, I + 1, [{S, P} | Acc]);
        {{error, E}, _} -> {error, E#{index => I}};
        {_, {error, E}} -> {error, E#{index => I}}
    end;
batch_items([Sql | Rest], I, Acc) ->
    batch_items([{Sql, []} | Rest], I, Acc);
batch_items(_Improper, I, _Acc) ->
    {error, libsql_proto:err(bad_argument, <<"batch takes a proper list">>, #{index => I})}.

%% @doc As execute_many/4 with Opts = #{}:
%% `{ok, #{changes := N, last_insert_rowid := RowId}}' or `{error, Error}'.
%% Errors as execute_many/4, with the failing parameter list's `index':
%% `bad_argument', SQLite's codes, `interrupted', `timeout', `closed',
%% `port_exited', the remote codes.
-spec execute_many(Db :: db(), Sql :: iodata(), ParamsList :: [params()]) ->
          {ok, #{changes := non_neg_integer(), last_insert_rowid := integer()}}
        | {error, error()}.
execute_many(Db, Sql, ParamsList) -> execute_many(Db, Sql, ParamsList, #{}).

%% @doc Run one statement once per parameter list, in one round trip (bulk
%% insert): `{ok, #{changes := N, last_insert_rowid := RowId}}', N the
%% rows changed in all, RowId the last inserted rowid. All or nothing (a
%% savepoint inside an open transaction): a failure rolls every row back
%% and carries the 1-based `index' of the parameter list at fault.
%%
%% Options: `timeout' (the whole call, `infinity' or 0..4294967295 ms,
%% default the connection's `timeout') and, on a pool, `checkout_timeout'
%% (the same range, default the pool's). Any other key, or a value out of
%% range, is `bad_argument' with `option' naming it.
%%
%% Errors: `bad_argument' (an option; SQL that is not text or not one
%% statement; ParamsList not a proper list; a parameter list that does not
%% fit, with `index'); SQLite's codes with `index', such
%% as `constraint', `busy'; `interrupted'; `timeout'; `closed';
%% `port_exited'; remote: the remote codes.
-spec execute_many(Db :: db(), Sql :: iodata(), ParamsList :: [params()],
                   Opts :: call_opts()) ->
          {ok, #{changes := non_neg_integer(), last_insert_rowid := integer()}}
        | {error, error()}.
execute_many(Db, Sql, ParamsList, Opts) when is_list(ParamsList) ->
    checked(execute_many, Opts, fun() -> run_many(Db, Sql, ParamsList, Opts) end);
execute_many(_Db, _Sql, _ParamsList, _Opts) ->
    {error, libsql_proto:err(bad_argument, <<"execute_many takes a list of parameter lists">>)}.

run_many(Db, Sql, ParamsList, Opts) ->
    case libsql_proto:sql(Sql) of
        {ok, SqlBin} ->
            case many_params(ParamsList, 1, []) of
                {ok, Wire} ->
                    case libsql_events:span(Db, execute_many, SqlBin, fun() ->
                             libsql_proto:with_sql(SqlBin, libsql_route:call(Db, execute_many, [SqlBin, Wire], Opts))
                         end) of
                        {ok, {N, Id}} -> {ok, #{changes => N, last_insert_rowid => Id}};
                        {error, _} = E -> E
                    end;
                {error, E} -> {error, E#{sql => SqlBin}}
            end;
        {error, _} = E -> E
    end.

many_params([], _I, Acc) -> {ok, lists:reverse(Acc)};
many_params([P | Rest], I, Acc) ->
    case libsql_proto:params(P) of
        {ok, W} -> many_params(Rest, I + 1, [W | Acc]);
        {error, E} -> {error, E#{index => I}}
    end;
many_params(_Improper, I, _Acc) ->
    {error, libsql_proto:err(bad_argument, <<"a proper list of parameter lists is needed">>,
                             #{index => I})}.

%% @doc As execute_script/3 with Opts = #{}:
%% `{ok, #{statements := N, changes := C}}' or `{error, Error}'. Errors as
%% execute_script/3, with the failing statement's `index' and `sql':
%% `bad_argument', SQLite's codes, `interrupted', `timeout', `closed',
%% `port_exited', the remote codes (`not_supported' too).
-spec execute_script(Db :: db(), Sql :: iodata()) ->
          {ok, #{statements := non_neg_integer(), changes := non_neg_integer()}}
        | {error, error()}.
execute_script(Db, Sql) -> execute_script(Db, Sql, #{}).

%% @doc Run a multi-statement SQL text (a migration), statement by
%% statement, in one round trip: `{ok, #{statements := N, changes := C}}',
%% N the statements run, C the rows they changed. Rows are dropped. The
%% script controls its own transactions (no group of its own: statements
%% before a failure stay applied); the first error stops it and names the
%% statement (`index', `sql'). On a pool the worker goes back as the
%% script leaves it, so a script must end the transactions it begins.
%%
%% Options: `timeout' (the whole script, `infinity' or 0..4294967295 ms,
%% default the connection's `timeout') and, on a pool, `checkout_timeout'
%% (the same range, default the pool's). Any other key, or a value out of
%% range, is `bad_argument' with `option' naming it.
%%
%% Errors: `bad_argument' (an option; SQL that is not text); SQLite's
%% codes with `index' and `sql', such as `error', `constraint', `busy';
%% `interrupted'; `timeout'; `closed'; `port_exited'; remote:
%% `not_supported' (a script that would leave a transaction open on a
%% server without streams, rolled back) and the other remote codes.
-spec execute_script(Db :: db(), Sql :: iodata(), Opts :: call_opts()) ->
          {ok, #{statements := non_neg_integer(), changes := non_neg_integer()}}
        | {error, error()}.
execute_script(Db, Sql, Opts) ->
    checked(execute_script, Opts, fun() ->
        case libsql_proto:sql(Sql) of
            {ok, SqlBin} ->
                case libsql_events:span(Db, execute_script, SqlBin,
                                        fun() -> libsql_route:call(Db, execute_script, [SqlBin], Opts) end) of
                    {ok, {N, C}} -> {ok, #{statements => N, changes => C}};
                    {error, _} = E -> E
                end;
            {error, _} = E -> E
        end
    end).

%% ---- streaming ---------------------------------------------------------------

%% @doc As cursor_open/4 with Opts = #{}: `{ok, Cursor}' or
%% `{error, Error}'. Errors as cursor_open/4: `bad_argument', SQLite's
%% codes, `timeout', `closed', `port_exited', the remote codes.
-spec cursor_open(Db :: db(), Sql :: iodata(), Params :: params()) ->
          {ok, cursor()} | {error, error()}.
cursor_open(Db, Sql, Params) -> cursor_open(Db, Sql, Params, #{}).

%% @doc Open a cursor on one statement: `{ok, Cursor}'. The statement runs
%% as rows are fetched (fetch/2), so a result of any size streams in
%% bounded memory; on a remote server it runs at once and the port holds
%% its whole result. The cursor belongs to the calling process and is
%% closed when that process exits. On a pool it keeps its connection
%% checked out until cursor_close/1, which must be called even after the
%% last fetch.
%%
%% Options: `timeout' (the deadline of the open and of every fetch on the
%% cursor, `infinity' or 0..4294967295 ms, default the connection's
%% `timeout') and, on a pool, `checkout_timeout' (the same range, default
%% the pool's). Any other key, or a value out of range, is `bad_argument'
%% with `option' naming it.
%%
%% Errors: `bad_argument' (an option; the SQL; a parameter, named by
%% `parameter'); `error' (a syntax error) and other SQLite codes; `timeout';
%% `closed'; `port_exited'; remote: the remote codes, and `toobig' for a
%% result over `max_result_bytes'.
-spec cursor_open(Db :: db(), Sql :: iodata(), Params :: params(),
                  Opts :: call_opts()) -> {ok, cursor()} | {error, error()}.
cursor_open(Db, Sql, Params, Opts) ->
    checked(cursor_open, Opts, fun() -> libsql_stream:cursor_open(Db, Sql, Params, Opts) end).

%% @doc Fetch up to N rows (1..100000000) as tuples: `{ok, Rows, more}'
%% or, once the statement has finished, `{ok, Rows, done}'. Fetching after
%% `done' gives `{ok, [], done}'. Each fetch has the cursor's `timeout'
%% (cursor_open/4).
%%
%% Errors: `bad_argument' (N out of range; not a cursor; a closed
%% cursor); SQLite's codes met while stepping, such as `busy',
%% `error', `schema' (the result columns changed since the open) and
%% `toobig' (over `max_result_bytes'); `interrupted'; `timeout'; `closed';
%% `port_exited'.
-spec fetch(Cursor :: cursor(), N :: 1..100000000) ->
          {ok, [tuple()], more | done} | {error, error()}.
fetch(#libsql_cursor{} = Cursor, N) when is_integer(N), N > 0, N =< 100000000 ->
    libsql_stream:fetch(Cursor, N);
fetch(_Cursor, _N) ->
    {error, libsql_proto:err(bad_argument, <<"fetch takes a cursor and a positive count">>)}.

%% @doc Close a cursor: `ok'. Closing twice, or a cursor whose connection
%% is closed, is `ok' too. On a pool the first close gives its connection
%% back; a later one does nothing (that connection may be in use again).
%%
%% Errors: `bad_argument' (not a cursor), `timeout', `port_exited'.
-spec cursor_close(Cursor :: cursor()) -> ok | {error, error()}.
cursor_close(#libsql_cursor{} = Cursor) ->
    libsql_stream:cursor_close(Cursor);
cursor_close(_) ->
    {error, libsql_proto:err(bad_argument, <<"cursor_close takes a cursor">>)}.

%% @doc As fold/6 with Opts = #{}: `{ok, Acc}' or `{error, Error}'.
%% Errors as fold/6: `bad_argument', SQLite's codes, `interrupted',
%% `timeout', `closed', `port_exited', the remote codes.
-spec fold(Db :: db(), Sql :: iodata(), Params :: params(),
           Fun :: fun((row(), Acc) -> Acc), Acc0 :: Acc) -> {ok, Acc} | {error, error()}.
fold(Db, Sql, Params, Fun, Acc0) -> fold(Db, Sql, Params, Fun, Acc0, #{}).

%% @doc Fold Fun(Row, Acc) over the rows of a query, in the calling
%% process, and return `{ok, Acc}'. The rows stream through a cursor in
%% chunks: while one chunk is folded the port reads the next, and the
%% request for the one after is already queued, so the port never waits
%% for the caller. At most three chunks exist at a time. The cursor is
%% closed in every case; if Fun raises, the exception passes through.
%%
%% Options:
%% <ul>
%% <li>`chunk': rows per fetch, 1..100000000, default 1000.</li>
%% <li>`timeout': the deadline of the open and of each fetch, `infinity'
%%     or 0..4294967295 ms, default the connection's `timeout'.</li>
%% <li>`checkout_timeout': on a pool, how long to wait for a free
%%     connection, `infinity' or 0..4294967295 ms, default the pool's.</li>
%% <li>`rows': `tuples' (default) or `maps', as in query/4.</li>
%% </ul>
%% Any other key, or a value out of range, is `bad_argument' with `option'
%% naming it.
%%
%% Errors: `bad_argument' (an option; Fun not a fun of two arguments; the
%% SQL; a parameter); SQLite's codes, from the open or any fetch, such as
%% `error', `busy', `toobig'; `interrupted'; `timeout'; `closed';
%% `port_exited'; remote: the remote codes. Rows folded before an error
%% are lost with the accumulator.
-spec fold(Db :: db(), Sql :: iodata(), Params :: params(),
           Fun :: fun((row(), Acc) -> Acc), Acc0 :: Acc,
           Opts :: #{chunk => 1..100000000, timeout => timeout(),
                     checkout_timeout => timeout(), rows => tuples | maps}) ->
          {ok, Acc} | {error, error()}.
fold(Db, Sql, Params, Fun, Acc0, Opts) when is_function(Fun, 2) ->
    checked(fold, Opts, fun() -> libsql_stream:fold(Db, Sql, Params, Fun, Acc0, Opts) end);
fold(_Db, _Sql, _Params, _Fun, _Acc0, _Opts) ->
    {error, libsql_proto:err(bad_argument, <<"fold takes a fun of two arguments">>)}.

%% ---- explicit transaction control -------------------------------------------

%% @doc As begin_transaction/2 with Opts = #{} (BEGIN DEFERRED): `ok' or
%% `{error, Error}'. Errors as begin_transaction/2: `bad_argument' (also
%% for a pool outside with_conn/2), `error' (a transaction is already
%% open) and other SQLite codes, `timeout', `closed', `port_exited', and
%% `not_supported' on a remote server without streams.
-spec begin_transaction(Db :: db()) -> ok | {error, error()}.
begin_transaction(Db) -> begin_transaction(Db, #{}).

%% @doc BEGIN a transaction yourself, to end with commit/1 or rollback/1
%% (transaction/2,3 is the managed form): `ok'. `Db' is a connection, or a
%% pool inside with_conn/2 (its connection is reset when given back, which
%% rolls back a transaction left open).
%%
%% Options: `mode' (`deferred' (default), `immediate', `exclusive' or
%% `read_only', as in transaction/3; `read_only' refuses writes until
%% commit/1 or rollback/1) and `timeout' (`infinity' or 0..4294967295 ms,
%% default the connection's `timeout'). Any other key (`checkout_timeout'
%% too), or a value out of range, is `bad_argument' with `option' naming
%% it.
%%
%% Errors: `bad_argument' (an option; `Db' a pool outside with_conn/2 or
%% transaction/2, or not a connection at all); `error' (a transaction is
%% already open), `busy' (immediate or exclusive while another connection
%% writes) and other SQLite codes; `timeout'; `closed'; `port_exited';
%% remote: `not_supported' on a server without streams (Hrana 2).
-spec begin_transaction(Db :: db(),
                        Opts :: #{mode => deferred | immediate | exclusive | read_only,
                                  timeout => timeout()}) -> ok | {error, error()}.
begin_transaction(Db, Opts) ->
    checked(begin_transaction, Opts, fun() -> libsql_tx:begin_transaction(Db, Opts) end).

%% @doc COMMIT the transaction begun with begin_transaction/1,2: `ok'. A
%% `read_only' transaction's write guard is lifted. `Db' as in
%% begin_transaction/2; the deadline is the connection's `timeout'.
%%
%% Errors: `error' (no transaction is open); `busy' (the database stayed
%% locked past `busy_timeout': the transaction stays open, retry or roll
%% back);
%% `constraint' (deferred foreign keys) and other SQLite codes;
%% `bad_argument' (`Db' a pool outside with_conn/2); `timeout'; `closed';
%% `port_exited'; remote: the remote codes.
-spec commit(Db :: db()) -> ok | {error, error()}.
commit(Db) -> libsql_tx:commit(Db).

%% @doc ROLLBACK the transaction begun with begin_transaction/1,2: `ok'.
%% `Db' as in begin_transaction/2; the deadline is the connection's
%% `timeout'.
%%
%% Errors: `error' (no transaction is open) and other SQLite codes;
%% `bad_argument' (`Db' a pool outside with_conn/2); `timeout'; `closed';
%% `port_exited'; remote: the remote codes.
-spec rollback(Db :: db()) -> ok | {error, error()}.
rollback(Db) -> libsql_tx:rollback(Db).

%% @doc SAVEPOINT Name: `ok'. Outside a transaction this begins one (ended
%% by release/2 or rollback/1). Name is an atom or text holding a plain
%% identifier (`[A-Za-z_][A-Za-z0-9_]*', at most 64 characters). `Db' as in
%% begin_transaction/2; the deadline is the connection's `timeout'.
%%
%% Errors: `bad_argument' (Name not a plain identifier; `Db' a pool
%% outside with_conn/2 or transaction/2); SQLite codes such as `busy';
%% `timeout'; `closed'; `port_exited'; remote: `not_supported' on a server
%% without streams (Hrana 2).
-spec savepoint(Db :: db(), Name :: atom() | iodata()) -> ok | {error, error()}.
savepoint(Db, Name) -> libsql_tx:savepoint(Db, savepoint, Name).

%% @doc RELEASE SAVEPOINT Name: `ok'. Its changes become part of the
%% enclosing transaction (or are committed, if the savepoint began the
%% transaction); later savepoints are released too.
%%
%% Errors: `error' (no such savepoint) and other SQLite codes;
%% `bad_argument' (Name not a plain identifier; `Db' a pool outside
%% with_conn/2 or transaction/2); `timeout'; `closed'; `port_exited';
%% remote: `not_supported' on a server without streams (Hrana 2).
-spec release(Db :: db(), Name :: atom() | iodata()) -> ok | {error, error()}.
release(Db, Name) -> libsql_tx:savepoint(Db, release, Name).

%% @doc ROLLBACK TO SAVEPOINT Name: `ok'. Undoes what was done since the
%% savepoint, which stays open (release it with release/2).
%%
%% Errors: `error' (no such savepoint) and other SQLite codes;
%% `bad_argument' (Name not a plain identifier; `Db' a pool outside
%% with_conn/2 or transaction/2); `timeout'; `closed'; `port_exited';
%% remote: `not_supported' on a server without streams (Hrana 2).
-spec rollback_to(Db :: db(), Name :: atom() | iodata()) -> ok | {error, error()}.
rollback_to(Db, Name) -> libsql_tx:savepoint(Db, rollback_to, Name).

%% ---- metadata and control --------------------------------------------------------

%% @doc Facts about the connection (on a pool: the worker that serves the
%% call): `{ok, Info}' with `last_insert_rowid', `changes' (of the last
%% statement), `total_changes' (since the open), `autocommit' (false inside
%% a transaction), `read_only', `file' (the database file's name, the URL
%% of a remote one), `journal_mode' (a binary, empty when unknown) and
%% `mode' (`local', `remote' or `replica'; a replica's `file' is its local
%% file, `changes' and `last_insert_rowid' are those of its last write on
%% the server, and `read_only' is false: it takes writes) and `encrypted'
%% (whether the file is encrypted at rest; never with what key).
%%
%% Errors: `bad_argument' (`Db' not a connection or running pool),
%% `timeout', `closed', `port_exited'.
-spec info(Db :: db()) ->
          {ok, #{last_insert_rowid := integer(), changes := integer(),
                 total_changes := integer(), autocommit := boolean(),
                 read_only := boolean(), file := binary(), journal_mode := binary(),
                 mode := local | remote | replica, encrypted := boolean()}}
        | {error, error()}.
info(Db) -> libsql_route:call(Db, info, [], #{}).

%% @doc Counters, as `{ok, #{Name => Count}}'. Of a connection (or, inside
%% with_conn/2, the pinned one): `requests', `errors', `rows', `prepares',
%% statement cache `cache_hits', `cache_misses', `cache_evictions',
%% `cache_size', `cache_capacity', `busy_waits' and `busy_wait_max_ms'
%% (statements that waited on a lock another connection held, and the
%% longest such wait in ms; 0 on a server), open `statements' and `cursors'
%% (counted by its port), `port_time_us' (the time requests spent in the
%% port as seen by the connection process) and `in_flight' (requests in
%% the port now). Of a pool: `size', `workers', `idle', `busy', `waiting',
%% `checkouts', `checkout_timeouts', `restarts'.
%%
%% Errors: `bad_argument' (`Db' not a connection or running pool),
%% `timeout', `closed' (also: the pool is not running), `port_exited'.
-spec stats(Db :: db()) -> {ok, #{atom() => non_neg_integer()}} | {error, error()}.
stats(Db) ->
    case libsql_route:target(Db) of
        {pool, Pool} -> libsql_pool:stats(Pool);
        {conn, Conn} ->
            case libsql_route:call_conn(Conn, stats, [], #{}) of
                {ok, Port} ->
                    case libsql_conn:stats(Conn) of
                        {ok, Own} -> {ok, maps:merge(Port, Own)};
                        {error, _} = E -> E
                    end;
                {error, _} = E -> E
            end;
        {error, _} = E -> E
    end.

%% @doc Set how long a statement waits for a lock held by another
%% connection before `busy', 0..2147483647 ms (the `busy_timeout' open
%% option): `ok'. On a pool this reaches only the worker that serves the
%% call: give the pool `busy_timeout' instead.
%%
%% Errors: `bad_argument' (Ms out of range; `Db' not a connection or
%% running pool), `timeout', `closed', `port_exited'; remote:
%% `not_supported' (the server's own setting applies).
-spec set_busy_timeout(Db :: db(), Ms :: 0..2147483647) -> ok | {error, error()}.
set_busy_timeout(Db, Ms) when is_integer(Ms), Ms >= 0, Ms =< 16#7fffffff ->
    ok_or_error(libsql_route:call(Db, set_busy_timeout, [Ms], #{}));
set_busy_timeout(_Db, _Ms) ->
    {error, libsql_proto:err(bad_argument, <<"busy timeout must be 0..2147483647 ms">>)}.

%% @doc Stop the statement running on a connection now, from any process:
%% `ok', also when nothing runs (a later statement is never affected). That
%% statement's caller gets `{error, #{code := interrupted}}' (or `busy' if
%% it was waiting for a lock); the connection stays usable. A pool is
%% accepted only inside with_conn/2 or transaction/2, as the pinned
%% connection.
%%
%% Errors: `bad_argument' (`Db' a pool outside with_conn/2, or not a
%% connection), `timeout', `closed', `port_exited'.
-spec interrupt(Db :: db()) -> ok | {error, error()}.
interrupt(Conn) ->
    case libsql_route:session_conn(Conn) of
        {ok, C} -> ok_or_error(libsql_route:call_conn(C, interrupt, [], #{}));
        {error, _} = E -> E
    end.

%% @doc Return a connection to a clean state: `ok' once its cursors are
%% closed, its prepared statements finalized (using them afterwards is
%% `bad_argument'), an open transaction rolled back and a `read_only'
%% transaction's write guard lifted. Settings such as PRAGMAs stay. A pool
%% is accepted only inside with_conn/2 or transaction/2, as the pinned
%% connection.
%%
%% Errors: `bad_argument' (`Db' a pool outside with_conn/2, or not a
%% connection), `timeout' (the connection's `timeout'), `closed',
%% `port_exited'.
-spec reset(Db :: db()) -> ok | {error, error()}.
reset(Conn) ->
    case libsql_route:session_conn(Conn) of
        {ok, C} -> ok_or_error(libsql_conn:request(C, reset, [], default, reset));
        {error, _} = E -> E
    end.

%% @doc Read a runtime limit of SQLite (sqlite3_limit): `{ok, Value}'.
%% On a pool, the limit of the worker that serves the call.
%%
%% Errors: `bad_argument' (an unknown name; `Db' not a connection or
%% running pool), `timeout', `closed', `port_exited'; remote:
%% `not_supported'.
-spec limit(Db :: db(), Name :: limit_name()) -> {ok, integer()} | {error, error()}.
limit(Db, Name) -> limit(Db, Name, -1).

%% @doc Set a runtime limit of SQLite to Value (0..2147483647; -1 only
%% reads it): `{ok, Previous}'. SQLite lowers a value above its
%% compile-time maximum to that maximum. On a pool this reaches only the
%% worker that serves the call.
%%
%% Errors: `bad_argument' (an unknown name; Value out of range; `Db' not a
%% connection or running pool), `timeout', `closed', `port_exited';
%% remote: `not_supported'.
-spec limit(Db :: db(), Name :: limit_name(), Value :: -1..2147483647) ->
          {ok, integer()} | {error, error()}.
limit(Db, Name, Value) when is_atom(Name), is_integer(Value) ->
    libsql_route:call(Db, limit, [Name, Value], #{});
limit(_Db, _Name, _Value) ->
    {error, libsql_proto:err(bad_argument, <<"limit takes an atom and an integer">>)}.

%% @doc As backup/3 with Opts = #{}: `ok' or `{error, Error}'. Errors as
%% backup/3: `bad_argument', `cantopen', `busy', `interrupted' and other
%% SQLite codes, `timeout', `closed', `port_exited', and `not_supported'
%% on a remote server.
-spec backup(Db :: db(), DestPath :: file:name_all()) -> ok | {error, error()}.
backup(Db, Dest) -> backup(Db, Dest, #{}).

%% @doc Copy the main database to DestPath (created, or overwritten) with
%% SQLite's online backup API: `ok'. It copies a few pages at a time, so
%% other connections to the database can read and write meanwhile; calls on
%% this connection wait until the copy is done. A lock held by another
%% connection is waited for up to the `busy_timeout'; interrupt/1 stops it.
%%
%% The copy of an encrypted database is encrypted under the same key,
%% never plaintext; with `encryption_key' (rules as open/1's) it is
%% encrypted under that key instead, also the copy of a plain database.
%% An existing destination must then be one that key opens.
%%
%% Options: `timeout' (`infinity' or 0..4294967295 ms, default the
%% connection's `timeout'), `encryption_key' and, on a pool,
%% `checkout_timeout' (the same range, default the pool's). Any other key,
%% or a value out of range, is `bad_argument' with `option' naming it.
%%
%% Errors: `bad_argument' (an option; DestPath not a file name),
%% `cantopen' (the destination), `busy', `interrupted' and other SQLite
%% codes, `timeout', `closed', `port_exited'; remote: `not_supported'.
-spec backup(Db :: db(), DestPath :: file:name_all(),
             Opts :: #{timeout => timeout(), checkout_timeout => timeout(),
                       encryption_key => iodata()}) ->
          ok | {error, error()}.
backup(_Db, _Dest, #{encryption_key := null}) ->
    {error, libsql_proto:err(bad_argument, <<"a backup's encryption_key cannot be null: a copy "
                                             "is encrypted when its database is (rekey(Db, "
                                             "null) decrypts a database)">>,
                             #{option => encryption_key})};
backup(Db, Dest, Opts) ->
    checked(backup, Opts, fun() ->
        case {libsql_opts:path(Dest), maps:find(encryption_key, Opts)} of
            {{ok, D}, error} ->
                ok_or_error(libsql_route:call(Db, backup, [D, same], Opts));
            {{ok, D}, {ok, K}} ->
                {ok, F} = libsql_opts:new_key(K),
                CallOpts = maps:remove(encryption_key, Opts),
                libsql_route:with_db(Db, CallOpts, fun(Conn) ->
                    ok_or_error(libsql_conn:request_secret(
                                  Conn, backup, fun() -> [D, F()] end,
                                  maps:get(timeout, CallOpts, default)))
                end);
            {{error, _} = E, _} -> E
        end
    end).

%% @doc Change the key of the database file: re-encrypt it under NewKey,
%% encrypt a plain database (the connection is then an encrypted one), or
%% decrypt it (`NewKey = null'). `ok'.
%%
%% The file is rewritten in place, page by page, behind a rollback
%% journal of the originals written and synced first: a crash at any
%% moment leaves a file that opens with the old key or with the new one
%% (the old one plays the journal back). It runs outside a transaction,
%% with no prepared statement or cursor open on the connection; a
%% database in WAL mode is checkpointed into the file and leaves WAL mode
%% for the time of the rekey (so no other connection may have it open),
%% and is back in WAL mode after it, also after a crash once the rekey's
%% journal is written; a crash before that leaves it with the old key, in
%% rollback-journal mode.
%% Other connections to the file (in this VM or others) must be reopened
%% with the new key. Encrypting a plain database opens the connection
%% anew: settings made with PRAGMA are those of a new connection after it.
%%
%% NewKey follows the rules of the `encryption_key' open option. Errors:
%% `bad_argument' (NewKey; a memory database), `misuse' (inside a
%% transaction, statements or cursors open), `busy' (other connections
%% hold the file), `readonly', `wrong_key' (the file was not under the
%% connection's key), `ioerr', `not_supported' (a pool: rekey through one
%% connection, with the pool stopped; a remote or replica connection),
%% `timeout', `closed', `port_exited'.
-spec rekey(Db :: db(), NewKey :: iodata() | null) -> ok | {error, error()}.
rekey(Db, NewKey) ->
    %% A pool's name is refused also inside with_conn/2 (pinned to one of
    %% its connections): the others would keep the old key.
    Target = case libsql_pool:lookup(Db) of
                 {ok, Pool} -> {pool, Pool};
                 error -> libsql_route:target(Db)
             end,
    case {libsql_opts:new_key(NewKey), Target} of
        {{error, _} = E, _} ->
            E;
        {_, {pool, _}} ->
            {error, libsql_proto:err(not_supported, <<"rekey a pool's database through one "
                                                      "connection, with the pool stopped: its "
                                                      "other connections hold the old key">>)};
        {{ok, F}, {conn, Conn}} ->
            Args = case F of
                       null -> fun() -> [null] end;
                       _ -> fun() -> [F()] end
                   end,
            ok_or_error(libsql_conn:request_secret(Conn, rekey, Args, default));
        {_, {error, _} = E} ->
            E
    end.

ok_or_error({ok, ok}) -> ok;
ok_or_error({error, _} = E) -> E.

%% ---- Erlang SQL functions ---------------------------------------------------------

-type function_opts() :: #{deterministic => boolean(), timeout => timeout()}.
%% Options of create_function/5 and create_aggregate/5: `deterministic'
%% (default false) tells SQLite that the function always gives the same
%% result for the same arguments, which lets it be used in indexes, CHECK
%% constraints and generated columns, and be evaluated once per statement
%% where SQLite can; `timeout': of the definition itself.

%% @doc Define an Erlang SQL function: as create_function/5 with Opts =
%% #{} (not deterministic).
-spec create_function(Db :: db(), Name :: atom() | unicode:chardata(), Arity :: -1..127,
                      Fun :: function()) -> ok | {error, error()}.
create_function(Db, Name, Arity, Fun) ->
    create_function(Db, Name, Arity, Fun, #{}).

%% @doc Define the SQL function Name, of Arity arguments (-1: any number),
%% whose body is Fun: `ok'.
%%
%% Fun runs in the process that made the request whose statement calls
%% the function (on a pool: the caller that checked out the connection),
%% once per call, with the arguments as a query returns values
%% (`Fun(A1, ..., AN)'; a variadic function gets one list). It returns a
%% value as a query binds one (null, an integer, a float, a binary as text,
%% `{blob, B}', `{text, IoData}', `true'/`false'), or `{error, Reason}' to
%% fail the statement with `Reason' (iodata or any term) as the message.
%% A fun that raises, or returns anything else, fails the statement with
%% an `error' whose message names the function and the reason; the
%% connection stays usable. A fun that runs past the call's deadline gets
%% the statement cancelled (`timeout', naming the function). A fun that
%% calls the database on the same connection gets `misuse' (the statement
%% waits for the fun: it would wait for itself); other connections, and
%% other workers of the same pool, are fine. One wait the library cannot
%% see: a fold/5,6 keeps its next fetch in flight while its fun runs; if
%% that fun calls the fold's own connection and the fold's statement calls
%% Erlang functions, the two wait for each other until the call's
%% deadline.
%%
%% A function replaces the one of the same name (ASCII case-insensitive)
%% and arity, SQLite's built-ins included. On a pool every worker gets it,
%% also workers that start later (after a crash). On an embedded replica
%% it runs in reads, which run on the local file; writes go to the server,
%% which has no such function. A remote connection cannot run Erlang code
%% in the server's SQL: `not_supported'.
%%
%% Errors: `bad_argument' (Name, Arity, a fun of the wrong arity, Opts),
%% `busy' (replacing a function that a running statement uses),
%% `not_supported', `timeout', `closed'.
-spec create_function(Db :: db(), Name :: atom() | unicode:chardata(), Arity :: -1..127,
                      Fun :: function(), Opts :: function_opts()) -> ok | {error, error()}.
create_function(Db, Name, Arity, Fun, Opts) ->
    libsql_functions:create(Db, Name, Arity, scalar, {Fun, Opts}).

%% @doc Define an aggregate SQL function in Erlang: as create_aggregate/5
%% with Opts = #{}.
-spec create_aggregate(Db :: db(), Name :: atom() | unicode:chardata(), Arity :: -1..127,
                       {Init :: term(), Step :: function(), Final :: function()}) ->
          ok | {error, error()}.
create_aggregate(Db, Name, Arity, Funs) ->
    create_aggregate(Db, Name, Arity, Funs, #{}).

%% @doc Define the aggregate SQL function Name of Arity arguments (-1: any
%% number), as `count' or `sum' are: `ok'.
%%
%% For each group of rows the accumulator starts as Init; each row calls
%% `Step(A1, ..., AN, Acc)' (a variadic one `Step(Args, Acc)'), which
%% returns the next accumulator, and the group's result is `Final(Acc)', a
%% value as for create_function/5 (or `{error, Reason}'). A group with no
%% rows (an aggregate over an empty table) gives `Final(Init)'.
%%
%% The funs run in the caller, as create_function/5's. The accumulators
%% live there for the time of the request; the steps of many rows travel
%% in one message, so an aggregate over many rows costs few round trips to
%% the port. A step that raises fails the statement (at the latest when the
%% group ends) with a message naming the function and the reason. SQLite
%% finalizes every group it started, also when the statement fails later:
%% Final may then run for a result nobody reads. It is not a window
%% function (`OVER (...)' is SQLite's error).
%% Everything else (replacing, pools, replicas, remote connections,
%% errors) is as for create_function/5.
-spec create_aggregate(Db :: db(), Name :: atom() | unicode:chardata(), Arity :: -1..127,
                       {Init :: term(), Step :: function(), Final :: function()},
                       Opts :: function_opts()) -> ok | {error, error()}.
create_aggregate(Db, Name, Arity, Funs, Opts) ->
    libsql_functions:create(Db, Name, Arity, aggregate, {Funs, Opts}).

%% @doc Remove the SQL function Name of Arity defined with
%% create_function/4,5 or create_aggregate/4,5 (on a pool: from every
%% worker and from those that start later): `ok', also when there was
%% none. A built-in function it had replaced does not come back.
%%
%% Errors: `bad_argument', `busy' (a running statement uses it),
%% `not_supported', `closed'.
-spec delete_function(Db :: db(), Name :: atom() | unicode:chardata(), Arity :: -1..127) ->
          ok | {error, error()}.
delete_function(Db, Name, Arity) ->
    libsql_functions:delete(Db, Name, Arity).

%% ---- the authorizer ----------------------------------------------------------------

-type auth_action() :: create_index | create_table | create_temp_index | create_temp_table
                     | create_temp_trigger | create_temp_view | create_trigger | create_view
                     | delete | drop_index | drop_table | drop_temp_index | drop_temp_table
                     | drop_temp_trigger | drop_temp_view | drop_trigger | drop_view | insert
                     | pragma | read | select | transaction | update | attach | detach
                     | alter_table | reindex | analyze | create_vtable | drop_vtable | function
                     | savepoint | recursive.
%% What SQLite asks its authorizer about, as SQLite names it.
-type auth_rule() :: {deny | ignore, auth_action() | '_', Object :: iodata() | atom(),
                      Detail :: iodata() | atom()}.
%% A rule of set_authorizer/2,3; `'_'' matches anything.

%% @doc Decide which statements Db may compile, by rules alone: as
%% set_authorizer/3 with Fun = undefined.
-spec set_authorizer(Db :: db(), Rules :: [auth_rule()]) -> ok | {error, error()}.
set_authorizer(Db, Rules) ->
    set_authorizer(Db, Rules, undefined).

%% @doc Decide which statements Db may compile, by Rules: `ok'. An empty
%% list with no fun lets everything through again.
%%
%% SQLite asks the authorizer about every table and column a statement
%% reads or writes, every pragma, function, attach and schema change, once,
%% when the statement is compiled (a cached statement is compiled again
%% when the rules change). Each rule `{Verdict, Action, Object, Detail}'
%% is checked in order, in the port, with no round trip to Erlang; the
%% first whose Action (or `'_'') is the action asked about and whose
%% Object and Detail (names, ASCII case-insensitive, or `'_'') match its
%% arguments decides:
%% <ul>
%% <li>`deny': the statement fails with `{error, #{code := auth}}', whose
%% message names the rule, the action and the object;</li>
%% <li>`ignore': as SQLite defines it: a column read is NULL, a column
%% update leaves it unchanged, an INSERT or a schema change does nothing,
%% a DELETE deletes.</li>
%% </ul>
%% What Object and Detail are for each action: `read', `update': the table
%% and the column; `insert', `delete', `analyze': the table; the create and
%% drop actions: the object created or dropped, and for an index or trigger
%% its table; `pragma': the pragma and its argument; `function': the
%% function; `attach': the file; `detach': the database; `alter_table': the
%% table and its database; `transaction': BEGIN, COMMIT or ROLLBACK;
%% `savepoint': the savepoint and BEGIN, RELEASE or ROLLBACK. A rule with a
%% Detail other than `'_'' does not match an action without one.
%% SQLite also authorizes deleting from `sqlite_master' when a statement
%% drops a table, index or trigger: a rule denying `delete' of `'_''
%% denies those too.
%%
%% When no rule decides and Fun is a fun of arity 4, `Fun(Action, Object,
%% Detail, DbName)' (names as binaries, `undefined' where there is none)
%% decides: `ok' allows, `ignore' ignores, anything else (also a raise)
%% denies. It runs in the process whose call compiles the statement, as an
%% Erlang SQL function does (see create_function/5).
%%
%% On a pool every worker gets the rules, also workers that start later.
%% Embedded replicas send their writes to the server, where no authorizer
%% of ours applies, and remote connections compile nothing here: both are
%% `not_supported'.
%%
%% Errors: `bad_argument' (a rule, named by its position; Fun),
%% `not_supported', `timeout', `closed'.
-spec set_authorizer(Db :: db(), Rules :: [auth_rule()],
                     Fun :: fun((auth_action(), binary() | undefined, binary() | undefined,
                                 binary() | undefined) -> ok | deny | ignore) | undefined) ->
          ok | {error, error()}.
set_authorizer(Db, Rules, Fun) ->
    libsql_functions:authorizer(Db, Rules, Fun).

%% ---- extensions and snapshots -------------------------------------------------------

%% @doc As load_extension/3 with SQLite's default entry point.
-spec load_extension(Db :: db(), Path :: file:name_all()) -> ok | {error, error()}.
load_extension(Db, Path) ->
    load_extension(Db, Path, undefined).

%% @doc Load the SQLite extension in file Path, calling its entry point
%% EntryPoint (`undefined': SQLite's default, `sqlite3_extension_init' or
%% the one named after the file): `ok'.
%%
%% Only files the connection was opened to allow load: the `extensions'
%% option of open/1 and start_pool/2 lists them, and nothing widens the
%% list later. A path loads when its real path (symbolic links and `..'
%% resolved at the time of the call) is that of a listed file. SQL's own
%% load_extension() stays off. On a pool every worker loads it, workers
%% that start later too; an encrypted database's connection opened again
%% by rekey/2 loads it again.
%%
%% Errors: `bad_argument' (a path not in the list, or no list; EntryPoint),
%% `cantopen' (a listed file that is not there), `error' (SQLite's message:
%% not a library, no such entry point, or the entry point failed),
%% `not_supported' (a remote connection), `closed'.
-spec load_extension(Db :: db(), Path :: file:name_all(),
                     EntryPoint :: unicode:chardata() | atom() | undefined) ->
          ok | {error, error()}.
load_extension(Db, Path, EntryPoint) ->
    libsql_functions:load_extension(Db, Path, EntryPoint).

%% @doc The main database of Db as one binary, the bytes of an SQLite
%% file (sqlite3_serialize): `{ok, Binary}'. A file's current contents,
%% inside a transaction as the transaction sees them; an encrypted file's
%% pages come decrypted (it is the database, not the file). On a pool, any
%% one worker's view. deserialize/2, or writing the bytes to a file, makes
%% a database of it.
%%
%% Errors: `toobig' (over the connection's `max_result_bytes'), `nomem',
%% `not_supported' (a remote connection), `closed'.
-spec serialize(Db :: db()) -> {ok, binary()} | {error, error()}.
serialize(Db) ->
    libsql_route:call(Db, serialize, [], #{}).

%% @doc Replace the main database of connection Conn by an in-memory copy
%% of Image, a serialize/1 result or the bytes of an SQLite file
%% (sqlite3_deserialize): `ok'. The connection's file, if it had one, is
%% left as it was and no longer used by Conn; writes go to the copy, and
%% are lost when Conn closes unless serialized again. Meant for
%% connections opened on ":memory:".
%%
%% Errors: `bad_argument' (Image is not an SQLite database image: its
%% header, page size or length), `misuse' (inside a transaction, with
%% prepared statements or cursors open, on an encrypted connection),
%% `not_supported' (a pool: its workers would differ; an embedded replica,
%% whose file its syncs write; a remote connection), `closed'.
-spec deserialize(Conn :: db(), Image :: binary()) -> ok | {error, error()}.
deserialize(Db, Image) when is_binary(Image) ->
    case libsql_pool:lookup(Db) of
        {ok, _} ->
            {error, libsql_proto:err(not_supported,
                                     <<"deserialize into one connection: a pool's workers "
                                       "would no longer hold the same database">>)};
        error ->
            case libsql_route:call(Db, deserialize, [Image], #{}) of
                {ok, ok} -> ok;
                {error, _} = E -> E
            end
    end;
deserialize(_Db, _) ->
    {error, libsql_proto:err(bad_argument, <<"the image must be a binary">>)}.

%% ---- embedded replicas ----------------------------------------------------------

%% @doc As sync/2 with Opts = #{}: `{ok, Info}' (what the sync did) or
%% `{error, Error}' with the codes of sync/2.
-spec sync(Db :: db()) -> {ok, sync_info()} | {error, error()}.
sync(Db) -> sync(Db, #{}).

%% @doc Bring an embedded replica (opened with both `path' and `url') up to
%% the server's latest state: pull what changed since the revision the
%% file holds, prove the server's history is still the one the file came
%% from, and apply it under the file's lock (readers in other processes
%% wait at most that long). `{ok, Info}' with `revision_before' (`none'
%% when the file was just made), `revision' (the server revision the file
%% holds now), `pages' written, `bytes' received, `ms' taken, `locked_us'
%% (how long the file was under its exclusive lock: the longest any reader
%% waited for this sync; 0 when nothing was applied), and `bootstrapped'
%% (true when the whole database was pulled again: the file was new, or
%% the server's history was reset, e.g. by VACUUM).
%%
%% On a pool any one worker syncs; the file is shared, so every worker
%% reads the result.
%%
%% Options: `timeout' and, on a pool, `checkout_timeout' (as
%% execute/4). The HTTP exchange itself is bounded by the open option
%% `sync_timeout'.
%%
%% Errors: `not_supported' (not a replica, or a frozen one), `network',
%% `timeout', `tls', `auth', `http', `protocol' (a response that fails the
%% checks: nothing was applied), `busy' (readers held the file longer than
%% `busy_timeout'), `ioerr', `closed', `port_exited'.
-spec sync(Db :: db(), Opts :: call_opts()) -> {ok, sync_info()} | {error, error()}.
sync(Db, Opts) ->
    checked(sync, Opts, fun() -> libsql_route:call(Db, sync, [], Opts) end).

%% @doc As sync/2, repeated until the file holds at least `Revision' (a
%% value from replication_index/1, maybe another replica's) or the open
%% option `sync_timeout' passed: `{ok, Info}' as sync/2.
%%
%% Errors: those of sync/2; `timeout' when the server did not reach
%% `Revision' in time (the open option `sync_timeout', or the call's
%% `timeout' if shorter: see sync_until/3); `bad_argument' (`Revision' not
%% a non-negative integer).
-spec sync_until(Db :: db(), Revision :: non_neg_integer()) ->
          {ok, sync_info()} | {error, error()}.
sync_until(Db, Rev) -> sync_until(Db, Rev, #{}).

%% @doc As sync_until/2, with the call options of sync/2: `timeout' (the
%% whole wait; default the connection's, so give one above `sync_timeout'
%% to let the port wait that long) and, on a pool, `checkout_timeout'.
-spec sync_until(Db :: db(), Revision :: non_neg_integer(), Opts :: call_opts()) ->
          {ok, sync_info()} | {error, error()}.
sync_until(Db, Rev, Opts) when is_integer(Rev), Rev >= 0, Rev =< 16#7fffffffffffffff ->
    checked(sync, Opts, fun() -> libsql_route:call(Db, sync_until, [Rev], Opts) end);
sync_until(_Db, _Rev, _Opts) ->
    {error, libsql_proto:err(bad_argument, <<"the revision must be a non-negative integer">>)}.

%% @doc The server revision an embedded replica's file holds: `{ok, Rev}'.
%%
%% The server (tursodb) numbers its history by WAL frames: every page a
%% commit writes is one frame, so a commit that writes k pages moves the
%% revision by k, and the number is a position in the server's history,
%% not a count of transactions. This is what libSQL's clients call the
%% replication index (there, a frame number too). A revision taken from
%% one replica can be given to sync_until/2 of another. A server whose WAL
%% restarts (after VACUUM or a checkpoint) starts again from 0; the
%% replica notices and re-bootstraps, so revisions from before such a
%% reset mean nothing afterwards.
%%
%% Errors: `not_supported' (not a replica, or a frozen one), `corrupt'
%% (the replica's state file is gone), `closed', `port_exited'.
-spec replication_index(Db :: db()) -> {ok, non_neg_integer()} | {error, error()}.
replication_index(Db) -> libsql_route:call(Db, replication_index, [], #{}).

%% @doc Turn an embedded replica into a plain local database, for good:
%% the file is marked frozen (its state file says so), the connection's
%% read-only guard is lifted, writes run on the file from now on and it
%% never syncs again. `ok' (also when it was frozen already). Opening the
%% file again takes `path' alone; with `url' it is `bad_argument'.
%%
%% On a pool, only the worker that runs it changes: stop the pool and
%% start it with `path' alone.
%%
%% Errors: `not_supported' (not a replica), `misuse' (inside a
%% transaction), `busy', `ioerr', `closed', `port_exited'.
-spec freeze(Db :: db()) -> ok | {error, error()}.
freeze(Db) -> ok_or_error(libsql_route:call(Db, freeze, [], #{})).

%% @doc Subscribe the calling process to events of Db: `{ok, Ref}'. Ref
%% tags every message and ends the subscription (unsubscribe/1); the
%% subscriber's exit, or the connection's (the pool's), ends it too.
%%
%% <ul>
%% <li>`updates': every row a committed transaction inserted, updated or
%% deleted, as `{libsql_update, Ref, insert | update | delete, DbName,
%% Table, RowId}' (DbName `<<"main">>', `<<"temp">>' or an attached
%% database's name). The changes of a transaction are held back until it
%% commits and then come in the order they were made, all before the reply
%% of the call that committed (for a statement outside a transaction: its
%% own reply). A transaction that rolls back sends nothing, nor do the
%% changes a ROLLBACK TO undoes. They travel in batches, not one message
%% per row to the connection process. What SQLite's update hook does not
%% report is not reported: tables WITHOUT ROWID, rows a REPLACE conflict
%% resolution deletes, changes to internal tables. A DELETE without WHERE
%% visits every row (SQLite's truncate optimization is off while there are
%% subscribers) so each row is reported. One transaction's changes are
%% held up to 64 MiB (about two million rows); past that they are counted
%% but not sent, and the commit message says how many (`dropped').</li>
%% <li>`commits': `{libsql_commit, Ref, #{changes := N, dropped := D}}'
%% after each transaction that committed (N: the rows it changed, as
%% `updates' counts them; D: how many `updates' left out), and
%% `{libsql_rollback, Ref, #{}}' after each that rolled back; the same
%% subscriber's `updates' of a transaction come before its commit.</li>
%% <li>`sync' (embedded replicas): `{libsql_sync, Ref, Info}' (Info as
%% sync/2's) after every sync that applied something, whatever started
%% it: sync/1,2, sync_until/2, a read after a write (`read_your_writes'),
%% or the background sync (`sync_interval'). Background sync failures are
%% not messages: they are logged (a warning once per outage, a notice when
%% it works again).</li>
%% </ul>
%%
%% On a pool every worker sends them (one Ref), workers started later too;
%% each worker's events are in order, those of different workers are not
%% ordered with each other. `updates' and `commits' are for local
%% databases: an embedded replica's file changes by syncs (`sync'), a
%% remote connection's SQL runs on the server.
%%
%% Errors: `not_supported' (the event does not exist on this kind of
%% connection), `bad_argument' (an unknown event, or `Db' not a connection
%% or running pool), `closed'.
-spec subscribe(Db :: db(), Event :: updates | commits | sync) ->
          {ok, reference()} | {error, error()}.
subscribe(Db, Event) when Event =:= sync; Event =:= updates; Event =:= commits ->
    case libsql_route:target(Db) of
        {conn, Conn} -> conn_call(Conn, {subscribe, Event, self()});
        {pool, Pool} ->
            Replica = maps:get(replica, libsql_pool:config(Pool), false),
            case {Event, Replica} of
                {sync, true} -> conn_call(Pool, {subscribe, sync, self()});
                {sync, false} ->
                    {error, libsql_proto:err(not_supported,
                                             <<"only an embedded replica syncs; this pool's "
                                               "workers are not replicas">>)};
                {_, false} ->
                    case maps:get(remote, libsql_pool:config(Pool), false) of
                        false -> conn_call(Pool, {subscribe, Event, self()});
                        true -> {error, libsql_proto:err(
                                          not_supported, <<"a remote connection's SQL runs on "
                                                           "the server: its changes cannot be "
                                                           "seen here">>)}
                    end;
                {_, true} ->
                    {error, libsql_proto:err(not_supported,
                                             <<"an embedded replica's file changes by syncs, "
                                               "not by its own SQL (subscribe to sync)">>)}
            end;
        {error, _} = E -> E
    end;
subscribe(_Db, Event) ->
    {error, libsql_proto:err(bad_argument,
                             io_lib:format("unknown event ~0tP (updates, commits and sync are "
                                           "the events)", [Event, 5]))}.

%% @doc End a subscription of subscribe/2: `ok', also when it had ended.
-spec unsubscribe(Ref :: reference()) -> ok.
unsubscribe(Ref) ->
    case libsql_subs:lookup(Ref) of
        {ok, Conn} -> _ = conn_call(Conn, {unsubscribe, Ref}), ok;
        error -> ok
    end.

conn_call(Conn, Request) ->
    try gen_server:call(Conn, Request)
    catch
        exit:_ -> {error, libsql_proto:err(closed, <<"the connection is closed">>)}
    end.

%% ---- the shell ----------------------------------------------------------------

%% @doc As print/3 with Params = []: `ok', or `{error, Error}' (printed
%% too), with the codes of query/4.
-spec print(Db :: db(), Sql :: sql()) -> ok | {error, error()}.
print(Db, Sql) -> print(Db, Sql, []).

%% @doc Run a query (as query/3) and print its result as an aligned table,
%% for the shell: `ok'. An error is printed with format_error/1 and
%% returned as `{error, Error}', with the codes of query/4.
-spec print(Db :: db(), Sql :: sql(), Params :: params()) -> ok | {error, error()}.
print(Db, Sql, Params) ->
    case query(Db, Sql, Params) of
        {ok, Columns, Rows} -> io:put_chars(libsql_table:format(Columns, Rows));
        {error, _} = E -> io:format("~ts~n", [format_error(E)]), E
    end.

%% ---- errors ------------------------------------------------------------------

%% @doc A readable sentence, as a binary, for any error this library
%% returns, given as `{error, Error}' or `Error': what the code means, the
%% message, the SQLite extended code and the SQL (cut at 200 bytes) when
%% known. Any other term gives a sentence saying it is unknown; this never
%% fails.
-spec format_error(error() | {error, error()} | term()) -> binary().
format_error({error, E}) -> format_error(E);
format_error(#{code := Code} = E) ->
    Parts = [headline(libsql_error:describe(Code), maps:get(message, E, <<>>)),
             case E of
                 #{extended_code := X} -> io_lib:format(" (~s, code ~b)",
                                                        [libsql_error:extended_name(X), X]);
                 _ -> []
             end,
             case E of
                 #{sql := Sql} -> [" in SQL: ", truncate(Sql, 200)];
                 _ -> []
             end],
    unicode:characters_to_binary(Parts);
format_error(Other) ->
    unicode:characters_to_binary(io_lib:format("unknown libsql error: ~0tP", [Other, 10])).

%% The code's phrase and the message, without saying the same thing twice
%% ("the connection is closed: the connection is closed").
headline(Phrase, Msg) when not is_binary(Msg); Msg =:= <<>> -> Phrase;
headline(Phrase, Msg) ->
    case string:prefix(string:casefold(Msg), string:casefold(Phrase)) of
        nomatch -> [Phrase, ": ", Msg];
        _ -> Msg
    end.

truncate(Bin, Max) when byte_size(Bin) =< Max -> Bin;
truncate(Bin, Max) -> [binary:part(Bin, 0, Max), "..."].

%% ---- internals -------------------------------------------------------------

%% Run Body() if Opts are good options of API function Fun; nothing is
%% sent and no timer armed otherwise.
checked(Fun, Opts, Body) ->
    case libsql_opts:call(Fun, Opts) of
        ok -> Body();
        {error, _} = E -> E
    end.
