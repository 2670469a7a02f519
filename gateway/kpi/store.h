/* The durable KPI store: one SQLite database (WAL mode) written by the recorder thread
 * and read by the admin listener and `guardrail report`.
 *
 * It holds incidents (one row per finding: masked excerpt and keyed hash only, never the
 * matched value) and per-minute rollups keyed by (minute, tenant, model): request counts,
 * verdicts, per-category and per-rule counts, conversations seen, customer-experience
 * signals and latency histograms with fixed log-spaced buckets. KPIs for any range are
 * sums of those rollups, so reading a month costs the same whatever the traffic was.
 * docs/kpis.md defines every KPI and the JSON the readers return.
 *
 * A gw_store handle belongs to one thread: the writer opens its own, each reader opens
 * its own (readonly). */
#ifndef GW_KPI_STORE_H
#define GW_KPI_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "kpi/record.h"
#include "kpi/value.h"

/* The schema version this build writes (PRAGMA user_version). */
#define GW_STORE_SCHEMA_VERSION 2

/* Latency histograms: bucket 0 holds [0, GW_STORE_HIST_MIN_MS); bucket i >= 1 holds
 * [MIN * 2^((i-1)/8), MIN * 2^(i/8)); the last bucket also holds everything above.
 * Eight buckets per doubling: a percentile read back as its bucket's geometric middle is
 * within 4.5% of the true value between 1 microsecond and 10 minutes. */
#define GW_STORE_HIST_MIN_MS 0.001
#define GW_STORE_HIST_PER_DOUBLING 8
#define GW_STORE_HIST_BUCKETS 242

struct gw_store;

/* Opens (creating or migrating) the database. readonly: for the admin/report readers
 * (WAL mode lets them read while the writer writes); a readonly open of a database that
 * does not exist or needs a migration fails. retention_days <= 0 keeps everything.
 * NULL with a message in err. */
struct gw_store *gw_store_open(const char *path, bool readonly, int retention_days, char *err,
                               size_t errlen);
/* Caps the distinct tenants and models the writer keeps (0: no cap): a value the store
 * does not hold yet, once it holds max of them, is written as "other" (incidents and
 * rollups alike). The store's own values count, so a restart keeps the cap; pruning frees
 * the places of values whose rows all went. Writer only; 0/-1. */
int gw_store_limit(struct gw_store *s, int max_tenants, int max_models);
/* NULL is fine. */
void gw_store_close(struct gw_store *s);
/* Writes records in ONE transaction: incidents (one row per finding, masked excerpt + hash
 * only), per-minute KPI rollups (upsert), conversations seen. Writer thread only. 0/-1;
 * on -1 nothing of the batch is written. */
int gw_store_write(struct gw_store *s, struct gw_request_rec *const *recs, size_t n);
/* Deletes rows older than the retention (now_ms - retention_days). 0/-1. */
int gw_store_prune(struct gw_store *s, int64_t now_ms);
/* KPIs for [from_ms, to_ms), optionally one tenant and/or model (NULL: all), with a time
 * series of step_ms buckets (0: about 60 points; at least one minute), and the same KPIs
 * for the previous period of equal length. Rollups are per minute: a minute counts when
 * it starts inside the range. Returns a cJSON object (caller cJSON_Delete) or NULL with
 * err. */
cJSON *gw_store_kpis(struct gw_store *s, int64_t from_ms, int64_t to_ms, const char *tenant,
                     const char *model, int64_t step_ms, char *err, size_t errlen);
/* What the KPIs of [from_ms, to_ms) are worth by the assumptions v (kpi.value): token
 * spend, spend avoided by prompts blocked before the provider, exposure avoided (personal
 * data and secrets kept), hand-off requests and their cost, and the assumptions. Amounts
 * are numbers with cents. Returns a cJSON object or NULL (gw_store_error). */
cJSON *gw_store_value(struct gw_store *s, int64_t from_ms, int64_t to_ms, const char *tenant,
                      const char *model, const struct gw_value *v);
/* Latest incidents, newest first, paged by id (before_id 0: from the newest), filters
 * optional (NULL; from_ms = to_ms = 0: any time). limit is clamped to [1, 500]. */
cJSON *gw_store_incidents(struct gw_store *s, int64_t from_ms, int64_t to_ms, const char *tenant,
                          const char *category, int limit, int64_t before_id, char *err,
                          size_t errlen);

/* The last error message of s (never NULL). */
const char *gw_store_error(const struct gw_store *s);
/* Whether the last error was in what was asked (a reader answers 400) or in the store. */
enum gw_store_err { GW_STORE_FAILED, GW_STORE_BAD_REQUEST };
enum gw_store_err gw_store_error_kind(const struct gw_store *s);
/* The histogram bucket of a latency, and the value a bucket reads back as. For tests and
 * the docs. */
int gw_store_hist_bucket(double ms);
double gw_store_hist_value(int bucket);
/* Formats ms (UTC) as "2024-05-01T12:00:00Z" (out: at least 25 bytes). */
void gw_store_format_time(int64_t ms, char *out, size_t outlen);

#endif
