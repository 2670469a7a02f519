/* A request record: what the gateway did for one request, handed by a worker to the
 * recorder thread, which writes the incident log and the KPI store from it. It carries
 * no prompt or reply text: findings keep a masked excerpt and a keyed hash only. */
#ifndef GW_KPI_RECORD_H
#define GW_KPI_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "screen/rules.h"

struct gw_finding_rec {
    char rule[64];
    char title[72]; /* the rule's plain name from its pack; "" when it has none */
    enum gw_category category;
    enum gw_severity severity;
    enum gw_action action; /* what it did (in shadow: what it would have done) */
    bool shadow;           /* in shadow: recorded, it did nothing */
    enum gw_direction direction;
    char excerpt[128]; /* masked (gw_incident_mask) */
    uint64_t value_hash; /* SipHash-2-4 of the matched value under the incident key */
    size_t value_length;
    /* Where the value lies: which text of the request (numbered by the proxy, per pass, so
     * two findings in the same text share it) and its bytes [start, end) there. Findings of
     * one category whose spans overlap in one text are one value to the KPIs, however many
     * rules matched it; start == end marks a finding with no span, counted on its own. */
    unsigned text;
    size_t start, end;
    size_t more; /* further findings of this rule and direction past the request's cap
                    (GW_REC_FINDINGS_MAX), counted here so that KPIs count every one */
};

/* Findings recorded one by one per request; past it they are counted in findings_more,
 * and the incident log gets one line that says how many ("and N more"). One megabyte of
 * "1.1.1.1 " is 125,000 findings: without the cap, 32 MB of incident log for one request. */
#define GW_REC_FINDINGS_MAX 64
/* Findings of rules in shadow recorded one by one, apart from those that acted: a
 * candidate rule that fires on everything cannot push out the findings that acted. */
#define GW_REC_SHADOW_MAX 16

struct gw_request_rec {
    int64_t ts_ms; /* when the request arrived, Unix milliseconds */
    char request_id[72];
    char tenant[72];       /* from the configured tenant header; "-" if none */
    char model[128];
    char conversation[72]; /* from the configured conversation header; "" if none */
    int status;            /* HTTP status the client got */
    bool stream;
    enum gw_action prompt_verdict; /* allow when nothing was found */
    enum gw_action reply_verdict;  /* allow when nothing was found or no reply was screened */
    bool provider_called;
    double total_ms;    /* arrival to the last byte handed to the client */
    double provider_ms; /* the provider call (0 when not called) */
    double gateway_ms;  /* total_ms - provider_ms: what the gateway added */
    long prompt_tokens;     /* from the provider's usage; -1 when unknown */
    long completion_tokens; /* -1 when unknown */
    unsigned prompt_texts;        /* prompt texts screened (messages and content parts) */
    unsigned prompt_texts_cached; /* of them, answered by the screen cache */
    size_t n_findings;
    struct gw_finding_rec *findings; /* owned by the record */
    size_t findings_more;  /* findings past GW_REC_FINDINGS_MAX: counted, not recorded */
    bool over_budget;      /* a text matched too often to be screened (fail_mode applied) */
};

/* Frees a record made with malloc and its findings. NULL is fine. */
void gw_request_rec_free(struct gw_request_rec *r);

#endif
