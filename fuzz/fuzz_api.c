/* libFuzzer target for the client APIs' readers (gateway/api/): a client's request
 * (parse_request) or a provider's whole reply (parse_reply, usage, redacted), and the
 * gateway's own answers built from what a request carries (refusal, error).
 *
 * The first byte chooses: bits 0-2 the API (index into gw_apis, modulo their count), bit 3
 * a reply instead of a request, bits 4-7 the roles screened (a request) or the unknown
 * member policy (a reply, modulo 3). The rest is the body. Checks: every text to screen is
 * a node of the parsed document; a refused request says why; the document prints as JSON
 * that reads back; a refusal or an error answer is well-formed JSON (or SSE events of JSON)
 * whatever the model name the client sent. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "fuzz.h"

static size_t n_apis(void)
{
    size_t n = 0;
    while (gw_apis[n])
        n++;
    return n;
}

/* Every node of a tree, sorted by address, to look refs up in. */
struct nodes {
    const cJSON **v;
    size_t n, cap;
};

static void collect(struct nodes *ns, const cJSON *node)
{
    if (ns->n == ns->cap) {
        ns->cap = ns->cap ? ns->cap * 2 : 64;
        ns->v = realloc(ns->v, ns->cap * sizeof *ns->v);
        CHECK(ns->v);
    }
    ns->v[ns->n++] = node;
    for (const cJSON *c = node->child; c; c = c->next)
        collect(ns, c);
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(const cJSON *const *)a, y = (uintptr_t)*(const cJSON *const *)b;
    return x < y ? -1 : x > y;
}

/* Every text to screen is a node of the document (so a rewrite changes what is sent). */
static void check_refs(const cJSON *root, const struct gw_text_refs *t)
{
    struct nodes ns = {0};
    collect(&ns, root);
    qsort(ns.v, ns.n, sizeof *ns.v, by_address);
    CHECK(t->n <= t->cap);
    for (size_t i = 0; i < t->n; i++)
        CHECK(t->v[i] && bsearch(&t->v[i], ns.v, ns.n, sizeof *ns.v, by_address));
    free(ns.v);
}

/* The document as the gateway forwards it after a rewrite reads back as JSON. */
static void check_prints(const cJSON *root)
{
    char *s = cJSON_PrintUnformatted(root);
    CHECK(s);
    fuzz_check_client_bytes(s, strlen(s), 0);
    cJSON_free(s);
}

static void request(const struct gw_api *api, unsigned roles, const char *body, size_t len)
{
    struct gw_api_request r = {0};
    char err[256] = "";
    const char *param = NULL;
    if (api->parse_request(&r, body, len, roles, err, sizeof err, &param) != 0) {
        CHECK(err[0] != '\0');
        gw_api_request_free(&r);
        return;
    }
    CHECK(r.root);
    check_refs(r.root, &r.texts);
    check_prints(r.root);
    /* The answers to this request: the model name is the client's own text. */
    const char *model = r.model ? r.model : "unknown";
    struct gw_buf out = {0};
    if (api->refusal) {
        api->refusal(&out, "req-fuzz", model, "Not \"here\".\n", r.stream);
        fuzz_check_client_bytes(out.data, out.len, r.stream);
        gw_buf_reset(&out);
    }
    api->error(&out, model, "invalid_request_error", model, "fuzz");
    fuzz_check_client_bytes(out.data, out.len, 0);
    gw_buf_free(&out);
    gw_api_request_free(&r);
}

static void reply(const struct gw_api *api, enum gw_unknown_policy unknown, const char *body,
                  size_t len)
{
    struct gw_text_refs t = {0};
    t.unknown = unknown;
    cJSON *root = api->parse_reply(body, len, &t);
    if (root) {
        check_refs(root, &t);
        long prompt = 0, completion = 0;
        api->usage(root, &prompt, &completion);
        CHECK(prompt >= -1 && completion >= -1);
        if (api->redacted)
            api->redacted(root);
        check_prints(root);
    }
    cJSON_Delete(root);
    gw_text_refs_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const struct gw_api *api = gw_apis[(data[0] & 7) % n_apis()];
    const char *body = (const char *)data + 1;
    if (data[0] & 8)
        reply(api, (enum gw_unknown_policy)((data[0] >> 4) % 3), body, size - 1);
    else
        request(api, data[0] >> 4, body, size - 1);
    return 0;
}
