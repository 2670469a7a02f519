/* guardrail scan: screen JSON lines from stdin (the contract of shared/eval/score.py), or
 * one text given with --text for people trying a rule. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "screen/scan.h"
#include "util/json.h"

static const char scan_help[] =
    "usage: guardrail scan --rules DIR [--direction prompt|reply] [--text TEXT]\n\n"
    "Without --text, reads JSON lines {\"id\", \"text\", \"direction\"} on stdin and writes one\n"
    "JSON line per input line, in order:\n"
    "  {\"id\", \"verdict\", \"findings\": [{\"rule\", \"category\", \"severity\", \"action\",\n"
    "   \"start\", \"end\"}], \"text\": the text with redactions applied}\n"
    "A model rule's finding (docs/model.md) spans the whole text and adds its \"score\".\n"
    "start and end are UTF-8 byte offsets into the input text. A malformed line gets\n"
    "{\"line\": N, \"error\": \"...\"} and the scan carries on.\n\n"
    "  -r, --rules PATH       rule pack directory or file (repeatable; default: rules)\n"
    "  -d, --direction DIR    prompt or reply: overrides each line's \"direction\"\n"
    "                         (lines without one are screened as prompts)\n"
    "  -t, --text TEXT        screen TEXT and print a human-readable result\n"
    "  -h, --help             show this help\n";

static int parse_direction(const char *s, enum gw_direction *out)
{
    if (strcmp(s, "prompt") == 0)
        *out = GW_DIR_PROMPT;
    else if (strcmp(s, "reply") == 0)
        *out = GW_DIR_REPLY;
    else
        return -1;
    return 0;
}

static void write_findings(struct gw_buf *o, const struct gw_ruleset *rs,
                           const struct gw_findings *f)
{
    gw_buf_puts(o, "[");
    for (size_t i = 0; i < f->n; i++) {
        const struct gw_rule *r = &rs->table.rules[f->v[i].rule];
        gw_buf_puts(o, i ? ",{\"rule\":" : "{\"rule\":");
        gw_json_quote(o, r->id, strlen(r->id));
        gw_buf_printf(o, ",\"category\":\"%s\",\"severity\":\"%s\",\"action\":\"%s\","
                         "\"start\":%zu,\"end\":%zu%s}",
                      gw_category_name(r->category), gw_severity_name(r->severity),
                      gw_action_name(f->v[i].action), f->v[i].start, f->v[i].end,
                      f->v[i].shadow ? ",\"shadow\":true" : "");
        if (r->head) {
            o->len--; /* reopen the object for the model's score */
            gw_buf_printf(o, ",\"score\":%.4f}", f->v[i].score);
        }
    }
    gw_buf_puts(o, "]");
}

static void write_error(struct gw_buf *o, long lineno, const cJSON *id, const char *msg)
{
    gw_buf_printf(o, "{\"line\":%ld,", lineno);
    if (cJSON_IsString(id)) {
        gw_buf_puts(o, "\"id\":");
        gw_json_quote(o, id->valuestring, strlen(id->valuestring));
        gw_buf_puts(o, ",");
    }
    gw_buf_puts(o, "\"error\":");
    gw_json_quote(o, msg, strlen(msg));
    gw_buf_puts(o, "}\n");
}

/* Screens one input line, appending exactly one output line to o. */
static void scan_line(gw_scanner *sc, const char *line, size_t len, long lineno,
                      const enum gw_direction *forced, struct gw_findings *f, struct gw_buf *o)
{
    const struct gw_ruleset *rs = gw_scanner_ruleset(sc);
    cJSON *in = cJSON_ParseWithLength(line, len);
    if (!in || !cJSON_IsObject(in)) {
        write_error(o, lineno, NULL, "not a JSON object");
        cJSON_Delete(in);
        return;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(in, "id");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(in, "text");
    const cJSON *dirj = cJSON_GetObjectItemCaseSensitive(in, "direction");
    enum gw_direction dir = GW_DIR_PROMPT;
    if (!cJSON_IsString(text)) {
        write_error(o, lineno, id, "\"text\" must be a string");
    } else if (forced) {
        dir = *forced;
    } else if (dirj && (!cJSON_IsString(dirj) || parse_direction(dirj->valuestring, &dir))) {
        write_error(o, lineno, id, "\"direction\" must be \"prompt\" or \"reply\"");
        text = NULL;
    }
    if (cJSON_IsString(text)) {
        size_t tlen = strlen(text->valuestring);
        if (gw_scan(sc, text->valuestring, tlen, dir, f) == -1) {
            write_error(o, lineno, id, "scan failed");
        } else {
            gw_buf_puts(o, "{\"id\":");
            if (cJSON_IsString(id))
                gw_json_quote(o, id->valuestring, strlen(id->valuestring));
            else if (cJSON_IsNumber(id))
                gw_buf_printf(o, "%.17g", id->valuedouble);
            else
                gw_buf_puts(o, "null");
            gw_buf_printf(o, ",\"verdict\":\"%s\",\"findings\":", gw_action_name(f->verdict));
            write_findings(o, rs, f);
            gw_buf_puts(o, ",\"text\":");
            struct gw_buf red = {0};
            gw_redact(rs, text->valuestring, tlen, f, &red);
            gw_json_quote(o, red.data ? red.data : "", red.len);
            gw_buf_free(&red);
            gw_buf_puts(o, "}\n");
        }
    }
    cJSON_Delete(in);
}

static int scan_stdin(gw_scanner *sc, const enum gw_direction *forced)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    struct gw_findings f = {0};
    struct gw_buf o = {0};
    while ((n = getline(&line, &cap, stdin)) != -1) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue; /* blank lines carry no request */
        scan_line(sc, line, (size_t)n, lineno, forced, &f, &o);
        if (o.len > (1 << 16)) {
            fwrite(o.data, 1, o.len, stdout);
            gw_buf_reset(&o);
        }
    }
    if (o.len)
        fwrite(o.data, 1, o.len, stdout);
    free(line);
    gw_buf_free(&o);
    gw_findings_free(&f);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int scan_text(gw_scanner *sc, const char *text, enum gw_direction dir)
{
    const struct gw_ruleset *rs = gw_scanner_ruleset(sc);
    struct gw_findings f = {0};
    size_t len = strlen(text);
    if (gw_scan(sc, text, len, dir, &f) == -1) {
        fprintf(stderr, "guardrail: scan failed\n");
        return 1;
    }
    printf("verdict: %s (%s, %zu finding%s)\n", gw_action_name(f.verdict),
           dir == GW_DIR_PROMPT ? "prompt" : "reply", f.n, f.n == 1 ? "" : "s");
    for (size_t i = 0; i < f.n; i++) {
        const struct gw_rule *r = &rs->table.rules[f.v[i].rule];
        if (r->head) { /* a model rule: its span is the whole text, its score says more */
            printf("  %-28s %-9s %-8s %-6s%s score %.4f (fires at %.4f)\n", r->id,
                   gw_category_name(r->category), gw_severity_name(r->severity),
                   gw_action_name(f.v[i].action), f.v[i].shadow ? " (shadow: would)" : "",
                   f.v[i].score, r->above);
            continue;
        }
        printf("  %-28s %-9s %-8s %-6s%s bytes %zu-%zu: \"%.*s\"\n", r->id,
               gw_category_name(r->category), gw_severity_name(r->severity),
               gw_action_name(f.v[i].action), f.v[i].shadow ? " (shadow: would)" : "",
               f.v[i].start, f.v[i].end,
               (int)(f.v[i].end - f.v[i].start), text + f.v[i].start);
    }
    const struct gw_rule *blocker = gw_findings_blocking_rule(rs, &f);
    if (blocker)
        printf("answer: %s\n", blocker->message ? blocker->message : "(the default refusal)");
    if (blocker) { /* the customer sees the answer, never the text */
        printf("text: (blocked: not sent)\n");
    } else {
        struct gw_buf red = {0};
        gw_redact(rs, text, len, &f, &red);
        printf("text: %s\n", red.data ? red.data : "");
        gw_buf_free(&red);
    }
    gw_findings_free(&f);
    return 0;
}

int gw_cmd_scan(int argc, char **argv)
{
    static const struct option opts[] = {{"rules", required_argument, NULL, 'r'},
                                         {"direction", required_argument, NULL, 'd'},
                                         {"text", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    size_t npaths = 0;
    const char *text = NULL;
    enum gw_direction dir = GW_DIR_PROMPT;
    bool forced = false;
    int c, rc = 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "r:d:t:h", opts, NULL)) != -1) {
        if (c == 'r') {
            paths[npaths++] = optarg;
        } else if (c == 'd') {
            if (parse_direction(optarg, &dir)) {
                rc = gw_cli_usage_error("--direction must be prompt or reply, not '%s'", optarg);
                goto out;
            }
            forced = true;
        } else if (c == 't') {
            text = optarg;
        } else if (c == 'h') {
            fputs(scan_help, stdout);
            rc = 0;
            goto out;
        } else {
            fputs(scan_help, stderr);
            goto out;
        }
    }
    if (optind < argc) {
        rc = gw_cli_usage_error("unexpected argument '%s' (see guardrail scan --help)",
                                argv[optind]);
        goto out;
    }
    if (npaths == 0)
        paths[npaths++] = "rules";

    struct gw_errors errs = {0};
    struct gw_ruleset *rs = NULL;
    if (gw_ruleset_load(paths, npaths, &rs, &errs) == -1) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msgs[i]);
        fprintf(stderr, "guardrail: the rules did not load; run 'guardrail check' on them\n");
        gw_errors_free(&errs);
        rc = 1;
        goto out;
    }
    gw_scanner *sc = gw_scanner_new(rs);
    gw_ruleset_unref(rs); /* the scanner holds its own reference */
    if (!sc) {
        rc = 1;
        goto out;
    }
    rc = text ? scan_text(sc, text, dir) : scan_stdin(sc, forced ? &dir : NULL);
    gw_scanner_free(sc);
out:
    free(paths);
    return rc;
}
