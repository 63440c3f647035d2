/*
 * storage_s3: the storage interface (storage.h) on S3-compatible object storage.
 *
 * A repository path "chunks/ab/<hash>" is the object PREFIX/chunks/ab/<hash> of the bucket.
 * An object store has no folders, no rename and no flock, so:
 *   - a "folder" is a name prefix; mkdir writes an empty marker object "NAME/" so that an empty
 *     folder (tmp/) still exists; info of a name with no object is a folder when anything is
 *     stored under "NAME/";
 *   - a PUT is atomic (an object appears whole, or not at all) and durable once answered, so
 *     write ignores SYNC/ATOMIC and sync does nothing; the repository (repo.c, which asks
 *     SK_STORAGE_CAP_OBJECTS) writes chunks straight under their content-addressed names and the
 *     manifest last, instead of staging them and renaming;
 *   - rename is a server-side copy, then a delete of the source (only set-aside chunks use it;
 *     NOREPLACE and folder removals, which the repository never asks of an object store, are
 *     -ENOTSUP);
 *   - EXCL is a HEAD first: not atomic between two writers, which only matters for snapshot ids
 *     (time + pid + random: never equal in practice);
 *   - locks are objects, as restic's: see s3_lock below.
 * Every request is signed by libcurl (CURLOPT_AWS_SIGV4), carries the SHA-256 of its payload in
 * x-amz-content-sha256 (the server refuses a body that does not match it: a damaged upload is
 * never stored), and is retried with exponential back-off (and jitter) on a connection failure,
 * a timeout, a reset, 5xx (but 501) and 429. A server that sends less than a byte a second for
 * SLOTKEEPER_S3_TIMEOUT seconds (default 30) is given up on (libcurl's low-speed limit), as is
 * a connection that takes that long to open.
 *
 * The transfer engine. Each opened storage has one thread that owns a curl multi handle and runs
 * every request of the storage: callers (the worker threads of snapshot, sync, restore, verify,
 * prune; the lock refresher) build an easy handle (URL, signature, headers, body), queue it and
 * wake the engine (curl_multi_wakeup), then wait on their own condition variable; the engine
 * adds what is queued, drives all transfers at once with curl_multi_perform / curl_multi_poll,
 * and signals each caller when its transfer ends. The storage API stays synchronous: a call
 * returns when its request is answered. Retries stay with the caller (it sleeps, then submits
 * again), so a back-off never blocks the engine. The multi keeps one connection cache for all
 * requests (connections are reused by whichever request comes next) and opens at most
 * SLOTKEEPER_S3_TRANSFERS (default 16, 1..128) + 2 connections (the 2: the lock refresher and
 * the odd caller outside a worker pool); requests beyond wait inside the multi for a free one.
 * The callers that move chunks run max(threads, SLOTKEEPER_S3_TRANSFERS) workers
 * (sk_s3_threads), each with one request in flight. close waits for the lock refresher, releases
 * the locks, then stops the engine (joined) and frees every handle. Requests are counted by kind,
 * with their body bytes each way (sk_s3_stats).
 */
#include "slotkeeper/s3.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "slotkeeper/crashpoint.h"

#define POOL_MAX 160

/* What the counters tell apart (sk_s3_stats_t). */
enum { M_GET, M_HEAD, M_PUT, M_DELETE, M_LIST, M_COPY, M_OTHER, M_N };

/* A request handed to the engine: the caller waits on cv until done. */
struct xfer {
    CURL *h;
    CURLcode cc;
    bool done;
    pthread_cond_t cv;
    struct xfer *next;
};

struct s3 {
    sk_storage_t base;
    sk_s3_conf_t conf;
    sk_s3_url_t url;
    char base_url[1200]; /* the bucket's URL */
    char sigv4[96];
    char ca[1024];
    int transfers;   /* SLOTKEEPER_S3_TRANSFERS: requests in flight at most (default 16) */
    int tries;       /* SLOTKEEPER_S3_TRIES: attempts of one request (default 8, about 30 s of back-off) */
    int timeout;     /* SLOTKEEPER_S3_TIMEOUT: seconds to connect, and of silence before giving up */
    bool verbose;    /* SLOTKEEPER_S3_DEBUG=1: libcurl's trace on stderr */
    int lock_stale;  /* seconds without a refresh after which a lock is stale */
    char owner[128]; /* host + pid namespace, for telling a dead local holder */
    pthread_mutex_t mu;
    CURL *pool[POOL_MAX];
    int npool;
    /* held locks, refreshed by a thread while any is held */
    struct sk_storage_lock *locks;
    pthread_t refresher;
    bool refresher_on, stop;
    pthread_cond_t cv;
    struct sk_storage_lock *refreshing; /* the lock the refresher is writing (unlock waits for it) */
    pthread_cond_t refreshed;
    unsigned round;
    /* the transfer engine: one thread running every request on a curl multi handle */
    CURLM *multi;
    pthread_t engine;
    bool engine_on;
    pthread_mutex_t emu;
    struct xfer *queue, *queue_tail; /* submitted, not yet handed to the multi */
    bool engine_stop;
    /* counters (sk_s3_stats) */
    _Atomic uint64_t count[M_N], bytes_up, bytes_down;
    _Atomic int peak; /* the most requests the engine ran at once */
};

struct sk_storage_lock {
    struct s3 *s;
    struct sk_storage_lock *next;
    char key[1400]; /* the lock object, relative to the prefix */
    char note[512];
    struct timespec refreshed; /* CLOCK_MONOTONIC of the last good PUT */
    bool lost;
    unsigned round; /* the refresher's last round over it */
};

struct resp {
    long status;
    char *body;
    size_t len, cap, max;
    bool too_big;
    uint64_t clen;
    bool has_clen;
    time_t date, last_modified;
};

static const char EMPTY_SHA256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc;
static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}

/* ---- small helpers ---- */

static void sha256_hex(const void *data, size_t len, char out[65])
{
    if (!len) {
        memcpy(out, EMPTY_SHA256, 65);
        return;
    }
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static uint32_t rnd32(void)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r))
        r = (uint32_t)time(NULL) ^ (uint32_t)getpid();
    return r;
}

/* The object key of a repository path: PREFIX/path ("" -> PREFIX). */
static int key_of(struct s3 *s, const char *path, char *out, size_t len)
{
    int n;
    if (!s->url.prefix[0])
        n = snprintf(out, len, "%s", path);
    else if (!*path)
        n = snprintf(out, len, "%s", s->url.prefix);
    else
        n = snprintf(out, len, "%s/%s", s->url.prefix, path);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static size_t on_body(char *ptr, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t add = size * n;
    if (r->len + add > r->max) {
        r->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (r->len + add + 1 > r->cap) {
        size_t nc = r->cap ? r->cap : 4096;
        while (nc < r->len + add + 1)
            nc *= 2;
        char *b = realloc(r->body, nc);
        if (!b)
            return 0;
        r->body = b;
        r->cap = nc;
    }
    memcpy(r->body + r->len, ptr, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = size * n;
    char line[256];
    size_t k = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
    memcpy(line, ptr, k);
    line[k] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    if (!strncasecmp(line, "HTTP/", 5)) { /* a new response (after a 100 Continue): start over */
        r->has_clen = false;
        r->date = r->last_modified = 0;
    } else if (!strncasecmp(line, "content-length:", 15)) {
        r->clen = strtoull(line + 15, NULL, 10);
        r->has_clen = true;
    } else if (!strncasecmp(line, "date:", 5)) {
        time_t t = curl_getdate(line + 5, NULL);
        r->date = t > 0 ? t : 0;
    } else if (!strncasecmp(line, "last-modified:", 14)) {
        time_t t = curl_getdate(line + 14, NULL);
        r->last_modified = t > 0 ? t : 0;
    }
    return len;
}

static CURL *handle_get(struct s3 *s)
{
    pthread_mutex_lock(&s->mu);
    CURL *h = s->npool ? s->pool[--s->npool] : NULL;
    pthread_mutex_unlock(&s->mu);
    return h ? h : curl_easy_init();
}

static void handle_put(struct s3 *s, CURL *h)
{
    pthread_mutex_lock(&s->mu);
    if (s->npool < POOL_MAX) {
        s->pool[s->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    if (h)
        curl_easy_cleanup(h);
}

/* ---- the transfer engine ----
 *
 * One thread per opened storage owns the CURLM and is the only one to touch it (but for
 * curl_multi_wakeup, which any thread may call). A caller prepares an easy handle, queues it
 * and waits; the engine adds what is queued to the multi, drives every transfer with
 * curl_multi_perform / curl_multi_poll, and signals each caller as its transfer ends. Easy
 * handles added to one multi share its connection cache, so connections are reused by whichever
 * request comes next. */

static void xfer_finish(struct s3 *s, struct xfer *x, CURLcode cc)
{
    pthread_mutex_lock(&s->emu);
    x->cc = cc;
    x->done = true;
    pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&s->emu);
}

static void *engine(void *arg)
{
    struct s3 *s = arg;
    int running = 0;
    for (;;) {
        pthread_mutex_lock(&s->emu);
        struct xfer *q = s->queue;
        s->queue = s->queue_tail = NULL;
        bool stop = s->engine_stop;
        pthread_mutex_unlock(&s->emu);
        while (q) {
            struct xfer *x = q;
            q = q->next;
            curl_easy_setopt(x->h, CURLOPT_PRIVATE, (void *)x);
            CURLMcode mc = curl_multi_add_handle(s->multi, x->h);
            if (mc != CURLM_OK)
                xfer_finish(s, x, mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT);
            else
                running++;
        }
        if (running > atomic_load(&s->peak))
            atomic_store(&s->peak, running);
        if (stop && !running)
            break;
        int still = 0, left = 0;
        curl_multi_perform(s->multi, &still);
        CURLMsg *m;
        while ((m = curl_multi_info_read(s->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            CURL *h = m->easy_handle;
            CURLcode cc = m->data.result;
            char *priv = NULL;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, &priv);
            curl_multi_remove_handle(s->multi, h); /* m is gone from here on */
            running--;
            xfer_finish(s, (struct xfer *)priv, cc);
        }
        /* Until a socket is ready, a timer of libcurl's is due (low-speed checks, connect
         * timeouts) or a caller submits (curl_multi_wakeup). */
        curl_multi_poll(s->multi, NULL, 0, 1000, NULL);
    }
    return NULL;
}

/* Runs h on the engine and waits for its end: curl_easy_perform, on the shared multi. */
static CURLcode perform(struct s3 *s, CURL *h)
{
    struct xfer x = {.h = h};
    pthread_cond_init(&x.cv, NULL);
    pthread_mutex_lock(&s->emu);
    if (s->queue_tail)
        s->queue_tail->next = &x;
    else
        s->queue = &x;
    s->queue_tail = &x;
    pthread_mutex_unlock(&s->emu);
    curl_multi_wakeup(s->multi);
    pthread_mutex_lock(&s->emu);
    while (!x.done)
        pthread_cond_wait(&x.cv, &s->emu);
    pthread_mutex_unlock(&s->emu);
    pthread_cond_destroy(&x.cv);
    return x.cc;
}

static int engine_start(struct s3 *s)
{
    if (!(s->multi = curl_multi_init()))
        return -ENOMEM;
    /* At most `transfers` connections (a few more for the lock refresher and the odd caller
     * outside the worker pools); requests beyond wait in the multi for a free one. */
    long conns = s->transfers + 2;
    curl_multi_setopt(s->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
    curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
    curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, conns);
    if (pthread_create(&s->engine, NULL, engine, s) != 0) {
        curl_multi_cleanup(s->multi);
        s->multi = NULL;
        return -EAGAIN;
    }
    s->engine_on = true;
    return 0;
}

/* Once no request is in flight (close): the engine ends, then the handles go. */
static void engine_stop(struct s3 *s)
{
    if (s->engine_on) {
        pthread_mutex_lock(&s->emu);
        s->engine_stop = true;
        pthread_mutex_unlock(&s->emu);
        curl_multi_wakeup(s->multi);
        pthread_join(s->engine, NULL);
        s->engine_on = false;
    }
    for (int i = 0; i < s->npool; i++)
        curl_easy_cleanup(s->pool[i]);
    s->npool = 0;
    if (s->multi)
        curl_multi_cleanup(s->multi);
    s->multi = NULL;
}

static bool retry_curl(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_COULDNT_RESOLVE_HOST:
        return true;
    default:
        return false;
    }
}

static int errno_of_curl(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
        return -EHOSTUNREACH;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return -ECONNRESET;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
        return -EPROTO;
    default:
        return -EIO;
    }
}

/* The errno of a final HTTP status. */
static int errno_of_status(long st)
{
    if (st >= 200 && st < 300)
        return 0;
    switch (st) {
    case 404:
        return -ENOENT;
    case 403:
    case 401:
        return -EACCES;
    case 409:
    case 412:
        return -EEXIST;
    case 416:
        return -EINVAL;
    case 501:
        return -ENOTSUP;
    case 507:
        return -ENOSPC;
    default:
        return -EIO;
    }
}

/* One request, retried as the header comment says. method: GET, HEAD, PUT, DELETE, POST. key is
 * the full object key ("" for the bucket), query already encoded and sorted (or NULL). body is
 * sent with its SHA-256. r gets the status and, up to max bytes, the body. Returns 0 once an HTTP
 * answer came (whatever its status) or a negative errno when none did. */
static int request(struct s3 *s, const char *method, const char *key, const char *query, const void *body, size_t blen,
                   const char *const *extra, size_t max, struct resp *r)
{
    char ekey[4400], url[6000];
    if (sk_s3_encode(key, true, ekey, sizeof(ekey)) < 0)
        return -ENAMETOOLONG;
    int n = snprintf(url, sizeof(url), "%s/%s%s%s", s->base_url, ekey, query ? "?" : "", query ? query : "");
    if (n < 0 || (size_t)n >= sizeof(url))
        return -ENAMETOOLONG;
    char sha[65], shah[100];
    sha256_hex(body, blen, sha);
    snprintf(shah, sizeof(shah), "x-amz-content-sha256: %s", sha);
    struct curl_slist *hdr = NULL, *t;
#define ADD(h)                                                                                                         \
    do {                                                                                                               \
        if (!(t = curl_slist_append(hdr, (h)))) {                                                                      \
            curl_slist_free_all(hdr);                                                                                  \
            return -ENOMEM;                                                                                            \
        }                                                                                                              \
        hdr = t;                                                                                                       \
    } while (0)
    ADD(shah);
    if (body || !strcmp(method, "PUT") || !strcmp(method, "POST"))
        ADD("Content-Type: application/octet-stream");
    if (s->conf.token[0]) {
        char th[4200];
        snprintf(th, sizeof(th), "x-amz-security-token: %s", s->conf.token);
        ADD(th);
    }
    for (size_t i = 0; extra && extra[i]; i++)
        ADD(extra[i]);
#undef ADD
    CURL *h = handle_get(s);
    if (!h) {
        curl_slist_free_all(hdr);
        return -ENOMEM;
    }
    int kind = M_OTHER;
    if (!strcmp(method, "GET"))
        kind = query && strstr(query, "list-type=") ? M_LIST : M_GET;
    else if (!strcmp(method, "HEAD"))
        kind = M_HEAD;
    else if (!strcmp(method, "DELETE"))
        kind = M_DELETE;
    else if (!strcmp(method, "PUT")) {
        kind = M_PUT;
        for (size_t i = 0; extra && extra[i]; i++)
            if (!strncasecmp(extra[i], "x-amz-copy-source:", 18))
                kind = M_COPY;
    }
    int rc = -EIO;
    double delay = 0.25;
    for (int attempt = 1;; attempt++) {
        curl_easy_reset(h);
        r->status = 0;
        r->len = 0;
        r->too_big = false;
        r->has_clen = false;
        r->date = r->last_modified = 0;
        r->max = max;
        if (r->body)
            r->body[0] = '\0';
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
        curl_easy_setopt(h, CURLOPT_USERNAME, s->conf.access);
        curl_easy_setopt(h, CURLOPT_PASSWORD, s->conf.secret);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)s->timeout);
        /* A server that sends less than 1 byte/s for the timeout (30 s) is gone. */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)s->timeout);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
        if (s->ca[0])
            curl_easy_setopt(h, CURLOPT_CAINFO, s->ca);
        if (s->verbose)
            curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
        if (!strcmp(method, "HEAD")) {
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        } else if (!strcmp(method, "PUT") || !strcmp(method, "POST")) {
            /* From memory: POSTFIELDS (curl sends it whole, with its length), method renamed. */
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
            if (!strcmp(method, "PUT"))
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
        } else if (strcmp(method, "GET")) {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        }
        CURLcode cc = perform(s, h);
        curl_off_t up = 0, down = 0;
        curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &up);
        curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &down);
        atomic_fetch_add(&s->count[kind], 1);
        atomic_fetch_add(&s->bytes_up, (uint64_t)(up > 0 ? up : 0));
        atomic_fetch_add(&s->bytes_down, (uint64_t)(down > 0 ? down : 0));
        bool again;
        if (cc == CURLE_WRITE_ERROR && r->too_big) {
            rc = -EFBIG;
            break;
        }
        if (cc != CURLE_OK) {
            rc = errno_of_curl(cc);
            again = retry_curl(cc);
        } else {
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
            rc = 0;
            again = (r->status >= 500 && r->status != 501) || r->status == 429 ||
                    (r->status == 400 && r->body && strstr(r->body, "<Code>RequestTimeout</Code>"));
        }
        if (!again || attempt >= s->tries)
            break;
        /* Exponential back-off with jitter: 0.25 s, 0.5 s, 1 s ... capped at 10 s. */
        sleep_s(delay * (0.5 + (double)(rnd32() % 1000) / 1000.0));
        delay = delay * 2 > 10 ? 10 : delay * 2;
    }
    handle_put(s, h);
    curl_slist_free_all(hdr);
    return rc;
}

/* request + the errno of its status. */
static int call(struct s3 *s, const char *method, const char *key, const char *query, const void *body, size_t blen,
                const char *const *extra, size_t max, struct resp *r)
{
    int rc = request(s, method, key, query, body, blen, extra, max, r);
    if (rc < 0)
        return rc;
    return errno_of_status(r->status);
}

static void resp_free(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* The text of <tag>...</tag> in xml from *pos on (entities decoded); advances *pos. */
static bool xml_get(const char *xml, const char *tag, const char **pos, char *out, size_t len)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *a = strstr(*pos ? *pos : xml, open);
    if (!a)
        return false;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (!b)
        return false;
    size_t o = 0;
    for (const char *p = a; p < b && o + 1 < len;) {
        static const struct {
            const char *ent;
            char c;
        } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        bool done = false;
        if (*p == '&')
            for (size_t i = 0; i < 5 && !done; i++)
                if (!strncmp(p, ents[i].ent, strlen(ents[i].ent))) {
                    out[o++] = ents[i].c;
                    p += strlen(ents[i].ent);
                    done = true;
                }
        if (!done)
            out[o++] = *p++;
    }
    out[o] = '\0';
    *pos = b + strlen(close);
    return true;
}

/* "2026-12-03T12:00:00.000Z" */
static time_t iso_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return timegm(&tm);
}

/* ---- listing ---- */

/* Called per entry under a prefix: the name relative to the prefix, whether it is a common prefix
 * (a "folder"), its size and time. Non-zero stops. */
typedef int (*list_cb)(void *arg, const char *name, bool folder, uint64_t size, time_t mtime);

/* Lists "KEY/" (the root when key is ""), one level (delimiter /) or everything below (deep).
 * max_keys 0: the server's default page. *server_date gets the Date of the last page. */
static int list_prefix(struct s3 *s, const char *key, bool deep, int max_keys, list_cb fn, void *arg,
                       time_t *server_date)
{
    char pfx[1400], epfx[4400], token[2048] = "", etok[6200], query[11000];
    int n = snprintf(pfx, sizeof(pfx), "%s%s", key, *key ? "/" : "");
    if (n < 0 || (size_t)n >= sizeof(pfx) || sk_s3_encode(pfx, false, epfx, sizeof(epfx)) < 0)
        return -ENAMETOOLONG;
    size_t plen = strlen(pfx);
    struct resp r = {0};
    int rc = 0;
    for (;;) {
        char mk[32] = "";
        if (max_keys)
            snprintf(mk, sizeof(mk), "&max-keys=%d", max_keys);
        if (sk_s3_encode(token, false, etok, sizeof(etok)) < 0) {
            rc = -ENAMETOOLONG;
            break;
        }
        /* Parameters sorted by name, as the signature's canonical query string wants them. */
        snprintf(query, sizeof(query), "%s%s%s%slist-type=2%s&prefix=%s", token[0] ? "continuation-token=" : "",
                 token[0] ? etok : "", token[0] ? "&" : "", deep ? "" : "delimiter=%2F&", mk, epfx);
        rc = call(s, "GET", "", query, NULL, 0, NULL, 64u << 20, &r);
        if (rc < 0)
            break;
        if (server_date)
            *server_date = r.date;
        const char *body = r.body ? r.body : "";
        /* Contents */
        const char *pos = body;
        for (;;) {
            const char *c = strstr(pos, "<Contents>");
            if (!c)
                break;
            const char *end = strstr(c, "</Contents>");
            if (!end)
                break;
            char k[1400] = "", sz[32] = "0", lm[64] = "";
            const char *p = c;
            xml_get(c, "Key", &p, k, sizeof(k));
            p = c;
            xml_get(c, "Size", &p, sz, sizeof(sz));
            p = c;
            xml_get(c, "LastModified", &p, lm, sizeof(lm));
            pos = end + 11;
            if (strncmp(k, pfx, plen) || !k[plen])
                continue; /* the folder's own marker */
            rc = fn(arg, k + plen, false, strtoull(sz, NULL, 10), iso_time(lm));
            if (rc)
                break;
        }
        if (rc)
            break;
        pos = body;
        for (;;) {
            const char *c = strstr(pos, "<CommonPrefixes>");
            if (!c)
                break;
            char k[1400] = "";
            const char *p = c;
            if (!xml_get(c, "Prefix", &p, k, sizeof(k)))
                break;
            pos = p;
            size_t kn = strlen(k);
            if (kn && k[kn - 1] == '/')
                k[--kn] = '\0';
            if (strncmp(k, pfx, plen) || !k[plen])
                continue;
            rc = fn(arg, k + plen, true, 0, 0);
            if (rc)
                break;
        }
        if (rc)
            break;
        char trunc[16] = "";
        pos = body;
        xml_get(body, "IsTruncated", &pos, trunc, sizeof(trunc));
        pos = body;
        if (strcmp(trunc, "true") || max_keys || !xml_get(body, "NextContinuationToken", &pos, token, sizeof(token)))
            break;
    }
    resp_free(&r);
    return rc;
}

/* ---- the driver ---- */

static struct s3 *S(sk_storage_t *st)
{
    return (struct s3 *)st;
}

static int any_entry(void *arg, const char *name, bool folder, uint64_t size, time_t mtime)
{
    (void)name, (void)folder, (void)size, (void)mtime;
    *(bool *)arg = true;
    return 1;
}

static int s3_info(sk_storage_t *st, const char *path, sk_storage_info_t *out)
{
    struct s3 *s = S(st);
    memset(out, 0, sizeof(*out));
    if (!*path) {
        out->type = SK_STORAGE_DIR;
        return 0;
    }
    char key[1400];
    if (key_of(s, path, key, sizeof(key)) < 0)
        return -ENAMETOOLONG;
    struct resp r = {0};
    int rc = call(s, "HEAD", key, NULL, NULL, 0, NULL, 0, &r);
    resp_free(&r);
    if (rc == 0) {
        out->type = SK_STORAGE_FILE;
        out->size = out->allocated = r.clen;
        out->mtime = r.last_modified;
        return 0;
    }
    if (rc != -ENOENT)
        return rc;
    /* A folder: its marker, or anything stored under it. */
    bool any = false;
    rc = list_prefix(s, key, false, 1, any_entry, &any, NULL);
    if (rc < 0 && rc != 1)
        return rc;
    if (!any) {
        char marker[1410];
        snprintf(marker, sizeof(marker), "%s/", key);
        rc = call(s, "HEAD", marker, NULL, NULL, 0, NULL, 0, &r);
        resp_free(&r);
        if (rc < 0)
            return rc;
    }
    out->type = SK_STORAGE_DIR;
    return 0;
}

static int s3_read(sk_storage_t *st, const char *path, size_t max, unsigned flags, void **buf, size_t *cap, size_t *len)
{
    struct s3 *s = S(st);
    char key[1400], range[64];
    if (key_of(s, path, key, sizeof(key)) < 0)
        return -ENAMETOOLONG;
    const char *extra[2] = {NULL, NULL};
    if ((flags & SK_STORAGE_PREFIX) && max > 0) {
        snprintf(range, sizeof(range), "Range: bytes=0-%zu", max - 1);
        extra[0] = range;
    }
    struct resp r = {.body = *buf, .cap = *cap};
    int rc = call(s, "GET", key, NULL, NULL, 0, extra, max, &r);
    if (rc == -EINVAL && (flags & SK_STORAGE_PREFIX)) /* 416: an empty object */
        rc = 0, r.len = 0;
    *buf = r.body;
    *cap = r.cap;
    if (rc < 0)
        return rc;
    if (!*buf || *cap < 1) {
        char *b = realloc(*buf, 1);
        if (!b)
            return -ENOMEM;
        *buf = b;
        *cap = 1;
    }
    ((char *)*buf)[r.len] = '\0';
    *len = r.len;
    return 0;
}

/* Set when a held lock could not be refreshed in time: the holder must not write any more. */
static bool lock_lost(struct s3 *s)
{
    pthread_mutex_lock(&s->mu);
    bool lost = false;
    for (struct sk_storage_lock *l = s->locks; l; l = l->next)
        lost |= l->lost;
    pthread_mutex_unlock(&s->mu);
    return lost;
}

static int put_object(struct s3 *s, const char *key, const void *data, size_t len)
{
    struct resp r = {0};
    SK_CRASHPOINT("put");
    int rc = call(s, "PUT", key, NULL, data, len, NULL, 1 << 20, &r);
    resp_free(&r);
    return rc;
}

static int s3_write(sk_storage_t *st, const char *path, const void *data, size_t len, unsigned flags)
{
    struct s3 *s = S(st);
    char key[1400];
    if (key_of(s, path, key, sizeof(key)) < 0)
        return -ENAMETOOLONG;
    if (lock_lost(s))
        return -ENOLCK;
    if (flags & SK_STORAGE_EXCL) {
        struct resp r = {0};
        int rc = call(s, "HEAD", key, NULL, NULL, 0, NULL, 0, &r);
        resp_free(&r);
        if (rc == 0)
            return -EEXIST;
        if (rc != -ENOENT)
            return rc;
    }
    return put_object(s, key, data, len);
}

static int delete_object(struct s3 *s, const char *key)
{
    struct resp r = {0};
    SK_CRASHPOINT("delete");
    int rc = call(s, "DELETE", key, NULL, NULL, 0, NULL, 1 << 20, &r);
    resp_free(&r);
    return rc;
}

static int s3_rename(sk_storage_t *st, const char *from, const char *to, unsigned flags)
{
    struct s3 *s = S(st);
    char fk[1400], tk[1400], src[4500], hdr[4600];
    if (key_of(s, from, fk, sizeof(fk)) < 0 || key_of(s, to, tk, sizeof(tk)) < 0)
        return -ENAMETOOLONG;
    if (lock_lost(s))
        return -ENOLCK;
    /* Only set-aside chunks are renamed on an object store (a manifest is PUT, with EXCL). */
    if (flags & SK_STORAGE_NOREPLACE)
        return -ENOTSUP;
    struct resp r = {0};
    int rc;
    char both[1450];
    snprintf(both, sizeof(both), "%s/%s", s->url.bucket, fk);
    if (sk_s3_encode(both, true, src, sizeof(src)) < 0)
        return -ENAMETOOLONG;
    snprintf(hdr, sizeof(hdr), "x-amz-copy-source: /%s", src);
    const char *extra[] = {hdr, NULL};
    SK_CRASHPOINT("copy");
    rc = call(s, "PUT", tk, NULL, NULL, 0, extra, 1 << 20, &r);
    /* A copy may answer 200 and report its failure in the body. */
    if (rc == 0 && r.body && strstr(r.body, "<Error>"))
        rc = -EIO;
    if (rc == 0)
        rc = delete_object(s, fk);
    resp_free(&r);
    return rc;
}

struct list_fwd {
    sk_storage_list_fn fn;
    void *arg;
};

static int fwd_entry(void *arg, const char *name, bool folder, uint64_t size, time_t mtime)
{
    (void)folder, (void)size, (void)mtime;
    struct list_fwd *f = arg;
    return f->fn(f->arg, name);
}

static int s3_list(sk_storage_t *st, const char *dir, sk_storage_list_fn fn, void *arg)
{
    struct s3 *s = S(st);
    char key[1400];
    if (key_of(s, dir, key, sizeof(key)) < 0)
        return -ENAMETOOLONG;
    struct list_fwd f = {fn, arg};
    return list_prefix(s, key, false, 0, fwd_entry, &f, NULL);
}

struct walk_fwd {
    sk_storage_walk_fn fn;
    void *arg;
};

/* Every object below dir, folder markers ("x/") left out. */
static int walk_entry(void *arg, const char *name, bool folder, uint64_t size, time_t mtime)
{
    (void)folder;
    struct walk_fwd *f = arg;
    size_t n = strlen(name);
    if (n && name[n - 1] == '/')
        return 0;
    sk_storage_info_t in = {.type = SK_STORAGE_FILE, .size = size, .allocated = size, .mtime = mtime};
    return f->fn(f->arg, name, &in);
}

static int s3_walk(sk_storage_t *st, const char *dir, sk_storage_walk_fn fn, void *arg)
{
    struct s3 *s = S(st);
    char key[1400];
    if (key_of(s, dir, key, sizeof(key)) < 0)
        return -ENAMETOOLONG;
    struct walk_fwd f = {fn, arg};
    return list_prefix(s, key, true, 0, walk_entry, &f, NULL);
}

/* The names of everything under a prefix, for a tree removal. */
struct keys {
    char **v;
    size_t n, cap;
};

static int collect_key(void *arg, const char *name, bool folder, uint64_t size, time_t mtime)
{
    (void)folder, (void)size, (void)mtime;
    struct keys *k = arg;
    if (k->n == k->cap) {
        size_t nc = k->cap ? k->cap * 2 : 64;
        char **v = realloc(k->v, nc * sizeof(*v));
        if (!v)
            return -ENOMEM;
        k->v = v;
        k->cap = nc;
    }
    if (!(k->v[k->n] = strdup(name)))
        return -ENOMEM;
    k->n++;
    return 0;
}

static void keys_free(struct keys *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->v[i]);
    free(k->v);
}

static int s3_remove(sk_storage_t *st, const char *path, unsigned flags)
{
    struct s3 *s = S(st);
    if (!*path)
        return -EINVAL;
    char key[1400];
    if (key_of(s, path, key, sizeof(key)) < 0)
        return -ENAMETOOLONG;
    /* The repository removes no folder from an object store (it stages nothing in tmp/). */
    if (flags & (SK_STORAGE_TREE | SK_STORAGE_EMPTY_DIR))
        return -ENOTSUP;
    /* S3 answers 204 whether or not the object was there: a missing one is not reported. */
    return delete_object(s, key);
}

static int s3_mkdir(sk_storage_t *st, const char *path, unsigned mode)
{
    (void)mode;
    struct s3 *s = S(st);
    char key[1400], marker[1410];
    if (key_of(s, path, key, sizeof(key)) < 0)
        return -ENAMETOOLONG;
    snprintf(marker, sizeof(marker), "%s/", key);
    return put_object(s, marker, "", 0);
}

static int s3_sync(sk_storage_t *st, const char *path, unsigned flags)
{
    (void)st, (void)path, (void)flags;
    return 0; /* a PUT is durable once answered */
}

/* ---- locks ----
 *
 * As restic's: a lock on PATH is an object locks/PATH/<ex|sh>-<owner>-<pid>-<random>, holding
 * who and when. To lock: PUT our object, then LIST locks/PATH/: an exclusive lock wants no other
 * live lock there, a shared one no other live exclusive one; if there is one, we DELETE ours and
 * answer -EWOULDBLOCK (after a random pause, so that two exclusive candidates do not meet again
 * and again). Both sides of a race back off, so at most one wins; neither may, and the caller
 * retries. Conditional writes (If-None-Match: *) would make this one request, but Swift's s3api
 * refuses them (501) and older MinIO/Ceph ignore them, so the design does not rely on them.
 *
 * A holder refreshes its objects (a new PUT) every lock_stale/5 seconds from a thread. A lock
 * whose object was not refreshed for lock_stale seconds (compared on the server's clock: the
 * listing's LastModified against the Date of the answer) is stale and ignored; so is one whose
 * owner is this host and pid namespace and whose pid is gone (a crash is then noticed at once).
 * A holder that dies leaves its object behind: it blocks others until it goes stale (default
 * 300 s), then the next exclusive holder removes it. A holder that cannot refresh its lock for
 * lock_stale seconds (cut off from the server) marks it lost, and from then on every write of
 * this storage fails with -ENOLCK: it never publishes under a lock others may have taken. */

static int lock_put(struct s3 *s, struct sk_storage_lock *l)
{
    char body[1024], key[1500], note[sizeof(l->note)];
    pthread_mutex_lock(&s->mu);
    memcpy(note, l->note, sizeof(note));
    pthread_mutex_unlock(&s->mu);
    int n = snprintf(body, sizeof(body), "owner %s\npid %ld\ntime %lld\nstale-after %d\n%s", s->owner, (long)getpid(),
                     (long long)time(NULL), s->lock_stale, note);
    if (key_of(s, l->key, key, sizeof(key)) < 0)
        return -ENAMETOOLONG;
    return put_object(s, key, body, (size_t)(n < (int)sizeof(body) ? n : (int)sizeof(body) - 1));
}

static void *refresher(void *arg)
{
    struct s3 *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long ms = (long)s->lock_stale * 1000 / 5; /* five refreshes in a stale period */
        until.tv_sec += ms / 1000;
        until.tv_nsec += (ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &until);
        if (s->stop)
            break;
        /* One lock at a time, the list looked at afresh each time (unlock may change it while
         * we write; it waits for the lock we are writing). */
        s->round++;
        for (;;) {
            struct sk_storage_lock *l = s->locks;
            while (l && l->round == s->round)
                l = l->next;
            if (!l)
                break;
            l->round = s->round;
            s->refreshing = l;
            pthread_mutex_unlock(&s->mu);
            int rc = lock_put(s, l);
            pthread_mutex_lock(&s->mu);
            s->refreshing = NULL;
            pthread_cond_broadcast(&s->refreshed);
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (rc == 0)
                l->refreshed = now;
            else if (now.tv_sec - l->refreshed.tv_sec >= s->lock_stale - s->lock_stale / 10)
                l->lost = true;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

struct lock_scan {
    struct s3 *s;
    const char *mine;
    bool want_ex;
    time_t server_now;
    bool conflict;
    struct keys stale;
};

/* "ex-OWNER-PID-RAND": whether a lock object of this host and pid namespace has a dead pid. */
static bool dead_local(struct s3 *s, const char *name)
{
    size_t on = strlen(s->owner);
    if (strncmp(name + 3, s->owner, on) || name[3 + on] != '-')
        return false;
    char *end;
    long pid = strtol(name + 4 + on, &end, 10);
    if (*end != '-' || pid <= 0)
        return false;
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static int scan_lock(void *arg, const char *name, bool folder, uint64_t size, time_t mtime)
{
    (void)size;
    struct lock_scan *ls = arg;
    if (folder || !strcmp(name, ls->mine))
        return 0;
    bool ex = !strncmp(name, "ex-", 3), sh = !strncmp(name, "sh-", 3);
    if (!ex && !sh)
        return 0;
    time_t now = ls->server_now ? ls->server_now : time(NULL);
    bool stale = (mtime && now - mtime > ls->s->lock_stale) || dead_local(ls->s, name);
    if (stale)
        return collect_key(&ls->stale, name, false, 0, 0);
    if (ls->want_ex || ex)
        ls->conflict = true;
    return 0;
}

static int s3_lock(sk_storage_t *st, const char *path, unsigned flags, sk_storage_lock_t **out)
{
    struct s3 *s = S(st);
    struct sk_storage_lock *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->s = s;
    char name[256];
    bool ex = flags & SK_STORAGE_LOCK_EX;
    snprintf(name, sizeof(name), "%s-%s-%ld-%08x", ex ? "ex" : "sh", s->owner, (long)getpid(), rnd32());
    char dir[1300];
    snprintf(dir, sizeof(dir), "locks/%s", path);
    if (snprintf(l->key, sizeof(l->key), "%s/%s", dir, name) >= (int)sizeof(l->key)) {
        free(l);
        return -ENAMETOOLONG;
    }
    int rc = lock_put(s, l);
    if (rc < 0) {
        free(l);
        return rc;
    }
    clock_gettime(CLOCK_MONOTONIC, &l->refreshed);
    char dkey[1400];
    struct lock_scan ls = {.s = s, .mine = name, .want_ex = ex};
    rc = key_of(s, dir, dkey, sizeof(dkey));
    if (rc == 0) {
        /* The Date of the listing is the server's clock: a HEAD of our own object gives it. */
        struct resp r = {0};
        char mykey[1500];
        key_of(s, l->key, mykey, sizeof(mykey));
        if (call(s, "HEAD", mykey, NULL, NULL, 0, NULL, 0, &r) == 0)
            ls.server_now = r.date;
        resp_free(&r);
        rc = list_prefix(s, dkey, false, 0, scan_lock, &ls, NULL);
    }
    if (rc == 0 && ex && !ls.conflict)
        for (size_t i = 0; i < ls.stale.n; i++) { /* the exclusive holder clears what dead holders left */
            char k[1500], full[1700];
            snprintf(k, sizeof(k), "%s/%s", dir, ls.stale.v[i]);
            if (key_of(s, k, full, sizeof(full)) == 0)
                delete_object(s, full);
        }
    keys_free(&ls.stale);
    if (rc == 0 && ls.conflict)
        rc = -EWOULDBLOCK;
    if (rc < 0) {
        char full[1500];
        if (key_of(s, l->key, full, sizeof(full)) == 0)
            delete_object(s, full);
        free(l);
        if (rc == -EWOULDBLOCK)
            sleep_s((double)(rnd32() % 200) / 1000.0);
        return rc;
    }
    pthread_mutex_lock(&s->mu);
    l->next = s->locks;
    s->locks = l;
    if (!s->refresher_on && pthread_create(&s->refresher, NULL, refresher, s) == 0)
        s->refresher_on = true;
    pthread_mutex_unlock(&s->mu);
    *out = l;
    return 0;
}

static int s3_lock_note(sk_storage_lock_t *l, const char *text, size_t len)
{
    pthread_mutex_lock(&l->s->mu);
    snprintf(l->note, sizeof(l->note), "note %.*s", (int)(len < 400 ? len : 400), text);
    pthread_mutex_unlock(&l->s->mu);
    return lock_put(l->s, l);
}

static void s3_unlock(sk_storage_lock_t *l)
{
    struct s3 *s = l->s;
    pthread_mutex_lock(&s->mu);
    for (struct sk_storage_lock **p = &s->locks; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    while (s->refreshing == l)
        pthread_cond_wait(&s->refreshed, &s->mu);
    pthread_mutex_unlock(&s->mu);
    char full[1500];
    if (key_of(s, l->key, full, sizeof(full)) == 0)
        delete_object(s, full);
    free(l);
}

static int s3_open_dir(sk_storage_t *st, const char *path)
{
    (void)st, (void)path;
    return -ENOTSUP;
}

static void s3_close(sk_storage_t *st)
{
    struct s3 *s = S(st);
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->refresher_on)
        pthread_join(s->refresher, NULL);
    while (s->locks)
        s3_unlock(s->locks);
    engine_stop(s);
    pthread_mutex_destroy(&s->emu);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->refreshed);
    free(s);
}

static const sk_storage_driver_t s3_driver = {
    .name = "s3",
    .caps = SK_STORAGE_CAP_OBJECTS,
    .info = s3_info,
    .read = s3_read,
    .write = s3_write,
    .rename = s3_rename,
    .list = s3_list,
    .walk = s3_walk,
    .remove = s3_remove,
    .mkdir = s3_mkdir,
    .sync = s3_sync,
    .lock = s3_lock,
    .lock_note = s3_lock_note,
    .unlock = s3_unlock,
    .open_dir = s3_open_dir,
    .close = s3_close,
};

int sk_s3_transfers(sk_storage_t *st)
{
    return st && st->drv == &s3_driver ? S(st)->transfers : 0;
}

int sk_s3_threads(sk_storage_t *st, int threads)
{
    int t = sk_s3_transfers(st);
    return t > threads ? t : threads;
}

int sk_s3_stats(sk_storage_t *st, sk_s3_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!st || st->drv != &s3_driver)
        return -EINVAL;
    struct s3 *s = S(st);
    out->get = atomic_load(&s->count[M_GET]);
    out->head = atomic_load(&s->count[M_HEAD]);
    out->put = atomic_load(&s->count[M_PUT]);
    out->del = atomic_load(&s->count[M_DELETE]);
    out->list = atomic_load(&s->count[M_LIST]);
    out->copy = atomic_load(&s->count[M_COPY]);
    out->requests =
        out->get + out->head + out->put + out->del + out->list + out->copy + atomic_load(&s->count[M_OTHER]);
    out->bytes_up = atomic_load(&s->bytes_up);
    out->bytes_down = atomic_load(&s->bytes_down);
    out->peak = (unsigned)atomic_load(&s->peak);
    return 0;
}

static const char *env_get(const char *name)
{
    return getenv(name);
}

static int env_int(const char *name, int lo, int hi, int def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    long n = strtol(v, &end, 10);
    return *end || n < lo || n > hi ? def : (int)n;
}

/* The S3 error code of an answer (<Code>...</Code>), or "". */
static void error_code(const struct resp *r, char *out, size_t len)
{
    const char *pos = NULL;
    out[0] = '\0';
    if (r->body)
        xml_get(r->body, "Code", &pos, out, len);
}

int sk_storage_s3_open(const char *url, sk_storage_t **out, sk_err_t *err)
{
    char why[256];
    sk_s3_url_t u;
    if (sk_s3_url_parse(url, &u, why, sizeof(why)) < 0)
        return sk_err_set(err, -EINVAL, url, "%s", why);
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc < 0)
        return sk_err_set(err, curl_init_rc, url, "libcurl failed to start");
    struct s3 *s = calloc(1, sizeof(*s));
    if (!s)
        return sk_err_set(err, -ENOMEM, url, NULL);
    s->base.drv = &s3_driver;
    s->url = u;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->emu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->refreshed, NULL);
    int rc = sk_s3_conf_load(env_get, url, &s->conf, err);
    if (rc < 0)
        goto fail;
    if (sk_s3_bucket_url(&s->conf, u.bucket, s->base_url, sizeof(s->base_url)) < 0) {
        rc = sk_err_set(err, -ENAMETOOLONG, url, "endpoint too long");
        goto fail;
    }
    snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", s->conf.region);
    const char *ca = getenv("AWS_CA_BUNDLE");
    snprintf(s->ca, sizeof(s->ca), "%s", ca ? ca : "");
    s->verbose = env_int("SLOTKEEPER_S3_DEBUG", 0, 1, 0);
    s->timeout = env_int("SLOTKEEPER_S3_TIMEOUT", 1, 3600, 30);
    s->tries = env_int("SLOTKEEPER_S3_TRIES", 1, 30, 8);
    s->lock_stale = env_int("SLOTKEEPER_S3_LOCK_STALE", 1, 86400, 300);
    if ((rc = sk_s3_transfers_env(getenv("SLOTKEEPER_S3_TRANSFERS"), &s->transfers)) < 0) {
        rc = sk_err_set(err, rc, "SLOTKEEPER_S3_TRANSFERS", "must be a whole number from %d to %d, not '%.40s'",
                        SK_S3_TRANSFERS_MIN, SK_S3_TRANSFERS_MAX, getenv("SLOTKEEPER_S3_TRANSFERS"));
        goto fail;
    }
    if ((rc = engine_start(s)) < 0) {
        rc = sk_err_set(err, rc, url, "cannot start the transfer engine");
        goto fail;
    }
    char host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    for (char *p = host; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.'))
            *p = '_';
    struct stat ns;
    unsigned long long nsino = stat("/proc/self/ns/pid", &ns) == 0 ? (unsigned long long)ns.st_ino : 0;
    snprintf(s->owner, sizeof(s->owner), "%s.%llx", host, nsino);
    /* Does the bucket answer, and do our credentials? One listing tells both. */
    struct resp r = {0};
    char q[64];
    snprintf(q, sizeof(q), "list-type=2&max-keys=1");
    rc = request(s, "GET", "", q, NULL, 0, NULL, 1 << 20, &r);
    if (rc < 0) {
        rc = rc == -EPROTO
                 ? sk_err_set(err, rc, url,
                              "cannot reach %s: TLS failed: its certificate is not trusted or not for this name, or "
                              "AWS_CA_BUNDLE%s%s is unusable (it names the CA bundle to trust)",
                              s->base_url, s->ca[0] ? " = " : "", s->ca)
                 : sk_err_set(err, rc, url, "cannot reach %s: %s", s->base_url, strerror(-rc));
    } else if (r.status != 200) {
        char code[128];
        error_code(&r, code, sizeof(code));
        int e = errno_of_status(r.status);
        if (r.status == 404 && (!code[0] || !strcmp(code, "NoSuchBucket")))
            rc = sk_err_set(err, -ENOENT, url, "no such bucket '%s' at %s", u.bucket, s->base_url);
        else if (r.status == 403 || r.status == 401)
            rc = sk_err_set(err, -EACCES, url, "access denied (%s): check the credentials and the bucket's policy",
                            code[0] ? code : "HTTP 403");
        else
            rc = sk_err_set(err, e ? e : -EIO, url, "the server answered HTTP %ld%s%s", r.status, code[0] ? " " : "",
                            code);
    }
    resp_free(&r);
    if (rc < 0)
        goto fail;
    *out = &s->base;
    return 0;
fail:
    engine_stop(s);
    pthread_mutex_destroy(&s->emu);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->refreshed);
    free(s);
    return rc;
}
