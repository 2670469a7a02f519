/* guardrail check: compile rule packs and run every example in them. CI runs it on rules/. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "screen/lint.h"
#include "screen/prefilter.h"
#include "screen/scan.h"

static const char check_help[] =
    "usage: guardrail check [options] [DIR|FILE...]\n\n"
    "Loads and compiles every rule pack (default: rules/), reports each error as\n"
    "file:line, then runs every example: each 'match' example must produce a finding of\n"
    "its rule and each 'no_match' example must not. Reply rules are also run through the\n"
    "streaming scanner, which must agree with block mode. Then warns about traps\n"
    "(docs/rules.md, 'What guardrail check warns about'): a control character in a\n"
    "pattern, a pattern no example exercises, a block or redact rule that fires on\n"
    "ordinary customer-service messages, a blocking phrase under 4 letters.\n"
    "Exits 1 on any error or failure.\n\n"
    "  -s, --strict     warnings are errors too (exit 1)\n"
    "  -p, --prefilter  list the long prompt and reply patterns with the literals the prefilter\n"
    "                   wakes them on, or why it cannot (docs/internals.md, 'Writing rules\n"
    "                   that stay fast')\n"
    "  -q, --quiet      print only errors and the summary\n"
    "  -h, --help       show this help\n";

static bool has_rule(const struct gw_findings *f, unsigned rule);

/* Whether f has a finding of rule; for a model rule, whether its head scored at or above
 * the rule's threshold (a head reports only its strongest rule, so a block finding of the
 * head also says its flag rule would fire). */
static bool has_rule_of(const struct gw_ruleset *rs, const struct gw_findings *f, unsigned rule)
{
    const struct gw_rule *r = &rs->table.rules[rule];
    if (!r->head)
        return has_rule(f, rule);
    for (size_t i = 0; i < f->n; i++) {
        const struct gw_rule *o = &rs->table.rules[f->v[i].rule];
        if (o->head && o->head_index == r->head_index && f->v[i].score >= r->above)
            return true;
    }
    return false;
}

/* Whether f has a finding of a model rule of head (an index of the model's heads). */
static bool has_head(const struct gw_ruleset *rs, const struct gw_findings *f, int head)
{
    for (size_t i = 0; i < f->n; i++) {
        const struct gw_rule *r = &rs->table.rules[f->v[i].rule];
        if (r->head && r->head_index == head)
            return true;
    }
    return false;
}

static bool has_rule(const struct gw_findings *f, unsigned rule)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].rule == rule)
            return true;
    return false;
}

/* Streams text in small chunks and checks that it finds what block mode found. */
static bool stream_agrees(gw_scanner *sc, const char *text, const struct gw_findings *block)
{
    gw_stream *st = gw_stream_open(sc);
    struct gw_buf out = {0};
    bool ok = st != NULL;
    size_t len = strlen(text);
    for (size_t i = 0; ok && i < len; i += 3)
        ok = gw_stream_feed(st, text + i, len - i < 3 ? len - i : 3, &out) == 0;
    ok = ok && gw_stream_close(st, &out) == 0;
    if (ok) {
        /* A stream finds what block mode found: the same pattern findings, and a model
         * finding only at its end, of a flag rule (what was sent cannot be unsent), whose
         * head scored at or above it in block mode; a head block mode flagged, the stream
         * flags too. */
        const struct gw_ruleset *rs = gw_scanner_ruleset(sc);
        const struct gw_findings *f = gw_stream_findings(st);
        size_t block_patterns = 0, stream_patterns = 0;
        for (size_t i = 0; i < block->n; i++) {
            const struct gw_rule *r = &rs->table.rules[block->v[i].rule];
            if (!r->head)
                block_patterns++;
            else if (r->action == GW_ACTION_FLAG)
                ok = ok && has_head(rs, f, r->head_index);
        }
        for (size_t i = 0; ok && i < f->n; i++) {
            const struct gw_rule *r = &rs->table.rules[f->v[i].rule];
            stream_patterns += r->head == NULL;
            ok = r->head ? has_rule_of(rs, block, f->v[i].rule) : has_rule(block, f->v[i].rule);
        }
        ok = ok && stream_patterns == block_patterns;
    }
    gw_stream_free(st);
    gw_buf_free(&out);
    return ok;
}

/* Lists, for each long pattern of direction dir that the prefilter considers, the literals
 * it wakes it on (or that it has none), and returns how many are prefiltered; *longs gets
 * how many it considers. */
static size_t list_prefilter(const struct gw_ruleset *rs, enum gw_direction dir, bool print,
                             size_t *longs)
{
    size_t gated = 0;
    bool built = rs->gated[gw_dir_index(dir)].n > 0;
    *longs = 0;
    for (size_t i = 0; i < rs->table.n_patterns; i++) {
        const struct gw_pattern *p = &rs->table.patterns[i];
        const struct gw_rule *r = &rs->table.rules[p->rule];
        struct gw_atoms a;
        if (!gw_prefilter_candidate(&rs->table, i, dir, &a))
            continue;
        bool ok = a.n > 0;
        gated += ok;
        ++*longs;
        if (print) {
            printf("%s:%d: rule '%s', %s: ", r->file, p->line, r->id,
                   dir == GW_DIR_PROMPT ? "prompts" : "replies");
            if (ok) {
                printf("%s on", built ? "prefiltered" : "would be prefiltered");
                for (size_t k = 0; k < a.n; k++)
                    printf("%s%s", k ? " | " : " ", a.v[k]);
                printf("\n");
            } else {
                printf("not prefiltered: no part that every match needs is made only of "
                       "distinctive words\n");
            }
        }
        gw_atoms_free(&a);
    }
    return gated;
}

/* Runs one example; returns true when it behaves as the rule file says. */
static bool run_example(gw_scanner *sc, const struct gw_rule *r, unsigned index,
                        const char *text, bool want, struct gw_findings *f, bool *stream_ok)
{
    enum gw_direction dir = (r->directions & GW_DIR_PROMPT) ? GW_DIR_PROMPT : GW_DIR_REPLY;
    if (gw_scan(sc, text, strlen(text), dir, f) == -1)
        return false;
    bool got = has_rule_of(gw_scanner_ruleset(sc), f, index);
    *stream_ok = true;
    if (r->directions & GW_DIR_REPLY) {
        if (dir != GW_DIR_REPLY && gw_scan(sc, text, strlen(text), GW_DIR_REPLY, f) == -1)
            return false;
        *stream_ok = stream_agrees(sc, text, f);
    }
    return got == want;
}

/* Prints the warnings of screen/lint.h against the built-in corpus; returns how many.
 * A lint that cannot run is an error (counted in *nerrors). */
static size_t print_warnings(gw_scanner *sc, int *nerrors)
{
    struct gw_corpus corpus = {0};
    struct gw_lint lint = {0};
    struct gw_buf line = {0};
    if (gw_corpus_builtin(&corpus) == -1 || gw_lint(sc, &corpus, &lint) == -1) {
        fprintf(stderr, "error: could not check the rules against the built-in corpus\n");
        ++*nerrors;
    }
    for (size_t i = 0; i < lint.n; i++) {
        gw_buf_reset(&line);
        gw_lint_describe(gw_scanner_ruleset(sc), &lint.v[i], &line);
        fprintf(stderr, "%s\n", line.data);
    }
    size_t n = lint.n;
    gw_buf_free(&line);
    gw_lint_free(&lint);
    gw_corpus_free(&corpus);
    return n;
}

int gw_cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {"prefilter", no_argument, NULL, 'p'},
        {"strict", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {0}};
    bool quiet = false, prefilter = false, strict = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qpsh", opts, NULL)) != -1) {
        if (c == 'q')
            quiet = true;
        else if (c == 's')
            strict = true;
        else if (c == 'p')
            prefilter = true;
        else if (c == 'h')
            return fputs(check_help, stdout), 0;
        else
            return fputs(check_help, stderr), 2;
    }
    const char *default_path = "rules";
    const char *const *paths = optind < argc ? (const char *const *)argv + optind : &default_path;
    size_t npaths = optind < argc ? (size_t)(argc - optind) : 1;

    struct gw_rule_table t = {0};
    struct gw_errors errs = {0};
    int failed_packs = 0;
    for (size_t i = 0; i < npaths; i++)
        failed_packs += gw_rules_load_path(&t, paths[i], &errs);
    size_t packs = t.n_packs, nrules = t.n_rules, npatterns = t.n_patterns;
    struct gw_ruleset *rs = NULL;
    if (t.n_rules > 0 && gw_ruleset_compile(&t, &rs, &errs) == -1)
        failed_packs++;
    gw_rule_table_free(&t);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.msgs[i]);
    int nerrors = (int)errs.n;
    gw_errors_free(&errs);

    size_t examples = 0, passed = 0, warnings = 0;
    if (rs) {
        gw_scanner *sc = gw_scanner_new(rs);
        struct gw_findings f = {0};
        for (unsigned i = 0; sc && i < rs->table.n_rules; i++) {
            const struct gw_rule *r = &rs->table.rules[i];
            for (int want = 1; want >= 0; want--) {
                char **v = want ? r->examples_match : r->examples_no_match;
                int *lines = want ? r->examples_match_lines : r->examples_no_match_lines;
                size_t n = want ? r->n_examples_match : r->n_examples_no_match;
                for (size_t k = 0; k < n; k++) {
                    bool stream_ok;
                    examples++;
                    if (run_example(sc, r, i, v[k], want, &f, &stream_ok) && stream_ok) {
                        passed++;
                        continue;
                    }
                    if (!stream_ok)
                        fprintf(stderr, "%s:%d: rule '%s': streaming and block mode disagree "
                                        "on example \"%s\"\n",
                                r->file, lines[k], r->id, v[k]);
                    else
                        fprintf(stderr, "%s:%d: rule '%s': example %s: \"%s\"\n",
                                r->file, lines[k], r->id,
                                want ? "should match but did not" : "matched but should not",
                                v[k]);
                }
            }
        }
        gw_findings_free(&f);
        if (sc)
            warnings = print_warnings(sc, &nerrors);
        gw_scanner_free(sc);
        if (!quiet) {
            printf("stream hold-back for replies: %u bytes\n", rs->holdback);
            const struct gw_contacts *own = &rs->table.contacts;
            size_t excusing = 0;
            for (size_t i = 0; i < rs->table.n_rules; i++)
                excusing += rs->table.rules[i].own_contacts != 0;
            if (own->n_emails || own->n_phones)
                printf("the shop's own contacts: %zu e-mail address%s, %zu phone number%s, "
                       "left alone by %zu rule%s%s\n",
                       own->n_emails, own->n_emails == 1 ? "" : "es", own->n_phones,
                       own->n_phones == 1 ? "" : "s", excusing, excusing == 1 ? "" : "s",
                       excusing ? "" : " (none says 'contacts: [emails]' or '[phones]')");
            const char *off = getenv("GUARDRAIL_PREFILTER");
            for (int d = 0; d < 2; d++) {
                enum gw_direction dir = d ? GW_DIR_REPLY : GW_DIR_PROMPT;
                const char *what = d ? "reply" : "prompt";
                size_t longs, gated = list_prefilter(rs, dir, prefilter, &longs);
                printf("%s prefilter: %zu of %zu long %s patterns are scanned only when "
                       "their literals occur%s\n",
                       what, gated, longs, what,
                       off && strcmp(off, "off") == 0 ? " (off: GUARDRAIL_PREFILTER=off)" : "");
            }
        }
    }
    printf("%zu pack%s, %zu rules, %zu patterns; %zu examples, %zu passed, %zu failed; "
           "%d error%s, %zu warning%s\n",
           packs, packs == 1 ? "" : "s", nrules, npatterns, examples, passed, examples - passed,
           nerrors, nerrors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
    gw_ruleset_unref(rs);
    bool ok = failed_packs == 0 && nerrors == 0 && passed == examples && packs > 0 &&
              !(strict && warnings > 0);
    printf("%s%s\n", ok ? "OK" : "FAILED",
           !ok && strict && warnings > 0 ? " (--strict: warnings count as errors)" : "");
    return ok ? 0 : 1;
}
