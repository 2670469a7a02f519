/* The OpenAI Responses API (POST /v1/responses) behind the seam. Texts of a request: the
 * instructions, the input (a string, or items: messages with their text parts, function
 * calls and their outputs, reasoning summaries) and the descriptions of function tools.
 * Texts of a reply: every output item's text (output_text with its annotations, refusals,
 * function call arguments, reasoning summaries and reasoning text). An item, a part or a
 * role the gateway does not know is refused rather than passed unscreened.
 *
 * A stream is typed by its events. Each text (a part of a message, the arguments of a
 * function call, a part of a reasoning summary or of reasoning text) has a slot of its
 * own, given out as the text first shows up. Deltas are screened through their slot with
 * hold-back; the ".done" events, content_part.done, output_item.done and the final
 * response repeat every text whole, and must say what the customer was actually sent:
 * so the walk keeps, per slot, the text released so far (on the heap: the per-stream
 * state is too small), closes the slot at its first done event (what it still held goes
 * out as one more delta before it) and puts the kept text in place of the provider's. A
 * block mid-stream writes the block message as one more output_text delta (into the
 * blocked part, or into a new message item) and ends with response.incomplete, reason
 * content_filter. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "util/json.h"

/* ---- fields read in another case ---- */

/* The members the gateway reads on the way to a text, in requests, replies and events. */
static const char *const fields[] = {
    "input",   "instructions", "output",        "output_text",   "item",
    "part",    "response",     "content",       "summary",       "text",
    "refusal", "arguments",    "delta",         "type",          "role",
    "error",   "message",      "annotations",   "tools",         "description",
    "prompt",  "variables",    "output_index",  "content_index", "summary_index",
    "usage",   "input_tokens", "output_tokens", "stream",        "model",
    "name",    "filename",     "logprobs",
};

static bool is_field(const char *key)
{
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (strcmp(key, fields[i]) == 0)
            return true;
    return false;
}

/* The next character of a key as Go's encoding/json folds field names: ASCII letters
 * without case, U+017F (long s) as 's' and U+212A (Kelvin sign) as 'k'. */
static int fold_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    if (s[0] == 0xC5 && s[1] == 0xBF) {
        *p += 2;
        return 's';
    }
    if (s[0] == 0xE2 && s[1] == 0x84 && s[2] == 0xAA) {
        *p += 3;
        return 'k';
    }
    *p += 1;
    return s[0] >= 'A' && s[0] <= 'Z' ? s[0] + 32 : s[0];
}

/* Whether key is not one of fields but folds to one ("Input", "\u017Fummary"). */
static bool field_variant(const char *key)
{
    for (size_t f = 0; f < sizeof fields / sizeof *fields; f++) {
        const unsigned char *k = (const unsigned char *)key;
        const char *t = fields[f];
        while (*k && *t && fold_next(&k) == (unsigned char)*t)
            t++;
        if (!*k && !*t)
            return true;
    }
    return false;
}

/* Whether an object on the path to the texts has a key that a case-insensitive reader
 * takes for a field the gateway reads, spelled otherwise. (gw_openai_unreadable checks
 * the chat completions fields only.) */
static bool other_case(const cJSON *node)
{
    if (cJSON_IsArray(node)) {
        for (const cJSON *e = node->child; e; e = e->next)
            if (other_case(e))
                return true;
        return false;
    }
    if (!cJSON_IsObject(node))
        return false;
    for (const cJSON *k = node->child; k; k = k->next) {
        if (is_field(k->string)) {
            if (other_case(k))
                return true;
        } else if (field_variant(k->string)) {
            return true;
        }
    }
    return false;
}

/* Why a document cannot be screened safely, or NULL. */
static const char *unreadable(const char *raw, size_t len, const cJSON *root)
{
    const char *why = gw_openai_unreadable(raw, len, root);
    if (!why && other_case(root))
        why = "a field name in another case, which some readers take for the field";
    return why;
}

/* ---- requests ---- */

/* A 400's message about field; returns -1. */
__attribute__((format(printf, 5, 6))) static int fail(char *err, size_t errlen, const char **param,
                                                      const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    *param = field;
    return -1;
}

/* What parse_request needs while it walks the input. */
struct req {
    struct gw_api_request *r;
    unsigned roles;
    char *err;
    size_t errlen;
    const char **param;
};

/* Pushes node when it is a string and its role (q->r->texts.role) is screened. */
static int push(struct req *q, cJSON *node)
{
    return cJSON_IsString(node) && (q->r->texts.role & q->roles)
               ? gw_api_refs_push(&q->r->texts, node)
               : 0;
}

static int push_all(struct req *q, cJSON *node)
{
    return (q->r->texts.role & q->roles) ? gw_api_refs_push_all(&q->r->texts, node) : 0;
}

static bool one_of(const char *s, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(s, *names) == 0)
            return true;
    return false;
}

/* Refuses an object with a member that is not in known (null members pass). */
static int only_known(struct req *q, const cJSON *obj, const char *const *known, int i,
                      const char *what)
{
    for (const cJSON *k = obj->child; k; k = k->next)
        if (!cJSON_IsNull(k) && !one_of(k->string, known))
            return fail(q->err, q->errlen, q->param, "input",
                        "input[%d]: the member '%.40s' of %s is not screened by this gateway, "
                        "so it is refused.",
                        i, k->string, what);
    return 0;
}

/* A string member that must be a string when present. */
static int string_member(struct req *q, cJSON *obj, const char *name, int i, cJSON **out)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (v && !cJSON_IsString(v) && !cJSON_IsNull(v))
        return fail(q->err, q->errlen, q->param, "input", "input[%d]: '%s' must be a string.", i,
                    name);
    *out = cJSON_IsString(v) ? v : NULL;
    return 0;
}

/* The texts of one content part of input item i (a message's, or a function call
 * output's). Files and images have no text: their bytes are not screened (as a PDF's
 * pages are not), only their name. */
static int request_part(struct req *q, cJSON *p, int i, int j)
{
    static const char *const k_text[] = {"type", "text", NULL};
    static const char *const k_output[] = {"type", "text", "annotations", "logprobs", NULL};
    static const char *const k_refusal[] = {"type", "refusal", NULL};
    static const char *const k_image[] = {"type", "image_url", "file_id", "detail", NULL};
    static const char *const k_file[] = {"type",      "file_id",  "file_url",
                                         "file_data", "filename", NULL};
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
    if (!cJSON_IsObject(p) || !cJSON_IsString(type))
        return fail(q->err, q->errlen, q->param, "input",
                    "input[%d].content[%d] must be an object with a string 'type'.", i, j);
    const char *t = type->valuestring;
    const char *const *known;
    const char *member = NULL;
    if (strcmp(t, "input_text") == 0) {
        known = k_text, member = "text";
    } else if (strcmp(t, "output_text") == 0) {
        known = k_output, member = "text";
        if (push_all(q, cJSON_GetObjectItemCaseSensitive(p, "annotations")) == -1)
            return -1;
    } else if (strcmp(t, "refusal") == 0) {
        known = k_refusal, member = "refusal";
    } else if (strcmp(t, "input_image") == 0) {
        known = k_image;
    } else if (strcmp(t, "input_file") == 0) {
        known = k_file;
        cJSON *name;
        if (string_member(q, p, "filename", i, &name) == -1 || push(q, name) == -1)
            return -1;
    } else {
        return fail(q->err, q->errlen, q->param, "input",
                    "input[%d].content[%d]: a content part of type '%.40s' is not screened by "
                    "this gateway, so it is refused.",
                    i, j, t);
    }
    if (only_known(q, p, known, i, "a content part") == -1)
        return -1;
    if (!member)
        return 0;
    cJSON *text = cJSON_GetObjectItemCaseSensitive(p, member);
    if (!cJSON_IsString(text))
        return fail(q->err, q->errlen, q->param, "input",
                    "input[%d].content[%d]: a %s part needs a string '%s'.", i, j, t, member);
    return push(q, text);
}

/* A string, or an array of parts. */
static int request_content(struct req *q, cJSON *content, int i, const char *name)
{
    if (cJSON_IsString(content))
        return push(q, content);
    if (!cJSON_IsArray(content))
        return fail(q->err, q->errlen, q->param, "input",
                    "input[%d].%s must be a string or an array of parts.", i, name);
    int j = 0;
    cJSON *p;
    cJSON_ArrayForEach(p, content)
    {
        if (request_part(q, p, i, j++) == -1)
            return -1;
    }
    return 0;
}

/* A reasoning item's summary or content: parts of type want with a string text. */
static int reasoning_parts(struct req *q, cJSON *parts, const char *want, int i, const char *name)
{
    static const char *const known[] = {"type", "text", NULL};
    if (parts && !cJSON_IsArray(parts) && !cJSON_IsNull(parts))
        return fail(q->err, q->errlen, q->param, "input", "input[%d].%s must be an array.", i,
                    name);
    cJSON *p;
    cJSON_ArrayForEach(p, parts)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
        cJSON *text = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (!cJSON_IsObject(p) || !cJSON_IsString(type) || strcmp(type->valuestring, want) != 0 ||
            !cJSON_IsString(text))
            return fail(q->err, q->errlen, q->param, "input",
                        "input[%d].%s must be %s parts with a string 'text'.", i, name, want);
        if (only_known(q, p, known, i, "a reasoning part") == -1 || push(q, text) == -1)
            return -1;
    }
    return 0;
}

/* The GW_ROLE_* bit of a message role, spelled exactly; 0 for any other spelling. */
static unsigned role_bit(const char *role)
{
    if (strcmp(role, "user") == 0)
        return GW_ROLE_USER;
    if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
        return GW_ROLE_SYSTEM;
    if (strcmp(role, "assistant") == 0)
        return GW_ROLE_ASSISTANT;
    return 0;
}

static int request_item(struct req *q, cJSON *item, int i)
{
    static const char *const k_message[] = {"type",   "role",  "content", "id",
                                            "status", "phase", NULL};
    static const char *const k_call[] = {"type",   "id",        "call_id", "name", "arguments",
                                         "status", "namespace", "caller",  NULL};
    static const char *const k_output[] = {"type", "id", "call_id", "output", "status", NULL};
    static const char *const k_reasoning[] = {
        "type", "id", "summary", "content", "encrypted_content", "status", NULL};
    static const char *const k_reference[] = {"type", "id", NULL};
    if (!cJSON_IsObject(item))
        return fail(q->err, q->errlen, q->param, "input", "input[%d] must be an object.", i);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
    cJSON *role = cJSON_GetObjectItemCaseSensitive(item, "role");
    if (type && !cJSON_IsString(type))
        return fail(q->err, q->errlen, q->param, "input", "input[%d].type must be a string.", i);
    const char *t = type ? type->valuestring : role ? "message" : "";
    if (strcmp(t, "message") == 0) {
        /* A role spelled otherwise ("User", " user") is refused: the provider may read it
         * as a user's message, and the gateway would not know what to screen. */
        if (!cJSON_IsString(role) || !(q->r->texts.role = role_bit(role->valuestring)))
            return fail(q->err, q->errlen, q->param, "input",
                        "input[%d]: a message's 'role' must be one of user, system, developer, "
                        "assistant.",
                        i);
        if (only_known(q, item, k_message, i, "a message") == -1)
            return -1;
        return request_content(q, cJSON_GetObjectItemCaseSensitive(item, "content"), i, "content");
    }
    if (strcmp(t, "function_call") == 0) {
        q->r->texts.role = GW_ROLE_ASSISTANT;
        cJSON *args, *name;
        if (only_known(q, item, k_call, i, "a function call") == -1 ||
            string_member(q, item, "name", i, &name) == -1 ||
            string_member(q, item, "arguments", i, &args) == -1)
            return -1;
        if (!args)
            return fail(q->err, q->errlen, q->param, "input",
                        "input[%d]: a function call needs a string 'arguments'.", i);
        return push(q, name) == -1 ? -1 : push(q, args);
    }
    if (strcmp(t, "function_call_output") == 0) {
        q->r->texts.role = GW_ROLE_TOOL;
        if (only_known(q, item, k_output, i, "a function call output") == -1)
            return -1;
        return request_content(q, cJSON_GetObjectItemCaseSensitive(item, "output"), i, "output");
    }
    if (strcmp(t, "reasoning") == 0) {
        q->r->texts.role = GW_ROLE_ASSISTANT;
        if (only_known(q, item, k_reasoning, i, "a reasoning item") == -1 ||
            reasoning_parts(q, cJSON_GetObjectItemCaseSensitive(item, "summary"), "summary_text", i,
                            "summary") == -1)
            return -1;
        return reasoning_parts(q, cJSON_GetObjectItemCaseSensitive(item, "content"),
                               "reasoning_text", i, "content");
    }
    if (strcmp(t, "item_reference") == 0)
        return only_known(q, item, k_reference, i, "an item reference");
    return fail(q->err, q->errlen, q->param, "input",
                "input[%d]: an item of type '%.40s' is not screened by this gateway, so it is "
                "refused.",
                i, t);
}

static int parse_request(struct gw_api_request *r, const char *body, size_t len, unsigned roles,
                         char *err, size_t errlen, const char **param)
{
    memset(r, 0, sizeof *r);
    *param = NULL;
    struct req q = {r, roles, err, errlen, param};
    r->root = gw_api_parse(body, len);
    if (!cJSON_IsObject(r->root)) {
        snprintf(err, errlen,
                 "The request body is not valid JSON: expected one JSON object "
                 "and nothing after it.");
        return -1;
    }
    const char *why = unreadable(body, len, r->root);
    if (why) {
        snprintf(err, errlen, "The request body is refused: it has %s.", why);
        return -1;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(r->root, "model");
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(r->root, "stream");
    if (model && !cJSON_IsString(model))
        return fail(err, errlen, param, "model", "'model' must be a string.");
    if (stream && !cJSON_IsBool(stream) && !cJSON_IsNull(stream))
        return fail(err, errlen, param, "stream", "'stream' must be a boolean.");
    r->model = model ? model->valuestring : "unknown";
    r->stream = cJSON_IsTrue(stream);
    cJSON *instructions = cJSON_GetObjectItemCaseSensitive(r->root, "instructions");
    if (instructions && !cJSON_IsString(instructions) && !cJSON_IsNull(instructions))
        return fail(err, errlen, param, "instructions", "'instructions' must be a string.");
    r->texts.role = GW_ROLE_SYSTEM;
    if (push(&q, instructions) == -1)
        return -1;
    cJSON *input = cJSON_GetObjectItemCaseSensitive(r->root, "input"), *item;
    if (cJSON_IsString(input)) {
        r->texts.role = GW_ROLE_USER;
        if (push(&q, input) == -1)
            return -1;
    } else if (cJSON_IsArray(input)) {
        int i = 0;
        cJSON_ArrayForEach(item, input)
        {
            if (request_item(&q, item, i++) == -1)
                return -1;
        }
    } else if (input && !cJSON_IsNull(input)) {
        return fail(err, errlen, param, "input", "'input' must be a string or an array of items.");
    }
    /* A stored prompt's variables are filled in by the app, often from what a user typed. */
    r->texts.role = GW_ROLE_USER;
    cJSON *prompt = cJSON_GetObjectItemCaseSensitive(r->root, "prompt");
    if (push_all(&q, cJSON_GetObjectItemCaseSensitive(prompt, "variables")) == -1)
        return -1;
    /* Tool descriptions are the app's own words: screened as the system's. */
    r->texts.role = GW_ROLE_SYSTEM;
    cJSON *tool;
    cJSON_ArrayForEach(tool, cJSON_GetObjectItemCaseSensitive(r->root, "tools"))
    {
        if (push(&q, cJSON_GetObjectItemCaseSensitive(tool, "description")) == -1)
            return -1;
    }
    *param = NULL;
    return 0;
}

/* ---- replies ---- */

/* Members of a response object that are not text the model wrote: its state, and what it
 * repeats of the request (the app's own instructions, tools and settings). */
static const char *const k_response[] = {"id",
                                         "object",
                                         "created_at",
                                         "completed_at",
                                         "status",
                                         "background",
                                         "error",
                                         "incomplete_details",
                                         "instructions",
                                         "max_output_tokens",
                                         "max_tool_calls",
                                         "model",
                                         "output",
                                         "output_text",
                                         "parallel_tool_calls",
                                         "previous_response_id",
                                         "prompt",
                                         "prompt_cache_key",
                                         "prompt_cache_retention",
                                         "prompt_cache_options",
                                         "reasoning",
                                         "safety_identifier",
                                         "service_tier",
                                         "store",
                                         "temperature",
                                         "text",
                                         "tool_choice",
                                         "tools",
                                         "top_logprobs",
                                         "top_p",
                                         "truncation",
                                         "usage",
                                         "user",
                                         "metadata",
                                         "conversation",
                                         "billing",
                                         NULL};
static const char *const k_message[] = {"type", "id", "status", "role", "content", "phase", NULL};
static const char *const k_output_text[] = {"type", "text", "annotations", "logprobs", NULL};
static const char *const k_refusal[] = {"type", "refusal", NULL};
static const char *const k_call[] = {"type",   "id",        "call_id", "name", "arguments",
                                     "status", "namespace", "caller",  NULL};
static const char *const k_reasoning[] = {"type",   "id", "summary", "content", "encrypted_content",
                                          "status", NULL};
static const char *const k_reasoning_part[] = {"type", "text", NULL};
static const char *const k_error[] = {"code", "message", NULL};

/* The texts of a reasoning item's summary or content parts (of type want). */
static int reply_reasoning_parts(cJSON *parts, const char *want, struct gw_text_refs *texts)
{
    if (parts && !cJSON_IsArray(parts) && !cJSON_IsNull(parts))
        return -1;
    cJSON *p;
    cJSON_ArrayForEach(p, parts)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
        cJSON *text = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, want) != 0 ||
            !cJSON_IsString(text) || gw_api_refs_push(texts, text) == -1 ||
            gw_api_unknown_members(p, k_reasoning_part, texts) == -1)
            return -1;
    }
    return 0;
}

/* The texts of one output item; -1 for an item, a part or a shape the gateway does not
 * know. */
static int reply_item(cJSON *item, struct gw_text_refs *texts)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
    if (!cJSON_IsString(type))
        return -1;
    const char *t = type->valuestring;
    if (strcmp(t, "message") == 0) {
        cJSON *content = cJSON_GetObjectItemCaseSensitive(item, "content"), *p;
        if (content && !cJSON_IsArray(content) && !cJSON_IsNull(content))
            return -1;
        cJSON_ArrayForEach(p, content)
        {
            const cJSON *pt = cJSON_GetObjectItemCaseSensitive(p, "type");
            if (!cJSON_IsString(pt))
                return -1;
            bool text = strcmp(pt->valuestring, "output_text") == 0;
            if (!text && strcmp(pt->valuestring, "refusal") != 0)
                return -1;
            cJSON *s = cJSON_GetObjectItemCaseSensitive(p, text ? "text" : "refusal");
            if (!cJSON_IsString(s) || gw_api_refs_push(texts, s) == -1)
                return -1;
            /* url and file citations: titles, urls, file names */
            if (text && gw_api_refs_push_all(
                            texts, cJSON_GetObjectItemCaseSensitive(p, "annotations")) == -1)
                return -1;
            if (gw_api_unknown_members(p, text ? k_output_text : k_refusal, texts) == -1)
                return -1;
        }
        return gw_api_unknown_members(item, k_message, texts);
    }
    if (strcmp(t, "function_call") == 0) {
        cJSON *args = cJSON_GetObjectItemCaseSensitive(item, "arguments");
        if (!cJSON_IsString(args) || gw_api_refs_push(texts, args) == -1)
            return -1;
        return gw_api_unknown_members(item, k_call, texts);
    }
    if (strcmp(t, "reasoning") == 0) {
        if (reply_reasoning_parts(cJSON_GetObjectItemCaseSensitive(item, "summary"), "summary_text",
                                  texts) == -1 ||
            reply_reasoning_parts(cJSON_GetObjectItemCaseSensitive(item, "content"),
                                  "reasoning_text", texts) == -1)
            return -1;
        return gw_api_unknown_members(item, k_reasoning, texts);
    }
    return -1; /* web search, file search, computer use, MCP, ...: not screened */
}

static cJSON *parse_reply(const char *body, size_t len, struct gw_text_refs *texts)
{
    cJSON *root = gw_api_parse(body, len);
    if (!cJSON_IsObject(root) || unreadable(body, len, root))
        goto unscreenable;
    texts->role = 0;
    cJSON *output = cJSON_GetObjectItemCaseSensitive(root, "output"), *item;
    if (output && !cJSON_IsArray(output) && !cJSON_IsNull(output))
        goto unscreenable;
    cJSON_ArrayForEach(item, output)
    {
        if (reply_item(item, texts) == -1)
            goto unscreenable;
    }
    /* Not in OpenAI's own replies (its SDKs compute it), but a provider may send it. */
    cJSON *output_text = cJSON_GetObjectItemCaseSensitive(root, "output_text");
    if (cJSON_IsString(output_text) ? gw_api_refs_push(texts, output_text) == -1
                                    : output_text && !cJSON_IsNull(output_text))
        goto unscreenable;
    cJSON *error = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (error && !cJSON_IsNull(error)) {
        cJSON *message = cJSON_GetObjectItemCaseSensitive(error, "message");
        if (!cJSON_IsObject(error) || (message && !cJSON_IsString(message)) ||
            (message && gw_api_refs_push(texts, message) == -1) ||
            gw_api_unknown_members(error, k_error, texts) == -1)
            goto unscreenable;
    }
    if (gw_api_unknown_members(root, k_response, texts) == -1)
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

/* Empties an output_text part's logprobs: its tokens would repeat what was redacted. */
static void strip_logprobs(cJSON *part)
{
    cJSON *lp = cJSON_GetObjectItemCaseSensitive(part, "logprobs");
    if (lp && !(cJSON_IsArray(lp) && !lp->child))
        cJSON_ReplaceItemInObjectCaseSensitive(part, "logprobs", cJSON_CreateArray());
}

static void redacted(cJSON *root)
{
    cJSON *item, *part;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "output"))
    {
        cJSON_ArrayForEach(part, cJSON_GetObjectItemCaseSensitive(item, "content"))
        {
            strip_logprobs(part);
        }
    }
}

/* ---- answers ---- */

static void quoted(struct gw_buf *out, const char *s)
{
    gw_json_quote(out, s, strlen(s));
}

/* "event: TYPE\ndata: {"type":TYPE,"sequence_number":N" (the caller closes it with
 * event_end). */
static void event_begin(struct gw_buf *out, const char *type, unsigned seq)
{
    gw_buf_printf(out, "event: %s\ndata: {\"type\":\"%s\",\"sequence_number\":%u", type, type, seq);
}

static void event_end(struct gw_buf *out)
{
    gw_buf_puts(out, "}\n\n");
}

/* A message item saying text (NULL: no part yet). */
static void message_item(struct gw_buf *out, const char *id, const char *status, const char *text)
{
    gw_buf_puts(out, "{\"type\":\"message\",\"id\":");
    quoted(out, id);
    gw_buf_printf(out, ",\"status\":\"%s\",\"role\":\"assistant\",\"content\":[", status);
    if (text) {
        gw_buf_puts(out, "{\"type\":\"output_text\",\"text\":");
        quoted(out, text);
        gw_buf_puts(out, ",\"annotations\":[]}");
    }
    gw_buf_puts(out, "]}");
}

/* A response object: in progress with no output, or incomplete for content_filter with
 * one message (id mid) saying text. */
static void response_object(struct gw_buf *out, const char *id, const char *model, const char *mid,
                            const char *text, bool usage_known)
{
    gw_buf_puts(out, "{\"id\":");
    quoted(out, id);
    gw_buf_printf(out,
                  ",\"object\":\"response\",\"created_at\":%lld,\"status\":\"%s\","
                  "\"incomplete_details\":%s,\"model\":",
                  (long long)time(NULL), text ? "incomplete" : "in_progress",
                  text ? "{\"reason\":\"content_filter\"}" : "null");
    quoted(out, model);
    gw_buf_puts(out, ",\"output\":[");
    if (text)
        message_item(out, mid, "incomplete", text);
    gw_buf_puts(out, "],\"usage\":");
    gw_buf_puts(out, usage_known ? "{\"input_tokens\":0,\"output_tokens\":0,\"total_tokens\":0}"
                                 : "null");
    gw_buf_puts(out, ",\"error\":null}");
}

/* Where a text of a message is: "item_id":...,"output_index":o,"content_index":c */
static void text_where(struct gw_buf *out, const char *item_id, int o, int c)
{
    gw_buf_puts(out, ",\"item_id\":");
    quoted(out, item_id);
    gw_buf_printf(out, ",\"output_index\":%d,\"content_index\":%d", o, c);
}

static void empty_part_added(struct gw_buf *out, unsigned seq, const char *mid, int o)
{
    event_begin(out, "response.content_part.added", seq);
    text_where(out, mid, o, 0);
    gw_buf_puts(out, ",\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}");
    event_end(out);
}

static void message_item_added(struct gw_buf *out, unsigned seq, const char *mid, int o)
{
    event_begin(out, "response.output_item.added", seq);
    gw_buf_printf(out, ",\"output_index\":%d,\"item\":", o);
    message_item(out, mid, "in_progress", NULL);
    event_end(out);
}

static void text_delta(struct gw_buf *out, unsigned seq, const char *item_id, int o, int c,
                       const char *text)
{
    event_begin(out, "response.output_text.delta", seq);
    text_where(out, item_id, o, c);
    gw_buf_puts(out, ",\"delta\":");
    quoted(out, text);
    gw_buf_puts(out, ",\"logprobs\":[]");
    event_end(out);
}

/* response.incomplete, for content_filter, with one message (mid) saying text. */
static void incomplete_event(struct gw_buf *out, unsigned seq, const char *id, const char *model,
                             const char *mid, const char *text, bool usage_known)
{
    event_begin(out, "response.incomplete", seq);
    gw_buf_puts(out, ",\"response\":");
    response_object(out, id, model, mid, text, usage_known);
    event_end(out);
}

static void refusal(struct gw_buf *out, const char *id, const char *model, const char *message,
                    bool stream)
{
    struct gw_buf rid = {0}, mid = {0};
    gw_buf_printf(&rid, "resp_gr-%s", id);
    gw_buf_printf(&mid, "msg_gr-%s", id);
    if (!stream) {
        response_object(out, rid.data, model, mid.data, message, true);
        goto done;
    }
    unsigned seq = 0;
    event_begin(out, "response.created", seq++);
    gw_buf_puts(out, ",\"response\":");
    response_object(out, rid.data, model, NULL, NULL, false);
    event_end(out);
    message_item_added(out, seq++, mid.data, 0);
    empty_part_added(out, seq++, mid.data, 0);
    text_delta(out, seq++, mid.data, 0, 0, message);
    event_begin(out, "response.output_text.done", seq++);
    text_where(out, mid.data, 0, 0);
    gw_buf_puts(out, ",\"text\":");
    quoted(out, message);
    gw_buf_puts(out, ",\"logprobs\":[]");
    event_end(out);
    event_begin(out, "response.content_part.done", seq++);
    text_where(out, mid.data, 0, 0);
    gw_buf_puts(out, ",\"part\":{\"type\":\"output_text\",\"text\":");
    quoted(out, message);
    gw_buf_puts(out, ",\"annotations\":[]}");
    event_end(out);
    event_begin(out, "response.output_item.done", seq++);
    gw_buf_puts(out, ",\"output_index\":0,\"item\":");
    message_item(out, mid.data, "incomplete", message);
    event_end(out);
    incomplete_event(out, seq++, rid.data, model, mid.data, message, true);
done:
    gw_buf_free(&rid);
    gw_buf_free(&mid);
}

/* ---- streams ---- */

/* The texts of a stream, each with a slot of its own. */
enum kind { NONE, TEXT, REFUSAL, ARGS, SUMMARY, REASONING };

static const struct {
    const char *delta; /* the event that carries more of it */
    const char *sub;   /* the member that numbers it inside its item (NULL: one per item) */
} kinds[] = {
    [TEXT] = {"response.output_text.delta", "content_index"},
    [REFUSAL] = {"response.refusal.delta", "content_index"},
    [ARGS] = {"response.function_call_arguments.delta", NULL},
    [SUMMARY] = {"response.reasoning_summary_text.delta", "summary_index"},
    [REASONING] = {"response.reasoning_text.delta", "content_index"},
};

#define MAX_TEXTS GW_API_SLOTS
#define MAX_INDEX 254 /* output and part indices are kept in a byte */

/* The walk's state, kept in s->state between events (copied: state is not aligned). */
struct walk {
    struct gw_buf *kept; /* per slot, the text released so far; heap, or NULL */
    uint64_t closed;     /* per slot: closed (its done event came) */
    uint64_t fed;        /* per slot: some text went in */
    uint64_t shown;      /* per slot: the client saw the text begin (an .added, a delta) */
    unsigned seq;        /* the next sequence_number written */
    unsigned char n;     /* slots given out */
    unsigned char items; /* 1 + the highest output_index seen */
    unsigned char kind[MAX_TEXTS], out[MAX_TEXTS], sub[MAX_TEXTS]; /* what each slot is */
};
_Static_assert(sizeof(struct walk) <= sizeof((struct gw_api_stream *)0)->state,
               "the responses walk does not fit the per-stream state");

/* One call into the walk. */
struct cx {
    struct gw_api_stream *s;
    struct walk w;
    int at;              /* the slot that blocked, or -1 */
    const char *at_item; /* the id of its item, or NULL */
};

static uint64_t bit(int slot)
{
    return (uint64_t)1 << slot;
}

static void kept_free(struct walk *w)
{
    for (int i = 0; w->kept && i < GW_API_SLOTS; i++)
        gw_buf_free(&w->kept[i]);
    free(w->kept);
    w->kept = NULL;
}

/* The text released from slot so far ("" when none). */
static const char *kept_text(const struct walk *w, int slot)
{
    return w->kept && w->kept[slot].data ? w->kept[slot].data : "";
}

/* The slot of a text, or -1; with add, a new slot when it has none (-1 when they are all
 * given out). */
static int slot_of(struct walk *w, enum kind k, int o, int sub, bool add)
{
    for (int i = 0; i < w->n; i++)
        if (w->kind[i] == k && w->out[i] == o && w->sub[i] == sub)
            return i;
    if (!add || w->n == MAX_TEXTS)
        return -1;
    w->kind[w->n] = (unsigned char)k;
    w->out[w->n] = (unsigned char)o;
    w->sub[w->n] = (unsigned char)sub;
    return w->n++;
}

/* An index member: a whole number 0..MAX_INDEX, or -1. Notes the output indices seen. */
static int index_of(struct cx *c, const cJSON *obj, const char *name)
{
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(i) || !(i->valuedouble >= 0 && i->valuedouble <= MAX_INDEX) ||
        i->valuedouble != (double)i->valueint)
        return -1;
    if (strcmp(name, "output_index") == 0 && i->valueint + 1 > c->w.items)
        c->w.items = (unsigned char)(i->valueint + 1);
    return i->valueint;
}

/* Feeds text to slot (NULL: nothing) and, with close, closes it. What comes out is in
 * s->tmp and appended to the slot's kept text. Returns 0, 1 (blocked: c->at is set) or
 * -1. */
static int feed(struct cx *c, int slot, const char *text, bool close)
{
    struct gw_api_stream *s = c->s;
    gw_buf_reset(s->tmp);
    int rc = 0;
    if (text) {
        size_t len = strlen(text);
        rc = s->screen(s->ctx, slot, text, len, s->tmp);
        if (len)
            c->w.fed |= bit(slot);
    }
    if (rc == 0 && close) {
        rc = s->screen(s->ctx, slot, NULL, 0, s->tmp);
        c->w.closed |= bit(slot);
    }
    if (rc == 1)
        c->at = slot;
    if (rc != 0 || s->tmp->len == 0)
        return rc;
    if (!c->w.kept && !(c->w.kept = calloc(GW_API_SLOTS, sizeof *c->w.kept)))
        return -1;
    return gw_buf_append(&c->w.kept[slot], s->tmp->data, s->tmp->len);
}

/* Writes a delta event for slot carrying text. */
static void write_delta(struct cx *c, int slot, const char *item_id, const char *text)
{
    struct gw_buf *b = c->s->scratch;
    enum kind k = (enum kind)c->w.kind[slot];
    gw_buf_reset(b);
    event_begin(b, kinds[k].delta, c->w.seq++);
    gw_buf_puts(b, ",\"item_id\":");
    quoted(b, item_id ? item_id : "");
    gw_buf_printf(b, ",\"output_index\":%d", c->w.out[slot]);
    if (kinds[k].sub)
        gw_buf_printf(b, ",\"%s\":%d", kinds[k].sub, c->w.sub[slot]);
    gw_buf_puts(b, ",\"delta\":");
    quoted(b, text);
    if (k == TEXT)
        gw_buf_puts(b, ",\"logprobs\":[]");
    event_end(b);
    c->s->write(c->s->ctx, b->data, b->len);
}

/* A text as it first shows up (in an .added event, or a delta): screened through its
 * slot, and replaced by what comes out. Returns 0, 1 or -1; *released says whether
 * anything came out. */
static int text_more(struct cx *c, enum kind k, int o, int sub, cJSON *node, const char *item_id,
                     bool *released)
{
    if (!node)
        return 0;
    int slot = o < 0 || sub < 0 ? -1 : slot_of(&c->w, k, o, sub, true);
    if (slot < 0 || !cJSON_IsString(node))
        return -1;
    c->at_item = item_id;
    c->w.shown |= bit(slot);
    int rc = feed(c, slot, node->valuestring, false);
    if (rc != 0)
        return rc;
    if (released)
        *released = c->s->tmp->len > 0;
    return gw_openai_set_text(node, c->s->tmp->data ? c->s->tmp->data : "");
}

/* A text repeated whole (by a .done event, a part or item done, the final response):
 * closes its slot on the first of them (what it still held goes out as one more delta,
 * when the text was announced), and says what was released in all. A text never streamed
 * is screened whole here. Returns 0, 1 or -1. */
static int text_whole(struct cx *c, enum kind k, int o, int sub, cJSON *node, const char *item_id)
{
    if (!node)
        return 0;
    if (o < 0 || sub < 0 || !cJSON_IsString(node))
        return -1;
    int slot = slot_of(&c->w, k, o, sub, true);
    if (slot < 0)
        return -1;
    if (!(c->w.closed & bit(slot))) {
        /* Nothing streamed: the whole text is the text. Otherwise what was streamed is,
         * and the provider's repetition of it is not read at all. */
        const char *text = c->w.fed & bit(slot) ? NULL : node->valuestring;
        c->at_item = item_id;
        int rc = feed(c, slot, text, true);
        if (rc != 0)
            return rc;
        if ((c->w.shown & bit(slot)) && c->s->tmp->len > 0)
            write_delta(c, slot, item_id, c->s->tmp->data);
    }
    return gw_openai_set_text(node, kept_text(&c->w, slot));
}

/* A text of an item or a part: first showing (more) or repeated whole. */
static int text_at(struct cx *c, enum kind k, int o, int sub, cJSON *node, bool whole,
                   const char *item_id)
{
    return whole ? text_whole(c, k, o, sub, node, item_id)
                 : text_more(c, k, o, sub, node, item_id, NULL);
}

/* The members of obj the walk does not know, by the policy (policy.unknown_fields).
 * Returns 0, 1 (blocked) or -1. */
static int unknown(struct cx *c, cJSON *obj, const char *const *known)
{
    return gw_api_stream_unknown(c->s, obj, known);
}

/* The text of a part of item o at index sub; summary: a reasoning summary's part. */
static int part_texts(struct cx *c, int o, int sub, cJSON *part, bool whole, bool summary,
                      const char *item_id)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
    if (!cJSON_IsObject(part) || !cJSON_IsString(type))
        return -1;
    const char *t = type->valuestring;
    enum kind k = summary ? (strcmp(t, "summary_text") == 0 ? SUMMARY : NONE)
                  : strcmp(t, "output_text") == 0    ? TEXT
                  : strcmp(t, "refusal") == 0        ? REFUSAL
                  : strcmp(t, "reasoning_text") == 0 ? REASONING
                                                     : NONE;
    if (k == NONE)
        return -1;
    const char *const *known = k == TEXT      ? k_output_text
                               : k == REFUSAL ? k_refusal
                                              : k_reasoning_part;
    if (k == TEXT) {
        /* Citations are not screened in a stream: only an empty list passes. */
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(part, "annotations");
        if (a && !cJSON_IsNull(a) && !(cJSON_IsArray(a) && !a->child))
            return -1;
        strip_logprobs(part);
    }
    int rc = unknown(c, part, known);
    if (rc != 0)
        return rc;
    return text_at(c, k, o, sub,
                   cJSON_GetObjectItemCaseSensitive(part, k == REFUSAL ? "refusal" : "text"), whole,
                   item_id);
}

/* The texts of output item o, as announced (whole: false) or done. */
static int item_texts(struct cx *c, int o, cJSON *item, bool whole)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
    if (o < 0 || !cJSON_IsObject(item) || !cJSON_IsString(type))
        return -1;
    const char *t = type->valuestring, *item_id = cJSON_IsString(id) ? id->valuestring : NULL;
    int rc, j = 0;
    cJSON *p;
    if (strcmp(t, "message") == 0) {
        cJSON *content = cJSON_GetObjectItemCaseSensitive(item, "content");
        if (content && !cJSON_IsArray(content) && !cJSON_IsNull(content))
            return -1;
        if ((rc = unknown(c, item, k_message)) != 0)
            return rc;
        cJSON_ArrayForEach(p, content)
        {
            if (j > MAX_INDEX)
                return -1;
            if ((rc = part_texts(c, o, j++, p, whole, false, item_id)) != 0)
                return rc;
        }
        return 0;
    }
    if (strcmp(t, "function_call") == 0) {
        if ((rc = unknown(c, item, k_call)) != 0)
            return rc;
        return text_at(c, ARGS, o, 0, cJSON_GetObjectItemCaseSensitive(item, "arguments"), whole,
                       item_id);
    }
    if (strcmp(t, "reasoning") == 0) {
        if ((rc = unknown(c, item, k_reasoning)) != 0)
            return rc;
        static const char *const lists[] = {"summary", "content"};
        for (int l = 0; l < 2; l++) {
            cJSON *parts = cJSON_GetObjectItemCaseSensitive(item, lists[l]);
            if (parts && !cJSON_IsArray(parts) && !cJSON_IsNull(parts))
                return -1;
            j = 0;
            cJSON_ArrayForEach(p, parts)
            {
                if (j > MAX_INDEX)
                    return -1;
                if ((rc = part_texts(c, o, j++, p, whole, l == 0, item_id)) != 0)
                    return rc;
            }
        }
        return 0;
    }
    return -1; /* an item the gateway does not know */
}

/* A response object of response.created, .queued or .in_progress: nothing written yet. */
static int response_start(struct cx *c, cJSON *r)
{
    const cJSON *output = cJSON_GetObjectItemCaseSensitive(r, "output");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(r, "output_text");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(r, "error");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
    if (!cJSON_IsObject(r) ||
        (output && !cJSON_IsNull(output) && !(cJSON_IsArray(output) && !output->child)) ||
        (text && !cJSON_IsNull(text) && !(cJSON_IsString(text) && !text->valuestring[0])) ||
        (error && !cJSON_IsNull(error)))
        return -1;
    if (cJSON_IsString(id) && !c->s->up_id[0])
        snprintf(c->s->up_id, sizeof c->s->up_id, "%s", id->valuestring);
    return unknown(c, r, k_response);
}

/* An error object's message, screened whole (it is not streamed); a message that must be
 * blocked is replaced. Returns 0 or -1. */
static int error_message(struct cx *c, cJSON *obj)
{
    cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "message");
    if (!m || cJSON_IsNull(m))
        return 0;
    if (!cJSON_IsString(m))
        return -1;
    int rc = c->s->scan(c->s->ctx, m);
    if (rc == 1)
        rc = gw_openai_set_text(m, "The provider reported an error.") == 0 ? 0 : -1;
    return rc;
}

static void take_usage(struct cx *c, const cJSON *r)
{
    long p, k;
    usage(r, &p, &k);
    if (p >= 0 || k >= 0)
        c->s->tokens(c->s->ctx, p, k);
}

/* The response object of response.completed, .incomplete or .failed: every text in it
 * says what was released. */
static int response_end(struct cx *c, cJSON *r)
{
    if (!cJSON_IsObject(r))
        return -1;
    take_usage(c, r);
    cJSON *output = cJSON_GetObjectItemCaseSensitive(r, "output"), *item, *p;
    if (output && !cJSON_IsArray(output) && !cJSON_IsNull(output))
        return -1;
    int rc, o = 0;
    cJSON_ArrayForEach(item, output)
    {
        if (o > MAX_INDEX)
            return -1;
        if ((rc = item_texts(c, o++, item, true)) != 0)
            return rc;
    }
    cJSON *text = cJSON_GetObjectItemCaseSensitive(r, "output_text");
    if (text && !cJSON_IsNull(text)) { /* the output_text parts, as they now read */
        struct gw_buf *b = c->s->scratch;
        if (!cJSON_IsString(text))
            return -1;
        gw_buf_reset(b);
        cJSON_ArrayForEach(item, output)
        {
            cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(item, "content"))
            {
                const cJSON *pt = cJSON_GetObjectItemCaseSensitive(p, "type");
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
                if (cJSON_IsString(pt) && strcmp(pt->valuestring, "output_text") == 0 &&
                    cJSON_IsString(t))
                    gw_buf_puts(b, t->valuestring);
            }
        }
        if (gw_openai_set_text(text, b->data ? b->data : "") != 0)
            return -1;
    }
    cJSON *error = cJSON_GetObjectItemCaseSensitive(r, "error");
    if (error && !cJSON_IsNull(error)) {
        if (!cJSON_IsObject(error))
            return -1;
        if ((rc = unknown(c, error, k_error)) != 0)
            return rc;
        if (error_message(c, error) != 0)
            return -1;
    }
    return unknown(c, r, k_response);
}

/* What the walk does with an event type. */
enum step {
    START,     /* response.created, .queued, .in_progress */
    END,       /* response.completed, .incomplete, .failed */
    ITEM,      /* response.output_item.added (done: .done) */
    PART,      /* response.content_part.added, reasoning_summary_part.added (and .done) */
    DELTA,     /* a text delta */
    DONE,      /* a text repeated whole */
    ERROR,     /* error */
    KEEPALIVE, /* keepalive */
};

static const char *const k_life[] = {"type", "sequence_number", "response", NULL};
static const char *const k_item[] = {"type", "sequence_number", "output_index", "item", NULL};
static const char *const k_part[] = {
    "type", "sequence_number", "item_id", "output_index", "content_index", "part", NULL};
static const char *const k_spart[] = {
    "type", "sequence_number", "item_id", "output_index", "summary_index", "part", NULL};
static const char *const k_text_delta[] = {"type",         "sequence_number", "item_id",
                                           "output_index", "content_index",   "delta",
                                           "logprobs",     "obfuscation",     NULL};
static const char *const k_text_done[] = {
    "type", "sequence_number", "item_id", "output_index", "content_index",
    "text", "logprobs",        NULL};
static const char *const k_refusal_delta[] = {
    "type",          "sequence_number", "item_id",     "output_index",
    "content_index", "delta",           "obfuscation", NULL};
static const char *const k_refusal_done[] = {
    "type", "sequence_number", "item_id", "output_index", "content_index", "refusal", NULL};
static const char *const k_args_delta[] = {"type",  "sequence_number", "item_id", "output_index",
                                           "delta", "obfuscation",     NULL};
static const char *const k_args_done[] = {
    "type", "sequence_number", "item_id", "output_index", "arguments", "name", NULL};
static const char *const k_summary_delta[] = {
    "type",          "sequence_number", "item_id",     "output_index",
    "summary_index", "delta",           "obfuscation", NULL};
static const char *const k_summary_done[] = {
    "type", "sequence_number", "item_id", "output_index", "summary_index", "text", NULL};
static const char *const k_reasoning_delta[] = {
    "type",          "sequence_number", "item_id",     "output_index",
    "content_index", "delta",           "obfuscation", NULL};
static const char *const k_reasoning_done[] = {
    "type", "sequence_number", "item_id", "output_index", "content_index", "text", NULL};
static const char *const k_error_event[] = {"type",    "sequence_number", "code",
                                            "message", "param",           NULL};
static const char *const k_keepalive[] = {"type", "sequence_number", NULL};

static const struct event {
    const char *type;
    enum step step;
    bool whole;         /* ITEM, PART: the .done one */
    enum kind kind;     /* DELTA, DONE */
    const char *member; /* DELTA, DONE: the member with the text */
    const char *const *known;
} events[] = {
    {"response.created", START, false, NONE, NULL, k_life},
    {"response.queued", START, false, NONE, NULL, k_life},
    {"response.in_progress", START, false, NONE, NULL, k_life},
    {"response.completed", END, true, NONE, NULL, k_life},
    {"response.incomplete", END, true, NONE, NULL, k_life},
    {"response.failed", END, true, NONE, NULL, k_life},
    {"response.output_item.added", ITEM, false, NONE, NULL, k_item},
    {"response.output_item.done", ITEM, true, NONE, NULL, k_item},
    {"response.content_part.added", PART, false, NONE, "content_index", k_part},
    {"response.content_part.done", PART, true, NONE, "content_index", k_part},
    {"response.reasoning_summary_part.added", PART, false, SUMMARY, "summary_index", k_spart},
    {"response.reasoning_summary_part.done", PART, true, SUMMARY, "summary_index", k_spart},
    {"response.output_text.delta", DELTA, false, TEXT, "delta", k_text_delta},
    {"response.output_text.done", DONE, true, TEXT, "text", k_text_done},
    {"response.refusal.delta", DELTA, false, REFUSAL, "delta", k_refusal_delta},
    {"response.refusal.done", DONE, true, REFUSAL, "refusal", k_refusal_done},
    {"response.function_call_arguments.delta", DELTA, false, ARGS, "delta", k_args_delta},
    {"response.function_call_arguments.done", DONE, true, ARGS, "arguments", k_args_done},
    {"response.reasoning_summary_text.delta", DELTA, false, SUMMARY, "delta", k_summary_delta},
    {"response.reasoning_summary_text.done", DONE, true, SUMMARY, "text", k_summary_done},
    {"response.reasoning_text.delta", DELTA, false, REASONING, "delta", k_reasoning_delta},
    {"response.reasoning_text.done", DONE, true, REASONING, "text", k_reasoning_done},
    {"error", ERROR, false, NONE, NULL, k_error_event},
    {"keepalive", KEEPALIVE, false, NONE, NULL, k_keepalive},
};

static const struct event *event_of(const char *type)
{
    for (size_t i = 0; i < sizeof events / sizeof *events; i++)
        if (strcmp(events[i].type, type) == 0)
            return &events[i];
    return NULL;
}

/* Screens one parsed event in place. Returns 0, 1 (blocked) or -1; *emit is cleared
 * when the event has nothing to pass on (a delta all held back). */
static int screen_event(struct cx *c, const struct event *e, cJSON *ev, bool *emit)
{
    int rc = unknown(c, ev, e->known);
    if (rc != 0)
        return rc;
    const cJSON *item_id = cJSON_GetObjectItemCaseSensitive(ev, "item_id");
    const char *iid = cJSON_IsString(item_id) ? item_id->valuestring : NULL;
    int o = e->step == START || e->step == END || e->step == ERROR || e->step == KEEPALIVE
                ? 0
                : index_of(c, ev, "output_index");
    switch (e->step) {
    case START:
        return response_start(c, cJSON_GetObjectItemCaseSensitive(ev, "response"));
    case END:
        rc = response_end(c, cJSON_GetObjectItemCaseSensitive(ev, "response"));
        c->s->done = rc == 0;
        return rc;
    case ITEM:
        return item_texts(c, o, cJSON_GetObjectItemCaseSensitive(ev, "item"), e->whole);
    case PART:
        return part_texts(c, o, index_of(c, ev, e->member),
                          cJSON_GetObjectItemCaseSensitive(ev, "part"), e->whole,
                          e->kind == SUMMARY, iid);
    case DELTA: {
        int sub = kinds[e->kind].sub ? index_of(c, ev, kinds[e->kind].sub) : 0;
        cJSON *node = cJSON_GetObjectItemCaseSensitive(ev, e->member);
        bool released = false;
        if (!node)
            return -1;
        strip_logprobs(ev); /* its tokens would show held text early */
        rc = text_more(c, e->kind, o, sub, node, iid, &released);
        *emit = released;
        return rc;
    }
    case DONE: {
        int sub = kinds[e->kind].sub ? index_of(c, ev, kinds[e->kind].sub) : 0;
        cJSON *node = cJSON_GetObjectItemCaseSensitive(ev, e->member);
        if (!node)
            return -1;
        strip_logprobs(ev);
        return text_whole(c, e->kind, o, sub, node, iid);
    }
    case ERROR:
        c->s->done = true;
        return error_message(c, ev);
    case KEEPALIVE:
        return 0;
    }
    return -1;
}

/* Writes the error event that fails a stream already started, and ends the walk. */
static void fail_stream(struct cx *c, const char *message, const char *code)
{
    struct gw_buf b = {0};
    event_begin(&b, "error", c->w.seq++);
    gw_buf_puts(&b, ",\"code\":");
    quoted(&b, code ? code : "api_error");
    gw_buf_puts(&b, ",\"message\":");
    quoted(&b, message);
    gw_buf_puts(&b, ",\"param\":null");
    event_end(&b);
    c->s->write(c->s->ctx, b.data, b.len);
    gw_buf_free(&b);
    c->s->done = true;
    kept_free(&c->w);
}

/* Ends the stream for a block in c->at (-1: not in a text): the block message as one more
 * output_text delta (into the blocked part when it is one, else into a new message item),
 * then response.incomplete for content_filter. Nothing more of any text goes out. */
static void block(struct cx *c)
{
    struct gw_api_stream *s = c->s;
    const char *msg = s->block_message(s->ctx, c->at >= 0 ? c->at : 0);
    struct gw_buf b = {0}, rid = {0}, mid = {0};
    gw_buf_printf(&mid, "msg_gr-%s", s->id);
    if (s->up_id[0])
        gw_buf_puts(&rid, s->up_id);
    else
        gw_buf_printf(&rid, "resp_gr-%s", s->id);
    if (c->at >= 0 && c->w.kind[c->at] == TEXT && (c->w.shown & bit(c->at))) {
        text_delta(&b, c->w.seq++, c->at_item ? c->at_item : mid.data, c->w.out[c->at],
                   c->w.sub[c->at], msg);
    } else {
        int o = c->w.items;
        message_item_added(&b, c->w.seq++, mid.data, o);
        empty_part_added(&b, c->w.seq++, mid.data, o);
        text_delta(&b, c->w.seq++, mid.data, o, 0, msg);
    }
    incomplete_event(&b, c->w.seq++, rid.data, s->model, mid.data, msg, false);
    s->write(s->ctx, b.data, b.len);
    gw_buf_free(&b);
    gw_buf_free(&rid);
    gw_buf_free(&mid);
    s->done = true;
    kept_free(&c->w);
}

static int walk_event(struct cx *c, const char *name, const char *data, size_t len)
{
    struct gw_api_stream *s = c->s;
    cJSON *ev = gw_api_parse(data, len);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
    if (!cJSON_IsObject(ev) || unreadable(data, len, ev) || !cJSON_IsString(type) ||
        (name[0] && strcmp(name, type->valuestring) != 0)) {
        cJSON_Delete(ev);
        fail_stream(c,
                    "The provider sent a stream event that cannot be screened safely (not "
                    "JSON, no type, a name that disagrees with its type, a key twice, a "
                    "field name in another case or a NUL character).",
                    "provider_error");
        return -1;
    }
    const char *t = type->valuestring;
    const struct event *e = event_of(t);
    int rc = 0;
    bool emit = true;
    if (!s->screen_replies) {
        if (e && e->step == END)
            take_usage(c, cJSON_GetObjectItemCaseSensitive(ev, "response"));
        if (e && (e->step == END || e->step == ERROR))
            s->done = true;
        rc = gw_api_write_event(s, t, ev);
        cJSON_Delete(ev);
        if (rc != 0)
            fail_stream(c, "Writing the stream failed.", "guardrail_error");
        return rc;
    }
    rc = e ? screen_event(c, e, ev, &emit) : -1; /* an event the gateway does not know */
    if (rc == 0 && emit) {
        cJSON *seq = cJSON_GetObjectItemCaseSensitive(ev, "sequence_number");
        if (cJSON_IsNumber(seq))
            cJSON_SetNumberValue(seq, c->w.seq);
        else if (!cJSON_AddNumberToObject(ev, "sequence_number", c->w.seq))
            rc = -1;
        c->w.seq++; /* renumbered: the gateway adds events and drops held-back ones */
        if (rc == 0)
            rc = gw_api_write_event(s, t, ev);
    }
    cJSON_Delete(ev);
    if (rc == 1) {
        block(c);
        return -1;
    }
    if (rc == -1) {
        fail_stream(c, "The provider sent a stream the gateway cannot screen; it fails closed.",
                    "guardrail_error");
        return -1;
    }
    return 0;
}

/* The walk's state is copied in and out: s->state has no alignment of its own. */
static void load(struct cx *c, struct gw_api_stream *s)
{
    memset(c, 0, sizeof *c);
    c->s = s;
    c->at = -1;
    memcpy(&c->w, s->state, sizeof c->w);
}

static void store(const struct cx *c)
{
    memcpy(c->s->state, &c->w, sizeof c->w);
}

static int stream_event(struct gw_api_stream *s, const char *name, const char *data, size_t len)
{
    struct cx c;
    load(&c, s);
    int rc = walk_event(&c, name, data, len);
    store(&c);
    return rc;
}

static void stream_error(struct gw_api_stream *s, const char *message, const char *code)
{
    struct cx c;
    load(&c, s);
    fail_stream(&c, message, code);
    store(&c);
}

static void stream_end(struct gw_api_stream *s)
{
    struct cx c;
    load(&c, s);
    if (!s->done)
        fail_stream(&c, "The provider's stream ended before response.completed.",
                    "provider_stream_error");
    kept_free(&c.w);
    store(&c);
}

static void stream_free(struct gw_api_stream *s)
{
    struct cx c;
    load(&c, s);
    kept_free(&c.w);
    store(&c);
}

static const char *const forward[] = {"OpenAI-Organization", "OpenAI-Project", "Accept", NULL};

const struct gw_api gw_api_openai_responses = {
    .name = "OpenAI Responses",
    .route = "/v1/responses",
    .upstream_path = "/responses",
    .providers = GW_PROVIDER_OPENAI | GW_PROVIDER_MOCK,
    .parse_request = parse_request,
    .parse_reply = parse_reply,
    .usage = usage,
    .redacted = redacted,
    .refusal = refusal,
    .error = gw_openai_error,
    .forward_headers = forward,
    .key_header = "Authorization: Bearer ",
    .stream_event = stream_event,
    .stream_end = stream_end,
    .stream_error = stream_error,
    .stream_free = stream_free,
};
