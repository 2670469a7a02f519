/* The check of what the gateway writes to a client (fuzz.h), for the client API targets. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "api/api.h"

static void check_json(const char *s, size_t len)
{
    cJSON *j = gw_api_parse(s, len);
    CHECK(j);
    cJSON_Delete(j);
}

void fuzz_check_client_bytes(const char *out, size_t len, int sse)
{
    if (!out)
        out = ""; /* nothing written yet */
    if (!sse) {
        check_json(out, len);
        return;
    }
    const char *p = out, *end = out + len;
    while (p < end) {
        const char *ev = memmem(p, (size_t)(end - p), "\n\n", 2);
        CHECK(ev); /* every event ends with an empty line */
        if (strncmp(p, "event: ", 7) == 0) {
            const char *nl = memchr(p, '\n', (size_t)(ev - p));
            CHECK(nl && nl < ev); /* an empty name is the default type, as none */
            p = nl + 1;
        }
        CHECK(strncmp(p, "data: ", 6) == 0);
        p += 6;
        CHECK(!memchr(p, '\n', (size_t)(ev - p))); /* one data line */
        if (!(ev - p == 6 && memcmp(p, "[DONE]", 6) == 0))
            check_json(p, (size_t)(ev - p));
        p = ev + 2;
    }
}
