/* kpi/db.h on PostgreSQL (libpq): one database shared by a fleet of gateways.
 *
 * Statements are sent with their parameters apart from the SQL text (PQexecParams, or
 * PQprepare once and PQexecPrepared for the writer's statements), typed as the caller
 * bound them, so no value is ever spliced into SQL. Results are read whole: the readers'
 * queries return aggregates, a page of incidents or a time series, never a table.
 *
 * The connection is non-blocking and every wait has a deadline (GW_PG_IO_MS): a server
 * that stops answering without closing the connection (a frozen backend, a network
 * partition) fails the statement and marks the connection broken, so the writer holds
 * records and reconnects, and nothing waits forever. Text that is not UTF-8 (PostgreSQL
 * refuses it) is sent with each invalid byte as '?'. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "kpi/db_impl.h"
#include "util/json.h"

/* pg_type.h's OIDs of the three types bound here (stable across releases) */
#define OID_INT8 20
#define OID_TEXT 25
#define OID_FLOAT8 701

/* How long one statement may wait for the server, sending or answering
 * (GUARDRAIL_PG_IO_MS overrides it, for tests). */
#define GW_PG_IO_MS 15000

struct pg {
    struct gw_db base;
    PGconn *conn;
    bool dead; /* a wait passed its deadline: the connection is not to be trusted */
    int io_ms; /* GW_PG_IO_MS */
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
    return ((const struct pg *)db)->dead || PQstatus(conn(db)) == CONNECTION_BAD;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the socket is ready for events or the deadline passes. -1 (and the
 * connection dead) on the deadline or an error. */
static int wait_socket(struct pg *p, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            p->dead = true;
            gw_db_set_error(&p->base, "PostgreSQL did not answer within %d ms", p->io_ms);
            return -1;
        }
        struct pollfd fd = {.fd = PQsocket(p->conn), .events = events};
        int n = poll(&fd, 1, (int)left);
        if (n > 0)
            return 0;
        if (n == -1 && errno != EINTR) {
            p->dead = true;
            gw_db_set_error(&p->base, "PostgreSQL: %s", strerror(errno));
            return -1;
        }
    }
}

/* Sends what libpq has queued. -1 on the deadline or a dead connection. */
static int flush_wait(struct pg *p, int64_t deadline)
{
    int r;
    while ((r = PQflush(p->conn)) == 1) {
        if (wait_socket(p, POLLIN | POLLOUT, deadline) == -1)
            return -1;
        if (!PQconsumeInput(p->conn)) /* answers may come while we send */
            break;
    }
    if (r == -1 || PQstatus(p->conn) == CONNECTION_BAD) {
        gw_db_set_error(&p->base, "PostgreSQL: %s", PQerrorMessage(p->conn));
        return -1;
    }
    return 0;
}

/* The next result (NULL: the end of a statement's results, or an error: then dead or
 * broken, with the error set). */
static PGresult *result_wait(struct pg *p, int64_t deadline)
{
    while (PQisBusy(p->conn)) {
        if (wait_socket(p, POLLIN, deadline) == -1)
            return NULL;
        if (!PQconsumeInput(p->conn)) {
            gw_db_set_error(&p->base, "PostgreSQL: %s", PQerrorMessage(p->conn));
            return NULL;
        }
    }
    return PQgetResult(p->conn);
}

/* After a PQsend*: flushes and reads the statement's results to their end. Returns the
 * first failed result, else the last one (the caller clears it); NULL when the server did
 * not answer (the error is set). */
static PGresult *answer(struct pg *p, int sent)
{
    int64_t deadline = mono_ms() + p->io_ms;
    if (!sent) {
        gw_db_set_error(&p->base, "PostgreSQL: %s", PQerrorMessage(p->conn));
        return NULL;
    }
    if (flush_wait(p, deadline) == -1)
        return NULL;
    PGresult *keep = NULL, *r;
    while ((r = result_wait(p, deadline))) {
        ExecStatusType t = PQresultStatus(r);
        bool bad = t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK;
        if (!keep || (bad && PQresultStatus(keep) != PGRES_FATAL_ERROR)) {
            PQclear(keep);
            keep = r;
        } else {
            PQclear(r);
        }
    }
    if (p->dead || PQstatus(p->conn) == CONNECTION_BAD) {
        PQclear(keep);
        if (!p->dead)
            gw_db_set_error(&p->base, "PostgreSQL: %s", PQerrorMessage(p->conn));
        return NULL;
    }
    return keep;
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
    struct pg *p = (struct pg *)db;
    if (p->dead) {
        gw_db_set_error(db, "PostgreSQL: the connection was given up");
        return -1;
    }
    PGresult *res = answer(p, PQsendQuery(p->conn, sql));
    if (!res)
        return -1;
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
        PGresult *r = answer((struct pg *)db, PQsendPrepare(conn(db), s->name, s->sql, 0, NULL));
        int rc = r ? result_ok(db, r) : -1;
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

/* Whether s is valid UTF-8 (PostgreSQL refuses text that is not). */
static bool utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), k;
    for (size_t i = 0; i < n; i += k)
        if (!(k = gw_utf8_seq(p + i, n - i)))
            return false;
    return true;
}

/* A copy of s with every byte that is not part of a valid UTF-8 character as '?'. */
static char *utf8_clean(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), o = 0, k;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += k ? k : 1) {
        k = gw_utf8_seq(p + i, n - i);
        if (k) {
            memcpy(out + o, p + i, k);
            o += k;
        } else {
            out[o++] = '?';
        }
    }
    out[o] = '\0';
    return out;
}

/* Sends the statement with its parameters as text, typed as bound. */
static PGresult *run(struct pg_stmt *s)
{
    struct gw_db_stmt *b = &s->base;
    struct pg *pg = (struct pg *)b->db;
    int n = b->np;
    Oid types[n ? n : 1];
    const char *values[n ? n : 1];
    char *cleaned[n ? n : 1];
    char nums[n ? n : 1][32];
    if (pg->dead) {
        gw_db_set_error(b->db, "PostgreSQL: the connection was given up");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        const struct gw_db_param *p = &b->p[i];
        values[i] = nums[i];
        cleaned[i] = NULL;
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
            if (!utf8_ok(p->t) && (cleaned[i] = utf8_clean(p->t)))
                values[i] = cleaned[i];
            break;
        case GW_DB_P_NULL:
            types[i] = OID_TEXT;
            values[i] = NULL;
            break;
        }
    }
    PGconn *c = conn(b->db);
    PGresult *r;
    int sent = s->prepared ? PQsendQueryPrepared(c, s->name, n, values, NULL, NULL, 0)
                           : PQsendQueryParams(c, s->sql, n, types, values, NULL, NULL, 0);
    if (pg->pipelined) { /* answered at the next sync (drain) */
        if (!sent || flush_wait(pg, mono_ms() + pg->io_ms) == -1) {
            if (!sent)
                gw_db_set_error(b->db, "PostgreSQL: %s", PQerrorMessage(c));
            r = NULL;
        } else {
            r = PQmakeEmptyPGresult(c, PGRES_COMMAND_OK);
        }
    } else {
        r = answer(pg, sent);
    }
    for (int i = 0; i < n; i++)
        free(cleaned[i]);
    return r;
}

/* Syncs the pipeline and reads every answer up to the sync: -1 when a write failed (the
 * first error is kept; the writes after it were not run). */
static int drain(struct pg *p)
{
    int64_t deadline = mono_ms() + p->io_ms;
    if (PQpipelineSync(p->conn) != 1 || flush_wait(p, deadline) == -1) {
        if (!p->dead)
            gw_db_set_error(&p->base, "PostgreSQL: %s", PQerrorMessage(p->conn));
        p->failed = true;
        return -1;
    }
    for (;;) {
        PGresult *r = result_wait(p, deadline);
        if (!r) {
            if (p->dead || PQstatus(p->conn) == CONNECTION_BAD) { /* no answer will come */
                if (!p->dead)
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
    if (p->dead) /* the connection is given up: its pipeline with it */
        return -1;
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
        pg_exec(base->db, sql);
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

bool gw_db_url_ok(const char *where, char *err, size_t errlen)
{
    if (!gw_db_is_url(where))
        return true;
    /* libpq ends the user-info at the first '@', and the authority at the first '/', '?' or
     * '#': a password with one of them in it would be cut there, and libpq's errors quote
     * the rest as a host name or a port (review 39, 40); refused instead */
    const char *auth = strstr(where, "://") + 3;
    const char *at = memchr(auth, '@', strcspn(auth, "?")); /* a query may hold one */
    if (at && (strcspn(auth, "/#") < (size_t)(at - auth) ||
               memchr(at + 1, '@', strcspn(at + 1, "/?#")))) {
        /* the URL is not quoted: where its password ends is what is unclear */
        snprintf(err, errlen,
                 "%.*s...: a '@', '/', '?' or '#' in the user name or password must be "
                 "written %%40, %%2F, %%3F or %%23",
                 (int)(auth - where), where);
        return false;
    }
    char *msg = NULL;
    PQconninfoOption *o = PQconninfoParse(where, &msg);
    PQconninfoFree(o);
    if (o)
        return true;
    char safe[256];
    gw_db_safe_name(where, safe, sizeof safe);
    /* libpq's message quotes the URL, password and all: not repeated here */
    snprintf(err, errlen, "%s: not a PostgreSQL URL libpq can read (postgresql://USER@HOST[:PORT]/DB)",
             safe);
    PQfreemem(msg);
    return false;
}

struct gw_db *gw_db_pg_open(const char *url, bool readonly, char *err, size_t errlen)
{
    char safe[256];
    gw_db_safe_name(url, safe, sizeof safe);
    if (!gw_db_url_ok(url, err, errlen))
        return NULL;
    struct pg *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->base.ops = &pg_ops;
    p->base.kind = GW_DB_POSTGRES;
    const char *io = getenv("GUARDRAIL_PG_IO_MS");
    p->io_ms = io && atoi(io) > 0 ? atoi(io) : GW_PG_IO_MS;
    /* keywords before dbname are defaults the URL may override. A reader (the admin
     * listener's one thread) waits less for a connection than the writer. Keepalives
     * notice a peer that is gone; a frozen one is caught by the I/O deadlines. */
    const char *const keys[] = {"connect_timeout", "application_name", "keepalives",
                                "keepalives_idle", "keepalives_interval", "keepalives_count",
                                "dbname", NULL};
    const char *const vals[] = {readonly ? "2" : "5", "guardrail", "1", "30", "10", "3", url,
                                NULL};
    p->conn = PQconnectdbParams(keys, vals, 1);
    if (!p->conn || PQstatus(p->conn) != CONNECTION_OK) {
        char msg[384];
        snprintf(msg, sizeof msg, "%s", p->conn ? PQerrorMessage(p->conn) : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        gw_db_scrub(url, msg);
        snprintf(err, errlen, "%s: %s", safe, msg);
        PQfinish(p->conn);
        free(p);
        return NULL;
    }
    PQsetNoticeProcessor(p->conn, quiet, NULL);
    if (PQsetnonblocking(p->conn, 1) != 0 ||
        pg_exec(&p->base, readonly ? "SET default_transaction_read_only = on;"
                                     "SET statement_timeout = '30s'"
                                   : "SET statement_timeout = '30s'") == -1) {
        gw_db_scrub(url, p->base.err);
        snprintf(err, errlen, "%s: %s", safe, p->base.err);
        pg_close(&p->base);
        return NULL;
    }
    return &p->base;
}
