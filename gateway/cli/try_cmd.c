/* guardrail try: what a brand manager runs before a reload. A sentence in, and what the
 * gateway would do with it as a customer's question and as the chatbot's reply, under a
 * tenant's policy: each rule that finds something, by its plain name, what it does (or,
 * in shadow, would do), the answer a block gives in that brand's voice, and the text as
 * it would go out. Sentences come as arguments, or one a line on standard input (with a
 * prompt when that is a terminal). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "config/config.h"
#include "screen/ruleset.h"
#include "screen/scan.h"
#include "server/policy.h"
#include "server/server.h"

static const char try_help[] =
    "usage: guardrail try [--config FILE] [--rules PATH]... [--shadow-rules PATH]...\n"
    "                     [--tenant T] [--direction prompt|reply|both] [SENTENCE...]\n\n"
    "Shows what the gateway would do with each sentence: as a customer's question (prompt)\n"
    "and as the chatbot's reply, under the policy of tenant T (the config's policies:;\n"
    "without --tenant, the default one). For each rule that finds something: its plain\n"
    "name, what it does (a rule in shadow: what it would do), the answer a block gives,\n"
    "and the text as it would go out. Without sentences, reads one a line from standard\n"
    "input. Nothing is sent anywhere and nothing is recorded.\n\n"
    "  -c, --config FILE     the gateway's config: its rules and policies (default: the\n"
    "                        built-in defaults, rules/)\n"
    "  -r, --rules PATH      rule packs to use instead of the config's (repeatable)\n"
    "  -s, --shadow-rules PATH\n"
    "                        candidate packs, in shadow, as guardrail serve --shadow-rules\n"
    "  -t, --tenant T        the tenant whose policy applies (the tenant header's value)\n"
    "  -d, --direction D     prompt, reply or both (default: both)\n"
    "  -h, --help            show this help\n";

static const char *verb(enum gw_action a)
{
    return a == GW_ACTION_BLOCK ? "blocks" : a == GW_ACTION_REDACT ? "hides" : "flags";
}

/* Drops the findings of categories a customer's message is not screened for
 * (policy.screen_roles: the user role's categories), as the gateway does. */
static void keep_user_categories(const struct gw_ruleset *rs, const struct gw_config *cfg,
                                 struct gw_findings *f)
{
    unsigned mask = cfg->role_categories[0]; /* GW_ROLE_USER is bit 0 */
    size_t n = 0;
    f->verdict = GW_ACTION_ALLOW;
    for (size_t i = 0; i < f->n; i++) {
        if (!(mask & (1u << rs->table.rules[f->v[i].rule].category)))
            continue;
        f->v[n++] = f->v[i];
        if (!f->v[i].shadow && f->v[i].action > f->verdict)
            f->verdict = f->v[i].action;
    }
    f->n = n;
}

static void try_one(gw_scanner *sc, const struct gw_config *cfg, int policy, const char *text,
                    enum gw_direction dir)
{
    const struct gw_ruleset *rs = gw_scanner_ruleset(sc);
    struct gw_findings f = {0};
    size_t len = strlen(text);
    const char *where = dir == GW_DIR_PROMPT ? "as a question" : "as a reply";
    if (dir == GW_DIR_REPLY && !gw_policy_screen_replies(cfg, policy)) {
        printf("  %s: not screened (screen_replies is off for this policy)\n", where);
        return;
    }
    if (dir == GW_DIR_PROMPT && !(cfg->screen_roles & GW_ROLE_USER)) {
        printf("  %s: not screened (policy.screen_roles leaves out the user's messages)\n",
               where);
        return;
    }
    int rc = gw_scan(sc, text, len, dir, &f);
    if (rc == 0 && dir == GW_DIR_PROMPT)
        keep_user_categories(rs, cfg, &f);
    if (rc == -1) {
        printf("  %s: could not be screened in full (fail_mode %s applies)\n", where,
               gw_policy_fail_mode(cfg, policy) == GW_FAIL_OPEN ? "open: it goes out"
                                                                : "closed: it is refused");
        gw_findings_free(&f);
        return;
    }
    if (f.n == 0) {
        printf("  %s: passes, nothing found\n", where);
        gw_findings_free(&f);
        return;
    }
    printf("  %s: %s\n", where,
           f.verdict == GW_ACTION_BLOCK    ? "BLOCKED"
           : f.verdict == GW_ACTION_REDACT ? "passes with parts hidden"
           : f.verdict == GW_ACTION_FLAG   ? "passes, flagged for review"
                                           : "passes (only rules in shadow found something)");
    for (size_t i = 0; i < f.n; i++) {
        const struct gw_rule *r = &rs->table.rules[f.v[i].rule];
        printf("    - %s (%s): %s%s \"%.*s\"\n", r->title ? r->title : r->id, r->id,
               f.v[i].shadow ? "in shadow, would have " : "", f.v[i].shadow
                   ? (f.v[i].action == GW_ACTION_BLOCK    ? "blocked"
                      : f.v[i].action == GW_ACTION_REDACT ? "hidden"
                                                          : "flagged")
                   : verb(f.v[i].action),
               (int)(f.v[i].end - f.v[i].start), text + f.v[i].start);
    }
    const struct gw_rule *blocker = gw_findings_blocking_rule(rs, &f);
    if (blocker) {
        printf("    the customer gets: %s\n", gw_policy_message(cfg, policy, blocker));
    } else if (f.verdict == GW_ACTION_REDACT) {
        struct gw_buf red = {0};
        gw_redact(rs, text, len, &f, &red);
        printf("    goes out as: %s\n", red.data ? red.data : "");
        gw_buf_free(&red);
    }
    gw_findings_free(&f);
}

static void try_text(gw_scanner *sc, const struct gw_config *cfg, int policy, const char *text,
                     unsigned dirs)
{
    printf("\"%s\"\n", text);
    if (dirs & GW_DIR_PROMPT)
        try_one(sc, cfg, policy, text, GW_DIR_PROMPT);
    if (dirs & GW_DIR_REPLY)
        try_one(sc, cfg, policy, text, GW_DIR_REPLY);
}

int gw_cmd_try(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"rules", required_argument, NULL, 'r'},
                                         {"tenant", required_argument, NULL, 't'},
                                         {"direction", required_argument, NULL, 'd'},
                                         {"shadow-rules", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *config = NULL, *tenant = NULL, *shadow[16];
    size_t n_shadow = 0;
    const char **paths = calloc((size_t)argc + 64, sizeof *paths);
    size_t npaths = 0;
    unsigned dirs = GW_DIR_PROMPT | GW_DIR_REPLY;
    int c, rc = 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:r:t:d:s:h", opts, NULL)) != -1) {
        if (c == 'c')
            config = optarg;
        else if (c == 's' && n_shadow < sizeof shadow / sizeof shadow[0])
            shadow[n_shadow++] = optarg;
        else if (c == 'r')
            paths[npaths++] = optarg;
        else if (c == 't')
            tenant = optarg;
        else if (c == 'd') {
            if (strcmp(optarg, "prompt") == 0)
                dirs = GW_DIR_PROMPT;
            else if (strcmp(optarg, "reply") == 0)
                dirs = GW_DIR_REPLY;
            else if (strcmp(optarg, "both") == 0)
                dirs = GW_DIR_PROMPT | GW_DIR_REPLY;
            else {
                free(paths);
                return gw_cli_usage_error("--direction must be prompt, reply or both, not '%s'",
                                          optarg);
            }
        } else if (c == 'h') {
            fputs(try_help, stdout);
            free(paths);
            return 0;
        } else {
            fputs(try_help, stderr);
            free(paths);
            return 2;
        }
    }
    char err[512];
    struct gw_config cfg;
    if (config ? gw_config_load_for_tools(&cfg, config, err, sizeof err) : (gw_config_defaults(&cfg), 0)) {
        fprintf(stderr, "guardrail try: %s\n", err);
        gw_config_free(&cfg);
        free(paths);
        return 1;
    }
    if (npaths) { /* --rules replace the config's, as for serve */
        for (size_t i = 0; i < cfg.n_rules; i++)
            free(cfg.rules[i]);
        cfg.n_rules = 0;
        for (size_t i = 0; i < npaths; i++)
            gw_config_add_rules(&cfg, paths[i]);
    }
    for (size_t i = 0; i < n_shadow; i++) /* candidates, in shadow, as serve runs them */
        gw_config_add_shadow_rules(&cfg, shadow[i]);
    npaths = 0;
    for (size_t i = 0; i < cfg.n_rules; i++)
        paths[npaths++] = cfg.rules[i];
    struct gw_errors errs = {0};
    struct gw_ruleset *rs = NULL;
    gw_scanner *sc = NULL;
    if (gw_ruleset_load(paths, npaths, &rs, &errs) == -1) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msgs[i]);
        fprintf(stderr, "guardrail try: the rules did not load; run 'guardrail check' on them\n");
        rc = 1;
        goto out;
    }
    if (gw_server_prepare_rules(&cfg, rs, err, sizeof err) == -1) {
        fprintf(stderr, "guardrail try: %s\n", err);
        rc = 1;
        goto out;
    }
    int policy = gw_config_policy_for(&cfg, tenant, NULL);
    if (!(sc = gw_scanner_new(rs)))
        goto out;
    gw_scanner_set_policy(sc, gw_policy_view(rs, policy));
    bool in_none = tenant && (policy < 0 || strcmp(gw_policy_name(&cfg, policy), "default") == 0);
    for (size_t i = 0; in_none && policy >= 0 && i < cfg.policies[policy].n_tenants; i++)
        in_none = strcmp(cfg.policies[policy].tenants[i], tenant) != 0; /* listed in default */
    printf("policy: %s%s\n", policy >= 0 ? gw_policy_name(&cfg, policy) : "none (the rules as written)",
           in_none ? " (the tenant is in no policy)" : "");
    if (optind < argc) {
        for (int i = optind; i < argc; i++)
            try_text(sc, &cfg, policy, argv[i], dirs);
    } else {
        bool tty = isatty(STDIN_FILENO);
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        for (;;) {
            if (tty) {
                fputs("> ", stdout);
                fflush(stdout);
            }
            if ((n = getline(&line, &cap, stdin)) == -1)
                break;
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = '\0';
            if (n > 0)
                try_text(sc, &cfg, policy, line, dirs);
        }
        free(line);
    }
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    gw_scanner_free(sc);
    gw_ruleset_unref(rs);
    gw_errors_free(&errs);
    gw_config_free(&cfg);
    free(paths);
    return rc;
}
