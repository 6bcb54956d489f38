/*
 * vector_ddl.c - the vector index form of a CREATE INDEX (vector_ddl.h).
 *
 * A small tokenizer of SQLite's lexical rules, enough to find the
 * indexed expressions between the parentheses after ON <table>, split
 * them at top-level commas, and read the one allowed form. The text was
 * accepted by SQLite's parser already, so only the shape matters here.
 */
#include "vector_ddl.h"

#include <sqlite3.h>
#include <string.h>

enum { TK_END, TK_WORD, TK_QUOTED, TK_STRING, TK_NUMBER, TK_PUNCT };

typedef struct {
    int kind;
    const char *p; /* first byte */
    int n;         /* bytes, quotes included */
} token;

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '$' || c >= 0x80;
}

/* The token at *z, which moves past it (and past space and comments
 * before it). Unterminated quotes or comments end at the text's end. */
static token next(const char **z)
{
    const char *s = *z;
    token t = { TK_END, s, 0 };
    char close;

    for (;;) {
        while (is_space(*s)) s++;
        if (s[0] == '-' && s[1] == '-') {
            while (*s && *s != '\n') s++;
        } else if (s[0] == '/' && s[1] == '*') {
            const char *end = strstr(s + 2, "*/");
            s = end != NULL ? end + 2 : s + strlen(s);
        } else {
            break;
        }
    }
    t.p = s;
    if (*s == 0) {
        *z = s;
        return t;
    }
    if (*s == '\'' || *s == '"' || *s == '`' || *s == '[') {
        close = *s == '[' ? ']' : *s;
        t.kind = *s == '\'' ? TK_STRING : TK_QUOTED;
        s++;
        for (;;) {
            if (*s == 0) break;
            if (*s == close) {
                if (close != ']' && s[1] == close) {
                    s += 2; /* a doubled quote stands for one */
                    continue;
                }
                s++;
                break;
            }
            s++;
        }
    } else if (is_word((unsigned char)*s)) {
        t.kind = (*s >= '0' && *s <= '9') ? TK_NUMBER : TK_WORD;
        while (is_word((unsigned char)*s)) s++;
    } else {
        t.kind = TK_PUNCT;
        s++;
    }
    t.n = (int)(s - t.p);
    *z = s;
    return t;
}

static int is_kw(token t, const char *kw)
{
    return t.kind == TK_WORD && (int)strlen(kw) == t.n && sqlite3_strnicmp(t.p, kw, t.n) == 0;
}

static int is_punct(token t, char c)
{
    return t.kind == TK_PUNCT && t.p[0] == c;
}

/* A quoted name or string without its quotes (doubled quotes undone);
 * a bare word as it is. NULL when out of memory. */
static char *dequote(token t)
{
    char *out = sqlite3_malloc(t.n + 1);
    char close;
    int i, j = 0;

    if (out == NULL) return NULL;
    if (t.kind != TK_QUOTED && t.kind != TK_STRING) {
        memcpy(out, t.p, (size_t)t.n);
        out[t.n] = 0;
        return out;
    }
    close = t.p[0] == '[' ? ']' : t.p[0];
    for (i = 1; i < t.n; i++) {
        if (t.p[i] == close) {
            if (close != ']' && i + 1 < t.n && t.p[i + 1] == close) i++;
            else break;
        }
        out[j++] = t.p[i];
    }
    out[j] = 0;
    return out;
}

void lsq_vddl_free(lsq_vddl *d)
{
    int i;

    sqlite3_free(d->column);
    for (i = 0; i < d->nopts; i++) sqlite3_free(d->opts[i]);
    sqlite3_free(d->opts);
    sqlite3_free(d->where);
    memset(d, 0, sizeof *d);
}

static int refuse(char **err, const char *why)
{
    *err = sqlite3_mprintf("vector index: %s", why);
    return -1;
}

static int nomem(char **err)
{
    *err = NULL;
    return -1;
}

/* Skips to the '(' that opens the column list: past ON and the table. */
static int to_columns(const char **z)
{
    token t;

    for (t = next(z); t.kind != TK_END; t = next(z))
        if (is_kw(t, "ON")) break;
    if (t.kind == TK_END) return -1;
    t = next(z); /* the table */
    t = next(z);
    return is_punct(t, '(') ? 0 : -1;
}

/* True if the expression [from, to) calls libsql_vector_idx. */
static int mentions_vector_idx(const char *from, const char *to)
{
    const char *z = from;
    token t;

    for (t = next(&z); t.kind != TK_END && t.p < to; t = next(&z))
        if (is_kw(t, "libsql_vector_idx")) return 1;
    return 0;
}

/* The one expression: libsql_vector_idx(col, 'opt', ...) [ASC|DESC]. */
static int read_call(const char *z, const char *end, lsq_vddl *d, char **err)
{
    token t = next(&z), arg;
    int depth, nargs = 0;

    if (!is_kw(t, "libsql_vector_idx") || !is_punct(next(&z), '('))
        return refuse(err, "must contain exactly one column wrapped into the libsql_vector_idx function");
    for (;;) {
        arg = next(&z);
        if (nargs == 0 && is_punct(arg, ')'))
            return refuse(err, "libsql_vector_idx first argument must be a column token");
        /* An argument is one token followed by ',' or ')'. */
        t = next(&z);
        if (!(is_punct(t, ',') || is_punct(t, ')'))) {
            /* skip the rest of a longer argument, for the message */
            for (depth = 0; t.kind != TK_END; t = next(&z)) {
                if (is_punct(t, '(')) depth++;
                else if (is_punct(t, ')') && depth-- == 0) break;
                else if (is_punct(t, ',') && depth == 0) break;
            }
            return refuse(err, nargs == 0 ? "libsql_vector_idx first argument must be a column token"
                                        : "all arguments after first must be strings");
        }
        if (nargs == 0) {
            if (arg.kind != TK_WORD && arg.kind != TK_QUOTED)
                return refuse(err, "libsql_vector_idx first argument must be a column token");
            if ((d->column = dequote(arg)) == NULL) return nomem(err);
        } else {
            char **grown;
            if (arg.kind != TK_STRING) return refuse(err, "all arguments after first must be strings");
            grown = sqlite3_realloc64(d->opts, sizeof *grown * (size_t)(d->nopts + 1));
            if (grown == NULL) return nomem(err);
            d->opts = grown;
            if ((d->opts[d->nopts] = dequote(arg)) == NULL) return nomem(err);
            d->nopts++;
        }
        nargs++;
        if (is_punct(t, ')')) break;
    }
    t = next(&z);
    if (is_kw(t, "COLLATE")) return refuse(err, "collation in expression is forbidden");
    if (is_kw(t, "ASC") || is_kw(t, "DESC")) t = next(&z);
    if (t.kind != TK_END && t.p < end)
        return refuse(err, "must contain exactly one column wrapped into the libsql_vector_idx function");
    return 0;
}

int lsq_vddl_parse(const char *sql, lsq_vddl *out, char **err)
{
    const char *z = sql, *item, *items[2] = { NULL, NULL }, *item_end = NULL;
    int depth = 0, nitems = 0, vector = 0;
    token t;

    memset(out, 0, sizeof *out);
    *err = NULL;
    if (to_columns(&z) != 0) return 0;
    /* Split the column list at top-level commas. */
    item = z;
    for (t = next(&z);; t = next(&z)) {
        if (t.kind == TK_END) return 0;
        if (is_punct(t, '(')) {
            depth++;
        } else if ((is_punct(t, ',') && depth == 0) || (is_punct(t, ')') && depth == 0)) {
            if (mentions_vector_idx(item, t.p)) vector = 1;
            if (nitems < 2) items[nitems] = item;
            if (nitems == 0) item_end = t.p;
            nitems++;
            item = z;
            if (is_punct(t, ')')) break;
        } else if (is_punct(t, ')')) {
            depth--;
        }
    }
    if (!vector) return 0;
    if (nitems != 1) {
        refuse(err, "must contain exactly one column wrapped into the libsql_vector_idx function");
        return -1;
    }
    {
        /* The item's own text, so that the call is read up to its end. */
        size_t n = (size_t)(item_end - items[0]);
        char *one = sqlite3_malloc64(n + 1);
        int rc;

        if (one == NULL) return nomem(err);
        memcpy(one, items[0], n);
        one[n] = 0;
        rc = read_call(one, one + n, out, err);
        sqlite3_free(one);
        if (rc != 0) {
            lsq_vddl_free(out);
            return -1;
        }
    }
    t = next(&z);
    if (is_kw(t, "WHERE")) {
        const char *w = z;
        size_t n = strlen(w);

        while (n > 0 && (is_space(w[n - 1]) || w[n - 1] == ';')) n--;
        while (n > 0 && is_space(*w)) w++, n--;
        if ((out->where = sqlite3_malloc64(n + 1)) == NULL) {
            lsq_vddl_free(out);
            return nomem(err);
        }
        memcpy(out->where, w, n);
        out->where[n] = 0;
    }
    return 1;
}
