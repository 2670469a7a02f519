/* kpi/query.h: the readers, in the SQL both backends speak (kpi/db.h), into structs. */
#include "kpi/query.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#define MINUTE_MS 60000LL
#define DAY_MS 86400000LL
#define MAX_SERIES 2000

/* Every range query takes ?1 from, ?2 to, ?3 tenant, ?4 model, ?5 instance (NULL: all)
 * and, for series, ?6 step. */
#define RANGE_WHERE                                                                                \
    " WHERE minute_ms >= ?1 AND minute_ms < ?2 AND (?3 IS NULL OR tenant = ?3)"                    \
    " AND (?4 IS NULL OR model = ?4) AND (?5 IS NULL OR instance = ?5)"

struct q {
    int64_t from, to, step;
    const char *tenant, *model, *instance;
};

static double round_to(double v, double unit)
{
    return round(v / unit) * unit;
}

static int db_fail(struct gw_store *s)
{
    gw_store_fail(s, GW_STORE_FAILED, "%s", gw_db_error(gw_store_db(s)));
    return -1;
}

static int oom(struct gw_store *s)
{
    gw_store_fail(s, GW_STORE_FAILED, "out of memory");
    return -1;
}

static struct gw_db_stmt *prepare(struct gw_store *s, const char *sql, const struct q *q)
{
    struct gw_db_stmt *st = gw_db_prepare(gw_store_db(s), sql, false);
    if (!st) {
        db_fail(s);
        return NULL;
    }
    gw_db_bind_int(st, 1, q->from);
    gw_db_bind_int(st, 2, q->to);
    gw_db_bind_text(st, 3, q->tenant);
    gw_db_bind_text(st, 4, q->model);
    gw_db_bind_text(st, 5, q->instance);
    if (strstr(sql, "?6"))
        gw_db_bind_int(st, 6, q->step);
    return st;
}

/* Finishes a query loop: -1 unless the last step said done. */
static int finish(struct gw_store *s, struct gw_db_stmt *st, int rc)
{
    if (rc == -1)
        db_fail(s);
    gw_db_finalize(st);
    return rc == 0 ? 0 : -1;
}

/* Runs a query of one row of integers into out[0..n). */
static int one_row(struct gw_store *s, const char *sql, const struct q *q, int64_t *out, int n)
{
    struct gw_db_stmt *st = prepare(s, sql, q);
    if (!st)
        return -1;
    int rc = gw_db_step(st);
    if (rc == 1) {
        for (int i = 0; i < n; i++)
            out[i] = gw_db_int(st, i);
        rc = gw_db_step(st);
    }
    return finish(s, st, rc);
}

static const char *text_col(struct gw_db_stmt *st, int i)
{
    const char *t = gw_db_text(st, i);
    return t ? t : "";
}

static int cat_index(const char *name)
{
    for (int c = 0; c < GW_CAT__COUNT; c++)
        if (strcmp(name, gw_category_name((enum gw_category)c)) == 0)
            return c;
    return -1;
}

static int dir_of(const char *name)
{
    return strcmp(name, "reply") == 0 ? GW_KPI_REPLY : GW_KPI_PROMPT;
}

/* A plain-words name of a cx rule: the known ones, else the id after "cx.". */
static void cx_label(const char *rule, char *out, size_t outlen)
{
    static const struct {
        const char *id, *label;
    } known[] = {{"cx.frustration", "frustration"},
                 {"cx.human", "asking for a human"},
                 {"cx.cancel", "intent to cancel"},
                 {"cx.praise", "praise"}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(rule, known[i].id) == 0) {
            snprintf(out, outlen, "%s", known[i].label);
            return;
        }
    snprintf(out, outlen, "%s", strncmp(rule, "cx.", 3) == 0 ? rule + 3 : rule);
    for (char *p = out; *p; p++)
        if (*p == '_' || *p == '.' || *p == '-')
            *p = ' ';
}

static int load_minutes(struct gw_store *s, const struct q *q, struct gw_kpi_totals *t)
{
    struct gw_db_stmt *st = prepare(
        s,
        "SELECT coalesce(sum(requests), 0), coalesce(sum(clean), 0), coalesce(sum(lone), 0),"
        " coalesce(sum(provider_calls), 0), coalesce(sum(errors), 0),"
        " coalesce(sum(prompt_flagged), 0), coalesce(sum(prompt_redacted), 0),"
        " coalesce(sum(prompt_blocked), 0), coalesce(sum(reply_flagged), 0),"
        " coalesce(sum(reply_redacted), 0), coalesce(sum(reply_blocked), 0),"
        " coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0),"
        " coalesce(sum(usage_requests), 0), coalesce(sum(gateway_ms_sum), 0),"
        " coalesce(sum(provider_ms_sum), 0) FROM kpi_minute" RANGE_WHERE,
        q);
    if (!st)
        return -1;
    int rc = gw_db_step(st);
    if (rc == 1) {
        int i = 0;
        t->requests = gw_db_int(st, i++);
        t->clean = gw_db_int(st, i++);
        t->lone = gw_db_int(st, i++);
        t->provider_calls = gw_db_int(st, i++);
        t->errors = gw_db_int(st, i++);
        for (int d = 0; d < GW_KPI_DIRS; d++)
            for (int a = GW_ACTION_FLAG; a <= GW_ACTION_BLOCK; a++)
                t->verdict[d][a] = gw_db_int(st, i++);
        t->prompt_tokens = gw_db_int(st, i++);
        t->completion_tokens = gw_db_int(st, i++);
        t->usage_requests = gw_db_int(st, i++);
        t->ms_sum[GW_KPI_GATEWAY] = gw_db_double(st, i++);
        t->ms_sum[GW_KPI_PROVIDER] = gw_db_double(st, i++);
        rc = gw_db_step(st);
    }
    return finish(s, st, rc);
}

/* An outcome from six columns from col: requests, blocked, redacted, flagged, findings,
 * kept. */
static struct gw_kpi_outcome outcome_at(struct gw_db_stmt *st, int col)
{
    return (struct gw_kpi_outcome){gw_db_int(st, col),     gw_db_int(st, col + 1),
                                   gw_db_int(st, col + 2), gw_db_int(st, col + 3),
                                   gw_db_int(st, col + 4), gw_db_int(st, col + 5)};
}

static int load_categories(struct gw_store *s, const struct q *q, struct gw_kpi_totals *t)
{
    struct gw_db_stmt *st =
        prepare(s,
                "SELECT direction, category, sum(requests), sum(blocked), sum(redacted),"
                " sum(flagged), sum(findings), sum(kept) FROM kpi_category" RANGE_WHERE
                " GROUP BY direction, category",
                q);
    if (!st)
        return -1;
    int rc;
    while ((rc = gw_db_step(st)) == 1) {
        int c = cat_index(text_col(st, 1));
        if (c < 0)
            continue;
        t->cat[dir_of(text_col(st, 0))][c] = outcome_at(st, 2);
    }
    return finish(s, st, rc);
}

static int load_latency(struct gw_store *s, const struct q *q, struct gw_kpi_totals *t)
{
    struct gw_db_stmt *st = prepare(
        s, "SELECT kind, bucket, sum(count) FROM kpi_latency" RANGE_WHERE " GROUP BY kind, bucket",
        q);
    if (!st)
        return -1;
    int rc;
    while ((rc = gw_db_step(st)) == 1) {
        int64_t k = gw_db_int(st, 0), b = gw_db_int(st, 1);
        if (k < 0 || k >= GW_KPI_HISTS || b < 0 || b >= GW_STORE_HIST_BUCKETS)
            continue;
        t->hist[k][b] += gw_db_int(st, 2);
        t->hist_n[k] += gw_db_int(st, 2);
    }
    return finish(s, st, rc);
}

/* Every rule of table (kpi_rule, or kpi_shadow) in the range, into *out. */
static int load_rules(struct gw_store *s, const struct q *q, const char *table,
                      struct gw_kpi_rule **out, size_t *n)
{
    size_t cap = 0;
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT g.*, t.title FROM (SELECT direction, category, rule, sum(requests) AS n,"
             " sum(blocked), sum(redacted), sum(flagged), sum(findings), sum(kept)"
             " FROM %s" RANGE_WHERE " GROUP BY direction, category, rule) AS g"
             " LEFT JOIN rule_title AS t ON t.rule = g.rule"
             " ORDER BY g.n DESC, g.rule, g.direction",
             table);
    struct gw_db_stmt *st = prepare(s, sql, q);
    if (!st)
        return -1;
    int rc;
    while ((rc = gw_db_step(st)) == 1) {
        int c = cat_index(text_col(st, 1));
        if (c < 0)
            continue;
        if (gw_grow(out, &cap, *n, sizeof **out, 16) == -1) {
            gw_db_finalize(st);
            return oom(s);
        }
        struct gw_kpi_rule *r = &(*out)[(*n)++];
        memset(r, 0, sizeof *r);
        snprintf(r->rule, sizeof r->rule, "%s", text_col(st, 2));
        snprintf(r->title, sizeof r->title, "%s", text_col(st, 9));
        r->category = (enum gw_category)c;
        r->dir = dir_of(text_col(st, 0));
        r->n = outcome_at(st, 3);
    }
    return finish(s, st, rc);
}

static int load_signals(struct gw_store *s, const struct q *q, struct gw_kpi_totals *t)
{
    size_t cap = 0;
    struct gw_db_stmt *st =
        prepare(s,
                "SELECT rule, count(*) AS n FROM (SELECT DISTINCT rule, tenant, conversation"
                " FROM kpi_signal" RANGE_WHERE ") AS x GROUP BY rule ORDER BY n DESC, rule",
                q);
    if (!st)
        return -1;
    int rc;
    while ((rc = gw_db_step(st)) == 1) {
        if (gw_grow(&t->signals, &cap, t->n_signals, sizeof *t->signals, 8) == -1) {
            gw_db_finalize(st);
            return oom(s);
        }
        struct gw_kpi_signal *g = &t->signals[t->n_signals++];
        memset(g, 0, sizeof *g);
        snprintf(g->rule, sizeof g->rule, "%s", text_col(st, 0));
        cx_label(g->rule, g->label, sizeof g->label);
        g->conversations = gw_db_int(st, 1);
        g->per_1000 = t->conversations ? round_to(1000.0 * (double)g->conversations /
                                                      (double)t->conversations,
                                                  0.1)
                                       : 0;
    }
    return finish(s, st, rc);
}

static void totals_free(struct gw_kpi_totals *t)
{
    free(t->rules);
    free(t->signals);
    free(t->shadow);
    t->rules = NULL;
    t->signals = NULL;
    t->shadow = NULL;
}

static int load_totals(struct gw_store *s, const struct q *q, struct gw_kpi_totals *t)
{
    int64_t n[1] = {0};
    if (load_minutes(s, q, t) == -1)
        return -1;
    /* a conversation is its tenant and id: the same id under two tenants is two, and the
     * same one seen by two gateways of a fleet is one */
    if (one_row(s,
                "SELECT count(*) FROM (SELECT DISTINCT tenant, conversation FROM kpi_conv"
                RANGE_WHERE ") AS x",
                q, n, 1) == -1)
        return -1;
    t->conversations = n[0] + t->lone;
    if (load_categories(s, q, t) == -1 || load_latency(s, q, t) == -1 ||
        load_rules(s, q, "kpi_rule", &t->rules, &t->n_rules) == -1 ||
        load_rules(s, q, "kpi_shadow", &t->shadow, &t->n_shadow) == -1 ||
        load_signals(s, q, t) == -1)
        return -1;
    /* a conversation with two different signals counts once here */
    if (one_row(s,
                "SELECT count(*) FROM (SELECT DISTINCT tenant, conversation FROM kpi_signal"
                RANGE_WHERE ") AS x",
                q, n, 1) == -1)
        return -1;
    t->signal_conversations = n[0];
    return 0;
}

/* ---- figures ---- */

static double hist_percentile(const int64_t *h, int64_t n, double q)
{
    if (n <= 0)
        return -1;
    int64_t rank = (int64_t)ceil(q * (double)n);
    if (rank < 1)
        rank = 1;
    int64_t seen = 0;
    for (int b = 0; b < GW_STORE_HIST_BUCKETS; b++) {
        seen += h[b];
        if (seen >= rank)
            return gw_store_hist_value(b);
    }
    return gw_store_hist_value(GW_STORE_HIST_BUCKETS - 1);
}

double gw_kpi_percentile(const struct gw_kpi_totals *t, int kind, double q)
{
    return hist_percentile(t->hist[kind], t->hist_n[kind], q);
}

double gw_kpi_clean_rate(const struct gw_kpi_totals *t)
{
    return t->requests ? round_to((double)t->clean / (double)t->requests, 0.0001) : 0;
}

int64_t gw_kpi_prevented(const struct gw_kpi_totals *t, enum gw_category c)
{
    int64_t n = 0;
    for (int d = 0; d < GW_KPI_DIRS; d++)
        n += t->cat[d][c].blocked + t->cat[d][c].redacted;
    return n;
}

static const char *const figure_names[GW_FIG__COUNT] = {
    "requests",          "conversations",      "clean_rate",
    "prevented",         "prompts_blocked",    "replies_blocked",
    "replies_redacted",  "prevented_pii",      "prevented_secret",
    "prevented_injection", "prevented_unsafe", "prevented_brand",
    "pii_kept",          "secrets_kept",       "cx_signals",
    "gateway_p50_ms",    "gateway_p99_ms",     "provider_p50_ms",
};

const char *gw_kpi_figure_name(enum gw_kpi_figure f)
{
    return f < GW_FIG__COUNT ? figure_names[f] : "";
}

static double p_of(const struct gw_kpi_totals *t, int kind, double q)
{
    double v = gw_kpi_percentile(t, kind, q);
    return v < 0 ? 0 : round_to(v, 0.001);
}

double gw_kpi_figure(const struct gw_kpi_totals *t, enum gw_kpi_figure f)
{
    const int P = GW_KPI_PROMPT, R = GW_KPI_REPLY;
    switch (f) {
    case GW_FIG_REQUESTS:
        return (double)t->requests;
    case GW_FIG_CONVERSATIONS:
        return (double)t->conversations;
    case GW_FIG_CLEAN_RATE:
        return gw_kpi_clean_rate(t);
    case GW_FIG_PREVENTED:
        return (double)(t->verdict[P][GW_ACTION_BLOCK] + t->verdict[P][GW_ACTION_REDACT] +
                        t->verdict[R][GW_ACTION_BLOCK] + t->verdict[R][GW_ACTION_REDACT]);
    case GW_FIG_PROMPTS_BLOCKED:
        return (double)t->verdict[P][GW_ACTION_BLOCK];
    case GW_FIG_REPLIES_BLOCKED:
        return (double)t->verdict[R][GW_ACTION_BLOCK];
    case GW_FIG_REPLIES_REDACTED:
        return (double)t->verdict[R][GW_ACTION_REDACT];
    case GW_FIG_PREVENTED_PII:
        return (double)gw_kpi_prevented(t, GW_CAT_PII);
    case GW_FIG_PREVENTED_SECRET:
        return (double)gw_kpi_prevented(t, GW_CAT_SECRET);
    case GW_FIG_PREVENTED_INJECTION:
        return (double)gw_kpi_prevented(t, GW_CAT_INJECTION);
    case GW_FIG_PREVENTED_UNSAFE:
        return (double)gw_kpi_prevented(t, GW_CAT_UNSAFE);
    case GW_FIG_PREVENTED_BRAND:
        return (double)gw_kpi_prevented(t, GW_CAT_BRAND);
    case GW_FIG_PII_KEPT:
        return (double)(t->cat[P][GW_CAT_PII].kept + t->cat[R][GW_CAT_PII].kept);
    case GW_FIG_SECRETS_KEPT:
        return (double)(t->cat[P][GW_CAT_SECRET].kept + t->cat[R][GW_CAT_SECRET].kept);
    case GW_FIG_CX_SIGNALS:
        return (double)t->signal_conversations;
    case GW_FIG_GATEWAY_P50:
        return p_of(t, GW_KPI_GATEWAY, 0.5);
    case GW_FIG_GATEWAY_P99:
        return p_of(t, GW_KPI_GATEWAY, 0.99);
    case GW_FIG_PROVIDER_P50:
        return p_of(t, GW_KPI_PROVIDER, 0.5);
    default:
        return 0;
    }
}

size_t gw_kpi_top_rules(const struct gw_kpi_totals *t, const struct gw_kpi_rule **out,
                        size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_rules && n < max; i++)
        if (t->rules[i].category != GW_CAT_CX)
            out[n++] = &t->rules[i];
    return n;
}

/* ---- the KPI query ---- */

int64_t gw_kpi_auto_step(int64_t span)
{
    static const int64_t steps[] = {
        MINUTE_MS,          5 * MINUTE_MS,      15 * MINUTE_MS,      30 * MINUTE_MS, 60 * MINUTE_MS,
        3 * 60 * MINUTE_MS, 6 * 60 * MINUTE_MS, 12 * 60 * MINUTE_MS, DAY_MS,         7 * DAY_MS};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (span / steps[i] <= 60)
            return steps[i];
    return 7 * DAY_MS;
}

static int fill_counts(struct gw_store *s, const struct q *q, struct gw_kpis *k)
{
    struct gw_db_stmt *st = prepare(
        s,
        "SELECT (minute_ms - ?1) / ?6 AS i, sum(requests), sum(clean),"
        " sum(prompt_blocked), sum(prompt_redacted), sum(reply_blocked),"
        " sum(reply_redacted), sum(prompt_flagged) + sum(reply_flagged), sum(lone)"
        " FROM kpi_minute" RANGE_WHERE " GROUP BY i",
        q);
    if (!st)
        return -1;
    int rc;
    while ((rc = gw_db_step(st)) == 1) {
        int64_t i = gw_db_int(st, 0);
        if (i < 0 || (size_t)i >= k->n_points)
            continue;
        struct gw_kpi_point *p = &k->series[i];
        p->requests = gw_db_int(st, 1);
        p->clean = gw_db_int(st, 2);
        p->prompts_blocked = gw_db_int(st, 3);
        p->prompts_redacted = gw_db_int(st, 4);
        p->replies_blocked = gw_db_int(st, 5);
        p->replies_redacted = gw_db_int(st, 6);
        p->flagged = gw_db_int(st, 7);
        p->conversations += gw_db_int(st, 8); /* requests without a conversation id */
    }
    if (finish(s, st, rc) == -1)
        return -1;
    st = prepare(s,
                 "SELECT i, count(*) FROM (SELECT DISTINCT (minute_ms - ?1) / ?6 AS i, tenant,"
                 " conversation FROM kpi_conv" RANGE_WHERE ") AS x GROUP BY i",
                 q);
    if (!st)
        return -1;
    while ((rc = gw_db_step(st)) == 1) {
        int64_t i = gw_db_int(st, 0);
        if (i >= 0 && (size_t)i < k->n_points)
            k->series[i].conversations += gw_db_int(st, 1);
    }
    return finish(s, st, rc);
}

/* Latency percentiles per point, one histogram at a time. */
static int fill_latency(struct gw_store *s, const struct q *q, struct gw_kpis *k)
{
    struct gw_db_stmt *st = prepare(
        s,
        "SELECT (minute_ms - ?1) / ?6 AS i, kind, bucket, sum(count) FROM kpi_latency" RANGE_WHERE
        " GROUP BY i, kind, bucket ORDER BY i, kind, bucket",
        q);
    if (!st)
        return -1;
    int64_t *h = calloc(GW_STORE_HIST_BUCKETS, sizeof *h), hn = 0;
    int64_t cur_i = -1, cur_k = -1;
    int rc;
    if (!h) {
        gw_db_finalize(st);
        return oom(s);
    }
    for (;;) {
        rc = gw_db_step(st);
        int64_t i = rc == 1 ? gw_db_int(st, 0) : -2;
        int64_t kind = rc == 1 ? gw_db_int(st, 1) : -2;
        if ((i != cur_i || kind != cur_k) && cur_i >= 0 && hn > 0) {
            if ((size_t)cur_i < k->n_points && cur_k >= 0 && cur_k < GW_KPI_HISTS) {
                k->series[cur_i].p50[cur_k] = round_to(hist_percentile(h, hn, 0.5), 0.001);
                k->series[cur_i].p99[cur_k] = round_to(hist_percentile(h, hn, 0.99), 0.001);
            }
            memset(h, 0, GW_STORE_HIST_BUCKETS * sizeof *h);
            hn = 0;
        }
        if (rc != 1)
            break;
        cur_i = i;
        cur_k = kind;
        int64_t b = gw_db_int(st, 2);
        if (b >= 0 && b < GW_STORE_HIST_BUCKETS) {
            h[b] += gw_db_int(st, 3);
            hn += gw_db_int(st, 3);
        }
    }
    free(h);
    return finish(s, st, rc);
}

/* The distinct values of col seen in the range (whatever the cuts), sorted. */
static int load_names(struct gw_store *s, const struct q *q, const char *col,
                      struct gw_kpi_names *out)
{
    char sql[256];
    size_t cap = 0;
    snprintf(sql, sizeof sql,
             "SELECT DISTINCT %s FROM kpi_minute WHERE minute_ms >= ?1 AND minute_ms < ?2"
             " ORDER BY 1",
             col);
    struct q all = {q->from, q->to, 0, NULL, NULL, NULL};
    struct gw_db_stmt *st = prepare(s, sql, &all);
    if (!st)
        return -1;
    int rc;
    while ((rc = gw_db_step(st)) == 1) {
        char *v = strdup(text_col(st, 0));
        if (!v || gw_grow(&out->v, &cap, out->n, sizeof *out->v, 8) == -1) {
            free(v);
            gw_db_finalize(st);
            return oom(s);
        }
        out->v[out->n++] = v;
    }
    return finish(s, st, rc);
}

static void names_free(struct gw_kpi_names *n)
{
    for (size_t i = 0; i < n->n; i++)
        free(n->v[i]);
    free(n->v);
    *n = (struct gw_kpi_names){0};
}

static const char *cut(const char *v)
{
    return v && v[0] ? v : NULL;
}

int gw_kpi_query(struct gw_store *s, const struct gw_kpi_filter *f, int64_t step,
                 struct gw_kpis *k)
{
    memset(k, 0, sizeof *k);
    k->f = (struct gw_kpi_filter){f->from, f->to, cut(f->tenant), cut(f->model),
                                  cut(f->instance)};
    if (f->to <= f->from) {
        gw_store_fail(s, GW_STORE_BAD_REQUEST, "the range is empty: 'to' must be after 'from'");
        return -1;
    }
    int64_t span = f->to - f->from;
    if (step <= 0)
        step = gw_kpi_auto_step(span);
    step = (step + MINUTE_MS - 1) / MINUTE_MS * MINUTE_MS;
    int64_t n = (span + step - 1) / step;
    if (n > MAX_SERIES) {
        gw_store_fail(s, GW_STORE_BAD_REQUEST,
                      "the step is too small for the range: %lld points (at most %d)",
                      (long long)n, MAX_SERIES);
        return -1;
    }
    k->step = step;
    struct q qc = {f->from, f->to, step, k->f.tenant, k->f.model, k->f.instance};
    struct q qp = {f->from - span, f->from, step, k->f.tenant, k->f.model, k->f.instance};
    if (load_totals(s, &qc, &k->cur) == -1 || load_totals(s, &qp, &k->prev) == -1)
        return -1;
    if (load_names(s, &qc, "tenant", &k->tenants) == -1 ||
        load_names(s, &qc, "model", &k->models) == -1 ||
        load_names(s, &qc, "instance", &k->instances) == -1)
        return -1;
    if (!(k->series = calloc((size_t)n, sizeof *k->series)))
        return oom(s);
    k->n_points = (size_t)n;
    for (size_t i = 0; i < k->n_points; i++) {
        k->series[i].t = f->from + (int64_t)i * step;
        for (int h = 0; h < GW_KPI_HISTS; h++)
            k->series[i].p50[h] = k->series[i].p99[h] = -1;
    }
    return fill_counts(s, &qc, k) == -1 || fill_latency(s, &qc, k) == -1 ? -1 : 0;
}

void gw_kpis_free(struct gw_kpis *k)
{
    if (!k)
        return;
    totals_free(&k->cur);
    totals_free(&k->prev);
    free(k->series);
    names_free(&k->tenants);
    names_free(&k->models);
    names_free(&k->instances);
    memset(k, 0, sizeof *k);
}

/* ---- incidents ---- */

int gw_incident_query(struct gw_store *s, const struct gw_kpi_filter *f, const char *category,
                      enum gw_incident_kind kind, int limit, int64_t before_id,
                      struct gw_incident_page *p)
{
    memset(p, 0, sizeof *p);
    if (limit < 1)
        limit = 1;
    if (limit > 500)
        limit = 500;
    int64_t from = f->from, to = f->to;
    if (from == 0 && to == 0)
        to = INT64_MAX;
    struct gw_db_stmt *st = gw_db_prepare(
        gw_store_db(s),
        "SELECT id, ts_ms, instance, request_id, tenant, model, conversation, direction,"
        " category, rule, severity, action, excerpt, value_hash, value_length,"
        " (SELECT title FROM rule_title WHERE rule_title.rule = incidents.rule), shadow"
        " FROM incidents WHERE ts_ms >= ?1 AND ts_ms < ?2 AND (?3 IS NULL OR tenant = ?3)"
        " AND (?4 IS NULL OR category = ?4) AND (?5 IS NULL OR instance = ?5)"
        " AND (?6 <= 0 OR id < ?6) AND (?8 < 0 OR shadow = ?8) ORDER BY id DESC LIMIT ?7",
        false);
    if (!st)
        return db_fail(s);
    gw_db_bind_int(st, 1, from);
    gw_db_bind_int(st, 2, to);
    gw_db_bind_text(st, 3, cut(f->tenant));
    gw_db_bind_text(st, 4, cut(category));
    gw_db_bind_text(st, 5, cut(f->instance));
    gw_db_bind_int(st, 6, before_id);
    gw_db_bind_int(st, 7, limit);
    gw_db_bind_int(st, 8, kind == GW_INCIDENTS_ALL ? -1 : kind == GW_INCIDENTS_SHADOW);
    if (!(p->v = calloc((size_t)limit, sizeof *p->v))) {
        gw_db_finalize(st);
        return oom(s);
    }
    int rc;
    while ((rc = gw_db_step(st)) == 1 && p->n < (size_t)limit) {
        struct gw_incident *r = &p->v[p->n++];
        struct {
            char *dst;
            size_t len;
        } cols[] = {{r->instance, sizeof r->instance},   {r->request_id, sizeof r->request_id},
                    {r->tenant, sizeof r->tenant},       {r->model, sizeof r->model},
                    {r->conversation, sizeof r->conversation},
                    {r->direction, sizeof r->direction}, {r->category, sizeof r->category},
                    {r->rule, sizeof r->rule},           {r->severity, sizeof r->severity},
                    {r->action, sizeof r->action},       {r->excerpt, sizeof r->excerpt},
                    {r->value_hash, sizeof r->value_hash}};
        r->id = gw_db_int(st, 0);
        r->ts_ms = gw_db_int(st, 1);
        for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
            snprintf(cols[i].dst, cols[i].len, "%s", text_col(st, 2 + (int)i));
        r->value_length = gw_db_int(st, 14);
        snprintf(r->title, sizeof r->title, "%s", text_col(st, 15));
        r->shadow = gw_db_int(st, 16) != 0;
    }
    if (finish(s, st, rc == 1 ? 0 : rc) == -1)
        return -1;
    if (p->n == (size_t)limit)
        p->next_before_id = p->v[p->n - 1].id;
    return 0;
}

void gw_incident_page_free(struct gw_incident_page *p)
{
    if (!p)
        return;
    free(p->v);
    memset(p, 0, sizeof *p);
}

/* ---- money ---- */

static int value_models(struct gw_store *s, const struct q *q, struct gw_value_counts *c)
{
    struct gw_value_model *models = NULL;
    size_t cap = 0;
    struct gw_db_stmt *st = prepare(
        s,
        "SELECT model, coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0),"
        " coalesce(sum(usage_requests), 0), coalesce(sum(prompt_blocked), 0) FROM kpi_minute"
        RANGE_WHERE " GROUP BY model ORDER BY model",
        q);
    if (!st)
        return -1;
    int rc;
    while ((rc = gw_db_step(st)) == 1) {
        char *name = strdup(text_col(st, 0));
        if (!name || gw_grow(&models, &cap, c->n_models, sizeof *models, 16) == -1) {
            free(name);
            gw_db_finalize(st);
            c->models = models;
            return oom(s);
        }
        models[c->n_models++] = (struct gw_value_model){name, gw_db_int(st, 1), gw_db_int(st, 2),
                                                        gw_db_int(st, 3), gw_db_int(st, 4)};
    }
    c->models = models;
    return finish(s, st, rc);
}

int gw_kpi_value(struct gw_store *s, const struct gw_kpi_filter *f, const struct gw_value *v,
                 struct gw_value_counts *c, struct gw_value_result *r)
{
    struct q q = {f->from, f->to, 0, cut(f->tenant), cut(f->model), cut(f->instance)};
    memset(c, 0, sizeof *c);
    memset(r, 0, sizeof *r);
    if (value_models(s, &q, c) == -1)
        return -1;
    struct gw_db_stmt *st =
        prepare(s,
                "SELECT category, coalesce(sum(kept), 0) FROM kpi_category" RANGE_WHERE
                " AND category IN ('pii', 'secret') GROUP BY category",
                &q);
    if (!st)
        return -1;
    int rc;
    while ((rc = gw_db_step(st)) == 1)
        *(strcmp(text_col(st, 0), "pii") == 0 ? &c->personal_data_kept : &c->secrets_kept) =
            gw_db_int(st, 1);
    if (finish(s, st, rc) == -1)
        return -1;
    if (!(st = prepare(s,
                       "SELECT coalesce(sum(requests), 0) FROM kpi_rule" RANGE_WHERE
                       " AND direction = 'prompt' AND rule = ?6",
                       &q)))
        return -1;
    gw_db_bind_text(st, 6, v->handoff_rule ? v->handoff_rule : "");
    if ((rc = gw_db_step(st)) == 1) {
        c->handoffs = gw_db_int(st, 0);
        rc = gw_db_step(st);
    }
    if (finish(s, st, rc) == -1)
        return -1;
    gw_value_compute(v, c, r);
    return 0;
}

void gw_kpi_value_free(struct gw_value_counts *c)
{
    for (size_t i = 0; c && i < c->n_models; i++)
        free((char *)c->models[i].model);
    if (c)
        free((void *)c->models);
}
