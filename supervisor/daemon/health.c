/*
 * health: HTTP probes of /v1/chain/get_info with libcurl's multi interface on
 * the libuv loop (see health.h).
 *
 * The usual curl-on-libuv arrangement: curl's socket callback keeps one
 * uv_poll_t per curl socket (its context hangs on the socket through
 * curl_multi_assign), curl's timer callback drives the one uv_timer_t, and
 * both uv callbacks call curl_multi_socket_action and then drain
 * curl_multi_info_read. Nothing is started inside sk_health_probe itself:
 * curl_multi_add_handle only arms the timer, so every transfer (and every
 * result) happens later, from the loop.
 *
 * A finished transfer is turned into its result at once (the easy handle is
 * removed and cleaned up) and queued; the queue is delivered after the drain,
 * one probe at a time, so a callback may start, cancel or close anything:
 * a probe is in the multi (ACTIVE), queued with its result (DONE), or inside
 * its own callback (CALLING, where cancelling it is a no-op).
 *
 * Handles follow this codebase's rule: uv_close'd, freed in the close
 * callback. A poll handle is closed when curl says CURL_POLL_REMOVE (which
 * curl does before it closes the socket); sk_health_close also closes any
 * that curl never removed. The health object counts its open handles and is
 * freed, after done(arg), by the last close callback.
 *
 * Bodies are kept up to 64 KiB; a longer answer is cut there (the transfer is
 * aborted, the probe still reports the HTTP status). Redirects are not
 * followed, only http and https are allowed, and proxies from the
 * environment are ignored.
 */
#include "daemon/health.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotkeeper/log.h"

#define BODY_MAX (64 * 1024)

enum probe_state { PROBE_ACTIVE, PROBE_DONE, PROBE_CALLING };

struct sk_probe {
    sk_health_t *h;
    struct sk_probe *prev, *next; /* in h->active or h->done */
    enum probe_state state;
    CURL *easy;
    char *url;
    uint64_t timeout_ms;
    sk_probe_cb cb;
    void *arg;
    char *body;
    size_t len, cap;
    bool cut;   /* the answer was longer than BODY_MAX */
    bool nomem; /* the body could not be stored */
    char errbuf[CURL_ERROR_SIZE];
    sk_probe_result_t result;
};

/* One per curl socket. */
struct sock {
    uv_poll_t poll;
    sk_health_t *h;
    curl_socket_t fd;
    struct sock *prev, *next; /* in h->socks until closed */
};

struct probe_list {
    sk_probe_t *head, *tail;
};

struct sk_health {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    struct probe_list active, done;
    struct sock *socks;
    int open_handles; /* the timer and every sock not yet through its close callback */
    bool dispatching;
    bool closing;
    void (*done_cb)(void *arg);
    void *done_arg;
};

/* ---- lists ------------------------------------------------------------- */

static void list_push(struct probe_list *l, sk_probe_t *p)
{
    p->next = NULL;
    p->prev = l->tail;
    if (l->tail)
        l->tail->next = p;
    else
        l->head = p;
    l->tail = p;
}

static void list_unlink(struct probe_list *l, sk_probe_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        l->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        l->tail = p->prev;
    p->prev = p->next = NULL;
}

/* ---- curl global state --------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- handles ------------------------------------------------------------- */

static void handle_closed(sk_health_t *h)
{
    h->open_handles--;
    if (h->closing && h->open_handles == 0) {
        void (*done)(void *) = h->done_cb;
        void *arg = h->done_arg;
        free(h);
        if (done)
            done(arg);
    }
}

static void on_timer_close(uv_handle_t *handle)
{
    handle_closed(handle->data);
}

static void on_sock_close(uv_handle_t *handle)
{
    struct sock *s = handle->data;
    sk_health_t *h = s->h;
    free(s);
    handle_closed(h);
}

static void sock_close(struct sock *s)
{
    sk_health_t *h = s->h;
    if (s->prev)
        s->prev->next = s->next;
    else
        h->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_sock_close);
}

/* ---- results ------------------------------------------------------------- */

/* Sets *out from an object's unsigned integer "head_block_num"; returns whether there was one. */
static bool parse_head(const char *body, size_t len, uint64_t *out)
{
    json_error_t je;
    json_t *root = json_loadb(body ? body : "", len, 0, &je);
    if (!root)
        return false;
    json_t *v = json_is_object(root) ? json_object_get(root, "head_block_num") : NULL;
    bool ok = json_is_integer(v) && json_integer_value(v) >= 0;
    if (ok)
        *out = (uint64_t)json_integer_value(v);
    json_decref(root);
    return ok;
}

/* Writes "url: reason" as one line into p->result.error, cutting the url rather than the reason. */
static void set_error(sk_probe_t *p, const char *reason)
{
    char *e = p->result.error;
    const size_t size = sizeof(p->result.error);
    size_t rlen = strlen(reason), ulen = strlen(p->url);
    size_t room = rlen + 3 < size ? size - rlen - 3 : 0;
    snprintf(e, size, "%.*s: %s", (int)(ulen < room ? ulen : room), p->url, reason);
    size_t n = strlen(e);
    for (size_t i = 0; i < n; i++)
        if (iscntrl((unsigned char)e[i]))
            e[i] = ' ';
    while (n > 0 && e[n - 1] == ' ')
        e[--n] = '\0';
}

/* curl's error buffer (or its text for rc) with a lowercase first word, as in our other messages. */
static void curl_reason(sk_probe_t *p, CURLcode rc, char *buf, size_t size)
{
    snprintf(buf, size, "%s", p->errbuf[0] ? p->errbuf : curl_easy_strerror(rc));
    if (isupper((unsigned char)buf[0]) && islower((unsigned char)buf[1]))
        buf[0] = (char)tolower((unsigned char)buf[0]);
}

static void finish(sk_probe_t *p, CURLcode rc)
{
    sk_probe_result_t *r = &p->result;
    char reason[CURL_ERROR_SIZE + 64];
    memset(r, 0, sizeof(*r));
    if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && p->cut)) {
        long code = 0;
        curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &code);
        r->http_code = code;
        r->has_head = parse_head(p->body, p->len, &r->head_block_num);
        if (!r->has_head) {
            snprintf(reason, sizeof(reason), "answer has no head_block_num (HTTP %ld%s)", code,
                     p->cut ? ", cut at 64 KiB" : "");
            set_error(p, reason);
        }
        return;
    }
    switch (rc) {
    case CURLE_COULDNT_CONNECT: {
        long oserr = 0;
        curl_easy_getinfo(p->easy, CURLINFO_OS_ERRNO, &oserr);
        r->rc = -ECONNREFUSED;
        if (oserr == 0 || oserr == ECONNREFUSED)
            snprintf(reason, sizeof(reason), "connection refused");
        else
            snprintf(reason, sizeof(reason), "cannot connect: %s", strerror((int)oserr));
        break;
    }
    case CURLE_OPERATION_TIMEDOUT:
        r->rc = -ETIMEDOUT;
        curl_reason(p, rc, reason, sizeof(reason));
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        r->rc = -EHOSTUNREACH;
        curl_reason(p, rc, reason, sizeof(reason));
        break;
    default:
        r->rc = -EIO;
        if (p->nomem)
            snprintf(reason, sizeof(reason), "out of memory for the answer");
        else
            curl_reason(p, rc, reason, sizeof(reason));
        break;
    }
    set_error(p, reason);
}

static void probe_free(sk_probe_t *p)
{
    if (p->easy) {
        if (p->state == PROBE_ACTIVE && p->h->multi)
            curl_multi_remove_handle(p->h->multi, p->easy);
        curl_easy_cleanup(p->easy);
    }
    free(p->body);
    free(p->url);
    free(p);
}

/* Calls the callbacks of the finished probes, oldest first. A callback may start, cancel or close anything. */
static void dispatch(sk_health_t *h)
{
    if (h->dispatching)
        return;
    h->dispatching = true;
    sk_probe_t *p;
    while (!h->closing && (p = h->done.head)) {
        list_unlink(&h->done, p);
        p->state = PROBE_CALLING;
        p->cb(p->arg, &p->result);
        probe_free(p);
    }
    h->dispatching = false;
}

/* Moves every finished transfer to the done queue, then delivers the queue. */
static void check_done(sk_health_t *h)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(h->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        char *priv = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        sk_probe_t *p = (sk_probe_t *)priv;
        if (!p)
            continue;
        finish(p, rc);
        curl_multi_remove_handle(h->multi, easy);
        curl_easy_cleanup(easy);
        p->easy = NULL;
        free(p->body);
        p->body = NULL;
        list_unlink(&h->active, p);
        p->state = PROBE_DONE;
        list_push(&h->done, p);
    }
    dispatch(h);
}

/* ---- libuv side ---------------------------------------------------------- */

static void socket_action(sk_health_t *h, curl_socket_t fd, int flags)
{
    int running;
    CURLMcode mc = curl_multi_socket_action(h->multi, fd, flags, &running);
    if (mc != CURLM_OK)
        log_warnx("health: curl_multi_socket_action: %s", curl_multi_strerror(mc));
    check_done(h);
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    struct sock *s = handle->data;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    socket_action(s->h, s->fd, flags);
}

static void on_timeout(uv_timer_t *timer)
{
    socket_action(timer->data, CURL_SOCKET_TIMEOUT, 0);
}

/* ---- curl side ----------------------------------------------------------- */

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    sk_health_t *h = userp;
    struct sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s)
            sock_close(s);
        return 0;
    }
    if (!s) {
        if (h->closing)
            return 0;
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1;
        if (uv_poll_init_socket(h->loop, &s->poll, fd) < 0) {
            free(s);
            return -1;
        }
        s->h = h;
        s->fd = fd;
        s->poll.data = s;
        s->next = h->socks;
        if (h->socks)
            h->socks->prev = s;
        h->socks = s;
        h->open_handles++;
        curl_multi_assign(h->multi, fd, s);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    if (events == 0)
        return uv_poll_stop(&s->poll) < 0 ? -1 : 0;
    return uv_poll_start(&s->poll, events, on_poll) < 0 ? -1 : 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    sk_health_t *h = userp;
    if (uv_is_closing((uv_handle_t *)&h->timer))
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    sk_probe_t *p = userp;
    size_t n = size * nmemb;
    size_t take = n < BODY_MAX - p->len ? n : BODY_MAX - p->len;
    if (take > 0 && p->len + take > p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4096;
        while (cap < p->len + take)
            cap *= 2;
        if (cap > BODY_MAX)
            cap = BODY_MAX;
        char *b = realloc(p->body, cap);
        if (!b) {
            p->nomem = true;
            return 0;
        }
        p->body = b;
        p->cap = cap;
    }
    if (take > 0)
        memcpy(p->body + p->len, data, take);
    p->len += take;
    if (take < n) {
        p->cut = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

/* ---- API ----------------------------------------------------------------- */

int sk_health_init(uv_loop_t *loop, sk_health_t **out)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        log_warnx("health: curl_global_init: %s", curl_easy_strerror(curl_init_rc));
        return -EIO;
    }
    sk_health_t *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->loop = loop;
    h->multi = curl_multi_init();
    if (!h->multi) {
        free(h);
        return -ENOMEM;
    }
    int rc = uv_timer_init(loop, &h->timer);
    if (rc < 0) {
        curl_multi_cleanup(h->multi);
        free(h);
        return rc;
    }
    h->timer.data = h;
    h->open_handles = 1;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    *out = h;
    return 0;
}

/* Sets the options of one probe; returns 0 or -ENOMEM. */
static int probe_setup(sk_probe_t *p)
{
    long ms = p->timeout_ms == 0 ? 1 : p->timeout_ms > LONG_MAX ? LONG_MAX : (long)p->timeout_ms;
    CURL *e = p->easy;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                                                  \
    do {                                                                                                               \
        if (rc == CURLE_OK)                                                                                            \
            rc = curl_easy_setopt(e, opt, val);                                                                        \
    } while (0)
    SET(CURLOPT_URL, p->url);
    SET(CURLOPT_PRIVATE, (char *)p);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, ms);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, p);
    SET(CURLOPT_ERRORBUFFER, p->errbuf);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_PROXY, "");
    SET(CURLOPT_USERAGENT, "slotkeeper");
#undef SET
    /* Options only fail on memory or an unknown protocol name; both are "cannot start". */
    return rc == CURLE_OK ? 0 : -ENOMEM;
}

sk_probe_t *sk_health_probe(sk_health_t *h, const char *url, uint64_t timeout_ms, sk_probe_cb cb, void *arg)
{
    if (!h || !url || !cb || h->closing) {
        errno = EINVAL;
        return NULL;
    }
    sk_probe_t *p = calloc(1, sizeof(*p));
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    p->h = h;
    p->state = PROBE_DONE; /* not in the multi until added */
    p->timeout_ms = timeout_ms;
    p->cb = cb;
    p->arg = arg;
    p->url = strdup(url);
    p->easy = curl_easy_init();
    if (!p->url || !p->easy || probe_setup(p) < 0) {
        probe_free(p);
        errno = ENOMEM;
        return NULL;
    }
    /* Only arms the timer (at 0 ms): the transfer starts from the loop. */
    CURLMcode mc = curl_multi_add_handle(h->multi, p->easy);
    if (mc != CURLM_OK) {
        probe_free(p);
        errno = mc == CURLM_OUT_OF_MEMORY ? ENOMEM : EIO;
        return NULL;
    }
    p->state = PROBE_ACTIVE;
    list_push(&h->active, p);
    return p;
}

void sk_health_cancel(sk_probe_t *p)
{
    if (!p)
        return;
    sk_health_t *h = p->h;
    switch (p->state) {
    case PROBE_ACTIVE:
        list_unlink(&h->active, p);
        break;
    case PROBE_DONE:
        list_unlink(&h->done, p);
        break;
    case PROBE_CALLING:
        return; /* its callback is running; dispatch frees it */
    }
    probe_free(p);
}

void sk_health_close(sk_health_t *h, void (*done)(void *arg), void *arg)
{
    if (!h || h->closing)
        return;
    h->closing = true;
    h->done_cb = done;
    h->done_arg = arg;
    sk_probe_t *p;
    while ((p = h->active.head)) {
        list_unlink(&h->active, p);
        probe_free(p);
    }
    while ((p = h->done.head)) {
        list_unlink(&h->done, p);
        probe_free(p);
    }
    /* May still report sockets through CURL_POLL_REMOVE; whatever it does not is closed below. */
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    while (h->socks)
        sock_close(h->socks);
    uv_close((uv_handle_t *)&h->timer, on_timer_close);
}
