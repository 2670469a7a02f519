/* The client connections of a worker, below the requests: counted and capped, each
 * request's header block and body read against deadlines, a client that goes away while
 * its request is in flight noticed, and the listener paused with a back-off when the
 * process is out of descriptors.
 *
 * evhttp (libevent 2.1) has one inactivity timer per connection and no hook for a new
 * connection or the start of a request. We create each connection's bufferevent
 * (evhttp_set_bevcb), watch the bytes that arrive in its input buffer (evbuffer_add_cb: a
 * request's first byte starts the header deadline, the blank line that ends its headers
 * starts the body deadline), and own the connection's close callback: the proxy hooks in
 * through gw_conn_watch. */
#ifndef GW_SERVER_CONN_H
#define GW_SERVER_CONN_H

#include <event2/http.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"

struct gw_worker;

/* Counters of the front door for /metrics, shared by the workers. */
struct gw_front_stats {
    atomic_int open;                   /* client connections open now */
    _Atomic uint64_t accepted;         /* client connections accepted */
    _Atomic uint64_t timeouts[2];      /* 408s: header block, body */
    _Atomic uint64_t gone;             /* clients that left with their request in flight */
    _Atomic uint64_t paused_cap;       /* times a listener paused at the connection cap */
    _Atomic uint64_t accept_errors;    /* accept() failures (out of descriptors) */
    atomic_size_t replies_held;        /* bytes of replies read whole, not yet sent */
    _Atomic uint64_t reply_refused[2]; /* over limits.max_reply_bytes, over the budget */
};

/* Appends the front door's counters to a /metrics page. */
void gw_front_render(struct gw_buf *out, struct gw_front_stats *f);

/* Readies w's evhttp (before its listener is bound) for counting and deadlines. */
int gw_conns_init(struct gw_worker *w);
/* Watches w's listener for accept errors (after it is bound). */
void gw_conns_listen(struct gw_worker *w);
/* Stops the pause timer (the listener is going away). */
void gw_conns_stop(struct gw_worker *w);
void gw_conns_free(struct gw_worker *w);

/* The request has been read whole and handed to the gateway: its deadlines end. */
void gw_conn_request_read(struct gw_worker *w, struct evhttp_request *req);

/* Calls gone(arg) when the client connection of req closes, or when the client closes its
 * end while the request is in flight (the connection is then freed). Returns false (and
 * hooks nothing) when the connection is unknown. */
bool gw_conn_watch(struct gw_worker *w, struct evhttp_connection *conn, void (*gone)(void *),
                   void *arg);
/* Undoes gw_conn_watch: the reply is complete, or abandoned. */
void gw_conn_unwatch(struct gw_worker *w, struct evhttp_connection *conn);

/* Backs a listener other than the workers' (the admin listener, the built-in mock) off when
 * accept() fails (out of descriptors), on base, with name in the log. 0 or -1. Unguard it
 * before it is freed. */
int gw_listener_guard(struct evhttp_bound_socket *bound, struct event_base *base,
                      const char *name);
void gw_listener_unguard(struct evhttp_bound_socket *bound);

/* Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now. */
long gw_raise_nofile(void);

#endif
