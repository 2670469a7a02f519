/* libFuzzer target for the native client's reply reader (upstream/h1.c): the status line
 * and headers (parse_head), Content-Length, chunked and to-the-end bodies, chunk-size and
 * trailer lines. The input is what a provider sends on a connection that carries one call.
 *
 * The reader is a set of static functions driven by the connection's bufferevent, so this
 * file includes h1.c itself and stands in for the socket: it puts the input's bytes into
 * the connection's input buffer, in pieces, and calls call_process as the read callback
 * does; then the end of the connection, as the event callback does. Nothing in h1.c
 * changes for it, and no socket or resolver is involved.
 *
 * The first byte: bit 0 makes on_data pause the call after every delivery (as a slow client
 * does) and the harness resume it through gw_h1_pause, whose deferred callback runs from
 * the event loop. The rest is the reply, read twice: in one piece and in pieces cut at
 * places derived from the input. Checks: on_headers at most once and before any data,
 * on_done exactly once and last, and both readings give the same status, content type,
 * body bytes and result. */
#include "upstream/h1.c"

#include "fuzz.h"
#include "util/buf.h"

struct record {
    struct gw_h1_call *call;
    bool pause; /* pause after each delivery */
    int headers, done;
    long status, done_status;
    CURLcode code;
    char content_type[256];
    struct gw_buf body;
};

static void on_headers(void *arg, long status, const char *content_type)
{
    struct record *r = arg;
    CHECK(r->headers == 0 && r->done == 0 && r->body.len == 0);
    CHECK(status >= 200 && status <= 999);
    r->headers++;
    r->status = status;
    snprintf(r->content_type, sizeof r->content_type, "%s", content_type ? content_type : "");
}

static int on_data(void *arg, const char *data, size_t len)
{
    struct record *r = arg;
    CHECK(r->headers == 1 && r->done == 0 && len > 0);
    CHECK(gw_buf_append(&r->body, data, len) == 0);
    if (r->pause)
        gw_h1_pause(r->call, true);
    return 0;
}

static void on_done(void *arg, CURLcode code, long status)
{
    struct record *r = arg;
    CHECK(r->done == 0);
    r->done++;
    r->code = code;
    r->done_status = status;
}

static const struct gw_upcall_ops ops = {on_headers, on_data, on_done};

/* A call on a connection that is already connected and has sent its request once, as
 * gw_h1_start and call_attach leave it; the bufferevent has no socket. */
static struct gw_h1_call *call_new(struct gw_h1 *h, struct record *r)
{
    struct h1_pool *p = pool_find(h, "127.0.0.1", "80");
    struct gw_h1_call *c = calloc(1, sizeof *c + 2);
    struct h1_conn *k = calloc(1, sizeof *k);
    CHECK(p && c && k);
    memcpy(c->target, "/", 2);
    c->h = h;
    c->pool = p;
    c->method = "POST";
    c->ops = &ops;
    c->arg = r;
    c->state = H1_HEAD;
    evtimer_assign(&c->timer, h->base, on_call_timer, c);
    k->h = h;
    k->pool = p;
    k->bev = bufferevent_socket_new(h->base, -1, BEV_OPT_CLOSE_ON_FREE);
    CHECK(k->bev);
    k->connected = true;
    k->uses = 1; /* a first request: no retry on a fresh connection (that would connect) */
    h->nconns++;
    c->conn = k;
    k->call = c;
    bufferevent_setcb(k->bev, on_busy_read, NULL, on_busy_event, k);
    r->call = c;
    return c;
}

/* Resumes a call that paused itself until it stays paused no more or ends. */
static void resume(struct gw_h1 *h, struct record *r)
{
    while (!r->done && r->call->paused) {
        gw_h1_pause(r->call, false);
        event_base_loop(h->base, EVLOOP_NONBLOCK);
    }
}

static void read_reply(struct gw_h1 *h, struct record *r, const uint8_t *data, size_t size,
                       bool cut)
{
    struct gw_h1_call *c = call_new(h, r);
    struct evbuffer *in = bufferevent_get_input(c->conn->bev);
    struct fuzz_cuts cuts;
    fuzz_cuts_init(&cuts, data, size);
    for (size_t at = 0; at < size && !r->done;) {
        size_t n = cut ? fuzz_cuts_next(&cuts, size - at) : size - at;
        evbuffer_unfreeze(in, 0); /* as a bufferevent does while it reads */
        CHECK(evbuffer_add(in, data + at, n) == 0);
        evbuffer_freeze(in, 0);
        at += n;
        if (!c->paused)
            call_process(c); /* on_busy_read */
        resume(h, r);
    }
    if (!r->done) {
        c->eof = true; /* on_busy_event with BEV_EVENT_EOF */
        call_process(c);
        resume(h, r);
    }
    CHECK(r->done == 1);
    /* A connection kept for reuse goes now: each input is a new provider. */
    while (h->pools && h->pools->idle) {
        struct h1_conn *k = h->pools->idle;
        idle_unlink(k);
        conn_free(k);
    }
    CHECK(h->nconns == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* A client per input, so that what one leaks is not taken for state kept. */
    struct event_base *base = event_base_new();
    struct gw_h1 *h = base ? gw_h1_new(base) : NULL;
    CHECK(h);
    struct record whole = {.pause = data[0] & 1}, cut = {.pause = data[0] & 1};
    read_reply(h, &whole, data + 1, size - 1, false);
    read_reply(h, &cut, data + 1, size - 1, true);
    CHECK(whole.headers == cut.headers && whole.status == cut.status);
    CHECK(strcmp(whole.content_type, cut.content_type) == 0);
    CHECK(whole.body.len == cut.body.len &&
          (whole.body.len == 0 || memcmp(whole.body.data, cut.body.data, whole.body.len) == 0));
    CHECK(whole.code == cut.code && whole.done_status == cut.done_status);
    gw_buf_free(&whole.body);
    gw_buf_free(&cut.body);
    gw_h1_free(h);
    event_base_free(base);
    return 0;
}
