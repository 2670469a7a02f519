#include "server/conn.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "server/server.h"
#include "util/log.h"

/* Bytes a connection may hold unread while its request is the gateway's (a pipelined
 * request, or a client sending junk during a long reply): then it stops being read. */
#define GW_BUSY_INPUT_MAX (64 * 1024)

enum conn_phase {
    PHASE_IDLE,    /* between requests (the keep-alive idle timeout applies) */
    PHASE_HEADERS, /* a request's first byte came; its header block has not ended */
    PHASE_BODY,    /* its headers ended; its body has not been read whole */
    PHASE_BUSY,    /* the request is the gateway's: no deadline */
};

struct gw_conn {
    struct gw_worker *w;
    struct bufferevent *bev; /* ours until evhttp frees it: see conn_adopt */
    struct evhttp_connection *evcon;
    evutil_socket_t fd;
    enum conn_phase phase;
    bool got_bytes;       /* of the request in PHASE_HEADERS */
    int eol;              /* of the header block: 1 after "\n", 2 after "\n\r" */
    struct event *adopt;  /* one shot, right after the accept */
    struct event *timer;  /* the header or body deadline */
    struct event *eof;    /* readable while a request is in flight: has the client gone? */
    struct evbuffer_cb_entry *input_cb;
    void (*gone)(void *); /* the proxy's hook (gw_conn_watch) */
    void *gone_arg;
};

/* ---- the table: a worker's connections by descriptor ---- */

static struct gw_conn *conn_at(struct gw_worker *w, evutil_socket_t fd)
{
    return fd >= 0 && (size_t)fd < w->nconn_slots ? w->conns[fd] : NULL;
}

static int conn_put(struct gw_worker *w, struct gw_conn *c)
{
    if ((size_t)c->fd >= w->nconn_slots) {
        size_t n = w->nconn_slots ? w->nconn_slots : 256;
        while (n <= (size_t)c->fd)
            n *= 2;
        struct gw_conn **t = realloc(w->conns, n * sizeof *t);
        if (!t)
            return -1;
        memset(t + w->nconn_slots, 0, (n - w->nconn_slots) * sizeof *t);
        w->conns = t;
        w->nconn_slots = n;
    }
    w->conns[c->fd] = c;
    return 0;
}

static struct gw_conn *conn_find(struct gw_worker *w, struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    struct gw_conn *c = bev ? conn_at(w, bufferevent_getfd(bev)) : NULL;
    return c && c->evcon == evcon ? c : NULL;
}

/* ---- pausing the listener ---- */

static void listener_pause(struct gw_worker *w, bool out_of_fds);

/* Resumes accepting when the reason to pause is gone; else checks again later. */
static void on_pause_over(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct gw_worker *w = arg;
    struct evconnlistener *lev = w->bound ? evhttp_bound_socket_get_listener(w->bound) : NULL;
    if (!lev || w->draining)
        return;
    int open = atomic_load(&w->srv->front.open);
    if (open >= w->srv->cfg->max_connections) {
        listener_pause(w, false);
        return;
    }
    w->paused = false;
    evconnlistener_enable(lev);
}

/* Doubles *ms (10 ms first, 1 s at most) and arms timer for it; returns it. */
static long back_off(struct event *timer, long *ms)
{
    *ms = *ms ? *ms * 2 : 10;
    if (*ms > 1000)
        *ms = 1000;
    struct timeval tv = {*ms / 1000, (*ms % 1000) * 1000};
    evtimer_add(timer, &tv);
    return *ms;
}

/* Stops accepting for a while: out of descriptors (back-off doubling from 10 ms to 1 s, so
 * that the listener does not spin on accept() failing), or at the connection cap (checked
 * every 50 ms, and on each close). Logs at most once a second. */
static void listener_pause(struct gw_worker *w, bool out_of_fds)
{
    struct evconnlistener *lev = w->bound ? evhttp_bound_socket_get_listener(w->bound) : NULL;
    if (!lev)
        return;
    evconnlistener_disable(lev);
    w->paused = true;
    long ms = out_of_fds ? back_off(w->pause_timer, &w->backoff_ms) : 50;
    if (!out_of_fds) {
        struct timeval tv = {0, 50 * 1000};
        evtimer_add(w->pause_timer, &tv);
    }
    time_t now = time(NULL);
    if (now != w->paused_logged) {
        w->paused_logged = now;
        if (out_of_fds)
            GW_LOG(GW_LOG_WARN, NULL, "worker %d: out of file descriptors (%s); not accepting "
                   "for %ld ms", w->index, strerror(w->accept_errno), ms);
        else
            GW_LOG(GW_LOG_WARN, NULL, "worker %d: %d client connections open, the cap "
                   "(limits.max_connections); not accepting until one closes", w->index,
                   atomic_load(&w->srv->front.open));
    }
}

/* Listeners by their evconnlistener: libevent gives an accept error callback the listener's
 * own argument, which evhttp owns. A worker's has w; the admin listener's and the mock's
 * have their own timer. Written at start, before the loops run. */
struct guard {
    struct evconnlistener *lev;
    struct gw_worker *w;
    struct event *timer; /* NULL for a worker's: it has its own */
    long backoff_ms;
    time_t logged;
    const char *name;
};
static struct guard *guards;
static size_t nguards;

static struct guard *guard_of(struct evconnlistener *lev)
{
    for (size_t i = 0; i < nguards; i++)
        if (guards[i].lev == lev)
            return &guards[i];
    return NULL;
}

static void on_guard_over(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct evconnlistener *lev = arg;
    evconnlistener_enable(lev);
}

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    (void)arg; /* evhttp's */
    struct guard *g = guard_of(lev);
    int err = EVUTIL_SOCKET_ERROR();
    evconnlistener_disable(lev);
    if (!g)
        return;
    if (g->w) {
        g->w->accept_errno = err;
        atomic_fetch_add(&g->w->srv->front.accept_errors, 1);
        listener_pause(g->w, true);
        return;
    }
    back_off(g->timer, &g->backoff_ms);
    time_t now = time(NULL);
    if (now != g->logged) {
        g->logged = now;
        GW_LOG(GW_LOG_WARN, NULL, "%s listener: accept failed (%s); not accepting for %ld ms",
               g->name, strerror(err), g->backoff_ms);
    }
}

/* Files lev under w (or, with w NULL, with a timer of its own on base). */
static int guard_add(struct evconnlistener *lev, struct gw_worker *w, struct event_base *base,
                     const char *name)
{
    struct guard *g = NULL;
    for (size_t i = 0; i < nguards && !g; i++)
        if (!guards[i].lev) /* the listener of a server gone */
            g = &guards[i];
    if (!g) {
        void *t = realloc(guards, (nguards + 1) * sizeof *guards);
        if (!t)
            return -1; /* libevent's default: a warning per failed accept */
        guards = t;
        g = &guards[nguards++];
    }
    *g = (struct guard){.lev = lev, .w = w, .name = name};
    if (!w && !(g->timer = evtimer_new(base, on_guard_over, lev))) {
        g->lev = NULL;
        return -1;
    }
    evconnlistener_set_error_cb(lev, on_accept_error);
    return 0;
}

int gw_listener_guard(struct evhttp_bound_socket *bound, struct event_base *base,
                      const char *name)
{
    struct evconnlistener *lev = bound ? evhttp_bound_socket_get_listener(bound) : NULL;
    return lev ? guard_add(lev, NULL, base, name) : -1;
}

void gw_listener_unguard(struct evhttp_bound_socket *bound)
{
    struct guard *g = guard_of(bound ? evhttp_bound_socket_get_listener(bound) : NULL);
    if (!g)
        return;
    if (g->timer)
        event_free(g->timer);
    *g = (struct guard){0};
}

/* ---- deadlines ---- */

static void conn_free(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    if (conn_at(w, c->fd) == c)
        w->conns[c->fd] = NULL;
    if (c->adopt)
        event_free(c->adopt);
    if (c->timer)
        event_free(c->timer);
    if (c->eof)
        event_free(c->eof);
    free(c);
}

/* The connection is going (evhttp frees it after this returns). */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct gw_conn *c = arg;
    struct gw_worker *w = c->w;
    void (*gone)(void *) = c->gone;
    void *gone_arg = c->gone_arg;
    evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->input_cb);
    conn_free(c);
    int open = atomic_fetch_sub(&w->srv->front.open, 1) - 1;
    if (gone)
        gone(gone_arg);
    if (w->paused && !w->draining && w->backoff_ms == 0 && open < w->srv->cfg->max_connections)
        on_pause_over(-1, 0, w);
}

/* Answers 408 and frees the connection. The answer goes straight to the socket: evhttp is
 * still reading the request, and its output buffer is empty between requests. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct gw_conn *c = arg;
    const struct gw_config *cfg = c->w->srv->cfg;
    bool headers = c->phase == PHASE_HEADERS;
    char body[256], msg[512];
    int blen = snprintf(body, sizeof body,
                        "{\"error\":{\"message\":\"The request's %s did not arrive within %d "
                        "s.\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":"
                        "\"request_timeout\"}}",
                        headers ? "headers" : "body",
                        headers ? cfg->header_timeout_s : cfg->body_timeout_s);
    int mlen = snprintf(msg, sizeof msg,
                        "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                        "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                        blen, body);
    if (headers && !c->got_bytes) { /* a connection that never sent a byte: just closed */
        evhttp_connection_free(c->evcon);
        return;
    }
    atomic_fetch_add(&c->w->srv->front.timeouts[headers ? 0 : 1], 1);
    gw_metrics_answer(c->w->metrics, NULL, 408); /* the path is not known yet */
    GW_LOG(GW_LOG_INFO, NULL, "a client took over %d s to send a request's %s: 408",
           headers ? cfg->header_timeout_s : cfg->body_timeout_s, headers ? "headers" : "body");
    (void)!send(c->fd, msg, (size_t)mlen, MSG_NOSIGNAL | MSG_DONTWAIT);
    evhttp_connection_free(c->evcon); /* runs on_conn_close: c is gone */
}

static void arm_deadline(struct gw_conn *c, int seconds)
{
    struct timeval tv = {seconds, 0};
    evtimer_add(c->timer, &tv);
}

static void start_request(struct gw_conn *c)
{
    c->phase = PHASE_HEADERS;
    c->eol = 0;
    c->got_bytes = false;
    arm_deadline(c, c->w->srv->cfg->header_timeout_s);
}

/* Looks for the blank line that ends the header block in len bytes of buf from offset
 * from: found, the body deadline starts. */
static void scan_head(struct gw_conn *c, struct evbuffer *buf, size_t from, size_t len)
{
    if (c->phase != PHASE_HEADERS)
        return;
    struct evbuffer_ptr at;
    if (evbuffer_ptr_set(buf, &at, from, EVBUFFER_PTR_SET) == -1)
        return;
    while (len > 0) {
        struct evbuffer_iovec v[8];
        int n = evbuffer_peek(buf, (ev_ssize_t)len, &at, v, 8);
        if (n <= 0)
            return;
        for (int i = 0; i < n && i < 8 && len > 0; i++) {
            const unsigned char *p = v[i].iov_base;
            size_t m = v[i].iov_len < len ? v[i].iov_len : len;
            len -= m;
            for (size_t k = 0; k < m; k++) {
                if (p[k] == '\n') {
                    if (c->eol) { /* "\n\n" or "\n\r\n": the header block is complete */
                        c->phase = PHASE_BODY;
                        arm_deadline(c, c->w->srv->cfg->body_timeout_s);
                        return;
                    }
                    c->eol = 1;
                } else if (p[k] == '\r' && c->eol == 1) {
                    c->eol = 2;
                } else {
                    c->eol = 0;
                }
            }
            if (evbuffer_ptr_set(buf, &at, m, EVBUFFER_PTR_ADD) == -1)
                return;
        }
    }
}

/* Bytes came in (evhttp reads them right after): a request's first byte starts the header
 * deadline, the blank line that ends its header block the body deadline. A request already
 * in the buffer (pipelined) is read whole, and needs none. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct gw_conn *c = arg;
    if (info->n_added == 0 || !c->evcon || c->phase == PHASE_BUSY)
        return; /* bytes during a reply wait for its end (on_reply_done) */
    if (c->phase == PHASE_IDLE)
        start_request(c);
    c->got_bytes = true;
    scan_head(c, buf, info->orig_size, info->n_added);
}

/* The reply went out whole and evhttp reads the next request: bytes that came during the
 * reply (a pipelined request, a stray line break) start its deadline now. */
static void on_reply_done(struct evhttp_request *req, void *arg)
{
    (void)req;
    struct gw_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t n = evbuffer_get_length(in);
    c->phase = PHASE_IDLE;
    bufferevent_setwatermark(c->bev, EV_READ, 0, 0); /* evhttp reads again, within its caps */
    if (n == 0)
        return;
    start_request(c);
    c->got_bytes = true;
    scan_head(c, in, 0, n);
}

/* Right after the accept, in the same turn of the loop (no byte can have been read yet):
 * evhttp has made the connection on our bufferevent; take its close callback. */
static void on_adopt(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct gw_conn *c = arg;
    struct gw_worker *w = c->w;
    void *evcon = NULL;
    bufferevent_data_cb readcb = NULL;
    bufferevent_getcb(c->bev, &readcb, NULL, NULL, &evcon);
    c->fd = bufferevent_getfd(c->bev);
    bufferevent_decref(c->bev); /* the reference on_bev took */
    if (!readcb || !evcon || c->fd < 0 || conn_put(w, c) == -1) {
        /* evhttp failed to make the connection (it freed it), or we cannot track it */
        if (evcon && readcb)
            evhttp_connection_free(evcon);
        atomic_fetch_sub(&w->srv->front.open, 1);
        c->fd = -1;
        conn_free(c);
        return;
    }
    c->evcon = evcon;
    evhttp_connection_set_closecb(c->evcon, on_conn_close, c);
    event_free(c->adopt);
    c->adopt = NULL;
    /* a new connection sends its first request within the header deadline, or goes:
     * idle connections must not hold the cap for the keep-alive timeout */
    start_request(c);
}

/* evhttp asks for a connection's bufferevent: a new client connection. */
static struct bufferevent *on_bev(struct event_base *base, void *arg)
{
    struct gw_worker *w = arg;
    struct gw_conn *c = calloc(1, sizeof *c);
    struct bufferevent *bev = bufferevent_socket_new(base, -1, 0); /* evhttp closes the fd */
    if (!c || !bev)
        goto fail;
    c->w = w;
    c->bev = bev;
    c->fd = -1;
    c->adopt = event_new(base, -1, 0, on_adopt, c);
    c->timer = evtimer_new(base, on_deadline, c);
    if (!c->adopt || !c->timer ||
        !(c->input_cb = evbuffer_add_cb(bufferevent_get_input(bev), on_input, c)))
        goto fail;
    bufferevent_incref(bev); /* kept until on_adopt, whatever evhttp does before */
    event_active(c->adopt, EV_TIMEOUT, 1);
    w->backoff_ms = 0;
    atomic_fetch_add(&w->srv->front.accepted, 1);
    int open = atomic_fetch_add(&w->srv->front.open, 1) + 1;
    if (open >= w->srv->cfg->max_connections && !w->paused) {
        atomic_fetch_add(&w->srv->front.paused_cap, 1);
        listener_pause(w, false);
    }
    return bev;
fail:
    if (c) {
        c->fd = -1;
        conn_free(c);
    }
    return bev; /* evhttp works on it, untracked; NULL makes it make its own */
}

/* ---- a request in flight ---- */

void gw_conn_request_read(struct gw_worker *w, struct evhttp_request *req)
{
    struct gw_conn *c = conn_find(w, evhttp_request_get_connection(req));
    if (!c)
        return;
    c->phase = PHASE_BUSY;
    evtimer_del(c->timer);
    evhttp_request_set_on_complete_cb(req, on_reply_done, c);
    /* nothing reads the input until the reply ends: past this much, stop taking more */
    bufferevent_setwatermark(c->bev, EV_READ, 0, GW_BUSY_INPUT_MAX);
}

/* The connection is readable while its request is in flight (evhttp reads nothing then):
 * an end of file or a reset is a client that went away. Bytes (a pipelined request) say
 * nothing; the watch ends. */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct gw_conn *c = arg;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) {
        if (n < 0)
            event_add(c->eof, NULL);
        return;
    }
    evhttp_connection_free(c->evcon); /* runs on_conn_close, and the proxy's hook */
}

bool gw_conn_watch(struct gw_worker *w, struct evhttp_connection *conn, void (*gone)(void *),
                   void *arg)
{
    struct gw_conn *c = conn_find(w, conn);
    if (!c)
        return false;
    c->gone = gone;
    c->gone_arg = arg;
    if (!c->eof)
        c->eof = event_new(w->base, c->fd, EV_READ, on_readable, c);
    if (c->eof)
        event_add(c->eof, NULL);
    return true;
}

void gw_conn_unwatch(struct gw_worker *w, struct evhttp_connection *conn)
{
    struct gw_conn *c = conn_find(w, conn);
    if (!c)
        return;
    c->gone = NULL;
    c->gone_arg = NULL;
    if (c->eof)
        event_del(c->eof);
}

/* ---- the worker ---- */

int gw_conns_init(struct gw_worker *w)
{
    w->pause_timer = evtimer_new(w->base, on_pause_over, w);
    if (!w->pause_timer)
        return -1;
    evhttp_set_bevcb(w->http, on_bev, w);
    return 0;
}

void gw_conns_listen(struct gw_worker *w)
{
    struct evconnlistener *lev = w->bound ? evhttp_bound_socket_get_listener(w->bound) : NULL;
    if (lev)
        guard_add(lev, w, NULL, "client");
}

void gw_conns_stop(struct gw_worker *w)
{
    if (w->pause_timer)
        evtimer_del(w->pause_timer);
}

void gw_conns_free(struct gw_worker *w)
{
    for (size_t i = 0; i < nguards; i++)
        if (guards[i].w == w)
            guards[i] = (struct guard){0};
    if (w->pause_timer)
        event_free(w->pause_timer);
    w->pause_timer = NULL;
    free(w->conns);
    w->conns = NULL;
    w->nconn_slots = 0;
}

void gw_front_render(struct gw_buf *out, struct gw_front_stats *f)
{
    gw_buf_printf(
        out,
        "# HELP guardrail_client_connections Client connections open.\n"
        "# TYPE guardrail_client_connections gauge\nguardrail_client_connections %d\n"
        "# HELP guardrail_client_connections_total Client connections accepted.\n"
        "# TYPE guardrail_client_connections_total counter\n"
        "guardrail_client_connections_total %llu\n"
        "# HELP guardrail_client_timeouts_total Requests answered 408: their header block or "
        "body took longer than limits.header_timeout_s or limits.body_timeout_s.\n"
        "# TYPE guardrail_client_timeouts_total counter\n"
        "guardrail_client_timeouts_total{phase=\"headers\"} %llu\n"
        "guardrail_client_timeouts_total{phase=\"body\"} %llu\n"
        "# HELP guardrail_client_gone_total Clients that closed their connection with their "
        "request in flight (its provider call was cancelled).\n"
        "# TYPE guardrail_client_gone_total counter\nguardrail_client_gone_total %llu\n"
        "# HELP guardrail_accept_paused_total Times a listener stopped accepting at "
        "limits.max_connections.\n"
        "# TYPE guardrail_accept_paused_total counter\nguardrail_accept_paused_total %llu\n"
        "# HELP guardrail_accept_errors_total accept() failures (out of file descriptors); "
        "the listener backs off.\n"
        "# TYPE guardrail_accept_errors_total counter\nguardrail_accept_errors_total %llu\n"
        "# HELP guardrail_reply_buffer_bytes Bytes of replies read whole and not yet sent.\n"
        "# TYPE guardrail_reply_buffer_bytes gauge\nguardrail_reply_buffer_bytes %zu\n"
        "# HELP guardrail_replies_refused_total Replies read whole that were refused: over "
        "limits.max_reply_bytes, or over limits.reply_buffer_bytes with the others held.\n"
        "# TYPE guardrail_replies_refused_total counter\n"
        "guardrail_replies_refused_total{reason=\"reply_too_large\"} %llu\n"
        "guardrail_replies_refused_total{reason=\"buffer_full\"} %llu\n",
        atomic_load(&f->open), (unsigned long long)atomic_load(&f->accepted),
        (unsigned long long)atomic_load(&f->timeouts[0]),
        (unsigned long long)atomic_load(&f->timeouts[1]),
        (unsigned long long)atomic_load(&f->gone), (unsigned long long)atomic_load(&f->paused_cap),
        (unsigned long long)atomic_load(&f->accept_errors), atomic_load(&f->replies_held),
        (unsigned long long)atomic_load(&f->reply_refused[0]),
        (unsigned long long)atomic_load(&f->reply_refused[1]));
}

long gw_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl = want;
    }
    return rl.rlim_cur == RLIM_INFINITY ? -1 : (long)rl.rlim_cur;
}
