/* The request path of every client API (api/api.h): screen the prompt, call the provider,
 * screen the reply (whole, or as a stream), answer. Everything here runs on one worker's
 * event loop; a request is a struct gw_req from the handler until it is finished. The
 * client API is reached through r->api: nothing here names a provider's field. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include "api/api.h"
#include "api/sse.h"
#include "kpi/privacy.h"
#include "screen/normalise.h"
#include "server/metrics.h"
#include "server/policy.h"
#include "server/proxy.h"
#include "server/server.h"
#include "util/json.h"
#include "util/json_arena.h"
#include "util/log.h"


/* A request's life, as one value (memcached's connection states): each callback knows
 * where it stands from it alone. */
enum gw_req_state {
    GW_REQ_SCREENING, /* the prompt is read and screened (within the handler) */
    GW_REQ_CALLING,   /* the provider call is out, its reply head not yet in */
    GW_REQ_BUFFERING, /* a whole reply is being read; it is screened at its end */
    GW_REQ_STREAMING, /* a streamed reply goes out as it is screened */
    GW_REQ_DONE,      /* answered; the request is being freed */
};

struct gw_req {
    struct gw_req *prev, *next; /* the worker's list of requests in flight */
    struct gw_worker *w;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    struct gw_ruleset *rs; /* held for the request's life: a reload never changes rules
                              under a request in flight */
    gw_scanner *sc;        /* the worker's scanner for rs, a reference of our own */
    int policy;            /* the tenant's policy (server/policy.h); -1: none */
    const struct gw_rule_policy *pol; /* its view of rs; NULL: the rules as written */
    const struct gw_api *api; /* the client API the request speaks */
    const struct gw_provider *provider; /* the provider that serves it */
    char id[72];
    char model[128];
    bool stream;
    bool passthrough;
    bool stored; /* a stored object of an API (GET /v1/responses/{id}): its body is screened whole */
    bool structured; /* the client asked for JSON output: every streamed text is JSON */
    bool big_noted;  /* a number too long to read exactly went as its pseudonym (logged once) */
    enum gw_action prompt_verdict;
    struct gw_upcall *call;
    char *body_out; /* the rewritten body, or NULL: the client's body is sent as it came */
    char *echo_sent; /* what it sent of the members its reply repeats (keep_sent), or NULL */
    struct gw_buf reply;
    size_t held;     /* bytes of reply this request holds against limits.reply_buffer_bytes */
    int over;        /* the reply was cut: 1 over limits.max_reply_bytes, 2 over the budget */
    long status;
    char content_type[96];
    enum gw_req_state state;
    struct gw_sse parser;
    struct gw_api_stream st; /* the API's walk of a streamed reply */
    gw_stream *streams[GW_API_SLOTS];
    size_t recorded[GW_API_SLOTS]; /* findings already written as incidents */
    unsigned texts; /* texts screened so far, each one's number in its findings' records */
    unsigned long long screen_ns;  /* time its block scans took, against screen_budget_ms */
    bool unscreened[GW_API_SLOTS];  /* failed open: the slot's text passes as it comes */
    bool closed[GW_API_SLOTS];      /* its text ended: more of it is the provider's error */
    bool json[GW_API_SLOTS]; /* its text is JSON (streamed tool arguments) */
    struct jtail *tail[GW_API_SLOTS]; /* a JSON slot's text decoded, its last bytes */
    struct otail *others; /* the last bytes of the texts a stream carries outside its slots */
    size_t n_others;      /* places others has room for */
    struct onode *clean;  /* the last of them screened whole at each place, when clean */
    struct olist *lists;  /* the lists they carry, as the client accumulates them */
    unsigned noted;       /* findings recorded so far */
    struct tailbuf *sent[GW_API_SLOTS]; /* the last bytes each slot released */
    struct join *join[GW_API_SLOTS];    /* a slot whose text continues another's */
    struct evbuffer *out;
    struct event *resume;
    bool paused;
    bool first_byte;            /* a stream's first byte went to the client (its time is counted) */
    struct gw_request_rec *rec; /* what happened, for the incident log, KPIs and metrics */
    struct timespec t0, provider_t0;
};

static double ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) * 1e3 + (double)(now.tv_nsec - t->tv_nsec) / 1e6;
}

static const struct gw_config *cfg_of(const struct gw_req *r)
{
    return r->w->srv->cfg;
}

/* ---- errors the gateway answers itself, in the client API's shape ---- */

void gw_send_error(struct evhttp_request *req, const char *reqid, int status, const char *message,
                   const char *type, const char *param, const char *code)
{
    gw_send_api_error(req, NULL, reqid, status, message, type, param, code);
}

void gw_send_api_error(struct evhttp_request *req, const struct gw_api *api, const char *reqid,
                       int status, const char *message, const char *type, const char *param,
                       const char *code)
{
    struct gw_buf b = {0};
    (api ? api->error : gw_openai_error)(&b, message, type, param, code);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    if (reqid)
        evhttp_add_header(h, "x-request-id", reqid);
    struct evbuffer *out = evbuffer_new();
    if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) /* evhttp would send it */
        evbuffer_add(out, b.data, b.len);
    static const char *const reasons[] = {[400] = "Bad Request", [401] = "Unauthorized",
                                          [403] = "Forbidden",   [404] = "Not Found",
                                          [405] = "Method Not Allowed",
                                          [408] = "Request Timeout",
                                          [413] = "Payload Too Large",
                                          [415] = "Unsupported Media Type",
                                          [417] = "Expectation Failed",
                                          [431] = "Request Header Fields Too Large",
                                          [501] = "Not Implemented",
                                          [500] = "Internal Server Error",
                                          [502] = "Bad Gateway",
                                          [503] = "Service Unavailable",
                                          [504] = "Gateway Timeout"};
    const char *reason = status > 0 && status < 505 && reasons[status] ? reasons[status] : "Error";
    evhttp_send_reply(req, status, reason, out);
    evbuffer_free(out);
    gw_buf_free(&b);
}

void gw_answer_early(struct gw_worker *w, struct evhttp_request *req, const struct gw_api *api,
                     const char *reqid, int status, const char *message, const char *type,
                     const char *param, const char *code)
{
    gw_metrics_answer(w->metrics, api, status);
    gw_send_api_error(req, api, reqid, status, message, type, param, code);
}

/* ---- life cycle ---- */

static void on_close(void *arg);
static void on_resume(evutil_socket_t fd, short what, void *arg);

/* A request header's value, or NULL (also when name is NULL). */
static const char *header_value(struct evkeyvalq *h, const char *name)
{
    return name ? evhttp_find_header(h, name) : NULL;
}

/* The policy the API keys of a request pick: every Authorization: Bearer (the scheme in any
 * case) and x-api-key header is read, spaces around the key left out, since the provider
 * may take either. Returns the policy's index, -1 when no key is bound to one, or -2 when
 * keys of two policies come together (a bound key must pick its policy whatever else the
 * request carries). */
static int key_policy(const struct gw_config *cfg, struct evkeyvalq *in)
{
    int found = -1;
    const struct evkeyval *h;
    if (!cfg->n_policies)
        return -1;
    TAILQ_FOREACH(h, in, next)
    {
        /* libevent strips the spaces before a value, not a tab */
        const char *v = NULL, *value = h->value + strspn(h->value, " \t");
        if (strcasecmp(h->key, "Authorization") == 0 && strncasecmp(value, "Bearer", 6) == 0 &&
            (value[6] == ' ' || value[6] == '\t'))
            v = value + 6;
        else if (strcasecmp(h->key, "x-api-key") == 0)
            v = value;
        if (!v)
            continue;
        v += strspn(v, " \t");
        size_t n = strlen(v);
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
        char key[512];
        if (n >= sizeof key)
            continue; /* longer than any key a config holds */
        memcpy(key, v, n);
        key[n] = '\0';
        int p = gw_config_policy_of_key(cfg, key);
        if (p >= 0 && found >= 0 && p != found)
            return -2;
        found = p >= 0 ? p : found;
    }
    return found;
}

/* by_key: the policy the request's keys picked (key_policy), -1 for none. */
static struct gw_req *req_new(struct gw_worker *w, struct evhttp_request *req, const char *reqid,
                              int by_key)
{
    struct gw_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->w = w;
    r->req = req;
    r->conn = evhttp_request_get_connection(req);
    snprintf(r->id, sizeof r->id, "%s", reqid);
    r->rs = gw_ruleset_ref(w->rs);
    r->sc = gw_scanner_ref(w->scanner);
    r->out = evbuffer_new();
    r->resume = evtimer_new(w->base, on_resume, r);
    r->rec = calloc(1, sizeof *r->rec);
    /* a connection conn.c does not know (it could not track it) would close unnoticed */
    if (!r->out || !r->resume || !r->rec ||
        (r->conn && !gw_conn_watch(w, r->conn, on_close, r))) {
        if (r->out)
            evbuffer_free(r->out);
        if (r->resume)
            event_free(r->resume);
        free(r->rec);
        gw_scanner_free(r->sc);
        gw_ruleset_unref(r->rs);
        free(r);
        return NULL;
    }
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    struct gw_request_rec *rec = r->rec;
    rec->ts_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    rec->prompt_tokens = rec->completion_tokens = -1;
    snprintf(rec->request_id, sizeof rec->request_id, "%s", reqid);
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    /* metadata is data too: a validated tenant, a hashed conversation (kpi/privacy.h) */
    const struct gw_privacy *priv = &cfg_of(r)->privacy;
    const char *tenant = header_value(in, cfg_of(r)->tenant_header);
    /* the tenant's policy, over the rules this request holds; a policy a key picked names
     * the tenant in the records too, not the header (which the client sets) */
    if (by_key >= 0) {
        const struct gw_policy_cfg *p = &cfg_of(r)->policies[by_key];
        tenant = p->n_tenants ? p->tenants[0] : p->name;
    }
    gw_privacy_tenant(priv, tenant, rec->tenant, sizeof rec->tenant);
    r->policy = by_key >= 0 ? by_key : gw_config_policy_for(cfg_of(r), tenant, NULL);
    r->pol = gw_policy_view(r->rs, r->policy);
    gw_privacy_conversation(priv->key, header_value(in, cfg_of(r)->conversation_header),
                            rec->conversation, sizeof rec->conversation);
    r->next = w->reqs;
    if (w->reqs)
        w->reqs->prev = r;
    w->reqs = r;
    w->inflight++;
    return r;
}

/* req_new for an entry point, which answers itself when it cannot go on (api may be NULL:
 * the OpenAI shape): keys of two policies (400), no memory (500). NULL then. */
static struct gw_req *req_open(struct gw_worker *w, struct evhttp_request *req,
                               const struct gw_api *api, const char *reqid)
{
    int by_key = key_policy(w->srv->cfg, evhttp_request_get_input_headers(req));
    if (by_key == -2) {
        gw_answer_early(w, req, api, reqid, 400,
                        "The request carries API keys of two policies; send one.",
                        "invalid_request_error", NULL, "conflicting_keys");
        return NULL;
    }
    struct gw_req *r = req_new(w, req, reqid, by_key);
    if (!r)
        gw_answer_early(w, req, api, reqid, 500, "Out of memory.", "api_error", NULL, NULL);
    return r;
}

/* Frees the request's state. The evhttp request itself must already be finished (or
 * belong to libevent). */
static void req_free(struct gw_req *r)
{
    struct gw_worker *w = r->w;
    if (r->call) {
        gw_upcall_cancel(r->call);
        r->rec->provider_ms = ms_since(&r->provider_t0);
    }
    struct gw_request_rec *rec = r->rec;
    if (rec->status == 0)
        rec->status = 499; /* the client went away before its answer */
    gw_metrics_answer(w->metrics, r->passthrough ? NULL : r->api, rec->status);
    if (!r->passthrough) {
        rec->stream = r->stream;
        gw_privacy_model(&cfg_of(r)->privacy, r->model, rec->model, sizeof rec->model);
        rec->total_ms = ms_since(&r->t0);
        rec->gateway_ms = rec->total_ms > rec->provider_ms ? rec->total_ms - rec->provider_ms : 0;
        gw_metrics_count(w->metrics, rec);
        gw_incidents_submit(w->srv->incidents, rec); /* frees it when there is no recorder */
    } else {
        gw_request_rec_free(rec);
    }
    if (r->prev)
        r->prev->next = r->next;
    else
        w->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    for (int i = 0; i < GW_API_SLOTS; i++)
        gw_stream_free(r->streams[i]);
    for (int i = 0; i < GW_API_SLOTS; i++)
        free(r->tail[i]);
    free(r->others);
    free(r->clean);
    free(r->lists);
    for (int i = 0; i < GW_API_SLOTS; i++) {
        free(r->sent[i]);
        free(r->join[i]);
    }
    if (r->api && r->api->stream_free)
        r->api->stream_free(&r->st); /* what a walk keeps outside its state */
    gw_scanner_free(r->sc); /* our reference: a scanner replaced by a reload goes with the last */
    gw_ruleset_unref(r->rs);
    gw_sse_free(&r->parser);
    gw_buf_free(&r->reply);
    if (r->held)
        atomic_fetch_sub(&w->srv->front.replies_held, r->held);
    free(r->body_out);
    free(r->echo_sent);
    if (r->out)
        evbuffer_free(r->out);
    if (r->resume)
        event_free(r->resume);
    free(r);
    gw_worker_request_done(w);
}

/* Stops listening for the connection's close. Must come before a send that ends the
 * reply: ending a reply that is not chunked (HTTP/1.0) with its output already written
 * frees the request and the connection at once, and would run on_close on us. */
static void detach(struct gw_req *r)
{
    if (r->conn)
        gw_conn_unwatch(r->w, r->conn);
    r->conn = NULL;
}

/* The reply is complete (or abandoned): detach from the connection and free. */
static void req_finish(struct gw_req *r)
{
    detach(r);
    r->state = GW_REQ_DONE;
    req_free(r);
}

static void on_close(void *arg)
{
    struct gw_req *r = arg;
    GW_LOG(GW_LOG_INFO, r->id, "client went away; cancelling the provider call");
    atomic_fetch_add(&r->w->srv->front.gone, 1);
    r->rec->status = 499; /* its answer, begun or not, did not reach it whole */
    struct evhttp_request *req = r->req;
    r->conn = NULL;
    bool detached = evhttp_request_get_connection(req) == NULL;
    req_free(r); /* cancels the upstream transfer */
    if (detached)
        evhttp_request_free(req); /* libevent leaves a detached request to us */
}

void gw_proxy_abort(struct gw_worker *w, struct evhttp_request *req)
{
    struct gw_req *r = w->reqs;
    while (r && req && r->req != req)
        r = r->next;
    if (!r) {
        if (req)
            evhttp_send_error(req, 400, NULL);
        return;
    }
    bool started = r->state == GW_REQ_STREAMING;
    req = r->req;
    if (r->conn)
        gw_conn_unwatch(w, r->conn);
    req_free(r); /* counts the answer: 499, the connection failed or the gateway stops */
    if (started)
        evhttp_send_reply_end(req);
    else
        gw_send_evhttp_error(req, 502); /* not counted again */
}

/* ---- answering ---- */

static void add_common_headers(struct gw_req *r, enum gw_action verdict)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(h, "x-request-id", r->id);
    evhttp_add_header(h, "x-guardrail-verdict", gw_action_name(verdict));
}

/* What a reply read whole holds against the budget, until the client has read it. */
struct held_reply {
    struct gw_front_stats *f;
    size_t held;
    char *data; /* the provider's bytes, taken from the request; NULL: the copy below */
    char copy[];
};

static void release_reply(const void *data, size_t len, void *arg)
{
    (void)data, (void)len;
    struct held_reply *h = arg;
    atomic_fetch_sub(&h->f->replies_held, h->held);
    free(h->data);
    free(h);
}

/* Queues body for the client. A reply held against the budget stays counted until its
 * last byte is written (or the connection goes): evhttp drops the reference then. */
static void queue_body(struct gw_req *r, const char *body, size_t len)
{
    bool own = r->reply.data && body == r->reply.data;
    struct held_reply *h = r->held ? malloc(sizeof *h + (own ? 0 : len)) : NULL;
    if (!h) {
        evbuffer_add(r->out, body, len);
        return;
    }
    h->f = &r->w->srv->front;
    h->held = r->held;
    h->data = NULL;
    if (own) {
        h->data = r->reply.data;
        r->reply = (struct gw_buf){0};
    } else {
        memcpy(h->copy, body, len);
    }
    if (evbuffer_add_reference(r->out, own ? h->data : h->copy, len, release_reply, h) == -1) {
        evbuffer_add(r->out, body, len);
        if (own)
            r->reply.data = h->data, r->reply.len = len; /* freed with the request */
        free(h);
        return;
    }
    r->held = 0;
}

static void reply_and_finish(struct gw_req *r, int status, const char *ctype, const char *body,
                             size_t len, enum gw_action verdict)
{
    add_common_headers(r, verdict);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type", ctype);
    if (evhttp_request_get_command(r->req) != EVHTTP_REQ_HEAD) /* evhttp would send it */
        queue_body(r, body, len);
    evhttp_send_reply(r->req, status, status == 200 ? "OK" : "Upstream", r->out);
    r->rec->status = status;
    req_finish(r);
}

static void error_and_finish(struct gw_req *r, int status, const char *message, const char *code)
{
    const char *type = status >= 500 ? "api_error" : "invalid_request_error";
    gw_send_api_error(r->req, r->api, r->id, status, message, type, NULL, code);
    r->rec->status = status;
    req_finish(r);
}

static const char *block_message(const struct gw_req *r, const struct gw_rule *rule)
{
    return gw_policy_message(cfg_of(r), r->policy, rule);
}

/* Answers a blocked request without the provider's help: a refusal in the shape the
 * client asked for, or an error when the config says so. Neither names the rule: an app
 * may show the message to the customer. The rule goes to the incident and to the
 * x-guardrail-rule header. */
static void answer_block(struct gw_req *r, const struct gw_rule *rule, const char *where)
{
    struct gw_buf b = {0};
    const char *msg = block_message(r, rule);
    add_common_headers(r, GW_ACTION_BLOCK);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "x-guardrail-rule",
                      rule ? rule->id : "-");
    GW_LOG(GW_LOG_INFO, r->id, "%s blocked by rule %s", where, rule ? rule->id : "-");
    if (cfg_of(r)->block_style == GW_BLOCK_ERROR || !r->api->refusal) {
        gw_send_api_error(r->req, r->api, NULL, 400, msg, "invalid_request_error", NULL,
                          "content_filter");
        r->rec->status = 400;
        req_finish(r);
        return;
    }
    r->api->refusal(&b, r->id, r->model, msg, r->stream);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type",
                      r->stream ? "text/event-stream" : "application/json");
    evbuffer_add(r->out, b.data, b.len);
    evhttp_send_reply(r->req, 200, "OK", r->out);
    r->rec->status = 200;
    req_finish(r);
    gw_buf_free(&b);
}

/* ---- screening ---- */

/* The number that marks a streamed reply slot's text in its findings' records: the same
 * for every chunk of it, apart from the numbers of block-screened texts. */
#define STREAM_TEXT(idx) (UINT_MAX - (unsigned)(idx))

/* Adds a finding to the request's record: masked excerpt and keyed hash of match only, and
 * where it lies (text number, start offset in that text) so the KPIs count a value matched
 * by several rules once. */
static void record(struct gw_req *r, enum gw_direction dir, const struct gw_finding *f,
                   const char *match, size_t len, unsigned text, size_t start)
{
    struct gw_request_rec *rec = r->rec;
    const struct gw_rule *rule = &r->rs->table.rules[f->rule];
    r->noted++;
    GW_LOG(GW_LOG_DEBUG, r->id, "%s %s%s: rule %s (%s, %s)",
           dir == GW_DIR_PROMPT ? "prompt" : "reply", f->shadow ? "would " : "",
           gw_action_name(f->action), rule->id, gw_category_name(rule->category),
           gw_severity_name(rule->severity));
    enum gw_action *verdict = dir == GW_DIR_PROMPT ? &rec->prompt_verdict : &rec->reply_verdict;
    if (!f->shadow && f->action > *verdict)
        *verdict = f->action;
    /* Rules in shadow have a cap of their own (GW_REC_SHADOW_MAX): a candidate that fires
     * everywhere must not push out of the record the findings that acted. */
    size_t same = 0;
    for (size_t i = 0; i < rec->n_findings; i++)
        same += rec->findings[i].shadow == f->shadow;
    if (same >= (f->shadow ? GW_REC_SHADOW_MAX : GW_REC_FINDINGS_MAX)) {
        if (!f->shadow)
            rec->findings_more++; /* the acting findings past the cap (the clean count) */
        for (size_t i = 0; i < rec->n_findings; i++)
            if (rec->findings[i].direction == dir && rec->findings[i].shadow == f->shadow &&
                strcmp(rec->findings[i].rule, rule->id) == 0) {
                rec->findings[i].more++; /* the KPIs count it with its rule */
                break;
            }
        return;
    }
    if (rec->n_findings % 8 == 0) {
        struct gw_finding_rec *v =
            realloc(rec->findings, (rec->n_findings + 8) * sizeof *rec->findings);
        if (!v)
            return;
        rec->findings = v;
    }
    struct gw_finding_rec *out = &rec->findings[rec->n_findings++];
    gw_finding_rec_fill(out, rule, dir, r->w->srv->hash_key, match, len);
    out->action = f->action; /* under the request's policy */
    out->shadow = f->shadow;
    out->text = text;
    out->start = start;
    out->end = start + len;
}

/* Drops the findings of categories not in mask (a role screened for some categories
 * only) and recomputes the verdict. */
static void keep_categories(const struct gw_ruleset *rs, struct gw_findings *f, unsigned mask)
{
    size_t n = 0;
    f->verdict = GW_ACTION_ALLOW;
    for (size_t i = 0; i < f->n; i++) {
        const struct gw_rule *rule = &rs->table.rules[f->v[i].rule];
        if (!(mask & (1u << rule->category)))
            continue;
        f->v[n++] = f->v[i];
        if (!f->v[i].shadow && f->v[i].action > f->verdict)
            f->verdict = f->v[i].action;
    }
    f->n = n;
}

/* The categories screened in an identifier, and in what a reply repeats of the request */
#define ID_CATEGORIES ((1u << GW_CAT_PII) | (1u << GW_CAT_SECRET))

/* The categories screened in a text of role (a GW_ROLE_* bit; 0, a reply's: all). */
static unsigned role_mask(const struct gw_req *r, unsigned role)
{
    for (int i = 0; i < 4; i++)
        if (role == 1u << i)
            return cfg_of(r)->role_categories[i];
    return ~0u;
}

/* The categories screened in texts' i-th text in direction dir: a prompt's by its role; a
 * reply's all, but in what it repeats of the request (the app's own instructions, tools
 * and ids: GW_TEXT_ECHO), personal data and secrets, as in the request's identifiers. */
static unsigned text_mask(const struct gw_req *r, const struct gw_text_refs *texts, size_t i,
                          enum gw_direction dir)
{
    if (dir == GW_DIR_PROMPT)
        return role_mask(r, texts->roles[i]);
    return texts->roles[i] == GW_TEXT_ECHO ? ID_CATEGORIES : ~0u;
}

/* Screens one text in direction dir with the categories in mask, recording its findings;
 * when something is redacted, node gets the new text and *changed is set. Returns the
 * verdict, the first blocking rule in *blocker (when none yet), or -1 when scanning failed. */
/* Scans t in direction dir with the categories in mask into the worker's findings.
 * Returns 0 or -1. */
static int scan_text(struct gw_req *r, const char *t, size_t len, enum gw_direction dir,
                     unsigned mask)
{
    struct gw_worker *w = r->w;
    /* The request's screening budget (limits.screen_budget_ms): the time its block scans
     * may take in all; past it the scan fails as over budget, and fail_mode applies. */
    unsigned long long t0 = gw_now_ns();
    unsigned long long budget = (unsigned long long)cfg_of(r)->screen_budget_ms * 1000000ull;
    unsigned long long left = budget > r->screen_ns ? budget - r->screen_ns : 1;
    gw_scanner_set_deadline(r->sc, budget ? t0 + left : 0);
    gw_scanner_set_policy(r->sc, r->pol);
    int rc = w->srv->fault_screen ? -1 : gw_scan(r->sc, t, len, dir, &w->findings);
    gw_scanner_set_deadline(r->sc, 0);
    r->screen_ns += gw_now_ns() - t0;
    if (rc == -1) {
        if (gw_scanner_over_budget(r->sc)) {
            r->rec->over_budget = true;
            GW_LOG(GW_LOG_WARN, r->id, "a %zu-byte text could not be screened in full (it "
                   "matched too often, or the screening budget is spent); fail_mode applies",
                   len);
        }
        return -1;
    }
    if (mask != ~0u)
        keep_categories(r->rs, &w->findings, mask);
    return 0;
}

/* Whether the raw scan of a text already found rule matching these bytes (the decoded scan
 * of a JSON text then does not count it twice). */
static bool found_raw(const struct gw_findings *raw, const char *t, unsigned rule,
                      const char *m, size_t n)
{
    for (size_t k = 0; k < raw->n; k++)
        if (raw->v[k].rule == rule && raw->v[k].end - raw->v[k].start == n &&
            memcmp(t + raw->v[k].start, m, n) == 0)
            return true;
    return false;
}

/* Whether t may be a JSON text with escapes (tool arguments, a structured output, one
 * behind prose or a code fence): its reader decodes the escapes ("jo\\u0040example.org" is
 * an e-mail to it), a scan of the raw text does not. */
static bool escaped_json(const char *t)
{
    return strchr(t, '\\') && strpbrk(t, "{[");
}

/* Screens the strings of node's text that have escapes, decoded (keys and values alike,
 * leniently, as the readers apps use decode them: no cJSON, which refuses what they
 * accept), and writes a redacted one back re-escaped. raw and rawf are the text and what
 * its raw scan found, not counted twice. Returns the verdict, or -1. */
static int screen_json_decoded(struct gw_req *r, cJSON *node, enum gw_direction dir,
                               unsigned mask, const char *raw, const struct gw_findings *rawf,
                               const struct gw_rule **blocker, bool *changed)
{
    struct gw_worker *w = r->w;
    const char *t = node->valuestring;
    size_t len = strlen(t), n = 0;
    size_t (*v)[2] = NULL;
    /* from the first bracket: prose before the JSON (a code fence, 5'10") is prose */
    size_t from = strcspn(t, "{[");
    if (gw_api_json_strings(t + from, len - from, &v, &n) == -1)
        return -1;
    for (size_t i = 0; i < n; i++)
        v[i][0] += from, v[i][1] += from;
    struct gw_buf dec = {0}, out = {0};
    int verdict = GW_ACTION_ALLOW, rc = 0;
    size_t pos = 0;
    bool redacted = false;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t a = v[i][0], b = v[i][1];
        if (!memchr(t + a, '\\', b - a))
            continue; /* the raw scan saw these very characters */
        gw_buf_reset(&dec);
        if (gw_api_json_unescape(t + a, b - a, &dec) == -1) {
            rc = -1;
            break;
        }
        if (dec.len && memchr(dec.data, '\0', dec.len)) {
            verdict = GW_ACTION_BLOCK; /* a NUL: readers disagree on where the string ends */
            continue;
        }
        if (scan_text(r, dec.data ? dec.data : "", dec.len, dir, mask) == -1) {
            rc = -1;
            break;
        }
        unsigned text = ++r->texts;
        for (size_t k = 0; k < w->findings.n; k++) {
            const struct gw_finding *f = &w->findings.v[k];
            if (!found_raw(rawf, raw, f->rule, dec.data + f->start, f->end - f->start))
                record(r, dir, f, dec.data + f->start, f->end - f->start, text, f->start);
        }
        if (!*blocker)
            *blocker = gw_findings_blocking_rule(r->rs, &w->findings);
        if ((int)w->findings.verdict > verdict)
            verdict = (int)w->findings.verdict;
        if (w->findings.verdict < GW_ACTION_REDACT)
            continue;
        gw_buf_reset(&w->tmp);
        if (gw_redact(r->rs, dec.data, dec.len, &w->findings, &w->tmp) == -1 ||
            gw_buf_append(&out, t + pos, a - 1 - pos) == -1 ||
            gw_json_quote(&out, w->tmp.data ? w->tmp.data : "", w->tmp.len) == -1) {
            rc = -1;
            break;
        }
        pos = b + 1;
        redacted = true;
    }
    if (rc == 0 && redacted) {
        rc = gw_buf_append(&out, t + pos, len - pos);
        if (rc == 0)
            rc = gw_openai_set_text(node, out.data);
        *changed = true;
    }
    free(v);
    gw_buf_free(&dec);
    gw_buf_free(&out);
    return rc == -1 ? -1 : verdict;
}

/* Screens one text in direction dir with the categories in mask, recording its findings;
 * when something is redacted, node gets the new text and *changed is set. Returns the
 * verdict, the first blocking rule in *blocker (when none yet), or -1 when scanning failed. */
static int screen_one(struct gw_req *r, cJSON *node, enum gw_direction dir, unsigned mask,
                      const struct gw_rule **blocker, bool *changed)
{
    struct gw_worker *w = r->w;
    const char *t = node->valuestring;
    size_t len = strlen(t);
    if (scan_text(r, t, len, dir, mask) == -1)
        return -1;
    unsigned text = ++r->texts;
    for (size_t k = 0; k < w->findings.n; k++)
        record(r, dir, &w->findings.v[k], t + w->findings.v[k].start,
               w->findings.v[k].end - w->findings.v[k].start, text, w->findings.v[k].start);
    if (!*blocker)
        *blocker = gw_findings_blocking_rule(r->rs, &w->findings);
    int verdict = (int)w->findings.verdict;
    char *raw = NULL;
    struct gw_findings rawf = {0};
    if (escaped_json(t)) { /* kept for the decoded pass, which must not count these twice */
        raw = strdup(t);
        if (!raw || (w->findings.n && !(rawf.v = malloc(w->findings.n * sizeof *rawf.v)))) {
            free(raw);
            return -1;
        }
        if (w->findings.n)
            memcpy(rawf.v, w->findings.v, w->findings.n * sizeof *rawf.v);
        rawf.n = w->findings.n;
    }
    int rc = 0;
    if (verdict >= GW_ACTION_REDACT) {
        gw_buf_reset(&w->tmp);
        rc = gw_api_redact(r->rs, t, len, &w->findings, &w->tmp);
        if (rc == 0 && (w->tmp.len != len || memcmp(w->tmp.data, t, len) != 0)) {
            rc = gw_openai_set_text(node, w->tmp.data ? w->tmp.data : "");
            *changed = true;
        }
    }
    if (rc == 0 && raw) {
        int v = screen_json_decoded(r, node, dir, mask, raw, &rawf, blocker, changed);
        rc = v == -1 ? -1 : 0;
        if (v > verdict)
            verdict = v;
    }
    free(raw);
    free(rawf.v);
    return rc == -1 ? -1 : verdict;
}

/* Puts rep's value in node's place (node keeps its key and its siblings) and frees rep. */
static void take_value(cJSON *node, cJSON *rep)
{
    cJSON old = *node;
    node->child = rep->child;
    node->valuestring = rep->valuestring;
    node->valueint = rep->valueint;
    node->valuedouble = rep->valuedouble;
    node->type = (rep->type & ~cJSON_StringIsConst) | (old.type & cJSON_StringIsConst);
    rep->child = old.child;
    rep->valuestring = old.valuestring;
    rep->type = old.type & ~cJSON_StringIsConst;
    cJSON_Delete(rep);
}

/* The text a reader shows for d, where cJSON prints another: the shortest that reads
 * back exactly (cJSON prints 15 digits whenever they come within an epsilon of d, so
 * 0.43378876232860103 goes as 0.433788762328601, and 17 otherwise: 0.4111111111111111 as
 * 0.41111111111111109), and from 1e-6 to 1e-4 without an exponent, as JavaScript shows
 * it (0.00004111111111111111, which cJSON and Python write 4.111111111111111e-05).
 * Returns false when cJSON's text is that text. */
static bool reader_text(double d, char *out, size_t cap)
{
    int p = 15;
    for (; p < 17; p++) {
        snprintf(out, cap, "%.*g", p, d);
        if (strtod(out, NULL) == d)
            break;
    }
    if (p == 17)
        snprintf(out, cap, "%.17g", d);
    if (fabs(d) < 1e-6 || fabs(d) >= 1e-4)
        return p > 15;
    char e[40];
    snprintf(e, sizeof e, "%.*e", p - 1, d);
    const char *x = strchr(e, 'e');
    int exp = x ? atoi(x + 1) : 0; /* -5 for 4.1e-05 */
    snprintf(out, cap, "%.*f", p - 1 - exp, d);
    size_t n = strlen(out);
    while (n > 2 && out[n - 1] == '0')
        out[--n] = '\0';
    return true;
}

/* A number past 2^53 is not held exactly (cJSON reads a double), so its digits cannot be
 * screened: printed back it reads 4.1111111111111112e+18, while the body passed on when
 * nothing changed holds the 19 digits the client wrote, which may be a card. Each one in
 * node (node too) goes as its pseudonym, a string. A smaller one whose text a reader shows
 * is not the one cJSON prints (reader_text) is kept as that text (a raw node, the same
 * double), so that the text screened holds the digits the reader sees. Returns 1 if a
 * pseudonym went in, 0, or -1. */
static int unreadable_numbers(struct gw_req *r, cJSON *node)
{
    if (cJSON_IsArray(node) || cJSON_IsObject(node)) {
        int any = 0;
        for (cJSON *c = node->child; c; c = c->next) {
            int v = unreadable_numbers(r, c);
            if (v == -1)
                return -1;
            any |= v;
        }
        return any;
    }
    if (!cJSON_IsNumber(node))
        return 0;
    char text[400], p[GW_PRIVACY_PSEUDONYM_MAX + 1];
    double d = node->valuedouble;
    if (!(fabs(d) >= 9007199254740992.0)) {
        if (!reader_text(d, text, sizeof text))
            return 0;
        cJSON *raw = cJSON_CreateRaw(text);
        if (!raw)
            return -1;
        take_value(node, raw);
        return 0;
    }
    snprintf(text, sizeof text, "%.17g", d);
    gw_privacy_pseudonym(cfg_of(r)->privacy.key, text, strlen(text), p, sizeof p);
    cJSON *rep = cJSON_CreateString(p);
    if (!rep)
        return -1;
    take_value(node, rep);
    if (!r->big_noted)
        GW_LOG(GW_LOG_INFO, r->id, "a number too long to read exactly goes as its pseudonym");
    r->big_noted = true;
    return 1;
}

/* screen_one for any node: an object, an array or a number is screened as its JSON text,
 * and put back parsed when redacted (a text that no longer parses, as a string: its type
 * changes, its value never gets out). Numbers in it too long to read exactly go as
 * pseudonyms first (a redaction). */
static int screen_node(struct gw_req *r, cJSON *node, enum gw_direction dir, unsigned mask,
                       const struct gw_rule **blocker, bool *changed)
{
    if (cJSON_IsString(node))
        return screen_one(r, node, dir, mask, blocker, changed);
    int big = unreadable_numbers(r, node);
    if (big == -1)
        return -1;
    if (big) {
        *changed = true;
        if (cJSON_IsString(node)) /* node was the number */
            return GW_ACTION_REDACT;
    }
    char *json = cJSON_PrintUnformatted(node);
    cJSON *text = json ? cJSON_CreateString(json) : NULL;
    cJSON_free(json);
    if (!text)
        return -1;
    bool mine = false;
    int v = screen_one(r, text, dir, mask, blocker, &mine);
    if (v != -1 && mine) {
        cJSON *rep = gw_api_parse(text->valuestring, strlen(text->valuestring));
        if (!rep)
            rep = cJSON_CreateString(text->valuestring);
        if (!rep)
            v = -1;
        else
            take_value(node, rep);
        *changed = true;
    }
    cJSON_Delete(text);
    return big && v != -1 && v < GW_ACTION_REDACT ? GW_ACTION_REDACT : v;
}

/* Screens the strings at texts in direction dir, rewriting redacted ones in place.
 * Returns the verdict (block wins), the first blocking rule in *blocker, whether any text
 * changed in *changed; -1 when scanning failed. */
static int screen_texts(struct gw_req *r, struct gw_text_refs *texts, enum gw_direction dir,
                        const struct gw_rule **blocker, bool *changed)
{
    enum gw_action verdict = GW_ACTION_ALLOW;
    *blocker = NULL;
    *changed = false;
    unsigned long long hits = gw_scanner_memo_hits(r->sc);
    for (size_t i = 0; i < texts->n; i++) {
        int v = screen_node(r, texts->v[i], dir, text_mask(r, texts, i, dir), blocker, changed);
        if (v == -1)
            return -1;
        if (v > (int)verdict)
            verdict = (enum gw_action)v;
    }
    if (dir == GW_DIR_PROMPT) {
        r->rec->prompt_texts += (unsigned)texts->n;
        r->rec->prompt_texts_cached += (unsigned)(gw_scanner_memo_hits(r->sc) - hits);
    }
    return (int)verdict;
}

/* ---- texts the model reads joined ---- */

/* A finding of a joined window: where it is in the run's joined text, and where in the
 * normal form of that text (the windows are measured there). */
struct join_hit {
    unsigned rule;
    size_t start, end;   /* original bytes: what redaction replaces */
    size_t nstart, nend; /* normalised bytes */
    enum gw_action action; /* under the request's policy */
    bool shadow;
};

/* How far back a window's hits reach, in normalised bytes: a window is GW_SPAN_MAX of them
 * either side of a boundary (and a separator), and the windows come in order. */
#define JOIN_REACH (4 * GW_SPAN_MAX)

/* How many original bytes are normalised at a time: what a run's normal form holds at
 * once is about this plus two windows, however long its texts. */
#define JOIN_PIECE 4096

/* Whether hit is already in v (the same match seen from two windows). */
static bool seen_hit(const struct join_hit *v, size_t n, const struct join_hit *hit)
{
    /* Hits come window by window, in order: only the last few can be the same match. */
    for (size_t i = n; i-- > 0 && v[i].nstart + JOIN_REACH > hit->nstart;)
        if (v[i].rule == hit->rule && v[i].nstart == hit->nstart && v[i].nend == hit->nend)
            return true;
    return false;
}

static int hit_start(const void *x, const void *y)
{
    const struct join_hit *a = x, *b = y;
    return a->start < b->start ? -1 : a->start > b->start;
}

/* Redacts in each text of the run [from, to) the part that a redact hit covers (offsets
 * in the joined text, where text i starts at at[i - from]). hits are sorted by start. In
 * original bytes a hit has no bound on its length (padding that normalises to nothing),
 * so the texts are swept in order with the hits that have begun and not yet ended. */
static int redact_joined(struct gw_req *r, struct gw_text_refs *texts, size_t from, size_t to,
                         const size_t *at, const struct join_hit *hits, size_t n, bool *changed)
{
    struct gw_worker *w = r->w;
    size_t *live = malloc((n ? n : 1) * sizeof *live), nlive = 0, next = 0;
    int rc = live ? 0 : -1;
    for (size_t i = from; i < to && rc == 0; i++) {
        struct gw_findings local = {0};
        size_t a = at[i - from], len = strlen(texts->v[i]->valuestring), b = a + len;
        for (; next < n && hits[next].start < b; next++)
            if (hits[next].action == GW_ACTION_REDACT && !hits[next].shadow)
                live[nlive++] = next;
        size_t keep = 0;
        for (size_t j = 0; j < nlive; j++) { /* in order of start, as redaction wants */
            const struct join_hit *h = &hits[live[j]];
            if (h->end > b)
                live[keep++] = live[j]; /* reaches into the texts after this one */
            if (h->end <= a || rc == -1)
                continue;
            size_t s = h->start > a ? h->start - a : 0, e = (h->end < b ? h->end : b) - a;
            if (gw_grow(&local.v, &local.cap, local.n, sizeof *local.v, 4) == -1)
                rc = -1;
            else
                local.v[local.n++] = (struct gw_finding){h->rule, s, e, h->action, false, 0};
        }
        nlive = keep;
        if (rc == 0 && local.n) {
            gw_buf_reset(&w->tmp);
            rc = gw_api_redact(r->rs, texts->v[i]->valuestring, len, &local, &w->tmp);
            if (rc == 0)
                rc = gw_openai_set_text(texts->v[i], w->tmp.data ? w->tmp.data : "");
            *changed = true;
        }
        free(local.v);
    }
    free(live);
    return rc;
}

/* Whether [s, e) of the joined run lies inside one of its texts (screened there already).
 * at is in order: the text it starts in is found by a binary search. */
static bool inside_one(const size_t *at, const size_t *len, size_t n, size_t s, size_t e)
{
    size_t lo = 0, hi = n;
    while (lo < hi) { /* the last text that starts at or before s */
        size_t mid = lo + (hi - lo) / 2;
        if (at[mid] <= s)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && e <= at[lo - 1] + len[lo - 1];
}

/* What scan_boundaries works on for one run and separator. */
struct join_run {
    struct gw_buf text; /* the texts joined, in original bytes */
    struct gw_norm nm;  /* its normal form, streamed; only the windows still open kept */
    size_t *at, *len;   /* where each text starts in text, and its length */
    size_t *n0, *n1;    /* boundary i: normal form before the separator, and after it */
    size_t count;       /* texts in the run */
    size_t known;       /* texts whose at and len are set so far */
    unsigned text_no;   /* the joined text's number in its findings' records */
};

/* Screens the window of boundary i: GW_SPAN_MAX normalised bytes before its separator and
 * as many after it (fewer where the run ends), whatever the original bytes that make them,
 * so padding that normalises to nothing or to one space cannot push half of a match out.
 * The normal form is scanned (scanning normalises again, which changes nothing of it),
 * and each finding is mapped back to the original bytes through nm. Adds what crosses a
 * boundary to hits; returns the strongest verdict among them, or -1. */
static int scan_window(struct gw_req *r, struct join_run *jr, size_t i, enum gw_direction dir,
                       unsigned mask, struct join_hit **hits, size_t *n, size_t *cap,
                       const struct gw_rule **blocker)
{
    struct gw_worker *w = r->w;
    const struct gw_norm *nm = &jr->nm;
    size_t total = gw_norm_total(nm);
    size_t lo = jr->n0[i] > nm->base + GW_SPAN_MAX ? jr->n0[i] - GW_SPAN_MAX : nm->base;
    size_t hi = jr->n1[i] + GW_SPAN_MAX < total ? jr->n1[i] + GW_SPAN_MAX : total;
    const unsigned char *t = (const unsigned char *)nm->text.data; /* t[0] is byte base */
    /* whole characters */
    while (lo < hi && (t[lo - nm->base] & 0xC0) == 0x80)
        lo++;
    while (hi < total && (t[hi - nm->base] & 0xC0) == 0x80)
        hi++;
    if (lo >= hi)
        return GW_ACTION_ALLOW;
    gw_scanner_set_policy(r->sc, r->pol);
    if (w->srv->fault_screen ||
        gw_scan(r->sc, nm->text.data + (lo - nm->base), hi - lo, dir, &w->findings) == -1)
        return -1;
    if (mask != ~0u)
        keep_categories(r->rs, &w->findings, mask);
    int verdict = GW_ACTION_ALLOW;
    for (size_t k = 0; k < w->findings.n; k++) {
        const struct gw_finding *f = &w->findings.v[k];
        struct join_hit hit = {.rule = f->rule, .nstart = lo + f->start, .nend = lo + f->end,
                               .action = f->action, .shadow = f->shadow};
        hit.start = gw_norm_start(nm, hit.nstart);
        hit.end = gw_norm_end(nm, hit.nend);
        if (inside_one(jr->at, jr->len, jr->known, hit.start, hit.end) || seen_hit(*hits, *n, &hit))
            continue;
        if (gw_grow(hits, cap, *n, sizeof **hits, 4) == -1)
            return -1;
        (*hits)[(*n)++] = hit;
        const struct gw_rule *rule = &r->rs->table.rules[hit.rule];
        record(r, dir, f, jr->text.data + hit.start, hit.end - hit.start, jr->text_no, hit.start);
        if (f->shadow)
            continue; /* recorded; it does nothing */
        if (f->action == GW_ACTION_BLOCK && !*blocker)
            *blocker = rule;
        if ((int)f->action > verdict)
            verdict = (int)f->action;
    }
    return verdict;
}

/* Screens the run of texts [from, to) joined with sep (a space, or nothing), a window of
 * GW_SPAN_MAX normalised bytes either side of each boundary (scan_window), and adds what
 * crosses a boundary to hits. The run is normalised once, a piece at a time: a boundary's
 * window is scanned as soon as the normal form reaches GW_SPAN_MAX bytes past it, and what
 * no open window needs is forgotten, so time is linear in the run and memory bounded
 * however much padding there is. Fills jr->at and jr->len. Returns the strongest verdict
 * among the hits, or -1. */
static int scan_boundaries(struct gw_req *r, struct gw_text_refs *texts, enum gw_direction dir,
                           size_t from, const char *sep, struct join_run *jr,
                           struct join_hit **hits, size_t *n, size_t *cap,
                           const struct gw_rule **blocker)
{
    unsigned mask = text_mask(r, texts, from, dir);
    struct gw_norm *nm = &jr->nm;
    size_t next = 1; /* the first boundary whose window is not scanned yet */
    int verdict = GW_ACTION_ALLOW;
    gw_buf_reset(&jr->text);
    gw_norm_reset(nm);
    jr->known = 0;
    for (size_t i = 0; i <= jr->count && verdict != -1; i++) {
        const char *s = i < jr->count ? texts->v[from + i]->valuestring : "";
        size_t len = strlen(s);
        if (i == jr->count) {
            if (gw_norm_finish(nm) == -1)
                verdict = -1;
        } else {
            if (i > 0) {
                jr->n0[i] = gw_norm_total(nm);
                if (gw_buf_puts(&jr->text, sep) == -1 || gw_norm_feed(nm, sep, strlen(sep)) == -1)
                    verdict = -1;
                jr->n1[i] = gw_norm_total(nm);
            }
            jr->at[i] = jr->text.len;
            jr->len[i] = len;
            jr->known = i + 1;
            if (gw_buf_append(&jr->text, s, len) == -1)
                verdict = -1;
        }
        size_t off = 0;
        do { /* once at least: a boundary may wait on an empty text */
            size_t piece = len - off < JOIN_PIECE ? len - off : JOIN_PIECE;
            if (verdict == -1 || gw_norm_feed(nm, s + off, piece) == -1) {
                verdict = -1;
                break;
            }
            off += piece;
            size_t total = gw_norm_total(nm);
            for (; next <= i && next < jr->count &&
                   (i == jr->count || total >= jr->n1[next] + GW_SPAN_MAX);
                 next++) {
                int v = scan_window(r, jr, next, dir, mask, hits, n, cap, blocker);
                if (v == -1 || v > verdict)
                    verdict = v;
                if (v == -1)
                    break;
            }
            /* keep what the first open window needs, or the next boundary's */
            size_t keep = next <= i && next < jr->count ? jr->n0[next] : total;
            gw_norm_forget(nm, keep > GW_SPAN_MAX ? keep - GW_SPAN_MAX : 0);
        } while (off < len && verdict != -1);
    }
    return verdict;
}

/* Screens what a run of texts of one role [from, to) says across their boundaries, as the
 * provider joins them: with a space between them (two messages), then with nothing between
 * (parts of one message split mid-word), each pass on what the one before left. A card or a phrase
 * split in two is caught and redacted in the parts it spans. Returns the verdict or -1. */
static int screen_run(struct gw_req *r, struct gw_text_refs *texts, enum gw_direction dir,
                      size_t from, size_t to, const struct gw_rule **blocker, bool *changed)
{
    struct join_run jr = {.count = to - from, .text_no = ++r->texts};
    jr.at = malloc(4 * jr.count * sizeof *jr.at);
    if (jr.at) {
        jr.len = jr.at + jr.count;
        jr.n0 = jr.len + jr.count;
        jr.n1 = jr.n0 + jr.count;
    }
    struct join_hit *hits = NULL;
    size_t n = 0, cap = 0;
    int verdict = jr.at ? GW_ACTION_ALLOW : -1;
    static const char *const seps[] = {" ", ""};
    /* Passes 2 and 3 read invisible separators as spaces (normalise.h's second view), when
     * the texts have any: a phrase split across two texts may use them as its word breaks.
     * Passes 4 and 5 read replies with markup as the customer's window renders them. */
    bool saw_seps = false, markup = false;
    for (size_t k = from; dir == GW_DIR_REPLY && k < to && !markup; k++)
        markup = gw_norm_has_markup(texts->v[k]->valuestring, strlen(texts->v[k]->valuestring));
    for (int i = 0; jr.at && i < 6; i++) {
        if ((i == 2 && !saw_seps) || (i >= 4 && !markup))
            i = i < 4 && markup ? 4 : 6;
        if (i == 6)
            break;
        jr.nm.sep_space = i == 2 || i == 3;
        jr.nm.render = i >= 4;
        n = 0; /* offsets differ with the separator: each pass keeps its own hits */
        int v = scan_boundaries(r, texts, dir, from, seps[i % 2], &jr, &hits, &n, &cap, blocker);
        saw_seps |= jr.nm.seps > 0;
        if (v == GW_ACTION_REDACT) {
            qsort(hits, n, sizeof *hits, hit_start); /* n >= 1 when v is redact */
            if (redact_joined(r, texts, from, to, jr.at, hits, n, changed) == -1)
                v = -1;
        }
        if (v == -1) {
            verdict = -1;
            break;
        }
        if (v > verdict)
            verdict = v;
    }
    free(jr.at);
    gw_buf_free(&jr.text);
    gw_norm_free(&jr.nm);
    free(hits);
    return verdict;
}

/* Screens the texts of each run of consecutive texts of one role, joined (screen_run).
 * Returns the strongest verdict, or -1. */
static int screen_joined(struct gw_req *r, struct gw_text_refs *texts, enum gw_direction dir,
                         const struct gw_rule **blocker, bool *changed)
{
    int verdict = GW_ACTION_ALLOW;
    for (size_t from = 0; from < texts->n;) {
        size_t to = from + 1;
        if (!cJSON_IsString(texts->v[from])) { /* a JSON value: screened whole, ends a run */
            from = to;
            continue;
        }
        while (to < texts->n && texts->roles[to] == texts->roles[from] &&
               cJSON_IsString(texts->v[to]))
            to++;
        if (to - from > 1) {
            int v = screen_run(r, texts, dir, from, to, blocker, changed);
            if (v == -1)
                return -1;
            if (v > verdict)
                verdict = v;
        }
        from = to;
    }
    return verdict;
}

static void set_tokens(void *ctx, long prompt, long completion)
{
    struct gw_req *r = ctx;
    if (prompt >= 0)
        r->rec->prompt_tokens = prompt;
    if (completion >= 0)
        r->rec->completion_tokens = completion;
}

/* Token counts from a whole reply's usage. */
static void take_usage(struct gw_req *r, const cJSON *root)
{
    long p, c;
    r->api->usage(root, &p, &c);
    set_tokens(r, p, c);
}

/* ---- streamed replies ---- */

static void on_chunk_flushed(struct evhttp_connection *conn, void *arg)
{
    struct gw_req *r = arg;
    if (r->paused) {
        static const struct timeval now = {0, 0};
        evtimer_add(r->resume, &now); /* resume outside libevent's write callback */
    }
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct gw_req *r = arg;
    if (r->paused && r->call) {
        r->paused = false;
        gw_upcall_pause(r->call, false);
    }
}

/* Queues stream bytes for the client; client_flush sends what is queued as one chunk.
 * Every event of one provider read goes out in one chunk: evhttp frames each chunk (a
 * printf of its size, two more buffer appends), and a reply of 16 events used to be 48. */
static void client_write(struct gw_req *r, const char *data, size_t len)
{
    if (r->conn && len)
        evbuffer_add(r->out, data, len);
}

/* Sends what client_write queued. Runs at the end of each provider read and before the
 * stream ends, so nothing waits longer than the callback that produced it. */
static void client_flush(struct gw_req *r)
{
    if (!r->conn || evbuffer_get_length(r->out) == 0)
        return; /* an empty chunk would end the reply */
    if (!r->first_byte && r->rec->provider_called) {
        r->first_byte = true;
        gw_metrics_first_byte(r->w->metrics, ms_since(&r->provider_t0));
    }
    evhttp_send_reply_chunk_with_cb(r->req, r->out, on_chunk_flushed, r);
    struct bufferevent *bev = evhttp_connection_get_bufferevent(r->conn);
    if (bev && r->call && !r->paused &&
        evbuffer_get_length(bufferevent_get_output(bev)) > cfg_of(r)->max_client_buffer) {
        r->paused = true; /* a slow client: stop reading from the provider meanwhile */
        gw_upcall_pause(r->call, true);
    }
}

static void start_stream_reply(struct gw_req *r)
{
    if (r->state == GW_REQ_STREAMING)
        return;
    add_common_headers(r, r->prompt_verdict);
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_send_reply_start(r->req, 200, "OK");
    /* evhttp reads (for close detection) while it writes, with the idle timeout: a client
     * reading a stream sends nothing, so only writes may time out until the stream ends. */
    struct bufferevent *bev = r->conn ? evhttp_connection_get_bufferevent(r->conn) : NULL;
    if (bev) {
        struct timeval tv = {cfg_of(r)->idle_timeout_s, 0};
        bufferevent_set_timeouts(bev, NULL, &tv);
    }
    r->state = GW_REQ_STREAMING;
    r->rec->status = 200;
}

static void end_stream_reply(struct gw_req *r)
{
    client_flush(r);
    struct bufferevent *bev = r->conn ? evhttp_connection_get_bufferevent(r->conn) : NULL;
    if (bev) { /* the idle timeout again, for the connection kept alive */
        struct timeval tv = {cfg_of(r)->idle_timeout_s, 0};
        bufferevent_set_timeouts(bev, &tv, &tv);
    }
    detach(r);
    evhttp_send_reply_end(r->req);
    req_finish(r);
}

static void record_stream_findings(struct gw_req *r, int idx)
{
    const struct gw_findings *f = gw_stream_findings(r->streams[idx]);
    for (; r->recorded[idx] < f->n; r->recorded[idx]++) {
        const char *p = NULL;
        size_t len = 0;
        gw_stream_match_text(r->streams[idx], &f->v[r->recorded[idx]], &p, &len);
        record(r, GW_DIR_REPLY, &f->v[r->recorded[idx]], p, len, STREAM_TEXT(idx),
               f->v[r->recorded[idx]].start);
    }
}

/* The last bytes of a streamed JSON text, decoded as its reader will read it, and which of
 * them came from an escape ("\\n", "\\t", "\\""): the raw scanner sees a backslash and a
 * letter there, so a card after a newline, or a phrase with a tab in it, is not what it
 * matches. A finding of the decoded text next to such a byte is one the raw scan may have
 * missed, or would redact across the escape (breaking the JSON): the stream is blocked. */
#define JTAIL (4 * GW_SPAN_MAX)
struct jtail {
    char d[JTAIL];
    unsigned char esc[JTAIL];
    size_t n;
    unsigned escs;     /* bytes in d from escapes */
    unsigned char st;  /* 0, 1 after a backslash, 2-5 in \\u's digits */
    unsigned code;
    unsigned high; /* a high surrogate's escape waiting for its low half, or 0 */
};

/* Scans the decoded tail; true when a redact or block finding touches an escaped byte. */
static bool tail_hides(struct gw_req *r, struct jtail *t)
{
    gw_scanner_set_policy(r->sc, r->pol);
    if (!t->escs || gw_scan(r->sc, t->d, t->n, GW_DIR_REPLY, &r->w->findings) == -1)
        return t->escs != 0; /* a scan that failed cannot tell: refuse */
    for (size_t k = 0; k < r->w->findings.n; k++) {
        const struct gw_finding *f = &r->w->findings.v[k];
        if (f->action < GW_ACTION_REDACT || f->shadow)
            continue;
        size_t a = f->start ? f->start - 1 : 0, b = f->end < t->n ? f->end + 1 : t->n;
        for (size_t i = a; i < b; i++)
            if (t->esc[i])
                return true;
    }
    return false;
}

static bool tail_put(struct gw_req *r, struct jtail *t, const char *c, size_t n, bool esc)
{
    if (t->n + n > JTAIL) { /* keep the newer half, after a look at the whole */
        if (tail_hides(r, t))
            return true;
        size_t drop = JTAIL / 2;
        for (size_t i = 0; i < drop; i++)
            t->escs -= t->esc[i];
        memmove(t->d, t->d + drop, t->n - drop);
        memmove(t->esc, t->esc + drop, t->n - drop);
        t->n -= drop;
    }
    for (size_t i = 0; i < n; i++) {
        t->d[t->n] = c[i];
        t->esc[t->n++] = esc;
        t->escs += esc;
    }
    return false;
}

/* Feeds a streamed JSON text's bytes to its decoded tail. Returns true when they hide
 * something from the raw scanner (the stream must end): an escape of a printable ASCII
 * character ("jo\\u0040example.org", "postgres:\\/\\/"; the HTML-safe <, >, & and ' that
 * serializers write are allowed), or a finding next to an escaped byte. Escapes split
 * across events are followed. */
static bool escapes_hide(struct gw_req *r, int slot, const char *data, size_t len)
{
    struct jtail *t = r->tail[slot];
    if (!t && !(t = r->tail[slot] = calloc(1, sizeof *t)))
        return true;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        bool hid = false;
        if (t->high && ((t->st == 0 && c != '\\') || (t->st == 1 && c != 'u'))) { /* alone */
            char u[4];
            t->high = 0;
            if (tail_put(r, t, u, gw_api_utf8(0xFFFD, u), true))
                return true;
        }
        if (t->st == 0) {
            if (c == '\\')
                t->st = 1;
            else
                hid = tail_put(r, t, (const char *)&c, 1, false);
        } else if (t->st == 1) {
            static const char from[] = "nrtbf", to[] = "\n\r\t\b\f";
            const char *k = c ? strchr(from, c) : NULL;
            char d = k ? to[k - from] : (char)c;
            t->st = c == 'u' ? 2 : 0, t->code = 0;
            if (c == '/')
                return true;
            if (c != 'u')
                hid = tail_put(r, t, &d, 1, true);
        } else {
            int h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (h < 0) {
                t->st = 0;
                continue;
            }
            t->code = t->code * 16 + (unsigned)h;
            if (++t->st < 6)
                continue;
            t->st = 0;
            unsigned cp = t->code;
            if (cp >= 0x20 && cp < 0x7f && !strchr("\"\\<>&'", (int)cp))
                return true;
            char u[8];
            size_t n = 0;
            if (cp >= 0xD800 && cp < 0xDC00) { /* a high half: the pair is one character */
                if (t->high)
                    n = gw_api_utf8(0xFFFD, u);
                t->high = cp;
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                n = gw_api_utf8(
                    t->high ? 0x10000 + ((t->high - 0xD800) << 10) + (cp - 0xDC00) : 0xFFFD, u);
                t->high = 0;
            } else {
                if (t->high)
                    n = gw_api_utf8(0xFFFD, u);
                n += gw_api_utf8(cp, u + n);
                t->high = 0;
            }
            hid = n && tail_put(r, t, u, n, true);
        }
        if (hid)
            return true;
    }
    return tail_hides(r, t);
}

static void stream_json(void *ctx, int slot)
{
    struct gw_req *r = ctx;
    if (slot >= 0 && slot < GW_API_SLOTS)
        r->json[slot] = true;
}

/* The last bytes of a text, as screened and sent. */
struct tailbuf {
    char d[GW_SPAN_MAX];
    size_t n;
};

static void tail_keep(struct tailbuf *t, const char *s, size_t len)
{
    size_t tail = len < GW_SPAN_MAX ? len : GW_SPAN_MAX;
    size_t keep = t->n < GW_SPAN_MAX - tail ? t->n : GW_SPAN_MAX - tail;
    memmove(t->d, t->d + t->n - keep, keep);
    memcpy(t->d + keep, s + len - tail, tail);
    t->n = keep + tail;
}

/* Screens the start of a text (s, at most its first GW_SPAN_MAX bytes are read) joined to
 * the end of the one it continues (t), with a space and with nothing (a number or a word
 * cut in two). The end went out already, so a match across the join cannot be redacted
 * there. Returns 0, 1 when a block finding crosses the join, -1 when a redaction would
 * (the stream must end), or -2 when screening failed. */
static int across_join(struct gw_req *r, const struct tailbuf *t, const char *s, size_t len,
                       unsigned mask)
{
    size_t head = len < GW_SPAN_MAX ? len : GW_SPAN_MAX;
    for (int sep = 1; t->n && sep >= 0; sep--) {
        char buf[2 * GW_SPAN_MAX + 1];
        size_t at = t->n + (size_t)sep;
        memcpy(buf, t->d, t->n);
        buf[t->n] = ' ';
        memcpy(buf + at, s, head);
        if (scan_text(r, buf, at + head, GW_DIR_REPLY, mask) == -1)
            return -2;
        const struct gw_findings *f = &r->w->findings;
        for (size_t k = 0; k < f->n; k++) {
            const struct gw_finding *x = &f->v[k];
            if (x->action < GW_ACTION_REDACT || x->shadow || x->start >= t->n || x->end <= at)
                continue;
            record(r, GW_DIR_REPLY, x, buf + x->start, x->end - x->start, ++r->texts, x->start);
            GW_LOG(GW_LOG_WARN, r->id,
                   "rule %s matches across two texts the client joins; "
                   "the stream %s",
                   r->rs->table.rules[x->rule].id,
                   x->action == GW_ACTION_BLOCK ? "is blocked" : "ends");
            return x->action == GW_ACTION_BLOCK ? 1 : -1;
        }
    }
    return 0;
}

/* The texts of a stream's events that are not streamed in a slot (a member no API file
 * knows, such as a transcript or a provider's reasoning details; a tool's name), by where
 * they stand in the event (the walk's place, then their keys from the member down, an
 * array's entries by their "index"): the last bytes of each, as screened, one event's
 * after the other's. */
/* Places at most: Azure has four for each choice and four for the prompt, and a list's
 * entry has two (entry_places) */
#define OTAILS 256
#define OTAILS_FIRST 16
#define OPATH_MAX 256 /* a longer place's path ends the stream, never cut to collide */
struct otail {
    char path[OPATH_MAX];
    struct tailbuf t;
    char last[64]; /* the text before, when it was this short */
    size_t last_n; /* its length; SIZE_MAX: longer */
    bool still;    /* the text before repeated the one before it and left t as it was */
};

/* Screens the text s of an event joined to the text at the same place in the events
 * before it (across_join), then keeps its last bytes. Each text was screened whole where
 * it stands. Returns what across_join does, and -1 when texts stand at more places than
 * are kept. */
static int across_events(struct gw_req *r, const char *path, const char *s, size_t len,
                         unsigned mask)
{
    struct otail *t = r->others;
    while (t < r->others + r->n_others && t->path[0] && strcmp(t->path, path) != 0)
        t++;
    if (t == r->others + r->n_others && r->n_others < OTAILS) { /* room for more places */
        size_t n = r->n_others ? 2 * r->n_others : OTAILS_FIRST;
        struct otail *v = realloc(r->others, n * sizeof *v);
        if (!v)
            return -1;
        memset(v + r->n_others, 0, (n - r->n_others) * sizeof *v);
        r->others = v;
        t = v + r->n_others;
        r->n_others = n;
    }
    if (t == r->others + r->n_others) {
        GW_LOG(GW_LOG_WARN, r->id,
               "a stream carries texts at more than %d places outside its "
               "streamed ones; the stream ends",
               OTAILS);
        return -1;
    }
    bool fresh = !t->path[0];
    snprintf(t->path, sizeof t->path, "%s", path);
    /* A provider repeats some texts in every event (Azure's content filter's "safe" four
     * times an event): when this text repeats the one before, which left the last bytes as
     * they were, the join below is the one the event before screened clean. */
    bool same = !fresh && t->last_n == len && memcmp(t->last, s, len) == 0;
    if (same && t->still)
        return 0;
    struct tailbuf before = t->t;
    int rc = across_join(r, &t->t, s, len, mask);
    if (rc != 0)
        return rc;
    tail_keep(&t->t, s, len);
    t->still = same && before.n == t->t.n && memcmp(before.d, t->t.d, before.n) == 0;
    t->last_n = len <= sizeof t->last ? len : SIZE_MAX;
    if (len <= sizeof t->last)
        memcpy(t->last, s, len);
    return 0;
}

/* Writes path, then sep, then key into out (cap bytes) with a backslash before each '.',
 * '[', '/', ':' and '\\' of key, so that the member "x.y" and the member y of x are two
 * places. Returns false when it does not fit (cut, it could be another place's). */
static bool place_path(char *out, size_t cap, const char *path, const char *sep, const char *key)
{
    int n = snprintf(out, cap, "%s%s", path, sep);
    if (n < 0 || (size_t)n >= cap)
        return false;
    size_t at = (size_t)n;
    for (; *key; key++) {
        if (strchr(".[/:\\", *key) && at + 1 < cap)
            out[at++] = '\\';
        if (at + 1 >= cap)
            return false;
        out[at++] = *key;
    }
    out[at] = '\0';
    return true;
}

/* A list the events of a stream carry outside its slots, as a client's SDK accumulates it
 * (openai-python's accumulate_delta, the one SDK that merges members it does not know): the
 * first event's list is taken as it is; after it, a list of strings and numbers grows by
 * the next one's entries, and a list of objects takes each entry at its "index" (a bool is
 * 0 or 1, -1 the last), one past the end appended. */
struct olist {
    char path[OPATH_MAX];
    unsigned n;   /* entries the client holds */
    bool objects; /* some are not strings or numbers */
};
#define OLISTS 32 /* past them, the stream ends */

/* The list at path, made when new (*fresh); NULL when more lists came than are kept. */
static struct olist *list_at(struct gw_req *r, const char *path, bool *fresh)
{
    if (!r->lists && !(r->lists = calloc(OLISTS, sizeof *r->lists)))
        return NULL;
    for (struct olist *l = r->lists; l < r->lists + OLISTS; l++) {
        *fresh = !l->path[0];
        if (*fresh || strcmp(l->path, path) == 0) {
            snprintf(l->path, sizeof l->path, "%s", path);
            return l;
        }
    }
    return NULL;
}

/* Writes the places of entry, the at-th of list l in this event (extend: appended from
 * base), after path: into sub, its place in openai-python's list (olist); into by (empty:
 * none but sub), its place as other clients pair entries: by the value of its index, as
 * LangChain's merge_lists does ("[=1]"; 0.5 is not 0), or with none by its place in the
 * event ("[#0]"). Returns 0, or -1 for a place too long or an index that moves every
 * entry the client holds (below -n: the SDK inserts it first). */
static int entry_places(char *sub, char *by, size_t cap, const char *path, struct olist *l,
                        const cJSON *entry, bool extend, unsigned base, int at)
{
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(entry, "index");
    bool indexed = cJSON_IsBool(i) || cJSON_IsNumber(i);
    double v = !indexed ? 0 : cJSON_IsBool(i) ? (cJSON_IsTrue(i) ? 1 : 0) : i->valuedouble + 0.0;
    bool whole = indexed && isfinite(v) && v == floor(v);
    int n =
        indexed ? snprintf(by, cap, "%s[=%.17g]", path, v) : snprintf(by, cap, "%s[#%d]", path, at);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    double held = l->n;
    if (extend)
        n = snprintf(sub, cap, "%s[%u]", path, base + (unsigned)at);
    else if (!whole) /* the SDK raises on it: by is its one place */
        n = snprintf(sub, cap, "%s", by);
    else if (v < -held)
        return -1;
    else /* -1 the last, one past the end (however far) appended */
        n = snprintf(sub, cap, "%s[%u]", path,
                     v < 0      ? (unsigned)(held + v)
                     : v < held ? (unsigned)v
                                : l->n++);
    if (strcmp(sub, by) == 0)
        by[0] = '\0';
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The strings of node (an object's or an array's values, depth first), each screened
 * across events at its place (a list's entry at its places in the clients' lists:
 * entry_places); path is where node stands. A string or a number that is a list's entry
 * is one no client joins to another event's (the list grows by it). */
static int strings_across_events(struct gw_req *r, const cJSON *node, const char *path,
                                 unsigned mask)
{
    if (cJSON_IsString(node))
        return across_events(r, path, node->valuestring, strlen(node->valuestring), mask);
    struct olist *l = NULL;
    bool fresh = false;
    if (cJSON_IsArray(node) && node->child && !(l = list_at(r, path, &fresh))) {
        GW_LOG(GW_LOG_WARN, r->id, "a stream carries more lists than are kept apart; it ends");
        return -1;
    }
    bool extend = l && (fresh || !l->objects); /* entries appended, in order */
    unsigned base = l && !fresh ? l->n : 0;
    int rc = 0, at = 0;
    for (const cJSON *k = node ? node->child : NULL; k && rc == 0; k = k->next, at++) {
        char sub[OPATH_MAX], by[OPATH_MAX] = "";
        bool fits = l ? entry_places(sub, by, sizeof sub, path, l, k, extend, base, at) == 0
                      : place_path(sub, sizeof sub, path, ".", k->string ? k->string : "");
        if (!fits) {
            GW_LOG(GW_LOG_WARN, r->id,
                   "a stream carries a text at a place too deep to tell apart, or a list "
                   "entry whose index moves the others; the stream ends");
            return -1;
        }
        bool entry = cJSON_IsObject(k) || cJSON_IsArray(k) || cJSON_IsNull(k);
        if (l)
            l->objects |= entry;
        if (!l || entry)
            rc = strings_across_events(r, k, sub, mask);
        if (rc == 0 && by[0] && entry)
            rc = strings_across_events(r, k, by, mask);
    }
    if (extend)
        l->n = base + (unsigned)at;
    return rc;
}

/* A slot whose text continues another's, which ended (stream_join): the other's last
 * bytes as sent, and this one's first bytes, read joined to them until GW_SPAN_MAX came. */
struct join {
    struct tailbuf prev;
    char head[GW_SPAN_MAX];
    size_t n;
};

static int stream_join(void *ctx, int from, int to)
{
    struct gw_req *r = ctx;
    if (from < 0 || from >= GW_API_SLOTS || to < 0 || to >= GW_API_SLOTS || from == to)
        return -1;
    free(r->join[to]);
    r->join[to] = NULL;
    /* What went out before to: from's last bytes, which carry the texts before from when
     * from was a continuation too (a short or an empty text between two others). */
    struct tailbuf base = {0};
    if (r->sent[from])
        base = *r->sent[from];
    else if (r->join[from])
        base = r->join[from]->prev; /* from sent nothing yet */
    if (!base.n)
        return 0; /* nothing went out to continue */
    if (!r->sent[to] && !(r->sent[to] = calloc(1, sizeof *r->sent[to])))
        return -1;
    *r->sent[to] = base; /* what to sends goes after it */
    if (!(r->join[to] = calloc(1, sizeof *r->join[to])))
        return -1;
    r->join[to]->prev = base;
    return 0;
}

/* Reads data, the next bytes of slot's text, joined to the text it continues. Returns
 * what across_join does. */
static int join_check(struct gw_req *r, int slot, const char *data, size_t len)
{
    struct join *j = r->join[slot];
    size_t take = len < GW_SPAN_MAX - j->n ? len : GW_SPAN_MAX - j->n;
    memcpy(j->head + j->n, data, take);
    j->n += take;
    int rc = across_join(r, &j->prev, j->head, j->n, ~0u);
    if (rc != 0 || j->n == GW_SPAN_MAX) {
        free(j);
        r->join[slot] = NULL;
    }
    return rc;
}

/* A streaming scanner per slot: feeds it (or with data NULL, closes it); the released
 * text goes to out. Returns 1 if the slot is now blocked, 0, or -1 if screening failed. */
static int stream_screen(void *ctx, int slot, const char *data, size_t len, struct gw_buf *out)
{
    struct gw_req *r = ctx;
    if (slot < 0 || slot >= GW_API_SLOTS)
        return -1;
    if (r->closed[slot]) /* text after its end: a broken stream, not a screening failure; an
                          * empty piece (OpenRouter's usage event after the finish) is none */
        return data && len ? -1 : 0;
    if (data && (r->json[slot] || r->structured) && escapes_hide(r, slot, data, len)) {
        GW_LOG(GW_LOG_WARN, r->id,
               "a streamed JSON text hides characters behind escapes; "
               "the stream ends");
        return -1;
    }
    if (data && r->join[slot]) {
        int j = join_check(r, slot, data, len);
        if (j == 1 || j == -1) /* a redaction across the join ends it, whatever fail_mode */
            return j;
        if (j == -2 && gw_policy_fail_mode(cfg_of(r), r->policy) != GW_FAIL_OPEN)
            return -1;
    }
    if (!data)
        r->closed[slot] = true;
    if (r->unscreened[slot]) { /* failed open: the operator chose text over silence */
        return data ? gw_buf_append(out, data, len) : 0;
    }
    int rc = -1;
    gw_scanner_set_policy(r->sc, r->pol); /* a stream keeps the policy it opened with */
    size_t before = out->len;
    /* A stream's screening spends the request's budget as block scans do, piece by piece */
    unsigned long long t0 = gw_now_ns();
    unsigned long long budget = (unsigned long long)cfg_of(r)->screen_budget_ms * 1000000ull;
    gw_scanner_set_deadline(r->sc,
                            budget ? t0 + (budget > r->screen_ns ? budget - r->screen_ns : 1) : 0);
    if (!r->w->srv->fault_screen &&
        (r->streams[slot] || (r->streams[slot] = gw_stream_open(r->sc))))
        rc = data ? gw_stream_feed(r->streams[slot], data, len, out)
                  : gw_stream_close(r->streams[slot], out);
    gw_scanner_set_deadline(r->sc, 0);
    r->screen_ns += gw_now_ns() - t0;
    if (rc == -1 && r->streams[slot] && gw_stream_over_budget(r->streams[slot])) {
        r->rec->over_budget = true;
        GW_LOG(GW_LOG_WARN, r->id,
               "a streamed reply could not be screened in full (it "
               "matched too often, or the screening budget is spent); fail_mode applies");
    }
    if (rc == 0 && out->len > before) { /* what went out, for a text that continues it */
        if (!r->sent[slot] && !(r->sent[slot] = calloc(1, sizeof *r->sent[slot])))
            return -1;
        tail_keep(r->sent[slot], out->data + before, out->len - before);
    }
    if (rc == -1) {
        /* The same policy as a whole reply's: closed ends the stream with an error, open
         * passes this slot's text on unscreened from here (what the scanner held is lost). */
        if (gw_policy_fail_mode(cfg_of(r), r->policy) != GW_FAIL_OPEN)
            return -1;
        GW_LOG(GW_LOG_WARN, r->id,
               "screening a streamed reply failed; fail_mode open passes "
               "the rest of it unscreened");
        r->unscreened[slot] = true;
        return data ? gw_buf_append(out, data, len) : 0;
    }
    record_stream_findings(r, slot);
    if (gw_stream_findings(r->streams[slot])->verdict != GW_ACTION_BLOCK)
        return 0;
    const struct gw_rule *rule =
        gw_findings_blocking_rule(r->rs, gw_stream_findings(r->streams[slot]));
    GW_LOG(GW_LOG_INFO, r->id, "stream blocked by rule %s", rule ? rule->id : "-");
    return 1;
}

/* The text at a place of a stream's events outside its slots (stream_scan) that the last
 * event there had, when it was short and screened whole without a finding. */
#define ONODE_MAX 512
#define ONODES 16 /* past them, a text is screened every time */
struct onode {
    char path[OPATH_MAX];
    char text[ONODE_MAX];
    size_t n; /* 0: none */
};

/* The entry of place path, or NULL when more places than are kept came before. */
static struct onode *clean_at(struct gw_req *r, const char *path)
{
    if (!r->clean && !(r->clean = calloc(ONODES, sizeof *r->clean)))
        return NULL;
    for (struct onode *o = r->clean; o < r->clean + ONODES; o++)
        if (!o->path[0] || strcmp(o->path, path) == 0) {
            snprintf(o->path, sizeof o->path, "%s", path);
            return o;
        }
    return NULL;
}

/* Screens node whole (screen_node) unless it repeats the clean text of the event before at
 * its place (path): providers repeat metadata in every event (Azure's content filter
 * results), and screening it again costs a stream's budget for nothing. */
static int screen_event_node(struct gw_req *r, cJSON *node, const char *path, unsigned mask,
                             const struct gw_rule **blocker, bool *changed)
{
    char *json = cJSON_IsString(node) ? NULL : cJSON_PrintUnformatted(node);
    const char *text = json ? json : cJSON_IsString(node) ? node->valuestring : NULL;
    size_t n = text ? strlen(text) : 0;
    struct onode *o = n && n <= ONODE_MAX ? clean_at(r, path) : NULL;
    int v = GW_ACTION_ALLOW;
    if (!o || o->n != n || memcmp(o->text, text, n) != 0) {
        unsigned noted = r->noted;
        v = screen_node(r, node, GW_DIR_REPLY, mask, blocker, changed);
        bool clean = v == GW_ACTION_ALLOW && !*changed && r->noted == noted;
        if (o) {
            o->n = clean ? n : 0;
            if (clean)
                memcpy(o->text, text, n);
        }
    }
    cJSON_free(json);
    return v;
}

/* A string of a stream event that is not streamed text (an error's message, a member no
 * API file knows), screened whole, and joined to the ones at its place before it.
 * Returns 0, 1 (block) or -1. */
static int stream_scan(void *ctx, cJSON *node)
{
    struct gw_req *r = ctx;
    const struct gw_rule *blocker = NULL;
    bool changed = false;
    char path[OPATH_MAX], in_key[OPATH_MAX], in_type[OPATH_MAX], place[16];
    snprintf(place, sizeof place, "%d", r->st.place);
    const char *k = r->st.within_key, *t = r->st.within_type;
    if (!place_path(in_key, sizeof in_key, place, "/", k ? k : "") ||
        !place_path(in_type, sizeof in_type, in_key, "/", t ? t : "") ||
        !place_path(path, sizeof path, in_type, ":", node->string ? node->string : "")) {
        GW_LOG(GW_LOG_WARN, r->id,
               "a stream carries a member whose name is too long to "
               "tell apart; the stream ends");
        return -1;
    }
    unsigned mask = r->st.echo ? ID_CATEGORIES : ~0u;
    int v = screen_event_node(r, node, path, mask, &blocker, &changed);
    if (v != -1 && v != GW_ACTION_BLOCK && r->st.echo)
        return 0; /* a repeat of the request comes whole: nothing to join */
    if (v != -1 && v != GW_ACTION_BLOCK) {
        int rc = strings_across_events(r, node, path, mask);
        if (rc != -2)
            return rc;
        v = -1;
    }
    if (v == -1)
        return gw_policy_fail_mode(cfg_of(r), r->policy) == GW_FAIL_OPEN ? 0 : -1;
    return v == GW_ACTION_BLOCK;
}

static bool stream_open(void *ctx, int slot)
{
    struct gw_req *r = ctx;
    return slot >= 0 && slot < GW_API_SLOTS && r->streams[slot];
}

static bool stream_held(void *ctx, int slot)
{
    struct gw_req *r = ctx;
    return stream_open(r, slot) && gw_stream_held(r->streams[slot]) > 0;
}

static void stream_write(void *ctx, const char *data, size_t len)
{
    client_write(ctx, data, len);
}

static const char *stream_block_message(void *ctx, int slot)
{
    struct gw_req *r = ctx;
    const struct gw_findings *f = stream_open(r, slot) ? gw_stream_findings(r->streams[slot]) : NULL;
    return block_message(r, f ? gw_findings_blocking_rule(r->rs, f) : NULL);
}

static void stream_init(struct gw_req *r)
{
    struct gw_api_stream *s = &r->st;
    s->ctx = r;
    s->screen = stream_screen;
    s->open = stream_open;
    s->held = stream_held;
    s->join = stream_join;
    s->json = stream_json;
    s->write = stream_write;
    s->block_message = stream_block_message;
    s->tokens = set_tokens;
    s->screen_replies = gw_policy_screen_replies(cfg_of(r), r->policy);
    s->unknown = (enum gw_unknown_policy)cfg_of(r)->unknown_fields;
    s->media_pass = cfg_of(r)->media_pass;
    s->scan = stream_scan;
    s->tmp = &r->w->tmp;
    s->scratch = &r->w->scratch;
    s->id = r->id;
    s->model = r->model;
    s->sent = r->echo_sent;
}

static void stream_error(struct gw_req *r, const char *message, const char *code)
{
    gw_json_scope_begin();
    r->api->stream_error(&r->st, message, code);
    gw_json_scope_end();
}

/* One SSE event of the provider's stream; its JSON lives in the worker's arena. An event
 * after the provider's own end ([DONE], message_stop, response.completed) is not passed
 * on: the provider broke its protocol, and the stream ends with an error (the OpenAI
 * APIs' [DONE] was held for it, api.h). */
static int on_sse_event(void *arg, const char *event, const char *data, size_t len)
{
    struct gw_req *r = arg;
    if (r->st.ended) {
        GW_LOG(GW_LOG_WARN, r->id, "the provider sent an event after the end of its stream");
        stream_error(r,
                     "The provider sent more after the end of its stream; it was not "
                     "passed on.",
                     "provider_stream_error");
        return -1;
    }
    gw_json_scope_begin();
    int rc = r->api->stream_event(&r->st, event, data ? data : "", len);
    r->st.within_key = r->st.within_type = NULL; /* they point into the event, freed next */
    gw_json_scope_end();
    return rc;
}

/* The provider's stream cannot be read as server-sent events (sse.h): nothing of it that
 * was not read goes out, and the stream ends with an error. */
static void stream_unreadable(struct gw_req *r)
{
    const char *why = gw_sse_strerror(r->parser.error);
    GW_LOG(GW_LOG_WARN, r->id, "the provider's stream cannot be read: %s", why);
    char msg[200];
    snprintf(msg, sizeof msg,
             "The provider's stream cannot be read (%s); the rest of it was "
             "not passed on.",
             why);
    stream_error(r, msg, "provider_stream_error");
}

/* ---- the provider call ---- */

static void on_up_headers(void *arg, long status, const char *content_type)
{
    struct gw_req *r = arg;
    r->status = status;
    snprintf(r->content_type, sizeof r->content_type, "%s",
             content_type ? content_type : "application/json");
    bool sse = status >= 200 && status < 300 && content_type && r->api->stream_event &&
               r->stream && /* a stream the client did not ask for is read whole, and refused */
               strncasecmp(content_type, "text/event-stream", 17) == 0 && !r->passthrough &&
               !r->stored;
    r->state = GW_REQ_BUFFERING;
    if (sse) {
        stream_init(r);
        start_stream_reply(r);
    }
}

static int on_up_data(void *arg, const char *data, size_t len)
{
    struct gw_req *r = arg;
    if (r->state == GW_REQ_STREAMING) {
        int rc = gw_sse_feed(&r->parser, data, len, on_sse_event, r);
        if (rc == -1 && r->parser.error != GW_SSE_STOPPED)
            stream_unreadable(r); /* a walk that stops has written its own end */
        client_flush(r);
        return rc;
    }
    /* A reply read whole is held until the client has read it: each within its cap, and
     * all of them within one budget, so that slow clients cannot fill the memory. */
    const struct gw_config *cfg = cfg_of(r);
    struct gw_front_stats *f = &r->w->srv->front;
    if (r->reply.len + len > cfg->max_reply_bytes) {
        r->over = 1;
        return -1;
    }
    if (atomic_fetch_add(&f->replies_held, len) + len > cfg->reply_buffer_bytes) {
        atomic_fetch_sub(&f->replies_held, len);
        r->over = 2;
        return -1;
    }
    r->held += len;
    return gw_buf_append(&r->reply, data, len);
}

/* Keeps what the request sends of the members its reply repeats (api->echoed), as JSON
 * text (the request's tree is gone by the reply): the reply's repeat of it was screened as
 * the request's texts are, and is not screened again (a brand's own instructions with its
 * support address would be a finding in every reply). What else a reply says there (what
 * a provider stored from a request that never passed here) is: GW_TEXT_ECHO. */
static void keep_sent(struct gw_req *r, const cJSON *root)
{
    cJSON *o = r->api->echoed ? cJSON_CreateObject() : NULL;
    for (const char *const *m = o ? r->api->echoed : NULL; m && *m; m++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, *m);
        cJSON *copy = v ? cJSON_Duplicate(v, true) : NULL;
        if (copy)
            cJSON_AddItemToObject(o, *m, copy);
    }
    r->echo_sent = o ? gw_json_print_heap(o) : NULL; /* NULL: every repeat is screened */
    cJSON_Delete(o);
}

static int push_echo(void *texts, cJSON *node)
{
    return gw_api_refs_push_all(texts, node);
}

/* Pushes what a reply repeats of the request and does not say as it was sent, as
 * GW_TEXT_ECHO texts (gw_api_echo_diff). Returns 0 or -1. */
static int push_echoes(const struct gw_req *r, cJSON *root, struct gw_text_refs *texts)
{
    if (!root || !r->api->echoed)
        return 0;
    cJSON *sent = r->echo_sent ? gw_api_parse(r->echo_sent, strlen(r->echo_sent)) : NULL;
    unsigned role = texts->role;
    texts->role = GW_TEXT_ECHO;
    int rc = gw_api_echo_diff(root, sent, r->api->echoed, push_echo, texts);
    texts->role = role;
    cJSON_Delete(sent);
    return rc;
}

/* A provider's answer outside 2xx (its errors can quote what the model wrote, or the
 * prompt, and SDKs put them in the exception an app may show), or a stored object an API
 * returns (a response fetched again): the body screened as one text, like a tool's JSON
 * arguments (keys, numbers and escaped strings too), or a page that is not JSON as it is.
 * A block withholds it behind the gateway's own error, with the same status. */
static void whole_reply(struct gw_req *r)
{
    const char *body = r->reply.data ? r->reply.data : "";
    cJSON *text = NULL;
    const struct gw_rule *blocker = NULL;
    bool changed = false;
    int verdict = -1;
    /* Bytes that are not UTF-8 are read otherwise by a client that decodes by the declared
     * charset, or leniently: they cannot be screened as it will read them. */
    if (!memchr(body, '\0', r->reply.len) && !gw_openai_not_utf8(body, r->reply.len) &&
        (text = cJSON_CreateString(body)))
        verdict = screen_one(r, text, GW_DIR_REPLY, ~0u, &blocker, &changed);
    if (verdict == -1 || verdict == GW_ACTION_BLOCK) {
        cJSON_Delete(text);
        bool err = r->status < 200 || r->status >= 300;
        error_and_finish(r, err ? (int)r->status : 502,
                         verdict == -1 ? "The provider's answer cannot be screened."
                                       : "The provider's answer was withheld by the gateway.",
                         "provider_error");
        return;
    }
    enum gw_action v = verdict > (int)r->prompt_verdict ? (enum gw_action)verdict
                                                         : r->prompt_verdict;
    if (changed)
        reply_and_finish(r, (int)r->status, r->content_type, text->valuestring,
                         strlen(text->valuestring), v);
    else
        reply_and_finish(r, (int)r->status, r->content_type, body, r->reply.len, v);
    cJSON_Delete(text);
}

static void plain_reply(struct gw_req *r)
{
    const struct gw_config *cfg = cfg_of(r);
    bool ok = r->status >= 200 && r->status < 300;
    if (r->passthrough || !gw_policy_screen_replies(cfg, r->policy)) {
        /* Not screened, by the operator's choice: the provider's answer as it came. */
        enum gw_action v = r->passthrough ? GW_ACTION_ALLOW : r->prompt_verdict;
        reply_and_finish(r, (int)r->status, r->content_type, r->reply.data ? r->reply.data : "",
                         r->reply.len, v);
        return;
    }
    if (!ok) {
        whole_reply(r);
        return;
    }
    struct gw_text_refs texts = {.unknown = (enum gw_unknown_policy)cfg->unknown_fields};
    cJSON *root = r->api->parse_reply(r->reply.data ? r->reply.data : "", r->reply.len, &texts);
    if (root && push_echoes(r, root, &texts) == -1) {
        cJSON_Delete(root); /* unscreenable, as a reply parse_reply refuses */
        gw_text_refs_free(&texts);
        root = NULL;
    }
    if (r->stored && strncasecmp(r->content_type, "text/event-stream", 17) == 0) {
        cJSON_Delete(root); /* a stored response replayed as a stream: its events would need */
        gw_text_refs_free(&texts); /* the stream walk, and one text would hide their splits */
        error_and_finish(r, 502, "The provider answered a stored response as a stream, which "
                                 "this gateway does not screen; fetch it whole.",
                         "provider_error");
        return;
    }
    if (!root && r->stored) {
        /* not a response (a list of input items, a deletion): screened whole; a response
         * the API file refuses is as unscreenable as any reply it refuses */
        cJSON *doc = gw_api_parse(r->reply.data ? r->reply.data : "", r->reply.len);
        const cJSON *object = cJSON_GetObjectItemCaseSensitive(doc, "object");
        bool response = cJSON_IsString(object) && strcmp(object->valuestring, "response") == 0;
        cJSON_Delete(doc);
        if (!response) {
            whole_reply(r);
            return;
        }
    }
    if (!root) {
        if (gw_policy_fail_mode(cfg, r->policy) == GW_FAIL_OPEN)
            reply_and_finish(r, (int)r->status, r->content_type, r->reply.data, r->reply.len,
                             r->prompt_verdict);
        else
            error_and_finish(r, 502,
                             "The provider's reply is not JSON, or not JSON that every reader "
                             "reads the same way, or has a part the gateway does not know; it "
                             "cannot be screened.",
                             "provider_error");
        return;
    }
    if (texts.odd_name) {
        cJSON_Delete(root);
        gw_text_refs_free(&texts);
        error_and_finish(r, 502,
                         "The provider's reply has a member the gateway does not know whose "
                         "name is no plain name (a space, an '@' or a number in it); it cannot "
                         "be screened.",
                         "provider_error");
        return;
    }
    if (texts.media && !cfg->media_pass) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "The provider's reply carries %s, which no scanner reads; "
                 "it is refused (policy.media: pass lets it through).",
                 texts.media);
        cJSON_Delete(root);
        gw_text_refs_free(&texts);
        error_and_finish(r, 502, msg, "provider_error");
        return;
    }
    take_usage(r, root);
    const struct gw_rule *blocker;
    bool changed;
    int verdict = screen_texts(r, &texts, GW_DIR_REPLY, &blocker, &changed);
    if (verdict != -1 && verdict != GW_ACTION_BLOCK) {
        /* parts, blocks and items that an SDK shows joined (output_text, a message's text) */
        int joined = screen_joined(r, &texts, GW_DIR_REPLY, &blocker, &changed);
        verdict = joined == -1 || joined > verdict ? joined : verdict;
    }
    if (verdict == -1 && gw_policy_fail_mode(cfg, r->policy) == GW_FAIL_CLOSED) {
        error_and_finish(r, 503, "Screening the reply failed; the gateway fails closed.",
                         "guardrail_error");
    } else if (verdict == GW_ACTION_BLOCK) {
        answer_block(r, blocker, "reply");
    } else {
        enum gw_action v = verdict > (int)r->prompt_verdict ? (enum gw_action)verdict
                                                             : r->prompt_verdict;
        if ((changed || texts.stripped) && verdict != -1) {
            if (changed && r->api->redacted)
                r->api->redacted(root);
            char *out = cJSON_PrintUnformatted(root);
            reply_and_finish(r, (int)r->status, "application/json", out, strlen(out), v);
            cJSON_free(out);
        } else {
            reply_and_finish(r, (int)r->status, r->content_type, r->reply.data, r->reply.len, v);
        }
    }
    cJSON_Delete(root);
    gw_text_refs_free(&texts);
}

/* Screens a whole (not streamed) reply; its JSON lives in the worker's arena. */
static void finish_plain_reply(struct gw_req *r)
{
    gw_json_scope_begin();
    plain_reply(r);
    gw_json_scope_end();
}

static void on_up_done(void *arg, CURLcode result, long status)
{
    struct gw_req *r = arg;
    r->call = NULL; /* freed by the upstream module after this returns */
    r->rec->provider_ms = ms_since(&r->provider_t0);
    GW_LOG(GW_LOG_DEBUG, r->id, "provider call done: %s, status %ld", curl_easy_strerror(result),
           status);
    if (r->state == GW_REQ_STREAMING) {
        if (result != CURLE_OK && result != CURLE_WRITE_ERROR && r->st.ended) {
            /* its own end came whole: only the reply's framing broke after it */
            GW_LOG(GW_LOG_WARN, r->id, "provider stream cut after its end: %s",
                   curl_easy_strerror(result));
            gw_json_scope_begin();
            r->api->stream_end(&r->st);
            gw_json_scope_end();
        } else if (result != CURLE_OK && result != CURLE_WRITE_ERROR) {
            GW_LOG(GW_LOG_WARN, r->id, "provider stream ended early: %s",
                   curl_easy_strerror(result));
            stream_error(r, "The provider's stream ended early.", "provider_stream_error");
        } else if (result == CURLE_OK && gw_sse_end(&r->parser) == -1) {
            stream_unreadable(r); /* it ended inside an event */
        } else if (result == CURLE_OK) {
            gw_json_scope_begin();
            r->api->stream_end(&r->st);
            gw_json_scope_end();
        }
        end_stream_reply(r);
        return;
    }
    if (r->over) {
        const struct gw_config *cfg = cfg_of(r);
        char msg[256];
        atomic_fetch_add(&r->w->srv->front.reply_refused[r->over - 1], 1);
        if (r->over == 1) {
            GW_LOG(GW_LOG_WARN, r->id, "the provider's reply is over limits.max_reply_bytes");
            snprintf(msg, sizeof msg, "The provider's reply is over the gateway's limit (%zu "
                     "bytes); ask for a shorter one, or stream it.", cfg->max_reply_bytes);
            error_and_finish(r, 502, msg, "reply_too_large");
        } else {
            GW_LOG(GW_LOG_WARN, r->id, "replies held are at limits.reply_buffer_bytes; refused");
            evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", "1");
            error_and_finish(r, 503, "The gateway is holding as many replies as it may; retry "
                             "in a moment, or stream the reply.", "reply_budget_exhausted");
        }
    } else if (result == CURLE_BAD_CONTENT_ENCODING) {
        /* it was asked for identity (provider_headers): what it compressed is not read */
        GW_LOG(GW_LOG_WARN, r->id, "provider reply in a content encoding; refused");
        error_and_finish(r, 502,
                         "The provider's reply is compressed (Content-Encoding), "
                         "which the gateway cannot screen; it was not passed on.",
                         "provider_error");
    } else if (result == CURLE_OPERATION_TIMEDOUT) {
        GW_LOG(GW_LOG_WARN, r->id, "provider timeout");
        error_and_finish(r, 504, "The provider did not answer in time.", "provider_timeout");
    } else if (result != CURLE_OK) {
        GW_LOG(GW_LOG_WARN, r->id, "provider unreachable: %s", curl_easy_strerror(result));
        char msg[256];
        snprintf(msg, sizeof msg, "The provider could not be reached: %s.",
                 curl_easy_strerror(result));
        error_and_finish(r, 502, msg, "provider_unavailable");
    } else {
        finish_plain_reply(r);
    }
}

static const struct gw_upcall_ops up_ops = {on_up_headers, on_up_data, on_up_done};

void gw_proxy_shutdown(struct gw_worker *w)
{
    struct gw_req *next;
    for (struct gw_req *r = w->reqs; r; r = next) {
        next = r->next; /* r is freed below */
        GW_LOG(GW_LOG_WARN, r->id, "drain timeout: ending the request");
        if (r->state != GW_REQ_STREAMING) {
            error_and_finish(r, 503, "The gateway is shutting down.", "shutting_down");
            continue;
        }
        if (r->st.ended) { /* the provider's end came; only its reply's end had not */
            gw_json_scope_begin();
            r->api->stream_end(&r->st);
            gw_json_scope_end();
        } else {
            stream_error(r,
                         "The gateway is shutting down; the rest of this reply was not "
                         "sent.",
                         "shutting_down");
        }
        end_stream_reply(r);
    }
}

static struct curl_slist *add_header(struct curl_slist *h, const char *name, const char *value)
{
    char line[4096];
    snprintf(line, sizeof line, "%s%s", name, value);
    return curl_slist_append(h, line);
}

/* The provider's headers: its key the API's way (or the client's own credentials when no
 * key is configured), and the headers of the API the client sent. */
static struct curl_slist *provider_headers(struct gw_req *r, bool json)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->req);
    struct curl_slist *h = NULL;
    if (json)
        h = curl_slist_append(h, "Content-Type: application/json");
    const char *key = r->provider->api_key;
    if (key) {
        h = add_header(h, r->api->key_header, key);
    } else {
        static const char *const creds[] = {"Authorization: ", "x-api-key: "};
        static const char *const names[] = {"Authorization", "x-api-key"};
        for (size_t i = 0; i < 2; i++) {
            const char *v = evhttp_find_header(in, names[i]);
            if (v)
                h = add_header(h, creds[i], v);
        }
    }
    for (const char *const *d = r->api->default_headers; d && *d; d++) {
        char name[80];
        size_t n = strcspn(*d, ":");
        snprintf(name, sizeof name, "%.*s", (int)n, *d);
        if (!evhttp_find_header(in, name))
            h = curl_slist_append(h, *d);
    }
    for (const char *const *f = r->api->forward_headers; f && *f; f++) {
        const char *v = evhttp_find_header(in, *f);
        char name[80];
        snprintf(name, sizeof name, "%s: ", *f);
        if (v)
            h = add_header(h, name, v);
    }
    /* Without it any coding is acceptable (RFC 9110): the gateway reads only identity, and
     * the upstream module refuses a reply in any other */
    h = curl_slist_append(h, "Accept-Encoding: identity");
    char line[128];
    snprintf(line, sizeof line, "x-request-id: %s", r->id);
    h = curl_slist_append(h, line);
    return curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
}

static void call_provider(struct gw_req *r, const char *method, const char *url,
                          const char *body, size_t len)
{
    const struct gw_provider *p = r->provider;
    struct curl_slist *h = provider_headers(r, body != NULL);
    clock_gettime(CLOCK_MONOTONIC, &r->provider_t0);
    r->rec->provider_called = true;
    r->state = GW_REQ_CALLING;
    r->call = gw_upstream_start(r->w->up, method, url, h, body, len, p->connect_timeout_ms,
                                p->timeout_ms, &up_ops, r); /* it owns h now */
    if (!r->call)
        error_and_finish(r, 502, "The provider call could not be started.", "provider_unavailable");
}

/* At most this many texts of a request are joined two by two in every order (a stored
 * prompt has a few variables; past this, each is screened alone and joined in order). */
#define ANY_ORDER_MAX 8

/* Screens each two of the texts the provider joins in an order unknown here (ar->any_from
 * to ar->any_to: a stored prompt's variables), joined in both orders, but for the pairs the
 * in-order join already read. Returns the strongest verdict, or -1. */
static int screen_any_order(struct gw_req *r, struct gw_api_request *ar,
                            const struct gw_rule **blocker, bool *changed)
{
    size_t n = ar->any_to - ar->any_from;
    int verdict = GW_ACTION_ALLOW;
    if (n < 2 || n > ANY_ORDER_MAX)
        return verdict;
    cJSON *v[2];
    unsigned char roles[2];
    struct gw_text_refs pair = {.v = v, .roles = roles, .n = 2, .cap = 2};
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++) {
            if (a == b || b == a + 1) /* a text with itself; the in-order join */
                continue;
            for (int k = 0; k < 2; k++) {
                size_t i = ar->any_from + (k ? b : a);
                v[k] = ar->texts.v[i];
                roles[k] = ar->texts.roles[i];
            }
            if (!cJSON_IsString(v[0]) || !cJSON_IsString(v[1]))
                continue;
            int rc = screen_run(r, &pair, GW_DIR_PROMPT, 0, 2, blocker, changed);
            if (rc == -1)
                return -1;
            if (rc > verdict)
                verdict = rc;
            if (verdict == GW_ACTION_BLOCK)
                return verdict;
        }
    return verdict;
}

/* ---- identifiers the provider keeps ----
 * A request tells the provider who its end user is, or tags itself, in members no model
 * reads: user, safety_identifier, prompt_cache_key, and metadata (Anthropic's user_id in
 * it). The provider keeps them, and shows them in its logs and dashboards, so personal
 * data or a secret in one leaves the brand as surely as in a prompt; apps often put the
 * customer's e-mail there. Each is screened for personal data and secrets, and one with a
 * finding that redacts or blocks is replaced by its pseudonym (kpi/privacy.h): the provider
 * still tells end users apart, as it asks identifiers to, and reads nobody's address. */

static const char *const id_members[] = {
    "user", "safety_identifier", "prompt_cache_key", "previous_response_id", "conversation", NULL};

/* Screens text t (node's name when key, else its value) as an identifier, and replaces it
 * by its pseudonym on a finding that redacts or blocks, recorded as a redaction. Returns 1
 * when it was replaced, 0, or -1 when screening failed. */
static int screen_identifier(struct gw_req *r, cJSON *node, const char *t, bool key)
{
    size_t len = strlen(t);
    if (!len)
        return 0;
    if (scan_text(r, t, len, GW_DIR_PROMPT, ID_CATEGORIES) == -1)
        return -1;
    bool replace = false;
    unsigned text = ++r->texts;
    for (size_t k = 0; k < r->w->findings.n; k++) {
        struct gw_finding f = r->w->findings.v[k];
        if (!f.shadow && f.action >= GW_ACTION_REDACT) {
            f.action = GW_ACTION_REDACT; /* what the gateway did: the request goes on */
            replace = true;
        }
        record(r, GW_DIR_PROMPT, &f, t + f.start, f.end - f.start, text, f.start);
    }
    if (!replace)
        return 0;
    char p[GW_PRIVACY_PSEUDONYM_MAX + 1];
    gw_privacy_pseudonym(cfg_of(r)->privacy.key, t, len, p, sizeof p);
    if (key)
        return gw_openai_set_key(node, p) == -1 ? -1 : 1;
    cJSON *rep = cJSON_CreateString(p);
    if (!rep)
        return -1;
    take_value(node, rep);
    return 1;
}

/* Screens a value as an identifier: a string as it is, anything else as its JSON text
 * (numbers past 2^53 in it go as pseudonyms first: unreadable_numbers). */
static int screen_identifier_value(struct gw_req *r, cJSON *node)
{
    if (cJSON_IsString(node))
        return screen_identifier(r, node, node->valuestring, false);
    if (cJSON_IsNull(node) || cJSON_IsBool(node))
        return 0;
    int big = unreadable_numbers(r, node);
    if (big == -1 || cJSON_IsString(node)) /* -1, or 1: node was the number */
        return big;
    char *json = cJSON_PrintUnformatted(node);
    int rc = json ? screen_identifier(r, node, json, false) : -1;
    cJSON_free(json);
    return rc == -1 ? -1 : rc | big;
}

/* Screens the request's identifiers (above). Returns GW_ACTION_REDACT when one was
 * replaced, GW_ACTION_ALLOW, or -1 when screening failed. */
static int screen_identifiers(struct gw_req *r, cJSON *root)
{
    int rc = 0, replaced = 0;
    for (const char *const *m = id_members; *m && rc != -1; m++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(root, *m);
        if (v && (rc = screen_identifier_value(r, v)) == 1)
            replaced = 1;
    }
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    if (meta && !cJSON_IsObject(meta) && rc != -1 && (rc = screen_identifier_value(r, meta)) == 1)
        replaced = 1; /* a string or a list where the API has a map: one identifier */
    for (cJSON *k = cJSON_IsObject(meta) ? meta->child : NULL; k && rc != -1; k = k->next) {
        if ((rc = screen_identifier(r, k, k->string, true)) == 1)
            replaced = 1;
        if (rc != -1 && (rc = screen_identifier_value(r, k)) == 1)
            replaced = 1;
    }
    return rc == -1 ? -1 : replaced ? GW_ACTION_REDACT : GW_ACTION_ALLOW;
}

/* Screens the request's prompt texts, then calls the provider (or answers the block). */
static void screen_and_call(struct gw_req *r, struct gw_api_request *ar, const char *body,
                            size_t len)
{
    const struct gw_config *cfg = cfg_of(r);
    const struct gw_rule *blocker;
    bool changed;
    int verdict = screen_texts(r, &ar->texts, GW_DIR_PROMPT, &blocker, &changed);
    if (verdict != -1 && verdict != GW_ACTION_BLOCK) {
        int joined = screen_joined(r, &ar->texts, GW_DIR_PROMPT, &blocker, &changed);
        verdict = joined == -1 || joined > verdict ? joined : verdict;
    }
    if (verdict != -1 && verdict != GW_ACTION_BLOCK) {
        int any = screen_any_order(r, ar, &blocker, &changed);
        verdict = any == -1 || any > verdict ? any : verdict;
    }
    if (verdict != -1 && verdict != GW_ACTION_BLOCK) {
        int ids = screen_identifiers(r, ar->root);
        changed |= ids == GW_ACTION_REDACT;
        verdict = ids == -1 || ids > verdict ? ids : verdict;
    }
    if (verdict == -1) {
        if (gw_policy_fail_mode(cfg, r->policy) == GW_FAIL_CLOSED) {
            error_and_finish(r, 503, "Screening the prompt failed; the gateway fails closed.",
                             "guardrail_error");
            return;
        }
        verdict = GW_ACTION_ALLOW;
        changed = false;
    }
    r->prompt_verdict = (enum gw_action)verdict;
    if (verdict == GW_ACTION_BLOCK) {
        answer_block(r, blocker, "prompt");
        return;
    }
    if (changed || ar->texts.stripped) /* something was redacted, or a member removed */
        r->body_out = gw_json_print_heap(ar->root);
    keep_sent(r, ar->root);
    char url[2048];
    snprintf(url, sizeof url, "%s%s", r->provider->base_url, r->api->upstream_path);
    if (r->body_out)
        call_provider(r, "POST", url, r->body_out, strlen(r->body_out));
    else
        call_provider(r, "POST", url, body, len); /* the client's bytes, not copied */
}

/* The request's model, or one of its fallbacks ("models", OpenRouter's), that its policy
 * does not list (policy.models); NULL when all are allowed. */
static const char *model_not_allowed(const struct gw_req *r, const struct gw_api_request *ar)
{
    const struct gw_config *cfg = cfg_of(r);
    if (!gw_policy_model_ok(cfg, r->policy, ar->model ? ar->model : ""))
        return ar->model ? ar->model : "(none)";
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(ar->root, "models"))
    {
        if (!cJSON_IsString(m) || !gw_policy_model_ok(cfg, r->policy, m->valuestring))
            return cJSON_IsString(m) ? m->valuestring : "(not a string)";
    }
    return NULL;
}

static void api_call(struct gw_worker *w, const struct gw_api *api, struct evhttp_request *req,
                     const char *reqid)
{
    const struct gw_config *cfg = w->srv->cfg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    char err[320];
    const struct gw_provider *provider = gw_config_provider_for(cfg, api->providers);
    if (!provider) {
        snprintf(err, sizeof err, "This gateway has no provider for the %s API.", api->name);
        gw_answer_early(w, req, api, reqid, 404, err, "invalid_request_error", NULL, "no_provider");
        return;
    }
    if (len > cfg->max_body_bytes) {
        snprintf(err, sizeof err, "The request body is %zu bytes; this gateway accepts at most %zu.",
                 len, cfg->max_body_bytes);
        gw_answer_early(w, req, api, reqid, 413, err, "invalid_request_error", NULL,
                        "request_too_large");
        return;
    }
    if (w->draining) {
        gw_answer_early(w, req, api, reqid, 503, "The gateway is shutting down.", "api_error", NULL,
                        "shutting_down");
        return;
    }
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    struct gw_api_request ar = {0};
    const char *param = NULL;
    if (api->parse_request(&ar, body, len, cfg->screen_roles, err, sizeof err, &param) == -1) {
        gw_api_request_free(&ar);
        gw_answer_early(w, req, api, reqid, 400, err, "invalid_request_error", param,
                        "invalid_request");
        return;
    }
    if (gw_api_request_members(api, &ar, (enum gw_unknown_policy)cfg->unknown_fields, err,
                               sizeof err, &param) == -1) {
        gw_api_request_free(&ar);
        gw_answer_early(w, req, api, reqid, 400, err, "invalid_request_error", param,
                        "unknown_parameter");
        return;
    }
    if (ar.texts.odd_name) { /* a member's name is text no scan reads */
        snprintf(err, sizeof err,
                 "The request has a member this gateway does not know whose name is no "
                 "plain name (1 to 64 of letters, digits and _-.:$, at most 8 digits); it "
                 "cannot be screened, so it is refused.");
        gw_api_request_free(&ar);
        gw_answer_early(w, req, api, reqid, 400, err, "invalid_request_error", NULL,
                        "unknown_parameter");
        return;
    }
    if (ar.texts.media && !cfg->media_pass) { /* what the gateway cannot read, it refuses */
        snprintf(err, sizeof err,
                 "The request has %s, which this gateway cannot screen, so it "
                 "is refused (policy.media: pass lets images, audio and files "
                 "through unscreened).",
                 ar.texts.media);
        gw_api_request_free(&ar);
        gw_answer_early(w, req, api, reqid, 400, err, "invalid_request_error", NULL,
                        "unscreenable_media");
        return;
    }
    struct gw_req *r = req_open(w, req, api, reqid);
    if (!r) {
        gw_api_request_free(&ar);
        return;
    }
    r->api = api;
    r->provider = provider;
    r->stream = ar.stream;
    r->structured = ar.structured;
    snprintf(r->model, sizeof r->model, "%s", ar.model ? ar.model : "unknown");
    const char *model = model_not_allowed(r, &ar);
    if (model) {
        snprintf(err, sizeof err,
                 "The model '%.80s' is not one this chatbot may call (policy.models).", model);
        error_and_finish(r, 400, err, "model_not_allowed");
    } else {
        screen_and_call(r, &ar, body, len);
    }
    gw_api_request_free(&ar);
}

void gw_proxy_api(struct gw_worker *w, const struct gw_api *api, struct evhttp_request *req,
                  const char *reqid)
{
    gw_json_scope_begin(); /* the request's JSON lives in the worker's arena */
    api_call(w, api, req, reqid);
    gw_json_scope_end();
}

void gw_proxy_passthrough(struct gw_worker *w, struct evhttp_request *req, const char *reqid,
                          const char *method, const char *path)
{
    const struct gw_config *cfg = w->srv->cfg;
    if (w->draining) {
        gw_answer_early(w, req, NULL, reqid, 503, "The gateway is shutting down.", "api_error",
                        NULL, "shutting_down");
        return;
    }
    struct gw_req *r = req_open(w, req, NULL, reqid);
    if (!r)
        return;
    r->passthrough = true;
    r->api = &gw_api_openai_chat;
    r->provider = &cfg->provider;
    const char *rest = strncmp(path, "/v1/", 4) == 0 ? path + 3 : path;
    char url[2048];
    snprintf(url, sizeof url, "%s%s", r->provider->base_url, rest);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    bool has_body = evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
                    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD;
    /* An empty body is "" (still a POST), never NULL, which would make the call a GET. */
    const char *body = !has_body ? NULL : len ? (const char *)evbuffer_pullup(in, -1) : "";
    call_provider(r, method, url, body, len);
}

void gw_proxy_stored(struct gw_worker *w, const struct gw_api *api, struct evhttp_request *req,
                     const char *reqid, const char *method, const char *path)
{
    const struct gw_provider *provider = gw_config_provider_for(w->srv->cfg, api->providers);
    if (!provider || w->draining) {
        gw_answer_early(w, req, api, reqid, provider ? 503 : 404,
                        provider ? "The gateway is shutting down." : "No provider serves this.",
                        "api_error", NULL, provider ? "shutting_down" : "no_provider");
        return;
    }
    struct gw_req *r = req_open(w, req, api, reqid);
    if (!r)
        return;
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    const char *st = q ? strstr(q, "stream=") : NULL;
    if (st && (st == q || st[-1] == '&') && strncmp(st + 7, "false", 5) != 0) {
        /* a stored response replayed as a stream: its events would need the stream walk */
        r->api = api;
        error_and_finish(r, 400, "Fetching a stored response as a stream is not served by this "
                                 "gateway; fetch it whole.", "stream_not_supported");
        return;
    }
    r->api = api;
    r->provider = provider;
    r->stored = true;
    snprintf(r->model, sizeof r->model, "-");
    const char *rest = strncmp(path, "/v1/", 4) == 0 ? path + 3 : path;
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    char url[2048];
    snprintf(url, sizeof url, "%s%s%s%s", provider->base_url, rest, query ? "?" : "",
             query ? query : "");
    /* a cancel carries nothing: whatever the client put in the body stays here unread */
    call_provider(r, method, url, strcmp(method, "POST") == 0 ? "" : NULL, 0);
}
