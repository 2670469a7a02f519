#include "api/openai.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "config/config.h"
#include "util/json.h"

unsigned gw_openai_role_bit(const char *role)
{
    if (strcmp(role, "user") == 0)
        return GW_ROLE_USER;
    if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
        return GW_ROLE_SYSTEM;
    if (strcmp(role, "assistant") == 0)
        return GW_ROLE_ASSISTANT;
    if (strcmp(role, "tool") == 0 || strcmp(role, "function") == 0)
        return GW_ROLE_TOOL;
    return 0;
}

/* Pushes node when the current role is screened. */
static int push(struct gw_text_refs *t, cJSON *node, unsigned roles)
{
    return (t->role & roles) ? gw_api_refs_push(t, node) : 0;
}

static int push_all(struct gw_text_refs *t, cJSON *node, unsigned roles)
{
    return (t->role & roles) ? gw_api_refs_push_all(t, node) : 0;
}

/* The content part types of chat completions: their members, and the one read as text
 * (NULL: none the gateway can read, an image's pixels or a file's bytes; a file's name is
 * read). A part of another type, or with a member not listed, is refused: its text would
 * reach the model unscreened. */
static const struct part_type {
    const char *type;
    const char *text;
    const char *members[4];
} part_types[] = {
    {"text", "text", {"type", "text", "cache_control"}},
    {"input_text", "text", {"type", "text"}},
    {"output_text", "text", {"type", "text", "annotations"}},
    {"refusal", "refusal", {"type", "refusal"}},
    {"image_url", NULL, {"type", "image_url"}},
    {"input_audio", NULL, {"type", "input_audio"}},
    {"file", NULL, {"type", "file"}},
};

static const struct part_type *part_type_of(const char *type)
{
    for (size_t i = 0; i < sizeof part_types / sizeof *part_types; i++)
        if (strcmp(part_types[i].type, type) == 0)
            return &part_types[i];
    return NULL;
}

static int part_members(const struct part_type *pt, const cJSON *part, int i, char *err,
                        size_t errlen)
{
    for (const cJSON *k = part->child; k; k = k->next) {
        bool ok = false;
        for (size_t m = 0; m < 4 && pt->members[m] && !ok; m++)
            ok = strcmp(k->string, pt->members[m]) == 0;
        if (!ok) {
            snprintf(err, errlen, "messages[%d]: the member '%.40s' of a %s part is not screened "
                                  "by this gateway, so it is refused.", i, k->string, pt->type);
            return -1;
        }
    }
    return 0;
}

/* The texts of message i's content parts. */
static int parts(struct gw_text_refs *t, cJSON *content, unsigned roles, int i, char *err,
                 size_t errlen)
{
    cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        if (!cJSON_IsObject(part) || !cJSON_IsString(type)) {
            snprintf(err, errlen, "messages[%d].content parts must be objects with a 'type'.", i);
            return -1;
        }
        const struct part_type *pt = part_type_of(type->valuestring);
        if (!pt) {
            snprintf(err, errlen, "messages[%d]: a content part of type '%.40s' is not screened "
                                  "by this gateway, so it is refused.", i, type->valuestring);
            return -1;
        }
        if (part_members(pt, part, i, err, errlen) == -1)
            return -1;
        if (!pt->text) /* an image, audio, a file: no text the gateway reads */
            gw_api_refs_media(t, pt->type);
        if (pt->text) {
            cJSON *text = cJSON_GetObjectItemCaseSensitive(part, pt->text);
            if (!cJSON_IsString(text)) {
                snprintf(err, errlen, "messages[%d]: a %s part needs a string '%s'.", i, pt->type,
                         pt->text);
                return -1;
            }
            if (push(t, text, roles) == -1 ||
                push_all(t, cJSON_GetObjectItemCaseSensitive(part, "annotations"), roles) == -1)
                return -1;
        }
        cJSON *name = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(part, "file"), "filename");
        if (cJSON_IsString(name) && push(t, name, roles) == -1)
            return -1;
    }
    return 0;
}

/* The first non-null member of obj (an object, or nothing) not in known (NULL ended), or
 * NULL. */
static const char *unknown_member(const cJSON *obj, const char *const *known)
{
    for (const cJSON *k = cJSON_IsObject(obj) ? obj->child : NULL; k; k = k->next) {
        bool ok = cJSON_IsNull(k);
        for (const char *const *n = known; *n && !ok; n++)
            ok = strcmp(k->string, *n) == 0;
        if (!ok)
            return k->string;
    }
    return NULL;
}

/* The texts the model reads in one message besides its content: tool-call arguments, a
 * refusal, a name. A member the gateway does not know is refused. */
static int message_members(struct gw_text_refs *t, cJSON *m, unsigned roles, int i, char *err,
                           size_t errlen)
{
    static const char *const known[] = {"role", "content", "name", "tool_calls", "function_call",
                                        "tool_call_id", "refusal", "audio", "reasoning_content",
                                        "reasoning", "annotations", NULL};
    const char *other = unknown_member(m, known);
    if (other) {
        snprintf(err, errlen,
                 "messages[%d]: the member '%.40s' is not screened by this "
                 "gateway, so it is refused.",
                 i, other);
        return -1;
    }
    static const char *const texts[] = {"name", "refusal", "reasoning_content", "reasoning"};
    for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(m, texts[k]);
        if (cJSON_IsString(v) && push(t, v, roles) == -1)
            return -1;
    }
    /* a tool call: a function's name and arguments, or a custom tool's name and input; any
     * other member is refused, as a message's is */
    static const char *const known_call[] = {"id", "type", "function", "custom", NULL};
    cJSON *call;
    int j = 0;
    cJSON_ArrayForEach(call, cJSON_GetObjectItemCaseSensitive(m, "tool_calls"))
    {
        if ((other = unknown_member(call, known_call)) != NULL) {
            snprintf(err, errlen,
                     "messages[%d].tool_calls[%d]: the member '%.40s' is not "
                     "screened by this gateway, so it is refused.",
                     i, j, other);
            return -1;
        }
        if (push_all(t, cJSON_GetObjectItemCaseSensitive(call, "function"), roles) == -1 ||
            push_all(t, cJSON_GetObjectItemCaseSensitive(call, "custom"), roles) == -1)
            return -1;
        j++;
    }
    if (push_all(t, cJSON_GetObjectItemCaseSensitive(m, "annotations"), roles) == -1 ||
        push_all(t, cJSON_GetObjectItemCaseSensitive(
                        cJSON_GetObjectItemCaseSensitive(m, "audio"), "transcript"), roles) == -1)
        return -1;
    return push_all(t, cJSON_GetObjectItemCaseSensitive(m, "function_call"), roles);
}

int gw_openai_parse_request(struct gw_chat_request *r, const char *body, size_t len,
                            unsigned roles, char *err, size_t errlen, const char **param)
{
    memset(r, 0, sizeof *r);
    if (gw_api_parse_head(body, len, &r->root, &r->model, &r->stream, err, errlen, param) == -1)
        return -1;
    cJSON *messages = cJSON_GetObjectItemCaseSensitive(r->root, "messages");
    if (!cJSON_IsArray(messages) || cJSON_GetArraySize(messages) == 0) {
        *param = "messages";
        snprintf(err, errlen, "'messages' must be a non-empty array.");
        return -1;
    }
    *param = "messages";
    int i = 0;
    cJSON *m;
    cJSON_ArrayForEach(m, messages)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role)) {
            snprintf(err, errlen, "messages[%d] must be an object with a string 'role'.", i);
            return -1;
        }
        /* A role spelled otherwise ("User", " user", "customer") is refused: the provider
         * may read it as a user's message, and the gateway would not know what to screen. */
        if (!(r->texts.role = gw_openai_role_bit(role->valuestring))) {
            snprintf(err, errlen, "messages[%d]: the role '%.40s' is not one of system, "
                                  "developer, user, assistant, tool, function.", i,
                     role->valuestring);
            return -1;
        }
        cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (cJSON_IsString(content)) {
            if (push(&r->texts, content, roles) == -1)
                return -1;
        } else if (cJSON_IsArray(content)) {
            if (parts(&r->texts, content, roles, i, err, errlen) == -1)
                return -1;
        } else if (content && !cJSON_IsNull(content)) {
            snprintf(err, errlen, "messages[%d].content must be a string, an array or null.", i);
            return -1;
        }
        if (message_members(&r->texts, m, roles, i, err, errlen) == -1)
            return -1;
        i++;
    }
    /* Spoken replies: the customer hears what no scanner read (the transcript is screened,
     * the audio beside it is not). */
    const cJSON *mod;
    cJSON_ArrayForEach(mod, cJSON_GetObjectItemCaseSensitive(r->root, "modalities"))
    {
        if (cJSON_IsString(mod) && strcmp(mod->valuestring, "audio") == 0)
            gw_api_refs_media(&r->texts, "audio output (modalities)");
    }
    if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(r->root, "audio")))
        gw_api_refs_media(&r->texts, "audio output ('audio')");
    /* A predicted output becomes the reply's text where the model agrees with it. */
    r->texts.role = GW_ROLE_USER;
    if (push_all(&r->texts, cJSON_GetObjectItemCaseSensitive(
                                cJSON_GetObjectItemCaseSensitive(r->root, "prediction"),
                                "content"), roles) == -1)
        return -1;
    /* Tool descriptions are the app's own words: screened as the system's. */
    r->texts.role = GW_ROLE_SYSTEM;
    cJSON *tool;
    cJSON_ArrayForEach(tool, cJSON_GetObjectItemCaseSensitive(r->root, "tools"))
    {
        /* A tool of another type runs at the provider (a browser search, a code
         * interpreter, as some compatible providers offer): its results are not screened. */
        const cJSON *tt = cJSON_GetObjectItemCaseSensitive(tool, "type");
        if (!cJSON_IsString(tt) ||
            (strcmp(tt->valuestring, "function") != 0 && strcmp(tt->valuestring, "custom") != 0)) {
            *param = "tools";
            if (!cJSON_IsString(tt))
                snprintf(err, errlen,
                         "tools: each tool needs a string 'type' (function or "
                         "custom).");
            else
                snprintf(err, errlen,
                         "tools: a tool of type '%.40s' runs at the provider, where "
                         "the model reads what it returns unscreened, so it is "
                         "refused.",
                         tt->valuestring);
            return -1;
        }
        /* A function's description and its parameters' schema (whose descriptions the model
         * reads as well); a custom tool's description and grammar. */
        cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
        cJSON *custom = cJSON_GetObjectItemCaseSensitive(tool, "custom");
        if (push_all(&r->texts, cJSON_GetObjectItemCaseSensitive(fn, "description"), roles) == -1 ||
            push_all(&r->texts, cJSON_GetObjectItemCaseSensitive(fn, "parameters"), roles) == -1 ||
            push_all(&r->texts, cJSON_GetObjectItemCaseSensitive(custom, "description"), roles) ==
                -1 ||
            push_all(&r->texts, cJSON_GetObjectItemCaseSensitive(custom, "format"), roles) == -1)
            return -1;
    }
    /* The legacy functions, and a structured output's schema: the app's words too. */
    cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(r->root, "functions"))
    {
        if (push_all(&r->texts, cJSON_GetObjectItemCaseSensitive(f, "description"), roles) == -1 ||
            push_all(&r->texts, cJSON_GetObjectItemCaseSensitive(f, "parameters"), roles) == -1)
            return -1;
    }
    if (push_all(&r->texts,
                 cJSON_GetObjectItemCaseSensitive(
                     cJSON_GetObjectItemCaseSensitive(r->root, "response_format"), "json_schema"),
                 roles) == -1)
        return -1;
    *param = NULL;
    return 0;
}

void gw_openai_request_free(struct gw_chat_request *r)
{
    cJSON_Delete(r->root);
    gw_text_refs_free(&r->texts);
    memset(r, 0, sizeof *r);
}

/* A function call's name and arguments (a string: anything else cannot be screened as the
 * app will read it). NULL is fine; -1: unscreenable. */
static int reply_call(cJSON *fn, struct gw_text_refs *texts)
{
    static const char *const known[] = {"name", "arguments", NULL};
    if (!fn || cJSON_IsNull(fn))
        return 0;
    cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
    cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
    if (!cJSON_IsObject(fn) || (args && !cJSON_IsString(args)) || (name && !cJSON_IsString(name)))
        return -1;
    if ((name && gw_api_refs_push(texts, name) == -1) ||
        (args && gw_api_refs_push(texts, args) == -1))
        return -1;
    return gw_api_unknown_members(fn, known, texts);
}

/* A custom tool call (free-form input): its name and input, strings. -1: unscreenable. */
static int reply_custom(cJSON *c, struct gw_text_refs *texts)
{
    static const char *const known[] = {"name", "input", NULL};
    cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
    cJSON *input = cJSON_GetObjectItemCaseSensitive(c, "input");
    if (!cJSON_IsObject(c) || !cJSON_IsString(input) || (name && !cJSON_IsString(name)) ||
        (name && gw_api_refs_push(texts, name) == -1) || gw_api_refs_push(texts, input) == -1)
        return -1;
    return gw_api_unknown_members(c, known, texts);
}

/* The texts of one reply message: content, refusal, reasoning, the arguments of tool and
 * function calls, audio transcripts, annotations; members the gateway does not know under
 * the policy in texts->unknown. -1: unscreenable. */
static int reply_message(cJSON *msg, struct gw_text_refs *texts)
{
    static const char *const known[] = {"role", "content", "refusal", "reasoning_content",
                                        "reasoning", "tool_calls", "function_call", "audio",
                                        "annotations", NULL};
    /* Any of the texts in another shape than a string (content parts, an object) cannot be
     * screened: the reply is refused rather than passed. */
    static const char *const strings[] = {"content", "refusal", "reasoning_content", "reasoning"};
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) {
        cJSON *t = cJSON_GetObjectItemCaseSensitive(msg, strings[i]);
        if (cJSON_IsString(t)) {
            if (gw_api_refs_push(texts, t) == -1)
                return -1;
        } else if (t && !cJSON_IsNull(t)) {
            return -1;
        }
    }
    if (reply_call(cJSON_GetObjectItemCaseSensitive(msg, "function_call"), texts) == -1)
        return -1;
    cJSON *call, *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    if (calls && !cJSON_IsArray(calls) && !cJSON_IsNull(calls))
        return -1;
    cJSON_ArrayForEach(call, calls)
    {
        static const char *const known_call[] = {"id", "type", "function", "custom", NULL};
        cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
        cJSON *custom = cJSON_GetObjectItemCaseSensitive(call, "custom");
        if (!cJSON_IsObject(call) || (!fn && !custom) ||
            (fn && reply_call(fn, texts) == -1) ||
            (custom && reply_custom(custom, texts) == -1) ||
            gw_api_unknown_members(call, known_call, texts) == -1)
            return -1;
    }
    cJSON *audio = cJSON_GetObjectItemCaseSensitive(msg, "audio");
    cJSON *transcript = cJSON_GetObjectItemCaseSensitive(audio, "transcript");
    if (cJSON_IsString(transcript) && gw_api_refs_push(texts, transcript) == -1)
        return -1;
    if (gw_openai_audio_data(audio)) /* the sound beside it: no scanner hears it */
        gw_api_refs_media(texts, "audio ('audio.data')");
    if (gw_api_refs_push_all(texts, cJSON_GetObjectItemCaseSensitive(msg, "annotations")) == -1)
        return -1;
    return gw_api_unknown_members(msg, known, texts);
}

bool gw_openai_audio_data(const cJSON *audio)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(audio, "data");
    return data && !cJSON_IsNull(data) && !(cJSON_IsString(data) && !*data->valuestring);
}

const char *const gw_openai_ids[] = {
    "id", "object", "created", "model", "system_fingerprint", "service_tier", "obfuscation", NULL};

cJSON *gw_openai_parse_reply(const char *body, size_t len, struct gw_text_refs *texts)
{
    static const char *const top[] = {"id", "object", "created", "model", "choices", "usage",
                                      "system_fingerprint", "service_tier", NULL};
    static const char *const choice[] = {"index", "message", "finish_reason", "logprobs", NULL};
    cJSON *root = gw_api_parse(body, len);
    if (!root || !cJSON_IsObject(root) || gw_openai_unreadable(body, len, root) ||
        !gw_api_scalars(root, gw_openai_ids))
        goto unscreenable;
    texts->role = 0;
    cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices"), *c;
    cJSON_ArrayForEach(c, choices)
    {
        static const char *const states[] = {"index", "finish_reason", NULL};
        static const char *const role[] = {"role", NULL};
        cJSON *msg = cJSON_GetObjectItemCaseSensitive(c, "message");
        if (!gw_api_scalars(c, states) || !gw_api_scalars(msg, role) ||
            reply_message(msg, texts) == -1 || gw_api_unknown_members(c, choice, texts) == -1)
            goto unscreenable;
    }
    if (gw_api_unknown_members(root, top, texts) == -1)
        goto unscreenable;
    /* the alternatives the model did not choose (top_logprobs) are text no scan reads as
     * the reply's: removed, as in a stream */
    texts->stripped |= gw_openai_strip_logprobs(root);
    return root;
unscreenable:
    cJSON_Delete(root);
    gw_text_refs_free(texts);
    return NULL;
}

bool gw_openai_strip_logprobs(cJSON *root)
{
    bool stripped = false;
    cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "choices"))
    {
        cJSON *lp = cJSON_GetObjectItemCaseSensitive(c, "logprobs");
        if (lp && !cJSON_IsNull(lp)) {
            cJSON_ReplaceItemInObjectCaseSensitive(c, "logprobs", cJSON_CreateNull());
            stripped = true;
        }
    }
    return stripped;
}

/* The next character of a key as Go's encoding/json compares field names: ASCII letters
 * without case, and U+017F (long s) and U+212A (Kelvin sign) as 's' and 'k'. */
static int fold_next(const char **p)
{
    const unsigned char *s = (const unsigned char *)*p;
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

static int fold_cmp(const char *a, const char *b)
{
    for (;;) {
        int x = *a ? fold_next(&a) : 0, y = *b ? fold_next(&b) : 0;
        if (x != y || x == 0)
            return x - y;
    }
}

static int key_cmp(const void *a, const void *b)
{
    return fold_cmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* Whether the members of object o have a key twice: pairwise for a few, sorted for many
 * (a hostile body with thousands of keys stays O(n log n)). */
static bool object_has_duplicate(const cJSON *o)
{
    size_t n = 0;
    for (const cJSON *k = o->child; k; k = k->next)
        n++;
    if (n <= 16) {
        for (const cJSON *a = o->child; a; a = a->next)
            for (const cJSON *b = a->next; b; b = b->next)
                if (fold_cmp(a->string, b->string) == 0)
                    return true;
        return false;
    }
    const cJSON **v = malloc(n * sizeof *v);
    if (!v)
        return true; /* cannot tell: refuse */
    n = 0;
    for (const cJSON *k = o->child; k; k = k->next)
        v[n++] = k;
    qsort(v, n, sizeof *v, key_cmp);
    bool dup = false;
    for (size_t i = 1; i < n && !dup; i++)
        dup = fold_cmp(v[i - 1]->string, v[i]->string) == 0;
    free(v);
    return dup;
}

/* The members whose values the gateway reads on the way to a text, in the requests,
 * replies and stream events of every client API (chat completions, Responses, Anthropic
 * Messages): one list, so that no API's field can be spelled in another case. */
static const char *const fields[] = {
    /* chat completions */
    "messages", "role", "content", "type", "text", "choices", "message", "delta", "refusal",
    "tool_calls", "function_call", "function", "arguments", "index", "finish_reason",
    "logprobs", "stream", "usage", "model", "name", "reasoning_content", "reasoning", "audio",
    "transcript", "annotations", "prompt", "suffix",
    /* Responses */
    "input", "instructions", "output", "output_text", "item", "part", "response", "summary",
    "error", "tools", "description", "variables", "output_index", "content_index",
    "summary_index", "input_tokens", "output_tokens", "filename",
    /* Anthropic Messages */
    "system", "thinking", "partial_json", "content_block", "citations", "source", "data",
};

static bool is_field(const char *key)
{
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (strcmp(key, fields[i]) == 0)
            return true;
    return false;
}

bool gw_openai_field_variant(const char *key, size_t len)
{
    size_t i = 0;
    while (i < len && !((key[i] >= 'A' && key[i] <= 'Z') || (unsigned char)key[i] >= 0x80))
        i++;
    if (i == len)
        return false; /* lower-case ASCII folds to itself: a field only when it is one */
    char k[32]; /* the longest field folded is shorter; a longer key cannot fold to one */
    if (len >= sizeof k || memchr(key, '\0', len))
        return false;
    memcpy(k, key, len);
    k[len] = '\0';
    for (size_t f = 0; f < sizeof fields / sizeof *fields; f++)
        if (fold_cmp(k, fields[f]) == 0)
            return true;
    return false;
}

/* Whether an object on the path to the screened texts (the root, and whatever is reached
 * through the members above) has a key that a case-insensitive reader takes for one of
 * them, spelled otherwise: {"Content": ...} is content to Go, and nothing to cJSON. */
static bool field_in_other_case(const cJSON *node)
{
    if (cJSON_IsArray(node)) {
        for (const cJSON *e = node->child; e; e = e->next)
            if (field_in_other_case(e))
                return true;
        return false;
    }
    if (!cJSON_IsObject(node))
        return false;
    for (const cJSON *k = node->child; k; k = k->next) {
        if (is_field(k->string)) {
            /* A tool call's input object is the app's schema, whose keys may be spelled as
             * it likes ({"Name": ...}); every string in it is screened whatever its key. */
            bool tool_input = strcmp(k->string, "input") == 0 && cJSON_IsObject(k);
            if (!tool_input && field_in_other_case(k))
                return true;
        } else if (gw_openai_field_variant(k->string, strlen(k->string))) {
            return true;
        }
    }
    return false;
}

bool gw_openai_has_nul(const char *s, size_t len)
{
    if (memchr(s, '\0', len))
        return true;
    const char *end = s + len;
    for (const char *p = s; (p = memchr(p, '\\', (size_t)(end - p))) != NULL; p += 2) {
        if (end - p >= 6 && memcmp(p + 1, "u0000", 5) == 0)
            return true;
        if (end - p < 2)
            break;
    }
    return false;
}

bool gw_openai_not_utf8(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        uint64_t w; /* eight ASCII bytes at a time: most of a body */
        if (end - p >= 8 && (memcpy(&w, p, 8), !(w & 0x8080808080808080ull))) {
            p += 8;
            continue;
        }
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t n = gw_utf8_seq(p, (size_t)(end - p));
        if (!n)
            return true;
        p += n;
    }
    return false;
}

const char *gw_openai_unreadable(const char *raw, size_t len, const cJSON *root)
{
    if (gw_openai_not_utf8(raw, len))
        return "bytes that are not UTF-8, which readers decode in different ways (as U+FFFD, "
               "or in another encoding)";
    if (gw_openai_has_nul(raw, len))
        return "a NUL character (\\u0000) in a string, where readers disagree on where the "
               "string ends";
    if (gw_openai_duplicate_keys(root))
        return "an object with the same key twice (or in two cases), where readers disagree "
               "on which one counts";
    if (field_in_other_case(root))
        return "a field name in another case, which some readers take for the field";
    return NULL;
}

bool gw_openai_duplicate_keys(const cJSON *node)
{
    for (; node; node = node->next) {
        if (cJSON_IsObject(node) && object_has_duplicate(node))
            return true;
        if ((cJSON_IsObject(node) || cJSON_IsArray(node)) && gw_openai_duplicate_keys(node->child))
            return true;
    }
    return false;
}

/* A copy of text through cJSON's allocator (the tree may live in a worker's arena), or NULL. */
static char *tree_copy(const char *text)
{
    size_t len = strlen(text) + 1;
    char *copy = cJSON_malloc(len);
    if (copy)
        memcpy(copy, text, len);
    return copy;
}

int gw_openai_set_key(cJSON *node, const char *key)
{
    char *copy = tree_copy(key);
    if (!copy)
        return -1;
    if (!(node->type & cJSON_StringIsConst))
        cJSON_free(node->string);
    node->string = copy;
    node->type &= ~cJSON_StringIsConst;
    return 0;
}

int gw_openai_set_text(cJSON *node, const char *text)
{
    char *copy = tree_copy(text);
    if (!copy)
        return -1;
    if (!(node->type & cJSON_IsReference))
        cJSON_free(node->valuestring);
    node->valuestring = copy;
    node->type = cJSON_String | (node->type & cJSON_StringIsConst); /* a null becomes a string */
    return 0;
}

static void quoted(struct gw_buf *out, const char *s)
{
    gw_json_quote(out, s, strlen(s));
}

/* "chatcmpl-gr-" and id as one quoted string: id may be the provider's, any text. */
static void quoted_id(struct gw_buf *out, const char *id)
{
    struct gw_buf t = {0};
    gw_buf_puts(&t, "chatcmpl-gr-");
    gw_buf_puts(&t, id);
    gw_json_quote(out, t.data ? t.data : "", t.len);
    gw_buf_free(&t);
}

void gw_openai_refusal(struct gw_buf *out, const char *id, const char *model, const char *message)
{
    gw_buf_puts(out, "{\"id\":");
    quoted_id(out, id);
    gw_buf_printf(out, ",\"object\":\"chat.completion\",\"created\":%lld,\"model\":",
                  (long long)time(NULL));
    quoted(out, model);
    gw_buf_puts(out, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    quoted(out, message);
    gw_buf_puts(out, ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"content_filter\"}],"
                     "\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0,\"total_tokens\":0}}");
}

/* An SSE chunk event up to the opening brace of choice index's delta. */
static void chunk_head(struct gw_buf *out, const char *id, const char *model, int index)
{
    gw_buf_puts(out, "data: {\"id\":");
    quoted_id(out, id);
    gw_buf_printf(out, ",\"object\":\"chat.completion.chunk\",\"created\":%lld,\"model\":",
                  (long long)time(NULL));
    quoted(out, model);
    gw_buf_printf(out, ",\"choices\":[{\"index\":%d,\"delta\":{", index);
}

void gw_openai_chunk_event(struct gw_buf *out, const char *id, const char *model, int index,
                           const char *role, const char *text, size_t len,
                           const char *finish_reason)
{
    chunk_head(out, id, model, index);
    if (role)
        gw_buf_printf(out, "\"role\":\"%s\"%s", role, text ? "," : "");
    if (text) {
        gw_buf_puts(out, "\"content\":");
        gw_json_quote(out, text, len);
    }
    gw_buf_puts(out, "},\"logprobs\":null,\"finish_reason\":");
    if (finish_reason)
        quoted(out, finish_reason);
    else
        gw_buf_puts(out, "null");
    gw_buf_puts(out, "}]}\n\n");
}

void gw_openai_refusal_event(struct gw_buf *out, const char *id, const char *model, int index,
                             const char *text, size_t len)
{
    gw_openai_delta_event(out, id, model, index, "refusal", text, len);
}

void gw_openai_delta_event(struct gw_buf *out, const char *id, const char *model, int index,
                           const char *member, const char *text, size_t len)
{
    chunk_head(out, id, model, index);
    quoted(out, member);
    gw_buf_puts(out, ":");
    gw_json_quote(out, text, len);
    gw_buf_puts(out, "},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
}

void gw_openai_tool_args_event(struct gw_buf *out, const char *id, const char *model, int index,
                               int tool, const char *args, size_t len)
{
    chunk_head(out, id, model, index);
    gw_buf_printf(out, "\"tool_calls\":[{\"index\":%d,\"function\":{\"arguments\":", tool);
    gw_json_quote(out, args, len);
    gw_buf_puts(out, "}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
}

void gw_openai_refusal_stream(struct gw_buf *out, const char *id, const char *model,
                              const char *message)
{
    gw_openai_chunk_event(out, id, model, 0, "assistant", "", 0, NULL); /* as providers do */
    gw_openai_chunk_event(out, id, model, 0, NULL, message, strlen(message), "content_filter");
    gw_buf_puts(out, "data: [DONE]\n\n");
}

const char *const gw_openai_forward[] = {"OpenAI-Organization", "OpenAI-Project", "Accept", NULL};

void gw_openai_error(struct gw_buf *out, const char *message, const char *type, const char *param,
                     const char *code)
{
    gw_buf_puts(out, "{\"error\":{\"message\":");
    quoted(out, message);
    gw_buf_puts(out, ",\"type\":");
    quoted(out, type);
    gw_buf_puts(out, ",\"param\":");
    if (param)
        quoted(out, param);
    else
        gw_buf_puts(out, "null");
    gw_buf_puts(out, ",\"code\":");
    if (code)
        quoted(out, code);
    else
        gw_buf_puts(out, "null");
    gw_buf_puts(out, "}}");
}

void gw_openai_usage(const cJSON *root, long *prompt, long *completion)
{
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens");
    *prompt = gw_api_count(p);
    *completion = gw_api_count(c);
}
