/* The configuration loader (config/config.h): paths in a file resolve against the file's
 * own folder, whatever the working directory (issue 14). */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(relative_paths_resolve_against_the_config_files_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
