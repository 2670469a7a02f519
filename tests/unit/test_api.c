/* The client APIs' shared helpers (api/api.c): the whole-document parse, JSON-aware
 * redaction, lenient unescaping, the passthrough families, the route table, the
 * unknown-member policy, and the stream events the walks write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "fixture.h"
#include "screen/scan.h"

static const char *const pack = "name: t\n"
                                "rules:\n"
                                "  - id: pii.email\n"
                                "    category: pii\n"
                                "    severity: medium\n"
                                "    applies_to: both\n"
                                "    action: redact\n"
                                "    replacement: '[EMAIL]'\n"
                                "    patterns: ['\\b[a-z0-9.]{1,20}@[a-z0-9]{1,20}\\.[a-z]{2,6}\\b']\n"
                                "  - id: pii.card\n"
                                "    category: pii\n"
                                "    severity: high\n"
                                "    applies_to: both\n"
                                "    action: redact\n"
                                "    validate: luhn\n"
                                "    replacement: '[CARD]'\n"
                                "    patterns: ['\\b\\d{16}\\b']\n"
                                "  - id: secret.password\n"
                                "    category: secret\n"
                                "    severity: high\n"
                                "    applies_to: both\n"
                                "    action: redact\n"
                                "    replacement: '[PASSWORD]'\n"
                                "    patterns: ['password\"?\\s*[:=]\\s*\"?[^\\s\",}]{4,}']\n";

struct fx {
    struct gw_ruleset *rs;
    gw_scanner *sc;
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    x->rs = compile(pack);
    x->sc = x->rs ? gw_scanner_new(x->rs) : NULL;
    *state = x;
    return x->sc ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    gw_scanner_free(x->sc);
    gw_ruleset_unref(x->rs);
    free(x);
    return 0;
}

/* What gw_api_redact makes of text, screened in the reply direction. */
static void expect_redact(struct fx *x, const char *text, const char *want)
{
    struct gw_findings f = {0};
    struct gw_buf out = {0};
    assert_int_equal(gw_scan(x->sc, text, strlen(text), GW_DIR_REPLY, &f), 0);
    assert_int_equal(gw_api_redact(x->rs, text, strlen(text), &f, &out), 0);
    assert_string_equal(out.data ? out.data : "", want);
    gw_buf_free(&out);
    gw_findings_free(&f);
}

static void a_match_spanning_a_key_and_its_value_stays_in_the_value(void **state)
{
    expect_redact(*state, "{\"user\": \"jane\", \"new_password\": \"hunter22\"}",
                  "{\"user\": \"jane\", \"new_password\": \"[PASSWORD]\"}");
}

static void a_number_is_redacted_as_a_string_and_the_text_stays_json(void **state)
{
    expect_redact(*state, "{\"card\": 4111111111111111}", "{\"card\": \"[CARD]\"}");
    expect_redact(*state, "{\"password\": 12345678}", "{\"password\": \"[PASSWORD]\"}");
    expect_redact(*state, "[4111111111111111, 2]", "[\"[CARD]\", 2]");
}

static void a_key_is_redacted_inside_the_key(void **state)
{
    expect_redact(*state, "{\"jo@example.org\": 1}", "{\"[EMAIL]\": 1}");
}

static void prose_is_redacted_as_prose(void **state)
{
    expect_redact(*state, "mail jo@example.org {not json", "mail [EMAIL] {not json");
}

static void unescaping_is_lenient_as_the_readers_of_apps_are(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"jo\\u0040example.org", "jo@example.org"},
        {"a\\nb\\t\\\"c\\\\d\\/e", "a\nb\t\"c\\d/e"},
        {"\\ud83d\\ude00", "\xF0\x9F\x98\x80"}, /* a surrogate pair */
        {"x\\ud800y", "x\xEF\xBF\xBDy"},        /* a lone surrogate: U+FFFD */
        {"bad \\uZZ", "bad \\uZZ"},              /* not an escape: kept */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct gw_buf out = {0};
        assert_int_equal(gw_api_json_unescape(cases[i].in, strlen(cases[i].in), &out), 0);
        assert_string_equal(out.data, cases[i].out);
        gw_buf_free(&out);
    }
}

static void json_strings_are_found_keys_and_values_in_order(void **state)
{
    (void)state;
    const char *t = "{\"a\": \"x\\\"y\", \"b\": [1, \"z\"]}";
    size_t (*v)[2] = NULL, n = 0;
    assert_int_equal(gw_api_json_strings(t, strlen(t), &v, &n), 0);
    assert_int_equal(n, 4);
    static const char *const want[] = {"a", "x\\\"y", "b", "z"};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i][1] - v[i][0], strlen(want[i]));
        assert_memory_equal(t + v[i][0], want[i], strlen(want[i]));
    }
    free(v);
    assert_int_equal(gw_api_json_strings("{\"a\": \"b\", \"open", 15, &v, &n), 0);
    assert_int_equal(n, 2); /* what came before the unterminated string */
    free(v);
}

static void the_whole_document_parse_refuses_bytes_after_it(void **state)
{
    (void)state;
    cJSON *ok = gw_api_parse("{\"a\":1} \n", 9);
    assert_non_null(ok);
    cJSON_Delete(ok);
    assert_null(gw_api_parse("{\"a\":1}{\"b\":2}", 14));
    assert_null(gw_api_parse("{\"a\":1} x", 9));
}

static void generating_endpoints_are_found_however_they_are_spelled(void **state)
{
    (void)state;
    static const char *const generating[] = {
        "/v1/chat/completions", "/chat/completions", "/V1/Chat/Completions/",
        "/v1//chat/completions", "/v1/messages/batches", "/v1/responses/r1/cancel",
        "/v1/engines/davinci/completions", "/v1/conversations", "/v1/threads/t/runs",
        "/v1/%63hat/completions", "/v1/./chat/completions", "/v1/models/../chat/completions",
        "/v1/chat%2Fcompletions"};
    for (size_t i = 0; i < sizeof generating / sizeof *generating; i++)
        assert_non_null(gw_api_generating(generating[i]));
    assert_null(gw_api_generating("/v1/models"));
    assert_null(gw_api_generating("/v1/chatter"));
    assert_null(gw_api_generating("/healthz"));
}

static void each_route_has_its_api(void **state)
{
    (void)state;
    assert_ptr_equal(gw_api_for_path("/v1/chat/completions"), &gw_api_openai_chat);
    assert_ptr_equal(gw_api_for_path("/chat/completions"), &gw_api_openai_chat);
    assert_ptr_equal(gw_api_for_path("/v1/messages"), &gw_api_anthropic_messages);
    assert_ptr_equal(gw_api_for_path("/v1/responses"), &gw_api_openai_responses);
    assert_ptr_equal(gw_api_for_path("/v1/embeddings"), &gw_api_openai_embeddings);
    assert_null(gw_api_for_path("/v1/v1/messages"));
    assert_null(gw_api_for_path("/v1/responses/r1"));
}

static void unknown_members_are_screened_stripped_or_refused(void **state)
{
    (void)state;
    static const char *const known[] = {"content", NULL};
    const char *doc = "{\"content\":\"a\",\"x\":\"b\",\"y\":{\"k\":1},\"z\":null}";
    struct gw_text_refs t = {.unknown = GW_UNKNOWN_SCREEN};
    cJSON *root = cJSON_Parse(doc);
    assert_int_equal(gw_api_unknown_members(root, known, &t), 0);
    assert_int_equal(t.n, 2); /* "b", and the object {"k":1} as its JSON text */
    assert_string_equal(t.v[0]->valuestring, "b");
    assert_true(cJSON_IsObject(t.v[1]));
    gw_text_refs_free(&t);
    cJSON_Delete(root);

    root = cJSON_Parse(doc);
    t = (struct gw_text_refs){.unknown = GW_UNKNOWN_STRIP};
    assert_int_equal(gw_api_unknown_members(root, known, &t), 0);
    assert_true(t.stripped);
    char *s = cJSON_PrintUnformatted(root);
    assert_string_equal(s, "{\"content\":\"a\",\"z\":null}");
    cJSON_free(s);
    cJSON_Delete(root);

    root = cJSON_Parse(doc);
    t = (struct gw_text_refs){.unknown = GW_UNKNOWN_REFUSE};
    assert_int_equal(gw_api_unknown_members(root, known, &t), -1);
    gw_text_refs_free(&t);
    cJSON_Delete(root);
}

/* A data URL of an image, audio or a file is media; one of text, and text that only
 * starts with "data:", are not. */
static void data_urls_of_images_audio_and_files_are_media(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        bool media;
    } cases[] = {
        {"\"data:image/png;base64,iVBO\"", true},
        {"{\"a\":[1,{\"u\":\" DATA:audio/wav,RIFF\"}]}", true},
        {"\"data:application/pdf;base64,JVBE\"", true},
        {"\"data:text/plain;base64,aGk=\"", true}, /* read as an image would be */
        {"\"data:,hello\"", false},
        {"\"data: 12, 13 and 14\"", false},
        {"\"data:image/png\"", false},
        {"\"see ![r](data:image/png;base64,iVBO)\"", true},
        {"\"<img src=\\\"DATA: image/png ;base64,iVBO\\\">\"", true},
        {"\"data:;base64,iVBO\"", true},
        {"\"data:text/plain;base64,iVBO\"", true},
        {"\"data:text/plain;charset=utf-8,hello\"", false},
        {"\"metadata:image/png,x\"", false},
        {"[\"x\", null, true, 3]", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *node = cJSON_Parse(cases[i].json);
        assert_non_null(node);
        if (gw_api_has_media(node) != cases[i].media)
            fail_msg("%s", cases[i].json);
        cJSON_Delete(node);
    }
    /* screened as an unknown member, it names the request's or reply's media */
    static const char *const known[] = {"content", NULL};
    cJSON *root = cJSON_Parse("{\"content\":\"a\",\"images\":[\"data:image/jpeg;base64,/9j/\"]}");
    struct gw_text_refs t = {.unknown = GW_UNKNOWN_SCREEN};
    assert_int_equal(gw_api_unknown_members(root, known, &t), 0);
    assert_non_null(t.media);
    gw_text_refs_free(&t);
    cJSON_Delete(root);
}

/* A stream walk's request path that screens nothing: text passes as it comes, and what the
 * client gets is collected in the buffer ctx points to. */
static int pass_screen(void *ctx, int slot, const char *text, size_t len, struct gw_buf *out)
{
    return text ? gw_buf_append(out, text, len) : 0;
}

static bool no_slot(void *ctx, int slot)
{
    return false;
}

static void no_json(void *ctx, int slot)
{
}

static int no_join(void *ctx, int from, int to)
{
    return 0;
}

static void collect(void *ctx, const char *data, size_t len)
{
    gw_buf_append(ctx, data, len);
}

static const char *blocked(void *ctx, int slot)
{
    return "Blocked.";
}

static int scan_nothing(void *ctx, cJSON *node)
{
    return 0;
}

static void no_tokens(void *ctx, long prompt, long completion)
{
}

static struct gw_api_stream pass_stream(struct gw_buf *out, struct gw_buf *tmp,
                                        struct gw_buf *scratch, bool screen_replies)
{
    return (struct gw_api_stream){.ctx = out,
                                  .screen = pass_screen,
                                  .open = no_slot,
                                  .held = no_slot,
                                  .join = no_join,
                                  .json = no_json,
                                  .write = collect,
                                  .block_message = blocked,
                                  .scan = scan_nothing,
                                  .tokens = no_tokens,
                                  .screen_replies = screen_replies,
                                  .tmp = tmp,
                                  .scratch = scratch,
                                  .id = "req-1",
                                  .model = "m"};
}

static void an_event_name_with_a_line_break_is_not_written(void **state)
{
    struct gw_buf out = {0}, tmp = {0}, scratch = {0};
    struct gw_api_stream s = pass_stream(&out, &tmp, &scratch, false);
    cJSON *ev = cJSON_Parse("{\"type\":\"x\"}");
    assert_int_equal(gw_api_write_event(&s, "x\ndata: {}", ev), -1);
    assert_int_equal(gw_api_write_event(&s, "x\r", ev), -1);
    assert_null(out.data);
    assert_int_equal(gw_api_write_event(&s, "x", ev), 0);
    assert_string_equal(out.data, "event: x\ndata: {\"type\":\"x\"}\n\n");
    cJSON_Delete(ev);

    /* An Anthropic event, passed unscreened, is named by its type: one with a line break
     * in it ends the stream with an error instead of a second line. */
    gw_buf_reset(&out);
    const char *data = "{\"type\":\"ping\\ndata: {}\"}";
    assert_int_equal(gw_api_anthropic_messages.stream_event(&s, "", data, strlen(data)), -1);
    assert_null(strstr(out.data, "ping\n"));
    assert_int_equal(strncmp(out.data, "event: error\ndata: {", 20), 0);
    gw_buf_free(&out);
    gw_buf_free(&tmp);
    gw_buf_free(&scratch);
}

static void a_chat_chunk_sent_on_several_data_lines_goes_out_on_one(void **state)
{
    const char *data = "{\"id\":\"c\",\"choices\":[{\"index\":0,\n"
                       "\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}";
    for (int screen = 0; screen <= 1; screen++) {
        struct gw_buf out = {0}, tmp = {0}, scratch = {0};
        struct gw_api_stream s = pass_stream(&out, &tmp, &scratch, screen);
        assert_int_equal(gw_api_openai_chat.stream_event(&s, "", data, strlen(data)), 0);
        assert_string_equal(out.data, "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":"
                                      "{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n");
        gw_buf_free(&out);
        gw_buf_free(&tmp);
        gw_buf_free(&scratch);
    }
}

/* An id or a state the provider sets that is not a plain value (passed unscreened, it
 * could carry any text) ends the stream; the event is freed (under ASan: no leak, which
 * fuzz_api_stream found). */
static void a_chat_chunk_with_an_object_for_its_model_ends_the_stream(void **state)
{
    (void)state;
    const char *data = "{\"id\":\"c\",\"model\":{\"n\":\"card 4111 1111 1111 1111\"},"
                       "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}},"
                       "{\"index\":1,\"delta\":{\"content\":\"hi\"}}]}";
    struct gw_buf out = {0}, tmp = {0}, scratch = {0};
    struct gw_api_stream s = pass_stream(&out, &tmp, &scratch, true);
    assert_int_equal(gw_api_openai_chat.stream_event(&s, "", data, strlen(data)), -1);
    assert_non_null(strstr(out.data, "not a plain value"));
    assert_null(strstr(out.data, "4111"));
    gw_buf_free(&out);
    gw_buf_free(&tmp);
    gw_buf_free(&scratch);
}

/* JSON between systems is UTF-8: a byte that is not, at any place (the check reads eight
 * ASCII bytes at a time), an overlong form, a surrogate, a sequence cut short, is found. */
static void bytes_that_are_not_utf8_are_found_anywhere(void **state)
{
    (void)state;
    char text[41];
    for (size_t at = 0; at < 40; at++) {
        memset(text, 'a', 40);
        text[40] = '\0';
        assert_false(gw_openai_not_utf8(text, 40));
        text[at] = (char)0xff;
        assert_true(gw_openai_not_utf8(text, 40));
        text[at] = (char)0x80; /* a continuation byte alone */
        assert_true(gw_openai_not_utf8(text, 40));
        if (at + 1 < 40) {
            memcpy(text + at, "\xc3\xa9", 2); /* é: valid */
            assert_false(gw_openai_not_utf8(text, 40));
        }
    }
    static const char *const bad[] = {"\xc0\xae", "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80",
                                      "\xf0\x9f\x98"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_true(gw_openai_not_utf8(bad[i], strlen(bad[i])));
    const char *good = "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 ok";
    assert_false(gw_openai_not_utf8(good, strlen(good)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bytes_that_are_not_utf8_are_found_anywhere),
        cmocka_unit_test_setup_teardown(a_match_spanning_a_key_and_its_value_stays_in_the_value,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_number_is_redacted_as_a_string_and_the_text_stays_json,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_key_is_redacted_inside_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown(prose_is_redacted_as_prose, setup, teardown),
        cmocka_unit_test(unescaping_is_lenient_as_the_readers_of_apps_are),
        cmocka_unit_test(json_strings_are_found_keys_and_values_in_order),
        cmocka_unit_test(the_whole_document_parse_refuses_bytes_after_it),
        cmocka_unit_test(generating_endpoints_are_found_however_they_are_spelled),
        cmocka_unit_test(each_route_has_its_api),
        cmocka_unit_test(unknown_members_are_screened_stripped_or_refused),
        cmocka_unit_test(data_urls_of_images_audio_and_files_are_media),
        cmocka_unit_test(an_event_name_with_a_line_break_is_not_written),
        cmocka_unit_test(a_chat_chunk_sent_on_several_data_lines_goes_out_on_one),
        cmocka_unit_test(a_chat_chunk_with_an_object_for_its_model_ends_the_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
