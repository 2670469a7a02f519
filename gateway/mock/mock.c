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
#include "util/buf.h"
#include "util/json.h"
#include "util/log.h"

struct gw_mock {
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    unsigned long requests, completed, cancelled;
    char last_method[8]; /* of the last request that was not a chat completion */
    size_t last_body;    /* and its body's length */
};

/* One streamed answer in progress. */
struct mstream {
    struct gw_mock *m;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    struct event *timer;
    char *text;
    size_t len, pos;
    size_t chunk;
    long chunk_delay_ms;
    long reset_after;
    long end_delay_ms;
    long sent;
    bool stream, started, usage, resetting, ending;
    char model[96];
    char id[96]; /* the streamed chunks' id */
    char *tool_args;
    int status;
};

static void mstream_free(struct mstream *s)
{
    if (s->conn)
        evhttp_connection_set_closecb(s->conn, NULL, NULL);
    event_free(s->timer);
    free(s->text);
    free(s->tool_args);
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
    gw_buf_printf(b, "},\"logprobs\":null,\"finish_reason\":\"%s\"}],\"usage\":{"
                     "\"prompt_tokens\":12,\"completion_tokens\":%zu,\"total_tokens\":%zu}}",
                  s->tool_args ? "tool_calls" : "stop", s->len / 4 + 1, s->len / 4 + 13);
}

static void chunk_json(struct gw_buf *b, struct mstream *s, const char *role, const char *text,
                       size_t len, const char *finish)
{
    gw_buf_puts(b, "data: {\"id\":");
    quoted(b, s->id, strlen(s->id));
    gw_buf_printf(b, ",\"object\":\"chat.completion.chunk\",\"created\":%lld,\"model\":",
                  (long long)time(NULL));
    quoted(b, s->model, strlen(s->model));
    gw_buf_puts(b, ",\"choices\":[{\"index\":0,\"delta\":{");
    if (role) {
        gw_buf_printf(b, "\"role\":\"%s\",\"content\":%s", role, s->tool_args ? "null" : "\"\"");
    } else if (text && s->tool_args) { /* a streamed tool call: its arguments in pieces */
        gw_buf_puts(b, "\"tool_calls\":[{\"index\":0,");
        if (s->pos == 0)
            gw_buf_puts(b, "\"id\":\"call_mock\",\"type\":\"function\",");
        gw_buf_puts(b, "\"function\":{");
        if (s->pos == 0)
            gw_buf_puts(b, "\"name\":\"lookup\",");
        gw_buf_puts(b, "\"arguments\":");
        quoted(b, text, len);
        gw_buf_puts(b, "}}]");
    } else if (text) {
        gw_buf_puts(b, "\"content\":");
        quoted(b, text, len);
    }
    gw_buf_puts(b, "},\"logprobs\":null,\"finish_reason\":");
    if (finish)
        gw_buf_printf(b, "\"%s\"", finish);
    else
        gw_buf_puts(b, "null");
    gw_buf_puts(b, "}]}\n\n");
}

static void stream_step(evutil_socket_t fd, short what, void *arg)
{
    struct mstream *s = arg;
    struct gw_buf b = {0};
    if (!s->started) {
        evhttp_add_header(evhttp_request_get_output_headers(s->req), "Content-Type",
                          "text/event-stream");
        evhttp_send_reply_start(s->req, 200, "OK");
        s->started = true;
        chunk_json(&b, s, "assistant", NULL, 0, NULL);
    }
    if (s->resetting) { /* an abrupt end: no terminating chunk, no [DONE] */
        struct evhttp_connection *conn = s->conn;
        s->conn = NULL;
        evhttp_connection_set_closecb(conn, NULL, NULL);
        s->m->cancelled++;
        event_free(s->timer);
        free(s->text);
        free(s->tool_args);
        free(s);
        evhttp_connection_free(conn);
        return;
    }
    if (s->ending) { /* [DONE] went out end_delay_ms ago: end the reply now */
        evhttp_send_reply_end(s->req);
        s->m->completed++;
        mstream_free(s);
        return;
    }
    /* With no delay, everything goes out now (still as separate events). */
    do {
        if (s->reset_after >= 0 && s->sent >= s->reset_after) {
            s->resetting = true; /* flush what was sent, then drop the connection */
            break;
        }
        if (s->pos < s->len) {
            size_t n = s->len - s->pos < s->chunk ? s->len - s->pos : s->chunk;
            while (s->pos + n < s->len && ((unsigned char)s->text[s->pos + n] & 0xC0) == 0x80)
                n++; /* never split a UTF-8 character */
            chunk_json(&b, s, NULL, s->text + s->pos, n, NULL);
            s->pos += n;
            s->sent++;
        }
    } while (s->pos < s->len && s->chunk_delay_ms == 0);
    if (s->pos >= s->len && !s->resetting) {
        chunk_json(&b, s, NULL, NULL, 0, s->tool_args ? "tool_calls" : "stop");
        if (s->usage)
            gw_buf_printf(&b, "data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\","
                              "\"created\":%lld,\"model\":\"%s\",\"choices\":[],\"usage\":{"
                              "\"prompt_tokens\":12,\"completion_tokens\":%zu,\"total_tokens\":%zu}}\n\n",
                          (long long)time(NULL), "mock", s->len / 4 + 1, s->len / 4 + 13);
        gw_buf_puts(&b, "data: [DONE]\n\n");
    }
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, b.data, b.len);
    evhttp_send_reply_chunk(s->req, out);
    evbuffer_free(out);
    gw_buf_free(&b);
    if (s->pos >= s->len && !s->resetting && s->end_delay_ms > 0) {
        s->ending = true;
        struct timeval tv = {s->end_delay_ms / 1000, (s->end_delay_ms % 1000) * 1000};
        evtimer_add(s->timer, &tv);
        return;
    }
    if (s->pos >= s->len && !s->resetting) {
        evhttp_send_reply_end(s->req);
        s->m->completed++;
        mstream_free(s);
        return;
    }
    long ms = s->resetting ? 50 : s->chunk_delay_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(s->timer, &tv);
}

static void answer(evutil_socket_t fd, short what, void *arg)
{
    struct mstream *s = arg;
    if (s->status != 200) {
        struct gw_buf b = {0};
        gw_openai_error(&b, "The mock provider was asked to fail.", "api_error", NULL, "mock_error");
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
    completion_json(&b, s);
    send_body(s->req, 200, "application/json", b.data, b.len);
    gw_buf_free(&b);
    s->m->completed++;
    mstream_free(s);
}

/* The user messages' text, joined with \n. */
static void user_text(const cJSON *root, struct gw_buf *out)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "messages"))
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsString(role) || strcmp(role->valuestring, "user") != 0)
            continue;
        if (cJSON_IsString(content)) {
            if (out->len)
                gw_buf_puts(out, "\n");
            gw_buf_puts(out, content->valuestring);
        }
        const cJSON *part;
        const cJSON *parts = cJSON_IsArray(content) ? content : NULL;
        cJSON_ArrayForEach(part, parts)
        {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (cJSON_IsString(t)) {
                if (out->len)
                    gw_buf_puts(out, "\n");
                gw_buf_puts(out, t->valuestring);
            }
        }
    }
}

static long opt_int(const cJSON *o, const char *name, long def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : def;
}

static void on_chat(struct gw_mock *m, struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    cJSON *root = cJSON_ParseWithLength((const char *)evbuffer_pullup(in, -1), len);
    if (!cJSON_IsObject(root)) {
        struct gw_buf b = {0};
        gw_openai_error(&b, "The body is not JSON.", "invalid_request_error", NULL, NULL);
        send_body(req, 400, "application/json", b.data, b.len);
        gw_buf_free(&b);
        cJSON_Delete(root);
        return;
    }
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(root, "mock");
    struct mstream *s = calloc(1, sizeof *s);
    s->m = m;
    s->req = req;
    s->conn = evhttp_request_get_connection(req);
    s->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream"));
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    s->usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    snprintf(s->model, sizeof s->model, "%s", cJSON_IsString(model) ? model->valuestring : "mock-1");
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(opts, "id"); /* "id": the chunks' id */
    snprintf(s->id, sizeof s->id, "%s", cJSON_IsString(sid) ? sid->valuestring : "chatcmpl-mock");
    long chunk = opt_int(opts, "chunk", 16);
    s->chunk = chunk > 0 ? (size_t)chunk : 16;
    s->chunk_delay_ms = opt_int(opts, "chunk_delay_ms", 0);
    s->reset_after = opt_int(opts, "reset_after", -1);
    /* "end_delay_ms": a pause between [DONE] and the end of the streamed reply */
    s->end_delay_ms = opt_int(opts, "end_delay_ms", 0);
    s->status = (int)opt_int(opts, "status", 200);
    long delay = opt_int(opts, "delay_ms", 0);
    const cJSON *reply = cJSON_GetObjectItemCaseSensitive(opts, "reply");
    const cJSON *echo_header = cJSON_GetObjectItemCaseSensitive(opts, "echo_header");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(opts, "tool_arguments");
    if (cJSON_IsString(args))
        s->tool_args = strdup(args->valuestring);
    struct gw_buf text = {0};
    if (cJSON_IsString(echo_header)) {
        const char *v = evhttp_find_header(evhttp_request_get_input_headers(req),
                                           echo_header->valuestring);
        gw_buf_puts(&text, v ? v : "(none)");
    } else if (cJSON_IsString(reply)) {
        gw_buf_puts(&text, reply->valuestring);
    } else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(opts, "echo"))) {
        user_text(root, &text);
    } else {
        struct gw_buf said = {0};
        user_text(root, &said);
        gw_buf_puts(&text, "Hello from the demo provider of Acme Outfitters! You wrote: \"");
        gw_buf_append(&text, said.data ? said.data : "", said.len > 300 ? 300 : said.len);
        gw_buf_puts(&text, "\". A real provider would answer here.");
        gw_buf_free(&said);
    }
    s->text = text.data ? text.data : strdup("");
    s->len = text.len;
    if (s->stream && s->tool_args) { /* stream the tool call's arguments instead */
        free(s->text);
        s->text = strdup(s->tool_args);
        s->len = strlen(s->text);
    }
    cJSON_Delete(root);
    if (s->conn)
        evhttp_connection_set_closecb(s->conn, on_mock_close, s);
    s->timer = evtimer_new(m->base, answer, s);
    struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
    evtimer_add(s->timer, &tv);
}

static void on_mock_request(struct evhttp_request *req, void *arg)
{
    struct gw_mock *m = arg;
    const char *uri = evhttp_request_get_uri(req);
    if (!uri) {
        evhttp_send_error(req, 400, NULL);
        return;
    }
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u && evhttp_uri_get_path(u) ? evhttp_uri_get_path(u) : "/";
    if (strcmp(path, "/v1/chat/completions") == 0 && evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
        m->requests++;
        on_chat(m, req);
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
        char b[200];
        int n = snprintf(b, sizeof b,
                         "{\"requests\":%lu,\"completed\":%lu,\"cancelled\":%lu,"
                         "\"last_method\":\"%s\",\"last_body\":%zu}",
                         m->requests, m->completed, m->cancelled, m->last_method, m->last_body);
        send_body(req, 200, "application/json", b, (size_t)n);
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
        free(m);
        return NULL;
    }
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
        event_base_loopbreak(m->base);
        pthread_join(m->thread, NULL);
    }
    evhttp_free(m->http);
    event_base_free(m->base);
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
    free(m);
    return 0;
}
