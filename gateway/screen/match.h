/* Internal to screen/: turning Hyperscan's raw matches into findings, shared by block
 * mode (scan.c) and stream mode (stream.c) so both decide in exactly the same way. */
#ifndef GW_SCREEN_MATCH_H
#define GW_SCREEN_MATCH_H

#include <stdbool.h>

#include "screen/normalise.h"
#include "screen/scan.h"

/* A candidate that passed its validator, or a match of an allow pattern. */
struct gw_cand {
    unsigned rule;
    unsigned pattern;
    size_t start, end;
    bool allow;
    bool decided; /* already turned into a finding or dropped */
};

/* Most candidates one scan (or one stream, between two decisions) may hold: 32 MB of them,
 * about one per byte of a 1 MB text. A text that matches more often than that is not
 * screened in full: the scan fails, and the caller falls back to fail_mode. A scanner
 * gives back arrays grown past GW_CANDS_KEEP when the scan ends. */
#define GW_CANDS_MAX (1u << 20)
#define GW_CANDS_KEEP (1u << 16)

struct gw_cands {
    struct gw_cand *v;
    size_t n, cap;
    size_t *pmax; /* scratch for gw_cands_decide */
    size_t pmax_cap;
    unsigned long long steps; /* candidates and allow matches looked at, in all */
    unsigned long long deadline_ns; /* 0: none (gw_scanner_set_deadline) */
    unsigned adds;                  /* candidates added since the clock was last read */
    bool over;    /* GW_CANDS_MAX was reached */
    /* The policy of the scan (or stream): candidates of rules it turns off or puts in
     * shadow never fail a scan. At the cap they are dropped, and then dropped is set: the
     * scan's raw findings are incomplete, so the memo must not remember the text. */
    const struct gw_rule_policy *pol;
    bool dropped;
    /* The view's map back to the text as written (NULL: the view is that text): a match
     * excused as the shop's own contact must be the shop's bytes, not a lookalike of
     * them ("wаrranty@" with a Cyrillic "а") that normalising made equal. */
    const struct gw_norm *norm;
};

/* Records a raw match of pattern id ending at end. text holds bytes [base, base + len) of
 * the input, with at least GW_SPAN_MAX bytes before end when there are that many. PCRE2
 * finds the leftmost start of a match ending at end within GW_SPAN_MAX bytes; a span
 * rule's validator runs on the match. Returns 0, or -1 on allocation failure or when
 * GW_CANDS_MAX is reached. */
int gw_cands_add(struct gw_cands *c, gw_scanner *sc, unsigned id, size_t end, const char *text,
                 size_t base, size_t len);

/* Decides every undecided candidate that ends at or before upto: dropped when another
 * candidate of its rule contains it or an allow match of its rule covers it whole, else
 * appended to out as a finding (and out->verdict raised). Returns 0 or -1. */
int gw_cands_decide(struct gw_cands *c, const struct gw_ruleset *rs, size_t upto,
                    struct gw_findings *out);

/* A secret is redacted whole: a redacting secret rule's finding ends where the token it
 * is in ends, past its pattern's end (a JWT's signature, a key longer than its pattern
 * reads, a password's last symbols), never left half visible. Returns where the run of
 * bytes that a key, token or password may hold (all but whitespace, quotes, brackets,
 * ",", ";" and "|"), from end, stops in t (bytes [0, len)), at most GW_SECRET_TAIL on. */
#define GW_SECRET_TAIL 1024
size_t gw_secret_end(const char *t, size_t end, size_t len);
/* Whether rule (an index into rs) is a secret rule that redacts. */
bool gw_secret_redacts(const struct gw_ruleset *rs, unsigned rule);

/* Redacts bytes [from, to) of a text whose bytes [base, ...) are at text, using the
 * redact findings that lie wholly inside the range. f must be sorted by start. */
int gw_redact_range(const struct gw_ruleset *rs, const char *text, size_t base, size_t from,
                    size_t to, const struct gw_findings *f, struct gw_buf *out);

hs_scratch_t *gw_scanner_scratch(gw_scanner *s);
/* The policy set on the scanner (a stream keeps the one set when it opened). */
const struct gw_rule_policy *gw_scanner_policy(const gw_scanner *s);

/* Screens only the encoded runs of text (already normalised): what gw_scan adds to the
 * findings of the text itself. For streams, which screen each run when it ends. Findings
 * cover whole encoded runs, offsets into text. Returns 0, or -1 (over budget included). */
int gw_scan_encoded(gw_scanner *s, const char *text, size_t len, enum gw_direction dir,
                    struct gw_findings *out);

int gw_findings_push(struct gw_findings *f, unsigned rule, size_t start, size_t end,
                     enum gw_action action);
/* Orders findings by start, then longer first, then rule (a qsort comparator). */
int gw_finding_cmp(const void *a, const void *b);
void gw_findings_sort(struct gw_findings *f);
/* Drops findings equal to the one before (same rule and span); f must be sorted. */
void gw_findings_unique(struct gw_findings *f);

#endif
