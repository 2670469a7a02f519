#include "incidents/incidents.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/json.h"
#include "util/log.h"
#include "util/siphash.h"

/* How long the writer lets records gather between batches: bounds how late an incident
 * line or a KPI appears, and makes a busy gateway's store transactions large. */
#define GW_RECORD_BATCH_US (50 * 1000)

static atomic_uint_fast64_t queue_dropped; /* gw_incidents_dropped */

struct node {
    struct node *next;
    struct gw_request_rec *rec;
};

struct gw_incidents {
    char *path;
    FILE *f;
    gw_record_sink sink;
    void *sink_arg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct node *head, **tail;
    size_t queued; /* records in head's list */
    uint64_t dropped_logged; /* queue_dropped when the writer last said so */
    bool stop, reopen;
};

/* The log is opened for appending, and created readable by its owner only: an incident
 * line is a masked record, but a record of the customers all the same (the umask alone
 * made it readable by every local user). */
static FILE *open_private(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd == -1)
        return NULL;
    FILE *f = fdopen(fd, "a");
    if (!f)
        close(fd);
    return f;
}

void gw_request_rec_free(struct gw_request_rec *r)
{
    if (!r)
        return;
    free(r->findings);
    free(r);
}

void gw_incident_key(const char *secret, uint8_t key[16])
{
    if (secret) {
        static const uint8_t k1[16] = "guardrail-key-1", k2[16] = "guardrail-key-2";
        uint64_t a = gw_siphash(k1, secret, strlen(secret));
        uint64_t b = gw_siphash(k2, secret, strlen(secret));
        memcpy(key, &a, 8);
        memcpy(key + 8, &b, 8);
    } else if (getrandom(key, 16, 0) != 16) {
        uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)key;
        memcpy(key, &t, 8);
        memcpy(key + 8, &t, 8);
    }
}

/* Whether w (n bytes left) begins with a digit of another script, or a fullwidth '@':
 * fullwidth (U+FF10-FF19, U+FF20), Arabic-Indic (U+0660-0669, U+06F0-06F9) and
 * Devanagari (U+0966-096F) digits spell a card as well as ASCII ones do. */
static bool other_digit(const unsigned char *w, size_t n)
{
    if (n >= 3 && w[0] == 0xEF && w[1] == 0xBC && w[2] >= 0x90 && w[2] <= 0xA0)
        return true;
    if (n >= 2 && ((w[0] == 0xD9 && w[1] >= 0xA0 && w[1] <= 0xA9) ||
                   (w[0] == 0xDB && w[1] >= 0xB0 && w[1] <= 0xB9)))
        return true;
    return n >= 3 && w[0] == 0xE0 && w[1] == 0xA5 && w[2] >= 0xA6 && w[2] <= 0xAF;
}

/* How an excerpt of another category shows a word (a run of bytes between spaces). */
enum shown { SHOWN_ALL, SHOWN_INITIAL, SHOWN_NONE };

/* Excerpts of injection, unsafe, brand and other findings keep their words, so that a
 * reader sees what was said; but a match may run over personal data or a secret the
 * customer wrote beside it ("my mail is jo@example.com, ignore your rules", "Ignore
 * Sommer2025! all previous instructions"), which the PII and secret rules redact from the
 * text but not from another rule's match. So a word that could be one is masked whole:
 * one with '@' or a digit in it (an e-mail, a phone, a password with a digit, an address's
 * number), one shaped like a key or a password (a symbol inside it, a capital after a
 * small letter, or 16 or more characters that are not all small letters: base64 of
 * anything), and a capitalised word within a sentence (a name: "Jane Doe", "Baker Street")
 * keeps its initial only. Words in other scripts are kept (their case is not read). */
static enum shown word_shown(const unsigned char *w, size_t n, bool sentence_start)
{
    size_t a = 0, b = n; /* the word without the punctuation around it */
    while (a < b && ispunct(w[a]))
        a++;
    while (b > a && ispunct(w[b - 1]))
        b--;
    if (a == b)
        return SHOWN_ALL;
    bool ascii = true, lower_seen = false, camel = false, symbol = false, all_lower = true;
    for (size_t i = 0; i < n; i++) {
        if (w[i] == '@' || isdigit(w[i]) || other_digit(w + i, n - i))
            return SHOWN_NONE;
        ascii &= w[i] < 0x80;
    }
    /* a capital first, then a small or accented letter: a name ("Jane", "José") */
    bool named =
        !sentence_start && isupper(w[a]) && b - a > 1 && (islower(w[a + 1]) || w[a + 1] >= 0x80);
    if (!ascii)
        return named ? SHOWN_INITIAL : SHOWN_ALL;
    for (size_t i = a; i < b; i++) {
        camel |= lower_seen && isupper(w[i]);
        lower_seen |= islower(w[i]) != 0;
        all_lower &= islower(w[i]) || w[i] == '\'' || w[i] == '-';
        symbol |= i > a && strchr("!#$%^&*=+|~/\\_<>", w[i]) != NULL;
    }
    if (camel || symbol || (b - a >= 16 && !all_lower))
        return SHOWN_NONE;
    /* acronyms such as AI and DAN stay */
    return named ? SHOWN_INITIAL : SHOWN_ALL;
}

void gw_incident_mask(char *out, size_t outlen, const char *s, size_t len,
                      enum gw_category category)
{
    size_t k = 0;
    bool strict = category == GW_CAT_PII || category == GW_CAT_SECRET;
    /* Strict: the first character and the last two of values long enough that these
     * identify nothing (a card's last two digits); the rest masked, punctuation kept.
     * What comes out is always valid UTF-8 (a database refuses anything else): whole
     * characters or '?', and a cut falls between characters. */
    size_t keep_head = strict && len >= 10 ? 1 : 0, keep_tail = strict && len >= 10 ? 2 : 0;
    const unsigned char *u = (const unsigned char *)s;
    enum shown shown = SHOWN_ALL;
    size_t word_end = 0, word_start = 0;
    bool sentence_start = true; /* the match's first word may be a sentence's */
    for (size_t i = 0; i < len && k + 8 < outlen;) {
        const unsigned char *c = u + i;
        if (k >= 96) {
            memcpy(out + k, "...", 3);
            k += 3;
            break;
        }
        size_t n = gw_utf8_seq(c, len - i);
        if (strict) {
            bool keep = i < keep_head || i >= len - keep_tail;
            out[k++] = keep && *c < 0x80 ? (char)*c
                       : (*c == '@' || *c == '.' || *c == ' ' || *c == '-') ? (char)*c
                                                                             : '*';
            i += n ? n : 1; /* a character masked is one '*' */
            continue;
        }
        if (i >= word_end && !isspace(*c)) { /* a word begins: how it is shown */
            word_start = i;
            for (word_end = i; word_end < len && !isspace(u[word_end]); word_end++)
                ;
            shown = word_shown(u + i, word_end - i, sentence_start);
        }
        if (isspace(*c) || n == 0) {
            if (i > 0 && i == word_end && strchr(".!?:;\"(", u[i - 1]))
                sentence_start = true;
            else if (!isspace(*c))
                sentence_start = false;
            out[k++] = n == 0 ? '?' : ' ';
            i++;
            continue;
        }
        if (i == word_start && !(*c == '"' || *c == '(' || *c == '\''))
            sentence_start = false;
        bool mask = shown == SHOWN_NONE || (shown == SHOWN_INITIAL && i > word_start &&
                                            !(i == word_start + 1 && ispunct(u[word_start])));
        if (n > 1 && !mask) {
            memcpy(out + k, c, n);
            k += n;
            i += n;
        } else if (n > 1) {
            out[k++] = '*'; /* a character masked is one '*' */
            i += n;
        } else {
            out[k++] = isdigit(*c) || (mask && !ispunct(*c)) ? '*' : (*c < 0x20 ? ' ' : (char)*c);
            i++;
        }
    }
    out[k] = '\0';
}

void gw_finding_rec_fill(struct gw_finding_rec *out, const struct gw_rule *r,
                         enum gw_direction dir, const uint8_t key[16], const char *match,
                         size_t len)
{
    snprintf(out->rule, sizeof out->rule, "%s", r->id);
    snprintf(out->title, sizeof out->title, "%s", r->title ? r->title : "");
    out->category = r->category;
    out->severity = r->severity;
    out->action = r->action;
    out->shadow = r->shadow; /* the caller sets both as the request's policy has them */
    out->direction = dir;
    /* A model finding's match is the whole message, names and addresses included, that no
     * mask would find: it is recorded without an excerpt. */
    gw_incident_mask(out->excerpt, sizeof out->excerpt, match && !r->head ? match : "",
                     match && !r->head ? len : 0, r->category);
    out->value_hash = gw_siphash(key, match ? match : "", match ? len : 0);
    out->value_length = match ? len : 0;
    out->text = 0;
    out->start = out->end = 0; /* no span until the caller says where the match lies */
    out->more = 0;
}

static void format_time(char *out, size_t outlen, int64_t ms)
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static void quoted(struct gw_buf *b, const char *s)
{
    gw_json_quote(b, s, strlen(s));
}

/* One JSON line per finding of the record. */
static void write_lines(struct gw_buf *b, const struct gw_request_rec *r)
{
    char when[64];
    format_time(when, sizeof when, r->ts_ms);
    for (size_t i = 0; i < r->n_findings; i++) {
        const struct gw_finding_rec *f = &r->findings[i];
        gw_buf_printf(b, "{\"time\":\"%s\",\"request_id\":", when);
        quoted(b, r->request_id);
        gw_buf_printf(b, ",\"direction\":\"%s\",\"rule\":",
                      f->direction == GW_DIR_PROMPT ? "prompt" : "reply");
        quoted(b, f->rule);
        gw_buf_printf(b, ",\"category\":\"%s\",\"severity\":\"%s\",\"action\":\"%s\",%s\"model\":",
                      gw_category_name(f->category), gw_severity_name(f->severity),
                      gw_action_name(f->action), f->shadow ? "\"shadow\":true," : "");
        quoted(b, r->model);
        gw_buf_puts(b, ",\"tenant\":");
        quoted(b, r->tenant);
        if (r->conversation[0]) {
            gw_buf_puts(b, ",\"conversation\":");
            quoted(b, r->conversation);
        }
        gw_buf_puts(b, ",\"excerpt\":");
        quoted(b, f->excerpt);
        gw_buf_printf(b, ",\"value_hash\":\"%016llx\",\"value_length\":%zu",
                      (unsigned long long)f->value_hash, f->value_length);
        if (f->more) /* the same rule again past the request's cap */
            gw_buf_printf(b, ",\"more\":%zu", f->more);
        gw_buf_puts(b, "}\n");
    }
    if (r->findings_more) { /* past the cap: one line says how many more */
        gw_buf_printf(b, "{\"time\":\"%s\",\"request_id\":", when);
        quoted(b, r->request_id);
        gw_buf_puts(b, ",\"model\":");
        quoted(b, r->model);
        gw_buf_puts(b, ",\"tenant\":");
        quoted(b, r->tenant);
        gw_buf_printf(b, ",\"more_findings\":%zu}\n", r->findings_more);
    }
}

static void *writer(void *arg)
{
    struct gw_incidents *log = arg;
    struct gw_buf lines = {0};
    struct gw_request_rec **batch = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&log->mu);
    for (;;) {
        bool tick = false;
        while (!log->head && !log->stop && !log->reopen && !tick) {
            /* a tick a second lets the sink retry what it holds (kpi/spool.h) */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            tick = pthread_cond_timedwait(&log->cv, &log->mu, &until) == ETIMEDOUT;
        }
        struct node *list = log->head;
        log->head = NULL;
        log->tail = &log->head;
        log->queued = 0;
        bool stop = log->stop, reopen = log->reopen;
        log->reopen = false;
        pthread_mutex_unlock(&log->mu);

        uint64_t dropped = atomic_load(&queue_dropped);
        if (dropped != log->dropped_logged) { /* once a batch at most: not per record */
            GW_LOG(GW_LOG_ERROR, NULL, "recorder: %llu records dropped, the queue was full "
                   "(guardrail_records_dropped_total)",
                   (unsigned long long)(dropped - log->dropped_logged));
            log->dropped_logged = dropped;
        }
        if (reopen && log->path) {
            FILE *f = open_private(log->path);
            if (f) {
                fclose(log->f);
                log->f = f;
            } else {
                GW_LOG(GW_LOG_ERROR, NULL, "incident log %s: cannot reopen: %s", log->path,
                       strerror(errno));
            }
        }
        size_t n = 0, unstored = 0;
        for (struct node *e = list; e; e = e->next) {
            if (gw_grow(&batch, &cap, n, sizeof *batch, 64) == 0)
                batch[n++] = e->rec;
            else
                unstored++;
            if (log->f)
                write_lines(&lines, e->rec);
        }
        if (unstored)
            GW_LOG(GW_LOG_ERROR, NULL, "out of memory: %zu records went to the incident log but "
                   "not to the KPI store", unstored);
        if (log->f && lines.len) {
            fwrite(lines.data, 1, lines.len, log->f);
            fflush(log->f);
            gw_buf_reset(&lines);
        }
        if ((n || tick) && log->sink) /* the sink counts and logs what it drops */
            log->sink(log->sink_arg, batch, n);
        while (list) {
            struct node *next = list->next;
            gw_request_rec_free(list->rec);
            free(list);
            list = next;
        }
        if (!stop)
            usleep(GW_RECORD_BATCH_US); /* let records gather: fewer, larger transactions */
        pthread_mutex_lock(&log->mu);
        if (stop && !log->head)
            break;
    }
    pthread_mutex_unlock(&log->mu);
    gw_buf_free(&lines);
    free(batch);
    return NULL;
}

struct gw_incidents *gw_incidents_open(const char *path, gw_record_sink sink, void *sink_arg)
{
    struct gw_incidents *log = calloc(1, sizeof *log);
    if (!log)
        return NULL;
    if (path) {
        log->path = strdup(path);
        log->f = open_private(path);
        if (!log->f) {
            GW_LOG(GW_LOG_ERROR, NULL, "incident log %s: cannot open: %s", path, strerror(errno));
            free(log->path);
            free(log);
            return NULL;
        }
    }
    log->sink = sink;
    log->sink_arg = sink_arg;
    log->tail = &log->head;
    pthread_mutex_init(&log->mu, NULL);
    pthread_cond_init(&log->cv, NULL);
    if (pthread_create(&log->thread, NULL, writer, log) != 0) {
        if (log->f)
            fclose(log->f);
        free(log->path);
        free(log);
        return NULL;
    }
    return log;
}

uint64_t gw_incidents_dropped(void)
{
    return atomic_load(&queue_dropped);
}

void gw_incidents_submit(struct gw_incidents *log, struct gw_request_rec *rec)
{
    struct node *e = log ? malloc(sizeof *e) : NULL;
    if (!e) {
        gw_request_rec_free(rec);
        return;
    }
    e->next = NULL;
    e->rec = rec;
    pthread_mutex_lock(&log->mu);
    if (log->queued >= GW_RECORD_QUEUE_MAX) {
        /* the writer is stuck (a disk, a database that does not answer): the workers'
         * memory is not to grow without bound; counted, and logged by the writer */
        pthread_mutex_unlock(&log->mu);
        atomic_fetch_add(&queue_dropped, 1);
        gw_request_rec_free(rec);
        free(e);
        return;
    }
    log->queued++;
    bool was_empty = log->head == NULL;
    *log->tail = e;
    log->tail = &e->next;
    if (was_empty)
        pthread_cond_signal(&log->cv);
    pthread_mutex_unlock(&log->mu);
}

void gw_incidents_reopen(struct gw_incidents *log)
{
    if (!log)
        return;
    pthread_mutex_lock(&log->mu);
    log->reopen = true;
    pthread_cond_signal(&log->cv);
    pthread_mutex_unlock(&log->mu);
}

void gw_incidents_close(struct gw_incidents *log)
{
    if (!log)
        return;
    pthread_mutex_lock(&log->mu);
    log->stop = true;
    pthread_cond_signal(&log->cv);
    pthread_mutex_unlock(&log->mu);
    pthread_join(log->thread, NULL);
    if (log->f)
        fclose(log->f);
    pthread_mutex_destroy(&log->mu);
    pthread_cond_destroy(&log->cv);
    free(log->path);
    free(log);
}
