#include "incidents/incidents.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util/buf.h"
#include "util/json.h"
#include "util/log.h"
#include "util/siphash.h"

struct line {
    struct line *next;
    size_t len;
    char text[];
};

struct gw_incidents {
    char *path;
    FILE *f;
    uint8_t key[16];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct line *head, **tail;
    bool stop, reopen;
};

void gw_incident_mask(char *out, size_t outlen, const char *s, size_t len,
                      enum gw_category category)
{
    size_t k = 0;
    bool strict = category == GW_CAT_PII || category == GW_CAT_SECRET;
    /* Strict: one leading and two trailing characters of values long enough that they
     * identify nothing (a card's last two digits), the rest masked. */
    size_t keep_head = strict && len >= 10 ? 1 : 0, keep_tail = strict && len >= 10 ? 2 : 0;
    for (size_t i = 0; i < len && k + 4 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (k >= 96) {
            memcpy(out + k, "...", 3);
            k += 3;
            break;
        }
        bool keep = i < keep_head || i >= len - keep_tail;
        if (strict)
            out[k++] = keep ? (char)c : (c == '@' || c == '.' || c == ' ' || c == '-') ? (char)c : '*';
        else
            out[k++] = isdigit(c) ? '*' : (c < 0x20 ? ' ' : (char)c);
    }
    out[k] = '\0';
}

static void *writer(void *arg)
{
    struct gw_incidents *log = arg;
    pthread_mutex_lock(&log->mu);
    for (;;) {
        while (!log->head && !log->stop && !log->reopen)
            pthread_cond_wait(&log->cv, &log->mu);
        struct line *batch = log->head;
        log->head = NULL;
        log->tail = &log->head;
        bool stop = log->stop, reopen = log->reopen;
        log->reopen = false;
        pthread_mutex_unlock(&log->mu);

        if (reopen) {
            FILE *f = fopen(log->path, "a");
            if (f) {
                fclose(log->f);
                log->f = f;
            } else {
                GW_LOG(GW_LOG_ERROR, NULL, "incident log %s: cannot reopen: %s", log->path,
                       strerror(errno));
            }
        }
        while (batch) {
            struct line *next = batch->next;
            fwrite(batch->text, 1, batch->len, log->f);
            free(batch);
            batch = next;
        }
        fflush(log->f);
        pthread_mutex_lock(&log->mu);
        if (stop && !log->head)
            break;
    }
    pthread_mutex_unlock(&log->mu);
    return NULL;
}

struct gw_incidents *gw_incidents_open(const char *path, const char *key)
{
    struct gw_incidents *log = calloc(1, sizeof *log);
    if (!log)
        return NULL;
    log->path = strdup(path);
    log->f = fopen(path, "a");
    if (!log->f) {
        GW_LOG(GW_LOG_ERROR, NULL, "incident log %s: cannot open: %s", path, strerror(errno));
        free(log->path);
        free(log);
        return NULL;
    }
    if (key) {
        static const uint8_t k1[16] = "guardrail-key-1", k2[16] = "guardrail-key-2";
        uint64_t a = gw_siphash(k1, key, strlen(key)), b = gw_siphash(k2, key, strlen(key));
        memcpy(log->key, &a, 8);
        memcpy(log->key + 8, &b, 8);
    } else if (getrandom(log->key, sizeof log->key, 0) != sizeof log->key) {
        memset(log->key, 0x5a, sizeof log->key);
    }
    log->tail = &log->head;
    pthread_mutex_init(&log->mu, NULL);
    pthread_cond_init(&log->cv, NULL);
    if (pthread_create(&log->thread, NULL, writer, log) != 0) {
        fclose(log->f);
        free(log->path);
        free(log);
        return NULL;
    }
    return log;
}

void gw_incidents_record(struct gw_incidents *log, const struct gw_incident *in)
{
    if (!log)
        return;
    const struct gw_rule *r = in->rule;
    struct gw_buf b = {0};
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char excerpt[128];
    gw_incident_mask(excerpt, sizeof excerpt, in->match, in->match_len, r->category);
    uint64_t h = gw_siphash(log->key, in->match, in->match_len);

    gw_buf_printf(&b, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"request_id\":",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  ts.tv_nsec / 1000000);
    gw_json_quote(&b, in->request_id, strlen(in->request_id));
    gw_buf_printf(&b, ",\"direction\":\"%s\",\"rule\":",
                  in->direction == GW_DIR_PROMPT ? "prompt" : "reply");
    gw_json_quote(&b, r->id, strlen(r->id));
    gw_buf_printf(&b, ",\"category\":\"%s\",\"severity\":\"%s\",\"action\":\"%s\",\"model\":",
                  gw_category_name(r->category), gw_severity_name(r->severity),
                  gw_action_name(r->action));
    gw_json_quote(&b, in->model ? in->model : "-", strlen(in->model ? in->model : "-"));
    gw_buf_puts(&b, ",\"tenant\":");
    gw_json_quote(&b, in->tenant ? in->tenant : "-", strlen(in->tenant ? in->tenant : "-"));
    gw_buf_puts(&b, ",\"excerpt\":");
    gw_json_quote(&b, excerpt, strlen(excerpt));
    gw_buf_printf(&b, ",\"value_hash\":\"%016llx\",\"value_length\":%zu}\n", (unsigned long long)h,
                  in->match_len);

    struct line *l = malloc(sizeof *l + b.len);
    if (l) {
        l->next = NULL;
        l->len = b.len;
        memcpy(l->text, b.data, b.len);
        pthread_mutex_lock(&log->mu);
        *log->tail = l;
        log->tail = &l->next;
        pthread_cond_signal(&log->cv);
        pthread_mutex_unlock(&log->mu);
    }
    gw_buf_free(&b);
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
    fclose(log->f);
    pthread_mutex_destroy(&log->mu);
    pthread_cond_destroy(&log->cv);
    free(log->path);
    free(log);
}
