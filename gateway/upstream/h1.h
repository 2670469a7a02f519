/* The native provider client: HTTP/1.1 over plain TCP on the worker's own event_base, with
 * a pool of keep-alive connections per host. It exists for speed (no libcurl bookkeeping, no
 * poll() per transfer, the request body sent from the caller's buffer by reference) and
 * handles exactly what an OpenAI-compatible provider on http:// needs: POST or GET, a
 * Content-Length request body, and replies framed by Content-Length, chunked encoding or
 * the end of the connection. TLS, proxies and everything else go through libcurl
 * (upstream.c decides). Only the owning worker thread may touch a client or its calls. */
#ifndef GW_UPSTREAM_H1_H
#define GW_UPSTREAM_H1_H

#include <curl/curl.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "upstream/upstream.h"

struct gw_h1;
struct gw_h1_call;

struct gw_h1 *gw_h1_new(struct event_base *base);
/* Frees idle connections and the resolver; every call must have ended or been cancelled. */
void gw_h1_free(struct gw_h1 *h);

/* True when url is one the native client can call: http://host[:port][/path], no user
 * name or password in it. */
bool gw_h1_can_call(const char *url);

/* As gw_upstream_start, except that method is required (a static string: it is kept, not
 * copied), and headers stay the caller's (read again if the request
 * is retried on a fresh connection, so they must live until on_done). Errors are reported
 * with the codes libcurl gives for the same failure (every timeout, the connect timeout
 * included, is CURLE_OPERATION_TIMEDOUT) so that callers need not care which client ran.
 * Never runs a callback before it returns; returns NULL on a bad URL or header, or out of
 * memory. */
struct gw_h1_call *gw_h1_start(struct gw_h1 *h, const char *method, const char *url,
                               const struct curl_slist *headers,
                               const char *body, size_t len, long connect_timeout_ms,
                               long timeout_ms, const struct gw_upcall_ops *ops, void *arg);
/* Stops a call from outside its callbacks; no callback runs afterwards. */
void gw_h1_cancel(struct gw_h1_call *c);
void gw_h1_pause(struct gw_h1_call *c, bool paused);

/* Connections open to providers (idle and busy), for tests. */
size_t gw_h1_connections(const struct gw_h1 *h);

#endif
