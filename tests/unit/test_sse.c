#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "adapters/sse.h"

/* Collects each event's data, joined with '|'. */
static int collect(void *arg, const char *data, size_t len)
{
    struct gw_buf *b = arg;
    if (b->len)
        gw_buf_append(b, "|", 1);
    gw_buf_append(b, data, len);
    return 0;
}

static void feed_all(const char *text, size_t step, struct gw_buf *out)
{
    struct gw_sse p = {0};
    size_t len = strlen(text);
    for (size_t i = 0; i < len; i += step)
        assert_int_equal(gw_sse_feed(&p, text + i, len - i < step ? len - i : step, collect, out), 0);
    gw_sse_free(&p);
}

static void events_come_out_whole_however_the_bytes_are_cut(void **state)
{
    const char *text = "data: {\"a\":1}\n\ndata: [DONE]\n\n";
    for (size_t step = 1; step <= strlen(text); step++) {
        struct gw_buf out = {0};
        feed_all(text, step, &out);
        assert_string_equal(out.data, "{\"a\":1}|[DONE]");
        gw_buf_free(&out);
    }
}

static void crlf_multiline_data_comments_and_other_fields(void **state)
{
    struct gw_buf out = {0};
    feed_all(": keep-alive\r\nevent: message\r\nid: 7\r\ndata: one\r\ndata:two\r\n\r\n"
             "retry: 10\n\n",
             5, &out);
    assert_string_equal(out.data, "one\ntwo"); /* an event without data is no event */
    gw_buf_free(&out);
}

static void an_unterminated_event_is_not_delivered(void **state)
{
    struct gw_buf out = {0};
    feed_all("data: half", 3, &out);
    assert_null(out.data);
    gw_buf_free(&out);
}

static void a_line_that_never_ends_fails_instead_of_growing(void **state)
{
    struct gw_sse p = {0};
    struct gw_buf out = {0};
    size_t n = 64 * 1024;
    char *chunk = malloc(n);
    memset(chunk, 'x', n);
    assert_int_equal(gw_sse_feed(&p, "data: ", 6, collect, &out), 0);
    int rc = 0;
    for (size_t total = 0; rc == 0 && total <= GW_SSE_MAX_EVENT + n; total += n)
        rc = gw_sse_feed(&p, chunk, n, collect, &out);
    assert_int_equal(rc, -1);
    assert_true(p.pending.len <= GW_SSE_MAX_EVENT);
    free(chunk);
    gw_sse_free(&p);
    gw_buf_free(&out);
}

static int stop(void *arg, const char *data, size_t len)
{
    (*(int *)arg)++;
    return -1;
}

static void a_callback_can_stop_the_parse(void **state)
{
    struct gw_sse p = {0};
    int calls = 0;
    assert_int_equal(gw_sse_feed(&p, "data: x\n\ndata: y\n\n", 18, stop, &calls), -1);
    assert_int_equal(calls, 1);
    gw_sse_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(events_come_out_whole_however_the_bytes_are_cut),
        cmocka_unit_test(crlf_multiline_data_comments_and_other_fields),
        cmocka_unit_test(an_unterminated_event_is_not_delivered),
        cmocka_unit_test(a_line_that_never_ends_fails_instead_of_growing),
        cmocka_unit_test(a_callback_can_stop_the_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
