#include "screen/decode.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MIN_BASE64 16     /* base64 characters in a run, padding not counted */
#define MIN_HEX 16        /* hex digits in a run */
#define MIN_URL_ESCAPES 3 /* %XX escapes in a URL-encoded stretch */
#define MIN_TEXT 6        /* decoded bytes worth keeping */

/* The value of a character in either base64 alphabet (standard "+/", URL-safe "-_"), or -1
 * for any other byte, "=" included. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Is the decoded output text? Fed one byte at a time, so a run can be judged before any
 * memory is set aside for it. UTF-8 is checked strictly (no overlong forms, surrogates or
 * code points past U+10FFFF); a complete non-ASCII character counts as printable unless
 * it is a C1 control. */
struct text_check {
    size_t total, printable;
    unsigned need, seq;   /* continuation bytes still expected; bytes of this character */
    unsigned char lo, hi; /* the range the next continuation byte must be in */
    bool c1, bad;
};

static void text_check_byte(struct text_check *t, unsigned char b)
{
    t->total++;
    if (t->bad)
        return;
    if (t->need) {
        if (b < t->lo || b > t->hi) {
            t->bad = true;
            return;
        }
        t->c1 = t->c1 && b < 0xA0;
        t->lo = 0x80;
        t->hi = 0xBF;
        t->seq++;
        if (--t->need == 0 && !t->c1)
            t->printable += t->seq;
        return;
    }
    t->seq = 1;
    t->lo = 0x80;
    t->hi = 0xBF;
    t->c1 = false;
    if (b < 0x80) {
        if ((b >= 0x20 && b < 0x7F) || b == '\t' || b == '\n' || b == '\r')
            t->printable++;
    } else if (b >= 0xC2 && b <= 0xDF) {
        t->need = 1;
        t->c1 = b == 0xC2; /* U+0080..U+009F */
    } else if (b >= 0xE0 && b <= 0xEF) {
        t->need = 2;
        if (b == 0xE0)
            t->lo = 0xA0; /* overlong */
        if (b == 0xED)
            t->hi = 0x9F; /* surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        t->need = 3;
        if (b == 0xF0)
            t->lo = 0x90; /* overlong */
        if (b == 0xF4)
            t->hi = 0x8F; /* past U+10FFFF */
    } else {
        t->bad = true;
    }
}

static bool text_check_ok(const struct text_check *t)
{
    return !t->bad && t->need == 0 && t->total >= MIN_TEXT && t->printable * 10 >= t->total * 9;
}

/* Where decoded bytes go: always to the check and the count, and to out when it is set. */
struct sink {
    struct text_check check;
    unsigned char *out;
    size_t n;
};

static void emit(struct sink *k, unsigned char b)
{
    if (k->out)
        k->out[k->n] = b;
    k->n++;
    text_check_byte(&k->check, b);
}

/* Skips "=" and anything else outside the alphabets. Trailing bits short of a byte are
 * dropped, which also decodes a run of length 1 mod 4 without its last character. */
static void decode_base64(const char *s, size_t len, struct sink *k)
{
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0)
            continue;
        acc = (acc << 6 | (uint32_t)v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            emit(k, (unsigned char)(acc >> bits));
        }
    }
}

/* Pairs up the hex digits and skips everything else (spaces, "\x"); the caller leaves a
 * "0x" prefix out, as its 0 is a digit. */
static void decode_hex(const char *s, size_t len, struct sink *k)
{
    int high = -1;
    for (size_t i = 0; i < len; i++) {
        int v = hex_value((unsigned char)s[i]);
        if (v < 0)
            continue;
        if (high < 0) {
            high = v;
        } else {
            emit(k, (unsigned char)(high << 4 | v));
            high = -1;
        }
    }
}

static bool is_url_escape(const char *s, size_t len, size_t i)
{
    return s[i] == '%' && i + 2 < len && hex_value((unsigned char)s[i + 1]) >= 0 &&
           hex_value((unsigned char)s[i + 2]) >= 0;
}

static void decode_url(const char *s, size_t len, struct sink *k)
{
    for (size_t i = 0; i < len; i++) {
        if (is_url_escape(s, len, i)) {
            emit(k, (unsigned char)(hex_value((unsigned char)s[i + 1]) << 4 |
                                    hex_value((unsigned char)s[i + 2])));
            i += 2;
        } else {
            emit(k, s[i] == '+' ? ' ' : (unsigned char)s[i]);
        }
    }
}

/* Decodes the run [start, end) of text. Everything a run's decoding needs is in its span
 * and its encoding, so the two passes below agree byte for byte. */
static void decode_span(const char *text, size_t start, size_t end, enum gw_encoding enc,
                        struct sink *k)
{
    switch (enc) {
    case GW_ENC_BASE64:
        decode_base64(text + start, end - start, k);
        break;
    case GW_ENC_HEX:
        if (end - start > 2 && text[start] == '0' && (text[start + 1] | 0x20) == 'x')
            start += 2;
        decode_hex(text + start, end - start, k);
        break;
    case GW_ENC_URL:
        decode_url(text + start, end - start, k);
        break;
    }
}

/* The first pass: finds the runs, judges each, and lays out the output without writing it. */
struct finder {
    const char *text;
    size_t len;
    size_t max_out;
    size_t used; /* decoded bytes laid out so far (newlines not counted) */
    size_t pos;  /* where the next run's output starts */
    struct gw_decoded *out;
};

/* Returns 1 when [start, end) decodes to text (kept, or counted in skipped when it does not
 * fit), 0 when it does not, -1 when out of memory. */
static int try_run(struct finder *f, size_t start, size_t end, enum gw_encoding enc)
{
    struct sink k = {0};
    decode_span(f->text, start, end, enc, &k);
    if (!text_check_ok(&k.check))
        return 0;
    if (k.n > f->max_out - f->used) {
        f->out->skipped++;
        return 1;
    }
    struct gw_decoded *d = f->out;
    if (gw_grow(&d->v, &d->cap, d->n, sizeof *d->v, 8) == -1)
        return -1;
    d->v[d->n++] = (struct gw_decoded_run){
        .start = start, .end = end, .out_start = f->pos, .out_end = f->pos + k.n, .enc = enc};
    f->used += k.n;
    f->pos += k.n + 1;
    return 1;
}

static bool is_split_char(char c)
{
    return c == '+' || c == '/' || c == '-' || c == '_';
}

/* A maximal run of base64 characters [s, e), followed by its padding up to pe: hex when it
 * is all hex digits (and not all decimal ones), else base64, else (split) piece by piece.
 * Returns as try_run. */
static int alphabet_run(struct finder *f, size_t s, size_t e, size_t pe, bool split)
{
    const char *t = f->text;
    size_t hs = s;
    if (e - s > 2 && t[s] == '0' && (t[s + 1] | 0x20) == 'x')
        hs = s + 2;
    bool all_hex = true, letter = false;
    for (size_t i = hs; i < e && all_hex; i++) {
        all_hex = hex_value((unsigned char)t[i]) >= 0;
        letter = letter || (t[i] | 0x20) >= 'a';
    }
    int r;
    if (all_hex && letter && e - hs >= MIN_HEX && (e - hs) % 2 == 0 &&
        (r = try_run(f, s, e, GW_ENC_HEX)) != 0)
        return r;
    if (e - s >= MIN_BASE64 && (r = try_run(f, s, pe, GW_ENC_BASE64)) != 0)
        return r;
    if (!split)
        return 0;
    size_t p = s;
    for (size_t i = s; i <= e; i++) {
        if (i < e && !is_split_char(t[i]))
            continue;
        if (i - p >= MIN_BASE64 && i - p < e - s &&
            alphabet_run(f, p, i, i == e ? pe : i, false) == -1)
            return -1;
        p = i + 1;
    }
    return 0;
}

/* Hex as pairs separated by single spaces, from s where a two-digit run starts. Returns
 * where the pairs end. */
static size_t spaced_hex(struct finder *f, size_t s, int *r)
{
    const char *t = f->text;
    size_t k = s, end = s, pairs = 0;
    bool letter = false;
    while (k + 2 <= f->len && hex_value((unsigned char)t[k]) >= 0 &&
           hex_value((unsigned char)t[k + 1]) >= 0 &&
           (k + 2 == f->len || b64_value((unsigned char)t[k + 2]) < 0)) {
        pairs++;
        letter = letter || (t[k] | 0x20) >= 'a' || (t[k + 1] | 0x20) >= 'a';
        end = k + 2;
        if (end == f->len || t[end] != ' ')
            break;
        k = end + 1;
    }
    if (pairs * 2 >= MIN_HEX && letter)
        *r = try_run(f, s, end, GW_ENC_HEX);
    return end;
}

/* Hex as "\x" escapes, from s where one starts. Returns where they end. */
static size_t escaped_hex(struct finder *f, size_t s, int *r)
{
    const char *t = f->text;
    size_t k = s, pairs = 0;
    while (k + 4 <= f->len && t[k] == '\\' && t[k + 1] == 'x' &&
           hex_value((unsigned char)t[k + 2]) >= 0 && hex_value((unsigned char)t[k + 3]) >= 0) {
        pairs++;
        k += 4;
    }
    if (pairs * 2 >= MIN_HEX)
        *r = try_run(f, s, k, GW_ENC_HEX);
    return k > s ? k : s + 1;
}

/* Looks at what starts at i (not a space): a hex or base64 form, consumed whole, or one
 * byte of anything else. Sets *r to -1 when out of memory. Returns where to look next. */
static size_t scan_at(struct finder *f, size_t i, int *r)
{
    const char *t = f->text;
    if (t[i] == '\\')
        return escaped_hex(f, i, r);
    if (b64_value((unsigned char)t[i]) < 0)
        return i + 1;
    size_t e = i;
    while (e < f->len && b64_value((unsigned char)t[e]) >= 0)
        e++;
    if (e - i == 2 && e < f->len && t[e] == ' ' && hex_value((unsigned char)t[i]) >= 0 &&
        hex_value((unsigned char)t[i + 1]) >= 0)
        return spaced_hex(f, i, r);
    size_t pe = e;
    while (pe < f->len && pe - e < 2 && t[pe] == '=')
        pe++;
    if (e - i >= MIN_BASE64 && alphabet_run(f, i, e, pe, true) == -1)
        *r = -1;
    return pe;
}

static void decoded_reset(struct gw_decoded *out)
{
    gw_buf_reset(&out->text);
    out->n = 0;
    out->skipped = 0;
}

int gw_decode_find(const char *text, size_t len, size_t max_out, struct gw_decoded *out)
{
    decoded_reset(out);
    struct finder f = {.text = text, .len = len, .max_out = max_out, .out = out};
    int r = 0;
    /* One whitespace-delimited token at a time: first as a URL-encoded stretch, then what
     * is inside it. b runs ahead of i only over spaced hex, whose pairs hold no "%". */
    size_t i = 0, b = 0;
    while (i < len && r != -1) {
        if (is_space((unsigned char)text[i])) {
            i++;
            continue;
        }
        size_t te = i, escapes = 0;
        for (; te < len && !is_space((unsigned char)text[te]); te++)
            escapes += is_url_escape(text, len, te);
        if (escapes >= MIN_URL_ESCAPES && try_run(&f, i, te, GW_ENC_URL) == -1)
            r = -1;
        for (b = b > i ? b : i; b < te && r != -1;)
            b = scan_at(&f, b, &r);
        i = te;
    }
    if (r == -1)
        goto fail;

    /* The second pass writes the runs out, into one allocation of the size now known
     * (gw_buf_reserve would round it up to a power of two). */
    size_t total = f.pos;
    if (!out->text.data || out->text.cap < total + 1) {
        char *p = realloc(out->text.data, total + 1);
        if (!p)
            goto fail;
        out->text.data = p;
        out->text.cap = total + 1;
    }
    for (size_t k = 0; k < out->n; k++) {
        const struct gw_decoded_run *run = &out->v[k];
        struct sink s = {.out = (unsigned char *)out->text.data + run->out_start};
        decode_span(text, run->start, run->end, run->enc, &s);
        out->text.data[run->out_end] = '\n';
    }
    out->text.len = total;
    out->text.data[total] = '\0';
    return 0;
fail:
    decoded_reset(out);
    return -1;
}

const struct gw_decoded_run *gw_decoded_run_at(const struct gw_decoded *d, size_t off)
{
    size_t lo = 0, hi = d->n; /* the first run with out_start > off is at hi */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->v[mid].out_start <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || off >= d->v[lo - 1].out_end)
        return NULL;
    return &d->v[lo - 1];
}

void gw_decoded_free(struct gw_decoded *d)
{
    if (!d)
        return;
    gw_buf_free(&d->text);
    free(d->v);
    memset(d, 0, sizeof *d);
}

const char *gw_encoding_name(enum gw_encoding e)
{
    switch (e) {
    case GW_ENC_BASE64:
        return "base64";
    case GW_ENC_HEX:
        return "hex";
    case GW_ENC_URL:
        return "url";
    }
    return "?";
}
