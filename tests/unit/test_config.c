/* The configuration loader (config/config.h): paths in a file resolve against the file's
 * own folder, whatever the working directory (issue 14); kpi.instance; policies per
 * tenant and their views of a ruleset (server/policy.h). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "screen/ruleset.h"
#include "server/policy.h"
#include "fixture.h"

/* A fresh folder holding sub/gateway.yaml with text; *dir gets the folder (realpath). */
static void write_config(char *dir, size_t len, const char *text, char *file, size_t flen)
{
    char tmpl[] = "/tmp/gw-config-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, dir));
    assert_true(strlen(dir) < len);
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%.200s/sub", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(file, flen, "%.220s/gateway.yaml", sub);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_config(const char *dir)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%.200s/sub/gateway.yaml", dir);
    unlink(p);
    snprintf(p, sizeof p, "%.200s/sub", dir);
    rmdir(p);
    rmdir(dir);
}

static void relative_paths_resolve_against_the_config_files_folder(void **state)
{
    (void)state;
    char dir[PATH_MAX], file[PATH_MAX], want[PATH_MAX + 64], cwd[PATH_MAX];
    write_config(dir, sizeof dir,
                 "rules: [../rules, ./extra/packs.yaml, /abs/rules]\n"
                 "incidents:\n  path: logs/incidents.jsonl\n"
                 "kpi:\n  db: ../kpi.db\n"
                 "privacy:\n  key_file: keys/conv.key\n",
                 file, sizeof file);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir("/"), 0); /* another working directory: it must not matter */
    struct gw_config cfg;
    char err[512] = "";
    char rel[PATH_MAX + 8];
    snprintf(rel, sizeof rel, "%s", file + 1); /* relative to "/": the folder made absolute */
    assert_int_equal(gw_config_load(&cfg, rel, err, sizeof err), 0);
    assert_int_equal(cfg.n_rules, 3);
    snprintf(want, sizeof want, "%s/sub/../rules", dir);
    assert_string_equal(cfg.rules[0], want);
    snprintf(want, sizeof want, "%s/sub/extra/packs.yaml", dir);
    assert_string_equal(cfg.rules[1], want);
    assert_string_equal(cfg.rules[2], "/abs/rules");
    snprintf(want, sizeof want, "%s/sub/logs/incidents.jsonl", dir);
    assert_string_equal(cfg.incident_log, want);
    snprintf(want, sizeof want, "%s/sub/../kpi.db", dir);
    assert_string_equal(cfg.kpi_db, want);
    snprintf(want, sizeof want, "%s/sub/keys/conv.key", dir);
    assert_string_equal(cfg.privacy.key_file, want);
    gw_config_free(&cfg);
    assert_int_equal(chdir(cwd), 0);
    remove_config(dir);

    /* a URL is not a path: it stays as written */
    write_config(dir, sizeof dir, "kpi:\n  db: postgresql://gw@db/kpis\n", file, sizeof file);
    assert_int_equal(gw_config_load(&cfg, file, err, sizeof err), 0);
    assert_string_equal(cfg.kpi_db, "postgresql://gw@db/kpis");
    gw_config_free(&cfg);
    remove_config(dir);
}

static const char *const two_brands =
    "policy:\n"
    "  block_message: 'Sorry, I cannot help with that.'\n"
    "  models: [gpt-4o-mini]\n"
    "policies:\n"
    "  brand-b:\n"
    "    tenants: [web-b, whatsapp-b]\n"
    "    models: [claude-haiku-4-5, gpt-4o]\n"
    "    keys: ['${TEST_BRAND_B_KEY}']\n"
    "    packs: [base, b]\n"
    "    shadow: [b.new]\n"
    "    actions: {base.rival: flag, b.old: off}\n"
    "    messages: {b: 'B says no.', base.rival: 'B never talks about rivals.'}\n"
    "    fail_mode: open\n"
    "  default:\n"
    "    block_message: 'A says no.'\n"
    "    screen_replies: false\n";

static const char *const two_packs =
    "name: base\n"
    "rules:\n"
    "  - {id: base.rival, category: brand, severity: low, applies_to: both, action: block,\n"
    "     phrases: [rivalcorp]}\n"
    "  - {id: base.mail, category: pii, severity: high, applies_to: both, action: redact,\n"
    "     patterns: ['[a-z]+@[a-z]+\\.org']}\n";

static void load_text(const char *text, struct gw_config *cfg, char *dir, size_t dirlen)
{
    char file[PATH_MAX], err[512];
    write_config(dir, dirlen, text, file, sizeof file);
    int rc = gw_config_load(cfg, file, err, sizeof err);
    if (rc != 0)
        fail_msg("%s", err);
}

/* Tenants pick their policy; others get "default"; each policy's messages, fail mode and
 * reply screening; a view per policy over one ruleset. */
static void policies_per_tenant_over_one_ruleset(void **state)
{
    (void)state;
    char dir[PATH_MAX];
    struct gw_config cfg;
    setenv("TEST_BRAND_B_KEY", "sk-brand-b-0123", 1);
    load_text(two_brands, &cfg, dir, sizeof dir);
    assert_int_equal(cfg.n_policies, 2);
    /* the key the chatbot calls with wins over the tenant header, which anyone can set */
    int byk = gw_config_policy_for(&cfg, "web-a", "sk-brand-b-0123");
    assert_string_equal(gw_policy_name(&cfg, byk), "brand-b");
    assert_string_equal(gw_policy_name(&cfg, gw_config_policy_for(&cfg, "web-a", "sk-brand-b-012")),
                        "default");
    assert_string_equal(gw_policy_name(&cfg, gw_config_policy_for(&cfg, NULL, "sk-other")),
                        "default");
    int b = gw_config_policy_for(&cfg, "whatsapp-b", NULL), a = gw_config_policy_for(&cfg, "web-a", NULL);
    assert_string_equal(gw_policy_name(&cfg, b), "brand-b");
    assert_string_equal(gw_policy_name(&cfg, a), "default");
    assert_int_equal(gw_config_policy_for(&cfg, NULL, NULL), a);
    assert_int_equal(gw_policy_fail_mode(&cfg, b), GW_FAIL_OPEN);
    assert_int_equal(gw_policy_fail_mode(&cfg, a), GW_FAIL_CLOSED);
    assert_false(gw_policy_screen_replies(&cfg, a));
    assert_true(gw_policy_screen_replies(&cfg, b));
    /* the models a policy's chatbots may call: its own list, else policy.models */
    assert_true(gw_policy_model_ok(&cfg, b, "gpt-4o"));
    assert_false(gw_policy_model_ok(&cfg, b, "gpt-4o-mini"));
    assert_true(gw_policy_model_ok(&cfg, a, "gpt-4o-mini"));
    assert_false(gw_policy_model_ok(&cfg, a, "gpt-4o-search-preview"));
    assert_false(gw_policy_model_ok(&cfg, -1, "GPT-4o-mini"));

    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    assert_int_equal(gw_rules_load_string(&t, "base.yaml", two_packs, strlen(two_packs), &e), 0);
    const char *bpack = "name: b\n"
                        "rules:\n"
                        "  - {id: b.old, category: brand, severity: low, applies_to: reply,\n"
                        "     action: block, phrases: [old slogan]}\n"
                        "  - {id: b.new, category: brand, severity: low, applies_to: reply,\n"
                        "     action: block, phrases: [new slogan]}\n";
    assert_int_equal(gw_rules_load_string(&t, "b.yaml", bpack, strlen(bpack), &e), 0);
    const char *cpack = "name: c\n"
                        "rules:\n"
                        "  - {id: c.only, category: brand, severity: low, applies_to: reply,\n"
                        "     action: block, message: 'C says no.', phrases: [c words]}\n";
    assert_int_equal(gw_rules_load_string(&t, "c.yaml", cpack, strlen(cpack), &e), 0);
    struct gw_ruleset *rs = NULL;
    assert_int_equal(gw_ruleset_compile(&t, &rs, &e), 0);
    char err[256] = "";
    assert_int_equal(gw_policy_build(&cfg, rs, err, sizeof err), 0);
    const struct gw_rule_policy *vb = gw_policy_view(rs, b), *va = gw_policy_view(rs, a);
    assert_null(gw_policy_view(rs, -1));
    /* rules by index: base.rival, base.mail, b.old, b.new, c.only */
    assert_int_equal(vb[0].action, GW_ACTION_FLAG);
    assert_int_equal(vb[1].action, GW_ACTION_REDACT);
    assert_int_equal(vb[2].action, GW_ACTION_ALLOW); /* off */
    assert_int_equal(vb[3].action, GW_ACTION_BLOCK);
    assert_true(vb[3].shadow);
    assert_int_equal(vb[4].action, GW_ACTION_ALLOW); /* pack c is not brand-b's */
    for (int i = 0; i < 5; i++) { /* default lists no packs: all, as written */
        assert_int_equal(va[i].action, rs->table.rules[i].action);
        assert_false(va[i].shadow);
    }
    /* messages: the policy's for the rule, for its pack, the rule's own, the policy's,
     * the config's */
    assert_string_equal(gw_policy_message(&cfg, b, &rs->table.rules[0]),
                        "B never talks about rivals.");
    assert_string_equal(gw_policy_message(&cfg, b, &rs->table.rules[3]), "B says no.");
    assert_string_equal(gw_policy_message(&cfg, a, &rs->table.rules[4]), "C says no.");
    assert_string_equal(gw_policy_message(&cfg, a, &rs->table.rules[0]), "A says no.");
    assert_string_equal(gw_policy_message(&cfg, -1, &rs->table.rules[0]),
                        "Sorry, I cannot help with that.");
    gw_ruleset_unref(rs);
    gw_errors_free(&e);
    gw_config_free(&cfg);
    remove_config(dir);
}

/* A policy that names a pack or a rule the rules do not have is refused, by name: a typo
 * must not leave a brand unprotected. Two policies cannot serve one tenant. */
static void a_policy_naming_what_is_not_there_is_refused(void **state)
{
    (void)state;
    char dir[PATH_MAX];
    struct gw_config cfg;
    load_text("policies:\n  b:\n    tenants: [t]\n    actions: {base.rivals: flag}\n", &cfg, dir,
              sizeof dir);
    struct gw_ruleset *rs = compile(two_packs);
    char err[256] = "";
    assert_int_equal(gw_policy_build(&cfg, rs, err, sizeof err), -1);
    assert_string_equal(err, "policies.b.actions: the rules have no pack or rule 'base.rivals'");
    assert_null(rs->views);
    gw_ruleset_unref(rs);
    gw_config_free(&cfg);
    remove_config(dir);

    /* a block rule made to redact would hide its first match alone: refused */
    load_text("policies:\n  b:\n    actions: {base.rival: redact}\n", &cfg, dir, sizeof dir);
    rs = compile(two_packs);
    assert_int_equal(gw_policy_build(&cfg, rs, err, sizeof err), -1);
    assert_non_null(strstr(err, "policies.b.actions: rule 'base.rival' cannot hide text: its "
                                "pack says block"));
    assert_null(rs->views);
    gw_ruleset_unref(rs);
    gw_config_free(&cfg);
    remove_config(dir);

    /* a name that is both a pack and another pack's rule: the policy must say which */
    load_text("policies:\n  b:\n    actions: {base.rival: off}\n", &cfg, dir, sizeof dir);
    struct gw_rule_table t = {0};
    struct gw_errors e = {0};
    const char *clash = "name: base.rival\nrules:\n  - {id: o.card, category: pii, severity: low,"
                        " applies_to: both, action: flag, phrases: [card words]}\n";
    assert_int_equal(gw_rules_load_string(&t, "a.yaml", two_packs, strlen(two_packs), &e), 0);
    assert_int_equal(gw_rules_load_string(&t, "b.yaml", clash, strlen(clash), &e), 0);
    assert_int_equal(gw_ruleset_compile(&t, &rs, &e), 0);
    assert_int_equal(gw_policy_build(&cfg, rs, err, sizeof err), -1);
    assert_non_null(strstr(err, "'base.rival' is both a pack's name and another pack's rule id"));
    gw_ruleset_unref(rs);
    gw_errors_free(&e);
    gw_config_free(&cfg);
    remove_config(dir);

    char file[PATH_MAX];
    setenv("TEST_KEY_ONE", "sk-one", 1);
    write_config(dir, sizeof dir,
                 "policies:\n  a:\n    keys: ['${TEST_KEY_ONE}']\n  b:\n"
                 "    keys: ['${TEST_KEY_ONE}']\n",
                 file, sizeof file);
    assert_int_equal(gw_config_load(&cfg, file, err, sizeof err), -1);
    assert_non_null(strstr(err, "the same key is in both 'a' and 'b'"));
    assert_null(strstr(err, "sk-one"));
    gw_config_free(&cfg);
    remove_config(dir);
    write_config(dir, sizeof dir,
                 "policies:\n  a:\n    tenants: [t1, t2]\n  b:\n    tenants: [t2]\n", file,
                 sizeof file);
    assert_int_equal(gw_config_load(&cfg, file, err, sizeof err), -1);
    assert_non_null(strstr(err, "tenant 't2' is in both 'a' and 'b'"));
    gw_config_free(&cfg);
    remove_config(dir);
    write_config(dir, sizeof dir, "policies:\n  a:\n    actions: {x.y: drop}\n", file,
                 sizeof file);
    assert_int_equal(gw_config_load(&cfg, file, err, sizeof err), -1);
    assert_non_null(strstr(err, "must be block, redact, flag or off"));
    gw_config_free(&cfg);
    remove_config(dir);
}

/* policy.media: refuse by default, pass when the operator says so, nothing else. */
static void media_are_refused_unless_the_operator_passes_them(void **state)
{
    (void)state;
    char dir[PATH_MAX], file[PATH_MAX], err[512];
    struct gw_config cfg;
    load_text("policy:\n  fail_mode: closed\n", &cfg, dir, sizeof dir);
    assert_false(cfg.media_pass);
    gw_config_free(&cfg);
    remove_config(dir);
    load_text("policy:\n  media: pass\n", &cfg, dir, sizeof dir);
    assert_true(cfg.media_pass);
    gw_config_free(&cfg);
    remove_config(dir);
    write_config(dir, sizeof dir, "policy:\n  media: screen\n", file, sizeof file);
    assert_int_equal(gw_config_load(&cfg, file, err, sizeof err), -1);
    assert_non_null(strstr(err, "policy.media"));
    assert_non_null(strstr(err, "must be refuse or pass"));
    gw_config_free(&cfg);
    remove_config(dir);
}

/* A second policies key is refused: the last would win silently, and a tenant lose the
 * stricter policy above it (it wrote past the first one's table: the config fuzzer's find). */
static void a_second_policies_key_is_refused(void **state)
{
    (void)state;
    char dir[PATH_MAX], file[PATH_MAX], err[512] = "";
    struct gw_config cfg;
    write_config(dir, sizeof dir,
                 "policies:\n  a:\n    tenants: [t1]\n  b:\n    tenants: [t2]\n"
                 "policies:\n  c:\n    tenants: [t3]\n",
                 file, sizeof file);
    assert_int_equal(gw_config_load(&cfg, file, err, sizeof err), -1);
    assert_non_null(strstr(err, "policies"));
    assert_non_null(strstr(err, "given twice"));
    gw_config_free(&cfg);
    remove_config(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(media_are_refused_unless_the_operator_passes_them),
        cmocka_unit_test(a_second_policies_key_is_refused),
        cmocka_unit_test(relative_paths_resolve_against_the_config_files_folder),
        cmocka_unit_test(policies_per_tenant_over_one_ruleset),
        cmocka_unit_test(a_policy_naming_what_is_not_there_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
