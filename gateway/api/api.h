/* The seam between the request path and the client APIs. Each client API (OpenAI chat
 * completions, Anthropic Messages, ...) is one file behind one struct gw_api: its route,
 * where its texts are in a request, a reply and a stream event, how screened text goes
 * back, and its refusal and error shapes. The request path (server/proxy.c) calls through
 * the table and never names a provider's field, as memcached's connections call their
 * protocol through a pointer.
 *
 * A stream is walked by the API, which asks the request path to screen each piece of text
 * through a numbered slot (a streaming scanner of the request) and writes what the scanner
 * releases back into the event it re-emits. */
#ifndef GW_API_API_H
#define GW_API_API_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/openai.h" /* struct gw_text_refs */
#include "config/config.h"
#include "util/buf.h"

/* Streaming scanners a request may open; each API maps its texts onto 0..GW_API_SLOTS-1. */
#define GW_API_SLOTS 64

/* A parsed client request: the document, and the string nodes to screen in the prompt
 * direction (the nodes belong to root; rewriting one changes the document). */
struct gw_api_request {
    cJSON *root;
    bool stream;
    const char *model; /* inside root, or a static string */
    bool structured;   /* it asks for JSON output (a JSON schema, a JSON object) */
    struct gw_text_refs texts;
    /* texts [any_from, any_to) are joined by the provider in an order the gateway does not
     * know (a stored prompt's variables, filled into its template): each two are also
     * screened joined, in both orders */
    size_t any_from, any_to;
};

/* What a stream walk asks of the request path, and the request's stream state. */
struct gw_api_stream {
    void *ctx; /* the request */
    /* Feeds text to slot's scanner (text NULL: closes it); what the scanner releases is
     * appended to out. Returns 0, 1 when the slot is now blocked, or -1 when screening
     * failed and the stream must end. */
    int (*screen)(void *ctx, int slot, const char *text, size_t len, struct gw_buf *out);
    /* Whether slot has a scanner (opened by its first text, and not freed when closed). */
    bool (*open)(void *ctx, int slot);
    /* Whether slot's scanner holds text back (and so is not closed yet). */
    bool (*held)(void *ctx, int slot);
    /* Says that slot to's text continues slot from's, which ended, as the client joins them
     * (Anthropic text blocks apart by a thinking or a tool block; the message items whose
     * texts make a Responses output_text): call before to's first text. Its first bytes are
     * then also screened joined to from's last; a match across the join blocks, or ends the
     * stream when it needs a redaction (from's text went out). Returns 0 or -1. */
    int (*join)(void *ctx, int from, int to);
    /* Marks slot's text as JSON (streamed tool arguments): a \u escape that hides a
     * printable character from the scanner then ends the stream. */
    void (*json)(void *ctx, int slot);
    /* Queues bytes for the client. */
    void (*write)(void *ctx, const char *data, size_t len);
    /* The message that answers a block found in slot (the blocking rule's, or the
     * policy's default). */
    const char *(*block_message)(void *ctx, int slot);
    /* Screens a node of an event in block mode (a text that is not streamed: an error, an
     * unknown member; an object or a number as its JSON text), rewriting it when redacted.
     * Returns 0, 1 when it must be blocked, or -1. */
    int (*scan)(void *ctx, cJSON *node);
    /* Token counts from a usage object, -1 where unknown. */
    void (*tokens)(void *ctx, long prompt, long completion);
    /* Where in an event the walk is (a choice's or a tool call's slot + 1; 0: elsewhere):
     * texts screened whole (scan) are joined to the earlier events' texts at the same keys
     * and the same place, so that two choices' or two calls' texts are read apart. */
    int place;
    /* Where in the event the walk reads: the object's key in its parent (NULL at the
     * event's root; set by gw_api_stream_unknown), and the event's kind where the API has
     * kinds (Anthropic's and Responses' "type", set by the API file; never a type a
     * client's merge ignores, as chat's). With place, where a text stands: a ping's member
     * is not a delta's, nor a delta's its event's. */
    const char *within_key, *within_type;
    /* The walk reads what a reply repeats of the request (GW_TEXT_ECHO): scan screens it
     * for personal data and secrets only. */
    bool echo;
    /* What the request sent of the members its reply repeats (gw_api.echoed), as a JSON
     * object's text, or NULL: a repeat of it byte for byte is not screened again. */
    const char *sent;
    bool screen_replies;   /* false: events pass as they came (after the JSON checks) */
    enum gw_unknown_policy unknown; /* members the API does not know */
    bool media_pass;       /* policy.media: pass; else an image or audio in a reply ends it */
    struct gw_buf *tmp;    /* two scratch buffers of the worker, free for the walk */
    struct gw_buf *scratch;
    const char *id;        /* the request id, for events the gateway writes */
    const char *model;
    char up_id[96];        /* the provider's id for this reply, once seen */
    bool done;             /* the API's end-of-stream marker went out */
    bool ended;            /* the provider's own end came ([DONE], message_stop, an Anthropic
                              error, response.completed, .incomplete, .failed): anything it
                              sends after is a broken stream, refused by the request path */
    unsigned char state[256]; /* the API's own per-stream state, zeroed at start */
};

struct gw_api {
    const char *name;          /* for logs and messages: "OpenAI chat completions" */
    const char *route;         /* the client path: "/v1/chat/completions" */
    const char *upstream_path; /* appended to the provider's base URL: "/chat/completions" */
    unsigned providers;        /* the gw_provider_type bits that serve it */

    /* Parses a request and collects its texts of the roles in roles (GW_ROLE_* bits).
     * Returns 0, or -1 with a message for a 400 answer in err (param names the field). */
    int (*parse_request)(struct gw_api_request *r, const char *body, size_t len, unsigned roles,
                         char *err, size_t errlen, const char **param);
    /* The members a request may have at its top (NULL ended): the API's parameters, which
     * parse_request screens where the model reads them. Any other goes by
     * policy.unknown_fields (gw_api_request_members). */
    const char *const *request_members;
    /* Parses a whole reply and collects every text the customer will read. Returns the
     * root, or NULL when the reply cannot be screened (not JSON, unreadable, a text in a
     * shape the adapter does not know). */
    cJSON *(*parse_reply)(const char *body, size_t len, struct gw_text_refs *texts);
    /* The members of a request its reply repeats (NULL: none), pushed by parse_reply as
     * GW_TEXT_ECHO texts; the request path drops those that say what it sent. */
    const char *const *echoed;
    /* Token counts of a reply, -1 where absent. */
    void (*usage)(const cJSON *root, long *prompt, long *completion);
    /* Called on a reply whose text was redacted: drops members that repeat the text
     * (OpenAI's logprobs). May be NULL. */
    void (*redacted)(cJSON *root);

    /* The whole answer to a blocked request: a reply (or a stream) that says message.
     * NULL: the API has no way to say no (embeddings), and a block is answered as an
     * error. */
    void (*refusal)(struct gw_buf *out, const char *id, const char *model, const char *message,
                    bool stream);
    /* The API's error body. type is the OpenAI-style error type (invalid_request_error,
     * api_error); the API maps it to its own. */
    void (*error)(struct gw_buf *out, const char *message, const char *type, const char *param,
                  const char *code);
    /* The request headers the provider of this API needs from the client (NULL ended),
     * and how the configured key is sent. */
    const char *const *forward_headers;
    const char *key_header; /* "Authorization: Bearer " or "x-api-key: " */
    /* Headers the provider requires, sent when the client did not send them ("Name: value",
     * NULL ended; may be NULL). */
    const char *const *default_headers;

    /* NULL for an API that is never streamed (the provider's answer is then read whole).
     * One SSE event of the provider's stream (event: its name, or "" when the event had
     * none). Writes what the client gets through s->write. Returns 0 to go on, or -1
     * when the stream is over: blocked or failed, with its last events already written. */
    int (*stream_event)(struct gw_api_stream *s, const char *event, const char *data,
                        size_t len);
    /* The provider's stream ended without a failure: release what is held and end the
     * stream the API's way if the provider did not. The OpenAI APIs hold their [DONE]
     * until here: the SDKs read nothing after it, so an error for bytes the provider sends
     * after its [DONE] must still come before it. */
    void (*stream_end)(struct gw_api_stream *s);
    /* Fails a stream that already started: a well-formed end carrying an error. */
    void (*stream_error)(struct gw_api_stream *s, const char *message, const char *code);
    /* Frees what the walk keeps outside s->state (may be NULL: it keeps nothing). Called
     * once when a streamed request ends, however it ends: a client that goes away gets no
     * stream_end or stream_error. */
    void (*stream_free)(struct gw_api_stream *s);
};

extern const struct gw_api gw_api_openai_chat;
extern const struct gw_api gw_api_anthropic_messages;
extern const struct gw_api gw_api_openai_responses;
extern const struct gw_api gw_api_openai_completions;
extern const struct gw_api gw_api_openai_embeddings;

void gw_api_request_free(struct gw_api_request *r);

/* The strings of a JSON text, keys and values, as byte ranges of their contents (inside
 * the quotes), in order; lenient (bad JSON around them is fine, and an unterminated string
 * ends the list). *v is malloc'd. Returns 0 or -1 (no memory). */
int gw_api_json_strings(const char *t, size_t len, size_t (**v)[2], size_t *n);
/* Decodes a JSON string's contents (escapes) into out, leniently, as the readers apps use
 * do: a lone surrogate becomes U+FFFD, a bad escape stays as written. Returns 0 or -1. */
int gw_api_json_unescape(const char *s, size_t len, struct gw_buf *out);
/* The UTF-8 of code point c in b; returns its length (1-4). */
size_t gw_api_utf8(unsigned c, char b[4]);

struct gw_ruleset;
struct gw_findings;
/* gw_redact, except that a text that is a JSON document (tool arguments, a structured
 * output) stays JSON of the same shape: each redaction is kept inside the value strings it
 * covers ({"new_password": "[PASSWORD]"}, never {"new[PASSWORD]"}). Returns 0 or -1. */
int gw_api_redact(const struct gw_ruleset *rs, const char *text, size_t len,
                  const struct gw_findings *f, struct gw_buf *out);

/* Ends an OpenAI stream (chat, completions) that already started: an error event, then
 * [DONE]. */
void gw_openai_stream_error(struct gw_api_stream *s, const char *message, const char *code);
/* Writes the [DONE] of an OpenAI stream (chat, completions) held since the provider's,
 * unless the stream already ended. */
void gw_openai_stream_done(struct gw_api_stream *s);

/* The API whose route is path, or NULL. */
const struct gw_api *gw_api_for_path(const char *path);
/* The name of the API whose generating endpoint path is (served or not), or NULL: such a
 * path may not be passed through unscreened. */
const char *gw_api_generating(const char *path);
/* Every API, NULL ended. */
extern const struct gw_api *const gw_apis[];

/* Helpers for the API files. */
/* Parses a whole body: NULL unless it is one JSON document with nothing but white space
 * after it (bytes after it are refused both ways: a reader that reads on would see text
 * that was never screened). */
cJSON *gw_api_parse(const char *body, size_t len);
/* What every API's request starts with: one JSON object and nothing after it, that every
 * reader reads alike (gw_openai_unreadable), whose model is a string and stream a boolean
 * (both may be absent: "unknown" and false). Returns 0, or -1 with a message for a 400 in
 * err (param names the field). *root is set either way (NULL or the document). */
int gw_api_parse_head(const char *body, size_t len, cJSON **root, const char **model,
                      bool *stream, char *err, size_t errlen, const char **param);
/* Whether each of obj's members named in names (NULL ended) is a plain value: no object
 * or array, and a string only of printable ASCII with no space, no e-mail address, and
 * (but in ids) no nine digits in a run. Ids, names and states the provider sets are passed
 * unscreened, so they must carry no text: a model named "card 4111 1111 1111 1111" or
 * "4111111111111111" is refused. A "model" may also be a file path with spaces or other
 * letters (a local server's), with no '@' and no nine digits in a run. And obj's usage
 * must be gw_api_usage_ok. */
bool gw_api_scalars(const cJSON *obj, const char *const *names);
/* Whether obj's "usage" (if any) holds counts and plain words only: it passes unscreened.
 * gw_api_scalars checks it too. */
bool gw_api_usage_ok(const cJSON *obj);
/* The members at the top of a parsed request that api does not know (a compatible
 * server's own parameters: vLLM's documents and chat_template are prompt text), by policy:
 * screened whole as a customer's text, removed (r->texts.stripped), or refused. Returns 0,
 * or -1 with a message for a 400 answer in err (param names the member). */
int gw_api_request_members(const struct gw_api *api, struct gw_api_request *r,
                           enum gw_unknown_policy policy, char *err, size_t errlen,
                           const char **param);
/* For each non-null member of obj whose key is not in names (NULL ended): the policy in
 * t->unknown: push its strings, remove it, or return -1 (refuse). Returns 0 or -1. */
int gw_api_unknown_members(cJSON *obj, const char *const *names, struct gw_text_refs *t);
/* Every string inside node (keys aside) screened whole through s->scan: the texts of an
 * event that are not streamed (citations, an error's members). Returns 0, 1 or -1. */
int gw_api_stream_scan_all(struct gw_api_stream *s, cJSON *node);
/* The same for a stream event's object, through s->scan. Returns 0, 1 (blocked) or -1. */
int gw_api_stream_unknown(struct gw_api_stream *s, cJSON *obj, const char *const *names);
/* A token count: a whole, sane number (0 to 1e12) as a long, else -1 (absent, not a number,
 * negative, huge: a cast of a huge or non-finite double to long is undefined). */
long gw_api_count(const cJSON *n);
int gw_api_refs_push(struct gw_text_refs *t, cJSON *node);
/* Pushes node to be screened whole: a string as it is; an object, an array or a number as
 * its JSON text (keys and numbers included; a redacted one is parsed back in place). Null,
 * booleans and empty containers carry no text. */
int gw_api_refs_push_all(struct gw_text_refs *t, cJSON *node);
/* Notes that a request has what (an image, audio, a file: no text the gateway reads),
 * unless it already noted something (t->media names the first, for the 400 answer). */
void gw_api_refs_media(struct gw_text_refs *t, const char *what);
/* Whether node holds, anywhere, what no scanner reads as text: a data URL of an image,
 * audio, a video or a file ("data:image/png;base64,..."; "data:text/..." is text). An
 * unknown member screened as text would pass one as a run of letters. */
bool gw_api_has_media(const cJSON *node);

/* What a reply repeats of the request (members of obj named in members) that is not what
 * was sent (sent: the request's members, or NULL: nothing known): each part that differs
 * from the part at its place in sent goes to push (a string, a number, a list's entry or
 * a member sent had not, whole, and with its object when its name is not a lowercase
 * word a provider gives its defaults), so that a repeat reformatted by the provider ("strict": true
 * added to a tool) screens what it added, not the app's own words again. Numbers are the same only
 * when equal and read exactly (below 2^53). Linear in the size of obj. Returns 0, or what push
 * returned when not 0. */
int gw_api_echo_diff(cJSON *obj, const cJSON *sent, const char *const *members,
                     int (*push)(void *ctx, cJSON *node), void *ctx);
/* The event "data: JSON\n\n" for a tree, through s->write, after "event: name\n" when name
 * is not NULL. Returns 0, or -1 (nothing written) for a name with a CR or LF in it. */
int gw_api_write_event(struct gw_api_stream *s, const char *name, const cJSON *ev);
/* Screens parent's string member name through slot and puts what is released in its
 * place; with finishing, closes the slot too. A null or absent member gets the released
 * text when there is some. Returns 0, 1 (blocked: the caller ends the stream its API's
 * way) or -1 (also for a member that is neither a string nor null); *released is set when
 * text came out. */
int gw_api_screen_member(struct gw_api_stream *s, int slot, cJSON *parent, const char *name,
                         bool finishing, bool *released);

#endif
