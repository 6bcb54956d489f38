/*
 * sqlite_log.h - SQLite's error log (SQLITE_CONFIG_LOG) sent to the
 * Erlang side as events, {0, event, {log, Code, Message, Dropped}}, where
 * the connection process hands them to logger. At most LOG_PER_SECOND a
 * second leave the port; the rest are counted, and the next one that
 * leaves says how many were dropped. Any thread may log (SQLite logs from
 * the thread that hit the condition: a replica's sync too).
 */
#ifndef LSQ_SQLITE_LOG_H
#define LSQ_SQLITE_LOG_H

/* Install the log callback: before SQLite is initialized (main.c, through
 * lsq_local_setup). 0, or -1 if SQLite refused. */
int sqlite_log_setup(void);

#endif
