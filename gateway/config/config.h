/* The gateway's YAML configuration (docs/configuration.md documents every key).
 * Unknown keys and bad values stop start-up with a message naming the key. */
#ifndef GW_CONFIG_CONFIG_H
#define GW_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kpi/value.h"

enum gw_fail_mode { GW_FAIL_CLOSED, GW_FAIL_OPEN };
enum gw_block_style { GW_BLOCK_COMPLETION, GW_BLOCK_ERROR };
enum gw_role { GW_ROLE_USER = 1, GW_ROLE_SYSTEM = 2, GW_ROLE_ASSISTANT = 4, GW_ROLE_TOOL = 8 };

/* Which client calls the provider (providers[].http_client; see upstream/upstream.h). */
enum gw_upstream_client {
    GW_CLIENT_AUTO,   /* native for http:// unless a proxy variable is set; else libcurl */
    GW_CLIENT_NATIVE, /* native for every http:// URL; libcurl for the rest */
    GW_CLIENT_CURL,   /* libcurl for everything */
};

/* The kinds of provider, each speaking some of the client APIs (api/api.h says which;
 * there is no translation between APIs). */
enum gw_provider_type {
    GW_PROVIDER_OPENAI = 1,    /* OpenAI and every OpenAI-compatible server */
    GW_PROVIDER_ANTHROPIC = 2, /* Anthropic's Messages API */
    GW_PROVIDER_MOCK = 4,      /* the built-in mock: speaks every API */
};

struct gw_provider {
    char *name;
    bool mock;         /* the built-in mock provider: no network, no key */
    enum gw_provider_type type;
    char *base_url;    /* e.g. http://127.0.0.1:9000/v1 (no trailing slash; an Anthropic
                          provider's ends in /v1 too, added when the file leaves it out) */
    char *api_key;     /* from the environment; NULL: forward the client's Authorization */
    char *api_key_env; /* the variable it came from, for messages */
    long connect_timeout_ms;
    long timeout_ms;
    enum gw_upstream_client http_client;
};

/* What a request's metadata may become in records (kpi/privacy.h; the privacy section). */
struct gw_privacy {
    char **tenants; /* the tenants recorded by name; NULL: any that matches the pattern */
    size_t n_tenants;
    char **models; /* the models recorded by name; NULL: any that matches the pattern */
    size_t n_models;
    int max_tenants; /* distinct tenants the KPI store and /metrics keep; more: "other" */
    int max_models;  /* distinct models the KPI store keeps; more: "other" */
    char *hash_key;  /* the conversation key's secret (from ${ENV}); NULL: the key file */
    char *key_file;  /* NULL: KPI_DB.key when there is a store (set at start to the path used) */
    uint8_t key[16]; /* the conversation key, filled at start by gw_privacy_key_init */
};

struct gw_passthrough {
    char *method;
    char *path;
};

/* A policy (policies: in the config): what one brand's or channel's requests are screened
 * with, chosen by the tenant header. Its targets are pack names or rule ids, checked
 * against the rules when they load (gw_policy_compile in server.c). */
struct gw_policy_target {
    char *target;
    int action;    /* enum gw_action; GW_ACTION_ALLOW: the rule is off */
    char *message; /* for messages: the answer when it blocks */
};
struct gw_policy_cfg {
    char *name;
    char **packs; /* the packs that apply; NULL: all */
    size_t n_packs;
    char **shadow; /* packs or rules evaluated and recorded, never acting */
    size_t n_shadow;
    bool shadow_all; /* shadow: true: the whole policy */
    struct gw_policy_target *actions; /* overrides of a pack's or a rule's action */
    size_t n_actions;
    struct gw_policy_target *messages; /* a pack's or a rule's answer when it blocks */
    size_t n_messages;
    char **tenants; /* the tenant header values it serves */
    size_t n_tenants;
    char **keys; /* the API keys (from the environment) of the chatbots it serves */
    size_t n_keys;
    char *block_message; /* NULL: policy.block_message */
    char **models;       /* the models its chatbots may call; NULL: policy.models */
    size_t n_models;
    int fail_mode;       /* enum gw_fail_mode; -1: policy.fail_mode */
    int screen_replies;  /* 0/1; -1: policy.screen_replies */
};

struct gw_config {
    char *listen_host;
    int listen_port;
    int workers; /* 0: one per core */
    char **rules;
    size_t n_rules;
    char **shadow_rules; /* rule paths loaded with the rules, every rule of them in shadow
                            (candidates: also in rules) */
    size_t n_shadow_rules;
    char **required_packs; /* pack names the rules must have, at start and at each reload */
    size_t n_required_packs;
    struct gw_provider provider; /* the first in the file: --upstream overrides it */
    struct gw_provider *more;    /* the others, in the file's order */
    size_t n_more;
    enum gw_fail_mode fail_mode;
    unsigned screen_roles; /* GW_ROLE_* bits: the roles with any category screened */
    /* Per role (by the bit's index: user, system, assistant, tool), the categories whose
     * findings count in its texts: bits 1 << GW_CAT_*; 0: the role is not screened. */
    unsigned role_categories[4];
    int unknown_fields; /* enum gw_unknown_policy: reply members no API file knows */
    /* policy.media: pass images, audio, files and audio output on unscreened (the
     * operator's choice); false (refuse, the default): a request with one is answered 400 */
    bool media_pass;
    bool screen_replies;
    enum gw_block_style block_style;
    char *block_message; /* default answer when a blocking rule has no message */
    char **models;       /* policy.models: the models chatbots may call; NULL: any */
    size_t n_models;
    char *incident_log;  /* NULL: no incident log */
    char *tenant_header;
    char *conversation_header;
    char *kpi_db;          /* KPI store: a SQLite file or a postgresql:// URL; NULL: none */
    char *kpi_instance;    /* this gateway's name in a shared store; NULL: the host name */
    long kpi_buffer_records; /* records held while the store is away */
    int retention_days;
    struct gw_value value; /* kpi.value: what the KPIs are worth in money */
    char *admin_host;      /* the admin listener (metrics, KPIs, dashboard); NULL: off */
    int admin_port;
    char *admin_token;     /* bearer token the admin listener requires; NULL: none */
    char *hash_key; /* key of the incident hashes; NULL: a random key per start */
    struct gw_privacy privacy;
    size_t max_body_bytes;
    int idle_timeout_s;
    int header_timeout_s; /* a request's header block, from its first byte */
    int body_timeout_s;   /* a request's body, from the end of its headers */
    int max_connections;  /* client connections open at once; past it accepting pauses */
    size_t max_reply_bytes;    /* a reply read whole (not streamed), at most */
    size_t reply_buffer_bytes; /* all replies read whole at once, at most */
    int drain_timeout_s;
    size_t max_client_buffer; /* bytes queued to a slow client before the provider pauses */
    size_t screen_cache_entries; /* per worker, texts remembered as clean; 0: none */
    int screen_budget_ms;  /* screening time a request may spend in block scans; 0: none */
    struct gw_passthrough *passthrough;
    size_t n_passthrough;
    char *log_level;
    struct gw_policy_cfg *policies; /* per tenant; "default" serves the others */
    size_t n_policies;
};

/* The policy that serves a request: the one whose keys hold key (the API key the chatbot
 * calls with; NULL: none), else the one whose tenants hold tenant (the raw tenant header
 * value; NULL: none), else the one named "default"; -1: none (the rules as written, and
 * the top-level policy settings). A key is a secret: it is compared in constant time, and
 * it wins over the header, which any client can set. */
int gw_config_policy_for(const struct gw_config *cfg, const char *tenant, const char *key);
/* The policy whose keys hold key; -1: none. */
int gw_config_policy_of_key(const struct gw_config *cfg, const char *key);

/* Adds a rules path (a pack file or folder). 0 or -1 (out of memory). */
int gw_config_add_rules(struct gw_config *cfg, const char *path);
/* Adds a rules path whose rules all load in shadow (guardrail serve --shadow-rules): they
 * are evaluated on live traffic and recorded, never acting. 0 or -1 (out of memory). */
int gw_config_add_shadow_rules(struct gw_config *cfg, const char *path);
/* Adds a pack name to required_packs. Returns 0 or -1 (out of memory). */
int gw_config_require_pack(struct gw_config *cfg, const char *name);

/* Loads path into cfg (defaults first, then the file). Returns 0, or -1 with a message in
 * err naming the key (file:line: key: what is wrong). */
int gw_config_load(struct gw_config *cfg, const char *path, char *err, size_t errlen);
/* The same, for tools that read a gateway's config but not its secrets (guardrail report,
 * try): a ${VAR} that is not set leaves its key empty instead of failing. */
int gw_config_load_for_tools(struct gw_config *cfg, const char *path, char *err,
                             size_t errlen);
/* Whether s can name a gateway in a shared KPI store (kpi.instance): 1 to 63 of
 * [A-Za-z0-9._:-]. */
bool gw_config_instance_ok(const char *s);
/* Fills cfg with the defaults only (used when no file is given). */
void gw_config_defaults(struct gw_config *cfg);
/* Parses "HOST:PORT" ("[::1]:8080" for IPv6) into cfg's listen address. Returns 0 or -1. */
int gw_config_set_listen(struct gw_config *cfg, const char *hostport);
/* Parses "HOST:PORT" into the admin listener address. Returns 0 or -1. */
int gw_config_set_admin(struct gw_config *cfg, const char *hostport);
/* Sets the provider base URL (a trailing slash is removed); turns off the mock. */
int gw_config_set_upstream(struct gw_config *cfg, const char *url);
/* Sets *client from "auto", "native" or "curl". Returns 0, or -1 for any other name. */
int gw_config_set_http_client(enum gw_upstream_client *client, const char *name);
/* True when the native client is asked for but the provider is not on http://. */
bool gw_config_native_mismatch(const struct gw_provider *p);
/* The first provider (in the file's order) whose type is one of types, or NULL. */
const struct gw_provider *gw_config_provider_for(const struct gw_config *cfg, unsigned types);
void gw_config_free(struct gw_config *cfg);

#endif
