/* guardrail report: a one-page report for the marketing leader, from the KPI store.
 *
 * It reads the store readonly (the gateway may be writing it), reads the figures of the
 * period and of the previous one of the same length (kpi/query.h), and writes the headline
 * numbers with their change, a plain-language line per category, the customer-experience
 * signals, the top rules, the rules in shadow and the latest incidents by category (masked
 * excerpts only) as Markdown or as one self-contained HTML page. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "kpi/query.h"
#include "kpi/render.h"
#include "kpi/store.h"
#include "kpi/when.h"
#include "util/buf.h"

int gw_cmd_report(int argc, char **argv);

static const char report_help[] =
    "usage: guardrail report --db FILE|URL --from DATE --to DATE [options] -o FILE\n\n"
    "Writes a one-page report of what the gateway did for the chatbot over a period: "
    "conversations,\nshare passed clean, attacks and unsafe requests stopped, personal data "
    "and secrets kept\nback, off-brand replies stopped, customer-experience signals, latency, "
    "each compared with\nthe previous period of the same length, and the latest incidents "
    "(masked) by category.\n\n"
    "  --db FILE|URL      the KPI store the gateway writes: a SQLite file, or the\n"
    "                     postgresql:// URL a fleet shares (its figures are the fleet's);\n"
    "                     opened read-only (default: kpi.db of --config)\n"
    "  --from DATE        start of the period, included\n"
    "  --to DATE          end of the period: a plain date is included (the whole day), a\n"
    "                     time is the exclusive end\n"
    "                     DATE: YYYY-MM-DD, or ISO 8601 YYYY-MM-DDTHH:MM[:SS[.mmm]] with Z\n"
    "                     or +HH:MM (no zone: UTC)\n"
    "  --format html|md   output format (default: md when FILE ends in .md, else html)\n"
    "  --tenant T         only this tenant (default: all)\n"
    "  --model M          only this model (default: all)\n"
    "  --instance NAME    only this gateway of a fleet (kpi.instance; default: all)\n"
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

static void fmt_int(double v, char *out, size_t outlen)
{
    gw_render_count(llround(v), out, outlen);
}

/* A rule as people read it: "Card number (pii.card)" when its pack gives it a title, its
 * id alone otherwise. */
static const char *rule_name(const char *id, const char *title, char *out, size_t outlen)
{
    if (title[0])
        snprintf(out, outlen, "%s (%s)", title, id);
    else
        snprintf(out, outlen, "%s", id);
    return out;
}

/* The change of one headline figure: "▲ 12.5%", "▼ 3 pts", "new", "no change". */
static void fmt_change(const struct gw_kpis *k, enum gw_kpi_figure f, char *out, size_t outlen)
{
    double cur = gw_kpi_figure(&k->cur, f), prev = gw_kpi_figure(&k->prev, f);
    if (f == GW_FIG_CLEAN_RATE && k->prev.requests == 0) {
        /* the previous period had no messages: no rate to compare with */
        snprintf(out, outlen, "%s", k->cur.requests == 0 ? "no change" : "new");
    } else if (f == GW_FIG_CLEAN_RATE) {
        double pts = round((cur - prev) * 100.0 * 100.0) / 100.0;
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

static void fmt_ms(const struct gw_kpi_totals *t, int kind, double q, char *out, size_t outlen)
{
    double v = gw_kpi_percentile(t, kind, q);
    if (v < 0)
        snprintf(out, outlen, "–");
    else if (v < 10)
        snprintf(out, outlen, "%.2f ms", round(v * 1000) / 1000);
    else
        snprintf(out, outlen, "%.0f ms", v);
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

static const char *const cat_titles[GW_CAT__COUNT] = {
    [GW_CAT_INJECTION] = "Attempts to hijack the assistant",
    [GW_CAT_UNSAFE] = "Unsafe requests and replies",
    [GW_CAT_PII] = "Personal data",
    [GW_CAT_SECRET] = "Secrets (passwords, keys, tokens)",
    [GW_CAT_BRAND] = "Off-brand replies",
    [GW_CAT_CX] = "Customer-experience signals",
};

static void headline_row(struct out *o, const struct gw_kpis *k, const char *label,
                         enum gw_kpi_figure f)
{
    char cur[48], prev[48], ch[48];
    if (f == GW_FIG_CLEAN_RATE) {
        snprintf(cur, sizeof cur, "%.1f%%", gw_kpi_figure(&k->cur, f) * 100);
        if (k->prev.requests > 0)
            snprintf(prev, sizeof prev, "%.1f%%", gw_kpi_figure(&k->prev, f) * 100);
        else /* no messages: no rate */
            snprintf(prev, sizeof prev, "–");
    } else {
        fmt_int(gw_kpi_figure(&k->cur, f), cur, sizeof cur);
        fmt_int(gw_kpi_figure(&k->prev, f), prev, sizeof prev);
    }
    fmt_change(k, f, ch, sizeof ch);
    const char *cells[] = {label, cur, prev, ch};
    table_row(o, cells, 4);
}

static int render_incidents(struct out *o, struct gw_store *s, const struct gw_kpi_filter *f)
{
    static const enum gw_category cats[] = {GW_CAT_INJECTION, GW_CAT_UNSAFE, GW_CAT_PII,
                                            GW_CAT_SECRET, GW_CAT_BRAND};
    bool any = false;
    heading(o, 2, "Latest incidents by category");
    for (size_t i = 0; i < sizeof cats / sizeof cats[0]; i++) {
        struct gw_incident_page p;
        if (gw_incident_query(s, f, gw_category_name(cats[i]), GW_INCIDENTS_ACTED, 3, 0, &p) ==
            -1) {
            gw_incident_page_free(&p);
            return -1;
        }
        if (p.n > 0) {
            static const char *const cols[] = {"When (UTC)", "Rule", "Where", "What happened",
                                               "Excerpt (masked)"};
            any = true;
            heading(o, 3, cat_titles[cats[i]]);
            table_begin(o, cols, 5);
            for (size_t j = 0; j < p.n; j++) {
                const struct gw_incident *r = &p.v[j];
                char iso[32], when[32], name[160];
                gw_store_format_time(r->ts_ms, iso, sizeof iso);
                snprintf(when, sizeof when, "%.10s %.5s", iso, iso + 11);
                const char *act = r->action;
                const char *cells[] = {when, rule_name(r->rule, r->title, name, sizeof name),
                                       strcmp(r->direction, "reply") == 0 ? "in a reply"
                                                                          : "in a prompt",
                                       strcmp(act, "block") == 0    ? "blocked"
                                       : strcmp(act, "redact") == 0 ? "redacted"
                                                                    : "flagged",
                                       r->excerpt};
                table_row(o, cells, 5);
            }
            table_end(o);
        }
        gw_incident_page_free(&p);
    }
    if (!any)
        para(o, "No incident in this period.");
    return 0;
}

/* The money section: what the period's figures are worth by the assumptions v. */
static int render_value(struct out *o, struct gw_store *s, const struct gw_kpi_filter *f,
                        const struct gw_value *v)
{
    struct gw_value_counts c, pc;
    struct gw_value_result m, pm;
    struct gw_kpi_filter pf = *f; /* the previous period of the same length */
    pf.from = f->from - (f->to - f->from);
    pf.to = f->from;
    if (gw_kpi_value(s, f, v, &c, &m) == -1 || gw_kpi_value(s, &pf, v, &pc, &pm) == -1) {
        gw_kpi_value_free(&c);
        gw_kpi_value_free(&pc);
        return -1;
    }
    gw_kpi_value_free(&pc);
    const char *cur = v->currency;
    char amt[4][48], prev[4][48], how[4][256], x[32], y[32], z[32];
    const int64_t amounts[] = {m.token_spend, m.spend_avoided, m.exposure_avoided,
                               m.handoff_cost};
    const int64_t before[] = {pm.token_spend, pm.spend_avoided, pm.exposure_avoided,
                              pm.handoff_cost};
    for (int i = 0; i < 4; i++) {
        gw_value_format(amounts[i], x, sizeof x);
        snprintf(amt[i], sizeof amt[i], "%s %s", cur, x);
        gw_value_format(before[i], x, sizeof x);
        snprintf(prev[i], sizeof prev[i], "%s %s", cur, x);
    }
    fmt_int((double)m.blocked_unpriced, x, sizeof x);
    snprintf(how[0], sizeof how[0], "the tokens the provider reported, at the prices below");
    snprintf(how[1], sizeof how[1], "each prompt blocked before the provider saves an average "
             "call%s%s%s", m.blocked_unpriced > 0 ? " (" : "", m.blocked_unpriced > 0 ? x : "",
             m.blocked_unpriced > 0 ? " could not be priced: no call to compare)" : "");
    fmt_int((double)c.personal_data_kept, x, sizeof x);
    fmt_int((double)c.secrets_kept, y, sizeof y);
    char rec[32], sec[32], hand[32];
    gw_value_format(v->personal_data_record, rec, sizeof rec);
    gw_value_format(v->secret, sec, sizeof sec);
    gw_value_format(v->handoff, hand, sizeof hand);
    bool one_pd = c.personal_data_kept == 1, one_sec = c.secrets_kept == 1;
    snprintf(how[2], sizeof how[2], "%s value%s of personal data kept at %s %s each, %s "
             "secret%s at %s %s each", x, one_pd ? "" : "s", cur, rec, y, one_sec ? "" : "s",
             cur, sec);
    fmt_int((double)c.handoffs, z, sizeof z);
    snprintf(how[3], sizeof how[3], "%s request%s for a person (rule %s) at %s %s a live "
             "contact", z, c.handoffs == 1 ? "" : "s",
             v->handoff_rule ? v->handoff_rule : "", cur, hand);
    heading(o, 2, "What it is worth");
    static const char *const cols[] = {"", "Amount", "Previous period", "How it is counted"};
    static const char *const labels[] = {"Spent on the AI provider",
                                         "Provider spend avoided by blocked prompts",
                                         "Exposure cost avoided", "Hand-offs to people"};
    table_begin(o, cols, 4);
    for (int i = 0; i < 4; i++) {
        const char *cells[] = {labels[i], amt[i], prev[i], how[i]};
        table_row(o, cells, 4);
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
    gw_kpi_value_free(&c);
    return 0;
}

/* A table of rules: name, category, where, then requests, blocked, redacted, flagged. */
static void rules_table(struct out *o, const char *const cols[7],
                        const struct gw_kpi_rule *const *rules, size_t n)
{
    table_begin(o, cols, 7);
    for (size_t i = 0; i < n; i++) {
        const struct gw_kpi_rule *r = rules[i];
        char v[4][32], name[160];
        fmt_int((double)r->n.requests, v[0], 32);
        fmt_int((double)r->n.blocked, v[1], 32);
        fmt_int((double)r->n.redacted, v[2], 32);
        fmt_int((double)r->n.flagged, v[3], 32);
        const char *cells[] = {rule_name(r->rule, r->title, name, sizeof name),
                               gw_category_name(r->category),
                               r->dir == GW_KPI_REPLY ? "replies" : "prompts",
                               v[0], v[1], v[2], v[3]};
        table_row(o, cells, 7);
    }
    table_end(o);
}

/* Writes the report of f to file. Returns 0 or -1 with err. */
static int render(struct gw_store *s, FILE *file, bool html, const struct gw_kpi_filter *f,
                  const struct gw_value *value, char *err, size_t errlen)
{
    struct out o = {file, html};
    char line[512], a[96], b[96];
    struct gw_kpis k;
    if (gw_kpi_query(s, f, 0, &k) == -1) {
        snprintf(err, errlen, "%s", gw_store_error(s));
        gw_kpis_free(&k);
        return -1;
    }
    const struct gw_kpi_totals *cur = &k.cur;
    const char *tenant = k.f.tenant, *model = k.f.model, *instance = k.f.instance;

    if (html)
        fputs(html_head, file);
    heading(&o, 1, "Chatbot guardrail report");
    fmt_period(f->from, f->to, a, sizeof a);
    fmt_period(f->from - (f->to - f->from), f->from, b, sizeof b);
    char gateways[64];
    if (instance)
        snprintf(gateways, sizeof gateways, " · gateway %.40s", instance);
    else if (k.instances.n > 1)
        snprintf(gateways, sizeof gateways, " · %zu gateways", k.instances.n);
    else
        gateways[0] = '\0';
    snprintf(line, sizeof line, "%s (UTC) · %s%s%s%s%s · compared with %s", a,
             tenant ? "tenant " : "all tenants", tenant ? tenant : "", model ? " · model " : "",
             model ? model : "", gateways, b);
    if (html) {
        fputs("<p class=sub>", file);
        esc(&o, line);
        fputs("</p>\n", file);
    } else {
        para(&o, line);
    }

    heading(&o, 2, "At a glance");
    fputs(html ? "<ul class=summary>\n" : "", file);
    for (int i = 0; i < GW_CAT__COUNT; i++) {
        enum gw_category c = gw_render_summary_order[i];
        gw_render_summary(cur, c, line, sizeof line);
        fputs(html ? "<li><b>" : "- **", file);
        esc(&o, cat_titles[c]);
        fputs(html ? ":</b> " : ":** ", file);
        esc(&o, line);
        fputs(html ? "</li>\n" : "\n", file);
    }
    fputs(html ? "</ul>\n" : "\n", file);

    heading(&o, 2, "Key numbers");
    static const char *const kcols[] = {"", "This period", "Previous period", "Change"};
    static const struct {
        const char *label;
        enum gw_kpi_figure f;
    } rows[] = {
        {"Conversations", GW_FIG_CONVERSATIONS},
        {"Messages screened", GW_FIG_REQUESTS},
        {"Passed clean (nothing found)", GW_FIG_CLEAN_RATE},
        {"Incidents prevented (blocked or redacted)", GW_FIG_PREVENTED},
        {"Hijack attempts stopped", GW_FIG_PREVENTED_INJECTION},
        {"Unsafe requests and replies stopped", GW_FIG_PREVENTED_UNSAFE},
        {"Off-brand messages stopped or corrected", GW_FIG_PREVENTED_BRAND},
        {"Personal data kept back (items)", GW_FIG_PII_KEPT},
        {"Secrets kept back (items)", GW_FIG_SECRETS_KEPT},
        {"Conversations with a customer signal", GW_FIG_CX_SIGNALS},
    };
    table_begin(&o, kcols, 4);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        headline_row(&o, &k, rows[i].label, rows[i].f);
    table_end(&o);

    if (render_value(&o, s, f, value) == -1)
        goto fail;

    heading(&o, 2, "Speed");
    static const char *const lcols[] = {"", "Typical (median)", "Slow (95th percentile)",
                                        "Slowest (99th percentile)"};
    table_begin(&o, lcols, 4);
    for (int w = 0; w < GW_KPI_HISTS; w++) {
        char p50[32], p95[32], p99[32];
        fmt_ms(cur, w, 0.50, p50, sizeof p50);
        fmt_ms(cur, w, 0.95, p95, sizeof p95);
        fmt_ms(cur, w, 0.99, p99, sizeof p99);
        const char *cells[] = {w == GW_KPI_PROVIDER ? "Time the AI provider took"
                                                    : "Time added by the guardrail",
                               p50, p95, p99};
        table_row(&o, cells, 4);
    }
    table_end(&o);
    fmt_int((double)cur->prompt_tokens, a, sizeof a);
    fmt_int((double)cur->completion_tokens, b, sizeof b);
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
    for (int i = 0; i < GW_CAT__COUNT; i++) {
        enum gw_category c = gw_render_summary_order[i];
        const struct gw_kpi_outcome *p = &cur->cat[GW_KPI_PROMPT][c];
        const struct gw_kpi_outcome *r = &cur->cat[GW_KPI_REPLY][c];
        char v[5][32];
        fmt_int((double)p->blocked, v[0], 32);
        fmt_int((double)p->redacted, v[1], 32);
        fmt_int((double)r->blocked, v[2], 32);
        fmt_int((double)r->redacted, v[3], 32);
        fmt_int((double)(p->flagged + r->flagged), v[4], 32);
        const char *cells[] = {cat_titles[c], v[0], v[1], v[2], v[3], v[4]};
        table_row(&o, cells, 6);
    }
    table_end(&o);

    heading(&o, 2, "Customer-experience signals");
    if (cur->n_signals == 0) {
        para(&o, "No customer-experience signal in this period.");
    } else {
        static const char *const scols[] = {"Signal", "Conversations", "Per 1,000 conversations"};
        table_begin(&o, scols, 3);
        for (size_t i = 0; i < cur->n_signals; i++) {
            char n[32], per[32];
            fmt_int((double)cur->signals[i].conversations, n, sizeof n);
            snprintf(per, sizeof per, "%.1f", cur->signals[i].per_1000);
            const char *cells[] = {cur->signals[i].label, n, per};
            table_row(&o, cells, 3);
        }
        table_end(&o);
    }

    heading(&o, 2, "Rules that acted most");
    const struct gw_kpi_rule *top[10];
    size_t n_top = gw_kpi_top_rules(cur, top, 10);
    if (n_top == 0) {
        para(&o, "No rule acted in this period.");
    } else {
        static const char *const tcols[] = {"Rule",    "Category", "Where",  "Messages",
                                            "Blocked", "Redacted", "Flagged"};
        rules_table(&o, tcols, top, n_top);
    }

    if (cur->n_shadow) { /* rules being tried: the evidence to promote them by */
        heading(&o, 2, "Rules being tried (shadow): what they would have done");
        para(&o, "These rules ran on live traffic and acted on nothing.");
        static const char *const hcols[] = {"Rule", "Category", "Where", "Messages",
                                            "Would have blocked", "Would have redacted",
                                            "Would have flagged"};
        const struct gw_kpi_rule **all = calloc(cur->n_shadow, sizeof *all);
        for (size_t i = 0; all && i < cur->n_shadow; i++)
            all[i] = &cur->shadow[i];
        if (all)
            rules_table(&o, hcols, all, cur->n_shadow);
        free(all);
    }

    if (render_incidents(&o, s, &k.f) == -1)
        goto fail;
    para(&o, "Excerpts are masked: the gateway never stores the personal data, secrets or "
             "other matched text itself.");
    if (html)
        fputs("</body></html>\n", file);
    gw_kpis_free(&k);
    return ferror(file) ? (snprintf(err, errlen, "write error"), -1) : 0;
fail:
    snprintf(err, errlen, "%s", gw_store_error(s));
    gw_kpis_free(&k);
    return -1;
}

int gw_cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"from", required_argument, NULL, 'f'},
                                         {"to", required_argument, NULL, 't'},
                                         {"format", required_argument, NULL, 'F'},
                                         {"tenant", required_argument, NULL, 'T'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"instance", required_argument, NULL, 'i'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *db = NULL, *from_s = NULL, *to_s = NULL, *format = NULL, *tenant = NULL,
               *model = NULL, *output = NULL, *config = NULL, *instance = NULL;
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
        case 'i':
            instance = optarg;
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
    if (!db && !config)
        return usage_error("%s", "--db FILE|URL (or --config FILE with kpi.db) is required: the "
                                 "KPI store the gateway writes");
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
    if (config ? gw_config_load_for_tools(&cfg, config, err, sizeof err) : (gw_config_defaults(&cfg), 0)) {
        fprintf(stderr, "guardrail report: %s\n", err);
        gw_config_free(&cfg);
        return 1;
    }
    if (!db)
        db = cfg.kpi_db;
    if (!db) {
        fprintf(stderr, "guardrail report: %s has no kpi.db; name the store with --db\n", config);
        gw_config_free(&cfg);
        return 2;
    }
    struct gw_store_opts so = {.readonly = true};
    struct gw_store *s = gw_store_open(db, &so, err, sizeof err);
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
    struct gw_kpi_filter filter = {from, to, tenant, model, instance};
    if (render(s, f, html, &filter, &cfg.value, err, sizeof err) == -1)
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
