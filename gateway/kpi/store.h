/* The durable KPI store: schema, writes and retention, on SQLite (a file: the embedded
 * default) or PostgreSQL (a postgresql:// URL: one database for a fleet), through the SQL
 * seam of kpi/db.h. kpi/query.h reads it into structs; kpi/render.h turns those into the
 * API's JSON and sentences.
 *
 * It holds incidents (one row per finding: masked excerpt and keyed hash only, never the
 * matched value) and per-minute rollups keyed by (minute, instance, tenant, model):
 * request counts, verdicts, per-category and per-rule counts, conversations seen,
 * customer-experience signals and latency histograms with fixed log-spaced buckets. KPIs
 * for any range are sums of those rollups, so reading a month costs the same whatever the
 * traffic was, and a fleet's figures are the sums over its instances. docs/kpis.md
 * defines every KPI.
 *
 * A gw_store handle belongs to one thread: the writer opens its own, each reader opens
 * its own (readonly). */
#ifndef GW_KPI_STORE_H
#define GW_KPI_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kpi/db.h"
#include "kpi/record.h"

/* The schema version this build writes. */
#define GW_STORE_SCHEMA_VERSION 4

/* Latency histograms: bucket 0 holds [0, GW_STORE_HIST_MIN_MS); bucket i >= 1 holds
 * [MIN * 2^((i-1)/8), MIN * 2^(i/8)); the last bucket also holds everything above.
 * Eight buckets per doubling: a percentile read back as its bucket's geometric middle is
 * within 4.5% of the true value between 1 microsecond and 10 minutes. */
#define GW_STORE_HIST_MIN_MS 0.001
#define GW_STORE_HIST_PER_DOUBLING 8
#define GW_STORE_HIST_BUCKETS 242

/* The longest instance name (kpi.instance). */
#define GW_STORE_INSTANCE_MAX 63

struct gw_store;

struct gw_store_opts {
    bool readonly;      /* a reader: a SQLite file must exist at the current schema */
    int retention_days; /* <= 0: keep everything (writer) */
    const char *instance; /* this gateway's name in a shared store (writer); NULL: "-" */
    int max_tenants, max_models; /* caps on distinct values written (0: none); see below */
};

/* Opens where (a SQLite path or a postgresql:// URL), creating or migrating the schema
 * for a writer (many gateways may start at once against one PostgreSQL: the migration
 * is serialised). A readonly open of a database that does not exist or needs a
 * migration fails. Distinct tenants and models past the caps are written as "other":
 * the store's own values count, so a restart keeps the cap, and pruning frees the places
 * of values whose rows all went. NULL with a message in err (never a password). */
struct gw_store *gw_store_open(const char *where, const struct gw_store_opts *o, char *err,
                               size_t errlen);
/* NULL is fine. */
void gw_store_close(struct gw_store *s);
/* Whether the database connection is gone: close and open again. */
bool gw_store_broken(const struct gw_store *s);

/* A batch's id: the writing process's own random id (boot) and the batch's number in it.
 * A process writes its batches in increasing seq (the spool drains in order), so the
 * store keeps one row per instance and boot: the highest seq written. */
struct gw_batch_id {
    char boot[24];
    int64_t seq;
};

/* Writes records in ONE transaction: incidents (one row per finding, masked excerpt +
 * hash only), per-minute rollups (upserts that add), conversations seen. id: the batch's
 * (NULL: none); a batch whose seq is not above the last one written for its boot is not
 * written again, so a retry after an unknown outcome (the connection died before COMMIT
 * answered) counts nothing twice. Writer only. 0 written, 1 already written, -1 error
 * (nothing of the batch is written). */
int gw_store_write(struct gw_store *s, struct gw_request_rec *const *recs, size_t n,
                   const struct gw_batch_id *id);
/* Deletes rows older than the retention (now_ms - retention_days), and the batch ids of
 * processes that wrote nothing for a week. 0/-1. */
int gw_store_prune(struct gw_store *s, int64_t now_ms);

/* The last error message of s (never NULL). */
const char *gw_store_error(const struct gw_store *s);
/* Whether the last error was in what was asked (a reader answers 400) or in the store. */
enum gw_store_err { GW_STORE_FAILED, GW_STORE_BAD_REQUEST };
enum gw_store_err gw_store_error_kind(const struct gw_store *s);

/* For kpi/query.c: the connection, and setting the error it reports. */
struct gw_db *gw_store_db(struct gw_store *s);
void gw_store_fail(struct gw_store *s, enum gw_store_err kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The histogram bucket of a latency, and the value a bucket reads back as. */
int gw_store_hist_bucket(double ms);
double gw_store_hist_value(int bucket);
/* Formats ms (UTC) as "2024-05-01T12:00:00Z" (out: at least 25 bytes). */
void gw_store_format_time(int64_t ms, char *out, size_t outlen);

#endif
