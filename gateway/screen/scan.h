/* Scanning: text in, findings and a verdict out. No HTTP here: the CLI, the proxy, the
 * tests and the benches all call these functions.
 *
 * A scanner belongs to one thread (it owns Hyperscan scratch space) and holds a reference
 * to its ruleset. Findings carry UTF-8 byte offsets into the scanned text. */
#ifndef GW_SCREEN_SCAN_H
#define GW_SCREEN_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "screen/ruleset.h"
#include "util/buf.h"

struct gw_finding {
    unsigned rule; /* index into the ruleset's table */
    size_t start;  /* byte offsets, end exclusive; for rules that need no span (block and
                      flag rules without validator or allow list) start is end minus the
                      pattern's minimum width: exact for phrases, the tail for regexes */
    size_t end;
    enum gw_action action; /* what the finding does under the scan's policy (the rule's
                              own action when none) */
    bool shadow;           /* recorded, never acts: action is what it would have done */
    float score; /* a model rule's: its head's score (0 to 1); 0 for a pattern rule */
};

struct gw_findings {
    struct gw_finding *v;
    size_t n, cap;
    enum gw_action verdict; /* the strongest action of any finding that acts; allow if none */
};

/* What rule does under pol (NULL: as its pack says). */
struct gw_rule_policy gw_rule_effect(const struct gw_ruleset *rs, const struct gw_rule_policy *pol,
                                     unsigned rule);
/* Applies pol to findings of a raw scan: drops the findings of rules that are off, sets
 * each one's action and shadow, and recomputes the verdict from the findings that act. */
void gw_findings_apply(const struct gw_ruleset *rs, const struct gw_rule_policy *pol,
                       struct gw_findings *f);

typedef struct gw_scanner gw_scanner;

/* Makes a scanner for rs (takes its own reference), with one reference: the caller's.
 * NULL when memory runs out. */
gw_scanner *gw_scanner_new(struct gw_ruleset *rs);
/* Another reference (a request in flight keeps the scanner it started with, and the streams
 * opened on it, across a reload). References are counted without atomics: a scanner and
 * all its references stay on one thread. Returns s. */
gw_scanner *gw_scanner_ref(gw_scanner *s);
/* Drops a reference; the last one frees the scanner. NULL does nothing. */
void gw_scanner_free(gw_scanner *s);
struct gw_ruleset *gw_scanner_ruleset(const gw_scanner *s);
/* How many groups of prefiltered patterns this scanner has scanned because the gate found
 * one of their atoms (see prefilter.h and ruleset.h), summed over its block scans. */
unsigned long long gw_scanner_gated_runs(const gw_scanner *s);
/* How many of this scanner's scans the ruleset's memo answered (gw_ruleset_memo). */
unsigned long long gw_scanner_memo_hits(const gw_scanner *s);

/* From now on, sets bit i of bits (bits[i / 64], bit i % 64) for every pattern i of the
 * ruleset that produces a candidate match (past its validator) in this scanner's scans;
 * NULL stops. The caller owns bits, one bit per pattern. For `guardrail check`, which asks
 * which pattern each example exercises: findings only name the rule. A prompt that the
 * ruleset's memo answers is not scanned and marks nothing (check's rulesets have none). */
void gw_scanner_mark_patterns(gw_scanner *s, uint64_t *bits);

/* A deadline (CLOCK_MONOTONIC nanoseconds; 0: none) for this scanner's scans: past it, a
 * scan stops and fails as over budget. The proxy sets one from its per-request screening
 * budget around each scan. */
void gw_scanner_set_deadline(gw_scanner *s, unsigned long long deadline_ns);
/* The deadline gw_scanner_set_deadline set (0: none); a stream's feeds read it too. */
unsigned long long gw_scanner_deadline(const gw_scanner *s);
unsigned long long gw_now_ns(void);

/* Whether the last scan failed because the text matched too often to be screened in
 * full (more than GW_CANDS_MAX candidates, more encoded text than can be decoded) or
 * its deadline passed: the caller applies its fail_mode. */
bool gw_scanner_over_budget(const gw_scanner *s);
/* Work done deciding matches, summed over this scanner's scans: candidates looked at and
 * allow-list comparisons. Linear in the input; the tests compare it across sizes. */
unsigned long long gw_scanner_steps(const gw_scanner *s);

/* Keeps the model features (model.h) of each text gw_scan screens, with 2^bits buckets,
 * whether or not the ruleset has a model (0: only when it has one), and turns the memo off
 * for this scanner: `guardrail train` and `eval` read the features of every text. */
void gw_scanner_keep_features(gw_scanner *s, unsigned bits);
/* The features of the last text gw_scan screened (its normalised view and the rules it
 * matched), when the ruleset has a model for its direction or keep_features asked. */
const struct gw_feats *gw_scanner_features(const gw_scanner *s);

/* The policy the scanner's next scans and the streams opened from now on apply (NULL: the
 * rules as written). The proxy sets its request's policy before it scans. */
void gw_scanner_set_policy(gw_scanner *s, const struct gw_rule_policy *pol);

/* Scans text (any bytes: NULs and invalid UTF-8 are fine) in block mode for the rules that
 * apply to dir, under the scanner's policy. The model rules (rules.h: 'head') that apply to
 * dir are decided on the text's normalised view and the rules it matched: a finding of the
 * strongest model rule of each head that is on and whose score reaches its 'above',
 * spanning the whole text. Fills out (reset first; its memory is reused) with findings sorted by start.
 * Returns 0, or -1 if Hyperscan failed (the caller should fail closed). */
int gw_scan(gw_scanner *s, const char *text, size_t len, enum gw_direction dir,
            struct gw_findings *out);

/* Appends text to out with every redact finding replaced by its rule's replacement;
 * overlapping redactions merge into one (the replacement of the first). Returns 0 or -1. */
int gw_redact(const struct gw_ruleset *rs, const char *text, size_t len,
              const struct gw_findings *f, struct gw_buf *out);

/* The first block finding's rule, or NULL. */
const struct gw_rule *gw_findings_blocking_rule(const struct gw_ruleset *rs,
                                                const struct gw_findings *f);
void gw_findings_free(struct gw_findings *f);

/* Streaming (reply direction): feed chunks as they arrive; each call appends to out the
 * text that is now safe to release, already redacted. A match split across chunks is
 * found; the stream holds back only the bytes that could still become part of a match
 * (the ruleset's holdback). When the verdict becomes block, nothing more is released. */
typedef struct gw_stream gw_stream;

gw_stream *gw_stream_open(gw_scanner *s);
int gw_stream_feed(gw_stream *st, const char *data, size_t len, struct gw_buf *out);
/* Ends the data: releases what was held back (unless blocked). Call once. */
int gw_stream_close(gw_stream *st, struct gw_buf *out);
/* Findings decided so far, in the order they were decided; offsets are into the whole
 * stream. The verdict field is the stream's verdict so far. */
const struct gw_findings *gw_stream_findings(const gw_stream *st);
/* The matched bytes of a finding of this stream, while the stream still holds them (it
 * keeps at least GW_SPAN_MAX bytes behind the newest): call right after the feed or close
 * that decided it. Returns 0 with *p and *len, or -1 when they are gone. */
int gw_stream_match_text(const gw_stream *st, const struct gw_finding *f, const char **p,
                         size_t *len);
/* Bytes fed but not yet released. */
size_t gw_stream_held(const gw_stream *st);
/* Whether a feed or the close failed because the scanner's deadline passed. */
bool gw_stream_over_budget(const gw_stream *st);
/* Frees the stream (closing the Hyperscan stream if close was not called). */
void gw_stream_free(gw_stream *st);

#endif
