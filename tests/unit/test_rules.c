/* The rule-pack loader: every error path names file:line and what is wrong, a pack with
 * an error never loads in part, defaults are inherited, and phrases become expressions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hs/hs.h>

#include "screen/rules.h"
#include "screen/validators.h"

/* ---- helpers ---- */

static int load(struct gw_rule_table *t, const char *name, const char *yaml,
                struct gw_errors *e)
{
    return gw_rules_load_string(t, name, yaml, strlen(yaml), e);
}

static void print_errors(const struct gw_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        print_message("  error[%zu]: %s\n", i, e->msgs[i]);
}

/* Loads yaml as "pack.yaml" into an empty table and checks that it fails, adds nothing,
 * and reports exactly the messages given (NULL-terminated list). A message ending in
 * '*' is matched as a prefix. */
static void expect_errors(const char *yaml, ...)
{
    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    int rc = load(&t, "pack.yaml", yaml, &e);
    const char *want[16];
    size_t n = 0;
    va_list ap;
    va_start(ap, yaml);
    for (const char *m; (m = va_arg(ap, const char *)) && n < 16;)
        want[n++] = m;
    va_end(ap);
    if (e.n != n)
        print_errors(&e);
    assert_int_equal(rc, 1);
    assert_int_equal(t.n_rules, 0);
    assert_int_equal(t.n_patterns, 0);
    assert_int_equal(t.n_packs, 0);
    assert_int_equal(e.n, n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(want[i]);
        if (len && want[i][len - 1] == '*') {
            if (strncmp(e.msgs[i], want[i], len - 1) != 0) {
                print_errors(&e);
                fail_msg("error %zu: want prefix '%.*s'", i, (int)(len - 1), want[i]);
            }
        } else {
            if (strcmp(e.msgs[i], want[i]) != 0)
                print_errors(&e);
            assert_string_equal(e.msgs[i], want[i]);
        }
    }
    gw_errors_free(&e);
    gw_rule_table_free(&t);
}

/* A complete valid rule, indented as an item of 'rules'; the id is on the first line. */
#define RULE(id)                                                                               \
    "  - id: " id "\n"                                                                         \
    "    category: pii\n"                                                                      \
    "    severity: low\n"                                                                      \
    "    applies_to: both\n"                                                                   \
    "    action: flag\n"                                                                       \
    "    patterns: ['x+y']\n"

#define HEAD "name: t\nrules:\n" /* lines 1-2; the first rule starts on line 3 */

static const struct gw_rule *find_rule(const struct gw_rule_table *t, const char *id)
{
    for (size_t i = 0; i < t->n_rules; i++)
        if (strcmp(t->rules[i].id, id) == 0)
            return &t->rules[i];
    return NULL;
}

/* ---- a valid pack ---- */

static void valid_pack_loads_every_field(void **state)
{
    const char *yaml = "name: demo\n"                                 /* 1 */
                       "description: a pack\n"                        /* 2 */
                       "rules:\n"                                     /* 3 */
                       "  - id: pii.email\n"                          /* 4 */
                       "    description: mail\n"                      /* 5 */
                       "    category: pii\n"                          /* 6 */
                       "    severity: medium\n"                       /* 7 */
                       "    applies_to: both\n"                       /* 8 */
                       "    action: redact\n"                         /* 9 */
                       "    patterns:\n"                              /* 10 */
                       "      - '[a-z]{1,10}@[a-z]{1,10}\\.com'\n"    /* 11 */
                       "    allow:\n"                                 /* 12 */
                       "      - 'help@acme\\.com'\n"                  /* 13 */
                       "    examples:\n"                              /* 14 */
                       "      match: ['a@b.com', 'c@d.com']\n"        /* 15 */
                       "      no_match: 'nothing here'\n"             /* 16 */
                       "  - id: brand.promise\n"                      /* 17 */
                       "    category: brand\n"                        /* 18 */
                       "    severity: critical\n"                     /* 19 */
                       "    applies_to: reply\n"                      /* 20 */
                       "    action: block\n"                          /* 21 */
                       "    message: \"Let me connect you.\"\n"       /* 22 */
                       "    phrases: [we guarantee]\n"                /* 23 */
                       "  - id: pii.card\n"                           /* 24 */
                       "    category: pii\n"                          /* 25 */
                       "    severity: high\n"                         /* 26 */
                       "    applies_to: prompt\n"                     /* 27 */
                       "    action: flag\n"                           /* 28 */
                       "    validate: luhn\n"                         /* 29 */
                       "    patterns: ['\\d{13,19}']\n";              /* 30 */
    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    int rc = load(&t, "demo.yaml", yaml, &e);
    print_errors(&e);
    assert_int_equal(rc, 0);
    assert_int_equal(e.n, 0);
    assert_int_equal(t.n_packs, 1);
    assert_int_equal(t.n_rules, 3);
    assert_int_equal(t.n_patterns, 4);

    const struct gw_rule *r = &t.rules[0];
    assert_string_equal(r->id, "pii.email");
    assert_string_equal(r->pack, "demo");
    assert_string_equal(r->file, "demo.yaml");
    assert_int_equal(r->line, 4);
    assert_string_equal(r->description, "mail");
    assert_int_equal(r->category, GW_CAT_PII);
    assert_int_equal(r->severity, GW_SEV_MEDIUM);
    assert_int_equal(r->directions, GW_DIR_PROMPT | GW_DIR_REPLY);
    assert_int_equal(r->action, GW_ACTION_REDACT);
    assert_null(r->validate);
    assert_null(r->validator_name);
    assert_string_equal(r->replacement, "[EMAIL]");
    assert_null(r->message);
    assert_true(r->need_span);
    assert_int_equal(r->max_width, 10 + 1 + 10 + 4);
    assert_int_equal(r->n_examples_match, 2);
    assert_string_equal(r->examples_match[0], "a@b.com");
    assert_string_equal(r->examples_match[1], "c@d.com");
    assert_int_equal(r->n_examples_no_match, 1); /* a scalar is a one-item list */
    assert_string_equal(r->examples_no_match[0], "nothing here");
    assert_int_equal(r->examples_line, 15);
    assert_int_equal(r->examples_match_lines[0], 15);
    assert_int_equal(r->examples_match_lines[1], 15);
    assert_int_equal(r->examples_no_match_lines[0], 16);

    assert_string_equal(t.patterns[0].expr, "[a-z]{1,10}@[a-z]{1,10}\\.com");
    assert_string_equal(t.patterns[0].source, "[a-z]{1,10}@[a-z]{1,10}\\.com");
    assert_int_equal(t.patterns[0].rule, 0);
    assert_false(t.patterns[0].allow);
    assert_int_equal(t.patterns[0].line, 11);
    assert_int_equal(t.patterns[0].hs_flags, 0);
    assert_int_equal(t.patterns[0].min_width, 7);
    assert_int_equal(t.patterns[0].max_width, 25);
    assert_string_equal(t.patterns[1].expr, "help@acme\\.com");
    assert_true(t.patterns[1].allow);
    assert_int_equal(t.patterns[1].rule, 0);
    assert_int_equal(t.patterns[1].line, 13);

    r = &t.rules[1];
    assert_string_equal(r->id, "brand.promise");
    assert_int_equal(r->line, 17);
    assert_int_equal(r->directions, GW_DIR_REPLY);
    assert_int_equal(r->action, GW_ACTION_BLOCK);
    assert_string_equal(r->message, "Let me connect you.");
    assert_string_equal(r->replacement, "[PROMISE]");
    assert_false(r->need_span); /* block, no validator, no allow list */
    assert_int_equal(r->max_width, 2 + 1 + 9); /* one space: the text is normalised */
    assert_string_equal(t.patterns[2].expr, "\\bwe\\x20guarantee\\b");
    assert_int_equal(t.patterns[2].hs_flags, HS_FLAG_CASELESS);
    assert_true(t.patterns[2].phrase);
    assert_false(t.patterns[0].phrase);
    assert_int_equal(t.patterns[2].rule, 1);
    assert_int_equal(t.patterns[2].line, 23);
    assert_int_equal(t.patterns[2].min_width, 12);

    r = &t.rules[2];
    assert_int_equal(r->directions, GW_DIR_PROMPT);
    assert_int_equal(r->action, GW_ACTION_FLAG);
    assert_ptr_equal(r->validate, gw_valid_card);
    assert_string_equal(r->validator_name, "luhn");
    assert_true(r->need_span); /* a validator needs the span */
    assert_int_equal(t.patterns[3].rule, 2);

    gw_rule_table_free(&t);
    assert_int_equal(t.n_rules, 0);
    assert_null(t.rules);
    gw_errors_free(&e);
}

static void defaults_are_inherited_and_rules_override_them(void **state)
{
    const char *yaml = "name: brand\n"
                       "defaults:\n"
                       "  category: brand\n"
                       "  severity: high\n"
                       "  applies_to: reply\n"
                       "  action: block\n"
                       "  message: \"Sorry, I can't promise that.\"\n"
                       "rules:\n"
                       "  - id: brand.guarantee\n"
                       "    phrases: [we guarantee]\n"
                       "  - id: brand.mask\n"
                       "    category: cx\n"
                       "    severity: low\n"
                       "    applies_to: prompt\n"
                       "    action: redact\n"
                       "    replacement: '***'\n"
                       "    message: other\n"
                       "    patterns: ['secret[0-9]']\n";
    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    assert_int_equal(load(&t, "brand.yaml", yaml, &e), 0);
    assert_int_equal(t.n_rules, 2);
    const struct gw_rule *a = &t.rules[0], *b = &t.rules[1];
    assert_int_equal(a->category, GW_CAT_BRAND);
    assert_int_equal(a->severity, GW_SEV_HIGH);
    assert_int_equal(a->directions, GW_DIR_REPLY);
    assert_int_equal(a->action, GW_ACTION_BLOCK);
    assert_string_equal(a->message, "Sorry, I can't promise that.");
    assert_string_equal(a->replacement, "[GUARANTEE]");
    assert_int_equal(b->category, GW_CAT_CX);
    assert_int_equal(b->severity, GW_SEV_LOW);
    assert_int_equal(b->directions, GW_DIR_PROMPT);
    assert_int_equal(b->action, GW_ACTION_REDACT);
    assert_string_equal(b->message, "other");
    assert_string_equal(b->replacement, "***");
    gw_rule_table_free(&t);
    gw_errors_free(&e);
}

static void defaults_replacement_is_inherited(void **state)
{
    const char *yaml = "name: t\n"
                       "defaults: {category: pii, severity: low, applies_to: both,"
                       " action: redact, replacement: '[PII]'}\n"
                       "rules:\n"
                       "  - id: pii.a\n"
                       "    patterns: ['aa[0-9]']\n"
                       "  - id: pii.b\n"
                       "    replacement: '[B]'\n"
                       "    patterns: ['bb[0-9]']\n";
    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    assert_int_equal(load(&t, "t.yaml", yaml, &e), 0);
    assert_string_equal(t.rules[0].replacement, "[PII]");
    assert_string_equal(t.rules[1].replacement, "[B]");
    gw_rule_table_free(&t);
    gw_errors_free(&e);
}

static void applies_to_accepts_a_list(void **state)
{
    const char *yaml = HEAD "  - id: a.both\n"
                            "    category: pii\n"
                            "    severity: low\n"
                            "    applies_to: [prompt, reply]\n"
                            "    action: flag\n"
                            "    patterns: ['x+y']\n"
                            "  - id: a.reply\n"
                            "    category: pii\n"
                            "    severity: low\n"
                            "    applies_to:\n"
                            "      - reply\n"
                            "    action: flag\n"
                            "    patterns: ['x+y']\n"
                            "  - id: a.prompt\n"
                            "    category: pii\n"
                            "    severity: low\n"
                            "    applies_to: [prompt, both]\n"
                            "    action: flag\n"
                            "    patterns: ['x+y']\n";
    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    assert_int_equal(load(&t, "t.yaml", yaml, &e), 0);
    assert_int_equal(t.rules[0].directions, GW_DIR_PROMPT | GW_DIR_REPLY);
    assert_int_equal(t.rules[1].directions, GW_DIR_REPLY);
    assert_int_equal(t.rules[2].directions, GW_DIR_PROMPT | GW_DIR_REPLY);
    gw_rule_table_free(&t);
    gw_errors_free(&e);
}

static void default_replacement_is_derived_from_the_id(void **state)
{
    const char *yaml = HEAD RULE("pii.email") RULE("secret.aws-key") RULE("cx.tone_2");
    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    assert_int_equal(load(&t, "t.yaml", yaml, &e), 0);
    assert_string_equal(find_rule(&t, "pii.email")->replacement, "[EMAIL]");
    assert_string_equal(find_rule(&t, "secret.aws-key")->replacement, "[AWS_KEY]");
    assert_string_equal(find_rule(&t, "cx.tone_2")->replacement, "[TONE_2]");
    gw_rule_table_free(&t);
    gw_errors_free(&e);
}

static void every_validator_name_is_accepted(void **state)
{
    static const struct {
        const char *name;
        gw_validator_fn fn;
    } v[] = {{"luhn", gw_valid_card},   {"card", gw_valid_card},
             {"iban", gw_valid_iban},   {"ssn", gw_valid_ssn},
             {"ipv4", gw_valid_ipv4},   {"ipv6", gw_valid_ipv6},
             {"phone", gw_valid_phone}, {"spelled_digits", gw_valid_spelled_digits}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char yaml[512];
        snprintf(yaml, sizeof yaml,
                 HEAD "  - id: a.b\n    category: pii\n    severity: low\n    applies_to: both\n"
                      "    action: redact\n    validate: %s\n    patterns: ['[0-9]{4}']\n",
                 v[i].name);
        struct gw_rule_table t = {0};
        struct gw_errors e = {0};
        assert_int_equal(load(&t, "t.yaml", yaml, &e), 0);
        assert_ptr_equal(t.rules[0].validate, v[i].fn);
        assert_string_equal(t.rules[0].validator_name, v[i].name);
        gw_rule_table_free(&t);
        gw_errors_free(&e);
    }
}

static void enum_names_and_action_parse(void **state)
{
    assert_string_equal(gw_category_name(GW_CAT_PII), "pii");
    assert_string_equal(gw_category_name(GW_CAT_CX), "cx");
    assert_string_equal(gw_category_name(GW_CAT__COUNT), "?");
    assert_string_equal(gw_severity_name(GW_SEV_CRITICAL), "critical");
    assert_string_equal(gw_severity_name(GW_SEV__COUNT), "?");
    assert_string_equal(gw_action_name(GW_ACTION_ALLOW), "allow");
    assert_string_equal(gw_action_name(GW_ACTION_BLOCK), "block");
    enum gw_action a = GW_ACTION_ALLOW;
    assert_int_equal(gw_action_parse("redact", &a), 0);
    assert_int_equal(a, GW_ACTION_REDACT);
    assert_int_equal(gw_action_parse("Redact", &a), -1);
    assert_int_equal(a, GW_ACTION_REDACT);
}

/* `guardrail check` names the line of the example that misbehaves, not the list's. */
static void each_example_knows_its_line(void **state)
{
    const char *yaml = HEAD RULE("a.b")     /* 3-8 */
        "    examples:\n"                    /* 9 */
        "      match:\n"                     /* 10 */
        "        - 'xy'\n"                   /* 11 */
        "        - 'xxy'\n"                  /* 12 */
        "      no_match:\n"                  /* 13 */
        "        - 'x'\n"                    /* 14 */
        "        - 'y'\n"                    /* 15 */
        "        - 'z'\n";                   /* 16 */
    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    assert_int_equal(load(&t, "pack.yaml", yaml, &e), 0);
    const struct gw_rule *r = &t.rules[0];
    assert_int_equal(r->examples_line, 10); /* where the mapping starts */
    assert_int_equal(r->n_examples_match, 2);
    assert_int_equal(r->examples_match_lines[0], 11);
    assert_int_equal(r->examples_match_lines[1], 12);
    assert_int_equal(r->n_examples_no_match, 3);
    assert_int_equal(r->examples_no_match_lines[0], 14);
    assert_int_equal(r->examples_no_match_lines[2], 16);
    gw_errors_free(&e);
    gw_rule_table_free(&t);
}

/* What the pack wrote, before a phrase becomes an expression or non-ASCII text is
 * normalised: what `guardrail check` quotes back to its author. */
static void a_pattern_keeps_its_source_text(void **state)
{
    const char *yaml = HEAD RULE("a.b")
        "    phrases: ['Money back']\n"
        "    allow: [\"\\bxy\"]\n";
    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    assert_int_equal(load(&t, "pack.yaml", yaml, &e), 0);
    assert_int_equal(t.n_patterns, 3);
    assert_string_equal(t.patterns[0].source, "x+y");
    assert_string_equal(t.patterns[1].source, "Money back");
    assert_string_equal(t.patterns[1].expr, "\\bMoney\\x20back\\b");
    assert_string_equal(t.patterns[2].source, "\bxy"); /* YAML made \\b a backspace */
    gw_errors_free(&e);
    gw_rule_table_free(&t);
}

/* ---- pack-level errors ---- */

static void yaml_syntax_error_names_the_line(void **state)
{
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii: oops\n",
                  "pack.yaml:4:18: YAML syntax error: mapping values are not allowed in this "
                  "context*",
                  NULL);
    expect_errors(HEAD "  - id: a.b\n"
                       "    patterns: ['unterminated\n",
                  "pack.yaml:5:1: YAML syntax error: *", NULL);
}

/* libyaml's words stay (a web search finds them), and what they mean in a rule pack
 * follows in brackets, for people who do not know YAML's rules by heart. */
static void yaml_syntax_error_is_explained_in_plain_words(void **state)
{
    /* a colon inside a message */
    expect_errors(HEAD "  - id: a.b\n"
                       "    message: Sorry: we cannot help with that\n",
                  "pack.yaml:4:19: YAML syntax error: mapping values are not allowed in this "
                  "context (text with a colon needs quotes: put the whole line's text in single "
                  "quotes)",
                  NULL);
    /* a key indented deeper than the one above */
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "      severity: low\n",
                  "pack.yaml:5:15: YAML syntax error: mapping values are not allowed in this "
                  "context (check the indentation of this line or the one above: the keys of "
                  "one rule, and the items of one list, start in the same column)",
                  NULL);
    /* a list item less indented than the one above */
    expect_errors(HEAD "  - id: a.b\n"
                       "    phrases:\n"
                       "      - one\n"
                       "     - two\n",
                  "pack.yaml:6:6: YAML syntax error: did not find expected key while parsing a "
                  "block mapping (check the indentation of this line or the one above: the keys "
                  "of one rule, and the items of one list, start in the same column)",
                  NULL);
    /* tabs, where the line starts and where a value is indented */
    expect_errors(HEAD "  - id: a.b\n"
                       "    phrases:\n"
                       "\t- one\n",
                  "pack.yaml:5:1: YAML syntax error: found character that cannot start any token "
                  "while scanning for the next token (YAML does not allow tabs for indentation; "
                  "use spaces)",
                  NULL);
    expect_errors(HEAD "  - id: a.b\n"
                       "\tcategory: pii\n",
                  "pack.yaml:4:1: YAML syntax error: found a tab character that violates "
                  "indentation while scanning a plain scalar (YAML does not allow tabs for "
                  "indentation; use spaces)",
                  NULL);
    /* a regular expression in double quotes that YAML cannot read */
    expect_errors(HEAD "  - id: a.b\n"
                       "    patterns: [\"\\d+ items\"]\n",
                  "pack.yaml:4:17: YAML syntax error: found unknown escape character while "
                  "parsing a quoted scalar (in double quotes a backslash starts a YAML escape; "
                  "write patterns in single quotes, where a backslash stays a backslash)",
                  NULL);
    expect_errors(HEAD "  - id: a.b\n"
                       "    message: 'we will be right back\n",
                  "pack.yaml:5:1: YAML syntax error: found unexpected end of stream while "
                  "scanning a quoted scalar (the quote opened on line 4 is never closed)",
                  NULL);
}

static void root_must_be_a_mapping(void **state)
{
    expect_errors("- name: t\n- rules: []\n",
                  "pack.yaml:1: a rule pack must be a mapping with 'name' and 'rules'", NULL);
    expect_errors("\n\njust some text\n",
                  "pack.yaml:3: a rule pack must be a mapping with 'name' and 'rules'", NULL);
}

static void empty_file_is_an_error(void **state)
{
    expect_errors("", "pack.yaml:1: the file is empty", NULL);
    expect_errors("# only a comment\n", "pack.yaml:1: the file is empty", NULL);
}

static void pack_needs_a_name(void **state)
{
    expect_errors("rules:\n" RULE("a.b"), "pack.yaml:1: pack has no 'name'", NULL);
    /* A name given but wrong is reported once, as what is wrong with it. */
    expect_errors("name: ''\nrules:\n" RULE("a.b"), "pack.yaml:1: 'name' must not be empty",
                  NULL);
    expect_errors("name: [a]\nrules:\n" RULE("a.b"), "pack.yaml:1: 'name' must be a string",
                  NULL);
}

/* A key given twice (libyaml keeps both): the last one counts, and the first is freed (each
 * leaked: LeakSanitizer fails this test without the fix). */
static void a_key_given_twice_takes_the_last_value(void **state)
{
    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    assert_int_equal(load(&t, "pack.yaml",
                          "name: first\nname: second\nrules:\n" RULE("a.b")
                          "    description: one\n"
                          "    description: two\n"
                          "    examples: {match: [xy, xxy], match: [xxxy], no_match: [a], no_match: b}\n",
                          &e),
                     0);
    print_errors(&e);
    assert_int_equal(t.n_rules, 1);
    assert_string_equal(t.rules[0].pack, "second");
    assert_string_equal(t.rules[0].description, "two");
    assert_int_equal(t.rules[0].n_examples_match, 1);
    assert_string_equal(t.rules[0].examples_match[0], "xxxy");
    assert_int_equal(t.rules[0].n_examples_no_match, 1);
    assert_string_equal(t.rules[0].examples_no_match[0], "b");
    gw_rule_table_free(&t);
    gw_errors_free(&e);
}

static void a_rule_title_is_an_optional_short_plain_name(void **state)
{
    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    assert_int_equal(load(&t, "pack.yaml",
                          "name: t\nrules:\n" RULE("a.b") "    title: Card number\n" RULE("a.c"),
                          &e),
                     0);
    print_errors(&e);
    assert_int_equal(t.n_rules, 2);
    assert_string_equal(t.rules[0].title, "Card number");
    assert_null(t.rules[1].title);
    gw_rule_table_free(&t);
    gw_errors_free(&e);
    expect_errors(HEAD RULE("a.b") "    title: ''\n", "pack.yaml:9: 'title' must not be empty",
                  NULL);
    expect_errors(HEAD RULE("a.b") "    title: A title far too long to fit in one table cell "
                                   "of the dashboard, really\n",
                  "pack.yaml:9: 'title' must be at most 64 bytes (a short plain name)", NULL);
}

static void pack_needs_a_non_empty_rules_list(void **state)
{
    expect_errors("name: t\n", "pack.yaml:1: pack has no 'rules' list", NULL);
    expect_errors("name: t\nrules: []\n", "pack.yaml:2: 'rules' is empty", NULL);
    expect_errors("name: t\nrules:\n", "pack.yaml:2: 'rules' must be a list", NULL);
    expect_errors("name: t\nrules: {id: a.b}\n", "pack.yaml:2: 'rules' must be a list", NULL);
    expect_errors("name: t\nrules:\n  - just a string\n",
                  "pack.yaml:3: each rule must be a mapping (id: ..., category: ..., ...)", NULL);
}

static void unknown_pack_key_is_an_error(void **state)
{
    expect_errors("name: t\nversion: 2\nrules:\n" RULE("a.b"),
                  "pack.yaml:2: unknown pack key 'version' (expected name, description, "
                  "model, defaults, rules, shadow, contacts)",
                  NULL);
}

static void unknown_rule_key_is_an_error(void **state)
{
    expect_errors(HEAD RULE("a.b") "    colour: red\n",
                  "pack.yaml:9: unknown rule key 'colour' (expected id, category, severity, "
                  "applies_to, action, patterns, phrases, validate, allow, replacement, "
                  "message, description, title, examples, shadow, head, above, contacts)",
                  NULL);
}

static void unknown_key_in_defaults_is_an_error(void **state)
{
    expect_errors("name: t\n"
                  "defaults:\n"
                  "  category: pii\n"
                  "  pattern: 'x'\n"
                  "rules:\n" RULE("a.b"),
                  "pack.yaml:4: unknown key 'pattern' in defaults (expected category, severity, "
                  "applies_to, action, replacement, message, shadow)",
                  NULL);
    expect_errors("name: t\ndefaults: [pii]\nrules:\n" RULE("a.b"),
                  "pack.yaml:2: 'defaults' must be a mapping", NULL);
}

static void unknown_key_in_examples_is_an_error(void **state)
{
    expect_errors(HEAD RULE("a.b") "    examples:\n"
                                   "      match: ['xy']\n"
                                   "      matches: ['xxy']\n",
                  "pack.yaml:11: unknown key 'matches' in examples (expected match, no_match)",
                  NULL);
    expect_errors(HEAD RULE("a.b") "    examples: ['xy']\n",
                  "pack.yaml:9: 'examples' must be a mapping with 'match' and/or 'no_match' "
                  "lists",
                  NULL);
}

/* ---- ids ---- */

static void rule_needs_an_id(void **state)
{
    expect_errors(HEAD "  - category: pii\n"
                       "    severity: low\n"
                       "    applies_to: both\n"
                       "    action: flag\n"
                       "    patterns: ['x+y']\n",
                  "pack.yaml:3: rule has no 'id'", NULL);
}

static void rule_id_must_be_dotted_lower_case(void **state)
{
    static const char *const bad[] = {"pii",        "Pii.email", "pii.Email", "pii..email",
                                      "pii.",       ".pii",      "pii.e mail", "pii/email",
                                      "-pii.email", "_x.y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[512], want[256];
        snprintf(yaml, sizeof yaml, HEAD RULE("'%s'"), bad[i]);
        snprintf(want, sizeof want,
                 "pack.yaml:3: rule id '%s' must be dotted lower-case words, like 'pii.email'",
                 bad[i]);
        expect_errors(yaml, want, NULL);
    }
    /* These are fine. */
    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    assert_int_equal(load(&t, "t.yaml", HEAD RULE("pii.email") RULE("a.b.c_d-2")
                                           RULE("2fa.code"), &e), 0);
    assert_int_equal(t.n_rules, 3);
    gw_rule_table_free(&t);
    gw_errors_free(&e);
}

static void empty_id_is_reported_once(void **state)
{
    expect_errors(HEAD RULE("''"), "pack.yaml:3: 'id' must not be empty", NULL);
}

static void duplicate_id_within_a_pack_names_the_first(void **state)
{
    expect_errors(HEAD RULE("a.b") RULE("a.c") RULE("a.b"),
                  "pack.yaml:15: duplicate rule id 'a.b' (first defined at pack.yaml:3)", NULL);
}

static void duplicate_id_across_packs_names_the_first(void **state)
{
    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    assert_int_equal(load(&t, "one.yaml", HEAD RULE("a.x") RULE("a.b"), &e), 0);
    assert_int_equal(load(&t, "two.yaml", HEAD RULE("a.y") RULE("a.b"), &e), 1);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.msgs[0],
                        "two.yaml:9: duplicate rule id 'a.b' (first defined at one.yaml:9)");
    /* two.yaml is not loaded at all: a.y is not there. */
    assert_int_equal(t.n_packs, 1);
    assert_int_equal(t.n_rules, 2);
    assert_int_equal(t.n_patterns, 2);
    assert_null(find_rule(&t, "a.y"));
    gw_rule_table_free(&t);
    gw_errors_free(&e);
}

/* ---- required keys and enums ---- */

static void missing_required_keys_are_named(void **state)
{
    expect_errors(HEAD "  - id: a.b\n"
                       "    severity: low\n"
                       "    applies_to: both\n"
                       "    action: flag\n"
                       "    patterns: ['x+y']\n",
                  "pack.yaml:3: rule 'a.b' has no 'category' (and the pack has no default)",
                  NULL);
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    applies_to: both\n"
                       "    action: flag\n"
                       "    patterns: ['x+y']\n",
                  "pack.yaml:3: rule 'a.b' has no 'severity' (and the pack has no default)",
                  NULL);
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    action: flag\n"
                       "    patterns: ['x+y']\n",
                  "pack.yaml:3: rule 'a.b' has no 'applies_to' (and the pack has no default)",
                  NULL);
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    applies_to: both\n"
                       "    patterns: ['x+y']\n",
                  "pack.yaml:3: rule 'a.b' has no 'action' (and the pack has no default)", NULL);
    expect_errors(HEAD "  - id: a.b\n"
                       "    patterns: ['x+y']\n",
                  "pack.yaml:3: rule 'a.b' has no 'category' (and the pack has no default)",
                  "pack.yaml:3: rule 'a.b' has no 'severity' (and the pack has no default)",
                  "pack.yaml:3: rule 'a.b' has no 'action' (and the pack has no default)",
                  "pack.yaml:3: rule 'a.b' has no 'applies_to' (and the pack has no default)",
                  NULL);
}

static void bad_enum_values_are_reported_once(void **state)
{
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pi\n"
                       "    severity: low\n"
                       "    applies_to: both\n"
                       "    action: flag\n"
                       "    patterns: ['x+y']\n",
                  "pack.yaml:4: unknown category 'pi' (expected one of: pii, secret, injection, "
                  "unsafe, brand, cx)",
                  NULL);
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: urgent\n"
                       "    applies_to: both\n"
                       "    action: flag\n"
                       "    patterns: ['x+y']\n",
                  "pack.yaml:5: unknown severity 'urgent' (expected one of: low, medium, high, "
                  "critical)",
                  NULL);
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    applies_to: replies\n"
                       "    action: flag\n"
                       "    patterns: ['x+y']\n",
                  "pack.yaml:6: unknown applies_to 'replies' (expected one of: prompt, reply, "
                  "both)",
                  NULL);
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    applies_to: [prompt, answer]\n"
                       "    action: flag\n"
                       "    patterns: ['x+y']\n",
                  "pack.yaml:6: unknown applies_to 'answer' (expected one of: prompt, reply, "
                  "both)",
                  NULL);
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    applies_to: []\n"
                       "    action: flag\n"
                       "    patterns: ['x+y']\n",
                  "pack.yaml:6: 'applies_to' must name prompt, reply or both", NULL);
    /* "allow" is a verdict, not an action a rule may take. */
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    applies_to: both\n"
                       "    action: allow\n"
                       "    patterns: ['x+y']\n",
                  "pack.yaml:7: unknown action 'allow' (expected one of: flag, redact, block)",
                  NULL);
    /* A bad value in defaults is reported there, not again for every rule. */
    expect_errors("name: t\n"
                  "defaults: {category: pii, severity: low, applies_to: both, action: hide}\n"
                  "rules:\n"
                  "  - id: a.b\n"
                  "    patterns: ['x+y']\n"
                  "  - id: a.c\n"
                  "    patterns: ['x+z']\n",
                  "pack.yaml:2: unknown action 'hide' (expected one of: flag, redact, block)",
                  NULL);
}

/* ---- patterns, phrases, validators ---- */

static void invalid_regex_is_an_error(void **state)
{
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    applies_to: both\n"
                       "    action: flag\n"
                       "    patterns:\n"
                       "      - 'ok[0-9]'\n"
                       "      - '(abc'\n",
                  "pack.yaml:10: invalid pattern '(abc': *", NULL);
    /* Backreferences are not Hyperscan syntax. */
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    applies_to: both\n"
                       "    action: flag\n"
                       "    patterns: ['(a)\\1']\n",
                  "pack.yaml:8: invalid pattern '(a)\\1': *", NULL);
    /* Allow lists are checked too. */
    expect_errors(HEAD RULE("a.b") "    allow: ['[z']\n", "pack.yaml:9: invalid pattern '[z': *",
                  NULL);
}

static void pattern_that_matches_empty_is_an_error(void **state)
{
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    applies_to: both\n"
                       "    action: flag\n"
                       "    patterns: ['a*']\n",
                  "pack.yaml:8: pattern 'a*' can match empty text; it would match everywhere",
                  NULL);
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    applies_to: both\n"
                       "    action: flag\n"
                       "    patterns: ['\\b']\n",
                  "pack.yaml:8: pattern '\\b' can match empty text; it would match everywhere",
                  NULL);
}

static void unknown_validator_is_an_error(void **state)
{
    char want[512];
    snprintf(want, sizeof want, "pack.yaml:9: unknown validator 'visa' (known: %s)",
             gw_validator_names());
    expect_errors(HEAD RULE("a.b") "    validate: visa\n", want, NULL);
}

static void empty_phrases_or_patterns_list_is_an_error(void **state)
{
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    applies_to: both\n"
                       "    action: flag\n"
                       "    phrases: []\n",
                  "pack.yaml:8: 'phrases' is empty: give at least one item or remove the key",
                  NULL);
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    applies_to: both\n"
                       "    action: flag\n"
                       "    phrases: [refund]\n"
                       "    patterns: []\n",
                  "pack.yaml:9: 'patterns' is empty: give at least one item or remove the key",
                  NULL);
    expect_errors(HEAD RULE("a.b") "    allow: []\n",
                  "pack.yaml:9: 'allow' is empty: give at least one item or remove the key",
                  NULL);
}

static void rule_without_patterns_or_phrases_is_an_error(void **state)
{
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    applies_to: both\n"
                       "    action: flag\n",
                  "pack.yaml:3: rule 'a.b' has neither 'patterns' nor 'phrases'", NULL);
}

static void blank_phrase_is_an_error(void **state)
{
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    applies_to: both\n"
                       "    action: flag\n"
                       "    phrases: ['   ']\n",
                  "pack.yaml:8: phrase '   ' is blank", NULL);
}

static void list_items_must_be_strings(void **state)
{
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    applies_to: both\n"
                       "    action: flag\n"
                       "    patterns:\n"
                       "      - [x]\n",
                  "pack.yaml:9: every item of 'patterns' must be a non-empty string", NULL);
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    applies_to: both\n"
                       "    action: flag\n"
                       "    phrases:\n"
                       "      - {a: b}\n",
                  "pack.yaml:9: every item of 'phrases' must be a non-empty string", NULL);
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    applies_to: both\n"
                       "    action: flag\n"
                       "    patterns: ['']\n",
                  "pack.yaml:8: every item of 'patterns' must be a non-empty string", NULL);
    expect_errors(HEAD RULE("a.b") "    allow:\n"
                                   "      - [x]\n",
                  "pack.yaml:10: every item of 'allow' must be a non-empty string", NULL);
    expect_errors(HEAD RULE("a.b") "    examples:\n"
                                   "      match:\n"
                                   "        - xy\n"
                                   "        - [xy]\n",
                  "pack.yaml:12: every item of 'match' must be a string", NULL);
    expect_errors(HEAD RULE("a.b") "    examples:\n"
                                   "      no_match: {a: b}\n",
                  "pack.yaml:10: 'no_match' must be a list of strings", NULL);
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    applies_to: [[prompt]]\n"
                       "    action: flag\n"
                       "    patterns: ['x+y']\n",
                  "pack.yaml:6: 'applies_to' must be a string", NULL);
    expect_errors(HEAD "  - id: a.b\n"
                       "    category: pii\n"
                       "    severity: low\n"
                       "    applies_to: both\n"
                       "    action: flag\n"
                       "    patterns: 'x+y'\n",
                  "pack.yaml:8: 'patterns' must be a list", NULL);
    expect_errors(HEAD RULE("a.b") "    validate: [luhn]\n",
                  "pack.yaml:9: 'validate' must be a string", NULL);
}

static void every_error_of_a_pack_is_reported(void **state)
{
    expect_errors(HEAD RULE("a.b") "    colour: red\n" /* 9 */
                  RULE("Bad")                          /* 10 */
                  RULE("a.c") "    validate: nope\n",  /* 16, validate on 22 */
                  "pack.yaml:9: unknown rule key 'colour' *",
                  "pack.yaml:10: rule id 'Bad' must be dotted lower-case words, like 'pii.email'",
                  "pack.yaml:22: unknown validator 'nope' *", NULL);
}

/* ---- whole packs ---- */

static void pack_with_an_error_is_not_loaded_in_part(void **state)
{
    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    assert_int_equal(load(&t, "first.yaml", HEAD RULE("a.one"), &e), 0);
    assert_int_equal(t.n_rules, 1);

    /* Two good rules and one bad one: none of the three is added. */
    assert_int_equal(load(&t, "bad.yaml", HEAD RULE("b.one") RULE("b.two")
                                              "  - id: b.three\n    patterns: ['(']\n", &e),
                     1);
    assert_true(e.n >= 1);
    assert_int_equal(t.n_packs, 1);
    assert_int_equal(t.n_rules, 1);
    assert_int_equal(t.n_patterns, 1);
    assert_string_equal(t.rules[0].id, "a.one");

    /* The ids of the rejected pack are free: a later pack may use them. */
    assert_int_equal(load(&t, "third.yaml", HEAD RULE("b.one") RULE("c.two"), &e), 0);
    assert_int_equal(t.n_packs, 2);
    assert_int_equal(t.n_rules, 3);
    assert_int_equal(t.n_patterns, 3);
    /* Rule indexes of the later pack point at its own rules. */
    assert_int_equal(t.patterns[1].rule, 1);
    assert_int_equal(t.patterns[2].rule, 2);
    assert_string_equal(t.rules[1].id, "b.one");
    assert_string_equal(t.rules[1].file, "third.yaml");
    gw_rule_table_free(&t);
    gw_errors_free(&e);
}

/* Writes files into a fresh temporary directory. */
static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_dir(const char *dir, const char *const *names)
{
    char path[512];
    for (; *names; names++) {
        snprintf(path, sizeof path, "%s/%s", dir, *names);
        unlink(path);
    }
    rmdir(dir);
}

static void directory_loads_packs_in_name_order_and_skips_bad_ones(void **state)
{
    char dir[] = "/tmp/gw_test_rules_XXXXXX";
    assert_non_null(mkdtemp(dir));
    static const char *const names[] = {"b.yaml", "a.yml", "c.yaml", ".hidden.yaml",
                                        "notes.txt", "d.yaml", NULL};
    write_file(dir, "b.yaml", HEAD RULE("b.one"));
    write_file(dir, "a.yml", HEAD RULE("a.one") RULE("a.two"));
    write_file(dir, "c.yaml", HEAD RULE("c.one") "    colour: red\n");
    write_file(dir, ".hidden.yaml", HEAD RULE("h.one"));
    write_file(dir, "notes.txt", "not yaml: [");
    write_file(dir, "d.yaml", HEAD RULE("a.two")); /* duplicate of a.yml's */

    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    assert_int_equal(gw_rules_load_path(&t, dir, &e), 2);
    if (e.n != 2)
        print_errors(&e);
    assert_int_equal(e.n, 2);
    char want[1024];
    snprintf(want, sizeof want, "%s/c.yaml:9: unknown rule key 'colour' ", dir);
    assert_memory_equal(e.msgs[0], want, strlen(want));
    snprintf(want, sizeof want, "%s/d.yaml:3: duplicate rule id 'a.two' (first defined at %s/a.yml:9)",
             dir, dir);
    assert_string_equal(e.msgs[1], want);
    assert_int_equal(t.n_packs, 2);
    assert_int_equal(t.n_rules, 3);
    assert_string_equal(t.rules[0].id, "a.one"); /* a.yml before b.yaml */
    assert_string_equal(t.rules[1].id, "a.two");
    assert_string_equal(t.rules[2].id, "b.one");
    gw_rule_table_free(&t);
    gw_errors_free(&e);

    /* One file by its path. */
    char path[512];
    snprintf(path, sizeof path, "%s/b.yaml", dir);
    assert_int_equal(gw_rules_load_path(&t, path, &e), 0);
    assert_int_equal(t.n_rules, 1);
    assert_string_equal(t.rules[0].file, path);
    gw_rule_table_free(&t);
    gw_errors_free(&e);
    remove_dir(dir, names);
}

static void missing_path_and_empty_directory_are_errors(void **state)
{
    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    assert_int_equal(gw_rules_load_path(&t, "/nonexistent/gw/rules", &e), 1);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.msgs[0], "/nonexistent/gw/rules: cannot open: No such file or directory");
    gw_errors_free(&e);

    char dir[] = "/tmp/gw_test_rules_XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(gw_rules_load_path(&t, dir, &e), 1);
    assert_int_equal(e.n, 1);
    char want[512];
    snprintf(want, sizeof want, "%s: no rule packs (*.yaml) in this directory", dir);
    assert_string_equal(e.msgs[0], want);
    assert_int_equal(t.n_rules, 0);
    gw_errors_free(&e);
    rmdir(dir);
}

/* ---- phrases ---- */

static void phrase(const char *in, const char *want)
{
    char *re = gw_phrase_to_regex(in);
    if (!want) {
        assert_null(re);
        return;
    }
    assert_non_null(re);
    assert_string_equal(re, want);
    free(re);
}

static void phrase_is_escaped_with_boundaries_at_word_ends(void **state)
{
    phrase("refund", "\\brefund\\b");
    phrase("100% guaranteed", "\\b100\\x25\\x20guaranteed\\b");
    phrase("(c) a.b*", "\\x28c\\x29\\x20a\\x2eb\\x2a");
    phrase("#1 deal", "\\x231\\x20deal\\b");
    phrase("snake_case", "\\bsnake\\x5fcase\\b");
    phrase("_x_", "\\b\\x5fx\\x5f\\b");
    phrase("a+b?[c]{d}|e^$\\", "\\ba\\x2bb\\x3f\\x5bc\\x5d\\x7bd\\x7d\\x7ce\\x5e\\x24\\x5c");
}

/* A phrase is normalised as the text is: accents go, other scripts' letters are folded,
 * so what is left to match is the normal form. */
static void phrase_is_normalised_like_the_text(void **state)
{
    phrase("caf\xc3\xa9", "\\bcafe\\b");                        /* é is e */
    phrase("\xc3\x89T\xc3\x89", "\\bETE\\b");                    /* É is E (NFKD) */
    phrase("\xef\xbd\x92\xef\xbd\x85\xef\xbd\x86und", "\\brefund\\b"); /* fullwidth */
    /* Cyrillic П Р И: case-folded (п р и), then р looks like p, and п and и read as n and
     * u ("faux Cyrillic"), as in the text */
    phrase("\xd0\x9f\xd0\xa0\xd0\x98", "\\bnpu\\b");
    phrase("re\xc2\xad" "fund", "\\brefund\\b");                    /* soft hyphen */
}

static void phrase_whitespace_runs_match_any_whitespace(void **state)
{
    phrase("we  guarantee", "\\bwe\\x20guarantee\\b");
    phrase("a\tb\n c", "\\ba\\x20b\\x20c\\b");
    phrase("  padded  ", "\\bpadded\\b");
    phrase("", NULL);
    phrase(" \t\n", NULL);
}

static void phrase_apostrophe_matches_the_typographic_one(void **state)
{
    /* the text's U+2019 is normalised to ', like the phrase's */
    phrase("don't", "\\bdon\\x27t\\b");
    phrase("don\xe2\x80\x99t", "\\bdon\\x27t\\b");
    phrase("'quoted'", "\\x27quoted\\x27");
}

/* A NUL in a text ("\0" in double quotes) would end it silently; nesting thousands deep
 * would take libyaml minutes: both refused at once, with what is wrong. */
static void nul_text_and_deep_nesting_are_refused(void **state)
{
    (void)state;
    expect_errors("name: t\nrules:\n  - id: a.b\n    category: brand\n    severity: low\n"
                  "    applies_to: both\n    action: block\n"
                  "    phrases: [\"refund guaranteed\\0 never mind\"]\n",
                  "pack.yaml:8: this text holds a NUL character (\\0 in double quotes), which "
                  "no rule text can contain",
                  NULL);
    char *deep = malloc(200032);
    strcpy(deep, "name: t\nrules: ");
    size_t n = strlen(deep);
    for (int i = 0; i < 100000; i++)
        deep[n++] = '[';
    for (int i = 0; i < 100000; i++)
        deep[n++] = ']';
    deep[n] = '\0';
    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    assert_int_equal(gw_rules_load_string(&t, "pack.yaml", deep, n, &e), 1);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.msgs[0], "pack.yaml: lists or mappings nested more than 64 deep "
                                   "([ [ [ ...): a rule pack never needs that");
    gw_errors_free(&e);
    gw_rule_table_free(&t);
    free(deep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nul_text_and_deep_nesting_are_refused),
        cmocka_unit_test(valid_pack_loads_every_field),
        cmocka_unit_test(defaults_are_inherited_and_rules_override_them),
        cmocka_unit_test(defaults_replacement_is_inherited),
        cmocka_unit_test(applies_to_accepts_a_list),
        cmocka_unit_test(default_replacement_is_derived_from_the_id),
        cmocka_unit_test(every_validator_name_is_accepted),
        cmocka_unit_test(enum_names_and_action_parse),
        cmocka_unit_test(yaml_syntax_error_names_the_line),
        cmocka_unit_test(yaml_syntax_error_is_explained_in_plain_words),
        cmocka_unit_test(each_example_knows_its_line),
        cmocka_unit_test(a_pattern_keeps_its_source_text),
        cmocka_unit_test(root_must_be_a_mapping),
        cmocka_unit_test(empty_file_is_an_error),
        cmocka_unit_test(pack_needs_a_name),
        cmocka_unit_test(a_key_given_twice_takes_the_last_value),
        cmocka_unit_test(a_rule_title_is_an_optional_short_plain_name),
        cmocka_unit_test(pack_needs_a_non_empty_rules_list),
        cmocka_unit_test(unknown_pack_key_is_an_error),
        cmocka_unit_test(unknown_rule_key_is_an_error),
        cmocka_unit_test(unknown_key_in_defaults_is_an_error),
        cmocka_unit_test(unknown_key_in_examples_is_an_error),
        cmocka_unit_test(rule_needs_an_id),
        cmocka_unit_test(rule_id_must_be_dotted_lower_case),
        cmocka_unit_test(empty_id_is_reported_once),
        cmocka_unit_test(duplicate_id_within_a_pack_names_the_first),
        cmocka_unit_test(duplicate_id_across_packs_names_the_first),
        cmocka_unit_test(missing_required_keys_are_named),
        cmocka_unit_test(bad_enum_values_are_reported_once),
        cmocka_unit_test(invalid_regex_is_an_error),
        cmocka_unit_test(pattern_that_matches_empty_is_an_error),
        cmocka_unit_test(unknown_validator_is_an_error),
        cmocka_unit_test(empty_phrases_or_patterns_list_is_an_error),
        cmocka_unit_test(rule_without_patterns_or_phrases_is_an_error),
        cmocka_unit_test(blank_phrase_is_an_error),
        cmocka_unit_test(list_items_must_be_strings),
        cmocka_unit_test(every_error_of_a_pack_is_reported),
        cmocka_unit_test(pack_with_an_error_is_not_loaded_in_part),
        cmocka_unit_test(directory_loads_packs_in_name_order_and_skips_bad_ones),
        cmocka_unit_test(missing_path_and_empty_directory_are_errors),
        cmocka_unit_test(phrase_is_escaped_with_boundaries_at_word_ends),
        cmocka_unit_test(phrase_is_normalised_like_the_text),
        cmocka_unit_test(phrase_whitespace_runs_match_any_whitespace),
        cmocka_unit_test(phrase_apostrophe_matches_the_typographic_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
