/* libFuzzer target for the rule pack loader (screen/rules.c): YAML into a rule table,
 * each expression checked with hs_expression_info (nothing is compiled to a database).
 *
 * The first byte's bit 0 chooses the phrase path: the rest, up to a NUL, is a phrase for
 * gw_phrase_to_regex, whose expression must then be one Hyperscan accepts and that cannot
 * match empty text (a phrase never fails a pack for its characters). Otherwise the rest is
 * a pack, loaded twice into one table. Checks: a pack with errors reports them and adds
 * nothing (never a pack in part); a loaded pack's patterns belong to its rules, and its
 * contacts are canonical (the pack's own bytes are then compared with them); loading it
 * again fails on its rule ids and leaves the table as it was. */
#include <hs/hs.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "screen/rules.h"

static void phrase(const char *text, size_t len)
{
    char *s = strndup(text, len);
    CHECK(s);
    char *re = gw_phrase_to_regex(s);
    if (re) {
        hs_expr_info_t *info = NULL;
        hs_compile_error_t *cerr = NULL;
        CHECK(hs_expression_info(re, HS_FLAG_CASELESS, &info, &cerr) == HS_SUCCESS);
        CHECK(info->min_width > 0);
        free(info);
    }
    free(re);
    free(s);
}

static void check_table(const struct gw_rule_table *t)
{
    for (size_t i = 0; i < t->n_rules; i++)
        CHECK(t->rules[i].id && t->rules[i].pack && t->rules[i].file);
    for (size_t i = 0; i < t->n_patterns; i++)
        CHECK(t->patterns[i].expr && t->patterns[i].rule < t->n_rules &&
              t->patterns[i].min_width > 0);
}

static void pack(const char *yaml, size_t len)
{
    struct gw_rule_table t = {0};
    struct gw_errors errs = {0};
    int rc = gw_rules_load_string(&t, "fuzz.yaml", yaml, len, &errs);
    CHECK(rc == 0 || rc == 1);
    if (rc != 0) {
        CHECK(errs.n > 0 && t.n_rules == 0 && t.n_patterns == 0 && t.n_packs == 0 &&
              t.contacts.n_emails == 0 && t.contacts.n_phones == 0);
    } else {
        CHECK(t.n_packs == 1);
        check_table(&t);
        /* the contacts are kept canonical, and any text can be compared with them */
        for (size_t i = 0; i < t.contacts.n_emails; i++)
            CHECK(strchr(t.contacts.emails[i], '@'));
        for (size_t i = 0; i < t.contacts.n_phones; i++) {
            const char *ph = t.contacts.phones[i];
            size_t cc = strspn(ph, "0123456789");
            CHECK(cc >= 1 && cc <= 3 && ph[cc] == ':' &&
                  strspn(ph + cc + 1, "0123456789") == strlen(ph + cc + 1));
        }
        (void)gw_contacts_own(&t.contacts, GW_CONTACT_EMAILS | GW_CONTACT_PHONES, yaml, len);
        size_t rules = t.n_rules, patterns = t.n_patterns, nerr = errs.n;
        rc = gw_rules_load_string(&t, "again.yaml", yaml, len, &errs);
        CHECK(rules == 0 || rc == 1); /* the same ids again */
        if (rc != 0)
            CHECK(errs.n > nerr && t.n_rules == rules && t.n_patterns == patterns);
        check_table(&t);
    }
    gw_rule_table_free(&t);
    gw_errors_free(&errs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        phrase((const char *)data + 1, size - 1);
    else
        pack((const char *)data + 1, size - 1);
    return 0;
}
