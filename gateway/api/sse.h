/* A server-sent events parser for provider streams: bytes in, one callback per event with
 * its name (the event: field; Anthropic's and the Responses API's streams are typed by it)
 * and its data (multi-line data joined with \n). Handles \n and \r\n line ends and events
 * split across reads. What it cannot read it refuses, and says why (gw_sse_error): the
 * gateway screens only the events it read, so a stream it cannot read ends with an error. */
#ifndef GW_API_SSE_H
#define GW_API_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* The largest event (and line) accepted: past it, parsing fails rather than buffering
 * without bound. */
#define GW_SSE_MAX_EVENT (4u << 20)

/* event is the event's name, "" when it had none. Returns 0 to go on, -1 to stop parsing. */
typedef int (*gw_sse_event_fn)(void *arg, const char *event, const char *data, size_t len);

#define GW_SSE_MAX_NAME 64

/* Why a parse failed. */
enum gw_sse_error {
    GW_SSE_OK,
    GW_SSE_STOPPED,   /* the callback stopped it */
    GW_SSE_TOO_LONG,  /* a line or an event over GW_SSE_MAX_EVENT */
    GW_SSE_BARE_CR,   /* a line ended by a CR alone (legal SSE that no provider sends: the
                         parser does not split there, so it refuses rather than misread) */
    GW_SSE_BAD_NAME,  /* an event: name over GW_SSE_MAX_NAME, or with a NUL */
    GW_SSE_TRUNCATED, /* the stream ended inside a line or an event (gw_sse_end) */
};

struct gw_sse {
    struct gw_buf pending; /* an incomplete line */
    struct gw_buf data;    /* the current event's data */
    int has_data;
    bool cr;                     /* the last byte fed was a CR: the next must be a LF */
    enum gw_sse_error error;     /* why the last call returned -1 */
    char event[GW_SSE_MAX_NAME]; /* the current event's name */
};

/* Feeds bytes; calls fn for each complete event. Returns 0, or -1 (p->error says why) if
 * fn stopped it or the bytes cannot be read. */
int gw_sse_feed(struct gw_sse *p, const char *bytes, size_t len, gw_sse_event_fn fn, void *arg);
/* The stream ended: returns 0, or -1 (GW_SSE_TRUNCATED) when it ended inside a line or an
 * event, whose bytes are then never delivered. */
int gw_sse_end(struct gw_sse *p);
/* What the error means, for logs and the client's error event. */
const char *gw_sse_strerror(enum gw_sse_error e);
void gw_sse_free(struct gw_sse *p);

#endif
