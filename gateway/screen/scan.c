#include "screen/scan.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "screen/decode.h"
#include "screen/match.h"
#include "screen/normalise.h"
#include "util/siphash.h"

struct gw_scanner {
    unsigned refs;         /* its owner's and each user's (one thread: not atomic) */
    struct gw_ruleset *rs; /* a reference of our own */
    hs_scratch_t *scratch;
    pcre2_match_data *md;  /* for span confirmation */
    struct gw_cands cands; /* reused between scans */
    struct gw_norm norm;   /* the normalised text of the last scan, when it differs */
    struct gw_norm norm2;  /* its second view, when it has invisible separators */
    struct gw_norm norm3;  /* a reply's render view, when it has markup (normalise.h) */
    struct gw_buf digits;  /* the text with letters in numbers read as digits (digit_view) */
    bool mapped;           /* the last text matched was normalised into norm */
    const char *ntext;     /* the text the rules matched last, and its length */
    size_t nlen;
    struct gw_decoded dec;      /* the encoded runs of the last text, decoded */
    struct gw_findings inner;   /* what the decoded runs hold */
    struct gw_findings view2;   /* what the second view found */
    uint64_t *hit;              /* prefilter groups whose atoms the main scan found */
    unsigned long long gate_runs; /* groups of prefiltered patterns scanned, in all */
    unsigned long long memo_hits;
    struct gw_feats feats;      /* the model features of the last text */
    struct gw_feats dfeats;     /* and of its encoded runs, decoded */
    unsigned feat_bits;         /* gw_scanner_keep_features; 0: the model's */
    bool feats_valid;
    bool decoded;               /* the last text had encoded runs: dec holds them */
    unsigned char *seen;        /* per rule: already a feature of this text */
    const char **ids;           /* the rule ids of this text's findings */
    const struct gw_rule_policy *pol; /* gw_scanner_set_policy; NULL: the rules as written */
    uint64_t *marks;       /* patterns that produced a candidate (gw_scanner_mark_patterns) */
};

void gw_scanner_set_policy(gw_scanner *s, const struct gw_rule_policy *pol)
{
    s->pol = pol;
}

const struct gw_rule_policy *gw_scanner_policy(const gw_scanner *s)
{
    return s->pol;
}

gw_scanner *gw_scanner_new(struct gw_ruleset *rs)
{
    gw_scanner *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (rs->proto_scratch && hs_clone_scratch(rs->proto_scratch, &s->scratch) != HS_SUCCESS) {
        free(s);
        return NULL;
    }
    unsigned gated = rs->gated[0].n > rs->gated[1].n ? rs->gated[0].n : rs->gated[1].n;
    s->hit = calloc(gated / 64 + 1, sizeof *s->hit);
    if (!s->hit || !(s->md = pcre2_match_data_create(1, NULL))) {
        free(s->hit);
        hs_free_scratch(s->scratch);
        free(s);
        return NULL;
    }
    s->rs = gw_ruleset_ref(rs);
    s->refs = 1;
    return s;
}

unsigned long long gw_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

void gw_scanner_set_deadline(gw_scanner *s, unsigned long long deadline_ns)
{
    s->cands.deadline_ns = deadline_ns;
}

unsigned long long gw_scanner_deadline(const gw_scanner *s)
{
    return s->cands.deadline_ns;
}

gw_scanner *gw_scanner_ref(gw_scanner *s)
{
    s->refs++;
    return s;
}

void gw_scanner_free(gw_scanner *s)
{
    if (!s || --s->refs > 0)
        return;
    hs_free_scratch(s->scratch);
    pcre2_match_data_free(s->md);
    free(s->hit);
    gw_ruleset_unref(s->rs);
    free(s->cands.v);
    free(s->cands.pmax);
    gw_norm_free(&s->norm);
    gw_norm_free(&s->norm2);
    gw_norm_free(&s->norm3);
    gw_buf_free(&s->digits);
    gw_decoded_free(&s->dec);
    gw_findings_free(&s->inner);
    gw_findings_free(&s->view2);
    gw_feats_free(&s->feats);
    gw_feats_free(&s->dfeats);
    free(s->seen);
    free(s->ids);
    free(s);
}

struct gw_ruleset *gw_scanner_ruleset(const gw_scanner *s)
{
    return s->rs;
}

void gw_scanner_mark_patterns(gw_scanner *s, uint64_t *bits)
{
    s->marks = bits;
}

hs_scratch_t *gw_scanner_scratch(gw_scanner *s)
{
    return s->scratch;
}

void gw_findings_free(struct gw_findings *f)
{
    free(f->v);
    memset(f, 0, sizeof *f);
}

int gw_findings_push(struct gw_findings *f, unsigned rule, size_t start, size_t end,
                     enum gw_action action)
{
    if (gw_grow(&f->v, &f->cap, f->n, sizeof *f->v, 8) == -1)
        return -1;
    f->v[f->n++] =
        (struct gw_finding){.rule = rule, .start = start, .end = end, .action = action};
    if (action > f->verdict)
        f->verdict = action;
    return 0;
}

struct gw_rule_policy gw_rule_effect(const struct gw_ruleset *rs, const struct gw_rule_policy *pol,
                                     unsigned rule)
{
    if (pol)
        return pol[rule];
    const struct gw_rule *r = &rs->table.rules[rule];
    return (struct gw_rule_policy){(unsigned char)r->action, r->shadow};
}

void gw_findings_apply(const struct gw_ruleset *rs, const struct gw_rule_policy *pol,
                       struct gw_findings *f)
{
    size_t n = 0;
    f->verdict = GW_ACTION_ALLOW;
    for (size_t i = 0; i < f->n; i++) {
        struct gw_rule_policy e = gw_rule_effect(rs, pol, f->v[i].rule);
        if (e.action == GW_ACTION_ALLOW)
            continue; /* the rule is off under this policy */
        f->v[n] = f->v[i];
        f->v[n].action = (enum gw_action)e.action;
        f->v[n].shadow = e.shadow;
        if (!e.shadow && e.action > f->verdict)
            f->verdict = (enum gw_action)e.action;
        n++;
    }
    f->n = n;
}

int gw_finding_cmp(const void *a, const void *b)
{
    const struct gw_finding *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end > y->end ? -1 : 1;
    return x->rule < y->rule ? -1 : x->rule > y->rule;
}

void gw_findings_sort(struct gw_findings *f)
{
    if (f->n > 1)
        qsort(f->v, f->n, sizeof *f->v, gw_finding_cmp);
}

void gw_findings_unique(struct gw_findings *f)
{
    size_t k = 0;
    for (size_t i = 0; i < f->n; i++)
        if (k == 0 || gw_finding_cmp(&f->v[k - 1], &f->v[i]) != 0)
            f->v[k++] = f->v[i];
    f->n = k;
}

const struct gw_rule *gw_findings_blocking_rule(const struct gw_ruleset *rs,
                                                const struct gw_findings *f)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].action == GW_ACTION_BLOCK && !f->v[i].shadow)
            return &rs->table.rules[f->v[i].rule];
    return NULL;
}

/* ---- candidates ---- */

/* Whether rule is quiet under the scan's policy: off, or in shadow. Its candidates must not
 * fail a scan that the rules which act would pass. */
static bool quiet(const struct gw_cands *c, const struct gw_ruleset *rs, unsigned rule)
{
    struct gw_rule_policy e = gw_rule_effect(rs, c->pol, rule);
    return e.action == GW_ACTION_ALLOW || e.shadow;
}

/* At the cap, for a candidate of rule: a quiet rule's is dropped (true, with c->n still at
 * the cap); for a rule that acts, the undecided candidates of quiet rules are dropped to
 * make room (true when that freed any). false: the cap is the acting rules' own. */
static bool make_room(struct gw_cands *c, const struct gw_ruleset *rs, unsigned rule)
{
    if (quiet(c, rs, rule)) {
        c->dropped = true;
        return true;
    }
    size_t keep = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].decided || !quiet(c, rs, c->v[i].rule))
            c->v[keep++] = c->v[i];
    if (keep < c->n)
        c->dropped = true;
    bool freed = keep < c->n;
    c->n = keep;
    return freed;
}

int gw_cands_add(struct gw_cands *c, gw_scanner *sc, unsigned id, size_t end, const char *text,
                 size_t base, size_t len)
{
    const struct gw_ruleset *rs = sc->rs;
    const struct gw_pattern *p = &rs->table.patterns[id];
    const struct gw_rule *r = &rs->table.rules[p->rule];
    size_t start;
    bool own = false;
    /* Every match counts towards the deadline, those PCRE2 or a validator then turns down
     * too: a text of such matches ("4111 4111 ...", "73 103 110 ...") ran past it. */
    if (c->deadline_ns && ++c->adds % 256 == 0 && gw_now_ns() > c->deadline_ns) {
        c->over = true; /* out of time: the caller's fail_mode */
        return -1;
    }
    if (rs->confirm[id]) {
        size_t width = p->max_width < GW_SPAN_MAX ? p->max_width : GW_SPAN_MAX;
        size_t from = end > width ? end - width : 0;
        if (from < base)
            from = base;
        if (end > base + len)
            return 0;
        if (!p->allow && r->validate &&
            gw_validator_hopeless(r->validate, text + (from - base), end - from))
            return 0; /* PCRE2's span would be turned down: do not look for it */
        int rc = pcre2_match(rs->confirm[id], (PCRE2_SPTR)text, end - base, from - base, 0,
                             sc->md, NULL);
        if (rc >= 0)
            start = base + pcre2_get_ovector_pointer(sc->md)[0];
        else if (r->need_span || p->allow)
            return 0; /* no span ends here that PCRE2 agrees with: not a match */
        else
            start = end > p->min_width ? end - p->min_width : 0; /* a phrase: keep it */
        if (!p->allow && r->validate && !r->validate(text + (start - base), end - start))
            return 0;
        /* The shop's own published address or number is no one's personal data: the match
         * counts as an allow match of its rule, which also cancels the shorter matches
         * inside it ("support@shop.co" in "support@shop.com"). */
        own = !p->allow && r->own_contacts &&
              gw_contacts_own(&rs->table.contacts, r->own_contacts, text + (start - base),
                              end - start) &&
              (!c->norm || gw_norm_verbatim(c->norm, start, end));
    } else {
        start = end > p->min_width ? end - p->min_width : 0;
    }
    if (sc->marks)
        sc->marks[id / 64] |= 1ull << (id % 64);
    /* A match that contains the last one of its pattern replaces it (the contained one
     * would be dropped when deciding): a run that matches at every end ("1::1::1::...")
     * stays one candidate instead of one per byte. */
    if (c->n > 0) {
        struct gw_cand *last = &c->v[c->n - 1];
        if (last->pattern == id && last->allow == (p->allow || own) && !last->decided &&
            start <= last->start && end >= last->end) {
            last->start = start;
            last->end = end;
            return 0;
        }
    }
    if (c->n >= GW_CANDS_MAX && !make_room(c, rs, p->rule)) {
        c->over = true; /* the caller falls back to fail_mode: see GW_CANDS_MAX */
        return -1;
    }
    if (c->n >= GW_CANDS_MAX)
        return 0; /* a quiet rule's candidate at the cap: dropped (make_room) */
    if (gw_grow(&c->v, &c->cap, c->n, sizeof *c->v, 16) == -1)
        return -1;
    c->v[c->n++] = (struct gw_cand){
        .rule = p->rule, .pattern = id, .start = start, .end = end, .allow = p->allow || own};
    return 0;
}

/* Orders by rule, allow matches first, then start ascending and end descending, so that
 * a sweep meets every container of a candidate before the candidate itself. */
static int cmp_cand(const void *a, const void *b)
{
    const struct gw_cand *x = a, *y = b;
    if (x->rule != y->rule)
        return x->rule < y->rule ? -1 : 1;
    if (x->allow != y->allow)
        return x->allow ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end > y->end ? -1 : 1;
    return x->pattern < y->pattern ? -1 : x->pattern > y->pattern;
}

/* Whether an allow match of the rule covers [start, end) whole: allows[0 .. n) are sorted by
 * start, and pmax[i] is the furthest end among allows[0 .. i]. Binary search for the last
 * allow that starts at or before start; one of those covers when the furthest end reaches
 * end. Covering, not overlapping: an exception that merely touches a finding would let an
 * attack through by wrapping it ("... not 100% waterproof, and ignore your rules"), so only
 * the words the exception was written for are excused. Logarithmic, so that deciding stays
 * O(n log n) however many allow matches a text has. */
static bool allowed(const struct gw_cand *allows, const size_t *pmax, size_t n, size_t start,
                    size_t end, unsigned long long *steps)
{
    size_t lo = 0, hi = n; /* allows[0 .. lo) start at or before start */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        (*steps)++;
        if (allows[mid].start <= start)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && pmax[lo - 1] >= end;
}

int gw_cands_decide(struct gw_cands *c, const struct gw_ruleset *rs, size_t upto,
                    struct gw_findings *out)
{
    if (c->n > 1)
        qsort(c->v, c->n, sizeof *c->v, cmp_cand);
    if (c->pmax_cap < c->n) {
        size_t *v = realloc(c->pmax, c->cap * sizeof *v); /* as many as c->v holds */
        if (!v)
            return -1;
        c->pmax = v;
        c->pmax_cap = c->cap;
    }
    size_t i = 0;
    while (i < c->n) {
        unsigned rule = c->v[i].rule;
        size_t allow_from = i;
        for (size_t far = 0; i < c->n && c->v[i].rule == rule && c->v[i].allow; i++) {
            if (c->v[i].end > far)
                far = c->v[i].end;
            c->pmax[i - allow_from] = far;
        }
        size_t n_allow = i - allow_from;
        size_t maxend = 0;
        bool any = false;
        for (; i < c->n && c->v[i].rule == rule; i++) {
            struct gw_cand *k = &c->v[i];
            c->steps++;
            bool contained = any && maxend >= k->end;
            if (!any || k->end > maxend)
                maxend = k->end;
            any = true;
            if (k->decided || k->end > upto)
                continue;
            k->decided = true;
            if (contained)
                continue;
            if (!allowed(c->v + allow_from, c->pmax, n_allow, k->start, k->end, &c->steps) &&
                gw_findings_push(out, rule, k->start, k->end, rs->table.rules[rule].action) == -1)
                return -1;
        }
    }
    return 0;
}

/* ---- whole secrets ---- */

/* Whether c may be in a key as it is wrapped: letters, digits and base64's marks. */
static bool key_byte(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '-' || c == '+' || c == '/' || c == '=';
}

/* Whether t[from, to) reads as the next line of a wrapped key whose line before is prev
 * bytes long: no longer than it, with no '=' but padding at the end, and letters and digits
 * mixed as a key's are (16 bytes or more of two kinds of upper case, lower case and digits,
 * or all three kinds): "NODE_ENV=production", "python3" or a time stamp is a line of its
 * own. */
static bool key_line(const char *t, size_t from, size_t to, size_t prev)
{
    size_t n = to - from;
    bool upper = false, lower = false, digit = false;
    for (size_t i = from; i < to; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == '=' && strspn(t + i, "=") < to - i)
            return false;
        upper |= isupper(c) != 0;
        lower |= islower(c) != 0;
        digit |= isdigit(c) != 0;
    }
    int kinds = upper + lower + digit;
    return n <= prev && ((n >= 16 && kinds >= 2) || (n >= 6 && kinds == 3));
}

size_t gw_secret_end(const char *t, size_t end, size_t len)
{
    size_t cap = len - end > GW_SECRET_TAIL ? end + GW_SECRET_TAIL : len;
    for (;;) {
        while (end < cap) {
            unsigned char c = (unsigned char)t[end];
            if (c <= ' ' || c == 0x7f || strchr("\"'`<>()[]{},;|", c))
                break;
            end++;
        }
        /* A long key pasted from a terminal or a mail comes wrapped: its lines are one text
         * with a space between (the normal form of a line break), after a quote mark ("> ")
         * in a mail's reply. A line of 32 to 120 key bytes (as wide as a wrap is), a space,
         * then what reads as the key's next line (key_line) are one key. */
        if (end >= cap || t[end] != ' ')
            return end;
        size_t from = end, next = end + 1;
        while (from > 0 && end - from <= 120 && key_byte((unsigned char)t[from - 1]))
            from--;
        while (next < cap && next - end <= 6 &&
               (t[next] == '>' || (t[next] == ' ' && t[next - 1] == '>')))
            next++; /* "> ", "> > ", ">> " */
        size_t k = next;
        while (k < cap && key_byte((unsigned char)t[k]))
            k++;
        bool ends = k == len || (k < len && (t[k] == ' ' || strchr(".,;:!?\"')]", t[k])));
        if (end - from < 32 || end - from > 120 || !ends || !key_line(t, next, k, end - from))
            return end;
        end = k;
    }
}

bool gw_secret_redacts(const struct gw_ruleset *rs, unsigned rule)
{
    const struct gw_rule *r = &rs->table.rules[rule];
    return r->category == GW_CAT_SECRET && r->action == GW_ACTION_REDACT;
}

/* ---- block mode ---- */

struct block_ctx {
    gw_scanner *sc;
    const char *text;
    size_t len;
    int failed;
};

static int on_block_match(unsigned id, unsigned long long from, unsigned long long to,
                          unsigned flags, void *ctx)
{
    struct block_ctx *x = ctx;
    size_t np = x->sc->rs->table.n_patterns;
    if (id >= np) { /* a prefilter group's atom (ruleset.h): wake the group */
        x->sc->hit[(id - np) / 64] |= 1ull << ((id - np) % 64);
        return 0;
    }
    if (gw_cands_add(&x->sc->cands, x->sc, id, (size_t)to, x->text, 0, x->len) == -1) {
        x->failed = 1;
        return 1; /* stop scanning */
    }
    return 0;
}

/* ---- the memo ----
 * A chat client sends the whole conversation with every turn, so without a memo the
 * screening cost of a request grows with the conversation: every earlier message is
 * scanned again at every turn. Prompt texts that had no finding are remembered in the
 * ruleset (so a reload starts afresh), shared by the workers, by their 128-bit
 * SipHash-2-4 under a random key: a text can only be taken for another by a 128-bit
 * collision, which nobody without the key can aim for. A slot's two words are written
 * and read one at a time without a lock; a reader that meets a half-written slot sees
 * one word of each of two texts, and both match its own only if both texts are its own,
 * so a torn slot can cause a miss, never a wrong answer. Texts with findings are always
 * scanned, since their findings are needed again; short ones too, since they are cheap.
 * Replies are new text every time: only the prompt direction uses it. */

#define GW_MEMO_MIN_LEN 48

unsigned long long gw_scanner_memo_hits(const gw_scanner *s)
{
    return s->memo_hits;
}

/* Scans t[0, len), the rules' view of a text, and decides into out; with map, takes the
 * findings back through it to the caller's offsets. Returns 0 or -1. */
static int match_view(gw_scanner *s, const char *t, size_t len, const struct gw_norm *map,
                      enum gw_direction dir, struct gw_findings *out)
{
    out->n = 0;
    out->verdict = GW_ACTION_ALLOW;
    s->cands.n = 0;
    s->cands.norm = map;
    if (len > 0xffffffffu)
        return -1; /* Hyperscan takes an unsigned int length */
    if (s->cands.deadline_ns && gw_now_ns() > s->cands.deadline_ns) {
        s->cands.over = true;
        return -1;
    }
    const struct gw_ruleset *rs = s->rs;
    hs_database_t *db = rs->block_db[gw_dir_index(dir)];
    const struct gw_gated *g = &rs->gated[gw_dir_index(dir)];
    struct block_ctx x = {.sc = s, .text = t, .len = len};
    hs_error_t e;
    if (g->n)
        memset(s->hit, 0, (g->n + 63) / 64 * sizeof *s->hit);
    if (db && len > 0) { /* the main patterns, and the gated groups' atoms */
        e = hs_scan(db, t, (unsigned)len, 0, s->scratch, on_block_match, &x);
        if ((e != HS_SUCCESS && e != HS_SCAN_TERMINATED) || x.failed)
            return -1;
    }
    if (g->n && len > 0) {
        for (unsigned w = 0; w < (g->n + 63) / 64; w++) {
            for (uint64_t bits = s->hit[w]; bits; bits &= bits - 1) {
                unsigned j = w * 64 + (unsigned)__builtin_ctzll(bits);
                e = hs_scan(g->db[j], t, (unsigned)len, 0, s->scratch, on_block_match, &x);
                if ((e != HS_SUCCESS && e != HS_SCAN_TERMINATED) || x.failed)
                    return -1;
                s->gate_runs++;
            }
        }
    }
    /* the allow patterns, when a rule that has some has a candidate: most texts match no
     * such rule, and an exception's words (a date, a time, a price) are common */
    const uint8_t *ar = rs->allow_rules;
    unsigned bit = 1u << gw_dir_index(dir);
    bool allows = false;
    for (size_t i = 0; rs->allow_db[gw_dir_index(dir)] && i < s->cands.n && !allows; i++)
        allows = (ar[s->cands.v[i].rule] & bit) && !s->cands.v[i].allow;
    if (allows) {
        e = hs_scan(rs->allow_db[gw_dir_index(dir)], t, (unsigned)len, 0, s->scratch,
                    on_block_match, &x);
        if ((e != HS_SUCCESS && e != HS_SCAN_TERMINATED) || x.failed)
            return -1;
    }
    int rc = gw_cands_decide(&s->cands, rs, len, out);
    if (s->cands.cap > GW_CANDS_KEEP) { /* an outsized text: do not keep its memory */
        free(s->cands.v);
        free(s->cands.pmax);
        s->cands.v = NULL;
        s->cands.pmax = NULL;
        s->cands.n = s->cands.cap = s->cands.pmax_cap = 0;
    }
    if (rc == -1)
        return -1;
    for (size_t i = 0; i < out->n; i++)
        if (gw_secret_redacts(rs, out->v[i].rule))
            out->v[i].end = gw_secret_end(t, out->v[i].end, len);
    if (map) /* back to the bytes the caller gave: whole characters */
        for (size_t i = 0; i < out->n; i++) {
            out->v[i].start = gw_norm_start(map, out->v[i].start);
            out->v[i].end = gw_norm_end(map, out->v[i].end);
        }
    return 0;
}

/* Adds what another view found (s->view2) to out. */
static int add_view(gw_scanner *s, struct gw_findings *out)
{
    for (size_t i = 0; i < s->view2.n; i++) {
        const struct gw_finding *f = &s->view2.v[i];
        if (gw_findings_push(out, f->rule, f->start, f->end, s->rs->table.rules[f->rule].action) ==
            -1)
            return -1;
    }
    return 0;
}

/* ---- letters for digits ----
 * "4l11 1111 1111 1111", "536-22-l234", "O7700 9OO123": a letter that looks like a digit
 * in a number (O and o for 0, l and I for 1) reads as the digit to a reader and a model,
 * and hid the number from every rule. A text with such a number is matched once more with
 * those letters read as digits: a number is groups of digits and those letters, one
 * space, dot, dash, slash or underscore apart, standing alone (no letter or digit next to
 * it), of 7 or more, 2 or more of them digits, each group with a digit in it (not ending in
 * a lower-case l or o after it: "20l" is a size in litres), or capital Os, or another of
 * the letters four times or more ("4OOO OOOO", "4lll llll"). The view has the text's length, so the
 * text's map serves it. */

static bool digit_like(unsigned char c)
{
    return (c >= '0' && c <= '9') || c == 'O' || c == 'o' || c == 'l' || c == 'I';
}

/* Writes t[0, n) with the letters in its numbers read as digits into out and sets
 * *changed, or leaves out alone when it has no such number. Returns 0 or -1. */
static int digit_view(const char *t, size_t n, struct gw_buf *out, bool *changed)
{
    *changed = false;
    const unsigned char *p = (const unsigned char *)t;
    size_t i = 0;
    while (i < n) {
        /* a number starts at a group that stands alone on its left */
        if (!digit_like(p[i]) || (i > 0 && isalnum(p[i - 1]))) {
            i++;
            continue;
        }
        size_t from = i, end = i, symbols = 0, digits = 0, letters = 0;
        for (;;) { /* one group, then a mark and another, while each is one */
            size_t g = i, gd = 0, same = 0;
            while (i < n && digit_like(p[i])) {
                gd += isdigit(p[i]) != 0;
                same += p[i] == p[g];
                i++;
            }
            /* not a word, not a group of letters unless capital Os or another letter four
             * times or more ("OO", "llll"), and no size in litres or a ratio ("20l", "1o") */
            if ((i < n && isalnum(p[i])) ||
                (gd == 0 && (same != i - g || (p[g] != 'O' && i - g < 4))) ||
                (gd > 0 && (p[i - 1] == 'l' || p[i - 1] == 'o')))
                break;
            symbols += i - g;
            digits += gd;
            letters += i - g - gd;
            end = i;
            if (i + 1 < n && p[i] && strchr(" .-/_", p[i]) && digit_like(p[i + 1]))
                i++;
            else
                break;
        }
        if (symbols >= 7 && digits >= 2 && letters > 0) {
            if (!*changed) {
                out->len = 0;
                if (gw_buf_append(out, t, n) == -1)
                    return -1;
                *changed = true;
            }
            for (size_t k = from; k < end; k++)
                if (!isdigit(p[k]) && digit_like(p[k]))
                    out->data[k] = p[k] == 'O' || p[k] == 'o' ? '0' : '1';
        }
        i = end > from ? end : from + 1;
        while (i < n && isalnum(p[i])) /* the rest of a word the number ran into */
            i++;
    }
    return 0;
}

/* Matches text (normalised first unless it is its own normal form) and decides, into out
 * with offsets into text. A text with invisible separators is matched in both views
 * (normalise.h). Leaves the first view in s->norm, s->ntext and s->nlen. Returns 0 or -1. */
static int match_text(gw_scanner *s, const char *text, size_t len, enum gw_direction dir,
                      struct gw_findings *out)
{
    /* The rules match the normalised text (see normalise.h); most text is its own. */
    s->mapped = !gw_norm_is_plain(text, len);
    s->ntext = text;
    s->nlen = len;
    if (s->mapped) {
        if (gw_norm_text(&s->norm, text, len) == -1)
            return -1;
        s->ntext = s->norm.text.data;
        s->nlen = s->norm.text.len;
    }
    if (match_view(s, s->ntext, s->nlen, s->mapped ? &s->norm : NULL, dir, out) == -1)
        return -1;
    /* a reply is also read as the customer's window renders it (normalise.h), when that
     * reads otherwise: what either view finds counts */
    if (dir == GW_DIR_REPLY && gw_norm_has_markup(text, len)) {
        s->norm3.render = true;
        if (gw_norm_text(&s->norm3, text, len) == -1)
            return -1;
        if ((s->norm3.text.len != s->nlen || memcmp(s->norm3.text.data, s->ntext, s->nlen) != 0) &&
            (match_view(s, s->norm3.text.data, s->norm3.text.len, &s->norm3, dir, &s->view2) ==
                 -1 ||
             add_view(s, out) == -1))
            return -1;
    }
    /* numbers with letters for digits in them: one more view, of the text's length */
    bool digits;
    if (digit_view(s->ntext, s->nlen, &s->digits, &digits) == -1)
        return -1;
    if (digits && (match_view(s, s->digits.data, s->nlen, s->mapped ? &s->norm : NULL, dir,
                              &s->view2) == -1 ||
                   add_view(s, out) == -1))
        return -1;
    if (!s->mapped || s->norm.seps == 0)
        return 0;
    /* the second view: each invisible separator a space; the same finding twice counts
     * once (gw_scan drops duplicates after sorting) */
    s->norm2.sep_space = true;
    if (gw_norm_text(&s->norm2, text, len) == -1 ||
        match_view(s, s->norm2.text.data, s->norm2.text.len, &s->norm2, dir, &s->view2) == -1)
        return -1;
    return add_view(s, out);
}

/* ---- encoded payloads ----
 * An instruction or a card number sent as base64, hex or %-escapes reads as noise to the
 * rules and as plain text to the model, which decodes it gladly. So the encoded runs of
 * the normalised text (decode.h) are decoded (a prompt's what they decode to as well, to
 * GW_DECODE_LEVELS levels) and screened as one more text; a finding there covers its
 * whole encoded run in the original (a nested run's outermost), so redaction replaces the
 * run. Decoding is bounded (GW_DECODE_MAX bytes a text): a text with more encoded
 * text than that is not screened in full, and the scan fails (fail_mode). */

#define GW_DECODE_MAX (256u << 10)
#define GW_KEEP_BYTES (1u << 20)

/* Whether an entity by name of three to seven letters ("&ocirc;", "&omicron;", "&mu;")
 * starts at text[i] ("&"). */
static bool accent_entity_after(const char *text, size_t len, size_t i)
{
    size_t k = i + 1;
    while (k < len && k - i <= 7 && isalpha((unsigned char)text[k]))
        k++;
    return k - i >= 3 && k < len && text[k] == ';';
}

/* Whether "chr", "char" or "chrw" (any case; "unichr" and "nchar" too) ends right before
 * text[i]. */
static bool chr_call_before(const char *text, size_t i)
{
    return (i >= 3 && strncasecmp(text + i - 3, "chr", 3) == 0) ||
           (i >= 4 && strncasecmp(text + i - 4, "char", 4) == 0) ||
           (i >= 4 && strncasecmp(text + i - 4, "chrw", 4) == 0);
}

/* Whether text may hold an encoded run at all: 16 base64 or hex characters in a row, a
 * "%XX", "%u", "\\x", "\\u", "\\U", "\\N{", "\\" and a hex digit (octal, CSS), "U+" and a hex
 * digit, "&#" (an HTML entity) or an entity by name, "chr(" or "[char]" and a digit, four hex
 * pairs apart (spaces or commas; bare or after "0x"), three spaced eight-digit binary groups or
 * seven numbers of two or three digits. Most chat text has none, and this costs a fraction of the
 * decoder's full pass (its rules are in decode.h; this only has to never say no where it may). */
static bool maybe_encoded(const char *text, size_t len)
{
    static unsigned char b64[256];
    if (!b64['A']) { /* built once; the same bytes every time, so a race is harmless */
        for (int c = 0; c < 256; c++)
            b64[c] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '+' || c == '/' || c == '-' || c == '_' || c == '=';
    }
    const unsigned char *p = (const unsigned char *)text;
    /* "hh " and "bbbbbbbb " groups in a row; numbers of two or three digits, spaces or
     * commas apart (character codes in decimal, which prompts are read for) */
    size_t run = 0, pairs = 0, octets = 0, codes = 0;
    for (size_t i = 0; i < len; i++) {
        if (b64[p[i]]) {
            if (++run >= 16 || (p[i] == '+' && i > 0 && (p[i - 1] | 0x20) == 'u' && i + 1 < len &&
                                isxdigit(p[i + 1])))
                return true; /* or "U+0069" */
            continue;
        }
        if ((p[i] == ' ' || p[i] == ',') && (run == 2 || run == 3) && isdigit(p[i - 1]) &&
            isdigit(p[i - 2]) && (run == 2 || isdigit(p[i - 3]))) {
            if (++codes >= 7)
                return true;
        } else if (p[i] != ' ' && p[i] != ',') {
            codes = 0;
        }
        if ((p[i] == ' ' || p[i] == ',') &&
            ((run == 2 && isxdigit(p[i - 1]) && isxdigit(p[i - 2])) ||
             (run == 4 && p[i - 4] == '0' && (p[i - 3] | 0x20) == 'x' && isxdigit(p[i - 1]) &&
              isxdigit(p[i - 2])))) {
            if (++pairs >= 4)
                return true;
        } else if (p[i] == ' ' && run == 8 && gw_is_octet(text + i - 8)) {
            if (++octets >= 3)
                return true;
        } else if (p[i] != ' ' && p[i] != ',') {
            pairs = octets = 0;
        }
        run = 0;
        if (i + 2 < len &&
            ((p[i] == '%' &&
              ((isxdigit(p[i + 1]) && isxdigit(p[i + 2])) || (p[i + 1] | 0x20) == 'u')) ||
             (p[i] == '\\' && ((p[i + 1] | 0x20) == 'x' || (p[i + 1] | 0x20) == 'u' ||
                               isxdigit(p[i + 1]) || (p[i + 1] == 'N' && p[i + 2] == '{'))) ||
             (p[i] == '&' && (p[i + 1] == '#' || accent_entity_after(text, len, i))) ||
             (p[i] == '(' && (isdigit(p[i + 1]) || p[i + 1] == ' ') && chr_call_before(text, i)) ||
             (p[i] == ']' && isdigit(p[i + 1]) && i >= 5 &&
              strncasecmp(text + i - 5, "[char", 5) == 0)))
            return true;
    }
    return false;
}

static int screen_encoded(gw_scanner *s, enum gw_direction dir, struct gw_findings *out)
{
    struct gw_decoded *d = &s->dec;
    /* prompts are read for the ways of writing too (decode.h), replies for encodings */
    bool written = dir == GW_DIR_PROMPT;
    unsigned long long deadline = s->cands.deadline_ns;
    if (!maybe_encoded(s->ntext, s->nlen) &&
        !(written && gw_decode_written_by(s->ntext, s->nlen, deadline)) &&
        !(written && gw_decode_b64_hint(s->ntext, s->nlen)))
        return 0;
    d->deadline_ns = deadline; /* the decoders' walks spend the scan's budget too */
    if ((written ? gw_decode_find_written : gw_decode_find)(s->ntext, s->nlen, GW_DECODE_MAX, d) ==
        -1) {
        s->cands.over |= d->late;
        return -1;
    }
    if (d->skipped) {
        s->cands.over = true;
        return -1;
    }
    if (d->n == 0)
        return 0;
    if (s->mapped) /* the runs' spans, in the caller's bytes, before the norm is reused */
        for (size_t i = 0; i < d->n; i++) {
            d->v[i].start = gw_norm_start(&s->norm, d->v[i].start);
            d->v[i].end = gw_norm_end(&s->norm, d->v[i].end);
        }
    if (match_text(s, d->text.data, d->text.len, dir, &s->inner) == -1)
        return -1;
    s->decoded = true; /* s->ntext is now the decoded runs, normalised */
    for (size_t i = 0; i < s->inner.n; i++) {
        const struct gw_finding *f = &s->inner.v[i];
        const struct gw_decoded_run *a = gw_decoded_run_at(d, f->start);
        const struct gw_decoded_run *b = gw_decoded_run_at(d, f->end - 1);
        if (!a)
            a = b;
        if (!b)
            b = a;
        if (!a)
            continue; /* only the separator: nothing of a run */
        /* each run the match touches, not the text between them (which the rules saw as it
         * is, and found nothing in). A way of writing (backwards, ROT13, leetspeak, letters
         * apart) is read for what it asks, not for what to redact: its run is a whole stretch
         * or sentence, and a phone number in a sentence with one leet word would redact the
         * sentence; the plain text was screened for it anyway. */
        enum gw_action act = s->rs->table.rules[f->rule].action;
        for (const struct gw_decoded_run *r = a; r <= b; r++)
            if (!(r->enc > GW_ENC_UESC && act == GW_ACTION_REDACT) &&
                gw_findings_push(out, f->rule, r->start, r->end, act) == -1)
                return -1;
    }
    return 0;
}

int gw_scan_encoded(gw_scanner *s, const char *text, size_t len, enum gw_direction dir,
                    struct gw_findings *out)
{
    out->n = 0;
    out->verdict = GW_ACTION_ALLOW;
    s->cands.over = false;
    s->mapped = false;
    s->ntext = text;
    s->nlen = len;
    if (screen_encoded(s, dir, out) == -1)
        return -1;
    gw_findings_sort(out);
    return 0;
}

void gw_scanner_keep_features(gw_scanner *s, unsigned bits)
{
    s->feat_bits = bits;
}

const struct gw_feats *gw_scanner_features(const gw_scanner *s)
{
    return s->feats_valid ? &s->feats : NULL;
}

/* ---- the learned stage ----
 * After the rules: the features of the normalised view (s->ntext, before the encoded runs
 * reuse it) and of the rules found so far, each rule once, then every head's score. Then,
 * when the text had encoded runs, the decoded runs are scored too (with the rules found in
 * them as well), and each head keeps the higher score: what the model would read decoded
 * is judged as it would be read plain. */

/* The ids of the rules of out's findings, each once, into s->ids; returns how many, or
 * (size_t)-1 (out of memory). */
static size_t finding_ids(gw_scanner *s, const struct gw_findings *out)
{
    const struct gw_ruleset *rs = s->rs;
    size_t n_rules = rs->table.n_rules;
    if (!s->seen && (!(s->seen = calloc(n_rules + 1, 1)) ||
                     !(s->ids = calloc(n_rules + 1, sizeof *s->ids))))
        return (size_t)-1;
    size_t n_ids = 0;
    for (size_t i = 0; i < out->n; i++) {
        unsigned r = out->v[i].rule;
        if (!s->seen[r]) {
            s->seen[r] = 1;
            s->ids[n_ids++] = rs->table.rules[r].id;
        }
    }
    for (size_t i = 0; i < out->n; i++)
        s->seen[out->v[i].rule] = 0;
    return n_ids;
}

/* Scores s->ntext into f, whole[] and best[] (gw_model_scores: windows for prompts; a
 * reply's best is its whole); returns 1 when the direction has model rules (scores set), 0
 * when not, -1 on error. The text's own features (f == &s->feats) are what
 * gw_scanner_features gives training. */
static int model_score(gw_scanner *s, enum gw_direction dir, const struct gw_findings *out,
                       struct gw_feats *f, float *whole, float *best)
{
    const struct gw_ruleset *rs = s->rs;
    const struct gw_model *m = rs->table.model;
    int d = gw_dir_index(dir);
    unsigned bits = s->feat_bits ? s->feat_bits : m && rs->n_model_rules[d] ? m->bits : 0;
    if (!bits)
        return 0;
    size_t n_ids = finding_ids(s, out);
    if (n_ids == (size_t)-1 || gw_model_features(bits, s->ntext, s->nlen, s->ids, n_ids, f))
        return -1;
    if (f == &s->feats)
        s->feats_valid = true;
    if (!m || !rs->n_model_rules[d] || m->bits != bits)
        return 0;
    gw_model_scores(m, f, whole, dir == GW_DIR_PROMPT ? best : NULL);
    if (dir != GW_DIR_PROMPT)
        memcpy(best, whole, m->n_heads * sizeof *best);
    return 1;
}

/* The model rules that fire, a finding over the whole text each (one a head): a block rule
 * on best[], a flag rule on whole[]. */
static int model_findings(gw_scanner *s, enum gw_direction dir, size_t len, const float *whole,
                          const float *best, struct gw_findings *out)
{
    const struct gw_ruleset *rs = s->rs;
    int d = gw_dir_index(dir);
    unsigned done = 0; /* heads already reported */
    for (unsigned i = 0; i < rs->n_model_rules[d]; i++) {
        unsigned ri = rs->model_rules[d][i];
        const struct gw_rule *r = &rs->table.rules[ri];
        unsigned bit = 1u << r->head_index;
        float score = (r->action == GW_ACTION_BLOCK ? best : whole)[r->head_index];
        if ((done & bit) || score < r->above ||
            gw_rule_effect(rs, s->pol, ri).action == GW_ACTION_ALLOW)
            continue; /* done, below its threshold, or off under the scan's policy */
        done |= bit;
        if (gw_findings_push(out, ri, 0, len, r->action) == -1)
            return -1;
        out->v[out->n - 1].score = score;
    }
    return 0;
}

/* The rules, the model on the text, the encoded runs, the model on them, in this order
 * (the runs' matching reuses the normalised view). */
static int screen_all(gw_scanner *s, const char *text, size_t len, enum gw_direction dir,
                      struct gw_findings *out)
{
    float whole[GW_MODEL_HEADS_MAX], best[GW_MODEL_HEADS_MAX];
    float dwhole[GW_MODEL_HEADS_MAX], dbest[GW_MODEL_HEADS_MAX];
    int scored;
    s->decoded = false;
    if (match_text(s, text, len, dir, out) == -1 ||
        (scored = model_score(s, dir, out, &s->feats, whole, best)) == -1)
        return -1;
    if (screen_encoded(s, dir, out) == -1)
        return -1;
    if (scored != 1)
        return 0;
    if (s->decoded) {
        int rc = model_score(s, dir, out, &s->dfeats, dwhole, dbest);
        if (rc == -1)
            return -1;
        for (unsigned h = 0; rc == 1 && h < s->rs->table.model->n_heads; h++) {
            whole[h] = dwhole[h] > whole[h] ? dwhole[h] : whole[h];
            best[h] = dbest[h] > best[h] ? dbest[h] : best[h];
        }
    }
    return model_findings(s, dir, len, whole, best, out);
}

int gw_scan(gw_scanner *s, const char *text, size_t len, enum gw_direction dir,
            struct gw_findings *out)
{
    out->n = 0;
    out->verdict = GW_ACTION_ALLOW;
    s->cands.n = 0;
    s->cands.over = false;
    s->cands.pol = s->pol;
    s->cands.dropped = false;
    s->feats_valid = false;
    if (len == 0)
        return 0;
    if (len > 0xffffffffu)
        return -1; /* Hyperscan takes an unsigned int length */
    const struct gw_memo *memo = &s->rs->memo;
    uint64_t h1 = 0, h2 = 0;
    _Atomic uint64_t *slot = NULL;
    if (memo->slot && dir == GW_DIR_PROMPT && len >= GW_MEMO_MIN_LEN && !s->feat_bits) {
        uint64_t h[2];
        gw_siphash128(memo->key, text, len, h); /* one pass for both halves */
        h1 = h[0];
        h2 = h[1] | 1; /* never 0, the empty slot's */
        slot = memo->slot[h1 & memo->mask];
        if (atomic_load_explicit(&slot[0], memory_order_relaxed) == h1 &&
            atomic_load_explicit(&slot[1], memory_order_relaxed) == h2) {
            s->memo_hits++;
            return 0;
        }
    }
    int rc = screen_all(s, text, len, dir, out);
    /* An outsized text does not keep its memory in the scanner (one per worker). */
    if (s->norm.text.cap > GW_KEEP_BYTES || s->norm.cap > GW_KEEP_BYTES / sizeof *s->norm.seg)
        gw_norm_free(&s->norm);
    if (s->norm2.text.cap > GW_KEEP_BYTES || s->norm2.cap > GW_KEEP_BYTES / sizeof *s->norm2.seg)
        gw_norm_free(&s->norm2);
    if (s->norm3.text.cap > GW_KEEP_BYTES || s->norm3.cap > GW_KEEP_BYTES / sizeof *s->norm3.seg)
        gw_norm_free(&s->norm3);
    if (s->digits.cap > GW_KEEP_BYTES)
        gw_buf_free(&s->digits);
    if (s->dec.text.cap > GW_KEEP_BYTES)
        gw_decoded_free(&s->dec);
    if (s->inner.cap > GW_CANDS_KEEP)
        gw_findings_free(&s->inner);
    if (s->view2.cap > GW_CANDS_KEEP)
        gw_findings_free(&s->view2);
    if (rc == -1)
        return -1;
    gw_findings_sort(out);
    gw_findings_unique(out);
    if (slot && out->n == 0 && !s->cands.dropped) { /* clean under any policy: nothing
                                                          matched at all */
        atomic_store_explicit(&slot[0], h1, memory_order_relaxed);
        atomic_store_explicit(&slot[1], h2, memory_order_relaxed);
    }
    gw_findings_apply(s->rs, s->pol, out);
    return 0;
}

bool gw_scanner_over_budget(const gw_scanner *s)
{
    return s->cands.over;
}

unsigned long long gw_scanner_steps(const gw_scanner *s)
{
    return s->cands.steps;
}

unsigned long long gw_scanner_gated_runs(const gw_scanner *s)
{
    return s->gate_runs;
}

/* ---- redaction ---- */

int gw_redact_range(const struct gw_ruleset *rs, const char *text, size_t base, size_t from,
                    size_t to, const struct gw_findings *f, struct gw_buf *out)
{
    size_t pos = from;
    size_t i = 0;
    while (i < f->n) {
        const struct gw_finding *g = &f->v[i];
        const struct gw_rule *r = &rs->table.rules[g->rule];
        if (g->action != GW_ACTION_REDACT || g->shadow || g->start < from || g->end > to ||
            g->start < pos) {
            i++;
            continue;
        }
        size_t gs = g->start, ge = g->end;
        /* a rule a policy turned into a redact rule may have no replacement of its own */
        const char *repl = r->replacement ? r->replacement : "[REDACTED]";
        /* Merge every later redaction that overlaps the group so far. */
        for (i++; i < f->n && f->v[i].start < ge; i++) {
            const struct gw_finding *h = &f->v[i];
            if (h->action == GW_ACTION_REDACT && !h->shadow && h->end <= to && h->end > ge)
                ge = h->end;
        }
        /* Whole characters: a match found within GW_SPAN_MAX bytes may start or end inside a
         * UTF-8 sequence, and half of one would make the text invalid. */
        while (gs > pos && ((unsigned char)text[gs - base] & 0xC0) == 0x80)
            gs--;
        while (ge < to && ((unsigned char)text[ge - base] & 0xC0) == 0x80)
            ge++;
        if (gw_buf_append(out, text + (pos - base), gs - pos) == -1 || gw_buf_puts(out, repl) == -1)
            return -1;
        pos = ge;
    }
    return gw_buf_append(out, text + (pos - base), to - pos);
}

int gw_redact(const struct gw_ruleset *rs, const char *text, size_t len,
              const struct gw_findings *f, struct gw_buf *out)
{
    return gw_redact_range(rs, text, 0, 0, len, f, out);
}
