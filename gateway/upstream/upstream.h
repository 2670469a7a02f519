/* Calls to the provider, per worker, on the worker's event_base. Two clients sit behind one
 * interface: the native HTTP/1.1 client (h1.c) for plain http:// providers, and a libcurl
 * multi handle (the multi_socket_action pattern of libcurl's hiperfifo example) for https,
 * proxies and anything else. Both keep connections to the provider alive and reuse them.
 * Only the owning worker thread may touch an upstream or its calls. */
#ifndef GW_UPSTREAM_UPSTREAM_H
#define GW_UPSTREAM_UPSTREAM_H

#include <curl/curl.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

struct gw_upstream;
struct gw_upcall;

struct gw_upcall_ops {
    /* Response headers are complete. */
    void (*on_headers)(void *arg, long status, const char *content_type);
    /* Body bytes. Return 0 to go on, -1 to end the transfer (on_done follows with
     * CURLE_WRITE_ERROR). */
    int (*on_data)(void *arg, const char *data, size_t len);
    /* The transfer ended; the call is freed right after this returns. */
    void (*on_done)(void *arg, CURLcode result, long status);
};

/* Replies are read as they come, never decoded: a reply with a Content-Encoding other
 * than identity ends its call with CURLE_BAD_CONTENT_ENCODING before on_headers (the caller
 * asks for identity; bytes it cannot read must not reach anyone as if screened). */
bool gw_upstream_identity(const char *content_encoding);

struct gw_upstream *gw_upstream_new(struct event_base *base, enum gw_upstream_client client);
/* Cancels every call still running (without callbacks) and frees. */
void gw_upstream_free(struct gw_upstream *u);

/* Starts a request: method NULL means POST when body != NULL, else GET; otherwise one of
 * GET, POST, PUT, PATCH, DELETE (HEAD is sent as GET). Errors reach on_done as libcurl codes whichever
 * client runs the call. The call takes ownership of headers (a list the
 * caller built for it; freed with the call, or here on failure). The body is NOT copied:
 * it must stay valid until on_done has run or the call is cancelled (the proxy hands the
 * request's own buffer, so an unchanged body is never copied). Returns the call, or NULL. */
struct gw_upcall *gw_upstream_start(struct gw_upstream *u, const char *method, const char *url,
                                    struct curl_slist *headers, const char *body, size_t len,
                                    long connect_timeout_ms, long timeout_ms,
                                    const struct gw_upcall_ops *ops, void *arg);
/* Stops a call from outside its callbacks; no callback runs afterwards. */
void gw_upcall_cancel(struct gw_upcall *c);
/* Pauses or resumes receiving (back-pressure from a slow client). */
void gw_upcall_pause(struct gw_upcall *c, bool paused);
/* Which client a call to url goes through: "native" or "libcurl" (for the start-up log). */
const char *gw_upstream_client_for(const struct gw_upstream *u, const char *url);
/* Calls in flight. */
size_t gw_upstream_active(const struct gw_upstream *u);

#endif
