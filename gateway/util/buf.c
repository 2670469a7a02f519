#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gw_buf_reserve(struct gw_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int gw_grow(void *vp, size_t *cap, size_t n, size_t elem, size_t first)
{
    if (n < *cap)
        return 0;
    size_t want = *cap ? *cap * 2 : first;
    void *v;
    memcpy(&v, vp, sizeof v);
    if (want < *cap || want > (size_t)-1 / elem || !(v = realloc(v, want * elem)))
        return -1;
    memcpy(vp, &v, sizeof v);
    *cap = want;
    return 0;
}

int gw_buf_append(struct gw_buf *b, const void *data, size_t len)
{
    if (gw_buf_reserve(b, len) == -1)
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int gw_buf_puts(struct gw_buf *b, const char *s)
{
    return gw_buf_append(b, s, strlen(s));
}

int gw_buf_printf(struct gw_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || gw_buf_reserve(b, (size_t)n) == -1)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void gw_buf_consume(struct gw_buf *b, size_t n)
{
    if (n >= b->len) {
        gw_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

void gw_buf_reset(struct gw_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void gw_buf_free(struct gw_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
