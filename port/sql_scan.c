/*
 * sql_scan.c - statement boundaries, parameter numbering and the first
 * keyword of SQL text, following SQLite's tokenizer (tokenize.c) where it
 * matters: '..' strings, ".." `..` [..] identifiers, -- and C comments,
 * and the parameter tokens ?, ?NNN, :name, @name, $name.
 */
#include "sql_scan.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* SQLite's IdChar: letters, digits, '_', '$' and every byte >= 0x80. */
static int id_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '$' || c >= 0x80;
}

static int space_char(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* If a literal, quoted identifier or comment starts at i, the index just
 * past it (an unterminated one runs to n); else i. */
static size_t skip_quoted(const char *z, size_t n, size_t i)
{
    char close;

    switch (z[i]) {
    case '\'': close = '\''; break;
    case '"': close = '"'; break;
    case '`': close = '`'; break;
    case '[': close = ']'; break;
    case '-':
        if (i + 1 < n && z[i + 1] == '-') {
            while (i < n && z[i] != '\n') i++;
            return i;
        }
        return i;
    case '/':
        if (i + 1 < n && z[i + 1] == '*') {
            for (i += 2; i + 1 < n; i++)
                if (z[i] == '*' && z[i + 1] == '/') return i + 2;
            return n;
        }
        return i;
    default:
        return i;
    }
    /* A doubled quote inside '..' ".." `..` is an escaped quote: the scan
     * simply closes and reopens, which lands on the same end. */
    for (i++; i < n; i++)
        if (z[i] == close) return i + 1;
    return n;
}

int sql_next_statement(const char *sql, size_t n, size_t *len, int *empty)
{
    char *z;
    size_t i = 0, next;
    char saved;
    int complete;

    *len = n;
    *empty = 1;
    z = malloc(n + 1);
    if (z == NULL) return -1;
    memcpy(z, sql, n);
    z[n] = 0;
    while (i < n) {
        next = skip_quoted(z, n, i);
        if (next != i) {
            /* Comments leave a statement empty; literals do not. */
            if (z[i] != '-' && z[i] != '/') *empty = 0;
            i = next;
            continue;
        }
        if (z[i] == ';') {
            /* The statement ends here unless a trigger body is still
             * open; sqlite3_complete knows CREATE TRIGGER ... END. */
            saved = z[i + 1];
            z[i + 1] = 0;
            complete = sqlite3_complete(z);
            z[i + 1] = saved;
            if (complete) {
                *len = i + 1;
                break;
            }
        } else if (!space_char((unsigned char)z[i])) {
            *empty = 0;
        }
        i++;
    }
    free(z);
    return 0;
}

static int add_named(sql_stmt_info *info, const char *name, size_t len, int *cap)
{
    sql_param *grown;

    if (info->nnamed == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        grown = realloc(info->named, (size_t)*cap * sizeof *grown);
        if (grown == NULL) return -1;
        info->named = grown;
    }
    info->named[info->nnamed].name = name;
    info->named[info->nnamed].len = len;
    info->named[info->nnamed].index = ++info->nparams;
    info->nnamed++;
    return 0;
}

static int find_named(const sql_stmt_info *info, const char *name, size_t len)
{
    int k;

    for (k = 0; k < info->nnamed; k++)
        if (info->named[k].len == len && memcmp(info->named[k].name, name, len) == 0)
            return info->named[k].index;
    return 0;
}

static void read_keyword(const char *z, size_t n, size_t i, char *out, size_t outsz)
{
    size_t k = 0;

    while (i < n && k + 1 < outsz &&
           ((z[i] >= 'a' && z[i] <= 'z') || (z[i] >= 'A' && z[i] <= 'Z'))) {
        out[k++] = (char)(z[i] >= 'a' ? z[i] - 'a' + 'A' : z[i]);
        i++;
    }
    /* A longer word is no keyword we look for. */
    out[i < n && id_char((unsigned char)z[i]) ? 0 : k] = 0;
}

int sql_scan_params(const char *z, size_t n, sql_stmt_info *info)
{
    size_t i = 0, next, start;
    int cap = 0, seen_token = 0;
    long num;

    memset(info, 0, sizeof *info);
    while (i < n) {
        next = skip_quoted(z, n, i);
        if (next != i) {
            if (z[i] != '-' && z[i] != '/') seen_token = 1;
            i = next;
            continue;
        }
        if (!seen_token && !space_char((unsigned char)z[i])) {
            seen_token = 1;
            read_keyword(z, n, i, info->keyword, sizeof info->keyword);
        }
        if (z[i] == '?') {
            /* ?NNN names its number; a bare ? takes the next one. */
            for (num = 0, i++; i < n && z[i] >= '0' && z[i] <= '9'; i++)
                if (num < 1000000) num = num * 10 + (z[i] - '0');
            if (i > 0 && z[i - 1] != '?') {
                if (num > info->nparams) info->nparams = (int)num;
            } else {
                info->nparams++;
            }
            continue;
        }
        if ((z[i] == ':' || z[i] == '@' || z[i] == '$') && i + 1 < n &&
            id_char((unsigned char)z[i + 1])) {
            start = i;
            for (i++; i < n && id_char((unsigned char)z[i]); i++) {}
            if (find_named(info, z + start, i - start) == 0 &&
                add_named(info, z + start, i - start, &cap) != 0) {
                sql_info_free(info);
                return -1;
            }
            continue;
        }
        if (id_char((unsigned char)z[i])) {
            /* Skip a whole word so "a$b" or "x:y" inside names is no parameter. */
            while (i < n && id_char((unsigned char)z[i])) i++;
            continue;
        }
        i++;
    }
    return 0;
}

void sql_info_free(sql_stmt_info *info)
{
    free(info->named);
    info->named = NULL;
    info->nnamed = 0;
}

int sql_param_index(const sql_stmt_info *info, const char *name, size_t len)
{
    static const char prefixes[] = ":@$";
    int k, idx;

    if (len == 0) return 0;
    if (strchr(prefixes, name[0]) != NULL) return find_named(info, name, len);
    for (k = 0; k < 3; k++)
        for (idx = 0; idx < info->nnamed; idx++)
            if (info->named[idx].len == len + 1 && info->named[idx].name[0] == prefixes[k] &&
                memcmp(info->named[idx].name + 1, name, len) == 0)
                return info->named[idx].index;
    return 0;
}

int sql_is_transaction_control(const char *kw)
{
    static const char *const words[] = { "BEGIN", "COMMIT", "END", "ROLLBACK",
                                         "SAVEPOINT", "RELEASE" };
    size_t k;

    for (k = 0; k < sizeof words / sizeof words[0]; k++)
        if (strcmp(kw, words[k]) == 0) return 1;
    return 0;
}

int sql_keyword_readonly(const char *kw)
{
    return strcmp(kw, "SELECT") == 0 || strcmp(kw, "VALUES") == 0 ||
           strcmp(kw, "EXPLAIN") == 0;
}

/* Past white space and comments from i. */
static size_t skip_blank(const char *z, size_t n, size_t i)
{
    for (;;) {
        size_t j;

        while (i < n && space_char((unsigned char)z[i])) i++;
        if (i >= n || (z[i] != '-' && z[i] != '/')) return i;
        j = skip_quoted(z, n, i);
        if (j == i) return i;
        i = j;
    }
}

int sql_pragma(const char *sql, size_t n, char *name, size_t size, int *has_arg)
{
    size_t i = skip_blank(sql, n, 0), start, len;

    *has_arg = 0;
    if (n - i < 6 || sqlite3_strnicmp(sql + i, "PRAGMA", 6) != 0) return 0;
    i = skip_blank(sql, n, i + 6);
    for (;;) {
        start = i;
        while (i < n && id_char((unsigned char)sql[i])) i++;
        len = i - start;
        i = skip_blank(sql, n, i);
        if (i < n && sql[i] == '.') { /* schema.name: the name is next */
            i = skip_blank(sql, n, i + 1);
            continue;
        }
        break;
    }
    if (len == 0 || len >= size) return 0;
    memcpy(name, sql + start, len);
    name[len] = 0;
    *has_arg = i < n && (sql[i] == '=' || sql[i] == '(');
    return 1;
}
