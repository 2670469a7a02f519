#include "upstream/h1.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event_struct.h>
#include <event2/util.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>

#define H1_MAX_HEAD (64 * 1024)      /* status line and headers of a reply */
#define H1_MAX_LINE 1024             /* a chunk-size or trailer line */
#define H1_MAX_IDLE 256              /* idle connections kept per host, as libcurl's MAXCONNECTS */
#define H1_IDLE_TIMEOUT_S 60         /* an idle connection is closed after this long */
#define H1_MAX_READ (64 * 1024)      /* bytes one read() may take (libevent's default: 4 KiB) */
#define H1_DEFAULT_CONNECT_MS 300000 /* libcurl's default when none is given */

struct h1_pool {
    struct h1_pool *next;
    char host[256]; /* as in the URL, without IPv6 brackets */
    char port[8];
    char hosthdr[272]; /* the Host header's value */
    struct h1_conn *idle; /* most recently used first */
    size_t nidle;
};

struct gw_h1 {
    struct event_base *base;
    struct evdns_base *dns; /* created on the first name that is not an address */
    struct h1_pool *pools;
    size_t nconns;
};

struct h1_conn {
    struct gw_h1 *h;
    struct h1_pool *pool;
    struct bufferevent *bev;
    struct gw_h1_call *call; /* NULL while idle */
    struct h1_conn *prev, *next; /* in the pool's idle list */
    struct event kick; /* starts resolving in the next loop turn (no callback inside start) */
    struct evdns_getaddrinfo_request *dns;
    struct evutil_addrinfo *addrs, *next_addr; /* addresses still to try */
    bool connected;
    bool in_connect;     /* inside bufferevent_socket_connect (see conn_connect_next) */
    bool connect_failed; /* its error callback ran before it returned */
    bool in_lookup; /* inside evdns_getaddrinfo, which may call back before it returns */
    bool answered;  /* the lookup called back */
    int lookup_error; /* its result: 0 or an EVUTIL_EAI_ code */
    unsigned uses;    /* requests written on it */
};

enum h1_state {
    H1_HEAD,       /* status line and headers */
    H1_BODY_LEN,   /* Content-Length bytes */
    H1_CHUNK_SIZE, /* a chunk-size line */
    H1_CHUNK_DATA,
    H1_CHUNK_END, /* the CRLF after a chunk's data */
    H1_TRAILERS,  /* after the last chunk, up to an empty line */
    H1_BODY_EOF,  /* everything up to the end of the connection */
};

struct gw_h1_call {
    struct gw_h1 *h;
    struct h1_pool *pool;
    struct h1_conn *conn;
    const char *method;
    const struct curl_slist *headers;
    const char *body; /* NULL for none; not copied (see upstream.h) */
    size_t len;
    const struct gw_upcall_ops *ops;
    void *arg;
    struct event timer;
    struct timeval t0;
    long connect_timeout_ms, timeout_ms;
    enum h1_state state;
    long status;
    uint64_t left; /* body or chunk bytes still to come */
    bool keep_alive;
    bool got_bytes; /* any reply byte arrived: no retry on another connection after that */
    bool retried;
    bool paused;
    bool eof; /* the provider closed the connection; the input may still hold bytes */
    bool encoded; /* a Content-Encoding other than identity: refused (upstream.h) */
    char content_type[256];
    char target[]; /* path and query of the URL */
};

static void conn_free(struct h1_conn *k);
static void conn_connect_next(struct h1_conn *k);
static void call_process(struct gw_h1_call *c);
static void on_busy_read(struct bufferevent *bev, void *arg);
static void on_busy_event(struct bufferevent *bev, short what, void *arg);

/* ---- URLs and pools ---- */

/* Splits http://host[:port][/target] into its parts. Returns 0 or -1. */
static int parse_url(const char *url, char *host, size_t hostlen, char *port, size_t portlen,
                     const char **target)
{
    if (strncasecmp(url, "http://", 7) != 0)
        return -1;
    const char *p = url + 7, *end = p + strcspn(p, "/?#");
    const char *hs = p, *he;
    if (memchr(p, '@', (size_t)(end - p)))
        return -1; /* credentials in the URL: libcurl's job */
    if (*p == '[') {
        hs = p + 1;
        he = memchr(hs, ']', (size_t)(end - hs));
        if (!he)
            return -1;
        p = he + 1;
    } else {
        he = memchr(p, ':', (size_t)(end - p));
        if (!he)
            he = end;
        p = he;
    }
    size_t n = (size_t)(he - hs);
    if (n == 0 || n >= hostlen)
        return -1;
    memcpy(host, hs, n);
    host[n] = '\0';
    if (p < end && *p == ':') {
        size_t pn = (size_t)(end - p - 1);
        if (pn == 0 || pn >= portlen || strspn(p + 1, "0123456789") < pn)
            return -1;
        memcpy(port, p + 1, pn);
        port[pn] = '\0';
        long v = strtol(port, NULL, 10);
        if (v < 1 || v > 65535)
            return -1;
    } else if (p == end) {
        snprintf(port, portlen, "80");
    } else {
        return -1;
    }
    if (*end == '#')
        return -1;
    *target = end;
    return 0;
}

/* A request target must be visible ASCII: no space or control byte may end up in the
 * request line. */
static bool clean_target(const char *t)
{
    for (; *t; t++)
        if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f)
            return false;
    return true;
}

bool gw_h1_can_call(const char *url)
{
    char host[256], port[8];
    const char *target;
    return parse_url(url, host, sizeof host, port, sizeof port, &target) == 0 &&
           clean_target(target);
}

static struct h1_pool *pool_find(struct gw_h1 *h, const char *host, const char *port)
{
    for (struct h1_pool *p = h->pools; p; p = p->next)
        if (strcmp(p->host, host) == 0 && strcmp(p->port, port) == 0)
            return p;
    struct h1_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    snprintf(p->host, sizeof p->host, "%s", host);
    snprintf(p->port, sizeof p->port, "%s", port);
    bool v6 = strchr(host, ':') != NULL;
    bool std_port = strcmp(port, "80") == 0;
    snprintf(p->hosthdr, sizeof p->hosthdr, "%s%s%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "",
             std_port ? "" : ":", std_port ? "" : port);
    p->next = h->pools;
    h->pools = p;
    return p;
}

static void idle_unlink(struct h1_conn *k)
{
    if (k->prev)
        k->prev->next = k->next;
    else
        k->pool->idle = k->next;
    if (k->next)
        k->next->prev = k->prev;
    k->prev = k->next = NULL;
    k->pool->nidle--;
}

/* An idle connection that becomes readable was closed by the provider (or sent bytes
 * nobody asked for); either way it cannot carry another request. */
static void on_idle_read(struct bufferevent *bev, void *arg)
{
    struct h1_conn *k = arg;
    idle_unlink(k);
    conn_free(k);
}

static void on_idle_event(struct bufferevent *bev, short what, void *arg)
{
    on_idle_read(bev, arg);
}

/* Takes k back after a complete exchange; closes it when the pool is full. */
static void pool_put(struct h1_conn *k)
{
    struct h1_pool *p = k->pool;
    k->call = NULL;
    if (p->nidle >= H1_MAX_IDLE) {
        conn_free(k);
        return;
    }
    static const struct timeval idle = {H1_IDLE_TIMEOUT_S, 0};
    bufferevent_setcb(k->bev, on_idle_read, NULL, on_idle_event, k);
    bufferevent_set_timeouts(k->bev, &idle, NULL);
    bufferevent_enable(k->bev, EV_READ);
    k->prev = NULL;
    k->next = p->idle;
    if (p->idle)
        p->idle->prev = k;
    p->idle = k;
    p->nidle++;
}

/* The most recently used idle connection that is still quiet. One with bytes waiting (a
 * provider that sent more than its reply, or closed) would hand them to the next call as
 * its reply, so the socket is peeked first, as libcurl checks a connection before reuse. */
static struct h1_conn *pool_take(struct h1_pool *p)
{
    struct h1_conn *k;
    while ((k = p->idle)) {
        idle_unlink(k);
        char b;
        ssize_t n = recv(bufferevent_getfd(k->bev), &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
            evbuffer_get_length(bufferevent_get_input(k->bev)) == 0) {
            bufferevent_set_timeouts(k->bev, NULL, NULL);
            return k;
        }
        conn_free(k);
    }
    return NULL;
}

/* ---- connections ---- */

static void conn_free(struct h1_conn *k)
{
    if (!k)
        return;
    if (k->dns)
        evdns_getaddrinfo_cancel(k->dns); /* its callback sees EVUTIL_EAI_CANCEL and returns */
    if (k->addrs)
        evutil_freeaddrinfo(k->addrs);
    if (event_initialized(&k->kick))
        event_del(&k->kick);
    if (k->bev)
        bufferevent_free(k->bev); /* drops an unsent body reference without reading it */
    k->h->nconns--;
    free(k);
}

static void on_lookup(int result, struct evutil_addrinfo *res, void *arg)
{
    struct h1_conn *k = arg;
    if (result == EVUTIL_EAI_CANCEL)
        return; /* k is being freed */
    k->dns = NULL;
    k->answered = true;
    k->lookup_error = result;
    k->addrs = k->next_addr = res;
    if (!k->in_lookup)
        conn_connect_next(k); /* answered later, from the loop */
}

/* The provider's name resolved to nothing usable, or every address refused. */
static void conn_fail(struct h1_conn *k, CURLcode code);

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    struct h1_conn *k = arg;
    struct evutil_addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = EVUTIL_AI_NUMERICHOST | EVUTIL_AI_ADDRCONFIG;
    struct evutil_addrinfo *res = NULL;
    if (evutil_getaddrinfo(k->pool->host, k->pool->port, &hints, &res) == 0) {
        k->addrs = k->next_addr = res; /* an address: no resolver needed */
        conn_connect_next(k);
        return;
    }
    struct gw_h1 *h = k->h;
    if (!h->dns)
        h->dns = evdns_base_new(h->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                             EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!h->dns) {
        conn_fail(k, CURLE_COULDNT_RESOLVE_HOST);
        return;
    }
    hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
    k->answered = false;
    k->in_lookup = true;
    struct evdns_getaddrinfo_request *q =
        evdns_getaddrinfo(h->dns, k->pool->host, k->pool->port, &hints, on_lookup, k);
    k->in_lookup = false;
    if (!k->answered)
        k->dns = q; /* answers later */
    else
        conn_connect_next(k); /* answered at once (the hosts file, or an error) */
}

/* Connects to the next address left, or fails the call when none is. */
static void conn_connect_next(struct h1_conn *k)
{
    if (k->lookup_error != 0 || !k->addrs) {
        conn_fail(k, CURLE_COULDNT_RESOLVE_HOST);
        return;
    }
    while (k->next_addr) {
        struct evutil_addrinfo *a = k->next_addr;
        k->next_addr = a->ai_next;
        if (k->bev)
            bufferevent_free(k->bev);
        k->bev = bufferevent_socket_new(k->h->base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (!k->bev)
            break;
        bufferevent_setcb(k->bev, on_busy_read, NULL, on_busy_event, k);
        bufferevent_set_max_single_read(k->bev, H1_MAX_READ);
        /* libevent 2.1 reports a failed connect later, from the loop; newer versions may
         * run the error callback before returning, which must not free k under us. */
        k->in_connect = true;
        k->connect_failed = false;
        int rc = bufferevent_socket_connect(k->bev, a->ai_addr, (int)a->ai_addrlen);
        k->in_connect = false;
        if (rc == 0 && !k->connect_failed)
            return; /* BEV_EVENT_CONNECTED or an error follows */
    }
    conn_fail(k, CURLE_COULDNT_CONNECT);
}

static struct h1_conn *conn_new(struct gw_h1 *h, struct h1_pool *p)
{
    struct h1_conn *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->h = h;
    k->pool = p;
    event_assign(&k->kick, h->base, -1, 0, on_kick, k);
    event_active(&k->kick, EV_TIMEOUT, 1);
    h->nconns++;
    return k;
}

/* ---- calls ---- */

/* Milliseconds left of the call's total timeout, or LONG_MAX when it has none. */
static long total_left(const struct gw_h1_call *c)
{
    if (c->timeout_ms <= 0)
        return LONG_MAX;
    struct timeval now, spent;
    event_base_gettimeofday_cached(c->h->base, &now);
    timersub(&now, &c->t0, &spent);
    long left = c->timeout_ms - (long)(spent.tv_sec * 1000 + spent.tv_usec / 1000);
    return left > 0 ? left : 0;
}

/* Arms the call's one timer for ms from now (LONG_MAX: none). */
static void arm_timer(struct gw_h1_call *c, long ms)
{
    evtimer_del(&c->timer);
    if (ms == LONG_MAX)
        return;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(&c->timer, &tv);
}

/* Ends c: gives its connection back (or closes it), runs on_done, frees c. */
static void call_finish(struct gw_h1_call *c, CURLcode code)
{
    struct h1_conn *k = c->conn;
    evtimer_del(&c->timer);
    c->conn = NULL;
    if (k) {
        bool reusable = code == CURLE_OK && c->keep_alive && k->connected && !c->eof &&
                        evbuffer_get_length(bufferevent_get_input(k->bev)) == 0 &&
                        evbuffer_get_length(bufferevent_get_output(k->bev)) == 0;
        if (reusable) {
            pool_put(k);
        } else {
            k->call = NULL;
            conn_free(k);
        }
    }
    c->ops->on_done(c->arg, code, c->status);
    free(c);
}

static void conn_fail(struct h1_conn *k, CURLcode code)
{
    if (k->call)
        call_finish(k->call, code);
    else
        conn_free(k);
}

static void no_cleanup(const void *data, size_t len, void *arg)
{
}

/* The request head: request line, Host, the caller's headers, the body's length. Writes
 * it into buf when it fits in cap bytes; returns its length either way. */
static size_t format_head(const struct gw_h1_call *c, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n", c->method,
                                c->target, c->pool->hosthdr);
    for (const struct curl_slist *l = c->headers; l; l = l->next) {
        const char *colon = strchr(l->data, ':');
        if (colon && colon[1 + strspn(colon + 1, " \t")] == '\0')
            continue; /* "Name:" removes a header in libcurl's convention: nothing to send */
        size_t ln = strlen(l->data);
        if (n + ln + 2 < cap) {
            memcpy(buf + n, l->data, ln);
            memcpy(buf + n + ln, "\r\n", 2);
        }
        n += ln + 2;
    }
    char tail[48];
    size_t tn = c->body ? (size_t)snprintf(tail, sizeof tail, "Content-Length: %zu\r\n\r\n", c->len)
                        : (size_t)snprintf(tail, sizeof tail, "\r\n");
    if (n + tn < cap)
        memcpy(buf + n, tail, tn);
    return n + tn;
}

/* Queues the request on k: the head copied into the output buffer in one piece, the body
 * added by reference. Returns 0 or -1 (out of memory).
 *
 * Writing the request at once with sendmsg instead, to spare the write event's two
 * epoll_ctl calls, was measured (3 instead of 5 epoll_ctl per request) and made no
 * difference to CPU per request within this machine's noise, so the simple way stays. */
static int write_request(struct gw_h1_call *c, struct h1_conn *k)
{
    char stack[4096], *head = stack;
    size_t n = format_head(c, stack, sizeof stack);
    if (n >= sizeof stack) {
        head = malloc(n + 1);
        if (!head || format_head(c, head, n + 1) != n) {
            free(head);
            return -1;
        }
    }
    struct evbuffer *out = bufferevent_get_output(k->bev);
    int rc = evbuffer_add(out, head, n);
    if (rc == 0 && c->body && c->len)
        rc = evbuffer_add_reference(out, c->body, c->len, no_cleanup, NULL);
    if (head != stack)
        free(head);
    k->uses++;
    return rc;
}

/* Puts c on connection k (idle one reused, or a new one once it connects). */
static void call_attach(struct gw_h1_call *c, struct h1_conn *k)
{
    c->conn = k;
    k->call = c;
    bufferevent_setcb(k->bev, on_busy_read, NULL, on_busy_event, k);
    /* Writing is enabled since the connect; enabling it again would arm the write event
     * once for nothing (two epoll_ctl calls). */
    if (!c->paused)
        bufferevent_enable(k->bev, EV_READ);
    if (write_request(c, k) == -1)
        call_finish(c, CURLE_OUT_OF_MEMORY);
}

/* A fresh connection for c; the call goes on when it connects. Returns 0 or -1. */
static int call_connect(struct gw_h1_call *c)
{
    struct h1_conn *k = conn_new(c->h, c->pool);
    if (!k)
        return -1;
    c->conn = k;
    k->call = c;
    /* A connect (a retry's too) gets connect_timeout_ms from now, within the total. */
    long left = total_left(c);
    arm_timer(c, c->connect_timeout_ms < left ? c->connect_timeout_ms : left);
    return 0;
}

/* The connection died before any reply byte: a reused one may have been closed by the
 * provider while idle (a race no client can avoid), so the request goes once more on a
 * fresh connection, as libcurl does. */
static bool call_retry(struct gw_h1_call *c)
{
    struct h1_conn *k = c->conn;
    if (c->got_bytes || c->retried || k->uses < 2)
        return false;
    c->retried = true;
    c->eof = false;
    k->call = NULL;
    conn_free(k);
    c->conn = NULL;
    evtimer_del(&c->timer);
    if (call_connect(c) == -1) {
        call_finish(c, CURLE_OUT_OF_MEMORY);
        return true;
    }
    return true;
}

/* Parses one header line (NUL-terminated, without CRLF). Returns 0 or -1 on a bad one. */
static int parse_header(struct gw_h1_call *c, char *line, int64_t *clen, bool *chunked)
{
    char *colon = strchr(line, ':');
    if (!colon || colon == line)
        return -1;
    *colon = '\0';
    char *v = colon + 1;
    v += strspn(v, " \t");
    size_t vn = strlen(v);
    while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
        v[--vn] = '\0';
    if (strcasecmp(line, "Content-Length") == 0) {
        if (vn == 0 || vn > 18 || strspn(v, "0123456789") != vn)
            return -1;
        int64_t n = strtoll(v, NULL, 10);
        if (*clen >= 0 && *clen != n)
            return -1; /* two different lengths: refuse to guess which frames the reply */
        *clen = n;
    } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
        /* chunked must come last when present; any other coding: read to the end */
        const char *last = strrchr(v, ',');
        last = last ? last + 1 + strspn(last + 1, " \t") : v;
        *chunked = strcasecmp(last, "chunked") == 0;
        if (!*chunked)
            c->keep_alive = false;
    } else if (strcasecmp(line, "Content-Type") == 0) {
        snprintf(c->content_type, sizeof c->content_type, "%s", v);
    } else if (strcasecmp(line, "Content-Encoding") == 0) {
        c->encoded |= !gw_upstream_identity(v);
    } else if (strcasecmp(line, "Connection") == 0) {
        if (strcasestr(v, "close"))
            c->keep_alive = false;
    }
    return 0;
}

/* The length of the head at the start of in (up to the empty line: CRLF CRLF, or LF LF,
 * which libcurl accepts too), or 0 while it is incomplete. */
static size_t head_length(struct evbuffer *in)
{
    struct evbuffer_ptr crlf = evbuffer_search(in, "\n\r\n", 3, NULL);
    struct evbuffer_ptr lf = evbuffer_search(in, "\n\n", 2, NULL);
    size_t n = crlf.pos == -1 ? 0 : (size_t)crlf.pos + 3;
    if (lf.pos != -1 && (n == 0 || (size_t)lf.pos + 2 < n))
        n = (size_t)lf.pos + 2;
    return n;
}

/* Ends the line at its '\n' (and a '\r' before it); returns the next line, or NULL. */
static char *cut_line(char *line)
{
    char *nl = strchr(line, '\n');
    if (!nl)
        return NULL;
    *nl = '\0';
    if (nl > line && nl[-1] == '\r')
        nl[-1] = '\0';
    return nl + 1;
}

/* "HTTP/1.x NNN reason": the minor version and a three-digit status. Returns 0 or -1. */
static int parse_status(const char *line, int *minor, long *status)
{
    if (strncmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' || line[8] != ' ')
        return -1;
    for (int i = 9; i < 12; i++)
        if (line[i] < '0' || line[i] > '9')
            return -1;
    if (line[12] != ' ' && line[12] != '\0')
        return -1;
    *minor = line[7] - '0';
    *status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    return *status >= 100 ? 0 : -1;
}

/* Reads the status line and headers when they are all in. Returns 1 when done (state
 * moved on), 0 for more bytes, -1 on a malformed or oversized head, -2 on a reply in a
 * content encoding. */
static int parse_head(struct gw_h1_call *c, struct evbuffer *in)
{
    size_t n = head_length(in);
    if (n == 0)
        return evbuffer_get_length(in) > H1_MAX_HEAD ? -1 : 0;
    if (n > H1_MAX_HEAD)
        return -1;
    char *head = (char *)evbuffer_pullup(in, (ev_ssize_t)n);
    if (!head || memchr(head, '\0', n))
        return -1;
    head[n - 1] = '\0'; /* the final '\n'; the buffer is drained below */
    int minor;
    char *line = head, *next = cut_line(line);
    if (!next || parse_status(line, &minor, &c->status) == -1)
        return -1;
    c->keep_alive = minor >= 1;
    c->content_type[0] = '\0';
    c->encoded = false;
    int64_t clen = -1;
    bool chunked = false;
    for (line = next; (next = cut_line(line)); line = next) /* what is left is "" or "\r" */
        if (parse_header(c, line, &clen, &chunked) == -1)
            return -1;
    evbuffer_drain(in, n);
    if (c->status < 200) {
        return 1; /* 100 Continue and friends: the real head follows (state stays) */
    }
    if (c->encoded)
        return -2;
    if (c->status == 204 || c->status == 304 || (!chunked && clen == 0)) {
        c->state = H1_BODY_LEN;
        c->left = 0;
    } else if (chunked) {
        c->state = H1_CHUNK_SIZE;
        if (clen >= 0)
            c->keep_alive = false; /* both: chunked wins, and the connection is not trusted */
    } else if (clen > 0) {
        c->state = H1_BODY_LEN;
        c->left = (uint64_t)clen;
    } else {
        c->state = H1_BODY_EOF;
        c->keep_alive = false;
    }
    c->ops->on_headers(c->arg, c->status, c->content_type[0] ? c->content_type : NULL);
    return 1;
}

/* Hands up to max body bytes from in to on_data. Returns bytes consumed, or -1 when
 * on_data asked to stop. */
static ssize_t deliver(struct gw_h1_call *c, struct evbuffer *in, size_t max)
{
    struct evbuffer_iovec v[8];
    int nv = evbuffer_peek(in, (ev_ssize_t)max, NULL, v, 8);
    size_t done = 0;
    for (int i = 0; i < nv && i < 8 && done < max && !c->paused; i++) {
        size_t n = v[i].iov_len < max - done ? v[i].iov_len : max - done;
        if (c->ops->on_data(c->arg, v[i].iov_base, n) != 0)
            return -1;
        done += n;
    }
    evbuffer_drain(in, done);
    return (ssize_t)done;
}

/* Reads a line (up to CRLF or LF) of at most H1_MAX_LINE bytes into line. Returns 1 with
 * the line, 0 for more bytes, -1 when too long. */
static int read_line(struct evbuffer *in, char *line)
{
    size_t n;
    struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &n, EVBUFFER_EOL_CRLF);
    if (eol.pos == -1)
        return evbuffer_get_length(in) > H1_MAX_LINE ? -1 : 0;
    if ((size_t)eol.pos >= H1_MAX_LINE)
        return -1;
    evbuffer_remove(in, line, (size_t)eol.pos);
    line[eol.pos] = '\0';
    evbuffer_drain(in, n);
    return 1;
}

/* Runs the reply through the state machine as far as the bytes in hand allow. */
static void call_process(struct gw_h1_call *c)
{
    struct evbuffer *in = bufferevent_get_input(c->conn->bev);
    char line[H1_MAX_LINE + 1];
    if (evbuffer_get_length(in))
        c->got_bytes = true;
    while (!c->paused) {
        size_t avail = evbuffer_get_length(in);
        int rc;
        ssize_t got;
        switch (c->state) {
        case H1_HEAD:
            rc = parse_head(c, in);
            if (rc < 0) {
                call_finish(c, rc == -2 ? CURLE_BAD_CONTENT_ENCODING : CURLE_WEIRD_SERVER_REPLY);
                return;
            }
            if (rc == 0)
                goto more;
            break;
        case H1_BODY_LEN:
        case H1_CHUNK_DATA:
            if (c->left == 0) {
                if (c->state == H1_BODY_LEN) {
                    call_finish(c, CURLE_OK);
                    return;
                }
                c->state = H1_CHUNK_END;
                break;
            }
            if (avail == 0)
                goto more;
            got = deliver(c, in, c->left < avail ? (size_t)c->left : avail);
            if (got == -1) {
                call_finish(c, CURLE_WRITE_ERROR);
                return;
            }
            c->left -= (uint64_t)got;
            break;
        case H1_CHUNK_SIZE:
        case H1_CHUNK_END:
        case H1_TRAILERS:
            rc = read_line(in, line);
            if (rc == 0)
                goto more;
            if (rc == -1) {
                call_finish(c, CURLE_WEIRD_SERVER_REPLY);
                return;
            }
            if (c->state == H1_CHUNK_END) {
                if (line[0]) {
                    call_finish(c, CURLE_WEIRD_SERVER_REPLY);
                    return;
                }
                c->state = H1_CHUNK_SIZE;
            } else if (c->state == H1_TRAILERS) {
                if (!line[0]) {
                    call_finish(c, CURLE_OK);
                    return;
                }
            } else {
                /* hex digits only (no sign, no 0x, no space before), then extensions */
                size_t nd = strspn(line, "0123456789abcdefABCDEF");
                char *endp = line + nd;
                unsigned long long size = nd && nd <= 10 ? strtoull(line, NULL, 16) : 0;
                if (nd == 0 || nd > 10 || (*endp && *endp != ';' && *endp != ' ' && *endp != '\t')) {
                    call_finish(c, CURLE_WEIRD_SERVER_REPLY);
                    return;
                }
                c->left = size;
                c->state = size ? H1_CHUNK_DATA : H1_TRAILERS;
            }
            break;
        case H1_BODY_EOF:
            if (avail == 0)
                goto more;
            if (deliver(c, in, avail) == -1) {
                call_finish(c, CURLE_WRITE_ERROR);
                return;
            }
            break;
        }
    }
    return; /* paused: the bytes wait in the input buffer */
more:
    if (!c->eof)
        return;
    /* The provider closed the connection and every byte it sent has been handled. */
    if (c->state == H1_BODY_EOF)
        call_finish(c, CURLE_OK);
    else if (!call_retry(c))
        call_finish(c, c->got_bytes ? CURLE_PARTIAL_FILE : CURLE_GOT_NOTHING);
}

static void on_busy_read(struct bufferevent *bev, void *arg)
{
    struct h1_conn *k = arg;
    if (k->call)
        call_process(k->call);
}

static void on_busy_event(struct bufferevent *bev, short what, void *arg)
{
    struct h1_conn *k = arg;
    struct gw_h1_call *c = k->call;
    if (what & BEV_EVENT_CONNECTED) {
        k->connected = true;
        evutil_freeaddrinfo(k->addrs);
        k->addrs = k->next_addr = NULL;
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        arm_timer(c, total_left(c));
        call_attach(c, k);
        return;
    }
    if (!k->connected) {
        if (k->in_connect)
            k->connect_failed = true; /* conn_connect_next goes on with the next address */
        else
            conn_connect_next(k); /* refused or unreachable: the next address, if any */
        return;
    }
    if (what & BEV_EVENT_EOF) {
        c->eof = true;
        call_process(c); /* what is still buffered, then the end */
        return;
    }
    /* A read or write error: a reset connection. */
    if (!call_retry(c))
        call_finish(c, c->got_bytes ? CURLE_RECV_ERROR : CURLE_SEND_ERROR);
}

/* libcurl reports every timeout, the connect timeout included, as OPERATION_TIMEDOUT. */
static void on_call_timer(evutil_socket_t fd, short what, void *arg)
{
    call_finish(arg, CURLE_OPERATION_TIMEDOUT);
}

struct gw_h1_call *gw_h1_start(struct gw_h1 *h, const char *method, const char *url,
                               const struct curl_slist *headers,
                               const char *body, size_t len, long connect_timeout_ms,
                               long timeout_ms, const struct gw_upcall_ops *ops, void *arg)
{
    char host[256], port[8];
    const char *target;
    if (parse_url(url, host, sizeof host, port, sizeof port, &target) == -1)
        return NULL;
    if (!*target)
        target = "/";
    if (!clean_target(target))
        return NULL;
    for (const struct curl_slist *l = headers; l; l = l->next)
        if (strpbrk(l->data, "\r\n"))
            return NULL; /* a header must not smuggle another one */
    struct h1_pool *p = pool_find(h, host, port);
    size_t tn = strlen(target);
    struct gw_h1_call *c = p ? calloc(1, sizeof *c + tn + 1) : NULL;
    if (!c)
        return NULL;
    memcpy(c->target, target, tn + 1);
    c->h = h;
    c->pool = p;
    c->method = method;
    c->headers = headers;
    c->body = body;
    c->len = len;
    c->ops = ops;
    c->arg = arg;
    c->connect_timeout_ms = connect_timeout_ms > 0 ? connect_timeout_ms : H1_DEFAULT_CONNECT_MS;
    c->timeout_ms = timeout_ms;
    c->state = H1_HEAD;
    event_base_gettimeofday_cached(h->base, &c->t0);
    evtimer_assign(&c->timer, h->base, on_call_timer, c);
    struct h1_conn *k = pool_take(p);
    if (k) {
        arm_timer(c, total_left(c));
        c->conn = k;
        k->call = c;
        bufferevent_setcb(k->bev, on_busy_read, NULL, on_busy_event, k);
        if (write_request(c, k) == -1) {
            c->conn = NULL;
            k->call = NULL;
            conn_free(k);
            evtimer_del(&c->timer);
            free(c);
            return NULL;
        }
        bufferevent_enable(k->bev, EV_READ); /* and writing, since the connect */
    } else if (call_connect(c) == -1) {
        free(c);
        return NULL;
    }
    return c;
}

void gw_h1_cancel(struct gw_h1_call *c)
{
    if (!c)
        return;
    evtimer_del(&c->timer);
    if (c->conn) {
        c->conn->call = NULL;
        conn_free(c->conn); /* mid-exchange: its state is unknown, so it is never reused */
    }
    free(c);
}

void gw_h1_pause(struct gw_h1_call *c, bool paused)
{
    if (c->paused == paused)
        return;
    c->paused = paused;
    struct h1_conn *k = c->conn;
    if (!k || !k->connected)
        return; /* call_attach applies it */
    if (paused) {
        bufferevent_disable(k->bev, EV_READ);
        return;
    }
    bufferevent_enable(k->bev, EV_READ);
    /* Bytes read before the pause, an end seen before it, or a reply whose last byte came
     * just before it (nothing more will arrive to wake us): call_process runs from the
     * loop, not inside this call. */
    bufferevent_trigger(k->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

struct gw_h1 *gw_h1_new(struct event_base *base)
{
    struct gw_h1 *h = calloc(1, sizeof *h);
    if (h)
        h->base = base;
    return h;
}

void gw_h1_free(struct gw_h1 *h)
{
    if (!h)
        return;
    while (h->pools) {
        struct h1_pool *p = h->pools;
        while (p->idle) {
            struct h1_conn *k = p->idle;
            idle_unlink(k);
            conn_free(k);
        }
        h->pools = p->next;
        free(p);
    }
    if (h->dns)
        evdns_base_free(h->dns, 0);
    free(h);
}

size_t gw_h1_connections(const struct gw_h1 *h)
{
    return h->nconns;
}
