/* The KPIs in the API's words: the JSON of /api/kpis and /api/incidents (docs/kpis.md
 * describes every field), and the plain-language sentence of each category, which the
 * dashboard and `guardrail report` show as they are. */
#ifndef GW_KPI_RENDER_H
#define GW_KPI_RENDER_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "kpi/query.h"

/* /api/kpis without its "value" (NULL when out of memory). */
cJSON *gw_render_kpis(const struct gw_kpis *k);
/* /api/kpis's "value": what the figures are worth, with the assumptions, and (prev, when
 * not NULL) the same amounts for the previous period. */
cJSON *gw_render_value(const struct gw_value *v, const struct gw_value_counts *c,
                       const struct gw_value_result *r, const struct gw_value_counts *prev_c,
                       const struct gw_value_result *prev);
/* /api/incidents. */
cJSON *gw_render_incidents(const struct gw_incident_page *p);
/* The sentence of category c in t ("3 attempts to hijack the assistant were stopped
 * before reaching the provider."), into out. */
void gw_render_summary(const struct gw_kpi_totals *t, enum gw_category c, char *out,
                       size_t outlen);
/* The categories in the order the summary lists them. */
extern const enum gw_category gw_render_summary_order[GW_CAT__COUNT];
/* "1,234" */
void gw_render_count(int64_t n, char *out, size_t outlen);

#endif
