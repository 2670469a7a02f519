/* The OpenAI Responses API (POST /v1/responses) behind the seam. Texts of a request: the
 * instructions, the input (a string, or items: messages with their text parts, function
 * calls and their outputs, reasoning summaries) and the descriptions of function tools;
 * any other tool (one the provider runs itself) is refused. Texts of a reply: every output
 * item's text (output_text with its annotations, refusals, function call arguments and
 * names, reasoning summaries and reasoning text), every string of an error. An item, a
 * part or a role the gateway does not know is refused rather than passed unscreened.
 *
 * The stream walk is in responses_stream.c; responses.h has what the two files share. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/responses.h"
#include "util/json.h"

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
        gw_api_refs_media(&q->r->texts, "an input_image part");
    } else if (strcmp(t, "input_file") == 0) {
        known = k_file;
        gw_api_refs_media(&q->r->texts, "an input_file part");
        cJSON *name = NULL;
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

/* The GW_ROLE_* bit of a message role, spelled exactly; 0 for any other spelling (a tool's
 * words come as function_call_output items here, never as a message). */
static unsigned role_bit(const char *role)
{
    unsigned bit = gw_openai_role_bit(role);
    return bit == GW_ROLE_TOOL ? 0 : bit;
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
        cJSON *args = NULL, *name = NULL;
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

/* The type of a tool or a tool choice, or NULL. */
static const char *tool_type(const cJSON *t)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "type");
    return cJSON_IsObject(t) && cJSON_IsString(type) ? type->valuestring : NULL;
}

/* Only function tools: the app runs them, and their calls and outputs pass the gateway.
 * A tool the provider runs itself (web or file search, MCP, code interpreter, computer
 * use, image generation, a shell) has the model read text the gateway never sees, and may
 * send the customer's data where the gateway cannot follow; a custom tool's free-form
 * input is not screened in replies. Their descriptions are the app's own words: screened
 * as the system's. */
static int request_tools(struct req *q)
{
    static const char *const why =
        "runs on the provider's side, where the model reads and sends text this gateway "
        "never screens, so it is refused; only function tools are allowed";
    static const char *const why_custom =
        "takes free-form input this gateway does not screen, so it is refused; only function "
        "tools are allowed";
    static const char *const modes[] = {"none", "auto", "required", NULL};
    cJSON *tools = cJSON_GetObjectItemCaseSensitive(q->r->root, "tools"), *tool;
    const cJSON *choice = cJSON_GetObjectItemCaseSensitive(q->r->root, "tool_choice");
    if (tools && !cJSON_IsArray(tools) && !cJSON_IsNull(tools))
        return fail(q->err, q->errlen, q->param, "tools", "'tools' must be an array.");
    int i = 0;
    q->r->texts.role = GW_ROLE_SYSTEM;
    cJSON_ArrayForEach(tool, tools)
    {
        const char *t = tool_type(tool);
        if (!t)
            return fail(q->err, q->errlen, q->param, "tools",
                        "tools[%d] must be an object with a string 'type'.", i);
        if (strcmp(t, "function") != 0)
            return fail(q->err, q->errlen, q->param, "tools",
                        "tools[%d]: a tool of type '%.40s' %s.", i, t,
                        strcmp(t, "custom") == 0 ? why_custom : why);
        if (push(q, cJSON_GetObjectItemCaseSensitive(tool, "description")) == -1 ||
            ((q->roles & GW_ROLE_SYSTEM) && /* the schema's descriptions: read by the model */
             gw_api_refs_push_all(&q->r->texts,
                                  cJSON_GetObjectItemCaseSensitive(tool, "parameters")) == -1))
            return -1;
        i++;
    }
    if (cJSON_IsString(choice) && !one_of(choice->valuestring, modes))
        return fail(q->err, q->errlen, q->param, "tool_choice",
                    "'tool_choice' must be none, auto, required or a function.");
    if (!choice || cJSON_IsNull(choice) || cJSON_IsString(choice))
        return 0;
    const char *t = tool_type(choice);
    if (t && strcmp(t, "allowed_tools") == 0) {
        i = 0;
        cJSON_ArrayForEach(tool, cJSON_GetObjectItemCaseSensitive(choice, "tools"))
        {
            const char *a = tool_type(tool);
            if (!a || strcmp(a, "function") != 0)
                return fail(q->err, q->errlen, q->param, "tool_choice",
                            "tool_choice.tools[%d]: a tool of type '%.40s' %s.", i,
                            a ? a : "(none)", why);
            i++;
        }
        return 0;
    }
    if (!t || strcmp(t, "function") != 0)
        return fail(q->err, q->errlen, q->param, "tool_choice",
                    "tool_choice: a tool of type '%.40s' %s.", t ? t : "(none)", why);
    return 0;
}

static int parse_request(struct gw_api_request *r, const char *body, size_t len, unsigned roles,
                         char *err, size_t errlen, const char **param)
{
    memset(r, 0, sizeof *r);
    *param = NULL;
    struct req q = {r, roles, err, errlen, param};
    if (gw_api_parse_head(body, len, &r->root, &r->model, &r->stream, err, errlen, param) == -1)
        return -1;
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->root, "text"),
                                         "format"), "type");
    r->structured = cJSON_IsString(format) && strncmp(format->valuestring, "json", 4) == 0;
    cJSON *instructions = cJSON_GetObjectItemCaseSensitive(r->root, "instructions");
    if (instructions && !cJSON_IsString(instructions) && !cJSON_IsNull(instructions))
        return fail(err, errlen, param, "instructions", "'instructions' must be a string.");
    r->texts.role = GW_ROLE_SYSTEM;
    if (push(&q, instructions) == -1)
        return -1;
    /* a structured output's schema (its name, description and the schema's descriptions) */
    if ((roles & GW_ROLE_SYSTEM) &&
        gw_api_refs_push_all(
            &r->texts, cJSON_GetObjectItemCaseSensitive(
                           cJSON_GetObjectItemCaseSensitive(r->root, "text"), "format")) == -1)
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
    cJSON *vars = cJSON_GetObjectItemCaseSensitive(prompt, "variables");
    const cJSON *v, *each = cJSON_IsObject(vars) ? vars : NULL;
    cJSON_ArrayForEach(v, each)
    {
        const cJSON *vt = cJSON_GetObjectItemCaseSensitive(v, "type"); /* an input_image... */
        if (cJSON_IsObject(v) &&
            !(cJSON_IsString(vt) && strcmp(vt->valuestring, "input_text") == 0))
            gw_api_refs_media(&r->texts, "a prompt variable that is not text (an input_image or "
                                         "input_file)");
    }
    /* Each variable's text alone, in order, so that the texts are also read joined as a
     * template may put them side by side ("{{name}} {{note}}": a card split between two);
     * then any other value whole (an input_text's other members too). */
    cJSON *var;
    r->any_from = r->texts.n;
    cJSON_ArrayForEach(var, each)
    {
        cJSON *text = cJSON_GetObjectItemCaseSensitive(var, "text");
        if (push(&q, cJSON_IsString(var) ? var : text) == -1)
            return -1;
    }
    r->any_to = r->texts.n;
    cJSON_ArrayForEach(var, each)
    {
        if (!cJSON_IsString(var) && push_all(&q, var) == -1)
            return -1;
    }
    if (vars && !each && push_all(&q, vars) == -1)
        return -1;
    if (request_tools(&q) == -1)
        return -1;
    *param = NULL;
    return 0;
}

/* ---- replies ---- */

/* The parameters of a request, which a response object repeats. */
#define PARAMETERS                                                                                 \
    "background", "conversation", "instructions", "max_output_tokens", "max_tool_calls",           \
        "metadata", "model", "parallel_tool_calls", "previous_response_id", "prompt",              \
        "prompt_cache_key", "prompt_cache_retention", "reasoning", "safety_identifier",            \
        "service_tier", "store", "temperature", "text", "tool_choice", "tools", "top_logprobs",    \
        "top_p", "truncation", "user"

/* Members of a response object that are not text the model wrote: its state, and what it
 * repeats of the request (the app's own instructions, tools and settings). */
const char *const gw_responses_k_response[] = {
    "id",          "object", "created_at",           "completed_at",
    "status",      "error",  "incomplete_details",   "output",
    "output_text", "usage",  "prompt_cache_options", "billing",
    PARAMETERS,    NULL};
/* What a response object repeats of the request that holds words or ids (the others are
 * numbers, flags and settings of one word): screened as GW_TEXT_ECHO, for a provider may
 * repeat what it stored from a request that never passed the gateway. */
const char *const gw_responses_echoed[] = {"instructions",
                                           "metadata",
                                           "user",
                                           "safety_identifier",
                                           "prompt_cache_key",
                                           "prompt",
                                           "tools",
                                           "tool_choice",
                                           "text",
                                           "reasoning",
                                           "previous_response_id",
                                           "conversation",
                                           NULL};
const char *const gw_responses_k_message[] = {"type",    "id",    "status", "role",
                                              "content", "phase", NULL};
const char *const gw_responses_k_output_text[] = {"type", "text", "annotations", "logprobs", NULL};
const char *const gw_responses_k_refusal[] = {"type", "refusal", NULL};
const char *const gw_responses_k_call[] = {"type",   "id",        "call_id", "name", "arguments",
                                           "status", "namespace", "caller",  NULL};
const char *const gw_responses_k_reasoning[] = {
    "type", "id", "summary", "content", "encrypted_content", "status", NULL};
const char *const gw_responses_k_reasoning_part[] = {"type", "text", NULL};
const char *const gw_responses_k_error[] = {"code", "message", "param", NULL};

bool gw_responses_scalars(const cJSON *obj)
{
    /* ids and states the provider sets: passed unscreened, so never an object or a list */
    static const char *const names[] = {"type",         "id",     "call_id",           "status",
                                        "role",         "object", "encrypted_content", "model",
                                        "service_tier", NULL};
    return gw_api_scalars(obj, names);
}

bool gw_responses_settings_ok(const cJSON *r)
{
    /* the settings a response object states: passed unscreened, so plain values only */
    static const char *const settings[] = {"created_at",
                                           "completed_at",
                                           "truncation",
                                           "prompt_cache_retention",
                                           "temperature",
                                           "top_p",
                                           "background",
                                           "store",
                                           "max_output_tokens",
                                           "max_tool_calls",
                                           "top_logprobs",
                                           "parallel_tool_calls",
                                           NULL};
    static const char *const objects[] = {"billing", "prompt_cache_options", NULL};
    if (!gw_api_scalars(r, settings))
        return false;
    for (const char *const *m = objects; *m; m++) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(r, *m), *k;
        if (o && !cJSON_IsNull(o) && !cJSON_IsObject(o))
            return false;
        const cJSON *members = cJSON_IsObject(o) ? o : NULL;
        cJSON_ArrayForEach(k, members)
        {
            const char *const one[] = {k->string, NULL};
            if (!gw_api_scalars(o, one))
                return false;
        }
    }
    return true;
}

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
            gw_api_unknown_members(p, gw_responses_k_reasoning_part, texts) == -1)
            return -1;
    }
    return 0;
}

/* The output_text texts of a message item, pushed first and in output order: the SDKs
 * show them joined (output_text), so they must be next to each other in texts for the
 * request path to screen them joined. */
static int reply_output_texts(cJSON *item, struct gw_text_refs *texts)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "message") != 0)
        return 0;
    cJSON *content = cJSON_GetObjectItemCaseSensitive(item, "content"), *p;
    if (content && !cJSON_IsArray(content) && !cJSON_IsNull(content))
        return -1;
    cJSON_ArrayForEach(p, content)
    {
        const cJSON *pt = cJSON_GetObjectItemCaseSensitive(p, "type");
        if (cJSON_IsString(pt) && strcmp(pt->valuestring, "output_text") == 0) {
            cJSON *text = cJSON_GetObjectItemCaseSensitive(p, "text");
            if (!cJSON_IsString(text) || gw_api_refs_push(texts, text) == -1)
                return -1;
        }
    }
    return 0;
}

/* A member the model or the provider fills in besides the texts (a function's name, a
 * message's phase): every string in it is screened. */
static int reply_member(cJSON *obj, const char *name, struct gw_text_refs *texts)
{
    return gw_api_refs_push_all(texts, cJSON_GetObjectItemCaseSensitive(obj, name));
}

/* The other texts of one output item (its output_text texts are pushed already); -1 for
 * an item, a part or a shape the gateway does not know. */
static int reply_item(cJSON *item, struct gw_text_refs *texts)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
    if (!cJSON_IsString(type) || !gw_responses_scalars(item))
        return -1;
    const char *t = type->valuestring;
    if (strcmp(t, "message") == 0) {
        cJSON *content = cJSON_GetObjectItemCaseSensitive(item, "content"), *p;
        cJSON_ArrayForEach(p, content)
        {
            const cJSON *pt = cJSON_GetObjectItemCaseSensitive(p, "type");
            if (!cJSON_IsString(pt) || !gw_responses_scalars(p))
                return -1;
            bool text = strcmp(pt->valuestring, "output_text") == 0;
            if (!text && strcmp(pt->valuestring, "refusal") != 0)
                return -1;
            cJSON *s = cJSON_GetObjectItemCaseSensitive(p, "refusal");
            if (!text && (!cJSON_IsString(s) || gw_api_refs_push(texts, s) == -1))
                return -1;
            /* url and file citations: titles, urls, file names */
            if (text && reply_member(p, "annotations", texts) == -1)
                return -1;
            if (gw_api_unknown_members(
                    p, text ? gw_responses_k_output_text : gw_responses_k_refusal, texts) == -1)
                return -1;
            /* the alternatives the model did not choose: removed, as chat's */
            texts->stripped |= text && gw_responses_strip_logprobs(p);
        }
        if (reply_member(item, "phase", texts) == -1)
            return -1;
        return gw_api_unknown_members(item, gw_responses_k_message, texts);
    }
    if (strcmp(t, "function_call") == 0) {
        cJSON *args = cJSON_GetObjectItemCaseSensitive(item, "arguments");
        if (!cJSON_IsString(args) || gw_api_refs_push(texts, args) == -1 ||
            reply_member(item, "name", texts) == -1 ||
            reply_member(item, "namespace", texts) == -1 ||
            reply_member(item, "caller", texts) == -1)
            return -1;
        return gw_api_unknown_members(item, gw_responses_k_call, texts);
    }
    if (strcmp(t, "reasoning") == 0) {
        if (reply_reasoning_parts(cJSON_GetObjectItemCaseSensitive(item, "summary"), "summary_text",
                                  texts) == -1 ||
            reply_reasoning_parts(cJSON_GetObjectItemCaseSensitive(item, "content"),
                                  "reasoning_text", texts) == -1)
            return -1;
        return gw_api_unknown_members(item, gw_responses_k_reasoning, texts);
    }
    return -1; /* web search, file search, computer use, MCP, ...: not screened */
}

static cJSON *parse_reply(const char *body, size_t len, struct gw_text_refs *texts)
{
    cJSON *root = gw_api_parse(body, len);
    if (!cJSON_IsObject(root) || gw_openai_unreadable(body, len, root) ||
        !gw_responses_scalars(root) || !gw_responses_settings_ok(root))
        goto unscreenable;
    texts->role = 0;
    cJSON *output = cJSON_GetObjectItemCaseSensitive(root, "output"), *item;
    if (output && !cJSON_IsArray(output) && !cJSON_IsNull(output))
        goto unscreenable;
    cJSON_ArrayForEach(item, output)
    {
        if (reply_output_texts(item, texts) == -1)
            goto unscreenable;
    }
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
            reply_member(error, "message", texts) == -1 ||
            reply_member(error, "code", texts) == -1 || reply_member(error, "param", texts) == -1 ||
            gw_api_unknown_members(error, gw_responses_k_error, texts) == -1)
            goto unscreenable;
    }
    if (reply_member(root, "incomplete_details", texts) == -1 ||
        gw_api_unknown_members(root, gw_responses_k_response, texts) == -1)
        goto unscreenable;
    return root; /* what it repeats of the request: the request path (gw_api.echoed) */
unscreenable:
    cJSON_Delete(root);
    gw_text_refs_free(texts);
    return NULL;
}

void gw_responses_usage(const cJSON *root, long *prompt, long *completion)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "usage");
    *prompt = gw_api_count(cJSON_GetObjectItemCaseSensitive(u, "input_tokens"));
    *completion = gw_api_count(cJSON_GetObjectItemCaseSensitive(u, "output_tokens"));
}

/* Empties an output_text part's logprobs: its tokens would repeat what was redacted, and
 * their alternatives are text no scan reads as the reply's. Returns whether it changed. */
bool gw_responses_strip_logprobs(cJSON *part)
{
    cJSON *lp = cJSON_GetObjectItemCaseSensitive(part, "logprobs");
    if (!lp || cJSON_IsNull(lp) || (cJSON_IsArray(lp) && !lp->child))
        return false;
    cJSON_ReplaceItemInObjectCaseSensitive(part, "logprobs", cJSON_CreateArray());
    return true;
}

static void redacted(cJSON *root)
{
    cJSON *item, *part;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "output"))
    {
        cJSON_ArrayForEach(part, cJSON_GetObjectItemCaseSensitive(item, "content"))
        {
            gw_responses_strip_logprobs(part);
        }
    }
}

/* ---- the stream's events: the members each may have besides the policy's ---- */

static const char *const k_life[] = {"type", "sequence_number", "response", NULL};
static const char *const k_item[] = {"type", "sequence_number", "output_index", "item", NULL};
static const char *const k_part[] = {
    "type", "sequence_number", "item_id", "output_index", "content_index", "part", NULL};
static const char *const k_spart[] = {
    "type", "sequence_number", "item_id", "output_index", "summary_index", "part", NULL};
/* "obfuscation" is padding the walk drops; "logprobs" it empties. */
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
/* "name" (the function's) is screened. */
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
/* code, message and param are screened. */
static const char *const k_error_event[] = {"type",    "sequence_number", "code",
                                            "message", "param",           NULL};
static const char *const k_keepalive[] = {"type", "sequence_number", NULL};

static const struct gw_responses_event events[] = {
    {"response.created", RS_START, false, RK_NONE, NULL, k_life},
    {"response.queued", RS_START, false, RK_NONE, NULL, k_life},
    {"response.in_progress", RS_START, false, RK_NONE, NULL, k_life},
    {"response.completed", RS_END, true, RK_NONE, NULL, k_life},
    {"response.incomplete", RS_END, true, RK_NONE, NULL, k_life},
    {"response.failed", RS_END, true, RK_NONE, NULL, k_life},
    {"response.output_item.added", RS_ITEM, false, RK_NONE, NULL, k_item},
    {"response.output_item.done", RS_ITEM, true, RK_NONE, NULL, k_item},
    {"response.content_part.added", RS_PART, false, RK_NONE, "content_index", k_part},
    {"response.content_part.done", RS_PART, true, RK_NONE, "content_index", k_part},
    {"response.reasoning_summary_part.added", RS_PART, false, RK_SUMMARY, "summary_index", k_spart},
    {"response.reasoning_summary_part.done", RS_PART, true, RK_SUMMARY, "summary_index", k_spart},
    {"response.output_text.delta", RS_DELTA, false, RK_TEXT, "delta", k_text_delta},
    {"response.output_text.done", RS_DONE, true, RK_TEXT, "text", k_text_done},
    {"response.refusal.delta", RS_DELTA, false, RK_REFUSAL, "delta", k_refusal_delta},
    {"response.refusal.done", RS_DONE, true, RK_REFUSAL, "refusal", k_refusal_done},
    {"response.function_call_arguments.delta", RS_DELTA, false, RK_ARGS, "delta", k_args_delta},
    {"response.function_call_arguments.done", RS_DONE, true, RK_ARGS, "arguments", k_args_done},
    {"response.reasoning_summary_text.delta", RS_DELTA, false, RK_SUMMARY, "delta",
     k_summary_delta},
    {"response.reasoning_summary_text.done", RS_DONE, true, RK_SUMMARY, "text", k_summary_done},
    {"response.reasoning_text.delta", RS_DELTA, false, RK_REASONING, "delta", k_reasoning_delta},
    {"response.reasoning_text.done", RS_DONE, true, RK_REASONING, "text", k_reasoning_done},
    {"error", RS_ERROR, false, RK_NONE, NULL, k_error_event},
    {"keepalive", RS_KEEPALIVE, false, RK_NONE, NULL, k_keepalive},
};

const struct gw_responses_event *gw_responses_event_of(const char *type)
{
    for (size_t i = 0; i < sizeof events / sizeof *events; i++)
        if (strcmp(events[i].type, type) == 0)
            return &events[i];
    return NULL;
}

/* ---- the refusal ---- */

static void refusal(struct gw_buf *out, const char *id, const char *model, const char *message,
                    bool stream)
{
    struct gw_buf rid = {0}, mid = {0};
    gw_buf_printf(&rid, "resp_gr-%s", id);
    gw_buf_printf(&mid, "msg_gr-%s", id);
    if (!stream) {
        gw_responses_object(out, rid.data, model, mid.data, message, true);
        goto done;
    }
    unsigned seq = 0;
    gw_responses_event_begin(out, "response.created", seq++);
    gw_buf_puts(out, ",\"response\":");
    gw_responses_object(out, rid.data, model, NULL, NULL, false);
    gw_responses_event_end(out);
    gw_responses_message_added(out, seq, mid.data, 0);
    seq += 2;
    gw_responses_text_delta(out, seq++, mid.data, 0, 0, message);
    gw_responses_event_begin(out, "response.output_text.done", seq++);
    gw_responses_where(out, mid.data, 0, "content_index", 0);
    gw_buf_puts(out, ",\"text\":");
    gw_json_quote(out, message, strlen(message));
    gw_buf_puts(out, ",\"logprobs\":[]");
    gw_responses_event_end(out);
    gw_responses_event_begin(out, "response.content_part.done", seq++);
    gw_responses_where(out, mid.data, 0, "content_index", 0);
    gw_buf_puts(out, ",\"part\":{\"type\":\"output_text\",\"text\":");
    gw_json_quote(out, message, strlen(message));
    gw_buf_puts(out, ",\"annotations\":[]}");
    gw_responses_event_end(out);
    gw_responses_event_begin(out, "response.output_item.done", seq++);
    gw_buf_puts(out, ",\"output_index\":0,\"item\":");
    gw_responses_message_item(out, mid.data, "incomplete", message);
    gw_responses_event_end(out);
    gw_responses_incomplete_event(out, seq++, rid.data, model, mid.data, message, true);
done:
    gw_buf_free(&rid);
    gw_buf_free(&mid);
}

/* The members a request may have at its top (OpenAI's API reference); "mock" is the built-in
 * mock provider's knobs, which no provider reads as text. */
static const char *const request_members[] = {
    "input", "stream", "stream_options", "include", "mock", PARAMETERS, NULL};

const struct gw_api gw_api_openai_responses = {
    .name = "OpenAI Responses",
    .route = "/v1/responses",
    .upstream_path = "/responses",
    .providers = GW_PROVIDER_OPENAI | GW_PROVIDER_MOCK,
    .parse_request = parse_request,
    .request_members = request_members,
    .parse_reply = parse_reply,
    .echoed = gw_responses_echoed,
    .usage = gw_responses_usage,
    .redacted = redacted,
    .refusal = refusal,
    .error = gw_openai_error,
    .forward_headers = gw_openai_forward,
    .key_header = "Authorization: Bearer ",
    .stream_event = gw_responses_stream_event,
    .stream_end = gw_responses_stream_end,
    .stream_error = gw_responses_stream_error,
    .stream_free = gw_responses_stream_free,
};
