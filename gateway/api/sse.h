/* A server-sent events parser for provider streams: bytes in, one callback per event with
 * its name (the event: field; Anthropic's and the Responses API's streams are typed by it)
 * and its data (multi-line data joined with \n). Handles \n and \r\n line ends and events
 * split across reads. */
#ifndef GW_API_SSE_H
#define GW_API_SSE_H

#include <stddef.h>

#include "util/buf.h"

/* The largest event (and line) accepted: past it, parsing fails rather than buffering
 * without bound. */
#define GW_SSE_MAX_EVENT (4u << 20)

/* event is the event's name, "" when it had none. Returns 0 to go on, -1 to stop parsing. */
typedef int (*gw_sse_event_fn)(void *arg, const char *event, const char *data, size_t len);

#define GW_SSE_MAX_NAME 64

struct gw_sse {
    struct gw_buf pending; /* an incomplete line */
    struct gw_buf data;    /* the current event's data */
    int has_data;
    char event[GW_SSE_MAX_NAME]; /* the current event's name */
};

/* Feeds bytes; calls fn for each complete event. Returns 0, or -1 if fn stopped it or an
 * event grew past GW_SSE_MAX_EVENT. */
int gw_sse_feed(struct gw_sse *p, const char *bytes, size_t len, gw_sse_event_fn fn, void *arg);
void gw_sse_free(struct gw_sse *p);

#endif
