/* The stream walk of the OpenAI Responses API (the stream entries of
 * gw_api_openai_responses, in responses.c).
 *
 * A stream is typed by its events. Each text (a part of a message, the arguments of a
 * function call, a part of a reasoning summary or of reasoning text) is numbered as it
 * first shows up, and screened through a streaming scanner (a slot): the output_text
 * parts of one message share one, fed in order, so a card or a phrase split across parts
 * (which the SDKs' output_text joins) is found, held back and redacted; every other text
 * has one of its own. A message's first part continues the message before it (s->join):
 * output_text joins every message's parts. Deltas are screened with hold-back; the ".done" events,
 * content_part.done, output_item.done and the final response repeat every text whole, and
 * must say what the customer was actually sent: so the walk keeps, per text, the text
 * released into it (on the heap: the per-stream state is too small) and puts it in place
 * of the provider's.
 *
 * A text's first done event ends it. A scanner of its own is closed there, and what it
 * held goes out as one more delta before it. A message part's scanner stays open: what it
 * holds at the part's end may be the start of a match the next part completes. The part's
 * done events wait for the next event: a next output_text part of the message takes the
 * held text over (it comes out there, screened with what follows); anything else (the
 * message's output_item.done, most often) closes the scanner, the held text goes into the
 * part as one more delta, and the waiting done events follow. A block mid-stream writes
 * the block message as one more output_text delta (into the blocked part, or into a new
 * message item) and ends with response.incomplete, reason content_filter. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/responses.h"
#include "util/json.h"

static const struct {
    const char *delta; /* the event that carries more of it */
    const char *sub;   /* the member that numbers it inside its item (NULL: one per item) */
} kinds[] = {
    [RK_TEXT] = {"response.output_text.delta", "content_index"},
    [RK_REFUSAL] = {"response.refusal.delta", "content_index"},
    [RK_ARGS] = {"response.function_call_arguments.delta", NULL},
    [RK_SUMMARY] = {"response.reasoning_summary_text.delta", "summary_index"},
    [RK_REASONING] = {"response.reasoning_text.delta", "content_index"},
};

#define MAX_TEXTS GW_API_SLOTS /* a text's number is its slot, or its message's first part's */
#define MAX_INDEX 254          /* output and part indices are kept in a byte */
#define MAX_WAITING 16         /* done events that wait for a part's held text */

/* What the walk keeps on the heap: per text, what it is, its slot, the id of its item and
 * the text released into it; the done events that wait (each its JSON and a NUL). */
struct texts {
    struct gw_buf kept[MAX_TEXTS], item[MAX_TEXTS];
    unsigned char kind[MAX_TEXTS], out[MAX_TEXTS], sub[MAX_TEXTS], slot[MAX_TEXTS];
    struct gw_buf waiting;
    int n_waiting;
};

/* The walk's state, kept in s->state between events (copied: state is not aligned). */
struct walk {
    struct texts *t;       /* heap, or NULL */
    uint64_t ended;        /* per text: its first done event came */
    uint64_t fed;          /* per text: some text went in */
    uint64_t shown;        /* per text: the client saw it begin (an .added, a delta) */
    uint64_t closed;       /* per slot: its scanner is closed */
    unsigned seq;          /* the next sequence_number written */
    unsigned char n;       /* texts numbered */
    unsigned char items;   /* 1 + the highest output_index seen */
    unsigned char pending; /* 1 + the part whose done events wait, or 0 */
};
_Static_assert(sizeof(struct walk) <= sizeof((struct gw_api_stream *)0)->state,
               "the responses walk does not fit the per-stream state");

/* One call into the walk. */
struct cx {
    struct gw_api_stream *s;
    struct walk w;
    int at;    /* the text that blocked, or -1 */
    bool wait; /* the event at hand is a done event of the pending part: it waits too */
};

/* How a text's repetition whole came (text_whole). */
enum end {
    PART_DONE, /* its .done event or content_part.done: a part's done events may wait */
    IN_ITEM,   /* its item's done (or the final response), not the message's last part */
    ITEM_LAST, /* its item's done, the message's last part: the parts' scanner closes */
};

static uint64_t bit(int i)
{
    return (uint64_t)1 << i;
}

/* Frees the heap part and forgets every text (the walk is over): only the numbering of
 * events and items stays. */
static void texts_free(struct walk *w)
{
    for (int i = 0; w->t && i < MAX_TEXTS; i++) {
        gw_buf_free(&w->t->kept[i]);
        gw_buf_free(&w->t->item[i]);
    }
    if (w->t)
        gw_buf_free(&w->t->waiting);
    free(w->t);
    *w = (struct walk){.seq = w->seq, .items = w->items};
}

/* The text released into text i so far ("" when none). */
static const char *kept_text(const struct walk *w, int i)
{
    return w->t->kept[i].data ? w->t->kept[i].data : "";
}

/* The latest output_text part of message o, when its scanner is still open; else -1. */
static int run_of(const struct walk *w, int o)
{
    for (int i = w->n - 1; w->t && i >= 0; i--)
        if (w->t->kind[i] == RK_TEXT && w->t->out[i] == o)
            return (w->closed & bit(w->t->slot[i])) ? -1 : i;
    return -1;
}

/* Whether a new text of message o would break the order output_text joins the messages
 * in (their output indices): another message still has its parts' scanner open (o would
 * be joined to what that one had sent so far, and what its scanner still holds would come
 * out after, on the wrong side of the join), a message after o in the output had text
 * before (o would be joined to its end, where output_text puts o before it), or o had text
 * before another message's (the same). */
static bool out_of_order(const struct walk *w, int o)
{
    int last = -1;
    bool had = false;
    for (int i = 0; i < w->n; i++) {
        if (w->t->kind[i] != RK_TEXT)
            continue;
        if (w->t->out[i] != o && !(w->closed & bit(w->t->slot[i])))
            return true;
        if (w->t->out[i] > o)
            return true;
        had = had || w->t->out[i] == o;
        last = i;
    }
    return had && w->t->out[last] != o;
}

/* The number of a text, or -1; with add, a new one when it has none (-1 when they are all
 * given out, when a part of a message begins before the one before it ended, or a text
 * would break the messages' order: out_of_order). */
static int text_of(struct cx *c, enum gw_rkind k, int o, int sub, const char *item_id, bool add)
{
    struct walk *w = &c->w;
    if (o < 0 || sub < 0 || (!w->t && !(w->t = calloc(1, sizeof *w->t))))
        return -1;
    struct texts *t = w->t;
    int i = 0;
    while (i < w->n && !(t->kind[i] == k && t->out[i] == o && t->sub[i] == sub))
        i++;
    if (i == w->n) {
        int run = k == RK_TEXT ? run_of(w, o) : -1;
        if (!add || w->n == MAX_TEXTS || (run >= 0 && !(w->ended & bit(run))) ||
            (k == RK_TEXT && run < 0 && out_of_order(w, o)))
            return -1;
        t->kind[i] = (unsigned char)k;
        t->out[i] = (unsigned char)o;
        t->sub[i] = (unsigned char)sub;
        t->slot[i] = (unsigned char)(run >= 0 ? t->slot[run] : i);
        int prev = i - 1; /* a message's first part continues the message before: output_text */
        while (k == RK_TEXT && run < 0 && prev >= 0 && t->kind[prev] != RK_TEXT)
            prev--;
        if (k == RK_TEXT && run < 0 && prev >= 0 && c->s->join(c->s->ctx, t->slot[prev], i) == -1)
            return -1;
        w->n++;
    }
    if (item_id && !t->item[i].len && gw_buf_puts(&t->item[i], item_id) == -1)
        return -1;
    return i;
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

/* Feeds text to text i's slot (NULL: nothing) and, with close, closes the slot. What
 * comes out is in s->tmp and appended to text i. Returns 0, 1 (blocked: c->at is set) or
 * -1. */
static int feed(struct cx *c, int i, const char *text, bool close)
{
    struct gw_api_stream *s = c->s;
    int slot = c->w.t->slot[i], rc = 0;
    gw_buf_reset(s->tmp);
    if (text) {
        size_t len = strlen(text);
        if (c->w.t->kind[i] == RK_ARGS)
            s->json(s->ctx, slot); /* arguments: JSON, whose escapes must hide nothing */
        rc = s->screen(s->ctx, slot, text, len, s->tmp);
        if (len)
            c->w.fed |= bit(i);
    }
    if (rc == 0 && close) {
        rc = s->screen(s->ctx, slot, NULL, 0, s->tmp);
        c->w.closed |= bit(slot);
    }
    if (rc == 1)
        c->at = i;
    if (rc != 0 || s->tmp->len == 0)
        return rc;
    return gw_buf_append(&c->w.t->kept[i], s->tmp->data, s->tmp->len);
}

/* Writes what the last feed released into text i as one more delta, when the client saw
 * the text begin. */
static void delta_out(struct cx *c, int i)
{
    const struct texts *t = c->w.t;
    struct gw_buf *b = c->s->scratch;
    enum gw_rkind k = (enum gw_rkind)t->kind[i];
    if (!(c->w.shown & bit(i)) || !c->s->tmp->len)
        return;
    gw_buf_reset(b);
    gw_responses_delta(b, c->w.seq++, kinds[k].delta, t->item[i].data ? t->item[i].data : "",
                       t->out[i], kinds[k].sub, t->sub[i], c->s->tmp->data, k == RK_TEXT);
    c->s->write(c->s->ctx, b->data, b->len);
}

/* Closes the scanner of message o's parts when it is open: what it held goes into the
 * part it was last fed for, as one more delta. Returns 0, 1 or -1. */
static int close_run(struct cx *c, int o)
{
    int i = run_of(&c->w, o);
    int rc = i < 0 ? 0 : feed(c, i, NULL, true);
    if (i >= 0 && rc == 0)
        delta_out(c, i);
    return rc;
}

/* A text as it first shows up (in an .added event, or a delta): screened through its
 * slot, and replaced by what comes out. Returns 0, 1 or -1; *released says whether
 * anything came out. */
static int text_more(struct cx *c, enum gw_rkind k, int o, int sub, cJSON *node,
                     const char *item_id, bool *released)
{
    if (!node)
        return 0;
    int i = cJSON_IsString(node) ? text_of(c, k, o, sub, item_id, true) : -1;
    if (i < 0 || (c->w.ended & bit(i)))
        return -1; /* more of a text after its done event */
    c->w.shown |= bit(i);
    int rc = feed(c, i, node->valuestring, false);
    if (rc != 0)
        return rc;
    if (released)
        *released = c->s->tmp->len > 0;
    return gw_openai_set_text(node, c->s->tmp->data ? c->s->tmp->data : "");
}

/* A text repeated whole (end: how): the first repetition ends the text (a text never
 * streamed is screened whole there; the provider's repetition of a streamed one is not
 * read at all) and closes its slot, but for a message's part (see the top of the file).
 * Puts in node what was released into the text. Returns 0, 1 or -1. */
static int text_whole(struct cx *c, enum gw_rkind k, int o, int sub, cJSON *node,
                      const char *item_id, enum end end)
{
    struct walk *w = &c->w;
    int rc;
    if (!node)
        return k == RK_TEXT && end == ITEM_LAST ? close_run(c, o) : 0;
    int i = cJSON_IsString(node) ? text_of(c, k, o, sub, item_id, true) : -1;
    if (i < 0)
        return -1;
    if (!(w->ended & bit(i))) {
        if ((rc = feed(c, i, w->fed & bit(i) ? NULL : node->valuestring, k != RK_TEXT)) != 0)
            return rc;
        w->ended |= bit(i);
        delta_out(c, i);
        if (k == RK_TEXT && end == PART_DONE && c->s->held(c->s->ctx, w->t->slot[i])) {
            w->pending = (unsigned char)(i + 1);
            c->wait = true;
        }
    }
    if (k == RK_TEXT && end == ITEM_LAST && (rc = close_run(c, o)) != 0)
        return rc;
    return gw_openai_set_text(node, kept_text(w, i));
}

/* Screens every string in node whole (a text that is not streamed). Returns 0, 1 or -1. */
static int scan_all(struct cx *c, cJSON *node)
{
    if (cJSON_IsString(node))
        return c->s->scan(c->s->ctx, node);
    int rc = 0;
    for (cJSON *n = cJSON_IsObject(node) || cJSON_IsArray(node) ? node->child : NULL; n && rc == 0;
         n = n->next)
        rc = scan_all(c, n);
    return rc;
}

/* The same for members of obj (NULL ended): a function's name, a message's phase. */
static int scan_members(struct cx *c, cJSON *obj, const char *const *names)
{
    int rc = 0;
    for (; *names && rc == 0; names++)
        rc = scan_all(c, cJSON_GetObjectItemCaseSensitive(obj, *names));
    return rc;
}

/* The text of a part of item o at index sub; summary: a reasoning summary's part; end:
 * how it comes whole, or -1 as it first shows up. */
static int part_texts(struct cx *c, int o, int sub, cJSON *part, int end, bool summary,
                      const char *item_id)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
    if (!cJSON_IsObject(part) || !cJSON_IsString(type) || !gw_responses_scalars(part))
        return -1;
    const char *t = type->valuestring;
    enum gw_rkind k = summary ? (strcmp(t, "summary_text") == 0 ? RK_SUMMARY : RK_NONE)
                      : strcmp(t, "output_text") == 0    ? RK_TEXT
                      : strcmp(t, "refusal") == 0        ? RK_REFUSAL
                      : strcmp(t, "reasoning_text") == 0 ? RK_REASONING
                                                         : RK_NONE;
    if (k == RK_NONE)
        return -1;
    const char *const *known = k == RK_TEXT      ? gw_responses_k_output_text
                               : k == RK_REFUSAL ? gw_responses_k_refusal
                                                 : gw_responses_k_reasoning_part;
    if (k == RK_TEXT) {
        /* Citations are not screened in a stream: only an empty list passes. */
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(part, "annotations");
        if (a && !cJSON_IsNull(a) && !(cJSON_IsArray(a) && !a->child))
            return -1;
        gw_responses_strip_logprobs(part);
    }
    int rc = gw_api_stream_unknown(c->s, part, known);
    if (rc != 0)
        return rc;
    cJSON *node = cJSON_GetObjectItemCaseSensitive(part, k == RK_REFUSAL ? "refusal" : "text");
    return end < 0 ? text_more(c, k, o, sub, node, item_id, NULL)
                   : text_whole(c, k, o, sub, node, item_id, (enum end)end);
}

/* The texts of output item o, as announced (whole: false) or done. */
static int item_texts(struct cx *c, int o, cJSON *item, bool whole)
{
    static const char *const k_message_more[] = {"phase", NULL};
    static const char *const k_call_more[] = {"name", "namespace", "caller", NULL};
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
    if (o < 0 || !cJSON_IsObject(item) || !cJSON_IsString(type) || !gw_responses_scalars(item))
        return -1;
    const char *t = type->valuestring, *item_id = cJSON_IsString(id) ? id->valuestring : NULL;
    int rc, j = 0, last = -1;
    cJSON *p;
    if (strcmp(t, "message") == 0) {
        cJSON *content = cJSON_GetObjectItemCaseSensitive(item, "content");
        if (content && !cJSON_IsArray(content) && !cJSON_IsNull(content))
            return -1;
        if ((rc = gw_api_stream_unknown(c->s, item, gw_responses_k_message)) != 0 ||
            (rc = scan_members(c, item, k_message_more)) != 0)
            return rc;
        cJSON_ArrayForEach(p, content)
        {
            const cJSON *pt = cJSON_GetObjectItemCaseSensitive(p, "type");
            if (cJSON_IsString(pt) && strcmp(pt->valuestring, "output_text") == 0)
                last = j;
            j++;
        }
        j = 0;
        cJSON_ArrayForEach(p, content)
        {
            int end = !whole ? -1 : j == last ? ITEM_LAST : IN_ITEM;
            if (j > MAX_INDEX)
                return -1;
            if ((rc = part_texts(c, o, j++, p, end, false, item_id)) != 0)
                return rc;
        }
        return whole ? close_run(c, o) : 0; /* parts the item does not list */
    }
    if (strcmp(t, "function_call") == 0) {
        if ((rc = gw_api_stream_unknown(c->s, item, gw_responses_k_call)) != 0 ||
            (rc = scan_members(c, item, k_call_more)) != 0)
            return rc;
        cJSON *args = cJSON_GetObjectItemCaseSensitive(item, "arguments");
        return whole ? text_whole(c, RK_ARGS, o, 0, args, item_id, IN_ITEM)
                     : text_more(c, RK_ARGS, o, 0, args, item_id, NULL);
    }
    if (strcmp(t, "reasoning") == 0) {
        if ((rc = gw_api_stream_unknown(c->s, item, gw_responses_k_reasoning)) != 0)
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
                if ((rc = part_texts(c, o, j++, p, whole ? IN_ITEM : -1, l == 0, item_id)) != 0)
                    return rc;
            }
        }
        return 0;
    }
    return -1; /* an item the gateway does not know */
}

static int scan_echo(void *s, cJSON *node)
{
    return gw_api_stream_scan_all(s, node);
}

/* The members of a response object besides its output and error: incomplete_details
 * screened, what it repeats of the request for personal data and secrets (GW_TEXT_ECHO)
 * unless it says what the gateway sent, the others by the policy. */
static int response_rest(struct cx *c, cJSON *r)
{
    static const char *const k_details[] = {"incomplete_details", NULL};
    int rc = scan_members(c, r, k_details);
    if (rc == 0)
        rc = gw_api_stream_unknown(c->s, r, gw_responses_k_response);
    cJSON *sent = c->s->sent ? gw_api_parse(c->s->sent, strlen(c->s->sent)) : NULL;
    c->s->echo = true;
    if (rc == 0) /* what is not what the gateway sent */
        rc = gw_api_echo_diff(r, sent, gw_responses_echoed, scan_echo, c->s);
    c->s->echo = false;
    cJSON_Delete(sent);
    return rc;
}

/* A response object of response.created, .queued or .in_progress: nothing written yet. */
static int response_start(struct cx *c, cJSON *r)
{
    const cJSON *output = cJSON_GetObjectItemCaseSensitive(r, "output");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(r, "output_text");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(r, "error");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
    if (!cJSON_IsObject(r) || !gw_responses_scalars(r) || !gw_responses_settings_ok(r) ||
        (output && !cJSON_IsNull(output) && !(cJSON_IsArray(output) && !output->child)) ||
        (text && !cJSON_IsNull(text) && !(cJSON_IsString(text) && !text->valuestring[0])) ||
        (error && !cJSON_IsNull(error)))
        return -1;
    if (cJSON_IsString(id) && !c->s->up_id[0])
        snprintf(c->s->up_id, sizeof c->s->up_id, "%s", id->valuestring);
    return response_rest(c, r);
}

/* The strings of an error (an error event, or a failed response's error object), screened
 * whole (they are not streamed); one that must be blocked is replaced. A message that is
 * not a string is refused. Returns 0 or -1. */
static int error_strings(struct cx *c, cJSON *obj)
{
    static const char *const names[] = {"code", "message", "param"};
    static const char *const instead[] = {"provider_error", "The provider reported an error.",
                                          NULL};
    cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "message");
    if (m && !cJSON_IsString(m) && !cJSON_IsNull(m))
        return -1;
    for (int k = 0; k < 3; k++) {
        int rc = scan_all(c, cJSON_GetObjectItemCaseSensitive(obj, names[k]));
        if (rc == 1) {
            cJSON *v = instead[k] ? cJSON_CreateString(instead[k]) : cJSON_CreateNull();
            rc = v && cJSON_ReplaceItemInObjectCaseSensitive(obj, names[k], v) ? 0 : -1;
            if (rc)
                cJSON_Delete(v);
        }
        if (rc)
            return -1;
    }
    return 0;
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
    if (!cJSON_IsObject(r) || !gw_responses_scalars(r) || !gw_responses_settings_ok(r))
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
        if ((rc = gw_api_stream_unknown(c->s, error, gw_responses_k_error)) != 0)
            return rc;
        if (error_strings(c, error) != 0)
            return -1;
    }
    return response_rest(c, r);
}

/* Screens one parsed event in place. Returns 0, 1 (blocked) or -1; *emit is cleared
 * when the event has nothing to pass on (a delta all held back). */
static int screen_event(struct cx *c, const struct gw_responses_event *e, cJSON *ev, bool *emit)
{
    static const char *const k_name[] = {"name", NULL};
    int rc = gw_api_stream_unknown(c->s, ev, e->known);
    if (rc != 0)
        return rc;
    /* Where a text is: an item's id (a string), indices (whole numbers), checked before
     * the event goes out as it came. */
    const cJSON *item_id = cJSON_GetObjectItemCaseSensitive(ev, "item_id");
    const char *iid = cJSON_IsString(item_id) ? item_id->valuestring : NULL;
    bool placed =
        e->step == RS_ITEM || e->step == RS_PART || e->step == RS_DELTA || e->step == RS_DONE;
    const char *sub_name = e->step == RS_PART                          ? e->member
                           : e->step == RS_DELTA || e->step == RS_DONE ? kinds[e->kind].sub
                                                                       : NULL;
    int o = placed ? index_of(c, ev, "output_index") : 0;
    int sub = sub_name ? index_of(c, ev, sub_name) : 0;
    if (o < 0 || sub < 0 || (item_id && !iid && !cJSON_IsNull(item_id)))
        return -1;
    cJSON_DeleteItemFromObjectCaseSensitive(ev, "obfuscation"); /* padding, nobody's text */
    cJSON *node = e->step == RS_DELTA || e->step == RS_DONE
                      ? cJSON_GetObjectItemCaseSensitive(ev, e->member)
                      : NULL;
    switch (e->step) {
    case RS_START:
        return response_start(c, cJSON_GetObjectItemCaseSensitive(ev, "response"));
    case RS_END:
        rc = response_end(c, cJSON_GetObjectItemCaseSensitive(ev, "response"));
        c->s->done = c->s->ended = rc == 0;
        return rc;
    case RS_ITEM:
        return item_texts(c, o, cJSON_GetObjectItemCaseSensitive(ev, "item"), e->whole);
    case RS_PART:
        return part_texts(c, o, sub, cJSON_GetObjectItemCaseSensitive(ev, "part"),
                          e->whole ? PART_DONE : -1, e->kind == RK_SUMMARY, iid);
    case RS_DELTA: {
        bool released = false;
        if (!node)
            return -1;
        gw_responses_strip_logprobs(ev); /* its tokens would show held text early */
        rc = text_more(c, e->kind, o, sub, node, iid, &released);
        *emit = released;
        return rc;
    }
    case RS_DONE:
        if (!node)
            return -1;
        gw_responses_strip_logprobs(ev);
        if (e->kind == RK_ARGS && (rc = scan_members(c, ev, k_name)) != 0)
            return rc; /* the function's name */
        return text_whole(c, e->kind, o, sub, node, iid, PART_DONE);
    case RS_ERROR:
        c->s->done = true;
        return error_strings(c, ev);
    case RS_KEEPALIVE:
        return 0;
    }
    return -1;
}

/* Writes an event renumbered (the gateway adds events and drops held-back ones): its
 * sequence_number, whatever it was, is replaced. Returns 0 or -1. */
static int emit_event(struct cx *c, const char *type, cJSON *ev)
{
    cJSON *seq = cJSON_CreateNumber(c->w.seq);
    bool ok = seq && (cJSON_GetObjectItemCaseSensitive(ev, "sequence_number")
                          ? cJSON_ReplaceItemInObjectCaseSensitive(ev, "sequence_number", seq)
                          : cJSON_AddItemToObject(ev, "sequence_number", seq));
    if (!ok) {
        cJSON_Delete(seq);
        return -1;
    }
    c->w.seq++;
    return gw_api_write_event(c->s, type, ev);
}

/* The text of a waiting done event (output_text.done's, or its part's). */
static cJSON *waiting_text(cJSON *ev)
{
    cJSON *node = cJSON_GetObjectItemCaseSensitive(ev, "text");
    return node ? node
                : cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ev, "part"),
                                                   "text");
}

/* Keeps a screened done event of the pending part (its text left out: it is put in when
 * the event goes out) until the part's held text is placed. Returns 0 or -1. */
static int wait_event(struct cx *c, cJSON *ev)
{
    cJSON *node = waiting_text(ev);
    if (!cJSON_IsString(node) || gw_openai_set_text(node, "") != 0)
        return -1;
    char *json = cJSON_PrintUnformatted(ev);
    int rc = json && gw_buf_append(&c->w.t->waiting, json, strlen(json) + 1) == 0 ? 0 : -1;
    cJSON_free(json);
    c->w.t->n_waiting++;
    return rc;
}

/* What an event does while a part's done events wait. */
enum next {
    PASS,    /* nothing to the wait (a keepalive) */
    WAIT,    /* another done event of the part: it waits too */
    TAKE,    /* a next output_text part of the message: it takes the held text over */
    RELEASE, /* anything else: the held text goes into the part */
};

static enum next after_pending(struct cx *c, const char *type, const cJSON *ev)
{
    const struct texts *t = c->w.t;
    int i = c->w.pending - 1;
    if (strcmp(type, "keepalive") == 0)
        return PASS;
    const cJSON *part = cJSON_GetObjectItemCaseSensitive(ev, "part");
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(part, "type");
    bool text = cJSON_IsString(pt) && strcmp(pt->valuestring, "output_text") == 0;
    bool done = strcmp(type, "response.output_text.done") == 0 ||
                (text && strcmp(type, "response.content_part.done") == 0);
    bool more = strcmp(type, "response.output_text.delta") == 0 ||
                (text && strcmp(type, "response.content_part.added") == 0);
    int o = index_of(c, ev, "output_index"), ci = index_of(c, ev, "content_index");
    if (o != t->out[i] || ci < 0 || !(done || more))
        return RELEASE;
    if (ci != t->sub[i])
        return TAKE;
    return done && t->n_waiting < MAX_WAITING ? WAIT : RELEASE;
}

/* Ends the wait of the pending part: with release, the parts' scanner is closed and what
 * it held goes into the part as one more delta; then its done events go out, saying what
 * the part says. Returns 0, 1 or -1. */
static int resolve(struct cx *c, bool release)
{
    struct walk *w = &c->w;
    int i = w->pending - 1, rc = 0;
    w->pending = 0;
    if (release)
        rc = close_run(c, w->t->out[i]);
    const char *p = w->t->waiting.data, *end = p + w->t->waiting.len;
    for (; rc == 0 && p && p < end; p += strlen(p) + 1) {
        cJSON *ev = cJSON_Parse(p), *node = waiting_text(ev);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
        rc = cJSON_IsString(type) && cJSON_IsString(node) &&
                     gw_openai_set_text(node, kept_text(w, i)) == 0
                 ? emit_event(c, type->valuestring, ev)
                 : -1;
        cJSON_Delete(ev);
    }
    gw_buf_reset(&w->t->waiting);
    w->t->n_waiting = 0;
    return rc;
}

/* Writes the error event that fails a stream already started, and ends the walk. A stream
 * that failed before its first event opens with response.created all the same: the SDKs'
 * stream helpers refuse any other first event, and would report that instead. */
static void fail_stream(struct cx *c, const char *message, const char *code)
{
    struct gw_buf b = {0};
    if (c->w.seq == 0) {
        struct gw_buf rid = {0};
        gw_buf_printf(&rid, c->s->up_id[0] ? "%s" : "resp_gr-%s",
                      c->s->up_id[0] ? c->s->up_id : c->s->id);
        gw_responses_event_begin(&b, "response.created", c->w.seq++);
        gw_buf_puts(&b, ",\"response\":");
        gw_responses_object(&b, rid.data, c->s->model, NULL, NULL, false);
        gw_responses_event_end(&b);
        gw_buf_free(&rid);
    }
    gw_responses_error_event(&b, c->w.seq++, code ? code : "api_error", message);
    c->s->write(c->s->ctx, b.data, b.len);
    gw_buf_free(&b);
    c->s->done = true;
    texts_free(&c->w);
}

/* Ends the stream for a block in text c->at (-1: not in a text): the block message as one
 * more output_text delta (into the blocked part when it is one, else into a new message
 * item), then response.incomplete for content_filter. Nothing more of any text goes out
 * (a part's waiting done events neither). */
static void block(struct cx *c)
{
    struct gw_api_stream *s = c->s;
    const struct texts *t = c->w.t;
    int at = c->at;
    const char *msg = s->block_message(s->ctx, at >= 0 ? t->slot[at] : 0);
    struct gw_buf b = {0}, rid = {0}, mid = {0};
    gw_buf_printf(&mid, "msg_gr-%s", s->id);
    gw_buf_printf(&rid, s->up_id[0] ? "%s" : "resp_gr-%s", s->up_id[0] ? s->up_id : s->id);
    if (at >= 0 && t->kind[at] == RK_TEXT && (c->w.shown & bit(at))) {
        gw_responses_text_delta(&b, c->w.seq++, t->item[at].data ? t->item[at].data : mid.data,
                                t->out[at], t->sub[at], msg);
    } else {
        gw_responses_message_added(&b, c->w.seq, mid.data, c->w.items);
        c->w.seq += 2;
        gw_responses_text_delta(&b, c->w.seq++, mid.data, c->w.items, 0, msg);
    }
    gw_responses_incomplete_event(&b, c->w.seq++, rid.data, s->model, mid.data, msg, false);
    s->write(s->ctx, b.data, b.len);
    gw_buf_free(&b);
    gw_buf_free(&rid);
    gw_buf_free(&mid);
    s->done = true;
    texts_free(&c->w);
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
    const struct gw_responses_event *e = gw_responses_event_of(t);
    s->within_type = t; /* the event's kind: its members' place */
    int rc = 0;
    bool emit = true;
    if (!s->screen_replies) {
        if (e && e->step == RS_END)
            take_usage(c, cJSON_GetObjectItemCaseSensitive(ev, "response"));
        if (e && (e->step == RS_END || e->step == RS_ERROR))
            s->done = true;
        if (e && e->step == RS_END)
            s->ended = true;
        rc = gw_api_write_event(s, t, ev);
        cJSON_Delete(ev);
        if (rc != 0)
            fail_stream(c, "Writing the stream failed.", "guardrail_error");
        return rc;
    }
    enum next next = e && c->w.pending ? after_pending(c, t, ev) : PASS;
    if (!e) /* an event the gateway does not know */
        rc = -1;
    else if (next == TAKE || next == RELEASE)
        rc = resolve(c, next == RELEASE);
    c->wait = next == WAIT;
    if (rc == 0)
        rc = screen_event(c, e, ev, &emit);
    if (rc == 0 && emit)
        rc = c->wait ? wait_event(c, ev) : emit_event(c, t, ev);
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
    texts_free(&c.w);
    store(&c);
}

void gw_responses_stream_free(struct gw_api_stream *s)
{
    struct cx c;
    load(&c, s);
    texts_free(&c.w);
    store(&c);
}
