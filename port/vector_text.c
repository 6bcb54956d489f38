/*
 * vector_text.c - the text form of libSQL's vectors (vectors.md §2): the
 * parser behind vector(), vector32() and vector64() on TEXT, and
 * vector_extract's printer, as libSQL 0.9.30 on SQLite 3.45.1 (npm
 * libsql@0.5.29) does them, to the bit and to the byte.
 *
 * Why not stock SQLite: 3.40 exports no text-to-double routine, and its
 * printf("%g") rounds ties differently from 3.45's. So the numbers are read
 * with SQLite 3.45's sqlite3AtoF arithmetic (a u64 significand scaled by
 * powers of ten in 80-bit long double: NOT correctly rounded, and that is
 * the point) and printed with 3.45's "%g" (sqlite3FpDecode's long double
 * scaling into [1e17, 1e19), half-up rounding at 6 significant digits).
 * Both depend on long double being x87's 80-bit format, as on the peer
 * (x86-64); elsewhere they follow that platform's long double, as a peer
 * built there would.
 *
 * The parser reads its input in place: whitespace inside a number is
 * dropped ("[1 2]" is [12]), so a number is a span of the input with
 * spaces to skip, and only a span that holds some is copied (to the heap,
 * at most 1025 characters) to be read or quoted in a message.
 */
#include "vector.h"

#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

#define TOKEN_MAX 1024 /* libSQL's MAX_FLOAT_CHAR_SZ: it keeps one more */
#define G_DIGITS 6     /* %g's default precision */
#define ELEM_MAX 13    /* longest element: "-1.23457e-308" */

/* SQLite's sqlite3Isspace: space and \t \n \v \f \r (not the locale's). */
static int is_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* ---- numbers in ------------------------------------------------------- */

/* SQLite 3.45.1's sqlite3AtoF on z[0..n) (UTF-8, no whitespace: the
 * parser dropped it), with bUseLongDouble set as on x86-64. 1 with *out if
 * the whole span is a number ([+-](digits[.[digits]]|.digits)
 * [(e|E)[+-]digits]), else 0: the vector parser takes only AtoF's
 * "whole string is a number" answers. */
static int atof_345(const char *z, size_t n, double *out)
{
    const char *end = z + n;
    uint64_t s = 0;                 /* significand */
    int neg = 0, d = 0;             /* d: decimal point shift */
    int esign = 1, e = 0, e_ok = 1; /* exponent, and whether it has digits */
    int ndigit = 0;
    double x;

    if (z < end && (*z == '-' || *z == '+')) neg = *z++ == '-';
    while (z < end && is_digit(*z)) {
        s = s * 10 + (uint64_t)(*z++ - '0');
        ndigit++;
        /* The significand is full: further integer digits only scale. */
        if (s >= (UINT64_MAX - 9) / 10)
            while (z < end && is_digit(*z)) z++, d++;
    }
    if (z < end && *z == '.') {
        z++;
        while (z < end && is_digit(*z)) {
            if (s < (UINT64_MAX - 9) / 10) {
                s = s * 10 + (uint64_t)(*z - '0');
                d--;
                ndigit++;
            }
            z++;
        }
    }
    if (z < end && (*z == 'e' || *z == 'E')) {
        z++;
        e_ok = 0;
        if (z < end && (*z == '-' || *z == '+')) esign = *z++ == '-' ? -1 : 1;
        while (z < end && is_digit(*z)) {
            /* 3.45 stops growing at 10000, so e stays below 100000. */
            e = e < 10000 ? e * 10 + (*z - '0') : 10000;
            z++;
            e_ok = 1;
        }
    }
    if (z != end || ndigit == 0 || !e_ok) return 0;

    if (s == 0) {
        *out = neg ? -0.0 : 0.0;
        return 1;
    }
    e = e * esign + d;
    while (e > 0 && s < UINT64_MAX / 10) s *= 10, e--;
    while (e < 0 && s % 10 == 0) s /= 10, e++;
    if (e == 0) {
        x = (double)s;
    } else {
        long double r = (long double)s;

        /* Powers of ten applied in this order and these steps: each
         * product is rounded to 64 bits, which is why the result differs
         * from strtod's now and then. */
        if (e > 0) {
            while (e >= 100) e -= 100, r *= 1.0e+100L;
            while (e >= 10) e -= 10, r *= 1.0e+10L;
            while (e >= 1) e -= 1, r *= 1.0e+01L;
        } else {
            while (e <= -100) e += 100, r *= 1.0e-100L;
            while (e <= -10) e += 10, r *= 1.0e-10L;
            while (e <= -1) e += 1, r *= 1.0e-01L;
        }
        x = r > 1.7976931348623157081452742373e+308L ? (double)INFINITY : (double)r;
    }
    *out = neg ? -x : x;
    return 1;
}

/* ---- the parser ------------------------------------------------------- */

/* The non-space characters of [lo, hi), at most max of them, as a
 * sqlite3_malloc'd NUL-ended string; NULL if out of memory. */
static char *strip_spaces(const char *lo, const char *hi, size_t max)
{
    char *t = sqlite3_malloc64(max + 1);
    size_t k = 0;

    if (t == NULL) return NULL;
    for (; lo < hi && k < max; lo++)
        if (!is_space(*lo)) t[k++] = *lo;
    t[k] = '\0';
    return t;
}

/* An error with the token's text in it (fmt has "%s" for the token, after
 * a "%d" when with_pos): the token is the non-space characters of
 * [lo, hi), at most max of them. libSQL prints its token buffer with %s,
 * and its buffer has no NUL after a 1025-character token, so the peer
 * adds a few bytes of stack there; we print the token alone. */
static char *token_error(const char *fmt, int with_pos, int pos, const char *lo,
                         const char *hi, size_t max)
{
    char *t, *msg;

    if (lo == NULL) lo = hi = "";
    t = strip_spaces(lo, hi, max);
    if (t == NULL) return NULL;
    msg = with_pos ? sqlite3_mprintf(fmt, pos, t) : sqlite3_mprintf(fmt, TOKEN_MAX, t);
    sqlite3_free(t);
    return msg;
}

/* How many elements the text from p can hold at most: one more than the
 * commas before the first ']', up to the limit (the parser stops at the
 * first ']' and refuses element 65,537). */
static size_t element_bound(const char *p, const char *end)
{
    size_t commas = 0;

    for (; p < end && *p != ']' && commas < LSQ_VEC_MAX_DIMS; p++)
        if (*p == ',') commas++;
    return commas < LSQ_VEC_MAX_DIMS ? commas + 1 : LSQ_VEC_MAX_DIMS;
}

int lsq_vec_from_text(const char *text, size_t n, int type, lsq_vec *v,
                      unsigned char **buf, char **err)
{
    const char *p = text, *end, *nul, *lo, *hi;
    size_t width = type == LSQ_VEC_F64 ? 8 : 4, cap, count, dims = 0;
    unsigned char *data = NULL;
    int inner, gap, ok;
    double x;
    float f;
    char *t;

    *buf = NULL;
    *err = NULL;
    /* libSQL reads the text as a C string: an embedded NUL ends it. */
    nul = n ? memchr(text, '\0', n) : NULL;
    end = nul != NULL ? nul : text + n;

    while (p < end && is_space(*p)) p++;
    if (p == end || *p != '[') {
        *err = sqlite3_mprintf("vector: must start with '['");
        return -1;
    }
    p++;
    cap = element_bound(p, end);
    data = sqlite3_malloc64(cap * width);
    if (data == NULL) return -1;

    for (;;) {
        /* One token: the characters up to ',' or ']' with the spaces
         * dropped; [lo, hi) spans its first to its last, inner says
         * whether a space falls in between. */
        lo = hi = NULL;
        count = 0;
        inner = gap = 0;
        for (; p < end; p++) {
            char c = *p;

            if (is_space(c)) {
                gap = lo != NULL;
                continue;
            }
            if (c == ',' || c == ']') break;
            /* libSQL checks before storing a character: 1025 fit. */
            if (count > TOKEN_MAX) {
                *err = token_error("vector: float string length exceeded %d characters: '%s'", 0,
                                   0, lo, p, TOKEN_MAX + 1);
                goto fail;
            }
            if (lo == NULL) lo = p;
            inner |= gap;
            gap = 0;
            hi = p + 1;
            count++;
        }
        if (p == end) break; /* no ']': reported below */
        if (*p == ']' && dims == 0 && count == 0) break; /* "[]" */

        if (!inner) {
            ok = count > 0 && atof_345(lo, count, &x);
        } else {
            t = strip_spaces(lo, hi, count);
            if (t == NULL) goto fail;
            ok = atof_345(t, count, &x);
            sqlite3_free(t);
        }
        if (!ok) {
            *err = token_error("vector: invalid float at position %d: '%s'", 1, (int)dims, lo, hi,
                               count);
            goto fail;
        }
        if (dims >= LSQ_VEC_MAX_DIMS) {
            *err = sqlite3_mprintf("vector: max size exceeded %d", LSQ_VEC_MAX_DIMS);
            goto fail;
        }
        /* Stored little-endian (the blob's order) whatever the host's. */
        if (width == 8) {
            uint64_t u;

            memcpy(&u, &x, 8);
            for (int k = 0; k < 8; k++) data[dims * 8 + (size_t)k] = (unsigned char)(u >> (8 * k));
        } else {
            uint32_t u;

            f = (float)x;
            memcpy(&u, &f, 4);
            for (int k = 0; k < 4; k++) data[dims * 4 + (size_t)k] = (unsigned char)(u >> (8 * k));
        }
        dims++;
        if (*p == ']') break;
        p++;
    }
    if (p == end) {
        *err = sqlite3_mprintf("vector: must end with ']'");
        goto fail;
    }
    for (p++; p < end && is_space(*p); p++) continue;
    if (p != end) {
        *err = sqlite3_mprintf("vector: non-space symbols after closing ']' are forbidden");
        goto fail;
    }
    if (dims == 0) {
        sqlite3_free(data);
        data = NULL;
    }
    v->type = type == LSQ_VEC_F64 ? LSQ_VEC_F64 : LSQ_VEC_F32;
    v->dims = (unsigned)dims;
    v->data = data;
    *buf = data;
    return 0;

fail:
    sqlite3_free(data);
    return -1;
}

/* ---- numbers out ------------------------------------------------------ */

/* SQLite 3.45.1's "%g" of r (sqlite3FpDecode with iRound 6, then
 * printf's etGENERIC) into out, which holds ELEM_MAX + 1 bytes; its
 * length. */
static size_t print_g(double r, char *out)
{
    char zbuf[24];      /* sqlite3FpDecode's zBuf: a u64 has 20 digits */
    char *z, *o = out;
    int neg = 0, exp = 0, i, n, idp, j, precision, e2, as_exp, dp;
    uint64_t bits, u;
    long double rr;

    if (r < 0.0) {
        neg = 1;
        r = -r;
    } else if (r == 0.0) {
        memcpy(out, "0", 2); /* -0 too: -0.0 < 0.0 is false */
        return 1;
    }
    memcpy(&bits, &r, 8);
    if (((bits >> 52) & 0x7ff) == 0x7ff) {
        /* A NaN is never < 0, so its sign bit is still set here and makes
         * bits differ from +Inf's: "NaN" whatever its sign. */
        const char *s = bits != UINT64_C(0x7ff0000000000000) ? "NaN" : neg ? "-Inf" : "Inf";

        memcpy(out, s, strlen(s) + 1);
        return strlen(s);
    }

    /* Into [1e17, 1e19) by powers of ten, in long double. */
    rr = r;
    if (rr >= 1.0e+19L) {
        while (rr >= 1.0e+119L) exp += 100, rr *= 1.0e-100L;
        while (rr >= 1.0e+29L) exp += 10, rr *= 1.0e-10L;
        while (rr >= 1.0e+19L) exp++, rr *= 1.0e-1L;
    } else {
        while (rr < 1.0e-97L) exp -= 100, rr *= 1.0e+100L;
        while (rr < 1.0e+07L) exp -= 10, rr *= 1.0e+10L;
        while (rr < 1.0e+17L) exp--, rr *= 1.0e+1L;
    }
    u = (uint64_t)rr;

    i = (int)sizeof zbuf - 1;
    while (u) {
        zbuf[i--] = (char)('0' + u % 10);
        u /= 10;
    }
    n = (int)sizeof zbuf - 1 - i;
    idp = n + exp;
    /* n >= 18 > 6: always rounded, half-up on the truncated digits. */
    z = &zbuf[i + 1];
    n = G_DIGITS;
    if (z[G_DIGITS] >= '5') {
        for (j = G_DIGITS - 1;; j--) {
            z[j]++;
            if (z[j] <= '9') break;
            z[j] = '0';
            if (j == 0) {
                zbuf[i--] = '1';
                n++;
                idp++;
                break;
            }
        }
    }
    z = &zbuf[i + 1];
    while (n > 0 && z[n - 1] == '0') n--;

    /* etGENERIC: precision 6 - 1 after the first digit; exponent form
     * when the decimal exponent is < -4 or > 5. */
    exp = idp - 1;
    precision = G_DIGITS - 1;
    as_exp = exp < -4 || exp > precision;
    if (!as_exp) precision -= exp;
    if (neg) *o++ = '-';
    e2 = as_exp ? 0 : exp;
    j = 0;
    if (e2 < 0) {
        *o++ = '0';
    } else {
        for (; e2 >= 0; e2--) *o++ = j < n ? z[j++] : '0';
    }
    dp = precision > 0;
    if (dp) *o++ = '.';
    for (e2++; e2 < 0 && precision > 0; precision--, e2++) *o++ = '0';
    while (precision-- > 0) *o++ = j < n ? z[j++] : '0';
    if (dp) {
        /* Trailing zeros go, then a bare point (the point stops the
         * zeros before the integer part). */
        while (o[-1] == '0') o--;
        if (o[-1] == '.') o--;
    }
    if (as_exp) {
        *o++ = 'e';
        if (exp < 0) {
            *o++ = '-';
            exp = -exp;
        } else {
            *o++ = '+';
        }
        if (exp >= 100) {
            *o++ = (char)('0' + exp / 100);
            exp %= 100;
        }
        *o++ = (char)('0' + exp / 10);
        *o++ = (char)('0' + exp % 10);
    }
    *o = '\0';
    return (size_t)(o - out);
}

/* Element i of the data part, little-endian, as a double. */
static double elem_at(const lsq_vec *v, const float *floats, size_t i)
{
    const unsigned char *b;
    uint64_t u = 0;
    uint32_t w = 0;
    double d;
    float f;

    if (floats != NULL) return floats[i];
    if (v->type == LSQ_VEC_F64) {
        b = v->data + i * 8;
        for (int k = 7; k >= 0; k--) u = (u << 8) | b[k];
        memcpy(&d, &u, 8);
        return d;
    }
    b = v->data + i * 4;
    for (int k = 3; k >= 0; k--) w = (w << 8) | b[k];
    memcpy(&f, &w, 4);
    return f;
}

char *lsq_vec_extract(const lsq_vec *v, size_t *n)
{
    char elem[ELEM_MAX + 1], *out;
    float *floats = NULL;
    size_t len = 0, k, i;

    /* libSQL prints F32 and F64 as they are and every other type as the
     * floats it converts them to. */
    if (v->dims > 0 && v->type != LSQ_VEC_F32 && v->type != LSQ_VEC_F64) {
        floats = sqlite3_malloc64((uint64_t)v->dims * sizeof *floats);
        if (floats == NULL) return NULL;
        lsq_vec_to_floats(v, floats);
    }
    out = sqlite3_malloc64(2 + (uint64_t)v->dims * (ELEM_MAX + 1) + 1);
    if (out == NULL) {
        sqlite3_free(floats);
        return NULL;
    }
    out[len++] = '[';
    for (i = 0; i < v->dims; i++) {
        if (i > 0) out[len++] = ',';
        k = print_g(elem_at(v, floats, i), elem);
        memcpy(out + len, elem, k);
        len += k;
    }
    out[len++] = ']';
    out[len] = '\0';
    sqlite3_free(floats);
    *n = len;
    return out;
}
