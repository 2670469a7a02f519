/* What `guardrail check` warns about (screen/lint.h): the traps a brand team falls into
 * with a pack that loads and compiles, each named at file:line in plain words, and
 * --strict, which makes them errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "screen/lint.h"
#include "fixture.h"

/* ---- helpers ---- */

/* Lints yaml against corpus c (NULL: none) and checks the warnings, in order, against the
 * sentences given (NULL-terminated). */
static void expect_warnings(const char *yaml, const struct gw_corpus *c, ...)
{
    struct gw_ruleset *rs = compile(yaml);
    gw_scanner *sc = gw_scanner_new(rs);
    struct gw_lint lint = {0};
    assert_int_equal(gw_lint(sc, c, &lint), 0);
    va_list ap;
    va_start(ap, c);
    size_t i = 0;
    struct gw_buf line = {0};
    for (const char *want; (want = va_arg(ap, const char *)); i++) {
        if (i >= lint.n)
            fail_msg("warning %zu missing (only %zu): %s", i, lint.n, want);
        gw_buf_reset(&line);
        gw_lint_describe(rs, &lint.v[i], &line);
        assert_string_equal(line.data, want);
    }
    va_end(ap);
    for (size_t k = i; k < lint.n; k++) {
        gw_buf_reset(&line);
        gw_lint_describe(rs, &lint.v[k], &line);
        print_message("  extra warning: %s\n", line.data);
    }
    assert_int_equal(lint.n, i);
    gw_buf_free(&line);
    gw_lint_free(&lint);
    gw_scanner_free(sc);
    gw_ruleset_unref(rs);
}

#define HEAD "name: t\nrules:\n" /* lines 1-2; the first rule starts on line 3 */

/* A rule's first five lines (3-7 for the first rule): id, then brand, high, dir, action. */
#define RULE(id, dir, action)                                                                  \
    "  - id: " id "\n"                                                                         \
    "    category: brand\n"                                                                    \
    "    severity: high\n"                                                                     \
    "    applies_to: " dir "\n"                                                                \
    "    action: " action "\n"

/* ---- a control character in a pattern: YAML's double quotes ---- */

static void a_backspace_from_double_quotes_is_named_with_the_single_quoted_fix(void **state)
{
    expect_warnings(HEAD RULE("brand.warranty", "reply", "block")
                    "    patterns:\n"                                   /* 8 */
                    "      - \"\\blifelong warranty\\b\"\n"             /* 9 */
                    "      - \"(?i)\\bcan't\\tfail\"\n",                /* 10 */
                    NULL,
                    "test.yaml:9: warning: rule 'brand.warranty': pattern '\\blifelong "
                    "warranty\\b' holds a backspace where you probably wrote \\b: inside double "
                    "quotes, YAML turns \\b into a backspace, so this pattern never matches what "
                    "you meant. Put it in single quotes instead: '\\blifelong warranty\\b'",
                    "test.yaml:10: warning: rule 'brand.warranty': pattern '(?i)\\bcan't\\tfail' "
                    "holds a backspace where you probably wrote \\b: inside double quotes, YAML "
                    "turns \\b into a backspace, so this pattern never matches what you meant. "
                    "Put it in single quotes instead: '(?i)\\bcan''t\\tfail'",
                    NULL);
}

static void a_control_character_in_an_allow_pattern_is_named_too(void **state)
{
    expect_warnings(HEAD RULE("brand.price", "reply", "flag")
                    "    patterns: ['(?i)\\bprice match']\n"              /* 8 */
                    "    allow: [\"no\\tprice match\"]\n",               /* 9 */
                    NULL,
                    "test.yaml:9: warning: rule 'brand.price': allow pattern 'no\\tprice match' "
                    "holds a tab where you probably wrote \\t: inside double quotes, YAML turns "
                    "\\t into a tab, so this allow pattern never matches what you meant. Put it "
                    "in single quotes instead: 'no\\tprice match'",
                    NULL);
}

static void single_quoted_patterns_and_phrases_have_no_warning(void **state)
{
    expect_warnings(HEAD RULE("brand.warranty", "reply", "block")
                    "    patterns: ['\\blifelong warranty\\b']\n"
                    "    phrases: [\"tab\\there\"]\n", /* a phrase's whitespace is any space */
                    NULL, NULL);
}

/* ---- a pattern that no example exercises ---- */

static void a_pattern_no_match_example_exercises_is_named(void **state)
{
    expect_warnings(HEAD RULE("brand.claims", "reply", "flag")
                    "    phrases:\n"                                    /* 8 */
                    "      - best in the world\n"                       /* 9 */
                    "      - number one brand\n"                        /* 10 */
                    "    patterns:\n"                                   /* 11 */
                    "      - '(?i)\\bcheapest (?:anywhere|in town)'\n"  /* 12 */
                    "    examples:\n"                                   /* 13 */
                    "      match:\n"                                    /* 14 */
                    "        - 'Our coffee is the best in the world.'\n"
                    "        - 'Simply the BEST in the world!'\n"
                    "      no_match:\n"
                    "        - 'We are the number one choice.'\n"
                    RULE("brand.quiet", "reply", "flag")                 /* 20-24 */
                    "    phrases: [unbeatable]\n",                      /* no examples: none */
                    NULL,
                    "test.yaml:10: warning: rule 'brand.claims': no 'match' example matches "
                    "phrase 'number one brand': add an example it should catch (examples at line "
                    "14), or remove it if it is not needed",
                    "test.yaml:12: warning: rule 'brand.claims': no 'match' example matches "
                    "pattern '(?i)\\bcheapest (?:anywhere|in town)': add an example it should "
                    "catch (examples at line 14), or remove it if it is not needed",
                    NULL);
}

/* A reply rule's examples are scanned as replies, a prompt rule's as prompts, and one
 * example can exercise several patterns. */
static void an_example_exercises_every_pattern_it_matches(void **state)
{
    expect_warnings(HEAD RULE("brand.claims", "[prompt, reply]", "flag")
                    "    phrases: [best in the world, number one brand]\n"
                    "    patterns: ['(?i)\\bcheapest (?:anywhere|in town)']\n"
                    "    examples:\n"
                    "      match:\n"
                    "        - 'The number one brand, cheapest in town, best in the world.'\n",
                    NULL, NULL);
}

/* ---- a block or redact rule that fires on ordinary messages ---- */

static const char replies[] =
    "# ten ordinary replies\n"
    "Thanks for waiting, your order left our warehouse this morning and should arrive on "
    "Thursday.\n"
    "Your order is ready to collect. Your order number is on the receipt.\n"
    "\n"
    "I have updated your order.\n"
    "You can return the jacket within 30 days.\n"
    "The store opens at 9 am.\n"
    "Refunds take about five working days.\n"
    "Breakfast is included in your room rate.\n"
    "Your contract ends in March.\n"
    "Roaming is included in your plan.\n"
    "Online check-in opens a day before departure.\n";

static const char prompts[] = "Where is my parcel?\n"
                              "Can I change my seat?\n"
                              "Is breakfast included?\n"
                              "When does my contract end?\n"
                              "Please cancel your order form, I mean my order.\n";

static void a_rule_that_fires_on_ordinary_messages_says_how_often_with_an_example(void **state)
{
    struct gw_corpus c = {0};
    assert_int_equal(gw_corpus_add(&c, GW_DIR_REPLY, replies, strlen(replies)), 0);
    assert_int_equal(gw_corpus_add(&c, GW_DIR_PROMPT, prompts, strlen(prompts)), 0);
    assert_int_equal(c.n[1], 10);
    assert_int_equal(c.n[0], 5);
    expect_warnings(HEAD RULE("brand.order", "both", "block")    /* 3-7 */
                    "    phrases: [your order]\n"
                    RULE("pii.room", "reply", "redact")              /* 9-13 */
                    "    phrases: [your room, your plan]\n"
                    RULE("brand.contract", "prompt", "block")        /* 15-19: replies only */
                    "    phrases: [contract ends]\n"
                    RULE("cx.thanks", "reply", "flag")               /* 21-25: flag: counted */
                    "    patterns: ['(?i)the|your']\n",              /* never */
                    &c,
                    "test.yaml:3: warning: rule 'brand.order': blocks on 1 of 5 ordinary "
                    "customer messages (20%), e.g. 'Please cancel your order form, I mean my "
                    "order.': more than 2% of everyday conversations would be hit. Make its "
                    "phrases or patterns more specific",
                    "test.yaml:3: warning: rule 'brand.order': blocks on 3 of 10 ordinary "
                    "assistant replies (30%), e.g. 'Thanks for waiting, your order left our "
                    "warehouse this morning and...': more than 2% of everyday conversations "
                    "would be hit. Make its phrases or patterns more specific",
                    "test.yaml:9: warning: rule 'pii.room': redacts on 2 of 10 ordinary "
                    "assistant replies (20%), e.g. 'Breakfast is included in your room rate.': "
                    "more than 2% of everyday conversations would be hit. Make its phrases or "
                    "patterns more specific",
                    NULL);
    gw_corpus_free(&c);
}

/* A rule in shadow does not act yet; the warning says what it would do once promoted. */
static void a_rule_in_shadow_is_warned_about_what_it_would_do(void **state)
{
    struct gw_corpus c = {0};
    assert_int_equal(gw_corpus_add(&c, GW_DIR_REPLY, replies, strlen(replies)), 0);
    expect_warnings(HEAD RULE("brand.order", "reply", "block")
                    "    shadow: true\n"
                    "    phrases: [your order]\n",
                    &c,
                    "test.yaml:3: warning: rule 'brand.order': out of shadow, it would block on 3 "
                    "of 10 ordinary assistant replies (30%), e.g. 'Thanks for waiting, your order "
                    "left our warehouse this morning and...': more than 2% of everyday "
                    "conversations would be hit. Make its phrases or patterns more specific",
                    NULL);
    gw_corpus_free(&c);
}

/* GW_LINT_CORPUS_MAX_PCT: 1 of 50 messages is 2%, allowed; 2 of 50 is not. */
static void two_percent_of_the_corpus_is_allowed_and_more_is_not(void **state)
{
    struct gw_buf text = {0};
    for (int i = 0; i < 48; i++)
        gw_buf_printf(&text, "An ordinary message, number %d.\n", i);
    gw_buf_puts(&text, "Can I get a refund?\n");
    struct gw_corpus c = {0};
    assert_int_equal(gw_corpus_add(&c, GW_DIR_PROMPT, text.data, text.len), 0);
    assert_int_equal(gw_corpus_add(&c, GW_DIR_PROMPT, "Hello there.\n", 13), 0);
    assert_int_equal(c.n[0], 50);
    const char *pack = HEAD RULE("cx.refund", "prompt", "redact") "    phrases: [refund]\n";
    expect_warnings(pack, &c, NULL);
    c.v[0][48] = (struct gw_corpus_text){"A refund, a refund!", 19}; /* counts once */
    expect_warnings(pack, &c, NULL);
    c.v[0][48] = (struct gw_corpus_text){"Refund please.", 14};
    c.v[0][49] = (struct gw_corpus_text){"Where is my refund?", 19};
    expect_warnings(pack, &c,
                    "test.yaml:3: warning: rule 'cx.refund': redacts on 2 of 50 ordinary "
                    "customer messages (4%), e.g. 'Refund please.': more than 2% of everyday "
                    "conversations would be hit. Make its phrases or patterns more specific",
                    NULL);
    gw_corpus_free(&c);
    gw_buf_free(&text);
}

/* The corpus shipped in the binary: about 150 messages each way, one a line, no comment
 * or blank line taken for a message, and nothing in it that the default packs act on
 * (tests/CMakeLists.txt runs `guardrail check --strict rules`). */
static void the_built_in_corpus_has_ordinary_messages_both_ways(void **state)
{
    struct gw_corpus c = {0};
    assert_int_equal(gw_corpus_builtin(&c), 0);
    for (int d = 0; d < 2; d++) {
        assert_in_range(c.n[d], 150, 200);
        for (size_t i = 0; i < c.n[d]; i++) {
            assert_in_range(c.v[d][i].len, 2, 200);
            assert_true(c.v[d][i].s[0] != '#');
            assert_null(memchr(c.v[d][i].s, '\n', c.v[d][i].len));
        }
    }
    gw_corpus_free(&c);
}

/* ---- a short blocking phrase ---- */

static void a_blocking_phrase_under_four_letters_is_named(void **state)
{
    expect_warnings(HEAD RULE("brand.words", "reply", "block")
                    "    phrases:\n"       /* 8 */
                    "      - the\n"        /* 9 */
                    "      - refund\n"     /* 10 */
                    "      - 'a b c'\n"    /* 11 */
                    RULE("cx.words", "reply", "flag")
                    "    phrases: [the]\n", /* flag: counted, never blocks */
                    NULL,
                    "test.yaml:9: warning: rule 'brand.words': phrase 'the' has only 3 letters "
                    "and the rule blocks: a phrase that short is in a great many ordinary "
                    "messages. Use a phrase of at least 4 letters, or a few words",
                    "test.yaml:11: warning: rule 'brand.words': phrase 'a b c' has only 3 "
                    "letters and the rule blocks: a phrase that short is in a great many "
                    "ordinary messages. Use a phrase of at least 4 letters, or a few words",
                    NULL);
}

/* ---- what check warned about before ---- */

static void a_redacting_reply_rule_wider_than_the_hold_back_is_named(void **state)
{
    expect_warnings(HEAD RULE("pii.ref", "reply", "redact")
                    "    patterns: ['REF-[0-9]+']\n",
                    NULL,
                    "test.yaml:3: warning: rule 'pii.ref': it can match more than 256 bytes; a "
                    "streamed reply holds back only 256, so give its patterns an upper bound",
                    NULL);
}

/* A blocking rule needs its matches' spans only to weigh its allow list: past the hold-back
 * a stream ends where the match ends, as for any blocking rule, and nothing is shown that
 * was to be redacted. */
static void a_blocking_reply_rule_with_an_allow_list_may_be_unbounded(void **state)
{
    expect_warnings(HEAD RULE("brand.ask", "both",
                              "block") "    patterns: ['(?i)\\bhow to make \\w+ bombs?\\b']\n"
                                       "    allow: ['(?i)\\bbath bombs?\\b']\n"
                                       "    examples:\n"
                                       "      match: ['how to make pipe bombs']\n",
                    NULL, NULL);
}

static void a_careful_pack_has_no_warning_against_the_built_in_corpus(void **state)
{
    struct gw_corpus c = {0};
    assert_int_equal(gw_corpus_builtin(&c), 0);
    expect_warnings(HEAD RULE("brand.warranty", "reply", "block")
                    "    phrases: [lifetime warranty on everything]\n"
                    "    patterns: ['(?i)\\bguaranteed? (?:to|you.ll) (?:win|get rich)\\b']\n"
                    "    examples:\n"
                    "      match:\n"
                    "        - 'We offer a lifetime warranty on everything we sell.'\n"
                    "        - 'This plan is guaranteed to get rich quickly.'\n",
                    &c, NULL);
    gw_corpus_free(&c);
}

/* ---- --strict ---- */

/* Runs `guardrail check [--strict] -q FILE` on yaml written to a temporary file. */
static int check_file(const char *yaml, bool strict)
{
    char path[] = "/tmp/test_check_XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    assert_true(fd != -1);
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    char *argv[] = {"check", "-q", strict ? "--strict" : "-q", path, NULL};
    int rc = gw_cmd_check(4, argv);
    unlink(path);
    return rc;
}

static void strict_turns_warnings_into_a_failure(void **state)
{
    const char *trap = HEAD RULE("brand.words", "reply", "block") "    phrases: [the]\n";
    const char *fine = HEAD RULE("brand.words", "reply", "block") "    phrases: [we promise]\n";
    assert_int_equal(check_file(trap, false), 0); /* a warning alone does not fail */
    assert_int_equal(check_file(trap, true), 1);
    assert_int_equal(check_file(fine, true), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_backspace_from_double_quotes_is_named_with_the_single_quoted_fix),
        cmocka_unit_test(a_control_character_in_an_allow_pattern_is_named_too),
        cmocka_unit_test(single_quoted_patterns_and_phrases_have_no_warning),
        cmocka_unit_test(a_pattern_no_match_example_exercises_is_named),
        cmocka_unit_test(an_example_exercises_every_pattern_it_matches),
        cmocka_unit_test(a_rule_that_fires_on_ordinary_messages_says_how_often_with_an_example),
        cmocka_unit_test(a_rule_in_shadow_is_warned_about_what_it_would_do),
        cmocka_unit_test(two_percent_of_the_corpus_is_allowed_and_more_is_not),
        cmocka_unit_test(the_built_in_corpus_has_ordinary_messages_both_ways),
        cmocka_unit_test(a_blocking_phrase_under_four_letters_is_named),
        cmocka_unit_test(a_redacting_reply_rule_wider_than_the_hold_back_is_named),
        cmocka_unit_test(a_blocking_reply_rule_with_an_allow_list_may_be_unbounded),
        cmocka_unit_test(a_careful_pack_has_no_warning_against_the_built_in_corpus),
        cmocka_unit_test(strict_turns_warnings_into_a_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
