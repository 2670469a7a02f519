/* The request path: one request of a client API (api/api.h) from the handler to its
 * answer, and passthrough. The server routes to these; they run on the worker's loop. */
#ifndef GW_SERVER_PROXY_H
#define GW_SERVER_PROXY_H

#include <event2/http.h>
#include <stdbool.h>

#include "screen/scan.h"

struct gw_worker;
struct gw_api;

/* Sends an error in api's shape (OpenAI's when api is NULL) and finishes the request. */
void gw_send_api_error(struct evhttp_request *req, const struct gw_api *api, const char *reqid,
                       int status, const char *message, const char *type, const char *param,
                       const char *code);
/* Sends an OpenAI-shaped error and finishes the request. */
void gw_send_error(struct evhttp_request *req, const char *reqid, int status, const char *message,
                   const char *type, const char *param, const char *code);
/* Counts an answer the worker gives before any request state exists (an unknown path, a
 * refused method or body) in w's metrics, then sends it as gw_send_api_error does. */
void gw_answer_early(struct gw_worker *w, struct evhttp_request *req, const struct gw_api *api,
                     const char *reqid, int status, const char *message, const char *type,
                     const char *param, const char *code);
/* Handles a generating call of a client API (POST on its route). */
void gw_proxy_api(struct gw_worker *w, const struct gw_api *api, struct evhttp_request *req,
                  const char *reqid);
/* A stored object of a client API (GET, DELETE or POST .../cancel on /v1/responses/{id},
 * and what lies under it): the provider's answer is screened whole, like an error's, before
 * the client gets it. method is a static string. */
void gw_proxy_stored(struct gw_worker *w, const struct gw_api *api, struct evhttp_request *req,
                     const char *reqid, const char *method, const char *path);
/* Forwards a passthrough request unscreened, with its method (a static string). */
void gw_proxy_passthrough(struct gw_worker *w, struct evhttp_request *req, const char *reqid,
                          const char *method, const char *path);
/* The client's connection closed, or evhttp re-dispatched a failed request to us: ends
 * the request's upstream call and frees it. */
void gw_proxy_abort(struct gw_worker *w, struct evhttp_request *req);
/* The drain timeout passed: ends every request of the worker still in flight, each the
 * way its API ends: a stream with an error event (and [DONE]) and the end of its chunked
 * reply, any other with a 503. */
void gw_proxy_shutdown(struct gw_worker *w);

#endif
