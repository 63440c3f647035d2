/*
 * test_metrics: the Prometheus endpoint on real TCP sockets on 127.0.0.1. The
 * server runs on a libuv loop in the test process; the clients (raw blocking
 * sockets, and libcurl for one test) run in a thread of their own and tell the
 * loop when they are done, which then closes the server. Covers scrapes (GET,
 * HEAD, query strings, HTTP/1.0), the render callback (once per scrape, its
 * failure), 404/405/400/431, silent and idle clients, the connection limit, a
 * client that does not read, a large body, closing with connections open or
 * from inside the render callback, bad and busy addresses, and sk_mbuf_printf.
 * Under ASan every test that runs a loop ends with a leak check of its own (the
 * runner's _exit would skip LSan's).
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "daemon/metrics.h"
#include "unit.h"

#if defined(__SANITIZE_ADDRESS__)
#define METRICS_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define METRICS_LSAN 1
#endif
#endif
#ifdef METRICS_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define MAX_CONNS    64

/* ---- fixture: a server on a loop, a client thread ------------------------- */

struct fx {
    uv_loop_t loop;
    sk_metrics_t *srv;   /* touched by the loop thread only */
    uv_async_t finished; /* the client thread is done: close the server */
    uv_async_t close_now;
    int port;
    atomic_int renders; /* render calls */
    int ndone;          /* done() calls */
    bool fail;          /* the render callback fails (out of memory) */
    bool close_in_render;
    char *big; /* when set, the text rendered */
    size_t big_len;
    void (*client)(struct fx *);
    pthread_t thread;
};

static void leak_check(void)
{
#ifdef METRICS_LSAN
    CHECK_EQ(__lsan_do_recoverable_leak_check(), 0);
#endif
}

static void on_done(void *arg)
{
    struct fx *fx = arg;
    fx->ndone++;
}

static void small_text(int n, char *buf, size_t size)
{
    snprintf(buf, size, "# HELP sk_scrapes Scrapes so far.\n# TYPE sk_scrapes counter\nsk_scrapes %d\n", n);
}

static void render(sk_mbuf_t *b, void *arg)
{
    struct fx *fx = arg;
    int n = atomic_fetch_add(&fx->renders, 1) + 1;
    if (fx->close_in_render && fx->srv) {
        sk_metrics_close(fx->srv, on_done, fx);
        fx->srv = NULL;
    }
    if (fx->fail) {
        sk_mbuf_printf(b, "sk_partial 1\n");
        b->failed = 1;
        return;
    }
    if (fx->big) {
        for (size_t off = 0; off < fx->big_len; off += 1000) {
            size_t n1 = fx->big_len - off < 1000 ? fx->big_len - off : 1000;
            sk_mbuf_printf(b, "%.*s", (int)n1, fx->big + off);
        }
        return;
    }
    char text[256];
    small_text(n, text, sizeof(text));
    sk_mbuf_printf(b, "%s", text);
}

/* Exactly len bytes of exposition-like text. */
static char *make_big(size_t len)
{
    char *s = malloc(len + 1);
    CHECK(s != NULL);
    size_t off = 0;
    for (unsigned i = 0; off < len; i++) {
        char line[64];
        int n = snprintf(line, sizeof(line), "sk_big{i=\"%u\"} %u\n", i, i * 7u);
        size_t k = len - off < (size_t)n ? len - off : (size_t)n;
        memcpy(s + off, line, k);
        off += k;
    }
    s[len] = '\0';
    return s;
}

static void fx_init(struct fx *fx)
{
    memset(fx, 0, sizeof(*fx));
    atomic_init(&fx->renders, 0);
    CHECK_EQ(uv_loop_init(&fx->loop), 0);
}

static void fx_listen(struct fx *fx)
{
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_metrics_listen(&fx->loop, "127.0.0.1:0", render, fx, &fx->srv, &err), &err);
    CHECK(fx->srv != NULL);
    fx->port = sk_metrics_port(fx->srv);
    CHECK(fx->port > 0 && fx->port <= 65535);
}

static void on_finished(uv_async_t *a)
{
    struct fx *fx = a->data;
    uv_close((uv_handle_t *)&fx->finished, NULL);
    uv_close((uv_handle_t *)&fx->close_now, NULL);
    if (fx->srv) {
        sk_metrics_close(fx->srv, on_done, fx);
        fx->srv = NULL;
    }
}

static void on_close_now(uv_async_t *a)
{
    struct fx *fx = a->data;
    if (fx->srv) {
        sk_metrics_close(fx->srv, on_done, fx);
        fx->srv = NULL;
    }
}

static void *client_main(void *arg)
{
    struct fx *fx = arg;
    fx->client(fx);
    uv_async_send(&fx->finished);
    return NULL;
}

/* Runs client in a thread while the loop serves; then checks that the server closed cleanly. */
static void fx_run(struct fx *fx, void (*client)(struct fx *))
{
    fx->client = client;
    CHECK_EQ(uv_async_init(&fx->loop, &fx->finished, on_finished), 0);
    CHECK_EQ(uv_async_init(&fx->loop, &fx->close_now, on_close_now), 0);
    fx->finished.data = fx;
    fx->close_now.data = fx;
    CHECK_EQ(pthread_create(&fx->thread, NULL, client_main, fx), 0);
    CHECK_EQ(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ(pthread_join(fx->thread, NULL), 0);
    CHECK_EQ(fx->ndone, 1);
    CHECK(fx->srv == NULL);
    CHECK_EQ(uv_loop_close(&fx->loop), 0);
    free(fx->big);
    fx->big = NULL;
    leak_check();
}

/* ---- client helpers (run in the client thread) ---------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct timeval tv = {15, 0}; /* generous: only a hang would reach it */
    CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void send_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        CHECK(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

static void send_text(int fd, const char *text)
{
    send_all(fd, text, strlen(text));
}

/* Sends text if the server still takes it (it may have closed already). */
static void send_try(int fd, const char *text)
{
    ssize_t w;
    do
        w = send(fd, text, strlen(text), MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
}

/* Everything the server sends until it closes (malloc'd, NUL-terminated). A reset ends it
 * too; a timeout fails the test. */
static char *read_all(int fd, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    CHECK(buf != NULL);
    for (;;) {
        if (cap - n < 65536) {
            cap *= 2;
            buf = realloc(buf, cap);
            CHECK(buf != NULL);
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            break;
        if (r < 0)
            unit_fail(__FILE__, __LINE__, "read: %s", strerror(errno));
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

struct resp {
    char *raw;
    size_t len;
    int status;
    char *headers; /* within raw: from the status line to the empty line */
    char *body;    /* within raw */
    size_t body_len;
};

static void parse_resp(struct resp *r)
{
    CHECK(r->len > 12);
    CHECK(!memcmp(r->raw, "HTTP/1.1 ", 9));
    r->status = atoi(r->raw + 9);
    char *end = strstr(r->raw, "\r\n\r\n");
    CHECK(end != NULL);
    end[2] = '\0'; /* headers keep their last CRLF */
    r->headers = r->raw;
    r->body = end + 4;
    r->body_len = r->len - (size_t)(r->body - r->raw);
}

/* The value of header name (case-insensitive), copied to out; NULL if absent. */
static const char *resp_header(const struct resp *r, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    for (const char *p = strstr(r->headers, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (!strncasecmp(line, name, nlen) && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            snprintf(out, size, "%.*s", (int)(e - v), v);
            return out;
        }
    }
    return NULL;
}

/* Sends request (len bytes) on a new connection and reads the whole answer. */
static void http_raw(struct fx *fx, const char *request, size_t len, struct resp *r)
{
    memset(r, 0, sizeof(*r));
    int fd = tcp_connect(fx->port);
    send_all(fd, request, len);
    r->raw = read_all(fd, &r->len);
    close(fd);
    parse_resp(r);
}

static void http(struct fx *fx, const char *request, struct resp *r)
{
    http_raw(fx, request, strlen(request), r);
}

/* Checks the headers every answer carries, and that Content-Length is content_length. */
static void check_common(const struct resp *r, size_t content_length)
{
    char v[256];
    CHECK(resp_header(r, "Content-Length", v, sizeof(v)) != NULL);
    CHECK_EQ(strtoull(v, NULL, 10), content_length);
    CHECK_STR(resp_header(r, "Connection", v, sizeof(v)), "close");
    CHECK(resp_header(r, "Content-Type", v, sizeof(v)) != NULL);
}

static void expect_status(struct fx *fx, const char *request, int status)
{
    struct resp r;
    http(fx, request, &r);
    if (r.status != status)
        unit_fail(__FILE__, __LINE__, "request \"%s\": status %d, expected %d", request, r.status, status);
    check_common(&r, r.body_len);
    free(r.raw);
}

/* Expects the server to close fd without sending anything. */
static void expect_closed(int fd)
{
    size_t n;
    char *rest = read_all(fd, &n);
    CHECK_EQ(n, 0);
    free(rest);
}

/* ---- sk_mbuf_printf ----------------------------------------------------------- */

TEST(metrics_mbuf_printf)
{
    sk_mbuf_t b = {0};
    sk_mbuf_printf(&b, "%s", "");
    CHECK_EQ(b.len, 0);
    CHECK_EQ(b.failed, 0);
    size_t want = 0;
    for (int i = 0; i < 10000; i++) {
        char line[64];
        int n = snprintf(line, sizeof(line), "sk_metric{i=\"%d\"} %d\n", i, i * 3);
        sk_mbuf_printf(&b, "sk_metric{i=\"%d\"} %d\n", i, i * 3);
        CHECK_EQ(b.len, want + (size_t)n);
        CHECK(!memcmp(b.data + want, line, (size_t)n));
        want += (size_t)n;
        CHECK_EQ(b.data[b.len], '\0');
        CHECK(b.cap > b.len);
    }
    /* One append far larger than the buffer. */
    char *big = make_big(300000);
    sk_mbuf_printf(&b, "%s", big);
    CHECK_EQ(b.len, want + 300000);
    CHECK(!memcmp(b.data + want, big, 300000));
    CHECK_EQ(b.failed, 0);
    free(big);
    /* Once failed, nothing more is appended. */
    size_t len = b.len;
    b.failed = 1;
    sk_mbuf_printf(&b, "more");
    CHECK_EQ(b.len, len);
    free(b.data);
}

/* ---- scrapes ---------------------------------------------------------------- */

static void client_scrape(struct fx *fx)
{
    char want[256], v[256];
    struct resp r;
    http(fx, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n", &r);
    CHECK_EQ(r.status, 200);
    CHECK(!strncmp(r.raw, "HTTP/1.1 200 OK\r\n", 17));
    small_text(1, want, sizeof(want));
    check_common(&r, strlen(want));
    CHECK_STR(resp_header(&r, "Content-Type", v, sizeof(v)), CONTENT_TYPE);
    CHECK_EQ(r.body_len, strlen(want));
    CHECK_STR(r.body, want);
    CHECK_EQ(atomic_load(&fx->renders), 1);
    free(r.raw);

    /* HTTP/1.0, bare newlines, a query string: the same page, rendered anew. */
    http(fx, "GET /metrics?name[]=sk_scrapes HTTP/1.0\n\n", &r);
    CHECK_EQ(r.status, 200);
    small_text(2, want, sizeof(want));
    CHECK_STR(r.body, want);
    CHECK_EQ(atomic_load(&fx->renders), 2);
    free(r.raw);

    /* The absolute form, and an empty line before the request line. */
    http(fx, "\r\nGET http://127.0.0.1/metrics HTTP/1.1\r\n\r\n", &r);
    CHECK_EQ(r.status, 200);
    small_text(3, want, sizeof(want));
    CHECK_STR(r.body, want);
    CHECK_EQ(atomic_load(&fx->renders), 3);
    free(r.raw);
}

TEST(metrics_scrape)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx);
    fx_run(&fx, client_scrape);
    CHECK_EQ(atomic_load(&fx.renders), 3);
}

static void client_head(struct fx *fx)
{
    char want[256], v[256];
    struct resp r;
    http(fx, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    CHECK_EQ(r.status, 200);
    small_text(1, want, sizeof(want));
    check_common(&r, strlen(want)); /* the length a GET would get */
    CHECK_STR(resp_header(&r, "Content-Type", v, sizeof(v)), CONTENT_TYPE);
    CHECK_EQ(r.body_len, 0);
    CHECK_EQ(atomic_load(&fx->renders), 1);
    free(r.raw);
    /* HEAD of another path: 404 without a body. */
    http(fx, "HEAD /nope HTTP/1.1\r\n\r\n", &r);
    CHECK_EQ(r.status, 404);
    CHECK_EQ(r.body_len, 0);
    free(r.raw);
}

TEST(metrics_head_no_body)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx);
    fx_run(&fx, client_head);
}

static void client_not_found(struct fx *fx)
{
    expect_status(fx, "GET / HTTP/1.1\r\n\r\n", 404);
    expect_status(fx, "GET /metricsx HTTP/1.1\r\n\r\n", 404);
    expect_status(fx, "GET /metrics/ HTTP/1.1\r\n\r\n", 404);
    expect_status(fx, "GET /Metrics HTTP/1.1\r\n\r\n", 404);
    expect_status(fx, "POST /other HTTP/1.1\r\n\r\n", 404);
    CHECK_EQ(atomic_load(&fx->renders), 0);
}

TEST(metrics_not_found)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx);
    fx_run(&fx, client_not_found);
}

static void client_method(struct fx *fx)
{
    char v[256];
    struct resp r;
    /* With a body the server does not read: the answer must still arrive whole. */
    http(fx, "POST /metrics HTTP/1.1\r\nContent-Length: 9\r\n\r\nname=value", &r);
    CHECK_EQ(r.status, 405);
    check_common(&r, r.body_len);
    CHECK_STR(resp_header(&r, "Allow", v, sizeof(v)), "GET, HEAD");
    free(r.raw);
    expect_status(fx, "PUT /metrics HTTP/1.1\r\n\r\n", 405);
    expect_status(fx, "DELETE /metrics?x=1 HTTP/1.0\r\n\r\n", 405);
    expect_status(fx, "get /metrics HTTP/1.1\r\n\r\n", 405); /* methods are case-sensitive */
    CHECK_EQ(atomic_load(&fx->renders), 0);
}

TEST(metrics_method_not_allowed)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx);
    fx_run(&fx, client_method);
}

static void client_bad_request(struct fx *fx)
{
    static const char *const bad[] = {
        "GARBAGE\r\n\r\n",
        "GET /metrics\r\n\r\n",
        "GET /metrics HTTP/2.0\r\n\r\n",
        "GET /metrics HTTP/1.1 extra\r\n\r\n",
        "GET  /metrics HTTP/1.1\r\n\r\n",
        "GET /metrics  HTTP/1.1\r\n\r\n",
        "GET /metrics http/1.1\r\n\r\n",
        "GET /metrics HTTP/1.10\r\n\r\n",
        "G(T /metrics HTTP/1.1\r\n\r\n",
        " GET /metrics HTTP/1.1\r\n\r\n",
        "GET metrics HTTP/1.1\r\n\r\n",
        "GET * HTTP/1.1\r\n\r\n",
        "\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_status(fx, bad[i], 400);
    /* A control byte in the target; then a head cut short by the client's shutdown. */
    expect_status(fx, "GET /met\x01rics HTTP/1.1\r\n\r\n", 400);
    int fd = tcp_connect(fx->port);
    send_text(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n");
    CHECK_EQ(shutdown(fd, SHUT_WR), 0);
    struct resp r = {0};
    r.raw = read_all(fd, &r.len);
    close(fd);
    parse_resp(&r);
    CHECK_EQ(r.status, 400);
    free(r.raw);
    CHECK_EQ(atomic_load(&fx->renders), 0);
}

TEST(metrics_bad_request)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx);
    fx_run(&fx, client_bad_request);
}

/* "GET /metrics HTTP/1.1\r\nX-Pad: aaa...\r\n\r\n" of exactly total bytes. */
static char *padded_request(size_t total)
{
    const char *start = "GET /metrics HTTP/1.1\r\nX-Pad: ";
    size_t slen = strlen(start);
    CHECK(total > slen + 4);
    char *s = malloc(total + 1);
    CHECK(s != NULL);
    memcpy(s, start, slen);
    memset(s + slen, 'a', total - slen - 4);
    memcpy(s + total - 4, "\r\n\r\n", 5);
    return s;
}

static void client_too_large(struct fx *fx)
{
    char *req = padded_request(9 * 1024);
    struct resp r;
    http_raw(fx, req, strlen(req), &r);
    CHECK_EQ(r.status, 431);
    check_common(&r, r.body_len);
    free(r.raw);
    free(req);
    CHECK_EQ(atomic_load(&fx->renders), 0);
    /* A head of exactly 8 KiB is still read. */
    req = padded_request(8192);
    http_raw(fx, req, strlen(req), &r);
    CHECK_EQ(r.status, 200);
    free(r.raw);
    free(req);
    CHECK_EQ(atomic_load(&fx->renders), 1);
}

TEST(metrics_head_too_large)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx);
    fx_run(&fx, client_too_large);
}

static void client_render_fails(struct fx *fx)
{
    struct resp r;
    http(fx, "GET /metrics HTTP/1.1\r\n\r\n", &r);
    CHECK_EQ(r.status, 500);
    check_common(&r, r.body_len);
    CHECK(strstr(r.body, "sk_partial") == NULL);
    free(r.raw);
    CHECK_EQ(atomic_load(&fx->renders), 1);
}

TEST(metrics_render_failure)
{
    struct fx fx;
    fx_init(&fx);
    fx.fail = true;
    fx_listen(&fx);
    fx_run(&fx, client_render_fails);
}

/* ---- bad clients ------------------------------------------------------------ */

static void client_silent(struct fx *fx)
{
    int silent = tcp_connect(fx->port);
    int partial = tcp_connect(fx->port);
    send_text(partial, "GET /metrics HTTP/1.1\r\nHo");
    char want[256];
    struct resp r;
    http(fx, "GET /metrics HTTP/1.1\r\n\r\n", &r);
    CHECK_EQ(r.status, 200);
    small_text(1, want, sizeof(want));
    CHECK_STR(r.body, want);
    free(r.raw);
    /* The half-sent request still completes. */
    send_text(partial, "st: x\r\n\r\n");
    r.raw = read_all(partial, &r.len);
    parse_resp(&r);
    CHECK_EQ(r.status, 200);
    small_text(2, want, sizeof(want));
    CHECK_STR(r.body, want);
    free(r.raw);
    close(partial);
    close(silent);
}

TEST(metrics_silent_client_does_not_block)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx);
    fx_run(&fx, client_silent);
}

static void client_idle(struct fx *fx)
{
    uint64_t t0 = now_ms();
    int fd = tcp_connect(fx->port);
    send_text(fd, "GET /met"); /* and never the rest */
    expect_closed(fd);
    uint64_t took = now_ms() - t0;
    CHECK(took >= 150);
    CHECK(took < 5000);
    close(fd);
    /* Trickling bytes does not extend the deadline: it counts from the accept. */
    t0 = now_ms();
    fd = tcp_connect(fx->port);
    for (int i = 0; i < 5; i++) {
        send_try(fd, "G");
        usleep(100 * 1000);
    }
    expect_closed(fd);
    took = now_ms() - t0;
    CHECK(took < 1500);
    close(fd);
    expect_status(fx, "GET /metrics HTTP/1.1\r\n\r\n", 200);
}

TEST(metrics_idle_timeout)
{
    CHECK_EQ(setenv("SK_METRICS_IDLE_MS", "200", 1), 0);
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx);
    fx_run(&fx, client_idle);
}

static void client_max(struct fx *fx)
{
    int fds[MAX_CONNS];
    for (int i = 0; i < MAX_CONNS; i++)
        fds[i] = tcp_connect(fx->port);
    /* One more is closed at once (the idle time is 10 s: this is not it). */
    uint64_t t0 = now_ms();
    int fd = tcp_connect(fx->port);
    expect_closed(fd);
    CHECK(now_ms() - t0 < 5000);
    close(fd);
    /* The ones admitted still work. */
    struct resp r;
    send_text(fds[0], "GET /metrics HTTP/1.1\r\n\r\n");
    r.raw = read_all(fds[0], &r.len);
    parse_resp(&r);
    CHECK_EQ(r.status, 200);
    free(r.raw);
    for (int i = 0; i < MAX_CONNS; i++)
        close(fds[i]);
    /* Once they are gone, new clients are served again (the server sees the hang-ups soon). */
    for (int tries = 0;; tries++) {
        fd = tcp_connect(fx->port);
        send_try(fd, "GET /metrics HTTP/1.1\r\n\r\n");
        size_t n;
        char *raw = read_all(fd, &n);
        close(fd);
        if (n > 0) {
            CHECK(!strncmp(raw, "HTTP/1.1 200 ", 13));
            free(raw);
            break;
        }
        free(raw);
        CHECK(tries < 50);
        usleep(100 * 1000);
    }
}

TEST(metrics_max_connections)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx);
    fx_run(&fx, client_max);
}

static void client_slow_reader(struct fx *fx)
{
    int fd = tcp_connect(fx->port);
    send_text(fd, "GET /metrics HTTP/1.1\r\n\r\n");
    usleep(200 * 1000); /* not reading */
    size_t n;
    char *raw = read_all(fd, &n);
    close(fd);
    /* Cut off: what the kernel took before the server gave up, far less than the body. */
    CHECK(n < fx->big_len);
    free(raw);
    /* The server goes on. */
    struct resp r;
    http(fx, "HEAD /metrics HTTP/1.1\r\n\r\n", &r);
    CHECK_EQ(r.status, 200);
    check_common(&r, fx->big_len);
    CHECK_EQ(r.body_len, 0);
    free(r.raw);
}

TEST(metrics_slow_reader_closed)
{
    struct fx fx;
    fx_init(&fx);
    fx.big_len = 16u << 20;
    fx.big = make_big(fx.big_len);
    fx_listen(&fx);
    fx_run(&fx, client_slow_reader);
}

static void client_large(struct fx *fx)
{
    struct resp r;
    http(fx, "GET /metrics HTTP/1.1\r\n\r\n", &r);
    CHECK_EQ(r.status, 200);
    check_common(&r, fx->big_len);
    CHECK_EQ(r.body_len, fx->big_len);
    CHECK(!memcmp(r.body, fx->big, fx->big_len));
    free(r.raw);
}

TEST(metrics_large_body)
{
    struct fx fx;
    fx_init(&fx);
    fx.big_len = 1u << 20;
    fx.big = make_big(fx.big_len);
    fx_listen(&fx);
    fx_run(&fx, client_large);
}

/* ---- closing ---------------------------------------------------------------- */

static void client_close_open(struct fx *fx)
{
    int silent = tcp_connect(fx->port);
    int partial = tcp_connect(fx->port);
    send_text(partial, "GET /metrics HTTP/1.1\r\n");
    usleep(100 * 1000); /* let the server take both */
    uv_async_send(&fx->close_now);
    expect_closed(silent);
    expect_closed(partial);
    close(silent);
    close(partial);
    /* Nobody listens any more. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0);
    CHECK_EQ(errno, ECONNREFUSED);
    close(fd);
}

TEST(metrics_close_with_open_connections)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx);
    fx_run(&fx, client_close_open);
}

static void client_close_in_render(struct fx *fx)
{
    int fd = tcp_connect(fx->port);
    send_text(fd, "GET /metrics HTTP/1.1\r\n\r\n");
    expect_closed(fd); /* closed unanswered */
    close(fd);
    CHECK_EQ(atomic_load(&fx->renders), 1);
}

TEST(metrics_close_in_render)
{
    struct fx fx;
    fx_init(&fx);
    fx.close_in_render = true;
    fx_listen(&fx);
    fx_run(&fx, client_close_in_render);
}

/* ---- addresses --------------------------------------------------------------- */

TEST(metrics_bad_addresses)
{
    static const char *const bad[] = {
        "nope",           "1.2.3.4",      "1.2.3.4:99999", "[::1]",          "",
        ":9488",          "1.2.3.4:",     "1.2.3.4:-1",    "1.2.3.4:+80",    "1.2.3.4:8a",
        "1.2.3:80",       "1.2.3.256:80", "::1:9488",      "[::1]9488",      "[nope]:9488",
        "example.com:80", "[::1:80",      "01.2.3.4:80",   "1.2.3.4:123456",
    };
    uv_loop_t loop;
    CHECK_EQ(uv_loop_init(&loop), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sk_err_t err;
        sk_err_clear(&err);
        sk_metrics_t *m = (sk_metrics_t *)&loop; /* must be reset */
        int rc = sk_metrics_listen(&loop, bad[i], render, NULL, &m, &err);
        if (rc != -EINVAL)
            unit_fail(__FILE__, __LINE__, "'%s': %d, expected -EINVAL", bad[i], rc);
        CHECK(m == NULL);
        CHECK_EQ(err.code, -EINVAL);
        CHECK_STR(err.path, bad[i]);
        CHECK(strstr(err.msg, "not HOST:PORT") != NULL);
    }
    /* Nothing was opened. */
    CHECK_EQ(uv_run(&loop, UV_RUN_NOWAIT), 0);
    CHECK_EQ(uv_loop_close(&loop), 0);
    leak_check();
}

static void on_done_count(void *arg)
{
    (*(int *)arg)++;
}

TEST(metrics_good_addresses)
{
    uv_loop_t loop;
    CHECK_EQ(uv_loop_init(&loop), 0);
    int ndone = 0;
    sk_err_t err;
    static const char *const good[] = {"localhost:0", "127.0.0.1:0", "0.0.0.0:0", "[::1]:0", "[::]:0"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        sk_err_clear(&err);
        sk_metrics_t *m = NULL;
        int rc = sk_metrics_listen(&loop, good[i], render, NULL, &m, &err);
        if (good[i][0] == '[' && (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT)) {
            unit_note("%s: %s; no IPv6 here", good[i], err.msg);
            CHECK(m == NULL);
            continue;
        }
        CHECK_OK(rc, &err);
        CHECK(sk_metrics_port(m) > 0);
        sk_metrics_close(m, on_done_count, &ndone);
        sk_metrics_close(m, on_done_count, &ndone); /* a second close is ignored */
        CHECK_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
        CHECK_EQ(ndone, 1);
        ndone = 0;
    }
    /* A fixed port: the one port 0 gave, now free again. */
    sk_metrics_t *m = NULL;
    sk_err_clear(&err);
    CHECK_OK(sk_metrics_listen(&loop, "127.0.0.1:0", render, NULL, &m, &err), &err);
    int port = sk_metrics_port(m);
    sk_metrics_close(m, NULL, NULL);
    CHECK_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    CHECK_OK(sk_metrics_listen(&loop, addr, render, NULL, &m, &err), &err);
    CHECK_EQ(sk_metrics_port(m), port);
    sk_metrics_close(m, on_done_count, &ndone);
    CHECK_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ(ndone, 1);
    CHECK_EQ(uv_loop_close(&loop), 0);
    leak_check();
}

TEST(metrics_address_in_use)
{
    uv_loop_t loop;
    CHECK_EQ(uv_loop_init(&loop), 0);
    sk_err_t err;
    sk_err_clear(&err);
    sk_metrics_t *a = NULL;
    CHECK_OK(sk_metrics_listen(&loop, "127.0.0.1:0", render, NULL, &a, &err), &err);
    int port = sk_metrics_port(a);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    sk_metrics_t *b = (sk_metrics_t *)&loop;
    int rc = sk_metrics_listen(&loop, addr, render, NULL, &b, &err);
    CHECK_EQ(rc, -EADDRINUSE);
    CHECK(b == NULL);
    CHECK_EQ(err.code, -EADDRINUSE);
    CHECK_STR(err.path, addr);
    CHECK(strstr(err.msg, "in use") != NULL);
    snprintf(addr, sizeof(addr), "localhost:%d", port);
    sk_err_clear(&err);
    CHECK_EQ(sk_metrics_listen(&loop, addr, render, NULL, &b, &err), -EADDRINUSE);
    CHECK_STR(err.path, addr);
    /* The failed listeners are freed from the loop; the first one still works. */
    CHECK_EQ(sk_metrics_port(a), port);
    int ndone = 0;
    sk_metrics_close(a, on_done_count, &ndone);
    CHECK_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ(ndone, 1);
    CHECK_EQ(uv_loop_close(&loop), 0);
    leak_check();
}

/* ---- a real client ------------------------------------------------------------- */

static size_t curl_collect(char *data, size_t size, size_t nmemb, void *arg)
{
    sk_mbuf_t *b = arg;
    sk_mbuf_printf(b, "%.*s", (int)(size * nmemb), data);
    return b->failed ? 0 : size * nmemb;
}

static void client_curl(struct fx *fx)
{
    char url[64], want[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", fx->port);
    CURL *h = curl_easy_init();
    CHECK(h != NULL);
    sk_mbuf_t b = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curl_collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 15L);
    CHECK_EQ(curl_easy_perform(h), CURLE_OK);
    long code = 0;
    char *type = NULL;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &type);
    CHECK_EQ(code, 200);
    CHECK_STR(type, CONTENT_TYPE);
    small_text(1, want, sizeof(want));
    CHECK_EQ(b.len, strlen(want));
    CHECK_STR(b.data, want);

    /* HEAD */
    b.len = 0;
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    CHECK_EQ(curl_easy_perform(h), CURLE_OK);
    curl_off_t cl = -1;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    CHECK_EQ(code, 200);
    small_text(2, want, sizeof(want));
    CHECK_EQ(cl, (curl_off_t)strlen(want));
    CHECK_EQ(b.len, 0);

    /* 404 */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", fx->port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
    CHECK_EQ(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    CHECK_EQ(code, 404);
    curl_easy_cleanup(h);
    free(b.data);
    CHECK_EQ(atomic_load(&fx->renders), 2);
}

TEST(metrics_curl_scrape)
{
    CHECK_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx);
    fx_run(&fx, client_curl);
    curl_global_cleanup();
    leak_check();
}
