/* The KPI store's SQL seam: one connection to SQLite (a file path: the embedded default)
 * or PostgreSQL (a postgresql:// URL: one database for a fleet of gateways), behind the
 * same few calls. The store, the queries and their tests are written once against it.
 *
 * SQL passed here is the common subset both speak: parameters are written ?1, ?2, ...
 * (rewritten to $1, $2 for PostgreSQL), sums are coalesce(sum(x), 0), upserts are
 * INSERT ... ON CONFLICT, a subquery in FROM has an alias. What differs (schema, schema
 * version, how a write transaction begins) the store asks gw_db_kind about.
 *
 * A connection belongs to one thread. */
#ifndef GW_KPI_DB_H
#define GW_KPI_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gw_db_kind { GW_DB_SQLITE, GW_DB_POSTGRES };

struct gw_db;
struct gw_db_stmt;

/* Whether where names a PostgreSQL database (postgresql:// or postgres://) rather than a
 * SQLite file. */
bool gw_db_is_url(const char *where);
/* Writes where into out with every password (the user-info's, and password= in the
 * query, percent-encoded or not) replaced by "***", for messages and logs. */
void gw_db_safe_name(const char *where, char *out, size_t outlen);
/* Replaces in msg (in place) every occurrence of a password where holds, as written or
 * decoded, by "***": for messages a driver wrote, which may quote the URL. */
void gw_db_scrub(const char *where, char *msg);
/* Whether where is a PostgreSQL URL libpq can read; false with the reason in err (which
 * never quotes the URL). A SQLite path is always fine. */
bool gw_db_url_ok(const char *where, char *err, size_t errlen);
/* Opens a connection. readonly: a SQLite file that must exist, opened read-only (a
 * PostgreSQL session is made read-only too). NULL with a message in err, which never
 * holds a password. */
struct gw_db *gw_db_open(const char *where, bool readonly, char *err, size_t errlen);
/* NULL is fine. */
void gw_db_close(struct gw_db *db);
enum gw_db_kind gw_db_kind(const struct gw_db *db);
/* The last error (never NULL). */
const char *gw_db_error(const struct gw_db *db);
/* Whether the connection is gone (the server went away): the caller closes and reopens. */
bool gw_db_broken(const struct gw_db *db);
/* Runs one or more statements without parameters or rows. 0/-1. */
int gw_db_exec(struct gw_db *db, const char *sql);
/* Starts a write transaction: one writer at a time for SQLite (BEGIN IMMEDIATE). 0/-1. */
int gw_db_begin(struct gw_db *db);
/* Ends it; rollback never fails in a way the caller can act on. */
int gw_db_commit(struct gw_db *db);
void gw_db_rollback(struct gw_db *db);

/* Pipelined writes: between on and off, gw_db_run sends a write without waiting for its
 * answer (PostgreSQL: libpq's pipeline mode; one round trip for the lot instead of one
 * each), and gw_db_changes says nothing of it; turning it off waits for every answer and
 * returns -1 if any write failed (gw_db_error says which). SQLite runs each write at once
 * anyway. 0/-1. */
int gw_db_pipeline(struct gw_db *db, bool on);

/* A statement with ?N parameters. keep: run many times on this connection (the writer's
 * statements): prepared once. NULL on error (gw_db_error). */
struct gw_db_stmt *gw_db_prepare(struct gw_db *db, const char *sql, bool keep);
/* Parameters are numbered from 1; text is copied; NULL text binds SQL NULL. Binding
 * after a run starts the statement afresh. */
void gw_db_bind_int(struct gw_db_stmt *st, int i, int64_t v);
void gw_db_bind_double(struct gw_db_stmt *st, int i, double v);
void gw_db_bind_text(struct gw_db_stmt *st, int i, const char *v);
/* Runs the statement or moves to its next row: 1 a row, 0 done, -1 error. */
int gw_db_step(struct gw_db_stmt *st);
/* Columns of the current row, numbered from 0. NULL reads as 0 and text as NULL. */
int64_t gw_db_int(struct gw_db_stmt *st, int col);
double gw_db_double(struct gw_db_stmt *st, int col);
const char *gw_db_text(struct gw_db_stmt *st, int col);
bool gw_db_null(struct gw_db_stmt *st, int col);
/* Rows the last finished run inserted, updated or deleted. */
int64_t gw_db_changes(struct gw_db_stmt *st);
/* Ready to bind and run again; bindings are cleared. */
void gw_db_reset(struct gw_db_stmt *st);
/* NULL is fine. */
void gw_db_finalize(struct gw_db_stmt *st);

/* Runs a statement to its end (a write). 0/-1; gw_db_changes then says how many rows it
 * changed, and binding again starts it afresh. */
int gw_db_run(struct gw_db_stmt *st);

#endif
