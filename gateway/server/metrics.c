#include "server/metrics.h"

#define GW_STR_(x) #x
#define GW_STR(x) GW_STR_(x)

#include <dirent.h>
#include <sys/resource.h>
#include <pthread.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "util/siphash.h"

#ifndef GW_COMMIT
#define GW_COMMIT "unknown"
#endif

/* Upper bounds of the latency buckets, in milliseconds (+Inf after the last). */
static const double bucket_ms[GW_LAT_BUCKETS] = {
    0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
    25000, 60000, 120000 /* up to provider.timeout_ms's default */};

/* An append-only registry of names: readers take no lock (a slot, once published, never
 * changes); writers, only when a name is new, take the mutex. Slots 0 .. n-1 are names;
 * slot cap - 1 is "other": every name past the cap, and the name "other" itself, so that
 * a tenant that is "other" (kpi/privacy.h) and the overflow are one label. */
struct registry {
    pthread_mutex_t mu;
    _Atomic unsigned n;
    unsigned cap;
    char names[GW_RULE_SLOTS][72];
    unsigned char category[GW_RULE_SLOTS], action[GW_RULE_SLOTS];
};

static struct registry tenants = {.mu = PTHREAD_MUTEX_INITIALIZER, .cap = 32};
static struct registry rules = {.mu = PTHREAD_MUTEX_INITIALIZER, .cap = GW_RULE_SLOTS};

void gw_metrics_limit_tenants(unsigned max_tenants)
{
    pthread_mutex_lock(&tenants.mu);
    tenants.cap = (max_tenants < GW_TENANT_SLOTS - 1 ? max_tenants : GW_TENANT_SLOTS - 1) + 1;
    pthread_mutex_unlock(&tenants.mu);
}

static unsigned slot_of(struct registry *reg, const char *name, unsigned category,
                        unsigned action)
{
    if (strcmp(name, "other") == 0)
        return reg->cap - 1;
    unsigned n = atomic_load_explicit(&reg->n, memory_order_acquire);
    for (unsigned i = 0; i < n; i++)
        if (strcmp(reg->names[i], name) == 0)
            return i;
    pthread_mutex_lock(&reg->mu);
    n = atomic_load_explicit(&reg->n, memory_order_relaxed);
    unsigned i;
    for (i = 0; i < n && strcmp(reg->names[i], name) != 0; i++)
        ;
    if (i == n) {
        if (n + 1 >= reg->cap) {
            i = reg->cap - 1; /* full: everything further shares the last slot */
        } else {
            snprintf(reg->names[i], sizeof reg->names[i], "%s", name);
            reg->category[i] = (unsigned char)category;
            reg->action[i] = (unsigned char)action;
            atomic_store_explicit(&reg->n, n + 1, memory_order_release);
        }
    }
    pthread_mutex_unlock(&reg->mu);
    return i;
}

/* The k-th slot to render of a registry with n names: the names, then "other". */
static unsigned render_slot(const struct registry *reg, unsigned k, unsigned n, const char **name)
{
    *name = k < n ? reg->names[k] : "other";
    return k < n ? k : reg->cap - 1;
}

static void add(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static void observe(_Atomic uint64_t *buckets, _Atomic uint64_t *sum_us, double ms)
{
    int b = 0;
    while (b < GW_LAT_BUCKETS && ms > bucket_ms[b])
        b++;
    add(&buckets[b], 1);
    add(sum_us, (uint64_t)(ms * 1000.0));
}

void gw_metrics_count(struct gw_metrics *m, const struct gw_request_rec *r)
{
    unsigned t = slot_of(&tenants, r->tenant, 0, 0);
    enum gw_action v = r->prompt_verdict > r->reply_verdict ? r->prompt_verdict : r->reply_verdict;
    add(&m->requests[t][r->stream][v], 1);
    for (size_t i = 0; i < r->n_findings; i++) {
        const struct gw_finding_rec *f = &r->findings[i];
        if (f->shadow) /* did nothing: the KPI store shows what it would have done */
            continue;
        unsigned s = slot_of(&rules, f->rule, f->category, f->action);
        add(&m->findings[t][s][f->direction == GW_DIR_REPLY], 1 + f->more);
    }
    observe(m->added_ms_bucket, &m->added_us_sum, r->gateway_ms);
    if (r->provider_called) {
        add(&m->provider_calls, 1);
        observe(m->provider_ms_bucket, &m->provider_us_sum, r->provider_ms);
    }
    if (r->prompt_tokens > 0)
        add(&m->tokens[0], (uint64_t)r->prompt_tokens);
    if (r->completion_tokens > 0)
        add(&m->tokens[1], (uint64_t)r->completion_tokens);
    add(&m->screen_texts[0], r->prompt_texts);
    add(&m->screen_texts[1], r->prompt_texts_cached);
    add(&m->findings_more, r->findings_more);
    add(&m->over_budget, r->over_budget);
}

void gw_metrics_answer(struct gw_metrics *m, const struct gw_api *api, int status)
{
    unsigned a = 0;
    while (a < GW_METRIC_APIS - 1 && gw_apis[a] && gw_apis[a] != api)
        a++;
    if (a < GW_METRIC_APIS - 1 && !gw_apis[a])
        a = GW_METRIC_APIS - 1;
    if (status >= 100 && status < 600)
        add(&m->status[a][status / 100], 1);
}

void gw_metrics_first_byte(struct gw_metrics *m, double ms)
{
    observe(m->ttft_ms_bucket, &m->ttft_us_sum, ms);
}

static void hash_str(uint64_t *h, const char *s)
{
    static const uint8_t k[16] = "guardrail rules"; /* fixed: the hash is the same each run */
    *h = (*h ^ gw_siphash(k, s ? s : "", s ? strlen(s) + 1 : 0)) * 0x100000001b3ULL;
}

uint64_t gw_metrics_rules_hash(const struct gw_rule_table *t)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    char num[64];
    for (size_t i = 0; i < t->n_rules; i++) {
        const struct gw_rule *r = &t->rules[i];
        snprintf(num, sizeof num, "%d %d %u", (int)r->category, (int)r->action, r->directions);
        hash_str(&h, r->id);
        hash_str(&h, r->pack);
        hash_str(&h, num);
        hash_str(&h, r->replacement);
        hash_str(&h, r->message);
    }
    for (size_t i = 0; i < t->n_patterns; i++) {
        const struct gw_pattern *p = &t->patterns[i];
        snprintf(num, sizeof num, "%u %u %d", p->rule, p->hs_flags, p->allow);
        hash_str(&h, p->expr);
        hash_str(&h, num);
    }
    return h;
}

static uint64_t get(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* Label values are names we registered: escape backslash, quote and newline anyway. */
static void label(struct gw_buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            gw_buf_printf(out, "\\%c", *s);
        else if (*s == '\n')
            gw_buf_puts(out, "\\n");
        else
            gw_buf_append(out, s, 1);
    }
}

static void histogram(struct gw_buf *out, const char *name, const char *help,
                      struct gw_metrics *const *m, int n, size_t buckets_off, size_t sum_off)
{
    gw_buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0, sum_us = 0;
    for (int b = 0; b <= GW_LAT_BUCKETS; b++) {
        for (int w = 0; w < n; w++)
            cum += get((const _Atomic uint64_t *)((const char *)m[w] + buckets_off) + b);
        if (b < GW_LAT_BUCKETS)
            gw_buf_printf(out, "%s_bucket{le=\"%.10g\"} %llu\n", name, bucket_ms[b] / 1000.0,
                          (unsigned long long)cum);
        else
            gw_buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    for (int w = 0; w < n; w++)
        sum_us += get((const _Atomic uint64_t *)((const char *)m[w] + sum_off));
    gw_buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name, (double)sum_us / 1e6, name,
                  (unsigned long long)cum);
}

/* The label of API slot a: its route without "/v1/", '/' as '_' ("chat_completions"). */
static void api_label(unsigned a, char *out, size_t outlen)
{
    const char *route = a < GW_METRIC_APIS - 1 && gw_apis[a] ? gw_apis[a]->route : NULL;
    if (!route) {
        snprintf(out, outlen, "other");
        return;
    }
    if (strncmp(route, "/v1/", 4) == 0)
        route += 4;
    snprintf(out, outlen, "%s", route);
    for (char *c = out; *c; c++)
        if (*c == '/')
            *c = '_';
}

/* The process's own figures, by the names every Prometheus client library gives them,
 * from /proc (Linux). A figure that cannot be read is left out. */
static void process_metrics(struct gw_buf *out)
{
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/stat", "r");
    char line[1024];
    if (f && fgets(line, sizeof line, f)) {
        /* after the command name in parentheses (which may hold spaces): field 3 on */
        const char *p = strrchr(line, ')');
        unsigned long utime = 0, stime = 0;
        unsigned long long start = 0;
        long rss = 0;
        if (p && tick > 0 &&
            sscanf(p + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d "
                   "%*d %*d %llu %*u %ld",
                   &utime, &stime, &start, &rss) == 4) {
            gw_buf_printf(out,
                          "# HELP process_cpu_seconds_total Total user and system CPU "
                          "time spent in seconds.\n"
                          "# TYPE process_cpu_seconds_total counter\n"
                          "process_cpu_seconds_total %.2f\n"
                          "# HELP process_resident_memory_bytes Resident memory size in "
                          "bytes.\n# TYPE process_resident_memory_bytes gauge\n"
                          "process_resident_memory_bytes %lld\n",
                          (double)(utime + stime) / (double)tick, (long long)rss * page);
            FILE *st = fopen("/proc/stat", "r");
            unsigned long long btime = 0;
            while (st && fgets(line, sizeof line, st))
                if (sscanf(line, "btime %llu", &btime) == 1)
                    break;
            if (st)
                fclose(st);
            if (btime)
                gw_buf_printf(out,
                              "# HELP process_start_time_seconds Start time of the process "
                              "since unix epoch in seconds.\n"
                              "# TYPE process_start_time_seconds gauge\n"
                              "process_start_time_seconds %.2f\n",
                              (double)btime + (double)start / (double)tick);
        }
    }
    if (f)
        fclose(f);
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        long fds = -1; /* the descriptor opendir holds */
        while (readdir(d))
            fds++;
        closedir(d);
        fds -= 2; /* "." and ".." */
        gw_buf_printf(out,
                      "# HELP process_open_fds Number of open file descriptors.\n"
                      "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n",
                      fds);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        gw_buf_printf(out,
                      "# HELP process_max_fds Maximum number of open file descriptors.\n"
                      "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n",
                      (unsigned long long)rl.rlim_cur);
}

void gw_metrics_render(struct gw_buf *out, struct gw_metrics *const *m, int n,
                       const struct gw_metrics_server *srv)
{
    static const char *const verdicts[] = {"allow", "flag", "redact", "block"};
    unsigned nt = atomic_load_explicit(&tenants.n, memory_order_acquire);
    unsigned nr = atomic_load_explicit(&rules.n, memory_order_acquire);

    gw_buf_puts(out, "# HELP guardrail_requests_total Chat requests screened, by tenant, "
                     "streaming and verdict (the strongest action on prompt or reply).\n"
                     "# TYPE guardrail_requests_total counter\n");
    for (unsigned k = 0; k <= nt; k++) {
        const char *tname;
        unsigned t = render_slot(&tenants, k, nt, &tname);
        for (int s = 0; s < 2; s++)
            for (int v = 0; v < 4; v++) {
                uint64_t sum = 0;
                for (int w = 0; w < n; w++)
                    sum += get(&m[w]->requests[t][s][v]);
                if (!sum)
                    continue;
                gw_buf_puts(out, "guardrail_requests_total{tenant=\"");
                label(out, tname);
                gw_buf_printf(out, "\",stream=\"%s\",verdict=\"%s\"} %llu\n",
                              s ? "true" : "false", verdicts[v], (unsigned long long)sum);
            }
    }

    gw_buf_puts(out, "# HELP guardrail_findings_total Rule findings, by direction, category, "
                     "rule, action and tenant.\n# TYPE guardrail_findings_total counter\n");
    for (unsigned k = 0; k <= nt; k++)
        for (unsigned j = 0; j <= nr; j++)
            for (int d = 0; d < 2; d++) {
                const char *tname, *rname;
                unsigned t = render_slot(&tenants, k, nt, &tname);
                unsigned r = render_slot(&rules, j, nr, &rname);
                uint64_t sum = 0;
                for (int w = 0; w < n; w++)
                    sum += get(&m[w]->findings[t][r][d]);
                if (!sum)
                    continue;
                gw_buf_printf(out, "guardrail_findings_total{direction=\"%s\",category=\"%s\","
                                   "rule=\"", d ? "reply" : "prompt",
                              gw_category_name((enum gw_category)rules.category[r]));
                label(out, rname);
                gw_buf_printf(out, "\",action=\"%s\",tenant=\"",
                              gw_action_name((enum gw_action)rules.action[r]));
                label(out, tname);
                gw_buf_printf(out, "\"} %llu\n", (unsigned long long)sum);
            }

    gw_buf_puts(out, "# HELP guardrail_responses_total Answers to clients, by the API of their "
                     "route (other: none) and status class; those the gateway gave before or "
                     "without calling the provider included (499: the client went away).\n"
                     "# TYPE guardrail_responses_total counter\n");
    for (unsigned a = 0; a < GW_METRIC_APIS; a++) {
        if (a < GW_METRIC_APIS - 1 && !gw_apis[a])
            a = GW_METRIC_APIS - 1;
        char name[32];
        api_label(a, name, sizeof name);
        for (int c = 1; c < 6; c++) {
            uint64_t sum = 0;
            for (int w = 0; w < n; w++)
                sum += get(&m[w]->status[a][c]);
            gw_buf_printf(out, "guardrail_responses_total{api=\"%s\",code=\"%dxx\"} %llu\n", name,
                          c, (unsigned long long)sum);
        }
    }
    histogram(out, "guardrail_added_latency_seconds",
              "Time the gateway added to a request (total minus the provider call).", m, n,
              offsetof(struct gw_metrics, added_ms_bucket),
              offsetof(struct gw_metrics, added_us_sum));
    histogram(out, "guardrail_provider_latency_seconds", "Duration of provider calls.", m, n,
              offsetof(struct gw_metrics, provider_ms_bucket),
              offsetof(struct gw_metrics, provider_us_sum));
    histogram(out, "guardrail_stream_first_byte_seconds",
              "Streamed requests: time from the provider call's start to the first byte sent "
              "to the client.",
              m, n, offsetof(struct gw_metrics, ttft_ms_bucket),
              offsetof(struct gw_metrics, ttft_us_sum));
    uint64_t tok[2] = {0, 0};
    for (int w = 0; w < n; w++)
        for (int k = 0; k < 2; k++)
            tok[k] += get(&m[w]->tokens[k]);
    gw_buf_printf(out, "# HELP guardrail_tokens_total Tokens reported by the provider's usage.\n"
                       "# TYPE guardrail_tokens_total counter\n"
                       "guardrail_tokens_total{kind=\"prompt\"} %llu\n"
                       "guardrail_tokens_total{kind=\"completion\"} %llu\n",
                  (unsigned long long)tok[0], (unsigned long long)tok[1]);
    uint64_t texts[2] = {0, 0};
    for (int w = 0; w < n; w++)
        for (int k = 0; k < 2; k++)
            texts[k] += get(&m[w]->screen_texts[k]);
    gw_buf_printf(out, "# HELP guardrail_screen_texts_total Prompt texts screened (messages and "
                       "content parts).\n"
                       "# TYPE guardrail_screen_texts_total counter\n"
                       "guardrail_screen_texts_total %llu\n"
                       "# HELP guardrail_screen_cache_hits_total Prompt texts known to be clean "
                       "from an earlier turn, not scanned again.\n"
                       "# TYPE guardrail_screen_cache_hits_total counter\n"
                       "guardrail_screen_cache_hits_total %llu\n",
                  (unsigned long long)texts[0], (unsigned long long)texts[1]);
    uint64_t more = 0, over = 0;
    for (int w = 0; w < n; w++) {
        more += get(&m[w]->findings_more);
        over += get(&m[w]->over_budget);
    }
    gw_buf_printf(out, "# HELP guardrail_findings_over_cap_total Findings past a request's cap "
                       "of " GW_STR(GW_REC_FINDINGS_MAX) ": acted on, counted here, written to "
                       "the incident log as one line.\n"
                       "# TYPE guardrail_findings_over_cap_total counter\n"
                       "guardrail_findings_over_cap_total %llu\n"
                       "# HELP guardrail_screen_over_budget_total Requests with a text that "
                       "matched too often to be screened in full (fail_mode applied).\n"
                       "# TYPE guardrail_screen_over_budget_total counter\n"
                       "guardrail_screen_over_budget_total %llu\n",
                  (unsigned long long)more, (unsigned long long)over);
    gw_buf_printf(out,
                  "# HELP guardrail_reload_packs_removed_total Rule packs a reload found "
                  "gone (their rules stopped screening; the log names them).\n"
                  "# TYPE guardrail_reload_packs_removed_total counter\n"
                  "guardrail_reload_packs_removed_total %u\n",
                  srv->packs_removed);
    gw_buf_printf(out,
                  "# HELP guardrail_reloads_total Rule reloads (SIGHUP), by result: loaded, "
                  "failed (the rules did not load) or missing_pack (a pack required_packs "
                  "names was not among them); after a failure the old rules stay.\n"
                  "# TYPE guardrail_reloads_total counter\n"
                  "guardrail_reloads_total{result=\"loaded\"} %llu\n"
                  "guardrail_reloads_total{result=\"failed\"} %llu\n"
                  "guardrail_reloads_total{result=\"missing_pack\"} %llu\n"
                  "# HELP guardrail_rules_info The active ruleset: a hash of its rules and "
                  "patterns (equal on two gateways: the same rules).\n"
                  "# TYPE guardrail_rules_info gauge\n"
                  "guardrail_rules_info{hash=\"%016llx\"} 1\n"
                  "# HELP guardrail_build_info The gateway's version and the commit it "
                  "was built from.\n# TYPE guardrail_build_info gauge\n"
                  "guardrail_build_info{version=\"%s\",commit=\"",
                  (unsigned long long)srv->reloads[0], (unsigned long long)srv->reloads[1],
                  (unsigned long long)srv->reloads[2], (unsigned long long)srv->rules_hash,
                  GW_VERSION);
    label(out, GW_COMMIT);
    gw_buf_puts(out, "\"} 1\n");
    gw_buf_printf(out,
                  "# HELP guardrail_rules_loaded Rules in the active ruleset.\n"
                  "# TYPE guardrail_rules_loaded gauge\nguardrail_rules_loaded %u\n"
                  "# HELP guardrail_rulesets_live Compiled rulesets in memory: the active "
                  "one and those requests begun before a reload still hold.\n"
                  "# TYPE guardrail_rulesets_live gauge\nguardrail_rulesets_live %u\n"
                  "# HELP guardrail_workers_running Worker threads serving requests.\n"
                  "# TYPE guardrail_workers_running gauge\nguardrail_workers_running %d\n",
                  srv->rules_loaded, srv->rulesets_live, srv->workers_running);
    process_metrics(out);
}
