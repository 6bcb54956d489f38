/*
 * extensions.h - SQLite extensions, loaded only from the files a
 * connection was opened to allow (libsql:open/1's `extensions').
 *
 * The allowlist is given once, right after open (the command
 * allow_extensions; a second is refused), so that no later request can
 * widen it. A file loads only if its real path (symbolic links and `..'
 * resolved, now) is the real path of a listed file. Loading goes through
 * SQLite's C API alone, enabled for the call and off again: SQL's own
 * load_extension() stays unavailable. What loaded is remembered and
 * loaded again on a new handle (a rekey that reopens the file).
 * Main thread only.
 */
#ifndef LSQ_EXTENSIONS_H
#define LSQ_EXTENSIONS_H

#include <sqlite3.h>
#include "errors.h"

typedef struct lsq_extensions lsq_extensions;

/* The allowlist: n paths (NUL-terminated copies are made). 0, or -1 with
 * *err (misuse when one was given already). */
int extensions_allow(lsq_extensions **e, const char *const *paths, const size_t *lens,
                     size_t n, lsq_error *err);
/* Load path (n bytes) with entry point entry (NULL: SQLite's default) on
 * db. 0, or -1 with *err: bad_argument (not listed, or no list),
 * cantopen (no such file), error (SQLite's message: not a library, no
 * such entry point, the entry point failed). */
int extensions_load(lsq_extensions *e, sqlite3 *db, const char *path, size_t n,
                    const char *entry, lsq_error *err);
/* Load again on db what was loaded (a reopened handle). 0 or -1. */
int extensions_reapply(lsq_extensions *e, sqlite3 *db, lsq_error *err);
void extensions_free(lsq_extensions **e);

#endif
