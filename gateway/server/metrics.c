#include "server/metrics.h"

#define GW_STR_(x) #x
#define GW_STR(x) GW_STR_(x)

#include <pthread.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

/* Upper bounds of the latency buckets, in milliseconds (+Inf after the last). */
static const double bucket_ms[GW_LAT_BUCKETS] = {0.1, 0.25, 0.5, 1,   2.5,  5,    10,   25,
                                                 50,  100,  250, 500, 1000, 2500, 5000, 10000};

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
        unsigned s = slot_of(&rules, f->rule, f->category, f->action);
        add(&m->findings[t][s][f->direction == GW_DIR_REPLY], 1 + f->more);
    }
    if (r->status >= 100 && r->status < 600)
        add(&m->status[r->status / 100], 1);
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
            gw_buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bucket_ms[b] / 1000.0,
                          (unsigned long long)cum);
        else
            gw_buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    for (int w = 0; w < n; w++)
        sum_us += get((const _Atomic uint64_t *)((const char *)m[w] + sum_off));
    gw_buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name, (double)sum_us / 1e6, name,
                  (unsigned long long)cum);
}

void gw_metrics_render(struct gw_buf *out, struct gw_metrics *const *m, int n,
                       unsigned rules_loaded, unsigned rulesets_live, unsigned packs_removed,
                       int workers_running)
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

    gw_buf_puts(out, "# HELP guardrail_responses_total Responses to clients by status class.\n"
                     "# TYPE guardrail_responses_total counter\n");
    for (int c = 1; c < 6; c++) {
        uint64_t sum = 0;
        for (int w = 0; w < n; w++)
            sum += get(&m[w]->status[c]);
        gw_buf_printf(out, "guardrail_responses_total{code=\"%dxx\"} %llu\n", c,
                      (unsigned long long)sum);
    }
    histogram(out, "guardrail_added_latency_seconds",
              "Time the gateway added to a request (total minus the provider call).", m, n,
              offsetof(struct gw_metrics, added_ms_bucket),
              offsetof(struct gw_metrics, added_us_sum));
    histogram(out, "guardrail_provider_latency_seconds", "Duration of provider calls.", m, n,
              offsetof(struct gw_metrics, provider_ms_bucket),
              offsetof(struct gw_metrics, provider_us_sum));
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
    gw_buf_printf(out, "# HELP guardrail_reload_packs_removed_total Rule packs a reload found "
                       "gone (their rules stopped screening; the log names them).\n"
                       "# TYPE guardrail_reload_packs_removed_total counter\n"
                       "guardrail_reload_packs_removed_total %u\n",
                  packs_removed);
    gw_buf_printf(out, "# HELP guardrail_rules_loaded Rules in the active ruleset.\n"
                       "# TYPE guardrail_rules_loaded gauge\nguardrail_rules_loaded %u\n"
                       "# HELP guardrail_rulesets_live Compiled rulesets in memory: the active "
                       "one and those requests begun before a reload still hold.\n"
                       "# TYPE guardrail_rulesets_live gauge\nguardrail_rulesets_live %u\n"
                       "# HELP guardrail_workers_running Worker threads serving requests.\n"
                       "# TYPE guardrail_workers_running gauge\nguardrail_workers_running %d\n",
                  rules_loaded, rulesets_live, workers_running);
}
