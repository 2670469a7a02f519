/* libFuzzer target for the stream walks of the client APIs (stream_event, stream_end,
 * stream_error, stream_free of each API in gw_apis that streams), fed through the SSE
 * parser as the request path feeds them, with a scripted scanner in place of the real one.
 *
 * The first byte chooses: bits 0-1 the API (among those that stream), bit 2 whether replies
 * are screened, bits 3-4 the unknown member policy (modulo 3), bit 5 whether the provider's
 * reply ends cleanly or fails (then stream_error, unless the walk saw the stream's own end),
 * bit 6 whether cJSON allocates from the worker's arena (as in the gateway) or from malloc
 * (so a leaked tree shows). The rest is the provider's stream, cut into pieces derived from
 * the input. Events after the walk saw the stream's end, a stream the parser refuses, and
 * one that ends inside an event end with stream_error, as the request path ends them.
 *
 * The scripted scanner holds a slot's text back up to its last space, blocks a slot whose
 * text holds "BLOCK", fails on "FAIL", and redacts a whole string ("scan") that holds
 * "SECRET". Checks: what the client gets is SSE events of JSON (or [DONE]) and no CR (a line
 * end to an SSE reader), stream_free writes nothing, and slots stay in 0..GW_API_SLOTS-1. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/sse.h"
#include "fuzz.h"
#include "util/json_arena.h"

struct fake {
    struct gw_buf held[GW_API_SLOTS];
    bool opened[GW_API_SLOTS], closed[GW_API_SLOTS];
    struct gw_buf out;
    bool over; /* the walk returned -1: nothing may be written after it */
};

static bool has(const char *s, size_t len, const char *word)
{
    return memmem(s, len, word, strlen(word)) != NULL;
}

static int screen(void *ctx, int slot, const char *text, size_t len, struct gw_buf *out)
{
    struct fake *f = ctx;
    CHECK(slot >= 0 && slot < GW_API_SLOTS);
    if (f->closed[slot])
        return text ? -1 : 0;
    f->opened[slot] = true;
    struct gw_buf *h = &f->held[slot];
    if (!text) {
        f->closed[slot] = true;
        CHECK(gw_buf_append(out, h->data ? h->data : "", h->len) == 0);
        gw_buf_reset(h);
        return 0;
    }
    CHECK(gw_buf_append(h, text, len) == 0);
    if (has(h->data, h->len, "BLOCK"))
        return 1;
    if (has(h->data, h->len, "FAIL"))
        return -1;
    size_t keep = h->len;
    while (keep > 0 && h->data[keep - 1] != ' ')
        keep--;
    CHECK(gw_buf_append(out, h->data, keep) == 0);
    gw_buf_consume(h, keep);
    return 0;
}

static bool open_(void *ctx, int slot)
{
    struct fake *f = ctx;
    return slot >= 0 && slot < GW_API_SLOTS && f->opened[slot];
}

static bool held(void *ctx, int slot)
{
    struct fake *f = ctx;
    return open_(f, slot) && f->held[slot].len > 0;
}

static void json(void *ctx, int slot)
{
    CHECK(slot >= 0 && slot < GW_API_SLOTS);
}

static int join(void *ctx, int from, int to)
{
    CHECK(from >= 0 && from < GW_API_SLOTS && to >= 0 && to < GW_API_SLOTS && from != to);
    return 0;
}

static void write_(void *ctx, const char *data, size_t len)
{
    struct fake *f = ctx;
    CHECK(!f->over);
    CHECK(gw_buf_append(&f->out, data, len) == 0);
}

static const char *block_message(void *ctx, int slot)
{
    return "Blocked \"here\".";
}

static int scan(void *ctx, cJSON *node)
{
    if (!cJSON_IsString(node))
        return 0;
    const char *s = node->valuestring;
    if (strstr(s, "BLOCK"))
        return 1;
    if (strstr(s, "FAIL"))
        return -1;
    if (strstr(s, "SECRET") && !cJSON_SetValuestring(node, "[REDACTED]"))
        return -1;
    return 0;
}

static void tokens(void *ctx, long prompt, long completion)
{
    CHECK(prompt >= -1 && completion >= -1);
}

struct walk {
    const struct gw_api *api;
    struct gw_api_stream *s;
    bool arena;
};

static void end_with_error(struct walk *w, const char *message)
{
    if (w->arena)
        gw_json_scope_begin();
    w->api->stream_error(w->s, message, "provider_stream_error");
    if (w->arena)
        gw_json_scope_end();
}

static void end(struct walk *w)
{
    if (w->arena)
        gw_json_scope_begin();
    w->api->stream_end(w->s);
    if (w->arena)
        gw_json_scope_end();
}

/* The request path's on_sse_event: an event after the provider's end is refused. */
static int on_event(void *arg, const char *event, const char *data, size_t len)
{
    struct walk *w = arg;
    if (w->s->ended) {
        end_with_error(w, "The provider sent more after the end of its stream.");
        return -1;
    }
    if (w->arena)
        gw_json_scope_begin();
    int rc = w->api->stream_event(w->s, event, data ? data : "", len);
    if (w->arena)
        gw_json_scope_end();
    CHECK(rc == 0 || rc == -1);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gw_json_arena arena;
    static struct gw_buf tmp, scratch; /* the worker's, reused */
    static const struct gw_api *streaming[8];
    static size_t n_streaming;
    if (!arena.base) {
        gw_json_hooks_install();
        CHECK(gw_json_arena_attach(&arena, 1 << 20) == 0);
        for (size_t i = 0; gw_apis[i]; i++)
            if (gw_apis[i]->stream_event)
                streaming[n_streaming++] = gw_apis[i];
    }
    if (size == 0)
        return 0;
    struct walk w = {.api = streaming[(data[0] & 3) % n_streaming], .arena = data[0] & 64};
    struct fake *f = calloc(1, sizeof *f);
    struct gw_api_stream s = {
        .ctx = f,
        .screen = screen,
        .open = open_,
        .held = held,
        .join = join,
        .json = json,
        .write = write_,
        .block_message = block_message,
        .scan = scan,
        .tokens = tokens,
        .screen_replies = data[0] & 4,
        .unknown = (enum gw_unknown_policy)((data[0] >> 3 & 3) % 3),
        .tmp = &tmp,
        .scratch = &scratch,
        .id = "req-fuzz",
        .model = "model-fuzz",
    };
    w.s = &s;
    struct gw_sse parser = {0};
    struct fuzz_cuts cuts;
    fuzz_cuts_init(&cuts, data, size);
    /* As the request path feeds and ends a stream (server/proxy.c). */
    int rc = 0;
    for (size_t at = 1; at < size && rc == 0;) {
        size_t n = fuzz_cuts_next(&cuts, size - at);
        rc = gw_sse_feed(&parser, (const char *)data + at, n, on_event, &w);
        at += n;
    }
    if (rc == -1 && parser.error != GW_SSE_STOPPED)
        end_with_error(&w, "The provider's stream cannot be read.");
    else if (rc == 0 && (data[0] & 32) && !s.ended)
        end_with_error(&w, "The provider's stream ended early.");
    else if (rc == 0 && !(data[0] & 32) && gw_sse_end(&parser) == -1)
        end_with_error(&w, "The provider's stream cannot be read.");
    else if (rc == 0)
        end(&w);
    f->over = true;
    if (w.api->stream_free)
        w.api->stream_free(&s);
    fuzz_check_client_bytes(f->out.data, f->out.len, 1);
    CHECK(!memchr(f->out.data ? f->out.data : "", '\r', f->out.len));
    gw_sse_free(&parser);
    for (int i = 0; i < GW_API_SLOTS; i++)
        gw_buf_free(&f->held[i]);
    gw_buf_free(&f->out);
    free(f);
    return 0;
}
