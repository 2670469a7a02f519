/* What the two backends of kpi/db.h share: the handles' common first members, the bound
 * parameters (kept here and handed to the backend when a statement runs), and the table
 * of a backend's calls. Only kpi/db*.c include it. */
#ifndef GW_KPI_DB_IMPL_H
#define GW_KPI_DB_IMPL_H

#include "kpi/db.h"

enum gw_db_ptype { GW_DB_P_NULL, GW_DB_P_INT, GW_DB_P_DOUBLE, GW_DB_P_TEXT };

struct gw_db_param {
    enum gw_db_ptype type;
    int64_t i;
    double d;
    char *t; /* owned */
};

struct gw_db_ops {
    void (*close)(struct gw_db *db);
    int (*exec)(struct gw_db *db, const char *sql);
    bool (*broken)(const struct gw_db *db);
    struct gw_db_stmt *(*prepare)(struct gw_db *db, const char *sql, bool keep);
    int (*step)(struct gw_db_stmt *st); /* 1 row, 0 done, -1 error */
    bool (*null)(struct gw_db_stmt *st, int col);
    int64_t (*int64)(struct gw_db_stmt *st, int col);
    double (*dbl)(struct gw_db_stmt *st, int col);
    const char *(*text)(struct gw_db_stmt *st, int col);
    int64_t (*changes)(struct gw_db_stmt *st);
    void (*reset)(struct gw_db_stmt *st); /* forget the run; parameters are cleared by db.c */
    void (*finalize)(struct gw_db_stmt *st);
    int (*pipeline)(struct gw_db *db, bool on); /* NULL: runs are not pipelined */
    const char *begin; /* the statement that starts a write transaction */
};

struct gw_db {
    const struct gw_db_ops *ops;
    enum gw_db_kind kind;
    char err[512];
};

struct gw_db_stmt {
    struct gw_db *db;
    struct gw_db_param *p; /* p[0] is parameter 1 */
    int np, cap;
    bool running; /* stepped since the last reset */
};

void gw_db_set_error(struct gw_db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The backends' openers (kpi/db_sqlite.c, kpi/db_pg.c). */
struct gw_db *gw_db_sqlite_open(const char *path, bool readonly, char *err, size_t errlen);
struct gw_db *gw_db_pg_open(const char *url, bool readonly, char *err, size_t errlen);

#endif
