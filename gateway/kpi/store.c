/* The KPI store: SQLite tables, the batch writer, pruning, and the two readers.
 *
 * Tables (schema version 1; docs/kpis.md says what each KPI is made of):
 *   incidents     one row per finding, masked excerpt and keyed hash only
 *   kpi_minute    per (minute, tenant, model): requests, verdicts, tokens, latency sums
 *   kpi_category  per (minute, tenant, model, direction, category): requests by outcome
 *   kpi_rule      per (minute, tenant, model, direction, category, rule): the same per rule
 *   kpi_latency   per (minute, tenant, model, kind, bucket): histogram counts
 *   kpi_conv      per (minute, tenant, model, conversation): conversations seen
 *   kpi_signal    per (minute, tenant, model, rule, conversation): cx signals seen
 * Every rollup key starts with the minute, so a time range is one index range. */
#include "kpi/store.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "util/buf.h"

#define MINUTE_MS 60000LL
#define DAY_MS 86400000LL
#define MAX_SERIES 2000

enum { DIR_PROMPT, DIR_REPLY, DIR__COUNT };
enum { HIST_GATEWAY, HIST_PROVIDER, HIST__COUNT };
static const char *const dir_names[DIR__COUNT] = {"prompt", "reply"};

/* The writer's prepared statements, in the order of write_sql. */
enum {
    ST_INCIDENT,
    ST_MINUTE,
    ST_CATEGORY,
    ST_RULE,
    ST_LATENCY,
    ST_CONV,
    ST_SIGNAL,
    ST_TITLE,
    ST__COUNT
};

static const char *const write_sql[ST__COUNT] = {
    "INSERT INTO incidents(ts_ms, request_id, tenant, model, conversation, direction,"
    " category, rule, severity, action, excerpt, value_hash, value_length)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "INSERT INTO kpi_minute(minute_ms, tenant, model, requests, clean, lone, provider_calls,"
    " errors, prompt_flagged, prompt_redacted, prompt_blocked, reply_flagged, reply_redacted,"
    " reply_blocked, prompt_tokens, completion_tokens, usage_requests, gateway_ms_sum,"
    " provider_ms_sum) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT(minute_ms, tenant, model) DO UPDATE SET"
    " requests = requests + excluded.requests, clean = clean + excluded.clean,"
    " lone = lone + excluded.lone,"
    " provider_calls = provider_calls + excluded.provider_calls,"
    " errors = errors + excluded.errors,"
    " prompt_flagged = prompt_flagged + excluded.prompt_flagged,"
    " prompt_redacted = prompt_redacted + excluded.prompt_redacted,"
    " prompt_blocked = prompt_blocked + excluded.prompt_blocked,"
    " reply_flagged = reply_flagged + excluded.reply_flagged,"
    " reply_redacted = reply_redacted + excluded.reply_redacted,"
    " reply_blocked = reply_blocked + excluded.reply_blocked,"
    " prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
    " completion_tokens = completion_tokens + excluded.completion_tokens,"
    " usage_requests = usage_requests + excluded.usage_requests,"
    " gateway_ms_sum = gateway_ms_sum + excluded.gateway_ms_sum,"
    " provider_ms_sum = provider_ms_sum + excluded.provider_ms_sum",
    "INSERT INTO kpi_category(minute_ms, tenant, model, direction, category, requests,"
    " blocked, redacted, flagged, findings, kept) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT(minute_ms, tenant, model, direction, category) DO UPDATE SET"
    " requests = requests + excluded.requests, blocked = blocked + excluded.blocked,"
    " redacted = redacted + excluded.redacted, flagged = flagged + excluded.flagged,"
    " findings = findings + excluded.findings, kept = kept + excluded.kept",
    "INSERT INTO kpi_rule(minute_ms, tenant, model, direction, category, rule, requests,"
    " blocked, redacted, flagged, findings, kept) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT(minute_ms, tenant, model, direction, category, rule) DO UPDATE SET"
    " requests = requests + excluded.requests, blocked = blocked + excluded.blocked,"
    " redacted = redacted + excluded.redacted, flagged = flagged + excluded.flagged,"
    " findings = findings + excluded.findings, kept = kept + excluded.kept",
    "INSERT INTO kpi_latency(minute_ms, tenant, model, kind, bucket, count)"
    " VALUES (?,?,?,?,?,?)"
    " ON CONFLICT(minute_ms, tenant, model, kind, bucket) DO UPDATE SET"
    " count = count + excluded.count",
    "INSERT OR IGNORE INTO kpi_conv(minute_ms, tenant, model, conversation) VALUES (?,?,?,?)",
    "INSERT OR IGNORE INTO kpi_signal(minute_ms, tenant, model, rule, conversation)"
    " VALUES (?,?,?,?,?)",
    "INSERT INTO rule_title(rule, title) VALUES (?,?)"
    " ON CONFLICT(rule) DO UPDATE SET title = excluded.title WHERE title != excluded.title",
};

/* Migrations: migrations[i] takes the schema from version i to i + 1. Append only. */
static const char *const migrations[] = {
    "CREATE TABLE incidents ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  ts_ms INTEGER NOT NULL, request_id TEXT NOT NULL, tenant TEXT NOT NULL,"
    "  model TEXT NOT NULL, conversation TEXT NOT NULL, direction TEXT NOT NULL,"
    "  category TEXT NOT NULL, rule TEXT NOT NULL, severity TEXT NOT NULL,"
    "  action TEXT NOT NULL, excerpt TEXT NOT NULL, value_hash TEXT NOT NULL,"
    "  value_length INTEGER NOT NULL);"
    "CREATE INDEX incidents_ts ON incidents(ts_ms);"
    "CREATE INDEX incidents_tenant_ts ON incidents(tenant, ts_ms);"
    "CREATE INDEX incidents_category_ts ON incidents(category, ts_ms);"
    "CREATE TABLE kpi_minute ("
    "  minute_ms INTEGER NOT NULL, tenant TEXT NOT NULL, model TEXT NOT NULL,"
    "  requests INTEGER NOT NULL DEFAULT 0, clean INTEGER NOT NULL DEFAULT 0,"
    "  lone INTEGER NOT NULL DEFAULT 0, provider_calls INTEGER NOT NULL DEFAULT 0,"
    "  errors INTEGER NOT NULL DEFAULT 0,"
    "  prompt_flagged INTEGER NOT NULL DEFAULT 0, prompt_redacted INTEGER NOT NULL DEFAULT 0,"
    "  prompt_blocked INTEGER NOT NULL DEFAULT 0,"
    "  reply_flagged INTEGER NOT NULL DEFAULT 0, reply_redacted INTEGER NOT NULL DEFAULT 0,"
    "  reply_blocked INTEGER NOT NULL DEFAULT 0,"
    "  prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,"
    "  usage_requests INTEGER NOT NULL DEFAULT 0,"
    "  gateway_ms_sum REAL NOT NULL DEFAULT 0, provider_ms_sum REAL NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (minute_ms, tenant, model)) WITHOUT ROWID;"
    "CREATE TABLE kpi_category ("
    "  minute_ms INTEGER NOT NULL, tenant TEXT NOT NULL, model TEXT NOT NULL,"
    "  direction TEXT NOT NULL, category TEXT NOT NULL,"
    "  requests INTEGER NOT NULL, blocked INTEGER NOT NULL, redacted INTEGER NOT NULL,"
    "  flagged INTEGER NOT NULL, findings INTEGER NOT NULL, kept INTEGER NOT NULL,"
    "  PRIMARY KEY (minute_ms, tenant, model, direction, category)) WITHOUT ROWID;"
    "CREATE TABLE kpi_rule ("
    "  minute_ms INTEGER NOT NULL, tenant TEXT NOT NULL, model TEXT NOT NULL,"
    "  direction TEXT NOT NULL, category TEXT NOT NULL, rule TEXT NOT NULL,"
    "  requests INTEGER NOT NULL, blocked INTEGER NOT NULL, redacted INTEGER NOT NULL,"
    "  flagged INTEGER NOT NULL, findings INTEGER NOT NULL, kept INTEGER NOT NULL,"
    "  PRIMARY KEY (minute_ms, tenant, model, direction, category, rule)) WITHOUT ROWID;"
    "CREATE TABLE kpi_latency ("
    "  minute_ms INTEGER NOT NULL, tenant TEXT NOT NULL, model TEXT NOT NULL,"
    "  kind INTEGER NOT NULL, bucket INTEGER NOT NULL, count INTEGER NOT NULL,"
    "  PRIMARY KEY (minute_ms, tenant, model, kind, bucket)) WITHOUT ROWID;"
    "CREATE TABLE kpi_conv ("
    "  minute_ms INTEGER NOT NULL, tenant TEXT NOT NULL, model TEXT NOT NULL,"
    "  conversation TEXT NOT NULL,"
    "  PRIMARY KEY (minute_ms, tenant, model, conversation)) WITHOUT ROWID;"
    "CREATE TABLE kpi_signal ("
    "  minute_ms INTEGER NOT NULL, tenant TEXT NOT NULL, model TEXT NOT NULL,"
    "  rule TEXT NOT NULL, conversation TEXT NOT NULL,"
    "  PRIMARY KEY (minute_ms, tenant, model, rule, conversation)) WITHOUT ROWID;",
    /* 1 -> 2: a rule's plain name, as its pack last gave it (not per minute: a name is
     * not a figure, and the latest one is the one to show) */
    "CREATE TABLE rule_title (rule TEXT PRIMARY KEY, title TEXT NOT NULL) WITHOUT ROWID;",
};
_Static_assert(sizeof migrations / sizeof migrations[0] == GW_STORE_SCHEMA_VERSION,
               "one migration per schema version");

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
    sqlite3 *db;
    bool readonly;
    int retention_days;
    sqlite3_stmt *st[ST__COUNT]; /* writer only */
    struct label_cap tenants, models; /* writer only */
    char err[256];
    enum gw_store_err err_kind; /* of the last error */
};

static void set_err_v(struct gw_store *s, enum gw_store_err kind, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void set_err_v(struct gw_store *s, enum gw_store_err kind, const char *fmt, va_list ap)
{
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    s->err_kind = kind;
}

static void set_err(struct gw_store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct gw_store *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_err_v(s, GW_STORE_FAILED, fmt, ap);
    va_end(ap);
}

/* An error in what was asked (a range, a step), not in the store. */
static void set_bad(struct gw_store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_bad(struct gw_store *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_err_v(s, GW_STORE_BAD_REQUEST, fmt, ap);
    va_end(ap);
}

static void copy_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

const char *gw_store_error(const struct gw_store *s)
{
    return s ? s->err : "no store";
}

enum gw_store_err gw_store_error_kind(const struct gw_store *s)
{
    return s ? s->err_kind : GW_STORE_FAILED;
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

/* Nearest-rank percentile q (0..1) of a histogram with total n; -1 when empty. */
static double hist_percentile(const int64_t *h, int64_t n, double q)
{
    if (n <= 0)
        return -1;
    int64_t rank = (int64_t)ceil(q * (double)n);
    if (rank < 1)
        rank = 1;
    int64_t seen = 0;
    for (int b = 0; b < GW_STORE_HIST_BUCKETS; b++) {
        seen += h[b];
        if (seen >= rank)
            return gw_store_hist_value(b);
    }
    return gw_store_hist_value(GW_STORE_HIST_BUCKETS - 1);
}

static double round_to(double v, double unit)
{
    return round(v / unit) * unit;
}

void gw_store_format_time(int64_t ms, char *out, size_t outlen)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- open, migrate, close ---- */

static int exec(struct gw_store *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        set_err(s, "%s", msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int user_version(struct gw_store *s, int *out)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        set_err(s, "%s", sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        return -1;
    }
    *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
}

/* Brings the schema to GW_STORE_SCHEMA_VERSION in one transaction. */
static int migrate(struct gw_store *s)
{
    int v;
    char sql[64];
    if (exec(s, "BEGIN IMMEDIATE") == -1)
        return -1;
    if (user_version(s, &v) == -1)
        goto fail;
    if (v > GW_STORE_SCHEMA_VERSION) {
        set_err(s, "database schema version %d is newer than this build's (%d)", v,
                GW_STORE_SCHEMA_VERSION);
        goto fail;
    }
    for (; v < GW_STORE_SCHEMA_VERSION; v++)
        if (exec(s, migrations[v]) == -1)
            goto fail;
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", GW_STORE_SCHEMA_VERSION);
    if (exec(s, sql) == -1 || exec(s, "COMMIT") == -1)
        goto fail;
    return 0;
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

struct gw_store *gw_store_open(const char *path, bool readonly, int retention_days, char *err,
                               size_t errlen)
{
    struct gw_store *s = calloc(1, sizeof *s);
    if (!s) {
        copy_err(err, errlen, "out of memory");
        return NULL;
    }
    s->readonly = readonly;
    s->retention_days = retention_days;
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        set_err(s, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if (readonly) {
        int v;
        if (user_version(s, &v) == -1)
            goto fail;
        if (v != GW_STORE_SCHEMA_VERSION) {
            if (v == 0)
                set_err(s, "%s: not a guardrail KPI database (no schema)", path);
            else
                set_err(s,
                        "%s: schema version %d, this build reads %d (open it for writing "
                        "once to migrate)",
                        path, v, GW_STORE_SCHEMA_VERSION);
            goto fail;
        }
        return s;
    }
    if (exec(s, "PRAGMA journal_mode = WAL") == -1 || exec(s, "PRAGMA synchronous = NORMAL") == -1)
        goto fail;
    if (migrate(s) == -1)
        goto fail;
    for (int i = 0; i < ST__COUNT; i++)
        if (sqlite3_prepare_v3(s->db, write_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            set_err(s, "%s", sqlite3_errmsg(s->db));
            goto fail;
        }
    return s;
fail:
    copy_err(err, errlen, s->err);
    gw_store_close(s);
    return NULL;
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
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        set_err(s, "%s", sqlite3_errmsg(s->db));
        return -1;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        /* "other" is not a value of its own: it takes no place */
        if (v && strcmp(v, "other") != 0 && cap_add(c, v) == -1) {
            sqlite3_finalize(st);
            set_err(s, "out of memory");
            return -1;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        set_err(s, "%s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

int gw_store_limit(struct gw_store *s, int max_tenants, int max_models)
{
    if (s->readonly) {
        set_err(s, "the store is open readonly");
        return -1;
    }
    s->tenants.col = "tenant";
    s->tenants.max = max_tenants;
    s->models.col = "model";
    s->models.max = max_models;
    return cap_load(s, &s->tenants) == -1 || cap_load(s, &s->models) == -1 ? -1 : 0;
}

void gw_store_close(struct gw_store *s)
{
    if (!s)
        return;
    cap_clear(&s->tenants);
    free(s->tenants.names);
    cap_clear(&s->models);
    free(s->models.names);
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    free(s);
}

/* ---- writing ---- */

/* What one request did in one direction for one category or one rule. */
struct outcome {
    bool hit;
    int blocked, redacted, flagged; /* exactly one is 1 when hit */
    int64_t findings, kept;
};

static int step_reset(struct gw_store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        set_err(s, "%s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

static void bind_key(sqlite3_stmt *st, int64_t minute, const char *tenant, const char *model)
{
    sqlite3_bind_int64(st, 1, minute);
    sqlite3_bind_text(st, 2, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, model, -1, SQLITE_STATIC);
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
    return a->direction == b->direction && a->category == b->category && a->text == b->text &&
           a->start < a->end && b->start < b->end && a->start < b->end && b->start < a->end;
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
    size_t up[GW_REC_FINDINGS_MAX];
    bool any_kept[GW_REC_FINDINGS_MAX];
    size_t n = r->n_findings < GW_REC_FINDINGS_MAX ? r->n_findings : GW_REC_FINDINGS_MAX;
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
        if ((unsigned)f->category >= GW_CAT__COUNT)
            continue;
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
    int64_t requests, blocked, redacted, flagged, findings, kept;
};
struct batch {
    struct minute_agg *m;
    size_t nm, capm;
    struct latency_agg *l;
    size_t nl, capl;
    struct outcome_agg *o;
    size_t no, capo;
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
                         const struct outcome *o)
{
    struct outcome_agg *a = NULL;
    for (size_t i = 0; i < b->no && !a; i++) {
        struct outcome_agg *x = &b->o[i];
        if (x->dir == dir && strcmp(x->category, category) == 0 &&
            (x->rule == rule || (x->rule && rule && strcmp(x->rule, rule) == 0)) &&
            same_key(x->minute, x->tenant, x->model, minute, tenant, model))
            a = x;
    }
    if (!a) {
        if (gw_grow(&b->o, &b->capo, b->no, sizeof *b->o, 8) == -1)
            return -1;
        a = &b->o[b->no++];
        *a = (struct outcome_agg){.minute = minute, .tenant = tenant, .model = model,
                                  .category = category, .rule = rule, .dir = dir};
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
        sqlite3_stmt *st = s->st[a->rule ? ST_RULE : ST_CATEGORY];
        int k = 4;
        bind_key(st, a->minute, a->tenant, a->model);
        sqlite3_bind_text(st, k++, dir_names[a->dir], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, k++, a->category, -1, SQLITE_STATIC);
        if (a->rule)
            sqlite3_bind_text(st, k++, a->rule, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, k++, a->requests);
        sqlite3_bind_int64(st, k++, a->blocked);
        sqlite3_bind_int64(st, k++, a->redacted);
        sqlite3_bind_int64(st, k++, a->flagged);
        sqlite3_bind_int64(st, k++, a->findings);
        sqlite3_bind_int64(st, k++, a->kept);
        if (step_reset(s, st) == -1)
            return -1;
    }
    sqlite3_stmt *st = s->st[ST_MINUTE];
    for (size_t i = 0; i < b->nm; i++) {
        const struct minute_agg *a = &b->m[i];
        bind_key(st, a->minute, a->tenant, a->model);
        for (int k = 0; k < MINUTE_INTS; k++)
            sqlite3_bind_int64(st, 4 + k, a->v[k]);
        sqlite3_bind_double(st, 4 + MINUTE_INTS, a->gateway_ms);
        sqlite3_bind_double(st, 5 + MINUTE_INTS, a->provider_ms);
        if (step_reset(s, st) == -1)
            return -1;
    }
    st = s->st[ST_LATENCY];
    for (size_t i = 0; i < b->nl; i++) {
        const struct latency_agg *a = &b->l[i];
        bind_key(st, a->minute, a->tenant, a->model);
        sqlite3_bind_int(st, 4, a->kind);
        sqlite3_bind_int(st, 5, a->bucket);
        sqlite3_bind_int64(st, 6, a->count);
        if (step_reset(s, st) == -1)
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
        for (size_t j = i; j < r->n_findings; j++)
            if (r->findings[j].direction == f->direction &&
                strcmp(r->findings[j].rule, f->rule) == 0)
                add_finding(&o, &r->findings[j], v);
        settle(&o);
        if (batch_outcome(b, minute, tenant, model, dir_index(f->direction),
                          gw_category_name(f->category), f->rule, &o) == -1)
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
        if (r->findings[i].category != GW_CAT_CX)
            continue;
        sqlite3_stmt *st = s->st[ST_SIGNAL];
        bind_key(st, minute, tenant, model);
        sqlite3_bind_text(st, 4, r->findings[i].rule, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, conv, -1, SQLITE_STATIC);
        if (step_reset(s, st) == -1)
            return -1;
    }
    return 0;
}

/* Keeps the plain name of each rule that fired and has one, for the readers. */
static int write_titles(struct gw_store *s, const struct gw_request_rec *r)
{
    for (size_t i = 0; i < r->n_findings; i++) {
        const struct gw_finding_rec *f = &r->findings[i];
        bool seen = !f->title[0];
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(r->findings[j].rule, f->rule) == 0;
        if (seen)
            continue;
        sqlite3_stmt *st = s->st[ST_TITLE];
        sqlite3_bind_text(st, 1, f->rule, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, f->title, -1, SQLITE_STATIC);
        if (step_reset(s, st) == -1)
            return -1;
    }
    return 0;
}

static int write_incidents(struct gw_store *s, const struct gw_request_rec *r, const char *tenant,
                           const char *model)
{
    sqlite3_stmt *st = s->st[ST_INCIDENT];
    for (size_t i = 0; i < r->n_findings; i++) {
        const struct gw_finding_rec *f = &r->findings[i];
        char hash[17];
        snprintf(hash, sizeof hash, "%016" PRIx64, f->value_hash);
        sqlite3_bind_int64(st, 1, r->ts_ms);
        sqlite3_bind_text(st, 2, r->request_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, model, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, r->conversation, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, dir_names[dir_index(f->direction)], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, gw_category_name(f->category), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, f->rule, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 9, gw_severity_name(f->severity), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 10, gw_action_name(f->action), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 11, f->excerpt, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 12, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 13, (int64_t)f->value_length);
        if (step_reset(s, st) == -1)
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
    a->v[i++] += r->n_findings == 0;
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
                              NULL, &cat[d][c]) == -1)
                return -1;
        }
    if (write_rules(b, r, minute, tenant, model) == -1 || write_titles(s, r) == -1)
        return -1;
    if (batch_latency(b, minute, tenant, model, HIST_GATEWAY, r->gateway_ms) == -1)
        return -1;
    if (r->provider_called &&
        batch_latency(b, minute, tenant, model, HIST_PROVIDER, r->provider_ms) == -1)
        return -1;
    if (r->conversation[0]) {
        sqlite3_stmt *st = s->st[ST_CONV];
        bind_key(st, minute, tenant, model);
        sqlite3_bind_text(st, 4, r->conversation, -1, SQLITE_STATIC);
        if (step_reset(s, st) == -1)
            return -1;
    }
    if (write_signals(s, r, minute, tenant, model) == -1)
        return -1;
    return write_incidents(s, r, tenant, model);
}

int gw_store_write(struct gw_store *s, struct gw_request_rec *const *recs, size_t n)
{
    if (s->readonly) {
        set_err(s, "the store is open readonly");
        return -1;
    }
    struct batch b = {0};
    if (exec(s, "BEGIN IMMEDIATE") == -1)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (recs[i] && write_one(s, &b, recs[i]) == -1)
            goto fail;
    if (flush_batch(s, &b) == -1 || exec(s, "COMMIT") == -1)
        goto fail;
    free(b.m);
    free(b.l);
    free(b.o);
    return 0;
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    free(b.m);
    free(b.l);
    free(b.o);
    return -1;
}

int gw_store_prune(struct gw_store *s, int64_t now_ms)
{
    static const char *const tables[] = {"kpi_minute",  "kpi_category", "kpi_rule",
                                         "kpi_latency", "kpi_conv",     "kpi_signal"};
    if (s->readonly) {
        set_err(s, "the store is open readonly");
        return -1;
    }
    if (s->retention_days <= 0)
        return 0;
    int64_t cutoff = now_ms - (int64_t)s->retention_days * DAY_MS;
    char sql[128];
    if (exec(s, "BEGIN IMMEDIATE") == -1)
        return -1;
    snprintf(sql, sizeof sql, "DELETE FROM incidents WHERE ts_ms < %" PRId64, cutoff);
    if (exec(s, sql) == -1)
        goto fail;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        snprintf(sql, sizeof sql, "DELETE FROM %s WHERE minute_ms < %" PRId64, tables[i], cutoff);
        if (exec(s, sql) == -1)
            goto fail;
    }
    if (exec(s, "COMMIT") == -1) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    /* values whose last rows went make room under the caps */
    return cap_load(s, &s->tenants) == -1 || cap_load(s, &s->models) == -1 ? -1 : 0;
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* ---- reading ---- */

/* Every reader query takes ?1 from, ?2 to, ?3 tenant (NULL: all), ?4 model (NULL: all),
 * and, for series, ?5 step. */
#define RANGE_WHERE                                                                                \
    " WHERE minute_ms >= ?1 AND minute_ms < ?2 AND (?3 IS NULL OR tenant = ?3)"                    \
    " AND (?4 IS NULL OR model = ?4)"

struct q {
    int64_t from, to, step;
    const char *tenant, *model;
};

static sqlite3_stmt *prepare(struct gw_store *s, const char *sql, const struct q *q)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        set_err(s, "%s", sqlite3_errmsg(s->db));
        return NULL;
    }
    sqlite3_bind_int64(st, 1, q->from);
    sqlite3_bind_int64(st, 2, q->to);
    if (q->tenant)
        sqlite3_bind_text(st, 3, q->tenant, -1, SQLITE_STATIC);
    if (q->model)
        sqlite3_bind_text(st, 4, q->model, -1, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= 5)
        sqlite3_bind_int64(st, 5, q->step);
    return st;
}

/* Finishes a query loop: -1 unless the last step was SQLITE_DONE. */
static int finish(struct gw_store *s, sqlite3_stmt *st, int rc)
{
    if (rc != SQLITE_DONE)
        set_err(s, "%s", sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

struct cat_totals {
    int64_t requests, blocked, redacted, flagged, findings, kept;
};

/* The KPIs of one range, as numbers, before they become JSON. */
struct totals {
    int64_t requests, clean, lone, provider_calls, errors, conversations;
    int64_t verdict[DIR__COUNT][4]; /* by enum gw_action; [ALLOW] unused */
    int64_t prompt_tokens, completion_tokens, usage_requests;
    double gateway_ms_sum, provider_ms_sum;
    struct cat_totals cat[DIR__COUNT][GW_CAT__COUNT];
    int64_t hist[HIST__COUNT][GW_STORE_HIST_BUCKETS];
    int64_t hist_n[HIST__COUNT];
    cJSON *rules;                 /* array, every rule that fired, most requests first */
    cJSON *signals;               /* array of cx signals */
    int64_t signal_conversations; /* distinct conversations with any cx signal */
};

static int cat_index(const char *name)
{
    for (int c = 0; c < GW_CAT__COUNT; c++)
        if (strcmp(name, gw_category_name((enum gw_category)c)) == 0)
            return c;
    return -1;
}

static int dir_of(const char *name)
{
    return strcmp(name, "reply") == 0 ? DIR_REPLY : DIR_PROMPT;
}

static const char *text_col(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

/* A plain-words name of a cx rule: the known ones, else the id after "cx.". */
static void cx_label(const char *rule, char *out, size_t outlen)
{
    static const struct {
        const char *id, *label;
    } known[] = {{"cx.frustration", "frustration"},
                 {"cx.human", "asking for a human"},
                 {"cx.cancel", "intent to cancel"},
                 {"cx.praise", "praise"}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(rule, known[i].id) == 0) {
            snprintf(out, outlen, "%s", known[i].label);
            return;
        }
    snprintf(out, outlen, "%s", strncmp(rule, "cx.", 3) == 0 ? rule + 3 : rule);
    for (char *p = out; *p; p++)
        if (*p == '_' || *p == '.' || *p == '-')
            *p = ' ';
}

static int load_totals(struct gw_store *s, const struct q *q, struct totals *t)
{
    sqlite3_stmt *st;
    int rc;

    st = prepare(s,
                 "SELECT total(requests), total(clean), total(lone), total(provider_calls),"
                 " total(errors), total(prompt_flagged), total(prompt_redacted),"
                 " total(prompt_blocked), total(reply_flagged), total(reply_redacted),"
                 " total(reply_blocked), total(prompt_tokens), total(completion_tokens),"
                 " total(usage_requests), total(gateway_ms_sum), total(provider_ms_sum)"
                 " FROM kpi_minute" RANGE_WHERE,
                 q);
    if (!st)
        return -1;
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int i = 0;
        t->requests = sqlite3_column_int64(st, i++);
        t->clean = sqlite3_column_int64(st, i++);
        t->lone = sqlite3_column_int64(st, i++);
        t->provider_calls = sqlite3_column_int64(st, i++);
        t->errors = sqlite3_column_int64(st, i++);
        for (int d = 0; d < DIR__COUNT; d++)
            for (int a = GW_ACTION_FLAG; a <= GW_ACTION_BLOCK; a++)
                t->verdict[d][a] = sqlite3_column_int64(st, i++);
        t->prompt_tokens = sqlite3_column_int64(st, i++);
        t->completion_tokens = sqlite3_column_int64(st, i++);
        t->usage_requests = sqlite3_column_int64(st, i++);
        t->gateway_ms_sum = sqlite3_column_double(st, i++);
        t->provider_ms_sum = sqlite3_column_double(st, i++);
        rc = SQLITE_DONE;
    }
    if (finish(s, st, rc) == -1)
        return -1;

    /* a conversation is its tenant and id: the same id under two tenants is two */
    st = prepare(
        s,
        "SELECT count(*) FROM (SELECT DISTINCT tenant, conversation FROM kpi_conv" RANGE_WHERE ")",
        q);
    if (!st)
        return -1;
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        t->conversations = sqlite3_column_int64(st, 0) + t->lone;
        rc = SQLITE_DONE;
    }
    if (finish(s, st, rc) == -1)
        return -1;

    st = prepare(s,
                 "SELECT direction, category, sum(requests), sum(blocked), sum(redacted),"
                 " sum(flagged), sum(findings), sum(kept) FROM kpi_category" RANGE_WHERE
                 " GROUP BY direction, category",
                 q);
    if (!st)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int c = cat_index(text_col(st, 1));
        if (c < 0)
            continue;
        struct cat_totals *ct = &t->cat[dir_of(text_col(st, 0))][c];
        ct->requests = sqlite3_column_int64(st, 2);
        ct->blocked = sqlite3_column_int64(st, 3);
        ct->redacted = sqlite3_column_int64(st, 4);
        ct->flagged = sqlite3_column_int64(st, 5);
        ct->findings = sqlite3_column_int64(st, 6);
        ct->kept = sqlite3_column_int64(st, 7);
    }
    if (finish(s, st, rc) == -1)
        return -1;

    st = prepare(
        s, "SELECT kind, bucket, sum(count) FROM kpi_latency" RANGE_WHERE " GROUP BY kind, bucket",
        q);
    if (!st)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int k = sqlite3_column_int(st, 0), b = sqlite3_column_int(st, 1);
        if (k < 0 || k >= HIST__COUNT || b < 0 || b >= GW_STORE_HIST_BUCKETS)
            continue;
        t->hist[k][b] += sqlite3_column_int64(st, 2);
        t->hist_n[k] += sqlite3_column_int64(st, 2);
    }
    if (finish(s, st, rc) == -1)
        return -1;

    t->rules = cJSON_CreateArray();
    st = prepare(s,
                 "SELECT g.*, t.title FROM (SELECT direction, category, rule, sum(requests) AS n,"
                 " sum(blocked), sum(redacted), sum(flagged), sum(findings), sum(kept)"
                 " FROM kpi_rule" RANGE_WHERE " GROUP BY direction, category, rule) AS g"
                 " LEFT JOIN rule_title AS t ON t.rule = g.rule"
                 " ORDER BY g.n DESC, g.rule, g.direction",
                 q);
    if (!st || !t->rules)
        return sqlite3_finalize(st), -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return sqlite3_finalize(st), -1;
        cJSON_AddItemToArray(t->rules, o);
        cJSON_AddStringToObject(o, "rule", text_col(st, 2));
        if (sqlite3_column_type(st, 9) == SQLITE_TEXT) /* the pack's plain name, if any */
            cJSON_AddStringToObject(o, "title", text_col(st, 9));
        else
            cJSON_AddNullToObject(o, "title");
        cJSON_AddStringToObject(o, "category", text_col(st, 1));
        cJSON_AddStringToObject(o, "direction", text_col(st, 0));
        static const char *const cols[] = {"requests", "blocked",  "redacted",
                                           "flagged",  "findings", "kept"};
        for (int i = 0; i < 6; i++)
            cJSON_AddNumberToObject(o, cols[i], (double)sqlite3_column_int64(st, 3 + i));
    }
    if (finish(s, st, rc) == -1)
        return -1;

    t->signals = cJSON_CreateArray();
    st = prepare(s,
                 "SELECT rule, count(*) AS n FROM (SELECT DISTINCT rule, tenant, conversation"
                 " FROM kpi_signal" RANGE_WHERE ") GROUP BY rule ORDER BY n DESC, rule",
                 q);
    if (!st || !t->signals)
        return sqlite3_finalize(st), -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return sqlite3_finalize(st), -1;
        cJSON_AddItemToArray(t->signals, o);
        char label[96];
        int64_t n = sqlite3_column_int64(st, 1);
        cx_label(text_col(st, 0), label, sizeof label);
        cJSON_AddStringToObject(o, "rule", text_col(st, 0));
        cJSON_AddStringToObject(o, "label", label);
        cJSON_AddNumberToObject(o, "conversations", (double)n);
        cJSON_AddNumberToObject(
            o, "per_1000",
            t->conversations ? round_to(1000.0 * (double)n / (double)t->conversations, 0.1) : 0);
    }
    if (finish(s, st, rc) == -1)
        return -1;

    /* a conversation with two different signals counts once here */
    st = prepare(
        s,
        "SELECT count(*) FROM (SELECT DISTINCT tenant, conversation FROM kpi_signal" RANGE_WHERE
        ")",
        q);
    if (!st)
        return -1;
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        t->signal_conversations = sqlite3_column_int64(st, 0);
        rc = SQLITE_DONE;
    }
    return finish(s, st, rc);
}

static void totals_release(struct totals *t)
{
    cJSON_Delete(t->rules);
    cJSON_Delete(t->signals);
    t->rules = t->signals = NULL;
}

static cJSON *add_obj(cJSON *parent, const char *name)
{
    cJSON *o = cJSON_CreateObject();
    if (o && !cJSON_AddItemToObject(parent, name, o)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static void add_num(cJSON *o, const char *name, double v)
{
    cJSON_AddNumberToObject(o, name, v);
}

static int64_t prevented(const struct totals *t, int c)
{
    int64_t n = 0;
    for (int d = 0; d < DIR__COUNT; d++)
        n += t->cat[d][c].blocked + t->cat[d][c].redacted;
    return n;
}

static double clean_rate(const struct totals *t)
{
    return t->requests ? round_to((double)t->clean / (double)t->requests, 0.0001) : 0;
}

static void add_latency(cJSON *o, const struct totals *t, int kind, double sum)
{
    static const struct {
        const char *name;
        double q;
    } qs[] = {{"p50", 0.50}, {"p95", 0.95}, {"p99", 0.99}};
    add_num(o, "count", (double)t->hist_n[kind]);
    for (size_t i = 0; i < 3; i++) {
        double v = hist_percentile(t->hist[kind], t->hist_n[kind], qs[i].q);
        if (v < 0)
            cJSON_AddNullToObject(o, qs[i].name);
        else
            add_num(o, qs[i].name, round_to(v, 0.001));
    }
    if (t->hist_n[kind])
        add_num(o, "mean", round_to(sum / (double)t->hist_n[kind], 0.001));
    else
        cJSON_AddNullToObject(o, "mean");
}

/* The KPI block of one range (docs/kpis.md, "The KPI block"). Moves rules and signals
 * out of t. */
static cJSON *totals_json(struct totals *t)
{
    cJSON *o = cJSON_CreateObject(), *x, *y;
    if (!o)
        return NULL;
    add_num(o, "requests", (double)t->requests);
    add_num(o, "conversations", (double)t->conversations);
    add_num(o, "clean", (double)t->clean);
    add_num(o, "clean_rate", clean_rate(t));
    add_num(o, "provider_calls", (double)t->provider_calls);
    add_num(o, "errors", (double)t->errors);
    for (int d = 0; d < DIR__COUNT; d++) {
        if (!(x = add_obj(o, d == DIR_PROMPT ? "prompts" : "replies")))
            goto fail;
        add_num(x, "blocked", (double)t->verdict[d][GW_ACTION_BLOCK]);
        add_num(x, "redacted", (double)t->verdict[d][GW_ACTION_REDACT]);
        add_num(x, "flagged", (double)t->verdict[d][GW_ACTION_FLAG]);
    }
    if (!(x = add_obj(o, "prevented")))
        goto fail;
    add_num(x, "total",
            (double)(t->verdict[DIR_PROMPT][GW_ACTION_BLOCK] +
                     t->verdict[DIR_PROMPT][GW_ACTION_REDACT] +
                     t->verdict[DIR_REPLY][GW_ACTION_BLOCK] +
                     t->verdict[DIR_REPLY][GW_ACTION_REDACT]));
    if (!(y = add_obj(x, "by_category")))
        goto fail;
    for (int c = 0; c < GW_CAT__COUNT; c++)
        add_num(y, gw_category_name((enum gw_category)c), (double)prevented(t, c));
    if (!(x = add_obj(o, "categories")))
        goto fail;
    for (int c = 0; c < GW_CAT__COUNT; c++) {
        if (!(y = add_obj(x, gw_category_name((enum gw_category)c))))
            goto fail;
        for (int d = 0; d < DIR__COUNT; d++) {
            cJSON *z = add_obj(y, dir_names[d]);
            const struct cat_totals *ct = &t->cat[d][c];
            if (!z)
                goto fail;
            add_num(z, "requests", (double)ct->requests);
            add_num(z, "blocked", (double)ct->blocked);
            add_num(z, "redacted", (double)ct->redacted);
            add_num(z, "flagged", (double)ct->flagged);
            add_num(z, "findings", (double)ct->findings);
            add_num(z, "kept", (double)ct->kept);
        }
    }
    if (!(x = add_obj(o, "kept_from_provider")))
        goto fail;
    add_num(x, "pii", (double)t->cat[DIR_PROMPT][GW_CAT_PII].kept);
    add_num(x, "secret", (double)t->cat[DIR_PROMPT][GW_CAT_SECRET].kept);
    if (!(x = add_obj(o, "kept_from_customer")))
        goto fail;
    add_num(x, "pii", (double)t->cat[DIR_REPLY][GW_CAT_PII].kept);
    add_num(x, "secret", (double)t->cat[DIR_REPLY][GW_CAT_SECRET].kept);
    if (!(x = add_obj(o, "cx")))
        goto fail;
    add_num(x, "conversations_with_signal", (double)t->signal_conversations);
    cJSON_AddItemToObject(x, "signals", t->signals);
    t->signals = NULL;
    if (!(x = add_obj(o, "latency_ms")) || !(y = add_obj(x, "gateway")))
        goto fail;
    add_latency(y, t, HIST_GATEWAY, t->gateway_ms_sum);
    if (!(y = add_obj(x, "provider")))
        goto fail;
    add_latency(y, t, HIST_PROVIDER, t->provider_ms_sum);
    if (!(x = add_obj(o, "tokens")))
        goto fail;
    add_num(x, "prompt", (double)t->prompt_tokens);
    add_num(x, "completion", (double)t->completion_tokens);
    add_num(x, "requests_with_usage", (double)t->usage_requests);
    /* top rules: the ten that acted on most requests, cx signals aside */
    if (!(x = cJSON_AddArrayToObject(o, "top_rules")))
        goto fail;
    cJSON *r;
    cJSON_ArrayForEach(r, t->rules)
    {
        if (cJSON_GetArraySize(x) >= 10)
            break;
        const char *cat = cJSON_GetStringValue(cJSON_GetObjectItem(r, "category"));
        if (cat && strcmp(cat, "cx") != 0)
            cJSON_AddItemToArray(x, cJSON_Duplicate(r, true));
    }
    cJSON_AddItemToObject(o, "rules", t->rules);
    t->rules = NULL;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

/* ---- plain-language summary lines ---- */

/* "1,234" */
static void fmt_count(int64_t n, char *out, size_t outlen)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%" PRId64, n < 0 ? -n : n);
    size_t o = 0;
    if (n < 0 && o + 1 < outlen)
        out[o++] = '-';
    for (int i = 0; i < len && o + 1 < outlen; i++) {
        if (i > 0 && (len - i) % 3 == 0 && o + 1 < outlen)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

#define PL(n, one, many) ((n) == 1 ? (one) : (many))

static void summary_line(const struct totals *t, int c, char *out, size_t outlen)
{
    const struct cat_totals *p = &t->cat[DIR_PROMPT][c], *r = &t->cat[DIR_REPLY][c];
    char a[32], b[32];
    int64_t n;
    size_t len = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (len < outlen)                                                                          \
            len += (size_t)snprintf(out + len, outlen - len, __VA_ARGS__);                         \
    } while (0)
    switch (c) {
    case GW_CAT_INJECTION:
        n = p->blocked + p->redacted;
        fmt_count(n, a, sizeof a);
        if (n)
            ADD("%s %s to hijack the assistant %s stopped before reaching the provider", a,
                PL(n, "attempt", "attempts"), PL(n, "was", "were"));
        else
            ADD("No attempt to hijack the assistant was stopped");
        if (r->blocked + r->redacted) {
            fmt_count(r->blocked + r->redacted, b, sizeof b);
            ADD("; %s hijacked %s stopped before reaching a customer", b,
                PL(r->blocked + r->redacted, "reply was", "replies were"));
        }
        if (p->flagged + r->flagged) {
            fmt_count(p->flagged + r->flagged, b, sizeof b);
            ADD("; %s more %s flagged for review", b, PL(p->flagged + r->flagged, "was", "were"));
        }
        break;
    case GW_CAT_UNSAFE:
        n = p->blocked + p->redacted;
        fmt_count(n, a, sizeof a);
        if (n)
            ADD("%s unsafe %s turned away before reaching the provider", a,
                PL(n, "request was", "requests were"));
        else
            ADD("No unsafe request was turned away");
        if (r->blocked + r->redacted) {
            fmt_count(r->blocked + r->redacted, b, sizeof b);
            ADD("; %s unsafe %s stopped before reaching a customer", b,
                PL(r->blocked + r->redacted, "reply was", "replies were"));
        }
        if (p->flagged + r->flagged) {
            fmt_count(p->flagged + r->flagged, b, sizeof b);
            ADD("; %s more %s flagged for review", b, PL(p->flagged + r->flagged, "was", "were"));
        }
        break;
    case GW_CAT_BRAND:
        n = r->blocked + r->redacted;
        fmt_count(n, a, sizeof a);
        if (n)
            ADD("%s off-brand %s stopped or corrected before reaching a customer", a,
                PL(n, "reply was", "replies were"));
        else
            ADD("No off-brand reply had to be stopped");
        if (p->blocked + p->redacted) {
            fmt_count(p->blocked + p->redacted, b, sizeof b);
            ADD("; %s off-brand %s turned away", b,
                PL(p->blocked + p->redacted, "request was", "requests were"));
        }
        if (p->flagged + r->flagged) {
            fmt_count(p->flagged + r->flagged, b, sizeof b);
            ADD("; %s more %s flagged for review", b, PL(p->flagged + r->flagged, "was", "were"));
        }
        break;
    case GW_CAT_PII:
    case GW_CAT_SECRET:
        fmt_count(p->kept, a, sizeof a);
        fmt_count(r->kept, b, sizeof b);
        if (p->kept + r->kept == 0)
            ADD("No %s had to be held back", c == GW_CAT_PII ? "personal data" : "secret");
        else if (c == GW_CAT_PII)
            ADD("%s %s of personal data (emails, phone and card numbers...) %s kept from the "
                "provider, and %s from customers",
                a, PL(p->kept, "piece", "pieces"), PL(p->kept, "was", "were"), b);
        else
            ADD("%s %s (passwords, keys, tokens) %s kept from the provider, and %s from "
                "customers",
                a, PL(p->kept, "secret", "secrets"), PL(p->kept, "was", "were"), b);
        break;
    case GW_CAT_CX: {
        char conv[32];
        fmt_count(t->conversations, conv, sizeof conv);
        if (t->conversations == 0) {
            ADD("No conversation yet");
            break;
        }
        if (cJSON_GetArraySize(t->signals) == 0) {
            ADD("No customer-experience signal in %s %s", conv,
                PL(t->conversations, "conversation", "conversations"));
            break;
        }
        ADD("Out of %s %s: ", conv, PL(t->conversations, "conversation", "conversations"));
        cJSON *sig;
        int i = 0;
        cJSON_ArrayForEach(sig, t->signals)
        {
            int64_t k = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(sig, "conversations"));
            fmt_count(k, a, sizeof a);
            ADD("%s%s in %s", i++ ? ", " : "",
                cJSON_GetStringValue(cJSON_GetObjectItem(sig, "label")), a);
        }
        break;
    }
    default:
        break;
    }
    ADD(".");
#undef ADD
}

/* ---- the KPI reader ---- */

static int64_t auto_step(int64_t span)
{
    static const int64_t steps[] = {
        MINUTE_MS,          5 * MINUTE_MS,      15 * MINUTE_MS,      30 * MINUTE_MS, 60 * MINUTE_MS,
        3 * 60 * MINUTE_MS, 6 * 60 * MINUTE_MS, 12 * 60 * MINUTE_MS, DAY_MS,         7 * DAY_MS};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (span / steps[i] <= 60)
            return steps[i];
    return 7 * DAY_MS;
}

static int fill_series(struct gw_store *s, const struct q *q, cJSON *series, int n)
{
    sqlite3_stmt *st;
    int rc;
    static const char *const cols[] = {"requests",         "clean",           "prompts_blocked",
                                       "prompts_redacted", "replies_blocked", "replies_redacted",
                                       "flagged"};
    st = prepare(
        s,
        "SELECT (minute_ms - ?1) / ?5 AS i, sum(requests), sum(clean),"
        " sum(prompt_blocked), sum(prompt_redacted), sum(reply_blocked),"
        " sum(reply_redacted), sum(prompt_flagged) + sum(reply_flagged) FROM kpi_minute" RANGE_WHERE
        " GROUP BY i",
        q);
    if (!st)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *p = cJSON_GetArrayItem(series, sqlite3_column_int(st, 0));
        for (int i = 0; p && i < 7; i++)
            cJSON_SetNumberValue(cJSON_GetObjectItem(p, cols[i]),
                                 (double)sqlite3_column_int64(st, 1 + i));
    }
    if (finish(s, st, rc) == -1)
        return -1;

    st = prepare(s,
                 "SELECT i, count(*) FROM (SELECT DISTINCT (minute_ms - ?1) / ?5 AS i, tenant,"
                 " conversation FROM kpi_conv" RANGE_WHERE ") GROUP BY i",
                 q);
    if (!st)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *p = cJSON_GetArrayItem(series, sqlite3_column_int(st, 0));
        if (p)
            cJSON_SetNumberValue(cJSON_GetObjectItem(p, "conversations"),
                                 (double)sqlite3_column_int64(st, 1));
    }
    if (finish(s, st, rc) == -1)
        return -1;
    st = prepare(
        s, "SELECT (minute_ms - ?1) / ?5 AS i, sum(lone) FROM kpi_minute" RANGE_WHERE " GROUP BY i",
        q);
    if (!st)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *c = cJSON_GetObjectItem(cJSON_GetArrayItem(series, sqlite3_column_int(st, 0)),
                                       "conversations");
        if (c)
            cJSON_SetNumberValue(c, c->valuedouble + (double)sqlite3_column_int64(st, 1));
    }
    if (finish(s, st, rc) == -1)
        return -1;

    /* latency percentiles per point, one histogram at a time */
    st = prepare(
        s,
        "SELECT (minute_ms - ?1) / ?5 AS i, kind, bucket, sum(count) FROM kpi_latency" RANGE_WHERE
        " GROUP BY i, kind, bucket ORDER BY i, kind, bucket",
        q);
    if (!st)
        return -1;
    int64_t *h = calloc(GW_STORE_HIST_BUCKETS, sizeof *h), hn = 0;
    int cur_i = -1, cur_k = -1;
    if (!h)
        return sqlite3_finalize(st), -1;
    for (;;) {
        rc = sqlite3_step(st);
        int i = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -2;
        int k = rc == SQLITE_ROW ? sqlite3_column_int(st, 1) : -2;
        if ((i != cur_i || k != cur_k) && cur_i >= 0 && hn > 0) {
            cJSON *p = cJSON_GetArrayItem(series, cur_i);
            const char *n50 = cur_k == HIST_GATEWAY ? "gateway_p50_ms" : "provider_p50_ms";
            const char *n99 = cur_k == HIST_GATEWAY ? "gateway_p99_ms" : "provider_p99_ms";
            if (p && cur_k >= 0 && cur_k < HIST__COUNT) {
                cJSON_ReplaceItemInObject(
                    p, n50, cJSON_CreateNumber(round_to(hist_percentile(h, hn, 0.5), 0.001)));
                cJSON_ReplaceItemInObject(
                    p, n99, cJSON_CreateNumber(round_to(hist_percentile(h, hn, 0.99), 0.001)));
            }
            memset(h, 0, GW_STORE_HIST_BUCKETS * sizeof *h);
            hn = 0;
        }
        if (rc != SQLITE_ROW)
            break;
        cur_i = i;
        cur_k = k;
        int b = sqlite3_column_int(st, 2);
        if (b >= 0 && b < GW_STORE_HIST_BUCKETS) {
            h[b] += sqlite3_column_int64(st, 3);
            hn += sqlite3_column_int64(st, 3);
        }
    }
    free(h);
    return finish(s, st, rc);
}

static cJSON *make_series(int64_t from, int64_t step, int n)
{
    static const char *const zero[] = {"requests",         "conversations",    "clean",
                                       "prompts_blocked",  "prompts_redacted", "replies_blocked",
                                       "replies_redacted", "flagged"};
    static const char *const null[] = {"gateway_p50_ms", "gateway_p99_ms", "provider_p50_ms",
                                       "provider_p99_ms"};
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        cJSON *p = cJSON_CreateObject();
        if (!p || !cJSON_AddItemToArray(a, p))
            return cJSON_Delete(p), cJSON_Delete(a), NULL;
        add_num(p, "t", (double)(from + (int64_t)i * step));
        for (size_t k = 0; k < sizeof zero / sizeof zero[0]; k++)
            add_num(p, zero[k], 0);
        for (size_t k = 0; k < sizeof null / sizeof null[0]; k++)
            cJSON_AddNullToObject(p, null[k]);
    }
    return a;
}

static int add_names(struct gw_store *s, const struct q *q, cJSON *o, const char *col)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT DISTINCT %s FROM kpi_minute WHERE minute_ms >= ?1 AND minute_ms < ?2"
             " ORDER BY 1",
             col);
    struct q all = {q->from, q->to, 0, NULL, NULL};
    sqlite3_stmt *st = prepare(s, sql, &all);
    int rc;
    char name[32];
    snprintf(name, sizeof name, "%ss", col);
    cJSON *a = cJSON_AddArrayToObject(o, name);
    if (!st || !a)
        return sqlite3_finalize(st), -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        cJSON_AddItemToArray(a, cJSON_CreateString(text_col(st, 0)));
    return finish(s, st, rc);
}

static void add_change(cJSON *ch, const char *name, double cur, double prev, bool points)
{
    cJSON *o = add_obj(ch, name);
    if (!o)
        return;
    add_num(o, "current", cur);
    add_num(o, "previous", prev);
    add_num(o, "delta", round_to(cur - prev, 0.0001));
    if (prev != 0)
        add_num(o, "pct", round_to((cur - prev) / prev * 100.0, 0.1));
    else
        cJSON_AddNullToObject(o, "pct");
    if (points) /* a rate: its change in percentage points */
        add_num(o, "points", round_to((cur - prev) * 100.0, 0.01));
}

static double p_of(const struct totals *t, int kind, double q)
{
    double v = hist_percentile(t->hist[kind], t->hist_n[kind], q);
    return v < 0 ? 0 : round_to(v, 0.001);
}

static void add_changes(cJSON *ch, const struct totals *c, const struct totals *p)
{
    add_change(ch, "requests", (double)c->requests, (double)p->requests, false);
    add_change(ch, "conversations", (double)c->conversations, (double)p->conversations, false);
    add_change(ch, "clean_rate", clean_rate(c), clean_rate(p), true);
    if (p->requests == 0) { /* no rate to compare with: "new", not a rise from 0% */
        cJSON *o = cJSON_GetObjectItem(ch, "clean_rate");
        cJSON_ReplaceItemInObject(o, "points", cJSON_CreateNull());
        cJSON_ReplaceItemInObject(o, "pct", cJSON_CreateNull());
    }
    int64_t cp = 0, pp = 0;
    for (int d = 0; d < DIR__COUNT; d++) {
        cp += c->verdict[d][GW_ACTION_BLOCK] + c->verdict[d][GW_ACTION_REDACT];
        pp += p->verdict[d][GW_ACTION_BLOCK] + p->verdict[d][GW_ACTION_REDACT];
    }
    add_change(ch, "prevented", (double)cp, (double)pp, false);
    add_change(ch, "prompts_blocked", (double)c->verdict[DIR_PROMPT][GW_ACTION_BLOCK],
               (double)p->verdict[DIR_PROMPT][GW_ACTION_BLOCK], false);
    add_change(ch, "replies_blocked", (double)c->verdict[DIR_REPLY][GW_ACTION_BLOCK],
               (double)p->verdict[DIR_REPLY][GW_ACTION_BLOCK], false);
    add_change(ch, "replies_redacted", (double)c->verdict[DIR_REPLY][GW_ACTION_REDACT],
               (double)p->verdict[DIR_REPLY][GW_ACTION_REDACT], false);
    for (int k = 0; k < GW_CAT__COUNT; k++) {
        char name[48];
        snprintf(name, sizeof name, "prevented_%s", gw_category_name((enum gw_category)k));
        if (k != GW_CAT_CX)
            add_change(ch, name, (double)prevented(c, k), (double)prevented(p, k), false);
    }
    add_change(ch, "pii_kept", (double)(c->cat[0][GW_CAT_PII].kept + c->cat[1][GW_CAT_PII].kept),
               (double)(p->cat[0][GW_CAT_PII].kept + p->cat[1][GW_CAT_PII].kept), false);
    add_change(ch, "secrets_kept",
               (double)(c->cat[0][GW_CAT_SECRET].kept + c->cat[1][GW_CAT_SECRET].kept),
               (double)(p->cat[0][GW_CAT_SECRET].kept + p->cat[1][GW_CAT_SECRET].kept), false);
    add_change(ch, "cx_signals", (double)c->signal_conversations, (double)p->signal_conversations,
               false);
    add_change(ch, "gateway_p50_ms", p_of(c, HIST_GATEWAY, 0.5), p_of(p, HIST_GATEWAY, 0.5), false);
    add_change(ch, "gateway_p99_ms", p_of(c, HIST_GATEWAY, 0.99), p_of(p, HIST_GATEWAY, 0.99),
               false);
    add_change(ch, "provider_p50_ms", p_of(c, HIST_PROVIDER, 0.5), p_of(p, HIST_PROVIDER, 0.5),
               false);
}

static void add_range(cJSON *o, int64_t from, int64_t to)
{
    char a[32], b[32];
    gw_store_format_time(from, a, sizeof a);
    gw_store_format_time(to, b, sizeof b);
    cJSON_AddStringToObject(o, "from", a);
    cJSON_AddStringToObject(o, "to", b);
    add_num(o, "from_ms", (double)from);
    add_num(o, "to_ms", (double)to);
}

cJSON *gw_store_kpis(struct gw_store *s, int64_t from_ms, int64_t to_ms, const char *tenant,
                     const char *model, int64_t step_ms, char *err, size_t errlen)
{
    cJSON *o = NULL, *x;
    struct totals *cur = calloc(1, sizeof *cur), *prev = calloc(1, sizeof *prev);
    if (!cur || !prev) {
        set_err(s, "out of memory");
        goto fail;
    }
    if (to_ms <= from_ms) {
        set_bad(s, "the range is empty: 'to' must be after 'from'");
        goto fail;
    }
    if (tenant && !tenant[0])
        tenant = NULL;
    if (model && !model[0])
        model = NULL;
    int64_t span = to_ms - from_ms;
    if (step_ms <= 0)
        step_ms = auto_step(span);
    step_ms = (step_ms + MINUTE_MS - 1) / MINUTE_MS * MINUTE_MS;
    int64_t n = (span + step_ms - 1) / step_ms;
    if (n > MAX_SERIES) {
        set_bad(s, "the step is too small for the range: %" PRId64 " points (at most %d)", n,
                MAX_SERIES);
        goto fail;
    }
    struct q qc = {from_ms, to_ms, step_ms, tenant, model};
    struct q qp = {from_ms - span, from_ms, step_ms, tenant, model};
    if (load_totals(s, &qc, cur) == -1 || load_totals(s, &qp, prev) == -1)
        goto fail;

    if (!(o = cJSON_CreateObject()))
        goto fail;
    add_range(o, from_ms, to_ms);
    add_num(o, "step_ms", (double)step_ms);
    if (tenant)
        cJSON_AddStringToObject(o, "tenant", tenant);
    else
        cJSON_AddNullToObject(o, "tenant");
    if (model)
        cJSON_AddStringToObject(o, "model", model);
    else
        cJSON_AddNullToObject(o, "model");
    if (add_names(s, &qc, o, "tenant") == -1 || add_names(s, &qc, o, "model") == -1)
        goto fail;

    if (!(x = cJSON_AddArrayToObject(o, "summary")))
        goto fail;
    static const int order[] = {GW_CAT_INJECTION, GW_CAT_UNSAFE, GW_CAT_PII,
                                GW_CAT_SECRET,    GW_CAT_BRAND,  GW_CAT_CX};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        char line[512];
        summary_line(cur, order[i], line, sizeof line);
        cJSON *l = cJSON_CreateObject();
        if (!l || !cJSON_AddItemToArray(x, l))
            goto fail;
        cJSON_AddStringToObject(l, "category", gw_category_name((enum gw_category)order[i]));
        cJSON_AddStringToObject(l, "text", line);
    }
    if (!(x = add_obj(o, "change")))
        goto fail;
    add_changes(x, cur, prev);

    cJSON *kc = totals_json(cur), *kp = totals_json(prev);
    if (!kc || !kp) {
        cJSON_Delete(kc);
        cJSON_Delete(kp);
        set_err(s, "out of memory");
        goto fail;
    }
    cJSON_AddItemToObject(o, "current", kc);
    add_range(kp, qp.from, qp.to);
    cJSON_AddItemToObject(o, "previous", kp);

    cJSON *series = make_series(from_ms, step_ms, (int)n);
    if (!series || !cJSON_AddItemToObject(o, "series", series)) {
        cJSON_Delete(series);
        goto fail;
    }
    if (fill_series(s, &qc, series, (int)n) == -1)
        goto fail;
    totals_release(cur);
    totals_release(prev);
    free(cur);
    free(prev);
    return o;
fail:
    copy_err(err, errlen, s->err[0] ? s->err : "out of memory");
    if (cur)
        totals_release(cur);
    if (prev)
        totals_release(prev);
    free(cur);
    free(prev);
    cJSON_Delete(o);
    return NULL;
}

/* ---- the incident reader ---- */

cJSON *gw_store_incidents(struct gw_store *s, int64_t from_ms, int64_t to_ms, const char *tenant,
                          const char *category, int limit, int64_t before_id, char *err,
                          size_t errlen)
{
    static const char *const text_cols[] = {"request_id", "tenant",   "model",     "conversation",
                                            "direction",  "category", "rule",      "severity",
                                            "action",     "excerpt",  "value_hash"};
    sqlite3_stmt *st = NULL;
    cJSON *o = NULL, *a;
    int rc;
    if (limit < 1)
        limit = 1;
    if (limit > 500)
        limit = 500;
    if (tenant && !tenant[0])
        tenant = NULL;
    if (category && !category[0])
        category = NULL;
    if (from_ms == 0 && to_ms == 0)
        to_ms = INT64_MAX;
    if (sqlite3_prepare_v2(
            s->db,
            "SELECT id, ts_ms, request_id, tenant, model, conversation, direction, category,"
            " rule, severity, action, excerpt, value_hash, value_length,"
            " (SELECT title FROM rule_title WHERE rule_title.rule = incidents.rule)"
            " FROM incidents WHERE ts_ms >= ?1 AND ts_ms < ?2 AND (?3 IS NULL OR tenant = ?3)"
            " AND (?4 IS NULL OR category = ?4) AND (?5 <= 0 OR id < ?5)"
            " ORDER BY id DESC LIMIT ?6",
            -1, &st, NULL) != SQLITE_OK) {
        set_err(s, "%s", sqlite3_errmsg(s->db));
        goto fail;
    }
    sqlite3_bind_int64(st, 1, from_ms);
    sqlite3_bind_int64(st, 2, to_ms);
    if (tenant)
        sqlite3_bind_text(st, 3, tenant, -1, SQLITE_STATIC);
    if (category)
        sqlite3_bind_text(st, 4, category, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, before_id);
    sqlite3_bind_int(st, 6, limit);
    if (!(o = cJSON_CreateObject()) || !(a = cJSON_AddArrayToObject(o, "incidents"))) {
        set_err(s, "out of memory");
        goto fail;
    }
    int64_t last = 0;
    int count = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *r = cJSON_CreateObject();
        char when[32];
        if (!r || !cJSON_AddItemToArray(a, r)) {
            cJSON_Delete(r);
            set_err(s, "out of memory");
            goto fail;
        }
        last = sqlite3_column_int64(st, 0);
        count++;
        add_num(r, "id", (double)last);
        gw_store_format_time(sqlite3_column_int64(st, 1), when, sizeof when);
        cJSON_AddStringToObject(r, "time", when);
        add_num(r, "ts_ms", (double)sqlite3_column_int64(st, 1));
        for (int i = 0; i < 11; i++)
            cJSON_AddStringToObject(r, text_cols[i], text_col(st, 2 + i));
        add_num(r, "value_length", (double)sqlite3_column_int64(st, 13));
        if (sqlite3_column_type(st, 14) == SQLITE_TEXT) /* the rule's plain name, if any */
            cJSON_AddStringToObject(r, "title", text_col(st, 14));
        else
            cJSON_AddNullToObject(r, "title");
    }
    if (rc != SQLITE_DONE) {
        set_err(s, "%s", sqlite3_errmsg(s->db));
        goto fail;
    }
    if (count == limit)
        add_num(o, "next_before_id", (double)last);
    else
        cJSON_AddNullToObject(o, "next_before_id");
    sqlite3_finalize(st);
    return o;
fail:
    copy_err(err, errlen, s->err);
    sqlite3_finalize(st);
    cJSON_Delete(o);
    return NULL;
}

/* ---- money (kpi/value.h) ---- */

/* An amount in cents, as a JSON number (2.5, 16.02). */
static void add_money(cJSON *o, const char *name, int64_t micro)
{
    char b[32];
    gw_value_format(micro, b, sizeof b);
    add_num(o, name, strtod(b, NULL));
}

/* The assumptions every amount rests on, shown next to them. */
static void add_assumptions(cJSON *o, const struct gw_value *v)
{
    cJSON *a = cJSON_AddObjectToObject(o, "assumptions");
    cJSON *prices = a ? cJSON_AddArrayToObject(a, "per_million_tokens") : NULL;
    for (size_t i = 0; prices && i < v->n_prices; i++) {
        cJSON *p = cJSON_CreateObject();
        if (!p || !cJSON_AddItemToArray(prices, p))
            break;
        cJSON_AddStringToObject(p, "model", v->prices[i].prefix[0] ? v->prices[i].prefix
                                                                    : "default");
        add_money(p, "prompt", v->prices[i].prompt);
        add_money(p, "completion", v->prices[i].completion);
    }
    if (!a)
        return;
    add_money(a, "personal_data_record", v->personal_data_record);
    add_money(a, "secret", v->secret);
    add_money(a, "handoff", v->handoff);
    cJSON_AddStringToObject(a, "handoff_rule", v->handoff_rule ? v->handoff_rule : "");
}

cJSON *gw_store_value(struct gw_store *s, int64_t from_ms, int64_t to_ms, const char *tenant,
                      const char *model, const struct gw_value *v)
{
    struct q q = {from_ms, to_ms, 0, tenant && *tenant ? tenant : NULL,
                  model && *model ? model : NULL};
    struct gw_value_model *models = NULL;
    size_t n = 0, cap = 0;
    struct gw_value_counts c = {0};
    cJSON *o = NULL;
    sqlite3_stmt *st = prepare(s,
                               "SELECT model, total(prompt_tokens), total(completion_tokens),"
                               " total(usage_requests), total(prompt_blocked) FROM kpi_minute"
                               RANGE_WHERE " GROUP BY model",
                               &q);
    int rc;
    if (!st)
        return NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            void *t = realloc(models, (cap = cap ? cap * 2 : 16) * sizeof *models);
            if (!t)
                break;
            models = t;
        }
        char *name = strdup(text_col(st, 0));
        if (!name)
            break;
        models[n++] = (struct gw_value_model){name, sqlite3_column_int64(st, 1),
                                              sqlite3_column_int64(st, 2),
                                              sqlite3_column_int64(st, 3),
                                              sqlite3_column_int64(st, 4)};
    }
    if (finish(s, st, rc) == -1)
        goto out;
    st = prepare(s,
                 "SELECT category, total(kept) FROM kpi_category" RANGE_WHERE
                 " AND category IN ('pii', 'secret') GROUP BY category",
                 &q);
    if (!st)
        goto out;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        *(strcmp(text_col(st, 0), "pii") == 0 ? &c.personal_data_kept : &c.secrets_kept) =
            sqlite3_column_int64(st, 1);
    if (finish(s, st, rc) == -1)
        goto out;
    st = prepare(s,
                 "SELECT total(requests) FROM kpi_rule" RANGE_WHERE
                 " AND direction = 'prompt' AND rule = ?6",
                 &q);
    if (!st)
        goto out;
    sqlite3_bind_text(st, 6, v->handoff_rule ? v->handoff_rule : "", -1, SQLITE_STATIC);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        c.handoffs = sqlite3_column_int64(st, 0);
        rc = sqlite3_step(st);
    }
    if (finish(s, st, rc) == -1)
        goto out;

    c.models = models;
    c.n_models = n;
    struct gw_value_result r;
    gw_value_compute(v, &c, &r);
    if (!(o = cJSON_CreateObject()))
        goto out;
    cJSON_AddStringToObject(o, "currency", v->currency);
    add_money(o, "token_spend", r.token_spend);
    add_money(o, "spend_avoided", r.spend_avoided);
    add_num(o, "blocked_unpriced", (double)r.blocked_unpriced);
    add_money(o, "exposure_avoided", r.exposure_avoided);
    add_num(o, "personal_data_kept", (double)c.personal_data_kept);
    add_num(o, "secrets_kept", (double)c.secrets_kept);
    add_num(o, "handoffs", (double)c.handoffs);
    add_money(o, "handoff_cost", r.handoff_cost);
    add_assumptions(o, v);
out:
    for (size_t i = 0; i < n; i++)
        free((char *)models[i].model);
    free(models);
    return o;
}
