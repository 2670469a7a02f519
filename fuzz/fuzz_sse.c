/* libFuzzer target for the SSE parser (api/sse.c): the input is a provider's stream, fed
 * once whole and once in pieces cut at places derived from the input, then ended
 * (gw_sse_end). Checks: an event's name is under GW_SSE_MAX_NAME bytes and holds no LF;
 * both readings give the same result, and when they succeed the same events (name and
 * data) and the same end. When they fail (bytes it cannot read, or an event whose data is
 * "STOP", which the callback stops at), the events of one are a prefix of the other's:
 * bytes it refuses fail the whole read they come in, so the events before them in that
 * read are never delivered, and a reading in pieces delivers the earlier pieces' ones. */
#include <string.h>

#include "api/sse.h"
#include "fuzz.h"

/* The events seen, laid end to end: name, NUL, data length, data. */
static int record(void *arg, const char *event, const char *data, size_t len)
{
    struct gw_buf *b = arg;
    size_t n = strlen(event);
    CHECK(n < GW_SSE_MAX_NAME && !memchr(event, '\n', n));
    CHECK(data || len == 0);
    CHECK(gw_buf_append(b, event, n + 1) == 0);
    CHECK(gw_buf_append(b, &len, sizeof len) == 0);
    CHECK(gw_buf_append(b, data, len) == 0);
    return len == 4 && memcmp(data, "STOP", 4) == 0 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct gw_buf whole = {0}, cut = {0};
    struct gw_sse p = {0};
    int rc_whole = gw_sse_feed(&p, in, size, record, &whole);
    int end_whole = rc_whole == 0 ? gw_sse_end(&p) : -1;
    gw_sse_free(&p);
    memset(&p, 0, sizeof p);

    struct fuzz_cuts cuts;
    fuzz_cuts_init(&cuts, data, size);
    int rc_cut = 0;
    for (size_t at = 0; at < size && rc_cut == 0;) {
        size_t n = fuzz_cuts_next(&cuts, size - at);
        rc_cut = gw_sse_feed(&p, in + at, n, record, &cut);
        at += n;
    }
    int end_cut = rc_cut == 0 ? gw_sse_end(&p) : -1;
    gw_sse_free(&p);

    CHECK(rc_whole == rc_cut && end_whole == end_cut);
    size_t common = whole.len < cut.len ? whole.len : cut.len;
    CHECK(rc_whole != 0 || whole.len == cut.len);
    CHECK(common == 0 || memcmp(whole.data, cut.data, common) == 0);
    gw_buf_free(&whole);
    gw_buf_free(&cut);
    return 0;
}
