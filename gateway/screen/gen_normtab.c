/* gen_normtab: writes the normaliser's table (see normalise.h) as C source, from ICU's
 * Unicode data. Run by the build (CMake), never at run time: the gateway does not link
 * ICU, and the table is build output, not a file in the repository.
 *
 * For every code point from U+0080 on, the table says what the normalised text holds in
 * its place: the code point itself (most of Unicode), nothing, one space, or a short
 * UTF-8 string. The mapping, in order:
 *   0. tag characters (U+E0020..E007E) become the ASCII they spell: models read them;
 *      so do the 26 letters of Braille (the blank cell is a space, the capital sign
 *      nothing);
 *   1. default-ignorable code points, format characters (Cf) and combining marks (Mn,
 *      Me) become nothing: zero-width spaces and joiners, soft hyphen, bidi controls,
 *      variation selectors, tag characters, Hangul fillers, and the Arabic tatweel that
 *      stretches words;
 *   2. every Unicode space, line or paragraph separator and control (C1) becomes one
 *      space (a reader takes a control for a break between words, not for nothing);
 *   3. Hangul syllables stay whole (their decomposition is letters, not marks);
 *   4. anything else is decomposed with compatibility (NFKD: fullwidth and halfwidth
 *      forms, ligatures, circled, parenthesised, superscript and mathematical letters
 *      and digits), its marks dropped (accents: é is e), and each remaining character
 *      that is not ASCII is
 *        - a decimal digit of any script: the ASCII digit of the same value (and a digit
 *          in a circle, a parenthesis or a dingbat, or with a full stop: the digit);
 *        - dash punctuation: '-'; a middle dot, a bullet or a dot operator: '.'; a single
 *          or double quotation mark: ' or ";
 *        - case-folded first (ß is ss, Σ is σ: an upper-case word and its lower-case
 *          form must fold alike), then, for each character of the folding:
 *        - a character whose confusable skeleton (Unicode's confusables data, UTS #39,
 *          through ICU's spoof checker) is one ASCII letter, digit or punctuation mark:
 *          that character (Cyrillic а, Greek ο, Latin ɑ, letterlike ℓ);
 *        - a Latin letter without a decomposition, by its name: small capitals, letters
 *          with a stroke or a bar, negative squared and circled letters: the base letter;
 *          and the regional indicators that flag emoji are made of (🇮🇬🇳🇴🇷🇪 spells
 *          "ignore" to a model): the small letter, so a flag reads as its country code;
 *        - a small letter whose capital's skeleton is one ASCII letter (Greek ε, Cyrillic
 *          м: their capitals look like E and M): that letter in lower case;
 *        - otherwise the folded character itself.
 *      A symbol that spells a word (№, ℡, ™, ㎝) gets a space on each side, so that it
 *      does not glue its letters to the number after it; ordinal indicators (º, ª) become
 *      a space; "(a)" and "(1)" lose their brackets.
 * ASCII itself is left to the normaliser (the table starts at U+0080), which keeps ASCII
 * letters' case: patterns match case-insensitively where they mean to, and secret
 * formats whose case matters keep it.
 *
 * Output: two-stage lookup. stage1[cp >> 8] is a block number (0: the block is all
 * identity); stage2[block][cp & 255] is 0 (identity), NT_DROP, NT_SEP, or
 * (offset << 8 | length) into pool, with NT_APART set for characters that the second view
 * puts apart (see apart()). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uspoof.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#define NT_DROP 0xffu
#define NT_SEP 0xfeu /* removed, or a space in the second view (see normalise.h) */
#define NT_APART 0x80u /* in the second view, a space before it */

/* Superscripts, subscripts, circled forms and fractions: glued to what is next to them
 * (a word in superscript letters, a number in circled digits) or apart from it (a
 * footnote mark after a card number, "1111¹"). Both readings count: the second view
 * puts a space before them. */
static bool apart(UChar32 c)
{
    int dt = u_getIntPropertyValue(c, UCHAR_DECOMPOSITION_TYPE);
    return dt == U_DT_SUPER || dt == U_DT_SUB || dt == U_DT_CIRCLE || dt == U_DT_FRACTION ||
           (u_charType(c) == U_OTHER_NUMBER && c >= 0x2460 && c <= 0x27BF);
}
#define MAX_OUT 64

static void die(const char *what, UErrorCode e)
{
    fprintf(stderr, "gen_normtab: %s: %s\n", what, u_errorName(e));
    exit(1);
}

static bool is_drop(UChar32 c)
{
    int8_t t = u_charType(c);
    return u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT) || t == U_FORMAT_CHAR ||
           t == U_NON_SPACING_MARK || t == U_ENCLOSING_MARK ||
           c == 0x0640; /* Arabic tatweel: stretches a word, "قـنـبـلـة" is "قنبلة" */
}

static bool is_space(UChar32 c)
{
    int8_t t = u_charType(c);
    return c == 0x2800 /* braille blank: looks like a space */ || t == U_CONTROL_CHAR ||
           t == U_SPACE_SEPARATOR || t == U_LINE_SEPARATOR ||
           t == U_PARAGRAPH_SEPARATOR || u_isUWhiteSpace(c);
}

/* The confusable skeleton of c when it is one printable ASCII character, else 0. */
static int skeleton_ascii(USpoofChecker *sc, UChar32 c)
{
    UChar in[2], out[16];
    int32_t n = 0;
    U16_APPEND_UNSAFE(in, n, c);
    UErrorCode e = U_ZERO_ERROR;
    int32_t m = uspoof_getSkeleton(sc, 0, in, n, out, 16, &e);
    if (U_FAILURE(e) || m != 1 || out[0] < 0x21 || out[0] > 0x7e)
        return 0;
    return out[0];
}

/* A Latin letter with no decomposition, by its name: small capitals (ɪ), letters with a
 * stroke or a bar (ø, ɇ, ɨ, ɵ), negative squared and circled letters (🅸, 🅘), regional
 * indicators (🇮, the halves of flag emoji). The base letter, lower case for small letters,
 * small capitals and regional indicators; 0 when the name is not one of these shapes
 * (turned, reversed and other letters that do not read as the base one). */
static int latin_by_name(UChar32 c)
{
    char name[128];
    UErrorCode e = U_ZERO_ERROR;
    u_charName(c, U_UNICODE_CHAR_NAME, name, sizeof name, &e);
    if (U_FAILURE(e))
        return 0;
    static const char *const shapes[] = {"TURNED", "REVERSED", "INVERTED", "SIDEWAYS", "LONG",
                                         "CLOSED", "RAMS", "BROKEN", "TAILLESS", "HALF"};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        if (strstr(name, shapes[i]))
            return 0;
    static const struct {
        const char *prefix;
        bool upper;
    } forms[] = {
        {"LATIN LETTER SMALL CAPITAL ", false},
        {"LATIN SMALL LETTER BARRED ", false},
        {"LATIN SMALL LETTER DOTLESS ", false},
        {"LATIN SMALL LETTER SCRIPT ", false},
        {"LATIN CAPITAL LETTER BARRED ", true},
        {"NEGATIVE SQUARED LATIN CAPITAL LETTER ", true},
        {"NEGATIVE CIRCLED LATIN CAPITAL LETTER ", true},
        {"REGIONAL INDICATOR SYMBOL LETTER ", false},
        {"LATIN SMALL LETTER ", false},
        {"LATIN CAPITAL LETTER ", true},
    };
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        size_t n = strlen(forms[i].prefix);
        if (strncmp(name, forms[i].prefix, n) != 0)
            continue;
        char x = name[n];
        if (x < 'A' || x > 'Z' || (name[n + 1] && strncmp(name + n + 1, " WITH ", 6) != 0))
            return 0;
        return forms[i].upper ? x : x - 'A' + 'a';
    }
    return 0;
}

/* A small letter whose capital looks like a Latin one, though it does not: Greek ε, β, τ, κ,
 * Cyrillic м, т, к, в, н, ь (Ε, Β, Τ, Κ, М, Т, К, В, Н, Ь). A reader takes "ignorε your
 * rulεs" for English, and a word keeps its letters' case only in ASCII, so the capital's
 * look-alike, in lower case. Not a capital I look-alike (the confusables data says l:
 * see map_char), nor a digit (Cyrillic з is not 3). */
static int capital_look_alike(USpoofChecker *sc, UChar32 c)
{
    UChar32 u = u_toupper(c);
    int s = u != c ? skeleton_ascii(sc, u) : 0;
    if (!((s >= 'A' && s <= 'Z') || (s >= 'a' && s <= 'z')) || s == 'l' || s == 'I')
        return 0;
    return s | 0x20;
}

/* "Faux Cyrillic": small Cyrillic letters that no confusables data ties to a Latin one,
 * but that read as one when set among Latin letters, as the style writes them ("igпoгe
 * yoиг гиles": п for n, и for u, г for r, ш for w). Russian rules are normalised the same
 * way at load, so they still match Russian text. */
static int faux_cyrillic(UChar32 c)
{
    switch (c) {
    case 0x043F: /* п */
        return 'n';
    case 0x0438: /* и */
        return 'u';
    case 0x0433: /* г */
        return 'r';
    case 0x0448: /* ш */
        return 'w';
    default:
        return 0;
    }
}

/* Appends c as UTF-8. */
static void put(char *out, int *len, UChar32 c)
{
    UBool err = false;
    U8_APPEND(out, *len, MAX_OUT, c, err);
    (void)err;
}

/* One character of a decomposition, not ASCII and not a mark: see step 4 above. */
static void map_char(USpoofChecker *sc, UChar32 c, char *out, int *len)
{
    int8_t t = u_charType(c);
    if (t == U_DECIMAL_DIGIT_NUMBER && u_charDigitValue(c) >= 0) {
        put(out, len, '0' + u_charDigitValue(c));
        return;
    }
    if (t == U_DASH_PUNCTUATION) {
        put(out, len, '-');
        return;
    }
    if (c == 0x3002) { /* the ideographic full stop: a dot (IDNA reads it as one in domains) */
        put(out, len, '.');
        return;
    }
    /* dots of another shape: the middle dot, bullets, the dot operator, the katakana
     * middle dot (Morse code is written with them: "− · ·−··" reads as "- . .-..") */
    if (c == 0x00B7 || c == 0x2022 || c == 0x2027 || c == 0x2219 || c == 0x22C5 || c == 0x30FB ||
        c == 0xFF65 || c == 0x1427) {
        put(out, len, '.');
        return;
    }
    if (u_hasBinaryProperty(c, UCHAR_QUOTATION_MARK) && t != U_OTHER_PUNCTUATION) {
        /* the curly ones and the angle ones: double or single by their look */
        static const UChar32 dbl[] = {0x201C, 0x201D, 0x201E, 0x201F, 0x00AB, 0x00BB,
                                      0x301D, 0x301E, 0x301F, 0x2E42};
        for (size_t i = 0; i < sizeof dbl / sizeof *dbl; i++)
            if (dbl[i] == c) {
                put(out, len, '"');
                return;
            }
        if (c >= 0x2018 && c <= 0x203A) {
            put(out, len, '\'');
            return;
        }
    }
    /* Case first, then the look-alike: an upper-case Cyrillic word and its lower-case
     * form fold alike (ЗАБУДЬ and забудь), and a capital I look-alike becomes i, not the
     * l that the confusables data gives the capitals. */
    UChar in[2], folded[8];
    int32_t n = 0;
    U16_APPEND_UNSAFE(in, n, c);
    UErrorCode e = U_ZERO_ERROR;
    int32_t m = u_strFoldCase(folded, 8, in, n, U_FOLD_CASE_DEFAULT, &e);
    if (U_FAILURE(e))
        die("u_strFoldCase", e);
    for (int32_t i = 0; i < m;) {
        UChar32 f;
        U16_NEXT(folded, i, m, f);
        int fs = f >= 0x80 ? skeleton_ascii(sc, f) : 0;
        if (!fs && f >= 0x80)
            fs = latin_by_name(f);
        if (!fs && f >= 0x80)
            fs = capital_look_alike(sc, f);
        if (!fs && f >= 0x80)
            fs = faux_cyrillic(f);
        put(out, len, fs ? fs : f);
    }
}

/* Invisible characters that a reader may take for a break between words as well as for
 * nothing: zero-width space, word joiner and invisible operators, zero-width (non-)joiner,
 * soft hyphen, direction marks, Mongolian vowel separator, the Hangul fillers. */
static bool is_sep(UChar32 c)
{
    return (c >= 0x200B && c <= 0x200F) || (c >= 0x2060 && c <= 0x2064) || c == 0x00AD ||
           c == 0x180E || c == 0x3164 || c == 0x115F || c == 0x1160 || c == 0xFFA0;
}

/* The mapping of c: -1 identity, -2 drop, -3 drop or space (is_sep), else the length of
 * out. */
static int map(const UNormalizer2 *nfkd, USpoofChecker *sc, UChar32 c, char *out)
{
    if ((c >= 0xD800 && c <= 0xDFFF) || u_charType(c) == U_UNASSIGNED ||
        u_charType(c) == U_PRIVATE_USE_CHAR)
        return -1;
    /* Tag characters spell ASCII that models read ("ASCII smuggling"): the ASCII itself. */
    if (c >= 0xE0020 && c <= 0xE007E) {
        out[0] = (char)(c - 0xE0000);
        return 1;
    }
    /* Braille: the 26 letters, read as letters (a model reads "⠞⠑⠇⠇" as "tell"), and the
     * blank cell as a space; other cells (contractions, signs) stay. Of the 8-dot cells, the
     * dots 7 and 8 are set aside (computer Braille marks a capital with dot 7: "⡊" is "J"),
     * and a cell of them alone stays. */
    if (c >= 0x2800 && c <= 0x28FF && (c <= 0x283F || ((c - 0x2800) & 0x3F) != 0)) {
        UChar32 cell = 0x2800 + ((c - 0x2800) & 0x3F);
        static const unsigned char dots[26] = {0x01, 0x03, 0x09, 0x19, 0x11, 0x0B, 0x1B, 0x13, 0x0A,
                                               0x1A, 0x05, 0x07, 0x0D, 0x1D, 0x15, 0x0F, 0x1F, 0x17,
                                               0x0E, 0x1E, 0x25, 0x27, 0x3A, 0x2D, 0x3D, 0x35};
        if (c == 0x2820) /* the capital sign: the letter after it is the same letter */
            return -2;
        out[0] = ' ';
        for (int l = 0; l < 26 && c != 0x2800; l++)
            out[0] = cell - 0x2800 == dots[l] ? (char)('a' + l) : out[0];
        return out[0] == ' ' && c != 0x2800 ? -1 : 1;
    }
    /* The skin tone modifiers: no letter, and between flag letters ("🇮🏻🇬🏻") they hide
     * the word the letters spell. */
    if (c >= 0x1F3FB && c <= 0x1F3FF)
        return -2;
    if (is_sep(c))
        return -3;
    if (is_drop(c))
        return -2;
    if (is_space(c)) {
        out[0] = ' ';
        return 1;
    }
    if (c >= 0xAC00 && c <= 0xD7A3)
        return -1;
    /* A digit in a circle, a parenthesis, a dingbat, with a full stop or a comma: the digit
     * (its decomposition, where it has one, puts brackets or punctuation around it). */
    int8_t type = u_charType(c);
    if (type == U_OTHER_NUMBER) {
        double v = u_getNumericValue(c);
        if (v >= 0 && v <= 9 && v == (int)v) {
            out[0] = (char)('0' + (int)v);
            return 1;
        }
    }
    UChar in[2], dec[64];
    int32_t n = 0;
    U16_APPEND_UNSAFE(in, n, c);
    UErrorCode e = U_ZERO_ERROR;
    int32_t m = unorm2_normalize(nfkd, in, n, dec, 64, &e);
    if (U_FAILURE(e))
        die("unorm2_normalize", e);
    int len = 0;
    for (int32_t i = 0; i < m && len < MAX_OUT - 8;) {
        UChar32 d;
        U16_NEXT(dec, i, m, d);
        if (is_drop(d))
            continue;
        if (d < 0x80)
            put(out, &len, d);
        else if (is_space(d))
            put(out, &len, ' ');
        else
            map_char(sc, d, out, &len);
    }
    if (len == 0)
        return -2;
    /* "(a)", "(12)", "1.", "4,": the letters or digits alone */
    if (len >= 3 && out[0] == '(' && out[len - 1] == ')') {
        bool alnum = true;
        for (int i = 1; i < len - 1; i++)
            alnum = alnum && ((out[i] >= '0' && out[i] <= '9') || (out[i] >= 'a' && out[i] <= 'z') ||
                              (out[i] >= 'A' && out[i] <= 'Z'));
        if (alnum) {
            memmove(out, out + 1, (size_t)len - 2);
            len -= 2;
        }
    } else if (len >= 2 && (out[len - 1] == '.' || out[len - 1] == ',') && out[0] >= '0' &&
               out[0] <= '9' && type == U_OTHER_NUMBER) {
        len--;
    }
    /* A symbol that spells a word (№ No, ℡ TEL, ™ TM, ㎝ cm) or an ordinal indicator (º, ª)
     * is not part of the word or number next to it: "№4111..." is a number after "No". */
    int letters = 0;
    for (int i = 0; i < len; i++)
        letters += (out[i] >= 'a' && out[i] <= 'z') || (out[i] >= 'A' && out[i] <= 'Z');
    if (c == 0xAA || c == 0xBA) {
        out[0] = ' ';
        return 1;
    }
    if ((type == U_OTHER_SYMBOL || type == U_MATH_SYMBOL || type == U_CURRENCY_SYMBOL ||
         type == U_MODIFIER_SYMBOL) && letters >= 2 && len + 2 <= MAX_OUT) {
        memmove(out + 1, out, (size_t)len);
        out[0] = ' ';
        out[len + 1] = ' ';
        len += 2;
    }
    char self[8];
    int sl = 0;
    put(self, &sl, c);
    if (sl == len && memcmp(self, out, (size_t)len) == 0)
        return -1;
    return len;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_normtab OUT.c\n");
        return 2;
    }
    UErrorCode e = U_ZERO_ERROR;
    const UNormalizer2 *nfkd = unorm2_getNFKDInstance(&e);
    if (U_FAILURE(e))
        die("unorm2_getNFKDInstance", e);
    USpoofChecker *sc = uspoof_open(&e);
    if (U_FAILURE(e))
        die("uspoof_open", e);

    enum { BLOCKS = 0x110000 >> 8 };
    static uint32_t entry[0x110000];
    static char pool[1 << 20];
    size_t pool_len = 0;
    for (UChar32 c = 0x80; c < 0x110000; c++) {
        char out[MAX_OUT];
        int n = map(nfkd, sc, c, out);
        if (n == -1)
            continue;
        if (n == -2 || n == -3) {
            entry[c] = n == -2 ? NT_DROP : NT_SEP;
            continue;
        }
        /* share the pool: the same string is stored once (most are one ASCII byte) */
        char *hit = NULL;
        for (size_t at = 0; at + (size_t)n <= pool_len && !hit && n == 1; at++)
            if (pool[at] == out[0])
                hit = pool + at;
        if (!hit) {
            if (pool_len + (size_t)n > sizeof pool) {
                fprintf(stderr, "gen_normtab: pool full\n");
                return 1;
            }
            hit = memcpy(pool + pool_len, out, (size_t)n);
            pool_len += (size_t)n;
        }
        entry[c] = (uint32_t)(hit - pool) << 8 | (uint32_t)n | (apart(c) ? NT_APART : 0);
    }
    uspoof_close(sc);

    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fprintf(f, "/* Generated by gen_normtab from ICU %s (Unicode %s). Do not edit. */\n",
            U_ICU_VERSION, U_UNICODE_VERSION);
    fprintf(f, "#include <stdint.h>\n\n");
    static uint16_t stage1[BLOCKS];
    unsigned nblocks = 1; /* block 0: all identity */
    for (unsigned b = 0; b < BLOCKS; b++) {
        bool any = false;
        for (unsigned i = 0; i < 256 && !any; i++)
            any = entry[b << 8 | i] != 0;
        stage1[b] = any ? (uint16_t)nblocks++ : 0;
    }
    fprintf(f, "const uint16_t gw_normtab_stage1[%u] = {", BLOCKS);
    for (unsigned b = 0; b < BLOCKS; b++)
        fprintf(f, "%s%u,", b % 24 ? "" : "\n", stage1[b]);
    fprintf(f, "\n};\n\nconst uint32_t gw_normtab_stage2[%u][256] = {\n{0},\n", nblocks);
    for (unsigned b = 0; b < BLOCKS; b++) {
        if (!stage1[b])
            continue;
        fprintf(f, "{ /* U+%04X */", b << 8);
        for (unsigned i = 0; i < 256; i++)
            fprintf(f, "%s%u,", i % 12 ? "" : "\n", entry[b << 8 | i]);
        fprintf(f, "\n},\n");
    }
    fprintf(f, "};\n\nconst unsigned char gw_normtab_pool[%zu] = {", pool_len ? pool_len : 1);
    for (size_t i = 0; i < pool_len; i++)
        fprintf(f, "%s%u,", i % 24 ? "" : "\n", (unsigned char)pool[i]);
    fprintf(f, "%s\n};\n", pool_len ? "" : "0");
    return fclose(f) == 0 ? 0 : 1;
}
