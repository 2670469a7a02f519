/* kpi/value.c: money from KPI counts, in exact micro-units. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "kpi/value.h"

static void amounts_parse_exactly_or_not_at_all(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(gw_value_parse("2.50", &v), 0);
    assert_int_equal(v, 2500000);
    assert_int_equal(gw_value_parse("183", &v), 0);
    assert_int_equal(v, 183000000);
    assert_int_equal(gw_value_parse("0.000150", &v), 0);
    assert_int_equal(v, 150);
    assert_int_equal(gw_value_parse(".5", &v), 0);
    assert_int_equal(v, 500000);
    static const char *const bad[] = {"", ".", "-1", "1.2345678", "1e3", "1,5", "12a",
                                      "10000000000000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(gw_value_parse(bad[i], &v), -1);
}

static void amounts_show_in_cents_rounded_half_away_from_zero(void **state)
{
    (void)state;
    char b[32];
    gw_value_format(1234565000, b, sizeof b);
    assert_string_equal(b, "1234.57");
    gw_value_format(1234564999, b, sizeof b);
    assert_string_equal(b, "1234.56");
    gw_value_format(0, b, sizeof b);
    assert_string_equal(b, "0.00");
    gw_value_format(-5000, b, sizeof b);
    assert_string_equal(b, "-0.01");
}

static void the_longest_price_prefix_wins(void **state)
{
    (void)state;
    struct gw_value v;
    assert_int_equal(gw_value_defaults(&v), 0);
    gw_value_set_price(&v, "gpt-4o", 2500000, 10000000);
    gw_value_set_price(&v, "gpt-4o-mini", 150000, 600000);
    assert_int_equal(gw_value_price(&v, "gpt-4o-mini-2024-07-18")->prompt, 150000);
    assert_int_equal(gw_value_price(&v, "gpt-4o-2024-08-06")->prompt, 2500000);
    assert_string_equal(gw_value_price(&v, "claude-3-5-sonnet")->prefix, "");
    gw_value_free(&v);
}

static void spend_exposure_and_handoffs_are_exact(void **state)
{
    (void)state;
    struct gw_value v;
    assert_int_equal(gw_value_defaults(&v), 0);
    gw_value_set_price(&v, "mini", 150000, 600000); /* 0.15 and 0.60 per million */
    struct gw_value_model models[] = {
        /* default price, 2.50 / 10.00: 1,000,000 prompt and 200,000 completion tokens cost
         * 2.50 + 2.00 = 4.50 over 100 calls, 0.045 a call; 10 blocked save 0.45 */
        {"gpt-4o", 1000000, 200000, 100, 10},
        /* 0.15 * 3 + 0.60 * 1 = 1.05 over 7 calls; 2 blocked save 0.30 */
        {"mini-1", 3000000, 1000000, 7, 2},
        /* no usage reported: 4 blocked at the average call of all, 5.55 / 107 */
        {"other", 0, 0, 0, 4},
    };
    struct gw_value_counts c = {models, 3, 12, 1, 5};
    struct gw_value_result r;
    gw_value_compute(&v, &c, &r);
    assert_int_equal(r.token_spend, 5550000);
    /* 450000 + 300000 + 4 * (5550000 / 107 = 51869) */
    assert_int_equal(r.spend_avoided, 450000 + 300000 + 4 * 51869);
    assert_int_equal(r.blocked_unpriced, 0);
    assert_int_equal(r.exposure_avoided, 12 * 183000000LL + 1 * 183000000LL);
    assert_int_equal(r.handoff_cost, 5 * 8010000LL);
    gw_value_free(&v);
}

static void blocked_prompts_with_no_call_to_price_them_are_counted_apart(void **state)
{
    (void)state;
    struct gw_value v;
    assert_int_equal(gw_value_defaults(&v), 0);
    struct gw_value_model only[] = {{"gpt-4o", 0, 0, 0, 3}};
    struct gw_value_counts c = {only, 1, 0, 0, 0};
    struct gw_value_result r;
    gw_value_compute(&v, &c, &r);
    assert_int_equal(r.spend_avoided, 0);
    assert_int_equal(r.blocked_unpriced, 3);
    gw_value_free(&v);
}

/* Loads text as a config file; returns gw_config_load's result, err filled. */
static int load(const char *text, struct gw_config *cfg, char *err, size_t errlen)
{
    char path[] = "/tmp/gw-value-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    int rc = gw_config_load(cfg, path, err, errlen);
    unlink(path);
    return rc;
}

static void kpi_value_is_read_from_the_config(void **state)
{
    (void)state;
    struct gw_config cfg;
    char err[512];
    int rc = load("kpi:\n  value:\n    currency: EUR\n    personal_data_record: 150\n"
                  "    handoff: 6.5\n    prices:\n      default: {prompt: 1, completion: 4}\n"
                  "      mini: {prompt: 0.15}\n",
                  &cfg, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_string_equal(cfg.value.currency, "EUR");
    assert_int_equal(cfg.value.personal_data_record, 150000000);
    assert_int_equal(cfg.value.secret, 183000000); /* not given: the default */
    assert_int_equal(cfg.value.handoff, 6500000);
    assert_int_equal(gw_value_price(&cfg.value, "mini-2")->prompt, 150000);
    assert_int_equal(gw_value_price(&cfg.value, "mini-2")->completion, 4000000); /* default's */
    assert_int_equal(gw_value_price(&cfg.value, "big")->prompt, 1000000);
    gw_config_free(&cfg);
    rc = load("kpi:\n  value:\n    handoff: -3\n", &cfg, err, sizeof err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "kpi.value.handoff"));
    gw_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(amounts_parse_exactly_or_not_at_all),
        cmocka_unit_test(amounts_show_in_cents_rounded_half_away_from_zero),
        cmocka_unit_test(the_longest_price_prefix_wins),
        cmocka_unit_test(spend_exposure_and_handoffs_are_exact),
        cmocka_unit_test(blocked_prompts_with_no_call_to_price_them_are_counted_apart),
        cmocka_unit_test(kpi_value_is_read_from_the_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
