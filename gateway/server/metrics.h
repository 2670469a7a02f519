/* Live counters for /metrics (Prometheus text format). Each worker owns a struct
 * gw_metrics and is its only writer (relaxed atomic adds: no lock on the hot path); the
 * admin thread sums them when scraped. Tenants and rules get stable slots from small
 * append-only registries, so counters survive rule reloads. */
#ifndef GW_SERVER_METRICS_H
#define GW_SERVER_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "kpi/privacy.h" /* GW_PRIVACY_CAP_MAX */
#include "kpi/record.h"
#include "screen/rules.h"
#include "util/buf.h"

/* Tenants get slots up to privacy.max_tenants (at most GW_PRIVACY_CAP_MAX), rules up to
 * GW_RULE_SLOTS - 1; the last slot of each counts every further one, and the value
 * "other" itself, as "other". A worker's findings counters take 8 KB a tenant slot; the
 * slots never used stay untouched zero pages. */
#define GW_TENANT_SLOTS (GW_PRIVACY_CAP_MAX + 1)
#define GW_RULE_SLOTS 512
#define GW_LAT_BUCKETS 19
/* Answers are counted by the client API of their route (the order of gw_apis[]), the last
 * slot for everything else (health checks, unknown paths, passthrough, requests evhttp
 * could not read). */
#define GW_METRIC_APIS 8

struct gw_api;

struct gw_metrics {
    _Atomic uint64_t requests[GW_TENANT_SLOTS][2][4]; /* [tenant][stream][verdict] */
    _Atomic uint64_t findings[GW_TENANT_SLOTS][GW_RULE_SLOTS][2]; /* [tenant][rule][dir] */
    _Atomic uint64_t status[GW_METRIC_APIS][6];           /* [api][1xx .. 5xx], [0] unused */
    _Atomic uint64_t added_ms_bucket[GW_LAT_BUCKETS + 1]; /* gateway-added latency */
    _Atomic uint64_t added_us_sum;
    _Atomic uint64_t provider_ms_bucket[GW_LAT_BUCKETS + 1];
    _Atomic uint64_t provider_us_sum;
    _Atomic uint64_t provider_calls;
    _Atomic uint64_t ttft_ms_bucket[GW_LAT_BUCKETS + 1]; /* provider call to first byte */
    _Atomic uint64_t ttft_us_sum;
    _Atomic uint64_t tokens[2]; /* prompt, completion */
    _Atomic uint64_t screen_texts[2]; /* prompt texts screened; of them, answered by the memo */
    _Atomic uint64_t findings_more;   /* findings past a request's cap (GW_REC_FINDINGS_MAX) */
    _Atomic uint64_t over_budget;     /* requests with a text that matched too often */
};

/* Sets how many tenants get a label of their own (clamped to GW_TENANT_SLOTS - 1; 31
 * unless set). Before the first request is counted. */
void gw_metrics_limit_tenants(unsigned max_tenants);
/* Counts one finished screened request (called by its worker); its answer is counted
 * apart, by gw_metrics_answer. */
void gw_metrics_count(struct gw_metrics *m, const struct gw_request_rec *r);
/* Counts one answer to a client: its API (NULL: none of them) and status. Every answer
 * the worker gives passes here once, whether the request was proxied or answered early. */
void gw_metrics_answer(struct gw_metrics *m, const struct gw_api *api, int status);
/* Counts the time from a streamed request's provider call to the first byte the client
 * was sent. */
void gw_metrics_first_byte(struct gw_metrics *m, double ms);

/* What the server knows once, not per worker, for the exposition. */
struct gw_metrics_server {
    unsigned rules_loaded, rulesets_live, packs_removed;
    int workers_running;
    uint64_t reloads[3]; /* SIGHUP: loaded, the rules failed, a required pack missing */
    uint64_t rules_hash; /* of the active ruleset, gw_metrics_rules_hash */
};
/* A hash of what a rule table screens with: each rule's id, pack, category, action,
 * directions, replacement and message, and each pattern. Stable across runs. */
uint64_t gw_metrics_rules_hash(const struct gw_rule_table *t);
/* Appends the Prometheus exposition of the sum of n workers' metrics, the server's
 * figures and the process's own (memory, descriptors, CPU, start time from /proc). */
void gw_metrics_render(struct gw_buf *out, struct gw_metrics *const *m, int n,
                       const struct gw_metrics_server *s);

#endif
