/*
 * test_intake.c - the port's stdin (intake.c) and the callback path
 * through it (channel.c, functions.c, callback_cmds.c), driven the way
 * main.c drives them: frames are written into a pipe, intake reads the
 * other end (no spin: a blocking descriptor), and every frame intake or
 * the channel writes to "stdout" is recorded for the test to read.
 *
 * Where a test needs the Erlang side to act while the port waits (an
 * answer after a delay, control commands and requests arriving while a
 * callback waits, EOF), a peer thread plays it: it writes frames scripted
 * in advance and answers the callbacks it sees recorded. Only the main
 * thread CHECKs; the peer reports in its struct and is always joined
 * before the test looks at anything. If what it waits for never comes, it
 * closes the pipe: every wait of the port ends at EOF, so a broken intake
 * fails a test instead of hanging the program.
 *
 * intake.c and channel.c keep global state: every test starts with
 * fx_init (intake_init, channel_install) and ends with fx_fini
 * (intake_free, the channel uninstalled) once its peer is joined.
 */
#include "test_util.h"
#include "channel.h"
#include "frame_io.h"
#include "intake.h"
#include "protocol.h"
#include "term.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_FRAME (1024 * 1024) /* intake's frame limit, unless a test sets one */
#define PEER_TIMEOUT_MS 5000    /* a peer gives up (and closes the pipe) after this */
#define DELAY_MS 20             /* how long a peer lets the port wait first */

/* ---- what the port writes: recorded ------------------------------------- */

#define REC_MAX 64
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* a frame was recorded */
    char *frame[REC_MAX];   /* copies, kept until rec_clear */
    size_t len[REC_MAX];
    int n;                  /* frames recorded */
    int lost;               /* frames past REC_MAX, not kept */
} g_rec = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, { NULL }, { 0 }, 0, 0 };

/* The writer given to intake_init and channel_install (main.c's
 * write_frame). Any thread. */
static void rec_write(const char *frame, size_t len)
{
    char *copy = malloc(len ? len : 1);

    if (copy == NULL) abort();
    memcpy(copy, frame, len);
    if (pthread_mutex_lock(&g_rec.mu) != 0) abort();
    if (g_rec.n < REC_MAX) {
        g_rec.frame[g_rec.n] = copy;
        g_rec.len[g_rec.n] = len;
        g_rec.n++;
        copy = NULL;
    } else {
        g_rec.lost++;
    }
    (void)pthread_cond_broadcast(&g_rec.cv);
    (void)pthread_mutex_unlock(&g_rec.mu);
    free(copy);
}

/* Forget every frame (no other thread may be running). */
static void rec_clear(void)
{
    int i;

    for (i = 0; i < g_rec.n; i++) free(g_rec.frame[i]);
    memset(g_rec.frame, 0, sizeof g_rec.frame);
    g_rec.n = 0;
    g_rec.lost = 0;
}

static int rec_count(void)
{
    int n;

    if (pthread_mutex_lock(&g_rec.mu) != 0) abort();
    n = g_rec.n;
    (void)pthread_mutex_unlock(&g_rec.mu);
    return n;
}

/* Wait until at least n frames are recorded, or ms have passed; the
 * count then. Frame i < the count stays where it is until rec_clear. */
static int rec_wait(int n, int ms)
{
    struct timespec until;
    int got, rc = 0;

    (void)clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    if (pthread_mutex_lock(&g_rec.mu) != 0) abort();
    while (g_rec.n < n && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&g_rec.cv, &g_rec.mu, &until);
    got = g_rec.n;
    (void)pthread_mutex_unlock(&g_rec.mu);
    return got;
}

/* Decode bytes as a reply ({Ref, ok | error, _}) into r (a copy). */
static int take_copy(reply *r, const char *p, size_t len)
{
    ei_x_buff x;

    if (ei_x_new(&x) != 0 || ei_x_append_buf(&x, p, (int)len) != 0) abort();
    return reply_take(r, &x);
}

/* Recorded frame i as a reply; 0 if it is a well-formed one. */
static int rec_reply(int i, reply *r)
{
    reply_free(r);
    if (i >= rec_count()) return -1;
    return take_copy(r, g_rec.frame[i], g_rec.len[i]);
}

/* ---- callback frames: {Ref, callback, {Id, Payload}} -------------------- */

#define MAX_STEPS 16
typedef struct callback {
    long ref;
    unsigned long id;
    char kind[MAXATOMLEN_UTF8];     /* call | steps | final */
    long long fun;                  /* call, final: FunId */
    unsigned long long ctx;         /* final: Ctx */
    int nargs;                      /* call: Args */
    lsq_value args[8];
    int nsteps;                     /* steps, final: Steps, [{FunId, Ctx, [Arg]}] */
    long long step_fun[MAX_STEPS];
    unsigned long long step_ctx[MAX_STEPS];
    lsq_value step_arg[MAX_STEPS];  /* each step's only argument */
} callback;

/* Steps: [{FunId, Ctx, [Arg]}], with exactly one argument each. */
static int cb_steps(const char *buf, int *idx, callback *c)
{
    int n, i, arity, nargs;

    if (ei_decode_list_header(buf, idx, &n) != 0 || n > MAX_STEPS) return -1;
    for (i = 0; i < n; i++) {
        if (ei_decode_tuple_header(buf, idx, &arity) != 0 || arity != 3 ||
            ei_decode_longlong(buf, idx, &c->step_fun[i]) != 0 ||
            ei_decode_ulonglong(buf, idx, &c->step_ctx[i]) != 0 ||
            ei_decode_list_header(buf, idx, &nargs) != 0 || nargs != 1 ||
            get_value(buf, idx, &c->step_arg[i]) != 0 || ei_decode_list_header(buf, idx, &nargs) != 0 ||
            nargs != 0)
            return -1;
    }
    c->nsteps = n;
    return n > 0 && (ei_decode_list_header(buf, idx, &n) != 0 || n != 0) ? -1 : 0;
}

/* Take apart a callback frame (values point into buf). 0 if it is one of
 * the three shapes of functions.h, exactly. */
static int cb_decode(const char *buf, size_t len, callback *c)
{
    int idx = 0, version, arity, n, i;
    char tag[MAXATOMLEN_UTF8];

    memset(c, 0, sizeof *c);
    if (ei_decode_version(buf, &idx, &version) != 0 ||
        ei_decode_tuple_header(buf, &idx, &arity) != 0 || arity != 3 ||
        ei_decode_long(buf, &idx, &c->ref) != 0 || ei_decode_atom(buf, &idx, tag) != 0 ||
        strcmp(tag, "callback") != 0 || ei_decode_tuple_header(buf, &idx, &arity) != 0 ||
        arity != 2 || ei_decode_ulong(buf, &idx, &c->id) != 0 ||
        ei_decode_tuple_header(buf, &idx, &arity) != 0 || ei_decode_atom(buf, &idx, c->kind) != 0)
        return -1;
    if (strcmp(c->kind, "call") == 0) {
        if (arity != 3 || ei_decode_longlong(buf, &idx, &c->fun) != 0 ||
            ei_decode_list_header(buf, &idx, &n) != 0 || n > 8)
            return -1;
        for (i = 0; i < n; i++)
            if (get_value(buf, &idx, &c->args[i]) != 0) return -1;
        c->nargs = n;
        if (n > 0 && (ei_decode_list_header(buf, &idx, &n) != 0 || n != 0)) return -1;
    } else if (strcmp(c->kind, "final") == 0) {
        if (arity != 4 || ei_decode_longlong(buf, &idx, &c->fun) != 0 ||
            ei_decode_ulonglong(buf, &idx, &c->ctx) != 0 || cb_steps(buf, &idx, c) != 0)
            return -1;
    } else if (strcmp(c->kind, "steps") == 0) {
        if (arity != 2 || cb_steps(buf, &idx, c) != 0) return -1;
    } else {
        return -1;
    }
    return (size_t)idx == len ? 0 : -1;
}

/* Recorded frame i as a callback. */
static int rec_callback(int i, callback *c)
{
    memset(c, 0, sizeof *c);
    if (i >= rec_count()) return -1;
    return cb_decode(g_rec.frame[i], g_rec.len[i], c);
}

/* ---- frames written to the port ------------------------------------------ */

/* {Ref, answer, Id, Result} with Result still to be encoded. */
static void answer_begin(ei_x_buff *x, long ref, unsigned long id)
{
    req_begin(x, ref, "answer", 2);
    xint_erl(x, (long long)id);
}

/* {Ref, answer, Id, {ok, V}} */
static void answer_ok(ei_x_buff *x, long ref, unsigned long id, long long v)
{
    answer_begin(x, ref, id);
    EI(ei_x_encode_tuple_header(x, 2));
    EI(ei_x_encode_atom(x, "ok"));
    xint_erl(x, v);
}

/* {Ref, answer, Id, {error, Msg}} */
static void answer_error(ei_x_buff *x, long ref, unsigned long id, const char *msg)
{
    answer_begin(x, ref, id);
    EI(ei_x_encode_tuple_header(x, 2));
    EI(ei_x_encode_atom(x, "error"));
    EI(ei_x_encode_binary(x, msg, (int)strlen(msg)));
}

static void req_ping(ei_x_buff *x, long ref)
{
    req_begin(x, ref, "ping", 0);
}

static void req_cancel(ei_x_buff *x, long ref, long target)
{
    req_begin(x, ref, "cancel", 1);
    xint_erl(x, target);
}

/* {Ref, create_function, Name, Arity, FunId, Flags} */
static void req_create_function(ei_x_buff *x, long ref, const char *name, int arity,
                                long long fun, int aggregate)
{
    req_begin(x, ref, "create_function", 4);
    EI(ei_x_encode_binary(x, name, (int)strlen(name)));
    xint_erl(x, arity);
    xint_erl(x, fun);
    if (aggregate) {
        EI(ei_x_encode_list_header(x, 1));
        EI(ei_x_encode_atom(x, "aggregate"));
    }
    EI(ei_x_encode_empty_list(x));
}

/* ---- the fixture ------------------------------------------------------------ */

typedef struct fixture {
    int rd, wr;             /* the pipe: intake reads rd, the test writes wr */
    lsq_port port;          /* what requests run on */
    ei_x_buff x;            /* intake's scratch and reply buffer (main.c's x) */
} fixture;

/* A fresh intake on a new pipe, recording what it writes; a :memory:
 * database open on the port if open_db. 0, or -1 (a CHECK failed). */
static int fx_init_at(const char *file, int line, fixture *f, size_t max_frame, int open_db)
{
    int fds[2];
    reply r;

    memset(f, 0, sizeof *f);
    f->rd = f->wr = -1;
    rec_clear();
    port_init(&f->port);
    if (ei_x_new(&f->x) != 0) abort();
    CHECK_AT(file, line, pipe(fds) == 0);
    f->rd = fds[0];
    f->wr = fds[1];
    CHECK_AT(file, line, intake_init(f->rd, max_frame, 0, &f->port, rec_write) == 0);
    channel_install(rec_write, intake_expect, intake_await, intake_running_ref, intake_stopped);
    CHECK_AT(file, line, intake_eof() == 0 && intake_read_error() == 0);
    CHECK_AT(file, line, intake_running_ref() == 0);
    if (!open_db) return 0;
    reply_init(&r);
    OPEN(&f->port, &r, 1, ":memory:", -1, -1);
    CHECK_AT(file, line, r.valid && r.ok);
    reply_free(&r);
    CHECK_AT(file, line, f->port.be != NULL && f->port.be->sqlite != NULL);
    return f->port.be != NULL && f->port.be->sqlite != NULL ? 0 : -1;
}
#define FX_INIT(f, max, open_db) fx_init_at(__FILE__, __LINE__, (f), (max), (open_db))

static void close_write_end(fixture *f)
{
    if (f->wr >= 0) (void)close(f->wr);
    f->wr = -1;
}

/* After every thread of the test is joined. */
static void fx_fini(fixture *f)
{
    channel_install(NULL, NULL, NULL, NULL, NULL);
    intake_free();
    close_write_end(f);
    if (f->rd >= 0) (void)close(f->rd);
    f->rd = -1;
    port_fini(&f->port);
    (void)ei_x_free(&f->x);
    rec_clear();
}

/* Write a frame into the pipe and free it. */
static void send_at(const char *file, int line, fixture *f, ei_x_buff *frame)
{
    CHECK_AT(file, line, frame_write(f->wr, frame->buff, (size_t)frame->index) == 0);
    (void)ei_x_free(frame);
}
#define SEND(f, frame) send_at(__FILE__, __LINE__, (f), (frame))

/* What intake_run's started hook saw: main.c arms its watchdog there,
 * and a watchdog that takes the timer over needs the request to count as
 * running by then. */
static long g_started_ref = -1;

static void note_started(void)
{
    g_started_ref = intake_running_ref();
}

/* intake_next must give a worker request (ref, cmd): run it as main.c
 * does and leave its reply in r. */
static void run_next_at(const char *file, int line, fixture *f, long ref, const char *cmd, reply *r)
{
    intake_job *j = intake_next(&f->x);

    reply_free(r);
    CHECK_AT(file, line, j != NULL);
    if (j == NULL) return;
    CHECK_AT(file, line, j->req.ref == ref && strcmp(j->req.cmd, cmd) == 0);
    g_started_ref = -1;
    CHECK_AT(file, line, intake_run(j, &f->x, note_started) == 0);
    CHECK_AT(file, line, g_started_ref == ref);
    CHECK_AT(file, line, intake_running_ref() == 0);
    CHECK_AT(file, line, take_copy(r, f->x.buff, (size_t)f->x.index) == 0);
    CHECK_AT(file, line, r->ref == ref);
    intake_free_job(j);
}
#define RUN_NEXT(f, ref, cmd, r) run_next_at(__FILE__, __LINE__, (f), (ref), (cmd), (r))

/* Send frame, then run it through intake (the request must come out). */
static void request_at(const char *file, int line, fixture *f, ei_x_buff *frame, long ref,
                       const char *cmd, reply *r)
{
    send_at(file, line, f, frame);
    run_next_at(file, line, f, ref, cmd, r);
}
#define REQUEST(f, frame, ref, cmd, r) request_at(__FILE__, __LINE__, (f), (frame), (ref), (cmd), (r))

/* intake_next must deal with the frame itself: no job. */
static void expect_no_job_at(const char *file, int line, fixture *f)
{
    intake_job *j = intake_next(&f->x);

    CHECK_AT(file, line, j == NULL);
    if (j != NULL) {
        fprintf(stderr, "    unexpected job %ld %s\n", j->req.ref, j->req.cmd);
        intake_free_job(j);
    }
}
#define EXPECT_NO_JOB(f) expect_no_job_at(__FILE__, __LINE__, (f))

/* ---- the peer: the Erlang side, on a second thread --------------------------- */

#define PEER_FRAMES 8
typedef enum { ANSWER_OK, ANSWER_ERROR } answer_kind;

typedef struct peer {
    fixture *f;
    int wait_callback;          /* first wait for a callback frame to be recorded */
    int delay_ms;               /* then sleep this long */
    ei_x_buff frame[PEER_FRAMES]; /* then write these, in order */
    int nframes;
    int answers;                /* then answer this many waited-for callbacks, */
    answer_kind kind;           /* each with {ok, value} or {error, msg} */
    long long value;
    const char *msg;
    int close_at_end;           /* then close the pipe (EOF) */
    /* results, read after the join */
    int timed_out;              /* something it waited for never came */
    int write_failed;
    int answered;
    pthread_t thread;
    int started;
} peer;

static void sleep_ms(int ms)
{
    struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L };

    while (nanosleep(&t, &t) != 0 && errno == EINTR) {}
}

static void peer_write(peer *p, const ei_x_buff *x)
{
    if (frame_write(p->f->wr, x->buff, (size_t)x->index) != 0) p->write_failed = 1;
}

/* Answer the next waited-for callback recorded from *cursor on. 0, or -1
 * when none came in time. */
static int peer_answer_one(peer *p, int *cursor)
{
    callback c;
    ei_x_buff x;

    for (;;) {
        if (rec_wait(*cursor + 1, PEER_TIMEOUT_MS) <= *cursor) return -1;
        if (rec_callback((*cursor)++, &c) != 0 || c.id == 0) continue;
        if (p->kind == ANSWER_OK) answer_ok(&x, c.ref, c.id, p->value);
        else answer_error(&x, c.ref, c.id, p->msg);
        peer_write(p, &x);
        (void)ei_x_free(&x);
        return 0;
    }
}

static void *peer_main(void *arg)
{
    peer *p = arg;
    int cursor = 0, i;
    callback c;

    if (p->wait_callback) {
        for (;;) {
            if (rec_wait(cursor + 1, PEER_TIMEOUT_MS) <= cursor) {
                p->timed_out = 1;
                break;
            }
            if (rec_callback(cursor, &c) == 0) break;
            cursor++;
        }
    }
    if (p->delay_ms > 0) sleep_ms(p->delay_ms);
    for (i = 0; i < p->nframes && !p->timed_out; i++) peer_write(p, &p->frame[i]);
    for (; p->answered < p->answers && !p->timed_out; p->answered++)
        if (peer_answer_one(p, &cursor) != 0) p->timed_out = 1;
    /* Closing the pipe ends any wait of the port: a test that went wrong
     * fails instead of hanging. */
    if (p->close_at_end || p->timed_out) close_write_end(p->f);
    return NULL;
}

static void peer_init(peer *p, fixture *f)
{
    memset(p, 0, sizeof *p);
    p->f = f;
    p->delay_ms = DELAY_MS;
}

/* The next frame slot to encode into. */
static ei_x_buff *peer_frame(peer *p)
{
    if (p->nframes >= PEER_FRAMES) abort();
    return &p->frame[p->nframes++];
}

static void peer_start_at(const char *file, int line, peer *p)
{
    p->started = pthread_create(&p->thread, NULL, peer_main, p) == 0;
    CHECK_AT(file, line, p->started);
}
#define PEER_START(p) peer_start_at(__FILE__, __LINE__, (p))

/* Join the peer and CHECK that it did all it was to do. */
static void peer_join_at(const char *file, int line, peer *p)
{
    int i;

    if (p->started) CHECK_AT(file, line, pthread_join(p->thread, NULL) == 0);
    p->started = 0;
    CHECK_AT(file, line, !p->timed_out && !p->write_failed && p->answered == p->answers);
    for (i = 0; i < p->nframes; i++) (void)ei_x_free(&p->frame[i]);
    p->nframes = 0;
}
#define PEER_JOIN(p) peer_join_at(__FILE__, __LINE__, (p))

/* ---- intake_next ------------------------------------------------------------- */

/* A worker request comes out of intake_next as read, runs with its ref
 * marked running, and nothing is written for it but its reply. */
static void test_intake_worker_request(void)
{
    fixture f;
    ei_x_buff x;
    reply r;

    if (FX_INIT(&f, MAX_FRAME, 1) != 0) goto out;
    reply_init(&r);
    req_ping(&x, 7);
    REQUEST(&f, &x, 7, "ping", &r);
    EXPECT_OK_ATOM(&r, 7);
    /* A query too, with its arguments where the job says they are. */
    req_sql(&x, 8, "query", "SELECT 1 + 1", 12, NULL, 0);
    REQUEST(&f, &x, 8, "query", &r);
    {
        static const char *const cols[] = { "1 + 1" };
        lsq_value two = vint(2);

        EXPECT_ROWS(&r, 8, 1, cols, 1, &two);
    }
    /* Unknown commands and wrong arities are worker requests too: running
     * them answers bad_frame. */
    req_begin(&x, 9, "frobnicate", 0);
    REQUEST(&f, &x, 9, "frobnicate", &r);
    EXPECT_ERROR(&r, 9, "bad_frame");
    req_begin(&x, 10, "answer", 1); /* {Ref, answer, Id}: no Result */
    xint_erl(&x, 1);
    REQUEST(&f, &x, 10, "answer", &r);
    EXPECT_ERROR(&r, 10, "bad_frame");
    CHECK(rec_count() == 0);
    CHECK(!intake_eof());
    reply_free(&r);
out:
    fx_fini(&f);
}

/* A malformed frame is answered bad_frame at once, with its ref when it
 * can be read, and intake goes on with the next frame. */
static void test_intake_bad_frame(void)
{
    static const char garbage[] = { 1, 2, 3, 4, 5 };
    fixture f;
    ei_x_buff x;
    reply r;

    if (FX_INIT(&f, MAX_FRAME, 0) != 0) goto out;
    reply_init(&r);
    /* {11, "ping"}: the command is not an atom */
    xnew(&x);
    EI(ei_x_encode_tuple_header(&x, 2));
    xint_erl(&x, 11);
    EI(ei_x_encode_string(&x, "ping"));
    SEND(&f, &x);
    EXPECT_NO_JOB(&f);
    CHECK(rec_count() == 1);
    CHECK(rec_reply(0, &r) == 0);
    EXPECT_ERROR(&r, 11, "bad_frame");
    EXPECT_MSG(&r, "malformed request");
    /* not a term at all: no ref to be read */
    CHECK(frame_write(f.wr, garbage, sizeof garbage) == 0);
    EXPECT_NO_JOB(&f);
    CHECK(rec_count() == 2);
    CHECK(rec_reply(1, &r) == 0);
    EXPECT_ERROR(&r, LSQ_REF_UNKNOWN, "bad_frame");
    /* an empty frame */
    CHECK(frame_write(f.wr, "", 0) == 0);
    EXPECT_NO_JOB(&f);
    CHECK(rec_count() == 3);
    CHECK(rec_reply(2, &r) == 0);
    EXPECT_ERROR(&r, LSQ_REF_UNKNOWN, "bad_frame");
    /* and the stream goes on */
    req_ping(&x, 12);
    SEND(&f, &x);
    {
        intake_job *j = intake_next(&f.x);

        CHECK(j != NULL && j->req.ref == 12);
        if (j != NULL) intake_free_job(j);
    }
    CHECK(!intake_eof() && !intake_read_error());
    reply_free(&r);
out:
    fx_fini(&f);
}

/* A frame over the limit is skipped and answered frame_too_large with its
 * peeked ref; the next frame is read as usual. */
static void test_intake_frame_too_large(void)
{
    char sql[300];
    fixture f;
    ei_x_buff x;
    reply r;
    intake_job *j;

    if (FX_INIT(&f, 64, 0) != 0) goto out;
    reply_init(&r);
    memset(sql, 'x', sizeof sql);
    req_sql(&x, 13, "query", sql, sizeof sql, NULL, 0);
    SEND(&f, &x);
    EXPECT_NO_JOB(&f);
    CHECK(rec_count() == 1);
    CHECK(rec_reply(0, &r) == 0);
    EXPECT_ERROR(&r, 13, "frame_too_large");
    req_ping(&x, 14);
    SEND(&f, &x);
    j = intake_next(&f.x);
    CHECK(j != NULL && j->req.ref == 14);
    if (j != NULL) intake_free_job(j);
    reply_free(&r);
out:
    fx_fini(&f);
}

/* Control commands with nothing running are answered ok at once (cancel
 * of nothing too); a bad cancel is bad_argument. None is a job. */
static void test_intake_control_idle(void)
{
    fixture f;
    ei_x_buff x;
    reply r;

    if (FX_INIT(&f, MAX_FRAME, 1) != 0) goto out;
    reply_init(&r);
    req_begin(&x, 15, "interrupt", 0);
    SEND(&f, &x);
    EXPECT_NO_JOB(&f);
    CHECK(rec_count() == 1);
    CHECK(rec_reply(0, &r) == 0);
    EXPECT_OK_ATOM(&r, 15);
    req_cancel(&x, 16, 99);
    SEND(&f, &x);
    EXPECT_NO_JOB(&f);
    CHECK(rec_count() == 2);
    CHECK(rec_reply(1, &r) == 0);
    EXPECT_OK_ATOM(&r, 16);
    req_begin(&x, 17, "cancel", 1);
    EI(ei_x_encode_atom(&x, "nope"));
    SEND(&f, &x);
    EXPECT_NO_JOB(&f);
    CHECK(rec_count() == 3);
    CHECK(rec_reply(2, &r) == 0);
    EXPECT_ERROR(&r, 17, "bad_argument");
    /* The interrupt hit nothing: the next request runs normally. */
    req_sql(&x, 18, "query", "SELECT 1", 8, NULL, 0);
    REQUEST(&f, &x, 18, "query", &r);
    CHECK(r.valid && r.ok);
    reply_free(&r);
out:
    fx_fini(&f);
}

/* An answer nobody waits for (its call gave up, or it never was) is
 * dropped without a word: answers are not requests. */
static void test_intake_stray_answer(void)
{
    fixture f;
    ei_x_buff x;
    intake_job *j;

    if (FX_INIT(&f, MAX_FRAME, 0) != 0) goto out;
    answer_ok(&x, 19, 77, 1);
    SEND(&f, &x);
    EXPECT_NO_JOB(&f);
    /* an Id that is no integer, and one that is not positive */
    req_begin(&x, 20, "answer", 2);
    EI(ei_x_encode_atom(&x, "x"));
    EI(ei_x_encode_atom(&x, "ok"));
    SEND(&f, &x);
    EXPECT_NO_JOB(&f);
    answer_begin(&x, 21, 0);
    EI(ei_x_encode_atom(&x, "ok"));
    SEND(&f, &x);
    EXPECT_NO_JOB(&f);
    CHECK(rec_count() == 0);
    CHECK(!intake_eof());
    req_ping(&x, 22);
    SEND(&f, &x);
    j = intake_next(&f.x);
    CHECK(j != NULL && j->req.ref == 22);
    if (j != NULL) intake_free_job(j);
out:
    fx_fini(&f);
}

/* A clean EOF between frames ends the input; it is no read error. */
static void test_intake_eof(void)
{
    fixture f;

    if (FX_INIT(&f, MAX_FRAME, 0) != 0) goto out;
    close_write_end(&f);
    EXPECT_NO_JOB(&f);
    CHECK(intake_eof());
    CHECK(!intake_read_error());
    CHECK(rec_count() == 0);
out:
    fx_fini(&f);
}

/* Input that ends inside a frame (its header, or its body) is a read
 * error, and it ends the input too. */
static void test_intake_cut_off(void)
{
    static const unsigned char header_only[] = { 0, 0 };
    static const unsigned char short_body[] = { 0, 0, 0, 20, 131, 104, 2 };
    fixture f;
    int pass;

    for (pass = 0; pass < 2; pass++) {
        const unsigned char *b = pass ? short_body : header_only;
        size_t n = pass ? sizeof short_body : sizeof header_only;

        if (FX_INIT(&f, MAX_FRAME, 0) != 0) {
            fx_fini(&f);
            return;
        }
        CHECK(write(f.wr, b, n) == (ssize_t)n);
        close_write_end(&f);
        EXPECT_NO_JOB(&f);
        CHECK(intake_eof());
        CHECK(intake_read_error());
        CHECK(rec_count() == 0);
        fx_fini(&f);
    }
}

/* ---- intake_await ---------------------------------------------------------- */

/* The answer frame written by the peer, byte for byte. */
static void check_answer_frame_at(const char *file, int line, const char *frame, size_t len,
                                  unsigned long id, long long value)
{
    ei_x_buff want;

    answer_ok(&want, 23, id, value);
    CHECK_AT(file, line, frame != NULL && len == (size_t)want.index &&
                             memcmp(frame, want.buff, len) == 0);
    (void)ei_x_free(&want);
}

/* (a) The answer comes ~20 ms later, from another thread: the wait gets
 * exactly that frame. */
static void test_intake_await_answer(void)
{
    fixture f;
    peer p;
    char *frame = NULL;
    size_t len = 0;
    int rc;

    if (FX_INIT(&f, MAX_FRAME, 0) != 0) goto out;
    peer_init(&p, &f);
    answer_ok(peer_frame(&p), 23, 5, 42);
    intake_expect(5);
    PEER_START(&p);
    rc = intake_await(5, &frame, &len);
    PEER_JOIN(&p);
    CHECK(rc == INTAKE_ANSWERED);
    if (rc == INTAKE_ANSWERED) check_answer_frame_at(__FILE__, __LINE__, frame, len, 5, 42);
    free(frame);
    CHECK(rec_count() == 0);
    /* A wait for an id not expected first would never see its answer. */
    frame = NULL;
    CHECK(intake_await(6, &frame, &len) == INTAKE_EOF && frame == NULL);
    CHECK(!intake_eof());
    CHECK(!intake_eof());
out:
    fx_fini(&f);
}

/* (b) While waiting: answers to other ids are dropped, worker requests
 * are queued, and intake_next hands them out afterwards in order, before
 * it reads stdin again. A cancel of a queued request drops it and
 * answers it interrupted. */
static void test_intake_await_queues(void)
{
    fixture f;
    peer p;
    char *frame = NULL;
    size_t len = 0;
    int rc;
    intake_job *j;
    reply r;

    if (FX_INIT(&f, MAX_FRAME, 0) != 0) goto out;
    reply_init(&r);
    peer_init(&p, &f);
    answer_ok(peer_frame(&p), 23, 4, 1);          /* another id: dropped */
    req_ping(peer_frame(&p), 30);                 /* queued */
    answer_ok(peer_frame(&p), 23, 6, 1);          /* dropped */
    req_ping(peer_frame(&p), 31);                 /* queued, then cancelled */
    req_cancel(peer_frame(&p), 32, 31);
    req_sql(peer_frame(&p), 33, "query", "SELECT 1", 8, NULL, 0); /* queued */
    answer_ok(peer_frame(&p), 23, 5, 42);         /* ours */
    intake_expect(5);
    PEER_START(&p);
    rc = intake_await(5, &frame, &len);
    PEER_JOIN(&p);
    CHECK(rc == INTAKE_ANSWERED);
    if (rc == INTAKE_ANSWERED) check_answer_frame_at(__FILE__, __LINE__, frame, len, 5, 42);
    free(frame);
    /* cancel 31: {31, error, interrupted}, then {32, ok, ok} */
    CHECK(rec_count() == 2);
    CHECK(rec_reply(0, &r) == 0);
    EXPECT_ERROR(&r, 31, "interrupted");
    CHECK(rec_reply(1, &r) == 0);
    EXPECT_OK_ATOM(&r, 32);
    /* What was queued comes first, in order, even after EOF. */
    close_write_end(&f);
    j = intake_next(&f.x);
    CHECK(j != NULL && j->req.ref == 30 && strcmp(j->req.cmd, "ping") == 0);
    if (j != NULL) intake_free_job(j);
    j = intake_next(&f.x);
    CHECK(j != NULL && j->req.ref == 33 && strcmp(j->req.cmd, "query") == 0);
    if (j != NULL) intake_free_job(j);
    EXPECT_NO_JOB(&f);
    CHECK(intake_eof() && !intake_read_error());
    CHECK(rec_count() == 2);
    reply_free(&r);
out:
    fx_fini(&f);
}

/* (d) EOF while waiting: the wait ends INTAKE_EOF (cleanly), and ends at
 * once when it starts after EOF. A frame cut off ends it as EOF too, with
 * the read error set. */
static void test_intake_await_eof(void)
{
    static const unsigned char cut[] = { 0, 0, 0, 9, 131 };
    fixture f;
    peer p;
    char *frame = NULL;
    size_t len = 0;
    int pass;

    for (pass = 0; pass < 2; pass++) {
        if (FX_INIT(&f, MAX_FRAME, 0) != 0) {
            fx_fini(&f);
            return;
        }
        peer_init(&p, &f);
        /* pass 1: a header announcing 9 bytes, and 1 of them */
        if (pass == 1) CHECK(write(f.wr, cut, sizeof cut) == (ssize_t)sizeof cut);
        p.close_at_end = 1;
        intake_expect(5);
        PEER_START(&p);
        CHECK(intake_await(5, &frame, &len) == INTAKE_EOF);
        PEER_JOIN(&p);
        CHECK(frame == NULL);
        CHECK(intake_eof());
        CHECK(intake_read_error() == pass);
        /* Waiting again after EOF ends at once. */
        intake_expect(6);
        CHECK(intake_await(6, &frame, &len) == INTAKE_EOF);
        CHECK(rec_count() == 0);
        fx_fini(&f);
    }
}

/* (c) A request that is running waits in intake_await (the SQL function
 * await_probe(Id) waits for Id's answer and returns the outcome): cancel
 * of its ref and interrupt end the wait INTAKE_INTERRUPTED; a cancel of
 * another ref does not, and the answer then arrives. */
static struct {
    int calls;
    int rc;             /* intake_await's */
    long running;       /* intake_running_ref() inside the request */
    char *frame;        /* the answer, if there was one */
    size_t len;
} g_probe;

static void probe_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    char *frame = NULL;
    size_t len = 0;

    (void)argc;
    g_probe.calls++;
    g_probe.running = intake_running_ref();
    intake_expect((unsigned long)sqlite3_value_int64(argv[0]));
    g_probe.rc = intake_await((unsigned long)sqlite3_value_int64(argv[0]), &frame, &len);
    free(g_probe.frame);
    g_probe.frame = frame;
    g_probe.len = len;
    sqlite3_result_int(ctx, g_probe.rc);
}

/* The query {ref, query, "SELECT await_probe(5)", []} run through intake
 * with the peer p acting meanwhile; its reply in r. */
static void probe_run_at(const char *file, int line, fixture *f, peer *p, long ref, reply *r)
{
    sqlite3 *db = f->port.be->sqlite(f->port.conn);
    ei_x_buff x;

    free(g_probe.frame);
    memset(&g_probe, 0, sizeof g_probe);
    g_probe.rc = -1;
    CHECK_AT(file, line, sqlite3_create_function_v2(db, "await_probe", 1, SQLITE_UTF8, NULL,
                                                    probe_fn, NULL, NULL, NULL) == SQLITE_OK);
    req_sql(&x, ref, "query", "SELECT await_probe(5)", 21, NULL, 0);
    send_at(file, line, f, &x);
    peer_start_at(file, line, p);
    run_next_at(file, line, f, ref, "query", r);
    peer_join_at(file, line, p);
    CHECK_AT(file, line, g_probe.calls == 1 && g_probe.running == ref);
}
#define PROBE_RUN(f, p, ref, r) probe_run_at(__FILE__, __LINE__, (f), (p), (ref), (r))

static void test_intake_await_cancel(void)
{
    static const char *const cols[] = { "await_probe(5)" };
    fixture f;
    peer p;
    reply r;
    lsq_value zero = vint(INTAKE_ANSWERED);

    if (FX_INIT(&f, MAX_FRAME, 1) != 0) goto out;
    reply_init(&r);

    /* A cancel of another ref and an interrupt-free wait: answered. */
    peer_init(&p, &f);
    req_cancel(peer_frame(&p), 40, 999);
    answer_ok(peer_frame(&p), 23, 5, 42);
    PROBE_RUN(&f, &p, 41, &r);
    CHECK(g_probe.rc == INTAKE_ANSWERED);
    if (g_probe.rc == INTAKE_ANSWERED)
        check_answer_frame_at(__FILE__, __LINE__, g_probe.frame, g_probe.len, 5, 42);
    EXPECT_ROWS(&r, 41, 1, cols, 1, &zero);
    CHECK(rec_count() == 1);
    CHECK(rec_reply(0, &r) == 0);
    EXPECT_OK_ATOM(&r, 40);

    /* cancel of the running ref */
    rec_clear();
    peer_init(&p, &f);
    req_cancel(peer_frame(&p), 42, 43);
    PROBE_RUN(&f, &p, 43, &r);
    CHECK(g_probe.rc == INTAKE_INTERRUPTED);
    CHECK(g_probe.frame == NULL);
    /* The probe itself returns normally; whether the statement stops too
     * is the progress handler's business (a statement this short ends
     * first). functions.c fails its call: test_intake_function_cancel_eof. */
    CHECK(r.valid && r.ref == 43);
    CHECK(rec_count() == 1);
    CHECK(rec_reply(0, &r) == 0);
    EXPECT_OK_ATOM(&r, 42);

    /* interrupt */
    rec_clear();
    peer_init(&p, &f);
    req_begin(peer_frame(&p), 44, "interrupt", 0);
    PROBE_RUN(&f, &p, 45, &r);
    CHECK(g_probe.rc == INTAKE_INTERRUPTED);
    CHECK(r.valid && r.ref == 45);
    CHECK(rec_count() == 1);
    CHECK(rec_reply(0, &r) == 0);
    EXPECT_OK_ATOM(&r, 44);

    /* The interrupt ended with its request: the next one runs. */
    rec_clear();
    peer_init(&p, &f);
    answer_ok(peer_frame(&p), 23, 5, 1);
    PROBE_RUN(&f, &p, 46, &r);
    CHECK(g_probe.rc == INTAKE_ANSWERED);
    EXPECT_ROWS(&r, 46, 1, cols, 1, &zero);

    free(g_probe.frame);
    g_probe.frame = NULL;
    reply_free(&r);
out:
    fx_fini(&f);
}

/* ---- Erlang SQL functions: functions.c -> channel.c -> intake.c ------------- */

/* Register name/arity as FunId fun through intake (create_function). */
static void create_at(const char *file, int line, fixture *f, long ref, const char *name,
                      int arity, long long fun, int aggregate)
{
    ei_x_buff x;
    reply r;

    reply_init(&r);
    req_create_function(&x, ref, name, arity, fun, aggregate);
    request_at(file, line, f, &x, ref, "create_function", &r);
    expect_ok_atom_at(file, line, &r, ref);
    reply_free(&r);
}
#define CREATE(f, ref, name, arity, fun, agg) \
    create_at(__FILE__, __LINE__, (f), (ref), (name), (arity), (fun), (agg))

/* Run the query sql (ref) through intake while the peer p answers. */
static void fn_query_at(const char *file, int line, fixture *f, peer *p, long ref, const char *sql,
                        reply *r)
{
    ei_x_buff x;

    req_sql(&x, ref, "query", sql, strlen(sql), NULL, 0);
    send_at(file, line, f, &x);
    peer_start_at(file, line, p);
    run_next_at(file, line, f, ref, "query", r);
    peer_join_at(file, line, p);
}
#define FN_QUERY(f, p, ref, sql, r) fn_query_at(__FILE__, __LINE__, (f), (p), (ref), (sql), (r))

/* A scalar call: {Ref, callback, {Id, {call, FunId, [1]}}} goes out with
 * the running request's ref; {ok, 42} comes back as the value; a request
 * that arrived during the call is queued and runs next. */
static void test_intake_function_scalar(void)
{
    static const char *const cols[] = { "f(1)" };
    fixture f;
    peer p;
    reply r;
    callback c;
    lsq_value v42 = vint(42);

    if (FX_INIT(&f, MAX_FRAME, 1) != 0) goto out;
    reply_init(&r);
    CREATE(&f, 50, "f", 1, 7, 0);
    peer_init(&p, &f);
    p.wait_callback = 1;
    req_ping(peer_frame(&p), 52); /* arrives while f waits */
    p.answers = 1;
    p.value = 42;
    FN_QUERY(&f, &p, 51, "SELECT f(1)", &r);
    EXPECT_ROWS(&r, 51, 1, cols, 1, &v42);
    CHECK(rec_count() == 1);
    CHECK(rec_callback(0, &c) == 0);
    CHECK(c.ref == 51 && c.id > 0 && strcmp(c.kind, "call") == 0 && c.fun == 7);
    CHECK(c.nargs == 1 && c.args[0].type == LSQ_INT && c.args[0].u.i == 1);
    RUN_NEXT(&f, 52, "ping", &r);
    EXPECT_OK_ATOM(&r, 52);

    /* The next call gets a new id; text and NULL go as query values do. */
    rec_clear();
    peer_init(&p, &f);
    p.answers = 1;
    p.value = 43;
    FN_QUERY(&f, &p, 53, "SELECT f('caf\xc3\xa9') IS 43", &r);
    {
        unsigned long first = c.id;
        static const char *const cols2[] = { "f('caf\xc3\xa9') IS 43" };
        lsq_value one = vint(1);

        EXPECT_ROWS(&r, 53, 1, cols2, 1, &one);
        CHECK(rec_callback(0, &c) == 0);
        CHECK(c.id != first && c.ref == 53 && c.nargs == 1 && c.args[0].type == LSQ_TEXT &&
              c.args[0].u.s.n == 5 && memcmp(c.args[0].u.s.p, "caf\xc3\xa9", 5) == 0);
    }
    reply_free(&r);
out:
    fx_fini(&f);
}

/* {error, Msg} fails the statement with Msg; with no request running (a
 * call outside intake_run) there is nobody to ask; deleted, f is gone. */
static void test_intake_function_error(void)
{
    fixture f;
    peer p;
    reply r;
    ei_x_buff x;

    if (FX_INIT(&f, MAX_FRAME, 1) != 0) goto out;
    reply_init(&r);
    CREATE(&f, 60, "f", 1, 7, 0);
    peer_init(&p, &f);
    p.answers = 1;
    p.kind = ANSWER_ERROR;
    p.msg = "nope";
    FN_QUERY(&f, &p, 61, "SELECT f(1)", &r);
    CHECK(r.valid && !r.ok && r.ref == 61);
    EXPECT_MSG(&r, "nope");
    CHECK(rec_count() == 1);

    /* Outside a running request (dispatched directly, as the fuzzers do). */
    rec_clear();
    QUERY(&f.port, &r, 62, "SELECT f(1)", NULL, 0);
    CHECK(r.valid && !r.ok);
    EXPECT_MSG(&r, "only inside a request");
    CHECK(rec_count() == 0);

    req_begin(&x, 63, "delete_function", 2);
    EI(ei_x_encode_binary(&x, "f", 1));
    xint_erl(&x, 1);
    REQUEST(&f, &x, 63, "delete_function", &r);
    EXPECT_OK_ATOM(&r, 63);
    req_sql(&x, 64, "query", "SELECT f(1)", 11, NULL, 0);
    REQUEST(&f, &x, 64, "query", &r);
    CHECK(r.valid && !r.ok);
    EXPECT_MSG(&r, "no such function");
    CHECK(rec_count() == 0);
    reply_free(&r);
out:
    fx_fini(&f);
}

/* A cancel of the running request while its function waits interrupts
 * it; EOF while it waits fails it as the connection closing. */
static void test_intake_function_cancel_eof(void)
{
    fixture f;
    peer p;
    reply r;
    callback c;

    if (FX_INIT(&f, MAX_FRAME, 1) != 0) goto out;
    reply_init(&r);
    CREATE(&f, 70, "f", 1, 7, 0);
    peer_init(&p, &f);
    p.wait_callback = 1;
    req_cancel(peer_frame(&p), 72, 71);
    FN_QUERY(&f, &p, 71, "SELECT f(1)", &r);
    EXPECT_ERROR(&r, 71, "interrupted");
    CHECK(rec_count() == 2);
    CHECK(rec_callback(0, &c) == 0 && c.ref == 71);
    CHECK(rec_reply(1, &r) == 0);
    EXPECT_OK_ATOM(&r, 72);
    /* The answer arriving late is dropped. */
    {
        ei_x_buff x;
        intake_job *j;

        answer_ok(&x, 71, c.id, 1);
        SEND(&f, &x);
        req_ping(&x, 73);
        SEND(&f, &x);
        j = intake_next(&f.x);
        CHECK(j == NULL); /* the answer */
        if (j != NULL) intake_free_job(j);
        RUN_NEXT(&f, 73, "ping", &r);
        EXPECT_OK_ATOM(&r, 73);
        CHECK(rec_count() == 2);
    }

    rec_clear();
    peer_init(&p, &f);
    p.wait_callback = 1;
    p.close_at_end = 1;
    FN_QUERY(&f, &p, 74, "SELECT f(1)", &r);
    CHECK(r.valid && !r.ok && r.ref == 74);
    EXPECT_MSG(&r, "closing");
    CHECK(intake_eof() && !intake_read_error());
    reply_free(&r);
out:
    fx_fini(&f);
}

/* An aggregate's steps are not waited for: they travel with its final
 * call, {final, FunId, Ctx, [{FunId, Ctx, Args}...]}; no rows: Ctx 0 and
 * no steps. */
static void test_intake_function_aggregate(void)
{
    static const char *const cols[] = { "agg(column1)" };
    fixture f;
    peer p;
    reply r;
    callback c;
    lsq_value six = vint(6), zero = vint(0);
    int i;

    if (FX_INIT(&f, MAX_FRAME, 1) != 0) goto out;
    reply_init(&r);
    CREATE(&f, 80, "agg", 1, 8, 1);
    peer_init(&p, &f);
    p.answers = 1;
    p.value = 6;
    FN_QUERY(&f, &p, 81, "SELECT agg(column1) FROM (VALUES (1), (2), (3))", &r);
    EXPECT_ROWS(&r, 81, 1, cols, 1, &six);
    CHECK(rec_count() == 1);
    CHECK(rec_callback(0, &c) == 0);
    CHECK(c.ref == 81 && c.id > 0 && strcmp(c.kind, "final") == 0 && c.fun == 8 && c.ctx > 0);
    CHECK(c.nsteps == 3);
    for (i = 0; i < c.nsteps && i < 3; i++)
        CHECK(c.step_fun[i] == 8 && c.step_ctx[i] == c.ctx && c.step_arg[i].type == LSQ_INT &&
              c.step_arg[i].u.i == i + 1);

    rec_clear();
    peer_init(&p, &f);
    p.answers = 1;
    p.value = 0;
    FN_QUERY(&f, &p, 82, "SELECT agg(column1) FROM (VALUES (1)) WHERE 0", &r);
    EXPECT_ROWS(&r, 82, 1, cols, 1, &zero);
    CHECK(rec_callback(0, &c) == 0);
    CHECK(strcmp(c.kind, "final") == 0 && c.fun == 8 && c.ctx == 0 && c.nsteps == 0);

    /* Two groups: a final each, with its own context and its own steps. */
    rec_clear();
    peer_init(&p, &f);
    p.answers = 2;
    p.value = 1;
    FN_QUERY(&f, &p, 83,
             "SELECT agg(column2) FROM (VALUES (1, 10), (2, 20), (1, 11)) GROUP BY column1", &r);
    CHECK(r.valid && r.ok);
    CHECK(rec_count() == 2);
    {
        callback c2;
        int total = 0, k;

        CHECK(rec_callback(0, &c) == 0 && rec_callback(1, &c2) == 0);
        CHECK(c.ctx > 0 && c2.ctx > 0 && c.ctx != c2.ctx);
        for (k = 0; k < c.nsteps; k++) CHECK(c.step_ctx[k] == c.ctx);
        for (k = 0; k < c2.nsteps; k++) CHECK(c2.step_ctx[k] == c2.ctx);
        total = c.nsteps + c2.nsteps;
        CHECK(total == 3);
        /* Group 1 had 10 and 11, group 2 had 20 (in whichever order). */
        if (c.nsteps == 1) {
            callback t = c;

            c = c2;
            c2 = t;
        }
        CHECK(c.nsteps == 2 && c.step_arg[0].u.i + c.step_arg[1].u.i == 21);
        CHECK(c2.nsteps == 1 && c2.step_arg[0].u.i == 20);
    }
    reply_free(&r);
out:
    fx_fini(&f);
}

/* ---- the suite ---------------------------------------------------------- */

static const test_case k_tests[] = {
    TEST(test_intake_worker_request),
    TEST(test_intake_bad_frame),
    TEST(test_intake_frame_too_large),
    TEST(test_intake_control_idle),
    TEST(test_intake_stray_answer),
    TEST(test_intake_eof),
    TEST(test_intake_cut_off),
    TEST(test_intake_await_answer),
    TEST(test_intake_await_queues),
    TEST(test_intake_await_eof),
    TEST(test_intake_await_cancel),
    TEST(test_intake_function_scalar),
    TEST(test_intake_function_error),
    TEST(test_intake_function_cancel_eof),
    TEST(test_intake_function_aggregate),
};

const test_suite intake_suite = SUITE("intake", k_tests);
