/* kpi/db.h on SQLite: the embedded store, one file in WAL mode. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "kpi/db_impl.h"

struct lite {
    struct gw_db base;
    sqlite3 *h;
};

struct lite_stmt {
    struct gw_db_stmt base;
    sqlite3_stmt *st;
    bool done;       /* the run ended: stepping again says so, it does not run again */
    int64_t changes; /* of the last run that ended */
};

static sqlite3 *handle(const struct gw_db *db)
{
    return ((const struct lite *)db)->h;
}

static void lite_close(struct gw_db *db)
{
    sqlite3_close(handle(db));
    free(db);
}

static int lite_exec(struct gw_db *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(handle(db), sql, NULL, NULL, &msg) != SQLITE_OK) {
        gw_db_set_error(db, "%s", msg ? msg : sqlite3_errmsg(handle(db)));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static bool lite_broken(const struct gw_db *db)
{
    (void)db;
    return false; /* a file does not go away under an open handle */
}

static struct gw_db_stmt *lite_prepare(struct gw_db *db, const char *sql, bool keep)
{
    struct lite_stmt *s = calloc(1, sizeof *s);
    if (!s) {
        gw_db_set_error(db, "out of memory");
        return NULL;
    }
    s->base.db = db;
    if (sqlite3_prepare_v3(handle(db), sql, -1, keep ? SQLITE_PREPARE_PERSISTENT : 0, &s->st,
                           NULL) != SQLITE_OK) {
        gw_db_set_error(db, "%s", sqlite3_errmsg(handle(db)));
        free(s);
        return NULL;
    }
    return &s->base;
}

/* Binds what db.c holds; the texts stay db.c's until the next reset. */
static void bind_all(struct lite_stmt *s)
{
    for (int i = 0; i < s->base.np; i++) {
        const struct gw_db_param *p = &s->base.p[i];
        switch (p->type) {
        case GW_DB_P_INT:
            sqlite3_bind_int64(s->st, i + 1, p->i);
            break;
        case GW_DB_P_DOUBLE:
            sqlite3_bind_double(s->st, i + 1, p->d);
            break;
        case GW_DB_P_TEXT:
            sqlite3_bind_text(s->st, i + 1, p->t, -1, SQLITE_STATIC);
            break;
        case GW_DB_P_NULL:
            break;
        }
    }
}

static int lite_step(struct gw_db_stmt *base)
{
    struct lite_stmt *s = (struct lite_stmt *)base;
    sqlite3 *h = handle(base->db);
    if (s->done)
        return 0;
    if (!sqlite3_stmt_busy(s->st))
        bind_all(s);
    int rc = sqlite3_step(s->st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE) {
        s->changes = sqlite3_changes64(h);
        s->done = true;
        return 0;
    }
    gw_db_set_error(base->db, "%s", sqlite3_errmsg(h));
    sqlite3_reset(s->st);
    s->done = true;
    return -1;
}

static bool lite_null(struct gw_db_stmt *base, int col)
{
    return sqlite3_column_type(((struct lite_stmt *)base)->st, col) == SQLITE_NULL;
}

static int64_t lite_int(struct gw_db_stmt *base, int col)
{
    return sqlite3_column_int64(((struct lite_stmt *)base)->st, col);
}

static double lite_double(struct gw_db_stmt *base, int col)
{
    return sqlite3_column_double(((struct lite_stmt *)base)->st, col);
}

static const char *lite_text(struct gw_db_stmt *base, int col)
{
    return (const char *)sqlite3_column_text(((struct lite_stmt *)base)->st, col);
}

static int64_t lite_changes(struct gw_db_stmt *base)
{
    return ((struct lite_stmt *)base)->changes;
}

static void lite_reset(struct gw_db_stmt *base)
{
    struct lite_stmt *s = (struct lite_stmt *)base;
    sqlite3_reset(s->st);
    sqlite3_clear_bindings(s->st);
    s->done = false;
}

static void lite_finalize(struct gw_db_stmt *base)
{
    sqlite3_finalize(((struct lite_stmt *)base)->st);
    free(base);
}

static const struct gw_db_ops lite_ops = {
    .close = lite_close,
    .exec = lite_exec,
    .broken = lite_broken,
    .prepare = lite_prepare,
    .step = lite_step,
    .null = lite_null,
    .int64 = lite_int,
    .dbl = lite_double,
    .text = lite_text,
    .changes = lite_changes,
    .reset = lite_reset,
    .finalize = lite_finalize,
    .begin = "BEGIN IMMEDIATE",
};

struct gw_db *gw_db_sqlite_open(const char *path, bool readonly, char *err, size_t errlen)
{
    struct lite *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->base.ops = &lite_ops;
    l->base.kind = GW_DB_SQLITE;
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    /* A new store is created readable by its owner only (SQLite's own default is 0644,
     * less the umask), and its journal and WAL files take the same mode from it. */
    if (!readonly && strcmp(path, ":memory:") != 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd != -1)
            close(fd);
    }
    if (sqlite3_open_v2(path, &l->h, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, l->h ? sqlite3_errmsg(l->h) : "cannot open");
        sqlite3_close(l->h);
        free(l);
        return NULL;
    }
    sqlite3_busy_timeout(l->h, 5000);
    return &l->base;
}
