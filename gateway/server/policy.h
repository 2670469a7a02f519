/* Policies per tenant (policies: in the config) over one ruleset. One ruleset build serves
 * every policy: a policy is a view of the rules (which are on, what each does, which are
 * in shadow), built when the rules load and swapped with them on a reload, so a reload
 * changes every policy at once and nothing compiles per tenant. A request picks its
 * policy by its tenant header (gw_config_policy_for) when it arrives. */
#ifndef GW_SERVER_POLICY_H
#define GW_SERVER_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "screen/ruleset.h"

/* Builds rs's views of cfg's policies. A policy that names a pack or a rule the rules do
 * not have is an error (a typo would silently leave a brand unprotected): -1 with err,
 * and rs keeps no view. */
int gw_policy_build(const struct gw_config *cfg, struct gw_ruleset *rs, char *err, size_t errlen);
/* The view of policy (NULL when -1: the rules as written). */
const struct gw_rule_policy *gw_policy_view(const struct gw_ruleset *rs, int policy);
/* The answer when rule (NULL: unknown) blocks under policy: the policy's message for the
 * rule or its pack, else the rule's own, else the policy's block_message, else the
 * config's. */
const char *gw_policy_message(const struct gw_config *cfg, int policy, const struct gw_rule *rule);
enum gw_fail_mode gw_policy_fail_mode(const struct gw_config *cfg, int policy);
bool gw_policy_screen_replies(const struct gw_config *cfg, int policy);
/* Whether the policy's chatbots may call model: its models list, else policy.models, else
 * any model. */
bool gw_policy_model_ok(const struct gw_config *cfg, int policy, const char *model);
/* The policy's name ("" for -1). */
const char *gw_policy_name(const struct gw_config *cfg, int policy);

#endif
