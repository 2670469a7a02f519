#include "kpi/privacy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util/siphash.h"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Whether v spells an e-mail out: "at" on its own between separators ("name_at_example.com",
 * "name(at)example.com", "name [at] example.com"), with a '.' somewhere after it. */
/* Whether the token at p (n bytes) is "dot" or a common top-level domain. */
static bool domain_word(const char *p, size_t n)
{
    static const char *const words[] = {"dot", "com", "org", "net", "edu", "gov", "io", "co",
                                        "uk", "de", "fr", "nl", "es", "it", "info", "biz"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i]) == n && strncasecmp(p, words[i], n) == 0)
            return true;
    return false;
}

/* Whether the token at p (n bytes) is a mail service that a spelled address may name
 * alone ("jane-at-gmail"). */
static bool mail_service(const char *p, size_t n)
{
    static const char *const words[] = {"gmail",  "googlemail", "hotmail", "outlook",
                                        "yahoo",  "icloud",     "aol",     "gmx",
                                        "proton", "protonmail", "yandex",  "msn"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i]) == n && strncasecmp(p, words[i], n) == 0)
            return true;
    return false;
}

/* Whether v spells an e-mail out: "at" on its own between separators after a name, then a
 * '.', a domain word or a mail service ("jane_at_example.com", "jane(at)example(dot)org",
 * "jane-at-example-com", "jane.doe-at-gmail"). */
static bool spelled_email(const char *v)
{
    for (const char *p = v; *p; p++) {
        if (p == v || is_alnum(p[-1]) || (p[0] | 0x20) != 'a' || (p[1] | 0x20) != 't' ||
            !p[2] || is_alnum(p[2]))
            continue;
        const char *before = p - 1;
        while (before > v && !is_alnum(*before))
            before--;
        if (!is_alnum(*before))
            continue;
        if (strchr(p + 2, '.'))
            return true;
        for (const char *q = p + 2; *q;) { /* the tokens after it */
            while (*q && !is_alnum(*q))
                q++;
            const char *t = q;
            while (is_alnum(*q))
                q++;
            if (q > t && ((t > p + 3 && domain_word(t, (size_t)(q - t))) ||
                          mail_service(t, (size_t)(q - t))))
                return true;
        }
    }
    return false;
}

/* Whether v is a hex identifier (a UUID, a trace id): hex digits and dashes only, sixteen
 * digits or more, at least one of them a letter, and no run of 13 decimal digits (a card
 * number with a letter added). A UUID's last group can be 12 decimal digits. Groups of
 * decimal digits alone run on across a dash: "cafe-4111-1111-1111-1111" is a card with a
 * word in front, not an id. */
static bool hex_id(const char *v)
{
    size_t hex = 0, run = 0, most = 0;
    bool letter = false, decimal = true; /* the group at hand has no letter so far */
    for (const char *p = v; *p; p++) {
        if (is_digit(*p))
            hex++, run++;
        else if ((*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F'))
            hex++, letter = true, run = 0, decimal = false;
        else if (*p == '-')
            run = decimal ? run : 0, decimal = true;
        else
            return false;
        most = run > most ? run : most;
    }
    return hex >= 16 && letter && most < 13;
}

static bool is_token(char c)
{
    return is_alnum(c) || c == '_' || c == '-';
}

/* The kinds of the characters in [p, p + n): 1 a digit, 2 a small letter, 4 a capital. */
static int kinds_of(const char *p, size_t n)
{
    int kinds = 0;
    for (size_t i = 0; i < n; i++)
        kinds |= is_digit(p[i])                 ? 1
                 : (p[i] >= 'a' && p[i] <= 'z') ? 2
                 : (p[i] >= 'A' && p[i] <= 'Z') ? 4
                                                : 0;
    return kinds;
}

static size_t digits_in(const char *p, size_t n)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        d += is_digit(p[i]);
    return d;
}

/* Whether v holds a credential: a token behind a prefix its issuer gives it (OpenAI's and
 * Anthropic's "sk-", Stripe's "sk_live_", GitHub's "ghp_", AWS's "AKIA", Slack's "xoxb-",
 * Google's "GOCSPX-" and "ya29.", a JWT's "eyJ", ...) with 16 more characters of a token
 * after it, digits or capitals and small letters among them; Mailchimp's 32 hex digits and
 * "-us6"; Mailgun's "key-" and 32 small letters and digits; a run of 32 or more letters
 * and digits with capitals, small letters and digits in it (a random key's look); or three
 * or more such tokens parted by dots, 40 characters in all with four digits or more (a
 * Discord bot token, a JWT). */
static bool secret_like(const char *v)
{
    static const char *const prefixes[] = {
        "sk-",      "sk_live_", "sk_test_", "rk_live_",    "rk_test_", "ghp_",    "gho_",
        "ghu_",     "ghs_",     "ghr_",     "github_pat_", "xoxb-",    "xoxp-",   "xoxa-",
        "xoxr-",    "xapp-",    "glpat-",   "gldt-",       "glptt-",   "glrt-",   "AIza",
        "GOCSPX-",  "ya29.",    "eyJ",      "hf_",         "npm_",     "AKIA",    "ASIA",
        "AKCp",     "SG.",      "shpat_",   "shpss_",      "shpca_",   "dop_v1_", "doo_v1_",
        "pk_live_", "whsec_",   "dapi",     "lsv2_pt_",    "lsv2_sk_", "PMAK-",   "NRAK-",
        "dckr_pat_"};
    for (const char *p = v; *p; p++) {
        if (p > v && is_alnum(p[-1]))
            continue;
        for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
            size_t n = strlen(prefixes[i]), k = 0;
            if (strncmp(p, prefixes[i], n) != 0)
                continue;
            while (is_token(p[n + k]))
                k++;
            int kinds = kinds_of(p + n, k); /* a key's body has digits or both cases: */
            if (k >= 16 && (kinds & 1 || (kinds & 6) == 6)) /* "ASIA-pacific-sales" is none */
                return true;
        }
        /* Mailchimp's 32 hex digits and its data centre ("...-us6") */
        if (strspn(p, "0123456789abcdef") == 32 && strncmp(p + 32, "-us", 3) == 0 &&
            is_digit(p[35]))
            return true;
        if (strncmp(p, "key-", 4) == 0 &&
            strspn(p + 4, "0123456789abcdefghijklmnopqrstuvwxyz") == 32 && !is_alnum(p[36]))
            return true;
    }
    /* runs of letters and digits; and runs of tokens parted by single dots */
    for (const char *p = v; *p;) {
        size_t run = strspn(p, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
        if (run >= 32 && kinds_of(p, run) == 7)
            return true;
        const char *q = p;
        int parts = 0;
        for (;;) {
            size_t t = 0;
            while (is_token(q[t]))
                t++;
            if (t < 6)
                break;
            parts++;
            q += t;
            if (*q != '.')
                break;
            q++;
        }
        if (parts >= 3 && q - p >= 40 && kinds_of(p, (size_t)(q - p)) == 7 &&
            digits_in(p, (size_t)(q - p)) >= 4) /* not "Retail.Customer-Care.Tier2-Agents" */
            return true;
        p += run ? run : 1;
    }
    return false;
}

/* Whether the 8 digits of d (YYYYMMDD, separators already left out) are a date from 1900 to
 * 2099, and whether one from before 2010, a date of birth rather than a model's or a
 * request's: model names and ids carry recent ones ("claude-sonnet-4-20250514",
 * "gpt-4.1-2025-04-14"); "19850412" and "dob-1985-04-12" are someone's birthday. */
static bool is_date(const char d[8], bool *of_birth)
{
    int y = (d[0] - '0') * 1000 + (d[1] - '0') * 100 + (d[2] - '0') * 10 + (d[3] - '0');
    int m = (d[4] - '0') * 10 + (d[5] - '0'), day = (d[6] - '0') * 10 + (d[7] - '0');
    *of_birth = y < 2010;
    return y >= 1900 && y <= 2099 && m >= 1 && m <= 12 && day >= 1 && day <= 31;
}

/* Copies v to out (size n) with each date (YYYYMMDD, or YYYY-MM-DD with one separator of
 * the same kind twice) turned into letters, so that it is not counted as digits. Returns
 * whether one of them may be a date of birth. */
static bool blank_dates(const char *v, char *out, size_t n)
{
    bool birth = false;
    snprintf(out, n, "%s", v);
    size_t len = strlen(out);
    for (size_t i = 0; i + 8 <= len; i++) {
        if (i > 0 && is_digit(out[i - 1]))
            continue;
        char d[8];
        size_t end = 0;
        if (i + 8 <= len && strspn(out + i, "0123456789") == 8) {
            memcpy(d, out + i, 8);
            end = i + 8;
        } else if (i + 10 <= len && strspn(out + i, "0123456789") == 4 &&
                   strchr("-./_", out[i + 4]) && out[i + 7] == out[i + 4] &&
                   strspn(out + i + 5, "0123456789") == 2 &&
                   strspn(out + i + 8, "0123456789") >= 2) {
            memcpy(d, out + i, 4);
            memcpy(d + 4, out + i + 5, 2);
            memcpy(d + 6, out + i + 8, 2);
            end = i + 10;
        }
        bool of_birth;
        if (end && !is_digit(out[end]) && is_date(d, &of_birth)) {
            memset(out + i, 'D', end - i);
            i = end - 1;
            birth |= of_birth;
        }
    }
    return birth;
}

#define SEPARATORS " .-_()+/:"

bool gw_privacy_pii_like(const char *v)
{
    if (strlen(v) >= 256)
        return true; /* longer than any value kept (the patterns stop at 100): not read in part */
    const char *at = strchr(v, '@');
    if (at && at > v && strchr(at + 1, '.'))
        return true; /* an e-mail; a model's "name@version" is not one */
    if (spelled_email(v) || secret_like(v))
        return true;
    if (hex_id(v))
        return false;
    /* A run of digits with separators between them (a phone, card or account number however
     * it is written, next to letters or not): nine digits or more anywhere, or seven when
     * the whole value is such a run. Dates are not counted. */
    char buf[256]; /* v fits: see above */
    if (blank_dates(v, buf, sizeof buf))
        return true;
    size_t run = 0, most = 0;
    bool only_number = true;
    for (const char *p = buf; *p; p++) {
        if (is_digit(*p)) {
            run++;
        } else if (strchr(SEPARATORS, *p)) {
            const char *q = p;
            while (*q && strchr(SEPARATORS, *q))
                q++;
            if (run > 0 && !is_digit(*q)) /* separators that end the number */
                run = 0, only_number = only_number && !*q;
        } else {
            only_number = false;
            run = 0;
        }
        most = run > most ? run : most;
    }
    return most >= 9 || (only_number && most >= 7);
}

/* Whether v is 1 to max bytes, each in chars (or an ASCII letter or digit). */
static bool charset_ok(const char *v, size_t max, const char *chars)
{
    size_t n = 0;
    for (const char *p = v; *p; p++, n++) {
        char c = *p;
        if (n >= max)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr(chars, c)))
            return false;
    }
    return n > 0;
}

bool gw_privacy_request_id_ok(const char *v)
{
    return v && charset_ok(v, GW_PRIVACY_REQUEST_ID_MAX, "._:-") && !gw_privacy_pii_like(v);
}

bool gw_privacy_list_entry_ok(const char *v, size_t max)
{
    size_t n = strlen(v);
    if (n == 0 || n > max)
        return false;
    for (const char *p = v; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
            return false;
    return true;
}

static bool listed(char *const *list, size_t n, const char *v)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], v) == 0)
            return true;
    return false;
}

/* One decision for tenants and models: the list when there is one, else the pattern. */
static void label(char *const *list, size_t n, const char *v, size_t max, const char *chars,
                  char *out, size_t outlen)
{
    bool keep = list ? listed(list, n, v) : charset_ok(v, max, chars) && !gw_privacy_pii_like(v);
    snprintf(out, outlen, "%s", keep ? v : GW_PRIVACY_OTHER);
}

void gw_privacy_tenant(const struct gw_privacy *p, const char *v, char *out, size_t outlen)
{
    if (!v || !*v)
        snprintf(out, outlen, "-");
    else
        label(p->tenants, p->n_tenants, v, GW_PRIVACY_TENANT_MAX, "._-", out, outlen);
}

void gw_privacy_model(const struct gw_privacy *p, const char *v, char *out, size_t outlen)
{
    if (!v || !*v || strcmp(v, "-") == 0)
        snprintf(out, outlen, "-");
    else
        label(p->models, p->n_models, v, GW_PRIVACY_MODEL_MAX, "._:/-", out, outlen);
}

void gw_privacy_conversation(const uint8_t key[16], const char *v, char *out, size_t outlen)
{
    if (!v || !*v) {
        snprintf(out, outlen, "%s", "");
        return;
    }
    snprintf(out, outlen, "%016llx", (unsigned long long)gw_siphash(key, v, strlen(v)));
}

void gw_privacy_pseudonym(const uint8_t key[16], const char *v, size_t len, char *out,
                          size_t outlen)
{
    static const char label[] = "guardrail identifier pseudonym";
    uint64_t h[2];
    gw_siphash128(key, label, sizeof label - 1, h);
    uint8_t sub[16];
    for (int i = 0; i < 16; i++) /* little-endian, the same key on every platform */
        sub[i] = (uint8_t)(h[i / 8] >> (8 * (i % 8)));
    snprintf(out, outlen, "gr-%016llx", (unsigned long long)gw_siphash(sub, v, len));
}

static void random_key(uint8_t key[16])
{
    if (getrandom(key, 16, 0) != 16) { /* only without /dev/urandom: not expected */
        uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)key;
        memcpy(key, &t, 8);
        memcpy(key + 8, &t, 8);
    }
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Reads 32 hex digits (and perhaps a newline) from fd into key. 0 or -1. */
static int read_key(int fd, uint8_t key[16])
{
    char buf[40];
    ssize_t n = read(fd, buf, sizeof buf);
    while (n > 32 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n != 32)
        return -1;
    for (int i = 0; i < 16; i++) {
        int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        key[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* Creates path with a random key, or reads the key it holds. */
static int key_file(const char *path, uint8_t key[16], enum gw_privacy_key_source *src, char *err,
                    size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd != -1) {
        char hex[34];
        random_key(key);
        for (int i = 0; i < 16; i++)
            snprintf(hex + 2 * i, 3, "%02x", key[i]);
        hex[32] = '\n';
        bool ok = write(fd, hex, 33) == 33 && fsync(fd) == 0;
        close(fd);
        if (!ok) {
            snprintf(err, errlen, "%s: cannot write the key: %s", path, strerror(errno));
            unlink(path);
            return -1;
        }
        *src = GW_PRIVACY_KEY_CREATED;
        return 0;
    }
    if (errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    int rc = read_key(fd, key);
    close(fd);
    if (rc == -1) {
        snprintf(err, errlen, "%s: must hold the key as 32 hexadecimal digits", path);
        return -1;
    }
    *src = GW_PRIVACY_KEY_FILE;
    return 0;
}

int gw_privacy_key_init(struct gw_privacy *p, const char *kpi_db, enum gw_privacy_key_source *src,
                        char *err, size_t errlen)
{
    if (p->hash_key) {
        /* A secret of any length into 16 bytes: SipHash-2-4-128 under a fixed key. */
        static const uint8_t k[16] = "guardrail-conv-1";
        uint64_t h[2];
        gw_siphash128(k, p->hash_key, strlen(p->hash_key), h);
        memcpy(p->key, h, 16);
        *src = GW_PRIVACY_KEY_SECRET;
        return 0;
    }
    if (!p->key_file && kpi_db) {
        size_t n = strlen(kpi_db) + 5;
        if (!(p->key_file = malloc(n))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        snprintf(p->key_file, n, "%s.key", kpi_db);
    }
    if (p->key_file)
        return key_file(p->key_file, p->key, src, err, errlen);
    random_key(p->key);
    *src = GW_PRIVACY_KEY_RANDOM;
    return 0;
}
