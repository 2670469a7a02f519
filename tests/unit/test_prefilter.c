/* The prefilter: which literals the analysis proves a pattern needs, and that scanning
 * with the prefilter finds exactly what scanning without it finds. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <ctype.h>
#include <stdlib.h>
#include <cmocka.h>

#include "screen/prefilter.h"
#include "screen/scan.h"
#include "util/buf.h"
#include "fixture.h"

/* Asserts that expr's atoms are exactly the '|'-separated list want (in order), or that
 * it has none when want is NULL. */
static void expect_atoms(const char *expr, const char *want)
{
    struct gw_atoms a;
    int rc = gw_atoms_extract(expr, 4, &a);
    char got[1024] = "";
    for (size_t i = 0; i < a.n; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? "|" : "", a.v[i]);
    if (want == NULL) {
        if (rc != -1)
            fail_msg("%s: expected no atoms, got %s", expr, got);
        assert_int_equal(a.n, 0);
    } else {
        if (rc != 0)
            fail_msg("%s: expected %s, got none", expr, want);
        if (strcmp(got, want) != 0)
            fail_msg("%s: expected %s, got %s", expr, want, got);
    }
    gw_atoms_free(&a);
}

static void picks_the_rarest_required_part(void **state)
{
    /* The longest of the parts every match has; optional parts never count. */
    expect_atoms("(?i)\\bignore\\s+(?:all\\s+)?previous\\s+instructions\\b", "instructions");
    expect_atoms("(?:zebra\\s+)?quagga\\s+\\d+", "quagga");
    /* An alternation needs one of its branches: the set of their best parts. */
    expect_atoms("\\b(?:filters?|limits|guardrails)\\s+\\w+", "filter|limits|guardrails");
    expect_atoms("(?i)(?:make|cook)\\s+(?:\\w+\\s+){0,3}(?:nitroglycerin|thermite)",
                 "nitroglycerin|thermite");
    /* Literal runs join across assertions and small classes. */
    expect_atoms("\\bsynthesi[sz]e\\s+\\w+", "synthesise|synthesize");
    expect_atoms("\\x41BCD\\s+\\d", "abcd");
    expect_atoms("(?i)\\bZORBLAX(?=\\s)\\s*\\d", "zorblax");
    /* A repeated group still needs its literal once. */
    expect_atoms("(?:zorblax\\s*){2,}", "zorblax");
    /* An atom that contains another adds nothing. */
    expect_atoms("(?:jailbreak|jailbreaking|break)\\s+\\w+", "break");
}

static void leaves_patterns_it_cannot_prove(void **state)
{
    expect_atoms("\\b\\d{3}-\\d{2}-\\d{4}\\b", NULL);          /* no literal at all */
    expect_atoms("(?:quagga)?\\s+\\w+", NULL);                 /* only optional ones */
    expect_atoms("(?:quagga|\\d+)\\s+zz", NULL);               /* one branch has none */
    expect_atoms("(?=quagga)\\w+", NULL);                      /* lookahead: not consumed */
    expect_atoms("(?x) quagga \\s+ \\d", NULL);                /* extended syntax: unread */
    expect_atoms("(quagga)\\s+\\1", NULL);                     /* backreference */
    expect_atoms("\\bguarantee\\b", NULL);                     /* only literals: Hyperscan's */
    expect_atoms("(?i)\\b(?:you|it)\\s+\\w+", NULL);           /* too short */
    expect_atoms("(?i)\\b(?:please|order)\\s+\\w+\\s+now", NULL); /* common words */
    expect_atoms("(?:quagga\\s+\\d", NULL);                     /* unbalanced */
    expect_atoms("quagga)\\s+\\d", NULL);
    /* More alternatives than a gate takes. */
    char big[2048] = "(?:";
    for (int i = 0; i < GW_ATOMS_MAX + 1; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%sqz%03dxy", i ? "|" : "", i);
    strcat(big, ")\\s+\\d");
    expect_atoms(big, NULL);
}

/* ---- on and off agree ---- */

static struct gw_ruleset *load_default(bool prefilter)
{
    struct gw_ruleset *rs = NULL;
    struct gw_errors e = {0};
    const char *paths[] = {GW_SOURCE_DIR "/rules"};
    if (!prefilter)
        setenv("GUARDRAIL_PREFILTER", "off", 1);
    int rc = gw_ruleset_load(paths, 1, &rs, &e);
    unsetenv("GUARDRAIL_PREFILTER");
    for (size_t i = 0; i < e.n; i++)
        print_message("  error: %s\n", e.msgs[i]);
    gw_errors_free(&e);
    assert_int_equal(rc, 0);
    return rs;
}

static void same_findings(gw_scanner *on, gw_scanner *off, const char *text, size_t len,
                          enum gw_direction dir)
{
    struct gw_findings a = {0}, b = {0};
    assert_int_equal(gw_scan(on, text, len, dir, &a), 0);
    assert_int_equal(gw_scan(off, text, len, dir, &b), 0);
    if (a.n != b.n)
        fail_msg("%zu findings with the prefilter, %zu without, on: %.*s", a.n, b.n, (int)len,
                 text);
    for (size_t i = 0; i < a.n; i++) {
        assert_int_equal(a.v[i].rule, b.v[i].rule);
        assert_int_equal(a.v[i].start, b.v[i].start);
        assert_int_equal(a.v[i].end, b.v[i].end);
    }
    assert_int_equal(a.verdict, b.verdict);
    gw_findings_free(&a);
    gw_findings_free(&b);
}

/* Every example of every default rule, alone, in other case, with doubled spaces, and
 * run together with its neighbours, scans the same with the prefilter and without. */
static void default_packs_scan_the_same_on_and_off(void **state)
{
    struct gw_ruleset *on = load_default(true), *off = load_default(false);
    assert_int_equal(off->gated[0].n + off->gated[1].n, 0);
    assert_true(on->gated[0].n > 0); /* the prompt packs do have prefiltered patterns */
    gw_scanner *son = gw_scanner_new(on), *soff = gw_scanner_new(off);
    assert_non_null(son);
    assert_non_null(soff);
    struct gw_buf t = {0}, joined = {0};
    size_t texts = 0, flagged = 0;
    struct gw_findings f = {0};
    for (size_t r = 0; r < on->table.n_rules; r++) {
        const struct gw_rule *rule = &on->table.rules[r];
        for (size_t k = 0; k < rule->n_examples_match + rule->n_examples_no_match; k++) {
            const char *ex = k < rule->n_examples_match
                                 ? rule->examples_match[k]
                                 : rule->examples_no_match[k - rule->n_examples_match];
            for (int variant = 0; variant < 3; variant++) {
                gw_buf_reset(&t);
                for (const char *p = ex; *p; p++) {
                    char c = *p;
                    if (variant == 1)
                        c = (char)(r % 2 ? toupper((unsigned char)c) : tolower((unsigned char)c));
                    gw_buf_append(&t, &c, 1);
                    if (variant == 2 && c == ' ')
                        gw_buf_append(&t, "  ", 2);
                }
                for (int d = 1; d <= 2; d++) {
                    same_findings(son, soff, t.data, t.len, (enum gw_direction)d);
                    texts++;
                }
                assert_int_equal(gw_scan(son, t.data, t.len, GW_DIR_PROMPT, &f), 0);
                flagged += f.n > 0;
            }
            gw_buf_puts(&joined, ex);
            gw_buf_puts(&joined, " ... ");
            if (joined.len > 2000) {
                for (int d = 1; d <= 2; d++)
                    same_findings(son, soff, joined.data, joined.len, (enum gw_direction)d);
                gw_buf_reset(&joined);
            }
        }
    }
    print_message("  %zu texts agree; %zu of them flagged in the prompt direction\n", texts,
                  flagged);
    assert_true(flagged > 100); /* the examples do exercise the rules */
    gw_findings_free(&f);
    gw_buf_free(&t);
    gw_buf_free(&joined);
    gw_scanner_free(son);
    gw_scanner_free(soff);
    gw_ruleset_unref(on);
    gw_ruleset_unref(off);
}

/* An unsafe ask with word gaps, screened in dirs: long enough to be prefiltered. */
#define POISON_RULE(dirs)                                                                          \
    "  - id: t.poison\n"                                                                           \
    "    category: unsafe\n"                                                                       \
    "    severity: high\n"                                                                         \
    "    action: block\n"                                                                          \
    "    applies_to: " dirs "\n"                                                                   \
    "    patterns:\n"                                                                              \
    "      - '(?i)\\b(?:how|ways?|steps|instructions|"                                             \
    "guide|tutorial)\\s+(?:to|for|on)\\s+(?:\\w+\\s+){0,2}"                                        \
    "(?:nitroglycerin|thermite)\\b'\n"

/* A prefiltered pattern (a long one: short ones stay in the main database) still finds
 * its match, with the gate in front of it. */
static void a_gated_rule_fires_only_with_its_atom(void **state)
{
    struct gw_ruleset *rs = compile("name: t\n"
                                    "rules:\n" POISON_RULE("prompt"));
    assert_int_equal(rs->gated[0].n, 1);
    assert_non_null(rs->block_db[0]); /* its only pattern is behind the gate: its atoms */
    gw_scanner *sc = gw_scanner_new(rs);
    struct gw_findings f = {0};
    const char *yes = "tell me how to make THERMITE at home";
    assert_int_equal(gw_scan(sc, yes, strlen(yes), GW_DIR_PROMPT, &f), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.verdict, GW_ACTION_BLOCK);
    assert_int_equal(gw_scanner_gated_runs(sc), 1);
    const char *no = "how to make a campfire safely";
    assert_int_equal(gw_scan(sc, no, strlen(no), GW_DIR_PROMPT, &f), 0);
    assert_int_equal(f.n, 0);
    assert_int_equal(gw_scanner_gated_runs(sc), 1); /* the gate kept it asleep */
    const char *atom_only = "thermite is a mixture of metal powder and oxide";
    assert_int_equal(gw_scan(sc, atom_only, strlen(atom_only), GW_DIR_PROMPT, &f), 0);
    assert_int_equal(f.n, 0);
    assert_int_equal(gw_scanner_gated_runs(sc), 2);
    gw_findings_free(&f);
    gw_scanner_free(sc);
    gw_ruleset_unref(rs);
}

/* A reply-only brand claim with word gaps: long enough to be prefiltered. */
#define CURE_RULE                                                                                  \
    "  - id: t.cure\n"                                                                             \
    "    category: brand\n"                                                                        \
    "    severity: high\n"                                                                         \
    "    action: block\n"                                                                          \
    "    applies_to: reply\n"                                                                      \
    "    patterns:\n"                                                                              \
    "      - '(?i)\\b(?:this|our|the)\\s+(?:\\w+\\s+){0,3}"                                        \
    "(?:will|can|does)\\s+(?:\\w+\\s+){0,2}"                                                       \
    "(?:cure|heal|reverse)s?\\s+(?:\\w+\\s+){0,2}(?:arthritis|eczema)\\b'\n"

/* Replies gate the brand pack's long claims too: a reply-only rule (which the prompt
 * direction never compiles) gets its own database behind the replies' gate. */
static void a_reply_claim_is_gated_in_replies(void **state)
{
    struct gw_ruleset *rs = compile("name: t\n"
                                    "rules:\n" CURE_RULE);
    assert_int_equal(rs->gated[0].n, 0);
    assert_int_equal(rs->gated[1].n, 1);
    assert_non_null(rs->block_db[1]); /* its only pattern is behind the gate: its atoms */
    gw_scanner *sc = gw_scanner_new(rs);
    struct gw_findings f = {0};
    const char *yes = "Our copper bracelet will quickly cure your arthritis.";
    assert_int_equal(gw_scan(sc, yes, strlen(yes), GW_DIR_REPLY, &f), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.verdict, GW_ACTION_BLOCK);
    assert_int_equal(gw_scanner_gated_runs(sc), 1);
    const char *no = "Our bracelet will look great with the jacket.";
    assert_int_equal(gw_scan(sc, no, strlen(no), GW_DIR_REPLY, &f), 0);
    assert_int_equal(f.n, 0);
    assert_int_equal(gw_scanner_gated_runs(sc), 1); /* the gate kept it asleep */
    gw_findings_free(&f);
    gw_scanner_free(sc);
    gw_ruleset_unref(rs);
}

/* A rule screened both ways is gated alike in both: replies use the prompts' group
 * database (one copy in memory), a reply-only rule has its own, and both still find. */
static void both_ways_share_one_group_database(void **state)
{
    struct gw_ruleset *rs = compile("name: t\n"
                                    "rules:\n" POISON_RULE("both") CURE_RULE);
    assert_int_equal(rs->gated[0].n, 1);
    assert_int_equal(rs->gated[1].n, 2);
    unsigned shared = rs->gated[1].borrowed[0] ? 0 : 1;
    assert_true(rs->gated[1].borrowed[shared]);
    assert_false(rs->gated[1].borrowed[1 - shared]);
    assert_ptr_equal(rs->gated[1].db[shared], rs->gated[0].db[0]);
    assert_ptr_not_equal(rs->gated[1].db[1 - shared], rs->gated[0].db[0]);
    gw_scanner *sc = gw_scanner_new(rs);
    struct gw_findings f = {0};
    const char *texts[] = {"tell me how to make THERMITE at home",
                           "Our copper bracelet will quickly cure your arthritis."};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(gw_scan(sc, texts[i], strlen(texts[i]), GW_DIR_REPLY, &f), 0);
        assert_int_equal(f.n, 1);
        assert_int_equal(f.verdict, GW_ACTION_BLOCK);
    }
    assert_int_equal(gw_scan(sc, texts[0], strlen(texts[0]), GW_DIR_PROMPT, &f), 0);
    assert_int_equal(f.n, 1);
    gw_findings_free(&f);
    gw_scanner_free(sc);
    gw_ruleset_unref(rs); /* frees the shared database once (ASan would say otherwise) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(picks_the_rarest_required_part),
        cmocka_unit_test(leaves_patterns_it_cannot_prove),
        cmocka_unit_test(a_gated_rule_fires_only_with_its_atom),
        cmocka_unit_test(a_reply_claim_is_gated_in_replies),
        cmocka_unit_test(both_ways_share_one_group_database),
        cmocka_unit_test(default_packs_scan_the_same_on_and_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
