/*
 * vector_idx_params.c - the parameters of a libSQL vector index
 * (../shared/vectors.md §4): the column's declared type, the option
 * strings of libsql_vector_idx(col, 'k=v', ...), the defaults libSQL
 * fills in, and the metadata blob it stores in libsql_vector_meta_shadow.
 *
 * libSQL builds the metadata blob as it goes (format, type, dims, then
 * each option as it is parsed, then what its DiskANN code adds) into a
 * 128-byte buffer, and where that buffer overflows decides which error a
 * long option list gets; lsq_vidx_parse counts the bytes the same way so
 * every message comes out where libSQL's does, and lsq_vidx_meta_encode
 * writes the same records in the same order (the blob of a default index
 * is the Appendix's byte for byte).
 */
#include "vector_diskann.h"

#include <math.h>
#include <string.h>

#define META_MAX 128       /* libSQL's VECTOR_INDEX_PARAMS_BUF_SIZE */
#define META_REC 9         /* tag byte + u64 LE */
#define MAX_BLOCK 134217728u /* 128 MiB: libSQL's DISKANN_MAX_BLOCK_SZ */
#define LEGACY_SHIFT 9     /* block sizes <= 128 are in 512-byte units */

enum {
    TAG_FORMAT = 1, TAG_INDEX_TYPE = 2, TAG_VECTOR_TYPE = 3, TAG_DIMS = 4, TAG_METRIC = 5,
    TAG_BLOCK_SIZE = 6, TAG_ALPHA = 7, TAG_INSERT_L = 8, TAG_SEARCH_L = 9,
    TAG_MAX_NEIGHBORS = 10, TAG_COMPRESS = 11
};

#define DEFAULT_ALPHA 1.2
#define DEFAULT_INSERT_L 70
#define DEFAULT_SEARCH_L 200

/* ---- the column type ------------------------------------------------------- */

static const struct { const char *name; int type; } k_col_types[] = {
    { "FLOAT32", LSQ_VEC_F32 },    { "F32_BLOB", LSQ_VEC_F32 },
    { "FLOAT64", LSQ_VEC_F64 },    { "F64_BLOB", LSQ_VEC_F64 },
    { "FLOAT1BIT", LSQ_VEC_1BIT }, { "F1BIT_BLOB", LSQ_VEC_1BIT },
    { "FLOAT8", LSQ_VEC_F8 },      { "F8_BLOB", LSQ_VEC_F8 },
    { "FLOAT16", LSQ_VEC_F16 },    { "F16_BLOB", LSQ_VEC_F16 },
    { "FLOATB16", LSQ_VEC_BF16 },  { "FB16_BLOB", LSQ_VEC_BF16 },
};

/* SQLite's sqlite3Isspace: the six ASCII white-space characters only
 * (isspace() would depend on the locale). */
static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static const char *skip_spaces(const char *z)
{
    while (*z != '\0' && is_space(*z)) z++;
    return z;
}

/* libSQL's vectorIdxParseColumnType: 0 with *type and *dims, or -1 with
 * *reason (static text). */
static int parse_column_type(const char *decl, int *type, unsigned *dims, const char **reason)
{
    size_t i;
    const char *z = skip_spaces(decl);

    for (i = 0; i < sizeof k_col_types / sizeof k_col_types[0]; i++) {
        size_t n = strlen(k_col_types[i].name);
        const char *p = z + n;
        unsigned d = 0;

        if (sqlite3_strnicmp(z, k_col_types[i].name, (int)n) != 0) continue;
        /* the first name that is a prefix decides: F32_BLOBX(3) is not
         * tried against anything else (libSQL breaks out of its loop) */
        p = skip_spaces(p);
        if (*p != '(') break;
        p = skip_spaces(p + 1);
        while (*p != '\0' && *p != ')' && !is_space(*p)) {
            if (!is_digit(*p)) {
                *reason = "non digit symbol in vector column parameter";
                return -1;
            }
            d = d * 10 + (unsigned)(*p - '0');
            if (d > LSQ_VEC_MAX_DIMS) {
                *reason = "max vector dimension exceeded";
                return -1;
            }
            p++;
        }
        p = skip_spaces(p);
        if (*p != ')') {
            *reason = "missed closing brace for vector column type";
            return -1;
        }
        p = skip_spaces(p + 1);
        if (*p != '\0') {
            *reason = "extra data after dimension parameter for vector column type";
            return -1;
        }
        if (d == 0) {
            *reason = "vector column must have non-zero dimension for index";
            return -1;
        }
        *type = k_col_types[i].type;
        *dims = d;
        return 0;
    }
    *reason = "unexpected vector column type";
    return -1;
}

/* ---- one option ------------------------------------------------------------- */

/* The options libSQL knows, in its table's order: an enum value matches
 * when the given value is a case-insensitive prefix of it, and the first
 * match wins (metric= is cosine, compress_neighbors=float is float1bit). */
enum { OPT_ENUM, OPT_INT, OPT_FLOAT };
static const struct opt_def {
    const char *name;
    int tag, kind;
    const char *value; /* OPT_ENUM: the value's name */
    uint64_t code;     /* OPT_ENUM: what is stored */
} k_opts[] = {
    { "type", TAG_INDEX_TYPE, OPT_ENUM, "diskann", 1 },
    { "metric", TAG_METRIC, OPT_ENUM, "cosine", LSQ_VEC_COS },
    { "metric", TAG_METRIC, OPT_ENUM, "l2", LSQ_VEC_L2 },
    { "compress_neighbors", TAG_COMPRESS, OPT_ENUM, "float1bit", LSQ_VEC_1BIT },
    { "compress_neighbors", TAG_COMPRESS, OPT_ENUM, "float8", LSQ_VEC_F8 },
    { "compress_neighbors", TAG_COMPRESS, OPT_ENUM, "float16", LSQ_VEC_F16 },
    { "compress_neighbors", TAG_COMPRESS, OPT_ENUM, "floatb16", LSQ_VEC_BF16 },
    { "compress_neighbors", TAG_COMPRESS, OPT_ENUM, "float32", LSQ_VEC_F32 },
    { "alpha", TAG_ALPHA, OPT_FLOAT, NULL, 0 },
    { "search_l", TAG_SEARCH_L, OPT_INT, NULL, 0 },
    { "insert_l", TAG_INSERT_L, OPT_INT, NULL, 0 },
    { "max_neighbors", TAG_MAX_NEIGHBORS, OPT_INT, NULL, 0 },
};

/* SQLite 3.45's sqlite3GetInt32 as sqlite3Atoi uses it: an optional sign
 * or a 0x hex prefix, then digits up to the first non-digit; 0 when there
 * are none or the value does not fit an int (so "12abc" is 12, "abc" and
 * "99999999999" are 0). */
static int atoi_sqlite(const char *z)
{
    int64_t v = 0;
    int i, neg = 0;

    if (z[0] == '-') {
        neg = 1;
        z++;
    } else if (z[0] == '+') {
        z++;
    } else if (z[0] == '0' && (z[1] == 'x' || z[1] == 'X') &&
               strchr("0123456789abcdefABCDEF", z[2]) != NULL && z[2] != '\0') {
        uint32_t u = 0;

        z += 2;
        while (z[0] == '0') z++;
        for (i = 0; i < 8 && z[i] != '\0' && strchr("0123456789abcdefABCDEF", z[i]) != NULL; i++) {
            char c = z[i];
            u = u * 16 + (uint32_t)(is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        if ((u & 0x80000000u) == 0 && (z[i] == '\0' || strchr("0123456789abcdefABCDEF", z[i]) == NULL))
            return (int)u;
        return 0;
    }
    if (!is_digit(z[0])) return 0;
    while (z[0] == '0') z++;
    for (i = 0; i < 11 && is_digit(z[i]); i++) v = v * 10 + (z[i] - '0');
    if (i > 10 || v - neg > 2147483647) return 0;
    return (int)(neg ? -v : v);
}

/* Whether z (NUL-ended) is a whole SQLite number as sqlite3AtoF accepts
 * it: white space around, [+-](digits[.[digits]]|.digits)[(e|E)[+-]digits].
 * The span of the number itself goes to *start, *len. */
static int is_sqlite_real(const char *z, const char **start, size_t *len)
{
    const char *p = skip_spaces(z), *b = p;
    int digits = 0;

    if (*p == '+' || *p == '-') p++;
    while (is_digit(*p)) {
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (is_digit(*p)) {
            p++;
            digits++;
        }
    }
    if (digits == 0) return 0;
    if (*p == 'e' || *p == 'E') {
        int ed = 0;

        p++;
        if (*p == '+' || *p == '-') p++;
        while (is_digit(*p)) {
            p++;
            ed++;
        }
        if (ed == 0) return 0;
    }
    *start = b;
    *len = (size_t)(p - b);
    return *skip_spaces(p) == '\0';
}

/* The double of a number that is_sqlite_real accepted, read the way
 * libSQL reads numbers (§2's long double algorithm, which the vector text
 * parser implements), so alpha's stored bits are libSQL's. 0 or -1 (out
 * of memory). */
static int real_value(const char *num, size_t len, double *out)
{
    char *text = sqlite3_mprintf("[%.*s]", (int)len, num);
    unsigned char *buf = NULL;
    char *err = NULL;
    lsq_vec v;
    int rc;

    if (text == NULL) return -1;
    rc = lsq_vec_from_text(text, strlen(text), LSQ_VEC_F64, &v, &buf, &err);
    sqlite3_free(text);
    sqlite3_free(err);
    if (rc != 0 || v.dims != 1) {
        sqlite3_free(buf);
        return -1;
    }
    memcpy(out, buf, sizeof *out); /* the F64 data part is the host's double, LE */
    sqlite3_free(buf);
    return 0;
}

/* One option string: its tag and stored value (alpha: the double's bits),
 * or -1 with *reason (libSQL's text). */
static int parse_opt(const char *opt, int *tag, uint64_t *value, const char **reason)
{
    const char *eq = strchr(opt, '='), *val;
    size_t nname, nval, i;

    if (eq == NULL) {
        *reason = "unexpected parameter format";
        return -1;
    }
    nname = (size_t)(eq - opt);
    val = eq + 1;
    nval = strlen(val);
    for (i = 0; i < sizeof k_opts / sizeof k_opts[0]; i++) {
        const struct opt_def *d = &k_opts[i];

        if (strlen(d->name) != nname || sqlite3_strnicmp(d->name, opt, (int)nname) != 0) continue;
        if (d->kind == OPT_INT) {
            int n = atoi_sqlite(val);

            if (n == 0) {
                *reason = "invalid representation of integer vector index parameter";
                return -1;
            }
            if (n < 0) {
                *reason = "integer vector index parameter must be positive";
                return -1;
            }
            *tag = d->tag;
            *value = (uint64_t)n;
            return 0;
        }
        if (d->kind == OPT_FLOAT) {
            const char *num;
            size_t len;
            double x;

            if (!is_sqlite_real(val, &num, &len) || real_value(num, len, &x) != 0) {
                *reason = "invalid representation of floating point vector index parameter";
                return -1;
            }
            *tag = d->tag;
            memcpy(value, &x, sizeof x);
            return 0;
        }
        /* a prefix of the value's name, case-insensitive (sqlite3_strnicmp
         * over the given length stops at the name's end: longer fails) */
        if (nval <= strlen(d->value) && sqlite3_strnicmp(d->value, val, (int)nval) == 0) {
            *tag = d->tag;
            *value = d->code;
            return 0;
        }
    }
    *reason = "invalid parameter";
    return -1;
}

/* The serialisation failure libSQL reports for an option of this kind. */
static const char *serialize_reason(int tag)
{
    if (tag == TAG_ALPHA) return "unable to serialize floating point vector index parameter";
    if (tag == TAG_INSERT_L || tag == TAG_SEARCH_L || tag == TAG_MAX_NEIGHBORS)
        return "unable to serialize integer vector index parameter";
    return "unable to serialize vector index parameter";
}

/* ---- sizes ------------------------------------------------------------------ */

static unsigned header_size(int format) { return format <= 2 ? 10u : 16u; }

unsigned lsq_vidx_max_edges(const lsq_vidx_params *p)
{
    uint64_t hdr = header_size(p->format);
    uint64_t v = lsq_vec_data_size(p->vector_type, p->dims);
    uint64_t e = lsq_vec_data_size(p->compress, p->dims);

    if (p->block_size < hdr + v) return 0;
    return (unsigned)((p->block_size - hdr - v) / (e + 16));
}

void lsq_vidx_layout(const lsq_vidx_params *p, lsq_vidx_layout_t *l)
{
    l->header = header_size(p->format);
    l->node_size = (unsigned)lsq_vec_data_size(p->vector_type, p->dims);
    l->edge_size = (unsigned)lsq_vec_data_size(p->compress, p->dims);
    l->max_edges = lsq_vidx_max_edges(p);
    l->edges_at = l->header + l->node_size;
    l->records_at = l->edges_at + l->max_edges * l->edge_size;
}

/* ---- parse ------------------------------------------------------------------ */

int lsq_vidx_parse(const char *decl_type, const char *const *opts, int nopts,
                   lsq_vidx_params *p, char **err)
{
    const char *reason = NULL;
    int i, type, metric = 0, compress = 0;
    unsigned dims;
    int have_alpha = 0, have_insert = 0, have_search = 0;
    uint64_t max_neighbors = 0, insert_l = 0, search_l = 0, node_oh, edge_oh, block;
    double alpha = 0;
    size_t used;

    *err = NULL;
    memset(p, 0, sizeof *p);
    if (parse_column_type(decl_type != NULL ? decl_type : "", &type, &dims, &reason) != 0) {
        *err = sqlite3_mprintf("vector index: %s: %s", reason, decl_type != NULL ? decl_type : "");
        return -1;
    }
    used = 3 * META_REC; /* format, type, dims */
    for (i = 0; i < nopts; i++) {
        int tag = 0;
        uint64_t value = 0;

        if (parse_opt(opts[i], &tag, &value, &reason) != 0 ||
            (used + META_REC > META_MAX && (reason = serialize_reason(tag)) != NULL)) {
            *err = sqlite3_mprintf("vector index: invalid vector index parameter '%s': %s", opts[i], reason);
            return -1;
        }
        used += META_REC;
        /* the last record of a tag wins, as libSQL reads them */
        switch (tag) {
        case TAG_METRIC: metric = (int)value; break;
        case TAG_COMPRESS: compress = (int)value; break;
        case TAG_MAX_NEIGHBORS: max_neighbors = value; break;
        case TAG_INSERT_L: insert_l = value; have_insert = 1; break;
        case TAG_SEARCH_L: search_l = value; have_search = 1; break;
        case TAG_ALPHA: memcpy(&alpha, &value, sizeof alpha); have_alpha = 1; break;
        default: break;
        }
    }
    /* what libSQL's diskAnnCreateIndex appends, in its order, each append
     * failing with the bare "unable to initialize diskann" when the
     * 128 bytes are full; the 1-bit check comes after the metric */
    if ((used += META_REC) > META_MAX) goto no_room; /* index type */
    if (metric == 0) {
        metric = LSQ_VEC_COS;
        if ((used += META_REC) > META_MAX) goto no_room;
    }
    if (compress == LSQ_VEC_1BIT && metric != LSQ_VEC_COS) {
        *err = sqlite3_mprintf("vector index: unable to initialize diskann: "
                               "1-bit compression available only for cosine metric");
        return -1;
    }
    if (compress == 0) compress = type;
    node_oh = lsq_vec_data_size(type, dims) + 16;
    edge_oh = lsq_vec_data_size(compress, dims) + 16;
    if (max_neighbors == 0) {
        uint64_t a = 3 * ((uint64_t)sqrt((double)dims) + 1), b = 50 * node_oh / edge_oh + 1;

        max_neighbors = a < b ? a : b;
    }
    block = node_oh + max_neighbors * edge_oh;
    if (block > MAX_BLOCK) goto no_room;
    if (block < 256) block = 256;
    if ((used += META_REC) > META_MAX) goto no_room; /* block size */
    if (!have_alpha || alpha == 0.0) {
        alpha = DEFAULT_ALPHA;
        if ((used += META_REC) > META_MAX) goto no_room;
    }
    if (!have_insert) {
        insert_l = DEFAULT_INSERT_L;
        if ((used += META_REC) > META_MAX) goto no_room;
    }
    if (!have_search) {
        search_l = DEFAULT_SEARCH_L;
        if ((used += META_REC) > META_MAX) goto no_room;
    }
    p->format = 3;
    p->index_type = 1;
    p->vector_type = type;
    p->dims = dims;
    p->metric = metric;
    p->compress = compress;
    p->block_size = block;
    p->alpha = alpha;
    p->insert_l = insert_l;
    p->search_l = search_l;
    p->max_neighbors = max_neighbors;
    return 0;
no_room:
    *err = sqlite3_mprintf("vector index: unable to initialize diskann");
    return -1;
}

/* ---- the meta blob ------------------------------------------------------------ */

static void put_rec(unsigned char *out, size_t *n, int tag, uint64_t v)
{
    int i;

    out[(*n)++] = (unsigned char)tag;
    for (i = 0; i < 8; i++) out[(*n)++] = (unsigned char)(v >> (8 * i));
}

int lsq_vidx_meta_encode(const lsq_vidx_params *p, const char *const *opts, int nopts,
                         unsigned char **out, int *n, char **err)
{
    unsigned char *b;
    size_t len = 0;
    int i, have_metric = 0, have_insert = 0, have_search = 0;
    double alpha_given = 0;
    uint64_t bits;

    *err = NULL;
    *out = NULL;
    *n = 0;
    b = sqlite3_malloc(META_MAX);
    if (b == NULL) {
        *err = sqlite3_mprintf("out of memory");
        return -1;
    }
    put_rec(b, &len, TAG_FORMAT, (uint64_t)p->format);
    put_rec(b, &len, TAG_VECTOR_TYPE, (uint64_t)p->vector_type);
    put_rec(b, &len, TAG_DIMS, p->dims);
    for (i = 0; i < nopts; i++) {
        const char *reason;
        int tag = 0;
        uint64_t value = 0;

        if (parse_opt(opts[i], &tag, &value, &reason) != 0 || len + META_REC > META_MAX) {
            sqlite3_free(b);
            *err = sqlite3_mprintf("vector index: invalid vector index parameter '%s': %s", opts[i],
                                   len + META_REC > META_MAX ? serialize_reason(tag) : reason);
            return -1;
        }
        put_rec(b, &len, tag, value);
        if (tag == TAG_METRIC) have_metric = 1;
        if (tag == TAG_INSERT_L) have_insert = 1;
        if (tag == TAG_SEARCH_L) have_search = 1;
        if (tag == TAG_ALPHA) memcpy(&alpha_given, &value, sizeof alpha_given);
    }
    if (len + META_REC > META_MAX) goto no_room;
    put_rec(b, &len, TAG_INDEX_TYPE, 1);
    if (!have_metric) {
        if (len + META_REC > META_MAX) goto no_room;
        put_rec(b, &len, TAG_METRIC, (uint64_t)p->metric);
    }
    if (len + META_REC > META_MAX) goto no_room;
    put_rec(b, &len, TAG_BLOCK_SIZE, p->block_size);
    if (alpha_given == 0.0) { /* absent, or given as 0: libSQL appends the default */
        if (len + META_REC > META_MAX) goto no_room;
        memcpy(&bits, &p->alpha, sizeof bits);
        put_rec(b, &len, TAG_ALPHA, bits);
    }
    if (!have_insert) {
        if (len + META_REC > META_MAX) goto no_room;
        put_rec(b, &len, TAG_INSERT_L, p->insert_l);
    }
    if (!have_search) {
        if (len + META_REC > META_MAX) goto no_room;
        put_rec(b, &len, TAG_SEARCH_L, p->search_l);
    }
    *out = b;
    *n = (int)len;
    return 0;
no_room:
    sqlite3_free(b);
    *err = sqlite3_mprintf("vector index: unable to initialize diskann");
    return -1;
}

static int known_type(uint64_t t) { return t >= LSQ_VEC_F32 && t <= LSQ_VEC_BF16; }

int lsq_vidx_meta_decode(const unsigned char *blob, int n, lsq_vidx_params *p, char **err)
{
    uint64_t v[TAG_COMPRESS + 1] = { 0 };
    int i, j;
    lsq_vidx_layout_t l;

    *err = NULL;
    memset(p, 0, sizeof *p);
    if (n < 0 || n > META_MAX) goto bad;
    /* whole records only; the last record of a tag wins; unknown tags
     * are skipped (a newer libSQL may add some) */
    for (i = 0; i + META_REC <= n; i += META_REC) {
        uint64_t x = 0;

        for (j = 0; j < 8; j++) x |= (uint64_t)blob[i + 1 + j] << (8 * j);
        if (blob[i] >= 1 && blob[i] <= TAG_COMPRESS) v[blob[i]] = x;
    }
    p->format = v[TAG_FORMAT] > 3 ? 3 : (int)v[TAG_FORMAT];
    p->index_type = (int)(v[TAG_INDEX_TYPE] != 0 ? v[TAG_INDEX_TYPE] : 1);
    if (!known_type(v[TAG_VECTOR_TYPE]) || v[TAG_DIMS] == 0 || v[TAG_DIMS] > LSQ_VEC_MAX_DIMS ||
        (v[TAG_METRIC] != LSQ_VEC_COS && v[TAG_METRIC] != LSQ_VEC_L2) || v[TAG_BLOCK_SIZE] == 0 ||
        (v[TAG_COMPRESS] != 0 && !known_type(v[TAG_COMPRESS])) || p->index_type != 1)
        goto bad;
    p->vector_type = (int)v[TAG_VECTOR_TYPE];
    p->dims = (unsigned)v[TAG_DIMS];
    p->metric = (int)v[TAG_METRIC];
    p->compress = v[TAG_COMPRESS] != 0 ? (int)v[TAG_COMPRESS] : p->vector_type;
    if (p->compress == LSQ_VEC_1BIT && p->metric != LSQ_VEC_COS) goto bad;
    p->block_size = v[TAG_BLOCK_SIZE] <= 128 ? v[TAG_BLOCK_SIZE] << LEGACY_SHIFT : v[TAG_BLOCK_SIZE];
    if (p->block_size > MAX_BLOCK) goto bad;
    memcpy(&p->alpha, &v[TAG_ALPHA], sizeof p->alpha);
    if (p->alpha == 0.0 || isnan(p->alpha)) p->alpha = DEFAULT_ALPHA;
    p->insert_l = v[TAG_INSERT_L] != 0 ? v[TAG_INSERT_L] : DEFAULT_INSERT_L;
    p->search_l = v[TAG_SEARCH_L] != 0 ? v[TAG_SEARCH_L] : DEFAULT_SEARCH_L;
    p->max_neighbors = v[TAG_MAX_NEIGHBORS];
    lsq_vidx_layout(p, &l);
    if (l.max_edges == 0 || l.max_edges > 65535) goto bad;
    return 0;
bad:
    *err = sqlite3_mprintf("failed to parse vector index parameters");
    return -1;
}
