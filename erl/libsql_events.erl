%% @doc Query events, for metrics and tracing, and the slow-query log.
%%
%% Every call of {@link libsql:query/4}, {@link libsql:execute/4},
%% {@link libsql:batch/3}, {@link libsql:execute_many/4} and
%% {@link libsql:execute_script/3} (any arity, prepared statements too, and
%% so the {@link libsql_pragma} functions) emits, in the calling process:
%%
%% <ul>
%% <li>`[libsql, query, start]' with `#{system_time}'</li>
%% <li>`[libsql, query, stop]' with `#{duration}' (native units) and
%%     metadata `result => ok | error' and, on error, `code'</li>
%% <li>`[libsql, query, exception]' with `#{duration}' and metadata
%%     `kind', `reason' if the call raised</li>
%% </ul>
%%
%% Cursors and fold, prepare, and the BEGIN and COMMIT of
%% libsql:transaction/2,3 emit nothing. Nor does a call refused before
%% anything is sent: for a bad option, bad SQL text, or bad parameters
%% given with SQL text (those of a prepared statement are checked inside
%% the span).
%%
%% Metadata always holds `db' (what the caller passed), `command' (`query',
%% `execute', `batch', `execute_many' or `execute_script') and `sql' (the
%% statement text; `undefined' for a batch; parameters are never included:
%% they may hold secrets). Handlers are registered with add_handler/3 and
%% called as `Fun(Event, Measurements, Metadata, Config)' in the calling
%% process, so a slow handler slows the call; a handler that raises is
%% removed and logged. If the `telemetry' module is loaded, the same events
%% also go through `telemetry:execute/3'.
%%
%% A statement that takes at least `slow_query_ms' is logged with
%% `logger:warning' in the `[libsql]' domain (`what => libsql_slow_query',
%% with `db', `command', `sql' cut at 1000 bytes, `duration_ms' and
%% `result'). The threshold is the pool's `slow_query_ms' option when `db'
%% is a pool's name or pid (not the connection a libsql:transaction/2 or
%% libsql:with_conn/2 fun gets), else the libsql application environment
%% key `slow_query_ms'; without either nothing is logged. The application
%% environment's value is read when the application starts, whenever a
%% pool starts or stops, and by reload/0: after
%% `application:set_env(libsql, slow_query_ms, Ms)' at run time, call
%% reload/0.
%%
%% What this costs: with no handler, no `telemetry' module loaded and no
%% threshold (neither a running pool's `slow_query_ms' nor the
%% application's), a statement reads one `persistent_term' and checks
%% whether `telemetry' is loaded, nothing more.
-module(libsql_events).

-export([add_handler/3, remove_handler/1, handlers/0, span/4, reload/0]).

-define(KEY, {?MODULE, handlers}).
%% Whether any statement needs watching: `true' when a handler is
%% registered, the application sets `slow_query_ms' or a running pool has
%% its own; else absent (read as `false'). An atom, so that changing it
%% starts no global garbage collection.
-define(WATCH, {?MODULE, watch}).
%% The application environment's slow_query_ms as last read (reload/0):
%% an integer or `infinity'.
-define(APP_SLOW, {?MODULE, app_slow}).

-type event() :: [atom()].
%% `[libsql, query, start | stop | exception]'.
-type handler() :: fun((event(), map(), map(), term()) -> term()).
%% `fun(Event, Measurements, Metadata, Config)'; what it returns is
%% ignored.

%% @doc Register Fun, a fun of four arguments, under Id, replacing a
%% handler with the same Id: `ok'. It is called as
%% `Fun(Event, Measurements, Metadata, Config)' for every event, in the
%% process that made the call. Handlers live in a `persistent_term':
%% register them at startup, not per request.
%%
%% Errors: `{error, #{code := bad_argument}}' when Fun is not a fun of
%% four arguments.
-spec add_handler(term(), handler(), term()) -> ok | {error, libsql:error()}.
add_handler(Id, Fun, Config) when is_function(Fun, 4) ->
    Hs = lists:keydelete(Id, 1, handlers()),
    persistent_term:put(?KEY, Hs ++ [{Id, Fun, Config}]),
    refresh();
add_handler(_Id, _Fun, _Config) ->
    {error, libsql_proto:err(bad_argument, <<"a handler is a fun of four arguments">>)}.

%% @doc Remove the handler registered under Id: `ok', also when there is
%% none.
-spec remove_handler(term()) -> ok.
remove_handler(Id) ->
    case lists:keydelete(Id, 1, handlers()) of
        [] -> _ = persistent_term:erase(?KEY);
        Hs -> persistent_term:put(?KEY, Hs)
    end,
    refresh().

%% @doc The registered handlers, as `[{Id, Fun, Config}]' in the order
%% they were added (the order they are called in).
-spec handlers() -> [{term(), handler(), term()}].
handlers() ->
    persistent_term:get(?KEY, []).

%% @doc Run Fun() as one query of Command on Db: emit the start, stop or
%% exception event around it and log it if slow. Returns what Fun returns;
%% an exception in Fun passes through. Sql is the statement text
%% (`undefined' when there is none to report). libsql calls this; it
%% returns no errors of its own.
-spec span(term(), atom(), binary() | undefined, fun(() -> Result)) -> Result.
span(Db, Command, Sql, Fun) ->
    case persistent_term:get(?WATCH, false) of
        false ->
            case erlang:function_exported(telemetry, execute, 3) of
                false -> Fun();
                true -> watched(Db, Command, Sql, Fun, true)
            end;
        true ->
            watched(Db, Command, Sql, Fun, erlang:function_exported(telemetry, execute, 3))
    end.

%% @doc Read the application environment's `slow_query_ms' again (see the
%% module doc for when it is read by itself): `ok'.
-spec reload() -> ok.
reload() ->
    Slow = case application:get_env(libsql, slow_query_ms) of
               {ok, Ms} when is_integer(Ms), Ms >= 0 -> Ms;
               _ -> infinity
           end,
    case persistent_term:get(?APP_SLOW, undefined) of
        Slow -> ok;
        _ -> persistent_term:put(?APP_SLOW, Slow)
    end,
    refresh().

%% Set the watch flag from what it depends on. Sources change in several
%% processes at once (pools starting and stopping, handlers added): each
%% change is followed by a refresh, which computes, writes, and computes
%% again, so a write from a computation made before a change another
%% refresh already wrote is corrected.
refresh() ->
    V1 = watch(),
    put_watch(V1),
    case watch() of
        V1 -> ok;
        V2 -> put_watch(V2)
    end.

watch() ->
    handlers() =/= [] orelse persistent_term:get(?APP_SLOW, infinity) =/= infinity
        orelse libsql_pool:any_slow_query_ms().

put_watch(true) -> persistent_term:put(?WATCH, true), ok;
put_watch(false) -> _ = persistent_term:erase(?WATCH), ok.

watched(Db, Command, Sql, Fun, Telemetry) ->
    Slow = slow_threshold(Db),
    case handlers() =:= [] andalso not Telemetry andalso Slow =:= infinity of
        true ->
            Fun();
        false ->
            Meta = #{db => Db, command => Command, sql => Sql},
            emit(Telemetry, [libsql, query, start],
                 #{system_time => erlang:system_time()}, Meta),
            T0 = erlang:monotonic_time(),
            try Fun() of
                Result ->
                    Duration = erlang:monotonic_time() - T0,
                    emit(Telemetry, [libsql, query, stop], #{duration => Duration},
                         result_meta(Result, Meta)),
                    log_if_slow(Slow, Duration, Meta, Result),
                    Result
            catch
                Kind:Reason:Stack ->
                    emit(Telemetry, [libsql, query, exception],
                         #{duration => erlang:monotonic_time() - T0},
                         Meta#{kind => Kind, reason => Reason}),
                    erlang:raise(Kind, Reason, Stack)
            end
    end.

result_meta({error, #{code := Code}}, Meta) -> Meta#{result => error, code => Code};
result_meta(_, Meta) -> Meta#{result => ok}.

%% The handler list is read at each event: one removed for raising at
%% `start' is not called again at `stop'.
emit(Telemetry, Event, Measurements, Meta) ->
    lists:foreach(
      fun({Id, Fun, Config}) ->
              try
                  Fun(Event, Measurements, Meta, Config)
              catch
                  Kind:Reason ->
                      logger:error(#{what => libsql_event_handler_failed, id => Id,
                                     kind => Kind, reason => Reason},
                                   #{domain => [libsql]}),
                      remove_handler(Id)
              end
      end, handlers()),
    case Telemetry of
        true -> apply(telemetry, execute, [Event, Measurements, Meta]);
        false -> ok
    end.

slow_threshold(Db) ->
    case libsql_pool:config(Db) of
        #{slow_query_ms := Ms} -> Ms;
        _ -> persistent_term:get(?APP_SLOW, infinity)
    end.

log_if_slow(infinity, _Duration, _Meta, _Result) -> ok;
log_if_slow(Ms, Duration, Meta, Result) ->
    DurationMs = erlang:convert_time_unit(Duration, native, millisecond),
    case DurationMs >= Ms of
        true ->
            #{db := Db, command := Command, sql := Sql} = Meta,
            logger:warning(#{what => libsql_slow_query, db => Db, command => Command,
                             sql => truncate(Sql), duration_ms => DurationMs,
                             result => maps:get(result, result_meta(Result, #{}))},
                           #{domain => [libsql]});
        false ->
            ok
    end.

truncate(Sql) when is_binary(Sql), byte_size(Sql) > 1000 ->
    <<(binary:part(Sql, 0, 1000))/binary, "...">>;
truncate(Sql) -> Sql.
