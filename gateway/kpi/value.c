#include "kpi/value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Defaults, cited in docs/kpis.md:
 * - a million tokens: USD 2.50 prompt, 10.00 completion (OpenAI's list price for gpt-4o);
 * - a record of personal data: USD 183, customer PII per record in IBM's Cost of a Data
 *   Breach Report 2023;
 * - a secret: counted as one record too (the report gives no figure per credential), a
 *   floor an operator should raise;
 * - a hand-off: USD 8.01, Gartner's average cost of a contact in a live channel (2019). */
int gw_value_defaults(struct gw_value *v)
{
    memset(v, 0, sizeof *v);
    snprintf(v->currency, sizeof v->currency, "USD");
    v->personal_data_record = 183 * GW_MICRO;
    v->secret = 183 * GW_MICRO;
    v->handoff = 8010000;
    v->handoff_rule = strdup("cx.human");
    if (!v->handoff_rule || gw_value_set_price(v, "", 2500000, 10000000) == -1) {
        gw_value_free(v);
        return -1;
    }
    return 0;
}

void gw_value_free(struct gw_value *v)
{
    for (size_t i = 0; i < v->n_prices; i++)
        free(v->prices[i].prefix);
    free(v->prices);
    free(v->handoff_rule);
    memset(v, 0, sizeof *v);
}

int gw_value_set_price(struct gw_value *v, const char *prefix, int64_t prompt,
                       int64_t completion)
{
    for (size_t i = 0; i < v->n_prices; i++)
        if (strcmp(v->prices[i].prefix, prefix) == 0) {
            v->prices[i].prompt = prompt;
            v->prices[i].completion = completion;
            return 0;
        }
    struct gw_price *t = realloc(v->prices, (v->n_prices + 1) * sizeof *t);
    if (!t)
        return -1;
    v->prices = t;
    char *p = strdup(prefix);
    if (!p)
        return -1;
    v->prices[v->n_prices++] = (struct gw_price){p, prompt, completion};
    return 0;
}

const struct gw_price *gw_value_price(const struct gw_value *v, const char *model)
{
    const struct gw_price *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < v->n_prices; i++) {
        size_t n = strlen(v->prices[i].prefix);
        if (strncmp(model, v->prices[i].prefix, n) == 0 && (!best || n > best_len)) {
            best = &v->prices[i];
            best_len = n;
        }
    }
    return best;
}

int gw_value_parse(const char *s, int64_t *out)
{
    int64_t whole = 0, frac = 0;
    int decimals = 0;
    const char *p = s;
    if (!s || !*s)
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        whole = whole * 10 + (*p - '0');
        if (whole > 1000000000000LL)
            return -1;
    }
    if (p == s && *p != '.')
        return -1;
    if (*p == '.') {
        p++;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (++decimals > 6)
                return -1;
            frac = frac * 10 + (*p - '0');
        }
        if (decimals == 0 && p - s == 1)
            return -1; /* "." alone */
    }
    if (*p)
        return -1;
    for (; decimals < 6; decimals++)
        frac *= 10;
    *out = whole * GW_MICRO + frac;
    return 0;
}

void gw_value_format(int64_t micro, char *out, size_t outlen)
{
    int64_t m = micro < 0 ? -micro : micro;
    int64_t cents = (m + 5000) / 10000;
    snprintf(out, outlen, "%s%lld.%02lld", micro < 0 ? "-" : "", (long long)(cents / 100),
             (long long)(cents % 100));
}

/* tokens at price (per million), in micro-units, rounded to the nearest. */
static int64_t priced(int64_t tokens, int64_t price)
{
    __int128 p = (__int128)tokens * price;
    return (int64_t)((p + 500000) / 1000000);
}

void gw_value_compute(const struct gw_value *v, const struct gw_value_counts *c,
                      struct gw_value_result *out)
{
    memset(out, 0, sizeof *out);
    int64_t calls = 0;
    for (size_t i = 0; i < c->n_models; i++) {
        const struct gw_value_model *m = &c->models[i];
        const struct gw_price *pr = gw_value_price(v, m->model);
        if (!pr)
            continue;
        out->token_spend += priced(m->prompt_tokens, pr->prompt) +
                            priced(m->completion_tokens, pr->completion);
        calls += m->usage_requests;
    }
    /* a blocked prompt saves a call: priced at its model's average call, else at the
     * average call of all models, else not priced */
    int64_t all_avg = calls ? out->token_spend / calls : -1;
    for (size_t i = 0; i < c->n_models; i++) {
        const struct gw_value_model *m = &c->models[i];
        const struct gw_price *pr = gw_value_price(v, m->model);
        if (m->prompt_blocked == 0)
            continue;
        if (pr && m->usage_requests > 0) {
            int64_t spend = priced(m->prompt_tokens, pr->prompt) +
                            priced(m->completion_tokens, pr->completion);
            out->spend_avoided += (int64_t)((__int128)spend * m->prompt_blocked /
                                            m->usage_requests);
        } else if (all_avg >= 0) {
            out->spend_avoided += all_avg * m->prompt_blocked;
        } else {
            out->blocked_unpriced += m->prompt_blocked;
        }
    }
    out->exposure_avoided =
        c->personal_data_kept * v->personal_data_record + c->secrets_kept * v->secret;
    out->handoff_cost = c->handoffs * v->handoff;
}
