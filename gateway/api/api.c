/* The client APIs' table, and what their files share: collecting texts, writing events,
 * screening a member of a stream event through a slot. */
#include "api/api.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "kpi/privacy.h"
#include "screen/scan.h"
#include "util/json.h"

const struct gw_api *const gw_apis[] = {&gw_api_openai_chat, &gw_api_anthropic_messages,
                                        &gw_api_openai_responses, &gw_api_openai_completions,
                                        &gw_api_openai_embeddings, NULL};

static int hex4(const char *p, size_t left);

const char *gw_api_generating(const char *path)
{
    /* Families of endpoints where customers' text reaches a model, or a model's text comes
     * back (a batch's results, a stored response, an assistant's thread): none may be passed
     * through unscreened, whatever the method. Compared as a server would route them: case
     * folded, slashes collapsed, with or without /v1 and a trailing slash. */
    static const char *const families[][2] = {
        {"chat", "OpenAI chat completions"},   {"responses", "OpenAI Responses"},
        {"messages", "Anthropic Messages"},    {"completions", "OpenAI completions"},
        {"embeddings", "OpenAI embeddings"},   {"moderations", "OpenAI moderations"},
        {"batches", "OpenAI batch"},           {"conversations", "OpenAI conversations"},
        {"threads", "OpenAI Assistants"},      {"assistants", "OpenAI Assistants"},
        {"engines", "OpenAI engines"},         {"audio", "OpenAI audio"},
        {"images", "OpenAI images"},           {"realtime", "OpenAI Realtime"},
        {"complete", "Anthropic text completions"},
    };
    char norm[256];
    size_t n = 0;
    for (const char *p = path; *p && n + 1 < sizeof norm; p++) {
        char c = *p;
        if (c == '%' && p[1] && p[2]) { /* %63hat is chat to a server */
            char h[5] = {'0', '0', p[1], p[2], 0};
            int v = hex4(h, 4);
            if (v > 0) {
                c = (char)v;
                p += 2;
            }
        }
        if (c == '/' && n && norm[n - 1] == '/')
            continue;
        norm[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        /* "/./" and "/../" as a server resolves them */
        if (n >= 3 && c == '/' && memcmp(norm + n - 3, "/./", 3) == 0) {
            n -= 2;
        } else if (n >= 4 && c == '/' && memcmp(norm + n - 4, "/../", 4) == 0) {
            n -= 4;
            while (n > 0 && norm[n - 1] != '/')
                n--;
            if (n == 0)
                norm[n++] = '/';
        }
    }
    norm[n] = '\0';
    if (n >= 2 && strcmp(norm + n - 2, "/.") == 0)
        norm[--n] = '\0';
    const char *rest = n >= 4 && memcmp(norm, "/v1/", 4) == 0 ? norm + 3 : norm;
    for (size_t i = 0; i < sizeof families / sizeof *families; i++) {
        size_t len = strlen(families[i][0]);
        if (rest[0] == '/' && strncmp(rest + 1, families[i][0], len) == 0 &&
            (rest[1 + len] == '\0' || rest[1 + len] == '/'))
            return families[i][1];
    }
    return NULL;
}

const struct gw_api *gw_api_for_path(const char *path)
{
    for (size_t i = 0; gw_apis[i]; i++) {
        const char *route = gw_apis[i]->route;
        /* "/chat/completions" too: a client whose base URL lacks /v1 */
        if (strcmp(path, route) == 0 || strcmp(path, route + 3) == 0)
            return gw_apis[i];
    }
    return NULL;
}

long gw_api_count(const cJSON *n)
{
    if (!cJSON_IsNumber(n) || !(n->valuedouble >= 0 && n->valuedouble < 1e12))
        return -1;
    return (long)n->valuedouble;
}

void gw_text_refs_free(struct gw_text_refs *t)
{
    free(t->v);
    free(t->roles);
    memset(t, 0, sizeof *t);
}

void gw_api_request_free(struct gw_api_request *r)
{
    cJSON_Delete(r->root);
    gw_text_refs_free(&r->texts);
    memset(r, 0, sizeof *r);
}

int gw_api_refs_push(struct gw_text_refs *t, cJSON *node)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        cJSON **v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return -1;
        t->v = v;
        unsigned char *r = realloc(t->roles, cap);
        if (!r)
            return -1;
        t->roles = r;
        t->cap = cap;
    }
    t->roles[t->n] = (unsigned char)t->role;
    t->v[t->n++] = node;
    return 0;
}

cJSON *gw_api_parse(const char *body, size_t len)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (!root)
        return NULL;
    while (end < body + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (end != body + len) { /* bytes after the document: another reader may read them */
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* Whether word (in any case) is in name as a word of its own, or (first) starts it. */
static bool has_word(const char *name, const char *word, bool first)
{
    size_t n = strlen(word);
    for (const char *p = name; (p = strcasestr(p, word)) != NULL; p += n)
        if ((p == name || (!first && !isalnum((unsigned char)p[-1]))) &&
            !isalnum((unsigned char)p[n]))
            return true;
    return false;
}

/* Whether a model searches the web before it answers, by its name (in any case):
 * OpenRouter's ":online" variants (":online:free" too), OpenAI's search and deep
 * research models ("gpt-4o-search-preview", "gpt-5-search-api", "o3-deep-research"),
 * Perplexity's Sonar ("sonar-pro", "llama-3.1-sonar-small-128k-online"), Groq's Compound,
 * Exa's and Jina's search models ("exa-pro", "jina-deepsearch-v1"). A name list trails
 * the providers (docs/apis.md says so). */
static bool searches_web(const char *model)
{
    const char *name = strrchr(model, '/');
    name = name ? name + 1 : model;
    char base[128]; /* a fine-tune ("ft:BASE:org:suffix:id") searches as its base does */
    if (strncmp(name, "ft:", 3) == 0) {
        snprintf(base, sizeof base, "%.*s", (int)strcspn(name + 3, ":"), name + 3);
        name = base;
    }
    size_t n = strlen(name);
    const char *online = strcasestr(name, ":online");
    return (online && (online[7] == '\0' || online[7] == ':')) ||
           (n >= 7 && strcasecmp(name + n - 7, "-online") == 0) ||
           strcasestr(name, "search-preview") || strcasestr(name, "search-api") ||
           strcasestr(name, "deep-research") || strcasestr(name, "deepsearch") ||
           has_word(name, "sonar", false) || has_word(name, "compound", false) ||
           has_word(name, "exa", true);
}

int gw_api_parse_head(const char *body, size_t len, cJSON **root, const char **model,
                      bool *stream, char *err, size_t errlen, const char **param)
{
    *param = NULL;
    *root = gw_api_parse(body, len);
    if (!cJSON_IsObject(*root)) {
        snprintf(err, errlen, "The request body is not valid JSON: expected one JSON object "
                              "and nothing after it.");
        return -1;
    }
    const char *why = gw_openai_unreadable(body, len, *root);
    if (why) {
        snprintf(err, errlen, "The request body is refused: it has %s.", why);
        return -1;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(*root, "model");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(*root, "stream");
    if (m && !cJSON_IsString(m)) {
        *param = "model";
        snprintf(err, errlen, "'model' must be a string.");
        return -1;
    }
    if (st && !cJSON_IsBool(st) && !cJSON_IsNull(st)) {
        *param = "stream";
        snprintf(err, errlen, "'stream' must be a boolean.");
        return -1;
    }
    /* A search or a retrieval at the provider, in any API: the model would read web pages
     * or documents the gateway never sees (OpenAI's web_search_options; OpenRouter's
     * plugins, xAI's search_parameters, DashScope's enable_search and search_options,
     * Qianfan's web_search, Azure's data_sources, Cohere's connectors, Groq's
     * search_settings: switches and names, which the unknown-member policy finds no text
     * in). */
    static const char *const searches[] = {
        "web_search_options", "plugins",         "search_parameters", "enable_search",
        "search_options",     "web_search",      "data_sources",      "dataSources",
        "connectors",         "search_settings", "retrieval",         "knowledge_base_ids"};
    for (size_t k = 0; k < sizeof searches / sizeof *searches; k++)
        if (cJSON_GetObjectItemCaseSensitive(*root, searches[k])) {
            *param = searches[k];
            snprintf(err, errlen,
                     "'%s': a search, a retrieval or a plugin runs at the provider: the "
                     "model would read pages this gateway never screens, so it is refused.",
                     searches[k]);
            return -1;
        }
    /* A model that searches the web first (the model or a fallback in 'models'): it would
     * read pages this gateway never screens. */
    const cJSON *fallback;
    const char *searching = m && searches_web(m->valuestring) ? "model" : NULL;
    cJSON_ArrayForEach(fallback, cJSON_GetObjectItemCaseSensitive(*root, "models"))
    {
        if (!searching && cJSON_IsString(fallback) && searches_web(fallback->valuestring))
            searching = "models";
    }
    if (searching) {
        *param = searching;
        snprintf(err, errlen,
                 "'%s': the model searches the web at the provider (':online', a search or "
                 "Sonar model): it would read pages this gateway never screens, so it is "
                 "refused.",
                 searching);
        return -1;
    }
    *model = m ? m->valuestring : "unknown";
    *stream = cJSON_IsTrue(st);
    return 0;
}

static bool known(const char *key, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(key, *names) == 0)
            return true;
    return false;
}

/* Whether a model's name that is no one word (a local server's file path: "C:\Users\Jo
 * Smith\llama-3-8b.gguf", "/home/josé/qwen2.5-7b.gguf") can carry no personal data: at
 * most 256 bytes, no control character, no '@', and no nine digits in a run that only
 * spaces, dashes, dots or slashes part (a card, a social security or phone number). */
static bool path_like_name(const unsigned char *c)
{
    size_t digits = 0, len = 0;
    for (; *c; c++, len++) {
        if (*c < 0x20 || *c == 0x7F || *c == '@' || len >= 256)
            return false;
        if (*c >= '0' && *c <= '9') {
            if (++digits >= 9)
                return false;
        } else if (!strchr(" -./", *c)) {
            digits = 0;
        }
    }
    return true;
}

/* Whether an unknown member's name can carry nothing to screen: 1 to 64 of letters,
 * digits and "_-.:$", with at most eight digits (an API's extension, "x_groq",
 * "provider_specific_fields"). A scanner reads a member's value, not its name, so a name
 * with a space, an '@' or a number in it ("jo@example.com": "x") is a text no scan read. */
static bool plain_member_name(const char *k)
{
    size_t n = 0, digits = 0;
    for (; k[n]; n++) {
        unsigned char c = (unsigned char)k[n];
        if (!isalnum(c) && !strchr("_-.:$", c))
            return false;
        digits += isdigit(c) != 0;
    }
    /* nor a key or an address however written ("ghp_...", "sk_live_...": privacy.h) */
    return n >= 1 && n <= 64 && digits <= 8 && !gw_privacy_pii_like(k);
}

/* Whether an e-mail address is at the '@' (or "%40", at_len bytes) at s[i]: a
 * name's character before it, and a domain after it, labels of letters, digits and '-'
 * parted by dots, the last one of letters. "@cf/meta/llama-3.1-8b" (Cloudflare's models)
 * and "claude-3-5-sonnet@20241022" (Vertex's) are none. */
static bool address_at(const unsigned char *s, size_t i, size_t at_len)
{
    if (i == 0 || !(isalnum(s[i - 1]) || strchr("._%+-", s[i - 1])))
        return false;
    size_t k = i + at_len, label = 0, dots = 0;
    bool letters = true;
    for (; isalnum(s[k]) || s[k] == '-' || s[k] == '.'; k++) {
        if (s[k] == '.') {
            if (label == 0)
                return false;
            dots++;
            label = 0;
            letters = true;
        } else {
            label++;
            letters &= isalpha(s[k]) != 0;
        }
    }
    return dots > 0 && label >= 2 && letters;
}

/* Whether s is one word of printable ASCII that holds no e-mail address ('@' or "%40")
 * and no run of more than max_digits digits (a card, an account, a phone number:
 * "4111111111111111" is no model's name; random ids may hold such runs by chance, and a
 * Bedrock model's ARN a 12-digit account). */
static bool plain_word(const unsigned char *s, size_t max_digits)
{
    size_t digits = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] < 0x21 || s[i] > 0x7E)
            return false;
        if ((s[i] == '@' && address_at(s, i, 1)) ||
            (s[i] == '%' && s[i + 1] == '4' && s[i + 2] == '0' && address_at(s, i, 3)))
            return false;
        digits = isdigit(s[i]) ? digits + 1 : 0;
        if (digits > max_digits)
            return false;
    }
    return true;
}

/* Whether a usage object holds counts and plain words only (OpenAI's token details,
 * Anthropic's service_tier): it passes unscreened, so no sentence, address or number. */
static bool usage_ok(const cJSON *u, int depth)
{
    if (!u || cJSON_IsNull(u) || cJSON_IsNumber(u) || cJSON_IsBool(u))
        return true;
    if (cJSON_IsString(u))
        return strlen(u->valuestring) <= 64 &&
               plain_word((const unsigned char *)u->valuestring, 8) &&
               !gw_privacy_pii_like(u->valuestring); /* "sk_live_...", "ghp_...": keys */
    if ((!cJSON_IsObject(u) && !cJSON_IsArray(u)) || depth >= 4)
        return false;
    for (const cJSON *c = u->child; c; c = c->next)
        if ((cJSON_IsObject(u) && !plain_member_name(c->string)) || !usage_ok(c, depth + 1))
            return false;
    return true;
}

/* Whether s is an ISO 8601 time, as JavaScript's toISOString() and Python's isoformat()
 * write one ("2025-03-10T10:15:30.123+00:00"): its digits are no card or phone. */
static bool iso_time(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd";
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd'   ? !isdigit((unsigned char)s[i])
            : shape[i] == 'T' ? s[i] != 'T' && s[i] != ' '
                              : s[i] != shape[i])
            return false;
    /* a real time: 1970 to 2099 (no card starts 19 or 20), month, day, hour, minute */
    int year = atoi(s), month = atoi(s + 5), day = atoi(s + 8), hour = atoi(s + 11),
        minute = atoi(s + 14);
    if (year < 1970 || year > 2099 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 ||
        minute > 59)
        return false;
    s += sizeof shape - 1;
    if (s[0] == ':' && isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2]) &&
        atoi(s + 1) <= 60)
        s += 3;
    if (s[0] == '.' && isdigit((unsigned char)s[1])) {
        const char *f = ++s;
        for (; isdigit((unsigned char)*s); s++)
            ;
        if (s - f > 9)
            return false; /* nanoseconds at most */
    }
    if (*s == 'Z')
        return s[1] == '\0';
    if (*s != '+' && *s != '-')
        return *s == '\0';
    /* a zone: +00, +00:00 or +0000 */
    const char *m = s[3] == ':' ? s + 4 : s + 3;
    return isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2]) && atoi(s + 1) <= 14 &&
           (!s[3] || (isdigit((unsigned char)m[0]) && isdigit((unsigned char)m[1]) &&
                      atoi(m) <= 59 && !m[2]));
}

bool gw_api_scalars(const cJSON *obj, const char *const *names)
{
    static const char *const ids[] = {"id",        "call_id", "system_fingerprint", "obfuscation",
                                      "signature", "data",    "encrypted_content",  NULL};
    for (const char *const *n = names; *n; n++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, *n);
        if (cJSON_IsObject(v) || cJSON_IsArray(v))
            return false;
        /* an id, a name or a state is one word of printable ASCII ("chatcmpl-9x",
         * "gpt-4o-2024-08-06", "end_turn"): not a sentence that would carry a card, nor an
         * address or a card as one word */
        const unsigned char *s =
            cJSON_IsString(v) ? (const unsigned char *)v->valuestring : (const unsigned char *)"";
        size_t max_digits = known(*n, ids) ? SIZE_MAX : strcmp(*n, "model") == 0 ? 12 : 8;
        if (iso_time((const char *)s))
            continue; /* a time, however many digits its fraction has */
        if (!plain_word(s, max_digits) && !(strcmp(*n, "model") == 0 && path_like_name(s)))
            return false;
        /* a state or a setting is no card or key however grouped ("4111-1111-...",
         * "AKIA..."); an id is opaque, and a model's name may hold an ARN's account */
        if (!known(*n, ids) && strcmp(*n, "model") != 0 && gw_privacy_pii_like((const char *)s))
            return false;
    }
    return gw_api_usage_ok(obj);
}

bool gw_api_usage_ok(const cJSON *obj)
{
    return usage_ok(cJSON_GetObjectItemCaseSensitive(obj, "usage"), 0);
}

int gw_api_request_members(const struct gw_api *api, struct gw_api_request *r,
                           enum gw_unknown_policy policy, char *err, size_t errlen,
                           const char **param)
{
    if (!api->request_members)
        return 0;
    for (const cJSON *k = r->root ? r->root->child : NULL; k && policy == GW_UNKNOWN_REFUSE;
         k = k->next)
        if (!known(k->string, api->request_members) && !cJSON_IsNull(k)) {
            *param = k->string;
            snprintf(err, errlen,
                     "'%.60s' is not a parameter of the %s API that this gateway knows, and "
                     "policy.unknown_fields is refuse.",
                     k->string, api->name);
            return -1;
        }
    r->texts.role = GW_ROLE_USER;
    r->texts.unknown = policy;
    if (gw_api_unknown_members(r->root, api->request_members, &r->texts) == -1) {
        snprintf(err, errlen, "Out of memory.");
        return -1;
    }
    return 0;
}

/* Whether a data URL starts at v (after "data:"): an image, audio, a video or a file, as
 * a browser reads it. Spaces around its type are allowed ("data: image/png ;base64,"); a
 * base64 body of any type or of none is media (a browser sniffs an image's own type); a
 * body of text ("data:,hi", "data:text/plain,hi") is not. */
static bool media_url(const char *v)
{
    static const char token[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789.+-_!#$&^";
    v += strspn(v, " \t");
    size_t type = strspn(v, token), sub = 0;
    if (type && v[type] == '/')
        sub = strspn(v + type + 1, token);
    bool typed = type && sub, text = typed && strncasecmp(v, "text/", 5) == 0;
    const char *p = typed ? v + type + 1 + sub : v;
    p += strspn(p, " \t");
    bool base64 = false;
    while (*p == ';') { /* parameters: ";charset=...", ";base64" */
        p++;
        p += strspn(p, " \t");
        size_t n = strcspn(p, ";,");
        size_t t = n;
        while (t && (p[t - 1] == ' ' || p[t - 1] == '\t'))
            t--;
        base64 |= t == 6 && strncasecmp(p, "base64", 6) == 0;
        p += n;
    }
    return *p == ',' && (base64 || (typed && !text));
}

bool gw_api_has_media(const cJSON *node)
{
    if (cJSON_IsString(node)) {
        /* anywhere in the string: a markdown image or an <img> shows one too */
        const char *s = node->valuestring;
        for (const char *v = s; (v = strcasestr(v, "data:")) != NULL; v += 5)
            if ((v == s || !isalnum((unsigned char)v[-1])) && media_url(v + 5))
                return true;
        return false;
    }
    for (const cJSON *c = node ? node->child : NULL; c; c = c->next)
        if (gw_api_has_media(c))
            return true;
    return false;
}

int gw_api_unknown_members(cJSON *obj, const char *const *names, struct gw_text_refs *t)
{
    cJSON *k = cJSON_IsObject(obj) ? obj->child : NULL;
    while (k) {
        cJSON *next = k->next;
        if (!known(k->string, names) && !cJSON_IsNull(k)) {
            if (t->unknown == GW_UNKNOWN_REFUSE)
                return -1;
            if (t->unknown == GW_UNKNOWN_STRIP) {
                cJSON_Delete(cJSON_DetachItemViaPointer(obj, k));
                t->stripped = true;
            } else {
                t->odd_name |= !plain_member_name(k->string);
                if (gw_api_has_media(k))
                    gw_api_refs_media(t, "an image, audio or a file as a data URL");
                if (gw_api_refs_push_all(t, k) == -1)
                    return -1;
            }
        }
        k = next;
    }
    return 0;
}


/* Screens node whole in block mode: a string, or the JSON text of anything else. Returns
 * 0, 1 (blocked) or -1. */
static int scan_all(struct gw_api_stream *s, cJSON *node)
{
    if (!node || cJSON_IsNull(node) || cJSON_IsBool(node) ||
        ((cJSON_IsObject(node) || cJSON_IsArray(node)) && !node->child))
        return 0;
    return s->scan(s->ctx, node); /* an object or a number as its JSON text */
}

int gw_api_stream_scan_all(struct gw_api_stream *s, cJSON *node)
{
    return s->screen_replies ? scan_all(s, node) : 0;
}

int gw_api_stream_unknown(struct gw_api_stream *s, cJSON *obj, const char *const *names)
{
    s->within_key = obj ? obj->string : NULL;
    cJSON *k = cJSON_IsObject(obj) ? obj->child : NULL;
    while (k) {
        cJSON *next = k->next;
        if (!known(k->string, names) && !cJSON_IsNull(k)) {
            if (!s->screen_replies) {
                /* nothing is screened: the member passes as the rest does */
            } else if (s->unknown == GW_UNKNOWN_REFUSE) {
                return -1;
            } else if (s->unknown == GW_UNKNOWN_STRIP) {
                cJSON_Delete(cJSON_DetachItemViaPointer(obj, k));
            } else if (!plain_member_name(k->string)) {
                return -1; /* a name no scanner reads */
            } else if (!s->media_pass && gw_api_has_media(k)) {
                return -1; /* an image or audio no scanner reads */
            } else {
                int rc = scan_all(s, k);
                if (rc != 0)
                    return rc;
            }
        }
        k = next;
    }
    return 0;
}

/* Whether k is a name a provider gives a default it adds: 1 to 32 lowercase letters and
 * '_' (no digit, capital, '@' or '.': no card, key or address fits in one). */
static bool default_name(const char *k)
{
    size_t n = strspn(k, "abcdefghijklmnopqrstuvwxyz_");
    return n >= 1 && n <= 32 && k[n] == '\0';
}

/* Whether c is a value a provider gives a default it adds: a flag, null, a small whole
 * number or a lowercase word ("medium", "auto"). */
static bool default_value(const cJSON *c)
{
    if (cJSON_IsBool(c) || cJSON_IsNull(c))
        return true;
    if (cJSON_IsNumber(c))
        return fabs(c->valuedouble) < 100000 && c->valuedouble == floor(c->valuedouble);
    return cJSON_IsString(c) && default_name(c->valuestring);
}

/* Hands node to push, or with push NULL (a probe) says it differs: 1. */
static int emit(int (*push)(void *ctx, cJSON *node), void *ctx, cJSON *node)
{
    return push ? push(ctx, node) : 1;
}

/* Pushes the parts of node that differ from was (NULL: all of node), as gw_api_echo_diff. */
static int echo_diff(cJSON *node, const cJSON *was, int (*push)(void *ctx, cJSON *node), void *ctx)
{
    bool same = was && (node->type & 0xFF) == (was->type & 0xFF);
    if (same && cJSON_IsString(node))
        same = strcmp(node->valuestring, was->valuestring) == 0;
    else if (same && cJSON_IsNumber(node))
        same =
            node->valuedouble == was->valuedouble && fabs(node->valuedouble) < 9007199254740992.0;
    if (!same || cJSON_IsString(node) || cJSON_IsNumber(node))
        return same ? 0 : emit(push, ctx, node);
    if (cJSON_IsArray(node)) {
        const cJSON *w = was->child;
        for (cJSON *c = node->child; c; c = c->next, w = w ? w->next : NULL) {
            int rc = echo_diff(c, w, push, ctx);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    if (!cJSON_IsObject(node))
        return 0; /* null, true, false: nobody's words */
    /* A member was did not have, or one whose value changed (but an object's, whose own
     * members have names), is screened with its name, in its object ("password": "..." is
     * found by its name), unless it is a default a provider adds: a lowercase name and a
     * flag, a small number or a lowercase word ("strict": true, "verbosity": "medium"),
     * which carry no card, key or address */
    bool few = cJSON_GetArraySize(node) <= 64;
    for (int pass = 0; pass < 2; pass++) {
        const cJSON *w = was->child;
        for (cJSON *c = node->child; c; c = c->next, w = w ? w->next : NULL) {
            /* the same order as was, mostly: found at once; else looked up, in an object
             * of a few members (a long one in another order is read whole: linear) */
            const cJSON *at = w && strcmp(w->string, c->string) == 0 ? w
                              : few ? cJSON_GetObjectItemCaseSensitive(was, c->string)
                                    : NULL;
            bool object = cJSON_IsObject(c) && cJSON_IsObject(at);
            if (pass == 0 && ((!at && !(default_name(c->string) && default_value(c))) ||
                              (at && !object && echo_diff(c, at, NULL, NULL) != 0)))
                return emit(push, ctx, node);
            int rc = pass == 1 && object ? echo_diff(c, at, push, ctx) : 0;
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

int gw_api_echo_diff(cJSON *obj, const cJSON *sent, const char *const *members,
                     int (*push)(void *ctx, cJSON *node), void *ctx)
{
    for (const char *const *m = members; m && *m; m++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, *m);
        int rc = v ? echo_diff(v, cJSON_GetObjectItemCaseSensitive(sent, *m), push, ctx) : 0;
        if (rc != 0)
            return rc;
    }
    return 0;
}

void gw_api_refs_media(struct gw_text_refs *t, const char *what)
{
    if (!t->media)
        t->media = what;
}

int gw_api_refs_push_all(struct gw_text_refs *t, cJSON *node)
{
    /* An object, an array or a number is screened as the JSON text of it, so its keys and
     * numbers are too (the request path prints it, and parses it back when redacted). */
    if (!node || cJSON_IsNull(node) || cJSON_IsBool(node) ||
        ((cJSON_IsObject(node) || cJSON_IsArray(node)) && !node->child))
        return 0;
    return gw_api_refs_push(t, node);
}

int gw_api_write_event(struct gw_api_stream *s, const char *name, const cJSON *ev)
{
    if (name && name[strcspn(name, "\r\n")])
        return -1; /* a name from the provider's JSON: a line break would end its line */
    char *json = cJSON_PrintUnformatted(ev);
    if (!json)
        return -1;
    if (name) {
        s->write(s->ctx, "event: ", 7);
        s->write(s->ctx, name, strlen(name));
        s->write(s->ctx, "\n", 1);
    }
    s->write(s->ctx, "data: ", 6);
    s->write(s->ctx, json, strlen(json));
    s->write(s->ctx, "\n\n", 2);
    cJSON_free(json);
    return 0;
}

int gw_api_screen_member(struct gw_api_stream *s, int slot, cJSON *parent, const char *name,
                         bool finishing, bool *released)
{
    struct gw_buf *tmp = s->tmp;
    cJSON *node = cJSON_GetObjectItemCaseSensitive(parent, name);
    if (node && !cJSON_IsString(node) && !cJSON_IsNull(node))
        return -1; /* parts or an object: not screened, so not passed */
    int rc = 0;
    gw_buf_reset(tmp);
    if (cJSON_IsString(node))
        rc = s->screen(s->ctx, slot, node->valuestring, strlen(node->valuestring), tmp);
    if (rc == 0 && finishing && s->open(s->ctx, slot))
        rc = s->screen(s->ctx, slot, NULL, 0, tmp);
    if (rc != 0)
        return rc;
    if (cJSON_IsString(node) || tmp->len > 0) {
        const char *text = tmp->data ? tmp->data : "";
        if (node ? gw_openai_set_text(node, text) != 0 /* a null member becomes the text */
                 : !cJSON_AddStringToObject(parent, name, text))
            return -1;
    }
    if (tmp->len > 0)
        *released = true;
    return 0;
}

/* The strings of a JSON text, keys and values apart: their contents' byte ranges. */
struct ranges {
    size_t (*v)[2];
    size_t n, cap;
};

static int add_range(struct ranges *r, size_t a, size_t b)
{
    if (gw_grow(&r->v, &r->cap, r->n, sizeof *r->v, 16) == -1)
        return -1;
    r->v[r->n][0] = a;
    r->v[r->n++][1] = b;
    return 0;
}

/* The strings (keys and values apart) and the bare scalars (numbers, true, false, null) of
 * a JSON text. Lenient: it reads what it can and never fails on bad JSON but for an
 * unterminated string. */
static int json_strings(const char *t, size_t len, struct ranges *values, struct ranges *keys,
                        struct ranges *bare)
{
    for (size_t i = 0; i < len; i++) {
        if (t[i] != '"') {
            bool scalar = (t[i] >= '0' && t[i] <= '9') || t[i] == '-' || t[i] == '+' ||
                          (t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z');
            if (!scalar || !bare)
                continue;
            size_t a = i;
            while (i + 1 < len && t[i + 1] != ',' && t[i + 1] != '}' && t[i + 1] != ']' &&
                   t[i + 1] != ' ' && t[i + 1] != '\n' && t[i + 1] != '\t' &&
                   t[i + 1] != '\r' && t[i + 1] != '"' && t[i + 1] != ':')
                i++;
            if (add_range(bare, a, i + 1) == -1)
                return -1;
            continue;
        }
        size_t a = ++i;
        while (i < len && t[i] != '"')
            i += t[i] == '\\' ? 2 : 1;
        if (i >= len)
            return 0; /* an unterminated string (truncated JSON, a stray quote): no more */
        size_t j = i + 1;
        while (j < len && (t[j] == ' ' || t[j] == '\t' || t[j] == '\n' || t[j] == '\r'))
            j++;
        if (add_range(j < len && t[j] == ':' ? keys : values, a, i) == -1)
            return -1;
    }
    return 0;
}

int gw_api_json_strings(const char *t, size_t len, size_t (**v)[2], size_t *n)
{
    struct ranges values = {0};
    if (json_strings(t, len, &values, &values, NULL) == -1) {
        free(values.v);
        return -1;
    }
    *v = values.v; /* in order: keys and values share the list */
    *n = values.n;
    return 0;
}

size_t gw_api_utf8(unsigned c, char b[4])
{
    if (c < 0x80)
        return b[0] = (char)c, 1;
    if (c < 0x800)
        return b[0] = (char)(0xC0 | c >> 6), b[1] = (char)(0x80 | (c & 0x3F)), 2;
    if (c < 0x10000)
        return b[0] = (char)(0xE0 | c >> 12), b[1] = (char)(0x80 | (c >> 6 & 0x3F)),
               b[2] = (char)(0x80 | (c & 0x3F)), 3;
    return b[0] = (char)(0xF0 | c >> 18), b[1] = (char)(0x80 | (c >> 12 & 0x3F)),
           b[2] = (char)(0x80 | (c >> 6 & 0x3F)), b[3] = (char)(0x80 | (c & 0x3F)), 4;
}

/* The UTF-8 of code point c to out. */
static int put_utf8(struct gw_buf *out, unsigned c)
{
    char b[4];
    return gw_buf_append(out, b, gw_api_utf8(c, b));
}

static int hex4(const char *p, size_t left)
{
    int v = 0;
    for (size_t i = 0; i < 4; i++) {
        char c = i < left ? p[i] : 0;
        int h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

int gw_api_json_unescape(const char *s, size_t len, struct gw_buf *out)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\' || i + 1 >= len) {
            if (gw_buf_append(out, s + i, 1) == -1)
                return -1;
            continue;
        }
        char c = s[++i];
        int rc;
        if (c == 'u') {
            int u = hex4(s + i + 1, len - i - 1);
            if (u < 0) { /* not an escape a reader accepts: kept as written */
                rc = gw_buf_append(out, s + i - 1, 2);
            } else {
                i += 4;
                unsigned cp = (unsigned)u;
                int lo = cp >= 0xD800 && cp < 0xDC00 && i + 2 < len && s[i + 1] == '\\' &&
                                 s[i + 2] == 'u'
                             ? hex4(s + i + 3, len - i - 3)
                             : -1;
                if (lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (unsigned)(lo - 0xDC00);
                    i += 6;
                } else if (cp >= 0xD800 && cp < 0xE000) {
                    cp = 0xFFFD; /* a lone surrogate: what lenient readers show */
                }
                rc = put_utf8(out, cp);
            }
        } else {
            static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";
            const char *k = strchr(from, c);
            char d = k && c ? to[k - from] : c; /* " \ / and anything else as itself */
            rc = gw_buf_append(out, &d, 1);
        }
        if (rc == -1)
            return -1;
    }
    return 0;
}

/* Moves [*s, *e) inside string [a, b) so that it cuts no escape sequence. */
static void whole_escapes(const char *t, size_t a, size_t *s, size_t *e)
{
    for (size_t i = a; i < *e;) {
        size_t n = t[i] == '\\' ? (t[i + 1] == 'u' ? 6 : 2) : 1;
        if (i < *s && i + n > *s)
            *s = i;
        if (i < *e && i + n > *e) {
            *e = i + n;
            break;
        }
        i += n;
    }
}

/* Adds to g the parts of finding x that lie inside the strings of r (clamped so that no
 * escape sequence is cut). Returns how many it added, or -1. */
/* The first range of r (in order, disjoint) that ends after pos: a binary search, so that
 * many findings over many strings stay n log n. */
static size_t first_after(const struct ranges *r, size_t pos)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->v[mid][1] <= pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int clamp_into(const char *text, const struct gw_finding *x, const struct ranges *r,
                      struct gw_findings *g)
{
    int added = 0;
    for (size_t j = first_after(r, x->start); j < r->n && r->v[j][0] < x->end; j++) {
        size_t s = x->start > r->v[j][0] ? x->start : r->v[j][0];
        size_t e = x->end < r->v[j][1] ? x->end : r->v[j][1];
        if (s >= e)
            continue;
        whole_escapes(text, r->v[j][0], &s, &e);
        if (gw_grow(&g->v, &g->cap, g->n, sizeof *g->v, 8) == -1)
            return -1;
        g->v[g->n++] = (struct gw_finding){x->rule, s, e, x->action, x->shadow, x->score};
        added++;
    }
    return added;
}

static int by_start(const void *x, const void *y)
{
    const struct gw_finding *a = x, *b = y;
    return a->start < b->start ? -1 : a->start > b->start ? 1 : a->end > b->end ? -1 : 0;
}

static bool in_ranges(const struct ranges *r, size_t s, size_t e)
{
    size_t j = first_after(r, s);
    return j < r->n && s >= r->v[j][0] && e <= r->v[j][1];
}

/* gw_redact over findings g (sorted, redactions only), except that a replacement outside
 * every string (in a number or a literal) is written as a JSON string, so the text stays
 * JSON: {"card": "[CARD]"}. Overlapping findings merge as in gw_redact. */
static int redact_tokens(const struct gw_ruleset *rs, const char *text, size_t len,
                         const struct gw_findings *g, const struct ranges *values,
                         const struct ranges *keys, struct gw_buf *out)
{
    size_t pos = 0;
    for (size_t i = 0; i < g->n;) {
        size_t s = g->v[i].start, e = g->v[i].end;
        const char *repl = rs->table.rules[g->v[i].rule].replacement;
        for (i++; i < g->n && g->v[i].start < e; i++)
            if (g->v[i].end > e)
                e = g->v[i].end;
        if (s < pos)
            s = pos; /* inside the last one merged */
        bool bare = !in_ranges(values, s, e) && !in_ranges(keys, s, e);
        if (gw_buf_append(out, text + pos, s - pos) == -1)
            return -1;
        /* inside a string, the replacement escaped as a string's content would be */
        size_t at = out->len;
        if (gw_json_quote(out, repl, strlen(repl)) == -1)
            return -1;
        if (!bare) {
            memmove(out->data + at, out->data + at + 1, out->len - at - 2);
            out->len -= 2;
            out->data[out->len] = '\0';
        }
        pos = e;
    }
    return gw_buf_append(out, text + pos, len - pos);
}

int gw_api_redact(const struct gw_ruleset *rs, const char *text, size_t len,
                  const struct gw_findings *f, struct gw_buf *out)
{
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r'))
        i++;
    /* Read leniently, as apps' readers do (cJSON refuses a lone surrogate, NaN, deep nesting
     * that they accept): a text that starts and ends as JSON does ("[CARD] and more" is
     * prose) is redacted as JSON. */
    size_t last = len;
    while (last > i && (text[last - 1] == ' ' || text[last - 1] == '\n' ||
                        text[last - 1] == '\t' || text[last - 1] == '\r'))
        last--;
    if (i >= len || (text[i] != '{' && text[i] != '[') ||
        (text[last - 1] != '}' && text[last - 1] != ']'))
        return gw_redact(rs, text, len, f, out);
    /* JSON (tool arguments, a structured output): a redaction that reaches into value strings
     * is kept inside them (a secret rule's match spans its key and quotes); one that touches
     * no value but a key is kept inside the key; one in neither (a number, a literal) is
     * replaced as it is, which may change the JSON but never lets the value through. */
    struct ranges values = {0}, keys = {0}, bare = {0};
    struct gw_findings g = {0};
    int rc = json_strings(text, len, &values, &keys, &bare);
    for (size_t k = 0; rc == 0 && k < f->n; k++) {
        const struct gw_finding *x = &f->v[k];
        if (rs->table.rules[x->rule].action != GW_ACTION_REDACT)
            continue;
        /* the value it reaches: a string's part, or a whole number (written as a string) */
        int n = clamp_into(text, x, &values, &g);
        for (size_t j = first_after(&bare, x->start); n >= 0 && j < bare.n; j++) {
            if (bare.v[j][0] >= x->end)
                break;
            if (gw_grow(&g.v, &g.cap, g.n, sizeof *g.v, 8) == -1)
                n = -1;
            else
                g.v[g.n++] = (struct gw_finding){x->rule, bare.v[j][0], bare.v[j][1], x->action,
                                                 x->shadow, x->score},
                n++;
        }
        if (n == 0)
            n = clamp_into(text, x, &keys, &g);
        if (n == 0 && gw_grow(&g.v, &g.cap, g.n, sizeof *g.v, 8) == 0)
            g.v[g.n++] = *x, n = 1;
        if (n <= 0)
            rc = -1;
    }
    if (rc == 0) {
        if (g.n) /* qsort of NULL is undefined, even for none */
            qsort(g.v, g.n, sizeof *g.v, by_start);
        rc = redact_tokens(rs, text, len, &g, &values, &keys, out);
    }
    free(values.v);
    free(keys.v);
    free(bare.v);
    free(g.v);
    return rc;
}
