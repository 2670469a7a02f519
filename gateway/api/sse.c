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
        return rc;
    }
    if (n >= 6 && memcmp(s, "event:", 6) == 0) {
        s += 6, n -= 6;
        if (n > 0 && *s == ' ')
            s++, n--;
        if (n >= sizeof p->event || memchr(s, '\0', n))
            return -1; /* no API has such a name: refuse rather than cut it */
        memcpy(p->event, s, n);
        p->event[n] = '\0';
        return 0;
    }
    if (n >= 5 && memcmp(s, "data:", 5) == 0) {
        s += 5, n -= 5;
        if (n > 0 && *s == ' ')
            s++, n--;
        if (p->data.len + n + 1 > GW_SSE_MAX_EVENT)
            return -1;
        if (p->has_data)
            gw_buf_append(&p->data, "\n", 1);
        gw_buf_append(&p->data, s, n);
        p->has_data = 1;
    }
    /* id:, retry: and comments carry nothing the APIs use */
    return 0;
}

int gw_sse_feed(struct gw_sse *p, const char *bytes, size_t len, gw_sse_event_fn fn, void *arg)
{
    while (len > 0) {
        const char *nl = memchr(bytes, '\n', len);
        if (!nl) {
            if (p->pending.len + len > GW_SSE_MAX_EVENT)
                return -1; /* a line that never ends: a broken or hostile provider */
            gw_buf_append(&p->pending, bytes, len);
            return 0;
        }
        size_t n = (size_t)(nl - bytes);
        int rc;
        if (p->pending.len) {
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

void gw_sse_free(struct gw_sse *p)
{
    gw_buf_free(&p->pending);
    gw_buf_free(&p->data);
}
