#include "screen/rules.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <hs/hs.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "screen/normalise.h"
#include "util/buf.h"

static const char *const category_names[] = {"pii", "secret", "injection", "unsafe", "brand", "cx"};
static const char *const severity_names[] = {"low", "medium", "high", "critical"};
static const char *const action_names[] = {"allow", "flag", "redact", "block"};

const char *gw_category_name(enum gw_category c)
{
    return c < GW_CAT__COUNT ? category_names[c] : "?";
}

const char *gw_severity_name(enum gw_severity s)
{
    return s < GW_SEV__COUNT ? severity_names[s] : "?";
}

const char *gw_action_name(enum gw_action a)
{
    return a <= GW_ACTION_BLOCK ? action_names[a] : "?";
}

static int lookup(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

int gw_action_parse(const char *s, enum gw_action *out)
{
    int i = lookup(action_names, 4, s);
    if (i < 0)
        return -1;
    *out = (enum gw_action)i;
    return 0;
}

void gw_errors_add(struct gw_errors *e, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char **v = realloc(e->msgs, (e->n + 1) * sizeof *v);
    if (!v)
        return;
    e->msgs = v;
    e->msgs[e->n] = strdup(msg);
    if (e->msgs[e->n])
        e->n++;
}

void gw_errors_free(struct gw_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->msgs[i]);
    free(e->msgs);
    e->msgs = NULL;
    e->n = 0;
}

static void rule_free(struct gw_rule *r)
{
    free(r->id);
    free(r->pack);
    free(r->file);
    free(r->validator_name);
    free(r->replacement);
    free(r->message);
    free(r->description);
    free(r->title);
    free(r->head);
    for (size_t i = 0; i < r->n_examples_match; i++)
        free(r->examples_match[i]);
    free(r->examples_match);
    free(r->examples_match_lines);
    for (size_t i = 0; i < r->n_examples_no_match; i++)
        free(r->examples_no_match[i]);
    free(r->examples_no_match);
    free(r->examples_no_match_lines);
}

void gw_rule_table_free(struct gw_rule_table *t)
{
    for (size_t i = 0; i < t->n_rules; i++)
        rule_free(&t->rules[i]);
    free(t->rules);
    for (size_t i = 0; i < t->n_patterns; i++) {
        free(t->patterns[i].expr);
        free(t->patterns[i].source);
    }
    free(t->patterns);
    gw_model_free(t->model);
    gw_contacts_free(&t->contacts);
    bool no_model = t->no_model;
    memset(t, 0, sizeof *t);
    t->no_model = no_model;
}

char *gw_phrase_to_regex(const char *phrase)
{
    /* The phrase is normalised as the text will be, so one space stands for any run of
     * whitespace and a curly apostrophe is a straight one: a literal, fixed width. */
    char *norm = gw_norm_string(phrase);
    if (!norm)
        return NULL;
    struct gw_buf b = {0};
    const unsigned char *p = (const unsigned char *)norm;
    size_t n = strlen(norm);
    if (n > 0 && p[n - 1] == ' ')
        n--;
    if (n > 0 && *p == ' ') {
        p++;
        n--;
    }
    if (n == 0) {
        free(norm);
        return NULL;
    }
    bool word_start = isalnum(p[0]) || p[0] == '_';
    bool word_end = isalnum(p[n - 1]) || p[n - 1] == '_';
    if (word_start)
        gw_buf_puts(&b, "\\b");
    for (size_t i = 0; i < n; i++) {
        if (isalnum(p[i]))
            gw_buf_append(&b, &p[i], 1);
        else
            gw_buf_printf(&b, "\\x%02x", p[i]);
    }
    if (word_end)
        gw_buf_puts(&b, "\\b");
    free(norm);
    return b.data; /* owned by the caller */
}

/* ---- YAML helpers ---- */

struct loader {
    const char *file;
    yaml_document_t *doc;
    struct gw_errors *errs;
    int nerr;
    struct gw_rule_table *existing; /* for ids duplicated across packs */
    struct gw_rule_table pack;      /* what this pack adds, merged only when nerr == 0 */
    char *pack_name;
};

static int node_line(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

static void err(struct loader *L, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void err(struct loader *L, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gw_errors_add(L->errs, "%s:%d: %s", L->file, n ? node_line(n) : 1, msg);
    L->nerr++;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Returns the node's string value, or reports that key must be a string and returns NULL. */
static const char *want_string(struct loader *L, const yaml_node_t *n, const char *key)
{
    const char *s = scalar(n);
    if (!s)
        err(L, n, "'%s' must be a string", key);
    else if (!*s)
        err(L, n, "'%s' must not be empty", key);
    return s;
}

/* Copies the strings of a sequence node into *out, and the line each was written on into
 * *lines; a scalar is taken as a one-item list. A list already there (the key given
 * twice) is freed: the last one counts. */
static int want_string_list(struct loader *L, yaml_node_t *n, const char *key, char ***out,
                            int **lines, size_t *count)
{
    for (size_t i = 0; i < *count; i++)
        free((*out)[i]);
    free(*out);
    free(*lines);
    *out = NULL;
    *lines = NULL;
    *count = 0;
    if (n->type == YAML_SCALAR_NODE) {
        *out = calloc(1, sizeof **out);
        *lines = calloc(1, sizeof **lines);
        if (!*out || !*lines || !((*out)[0] = strdup(scalar(n))))
            return -1;
        (*lines)[0] = node_line(n);
        *count = 1;
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        err(L, n, "'%s' must be a list of strings", key);
        return -1;
    }
    size_t len = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    *out = calloc(len ? len : 1, sizeof **out);
    *lines = calloc(len ? len : 1, sizeof **lines);
    if (!*out || !*lines)
        return -1;
    *count = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(L->doc, *it);
        const char *s = scalar(item);
        if (!s) {
            err(L, item, "every item of '%s' must be a string", key);
            return -1;
        }
        (*lines)[*count] = node_line(item);
        (*out)[(*count)++] = strdup(s);
    }
    return 0;
}

/* The settings a rule may inherit from its pack's defaults. */
struct rule_base {
    int category, severity, action; /* -1: unset */
    unsigned directions;            /* 0: unset */
    const char *replacement, *message;
    int shadow; /* -1: unset */
    unsigned bad; /* BAD_* bits: keys given with a value already reported as wrong */
};

enum { BAD_CATEGORY = 1, BAD_SEVERITY = 2, BAD_ACTION = 4, BAD_DIRECTIONS = 8 };

static int parse_enum(struct loader *L, yaml_node_t *n, const char *key,
                      const char *const *names, size_t count, int *out)
{
    const char *s = want_string(L, n, key);
    if (!s)
        return -1;
    int i = lookup(names, count, s);
    if (i < 0) {
        struct gw_buf b = {0};
        for (size_t k = 0; k < count; k++)
            gw_buf_printf(&b, "%s%s", k ? ", " : "", names[k]);
        err(L, n, "unknown %s '%s' (expected one of: %s)", key, s, b.data);
        gw_buf_free(&b);
        return -1;
    }
    *out = i;
    return 0;
}

static int parse_directions(struct loader *L, yaml_node_t *n, unsigned *out)
{
    static const char *const names[] = {"prompt", "reply", "both"};
    static const unsigned bits[] = {GW_DIR_PROMPT, GW_DIR_REPLY, GW_DIR_PROMPT | GW_DIR_REPLY};
    *out = 0;
    if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             it < n->data.sequence.items.top; it++) {
            int i;
            if (parse_enum(L, yaml_document_get_node(L->doc, *it), "applies_to", names, 3, &i))
                return -1;
            *out |= bits[i];
        }
        if (*out == 0) {
            err(L, n, "'applies_to' must name prompt, reply or both");
            return -1;
        }
        return 0;
    }
    int i;
    if (parse_enum(L, n, "applies_to", names, 3, &i))
        return -1;
    *out = bits[i];
    return 0;
}

/* Parses a key shared by defaults and rules. Returns 1 if key was one of them. */
static int parse_base_key(struct loader *L, const char *key, yaml_node_t *v, struct rule_base *b)
{
    /* A wrong value is reported here; the rule is then not also told it lacks the key. */
    if (strcmp(key, "category") == 0) {
        if (parse_enum(L, v, key, category_names, GW_CAT__COUNT, &b->category))
            b->bad |= BAD_CATEGORY;
    } else if (strcmp(key, "severity") == 0) {
        if (parse_enum(L, v, key, severity_names, GW_SEV__COUNT, &b->severity))
            b->bad |= BAD_SEVERITY;
    } else if (strcmp(key, "action") == 0) {
        if (parse_enum(L, v, key, action_names + 1, 3, &b->action) == 0)
            b->action++; /* "allow" is a verdict, not an action a rule may take */
        else
            b->bad |= BAD_ACTION;
    } else if (strcmp(key, "applies_to") == 0) {
        if (parse_directions(L, v, &b->directions))
            b->bad |= BAD_DIRECTIONS;
    } else if (strcmp(key, "replacement") == 0)
        b->replacement = want_string(L, v, key);
    else if (strcmp(key, "message") == 0)
        b->message = want_string(L, v, key);
    else if (strcmp(key, "shadow") == 0) {
        /* a rule being tried out: it is evaluated and recorded, never acts */
        const char *s = want_string(L, v, key);
        if (s && (strcmp(s, "true") == 0 || strcmp(s, "false") == 0))
            b->shadow = strcmp(s, "true") == 0;
        else if (s)
            err(L, v, "'shadow' must be true or false");
    } else
        return 0;
    return 1;
}

static bool valid_id(const char *id)
{
    bool dot = false;
    if (!islower((unsigned char)id[0]) && !isdigit((unsigned char)id[0]))
        return false;
    for (const char *p = id; *p; p++) {
        if (*p == '.') {
            if (p[1] == '\0' || p[1] == '.')
                return false;
            dot = true;
        } else if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_' &&
                   *p != '-') {
            return false;
        }
    }
    return dot;
}

static bool id_taken(const struct gw_rule_table *t, const char *id, const struct gw_rule **who)
{
    for (size_t i = 0; i < t->n_rules; i++) {
        if (strcmp(t->rules[i].id, id) == 0) {
            *who = &t->rules[i];
            return true;
        }
    }
    return false;
}

/* Checks one expression with Hyperscan and appends it to the pack's pattern list. */
static int add_pattern(struct loader *L, yaml_node_t *where, const char *expr, unsigned flags,
                       unsigned rule, bool allow, const char *what, const char *source)
{
    hs_expr_info_t *info = NULL;
    hs_compile_error_t *cerr = NULL;
    if (hs_expression_info(expr, flags, &info, &cerr) != HS_SUCCESS) {
        err(L, where, "invalid %s '%s': %s", what, source, cerr ? cerr->message : "?");
        hs_free_compile_error(cerr);
        return -1;
    }
    unsigned minw = info->min_width, maxw = info->max_width;
    free(info);
    if (minw == 0) {
        err(L, where, "%s '%s' can match empty text; it would match everywhere", what, source);
        return -1;
    }
    struct gw_pattern *v =
        realloc(L->pack.patterns, (L->pack.n_patterns + 1) * sizeof *L->pack.patterns);
    if (!v)
        return -1;
    L->pack.patterns = v;
    v[L->pack.n_patterns++] = (struct gw_pattern){
        .expr = strdup(expr),
        .source = strdup(source),
        .hs_flags = flags,
        .rule = rule,
        .allow = allow,
        .phrase = strcmp(what, "phrase") == 0,
        .line = node_line(where),
        .min_width = minw,
        .max_width = maxw,
    };
    return 0;
}

/* Adds each item of a patterns/phrases/allow list. phrase: escape each item first. */
static void add_pattern_list(struct loader *L, yaml_node_t *n, const char *key, unsigned rule,
                             bool phrase, bool allow, int *count)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        err(L, n, "'%s' must be a list", key);
        return;
    }
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(L->doc, *it);
        const char *s = scalar(item);
        if (!s || !*s) {
            err(L, item, "every item of '%s' must be a non-empty string", key);
            continue;
        }
        if (phrase) {
            char *re = gw_phrase_to_regex(s);
            if (!re) {
                err(L, item, "phrase '%s' is blank", s);
                continue;
            }
            if (add_pattern(L, item, re, HS_FLAG_CASELESS, rule, allow, "phrase", s) == 0)
                (*count)++;
            free(re);
        } else {
            /* Characters past ASCII are normalised as the text will be (an accented or
             * Cyrillic word in a pattern still matches); ASCII, so the syntax, is kept. */
            bool wide = false;
            for (const char *c = s; *c && !wide; c++)
                wide = (unsigned char)*c >= 0x80;
            char *norm = wide ? gw_norm_string(s) : NULL;
            if (add_pattern(L, item, norm ? norm : s, 0, rule, allow, "pattern", s) == 0)
                (*count)++;
            free(norm);
        }
    }
    if (n->data.sequence.items.top == n->data.sequence.items.start)
        err(L, n, "'%s' is empty: give at least one item or remove the key", key);
}

static char *default_replacement(const char *id)
{
    const char *last = strrchr(id, '.');
    last = last ? last + 1 : id;
    char *r = malloc(strlen(last) + 3);
    if (!r)
        return NULL;
    size_t k = 0;
    r[k++] = '[';
    for (const char *p = last; *p; p++)
        r[k++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    r[k++] = ']';
    r[k] = '\0';
    return r;
}

/* A model rule: 'head' names a head of the model (model.h), 'above' the score it fires at;
 * it has no patterns, and it blocks or flags (nothing of a text is its span to redact). */
static void parse_model_rule(struct loader *L, yaml_node_t *n, struct gw_rule *r,
                             const struct rule_base *b, yaml_node_t *above, bool has_patterns)
{
    if (!r->head) {
        err(L, n, "'above' is for model rules: give 'head' too, or remove it");
        return;
    }
    if (has_patterns)
        err(L, n, "a model rule ('head') has no patterns, phrases, allow or validate");
    if (b->action == GW_ACTION_REDACT)
        err(L, n, "a model rule blocks or flags: it has no span to redact");
    const char *s = above ? want_string(L, above, "above") : NULL;
    char *end = NULL;
    double v = s ? strtod(s, &end) : 0;
    if (!above)
        err(L, n, "model rule has no 'above' (the score, 0 to 1, it fires at)");
    else if (s && (end == s || *end || !(v > 0 && v <= 1)))
        err(L, above, "'above' must be a number above 0 and at most 1, not '%s'", s);
    r->above = (float)v;
    r->head_index = -1;
}

static void parse_rule(struct loader *L, yaml_node_t *n, const struct rule_base *defaults)
{
    if (n->type != YAML_MAPPING_NODE) {
        err(L, n, "each rule must be a mapping (id: ..., category: ..., ...)");
        return;
    }
    int nerr_before = L->nerr;
    struct rule_base b = *defaults;
    struct gw_rule r = {.line = node_line(n)};
    const char *id = NULL;
    bool id_given = false;
    yaml_node_t *patterns = NULL, *phrases = NULL, *allow = NULL, *validate = NULL;
    yaml_node_t *above = NULL;
    unsigned index = (unsigned)(L->existing->n_rules + L->pack.n_rules);
    size_t first_pattern = L->pack.n_patterns;

    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(L->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(L->doc, p->value);
        const char *key = scalar(k);
        if (!key) {
            err(L, k, "rule keys must be strings");
        } else if (parse_base_key(L, key, v, &b)) {
        } else if (strcmp(key, "id") == 0) {
            id_given = true;
            id = want_string(L, v, key);
        } else if (strcmp(key, "description") == 0) {
            const char *s = want_string(L, v, key);
            free(r.description); /* given twice: the last one counts */
            r.description = s ? strdup(s) : NULL;
        } else if (strcmp(key, "title") == 0) {
            const char *s = want_string(L, v, key);
            if (s && strlen(s) > GW_RULE_TITLE_MAX)
                err(L, v, "'title' must be at most %d bytes (a short plain name)",
                    GW_RULE_TITLE_MAX);
            free(r.title); /* given twice: the last one counts */
            r.title = s && strlen(s) <= GW_RULE_TITLE_MAX ? strdup(s) : NULL;
        } else if (strcmp(key, "patterns") == 0) {
            patterns = v;
        } else if (strcmp(key, "phrases") == 0) {
            phrases = v;
        } else if (strcmp(key, "allow") == 0) {
            allow = v;
        } else if (strcmp(key, "validate") == 0) {
            validate = v;
        } else if (strcmp(key, "head") == 0) {
            const char *s = want_string(L, v, key);
            free(r.head);
            r.head = s ? strdup(s) : NULL;
        } else if (strcmp(key, "above") == 0) {
            above = v;
        } else if (strcmp(key, "contacts") == 0) {
            char **kinds = NULL;
            int *klines = NULL;
            size_t nk = 0;
            r.own_contacts = 0;
            if (want_string_list(L, v, key, &kinds, &klines, &nk) == 0)
                for (size_t i = 0; i < nk; i++) {
                    if (strcmp(kinds[i], "emails") == 0)
                        r.own_contacts |= GW_CONTACT_EMAILS;
                    else if (strcmp(kinds[i], "phones") == 0)
                        r.own_contacts |= GW_CONTACT_PHONES;
                    else
                        err(L, v,
                            "'contacts' names the kinds of the pack's contacts this rule "
                            "leaves alone: emails, phones (not '%s')",
                            kinds[i]);
                }
            for (size_t i = 0; i < nk; i++)
                free(kinds[i]);
            free(kinds);
            free(klines);
        } else if (strcmp(key, "examples") == 0) {
            if (v->type != YAML_MAPPING_NODE) {
                err(L, v, "'examples' must be a mapping with 'match' and/or 'no_match' lists");
                continue;
            }
            r.examples_line = node_line(v);
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top;
                 q++) {
                yaml_node_t *ek = yaml_document_get_node(L->doc, q->key);
                yaml_node_t *ev = yaml_document_get_node(L->doc, q->value);
                const char *ekey = scalar(ek);
                if (ekey && strcmp(ekey, "match") == 0)
                    want_string_list(L, ev, "match", &r.examples_match,
                                     &r.examples_match_lines, &r.n_examples_match);
                else if (ekey && strcmp(ekey, "no_match") == 0)
                    want_string_list(L, ev, "no_match", &r.examples_no_match,
                                     &r.examples_no_match_lines, &r.n_examples_no_match);
                else
                    err(L, ek, "unknown key '%s' in examples (expected match, no_match)",
                        ekey ? ekey : "?");
            }
        } else {
            err(L, k,
                "unknown rule key '%s' (expected id, category, severity, applies_to, action, "
                "patterns, phrases, validate, allow, replacement, message, description, "
                "title, examples, shadow, head, above, contacts)",
                key);
        }
    }

    const struct gw_rule *other;
    if (!id_given) {
        err(L, n, "rule has no 'id'");
    } else if (!id || !*id) {
        id = NULL; /* already reported by want_string */
    } else if (!valid_id(id)) {
        err(L, n, "rule id '%s' must be dotted lower-case words, like 'pii.email'", id);
    } else if (id_taken(L->existing, id, &other) || id_taken(&L->pack, id, &other)) {
        err(L, n, "duplicate rule id '%s' (first defined at %s:%d)", id, other->file, other->line);
    }
    const char *label = id ? id : "?";
    if (b.category < 0 && !(b.bad & BAD_CATEGORY))
        err(L, n, "rule '%s' has no 'category' (and the pack has no default)", label);
    if (b.severity < 0 && !(b.bad & BAD_SEVERITY))
        err(L, n, "rule '%s' has no 'severity' (and the pack has no default)", label);
    if (b.action < 0 && !(b.bad & BAD_ACTION))
        err(L, n, "rule '%s' has no 'action' (and the pack has no default)", label);
    if (b.directions == 0 && !(b.bad & BAD_DIRECTIONS))
        err(L, n, "rule '%s' has no 'applies_to' (and the pack has no default)", label);
    if (validate) {
        const char *name = want_string(L, validate, "validate");
        if (name && !(r.validate = gw_validator_find(name)))
            err(L, validate, "unknown validator '%s' (known: %s)", name, gw_validator_names());
        else if (name)
            r.validator_name = strdup(name);
    }

    if (r.head || above) {
        parse_model_rule(L, n, &r, &b, above, patterns || phrases || allow || validate);
        patterns = phrases = allow = NULL;
    }
    int count = 0;
    if (patterns)
        add_pattern_list(L, patterns, "patterns", index, false, false, &count);
    if (phrases)
        add_pattern_list(L, phrases, "phrases", index, true, false, &count);
    if (!patterns && !phrases && !r.head)
        err(L, n, "rule '%s' has neither 'patterns' nor 'phrases'", label);
    if (allow) {
        int nallow = 0;
        add_pattern_list(L, allow, "allow", index, false, true, &nallow);
    }

    if (L->nerr != nerr_before || (r.head && L->existing->no_model)) {
        rule_free(&r);
        for (size_t i = first_pattern; i < L->pack.n_patterns; i++) {
            free(L->pack.patterns[i].expr);
            free(L->pack.patterns[i].source);
        }
        L->pack.n_patterns = first_pattern;
        return;
    }
    r.id = strdup(id);
    r.pack = strdup(L->pack_name ? L->pack_name : "");
    r.file = strdup(L->file);
    r.category = (enum gw_category)b.category;
    r.severity = (enum gw_severity)b.severity;
    r.action = (enum gw_action)b.action;
    r.directions = b.directions;
    r.replacement = b.replacement ? strdup(b.replacement) : default_replacement(id);
    r.message = b.message ? strdup(b.message) : NULL;
    r.shadow = b.shadow == 1;
    /* the shop's contacts are compared with the match, so it needs one (a flag rule too) */
    r.need_span = r.action == GW_ACTION_REDACT || r.validate || allow || r.own_contacts;
    r.max_width = 0;
    for (size_t i = first_pattern; i < L->pack.n_patterns; i++)
        if (!L->pack.patterns[i].allow && L->pack.patterns[i].max_width > r.max_width)
            r.max_width = L->pack.patterns[i].max_width;

    struct gw_rule *v = realloc(L->pack.rules, (L->pack.n_rules + 1) * sizeof *v);
    if (!v) {
        rule_free(&r);
        return;
    }
    L->pack.rules = v;
    v[L->pack.n_rules++] = r;
}

/* 'model: FILE' in a pack: the model file, relative to the pack's folder. A table has one
 * model; a file that does not read whole and right is an error of the pack, so a reload
 * keeps the ruleset (and model) it has. */
static void load_model(struct loader *L, yaml_node_t *v)
{
    const char *name = want_string(L, v, "model");
    if (!name || L->existing->no_model)
        return;
    if (L->existing->model || L->pack.model) {
        err(L, v, "a ruleset has one model, and one is already loaded (%s)",
            L->existing->model ? L->existing->model->path : L->pack.model->path);
        return;
    }
    const char *slash = strrchr(L->file, '/');
    struct gw_buf path = {0};
    if (name[0] != '/' && slash)
        gw_buf_append(&path, L->file, (size_t)(slash - L->file) + 1);
    gw_buf_puts(&path, name);
    char msg[PATH_MAX + 128];
    if (path.data && gw_model_read(path.data, &L->pack.model, msg, sizeof msg) == -1)
        err(L, v, "%s", msg);
    gw_buf_free(&path);
}

/* 'contacts:' in a pack: the shop's own e-mail addresses and phone numbers (validators.h),
 * which no personal-data rule redacts. */
static void load_contacts(struct loader *L, yaml_node_t *v)
{
    if (v->type != YAML_MAPPING_NODE) {
        err(L, v, "'contacts' must be a mapping with 'emails' and 'phones' lists");
        return;
    }
    for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
        yaml_node_t *k = yaml_document_get_node(L->doc, q->key);
        yaml_node_t *list = yaml_document_get_node(L->doc, q->value);
        const char *key = scalar(k);
        bool emails = key && strcmp(key, "emails") == 0;
        if (!emails && !(key && strcmp(key, "phones") == 0)) {
            err(L, k, "unknown key '%s' in contacts (expected emails, phones)", key ? key : "?");
            continue;
        }
        char **items = NULL;
        int *lines = NULL;
        size_t n = 0;
        if (want_string_list(L, list, key, &items, &lines, &n) == 0) {
            for (size_t i = 0; i < n; i++) {
                char canon[512];
                bool ok = emails ? gw_contact_email(items[i], canon, sizeof canon)
                                 : gw_contact_phone(items[i], canon, sizeof canon);
                struct gw_contacts one = {0};
                char *p = canon;
                if (!ok) {
                    gw_errors_add(L->errs,
                                  emails ? "%s:%d: contacts: '%s' is not an e-mail address "
                                           "(name@example.com, or *@example.com for a whole "
                                           "domain)"
                                         : "%s:%d: contacts: '%s' is not a phone number (a "
                                           "'+', the country code, a space, then the rest: "
                                           "+44 113 496 0321)",
                                  L->file, lines[i], items[i]);
                    L->nerr++;
                    continue;
                }
                if (emails)
                    one.emails = &p, one.n_emails = 1;
                else
                    one.phones = &p, one.n_phones = 1;
                if (gw_contacts_add(&L->pack.contacts, &one) == -1)
                    err(L, list, "out of memory");
            }
        }
        for (size_t i = 0; i < n; i++)
            free(items[i]);
        free(items);
        free(lines);
    }
}

static void parse_pack(struct loader *L, yaml_node_t *root)
{
    struct rule_base defaults = {.category = -1, .severity = -1, .action = -1, .shadow = -1};
    yaml_node_t *rules = NULL;
    bool name_given = false;
    if (!root || root->type != YAML_MAPPING_NODE) {
        err(L, root, "a rule pack must be a mapping with 'name' and 'rules'");
        return;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(L->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(L->doc, p->value);
        const char *key = scalar(k);
        if (key && strcmp(key, "name") == 0) {
            name_given = true;
            const char *s = want_string(L, v, key);
            if (s) {
                free(L->pack_name); /* a second name: the last one counts */
                L->pack_name = strdup(s);
            }
        } else if (key && strcmp(key, "description") == 0) {
            want_string(L, v, key);
        } else if (key && strcmp(key, "defaults") == 0) {
            if (v->type != YAML_MAPPING_NODE) {
                err(L, v, "'defaults' must be a mapping");
                continue;
            }
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
                 q < v->data.mapping.pairs.top; q++) {
                yaml_node_t *dk = yaml_document_get_node(L->doc, q->key);
                const char *dkey = scalar(dk);
                if (!dkey ||
                    !parse_base_key(L, dkey, yaml_document_get_node(L->doc, q->value), &defaults))
                    err(L, dk,
                        "unknown key '%s' in defaults (expected category, severity, "
                        "applies_to, action, replacement, message, shadow)",
                        dkey ? dkey : "?");
            }
        } else if (key && strcmp(key, "rules") == 0) {
            rules = v;
        } else if (key && strcmp(key, "model") == 0) {
            load_model(L, v);
        } else if (key && strcmp(key, "shadow") == 0) {
            parse_base_key(L, key, v, &defaults); /* the whole pack, unless a rule says */
        } else if (key && strcmp(key, "contacts") == 0) {
            load_contacts(L, v);
        } else {
            err(L, k,
                "unknown pack key '%s' (expected name, description, model, defaults, "
                "rules, shadow, contacts)",
                key ? key : "?");
        }
    }
    if (!name_given)
        err(L, root, "pack has no 'name'");
    if (!rules) {
        err(L, root, "pack has no 'rules' list");
        return;
    }
    if (rules->type != YAML_SEQUENCE_NODE) {
        err(L, rules, "'rules' must be a list");
        return;
    }
    if (rules->data.sequence.items.top == rules->data.sequence.items.start)
        err(L, rules, "'rules' is empty");
    for (yaml_node_item_t *it = rules->data.sequence.items.start;
         it < rules->data.sequence.items.top; it++)
        parse_rule(L, yaml_document_get_node(L->doc, *it), &defaults);
}

/* Moves the pack's rules and patterns to the end of t; rule indexes are already final. */
static int merge(struct gw_rule_table *t, struct gw_rule_table *pack)
{
    /* a pack of model rules has no patterns, and one read without its model no rules */
    if (pack->n_rules) {
        struct gw_rule *r = realloc(t->rules, (t->n_rules + pack->n_rules) * sizeof *r);
        if (!r)
            return -1;
        t->rules = r;
        memcpy(t->rules + t->n_rules, pack->rules, pack->n_rules * sizeof *r);
    }
    if (pack->n_patterns) {
        struct gw_pattern *p =
            realloc(t->patterns, (t->n_patterns + pack->n_patterns) * sizeof *p);
        if (!p)
            return -1;
        t->patterns = p;
        memcpy(t->patterns + t->n_patterns, pack->patterns, pack->n_patterns * sizeof *p);
    }
    t->n_rules += pack->n_rules;
    t->n_patterns += pack->n_patterns;
    t->n_packs++;
    if (pack->model)
        t->model = pack->model;
    if (gw_contacts_add(&t->contacts, &pack->contacts) == -1)
        return -1;
    gw_contacts_free(&pack->contacts);
    free(pack->rules);
    free(pack->patterns);
    memset(pack, 0, sizeof *pack);
    return 0;
}

/* What libyaml's message usually means in a rule pack, in plain words for the people who
 * write packs (who are not programmers), written into hint (empty when there is nothing to
 * add). libyaml's own words are kept beside it: they are what a web search finds. */
static void yaml_hint(const yaml_parser_t *p, const char *yaml, size_t len, char *hint,
                      size_t size)
{
    const char *problem = p->problem ? p->problem : "";
    const char *context = p->context ? p->context : "";
    size_t at = p->problem_mark.index < len ? p->problem_mark.index : len;
    size_t bol = at;
    while (bol > 0 && yaml[bol - 1] != '\n')
        bol--;
    /* A tab in the indentation of the line: libyaml says it "cannot start any token". */
    bool tab = at < len && yaml[at] == '\t';
    for (size_t i = bol; i < len && (yaml[i] == ' ' || yaml[i] == '\t'); i++)
        tab = tab || yaml[i] == '\t';
    /* The colon libyaml stops at is the first of its line when the line is indented
     * deeper than its key allows; a second colon is one inside the text. */
    bool first_colon = memchr(yaml + bol, ':', at - bol) == NULL;
    const char *s = NULL;
    if (tab || strstr(problem, "tab character"))
        s = "YAML does not allow tabs for indentation; use spaces";
    else if (strstr(problem, "mapping values are not allowed") && !first_colon)
        s = "text with a colon needs quotes: put the whole line's text in single quotes";
    else if (strstr(problem, "mapping values are not allowed") ||
             strstr(problem, "did not find expected key") ||
             strstr(problem, "did not find expected '-' indicator") ||
             strstr(problem, "block sequence entries are not allowed") ||
             strstr(problem, "did not find expected node content"))
        s = "check the indentation of this line or the one above: the keys of one rule, "
            "and the items of one list, start in the same column";
    else if (strstr(problem, "unknown escape character"))
        s = "in double quotes a backslash starts a YAML escape; write patterns in single "
            "quotes, where a backslash stays a backslash";
    else if (strstr(problem, "end of stream") && strstr(context, "quoted scalar")) {
        snprintf(hint, size, "the quote opened on line %zu is never closed",
                 p->context_mark.line + 1);
        return;
    } else if (strstr(problem, "cannot start any token"))
        s = "text that starts with @ or ` needs quotes: put it in single quotes";
    snprintf(hint, size, "%s", s ? s : "");
}

/* Packs are small: a rule file past these is a mistake or an attack on the loader
 * (libyaml takes time quadratic in the depth of nested [ and {). */
#define GW_PACK_MAX_BYTES (8u << 20)
#define GW_PACK_MAX_DEPTH 64

/* The deepest nesting of flow collections ([ and {) outside quoted text, up to the limit. */
static unsigned flow_depth(const char *s, size_t len)
{
    unsigned depth = 0, deepest = 0;
    char quote = 0;
    for (size_t i = 0; i < len && deepest <= GW_PACK_MAX_DEPTH; i++) {
        char c = s[i];
        if (quote) {
            if (c == quote)
                quote = 0;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '#') { /* a comment, to the end of its line */
            while (i < len && s[i] != '\n')
                i++;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest)
                deepest = depth;
        } else if ((c == ']' || c == '}') && depth) {
            depth--;
        } else if (c == '\n') {
            quote = 0;
        }
    }
    return deepest;
}

int gw_rules_load_string(struct gw_rule_table *t, const char *name, const char *yaml, size_t len,
                         struct gw_errors *errs)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    struct loader L = {.file = name, .doc = &doc, .errs = errs, .existing = t};
    if (len > GW_PACK_MAX_BYTES) {
        gw_errors_add(errs, "%s: %zu bytes: a rule pack is at most %u MB", name, len,
                      GW_PACK_MAX_BYTES >> 20);
        return 1;
    }
    if (memchr(yaml, '\0', len)) {
        gw_errors_add(errs, "%s: holds a NUL byte, which no pack text may contain", name);
        return 1;
    }
    if (flow_depth(yaml, len) > GW_PACK_MAX_DEPTH) {
        gw_errors_add(errs, "%s: lists or mappings nested more than %d deep ([ [ [ ...): a rule "
                            "pack never needs that",
                      name, GW_PACK_MAX_DEPTH);
        return 1;
    }
    if (!yaml_parser_initialize(&parser))
        return 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        char hint[192];
        yaml_hint(&parser, yaml, len, hint, sizeof hint);
        gw_errors_add(errs, "%s:%zu:%zu: YAML syntax error: %s%s%s%s%s%s", name,
                      parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                      parser.problem ? parser.problem : "?", parser.context ? " " : "",
                      parser.context ? parser.context : "", *hint ? " (" : "", hint,
                      *hint ? ")" : "");
        yaml_parser_delete(&parser);
        return 1;
    }
    for (yaml_node_t *n = doc.nodes.start; n < doc.nodes.top; n++)
        if (n->type == YAML_SCALAR_NODE &&
            strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
            /* a "\0" in double quotes: the text would silently end there */
            err(&L, n, "this text holds a NUL character (\\0 in double quotes), which no "
                       "rule text can contain");
            break;
        }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root)
        err(&L, NULL, "the file is empty");
    else
        parse_pack(&L, root);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    free(L.pack_name);
    if (L.nerr == 0 && merge(t, &L.pack) == 0)
        return 0;
    gw_rule_table_free(&L.pack);
    return 1;
}

static int load_file(struct gw_rule_table *t, const char *path, struct gw_errors *errs)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        gw_errors_add(errs, "%s: cannot open: %s", path, strerror(errno));
        return 1;
    }
    struct gw_buf b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        gw_buf_append(&b, chunk, n);
    fclose(f);
    int rc = gw_rules_load_string(t, path, b.data ? b.data : "", b.len, errs);
    gw_buf_free(&b);
    return rc;
}

static bool is_pack_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && ((n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
                              (n > 4 && strcmp(name + n - 4, ".yml") == 0));
}

int gw_rules_load_path(struct gw_rule_table *t, const char *path, struct gw_errors *errs)
{
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOTDIR)
            return load_file(t, path, errs);
        gw_errors_add(errs, "%s: cannot open: %s", path, strerror(errno));
        return 1;
    }
    struct dirent **names = NULL;
    int count = scandir(path, &names, NULL, alphasort);
    closedir(d);
    int failed = 0, packs = 0;
    for (int i = 0; i < count; i++) {
        if (is_pack_name(names[i]->d_name)) {
            char full[PATH_MAX];
            snprintf(full, sizeof full, "%s/%s", path, names[i]->d_name);
            failed += load_file(t, full, errs);
            packs++;
        }
        free(names[i]);
    }
    free(names);
    if (count >= 0 && packs == 0) {
        gw_errors_add(errs, "%s: no rule packs (*.yaml) in this directory", path);
        failed++;
    }
    return failed;
}
