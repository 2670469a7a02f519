#include "api/sse.h"

#include <string.h>

static int line(struct gw_sse *p, const char *s, size_t n, gw_sse_event_fn fn, void *arg)
{
    if (n > 0 && s[n - 1] == '\r')
        n--;
    if (n == 0) { /* a blank line ends the event */
        if (!p->has_data) {
            p->event[0] = '\0';
            return 0;
        }
        p->has_data = 0;
        int rc = fn(arg, p->event, p->data.data, p->data.len);
        gw_buf_reset(&p->data);
        p->event[0] = '\0';
        if (rc)
            p->error = GW_SSE_STOPPED;
        return rc;
    }
    if (n >= 6 && memcmp(s, "event:", 6) == 0) {
        s += 6, n -= 6;
        if (n > 0 && *s == ' ')
            s++, n--;
        if (n >= sizeof p->event || memchr(s, '\0', n)) {
            p->error = GW_SSE_BAD_NAME; /* no API has such a name: refuse rather than cut it */
            return -1;
        }
        memcpy(p->event, s, n);
        p->event[n] = '\0';
        return 0;
    }
    if (n >= 5 && memcmp(s, "data:", 5) == 0) {
        s += 5, n -= 5;
        if (n > 0 && *s == ' ')
            s++, n--;
        if (p->data.len + n + 1 > GW_SSE_MAX_EVENT) {
            p->error = GW_SSE_TOO_LONG;
            return -1;
        }
        if (p->has_data)
            gw_buf_append(&p->data, "\n", 1);
        gw_buf_append(&p->data, s, n);
        p->has_data = 1;
    }
    /* id:, retry: and comments carry nothing the APIs use */
    return 0;
}

/* Whether bytes hold a CR that is not the first half of a CRLF (one at their very end is
 * decided by the next bytes). */
static bool bare_cr(struct gw_sse *p, const char *bytes, size_t len)
{
    if (p->cr && bytes[0] != '\n')
        return true;
    for (const char *c = bytes, *end = bytes + len; (c = memchr(c, '\r', (size_t)(end - c))); c++)
        if (c + 1 < end && c[1] != '\n')
            return true;
    p->cr = bytes[len - 1] == '\r';
    return false;
}

int gw_sse_feed(struct gw_sse *p, const char *bytes, size_t len, gw_sse_event_fn fn, void *arg)
{
    p->error = GW_SSE_OK;
    if (len > 0 && bare_cr(p, bytes, len)) {
        p->error = GW_SSE_BARE_CR;
        return -1;
    }
    while (len > 0) {
        const char *nl = memchr(bytes, '\n', len);
        if (!nl) {
            if (p->pending.len + len > GW_SSE_MAX_EVENT) {
                /* a line that never ends: a broken or hostile provider */
                p->error = GW_SSE_TOO_LONG;
                return -1;
            }
            gw_buf_append(&p->pending, bytes, len);
            return 0;
        }
        size_t n = (size_t)(nl - bytes);
        int rc;
        if (p->pending.len) {
            if (p->pending.len + n > GW_SSE_MAX_EVENT) {
                p->error = GW_SSE_TOO_LONG;
                return -1;
            }
            gw_buf_append(&p->pending, bytes, n);
            rc = line(p, p->pending.data, p->pending.len, fn, arg);
            gw_buf_reset(&p->pending);
        } else {
            rc = line(p, bytes, n, fn, arg);
        }
        if (rc)
            return -1;
        bytes += n + 1;
        len -= n + 1;
    }
    return 0;
}

int gw_sse_end(struct gw_sse *p)
{
    p->error = p->pending.len || p->has_data ? GW_SSE_TRUNCATED : GW_SSE_OK;
    return p->error == GW_SSE_OK ? 0 : -1;
}

const char *gw_sse_strerror(enum gw_sse_error e)
{
    switch (e) {
    case GW_SSE_OK:
        return "no error";
    case GW_SSE_STOPPED:
        return "stopped by its reader";
    case GW_SSE_TOO_LONG:
        return "a line or an event over 4 MiB";
    case GW_SSE_BARE_CR:
        return "a line ended by a bare CR";
    case GW_SSE_BAD_NAME:
        return "an event name the gateway cannot hold";
    case GW_SSE_TRUNCATED:
        return "it ended inside an event";
    }
    return "unknown";
}

void gw_sse_free(struct gw_sse *p)
{
    gw_buf_free(&p->pending);
    gw_buf_free(&p->data);
}
