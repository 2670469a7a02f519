#include "screen/ruleset.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/siphash.h"

/* ---- the on-disk cache of compiled databases ----
 * Compiling a few hundred patterns takes seconds; every guardrail scan, check and gateway
 * start would pay it. As rspamd does, a compiled database is serialised to a cache file
 * named by a hash of everything that went into it (Hyperscan version, mode, and each
 * expression with its flags and id), written to a temporary file and renamed. The
 * directory is $GUARDRAIL_CACHE_DIR, else $XDG_CACHE_HOME/guardrail, else
 * ~/.cache/guardrail; GUARDRAIL_CACHE_DIR=off turns it off. A file that does not load is
 * ignored and the database compiled again. */

static bool cache_dir(char *out, size_t outlen)
{
    const char *dir = getenv("GUARDRAIL_CACHE_DIR");
    if (dir && strcmp(dir, "off") == 0)
        return false;
    if (dir && *dir) {
        snprintf(out, outlen, "%s", dir);
    } else if ((dir = getenv("XDG_CACHE_HOME")) && *dir) {
        snprintf(out, outlen, "%s/guardrail", dir);
    } else if ((dir = getenv("HOME")) && *dir) {
        snprintf(out, outlen, "%s/.cache/guardrail", dir);
    } else {
        return false;
    }
    return true;
}

static uint64_t cache_key(const char *const *exprs, const unsigned *flags, const unsigned *ids,
                          unsigned n, unsigned mode)
{
    static const uint8_t k[16] = "guardrail-hsdb-1";
    uint64_t h = gw_siphash(k, hs_version(), strlen(hs_version()));
    h ^= gw_siphash(k, &mode, sizeof mode) * 31;
    for (unsigned i = 0; i < n; i++) {
        uint64_t e = gw_siphash(k, exprs[i], strlen(exprs[i]));
        unsigned fi[2] = {flags[i], ids[i]};
        e ^= gw_siphash(k, fi, sizeof fi) * 0x9e3779b97f4a7c15ULL;
        h = (h ^ e) * 0x100000001b3ULL + i;
    }
    return h;
}

static hs_database_t *cache_load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    hs_database_t *db = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && st.st_size > 0 && st.st_size < (256 << 20)) {
        char *bytes = malloc((size_t)st.st_size);
        if (bytes && fread(bytes, 1, (size_t)st.st_size, f) == (size_t)st.st_size &&
            hs_deserialize_database(bytes, (size_t)st.st_size, &db) != HS_SUCCESS)
            db = NULL;
        free(bytes);
    }
    fclose(f);
    return db;
}

/* Keeps the newest GW_CACHE_KEEP files: each edit of the rules leaves a new set behind. */
#define GW_CACHE_KEEP 24

static void cache_prune(const char *dir)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, NULL);
    struct {
        time_t mtime;
        char name[64];
    } files[256];
    int k = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]->d_name);
        struct stat st;
        char full[PATH_MAX + 256];
        snprintf(full, sizeof full, "%s/%s", dir, names[i]->d_name);
        if (k < 256 && len > 5 && len < 64 && strcmp(names[i]->d_name + len - 5, ".hsdb") == 0 &&
            stat(full, &st) == 0) {
            files[k].mtime = st.st_mtime;
            memcpy(files[k].name, names[i]->d_name, len + 1);
            k++;
        }
        free(names[i]);
    }
    free(names);
    while (k > GW_CACHE_KEEP) {
        int oldest = 0;
        for (int i = 1; i < k; i++)
            if (files[i].mtime < files[oldest].mtime)
                oldest = i;
        char full[PATH_MAX + 64];
        snprintf(full, sizeof full, "%s/%s", dir, files[oldest].name);
        unlink(full);
        files[oldest] = files[--k];
    }
}

static void cache_store(const char *dir, const char *path, const hs_database_t *db)
{
    char *bytes = NULL;
    size_t len = 0;
    char tmp[PATH_MAX + 32];
    if (hs_serialize_database(db, &bytes, &len) != HS_SUCCESS)
        return;
    char part[PATH_MAX];
    snprintf(part, sizeof part, "%s", dir);
    for (char *p = part + 1; *p; p++) { /* mkdir -p */
        if (*p == '/') {
            *p = '\0';
            mkdir(part, 0755);
            *p = '/';
        }
    }
    mkdir(part, 0755);
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (f) {
        bool ok = fwrite(bytes, 1, len, f) == len;
        ok = fclose(f) == 0 && ok;
        if (!ok || rename(tmp, path) == -1)
            unlink(tmp);
    }
    free(bytes);
    cache_prune(dir);
}

/* Compiles the patterns of the rules that apply to direction dir into *out (NULL if none). */
static int compile_db(const struct gw_rule_table *t, enum gw_direction dir, unsigned mode,
                      hs_database_t **out, struct gw_errors *errs)
{
    const char **exprs = calloc(t->n_patterns ? t->n_patterns : 1, sizeof *exprs);
    unsigned *flags = calloc(t->n_patterns ? t->n_patterns : 1, sizeof *flags);
    unsigned *ids = calloc(t->n_patterns ? t->n_patterns : 1, sizeof *ids);
    unsigned n = 0;
    int rc = -1;
    *out = NULL;
    if (!exprs || !flags || !ids)
        goto done;
    for (size_t i = 0; i < t->n_patterns; i++) {
        const struct gw_pattern *p = &t->patterns[i];
        const struct gw_rule *r = &t->rules[p->rule];
        if (!(r->directions & dir))
            continue;
        exprs[n] = p->expr;
        /* Rules that only block or flag need their first match and no span. Span rules
         * (redact, validate, allow list) need every end; PCRE2 then finds the start. */
        flags[n] = p->hs_flags | (r->need_span || p->allow ? 0 : HS_FLAG_SINGLEMATCH);
        ids[n] = (unsigned)i;
        n++;
    }
    if (n == 0) {
        rc = 0;
        goto done;
    }
    char cdir[PATH_MAX - 64], path[PATH_MAX];
    bool cached = cache_dir(cdir, sizeof cdir);
    if (cached) {
        snprintf(path, sizeof path, "%s/%016llx.hsdb", cdir,
                 (unsigned long long)cache_key(exprs, flags, ids, n, mode));
        if ((*out = cache_load(path))) {
            rc = 0;
            goto done;
        }
    }
    hs_compile_error_t *cerr = NULL;
    if (hs_compile_multi(exprs, flags, ids, n, mode, NULL, out, &cerr) != HS_SUCCESS) {
        if (cerr && cerr->expression >= 0) {
            const struct gw_pattern *p = &t->patterns[ids[cerr->expression]];
            const struct gw_rule *r = &t->rules[p->rule];
            gw_errors_add(errs, "%s:%d: rule '%s': pattern '%s' does not compile: %s", r->file,
                          p->line, r->id, p->expr, cerr->message);
        } else {
            gw_errors_add(errs, "compiling the rules failed: %s", cerr ? cerr->message : "?");
        }
        hs_free_compile_error(cerr);
        goto done;
    }
    if (cached)
        cache_store(cdir, path, *out);
    /* Compiling takes tens of megabytes for a moment; give them back to the system, or a
     * gateway that compiled at start keeps them resident for its whole life. */
    malloc_trim(0);
    rc = 0;
done:
    free(exprs);
    free(flags);
    free(ids);
    return rc;
}

void gw_ruleset_unref(struct gw_ruleset *rs)
{
    if (!rs || atomic_fetch_sub(&rs->refs, 1) != 1)
        return;
    hs_free_database(rs->block_db[0]);
    hs_free_database(rs->block_db[1]);
    hs_free_database(rs->stream_db);
    hs_free_scratch(rs->proto_scratch);
    for (size_t i = 0; rs->confirm && i < rs->table.n_patterns; i++)
        pcre2_code_free(rs->confirm[i]);
    free(rs->confirm);
    gw_rule_table_free(&rs->table);
    free(rs);
}

struct gw_ruleset *gw_ruleset_ref(struct gw_ruleset *rs)
{
    atomic_fetch_add(&rs->refs, 1);
    return rs;
}

/* Hyperscan's own start-of-match tracking rejects the bounded repeats that PII patterns
 * are made of ("Pattern is too large"), and unbounded patterns would make every stream
 * hold back the maximum. So, as rspamd does, Hyperscan finds where a match ends and a
 * second engine, PCRE2-JIT, finds where it starts, only when a span rule fires. The
 * expression is wrapped as (?:EXPR)\z and run on the text up to the end offset.
 * A phrase whose width varies (a whitespace run, an apostrophe that may be U+2019) gets
 * one too, whatever its rule: a phrase's finding reports its exact start. */
static int compile_confirm(struct gw_ruleset *rs, struct gw_errors *errs)
{
    rs->confirm = calloc(rs->table.n_patterns ? rs->table.n_patterns : 1, sizeof *rs->confirm);
    if (!rs->confirm)
        return -1;
    for (size_t i = 0; i < rs->table.n_patterns; i++) {
        const struct gw_pattern *p = &rs->table.patterns[i];
        const struct gw_rule *r = &rs->table.rules[p->rule];
        if (!r->need_span && !p->allow && !(p->phrase && p->min_width != p->max_width))
            continue;
        size_t n = strlen(p->expr) + 8;
        char *wrapped = malloc(n);
        if (!wrapped)
            return -1;
        snprintf(wrapped, n, "(?:%s)\\z", p->expr);
        int code;
        PCRE2_SIZE off;
        uint32_t opts = (p->hs_flags & HS_FLAG_CASELESS) ? PCRE2_CASELESS : 0;
        rs->confirm[i] = pcre2_compile((PCRE2_SPTR)wrapped, PCRE2_ZERO_TERMINATED, opts, &code,
                                       &off, NULL);
        free(wrapped);
        if (!rs->confirm[i]) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            gw_errors_add(errs, "%s:%d: rule '%s': pattern '%s' is not accepted by PCRE2: %s",
                          r->file, p->line, r->id, p->expr, (char *)msg);
            return -1;
        }
        pcre2_jit_compile(rs->confirm[i], PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    }
    return 0;
}

int gw_ruleset_compile(struct gw_rule_table *t, struct gw_ruleset **out, struct gw_errors *errs)
{
    struct gw_ruleset *rs = calloc(1, sizeof *rs);
    *out = NULL;
    if (!rs)
        return -1;
    atomic_init(&rs->refs, 1);
    rs->table = *t;
    memset(t, 0, sizeof *t);

    if (compile_db(&rs->table, GW_DIR_PROMPT, HS_MODE_BLOCK, &rs->block_db[0], errs) ||
        compile_db(&rs->table, GW_DIR_REPLY, HS_MODE_BLOCK, &rs->block_db[1], errs) ||
        compile_db(&rs->table, GW_DIR_REPLY, HS_MODE_STREAM, &rs->stream_db, errs) ||
        compile_confirm(rs, errs))
        goto fail;
    hs_database_t *dbs[] = {rs->block_db[0], rs->block_db[1], rs->stream_db};
    for (size_t i = 0; i < 3; i++) {
        if (dbs[i] && hs_alloc_scratch(dbs[i], &rs->proto_scratch) != HS_SUCCESS) {
            gw_errors_add(errs, "cannot allocate Hyperscan scratch space");
            goto fail;
        }
    }

    /* A stream holds back the widest match any reply pattern (allow lists included) can
     * make, so the customer never sees the start of something that is still to be
     * redacted or blocked. Unbounded patterns are capped; docs/rules.md says so. */
    unsigned widest = 0; /* UINT_MAX when a pattern is unbounded */
    for (size_t i = 0; i < rs->table.n_patterns; i++) {
        const struct gw_pattern *p = &rs->table.patterns[i];
        if ((rs->table.rules[p->rule].directions & GW_DIR_REPLY) && p->max_width > widest)
            widest = p->max_width;
    }
    rs->holdback = widest > GW_HOLDBACK_CAP ? GW_HOLDBACK_CAP : widest;
    *out = rs;
    return 0;
fail:
    gw_ruleset_unref(rs);
    return -1;
}

int gw_ruleset_load(const char *const *paths, size_t n, struct gw_ruleset **out,
                    struct gw_errors *errs)
{
    struct gw_rule_table t = {0};
    int failed = 0;
    *out = NULL;
    for (size_t i = 0; i < n; i++)
        failed += gw_rules_load_path(&t, paths[i], errs);
    if (failed) {
        gw_rule_table_free(&t);
        return -1;
    }
    if (t.n_rules == 0) {
        gw_errors_add(errs, "no rules loaded");
        gw_rule_table_free(&t);
        return -1;
    }
    return gw_ruleset_compile(&t, out, errs);
}
