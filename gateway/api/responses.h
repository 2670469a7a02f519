/* What the two files of the OpenAI Responses API share: responses.c (requests, replies,
 * the refusal, the members the gateway knows and the stream's events, the gw_api table)
 * and responses_stream.c (the stream walk). The walk checks the same members as a whole
 * reply and writes its own events in the refusal's shapes (the writers below), so both
 * come from one place. Internal to gateway/api/responses*.c: the rest of the gateway sees
 * the API only through gw_api_openai_responses. */
#ifndef GW_API_RESPONSES_H
#define GW_API_RESPONSES_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "util/buf.h"
#include "util/json.h"

/* The members the gateway knows (NULL ended) of a response object, an output item (a
 * message, a function call, a reasoning item), a part (output_text, refusal, a reasoning
 * summary's or content's part) and an error object. Any other member goes by
 * policy.unknown_fields. */
extern const char *const gw_responses_k_response[];
extern const char *const gw_responses_echoed[];
/* Whether a response object's settings (created_at, temperature, truncation, billing...,
 * passed unscreened) are plain values: numbers, flags, one plain word. */
bool gw_responses_settings_ok(const cJSON *r);
extern const char *const gw_responses_k_message[];
extern const char *const gw_responses_k_output_text[];
extern const char *const gw_responses_k_refusal[];
extern const char *const gw_responses_k_call[];
extern const char *const gw_responses_k_reasoning[];
extern const char *const gw_responses_k_reasoning_part[];
extern const char *const gw_responses_k_error[];
/* Of the members above, those that are neither screened nor walked are ids and states the
 * provider sets (type, id, call_id, status, role, object, encrypted_content): false when
 * one of obj's is an object or a list, which could carry text past the screen. The members
 * the model fills in besides the texts (a function call's name, namespace and caller, a
 * message's phase, every string of an error) are screened. */
bool gw_responses_scalars(const cJSON *obj);

/* Token counts of a response object's usage, -1 where absent. */
void gw_responses_usage(const cJSON *root, long *prompt, long *completion);
/* Empties an output_text part's (or a delta event's) logprobs; whether it changed. */
bool gw_responses_strip_logprobs(cJSON *part);

/* ---- the stream's events ---- */

/* The texts of a stream: a message's output_text or refusal part, a function call's
 * arguments, a reasoning summary's part, a reasoning content part. */
enum gw_rkind { RK_NONE, RK_TEXT, RK_REFUSAL, RK_ARGS, RK_SUMMARY, RK_REASONING };

/* What the walk does with an event type. */
enum gw_rstep {
    RS_START,     /* response.created, .queued, .in_progress */
    RS_END,       /* response.completed, .incomplete, .failed */
    RS_ITEM,      /* response.output_item.added (done: .done) */
    RS_PART,      /* response.content_part.added, reasoning_summary_part.added (and .done) */
    RS_DELTA,     /* a text delta */
    RS_DONE,      /* a text repeated whole */
    RS_ERROR,     /* error */
    RS_KEEPALIVE, /* keepalive */
};

struct gw_responses_event {
    const char *type;
    enum gw_rstep step;
    bool whole;               /* RS_ITEM, RS_PART: the .done one */
    enum gw_rkind kind;       /* RS_DELTA, RS_DONE (RS_PART: RK_SUMMARY for a summary's part) */
    const char *member;       /* RS_DELTA, RS_DONE: the member with the text; RS_PART: the index */
    const char *const *known; /* the event's members besides the policy's (unknown_fields) */
};

/* The event of a type the walk knows, or NULL (responses.c). */
const struct gw_responses_event *gw_responses_event_of(const char *type);

/* ---- the events the gateway writes itself (the refusal's, and the walk's) ---- */

/* "event: TYPE\ndata: {"type":TYPE,"sequence_number":N" (closed by event_end). */
static inline void gw_responses_event_begin(struct gw_buf *out, const char *type, unsigned seq)
{
    gw_buf_printf(out, "event: %s\ndata: {\"type\":\"%s\",\"sequence_number\":%u", type, type, seq);
}

static inline void gw_responses_event_end(struct gw_buf *out)
{
    gw_buf_puts(out, "}\n\n");
}

/* Where a text is: ,"item_id":...,"output_index":o and, when sub names it, its index c in
 * the item. */
static inline void gw_responses_where(struct gw_buf *out, const char *item_id, int o,
                                      const char *sub, int c)
{
    gw_buf_puts(out, ",\"item_id\":");
    gw_json_quote(out, item_id, strlen(item_id));
    gw_buf_printf(out, ",\"output_index\":%d", o);
    if (sub)
        gw_buf_printf(out, ",\"%s\":%d", sub, c);
}

/* A delta event of type carrying text (logprobs: with an empty logprobs, output_text's). */
static inline void gw_responses_delta(struct gw_buf *out, unsigned seq, const char *type,
                                      const char *item_id, int o, const char *sub, int c,
                                      const char *text, bool logprobs)
{
    gw_responses_event_begin(out, type, seq);
    gw_responses_where(out, item_id, o, sub, c);
    gw_buf_puts(out, ",\"delta\":");
    gw_json_quote(out, text, strlen(text));
    if (logprobs)
        gw_buf_puts(out, ",\"logprobs\":[]");
    gw_responses_event_end(out);
}

/* response.output_text.delta carrying text into part c of item_id at output index o. */
static inline void gw_responses_text_delta(struct gw_buf *out, unsigned seq, const char *item_id,
                                           int o, int c, const char *text)
{
    gw_responses_delta(out, seq, "response.output_text.delta", item_id, o, "content_index", c, text,
                       true);
}

/* A message item saying text (NULL: no part yet). */
static inline void gw_responses_message_item(struct gw_buf *out, const char *id, const char *status,
                                             const char *text)
{
    gw_buf_puts(out, "{\"type\":\"message\",\"id\":");
    gw_json_quote(out, id, strlen(id));
    gw_buf_printf(out, ",\"status\":\"%s\",\"role\":\"assistant\",\"content\":[", status);
    if (text) {
        gw_buf_puts(out, "{\"type\":\"output_text\",\"text\":");
        gw_json_quote(out, text, strlen(text));
        gw_buf_puts(out, ",\"annotations\":[]}");
    }
    gw_buf_puts(out, "]}");
}

/* A response object: in progress with no output, or incomplete for content_filter with one
 * message (id mid) saying text; usage zeroed when usage_known, else null. */
static inline void gw_responses_object(struct gw_buf *out, const char *id, const char *model,
                                       const char *mid, const char *text, bool usage_known)
{
    gw_buf_puts(out, "{\"id\":");
    gw_json_quote(out, id, strlen(id));
    gw_buf_printf(out,
                  ",\"object\":\"response\",\"created_at\":%lld,\"status\":\"%s\","
                  "\"incomplete_details\":%s,\"model\":",
                  (long long)time(NULL), text ? "incomplete" : "in_progress",
                  text ? "{\"reason\":\"content_filter\"}" : "null");
    gw_json_quote(out, model, strlen(model));
    gw_buf_puts(out, ",\"output\":[");
    if (text)
        gw_responses_message_item(out, mid, "incomplete", text);
    gw_buf_puts(out, "],\"usage\":");
    gw_buf_puts(out, usage_known ? "{\"input_tokens\":0,\"output_tokens\":0,\"total_tokens\":0}"
                                 : "null");
    gw_buf_puts(out, ",\"error\":null}");
}

/* response.output_item.added for an empty, in-progress message mid at output index o, and
 * response.content_part.added for its empty output_text part 0. */
static inline void gw_responses_message_added(struct gw_buf *out, unsigned seq, const char *mid,
                                              int o)
{
    gw_responses_event_begin(out, "response.output_item.added", seq);
    gw_buf_printf(out, ",\"output_index\":%d,\"item\":", o);
    gw_responses_message_item(out, mid, "in_progress", NULL);
    gw_responses_event_end(out);
    gw_responses_event_begin(out, "response.content_part.added", seq + 1);
    gw_responses_where(out, mid, o, "content_index", 0);
    gw_buf_puts(out, ",\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}");
    gw_responses_event_end(out);
}

/* response.incomplete for content_filter: response id with one message mid saying text. */
static inline void gw_responses_incomplete_event(struct gw_buf *out, unsigned seq, const char *id,
                                                 const char *model, const char *mid,
                                                 const char *text, bool usage_known)
{
    gw_responses_event_begin(out, "response.incomplete", seq);
    gw_buf_puts(out, ",\"response\":");
    gw_responses_object(out, id, model, mid, text, usage_known);
    gw_responses_event_end(out);
}

/* The error event that fails a stream already started. */
static inline void gw_responses_error_event(struct gw_buf *out, unsigned seq, const char *code,
                                            const char *message)
{
    gw_responses_event_begin(out, "error", seq);
    gw_buf_puts(out, ",\"code\":");
    gw_json_quote(out, code, strlen(code));
    gw_buf_puts(out, ",\"message\":");
    gw_json_quote(out, message, strlen(message));
    gw_buf_puts(out, ",\"param\":null");
    gw_responses_event_end(out);
}

/* The stream entries of gw_api_openai_responses (responses_stream.c); see struct gw_api. */
int gw_responses_stream_event(struct gw_api_stream *s, const char *name, const char *data,
                              size_t len);
void gw_responses_stream_end(struct gw_api_stream *s);
void gw_responses_stream_error(struct gw_api_stream *s, const char *message, const char *code);
void gw_responses_stream_free(struct gw_api_stream *s);

#endif
