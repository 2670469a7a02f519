/* kpi/render.h: structs of kpi/query.h into the API's JSON and sentences. */
#include "kpi/render.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const dir_names[GW_KPI_DIRS] = {"prompt", "reply"};

static double round_to(double v, double unit)
{
    return round(v / unit) * unit;
}

static void add_num(cJSON *o, const char *name, double v)
{
    cJSON_AddNumberToObject(o, name, v);
}

static cJSON *add_obj(cJSON *parent, const char *name)
{
    return cJSON_AddObjectToObject(parent, name);
}

static void add_str_or_null(cJSON *o, const char *name, const char *v)
{
    if (v && v[0])
        cJSON_AddStringToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

/* ---- sentences ---- */

void gw_render_count(int64_t n, char *out, size_t outlen)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%" PRId64, n < 0 ? -n : n);
    size_t o = 0;
    if (n < 0 && o + 1 < outlen)
        out[o++] = '-';
    for (int i = 0; i < len && o + 1 < outlen; i++) {
        if (i > 0 && (len - i) % 3 == 0 && o + 1 < outlen)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

const enum gw_category gw_render_summary_order[GW_CAT__COUNT] = {
    GW_CAT_INJECTION, GW_CAT_UNSAFE, GW_CAT_PII, GW_CAT_SECRET, GW_CAT_BRAND, GW_CAT_CX};

/* What a category stops, in words: where it mostly acts, and the other direction. The
 * one sentence of the three categories that block: "<n> <noun was> <where>[; <n> <other
 * noun was> <other where>][; <n> more was flagged for review]." */
struct stop_words {
    enum gw_category cat;
    int dir;
    const char *one, *many, *where, *none;
    const char *other_one, *other_many, *other_where;
};

static const struct stop_words stops[] = {
    {GW_CAT_INJECTION, GW_KPI_PROMPT, "attempt to hijack the assistant was",
     "attempts to hijack the assistant were", "stopped before reaching the provider",
     "No attempt to hijack the assistant was stopped", "hijacked reply was",
     "hijacked replies were", "stopped before reaching a customer"},
    {GW_CAT_UNSAFE, GW_KPI_PROMPT, "unsafe request was", "unsafe requests were",
     "turned away before reaching the provider", "No unsafe request was turned away",
     "unsafe reply was", "unsafe replies were", "stopped before reaching a customer"},
    {GW_CAT_BRAND, GW_KPI_REPLY, "off-brand reply was", "off-brand replies were",
     "stopped or corrected before reaching a customer", "No off-brand reply had to be stopped",
     "off-brand request was", "off-brand requests were", "turned away"},
};

#define PL(n, one, many) ((n) == 1 ? (one) : (many))

struct line {
    char *out;
    size_t len, cap;
};

static void say(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct line *l, const char *fmt, ...)
{
    if (l->len >= l->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->out + l->len, l->cap - l->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        l->len += (size_t)n;
}

static void stop_line(struct line *l, const struct stop_words *w, const struct gw_kpi_totals *t)
{
    const struct gw_kpi_outcome *m = &t->cat[w->dir][w->cat], *o = &t->cat[!w->dir][w->cat];
    char a[32];
    int64_t n = m->blocked + m->redacted, k = o->blocked + o->redacted, f = m->flagged + o->flagged;
    gw_render_count(n, a, sizeof a);
    if (n)
        say(l, "%s %s %s", a, PL(n, w->one, w->many), w->where);
    else
        say(l, "%s", w->none);
    if (k) {
        gw_render_count(k, a, sizeof a);
        say(l, "; %s %s %s", a, PL(k, w->other_one, w->other_many), w->other_where);
    }
    if (f) {
        gw_render_count(f, a, sizeof a);
        say(l, "; %s more %s flagged for review", a, PL(f, "was", "were"));
    }
}

static void kept_line(struct line *l, const struct gw_kpi_totals *t, enum gw_category c)
{
    const struct gw_kpi_outcome *p = &t->cat[GW_KPI_PROMPT][c], *r = &t->cat[GW_KPI_REPLY][c];
    char a[32], b[32];
    gw_render_count(p->kept, a, sizeof a);
    gw_render_count(r->kept, b, sizeof b);
    if (p->kept + r->kept == 0)
        say(l, "No %s had to be held back", c == GW_CAT_PII ? "personal data" : "secret");
    else if (c == GW_CAT_PII)
        say(l,
            "%s %s of personal data (emails, phone and card numbers...) %s kept from the "
            "provider, and %s from customers",
            a, PL(p->kept, "piece", "pieces"), PL(p->kept, "was", "were"), b);
    else
        say(l, "%s %s (passwords, keys, tokens) %s kept from the provider, and %s from customers",
            a, PL(p->kept, "secret", "secrets"), PL(p->kept, "was", "were"), b);
}

static void cx_line(struct line *l, const struct gw_kpi_totals *t)
{
    char conv[32], a[32];
    gw_render_count(t->conversations, conv, sizeof conv);
    if (t->conversations == 0) {
        say(l, "No conversation yet");
        return;
    }
    if (t->n_signals == 0) {
        say(l, "No customer-experience signal in %s %s", conv,
            PL(t->conversations, "conversation", "conversations"));
        return;
    }
    say(l, "Out of %s %s: ", conv, PL(t->conversations, "conversation", "conversations"));
    for (size_t i = 0; i < t->n_signals; i++) {
        gw_render_count(t->signals[i].conversations, a, sizeof a);
        say(l, "%s%s in %s", i ? ", " : "", t->signals[i].label, a);
    }
}

void gw_render_summary(const struct gw_kpi_totals *t, enum gw_category c, char *out,
                       size_t outlen)
{
    struct line l = {out, 0, outlen};
    if (outlen)
        out[0] = '\0';
    for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++)
        if (stops[i].cat == c)
            stop_line(&l, &stops[i], t);
    if (c == GW_CAT_PII || c == GW_CAT_SECRET)
        kept_line(&l, t, c);
    else if (c == GW_CAT_CX)
        cx_line(&l, t);
    say(&l, ".");
}

/* ---- /api/kpis ---- */

static void add_latency(cJSON *o, const struct gw_kpi_totals *t, int kind)
{
    static const struct {
        const char *name;
        double q;
    } qs[] = {{"p50", 0.50}, {"p95", 0.95}, {"p99", 0.99}};
    add_num(o, "count", (double)t->hist_n[kind]);
    for (size_t i = 0; i < 3; i++) {
        double v = gw_kpi_percentile(t, kind, qs[i].q);
        if (v < 0)
            cJSON_AddNullToObject(o, qs[i].name);
        else
            add_num(o, qs[i].name, round_to(v, 0.001));
    }
    if (t->hist_n[kind])
        add_num(o, "mean", round_to(t->ms_sum[kind] / (double)t->hist_n[kind], 0.001));
    else
        cJSON_AddNullToObject(o, "mean");
}

static void add_outcome(cJSON *o, const struct gw_kpi_outcome *n)
{
    add_num(o, "requests", (double)n->requests);
    add_num(o, "blocked", (double)n->blocked);
    add_num(o, "redacted", (double)n->redacted);
    add_num(o, "flagged", (double)n->flagged);
    add_num(o, "findings", (double)n->findings);
    add_num(o, "kept", (double)n->kept);
}

static cJSON *rule_json(const struct gw_kpi_rule *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "rule", r->rule);
    add_str_or_null(o, "title", r->title);
    cJSON_AddStringToObject(o, "category", gw_category_name(r->category));
    cJSON_AddStringToObject(o, "direction", dir_names[r->dir]);
    add_outcome(o, &r->n);
    return o;
}

/* The KPI block of one range (docs/kpis.md, "The KPI block"). */
static cJSON *totals_json(const struct gw_kpi_totals *t)
{
    cJSON *o = cJSON_CreateObject(), *x, *y, *a;
    if (!o)
        return NULL;
    add_num(o, "requests", (double)t->requests);
    add_num(o, "conversations", (double)t->conversations);
    add_num(o, "clean", (double)t->clean);
    add_num(o, "clean_rate", gw_kpi_clean_rate(t));
    add_num(o, "provider_calls", (double)t->provider_calls);
    add_num(o, "errors", (double)t->errors);
    for (int d = 0; d < GW_KPI_DIRS; d++) {
        if (!(x = add_obj(o, d == GW_KPI_PROMPT ? "prompts" : "replies")))
            goto fail;
        add_num(x, "blocked", (double)t->verdict[d][GW_ACTION_BLOCK]);
        add_num(x, "redacted", (double)t->verdict[d][GW_ACTION_REDACT]);
        add_num(x, "flagged", (double)t->verdict[d][GW_ACTION_FLAG]);
    }
    if (!(x = add_obj(o, "prevented")) || !(y = add_obj(x, "by_category")))
        goto fail;
    add_num(x, "total", gw_kpi_figure(t, GW_FIG_PREVENTED));
    for (int c = 0; c < GW_CAT__COUNT; c++)
        add_num(y, gw_category_name((enum gw_category)c),
                (double)gw_kpi_prevented(t, (enum gw_category)c));
    if (!(x = add_obj(o, "categories")))
        goto fail;
    for (int c = 0; c < GW_CAT__COUNT; c++) {
        if (!(y = add_obj(x, gw_category_name((enum gw_category)c))))
            goto fail;
        for (int d = 0; d < GW_KPI_DIRS; d++) {
            cJSON *z = add_obj(y, dir_names[d]);
            if (!z)
                goto fail;
            add_outcome(z, &t->cat[d][c]);
        }
    }
    static const char *const kept_names[GW_KPI_DIRS] = {"kept_from_provider",
                                                        "kept_from_customer"};
    for (int d = 0; d < GW_KPI_DIRS; d++) {
        if (!(x = add_obj(o, kept_names[d])))
            goto fail;
        add_num(x, "pii", (double)t->cat[d][GW_CAT_PII].kept);
        add_num(x, "secret", (double)t->cat[d][GW_CAT_SECRET].kept);
    }
    if (!(x = add_obj(o, "cx")) || !(a = cJSON_AddArrayToObject(x, "signals")))
        goto fail;
    add_num(x, "conversations_with_signal", (double)t->signal_conversations);
    for (size_t i = 0; i < t->n_signals; i++) {
        const struct gw_kpi_signal *g = &t->signals[i];
        cJSON *s = cJSON_CreateObject();
        if (!s || !cJSON_AddItemToArray(a, s)) {
            cJSON_Delete(s);
            goto fail;
        }
        cJSON_AddStringToObject(s, "rule", g->rule);
        cJSON_AddStringToObject(s, "label", g->label);
        add_num(s, "conversations", (double)g->conversations);
        add_num(s, "per_1000", g->per_1000);
    }
    if (!(x = add_obj(o, "latency_ms")) || !(y = add_obj(x, "gateway")))
        goto fail;
    add_latency(y, t, GW_KPI_GATEWAY);
    if (!(y = add_obj(x, "provider")))
        goto fail;
    add_latency(y, t, GW_KPI_PROVIDER);
    if (!(x = add_obj(o, "tokens")))
        goto fail;
    add_num(x, "prompt", (double)t->prompt_tokens);
    add_num(x, "completion", (double)t->completion_tokens);
    add_num(x, "requests_with_usage", (double)t->usage_requests);
    const struct gw_kpi_rule *top[10];
    size_t n = gw_kpi_top_rules(t, top, 10);
    if (!(x = cJSON_AddArrayToObject(o, "top_rules")))
        goto fail;
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(x, rule_json(top[i]));
    if (!(x = cJSON_AddArrayToObject(o, "rules")))
        goto fail;
    for (size_t i = 0; i < t->n_rules; i++)
        cJSON_AddItemToArray(x, rule_json(&t->rules[i]));
    /* rules in shadow: what they would have done (docs/kpis.md, Shadow) */
    if (!(x = cJSON_AddArrayToObject(o, "shadow_rules")))
        goto fail;
    for (size_t i = 0; i < t->n_shadow; i++)
        cJSON_AddItemToArray(x, rule_json(&t->shadow[i]));
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

static void add_change(cJSON *ch, const struct gw_kpis *k, enum gw_kpi_figure f)
{
    double cur = gw_kpi_figure(&k->cur, f), prev = gw_kpi_figure(&k->prev, f);
    cJSON *o = add_obj(ch, gw_kpi_figure_name(f));
    if (!o)
        return;
    add_num(o, "current", cur);
    add_num(o, "previous", prev);
    add_num(o, "delta", round_to(cur - prev, 0.0001));
    /* a rate against a period with no messages has nothing to compare with: "new" */
    bool rate = f == GW_FIG_CLEAN_RATE, none = rate && k->prev.requests == 0;
    if (prev != 0 && !none)
        add_num(o, "pct", round_to((cur - prev) / prev * 100.0, 0.1));
    else
        cJSON_AddNullToObject(o, "pct");
    if (rate && !none) /* a rate: its change in percentage points */
        add_num(o, "points", round_to((cur - prev) * 100.0, 0.01));
    else if (rate)
        cJSON_AddNullToObject(o, "points");
}

static void add_range(cJSON *o, int64_t from, int64_t to)
{
    char a[32], b[32];
    gw_store_format_time(from, a, sizeof a);
    gw_store_format_time(to, b, sizeof b);
    cJSON_AddStringToObject(o, "from", a);
    cJSON_AddStringToObject(o, "to", b);
    add_num(o, "from_ms", (double)from);
    add_num(o, "to_ms", (double)to);
}

static int add_names(cJSON *o, const char *name, const struct gw_kpi_names *n)
{
    cJSON *a = cJSON_AddArrayToObject(o, name);
    for (size_t i = 0; a && i < n->n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(n->v[i]));
    return a ? 0 : -1;
}

static void add_point_ms(cJSON *p, const char *name, double v)
{
    if (v < 0)
        cJSON_AddNullToObject(p, name);
    else
        add_num(p, name, v);
}

static cJSON *series_json(const struct gw_kpis *k)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < k->n_points; i++) {
        const struct gw_kpi_point *s = &k->series[i];
        cJSON *p = cJSON_CreateObject();
        if (!p || !cJSON_AddItemToArray(a, p)) {
            cJSON_Delete(p);
            cJSON_Delete(a);
            return NULL;
        }
        add_num(p, "t", (double)s->t);
        add_num(p, "requests", (double)s->requests);
        add_num(p, "conversations", (double)s->conversations);
        add_num(p, "clean", (double)s->clean);
        add_num(p, "prompts_blocked", (double)s->prompts_blocked);
        add_num(p, "prompts_redacted", (double)s->prompts_redacted);
        add_num(p, "replies_blocked", (double)s->replies_blocked);
        add_num(p, "replies_redacted", (double)s->replies_redacted);
        add_num(p, "flagged", (double)s->flagged);
        add_point_ms(p, "gateway_p50_ms", s->p50[GW_KPI_GATEWAY]);
        add_point_ms(p, "gateway_p99_ms", s->p99[GW_KPI_GATEWAY]);
        add_point_ms(p, "provider_p50_ms", s->p50[GW_KPI_PROVIDER]);
        add_point_ms(p, "provider_p99_ms", s->p99[GW_KPI_PROVIDER]);
    }
    return a;
}

cJSON *gw_render_kpis(const struct gw_kpis *k)
{
    cJSON *o = cJSON_CreateObject(), *x;
    if (!o)
        return NULL;
    add_range(o, k->f.from, k->f.to);
    add_num(o, "step_ms", (double)k->step);
    add_str_or_null(o, "tenant", k->f.tenant);
    add_str_or_null(o, "model", k->f.model);
    add_str_or_null(o, "instance", k->f.instance);
    if (add_names(o, "tenants", &k->tenants) == -1 || add_names(o, "models", &k->models) == -1 ||
        add_names(o, "instances", &k->instances) == -1)
        goto fail;
    if (!(x = cJSON_AddArrayToObject(o, "summary")))
        goto fail;
    for (int i = 0; i < GW_CAT__COUNT; i++) {
        char text[512];
        enum gw_category c = gw_render_summary_order[i];
        gw_render_summary(&k->cur, c, text, sizeof text);
        cJSON *l = cJSON_CreateObject();
        if (!l || !cJSON_AddItemToArray(x, l)) {
            cJSON_Delete(l);
            goto fail;
        }
        cJSON_AddStringToObject(l, "category", gw_category_name(c));
        cJSON_AddStringToObject(l, "text", text);
    }
    if (!(x = add_obj(o, "change")))
        goto fail;
    for (int f = 0; f < GW_FIG__COUNT; f++)
        add_change(x, k, (enum gw_kpi_figure)f);
    cJSON *cur = totals_json(&k->cur), *prev = totals_json(&k->prev);
    if (!cJSON_AddItemToObject(o, "current", cur)) {
        cJSON_Delete(cur);
        cJSON_Delete(prev);
        goto fail;
    }
    if (!cJSON_AddItemToObject(o, "previous", prev)) {
        cJSON_Delete(prev);
        goto fail;
    }
    add_range(prev, k->f.from - (k->f.to - k->f.from), k->f.from);
    cJSON *series = series_json(k);
    if (!cJSON_AddItemToObject(o, "series", series)) {
        cJSON_Delete(series);
        goto fail;
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

/* ---- /api/incidents ---- */

cJSON *gw_render_incidents(const struct gw_incident_page *p)
{
    cJSON *o = cJSON_CreateObject(), *a = o ? cJSON_AddArrayToObject(o, "incidents") : NULL;
    if (!a) {
        cJSON_Delete(o);
        return NULL;
    }
    for (size_t i = 0; i < p->n; i++) {
        const struct gw_incident *r = &p->v[i];
        cJSON *x = cJSON_CreateObject();
        char when[32];
        if (!x || !cJSON_AddItemToArray(a, x)) {
            cJSON_Delete(x);
            cJSON_Delete(o);
            return NULL;
        }
        add_num(x, "id", (double)r->id);
        gw_store_format_time(r->ts_ms, when, sizeof when);
        cJSON_AddStringToObject(x, "time", when);
        add_num(x, "ts_ms", (double)r->ts_ms);
        const struct {
            const char *name, *v;
        } cols[] = {{"instance", r->instance},   {"request_id", r->request_id},
                    {"tenant", r->tenant},       {"model", r->model},
                    {"conversation", r->conversation}, {"direction", r->direction},
                    {"category", r->category},   {"rule", r->rule},
                    {"severity", r->severity},   {"action", r->action},
                    {"excerpt", r->excerpt},     {"value_hash", r->value_hash}};
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++)
            cJSON_AddStringToObject(x, cols[c].name, cols[c].v);
        add_num(x, "value_length", (double)r->value_length);
        add_str_or_null(x, "title", r->title);
        cJSON_AddBoolToObject(x, "shadow", r->shadow);
    }
    if (p->next_before_id)
        add_num(o, "next_before_id", (double)p->next_before_id);
    else
        cJSON_AddNullToObject(o, "next_before_id");
    return o;
}

/* ---- money ---- */

/* An amount in cents, as a JSON number (2.5, 16.02). */
static void add_money(cJSON *o, const char *name, int64_t micro)
{
    char b[32];
    gw_value_format(micro, b, sizeof b);
    add_num(o, name, strtod(b, NULL));
}

static void add_amounts(cJSON *o, const struct gw_value_counts *c,
                        const struct gw_value_result *r)
{
    add_money(o, "token_spend", r->token_spend);
    add_money(o, "spend_avoided", r->spend_avoided);
    add_num(o, "blocked_unpriced", (double)r->blocked_unpriced);
    add_money(o, "exposure_avoided", r->exposure_avoided);
    add_num(o, "personal_data_kept", (double)c->personal_data_kept);
    add_num(o, "secrets_kept", (double)c->secrets_kept);
    add_num(o, "handoffs", (double)c->handoffs);
    add_money(o, "handoff_cost", r->handoff_cost);
}

cJSON *gw_render_value(const struct gw_value *v, const struct gw_value_counts *c,
                       const struct gw_value_result *r, const struct gw_value_counts *prev_c,
                       const struct gw_value_result *prev)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "currency", v->currency);
    add_amounts(o, c, r);
    if (prev && prev_c) {
        cJSON *p = cJSON_AddObjectToObject(o, "previous");
        if (!p) {
            cJSON_Delete(o);
            return NULL;
        }
        add_amounts(p, prev_c, prev);
    }
    /* the assumptions every amount rests on, shown next to them */
    cJSON *a = cJSON_AddObjectToObject(o, "assumptions");
    cJSON *prices = a ? cJSON_AddArrayToObject(a, "per_million_tokens") : NULL;
    if (!prices) {
        cJSON_Delete(o);
        return NULL;
    }
    for (size_t i = 0; i < v->n_prices; i++) {
        cJSON *p = cJSON_CreateObject();
        if (!p || !cJSON_AddItemToArray(prices, p)) {
            cJSON_Delete(p);
            break;
        }
        cJSON_AddStringToObject(p, "model", v->prices[i].prefix[0] ? v->prices[i].prefix
                                                                    : "default");
        add_money(p, "prompt", v->prices[i].prompt);
        add_money(p, "completion", v->prices[i].completion);
    }
    add_money(a, "personal_data_record", v->personal_data_record);
    add_money(a, "secret", v->secret);
    add_money(a, "handoff", v->handoff);
    cJSON_AddStringToObject(a, "handoff_rule", v->handoff_rule ? v->handoff_rule : "");
    return o;
}
