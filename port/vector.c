/*
 * vector.c - libSQL's vector blobs (../shared/vectors.md §1), the
 * conversions between the six element types and the distances (§3),
 * computed with libSQL's own arithmetic so that every byte and every float
 * matches the peer (libSQL 0.9.30). The text form is vector_text.c's.
 *
 * Data parts are little-endian and need not be aligned (SQLite hands out
 * blobs at any address), so every element goes through the get/put helpers
 * below. The expressions keep libSQL's types and evaluation order on
 * purpose (float here, double there, where a cast happens, left-to-right
 * sums): changing any of them changes results in the last bit. The build
 * uses -ffp-contract=off so that no multiply-add is fused.
 */
#include "vector.h"

#include <math.h>
#include <sqlite3.h>
#include <string.h>

/* ---- little-endian access ------------------------------------------------ */

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16(unsigned char *p, uint16_t x)
{
    p[0] = (unsigned char)x;
    p[1] = (unsigned char)(x >> 8);
}

static void put32(unsigned char *p, uint32_t x)
{
    p[0] = (unsigned char)x;
    p[1] = (unsigned char)(x >> 8);
    p[2] = (unsigned char)(x >> 16);
    p[3] = (unsigned char)(x >> 24);
}

static uint32_t float_bits(float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_float(uint32_t u)
{
    float f;

    memcpy(&f, &u, sizeof f);
    return f;
}

static float get_f32(const unsigned char *p)
{
    return bits_float(get32(p));
}

static void put_f32(unsigned char *p, float f)
{
    put32(p, float_bits(f));
}

static double get_f64(const unsigned char *p)
{
    uint64_t u = (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
    double d;

    memcpy(&d, &u, sizeof d);
    return d;
}

static void put_f64(unsigned char *p, double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof u);
    put32(p, (uint32_t)u);
    put32(p + 4, (uint32_t)(u >> 32));
}

/* ---- sizes ----------------------------------------------------------------- */

/* Bytes of an F8 vector's quantised elements and their padding. */
static size_t f8_align(unsigned dims)
{
    return ((size_t)dims + 3) / 4 * 4;
}

size_t lsq_vec_data_size(int type, unsigned dims)
{
    switch (type) {
    case LSQ_VEC_F32: return (size_t)dims * 4;
    case LSQ_VEC_F64: return (size_t)dims * 8;
    case LSQ_VEC_1BIT: return ((size_t)dims + 7) / 8;
    case LSQ_VEC_F8: return f8_align(dims) + 8;
    case LSQ_VEC_F16:
    case LSQ_VEC_BF16: return (size_t)dims * 2;
    default: return 0;
    }
}

/* Bytes after the data part: none for F32 (the default type of an
 * even-length blob); a type byte; 1-bit adds its trailing-bit count and,
 * to keep the blob odd, a zero byte when the data part is even; F8 adds a
 * zero byte and its pad count. */
static size_t trailer_size(int type, unsigned dims)
{
    switch (type) {
    case LSQ_VEC_F32: return 0;
    case LSQ_VEC_F64:
    case LSQ_VEC_F16:
    case LSQ_VEC_BF16: return 1;
    case LSQ_VEC_1BIT: return lsq_vec_data_size(type, dims) % 2 == 0 ? 3 : 2;
    case LSQ_VEC_F8: return 3;
    default: return 0;
    }
}

size_t lsq_vec_blob_size(int type, unsigned dims)
{
    return lsq_vec_data_size(type, dims) + trailer_size(type, dims);
}

const char *lsq_vec_type_name(int type)
{
    switch (type) {
    case LSQ_VEC_F32: return "float32";
    case LSQ_VEC_F64: return "float64";
    case LSQ_VEC_1BIT: return "float1bit";
    case LSQ_VEC_F8: return "float8";
    case LSQ_VEC_F16: return "float16";
    case LSQ_VEC_BF16: return "floatb16";
    default: return NULL;
    }
}

/* ---- reading a blob -------------------------------------------------------- */

/* x as libSQL's int sees it: libSQL keeps dimension counts in an int and
 * prints size_t lengths with %d, both of which keep the low 32 bits. */
static int32_t low32(uint64_t x)
{
    uint32_t u = (uint32_t)x;

    /* two's complement without relying on implementation-defined casts */
    return u <= INT32_MAX ? (int32_t)u : (int32_t)(u - 2147483648u) - INT32_MAX - 1;
}

/* libSQL's first look at a blob: its type, its (signed) dimension count
 * and the size of its data part, refusing only what that look refuses
 * (the length rules, an unknown type, more than 65536 dimensions). */
static int blob_shape(const unsigned char *p, size_t len, int *type_out, int32_t *dims_out,
                      size_t *data_out, char **err)
{
    size_t m, data;
    int type;
    int32_t dims;

    *err = NULL;
    if (len % 2 == 0) {
        /* no trailer: FLOAT32, even when len is not a multiple of 4 (the
         * data-size check below refuses that) */
        type = LSQ_VEC_F32;
        dims = low32(len / 4);
        data = len;
    } else {
        type = p[len - 1];
        m = len - 1;
        switch (type) {
        case LSQ_VEC_F32:
            if (m % 4 != 0) {
                *err = sqlite3_mprintf("vector: float32 vector blob length must be divisible by 4 "
                                       "(excluding optional 'type'-byte): length=%d", low32(m));
                return -1;
            }
            dims = low32(m / 4);
            data = m;
            break;
        case LSQ_VEC_F64:
            if (m % 8 != 0) {
                *err = sqlite3_mprintf("vector: float64 vector blob length must be divisible by 8 "
                                       "(excluding 'type'-byte): length=%d", low32(m));
                return -1;
            }
            dims = low32(m / 8);
            data = m;
            break;
        case LSQ_VEC_1BIT:
            if (m == 0 || m % 2 != 0) {
                *err = sqlite3_mprintf("vector: float1bit vector blob length must be divisible by 2 "
                                       "and not be empty (excluding 'type'-byte): length=%d", low32(m));
                return -1;
            }
            /* the trailing-bit count byte is counted in m, as libSQL does */
            dims = low32((uint64_t)m * 8 - p[m - 1]);
            /* libSQL's int division, truncating towards zero, then size_t */
            data = (size_t)(((int64_t)dims + 7) / 8);
            break;
        case LSQ_VEC_F8:
            if (m < 2 || m % 2 != 0) {
                *err = sqlite3_mprintf("vector: float8 vector blob length must be divisible by 2 "
                                       "and has at least 2 bytes (excluding 'type'-byte): length=%d",
                                       low32(m));
                return -1;
            }
            dims = low32((uint64_t)m - 10 - p[m - 1]);
            data = m - 2;
            break;
        case LSQ_VEC_F16:
        case LSQ_VEC_BF16:
            if (m % 2 != 0) {
                *err = sqlite3_mprintf("vector: %s vector blob length must be divisible by 2 "
                                       "(excluding 'type'-byte): length=%d",
                                       lsq_vec_type_name(type), low32(m));
                return -1;
            }
            dims = low32(m / 2);
            data = m;
            break;
        default:
            *err = sqlite3_mprintf("vector: unexpected binary type: %d", type);
            return -1;
        }
    }
    if (dims > LSQ_VEC_MAX_DIMS) {
        *err = sqlite3_mprintf("vector: max size exceeded: %d > %d", (int)dims, LSQ_VEC_MAX_DIMS);
        return -1;
    }
    *type_out = type;
    *dims_out = dims;
    *data_out = data;
    return 0;
}

int lsq_vec_blob_shape(const void *blob, size_t len, int *type, int *dims, char **err)
{
    size_t data;
    int32_t d;

    if (blob_shape(blob, len, type, &d, &data, err) != 0) return -1;
    *dims = (int)d;
    return 0;
}

int lsq_vec_from_blob(const void *blob, size_t len, lsq_vec *v, char **err)
{
    const unsigned char *p = blob;
    size_t data, canonical;
    int type;
    int32_t dims;

    if (blob_shape(p, len, &type, &dims, &data, err) != 0) return -1;
    if (dims < 0) {
        /* libSQL allocates for the dimension count as a u32. For F8 that
         * is always beyond its allocation limit; for 1-bit, (dims + 7) / 8
         * in u32 wraps to 0 for -7..-1 (the conversion that follows then
         * fails to allocate) and to ~512 MiB below, which it allocates and
         * then finds unequal to its own int computation. */
        uint32_t peer_size = ((uint32_t)dims + 7u) / 8u;

        if (type == LSQ_VEC_1BIT && peer_size != (uint32_t)data) {
            *err = sqlite3_mprintf("vector: unexpected data part size: type=%d, dims=%d, %u != %u",
                                   type, (int)dims, (unsigned)(uint32_t)data, (unsigned)peer_size);
            return -1;
        }
        *err = sqlite3_mprintf("out of memory");
        return LSQ_VEC_NOMEM;
    }
    canonical = lsq_vec_data_size(type, (unsigned)dims);
    if (data != canonical) {
        /* libSQL prints both sizes with %u */
        *err = sqlite3_mprintf("vector: unexpected data part size: type=%d, dims=%d, %u != %u", type,
                               (int)dims, (unsigned)(uint32_t)data, (unsigned)(uint32_t)canonical);
        return -1;
    }
    v->type = type;
    v->dims = (unsigned)dims;
    v->data = p;
    return 0;
}

/* ---- element encodings ----------------------------------------------------- */

/* libSQL's half to float: exact, except that a NaN keeps only its sign and
 * the quiet bit (the payload is dropped). */
static float f16_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    int e = (h >> 10) & 0x1f;
    uint32_t m = h & 0x3ff;

    if (e == 31) return bits_float(sign | 0x7f800000u | (m != 0 ? 0x400000u : 0));
    if (e == 0 && m == 0) return bits_float(sign);
    if (e == 0) {
        /* subnormal half: normalise, a normal float holds it exactly */
        int x = -14;

        while ((m & 0x400) == 0) {
            m <<= 1;
            x--;
        }
        return bits_float(sign | (uint32_t)(x + 127) << 23 | (m & 0x3ff) << 13);
    }
    return bits_float(sign | (uint32_t)(e - 15 + 127) << 23 | m << 13);
}

/* libSQL's float to half, which is not IEEE's: the bits shifted out on the
 * way to a subnormal are dropped before rounding (no sticky bit), and
 * E = -25 still rounds from the shifted mantissa. Round to nearest, ties to
 * even on what is left; a carry out of the mantissa bumps the exponent
 * (up to Inf). NaN becomes the quiet NaN with the sign kept. */
static uint16_t f16_from_float(float f)
{
    uint32_t i = float_bits(f);
    uint32_t sign = (i >> 16) & 0x8000;
    int e = (int)((i >> 23) & 0xff) - 127;
    uint32_t m = i & 0x7fffff;
    uint32_t h;

    if (e == 128) {
        e = 16;
        m = (uint32_t)(m != 0) << 22;
    } else if (e > 15) {
        e = 16;
        m = 0;
    } else if (e < -14 && e >= -25) {
        m = (m | 0x800000) >> (-e - 14);
        e = -15;
    } else if (e < -24) {
        e = -15;
        m = 0;
    }
    if ((m & 0x1fff) > 0x1000 - ((m >> 13) & 1)) m += 0x2000;
    h = m >> 13;
    return (uint16_t)(sign | (uint32_t)(e + 15 + (int)(h >> 10)) << 10 | (h & 0x3ff));
}

/* bfloat16 is the float's top half: truncation, so 0x7F800001 (a NaN)
 * becomes 7F80 (Inf), as in libSQL. */
static float bf16_to_float(uint16_t b)
{
    return bits_float((uint32_t)b << 16);
}

static uint16_t bf16_from_float(float f)
{
    return (uint16_t)(float_bits(f) >> 16);
}

static int bit_at(const unsigned char *d, unsigned i)
{
    return (d[i / 8] >> (i % 8)) & 1;
}

void lsq_vec_f8_params(const lsq_vec *v, float *alpha, float *shift)
{
    const unsigned char *p = v->data + f8_align(v->dims);

    *alpha = get_f32(p);
    *shift = get_f32(p + 4);
}

/* Element i of v as the float libSQL converts it to: F64 cast, F16/BF16
 * decoded, 1-bit +-1, F8 alpha*q+shift in float. */
static float elem_float(const lsq_vec *v, unsigned i, float alpha, float shift)
{
    const unsigned char *d = v->data;

    switch (v->type) {
    case LSQ_VEC_F32: return get_f32(d + (size_t)i * 4);
    case LSQ_VEC_F64: return (float)get_f64(d + (size_t)i * 8);
    case LSQ_VEC_1BIT: return bit_at(d, i) ? 1.0f : -1.0f;
    case LSQ_VEC_F8: return alpha * (float)d[i] + shift;
    case LSQ_VEC_F16: return f16_to_float(get16(d + (size_t)i * 2));
    case LSQ_VEC_BF16: return bf16_to_float(get16(d + (size_t)i * 2));
    default: return NAN;
    }
}

/* ---- conversions ----------------------------------------------------------- */

/* libSQL's clip(): f arrives as float, rounds half up through double.
 * A NaN f (alpha 0 or NaN) gives 0, what x86's cvttsd2si makes of libSQL's
 * (int)NaN (INT_MIN, whose low byte is 0). */
static unsigned char f8_quantise(float f)
{
    if (f < 0) return 0;
    if (f > 255) return 255;
    if (isnan(f)) return 0;
    return (unsigned char)(int)((double)f + 0.5);
}

/* Quantises v into out (an F8 data part): min and max with libSQL's
 * MIN/MAX macros from element 0 (a NaN resets them, as `a<b?a:b` does),
 * shift = min, alpha = (max-min)/255, all in float; a F64 source keeps its
 * comparisons and the quotient in double and rounds each to float. */
static void to_f8(const lsq_vec *v, unsigned char *out)
{
    float mn = 0, mx = 0, alpha, shift, a8 = 0, s8 = 0;
    unsigned i, n = v->dims;

    if (v->type == LSQ_VEC_F8) lsq_vec_f8_params(v, &a8, &s8);
    for (i = 0; i < n; i++) {
        if (v->type == LSQ_VEC_F64) {
            double x = get_f64(v->data + (size_t)i * 8);

            if (i == 0) {
                mn = (float)x;
                mx = (float)x;
            } else {
                mn = (float)((double)mn < x ? (double)mn : x);
                mx = (float)((double)mx > x ? (double)mx : x);
            }
        } else {
            float x = elem_float(v, i, a8, s8);

            if (i == 0) {
                mn = x;
                mx = x;
            } else {
                mn = mn < x ? mn : x;
                mx = mx > x ? mx : x;
            }
        }
    }
    shift = mn;
    alpha = (mx - mn) / 255.0f;
    for (i = 0; i < n; i++) {
        float f;

        if (v->type == LSQ_VEC_F64)
            f = (float)((get_f64(v->data + (size_t)i * 8) - (double)shift) / (double)alpha);
        else
            f = (elem_float(v, i, a8, s8) - shift) / alpha;
        out[i] = f8_quantise(f);
    }
    memset(out + n, 0, f8_align(n) - n);
    put_f32(out + f8_align(n), alpha);
    put_f32(out + f8_align(n) + 4, shift);
}

/* The same type: a copy of the data part, except that an F8's pad bytes
 * (uninitialised in libSQL's blobs) are written as zeros. */
static void copy_same(const lsq_vec *v, unsigned char *out)
{
    size_t size = lsq_vec_data_size(v->type, v->dims);

    if (v->type == LSQ_VEC_F8) {
        size_t q = f8_align(v->dims);

        if (v->dims > 0) memcpy(out, v->data, v->dims);
        memset(out + v->dims, 0, q - v->dims);
        memcpy(out + q, v->data + q, 8);
        return;
    }
    if (size > 0) memcpy(out, v->data, size);
}

void lsq_vec_convert(const lsq_vec *v, int to, unsigned char *out)
{
    unsigned i, n = v->dims;
    float a8 = 0, s8 = 0;

    if (to == v->type) {
        copy_same(v, out);
        return;
    }
    if (to == LSQ_VEC_F8) {
        to_f8(v, out);
        return;
    }
    if (v->type == LSQ_VEC_F8) lsq_vec_f8_params(v, &a8, &s8);
    switch (to) {
    case LSQ_VEC_F32:
        for (i = 0; i < n; i++) put_f32(out + (size_t)i * 4, elem_float(v, i, a8, s8));
        break;
    case LSQ_VEC_F64:
        /* every source goes through its float value (1-bit as +-1) */
        for (i = 0; i < n; i++) put_f64(out + (size_t)i * 8, (double)elem_float(v, i, a8, s8));
        break;
    case LSQ_VEC_1BIT:
        memset(out, 0, lsq_vec_data_size(to, n));
        for (i = 0; i < n; i++) {
            /* x > 0: NaN, 0 and -0 give 0; F64 compares in double, so a
             * positive double below float's range still sets its bit */
            int set = v->type == LSQ_VEC_F64 ? get_f64(v->data + (size_t)i * 8) > 0
                                             : elem_float(v, i, a8, s8) > 0;

            if (set) out[i / 8] |= (unsigned char)(1u << (i % 8));
        }
        break;
    case LSQ_VEC_F16:
        for (i = 0; i < n; i++) put16(out + (size_t)i * 2, f16_from_float(elem_float(v, i, a8, s8)));
        break;
    case LSQ_VEC_BF16:
        for (i = 0; i < n; i++) put16(out + (size_t)i * 2, bf16_from_float(elem_float(v, i, a8, s8)));
        break;
    default:
        break;
    }
}

void lsq_vec_write_blob(const lsq_vec *v, int to, unsigned char *out)
{
    size_t data = lsq_vec_data_size(to, v->dims);
    size_t len = data + trailer_size(to, v->dims);

    lsq_vec_convert(v, to, out);
    switch (to) {
    case LSQ_VEC_F64:
    case LSQ_VEC_F16:
    case LSQ_VEC_BF16:
        out[data] = (unsigned char)to;
        break;
    case LSQ_VEC_1BIT:
        if (len - data == 3) out[data] = 0;
        /* bits in the bytes before this one that are not elements */
        out[len - 2] = (unsigned char)(8 * (len - 1) - v->dims);
        out[len - 1] = LSQ_VEC_1BIT;
        break;
    case LSQ_VEC_F8:
        out[data] = 0;
        out[data + 1] = (unsigned char)(f8_align(v->dims) - v->dims);
        out[data + 2] = LSQ_VEC_F8;
        break;
    default:
        break;
    }
}

void lsq_vec_to_floats(const lsq_vec *v, float *out)
{
    unsigned i;
    float a8 = 0, s8 = 0;

    if (v->type == LSQ_VEC_F8) lsq_vec_f8_params(v, &a8, &s8);
    for (i = 0; i < v->dims; i++) out[i] = elem_float(v, i, a8, s8);
}

/* ---- distances ------------------------------------------------------------- */

/* FLOAT32 on its own: what cos_floats and l2_floats do for it, in the
 * same order of operations (so bit for bit the same), without decoding
 * each element through elem_float's switch: exact search spends most of
 * its time here. */
static float cos_f32(const lsq_vec *a, const lsq_vec *b)
{
    const unsigned char *p = a->data, *q = b->data;
    float dot = 0, n1 = 0, n2 = 0;
    unsigned i;

    for (i = 0; i < a->dims; i++) {
        float x = get_f32(p + (size_t)i * 4), y = get_f32(q + (size_t)i * 4);

        dot += x * y;
        n1 += x * x;
        n2 += y * y;
    }
    return (float)(1.0 - (double)dot / sqrt((double)(n1 * n2)));
}

static float l2_f32(const lsq_vec *a, const lsq_vec *b)
{
    const unsigned char *p = a->data, *q = b->data;
    float sum = 0;
    unsigned i;

    for (i = 0; i < a->dims; i++) {
        float d = get_f32(p + (size_t)i * 4) - get_f32(q + (size_t)i * 4);

        sum += d * d;
    }
    return (float)sqrt((double)sum);
}

/* Cosine distance of float elements (F32, F16, BF16): products and sums
 * rounded to float in ascending i, then 1 - dot/sqrt(n1*n2) in double
 * with the product n1*n2 still a float (so it can overflow to Inf). */
static float cos_floats(const lsq_vec *a, const lsq_vec *b)
{
    float dot = 0, n1 = 0, n2 = 0;
    unsigned i;

    for (i = 0; i < a->dims; i++) {
        float x = elem_float(a, i, 0, 0), y = elem_float(b, i, 0, 0);

        dot += x * y;
        n1 += x * x;
        n2 += y * y;
    }
    return (float)(1.0 - (double)dot / sqrt((double)(n1 * n2)));
}

static float l2_floats(const lsq_vec *a, const lsq_vec *b)
{
    float sum = 0;
    unsigned i;

    for (i = 0; i < a->dims; i++) {
        float d = elem_float(a, i, 0, 0) - elem_float(b, i, 0, 0);

        sum += d * d;
    }
    return (float)sqrt((double)sum);
}

/* F64: the same formulas in double, rounded to float at the end. */
static float cos_f64(const lsq_vec *a, const lsq_vec *b)
{
    double dot = 0, n1 = 0, n2 = 0;
    unsigned i;

    for (i = 0; i < a->dims; i++) {
        double x = get_f64(a->data + (size_t)i * 8), y = get_f64(b->data + (size_t)i * 8);

        dot += x * y;
        n1 += x * x;
        n2 += y * y;
    }
    return (float)(1.0 - dot / sqrt(n1 * n2));
}

static float l2_f64(const lsq_vec *a, const lsq_vec *b)
{
    double sum = 0;
    unsigned i;

    for (i = 0; i < a->dims; i++) {
        double d = get_f64(a->data + (size_t)i * 8) - get_f64(b->data + (size_t)i * 8);

        sum += d * d;
    }
    return (float)sqrt(sum);
}

/* F8 cosine from integer sums (exact in u32: 65536 * 255 * 255 < 2^32),
 * expanded as libSQL does: (a1 q1 + s1)(a2 q2 + s2) summed, every term in
 * float and left to right. Not symmetric in its last bit. */
static float cos_f8(const lsq_vec *a, const lsq_vec *b)
{
    float a1, s1, a2, s2, dot, n1, n2, n = (float)a->dims;
    uint32_t sum1 = 0, sum2 = 0, sq1 = 0, sq2 = 0, prod = 0;
    unsigned i;

    lsq_vec_f8_params(a, &a1, &s1);
    lsq_vec_f8_params(b, &a2, &s2);
    for (i = 0; i < a->dims; i++) {
        uint32_t x = a->data[i], y = b->data[i];

        sum1 += x;
        sum2 += y;
        sq1 += x * x;
        sq2 += y * y;
        prod += x * y;
    }
    dot = a1 * a2 * (float)prod + a1 * s2 * (float)sum1 + a2 * s1 * (float)sum2 + s1 * s2 * n;
    n1 = a1 * a1 * (float)sq1 + 2.0f * a1 * s1 * (float)sum1 + s1 * s1 * n;
    n2 = a2 * a2 * (float)sq2 + 2.0f * a2 * s2 * (float)sum2 + s2 * s2 * n;
    return (float)(1.0 - (double)dot / sqrt((double)(n1 * n2)));
}

static float l2_f8(const lsq_vec *a, const lsq_vec *b)
{
    float a1, s1, a2, s2, sum = 0;
    unsigned i;

    lsq_vec_f8_params(a, &a1, &s1);
    lsq_vec_f8_params(b, &a2, &s2);
    for (i = 0; i < a->dims; i++) {
        float d = (a1 * (float)a->data[i] + s1) - (a2 * (float)b->data[i] + s2);

        sum += d * d;
    }
    return (float)sqrt((double)sum);
}

static unsigned popcount8(unsigned x)
{
    x = (x & 0x55) + ((x >> 1) & 0x55);
    x = (x & 0x33) + ((x >> 2) & 0x33);
    return (x & 0x0f) + (x >> 4);
}

/* Hamming distance over every data byte: bits past dims in a hand-made
 * blob count, as in libSQL. */
static float hamming(const lsq_vec *a, const lsq_vec *b)
{
    size_t i, n = lsq_vec_data_size(LSQ_VEC_1BIT, a->dims);
    unsigned diff = 0;

    for (i = 0; i < n; i++) diff += popcount8((unsigned)(a->data[i] ^ b->data[i]));
    return (float)diff;
}

float lsq_vec_distance(int metric, const lsq_vec *a, const lsq_vec *b)
{
    if (metric == LSQ_VEC_COS) {
        switch (a->type) {
        case LSQ_VEC_F32: return cos_f32(a, b);
        case LSQ_VEC_F16:
        case LSQ_VEC_BF16: return cos_floats(a, b);
        case LSQ_VEC_F64: return cos_f64(a, b);
        case LSQ_VEC_F8: return cos_f8(a, b);
        case LSQ_VEC_1BIT: return hamming(a, b);
        default: return NAN;
        }
    }
    if (metric == LSQ_VEC_L2) {
        switch (a->type) {
        case LSQ_VEC_F32: return l2_f32(a, b);
        case LSQ_VEC_F16:
        case LSQ_VEC_BF16: return l2_floats(a, b);
        case LSQ_VEC_F64: return l2_f64(a, b);
        case LSQ_VEC_F8: return l2_f8(a, b);
        default: return NAN;
        }
    }
    return NAN;
}
