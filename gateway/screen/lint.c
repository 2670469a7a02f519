#include "screen/lint.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* The built-in corpus (gateway/screen/corpus/), embedded at build time by cmake/embed.cmake. */
extern const char gw_corpus_prompts[], gw_corpus_replies[];
extern const size_t gw_corpus_prompts_len, gw_corpus_replies_len;

/* ---- the corpus ---- */

int gw_corpus_add(struct gw_corpus *c, enum gw_direction dir, const char *text, size_t len)
{
    int d = gw_dir_index(dir);
    size_t cap = c->n[d];
    const char *end = text + len;
    for (const char *p = text; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        size_t n = (size_t)(e - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n > 0 && p[0] != '#') {
            if (gw_grow(&c->v[d], &cap, c->n[d], sizeof *c->v[d], 64) == -1)
                return -1;
            c->v[d][c->n[d]++] = (struct gw_corpus_text){p, n};
        }
        p = e + 1;
    }
    return 0;
}

int gw_corpus_builtin(struct gw_corpus *c)
{
    if (gw_corpus_add(c, GW_DIR_PROMPT, gw_corpus_prompts, gw_corpus_prompts_len) == -1 ||
        gw_corpus_add(c, GW_DIR_REPLY, gw_corpus_replies, gw_corpus_replies_len) == -1)
        return -1;
    return 0;
}

void gw_corpus_free(struct gw_corpus *c)
{
    free(c->v[0]);
    free(c->v[1]);
    memset(c, 0, sizeof *c);
}

/* ---- the checks ---- */

/* What the corpus scan found for one rule in one direction. */
struct corpus_count {
    size_t hits;
    size_t last;   /* 1 + the last message counted, so a message counts once */
    size_t sample; /* the first message it fired on, and the finding's span in it */
    size_t start, end;
};

static int push(struct gw_lint *l, struct gw_lint_warning w)
{
    if (gw_grow(&l->v, &l->cap, l->n, sizeof *l->v, 8) == -1)
        return -1;
    l->v[l->n++] = w;
    return 0;
}

static const char *source_of(const struct gw_pattern *p)
{
    return p->source ? p->source : p->expr;
}

static bool has_control_char(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* Letters and digits of a phrase; a character past ASCII counts as one. */
static size_t letters(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += isalnum(*p) || *p >= 0xc0;
    return n;
}

/* Scans every text of c in both directions with sc and counts, per rule and direction,
 * the messages that have a finding of it: into counts[rule * 2 + direction index]. */
static int count_corpus(gw_scanner *sc, const struct gw_corpus *c, struct corpus_count *counts)
{
    struct gw_findings f = {0};
    int rc = 0;
    for (int d = 0; d < 2 && rc == 0; d++) {
        enum gw_direction dir = d ? GW_DIR_REPLY : GW_DIR_PROMPT;
        for (size_t m = 0; m < c->n[d] && rc == 0; m++) {
            const struct gw_corpus_text *t = &c->v[d][m];
            rc = gw_scan(sc, t->s, t->len, dir, &f);
            for (size_t i = 0; rc == 0 && i < f.n; i++) {
                struct corpus_count *k = &counts[f.v[i].rule * 2 + (unsigned)d];
                if (k->last == m + 1)
                    continue;
                if (k->hits++ == 0) {
                    k->sample = m;
                    k->start = f.v[i].start;
                    k->end = f.v[i].end;
                }
                k->last = m + 1;
            }
        }
    }
    gw_findings_free(&f);
    return rc;
}

/* Scans rule i's 'match' examples in each direction it applies to, with marks on. */
static int mark_examples(gw_scanner *sc, const struct gw_rule *r, uint64_t *marks, size_t words)
{
    struct gw_findings f = {0};
    int rc = 0;
    memset(marks, 0, words * sizeof *marks);
    gw_scanner_mark_patterns(sc, marks);
    for (size_t k = 0; k < r->n_examples_match && rc == 0; k++)
        for (unsigned dir = GW_DIR_PROMPT; dir <= GW_DIR_REPLY && rc == 0; dir <<= 1)
            if (r->directions & dir)
                rc = gw_scan(sc, r->examples_match[k], strlen(r->examples_match[k]),
                             (enum gw_direction)dir, &f);
    gw_scanner_mark_patterns(sc, NULL);
    gw_findings_free(&f);
    return rc;
}

/* The warnings about rule ri's patterns; marks: the patterns its examples exercised, NULL
 * when it has no 'match' example. */
static int lint_patterns(const struct gw_rule_table *t, unsigned ri, const uint64_t *marks,
                         struct gw_lint *out)
{
    const struct gw_rule *r = &t->rules[ri];
    for (unsigned i = 0; i < t->n_patterns; i++) {
        const struct gw_pattern *p = &t->patterns[i];
        if (p->rule != ri)
            continue;
        bool found[3] = {
            [GW_LINT_CONTROL_CHAR] = !p->phrase && has_control_char(source_of(p)),
            [GW_LINT_SHORT_PHRASE] = p->phrase && !p->allow && r->action == GW_ACTION_BLOCK &&
                                     letters(source_of(p)) < GW_LINT_PHRASE_MIN,
            [GW_LINT_UNEXERCISED] = marks && !p->allow && !(marks[i / 64] >> (i % 64) & 1),
        };
        for (int k = 0; k < 3; k++)
            if (found[k] &&
                push(out, (struct gw_lint_warning){
                              .kind = (enum gw_lint_kind)k, .rule = ri, .pattern = i}) == -1)
                return -1;
    }
    return 0;
}

/* The line a warning names: its pattern's, or its rule's. */
static int warning_line(const struct gw_rule_table *t, const struct gw_lint_warning *w)
{
    return w->kind <= GW_LINT_UNEXERCISED ? t->patterns[w->pattern].line : t->rules[w->rule].line;
}

/* Orders warnings as the packs read: by rule (file order), then line, then kind. */
static int cmp_warning(const void *a, const void *b, void *arg)
{
    const struct gw_lint_warning *x = a, *y = b;
    int lx = warning_line(arg, x), ly = warning_line(arg, y);
    if (x->rule != y->rule)
        return x->rule < y->rule ? -1 : 1;
    if (lx != ly)
        return lx < ly ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->pattern != y->pattern)
        return x->pattern < y->pattern ? -1 : 1;
    return (x->dir > y->dir) - (x->dir < y->dir);
}

int gw_lint(gw_scanner *sc, const struct gw_corpus *c, struct gw_lint *out)
{
    const struct gw_ruleset *rs = gw_scanner_ruleset(sc);
    const struct gw_rule_table *t = &rs->table;
    size_t words = t->n_patterns / 64 + 1;
    uint64_t *marks = calloc(words, sizeof *marks);
    struct corpus_count *counts = calloc(t->n_rules * 2 + 1, sizeof *counts);
    int rc = marks && counts ? 0 : -1;
    if (rc == 0 && c)
        rc = count_corpus(sc, c, counts);
    for (unsigned i = 0; rc == 0 && i < t->n_rules; i++) {
        const struct gw_rule *r = &t->rules[i];
        bool examples = r->n_examples_match > 0;
        if (examples)
            rc = mark_examples(sc, r, marks, words);
        if (rc == 0)
            rc = lint_patterns(t, i, examples ? marks : NULL, out);
        for (int d = 0; c && rc == 0 && d < 2; d++) {
            const struct corpus_count *k = &counts[i * 2 + (unsigned)d];
            enum gw_direction dir = d ? GW_DIR_REPLY : GW_DIR_PROMPT;
            if (!(r->directions & dir) || r->action < GW_ACTION_REDACT ||
                k->hits * 100 <= c->n[d] * GW_LINT_CORPUS_MAX_PCT)
                continue;
            const struct gw_corpus_text *s = &c->v[d][k->sample];
            rc = push(out, (struct gw_lint_warning){
                               .kind = GW_LINT_CORPUS, .rule = i, .dir = dir, .hits = k->hits,
                               .total = c->n[d], .sample = s->s, .sample_len = s->len,
                               .match_start = k->start, .match_end = k->end});
        }
        /* a redacting (or validating) rule: a block ends the stream where its match ends,
         * as it does for a rule without an allow list, whatever the hold-back was */
        if (rc == 0 && (r->directions & GW_DIR_REPLY) &&
            (r->action == GW_ACTION_REDACT || r->validate) && r->max_width > GW_HOLDBACK_CAP)
            rc = push(out, (struct gw_lint_warning){.kind = GW_LINT_HOLDBACK, .rule = i});
    }
    free(marks);
    free(counts);
    if (rc == 0 && out->n > 0)
        qsort_r(out->v, out->n, sizeof *out->v, cmp_warning, (void *)t); /* read only */
    return rc;
}

void gw_lint_free(struct gw_lint *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* ---- in words ---- */

/* What a control character is called, and how it was most likely typed in double quotes. */
static const char *control_name(unsigned char c, const char **typed)
{
    static const struct {
        unsigned char c;
        const char *name, *typed;
    } names[] = {{'\b', "backspace", "\\b"},     {'\t', "tab", "\\t"},
                 {'\n', "line break", "\\n"},   {'\r', "carriage return", "\\r"},
                 {'\f', "form feed", "\\f"},    {'\v', "vertical tab", "\\v"},
                 {'\a', "bell", "\\a"},         {0x1b, "escape", "\\e"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (names[i].c == c) {
            *typed = names[i].typed;
            return names[i].name;
        }
    }
    *typed = NULL;
    return "control character";
}

/* Appends s with each control character written back as its escape ("\b"); quoted: as
 * the inside of a YAML single-quoted string (a quote doubled). */
static void put_unescaped(struct gw_buf *out, const char *s, bool quoted)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *typed;
        if (*p < 0x20 || *p == 0x7f) {
            control_name(*p, &typed);
            if (typed)
                gw_buf_puts(out, typed);
            else
                gw_buf_printf(out, "\\x%02x", *p);
        } else if (*p == '\'' && quoted) {
            gw_buf_puts(out, "''");
        } else {
            gw_buf_append(out, p, 1);
        }
    }
}

/* Appends the part of a corpus message around its finding, at most 40 bytes either side,
 * cut between words, with "..." where it was cut. */
static void put_excerpt(struct gw_buf *out, const struct gw_lint_warning *w)
{
    size_t from = w->match_start > 40 ? w->match_start - 40 : 0;
    size_t to = w->match_end + 40 < w->sample_len ? w->match_end + 40 : w->sample_len;
    while (from > 0 && from < w->match_start && w->sample[from - 1] != ' ')
        from++;
    while (to < w->sample_len && to > w->match_end && w->sample[to] != ' ')
        to--;
    gw_buf_printf(out, "'%s%.*s%s'", from ? "..." : "", (int)(to - from), w->sample + from,
                  to < w->sample_len ? "..." : "");
}

void gw_lint_describe(const struct gw_ruleset *rs, const struct gw_lint_warning *w,
                      struct gw_buf *out)
{
    const struct gw_rule *r = &rs->table.rules[w->rule];
    const struct gw_pattern *p = &rs->table.patterns[w->pattern];
    const char *what = p->allow ? "allow pattern" : p->phrase ? "phrase" : "pattern";
    gw_buf_printf(out, "%s:%d: warning: rule '%s': ", r->file, warning_line(&rs->table, w),
                  r->id);
    switch (w->kind) {
    case GW_LINT_CONTROL_CHAR: {
        const char *src = source_of(p), *typed = NULL, *name = "control character";
        for (const char *s = src; *s && !typed; s++)
            if ((unsigned char)*s < 0x20 || *s == 0x7f)
                name = control_name((unsigned char)*s, &typed);
        gw_buf_printf(out, "%s '", what);
        put_unescaped(out, src, false);
        gw_buf_printf(out, "' holds a %s", name);
        if (typed)
            gw_buf_printf(out, " where you probably wrote %s: inside double quotes, YAML turns "
                               "%s into a %s, so this %s never matches what you meant",
                          typed, typed, name, what);
        else
            gw_buf_printf(out, ", which no text the rules see ever has");
        gw_buf_puts(out, ". Put it in single quotes instead: '");
        put_unescaped(out, src, true);
        gw_buf_puts(out, "'");
        break;
    }
    case GW_LINT_SHORT_PHRASE:
        gw_buf_printf(out, "phrase '%s' has only %zu letter%s and the rule blocks: a phrase that "
                           "short is in a great many ordinary messages. Use a phrase of at least "
                           "%d letters, or a few words",
                      source_of(p), letters(source_of(p)), letters(source_of(p)) == 1 ? "" : "s",
                      GW_LINT_PHRASE_MIN);
        break;
    case GW_LINT_UNEXERCISED:
        gw_buf_printf(out, "no 'match' example matches %s '", what);
        put_unescaped(out, source_of(p), false);
        gw_buf_printf(out, "': add an example it should catch (examples at line %d), or "
                           "remove it if it is not needed",
                      r->examples_line);
        break;
    case GW_LINT_CORPUS: {
        size_t pct = (w->hits * 100 + w->total / 2) / w->total;
        /* a rule in shadow does not act yet, but will once it is promoted */
        gw_buf_printf(out, "%s%s on %zu of %zu ordinary %s (%zu%%), e.g. ",
                      r->shadow ? "out of shadow, it would " : "",
                      r->action == GW_ACTION_BLOCK ? (r->shadow ? "block" : "blocks")
                                                   : (r->shadow ? "redact" : "redacts"),
                      w->hits, w->total,
                      w->dir == GW_DIR_PROMPT ? "customer messages" : "assistant replies", pct);
        put_excerpt(out, w);
        gw_buf_printf(out, ": more than %d%% of everyday conversations would be hit. Make its "
                           "phrases or patterns more specific",
                      GW_LINT_CORPUS_MAX_PCT);
        break;
    }
    case GW_LINT_HOLDBACK:
        gw_buf_printf(out, "it can match more than %d bytes; a streamed reply holds back only %d, "
                           "so give its patterns an upper bound",
                      GW_HOLDBACK_CAP, GW_HOLDBACK_CAP);
        break;
    }
}
