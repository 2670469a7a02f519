/* The Anthropic Messages API (POST /v1/messages) behind the seam. Texts of a request: the
 * system prompt (a string or text blocks) and every message's content (a string or
 * blocks: text, tool_use input, tool_result content, thinking, a text document). Texts of
 * a reply: text, thinking, tool_use input and citations. A block type the gateway does not
 * know is refused, in requests and in replies, rather than passed unscreened.
 *
 * A stream is typed by its events (message_start, content_block_start, _delta, _stop,
 * message_delta, message_stop, ping, error). Each content block has a slot of its own,
 * numbered by its index; a block's held text is released as one more delta before its
 * content_block_stop. A block mid-stream ends the message the way the API refuses: the
 * blocked block stops, a text block with the message follows, then stop_reason
 * "refusal". */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "util/json.h"

/* ---- requests ---- */

/* A 400's message about field; returns -1. */
__attribute__((format(printf, 5, 6))) static int fail(char *err, size_t errlen,
                                                      const char **param, const char *field,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    *param = field;
    return -1;
}

/* The block types of a request, with every member they may have and which of those are
 * read as text (strings pushed; an object or array: every string in it). A member not
 * listed is refused: the model could read it unscreened (a document's title and context
 * are read, for one). */
static const struct block_type {
    const char *type;
    const char *members[8];
    const char *texts[4];
} block_types[] = {
    {"text", {"type", "text", "citations", "cache_control"}, {"text", "citations"}},
    {"thinking", {"type", "thinking", "signature"}, {"thinking"}},
    {"redacted_thinking", {"type", "data"}, {NULL}},
    {"image", {"type", "source", "cache_control"}, {NULL}},
    {"tool_use", {"type", "id", "name", "input", "cache_control"}, {"name", "input"}},
    {"tool_result", {"type", "tool_use_id", "content", "is_error", "cache_control"}, {NULL}},
    {"document", {"type", "source", "title", "context", "citations", "cache_control"},
     {"title", "context"}},
};

static const struct block_type *block_type_of(const char *t)
{
    for (size_t i = 0; i < sizeof block_types / sizeof *block_types; i++)
        if (strcmp(block_types[i].type, t) == 0)
            return &block_types[i];
    return NULL;
}

static bool listed(const char *const *names, size_t n, const char *key)
{
    for (size_t i = 0; i < n && names[i]; i++)
        if (strcmp(names[i], key) == 0)
            return true;
    return false;
}

/* A document's source: text is read (its data, or the text blocks of a content source);
 * base64, URL and file sources are bytes the gateway cannot read (like an image's). */
static int document_source(struct gw_api_request *r, cJSON *source, bool on, int i, int j,
                           char *err, size_t errlen, const char **param)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(source, "type");
    const char *type = cJSON_IsString(st) ? st->valuestring : "";
    if (strcmp(type, "text") == 0) {
        cJSON *data = cJSON_GetObjectItemCaseSensitive(source, "data");
        if (!cJSON_IsString(data))
            return fail(err, errlen, param, "messages",
                        "messages[%d].content[%d]: a text document needs a string 'data'.", i, j);
        return on ? gw_api_refs_push(&r->texts, data) : 0;
    }
    if (strcmp(type, "content") == 0) {
        cJSON *content = cJSON_GetObjectItemCaseSensitive(source, "content");
        const cJSON *b, *blocks = cJSON_IsArray(content) ? content : NULL;
        cJSON_ArrayForEach(b, blocks)
        {
            const cJSON *bt = cJSON_GetObjectItemCaseSensitive(b, "type");
            if (!(cJSON_IsString(bt) && strcmp(bt->valuestring, "text") == 0))
                gw_api_refs_media(&r->texts, "a document whose content has an image or another "
                                             "block that is not text");
        }
        return on ? gw_api_refs_push_all(&r->texts, content) : 0;
    }
    if (strcmp(type, "base64") == 0 || strcmp(type, "url") == 0 || strcmp(type, "file") == 0) {
        /* a PDF or a file: no text the gateway reads */
        gw_api_refs_media(&r->texts, "a document block with a base64, URL or file source");
        return 0;
    }
    return fail(err, errlen, param, "messages",
                "messages[%d].content[%d]: a document of this source type is not screened by "
                "this gateway, so it is refused.", i, j);
}

/* Collects the texts of one content block of a message (or of a tool result) spoken by
 * role, when role is among roles. Returns 0, or -1 with err set. */
static int request_block(struct gw_api_request *r, cJSON *b, unsigned role, unsigned roles,
                         int i, int j, char *err, size_t errlen, const char **param)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "type");
    if (!cJSON_IsObject(b) || !cJSON_IsString(type))
        return fail(err, errlen, param, "messages",
                    "messages[%d].content[%d] must be an object with a string 'type'.", i, j);
    const struct block_type *bt = block_type_of(type->valuestring);
    if (!bt)
        return fail(err, errlen, param, "messages",
                    "messages[%d].content[%d]: a content block of type '%.40s' is not screened "
                    "by this gateway, so it is refused.", i, j, type->valuestring);
    for (const cJSON *k = b->child; k; k = k->next)
        if (!listed(bt->members, 8, k->string))
            return fail(err, errlen, param, "messages",
                        "messages[%d].content[%d]: the member '%.40s' of a %s block is not "
                        "screened by this gateway, so it is refused.", i, j, k->string, bt->type);
    bool on = (role & roles) != 0;
    r->texts.role = role;
    if (strcmp(bt->type, "image") == 0)
        gw_api_refs_media(&r->texts, "an image block");
    for (size_t t = 0; t < 4 && bt->texts[t]; t++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(b, bt->texts[t]);
        bool needed = strcmp(bt->texts[t], "text") == 0 || strcmp(bt->texts[t], "thinking") == 0;
        if ((needed && !cJSON_IsString(v)) ||
            (cJSON_IsString(v) == false && v && !cJSON_IsNull(v) && !cJSON_IsObject(v) &&
             !cJSON_IsArray(v)))
            return fail(err, errlen, param, "messages",
                        "messages[%d].content[%d]: a %s block needs a string '%s'.", i, j,
                        bt->type, bt->texts[t]);
        if (on && v && gw_api_refs_push_all(&r->texts, v) == -1)
            return -1;
    }
    if (strcmp(bt->type, "document") == 0)
        return document_source(r, cJSON_GetObjectItemCaseSensitive(b, "source"), on, i, j, err,
                               errlen, param);
    if (strcmp(bt->type, "tool_result") != 0)
        return 0;
    cJSON *content = cJSON_GetObjectItemCaseSensitive(b, "content"), *part;
    r->texts.role = GW_ROLE_TOOL;
    if (cJSON_IsString(content))
        return (GW_ROLE_TOOL & roles) ? gw_api_refs_push(&r->texts, content) : 0;
    if (content && !cJSON_IsArray(content))
        return fail(err, errlen, param, "messages",
                    "messages[%d].content[%d]: a tool_result's content must be a string or "
                    "blocks.", i, j);
    cJSON_ArrayForEach(part, content)
    {
        if (request_block(r, part, GW_ROLE_TOOL, roles, i, j, err, errlen, param) == -1)
            return -1;
    }
    return 0;
}

/* Tools: the app's own descriptions are screened as the system's. Tools that the provider
 * runs itself (web search, web fetch, code execution) and MCP servers are refused: the
 * model would read pages, files and tool output the gateway never sees. */
static int request_tools(struct gw_api_request *r, unsigned roles, char *err, size_t errlen,
                         const char **param)
{
    static const char *const server_side[] = {"web_search", "web_fetch", "code_execution",
                                              "mcp", "tool_search"};
    if (cJSON_GetObjectItemCaseSensitive(r->root, "mcp_servers"))
        return fail(err, errlen, param, "mcp_servers",
                    "MCP servers are refused: the model would read their output unscreened.");
    cJSON *tool;
    r->texts.role = GW_ROLE_SYSTEM;
    cJSON_ArrayForEach(tool, cJSON_GetObjectItemCaseSensitive(r->root, "tools"))
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(tool, "type");
        for (size_t i = 0; cJSON_IsString(type) && i < sizeof server_side / sizeof *server_side;
             i++)
            if (strncmp(type->valuestring, server_side[i], strlen(server_side[i])) == 0)
                return fail(err, errlen, param, "tools",
                            "The tool '%.40s' runs at the provider: the model would read what "
                            "it returns unscreened, so it is refused.", type->valuestring);
        cJSON *d = cJSON_GetObjectItemCaseSensitive(tool, "description");
        if (cJSON_IsString(d) && (roles & GW_ROLE_SYSTEM) &&
            gw_api_refs_push(&r->texts, d) == -1)
            return -1;
        /* examples of a tool's input, and its schema's descriptions, are text the model
         * reads, whoever wrote them */
        if ((roles & GW_ROLE_SYSTEM) &&
            (gw_api_refs_push_all(&r->texts,
                                  cJSON_GetObjectItemCaseSensitive(tool, "input_examples")) == -1 ||
             gw_api_refs_push_all(&r->texts,
                                  cJSON_GetObjectItemCaseSensitive(tool, "input_schema")) == -1))
            return -1;
    }
    /* a structured output's schema, whose descriptions the model reads as a tool's */
    if ((roles & GW_ROLE_SYSTEM) &&
        (gw_api_refs_push_all(&r->texts,
                              cJSON_GetObjectItemCaseSensitive(r->root, "output_format")) == -1 ||
         gw_api_refs_push_all(&r->texts,
                              cJSON_GetObjectItemCaseSensitive(r->root, "output_config")) == -1))
        return -1;
    return 0;
}

static int parse_request(struct gw_api_request *r, const char *body, size_t len, unsigned roles,
                         char *err, size_t errlen, const char **param)
{
    memset(r, 0, sizeof *r);
    *param = NULL;
    if (gw_api_parse_head(body, len, &r->root, &r->model, &r->stream, err, errlen, param) == -1)
        return -1;
    cJSON *system = cJSON_GetObjectItemCaseSensitive(r->root, "system"), *b;
    bool sys_on = (GW_ROLE_SYSTEM & roles) != 0;
    r->texts.role = GW_ROLE_SYSTEM;
    if (cJSON_IsString(system)) {
        if (sys_on && gw_api_refs_push(&r->texts, system) == -1)
            return -1;
    } else if (cJSON_IsArray(system)) {
        cJSON_ArrayForEach(b, system)
        {
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "type");
            cJSON *text = cJSON_GetObjectItemCaseSensitive(b, "text");
            if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 ||
                !cJSON_IsString(text))
                return fail(err, errlen, param, "system",
                            "'system' blocks must be text blocks with a string 'text'.");
            if (sys_on && gw_api_refs_push(&r->texts, text) == -1)
                return -1;
        }
    } else if (system && !cJSON_IsNull(system)) {
        return fail(err, errlen, param, "system",
                    "'system' must be a string or text blocks.");
    }
    cJSON *messages = cJSON_GetObjectItemCaseSensitive(r->root, "messages"), *m;
    if (!cJSON_IsArray(messages) || cJSON_GetArraySize(messages) == 0)
        return fail(err, errlen, param, "messages",
                    "'messages' must be a non-empty array.");
    int i = 0;
    cJSON_ArrayForEach(m, messages)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role) ||
            (strcmp(role->valuestring, "user") != 0 && strcmp(role->valuestring, "assistant") != 0))
            return fail(err, errlen, param, "messages",
                        "messages[%d] must be an object whose 'role' is user or assistant.", i);
        /* a member the API does not have is text some compatible server may render
         * (an OpenAI-style "name"): refused, as chat refuses it */
        for (const cJSON *k = m->child; k; k = k->next)
            if (strcmp(k->string, "role") != 0 && strcmp(k->string, "content") != 0)
                return fail(err, errlen, param, "messages",
                            "messages[%d]: the member '%.40s' is not one this gateway screens.", i,
                            k->string);
        unsigned bit = role->valuestring[0] == 'u' ? GW_ROLE_USER : GW_ROLE_ASSISTANT;
        cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        r->texts.role = bit;
        if (cJSON_IsString(content)) {
            if ((bit & roles) && gw_api_refs_push(&r->texts, content) == -1)
                return -1;
        } else if (cJSON_IsArray(content)) {
            int j = 0;
            cJSON_ArrayForEach(b, content)
            {
                if (request_block(r, b, bit, roles, i, j++, err, errlen, param) == -1)
                    return -1;
            }
        } else {
            return fail(err, errlen, param, "messages",
                        "messages[%d].content must be a string or an array of blocks.", i);
        }
        i++;
    }
    return request_tools(r, roles, err, errlen, param);
}

/* ---- replies ---- */

/* A block's ids and opaque data (a tool call's id, a thinking block's signature, a
 * redacted thinking block's data): set by the provider, passed as they are. */
static const char *const block_ids[] = {"id", "signature", "data", NULL};

/* A message's ids and states, which the provider sets and the SDK hands the app. */
static const char *const message_ids[] = {"id", "type", "role", "model", "stop_reason", NULL};

/* The texts of one content block of a reply; -1 for a block the gateway does not know. */
static int reply_block(cJSON *b, struct gw_text_refs *texts)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "type");
    if (!cJSON_IsString(type) || !gw_api_scalars(b, block_ids))
        return -1;
    const char *t = type->valuestring;
    cJSON *text = NULL;
    static const char *const k_text[] = {"type", "text", "citations", NULL};
    static const char *const k_thinking[] = {"type", "thinking", "signature", NULL};
    static const char *const k_tool[] = {"type", "id", "name", "input", NULL};
    static const char *const k_opaque[] = {"type", "data", NULL};
    const char *const *known;
    if (strcmp(t, "text") == 0) {
        cJSON *citations = cJSON_GetObjectItemCaseSensitive(b, "citations");
        if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(b, "text")) ||
            (citations && gw_api_refs_push_all(texts, citations) == -1)) /* cited_text, titles */
            return -1;
        return gw_api_unknown_members(b, k_text, texts); /* its text is pushed already */
    } else if (strcmp(t, "thinking") == 0) {
        text = cJSON_GetObjectItemCaseSensitive(b, "thinking");
        known = k_thinking;
    } else if (strcmp(t, "tool_use") == 0) {
        cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "name");
        if ((cJSON_IsString(name) && gw_api_refs_push(texts, name) == -1) ||
            gw_api_refs_push_all(texts, cJSON_GetObjectItemCaseSensitive(b, "input")) == -1)
            return -1;
        return gw_api_unknown_members(b, k_tool, texts);
    } else if (strcmp(t, "redacted_thinking") == 0) {
        /* encrypted by the provider: nothing a customer can read */
        return gw_api_unknown_members(b, k_opaque, texts);
    } else {
        return -1;
    }
    if (!cJSON_IsString(text) || gw_api_refs_push(texts, text) == -1)
        return -1;
    return gw_api_unknown_members(b, known, texts);
}

static cJSON *parse_reply(const char *body, size_t len, struct gw_text_refs *texts)
{
    static const char *const known[] = {"id", "type", "role", "model", "content", "stop_reason",
                                        "stop_sequence", "usage", "container", NULL};
    cJSON *root = gw_api_parse(body, len);
    if (!cJSON_IsObject(root) || gw_openai_unreadable(body, len, root) ||
        !gw_api_scalars(root, message_ids))
        goto unscreenable;
    cJSON *content = cJSON_GetObjectItemCaseSensitive(root, "content"), *b;
    if (content && !cJSON_IsArray(content) && !cJSON_IsNull(content))
        goto unscreenable;
    /* The text blocks' texts first, in order, so that the joined screening reads them as
     * the SDKs join them (thinking and tool calls between them are not in that text). */
    cJSON_ArrayForEach(b, content)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "type");
        cJSON *text = cJSON_GetObjectItemCaseSensitive(b, "text");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "text") == 0 &&
            cJSON_IsString(text) && gw_api_refs_push(texts, text) == -1)
            goto unscreenable;
    }
    cJSON_ArrayForEach(b, content)
    {
        if (reply_block(b, texts) == -1)
            goto unscreenable;
    }
    /* the stop sequence met: one of the app's own strings, echoed, which the SDK returns
     * as message.stop_sequence; screened all the same, as in a stream's message_delta */
    cJSON *stop = cJSON_GetObjectItemCaseSensitive(root, "stop_sequence");
    if ((cJSON_IsString(stop) && gw_api_refs_push(texts, stop) == -1) ||
        gw_api_unknown_members(root, known, texts) == -1)
        goto unscreenable;
    return root;
unscreenable:
    cJSON_Delete(root);
    gw_text_refs_free(texts);
    return NULL;
}

static void usage(const cJSON *root, long *prompt, long *completion)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "usage");
    *prompt = gw_api_count(cJSON_GetObjectItemCaseSensitive(u, "input_tokens"));
    *completion = gw_api_count(cJSON_GetObjectItemCaseSensitive(u, "output_tokens"));
}

/* ---- answers ---- */

static void quoted(struct gw_buf *out, const char *s)
{
    gw_json_quote(out, s, strlen(s));
}

static void event(struct gw_buf *out, const char *name)
{
    gw_buf_printf(out, "event: %s\ndata: ", name);
}

static void message_head(struct gw_buf *out, const char *id, const char *model, bool done)
{
    struct gw_buf t = {0};
    gw_buf_puts(&t, "msg_gr-");
    gw_buf_puts(&t, id);
    gw_buf_puts(out, "{\"id\":");
    gw_json_quote(out, t.data, t.len);
    gw_buf_free(&t);
    gw_buf_puts(out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    quoted(out, model);
    gw_buf_puts(out, done ? ",\"content\":[" : ",\"content\":[],\"stop_reason\":null,"
                                               "\"stop_sequence\":null,\"usage\":{"
                                               "\"input_tokens\":0,\"output_tokens\":0}}");
}

/* A text block at index saying text, as three events. */
static void text_block_events(struct gw_buf *out, int index, const char *text)
{
    event(out, "content_block_start");
    gw_buf_printf(out, "{\"type\":\"content_block_start\",\"index\":%d,\"content_block\":"
                       "{\"type\":\"text\",\"text\":\"\"}}\n\n", index);
    event(out, "content_block_delta");
    gw_buf_printf(out, "{\"type\":\"content_block_delta\",\"index\":%d,\"delta\":"
                       "{\"type\":\"text_delta\",\"text\":", index);
    quoted(out, text);
    gw_buf_puts(out, "}}\n\n");
    event(out, "content_block_stop");
    gw_buf_printf(out, "{\"type\":\"content_block_stop\",\"index\":%d}\n\n", index);
}

/* The end of a message refused: stop_reason "refusal", then message_stop. */
static void refusal_end(struct gw_buf *out)
{
    event(out, "message_delta");
    gw_buf_puts(out, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"refusal\","
                     "\"stop_sequence\":null},\"usage\":{\"output_tokens\":0}}\n\n");
    event(out, "message_stop");
    gw_buf_puts(out, "{\"type\":\"message_stop\"}\n\n");
}

static void refusal(struct gw_buf *out, const char *id, const char *model, const char *message,
                    bool stream)
{
    if (!stream) {
        message_head(out, id, model, true);
        gw_buf_puts(out, "{\"type\":\"text\",\"text\":");
        quoted(out, message);
        gw_buf_puts(out, "}],\"stop_reason\":\"refusal\",\"stop_sequence\":null,"
                         "\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}");
        return;
    }
    event(out, "message_start");
    gw_buf_puts(out, "{\"type\":\"message_start\",\"message\":");
    message_head(out, id, model, false);
    gw_buf_puts(out, "}\n\n");
    text_block_events(out, 0, message);
    refusal_end(out);
}

/* Anthropic's error types for the OpenAI-style ones the request path names. */
static void error(struct gw_buf *out, const char *message, const char *type, const char *param,
                  const char *code)
{
    const char *t = strcmp(type, "invalid_request_error") == 0 ? "invalid_request_error"
                                                                : "api_error";
    if (code && strcmp(code, "request_too_large") == 0)
        t = "request_too_large";
    else if (code && (strcmp(code, "unknown_url") == 0 || strcmp(code, "no_provider") == 0))
        t = "not_found_error";
    else if (code && strcmp(code, "shutting_down") == 0)
        t = "overloaded_error";
    gw_buf_printf(out, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":", t);
    quoted(out, message);
    gw_buf_puts(out, "}}");
}

/* ---- streams ---- */

enum block_kind { NONE, TEXT, TOOL_USE, THINKING, OPAQUE };
/* s->state: the kind of each block by index, the next free index, then each block's slot.
 * Consecutive text blocks share one scanner (the SDK's text joins them): a run's slot is
 * its first block's, and a text block's stop waits for the next event, so that what the
 * scanner still holds can go out in the next text block, screened with what follows. A
 * run after a thinking or tool block continues the one before it (s->join). */
#define MAX_BLOCKS (GW_API_SLOTS - 1)
#define NEXT_INDEX MAX_BLOCKS
#define SLOT_OF (MAX_BLOCKS + 1)     /* state[SLOT_OF + i]: block i's slot + 1 (0: i) */
#define PENDING (2 * MAX_BLOCKS + 1) /* the text block whose stop waits, + 1 */
#define RUN (2 * MAX_BLOCKS + 2)     /* the open run of text blocks' slot, + 1 */
#define LAST (2 * MAX_BLOCKS + 3)    /* the run's last text block started, + 1 */
#define PREV (2 * MAX_BLOCKS + 4)    /* the latest run's slot, + 1: a next run continues it */
#define OPEN (2 * MAX_BLOCKS + 5)    /* the block started and not yet stopped, + 1 */
_Static_assert(OPEN < sizeof((struct gw_api_stream *)0)->state, "state too small");

static int slot_of(const struct gw_api_stream *s, int idx)
{
    return s->state[SLOT_OF + idx] ? s->state[SLOT_OF + idx] - 1 : idx;
}

static void write_stop(struct gw_api_stream *s, int idx)
{
    char b[96];
    int n = snprintf(b, sizeof b, "event: content_block_stop\ndata: {\"type\":"
                                  "\"content_block_stop\",\"index\":%d}\n\n", idx);
    s->write(s->ctx, b, (size_t)n);
}

static void stream_error(struct gw_api_stream *s, const char *message, const char *code)
{
    struct gw_buf b = {0};
    event(&b, "error");
    error(&b, message, "api_error", NULL, code);
    gw_buf_puts(&b, "\n\n");
    s->write(s->ctx, b.data, b.len);
    gw_buf_free(&b);
    s->done = true;
}

/* Ends the message for a block found in a content block (index). */
static void block(struct gw_api_stream *s, int index)
{
    s->state[PENDING] = s->state[RUN] = 0;
    struct gw_buf b = {0};
    if (s->state[index] != NONE) { /* a block whose start was withheld is not stopped */
        event(&b, "content_block_stop");
        gw_buf_printf(&b, "{\"type\":\"content_block_stop\",\"index\":%d}\n\n", index);
    }
    int next = s->state[NEXT_INDEX]; /* the next position: the blocks are in order */
    text_block_events(&b, next, s->block_message(s->ctx, slot_of(s, index)));
    refusal_end(&b);
    s->write(s->ctx, b.data, b.len);
    gw_buf_free(&b);
    s->done = true;
}

/* A block's index as a slot, or -1. */
static int block_index(const cJSON *ev)
{
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(ev, "index");
    if (!cJSON_IsNumber(i) || i->valuedouble < 0 || i->valuedouble >= MAX_BLOCKS ||
        i->valuedouble != (double)i->valueint)
        return -1;
    return i->valueint;
}

/* The member of a block (or delta) that carries its text, by kind. */
static const char *text_member(enum block_kind k)
{
    return k == TEXT ? "text" : k == THINKING ? "thinking" : k == TOOL_USE ? "partial_json" : NULL;
}

static int block_start(struct gw_api_stream *s, cJSON *ev, bool *emit)
{
    int idx = block_index(ev);
    cJSON *cb = cJSON_GetObjectItemCaseSensitive(ev, "content_block");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(cb, "type");
    if (idx < 0 || !cJSON_IsString(type))
        return -1;
    const char *t = type->valuestring;
    enum block_kind k = strcmp(t, "text") == 0       ? TEXT
                        : strcmp(t, "thinking") == 0 ? THINKING
                        : strcmp(t, "tool_use") == 0 ? TOOL_USE
                        : strcmp(t, "redacted_thinking") == 0 ? OPAQUE
                                                              : NONE;
    if (k == NONE || !gw_api_scalars(cb, block_ids))
        return -1; /* a block the gateway does not know: not passed unscreened */
    /* The members of each kind; a text block's citations and a tool's name are read by the
     * SDK's finalMessage() too, screened whole; anything else goes by policy. */
    static const char *const known[][5] = {
        [TEXT] = {"type", "text", "citations", NULL},
        [THINKING] = {"type", "thinking", "signature", NULL},
        [TOOL_USE] = {"type", "id", "name", "input", NULL},
        [OPAQUE] = {"type", "data", NULL},
    };
    int rc;
    if ((rc = gw_api_stream_unknown(s, cb, known[k])) != 0 ||
        (rc = gw_api_stream_scan_all(s, cJSON_GetObjectItemCaseSensitive(cb, "citations"))) != 0 ||
        (k == TOOL_USE &&
         (rc = gw_api_stream_scan_all(s, cJSON_GetObjectItemCaseSensitive(cb, "name"))) != 0))
        return rc;
    if (s->state[idx] != NONE)
        return -1; /* an index started twice */
    s->state[idx] = (unsigned char)k;
    if (k == TOOL_USE)
        s->json(s->ctx, idx); /* its partial_json */
    if (k == TEXT && s->state[RUN]) {
        s->state[SLOT_OF + idx] = s->state[RUN]; /* the run's scanner goes on */
    } else if (k == TEXT) { /* a new run, after a thinking or tool block: the SDK's text */
        if (s->state[PREV] && s->join(s->ctx, s->state[PREV] - 1, idx) == -1) /* joins */
            return -1;
        s->state[RUN] = (unsigned char)(idx + 1);
    }
    if (k == TEXT) {
        s->state[LAST] = (unsigned char)(idx + 1);
        s->state[PREV] = (unsigned char)(slot_of(s, idx) + 1);
    }
    if (idx + 1 > s->state[NEXT_INDEX])
        s->state[NEXT_INDEX] = (unsigned char)(idx + 1);
    *emit = true;
    if (k == TOOL_USE) { /* its input comes as partial_json deltas; a start has {} */
        const cJSON *input = cJSON_GetObjectItemCaseSensitive(cb, "input");
        return !input || (cJSON_IsObject(input) && !input->child) ? 0 : -1;
    }
    if (k == OPAQUE)
        return 0;
    bool released = false;
    return gw_api_screen_member(s, slot_of(s, idx), cb, text_member(k), false, &released);
}

static int block_delta(struct gw_api_stream *s, cJSON *ev, bool *emit)
{
    int idx = block_index(ev);
    cJSON *delta = cJSON_GetObjectItemCaseSensitive(ev, "delta");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(delta, "type");
    if (idx < 0 || !cJSON_IsString(type))
        return -1;
    enum block_kind k = (enum block_kind)s->state[idx];
    const char *t = type->valuestring, *member = text_member(k);
    static const char *const known[] = {"type", "text", "partial_json", "thinking", "signature",
                                        NULL};
    int rc = gw_api_stream_unknown(s, delta, known);
    if (rc != 0)
        return rc;
    if (k == THINKING && strcmp(t, "signature_delta") == 0) {
        *emit = true; /* opaque, checked by the provider: one word, as in a whole reply */
        return gw_api_scalars(delta, block_ids) ? 0 : -1;
    }
    static const char *const expect[] = {[TEXT] = "text_delta", [THINKING] = "thinking_delta",
                                         [TOOL_USE] = "input_json_delta"};
    if (!member || strcmp(t, expect[k]) != 0)
        return -1; /* citations, or a delta of a kind its block does not have */
    bool released = false;
    rc = gw_api_screen_member(s, slot_of(s, idx), delta, member, false, &released);
    *emit = released;
    return rc;
}

/* Releases what the block at idx still holds as one more delta event. Returns 0, 1 or -1. */
static int release_block(struct gw_api_stream *s, int idx)
{
    enum block_kind k = (enum block_kind)s->state[idx];
    int slot = slot_of(s, idx);
    if (!s->held(s->ctx, slot) || !text_member(k))
        return 0;
    gw_buf_reset(s->tmp);
    int rc = s->screen(s->ctx, slot, NULL, 0, s->tmp);
    if (rc != 0 || s->tmp->len == 0)
        return rc;
    static const char *const types[] = {[TEXT] = "text_delta", [THINKING] = "thinking_delta",
                                        [TOOL_USE] = "input_json_delta"};
    struct gw_buf b = {0};
    event(&b, "content_block_delta");
    gw_buf_printf(&b, "{\"type\":\"content_block_delta\",\"index\":%d,\"delta\":{\"type\":\"%s\","
                      "\"%s\":", idx, types[k], text_member(k));
    gw_json_quote(&b, s->tmp->data, s->tmp->len);
    gw_buf_puts(&b, "}}\n\n");
    s->write(s->ctx, b.data, b.len);
    gw_buf_free(&b);
    return 0;
}

/* An error event's message, screened through the last slot. */
/* An error event: the SDK throws with the whole error in its message, so every string of
 * it is screened; a block replaces the error with the gateway's own words. */
static int error_event(struct gw_api_stream *s, cJSON *ev)
{
    cJSON *err = cJSON_GetObjectItemCaseSensitive(ev, "error");
    int rc = gw_api_stream_scan_all(s, err);
    if (rc == 1) {
        cJSON *e = cJSON_CreateObject();
        rc = e && cJSON_AddStringToObject(e, "type", "api_error") &&
                     cJSON_AddStringToObject(e, "message", "The provider reported an error.") &&
                     cJSON_ReplaceItemInObjectCaseSensitive(ev, "error", e)
                 ? 0
                 : -1;
    }
    s->done = true;
    return rc;
}

/* Before an event: a run of text blocks goes on when a text block starts (the waiting stop
 * goes out; what the scanner holds will come out in the new block), and ends at anything
 * else but a ping (what it holds goes out in the waiting block, then its stop). Returns 0,
 * 1 (blocked at *at) or -1. */
static int settle_run(struct gw_api_stream *s, const char *type, const cJSON *ev, int *at)
{
    int waiting = s->state[PENDING] - 1;
    const cJSON *cbt = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(ev, "content_block"), "type");
    if (!s->state[RUN] || strcmp(type, "ping") == 0)
        return 0;
    if (strcmp(type, "content_block_start") == 0 && cJSON_IsString(cbt) &&
        strcmp(cbt->valuestring, "text") == 0) {
        if (waiting >= 0)
            write_stop(s, waiting);
        s->state[PENDING] = 0;
        return 0;
    }
    if (waiting < 0 && strcmp(type, "content_block_stop") != 0 &&
        strcmp(type, "content_block_delta") != 0)
        waiting = s->state[LAST] - 1; /* a block never stopped: its text goes out in it */
    if (waiting < 0)
        return 0; /* the run's open block goes on */
    int rc = release_block(s, waiting);
    s->state[PENDING] = s->state[RUN] = 0;
    if (rc == 0)
        write_stop(s, waiting);
    *at = waiting;
    return rc;
}

/* Screens one parsed event in place. Returns 0, 1 (blocked at *at), or -1. */
static int screen_event(struct gw_api_stream *s, const char *type, cJSON *ev, bool *emit, int *at)
{
    *emit = true;
    /* The API sends a message's blocks one after another: a block starts when the one
     * before it has stopped, and its deltas and stop come before the next starts. Blocks
     * that interleave would be joined by the client in another order than the scanner
     * read them ("...card 4111 1111 " in block 0 after "1111 1111" in block 1): refused. */
    bool block_start_ev = strcmp(type, "content_block_start") == 0;
    if (block_start_ev ? s->state[OPEN] != 0
                       : (strcmp(type, "content_block_delta") == 0 ||
                          strcmp(type, "content_block_stop") == 0) &&
                             s->state[OPEN] != block_index(ev) + 1)
        return -1;
    if (block_start_ev)
        s->state[OPEN] = (unsigned char)(block_index(ev) + 1);
    else if (strcmp(type, "content_block_stop") == 0)
        s->state[OPEN] = 0;
    int rc = settle_run(s, type, ev, at);
    if (rc != 0)
        return rc;
    *at = block_index(ev);
    if (strcmp(type, "content_block_start") == 0)
        return block_start(s, ev, emit);
    if (strcmp(type, "content_block_delta") == 0)
        return block_delta(s, ev, emit);
    if (strcmp(type, "content_block_stop") == 0) {
        if (*at < 0)
            return -1;
        if (s->state[*at] == TEXT && s->state[RUN]) { /* waits for the next event */
            s->state[PENDING] = (unsigned char)(*at + 1);
            *emit = false;
            return 0;
        }
        return release_block(s, *at);
    }
    if (strcmp(type, "message_start") == 0) {
        cJSON *msg = cJSON_GetObjectItemCaseSensitive(ev, "message");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
        static const char *const known[] = {"id", "type", "role", "model", "content",
                                            "stop_reason", "stop_sequence", "usage",
                                            "container", NULL};
        long p, c;
        usage(msg, &p, &c);
        s->tokens(s->ctx, p, -1);
        if (cJSON_IsString(id))
            snprintf(s->up_id, sizeof s->up_id, "%s", id->valuestring);
        if ((content && (!cJSON_IsArray(content) || content->child)) ||
            !gw_api_scalars(msg, message_ids))
            return -1;
        return gw_api_stream_unknown(s, msg, known);
    }
    if (strcmp(type, "message_delta") == 0) {
        static const char *const known[] = {"stop_reason", "container", NULL};
        long p, c;
        usage(ev, &p, &c);
        s->tokens(s->ctx, p, c);
        /* stop_sequence is one of the app's own strings, echoed: screened all the same */
        cJSON *delta = cJSON_GetObjectItemCaseSensitive(ev, "delta");
        if (!gw_api_scalars(delta, message_ids) || !gw_api_usage_ok(ev))
            return -1;
        return gw_api_stream_unknown(s, delta, known);
    }
    if (strcmp(type, "message_stop") == 0) {
        for (int i = 0; i < s->state[NEXT_INDEX]; i++) {
            rc = release_block(s, i); /* a block the provider never stopped */
            if (rc != 0) {
                *at = i;
                return rc;
            }
        }
        s->done = true;
        return 0;
    }
    if (strcmp(type, "ping") == 0)
        return 0;
    if (strcmp(type, "error") == 0)
        return error_event(s, ev);
    return -1; /* an event the gateway does not know */
}

/* The members an event of type reads (the walk screens or checks each); any other, the
 * delta of a ping or of a message_stop, goes by policy.unknown_fields. */
static const char *const *event_members(const char *type)
{
    static const char *const message_start[] = {"type", "message", NULL};
    static const char *const block_start[] = {"type", "index", "content_block", NULL};
    static const char *const block_delta[] = {"type", "index", "delta", NULL};
    static const char *const block_stop[] = {"type", "index", NULL};
    static const char *const message_delta[] = {"type", "delta", "usage", NULL};
    static const char *const error[] = {"type", "error", NULL};
    static const char *const other[] = {"type", NULL};
    return strcmp(type, "message_start") == 0         ? message_start
           : strcmp(type, "content_block_start") == 0 ? block_start
           : strcmp(type, "content_block_delta") == 0 ? block_delta
           : strcmp(type, "content_block_stop") == 0  ? block_stop
           : strcmp(type, "message_delta") == 0       ? message_delta
           : strcmp(type, "error") == 0               ? error
                                                      : other;
}

static int stream_event(struct gw_api_stream *s, const char *name, const char *data, size_t len)
{
    cJSON *ev = gw_api_parse(data, len);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
    if (!cJSON_IsObject(ev) || gw_openai_unreadable(data, len, ev) || !cJSON_IsString(type) ||
        (name[0] && strcmp(name, type->valuestring) != 0)) {
        cJSON_Delete(ev);
        stream_error(s, "The provider sent a stream event that cannot be screened safely (not "
                        "JSON, no type, a name that disagrees with its type, a key twice, a "
                        "field name in another case or a NUL character).",
                     "provider_error");
        return -1;
    }
    bool emit = true;
    int at = -1, rc = 0;
    s->within_type = type->valuestring; /* the event's kind: its members' place */
    if (s->screen_replies &&
        (rc = gw_api_stream_unknown(s, ev, event_members(type->valuestring))) == 0)
        rc = screen_event(s, type->valuestring, ev, &emit, &at);
    else if (strcmp(type->valuestring, "message_stop") == 0)
        s->done = true;
    if (rc == 0 && emit)
        rc = gw_api_write_event(s, type->valuestring, ev);
    /* the provider ends its stream there: anything after it is refused (api.h) */
    if (rc == 0 &&
        (strcmp(type->valuestring, "message_stop") == 0 || strcmp(type->valuestring, "error") == 0))
        s->ended = true;
    cJSON_Delete(ev);
    if (rc == 1) {
        block(s, at < 0 ? 0 : at);
        return -1;
    }
    if (rc == -1) {
        stream_error(s, "The provider sent a stream the gateway cannot screen; it fails "
                        "closed.", "guardrail_error");
        return -1;
    }
    return 0;
}

static void stream_end(struct gw_api_stream *s)
{
    if (!s->done)
        stream_error(s, "The provider's stream ended before its message_stop.",
                     "provider_stream_error");
}

static const char *const forward[] = {"anthropic-version", "anthropic-beta", "Accept", NULL};
/* The API refuses a call without a version; the SDKs send one, a hand-written client may not. */
static const char *const defaults[] = {"anthropic-version: 2023-06-01", NULL};

/* The Messages parameters (Anthropic's API reference; output_format and output_config are screened
 * as the system's); "mock" is the built-in mock provider's knobs, which no provider reads as text
 */
static const char *const request_members[] = {
    "model",    "messages",     "max_tokens",    "system",        "metadata", "stop_sequences",
    "stream",   "temperature",  "top_k",         "top_p",         "tools",    "tool_choice",
    "thinking", "service_tier", "output_format", "output_config", "mock",     NULL};

const struct gw_api gw_api_anthropic_messages = {
    .name = "Anthropic Messages",
    .route = "/v1/messages",
    .upstream_path = "/messages",
    .providers = GW_PROVIDER_ANTHROPIC | GW_PROVIDER_MOCK,
    .parse_request = parse_request,
    .request_members = request_members,
    .parse_reply = parse_reply,
    .usage = usage,
    .refusal = refusal,
    .error = error,
    .forward_headers = forward,
    .key_header = "x-api-key: ",
    .default_headers = defaults,
    .stream_event = stream_event,
    .stream_end = stream_end,
    .stream_error = stream_error,
};
