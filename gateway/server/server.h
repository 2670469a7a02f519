/* The gateway server: N worker threads, each with its own event_base, an evhttp on a
 * SO_REUSEPORT listener, a libcurl multi handle on the same base, and its own scanner.
 * Workers share nothing but the immutable ruleset (by reference count) and the incident
 * queue. */
#ifndef GW_SERVER_SERVER_H
#define GW_SERVER_SERVER_H

#include <event2/event.h>
#include <event2/http.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "config/config.h"
#include "incidents/incidents.h"
#include "screen/scan.h"
#include "server/conn.h"
#include "server/metrics.h"
#include "upstream/upstream.h"
#include "util/buf.h"

struct gw_server;
struct gw_req;

struct gw_worker {
    struct gw_server *srv;
    int index;
    pthread_t thread;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct gw_upstream *up;
    struct gw_ruleset *rs; /* this worker's reference to the current rules */
    gw_scanner *scanner;
    struct event *wake; /* activated from other threads: reload, drain */
    struct gw_req *reqs; /* requests in flight, in a list */
    struct gw_conn **conns; /* client connections by descriptor (conn.c) */
    size_t nconn_slots;
    struct event *pause_timer; /* the listener paused: out of descriptors, or at the cap */
    bool paused;
    long backoff_ms;
    time_t paused_logged;
    int accept_errno;
    size_t inflight;
    bool draining;
    uint64_t rng;
    struct gw_metrics *metrics;  /* written by this worker only */
    struct gw_findings findings; /* reused per scan */
    struct gw_buf tmp;           /* reused per scan */
    struct gw_buf scratch;       /* reused per stream event */
    /* set by other threads, read when wake fires */
    pthread_mutex_t mu;
    struct gw_ruleset *next_rs;
    bool drain_requested;
    bool drain_expired; /* the drain timeout passed: end what is still in flight */
};

struct gw_server {
    struct gw_config *cfg;
    struct gw_incidents *incidents;
    int nworkers;
    struct gw_worker *workers;
    atomic_int running; /* workers whose loop is running */
    atomic_uint rules_loaded; /* rules in the newest ruleset (for /metrics) */
    atomic_uint packs_removed; /* packs a reload found gone (for /metrics) */
    _Atomic uint64_t reloads[3]; /* SIGHUP: loaded, failed, a required pack missing */
    _Atomic uint64_t rules_hash; /* gw_metrics_rules_hash of the newest ruleset */
    struct gw_front_stats front; /* client connections (conn.c) */
    struct gw_ruleset *current; /* the newest ruleset (main thread): reloads compare packs */
    int port;
    uint8_t hash_key[16]; /* key of the incident hashes */
    gw_record_sink sink;  /* where request records go after the incident log (KPI store) */
    void *sink_arg;
    bool fault_screen; /* GUARDRAIL_FAULT=screen: every scan fails (tests of fail_mode) */
};

/* Builds the server on a loaded ruleset and binds the listeners. Request records go to the
 * incident log (if configured) and then to sink (may be NULL). Returns 0 or -1 (logged). */
int gw_server_init(struct gw_server *srv, struct gw_config *cfg, struct gw_ruleset *rs,
                   gw_record_sink sink, void *sink_arg);
/* Runs until SIGTERM/SIGINT (then drains, bounded) and returns 0. */
int gw_server_run(struct gw_server *srv);
/* Readies a freshly loaded ruleset for serving (the policies' views of it, its screen
 * cache), before any worker gets it: at start and at each reload. -1 with err when a
 * policy names a pack or rule the rules lack (a reload then keeps the old rules). */
int gw_server_prepare_rules(const struct gw_config *cfg, struct gw_ruleset *rs, char *err,
                            size_t errlen);
void gw_server_free(struct gw_server *srv);
/* The first pack of cfg's required_packs that rs lacks, or NULL. */
const char *gw_server_missing_pack(const struct gw_config *cfg, const struct gw_ruleset *rs);

/* Whether every Content-Length header of a request is one run of digits and all say the
 * same (else the bytes after the body may be a smuggled request): both listeners check. */
struct evkeyvalq;
bool gw_content_length_ok(const struct evkeyvalq *h);

/* ---- for the request path (proxy.c) ---- */

/* Answers a request with evhttp's error status (400, 413, 417, 502 ...) as JSON, without
 * counting it: for a request whose answer its record already counts. (evhttp_send_error,
 * which this file replaces, counts and then calls this.) */
void gw_send_evhttp_error(struct evhttp_request *req, int error);

/* A worker reports a request done (for draining). */
void gw_worker_request_done(struct gw_worker *w);

#endif
