/* Writing JSON strings without building a cJSON tree: the hot paths (the scan command,
 * stream chunks, incidents) only need to quote text. */
#ifndef GW_UTIL_JSON_H
#define GW_UTIL_JSON_H

#include <stddef.h>

#include "util/buf.h"

/* Appends s as a quoted JSON string. Control characters and the line breaks U+0085,
 * U+2028 and U+2029 are escaped; other bytes >= 0x80 are
 * copied as they are, except that invalid UTF-8 becomes U+FFFD so the output stays valid.
 * Returns 0 or -1. */
int gw_json_quote(struct gw_buf *out, const char *s, size_t len);
/* Length of the valid UTF-8 character at s (1 to 4 bytes, at most n), or 0 when the bytes
 * there are not one (overlong, a surrogate, past U+10FFFF, cut short). n must be >= 1. */
size_t gw_utf8_seq(const unsigned char *s, size_t n);

#endif
