#include "screen/normalise.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    nm->last = 0;
    nm->seps = 0;
    nm->numeral = nm->numeral_sep = 0;
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

/* One character at original offset o, olen bytes there: cp, its UTF-8 bytes at p (len of
 * them; the original's own when olen == len, else what an entity stood for). */
static int put_char(struct gw_norm *nm, size_t o, uint32_t olen, const unsigned char *p, int len,
                    uint32_t cp)
{
    uint32_t e = gw_normtab_stage2[gw_normtab_stage1[cp >> 8]][cp & 0xFF];
    if (e == 0) {
        nm->space = false;
        if (gw_buf_append(&nm->text, p, (size_t)len) == -1)
            return -1;
        return push_seg(nm, o, olen, (uint32_t)len, olen == (uint32_t)len);
    }
    if (e == NT_DROP)
        return 0;
    if (e == NT_SEP) {
        nm->seps++;
        return nm->sep_space ? put_space(nm, o, olen, false) : 0;
    }
    const unsigned char *s = gw_normtab_pool + (e >> 8);
    size_t n = e & 0x7F;
    if (n == 1 && s[0] == ' ')
        return put_space(nm, o, olen, false);
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
    return added ? push_seg(nm, o, olen, (uint32_t)added, false) : 0;
}

static int put_invalid(struct gw_norm *nm, size_t o, uint32_t olen)
{
    nm->space = false;
    if (gw_buf_append(&nm->text, REPLACEMENT, 3) == -1)
        return -1;
    return push_seg(nm, o, olen, 3, false);
}

/* ---- markup, as a reply's reader sees it (render) ----
 * A chat window renders markdown and often HTML: "_4111 1111 1111 1111_" shows a card in
 * italics, "&#52;111" and "4111&nbsp;1111" show digits, "<b>536</b>-22-1234" a number in
 * bold, "ghp\_..." a token. The render view reads them as shown: emphasis marks ('*',
 * '~', '`', and '_' at a word's edge: "sk_live_..." keeps its own), a backslash before a
 * mark, '[' and ']' are nothing; an entity is its character; an inline tag or a comment is
 * nothing, a tag that breaks a line a space. Anything else is read as written. */

#define MARKUP_MAX 1024 /* the longest construct read (a link's tracking URL): longer is text */
_Static_assert(MARKUP_MAX < sizeof(((struct gw_norm *)0)->pend), "a construct must fit pend");

/* The bytes that may start markup: the fast copy stops at them in the render view. */
static const bool markup_byte[256] = {['*'] = 1, ['_'] = 1, ['~'] = 1, ['`'] = 1, ['\\'] = 1,
                                      ['&'] = 1, ['<'] = 1, ['['] = 1, [']'] = 1, ['!'] = 1};

bool gw_norm_has_markup(const char *text, size_t len)
{
    const unsigned char *t = (const unsigned char *)text;
    for (size_t i = 0; i < len; i++)
        if ((markup_byte[t[i]] && (t[i] != '!' || (i + 1 < len && t[i + 1] == '['))) ||
            (t[i] == 0xE2 && i + 2 < len && /* "![": an image; U+202B, U+202E, U+2067 */
             ((t[i + 1] == 0x80 && (t[i + 2] == 0xAB || t[i + 2] == 0xAE)) ||
              (t[i + 1] == 0x81 && t[i + 2] == 0xA7))))
            return true;
    return false;
}

static bool word_byte(unsigned c)
{
    return c >= 0x80 || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static bool ascii_alpha(unsigned c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

/* Entities by name that can stand inside a number, an address or a key (HTML's names). */
static const struct {
    const char *name;
    uint32_t cp;
} entities[] = {
    {"nbsp", 0xA0},
    {"ensp", 0x2002},
    {"emsp", 0x2003},
    {"emsp13", 0x2004},
    {"emsp14", 0x2005},
    {"numsp", 0x2007},
    {"puncsp", 0x2008},
    {"thinsp", 0x2009},
    {"hairsp", 0x200A},
    {"ZeroWidthSpace", 0x200B},
    {"zwnj", 0x200C},
    {"zwj", 0x200D},
    {"NoBreak", 0x2060},
    {"MediumSpace", 0x205F},
    {"shy", 0xAD},
    {"hyphen", 0x2010},
    {"dash", 0x2010},
    {"ndash", 0x2013},
    {"mdash", 0x2014},
    {"minus", 0x2212},
    {"commat", '@'},
    {"period", '.'},
    {"lowbar", '_'},
    {"UnderBar", '_'},
    {"colon", ':'},
    {"sol", '/'},
    {"num", '#'},
    {"plus", '+'},
    {"amp", '&'},
    {"lt", '<'},
    {"gt", '>'},
    {"quot", '"'},
    {"apos", '\''},
    {"lpar", '('},
    {"rpar", ')'},
    {"lsqb", '['},
    {"rsqb", ']'},
    {"comma", ','},
    {"semi", ';'},
    {"excl", '!'},
    {"quest", '?'},
    {"equals", '='},
    {"percnt", '%'},
    {"dollar", '$'},
    {"ast", '*'},
    {"verbar", '|'},
    {"vert", '|'},
    {"bull", 0x2022},
    {"middot", 0xB7},
    {"centerdot", 0xB7},
    {"sdot", 0x22C5},
    {"lrm", 0x200E},
    {"rlm", 0x200F},
    {"NonBreakingSpace", 0xA0},
    {"ThinSpace", 0x2009},
    {"VeryThinSpace", 0x200A},
    {"MediumSpace", 0x205F},
    {"NegativeVeryThinSpace", 0x200B},
    {"NegativeThinSpace", 0x200B},
    {"NegativeMediumSpace", 0x200B},
    {"NegativeThickSpace", 0x200B},
    {"InvisibleTimes", 0x2062},
    {"it", 0x2062},
    {"InvisibleComma", 0x2063},
    {"ic", 0x2063},
    {"ApplyFunction", 0x2061},
    {"af", 0x2061},
    {"Tab", '\t'},
    {"NewLine", '\n'},
    {"nobreak", 0x2060},
    {"HorizontalLine", 0x2500},
    {"hyphen", 0x2010},
    {"dash", 0x2010},
    {"DoubleDot", 0xA8},
    {"dot", 0x2D9},
};
/* Names HTML reads without their ';' too (its "legacy" ones that matter here). */
static const struct {
    const char *name;
    uint32_t cp;
} bare_entities[] = {{"nbsp", 0xA0}, {"shy", 0xAD}, {"amp", '&'},    {"lt", '<'},
                     {"gt", '>'},    {"quot", '"'}, {"middot", 0xB7}};

enum { MARK_CUT = -2 }; /* cut short by the end of the piece: read it with the next */

/* An entity at p[0] == '&' (n bytes there): its length and *cp, 0 when it is none, or
 * MARK_CUT when the piece ends inside what may be one. */
static int entity_at(const unsigned char *p, size_t n, bool final, uint32_t *cp)
{
    size_t i = 1, lim = n < MARKUP_MAX ? n : MARKUP_MAX;
    if (i < n && p[i] == '#') {
        bool hex = i + 1 < n && (p[i + 1] | 0x20) == 'x';
        i += hex ? 2 : 1;
        size_t d = i;
        uint32_t v = 0;
        for (; i < lim; i++) { /* any number of digits ("&#0000052;"), as HTML reads them */
            unsigned c = p[i], x = c - '0';
            if (hex && x > 9)
                x = (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : 99;
            if (x > (hex ? 15u : 9u))
                break;
            v = v > 0x10FFFF ? v : v * (hex ? 16 : 10) + x;
        }
        if (i == n && !final && n < MARKUP_MAX)
            return MARK_CUT;
        if (i == d || i == MARKUP_MAX) /* no digit, or more than any entity holds */
            return 0;
        if (i < n && p[i] == ';')
            i++;
        *cp = v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) ? 0xFFFD : v;
        return (int)i;
    }
    size_t e = i;
    while (e < n && e - i < 32 && (ascii_alpha(p[e]) || (e > i && p[e] >= '0' && p[e] <= '9')))
        e++;
    if (e == n && !final && e - i < 32)
        return MARK_CUT;
    size_t name = e - i;
    bool semi = e < n && p[e] == ';';
    for (size_t k = 0; semi && k < sizeof entities / sizeof *entities; k++)
        if (strlen(entities[k].name) == name && memcmp(entities[k].name, p + i, name) == 0) {
            *cp = entities[k].cp;
            return (int)(e + 1);
        }
    /* HTML's old names are read without a ';' too, at the start of a longer run
     * ("&nbsp1111" is a no-break space and 1111) */
    for (size_t b = 0; b < sizeof bare_entities / sizeof *bare_entities; b++) {
        size_t bn = strlen(bare_entities[b].name);
        if (bn <= name && memcmp(bare_entities[b].name, p + i, bn) == 0) {
            *cp = bare_entities[b].cp;
            return (int)(i + bn + (i + bn < n && p[i + bn] == ';'));
        }
    }
    return 0;
}

/* HTML elements that break a line: their tags read as a space; any other tag (an inline
 * one, an unknown or a custom one) as nothing. */
static const char *const break_tags[] = {
    "address", "article", "aside",    "blockquote", "br",   "caption",  "center",     "dd",
    "details", "dialog",  "div",      "dl",         "dt",   "fieldset", "figcaption", "figure",
    "footer",  "form",    "h1",       "h2",         "h3",   "h4",       "h5",         "h6",
    "header",  "hr",      "legend",   "li",         "main", "menu",     "nav",        "ol",
    "option",  "p",       "pre",      "section",    "sub",  "summary",  "sup",        "table",
    "tbody",   "td",      "textarea", "tfoot",      "th",   "thead",    "tr",         "ul"};

static bool tag_in(const unsigned char *name, size_t n, const char *const *v, size_t count)
{
    for (size_t k = 0; k < count; k++)
        if (strlen(v[k]) == n && strncasecmp(v[k], (const char *)name, n) == 0)
            return true;
    return false;
}

/* Where [p + from, p + lim) has end (a NUL-free string), or 0. */
static size_t find(const unsigned char *p, size_t from, size_t lim, const char *end)
{
    size_t m = strlen(end);
    for (size_t i = from; i + m <= lim; i++)
        if (memcmp(p + i, end, m) == 0)
            return i;
    return 0;
}

/* A tag, a comment or what a browser reads as one (<!...>, <?...>, CDATA) at p[0] == '<':
 * its length, *brk set for a tag that breaks a line; 0 when it is none of those, or
 * MARK_CUT. */
static int tag_at(const unsigned char *p, size_t n, bool final, bool *brk)
{
    size_t lim = n < MARKUP_MAX ? n : MARKUP_MAX;
    bool more = n < MARKUP_MAX && !final; /* the piece may end inside one */
    *brk = false;
    if (n < 2)
        return more ? MARK_CUT : 0;
    if (p[1] == '!' || p[1] == '?') {
        size_t at;
        if (n < 4 && more)
            return MARK_CUT;
        if (n >= 4 && memcmp(p, "<!--", 4) == 0) {
            if (n >= 5 && p[4] == '>') /* "<!-->" */
                return 5;
            if (n >= 6 && p[4] == '-' && p[5] == '>') /* "<!--->" */
                return 6;
            size_t a = find(p, 4, lim, "-->"), b = find(p, 4, lim, "--!>");
            at = a && (!b || a < b) ? a + 3 : b ? b + 4 : 0;
        } else if (n >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
            at = find(p, 9, lim, "]]>");
            at = at ? at + 3 : 0;
        } else if (n >= 9 || !more || memcmp(p, "<![CDATA[", n) != 0) {
            at = find(p, 2, lim, ">"); /* a bogus comment: up to the first '>' */
            at = at ? at + 1 : 0;
        } else {
            return MARK_CUT;
        }
        return at ? (int)at : more ? MARK_CUT : 0;
    }
    size_t i = p[1] == '/' ? 2 : 1, name = i;
    if (i == 2 && i < n && !ascii_alpha(p[i]) && p[i] != '>') { /* "</1>": a bogus comment */
        size_t at = find(p, 2, lim, ">");
        return at ? (int)(at + 1) : more ? MARK_CUT : 0;
    }
    if (i < n && !ascii_alpha(p[i]))
        return 0;
    /* a name runs to a space, '/' or '>', as a browser reads it ("<b!>", "<x\">") */
    while (i < lim && p[i] > ' ' && p[i] != '/' && p[i] != '>')
        i++;
    if (i == n)
        return more ? MARK_CUT : 0;
    if (i == lim || i == name)
        return 0;
    *brk = tag_in(p + name, i - name, break_tags, sizeof break_tags / sizeof *break_tags);
    for (unsigned char quote = 0; i < lim; i++) { /* attributes, '>' inside quotes too */
        if (quote) {
            quote = p[i] == quote ? 0 : quote;
        } else if (p[i] == '"' || p[i] == '\'') {
            quote = p[i];
        } else if (p[i] == '>') {
            return (int)(i + 1);
        } else if (p[i] == '<') {
            return 0;
        }
    }
    return more ? MARK_CUT : 0;
}

/* A link's destination or a reference's label right after its text's ']' at p[0]
 * ("](https://...)", "][label]", with no line break in it): its length, 0, or MARK_CUT. */
static int link_tail(const unsigned char *p, size_t n, bool final)
{
    size_t lim = n < MARKUP_MAX ? n : MARKUP_MAX;
    bool more = n < MARKUP_MAX && !final;
    if (n < 2)
        return more ? MARK_CUT : 0;
    unsigned char close = p[1] == '(' ? ')' : p[1] == '[' ? ']' : 0;
    if (!close)
        return 0;
    for (size_t i = 2; i < lim; i++) {
        if (p[i] == close)
            return (int)(i + 1);
        if (p[i] == '\n' || p[i] == '\r' || p[i] == p[1])
            return 0;
    }
    return more ? MARK_CUT : 0;
}

/* Copies [p, p + n) as written (a mark that is no markup), at original offset o. */
static int put_literal(struct gw_norm *nm, size_t o, const unsigned char *p, size_t n)
{
    nm->space = false;
    if (gw_buf_append(&nm->text, p, n) == -1)
        return -1;
    return push_seg(nm, o, (uint32_t)n, (uint32_t)n, true);
}

/* Markup at p[0] (a markup_byte; n bytes there, p[-1] before it when at > 0, else
 * nm->last): how many bytes it took, having put what they show, MARK_CUT, or -1. */
static long markup(struct gw_norm *nm, const unsigned char *p, size_t n, size_t at, size_t o,
                   bool final)
{
    unsigned prev = at ? p[-1] : nm->last;
    switch (p[0]) {
    case '*':
    case '~':
    case '`':
    case '[':
        return 1; /* emphasis, strike-through, code, a link's text: shown as the text */
    case ']': {   /* and a link's destination or label after it, which the window hides */
        int len = link_tail(p, n, final);
        return len == MARK_CUT ? MARK_CUT : len > 0 ? len : 1;
    }
    case '!': /* an image's mark: "![alt](url)" shows no text of its own */
        if (n < 2)
            return final ? (put_literal(nm, o, p, 1) == -1 ? -1 : 1) : MARK_CUT;
        return p[1] == '[' ? 1 : put_literal(nm, o, p, 1) == -1 ? -1 : 1;
    case '_': {
        size_t k = 1; /* a run longer than MARKUP_MAX is read in parts: no word after */
        while (k < n && k < MARKUP_MAX && p[k] == '_')
            k++;
        if (k == n && !final)
            return MARK_CUT;
        if (word_byte(prev) && k < n && word_byte(p[k]))
            return put_literal(nm, o, p, k) == -1 ? -1 : (long)k; /* "sk_live_" */
        return (long)k;                                           /* "_italic_", "__bold__" */
    }
    case '\\':
        if (n < 2)
            return final ? (put_literal(nm, o, p, 1) == -1 ? -1 : 1) : MARK_CUT;
        if (p[1] == '\n' || p[1] == '\r')
            return 1; /* a hard line break: the line break shows, the backslash not */
        if (p[1] && strchr("!\"#$%&'()*+,-./:;<=>?@[]^_`{|}~", p[1])) {
            /* "ghp\_...": the mark as written, shown without its backslash */
            nm->space = false;
            if (gw_buf_append(&nm->text, p + 1, 1) == -1 || push_seg(nm, o, 2, 1, false) == -1)
                return -1;
            return 2;
        }
        return put_literal(nm, o, p, 1) == -1 ? -1 : 1;
    case '&': {
        uint32_t cp;
        int len = entity_at(p, n, final, &cp);
        if (len == MARK_CUT)
            return MARK_CUT;
        if (len > 0) {
            unsigned char u[4];
            int ulen = cp < 0x80      ? (u[0] = (unsigned char)cp, 1)
                       : cp < 0x800   ? (u[0] = (unsigned char)(0xC0 | cp >> 6),
                                       u[1] = (unsigned char)(0x80 | (cp & 0x3F)), 2)
                       : cp < 0x10000 ? (u[0] = (unsigned char)(0xE0 | cp >> 12),
                                         u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)),
                                         u[2] = (unsigned char)(0x80 | (cp & 0x3F)), 3)
                                      : (u[0] = (unsigned char)(0xF0 | cp >> 18),
                                         u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F)),
                                         u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)),
                                         u[3] = (unsigned char)(0x80 | (cp & 0x3F)), 4);
            if (cp <= ' ' || cp == 0x7F) /* "&#32;", "&#10;": a break between words */
                return put_space(nm, o, (uint32_t)len, false) == -1 ? -1 : len;
            /* an invisible separator is read as a space here: the as-written view joins
             * what it parts */
            bool sep = nm->sep_space;
            nm->sep_space = true;
            int rc = put_char(nm, o, (uint32_t)len, u, ulen, cp);
            nm->sep_space = sep;
            return rc == -1 ? -1 : len;
        }
        return put_literal(nm, o, p, 1) == -1 ? -1 : 1;
    }
    case '<': {
        bool brk = false;
        int len = tag_at(p, n, final, &brk);
        if (len == MARK_CUT)
            return MARK_CUT;
        if (len > 0)
            return brk ? (put_space(nm, o, (uint32_t)len, false) == -1 ? -1 : len) : len;
        return put_literal(nm, o, p, 1) == -1 ? -1 : 1;
    }
    }
    return put_literal(nm, o, p, 1) == -1 ? -1 : 1;
}

/* A run a window shows right to left, at p[0] (n bytes there): from a right-to-left
 * override (U+202E: every character turned, "\u202e1111 1111 1111 1114" shows 4111 1111
 * 1111 1111) or embedding (U+202B, U+2067: the words turned, each read as written) to its
 * end (U+202C, U+2069, a line break or the text's end). Its characters go out in the order
 * shown, as one piece of the map. Returns its length, 0 when it is longer than MARKUP_MAX
 * (read as written), MARK_CUT, or -1. */
static long turned(struct gw_norm *nm, const unsigned char *p, size_t n, size_t o, bool final,
                   bool override)
{
    size_t end = 3, lim = n < MARKUP_MAX ? n : MARKUP_MAX;
    while (end < lim && p[end] != '\n' && p[end] != '\r' &&
           !(end + 2 < n && p[end] == 0xE2 &&
             ((p[end + 1] == 0x80 && p[end + 2] == 0xAC) ||
              (p[end + 1] == 0x81 && p[end + 2] == 0xA9))))
        end++;
    if (end == lim && lim == MARKUP_MAX)
        return 0;
    if (end == n && !final)
        return MARK_CUT;
    if (end + 2 < n && p[end] == 0xE2 && end + 2 < lim + 3)
        end += 3; /* the run's end mark goes with it */
    size_t body = end, before = nm->text.len;
    while (body > 3 && (p[body - 1] == '\n' || p[body - 1] == '\r'))
        body--;
    if (body > 3 && p[body - 3] == 0xE2 && (p[body - 2] == 0x80 || p[body - 2] == 0x81))
        body -= 3;
    /* The run read as shown first (markup, entities, invisible characters: a browser
     * strips them before it turns the run), then its characters (or words) from the last
     * to the first. */
    struct gw_norm sub = {.render = true, .sep_space = nm->sep_space};
    if (gw_norm_text(&sub, (const char *)p + 3, body - 3) == -1) {
        gw_norm_free(&sub);
        return -1;
    }
    const unsigned char *t = (const unsigned char *)(sub.text.data ? sub.text.data : "");
    for (size_t k = sub.text.len; k > 0;) {
        size_t at = k - 1;
        if (override) {
            while (at > 0 && (t[at] & 0xC0) == 0x80)
                at--;
        } else {
            while (at > 0 && t[at - 1] != ' ')
                at--;
        }
        if (gw_buf_append(&nm->text, t + at, k - at) == -1 ||
            (!override && at > 0 && gw_buf_append(&nm->text, " ", 1) == -1)) {
            gw_norm_free(&sub);
            return -1;
        }
        k = override ? at : at > 0 ? at - 1 : 0;
    }
    gw_norm_free(&sub);
    nm->space = false;
    size_t added = nm->text.len - before;
    return added && push_seg(nm, o, (uint32_t)end, (uint32_t)added, false) == -1 ? -1 : (long)end;
}

/* ---- numbers in Chinese numerals ----
 * "四一一一 一一一一 一一一一 一一一一" is a card to a reader and to the model, so a run of
 * Chinese numerals (the plain ones 〇一二...九 and 零, the financial ones 壹贰叁... that
 * cheques use) is read as digits. Only a run of at least NUMERALS_MIN of them, single
 * separators between them allowed: one numeral alone is a word ("一直", "三三两两"), and a
 * run changes the text's normal form, so the rules and the model, where a number was
 * meant. Positional words (十, 百, 千, 万) are not digits and end a run. */
#define NUMERALS_MIN 4

/* The digit a Chinese numeral stands for, or -1: each digit's plain, financial (simplified
 * and traditional) and old forms. */
static int numeral_value(uint32_t cp)
{
    static const uint32_t forms[10][6] = {
        {0x3007, 0x96F6, 0x25CB},         /* 〇 零, and ○ that input methods type for 〇 */
        {0x4E00, 0x58F9, 0x5F0C, 0x5E7A}, /* 一 壹 弌, and 幺 as a number is read out */
        {0x4E8C, 0x8D30, 0x8CB3, 0x5F0D}, /* 二 贰 貳 弍 */
        {0x4E09, 0x53C1, 0x53C4, 0x53C3, 0x53C2, 0x5F0E}, /* 三 叁 叄 參 参 弎 */
        {0x56DB, 0x8086},                                 /* 四 肆 */
        {0x4E94, 0x4F0D},                                 /* 五 伍 */
        {0x516D, 0x9646, 0x9678},                         /* 六 陆 陸 */
        {0x4E03, 0x67D2},                                 /* 七 柒 */
        {0x516B, 0x634C},                                 /* 八 捌 */
        {0x4E5D, 0x7396},                                 /* 九 玖 */
    };
    if (cp < 0x25CB || cp > 0x96F6) /* ○ and 零: the first and the last */
        return -1;
    for (int d = 0; d < 10; d++)
        for (int k = 0; k < 6 && forms[d][k]; k++)
            if (forms[d][k] == cp)
                return d;
    return -1;
}

/* Whether cp may stand between two digits of a number as written in Chinese: a space or a
 * line break, a dash, a dot, a comma or a slash, in ASCII or their CJK and fullwidth forms. */
static bool numeral_gap(uint32_t cp)
{
    return cp == ' ' || cp == '\n' || cp == '\t' || cp == '-' || cp == '.' || cp == ',' ||
           cp == '/' || cp == 0x3002 || cp == 0x3000 || cp == 0x3001 || cp == 0x30FB ||
           cp == 0xFF0C || cp == 0xFF0D || cp == 0xFF0E || cp == 0xFF65 ||
           (cp >= 0x2010 && cp <= 0x2015) || cp == 0x2212;
}

/* The character at p: its length (0 when cut short, -1 when not UTF-8) and code point. */
static int char_at(const unsigned char *p, size_t n, uint32_t *cp)
{
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    return utf8_decode(p, n, cp);
}

/* Whether the numeral at p, original offset o, is read as a digit: when it starts a run of
 * NUMERALS_MIN numerals, or continues one (nm->numeral, the offset plus one of the numeral
 * that the last one read as a digit saw next). Then also notes where the run continues.
 * Decided on the original bytes alone, so a stream reads as the whole text does. Returns
 * 1, 0, or MARK_CUT when the piece ends before that is known. */
static int numeral_run(struct gw_norm *nm, const unsigned char *p, size_t n, size_t o, bool final)
{
    uint32_t cp;
    size_t i = 0;
    int k;
    if (nm->numeral != o + 1) {
        int count = 0;
        bool gap = false; /* the last thing read was a separator */
        while (count < NUMERALS_MIN) {
            if (i >= n || (k = char_at(p + i, n - i, &cp)) == 0)
                return final ? 0 : MARK_CUT;
            if (k > 0 && (numeral_value(cp) >= 0 || (cp >= '0' && cp <= '9'))) {
                count++; /* ASCII digits count: "四111 1111 ..." */
                gap = false;
            } else if (k > 0 && !gap && count > 0 && numeral_gap(cp)) {
                gap = true;
            } else {
                return 0;
            }
            i += (size_t)k;
        }
    }
    /* where the run goes on: the next character, or the one after a separator */
    size_t next = 0, sep = 0;
    bool gap = false, digits = false;
    i = (size_t)char_at(p, n, &cp);
    for (int step = 0; step < 24; step++) { /* past ASCII digits too: "5三6二2一2三4" */
        if (i >= n || (k = char_at(p + i, n - i, &cp)) == 0) {
            if (!final)
                return MARK_CUT;
            break;
        }
        if (k < 0)
            break;
        if (numeral_value(cp) >= 0) {
            next = o + i + 1;
            break;
        }
        if (cp >= '0' && cp <= '9') {
            digits = true;
            sep = 0; /* a "、" before them stays as written */
            gap = false;
        } else if (!gap && numeral_gap(cp)) {
            gap = true;
            if (!digits && (cp == 0x3001 || cp == 0x30FB || cp == 0xFF65)) /* no ASCII form */
                sep = o + i + 1;
        } else {
            break;
        }
        i += (size_t)k;
    }
    nm->numeral = next;
    nm->numeral_sep = next ? sep : 0;
    return 1;
}

/* Normalises bytes [0, len) of p, which start at original offset o. Stops before a
 * sequence cut short at the end (unless final, markup then read as written) and returns
 * how many bytes it took, or -1. */
static long run(struct gw_norm *nm, const unsigned char *p, size_t len, size_t o, bool final)
{
    size_t i = 0;
    const bool render = nm->render;
    while (i < len) {
        unsigned c = p[i];
        if (c < 0x80) {
            if (render && markup_byte[c]) {
                long took = markup(nm, p + i, len - i, i, o + i, final);
                if (took == MARK_CUT)
                    break;
                if (took < 0)
                    return -1;
                i += (size_t)took;
                continue;
            }
            /* A run of printable ASCII with single spaces is copied as one piece (a space
             * that continues a whitespace run is not part of it). */
            size_t j = i;
            for (; j < len; j++) {
                unsigned b = p[j];
                if ((unsigned)(b - 0x21) < 0x5e) {
                    if (render && markup_byte[b])
                        break;
                    continue;
                }
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
            break; /* cut short: the caller keeps the rest */
        if (n < 0) {
            if (put_invalid(nm, o + i, 1) == -1)
                return -1;
            i++;
            continue;
        }
        if (render && (cp == 0x202E || cp == 0x202B || cp == 0x2067)) {
            long took = turned(nm, p + i, len - i, o + i, final, cp == 0x202E);
            if (took == MARK_CUT)
                break;
            if (took < 0)
                return -1;
            if (took > 0) {
                i += (size_t)took;
                continue;
            }
        }
        if (nm->numeral_sep == o + i + 1) { /* 、 between two numerals read as digits */
            if (put_space(nm, o + i, (uint32_t)n, false) == -1)
                return -1;
            i += (size_t)n;
            continue;
        }
        if (numeral_value(cp) >= 0) {
            int r = numeral_run(nm, p + i, len - i, o + i, final);
            if (r == MARK_CUT)
                break;
            if (r) {
                char d = (char)('0' + numeral_value(cp));
                nm->space = false;
                if (gw_buf_append(&nm->text, &d, 1) == -1 ||
                    push_seg(nm, o + i, (uint32_t)n, 1, false) == -1)
                    return -1;
                i += (size_t)n;
                continue;
            }
        }
        if (put_char(nm, o + i, (uint32_t)n, p + i, n, cp) == -1)
            return -1;
        i += (size_t)n;
    }
    if (i)
        nm->last = p[i - 1];
    return (long)i;
}

int gw_norm_text(struct gw_norm *nm, const char *text, size_t len)
{
    gw_norm_reset(nm);
    if (gw_buf_reserve(&nm->text, len + len / 8 + 16) == -1)
        return -1;
    long took = run(nm, (const unsigned char *)text, len, 0, true);
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
    /* What the last piece cut short (a UTF-8 sequence, markup), read again with as many
     * of the new bytes as fit beside it, until it is taken. */
    while (nm->npend > 0 && len > 0) {
        size_t old = nm->npend, add = sizeof nm->pend - old;
        if (add > len)
            add = len;
        memcpy(nm->pend + old, p, add);
        long took = run(nm, nm->pend, old + add, nm->in - old, false);
        if (took < 0)
            return -1;
        nm->npend = (unsigned)(old + add - (size_t)took);
        memmove(nm->pend, nm->pend + took, nm->npend);
        nm->in += add;
        p += add;
        len -= add;
        if (nm->npend == sizeof nm->pend) { /* cannot be: a construct fits with room */
            if (put_invalid(nm, nm->in - nm->npend, 1) == -1)
                return -1;
            memmove(nm->pend, nm->pend + 1, --nm->npend);
        }
    }
    if (len == 0)
        return 0;
    size_t o = nm->in;
    long took = run(nm, p, len, o, false);
    if (took < 0)
        return -1;
    nm->in += len;
    nm->npend = (unsigned)(len - (size_t)took);
    if (nm->npend > sizeof nm->pend) /* cannot be: run stops only near the end */
        return -1;
    memcpy(nm->pend, p + took, nm->npend);
    return 0;
}

int gw_norm_finish(struct gw_norm *nm)
{
    size_t o = nm->in - nm->npend;
    long took = run(nm, nm->pend, nm->npend, o, true);
    if (took < 0)
        return -1;
    for (unsigned i = (unsigned)took; i < nm->npend; i++)
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
