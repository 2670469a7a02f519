/* Logging: one macro that checks the level before formatting anything.
 * Lines go to stderr as "LEVEL [request-id] message". Never pass raw PII or secrets. */
#ifndef GW_UTIL_LOG_H
#define GW_UTIL_LOG_H

enum gw_log_level { GW_LOG_ERROR, GW_LOG_WARN, GW_LOG_INFO, GW_LOG_DEBUG };

extern enum gw_log_level gw_log_level;

void gw_log_write(enum gw_log_level level, const char *reqid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Parses "error", "warn", "info", "debug"; returns 0 or -1. */
int gw_log_parse_level(const char *name, enum gw_log_level *out);

#define GW_LOG(level, reqid, ...)                                                                  \
    do {                                                                                           \
        if ((level) <= gw_log_level)                                                               \
            gw_log_write((level), (reqid), __VA_ARGS__);                                           \
    } while (0)

#endif
