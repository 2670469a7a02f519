#include <stdlib.h>
#include <string.h>

#include "screen/match.h"
#include "screen/normalise.h"
#include "screen/scan.h"

/* The longest run of encodable bytes a stream screens (as GW_DECODE_MAX in scan.c bounds a
 * text's decoding); a longer one fails the stream, and the caller's fail_mode applies. */
#define GW_RUN_MAX (256u << 10)

/* The rules match the stream's normalised text (normalise.h), fed to Hyperscan piece by
 * piece as the normaliser makes it; candidates and the hold-back are counted in
 * normalised bytes. What the customer gets is the original bytes, so a decided finding is
 * mapped back at once, and the release point too: redaction and the hold-back act on the
 * original text, in whole characters. */

struct gw_stream {
    gw_scanner *sc;
    const struct gw_ruleset *rs;
    hs_stream_t *hs;
    struct gw_buf text; /* raw bytes of the stream from offset base on */
    size_t base;
    size_t total;    /* bytes fed */
    size_t released; /* bytes of input whose (redacted) form has been handed out */
    struct gw_norm norm; /* the normalised text, with its map to the raw bytes */
    struct gw_cands cands;       /* in normalised offsets */
    struct gw_findings fresh;    /* just decided, in normalised offsets */
    struct gw_findings findings; /* decided findings, in raw offsets */
    struct gw_findings redacts;  /* decided redact findings not yet released, raw offsets */
    struct gw_findings encoded;  /* what a run's decoding found, offsets into the run */
    size_t run_from;   /* normalised offset where the open run of encodable bytes starts */
    bool in_run;       /* a run is open: it is held back until it ends and is screened */
    bool run_special;  /* it holds a '%' or a backslash */
    int failed;
    bool closed;
};

static int on_stream_match(unsigned id, unsigned long long from, unsigned long long to,
                           unsigned flags, void *ctx)
{
    gw_stream *st = ctx;
    if (gw_cands_add(&st->cands, st->sc, id, (size_t)to, st->norm.text.data, st->norm.base,
                     st->norm.text.len)) {
        st->failed = 1;
        return 1;
    }
    return 0;
}

gw_stream *gw_stream_open(gw_scanner *s)
{
    gw_stream *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->sc = s;
    st->rs = gw_scanner_ruleset(s);
    if (st->rs->stream_db && hs_open_stream(st->rs->stream_db, 0, &st->hs) != HS_SUCCESS) {
        free(st);
        return NULL;
    }
    return st;
}

void gw_stream_free(gw_stream *st)
{
    if (!st)
        return;
    if (st->hs)
        hs_close_stream(st->hs, NULL, NULL, NULL);
    gw_buf_free(&st->text);
    gw_norm_free(&st->norm);
    free(st->cands.v);
    free(st->cands.pmax);
    gw_findings_free(&st->fresh);
    gw_findings_free(&st->encoded);
    gw_findings_free(&st->findings);
    gw_findings_free(&st->redacts);
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

/* Decides what can be decided, then releases up to the furthest point that cuts no
 * pending match: upto (normalised) is where matches become final (every match that could
 * still overlap the bytes before it has been seen). */
static int settle(gw_stream *st, size_t upto, struct gw_buf *out)
{
    st->fresh.n = 0;
    if (gw_cands_decide(&st->cands, st->rs, upto, &st->fresh) == -1)
        return -1;
    for (size_t i = 0; i < st->fresh.n; i++) {
        const struct gw_finding *f = &st->fresh.v[i];
        enum gw_action a = st->rs->table.rules[f->rule].action;
        size_t start = gw_norm_start(&st->norm, f->start), end = gw_norm_end(&st->norm, f->end);
        if (gw_findings_push(&st->findings, f->rule, start, end, a) == -1 ||
            (a == GW_ACTION_REDACT &&
             gw_findings_push(&st->redacts, f->rule, start, end, GW_ACTION_REDACT) == -1))
            return -1;
    }
    if (st->findings.verdict == GW_ACTION_BLOCK)
        return 0; /* the caller ends the stream; nothing more goes out */

    /* Never cut through a match still undecided (that would show the customer the start
     * of something to be redacted or blocked) nor through a redaction. */
    size_t npoint = upto, undecided_from = upto;
    if (st->in_run && st->run_from < npoint)
        npoint = st->run_from; /* an open run is screened when it ends */
    for (size_t i = 0; i < st->cands.n; i++) {
        const struct gw_cand *k = &st->cands.v[i];
        enum gw_action a = st->rs->table.rules[k->rule].action;
        if (!k->allow && !k->decided) {
            if (k->start < undecided_from)
                undecided_from = k->start;
            if ((a == GW_ACTION_REDACT || a == GW_ACTION_BLOCK) && k->start < npoint)
                npoint = k->start;
        }
    }
    size_t point = gw_norm_start(&st->norm, npoint);
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

    /* Forget matches that can no longer contain or overlap anything still to come. */
    size_t horizon = undecided_from < upto ? undecided_from : upto;
    size_t keep = 0;
    for (size_t i = 0; i < st->cands.n; i++) {
        const struct gw_cand *k = &st->cands.v[i];
        if (!((k->decided || k->allow) && k->end <= horizon))
            st->cands.v[keep++] = *k;
    }
    st->cands.n = keep;

    /* Keep the normalised bytes a span may still start in, and the raw bytes they came
     * from (a decided finding's text is read back from them) and the unreleased ones. */
    size_t ntotal = gw_norm_total(&st->norm);
    size_t nneed = ntotal > GW_SPAN_MAX ? ntotal - GW_SPAN_MAX : 0;
    if (undecided_from < nneed)
        nneed = undecided_from;
    if (st->in_run && st->run_from < nneed)
        nneed = st->run_from;
    size_t need_from = gw_norm_start(&st->norm, nneed);
    if (st->released < need_from)
        need_from = st->released;
    if (nneed > st->norm.base + 4096)
        gw_norm_forget(&st->norm, nneed);
    if (need_from > st->base + 4096) {
        gw_buf_consume(&st->text, need_from - st->base);
        st->base = need_from;
    }
    return 0;
}

/* ---- encoded runs ----
 * Block mode decodes the encoded runs of a text (decode.h) and screens what they say. A
 * stream does the same one run at a time: a run of bytes that base64, hex or %-escapes are
 * made of is held back until it ends (a word, in ordinary text), then, if it is long enough
 * or holds a '%' or a backslash, its decoding is screened. A finding covers the whole run. */

static bool encodable(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/' || c == '=' || c == '_' || c == '-' || c == '%' || c == '\\';
}

/* Screens the run of normalised bytes [from, to). */
static int screen_run(gw_stream *st, size_t from, size_t to)
{
    if (to - from < 16 && !st->run_special)
        return 0;
    if (to - from > GW_RUN_MAX)
        return -1; /* not screened in full: the caller's fail_mode */
    const char *text = st->norm.text.data + (from - st->norm.base);
    if (gw_scan_encoded(st->sc, text, to - from, GW_DIR_REPLY, &st->encoded) == -1)
        return -1;
    for (size_t i = 0; i < st->encoded.n; i++) {
        const struct gw_finding *f = &st->encoded.v[i];
        enum gw_action a = st->rs->table.rules[f->rule].action;
        size_t start = gw_norm_start(&st->norm, from + f->start);
        size_t end = gw_norm_end(&st->norm, from + f->end);
        if (gw_findings_push(&st->findings, f->rule, start, end, a) == -1 ||
            (a == GW_ACTION_REDACT &&
             gw_findings_push(&st->redacts, f->rule, start, end, GW_ACTION_REDACT) == -1))
            return -1;
    }
    return 0;
}

/* Follows the runs through the normalised bytes made since from; at the end of the
 * stream (closing), the open run ends too. */
static int follow_runs(gw_stream *st, size_t from, bool closing)
{
    size_t total = gw_norm_total(&st->norm);
    for (size_t p = from; p < total; p++) {
        unsigned char c = (unsigned char)st->norm.text.data[p - st->norm.base];
        if (encodable(c)) {
            if (!st->in_run) {
                st->in_run = true;
                st->run_from = p;
                st->run_special = false;
            }
            st->run_special |= c == '%' || c == '\\';
        } else if (st->in_run) {
            st->in_run = false;
            if (screen_run(st, st->run_from, p) == -1)
                return -1;
        }
    }
    if (st->in_run && (closing || total - st->run_from > GW_RUN_MAX)) {
        st->in_run = false;
        return screen_run(st, st->run_from, total);
    }
    return 0;
}

/* Scans the normalised bytes made since from. */
static int scan_new(gw_stream *st, size_t from)
{
    size_t n = gw_norm_total(&st->norm) - from;
    if (!st->hs || n == 0)
        return 0;
    hs_error_t e = hs_scan_stream(st->hs, st->norm.text.data + (from - st->norm.base),
                                  (unsigned)n, 0, gw_scanner_scratch(st->sc), on_stream_match, st);
    if ((e != HS_SUCCESS && e != HS_SCAN_TERMINATED) || st->failed) {
        st->failed = 1;
        return -1;
    }
    return 0;
}

int gw_stream_feed(gw_stream *st, const char *data, size_t len, struct gw_buf *out)
{
    if (st->closed || st->failed)
        return -1;
    if (len == 0)
        return 0;
    if (len > 0x7fffffffu || gw_buf_append(&st->text, data, len) == -1)
        return -1;
    st->total += len;
    size_t from = gw_norm_total(&st->norm);
    if (gw_norm_feed(&st->norm, data, len) == -1 || scan_new(st, from) == -1 ||
        follow_runs(st, from, false) == -1) {
        st->failed = 1;
        return -1;
    }
    size_t hold = st->rs->holdback, ntotal = gw_norm_total(&st->norm);
    return settle(st, ntotal > hold ? ntotal - hold : 0, out);
}

int gw_stream_close(gw_stream *st, struct gw_buf *out)
{
    if (st->closed || st->failed)
        return -1;
    st->closed = true;
    size_t from = gw_norm_total(&st->norm);
    if (gw_norm_finish(&st->norm) == -1 || scan_new(st, from) == -1 ||
        follow_runs(st, from, true) == -1) {
        st->failed = 1;
        return -1;
    }
    if (st->hs) {
        hs_error_t e =
            hs_close_stream(st->hs, gw_scanner_scratch(st->sc), on_stream_match, st);
        st->hs = NULL;
        if ((e != HS_SUCCESS && e != HS_SCAN_TERMINATED) || st->failed) {
            st->failed = 1;
            return -1;
        }
    }
    return settle(st, gw_norm_total(&st->norm), out);
}
