/*
 * libsql_nif.c - the `transport => nif' lane of a connection
 * (erl/libsql_nif.erl, erl/libsql_conn.erl).
 *
 * The port program and everything it holds stay where they are: a
 * separate OS process, started and reaped by the VM as an Erlang port
 * (exit status, os_pid, close all stay the VM's). Started with
 * --nif-pipes, the program moves its frames off stdin/stdout onto two
 * pipes of its own and says which; this library opens its ends of them
 * (/proc/<pid>/fd/<n>) and from then on carries the same {packet,4}
 * external-term frames, the same protocol.
 *
 * Why: a caller waiting for the port's answer through the connection
 * process sleeps, and on this kind of machine the wake-up costs more
 * than the database work. Here the calling process itself writes its
 * request and polls for the answer on its own scheduler for a bounded
 * time (the connection's spin_us, at most MAX_SPIN_NS per call, and not
 * while spinning keeps missing: spin_budget), then waits with
 * enif_select. That is the lane: one caller at a time, and
 * only while the connection process has nothing of its own in flight.
 *
 * Who reads the answer pipe, under the mutex:
 *   ST_IDLE       nobody: nothing is expected (or what comes waits in the
 *                 pipe for the next reader);
 *   ST_OWNER      the connection process (it asked with want/2): a select
 *                 tells it, pump/1 reads and sends each frame to it as
 *                 {Res, {data, Bin}}, what a port would send;
 *   ST_LANE       a caller with a request in flight: it reads, keeps its
 *                 own answer and sends every other frame to the owner.
 * Frames reach the owner in the order they were read (every one by
 * enif_send under the mutex), so events and answers keep their order.
 * The frames are cut out of the pipe by nif_frames.c, which makes no
 * erl_nif call of its own (this file gives it read(2), binaries and the
 * owner), so it is fuzzed outside the VM: port/fuzz/fuzz_nif_frames.c.
 *
 * No call blocks a normal scheduler: reads and lane writes are
 * non-blocking (a lane frame is at most PIPE_BUF bytes: all or nothing);
 * a larger write from the owner that would block goes on on a dirty I/O
 * scheduler. No database state lives here: when the program dies, the
 * pipe ends and each waiting caller falls back to the connection process,
 * which has the exit status from the VM.
 */
#include "nif_frames.h"

#include <erl_nif.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define STAGE_BYTES (64 * 1024)          /* read-ahead of the answer pipe */
#define PUMP_BYTES (1024 * 1024)         /* at most this much per pump/1 call */
#define MAX_SPIN_NS (1000LL * 1000LL)    /* one call spins at most 1 ms */
#define LANE_REF_FIRST 0x40000000u       /* lane refs: 2^30 .. 2^31-1 (the */
#define LANE_REF_LAST 0x7fffffffu        /* connection process uses below) */

enum st { ST_IDLE, ST_OWNER, ST_LANE };

typedef struct {
    ErlNifMutex *mu;
    ErlNifCond *wdone;      /* a long write ended (dirty writers wait) */
    int req_fd, resp_fd;    /* -1 once closed */
    int dead;               /* the answer pipe ended or failed */
    enum st st;
    ErlNifPid owner;
    int owner_wants;        /* the owner waits for frames (want/2) */
    int lane_ok;            /* the owner allows lanes (set_lane/2) */
    int writing;            /* a write is under way outside the mutex */
    /* the lane */
    ErlNifPid lane_pid;
    uint32_t lane_ref, next_lane_ref;
    int lane_waiting;       /* the lane caller sleeps: selected, monitored */
    long long lane_t0;      /* when the lane's request was written */
    unsigned spin_backoff;  /* how many calls the next miss pauses spinning */
    unsigned spin_paused;   /* calls left that do not spin (spin_rule) */
    unsigned long long lane_ns; /* time lane requests spent in the program */
    ErlNifMonitor lane_mon;
    nf_reader rd;           /* the answer pipe's frames (nif_frames.h) */
} lnif;

static ErlNifResourceType *g_type;
static ERL_NIF_TERM a_undefined, a_ok, a_error, a_busy, a_closed, a_wait, a_reply, a_data, 
    a_true, a_lane_down, a_eof, a_pending, a_clear, a_enomem;

/* ---- helpers ----------------------------------------------------------------- */

static long long now_ns(void)
{
    struct timespec t;

    (void)clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static ERL_NIF_TERM err(ErlNifEnv *env, const char *what, int e)
{
    char buf[256];

    (void)snprintf(buf, sizeof buf, "%s: %s", what, strerror(e));
    return enif_make_tuple2(env, a_error, enif_make_string(env, buf, ERL_NIF_LATIN1));
}

static int get_res(ErlNifEnv *env, ERL_NIF_TERM t, lnif **c)
{
    return enif_get_resource(env, t, g_type, (void **)c);
}

static int is_self(ErlNifEnv *env, const ErlNifPid *p)
{
    ErlNifPid me;

    return enif_self(env, &me) != NULL && enif_compare_pids(&me, p) == 0;
}

static int read_some(lnif *c, size_t budget, int reader_is_lane, ErlNifBinary *mine, int *got);

/* The owner's notification that the answer pipe has something: armed
 * when the owner wants frames and nobody else reads (the caller holds the
 * mutex). A select is one-shot: it is armed again after each pump. */
static void arm_owner(ErlNifEnv *env, lnif *c)
{
    ErlNifBinary none;
    int got = 0;

    /* A lane's read stops at its answer, and the frames read with it stay
     * staged: the pipe, empty, would never say so and they would wait for
     * the next byte. They go to the owner now, in order (budget 0: staged
     * whole frames only, no read). Out of memory they stay staged for the
     * next reader. */
    (void)read_some(c, 0, 0, &none, &got);
    if (c->dead || c->resp_fd < 0) {
        c->st = ST_IDLE;
        return;
    }
    if (enif_select(env, (ErlNifEvent)c->resp_fd, ERL_NIF_SELECT_READ, c, &c->owner, a_undefined) < 0) {
        /* cannot happen for a valid descriptor; the owner would hang, so
         * treat the pipe as gone: its callers fall back and see the exit */
        c->dead = 1;
        c->st = ST_IDLE;
        return;
    }
    c->st = ST_OWNER;
}

/* Ends the lane (the caller holds the mutex): the owner reads next if it
 * wants to. */
static void lane_end(ErlNifEnv *env, lnif *c)
{
    c->lane_ns += (unsigned long long)(now_ns() - c->lane_t0);
    if (c->lane_waiting) {
        (void)enif_demonitor_process(env, c, &c->lane_mon);
        c->lane_waiting = 0;
    }
    c->lane_ref = 0;
    c->st = ST_IDLE;
    if (c->owner_wants) arm_owner(env, c);
}

/* Sends one frame to the owner as {Res, {data, Bin}}: what a port sends,
 * Res in the place of the port.
 *
 * caller_env is NULL on purpose, though the calling process's env is at
 * hand. erl_nif's docs reserve NULL for threads the VM did not start;
 * on a scheduler thread ERTS takes it as a message with no sending
 * process and queues it straight into the owner's queue (OTP 25
 * erl_nif.c, enif_send: erts_proc_lookup, erts_queue_message). That
 * gives every frame one order, the order of the sends under our mutex,
 * whichever process read it. With each reader's own env, frames read
 * by a lane caller and by the owner itself would come from different
 * senders, which Erlang orders only pair by pair, and an event could
 * overtake the answer it preceded. */
static void to_owner(lnif *c, ErlNifBinary *bin)
{
    ErlNifEnv *menv = enif_alloc_env();
    ERL_NIF_TERM b;

    if (menv == NULL) {
        enif_release_binary(bin);
        return;
    }
    b = enif_make_binary(menv, bin);
    (void)enif_send(NULL, &c->owner, menv,
                    enif_make_tuple2(menv, enif_make_resource(menv, c), enif_make_tuple2(menv, a_data, b)));
    enif_free_env(menv);
}

/* The reader's callbacks (nif_frames.h): the answer pipe, binaries, the
 * owner. Called with the mutex held, from read_some. */
static ssize_t pipe_read(void *ctx, unsigned char *buf, size_t n)
{
    lnif *c = ctx;

    return read(c->resp_fd, buf, n);
}

static int bin_alloc(void *ctx, size_t n, ErlNifBinary *bin)
{
    (void)ctx;
    return enif_alloc_binary(n, bin);
}

static void owner_deliver(void *ctx, ErlNifBinary *bin)
{
    to_owner(ctx, bin);
}

static void bin_release(void *ctx, ErlNifBinary *bin)
{
    (void)ctx;
    enif_release_binary(bin);
}

static const nf_ops k_pipe_ops = { pipe_read, bin_alloc, owner_deliver, bin_release };

/* Reads what the answer pipe has (up to budget bytes), delivering whole
 * frames to the owner; as the lane (reader_is_lane), stops early once
 * its answer is in *mine (*got set). 0, or -1 when the pipe ended or
 * failed (c->dead set) or memory ran out. The caller holds the mutex. */
static int read_some(lnif *c, size_t budget, int reader_is_lane, ErlNifBinary *mine, int *got)
{
    int rc;

    if (c->dead || c->resp_fd < 0) return -1;
    rc = nf_read_some(&c->rd, budget, reader_is_lane ? c->lane_ref : 0, mine, got);
    if (rc == NF_DEAD) c->dead = 1;
    return rc == NF_OK ? 0 : -1;
}

/* Writes a whole lane frame at once or nothing (at most PIPE_BUF bytes:
 * the pipe takes it whole or says EAGAIN). 0, 1 would block, -1 error. */
static int write_atomic(lnif *c, const unsigned char *head, size_t hn, const ErlNifBinary *body)
{
    unsigned char len[4];
    size_t total = hn + body->size;
    struct iovec v[3];
    ssize_t w;

    len[0] = (unsigned char)(total >> 24);
    len[1] = (unsigned char)(total >> 16);
    len[2] = (unsigned char)(total >> 8);
    len[3] = (unsigned char)total;
    v[0].iov_base = len;
    v[0].iov_len = 4;
    v[1].iov_base = (void *)head;
    v[1].iov_len = hn;
    v[2].iov_base = body->data;
    v[2].iov_len = body->size;
    do {
        w = writev(c->req_fd, v, 3);
    } while (w < 0 && errno == EINTR);
    if (w == (ssize_t)(4 + total)) return 0;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 1;
    return -1;
}

/* ---- resource callbacks -------------------------------------------------------------- */

static void res_dtor(ErlNifEnv *env, void *obj)
{
    lnif *c = obj;

    (void)env;
    /* the answer pipe was stopped (close/1 or the owner's exit) or was
     * never selected; the request pipe is never selected */
    if (c->resp_fd >= 0) (void)close(c->resp_fd);
    if (c->req_fd >= 0) (void)close(c->req_fd);
    nf_reader_free(&c->rd); /* a frame half read */
    enif_free(c->rd.stage);
    if (c->wdone != NULL) enif_cond_destroy(c->wdone);
    if (c->mu != NULL) enif_mutex_destroy(c->mu);
}

static void res_stop(ErlNifEnv *env, void *obj, ErlNifEvent fd, int is_direct_call)
{
    (void)env;
    (void)obj;
    (void)is_direct_call;
    (void)close((int)fd);
}

/* Closes both pipes (the caller holds the mutex): the program sees the
 * end of its requests and exits. */
static void shut(ErlNifEnv *env, lnif *c)
{
    if (c->resp_fd >= 0) {
        int fd = c->resp_fd;

        c->resp_fd = -1;
        int r = enif_select(env, (ErlNifEvent)fd, ERL_NIF_SELECT_STOP, c, NULL, a_undefined);

        /* never selected, or refused: nobody else will close it */
        if (r < 0 || (r & (ERL_NIF_SELECT_STOP_CALLED | ERL_NIF_SELECT_STOP_SCHEDULED)) == 0) (void)close(fd);
    }
    if (c->req_fd >= 0 && !c->writing) {
        (void)close(c->req_fd);
        c->req_fd = -1;
    }
    c->dead = 1;
    if (c->st == ST_LANE && c->lane_waiting) {
        (void)enif_demonitor_process(env, c, &c->lane_mon);
        c->lane_waiting = 0;
    }
    c->st = ST_IDLE;
}

/* The owner died (the pipes close: nobody is left to read them) or a
 * sleeping lane caller died (its request is the owner's to cancel). */
static void res_down(ErlNifEnv *env, void *obj, ErlNifPid *pid, ErlNifMonitor *mon)
{
    lnif *c = obj;

    enif_mutex_lock(c->mu);
    if (enif_compare_pids(pid, &c->owner) == 0) {
        shut(env, c);
    } else if (c->st == ST_LANE && c->lane_waiting && enif_compare_monitors(mon, &c->lane_mon) == 0) {
        /* The select armed for the dead caller fires into the void; the
         * owner is told, takes the pipe back (lane_release/1) and cancels
         * the request. */
        ErlNifEnv *menv = enif_alloc_env();

        c->lane_waiting = 0;
        if (menv != NULL) {
            (void)enif_send(NULL, &c->owner, menv,
                            enif_make_tuple2(menv, enif_make_resource(menv, c),
                                             enif_make_tuple2(menv, a_lane_down,
                                                              enif_make_uint(menv, c->lane_ref))));
            enif_free_env(menv);
        }
    }
    enif_mutex_unlock(c->mu);
}

/* ---- NIFs: the owner -------------------------------------------------------------- */

static int open_proc_fd(long pid, long fd, int flags)
{
    char path[64];
    int r;

    (void)snprintf(path, sizeof path, "/proc/%ld/fd/%ld", pid, fd);
    do {
        r = open(path, flags | O_CLOEXEC | O_NONBLOCK);
    } while (r < 0 && errno == EINTR);
    return r;
}

/* attach(OsPid, ReqFd, RespFd) -> {ok, Res} | {error, Why}: opens the
 * program's pipes; the calling process is the owner. */
static ERL_NIF_TERM nif_attach(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    long pid, rq, rs;
    int rc;
    lnif *c;
    ERL_NIF_TERM t;

    (void)argc;
    if (!enif_get_long(env, argv[0], &pid) || !enif_get_long(env, argv[1], &rq) ||
        !enif_get_long(env, argv[2], &rs) || pid <= 0 || rq < 0 || rs < 0)
        return enif_make_badarg(env);
    c = enif_alloc_resource(g_type, sizeof *c);
    if (c == NULL) return enif_make_tuple2(env, a_error, a_enomem);
    memset(c, 0, sizeof *c);
    c->req_fd = c->resp_fd = -1;
    c->next_lane_ref = LANE_REF_FIRST;
    c->mu = enif_mutex_create("libsql_nif");
    c->wdone = enif_cond_create("libsql_nif_w");
    /* the stage is kept by init even if it refused it: the destructor frees it */
    rc = nf_reader_init(&c->rd, &k_pipe_ops, c, enif_alloc(STAGE_BYTES), STAGE_BYTES);
    if (rc != 0 || c->mu == NULL || c->wdone == NULL || c->rd.stage == NULL) {
        enif_release_resource(c);
        return enif_make_tuple2(env, a_error, a_enomem);
    }
    c->req_fd = open_proc_fd(pid, rq, O_WRONLY);
    if (c->req_fd < 0) {
        t = err(env, "opening the request pipe", errno);
        enif_release_resource(c);
        return t;
    }
    c->resp_fd = open_proc_fd(pid, rs, O_RDONLY);
    if (c->resp_fd < 0) {
        t = err(env, "opening the answer pipe", errno);
        enif_release_resource(c);
        return t;
    }
    if (enif_self(env, &c->owner) == NULL ||
        enif_monitor_process(env, c, &c->owner, NULL) != 0) {
        enif_release_resource(c);
        return enif_make_badarg(env);
    }
    t = enif_make_resource(env, c);
    enif_release_resource(c);
    return enif_make_tuple2(env, a_ok, t);
}

/* The rest of a long write, on a dirty I/O scheduler: it may block. */
static ERL_NIF_TERM nif_write_dirty(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    lnif *c;
    ErlNifBinary bin;
    unsigned long off;
    int fd, failed = 0;

    (void)argc;
    if (!get_res(env, argv[0], &c) || !enif_inspect_binary(env, argv[1], &bin) ||
        !enif_get_ulong(env, argv[2], &off) || off > bin.size)
        return enif_make_badarg(env);
    enif_mutex_lock(c->mu);
    fd = c->req_fd;
    enif_mutex_unlock(c->mu);
    while (off < bin.size && fd >= 0) {
        ssize_t w = write(fd, bin.data + off, bin.size - off);

        if (w > 0) {
            off += (unsigned long)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };

            (void)poll(&p, 1, 100);
        } else if (!(w < 0 && errno == EINTR)) {
            failed = 1;
            break;
        }
    }
    enif_mutex_lock(c->mu);
    c->writing = 0;
    if (c->dead && c->req_fd >= 0) { /* shut/1 came while we wrote */
        (void)close(c->req_fd);
        c->req_fd = -1;
    }
    enif_cond_broadcast(c->wdone);
    enif_mutex_unlock(c->mu);
    return failed || off < bin.size ? enif_make_tuple2(env, a_error, a_closed) : a_ok;
}

/* A write that found another under way: wait for it, on a dirty I/O
 * scheduler, then go on as send/2. */
static ERL_NIF_TERM nif_send(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);

static ERL_NIF_TERM nif_send_after_wait(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    lnif *c;

    if (!get_res(env, argv[0], &c)) return enif_make_badarg(env);
    enif_mutex_lock(c->mu);
    while (c->writing) enif_cond_wait(c->wdone, c->mu);
    enif_mutex_unlock(c->mu);
    return nif_send(env, argc, argv);
}

/* send(Res, Frame) -> ok | {error, closed}: one whole frame (iodata,
 * without its length) from the owner. */
static ERL_NIF_TERM nif_send(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    lnif *c;
    ErlNifBinary body, all;
    ERL_NIF_TERM allt;
    size_t off = 0;
    unsigned char *p;

    (void)argc;
    if (!get_res(env, argv[0], &c) || !enif_inspect_iolist_as_binary(env, argv[1], &body))
        return enif_make_badarg(env);
    if (body.size > 0xffffffffu) return enif_make_badarg(env);
    enif_mutex_lock(c->mu);
    if (c->req_fd < 0) {
        enif_mutex_unlock(c->mu);
        return enif_make_tuple2(env, a_error, a_closed);
    }
    if (c->writing) {
        enif_mutex_unlock(c->mu);
        return enif_schedule_nif(env, "send_after_wait", ERL_NIF_DIRTY_JOB_IO_BOUND, nif_send_after_wait,
                                 argc, argv);
    }
    if (body.size + 4 <= PIPE_BUF) { /* all or nothing, under the mutex */
        static const unsigned char none[1] = { 0 };
        int r = write_atomic(c, none, 0, &body);

        if (r == 0) {
            enif_mutex_unlock(c->mu);
            return a_ok;
        }
        if (r < 0) {
            enif_mutex_unlock(c->mu);
            return enif_make_tuple2(env, a_error, a_closed);
        }
    }
    c->writing = 1;
    enif_mutex_unlock(c->mu);
    /* a long frame, or a full pipe: as much as goes now, the rest dirty */
    p = enif_make_new_binary(env, body.size + 4, &allt);
    if (p == NULL) {
        enif_mutex_lock(c->mu);
        c->writing = 0;
        enif_cond_broadcast(c->wdone);
        enif_mutex_unlock(c->mu);
        return enif_make_tuple2(env, a_error, a_enomem);
    }
    p[0] = (unsigned char)(body.size >> 24);
    p[1] = (unsigned char)(body.size >> 16);
    p[2] = (unsigned char)(body.size >> 8);
    p[3] = (unsigned char)body.size;
    memcpy(p + 4, body.data, body.size);
    (void)enif_inspect_binary(env, allt, &all);
    for (;;) {
        ssize_t w = write(c->req_fd, all.data + off, all.size - off);

        if (w > 0) {
            off += (size_t)w;
            if (off == all.size) break;
            if (off > 64 * 1024) break; /* enough on this scheduler */
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            enif_mutex_lock(c->mu);
            c->writing = 0;
            enif_cond_broadcast(c->wdone);
            enif_mutex_unlock(c->mu);
            return enif_make_tuple2(env, a_error, a_closed);
        }
    }
    if (off < all.size) {
        ERL_NIF_TERM args[3] = { argv[0], allt, enif_make_ulong(env, off) };

        return enif_schedule_nif(env, "write_dirty", ERL_NIF_DIRTY_JOB_IO_BOUND, nif_write_dirty, 3, args);
    }
    enif_mutex_lock(c->mu);
    c->writing = 0;
    enif_cond_broadcast(c->wdone);
    enif_mutex_unlock(c->mu);
    return a_ok;
}

/* want(Res, Bool) -> ok: whether the owner waits for frames. */
static ERL_NIF_TERM nif_want(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    lnif *c;

    (void)argc;
    if (!get_res(env, argv[0], &c)) return enif_make_badarg(env);
    enif_mutex_lock(c->mu);
    c->owner_wants = enif_is_identical(argv[1], a_true);
    if (c->owner_wants && c->st == ST_IDLE) {
        arm_owner(env, c);
    } else if (!c->owner_wants && c->st == ST_OWNER) {
        /* nothing expected: free the pipe for the lane (a notification
         * already on its way finds pump/1 a no-op) */
        if (c->resp_fd >= 0)
            (void)enif_select(env, (ErlNifEvent)c->resp_fd, ERL_NIF_SELECT_CANCEL | ERL_NIF_SELECT_READ, c,
                              NULL, a_undefined);
        c->st = ST_IDLE;
    }
    enif_mutex_unlock(c->mu);
    return a_ok;
}

/* set_lane(Res, Bool) -> ok: whether callers may take the lane (the
 * owner forbids it while the connection has what the lane cannot do:
 * callbacks into Erlang, subscribers). */
static ERL_NIF_TERM nif_set_lane(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    lnif *c;

    (void)argc;
    if (!get_res(env, argv[0], &c)) return enif_make_badarg(env);
    enif_mutex_lock(c->mu);
    c->lane_ok = enif_is_identical(argv[1], a_true);
    enif_mutex_unlock(c->mu);
    return a_ok;
}

/* pump(Res) -> ok | eof: the owner's select fired: read what is there
 * and send it (frames as {Res, {data, Bin}}), then arm
 * again while the owner wants frames. eof: the pipe ended. */
static ERL_NIF_TERM nif_pump(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    lnif *c;
    ErlNifBinary none;
    int got = 0, rc;

    (void)argc;
    if (!get_res(env, argv[0], &c)) return enif_make_badarg(env);
    enif_mutex_lock(c->mu);
    if (c->st != ST_OWNER) { /* a late notification: the lane reads now */
        rc = c->dead ? -1 : 0;
        enif_mutex_unlock(c->mu);
        return rc < 0 ? a_eof : a_ok;
    }
    rc = read_some(c, PUMP_BYTES, 0, &none, &got);
    if (rc < 0) {
        c->st = ST_IDLE;
        enif_mutex_unlock(c->mu);
        return a_eof;
    }
    if (c->owner_wants) arm_owner(env, c);
    else c->st = ST_IDLE;
    enif_mutex_unlock(c->mu);
    return a_ok;
}

/* lane_release(Res) -> ok: after {lane_down, Ref}: the owner takes the
 * pipe back. */
static ERL_NIF_TERM nif_lane_release(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    lnif *c;

    (void)argc;
    if (!get_res(env, argv[0], &c)) return enif_make_badarg(env);
    enif_mutex_lock(c->mu);
    if (c->st == ST_LANE && !c->lane_waiting && !is_self(env, &c->lane_pid)) {
        (void)enif_select(env, (ErlNifEvent)c->resp_fd, ERL_NIF_SELECT_CANCEL | ERL_NIF_SELECT_READ, c, NULL,
                          a_undefined);
        lane_end(env, c);
    }
    enif_mutex_unlock(c->mu);
    return a_ok;
}

/* close(Res) -> ok: both pipes closed; the program exits. */
static ERL_NIF_TERM nif_close(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    lnif *c;

    (void)argc;
    if (!get_res(env, argv[0], &c)) return enif_make_badarg(env);
    enif_mutex_lock(c->mu);
    shut(env, c);
    enif_mutex_unlock(c->mu);
    return a_ok;
}

/* stats(Res) -> {InFlight, Ns}: whether a lane request is in the program
 * now (0 or 1), and the time lane requests spent there, summed. */
static ERL_NIF_TERM nif_stats(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    lnif *c;
    unsigned long long ns;
    int busy;

    (void)argc;
    if (!get_res(env, argv[0], &c)) return enif_make_badarg(env);
    enif_mutex_lock(c->mu);
    busy = c->st == ST_LANE;
    ns = c->lane_ns + (busy ? (unsigned long long)(now_ns() - c->lane_t0) : 0);
    enif_mutex_unlock(c->mu);
    return enif_make_tuple2(env, enif_make_int(env, busy), enif_make_uint64(env, ns));
}

/* ---- NIFs: the lane --------------------------------------------------------------- */

/* Spins on the answer pipe for up to spin_ns: 1 with {reply, Bin} in
 * *reply, 0 when the time ran out, -1 when the pipe ended. The caller
 * holds the mutex and the lane; the mutex is let go between reads, so
 * the owner is never kept waiting for more than one read. */
static int spin_read(ErlNifEnv *env, lnif *c, long long spin_ns, ERL_NIF_TERM *reply)
{
    long long t0 = now_ns();
    ErlNifBinary mine;
    int got = 0;

    for (;;) {
        if (read_some(c, STAGE_BYTES, 1, &mine, &got) < 0) return -1;
        if (got) {
            *reply = enif_make_tuple2(env, a_reply, enif_make_binary(env, &mine));
            return 1;
        }
        if (now_ns() - t0 >= spin_ns) return 0;
        enif_mutex_unlock(c->mu);
        enif_mutex_lock(c->mu);
    }
}

/* Whether spinning pays on this connection (as the port's own rule,
 * port/frame_io.c): a spin that missed (the answer took longer than
 * spin_us: a slow statement, or more runnable threads than cores, where
 * the spinning thread only keeps the program from its CPU) makes the next
 * 1, 2, 4 ... 256 calls skip the spin and sleep at once; a hit halves
 * that. A yield in the loop instead would hand this scheduler's CPU to
 * another thread for a whole time slice, a stall of milliseconds. */
static long long spin_budget(lnif *c, long long spin_ns)
{
    if (c->spin_paused > 0) {
        c->spin_paused--;
        return 0;
    }
    return spin_ns;
}

static void spin_outcome(lnif *c, int hit)
{
    if (hit) {
        c->spin_backoff /= 2;
    } else {
        c->spin_backoff = c->spin_backoff == 0 ? 1 : c->spin_backoff >= 128 ? 256 : c->spin_backoff * 2;
        c->spin_paused = c->spin_backoff;
    }
}

/* Arms the select for the sleeping lane caller, with a fresh ref it
 * waits on, and watches it (if it dies, the owner takes over). */
static ERL_NIF_TERM lane_sleep(ErlNifEnv *env, lnif *c)
{
    ERL_NIF_TERM ref = enif_make_ref(env);

    if (!c->lane_waiting) {
        if (enif_monitor_process(env, c, &c->lane_pid, &c->lane_mon) != 0) return 0;
        c->lane_waiting = 1;
    }
    if (enif_select(env, (ErlNifEvent)c->resp_fd, ERL_NIF_SELECT_READ, c, &c->lane_pid, ref) < 0) return 0;
    return enif_make_tuple3(env, a_wait, enif_make_uint(env, c->lane_ref), ref);
}

/* call(Res, Arity, Body, SpinUs) -> {reply, Bin} | {wait, Ref, SelRef} |
 * busy | closed: the request {Ref, Body...} (Body: the command and its
 * arguments as libsql_proto:encode_body/2 gives them) as the lane.
 * busy: not now (the owner reads, the lane is taken or not allowed, the
 * pipe is full, the frame too long); closed: the pipe ended. Either way
 * the caller goes through the connection process instead. */
static ERL_NIF_TERM nif_call(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    lnif *c;
    unsigned arity;
    long spin_us;
    ErlNifBinary body;
    unsigned char head[8];
    uint32_t ref;
    int rc;
    ERL_NIF_TERM reply;
    long long spin_ns;

    (void)argc;
    if (!get_res(env, argv[0], &c) || !enif_get_uint(env, argv[1], &arity) || arity > 255 ||
        !enif_get_long(env, argv[3], &spin_us) || spin_us < 0)
        return enif_make_badarg(env);
    if (!enif_inspect_iolist_as_binary(env, argv[2], &body)) return enif_make_badarg(env);
    if (body.size + 8 + 4 > PIPE_BUF) return a_busy;
    enif_mutex_lock(c->mu);
    if (c->dead || c->req_fd < 0) {
        enif_mutex_unlock(c->mu);
        return a_closed;
    }
    if (c->st != ST_IDLE || !c->lane_ok || c->writing) {
        enif_mutex_unlock(c->mu);
        return a_busy;
    }
    ref = c->next_lane_ref;
    c->next_lane_ref = ref == LANE_REF_LAST ? LANE_REF_FIRST : ref + 1;
    head[0] = 131;
    head[1] = 104;
    head[2] = (unsigned char)arity;
    head[3] = 98;
    head[4] = (unsigned char)(ref >> 24);
    head[5] = (unsigned char)(ref >> 16);
    head[6] = (unsigned char)(ref >> 8);
    head[7] = (unsigned char)ref;
    rc = write_atomic(c, head, sizeof head, &body);
    if (rc != 0) {
        enif_mutex_unlock(c->mu);
        return rc > 0 ? a_busy : a_closed;
    }
    c->st = ST_LANE;
    c->lane_t0 = now_ns();
    c->lane_ref = ref;
    c->lane_waiting = 0;
    (void)enif_self(env, &c->lane_pid);
    spin_ns = (long long)spin_us * 1000LL;
    if (spin_ns > MAX_SPIN_NS) spin_ns = MAX_SPIN_NS;
    spin_ns = spin_budget(c, spin_ns);
    rc = spin_read(env, c, spin_ns, &reply);
    if (spin_ns > 0) spin_outcome(c, rc != 0);
    if (rc != 0) {
        lane_end(env, c);
        enif_mutex_unlock(c->mu);
        return rc > 0 ? reply : enif_make_tuple2(env, a_closed, enif_make_uint(env, ref));
    }
    reply = lane_sleep(env, c);
    if (reply == 0) {
        /* cannot sleep (cannot happen for a live caller and an open
         * pipe): nobody could read the answer, so the pipes close and the
         * connection ends with the program's exit */
        shut(env, c);
        enif_mutex_unlock(c->mu);
        return enif_make_tuple2(env, a_closed, enif_make_uint(env, ref));
    }
    enif_mutex_unlock(c->mu);
    return reply;
}

/* lane_pump(Res) -> {reply, Bin} | {wait, Ref, SelRef} | {closed, Ref} | closed:
 * the sleeping lane caller's select fired. */
static ERL_NIF_TERM nif_lane_pump(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    lnif *c;
    ERL_NIF_TERM reply;
    int rc;

    (void)argc;
    if (!get_res(env, argv[0], &c)) return enif_make_badarg(env);
    enif_mutex_lock(c->mu);
    if (c->st != ST_LANE || !is_self(env, &c->lane_pid)) {
        /* the pipes were closed under us (the connection is going) */
        enif_mutex_unlock(c->mu);
        return a_closed;
    }
    rc = spin_read(env, c, 0, &reply);
    if (rc != 0) {
        uint32_t ref = c->lane_ref;

        lane_end(env, c);
        enif_mutex_unlock(c->mu);
        return rc > 0 ? reply : enif_make_tuple2(env, a_closed, enif_make_uint(env, ref));
    }
    reply = lane_sleep(env, c);
    if (reply == 0) {
        uint32_t ref = c->lane_ref;

        shut(env, c); /* as in call/4 */
        enif_mutex_unlock(c->mu);
        return enif_make_tuple2(env, a_closed, enif_make_uint(env, ref));
    }
    enif_mutex_unlock(c->mu);
    return reply;
}

/* lane_abandon(Res) -> {Ref, pending | clear}: the lane caller gives up
 * (its deadline passed); the owner reads again and must cancel Ref.
 * pending: a select message may still come to the caller. */
static ERL_NIF_TERM nif_lane_abandon(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    lnif *c;
    uint32_t ref;
    int r = 0;

    (void)argc;
    if (!get_res(env, argv[0], &c)) return enif_make_badarg(env);
    enif_mutex_lock(c->mu);
    if (c->st != ST_LANE || !is_self(env, &c->lane_pid)) {
        enif_mutex_unlock(c->mu);
        return enif_make_badarg(env);
    }
    ref = c->lane_ref;
    if (c->resp_fd >= 0)
        r = enif_select(env, (ErlNifEvent)c->resp_fd, ERL_NIF_SELECT_CANCEL | ERL_NIF_SELECT_READ, c, NULL,
                        a_undefined);
    lane_end(env, c);
    enif_mutex_unlock(c->mu);
    return enif_make_tuple2(env, enif_make_uint(env, ref),
                            r >= 0 && (r & ERL_NIF_SELECT_READ_CANCELLED) ? a_clear : a_pending);
}

/* ---- loading ---------------------------------------------------------------------------- */

static int load(ErlNifEnv *env, void **priv, ERL_NIF_TERM info)
{
    ErlNifResourceTypeInit init = { .dtor = res_dtor, .stop = res_stop, .down = res_down, .members = 3 };

    (void)priv;
    (void)info;
    g_type = enif_init_resource_type(env, "libsql_nif", &init, ERL_NIF_RT_CREATE, NULL);
    if (g_type == NULL) return -1;
    a_undefined = enif_make_atom(env, "undefined");
    a_ok = enif_make_atom(env, "ok");
    a_error = enif_make_atom(env, "error");
    a_busy = enif_make_atom(env, "busy");
    a_closed = enif_make_atom(env, "closed");
    a_wait = enif_make_atom(env, "wait");
    a_reply = enif_make_atom(env, "reply");
    a_data = enif_make_atom(env, "data");
    a_true = enif_make_atom(env, "true");
    a_lane_down = enif_make_atom(env, "lane_down");
    a_eof = enif_make_atom(env, "eof");
    a_pending = enif_make_atom(env, "pending");
    a_clear = enif_make_atom(env, "clear");
    a_enomem = enif_make_atom(env, "enomem");
    return 0;
}

static ErlNifFunc funcs[] = {
    { "attach", 3, nif_attach, 0 },
    { "send", 2, nif_send, 0 },
    { "want", 2, nif_want, 0 },
    { "set_lane", 2, nif_set_lane, 0 },
    { "pump", 1, nif_pump, 0 },
    { "lane_release", 1, nif_lane_release, 0 },
    { "close", 1, nif_close, 0 },
    { "stats", 1, nif_stats, 0 },
    { "call", 4, nif_call, 0 },
    { "lane_pump", 1, nif_lane_pump, 0 },
    { "lane_abandon", 1, nif_lane_abandon, 0 },
};

ERL_NIF_INIT(libsql_nif, funcs, load, NULL, NULL, NULL)
