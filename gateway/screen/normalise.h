/* The normaliser: the view of a text that rules match, with a map back to the original
 * bytes.
 *
 * Obfuscation that a reader does not see must not hide a match from the rules: a
 * zero-width space inside a card number, fullwidth digits, a Cyrillic letter in a keyword,
 * a no-break space between digit groups, a tab between words. So every text is matched
 * in a normalised form:
 *   - default-ignorable and format characters and combining marks are removed
 *     (zero-width characters, soft hyphen, bidi controls, variation selectors, tags,
 *     accents);
 *   - compatibility forms are folded (NFKC: fullwidth, circled, superscript and
 *     mathematical letters and digits, ligatures);
 *   - letters that look like Latin ones (Unicode's confusables: Cyrillic, Greek, ...) are
 *     folded to Latin, digits of every script to ASCII digits, dashes to '-', curly quotes
 *     to ' and "; a run of four or more Chinese numerals ("四一一一") is read as digits;
 *   - other letters are case-folded; ASCII letters keep their case (patterns that mean to
 *     are compiled case-insensitive, and secret formats whose case matters keep it);
 *   - every run of whitespace, of any kind, and of control characters (NUL included)
 *     becomes one space;
 *   - bytes that are not UTF-8 become U+FFFD.
 * The tables come from ICU at build time (gen_normtab.c); the gateway does not link ICU.
 *
 * The map: the normalised text is cut into segments, each either a run copied byte for
 * byte from the original, or what one original character (or whitespace) became. A
 * finding over normalised bytes [s, e) covers original bytes [gw_norm_start(s),
 * gw_norm_end(e)): whole original characters, with what was removed between them, so
 * that redaction replaces exactly the original bytes of the match.
 *
 * Invisible separators (zero-width space, word joiner, soft hyphen, direction marks, Hangul
 * fillers) are read two ways: inside a word they join it ("ign<ZWSP>ore"), between words
 * they separate ("ignore<ZWSP>all<ZWSP>previous"). The normal form removes them; a text
 * that has some (seps) is matched a second time in a view where each is a space
 * (sep_space), and the findings of both count. Superscripts, subscripts, circled forms and
 * fractions are read both ways too: glued to their neighbours in the first view ("⁴¹¹¹"
 * is 4111), apart in the second ("1111¹" is "1111 1").
 *
 * Text that is printable ASCII with single spaces is its own normal form: gw_norm_text
 * says so without copying, at the cost of one pass over the bytes.
 *
 * Replies are read as the customer's chat window shows them (render): markdown emphasis,
 * code marks and a link's brackets are nothing, '_' at a word's edge too ("_4111 1111 1111
 * 1111_"), a backslash before a mark ("ghp\_...") too; an HTML entity is its character
 * ("&#52;111", "4111&nbsp;1111"); an inline tag or a comment is nothing, a tag that breaks
 * a line a space ("<b>536</b>-22-1234", "4111<br>1111"). Prompts are read as written.
 *
 * Streams: gw_norm_feed takes the text in pieces of any size, carrying a UTF-8 sequence
 * or markup split between pieces and a whitespace run that continues; offsets are counted
 * from the start of the stream, and gw_norm_forget drops what is no longer needed. */
#ifndef GW_SCREEN_NORMALISE_H
#define GW_SCREEN_NORMALISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct gw_nseg {
    size_t n, o;         /* where it starts: in the normalised text, in the original */
    uint32_t nlen, olen; /* its lengths; a copied run has nlen == olen and copied set */
    bool copied;
};

struct gw_norm {
    struct gw_buf text;  /* normalised bytes from offset base on */
    size_t base;         /* normalised bytes forgotten before text.data */
    struct gw_nseg *seg; /* segments still kept, in order */
    size_t nseg, cap, first; /* seg[first .. nseg) are live */
    size_t in;           /* original bytes taken, the pending ones included */
    unsigned char pend[1040]; /* what the last piece cut short: a UTF-8 sequence, markup */
    unsigned npend;
    unsigned char last;  /* the last original byte taken (before pend) */
    bool space;          /* the last byte out is a space (a run continues) */
    bool sep_space;      /* the second view: invisible separators are spaces (set by hand) */
    bool render;         /* markup read as a reader sees it rendered (set by hand; replies) */
    size_t seps;         /* invisible separators met (zero-width space, soft hyphen, ...) */
    size_t numeral;      /* where a run of Chinese numerals read as digits goes on (normalise.c) */
    size_t numeral_sep;  /* and where a "、" inside it stands, read as a space */
};

/* Whether text is its own normal form: printable ASCII with no two spaces in a row. */
bool gw_norm_is_plain(const char *text, size_t len);
/* Whether text has a byte that may start markup the render view reads (normalise.c):
 * without one, the render view is the plain one. */
bool gw_norm_has_markup(const char *text, size_t len);

/* Block mode: normalises a whole text into nm (reset first; memory reused). */
int gw_norm_text(struct gw_norm *nm, const char *text, size_t len);

/* Stream mode: normalises the next piece of a stream; the new normalised bytes are
 * appended to nm->text. Returns 0 or -1 (out of memory). */
int gw_norm_feed(struct gw_norm *nm, const char *data, size_t len);
/* Ends the stream: a pending partial UTF-8 sequence becomes U+FFFD. */
int gw_norm_finish(struct gw_norm *nm);
/* Forgets normalised bytes before n (and segments that end by then). */
void gw_norm_forget(struct gw_norm *nm, size_t n);
/* Normalised bytes produced so far. */
static inline size_t gw_norm_total(const struct gw_norm *nm)
{
    return nm->base + nm->text.len;
}

/* The original offset where normalised byte n comes from (the start of its character);
 * n at the end of the normalised text gives the end of what has been normalised. */
size_t gw_norm_start(const struct gw_norm *nm, size_t n);
/* The original offset just past the character that normalised byte n - 1 comes from, and
 * past what was removed right after it (a combining mark on it, a zero-width character). */
size_t gw_norm_end(const struct gw_norm *nm, size_t n);

/* Whether normalised bytes [n0, n1) are the original's, copied unchanged (no lookalike
 * letter folded, no invisible character dropped, no run of spaces joined). */
bool gw_norm_verbatim(const struct gw_norm *nm, size_t n0, size_t n1);

void gw_norm_reset(struct gw_norm *nm);
void gw_norm_free(struct gw_norm *nm);

/* Normalises a NUL-terminated string (a rule's phrase, say) into a new one that the
 * caller frees. Only characters at or above U+0080 and whitespace runs change: ASCII
 * punctuation, so regular expression syntax, is kept. NULL when out of memory. */
char *gw_norm_string(const char *s);

#endif
