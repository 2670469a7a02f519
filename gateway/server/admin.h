/* The admin listener: its own thread and address (loopback by default), for the people
 * who run and own the chatbot: GET /metrics (Prometheus), /api/kpis, /api/incidents
 * (JSON, from the KPI store) and /dashboard. Optional bearer token. Never on the path of
 * a chat request. */
#ifndef GW_SERVER_ADMIN_H
#define GW_SERVER_ADMIN_H

struct gw_server;
struct gw_admin;

/* Starts the admin listener for srv on srv->cfg's admin address. NULL on failure (logged). */
struct gw_admin *gw_admin_start(struct gw_server *srv);
/* The port it listens on (when 0 was asked for). */
int gw_admin_port(const struct gw_admin *a);
void gw_admin_stop(struct gw_admin *a);

#endif
