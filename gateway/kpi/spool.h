/* The recorder's way into the KPI store. Each batch of records is written with an id of
 * its own; what the store does not take (the database is away, or failed) is held, up to
 * kpi.buffer_records records, and retried in order about once a second under the same id,
 * so nothing is counted twice and nothing is lost while the bound holds; past it the
 * oldest batches are dropped and counted. The gateway keeps serving throughout. It also
 * prunes the store hourly.
 *
 * A spool runs on the recorder thread only; its counters (gw_spool_stats) are read from
 * any thread. */
#ifndef GW_KPI_SPOOL_H
#define GW_KPI_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kpi/record.h"
#include "kpi/store.h"

struct gw_spool;

struct gw_spool_opts {
    const char *where;         /* the store: a SQLite path or a postgresql:// URL */
    struct gw_store_opts store; /* its writer options */
    size_t max_records;        /* held at most while the store is away (0: none held) */
    int retry_ms;              /* between tries while it is away (0: 1000) */
};

/* Opens the store. A SQLite file that cannot be opened is an error (NULL, with err): a
 * mistake in the config shows at start. A PostgreSQL database that does not answer is
 * not: the spool starts holding records and keeps trying (logged). */
struct gw_spool *gw_spool_new(const struct gw_spool_opts *o, char *err, size_t errlen);
/* Takes a batch (the records stay the caller's; they are copied only when held). n == 0
 * is a tick: a chance to retry what is held. Returns 0 when everything up to this batch
 * is written, 1 when some is held, -1 when records were dropped. */
int gw_spool_push(struct gw_spool *sp, struct gw_request_rec *const *recs, size_t n);
/* Tries once more to write what is held, then closes the store. NULL is fine. */
void gw_spool_free(struct gw_spool *sp);

struct gw_spool_stats {
    bool up;                 /* the last write went through */
    int64_t buffered;        /* records held now */
    int64_t written;         /* records written, all time */
    int64_t dropped;         /* records dropped: the buffer was full, or a batch kept failing */
    int64_t failures;        /* writes that failed */
};
/* The counters of all spools of this process (one in a gateway). */
void gw_spool_stats(struct gw_spool_stats *out);

#endif
