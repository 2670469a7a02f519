#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "screen/decode.h"
#include "screen/match.h"
#include "screen/normalise.h"
#include "screen/scan.h"

/* The longest run of encodable bytes a stream screens (as GW_DECODE_MAX in scan.c bounds a
 * text's decoding); a longer one fails the stream, and the caller's fail_mode applies. */
#define GW_RUN_MAX (256u << 10)
/* Where a long run is judged: text, or binary (and then released as it comes). */
#define GW_RUN_JUDGE 4096u

/* The rules match the stream's normalised text (normalise.h), fed to Hyperscan piece by
 * piece as the normaliser makes it; candidates and the hold-back are counted in
 * normalised bytes. What the customer gets is the original bytes, so a decided finding is
 * mapped back at once, and the release point too: redaction and the hold-back act on the
 * original text, in whole characters.
 *
 * A lane is one view of the stream: its normaliser, its Hyperscan stream, its candidates.
 * Lane 0 is the normal form. Lane 1 is the second view of invisible separators (each one
 * a space, normalise.h): it opens at the first separator, from the raw bytes the stream
 * still keeps (at least GW_SPAN_MAX behind, and all that is not released), so a match
 * that crosses the separator is found as block mode finds it. Lane 2 is the render view
 * (markup as a chat window shows it), opened so at the first byte of markup. The release
 * point is the lowest of the lanes'. */

/* The views a stream is read in: lane 0 as written, lane 1 with invisible separators as
 * spaces (opened at the first one), lane 2 as a reply's window renders it (opened at the
 * first byte of markup: normalise.h). */
#define LANES 3

struct lane {
    gw_stream *st;
    struct gw_norm norm;         /* the view, with its map to the raw bytes */
    hs_stream_t *hs;
    struct gw_cands cands;       /* in this view's normalised offsets */
    struct gw_findings fresh;    /* just decided, in this view's offsets */
    bool on;
};

struct gw_stream {
    gw_scanner *sc;
    const struct gw_ruleset *rs;
    const struct gw_rule_policy *pol; /* the scanner's when the stream opened */
    struct lane lane[LANES];          /* as written, with separators as spaces, as rendered */
    struct gw_buf text; /* raw bytes of the stream from offset base on */
    size_t base;
    size_t total;    /* bytes fed */
    size_t released; /* bytes of input whose (redacted) form has been handed out */
    struct gw_findings findings; /* decided findings, in raw offsets */
    struct gw_findings redacts;  /* decided redact findings not yet released, raw offsets */
    struct gw_findings encoded;  /* what a run's decoding found, offsets into the run */
    size_t run_from;   /* lane 0 offset where the open run of encodable bytes starts */
    bool in_run;       /* a run is open: it is held back until it ends and is screened */
    bool run_special;  /* it holds a '%' or a backslash */
    bool run_binary;   /* judged at GW_RUN_JUDGE bytes: it decodes to no text; not held */
    bool run_space;    /* the run ended in a space it may go on past (run_spans_space) */
    size_t space_at;   /* where that space is */
    size_t tok_from;   /* where the run's last token starts */
    struct gw_decoded judge;
    struct gw_model_acc *model; /* the learned stage's sums, when a reply flag rule reads it */
    int failed;
    bool closed;
};

static int on_stream_match(unsigned id, unsigned long long from, unsigned long long to,
                           unsigned flags, void *ctx)
{
    struct lane *l = ctx;
    if (gw_cands_add(&l->cands, l->st->sc, id, (size_t)to, l->norm.text.data, l->norm.base,
                     l->norm.text.len)) {
        l->st->failed = 1;
        return 1;
    }
    return 0;
}

static int lane_open(gw_stream *st, struct lane *l)
{
    l->st = st;
    l->on = true;
    l->cands.pol = st->pol; /* a quiet rule's candidates never fail the stream */
    l->cands.norm = &l->norm;
    if (st->rs->stream_db && hs_open_stream(st->rs->stream_db, 0, &l->hs) != HS_SUCCESS)
        return -1;
    return 0;
}

static void lane_free(struct lane *l)
{
    if (l->hs)
        hs_close_stream(l->hs, NULL, NULL, NULL);
    gw_norm_free(&l->norm);
    free(l->cands.v);
    free(l->cands.pmax);
    gw_findings_free(&l->fresh);
}

gw_stream *gw_stream_open(gw_scanner *s)
{
    gw_stream *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->sc = s;
    st->rs = gw_scanner_ruleset(s);
    st->pol = gw_scanner_policy(s);
    if (lane_open(st, &st->lane[0]) == -1) {
        free(st);
        return NULL;
    }
    for (unsigned i = 0; i < st->rs->n_model_rules[1]; i++) {
        if (gw_rule_effect(st->rs, st->pol, st->rs->model_rules[1][i]).action != GW_ACTION_FLAG)
            continue;
        if (!(st->model = calloc(1, sizeof *st->model))) {
            gw_stream_free(st);
            return NULL;
        }
        gw_model_acc_init(st->model, st->rs->table.model);
        break;
    }
    return st;
}

void gw_stream_free(gw_stream *st)
{
    if (!st)
        return;
    for (int i = 0; i < LANES; i++)
        lane_free(&st->lane[i]);
    gw_buf_free(&st->text);
    gw_findings_free(&st->encoded);
    gw_decoded_free(&st->judge);
    gw_findings_free(&st->findings);
    gw_findings_free(&st->redacts);
    if (st->model)
        gw_feats_free(&st->model->buf);
    free(st->model);
    free(st);
}

const struct gw_findings *gw_stream_findings(const gw_stream *st)
{
    return &st->findings;
}

int gw_stream_match_text(const gw_stream *st, const struct gw_finding *f, const char **p,
                         size_t *len)
{
    if (f->start < st->base || f->end > st->base + st->text.len || f->end < f->start)
        return -1;
    *p = st->text.data + (f->start - st->base);
    *len = f->end - f->start;
    return 0;
}

size_t gw_stream_held(const gw_stream *st)
{
    return st->total - st->released;
}

/* Records a decided finding (raw offsets), unless the other lane already did. */
static int add_finding(gw_stream *st, unsigned rule, size_t start, size_t end)
{
    for (size_t i = st->findings.n, k = 0; i > 0 && k < 512; i--, k++) {
        const struct gw_finding *g = &st->findings.v[i - 1];
        if (g->rule == rule && g->start == start && g->end == end)
            return 0;
    }
    struct gw_rule_policy e = gw_rule_effect(st->rs, st->pol, rule);
    if (e.action == GW_ACTION_ALLOW)
        return 0; /* off under the stream's policy */
    /* a finding in shadow is recorded with what it would have done, and does nothing */
    enum gw_action a = e.shadow ? GW_ACTION_ALLOW : (enum gw_action)e.action;
    if (gw_findings_push(&st->findings, rule, start, end, a) == -1)
        return -1;
    st->findings.v[st->findings.n - 1].action = (enum gw_action)e.action;
    st->findings.v[st->findings.n - 1].shadow = e.shadow;
    if (a == GW_ACTION_REDACT && end > st->released &&
        gw_findings_push(&st->redacts, rule, start > st->released ? start : st->released, end,
                         GW_ACTION_REDACT) == -1)
        return -1;
    return 0;
}

/* ---- encoded runs ----
 * Block mode decodes the encoded runs of a text (decode.h) and screens what they say. A
 * stream does the same one run at a time: a run of bytes that base64, hex or %-escapes are
 * made of is held back until it ends (a word, in ordinary text), then, if it is long enough
 * or holds a '%' or a backslash, its decoding is screened. A finding covers the whole run. */

/* A run is a token of printable ASCII (as block mode's decoder reads tokens); bytes past
 * ASCII end it, so text in other scripts is not held. */
static bool encodable(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e;
}

/* Whether a run goes on past a space after the token [from, to): spaced hex pairs
 * ("69 67 6e", "0x69 0x67") and binary groups ("01101001 01100111"), HTML entities and \u
 * escapes separated by spaces are decoded joined. */
static bool run_spans_space(const char *t, size_t len)
{
    if (len == 2)
        return isxdigit((unsigned char)t[0]) && isxdigit((unsigned char)t[1]);
    if (len == 8)
        return gw_is_octet(t);
    if (len == 4 && t[0] == '0' && (t[1] | 0x20) == 'x')
        return isxdigit((unsigned char)t[2]) && isxdigit((unsigned char)t[3]);
    if (len >= 4 && t[len - 1] == ';' && memmem(t, len, "&#", 2))
        return true;
    return len >= 6 && t[0] == '\\' && (t[1] == 'u' || t[1] == 'x');
}

/* Screens the run of normalised bytes [from, to). */
static int screen_run(gw_stream *st, size_t from, size_t to)
{
    if ((to - from < 16 && !st->run_special) || st->run_binary)
        return 0;
    if (to - from > GW_RUN_MAX)
        return -1; /* not screened in full: the caller's fail_mode */
    const char *text = st->lane[0].norm.text.data + (from - st->lane[0].norm.base);
    if (gw_scan_encoded(st->sc, text, to - from, GW_DIR_REPLY, &st->encoded) == -1)
        return -1;
    for (size_t i = 0; i < st->encoded.n; i++) {
        const struct gw_finding *f = &st->encoded.v[i];
        if (add_finding(st, f->rule, gw_norm_start(&st->lane[0].norm, from + f->start),
                        gw_norm_end(&st->lane[0].norm, from + f->end)) == -1)
            return -1;
    }
    return 0;
}

/* Follows the runs through the normalised bytes made since from; at the end of the
 * stream (closing), the open run ends too. */
static int follow_runs(gw_stream *st, size_t from, bool closing)
{
    struct gw_norm *nm = &st->lane[0].norm;
    size_t total = gw_norm_total(nm);
    for (size_t p = from; p < total; p++) {
        unsigned char c = (unsigned char)nm->text.data[p - nm->base];
        if (encodable(c)) {
            if (!st->in_run) {
                st->in_run = true;
                st->run_from = p;
                st->run_special = false;
                st->run_binary = false;
            }
            if (st->run_space) { /* the run goes on past a space: a new token */
                st->run_space = false;
                st->tok_from = p;
            } else if (p == st->run_from) {
                st->tok_from = p;
            }
            st->run_special |= c == '%' || c == '\\' || c == '#';
            /* A long run is judged once: if what it holds so far decodes to no text (a
             * base64 image, a long word), it is not held back any more, and not screened
             * as encoded (block mode keeps only runs that decode to text, too). */
            if (p + 1 - st->run_from == GW_RUN_JUDGE) {
                const char *t = nm->text.data + (st->run_from - nm->base);
                if (gw_decode_find(t, GW_RUN_JUDGE, GW_RUN_JUDGE, &st->judge) == -1)
                    return -1;
                st->run_binary = st->judge.n == 0;
            }
        } else if (st->in_run) {
            if (c == ' ' && !st->run_space && !st->run_binary &&
                run_spans_space(nm->text.data + (st->tok_from - nm->base), p - st->tok_from)) {
                st->run_space = true; /* decided by the next byte */
                st->space_at = p;
                continue;
            }
            size_t end = st->run_space ? st->space_at : p;
            st->in_run = false;
            st->run_space = false;
            if (screen_run(st, st->run_from, end) == -1)
                return -1;
        }
    }
    if (st->in_run && (closing || (!st->run_binary && total - st->run_from > GW_RUN_MAX))) {
        size_t end = st->run_space ? st->space_at : total;
        st->in_run = false;
        st->run_space = false;
        return screen_run(st, st->run_from, end);
    }
    return 0;
}

/* Decides what can be decided, then releases up to the furthest point that cuts no
 * pending match. In each lane, matches become final up to its hold-back from its end
 * (every match that could still overlap the bytes before it has been seen), or its end
 * when closing. */
static int settle(gw_stream *st, bool closing, struct gw_buf *out)
{
    size_t hold = closing ? 0 : st->rs->holdback;
    size_t upto[LANES] = {0};
    for (int i = 0; i < LANES; i++) {
        struct lane *l = &st->lane[i];
        if (!l->on)
            continue;
        size_t ntotal = gw_norm_total(&l->norm);
        upto[i] = ntotal > hold ? ntotal - hold : 0;
        l->fresh.n = 0;
        if (gw_cands_decide(&l->cands, st->rs, upto[i], &l->fresh) == -1)
            return -1;
        for (size_t k = 0; k < l->fresh.n; k++) {
            const struct gw_finding *f = &l->fresh.v[k];
            size_t end = f->end; /* a secret whole, as far as the stream has it (match.h) */
            if (gw_secret_redacts(st->rs, f->rule) && end >= l->norm.base)
                end = l->norm.base +
                      gw_secret_end(l->norm.text.data, end - l->norm.base, ntotal - l->norm.base);
            if (add_finding(st, f->rule, gw_norm_start(&l->norm, f->start),
                            gw_norm_end(&l->norm, end)) == -1)
                return -1;
        }
    }
    if (st->findings.verdict == GW_ACTION_BLOCK)
        return 0; /* the caller ends the stream; nothing more goes out */

    /* Never cut through a match still undecided in either lane (that would show the
     * customer the start of something to be redacted or blocked) nor through a redaction. */
    size_t point = st->total, undecided_from[LANES] = {0};
    for (int i = 0; i < LANES; i++) {
        struct lane *l = &st->lane[i];
        if (!l->on)
            continue;
        size_t npoint = upto[i];
        undecided_from[i] = upto[i];
        if (i == 0 && st->in_run && !st->run_binary && st->run_from < npoint)
            npoint = st->run_from; /* an open run is screened when it ends */
        for (size_t k = 0; k < l->cands.n; k++) {
            const struct gw_cand *c = &l->cands.v[k];
            struct gw_rule_policy e = gw_rule_effect(st->rs, st->pol, c->rule);
            enum gw_action a = e.shadow ? GW_ACTION_ALLOW : (enum gw_action)e.action;
            if (!c->allow && !c->decided) {
                if (c->start < undecided_from[i])
                    undecided_from[i] = c->start;
                if ((a == GW_ACTION_REDACT || a == GW_ACTION_BLOCK) && c->start < npoint)
                    npoint = c->start;
            }
        }
        size_t p = gw_norm_start(&l->norm, npoint);
        if (p < point)
            point = p;
    }
    for (bool moved = true; moved;) {
        moved = false;
        for (size_t i = 0; i < st->redacts.n; i++) {
            const struct gw_finding *f = &st->redacts.v[i];
            if (f->start < point && f->end > point) {
                point = f->start;
                moved = true;
            }
        }
    }
    /* Do not split a UTF-8 sequence: each released piece stays valid text. */
    for (int k = 0; k < 3 && point > st->released && point < st->total &&
                    ((unsigned char)st->text.data[point - st->base] & 0xC0) == 0x80;
         k++)
        point--;

    if (point > st->released) {
        gw_findings_sort(&st->redacts);
        if (gw_redact_range(st->rs, st->text.data, st->base, st->released, point, &st->redacts,
                            out) == -1)
            return -1;
        st->released = point;
        size_t keep = 0;
        for (size_t i = 0; i < st->redacts.n; i++)
            if (st->redacts.v[i].end > point)
                st->redacts.v[keep++] = st->redacts.v[i];
        st->redacts.n = keep;
    }

    /* Forget matches that can no longer contain or overlap anything still to come; keep
     * the normalised bytes a span may still start in, and the raw bytes they came from (a
     * decided finding's text is read back from them, and lane 1 opens on them) and the
     * unreleased ones. */
    size_t need_from = st->released;
    for (int i = 0; i < LANES; i++) {
        struct lane *l = &st->lane[i];
        if (!l->on)
            continue;
        size_t horizon = undecided_from[i] < upto[i] ? undecided_from[i] : upto[i];
        size_t keep = 0;
        for (size_t k = 0; k < l->cands.n; k++) {
            const struct gw_cand *c = &l->cands.v[k];
            if (!((c->decided || c->allow) && c->end <= horizon))
                l->cands.v[keep++] = *c;
        }
        l->cands.n = keep;
        size_t ntotal = gw_norm_total(&l->norm);
        size_t nneed = ntotal > GW_SPAN_MAX ? ntotal - GW_SPAN_MAX : 0;
        if (undecided_from[i] < nneed)
            nneed = undecided_from[i];
        if (i == 0 && st->in_run && !st->run_binary && st->run_from < nneed)
            nneed = st->run_from;
        size_t raw = gw_norm_start(&l->norm, nneed);
        if (raw < need_from)
            need_from = raw;
        if (nneed > l->norm.base + 4096)
            gw_norm_forget(&l->norm, nneed);
    }
    if (need_from > st->base + 4096) {
        gw_buf_consume(&st->text, need_from - st->base);
        st->base = need_from;
    }
    return 0;
}

/* Gives the learned stage the normalised bytes lane 0 made since from (the view block mode
 * scores). */
static int model_new(struct lane *l, size_t from)
{
    gw_stream *st = l->st;
    if (!st->model || l != &st->lane[0])
        return 0;
    return gw_model_acc_feed(st->model, l->norm.text.data + (from - l->norm.base),
                             gw_norm_total(&l->norm) - from);
}

/* At the end of a stream, the model's reply rules: a stream is flagged, never blocked, by
 * them (what was sent cannot be unsent), so only the rules that flag under the stream's
 * policy are read; for each head the first that fires is a finding over the whole stream,
 * as gw_scan's. */
static int model_close(gw_stream *st)
{
    const struct gw_ruleset *rs = st->rs;
    size_t n_ids = 0;
    const char **ids = calloc(st->findings.n + 1, sizeof *ids);
    if (!ids)
        return -1;
    for (size_t i = 0; i < st->findings.n; i++) { /* each rule once, in order of finding */
        const char *id = rs->table.rules[st->findings.v[i].rule].id;
        size_t k = 0;
        while (k < n_ids && ids[k] != id)
            k++;
        if (k == n_ids)
            ids[n_ids++] = id;
    }
    float score[GW_MODEL_HEADS_MAX];
    int rc = gw_model_acc_score(st->model, ids, n_ids, score);
    free(ids);
    unsigned done = 0;
    for (unsigned i = 0; rc == 0 && i < rs->n_model_rules[1]; i++) {
        unsigned ri = rs->model_rules[1][i];
        const struct gw_rule *r = &rs->table.rules[ri];
        unsigned bit = 1u << r->head_index;
        struct gw_rule_policy e = gw_rule_effect(rs, st->pol, ri);
        if (e.action != GW_ACTION_FLAG || (done & bit) || score[r->head_index] < r->above)
            continue;
        done |= bit;
        /* in shadow, recorded with what it would have done, and does nothing */
        rc = gw_findings_push(&st->findings, ri, 0, st->total,
                              e.shadow ? GW_ACTION_ALLOW : GW_ACTION_FLAG);
        if (rc == 0) {
            struct gw_finding *g = &st->findings.v[st->findings.n - 1];
            g->action = GW_ACTION_FLAG;
            g->shadow = e.shadow;
            g->score = score[r->head_index];
        }
    }
    return rc;
}

/* Scans the normalised bytes lane l made since from. */
static int scan_new(struct lane *l, size_t from)
{
    size_t n = gw_norm_total(&l->norm) - from;
    if (!l->hs || n == 0)
        return 0;
    hs_error_t e = hs_scan_stream(l->hs, l->norm.text.data + (from - l->norm.base), (unsigned)n, 0,
                                  gw_scanner_scratch(l->st->sc), on_stream_match, l);
    if ((e != HS_SUCCESS && e != HS_SCAN_TERMINATED) || l->st->failed)
        return -1;
    return 0;
}

/* Feeds len raw bytes to lane l and scans what its view makes of them. */
static int lane_feed(struct lane *l, const char *data, size_t len)
{
    size_t from = gw_norm_total(&l->norm);
    if (gw_norm_feed(&l->norm, data, len) == -1 || scan_new(l, from) == -1 ||
        model_new(l, from) == -1)
        return -1;
    return 0;
}

/* Ends lane l: its pending bytes, and its Hyperscan stream's end-anchored matches. */
static int lane_close(struct lane *l)
{
    size_t from = gw_norm_total(&l->norm);
    if (gw_norm_finish(&l->norm) == -1 || scan_new(l, from) == -1 || model_new(l, from) == -1)
        return -1;
    if (l->hs) {
        hs_error_t e = hs_close_stream(l->hs, gw_scanner_scratch(l->st->sc), on_stream_match, l);
        l->hs = NULL;
        if ((e != HS_SUCCESS && e != HS_SCAN_TERMINATED) || l->st->failed)
            return -1;
    }
    return 0;
}

/* Opens lane l (1 or 2) late, on the raw bytes still kept, the last piece's (len bytes)
 * too, from the stream's start while it is kept, else from after the first whitespace in
 * them, so that it never starts in the middle of a word (a match there would see a word
 * boundary that is not one). */
static int lane_late(gw_stream *st, struct lane *l, size_t len)
{
    size_t skip = 0, before = st->text.len - len;
    while (st->base > 0 && skip < before && !isspace((unsigned char)st->text.data[skip]))
        skip++; /* the stream's start is a word's start */
    skip = st->base > 0 && skip < before ? skip + 1 : 0;
    l->norm.sep_space = l == &st->lane[1];
    l->norm.render = l == &st->lane[2];
    l->norm.in = st->base + skip;
    return lane_open(st, l) == -1 || lane_feed(l, st->text.data + skip, st->text.len - skip) == -1
               ? -1
               : 0;
}

/* The lanes' matches count towards the scanner's deadline, as a block scan's do: a
 * stream of matches that PCRE2 turns down ("4111 4111 ...") held a worker 13 s. */
static void take_deadline(gw_stream *st)
{
    for (int i = 0; i < LANES; i++)
        st->lane[i].cands.deadline_ns = gw_scanner_deadline(st->sc);
}

bool gw_stream_over_budget(const gw_stream *st)
{
    for (int i = 0; i < LANES; i++)
        if (st->lane[i].cands.over)
            return true;
    return gw_scanner_over_budget(st->sc);
}

int gw_stream_feed(gw_stream *st, const char *data, size_t len, struct gw_buf *out)
{
    if (st->closed || st->failed)
        return -1;
    if (len == 0)
        return 0;
    take_deadline(st);
    if (len > 0x7fffffffu || gw_buf_append(&st->text, data, len) == -1)
        return -1;
    st->total += len;
    struct lane *l0 = &st->lane[0], *l1 = &st->lane[1], *l2 = &st->lane[2];
    size_t back = st->text.len - len < 2 ? st->text.len - len : 2;
    size_t from = gw_norm_total(&l0->norm);
    int rc = lane_feed(l0, data, len) == -1 || follow_runs(st, from, false) == -1 ? -1 : 0;
    if (rc == 0 && l1->on)
        rc = lane_feed(l1, data, len);
    else if (rc == 0 && l0->norm.seps > 0)
        rc = lane_late(st, l1, len); /* the first separator */
    if (rc == 0 && l2->on)
        rc = lane_feed(l2, data, len);
    else if (rc == 0 && gw_norm_has_markup(st->text.data + (st->text.len - len - back), len + back))
        rc = lane_late(st, l2, len); /* the first markup (a bidi mark cut between pieces too) */
    if (rc == -1) {
        st->failed = 1;
        return -1;
    }
    return settle(st, false, out);
}

int gw_stream_close(gw_stream *st, struct gw_buf *out)
{
    take_deadline(st);
    if (st->closed || st->failed)
        return -1;
    st->closed = true;
    size_t from = gw_norm_total(&st->lane[0].norm);
    if (lane_close(&st->lane[0]) == -1 || follow_runs(st, from, true) == -1 ||
        (st->lane[1].on && lane_close(&st->lane[1]) == -1) ||
        (st->lane[2].on && lane_close(&st->lane[2]) == -1)) {
        st->failed = 1;
        return -1;
    }
    if (settle(st, true, out) == -1 || (st->model && model_close(st) == -1)) {
        st->failed = 1;
        return -1;
    }
    return 0;
}
