%% Public records of libsql handles. Read their fields freely (in the
%% shell, `Stmt#libsql_stmt.columns'); create them only through the API.

%% A prepared statement (libsql:prepare/2). Valid until libsql:finalize/1
%% or until its connection closes.
-record(libsql_stmt, {
    conn :: pid() | atom(),              % its connection (or pool, then id is undefined)
    id :: integer() | undefined,         % the port's handle id
    sql :: binary(),                     % the SQL text
    columns :: [binary()],               % result column names
    decltypes :: [binary() | null],      % declared column types
    param_count :: non_neg_integer(),    % number of parameters
    param_names :: [binary() | null],    % ":a"-style names; null for "?"
    readonly :: boolean()                % true if it cannot write
}).

%% An open cursor (libsql:cursor_open/3,4). Closed by libsql:cursor_close/1,
%% when its owner process exits, or when its connection is reset/closed.
-record(libsql_cursor, {
    conn :: pid(),                       % the connection it belongs to
    id :: integer(),                     % the port's handle id
    columns :: [binary()],               % result column names
    timeout :: timeout() | default,      % deadline of each fetch
    pool :: atom() | pid() | undefined   % pool it was checked out of, if any
}).
