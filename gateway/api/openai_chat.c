/* The OpenAI chat completions API (POST /v1/chat/completions) behind the seam: requests
 * and replies through api/openai.c, and the walk of a streamed reply. In a stream each
 * choice's content, refusal and tool-call arguments have a streaming scanner of their own
 * (slot_of); the common event (one choice, a text delta) is read without a tree
 * (api/openai_chunk.c) and the screened text spliced into the provider's bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "util/json.h"
#include "util/log.h"

#define MAX_CHOICES 8
#define MAX_TOOLS 4 /* tool calls per choice whose streamed arguments are screened */
/* The parts of a choice are PER_CHOICE slots: its N_TEXTS texts (content, refusal and the
 * reasoning that vLLM, DeepSeek, Ollama, OpenRouter and Groq stream), then the tool
 * calls' arguments. */
static const char *const text_members[] = {"content", "refusal", "reasoning_content",
                                           "reasoning"};
#define N_TEXTS 4
#define PER_CHOICE (N_TEXTS + MAX_TOOLS)
#define SLOTS (MAX_CHOICES * PER_CHOICE)
#define STOPPED 2    /* a walk's return: the stream ended with its own error, written */
#define FINISHED 0   /* s->state[FINISHED + i]: choice i had its finish_reason */
#define CALLS_SEEN 8 /* s->state[CALLS_SEEN + i]: a bit for each of choice i's tool calls */
#define CONTENT (-1) /* the "tool" of slot_of for the content */
#define REFUSAL (-2) /* and for the refusal */

/* Members of an event, of a choice and of a delta that are not text, or whose text is
 * screened where named; any other goes by policy.unknown_fields. */
static const char *const known_top[] = {"id", "object", "created", "model", "choices", "usage",
                                        "system_fingerprint", "service_tier", "obfuscation", NULL};
static const char *const known_choice[] = {"index", "delta", "finish_reason", "logprobs", NULL};
static const char *const known_delta[] = {"role", "content", "refusal", "reasoning_content",
                                          "reasoning", "tool_calls", "function_call", NULL};

_Static_assert(SLOTS <= GW_API_SLOTS, "the chat stream needs more slots than a request has");

static int slot_of(int choice, int tool)
{
    return choice * PER_CHOICE + (tool == CONTENT ? 0 : tool == REFUSAL ? 1 : N_TEXTS + tool);
}

static const char *reply_id(const struct gw_api_stream *s)
{
    return s->up_id[0] ? s->up_id : s->id;
}

/* ---- requests, replies, answers ---- */

static int parse_request(struct gw_api_request *r, const char *body, size_t len, unsigned roles,
                         char *err, size_t errlen, const char **param)
{
    struct gw_chat_request cr;
    int rc = gw_openai_parse_request(&cr, body, len, roles, err, errlen, param);
    r->root = cr.root;
    r->stream = cr.stream;
    r->model = cr.model;
    r->texts = cr.texts;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cr.root, "response_format"), "type");
    r->structured = cJSON_IsString(type) && strncmp(type->valuestring, "json", 4) == 0;
    return rc;
}

static void redacted(cJSON *root)
{
    gw_openai_strip_logprobs(root); /* its tokens would repeat what was redacted */
}

static void refusal(struct gw_buf *out, const char *id, const char *model, const char *message,
                    bool stream)
{
    if (stream)
        gw_openai_refusal_stream(out, id, model, message);
    else
        gw_openai_refusal(out, id, model, message);
}

/* ---- streams ---- */

static void take_tokens(struct gw_api_stream *s, const cJSON *ev)
{
    long p, c;
    gw_openai_usage(ev, &p, &c);
    if (p >= 0 || c >= 0)
        s->tokens(s->ctx, p, c);
}

/* Ends the stream for a block: one final chunk with the message and finish_reason
 * content_filter, then [DONE]. */
static void block(struct gw_api_stream *s, int slot)
{
    const char *msg = s->block_message(s->ctx, slot);
    struct gw_buf b = {0};
    gw_openai_chunk_event(&b, reply_id(s), s->model, slot / PER_CHOICE, NULL, msg, strlen(msg),
                          "content_filter");
    gw_buf_puts(&b, "data: [DONE]\n\n");
    s->write(s->ctx, b.data, b.len);
    gw_buf_free(&b);
    s->done = true;
}

void gw_openai_stream_done(struct gw_api_stream *s)
{
    if (s->done)
        return;
    s->write(s->ctx, "data: [DONE]\n\n", 14);
    s->done = true;
}

void gw_openai_stream_error(struct gw_api_stream *s, const char *message, const char *code)
{
    struct gw_buf b = {0};
    gw_buf_puts(&b, "data: ");
    gw_openai_error(&b, message, "api_error", NULL, code);
    gw_buf_puts(&b, "\n\ndata: [DONE]\n\n");
    s->write(s->ctx, b.data, b.len);
    gw_buf_free(&b);
    s->done = true;
}

/* Screens through slot; a block ends the stream. Returns 0, 1 (blocked) or -1. */
static int step(struct gw_api_stream *s, int slot, const char *text, size_t len,
                struct gw_buf *out)
{
    int rc = s->screen(s->ctx, slot, text, len, out);
    if (rc == 1)
        block(s, slot);
    return rc;
}

/* An index member as a slot number: absent is 0, anything but a whole number in int's
 * range is -1 (refused: "1" or 1.5 would be read as another choice than the one screened). */
static int whole_index(const cJSON *index)
{
    if (!index)
        return 0;
    if (!cJSON_IsNumber(index) || index->valuedouble < 0 || index->valuedouble > 1e6 ||
        index->valuedouble != (double)index->valueint)
        return -1;
    return index->valueint;
}

/* Notes tool call index i (below 8) met in *seen. openai-python's accumulate_delta finds a
 * tool call by its place in its list, where a new one is appended: one that first comes
 * after a higher index would be merged into another's arguments, while it is screened
 * apart here. Returns false for it. (Choices are not held to it: OpenAI itself sends a
 * choice's first chunk after a higher one's, and the SDK raises there unless the first
 * event had no choices.) */
static bool met_in_order(unsigned char *seen, int i)
{
    if (!(*seen & (1u << i)) && (*seen >> (i + 1)) != 0)
        return false;
    *seen |= (unsigned char)(1u << i);
    return true;
}

/* Screens the streamed arguments of a choice's tool calls (delta.tool_calls[].function.
 * arguments), each through a slot of its own, rewriting them in place; when finishing,
 * releases what each still holds into the same delta. Returns 0, 1 when blocked (the
 * final chunk is sent), STOPPED (more calls than it screens: the error is written), -1
 * when screening failed. */
static int screen_tool_args(struct gw_api_stream *s, int idx, cJSON *delta, bool finishing)
{
    struct gw_buf *tmp = s->tmp;
    cJSON *calls = cJSON_GetObjectItemCaseSensitive(delta, "tool_calls"), *call;
    if (calls && !cJSON_IsArray(calls) && !cJSON_IsNull(calls))
        return -1;
    cJSON_ArrayForEach(call, calls)
    {
        static const char *const known_call[] = {"index", "id", "type", "function", NULL};
        static const char *const known_fn[] = {"name", "arguments", NULL};
        const cJSON *ti = cJSON_GetObjectItemCaseSensitive(call, "index");
        int t = whole_index(ti);
        cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
        cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        if (t >= MAX_TOOLS) { /* more than it has slots for: said, never passed unscreened */
            GW_LOG(GW_LOG_WARN, s->id, "a stream has more than %d tool calls in a choice; it ends",
                   MAX_TOOLS);
            char msg[160];
            snprintf(msg, sizeof msg,
                     "The provider streamed more than %d tool calls in one choice; the gateway "
                     "screens %d and ends the stream there.",
                     MAX_TOOLS, MAX_TOOLS);
            gw_openai_stream_error(s, msg, "guardrail_error");
            return STOPPED;
        }
        if (t < 0 || !met_in_order(&s->state[CALLS_SEEN + idx], t) || !cJSON_IsObject(call) ||
            cJSON_GetObjectItemCaseSensitive(call, "custom"))
            return -1; /* no whole index, one met after a higher one (met_in_order), a
                          streamed custom tool's input (not held back across events): fail
                          closed */
        /* A custom tool call, arguments that are not a string, members the gateway does not
         * know: the stream is refused or goes by policy, never passed unscreened. */
        if ((fn && !cJSON_IsObject(fn) && !cJSON_IsNull(fn)) ||
            (args && !cJSON_IsString(args) && !cJSON_IsNull(args)) ||
            (name && !cJSON_IsString(name) && !cJSON_IsNull(name)))
            return -1;
        int rc;
        s->place = -(slot_of(idx, t) + 1); /* a function's members apart from its call's */
        rc = gw_api_stream_unknown(s, fn, known_fn);
        s->place = slot_of(idx, t) + 1; /* a call's name is joined apart from another's */
        if (rc != 0 || (rc = gw_api_stream_unknown(s, call, known_call)) != 0 ||
            (cJSON_IsString(name) && (rc = s->scan(s->ctx, name)) != 0)) {
            if (rc == 1)
                block(s, slot_of(idx, t));
            return rc;
        }
        if (!cJSON_IsString(args))
            continue;
        gw_buf_reset(tmp);
        s->json(s->ctx, slot_of(idx, t));
        rc = step(s, slot_of(idx, t), args->valuestring, strlen(args->valuestring), tmp);
        if (rc != 0)
            return rc;
        if (gw_openai_set_text(args, tmp->data ? tmp->data : "") != 0)
            return -1;
    }
    for (int t = 0; finishing && t < MAX_TOOLS; t++) {
        int slot = slot_of(idx, t);
        if (!s->open(s->ctx, slot))
            continue;
        gw_buf_reset(tmp);
        int rc = step(s, slot, NULL, 0, tmp);
        if (rc != 0)
            return rc;
        if (tmp->len == 0)
            continue;
        if (!calls)
            calls = cJSON_AddArrayToObject(delta, "tool_calls");
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "index", t);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(c, "function"), "arguments", tmp->data);
        cJSON_AddItemToArray(calls, c);
    }
    return 0;
}

/* The common event (one choice, a text delta) can skip the tree when no refusal or
 * tool-call stream of its choice is open (finishing would release it) and its index is in
 * range. */
static bool fast_path_fits(const struct gw_api_stream *s, const struct gw_chunk_view *v)
{
    if (v->index < 0 || v->index >= MAX_CHOICES || s->state[FINISHED + v->index])
        return false; /* after the finish, the general path refuses more text */
    for (int p = 1; v->finishing && p < PER_CHOICE; p++)
        if (s->open(s->ctx, v->index * PER_CHOICE + p))
            return false; /* finishing releases what another part holds */
    return true;
}

static void write_data(struct gw_api_stream *s, const char *data, size_t len)
{
    s->write(s->ctx, "data: ", 6);
    s->write(s->ctx, data, len);
    s->write(s->ctx, "\n\n", 2);
}

/* One event of the common shape, screened as the general path would, written as the
 * provider's own bytes with the screened text spliced in place of its text (no
 * re-serialisation). */
static int chunk_event(struct gw_api_stream *s, const char *data, size_t len,
                       const struct gw_chunk_view *v)
{
    struct gw_buf *tmp = s->tmp, *text = s->scratch;
    if (!s->up_id[0] && v->id)
        snprintf(s->up_id, sizeof s->up_id, "%.*s", (int)v->id_len, v->id);
    if (!s->screen_replies) {
        write_data(s, data, len);
        return 0;
    }
    int slot = slot_of(v->index, CONTENT), rc = 0;
    gw_buf_reset(tmp);
    if (v->content_is_string) {
        if (gw_openai_chunk_text(v, text) != 0)
            rc = -1;
        else
            rc = step(s, slot, text->data ? text->data : "", text->len, tmp);
    }
    if (rc == 0 && v->finishing && s->open(s->ctx, slot))
        rc = step(s, slot, NULL, 0, tmp);
    if (v->finishing)
        s->state[FINISHED + v->index] = 1;
    if (rc != 0) {
        if (rc == -1)
            gw_openai_stream_error(s, "Screening the reply failed; the gateway fails closed.",
                         "guardrail_error");
        return -1;
    }
    if (!v->other && tmp->len == 0 && !v->finishing)
        return 0; /* all of it held back: nothing to send yet */
    bool unchanged = v->content_is_string && tmp->len == text->len &&
                     (tmp->len == 0 || memcmp(tmp->data, text->data, tmp->len) == 0);
    if ((!v->content_is_string && tmp->len == 0) || unchanged) {
        write_data(s, data, len);
        return 0;
    }
    gw_buf_reset(text);
    if (gw_json_quote(text, tmp->data ? tmp->data : "", tmp->len) != 0) {
        gw_openai_stream_error(s, "Screening the reply failed; the gateway fails closed.",
                     "guardrail_error");
        return -1;
    }
    s->write(s->ctx, "data: ", 6);
    if (v->has_content) { /* replace the value */
        s->write(s->ctx, data, v->value_start);
        s->write(s->ctx, text->data, text->len);
        s->write(s->ctx, data + v->value_end, len - v->value_end);
    } else { /* add the member */
        s->write(s->ctx, data, v->delta_open);
        s->write(s->ctx, "\"content\":", 10);
        s->write(s->ctx, text->data, text->len);
        if (!v->delta_empty)
            s->write(s->ctx, ",", 1);
        s->write(s->ctx, data + v->delta_open, len - v->delta_open);
    }
    s->write(s->ctx, "\n\n", 2);
    return 0;
}

/* The provider's [DONE] (or its end without one): releases what each open slot still
 * holds, as chunks; the [DONE] waits for the end of the provider's reply (stream_end).
 * Returns 0 or -1. */
static int release_all(struct gw_api_stream *s)
{
    struct gw_buf *tmp = s->tmp;
    for (int i = 0; i < SLOTS; i++) {
        if (!s->held(s->ctx, i))
            continue;
        gw_buf_reset(tmp);
        int rc = step(s, i, NULL, 0, tmp);
        if (rc != 0) {
            if (rc == -1)
                gw_openai_stream_error(s, "Screening failed.", "guardrail_error");
            return -1;
        }
        if (tmp->len == 0)
            continue;
        struct gw_buf ev = {0};
        int choice = i / PER_CHOICE, part = i % PER_CHOICE;
        const char *text = tmp->data ? tmp->data : "";
        if (part == 0)
            gw_openai_chunk_event(&ev, reply_id(s), s->model, choice, NULL, text, tmp->len, NULL);
        else if (part < N_TEXTS)
            gw_openai_delta_event(&ev, reply_id(s), s->model, choice, text_members[part], text,
                                  tmp->len);
        else
            gw_openai_tool_args_event(&ev, reply_id(s), s->model, choice, part - N_TEXTS, text,
                                      tmp->len);
        s->write(s->ctx, ev.data, ev.len);
        gw_buf_free(&ev);
    }
    s->ended = true;
    return 0;
}

/* Whether delta carries a text or a tool call, which a choice that finished cannot have
 * (an empty text is none: OpenRouter's usage event after the finish has one). */
static bool text_after_finish(const cJSON *delta)
{
    for (int p = 0; p < N_TEXTS; p++) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(delta, text_members[p]);
        if (t && !cJSON_IsNull(t) && !(cJSON_IsString(t) && !t->valuestring[0]))
            return true;
    }
    return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(delta, "tool_calls")) > 0;
}

/* The texts of one choice of a general event, screened in place. Returns 0, 1 or -1;
 * *emit is set when the event has something to pass on. */
static int screen_choice(struct gw_api_stream *s, cJSON *c, bool *emit)
{
    static const char *const states[] = {"finish_reason", NULL};
    static const char *const role[] = {"role", NULL};
    int idx = whole_index(cJSON_GetObjectItemCaseSensitive(c, "index"));
    cJSON *delta = cJSON_GetObjectItemCaseSensitive(c, "delta");
    if (idx < 0 || idx >= MAX_CHOICES || !gw_api_scalars(c, states) || !gw_api_scalars(delta, role))
        return -1;
    s->place = slot_of(idx, CONTENT) + 1; /* its texts are joined apart from another choice's */
    if (s->screen_replies) {
        if (!delta) /* text released at the end needs a delta to go in */
            delta = cJSON_AddObjectToObject(c, "delta");
        const cJSON *fc = cJSON_GetObjectItemCaseSensitive(delta, "function_call");
        if (!cJSON_IsObject(delta) || (fc && !cJSON_IsNull(fc)))
            return -1; /* legacy function_call streams are not screened: fail closed */
    }
    bool finishing = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c, "finish_reason"));
    if (s->screen_replies && s->state[FINISHED + idx] && text_after_finish(delta))
        return -1; /* the choice ended: more of it is the provider's error, as its content's */
    if (finishing)
        s->state[FINISHED + idx] = 1;
    for (const cJSON *k = delta ? delta->child : NULL; k; k = k->next) {
        bool text = false;
        for (int p = 0; p < N_TEXTS; p++)
            text |= strcmp(k->string, text_members[p]) == 0;
        if (!text && !cJSON_IsNull(k))
            *emit = true; /* role, tool calls: pass on */
    }
    if (!s->screen_replies) {
        *emit = true;
        return 0;
    }
    int rc;
    bool released = false;
    if (!s->media_pass && gw_openai_audio_data(cJSON_GetObjectItemCaseSensitive(delta, "audio")))
        return -1; /* spoken, where no scanner hears it */
    rc = gw_api_stream_unknown(s, c, known_choice);
    s->place = -(slot_of(idx, CONTENT) + 1); /* a delta's members apart from its choice's */
    if (rc == 0)
        rc = gw_api_stream_unknown(s, delta, known_delta);
    s->place = slot_of(idx, CONTENT) + 1;
    if (rc != 0) {
        if (rc == 1)
            block(s, slot_of(idx, CONTENT));
        return rc;
    }
    if ((rc = screen_tool_args(s, idx, delta, finishing)) != 0)
        return rc; /* a block is answered there */
    for (int p = 0; p < N_TEXTS; p++) {
        int slot = idx * PER_CHOICE + p;
        if ((rc = gw_api_screen_member(s, slot, delta, text_members[p], finishing, &released)) !=
            0) {
            if (rc == 1)
                block(s, slot);
            return rc;
        }
    }
    if (released || finishing)
        *emit = true;
    return 0;
}

static int stream_event(struct gw_api_stream *s, const char *event, const char *data, size_t len)
{
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
        return release_all(s);
    struct gw_chunk_view v;
    if (gw_openai_chunk_view(data, len, &v) && fast_path_fits(s, &v))
        return chunk_event(s, data, len, &v);
    cJSON *ev = gw_api_parse(data, len);
    if (!ev) {
        gw_openai_stream_error(s, "The provider sent a stream event that is not JSON.", "provider_error");
        return -1;
    }
    const char *why = gw_openai_unreadable(data, len, ev);
    if (why) {
        cJSON_Delete(ev);
        char msg[320];
        snprintf(msg, sizeof msg,
                 "The provider sent a stream event that cannot be screened "
                 "safely: it has %s.",
                 why);
        gw_openai_stream_error(s, msg, "provider_error");
        return -1;
    }
    if (!gw_api_scalars(ev, gw_openai_ids)) {
        cJSON_Delete(ev);
        gw_openai_stream_error(s,
                               "The provider sent a stream event that cannot be screened "
                               "safely: an id or a state that is not a plain value.",
                               "provider_error");
        return -1;
    }
    take_tokens(s, ev);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
    if (!s->up_id[0] && cJSON_IsString(id))
        snprintf(s->up_id, sizeof s->up_id, "%s", id->valuestring);
    cJSON *choices = cJSON_GetObjectItemCaseSensitive(ev, "choices"), *c;
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(ev, "usage");
    /* An event whose text is all held goes on all the same when it has usage (OpenRouter
     * sends it after the finish, with an empty delta): the client's SDK reads it there */
    bool emit = !cJSON_IsArray(choices) || cJSON_GetArraySize(choices) == 0 ||
                (usage && !cJSON_IsNull(usage));
    int rc = 0;
    if (s->screen_replies)
        gw_openai_strip_logprobs(ev); /* its tokens would show held text early */
    s->place = 0;
    if ((rc = gw_api_stream_unknown(s, ev, known_top)) == 1)
        block(s, 0);
    cJSON_ArrayForEach(c, choices)
    {
        if (rc != 0 || (rc = screen_choice(s, c, &emit)) != 0)
            break;
    }
    s->place = 0;
    if (rc == 0 && emit)
        rc = gw_api_write_event(s, NULL, ev);
    cJSON_Delete(ev);
    if (rc == -1)
        gw_openai_stream_error(s, "Screening the reply failed; the gateway fails closed.", "guardrail_error");
    return rc == 0 ? 0 : -1; /* STOPPED too */
}

static void stream_end(struct gw_api_stream *s)
{
    if (!s->ended && !s->done) { /* cut before its [DONE]: not a success */
        gw_openai_stream_error(s, "The provider's stream ended before its [DONE].",
                               "provider_stream_error");
        return;
    }
    gw_openai_stream_done(s);
}

/* The chat completions parameters (OpenAI's API reference); "mock" is the built-in mock provider's
 * knobs, which no provider reads as text */
static const char *const request_members[] = {"messages",
                                              "model",
                                              "stream",
                                              "stream_options",
                                              "audio",
                                              "frequency_penalty",
                                              "function_call",
                                              "functions",
                                              "logit_bias",
                                              "logprobs",
                                              "max_completion_tokens",
                                              "max_tokens",
                                              "metadata",
                                              "modalities",
                                              "n",
                                              "parallel_tool_calls",
                                              "prediction",
                                              "presence_penalty",
                                              "prompt_cache_key",
                                              "prompt_cache_retention",
                                              "reasoning_effort",
                                              "response_format",
                                              "safety_identifier",
                                              "seed",
                                              "service_tier",
                                              "stop",
                                              "store",
                                              "temperature",
                                              "tool_choice",
                                              "tools",
                                              "top_logprobs",
                                              "top_p",
                                              "user",
                                              "verbosity",
                                              "mock",
                                              NULL};

const struct gw_api gw_api_openai_chat = {
    .name = "OpenAI chat completions",
    .route = "/v1/chat/completions",
    .upstream_path = "/chat/completions",
    .providers = GW_PROVIDER_OPENAI | GW_PROVIDER_MOCK,
    .parse_request = parse_request,
    .request_members = request_members,
    .parse_reply = gw_openai_parse_reply,
    .usage = gw_openai_usage,
    .redacted = redacted,
    .refusal = refusal,
    .error = gw_openai_error,
    .forward_headers = gw_openai_forward,
    .key_header = "Authorization: Bearer ",
    .stream_event = stream_event,
    .stream_end = stream_end,
    .stream_error = gw_openai_stream_error,
};
