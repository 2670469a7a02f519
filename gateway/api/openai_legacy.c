/* Two more OpenAI endpoints that send customers' text to a model: the legacy completions
 * API (POST /v1/completions: a prompt in, choices' text out, plain or streamed) and the
 * embeddings API (POST /v1/embeddings: an input in, vectors out). An embedding call sends
 * customer text to the provider too, so its input is screened in the prompt direction:
 * redacted, or refused. Token arrays (the prompt or input as numbers) cannot be screened and
 * are refused. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "util/json.h"

#define MAX_CHOICES 8

/* The request's prompt (completions) or input (embeddings): a string or strings, pushed as
 * the user's; suffix too. Returns 0 or -1 with err. */
static int parse_common(struct gw_api_request *r, const char *body, size_t len, unsigned roles,
                        const char *field, char *err, size_t errlen, const char **param)
{
    memset(r, 0, sizeof *r);
    if (gw_api_parse_head(body, len, &r->root, &r->model, &r->stream, err, errlen, param) == -1)
        return -1;
    r->texts.role = GW_ROLE_USER;
    *param = field;
    cJSON *in = cJSON_GetObjectItemCaseSensitive(r->root, field), *e;
    bool on = (roles & GW_ROLE_USER) != 0;
    if (cJSON_IsString(in)) {
        if (on && gw_api_refs_push(&r->texts, in) == -1)
            return -1;
    } else if (cJSON_IsArray(in)) {
        cJSON_ArrayForEach(e, in)
        {
            if (!cJSON_IsString(e)) {
                snprintf(err, errlen, "'%s' as tokens (numbers) cannot be screened by this "
                                      "gateway: send text.", field);
                return -1;
            }
            if (on && gw_api_refs_push(&r->texts, e) == -1)
                return -1;
        }
    } else {
        snprintf(err, errlen, "'%s' must be a string or an array of strings.", field);
        return -1;
    }
    cJSON *suffix = cJSON_GetObjectItemCaseSensitive(r->root, "suffix");
    if (cJSON_IsString(suffix) && on && gw_api_refs_push(&r->texts, suffix) == -1)
        return -1;
    *param = NULL;
    return 0;
}

/* ---- completions ---- */

static int completions_request(struct gw_api_request *r, const char *body, size_t len,
                               unsigned roles, char *err, size_t errlen, const char **param)
{
    if (parse_common(r, body, len, roles, "prompt", err, errlen, param) == -1)
        return -1;
    /* vLLM's prompt embeddings: a tensor the model reads in place of text */
    const cJSON *embeds = cJSON_GetObjectItemCaseSensitive(r->root, "prompt_embeds");
    if (embeds && !cJSON_IsNull(embeds))
        gw_api_refs_media(&r->texts, "prompt embeddings ('prompt_embeds')");
    return 0;
}

static const char *const known_top[] = {"id", "object", "created", "model", "choices", "usage",
                                        "system_fingerprint", NULL};
static const char *const known_choice[] = {"text", "index", "logprobs", "finish_reason", NULL};

static cJSON *completions_reply(const char *body, size_t len, struct gw_text_refs *texts)
{
    cJSON *root = gw_api_parse(body, len), *c;
    if (!cJSON_IsObject(root) || gw_openai_unreadable(body, len, root) ||
        !gw_api_scalars(root, gw_openai_ids))
        goto unscreenable;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "choices"))
    {
        static const char *const states[] = {"index", "finish_reason", NULL};
        cJSON *text = cJSON_GetObjectItemCaseSensitive(c, "text");
        if (!gw_api_scalars(c, states) || (text && !cJSON_IsString(text) && !cJSON_IsNull(text)) ||
            (cJSON_IsString(text) && gw_api_refs_push(texts, text) == -1) ||
            gw_api_unknown_members(c, known_choice, texts) == -1)
            goto unscreenable;
    }
    if (gw_api_unknown_members(root, known_top, texts) == -1)
        goto unscreenable;
    texts->stripped |= gw_openai_strip_logprobs(root); /* as chat's (gw_openai_parse_reply) */
    return root;
unscreenable:
    cJSON_Delete(root);
    gw_text_refs_free(texts);
    return NULL;
}

static void redacted(cJSON *root)
{
    gw_openai_strip_logprobs(root); /* its tokens repeat the text */
}

/* A text_completion object (a chunk when streamed) with one choice. */
static void completion_json(struct gw_buf *out, const char *id, const char *model, int index,
                            const char *text, size_t len, const char *finish, bool usage0)
{
    struct gw_buf t = {0};
    gw_buf_puts(&t, "cmpl-gr-");
    gw_buf_puts(&t, id);
    gw_buf_puts(out, "{\"id\":");
    gw_json_quote(out, t.data, t.len);
    gw_buf_free(&t);
    gw_buf_printf(out, ",\"object\":\"text_completion\",\"created\":%lld,\"model\":",
                  (long long)time(NULL));
    gw_json_quote(out, model, strlen(model));
    gw_buf_printf(out, ",\"choices\":[{\"text\":");
    gw_json_quote(out, text, len);
    gw_buf_printf(out, ",\"index\":%d,\"logprobs\":null,\"finish_reason\":", index);
    if (finish)
        gw_buf_printf(out, "\"%s\"}]", finish);
    else
        gw_buf_puts(out, "null}]");
    gw_buf_puts(out, usage0 ? ",\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0,"
                              "\"total_tokens\":0}}" : "}");
}

static void completions_refusal(struct gw_buf *out, const char *id, const char *model,
                                const char *message, bool stream)
{
    if (stream)
        gw_buf_puts(out, "data: ");
    completion_json(out, id, model, 0, message, strlen(message), "content_filter", !stream);
    if (stream)
        gw_buf_puts(out, "\n\ndata: [DONE]\n\n");
}

static void write_chunk(struct gw_api_stream *s, int index, const char *text, size_t len,
                        const char *finish)
{
    struct gw_buf b = {0};
    gw_buf_puts(&b, "data: ");
    completion_json(&b, s->up_id[0] ? s->up_id : s->id, s->model, index, text, len, finish,
                    false);
    gw_buf_puts(&b, "\n\n");
    s->write(s->ctx, b.data, b.len);
    gw_buf_free(&b);
}

static void block(struct gw_api_stream *s, int index)
{
    const char *msg = s->block_message(s->ctx, index);
    write_chunk(s, index, msg, strlen(msg), "content_filter");
    s->write(s->ctx, "data: [DONE]\n\n", 14);
    s->done = true;
}

/* The provider's [DONE] (or its end without one): releases what every choice holds; the
 * [DONE] waits for the end of the provider's reply (completions_end). */
static int release_all(struct gw_api_stream *s)
{
    for (int i = 0; i < MAX_CHOICES; i++) {
        if (!s->held(s->ctx, i))
            continue;
        gw_buf_reset(s->tmp);
        int rc = s->screen(s->ctx, i, NULL, 0, s->tmp);
        if (rc == 1) {
            block(s, i);
            return -1;
        }
        if (rc == -1) {
            gw_openai_stream_error(s, "Screening failed.", "guardrail_error");
            return -1;
        }
        if (s->tmp->len)
            write_chunk(s, i, s->tmp->data, s->tmp->len, NULL);
    }
    s->ended = true;
    return 0;
}

static int completions_event(struct gw_api_stream *s, const char *event, const char *data,
                             size_t len)
{
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
        return release_all(s);
    cJSON *ev = gw_api_parse(data, len), *c;
    if (!cJSON_IsObject(ev) || gw_openai_unreadable(data, len, ev)) {
        cJSON_Delete(ev);
        gw_openai_stream_error(s, "The provider sent a stream event that cannot be screened safely.",
                     "provider_error");
        return -1;
    }
    long p, k;
    gw_openai_usage(ev, &p, &k);
    s->tokens(s->ctx, p, k);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
    if (!s->up_id[0] && cJSON_IsString(id))
        snprintf(s->up_id, sizeof s->up_id, "%s", id->valuestring);
    int rc = 0, at = 0;
    bool emit = true;
    if (s->screen_replies) {
        gw_openai_strip_logprobs(ev);
        s->place = 0;
        rc = gw_api_stream_unknown(s, ev, known_top);
        emit = false;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(ev, "choices"))
        {
            const cJSON *ix = cJSON_GetObjectItemCaseSensitive(c, "index");
            at = ix ? (cJSON_IsNumber(ix) && ix->valuedouble >= 0 && ix->valuedouble < MAX_CHOICES &&
                       ix->valuedouble == (double)ix->valueint ? ix->valueint : -1) : 0;
            bool finishing = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c, "finish_reason"));
            bool released = false;
            if (rc == 0 && at < 0)
                rc = -1;
            s->place = at + 1; /* its members are joined apart from another choice's */
            if (rc == 0)
                rc = gw_api_stream_unknown(s, c, known_choice);
            s->place = 0;
            if (rc == 0)
                rc = gw_api_screen_member(s, at, c, "text", finishing, &released);
            if (rc != 0)
                break;
            emit |= released || finishing;
        }
        if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(ev, "choices")))
            emit = true; /* usage, say */
    }
    if (rc == 0 && emit)
        rc = gw_api_write_event(s, NULL, ev);
    cJSON_Delete(ev);
    if (rc == 1)
        block(s, at < 0 ? 0 : at);
    else if (rc == -1)
        gw_openai_stream_error(s, "Screening the reply failed; the gateway fails closed.",
                     "guardrail_error");
    return rc == 0 ? 0 : -1;
}

static void completions_end(struct gw_api_stream *s)
{
    if (!s->ended && !s->done) { /* cut before its [DONE]: not a success */
        gw_openai_stream_error(s, "The provider's stream ended before its [DONE].",
                               "provider_stream_error");
        return;
    }
    gw_openai_stream_done(s);
}

/* The legacy completions parameters; "mock" is the built-in mock provider's knobs, which no
 * provider reads as text */
static const char *const completions_members[] = {"model",
                                                  "prompt",
                                                  "suffix",
                                                  "best_of",
                                                  "echo",
                                                  "frequency_penalty",
                                                  "logit_bias",
                                                  "logprobs",
                                                  "max_tokens",
                                                  "n",
                                                  "presence_penalty",
                                                  "seed",
                                                  "stop",
                                                  "stream",
                                                  "stream_options",
                                                  "temperature",
                                                  "top_p",
                                                  "user",
                                                  "mock",
                                                  NULL};

const struct gw_api gw_api_openai_completions = {
    .name = "OpenAI completions",
    .route = "/v1/completions",
    .upstream_path = "/completions",
    .providers = GW_PROVIDER_OPENAI | GW_PROVIDER_MOCK,
    .parse_request = completions_request,
    .request_members = completions_members,
    .parse_reply = completions_reply,
    .usage = gw_openai_usage,
    .redacted = redacted,
    .refusal = completions_refusal,
    .error = gw_openai_error,
    .forward_headers = gw_openai_forward,
    .key_header = "Authorization: Bearer ",
    .stream_event = completions_event,
    .stream_end = completions_end,
    .stream_error = gw_openai_stream_error,
};

/* ---- embeddings ---- */

static int embeddings_request(struct gw_api_request *r, const char *body, size_t len,
                              unsigned roles, char *err, size_t errlen, const char **param)
{
    int rc = parse_common(r, body, len, roles, "input", err, errlen, param);
    if (rc == 0 && r->stream) {
        *param = "stream";
        snprintf(err, errlen, "Embeddings are not streamed.");
        return -1;
    }
    return rc;
}

/* Vectors, no text: only members the gateway does not know can carry any. */
static cJSON *embeddings_reply(const char *body, size_t len, struct gw_text_refs *texts)
{
    static const char *const top[] = {"object", "data", "model", "usage", NULL};
    static const char *const item[] = {"object", "index", "embedding", NULL};
    static const char *const ids[] = {"object", "model", NULL};
    static const char *const item_ids[] = {"object", "index", NULL};
    cJSON *root = gw_api_parse(body, len), *d;
    if (!cJSON_IsObject(root) || gw_openai_unreadable(body, len, root) ||
        !gw_api_scalars(root, ids))
        goto unscreenable;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(root, "data"))
    {
        if (!gw_api_scalars(d, item_ids) || gw_api_unknown_members(d, item, texts) == -1)
            goto unscreenable;
    }
    if (gw_api_unknown_members(root, top, texts) == -1)
        goto unscreenable;
    return root;
unscreenable:
    cJSON_Delete(root);
    gw_text_refs_free(texts);
    return NULL;
}

static void embeddings_usage(const cJSON *root, long *prompt, long *completion)
{
    gw_openai_usage(root, prompt, completion);
    *completion = -1;
}

/* The embeddings parameters; "mock" is the built-in mock provider's knobs, which no provider reads
 * as text */
static const char *const embeddings_members[] = {"model", "input", "dimensions", "encoding_format",
                                                 "user",  "mock",  NULL};

const struct gw_api gw_api_openai_embeddings = {
    .name = "OpenAI embeddings",
    .route = "/v1/embeddings",
    .upstream_path = "/embeddings",
    .providers = GW_PROVIDER_OPENAI | GW_PROVIDER_MOCK,
    .parse_request = embeddings_request,
    .request_members = embeddings_members,
    .parse_reply = embeddings_reply,
    .usage = embeddings_usage,
    .refusal = NULL, /* a vector cannot say no: a block is answered as an error */
    .error = gw_openai_error,
    .forward_headers = gw_openai_forward,
    .key_header = "Authorization: Bearer ",
    .stream_event = NULL,
};
