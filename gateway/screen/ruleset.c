#include "screen/ruleset.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    rs->holdback_wanted = 0;
    for (size_t i = 0; i < rs->table.n_patterns; i++) {
        const struct gw_pattern *p = &rs->table.patterns[i];
        if ((rs->table.rules[p->rule].directions & GW_DIR_REPLY) && p->max_width > rs->holdback_wanted)
            rs->holdback_wanted = p->max_width;
    }
    rs->holdback = rs->holdback_wanted > GW_HOLDBACK_CAP ? GW_HOLDBACK_CAP : rs->holdback_wanted;
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
