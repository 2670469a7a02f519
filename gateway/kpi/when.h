/* The one parser of dates and times the KPI readers take (the admin API's from and to,
 * guardrail report's --from and --to). */
#ifndef GW_KPI_WHEN_H
#define GW_KPI_WHEN_H

#include <stdbool.h>
#include <stdint.h>

/* Parses s into Unix milliseconds: Unix milliseconds (six digits or more), a date
 * YYYY-MM-DD (its midnight UTC, or with end_of_day the next midnight), or ISO 8601
 * YYYY-MM-DDTHH:MM[:SS[.mmm]] with Z or +HH:MM (no zone: UTC). Returns 0 or -1. */
int gw_parse_when(const char *s, bool end_of_day, int64_t *out);

#endif
