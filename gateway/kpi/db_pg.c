/* kpi/db.h on PostgreSQL (libpq): one database shared by a fleet of gateways.
 *
 * Statements are sent with their parameters apart from the SQL text (PQexecParams, or
 * PQprepare once and PQexecPrepared for the writer's statements), typed as the caller
 * bound them, so no value is ever spliced into SQL. Results are read whole: the readers'
 * queries return aggregates, a page of incidents or a time series, never a table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <libpq-fe.h>

#include "kpi/db_impl.h"

/* pg_type.h's OIDs of the three types bound here (stable across releases) */
#define OID_INT8 20
#define OID_TEXT 25
#define OID_FLOAT8 701

struct pg {
    struct gw_db base;
    PGconn *conn;
    unsigned next_name; /* names of statements prepared on this connection */
    bool pipelined;     /* in pipeline mode (gw_db_pipeline) */
    int queued;         /* writes sent since the last sync */
    bool failed;        /* one of them failed */
};

/* Writes sent before their answers are read: the answers are small, but reading them every
 * so often keeps both sides' socket buffers from filling up. */
#define PIPELINE_DEPTH 256

struct pg_stmt {
    struct gw_db_stmt base;
    char *sql;     /* with $N parameters */
    char name[24]; /* "" unless kept: prepared under this name when made */
    bool prepared;
    PGresult *res; /* of the run in progress; NULL before it */
    int row, rows;
    int64_t changes;
};

static PGconn *conn(const struct gw_db *db)
{
    return ((const struct pg *)db)->conn;
}

static void pg_close(struct gw_db *db)
{
    PQfinish(conn(db));
    free(db);
}

static bool pg_broken(const struct gw_db *db)
{
    return PQstatus(conn(db)) == CONNECTION_BAD;
}

/* 0 when res is one of the two good ends, else -1 with the server's message (res is
 * not cleared here; NULL is an error too). */
static int result_ok(struct gw_db *db, PGresult *res)
{
    ExecStatusType t = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK)
        return 0;
    gw_db_set_error(db, "PostgreSQL: %s",
                    res && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res)
                                                        : PQerrorMessage(conn(db)));
    return -1;
}

static int pg_exec(struct gw_db *db, const char *sql)
{
    PGresult *res = PQexec(conn(db), sql);
    int rc = result_ok(db, res);
    PQclear(res);
    return rc;
}

/* ?N -> $N outside quoted text. */
static char *dollar_params(const char *sql)
{
    char *out = strdup(sql), *o = out;
    if (!out)
        return NULL;
    char quote = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '?' && p[1] >= '0' && p[1] <= '9') {
            *o++ = '$';
            continue;
        }
        *o++ = *p;
    }
    *o = '\0';
    return out;
}

static struct gw_db_stmt *pg_prepare(struct gw_db *db, const char *sql, bool keep)
{
    struct pg_stmt *s = calloc(1, sizeof *s);
    if (!s || !(s->sql = dollar_params(sql))) {
        free(s);
        gw_db_set_error(db, "out of memory");
        return NULL;
    }
    s->base.db = db;
    if (keep) {
        /* prepared now, the parameters' types inferred from where they go (the writer's
         * statements are INSERTs), so that pipelined runs can use it too */
        snprintf(s->name, sizeof s->name, "gw_%u", ((struct pg *)db)->next_name++);
        PGresult *r = PQprepare(conn(db), s->name, s->sql, 0, NULL);
        int rc = result_ok(db, r);
        PQclear(r);
        if (rc == -1) {
            free(s->sql);
            free(s);
            return NULL;
        }
        s->prepared = true;
    }
    return &s->base;
}

/* Sends the statement with its parameters as text, typed as bound. */
static PGresult *run(struct pg_stmt *s)
{
    struct gw_db_stmt *b = &s->base;
    int n = b->np;
    Oid types[n ? n : 1];
    const char *values[n ? n : 1];
    char nums[n ? n : 1][32];
    for (int i = 0; i < n; i++) {
        const struct gw_db_param *p = &b->p[i];
        values[i] = nums[i];
        switch (p->type) {
        case GW_DB_P_INT:
            types[i] = OID_INT8;
            snprintf(nums[i], sizeof nums[i], "%lld", (long long)p->i);
            break;
        case GW_DB_P_DOUBLE:
            types[i] = OID_FLOAT8;
            snprintf(nums[i], sizeof nums[i], "%.17g", isfinite(p->d) ? p->d : 0.0);
            break;
        case GW_DB_P_TEXT:
            types[i] = OID_TEXT;
            values[i] = p->t;
            break;
        case GW_DB_P_NULL:
            types[i] = OID_TEXT;
            values[i] = NULL;
            break;
        }
    }
    PGconn *c = conn(b->db);
    struct pg *pg = (struct pg *)b->db;
    if (pg->pipelined) { /* sent now, answered at the next sync (drain) */
        int sent = s->prepared ? PQsendQueryPrepared(c, s->name, n, values, NULL, NULL, 0)
                               : PQsendQueryParams(c, s->sql, n, types, values, NULL, NULL, 0);
        if (!sent) {
            gw_db_set_error(b->db, "PostgreSQL: %s", PQerrorMessage(c));
            return NULL;
        }
        return PQmakeEmptyPGresult(c, PGRES_COMMAND_OK);
    }
    PGresult *r = s->prepared ? PQexecPrepared(c, s->name, n, values, NULL, NULL, 0)
                             : PQexecParams(c, s->sql, n, types, values, NULL, NULL, 0);
    if (!r)
        gw_db_set_error(b->db, "PostgreSQL: %s", PQerrorMessage(c));
    return r;
}

/* Syncs the pipeline and reads every answer up to the sync: -1 when a write failed (the
 * first error is kept; the writes after it were not run). */
static int drain(struct pg *p)
{
    if (PQpipelineSync(p->conn) != 1) {
        gw_db_set_error(&p->base, "PostgreSQL: %s", PQerrorMessage(p->conn));
        p->failed = true;
        return -1;
    }
    for (;;) {
        PGresult *r = PQgetResult(p->conn);
        if (!r) {
            if (PQstatus(p->conn) == CONNECTION_BAD) { /* the answers will never come */
                gw_db_set_error(&p->base, "PostgreSQL: %s", PQerrorMessage(p->conn));
                p->failed = true;
                break;
            }
            continue; /* the end of one write's answers */
        }
        ExecStatusType t = PQresultStatus(r);
        if (t == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        if (t == PGRES_FATAL_ERROR && !p->failed) {
            gw_db_set_error(&p->base, "PostgreSQL: %s", PQresultErrorMessage(r));
            p->failed = true;
        }
        PQclear(r);
    }
    p->queued = 0;
    return p->failed ? -1 : 0;
}

static int pg_pipeline(struct gw_db *db, bool on)
{
    struct pg *p = (struct pg *)db;
    if (on == p->pipelined)
        return 0;
    if (on) {
        if (PQenterPipelineMode(p->conn) != 1) {
            gw_db_set_error(db, "PostgreSQL: %s", PQerrorMessage(p->conn));
            return -1;
        }
        p->pipelined = true;
        p->queued = 0;
        p->failed = false;
        return 0;
    }
    int rc = drain(p);
    p->pipelined = false;
    if (PQexitPipelineMode(p->conn) != 1 && rc == 0) {
        gw_db_set_error(db, "PostgreSQL: %s", PQerrorMessage(p->conn));
        rc = -1;
    }
    return rc;
}

static int pg_step(struct gw_db_stmt *base)
{
    struct pg_stmt *s = (struct pg_stmt *)base;
    if (!s->res) {
        PGresult *res = run(s); /* NULL: the error is set */
        if (!res || result_ok(base->db, res) == -1) {
            PQclear(res);
            s->res = PQmakeEmptyPGresult(NULL, PGRES_COMMAND_OK); /* the run is over */
            s->rows = 0;
            s->row = 0;
            return -1;
        }
        s->res = res;
        struct pg *pg = (struct pg *)base->db;
        if (pg->pipelined && ++pg->queued >= PIPELINE_DEPTH && drain(pg) == -1)
            return -1;
        s->rows = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : 0;
        s->row = -1;
        const char *t = PQcmdTuples(res);
        s->changes = t && t[0] ? strtoll(t, NULL, 10) : 0;
    }
    if (s->row < s->rows)
        s->row++;
    return s->row < s->rows ? 1 : 0;
}

static bool pg_null(struct gw_db_stmt *base, int col)
{
    struct pg_stmt *s = (struct pg_stmt *)base;
    return !s->res || s->row < 0 || s->row >= s->rows || col >= PQnfields(s->res) ||
           PQgetisnull(s->res, s->row, col);
}

static const char *pg_text(struct gw_db_stmt *base, int col)
{
    struct pg_stmt *s = (struct pg_stmt *)base;
    return pg_null(base, col) ? NULL : PQgetvalue(s->res, s->row, col);
}

static int64_t pg_int(struct gw_db_stmt *base, int col)
{
    const char *t = pg_text(base, col);
    if (!t)
        return 0;
    /* sums of integers come back as numeric: "123", never with a fraction here */
    return strpbrk(t, ".eE") ? (int64_t)llround(strtod(t, NULL)) : strtoll(t, NULL, 10);
}

static double pg_double(struct gw_db_stmt *base, int col)
{
    const char *t = pg_text(base, col);
    return t ? strtod(t, NULL) : 0;
}

static int64_t pg_changes(struct gw_db_stmt *base)
{
    return ((struct pg_stmt *)base)->changes;
}

static void pg_reset(struct gw_db_stmt *base)
{
    struct pg_stmt *s = (struct pg_stmt *)base;
    PQclear(s->res);
    s->res = NULL;
    s->row = s->rows = 0;
}

static void pg_finalize(struct gw_db_stmt *base)
{
    struct pg_stmt *s = (struct pg_stmt *)base;
    PQclear(s->res);
    if (s->prepared && !pg_broken(base->db)) {
        char sql[64];
        snprintf(sql, sizeof sql, "DEALLOCATE %s", s->name);
        PQclear(PQexec(conn(base->db), sql));
    }
    free(s->sql);
    free(s);
}

static const struct gw_db_ops pg_ops = {
    .close = pg_close,
    .exec = pg_exec,
    .broken = pg_broken,
    .prepare = pg_prepare,
    .step = pg_step,
    .null = pg_null,
    .int64 = pg_int,
    .dbl = pg_double,
    .text = pg_text,
    .changes = pg_changes,
    .reset = pg_reset,
    .finalize = pg_finalize,
    .pipeline = pg_pipeline,
    .begin = "BEGIN",
};

static void quiet(void *arg, const char *message)
{
    (void)arg; /* NOTICEs ("relation already exists, skipping") are not for the log */
    (void)message;
}

struct gw_db *gw_db_pg_open(const char *url, bool readonly, char *err, size_t errlen)
{
    char safe[256];
    gw_db_safe_name(url, safe, sizeof safe);
    struct pg *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->base.ops = &pg_ops;
    p->base.kind = GW_DB_POSTGRES;
    /* keywords before dbname are defaults the URL may override */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const vals[] = {"5", "guardrail", url, NULL};
    p->conn = PQconnectdbParams(keys, vals, 1);
    if (!p->conn || PQstatus(p->conn) != CONNECTION_OK) {
        char msg[384];
        snprintf(msg, sizeof msg, "%s", p->conn ? PQerrorMessage(p->conn) : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        snprintf(err, errlen, "%s: %s", safe, msg);
        PQfinish(p->conn);
        free(p);
        return NULL;
    }
    PQsetNoticeProcessor(p->conn, quiet, NULL);
    if (pg_exec(&p->base, readonly ? "SET default_transaction_read_only = on;"
                                     "SET statement_timeout = '30s'"
                                   : "SET statement_timeout = '30s'") == -1) {
        snprintf(err, errlen, "%s: %s", safe, p->base.err);
        pg_close(&p->base);
        return NULL;
    }
    return &p->base;
}
