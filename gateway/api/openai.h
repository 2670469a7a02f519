/* The OpenAI chat completions adapter: where the text is in a request, a reply and a
 * stream event, how to rewrite it after redaction, and how to answer with an on-brand
 * refusal or an error in OpenAI's own shapes. The proxy core never parses provider JSON. */
#ifndef GW_API_OPENAI_H
#define GW_API_OPENAI_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* How a reply member that the API does not know is treated (policy.unknown_fields). */
enum gw_unknown_policy {
    GW_UNKNOWN_SCREEN, /* every string in it is screened like the known texts */
    GW_UNKNOWN_STRIP,  /* it is removed before the customer gets the reply */
    GW_UNKNOWN_REFUSE, /* the reply is unscreenable (502, or the stream ends with an error) */
};

/* The role of a reply's text that repeats the request (a Responses reply's instructions,
 * tools, metadata and ids): the app's own words, not the model's, screened for personal
 * data and secrets only. */
#define GW_TEXT_ECHO 16

/* The string nodes of a parsed document whose text is screened, each with the role it
 * speaks as (GW_ROLE_* bit; the reply's are 0). The nodes belong to the document;
 * rewriting one (gw_openai_set_text) changes the document. The parser sets role before
 * pushing a message's texts, and reads unknown when it meets a member it does not know. */
struct gw_text_refs {
    cJSON **v;
    unsigned char *roles;
    size_t n, cap;
    unsigned role;                 /* of the texts pushed next */
    enum gw_unknown_policy unknown; /* set by the caller, for replies */
    bool stripped; /* the parser removed a member (GW_UNKNOWN_STRIP), or emptied logprobs */
    /* In a request: the first part the model reads or makes that has no text the gateway
     * can read (an image, audio, a file, audio output), named for an error message, or
     * NULL. The request path refuses it unless policy.media is pass. */
    const char *media;
    /* A member the gateway does not know, screened by its value, has a name that is no
     * plain name (a space, an '@', nine digits: gw_api_unknown_members): refused. */
    bool odd_name;
};

struct gw_chat_request {
    cJSON *root;
    bool stream;
    const char *model; /* inside root */
    struct gw_text_refs texts;
};

/* Parses a chat completions request and collects the texts to screen: string contents
 * and text parts of messages whose role is in roles (GW_ROLE_* bits). Returns 0, or -1
 * with a message for a 400 answer in err (param names the offending field). */
int gw_openai_parse_request(struct gw_chat_request *r, const char *body, size_t len,
                            unsigned roles, char *err, size_t errlen, const char **param);
void gw_openai_request_free(struct gw_chat_request *r);
/* The GW_ROLE_* bit of a chat role, 0 for a role the API does not have. */
unsigned gw_openai_role_bit(const char *role);

/* The ids and states at the top of a chat or legacy completion (and a chunk) that the
 * provider sets: passed unscreened, so never an object or a list (gw_api_scalars). */
extern const char *const gw_openai_ids[];

/* Whether a reply message's (or delta's) audio object carries sound: its 'data', which
 * no scanner hears (its transcript is screened). Replies refuse it unless policy.media
 * is pass. */
bool gw_openai_audio_data(const cJSON *audio);

/* Collects the texts of a (non-streamed) chat.completion reply: each choice's message
 * content, refusal, tool-call and function-call arguments. Returns the parsed root, or
 * NULL if body is not a JSON object, cannot be read safely (gw_openai_unreadable) or has a
 * content or refusal that is not a string (the caller then treats the reply as
 * unscreenable). */
cJSON *gw_openai_parse_reply(const char *body, size_t len, struct gw_text_refs *texts);

/* Whether some object in the tree has the same key twice, compared as Go's encoding/json
 * compares field names (ASCII case folded). cJSON reads the first, most clients (Python's
 * json, JavaScript's JSON.parse, Go) the last: a document with both could have one text
 * screened and another one read. */
bool gw_openai_duplicate_keys(const cJSON *node);
/* Whether raw JSON has a NUL in a string, raw or as \u0000: cJSON's strings end there,
 * other readers' do not, so the text after it would go unscreened. */
bool gw_openai_has_nul(const char *raw, size_t len);
/* Whether raw has bytes that are not UTF-8 (RFC 8259 requires it of JSON between
 * systems): the scanner reads them as they are, a lenient reader as U+FFFD or in another
 * encoding, so "4111\xff1111..." would be screened as no card and read as one. */
bool gw_openai_not_utf8(const char *raw, size_t len);
/* Whether key[0..len) is not one of the fields the gateway reads (content, role, messages,
 * ...) but a case-insensitive reader (Go's encoding/json) takes it for one ("Content"). */
bool gw_openai_field_variant(const char *key, size_t len);
/* Why a parsed document cannot be screened safely (bytes that are not UTF-8, a NUL in a
 * string, a key twice, a field name in another case on the path to the texts), or NULL
 * when it can. */
const char *gw_openai_unreadable(const char *raw, size_t len, const cJSON *root);

/* Sets each choice's logprobs to null; true when one was not. Its tokens repeat the text,
 * so they go when the text was redacted, and from streams, where they would show held
 * text early. */
bool gw_openai_strip_logprobs(cJSON *root);

/* Renames an object's member node to key. Returns 0 or -1. */
int gw_openai_set_key(cJSON *node, const char *key);
/* Replaces the text of a string node. Returns 0 or -1. */
int gw_openai_set_text(cJSON *node, const char *text);

/* Where the fields the proxy reads are in a streamed chat.completion.chunk of the common
 * shape: one choice, whose delta has text (or nothing) and no tool calls or refusal.
 * Offsets are into the event's data. */
struct gw_chunk_view {
    const char *id; /* the chunk's id as written (it has no escapes), or NULL */
    size_t id_len;
    int index;          /* of the choice (0 when absent) */
    bool finishing;     /* finish_reason is a string */
    bool other;         /* the delta has a non-null member besides content (role) */
    size_t delta_open;  /* just after the delta's '{' */
    bool delta_empty;   /* the delta has no member */
    bool has_content;   /* the delta has "content", a string or null */
    bool content_is_string;
    size_t value_start, value_end; /* content's value, quotes included */
    const char *text;              /* inside the quotes */
    size_t text_len;
    bool text_escaped; /* the text has one-letter escapes (\n, \"); never \u */
};

/* Fills v and returns true when data is one JSON object of that shape; false for anything
 * else (tool calls, a refusal, usage, several choices, \u escapes, duplicate keys, bad
 * JSON, data over several lines), which the caller parses in full. Builds nothing and allocates nothing. */
bool gw_openai_chunk_view(const char *data, size_t len, struct gw_chunk_view *v);
/* The text of a viewed chunk, unescaped, into out (reset first). Returns 0 or -1. */
int gw_openai_chunk_text(const struct gw_chunk_view *v, struct gw_buf *out);

/* A chat.completion whose only choice says message, with finish_reason content_filter. */
void gw_openai_refusal(struct gw_buf *out, const char *id, const char *model,
                       const char *message);
/* The same as a stream: a role chunk, a content chunk with finish_reason content_filter,
 * then data: [DONE]. */
void gw_openai_refusal_stream(struct gw_buf *out, const char *id, const char *model,
                              const char *message);
/* One SSE chunk event for choice index: a delta with role and text when not NULL, and
 * finish_reason (NULL: null). */
void gw_openai_chunk_event(struct gw_buf *out, const char *id, const char *model, int index,
                           const char *role, const char *text, size_t len,
                           const char *finish_reason);
/* One SSE chunk event carrying more refusal text for choice index. */
void gw_openai_refusal_event(struct gw_buf *out, const char *id, const char *model, int index,
                             const char *text, size_t len);
/* One SSE chunk event carrying more text of the delta's member (reasoning_content, ...). */
void gw_openai_delta_event(struct gw_buf *out, const char *id, const char *model, int index,
                           const char *member, const char *text, size_t len);
/* One SSE chunk event carrying more arguments for tool call tool of choice index. */
void gw_openai_tool_args_event(struct gw_buf *out, const char *id, const char *model, int index,
                               int tool, const char *args, size_t len);
/* {"error": {"message", "type", "param", "code"}} */
/* The client headers every OpenAI API passes on to the provider. */
extern const char *const gw_openai_forward[];

void gw_openai_error(struct gw_buf *out, const char *message, const char *type,
                     const char *param, const char *code);

/* Token counts from a reply's or a final stream chunk's "usage", -1 where absent. */
void gw_openai_usage(const cJSON *root, long *prompt, long *completion);

void gw_text_refs_free(struct gw_text_refs *t);

#endif
