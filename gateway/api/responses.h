/* What the two files of the OpenAI Responses API share: responses.c (requests, replies,
 * the refusal, the gw_api table) and responses_stream.c (the stream walk). The walk checks
 * the same members as a whole reply and writes its own events in the refusal's shapes, so
 * both come from one place. Internal to gateway/api/responses*.c: the rest of the gateway
 * sees the API only through gw_api_openai_responses. */
#ifndef GW_API_RESPONSES_H
#define GW_API_RESPONSES_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/api.h"
#include "util/buf.h"

/* The members the gateway knows (NULL ended) of a response object, an output item (a
 * message, a function call, a reasoning item), a part (output_text, refusal, a reasoning
 * summary's or content's part) and an error object. Any other member goes by
 * policy.unknown_fields. */
extern const char *const gw_responses_k_response[];
extern const char *const gw_responses_k_message[];
extern const char *const gw_responses_k_output_text[];
extern const char *const gw_responses_k_refusal[];
extern const char *const gw_responses_k_call[];
extern const char *const gw_responses_k_reasoning[];
extern const char *const gw_responses_k_reasoning_part[];
extern const char *const gw_responses_k_error[];

/* Token counts of a response object's usage, -1 where absent. */
void gw_responses_usage(const cJSON *root, long *prompt, long *completion);
/* Empties an output_text part's (or a delta event's) logprobs. */
void gw_responses_strip_logprobs(cJSON *part);

/* The events the gateway writes itself, appended to out. event_begin opens
 * "event: TYPE\ndata: {..." with its type and sequence_number; the caller adds members and
 * closes it with event_end. */
void gw_responses_event_begin(struct gw_buf *out, const char *type, unsigned seq);
void gw_responses_event_end(struct gw_buf *out);
/* response.output_item.added for an empty, in-progress message mid at output index o. */
void gw_responses_message_item_added(struct gw_buf *out, unsigned seq, const char *mid, int o);
/* response.content_part.added for an empty output_text part 0 of message mid. */
void gw_responses_empty_part_added(struct gw_buf *out, unsigned seq, const char *mid, int o);
/* response.output_text.delta carrying text into part c of item_id at output index o. */
void gw_responses_text_delta(struct gw_buf *out, unsigned seq, const char *item_id, int o, int c,
                             const char *text);
/* response.incomplete for content_filter: response id with one message mid saying text;
 * usage zeroed when usage_known, else null. */
void gw_responses_incomplete_event(struct gw_buf *out, unsigned seq, const char *id,
                                   const char *model, const char *mid, const char *text,
                                   bool usage_known);

/* The stream entries of gw_api_openai_responses (responses_stream.c); see struct gw_api. */
int gw_responses_stream_event(struct gw_api_stream *s, const char *name, const char *data,
                              size_t len);
void gw_responses_stream_end(struct gw_api_stream *s);
void gw_responses_stream_error(struct gw_api_stream *s, const char *message, const char *code);
void gw_responses_stream_free(struct gw_api_stream *s);

#endif
