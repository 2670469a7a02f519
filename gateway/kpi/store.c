/* The KPI store: the schema on either backend, the batch writer, pruning.
 *
 * Tables (docs/kpis.md says what each KPI is made of):
 *   incidents     one row per finding, masked excerpt and keyed hash only
 *   kpi_minute    per (minute, instance, tenant, model): requests, verdicts, tokens, latency
 *   kpi_category  per (minute, instance, tenant, model, direction, category): outcomes
 *   kpi_rule      per (..., direction, category, rule): the same per rule
 *   kpi_latency   per (minute, instance, tenant, model, kind, bucket): histogram counts
 *   kpi_conv      per (minute, instance, tenant, model, conversation): conversations seen
 *   kpi_signal    per (minute, instance, tenant, model, rule, conversation): cx signals
 *   rule_title    a rule's plain name, as its pack last gave it
 *   kpi_batch     per (instance, batch): batches written, so a retry counts nothing twice
 * Every rollup key starts with the minute, so a time range is one index range, and holds
 * the instance, so gateways sharing one PostgreSQL never write the same row: their
 * upserts do not wait on each other, and a fleet's figures are sums like any other. */
#include "kpi/store.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"

#define MINUTE_MS 60000LL
#define DAY_MS 86400000LL
/* How long batch ids are kept: a retry comes within seconds of its failure. */
#define BATCH_KEEP_MS (7 * DAY_MS)

enum { DIR_PROMPT, DIR_REPLY, DIR__COUNT };
enum { HIST_GATEWAY, HIST_PROVIDER, HIST__COUNT };
static const char *const dir_names[DIR__COUNT] = {"prompt", "reply"};

/* The writer's statements, in the order of write_sql. */
enum {
    ST_INCIDENT,
    ST_MINUTE,
    ST_CATEGORY,
    ST_RULE,
    ST_LATENCY,
    ST_CONV,
    ST_SIGNAL,
    ST_TITLE,
    ST_BATCH,
    ST_SHADOW,
    ST__COUNT
};

#define OUTCOME_SET(t)                                                                             \
    " requests = " t ".requests + excluded.requests, blocked = " t ".blocked + excluded.blocked,"  \
    " redacted = " t ".redacted + excluded.redacted, flagged = " t ".flagged + excluded.flagged,"   \
    " findings = " t ".findings + excluded.findings, kept = " t ".kept + excluded.kept"
#define ADD(t, c) " " c " = " t "." c " + excluded." c

static const char *const write_sql[ST__COUNT] = {
    "INSERT INTO incidents(ts_ms, instance, request_id, tenant, model, conversation, direction,"
    " category, rule, severity, action, excerpt, value_hash, value_length, shadow)"
    " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
    "INSERT INTO kpi_minute(minute_ms, instance, tenant, model, requests, clean, lone,"
    " provider_calls, errors, prompt_flagged, prompt_redacted, prompt_blocked, reply_flagged,"
    " reply_redacted, reply_blocked, prompt_tokens, completion_tokens, usage_requests,"
    " gateway_ms_sum, provider_ms_sum)"
    " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20)"
    " ON CONFLICT(minute_ms, instance, tenant, model) DO UPDATE SET" ADD("kpi_minute", "requests")
    "," ADD("kpi_minute", "clean") "," ADD("kpi_minute", "lone") "," ADD("kpi_minute",
    "provider_calls") "," ADD("kpi_minute", "errors") "," ADD("kpi_minute", "prompt_flagged")
    "," ADD("kpi_minute", "prompt_redacted") "," ADD("kpi_minute", "prompt_blocked") ","
    ADD("kpi_minute", "reply_flagged") "," ADD("kpi_minute", "reply_redacted") ","
    ADD("kpi_minute", "reply_blocked") "," ADD("kpi_minute", "prompt_tokens") ","
    ADD("kpi_minute", "completion_tokens") "," ADD("kpi_minute", "usage_requests") ","
    ADD("kpi_minute", "gateway_ms_sum") "," ADD("kpi_minute", "provider_ms_sum"),
    "INSERT INTO kpi_category(minute_ms, instance, tenant, model, direction, category,"
    " requests, blocked, redacted, flagged, findings, kept)"
    " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)"
    " ON CONFLICT(minute_ms, instance, tenant, model, direction, category) DO UPDATE SET"
    OUTCOME_SET("kpi_category"),
    "INSERT INTO kpi_rule(minute_ms, instance, tenant, model, direction, category, rule,"
    " requests, blocked, redacted, flagged, findings, kept)"
    " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)"
    " ON CONFLICT(minute_ms, instance, tenant, model, direction, category, rule) DO UPDATE SET"
    OUTCOME_SET("kpi_rule"),
    "INSERT INTO kpi_latency(minute_ms, instance, tenant, model, kind, bucket, count)"
    " VALUES (?1,?2,?3,?4,?5,?6,?7)"
    " ON CONFLICT(minute_ms, instance, tenant, model, kind, bucket) DO UPDATE SET"
    ADD("kpi_latency", "count"),
    "INSERT INTO kpi_conv(minute_ms, instance, tenant, model, conversation)"
    " VALUES (?1,?2,?3,?4,?5) ON CONFLICT DO NOTHING",
    "INSERT INTO kpi_signal(minute_ms, instance, tenant, model, rule, conversation)"
    " VALUES (?1,?2,?3,?4,?5,?6) ON CONFLICT DO NOTHING",
    "INSERT INTO rule_title(rule, title) VALUES (?1,?2)"
    " ON CONFLICT(rule) DO UPDATE SET title = excluded.title"
    " WHERE rule_title.title <> excluded.title",
    "INSERT INTO kpi_batch(instance, boot, seq, ts_ms) VALUES (?1,?2,?3,?4)"
    " ON CONFLICT(instance, boot) DO UPDATE SET seq = excluded.seq, ts_ms = excluded.ts_ms"
    " WHERE kpi_batch.seq < excluded.seq",
    "INSERT INTO kpi_shadow(minute_ms, instance, tenant, model, direction, category, rule,"
    " requests, blocked, redacted, flagged, findings, kept)"
    " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)"
    " ON CONFLICT(minute_ms, instance, tenant, model, direction, category, rule) DO UPDATE SET"
    OUTCOME_SET("kpi_shadow"),
};
#undef ADD
#undef OUTCOME_SET

/* The schema as this build creates it, in the SQL both backends speak: BIGINT and DOUBLE
 * PRECISION are types SQLite reads with the right affinity. @ID is the incident id
 * column and @WR what follows a rollup table, which differ (kind_sql). The instance is
 * the last column of the rollups so that migration 2 -> 3 can copy old rows with
 * SELECT *, '-'. */
static const char rollup_ddl[] =
    "CREATE TABLE kpi_minute ("
    "  minute_ms BIGINT NOT NULL, tenant TEXT NOT NULL, model TEXT NOT NULL,"
    "  requests BIGINT NOT NULL DEFAULT 0, clean BIGINT NOT NULL DEFAULT 0,"
    "  lone BIGINT NOT NULL DEFAULT 0, provider_calls BIGINT NOT NULL DEFAULT 0,"
    "  errors BIGINT NOT NULL DEFAULT 0,"
    "  prompt_flagged BIGINT NOT NULL DEFAULT 0, prompt_redacted BIGINT NOT NULL DEFAULT 0,"
    "  prompt_blocked BIGINT NOT NULL DEFAULT 0,"
    "  reply_flagged BIGINT NOT NULL DEFAULT 0, reply_redacted BIGINT NOT NULL DEFAULT 0,"
    "  reply_blocked BIGINT NOT NULL DEFAULT 0,"
    "  prompt_tokens BIGINT NOT NULL DEFAULT 0, completion_tokens BIGINT NOT NULL DEFAULT 0,"
    "  usage_requests BIGINT NOT NULL DEFAULT 0,"
    "  gateway_ms_sum DOUBLE PRECISION NOT NULL DEFAULT 0,"
    "  provider_ms_sum DOUBLE PRECISION NOT NULL DEFAULT 0, instance TEXT NOT NULL,"
    "  PRIMARY KEY (minute_ms, instance, tenant, model))@WR;"
    "CREATE TABLE kpi_category ("
    "  minute_ms BIGINT NOT NULL, tenant TEXT NOT NULL, model TEXT NOT NULL,"
    "  direction TEXT NOT NULL, category TEXT NOT NULL,"
    "  requests BIGINT NOT NULL, blocked BIGINT NOT NULL, redacted BIGINT NOT NULL,"
    "  flagged BIGINT NOT NULL, findings BIGINT NOT NULL, kept BIGINT NOT NULL,"
    "  instance TEXT NOT NULL,"
    "  PRIMARY KEY (minute_ms, instance, tenant, model, direction, category))@WR;"
    "CREATE TABLE kpi_rule ("
    "  minute_ms BIGINT NOT NULL, tenant TEXT NOT NULL, model TEXT NOT NULL,"
    "  direction TEXT NOT NULL, category TEXT NOT NULL, rule TEXT NOT NULL,"
    "  requests BIGINT NOT NULL, blocked BIGINT NOT NULL, redacted BIGINT NOT NULL,"
    "  flagged BIGINT NOT NULL, findings BIGINT NOT NULL, kept BIGINT NOT NULL,"
    "  instance TEXT NOT NULL,"
    "  PRIMARY KEY (minute_ms, instance, tenant, model, direction, category, rule))@WR;"
    "CREATE TABLE kpi_latency ("
    "  minute_ms BIGINT NOT NULL, tenant TEXT NOT NULL, model TEXT NOT NULL,"
    "  kind INTEGER NOT NULL, bucket INTEGER NOT NULL, count BIGINT NOT NULL,"
    "  instance TEXT NOT NULL,"
    "  PRIMARY KEY (minute_ms, instance, tenant, model, kind, bucket))@WR;"
    "CREATE TABLE kpi_conv ("
    "  minute_ms BIGINT NOT NULL, tenant TEXT NOT NULL, model TEXT NOT NULL,"
    "  conversation TEXT NOT NULL, instance TEXT NOT NULL,"
    "  PRIMARY KEY (minute_ms, instance, tenant, model, conversation))@WR;"
    "CREATE TABLE kpi_signal ("
    "  minute_ms BIGINT NOT NULL, tenant TEXT NOT NULL, model TEXT NOT NULL,"
    "  rule TEXT NOT NULL, conversation TEXT NOT NULL, instance TEXT NOT NULL,"
    "  PRIMARY KEY (minute_ms, instance, tenant, model, rule, conversation))@WR;";

/* One row per instance and writing process: the last batch it wrote (kpi_batch_ddl);
 * with it the instance index of incidents (schema 3). */
static const char kpi_batch_ddl[] =
    "CREATE TABLE kpi_batch (instance TEXT NOT NULL, boot TEXT NOT NULL, seq BIGINT NOT NULL,"
    "  ts_ms BIGINT NOT NULL, PRIMARY KEY (instance, boot))@WR;";
static const char batch_ddl[] =
    "@KPIBATCH"
    "CREATE INDEX incidents_instance_ts ON incidents(instance, ts_ms);";

static const char other_ddl[] =
    "CREATE TABLE incidents ("
    "  id @ID, ts_ms BIGINT NOT NULL, request_id TEXT NOT NULL, tenant TEXT NOT NULL,"
    "  model TEXT NOT NULL, conversation TEXT NOT NULL, direction TEXT NOT NULL,"
    "  category TEXT NOT NULL, rule TEXT NOT NULL, severity TEXT NOT NULL,"
    "  action TEXT NOT NULL, excerpt TEXT NOT NULL, value_hash TEXT NOT NULL,"
    "  value_length BIGINT NOT NULL, instance TEXT NOT NULL DEFAULT '-',"
    "  shadow INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX incidents_ts ON incidents(ts_ms);"
    "CREATE INDEX incidents_tenant_ts ON incidents(tenant, ts_ms);"
    "CREATE INDEX incidents_category_ts ON incidents(category, ts_ms);"
    "CREATE TABLE rule_title (rule TEXT PRIMARY KEY, title TEXT NOT NULL)@WR;";

/* What rules in shadow would have done (schema 4): the columns of kpi_rule, counted as if
 * each had acted alone. */
static const char shadow_ddl[] =
    "CREATE TABLE kpi_shadow ("
    "  minute_ms BIGINT NOT NULL, tenant TEXT NOT NULL, model TEXT NOT NULL,"
    "  direction TEXT NOT NULL, category TEXT NOT NULL, rule TEXT NOT NULL,"
    "  requests BIGINT NOT NULL, blocked BIGINT NOT NULL, redacted BIGINT NOT NULL,"
    "  flagged BIGINT NOT NULL, findings BIGINT NOT NULL, kept BIGINT NOT NULL,"
    "  instance TEXT NOT NULL,"
    "  PRIMARY KEY (minute_ms, instance, tenant, model, direction, category, rule))@WR;";

/* Migrations both backends take, from schema 3 on: migrations[i] takes 3 + i to 4 + i. */
static const char *const migrations[] = {
    /* 3 -> 4: rules in shadow; batch ids as one row per writing process */
    "ALTER TABLE incidents ADD COLUMN shadow INTEGER NOT NULL DEFAULT 0;@SHADOW"
    "DROP TABLE kpi_batch;@KPIBATCH",
};
_Static_assert(sizeof migrations / sizeof migrations[0] == GW_STORE_SCHEMA_VERSION - 3,
               "one migration per schema version after 3");

/* SQLite migrations of databases written by earlier builds: sqlite_migrations[i] takes
 * version i + 1 to i + 2 (a new database is created at the current version). Append
 * only. */
static const char *const sqlite_migrations[] = {
    /* 1 -> 2: a rule's plain name */
    "CREATE TABLE rule_title (rule TEXT PRIMARY KEY, title TEXT NOT NULL) WITHOUT ROWID;",
    /* 2 -> 3: the instance in every key (rollups rebuilt: a key cannot change in place),
     * and batch ids; rows of before were written by the one gateway that now migrates
     * them: they take its name (@INSTANCE, a quoted literal) */
    "ALTER TABLE kpi_minute RENAME TO old_minute; ALTER TABLE kpi_category RENAME TO old_category;"
    "ALTER TABLE kpi_rule RENAME TO old_rule; ALTER TABLE kpi_latency RENAME TO old_latency;"
    "ALTER TABLE kpi_conv RENAME TO old_conv; ALTER TABLE kpi_signal RENAME TO old_signal;"
    "@ROLLUPS"
    "INSERT INTO kpi_minute SELECT *, @INSTANCE FROM old_minute;"
    "INSERT INTO kpi_category SELECT *, @INSTANCE FROM old_category;"
    "INSERT INTO kpi_rule SELECT *, @INSTANCE FROM old_rule;"
    "INSERT INTO kpi_latency SELECT *, @INSTANCE FROM old_latency;"
    "INSERT INTO kpi_conv SELECT *, @INSTANCE FROM old_conv;"
    "INSERT INTO kpi_signal SELECT *, @INSTANCE FROM old_signal;"
    "DROP TABLE old_minute; DROP TABLE old_category; DROP TABLE old_rule;"
    "DROP TABLE old_latency; DROP TABLE old_conv; DROP TABLE old_signal;"
    "ALTER TABLE incidents ADD COLUMN instance TEXT NOT NULL DEFAULT '-';"
    "UPDATE incidents SET instance = @INSTANCE;"
    "@BATCH",
};
_Static_assert(sizeof sqlite_migrations / sizeof sqlite_migrations[0] == 2,
               "SQLite's own migrations end at schema 3");

/* The distinct values of a rollup key column (tenant or model) the writer admits: the
 * ones the store holds, and new ones while there are fewer than max; the rest are written
 * as "other", which is always admitted. */
struct label_cap {
    const char *col;
    int max; /* 0: no cap */
    char **names;
    size_t n, alloc;
};

struct gw_store {
    struct gw_db *db;
    bool readonly;
    int retention_days;
    char instance[GW_STORE_INSTANCE_MAX + 1];
    struct gw_db_stmt *st[ST__COUNT]; /* writer only */
    struct label_cap tenants, models; /* writer only */
    struct label_cap titles;          /* rule titles written ("rule\x1ftitle"); writer only */
    char err[512];
    enum gw_store_err err_kind; /* of the last error */
};

static void set_err_v(struct gw_store *s, enum gw_store_err kind, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void set_err_v(struct gw_store *s, enum gw_store_err kind, const char *fmt, va_list ap)
{
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    s->err_kind = kind;
}

void gw_store_fail(struct gw_store *s, enum gw_store_err kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_err_v(s, kind, fmt, ap);
    va_end(ap);
}

/* The database's last error as the store's. Returns -1. */
static int db_err(struct gw_store *s)
{
    gw_store_fail(s, GW_STORE_FAILED, "%s", gw_db_error(s->db));
    return -1;
}

const char *gw_store_error(const struct gw_store *s)
{
    return s ? s->err : "no store";
}

enum gw_store_err gw_store_error_kind(const struct gw_store *s)
{
    return s ? s->err_kind : GW_STORE_FAILED;
}

struct gw_db *gw_store_db(struct gw_store *s)
{
    return s->db;
}

bool gw_store_broken(const struct gw_store *s)
{
    return !s || gw_db_broken(s->db);
}

/* ---- histograms ---- */

int gw_store_hist_bucket(double ms)
{
    if (!(ms >= GW_STORE_HIST_MIN_MS)) /* also NaN */
        return 0;
    double i = floor(log2(ms / GW_STORE_HIST_MIN_MS) * GW_STORE_HIST_PER_DOUBLING) + 1;
    return i >= GW_STORE_HIST_BUCKETS - 1 ? GW_STORE_HIST_BUCKETS - 1 : (int)i;
}

double gw_store_hist_value(int bucket)
{
    if (bucket <= 0)
        return 0;
    /* the geometric middle of [MIN * 2^((b-1)/8), MIN * 2^(b/8)) */
    return GW_STORE_HIST_MIN_MS * exp2((bucket - 0.5) / GW_STORE_HIST_PER_DOUBLING);
}

void gw_store_format_time(int64_t ms, char *out, size_t outlen)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- open, migrate, close ---- */

/* sql with its @ tokens written for this backend; NULL when out of memory. */
static char *kind_sql(const struct gw_store *s, const char *sql)
{
    bool lite = gw_db_kind(s->db) == GW_DB_SQLITE;
    static const struct {
        const char *token, *lite, *pg;
    } words[] = {{"@ROLLUPS", rollup_ddl, rollup_ddl},
                 {"@BATCH", batch_ddl, batch_ddl},
                 {"@SHADOW", shadow_ddl, shadow_ddl},
                 {"@KPIBATCH", kpi_batch_ddl, kpi_batch_ddl},
                 {"@ID", "INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY"},
                 {"@WR", " WITHOUT ROWID", ""}};
    struct gw_buf b = {0};
    while (*sql) {
        size_t i = 0, n = sizeof words / sizeof words[0];
        for (; i < n; i++)
            if (strncmp(sql, words[i].token, strlen(words[i].token)) == 0)
                break;
        if (i == n && strncmp(sql, "@INSTANCE", 9) == 0) { /* as a quoted SQL literal */
            gw_buf_puts(&b, "'");
            for (const char *c = s->instance; *c; c++)
                gw_buf_append(&b, *c == '\'' ? "''" : c, *c == '\'' ? 2 : 1);
            gw_buf_puts(&b, "'");
            sql += 9;
            continue;
        }
        if (i == n) {
            gw_buf_append(&b, sql, 1);
            sql++;
            continue;
        }
        char *inner = kind_sql(s, lite ? words[i].lite : words[i].pg);
        if (!inner) {
            gw_buf_free(&b);
            return NULL;
        }
        gw_buf_puts(&b, inner);
        free(inner);
        sql += strlen(words[i].token);
    }
    if (gw_buf_append(&b, "", 1) == -1) { /* the terminating NUL */
        gw_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static int exec_kind(struct gw_store *s, const char *sql)
{
    char *text = kind_sql(s, sql);
    if (!text) {
        gw_store_fail(s, GW_STORE_FAILED, "out of memory");
        return -1;
    }
    int rc = gw_db_exec(s->db, text);
    free(text);
    return rc == -1 ? db_err(s) : 0;
}

/* The schema version: SQLite's user_version; PostgreSQL's guardrail_schema table (none:
 * 0). */
static int schema_version(struct gw_store *s, int *out)
{
    const char *sql = gw_db_kind(s->db) == GW_DB_SQLITE
                          ? "PRAGMA user_version"
                          : "SELECT coalesce(max(version), 0) FROM guardrail_schema";
    struct gw_db_stmt *st = gw_db_prepare(s->db, sql, false);
    int rc = st ? gw_db_step(st) : -1;
    if (rc == 1)
        *out = (int)gw_db_int(st, 0);
    gw_db_finalize(st);
    if (rc != 1) {
        if (rc == 0)
            gw_store_fail(s, GW_STORE_FAILED, "no schema version");
        else
            db_err(s);
        return -1;
    }
    return 0;
}

static int set_version(struct gw_store *s)
{
    char sql[96];
    if (gw_db_kind(s->db) == GW_DB_SQLITE)
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", GW_STORE_SCHEMA_VERSION);
    else
        snprintf(sql, sizeof sql, "DELETE FROM guardrail_schema;"
                 "INSERT INTO guardrail_schema VALUES (%d)", GW_STORE_SCHEMA_VERSION);
    return gw_db_exec(s->db, sql) == -1 ? db_err(s) : 0;
}

/* Brings the schema to GW_STORE_SCHEMA_VERSION in one transaction. Gateways starting
 * together against one PostgreSQL take turns (an advisory lock held to COMMIT); the
 * later ones find the schema done. */
static int migrate(struct gw_store *s)
{
    int v;
    bool lite = gw_db_kind(s->db) == GW_DB_SQLITE;
    if (gw_db_begin(s->db) == -1)
        return db_err(s);
    if (!lite && gw_db_exec(s->db, "SELECT pg_advisory_xact_lock(7160353);"
                                   "CREATE TABLE IF NOT EXISTS guardrail_schema"
                                   " (version INTEGER NOT NULL)") == -1) {
        db_err(s);
        goto fail;
    }
    if (schema_version(s, &v) == -1)
        goto fail;
    if (v > GW_STORE_SCHEMA_VERSION) {
        gw_store_fail(s, GW_STORE_FAILED,
                      "database schema version %d is newer than this build's (%d)", v,
                      GW_STORE_SCHEMA_VERSION);
        goto fail;
    }
    if (v == GW_STORE_SCHEMA_VERSION) {
        gw_db_rollback(s->db); /* nothing to do */
        return 0;
    }
    if (v == 0) {
        if (exec_kind(s, other_ddl) == -1 || exec_kind(s, rollup_ddl) == -1 ||
            exec_kind(s, batch_ddl) == -1 || exec_kind(s, shadow_ddl) == -1)
            goto fail;
    } else if (!lite && v < 3) {
        gw_store_fail(s, GW_STORE_FAILED, "unknown PostgreSQL schema version %d", v);
        goto fail;
    } else {
        for (; v < 3; v++)
            if (exec_kind(s, sqlite_migrations[v - 1]) == -1)
                goto fail;
        for (; v < GW_STORE_SCHEMA_VERSION; v++)
            if (exec_kind(s, migrations[v - 3]) == -1)
                goto fail;
    }
    if (set_version(s) == -1)
        goto fail;
    if (gw_db_commit(s->db) == -1) {
        db_err(s);
        goto fail;
    }
    return 0;
fail:
    gw_db_rollback(s->db);
    return -1;
}

static void cap_clear(struct label_cap *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->names[i]);
    c->n = 0;
}

static int cap_add(struct label_cap *c, const char *v)
{
    if (gw_grow(&c->names, &c->alloc, c->n, sizeof *c->names, 64) == -1 ||
        !(c->names[c->n] = strdup(v)))
        return -1;
    c->n++;
    return 0;
}

/* v, or "other" when v is new and the cap is reached (or memory ran out). */
static const char *cap_admit(struct label_cap *c, const char *v)
{
    if (c->max <= 0 || strcmp(v, "other") == 0)
        return v;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->names[i], v) == 0)
            return v;
    if (c->n >= (size_t)c->max || cap_add(c, v) == -1)
        return "other";
    return v;
}

/* Reloads the values the store holds for c's column (at start, and after a prune). */
static int cap_load(struct gw_store *s, struct label_cap *c)
{
    cap_clear(c);
    if (c->max <= 0)
        return 0;
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT DISTINCT %s FROM kpi_minute", c->col);
    struct gw_db_stmt *st = gw_db_prepare(s->db, sql, false);
    if (!st)
        return db_err(s);
    int rc;
    while ((rc = gw_db_step(st)) == 1) {
        const char *v = gw_db_text(st, 0);
        /* "other" is not a value of its own: it takes no place */
        if (v && strcmp(v, "other") != 0 && cap_add(c, v) == -1) {
            gw_db_finalize(st);
            gw_store_fail(s, GW_STORE_FAILED, "out of memory");
            return -1;
        }
    }
    if (rc == -1)
        db_err(s);
    gw_db_finalize(st);
    return rc;
}

struct gw_store *gw_store_open(const char *where, const struct gw_store_opts *o, char *err,
                               size_t errlen)
{
    static const struct gw_store_opts none = {0};
    char safe[256];
    if (!o)
        o = &none;
    struct gw_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->readonly = o->readonly;
    s->retention_days = o->retention_days;
    snprintf(s->instance, sizeof s->instance, "%s", o->instance && o->instance[0] ? o->instance : "-");
    if (!(s->db = gw_db_open(where, o->readonly, err, errlen))) {
        free(s);
        return NULL;
    }
    gw_db_safe_name(where, safe, sizeof safe);
    bool lite = gw_db_kind(s->db) == GW_DB_SQLITE;
    if (o->readonly) {
        int v;
        if (schema_version(s, &v) == -1) {
            if (!lite) /* no guardrail_schema table: nothing written yet */
                gw_store_fail(s, GW_STORE_FAILED, "not a guardrail KPI database (no schema)");
            goto fail;
        }
        if (v == 0)
            gw_store_fail(s, GW_STORE_FAILED, "not a guardrail KPI database (no schema)");
        else if (v != GW_STORE_SCHEMA_VERSION)
            gw_store_fail(s, GW_STORE_FAILED,
                          "schema version %d, this build reads %d (open it for writing once "
                          "to migrate)",
                          v, GW_STORE_SCHEMA_VERSION);
        if (v != GW_STORE_SCHEMA_VERSION)
            goto fail;
        return s;
    }
    if (lite && (gw_db_exec(s->db, "PRAGMA journal_mode = WAL") == -1 ||
                 gw_db_exec(s->db, "PRAGMA synchronous = NORMAL") == -1)) {
        db_err(s);
        goto fail;
    }
    if (migrate(s) == -1)
        goto fail;
    for (int i = 0; i < ST__COUNT; i++)
        if (!(s->st[i] = gw_db_prepare(s->db, write_sql[i], true))) {
            db_err(s);
            goto fail;
        }
    s->tenants = (struct label_cap){.col = "tenant", .max = o->max_tenants};
    s->models = (struct label_cap){.col = "model", .max = o->max_models};
    if (cap_load(s, &s->tenants) == -1 || cap_load(s, &s->models) == -1)
        goto fail;
    return s;
fail:
    snprintf(err, errlen, "%s: %s", safe, s->err);
    gw_store_close(s);
    return NULL;
}

void gw_store_close(struct gw_store *s)
{
    if (!s)
        return;
    cap_clear(&s->tenants);
    free(s->tenants.names);
    cap_clear(&s->models);
    free(s->models.names);
    cap_clear(&s->titles);
    free(s->titles.names);
    for (int i = 0; i < ST__COUNT; i++)
        gw_db_finalize(s->st[i]);
    gw_db_close(s->db);
    free(s);
}

/* ---- writing ---- */

/* What one request did in one direction for one category or one rule. */
struct outcome {
    bool hit;
    int blocked, redacted, flagged; /* exactly one is 1 when hit */
    int64_t findings, kept;
};

static int run(struct gw_store *s, struct gw_db_stmt *st)
{
    return gw_db_run(st) == -1 ? db_err(s) : 0;
}

/* Binds a rollup key: ?1 minute, ?2 instance, ?3 tenant, ?4 model. */
static void bind_key(const struct gw_store *s, struct gw_db_stmt *st, int64_t minute,
                     const char *tenant, const char *model)
{
    gw_db_bind_int(st, 1, minute);
    gw_db_bind_text(st, 2, s->instance);
    gw_db_bind_text(st, 3, tenant);
    gw_db_bind_text(st, 4, model);
}

static int dir_index(enum gw_direction d)
{
    return d == GW_DIR_REPLY ? DIR_REPLY : DIR_PROMPT;
}

/* Whether finding f's value never reached the other side, in a text whose verdict is v:
 * its text was blocked, or it was redacted out of it. */
static bool kept(const struct gw_finding_rec *f, enum gw_action v)
{
    return v == GW_ACTION_BLOCK || (v == GW_ACTION_REDACT && f->action == GW_ACTION_REDACT);
}

/* Adds finding f (in a text whose verdict is v) to o, as a value of its own: counted in
 * findings, and in kept when kept. */
static void add_finding(struct outcome *o, const struct gw_finding_rec *f, enum gw_action v)
{
    o->hit = true;
    o->findings += 1 + (int64_t)f->more;
    if (kept(f, v))
        o->kept += 1 + (int64_t)f->more;
    if (f->action == GW_ACTION_BLOCK && v == GW_ACTION_BLOCK)
        o->blocked = 1;
    else if (f->action == GW_ACTION_REDACT && v == GW_ACTION_REDACT)
        o->redacted = 1;
}

/* Whether findings a and b are one value: the same direction, category and text, and
 * spans that overlap. A finding with no span (start == end) overlaps nothing. */
static bool same_value(const struct gw_finding_rec *a, const struct gw_finding_rec *b)
{
    return !a->shadow && !b->shadow && a->direction == b->direction &&
           a->category == b->category && a->text == b->text && a->start < a->end &&
           b->start < b->end && a->start < b->end && b->start < a->end;
}

/* The first finding of i's value: findings are joined through overlaps (a chain of
 * overlapping spans is one value), up[] holding each one's link to an earlier one. */
static size_t value_root(const size_t *up, size_t i)
{
    while (up[i] != i)
        i = up[i];
    return i;
}

/* Adds request r's findings to its per-direction, per-category outcomes, one value counted
 * once however many rules matched it: findings whose spans overlap in the same text and
 * category are one value, kept when any of them was. Findings past GW_REC_FINDINGS_MAX
 * (the "more" counts) carry no span and count one each. Requests carry few findings, so
 * the quadratic walk is cheap. */
static void add_values(struct outcome cat[DIR__COUNT][GW_CAT__COUNT],
                       const struct gw_request_rec *r)
{
    enum { MAX = GW_REC_FINDINGS_MAX + GW_REC_SHADOW_MAX }; /* a record's findings, at most */
    size_t up[MAX];
    bool any_kept[MAX];
    size_t n = r->n_findings < MAX ? r->n_findings : MAX;
    for (size_t i = 0; i < n; i++) {
        up[i] = i;
        any_kept[i] = false;
        for (size_t j = 0; j < i; j++)
            if (same_value(&r->findings[j], &r->findings[i])) {
                size_t a = value_root(up, j), b = value_root(up, i);
                if (a != b)
                    up[b > a ? b : a] = b > a ? a : b; /* the earlier one stays the root */
            }
    }
    for (size_t i = 0; i < r->n_findings; i++) {
        const struct gw_finding_rec *f = &r->findings[i];
        if ((unsigned)f->category >= GW_CAT__COUNT || f->shadow)
            continue; /* a rule in shadow did nothing: its own rollups (write_rules) */
        enum gw_action v = f->direction == GW_DIR_REPLY ? r->reply_verdict : r->prompt_verdict;
        struct outcome *o = &cat[dir_index(f->direction)][f->category];
        if (i >= n) { /* not joined: a value of its own */
            add_finding(o, f, v);
            continue;
        }
        size_t root = value_root(up, i);
        o->hit = true;
        o->findings += (int64_t)f->more + (root == i);
        if (kept(f, v)) {
            o->kept += (int64_t)f->more;
            any_kept[root] = true;
        }
        if (f->action == GW_ACTION_BLOCK && v == GW_ACTION_BLOCK)
            o->blocked = 1;
        else if (f->action == GW_ACTION_REDACT && v == GW_ACTION_REDACT)
            o->redacted = 1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct gw_finding_rec *f = &r->findings[i];
        if (value_root(up, i) == i && any_kept[i] && (unsigned)f->category < GW_CAT__COUNT)
            cat[dir_index(f->direction)][f->category].kept++;
    }
}

/* Settles an outcome: blocked wins over redacted, and a hit that did neither is flagged. */
static void settle(struct outcome *o)
{
    if (o->blocked)
        o->redacted = 0;
    o->flagged = !o->blocked && !o->redacted;
}

/* Every request adds to its minute's row and to one or two latency buckets: summed in
 * memory over a batch, so SQLite makes one upsert per key and batch, not per request. */
#define MINUTE_INTS 14
struct minute_agg {
    int64_t minute;
    const char *tenant, *model; /* point into the batch's records */
    int64_t v[MINUTE_INTS];     /* requests .. usage_requests, in the statement's order */
    double gateway_ms, provider_ms;
};
struct latency_agg {
    int64_t minute;
    const char *tenant, *model;
    int kind, bucket;
    int64_t count;
};
/* A request's outcome for one category (rule NULL) or one rule, summed per batch too. */
struct outcome_agg {
    int64_t minute;
    const char *tenant, *model, *category, *rule;
    int dir;
    bool shadow; /* a rule in shadow: what it would have done (kpi_shadow) */
    int64_t requests, blocked, redacted, flagged, findings, kept;
};
struct batch {
    struct minute_agg *m;
    size_t nm, capm;
    struct latency_agg *l;
    size_t nl, capl;
    struct outcome_agg *o;
    size_t no, capo;
    const struct gw_finding_rec **t; /* findings whose rule's title is to be written */
    size_t nt, capt;
};

static bool same_key(int64_t m1, const char *t1, const char *o1, int64_t m2, const char *t2,
                     const char *o2)
{
    return m1 == m2 && strcmp(t1, t2) == 0 && strcmp(o1, o2) == 0;
}

static struct minute_agg *minute_slot(struct batch *b, int64_t minute, const char *tenant,
                                      const char *model)
{
    for (size_t i = 0; i < b->nm; i++)
        if (same_key(b->m[i].minute, b->m[i].tenant, b->m[i].model, minute, tenant, model))
            return &b->m[i];
    if (gw_grow(&b->m, &b->capm, b->nm, sizeof *b->m, 8) == -1)
        return NULL;
    b->m[b->nm] = (struct minute_agg){.minute = minute, .tenant = tenant, .model = model};
    return &b->m[b->nm++];
}

static int batch_latency(struct batch *b, int64_t minute, const char *tenant, const char *model,
                       int kind, double ms)
{
    int bucket = gw_store_hist_bucket(ms);
    for (size_t i = 0; i < b->nl; i++) {
        struct latency_agg *a = &b->l[i];
        if (a->kind == kind && a->bucket == bucket &&
            same_key(a->minute, a->tenant, a->model, minute, tenant, model)) {
            a->count++;
            return 0;
        }
    }
    if (gw_grow(&b->l, &b->capl, b->nl, sizeof *b->l, 16) == -1)
        return -1;
    b->l[b->nl++] = (struct latency_agg){minute, tenant, model, kind, bucket, 1};
    return 0;
}

static int batch_outcome(struct batch *b, int64_t minute, const char *tenant, const char *model,
                         int dir, const char *category, const char *rule,
                         const struct outcome *o, bool shadow)
{
    struct outcome_agg *a = NULL;
    for (size_t i = 0; i < b->no && !a; i++) {
        struct outcome_agg *x = &b->o[i];
        if (x->dir == dir && x->shadow == shadow && strcmp(x->category, category) == 0 &&
            (x->rule == rule || (x->rule && rule && strcmp(x->rule, rule) == 0)) &&
            same_key(x->minute, x->tenant, x->model, minute, tenant, model))
            a = x;
    }
    if (!a) {
        if (gw_grow(&b->o, &b->capo, b->no, sizeof *b->o, 8) == -1)
            return -1;
        a = &b->o[b->no++];
        *a = (struct outcome_agg){.minute = minute, .tenant = tenant, .model = model,
                                  .category = category, .rule = rule, .dir = dir,
                                  .shadow = shadow};
    }
    a->requests++;
    a->blocked += o->blocked;
    a->redacted += o->redacted;
    a->flagged += o->flagged;
    a->findings += o->findings;
    a->kept += o->kept;
    return 0;
}

static int flush_batch(struct gw_store *s, const struct batch *b)
{
    for (size_t i = 0; i < b->no; i++) {
        const struct outcome_agg *a = &b->o[i];
        struct gw_db_stmt *st = s->st[a->shadow ? ST_SHADOW : a->rule ? ST_RULE : ST_CATEGORY];
        int k = 5;
        bind_key(s, st, a->minute, a->tenant, a->model);
        gw_db_bind_text(st, k++, dir_names[a->dir]);
        gw_db_bind_text(st, k++, a->category);
        if (a->rule)
            gw_db_bind_text(st, k++, a->rule);
        gw_db_bind_int(st, k++, a->requests);
        gw_db_bind_int(st, k++, a->blocked);
        gw_db_bind_int(st, k++, a->redacted);
        gw_db_bind_int(st, k++, a->flagged);
        gw_db_bind_int(st, k++, a->findings);
        gw_db_bind_int(st, k++, a->kept);
        if (run(s, st) == -1)
            return -1;
    }
    struct gw_db_stmt *st = s->st[ST_MINUTE];
    for (size_t i = 0; i < b->nm; i++) {
        const struct minute_agg *a = &b->m[i];
        bind_key(s, st, a->minute, a->tenant, a->model);
        for (int k = 0; k < MINUTE_INTS; k++)
            gw_db_bind_int(st, 5 + k, a->v[k]);
        gw_db_bind_double(st, 5 + MINUTE_INTS, a->gateway_ms);
        gw_db_bind_double(st, 6 + MINUTE_INTS, a->provider_ms);
        if (run(s, st) == -1)
            return -1;
    }
    st = s->st[ST_LATENCY];
    for (size_t i = 0; i < b->nl; i++) {
        const struct latency_agg *a = &b->l[i];
        bind_key(s, st, a->minute, a->tenant, a->model);
        gw_db_bind_int(st, 5, a->kind);
        gw_db_bind_int(st, 6, a->bucket);
        gw_db_bind_int(st, 7, a->count);
        if (run(s, st) == -1)
            return -1;
    }
    return 0;
}

static int write_rules(struct batch *b, const struct gw_request_rec *r, int64_t minute,
                       const char *tenant, const char *model)
{
    /* Each (direction, rule) once per request: the first finding of a pair aggregates the
     * later ones. Requests carry few findings, so the quadratic walk is cheap. */
    for (size_t i = 0; i < r->n_findings; i++) {
        const struct gw_finding_rec *f = &r->findings[i];
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = r->findings[j].direction == f->direction &&
                   strcmp(r->findings[j].rule, f->rule) == 0;
        if (seen)
            continue;
        struct outcome o = {0};
        enum gw_action v = f->direction == GW_DIR_REPLY ? r->reply_verdict : r->prompt_verdict;
        if (f->shadow) /* what it would have done, had it acted: its own action */
            v = f->action;
        for (size_t j = i; j < r->n_findings; j++)
            if (r->findings[j].direction == f->direction &&
                strcmp(r->findings[j].rule, f->rule) == 0)
                add_finding(&o, &r->findings[j], v);
        settle(&o);
        if (batch_outcome(b, minute, tenant, model, dir_index(f->direction),
                          gw_category_name(f->category), f->rule, &o, f->shadow) == -1)
            return -1;
    }
    return 0;
}

static int write_signals(struct gw_store *s, const struct gw_request_rec *r, int64_t minute,
                         const char *tenant, const char *model)
{
    char lone[80];
    const char *conv = r->conversation;
    if (!conv[0]) {
        /* a request without a conversation id is a conversation of its own */
        snprintf(lone, sizeof lone, "#%s", r->request_id);
        conv = lone;
    }
    for (size_t i = 0; i < r->n_findings; i++) {
        if (r->findings[i].category != GW_CAT_CX || r->findings[i].shadow)
            continue;
        struct gw_db_stmt *st = s->st[ST_SIGNAL];
        bind_key(s, st, minute, tenant, model);
        gw_db_bind_text(st, 5, r->findings[i].rule);
        gw_db_bind_text(st, 6, conv);
        if (run(s, st) == -1)
            return -1;
    }
    return 0;
}

/* Whether this writer wrote rule's title as it is now; remembers it if not (up to a
 * bound; forgotten when a transaction rolls back). Rules keep their titles, so titles
 * are written once per rule and process: gateways sharing a database then almost never
 * update the same title row, the one row of the store they share. */
static bool title_written(struct gw_store *s, const char *rule, const char *title)
{
    char key[sizeof ((struct gw_finding_rec *)0)->rule + sizeof ((struct gw_finding_rec *)0)->title];
    snprintf(key, sizeof key, "%s\x1f%s", rule, title);
    for (size_t i = 0; i < s->titles.n; i++)
        if (strcmp(s->titles.names[i], key) == 0)
            return true;
    if (s->titles.n < 4096)
        cap_add(&s->titles, key);
    return false;
}

/* Keeps the plain name of each rule that fired and has one, for the readers: gathered
 * here, written by flush_titles. */
static int write_titles(struct gw_store *s, struct batch *b, const struct gw_request_rec *r)
{
    for (size_t i = 0; i < r->n_findings; i++) {
        const struct gw_finding_rec *f = &r->findings[i];
        bool seen = !f->title[0];
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(r->findings[j].rule, f->rule) == 0;
        if (seen || title_written(s, f->rule, f->title))
            continue;
        if (gw_grow(&b->t, &b->capt, b->nt, sizeof *b->t, 8) == -1)
            return -1;
        b->t[b->nt++] = f;
    }
    return 0;
}

static int by_rule(const void *x, const void *y)
{
    return strcmp((*(const struct gw_finding_rec *const *)x)->rule,
                  (*(const struct gw_finding_rec *const *)y)->rule);
}

/* Writes the batch's titles in the order of their rule ids. rule_title is the one table
 * gateways sharing a database write the same rows of: taking its rows in one order
 * everywhere, two batches wait for each other instead of deadlocking. */
static int flush_titles(struct gw_store *s, struct batch *b)
{
    if (b->nt > 1) /* qsort takes no NULL array, even empty */
        qsort(b->t, b->nt, sizeof *b->t, by_rule);
    for (size_t i = 0; i < b->nt; i++) {
        struct gw_db_stmt *st = s->st[ST_TITLE];
        gw_db_bind_text(st, 1, b->t[i]->rule);
        gw_db_bind_text(st, 2, b->t[i]->title);
        if (run(s, st) == -1)
            return -1;
    }
    return 0;
}

static int write_incidents(struct gw_store *s, const struct gw_request_rec *r, const char *tenant,
                           const char *model)
{
    struct gw_db_stmt *st = s->st[ST_INCIDENT];
    for (size_t i = 0; i < r->n_findings; i++) {
        const struct gw_finding_rec *f = &r->findings[i];
        char hash[17];
        snprintf(hash, sizeof hash, "%016" PRIx64, f->value_hash);
        gw_db_bind_int(st, 1, r->ts_ms);
        gw_db_bind_text(st, 2, s->instance);
        gw_db_bind_text(st, 3, r->request_id);
        gw_db_bind_text(st, 4, tenant);
        gw_db_bind_text(st, 5, model);
        gw_db_bind_text(st, 6, r->conversation);
        gw_db_bind_text(st, 7, dir_names[dir_index(f->direction)]);
        gw_db_bind_text(st, 8, gw_category_name(f->category));
        gw_db_bind_text(st, 9, f->rule);
        gw_db_bind_text(st, 10, gw_severity_name(f->severity));
        gw_db_bind_text(st, 11, gw_action_name(f->action));
        gw_db_bind_text(st, 12, f->excerpt);
        gw_db_bind_text(st, 13, hash);
        gw_db_bind_int(st, 14, (int64_t)f->value_length);
        gw_db_bind_int(st, 15, f->shadow);
        if (run(s, st) == -1)
            return -1;
    }
    return 0;
}

static int write_one(struct gw_store *s, struct batch *b, const struct gw_request_rec *r)
{
    int64_t minute = r->ts_ms >= 0 ? r->ts_ms / MINUTE_MS * MINUTE_MS
                                   : (r->ts_ms - MINUTE_MS + 1) / MINUTE_MS * MINUTE_MS;
    const char *tenant = cap_admit(&s->tenants, r->tenant[0] ? r->tenant : "-");
    const char *model = cap_admit(&s->models, r->model[0] ? r->model : "-");

    struct minute_agg *a = minute_slot(b, minute, tenant, model);
    if (!a)
        return -1;
    int i = 0;
    bool usage = r->prompt_tokens >= 0 || r->completion_tokens >= 0;
    a->v[i++] += 1;
    size_t acting = 0; /* findings that did something: a rule in shadow leaves it clean */
    for (size_t k = 0; k < r->n_findings; k++)
        acting += !r->findings[k].shadow;
    a->v[i++] += acting == 0 && r->findings_more == 0;
    a->v[i++] += r->conversation[0] == '\0';
    a->v[i++] += r->provider_called;
    a->v[i++] += r->status >= 500;
    for (int d = 0; d < DIR__COUNT; d++) {
        enum gw_action v = d == DIR_PROMPT ? r->prompt_verdict : r->reply_verdict;
        a->v[i++] += v == GW_ACTION_FLAG;
        a->v[i++] += v == GW_ACTION_REDACT;
        a->v[i++] += v == GW_ACTION_BLOCK;
    }
    a->v[i++] += r->prompt_tokens > 0 ? r->prompt_tokens : 0;
    a->v[i++] += r->completion_tokens > 0 ? r->completion_tokens : 0;
    a->v[i++] += usage;
    a->gateway_ms += r->gateway_ms > 0 ? r->gateway_ms : 0;
    a->provider_ms += r->provider_called && r->provider_ms > 0 ? r->provider_ms : 0;

    struct outcome cat[DIR__COUNT][GW_CAT__COUNT] = {{{0}}};
    add_values(cat, r);
    for (int d = 0; d < DIR__COUNT; d++)
        for (int c = 0; c < GW_CAT__COUNT; c++) {
            if (!cat[d][c].hit)
                continue;
            settle(&cat[d][c]);
            if (batch_outcome(b, minute, tenant, model, d, gw_category_name((enum gw_category)c),
                              NULL, &cat[d][c], false) == -1)
                return -1;
        }
    if (write_rules(b, r, minute, tenant, model) == -1 || write_titles(s, b, r) == -1)
        return -1;
    if (batch_latency(b, minute, tenant, model, HIST_GATEWAY, r->gateway_ms) == -1)
        return -1;
    if (r->provider_called &&
        batch_latency(b, minute, tenant, model, HIST_PROVIDER, r->provider_ms) == -1)
        return -1;
    if (r->conversation[0]) {
        struct gw_db_stmt *st = s->st[ST_CONV];
        bind_key(s, st, minute, tenant, model);
        gw_db_bind_text(st, 5, r->conversation);
        if (run(s, st) == -1)
            return -1;
    }
    if (write_signals(s, r, minute, tenant, model) == -1)
        return -1;
    return write_incidents(s, r, tenant, model);
}

static void batch_free(struct batch *b)
{
    free(b->m);
    free(b->l);
    free(b->o);
    free(b->t);
}

/* Claims batch id for this instance: 1 when it is newer than what its boot wrote (now
 * recorded, in the transaction that writes the batch), 0 when it was written before. */
static int claim_batch(struct gw_store *s, const struct gw_batch_id *id, int64_t now_ms)
{
    struct gw_db_stmt *st = s->st[ST_BATCH];
    gw_db_bind_text(st, 1, s->instance);
    gw_db_bind_text(st, 2, id->boot);
    gw_db_bind_int(st, 3, id->seq);
    gw_db_bind_int(st, 4, now_ms);
    if (run(s, st) == -1)
        return -1;
    return gw_db_changes(st) > 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int gw_store_write(struct gw_store *s, struct gw_request_rec *const *recs, size_t n,
                   const struct gw_batch_id *batch)
{
    if (s->readonly) {
        gw_store_fail(s, GW_STORE_FAILED, "the store is open readonly");
        return -1;
    }
    struct batch b = {0};
    if (gw_db_begin(s->db) == -1)
        return db_err(s);
    if (batch) {
        int fresh = claim_batch(s, batch, now_ms());
        if (fresh == -1)
            goto fail;
        if (fresh == 0) { /* written before: its COMMIT went through */
            gw_db_rollback(s->db);
            return 1;
        }
    }
    /* the rest goes without waiting for each answer: one round trip, not hundreds */
    if (gw_db_pipeline(s->db, true) == -1) {
        db_err(s);
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        if (recs[i] && write_one(s, &b, recs[i]) == -1)
            goto fail;
    if (flush_titles(s, &b) == -1 || flush_batch(s, &b) == -1)
        goto fail;
    if (gw_db_pipeline(s->db, false) == -1) {
        db_err(s);
        goto fail;
    }
    if (gw_db_commit(s->db) == -1) {
        db_err(s);
        goto fail;
    }
    batch_free(&b);
    return 0;
fail:
    gw_db_pipeline(s->db, false); /* the answers still coming are read and dropped */
    gw_db_rollback(s->db);
    cap_clear(&s->titles); /* what this batch wrote was not kept */
    batch_free(&b);
    return -1;
}

int gw_store_prune(struct gw_store *s, int64_t now)
{
    static const char *const tables[] = {"kpi_minute", "kpi_category", "kpi_rule", "kpi_latency",
                                         "kpi_conv",   "kpi_signal",   "kpi_shadow"};
    if (s->readonly) {
        gw_store_fail(s, GW_STORE_FAILED, "the store is open readonly");
        return -1;
    }
    char sql[128];
    if (gw_db_begin(s->db) == -1)
        return db_err(s);
    snprintf(sql, sizeof sql, "DELETE FROM kpi_batch WHERE ts_ms < %" PRId64,
             (int64_t)(now - BATCH_KEEP_MS));
    if (gw_db_exec(s->db, sql) == -1)
        goto fail;
    if (s->retention_days > 0) {
        int64_t cutoff = now - (int64_t)s->retention_days * DAY_MS;
        snprintf(sql, sizeof sql, "DELETE FROM incidents WHERE ts_ms < %" PRId64, cutoff);
        if (gw_db_exec(s->db, sql) == -1)
            goto fail;
        for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
            snprintf(sql, sizeof sql, "DELETE FROM %s WHERE minute_ms < %" PRId64, tables[i],
                     cutoff);
            if (gw_db_exec(s->db, sql) == -1)
                goto fail;
        }
    }
    if (gw_db_commit(s->db) == -1)
        goto fail;
    /* values whose last rows went make room under the caps */
    return cap_load(s, &s->tenants) == -1 || cap_load(s, &s->models) == -1 ? -1 : 0;
fail:
    db_err(s);
    gw_db_rollback(s->db);
    return -1;
}
