#include "mock/mock.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "api/openai.h"
#include "server/conn.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/log.h"

struct gw_mock {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    pthread_t thread;
    unsigned long requests, completed, cancelled;
    char last_method[8]; /* of the last request that was not a chat completion */
    size_t last_body;    /* and its body's length */
    char *last_input;    /* the last call's user texts (chat, messages) or inputs (embeddings) */
};

/* An answer is made of blocks, in this order: reasoning (when a knob asks for it), then
 * either the text or a tool call. Each API streams every block as deltas. */
enum mkind { MK_REASON, MK_TEXT, MK_TOOL };

struct mblock {
    enum mkind kind;
    const char *text; /* points into the mstream's own strings */
    size_t len;
};

struct mstream;

/* One API's wire format. A stream is head, then for each block open, deltas and close,
 * then tail; stream_step drives them, so the timing knobs work the same for every API. */
struct mproto {
    const char *id;          /* the answer's id unless the "id" knob says otherwise */
    const char *input;       /* the request member holding the conversation */
    const char *reason_knob; /* the knob that adds a reasoning block */
    void (*error)(struct gw_buf *b, const char *message, const char *type, const char *code);
    void (*plain)(struct gw_buf *b, struct mstream *s);
    void (*head)(struct gw_buf *b, struct mstream *s);
    void (*open)(struct gw_buf *b, struct mstream *s, const struct mblock *k);
    void (*delta)(struct gw_buf *b, struct mstream *s, const struct mblock *k, const char *t,
                  size_t n);
    void (*close)(struct gw_buf *b, struct mstream *s, const struct mblock *k);
    void (*tail)(struct gw_buf *b, struct mstream *s);
};

/* One answer in progress. */
struct mstream {
    struct gw_mock *m;
    const struct mproto *proto;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    struct event *timer;
    char *text; /* the reply */
    size_t len;
    char *tool_args; /* or a tool call with these arguments instead */
    char *reason;    /* and reasoning before either, or NULL */
    char *fault;     /* a broken stream (the "fault" knob, mock.h), or NULL */
    struct mblock blocks[2];
    int nblocks;
    int bi;     /* the stream's place: block bi, */
    size_t pos; /* byte pos in it */
    size_t chunk;
    long chunk_delay_ms;
    long reset_after;
    long end_delay_ms;
    long sent;
    long seq; /* the Responses API numbers its events */
    long long created;
    bool stream, started, opened, usage, resetting, ending;
    char model[96];
    char id[96]; /* the streamed chunks' id, the message's or the response's */
    int status;
};

static void mstream_free(struct mstream *s)
{
    if (s->conn)
        evhttp_connection_set_closecb(s->conn, NULL, NULL);
    event_free(s->timer);
    free(s->text);
    free(s->tool_args);
    free(s->reason);
    free(s->fault);
    free(s);
}

static void on_mock_close(struct evhttp_connection *conn, void *arg)
{
    struct mstream *s = arg;
    s->m->cancelled++;
    s->conn = NULL;
    struct evhttp_request *req = s->req;
    bool detached = evhttp_request_get_connection(req) == NULL;
    mstream_free(s);
    if (detached)
        evhttp_request_free(req);
}

static void send_body(struct evhttp_request *req, int status, const char *ctype, const char *body,
                      size_t len)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, body, len);
    evhttp_send_reply(req, status, status == 200 ? "OK" : "Error", b);
    evbuffer_free(b);
}

static void quoted(struct gw_buf *b, const char *s, size_t n)
{
    gw_json_quote(b, s, n);
}

static size_t blocks_len(const struct mstream *s)
{
    size_t n = 0;
    for (int i = 0; i < s->nblocks; i++)
        n += s->blocks[i].len;
    return n;
}

/* Output tokens, roughly: a quarter of the bytes answered. */
static size_t out_tokens(const struct mstream *s)
{
    return blocks_len(s) / 4 + 1;
}

static int block_index(const struct mstream *s, const struct mblock *k)
{
    return (int)(k - s->blocks);
}

/* ---- OpenAI chat completions ---- */

static void chat_error(struct gw_buf *b, const char *message, const char *type, const char *code)
{
    gw_openai_error(b, message, type, NULL, code);
}

static void completion_json(struct gw_buf *b, struct mstream *s)
{
    gw_buf_printf(b, "{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion\",\"created\":%lld,"
                     "\"model\":", (long long)time(NULL));
    quoted(b, s->model, strlen(s->model));
    gw_buf_puts(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    if (s->tool_args) {
        gw_buf_puts(b, "null,\"tool_calls\":[{\"id\":\"call_mock\",\"type\":\"function\","
                       "\"function\":{\"name\":\"lookup\",\"arguments\":");
        quoted(b, s->tool_args, strlen(s->tool_args));
        gw_buf_puts(b, "}}]");
    } else {
        quoted(b, s->text, s->len);
    }
    size_t rlen = s->reason ? strlen(s->reason) : 0;
    if (s->reason) {
        gw_buf_puts(b, ",\"reasoning_content\":");
        quoted(b, s->reason, rlen);
    }
    /* counts the text even for a tool call, as it always has (the e2e tests pin these bytes) */
    size_t n = s->len + rlen;
    gw_buf_printf(b, "},\"logprobs\":null,\"finish_reason\":\"%s\"}],\"usage\":{"
                     "\"prompt_tokens\":12,\"completion_tokens\":%zu,\"total_tokens\":%zu}}",
                  s->tool_args ? "tool_calls" : "stop", n / 4 + 1, n / 4 + 13);
}

static void chunk_begin(struct gw_buf *b, const struct mstream *s)
{
    gw_buf_puts(b, "data: {\"id\":");
    quoted(b, s->id, strlen(s->id));
    gw_buf_printf(b, ",\"object\":\"chat.completion.chunk\",\"created\":%lld,\"model\":",
                  (long long)time(NULL));
    quoted(b, s->model, strlen(s->model));
    gw_buf_puts(b, ",\"choices\":[{\"index\":0,\"delta\":{");
}

static void chunk_end(struct gw_buf *b, const char *finish)
{
    gw_buf_puts(b, "},\"logprobs\":null,\"finish_reason\":");
    if (finish)
        gw_buf_printf(b, "\"%s\"", finish);
    else
        gw_buf_puts(b, "null");
    gw_buf_puts(b, "}]}\n\n");
}

static void chat_head(struct gw_buf *b, struct mstream *s)
{
    chunk_begin(b, s);
    gw_buf_printf(b, "\"role\":\"assistant\",\"content\":%s", s->tool_args ? "null" : "\"\"");
    chunk_end(b, NULL);
}

static void chat_delta(struct gw_buf *b, struct mstream *s, const struct mblock *k,
                       const char *t, size_t n)
{
    chunk_begin(b, s);
    if (k->kind == MK_TOOL) { /* a streamed tool call: its arguments in pieces */
        gw_buf_puts(b, "\"tool_calls\":[{\"index\":0,");
        if (s->pos == 0)
            gw_buf_puts(b, "\"id\":\"call_mock\",\"type\":\"function\",");
        gw_buf_puts(b, "\"function\":{");
        if (s->pos == 0)
            gw_buf_puts(b, "\"name\":\"lookup\",");
        gw_buf_puts(b, "\"arguments\":");
        quoted(b, t, n);
        gw_buf_puts(b, "}}]");
    } else {
        gw_buf_puts(b, k->kind == MK_REASON ? "\"reasoning_content\":" : "\"content\":");
        quoted(b, t, n);
    }
    chunk_end(b, NULL);
}

static void chat_tail(struct gw_buf *b, struct mstream *s)
{
    chunk_begin(b, s);
    chunk_end(b, s->tool_args ? "tool_calls" : "stop");
    if (s->usage)
        gw_buf_printf(b, "data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\","
                         "\"created\":%lld,\"model\":\"%s\",\"choices\":[],\"usage\":{"
                         "\"prompt_tokens\":12,\"completion_tokens\":%zu,"
                         "\"total_tokens\":%zu}}\n\n",
                      (long long)time(NULL), "mock", out_tokens(s), out_tokens(s) + 12);
    gw_buf_puts(b, "data: [DONE]\n\n");
}

static const struct mproto chat_api = {
    "chatcmpl-mock", "messages", "reasoning_content", chat_error, completion_json,
    chat_head,       NULL,       chat_delta,          NULL,       chat_tail,
};

/* ---- OpenAI legacy completions: choices[].text, streamed as chunks with text ---- */

static void legacy_json(struct gw_buf *b, struct mstream *s, const char *t, size_t n,
                        const char *finish)
{
    gw_buf_puts(b, "{\"id\":");
    quoted(b, s->id, strlen(s->id));
    gw_buf_printf(b, ",\"object\":\"text_completion\",\"created\":%lld,\"model\":",
                  (long long)time(NULL));
    quoted(b, s->model, strlen(s->model));
    gw_buf_puts(b, ",\"choices\":[{\"text\":");
    quoted(b, t, n);
    gw_buf_puts(b, ",\"index\":0,\"logprobs\":null,\"finish_reason\":");
    if (finish)
        gw_buf_printf(b, "\"%s\"}]", finish);
    else
        gw_buf_puts(b, "null}]");
}

static void legacy_plain(struct gw_buf *b, struct mstream *s)
{
    legacy_json(b, s, s->text, s->len, "stop");
    gw_buf_printf(b, ",\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":%zu,"
                     "\"total_tokens\":%zu}}", out_tokens(s), out_tokens(s) + 12);
}

static void legacy_delta(struct gw_buf *b, struct mstream *s, const struct mblock *k,
                         const char *t, size_t n)
{
    gw_buf_puts(b, "data: ");
    legacy_json(b, s, t, n, NULL);
    gw_buf_puts(b, "}\n\n");
}

static void legacy_tail(struct gw_buf *b, struct mstream *s)
{
    gw_buf_puts(b, "data: ");
    legacy_json(b, s, "", 0, "stop");
    gw_buf_puts(b, "}\n\ndata: [DONE]\n\n");
}

static const struct mproto completions_api = {
    "cmpl-mock", "prompt", "reasoning", chat_error, legacy_plain,
    NULL,        NULL,     legacy_delta, NULL,      legacy_tail,
};

/* ---- Events with an "event:" line (Anthropic, OpenAI Responses) ---- */

static void sse_begin(struct gw_buf *b, const char *type)
{
    gw_buf_printf(b, "event: %s\ndata: {\"type\":\"%s\"", type, type);
}

static void sse_end(struct gw_buf *b)
{
    gw_buf_puts(b, "}\n\n");
}

/* Appends a tool call's arguments as the object they spell, or {} when they spell none. */
static void json_object(struct gw_buf *b, const char *args)
{
    cJSON *o = args ? cJSON_Parse(args) : NULL;
    gw_buf_puts(b, cJSON_IsObject(o) ? args : "{}");
    cJSON_Delete(o);
}

/* ---- Anthropic messages ---- */

static void msg_error(struct gw_buf *b, const char *message, const char *type, const char *code)
{
    (void)code;
    gw_buf_printf(b, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":", type);
    quoted(b, message, strlen(message));
    gw_buf_puts(b, "}}");
}

/* A content block, whole or empty as content_block_start announces it. */
static void msg_block(struct gw_buf *b, const struct mblock *k, bool whole)
{
    size_t n = whole ? k->len : 0;
    if (k->kind == MK_TOOL) {
        gw_buf_puts(b, "{\"type\":\"tool_use\",\"id\":\"toolu_mock\",\"name\":\"lookup\","
                       "\"input\":");
        json_object(b, whole ? k->text : NULL);
    } else if (k->kind == MK_REASON) {
        gw_buf_puts(b, "{\"type\":\"thinking\",\"thinking\":");
        quoted(b, k->text, n);
        if (whole)
            gw_buf_puts(b, ",\"signature\":\"sig_mock\"");
    } else {
        gw_buf_puts(b, "{\"type\":\"text\",\"text\":");
        quoted(b, k->text, n);
    }
    gw_buf_puts(b, "}");
}

/* The message, whole or as message_start announces it (no content yet). */
static void msg_json(struct gw_buf *b, struct mstream *s, bool whole)
{
    gw_buf_puts(b, "{\"id\":");
    quoted(b, s->id, strlen(s->id));
    gw_buf_puts(b, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    quoted(b, s->model, strlen(s->model));
    gw_buf_puts(b, ",\"content\":[");
    for (int i = 0; whole && i < s->nblocks; i++) {
        if (i)
            gw_buf_puts(b, ",");
        msg_block(b, &s->blocks[i], true);
    }
    gw_buf_puts(b, "],\"stop_reason\":");
    if (whole)
        gw_buf_printf(b, "\"%s\"", s->tool_args ? "tool_use" : "end_turn");
    else
        gw_buf_puts(b, "null");
    gw_buf_printf(b, ",\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,"
                     "\"output_tokens\":%zu}}",
                  whole ? out_tokens(s) : 1);
}

static void msg_plain(struct gw_buf *b, struct mstream *s)
{
    msg_json(b, s, true);
}

static void msg_head(struct gw_buf *b, struct mstream *s)
{
    sse_begin(b, "message_start");
    gw_buf_puts(b, ",\"message\":");
    msg_json(b, s, false);
    sse_end(b);
    sse_begin(b, "ping");
    sse_end(b);
}

static void msg_open(struct gw_buf *b, struct mstream *s, const struct mblock *k)
{
    sse_begin(b, "content_block_start");
    gw_buf_printf(b, ",\"index\":%d,\"content_block\":", block_index(s, k));
    msg_block(b, k, false);
    sse_end(b);
}

static void msg_delta(struct gw_buf *b, struct mstream *s, const struct mblock *k, const char *t,
                      size_t n)
{
    static const char *const delta[][2] = {
        [MK_REASON] = {"thinking_delta", "thinking"},
        [MK_TEXT] = {"text_delta", "text"},
        [MK_TOOL] = {"input_json_delta", "partial_json"},
    };
    sse_begin(b, "content_block_delta");
    gw_buf_printf(b, ",\"index\":%d,\"delta\":{\"type\":\"%s\",\"%s\":", block_index(s, k),
                  delta[k->kind][0], delta[k->kind][1]);
    quoted(b, t, n);
    gw_buf_puts(b, "}");
    sse_end(b);
}

static void msg_close(struct gw_buf *b, struct mstream *s, const struct mblock *k)
{
    int i = block_index(s, k);
    if (k->kind == MK_REASON) { /* a thinking block ends with its signature */
        sse_begin(b, "content_block_delta");
        gw_buf_printf(b, ",\"index\":%d,\"delta\":{\"type\":\"signature_delta\","
                         "\"signature\":\"sig_mock\"}", i);
        sse_end(b);
    }
    sse_begin(b, "content_block_stop");
    gw_buf_printf(b, ",\"index\":%d", i);
    sse_end(b);
}

static void msg_tail(struct gw_buf *b, struct mstream *s)
{
    sse_begin(b, "message_delta");
    gw_buf_printf(b, ",\"delta\":{\"stop_reason\":\"%s\",\"stop_sequence\":null},"
                     "\"usage\":{\"output_tokens\":%zu}",
                  s->tool_args ? "tool_use" : "end_turn", out_tokens(s));
    sse_end(b);
    sse_begin(b, "message_stop");
    sse_end(b);
}

static const struct mproto messages_api = {
    "msg_mock", "messages", "thinking", msg_error, msg_plain,
    msg_head,   msg_open,   msg_delta,  msg_close, msg_tail,
};

/* ---- OpenAI responses ---- */

/* Per block kind: the output item's id, its delta and done events, the done event's field,
 * and the events around the item's one part (a function call has none). */
static const struct {
    const char *id, *delta, *done, *field, *part_added, *part_done;
} resp_kinds[] = {
    [MK_REASON] = {"rs_mock", "response.reasoning_summary_text.delta",
                   "response.reasoning_summary_text.done", "text",
                   "response.reasoning_summary_part.added", "response.reasoning_summary_part.done"},
    [MK_TEXT] = {"msg_mock", "response.output_text.delta", "response.output_text.done", "text",
                 "response.content_part.added", "response.content_part.done"},
    [MK_TOOL] = {"fc_mock", "response.function_call_arguments.delta",
                 "response.function_call_arguments.done", "arguments", NULL, NULL},
};

static void resp_begin(struct gw_buf *b, struct mstream *s, const char *type)
{
    sse_begin(b, type);
    gw_buf_printf(b, ",\"sequence_number\":%ld", s->seq++);
}

/* Where an event lands: the item, and its part for a message or a reasoning summary. */
static void resp_where(struct gw_buf *b, struct mstream *s, const struct mblock *k)
{
    gw_buf_printf(b, ",\"item_id\":\"%s\",\"output_index\":%d", resp_kinds[k->kind].id,
                  block_index(s, k));
    if (k->kind == MK_TEXT)
        gw_buf_puts(b, ",\"content_index\":0");
    else if (k->kind == MK_REASON)
        gw_buf_puts(b, ",\"summary_index\":0");
}

/* The one part of a message or a reasoning summary, whole or empty. */
static void resp_part(struct gw_buf *b, const struct mblock *k, bool whole)
{
    const char *type = k->kind == MK_TEXT ? "output_text" : "summary_text";
    gw_buf_printf(b, "{\"type\":\"%s\",\"text\":", type);
    quoted(b, k->text, whole ? k->len : 0);
    gw_buf_puts(b, k->kind == MK_TEXT ? ",\"annotations\":[]}" : "}");
}

/* An output item, whole or as response.output_item.added announces it. */
static void resp_item(struct gw_buf *b, const struct mblock *k, bool whole)
{
    const char *status = whole ? "completed" : "in_progress";
    if (k->kind == MK_TOOL) {
        gw_buf_puts(b, "{\"type\":\"function_call\",\"id\":\"fc_mock\",\"call_id\":\"call_mock\","
                       "\"name\":\"lookup\",\"arguments\":");
        quoted(b, k->text, whole ? k->len : 0);
        gw_buf_printf(b, ",\"status\":\"%s\"}", status);
        return;
    }
    if (k->kind == MK_REASON)
        gw_buf_puts(b, "{\"type\":\"reasoning\",\"id\":\"rs_mock\",\"summary\":[");
    else
        gw_buf_printf(b, "{\"type\":\"message\",\"id\":\"msg_mock\",\"status\":\"%s\","
                         "\"role\":\"assistant\",\"content\":[", status);
    if (whole)
        resp_part(b, k, true);
    gw_buf_puts(b, "]}");
}

/* The response, whole or as response.created announces it (no output yet). */
static void resp_json(struct gw_buf *b, struct mstream *s, bool whole)
{
    gw_buf_puts(b, "{\"id\":");
    quoted(b, s->id, strlen(s->id));
    gw_buf_printf(b, ",\"object\":\"response\",\"created_at\":%lld,\"status\":\"%s\","
                     "\"error\":null,\"incomplete_details\":null,\"instructions\":null,"
                     "\"metadata\":{},\"model\":",
                  s->created, whole ? "completed" : "in_progress");
    quoted(b, s->model, strlen(s->model));
    gw_buf_puts(b, ",\"output\":[");
    for (int i = 0; whole && i < s->nblocks; i++) {
        if (i)
            gw_buf_puts(b, ",");
        resp_item(b, &s->blocks[i], true);
    }
    gw_buf_puts(b, "],\"parallel_tool_calls\":true,\"temperature\":1,\"tool_choice\":\"auto\","
                   "\"tools\":[],\"top_p\":1,\"text\":{\"format\":{\"type\":\"text\"}},\"usage\":");
    size_t n = out_tokens(s);
    if (whole)
        gw_buf_printf(b, "{\"input_tokens\":12,\"input_tokens_details\":{\"cached_tokens\":0},"
                         "\"output_tokens\":%zu,\"output_tokens_details\":{\"reasoning_tokens\":0},"
                         "\"total_tokens\":%zu}}", n, n + 12);
    else
        gw_buf_puts(b, "null}");
}

static void resp_plain(struct gw_buf *b, struct mstream *s)
{
    resp_json(b, s, true);
}

static void resp_head(struct gw_buf *b, struct mstream *s)
{
    static const char *const types[] = {"response.created", "response.in_progress"};
    for (size_t i = 0; i < 2; i++) {
        resp_begin(b, s, types[i]);
        gw_buf_puts(b, ",\"response\":");
        resp_json(b, s, false);
        sse_end(b);
    }
}

/* output_item.added or .done: the item, whole or empty */
static void resp_item_event(struct gw_buf *b, struct mstream *s, const struct mblock *k,
                            bool whole)
{
    resp_begin(b, s, whole ? "response.output_item.done" : "response.output_item.added");
    gw_buf_printf(b, ",\"output_index\":%d,\"item\":", block_index(s, k));
    resp_item(b, k, whole);
    sse_end(b);
}

/* content_part or reasoning_summary_part .added or .done: the part, whole or empty */
static void resp_part_event(struct gw_buf *b, struct mstream *s, const struct mblock *k,
                            bool whole)
{
    if (!resp_kinds[k->kind].part_added)
        return;
    resp_begin(b, s, whole ? resp_kinds[k->kind].part_done : resp_kinds[k->kind].part_added);
    resp_where(b, s, k);
    gw_buf_puts(b, ",\"part\":");
    resp_part(b, k, whole);
    sse_end(b);
}

static void resp_open(struct gw_buf *b, struct mstream *s, const struct mblock *k)
{
    resp_item_event(b, s, k, false);
    resp_part_event(b, s, k, false);
}

static void resp_delta(struct gw_buf *b, struct mstream *s, const struct mblock *k,
                       const char *t, size_t n)
{
    resp_begin(b, s, resp_kinds[k->kind].delta);
    resp_where(b, s, k);
    gw_buf_puts(b, ",\"delta\":");
    quoted(b, t, n);
    sse_end(b);
}

static void resp_close(struct gw_buf *b, struct mstream *s, const struct mblock *k)
{
    resp_begin(b, s, resp_kinds[k->kind].done);
    resp_where(b, s, k);
    gw_buf_printf(b, ",\"%s\":", resp_kinds[k->kind].field);
    quoted(b, k->text, k->len);
    sse_end(b);
    resp_part_event(b, s, k, true);
    resp_item_event(b, s, k, true);
}

static void resp_tail(struct gw_buf *b, struct mstream *s)
{
    resp_begin(b, s, "response.completed");
    gw_buf_puts(b, ",\"response\":");
    resp_json(b, s, true);
    sse_end(b);
}

static const struct mproto responses_api = {
    "resp_mock", "input",   "reasoning", chat_error, resp_plain,
    resp_head,   resp_open, resp_delta,  resp_close, resp_tail,
};

/* ---- Streaming, the same for every API ---- */

/* Drops the connection mid-stream, with no closing events, as a dying provider would. */
static void stream_reset(struct mstream *s)
{
    struct evhttp_connection *conn = s->conn;
    s->m->cancelled++;
    mstream_free(s);
    if (conn)
        evhttp_connection_free(conn);
}

static void stream_finish(struct mstream *s)
{
    evhttp_send_reply_end(s->req);
    s->m->completed++;
    mstream_free(s);
}

/* Writes the events due before the next delta: blocks opening and closing. False once
 * every block is closed. */
static bool stream_pending(struct gw_buf *b, struct mstream *s)
{
    while (s->bi < s->nblocks) {
        const struct mblock *k = &s->blocks[s->bi];
        if (!s->opened && s->proto->open)
            s->proto->open(b, s, k);
        s->opened = true;
        if (s->pos < k->len)
            return true;
        if (s->proto->close)
            s->proto->close(b, s, k);
        s->bi++;
        s->pos = 0;
        s->opened = false;
    }
    return false;
}

static bool fault(const struct mstream *s, const char *name)
{
    return s->fault && strcmp(s->fault, name) == 0;
}

/* Writes the next "chunk" bytes of the current block as a delta. */
static void stream_delta(struct gw_buf *b, struct mstream *s)
{
    const struct mblock *k = &s->blocks[s->bi];
    size_t n = k->len - s->pos < s->chunk ? k->len - s->pos : s->chunk;
    while (s->pos + n < k->len && ((unsigned char)k->text[s->pos + n] & 0xC0) == 0x80)
        n++; /* never split a UTF-8 character */
    s->proto->delta(b, s, k, k->text + s->pos, n);
    s->pos += n;
    s->sent++;
    if (s->sent == 1 && fault(s, "long_line")) { /* one event past the gateway's 4 MiB */
        size_t big = (5u << 20);
        char *x = malloc(big);
        memset(x, 'x', big);
        s->proto->delta(b, s, k, x, big);
        free(x);
    }
}

/* Writes the deltas due now: one, or with no chunk_delay_ms all of them (still as separate
 * events), stopping at reset_after. True when the tail went out too. */
static bool stream_fill(struct gw_buf *b, struct mstream *s)
{
    do {
        if (!stream_pending(b, s))
            break;
        if (s->reset_after >= 0 && s->sent >= s->reset_after) {
            s->resetting = true; /* flush what was sent, then drop the connection */
            return false;
        }
        stream_delta(b, s);
    } while (s->chunk_delay_ms == 0);
    if (stream_pending(b, s))
        return false;
    s->proto->tail(b, s);
    if (fault(s, "after_end")) /* one more delta after the stream's own end */
        s->proto->delta(b, s, &s->blocks[s->nblocks - 1], " and more", 9);
    return true;
}

static void stream_step(evutil_socket_t fd, short what, void *arg)
{
    struct mstream *s = arg;
    if (s->resetting) {
        stream_reset(s);
        return;
    }
    if (s->ending) { /* the tail went out end_delay_ms ago: end the reply now */
        stream_finish(s);
        return;
    }
    struct gw_buf b = {0};
    if (!s->started) {
        evhttp_add_header(evhttp_request_get_output_headers(s->req), "Content-Type",
                          "text/event-stream");
        if (fault(s, "gzip")) /* said, not done: a gateway that reads on reads plain bytes */
            evhttp_add_header(evhttp_request_get_output_headers(s->req), "Content-Encoding",
                              "gzip");
        evhttp_send_reply_start(s->req, 200, "OK");
        s->started = true;
        if (s->proto->head)
            s->proto->head(&b, s);
    }
    bool done = stream_fill(&b, s);
    for (size_t i = 0; fault(s, "bare_cr") && i < b.len; i++)
        if (b.data[i] == '\n')
            b.data[i] = '\r'; /* lines ended by CR alone */
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, b.data, b.len);
    evhttp_send_reply_chunk(s->req, out);
    evbuffer_free(out);
    gw_buf_free(&b);
    if (done && s->end_delay_ms <= 0) {
        stream_finish(s);
        return;
    }
    long ms = s->resetting ? 50 : s->chunk_delay_ms;
    if (done) {
        s->ending = true;
        ms = s->end_delay_ms;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(s->timer, &tv);
}

static void answer(evutil_socket_t fd, short what, void *arg)
{
    struct mstream *s = arg;
    if (s->status != 200) {
        struct gw_buf b = {0};
        s->proto->error(&b, "The mock provider was asked to fail.", "api_error", "mock_error");
        send_body(s->req, s->status, "application/json", b.data, b.len);
        gw_buf_free(&b);
        s->m->completed++;
        mstream_free(s);
        return;
    }
    if (s->stream) {
        event_free(s->timer);
        s->timer = evtimer_new(s->m->base, stream_step, s);
        stream_step(-1, 0, s);
        return;
    }
    struct gw_buf b = {0};
    s->proto->plain(&b, s);
    if (fault(s, "gzip"))
        evhttp_add_header(evhttp_request_get_output_headers(s->req), "Content-Encoding", "gzip");
    send_body(s->req, 200, "application/json", b.data, b.len);
    gw_buf_free(&b);
    s->m->completed++;
    mstream_free(s);
}

/* ---- Reading the request ---- */

static void add_line(struct gw_buf *out, const char *s)
{
    if (out->len)
        gw_buf_puts(out, "\n");
    gw_buf_puts(out, s);
}

/* The user messages' text, joined with \n. conv is the list of messages (or the Responses
 * API's items, or its input as one string); a content is a string or a list of parts, of
 * which those with a "text" count: text (chat, Anthropic), input_text and output_text. */
static void user_text(const cJSON *conv, struct gw_buf *out)
{
    if (cJSON_IsString(conv)) {
        add_line(out, conv->valuestring);
        return;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, conv)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsString(role) || strcmp(role->valuestring, "user") != 0)
            continue;
        if (cJSON_IsString(content))
            add_line(out, content->valuestring);
        const cJSON *part;
        const cJSON *parts = cJSON_IsArray(content) ? content : NULL;
        cJSON_ArrayForEach(part, parts)
        {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (cJSON_IsString(t))
                add_line(out, t->valuestring);
        }
    }
}

static long opt_int(const cJSON *o, const char *name, long def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : def;
}

static char *opt_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

/* The reply: an echoed header, the "reply" knob, the user's text, or a canned answer. */
static void reply_text(struct mstream *s, const cJSON *root, const cJSON *opts)
{
    const cJSON *reply = cJSON_GetObjectItemCaseSensitive(opts, "reply");
    const cJSON *echo_header = cJSON_GetObjectItemCaseSensitive(opts, "echo_header");
    const cJSON *conv = cJSON_GetObjectItemCaseSensitive(root, s->proto->input);
    struct gw_buf text = {0}, said = {0};
    user_text(conv, &said); /* kept for /mock/stats: what the provider was given to read */
    free(s->m->last_input);
    s->m->last_input = said.data ? said.data : strdup("");
    if (cJSON_IsString(echo_header)) {
        const char *v = evhttp_find_header(evhttp_request_get_input_headers(s->req),
                                           echo_header->valuestring);
        gw_buf_puts(&text, v ? v : "(none)");
    } else if (cJSON_IsString(reply)) {
        gw_buf_puts(&text, reply->valuestring);
    } else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(opts, "echo"))) {
        user_text(conv, &text);
    } else {
        gw_buf_puts(&text, "Hello from the demo provider of Acme Outfitters! You wrote: \"");
        gw_buf_append(&text, said.data ? said.data : "", said.len > 300 ? 300 : said.len);
        gw_buf_puts(&text, "\". A real provider would answer here.");
    }
    s->text = text.data ? text.data : strdup("");
    s->len = text.len;
}

/* Reads the request and its "mock" knobs into s. Returns the delay_ms knob. */
static long read_request(struct mstream *s, const cJSON *root)
{
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(root, "mock");
    s->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream"));
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    s->usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    snprintf(s->model, sizeof s->model, "%s", cJSON_IsString(model) ? model->valuestring : "mock-1");
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(opts, "id");
    snprintf(s->id, sizeof s->id, "%s", cJSON_IsString(sid) ? sid->valuestring : s->proto->id);
    long chunk = opt_int(opts, "chunk", 16);
    s->chunk = chunk > 0 ? (size_t)chunk : 16;
    s->chunk_delay_ms = opt_int(opts, "chunk_delay_ms", 0);
    s->reset_after = opt_int(opts, "reset_after", -1);
    /* "end_delay_ms": a pause between the last event and the end of the streamed reply */
    s->end_delay_ms = opt_int(opts, "end_delay_ms", 0);
    s->status = (int)opt_int(opts, "status", 200);
    s->tool_args = opt_str(opts, "tool_arguments");
    s->reason = opt_str(opts, s->proto->reason_knob);
    s->fault = opt_str(opts, "fault");
    reply_text(s, root, opts);
    if (s->reason)
        s->blocks[s->nblocks++] = (struct mblock){MK_REASON, s->reason, strlen(s->reason)};
    if (s->tool_args)
        s->blocks[s->nblocks++] = (struct mblock){MK_TOOL, s->tool_args, strlen(s->tool_args)};
    else
        s->blocks[s->nblocks++] = (struct mblock){MK_TEXT, s->text, s->len};
    return opt_int(opts, "delay_ms", 0);
}

static void on_answer(struct gw_mock *m, struct evhttp_request *req, const struct mproto *api)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    cJSON *root = cJSON_ParseWithLength((const char *)evbuffer_pullup(in, -1), len);
    if (!cJSON_IsObject(root)) {
        struct gw_buf b = {0};
        api->error(&b, "The body is not JSON.", "invalid_request_error", NULL);
        send_body(req, 400, "application/json", b.data, b.len);
        gw_buf_free(&b);
        cJSON_Delete(root);
        return;
    }
    struct mstream *s = calloc(1, sizeof *s);
    s->m = m;
    s->proto = api;
    s->req = req;
    s->conn = evhttp_request_get_connection(req);
    s->created = (long long)time(NULL);
    long delay = read_request(s, root);
    cJSON_Delete(root);
    if (s->conn)
        evhttp_connection_set_closecb(s->conn, on_mock_close, s);
    s->timer = evtimer_new(m->base, answer, s);
    struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
    evtimer_add(s->timer, &tv);
}

/* Embeddings: two numbers per input. The inputs, joined with \n, are kept for /mock/stats
 * (last_input), as a chat's user texts are: the tests check what a provider was given. */
static void on_embeddings(struct gw_mock *m, struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    cJSON *root = cJSON_ParseWithLength((const char *)evbuffer_pullup(in, -1),
                                        evbuffer_get_length(in));
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input"), *e;
    struct gw_buf said = {0}, b = {0};
    int n = 0;
    if (cJSON_IsString(input))
        add_line(&said, input->valuestring), n = 1;
    const cJSON *list = cJSON_IsArray(input) ? input : NULL;
    cJSON_ArrayForEach(e, list)
    {
        if (cJSON_IsString(e))
            add_line(&said, e->valuestring);
        n++;
    }
    m->requests++;
    free(m->last_input);
    m->last_input = said.data ? said.data : strdup("");
    gw_buf_puts(&b, "{\"object\":\"list\",\"data\":[");
    for (int i = 0; i < n; i++)
        gw_buf_printf(&b, "%s{\"object\":\"embedding\",\"index\":%d,\"embedding\":[0.25,-0.5]}",
                      i ? "," : "", i);
    gw_buf_printf(&b, "],\"model\":\"mock-embed\",\"usage\":{\"prompt_tokens\":%d,"
                      "\"total_tokens\":%d}}", n * 4, n * 4);
    send_body(req, 200, "application/json", b.data, b.len);
    m->completed++;
    gw_buf_free(&b);
    cJSON_Delete(root);
}

static void on_mock_request(struct evhttp_request *req, void *arg)
{
    static const struct {
        const char *path;
        const struct mproto *api;
    } apis[] = {
        {"/v1/chat/completions", &chat_api},
        {"/v1/messages", &messages_api},
        {"/v1/responses", &responses_api},
        {"/v1/completions", &completions_api},
    };
    struct gw_mock *m = arg;
    const char *uri = evhttp_request_get_uri(req);
    if (!uri) {
        evhttp_send_error(req, 400, NULL);
        return;
    }
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u && evhttp_uri_get_path(u) ? evhttp_uri_get_path(u) : "/";
    for (size_t i = 0; i < sizeof apis / sizeof apis[0]; i++) {
        if (strcmp(path, apis[i].path) == 0 && evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
            m->requests++;
            on_answer(m, req, apis[i].api);
            return;
        }
    }
    if (strcmp(path, "/v1/embeddings") == 0) {
        on_embeddings(m, req);
    } else if (strcmp(path, "/v1/models") == 0) {
        static const char *const names[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS",
                                            "TRACE", "CONNECT", "PATCH"};
        enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (cmd == (enum evhttp_cmd_type)(1 << i))
                snprintf(m->last_method, sizeof m->last_method, "%s", names[i]);
        m->last_body = evbuffer_get_length(evhttp_request_get_input_buffer(req));
        static const char models[] = "{\"object\":\"list\",\"data\":[{\"id\":\"mock-1\","
                                     "\"object\":\"model\",\"created\":0,\"owned_by\":\"guardrail\"}]}";
        send_body(req, 200, "application/json", models, sizeof models - 1);
    } else if (strcmp(path, "/mock/stats") == 0) {
        struct gw_buf b = {0};
        gw_buf_printf(&b, "{\"requests\":%lu,\"completed\":%lu,\"cancelled\":%lu,"
                          "\"last_method\":\"%s\",\"last_body\":%zu,\"last_input\":",
                      m->requests, m->completed, m->cancelled, m->last_method, m->last_body);
        quoted(&b, m->last_input ? m->last_input : "", m->last_input ? strlen(m->last_input) : 0);
        gw_buf_puts(&b, "}");
        send_body(req, 200, "application/json", b.data, b.len);
        gw_buf_free(&b);
    } else {
        struct gw_buf b = {0};
        gw_openai_error(&b, "Unknown path.", "invalid_request_error", NULL, "unknown_url");
        send_body(req, 404, "application/json", b.data, b.len);
        gw_buf_free(&b);
    }
}

static struct gw_mock *mock_new(const char *host, int port, int *port_out)
{
    struct gw_mock *m = calloc(1, sizeof *m);
    m->base = event_base_new();
    m->http = evhttp_new(m->base);
    /* PATCH too, for the passthrough tests (evhttp's default leaves it out) */
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(m->http, on_mock_request, m);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(m->http, host, (ev_uint16_t)port);
    if (!bs) {
        GW_LOG(GW_LOG_ERROR, NULL, "mock provider: cannot listen on %s:%d", host, port);
        evhttp_free(m->http);
        event_base_free(m->base);
        free(m->last_input);
        free(m);
        return NULL;
    }
    m->bound = bs;
    gw_listener_guard(bs, m->base, "mock provider");
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl);
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    return m;
}

static void *mock_main(void *arg)
{
    struct gw_mock *m = arg;
    event_base_dispatch(m->base);
    return NULL;
}

struct gw_mock *gw_mock_start(const char *host, int port, int *port_out)
{
    struct gw_mock *m = mock_new(host, port, port_out);
    if (m && pthread_create(&m->thread, NULL, mock_main, m) != 0) {
        gw_mock_stop(m);
        return NULL;
    }
    return m;
}

void gw_mock_stop(struct gw_mock *m)
{
    if (!m)
        return;
    if (m->thread) {
        /* loopexit, not loopbreak: a break before the loop has started is forgotten when
         * it starts (a start-up that fails right after the mock's), and the join hung */
        event_base_loopexit(m->base, NULL);
        pthread_join(m->thread, NULL);
    }
    gw_listener_unguard(m->bound);
    evhttp_free(m->http);
    event_base_free(m->base);
    free(m->last_input);
    free(m);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopexit(arg, NULL);
}

int gw_mock_run(const char *host, int port)
{
    int bound;
    struct gw_mock *m = mock_new(host, port, &bound);
    if (!m)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    struct event *t = evsignal_new(m->base, SIGTERM, on_stop_signal, m->base);
    struct event *i = evsignal_new(m->base, SIGINT, on_stop_signal, m->base);
    event_add(t, NULL);
    event_add(i, NULL);
    GW_LOG(GW_LOG_INFO, NULL, "mock provider listening on http://%s:%d/v1", host, bound);
    event_base_dispatch(m->base);
    event_free(t);
    event_free(i);
    evhttp_free(m->http);
    event_base_free(m->base);
    free(m->last_input);
    free(m);
    return 0;
}
