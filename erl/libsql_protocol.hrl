%% Constants shared with the port program. Every value here has a twin in
%% port/protocol.h: the two files MUST match. See port/PROTOCOL.md.

-define(LSQ_DEFAULT_MAX_FRAME, 268435456).
-define(LSQ_REF_MAX, 16#7fffffff).

%% Exit codes of priv/libsql_port.
-define(LSQ_EXIT_OK, 0).
-define(LSQ_EXIT_READ, 2).
-define(LSQ_EXIT_WRITE, 3).
-define(LSQ_EXIT_NOMEM, 4).
-define(LSQ_EXIT_USAGE, 5).
-define(LSQ_EXIT_THREAD, 6).

%% Every reply frame starts with these bytes, then the ref as 32 bits:
%% {Ref, Tag, Result} with Ref as INTEGER_EXT.
-define(LSQ_REPLY_HEAD, 131, 104, 3, 98).
