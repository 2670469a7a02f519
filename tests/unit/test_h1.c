/* The native provider client (upstream/h1.c) against a scripted HTTP server on the same
 * event loop: request bytes, reply framings split at every byte, keep-alive reuse, the
 * retry on a connection the server closed, pause and resume, and each error. */
#include <stdarg.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "upstream/h1.h"
#include "util/buf.h"

/* ---- the scripted server ---- */

enum act {
    REPLY,       /* write the reply, keep the connection */
    REPLY_CLOSE, /* write the reply, then close */
    DRIP,        /* write the reply a few bytes per loop turn */
    HANG,        /* never answer */
    DROP,        /* close without a byte */
};

struct step {
    enum act act;
    const char *reply;
};

struct server {
    struct event_base *base;
    struct evconnlistener *lis;
    int port;
    int accepted;
    int requests;
    const struct step *steps; /* one per request, in order */
    size_t nsteps;
    char request[16384]; /* the last request received, head and body */
    size_t request_len;
    struct sconn *open[32]; /* server-side connections still open */
};

struct sconn {
    struct server *s;
    struct bufferevent *bev;
    struct event *drip;
    const char *left; /* what DRIP still has to write */
    size_t step;      /* DRIP pieces so far */
};

static void sconn_free(struct sconn *sc)
{
    for (size_t i = 0; i < sizeof sc->s->open / sizeof sc->s->open[0]; i++)
        if (sc->s->open[i] == sc)
            sc->s->open[i] = NULL;
    if (sc->drip)
        event_free(sc->drip);
    bufferevent_free(sc->bev);
    free(sc);
}

static void on_drip(evutil_socket_t fd, short what, void *arg)
{
    struct sconn *sc = arg;
    /* piece sizes 1, 2, 3, 1, 2, 3...: every split point of a short reply gets hit */
    size_t n = strlen(sc->left), piece = 1 + sc->step++ % 3;
    if (piece > n)
        piece = n;
    bufferevent_write(sc->bev, sc->left, piece);
    sc->left += piece;
    if (*sc->left) {
        struct timeval tv = {0, 200};
        evtimer_add(sc->drip, &tv);
    }
}

/* A request is whole when its head and Content-Length bytes of body are in. */
static size_t whole_request(struct evbuffer *in)
{
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (end.pos == -1)
        return 0;
    size_t head = (size_t)end.pos + 4, body = 0;
    char h[16384];
    assert_true(head < sizeof h);
    evbuffer_copyout(in, h, head);
    h[head] = '\0';
    char *cl = strcasestr(h, "\r\nContent-Length:");
    if (cl)
        body = strtoul(cl + 17, NULL, 10);
    return evbuffer_get_length(in) >= head + body ? head + body : 0;
}

static void on_server_read(struct bufferevent *bev, void *arg)
{
    struct sconn *sc = arg;
    struct server *s = sc->s;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n;
    while ((n = whole_request(in))) {
        s->request_len = n < sizeof s->request - 1 ? n : sizeof s->request - 1;
        evbuffer_remove(in, s->request, s->request_len);
        s->request[s->request_len] = '\0';
        evbuffer_drain(in, n - s->request_len);
        assert_true((size_t)s->requests < s->nsteps);
        const struct step *st = &s->steps[s->requests++];
        switch (st->act) {
        case REPLY:
            bufferevent_write(bev, st->reply, strlen(st->reply));
            break;
        case REPLY_CLOSE:
            /* shut down after the reply is out: a socket-level write, then close */
            evbuffer_write(bufferevent_get_output(bev), bufferevent_getfd(bev));
            send(bufferevent_getfd(bev), st->reply, strlen(st->reply), 0);
            sconn_free(sc);
            return;
        case DRIP:
            sc->left = st->reply;
            sc->drip = evtimer_new(s->base, on_drip, sc);
            on_drip(-1, 0, sc);
            break;
        case HANG:
            break;
        case DROP:
            sconn_free(sc);
            return;
        }
    }
}

static void on_server_event(struct bufferevent *bev, short what, void *arg)
{
    sconn_free(arg);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    struct server *s = arg;
    struct sconn *sc = calloc(1, sizeof *sc);
    assert_non_null(sc);
    sc->s = s;
    sc->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(sc->bev, on_server_read, NULL, on_server_event, sc);
    bufferevent_enable(sc->bev, EV_READ | EV_WRITE);
    assert_true((size_t)s->accepted < sizeof s->open / sizeof s->open[0]);
    s->open[s->accepted++] = sc;
}

static void server_start(struct server *s, struct event_base *base, const struct step *steps,
                         size_t nsteps)
{
    memset(s, 0, sizeof *s);
    s->base = base;
    s->steps = steps;
    s->nsteps = nsteps;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    s->lis = evconnlistener_new_bind(base, on_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                     16, (struct sockaddr *)&sin, sizeof sin);
    assert_non_null(s->lis);
    socklen_t sl = sizeof sin;
    getsockname(evconnlistener_get_fd(s->lis), (struct sockaddr *)&sin, &sl);
    s->port = ntohs(sin.sin_port);
}

/* ---- the client side ---- */

struct got {
    struct event_base *base;
    long status;
    char content_type[64];
    int headers_calls;
    struct gw_buf data;
    bool done;
    CURLcode result;
    int stop_after; /* on_data returns -1 after this many calls (0: never) */
    int pause_every; /* pauses after each of these many calls (0: never) */
    int data_calls;
    struct gw_h1_call *call;
    struct event *resume;
};

static void on_headers(void *arg, long status, const char *ct)
{
    struct got *g = arg;
    g->status = status;
    snprintf(g->content_type, sizeof g->content_type, "%s", ct ? ct : "");
    g->headers_calls++;
}

static int on_data(void *arg, const char *data, size_t len)
{
    struct got *g = arg;
    assert_int_equal(g->headers_calls, 1);
    g->data_calls++;
    if (g->stop_after && g->data_calls >= g->stop_after)
        return -1;
    gw_buf_append(&g->data, data, len);
    if (g->pause_every && g->data_calls % g->pause_every == 0) {
        gw_h1_pause(g->call, true);
        struct timeval tv = {0, 2000};
        evtimer_add(g->resume, &tv);
    }
    return 0;
}

static void on_done(void *arg, CURLcode result, long status)
{
    struct got *g = arg;
    assert_false(g->done);
    g->done = true;
    g->result = result;
    g->call = NULL;
    event_base_loopbreak(g->base);
}

static const struct gw_upcall_ops ops = {on_headers, on_data, on_done};

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct got *g = arg;
    if (g->call)
        gw_h1_pause(g->call, false);
}

struct fixture {
    struct event_base *base;
    struct gw_h1 *h;
    struct server s;
    struct curl_slist *headers;
    char url[128];
    const char *method; /* NULL: POST with a body, GET without */
};

static struct fixture *fixture_new(const struct step *steps, size_t n)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->base = event_base_new();
    f->h = gw_h1_new(f->base);
    server_start(&f->s, f->base, steps, n);
    f->headers = curl_slist_append(NULL, "Content-Type: application/json");
    f->headers = curl_slist_append(f->headers, "Authorization: Bearer sk-test");
    f->headers = curl_slist_append(f->headers, "Expect:");
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d/v1/chat/completions", f->s.port);
    return f;
}

static void server_stop(struct server *s)
{
    for (size_t i = 0; i < sizeof s->open / sizeof s->open[0]; i++)
        if (s->open[i])
            sconn_free(s->open[i]);
    if (s->lis)
        evconnlistener_free(s->lis);
}

static void fixture_free(struct fixture *f)
{
    gw_h1_free(f->h);
    server_stop(&f->s);
    curl_slist_free_all(f->headers);
    event_base_free(f->base);
    free(f);
}

/* Starts a call (to the fixture's server when url is NULL). */
static void start_call(struct fixture *f, struct got *g, const char *url, const char *body,
                       long timeout_ms)
{
    memset(g, 0, sizeof *g);
    g->base = f->base;
    g->resume = evtimer_new(f->base, on_resume, g);
    g->call = gw_h1_start(f->h, f->method ? f->method : body ? "POST" : "GET", url ? url : f->url,
                          f->headers, body, body ? strlen(body) : 0, 1000, timeout_ms, &ops, g);
    assert_non_null(g->call);
    assert_false(g->done); /* never a callback before start returns */
}

/* Runs the loop until the call ends (or fails the test after 5 s). */
static void finish_call(struct fixture *f, struct got *g)
{
    struct timeval limit = {5, 0};
    event_base_loopexit(f->base, &limit);
    event_base_dispatch(f->base);
    assert_true(g->done);
}

static void run_call(struct fixture *f, struct got *g, const char *url, const char *body,
                     long timeout_ms)
{
    start_call(f, g, url, body, timeout_ms);
    finish_call(f, g);
}

static void got_free(struct got *g)
{
    event_free(g->resume);
    gw_buf_free(&g->data);
}

/* Lets the loop run briefly (for closes to be noticed). */
static void spin(struct fixture *f, int ms)
{
    struct timeval tv = {0, ms * 1000};
    event_base_loopexit(f->base, &tv);
    event_base_dispatch(f->base);
}

#define OK_JSON                                                                                    \
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"

static void sends_the_request_and_reuses_the_connection(void **state)
{
    static const struct step steps[] = {{REPLY, OK_JSON}, {REPLY, OK_JSON}, {REPLY, OK_JSON}};
    struct fixture *f = fixture_new(steps, 3);
    struct got g;
    const char *body = "{\"model\":\"m\",\"messages\":[]}";
    for (int i = 0; i < 3; i++) {
        run_call(f, &g, NULL, body, 0);
        assert_int_equal(g.result, CURLE_OK);
        assert_int_equal(g.status, 200);
        assert_string_equal(g.content_type, "application/json");
        assert_string_equal(g.data.data, "{\"ok\":true}");
        got_free(&g);
    }
    assert_int_equal(f->s.accepted, 1);
    assert_int_equal(gw_h1_connections(f->h), 1);
    char want[512];
    snprintf(want, sizeof want,
             "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
             "Content-Type: application/json\r\nAuthorization: Bearer sk-test\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             f->s.port, strlen(body), body);
    assert_string_equal(f->s.request, want); /* "Expect:" removes, as in libcurl */
    /* A GET has no body and no length. */
    static const struct step get[] = {{REPLY, OK_JSON}};
    f->s.steps = get;
    f->s.nsteps = 1;
    f->s.requests = 0;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/models?limit=2", f->s.port);
    run_call(f, &g, url, NULL, 0);
    assert_int_equal(g.result, CURLE_OK);
    assert_non_null(strstr(f->s.request, "GET /v1/models?limit=2 HTTP/1.1\r\n"));
    assert_null(strstr(f->s.request, "Content-Length"));
    got_free(&g);
    /* Other methods go by name, an empty body with its length. */
    static const struct step del[] = {{REPLY, OK_JSON}};
    f->s.steps = del;
    f->s.requests = 0;
    f->method = "DELETE";
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/files/file-1", f->s.port);
    run_call(f, &g, url, "", 0);
    assert_int_equal(g.result, CURLE_OK);
    assert_non_null(strstr(f->s.request, "DELETE /v1/files/file-1 HTTP/1.1\r\n"));
    assert_non_null(strstr(f->s.request, "\r\nContent-Length: 0\r\n\r\n"));
    got_free(&g);
    fixture_free(f);
}

/* A head too long for the client's stack buffer is built on the heap, whole. */
static void sends_a_long_head(void **state)
{
    static const struct step steps[] = {{REPLY, OK_JSON}};
    struct fixture *f = fixture_new(steps, 1);
    char big[6000] = "X-Long: ";
    memset(big + 8, 'a', sizeof big - 9);
    big[sizeof big - 1] = '\0';
    f->headers = curl_slist_append(f->headers, big);
    struct got g;
    run_call(f, &g, NULL, "{\"x\":1}", 0);
    assert_int_equal(g.result, CURLE_OK);
    assert_non_null(strstr(f->s.request, big));
    assert_non_null(strstr(f->s.request, "\r\nContent-Length: 7\r\n\r\n{\"x\":1}"));
    got_free(&g);
    fixture_free(f);
}

#define CHUNKED                                                                                    \
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"    \
    "6\r\ndata: \r\n"                                                                              \
    "1a;ext=1\r\n{\"delta\":\"hello, world\"}\n\n\r\n"                                             \
    "E\r\ndata: [DONE]\n\n\r\n"                                                                    \
    "0\r\nX-Trailer: yes\r\n\r\n"

static const char chunked_body[] = "data: {\"delta\":\"hello, world\"}\n\ndata: [DONE]\n\n";

/* The reply arrives one to three bytes at a time: every split of the status line, the
 * headers, the chunk sizes, the data and the trailers. */
static void reads_chunked_replies_in_pieces(void **state)
{
    static const struct step steps[] = {{DRIP, CHUNKED}, {REPLY, CHUNKED}};
    struct fixture *f = fixture_new(steps, 2);
    struct got g;
    for (int i = 0; i < 2; i++) {
        run_call(f, &g, NULL, "{}", 0);
        assert_int_equal(g.result, CURLE_OK);
        assert_int_equal(g.status, 200);
        assert_string_equal(g.content_type, "text/event-stream");
        assert_string_equal(g.data.data, chunked_body);
        got_free(&g);
    }
    assert_int_equal(f->s.accepted, 1); /* chunked replies keep the connection too */
    fixture_free(f);
}

/* Without a length the body runs to the end of the connection, which is then not reused. */
static void reads_a_reply_framed_by_the_close(void **state)
{
    static const struct step steps[] = {
        {REPLY_CLOSE, "HTTP/1.1 503 Busy\r\nContent-Type: text/plain\r\n\r\ncome back later"},
        {REPLY, OK_JSON}};
    struct fixture *f = fixture_new(steps, 2);
    struct got g;
    run_call(f, &g, NULL, "{}", 0);
    assert_int_equal(g.result, CURLE_OK);
    assert_int_equal(g.status, 503);
    assert_string_equal(g.data.data, "come back later");
    got_free(&g);
    assert_int_equal(gw_h1_connections(f->h), 0);
    run_call(f, &g, NULL, "{}", 0);
    assert_int_equal(g.result, CURLE_OK);
    got_free(&g);
    assert_int_equal(f->s.accepted, 2);
    fixture_free(f);
}

/* HTTP/1.0 and "Connection: close" replies end their connection; 1xx heads are skipped. */
static void honours_connection_close_and_skips_interim_replies(void **state)
{
    static const struct step steps[] = {
        {REPLY, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"},
        {REPLY, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"},
        {REPLY, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nyes"},
        {REPLY, "HTTP/1.1 204 No Content\r\n\r\n"},
        {REPLY, OK_JSON}};
    struct fixture *f = fixture_new(steps, 5);
    struct got g;
    for (int i = 0; i < 2; i++) {
        run_call(f, &g, NULL, "{}", 0);
        assert_int_equal(g.result, CURLE_OK);
        assert_string_equal(g.data.data, "ok");
        assert_int_equal(gw_h1_connections(f->h), 0);
        got_free(&g);
    }
    run_call(f, &g, NULL, "{}", 0);
    assert_int_equal(g.result, CURLE_OK);
    assert_int_equal(g.status, 201);
    assert_int_equal(g.headers_calls, 1);
    assert_string_equal(g.data.data, "yes");
    got_free(&g);
    run_call(f, &g, NULL, "{}", 0);
    assert_int_equal(g.result, CURLE_OK);
    assert_int_equal(g.status, 204);
    assert_null(g.data.data);
    got_free(&g);
    run_call(f, &g, NULL, "{}", 0); /* the 204 left the connection usable */
    assert_int_equal(g.result, CURLE_OK);
    got_free(&g);
    assert_int_equal(f->s.accepted, 3);
    fixture_free(f);
}

/* A kept connection that the server drops when the next request arrives: the request goes
 * again on a fresh connection, once. A fresh connection that drops is an error. */
static void retries_once_on_a_dropped_kept_connection(void **state)
{
    static const struct step steps[] = {{REPLY, OK_JSON}, {DROP, NULL}, {REPLY, OK_JSON},
                                        {DROP, NULL}};
    struct fixture *f = fixture_new(steps, 4);
    struct got g;
    run_call(f, &g, NULL, "{\"n\":1}", 0);
    assert_int_equal(g.result, CURLE_OK);
    got_free(&g);
    run_call(f, &g, NULL, "{\"n\":2}", 0);
    assert_int_equal(g.result, CURLE_OK);
    assert_string_equal(g.data.data, "{\"ok\":true}");
    assert_non_null(strstr(f->s.request, "{\"n\":2}")); /* the same body, sent again */
    got_free(&g);
    assert_int_equal(f->s.accepted, 2);
    /* A drop with no reply on the connection just made is not retried. */
    gw_h1_free(f->h);
    f->h = gw_h1_new(f->base);
    run_call(f, &g, NULL, "{}", 0);
    assert_int_equal(g.result, CURLE_GOT_NOTHING);
    assert_int_equal(f->s.requests, 4);
    got_free(&g);
    fixture_free(f);
}

/* An idle connection the server closes is noticed and dropped before it is used. */
static void drops_idle_connections_the_server_closed(void **state)
{
    /* No "Connection: close", so the client keeps the connection; the server closes it. */
    static const struct step steps[] = {
        {REPLY_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}, {REPLY, OK_JSON}};
    struct fixture *f = fixture_new(steps, 2);
    struct got g;
    run_call(f, &g, NULL, "{}", 0);
    assert_int_equal(g.result, CURLE_OK);
    assert_string_equal(g.data.data, "ok");
    got_free(&g);
    spin(f, 20);
    assert_int_equal(gw_h1_connections(f->h), 0); /* seen closed while idle */
    run_call(f, &g, NULL, "{}", 0);
    assert_int_equal(g.result, CURLE_OK);
    assert_int_equal(f->s.accepted, 2);
    got_free(&g);
    fixture_free(f);
}

static void pauses_and_resumes_without_losing_bytes(void **state)
{
    static const struct step steps[] = {{DRIP, CHUNKED}};
    struct fixture *f = fixture_new(steps, 1);
    struct got g;
    start_call(f, &g, NULL, "{}", 0);
    g.pause_every = 1;
    finish_call(f, &g);
    assert_int_equal(g.result, CURLE_OK);
    assert_string_equal(g.data.data, chunked_body);
    assert_true(g.data_calls > 5);
    got_free(&g);
    fixture_free(f);
}

/* The whole reply comes in one read and on_data pauses on it: the call must still end
 * when it is resumed, though no further byte will ever arrive to wake it. */
static void a_pause_on_the_last_byte_still_ends_the_call(void **state)
{
    static const struct step steps[] = {{REPLY, OK_JSON}, {REPLY, OK_JSON}};
    struct fixture *f = fixture_new(steps, 2);
    struct got g;
    start_call(f, &g, NULL, "{}", 0);
    g.pause_every = 1;
    finish_call(f, &g);
    assert_int_equal(g.result, CURLE_OK);
    assert_string_equal(g.data.data, "{\"ok\":true}");
    got_free(&g);
    run_call(f, &g, NULL, "{}", 0); /* and the connection was kept */
    assert_int_equal(f->s.accepted, 1);
    got_free(&g);
    fixture_free(f);
}

/* Bytes the provider sends on an idle kept connection (more than its reply said, or an
 * unsolicited reply) must never become the next call's reply. */
static void stray_bytes_on_an_idle_connection_are_never_a_reply(void **state)
{
    static const struct step steps[] = {{REPLY, OK_JSON},
                                        {REPLY, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nright"}};
    struct fixture *f = fixture_new(steps, 2);
    struct got g;
    run_call(f, &g, NULL, "{}", 0);
    assert_int_equal(g.result, CURLE_OK);
    got_free(&g);
    assert_int_equal(gw_h1_connections(f->h), 1);
    /* The server speaks first, and the next call starts before the loop runs again. */
    static const char evil[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL";
    assert_int_equal(send(bufferevent_getfd(f->s.open[0]->bev), evil, sizeof evil - 1, 0),
                     (ssize_t)(sizeof evil - 1));
    run_call(f, &g, NULL, "{}", 0);
    assert_int_equal(g.result, CURLE_OK);
    assert_string_equal(g.data.data, "right");
    assert_int_equal(f->s.accepted, 2);
    got_free(&g);
    fixture_free(f);
}

/* Heads ended by bare LFs are read (libcurl reads them too); odd numbers are not. */
static void reads_bare_lf_heads_and_refuses_odd_numbers(void **state)
{
    static const struct step steps[] = {
        {REPLY, "HTTP/1.1 200 OK\nContent-Length: 2\nContent-Type: text/plain\n\nok"},
        {REPLY, "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok"},
        {REPLY, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nok\r\n0\r\n\r\n"},
        {REPLY, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+2\r\nok\r\n0\r\n\r\n"},
        {REPLY, "HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok"},
    };
    struct fixture *f = fixture_new(steps, 5);
    struct got g;
    run_call(f, &g, NULL, "{}", 0);
    assert_int_equal(g.result, CURLE_OK);
    assert_string_equal(g.content_type, "text/plain");
    assert_string_equal(g.data.data, "ok");
    got_free(&g);
    for (int i = 1; i < 5; i++) {
        run_call(f, &g, NULL, "{}", 0);
        assert_int_equal(g.result, CURLE_WEIRD_SERVER_REPLY);
        assert_null(g.data.data);
        got_free(&g);
    }
    /* the first connection carried the good reply and the first bad one; a malformed reply
     * never leaves a kept connection, so each later call opened its own */
    assert_int_equal(f->s.accepted, 4);
    fixture_free(f);
}

/* The gateway reads replies as they come and asks for identity: a reply in any other
 * content encoding ends as libcurl's "bad content encoding" before its head is reported,
 * and its connection (with the unread body) is not kept. */
static void refuses_a_reply_in_a_content_encoding(void **state)
{
    static const struct step steps[] = {
        {REPLY, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\nok"},
        {REPLY, "HTTP/1.1 200 OK\r\nContent-Encoding: identity, br\r\nContent-Length: 2\r\n"
                "\r\nok"},
        {REPLY, "HTTP/1.1 200 OK\r\ncontent-encoding: Identity\r\nContent-Length: 2\r\n\r\nok"},
    };
    struct fixture *f = fixture_new(steps, 3);
    struct got g;
    for (int i = 0; i < 2; i++) {
        run_call(f, &g, NULL, "{}", 0);
        assert_int_equal(g.result, CURLE_BAD_CONTENT_ENCODING);
        assert_int_equal(g.headers_calls, 0);
        assert_null(g.data.data);
        got_free(&g);
    }
    run_call(f, &g, NULL, "{}", 0);
    assert_int_equal(g.result, CURLE_OK);
    assert_string_equal(g.data.data, "ok");
    got_free(&g);
    assert_int_equal(f->s.accepted, 3);
    assert_true(gw_upstream_identity(NULL) && gw_upstream_identity("") &&
                gw_upstream_identity(" identity ,IDENTITY"));
    assert_false(gw_upstream_identity("gzip") || gw_upstream_identity("identity,x-gzip"));
    fixture_free(f);
}

static void reports_each_failure_with_libcurls_code(void **state)
{
    static const struct step steps[] = {
        {HANG, NULL},
        {REPLY, "garbage\r\n\r\n"},
        {REPLY, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"},
        {REPLY_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"},
        {REPLY, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
        {REPLY, OK_JSON},
    };
    struct fixture *f = fixture_new(steps, 6);
    struct got g;
    run_call(f, &g, NULL, "{}", 100);
    assert_int_equal(g.result, CURLE_OPERATION_TIMEDOUT);
    got_free(&g);
    run_call(f, &g, NULL, "{}", 0);
    assert_int_equal(g.result, CURLE_WEIRD_SERVER_REPLY);
    assert_int_equal(g.headers_calls, 0);
    got_free(&g);
    run_call(f, &g, NULL, "{}", 0);
    assert_int_equal(g.result, CURLE_WEIRD_SERVER_REPLY); /* two lengths: no guessing */
    got_free(&g);
    run_call(f, &g, NULL, "{}", 0);
    assert_int_equal(g.result, CURLE_PARTIAL_FILE);
    assert_string_equal(g.data.data, "short");
    got_free(&g);
    run_call(f, &g, NULL, "{}", 0);
    assert_int_equal(g.result, CURLE_WEIRD_SERVER_REPLY);
    got_free(&g);
    /* on_data says stop: the call ends and its connection is not reused */
    start_call(f, &g, NULL, "{}", 0);
    g.stop_after = 1;
    finish_call(f, &g);
    assert_int_equal(g.result, CURLE_WRITE_ERROR);
    assert_int_equal(gw_h1_connections(f->h), 0);
    got_free(&g);
    assert_int_equal(f->s.requests, 6);
    /* Nobody listening. */
    int port = f->s.port;
    evconnlistener_free(f->s.lis);
    f->s.lis = NULL;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/x", port);
    run_call(f, &g, url, "{}", 0);
    assert_int_equal(g.result, CURLE_COULDNT_CONNECT);
    got_free(&g);
    fixture_free(f);
}

/* A cancelled call runs no callback, and its connection is closed, not kept. */
static void cancel_runs_no_callback(void **state)
{
    static const struct step steps[] = {{HANG, NULL}};
    struct fixture *f = fixture_new(steps, 1);
    struct got g;
    start_call(f, &g, NULL, "{}", 0);
    spin(f, 30);
    assert_int_equal(f->s.requests, 1);
    assert_int_equal(gw_h1_connections(f->h), 1);
    gw_h1_cancel(g.call);
    assert_int_equal(gw_h1_connections(f->h), 0);
    spin(f, 20);
    assert_false(g.done);
    got_free(&g);
    /* Cancelled before it even connected. */
    start_call(f, &g, NULL, "{}", 0);
    gw_h1_cancel(g.call);
    spin(f, 20);
    assert_false(g.done);
    assert_int_equal(gw_h1_connections(f->h), 0);
    got_free(&g);
    fixture_free(f);
}

/* localhost comes from the hosts file, through the resolver. */
static void resolves_names(void **state)
{
    static const struct step steps[] = {{REPLY, OK_JSON}};
    struct fixture *f = fixture_new(steps, 1);
    char url[128];
    snprintf(url, sizeof url, "http://localhost:%d/v1/chat/completions", f->s.port);
    struct got g;
    run_call(f, &g, url, "{}", 0);
    assert_int_equal(g.result, CURLE_OK);
    assert_int_equal(g.status, 200);
    assert_non_null(strstr(f->s.request, "\r\nHost: localhost:"));
    got_free(&g);
    fixture_free(f);
}

static void takes_plain_http_urls_only(void **state)
{
    assert_true(gw_h1_can_call("http://127.0.0.1:9000/v1/chat/completions"));
    assert_true(gw_h1_can_call("http://example.com/v1"));
    assert_true(gw_h1_can_call("HTTP://example.com"));
    assert_true(gw_h1_can_call("http://[::1]:8080/v1?x=1"));
    assert_false(gw_h1_can_call("https://api.openai.com/v1/chat/completions"));
    assert_false(gw_h1_can_call("http://user:pw@example.com/v1"));
    assert_false(gw_h1_can_call("http://example.com:99999/v1"));
    assert_false(gw_h1_can_call("http://example.com:/v1"));
    assert_false(gw_h1_can_call("http:///v1"));
    assert_false(gw_h1_can_call("http://[::1/v1"));
    assert_false(gw_h1_can_call("http://example.com/a b"));
    assert_false(gw_h1_can_call("http://example.com/a\tb"));
    assert_false(gw_h1_can_call("http://example.com/caf\xc3\xa9")); /* raw bytes: libcurl's */
    assert_false(gw_h1_can_call("ftp://example.com/"));
}

/* A header value with a line break is refused, not sent as two headers. */
static void refuses_header_injection(void **state)
{
    struct event_base *base = event_base_new();
    struct gw_h1 *h = gw_h1_new(base);
    struct curl_slist *bad = curl_slist_append(NULL, "X-A: 1\r\nX-Injected: 2");
    struct got g = {0};
    assert_null(gw_h1_start(h, "POST", "http://127.0.0.1:9/v1", bad, "{}", 2, 1000, 0, &ops, &g));
    assert_int_equal(gw_h1_connections(h), 0);
    curl_slist_free_all(bad);
    gw_h1_free(h);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sends_the_request_and_reuses_the_connection),
        cmocka_unit_test(sends_a_long_head),
        cmocka_unit_test(reads_chunked_replies_in_pieces),
        cmocka_unit_test(reads_a_reply_framed_by_the_close),
        cmocka_unit_test(honours_connection_close_and_skips_interim_replies),
        cmocka_unit_test(retries_once_on_a_dropped_kept_connection),
        cmocka_unit_test(drops_idle_connections_the_server_closed),
        cmocka_unit_test(pauses_and_resumes_without_losing_bytes),
        cmocka_unit_test(a_pause_on_the_last_byte_still_ends_the_call),
        cmocka_unit_test(stray_bytes_on_an_idle_connection_are_never_a_reply),
        cmocka_unit_test(reads_bare_lf_heads_and_refuses_odd_numbers),
        cmocka_unit_test(refuses_a_reply_in_a_content_encoding),
        cmocka_unit_test(reports_each_failure_with_libcurls_code),
        cmocka_unit_test(cancel_runs_no_callback),
        cmocka_unit_test(resolves_names),
        cmocka_unit_test(takes_plain_http_urls_only),
        cmocka_unit_test(refuses_header_injection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
