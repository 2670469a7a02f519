/* gw_buf: a growable byte buffer, always NUL-terminated so it can be read as a C string.
 * Buffers are meant to be reused (gw_buf_reset keeps the allocation). */
#ifndef GW_UTIL_BUF_H
#define GW_UTIL_BUF_H

#include <stddef.h>

struct gw_buf {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;
};

/* All return 0, or -1 when memory runs out (the buffer is left as it was). */
int gw_buf_reserve(struct gw_buf *b, size_t extra);
int gw_buf_append(struct gw_buf *b, const void *data, size_t len);
int gw_buf_puts(struct gw_buf *b, const char *s);
int gw_buf_printf(struct gw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Removes the first n bytes. */
void gw_buf_consume(struct gw_buf *b, size_t n);
void gw_buf_reset(struct gw_buf *b);
void gw_buf_free(struct gw_buf *b);

/* Makes room for one more element in an array grown by doubling: *vp points at n used of
 * *cap allocated elements of elem bytes (first: the capacity to start with). Returns 0,
 * or -1 when memory runs out (the array is left as it was). Used as
 * gw_grow(&a->v, &a->cap, a->n, sizeof *a->v, 8). */
int gw_grow(void *vp, size_t *cap, size_t n, size_t elem, size_t first);

#endif
