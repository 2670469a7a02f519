/* libFuzzer target for the SSE parser (api/sse.c): the input is a provider's stream, fed
 * once whole and once in pieces cut at places derived from the input. Checks: both give
 * the same events (name and data) and the same result; an event's name is under
 * GW_SSE_MAX_NAME bytes and holds no LF (the parser ends lines at LF and CRLF only). An event whose data is "STOP" stops
 * the parse (the callback's -1), which must stop both alike. */
#include <string.h>

#include "api/sse.h"
#include "fuzz.h"

/* The events seen, laid end to end: name, NUL, data length, data. */
static int record(void *arg, const char *event, const char *data, size_t len)
{
    struct gw_buf *b = arg;
    size_t n = strlen(event);
    CHECK(n < GW_SSE_MAX_NAME && !memchr(event, '\n', n)); /* a lone CR is no line end here */
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
    gw_sse_free(&p);

    CHECK(rc_whole == rc_cut);
    CHECK(whole.len == cut.len && (whole.len == 0 || memcmp(whole.data, cut.data, whole.len) == 0));
    gw_buf_free(&whole);
    gw_buf_free(&cut);
    return 0;
}
