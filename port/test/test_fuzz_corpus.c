/*
 * test_fuzz_corpus.c - the fuzz corpus replay.
 *
 * Every file of the committed fuzz corpus goes through the fuzz targets'
 * own path (port/fuzz/fuzz_harness.h): request files in name order on one
 * persistent port with an open :memory: database, each answered with a
 * well-formed {Ref, ok | error, _}; frame files through the frame reader
 * and the term checks; pull files through the /pull-updates decoder;
 * crypt files through the page codec and the encryption shim's WAL and
 * journal recovery, compared with plain SQLite's (fuzz_crypt.h); vector
 * files through the vector text parser, printer and blob conversions
 * (fuzz_vector.h); nif_frames files through the NIF's frame reader,
 * compared with a framing of the bytes (fuzz_nif_frames.h).
 * Run from the repository root. A missing or empty
 * corpus directory is a failure, never a silent pass. Reproducers of open
 * findings live in test/fuzz_corpus/crashes/ and are not replayed here.
 */
#include "test_util.h"
#include "fuzz/fuzz_harness.h"
#include "fuzz/fuzz_pull.h"
#include "fuzz/fuzz_crypt.h"
#include "fuzz/fuzz_vector.h"
#include "fuzz/fuzz_nif_frames.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int corpus_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of dir, sorted by name (malloc'd paths); -1 if dir
 * cannot be read. */
static int corpus_list(const char *dir, char ***out, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct stat st;
    char **files = NULL, **grown, *path;
    size_t cap = 0, size;

    *out = NULL;
    *n = 0;
    if (d == NULL) return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        size = strlen(dir) + 1 + strlen(e->d_name) + 1;
        path = malloc(size);
        if (path == NULL) abort();
        (void)snprintf(path, size, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            grown = realloc(files, cap * sizeof *files);
            if (grown == NULL) abort();
            files = grown;
        }
        files[(*n)++] = path;
    }
    (void)closedir(d);
    if (*n > 1) qsort(files, *n, sizeof *files, corpus_cmp);
    *out = files;
    return 0;
}

static void corpus_free(char **files, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) free(files[i]);
    free(files);
}

static void test_fuzz_corpus_request(void)
{
    static const char dir[] = "test/fuzz_corpus/request";
    fuzz_port f;
    char **files, *buf;
    size_t n, i, len, kinds[4] = { 0, 0, 0, 0 };
    const char *why;
    int rc;

    if (corpus_list(dir, &files, &n) != 0 || n == 0) {
        CHECK(!"fuzz corpus test/fuzz_corpus/request is missing or empty (run from the repo root)");
        return;
    }
    if (fuzz_port_init(&f) != 0) {
        CHECK(!"fuzz harness setup failed");
        corpus_free(files, n);
        return;
    }
    for (i = 0; i < n; i++) {
        if (test_read_file(files[i], (unsigned char **)&buf, &len) != 0) {
            CHECK(!"cannot read a corpus file");
            fprintf(stderr, "    %s\n", files[i]);
            continue;
        }
        rc = fuzz_port_run(&f, buf, len, &why);
        CHECK(rc >= 0);
        if (rc < 0) fprintf(stderr, "    %s: %s\n", files[i], why);
        else kinds[rc]++;
        free(buf);
    }
    /* The corpus must reach the commands, not only the frame checks. */
    CHECK(kinds[FUZZ_RAN] > 0);
    CHECK(kinds[FUZZ_MALFORMED] > 0);
    CHECK(f.port.conn != NULL || f.reopens > 0);
    fuzz_port_fini(&f);
    corpus_free(files, n);
}

/* Every file of a corpus directory through run(ctx, bytes, len), which
 * says NULL or what broke. A missing or empty directory fails. */
static void replay(const char *dir, const char *(*run)(void *ctx, const unsigned char *p, size_t n),
                   void *ctx)
{
    char **files, *buf;
    size_t n, i, len;
    const char *bad;

    if (corpus_list(dir, &files, &n) != 0 || n == 0) {
        CHECK(!"a fuzz corpus directory is missing or empty (run from the repo root)");
        fprintf(stderr, "    %s\n", dir);
        return;
    }
    for (i = 0; i < n; i++) {
        if (test_read_file(files[i], (unsigned char **)&buf, &len) != 0) {
            CHECK(!"cannot read a corpus file");
            fprintf(stderr, "    %s\n", files[i]);
            continue;
        }
        bad = run(ctx, (const unsigned char *)buf, len);
        CHECK(bad == NULL);
        if (bad != NULL) fprintf(stderr, "    %s: %s\n", files[i], bad);
        free(buf);
    }
    corpus_free(files, n);
}

static const char *run_frames(void *ctx, const unsigned char *p, size_t n)
{
    return fuzz_frames_run(ctx, p, n);
}

static void test_fuzz_corpus_frames(void)
{
    fuzz_guard g;

    if (fuzz_guard_init(&g, FUZZ_GUARD_BYTES) != 0) {
        CHECK(!"guard page setup failed");
        return;
    }
    replay("test/fuzz_corpus/frames", run_frames, &g);
    fuzz_guard_free(&g);
}

static const char *run_pull(void *ctx, const unsigned char *p, size_t n)
{
    (void)ctx;
    return fuzz_pull_run(p, n);
}

/* /pull-updates responses through the decoder's checks (fuzz_pull.h). */
static void test_fuzz_corpus_pull(void)
{
    replay("test/fuzz_corpus/pull", run_pull, NULL);
}

static const char *run_crypt(void *ctx, const unsigned char *p, size_t n)
{
    size_t *modes = ctx;

    if (n > 0) modes[p[0] >> 6 < 2 ? 0 : p[0] >> 6 == 2 ? 1 : 2]++;
    return fuzz_crypt_run(p, n);
}

/* The page codec, and crashed WALs and hot journals through the shim
 * (fuzz_crypt.h); the corpus must hold inputs of each kind. */
static void test_fuzz_corpus_crypt(void)
{
    size_t modes[3] = { 0, 0, 0 };
    unsigned long files, compared, bytes;

    replay("test/fuzz_corpus/crypt", run_crypt, modes);
    fuzz_crypt_counts(&files, &compared, &bytes);
    fuzz_crypt_fini();
    CHECK(modes[0] > 0 && modes[1] > 0 && modes[2] > 0);
    /* The seeds at least are compared with plain SQLite, files included. */
    CHECK(compared >= 4 && bytes >= 4);
    if (compared < 4 || bytes < 4)
        fprintf(stderr, "    %lu file inputs, %lu compared, %lu files compared\n", files, compared,
                bytes);
}

static const char *run_vector(void *ctx, const unsigned char *p, size_t n)
{
    return fuzz_vector_run(ctx, p, n);
}

/* Vector text and blobs through the parser, printer, conversions and
 * distances (fuzz_vector.h), each input ending at a guard page. */
static void test_fuzz_corpus_vector(void)
{
    fuzz_guard g;

    if (fuzz_guard_init(&g, FUZZ_GUARD_BYTES) != 0) {
        CHECK(!"guard page setup failed");
        return;
    }
    replay("test/fuzz_corpus/vector", run_vector, &g);
    fuzz_guard_free(&g);
}

static const char *run_nif_frames(void *ctx, const unsigned char *p, size_t n)
{
    (void)ctx;
    return fuzz_nif_frames_run(p, n);
}

/* The NIF's answer-pipe reader (port/nif/nif_frames.c) fed in chunks,
 * as owner and lane (fuzz_nif_frames.h); the corpus must reach each of
 * its paths: frames to both readers, reads straight into a frame, an
 * allocation retried, a cut-off frame released, each way to die. */
static void test_fuzz_corpus_nif_frames(void)
{
    fzn_counts before = *fzn_counts_get(), after;

    replay("test/fuzz_corpus/nif_frames", run_nif_frames, NULL);
    after = *fzn_counts_get();
    CHECK(after.owner_frames > before.owner_frames);
    CHECK(after.lane_frames > before.lane_frames);
    CHECK(after.direct_reads > before.direct_reads);
    CHECK(after.nomem_retries > before.nomem_retries);
    CHECK(after.cut_released > before.cut_released);
    CHECK(after.eagain > before.eagain && after.eintr > before.eintr);
    CHECK(after.dead_eof > before.dead_eof && after.dead_eio > before.dead_eio &&
          after.dead_huge > before.dead_huge);
}

/* ---- the suite ---------------------------------------------------------- */

static const test_case k_tests[] = {
    TEST(test_fuzz_corpus_request),
    TEST(test_fuzz_corpus_frames),
    TEST(test_fuzz_corpus_pull),
    TEST(test_fuzz_corpus_crypt),
    TEST(test_fuzz_corpus_vector),
    TEST(test_fuzz_corpus_nif_frames),
};

const test_suite fuzz_corpus_suite = SUITE("fuzz_corpus", k_tests);
