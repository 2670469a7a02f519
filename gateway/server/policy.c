/* server/policy.h: per-tenant views of one ruleset. */
#include "server/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether target names rule: its id, or its pack. */
static bool names(const char *target, const struct gw_rule *rule)
{
    return strcmp(target, rule->id) == 0 || strcmp(target, rule->pack) == 0;
}

/* Whether any rule of t has target as its id or pack. */
static bool known(const struct gw_rule_table *t, const char *target)
{
    for (size_t i = 0; i < t->n_rules; i++)
        if (names(target, &t->rules[i]))
            return true;
    return false;
}

static bool in_list(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

/* Whether target is both a pack's name and the id of a rule of another pack: a policy
 * line naming it would act on both. */
static bool ambiguous(const struct gw_rule_table *t, const char *target)
{
    const char *rule_pack = NULL;
    bool pack = false;
    for (size_t i = 0; i < t->n_rules; i++) {
        pack |= strcmp(t->rules[i].pack, target) == 0;
        if (strcmp(t->rules[i].id, target) == 0)
            rule_pack = t->rules[i].pack;
    }
    return pack && rule_pack && strcmp(rule_pack, target) != 0;
}

/* Checks every name p gives against the rules. */
static int check_names(const struct gw_policy_cfg *p, const struct gw_rule_table *t, char *err,
                       size_t errlen)
{
    const char *bad = NULL, *where = NULL;
    for (size_t i = 0; i < p->n_actions + p->n_messages + p->n_shadow; i++) {
        const char *x = i < p->n_actions ? p->actions[i].target
                        : i < p->n_actions + p->n_messages
                            ? p->messages[i - p->n_actions].target
                            : p->shadow[i - p->n_actions - p->n_messages];
        if (ambiguous(t, x)) {
            snprintf(err, errlen,
                     "policies.%s: '%s' is both a pack's name and another pack's rule id; "
                     "rename one of them so that the policy says which it means",
                     p->name, x);
            return -1;
        }
    }
    for (size_t i = 0; !bad && i < p->n_packs; i++) {
        bool pack = false;
        for (size_t r = 0; r < t->n_rules && !pack; r++)
            pack = strcmp(t->rules[r].pack, p->packs[i]) == 0;
        if (!pack)
            bad = p->packs[i], where = "packs";
    }
    for (size_t i = 0; !bad && i < p->n_shadow; i++)
        if (!known(t, p->shadow[i]))
            bad = p->shadow[i], where = "shadow";
    for (size_t i = 0; !bad && i < p->n_actions; i++)
        if (!known(t, p->actions[i].target))
            bad = p->actions[i].target, where = "actions";
    for (size_t i = 0; !bad && i < p->n_messages; i++)
        if (!known(t, p->messages[i].target))
            bad = p->messages[i].target, where = "messages";
    if (!bad)
        return 0;
    snprintf(err, errlen, "policies.%s.%s: the rules have no pack or rule '%s'", p->name, where,
             bad);
    return -1;
}

/* The view of one policy: the packs' own actions and shadow, then the policy's packs,
 * then its overrides by pack, then by rule (a rule's own line wins over its pack's). */
static struct gw_rule_policy *view_of(const struct gw_policy_cfg *p, const struct gw_rule_table *t)
{
    struct gw_rule_policy *v = calloc(t->n_rules ? t->n_rules : 1, sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < t->n_rules; i++) {
        const struct gw_rule *rule = &t->rules[i];
        v[i] = (struct gw_rule_policy){(unsigned char)rule->action, rule->shadow};
        if (p->packs && !in_list(p->packs, p->n_packs, rule->pack))
            v[i].action = GW_ACTION_ALLOW;
        for (int pass = 0; pass < 2; pass++) { /* 0: pack names, 1: rule ids */
            const char *key = pass ? rule->id : rule->pack;
            for (size_t k = 0; k < p->n_actions; k++)
                if (strcmp(p->actions[k].target, key) == 0)
                    v[i].action = (unsigned char)p->actions[k].action;
            if (in_list(p->shadow, p->n_shadow, key))
                v[i].shadow = true;
        }
        if (p->shadow_all)
            v[i].shadow = true;
    }
    return v;
}

int gw_policy_build(const struct gw_config *cfg, struct gw_ruleset *rs, char *err, size_t errlen)
{
    if (cfg->n_policies == 0)
        return 0;
    struct gw_rule_policy **views = calloc(cfg->n_policies, sizeof *views);
    if (!views) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_policies; i++) {
        int rc = check_names(&cfg->policies[i], &rs->table, err, errlen);
        if (rc == 0 && !(views[i] = view_of(&cfg->policies[i], &rs->table))) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
        /* Hiding text needs every match's start, which the rules are compiled to find only
         * for rules their packs write as redact (or with a validator or allow list): a
         * block or flag rule made to redact would hide its first match alone. */
        for (size_t r = 0; rc == 0 && r < rs->table.n_rules; r++) {
            const struct gw_rule *rule = &rs->table.rules[r];
            if (views[i][r].action == GW_ACTION_REDACT && !rule->need_span) {
                snprintf(err, errlen,
                         "policies.%s.actions: rule '%s' cannot hide text: its pack says %s, "
                         "and only a rule its pack writes as redact finds where every match "
                         "starts. Make the pack say redact (a policy can still block or flag "
                         "it)",
                         cfg->policies[i].name, rule->id, gw_action_name(rule->action));
                rc = -1;
                free(views[i]);
            }
        }
        if (rc == -1) {
            for (size_t j = 0; j < i; j++)
                free(views[j]);
            free(views);
            return -1;
        }
    }
    rs->views = views;
    rs->n_views = cfg->n_policies;
    return 0;
}

const struct gw_rule_policy *gw_policy_view(const struct gw_ruleset *rs, int policy)
{
    return policy >= 0 && (size_t)policy < rs->n_views ? rs->views[policy] : NULL;
}

const char *gw_policy_message(const struct gw_config *cfg, int policy, const struct gw_rule *rule)
{
    const struct gw_policy_cfg *p =
        policy >= 0 && (size_t)policy < cfg->n_policies ? &cfg->policies[policy] : NULL;
    if (p && rule) {
        const char *by_pack = NULL;
        for (size_t k = 0; k < p->n_messages; k++) {
            if (strcmp(p->messages[k].target, rule->id) == 0)
                return p->messages[k].message;
            if (strcmp(p->messages[k].target, rule->pack) == 0)
                by_pack = p->messages[k].message;
        }
        if (by_pack)
            return by_pack;
    }
    if (rule && rule->message)
        return rule->message;
    if (p && p->block_message)
        return p->block_message;
    return cfg->block_message;
}

enum gw_fail_mode gw_policy_fail_mode(const struct gw_config *cfg, int policy)
{
    if (policy >= 0 && (size_t)policy < cfg->n_policies && cfg->policies[policy].fail_mode >= 0)
        return (enum gw_fail_mode)cfg->policies[policy].fail_mode;
    return cfg->fail_mode;
}

bool gw_policy_screen_replies(const struct gw_config *cfg, int policy)
{
    if (policy >= 0 && (size_t)policy < cfg->n_policies &&
        cfg->policies[policy].screen_replies >= 0)
        return cfg->policies[policy].screen_replies != 0;
    return cfg->screen_replies;
}

bool gw_policy_model_ok(const struct gw_config *cfg, int policy, const char *model)
{
    const struct gw_policy_cfg *p =
        policy >= 0 && (size_t)policy < cfg->n_policies ? &cfg->policies[policy] : NULL;
    char *const *list = p && p->models ? p->models : cfg->models;
    size_t n = p && p->models ? p->n_models : cfg->n_models;
    if (!list)
        return true;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], model) == 0)
            return true;
    return false;
}

const char *gw_policy_name(const struct gw_config *cfg, int policy)
{
    return policy >= 0 && (size_t)policy < cfg->n_policies ? cfg->policies[policy].name : "";
}
