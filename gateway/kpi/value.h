/* What the guardrail is worth, in money: the value assumptions an operator configures
 * (kpi.value) and the arithmetic that turns KPI counts into amounts. Amounts are whole
 * micro-units of the currency (1 USD = 1,000,000), so sums are exact; they are rounded to
 * cents only when shown. Every assumption is carried next to the figure it produces. */
#ifndef GW_KPI_VALUE_H
#define GW_KPI_VALUE_H

#include <stddef.h>
#include <stdint.h>

#define GW_MICRO 1000000LL

/* Price of a million tokens, in micro-units, for models whose name starts with prefix
 * (the longest prefix wins; "" is the default). */
struct gw_price {
    char *prefix;
    int64_t prompt;
    int64_t completion;
};

struct gw_value {
    char currency[8];
    struct gw_price *prices; /* prices[0] is the default ("") */
    size_t n_prices;
    int64_t personal_data_record; /* one record of personal data exposed */
    int64_t secret;               /* one secret (a key, a password) leaked */
    int64_t handoff;              /* one conversation handed to a human agent */
    char *handoff_rule;           /* the rule whose findings are hand-off requests */
};

/* The defaults (docs/kpis.md cites them). Returns 0 or -1 (out of memory). */
int gw_value_defaults(struct gw_value *v);
void gw_value_free(struct gw_value *v);
/* Sets (or adds) the price of prefix. 0 or -1. */
int gw_value_set_price(struct gw_value *v, const char *prefix, int64_t prompt,
                       int64_t completion);
/* The price that applies to model. */
const struct gw_price *gw_value_price(const struct gw_value *v, const char *model);

/* Parses a money amount ("2.5", "183", "0.000150") into micro-units: at most 6 decimals,
 * not negative, at most 10^12. Returns 0 or -1. */
int gw_value_parse(const char *s, int64_t *out);
/* Formats micro-units as an amount with cents ("1234.57"), rounding half away from zero. */
void gw_value_format(int64_t micro, char *out, size_t outlen);

/* One model's usage in a period. */
struct gw_value_model {
    const char *model;
    int64_t prompt_tokens, completion_tokens;
    int64_t usage_requests; /* provider calls that reported their usage */
    int64_t prompt_blocked; /* prompts blocked before the provider */
};

struct gw_value_counts {
    const struct gw_value_model *models;
    size_t n_models;
    int64_t personal_data_kept; /* values of personal data kept (from the provider, and from
                                   customers) */
    int64_t secrets_kept;
    int64_t handoffs; /* hand-off requests */
};

struct gw_value_result {
    int64_t token_spend;    /* what the provider calls cost */
    int64_t spend_avoided;  /* blocked prompts, at the average cost of a call to their model
                               (or of any call, for a model with no usage reported) */
    int64_t blocked_unpriced; /* blocked prompts with no call to price them by */
    int64_t exposure_avoided; /* personal data and secrets kept, at their cost each */
    int64_t handoff_cost;
};

void gw_value_compute(const struct gw_value *v, const struct gw_value_counts *c,
                      struct gw_value_result *out);

#endif
