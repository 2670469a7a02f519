#include "screen/normalise.h"

#include <stdlib.h>
#include <string.h>

/* The table (generated at build time by gen_normtab.c: see its header). */
extern const uint16_t gw_normtab_stage1[0x110000 >> 8];
extern const uint32_t gw_normtab_stage2[][256];
extern const unsigned char gw_normtab_pool[];

#define NT_DROP 0xffu
#define NT_SEP 0xfeu
#define NT_APART 0x80u

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Eight bytes at a time (most text is plain, and every prompt is asked): a word's
 * bytes outside 0x20..0x7e, or two spaces in a row in it or across its first byte, send
 * it to the byte loop, which has the last word. The masks are exact per byte (no borrow
 * runs from one byte into the next), so "no" here is never wrong. */
#define ONES 0x0101010101010101ull
#define HIGH 0x8080808080808080ull

static uint64_t bytes_below(uint64_t x, unsigned n) /* 0x80 in each byte < n (n <= 0x80) */
{
    return ~(((x & ~HIGH) + ONES * (0x80 - n)) | x) & HIGH;
}

bool gw_norm_is_plain(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    unsigned prev = 0;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        uint64_t bad = bytes_below(x, 0x20) | (~bytes_below(x, 0x7f) & HIGH);
        uint64_t sp = bytes_below(x ^ (ONES * ' '), 1); /* the spaces */
        if (bad || (sp & (sp << 8)) || (prev == ' ' && p[i] == ' '))
            break;
        prev = p[i + 7];
    }
    for (; i < len; i++) {
        unsigned c = p[i];
        /* one test for "not printable ASCII", one for a second space */
        if ((unsigned)(c - 0x20) > 0x5e || (c == ' ' && prev == ' '))
            return false;
        prev = c;
    }
    return true;
}

void gw_norm_reset(struct gw_norm *nm)
{
    nm->text.len = 0;
    nm->base = 0;
    nm->nseg = nm->first = 0;
    nm->in = 0;
    nm->npend = 0;
    nm->space = false;
    nm->seps = 0;
}

void gw_norm_free(struct gw_norm *nm)
{
    gw_buf_free(&nm->text);
    free(nm->seg);
    memset(nm, 0, sizeof *nm);
}

/* Appends a segment, or grows the last one when both are copied runs that continue. */
static int push_seg(struct gw_norm *nm, size_t o, uint32_t olen, uint32_t nlen, bool copied)
{
    size_t n = gw_norm_total(nm) - nlen; /* the bytes are already in text */
    if (nm->nseg > nm->first) {
        struct gw_nseg *last = &nm->seg[nm->nseg - 1];
        if (copied && last->copied && last->n + last->nlen == n && last->o + last->olen == o &&
            last->nlen < UINT32_MAX - olen) {
            last->nlen += nlen;
            last->olen += olen;
            return 0;
        }
    }
    if (nm->first > 0 && nm->nseg == nm->cap) { /* slide the live segments down */
        memmove(nm->seg, nm->seg + nm->first, (nm->nseg - nm->first) * sizeof *nm->seg);
        nm->nseg -= nm->first;
        nm->first = 0;
    }
    if (gw_grow(&nm->seg, &nm->cap, nm->nseg, sizeof *nm->seg, 16) == -1)
        return -1;
    nm->seg[nm->nseg++] = (struct gw_nseg){.n = n, .o = o, .nlen = nlen, .olen = olen,
                                           .copied = copied};
    return 0;
}

/* One whitespace character at original offset o, olen bytes long: a space, unless the
 * run already has one (then it joins the gap between segments). */
static int put_space(struct gw_norm *nm, size_t o, uint32_t olen, bool copied)
{
    if (nm->space)
        return 0;
    nm->space = true;
    if (gw_buf_append(&nm->text, " ", 1) == -1)
        return -1;
    return push_seg(nm, o, olen, 1, copied);
}

/* Decodes one UTF-8 sequence at p (n bytes available): its length and *cp, 0 when it is
 * cut short by the end of the piece, or -1 when the bytes are not UTF-8 (overlong forms,
 * surrogates and values past U+10FFFF included). */
static int utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned c = p[0];
    int len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return -1;
    }
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return 0;
        if ((p[i] & 0xC0) != 0x80)
            return -1;
        v = v << 6 | (p[i] & 0x3F);
        /* reject as early as the second byte allows, so a bad prefix is not held */
        if (i == 1 && ((len == 3 && v < (min >> 6)) || (len == 4 && v < (min >> 12)) ||
                       (len == 3 && v >= 0x360 && v <= 0x37F) || (len == 4 && v > 0x10F)))
            return -1;
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return -1;
    *cp = v;
    return len;
}

/* One character at original offset o: cp, its UTF-8 bytes at p (len of them). */
static int put_char(struct gw_norm *nm, size_t o, const unsigned char *p, int len, uint32_t cp)
{
    uint32_t e = gw_normtab_stage2[gw_normtab_stage1[cp >> 8]][cp & 0xFF];
    if (e == 0) {
        nm->space = false;
        if (gw_buf_append(&nm->text, p, (size_t)len) == -1)
            return -1;
        return push_seg(nm, o, (uint32_t)len, (uint32_t)len, true);
    }
    if (e == NT_DROP)
        return 0;
    if (e == NT_SEP) {
        nm->seps++;
        return nm->sep_space ? put_space(nm, o, (uint32_t)len, false) : 0;
    }
    const unsigned char *s = gw_normtab_pool + (e >> 8);
    size_t n = e & 0x7F;
    if (n == 1 && s[0] == ' ')
        return put_space(nm, o, (uint32_t)len, false);
    size_t before = nm->text.len;
    if (e & NT_APART) { /* glued in the first view, apart in the second: a space first */
        nm->seps++;
        if (nm->sep_space && !nm->space) {
            nm->space = true;
            if (gw_buf_append(&nm->text, " ", 1) == -1)
                return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            if (nm->space)
                continue;
            nm->space = true;
        } else {
            nm->space = false;
        }
        if (gw_buf_append(&nm->text, &s[i], 1) == -1)
            return -1;
    }
    size_t added = nm->text.len - before;
    return added ? push_seg(nm, o, (uint32_t)len, (uint32_t)added, false) : 0;
}

static int put_invalid(struct gw_norm *nm, size_t o, uint32_t olen)
{
    nm->space = false;
    if (gw_buf_append(&nm->text, REPLACEMENT, 3) == -1)
        return -1;
    return push_seg(nm, o, olen, 3, false);
}

/* Normalises bytes [0, len) of p, which start at original offset o. Stops before a
 * sequence cut short at the end and returns how many bytes it took, or -1. */
static long run(struct gw_norm *nm, const unsigned char *p, size_t len, size_t o)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        if (c < 0x80) {
            /* A run of printable ASCII with single spaces is copied as one piece (a space
             * that continues a whitespace run is not part of it). */
            size_t j = i;
            for (; j < len; j++) {
                unsigned b = p[j];
                if ((unsigned)(b - 0x21) < 0x5e)
                    continue;
                if (b == ' ' && (j > i || !nm->space) && j + 1 < len &&
                    (unsigned)(p[j + 1] - 0x21) < 0x5e)
                    continue; /* a single space before a printable byte */
                break;
            }
            if (j > i) {
                nm->space = p[j - 1] == ' ';
                if (gw_buf_append(&nm->text, p + i, j - i) == -1 ||
                    push_seg(nm, o + i, (uint32_t)(j - i), (uint32_t)(j - i), true) == -1)
                    return -1;
                i = j;
                continue;
            }
            /* whitespace, and any other control: a break between words */
            if (put_space(nm, o + i, 1, c == ' ') == -1)
                return -1;
            i++;
            continue;
        }
        uint32_t cp;
        int n = utf8_decode(p + i, len - i, &cp);
        if (n == 0)
            return (long)i; /* cut short: the caller keeps the rest */
        if (n < 0) {
            if (put_invalid(nm, o + i, 1) == -1)
                return -1;
            i++;
            continue;
        }
        if (put_char(nm, o + i, p + i, n, cp) == -1)
            return -1;
        i += (size_t)n;
    }
    return (long)i;
}

int gw_norm_text(struct gw_norm *nm, const char *text, size_t len)
{
    gw_norm_reset(nm);
    if (gw_buf_reserve(&nm->text, len + len / 8 + 16) == -1)
        return -1;
    long took = run(nm, (const unsigned char *)text, len, 0);
    if (took < 0)
        return -1;
    nm->in = len;
    /* a sequence cut short by the end of the text is not UTF-8 */
    for (size_t i = (size_t)took; i < len; i++)
        if (put_invalid(nm, i, 1) == -1)
            return -1;
    return 0;
}

int gw_norm_feed(struct gw_norm *nm, const char *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    /* Complete a sequence the last piece cut short, byte by byte. */
    while (nm->npend > 0 && len > 0) {
        nm->pend[nm->npend++] = *p++;
        len--;
        nm->in++;
        size_t o = nm->in - nm->npend;
        uint32_t cp;
        int n = utf8_decode(nm->pend, nm->npend, &cp);
        if (n == 0 && nm->npend < 4)
            continue;
        if (n > 0) {
            if (put_char(nm, o, nm->pend, n, cp) == -1)
                return -1;
            nm->npend = 0;
            break;
        }
        /* not UTF-8: its first byte is replaced, the rest is read again */
        unsigned char rest[4];
        unsigned nrest = nm->npend - 1;
        memcpy(rest, nm->pend + 1, nrest);
        nm->npend = 0;
        if (put_invalid(nm, o, 1) == -1)
            return -1;
        nm->in -= nrest;
        if (gw_norm_feed(nm, (const char *)rest, nrest) == -1)
            return -1;
    }
    if (len == 0)
        return 0;
    size_t o = nm->in;
    long took = run(nm, p, len, o);
    if (took < 0)
        return -1;
    nm->in += len;
    nm->npend = (unsigned)(len - (size_t)took);
    memcpy(nm->pend, p + took, nm->npend);
    return 0;
}

int gw_norm_finish(struct gw_norm *nm)
{
    size_t o = nm->in - nm->npend;
    for (unsigned i = 0; i < nm->npend; i++)
        if (put_invalid(nm, o + i, 1) == -1)
            return -1;
    nm->npend = 0;
    return 0;
}

void gw_norm_forget(struct gw_norm *nm, size_t n)
{
    if (n <= nm->base)
        return;
    if (n > gw_norm_total(nm))
        n = gw_norm_total(nm);
    gw_buf_consume(&nm->text, n - nm->base);
    nm->base = n;
    while (nm->first < nm->nseg && nm->seg[nm->first].n + nm->seg[nm->first].nlen <= n)
        nm->first++;
    if (nm->first == nm->nseg)
        nm->first = nm->nseg = 0;
}

/* The live segment that holds normalised byte n, or NULL (n not held, or past the end). */
static const struct gw_nseg *seg_at(const struct gw_norm *nm, size_t n)
{
    size_t lo = nm->first, hi = nm->nseg;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct gw_nseg *s = &nm->seg[mid];
        if (n < s->n)
            hi = mid;
        else if (n >= s->n + s->nlen)
            lo = mid + 1;
        else
            return s;
    }
    return NULL;
}

size_t gw_norm_start(const struct gw_norm *nm, size_t n)
{
    const struct gw_nseg *s = seg_at(nm, n);
    if (!s)
        return nm->in - nm->npend; /* at (or past) the end */
    return s->copied ? s->o + (n - s->n) : s->o;
}

bool gw_norm_verbatim(const struct gw_norm *nm, size_t n0, size_t n1)
{
    while (n0 < n1) {
        const struct gw_nseg *s = seg_at(nm, n0);
        if (!s || !s->copied)
            return false;
        n0 = s->n + s->nlen;
    }
    return true;
}

size_t gw_norm_end(const struct gw_norm *nm, size_t n)
{
    if (n == 0)
        return 0;
    const struct gw_nseg *s = seg_at(nm, n - 1);
    if (!s)
        return nm->in - nm->npend;
    if (s->copied && n < s->n + s->nlen)
        return s->o + (n - s->n);
    /* The end of a character: what was removed right after it (a combining mark that sat
     * on it, a zero-width character) goes with it, up to where the next byte comes from. */
    if (s + 1 < nm->seg + nm->nseg)
        return s[1].o;
    return nm->in - nm->npend;
}

char *gw_norm_string(const char *s)
{
    struct gw_norm nm = {0};
    size_t len = strlen(s);
    if (gw_norm_text(&nm, s, len) == -1 || gw_buf_append(&nm.text, "", 1) == -1) {
        gw_norm_free(&nm);
        return NULL;
    }
    char *out = nm.text.data; /* ownership moves to the caller */
    free(nm.seg);
    return out;
}
