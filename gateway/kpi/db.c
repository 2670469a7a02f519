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

void gw_db_safe_name(const char *where, char *out, size_t outlen)
{
    /* postgresql://user:secret@host/db -> postgresql://user:***@host/db */
    const char *scheme = gw_db_is_url(where) ? strstr(where, "://") : NULL;
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (!colon) {
        /* a password can also come as ?password=...: keep the URL up to its query */
        const char *q = scheme ? strchr(where, '?') : NULL;
        if (q && strstr(q, "password"))
            snprintf(out, outlen, "%.*s?***", (int)(q - where), where);
        else
            snprintf(out, outlen, "%s", where ? where : "");
        return;
    }
    snprintf(out, outlen, "%.*s:***%s", (int)(colon - where), where, at);
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
