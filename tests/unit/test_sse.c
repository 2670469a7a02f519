#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "api/openai.h"
#include "api/sse.h"

/* Collects each event's data, joined with '|'. */
static int collect(void *arg, const char *event, const char *data, size_t len)
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
    assert_int_equal(p.error, GW_SSE_TOO_LONG);
    assert_true(p.pending.len <= GW_SSE_MAX_EVENT);
    free(chunk);
    gw_sse_free(&p);
    gw_buf_free(&out);
}

/* CR alone ends a line in SSE, but no provider sends it and the parser splits at LF:
 * rather than read such a stream as one long line (and pass nothing, silently), it refuses
 * it, however the bytes are cut. A CRLF split across reads is still one line end. */
static void a_bare_cr_line_end_is_refused_however_the_bytes_are_cut(void **state)
{
    static const char *const streams[] = {"data: a\r\rdata: b\r\r", "data: a\r\n\r",
                                          "data: a\rb\n\n"};
    for (size_t k = 0; k < 3; k++) {
        const char *text = streams[k];
        size_t len = strlen(text);
        for (size_t step = 1; step <= len; step++) {
            struct gw_sse p = {0};
            struct gw_buf out = {0};
            int rc = 0;
            for (size_t i = 0; i < len && rc == 0; i += step)
                rc = gw_sse_feed(&p, text + i, len - i < step ? len - i : step, collect, &out);
            if (rc == 0)
                rc = gw_sse_end(&p);
            assert_int_equal(rc, -1);
            assert_true(p.error == GW_SSE_BARE_CR || (k == 1 && p.error == GW_SSE_TRUNCATED));
            gw_sse_free(&p);
            gw_buf_free(&out);
        }
    }
    struct gw_buf out = {0};
    feed_all("data: a\r\n\r\ndata: b\r\n\r\n", 1, &out);
    assert_string_equal(out.data, "a|b");
    gw_buf_free(&out);
}

/* The end of the stream inside a line or an event is reported (its bytes never go out);
 * at an event's end, or after one without data, it is not. */
static void an_end_inside_an_event_is_reported(void **state)
{
    static const struct {
        const char *text;
        int rc;
    } cases[] = {
        {"data: a\n\n", 0},    {"data: a\n\n: comment\n", 0},
        {"event: x\n", 0},     {"data: a\n\ndata: b", -1},
        {"data: a\n", -1},     {"data: [DONE]\n", -1},
        {": half a comm", -1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct gw_sse p = {0};
        struct gw_buf out = {0};
        assert_int_equal(gw_sse_feed(&p, cases[k].text, strlen(cases[k].text), collect, &out), 0);
        assert_int_equal(gw_sse_end(&p), cases[k].rc);
        assert_int_equal(p.error, cases[k].rc ? GW_SSE_TRUNCATED : GW_SSE_OK);
        gw_sse_free(&p);
        gw_buf_free(&out);
    }
}

static int stop(void *arg, const char *event, const char *data, size_t len)
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
    assert_int_equal(p.error, GW_SSE_STOPPED);
    gw_sse_free(&p);
}

/* ---- gw_openai_chunk_view: a streamed chunk read without a tree ---- */

static const char *const chunk_events[] = {
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi \\\"you\\\"\\n\\\\ / \\t\"},"
    "\"logprobs\":null,\"finish_reason\":null}]}",
    "{\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
    "\"finish_reason\":null}],\"usage\":null}",
    " { \"choices\" : [ { \"delta\" : { } , \"index\" : 2 , \"finish_reason\" : \"stop\" } ] ,"
    " \"system_fingerprint\" : \"fp\" } \t ",
    "{\"choices\":[{\"index\":1,\"delta\":{\"content\":null,\"refusal\":null}}],"
    "\"created\":-2.5e3,\"service_tier\":null}",
};

static void a_text_chunk_is_viewed_where_its_fields_are(void **state)
{
    (void)state;
    struct gw_chunk_view v;
    struct gw_buf text = {0};
    const char *e = chunk_events[0];
    assert_true(gw_openai_chunk_view(e, strlen(e), &v));
    assert_int_equal(v.id_len, 2);
    assert_memory_equal(v.id, "c1", 2);
    assert_int_equal(v.index, 0);
    assert_true(v.has_content && v.content_is_string && v.text_escaped);
    assert_false(v.finishing || v.other || v.delta_empty);
    const char *raw = "\"Hi \\\"you\\\"\\n\\\\ / \\t\"";
    assert_int_equal(v.value_end - v.value_start, strlen(raw));
    assert_memory_equal(e + v.value_start, raw, strlen(raw));
    assert_int_equal(gw_openai_chunk_text(&v, &text), 0);
    assert_int_equal(text.len, 14);
    assert_memory_equal(text.data, "Hi \"you\"\n\\ / \t", 14);

    e = chunk_events[1]; /* the role chunk */
    assert_true(gw_openai_chunk_view(e, strlen(e), &v));
    assert_true(v.other && v.content_is_string && !v.text_escaped);
    assert_int_equal(v.text_len, 0);

    e = chunk_events[2]; /* empty delta, finishing, spaces everywhere */
    assert_true(gw_openai_chunk_view(e, strlen(e), &v));
    assert_true(v.finishing && v.delta_empty && !v.has_content && !v.other);
    assert_int_equal(v.index, 2);
    assert_null(v.id);
    assert_memory_equal(e + v.delta_open, " } ,", 4);

    e = chunk_events[3]; /* null content, a null member, other values elsewhere */
    assert_true(gw_openai_chunk_view(e, strlen(e), &v));
    assert_true(v.has_content && !v.content_is_string && !v.other);
    assert_memory_equal(e + v.value_start, "null", v.value_end - v.value_start);
    gw_buf_free(&text);
}

static bool check_against_cjson(const char *event, size_t len);

static void shapes_for_the_general_path_are_refused(void **state)
{
    (void)state;
    static const char *const refused[] = {
        /* members the gateway does not know, anywhere: policy.unknown_fields decides */
        "{\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"x\":[1,{\"a\":[{}]}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"a\"},\"text\":\"b\"}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"a\",\"reasoning_content\":\"b\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"a\",\"audio\":{\"transcript\":\"b\"}}}]}",
        /* tool calls, token counts, not one choice */
        "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0}]}}]}",
        "{\"choices\":[{\"delta\":{\"function_call\":{\"arguments\":\"x\"}}}]}",
        "{\"choices\":[{\"delta\":{\"refusal\":\"I can't\"}}]}",
        "{\"choices\":[{\"delta\":{},\"logprobs\":{\"content\":[]}}]}",
        /* a field in another case: Go's encoding/json reads it as the field */
        "{\"choices\":[{\"delta\":{\"Content\":\"x\"}}]}",
        "{\"choices\":[{\"Delta\":{\"content\":\"x\"}}]}",
        "{\"Choices\":[{\"delta\":{}}],\"choices\":[{\"delta\":{}}]}",
        "{\"choices\":[{\"delta\":{}}],\"usage\":{\"prompt_tokens\":3}}",
        "{\"choices\":[],\"usage\":null}",
        "{\"choices\":[{\"delta\":{}},{\"index\":1,\"delta\":{}}]}",
        "{\"id\":\"x\"}",
        /* text or keys the view does not decode */
        "{\"choices\":[{\"delta\":{\"content\":\"caf\\u00e9\"}}]}",
        "{\"choices\":[{\"delta\":{\"con\\u0074ent\":\"x\"}}]}",
        "{\"id\":\"a\\\"b\",\"choices\":[{\"delta\":{}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"a\",\"content\":\"b\"}}]}",
        "{\"choices\":[{\"delta\":{}}],\"choices\":[{\"delta\":{}}]}",
        "{\"choices\":[{\"delta\":{\"content\":1}}]}",
        "{\"choices\":[{\"delta\":{},\"finish_reason\":1}]}",
        "{\"choices\":[{\"index\":-1,\"delta\":{}}]}",
        "{\"choices\":[{\"index\":1.5,\"delta\":{}}]}",
        "{\"choices\":[{\"index\":01,\"delta\":{}}]}",
        "{\"choices\":[{\"index\":0}]}",
        /* not JSON */
        "{\"choices\":[{\"delta\":{}}]} x",
        "{\"choices\":[{\"delta\":{}}],}",
        "{\"choices\":[{\"delta\":{\"content\":\"a\x01\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"a\\q\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":nul}}]}",
        "{\"choices\":[{\"delta\":{}}],\"x\":01}",
        "{\"choices\":[{\"delta\":{}}],\"x\":[1,]}",
        "{\"choices\":[{\"delta\":{}}],\"x\":\"\\u12\"}",
        "[{\"choices\":[{\"delta\":{}}]}]",
        "",
        /* valid JSON, but written back as it came it would break the SSE framing */
        "{\"choices\":[{\"delta\":{}}],\n\"x\":1}",
        "{\"choices\":[{\"delta\":{}}],\r\"x\":1}",
        "{\"choices\":[{\"delta\":{}}]}\n",
        /* cut right after a key: the reader must not look past the end */
        "{\"choices\":[{\"delta\":{\"content\":",
        "{\"choices\":[{\"delta\":{},\"finish_reason\":",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        if (check_against_cjson(refused[i], strlen(refused[i])))
            fail_msg("accepted: %s", refused[i]);
    /* too deep */
    char deep[400] = "{\"choices\":[{\"delta\":{}}],\"x\":";
    size_t n = strlen(deep);
    for (int i = 0; i < 100; i++)
        deep[n++] = '[';
    for (int i = 0; i < 100; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    struct gw_chunk_view v;
    assert_false(gw_openai_chunk_view(deep, n, &v));
}

/* Whatever the view accepts, cJSON reads as valid JSON with the same fields. */
static bool check_against_cjson(const char *event, size_t len)
{
    struct gw_chunk_view v;
    char *e = malloc(len ? len : 1); /* exactly len bytes: ASan sees any read past them */
    assert_non_null(e);
    memcpy(e, event, len);
    if (!gw_openai_chunk_view(e, len, &v)) {
        free(e);
        return false;
    }
    cJSON *root = cJSON_ParseWithLength(e, len);
    if (!root)
        fail_msg("accepted what cJSON refuses: %.*s", (int)len, e);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (v.id)
        assert_true(cJSON_IsString(id) && strlen(id->valuestring) == v.id_len &&
                    memcmp(id->valuestring, v.id, v.id_len) == 0);
    else
        assert_null(id);
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
    assert_true(!usage || cJSON_IsNull(usage));
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    assert_int_equal(cJSON_GetArraySize(choices), 1);
    const cJSON *c = cJSON_GetArrayItem(choices, 0);
    const cJSON *index = cJSON_GetObjectItemCaseSensitive(c, "index");
    assert_int_equal(index ? index->valueint : 0, v.index);
    const cJSON *finish = cJSON_GetObjectItemCaseSensitive(c, "finish_reason");
    assert_int_equal(cJSON_IsString(finish), v.finishing);
    const cJSON *delta = cJSON_GetObjectItemCaseSensitive(c, "delta");
    assert_true(cJSON_IsObject(delta));
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(delta, "content");
    assert_int_equal(content != NULL, v.has_content);
    assert_int_equal(cJSON_IsString(content), v.content_is_string);
    if (cJSON_IsString(content)) {
        struct gw_buf text = {0};
        assert_int_equal(gw_openai_chunk_text(&v, &text), 0);
        assert_int_equal(strlen(content->valuestring), text.len);
        assert_memory_equal(content->valuestring, text.data ? text.data : "", text.len);
        gw_buf_free(&text);
    }
    bool other = false;
    for (const cJSON *k = delta->child; k; k = k->next)
        if (strcmp(k->string, "content") != 0 && !cJSON_IsNull(k))
            other = true;
    assert_int_equal(other, v.other);
    assert_int_equal(delta->child == NULL, v.delta_empty);
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(delta, "tool_calls");
    assert_true(!calls || cJSON_IsNull(calls));
    cJSON_Delete(root);
    free(e);
    return true;
}

static void whatever_it_accepts_cjson_reads_the_same(void **state)
{
    (void)state;
    static const char repl[] = "\"\\{}[],:0-a n\x01.e";
    char buf[512];
    size_t accepted = 0, tried = 0;
    for (size_t i = 0; i < sizeof chunk_events / sizeof *chunk_events; i++) {
        const char *e = chunk_events[i];
        size_t len = strlen(e);
        assert_true(len < sizeof buf);
        for (size_t cut = 0; cut <= len; cut++)
            accepted += check_against_cjson(e, cut); /* every prefix */
        for (size_t at = 0; at < len; at++)
            for (size_t k = 0; k < sizeof repl - 1; k++) { /* every byte, replaced */
                memcpy(buf, e, len);
                buf[at] = repl[k];
                accepted += check_against_cjson(buf, len);
                tried++;
            }
    }
    /* the mutations inside strings and spaces keep many events valid */
    assert_true(accepted > tried / 10);
}

static bool dup(const char *json)
{
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    bool d = gw_openai_duplicate_keys(root);
    cJSON_Delete(root);
    return d;
}

static void a_key_twice_anywhere_is_found(void **state)
{
    (void)state;
    assert_false(dup("{\"a\":1,\"b\":{\"a\":2},\"c\":[{\"a\":1,\"b\":2},{\"a\":3}]}"));
    assert_true(dup("{\"a\":1,\"a\":2}"));
    assert_true(dup("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\",\"content\":\"x\"}]}"));
    assert_true(dup("[[{\"x\":{\"y\":1,\"y\":1}}]]"));
    /* as Go compares field names: ASCII case, long s and the Kelvin sign folded */
    assert_true(dup("{\"content\":1,\"Content\":2}"));
    assert_true(dup("{\"mask\":1,\"ma\u017f\u212a\":2}"));
    assert_false(dup("{\"a\":1,\"b\":2,\"\u00e4\":3,\"\u00c4\":4}")); /* not folded by Go */
    /* many keys take the sorted path */
    struct gw_buf b = {0};
    gw_buf_puts(&b, "{");
    for (int i = 0; i < 300; i++)
        gw_buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
    gw_buf_puts(&b, "}");
    assert_false(dup(b.data));
    b.len--;
    gw_buf_puts(&b, ",\"K17\":0}");
    assert_true(dup(b.data));
    gw_buf_free(&b);
}

static const char *unreadable(const char *json)
{
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    const char *why = gw_openai_unreadable(json, strlen(json), root);
    cJSON_Delete(root);
    return why;
}

static void what_readers_disagree_on_is_found(void **state)
{
    (void)state;
    /* a NUL ends cJSON's string, not the provider's */
    assert_non_null(unreadable("{\"messages\":[{\"content\":\"hi\\u0000 more\"}]}"));
    assert_true(gw_openai_has_nul("\"a\\u0000\"", 9));
    assert_true(gw_openai_has_nul("\"a\0\"", 4));
    assert_false(gw_openai_has_nul("\"a\\\\u0000\"", 10)); /* an escaped backslash, then text */
    assert_false(gw_openai_has_nul("\"\\u0001\\n\\\\\"", 12));
    assert_true(gw_openai_has_nul("\"\\\\\\u0000\"", 11));
    /* a field the gateway reads, spelled in another case */
    assert_non_null(unreadable("{\"messages\":[{\"role\":\"user\",\"Content\":\"x\"}]}"));
    assert_non_null(unreadable("{\"Messages\":[]}"));
    assert_non_null(unreadable("{\"choices\":[{\"delta\":{\"CONTENT\":\"x\"}}]}"));
    /* elsewhere (a tool's schema, metadata) any spelling is the client's business */
    assert_null(unreadable("{\"messages\":[],\"tools\":[{\"function\":{\"parameters\":"
                           "{\"properties\":{\"Content\":{}}}}}],\"metadata\":{\"Role\":1}}"));
    assert_null(unreadable("{\"messages\":[{\"role\":\"user\",\"content\":\"\\u00e9\\n\"}]}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(events_come_out_whole_however_the_bytes_are_cut),
        cmocka_unit_test(crlf_multiline_data_comments_and_other_fields),
        cmocka_unit_test(an_unterminated_event_is_not_delivered),
        cmocka_unit_test(a_line_that_never_ends_fails_instead_of_growing),
        cmocka_unit_test(a_callback_can_stop_the_parse),
        cmocka_unit_test(a_bare_cr_line_end_is_refused_however_the_bytes_are_cut),
        cmocka_unit_test(an_end_inside_an_event_is_reported),
        cmocka_unit_test(a_text_chunk_is_viewed_where_its_fields_are),
        cmocka_unit_test(shapes_for_the_general_path_are_refused),
        cmocka_unit_test(whatever_it_accepts_cjson_reads_the_same),
        cmocka_unit_test(a_key_twice_anywhere_is_found),
        cmocka_unit_test(what_readers_disagree_on_is_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
