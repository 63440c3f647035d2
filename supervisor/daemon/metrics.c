/*
 * metrics: the Prometheus endpoint (see metrics.h), a minimal HTTP/1.x server
 * on the daemon's libuv loop.
 *
 * The listener, the connections' TCP handles and timers, and their lifetimes
 * are sockserver.h's (shared with control.c); this file speaks HTTP. A connection
 * lives through four steps: it reads the request head into a fixed buffer of
 * MAX_HEAD bytes until an empty line; it answers with one write (head and body,
 * the body rendered on the spot by the render callback); it shuts its side
 * down once the write is done; and then it reads and discards whatever the
 * client still sends until the client closes or LINGER_MS pass, so that a
 * request we did not read in full (a 431, a POST body) does not turn our close
 * into a reset that could destroy the answer before the client has read it.
 *
 * The timer bounds every step: the head must be complete within the idle time
 * (10 s; SK_METRICS_IDLE_MS overrides it, for tests) counted from the accept,
 * not from the last byte, so a client trickling bytes cannot hold a slot; the
 * answer must be written within the idle time as well. Past MAX_CONNS open
 * connections, a new one is closed at once. An answer that leaves more than
 * MAX_PENDING bytes queued in libuv right after the write (the kernel took the
 * rest) closes the connection: scrapes are small, and memory held for a client
 * that does not read stays bounded.
 */
#include "daemon/metrics.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "daemon/sockserver.h"
#include "slotkeeper/log.h"

#define MAX_HEAD     8192 /* bytes of request head, the empty line included */
#define MAX_CONNS    64
#define IDLE_MS      10000
#define LINGER_MS    2000
#define MAX_PENDING  (1u << 20)
#define MAX_HOST     128 /* an IPv6 address with a scope id fits */
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum conn_state {
    C_HEAD,     /* reading the request head */
    C_ANSWER,   /* the answer is being written */
    C_SHUTDOWN, /* written; our side is being shut down */
    C_LINGER,   /* shut down; discarding what the client still sends until it closes */
};

struct conn {
    sk_srv_conn_t base; /* the TCP handle (base.h.tcp), the timer (base.timer), the server's bookkeeping */
    sk_metrics_t *m;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    enum conn_state state;
    bool reading; /* uv_read_start is in effect */
    char *body;   /* malloc'd rendered text, or NULL */
    size_t len;   /* bytes in buf */
    char head[256];
    char buf[MAX_HEAD];
};

struct sk_metrics {
    sk_srv_t *srv; /* the listener and the connections */
    sk_metrics_render_fn fn;
    void *arg;
    uint64_t idle_ms;
    bool closing;
    void (*done)(void *arg);
    void *done_arg;
    char address[];
};

/* ---- connections ----------------------------------------------------------- */

static void on_conn_free(sk_srv_conn_t *b)
{
    free(((struct conn *)b)->body);
}

/* Closes both handles; a write or shutdown in flight is cancelled (its callback sees
 * UV_ECANCELED before the close callbacks run, while c is still allocated). */
static void conn_close(struct conn *c)
{
    sk_srv_conn_close(&c->base);
}

static void on_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->state == C_HEAD)
        log_debug("metrics: closing a connection: no complete request within %llu ms",
                  (unsigned long long)c->m->idle_ms);
    else if (c->state == C_ANSWER || c->state == C_SHUTDOWN)
        log_debug("metrics: closing a connection: the answer was not taken within %llu ms",
                  (unsigned long long)c->m->idle_ms);
    conn_close(c);
}

static void stop_reading(struct conn *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->base.h.tcp);
        c->reading = false;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    if (c->state == C_HEAD)
        *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
    else
        *buf = uv_buf_init(c->buf, (unsigned)sizeof(c->buf)); /* discarded */
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static int start_reading(struct conn *c)
{
    if (c->reading)
        return 0;
    int rc = uv_read_start((uv_stream_t *)&c->base.h.tcp, on_alloc, on_read);
    if (rc < 0) {
        log_debug("metrics: cannot read from a connection: %s", uv_strerror(rc));
        conn_close(c);
        return rc;
    }
    c->reading = true;
    return 0;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    if (c->base.closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    c->state = C_LINGER;
    c->len = 0;
    if (start_reading(c) < 0)
        return;
    uv_timer_start(&c->base.timer, on_timer, c->m->idle_ms < LINGER_MS ? c->m->idle_ms : LINGER_MS, 0);
}

static void on_write(uv_write_t *w, int status)
{
    struct conn *c = w->data;
    free(c->body);
    c->body = NULL;
    if (c->base.closing)
        return;
    if (status < 0) {
        log_debug("metrics: cannot answer a client: %s", uv_strerror(status));
        conn_close(c);
        return;
    }
    c->state = C_SHUTDOWN;
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->base.h.tcp, on_shutdown) < 0)
        conn_close(c);
}

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    default:
        return "Error";
    }
}

/* Writes the answer: status, then body (body_len bytes; c->body when owned, else a static
 * text) unless head_only. Stops reading and starts the write deadline. */
static void conn_answer(struct conn *c, int status, const char *body, size_t body_len, bool head_only)
{
    if (c->base.closing)
        return;
    stop_reading(c);
    const char *type = status == 200 ? CONTENT_TYPE : "text/plain; charset=utf-8";
    int n = snprintf(c->head, sizeof(c->head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n", status,
                     reason_of(status), type, body_len, status == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(c->head)) {
        conn_close(c);
        return;
    }
    uv_buf_t bufs[2];
    unsigned nbufs = 1;
    bufs[0] = uv_buf_init(c->head, (unsigned)n);
    if (!head_only && body_len > 0)
        bufs[nbufs++] = uv_buf_init((char *)body, (unsigned)body_len);
    c->state = C_ANSWER;
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->base.h.tcp, bufs, nbufs, on_write);
    if (rc < 0) {
        log_debug("metrics: cannot answer a client: %s", uv_strerror(rc));
        free(c->body);
        c->body = NULL;
        conn_close(c);
        return;
    }
    size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&c->base.h.tcp);
    if (queued > MAX_PENDING) {
        log_warnx("metrics: a client does not read its answer (%zu bytes waiting); closing its connection", queued);
        conn_close(c); /* the write is cancelled; on_write frees the body */
        return;
    }
    uv_timer_start(&c->base.timer, on_timer, c->m->idle_ms, 0);
}

static void conn_answer_text(struct conn *c, int status, const char *text, bool head_only)
{
    conn_answer(c, status, text, strlen(text), head_only);
}

static void conn_scrape(struct conn *c, bool head_only)
{
    sk_metrics_t *m = c->m;
    sk_mbuf_t b = {0};
    if (m->fn)
        m->fn(&b, m->arg);
    if (c->base.closing) { /* the callback closed the server */
        free(b.data);
        return;
    }
    if (b.failed || b.len > UINT_MAX) {
        free(b.data);
        log_warnx("metrics: cannot render the metrics: %s", b.failed ? "out of memory" : "too large");
        conn_answer_text(c, 500, "cannot render the metrics\n", head_only);
        return;
    }
    c->body = b.data;
    conn_answer(c, 200, b.data, b.len, head_only);
}

static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Answers the request whose head (its first line ends at or before end) is in c->buf. */
static void conn_request(struct conn *c, const char *end)
{
    const char *p = c->buf;
    while (p < end && (*p == '\r' || *p == '\n'))
        p++; /* empty lines before the request line are allowed */
    const char *eol = memchr(p, '\n', (size_t)(end - p) + 1);
    if (!eol) {
        conn_answer_text(c, 400, "bad request\n", false);
        return;
    }
    const char *lend = eol > p && eol[-1] == '\r' ? eol - 1 : eol;

    const char *method = p;
    while (p < lend && is_tchar((unsigned char)*p))
        p++;
    size_t mlen = (size_t)(p - method);
    if (mlen == 0 || p == lend || *p != ' ') {
        conn_answer_text(c, 400, "bad request\n", false);
        return;
    }
    const char *target = ++p;
    while (p < lend && (unsigned char)*p > ' ' && *p != 0x7f)
        p++;
    size_t tlen = (size_t)(p - target);
    if (tlen == 0 || p == lend || *p != ' ') {
        conn_answer_text(c, 400, "bad request\n", false);
        return;
    }
    const char *version = ++p;
    if (lend - version != 8 || memcmp(version, "HTTP/1.", 7) || version[7] < '0' || version[7] > '9') {
        conn_answer_text(c, 400, "bad request\n", false);
        return;
    }

    bool is_get = mlen == 3 && !memcmp(method, "GET", 3);
    bool is_head = mlen == 4 && !memcmp(method, "HEAD", 4);
    /* The absolute form ("http://host:port/metrics") names the same path. */
    const char *path = target, *tend = target + tlen;
    if (tlen > 7 && !strncasecmp(target, "http://", 7)) {
        const char *slash = memchr(target + 7, '/', tlen - 7);
        path = slash ? slash : "/";
        tend = slash ? tend : path + 1;
    }
    if (*path != '/') {
        conn_answer_text(c, 400, "bad request\n", is_head);
        return;
    }
    const char *q = path;
    while (q < tend && *q != '?' && *q != '#')
        q++;
    if ((size_t)(q - path) != strlen("/metrics") || memcmp(path, "/metrics", 8)) {
        conn_answer_text(c, 404, "not found; the metrics are at /metrics\n", is_head);
        return;
    }
    if (!is_get && !is_head) {
        conn_answer_text(c, 405, "method not allowed; use GET or HEAD\n", false);
        return;
    }
    conn_scrape(c, is_head);
}

/* The end of the head in c->buf (the '\n' that starts the empty line), searching from
 * from; NULL while incomplete. */
static const char *head_end(struct conn *c, size_t from)
{
    for (size_t i = from; i < c->len; i++) {
        if (c->buf[i] != '\n')
            continue;
        if (i + 1 < c->len && c->buf[i + 1] == '\n')
            return c->buf + i;
        if (i + 2 < c->len && c->buf[i + 1] == '\r' && c->buf[i + 2] == '\n')
            return c->buf + i;
    }
    return NULL;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    if (c->state != C_HEAD) { /* lingering: discard until the client closes */
        if (nread < 0)
            conn_close(c);
        return;
    }
    if (nread > 0) {
        size_t old = c->len;
        c->len += (size_t)nread;
        const char *end = head_end(c, old > 2 ? old - 2 : 0);
        if (end)
            conn_request(c, end);
        else if (c->len == sizeof(c->buf))
            conn_answer_text(c, 431, "request head larger than 8 KiB\n", false);
    } else if (nread == UV_EOF) {
        stop_reading(c);
        if (c->len == 0)
            conn_close(c); /* connected and left without asking */
        else
            conn_answer_text(c, 400, "bad request: incomplete head\n", false);
    } else if (nread < 0) {
        log_debug("metrics: connection: %s", uv_strerror((int)nread));
        conn_close(c);
    }
}

static void on_accept(sk_srv_conn_t *b)
{
    struct conn *c = (struct conn *)b;
    sk_metrics_t *m = sk_srv_arg(b->srv);
    c->m = m;
    c->state = C_HEAD;
    if (!sk_srv_admit(b)) {
        log_warnx("metrics: %s: refused a connection: already %d open", m->address, MAX_CONNS);
        conn_close(c);
        return;
    }
    if (start_reading(c) < 0)
        return;
    uv_timer_start(&c->base.timer, on_timer, m->idle_ms, 0);
}

/* ---- server ---------------------------------------------------------------- */

int sk_metrics_parse_address(const char *address, struct sockaddr_storage *ss, sk_err_t *err)
{
    const char *colon, *host = address;
    size_t hlen;
    bool v6 = false;
    if (*address == '[') {
        const char *rb = strchr(address, ']');
        if (!rb || rb[1] != ':')
            return sk_err_set(err, -EINVAL, address, "not HOST:PORT (an IPv6 address is written [ADDR]:PORT)");
        host = address + 1;
        hlen = (size_t)(rb - host);
        colon = rb + 1;
        v6 = true;
    } else {
        colon = strrchr(address, ':');
        if (!colon)
            return sk_err_set(err, -EINVAL, address, "not HOST:PORT");
        hlen = (size_t)(colon - address);
        if (memchr(address, ':', hlen))
            return sk_err_set(err, -EINVAL, address, "not HOST:PORT (an IPv6 address is written [ADDR]:PORT)");
    }
    if (hlen == 0)
        return sk_err_set(err, -EINVAL, address, "not HOST:PORT (no host)");
    if (hlen >= MAX_HOST)
        return sk_err_set(err, -EINVAL, address, "not HOST:PORT (host too long)");

    const char *ps = colon + 1;
    size_t plen = strlen(ps);
    unsigned long port = 0;
    bool port_ok = plen > 0 && plen <= 5;
    for (size_t i = 0; port_ok && i < plen; i++) {
        if (ps[i] < '0' || ps[i] > '9')
            port_ok = false;
        else
            port = port * 10 + (unsigned long)(ps[i] - '0');
    }
    if (!port_ok || port > 65535)
        return sk_err_set(err, -EINVAL, address, "not HOST:PORT (the port must be a number from 0 to 65535)");

    char h[MAX_HOST];
    memcpy(h, host, hlen);
    h[hlen] = '\0';
    memset(ss, 0, sizeof(*ss));
    int rc;
    if (v6)
        rc = uv_ip6_addr(h, (int)port, (struct sockaddr_in6 *)ss);
    else if (!strcmp(h, "localhost"))
        rc = uv_ip4_addr("127.0.0.1", (int)port, (struct sockaddr_in *)ss);
    else
        rc = uv_ip4_addr(h, (int)port, (struct sockaddr_in *)ss);
    if (rc < 0)
        return sk_err_set(err, -EINVAL, address,
                          v6 ? "not HOST:PORT (not an IPv6 address between the brackets)"
                             : "not HOST:PORT (HOST must be an IPv4 address, [IPv6 address] or localhost)");
    return 0;
}

int sk_metrics_listen(uv_loop_t *loop, const char *address, sk_metrics_render_fn fn, void *arg, sk_metrics_t **out,
                      sk_err_t *err)
{
    *out = NULL;
    if (!address)
        return sk_err_set(err, -EINVAL, "", "no metrics address");
    struct sockaddr_storage ss;
    int rc = sk_metrics_parse_address(address, &ss, err);
    if (rc < 0)
        return rc;

    size_t alen = strlen(address);
    sk_metrics_t *m = calloc(1, sizeof(*m) + alen + 1);
    if (!m)
        return sk_err_set(err, -ENOMEM, address, NULL);
    memcpy(m->address, address, alen + 1);
    m->fn = fn;
    m->arg = arg;
    m->idle_ms = sk_srv_idle_ms_from_env("SK_METRICS_IDLE_MS", IDLE_MS);
    char name[64 + 16];
    snprintf(name, sizeof(name), "metrics: %.64s", address);
    sk_srv_config_t sc = {
        .name = name,
        .conn_size = sizeof(struct conn),
        .conn_zero = offsetof(struct conn, head),
        .max_conns = MAX_CONNS,
        .on_accept = on_accept,
        .on_free = on_conn_free,
        .arg = m,
    };
    rc = sk_srv_listen_tcp(loop, (const struct sockaddr *)&ss, &sc, &m->srv);
    if (rc < 0) {
        free(m);
        if (rc == UV_EADDRINUSE)
            return sk_err_set(err, -EADDRINUSE, address, "cannot listen: address already in use");
        return sk_err_set(err, rc, address, "cannot listen: %s", uv_strerror(rc));
    }
    log_debug("metrics: listening on %s (port %d)", address, sk_metrics_port(m));
    *out = m;
    return 0;
}

int sk_metrics_port(const sk_metrics_t *m)
{
    if (!m)
        return -EINVAL;
    struct sockaddr_storage ss;
    int len = (int)sizeof(ss);
    int rc = uv_tcp_getsockname((const uv_tcp_t *)sk_srv_listener(m->srv), (struct sockaddr *)&ss, &len);
    if (rc < 0)
        return rc;
    if (ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}

static void on_srv_closed(void *arg)
{
    sk_metrics_t *m = arg;
    void (*done)(void *) = m->done;
    void *done_arg = m->done_arg;
    free(m);
    if (done)
        done(done_arg);
}

void sk_metrics_close(sk_metrics_t *m, void (*done)(void *arg), void *arg)
{
    if (!m || m->closing)
        return;
    m->closing = true;
    m->done = done;
    m->done_arg = arg;
    sk_srv_close(m->srv, on_srv_closed, m);
}
