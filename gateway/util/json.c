#include "util/json.h"

#include <stdbool.h>

size_t gw_utf8_seq(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    unsigned min;
    unsigned cp;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2, min = 0x80, cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3, min = 0x800, cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4, min = 0x10000, cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

int gw_json_quote(struct gw_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    if (gw_buf_reserve(out, len + 2) == -1 || gw_buf_append(out, "\"", 1) == -1)
        return -1;
    size_t run = 0; /* bytes copied as they are, flushed in one append */
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        const char *esc = NULL;
        char u[7];
        size_t seq = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20) {
            u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0', u[4] = hex[c >> 4];
            u[5] = hex[c & 15], u[6] = '\0';
            esc = u;
        } else if (c >= 0x80 && (seq = gw_utf8_seq(p + i, len - i)) == 0) {
            esc = "\xEF\xBF\xBD";
            seq = 1;
        } else if (seq == 2 && c == 0xC2 && p[i + 1] == 0x85) {
            esc = "\\u0085"; /* line breaks to many readers (Python's splitlines) */
        } else if (seq == 3 && c == 0xE2 && p[i + 1] == 0x80 && (p[i + 2] & 0xFE) == 0xA8) {
            esc = p[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
        }
        if (esc) {
            if (gw_buf_append(out, s + i - run, run) == -1 || gw_buf_puts(out, esc) == -1)
                return -1;
            run = 0;
            i += seq;
        } else {
            run += seq;
            i += seq;
        }
    }
    if (gw_buf_append(out, s + len - run, run) == -1)
        return -1;
    return gw_buf_append(out, "\"", 1);
}
