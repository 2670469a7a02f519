/* The client APIs' table, and what their files share: collecting texts, writing events,
 * screening a member of a stream event through a slot. */
#include "api/api.h"

#include <string.h>

#include "util/json.h"

const struct gw_api *const gw_apis[] = {&gw_api_openai_chat, &gw_api_anthropic_messages, NULL};

const struct gw_api *gw_api_for_path(const char *path)
{
    for (size_t i = 0; gw_apis[i]; i++) {
        const char *route = gw_apis[i]->route;
        /* "/chat/completions" too: a client whose base URL lacks /v1 */
        if (strcmp(path, route) == 0 || strcmp(path, route + 3) == 0)
            return gw_apis[i];
    }
    return NULL;
}

long gw_api_count(const cJSON *n)
{
    if (!cJSON_IsNumber(n) || !(n->valuedouble >= 0 && n->valuedouble < 1e12))
        return -1;
    return (long)n->valuedouble;
}

void gw_api_request_free(struct gw_api_request *r)
{
    cJSON_Delete(r->root);
    gw_text_refs_free(&r->texts);
    memset(r, 0, sizeof *r);
}

int gw_api_refs_push(struct gw_text_refs *t, cJSON *node)
{
    if (gw_grow(&t->v, &t->cap, t->n, sizeof *t->v, 8) == -1)
        return -1;
    t->v[t->n++] = node;
    return 0;
}

int gw_api_refs_push_all(struct gw_text_refs *t, cJSON *node)
{
    if (cJSON_IsString(node))
        return gw_api_refs_push(t, node);
    if (cJSON_IsObject(node) || cJSON_IsArray(node))
        for (cJSON *c = node->child; c; c = c->next)
            if (gw_api_refs_push_all(t, c) == -1)
                return -1;
    return 0;
}

int gw_api_write_event(struct gw_api_stream *s, const char *name, const cJSON *ev)
{
    char *json = cJSON_PrintUnformatted(ev);
    if (!json)
        return -1;
    if (name) {
        s->write(s->ctx, "event: ", 7);
        s->write(s->ctx, name, strlen(name));
        s->write(s->ctx, "\n", 1);
    }
    s->write(s->ctx, "data: ", 6);
    s->write(s->ctx, json, strlen(json));
    s->write(s->ctx, "\n\n", 2);
    cJSON_free(json);
    return 0;
}

int gw_api_screen_member(struct gw_api_stream *s, int slot, cJSON *parent, const char *name,
                         bool finishing, bool *released)
{
    struct gw_buf *tmp = s->tmp;
    cJSON *node = cJSON_GetObjectItemCaseSensitive(parent, name);
    if (node && !cJSON_IsString(node) && !cJSON_IsNull(node))
        return -1; /* parts or an object: not screened, so not passed */
    int rc = 0;
    gw_buf_reset(tmp);
    if (cJSON_IsString(node))
        rc = s->screen(s->ctx, slot, node->valuestring, strlen(node->valuestring), tmp);
    if (rc == 0 && finishing && s->open(s->ctx, slot))
        rc = s->screen(s->ctx, slot, NULL, 0, tmp);
    if (rc != 0)
        return rc;
    if (cJSON_IsString(node) || tmp->len > 0) {
        const char *text = tmp->data ? tmp->data : "";
        if (node ? gw_openai_set_text(node, text) != 0 /* a null member becomes the text */
                 : !cJSON_AddStringToObject(parent, name, text))
            return -1;
    }
    if (tmp->len > 0)
        *released = true;
    return 0;
}
