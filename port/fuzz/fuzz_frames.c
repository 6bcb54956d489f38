/*
 * fuzz_frames.c - libFuzzer target: the port's stdin. Byte 0 of the input
 * picks the reader's buffer size and frame limit, the rest is written to a
 * pipe and read back frame by frame with frame_reader_next (frame_read for
 * an unbuffered reader); each outcome (frame, oversized frame with its
 * peeked ref, end of input, input cut inside a frame) is compared with the
 * framing of the bytes, and each frame goes through term_check,
 * term_peek_ref, term_parse_request and the argument decoders on a copy
 * that ends at a guard page (fuzz_harness.h, fuzz_frames_run). Then the
 * same stream goes through the port's own reader, intake.c, until its end:
 * every frame must come out as a job (a worker request), be answered with
 * exactly one well-formed reply (malformed, too large, interrupt, cancel)
 * or vanish (an answer to a callback nobody waits for), and the end must
 * be EOF, a read error only for a frame cut off (fz_intake_run).
 *
 * A custom mutator edits the stream as frames half of the time (a length
 * set off by one, to 0, to the limit or past it; frames duplicated,
 * dropped, swapped; the stream cut; a valid frame inserted: a ping, an
 * interrupt, a cancel or an answer to a callback; another configuration
 * byte); the other half goes to LLVMFuzzerMutate.
 */
#include "fuzz_harness.h"

#include <signal.h>
#include <stdint.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

static fuzz_guard g_guard;
static int g_ready;

static void at_exit(void)
{
    if (g_ready) fuzz_guard_free(&g_guard);
    g_ready = 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    (void)signal(SIGPIPE, SIG_IGN);
    if (ei_init() != 0 || fuzz_guard_init(&g_guard, FUZZ_GUARD_BYTES) != 0) {
        fprintf(stderr, "fuzz_frames: harness setup failed\n");
        abort();
    }
    g_ready = 1;
    (void)atexit(at_exit);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *bad;

    if (!g_ready) (void)LLVMFuzzerInitialize(NULL, NULL);
    bad = fuzz_frames_run(&g_guard, data, size);
    if (bad != NULL) {
        fprintf(stderr, "fuzz_frames: FINDING: %s\n", bad);
        abort();
    }
    return 0;
}

/* ---- mutator ---------------------------------------------------------------- */

static uint64_t g_rng;

static size_t pick(size_t n)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return n ? (size_t)(g_rng % n) : 0;
}

#define MAX_FRAMES 64
typedef struct chunk { size_t off, len; } chunk; /* header and body, or a cut-off rest */

static uint8_t g_in[1 << 16], g_out[1 << 16];

/* Split the stream after the configuration byte into frames as written
 * (the last chunk may be a cut-off frame). */
static size_t split(const uint8_t *s, size_t n, chunk *c)
{
    size_t pos = 0, k = 0, body;

    while (pos < n && k < MAX_FRAMES) {
        c[k].off = pos;
        if (n - pos < 4) {
            c[k++].len = n - pos;
            break;
        }
        body = fz_be32(s + pos);
        c[k].len = body > n - pos - 4 ? n - pos : 4 + body;
        pos += c[k++].len;
    }
    return k;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Valid frames the mutator inserts, each with its ref at byte 8 (a
 * SMALL_INTEGER_EXT, set at random): {R, ping}, {R, interrupt},
 * {R, cancel, 2}, {R, answer, 1, {ok, 1}}. */
static const uint8_t k_ping[] = { 0, 0, 0, 11, 131, 104, 2, 97, 7, 119, 4, 'p', 'i', 'n', 'g' };
static const uint8_t k_interrupt[] = { 0, 0, 0, 16, 131, 104, 2, 97, 7, 119, 9,
                                       'i', 'n', 't', 'e', 'r', 'r', 'u', 'p', 't' };
static const uint8_t k_cancel[] = { 0, 0, 0, 15, 131, 104, 3, 97, 7, 119, 6,
                                    'c', 'a', 'n', 'c', 'e', 'l', 97, 2 };
static const uint8_t k_answer[] = { 0, 0, 0, 23, 131, 104, 4, 97, 7, 119, 6, 'a', 'n', 's', 'w',
                                    'e', 'r', 97, 1, 104, 2, 119, 2, 'o', 'k', 97, 1 };
static const struct { const uint8_t *p; size_t n; } k_valid[] = {
    { k_ping, sizeof k_ping }, { k_interrupt, sizeof k_interrupt },
    { k_cancel, sizeof k_cancel }, { k_answer, sizeof k_answer },
};
#define NVALID (sizeof k_valid / sizeof k_valid[0])
#define VALID_OFF(k) ((size_t)-1 - (k)) /* a chunk's off for k_valid[k] */

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    chunk c[MAX_FRAMES + 1];
    size_t nc, i, j, n = 0, cap = max_size < sizeof g_out ? max_size : sizeof g_out;
    uint32_t len, max;

    g_rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)seed << 1 | 1);
    if (pick(2) == 0 || size < 1 || size > sizeof g_in) return LLVMFuzzerMutate(data, size, max_size);
    memcpy(g_in, data, size);
    nc = split(g_in + 1, size - 1, c);
    g_out[n++] = g_in[0];
    max = (uint32_t)FUZZ_FRAMES_MAXES[(g_in[0] >> 3) & 7];
    switch (pick(7)) {
    case 0: /* another configuration byte */
        g_out[0] = (uint8_t)pick(256);
        break;
    case 1: /* a length field set to an edge */
        if (nc == 0) break;
        i = pick(nc);
        if (c[i].len < 4) break;
        len = fz_be32(g_in + 1 + c[i].off);
        switch (pick(7)) {
        case 0: len += 1; break;
        case 1: len -= 1; break;
        case 2: len = 0; break;
        case 3: len = max; break;
        case 4: len = max + 1; break;
        case 5: len = 65536 + (uint32_t)pick(3) - 1; break;
        default: len = 0xffffffffu - (uint32_t)pick(2); break;
        }
        put32(g_in + 1 + c[i].off, len);
        break;
    case 2: /* drop a frame */
        if (nc == 0) break;
        i = pick(nc);
        memmove(c + i, c + i + 1, (nc - i - 1) * sizeof *c);
        nc--;
        break;
    case 3: /* duplicate a frame */
        if (nc == 0 || nc >= MAX_FRAMES) break;
        i = pick(nc);
        memmove(c + i + 1, c + i, (nc - i) * sizeof *c);
        nc++;
        break;
    case 4: /* swap two frames */
        if (nc < 2) break;
        i = pick(nc);
        j = pick(nc);
        { chunk t = c[i]; c[i] = c[j]; c[j] = t; }
        break;
    case 5: /* cut the stream */
        if (size > 1) {
            size_t keep = 1 + pick(size - 1);

            memcpy(data, g_in, keep);
            return keep;
        }
        break;
    default: /* a valid frame somewhere */
        if (nc >= MAX_FRAMES) break;
        i = pick(nc + 1);
        j = pick(NVALID);
        memmove(c + i + 1, c + i, (nc - i) * sizeof *c);
        c[i].off = VALID_OFF(j);
        c[i].len = k_valid[j].n;
        nc++;
        break;
    }
    for (i = 0; i < nc; i++) {
        int canned = c[i].off >= VALID_OFF(NVALID - 1);
        const uint8_t *src = canned ? k_valid[VALID_OFF(0) - c[i].off].p : g_in + 1 + c[i].off;

        if (c[i].len > cap - n) break;
        memcpy(g_out + n, src, c[i].len);
        if (canned) g_out[n + 8] = (uint8_t)(1 + pick(255)); /* the ref */
        n += c[i].len;
    }
    if (n <= 1 && size > 1) return LLVMFuzzerMutate(data, size, max_size);
    memcpy(data, g_out, n);
    return n;
}
