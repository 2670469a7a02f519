#include "screen/prefilter.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A set of strings, or "unknown" (valid false). For a node of the expression, exact is
 * the set of every string it can match (when small and known), req a set one of which
 * every match contains. Strings are lower-case; exact may hold "" (an optional part, an
 * assertion), req never does. */
struct set {
    bool valid;
    size_t n;
    char *v[GW_ATOMS_MAX];
    bool weak[GW_ATOMS_MAX]; /* see is_weak */
};

/* Words that occur in a large share of chat messages. An atom that is one of them, or a
 * part of one, would wake its pattern for most messages, which costs more than leaving
 * the pattern in the main database; such a set scores as poor. Generic English and the
 * vocabulary of customer service, not any rule's or data set's words. */
static const char common_words[] =
    " that with have this will your from they know want been good much some time very when"
    " come here just like long make many more only over such take than them well were what"
    " also back call came down each even find first give going great help into last look"
    " made most need next part same seem show tell then there these thing think those"
    " through used where which while work would year about after again could every little"
    " never other people right should still their under years before being between both"
    " called does done during hand high home kind life live mean might must name place"
    " point really said says seen since small something sure thank thanks things thought"
    " three today told turn whether without world yeah okay please hello dear best regards"
    " sorry hope able actually already always another anything around asked away better"
    " cannot cause change check didn doesn don't else enough ever everything fine free full"
    " getting gets given goes gone happy hear heard hold hours keep knew least less letter"
    " line lots love maybe means minutes money morning near nothing number once open order"
    " ordered orders ordering paid pick plan post pretty problem quite rather read ready"
    " real reason received reply request second send sent several share short side sign soon"
    " start stay stop store story tomorrow took trying understand until upon using wait week"
    " weeks went whole wish within word words write wrong yesterday yours account address"
    " answer arrive arrived bought cancel card charge charged colour color contact cost"
    " customer date days deliver delivered delivery details email exchange item items message"
    " online payment phone price product products purchase question questions refund return"
    " returned returns service shipping shipped shop size status support tracking website"
    " content context data text input output model mode code list note notes issue issues"
    " person public family friend friends house school team game games video music book books"
    " link page site info information access above across against along among behind below"
    " inside outside toward towards"
    " the and you for are not but can get all any was one our out has had how who why now"
    " new way may say see use her him his she its let too off own yes day buy try ask put"
    " got did via per two end top ";

static bool is_weak(const char *atom, size_t len)
{
    char key[GW_ATOM_LEN_MAX + 1];
    memcpy(key, atom, len);
    key[len] = '\0';
    return len > 0 && strstr(common_words, key) != NULL;
}

struct info {
    struct set exact, req;
};

struct parser {
    const char *p;
    bool fail;
};

static void set_clear(struct set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    s->n = 0;
    s->valid = false;
}

static void info_clear(struct info *x)
{
    set_clear(&x->exact);
    set_clear(&x->req);
}

/* Adds a copy of str[0..len) unless present; false when the set is full or out of memory
 * (the set becomes unknown). */
static bool set_add(struct set *s, const char *str, size_t len)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->v[i]) == len && memcmp(s->v[i], str, len) == 0)
            return true;
    char *c = s->n < GW_ATOMS_MAX && len <= GW_ATOM_LEN_MAX ? malloc(len + 1) : NULL;
    if (!c) {
        set_clear(s);
        return false;
    }
    memcpy(c, str, len);
    c[len] = '\0';
    s->weak[s->n] = is_weak(c, len);
    s->v[s->n++] = c;
    return true;
}

static void set_one(struct set *s, const char *str, size_t len)
{
    set_clear(s);
    s->valid = true;
    set_add(s, str, len);
}

static void set_copy(struct set *dst, const struct set *src)
{
    set_clear(dst);
    if (!src->valid)
        return;
    dst->valid = true;
    for (size_t i = 0; i < src->n && dst->valid; i++)
        set_add(dst, src->v[i], strlen(src->v[i]));
}

/* How good a set is as a requirement: its shortest string, 1 when one is a common word
 * (or a part of one), 0 when unknown or holding "". */
static size_t score(const struct set *s)
{
    if (!s->valid || s->n == 0)
        return 0;
    size_t m = (size_t)-1;
    for (size_t i = 0; i < s->n; i++) {
        size_t len = strlen(s->v[i]);
        if (len == 0)
            return 0;
        if (s->weak[i])
            len = 1;
        if (len < m)
            m = len;
    }
    return m;
}

/* Keeps in *best whichever of *best and cand is the better requirement. */
static void take_better(struct set *best, const struct set *cand)
{
    size_t a = score(best), b = score(cand);
    if (b > a || (b == a && b > 0 && cand->n < best->n))
        set_copy(best, cand);
}

/* dst = every a + b for a in dst, b in x (unknown when too many or too long). */
static void set_cross(struct set *dst, const struct set *x)
{
    if (!dst->valid || !x->valid || dst->n * x->n > GW_ATOMS_MAX) {
        set_clear(dst);
        return;
    }
    struct set out = {.valid = true};
    char tmp[2 * GW_ATOM_LEN_MAX + 1];
    for (size_t i = 0; i < dst->n && out.valid; i++) {
        for (size_t j = 0; j < x->n && out.valid; j++) {
            size_t la = strlen(dst->v[i]), lb = strlen(x->v[j]);
            memcpy(tmp, dst->v[i], la);
            memcpy(tmp + la, x->v[j], lb);
            set_add(&out, tmp, la + lb);
        }
    }
    set_clear(dst);
    *dst = out;
}

/* ---- the parser: PCRE syntax, as much as the rule packs use ---- */

static void parse_alt(struct parser *ps, struct info *out);

static void literal(struct info *out, unsigned char c)
{
    if (c == '\0') /* atoms are C strings: a NUL adds no requirement */
        return;
    char ch = (char)tolower(c);
    set_one(&out->exact, &ch, 1);
}

static void empty(struct info *out)
{
    set_one(&out->exact, "", 0);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* After a backslash: one escaped character as a byte, -2 for a zero-width assertion,
 * -3 for a class of characters (\d, \w, \p{..}), -1 when not understood. */
static int escape(struct parser *ps)
{
    char c = *ps->p++;
    switch (c) {
    case 'b': case 'B': case 'A': case 'z': case 'Z': case 'G': case 'K':
        return -2;
    case 'd': case 'D': case 'w': case 'W': case 's': case 'S': case 'h': case 'H':
    case 'v': case 'V': case 'R': case 'N': case 'X': case 'C':
        return -3;
    case 'p': case 'P':
        if (*ps->p == '{') {
            const char *e = strchr(ps->p, '}');
            if (!e)
                return -1;
            ps->p = e + 1;
        } else if (*ps->p) {
            ps->p++;
        }
        return -3;
    case 't': return '\t';
    case 'n': return '\n';
    case 'r': return '\r';
    case 'f': return '\f';
    case 'e': return 0x1b;
    case 'a': return 0x07;
    case 'x': {
        int v = 0, digits = 0;
        if (*ps->p == '{') {
            ps->p++;
            while (hexval(*ps->p) >= 0 && digits < 8) {
                v = v * 16 + hexval(*ps->p++);
                digits++;
            }
            if (*ps->p++ != '}' || digits == 0)
                return -1;
        } else {
            while (hexval(*ps->p) >= 0 && digits < 2) {
                v = v * 16 + hexval(*ps->p++);
                digits++;
            }
        }
        return v <= 0xff ? v : -1;
    }
    case '\0':
        ps->p--;
        return -1;
    default:
        /* Backreferences, octal, \Q..\E, \g, \k, \c...: not understood. */
        return isalnum((unsigned char)c) ? -1 : (unsigned char)c;
    }
}

/* A bracket expression: a small set of plain characters becomes an exact set, anything
 * else (ranges, negation, classes) is unknown. */
static void parse_class(struct parser *ps, struct info *out)
{
    bool plain = true;
    if (*ps->p == '^') {
        plain = false;
        ps->p++;
    }
    struct set chars = {.valid = true};
    bool first = true;
    while (*ps->p && (first || *ps->p != ']')) {
        first = false;
        int c = (unsigned char)*ps->p++;
        if (c == '[' && *ps->p == ':') { /* [:alpha:] */
            const char *e = strstr(ps->p, ":]");
            if (!e) {
                ps->fail = true;
                break;
            }
            ps->p = e + 2;
            plain = false;
            continue;
        }
        if (c == '\\') {
            c = escape(ps);
            if (c < 0) {
                plain = false;
                if (c == -1)
                    ps->fail = true;
                continue;
            }
        }
        if (*ps->p == '-' && ps->p[1] != ']' && ps->p[1]) { /* a range */
            ps->p++;
            if (*ps->p == '\\') {
                ps->p++;
                escape(ps);
            } else {
                ps->p++;
            }
            plain = false;
            continue;
        }
        char ch = (char)tolower(c);
        if (ch == '\0')
            plain = false;
        else if (chars.valid)
            set_add(&chars, &ch, 1);
    }
    if (*ps->p != ']')
        ps->fail = true;
    else
        ps->p++;
    if (plain && chars.valid && chars.n <= 8)
        out->exact = chars;
    else
        set_clear(&chars);
}

/* A parenthesised construct, after its '('. */
static void parse_group(struct parser *ps, struct info *out)
{
    bool zero_width = false;
    if (*ps->p == '?') {
        ps->p++;
        char c = *ps->p;
        if (c == ':' || c == '>' || c == '|') {
            ps->p++;
        } else if (c == '=' || c == '!') {
            ps->p++;
            zero_width = true;
        } else if (c == '<' && (ps->p[1] == '=' || ps->p[1] == '!')) {
            ps->p += 2;
            zero_width = true;
        } else if (c == '<' || c == '\'' || (c == 'P' && ps->p[1] == '<')) { /* named */
            const char *e = strchr(ps->p, c == '\'' ? '\'' : '>');
            if (c == '\'')
                e = strchr(ps->p + 1, '\'');
            if (!e) {
                ps->fail = true;
                return;
            }
            ps->p = e + 1;
        } else if (c == '#') {
            const char *e = strchr(ps->p, ')');
            if (!e) {
                ps->fail = true;
                return;
            }
            ps->p = e + 1;
            empty(out);
            return;
        } else { /* inline options: (?i) (?-i) (?i:...) */
            while (*ps->p && strchr("imsnUJ-", *ps->p))
                ps->p++;
            if (*ps->p == ')') {
                ps->p++;
                empty(out);
                return;
            }
            if (*ps->p != ':') { /* (?x), conditionals, recursion: not understood */
                ps->fail = true;
                return;
            }
            ps->p++;
        }
    }
    parse_alt(ps, out);
    if (*ps->p != ')') {
        ps->fail = true;
        return;
    }
    ps->p++;
    if (zero_width) { /* a lookaround consumes nothing */
        info_clear(out);
        empty(out);
    }
}

static void parse_atom(struct parser *ps, struct info *out)
{
    unsigned char c = (unsigned char)*ps->p++;
    switch (c) {
    case '(':
        parse_group(ps, out);
        return;
    case '[':
        parse_class(ps, out);
        return;
    case '.':
        return;
    case '^': case '$':
        empty(out);
        return;
    case '*': case '+': case '?':
        ps->fail = true;
        return;
    case '\\': {
        int e = escape(ps);
        if (e >= 0)
            literal(out, (unsigned char)e);
        else if (e == -2)
            empty(out);
        else if (e == -1)
            ps->fail = true;
        return;
    }
    default:
        literal(out, c);
        return;
    }
}

/* Reads a quantifier if one follows: *, +, ?, {n}, {n,}, {n,m}, with a lazy or
 * possessive suffix. Returns false when none (a '{' that is not one is a literal). */
static bool parse_quant(struct parser *ps, unsigned *min, unsigned *max)
{
    const char *p = ps->p;
    if (*p == '*') {
        *min = 0, *max = ~0u, p++;
    } else if (*p == '+') {
        *min = 1, *max = ~0u, p++;
    } else if (*p == '?') {
        *min = 0, *max = 1, p++;
    } else if (*p == '{') {
        char *e;
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        unsigned long a = strtoul(p, &e, 10), b = a;
        p = e;
        if (*p == ',') {
            p++;
            b = ~0ul;
            if (isdigit((unsigned char)*p)) {
                b = strtoul(p, &e, 10);
                p = e;
            }
        }
        if (*p != '}')
            return false;
        p++;
        *min = a > 1000 ? 1000 : (unsigned)a;
        *max = b > 0xffffffffu ? ~0u : (unsigned)b;
    } else {
        return false;
    }
    if (*p == '?' || *p == '+')
        p++;
    ps->p = p;
    return true;
}

static void quantify(struct info *x, unsigned min, unsigned max)
{
    if (min == 0) { /* may match nothing: no requirement; x? is x's strings or "" */
        set_clear(&x->req);
        if (max == 1 && x->exact.valid)
            set_add(&x->exact, "", 0);
        else
            set_clear(&x->exact);
        return;
    }
    take_better(&x->req, &x->exact);
    if (!(min == 1 && max == 1))
        set_clear(&x->exact);
}

/* A sequence of pieces up to '|' or ')'. Runs of pieces with exact sets are joined into
 * longer strings; the best requirement of any piece or run is kept. */
static void parse_seq(struct parser *ps, struct info *out)
{
    struct set whole = {.valid = true}, run = {.valid = true};
    set_add(&whole, "", 0);
    set_add(&run, "", 0);
    while (*ps->p && *ps->p != '|' && *ps->p != ')' && !ps->fail) {
        struct info x = {0};
        parse_atom(ps, &x);
        unsigned min, max;
        if (parse_quant(ps, &min, &max))
            quantify(&x, min, max);
        take_better(&out->req, &x.req);
        set_cross(&whole, &x.exact);
        if (x.exact.valid) {
            struct set joined = {0};
            set_copy(&joined, &run);
            set_cross(&joined, &x.exact);
            if (!joined.valid) { /* too many: end the run here and start another */
                take_better(&out->req, &run);
                set_copy(&joined, &x.exact);
            }
            set_clear(&run);
            run = joined;
        } else {
            take_better(&out->req, &run);
            set_clear(&run);
            set_one(&run, "", 0);
        }
        info_clear(&x);
    }
    take_better(&out->req, &run);
    take_better(&out->req, &whole);
    set_clear(&run);
    out->exact = whole;
}

static void parse_alt(struct parser *ps, struct info *out)
{
    parse_seq(ps, out);
    bool alternatives = false;
    struct set req = {0};
    set_copy(&req, &out->req);
    take_better(&req, &out->exact);
    while (*ps->p == '|' && !ps->fail) {
        alternatives = true;
        ps->p++;
        struct info x = {0};
        parse_seq(ps, &x);
        /* Exact sets unite; so do requirements, if every alternative has one. */
        if (out->exact.valid && x.exact.valid)
            for (size_t i = 0; i < x.exact.n && out->exact.valid; i++)
                set_add(&out->exact, x.exact.v[i], strlen(x.exact.v[i]));
        else
            set_clear(&out->exact);
        take_better(&x.req, &x.exact);
        if (score(&req) > 0 && score(&x.req) > 0)
            for (size_t i = 0; i < x.req.n && req.valid; i++)
                set_add(&req, x.req.v[i], strlen(x.req.v[i]));
        else
            set_clear(&req);
        info_clear(&x);
    }
    if (alternatives) {
        set_clear(&out->req);
        out->req = req;
    } else {
        set_clear(&req);
    }
}

void gw_atoms_free(struct gw_atoms *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

int gw_atoms_extract(const char *expr, size_t min_len, struct gw_atoms *out)
{
    struct parser ps = {.p = expr};
    struct info top = {0};
    out->v = NULL;
    out->n = 0;
    parse_alt(&ps, &top);
    if (*ps.p != '\0') /* a stray ')' */
        ps.fail = true;
    /* A pattern that is only a few literals is left to Hyperscan: there is nothing to
     * save, and a database of its own would cost a scan call. */
    bool literal_only = top.exact.valid;
    take_better(&top.req, &top.exact);
    int rc = -1;
    if (!ps.fail && !literal_only && score(&top.req) >= min_len && min_len > 0 &&
        (out->v = calloc(top.req.n, sizeof *out->v))) {
        /* An atom that contains another is redundant: the shorter one fires anyway. */
        bool redundant[GW_ATOMS_MAX] = {0};
        for (size_t i = 0; i < top.req.n; i++)
            for (size_t j = 0; j < top.req.n && !redundant[i]; j++)
                redundant[i] = j != i && strlen(top.req.v[j]) < strlen(top.req.v[i]) &&
                               strstr(top.req.v[i], top.req.v[j]);
        for (size_t i = 0; i < top.req.n; i++) {
            if (!redundant[i]) {
                out->v[out->n++] = top.req.v[i];
                top.req.v[i] = NULL;
            }
        }
        rc = 0;
    }
    info_clear(&top);
    return rc;
}
