/* Reading a streamed chat.completion.chunk without building a cJSON tree.
 *
 * A streamed reply is mostly events of one shape: one choice whose delta carries a few
 * bytes of text. Parsing each into a tree and printing it back was the largest part of a
 * streamed reply's cost (cJSON was about a sixth of the gateway's CPU). This reader checks
 * the event is valid JSON of that shape in one pass and records where the fields the
 * proxy needs are, so that it can splice the screened text into the provider's own bytes.
 * Anything else (tool calls, a refusal, usage, several choices, \u escapes in the text,
 * duplicate keys) makes it answer false, and the caller takes the general path. */
#include <string.h>

#include "api/openai.h"
#include "util/json.h"

#define MAX_DEPTH 64

struct rd {
    const char *base, *p, *end;
};

/* Spaces and tabs only: an event whose data spans lines (or holds a lone CR) is valid JSON,
 * but written back as it came it would break the client's SSE framing; the general path
 * prints it on one line. */
static void ws(struct rd *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t'))
        r->p++;
}

static bool eat(struct rd *r, char c)
{
    ws(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A string at r->p. Sets its contents' span and *esc: 0 no escapes, 1 only one-letter
 * escapes, 2 at least one \u escape. */
static bool str(struct rd *r, const char **s, size_t *n, int *esc)
{
    ws(r);
    if (r->p >= r->end || *r->p != '"')
        return false;
    const char *start = ++r->p;
    int e = 0;
    while (r->p < r->end) {
        unsigned char c = (unsigned char)*r->p;
        if (c == '"') {
            *s = start;
            *n = (size_t)(r->p - start);
            *esc = e;
            r->p++;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c >= 0x80) { /* not UTF-8: the general path refuses it (gw_openai_unreadable) */
            size_t k = gw_utf8_seq((const unsigned char *)r->p, (size_t)(r->end - r->p));
            if (!k)
                return false;
            r->p += k;
            continue;
        }
        if (c != '\\') {
            r->p++;
            continue;
        }
        if (r->end - r->p < 2)
            return false;
        char x = r->p[1];
        if (x == 'u') {
            if (r->end - r->p < 6 || !is_hex(r->p[2]) || !is_hex(r->p[3]) || !is_hex(r->p[4]) ||
                !is_hex(r->p[5]))
                return false;
            e = 2;
            r->p += 6;
            continue;
        }
        if (x != '"' && x != '\\' && x != '/' && x != 'b' && x != 'f' && x != 'n' && x != 'r' &&
            x != 't')
            return false;
        if (e == 0)
            e = 1;
        r->p += 2;
    }
    return false;
}

static bool digits(struct rd *r)
{
    const char *s = r->p;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
        r->p++;
    return r->p > s;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool number(struct rd *r)
{
    if (r->p < r->end && *r->p == '-')
        r->p++;
    if (r->p < r->end && *r->p == '0')
        r->p++;
    else if (!digits(r))
        return false;
    if (r->p < r->end && *r->p == '.') {
        r->p++;
        if (!digits(r))
            return false;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
            r->p++;
        if (!digits(r))
            return false;
    }
    return true;
}

static bool word(struct rd *r, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n) != 0)
        return false;
    r->p += n;
    return true;
}

static bool is_null(struct rd *r)
{
    ws(r);
    return (size_t)(r->end - r->p) >= 4 && memcmp(r->p, "null", 4) == 0;
}

static bool value(struct rd *r, int depth);

/* The members of an object or the elements of an array, after its opening bracket. */
static bool members(struct rd *r, char close, int depth)
{
    if (eat(r, close))
        return true;
    do {
        if (close == '}') {
            const char *k;
            size_t n;
            int esc;
            if (!str(r, &k, &n, &esc) || !eat(r, ':'))
                return false;
        }
        if (!value(r, depth))
            return false;
    } while (eat(r, ','));
    return eat(r, close);
}

/* Whether [s, s + n) is one word of printable ASCII with no '@' and no nine digits in a
 * run: what gw_api_scalars takes of any member (an address, or a number outside an id,
 * goes the general path, which decides by the member). */
static bool one_word(const char *s, size_t n)
{
    size_t digits = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7E || c == '@')
            return false;
        digits = c >= '0' && c <= '9' ? digits + 1 : 0;
        if (digits >= 9)
            return false;
    }
    return true;
}

/* A value that is no object and no array, and no string but one word of printable ASCII
 * with no escape: an id, a name or a state (gw_api_scalars); anything else goes the general
 * path, which refuses it. */
static bool scalar(struct rd *r)
{
    ws(r);
    if (r->p < r->end && *r->p == '"') {
        const char *s;
        size_t n;
        int esc;
        if (!str(r, &s, &n, &esc) || esc != 0)
            return false;
        return one_word(s, n);
    }
    return r->p < r->end && *r->p != '{' && *r->p != '[' && value(r, 1);
}

static bool value(struct rd *r, int depth)
{
    ws(r);
    if (r->p >= r->end || depth > MAX_DEPTH)
        return false;
    const char *s;
    size_t n;
    int esc;
    switch (*r->p) {
    case '{':
        r->p++;
        return members(r, '}', depth + 1);
    case '[':
        r->p++;
        return members(r, ']', depth + 1);
    case '"':
        return str(r, &s, &n, &esc);
    case 't':
        return word(r, "true");
    case 'f':
        return word(r, "false");
    case 'n':
        return word(r, "null");
    default:
        return number(r);
    }
}

static bool key_is(const char *k, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(k, name, n) == 0;
}

/* An object's keys one by one: returns 1 with the key, 0 at its end, -1 on bad JSON, a
 * key with escapes or one that a case-insensitive reader takes for a field we read (it
 * could spell a key we look for). */
static int next_key(struct rd *r, bool *first, const char **k, size_t *n)
{
    if (*first) {
        *first = false;
        if (eat(r, '}'))
            return 0;
    } else if (!eat(r, ',')) {
        return eat(r, '}') ? 0 : -1;
    }
    int esc;
    if (!str(r, k, n, &esc) || esc != 0 || gw_openai_field_variant(*k, *n) || !eat(r, ':'))
        return -1;
    ws(r);
    return r->p < r->end ? 1 : -1; /* a value follows: callers may look at *r->p */
}

static bool delta(struct rd *r, struct gw_chunk_view *v)
{
    if (!eat(r, '{'))
        return false;
    v->delta_open = (size_t)(r->p - r->base);
    v->delta_empty = true;
    bool first = true;
    const char *k;
    size_t n;
    int got;
    while ((got = next_key(r, &first, &k, &n)) == 1) {
        v->delta_empty = false;
        if (key_is(k, n, "content")) {
            if (v->has_content)
                return false;
            v->has_content = true;
            v->value_start = (size_t)(r->p - r->base);
            if (*r->p == '"') {
                const char *s;
                int esc;
                if (!str(r, &s, &v->text_len, &esc) || esc == 2)
                    return false;
                v->text = s;
                v->text_escaped = esc == 1;
                v->content_is_string = true;
            } else if (!word(r, "null")) {
                return false;
            }
            v->value_end = (size_t)(r->p - r->base);
            continue;
        }
        if (is_null(r)) {
            r->p += 4;
            continue;
        }
        /* Only a role passes here; tool calls, refusals, reasoning and members the gateway
         * does not know are screened on the general path. */
        if (!key_is(k, n, "role") || *r->p != '"')
            return false;
        v->other = true;
        if (!value(r, 2))
            return false;
    }
    return got == 0;
}

static bool choice(struct rd *r, struct gw_chunk_view *v)
{
    if (!eat(r, '{'))
        return false;
    bool first = true, seen_index = false, seen_delta = false, seen_finish = false;
    const char *k;
    size_t n;
    int got;
    while ((got = next_key(r, &first, &k, &n)) == 1) {
        if (key_is(k, n, "index")) {
            const char *s = r->p;
            if (seen_index || !digits(r) || r->p - s > 3 || (r->p - s > 1 && *s == '0'))
                return false;
            v->index = 0;
            for (; s < r->p; s++)
                v->index = v->index * 10 + (*s - '0');
            seen_index = true;
        } else if (key_is(k, n, "delta")) {
            if (seen_delta || !delta(r, v))
                return false;
            seen_delta = true;
        } else if (key_is(k, n, "finish_reason")) {
            if (seen_finish)
                return false;
            seen_finish = true;
            if (*r->p == '"') {
                if (!scalar(r))
                    return false;
                v->finishing = true;
            } else if (!word(r, "null")) {
                return false;
            }
        } else if (key_is(k, n, "logprobs")) {
            if (!word(r, "null"))
                return false; /* stripped on the general path: it shows held text early */
        } else {
            return false; /* a member the general path decides about */
        }
    }
    return got == 0 && seen_delta;
}

bool gw_openai_chunk_view(const char *data, size_t len, struct gw_chunk_view *v)
{
    memset(v, 0, sizeof *v);
    struct rd r = {data, data, data + len};
    if (!eat(&r, '{'))
        return false;
    bool first = true, seen_choices = false, seen_id = false, seen_usage = false;
    const char *k;
    size_t n;
    int got;
    while ((got = next_key(&r, &first, &k, &n)) == 1) {
        if (key_is(k, n, "choices")) {
            /* exactly one choice */
            if (seen_choices || !eat(&r, '[') || !choice(&r, v) || !eat(&r, ']'))
                return false;
            seen_choices = true;
        } else if (key_is(k, n, "id")) {
            int esc;
            if (seen_id || !str(&r, &v->id, &v->id_len, &esc) || esc != 0 ||
                !one_word(v->id, v->id_len))
                return false;
            seen_id = true;
        } else if (key_is(k, n, "usage")) {
            if (seen_usage || !word(&r, "null"))
                return false; /* token counts are read on the general path */
            seen_usage = true;
        } else if (!(key_is(k, n, "object") || key_is(k, n, "created") || key_is(k, n, "model") ||
                     key_is(k, n, "system_fingerprint") || key_is(k, n, "service_tier") ||
                     key_is(k, n, "obfuscation")) ||
                   !scalar(&r)) {
            return false; /* members the gateway does not know, and objects where ids and
                             states belong (gw_openai_ids), go the general path */
        }
    }
    ws(&r);
    return got == 0 && seen_choices && r.p == r.end;
}

int gw_openai_chunk_text(const struct gw_chunk_view *v, struct gw_buf *out)
{
    gw_buf_reset(out);
    if (!v->text_escaped)
        return gw_buf_append(out, v->text, v->text_len);
    for (size_t i = 0; i < v->text_len; i++) {
        char c = v->text[i];
        if (c == '\\') {
            switch (v->text[++i]) { /* str() checked there is one, and which */
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            default: c = v->text[i]; break; /* " \ / */
            }
        }
        if (gw_buf_append(out, &c, 1) != 0)
            return -1;
    }
    return 0;
}
