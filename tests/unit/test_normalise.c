/* The normaliser: each class of obfuscation folds to the plain form, the map takes every
 * normalised byte back to the original character it came from, and a stream cut at any
 * byte normalises exactly as the whole text does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "screen/normalise.h"

/* The normal form of s, as a NUL-terminated string the caller frees. */
static char *norm(const char *s)
{
    struct gw_norm nm = {0};
    assert_int_equal(gw_norm_text(&nm, s, strlen(s)), 0);
    char *out = strndup(nm.text.data ? nm.text.data : "", nm.text.len);
    gw_norm_free(&nm);
    return out;
}

#define EXPECT(in, want)                                                                     \
    do {                                                                                     \
        char *got_ = norm(in);                                                               \
        if (strcmp(got_, (want)) != 0)                                                      \
            fail_msg("normalised \"%s\": got \"%s\", want \"%s\"", (in), got_, (want));      \
        free(got_);                                                                          \
    } while (0)

static void plain_ascii_is_its_own_normal_form(void **state)
{
    assert_true(gw_norm_is_plain("Hello, world! 4111 1111.", 24));
    assert_true(gw_norm_is_plain("", 0));
    assert_false(gw_norm_is_plain("two  spaces", 11));
    assert_false(gw_norm_is_plain("a\tb", 3));
    assert_false(gw_norm_is_plain("line\n", 5));
    assert_false(gw_norm_is_plain("caf\xc3\xa9", 5));
    assert_false(gw_norm_is_plain("nul\0", 4));
    assert_false(gw_norm_is_plain("del\x7f", 4));
    EXPECT("Hello, World! ~`{}|", "Hello, World! ~`{}|");
}

/* The check reads eight bytes at a time: every byte value at every place of a text that
 * spans several words (and starts off a word's alignment), and two spaces across every
 * word boundary, must give what a byte-by-byte reading gives. */
static void the_plain_check_sees_every_byte(void **state)
{
    char buf[48];
    for (size_t start = 0; start < 2; start++) {
        for (size_t pos = 0; pos < 40; pos++) {
            for (unsigned b = 0; b < 256; b++) {
                memset(buf, 'a', sizeof buf);
                buf[start + pos] = (char)b;
                bool want = b >= 0x20 && b <= 0x7e;
                if (gw_norm_is_plain(buf + start, 40) != want)
                    fail_msg("byte 0x%02x at %zu (start %zu): want %d", b, pos, start, want);
            }
            memset(buf, 'a', sizeof buf);
            buf[start + pos] = ' ';
            assert_true(gw_norm_is_plain(buf + start, 40));
            if (pos + 1 < 40) {
                buf[start + pos + 1] = ' ';
                if (gw_norm_is_plain(buf + start, 40))
                    fail_msg("two spaces at %zu (start %zu) read as plain", pos, start);
                buf[start + pos + 1] = 'a';
            }
            if (pos + 2 < 40) {
                buf[start + pos + 2] = ' ';
                assert_true(gw_norm_is_plain(buf + start, 40));
            }
        }
    }
}

static void invisible_characters_are_removed(void **state)
{
    EXPECT("4111\xe2\x80\x8b" "1111", "41111111");      /* zero-width space */
    EXPECT("ig\xe2\x80\x8c" "no\xe2\x80\x8dre", "ignore"); /* ZWNJ, ZWJ */
    EXPECT("ig\xe2\x81\xa0nore\xef\xbb\xbf", "ignore");   /* word joiner, BOM */
    EXPECT("pre\xc2\xadvious", "previous");                /* soft hyphen */
    EXPECT("\xe2\x80\xae" "abc\xe2\x80\xac", "abc");        /* bidi override, pop */
    EXPECT("a\xe2\x81\xa6" "b\xe2\x81\xa9", "ab");          /* bidi isolates */
    EXPECT("ok\xef\xb8\x8f", "ok");                        /* variation selector 16 */
    EXPECT("x\xf3\xa0\x84\x80y", "xy");                    /* variation selector 17 */
    EXPECT("a\xf3\xa0\x80\x81" "b\xf3\xa0\x81\xbf", "ab"); /* language tag, cancel tag */
    EXPECT("\xe3\x85\xa4hi", "hi");                        /* Hangul filler */
}

static void compatibility_forms_fold(void **state)
{
    EXPECT("\xef\xbc\x94\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91", "4111"); /* fullwidth */
    EXPECT("a\xef\xbc\xa0" "b", "a@b");                            /* fullwidth @ */
    EXPECT("\xef\xac\x81nd", "find");                              /* ligature fi */
    EXPECT("\xe2\x91\xa0\xe2\x91\xa1", "12");                      /* circled digits */
    EXPECT("x\xc2\xb2", "x2");                                     /* superscript two */
    EXPECT("\xf0\x9d\x90\x80\xf0\x9d\x90\x9b", "Ab");              /* mathematical bold */
    EXPECT("\xe2\x93\x90\xe2\x93\x91", "ab");                      /* circled letters */
    EXPECT("\xef\xbd\xb1", "\xe3\x82\xa2");                         /* halfwidth katakana */
}

static void look_alikes_fold_to_latin(void **state)
{
    EXPECT("j\xd0\xbe\xd0\xb5@ex\xd0\xb0mple.com", "joe@example.com"); /* Cyrillic о е а */
    EXPECT("\xce\xbf\xce\xbd", "ov");                                   /* Greek ο ν */
    EXPECT("\xd0\xa0\xd0\x90Y", "paY");   /* case folded first, then the look-alike */
    EXPECT("\xd9\xa4\xd9\xa1", "41");                                   /* Arabic-Indic */
    EXPECT("\xe0\xa5\xaa\xe0\xa5\xa8", "42");                           /* Devanagari */
    EXPECT("123\xe2\x80\x93" "45\xe2\x80\x94" "6789", "123-45-6789");   /* en, em dash */
    EXPECT("don\xe2\x80\x99t \xe2\x80\x9cyes\xe2\x80\x9d", "don't \"yes\"");
}

/* Tag characters and Braille spell ASCII that a model reads: they become that ASCII. */
static void tag_characters_become_the_ascii_they_spell(void **state)
{
    EXPECT("a\xf3\xa0\x81\xa9\xf3\xa0\x81\xa7" "b", "aigb"); /* tags i, g */
    EXPECT("\xf3\xa0\x80\xa0", " ");                            /* tag space */
    /* Braille's letters and blank cell; its other cells stay */
    EXPECT("\xe2\xa0\x9e\xe2\xa0\x91\xe2\xa0\x87\xe2\xa0\x87\xe2\xa0\x80\xe2\xa0\xbf",
           "tell \xe2\xa0\xbf");
    EXPECT("\xe2\xa0\xa0\xe2\xa0\x9e\xe2\xa0\x95", "to"); /* the capital sign is nothing */
    /* 8-dot cells read as their six dots (dot 7 marks a capital: "⡞⡑⡇⡇"); dots 7 and 8
     * alone, or with a cell that is no letter, stay */
    EXPECT("\xe2\xa1\x9e\xe2\xa1\x91\xe2\xa1\x87\xe2\xa3\x87 \xe2\xa1\x80\xe2\xa3\xbf",
           "tell \xe2\xa1\x80\xe2\xa3\xbf");
    /* the Arabic tatweel stretches a word: "قـنـبـلـة" is "قنبلة" */
    EXPECT("\xd9\x82\xd9\x80\xd9\x86\xd9\x80\xd8\xa8", "\xd9\x82\xd9\x86\xd8\xa8");
}

static void more_look_alikes_fold(void **state)
{
    EXPECT("\xce\x99GNORE", "iGNORE");              /* Greek capital iota: i, not l */
    /* small letters whose capitals look Latin: Greek epsilon and beta, Cyrillic em and te;
     * not Cyrillic ze, whose capital looks like a 3 */
    EXPECT("ign\xce\xb5 \xce\xb2omb \xd0\xbc\xd1\x82", "igne bomb mt");
    EXPECT("\xd0\xb7", "\xd0\xb7");
    /* "faux Cyrillic": small letters that read as Latin ones among them (п n, и u, г r,
     * ш w), though no confusables data says so */
    EXPECT("ig\xd0\xbfo\xd0\xb3"
           "e yo\xd0\xb8\xd0\xb3 \xd1\x88"
           "ay",
           "ignore your way");
    EXPECT("\xc9\xaa\xc9\xa2\xc9\xb4\xe1\xb4\x8f\xca\x80\xe1\xb4\x87", "ignore"); /* small capitals */
    EXPECT("ign\xc3\xb8re \xc9\x87", "ignore e");      /* stroke */
    EXPECT("\xf0\x9f\x85\xb8\xf0\x9f\x85\xb6", "IG"); /* negative squared */
    /* regional indicators spell words to a model; a flag reads as its country code */
    EXPECT("\xf0\x9f\x87\xae\xf0\x9f\x87\xac\xf0\x9f\x87\xb3", "ign");
    EXPECT("to \xf0\x9f\x87\xab\xf0\x9f\x87\xb7!", "to fr!");
    /* skin tone modifiers are nothing: between flag letters they hid the word */
    EXPECT("\xf0\x9f\x87\xae\xf0\x9f\x8f\xbb\xf0\x9f\x87\xac\xf0\x9f\x8f\xbf ok "
           "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
           "ig ok \xf0\x9f\x91\x8d");
    EXPECT("\xe2\x9d\xb9\xe2\x9d\xb6", "41");          /* dingbat digits */
    EXPECT("\xe2\x91\xb7\xe2\x91\xb4", "41");          /* parenthesised digits */
    EXPECT("\xe2\x92\x8b\xe2\x92\x88", "41");          /* digits with a full stop */
    EXPECT("\xe2\x92\x9c", "a");                         /* parenthesised letter */
    EXPECT("\xe2\x84\x96" "4111", " No 4111");         /* numero sign: not glued */
    EXPECT("n\xc2\xba" "4111", "n 4111");               /* ordinal indicator */
    EXPECT("Acme\xe2\x84\xa2", "Acme TM ");              /* trade mark sign */
    EXPECT("a@b\xe3\x80\x82" "com", "a@b.com");          /* ideographic full stop */
    /* middle dot, bullet, dot operator and a minus sign: Morse code as typeset */
    EXPECT("\xe2\x88\x92 \xc2\xb7 \xe2\x80\xa2\xe2\x88\x92\xe2\x8b\x85", "- . .-.");
}

/* Superscripts and circled forms: glued in the normal form, apart in the second view. */
static void superscripts_are_glued_and_apart_in_the_second_view(void **state)
{
    EXPECT("1111\xc2\xb9 x", "11111 x");
    struct gw_norm nm = {.sep_space = true};
    assert_int_equal(gw_norm_text(&nm, "1111\xc2\xb9 x", 8), 0);
    assert_int_equal(nm.text.len, 8);
    assert_memory_equal(nm.text.data, "1111 1 x", 8);
    assert_true(nm.seps > 0);
    assert_int_equal(gw_norm_start(&nm, 5), 4); /* the 1 comes from the superscript */
    gw_norm_free(&nm);
}

static void marks_are_dropped_and_case_folded(void **state)
{
    EXPECT("caf\xc3\xa9", "cafe");                /* precomposed */
    EXPECT("cafe\xcc\x81", "cafe");               /* combining acute */
    struct gw_norm m = {0}; /* a mark goes with the letter it sits on */
    assert_int_equal(gw_norm_text(&m, "1\xcc\x81 x", 5), 0);
    assert_int_equal(gw_norm_end(&m, 1), 3);
    gw_norm_free(&m);
    EXPECT("\xc3\x9c" "ber", "Uber");             /* ASCII case kept */
    EXPECT("\xd0\x96\xd0\xb6", "\xd0\xb6\xd0\xb6"); /* Жж: folded */
    EXPECT("Stra\xc3\x9f" "e", "Strasse");        /* ß */
    EXPECT("\xed\x95\x9c\xea\xb8\x80", "\xed\x95\x9c\xea\xb8\x80"); /* Hangul kept whole */
}

static void every_space_becomes_one(void **state)
{
    EXPECT("a\t\n  b", "a b");
    EXPECT("4111\xc2\xa0" "1111\xe2\x80\x89" "1111", "4111 1111 1111"); /* NBSP, thin */
    EXPECT("a\xe3\x80\x80\xe2\x80\xa8 b", "a b");                      /* ideographic, LS */
    struct gw_norm nm = {0}; /* controls, NUL included */
    assert_int_equal(gw_norm_text(&nm, "a\0b\x01" "c\x7f", 6), 0);
    assert_int_equal(nm.text.len, 6);
    assert_memory_equal(nm.text.data, "a b c ", 6);
    gw_norm_free(&nm);
    EXPECT("a \xe2\x80\x8b b", "a b");      /* a removed character inside a run */
}

static void invalid_bytes_become_replacement_characters(void **state)
{
    EXPECT("a\xff" "b", "a\xef\xbf\xbd" "b");
    EXPECT("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd");   /* overlong */
    EXPECT("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* surrogate */
    EXPECT("end\xe2\x82", "end\xef\xbf\xbd\xef\xbf\xbd"); /* cut short */
}

/* Every normalised byte maps into the original character it came from, in order. */
static void check_map(const struct gw_norm *nm, const char *orig, size_t len)
{
    size_t prev = 0;
    for (size_t i = 0; i < nm->text.len; i++) {
        size_t s = gw_norm_start(nm, i), e = gw_norm_end(nm, i + 1);
        assert_true(s < e);
        assert_true(e <= len);
        assert_true(s >= prev);
        prev = s;
        /* a copied byte maps to the same byte */
        if (e - s == 1 && (unsigned char)orig[s] < 0x80 && orig[s] > ' ')
            assert_int_equal(nm->text.data[i], orig[s]);
    }
}

static void spans_map_back_to_whole_original_characters(void **state)
{
    /* "card ４１\u200b１１ x": the digits are 3 bytes each, the ZWSP goes */
    const char *t = "card \xef\xbc\x94\xef\xbc\x91\xe2\x80\x8b\xef\xbc\x91\xef\xbc\x91 x";
    struct gw_norm nm = {0};
    assert_int_equal(gw_norm_text(&nm, t, strlen(t)), 0);
    assert_int_equal(nm.text.len, 11);
    assert_memory_equal(nm.text.data, "card 4111 x", 11);
    /* normalised [5, 9) is "4111": original bytes 5 to 20, the ZWSP inside included */
    assert_int_equal(gw_norm_start(&nm, 5), 5);
    assert_int_equal(gw_norm_end(&nm, 9), 20);
    assert_int_equal(gw_norm_start(&nm, 6), 8);
    assert_int_equal(gw_norm_end(&nm, 7), 14); /* the ZWSP after it goes with it */
    assert_int_equal(gw_norm_start(&nm, 7), 14); /* after the ZWSP */
    assert_int_equal(gw_norm_end(&nm, 8), 17);
    assert_int_equal(gw_norm_end(&nm, 11), strlen(t));
    assert_int_equal(gw_norm_start(&nm, 11), strlen(t)); /* the end */
    check_map(&nm, t, strlen(t));

    const char *u = "a  \t b\xc2\xa0\xc2\xa0" "c";
    assert_int_equal(gw_norm_text(&nm, u, strlen(u)), 0);
    assert_memory_equal(nm.text.data, "a b c", 5);
    assert_int_equal(gw_norm_start(&nm, 1), 1);
    assert_int_equal(gw_norm_end(&nm, 2), 5); /* the space, and the rest of its run */
    assert_int_equal(gw_norm_start(&nm, 2), 5);
    assert_int_equal(gw_norm_start(&nm, 4), 10);
    check_map(&nm, u, strlen(u));
    gw_norm_free(&nm);
}

/* The texts the stream tests cut everywhere: every class above, mixed. */
static const char *const mixed[] = {
    "card \xef\xbc\x94\xef\xbc\x91\xe2\x80\x8b\xef\xbc\x91\xef\xbc\x91 x",
    "ign\xe2\x80\x8bore\t\tall  pre\xc2\xadvious \xd0\xb0nd j\xd0\xbe\xd0\xb5@ex.com",
    "caf\xc3\xa9 cafe\xcc\x81 Stra\xc3\x9f"
    "e \xf0\x9d\x90\x80 \xf0\x9f\x98\x80 \xed\x95\x9c",
    "bad \xff\xc0\xaf \xed\xa0\x80 \xe2\x82 end \xf4\x90\x80\x80 \xf0\x9f",
    "\xe2\x80\xae\xc2\xa0\xc2\xa0 123\xe2\x80\x93"
    "45 \xef\xac\x81 \xe2\x91\xa0\x01\x02 ",
    /* markup, which the render view reads as shown */
    "_4111_ **1111** &#49;111&nbsp;1111 sk_live_x ghp\\_a <b>536</b>-22<br>x &amp; AT&T &#x34",
    "<!-- c --><span class=\"a\">j</span>@e.com [t](u) ~~s~~ `c` <x> &bogus; &#; a_ __b &",
    "x \xe2\x80\xae"
    "1111 2114\xe2\x80\xac y \xe2\x80\xab"
    "ab cd\xe2\x80\xac \xe2\x81\xa7"
    "e\xc3\xa9 f\n g \xe2\x80\xaeh",
    /* Chinese numerals: a run of four is digits, fewer are words */
    "\xe5\x9b\x9b\xe4\xb8\x80\xe4\xb8\x80\xe4\xb8\x80\xe3\x80\x80\xe4\xb8\x80-"
    "\xe5\xa3\xb9 \xe4\xb8\x80\xe7\x9b\xb4 \xe4\xb8\x89\xe4\xb8\x89\xe4\xb8\xa4",
    "5\xe4\xb8\x89"
    "6\xe4\xba\x8c"
    "2\xe4\xb8\x80\xe3\x80\x81\xe4\xb8\x80"
    "2\xe4\xb8\x89"
    "4\xe3\x80\x81 x",
};

/* Replies are read as the customer's window shows them: markdown, entities, tags. */
static void markup_is_read_as_rendered_in_the_render_view(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"_4111 1111 1111 1111_", "4111 1111 1111 1111"},
        {"**536**-22-1234", "536-22-1234"},
        {"11*1*1 ~~x~~ `y`", "1111 x y"},
        {"sk_live_4eC39 and my_var_ ok", "sk_live_4eC39 and my_var ok"},
        {"__AKIA__", "AKIA"},
        {"ghp\\_aBc \\*", "ghp_aBc *"},
        {"&#52;111&nbsp;1111&#x20;2&#49", "4111 1111 21"},
        {"a&commat;b&period;c &amp;lt; AT&T &bogus; &#;", "a@b.c &lt; AT&T &bogus; &#;"},
        {"<b>536</b>-22<br>1234 <!-- x -->y", "536-22 1234 y"},
        {"<span style=\"c\">j</span>@e.com", "j@e.com"},
        {"a < b > c <custom> <x-y a=1>d <b", "a < b > c d <b"},
        {"we <b!>gua</b!>rantee j<x\">@e.c", "we guarantee j@e.c"},
        /* right to left: an override turns the characters, an embedding the words */
        {"c \xe2\x80\xae"
         "1111 2114\xe2\x80\xac.",
         "c 4112 1111."},
        {"c \xe2\x80\xab"
         "1111 4111\xe2\x80\xac ok \xe2\x81\xa7"
         "a b\n",
         "c 4111 1111 ok b a "},
        /* read as shown inside the run, then turned (review 35) */
        {"c \xe2\x80\xae"
         "11<b></b>1&#52; 1111\xe2\x80\xac.",
         "c 1111 4111."},
        {"[4111](u) [x] [a][l] b ![i](y)z", "4111 x a b iz"},
        {"&#0000052;1&nbsp1111 &NonBreakingSpace;x&ThinSpace;y", "41 1111 x y"},
        {"<b title=\">\">4</b>1<!-->1<!-- a --!>1<?x?>1<![CDATA[z]]>1<!x>1", "4111111"},
        {"4111\\\n1111 <center>2</center>3 <sup>1</sup>", "4111 1111 2 3 1 "},
    };
    struct gw_norm nm = {.render = true};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(gw_norm_text(&nm, cases[i].in, strlen(cases[i].in)), 0);
        if (nm.text.len != strlen(cases[i].out) ||
            memcmp(nm.text.data, cases[i].out, nm.text.len) != 0)
            fail_msg("%s: got '%.*s', want '%s'", cases[i].in, (int)nm.text.len, nm.text.data,
                     cases[i].out);
        check_map(&nm, cases[i].in, strlen(cases[i].in));
    }
    /* read as written outside the render view */
    struct gw_norm plain = {0};
    assert_int_equal(gw_norm_text(&plain, "_4111_ &#52;", 12), 0);
    assert_memory_equal(plain.text.data, "_4111_ &#52;", 12);
    assert_false(gw_norm_has_markup("4111 1111", 9));
    assert_true(gw_norm_has_markup("4111 _1111_", 11));
    gw_norm_free(&nm);
    gw_norm_free(&plain);
}

static void stream_normalises_like_the_whole_text_at_every_cut(void **state)
{
    for (size_t k = 0; k < 2 * (sizeof mixed / sizeof *mixed); k++) {
        const char *t = mixed[k / 2];
        bool render = k % 2; /* each text read as written, and as rendered */
        size_t len = strlen(t);
        struct gw_norm whole = {.render = render};
        assert_int_equal(gw_norm_text(&whole, t, len), 0);
        check_map(&whole, t, len);
        for (size_t a = 0; a <= len; a++) {
            for (size_t b = a; b <= len; b++) { /* three pieces: [0,a) [a,b) [b,len) */
                struct gw_norm st = {.render = render};
                assert_int_equal(gw_norm_feed(&st, t, a), 0);
                assert_int_equal(gw_norm_feed(&st, t + a, b - a), 0);
                assert_int_equal(gw_norm_feed(&st, t + b, len - b), 0);
                assert_int_equal(gw_norm_finish(&st), 0);
                if (st.text.len != whole.text.len ||
                    memcmp(st.text.data, whole.text.data, st.text.len) != 0)
                    fail_msg("text %zu cut at %zu and %zu: normal forms differ", k, a, b);
                for (size_t i = 0; i <= whole.text.len; i++) {
                    assert_int_equal(gw_norm_start(&st, i), gw_norm_start(&whole, i));
                    assert_int_equal(gw_norm_end(&st, i), gw_norm_end(&whole, i));
                }
                gw_norm_free(&st);
            }
        }
        /* and one byte at a time */
        struct gw_norm st = {.render = render};
        for (size_t i = 0; i < len; i++)
            assert_int_equal(gw_norm_feed(&st, t + i, 1), 0);
        assert_int_equal(gw_norm_finish(&st), 0);
        assert_int_equal(st.text.len, whole.text.len);
        assert_memory_equal(st.text.data, whole.text.data, st.text.len);
        gw_norm_free(&st);
        gw_norm_free(&whole);
    }
}

/* A number written in Chinese numerals is a number: "四一一一 一一一一 ..." is a card. */
static void runs_of_chinese_numerals_are_digits(void **state)
{
    /* 四一一一 一一一一, the space ideographic */
    EXPECT("\xe5\x9b\x9b\xe4\xb8\x80\xe4\xb8\x80\xe4\xb8\x80\xe3\x80\x80"
           "\xe4\xb8\x80\xe4\xb8\x80\xe4\xb8\x80\xe4\xb8\x80",
           "4111 1111");
    /* 五三六-二二-一二三四: groups shorter than four continue the run */
    EXPECT("\xe4\xba\x94\xe4\xb8\x89\xe5\x85\xad-\xe4\xba\x8c\xe4\xba\x8c-"
           "\xe4\xb8\x80\xe4\xba\x8c\xe4\xb8\x89\xe5\x9b\x9b",
           "536-22-1234");
    /* the financial numerals 壹贰叁肆 and 〇, 零 */
    EXPECT("\xe5\xa3\xb9\xe8\xb4\xb0\xe5\x8f\x81\xe8\x82\x86\xe3\x80\x87\xe9\x9b\xb6", "123400");
    /* words: 一直 ("all along"), 三三两两 (two numerals, then 两, not a digit), 十一 */
    EXPECT("\xe4\xb8\x80\xe7\x9b\xb4", "\xe4\xb8\x80\xe7\x9b\xb4");
    EXPECT("\xe4\xb8\x89\xe4\xb8\x89\xe4\xb8\xa4\xe4\xb8\xa4",
           "\xe4\xb8\x89\xe4\xb8\x89\xe4\xb8\xa4\xe4\xb8\xa4");
    EXPECT("\xe5\x8d\x81\xe4\xb8\x80\xe4\xb8\x80\xe4\xb8\x80",
           "\xe5\x8d\x81\xe4\xb8\x80\xe4\xb8\x80\xe4\xb8\x80");
    /* two separators in a row end a run: 一一一 then 一, three and one */
    EXPECT("\xe4\xb8\x80\xe4\xb8\x80\xe4\xb8\x80 - \xe4\xb8\x80",
           "\xe4\xb8\x80\xe4\xb8\x80\xe4\xb8\x80 - \xe4\xb8\x80");
    /* an ASCII number next to one numeral does not make it a digit (一直 after a phone) */
    EXPECT("13800138000\xe4\xb8\x80\xe7\x9b\xb4", "13800138000\xe4\xb8\x80\xe7\x9b\xb4");
    /* mixed with ASCII digits; 幺 (one, read out), ○ (typed for 〇), 參; "、" and "/" apart */
    EXPECT("5\xe4\xb8\x89"
           "6\xe4\xba\x8c"
           "2\xe4\xb8\x80"
           "2\xe4\xb8\x89"
           "4",
           "536221234");
    EXPECT("\xe5\x9b\x9b\xe5\xb9\xba\xe5\xb9\xba\xe5\xb9\xba\xe2\x97\x8b\xe5\x8f\x83", "411103");
    EXPECT("\xe5\x9b\x9b\xe4\xb8\x80\xe4\xb8\x80\xe4\xb8\x80\xe3\x80\x81"
           "\xe4\xb8\x80\xe4\xb8\x80/\xe4\xb8\x80",
           "4111 11/1");
    /* a line break between pairs */
    EXPECT("\xe5\x9b\x9b\xe4\xb8\x80\n\xe4\xb8\x80\xe4\xb8\x80", "41 11");
    /* a "、" after a run that ASCII digits go on is written as it is */
    EXPECT("\xe5\x9b\x9b\xe4\xb8\x80\xe4\xb8\x80\xe4\xb8\x80"
           "1\xe3\x80\x81x",
           "41111\xe3\x80\x81x");
    /* the map: a digit is its numeral's three bytes */
    struct gw_norm nm = {0};
    const char *t = "x \xe5\x9b\x9b\xe4\xb8\x80\xe4\xb8\x80\xe4\xb8\x80 y";
    assert_int_equal(gw_norm_text(&nm, t, strlen(t)), 0);
    assert_int_equal(nm.text.len, 8);
    assert_int_equal(gw_norm_start(&nm, 3), 5);
    assert_int_equal(gw_norm_end(&nm, 6), 14);
    gw_norm_free(&nm);
}

static void forgetting_keeps_the_map_of_what_is_left(void **state)
{
    struct gw_norm st = {0};
    const char *piece = "x\xc2\xa0\xd0\xb0\xe2\x80\x8b"; /* 8 bytes in, "x a" out */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(gw_norm_feed(&st, piece, 8), 0);
    assert_int_equal(gw_norm_total(&st), 3000);
    gw_norm_forget(&st, 2400);
    assert_int_equal(st.base, 2400);
    assert_int_equal(st.text.len, 600);
    /* normalised 2400 is the 801st piece's "x": original 800 * 8 */
    assert_int_equal(gw_norm_start(&st, 2400), 6400);
    assert_int_equal(gw_norm_end(&st, 3000), 8000); /* with the ZWSP after it */
    assert_true(st.nseg - st.first <= 3 * 200 + 1);
    gw_norm_free(&st);
}

static void norm_string_keeps_ascii_syntax(void **state)
{
    char *s = gw_norm_string("(?i)\\bcontrase\xc3\xb1" "a\\s+[a-z]{2}");
    assert_string_equal(s, "(?i)\\bcontrasena\\s+[a-z]{2}");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_ascii_is_its_own_normal_form),
        cmocka_unit_test(the_plain_check_sees_every_byte),
        cmocka_unit_test(invisible_characters_are_removed),
        cmocka_unit_test(compatibility_forms_fold),
        cmocka_unit_test(look_alikes_fold_to_latin),
        cmocka_unit_test(tag_characters_become_the_ascii_they_spell),
        cmocka_unit_test(more_look_alikes_fold),
        cmocka_unit_test(superscripts_are_glued_and_apart_in_the_second_view),
        cmocka_unit_test(marks_are_dropped_and_case_folded),
        cmocka_unit_test(every_space_becomes_one),
        cmocka_unit_test(invalid_bytes_become_replacement_characters),
        cmocka_unit_test(spans_map_back_to_whole_original_characters),
        cmocka_unit_test(stream_normalises_like_the_whole_text_at_every_cut),
        cmocka_unit_test(markup_is_read_as_rendered_in_the_render_view),
        cmocka_unit_test(runs_of_chinese_numerals_are_digits),
        cmocka_unit_test(forgetting_keeps_the_map_of_what_is_left),
        cmocka_unit_test(norm_string_keeps_ascii_syntax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
