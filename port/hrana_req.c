/*
 * hrana_req.c - Hrana request JSON (see hrana_req.h).
 */
#include "hrana_req.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int jb_raw(jbuf *b, const char *p, size_t n)
{
    size_t ncap;
    char *q;

    if (b->cap - b->n < n) {
        ncap = b->cap ? b->cap : 256;
        while (ncap - b->n < n) {
            if (ncap > ((size_t)-1) / 4) return -1;
            ncap *= 2;
        }
        q = realloc(b->p, ncap);
        if (q == NULL) return -1;
        b->p = q;
        b->cap = ncap;
    }
    if (n > 0) memcpy(b->p + b->n, p, n);
    b->n += n;
    return 0;
}

int jb_lit(jbuf *b, const char *s)
{
    return jb_raw(b, s, strlen(s));
}

void jb_free(jbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* Length of the UTF-8 sequence at p[0..n), or 0 if it is not valid
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0], cp;
    size_t len, k;

    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07;
    else return 0;
    if (n < len) return 0;
    for (k = 1; k < len; k++) {
        if ((p[k] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[k] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* Written by hand rather than with yajl_gen: one pass, no allocation per
 * string, which matters for execute_many with 100k rows. */
int jb_str(jbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run, len;
    char esc[6] = { '\\', 'u', '0', '0', 0, 0 };

    if (jb_raw(b, "\"", 1) != 0) return -1;
    while (i < n) {
        /* Copy the longest run that needs no escaping at once. */
        for (run = i; run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' &&
                      p[run] != '\\';
             run++) {}
        if (run > i && jb_raw(b, s + i, run - i) != 0) return -1;
        i = run;
        if (i == n) break;
        if (p[i] >= 0x80) {
            len = utf8_len(p + i, n - i);
            if (len == 0) return -2;
            if (jb_raw(b, s + i, len) != 0) return -1;
            i += len;
        } else if (p[i] == '"' || p[i] == '\\') {
            esc[1] = (char)p[i];
            if (jb_raw(b, esc, 2) != 0) return -1;
            esc[1] = 'u';
            i++;
        } else {
            esc[4] = hex[p[i] >> 4];
            esc[5] = hex[p[i] & 15];
            if (jb_raw(b, esc, 6) != 0) return -1;
            i++;
        }
    }
    return jb_raw(b, "\"", 1);
}

int hq_base64(jbuf *b, const unsigned char *p, size_t n)
{
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char out[4];
    size_t i;
    unsigned v;

    for (i = 0; i + 2 < n; i += 3) {
        v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[0] = digits[v >> 18];
        out[1] = digits[(v >> 12) & 63];
        out[2] = digits[(v >> 6) & 63];
        out[3] = digits[v & 63];
        if (jb_raw(b, out, 4) != 0) return -1;
    }
    if (i < n) {
        v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);
        out[0] = digits[v >> 18];
        out[1] = digits[(v >> 12) & 63];
        out[2] = i + 1 < n ? digits[(v >> 6) & 63] : '=';
        out[3] = '=';
        if (jb_raw(b, out, 4) != 0) return -1;
    }
    return 0;
}

/* The shortest %g form that reads back as the same double, always with a
 * '.' or an exponent so no JSON reader takes it for an integer (-0.0
 * would lose its sign). Shorter forms also fare better with servers
 * whose float parser is not exact (tursodb 0.7.0 is off by one ulp on
 * some 17-digit inputs). */
static int put_double(jbuf *b, double r)
{
    char buf[40];
    int prec, len = 0;

    for (prec = 15; prec <= 17; prec++) {
        len = snprintf(buf, sizeof buf - 3, "%.*g", prec, r);
        if (len < 0 || (size_t)len >= sizeof buf - 3) return -1;
        if (strtod(buf, NULL) == r) break;
    }
    if (strpbrk(buf, ".eE") == NULL) {
        buf[len++] = '.';
        buf[len++] = '0';
        buf[len] = 0;
    }
    return jb_raw(b, buf, (size_t)len);
}

static int put_value(jbuf *b, const lsq_value *v, size_t i, lsq_error *err)
{
    char num[80];
    int rc = 0;

    switch (v->type) {
    case LSQ_NULL:
        return jb_lit(b, "{\"type\":\"null\"}") == 0 ? 0 : -1;
    case LSQ_INT:
        (void)snprintf(num, sizeof num, "{\"type\":\"integer\",\"value\":\"%lld\"}", v->u.i);
        return jb_lit(b, num) == 0 ? 0 : -1;
    case LSQ_REAL:
        if (!isfinite(v->u.r)) {
            /* JSON has no infinity; the servers refuse 1e999 and write
             * their own infinities as null. */
            lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                          "parameter %zu: a remote database cannot take infinity "
                          "(Hrana sends floats as JSON numbers)", i + 1);
            return -2;
        }
        return jb_lit(b, "{\"type\":\"float\",\"value\":") || put_double(b, v->u.r) ||
               jb_lit(b, "}") ? -1 : 0;
    case LSQ_TEXT:
        if (jb_lit(b, "{\"type\":\"text\",\"value\":") != 0) return -1;
        rc = jb_str(b, v->u.s.p, v->u.s.n);
        if (rc == -2) {
            lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                          "parameter %zu: text is not valid UTF-8 (JSON carries only "
                          "UTF-8); pass {blob, Bytes}", i + 1);
            return -2;
        }
        return rc == 0 && jb_lit(b, "}") == 0 ? 0 : -1;
    case LSQ_BLOB:
        return jb_lit(b, "{\"type\":\"blob\",\"base64\":\"") ||
               hq_base64(b, (const unsigned char *)v->u.s.p, v->u.s.n) ||
               jb_lit(b, "\"}") ? -1 : 0;
    }
    return -1;
}

int hq_stmt(jbuf *b, const char *sql, size_t n, const lsq_value *args, size_t nargs,
            lsq_error *err)
{
    size_t i;
    int rc;

    if (jb_lit(b, "{\"sql\":") != 0) goto nomem;
    rc = jb_str(b, sql, n);
    if (rc == -2) {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "SQL is not valid UTF-8");
        return -1;
    }
    if (rc != 0 || jb_lit(b, ",\"args\":[") != 0) goto nomem;
    for (i = 0; i < nargs; i++) {
        if (i > 0 && jb_lit(b, ",") != 0) goto nomem;
        rc = put_value(b, &args[i], i, err);
        if (rc == -2) return -1;
        if (rc != 0) goto nomem;
    }
    if (jb_lit(b, "]}") != 0) goto nomem;
    return 0;
nomem:
    lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
    return -1;
}
