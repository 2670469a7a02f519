/* What a request's metadata becomes in records: the tenant, the model, the conversation
 * id and the request id are data too. Integrations put a customer's e-mail or phone in a
 * conversation id or a request id, and a client can send 2,000 model names. Records (the
 * incident log, the KPI store, /api/incidents, /metrics and log lines) get:
 *   - a tenant or model that matches its pattern and does not look like personal data
 *     (or, when the config lists them, one of the list), else "other";
 *   - the client's x-request-id only when it matches its pattern and does not look like
 *     personal data (the caller generates one otherwise);
 *   - a conversation id only as a keyed hash (16 hex digits of SipHash-2-4), so the same
 *     conversation keeps one id and the raw value is written nowhere.
 * docs/configuration.md (privacy) documents the keys; docs/kpis.md the behaviour. */
#ifndef GW_KPI_PRIVACY_H
#define GW_KPI_PRIVACY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* The label every value that is not kept is counted under. */
#define GW_PRIVACY_OTHER "other"
/* The longest tenant, model and request id kept (bytes). */
#define GW_PRIVACY_TENANT_MAX 64
#define GW_PRIVACY_MODEL_MAX 100
#define GW_PRIVACY_REQUEST_ID_MAX 64
/* The most privacy.max_tenants and max_models may be (/metrics keeps a slot per tenant). */
#define GW_PRIVACY_CAP_MAX 500

/* Whether v looks like personal data or a secret: a credential (a token behind an
 * issuer's prefix such as "sk-", "ghp_" or "AKIA", or 32 letters and digits in a row with
 * capitals, small letters and digits), an e-mail (something, '@', then a '.' after it, or
 * "at" spelled out between separators, then a '.' or a domain word), or nine or more digits
 * in one run with separators (space . - _ ( ) + / :) between them, anywhere in v, or seven
 * or more when v is nothing but such a run. Dates (YYYYMMDD, YYYY-MM-DD) do not count as
 * digits, and hex ids (UUIDs, trace ids) pass unless they hold 13 decimal digits in a row
 * (whole groups of decimal digits run on across dashes).
 * The patterns of tenants and request ids leave out '@' anyway; this also screens the
 * config's lists, where a model may be "name@version". */
bool gw_privacy_pii_like(const char *v);
/* Whether a client's x-request-id may be kept: 1 to 64 of [A-Za-z0-9._:-], not PII-like. */
bool gw_privacy_request_id_ok(const char *v);
/* Whether v may be an entry of a tenant or model list in the config: 1 to max bytes of
 * printable ASCII without space, quote or backslash. */
bool gw_privacy_list_entry_ok(const char *v, size_t max);

/* The tenant recorded for header value v (NULL or "": "-"): with a tenant list, v when
 * listed; without one, v when it is 1 to 64 of [A-Za-z0-9._-] and not PII-like; else
 * "other". out holds at least GW_PRIVACY_TENANT_MAX + 1 bytes. */
void gw_privacy_tenant(const struct gw_privacy *p, const char *v, char *out, size_t outlen);
/* The model recorded for the request's model v (NULL, "" or "-": "-"): as for tenants,
 * with 1 to 100 of [A-Za-z0-9._:/-]. out holds at least GW_PRIVACY_MODEL_MAX + 1 bytes. */
void gw_privacy_model(const struct gw_privacy *p, const char *v, char *out, size_t outlen);
/* The conversation id recorded for header value v: "" when v is NULL or "", else 16 hex
 * digits of SipHash-2-4(key, v). out holds at least 17 bytes. */
void gw_privacy_conversation(const uint8_t key[16], const char *v, char *out, size_t outlen);

/* The pseudonym that replaces an identifier sent to the provider with personal data in it
 * (an app's "user": "jane.doe@example.com"): "gr-" and 16 hex digits of SipHash-2-4 of
 * v[0, len) under a key derived from key, so that the same identifier gets the same
 * pseudonym while the key stays, and none the hash of a conversation id with the same
 * text. out holds at least GW_PRIVACY_PSEUDONYM_MAX + 1 bytes. */
#define GW_PRIVACY_PSEUDONYM_MAX 19
void gw_privacy_pseudonym(const uint8_t key[16], const char *v, size_t len, char *out,
                          size_t outlen);

/* Where the conversation key came from (for the start-up log). */
enum gw_privacy_key_source {
    GW_PRIVACY_KEY_SECRET,  /* privacy.hash_key, from the environment */
    GW_PRIVACY_KEY_FILE,    /* read from the key file */
    GW_PRIVACY_KEY_CREATED, /* a random key, written to the key file just now */
    GW_PRIVACY_KEY_RANDOM,  /* a random key for this run only: no secret, no file */
};

/* Fills p->key: from p->hash_key when set; else from the key file (p->key_file, or
 * KPI_DB.key when kpi_db is set), creating it with a random key (mode 0600) when it does
 * not exist; else a random key for this run. The file holds 32 hex digits. Returns 0 with
 * *src set, or -1 with a message in err (an unreadable or malformed key file). */
int gw_privacy_key_init(struct gw_privacy *p, const char *kpi_db, enum gw_privacy_key_source *src,
                        char *err, size_t errlen);

#endif
