/*
 * test_vector.c - tests of the vector core (vector.c): sizes and type
 * names; every blob, conversion and distance example of vectors.md's
 * Appendix (constructors on [1,2,3], [] and [0.1], the FLOAT16 edge list,
 * 1-bit and FLOAT8 layouts, the distance table, NaN where the peer returns
 * NULL, the error texts of bad blobs); then the peer-computed table of
 * vector_peer_cases.h (conversions, distances, error texts), each case read
 * and written at an unaligned address too.
 *
 * Vectors are built from C floats and doubles, not text, so that these
 * tests do not depend on vector_text.c: vector32('[0.1]') is (float)0.1,
 * vector64('[0.1]') the double 0.1.
 */
#include "test_util.h"
#include "vector.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "vector_peer_cases.h"

/* ---- helpers ------------------------------------------------------------ */

/* Upper-case hex of n bytes: sqlite3_malloc'd (NULL when out of memory). */
static char *hex_of(const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789ABCDEF";
    char *out = sqlite3_malloc64(2 * n + 1);
    size_t i;

    if (out == NULL) return NULL;
    for (i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Decodes hex into a malloc'd buffer, at offset `skew` (to test unaligned
 * data) with one spare byte so that an empty blob still has an address;
 * *n its length. The caller frees the returned base. NULL when malformed
 * or out of memory. */
static unsigned char *unhex(const char *hex, size_t skew, size_t *n)
{
    size_t len = strlen(hex), i;
    unsigned char *base;

    if (len % 2 != 0) return NULL;
    base = malloc(len / 2 + skew + 1);
    if (base == NULL) return NULL;
    for (i = 0; i < len / 2; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            free(base);
            return NULL;
        }
        base[skew + i] = (unsigned char)(hi << 4 | lo);
    }
    *n = len / 2;
    return base;
}

/* The float blob (FLOAT32 data part, little-endian) of n floats. */
static void f32_blob(const float *x, unsigned n, unsigned char *out)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        uint32_t u;

        memcpy(&u, &x[i], 4);
        out[4 * i] = (unsigned char)u;
        out[4 * i + 1] = (unsigned char)(u >> 8);
        out[4 * i + 2] = (unsigned char)(u >> 16);
        out[4 * i + 3] = (unsigned char)(u >> 24);
    }
}

/* The FLOAT64 blob (data part and type byte) of n doubles. */
static void f64_blob(const double *x, unsigned n, unsigned char *out)
{
    unsigned i, k;

    for (i = 0; i < n; i++) {
        uint64_t u = dbl_bits(x[i]);

        for (k = 0; k < 8; k++) out[8 * i + k] = (unsigned char)(u >> (8 * k));
    }
    out[8 * n] = LSQ_VEC_F64;
}

/* Whether converting v to type `to` gives the blob whose hex is want. */
static int write_is(const lsq_vec *v, int to, const char *want)
{
    size_t n = lsq_vec_blob_size(to, v->dims);
    unsigned char *out = malloc(n + 1);
    char *hex;
    int ok;

    if (out == NULL) return 0;
    lsq_vec_write_blob(v, to, out);
    hex = hex_of(out, n);
    ok = hex != NULL && strcmp(hex, want) == 0;
    sqlite3_free(hex);
    free(out);
    return ok;
}

/* A view of the F32 vector x[0..n-1] in buf (4n bytes). */
static lsq_vec f32_vec(const float *x, unsigned n, unsigned char *buf)
{
    lsq_vec v = { LSQ_VEC_F32, n, buf };

    f32_blob(x, n, buf);
    return v;
}

/* Whether reading the blob of hex gives an error with exactly this text
 * (and rc -1, or LSQ_VEC_NOMEM for "out of memory"). */
static int blob_error_is(const char *hex, const char *want)
{
    size_t n;
    unsigned char *b = unhex(hex, 0, &n);
    lsq_vec v;
    char *err = NULL;
    int rc, ok;

    if (b == NULL) return 0;
    rc = lsq_vec_from_blob(b, n, &v, &err);
    ok = err != NULL && strcmp(err, want) == 0 &&
         rc == (strcmp(want, "out of memory") == 0 ? LSQ_VEC_NOMEM : -1);
    sqlite3_free(err);
    free(b);
    return ok;
}

/* ---- sizes and names ---------------------------------------------------- */

static void test_vec_sizes(void)
{
    CHECK(lsq_vec_data_size(LSQ_VEC_F32, 3) == 12 && lsq_vec_blob_size(LSQ_VEC_F32, 3) == 12);
    CHECK(lsq_vec_data_size(LSQ_VEC_F64, 3) == 24 && lsq_vec_blob_size(LSQ_VEC_F64, 3) == 25);
    CHECK(lsq_vec_data_size(LSQ_VEC_F16, 3) == 6 && lsq_vec_blob_size(LSQ_VEC_F16, 3) == 7);
    CHECK(lsq_vec_data_size(LSQ_VEC_BF16, 3) == 6 && lsq_vec_blob_size(LSQ_VEC_BF16, 3) == 7);
    /* 1-bit: a zero byte keeps the blob odd when the data part is even */
    CHECK(lsq_vec_data_size(LSQ_VEC_1BIT, 0) == 0 && lsq_vec_blob_size(LSQ_VEC_1BIT, 0) == 3);
    CHECK(lsq_vec_data_size(LSQ_VEC_1BIT, 8) == 1 && lsq_vec_blob_size(LSQ_VEC_1BIT, 8) == 3);
    CHECK(lsq_vec_data_size(LSQ_VEC_1BIT, 9) == 2 && lsq_vec_blob_size(LSQ_VEC_1BIT, 9) == 5);
    /* F8: elements padded to 4, alpha and shift, then 00, pad count, 04 */
    CHECK(lsq_vec_data_size(LSQ_VEC_F8, 0) == 8 && lsq_vec_blob_size(LSQ_VEC_F8, 0) == 11);
    CHECK(lsq_vec_data_size(LSQ_VEC_F8, 3) == 12 && lsq_vec_blob_size(LSQ_VEC_F8, 3) == 15);
    CHECK(lsq_vec_data_size(LSQ_VEC_F8, 8) == 16);
    CHECK(lsq_vec_data_size(LSQ_VEC_F32, LSQ_VEC_MAX_DIMS) == 262144);
    CHECK(lsq_vec_data_size(7, 3) == 0 && lsq_vec_data_size(0, 3) == 0);

    CHECK(strcmp(lsq_vec_type_name(LSQ_VEC_F32), "float32") == 0);
    CHECK(strcmp(lsq_vec_type_name(LSQ_VEC_F64), "float64") == 0);
    CHECK(strcmp(lsq_vec_type_name(LSQ_VEC_1BIT), "float1bit") == 0);
    CHECK(strcmp(lsq_vec_type_name(LSQ_VEC_F8), "float8") == 0);
    CHECK(strcmp(lsq_vec_type_name(LSQ_VEC_F16), "float16") == 0);
    CHECK(strcmp(lsq_vec_type_name(LSQ_VEC_BF16), "floatb16") == 0);
    CHECK(lsq_vec_type_name(0) == NULL && lsq_vec_type_name(7) == NULL);
}

/* ---- constructors (Appendix) -------------------------------------------- */

static void test_vec_constructors(void)
{
    static const float k123[] = { 1, 2, 3 };
    static const double k123d[] = { 1, 2, 3 };
    const float k01 = (float)0.1;
    const double k01d = 0.1;
    unsigned char buf[32], dbuf[32];
    lsq_vec v = f32_vec(k123, 3, buf), d = { LSQ_VEC_F64, 3, dbuf };

    /* [1,2,3] */
    f64_blob(k123d, 3, dbuf);
    CHECK(write_is(&v, LSQ_VEC_F32, "0000803F0000004000004040"));
    CHECK(write_is(&d, LSQ_VEC_F64, "000000000000F03F0000000000000040000000000000084002"));
    CHECK(write_is(&v, LSQ_VEC_F64, "000000000000F03F0000000000000040000000000000084002"));
    CHECK(write_is(&v, LSQ_VEC_F16, "003C0040004205"));
    CHECK(write_is(&v, LSQ_VEC_BF16, "803F0040404006"));
    /* the peer's pad byte is uninitialised (69, or 00); ours is 00 */
    CHECK(write_is(&v, LSQ_VEC_F8, "007FFF008180003C0000803F000104"));
    CHECK(write_is(&v, LSQ_VEC_1BIT, "070D03"));
    CHECK(write_is(&d, LSQ_VEC_F16, "003C0040004205"));

    /* [] */
    v = f32_vec(k123, 0, buf);
    d.dims = 0;
    f64_blob(k123d, 0, dbuf);
    CHECK(write_is(&v, LSQ_VEC_F32, ""));
    CHECK(write_is(&v, LSQ_VEC_F64, "02"));
    CHECK(write_is(&v, LSQ_VEC_F16, "05"));
    CHECK(write_is(&v, LSQ_VEC_BF16, "06"));
    CHECK(write_is(&v, LSQ_VEC_F8, "0000000000000000000004"));
    CHECK(write_is(&v, LSQ_VEC_1BIT, "001003"));
    CHECK(write_is(&d, LSQ_VEC_F8, "0000000000000000000004"));

    /* [0.1]: vector64 parses the double, the others the float */
    v = f32_vec(&k01, 1, buf);
    d.dims = 1;
    f64_blob(&k01d, 1, dbuf);
    CHECK(write_is(&v, LSQ_VEC_F32, "CDCCCC3D"));
    CHECK(write_is(&d, LSQ_VEC_F64, "9A9999999999B93F02"));
    CHECK(write_is(&v, LSQ_VEC_F64, "000000A09999B93F02"));
    CHECK(write_is(&v, LSQ_VEC_F16, "662E05"));
    CHECK(write_is(&v, LSQ_VEC_BF16, "CC3D06"));
    CHECK(write_is(&v, LSQ_VEC_F8, "00000000" "00000000" "CDCCCC3D" "000304"));
    CHECK(write_is(&v, LSQ_VEC_1BIT, "010F03"));
    /* and the double's own conversions round through float */
    CHECK(write_is(&d, LSQ_VEC_F32, "CDCCCC3D"));
    CHECK(write_is(&d, LSQ_VEC_BF16, "CC3D06"));
}

/* FLOAT16's non-IEEE rounding (Appendix): 65520 overflows to Inf, and the
 * bits shifted out on the way to a subnormal are lost, so 2.98e-8 and
 * 2.9802326e-8 (IEEE: the smallest subnormal) give 0. */
static void test_vec_f16_edges(void)
{
    static const float k[] = { 0.1f, 65504.0f, 65520.0f, 1e-7f, 6e-8f, 3e-8f, 2.98e-8f };
    const float tiny = 2.9802326e-8f;
    unsigned char buf[64];
    lsq_vec v = f32_vec(k, 7, buf);
    static const float specials[] = { -0.0f, INFINITY, -INFINITY, NAN, 65519.0f, -65504.0f };
    float back[6];

    CHECK(write_is(&v, LSQ_VEC_F16, "662EFF7B007C020001000100000005"));
    v = f32_vec(&tiny, 1, buf);
    CHECK(write_is(&v, LSQ_VEC_F16, "000005"));
    v = f32_vec(specials, 6, buf);
    CHECK(write_is(&v, LSQ_VEC_F16, "0080007C00FC007EFF7BFFFB05"));
    /* half to float is exact: the halves read back as the halves' values */
    {
        static const unsigned char halves[] = { 0x01, 0x00, 0xFF, 0x7B, 0x00, 0xFC, 0x00, 0x80, 0x00, 0x04, 0xFF, 0x03 };
        lsq_vec h = { LSQ_VEC_F16, 6, halves };

        lsq_vec_to_floats(&h, back);
        CHECK(back[0] == 5.9604645e-8f && back[1] == 65504.0f && back[2] == -INFINITY);
        CHECK(back[3] == 0 && signbit(back[3]) && back[4] == 6.1035156e-5f);
        CHECK(back[5] == 6.0975552e-5f);
    }
    /* ... except NaN: libSQL keeps the sign and the quiet bit only
     * (vector32(x'017C05') is 0000C07F, vector64 of it 000000000000F87F02) */
    {
        static const unsigned char nans[] = { 0x01, 0x7C, 0x01, 0xFE, 0x05 };
        lsq_vec h;
        char *err = NULL;

        CHECK(lsq_vec_from_blob(nans, sizeof nans, &h, &err) == 0 && h.dims == 2);
        CHECK(write_is(&h, LSQ_VEC_F32, "0000C07F0000C0FF"));
        CHECK(write_is(&h, LSQ_VEC_F64, "000000000000F87F000000000000F8FF02"));
    }
}

/* BFLOAT16 truncates: 0.1 -> 3DCC, and the NaN 0x7F800001 becomes Inf. */
static void test_vec_bf16(void)
{
    static const unsigned char nan_payload[] = { 0x01, 0x00, 0x80, 0x7F, 0x01 };
    static const unsigned char round_up[] = { 0xFF, 0xFF, 0x7F, 0x3F, 0x01 };
    lsq_vec v;
    char *err = NULL;

    CHECK(lsq_vec_from_blob(nan_payload, sizeof nan_payload, &v, &err) == 0 && err == NULL);
    CHECK(v.type == LSQ_VEC_F32 && v.dims == 1);
    CHECK(write_is(&v, LSQ_VEC_BF16, "807F06"));
    /* 0.99999994 would round to 1.0 (3F80); truncation keeps 3F7F */
    CHECK(lsq_vec_from_blob(round_up, sizeof round_up, &v, &err) == 0);
    CHECK(write_is(&v, LSQ_VEC_BF16, "7F3F06"));
}

/* 1-bit: x > 0 sets bit i%8 of byte i/8; back as +-1; the trailer counts
 * the unused bits; garbage bits of a hand-made blob survive and count. */
static void test_vec_1bit(void)
{
    static const float k[] = { 1, -1, 1, 1, -1, -1, -1, -1, 1 };
    static const float zeros[] = { 0.0f, -0.0f, NAN, 1e-45f };
    static const unsigned char garbage[] = { 0xFF, 0x09, 0x03 };
    static const unsigned char a[] = { 0xFF, 0x0D, 0x03 }, b[] = { 0x07, 0x0D, 0x03 };
    static const unsigned char wide[] = { 0xFF, 0xFF, 0x00, 0x00, 0x03 };
    unsigned char buf[64];
    lsq_vec v = f32_vec(k, 9, buf), va, vb;
    float out[32];
    char *err = NULL;
    unsigned i;

    CHECK(write_is(&v, LSQ_VEC_1BIT, "0D01001703"));
    v = f32_vec(zeros, 4, buf);
    CHECK(write_is(&v, LSQ_VEC_1BIT, "080C03"));

    /* from FLOAT64 the comparison is in double: 1e-300 sets its bit
     * (vector1bit(vector64('[1e-300,-1e-300,0]')) is 010D03) */
    {
        static const double tiny[] = { 1e-300, -1e-300, 0 };
        unsigned char d[32];
        lsq_vec vd = { LSQ_VEC_F64, 3, d };

        f64_blob(tiny, 3, d);
        CHECK(write_is(&vd, LSQ_VEC_1BIT, "010D03"));
        CHECK(write_is(&vd, LSQ_VEC_F16, "000000800000" "05"));
    }

    /* x'FF0903': 7 dims, the 8th bit is garbage */
    CHECK(lsq_vec_from_blob(garbage, sizeof garbage, &v, &err) == 0);
    CHECK(v.type == LSQ_VEC_1BIT && v.dims == 7);
    lsq_vec_to_floats(&v, out);
    for (i = 0; i < 7; i++) CHECK(out[i] == 1.0f);
    CHECK(write_is(&v, LSQ_VEC_1BIT, "FF0903"));
    CHECK(write_is(&v, LSQ_VEC_F16, "003C003C003C003C003C003C003C05"));
    CHECK(write_is(&v, LSQ_VEC_BF16, "803F803F803F803F803F803F803F06"));

    /* vector_distance_cos(x'FF0D03', x'070D03') = 5: 3 dims, 5 garbage bits */
    CHECK(lsq_vec_from_blob(a, sizeof a, &va, &err) == 0 && va.dims == 3);
    CHECK(lsq_vec_from_blob(b, sizeof b, &vb, &err) == 0 && vb.dims == 3);
    CHECK(lsq_vec_distance(LSQ_VEC_COS, &va, &vb) == 5.0f);
    CHECK(isnan(lsq_vec_distance(LSQ_VEC_L2, &va, &vb)));

    /* the trailer byte is counted in the length: x'FFFF000003' is 32
     * dims over FF FF 00 00, the last two bytes being its own trailer */
    CHECK(lsq_vec_from_blob(wide, sizeof wide, &v, &err) == 0 && v.dims == 32);
    lsq_vec_to_floats(&v, out);
    CHECK(out[15] == 1.0f && out[16] == -1.0f && out[31] == -1.0f);
    CHECK(write_is(&v, LSQ_VEC_1BIT, "FFFF0000001003"));
    CHECK(err == NULL);
}

/* FLOAT8: q, pad, alpha, shift, 00, pad count, 04; alpha*q+shift back. */
static void test_vec_f8(void)
{
    static const float k[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    static const float same[] = { 2, 2, 2 };
    static const float with_nan[] = { NAN, 1, 2 };
    unsigned char buf[64], f8[64];
    lsq_vec v = f32_vec(k, 8, buf), q;
    float alpha, shift, out[8];

    CHECK(write_is(&v, LSQ_VEC_F8, "0024496D92B6DBFFE1E0E03C0000803F000004"));
    lsq_vec_convert(&v, LSQ_VEC_F8, f8);
    q.type = LSQ_VEC_F8;
    q.dims = 8;
    q.data = f8;
    lsq_vec_f8_params(&q, &alpha, &shift);
    CHECK(alpha == 7.0f / 255.0f && shift == 1.0f);
    lsq_vec_to_floats(&q, out);
    CHECK(out[0] == 1.0f && out[7] == alpha * 255.0f + 1.0f);
    /* all equal: alpha 0, (x-shift)/alpha is NaN, quantised to 0 */
    v = f32_vec(same, 3, buf);
    CHECK(write_is(&v, LSQ_VEC_F8, "0000000000000000" "00000040" "000104"));
    /* a NaN element 0 is replaced by the next one as min and max */
    v = f32_vec(with_nan, 3, buf);
    CHECK(write_is(&v, LSQ_VEC_F8, "0000FF00" "8180803B" "0000803F" "000104"));
    /* converting to its own type keeps alpha/shift and zeroes the pad */
    {
        static const unsigned char own[] = { 0x00, 0x7F, 0xFF, 0x69, 0x81, 0x80, 0x00, 0x3C,
                                             0x00, 0x00, 0x80, 0x3F, 0x00, 0x01, 0x04 };
        lsq_vec o;
        char *err = NULL;

        CHECK(lsq_vec_from_blob(own, sizeof own, &o, &err) == 0 && o.dims == 3);
        CHECK(write_is(&o, LSQ_VEC_F8, "007FFF008180003C0000803F000104"));
        /* 127 * alpha + 1 is 1.99609375, not 2 */
        CHECK(write_is(&o, LSQ_VEC_F32, "0000803F807FFF3F00004040"));
    }
}

/* ---- distances (Appendix table) ----------------------------------------- */

/* The distance between x and y (n floats) converted to `type`, the F64
 * case built from the doubles xd, yd (vector64 parses doubles). */
static float dist_as(int metric, int type, const float *x, const float *y, const double *xd,
                     const double *yd, unsigned n)
{
    unsigned char bx[64], by[64], cx[80], cy[80];
    lsq_vec vx = f32_vec(x, n, bx), vy = f32_vec(y, n, by), a, b;

    if (type == LSQ_VEC_F64) {
        f64_blob(xd, n, cx);
        f64_blob(yd, n, cy);
    } else {
        lsq_vec_convert(&vx, type, cx);
        lsq_vec_convert(&vy, type, cy);
    }
    a.type = b.type = type;
    a.dims = b.dims = n;
    a.data = cx;
    b.data = cy;
    return lsq_vec_distance(metric, &a, &b);
}

typedef struct dist_row {
    unsigned n;
    float x[4], y[4];
    double xd[4], yd[4];
    float cos[7], l2[7]; /* by type id; cos[3] is 1-bit's Hamming count */
} dist_row;

static void test_vec_distances(void)
{
    static const dist_row rows[] = {
        { 3, { 1, 2, 3 }, { 4, 5, 6 }, { 1, 2, 3 }, { 4, 5, 6 },
          { 0, 0.025368154048919678f, 0.025368154048919678f, 0, 0.025410164147615433f,
            0.025368154048919678f, 0.025368154048919678f },
          { 0, 5.1961522102355957f, 5.1961522102355957f, 0, 5.1961522102355957f, 5.1961522102355957f,
            5.1961522102355957f } },
        { 2, { 1, 0 }, { 0, 1 }, { 1, 0 }, { 0, 1 },
          { 0, 1, 1, 2, 1, 1, 1 },
          { 0, 1.4142135381698608f, 1.4142135381698608f, 0, 1.4142135381698608f, 1.4142135381698608f,
            1.4142135381698608f } },
        { 3, { 0.1f, 0.2f, 0.3f }, { 0.3f, 0.2f, 0.1f }, { 0.1, 0.2, 0.3 }, { 0.3, 0.2, 0.1 },
          { 0, 0.28571429848670959f, 0.28571429848670959f, 0, 0.28603443503379822f,
            0.28591361641883850f, 0.28571429848670959f },
          { 0, 0.28284272551536560f, 0.28284272551536560f, 0, 0.28284272551536560f,
            0.28294628858566284f, 0.28173786401748657f } },
        { 4, { -1.5f, 2.25f, 0.001f, 7 }, { 3, -0.5f, 2, 1 }, { -1.5, 2.25, 0.001, 7 }, { 3, -0.5, 2, 1 },
          { 0, 0.95139014720916748f, 0.95139014720916748f, 2, 0.95207750797271729f,
            0.95139014720916748f, 0.95139020681381226f },
          { 0, 8.2345914840698242f, 8.2345914840698242f, 0, 8.2316675186157227f, 8.2345914840698242f,
            8.2345914840698242f } },
        { 2, { 1, 1 }, { -1, -1 }, { 1, 1 }, { -1, -1 },
          { 0, 2, 2, 2, 2, 2, 2 },
          { 0, 2.8284270763397217f, 2.8284270763397217f, 0, 2.8284270763397217f, 2.8284270763397217f,
            2.8284270763397217f } },
    };
    size_t r;
    int t;

    for (r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        const dist_row *w = &rows[r];

        for (t = LSQ_VEC_F32; t <= LSQ_VEC_BF16; t++) {
            CHECK(dist_as(LSQ_VEC_COS, t, w->x, w->y, w->xd, w->yd, w->n) == w->cos[t]);
            if (t != LSQ_VEC_1BIT)
                CHECK(dist_as(LSQ_VEC_L2, t, w->x, w->y, w->xd, w->yd, w->n) == w->l2[t]);
        }
    }
    /* FLOAT64 distances are floats: l2([0], [0.1]) = 0.10000000149011612 */
    {
        static const float z[] = { 0 };
        static const double zd[] = { 0 }, pd[] = { 0.1 }, big[] = { 1e300 };

        CHECK(dist_as(LSQ_VEC_L2, LSQ_VEC_F64, z, z, zd, pd, 1) == 0.10000000149011612f);
        CHECK(dist_as(LSQ_VEC_L2, LSQ_VEC_F64, z, z, zd, big, 1) == INFINITY);
    }
}

/* NaN where the peer returns NULL: a zero vector, [] under cosine, a
 * float overflow; l2 of [] is 0. */
static void test_vec_distance_nan(void)
{
    static const float zero[] = { 0, 0 }, one2[] = { 1, 2 }, big[] = { 1e20f, 1 };
    static const double zerod[] = { 0, 0 }, one2d[] = { 1, 2 }, bigd[] = { 1e20, 1 };
    int t;

    for (t = LSQ_VEC_F32; t <= LSQ_VEC_BF16; t++) {
        if (t == LSQ_VEC_1BIT) continue;
        CHECK(isnan(dist_as(LSQ_VEC_COS, t, zero, one2, zerod, one2d, 2)));
        CHECK(isnan(dist_as(LSQ_VEC_COS, t, zero, zero, zerod, zerod, 0)));
        CHECK(dist_as(LSQ_VEC_L2, t, zero, zero, zerod, zerod, 0) == 0);
    }
    /* [1e20,1]: n1*n2 overflows float (F32), not double (F64) */
    CHECK(isnan(dist_as(LSQ_VEC_COS, LSQ_VEC_F32, big, big, bigd, bigd, 2)));
    CHECK(dist_as(LSQ_VEC_COS, LSQ_VEC_F64, big, big, bigd, bigd, 2) == 0);
    /* 1-bit of [] is 0 apart; unknown metrics and types give NaN */
    CHECK(dist_as(LSQ_VEC_COS, LSQ_VEC_1BIT, zero, zero, zerod, zerod, 0) == 0);
    CHECK(isnan(dist_as(3, LSQ_VEC_F32, one2, one2, one2d, one2d, 2)));
}

/* ---- reading blobs: errors (Appendix and §1) ---------------------------- */

static void test_vec_blob_errors(void)
{
    unsigned char *big;
    lsq_vec v;
    char *err = NULL;

    CHECK(blob_error_is("000000000003", "vector: unexpected data part size: type=1, dims=1, 6 != 4"));
    CHECK(blob_error_is("0003", "vector: unexpected data part size: type=1, dims=0, 2 != 0"));
    CHECK(blob_error_is("0000803F02",
                        "vector: float64 vector blob length must be divisible by 8 (excluding 'type'-byte): length=4"));
    CHECK(blob_error_is("00000001", "vector: unexpected data part size: type=1, dims=1, 4 != 4") == 0);
    CHECK(blob_error_is("00000000000001",
                        "vector: float32 vector blob length must be divisible by 4 (excluding optional "
                        "'type'-byte): length=6"));
    CHECK(blob_error_is("03", "vector: float1bit vector blob length must be divisible by 2 and not be empty "
                              "(excluding 'type'-byte): length=0"));
    CHECK(blob_error_is("04", "vector: float8 vector blob length must be divisible by 2 and has at least 2 "
                              "bytes (excluding 'type'-byte): length=0"));
    CHECK(blob_error_is("07", "vector: unexpected binary type: 7"));
    CHECK(blob_error_is("00", "vector: unexpected binary type: 0"));
    CHECK(blob_error_is("0000FF", "vector: unexpected binary type: 255"));
    CHECK(blob_error_is("00000000000000000000000004",
                        "vector: unexpected data part size: type=4, dims=2, 10 != 12"));
    /* negative dimension counts, as the peer's wrapped arithmetic reports them */
    CHECK(blob_error_is("FF1103", "out of memory"));
    CHECK(blob_error_is("FF1703", "out of memory"));
    CHECK(blob_error_is("000004", "out of memory"));
    CHECK(blob_error_is("0000000000000000000304", "out of memory"));
    CHECK(blob_error_is("FF1803", "vector: unexpected data part size: type=3, dims=-8, 0 != 536870911"));
    CHECK(blob_error_is("FF1F03",
                        "vector: unexpected data part size: type=3, dims=-15, 4294967295 != 536870911"));
    CHECK(blob_error_is("FFFF03",
                        "vector: unexpected data part size: type=3, dims=-239, 4294967267 != 536870883"));
    /* 1-bit x'FF1003' is a valid empty vector */
    {
        static const unsigned char empty1[] = { 0xFF, 0x10, 0x03 };

        CHECK(lsq_vec_from_blob(empty1, 3, &v, &err) == 0 && v.dims == 0 && v.type == LSQ_VEC_1BIT);
        CHECK(write_is(&v, LSQ_VEC_1BIT, "001003"));
    }

    /* zeroblob(65537*4) is too big; 65536 floats are not */
    big = calloc(65537 * 4 + 1, 1);
    CHECK(big != NULL);
    if (big != NULL) {
        CHECK(lsq_vec_from_blob(big, 65537 * 4, &v, &err) == -1);
        CHECK(err != NULL && strcmp(err, "vector: max size exceeded: 65537 > 65536") == 0);
        sqlite3_free(err);
        err = NULL;
        CHECK(lsq_vec_from_blob(big, 65536 * 4, &v, &err) == 0 && v.dims == 65536 && err == NULL);
        /* the same with the optional F32 type byte */
        big[65536 * 4] = LSQ_VEC_F32;
        CHECK(lsq_vec_from_blob(big, 65536 * 4 + 1, &v, &err) == 0 && v.dims == 65536);
        free(big);
    }
    /* an empty blob is an empty FLOAT32 vector */
    CHECK(lsq_vec_from_blob("", 0, &v, &err) == 0 && v.dims == 0 && v.type == LSQ_VEC_F32);
    CHECK(err == NULL);
}

/* ---- the peer's table (vector_peer_cases.h) ------------------------------ */

static const int k_targets[6] = { LSQ_VEC_F32, LSQ_VEC_F64, LSQ_VEC_F16, LSQ_VEC_BF16, LSQ_VEC_F8, LSQ_VEC_1BIT };

/* Whether reading src (at offset skew) and converting it to `to` gives the
 * peer's answer want (hex, or "E:code:message"). Also checks that
 * lsq_vec_convert writes the blob's first bytes and lsq_vec_to_floats
 * the FLOAT32 conversion, at an odd output address. */
static int peer_case(const char *src, int to, const char *want, size_t skew)
{
    size_t n, bn, dn;
    unsigned char *b = unhex(src, skew, &n), *out = NULL, *conv = NULL;
    lsq_vec v;
    char *err = NULL, *hex = NULL;
    int rc, ok = 0;

    if (b == NULL) return 0;
    rc = lsq_vec_from_blob(b + skew, n, &v, &err);
    if (rc != 0) {
        const char *code = rc == LSQ_VEC_NOMEM ? "E:SQLITE_NOMEM:" : "E:SQLITE_ERROR:";

        ok = err != NULL && strncmp(want, code, strlen(code)) == 0 && strcmp(want + strlen(code), err) == 0;
        goto done;
    }
    bn = lsq_vec_blob_size(to, v.dims);
    dn = lsq_vec_data_size(to, v.dims);
    out = malloc(bn + 1);
    conv = malloc(dn + 1);
    if (out == NULL || conv == NULL) goto done;
    lsq_vec_write_blob(&v, to, out + 1);
    lsq_vec_convert(&v, to, conv + 1);
    hex = hex_of(out + 1, bn);
    ok = hex != NULL && strcmp(hex, want) == 0 && (dn == 0 || memcmp(out + 1, conv + 1, dn) == 0);
    if (ok && to == LSQ_VEC_F32 && v.dims > 0) {
        float *f = malloc(sizeof(float) * v.dims);

        ok = f != NULL;
        if (f != NULL) {
            unsigned char *fb = malloc(4 * (size_t)v.dims);

            lsq_vec_to_floats(&v, f);
            ok = fb != NULL;
            if (fb != NULL) {
                f32_blob(f, v.dims, fb);
                ok = memcmp(fb, out + 1, 4 * (size_t)v.dims) == 0;
                free(fb);
            }
            free(f);
        }
    }
done:
    sqlite3_free(hex);
    sqlite3_free(err);
    free(conv);
    free(out);
    free(b);
    return ok;
}

static void test_vec_peer_conversions(void)
{
    size_t i, bad = 0;
    int t;

    for (i = 0; i < sizeof k_peer_conv / sizeof k_peer_conv[0]; i++)
        for (t = 0; t < 6; t++)
            if (!peer_case(k_peer_conv[i].src, k_targets[t], k_peer_conv[i].out[t], i % 4)) {
                bad++;
                CHECK(!"conversion differs from the peer");
                fprintf(stderr, "  src %s to %d: want %s\n", k_peer_conv[i].src, k_targets[t],
                        k_peer_conv[i].out[t]);
            }
    CHECK(bad == 0);
}

static void test_vec_peer_blobs(void)
{
    size_t i;

    for (i = 0; i < sizeof k_peer_blob / sizeof k_peer_blob[0]; i++) {
        int ok32 = peer_case(k_peer_blob[i].src, LSQ_VEC_F32, k_peer_blob[i].f32, i % 3);
        int ok64 = peer_case(k_peer_blob[i].src, LSQ_VEC_F64, k_peer_blob[i].f64, i % 3);

        CHECK(ok32 && ok64);
        if (!ok32 || !ok64) fprintf(stderr, "  blob %s: want %s\n", k_peer_blob[i].src, k_peer_blob[i].f32);
    }
}

/* Whether the distance d is the peer's (float bits, or VEC_PEER_NULL for
 * any NaN). */
static int dist_is(float d, uint32_t want)
{
    uint32_t u;

    if (want == VEC_PEER_NULL) return isnan(d);
    memcpy(&u, &d, 4);
    return u == want;
}

static void test_vec_peer_distances(void)
{
    size_t i;

    for (i = 0; i < sizeof k_peer_dist / sizeof k_peer_dist[0]; i++) {
        size_t na, nb;
        unsigned char *a = unhex(k_peer_dist[i].a, 1, &na), *b = unhex(k_peer_dist[i].b, 2, &nb);
        lsq_vec va, vb;
        char *err = NULL;
        int ok = 0;

        if (a != NULL && b != NULL && lsq_vec_from_blob(a + 1, na, &va, &err) == 0 &&
            lsq_vec_from_blob(b + 2, nb, &vb, &err) == 0 && va.type == vb.type && va.dims == vb.dims)
            ok = dist_is(lsq_vec_distance(LSQ_VEC_COS, &va, &vb), k_peer_dist[i].cos) &&
                 dist_is(lsq_vec_distance(LSQ_VEC_L2, &va, &vb), k_peer_dist[i].l2);
        CHECK(ok);
        if (!ok) fprintf(stderr, "  distance %s / %s\n", k_peer_dist[i].a, k_peer_dist[i].b);
        sqlite3_free(err);
        free(a);
        free(b);
    }
}

static const test_case k_tests[] = {
    TEST(test_vec_sizes),
    TEST(test_vec_constructors),
    TEST(test_vec_f16_edges),
    TEST(test_vec_bf16),
    TEST(test_vec_1bit),
    TEST(test_vec_f8),
    TEST(test_vec_distances),
    TEST(test_vec_distance_nan),
    TEST(test_vec_blob_errors),
    TEST(test_vec_peer_conversions),
    TEST(test_vec_peer_blobs),
    TEST(test_vec_peer_distances),
};

const test_suite vector_suite = SUITE("vector", k_tests);
