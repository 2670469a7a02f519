#include "server/admin.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "admin/dashboard.h"
#include "incidents/incidents.h"
#include "kpi/query.h"
#include "kpi/render.h"
#include "kpi/spool.h"
#include "kpi/store.h"
#include "kpi/when.h"
#include "server/policy.h"
#include "server/server.h"
#include "util/buf.h"
#include "util/log.h"

struct gw_admin {
    struct gw_server *srv;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    pthread_t thread;
    int port;
    struct gw_store *store; /* a read-only connection of this thread's own; NULL: none yet */
    int64_t last_open_ms;   /* of the last try to open it */
};

static void send_text(struct evhttp_request *req, int status, const char *ctype, const char *body,
                      size_t len)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, body, len);
    evhttp_send_reply(req, status, status == 200 ? "OK" : "Error", b);
    evbuffer_free(b);
}

static void send_error(struct evhttp_request *req, int status, const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", status >= 500 ? "api_error" : "invalid_request_error");
    char *s = cJSON_PrintUnformatted(o);
    send_text(req, status, "application/json", s, strlen(s));
    cJSON_free(s);
    cJSON_Delete(o);
}

static void send_json(struct evhttp_request *req, cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    send_text(req, 200, "application/json", s, strlen(s));
    cJSON_free(s);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Parses a time parameter: Unix milliseconds, YYYY-MM-DD, or YYYY-MM-DDTHH:MM[:SS][Z].
 * Returns 0 or -1. */
static bool authorized(struct gw_admin *a, struct evhttp_request *req, struct evkeyvalq *q)
{
    const char *token = a->srv->cfg->admin_token;
    if (!token)
        return true;
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (h && strncasecmp(h, "Bearer ", 7) == 0 && strcmp(h + 7, token) == 0)
        return true;
    const char *qt = evhttp_find_header(q, "token"); /* for the dashboard page's own fetches */
    return qt && strcmp(qt, token) == 0;
}

/* The recorder's way into the KPI store (kpi/spool.h), for alerts on a fleet's shared
 * database. */
static void store_metrics(struct gw_buf *b)
{
    struct gw_spool_stats st;
    gw_spool_stats(&st);
    gw_buf_printf(b,
                  "# HELP guardrail_kpi_store_up Whether the last write to the KPI store went "
                  "through.\n# TYPE guardrail_kpi_store_up gauge\nguardrail_kpi_store_up %d\n"
                  "# HELP guardrail_kpi_buffered_records Records held while the KPI store is "
                  "away (kpi.buffer_records at most).\n"
                  "# TYPE guardrail_kpi_buffered_records gauge\n"
                  "guardrail_kpi_buffered_records %lld\n"
                  "# HELP guardrail_kpi_written_records_total Records written to the KPI store.\n"
                  "# TYPE guardrail_kpi_written_records_total counter\n"
                  "guardrail_kpi_written_records_total %lld\n"
                  "# HELP guardrail_kpi_dropped_records_total Records never written: the "
                  "buffer was full while the store was away, or the store refused them.\n"
                  "# TYPE guardrail_kpi_dropped_records_total counter\n"
                  "guardrail_kpi_dropped_records_total %lld\n"
                  "# HELP guardrail_kpi_store_failures_total Writes to the KPI store that "
                  "failed (each is retried).\n"
                  "# TYPE guardrail_kpi_store_failures_total counter\n"
                  "guardrail_kpi_store_failures_total %lld\n",
                  st.up ? 1 : 0, (long long)st.buffered, (long long)st.written,
                  (long long)st.dropped, (long long)st.failures);
}

/* The answer when the store failed: 400 for what was asked, 503 when the database is
 * away (the connection is dropped and reopened at the next request), else 500. */
static void store_error(struct gw_admin *a, struct evhttp_request *req)
{
    if (gw_store_error_kind(a->store) == GW_STORE_BAD_REQUEST)
        return send_error(req, 400, gw_store_error(a->store));
    if (gw_store_broken(a->store)) {
        gw_store_close(a->store);
        a->store = NULL;
        return send_error(req, 503, "the KPI store is not answering; try again shortly");
    }
    send_error(req, 500, gw_store_error(a->store));
}

/* When the store's connection is gone (the database restarted): drop it so that reader()
 * opens a new one at once. Whether to try again. */
static bool reconnect(struct gw_admin *a)
{
    if (!a->store || !gw_store_broken(a->store) || !gw_db_is_url(a->srv->cfg->kpi_db))
        return false;
    gw_store_close(a->store);
    a->store = NULL;
    a->last_open_ms = 0;
    return true;
}

/* The admin thread's read-only connection, opened at the first request and again after
 * the database went away (at most once a second). false: an answer was sent. */
static bool reader(struct gw_admin *a, struct evhttp_request *req)
{
    const char *where = a->srv->cfg->kpi_db;
    if (!where) {
        send_error(req, 503, "no KPI store is configured (kpi.db)");
        return false;
    }
    if (a->store)
        return true;
    int64_t now = now_ms();
    char err[512];
    if (now - a->last_open_ms < 1000) {
        send_error(req, 503, "the KPI store is not answering; try again shortly");
        return false;
    }
    a->last_open_ms = now;
    struct gw_store_opts o = {.readonly = true};
    if (!(a->store = gw_store_open(where, &o, err, sizeof err))) {
        /* the details (host, user, database) are for the log, not for dashboard users */
        GW_LOG(GW_LOG_ERROR, NULL, "admin: KPI store %s", err);
        send_error(req, 503, "the KPI store is not answering; try again shortly");
        return false;
    }
    return true;
}

static void api_kpis(struct gw_admin *a, struct evhttp_request *req, struct evkeyvalq *q)
{
    int64_t to = now_ms(), from = to - 24 * 3600 * 1000LL, step = 0;
    const char *p;
    if ((p = evhttp_find_header(q, "to")) && gw_parse_when(p, false, &to) == -1)
        return send_error(req, 400, "'to' must be a date (YYYY-MM-DD), a time "
                                    "(YYYY-MM-DDTHH:MM:SSZ) or Unix milliseconds");
    if (!evhttp_find_header(q, "from"))
        from = to - 24 * 3600 * 1000LL;
    if ((p = evhttp_find_header(q, "from")) && gw_parse_when(p, false, &from) == -1)
        return send_error(req, 400, "'from' must be a date (YYYY-MM-DD), a time "
                                    "(YYYY-MM-DDTHH:MM:SSZ) or Unix milliseconds");
    if (from >= to)
        return send_error(req, 400, "'from' must be before 'to'");
    if ((p = evhttp_find_header(q, "step"))) { /* else 0: the store's policy (about 60) */
        char *end;
        step = strtoll(p, &end, 10);
        if (*end || step < 60000 || step > to - from)
            return send_error(req, 400, "'step' must be milliseconds, from 60000 to the "
                                        "length of the range");
    }
    struct gw_kpi_filter f = {from, to, evhttp_find_header(q, "tenant"),
                              evhttp_find_header(q, "model"), evhttp_find_header(q, "instance")};
    struct gw_kpi_filter pf = f; /* the previous period, for the money's change */
    pf.from = from - (to - from);
    pf.to = from;
    const struct gw_value *v = &a->srv->cfg->value;
    cJSON *o = NULL;
    for (int attempt = 0; !o; attempt++) {
        if (!reader(a, req))
            return;
        struct gw_kpis k;
        struct gw_value_counts vc[2] = {{0}};
        struct gw_value_result vr[2];
        cJSON *value = NULL;
        if (gw_kpi_query(a->store, &f, step, &k) == 0 &&
            gw_kpi_value(a->store, &f, v, &vc[0], &vr[0]) == 0 &&
            gw_kpi_value(a->store, &pf, v, &vc[1], &vr[1]) == 0) {
            o = gw_render_kpis(&k);
            value = gw_render_value(v, &vc[0], &vr[0], &vc[1], &vr[1]);
        }
        gw_kpi_value_free(&vc[0]);
        gw_kpi_value_free(&vc[1]);
        gw_kpis_free(&k);
        if (!o || !value || !cJSON_AddItemToObject(o, "value", value)) {
            cJSON_Delete(value);
            cJSON_Delete(o);
            o = NULL;
            if (attempt == 0 && reconnect(a))
                continue;
            return store_error(a, req);
        }
    }
    /* the policy in force for the tenant asked about (docs/configuration.md, policies) */
    const char *tenant = evhttp_find_header(q, "tenant");
    const struct gw_config *cfg = a->srv->cfg;
    int policy = tenant && *tenant ? gw_config_policy_for(cfg, tenant, NULL) : -1;
    if (policy >= 0)
        cJSON_AddStringToObject(o, "policy", gw_policy_name(cfg, policy));
    else
        cJSON_AddNullToObject(o, "policy");
    send_json(req, o);
    cJSON_Delete(o);
}

static void api_incidents(struct gw_admin *a, struct evhttp_request *req, struct evkeyvalq *q)
{
    int64_t to = 0, from = 0, before = 0; /* 0, 0: any time */
    long limit = 50;
    const char *p;
    char *end;
    if ((p = evhttp_find_header(q, "from")) && gw_parse_when(p, false, &from) == -1)
        return send_error(req, 400, "'from' must be a date, a time or Unix milliseconds");
    if ((p = evhttp_find_header(q, "to")) && gw_parse_when(p, false, &to) == -1)
        return send_error(req, 400, "'to' must be a date, a time or Unix milliseconds");
    if ((p = evhttp_find_header(q, "limit")) &&
        ((limit = strtol(p, &end, 10)), *end || limit < 1 || limit > 500))
        return send_error(req, 400, "'limit' must be a number from 1 to 500");
    if ((p = evhttp_find_header(q, "before_id")) &&
        ((before = strtoll(p, &end, 10)), *end || before < 0))
        return send_error(req, 400, "'before_id' must be an incident id");
    enum gw_incident_kind kind = GW_INCIDENTS_ALL;
    if ((p = evhttp_find_header(q, "shadow"))) {
        if (strcmp(p, "true") != 0 && strcmp(p, "false") != 0)
            return send_error(req, 400, "'shadow' must be true (rules in shadow only) or false "
                                        "(rules that acted only)");
        kind = strcmp(p, "true") == 0 ? GW_INCIDENTS_SHADOW : GW_INCIDENTS_ACTED;
    }
    struct gw_kpi_filter f = {from, to, evhttp_find_header(q, "tenant"), NULL,
                              evhttp_find_header(q, "instance")};
    cJSON *o = NULL;
    for (int attempt = 0; !o; attempt++) {
        if (!reader(a, req))
            return;
        struct gw_incident_page page;
        if (gw_incident_query(a->store, &f, evhttp_find_header(q, "category"), kind, (int)limit,
                              before, &page) == 0)
            o = gw_render_incidents(&page);
        gw_incident_page_free(&page);
        if (!o && !(attempt == 0 && reconnect(a)))
            return store_error(a, req);
    }
    send_json(req, o);
    cJSON_Delete(o);
}

/* GET /api/connect: where a chatbot sends its requests, for the dashboard's "connect a
 * chatbot" help. host is null when the gateway listens on every address: the page then
 * uses the host name it was opened with. */
static void api_connect(struct gw_admin *a, struct evhttp_request *req)
{
    const char *h = a->srv->cfg->listen_host;
    bool any = !h || !h[0] || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0;
    cJSON *o = cJSON_CreateObject();
    if (!o || !(any ? cJSON_AddNullToObject(o, "host") : cJSON_AddStringToObject(o, "host", h)) ||
        !cJSON_AddNumberToObject(o, "port", a->srv->port)) {
        cJSON_Delete(o);
        send_error(req, 500, "out of memory");
        return;
    }
    send_json(req, o);
    cJSON_Delete(o);
}

static void on_admin_request(struct evhttp_request *req, void *arg)
{
    struct gw_admin *a = arg;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    if (!u) {
        evhttp_send_error(req, 400, NULL);
        return;
    }
    if (!gw_content_length_ok(evhttp_request_get_input_headers(req))) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        send_error(req, 400, "Content-Length must be one run of digits, given once.");
        return;
    }
    const char *path = evhttp_uri_get_path(u) ? evhttp_uri_get_path(u) : "/";
    struct evkeyvalq q = {0}; /* an empty TAILQ: first NULL, last pointing at first */
    q.tqh_last = &q.tqh_first;
    if (evhttp_uri_get_query(u) && evhttp_parse_query_str(evhttp_uri_get_query(u), &q) == -1) {
        send_error(req, 400, "the query string is malformed");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        send_error(req, 405, "the admin listener only answers GET");
    } else if (!authorized(a, req, &q)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
        send_error(req, 401, "a bearer token is required (admin.token)");
    } else if (strcmp(path, "/metrics") == 0) {
        struct gw_server *srv = a->srv;
        struct gw_metrics **m = calloc((size_t)srv->nworkers, sizeof *m);
        if (!m) {
            send_error(req, 500, "out of memory");
            evhttp_clear_headers(&q);
            return;
        }
        for (int i = 0; i < srv->nworkers; i++)
            m[i] = srv->workers[i].metrics;
        struct gw_buf b = {0};
        struct gw_metrics_server s = {
            .rules_loaded = atomic_load(&srv->rules_loaded),
            .rulesets_live = gw_ruleset_live(),
            .packs_removed = atomic_load(&srv->packs_removed),
            .workers_running = atomic_load(&srv->running),
            .reloads = {atomic_load(&srv->reloads[0]), atomic_load(&srv->reloads[1]),
                        atomic_load(&srv->reloads[2])},
            .rules_hash = atomic_load(&srv->rules_hash),
        };
        gw_metrics_render(&b, m, srv->nworkers, &s);
        gw_front_render(&b, &srv->front);
        gw_buf_printf(&b, "# HELP guardrail_records_dropped_total Request records dropped "
                          "before the recorder took them: its queue was full (it was stuck).\n"
                          "# TYPE guardrail_records_dropped_total counter\n"
                          "guardrail_records_dropped_total %llu\n",
                      (unsigned long long)gw_incidents_dropped());
        if (srv->cfg->kpi_db)
            store_metrics(&b);
        send_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
        gw_buf_free(&b);
        free(m);
    } else if (strcmp(path, "/api/kpis") == 0) {
        api_kpis(a, req, &q);
    } else if (strcmp(path, "/api/incidents") == 0) {
        api_incidents(a, req, &q);
    } else if (strcmp(path, "/api/connect") == 0) {
        api_connect(a, req);
    } else if (strcmp(path, "/dashboard") == 0 || strcmp(path, "/") == 0) {
        send_text(req, 200, "text/html; charset=utf-8", gw_dashboard_html, gw_dashboard_html_len);
    } else {
        send_error(req, 404, "unknown path: try /dashboard, /metrics, /api/kpis, /api/incidents");
    }
    evhttp_clear_headers(&q);
}

static void *admin_main(void *arg)
{
    struct gw_admin *a = arg;
    event_base_dispatch(a->base);
    return NULL;
}

struct gw_admin *gw_admin_start(struct gw_server *srv)
{
    const struct gw_config *cfg = srv->cfg;
    struct gw_admin *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->srv = srv;
    a->base = event_base_new();
    a->http = a->base ? evhttp_new(a->base) : NULL;
    if (!a->http)
        goto fail;
    evhttp_set_gencb(a->http, on_admin_request, a);
    evhttp_set_timeout(a->http, 30);
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(a->http, cfg->admin_host, (ev_uint16_t)cfg->admin_port);
    if (!bs) {
        GW_LOG(GW_LOG_ERROR, NULL, "admin: cannot listen on %s:%d", cfg->admin_host,
               cfg->admin_port);
        goto fail;
    }
    a->bound = bs;
    gw_listener_guard(bs, a->base, "admin"); /* out of descriptors: back off, not spin */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl);
    a->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    if (cfg->kpi_db && !gw_db_is_url(cfg->kpi_db)) {
        /* a SQLite file the writer has just opened: a failure here is a real one; a
         * shared database is opened at the first request, and again if it goes away */
        char err[512];
        struct gw_store_opts o = {.readonly = true};
        if (!(a->store = gw_store_open(cfg->kpi_db, &o, err, sizeof err))) {
            GW_LOG(GW_LOG_ERROR, NULL, "admin: KPI store %s", err);
            goto fail;
        }
    }
    if (pthread_create(&a->thread, NULL, admin_main, a) != 0)
        goto fail;
    GW_LOG(GW_LOG_INFO, NULL, "admin listener on http://%s:%d (dashboard, metrics, KPIs)%s",
           cfg->admin_host, a->port, cfg->admin_token ? " with a bearer token" : "");
    return a;
fail:
    gw_store_close(a->store);
    if (a->http)
        evhttp_free(a->http);
    if (a->base)
        event_base_free(a->base);
    free(a);
    return NULL;
}

int gw_admin_port(const struct gw_admin *a)
{
    return a->port;
}

void gw_admin_stop(struct gw_admin *a)
{
    if (!a)
        return;
    event_base_loopexit(a->base, NULL); /* a break before the loop runs is forgotten */
    pthread_join(a->thread, NULL);
    gw_store_close(a->store);
    gw_listener_unguard(a->bound);
    evhttp_free(a->http);
    event_base_free(a->base);
    free(a);
}
