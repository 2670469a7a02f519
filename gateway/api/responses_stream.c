/* The stream walk of the OpenAI Responses API (the stream entries of
 * gw_api_openai_responses, in responses.c).
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/responses.h"
#include "util/json.h"

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
    const char *iid = item_id ? item_id : "";
    gw_buf_reset(b);
    gw_responses_event_begin(b, kinds[k].delta, c->w.seq++);
    gw_buf_puts(b, ",\"item_id\":");
    gw_json_quote(b, iid, strlen(iid));
    gw_buf_printf(b, ",\"output_index\":%d", c->w.out[slot]);
    if (kinds[k].sub)
        gw_buf_printf(b, ",\"%s\":%d", kinds[k].sub, c->w.sub[slot]);
    gw_buf_puts(b, ",\"delta\":");
    gw_json_quote(b, text, strlen(text));
    if (k == TEXT)
        gw_buf_puts(b, ",\"logprobs\":[]");
    gw_responses_event_end(b);
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
    const char *const *known = k == TEXT      ? gw_responses_k_output_text
                               : k == REFUSAL ? gw_responses_k_refusal
                                              : gw_responses_k_reasoning_part;
    if (k == TEXT) {
        /* Citations are not screened in a stream: only an empty list passes. */
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(part, "annotations");
        if (a && !cJSON_IsNull(a) && !(cJSON_IsArray(a) && !a->child))
            return -1;
        gw_responses_strip_logprobs(part);
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
        if ((rc = unknown(c, item, gw_responses_k_message)) != 0)
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
        if ((rc = unknown(c, item, gw_responses_k_call)) != 0)
            return rc;
        return text_at(c, ARGS, o, 0, cJSON_GetObjectItemCaseSensitive(item, "arguments"), whole,
                       item_id);
    }
    if (strcmp(t, "reasoning") == 0) {
        if ((rc = unknown(c, item, gw_responses_k_reasoning)) != 0)
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
    return unknown(c, r, gw_responses_k_response);
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
    gw_responses_usage(r, &p, &k);
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
        if ((rc = unknown(c, error, gw_responses_k_error)) != 0)
            return rc;
        if (error_message(c, error) != 0)
            return -1;
    }
    return unknown(c, r, gw_responses_k_response);
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
        gw_responses_strip_logprobs(ev); /* its tokens would show held text early */
        rc = text_more(c, e->kind, o, sub, node, iid, &released);
        *emit = released;
        return rc;
    }
    case DONE: {
        int sub = kinds[e->kind].sub ? index_of(c, ev, kinds[e->kind].sub) : 0;
        cJSON *node = cJSON_GetObjectItemCaseSensitive(ev, e->member);
        if (!node)
            return -1;
        gw_responses_strip_logprobs(ev);
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
    const char *cd = code ? code : "api_error";
    gw_responses_event_begin(&b, "error", c->w.seq++);
    gw_buf_puts(&b, ",\"code\":");
    gw_json_quote(&b, cd, strlen(cd));
    gw_buf_puts(&b, ",\"message\":");
    gw_json_quote(&b, message, strlen(message));
    gw_buf_puts(&b, ",\"param\":null");
    gw_responses_event_end(&b);
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
        gw_responses_text_delta(&b, c->w.seq++, c->at_item ? c->at_item : mid.data, c->w.out[c->at],
                                c->w.sub[c->at], msg);
    } else {
        int o = c->w.items;
        gw_responses_message_item_added(&b, c->w.seq++, mid.data, o);
        gw_responses_empty_part_added(&b, c->w.seq++, mid.data, o);
        gw_responses_text_delta(&b, c->w.seq++, mid.data, o, 0, msg);
    }
    gw_responses_incomplete_event(&b, c->w.seq++, rid.data, s->model, mid.data, msg, false);
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
    if (!cJSON_IsObject(ev) || gw_openai_unreadable(data, len, ev) || !cJSON_IsString(type) ||
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

int gw_responses_stream_event(struct gw_api_stream *s, const char *name, const char *data,
                              size_t len)
{
    struct cx c;
    load(&c, s);
    int rc = walk_event(&c, name, data, len);
    store(&c);
    return rc;
}

void gw_responses_stream_error(struct gw_api_stream *s, const char *message, const char *code)
{
    struct cx c;
    load(&c, s);
    fail_stream(&c, message, code);
    store(&c);
}

void gw_responses_stream_end(struct gw_api_stream *s)
{
    struct cx c;
    load(&c, s);
    if (!s->done)
        fail_stream(&c, "The provider's stream ended before response.completed.",
                    "provider_stream_error");
    kept_free(&c.w);
    store(&c);
}

void gw_responses_stream_free(struct gw_api_stream *s)
{
    struct cx c;
    load(&c, s);
    kept_free(&c.w);
    store(&c);
}
