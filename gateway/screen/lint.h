/* What `guardrail check` warns about: rules that load and compile, and yet are probably not
 * what their author meant. The people who write packs are not programmers, so each warning
 * names file:line and says in plain words what goes wrong and what to write instead.
 *
 * Data first: gw_lint fills a list of warnings, and gw_lint_describe writes one as a
 * sentence. Nothing here changes what a rule does; `check --strict` makes them errors. */
#ifndef GW_SCREEN_LINT_H
#define GW_SCREEN_LINT_H

#include <stddef.h>

#include "screen/scan.h"
#include "util/buf.h"

/* A block or redact rule may fire on at most this share (in percent) of the ordinary
 * customer-service messages of the built-in corpus in its direction. The corpus holds
 * no personal data, secrets or attacks, so every finding on it is a false alarm. */
#define GW_LINT_CORPUS_MAX_PCT 2
/* A blocking phrase needs at least this many letters or digits: a shorter one ("the",
 * "ok", "no") is in every other message. */
#define GW_LINT_PHRASE_MIN 4

/* The first three are about one pattern (and name its line), the others about a rule. */
enum gw_lint_kind {
    GW_LINT_CONTROL_CHAR, /* a pattern holds a control character (YAML double quotes) */
    GW_LINT_SHORT_PHRASE, /* a block rule's phrase under GW_LINT_PHRASE_MIN letters */
    GW_LINT_UNEXERCISED,  /* a pattern that no 'match' example of its rule matches */
    GW_LINT_CORPUS,       /* a block or redact rule that fires on ordinary messages */
    GW_LINT_HOLDBACK,     /* a redacting reply rule wider than a stream holds back */
};

struct gw_lint_warning {
    enum gw_lint_kind kind;
    unsigned rule;         /* index into the ruleset's table */
    unsigned pattern;      /* the pattern's index (the first three kinds) */
    enum gw_direction dir; /* GW_LINT_CORPUS: which half of the corpus */
    size_t hits, total;    /* GW_LINT_CORPUS: messages it fires on, of how many */
    const char *sample;    /* GW_LINT_CORPUS: the first of them (in the corpus) */
    size_t sample_len, match_start, match_end; /* its length, and the finding in it */
};

struct gw_lint {
    struct gw_lint_warning *v;
    size_t n, cap;
};

/* The ordinary messages that GW_LINT_CORPUS counts on: one text a line, '#' lines and
 * blank lines left out. The texts point into the corpus's bytes, which must outlive it. */
struct gw_corpus_text {
    const char *s;
    size_t len;
};
struct gw_corpus {
    struct gw_corpus_text *v[2]; /* [0] customers' messages, [1] assistant replies */
    size_t n[2];
};

/* Splits text into the messages of one direction of c (added to those already there).
 * Returns 0 or -1 (out of memory). */
int gw_corpus_add(struct gw_corpus *c, enum gw_direction dir, const char *text, size_t len);
/* Fills c with the built-in corpus, embedded at build time from gateway/screen/corpus/.
 * Returns 0 or -1. */
int gw_corpus_builtin(struct gw_corpus *c);
void gw_corpus_free(struct gw_corpus *c);

/* Checks every rule of the scanner's ruleset against c (NULL: no corpus check) and adds
 * the warnings to out, in the order the packs read (rule, then line). Runs each rule's 'match' examples
 * again to see which patterns they exercise. Returns 0, or -1 when a scan or an
 * allocation failed. */
int gw_lint(gw_scanner *sc, const struct gw_corpus *c, struct gw_lint *out);
/* Appends one warning as a line of text without the newline: "file:line: warning: ...". */
void gw_lint_describe(const struct gw_ruleset *rs, const struct gw_lint_warning *w,
                      struct gw_buf *out);
void gw_lint_free(struct gw_lint *l);

#endif
