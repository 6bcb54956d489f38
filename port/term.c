/*
 * term.c - bounded checking, decoding and encoding of external-format terms.
 *
 * term_check() is the gate every request passes: it walks the term with
 * explicit bounds so that nothing after it can read out of the frame.
 * The decoders below only run on checked buffers.
 */
#include "term.h"
#include "protocol.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define VERSION_MAGIC 131

static uint32_t get_u32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Walk one term at *pos, never past len. Iterates over list and tuple
 * elements; recursion only descends into nested containers, bounded by
 * depth. Returns 0 or -1 (with *why). */
static int check_term(const unsigned char *b, size_t len, size_t *pos,
                      int depth, const char **why)
{
    size_t p = *pos;
    uint64_t n, i;

    if (depth > TERM_MAX_DEPTH) { *why = "term nested too deeply"; return -1; }
    if (p >= len) goto truncated;
    switch (b[p++]) {
    case ERL_SMALL_INTEGER_EXT: n = 1; goto fixed;
    case ERL_INTEGER_EXT: n = 4; goto fixed;
    case NEW_FLOAT_EXT: n = 8; goto fixed;
    case ERL_NIL_EXT: n = 0; goto fixed;
    case ERL_SMALL_ATOM_EXT:
    case ERL_SMALL_ATOM_UTF8_EXT:
        if (p + 1 > len) goto truncated;
        n = b[p]; p += 1; goto fixed;
    case ERL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT:
        if (p + 2 > len) goto truncated;
        n = ((size_t)b[p] << 8) | b[p + 1]; p += 2;
        if (n > 255 * 4) { *why = "atom too long"; return -1; }
        goto fixed;
    case ERL_STRING_EXT:
        if (p + 2 > len) goto truncated;
        n = ((size_t)b[p] << 8) | b[p + 1]; p += 2; goto fixed;
    case ERL_BINARY_EXT:
        if (p + 4 > len) goto truncated;
        n = get_u32(b + p); p += 4; goto fixed;

    case ERL_SMALL_BIG_EXT:
        if (p + 2 > len) goto truncated;
        n = b[p]; p += 2; goto fixed;
    case ERL_LARGE_BIG_EXT:
        if (p + 5 > len) goto truncated;
        n = get_u32(b + p); p += 5; goto fixed;
    case ERL_SMALL_TUPLE_EXT:
        if (p + 1 > len) goto truncated;
        n = b[p]; p += 1; goto elements;
    case ERL_LARGE_TUPLE_EXT:
        if (p + 4 > len) goto truncated;
        n = get_u32(b + p); p += 4; goto elements;
    case ERL_MAP_EXT:
        if (p + 4 > len) goto truncated;
        n = 2 * (uint64_t)get_u32(b + p); p += 4; goto elements;
    case ERL_LIST_EXT:
        if (p + 4 > len) goto truncated;
        n = (uint64_t)get_u32(b + p) + 1; /* elements, then the tail */
        p += 4; goto elements;
    default:
        /* Pids, refs, funs, compressed terms; also the old FLOAT_EXT
         * (ei_decode_double reads it with sscanf past its 31 bytes) and
         * bit strings (ei sizes a malformed one differently from its
         * header): term_to_binary never sends either in a request. */
        *why = "unsupported term type";
        return -1;
    }
fixed:
    if (n > len - p) goto truncated;
    *pos = p + n;
    return 0;
elements:
    /* Every element takes at least one byte: reject impossible counts
     * before looping over them. */
    if (n > len - p) goto truncated;
    for (i = 0; i < n; i++)
        if (check_term(b, len, &p, depth + 1, why) != 0) return -1;
    *pos = p;
    return 0;
truncated:
    *why = "truncated term";
    return -1;
}

int term_check(const char *buf, size_t len, const char **why)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t pos = 1;

    if (len > INT32_MAX) { *why = "frame too large for ei"; return -1; }
    if (len < 2 || b[0] != VERSION_MAGIC) { *why = "not an external term"; return -1; }
    if (check_term(b, len, &pos, 0, why) != 0) return -1;
    if (pos != len) { *why = "trailing bytes after term"; return -1; }
    return 0;
}

long term_peek_ref(const char *buf, size_t len)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t p;
    uint32_t v;

    if (len < 3 || b[0] != VERSION_MAGIC) return LSQ_REF_UNKNOWN;
    if (b[1] == ERL_SMALL_TUPLE_EXT) p = 3;
    else if (b[1] == ERL_LARGE_TUPLE_EXT) p = 6;
    else return LSQ_REF_UNKNOWN;
    if (p >= len) return LSQ_REF_UNKNOWN;
    if (b[p] == ERL_SMALL_INTEGER_EXT && p + 1 < len) {
        v = b[p + 1];
    } else if (b[p] == ERL_INTEGER_EXT && p + 4 < len) {
        v = get_u32(b + p + 1);
    } else {
        return LSQ_REF_UNKNOWN;
    }
    if (v == 0 || v > (uint32_t)LSQ_REF_MAX) return LSQ_REF_UNKNOWN;
    return (long)v;
}

int term_parse_request(const char *buf, size_t len, lsq_request *req,
                       const char **why)
{
    int idx = 0, ver, arity, type, size;
    long long ref;

    memset(req, 0, sizeof *req);
    req->buf = buf;
    req->len = len;
    req->ref = term_peek_ref(buf, len);
    if (ei_decode_version(buf, &idx, &ver) != 0 ||
        ei_get_type(buf, &idx, &type, &size) != 0 ||
        (type != ERL_SMALL_TUPLE_EXT && type != ERL_LARGE_TUPLE_EXT) ||
        ei_decode_tuple_header(buf, &idx, &arity) != 0) {
        *why = "request is not a tuple";
        return -1;
    }
    if (arity < 2) { *why = "request tuple too short"; return -1; }
    if (term_decode_int(buf, &idx, &ref) != 0 || ref < 1 || ref > LSQ_REF_MAX) {
        *why = "request ref is not an integer in 1..2^31-1";
        return -1;
    }
    req->ref = (long)ref;
    if (ei_get_type(buf, &idx, &type, &size) != 0 ||
        (type != ERL_ATOM_EXT && type != ERL_SMALL_ATOM_EXT &&
         type != ERL_ATOM_UTF8_EXT && type != ERL_SMALL_ATOM_UTF8_EXT)) {
        *why = "command is not an atom";
        return -1;
    }
    if (size >= LSQ_CMD_MAX) {
        /* No such command: keep a name that says so and matches none. */
        if (ei_skip_term(buf, &idx) != 0) {
            *why = "command is not an atom";
            return -1;
        }
        (void)snprintf(req->cmd, sizeof req->cmd, "(an atom of %d bytes)", size);
    } else if (ei_decode_atom(buf, &idx, req->cmd) != 0) {
        *why = "command is not an atom";
        return -1;
    }
    req->nargs = arity - 2;
    req->idx = idx;
    return 0;
}

int term_decode_int(const char *buf, int *idx, long long *out)
{
    const unsigned char *b = (const unsigned char *)buf + *idx;
    uint64_t mag = 0;
    unsigned n, i;

    switch (b[0]) {
    case ERL_SMALL_INTEGER_EXT:
        *out = b[1];
        *idx += 2;
        return 0;
    case ERL_INTEGER_EXT:
        *out = (int32_t)get_u32(b + 1);
        *idx += 5;
        return 0;
    case ERL_SMALL_BIG_EXT:
        n = b[1];
        if (n > 8) return -1;
        for (i = 0; i < n; i++) mag |= (uint64_t)b[3 + i] << (8 * i);
        if (b[2] == 0) {
            if (mag > (uint64_t)INT64_MAX) return -1;
            *out = (long long)mag;
        } else {
            if (mag > (uint64_t)INT64_MAX + 1) return -1;
            *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(long long)mag;
        }
        *idx += 3 + (int)n;
        return 0;
    default:
        return -1;
    }
}

int term_decode_binary(const char *buf, int *idx, const char **p, size_t *n)
{
    const unsigned char *b = (const unsigned char *)buf + *idx;

    if (b[0] != ERL_BINARY_EXT) return -1;
    *n = get_u32(b + 1);
    *p = buf + *idx + 5;
    *idx += 5 + (int)*n;
    return 0;
}

int term_decode_bool(const char *buf, int *idx, int *out)
{
    char atom[MAXATOMLEN_UTF8];
    int i = *idx, type, size;

    if (ei_get_type(buf, &i, &type, &size) != 0 ||
        (type != ERL_ATOM_EXT && type != ERL_SMALL_ATOM_EXT &&
         type != ERL_ATOM_UTF8_EXT && type != ERL_SMALL_ATOM_UTF8_EXT) ||
        ei_decode_atom(buf, &i, atom) != 0)
        return -1;
    if (strcmp(atom, "true") == 0) *out = 1;
    else if (strcmp(atom, "false") == 0) *out = 0;
    else return -1;
    *idx = i;
    return 0;
}

int term_decode_value(const char *buf, int *idx, lsq_value *v, const char **why)
{
    char atom[MAXATOMLEN_UTF8];
    int i = *idx, type, size, arity;

    if (ei_get_type(buf, &i, &type, &size) != 0) goto unsupported;
    switch (type) {
    case ERL_SMALL_INTEGER_EXT:
    case ERL_INTEGER_EXT:
    case ERL_SMALL_BIG_EXT:
    case ERL_LARGE_BIG_EXT:
        v->type = LSQ_INT;
        if (term_decode_int(buf, &i, &v->u.i) != 0) {
            *why = "integer out of the 64-bit signed range";
            return -1;
        }
        break;
    case NEW_FLOAT_EXT:
    case ERL_FLOAT_EXT:
        /* ei_get_type reports NEW_FLOAT_EXT as ERL_FLOAT_EXT, so the second
         * label is the live one; the old text FLOAT_EXT never gets here
         * (term_check refuses it). */
        v->type = LSQ_REAL;
        if (ei_decode_double(buf, &i, &v->u.r) != 0) goto unsupported;
        if (isnan(v->u.r)) { *why = "NaN cannot be stored"; return -1; }
        break;
    case ERL_BINARY_EXT:
        v->type = LSQ_TEXT;
        if (term_decode_binary(buf, &i, &v->u.s.p, &v->u.s.n) != 0) goto unsupported;
        break;
    case ERL_ATOM_EXT:
    case ERL_SMALL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT:
    case ERL_SMALL_ATOM_UTF8_EXT:
        if (ei_decode_atom(buf, &i, atom) != 0) goto unsupported;
        if (strcmp(atom, "null") == 0) v->type = LSQ_NULL;
        else if (strcmp(atom, "infinity") == 0) { v->type = LSQ_REAL; v->u.r = INFINITY; }
        else if (strcmp(atom, "neg_infinity") == 0) { v->type = LSQ_REAL; v->u.r = -INFINITY; }
        else goto unsupported;
        break;
    case ERL_SMALL_TUPLE_EXT:
        if (ei_decode_tuple_header(buf, &i, &arity) != 0 || arity != 2 ||
            ei_decode_atom(buf, &i, atom) != 0 || strcmp(atom, "blob") != 0)
            goto unsupported;
        v->type = LSQ_BLOB;
        if (term_decode_binary(buf, &i, &v->u.s.p, &v->u.s.n) != 0) goto unsupported;
        break;
    default:
        goto unsupported;
    }
    *idx = i;
    return 0;
unsupported:
    *why = "unsupported value";
    return -1;
}

int term_reply_begin(ei_x_buff *x, long ref, const char *tag)
{
    /* {Ref, Tag, _}: the ref is always a 4-byte INTEGER_EXT so that the
     * connection process can read it with one binary match. */
    char head[8] = { (char)VERSION_MAGIC, ERL_SMALL_TUPLE_EXT, 3, ERL_INTEGER_EXT,
                     (char)((ref >> 24) & 0xff), (char)((ref >> 16) & 0xff),
                     (char)((ref >> 8) & 0xff), (char)(ref & 0xff) };

    x->index = 0;
    if (ei_x_append_buf(x, head, (int)sizeof head) != 0) return -1;
    return ei_x_encode_atom(x, tag);
}

int term_encode_binary(ei_x_buff *x, const void *p, size_t n)
{
    if (n > INT32_MAX) return -1;
    return ei_x_encode_binary(x, n ? p : "", (long)n);
}

/* What SQL NULL reads back as (term_set_null_atom). */
static const char *null_atom = "null";

void term_set_null_atom(const char *name)
{
    null_atom = name != NULL ? name : "null";
}

int term_encode_value(ei_x_buff *x, const lsq_value *v)
{
    switch (v->type) {
    case LSQ_NULL:
        return ei_x_encode_atom(x, null_atom);
    case LSQ_INT:
        return ei_x_encode_longlong(x, v->u.i);
    case LSQ_REAL:
        if (isinf(v->u.r))
            return ei_x_encode_atom(x, v->u.r > 0 ? "infinity" : "neg_infinity");
        if (isnan(v->u.r)) /* SQLite never yields NaN; be safe anyway */
            return ei_x_encode_atom(x, null_atom);
        return ei_x_encode_double(x, v->u.r);
    case LSQ_TEXT:
        return term_encode_binary(x, v->u.s.p, v->u.s.n);
    case LSQ_BLOB:
        if (ei_x_encode_tuple_header(x, 2) != 0 || ei_x_encode_atom(x, "blob") != 0)
            return -1;
        return term_encode_binary(x, v->u.s.p, v->u.s.n);
    }
    return -1;
}

int term_reserve(ei_x_buff *x, size_t need)
{
    size_t want = (size_t)x->index + need, size;
    char *p;

    if (want <= (size_t)x->buffsz) return 0;
    if (want > INT32_MAX) return -1;
    size = (size_t)x->buffsz * 2;
    if (size < want) size = want + 4096;
    if (size > INT32_MAX) size = INT32_MAX;
    p = realloc(x->buff, size);
    if (p == NULL) return -1;
    x->buff = p;
    x->buffsz = (int)size;
    return 0;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Upper bound of the encoded size of a value. */
static size_t value_size(const lsq_value *v)
{
    switch (v->type) {
    case LSQ_INT: return 11;                /* SMALL_BIG with 8 bytes */
    case LSQ_REAL: return 15;               /* float, or an atom for +-inf or NaN */
    case LSQ_TEXT: return 5 + v->u.s.n;
    case LSQ_BLOB: return 2 + 6 + 5 + v->u.s.n;
    default: return 2 + strlen(null_atom);  /* the atom for NULL */
    }
}

static unsigned char *put_atom(unsigned char *p, const char *name)
{
    size_t n = strlen(name);

    *p++ = ERL_SMALL_ATOM_UTF8_EXT;
    *p++ = (unsigned char)n;
    memcpy(p, name, n);
    return p + n;
}

static unsigned char *put_binary(unsigned char *p, const char *data, size_t n)
{
    *p++ = ERL_BINARY_EXT;
    put_u32(p, (uint32_t)n);
    if (n) memcpy(p + 4, data, n);
    return p + 4 + n;
}

static unsigned char *put_value(unsigned char *p, const lsq_value *v)
{
    unsigned long long mag;
    uint64_t bits;
    int k;

    switch (v->type) {
    case LSQ_INT:
        if (v->u.i >= 0 && v->u.i <= 255) {
            *p++ = ERL_SMALL_INTEGER_EXT;
            *p++ = (unsigned char)v->u.i;
        } else if (v->u.i >= INT32_MIN && v->u.i <= INT32_MAX) {
            *p++ = ERL_INTEGER_EXT;
            put_u32(p, (uint32_t)(int32_t)v->u.i);
            p += 4;
        } else {
            mag = v->u.i < 0 ? 0ULL - (unsigned long long)v->u.i : (unsigned long long)v->u.i;
            *p++ = ERL_SMALL_BIG_EXT;
            for (k = 0; k < 8 && (mag >> (8 * k)) != 0; k++) {}
            *p++ = (unsigned char)k;
            *p++ = v->u.i < 0;
            for (int b = 0; b < k; b++) *p++ = (unsigned char)(mag >> (8 * b));
        }
        return p;
    case LSQ_REAL:
        if (isinf(v->u.r)) return put_atom(p, v->u.r > 0 ? "infinity" : "neg_infinity");
        if (isnan(v->u.r)) return put_atom(p, null_atom);
        memcpy(&bits, &v->u.r, sizeof bits);
        *p++ = NEW_FLOAT_EXT;
        put_u32(p, (uint32_t)(bits >> 32));
        put_u32(p + 4, (uint32_t)bits);
        return p + 8;
    case LSQ_TEXT:
        return put_binary(p, v->u.s.p, v->u.s.n);
    case LSQ_BLOB:
        *p++ = ERL_SMALL_TUPLE_EXT;
        *p++ = 2;
        p = put_atom(p, "blob");
        return put_binary(p, v->u.s.p, v->u.s.n);
    default:
        return put_atom(p, null_atom);
    }
}

int term_encode_row_cell(ei_x_buff *x, const lsq_value *v, int n)
{
    size_t need = 5 + 5, i;
    unsigned char *p, *start;

    for (i = 0; i < (size_t)n; i++) {
        if (v[i].type == LSQ_TEXT || v[i].type == LSQ_BLOB) {
            if (v[i].u.s.n > INT32_MAX) return -1;
        }
        need += value_size(&v[i]);
    }
    if (term_reserve(x, need) != 0) return -1;
    start = p = (unsigned char *)x->buff + x->index;
    *p++ = ERL_LIST_EXT;                /* a cons cell: [Row | Tail] */
    put_u32(p, 1);
    p += 4;
    if (n <= 255) {
        *p++ = ERL_SMALL_TUPLE_EXT;
        *p++ = (unsigned char)n;
    } else {
        *p++ = ERL_LARGE_TUPLE_EXT;
        put_u32(p, (uint32_t)n);
        p += 4;
    }
    for (i = 0; i < (size_t)n; i++) p = put_value(p, &v[i]);
    x->index += (int)(p - start);
    return 0;
}
