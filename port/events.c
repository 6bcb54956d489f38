/*
 * events.c - unsolicited frames (events.h).
 */
#include "events.h"
#include "channel.h"
#include "term.h"

static int kv(ei_x_buff *x, const char *k, long long v)
{
    return ei_x_encode_atom(x, k) || ei_x_encode_longlong(x, v) ? -1 : 0;
}

int events_encode_sync_info(ei_x_buff *x, const lsq_sync_info *info)
{
    if (ei_x_encode_map_header(x, 7) != 0 || ei_x_encode_atom(x, "revision_before") != 0 ||
        (info->revision_before < 0 ? ei_x_encode_atom(x, "none")
                                   : ei_x_encode_longlong(x, info->revision_before)) != 0 ||
        kv(x, "revision", info->revision) != 0 || kv(x, "pages", (long long)info->pages) != 0 ||
        kv(x, "bytes", (long long)info->bytes) != 0 || kv(x, "ms", info->ms) != 0 ||
        kv(x, "locked_us", info->locked_us) != 0 ||
        ei_x_encode_atom(x, "bootstrapped") != 0 ||
        ei_x_encode_atom(x, info->bootstrapped ? "true" : "false") != 0)
        return -1;
    return 0;
}

/* {0, event, {Tag, _}}: the head, up to the payload. */
static int begin_event(ei_x_buff *x, const char *tag)
{
    if (ei_x_new(x) != 0) return -1;
    return term_reply_begin(x, 0, "event") != 0 || ei_x_encode_tuple_header(x, 2) != 0 ||
                   ei_x_encode_atom(x, tag) != 0
               ? -1
               : 0;
}

void events_sync(const char *tag, const lsq_sync_info *info)
{
    ei_x_buff x;

    if (begin_event(&x, tag) == 0 && events_encode_sync_info(&x, info) == 0)
        (void)channel_emit(x.buff, (size_t)x.index);
    ei_x_free(&x);
}

void events_sync_error(const lsq_error *err)
{
    ei_x_buff x;

    if (begin_event(&x, "sync_error") == 0 && lsq_error_encode(&x, err) == 0)
        (void)channel_emit(x.buff, (size_t)x.index);
    ei_x_free(&x);
}
