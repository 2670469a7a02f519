/* How often the decoder reads ordinary text another way, and how often it reads text that
 * was written another way, over the project's own rows (train/, tests/data/: written for
 * this project, never evaluation rows): ordinary prompts must seldom hold a way of writing,
 * and the project's attack rows written backwards, in ROT13, in leetspeak, a letter at a
 * time, run together, with their key words misspelt or with their words joined by "_", in
 * Caesar shifts, in Atbash, spelt in NATO code words, upside down or in Morse code must be read
 * back. Floors sit under what is measured (in the comments), so that a change to the decoder that
 * loses a way of writing fails here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include <glob.h>

#include <cjson/cJSON.h>

#include "screen/decode.h"
#include "screen/keywords.h"

#define NO_LIMIT ((size_t)1 << 30)

struct texts {
    char **v;
    size_t n, cap;
};

static void add(struct texts *t, const char *s)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 1024;
        t->v = realloc(t->v, t->cap * sizeof *t->v);
        assert_non_null(t->v);
    }
    t->v[t->n] = strdup(s);
    assert_non_null(t->v[t->n]);
    t->n++;
}

/* The "text" of every row of a JSON Lines file, or every line of a text file. */
static void load(struct texts *t, const char *path, int jsonl)
{
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    static char line[1 << 16];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!jsonl) {
            if (line[0])
                add(t, line);
            continue;
        }
        cJSON *row = cJSON_Parse(line);
        assert_non_null(row);
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(row, "text");
        assert_true(cJSON_IsString(text));
        add(t, text->valuestring);
        cJSON_Delete(row);
    }
    fclose(f);
}

static void texts_free(struct texts *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i]);
    free(t->v);
}

/* Whether the decoder reads text one of the ways of writing (enc), or any when enc < 0. */
static int reads(struct gw_decoded *d, const char *text, int enc)
{
    assert_int_equal(gw_decode_find_written(text, strlen(text), NO_LIMIT, d), 0);
    for (size_t k = 0; k < d->n; k++)
        if (enc < 0 ? d->v[k].enc > GW_ENC_UESC && d->v[k].enc != GW_ENC_INPLACE
                    : (int)d->v[k].enc == enc)
            return 1;
    return 0;
}

static void ordinary_prompts_are_seldom_read_another_way(void **state)
{
    (void)state;
    glob_t files;
    assert_int_equal(glob(GW_SOURCE_DIR "/train/own-benign*.jsonl", 0, NULL, &files), 0);
    struct texts t = {0};
    for (size_t i = 0; i < files.gl_pathc; i++)
        load(&t, files.gl_pathv[i], 1);
    globfree(&files);
    load(&t, GW_SOURCE_DIR "/tests/data/benign_multilingual.txt", 0);
    struct gw_decoded d = {0};
    size_t read = 0;
    for (size_t i = 0; i < t.n; i++)
        if (reads(&d, t.v[i], -1)) {
            read++;
            if (getenv("GW_TEST_VERBOSE"))
                print_message("read another way: %s\n", t.v[i]);
        }
    print_message("%zu of %zu ordinary prompts read another way\n", read, t.n);
    assert_true(t.n > 4000);
    /* measured: 20 of 9,078 (code identifiers among them, a request in pig latin, and key words
     * misspelt for real: "says pasword expired", "turn this recipe into a bulet list") */
    assert_true(read * 1000 <= t.n * 3);
    gw_decoded_free(&d);
    texts_free(&t);
}

/* The ways of writing, applied to a text: each returns a new string. */
static char *backwards(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(n + 1);
    assert_non_null(o);
    size_t w = 0;
    for (size_t e = n; e > 0;) {
        size_t b = e - 1;
        while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80)
            b--;
        memcpy(o + w, s + b, e - b);
        w += e - b;
        e = b;
    }
    o[w] = '\0';
    return o;
}

static char *rot13(const char *s)
{
    char *o = strdup(s);
    assert_non_null(o);
    for (char *p = o; *p; p++) {
        if (*p >= 'a' && *p <= 'z')
            *p = (char)('a' + (*p - 'a' + 13) % 26);
        else if (*p >= 'A' && *p <= 'Z')
            *p = (char)('A' + (*p - 'A' + 13) % 26);
    }
    return o;
}

/* Every other a, e, i, o, s and t, of each word, as 4, 3, 1, 0, 5 and 7. */
static char *leet(const char *s)
{
    char *o = strdup(s);
    assert_non_null(o);
    int k = 0;
    for (char *p = o; *p; p++) {
        const char *from = "aeiost", *to = "431057";
        const char *at = strchr(from, *p | 0x20);
        if (at && *p && (*p | 0x20) >= 'a' && k++ % 2 == 0)
            *p = to[at - from];
    }
    return o;
}

/* The letters of each word joined by sep, the words by a space. */
static char *apart(const char *s, char sep)
{
    char *o = malloc(2 * strlen(s) + 1);
    assert_non_null(o);
    size_t w = 0;
    for (const char *p = s; *p; p++) {
        o[w++] = *p;
        int here = ((unsigned char)*p | 0x20) >= 'a' && ((unsigned char)*p | 0x20) <= 'z';
        int next = ((unsigned char)p[1] | 0x20) >= 'a' && ((unsigned char)p[1] | 0x20) <= 'z';
        if (here && next)
            o[w++] = sep;
    }
    o[w] = '\0';
    return o;
}

/* Words run together four at a time: of each four spaces between letters, three go. */
static char *joined(const char *s)
{
    char *o = strdup(s);
    assert_non_null(o);
    size_t w = 0, gaps = 0;
    for (const char *p = s; *p; p++) {
        unsigned before = p > s ? (unsigned char)p[-1] | 0x20 : 0;
        unsigned after = (unsigned char)p[1] | 0x20;
        int prev = before >= 'a' && before <= 'z', next = after >= 'a' && after <= 'z';
        if (*p == ' ' && prev && next && gaps++ % 4 != 3)
            continue;
        o[w++] = *p;
    }
    o[w] = '\0';
    return o;
}

/* Words joined by "_" where the spaces were ("ignore_all_previous_instructions"): every
 * space between two letters. */
static char *marked(const char *s)
{
    char *o = strdup(s);
    assert_non_null(o);
    for (char *p = o; *p; p++) {
        unsigned before = p > o ? (unsigned char)p[-1] | 0x20 : 0;
        unsigned after = (unsigned char)p[1] | 0x20;
        if (*p == ' ' && before >= 'a' && before <= 'z' && after >= 'a' && after <= 'z')
            *p = '_';
    }
    return o;
}

/* Each space a " / " ("tell / me / how"): words parted by a mark. */
static char *parted(const char *s)
{
    char *o = malloc(3 * strlen(s) + 1);
    assert_non_null(o);
    size_t w = 0;
    for (const char *p = s; *p; p++) {
        if (*p == ' ') {
            memcpy(o + w, " / ", 3);
            w += 3;
        } else {
            o[w++] = *p;
        }
    }
    o[w] = '\0';
    return o;
}

/* Each key word (keywords.h) misspelt: a long one with its second and third letters
 * swapped, a short one with its last letter doubled ("isntructions", "yourr"). */
static char *slipped(const char *s)
{
    char *o = malloc(2 * strlen(s) + 1);
    assert_non_null(o);
    size_t w = 0;
    for (const char *p = s; *p;) {
        size_t n = 0;
        while (((unsigned char)p[n] | 0x20) >= 'a' && ((unsigned char)p[n] | 0x20) <= 'z')
            n++;
        if (n == 0) {
            o[w++] = *p++;
            continue;
        }
        int key = 0;
        for (size_t k = 0; k < GW_KEYS && !key; k++)
            key = strlen(gw_key_word[k]) == n && strncasecmp(p, gw_key_word[k], n) == 0;
        memcpy(o + w, p, n);
        if (key && n >= 6) {
            char c = o[w + 1];
            o[w + 1] = o[w + 2];
            o[w + 2] = c;
        } else if (key) {
            o[w + n] = p[n - 1];
            w++;
        }
        w += n;
        p += n;
    }
    o[w] = '\0';
    return o;
}

/* Each letter moved k places along the alphabet (k = 13 is ROT13), or, with k = 0, the
 * alphabet turned around (Atbash). */
static char *ciphered(const char *s, int k)
{
    char *o = strdup(s);
    assert_non_null(o);
    for (char *p = o; *p; p++) {
        int base = *p >= 'a' && *p <= 'z' ? 'a' : *p >= 'A' && *p <= 'Z' ? 'A' : 0;
        if (base)
            *p = (char)(base + (k ? (*p - base + k) % 26 : 25 - (*p - base)));
    }
    return o;
}

/* Each letter as its code (code[26], each under 10 bytes), the letters apart by " ", the
 * words of the text by " / ", everything but letters and spaces left out. */
static char *spelt(const char *s, const char *const *code)
{
    char *o = malloc(10 * strlen(s) + 1);
    assert_non_null(o);
    size_t w = 0;
    int word = 0; /* 1 after a letter of this word, 2 after a space that follows one */
    for (const char *p = s; *p; p++) {
        int l = (*p | 0x20) - 'a';
        if (l < 0 || l > 25 || !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
            word = word && *p == ' ' ? 2 : word;
            continue;
        }
        if (word)
            w += (size_t)sprintf(o + w, word == 2 ? " / " : " ");
        w += (size_t)sprintf(o + w, "%s", code[l]);
        word = 1;
    }
    o[w] = '\0';
    return o;
}

static char *nato(const char *s)
{
    static const char *const code[26] = {
        "Alfa",    "Bravo", "Charlie", "Delta",  "Echo",     "Foxtrot", "Golf",   "Hotel",  "India",
        "Juliett", "Kilo",  "Lima",    "Mike",   "November", "Oscar",   "Papa",   "Quebec", "Romeo",
        "Sierra",  "Tango", "Uniform", "Victor", "Whiskey",  "X-ray",   "Yankee", "Zulu"};
    return spelt(s, code);
}

/* s upside down, as a generator writes it (each letter turned, the text reversed), in the
 * normalised form the decoder reads: ƃ, ɟ, ɾ and ɯ are b, j, r and w there (normalise.h). */
static char *upside_down(const char *s)
{
    static const char *const turned[26] = {"\xc9\x90", "q",        "\xc9\x94",
                                           "p",        "\xc7\x9d", "j",
                                           "b",        "\xc9\xa5", "\xe1\xb4\x89",
                                           "r",        "\xca\x9e", "l",
                                           "w",        "u",        "o",
                                           "d",        "b",        "\xc9\xb9",
                                           "s",        "\xca\x87", "n",
                                           "\xca\x8c", "\xca\x8d", "x",
                                           "\xca\x8e", "z"};
    size_t len = strlen(s);
    char *o = malloc(3 * len + 1);
    assert_non_null(o);
    size_t w = 0;
    for (size_t e = len; e > 0;) {
        size_t b = e - 1;
        while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80)
            b--;
        int l = (s[b] | 0x20) - 'a';
        if (e - b == 1 && l >= 0 && l < 26 && ((s[b] | 0x20) >= 'a' && (s[b] | 0x20) <= 'z'))
            w += (size_t)sprintf(o + w, "%s", turned[l]);
        else
            for (size_t j = b; j < e; j++)
                o[w++] = s[j];
        e = b;
    }
    o[w] = '\0';
    return o;
}

/* s in Morse code: a space between letters, " / " between words; what is not a letter
 * is left out. */
static char *morse(const char *s)
{
    static const char *const code[26] = {".-",   "-...", "-.-.", "-..",  ".",    "..-.", "--.",
                                         "....", "..",   ".---", "-.-",  ".-..", "--",   "-.",
                                         "---",  ".--.", "--.-", ".-.",  "...",  "-",    "..-",
                                         "...-", ".--",  "-..-", "-.--", "--.."};
    return spelt(s, code);
}

/* s in pig latin: a word's first consonants (with a "u" after "q") moved to its end and
 * "ay" added, "way" after a word that begins with a vowel; the rest as it is. */
static char *pig_latin(const char *s)
{
    size_t len = strlen(s);
    char *o = malloc(2 * len + 4 * (len / 2 + 1) + 1);
    assert_non_null(o);
    size_t w = 0;
    for (size_t i = 0; i < len;) {
        int c = s[i] | 0x20;
        if (c < 'a' || c > 'z' || !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z'))) {
            o[w++] = s[i++];
            continue;
        }
        size_t b = i, e = i;
        while (e < len && (((s[e] | 0x20) >= 'a' && (s[e] | 0x20) <= 'z') &&
                           ((s[e] >= 'a' && s[e] <= 'z') || (s[e] >= 'A' && s[e] <= 'Z'))))
            e++;
        size_t k = b;
        while (k < e && !strchr("aeiouAEIOU", s[k]) && !(k > b && (s[k] | 0x20) == 'y'))
            k++;
        if (k < e && k > b && (s[k] | 0x20) == 'u' && (s[k - 1] | 0x20) == 'q')
            k++;
        if (k == e) /* no vowel: as it is */
            k = b;
        memcpy(o + w, s + k, e - k);
        w += e - k;
        memcpy(o + w, s + b, k - b);
        w += k - b;
        w += (size_t)sprintf(o + w, k == b ? "way" : "ay");
        i = e;
    }
    o[w] = '\0';
    return o;
}

static void attacks_written_another_way_are_read_back(void **state)
{
    (void)state;
    struct texts t = {0};
    load(&t, GW_SOURCE_DIR "/train/own-attacks.jsonl", 1);
    assert_true(t.n > 600);
    struct {
        const char *name;
        enum gw_encoding enc;
        size_t floor_permille; /* of rows read back at least */
        size_t read;
    } ways[] = {
        {"backwards", GW_ENC_REVERSED, 950, 0}, /* measured: 681 of 699 */
        {"rot13", GW_ENC_ROT13, 960, 0},        /* measured: 688 of 699 */
        {"leet", GW_ENC_LEET, 960, 0},          /* measured: 688 of 699 */
        {"apart", GW_ENC_SPACED, 960, 0},       /* measured: 688 of 699 */
        {"joined", GW_ENC_JOINED, 840, 0},      /* measured: 610 of 699 */
        {"misspelt", GW_ENC_MISSPELT, 820, 0},  /* measured: 620 of 699 (others hold no key word) */
        {"marked", GW_ENC_MISSPELT, 280, 0}, /* measured: 220 of 699 (the others hold no key word,
                                              * or their runs are no clause of their own) */
        {"caesar3", GW_ENC_CIPHER, 940, 0},  /* measured: 679 of 699 */
        {"caesar20", GW_ENC_CIPHER, 940, 0}, /* measured: 674 of 699 */
        {"atbash", GW_ENC_CIPHER, 940, 0},   /* measured: 677 of 699 */
        {"nato", GW_ENC_NATO, 960, 0},       /* measured: 692 of 699 */
        {"upside", GW_ENC_FLIPPED, 960, 0},  /* measured: 692 of 699 */
        {"morse", GW_ENC_MORSE, 960, 0},     /* measured: 692 of 699 */
        {"pig", GW_ENC_PIG, 950, 0},         /* measured: 685 of 699 */
        {"parted", GW_ENC_PARTED, 880, 0},   /* measured: 641 of 699 */
    };
    enum { WAYS = sizeof ways / sizeof *ways };
    struct gw_decoded d = {0};
    for (size_t i = 0; i < t.n; i++) {
        char *w[WAYS] = {backwards(t.v[i]),   rot13(t.v[i]),       leet(t.v[i]),
                         apart(t.v[i], '-'),  joined(t.v[i]),      slipped(t.v[i]),
                         marked(t.v[i]),      ciphered(t.v[i], 3), ciphered(t.v[i], 20),
                         ciphered(t.v[i], 0), nato(t.v[i]),        upside_down(t.v[i]),
                         morse(t.v[i]),       pig_latin(t.v[i]),   parted(t.v[i])};
        for (int k = 0; k < WAYS; k++) {
            ways[k].read += reads(&d, w[k], (int)ways[k].enc);
            free(w[k]);
        }
    }
    for (int k = 0; k < WAYS; k++) {
        print_message("%s: %zu of %zu read back\n", ways[k].name, ways[k].read, t.n);
        assert_true(ways[k].read * 1000 >= t.n * ways[k].floor_permille);
    }
    gw_decoded_free(&d);
    texts_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ordinary_prompts_are_seldom_read_another_way),
        cmocka_unit_test(attacks_written_another_way_are_read_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
