/* kpi/db.h: the calls both backends share, and the dispatch to the one in use. */
#include "kpi/db.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpi/db_impl.h"

bool gw_db_is_url(const char *where)
{
    return where && (strncmp(where, "postgresql://", 13) == 0 || strncmp(where, "postgres://", 11) == 0);
}

/* Percent-decodes [s, s + n) into out (at most outlen - 1 bytes). */
static void decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < outlen; i++) {
        unsigned v;
        if (s[i] == '%' && i + 2 < n + 1 && sscanf(s + i + 1, "%2x", &v) == 1) {
            out[o++] = (char)v;
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
}

/* Where a URL holds passwords: the user-info's (after its ':') and the value of every
 * query parameter whose name, decoded, ends in "password" (libpq's password, and
 * sslpassword, the client key's passphrase). Calls fn with each [start, end). */
static void passwords(const char *url, void (*fn)(void *arg, size_t start, size_t end),
                      void *arg)
{
    const char *scheme = gw_db_is_url(url) ? strstr(url, "://") : NULL;
    if (!scheme)
        return;
    const char *auth = scheme + 3, *auth_end = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth_end; p++)
        if (*p == '@')
            at = p; /* the last '@' of the authority ends the user-info */
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon && colon + 1 < at)
        fn(arg, (size_t)(colon + 1 - url), (size_t)(at - url));
    const char *q = strchr(auth_end, '?');
    while (q && *q) {
        const char *key = q + 1, *end = key + strcspn(key, "&#"), *eq = memchr(key, '=', (size_t)(end - key));
        char name[32];
        if (eq) {
            decode(key, (size_t)(eq - key), name, sizeof name);
            for (char *c = name; *c; c++)
                *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
            size_t nl = strlen(name);
            if (nl >= 8 && strcmp(name + nl - 8, "password") == 0 && eq + 1 < end)
                fn(arg, (size_t)(eq + 1 - url), (size_t)(end - url));
        }
        q = *end == '&' ? end : NULL;
    }
}

struct spans {
    size_t v[8][2];
    size_t n;
};

static void add_span(void *arg, size_t start, size_t end)
{
    struct spans *sp = arg;
    if (sp->n < 8) {
        sp->v[sp->n][0] = start;
        sp->v[sp->n][1] = end;
        sp->n++;
    }
}

void gw_db_safe_name(const char *where, char *out, size_t outlen)
{
    /* postgresql://user:secret@host/db?password=x -> postgresql://user:***@host/db?password=*** */
    struct spans sp = {0};
    size_t o = 0, pos = 0, len = where ? strlen(where) : 0;
    if (where)
        passwords(where, add_span, &sp);
    out[0] = '\0';
    for (size_t i = 0; i <= sp.n && o + 1 < outlen; i++) {
        size_t stop = i < sp.n ? sp.v[i][0] : len;
        o += (size_t)snprintf(out + o, outlen - o, "%.*s%s", (int)(stop - pos), where + pos,
                              i < sp.n ? "***" : "");
        if (i < sp.n)
            pos = sp.v[i][1];
    }
}

void gw_db_scrub(const char *where, char *msg)
{
    struct spans sp = {0};
    if (!where || !msg)
        return;
    passwords(where, add_span, &sp);
    for (size_t i = 0; i < sp.n; i++) {
        char raw[256], dec[256];
        size_t n = sp.v[i][1] - sp.v[i][0];
        snprintf(raw, sizeof raw, "%.*s", (int)n, where + sp.v[i][0]);
        decode(where + sp.v[i][0], n, dec, sizeof dec);
        const char *secrets[2] = {raw, dec};
        for (int k = 0; k < 2; k++) {
            size_t sl = strlen(secrets[k]);
            if (sl == 0 || strspn(secrets[k], "*") == sl)
                continue;
            /* in place: a secret of three bytes or more becomes "***", a shorter one as
             * many '*' as it has bytes, so the message never grows */
            for (char *hit = strstr(msg, secrets[k]); hit; hit = strstr(hit, secrets[k])) {
                size_t put = sl < 3 ? sl : 3;
                memset(hit, '*', put);
                memmove(hit + put, hit + sl, strlen(hit + sl) + 1);
                hit += put;
            }
        }
    }
}

void gw_db_set_error(struct gw_db *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->err, sizeof db->err, fmt, ap);
    va_end(ap);
    /* drivers end their messages with a newline */
    size_t n = strlen(db->err);
    while (n && (db->err[n - 1] == '\n' || db->err[n - 1] == ' '))
        db->err[--n] = '\0';
}

struct gw_db *gw_db_open(const char *where, bool readonly, char *err, size_t errlen)
{
    if (!where || !where[0]) {
        snprintf(err, errlen, "no database named");
        return NULL;
    }
    return gw_db_is_url(where) ? gw_db_pg_open(where, readonly, err, errlen)
                               : gw_db_sqlite_open(where, readonly, err, errlen);
}

void gw_db_close(struct gw_db *db)
{
    if (db)
        db->ops->close(db);
}

enum gw_db_kind gw_db_kind(const struct gw_db *db)
{
    return db->kind;
}

const char *gw_db_error(const struct gw_db *db)
{
    return db ? db->err : "no database";
}

bool gw_db_broken(const struct gw_db *db)
{
    return db->ops->broken(db);
}

int gw_db_exec(struct gw_db *db, const char *sql)
{
    return db->ops->exec(db, sql);
}

int gw_db_begin(struct gw_db *db)
{
    return db->ops->exec(db, db->ops->begin);
}

int gw_db_commit(struct gw_db *db)
{
    return db->ops->exec(db, "COMMIT");
}

void gw_db_rollback(struct gw_db *db)
{
    char keep[sizeof db->err];
    memcpy(keep, db->err, sizeof keep); /* the error that led here is the one to report */
    db->ops->exec(db, "ROLLBACK");
    memcpy(db->err, keep, sizeof keep);
}

int gw_db_pipeline(struct gw_db *db, bool on)
{
    return db->ops->pipeline ? db->ops->pipeline(db, on) : 0;
}

struct gw_db_stmt *gw_db_prepare(struct gw_db *db, const char *sql, bool keep)
{
    return db->ops->prepare(db, sql, keep);
}

static void clear_params(struct gw_db_stmt *st)
{
    for (int i = 0; i < st->np; i++) {
        free(st->p[i].t);
        st->p[i] = (struct gw_db_param){0};
    }
    st->np = 0;
}

/* The slot of parameter i (from 1), growing the list; NULL when out of memory. */
static struct gw_db_param *param(struct gw_db_stmt *st, int i)
{
    if (i < 1 || i > 999)
        return NULL;
    if (st->running) { /* binding after a run starts the statement afresh */
        st->db->ops->reset(st);
        st->running = false;
    }
    if (i > st->cap) {
        int cap = i < 8 ? 8 : i;
        struct gw_db_param *p = realloc(st->p, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        memset(p + st->cap, 0, (size_t)(cap - st->cap) * sizeof *p);
        st->p = p;
        st->cap = cap;
    }
    if (i > st->np)
        st->np = i;
    struct gw_db_param *p = &st->p[i - 1];
    free(p->t);
    *p = (struct gw_db_param){0};
    return p;
}

void gw_db_bind_int(struct gw_db_stmt *st, int i, int64_t v)
{
    struct gw_db_param *p = param(st, i);
    if (p)
        *p = (struct gw_db_param){.type = GW_DB_P_INT, .i = v};
}

void gw_db_bind_double(struct gw_db_stmt *st, int i, double v)
{
    struct gw_db_param *p = param(st, i);
    if (p)
        *p = (struct gw_db_param){.type = GW_DB_P_DOUBLE, .d = v};
}

void gw_db_bind_text(struct gw_db_stmt *st, int i, const char *v)
{
    struct gw_db_param *p = param(st, i);
    if (p && v && (p->t = strdup(v)))
        p->type = GW_DB_P_TEXT;
}

int gw_db_step(struct gw_db_stmt *st)
{
    st->running = true;
    return st->db->ops->step(st);
}

int64_t gw_db_int(struct gw_db_stmt *st, int col)
{
    return st->db->ops->int64(st, col);
}

double gw_db_double(struct gw_db_stmt *st, int col)
{
    return st->db->ops->dbl(st, col);
}

const char *gw_db_text(struct gw_db_stmt *st, int col)
{
    return st->db->ops->text(st, col);
}

bool gw_db_null(struct gw_db_stmt *st, int col)
{
    return st->db->ops->null(st, col);
}

int64_t gw_db_changes(struct gw_db_stmt *st)
{
    return st->db->ops->changes(st);
}

void gw_db_reset(struct gw_db_stmt *st)
{
    st->db->ops->reset(st);
    st->running = false;
    clear_params(st);
}

void gw_db_finalize(struct gw_db_stmt *st)
{
    if (!st)
        return;
    clear_params(st);
    free(st->p);
    st->db->ops->finalize(st);
}

int gw_db_run(struct gw_db_stmt *st)
{
    int rc;
    while ((rc = gw_db_step(st)) == 1)
        ;
    if (rc == 0) /* keep the count of changed rows: reset only forgets the run's rows */
        return 0;
    return -1;
}
