#include "upstream/upstream.h"

#include <event2/event_struct.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "upstream/h1.h"
#include "util/buf.h"

/* Easy handles kept for reuse: creating one per request costs allocations (buffers,
 * caches) on the hot path. */
#define GW_SPARE_HANDLES 64

struct gw_upstream {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    size_t active;
    struct gw_upcall *calls; /* in flight, so that free can cancel them */
    CURL *spare[GW_SPARE_HANDLES]; /* finished easy handles, reset, for reuse */
    int nspare;
    struct gw_h1 *h1; /* the native client; NULL when every call goes through libcurl */
};

struct gw_upcall {
    struct gw_upstream *u;
    struct gw_upcall *prev, *next;
    CURL *easy;              /* a libcurl call, or */
    struct gw_h1_call *h1;   /* a native one */
    struct curl_slist *headers;
    const struct gw_upcall_ops *ops;
    void *arg;
    bool headers_done;
    bool paused;
    bool encoded; /* the reply came in a content encoding: refused */
    char errbuf[CURL_ERROR_SIZE];
};

/* Per socket: one persistent event, re-armed in place when curl changes what it waits for
 * (no allocation per change). */
struct sockinfo {
    struct event ev;
    bool added;
};

static CURL *easy_get(struct gw_upstream *u)
{
    return u->nspare ? u->spare[--u->nspare] : curl_easy_init();
}

static void easy_put(struct gw_upstream *u, CURL *e)
{
    if (u->nspare < GW_SPARE_HANDLES) {
        curl_easy_reset(e);
        u->spare[u->nspare++] = e;
    } else {
        curl_easy_cleanup(e);
    }
}

static void unlink_call(struct gw_upcall *c)
{
    struct gw_upstream *u = c->u;
    if (c->easy)
        curl_multi_remove_handle(u->multi, c->easy);
    if (c->prev)
        c->prev->next = c->next;
    else
        u->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    u->active--;
}

static void link_call(struct gw_upcall *c)
{
    struct gw_upstream *u = c->u;
    c->next = u->calls;
    if (u->calls)
        u->calls->prev = c;
    u->calls = c;
    u->active++;
}

bool gw_upstream_identity(const char *v)
{
    while (v && *v) {
        v += strspn(v, " \t,");
        size_t n = strcspn(v, " \t,");
        if (n && !(n == 8 && strncasecmp(v, "identity", 8) == 0))
            return false;
        v += n;
    }
    return true;
}

/* Whether the reply's head names a content encoding (every Content-Encoding header). */
static bool reply_encoded(CURL *e)
{
    struct curl_header *h;
    for (size_t i = 0;
         curl_easy_header(e, "Content-Encoding", i, CURLH_HEADER, -1, &h) == CURLHE_OK; i++) {
        if (!gw_upstream_identity(h->value))
            return true;
        if (i + 1 >= h->amount)
            break;
    }
    return false;
}

static void check_multi_info(struct gw_upstream *u)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(u->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct gw_upcall *c = NULL;
        long status = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        CURLcode result = msg->data.result;
        unlink_call(c);
        if (c->encoded || (!c->headers_done && result == CURLE_OK && reply_encoded(c->easy)))
            result = CURLE_BAD_CONTENT_ENCODING; /* before its head reaches the caller */
        else if (!c->headers_done && result == CURLE_OK) {
            char *ct = NULL;
            curl_easy_getinfo(c->easy, CURLINFO_CONTENT_TYPE, &ct);
            c->headers_done = true;
            c->ops->on_headers(c->arg, status, ct);
        }
        c->ops->on_done(c->arg, result, status);
        easy_put(u, c->easy);
        curl_slist_free_all(c->headers);
        free(c);
    }
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    struct gw_upstream *u = arg;
    int running;
    int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(u->multi, fd, action, &running);
    check_multi_info(u);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct gw_upstream *u = arg;
    int running;
    curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(u);
}

/* CURLMOPT_TIMERFUNCTION: only arm or delete the timer; never call curl from here. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *arg)
{
    struct gw_upstream *u = arg;
    if (timeout_ms < 0) {
        evtimer_del(u->timer);
    } else {
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        evtimer_add(u->timer, &tv);
    }
    return 0;
}

/* CURLMOPT_SOCKETFUNCTION */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
    struct gw_upstream *u = arg;
    struct sockinfo *si = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (si) {
            if (si->added)
                event_del(&si->ev);
            free(si);
            curl_multi_assign(u->multi, s, NULL);
        }
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (!si) {
        si = calloc(1, sizeof *si);
        if (!si)
            return -1;
        curl_multi_assign(u->multi, s, si);
    } else if (si->added) {
        event_del(&si->ev);
    }
    event_assign(&si->ev, u->base, s, kind, on_socket_event, u);
    si->added = event_add(&si->ev, NULL) == 0;
    return 0;
}

static size_t on_body(char *ptr, size_t size, size_t n, void *arg)
{
    struct gw_upcall *c = arg;
    size_t len = size * n;
    if (!c->headers_done) {
        long status = 0;
        char *ct = NULL;
        if (reply_encoded(c->easy)) {
            c->encoded = true;
            return 0; /* ends the transfer; check_multi_info reports why */
        }
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c->easy, CURLINFO_CONTENT_TYPE, &ct);
        c->headers_done = true;
        c->ops->on_headers(c->arg, status, ct);
    }
    return c->ops->on_data(c->arg, ptr, len) == 0 ? len : 0;
}

/* The native client's callbacks, passed on; on_done also ends the wrapping call. */
static void h1_on_headers(void *arg, long status, const char *content_type)
{
    struct gw_upcall *c = arg;
    c->ops->on_headers(c->arg, status, content_type);
}

static int h1_on_data(void *arg, const char *data, size_t len)
{
    struct gw_upcall *c = arg;
    return c->ops->on_data(c->arg, data, len);
}

static void h1_on_done(void *arg, CURLcode result, long status)
{
    struct gw_upcall *c = arg;
    unlink_call(c);
    c->ops->on_done(c->arg, result, status);
    curl_slist_free_all(c->headers);
    free(c);
}

static const struct gw_upcall_ops h1_ops = {h1_on_headers, h1_on_data, h1_on_done};

/* libcurl honours these variables and the native client does not: with one set, auto
 * leaves every call to libcurl. (HTTP_PROXY in capitals is ignored for http:// by
 * libcurl too: in a CGI it could come from a request header.) */
static bool proxy_in_environment(void)
{
    static const char *const vars[] = {"http_proxy", "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return true;
    }
    return false;
}

struct gw_upstream *gw_upstream_new(struct event_base *base, enum gw_upstream_client client)
{
    struct gw_upstream *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->base = base;
    u->multi = curl_multi_init();
    u->timer = evtimer_new(base, on_timer, u);
    bool native = client == GW_CLIENT_NATIVE || (client == GW_CLIENT_AUTO && !proxy_in_environment());
    if (native)
        u->h1 = gw_h1_new(base);
    if (!u->multi || !u->timer || (native && !u->h1)) {
        gw_upstream_free(u);
        return NULL;
    }
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, 256L);
    return u;
}

void gw_upstream_free(struct gw_upstream *u)
{
    if (!u)
        return;
    while (u->calls)
        gw_upcall_cancel(u->calls);
    while (u->nspare)
        curl_easy_cleanup(u->spare[--u->nspare]);
    if (u->multi)
        curl_multi_cleanup(u->multi);
    if (u->timer)
        event_free(u->timer);
    gw_h1_free(u->h1);
    free(u);
}

const char *gw_upstream_client_for(const struct gw_upstream *u, const char *url)
{
    return u->h1 && gw_h1_can_call(url) ? "native" : "libcurl";
}

size_t gw_upstream_active(const struct gw_upstream *u)
{
    return u->active;
}

/* The method a call sends (see upstream.h); NULL for one this module does not send. */
static const char *call_method(const char *method, const char *body)
{
    if (!method)
        return body ? "POST" : "GET";
    static const char *const known[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(method, known[i]) == 0)
            return known[i];
    return strcmp(method, "HEAD") == 0 ? "GET" : NULL;
}

struct gw_upcall *gw_upstream_start(struct gw_upstream *u, const char *method, const char *url,
                                    struct curl_slist *headers, const char *body, size_t len,
                                    long connect_timeout_ms, long timeout_ms,
                                    const struct gw_upcall_ops *ops, void *arg)
{
    method = call_method(method, body);
    if (!method) {
        curl_slist_free_all(headers);
        return NULL;
    }
    struct gw_upcall *c = calloc(1, sizeof *c);
    if (!c) {
        curl_slist_free_all(headers);
        return NULL;
    }
    c->headers = headers;
    c->u = u;
    c->ops = ops;
    c->arg = arg;
    if (u->h1 && gw_h1_can_call(url)) {
        c->h1 = gw_h1_start(u->h1, method, url, headers, body, len, connect_timeout_ms, timeout_ms,
                            &h1_ops, c);
        if (!c->h1)
            goto fail;
        link_call(c);
        return c;
    }
    c->easy = easy_get(u);
    if (!c->easy)
        goto fail;
    CURL *e = c->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL); /* pass bytes as they come */
    if (body) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body); /* not copied: see upstream.h */
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
        /* PUT, PATCH, DELETE: the body (if any) as for a POST, under the method's name */
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    if (curl_multi_add_handle(u->multi, e) != CURLM_OK)
        goto fail;
    link_call(c);
    return c;
fail:
    if (c->easy)
        easy_put(u, c->easy);
    curl_slist_free_all(c->headers);
    free(c);
    return NULL;
}

void gw_upcall_cancel(struct gw_upcall *c)
{
    if (!c)
        return;
    unlink_call(c);
    if (c->h1)
        gw_h1_cancel(c->h1);
    else
        easy_put(c->u, c->easy);
    curl_slist_free_all(c->headers);
    free(c);
}

void gw_upcall_pause(struct gw_upcall *c, bool paused)
{
    if (c->paused == paused)
        return;
    c->paused = paused;
    if (c->h1) {
        gw_h1_pause(c->h1, paused);
        return;
    }
    curl_easy_pause(c->easy, paused ? CURLPAUSE_RECV : CURLPAUSE_CONT);
}
