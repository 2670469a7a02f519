#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "api/openai.h"   /* enum gw_unknown_policy */
#include "kpi/privacy.h"  /* what a list entry may be */
#include "screen/rules.h" /* category names */
#include "util/buf.h"

void gw_config_defaults(struct gw_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->listen_host = strdup("127.0.0.1");
    cfg->listen_port = 8080;
    cfg->rules = calloc(1, sizeof *cfg->rules);
    cfg->rules[0] = strdup("rules");
    cfg->n_rules = 1;
    cfg->provider.name = strdup("mock");
    cfg->provider.mock = true;
    cfg->provider.type = GW_PROVIDER_MOCK;
    cfg->provider.connect_timeout_ms = 3000;
    cfg->provider.timeout_ms = 120000;
    cfg->fail_mode = GW_FAIL_CLOSED;
    /* Customers' words are screened for everything, tool results (a web page or an e-mail
     * the bot reads: the road of indirect injection) for injection. */
    cfg->role_categories[0] = ~0u;
    cfg->role_categories[3] = 1u << GW_CAT_INJECTION;
    cfg->screen_roles = GW_ROLE_USER | GW_ROLE_TOOL;
    cfg->screen_replies = true;
    cfg->block_style = GW_BLOCK_COMPLETION;
    cfg->block_message = strdup("Sorry, I can't help with that here. Is there anything else I "
                                "can do for you?");
    cfg->tenant_header = strdup("x-guardrail-tenant");
    cfg->conversation_header = strdup("x-guardrail-conversation");
    cfg->retention_days = 90;
    cfg->kpi_buffer_records = 100000;
    gw_value_defaults(&cfg->value);
    cfg->privacy.max_tenants = 100;
    cfg->privacy.max_models = 50;
    cfg->max_body_bytes = 1 << 20;
    cfg->screen_budget_ms = 1000;
    cfg->idle_timeout_s = 60;
    cfg->header_timeout_s = 10;
    cfg->body_timeout_s = 60;
    cfg->max_connections = 4096;
    cfg->max_reply_bytes = 32u << 20;
    cfg->reply_buffer_bytes = 64u << 20;
    cfg->drain_timeout_s = 10;
    cfg->max_client_buffer = 256 * 1024;
    cfg->screen_cache_entries = 16384;
    cfg->log_level = strdup("info");
}

int gw_config_add_rules(struct gw_config *cfg, const char *path)
{
    char **r = realloc(cfg->rules, (cfg->n_rules + 1) * sizeof *r);
    if (!r)
        return -1;
    cfg->rules = r;
    if (!(r[cfg->n_rules] = strdup(path)))
        return -1;
    cfg->n_rules++;
    return 0;
}

int gw_config_add_shadow_rules(struct gw_config *cfg, const char *path)
{
    char **r = realloc(cfg->rules, (cfg->n_rules + 1) * sizeof *r);
    if (!r)
        return -1;
    cfg->rules = r;
    char **s = realloc(cfg->shadow_rules, (cfg->n_shadow_rules + 1) * sizeof *s);
    if (!s)
        return -1;
    cfg->shadow_rules = s;
    if (!(r[cfg->n_rules] = strdup(path)))
        return -1;
    if (!(s[cfg->n_shadow_rules] = strdup(path))) {
        free(r[cfg->n_rules]);
        return -1;
    }
    cfg->n_rules++;
    cfg->n_shadow_rules++;
    return 0;
}

int gw_config_require_pack(struct gw_config *cfg, const char *name)
{
    char **t = realloc(cfg->required_packs, (cfg->n_required_packs + 1) * sizeof *t);
    if (!t)
        return -1;
    cfg->required_packs = t;
    if (!(t[cfg->n_required_packs] = strdup(name)))
        return -1;
    cfg->n_required_packs++;
    return 0;
}

static void provider_free(struct gw_provider *p)
{
    free(p->name);
    free(p->base_url);
    free(p->api_key);
    free(p->api_key_env);
}

const struct gw_provider *gw_config_provider_for(const struct gw_config *cfg, unsigned types)
{
    if (cfg->provider.type & types)
        return &cfg->provider;
    for (size_t i = 0; i < cfg->n_more; i++)
        if (cfg->more[i].type & types)
            return &cfg->more[i];
    return NULL;
}

static void policy_free(struct gw_policy_cfg *p);

void gw_config_free(struct gw_config *cfg)
{
    gw_value_free(&cfg->value);
    free(cfg->listen_host);
    for (size_t i = 0; i < cfg->n_rules; i++)
        free(cfg->rules[i]);
    free(cfg->rules);
    for (size_t i = 0; i < cfg->n_required_packs; i++)
        free(cfg->required_packs[i]);
    free(cfg->required_packs);
    for (size_t i = 0; i < cfg->n_shadow_rules; i++)
        free(cfg->shadow_rules[i]);
    free(cfg->shadow_rules);
    provider_free(&cfg->provider);
    for (size_t i = 0; i < cfg->n_more; i++)
        provider_free(&cfg->more[i]);
    free(cfg->more);
    free(cfg->block_message);
    for (size_t i = 0; i < cfg->n_models; i++)
        free(cfg->models[i]);
    free(cfg->models);
    free(cfg->incident_log);
    free(cfg->tenant_header);
    free(cfg->conversation_header);
    free(cfg->kpi_db);
    free(cfg->kpi_instance);
    for (size_t i = 0; i < cfg->n_policies; i++)
        policy_free(&cfg->policies[i]);
    free(cfg->policies);
    free(cfg->admin_host);
    free(cfg->admin_token);
    free(cfg->hash_key);
    for (size_t i = 0; i < cfg->privacy.n_tenants; i++)
        free(cfg->privacy.tenants[i]);
    free(cfg->privacy.tenants);
    for (size_t i = 0; i < cfg->privacy.n_models; i++)
        free(cfg->privacy.models[i]);
    free(cfg->privacy.models);
    free(cfg->privacy.hash_key);
    free(cfg->privacy.key_file);
    for (size_t i = 0; i < cfg->n_passthrough; i++) {
        free(cfg->passthrough[i].method);
        free(cfg->passthrough[i].path);
    }
    free(cfg->passthrough);
    free(cfg->log_level);
    memset(cfg, 0, sizeof *cfg);
}

int gw_config_set_listen(struct gw_config *cfg, const char *hostport)
{
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport)
        return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1)
        return -1;
    const char *h = hostport;
    size_t hl = (size_t)(colon - hostport);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    free(cfg->listen_host);
    cfg->listen_host = strndup(h, hl);
    cfg->listen_port = (int)port;
    return 0;
}

int gw_config_set_admin(struct gw_config *cfg, const char *hostport)
{
    char *host = cfg->listen_host;
    int port = cfg->listen_port;
    cfg->listen_host = NULL;
    int rc = gw_config_set_listen(cfg, hostport);
    if (rc == 0) {
        free(cfg->admin_host);
        cfg->admin_host = cfg->listen_host;
        cfg->admin_port = cfg->listen_port;
    }
    cfg->listen_host = host;
    cfg->listen_port = port;
    return rc;
}

int gw_config_set_upstream(struct gw_config *cfg, const char *url)
{
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return -1;
    free(cfg->provider.base_url);
    cfg->provider.base_url = strdup(url);
    size_t n = strlen(cfg->provider.base_url);
    while (n > 0 && cfg->provider.base_url[n - 1] == '/')
        cfg->provider.base_url[--n] = '\0';
    cfg->provider.mock = false;
    if (cfg->provider.type == GW_PROVIDER_MOCK)
        cfg->provider.type = GW_PROVIDER_OPENAI;
    return 0;
}

/* ---- the YAML walk ---- */

struct cl {
    yaml_document_t *doc;
    const char *file;
    const char *dir; /* the config file's folder, absolute: relative paths start there */
    char *err;
    size_t errlen;
    int failed;
    bool secrets_optional; /* gw_config_load_for_tools: an unset ${VAR} is no error */
};

static int fail(struct cl *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct cl *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
    if (c->failed++)
        return -1; /* the first error is the one reported */
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "%s:%d: %s: %s", c->file, n ? (int)n->start_mark.line + 1 : 1,
             key, msg);
    return -1;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A string value; ${VAR} (the whole value) is replaced by the environment variable. */
static int get_string(struct cl *c, yaml_node_t *n, const char *key, char **out)
{
    const char *s = scalar(n);
    if (!s)
        return fail(c, n, key, "must be a string");
    free(*out);
    *out = strdup(s);
    return 0;
}

/* A path the file gave, made absolute against the config file's folder: the file means the
 * same from any working directory, and errors name the file they could not open. An
 * absolute path, a URL (scheme://) and SQLite's ":memory:" stay as written. Returns a new
 * string, or NULL when out of memory. */
static char *file_path(const struct cl *c, const char *s)
{
    if (s[0] == '/' || s[0] == ':' || strstr(s, "://") || !c->dir)
        return strdup(s);
    while (s[0] == '.' && s[1] == '/')
        s += 2 + strspn(s + 2, "/");
    size_t n = strlen(c->dir) + strlen(s) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", c->dir, *s ? "/" : "", s);
    return p;
}

/* A string value that names a file or folder (file_path). */
static int get_path(struct cl *c, yaml_node_t *n, const char *key, char **out)
{
    if (get_string(c, n, key, out) == -1 || !*out)
        return -1;
    char *p = file_path(c, *out);
    free(*out);
    *out = p;
    return 0;
}

static int get_int(struct cl *c, yaml_node_t *n, const char *key, long min, long max, long *out)
{
    const char *s = scalar(n);
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < min || v > max)
        return fail(c, n, key, "must be a whole number from %ld to %ld", min, max);
    *out = v;
    return 0;
}

static int get_bool(struct cl *c, yaml_node_t *n, const char *key, bool *out)
{
    const char *s = scalar(n);
    if (s && (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0))
        *out = true;
    else if (s && (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0))
        *out = false;
    else
        return fail(c, n, key, "must be true or false");
    return 0;
}

/* "${NAME}" -> the variable's value. Keys must come from the environment. */
static int get_secret(struct cl *c, yaml_node_t *n, const char *key, char **value, char **var)
{
    const char *s = scalar(n);
    size_t len = s ? strlen(s) : 0;
    if (!s || len < 4 || s[0] != '$' || s[1] != '{' || s[len - 1] != '}')
        return fail(c, n, key,
                    "must name an environment variable, like ${OPENAI_API_KEY}; never write "
                    "a key in the file");
    free(*var);
    *var = strndup(s + 2, len - 3);
    const char *v = getenv(*var);
    if ((!v || !*v) && c->secrets_optional) { /* a tool that does not use it */
        free(*value);
        *value = NULL;
        return 0;
    }
    if (!v || !*v)
        return fail(c, n, key, "environment variable %s is not set", *var);
    free(*value);
    *value = strdup(v);
    return 0;
}

#define FOR_EACH_PAIR(c, map, k, v)                                                                \
    for (yaml_node_pair_t *p_ = (map)->data.mapping.pairs.start;                                   \
         p_ < (map)->data.mapping.pairs.top &&                                                     \
         ((k) = yaml_document_get_node((c)->doc, p_->key),                                         \
         (v) = yaml_document_get_node((c)->doc, p_->value), 1);                                    \
         p_++)

static int want_map(struct cl *c, yaml_node_t *n, const char *key)
{
    if (!n || n->type != YAML_MAPPING_NODE)
        return fail(c, n, key, "must be a mapping");
    return 0;
}

static int want_seq(struct cl *c, yaml_node_t *n, const char *key)
{
    if (!n || n->type != YAML_SEQUENCE_NODE)
        return fail(c, n, key, "must be a list");
    return 0;
}

int gw_config_set_http_client(enum gw_upstream_client *client, const char *name)
{
    static const char *const names[] = {[GW_CLIENT_AUTO] = "auto", [GW_CLIENT_NATIVE] = "native",
                                        [GW_CLIENT_CURL] = "curl"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i]) == 0) {
            *client = (enum gw_upstream_client)i;
            return 0;
        }
    }
    return -1;
}

bool gw_config_native_mismatch(const struct gw_provider *p)
{
    return p->http_client == GW_CLIENT_NATIVE && p->base_url &&
           strncasecmp(p->base_url, "http://", 7) != 0;
}

static void parse_provider(struct cl *c, yaml_node_t *map, struct gw_provider *p)
{
    yaml_node_t *k, *v;
    long num;
    bool have_type = false;
    yaml_node_t *client_node = map;
    if (want_map(c, map, "providers[]"))
        return;
    FOR_EACH_PAIR(c, map, k, v)
    {
        const char *key = scalar(k);
        if (!key) {
            fail(c, k, "providers[]", "keys must be strings");
        } else if (strcmp(key, "name") == 0) {
            get_string(c, v, "providers[].name", &p->name);
        } else if (strcmp(key, "type") == 0) {
            const char *t = scalar(v);
            if (t && strcmp(t, "mock") == 0)
                p->mock = true, p->type = GW_PROVIDER_MOCK;
            else if (t && strcmp(t, "openai") == 0)
                p->mock = false, p->type = GW_PROVIDER_OPENAI;
            else if (t && strcmp(t, "anthropic") == 0)
                p->mock = false, p->type = GW_PROVIDER_ANTHROPIC;
            else
                fail(c, v, "providers[].type", "must be openai, anthropic or mock");
            have_type = true;
        } else if (strcmp(key, "base_url") == 0) {
            char *url = NULL;
            if (get_string(c, v, "providers[].base_url", &url) == 0) {
                bool mock = p->mock;
                enum gw_provider_type type = p->type;
                struct gw_config tmp = {.provider = *p};
                if (gw_config_set_upstream(&tmp, url) == -1)
                    fail(c, v, "providers[].base_url", "must start with http:// or https://");
                *p = tmp.provider;
                p->mock = mock;
                p->type = type;
            }
            free(url);
        } else if (strcmp(key, "api_key") == 0) {
            get_secret(c, v, "providers[].api_key", &p->api_key, &p->api_key_env);
        } else if (strcmp(key, "connect_timeout_ms") == 0) {
            if (get_int(c, v, "providers[].connect_timeout_ms", 1, 600000, &num) == 0)
                p->connect_timeout_ms = num;
        } else if (strcmp(key, "timeout_ms") == 0) {
            if (get_int(c, v, "providers[].timeout_ms", 1, 3600000, &num) == 0)
                p->timeout_ms = num;
        } else if (strcmp(key, "http_client") == 0) {
            const char *t = scalar(v);
            if (!t || gw_config_set_http_client(&p->http_client, t) == -1)
                fail(c, v, "providers[].http_client", "must be auto, native or curl");
            client_node = v;
        } else {
            fail(c, k, key,
                 "unknown provider key (expected name, type, base_url, api_key, "
                 "connect_timeout_ms, timeout_ms, http_client)");
        }
    }
    if (gw_config_native_mismatch(p))
        fail(c, client_node, "providers[].http_client",
             "native speaks plain http:// only; use auto or curl for an https:// provider");
    if (!have_type) {
        p->mock = p->name && strcmp(p->name, "mock") == 0 && !p->base_url;
        p->type = p->mock ? GW_PROVIDER_MOCK : GW_PROVIDER_OPENAI;
    }
    if (!p->mock && !p->base_url)
        fail(c, map, "providers[].base_url", "is required for a real provider");
    size_t n = p->base_url ? strlen(p->base_url) : 0;
    if (p->type == GW_PROVIDER_ANTHROPIC && n && (n < 3 || strcmp(p->base_url + n - 3, "/v1"))) {
        /* as the Anthropic SDK takes it (https://api.anthropic.com): the API is under /v1 */
        char *u = malloc(n + 4);
        if (u) {
            snprintf(u, n + 4, "%s/v1", p->base_url);
            free(p->base_url);
            p->base_url = u;
        }
    }
}

/* The role index of name (user 0, system 1 with developer, assistant 2, tool 3), or -1. */
static int role_index(const char *name)
{
    static const char *const names[] = {"user", "system", "assistant", "tool"};
    for (int i = 0; name && i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return name && strcmp(name, "developer") == 0 ? 1 : -1;
}

/* A role's categories: "all", or a list of category names. */
static unsigned parse_categories(struct cl *c, yaml_node_t *v)
{
    const char *all = scalar(v);
    if (all && strcmp(all, "all") == 0)
        return ~0u;
    if (want_seq(c, v, "policy.screen_roles"))
        return 0;
    unsigned mask = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(c->doc, *it);
        const char *name = scalar(item);
        int found = -1;
        for (int k = 0; name && k < GW_CAT__COUNT; k++)
            if (strcmp(name, gw_category_name((enum gw_category)k)) == 0)
                found = k;
        if (found < 0)
            fail(c, item, "policy.screen_roles",
                 "each category must be pii, secret, injection, unsafe, brand or cx");
        else
            mask |= 1u << found;
    }
    return mask;
}

/* screen_roles: a list of roles (each screened for every category), or a map from role to
 * "all" or a list of categories. */
static void parse_screen_roles(struct cl *c, yaml_node_t *v, struct gw_config *cfg)
{
    memset(cfg->role_categories, 0, sizeof cfg->role_categories);
    if (v->type == YAML_MAPPING_NODE) {
        yaml_node_t *k, *val;
        FOR_EACH_PAIR(c, v, k, val)
        {
            int i = role_index(scalar(k));
            if (i < 0)
                fail(c, k, "policy.screen_roles",
                     "each role must be user, system, developer, assistant or tool");
            else
                cfg->role_categories[i] = parse_categories(c, val);
        }
    } else if (!want_seq(c, v, "policy.screen_roles")) {
        for (yaml_node_item_t *it = v->data.sequence.items.start;
             it < v->data.sequence.items.top; it++) {
            yaml_node_t *item = yaml_document_get_node(c->doc, *it);
            int i = role_index(scalar(item));
            if (i < 0)
                fail(c, item, "policy.screen_roles",
                     "each role must be user, system, developer, assistant or tool");
            else
                cfg->role_categories[i] = ~0u;
        }
    }
    cfg->screen_roles = 0;
    for (int i = 0; i < 4; i++)
        if (cfg->role_categories[i])
            cfg->screen_roles |= 1u << i;
}

static void parse_strings(struct cl *c, yaml_node_t *seq, const char *key, char ***out, size_t *n);

static void parse_policy(struct cl *c, yaml_node_t *map, struct gw_config *cfg)
{
    yaml_node_t *k, *v;
    if (want_map(c, map, "policy"))
        return;
    FOR_EACH_PAIR(c, map, k, v)
    {
        const char *key = scalar(k), *s = scalar(v);
        if (!key) {
            fail(c, k, "policy", "keys must be strings");
        } else if (strcmp(key, "fail_mode") == 0) {
            if (s && strcmp(s, "closed") == 0)
                cfg->fail_mode = GW_FAIL_CLOSED;
            else if (s && strcmp(s, "open") == 0)
                cfg->fail_mode = GW_FAIL_OPEN;
            else
                fail(c, v, "policy.fail_mode", "must be closed or open");
        } else if (strcmp(key, "block_style") == 0) {
            if (s && strcmp(s, "completion") == 0)
                cfg->block_style = GW_BLOCK_COMPLETION;
            else if (s && strcmp(s, "error") == 0)
                cfg->block_style = GW_BLOCK_ERROR;
            else
                fail(c, v, "policy.block_style", "must be completion or error");
        } else if (strcmp(key, "screen_roles") == 0) {
            parse_screen_roles(c, v, cfg);
        } else if (strcmp(key, "unknown_fields") == 0) {
            if (s && strcmp(s, "screen") == 0)
                cfg->unknown_fields = GW_UNKNOWN_SCREEN;
            else if (s && strcmp(s, "strip") == 0)
                cfg->unknown_fields = GW_UNKNOWN_STRIP;
            else if (s && strcmp(s, "refuse") == 0)
                cfg->unknown_fields = GW_UNKNOWN_REFUSE;
            else
                fail(c, v, "policy.unknown_fields", "must be screen, strip or refuse");
        } else if (strcmp(key, "media") == 0) {
            if (s && (strcmp(s, "refuse") == 0 || strcmp(s, "pass") == 0))
                cfg->media_pass = strcmp(s, "pass") == 0;
            else
                fail(c, v, "policy.media", "must be refuse or pass");
        } else if (strcmp(key, "screen_replies") == 0) {
            get_bool(c, v, "policy.screen_replies", &cfg->screen_replies);
        } else if (strcmp(key, "block_message") == 0) {
            get_string(c, v, "policy.block_message", &cfg->block_message);
        } else if (strcmp(key, "models") == 0) {
            parse_strings(c, v, "policy.models", &cfg->models, &cfg->n_models);
        } else {
            fail(c, k, key,
                 "unknown policy key (expected fail_mode, screen_roles, screen_replies, "
                 "unknown_fields, media, block_style, block_message, models)");
        }
    }
}

/* ---- policies: per tenant ---- */

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void policy_free(struct gw_policy_cfg *p)
{
    free(p->name);
    free_list(p->packs, p->n_packs);
    free_list(p->shadow, p->n_shadow);
    free_list(p->tenants, p->n_tenants);
    free_list(p->models, p->n_models);
    for (size_t i = 0; i < p->n_keys; i++) /* secrets: wiped before they go */
        if (p->keys[i])
            memset(p->keys[i], 0, strlen(p->keys[i]));
    free_list(p->keys, p->n_keys);
    for (size_t i = 0; i < p->n_actions; i++)
        free(p->actions[i].target);
    free(p->actions);
    for (size_t i = 0; i < p->n_messages; i++) {
        free(p->messages[i].target);
        free(p->messages[i].message);
    }
    free(p->messages);
    free(p->block_message);
}

/* A list of strings (pack names, rule ids, tenants) into *out. */
static void parse_strings(struct cl *c, yaml_node_t *seq, const char *key, char ***out, size_t *n)
{
    if (want_seq(c, seq, key))
        return;
    size_t items = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    free_list(*out, *n);
    *n = 0;
    if (!(*out = calloc(items ? items : 1, sizeof **out)))
        return;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        const char *s = scalar(yaml_document_get_node(c->doc, *it));
        if (!s || !*s)
            fail(c, yaml_document_get_node(c->doc, *it), key, "each entry must be a name");
        else
            (*out)[(*n)++] = strdup(s);
    }
}

/* actions: {TARGET: block|redact|flag|off} or messages: {TARGET: TEXT}. */
static void parse_targets(struct cl *c, yaml_node_t *map, const char *key, bool messages,
                          struct gw_policy_target **out, size_t *n)
{
    yaml_node_t *k, *v;
    if (want_map(c, map, key))
        return;
    size_t items = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (!(*out = calloc(items ? items : 1, sizeof **out)))
        return;
    FOR_EACH_PAIR(c, map, k, v)
    {
        const char *t = scalar(k), *s = scalar(v);
        struct gw_policy_target x = {0};
        if (!t || !*t) {
            fail(c, k, key, "keys must be pack names or rule ids");
            continue;
        }
        if (messages) {
            if (!s || !*s) {
                fail(c, v, key, "'%s': the message must be text", t);
                continue;
            }
            x.message = strdup(s);
        } else if (s && strcmp(s, "off") == 0) {
            x.action = GW_ACTION_ALLOW;
        } else {
            enum gw_action a;
            if (!s || gw_action_parse(s, &a) == -1 || a == GW_ACTION_ALLOW) {
                fail(c, v, key, "'%s': must be block, redact, flag or off", t);
                continue;
            }
            x.action = (int)a;
        }
        x.target = strdup(t);
        (*out)[(*n)++] = x;
    }
}

/* keys: [${VAR}, ...]: the API keys of a brand's chatbots, from the environment. */
static void parse_keys(struct cl *c, yaml_node_t *seq, const char *key, struct gw_policy_cfg *p)
{
    if (want_seq(c, seq, key))
        return;
    size_t items = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (!(p->keys = calloc(items ? items : 1, sizeof *p->keys)))
        return;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        char *value = NULL, *var = NULL;
        if (get_secret(c, yaml_document_get_node(c->doc, *it), key, &value, &var) == 0 &&
            value) /* NULL: a tool's load, the variable unset */
            p->keys[p->n_keys++] = value;
        else
            free(value);
        free(var);
    }
}

static void parse_one_policy(struct cl *c, const char *name, yaml_node_t *map,
                             struct gw_policy_cfg *p)
{
    yaml_node_t *k, *v;
    char key[96];
    p->name = strdup(name);
    p->fail_mode = -1;
    p->screen_replies = -1;
    snprintf(key, sizeof key, "policies.%s", name);
    if (want_map(c, map, key))
        return;
    FOR_EACH_PAIR(c, map, k, v)
    {
        const char *kk = scalar(k), *s = scalar(v);
        char sub[160];
        snprintf(sub, sizeof sub, "policies.%s.%s", name, kk ? kk : "?");
        if (!kk)
            fail(c, k, key, "keys must be strings");
        else if (strcmp(kk, "packs") == 0)
            parse_strings(c, v, sub, &p->packs, &p->n_packs);
        else if (strcmp(kk, "tenants") == 0)
            parse_strings(c, v, sub, &p->tenants, &p->n_tenants);
        else if (strcmp(kk, "keys") == 0)
            parse_keys(c, v, sub, p);
        else if (strcmp(kk, "shadow") == 0) {
            if (s && (strcmp(s, "true") == 0 || strcmp(s, "false") == 0))
                p->shadow_all = strcmp(s, "true") == 0;
            else
                parse_strings(c, v, sub, &p->shadow, &p->n_shadow);
        } else if (strcmp(kk, "actions") == 0)
            parse_targets(c, v, sub, false, &p->actions, &p->n_actions);
        else if (strcmp(kk, "messages") == 0)
            parse_targets(c, v, sub, true, &p->messages, &p->n_messages);
        else if (strcmp(kk, "block_message") == 0)
            get_string(c, v, sub, &p->block_message);
        else if (strcmp(kk, "models") == 0)
            parse_strings(c, v, sub, &p->models, &p->n_models);
        else if (strcmp(kk, "fail_mode") == 0) {
            if (s && (strcmp(s, "closed") == 0 || strcmp(s, "open") == 0))
                p->fail_mode = strcmp(s, "open") == 0 ? GW_FAIL_OPEN : GW_FAIL_CLOSED;
            else
                fail(c, v, sub, "must be closed or open");
        } else if (strcmp(kk, "screen_replies") == 0) {
            bool b = true;
            if (get_bool(c, v, sub, &b) == 0)
                p->screen_replies = b;
        } else
            fail(c, k, kk,
                 "unknown key in a policy (expected tenants, keys, packs, shadow, actions, "
                 "messages, block_message, models, fail_mode, screen_replies)");
    }
}

static void parse_policies(struct cl *c, yaml_node_t *map, struct gw_config *cfg)
{
    yaml_node_t *k, *v;
    if (want_map(c, map, "policies"))
        return;
    if (cfg->policies) { /* the last would win silently, and a brand lose its policy */
        fail(c, map, "policies", "is given twice: put every policy under one policies key");
        return;
    }
    size_t items = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (!(cfg->policies = calloc(items ? items : 1, sizeof *cfg->policies)))
        return;
    FOR_EACH_PAIR(c, map, k, v)
    {
        const char *name = scalar(k);
        if (!name || !gw_config_instance_ok(name)) {
            fail(c, k, "policies", "a policy's name must be 1 to 63 letters, digits, '.', '-', "
                                   "'_' or ':'");
            continue;
        }
        for (size_t i = 0; i < cfg->n_policies; i++)
            if (strcmp(cfg->policies[i].name, name) == 0)
                fail(c, k, "policies", "'%s' is named twice", name);
        parse_one_policy(c, name, v, &cfg->policies[cfg->n_policies++]);
    }
    /* a key in two policies would pick whichever came first (the key is not named: it is
     * a secret) */
    for (size_t i = 0; i < cfg->n_policies; i++)
        for (size_t a = 0; a < cfg->policies[i].n_keys; a++)
            for (size_t j = 0; j < i; j++)
                for (size_t u = 0; u < cfg->policies[j].n_keys; u++)
                    if (strcmp(cfg->policies[i].keys[a], cfg->policies[j].keys[u]) == 0)
                        fail(c, map, "policies", "the same key is in both '%s' and '%s'",
                             cfg->policies[j].name, cfg->policies[i].name);
    /* a tenant served by two policies would be served by whichever came first */
    for (size_t i = 0; i < cfg->n_policies; i++)
        for (size_t t = 0; t < cfg->policies[i].n_tenants; t++)
            for (size_t j = 0; j < i; j++)
                for (size_t u = 0; u < cfg->policies[j].n_tenants; u++)
                    if (strcmp(cfg->policies[i].tenants[t], cfg->policies[j].tenants[u]) == 0)
                        fail(c, map, "policies", "tenant '%s' is in both '%s' and '%s'",
                             cfg->policies[i].tenants[t], cfg->policies[j].name,
                             cfg->policies[i].name);
}

/* Whether a and b are equal, in time that depends on their lengths only. */
static bool same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

int gw_config_policy_of_key(const struct gw_config *cfg, const char *key)
{
    int by_key = -1;
    for (size_t i = 0; key && *key && i < cfg->n_policies; i++)
        for (size_t k = 0; k < cfg->policies[i].n_keys; k++)
            if (same_secret(cfg->policies[i].keys[k], key) && by_key < 0)
                by_key = (int)i; /* no early exit: every key is compared */
    return by_key;
}

int gw_config_policy_for(const struct gw_config *cfg, const char *tenant, const char *key)
{
    int fallback = -1, by_key = gw_config_policy_of_key(cfg, key);
    if (by_key >= 0)
        return by_key;
    for (size_t i = 0; i < cfg->n_policies; i++) {
        const struct gw_policy_cfg *p = &cfg->policies[i];
        for (size_t t = 0; tenant && t < p->n_tenants; t++)
            if (strcmp(p->tenants[t], tenant) == 0)
                return (int)i;
        if (strcmp(p->name, "default") == 0)
            fallback = (int)i;
    }
    return fallback;
}

static void parse_limits(struct cl *c, yaml_node_t *map, struct gw_config *cfg)
{
    yaml_node_t *k, *v;
    long num;
    if (want_map(c, map, "limits"))
        return;
    FOR_EACH_PAIR(c, map, k, v)
    {
        const char *key = scalar(k);
        if (!key) {
            fail(c, k, "limits", "keys must be strings");
        } else if (strcmp(key, "max_body_bytes") == 0) {
            if (get_int(c, v, "limits.max_body_bytes", 1024, 256L << 20, &num) == 0)
                cfg->max_body_bytes = (size_t)num;
        } else if (strcmp(key, "idle_timeout_s") == 0) {
            if (get_int(c, v, "limits.idle_timeout_s", 1, 3600, &num) == 0)
                cfg->idle_timeout_s = (int)num;
        } else if (strcmp(key, "header_timeout_s") == 0) {
            if (get_int(c, v, "limits.header_timeout_s", 1, 3600, &num) == 0)
                cfg->header_timeout_s = (int)num;
        } else if (strcmp(key, "body_timeout_s") == 0) {
            if (get_int(c, v, "limits.body_timeout_s", 1, 3600, &num) == 0)
                cfg->body_timeout_s = (int)num;
        } else if (strcmp(key, "max_connections") == 0) {
            if (get_int(c, v, "limits.max_connections", 1, 1000000, &num) == 0)
                cfg->max_connections = (int)num;
        } else if (strcmp(key, "max_reply_bytes") == 0) {
            if (get_int(c, v, "limits.max_reply_bytes", 4096, 1L << 30, &num) == 0)
                cfg->max_reply_bytes = (size_t)num;
        } else if (strcmp(key, "reply_buffer_bytes") == 0) {
            if (get_int(c, v, "limits.reply_buffer_bytes", 4096, 16L << 30, &num) == 0)
                cfg->reply_buffer_bytes = (size_t)num;
        } else if (strcmp(key, "drain_timeout_s") == 0) {
            if (get_int(c, v, "limits.drain_timeout_s", 0, 3600, &num) == 0)
                cfg->drain_timeout_s = (int)num;
        } else if (strcmp(key, "max_client_buffer_bytes") == 0) {
            if (get_int(c, v, "limits.max_client_buffer_bytes", 4096, 64L << 20, &num) == 0)
                cfg->max_client_buffer = (size_t)num;
        } else if (strcmp(key, "screen_budget_ms") == 0) {
            if (get_int(c, v, "limits.screen_budget_ms", 0, 600000, &num) == 0)
                cfg->screen_budget_ms = (int)num;
        } else if (strcmp(key, "screen_cache_entries") == 0) {
            if (get_int(c, v, "limits.screen_cache_entries", 0, 1L << 24, &num) == 0)
                cfg->screen_cache_entries = (size_t)num;
        } else {
            fail(c, k, key,
                 "unknown limits key (expected max_body_bytes, idle_timeout_s, "
                 "header_timeout_s, body_timeout_s, max_connections, max_reply_bytes, "
                 "reply_buffer_bytes, drain_timeout_s, max_client_buffer_bytes, "
                 "screen_cache_entries, screen_budget_ms)");
        }
    }
}

static void parse_incidents(struct cl *c, yaml_node_t *map, struct gw_config *cfg)
{
    yaml_node_t *k, *v;
    char *unused = NULL;
    if (want_map(c, map, "incidents"))
        return;
    FOR_EACH_PAIR(c, map, k, v)
    {
        const char *key = scalar(k);
        if (!key)
            fail(c, k, "incidents", "keys must be strings");
        else if (strcmp(key, "path") == 0)
            get_path(c, v, "incidents.path", &cfg->incident_log);
        else if (strcmp(key, "tenant_header") == 0)
            get_string(c, v, "incidents.tenant_header", &cfg->tenant_header);
        else if (strcmp(key, "hash_key") == 0)
            get_secret(c, v, "incidents.hash_key", &cfg->hash_key, &unused);
        else
            fail(c, k, key, "unknown incidents key (expected path, tenant_header, hash_key)");
    }
    free(unused);
}

static int get_money(struct cl *c, yaml_node_t *n, const char *key, int64_t *out)
{
    const char *s = scalar(n);
    if (!s || gw_value_parse(s, out) == -1)
        return fail(c, n, key, "must be an amount like 2.50 (not negative, at most 6 "
                               "decimals)");
    return 0;
}

/* One entry of kpi.value.prices: {prompt: AMOUNT, completion: AMOUNT} per million tokens;
 * what it leaves out is the default's. */
static void parse_price(struct cl *c, yaml_node_t *map, const char *name, struct gw_value *val)
{
    yaml_node_t *k, *v;
    if (want_map(c, map, "kpi.value.prices"))
        return;
    const struct gw_price *d = gw_value_price(val, "");
    int64_t prompt = d ? d->prompt : 0, completion = d ? d->completion : 0;
    int rc = 0;
    FOR_EACH_PAIR(c, map, k, v)
    {
        const char *key = scalar(k);
        if (key && strcmp(key, "prompt") == 0)
            rc |= get_money(c, v, "kpi.value.prices.prompt", &prompt);
        else if (key && strcmp(key, "completion") == 0)
            rc |= get_money(c, v, "kpi.value.prices.completion", &completion);
        else
            rc |= fail(c, k, key ? key : "?",
                       "unknown price key (expected prompt, completion: per million tokens)");
    }
    if (rc == 0)
        gw_value_set_price(val, strcmp(name, "default") == 0 ? "" : name, prompt, completion);
}

/* kpi.value.prices: {MODEL_PREFIX or default: {prompt: AMOUNT, completion: AMOUNT}} */
static void parse_prices(struct cl *c, yaml_node_t *map, struct gw_value *val)
{
    yaml_node_t *k, *v;
    if (want_map(c, map, "kpi.value.prices"))
        return;
    FOR_EACH_PAIR(c, map, k, v)
    {
        const char *name = scalar(k);
        if (!name || !*name)
            fail(c, k, "kpi.value.prices", "keys are model names (or prefixes), or default");
        else
            parse_price(c, v, name, val);
    }
}

static void parse_value(struct cl *c, yaml_node_t *map, struct gw_value *val)
{
    yaml_node_t *k, *v;
    if (want_map(c, map, "kpi.value"))
        return;
    FOR_EACH_PAIR(c, map, k, v)
    {
        const char *key = scalar(k);
        if (!key) {
            fail(c, k, "kpi.value", "keys must be strings");
        } else if (strcmp(key, "currency") == 0) {
            const char *s = scalar(v);
            if (!s || strlen(s) != 3 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3)
                fail(c, v, "kpi.value.currency", "must be a currency code like USD or EUR");
            else
                snprintf(val->currency, sizeof val->currency, "%s", s);
        } else if (strcmp(key, "personal_data_record") == 0) {
            get_money(c, v, "kpi.value.personal_data_record", &val->personal_data_record);
        } else if (strcmp(key, "secret") == 0) {
            get_money(c, v, "kpi.value.secret", &val->secret);
        } else if (strcmp(key, "handoff") == 0) {
            get_money(c, v, "kpi.value.handoff", &val->handoff);
        } else if (strcmp(key, "handoff_rule") == 0) {
            get_string(c, v, "kpi.value.handoff_rule", &val->handoff_rule);
        } else if (strcmp(key, "prices") == 0) {
            parse_prices(c, v, val);
        } else {
            fail(c, k, key, "unknown kpi.value key (expected currency, prices, "
                            "personal_data_record, secret, handoff, handoff_rule)");
        }
    }
}

bool gw_config_instance_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    bool alnum = false; /* "-" alone names rows no gateway wrote: not a gateway's name */
    if (n == 0 || n > 63)
        return false;
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && !strchr(".-_:", *s))
            return false;
        alnum |= isalnum((unsigned char)*s) != 0;
    }
    return alnum;
}

static void parse_kpi(struct cl *c, yaml_node_t *map, struct gw_config *cfg)
{
    yaml_node_t *k, *v;
    long num;
    if (want_map(c, map, "kpi"))
        return;
    FOR_EACH_PAIR(c, map, k, v)
    {
        const char *key = scalar(k);
        if (!key)
            fail(c, k, "kpi", "keys must be strings");
        else if (strcmp(key, "db") == 0)
            get_path(c, v, "kpi.db", &cfg->kpi_db);
        else if (strcmp(key, "instance") == 0) {
            if (get_string(c, v, "kpi.instance", &cfg->kpi_instance) == 0 &&
                !gw_config_instance_ok(cfg->kpi_instance))
                fail(c, v, "kpi.instance",
                     "must be 1 to 63 letters, digits, '.', '-', '_' or ':', with a letter or "
                     "digit (a name for this gateway, such as gateway-1)");
        } else if (strcmp(key, "buffer_records") == 0) {
            if (get_int(c, v, "kpi.buffer_records", 0, 10000000, &num) == 0)
                cfg->kpi_buffer_records = num;
        } else if (strcmp(key, "retention_days") == 0) {
            if (get_int(c, v, "kpi.retention_days", 1, 3650, &num) == 0)
                cfg->retention_days = (int)num;
        } else if (strcmp(key, "conversation_header") == 0)
            get_string(c, v, "kpi.conversation_header", &cfg->conversation_header);
        else if (strcmp(key, "value") == 0)
            parse_value(c, v, &cfg->value);
        else
            fail(c, k, key,
                 "unknown kpi key (expected db, instance, buffer_records, retention_days, "
                 "conversation_header, value)");
    }
}

/* A list of tenant or model names, each one that a record may carry as it is. */
static void parse_names(struct cl *c, yaml_node_t *seq, const char *key, size_t max, char ***out,
                        size_t *n)
{
    if (want_seq(c, seq, key))
        return;
    for (size_t i = 0; i < *n; i++)
        free((*out)[i]);
    free(*out);
    *n = 0;
    size_t items = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (items == 0) {
        *out = NULL;
        fail(c, seq, key,
             "must list at least one name (leave the key out to keep any name "
             "that matches the pattern)");
        return;
    }
    if (!(*out = calloc(items, sizeof **out)))
        return;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(c->doc, *it);
        const char *s = scalar(item);
        if (!s || !gw_privacy_list_entry_ok(s, max)) {
            fail(c, item, key,
                 "each name must be 1 to %zu printable ASCII characters without "
                 "spaces, quotes or backslashes",
                 max);
            continue;
        }
        if (gw_privacy_pii_like(s)) {
            fail(c, item, key, "'%s' looks like personal data (an e-mail or a phone number)", s);
            continue;
        }
        (*out)[(*n)++] = strdup(s);
    }
}

static void parse_privacy(struct cl *c, yaml_node_t *map, struct gw_config *cfg)
{
    yaml_node_t *k, *v;
    long num;
    char *unused = NULL;
    struct gw_privacy *p = &cfg->privacy;
    if (want_map(c, map, "privacy"))
        return;
    FOR_EACH_PAIR(c, map, k, v)
    {
        const char *key = scalar(k);
        if (!key)
            fail(c, k, "privacy", "keys must be strings");
        else if (strcmp(key, "tenants") == 0)
            parse_names(c, v, "privacy.tenants", GW_PRIVACY_TENANT_MAX, &p->tenants, &p->n_tenants);
        else if (strcmp(key, "models") == 0)
            parse_names(c, v, "privacy.models", GW_PRIVACY_MODEL_MAX, &p->models, &p->n_models);
        else if (strcmp(key, "max_tenants") == 0) {
            if (get_int(c, v, "privacy.max_tenants", 1, GW_PRIVACY_CAP_MAX, &num) == 0)
                p->max_tenants = (int)num;
        } else if (strcmp(key, "max_models") == 0) {
            if (get_int(c, v, "privacy.max_models", 1, GW_PRIVACY_CAP_MAX, &num) == 0)
                p->max_models = (int)num;
        } else if (strcmp(key, "hash_key") == 0)
            get_secret(c, v, "privacy.hash_key", &p->hash_key, &unused);
        else if (strcmp(key, "key_file") == 0) {
            const char *s = scalar(v);
            if (!s || !*s)
                fail(c, v, "privacy.key_file", "must be a file path");
            else
                get_path(c, v, "privacy.key_file", &p->key_file);
        } else
            fail(c, k, key,
                 "unknown privacy key (expected tenants, models, max_tenants, "
                 "max_models, hash_key, key_file)");
    }
    free(unused);
}

static void parse_admin(struct cl *c, yaml_node_t *map, struct gw_config *cfg)
{
    yaml_node_t *k, *v;
    char *unused = NULL;
    if (want_map(c, map, "admin"))
        return;
    FOR_EACH_PAIR(c, map, k, v)
    {
        const char *key = scalar(k), *s = scalar(v);
        if (!key)
            fail(c, k, "admin", "keys must be strings");
        else if (strcmp(key, "listen") == 0) {
            if (!s || gw_config_set_admin(cfg, s) == -1)
                fail(c, v, "admin.listen", "must be HOST:PORT, like 127.0.0.1:9090");
        } else if (strcmp(key, "token") == 0)
            get_secret(c, v, "admin.token", &cfg->admin_token, &unused);
        else
            fail(c, k, key, "unknown admin key (expected listen, token)");
    }
    free(unused);
}

static void parse_passthrough(struct cl *c, yaml_node_t *seq, struct gw_config *cfg)
{
    if (want_seq(c, seq, "passthrough"))
        return;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(c->doc, *it);
        const char *s = scalar(item);
        const char *sp = s ? strchr(s, ' ') : NULL;
        if (!sp || sp[1] != '/') {
            fail(c, item, "passthrough", "each item must be \"METHOD /path\", like \"GET /v1/models\"");
            continue;
        }
        struct gw_passthrough *v =
            realloc(cfg->passthrough, (cfg->n_passthrough + 1) * sizeof *v);
        if (!v)
            return;
        cfg->passthrough = v;
        v[cfg->n_passthrough].method = strndup(s, (size_t)(sp - s));
        v[cfg->n_passthrough].path = strdup(sp + 1);
        cfg->n_passthrough++;
    }
}

static void parse_root(struct cl *c, yaml_node_t *root, struct gw_config *cfg)
{
    yaml_node_t *k, *v;
    long num;
    if (want_map(c, root, "(top level)"))
        return;
    FOR_EACH_PAIR(c, root, k, v)
    {
        const char *key = scalar(k);
        if (!key) {
            fail(c, k, "(top level)", "keys must be strings");
        } else if (strcmp(key, "listen") == 0) {
            const char *s = scalar(v);
            if (!s || gw_config_set_listen(cfg, s) == -1)
                fail(c, v, "listen", "must be HOST:PORT, like 127.0.0.1:8080");
        } else if (strcmp(key, "workers") == 0) {
            if (get_int(c, v, "workers", 0, 256, &num) == 0)
                cfg->workers = (int)num;
        } else if (strcmp(key, "required_packs") == 0) {
            if (want_seq(c, v, "required_packs") == 0)
                for (yaml_node_item_t *it = v->data.sequence.items.start;
                     it < v->data.sequence.items.top; it++) {
                    yaml_node_t *n = yaml_document_get_node(c->doc, *it);
                    const char *s = scalar(n);
                    if (!s || !*s)
                        fail(c, n, "required_packs", "must be a list of pack names");
                    else
                        gw_config_require_pack(cfg, s);
                }
        } else if (strcmp(key, "rules") == 0) {
            for (size_t i = 0; i < cfg->n_rules; i++)
                free(cfg->rules[i]);
            cfg->n_rules = 0;
            if (v->type == YAML_SCALAR_NODE) {
                cfg->rules[0] = file_path(c, scalar(v));
                cfg->n_rules = 1;
            } else if (want_seq(c, v, "rules") == 0) {
                size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
                char **r = realloc(cfg->rules, (n ? n : 1) * sizeof *r);
                if (!r)
                    continue;
                cfg->rules = r;
                for (yaml_node_item_t *it = v->data.sequence.items.start;
                     it < v->data.sequence.items.top; it++) {
                    const char *s = scalar(yaml_document_get_node(c->doc, *it));
                    if (s)
                        cfg->rules[cfg->n_rules++] = file_path(c, s);
                }
                if (cfg->n_rules == 0)
                    fail(c, v, "rules", "must name at least one directory or file");
            }
        } else if (strcmp(key, "providers") == 0) {
            if (want_seq(c, v, "providers"))
                continue;
            if (v->data.sequence.items.top == v->data.sequence.items.start) {
                fail(c, v, "providers", "must list at least one provider");
                continue;
            }
            /* Each client API goes to the first provider whose type speaks it. */
            size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            for (size_t i = 0; i < cfg->n_more; i++) /* a second providers key */
                provider_free(&cfg->more[i]);
            free(cfg->more);
            cfg->n_more = 0;
            cfg->more = n > 1 ? calloc(n - 1, sizeof *cfg->more) : NULL;
            for (size_t i = 0; i < n; i++) {
                struct gw_provider p = {.connect_timeout_ms = cfg->provider.connect_timeout_ms,
                                        .timeout_ms = cfg->provider.timeout_ms};
                parse_provider(c, yaml_document_get_node(c->doc, v->data.sequence.items.start[i]),
                               &p);
                if (!p.name)
                    p.name = strdup(p.mock ? "mock" : "provider");
                if (i == 0) {
                    provider_free(&cfg->provider);
                    cfg->provider = p;
                } else if (cfg->more) {
                    cfg->more[cfg->n_more++] = p;
                } else {
                    provider_free(&p);
                }
            }
        } else if (strcmp(key, "policy") == 0) {
            parse_policy(c, v, cfg);
        } else if (strcmp(key, "policies") == 0) {
            parse_policies(c, v, cfg);
        } else if (strcmp(key, "incidents") == 0) {
            parse_incidents(c, v, cfg);
        } else if (strcmp(key, "limits") == 0) {
            parse_limits(c, v, cfg);
        } else if (strcmp(key, "passthrough") == 0) {
            parse_passthrough(c, v, cfg);
        } else if (strcmp(key, "kpi") == 0) {
            parse_kpi(c, v, cfg);
        } else if (strcmp(key, "admin") == 0) {
            parse_admin(c, v, cfg);
        } else if (strcmp(key, "privacy") == 0) {
            parse_privacy(c, v, cfg);
        } else if (strcmp(key, "log_level") == 0) {
            const char *s = scalar(v);
            if (!s || (strcmp(s, "error") && strcmp(s, "warn") && strcmp(s, "info") &&
                       strcmp(s, "debug")))
                fail(c, v, "log_level", "must be error, warn, info or debug");
            else
                get_string(c, v, "log_level", &cfg->log_level);
        } else {
            fail(c, k, key,
                 "unknown key (expected listen, workers, rules, required_packs, providers, policy, policies, incidents, "
                 "kpi, privacy, admin, limits, passthrough, log_level)");
        }
    }
}

static int load(struct gw_config *cfg, const char *path, bool secrets_optional, char *err,
                size_t errlen);

int gw_config_load(struct gw_config *cfg, const char *path, char *err, size_t errlen)
{
    return load(cfg, path, false, err, errlen);
}

int gw_config_load_for_tools(struct gw_config *cfg, const char *path, char *err, size_t errlen)
{
    return load(cfg, path, true, err, errlen);
}

static int load(struct gw_config *cfg, const char *path, bool secrets_optional, char *err,
                size_t errlen)
{
    gw_config_defaults(cfg);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%zu: YAML syntax error: %s", path, parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "?");
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    /* the folder as written, then absolute (the file itself may be a link elsewhere) */
    char dir[PATH_MAX], abs[PATH_MAX];
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    if (slash == path)
        snprintf(dir, sizeof dir, "/");
    struct cl c = {.doc = &doc, .file = path, .dir = realpath(dir, abs) ? abs : NULL,
                   .err = err, .errlen = errlen, .secrets_optional = secrets_optional};
    if (c.dir && strcmp(c.dir, "/") == 0)
        c.dir = ""; /* "/" + "/" + name would be "//name" */
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root)
        parse_root(&c, root, cfg);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return c.failed ? -1 : 0;
}
