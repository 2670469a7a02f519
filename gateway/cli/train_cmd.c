/* guardrail train and guardrail eval: the learned stage (screen/model.h) from labelled JSON
 * lines, with nothing but the binary. train writes a model file; eval measures rules alone,
 * the model alone and both by k-fold cross-validation and picks the thresholds that keep
 * benign prompts' false blocks under a target. Both read the rows' features through the
 * scanner itself (gw_scan with the rule packs, the model left out), so a model is trained
 * on exactly what the gateway will score. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "screen/scan.h"
#include "screen/train.h"

enum label { L_BENIGN, L_ATTACK, L_HARMFUL, L_TOXIC, L__COUNT };
static const char *const label_names[] = {"benign", "attack", "harmful", "toxic"};

struct row {
    char *text;
    size_t len;
    char *source;
    enum label label;
    unsigned fold;
    const char *file; /* where it was read (a --data or --extra path) and its line */
    long line;
    bool excluded; /* by --exclude-source: never trained on, still measured */
    bool extra;    /* from --extra: trained on in every fold, never measured */
    bool rule_block, rule_unsafe, rule_flag; /* the rules alone */
    size_t n_text;                           /* its text features */
    struct gw_train_doc *win;                /* a long text's windows (model.h) */
    size_t n_win;
};

struct head_spec {
    char name[GW_MODEL_NAME_MAX];
    unsigned labels; /* 1 << label: its positives; benign rows are its negatives */
    bool block;      /* eval picks a block threshold for it (else a flag one only) */
};

struct job {
    const char *rules[16];
    size_t n_rules;
    const char *data[64];
    size_t n_data;
    const char *extra[64]; /* train/ holds one file a family of rows */
    size_t n_extra;
    const char *exclude[32];
    size_t n_exclude;
    struct head_spec heads[GW_MODEL_HEADS_MAX];
    unsigned n_heads;
    struct gw_train_opts opts;
    struct row *rows;
    struct gw_train_doc *docs;
    size_t n;
    unsigned char *nonneg; /* the rules' buckets (gw_train_opts) */
};

static const char *const default_heads[] = {"injection=attack", "unsafe=harmful",
                                            "toxic=toxic/flag"};

/* "NAME=LABEL[,LABEL...][/flag]": NAME of letters, digits, '_', '-' or '.', not a name
 * given before; each label one of attack, harmful, toxic. */
static int parse_head(struct job *j, const char *spec)
{
    if (j->n_heads >= GW_MODEL_HEADS_MAX)
        return gw_cli_usage_error("at most %d heads", GW_MODEL_HEADS_MAX);
    struct head_spec *h = &j->heads[j->n_heads];
    memset(h, 0, sizeof *h);
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || (size_t)(eq - spec) >= GW_MODEL_NAME_MAX)
        return gw_cli_usage_error("--head %s: expected NAME=LABEL[,LABEL][/flag]", spec);
    for (const char *c = spec; c < eq; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.')
            return gw_cli_usage_error("--head %s: a head's name is letters, digits, '_', '-' "
                                      "or '.'", spec);
    memcpy(h->name, spec, (size_t)(eq - spec));
    for (unsigned k = 0; k < j->n_heads; k++)
        if (strcmp(j->heads[k].name, h->name) == 0)
            return gw_cli_usage_error("--head %s: a head named '%s' is given twice", spec,
                                      h->name);
    h->block = true;
    const char *p = eq + 1, *end = p + strlen(p);
    const char *slash = strchr(p, '/');
    if (slash) {
        if (strcmp(slash, "/flag") != 0)
            return gw_cli_usage_error("--head %s: only '/flag' may follow the labels", spec);
        end = slash;
        h->block = false;
    }
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t len = (size_t)((comma ? comma : end) - p);
        int k = -1;
        for (int l = L_ATTACK; l < L__COUNT; l++)
            if (len == strlen(label_names[l]) && strncmp(p, label_names[l], len) == 0)
                k = l;
        if (k < 0)
            return gw_cli_usage_error("--head %s: unknown label '%.*s' (attack, harmful, toxic)",
                                      spec, (int)len, p);
        h->labels |= 1u << k;
        p += len + 1;
    }
    j->n_heads++;
    return 0;
}

/* A number option: all of s is a finite number in [lo, hi] (strict_lo: above lo). */
static int num_opt(const char *opt, const char *s, double lo, double hi, bool strict_lo,
                   double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < lo || (strict_lo && v == lo) || v > hi)
        return gw_cli_usage_error("--%s %s: expected a number %s %g and at most %g", opt, s,
                                  strict_lo ? "above" : "from", lo, hi);
    *out = v;
    return 0;
}

/* A whole-number option: all of s is a whole number in [lo, hi]. */
static int count_opt(const char *opt, const char *s, unsigned long long lo,
                     unsigned long long hi, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno || *s == '-' || *s == '+' || v < lo || v > hi)
        return gw_cli_usage_error("--%s %s: expected a whole number from %llu to %llu", opt, s,
                                  lo, hi);
    *out = v;
    return 0;
}

static const char *const min_keys[] = {"benign", "attacks", "harmful", "toxic"};

/* --min "KEY=RATE[,KEY=RATE]": each key once, of benign, attacks, harmful, toxic, each rate a
 * number from 0 to 1. Fills want[] (negative: no floor). Returns 0 or 2 (usage). */
static int parse_min(const char *spec, double *want)
{
    for (int l = 0; l < L__COUNT; l++)
        want[l] = -1;
    const char *p = spec;
    for (;;) {
        const char *comma = strchr(p, ','), *stop = comma ? comma : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        int k = -1;
        for (int l = 0; eq && l < L__COUNT; l++)
            if ((size_t)(eq - p) == strlen(min_keys[l]) && strncmp(p, min_keys[l], (size_t)(eq - p)) == 0)
                k = l;
        char num[32];
        size_t n = eq ? (size_t)(stop - eq - 1) : 0;
        if (k < 0 || want[k] >= 0 || n == 0 || n >= sizeof num)
            return gw_cli_usage_error("--min %s: expected KEY=RATE[,KEY=RATE], each key once "
                                      "(benign, attacks, harmful, toxic)", spec);
        memcpy(num, eq + 1, n);
        num[n] = '\0';
        if (num_opt("min", num, 0, 1, false, &want[k]))
            return 2;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static bool excluded(const struct job *j, const char *source)
{
    for (size_t i = 0; i < j->n_exclude; i++)
        if (strncmp(source, j->exclude[i], strlen(j->exclude[i])) == 0)
            return true;
    return false;
}

/* Reads the rows of one JSON-lines file whose label is benign, attack, harmful or toxic
 * (others are skipped). Returns 0 or -1 with a message. */
static int read_rows(struct job *j, const char *path, unsigned folds, bool extra)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "guardrail: %s: cannot open\n", path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, rows_cap = j->n;
    ssize_t got;
    long lineno = 0, skipped = 0;
    int rc = 0;
    while ((got = getline(&line, &cap, f)) > 0) {
        lineno++;
        const char *end = NULL;
        cJSON *o = cJSON_ParseWithLengthOpts(line, (size_t)got, &end, false);
        if (o && strspn(end, " \t\r\n") != (size_t)(line + got - end)) {
            cJSON_Delete(o); /* something after the object */
            o = NULL;
        }
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "text");
        const cJSON *label = cJSON_GetObjectItemCaseSensitive(o, "label");
        const cJSON *source = cJSON_GetObjectItemCaseSensitive(o, "source");
        if (!o || !cJSON_IsString(text) || !cJSON_IsString(label) ||
            (source && !cJSON_IsString(source))) {
            if (strspn(line, " \t\r\n") != (size_t)got) {
                fprintf(stderr, "guardrail: %s:%ld: expected one JSON object {\"text\": string, "
                                "\"label\": string, \"source\": string}\n", path, lineno);
                rc = -1;
            }
            cJSON_Delete(o);
            if (rc)
                break;
            continue;
        }
        int l = -1;
        for (int k = 0; k < L__COUNT; k++)
            if (strcmp(label->valuestring, label_names[k]) == 0)
                l = k;
        if (l >= 0) {
            if (j->n == rows_cap) {
                rows_cap = rows_cap ? rows_cap * 2 : 1024;
                struct row *v = realloc(j->rows, rows_cap * sizeof *v);
                if (!v) {
                    cJSON_Delete(o);
                    rc = -1;
                    break;
                }
                j->rows = v;
            }
            struct row *r = &j->rows[j->n++];
            memset(r, 0, sizeof *r);
            r->text = strdup(text->valuestring);
            r->len = strlen(r->text);
            r->source = strdup(cJSON_IsString(source) ? source->valuestring : "");
            r->label = (enum label)l;
            r->file = path;
            r->line = lineno;
            r->fold = gw_train_fold(r->text, r->len, folds);
            r->excluded = excluded(j, r->source);
            r->extra = extra;
        } else {
            skipped++;
        }
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    if (rc == 0 && skipped)
        fprintf(stderr, "guardrail: %s: %ld rows skipped: their label is not benign, attack, "
                        "harmful or toxic\n", path, skipped);
    return rc;
}

/* Row i's scores by one head (w, bias), as gw_model_scores gives them: into score[i] the
 * highest of its whole text's and its windows' (what block rules read), into score[n + i]
 * its whole text's (what flag rules read). A head's scores are 2 n floats. */
static void row_score(const struct job *j, size_t i, const double *w, double bias,
                      float *score)
{
    score[i] = score[j->n + i] = 0;
    if (j->rows[i].n_text < GW_MODEL_MIN_TEXT) /* as the gateway: too short to judge */
        return;
    float s = score[j->n + i] = gw_train_score(w, bias, &j->docs[i]);
    for (size_t k = 0; k < j->rows[i].n_win; k++)
        s = fmaxf(s, gw_train_score(w, bias, &j->rows[i].win[k]));
    score[i] = s;
}

/* Screens every row with the rules (the model left out) and keeps its features. */
static int featurise(struct job *j)
{
    struct gw_errors errs = {0};
    struct gw_ruleset *rs;
    if (gw_ruleset_load_rules_only(j->rules, j->n_rules, &rs, &errs) == -1) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msgs[i]);
        gw_errors_free(&errs);
        return -1;
    }
    gw_errors_free(&errs);
    j->nonneg = calloc((size_t)1 << j->opts.bits, 1);
    for (size_t i = 0; j->nonneg && i < rs->table.n_rules; i++) {
        const char *id = rs->table.rules[i].id;
        j->nonneg[gw_model_bucket(gw_model_hash('r', id, strlen(id)), j->opts.bits)] = 1;
    }
    j->opts.nonneg = j->nonneg;
    gw_scanner *sc = gw_scanner_new(rs);
    gw_ruleset_unref(rs);
    j->docs = calloc(j->n ? j->n : 1, sizeof *j->docs);
    if (!sc || !j->docs || !j->nonneg) {
        gw_scanner_free(sc);
        return -1;
    }
    gw_scanner_keep_features(sc, j->opts.bits);
    struct gw_findings f = {0};
    int rc = 0;
    for (size_t i = 0; i < j->n && rc == 0; i++) {
        struct row *r = &j->rows[i];
        if (gw_scan(sc, r->text, r->len, GW_DIR_PROMPT, &f) == -1) {
            fprintf(stderr, "guardrail: row %zu (%s) could not be screened\n", i, r->source);
            rc = -1;
            break;
        }
        r->rule_block = f.verdict == GW_ACTION_BLOCK;
        for (size_t k = 0; k < f.n; k++) {
            enum gw_category c = rs->table.rules[f.v[k].rule].category;
            r->rule_unsafe |= c == GW_CAT_UNSAFE;
            r->rule_flag |= c == GW_CAT_UNSAFE || c == GW_CAT_INJECTION;
        }
        const struct gw_feats *ft = gw_scanner_features(sc);
        struct gw_feats empty = {0};
        r->n_text = ft ? ft->n_text : 0;
        if (gw_train_doc_set(&j->docs[i], ft ? ft : &empty) == -1 ||
            (ft && gw_train_windows(ft, &r->win, &r->n_win) == -1))
            rc = -1;
    }
    gw_findings_free(&f);
    gw_scanner_free(sc);
    return rc;
}

static void job_free(struct job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        free(j->rows[i].text);
        free(j->rows[i].source);
        for (size_t k = 0; k < j->rows[i].n_win; k++)
            gw_train_doc_free(&j->rows[i].win[k]);
        free(j->rows[i].win);
        if (j->docs)
            gw_train_doc_free(&j->docs[i]);
    }
    free(j->rows);
    free(j->docs);
    free(j->nonneg);
}

/* y for head h: 1 its labels, 0 benign, -1 other labels, excluded rows and skip_fold's. */
static void head_labels(const struct job *j, unsigned h, int skip_fold, signed char *y)
{
    for (size_t i = 0; i < j->n; i++) {
        const struct row *r = &j->rows[i];
        if (r->excluded || (!r->extra && (int)r->fold == skip_fold))
            y[i] = -1;
        else if (j->heads[h].labels & (1u << r->label))
            y[i] = 1;
        else
            y[i] = r->label == L_BENIGN ? 0 : -1;
    }
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static const char common_help[] =
    "  -d, --data FILE        labelled JSON lines {\"text\", \"label\", \"source\"} (repeatable;\n"
    "                         labels benign, attack, harmful, toxic; other rows are skipped)\n"
    "  -r, --rules PATH       rule packs whose matches are features (default: rules)\n"
    "  -e, --extra FILE       more labelled rows, always trained on (eval never measures\n"
    "                         them; train reads them as it reads --data)\n"
    "  -x, --exclude-source P rows whose source starts with P are never trained on\n"
    "                         (repeatable: sources whose licence the model may not ship)\n"
    "      --head SPEC        NAME=LABEL[,LABEL][/flag] (repeatable; default: injection=attack\n"
    "                         unsafe=harmful toxic=toxic/flag); benign rows are negatives\n"
    "      --bits N           2^N feature buckets (default 17)\n"
    "      --epochs N         passes over the rows (default 25)\n"
    "      --seed N           the shuffle's seed (default 1)\n"
    "      --l2 X, --step X   L2 penalty (default 1e-6) and Adagrad's step (default 0.1)\n"
    "      --pos-weight X     a positive's weight over class balance (default 1)\n"
    "      --hard E,S,W       then E more passes in which the share S of negatives scoring\n"
    "                         highest weigh W times (default 10,0.05,5; 0,0,1: none)\n"
    "  -h, --help             show this help\n";

enum { O_HEAD = 256, O_BITS, O_EPOCHS, O_SEED, O_FOLDS, O_BLOCK_RATE, O_FLAG_RATE, O_MIN,
       O_L2, O_STEP, O_POS, O_HARD, O_SCORES };

static const struct option common_opts[] = {
    {"data", required_argument, NULL, 'd'},
    {"rules", required_argument, NULL, 'r'},
    {"exclude-source", required_argument, NULL, 'x'},
    {"extra", required_argument, NULL, 'e'},
    {"out", required_argument, NULL, 'o'},
    {"head", required_argument, NULL, O_HEAD},
    {"bits", required_argument, NULL, O_BITS},
    {"epochs", required_argument, NULL, O_EPOCHS},
    {"seed", required_argument, NULL, O_SEED},
    {"folds", required_argument, NULL, O_FOLDS},
    {"block-rate", required_argument, NULL, O_BLOCK_RATE},
    {"flag-rate", required_argument, NULL, O_FLAG_RATE},
    {"min", required_argument, NULL, O_MIN},
    {"l2", required_argument, NULL, O_L2},
    {"step", required_argument, NULL, O_STEP},
    {"pos-weight", required_argument, NULL, O_POS},
    {"hard", required_argument, NULL, O_HARD},
    {"scores", required_argument, NULL, O_SCORES},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct eval_opts {
    unsigned folds;
    double block_rate, flag_rate;
    const char *out;
    const char *scores; /* eval --scores: each measured row's out-of-fold scores */
    double min[L__COUNT]; /* --min's floors by label (negative: none) */
    bool has_min;
};

static int too_many(const char *option, size_t max)
{
    return gw_cli_usage_error("at most %zu %s", max, option);
}

/* Parses the options train and eval share. Returns 0, 1 (help shown) or 2 (usage). */
static int parse_args(int argc, char **argv, const char *help, struct job *j,
                      struct eval_opts *e)
{
    j->opts = GW_TRAIN_DEFAULTS;
    *e = (struct eval_opts){.folds = 5, .block_rate = 0.005, .flag_rate = 0.05};
    int c;
    unsigned long long u = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:e:r:x:o:h", common_opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (j->n_data == sizeof j->data / sizeof *j->data)
                return too_many("--data", sizeof j->data / sizeof *j->data);
            j->data[j->n_data++] = optarg;
            break;
        case 'r':
            if (j->n_rules == sizeof j->rules / sizeof *j->rules)
                return too_many("--rules", sizeof j->rules / sizeof *j->rules);
            j->rules[j->n_rules++] = optarg;
            break;
        case 'e':
            if (j->n_extra == sizeof j->extra / sizeof *j->extra)
                return too_many("--extra", sizeof j->extra / sizeof *j->extra);
            j->extra[j->n_extra++] = optarg;
            break;
        case 'x':
            if (j->n_exclude == sizeof j->exclude / sizeof *j->exclude)
                return too_many("--exclude-source", sizeof j->exclude / sizeof *j->exclude);
            j->exclude[j->n_exclude++] = optarg;
            break;
        case 'o':
            e->out = optarg;
            break;
        case O_SCORES:
            e->scores = optarg;
            break;
        case O_HEAD:
            if (parse_head(j, optarg))
                return 2;
            break;
        case O_BITS:
            if (count_opt("bits", optarg, GW_MODEL_BITS_MIN, GW_MODEL_BITS_MAX, &u))
                return 2;
            j->opts.bits = (unsigned)u;
            break;
        case O_EPOCHS:
            if (count_opt("epochs", optarg, 1, 100000, &u))
                return 2;
            j->opts.epochs = (unsigned)u;
            break;
        case O_SEED:
            if (count_opt("seed", optarg, 0, UINT64_MAX, &u))
                return 2;
            j->opts.seed = u;
            break;
        case O_FOLDS:
            if (count_opt("folds", optarg, 2, 100, &u))
                return 2;
            e->folds = (unsigned)u;
            break;
        case O_BLOCK_RATE:
            if (num_opt("block-rate", optarg, 0, 1, false, &e->block_rate))
                return 2;
            break;
        case O_FLAG_RATE:
            if (num_opt("flag-rate", optarg, 0, 1, false, &e->flag_rate))
                return 2;
            break;
        case O_MIN:
            if (parse_min(optarg, e->min))
                return 2;
            e->has_min = true;
            break;
        case O_L2:
            if (num_opt("l2", optarg, 0, 1, false, &j->opts.l2))
                return 2;
            break;
        case O_STEP:
            if (num_opt("step", optarg, 0, 100, true, &j->opts.rate))
                return 2;
            break;
        case O_POS:
            if (num_opt("pos-weight", optarg, 0, 1000, true, &j->opts.pos_weight))
                return 2;
            break;
        case O_HARD: {
            char part[3][32]; /* EPOCHS, SHARE, WEIGHT */
            int got = 0;
            for (const char *q = optarg; got < 4; got++) {
                size_t len = strcspn(q, ",");
                if (got == 3) { /* a fourth part */
                    got = 4;
                    break;
                }
                if (len == 0 || len >= sizeof part[got])
                    break;
                memcpy(part[got], q, len);
                part[got][len] = '\0';
                q += len;
                if (*q == '\0') {
                    got++;
                    break;
                }
                q++;
            }
            if (got != 3 || count_opt("hard", part[0], 0, 100000, &u) ||
                num_opt("hard", part[1], 0, 1, false, &j->opts.hard_share) ||
                num_opt("hard", part[2], 0, 1000, true, &j->opts.hard_weight))
                return gw_cli_usage_error("--hard EPOCHS,SHARE,WEIGHT: passes (a whole number), "
                                          "a share from 0 to 1, a weight above 0");
            j->opts.hard_epochs = (unsigned)u;
            break;
        }
        case 'h':
            fputs(help, stdout);
            fputs(common_help, stdout);
            return 1;
        default:
            return 2;
        }
    }
    for (int i = optind; i < argc; i++) { /* files may also follow the options */
        if (j->n_data == sizeof j->data / sizeof *j->data)
            return too_many("--data", sizeof j->data / sizeof *j->data);
        j->data[j->n_data++] = argv[i];
    }
    if (j->n_data == 0)
        return gw_cli_usage_error("no --data files");
    if (j->n_rules == 0)
        j->rules[j->n_rules++] = "rules";
    if (j->n_heads == 0)
        for (size_t i = 0; i < sizeof default_heads / sizeof *default_heads; i++)
            parse_head(j, default_heads[i]);
    return 0;
}

static int load_job(struct job *j, unsigned folds)
{
    for (size_t i = 0; i < j->n_data; i++)
        if (read_rows(j, j->data[i], folds, false) == -1)
            return -1;
    for (size_t i = 0; i < j->n_extra; i++)
        if (read_rows(j, j->extra[i], folds, true) == -1)
            return -1;
    if (j->n == 0) {
        fprintf(stderr, "guardrail: no labelled rows in the --data files\n");
        return -1;
    }
    return featurise(j);
}

static double rate(size_t a, size_t b)
{
    return b ? (double)a / (double)b : 0;
}

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x > y ? -1 : x < y;
}

/* Whether row i counts where thresholds are picked: what eval measures (all but --extra
 * rows), or with unseen, what the model never trained on (the excluded sources). */
static bool counted(const struct row *r, bool unseen)
{
    return !r->extra && (!unseen || r->excluded);
}

/* The threshold that lets a of the sorted (descending) scores v[0 .. n) through. */
static float let_through(const float *v, size_t n, size_t a)
{
    if (a >= n)
        return n && v[n - 1] > 0 ? v[n - 1] : nextafterf(0.0f, 1.0f);
    float t = nextafterf(v[a], 2.0f);
    return t > 1.0f ? 1.0f : t;
}

/* Benign rows the thresholds block that the rules let through, and how much of the
 * attacks and harmful asks rules and model stop (the two recalls summed). */
static void try_thresholds(const struct job *j, float *const *score, bool unseen,
                           const float *block_at, size_t *fb, double *gain)
{
    size_t hit[L__COUNT] = {0}, n[L__COUNT] = {0};
    *fb = 0;
    for (size_t i = 0; i < j->n; i++) {
        const struct row *r = &j->rows[i];
        if (!counted(r, unseen))
            continue;
        bool block = false;
        for (unsigned h = 0; h < j->n_heads; h++)
            block |= score[h][i] >= block_at[h];
        if (r->label == L_BENIGN)
            *fb += block && !r->rule_block;
        n[r->label]++;
        hit[r->label] += block || r->rule_block;
    }
    *gain = rate(hit[L_ATTACK], n[L_ATTACK]) + rate(hit[L_HARMFUL], n[L_HARMFUL]);
}

/* Every split of the block budget between the blocking heads from head h on (heads before
 * h keep block_at[]): each head's allowance from 0 up while the benign rows blocked stay in
 * budget. Keeps the best split's thresholds in best_at and its gain in *best (the first
 * found of equal gains: fewer rows to the earlier heads). *tries counts the splits tried;
 * the search stops at SEARCH_MAX of them. */
#define SEARCH_MAX 20000
static void search_split(const struct job *j, float *const *score, float *const *neg,
                         const size_t *nn, size_t budget, unsigned h, float *block_at,
                         float *best_at, double *best, size_t *tries)
{
    while (h < j->n_heads && !j->heads[h].block)
        h++;
    if (h == j->n_heads) {
        size_t fb;
        double gain;
        try_thresholds(j, score, false, block_at, &fb, &gain);
        ++*tries;
        if (fb <= budget && gain > *best + 1e-12) {
            *best = gain;
            memcpy(best_at, block_at, j->n_heads * sizeof *best_at);
        }
        return;
    }
    for (size_t a = 0; a <= nn[h] && a <= budget && *tries < SEARCH_MAX; a++) {
        block_at[h] = let_through(neg[h], nn[h], a);
        size_t fb;
        double gain;
        try_thresholds(j, score, false, block_at, &fb, &gain); /* heads after h at 0 rows */
        if (fb > budget)
            break;
        search_split(j, score, neg, nn, budget, h + 1, block_at, best_at, best, tries);
    }
    block_at[h] = let_through(neg[h], nn[h], 0);
}

/* Picks each head's thresholds from the rows' scores (score[h][i]). The block budget,
 * block_rate of the counted benign rows, is for rules and model together: the benign rows
 * the rules block already spend part of it. The rest is shared between the blocking heads
 * greedily: one more benign row at a time to the head whose lower threshold stops the most
 * attacks and harmful asks (with unseen, whose positives are only those of the excluded
 * sources, to the head that has had the fewest; without it, every split search_split can
 * afford is tried too, and the best kept), as long as the benign rows blocked, all
 * heads together, stay within it. A flag threshold lets flag_rate of the benign rows
 * through, each head. */
static void pick_thresholds(const struct job *j, float *const *score, bool unseen,
                            double block_rate, double flag_rate, float *block_at, float *flag_at)
{
    size_t n_benign = 0, rule_fb = 0, nn[GW_MODEL_HEADS_MAX] = {0};
    float *neg[GW_MODEL_HEADS_MAX] = {0};
    for (size_t i = 0; i < j->n; i++) {
        const struct row *r = &j->rows[i];
        if (r->label == L_BENIGN && counted(r, unseen))
            n_benign++, rule_fb += r->rule_block;
    }
    double room = floor(block_rate * (double)n_benign + 1e-9) - (double)rule_fb;
    size_t budget = room > 0 ? (size_t)room : 0, alloc[GW_MODEL_HEADS_MAX] = {0};
    for (unsigned h = 0; h < j->n_heads; h++) {
        if (!(neg[h] = malloc((n_benign ? n_benign : 1) * sizeof *neg[h])))
            goto done;
        for (size_t i = 0; i < j->n; i++) {
            const struct row *r = &j->rows[i];
            if (r->label == L_BENIGN && counted(r, unseen) && !r->rule_block)
                neg[h][nn[h]++] = score[h][i];
        }
        qsort(neg[h], nn[h], sizeof *neg[h], cmp_desc);
        block_at[h] = j->heads[h].block ? let_through(neg[h], nn[h], 0) : 2.0f;
    }
    for (;;) {
        int best = -1;
        double best_gain = -HUGE_VAL, gain;
        size_t fb;
        for (unsigned h = 0; h < j->n_heads; h++) {
            if (!j->heads[h].block || alloc[h] >= nn[h])
                continue;
            float keep = block_at[h];
            block_at[h] = let_through(neg[h], nn[h], alloc[h] + 1);
            try_thresholds(j, score, unseen, block_at, &fb, &gain);
            block_at[h] = keep;
            if (unseen) /* positives there are only some sources': share evenly */
                gain = -(double)alloc[h];
            if (fb <= budget && gain > best_gain) {
                best = (int)h;
                best_gain = gain;
            }
        }
        if (best < 0)
            break;
        alloc[best]++;
        block_at[best] = let_through(neg[best], nn[best], alloc[best]);
    }
    if (!unseen) {
        /* one row at a time can stop short of the best split (a head that gains little for
         * its next row may gain much for its next three): try every split the search can
         * afford, and keep it when it stops more than the greedy one */
        float at[GW_MODEL_HEADS_MAX], best_at[GW_MODEL_HEADS_MAX];
        size_t fb, tries = 0;
        double greedy, best;
        try_thresholds(j, score, false, block_at, &fb, &greedy);
        best = greedy;
        memcpy(best_at, block_at, sizeof best_at);
        for (unsigned h = 0; h < j->n_heads; h++)
            at[h] = j->heads[h].block ? let_through(neg[h], nn[h], 0) : 2.0f;
        search_split(j, score, neg, nn, budget, 0, at, best_at, &best, &tries);
        if (best > greedy)
            memcpy(block_at, best_at, j->n_heads * sizeof *block_at);
    }
    for (unsigned h = 0; h < j->n_heads; h++) {
        size_t k = 0;
        for (size_t i = 0; i < j->n; i++) { /* the flag threshold: all benign rows, whole */
            const struct row *r = &j->rows[i];
            if (r->label == L_BENIGN && counted(r, unseen))
                neg[h][k++] = score[h][j->n + i];
        }
        flag_at[h] = gw_threshold_for_rate(neg[h], k, flag_rate);
        if (flag_at[h] > block_at[h])
            flag_at[h] = block_at[h];
        /* printed rounded up, to be copied into a pack: rounded to nearest, a threshold
         * could fall under a benign row's score that it was picked to stay above */
        if (j->heads[h].block)
            printf("head %-10s block above %.4f  flag above %.4f\n", j->heads[h].name,
                   gw_threshold_printed(block_at[h]), gw_threshold_printed(flag_at[h]));
        else
            printf("head %-10s flag above %.4f\n", j->heads[h].name,
                   gw_threshold_printed(flag_at[h]));
    }
done:
    for (unsigned h = 0; h < GW_MODEL_HEADS_MAX; h++)
        free(neg[h]);
}

static const char train_help[] =
    "usage: guardrail train --data FILE.jsonl... --out FILE [options]\n\n"
    "Trains the learned stage's model (one logistic regression head a category over hashed\n"
    "n-grams of the normalised text and the rules' matches) and writes it to FILE. The same\n"
    "rows and options give the same bytes. Pick the heads' thresholds with guardrail eval.\n\n"
    "  -o, --out FILE         the model file to write\n"
    "      --block-rate R, --flag-rate R  with --exclude-source: print the thresholds that\n"
    "                         let R of the excluded benign rows (never trained on) through,\n"
    "                         rules and model together (default 0.005 and 0.05)\n";

int gw_cmd_train(int argc, char **argv)
{
    struct job j = {0};
    struct eval_opts e;
    int rc = parse_args(argc, argv, train_help, &j, &e);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!e.out)
        return gw_cli_usage_error("no --out FILE");
    if (e.scores)
        return gw_cli_usage_error("--scores is eval's: train writes a model, not scores");
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct gw_model m = {.bits = j.opts.bits, .n_heads = j.n_heads};
    size_t buckets = (size_t)1 << j.opts.bits;
    double *w = malloc(buckets * sizeof *w);
    signed char *y = NULL;
    float *score[GW_MODEL_HEADS_MAX] = {0};
    m.w = calloc(buckets * j.n_heads, sizeof *m.w);
    rc = 1;
    if (!w || !m.w || load_job(&j, e.folds) == -1 || !(y = malloc(j.n)))
        goto done;
    double t_feat = seconds_since(&t0);
    for (unsigned h = 0; h < j.n_heads; h++)
        if (!(score[h] = calloc(2 * j.n, sizeof *score[h])))
            goto done;
    for (unsigned h = 0; h < j.n_heads; h++) {
        double bias;
        head_labels(&j, h, -1, y);
        if (gw_train_head(j.docs, j.n, y, &j.opts, w, &bias) == -1) {
            fprintf(stderr, "guardrail: head '%s' has no positive or no benign row to learn "
                            "from\n", j.heads[h].name);
            goto done;
        }
        memcpy(m.name[h], j.heads[h].name, GW_MODEL_NAME_MAX);
        gw_train_quantise(&m, h, w, bias);
        /* the rows are scored as the gateway will score them: with the 16-bit weights
         * written, not the weights trained (picked on those, a threshold could fall a hair
         * under a benign row's served score) */
        for (size_t b = 0; b < buckets; b++)
            w[b] = (double)m.w[b * j.n_heads + h] * (double)m.scale[h];
        for (size_t i = 0; i < j.n; i++)
            row_score(&j, i, w, (double)m.bias[h], score[h]);
        size_t pos = 0, neg = 0;
        for (size_t i = 0; i < j.n; i++)
            pos += y[i] == 1, neg += y[i] == 0;
        fprintf(stderr, "head %-10s %zu positives, %zu negatives\n", m.name[h], pos, neg);
    }
    if (gw_model_write(&m, e.out) == -1) {
        fprintf(stderr, "guardrail: %s: cannot write\n", e.out);
        goto done;
    }
    size_t used = 0;
    for (size_t i = 0; i < j.n; i++)
        used += !j.rows[i].excluded;
    fprintf(stderr, "wrote %s: %u heads, 2^%u buckets, %zu rows (%zu excluded); "
                    "features %.1f s, in all %.1f s\n",
            e.out, m.n_heads, m.bits, used, j.n - used, t_feat, seconds_since(&t0));
    size_t unseen = 0;
    for (size_t i = 0; i < j.n; i++)
        unseen += j.rows[i].excluded && j.rows[i].label == L_BENIGN;
    if (unseen) {
        /* The rows of the excluded sources were never trained on: this model's scores of
         * their benign rows show where its thresholds belong (--block-rate, --flag-rate). */
        printf("thresholds for %s on the %zu benign rows it never trained on:\n", e.out, unseen);
        float block_at[GW_MODEL_HEADS_MAX], flag_at[GW_MODEL_HEADS_MAX];
        pick_thresholds(&j, score, true, e.block_rate, e.flag_rate, block_at, flag_at);
    }
    rc = 0;
done:
    for (unsigned h = 0; h < GW_MODEL_HEADS_MAX; h++)
        free(score[h]);
    free(w);
    free(y);
    free(m.w);
    job_free(&j);
    return rc;
}

/* ---- eval ---- */

struct tally {
    size_t n[L__COUNT];
    size_t hit[L__COUNT]; /* attack, harmful: blocked; toxic: caught; benign: blocked */
    size_t flag;          /* benign with an injection or unsafe finding, or blocked */
};

static void tally_add(struct tally *t, const struct row *r, bool block, bool unsafe, bool flag)
{
    t->n[r->label]++;
    if (r->label == L_TOXIC)
        t->hit[r->label] += block || unsafe;
    else
        t->hit[r->label] += block;
    if (r->label == L_BENIGN)
        t->flag += block || flag;
}

static void tally_print(const char *what, const struct tally *t)
{
    printf("%-7s attacks stopped %.3f (n=%zu)  harmful stopped %.3f (n=%zu)  "
           "toxic caught %.3f (n=%zu)  benign false-block %.4f false-flag %.4f (n=%zu)\n",
           what, rate(t->hit[L_ATTACK], t->n[L_ATTACK]), t->n[L_ATTACK],
           rate(t->hit[L_HARMFUL], t->n[L_HARMFUL]), t->n[L_HARMFUL],
           rate(t->hit[L_TOXIC], t->n[L_TOXIC]), t->n[L_TOXIC],
           rate(t->hit[L_BENIGN], t->n[L_BENIGN]), rate(t->flag, t->n[L_BENIGN]),
           t->n[L_BENIGN]);
}

/* --min "attacks=A,harmful=H,toxic=T,benign=B": the floors (and the benign ceiling) that
 * `both` must reach; returns the number missed. */
static int check_min(const double *want, const struct tally *t)
{
    int missed = 0;
    for (int k = 0; k < L__COUNT; k++) {
        if (want[k] < 0)
            continue;
        double got = rate(t->hit[k], t->n[k]);
        bool ok = k == L_BENIGN ? got <= want[k] : got >= want[k];
        if (!ok) {
            printf("FLOOR MISSED: %s %.4f, wanted %s %.4f\n", min_keys[k], got,
                   k == L_BENIGN ? "at most" : "at least", want[k]);
            missed++;
        }
    }
    return missed;
}

/* --scores FILE: one JSON line a measured row, in the order read. The row's text stays
 * out (file and line find it): the file is for reading misses and false blocks, and for
 * trying thresholds without retraining. Returns 0 or -1 with a message. */
static int write_scores(const struct job *j, float *const *oof, const float *block_at,
                        const float *flag_at, FILE *f, const char *path)
{
    for (size_t i = 0; i < j->n; i++) {
        const struct row *r = &j->rows[i];
        if (r->extra)
            continue;
        cJSON *o = cJSON_CreateObject(), *sc = cJSON_CreateObject();
        bool block = r->rule_block, flag = r->rule_flag || r->rule_unsafe;
        for (unsigned h = 0; h < j->n_heads; h++) {
            cJSON *pair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair, cJSON_CreateNumber(oof[h][i]));
            cJSON_AddItemToArray(pair, cJSON_CreateNumber(oof[h][j->n + i]));
            cJSON_AddItemToObject(sc, j->heads[h].name, pair);
            block |= oof[h][i] >= block_at[h];
            flag |= oof[h][j->n + i] >= flag_at[h];
        }
        cJSON_AddStringToObject(o, "file", r->file);
        cJSON_AddNumberToObject(o, "line", (double)r->line);
        cJSON_AddStringToObject(o, "label", label_names[r->label]);
        cJSON_AddStringToObject(o, "source", r->source);
        cJSON_AddNumberToObject(o, "fold", r->fold);
        cJSON_AddBoolToObject(o, "trained_on", !r->excluded);
        cJSON_AddStringToObject(o, "rules", r->rule_block ? "block"
                                            : r->rule_unsafe || r->rule_flag ? "flag"
                                                                             : "allow");
        cJSON_AddStringToObject(o, "both", block ? "block" : flag ? "flag" : "allow");
        cJSON_AddItemToObject(o, "scores", sc);
        char *line = cJSON_PrintUnformatted(o);
        if (line)
            fprintf(f, "%s\n", line);
        free(line);
        cJSON_Delete(o);
    }
    if (fflush(f) != 0 || ferror(f)) {
        fprintf(stderr, "guardrail: %s: cannot write\n", path);
        return -1;
    }
    return 0;
}

/* For attacks and harmful asks, what both stop by source (its name up to the first '/'),
 * as shared/eval/score.py breaks them down. */
static void print_sources(const struct job *j, float *const *score, const float *block_at)
{
    for (int l = L_ATTACK; l <= L_HARMFUL; l++) {
        printf("both    %s stopped by source:", l == L_ATTACK ? "attacks" : "harmful");
        bool *done = calloc(j->n + 1, 1);
        for (size_t i = 0; done && i < j->n; i++) {
            const struct row *r = &j->rows[i];
            if (done[i] || r->label != (enum label)l || r->extra)
                continue;
            size_t plen = strcspn(r->source, "/"), n = 0, hit = 0;
            for (size_t k = i; k < j->n; k++) {
                const struct row *o = &j->rows[k];
                if (done[k] || o->label != r->label || o->extra ||
                    strncmp(o->source, r->source, plen) != 0 || strcspn(o->source, "/") != plen)
                    continue;
                done[k] = true;
                bool block = o->rule_block;
                for (unsigned h = 0; h < j->n_heads; h++)
                    block |= score[h][k] >= block_at[h];
                n++;
                hit += block;
            }
            printf(" %.*s=%.2f", (int)plen, r->source, rate(hit, n));
        }
        printf("\n");
        free(done);
    }
}

static const char eval_help[] =
    "usage: guardrail eval --data FILE.jsonl... [options]\n\n"
    "k-fold cross-validation of the learned stage: each fold is scored by heads trained on\n"
    "the others (rows keep their fold by a hash of their text). Picks each head's block\n"
    "threshold so that benign rows' false blocks stay under --block-rate in all, and a flag\n"
    "threshold at --flag-rate; prints recall and false blocks for the rules alone, the model\n"
    "alone and both, as shared/eval/score.py counts them (attacks and harmful: blocked; toxic:\n"
    "blocked or an unsafe finding; benign: blocked).\n\n"
    "      --folds K          folds (default 5)\n"
    "      --block-rate R     benign false blocks allowed, rules and model (default 0.005)\n"
    "      --flag-rate R      benign false flags allowed, each head (default 0.05)\n"
    "      --min SPEC         fail (exit 1) unless both reach attacks=A,harmful=H,toxic=T\n"
    "                         and benign (false blocks) <= B (for CI)\n"
    "      --scores FILE      write each measured row's out-of-fold result as a JSON line:\n"
    "                         its file, line, label, source and fold, what the rules and\n"
    "                         both did, and each head's scores (block and flag); no text\n";

int gw_cmd_eval(int argc, char **argv)
{
    struct job j = {0};
    struct eval_opts e;
    int rc = parse_args(argc, argv, eval_help, &j, &e);
    if (rc)
        return rc == 1 ? 0 : rc;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t buckets = (size_t)1 << j.opts.bits;
    double *w = malloc(buckets * sizeof *w);
    signed char *y = NULL;
    float *oof[GW_MODEL_HEADS_MAX] = {0};
    rc = 1;
    /* opened before any work: a path that cannot be written fails in a second, not after
     * the cross-validation */
    FILE *scores = e.scores ? fopen(e.scores, "w") : NULL;
    if (e.scores && !scores) {
        fprintf(stderr, "guardrail: %s: cannot write\n", e.scores);
        goto done;
    }
    if (!w || load_job(&j, e.folds) == -1)
        goto done;
    double t_feat = seconds_since(&t0);
    if (!(y = malloc(j.n)))
        goto done;
    for (unsigned h = 0; h < j.n_heads; h++)
        if (!(oof[h] = calloc(2 * j.n, sizeof *oof[h])))
            goto done;
    for (unsigned f = 0; f < e.folds; f++) {
        for (unsigned h = 0; h < j.n_heads; h++) {
            double bias;
            head_labels(&j, h, (int)f, y);
            if (gw_train_head(j.docs, j.n, y, &j.opts, w, &bias) == -1) {
                fprintf(stderr, "guardrail: head '%s' has no positive or no benign row in "
                                "fold %u's training part\n", j.heads[h].name, f);
                goto done;
            }
            for (size_t i = 0; i < j.n; i++)
                if (j.rows[i].fold == f)
                    row_score(&j, i, w, bias, oof[h]);
        }
    }
    double t_train = seconds_since(&t0) - t_feat;
    /* thresholds on the benign rows' out-of-fold scores */
    float block_at[GW_MODEL_HEADS_MAX], flag_at[GW_MODEL_HEADS_MAX];
    printf("%zu rows, %u folds, %u heads, 2^%u buckets; features %.1f s, training %.1f s "
           "(%.2f s a head and fold)\n",
           j.n, e.folds, j.n_heads, j.opts.bits, t_feat, t_train,
           t_train / (e.folds * j.n_heads));
    pick_thresholds(&j, oof, false, e.block_rate, e.flag_rate, block_at, flag_at);
    struct tally rules = {0}, model = {0}, both = {0};
    for (size_t i = 0; i < j.n; i++) {
        const struct row *r = &j.rows[i];
        if (r->extra)
            continue;
        bool mb = false, mu = false, mf = false;
        for (unsigned h = 0; h < j.n_heads; h++) {
            bool is_unsafe = strcmp(j.heads[h].name, "injection") != 0;
            mb |= oof[h][i] >= block_at[h];
            mf |= oof[h][j.n + i] >= flag_at[h];
            mu |= is_unsafe && oof[h][j.n + i] >= flag_at[h];
        }
        tally_add(&rules, r, r->rule_block, r->rule_unsafe, r->rule_flag);
        tally_add(&model, r, mb, mu, mf);
        tally_add(&both, r, mb || r->rule_block, mu || r->rule_unsafe, mf || r->rule_flag);
    }
    tally_print("rules", &rules);
    tally_print("model", &model);
    tally_print("both", &both);
    print_sources(&j, oof, block_at);
    if (j.n_exclude)
        printf("(rows of %zu excluded source prefixes were measured, never trained on)\n",
               j.n_exclude);
    rc = e.has_min && check_min(e.min, &both) ? 1 : 0;
    if (scores && write_scores(&j, oof, block_at, flag_at, scores, e.scores) == -1)
        rc = 1;
done:
    if (scores && fclose(scores) != 0 && rc == 0) {
        fprintf(stderr, "guardrail: %s: cannot write\n", e.scores);
        rc = 1;
    }
    for (unsigned h = 0; h < GW_MODEL_HEADS_MAX; h++)
        free(oof[h]);
    free(w);
    free(y);
    job_free(&j);
    return rc;
}
