#include "kpi/when.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_MS 86400000LL

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : d[m - 1];
}

int gw_parse_when(const char *s, bool end_of_day, int64_t *out)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, off = 0;
    size_t n = strlen(s);
    if (n > 0 && strspn(s, "0123456789") == n) { /* Unix milliseconds */
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || n < 6)
            return -1;
        *out = v;
        return 0;
    }
    if (n < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d))
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -1;
    const char *p = s + 10;
    bool plain = *p == '\0';
    if (!plain) {
        if ((*p != 'T' && *p != 't' && *p != ' ') || !digits(p + 1, 2, &h) || p[3] != ':' ||
            !digits(p + 4, 2, &mi))
            return -1;
        p += 6;
        if (*p == ':') {
            if (!digits(p + 1, 2, &sec))
                return -1;
            p += 3;
            if (*p == '.' || *p == ',') {
                int k = 0;
                p++;
                while (*p >= '0' && *p <= '9') {
                    if (k < 3)
                        ms = ms * 10 + (*p - '0'), k++;
                    p++;
                }
                if (k == 0)
                    return -1;
                while (k < 3)
                    ms *= 10, k++;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om = 0, sign = *p == '-' ? -1 : 1;
            if (!digits(p + 1, 2, &oh))
                return -1;
            p += 3;
            if (*p == ':')
                p++;
            if (*p && !digits(p, 2, &om))
                return -1;
            if (*p)
                p += 2;
            if (oh > 23 || om > 59)
                return -1;
            off = sign * (oh * 60 + om);
        }
        if (*p != '\0' || h > 23 || mi > 59 || sec > 60)
            return -1;
    }
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    int64_t t = (int64_t)timegm(&tm);
    *out = (t - (int64_t)off * 60) * 1000 + ms + (plain && end_of_day ? DAY_MS : 0);
    return 0;
}
