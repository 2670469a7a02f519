/* Shared by the scan and stream tests: compiles an inline rule pack or fails the test,
 * printing the loader's messages. Include after cmocka.h. */
#ifndef GW_TESTS_FIXTURE_H
#define GW_TESTS_FIXTURE_H

#include <string.h>

#include "screen/ruleset.h"

static struct gw_ruleset *compile(const char *yaml)
{
    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    int rc = gw_rules_load_string(&t, "test.yaml", yaml, strlen(yaml), &e);
    for (size_t i = 0; i < e.n; i++)
        print_message("  error: %s\n", e.msgs[i]);
    assert_int_equal(rc, 0);
    struct gw_ruleset *rs = NULL;
    rc = gw_ruleset_compile(&t, &rs, &e);
    for (size_t i = 0; i < e.n; i++)
        print_message("  error: %s\n", e.msgs[i]);
    assert_int_equal(rc, 0);
    assert_non_null(rs);
    gw_errors_free(&e);
    return rs;
}

#endif
