/* libFuzzer target for gw_decode_find: the first byte picks max_out, the rest is the text.
 * Checks what every output must satisfy, whatever the input; see fuzz/README.md. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "screen/decode.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static const size_t max_outs[] = {0, 6, 13, 64, 4096, (size_t)1 << 30};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gw_decoded d; /* reused, as the gateway reuses it */
    if (size == 0)
        return 0;
    size_t max_out = max_outs[data[0] % (sizeof max_outs / sizeof max_outs[0])];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    /* the second byte's low bit: the ways of writing too, or the encodings only */
    bool written = size > 1 && (data[1] & 1);
    CHECK((written ? gw_decode_find_written : gw_decode_find)(text, len, max_out, &d) == 0);

    CHECK(d.text.data && d.text.data[d.text.len] == '\0');
    CHECK(d.text.len <= max_out + d.n);
    size_t pos = 0, bytes = 0, last[GW_ENC_COUNT] = {0}; /* the last start of each kind */
    size_t tail = d.n; /* the runs read in context: d.v[tail .. n), last */
    while (tail > 0 && d.v[tail - 1].enc == GW_ENC_INPLACE)
        tail--;
    size_t top = 0; /* the runs found in the text itself: d.v[0 .. top) */
    while (top < tail && d.v[top].level == 0)
        top++;
    for (size_t k = 0; k < d.n; k++) {
        const struct gw_decoded_run *r = &d.v[k];
        if (k >= tail) { /* in context: a window over code runs of level 0, in order */
            CHECK(written && r->level == 0 && r->start < r->end && r->end <= len);
            CHECK(k == tail || d.v[k - 1].end < r->start);
            bool inside = false;
            for (size_t j = 0; j < top && !inside; j++)
                inside = gw_encoding_is_code(d.v[j].enc) && d.v[j].start >= r->start &&
                         d.v[j].end <= r->end;
            CHECK(inside);
            CHECK(r->out_start == pos && r->out_end > r->out_start);
            CHECK(r->out_end < d.text.len && d.text.data[r->out_end] == '\n');
            CHECK(gw_decoded_run_at(&d, r->out_start) == r);
            bytes += r->out_end - r->out_start;
            pos = r->out_end + 1;
            continue;
        }
        CHECK(r->start < r->end && r->end <= len);               /* within the input */
        CHECK(r->out_start == pos && r->out_end > r->out_start); /* laid end to end */
        CHECK(r->out_end < d.text.len && d.text.data[r->out_end] == '\n');
        CHECK(r->out_end - r->out_start >= (written ? 3 : 6)); /* a prompt's escaped word: 3 */
        CHECK(r->enc >= GW_ENC_BASE64 && r->enc < GW_ENC_COUNT);
        if (k >= top) { /* nested: over an encoding run of the level before, read as a prompt */
            CHECK(written && r->level > 0 && r->level < GW_DECODE_LEVELS);
            bool outer = false;
            for (size_t j = 0; j < k && !outer; j++)
                outer = d.v[j].level + 1 == r->level && gw_encoding_is_code(d.v[j].enc) &&
                        d.v[j].start == r->start && d.v[j].end == r->end;
            CHECK(outer);
            CHECK(k == top || d.v[k - 1].level <= r->level);
            CHECK(gw_decoded_run_at(&d, r->out_start) == r);
            CHECK(gw_decoded_run_at(&d, r->out_end - 1) == r);
            bytes += r->out_end - r->out_start;
            pos = r->out_end + 1;
            continue;
        }
        CHECK(k == 0 || d.v[k - 1].enc <= GW_ENC_UESC || r->enc > GW_ENC_UESC); /* then these */
        /* sorted by start: the encodings together, each way of writing apart */
        enum gw_encoding kind = r->enc <= GW_ENC_UESC ? GW_ENC_BASE64 : r->enc;
        CHECK(last[kind] <= r->start);
        last[kind] = r->start;
        CHECK(gw_decoded_run_at(&d, r->out_start) == r);
        CHECK(gw_decoded_run_at(&d, r->out_end - 1) == r);
        CHECK(gw_decoded_run_at(&d, r->out_end) == NULL);
        bytes += r->out_end - r->out_start;
        pos = r->out_end + 1;
    }
    CHECK(pos == d.text.len && bytes <= max_out);
    CHECK(gw_decoded_run_at(&d, d.text.len) == NULL);
    /* the probe says yes wherever a way of writing or NATO spelling was found (character
     * codes and base32 are looked for as the encodings are: the scanner's own pre-check
     * says when) */
    bool found_written = false, found_codes = false;
    for (size_t k = 0; k < top; k++) {
        enum gw_encoding e = d.v[k].enc;
        bool codes = e == GW_ENC_DECIMAL || e == GW_ENC_BASE32;
        found_written = found_written || (e > GW_ENC_UESC && !codes);
        found_codes = found_codes || codes;
    }
    CHECK(!found_written || gw_decode_written(text, len));
    CHECK(written || (!found_written && !found_codes)); /* the encodings only, when asked */
    return 0;
}
