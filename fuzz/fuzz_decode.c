/* libFuzzer target for gw_decode_find: the first byte picks max_out, the rest is the text.
 * Checks what every output must satisfy, whatever the input; see fuzz/README.md. */
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
    CHECK(gw_decode_find(text, len, max_out, &d) == 0);

    CHECK(d.text.data && d.text.data[d.text.len] == '\0');
    CHECK(d.text.len <= max_out + d.n);
    size_t pos = 0, bytes = 0;
    for (size_t k = 0; k < d.n; k++) {
        const struct gw_decoded_run *r = &d.v[k];
        CHECK(r->start < r->end && r->end <= len);               /* within the input */
        CHECK(k == 0 || d.v[k - 1].start <= r->start);           /* sorted */
        CHECK(r->out_start == pos && r->out_end > r->out_start); /* laid end to end */
        CHECK(r->out_end < d.text.len && d.text.data[r->out_end] == '\n');
        CHECK(r->out_end - r->out_start >= 6);
        CHECK(r->enc == GW_ENC_BASE64 || r->enc == GW_ENC_HEX || r->enc == GW_ENC_URL ||
              r->enc == GW_ENC_ENTITY || r->enc == GW_ENC_UESC);
        CHECK(gw_decoded_run_at(&d, r->out_start) == r);
        CHECK(gw_decoded_run_at(&d, r->out_end - 1) == r);
        CHECK(gw_decoded_run_at(&d, r->out_end) == NULL);
        bytes += r->out_end - r->out_start;
        pos = r->out_end + 1;
    }
    CHECK(pos == d.text.len && bytes <= max_out);
    CHECK(gw_decoded_run_at(&d, d.text.len) == NULL);
    return 0;
}
