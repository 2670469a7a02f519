/* The dashboard: one self-contained HTML page (inline CSS and JS, charts as inline SVG,
 * no request to any other host), served by the admin listener at /dashboard. It reads
 * /api/kpis and /api/incidents from the same origin (docs/kpis.md has their shapes).
 * The bytes are embedded at build time from gateway/admin/dashboard.html. */
#ifndef GW_ADMIN_DASHBOARD_H
#define GW_ADMIN_DASHBOARD_H

#include <stddef.h>

/* The page, NUL-terminated; gw_dashboard_html_len does not count the NUL. */
extern const char gw_dashboard_html[];
extern const size_t gw_dashboard_html_len;

#endif
