/* guardrail serve: the screening proxy. guardrail mock: the mock provider on its own. */
#include <event2/thread.h>
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/commands.h"
#include "config/config.h"
#include "kpi/privacy.h"
#include "kpi/db.h"
#include "kpi/spool.h"
#include "mock/mock.h"
#include "server/admin.h"
#include "server/server.h"
#include "util/json_arena.h"
#include "util/log.h"

/* The recorder thread's sink: request records into the KPI store, through the spool
 * (held while the database is away; pruned hourly). */
static int store_sink(void *arg, struct gw_request_rec *const *recs, size_t n)
{
    return gw_spool_push(arg, recs, n) == -1 ? -1 : 0;
}

/* kpi.instance, or the host name made fit to be one. */
static void instance_name(const struct gw_config *cfg, char *out, size_t outlen)
{
    if (cfg->kpi_instance) {
        snprintf(out, outlen, "%s", cfg->kpi_instance);
        return;
    }
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    size_t o = 0;
    for (const char *p = host; *p && o + 1 < outlen && o < GW_STORE_INSTANCE_MAX; p++)
        out[o++] = isalnum((unsigned char)*p) || strchr(".-_:", *p) ? *p : '-';
    out[o] = '\0';
    if (!o)
        snprintf(out, outlen, "gateway");
}

static const char serve_help[] =
    "usage: guardrail serve [--config FILE] [--listen HOST:PORT] [--workers N]\n"
    "                       [--upstream URL] [--rules PATH] [--require-pack NAME]...\n"
    "                       [--shadow-rules PATH]...\n\n"
    "Runs the screening gateway. Clients point their OpenAI base URL at it\n"
    "(http://HOST:PORT/v1). Configuration keys: docs/configuration.md.\n\n"
    "  -c, --config FILE      YAML configuration (default: built-in defaults with the mock\n"
    "                         provider)\n"
    "  -l, --listen HOST:PORT address to listen on (overrides 'listen')\n"
    "  -w, --workers N        worker threads (overrides 'workers'; 0: one per core)\n"
    "  -u, --upstream URL     provider base URL as the OpenAI SDKs take it, e.g.\n"
    "                         http://127.0.0.1:9000/v1 (overrides the first provider)\n"
    "  -r, --rules PATH       rule pack directory or file (overrides 'rules')\n"
    "  -p, --require-pack NAME\n"
    "                         a pack the rules must have (adds to 'required_packs'): the\n"
    "                         gateway does not start without it, and a reload (SIGHUP)\n"
    "                         that lacks it keeps the old rules\n"
    "  -s, --shadow-rules PATH\n"
    "                         candidate rule packs, run in shadow beside the live ones: on\n"
    "                         live traffic they are recorded with what they would have done\n"
    "                         (the dashboard's \"Rules being tried\"), and act on nothing.\n"
    "                         Their ids must differ from the live rules' (repeatable)\n"
    "  -a, --admin HOST:PORT  admin listener: dashboard, /metrics, /api/kpis, /api/incidents\n"
    "                         (overrides 'admin.listen'; keep it on loopback)\n"
    "  -h, --help             show this help\n\n"
    "Signals: SIGTERM/SIGINT drain requests in flight and exit 0; SIGHUP reloads the\n"
    "rules (a set that fails to compile never replaces a working one); SIGUSR1 reopens\n"
    "the incident log.\n";

int gw_cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"workers", required_argument, NULL, 'w'},
                                         {"upstream", required_argument, NULL, 'u'},
                                         {"rules", required_argument, NULL, 'r'},
                                         {"admin", required_argument, NULL, 'a'},
                                         {"require-pack", required_argument, NULL, 'p'},
                                         {"shadow-rules", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *config = NULL, *listen = NULL, *upstream = NULL, *rules = NULL, *admin = NULL;
    const char *required[64];
    size_t n_required = 0;
    long workers = -1;
    int c;
    optind = 1;
    const char *shadow[16];
    size_t n_shadow = 0;
    while ((c = getopt_long(argc, argv, "c:l:w:u:r:a:p:s:h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'c': config = optarg; break;
        case 'l': listen = optarg; break;
        case 'u': upstream = optarg; break;
        case 'r': rules = optarg; break;
        case 's':
            if (n_shadow == sizeof shadow / sizeof shadow[0])
                return gw_cli_usage_error("at most 16 --shadow-rules");
            shadow[n_shadow++] = optarg;
            break;
        case 'a': admin = optarg; break;
        case 'p':
            if (n_required == sizeof required / sizeof required[0])
                return gw_cli_usage_error("at most 64 --require-pack");
            required[n_required++] = optarg;
            break;
        case 'w':
            workers = strtol(optarg, &end, 10);
            if (*end || workers < 0 || workers > 256)
                return gw_cli_usage_error("--workers must be a number from 0 to 256");
            break;
        case 'h': fputs(serve_help, stdout); return 0;
        default: fputs(serve_help, stderr); return 2;
        }
    }
    if (optind < argc)
        return gw_cli_usage_error("unexpected argument '%s'", argv[optind]);

    struct gw_config cfg;
    char err[1024];
    if (config) {
        if (gw_config_load(&cfg, config, err, sizeof err) == -1) {
            fprintf(stderr, "guardrail: %s\n", err);
            gw_config_free(&cfg);
            return 1;
        }
    } else {
        gw_config_defaults(&cfg);
    }
    for (size_t i = 0; i < cfg.n_passthrough; i++) {
        const char *api = gw_api_generating(cfg.passthrough[i].path);
        if (api) {
            fprintf(stderr, "guardrail: passthrough: %s %s is an endpoint of the %s API, "
                            "where customers' text reaches the model: passing it through would "
                            "skip screening. Remove it from passthrough.\n",
                    cfg.passthrough[i].method, cfg.passthrough[i].path, api);
            gw_config_free(&cfg);
            return 1;
        }
    }
    int rc = 1;
    struct gw_mock *mock = NULL;
    struct gw_spool *spool = NULL;
    struct gw_admin *adm = NULL;
    struct gw_ruleset *rs = NULL;
    struct gw_server srv = {0};
    if (listen && gw_config_set_listen(&cfg, listen) == -1) {
        rc = gw_cli_usage_error("--listen must be HOST:PORT, like 127.0.0.1:8080");
        goto out;
    }
    if (upstream && gw_config_set_upstream(&cfg, upstream) == -1) {
        rc = gw_cli_usage_error("--upstream must be an http:// or https:// URL");
        goto out;
    }
    if (admin && gw_config_set_admin(&cfg, admin) == -1) {
        rc = gw_cli_usage_error("--admin must be HOST:PORT, like 127.0.0.1:9090");
        goto out;
    }
    const char *client = getenv("GUARDRAIL_HTTP_CLIENT");
    if (client && *client && gw_config_set_http_client(&cfg.provider.http_client, client) == -1) {
        fprintf(stderr, "guardrail: GUARDRAIL_HTTP_CLIENT must be auto, native or curl, not '%s'\n",
                client);
        goto out;
    }
    if (gw_config_native_mismatch(&cfg.provider)) {
        fprintf(stderr, "guardrail: the native HTTP client speaks plain http:// only, and the "
                        "provider is %s; use http_client auto or curl\n", cfg.provider.base_url);
        goto out;
    }
    if (workers >= 0)
        cfg.workers = (int)workers;
    if (rules) {
        free(cfg.rules[0]);
        for (size_t i = 1; i < cfg.n_rules; i++)
            free(cfg.rules[i]);
        cfg.rules[0] = strdup(rules);
        cfg.n_rules = 1;
    }
    for (size_t i = 0; i < n_shadow; i++) /* after --rules: they come in addition */
        if (gw_config_add_shadow_rules(&cfg, shadow[i]) == -1)
            goto out;
    gw_log_parse_level(cfg.log_level, &gw_log_level);

    struct gw_errors errs = {0};
    if (gw_ruleset_load((const char *const *)cfg.rules, cfg.n_rules, &rs, &errs) == -1) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msgs[i]);
        fprintf(stderr, "guardrail: the rules did not load; 'guardrail check' shows why\n");
        gw_errors_free(&errs);
        goto out;
    }
    for (size_t i = 0; i < n_required; i++)
        gw_config_require_pack(&cfg, required[i]);
    const char *missing = gw_server_missing_pack(&cfg, rs);
    if (missing) {
        fprintf(stderr, "guardrail: the rules have no pack '%s', which %s names; not "
                        "starting without it\n", missing,
                n_required ? "--require-pack or required_packs" : "required_packs");
        goto out;
    }
    if (gw_server_prepare_rules(&cfg, rs, err, sizeof err) == -1) {
        fprintf(stderr, "guardrail: %s\n", err);
        goto out;
    }
    gw_json_hooks_install(); /* before any worker starts: see util/json_arena.h */
    GW_LOG(GW_LOG_INFO, NULL, "rules: %zu rules in %zu packs; streamed replies hold back %u bytes",
           rs->table.n_rules, rs->table.n_packs, rs->holdback);
    /* before the mock starts: a start-up that fails after it does not end (the KPI store's
     * open has the same problem) */
    enum gw_privacy_key_source key_src;
    bool shared_store = gw_db_is_url(cfg.kpi_db);
    if (shared_store && !cfg.privacy.hash_key && !cfg.privacy.key_file) {
        fprintf(stderr, "guardrail: kpi.db is a database gateways share: set privacy.hash_key "
                        "(the same on every gateway), so that a conversation keeps one id "
                        "across the fleet\n");
        goto out;
    }
    if (gw_privacy_key_init(&cfg.privacy, shared_store ? NULL : cfg.kpi_db, &key_src, err,
                            sizeof err) == -1) {
        fprintf(stderr, "guardrail: privacy.key_file %s\n", err);
        goto out;
    }
    static const char *const key_from[] = {
        [GW_PRIVACY_KEY_SECRET] = "from privacy.hash_key",
        [GW_PRIVACY_KEY_FILE] = "from",
        [GW_PRIVACY_KEY_CREATED] = "new, written to",
        [GW_PRIVACY_KEY_RANDOM] = ("random for this run (no KPI store or privacy.key_file: the "
                                   "same conversation gets another id after a restart)"),
    };
    const char *key_at = key_src == GW_PRIVACY_KEY_FILE || key_src == GW_PRIVACY_KEY_CREATED
                             ? cfg.privacy.key_file
                             : "";
    GW_LOG(GW_LOG_INFO, NULL, "conversation ids are recorded as keyed hashes; key %s%s%s",
           key_from[key_src], *key_at ? " " : "", key_at);
    bool any_mock = cfg.provider.mock;
    for (size_t i = 0; i < cfg.n_more; i++)
        any_mock |= cfg.more[i].mock;
    /* Before the first event base (the mock's): a base made earlier cannot be woken from
     * another thread, and the mock's loop never saw the stop on SIGTERM. */
    evthread_use_pthreads();
    if (any_mock) { /* one built-in mock serves every provider of type mock */
        int port;
        mock = gw_mock_start("127.0.0.1", 0, &port);
        if (!mock)
            goto out;
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", port);
        for (size_t i = 0; i <= cfg.n_more; i++) {
            struct gw_provider *p = i == 0 ? &cfg.provider : &cfg.more[i - 1];
            if (!p->mock)
                continue;
            free(p->base_url);
            p->base_url = strdup(url);
        }
        GW_LOG(GW_LOG_INFO, NULL, "built-in mock provider on %s", url);
    }
    if (cfg.kpi_db) {
        char instance[GW_STORE_INSTANCE_MAX + 1];
        instance_name(&cfg, instance, sizeof instance);
        struct gw_spool_opts so = {
            .where = cfg.kpi_db,
            .store = {.retention_days = cfg.retention_days,
                      .instance = instance,
                      .max_tenants = cfg.privacy.max_tenants,
                      .max_models = cfg.privacy.max_models},
            .max_records = (size_t)cfg.kpi_buffer_records,
        };
        if (!(spool = gw_spool_new(&so, err, sizeof err))) {
            fprintf(stderr, "guardrail: KPI store %s\n", err);
            goto out;
        }
        GW_LOG(GW_LOG_INFO, NULL, "KPIs recorded as instance '%s'", instance);
    }
    gw_metrics_limit_tenants((unsigned)cfg.privacy.max_tenants);
    if (gw_server_init(&srv, &cfg, rs, spool ? store_sink : NULL, spool) == -1) {
        fprintf(stderr, "guardrail: could not start the server\n");
        gw_server_free(&srv);
        goto out;
    }
    /* The server holds its own references (its current ruleset, each worker's): keeping
     * this one for the process's life kept the start-up ruleset, a few tens of MB of
     * databases, in memory after every reload had replaced it. */
    gw_ruleset_unref(rs);
    rs = NULL;
    if (cfg.admin_host && !(adm = gw_admin_start(&srv))) {
        fprintf(stderr, "guardrail: could not start the admin listener\n");
        gw_server_free(&srv);
        goto out;
    }
    fprintf(stderr, "\nguardrail is screening on http://%s:%d/v1 . Try:\n\n"
                    "  curl -s http://%s:%d/v1/chat/completions -H 'Content-Type: "
                    "application/json' \\\n"
                    "    -d '{\"model\":\"mock-1\",\"messages\":[{\"role\":\"user\",\"content\":"
                    "\"My card is 4111 1111 1111 1111\"}]}'\n\n",
            cfg.listen_host, srv.port, cfg.listen_host, srv.port);
    if (adm)
        fprintf(stderr, "The dashboard for the chatbot's owners: http://%s:%d/dashboard\n\n",
                cfg.admin_host, gw_admin_port(adm));
    rc = gw_server_run(&srv);
    gw_admin_stop(adm);
    gw_server_free(&srv); /* flushes the recorder into the store */
out:
    gw_spool_free(spool);
    gw_mock_stop(mock);
    gw_ruleset_unref(rs);
    gw_config_free(&cfg);
    return rc;
}

static const char mock_help[] =
    "usage: guardrail mock [--listen HOST:PORT]\n\n"
    "Runs the built-in mock provider alone (for tests and benches): an OpenAI-compatible\n"
    "server at http://HOST:PORT/v1. See gateway/mock/mock.h for how a request steers it.\n\n"
    "  -l, --listen HOST:PORT   address (default 127.0.0.1:9000)\n"
    "  -h, --help               show this help\n";

int gw_cmd_mock(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'}, {0}};
    struct gw_config cfg;
    gw_config_defaults(&cfg);
    gw_config_set_listen(&cfg, "127.0.0.1:9000");
    int c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "l:h", opts, NULL)) != -1) {
        if (c == 'l' && gw_config_set_listen(&cfg, optarg) == 0)
            continue;
        gw_config_free(&cfg);
        if (c == 'h')
            return fputs(mock_help, stdout), 0;
        if (c == 'l')
            return gw_cli_usage_error("--listen must be HOST:PORT");
        return fputs(mock_help, stderr), 2;
    }
    rc = gw_mock_run(cfg.listen_host, cfg.listen_port);
    gw_config_free(&cfg);
    return rc;
}
