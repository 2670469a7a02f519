/* The recorder: workers hand it one request record per request (gateway/kpi/record.h);
 * one writer thread writes an incident-log line per finding (JSON lines, for log shippers
 * and audits) and passes the records, in batches, to a sink (the KPI store). Disk never
 * stalls a worker. Nothing it writes contains a matched value: a masked excerpt and a
 * keyed hash (SipHash-2-4) only. */
#ifndef GW_INCIDENTS_INCIDENTS_H
#define GW_INCIDENTS_INCIDENTS_H

#include <stddef.h>
#include <stdint.h>

#include "kpi/record.h"
#include "screen/rules.h"

struct gw_incidents;

/* Records queued for the writer, at most: past it a worker drops the record and counts it
 * (guardrail_records_dropped_total). About 1 KB each. */
#define GW_RECORD_QUEUE_MAX 200000

/* Receives a batch of records on the writer thread; it does not keep them. Called with
 * n == 0 about once a second when nothing came (a tick). 0 or -1. */
typedef int (*gw_record_sink)(void *arg, struct gw_request_rec *const *recs, size_t n);

/* Opens (appends to) path, if not NULL, and starts the writer thread. sink may be NULL.
 * NULL on failure (logged). */
struct gw_incidents *gw_incidents_open(const char *path, gw_record_sink sink, void *sink_arg);
/* Queues a record; ownership moves to the recorder. Safe from any thread. Past
 * GW_RECORD_QUEUE_MAX records queued (the writer is stuck) the record is dropped and
 * counted (gw_incidents_dropped). */
void gw_incidents_submit(struct gw_incidents *log, struct gw_request_rec *rec);
/* Records dropped because the queue was full, since the process started. */
uint64_t gw_incidents_dropped(void);
/* Asks the writer to reopen the file (after log rotation; SIGUSR1). Safe from any thread. */
void gw_incidents_reopen(struct gw_incidents *log);
/* Writes what is queued, stops the writer and closes. NULL is fine. */
void gw_incidents_close(struct gw_incidents *log);

/* Derives the 16-byte hash key from the configured secret, or a random one if NULL. */
void gw_incident_key(const char *secret, uint8_t key[16]);
/* Fills a finding record for a match of rule r: masked excerpt and keyed hash of match. */
void gw_finding_rec_fill(struct gw_finding_rec *out, const struct gw_rule *r,
                         enum gw_direction dir, const uint8_t key[16], const char *match,
                         size_t len);
/* Writes into out (NUL-terminated, at most outlen) a masked form of s: for PII and secrets
 * only the length and shape survive ("4***************11" style); for other categories
 * the words survive, but not those that may be personal data or a secret (digits, e-mails,
 * key-shaped words, names: word_shown in incidents.c). */
void gw_incident_mask(char *out, size_t outlen, const char *s, size_t len,
                      enum gw_category category);

#endif
