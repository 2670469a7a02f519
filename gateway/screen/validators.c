#include "screen/validators.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Copies the digits of s into out (at most cap), skipping the separators in seps.
 * Returns the digit count, or -1 on any other byte or too many digits. */
static int collect_digits(const char *s, size_t len, const char *seps, char *out, int cap)
{
    int n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isdigit(c)) {
            if (n == cap)
                return -1;
            out[n++] = (char)c;
        } else if (!strchr(seps, c) || c == '\0') {
            return -1;
        }
    }
    return n;
}

static bool luhn_digits(const char *d, int n)
{
    int sum = 0;
    for (int i = 0; i < n; i++) {
        int v = d[n - 1 - i] - '0';
        if (i % 2 == 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return n > 0 && sum % 10 == 0;
}

bool gw_luhn(const char *s, size_t len)
{
    char d[32];
    int n = collect_digits(s, len, " -", d, (int)sizeof d);
    return n > 0 && luhn_digits(d, n);
}

static int prefix_num(const char *d, int k)
{
    int v = 0;
    for (int i = 0; i < k; i++)
        v = v * 10 + (d[i] - '0');
    return v;
}

/* Card networks by IIN range and the lengths each issues. The list follows the
 * ranges networks publish; a Luhn-valid number outside every range is an account,
 * order or tracking number, not a card. */
static bool card_network_ok(const char *d, int n)
{
    int p1 = prefix_num(d, 1), p2 = prefix_num(d, 2), p3 = prefix_num(d, 3);
    int p4 = prefix_num(d, 4), p6 = prefix_num(d, 6);
    if (p1 == 1) /* UATP (airline cards) */
        return n == 15;
    if (p1 == 4) /* Visa (Electron included) */
        return n >= 13 && n <= 19 && n != 14 && n != 15;
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) /* Mastercard */
        return n == 16;
    if (p4 >= 2200 && p4 <= 2205) /* Mir, BORICA */
        return n >= 16 && n <= 19;
    if (p2 == 34 || p2 == 37) /* American Express */
        return n == 15;
    if (p2 == 31) /* China T-Union */
        return n == 19;
    /* Discover (RuPay's 65 included) */
    if (p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65 || (p6 >= 622126 && p6 <= 622925))
        return n >= 16 && n <= 19;
    if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39) /* Diners Club */
        return n >= 14 && n <= 19;
    if (p4 >= 3528 && p4 <= 3589) /* JCB, LankaPay */
        return n >= 16 && n <= 19;
    if (p4 == 1800 || p4 == 2131) /* JCB, the older 15-digit numbers */
        return n == 15;
    if (p2 == 62 || p2 == 81) /* UnionPay */
        return n >= 16 && n <= 19;
    if (p2 == 60 || p2 == 82 || p3 == 508) /* RuPay */
        return n == 16;
    if (p3 >= 636 && p3 <= 639) /* InterPayment, InstaPayment */
        return n >= 16 && n <= 19;
    if (p4 == 9792 || p4 == 8600 || p4 == 9860) /* Troy, UzCard, Humo */
        return n == 16;
    if (p2 == 50 || (p2 >= 56 && p2 <= 58) || p2 == 63 || p2 == 67)
        return n >= 12 && n <= 19; /* Maestro, Dankort, Verve, Laser and the other debit */
    return false;
}

/* Whether the gap g (n bytes) is one of "-./_~|*:+,`;=#" with a space on each side, after it
 * or none ("4111 . 1111", "4111_1111", "4111 / 1111", "4111, 1111"; the normaliser reads a
 * bullet, "•" or "·", as "."), or a space alone. */
static bool plain_gap(const char *g, size_t n)
{
    size_t a = 0, b = n;
    if (n >= 3 && g[0] == ' ' && g[n - 1] == ' ') {
        a = 1;
        b = n - 1;
    } else if (n >= 2 && g[n - 1] == ' ') {
        b = n - 1;
    } else if (n >= 2 && g[0] == ' ') {
        a = 1;
    }
    return b - a == 1 && strchr(" -./_~|*:+,`;=#", g[a]) && g[a] != '\0' &&
           (a == 0 || g[a] != ' ');
}

/* Whether the gap g (n bytes) closes a bracket round a group and opens one round the next
 * ("(4111) (1111)", "[4111][1111]"). */
static bool bracket_gap(const char *g, size_t n)
{
    return (n == 2 || (n == 3 && g[1] == ' ')) && (g[0] == ')' || g[0] == ']') &&
           (g[n - 1] == '(' || g[n - 1] == '[');
}

static bool markdown_mark(char c)
{
    return c == '*' || c == '_' || c == '~' || c == '`';
}

/* Whether the gap g (n bytes) may part the digit groups of a card number: a plain gap, or
 * one with markdown's marks (up to three) closing the group before it and opening the one
 * after it ("4111 **1111** 1111", "`4111` `1111`", "**4111**, 1111": the customer's
 * screen shows the groups alone). */
static bool card_gap(const char *g, size_t n)
{
    if (plain_gap(g, n) || bracket_gap(g, n))
        return true;
    size_t a = 0, b = n, before = 0, after = 0;
    if (a < b && g[a] == ' ')
        a++;
    while (a < b && before < 3 && markdown_mark(g[a]))
        a++, before++;
    if (b > a && g[b - 1] == ' ')
        b--;
    while (b > a && after < 3 && markdown_mark(g[b - 1]))
        b--, after++;
    if (a == b)
        return before + after >= 1 && before + after <= 3;
    return before + after >= 1 && plain_gap(g + a, b - a);
}

/* Whether the groups of s (runs of bytes in_group accepts) are parted by gaps card_gap
 * accepts, with same the same gap every time, and s starts and ends with a group. */
static bool gaps_ok(const char *s, size_t len, int (*in_group)(int), bool same)
{
    const char *gap = NULL;
    size_t glen = 0;
    for (size_t i = 0; i < len;) {
        if (in_group((unsigned char)s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && !in_group((unsigned char)s[j]))
            j++;
        if (i == 0 || j == len || j - i > 5)
            return false;
        if ((!gap || !same) && !card_gap(s + i, j - i))
            return false;
        if (gap && same && (j - i != glen || memcmp(gap, s + i, glen) != 0))
            return false;
        gap = s + i;
        glen = j - i;
        i = j;
    }
    return true;
}

/* The same, with one gap every time: an IBAN's, and a social security number's, which has
 * no check digit to tell "536-22.1187" from a reference number. */
static bool one_gap(const char *s, size_t len, int (*in_group)(int))
{
    return gaps_ok(s, len, in_group, true);
}

/* A card's groups may be parted by different gaps: "4111 1111-1111 1111" is read as one
 * number, and the network range and the Luhn digit keep other digit runs out. */
static bool card_groups(const char *s, size_t len)
{
    return gaps_ok(s, len, isdigit, false);
}

/* Whether s is three or more groups of four digits that count up or down by one step
 * ("ports 5000, 5001, 5002, 5003", "| 4100 | 4105 | 4110 | 4115 |"): a list, not a card. The
 * same group repeated ("4242 4242 4242 4242") is a card. */
static bool counted_list(const char *s, size_t len)
{
    long v[8];
    int k = 0;
    for (size_t i = 0; i < len;) {
        if (!isdigit((unsigned char)s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && isdigit((unsigned char)s[j]))
            j++;
        if (j - i != 4 || k == 8)
            return false;
        v[k++] = prefix_num(s + i, 4);
        i = j;
    }
    if (k < 3 || v[1] == v[0])
        return false;
    for (int i = 2; i < k; i++)
        if (v[i] - v[i - 1] != v[1] - v[0])
            return false;
    return true;
}

bool gw_valid_card(const char *s, size_t len)
{
    char d[32];
    int n = collect_digits(s, len, " -./_~|*:+,`;=#()[]", d, (int)sizeof d);
    if (n < 12 || n > 19)
        return false;
    return card_groups(s, len) && card_network_ok(d, n) && luhn_digits(d, n) &&
           !counted_list(s, len);
}

static const struct {
    char cc[3];
    unsigned char len;
} iban_lengths[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
    {"BG", 22}, {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22},
    {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20},
    {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22},
    {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HN", 28}, {"HR", 21},
    {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30},
    {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
    {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20},
    {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23},
    {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22},
    {"RU", 33}, {"SA", 24}, {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24},
    {"SM", 27}, {"SO", 23}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26},
    {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20}, {"YE", 30},
};

bool gw_valid_iban(const char *s, size_t len)
{
    char c[40];
    size_t n = 0;
    bool lower = false, upper = false;
    if (!one_gap(s, len, isalnum) || memchr(s, '/', len)) /* banks never print slashes */
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isalnum(ch))
            continue;
        if (n == sizeof c)
            return false;
        lower |= islower(ch) != 0;
        upper |= isupper(ch) != 0;
        c[n++] = (char)toupper(ch); /* people write IBANs in lower case too */
    }
    if (lower && upper) /* "GB82 west ..." is a typo or not an IBAN, never how one is written */
        return false;
    if (n < 15 || !isupper((unsigned char)c[0]) || !isupper((unsigned char)c[1]) ||
        !isdigit((unsigned char)c[2]) || !isdigit((unsigned char)c[3]))
        return false;
    size_t want = 0;
    for (size_t i = 0; i < sizeof iban_lengths / sizeof iban_lengths[0]; i++) {
        if (c[0] == iban_lengths[i].cc[0] && c[1] == iban_lengths[i].cc[1]) {
            want = iban_lengths[i].len;
            break;
        }
    }
    if (want == 0 || n != want)
        return false;
    /* mod 97 over BBAN + country + check digits, letters as 10..35, digit by digit. */
    unsigned rem = 0;
    for (size_t k = 0; k < n; k++) {
        char ch = c[(k + 4) % n];
        if (isdigit((unsigned char)ch)) {
            rem = (rem * 10 + (unsigned)(ch - '0')) % 97;
        } else {
            unsigned v = (unsigned)(ch - 'A') + 10;
            rem = (rem * 100 + v) % 97;
        }
    }
    return rem == 1;
}

bool gw_valid_ssn(const char *s, size_t len)
{
    char d[9];
    /* Either no separators, or groups of 3, 2 and 4 digits parted by one of card_gap's gaps,
     * the same twice ("536-22-8726", "182 - 06 - 1253", "222_69_4178"). */
    size_t n = 0, groups[3], g = 0, run = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && isdigit((unsigned char)s[i])) {
            if (n == sizeof d)
                return false;
            d[n++] = s[i];
            run++;
        } else if (run) {
            if (g == 3)
                return false;
            groups[g++] = run;
            run = 0;
        }
    }
    bool plain = len == 9 && n == 9;
    bool grouped =
        g == 3 && groups[0] == 3 && groups[1] == 2 && groups[2] == 4 && one_gap(s, len, isdigit);
    if (!plain && !grouped)
        return false;
    int area = prefix_num(d, 3), group = prefix_num(d + 3, 2), serial = prefix_num(d + 5, 4);
    if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0)
        return false;
    /* Numbers voided after appearing in advertising (SSA), and the all-same-digit ones. */
    if (memcmp(d, "078051120", 9) == 0 || memcmp(d, "219099999", 9) == 0 ||
        memcmp(d, "123456789", 9) == 0)
        return false;
    bool same = true;
    for (int i = 1; i < 9; i++)
        same = same && d[i] == d[0];
    return !same;
}

/* Whether [a, b) parts two octets: ".", or a defanged dot ("[.]", "(.)", "{.}", "dot",
 * "[dot]", "(dot)", spaces around any of them). */
static bool ipv4_dot(const char *s, size_t a, size_t b)
{
    static const char *const dots[] = {".", "[.]", "(.)", "{.}", "dot", "[dot]", "(dot)"};
    while (a < b && s[a] == ' ')
        a++;
    while (b > a && s[b - 1] == ' ')
        b--;
    for (size_t i = 0; i < sizeof dots / sizeof *dots; i++)
        if (strlen(dots[i]) == b - a && strncasecmp(s + a, dots[i], b - a) == 0)
            return true;
    return false;
}

bool gw_valid_ipv4(const char *s, size_t len)
{
    int octets = 0;
    size_t i = 0;
    while (i < len) {
        size_t d = i;
        int value = 0;
        while (i < len && isdigit((unsigned char)s[i]) && i - d < 4)
            value = value * 10 + (s[i++] - '0');
        if (i == d || i - d > 3 || value > 255 || (s[d] == '0' && i - d > 1)) /* "01" */
            return false;
        if (++octets == 4)
            return i == len;
        size_t sep = i;
        while (i < len && !isdigit((unsigned char)s[i]) && i - sep < 8)
            i++;
        if (i == len || !ipv4_dot(s, sep, i))
            return false;
    }
    return false;
}

bool gw_valid_ipv6(const char *s, size_t len)
{
    int groups = 0, hex = 0;
    bool dcolon = false;
    size_t i = 0;
    if (len < 2)
        return false;
    if (s[0] == ':') {
        if (s[1] != ':')
            return false;
    }
    while (i < len) {
        if (s[i] == ':') {
            if (i + 1 < len && s[i + 1] == ':') {
                if (dcolon)
                    return false;
                dcolon = true;
                i += 2;
                continue;
            }
            if (hex == 0 && i > 0 && s[i - 1] != ':')
                return false;
            hex = 0;
            i++;
            if (i == len)
                return false; /* a single trailing colon */
            continue;
        }
        if (s[i] == '.') { /* embedded IPv4 tail: find its start and check it */
            size_t start = i;
            while (start > 0 && s[start - 1] != ':')
                start--;
            if (!gw_valid_ipv4(s + start, len - start))
                return false;
            groups += 2 - 1; /* the v4 tail counts as two groups; its first was counted */
            break;
        }
        if (!isxdigit((unsigned char)s[i]) || ++hex > 4)
            return false;
        if (hex == 1)
            groups++;
        i++;
    }
    if (dcolon)
        return groups < 8;
    return groups == 8;
}

bool gw_valid_phone(const char *s, size_t len)
{
    char d[24];
    int n = collect_digits(s, len, " -.()+/", d, (int)sizeof d);
    if (n < 7 || n > 15)
        return false;
    for (int i = 1; i < n; i++)
        if (d[i] != d[0])
            return true;
    return false;
}

/* The digit a number word says ("zero", "oh", "one" ... "nine", "cero", "eins", ...), or -1. */
static int digit_word(const char *w, size_t n)
{
    /* each digit in English, Spanish, German, French, Italian, Portuguese and Dutch, as the
     * normal form writes them (no accents: "fünf" is "funf", "três" "tres"), the words of
     * pii.spelled_number's pattern: not "un", "um", "een", "null", "due" or "sept", which are
     * other words as often (articles, German "at", code's null, September) */
    static const char *const words[10] = {
        "zero oh cero nul",
        "one uno eins",
        "two dos zwei zwo deux dois twee",
        "three tres drei trois tre drie",
        "four cuatro vier quatre quattro quatro",
        "five cinco funf fuenf cinq cinque vijf",
        "six seis sechs sei zes",
        "seven siete sieben sette sete zeven",
        "eight ocho acht huit otto oito",
        "nine nueve neun neuf nove negen",
    };
    for (int d = 0; d < 10; d++)
        for (const char *p = words[d]; *p;) {
            size_t k = strcspn(p, " ");
            if (k == n && strncasecmp(w, p, n) == 0)
                return d;
            p += k + (p[k] == ' ');
        }
    return -1;
}

/* How many times the word w says its digit ("double" 2, "triple" or "treble" 3), or 0. */
static int repeat_word(const char *w, size_t n)
{
    if (n == 6 && strncasecmp(w, "double", 6) == 0)
        return 2;
    if (n == 6 && (strncasecmp(w, "triple", 6) == 0 || strncasecmp(w, "treble", 6) == 0))
        return 3;
    return 0;
}

/* Whether the word w stands between digits as a mark does ("dash", "hyphen"). */
static bool mark_word(const char *w, size_t n)
{
    return (n == 4 && strncasecmp(w, "dash", 4) == 0) ||
           (n == 6 && strncasecmp(w, "hyphen", 6) == 0);
}

bool gw_valid_spelled_digits(const char *s, size_t len)
{
    char d[24];
    int n = 0, words = 0, times = 1, groups = 0, singles = 0;
    bool commas = false;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t e = i;
        if (isdigit(c)) {
            while (e < len && isdigit((unsigned char)s[e]))
                e++;
            if (times > 1)
                return false; /* "double 5" is no way of saying a number */
            groups++;
            singles += e - i == 1;
            for (size_t j = i; j < e; j++) {
                if (n == (int)sizeof d)
                    return false;
                d[n++] = s[j];
            }
        } else if (isalpha(c)) {
            while (e < len && isalpha((unsigned char)s[e]))
                e++;
            int v = digit_word(s + i, e - i), r = repeat_word(s + i, e - i);
            if (v < 0) {
                if (times > 1 || (!r && !mark_word(s + i, e - i)))
                    return false;
                times = r ? r : 1;
                i = e;
                continue;
            }
            for (; times > 0; times--) {
                if (n == (int)sizeof d)
                    return false;
                d[n++] = (char)('0' + v);
            }
            times = 1;
            words++;
        } else if (strchr(" \t\r\n,.-/()", c)) {
            commas |= c == ',';
            e = i + 1;
        } else {
            return false;
        }
        i = e;
    }
    /* Words, three or more; or digits one at a time with no word and no comma, as a number
     * is spelt out ("5 5 5 - 0 1 9 8", "7.1.8.5.5.5.0"), not listed ("sizes 6, 7, 8 ..."). */
    bool spelt = words >= 3 || (words == 0 && singles == groups && !commas);
    if (times > 1 || !spelt || n < 7 || n > 19)
        return false;
    /* not a count, round past 9 or down, nor one run into another (a ruler's "0 1 2 3"
     * above "0 1 2 3 4 5 6 7 8 9 0 1"): six steps of one in a row */
    bool same = true;
    int up = 0, down = 0;
    for (int i = 1; i < n; i++) {
        int step = (d[i] - d[i - 1] + 10) % 10;
        same &= d[i] == d[0];
        up = step == 1 ? up + 1 : 0;
        down = step == 9 ? down + 1 : 0;
        if (up >= 6 || down >= 6)
            return false;
    }
    return !same;
}

bool gw_valid_luhn_tail(const char *s, size_t len)
{
    size_t e = len;
    while (e > 0 && !isdigit((unsigned char)s[e - 1]))
        e--;
    size_t b = e;
    while (b > 0 && isdigit((unsigned char)s[b - 1]))
        b--;
    return e - b >= 12 && e - b <= 19 && luhn_digits(s + b, (int)(e - b));
}

/* A window with no letter in it gives any span in it no number word, and without words
 * gw_valid_spelled_digits wants single digits only, seven or more, with no comma and
 * nothing but " \t\r\n.-/()" between them. Such a span ends where the window does, so it
 * holds the window's last seven runs of digits and what lies between them: a run of two
 * digits or more there, a comma or another mark (a list, a table's "|"), or fewer than
 * seven runs, turns it down; so does a window of one digit repeated, all its spans "not
 * one digit repeated". A byte past ASCII may be a letter: not hopeless. */
static bool spelled_digits_hopeless(const char *w, size_t len)
{
    char digit = 0; /* the one digit the window holds; 1 once it holds two kinds */
    for (size_t i = 0; i < len; i++) {
        if (isalpha((unsigned char)w[i]) || (unsigned char)w[i] >= 0x80)
            return false;
        if (isdigit((unsigned char)w[i]))
            digit = !digit || digit == w[i] ? w[i] : 1;
    }
    if (digit > 1)
        return true; /* one digit repeated ("1-1-1-1-..."), which the validator turns down */
    size_t k = len;
    while (k > 0 && !isdigit((unsigned char)w[k - 1]))
        k--;
    if (k < len)
        return false; /* no digit ends it: not a match this test knows */
    for (int runs = 0; runs < 7; runs++) {
        size_t e = k;
        while (k > 0 && isdigit((unsigned char)w[k - 1]))
            k--;
        if (e == k || e - k >= 2)
            return true; /* fewer than seven runs, or one of two digits or more */
        if (runs == 6)
            break;
        while (k > 0 && !isdigit((unsigned char)w[k - 1]))
            if (!strchr(" \t\r\n.-/()", w[--k]))
                return true; /* a comma or another mark between them */
    }
    return false;
}

bool gw_validator_hopeless(gw_validator_fn fn, const char *w, size_t len)
{
    return fn == gw_valid_spelled_digits && spelled_digits_hopeless(w, len);
}

static const struct {
    const char *name;
    gw_validator_fn fn;
} validators[] = {
    {"luhn", gw_valid_card}, {"card", gw_valid_card},   {"luhn_tail", gw_valid_luhn_tail},
    {"iban", gw_valid_iban}, {"ssn", gw_valid_ssn},     {"ipv4", gw_valid_ipv4},
    {"ipv6", gw_valid_ipv6}, {"phone", gw_valid_phone}, {"spelled_digits", gw_valid_spelled_digits},
};

gw_validator_fn gw_validator_find(const char *name)
{
    for (size_t i = 0; i < sizeof validators / sizeof validators[0]; i++)
        if (strcmp(validators[i].name, name) == 0)
            return validators[i].fn;
    return NULL;
}

const char *gw_validator_names(void)
{
    return "luhn (card), iban, ssn, ipv4, ipv6, phone, spelled_digits";
}

/* ---- the shop's own contacts ---- */

#define GW_CONTACT_MAX 254 /* the longest address RFC 5321 allows */

static bool local_char(unsigned char c)
{
    return isalnum(c) || (c && strchr("._%+-", c));
}

static bool domain_char(unsigned char c)
{
    return isalnum(c) || c == '.' || c == '-';
}

/* s[0, len) lower-case with the spelled forms of "@" and "." read and spaces dropped
 * ("Jo [at] Shop (dot) com" is "jo@shop.com"), into out; false when it does not fit. */
static bool email_text(const char *s, size_t len, char *out, size_t cap)
{
    static const char *const ats[] = {"[at]", "(at)", "{at}", "<at>", " at ", "[@]"};
    static const char *const dots[] = {"[dot]", "(dot)", "{dot}", "<dot>",
                                       " dot ", "[.]",   "(.)",   "{.}"};
    char low[GW_CONTACT_MAX * 2 + 1];
    if (len >= sizeof low)
        return false;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)tolower((unsigned char)s[i]);
    low[len] = '\0';
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        char c = 0;
        size_t skip = 0;
        for (size_t k = 0; !skip && k < sizeof ats / sizeof ats[0]; k++)
            if (strncmp(low + i, ats[k], strlen(ats[k])) == 0)
                c = '@', skip = strlen(ats[k]);
        for (size_t k = 0; !skip && k < sizeof dots / sizeof dots[0]; k++)
            if (strncmp(low + i, dots[k], strlen(dots[k])) == 0)
                c = '.', skip = strlen(dots[k]);
        if (!skip) {
            c = low[i] == ' ' ? 0 : low[i];
            skip = 1;
        }
        i += skip;
        if (c) {
            if (n + 1 >= cap)
                return false;
            out[n++] = c;
        }
    }
    out[n] = '\0';
    return true;
}

/* The address in t (email_text's output): the run of local-part characters before its
 * one "@" and the run of domain characters after it, as "local@domain" into out. */
static bool email_address(const char *t, char *out, size_t cap)
{
    const char *at = strchr(t, '@');
    if (!at || strchr(at + 1, '@'))
        return false;
    const char *from = at;
    while (from > t && local_char((unsigned char)from[-1]))
        from--;
    const char *to = at + 1;
    while (domain_char((unsigned char)*to))
        to++;
    while (to > at + 1 && to[-1] == '.') /* a full stop after the address */
        to--;
    size_t n = (size_t)(to - from);
    if (from == at || to == at + 1 || n >= cap)
        return false;
    memcpy(out, from, n);
    out[n] = '\0';
    return true;
}

bool gw_contact_email(const char *s, char *out, size_t cap)
{
    char t[GW_CONTACT_MAX + 1];
    size_t len = strlen(s);
    if (len > GW_CONTACT_MAX || !email_text(s, len, t, sizeof t))
        return false;
    bool whole_domain = t[0] == '*' && t[1] == '@';
    if (whole_domain)
        t[0] = 'x'; /* read like any address, then given its star back */
    if (!email_address(t, out, cap) || strcmp(out, t) != 0)
        return false; /* something other than one address */
    const char *domain = strchr(out, '@') + 1;
    if (!strchr(domain, '.') || domain[0] == '.' || domain[0] == '-' || strstr(domain, ".."))
        return false;
    if (whole_domain) {
        /* every customer of a public mail provider is at its domain */
        static const char *const providers[] = {
            "gmail.com", "googlemail.com", "outlook.com",    "hotmail.com",  "live.com",
            "msn.com",   "yahoo.com",      "icloud.com",     "me.com",       "mac.com",
            "aol.com",   "proton.me",      "protonmail.com", "pm.me",        "gmx.com",
            "gmx.de",    "gmx.net",        "web.de",         "yandex.ru",    "yandex.com",
            "mail.ru",   "zoho.com",       "fastmail.com",   "tutanota.com", "qq.com",
            "163.com",   "126.com",        "orange.fr",      "free.fr",      "libero.it"};
        for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++) {
            size_t dl = strlen(domain), pl = strlen(providers[i]);
            if (dl >= pl && strcmp(domain + dl - pl, providers[i]) == 0 &&
                (dl == pl || domain[dl - pl - 1] == '.'))
                return false;
        }
        static const char *const brands[] = {"yahoo", "hotmail", "outlook", "live",
                                             "gmx",   "yandex",  "aol"};
        for (size_t i = 0; i < sizeof brands / sizeof brands[0]; i++) {
            char dotted[16];
            size_t bl = strlen(brands[i]);
            snprintf(dotted, sizeof dotted, ".%s.", brands[i]);
            if ((strncmp(domain, brands[i], bl) == 0 && domain[bl] == '.') ||
                strstr(domain, dotted))
                return false; /* yahoo.co.uk, mail.yahoo.com, hotmail.fr */
        }
        out[0] = '*';
    }
    return true;
}

/* The digits of s[0, len), a trunk "(0)" left out ("+44 (0)113"), into out; how many, or
 * 0 when there are more than cap - 1. */
static size_t phone_digits(const char *s, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '(' && i + 2 < len && s[i + 1] == '0' && s[i + 2] == ')') {
            i += 2;
            continue;
        }
        if (!isdigit((unsigned char)s[i]))
            continue;
        if (n + 1 >= cap)
            return 0;
        out[n++] = s[i];
    }
    out[n] = '\0';
    return n;
}

bool gw_contact_phone(const char *s, char *out, size_t cap)
{
    while (*s == ' ')
        s++;
    if (*s++ != '+')
        return false;
    size_t cc = 0;
    while (isdigit((unsigned char)s[cc]))
        cc++;
    if (cc == 0 || cc > 3 || !s[cc] || !strchr(" .-/(", s[cc]))
        return false; /* the country code must be set apart: "+44 113 ..." */
    for (const char *p = s + cc; *p; p++)
        if (!isdigit((unsigned char)*p) && !strchr(" .-/()", *p))
            return false;
    char nsn[24];
    size_t n = phone_digits(s + cc, strlen(s + cc), nsn, sizeof nsn);
    if (n < 6 || cc + n > 15 || strspn(nsn, (char[]){nsn[0], 0}) == n)
        return false;
    if (cc + 1 + n + 1 > cap)
        return false;
    memcpy(out, s, cc);
    out[cc] = ':';
    memcpy(out + cc + 1, nsn, n + 1);
    return true;
}

/* Whether the digits d are the listed number cc_nsn ("44:1134960321") as it is dialled:
 * national (113..., 0113...) or, with a "+" in the text (plus) or "00" before it,
 * international. Without them "130 3555 0142" (a mobile in China) would read as 1 303 555
 * 0142, so "1 303 555 0142" stays redacted. */
static bool same_number(const char *d, const char *cc_nsn, bool plus)
{
    const char *colon = strchr(cc_nsn, ':');
    size_t cc = (size_t)(colon - cc_nsn);
    const char *nsn = colon + 1;
    if (strcmp(d, nsn) == 0 || (d[0] == '0' && strcmp(d + 1, nsn) == 0))
        return true;
    if (strncmp(d, "00", 2) == 0)
        d += 2, plus = true;
    return plus && strncmp(d, cc_nsn, cc) == 0 && strcmp(d + cc, nsn) == 0;
}

bool gw_contacts_own(const struct gw_contacts *c, unsigned kinds, const char *s, size_t len)
{
    if (!c)
        return false;
    char t[GW_CONTACT_MAX * 2 + 1], addr[GW_CONTACT_MAX * 2 + 1];
    if ((kinds & GW_CONTACT_EMAILS) && c->n_emails && email_text(s, len, t, sizeof t) &&
        email_address(t, addr, sizeof addr)) {
        const char *domain = strchr(addr, '@') + 1;
        size_t dlen = strlen(domain);
        for (size_t i = 0; i < c->n_emails; i++) {
            const char *e = c->emails[i];
            if (e[0] != '*') {
                if (strcmp(e, addr) == 0)
                    return true;
                continue;
            }
            const char *own = e + 2; /* "*@" */
            size_t olen = strlen(own);
            if (!strchr(addr, '%') && /* "jo%gmail.com@..." routes to another address */
                (dlen == olen ? strcmp(domain, own) == 0
                              : dlen > olen && domain[dlen - olen - 1] == '.' &&
                                    strcmp(domain + dlen - olen, own) == 0))
                return true;
        }
    }
    if ((kinds & GW_CONTACT_PHONES) && c->n_phones) {
        char d[24];
        if (phone_digits(s, len, d, sizeof d) < 6)
            return false;
        bool plus = memchr(s, '+', len) != NULL;
        for (size_t i = 0; i < c->n_phones; i++)
            if (same_number(d, c->phones[i], plus))
                return true;
    }
    return false;
}

static int append_copies(char ***to, size_t *n, char *const *from, size_t m)
{
    if (m == 0)
        return 0;
    char **v = realloc(*to, (*n + m) * sizeof *v);
    if (!v)
        return -1;
    *to = v;
    for (size_t i = 0; i < m; i++) {
        if (!(v[*n] = strdup(from[i])))
            return -1;
        ++*n;
    }
    return 0;
}

int gw_contacts_add(struct gw_contacts *to, const struct gw_contacts *from)
{
    if (append_copies(&to->emails, &to->n_emails, from->emails, from->n_emails) == -1 ||
        append_copies(&to->phones, &to->n_phones, from->phones, from->n_phones) == -1)
        return -1;
    return 0;
}

void gw_contacts_free(struct gw_contacts *c)
{
    for (size_t i = 0; i < c->n_emails; i++)
        free(c->emails[i]);
    for (size_t i = 0; i < c->n_phones; i++)
        free(c->phones[i]);
    free(c->emails);
    free(c->phones);
    memset(c, 0, sizeof *c);
}
