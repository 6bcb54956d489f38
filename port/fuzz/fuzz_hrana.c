/*
 * fuzz_hrana.c - libFuzzer target: bytes from the network. Byte 0 of the
 * input picks how the body is cut into pieces (as curl's write callback
 * delivers it) and the memory cap; the rest is fed to the streaming Hrana
 * response parser (hrana_resp.c). Whatever it accepts is then walked as
 * the remote backend walks it (every cell read, every error mapped), so a
 * result the parser calls valid must be safe to use.
 *
 * The same bytes, read as SQL text, also go through the statement and
 * parameter scanner (sql_scan.c) and the JSON string writer (hrana_req.c):
 * all three take input nobody checked.
 */
#include "hrana_req.h"
#include "hrana_resp.h"
#include "sql_scan.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void walk_stmt(const hr_response *r, const hr_stmt *s)
{
    lsq_value v;
    size_t i, sum = 0;

    if (s == NULL) return;
    if (s->nrows > 0 && s->ncells != s->nrows * s->ncols) abort();
    for (i = 0; i < s->ncells; i++) {
        hr_cell_value(r, &s->cells[i], &v);
        if ((v.type == LSQ_TEXT || v.type == LSQ_BLOB) && v.u.s.n > 0)
            sum += (unsigned char)v.u.s.p[0] + (unsigned char)v.u.s.p[v.u.s.n - 1];
    }
    for (i = 0; i < s->ncols; i++)
        if (s->cols[i].name.set && s->cols[i].name.len > 0)
            sum += (unsigned char)hr_ptr(r, s->cols[i].name)[s->cols[i].name.len - 1];
    (void)sum;
}

static void walk(const hr_response *r)
{
    lsq_error err;
    size_t i, k;

    for (i = 0; i < r->nentries; i++) {
        const hr_entry *e = &r->entries[i];

        walk_stmt(r, e->stmt);
        for (k = 0; k < e->nsteps; k++) walk_stmt(r, e->steps[k]);
        for (k = 0; k < e->nerrors; k++)
            if (e->step_errors[k].set) hr_error_to_lsq(r, &e->step_errors[k], &err);
        if (e->error.set) hr_error_to_lsq(r, &e->error, &err);
    }
}

static void scan_sql(const char *p, size_t n)
{
    sql_stmt_info info;
    size_t off = 0, len;
    int empty;
    jbuf b = { 0 };

    while (off < n) {
        if (sql_next_statement(p + off, n - off, &len, &empty) != 0) break;
        if (len == 0 || len > n - off) abort();
        if (sql_scan_params(p + off, len, &info) == 0) {
            if (info.nnamed > 0)
                (void)sql_param_index(&info, info.named[0].name, info.named[0].len);
            sql_info_free(&info);
        }
        off += len;
    }
    (void)jb_str(&b, p, n);
    jb_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data + 1;
    size_t n, off, k, piece, cap;
    hr_response r;
    lsq_error err;
    int ok = 1;

    if (size < 1) return 0;
    n = size - 1;
    piece = (size_t)(data[0] & 0x3f) + 1;
    cap = (data[0] & 0x40) ? 4096 : (size_t)64 << 20;
    if (hr_begin(&r, cap) != 0) return 0;
    for (off = 0; off < n && ok; off += k) {
        k = n - off < piece ? n - off : piece;
        ok = hr_feed(&r, body + off, k, &err) == 0;
    }
    if (ok && hr_finish(&r, &err) == 0) walk(&r);
    hr_free(&r);
    scan_sql(body, n);
    return 0;
}
