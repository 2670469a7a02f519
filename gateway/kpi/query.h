/* The KPI queries: what the store holds for a range, read into structs. The admin
 * listener renders them as JSON (kpi/render.h); `guardrail report` writes them as a page.
 * Every figure is computed here once, from the rollups, so the API, the dashboard and the
 * report cannot disagree. */
#ifndef GW_KPI_QUERY_H
#define GW_KPI_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kpi/store.h"
#include "kpi/value.h"
#include "screen/rules.h"

enum { GW_KPI_PROMPT, GW_KPI_REPLY, GW_KPI_DIRS };
enum { GW_KPI_GATEWAY, GW_KPI_PROVIDER, GW_KPI_HISTS };

/* What to read: [from, to), and optional cuts (NULL or "": all). */
struct gw_kpi_filter {
    int64_t from, to;
    const char *tenant, *model, *instance;
};

/* What requests did in one direction for one category (or one rule). */
struct gw_kpi_outcome {
    int64_t requests, blocked, redacted, flagged;
    int64_t findings, kept; /* values found, and of them kept from the other side */
};

struct gw_kpi_rule {
    char rule[64];
    char title[72]; /* the pack's plain name; "" when it has none */
    enum gw_category category;
    int dir; /* GW_KPI_PROMPT or GW_KPI_REPLY */
    struct gw_kpi_outcome n;
};

struct gw_kpi_signal {
    char rule[64];
    char label[96];        /* in plain words: "asking for a human" */
    int64_t conversations; /* distinct conversations with the signal */
    double per_1000;       /* of all conversations, to 0.1 */
};

/* The KPIs of one range. */
struct gw_kpi_totals {
    int64_t requests, clean, lone, provider_calls, errors, conversations;
    int64_t verdict[GW_KPI_DIRS][4]; /* requests by verdict (enum gw_action); [ALLOW] unused */
    int64_t prompt_tokens, completion_tokens, usage_requests;
    double ms_sum[GW_KPI_HISTS];
    struct gw_kpi_outcome cat[GW_KPI_DIRS][GW_CAT__COUNT];
    int64_t hist[GW_KPI_HISTS][GW_STORE_HIST_BUCKETS];
    int64_t hist_n[GW_KPI_HISTS];
    struct gw_kpi_rule *rules; /* every rule that fired, most requests first */
    size_t n_rules;
    struct gw_kpi_signal *signals; /* most conversations first */
    size_t n_signals;
    /* rules in shadow: what they would have done, had they acted (blocked, redacted,
     * flagged: requests; kept: values that would have been kept), most requests first */
    struct gw_kpi_rule *shadow;
    size_t n_shadow;
    int64_t signal_conversations; /* distinct conversations with any cx signal */
};

/* One point of the time series: the step that starts at t. Percentiles are < 0 when the
 * step had no request. */
struct gw_kpi_point {
    int64_t t;
    int64_t requests, conversations, clean, prompts_blocked, prompts_redacted,
        replies_blocked, replies_redacted, flagged;
    double p50[GW_KPI_HISTS], p99[GW_KPI_HISTS];
};

struct gw_kpi_names {
    char **v;
    size_t n;
};

/* What /api/kpis and the report show: a range and the previous one of the same length. */
struct gw_kpis {
    struct gw_kpi_filter f; /* as asked, "" cuts made NULL */
    int64_t step;
    struct gw_kpi_totals cur, prev;
    struct gw_kpi_point *series;
    size_t n_points;
    /* values seen in the range, for the filters: sorted */
    struct gw_kpi_names tenants, models, instances;
};

/* The step a range of span ms gets when none is asked: about 60 points. One policy, for
 * the API and the report. */
int64_t gw_kpi_auto_step(int64_t span);
/* Reads the KPIs of f and of the period before it, with a series of step ms (0: auto;
 * rounded up to whole minutes; at most 2000 points). Rollups are per minute: a minute
 * counts when it starts inside the range. 0, or -1 with gw_store_error (kind
 * GW_STORE_BAD_REQUEST for an empty range or a step too small). k is freed by
 * gw_kpis_free either way. */
int gw_kpi_query(struct gw_store *s, const struct gw_kpi_filter *f, int64_t step,
                 struct gw_kpis *k);
void gw_kpis_free(struct gw_kpis *k);

/* The figures that have a change against the previous period, in the order the API
 * lists them. */
enum gw_kpi_figure {
    GW_FIG_REQUESTS,
    GW_FIG_CONVERSATIONS,
    GW_FIG_CLEAN_RATE, /* a rate: its change is in points */
    GW_FIG_PREVENTED,
    GW_FIG_PROMPTS_BLOCKED,
    GW_FIG_REPLIES_BLOCKED,
    GW_FIG_REPLIES_REDACTED,
    GW_FIG_PREVENTED_PII,
    GW_FIG_PREVENTED_SECRET,
    GW_FIG_PREVENTED_INJECTION,
    GW_FIG_PREVENTED_UNSAFE,
    GW_FIG_PREVENTED_BRAND,
    GW_FIG_PII_KEPT,
    GW_FIG_SECRETS_KEPT,
    GW_FIG_CX_SIGNALS,
    GW_FIG_GATEWAY_P50,
    GW_FIG_GATEWAY_P99,
    GW_FIG_PROVIDER_P50,
    GW_FIG__COUNT
};
/* A figure of t (latency: ms to 0.001; none: 0), and its name in the API. */
double gw_kpi_figure(const struct gw_kpi_totals *t, enum gw_kpi_figure f);
const char *gw_kpi_figure_name(enum gw_kpi_figure f);

/* Share of requests passed with nothing found, to 0.0001 (0 with no request). */
double gw_kpi_clean_rate(const struct gw_kpi_totals *t);
/* Requests blocked or redacted for category c, both directions. */
int64_t gw_kpi_prevented(const struct gw_kpi_totals *t, enum gw_category c);
/* Nearest-rank percentile q (0..1) of histogram kind, in ms; -1 when empty. */
double gw_kpi_percentile(const struct gw_kpi_totals *t, int kind, double q);
/* The rules that acted on most requests, cx signals aside: up to max of them in out.
 * Returns how many. */
size_t gw_kpi_top_rules(const struct gw_kpi_totals *t, const struct gw_kpi_rule **out,
                        size_t max);

/* Incidents, newest first, paged by id. */
struct gw_incident {
    int64_t id, ts_ms, value_length;
    bool shadow; /* a rule in shadow: action is what it would have done */
    char instance[GW_STORE_INSTANCE_MAX + 1], request_id[72], tenant[72], model[128],
        conversation[72], direction[8], category[16], rule[64], severity[16], action[16],
        excerpt[128], value_hash[17], title[72];
};
struct gw_incident_page {
    struct gw_incident *v;
    size_t n;
    int64_t next_before_id; /* 0: no further page */
};
/* Which incidents: those of rules that acted, of rules in shadow, or both. */
enum gw_incident_kind { GW_INCIDENTS_ALL, GW_INCIDENTS_ACTED, GW_INCIDENTS_SHADOW };
/* The latest incidents of f (from = to = 0: any time), category (NULL: all) and kind,
 * before id before_id (0: from the newest); limit is clamped to [1, 500]. 0/-1; p is
 * freed by gw_incident_page_free either way. */
int gw_incident_query(struct gw_store *s, const struct gw_kpi_filter *f, const char *category,
                      enum gw_incident_kind kind, int limit, int64_t before_id,
                      struct gw_incident_page *p);
void gw_incident_page_free(struct gw_incident_page *p);

/* What the range is worth by the assumptions v: the counts it rests on (c; its models are
 * freed by gw_kpi_value_free) and the amounts (r). 0/-1. */
int gw_kpi_value(struct gw_store *s, const struct gw_kpi_filter *f, const struct gw_value *v,
                 struct gw_value_counts *c, struct gw_value_result *r);
void gw_kpi_value_free(struct gw_value_counts *c);

#endif
