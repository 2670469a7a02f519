/* The incident log: one JSON line per non-allow finding, for log shippers and audits.
 * Workers hand lines to a queue; one writer thread does the disk I/O, so a slow disk
 * never stalls a worker. Lines never contain the matched value: a masked excerpt and a
 * keyed hash (SipHash-2-4) only. */
#ifndef GW_INCIDENTS_INCIDENTS_H
#define GW_INCIDENTS_INCIDENTS_H

#include <stddef.h>

#include "screen/rules.h"

struct gw_incidents;

struct gw_incident {
    const char *request_id;
    enum gw_direction direction;
    const struct gw_rule *rule;
    const char *model;
    const char *tenant;  /* NULL: "-" */
    const char *match;   /* the matched bytes: masked and hashed, never written */
    size_t match_len;
};

/* Opens (appends to) path and starts the writer thread. key: the hash key (NULL: a
 * random one for this run, so hashes only correlate within a run). NULL on failure. */
struct gw_incidents *gw_incidents_open(const char *path, const char *key);
/* Queues one line. Safe from any thread. */
void gw_incidents_record(struct gw_incidents *log, const struct gw_incident *in);
/* Asks the writer to reopen the file (after log rotation; SIGUSR1). Safe from any thread. */
void gw_incidents_reopen(struct gw_incidents *log);
/* Writes what is queued, stops the writer and closes. NULL is fine. */
void gw_incidents_close(struct gw_incidents *log);

/* Writes into out (NUL-terminated, at most outlen) a masked form of s: for PII and secrets
 * only the length and shape survive ("4***************11" style); for other categories
 * letters survive but every digit is masked. Exposed for tests. */
void gw_incident_mask(char *out, size_t outlen, const char *s, size_t len,
                      enum gw_category category);

#endif
