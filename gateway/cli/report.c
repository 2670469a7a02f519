/* guardrail report: a one-page report for the marketing leader, from the KPI store.
 *
 * It reads the store readonly (the gateway may be writing it), asks gw_store_kpis for the
 * period and the previous period of the same length, and writes the headline numbers with
 * their change, a plain-language line per category, the customer-experience signals, the
 * top rules and the latest incidents by category (masked excerpts only) as Markdown or as
 * one self-contained HTML page. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "kpi/store.h"
#include "kpi/when.h"
#include "util/buf.h"

int gw_cmd_report(int argc, char **argv);

static const char report_help[] =
    "usage: guardrail report --db FILE --from DATE --to DATE [options] -o FILE\n\n"
    "Writes a one-page report of what the gateway did for the chatbot over a period: "
    "conversations,\nshare passed clean, attacks and unsafe requests stopped, personal data "
    "and secrets kept\nback, off-brand replies stopped, customer-experience signals, latency, "
    "each compared with\nthe previous period of the same length, and the latest incidents "
    "(masked) by category.\n\n"
    "  --db FILE          the KPI store (SQLite) the gateway writes; opened read-only\n"
    "  --from DATE        start of the period, included\n"
    "  --to DATE          end of the period: a plain date is included (the whole day), a\n"
    "                     time is the exclusive end\n"
    "                     DATE: YYYY-MM-DD, or ISO 8601 YYYY-MM-DDTHH:MM[:SS[.mmm]] with Z\n"
    "                     or +HH:MM (no zone: UTC)\n"
    "  --format html|md   output format (default: md when FILE ends in .md, else html)\n"
    "  --tenant T         only this tenant (default: all)\n"
    "  --model M          only this model (default: all)\n"
    "  --config FILE      the gateway's config, for kpi.value: prices and costs the money\n"
    "                     section uses (default: the defaults docs/kpis.md cites)\n"
    "  -o, --output FILE  where to write the report ('-': standard output)\n"
    "  -h, --help         show this help\n";

#define DAY_MS 86400000LL

static int usage_error(const char *fmt, const char *arg)
{
    fputs("guardrail report: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(guardrail report --help describes the options)\n", stderr);
    return 2;
}

/* ---- output: the same document as Markdown or HTML ---- */

struct out {
    FILE *f;
    bool html;
};

static void esc(struct out *o, const char *s)
{
    for (; *s; s++) {
        if (o->html) {
            switch (*s) {
            case '&':
                fputs("&amp;", o->f);
                break;
            case '<':
                fputs("&lt;", o->f);
                break;
            case '>':
                fputs("&gt;", o->f);
                break;
            case '"':
                fputs("&quot;", o->f);
                break;
            default:
                fputc(*s, o->f);
            }
        } else {
            if (strchr("\\`*_[]<>|#", *s))
                fputc('\\', o->f);
            fputc(*s == '\n' ? ' ' : *s, o->f);
        }
    }
}

static void heading(struct out *o, int level, const char *text)
{
    if (o->html) {
        fprintf(o->f, "<h%d>", level);
        esc(o, text);
        fprintf(o->f, "</h%d>\n", level);
    } else {
        fprintf(o->f, "\n%.*s ", level, "######");
        esc(o, text);
        fputs("\n\n", o->f);
    }
}

static void para(struct out *o, const char *text)
{
    fputs(o->html ? "<p>" : "", o->f);
    esc(o, text);
    fputs(o->html ? "</p>\n" : "\n\n", o->f);
}

static void table_begin(struct out *o, const char *const *cols, int n)
{
    fputs(o->html ? "<table><thead><tr>" : "|", o->f);
    for (int i = 0; i < n; i++) {
        fputs(o->html ? (i ? "<th class=n>" : "<th>") : " ", o->f);
        esc(o, cols[i]);
        fputs(o->html ? "</th>" : " |", o->f);
    }
    if (o->html) {
        fputs("</tr></thead><tbody>\n", o->f);
        return;
    }
    fputs("\n|", o->f);
    for (int i = 0; i < n; i++)
        fputs(i ? "---:|" : "---|", o->f);
    fputc('\n', o->f);
}

static void table_row(struct out *o, const char *const *cells, int n)
{
    fputs(o->html ? "<tr>" : "|", o->f);
    for (int i = 0; i < n; i++) {
        fputs(o->html ? (i ? "<td class=n>" : "<td>") : " ", o->f);
        esc(o, cells[i]);
        fputs(o->html ? "</td>" : " |", o->f);
    }
    fputs(o->html ? "</tr>\n" : "\n", o->f);
}

static void table_end(struct out *o)
{
    fputs(o->html ? "</tbody></table>\n" : "\n", o->f);
}

/* ---- numbers ---- */

static double num(const cJSON *o, const char *path)
{
    /* path: "a.b.c" */
    char key[64];
    const cJSON *x = o;
    while (x && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        x = cJSON_GetObjectItemCaseSensitive(x, key);
        path += n + (path[n] == '.');
    }
    return cJSON_IsNumber(x) ? x->valuedouble : 0;
}

static void fmt_int(double v, char *out, size_t outlen)
{
    char d[32];
    long long n = llround(v);
    int len = snprintf(d, sizeof d, "%lld", n < 0 ? -n : n);
    size_t k = 0;
    if (n < 0)
        out[k++] = '-';
    for (int i = 0; i < len && k + 2 < outlen; i++) {
        if (i && (len - i) % 3 == 0)
            out[k++] = ',';
        out[k++] = d[i];
    }
    out[k] = '\0';
}

/* A rule as people read it: "Card number (pii.card)" when its pack gives it a title, its
 * id alone otherwise. r is a rule or an incident of /api/kpis or /api/incidents. */
static const char *rule_name(const cJSON *r, char *out, size_t outlen)
{
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(r, "rule"));
    const char *title = cJSON_GetStringValue(cJSON_GetObjectItem(r, "title"));
    if (title && title[0])
        snprintf(out, outlen, "%s (%s)", title, id ? id : "");
    else
        snprintf(out, outlen, "%s", id ? id : "");
    return out;
}

/* The change of one headline number: "▲ 12.5%", "▼ 3 pts", "new", "no change". */
static void fmt_change(const cJSON *change, const char *name, bool rate, char *out, size_t outlen)
{
    const cJSON *c = cJSON_GetObjectItem(change, name);
    double cur = num(c, "current"), prev = num(c, "previous");
    if (rate && !cJSON_IsNumber(cJSON_GetObjectItem(c, "points"))) {
        /* the previous period had no messages: no rate to compare with */
        double msgs = num(cJSON_GetObjectItem(change, "requests"), "current");
        snprintf(out, outlen, "%s", msgs == 0 ? "no change" : "new");
    } else if (rate) {
        double pts = num(c, "points");
        if (fabs(pts) < 0.05)
            snprintf(out, outlen, "no change");
        else
            snprintf(out, outlen, "%s %.1f pts", pts > 0 ? "▲" : "▼", fabs(pts));
    } else if (prev == 0) {
        snprintf(out, outlen, "%s", cur == 0 ? "no change" : "new");
    } else if (cur == prev) {
        snprintf(out, outlen, "no change");
    } else {
        double pct = (cur - prev) / prev * 100.0;
        snprintf(out, outlen, "%s %.1f%%", pct > 0 ? "▲" : "▼", fabs(pct));
    }
}

static void fmt_ms(const cJSON *lat, const char *which, const char *q, char *out, size_t outlen)
{
    const cJSON *x = cJSON_GetObjectItem(cJSON_GetObjectItem(lat, which), q);
    if (!cJSON_IsNumber(x))
        snprintf(out, outlen, "–");
    else if (x->valuedouble < 10)
        snprintf(out, outlen, "%.2f ms", x->valuedouble);
    else
        snprintf(out, outlen, "%.0f ms", x->valuedouble);
}

static void fmt_day(int64_t ms, bool with_time, char *out, size_t outlen)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outlen, with_time ? "%-d %b %Y %H:%M" : "%-d %b %Y", &tm);
}

/* "1 May 2024 – 31 May 2024": the end is exclusive, so a midnight end shows the day
 * before; a period that does not run midnight to midnight shows its times. */
static void fmt_period(int64_t from, int64_t to, char *out, size_t outlen)
{
    char a[40], b[40];
    bool days = from % DAY_MS == 0 && to % DAY_MS == 0;
    fmt_day(from, !days, a, sizeof a);
    fmt_day(days ? to - DAY_MS : to, !days, b, sizeof b);
    if (days && to - from == DAY_MS)
        snprintf(out, outlen, "%s", a);
    else
        snprintf(out, outlen, "%.39s – %.39s", a, b);
}

/* ---- the document ---- */

static const char html_head[] =
    "<!doctype html>\n<html lang=en><head><meta charset=utf-8>\n"
    "<meta name=viewport content=\"width=device-width, initial-scale=1\">\n"
    "<title>Chatbot guardrail report</title>\n<style>\n"
    "body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d2433;"
    "max-width:960px;margin:24px auto;padding:0 20px}\n"
    "h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;"
    "border-bottom:2px solid #e5e8ef;padding-bottom:4px}h3{font-size:16px;margin:18px 0 6px}\n"
    ".sub{color:#5b6478;margin:0 0 16px}\n"
    "ul.summary{padding-left:20px}ul.summary li{margin:4px 0}\n"
    "table{border-collapse:collapse;width:100%;margin:6px 0 12px}"
    "th,td{padding:5px 8px;border-bottom:1px solid #e5e8ef;text-align:left;vertical-align:top}"
    "th{background:#f5f7fb;font-weight:600}.n{text-align:right}\n"
    "td{font-variant-numeric:tabular-nums}\n"
    "@media print{body{margin:0}h2{break-after:avoid}table{break-inside:avoid}}\n"
    "</style></head><body>\n";

static const struct {
    const char *cat, *title;
} cat_titles[] = {
    {"injection", "Attempts to hijack the assistant"},
    {"unsafe", "Unsafe requests and replies"},
    {"pii", "Personal data"},
    {"secret", "Secrets (passwords, keys, tokens)"},
    {"brand", "Off-brand replies"},
    {"cx", "Customer-experience signals"},
};

static const char *cat_title(const char *cat)
{
    for (size_t i = 0; i < sizeof cat_titles / sizeof cat_titles[0]; i++)
        if (strcmp(cat, cat_titles[i].cat) == 0)
            return cat_titles[i].title;
    return cat;
}

static void headline_row(struct out *o, const cJSON *k, const char *label, const char *path,
                         const char *change, bool rate)
{
    char cur[48], prev[48], ch[48];
    const cJSON *c = cJSON_GetObjectItem(k, "current"), *p = cJSON_GetObjectItem(k, "previous");
    if (rate) {
        snprintf(cur, sizeof cur, "%.1f%%", num(c, path) * 100);
        if (num(p, "requests") > 0)
            snprintf(prev, sizeof prev, "%.1f%%", num(p, path) * 100);
        else /* no messages: no rate */
            snprintf(prev, sizeof prev, "–");
    } else if (path) {
        fmt_int(num(c, path), cur, sizeof cur);
        fmt_int(num(p, path), prev, sizeof prev);
    } else {
        const cJSON *x = cJSON_GetObjectItem(cJSON_GetObjectItem(k, "change"), change);
        fmt_int(num(x, "current"), cur, sizeof cur);
        fmt_int(num(x, "previous"), prev, sizeof prev);
    }
    fmt_change(cJSON_GetObjectItem(k, "change"), change, rate, ch, sizeof ch);
    const char *cells[] = {label, cur, prev, ch};
    table_row(o, cells, 4);
}

static void render_incidents(struct out *o, struct gw_store *s, int64_t from, int64_t to,
                             const char *tenant)
{
    static const char *const cats[] = {"injection", "unsafe", "pii", "secret", "brand"};
    bool any = false;
    heading(o, 2, "Latest incidents by category");
    for (size_t i = 0; i < sizeof cats / sizeof cats[0]; i++) {
        char err[256];
        cJSON *inc = gw_store_incidents(s, from, to, tenant, cats[i], 3, 0, err, sizeof err);
        const cJSON *a = cJSON_GetObjectItem(inc, "incidents"), *r;
        if (cJSON_GetArraySize(a) > 0) {
            static const char *const cols[] = {"When (UTC)", "Rule", "Where", "What happened",
                                               "Excerpt (masked)"};
            any = true;
            heading(o, 3, cat_title(cats[i]));
            table_begin(o, cols, 5);
            cJSON_ArrayForEach(r, a)
            {
                char when[32], where[32], what[32];
                const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(r, "time"));
                const char *dir = cJSON_GetStringValue(cJSON_GetObjectItem(r, "direction"));
                const char *act = cJSON_GetStringValue(cJSON_GetObjectItem(r, "action"));
                snprintf(when, sizeof when, "%.10s %.5s", t ? t : "",
                         t && strlen(t) > 11 ? t + 11 : "");
                snprintf(where, sizeof where, "%s",
                         dir && strcmp(dir, "reply") == 0 ? "in a reply" : "in a prompt");
                snprintf(what, sizeof what, "%s",
                         !act                         ? ""
                         : strcmp(act, "block") == 0  ? "blocked"
                         : strcmp(act, "redact") == 0 ? "redacted"
                                                      : "flagged");
                char name[160];
                const char *cells[] = {when, rule_name(r, name, sizeof name), where, what,
                                       cJSON_GetStringValue(cJSON_GetObjectItem(r, "excerpt"))};
                for (int c = 0; c < 5; c++)
                    if (!cells[c])
                        cells[c] = "";
                table_row(o, cells, 5);
            }
            table_end(o);
        }
        cJSON_Delete(inc);
    }
    if (!any)
        para(o, "No incident in this period.");
}

/* Writes the report of [from, to) to f. Returns 0 or -1 with err. */
/* The money section: what the period's figures are worth by the assumptions v. */
static int render_value(struct out *o, struct gw_store *s, int64_t from, int64_t to,
                        const char *tenant, const char *model, const struct gw_value *v)
{
    cJSON *m = gw_store_value(s, from, to, tenant, model, v);
    if (!m)
        return -1;
    const char *cur = v->currency;
    char amt[4][48], how[4][256], x[32], y[32], z[32];
    static const char *const keys[] = {"token_spend", "spend_avoided", "exposure_avoided",
                                       "handoff_cost"};
    for (int i = 0; i < 4; i++) {
        gw_value_format((int64_t)llround(num(m, keys[i]) * 100) * 10000, x, sizeof x);
        snprintf(amt[i], sizeof amt[i], "%s %s", cur, x);
    }
    fmt_int(num(m, "blocked_unpriced"), x, sizeof x);
    snprintf(how[0], sizeof how[0], "the tokens the provider reported, at the prices below");
    snprintf(how[1], sizeof how[1], "each prompt blocked before the provider saves an average "
             "call%s%s%s", num(m, "blocked_unpriced") > 0 ? " (" : "",
             num(m, "blocked_unpriced") > 0 ? x : "",
             num(m, "blocked_unpriced") > 0 ? " could not be priced: no call to compare)" : "");
    fmt_int(num(m, "personal_data_kept"), x, sizeof x);
    fmt_int(num(m, "secrets_kept"), y, sizeof y);
    char rec[32], sec[32], hand[32];
    gw_value_format(v->personal_data_record, rec, sizeof rec);
    gw_value_format(v->secret, sec, sizeof sec);
    gw_value_format(v->handoff, hand, sizeof hand);
    bool one_pd = num(m, "personal_data_kept") == 1, one_sec = num(m, "secrets_kept") == 1;
    snprintf(how[2], sizeof how[2], "%s value%s of personal data kept at %s %s each, %s "
             "secret%s at %s %s each", x, one_pd ? "" : "s", cur, rec, y, one_sec ? "" : "s",
             cur, sec);
    fmt_int(num(m, "handoffs"), z, sizeof z);
    snprintf(how[3], sizeof how[3], "%s request%s for a person (rule %s) at %s %s a live "
             "contact", z, num(m, "handoffs") == 1 ? "" : "s",
             v->handoff_rule ? v->handoff_rule : "", cur, hand);
    heading(o, 2, "What it is worth");
    static const char *const cols[] = {"", "Amount", "How it is counted"};
    static const char *const labels[] = {"Spent on the AI provider",
                                         "Provider spend avoided by blocked prompts",
                                         "Exposure cost avoided", "Hand-offs to people"};
    table_begin(o, cols, 3);
    for (int i = 0; i < 4; i++) {
        const char *cells[] = {labels[i], amt[i], how[i]};
        table_row(o, cells, 3);
    }
    table_end(o);
    struct gw_buf b = {0};
    gw_buf_printf(&b, "Assumptions (kpi.value; docs/kpis.md cites the defaults): per million "
                      "tokens,");
    for (size_t i = 0; i < v->n_prices; i++) {
        gw_value_format(v->prices[i].prompt, x, sizeof x);
        gw_value_format(v->prices[i].completion, y, sizeof y);
        gw_buf_printf(&b, "%s %s %s %s prompt and %s completion", i ? ";" : "",
                      v->prices[i].prefix[0] ? v->prices[i].prefix : "default", cur, x, y);
    }
    gw_buf_printf(&b, ".");
    para(o, b.data ? b.data : "");
    gw_buf_free(&b);
    cJSON_Delete(m);
    return 0;
}

static int render(struct gw_store *s, FILE *f, bool html, int64_t from, int64_t to,
                  const char *tenant, const char *model, const struct gw_value *value,
                  char *err, size_t errlen)
{
    struct out o = {f, html};
    char line[512], a[96], b[96];
    cJSON *k = gw_store_kpis(s, from, to, tenant, model, 0, err, errlen);
    if (!k)
        return -1;
    const cJSON *cur = cJSON_GetObjectItem(k, "current");
    const cJSON *x, *r;

    if (html)
        fputs(html_head, f);
    heading(&o, 1, "Chatbot guardrail report");
    fmt_period(from, to, a, sizeof a);
    fmt_period(from - (to - from), from, b, sizeof b);
    snprintf(line, sizeof line, "%s (UTC) · %s%s%s%s · compared with %s", a,
             tenant ? "tenant " : "all tenants", tenant ? tenant : "", model ? " · model " : "",
             model ? model : "", b);
    if (html) {
        fputs("<p class=sub>", f);
        esc(&o, line);
        fputs("</p>\n", f);
    } else {
        para(&o, line);
    }

    heading(&o, 2, "At a glance");
    fputs(html ? "<ul class=summary>\n" : "", f);
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(k, "summary"))
    {
        const char *cat = cJSON_GetStringValue(cJSON_GetObjectItem(x, "category"));
        const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(x, "text"));
        fputs(html ? "<li><b>" : "- **", f);
        esc(&o, cat_title(cat ? cat : ""));
        fputs(html ? ":</b> " : ":** ", f);
        esc(&o, text ? text : "");
        fputs(html ? "</li>\n" : "\n", f);
    }
    fputs(html ? "</ul>\n" : "\n", f);

    heading(&o, 2, "Key numbers");
    static const char *const kcols[] = {"", "This period", "Previous period", "Change"};
    table_begin(&o, kcols, 4);
    headline_row(&o, k, "Conversations", "conversations", "conversations", false);
    headline_row(&o, k, "Messages screened", "requests", "requests", false);
    headline_row(&o, k, "Passed clean (nothing found)", "clean_rate", "clean_rate", true);
    headline_row(&o, k, "Incidents prevented (blocked or redacted)", "prevented.total", "prevented",
                 false);
    headline_row(&o, k, "Hijack attempts stopped", "prevented.by_category.injection",
                 "prevented_injection", false);
    headline_row(&o, k, "Unsafe requests and replies stopped", "prevented.by_category.unsafe",
                 "prevented_unsafe", false);
    headline_row(&o, k, "Off-brand messages stopped or corrected", "prevented.by_category.brand",
                 "prevented_brand", false);
    headline_row(&o, k, "Personal data kept back (items)", NULL, "pii_kept", false);
    headline_row(&o, k, "Secrets kept back (items)", NULL, "secrets_kept", false);
    headline_row(&o, k, "Conversations with a customer signal", "cx.conversations_with_signal",
                 "cx_signals", false);
    table_end(&o);

    if (render_value(&o, s, from, to, tenant, model, value) == -1) {
        snprintf(err, errlen, "%s", gw_store_error(s));
        cJSON_Delete(k);
        return -1;
    }

    heading(&o, 2, "Speed");
    const cJSON *lat = cJSON_GetObjectItem(cur, "latency_ms");
    static const char *const lcols[] = {"", "Typical (median)", "Slow (95th percentile)",
                                        "Slowest (99th percentile)"};
    table_begin(&o, lcols, 4);
    for (int w = 0; w < 2; w++) {
        const char *which = w ? "provider" : "gateway";
        char p50[32], p95[32], p99[32];
        fmt_ms(lat, which, "p50", p50, sizeof p50);
        fmt_ms(lat, which, "p95", p95, sizeof p95);
        fmt_ms(lat, which, "p99", p99, sizeof p99);
        const char *cells[] = {w ? "Time the AI provider took" : "Time added by the guardrail", p50,
                               p95, p99};
        table_row(&o, cells, 4);
    }
    table_end(&o);
    fmt_int(num(cur, "tokens.prompt"), a, sizeof a);
    fmt_int(num(cur, "tokens.completion"), b, sizeof b);
    snprintf(line, sizeof line,
             "Usage: %s tokens sent to the provider and %s tokens received. Latency figures "
             "are read from histograms and are within 5%%.",
             a, b);
    para(&o, line);

    heading(&o, 2, "What was stopped, by category");
    static const char *const ccols[] = {"Category",         "Prompts blocked",
                                        "Prompts redacted", "Replies blocked",
                                        "Replies redacted", "Flagged for review"};
    table_begin(&o, ccols, 6);
    for (size_t i = 0; i < sizeof cat_titles / sizeof cat_titles[0]; i++) {
        const cJSON *c =
            cJSON_GetObjectItem(cJSON_GetObjectItem(cur, "categories"), cat_titles[i].cat);
        char v[5][32];
        fmt_int(num(c, "prompt.blocked"), v[0], 32);
        fmt_int(num(c, "prompt.redacted"), v[1], 32);
        fmt_int(num(c, "reply.blocked"), v[2], 32);
        fmt_int(num(c, "reply.redacted"), v[3], 32);
        fmt_int(num(c, "prompt.flagged") + num(c, "reply.flagged"), v[4], 32);
        const char *cells[] = {cat_titles[i].title, v[0], v[1], v[2], v[3], v[4]};
        table_row(&o, cells, 6);
    }
    table_end(&o);

    heading(&o, 2, "Customer-experience signals");
    const cJSON *sig = cJSON_GetObjectItem(cJSON_GetObjectItem(cur, "cx"), "signals");
    if (cJSON_GetArraySize(sig) == 0) {
        para(&o, "No customer-experience signal in this period.");
    } else {
        static const char *const scols[] = {"Signal", "Conversations", "Per 1,000 conversations"};
        table_begin(&o, scols, 3);
        cJSON_ArrayForEach(r, sig)
        {
            char n[32], per[32];
            fmt_int(num(r, "conversations"), n, sizeof n);
            snprintf(per, sizeof per, "%.1f", num(r, "per_1000"));
            const char *label = cJSON_GetStringValue(cJSON_GetObjectItem(r, "label"));
            const char *cells[] = {label ? label : "", n, per};
            table_row(&o, cells, 3);
        }
        table_end(&o);
    }

    heading(&o, 2, "Rules that acted most");
    const cJSON *top = cJSON_GetObjectItem(cur, "top_rules");
    if (cJSON_GetArraySize(top) == 0) {
        para(&o, "No rule acted in this period.");
    } else {
        static const char *const tcols[] = {"Rule",    "Category", "Where",  "Messages",
                                            "Blocked", "Redacted", "Flagged"};
        table_begin(&o, tcols, 7);
        cJSON_ArrayForEach(r, top)
        {
            char v[4][32];
            fmt_int(num(r, "requests"), v[0], 32);
            fmt_int(num(r, "blocked"), v[1], 32);
            fmt_int(num(r, "redacted"), v[2], 32);
            fmt_int(num(r, "flagged"), v[3], 32);
            const char *dir = cJSON_GetStringValue(cJSON_GetObjectItem(r, "direction"));
            char name[160];
            const char *cells[] = {rule_name(r, name, sizeof name),
                                   cJSON_GetStringValue(cJSON_GetObjectItem(r, "category")),
                                   dir && strcmp(dir, "reply") == 0 ? "replies" : "prompts",
                                   v[0],
                                   v[1],
                                   v[2],
                                   v[3]};
            for (int c = 0; c < 7; c++)
                if (!cells[c])
                    cells[c] = "";
            table_row(&o, cells, 7);
        }
        table_end(&o);
    }

    render_incidents(&o, s, from, to, tenant);
    para(&o, "Excerpts are masked: the gateway never stores the personal data, secrets or "
             "other matched text itself.");
    if (html)
        fputs("</body></html>\n", f);
    cJSON_Delete(k);
    return ferror(f) ? (snprintf(err, errlen, "write error"), -1) : 0;
}

int gw_cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"from", required_argument, NULL, 'f'},
                                         {"to", required_argument, NULL, 't'},
                                         {"format", required_argument, NULL, 'F'},
                                         {"tenant", required_argument, NULL, 'T'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *db = NULL, *from_s = NULL, *to_s = NULL, *format = NULL, *tenant = NULL,
               *model = NULL, *output = NULL, *config = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'f':
            from_s = optarg;
            break;
        case 't':
            to_s = optarg;
            break;
        case 'F':
            format = optarg;
            break;
        case 'T':
            tenant = optarg;
            break;
        case 'm':
            model = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 'h':
            fputs(report_help, stdout);
            return 0;
        case ':':
            return usage_error("%s needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!db)
        return usage_error("%s", "--db FILE is required: the KPI store the gateway writes");
    if (!from_s || !to_s)
        return usage_error("%s", "--from DATE and --to DATE are required (YYYY-MM-DD)");
    if (!output)
        return usage_error("%s", "-o FILE is required ('-' for standard output)");
    int64_t from, to;
    if (gw_parse_when(from_s, false, &from) == -1)
        return usage_error("--from '%s' is not a date: use YYYY-MM-DD or ISO 8601 "
                           "(2024-05-01T09:30:00Z)",
                           from_s);
    if (gw_parse_when(to_s, true, &to) == -1)
        return usage_error("--to '%s' is not a date: use YYYY-MM-DD or ISO 8601 "
                           "(2024-05-31T23:59:59Z)",
                           to_s);
    if (to <= from)
        return usage_error("%s", "--to must be after --from");
    bool html;
    if (format)
        html = strcmp(format, "html") == 0;
    else {
        size_t n = strlen(output);
        html = !(n >= 3 && strcmp(output + n - 3, ".md") == 0);
    }
    if (format && !html && strcmp(format, "md") != 0)
        return usage_error("--format '%s': use html or md", format);

    char err[512];
    struct gw_config cfg;
    if (config ? gw_config_load(&cfg, config, err, sizeof err) : (gw_config_defaults(&cfg), 0)) {
        fprintf(stderr, "guardrail report: %s\n", err);
        gw_config_free(&cfg);
        return 1;
    }
    struct gw_store *s = gw_store_open(db, true, 0, err, sizeof err);
    if (!s) {
        fprintf(stderr, "guardrail report: %s\n", err);
        gw_config_free(&cfg);
        return 1;
    }
    bool to_stdout = strcmp(output, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(output, "w");
    int rc = 1;
    if (!f) {
        fprintf(stderr, "guardrail report: %s: cannot write: %m\n", output);
        goto done;
    }
    if (render(s, f, html, from, to, tenant, model, &cfg.value, err, sizeof err) == -1)
        fprintf(stderr, "guardrail report: %s\n", err);
    else
        rc = 0;
    if (!to_stdout && fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "guardrail report: %s: %m\n", output);
        rc = 1;
    }
done:
    gw_store_close(s);
    gw_config_free(&cfg);
    return rc;
}
