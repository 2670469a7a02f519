#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "kpi/privacy.h"
#include "server/policy.h"
#include "server/proxy.h"
#include "util/json.h"
#include "util/json_arena.h"
#include "util/log.h"


/* Ends a draining worker's loop once its last request is done, after a short grace so that
 * the replies just finished are written out (evhttp writes from the loop). */
static void drain_exit(struct gw_worker *w)
{
    static const struct timeval flush = {0, 200 * 1000};
    event_base_loopexit(w->base, &flush);
}

/* The worker this thread runs (NULL on any other thread): evhttp_send_error, called by
 * libevent with no argument of ours, counts its answer in this worker's metrics. */
static _Thread_local struct gw_worker *self;

static void send_json(struct gw_worker *w, struct evhttp_request *req, int status,
                      const char *reason, const char *json)
{
    gw_metrics_answer(w->metrics, NULL, status);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    struct evbuffer *out = evbuffer_new();
    if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) /* evhttp would send it */
        evbuffer_add(out, json, strlen(json));
    evhttp_send_reply(req, status, reason, out);
    evbuffer_free(out);
}

#define GW_MAX_HEADERS (64 * 1024) /* a request's header block, at most */

static size_t body_cap; /* evhttp's cap on a request body (set before any worker runs) */

/* evhttp answers some requests itself through evhttp_send_error, with an HTML page: one it
 * cannot read (400), a header block or a body over its caps (413 for both), an Expect it
 * does not know (417). libevent calls
 * it through the PLT, so this definition replaces its own there too, and every answer the
 * gateway gives is JSON in the OpenAI error shape (at that point the path is not known;
 * the Anthropic SDK reads the status and the message from it as well). Connection: close
 * after a request evhttp could not read, as its own page does. */
void evhttp_send_error(struct evhttp_request *req, int error, const char *reason)
{
    (void)reason;
    if (self) { /* a worker's: counted under the API of its path when that was read */
        const char *path = req->uri_elems ? evhttp_uri_get_path(req->uri_elems) : NULL;
        gw_metrics_answer(self->metrics, path ? gw_api_for_path(path) : NULL,
                          error); /* 431 for 400 below: the same class */
    }
    gw_send_evhttp_error(req, error);
}

void gw_send_evhttp_error(struct evhttp_request *req, int error)
{
    const char *message = "The gateway could not answer this request.";
    const char *code = "internal_error";
    bool unread = req->uri == NULL;
    /* evhttp calls a header block over its cap unreadable (400): the lines it read, and
     * the line it could not finish in its input */
    struct bufferevent *bev = req->evcon ? evhttp_connection_get_bufferevent(req->evcon) : NULL;
    size_t head = req->headers_size + (bev ? evbuffer_get_length(bufferevent_get_input(bev)) : 0);
    if (error == 400 && unread && head > GW_MAX_HEADERS) {
        error = 431;
        message = "The request's header block is over 64 KB.";
        code = "request_header_fields_too_large";
    } else if (error == 413) {
        message = "The request body is over the gateway's limit.";
        code = "request_too_large";
    } else if (error == 400) {
        message = "The request could not be read as HTTP/1.1.";
        code = "invalid_request";
    } else if (error == 502) {
        message = "The provider's answer could not be passed on.";
        code = "provider_error";
    } else if (error == 417) {
        message = "Of the Expect header, only 100-continue is supported.";
        code = "expectation_failed";
    }
    char body[384];
    if (error == 413)
        snprintf(body, sizeof body, "%s It is %zu bytes; send less.", message, body_cap);
    else
        snprintf(body, sizeof body, "%s", message);
    if (unread && !req->major) { /* the request line was not read: answer in HTTP/1.1 */
        req->major = 1;
        req->minor = 1;
    }
    /* as libevent's own page: the connection closes, since the body of a request it refused
     * unread (417) must never be read as the next request */
    evhttp_clear_headers(evhttp_request_get_output_headers(req));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    gw_send_error(req, NULL, error, body, error >= 500 ? "api_error" : "invalid_request_error",
                  NULL, code);
}

/* The client's own x-request-id when it is safe to record (kpi/privacy.h: a short token,
 * not an e-mail or a phone number), else a fresh one. */
static void request_id(struct gw_worker *w, struct evhttp_request *req, char *out, size_t outlen)
{
    const char *given = evhttp_find_header(evhttp_request_get_input_headers(req), "x-request-id");
    if (gw_privacy_request_id_ok(given) && strlen(given) < outlen) {
        snprintf(out, outlen, "%s", given);
        return;
    }
    /* xorshift64*: ids need to be unique, not secret */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    snprintf(out, outlen, "%016llx", (unsigned long long)(w->rng * 2685821657736338717ULL));
}

/* Whether rest (after /v1/responses/) names a stored response as the API does: an id of
 * letters, digits, '_' and '-', then nothing, /input_items or /cancel. Anything else (a dot
 * segment, an escape) could reach another endpoint of the provider unscreened once a client
 * or proxy on the way resolves it. */
static bool stored_path(const char *rest, enum evhttp_cmd_type cmd)
{
    size_t n = strspn(rest, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
    if (n == 0 || strcmp(rest, "compact") == 0 || strcmp(rest, "input_tokens") == 0)
        return false; /* endpoints that read input, not stored responses */
    if (cmd == EVHTTP_REQ_POST) /* only a cancel is posted to a stored response */
        return strcmp(rest + n, "/cancel") == 0;
    return (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_DELETE) &&
           (rest[n] == '\0' || (cmd == EVHTTP_REQ_GET && strcmp(rest + n, "/input_items") == 0));
}

/* Whether every Content-Length header of a request is one run of digits and all say the
 * same: evhttp takes the first of two and accepts "+5", and a proxy in front may read
 * them otherwise (request smuggling). */
bool gw_content_length_ok(const struct evkeyvalq *h)
{
    const char *first = NULL;
    const struct evkeyval *kv;
    TAILQ_FOREACH(kv, h, next)
    {
        if (strcasecmp(kv->key, "Content-Length") != 0)
            continue;
        const char *v = kv->value;
        if (!*v || strspn(v, "0123456789") != strlen(v))
            return false;
        if (first && strcmp(first, v) != 0)
            return false;
        first = v;
    }
    return true;
}

/* Whether a Content-Type names application/json (parameters allowed, case ignored). A
 * body of another type, or of none, is refused: a web page can post text/plain, or a
 * typeless Blob, to any address its browser reaches without asking first, and the gateway
 * would spend the brand's key on it. */
static bool is_json_media_type(const char *v)
{
    if (!v)
        return false;
    v += strspn(v, " \t");
    size_t n = strcspn(v, ";");
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return n == 16 && strncasecmp(v, "application/json", 16) == 0;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct gw_worker *w = arg;
    const char *uri = evhttp_request_get_uri(req);
    if (!uri) {
        /* libevent 2.1 calls back again, with no URI, when the connection of a request in
         * flight failed: end that request's upstream call. */
        gw_proxy_abort(w, req);
        return;
    }
    gw_conn_request_read(w, req);
    char reqid[72];
    request_id(w, req, reqid, sizeof reqid);
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    if (!path || !*path)
        path = "/";
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const struct gw_config *cfg = w->srv->cfg;

    if (!gw_content_length_ok(evhttp_request_get_input_headers(req))) {
        /* the bytes after the body that evhttp read may be a smuggled request: close */
        const struct gw_api *api = gw_api_for_path(path);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        gw_answer_early(w, req, api, reqid, 400,
                        "Content-Length must be one run of digits, given once.",
                        "invalid_request_error", NULL, "invalid_content_length");
        return;
    }
    if (strcmp(path, "/healthz") == 0) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "x-request-id", reqid);
        send_json(w, req, 200, "OK", "{\"status\":\"ok\"}");
        return;
    }
    if (strcmp(path, "/readyz") == 0) {
        bool ready = w->rs && atomic_load(&w->srv->running) == w->srv->nworkers && !w->draining;
        evhttp_add_header(evhttp_request_get_output_headers(req), "x-request-id", reqid);
        if (ready)
            send_json(w, req, 200, "OK", "{\"status\":\"ready\"}");
        else
            send_json(w, req, 503, "Service Unavailable", "{\"status\":\"not ready\"}");
        return;
    }
    const struct gw_api *api = gw_api_for_path(path);
    if (api) {
        char msg[160];
        if (cmd != EVHTTP_REQ_POST) {
            snprintf(msg, sizeof msg, "Use POST for %s.", api->route);
            gw_answer_early(w, req, api, reqid, 405, msg, "invalid_request_error", NULL,
                            "method_not_allowed");
            return;
        }
        struct evkeyvalq *in = evhttp_request_get_input_headers(req);
        if (!is_json_media_type(evhttp_find_header(in, "Content-Type"))) {
            gw_answer_early(w, req, api, reqid, 415,
                            "Send the request body as application/json (Content-Type).",
                            "invalid_request_error", NULL, "unsupported_media_type");
            return;
        }
        gw_proxy_api(w, api, req, reqid);
        return;
    }
    static const struct {
        enum evhttp_cmd_type cmd;
        const char *name;
    } methods[] = {{EVHTTP_REQ_GET, "GET"},         {EVHTTP_REQ_POST, "POST"},
                   {EVHTTP_REQ_DELETE, "DELETE"},   {EVHTTP_REQ_PUT, "PUT"},
                   {EVHTTP_REQ_HEAD, "HEAD"},       {EVHTTP_REQ_PATCH, "PATCH"},
                   {EVHTTP_REQ_OPTIONS, "OPTIONS"}, {EVHTTP_REQ_TRACE, "TRACE"},
                   {EVHTTP_REQ_CONNECT, "CONNECT"}};
    const char *method = "?";
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (methods[i].cmd == cmd)
            method = methods[i].name;
    /* The Responses API's stored objects: a response fetched again, its input items, a
     * cancel, a delete. Their text comes back from the provider and is screened. */
    const char *rest = strncmp(path, "/v1/responses/", 14) == 0 ? path + 14
                       : strncmp(path, "/responses/", 11) == 0 ? path + 11
                                                                : NULL;
    if (rest && stored_path(rest, cmd)) {
        gw_proxy_stored(w, &gw_api_openai_responses, req, reqid, method, path);
        return;
    }
    for (size_t i = 0; i < cfg->n_passthrough; i++) {
        if (strcmp(cfg->passthrough[i].method, method) == 0 &&
            strcmp(cfg->passthrough[i].path, path) == 0) {
            gw_proxy_passthrough(w, req, reqid, method, path);
            return;
        }
    }
    char msg[400];
    if (strcmp(path, "/v1/v1/messages") == 0) { /* the Anthropic SDK given .../v1 */
        snprintf(msg, sizeof msg, "Unknown request URL: %s %s. The Anthropic SDK adds "
                 "/v1/messages itself: give it this gateway's address without /v1.", method, path);
        gw_answer_early(w, req, &gw_api_anthropic_messages, reqid, 404, msg,
                        "invalid_request_error", NULL, "unknown_url");
        return;
    }
    struct gw_buf routes = {0};
    for (size_t i = 0; gw_apis[i]; i++)
        gw_buf_printf(&routes, "%s%s", i ? ", " : "", gw_apis[i]->route);
    snprintf(msg, sizeof msg, "Unknown request URL: %s %.200s. This gateway serves POST on %s.",
             method, path, routes.data ? routes.data : "");
    gw_buf_free(&routes);
    gw_answer_early(w, req, NULL, reqid, 404, msg, "invalid_request_error", NULL, "unknown_url");
}

/* Whether the pack file came from path: path itself, or a pack of the folder path (the
 * loader reads a folder's own *.yaml, not its subfolders: a live rules folder inside a
 * candidates folder is not a candidate). */
static bool under(const char *file, const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    if (strncmp(file, path, n) != 0)
        return false;
    if (file[n] == '\0')
        return true;
    if (file[n] != '/')
        return false;
    const char *name = file + n + strspn(file + n, "/"); /* "dir/" + "/x.yaml" */
    return !strchr(name, '/');
}

int gw_server_prepare_rules(const struct gw_config *cfg, struct gw_ruleset *rs, char *err,
                            size_t errlen)
{
    /* candidates (--shadow-rules): every rule of them in shadow, before the policies'
     * views are built from the rules' own settings */
    for (size_t i = 0; i < rs->table.n_rules; i++)
        for (size_t k = 0; k < cfg->n_shadow_rules; k++)
            if (under(rs->table.rules[i].file, cfg->shadow_rules[k]))
                rs->table.rules[i].shadow = true;
    /* A stream holds back what a match still forming could need, for the rules that act: a
     * rule in shadow everywhere (its pack's word, or a candidate; no policy brings one out)
     * never acts, so its width does not make every customer wait. */
    unsigned widest = 0;
    for (size_t i = 0; i < rs->table.n_patterns; i++) {
        const struct gw_pattern *p = &rs->table.patterns[i];
        const struct gw_rule *r = &rs->table.rules[p->rule];
        if ((r->directions & GW_DIR_REPLY) && !r->shadow && p->max_width > widest)
            widest = p->max_width;
    }
    if (widest < rs->holdback)
        rs->holdback = widest;
    if (gw_policy_build(cfg, rs, err, errlen) == -1)
        return -1;
    if (gw_ruleset_memo(rs, cfg->screen_cache_entries) == -1)
        GW_LOG(GW_LOG_WARN, NULL, "no memory for a screen cache of %zu entries; screening "
               "without one", cfg->screen_cache_entries);
    return 0;
}

/* Runs on the worker when another thread activated w->wake: swap rules, or drain. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct gw_worker *w = arg;
    pthread_mutex_lock(&w->mu);
    struct gw_ruleset *next = w->next_rs;
    bool drain = w->drain_requested;
    bool expired = w->drain_expired;
    w->next_rs = NULL;
    pthread_mutex_unlock(&w->mu);
    if (next) {
        gw_scanner *sc = gw_scanner_new(next);
        if (sc) {
            /* Requests in flight hold their own references to the old scanner (and the
             * ruleset under it): it goes when the last of them ends. */
            gw_scanner_free(w->scanner);
            gw_ruleset_unref(w->rs);
            w->scanner = sc;
            w->rs = next;
        } else {
            gw_ruleset_unref(next);
        }
    }
    if (drain && !w->draining) {
        w->draining = true;
        gw_conns_stop(w);
        if (w->bound) {
            evhttp_del_accept_socket(w->http, w->bound);
            w->bound = NULL;
        }
    }
    if (expired && w->draining)
        gw_proxy_shutdown(w); /* the last request done calls drain_exit */
    GW_LOG(GW_LOG_DEBUG, NULL, "worker %d woken: draining %d, %zu in flight", w->index,
           w->draining, w->inflight);
    if (w->draining && w->inflight == 0)
        drain_exit(w);
}

void gw_worker_request_done(struct gw_worker *w)
{
    w->inflight--;
    if (w->draining && w->inflight == 0)
        drain_exit(w);
}

/* Each worker's arena for the JSON of the request it is screening (util/json_arena.h):
 * larger bodies than fit fall back to malloc. */
#define GW_JSON_ARENA_BYTES (256 * 1024)

static void *worker_main(void *arg)
{
    struct gw_worker *w = arg;
    struct gw_json_arena arena;
    if (gw_json_arena_attach(&arena, GW_JSON_ARENA_BYTES) == -1)
        GW_LOG(GW_LOG_WARN, NULL, "worker %d: no JSON arena; using malloc", w->index);
    self = w;
    atomic_fetch_add(&w->srv->running, 1);
    int rc = event_base_dispatch(w->base);
    GW_LOG(GW_LOG_DEBUG, NULL, "worker %d stopped (rc %d, exit %d, break %d, %zu in flight)",
           w->index, rc, event_base_got_exit(w->base), event_base_got_break(w->base), w->inflight);
    atomic_fetch_sub(&w->srv->running, 1);
    gw_json_arena_detach(&arena);
    return NULL;
}

/* Whether another socket already listens on ai's address: a bind without SO_REUSEPORT
 * fails then. Our own listeners all set SO_REUSEPORT (one per worker), which would also let
 * a second gateway, or any program that sets it, share the port and take part of the
 * traffic without an error: so the first listener asks first. */
static bool port_taken(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd == -1)
        return false;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* TIME_WAIT is not taken */
    bool taken = bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 && errno == EADDRINUSE;
    close(fd);
    return taken;
}

static int listen_socket(const char *host, int port, bool first, int *bound_port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    if (getaddrinfo(host, portstr, &hints, &ai) != 0) {
        GW_LOG(GW_LOG_ERROR, NULL, "listen: cannot resolve '%s'", host);
        return -1;
    }
    if (first && port != 0 && port_taken(ai)) {
        GW_LOG(GW_LOG_ERROR, NULL, "listen on %s:%d: another process already listens there; "
               "not starting (sharing the port would split its traffic)", host, port);
        freeaddrinfo(ai);
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == -1 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 || listen(fd, 1024) == -1) {
        GW_LOG(GW_LOG_ERROR, NULL, "listen on %s:%d: %s", host, port, strerror(errno));
        if (fd != -1)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* A worker's event base. With epoll, changes of interest are collected and applied once
 * per loop iteration (EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST): a connection's read event is
 * disabled and enabled again around each request, and curl re-arms its socket's events
 * as a transfer moves on, so most changes cancel out before they would cost a syscall.
 * The flag's one caveat, dup()ed descriptors, does not apply: no fd here is duplicated.
 * (The base keeps its locks: the main thread activates w->wake.) */
static struct event_base *new_worker_base(void)
{
    struct event_config *ec = event_config_new();
    if (!ec)
        return NULL;
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *base = event_base_new_with_config(ec);
    event_config_free(ec);
    return base;
}

static int worker_init(struct gw_server *srv, struct gw_worker *w, int index, struct gw_ruleset *rs)
{
    const struct gw_config *cfg = srv->cfg;
    w->srv = srv;
    w->index = index;
    pthread_mutex_init(&w->mu, NULL);
    if (getrandom(&w->rng, sizeof w->rng, 0) != sizeof w->rng || w->rng == 0)
        w->rng = 0x9e3779b97f4a7c15ULL + (uint64_t)index + (uint64_t)time(NULL);
    w->base = new_worker_base();
    w->http = w->base ? evhttp_new(w->base) : NULL;
    w->up = w->base ? gw_upstream_new(w->base, cfg->provider.http_client) : NULL;
    w->wake = w->base ? event_new(w->base, -1, 0, on_wake, w) : NULL;
    w->rs = gw_ruleset_ref(rs);
    w->scanner = gw_scanner_new(rs);
    w->metrics = calloc(1, sizeof *w->metrics);
    if (!w->http || !w->up || !w->wake || !w->scanner || !w->metrics)
        return -1;
    /* evhttp reads the whole body before calling back. It answers bodies past this hard
     * cap itself; between the configured limit and the cap we answer in OpenAI's shape. */
    size_t cap = cfg->max_body_bytes * 2 > cfg->max_body_bytes + (1 << 20)
                     ? cfg->max_body_bytes * 2
                     : cfg->max_body_bytes + (1 << 20);
    evhttp_set_max_body_size(w->http, (ev_ssize_t)cap);
    body_cap = cap;
    evhttp_set_max_headers_size(w->http, GW_MAX_HEADERS);
    evhttp_set_timeout(w->http, cfg->idle_timeout_s);
    /* A body past the cap is read and dropped before the 413 (at most limits.body_timeout_s
     * long), so that a client still sending it reads the answer, not a reset. */
    evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
    /* every method comes to on_request, which answers what it does not serve in JSON */
    evhttp_set_allowed_methods(w->http, 0xffff);
    evhttp_set_gencb(w->http, on_request, w);
    if (gw_conns_init(w) == -1)
        return -1;
    int port;
    int fd = listen_socket(cfg->listen_host, srv->port ? srv->port : cfg->listen_port,
                           srv->port == 0, &port);
    if (fd == -1)
        return -1;
    srv->port = port;
    w->bound = evhttp_accept_socket_with_handle(w->http, fd);
    if (!w->bound)
        return -1;
    gw_conns_listen(w);
    return 0;
}

int gw_server_init(struct gw_server *srv, struct gw_config *cfg, struct gw_ruleset *rs,
                   gw_record_sink sink, void *sink_arg)
{
    memset(srv, 0, sizeof *srv);
    srv->cfg = cfg;
    srv->sink = sink;
    srv->sink_arg = sink_arg;
    const char *fault = getenv("GUARDRAIL_FAULT");
    srv->fault_screen = fault && strcmp(fault, "screen") == 0;
    if (srv->fault_screen)
        GW_LOG(GW_LOG_WARN, NULL, "GUARDRAIL_FAULT=screen: every scan fails (a test hook)");
    evthread_use_pthreads();
    long nofile = gw_raise_nofile();
    if (nofile > 0 && nofile < 2L * cfg->max_connections + 64)
        GW_LOG(GW_LOG_WARN, NULL, "%ld file descriptors for up to %d client connections "
               "(limits.max_connections), each of which can need a second one to the "
               "provider: accepting will pause when they run out", nofile, cfg->max_connections);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    gw_incident_key(cfg->hash_key, srv->hash_key);
    if (cfg->incident_log || srv->sink) {
        srv->incidents = gw_incidents_open(cfg->incident_log, srv->sink, srv->sink_arg);
        if (!srv->incidents)
            return -1;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    srv->nworkers = cfg->workers > 0 ? cfg->workers : (int)(cores > 0 ? cores : 1);
    srv->workers = calloc((size_t)srv->nworkers, sizeof *srv->workers);
    if (!srv->workers)
        return -1;
    for (int i = 0; i < srv->nworkers; i++)
        if (worker_init(srv, &srv->workers[i], i, rs) == -1)
            return -1;
    atomic_store(&srv->rules_loaded, (unsigned)rs->table.n_rules);
    atomic_store(&srv->rules_hash, gw_metrics_rules_hash(&rs->table));
    srv->current = gw_ruleset_ref(rs);
    return 0;
}

/* Warns about each pack of old that next lacks (a pack file deleted or renamed before a
 * reload): its rules stop screening, which must not go unnoticed. Returns how many. */
static unsigned packs_gone(const struct gw_ruleset *old, const struct gw_ruleset *next)
{
    unsigned gone = 0;
    const struct gw_rule_table *o = &old->table, *n = &next->table;
    for (size_t i = 0; i < o->n_rules; i++) {
        const char *pack = o->rules[i].pack;
        bool first = true, kept = false;
        for (size_t j = 0; j < i && first; j++)
            first = strcmp(o->rules[j].pack, pack) != 0;
        if (!first)
            continue;
        for (size_t j = 0; j < n->n_rules && !kept; j++)
            kept = strcmp(n->rules[j].pack, pack) == 0;
        if (kept)
            continue;
        size_t count = 0;
        for (size_t j = i; j < o->n_rules; j++)
            count += strcmp(o->rules[j].pack, pack) == 0;
        GW_LOG(GW_LOG_WARN, NULL, "SIGHUP: pack '%s' (%s) is not in the new rules: its %zu "
               "rule%s no longer screen", pack, o->rules[i].file, count, count == 1 ? "" : "s");
        gone++;
    }
    return gone;
}

const char *gw_server_missing_pack(const struct gw_config *cfg, const struct gw_ruleset *rs)
{
    for (size_t i = 0; i < cfg->n_required_packs; i++) {
        bool found = false;
        for (size_t j = 0; j < rs->table.n_rules && !found; j++)
            found = strcmp(rs->table.rules[j].pack, cfg->required_packs[i]) == 0;
        if (!found)
            return cfg->required_packs[i];
    }
    return NULL;
}

static struct gw_server *signal_srv;

/* Asks every worker to drain (expired false) or, once the drain timeout passed, to end
 * what it still has in flight (expired true); each reads it when its wake event runs. */
static void tell_workers(struct gw_server *srv, bool expired)
{
    for (int i = 0; i < srv->nworkers; i++) {
        struct gw_worker *w = &srv->workers[i];
        pthread_mutex_lock(&w->mu);
        if (expired)
            w->drain_expired = true;
        else
            w->drain_requested = true;
        pthread_mutex_unlock(&w->mu);
        event_active(w->wake, 0, 0);
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct event_base *main_base = arg;
    struct gw_server *srv = signal_srv;
    if (sig == SIGUSR1) {
        GW_LOG(GW_LOG_INFO, NULL, "SIGUSR1: reopening the incident log");
        gw_incidents_reopen(srv->incidents);
        return;
    }
    if (sig == SIGHUP) {
        struct gw_errors errs = {0};
        struct gw_ruleset *rs = NULL;
        if (gw_ruleset_load((const char *const *)srv->cfg->rules, srv->cfg->n_rules, &rs,
                            &errs) == -1) {
            for (size_t i = 0; i < errs.n; i++)
                GW_LOG(GW_LOG_ERROR, NULL, "reload: %s", errs.msgs[i]);
            GW_LOG(GW_LOG_ERROR, NULL, "SIGHUP: the new rules did not load; keeping the old");
            atomic_fetch_add(&srv->reloads[1], 1);
            gw_errors_free(&errs);
            return;
        }
        const char *missing = gw_server_missing_pack(srv->cfg, rs);
        if (missing) {
            GW_LOG(GW_LOG_ERROR, NULL, "SIGHUP: the new rules have no pack '%s', which "
                   "required_packs names; keeping the old", missing);
            atomic_fetch_add(&srv->packs_removed, 1);
            atomic_fetch_add(&srv->reloads[2], 1);
            gw_ruleset_unref(rs);
            return;
        }
        char perr[256];
        if (gw_server_prepare_rules(srv->cfg, rs, perr, sizeof perr) == -1) {
            GW_LOG(GW_LOG_ERROR, NULL, "SIGHUP: %s; keeping the old rules", perr);
            atomic_fetch_add(&srv->reloads[2], 1);
            gw_ruleset_unref(rs);
            return;
        }
        if (srv->current)
            atomic_fetch_add(&srv->packs_removed, packs_gone(srv->current, rs));
        gw_ruleset_unref(srv->current);
        srv->current = gw_ruleset_ref(rs);
        GW_LOG(GW_LOG_INFO, NULL, "SIGHUP: rules reloaded (%zu rules)", rs->table.n_rules);
        atomic_store(&srv->rules_loaded, (unsigned)rs->table.n_rules);
        atomic_store(&srv->rules_hash, gw_metrics_rules_hash(&rs->table));
        atomic_fetch_add(&srv->reloads[0], 1);
        for (int i = 0; i < srv->nworkers; i++) {
            struct gw_worker *w = &srv->workers[i];
            pthread_mutex_lock(&w->mu);
            gw_ruleset_unref(w->next_rs);
            w->next_rs = gw_ruleset_ref(rs);
            pthread_mutex_unlock(&w->mu);
            event_active(w->wake, 0, 0);
        }
        gw_ruleset_unref(rs);
        return;
    }
    GW_LOG(GW_LOG_INFO, NULL, "%s: draining requests in flight (at most %d s)",
           sig == SIGTERM ? "SIGTERM" : "SIGINT", srv->cfg->drain_timeout_s);
    tell_workers(srv, false);
    event_base_loopexit(main_base, NULL);
}

int gw_server_run(struct gw_server *srv)
{
    struct event_base *main_base = event_base_new();
    signal_srv = srv;
    signal(SIGPIPE, SIG_IGN);
    int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
    struct event *sev[4];
    for (int i = 0; i < 4; i++) {
        sev[i] = evsignal_new(main_base, sigs[i], on_signal, main_base);
        event_add(sev[i], NULL);
    }
    for (int i = 0; i < srv->nworkers; i++)
        pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]);
    const struct gw_config *cfg = srv->cfg;
    GW_LOG(GW_LOG_INFO, NULL,
           "listening on http://%s:%d with %d worker%s; provider %s (%s) through %s",
           cfg->listen_host, srv->port, srv->nworkers, srv->nworkers == 1 ? "" : "s",
           cfg->provider.name, cfg->provider.base_url,
           gw_upstream_client_for(srv->workers[0].up, cfg->provider.base_url));
    event_base_dispatch(main_base);

    /* Drain: wait for the workers, at most drain_timeout_s; then each ends what it still
     * has in flight, the way its API ends (gw_proxy_shutdown), and gets DRAIN_GRACE_S to
     * write it out before it is stopped anyway. */
    enum { DRAIN_GRACE_S = 2 };
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += cfg->drain_timeout_s;
    bool expired = false;
    for (;;) {
        if (atomic_load(&srv->running) == 0)
            break;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > deadline.tv_sec ||
            (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec)) {
            if (expired) {
                GW_LOG(GW_LOG_WARN, NULL, "drain grace over: stopping the workers");
                for (int i = 0; i < srv->nworkers; i++)
                    event_base_loopbreak(srv->workers[i].base);
                break;
            }
            GW_LOG(GW_LOG_WARN, NULL, "drain timeout: ending the requests in flight");
            tell_workers(srv, true);
            expired = true;
            deadline.tv_sec += DRAIN_GRACE_S;
        }
        usleep(10 * 1000);
    }
    for (int i = 0; i < srv->nworkers; i++)
        pthread_join(srv->workers[i].thread, NULL);
    for (int i = 0; i < 4; i++)
        event_free(sev[i]);
    event_base_free(main_base);
    GW_LOG(GW_LOG_INFO, NULL, "stopped");
    return 0;
}

void gw_server_free(struct gw_server *srv)
{
    gw_ruleset_unref(srv->current);
    srv->current = NULL;
    for (int i = 0; srv->workers && i < srv->nworkers; i++) {
        struct gw_worker *w = &srv->workers[i];
        while (w->reqs)
            gw_proxy_abort(w, NULL);
        gw_upstream_free(w->up);
        w->draining = true; /* the connections evhttp_free closes resume no listener */
        gw_conns_stop(w);
        if (w->http)
            evhttp_free(w->http);
        gw_conns_free(w);
        if (w->wake)
            event_free(w->wake);
        gw_scanner_free(w->scanner);
        gw_ruleset_unref(w->rs);
        gw_ruleset_unref(w->next_rs);
        gw_findings_free(&w->findings);
        gw_buf_free(&w->tmp);
        gw_buf_free(&w->scratch);
        free(w->metrics);
        if (w->base)
            event_base_free(w->base);
        pthread_mutex_destroy(&w->mu);
    }
    free(srv->workers);
    gw_incidents_close(srv->incidents);
    curl_global_cleanup();
    memset(srv, 0, sizeof *srv);
}
