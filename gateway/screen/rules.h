/* Rule packs: YAML files that brand teams edit, loaded into a rule table.
 *
 * A pack with any error never loads in part: it is parsed into a scratch table and only
 * appended to the caller's table once every rule in it is valid. Errors name file:line. */
#ifndef GW_SCREEN_RULES_H
#define GW_SCREEN_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "screen/model.h"
#include "screen/validators.h"

enum gw_category {
    GW_CAT_PII,
    GW_CAT_SECRET,
    GW_CAT_INJECTION,
    GW_CAT_UNSAFE,
    GW_CAT_BRAND,
    GW_CAT_CX,
    GW_CAT__COUNT
};
enum gw_severity { GW_SEV_LOW, GW_SEV_MEDIUM, GW_SEV_HIGH, GW_SEV_CRITICAL, GW_SEV__COUNT };
/* Ordered by strength: a text's verdict is the strongest action among its findings. */
enum gw_action { GW_ACTION_ALLOW, GW_ACTION_FLAG, GW_ACTION_REDACT, GW_ACTION_BLOCK };
enum gw_direction { GW_DIR_PROMPT = 1, GW_DIR_REPLY = 2 };

/* One Hyperscan expression. Phrases are turned into expressions by the loader. */
struct gw_pattern {
    char *expr;
    char *source;      /* as the pack wrote it, before escaping or normalising */
    unsigned hs_flags; /* HS_FLAG_CASELESS for phrases; SINGLEMATCH is added at compile */
    unsigned rule;     /* index into gw_rule_table.rules */
    bool allow;        /* an allow pattern: cancels matches of its rule it covers whole */
    bool phrase;       /* made from a phrase: its findings always carry their exact start */
    int line;          /* where it was written */
    unsigned min_width, max_width; /* from hs_expression_info; max is UINT_MAX if unbounded */
};

/* The longest rule title, in bytes: a name for a table cell, not a sentence. */
#define GW_RULE_TITLE_MAX 64

struct gw_rule {
    char *id;
    char *pack;
    char *file;
    int line;
    enum gw_category category;
    enum gw_severity severity;
    unsigned directions; /* GW_DIR_* bits */
    enum gw_action action;
    gw_validator_fn validate; /* NULL when the rule has none */
    char *validator_name;
    char *replacement; /* text that replaces a redacted match, "[EMAIL]" style */
    char *message;     /* the on-brand answer when this rule blocks; NULL: a default */
    char *description;
    char *title; /* a short plain name for people ("E-mail address"); NULL: none */
    char **examples_match;
    int *examples_match_lines; /* where each example was written */
    size_t n_examples_match;
    char **examples_no_match;
    int *examples_no_match_lines;
    size_t n_examples_no_match;
    int examples_line;
    bool need_span; /* redact, a validator or an allow list: report start of match */
    unsigned own_contacts; /* 'contacts:' GW_CONTACT_* bits: the shop's own are no match */
    bool shadow;    /* `shadow: true` (the rule's or its pack's): evaluated and recorded
                       with what it would do, never acting */
    /* A model rule (no patterns): it fires when the score of the model's head named head
     * is at or above 'above' (model.h). head_index is set when the ruleset is compiled. */
    char *head;
    float above;
    int head_index;
    unsigned max_width; /* widest match of any of its patterns (UINT_MAX: unbounded) */
};

struct gw_rule_table {
    struct gw_rule *rules;
    size_t n_rules;
    struct gw_pattern *patterns;
    size_t n_patterns;
    size_t n_packs;
    struct gw_model *model; /* the learned stage a pack named ('model:'); NULL: none */
    struct gw_contacts contacts; /* the shop's own, from the packs' 'contacts:' */
    bool no_model; /* set before loading: skip the model and its rules (to train one) */
};

/* A policy's view of a ruleset: per rule (by index), the action it takes (GW_ACTION_ALLOW:
 * the rule is off) and whether it is in shadow (evaluated and recorded, never acting). One
 * array per policy and ruleset, built when the rules load (server/policy.c) and read by
 * every worker; NULL stands for the rules as their packs wrote them. */
struct gw_rule_policy {
    unsigned char action;
    bool shadow;
};

/* Collected error messages, one per line, "file:line: what is wrong" (a YAML syntax error:
 * "file:line:column: YAML syntax error: libyaml's words (what they usually mean)"). */
struct gw_errors {
    char **msgs;
    size_t n;
};

/* Loads one pack file, or every *.yaml / *.yml file of a directory in name order, and
 * appends its rules to t. Returns the number of packs with errors (0 on success);
 * each error is added to errs. Packs without errors are loaded even when another fails. */
int gw_rules_load_path(struct gw_rule_table *t, const char *path, struct gw_errors *errs);
/* Loads one pack from a string; name is used in messages in place of a file name. */
int gw_rules_load_string(struct gw_rule_table *t, const char *name, const char *yaml,
                         size_t len, struct gw_errors *errs);
void gw_rule_table_free(struct gw_rule_table *t);

void gw_errors_add(struct gw_errors *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gw_errors_free(struct gw_errors *e);

const char *gw_category_name(enum gw_category c);
const char *gw_severity_name(enum gw_severity s);
const char *gw_action_name(enum gw_action a);
int gw_action_parse(const char *s, enum gw_action *out);

/* Turns a plain phrase into a Hyperscan expression: normalised as text is (normalise.h:
 * so one space matches any run of whitespace, and an apostrophe a curly one), escaped,
 * with word boundaries asserted at either end that is a word character. The caller frees
 * the result; NULL for a blank phrase. */
char *gw_phrase_to_regex(const char *phrase);

#endif
