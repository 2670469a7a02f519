#include "screen/ruleset.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "screen/prefilter.h"
#include "util/buf.h"
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

/* One database to build: expressions with flags and ids. */
struct db_spec {
    const char **exprs;
    unsigned *flags;
    unsigned *ids; /* pattern indexes; from n_patterns on, a prefilter group's atoms */
    unsigned n;
    unsigned mode;
};

static uint64_t cache_key(const struct db_spec *specs, size_t n_specs)
{
    static const uint8_t k[16] = "guardrail-hsdb-3"; /* -3: the gate in the main db */
    uint64_t h = gw_siphash(k, hs_version(), strlen(hs_version()));
    for (size_t s = 0; s < n_specs; s++) {
        const struct db_spec *d = &specs[s];
        unsigned head[2] = {d->mode, d->n};
        h = (h ^ gw_siphash(k, head, sizeof head)) * 0x100000001b3ULL + s;
        for (unsigned i = 0; i < d->n; i++) {
            uint64_t e = gw_siphash(k, d->exprs[i], strlen(d->exprs[i]));
            unsigned fi[2] = {d->flags[i], d->ids[i]};
            e ^= gw_siphash(k, fi, sizeof fi) * 0x9e3779b97f4a7c15ULL;
            h = (h ^ e) * 0x100000001b3ULL + i;
        }
    }
    return h;
}

/* A cache file holds a bundle of databases: "GWB1", a count, then each serialised
 * database after its length. All or nothing: a short or bad file loads none. */
static int cache_load(const char *path, hs_database_t **dbs, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t got = 0;
    char magic[4];
    uint32_t count;
    if (fread(magic, 1, 4, f) == 4 && memcmp(magic, "GWB1", 4) == 0 &&
        fread(&count, sizeof count, 1, f) == 1 && count == n) {
        for (; got < n; got++) {
            uint64_t len;
            if (fread(&len, sizeof len, 1, f) != 1 || len == 0 || len > (256u << 20))
                break;
            char *bytes = malloc((size_t)len);
            dbs[got] = NULL;
            bool ok = bytes && fread(bytes, 1, (size_t)len, f) == len &&
                      hs_deserialize_database(bytes, (size_t)len, &dbs[got]) == HS_SUCCESS;
            free(bytes);
            if (!ok)
                break;
        }
    }
    fclose(f);
    if (got == n) {
        utimensat(AT_FDCWD, path, NULL, 0); /* used now: cache_prune keeps it */
        return 0;
    }
    while (got > 0)
        hs_free_database(dbs[--got]);
    return -1;
}
/* Keeps the GW_CACHE_KEEP most recently used files, GW_CACHE_BYTES at most (ruleset.h):
 * each edit of the rules leaves a new set behind. A hit touches its file (cache_load), so
 * the default packs' bundles outlive a run of small packs compiled after them (the unit
 * tests compile dozens), instead of being rebuilt for minutes. */
#define GW_CACHE_SCAN 1024

static int newer_first(const void *a, const void *b)
{
    const struct timespec *x = a, *y = b;
    if (x->tv_sec != y->tv_sec)
        return x->tv_sec < y->tv_sec ? 1 : -1;
    return (x->tv_nsec < y->tv_nsec) - (x->tv_nsec > y->tv_nsec);
}

static void cache_prune(const char *dir)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, NULL);
    struct cached {
        struct timespec used; /* first: newer_first compares it */
        off_t size;
        char name[64];
    } *files = calloc(GW_CACHE_SCAN, sizeof *files);
    int k = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]->d_name);
        struct stat st;
        char full[PATH_MAX + 256];
        snprintf(full, sizeof full, "%s/%s", dir, names[i]->d_name);
        if (files && k < GW_CACHE_SCAN && len > 5 && len < 64 &&
            strcmp(names[i]->d_name + len - 5, ".hsdb") == 0 && stat(full, &st) == 0) {
            files[k].used = st.st_mtim;
            files[k].size = st.st_size;
            memcpy(files[k].name, names[i]->d_name, len + 1);
            k++;
        }
        free(names[i]);
    }
    free(names);
    if (!files)
        return;
    qsort(files, (size_t)k, sizeof *files, newer_first);
    unsigned long long bytes = 0;
    for (int i = 0; i < k; i++) {
        bytes += (unsigned long long)files[i].size;
        if (i >= GW_CACHE_KEEP || (i > 0 && bytes > GW_CACHE_BYTES)) {
            char full[PATH_MAX + 64];
            snprintf(full, sizeof full, "%s/%s", dir, files[i].name);
            unlink(full);
        }
    }
    free(files);
}

static void cache_store(const char *dir, const char *path, hs_database_t *const *dbs, size_t n)
{
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
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return;
    uint32_t count = (uint32_t)n;
    bool ok = fwrite("GWB1", 1, 4, f) == 4 && fwrite(&count, sizeof count, 1, f) == 1;
    for (size_t i = 0; i < n && ok; i++) {
        char *bytes = NULL;
        size_t len = 0;
        ok = hs_serialize_database(dbs[i], &bytes, &len) == HS_SUCCESS;
        uint64_t len64 = len;
        ok = ok && fwrite(&len64, sizeof len64, 1, f) == 1 && fwrite(bytes, 1, len, f) == len;
        free(bytes);
    }
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) == -1)
        unlink(tmp);
    cache_prune(dir);
}

/* Compiles every spec into dbs[] (NULL for a spec with no expressions), from the cache
 * when it has them. Errors name the rule and pattern (a prefilter atom's id is past the
 * patterns: see compile_block). */
static int compile_bundle(const struct gw_rule_table *t, const struct db_spec *specs, size_t n,
                          hs_database_t **dbs, struct gw_errors *errs)
{
    char cdir[PATH_MAX - 64], path[PATH_MAX];
    bool cached = cache_dir(cdir, sizeof cdir);
    memset(dbs, 0, n * sizeof *dbs);
    size_t nonempty = 0;
    for (size_t i = 0; i < n; i++)
        nonempty += specs[i].n > 0;
    if (nonempty == 0)
        return 0;
    /* Only non-empty specs are stored, in order. */
    hs_database_t **got = calloc(nonempty, sizeof *got);
    if (!got)
        return -1;
    if (cached) {
        snprintf(path, sizeof path, "%s/%016llx.hsdb", cdir,
                 (unsigned long long)cache_key(specs, n));
        if (cache_load(path, got, nonempty) == 0) {
            for (size_t i = 0, k = 0; i < n; i++)
                if (specs[i].n)
                    dbs[i] = got[k++];
            free(got);
            return 0;
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct db_spec *d = &specs[i];
        if (d->n == 0)
            continue;
        hs_compile_error_t *cerr = NULL;
        hs_error_t e =
            hs_compile_multi(d->exprs, d->flags, d->ids, d->n, d->mode, NULL, &dbs[i], &cerr);
        if (e != HS_SUCCESS) {
            if (cerr && cerr->expression >= 0 && d->ids[cerr->expression] < t->n_patterns) {
                const struct gw_pattern *p = &t->patterns[d->ids[cerr->expression]];
                const struct gw_rule *r = &t->rules[p->rule];
                gw_errors_add(errs, "%s:%d: rule '%s': pattern '%s' does not compile: %s",
                              r->file, p->line, r->id, p->expr, cerr->message);
            } else {
                gw_errors_add(errs, "compiling the rules failed: %s", cerr ? cerr->message : "?");
            }
            hs_free_compile_error(cerr);
            for (size_t j = 0; j < n; j++) {
                hs_free_database(dbs[j]);
                dbs[j] = NULL;
            }
            free(got);
            return -1;
        }
        got[k++] = dbs[i];
    }
    if (cached)
        cache_store(cdir, path, got, nonempty);
    free(got);
    /* Compiling takes tens of megabytes for a moment; give them back to the system, or a
     * gateway that compiled at start keeps them resident for its whole life. */
    malloc_trim(0);
    return 0;
}

/* The Hyperscan flags of pattern i: rules that only block or flag need their first match
 * and no span. Span rules (redact, validate, allow list) need every end; PCRE2 then finds
 * the start. (Hyperscan's own start tracking, SOM_LEFTMOST, was tried: the default packs
 * then took 8 s to compile and scanned adversarial text slower than PCRE2 confirms it.) */
static unsigned pattern_flags(const struct gw_rule_table *t, size_t i)
{
    const struct gw_pattern *p = &t->patterns[i];
    return p->hs_flags | (t->rules[p->rule].need_span || p->allow ? 0 : HS_FLAG_SINGLEMATCH);
}

/* Whether the prefilter is on: GUARDRAIL_PREFILTER=off compiles every pattern into the
 * one database per direction (for comparison, and as a way out). */
static bool prefilter_on(void)
{
    const char *v = getenv("GUARDRAIL_PREFILTER");
    return !(v && strcmp(v, "off") == 0);
}

bool gw_prefilter_candidate(const struct gw_rule_table *t, size_t i, enum gw_direction dir,
                            struct gw_atoms *atoms)
{
    const struct gw_pattern *p = &t->patterns[i];
    atoms->v = NULL;
    atoms->n = 0;
    const struct gw_rule *r = &t->rules[p->rule];
    if (!(r->directions & dir) || p->phrase || strlen(p->expr) < GW_PREFILTER_MIN_EXPR)
        return false;
    if (dir == GW_DIR_REPLY && r->category != GW_CAT_UNSAFE && r->category != GW_CAT_INJECTION &&
        r->category != GW_CAT_BRAND)
        return false;
    gw_atoms_extract(p->expr, GW_ATOM_MIN_LEN, atoms); /* none: atoms stays empty */
    return true;
}

static bool same_atoms(const struct gw_atoms *a, const struct gw_atoms *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}

/* A prefilter atom as an expression: each byte but a letter or digit as \xHH. */
static char *atom_expr(const char *atom)
{
    char *e = malloc(strlen(atom) * 4 + 1), *q = e;
    for (const unsigned char *c = (const unsigned char *)atom; e && *c; c++) {
        if (isalnum(*c))
            *q++ = (char)*c;
        else
            q += sprintf(q, "\\x%02x", *c);
    }
    if (e)
        *q = '\0';
    return e;
}

/* Compiles the block-mode databases of direction dir: the main database, the allow
 * database (the allow patterns the main one would hold: scanned only when a rule of theirs
 * has a candidate, see match_view in scan.c), and for the prefilter's candidates
 * (gw_prefilter_candidate) with a good atom set their own databases. The atoms are the
 * gate: they go into the main database, as caseless literals with ids from n_patterns on
 * (n_patterns + their group), so that one scan finds both (a literal database of their
 * own cost a second scan of every text, about a microsecond of a chat message's nine). */
static int compile_block(struct gw_ruleset *rs, enum gw_direction dir, struct gw_errors *errs)
{
    const struct gw_rule_table *t = &rs->table;
    struct gw_gated *g = &rs->gated[gw_dir_index(dir)];
    size_t np = t->n_patterns ? t->n_patterns : 1;
    struct db_spec *specs = calloc(np + 2, sizeof *specs); /* main, allow, groups */
    const char **exprs = calloc(np, sizeof *exprs);
    unsigned *flags = calloc(np, sizeof *flags), *ids = calloc(np, sizeof *ids);
    unsigned *gated = calloc(np, sizeof *gated), *group_of = calloc(np, sizeof *group_of);
    const char **aexprs = calloc(np, sizeof *aexprs);
    unsigned *aflags = calloc(np, sizeof *aflags), *aids = calloc(np, sizeof *aids);
    unsigned ngroups = 0, *borrow = NULL; /* per group: 1 + the prompts' group it uses */
    struct gw_atoms *atoms = calloc(np, sizeof *atoms);
    const char **mexprs = NULL; /* the main database's: its patterns, then the atoms */
    char **lits = NULL;         /* the atoms as expressions (owned) */
    unsigned *mflags = NULL, *mids = NULL;
    size_t nlits = 0, k = 0;
    hs_database_t **dbs = NULL;
    int rc = -1;
    if (!specs || !exprs || !flags || !ids || !gated || !group_of || !atoms || !aexprs || !aflags ||
        !aids)
        goto done;
    unsigned nmain = 0, ngated = 0, nallow = 0;
    bool pf = prefilter_on();
    for (size_t i = 0; i < t->n_patterns; i++) {
        const struct gw_pattern *p = &t->patterns[i];
        const struct gw_rule *r = &t->rules[p->rule];
        if (!(r->directions & dir))
            continue;
        if (pf && gw_prefilter_candidate(t, i, dir, &atoms[i]) && atoms[i].n) {
            gated[ngated++] = (unsigned)i;
            nlits += atoms[i].n;
            continue;
        }
        if (p->allow) {
            aexprs[nallow] = p->expr;
            aflags[nallow] = pattern_flags(t, i);
            aids[nallow++] = (unsigned)i;
            rs->allow_rules[p->rule] |= (uint8_t)(1u << gw_dir_index(dir));
            continue;
        }
        exprs[nmain] = p->expr;
        flags[nmain] = pattern_flags(t, i);
        ids[nmain++] = (unsigned)i;
    }
    /* One database per prefiltered pattern, or per run of a rule's patterns with the same
     * atoms (one scan of a few patterns costs less than a scan of each; patterns with other
     * atoms are not woken for nothing). flags[] and ids[] hold them after the main's. */
    for (unsigned j = 0; j < ngated; j++) {
        unsigned i = gated[j];
        exprs[nmain + j] = t->patterns[i].expr;
        flags[nmain + j] = pattern_flags(t, i);
        ids[nmain + j] = i;
        if (j == 0 || t->patterns[i].rule != t->patterns[gated[j - 1]].rule ||
            !same_atoms(&atoms[i], &atoms[gated[j - 1]])) {
            specs[2 + ngroups++] = (struct db_spec){&exprs[nmain + j], &flags[nmain + j],
                                                    &ids[nmain + j], 0, HS_MODE_BLOCK};
        }
        specs[2 + ngroups - 1].n++;
        group_of[j] = ngroups - 1;
    }
    /* A rule screened both ways has the same groups in replies as in prompts (its patterns
     * are gated alike, and grouped alike): replies use the prompts' databases, which are
     * most of the memory the gateway has (a group of word gaps is tens of kilobytes). */
    const struct gw_gated *pg = &rs->gated[gw_dir_index(GW_DIR_PROMPT)];
    if (dir == GW_DIR_REPLY && ngroups && !(borrow = calloc(ngroups, sizeof *borrow)))
        goto done;
    for (unsigned j = 0; borrow && j < ngroups; j++) {
        unsigned first = specs[2 + j].ids[0];
        for (unsigned q = 0; q < pg->n && !borrow[j]; q++)
            if (pg->first[q] == first && pg->count[q] == specs[2 + j].n)
                borrow[j] = q + 1;
        if (borrow[j])
            specs[2 + j].n = 0; /* not compiled again */
    }
    mexprs = calloc(nmain + nlits + 1, sizeof *mexprs);
    lits = calloc(nlits + 1, sizeof *lits);
    mflags = calloc(nmain + nlits + 1, sizeof *mflags);
    mids = calloc(nmain + nlits + 1, sizeof *mids);
    if (!mexprs || !lits || !mflags || !mids)
        goto done;
    memcpy(mexprs, exprs, nmain * sizeof *mexprs);
    memcpy(mflags, flags, nmain * sizeof *mflags);
    memcpy(mids, ids, nmain * sizeof *mids);
    for (unsigned j = 0; j < ngated; j++) {
        if (j > 0 && group_of[j] == group_of[j - 1])
            continue; /* the same atoms as the group's first pattern */
        const struct gw_atoms *a = &atoms[gated[j]];
        for (size_t m = 0; m < a->n; m++, k++) {
            if (!(lits[k] = atom_expr(a->v[m])))
                goto done;
            mexprs[nmain + k] = lits[k];
            mflags[nmain + k] = HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH;
            mids[nmain + k] = (unsigned)t->n_patterns + group_of[j];
        }
    }
    specs[0] = (struct db_spec){mexprs, mflags, mids, nmain + (unsigned)k, HS_MODE_BLOCK};
    specs[1] = (struct db_spec){aexprs, aflags, aids, nallow, HS_MODE_BLOCK};
    size_t nspecs = 2 + ngroups;
    if (!(dbs = calloc(nspecs, sizeof *dbs)) || compile_bundle(t, specs, nspecs, dbs, errs))
        goto done;
    rs->block_db[gw_dir_index(dir)] = dbs[0];
    rs->allow_db[gw_dir_index(dir)] = dbs[1];
    if (ngroups) {
        g->db = calloc(ngroups, sizeof *g->db);
        g->first = calloc(ngroups, sizeof *g->first);
        g->count = calloc(ngroups, sizeof *g->count);
        g->borrowed = calloc(ngroups, sizeof *g->borrowed);
        if (!g->db || !g->first || !g->count || !g->borrowed) {
            for (size_t j = 0; j < nspecs; j++)
                hs_free_database(dbs[j]);
            rs->block_db[gw_dir_index(dir)] = rs->allow_db[gw_dir_index(dir)] = NULL;
            free(g->db);
            free(g->first);
            free(g->count);
            free(g->borrowed);
            memset(g, 0, sizeof *g);
            goto done;
        }
        for (unsigned j = 0; j < ngroups; j++) {
            g->first[j] = specs[2 + j].ids[0];
            g->count[j] = borrow && borrow[j] ? pg->count[borrow[j] - 1] : specs[2 + j].n;
            g->borrowed[j] = borrow && borrow[j];
            g->db[j] = g->borrowed[j] ? pg->db[borrow[j] - 1] : dbs[2 + j];
        }
        g->n = ngroups;
        g->patterns = ngated;
    }
    rc = 0;
done:
    for (size_t i = 0; atoms && i < t->n_patterns; i++)
        gw_atoms_free(&atoms[i]);
    for (size_t i = 0; lits && i < k; i++)
        free(lits[i]);
    free(atoms);
    free(specs);
    free(exprs);
    free(flags);
    free(ids);
    free(gated);
    free(group_of);
    free(aexprs);
    free(aflags);
    free(aids);
    free(mexprs);
    free(lits);
    free(mflags);
    free(mids);
    free(borrow);
    free(dbs);
    return rc;
}

/* Compiles the reply patterns into the stream-mode database. */
static int compile_stream(struct gw_ruleset *rs, struct gw_errors *errs)
{
    const struct gw_rule_table *t = &rs->table;
    size_t np = t->n_patterns ? t->n_patterns : 1;
    const char **exprs = calloc(np, sizeof *exprs);
    unsigned *flags = calloc(np, sizeof *flags), *ids = calloc(np, sizeof *ids);
    int rc = -1;
    if (exprs && flags && ids) {
        unsigned n = 0;
        for (size_t i = 0; i < t->n_patterns; i++) {
            if (!(t->rules[t->patterns[i].rule].directions & GW_DIR_REPLY))
                continue;
            exprs[n] = t->patterns[i].expr;
            flags[n] = pattern_flags(t, i);
            ids[n++] = (unsigned)i;
        }
        struct db_spec spec = {exprs, flags, ids, n, HS_MODE_STREAM};
        rc = compile_bundle(t, &spec, 1, &rs->stream_db, errs);
    }
    free(exprs);
    free(flags);
    free(ids);
    return rc;
}

static atomic_uint rulesets_live; /* compiled and not yet freed (gw_ruleset_live) */

unsigned gw_ruleset_live(void)
{
    return atomic_load(&rulesets_live);
}

void gw_ruleset_unref(struct gw_ruleset *rs)
{
    if (!rs || atomic_fetch_sub(&rs->refs, 1) != 1)
        return;
    atomic_fetch_sub(&rulesets_live, 1);
    hs_free_database(rs->block_db[0]);
    hs_free_database(rs->block_db[1]);
    hs_free_database(rs->allow_db[0]);
    hs_free_database(rs->allow_db[1]);
    free(rs->allow_rules);
    hs_free_database(rs->stream_db);
    for (int d = 0; d < 2; d++) {
        for (unsigned j = 0; j < rs->gated[d].n; j++)
            if (!rs->gated[d].borrowed[j])
                hs_free_database(rs->gated[d].db[j]);
        free(rs->gated[d].db);
        free(rs->gated[d].first);
        free(rs->gated[d].count);
        free(rs->gated[d].borrowed);
    }
    hs_free_scratch(rs->proto_scratch);
    for (size_t i = 0; rs->confirm && i < rs->table.n_patterns; i++)
        pcre2_code_free(rs->confirm[i]);
    free(rs->confirm);
    free(rs->memo.slot);
    free(rs->model_rules[0]);
    free(rs->model_rules[1]);
    for (size_t i = 0; i < rs->n_views; i++)
        free(rs->views[i]);
    free(rs->views);
    gw_rule_table_free(&rs->table);
    free(rs);
    /* A ruleset's databases are tens of MB, and a reload has the old and the new in memory
     * at once, so the allocator lays each new one out past the hole the one before left:
     * without this, every gateway that reloaded kept about one ruleset more resident than
     * it uses (bench/soak.py: +25 MB after the second reload, back to the start's RSS with
     * it). Once per reload, on whichever thread dropped the last reference. */
    malloc_trim(0);
}

int gw_ruleset_memo(struct gw_ruleset *rs, size_t entries)
{
    size_t n = 1;
    while (n < entries && n < ((size_t)1 << 24))
        n <<= 1;
    free(rs->memo.slot);
    rs->memo.slot = NULL;
    if (entries == 0)
        return 0;
    if (getrandom(rs->memo.key, sizeof rs->memo.key, 0) != (ssize_t)sizeof rs->memo.key ||
        !(rs->memo.slot = calloc(n, sizeof *rs->memo.slot)))
        return -1;
    rs->memo.mask = n - 1;
    return 0;
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
 * Every other pattern gets one too, so that every finding reports its exact start and an
 * incident shows the whole match ("ignore all previous", not "ore all previous"); a match
 * of a block or flag rule is confirmed once per scan (single-match), so this costs
 * little. For those rules PCRE2 is a convenience, not the judge: a pattern it does not
 * accept keeps the width guess, and the rule still acts. */
static int compile_confirm(struct gw_ruleset *rs, struct gw_errors *errs)
{
    rs->confirm = calloc(rs->table.n_patterns ? rs->table.n_patterns : 1, sizeof *rs->confirm);
    if (!rs->confirm)
        return -1;
    for (size_t i = 0; i < rs->table.n_patterns; i++) {
        const struct gw_pattern *p = &rs->table.patterns[i];
        const struct gw_rule *r = &rs->table.rules[p->rule];
        bool needed = r->need_span || p->allow;
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
        if (!rs->confirm[i] && !needed)
            continue;
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

/* Finds each model rule's head in the table's model, and lists the model rules of each
 * direction, block rules before flag rules (gw_scan reports a head's strongest one).
 * Returns 0, or -1 with an error naming the rule for a head the model lacks. */
static int link_model(struct gw_ruleset *rs, struct gw_errors *errs)
{
    struct gw_rule_table *t = &rs->table;
    int bad = 0;
    for (int d = 0; d < 2; d++) {
        rs->model_rules[d] = calloc(t->n_rules + 1, sizeof *rs->model_rules[d]);
        if (!rs->model_rules[d])
            return -1;
    }
    for (int a = GW_ACTION_BLOCK; a >= GW_ACTION_ALLOW; a--) {
        for (size_t i = 0; i < t->n_rules; i++) {
            struct gw_rule *r = &t->rules[i];
            if (!r->head || (int)r->action != a)
                continue;
            if (!t->model) {
                gw_errors_add(errs, "%s:%d: rule '%s' reads model head '%s', but no pack "
                              "names a model ('model: FILE')", r->file, r->line, r->id, r->head);
                bad = 1;
                continue;
            }
            if ((r->head_index = gw_model_head(t->model, r->head)) < 0) {
                struct gw_buf b = {0};
                for (unsigned h = 0; h < t->model->n_heads; h++)
                    gw_buf_printf(&b, "%s%s", h ? ", " : "", t->model->name[h]);
                gw_errors_add(errs, "%s:%d: rule '%s' reads head '%s', which %s does not have "
                              "(it has: %s)", r->file, r->line, r->id, r->head,
                              t->model->path ? t->model->path : "the model", b.data);
                gw_buf_free(&b);
                bad = 1;
                continue;
            }
            for (int d = 0; d < 2; d++)
                if (r->directions & (d ? GW_DIR_REPLY : GW_DIR_PROMPT))
                    rs->model_rules[d][rs->n_model_rules[d]++] = (unsigned)i;
        }
    }
    return bad ? -1 : 0;
}

int gw_ruleset_compile(struct gw_rule_table *t, struct gw_ruleset **out, struct gw_errors *errs)
{
    struct gw_ruleset *rs = calloc(1, sizeof *rs);
    *out = NULL;
    if (!rs)
        return -1;
    atomic_init(&rs->refs, 1);
    atomic_fetch_add(&rulesets_live, 1);
    rs->table = *t;
    memset(t, 0, sizeof *t);

    if (!(rs->allow_rules = calloc(rs->table.n_rules + 1, 1))) {
        gw_ruleset_unref(rs);
        return -1;
    }
    if (link_model(rs, errs) || compile_block(rs, GW_DIR_PROMPT, errs) ||
        compile_block(rs, GW_DIR_REPLY, errs) ||
        compile_stream(rs, errs) || compile_confirm(rs, errs))
        goto fail;
    hs_database_t *dbs[] = {rs->block_db[0], rs->block_db[1], rs->allow_db[0], rs->allow_db[1],
                            rs->stream_db};
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        if (dbs[i] && hs_alloc_scratch(dbs[i], &rs->proto_scratch) != HS_SUCCESS)
            goto no_scratch;
    }
    for (int d = 0; d < 2; d++)
        for (unsigned j = 0; j < rs->gated[d].n; j++)
            if (hs_alloc_scratch(rs->gated[d].db[j], &rs->proto_scratch) != HS_SUCCESS)
                goto no_scratch;

    /* A stream holds back the widest match any reply pattern (allow lists included) can
     * make, so the customer never sees the start of something that is still to be
     * redacted or blocked. Unbounded patterns are capped; docs/internals.md says so. */
    unsigned widest = 0; /* UINT_MAX when a pattern is unbounded */
    for (size_t i = 0; i < rs->table.n_patterns; i++) {
        const struct gw_pattern *p = &rs->table.patterns[i];
        if ((rs->table.rules[p->rule].directions & GW_DIR_REPLY) && p->max_width > widest)
            widest = p->max_width;
    }
    rs->holdback = widest > GW_HOLDBACK_CAP ? GW_HOLDBACK_CAP : widest;
    *out = rs;
    return 0;
no_scratch:
    gw_errors_add(errs, "cannot allocate Hyperscan scratch space");
fail:
    gw_ruleset_unref(rs);
    return -1;
}

static int load(const char *const *paths, size_t n, bool no_model, struct gw_ruleset **out,
                struct gw_errors *errs)
{
    struct gw_rule_table t = {.no_model = no_model};
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

int gw_ruleset_load(const char *const *paths, size_t n, struct gw_ruleset **out,
                    struct gw_errors *errs)
{
    return load(paths, n, false, out, errs);
}

int gw_ruleset_load_rules_only(const char *const *paths, size_t n, struct gw_ruleset **out,
                               struct gw_errors *errs)
{
    return load(paths, n, true, out, errs);
}
