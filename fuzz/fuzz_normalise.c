/* libFuzzer target for the normaliser (screen/normalise.c): the first byte's bit 0 sets
 * the second view (invisible separators as spaces), bit 1 the render view (markup read as
 * shown, as replies are), the rest is the text. It is normalised
 * whole (gw_norm_text), and as a stream (gw_norm_feed in pieces cut at places derived
 * from the input, forgetting what is behind now and then, then gw_norm_finish).
 *
 * Checks: the normal form is valid UTF-8; a plain text (gw_norm_is_plain, and without
 * markup in the render view) is its own normal form; the map is monotonic, inside the original,
 * ends at its end, and gives every normalised byte at least one original byte; the stream gives the
 * same bytes, the same separator count and the same map (over what it has not forgotten) as the
 * whole text. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "screen/normalise.h"

/* Whether s is UTF-8 (shortest forms, no surrogates, nothing past U+10FFFF). */
static bool utf8_valid(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
                 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (n == 0 || i + n > len)
            return false;
        unsigned cp = n == 1 ? c : c & (0x7F >> n);
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000))
            return false;
        i += n;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gw_norm whole, stream; /* reused, as a scanner reuses them */
    if (size == 0)
        return 0;
    bool sep_space = data[0] & 1, render = data[0] & 2;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    gw_norm_reset(&whole);
    whole.sep_space = sep_space;
    whole.render = render;
    CHECK(gw_norm_text(&whole, text, len) == 0);
    size_t total = gw_norm_total(&whole);
    const char *out = whole.text.data ? whole.text.data : "";
    CHECK(whole.base == 0 && whole.in == len);
    CHECK(utf8_valid((const unsigned char *)out, total));
    if (gw_norm_is_plain(text, len) && !(render && gw_norm_has_markup(text, len)))
        CHECK(total == len && memcmp(out, text, len) == 0);
    size_t *start = malloc((total + 1) * sizeof *start), *end = malloc((total + 1) * sizeof *end);
    CHECK(start && end);
    for (size_t n = 0; n <= total; n++) {
        start[n] = gw_norm_start(&whole, n);
        end[n] = gw_norm_end(&whole, n);
        CHECK(start[n] <= len && end[n] <= len);
        CHECK(n == 0 || (start[n - 1] <= start[n] && end[n - 1] <= end[n]));
        CHECK(n == 0 || start[n - 1] < end[n]); /* byte n - 1 comes from something */
    }
    CHECK(end[0] == 0 && (total == 0 || end[total] == len)); /* 0: all removed */

    gw_norm_reset(&stream);
    stream.sep_space = sep_space;
    stream.render = render;
    struct gw_buf got = {0};
    struct fuzz_cuts cuts;
    fuzz_cuts_init(&cuts, data, size);
    for (size_t at = 0; at <= len;) {
        if (at < len) {
            size_t n = fuzz_cuts_next(&cuts, len - at);
            CHECK(gw_norm_feed(&stream, text + at, n) == 0);
            at += n;
        } else {
            CHECK(gw_norm_finish(&stream) == 0);
            at++;
        }
        size_t seen = got.len; /* what came out so far, kept before it is forgotten */
        CHECK(seen >= stream.base && gw_norm_total(&stream) >= seen);
        if (gw_norm_total(&stream) > seen)
            CHECK(gw_buf_append(&got, stream.text.data + (seen - stream.base),
                                gw_norm_total(&stream) - seen) == 0);
        if (cuts.state % 3 == 0) /* forget a part of what is out, as a scanner does */
            gw_norm_forget(&stream, seen + (gw_norm_total(&stream) - seen) / 2);
    }
    CHECK(stream.in == len && stream.npend == 0 && stream.seps == whole.seps);
    CHECK(got.len == total && (total == 0 || memcmp(got.data, out, total) == 0));
    for (size_t n = stream.base; n <= total; n++) {
        CHECK(gw_norm_start(&stream, n) == start[n]);
        CHECK(n == stream.base || gw_norm_end(&stream, n) == end[n]);
    }
    gw_buf_free(&got);
    free(start);
    free(end);
    return 0;
}
