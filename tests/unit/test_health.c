/*
 * test_health: get_info probes against a tiny HTTP server on the test's own
 * libuv loop (127.0.0.1, a kernel-chosen port): 200 and 503 answers with a
 * head, bodies that are not understood, the 64 KiB cut, refused connections,
 * a server that never answers, many probes at once, cancelling (also from a
 * callback) and closing with probes in flight. Every test ends with the health
 * object closed, uv_loop_close succeeding (no handle left behind) and, under
 * ASan, a LeakSanitizer check. When build/fakenode exists, one test probes it.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "daemon/health.h"
#include "unit.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif
#ifdef HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/* ---- a tiny HTTP server ---------------------------------------------------- */

struct conn;

struct server {
    uv_tcp_t tcp;
    int port;
    const char *response; /* whole answer; NULL: read requests and never answer */
    bool keepalive;       /* answer every request of a connection, not only its first */
    int nconn;            /* connections accepted */
    int nreq;             /* complete requests read */
    int open;             /* connections not yet closed */
    char first_line[128]; /* request line of the last request */
    struct conn *conns;
};

struct conn {
    uv_tcp_t tcp;
    struct server *s;
    struct conn *prev, *next;
    uv_write_t wr;
    char buf[8192];
    size_t len;
    bool answered, closing;
};

static void on_conn_close(uv_handle_t *handle)
{
    struct conn *c = handle->data;
    c->s->open--;
    free(c);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->tcp, on_conn_close);
}

static void on_conn_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = handle->data;
    static char scratch[4096];
    if (c->len < sizeof(c->buf))
        *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
    else
        *buf = uv_buf_init(scratch, sizeof(scratch));
}

static void on_written(uv_write_t *wr, int status)
{
    conn_close(wr->data);
}

static void on_conn_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (buf->base != c->buf + c->len)
        return; /* past our buffer: ignored */
    c->len += (size_t)nread;
    if (c->answered || !memmem(c->buf, c->len, "\r\n\r\n", 4))
        return;
    c->answered = true;
    c->s->nreq++;
    size_t n = strcspn(c->buf, "\r");
    snprintf(c->s->first_line, sizeof(c->s->first_line), "%.*s", (int)n, c->buf);
    if (!c->s->response)
        return;
    uv_buf_t out = uv_buf_init((char *)c->s->response, (unsigned)strlen(c->s->response));
    c->wr.data = c;
    if (c->s->keepalive) {
        /* Requests without bodies, one at a time: the next one starts a fresh buffer. */
        c->answered = false;
        c->len = 0;
        CHECK_EQ(uv_write(&c->wr, stream, &out, 1, NULL), 0);
        return;
    }
    CHECK_EQ(uv_write(&c->wr, stream, &out, 1, on_written), 0);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct server *s = listener->data;
    CHECK_EQ(status, 0);
    struct conn *c = calloc(1, sizeof(*c));
    CHECK(c);
    c->s = s;
    CHECK_EQ(uv_tcp_init(listener->loop, &c->tcp), 0);
    c->tcp.data = c;
    s->open++;
    s->nconn++;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    CHECK_EQ(uv_accept(listener, (uv_stream_t *)&c->tcp), 0);
    CHECK_EQ(uv_read_start((uv_stream_t *)&c->tcp, on_conn_alloc, on_conn_read), 0);
}

static void server_start(uv_loop_t *loop, struct server *s, const char *response)
{
    memset(s, 0, sizeof(*s));
    s->response = response;
    struct sockaddr_in sin;
    CHECK_EQ(uv_ip4_addr("127.0.0.1", 0, &sin), 0);
    CHECK_EQ(uv_tcp_init(loop, &s->tcp), 0);
    s->tcp.data = s;
    CHECK_EQ(uv_tcp_bind(&s->tcp, (const struct sockaddr *)&sin, 0), 0);
    CHECK_EQ(uv_listen((uv_stream_t *)&s->tcp, 128, on_connection), 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    CHECK_EQ(uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &len), 0);
    s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    CHECK(s->port > 0);
}

static void server_close(struct server *s)
{
    while (s->conns)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->tcp, NULL);
}

/* A whole HTTP answer (malloc'd) that closes the connection, or keeps it with keep. */
static char *make_response_ex(int code, const char *reason, const char *headers, const char *body, bool keep)
{
    size_t blen = strlen(body);
    size_t n = blen + strlen(headers) + 256;
    char *r = malloc(n);
    CHECK(r);
    snprintf(r, n,
             "HTTP/1.1 %d %s\r\nServer: test\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "%s%s\r\n%s",
             code, reason, blen, keep ? "" : "Connection: close\r\n", headers, body);
    return r;
}

static char *make_response(int code, const char *reason, const char *headers, const char *body)
{
    return make_response_ex(code, reason, headers, body, false);
}

static const char *url_of(int port, char *buf, size_t size)
{
    snprintf(buf, size, "http://127.0.0.1:%d/v1/chain/get_info", port);
    return buf;
}

/* ---- probes and the loop --------------------------------------------------- */

struct rec {
    int calls;
    sk_probe_result_t r;
};

static void on_result(void *arg, const sk_probe_result_t *r)
{
    struct rec *x = arg;
    x->calls++;
    x->r = *r;
}

static void on_unexpected(void *arg, const sk_probe_result_t *r)
{
    unit_fail(__FILE__, __LINE__, "callback of a cancelled or closed probe ran (rc %d, %s)", r->rc, r->error);
}

/* Runs the loop until *counter >= want; fails if the loop runs dry first. */
static void run_until(uv_loop_t *loop, const int *counter, int want)
{
    while (*counter < want)
        CHECK(uv_run(loop, UV_RUN_ONCE) != 0 || *counter >= want);
}

/* Runs the loop for about ms milliseconds. */
static void on_pause_timer(uv_timer_t *t)
{
    *(int *)t->data = 1;
    uv_close((uv_handle_t *)t, NULL);
}

static void run_for(uv_loop_t *loop, uint64_t ms)
{
    uv_timer_t t;
    int fired = 0;
    t.data = &fired;
    CHECK_EQ(uv_timer_init(loop, &t), 0);
    CHECK_EQ(uv_timer_start(&t, on_pause_timer, ms, 0), 0);
    run_until(loop, &fired, 1);
    uv_run(loop, UV_RUN_NOWAIT); /* the timer's close callback */
}

/* One probe of url, waited for. */
static void probe_once(uv_loop_t *loop, sk_health_t *h, const char *url, uint64_t timeout_ms, struct rec *x)
{
    memset(x, 0, sizeof(*x));
    sk_probe_t *p = sk_health_probe(h, url, timeout_ms, on_result, x);
    CHECK(p != NULL);
    CHECK_EQ(x->calls, 0); /* never from inside sk_health_probe */
    run_until(loop, &x->calls, 1);
    CHECK_EQ(x->calls, 1);
}

static void on_closed(void *arg)
{
    (*(int *)arg)++;
}

static void leak_check(void)
{
#ifdef HAVE_LSAN
    CHECK_EQ(__lsan_do_recoverable_leak_check(), 0);
#endif
}

/* Closes h (and s), runs the loop dry and checks that nothing was left behind. */
static void teardown(uv_loop_t *loop, sk_health_t *h, struct server *s)
{
    int closed = 0;
    sk_health_close(h, on_closed, &closed);
    CHECK_EQ(closed, 0); /* done comes from the loop */
    if (s)
        server_close(s);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ(closed, 1);
    CHECK_EQ(uv_loop_close(loop), 0);
    leak_check();
}

static void setup(uv_loop_t *loop, sk_health_t **h)
{
    CHECK_EQ(uv_loop_init(loop), 0);
    CHECK_EQ(sk_health_init(loop, h), 0);
    CHECK(*h != NULL);
}

/* A local port that refuses connections: bound, not listening, kept until closed. */
static int refusing_port(int *fd)
{
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(*fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(bind(*fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t len = sizeof(sin);
    CHECK_EQ(getsockname(*fd, (struct sockaddr *)&sin, &len), 0);
    return ntohs(sin.sin_port);
}

/* ---- tests ----------------------------------------------------------------- */

TEST(health_ok_200)
{
    uv_loop_t loop;
    sk_health_t *h;
    setup(&loop, &h);
    char *resp = make_response(200, "OK", "",
                               "{\"server_version\":\"b776778c\",\"head_block_num\":123,"
                               "\"last_irreversible_block_num\":100}");
    struct server s;
    server_start(&loop, &s, resp);
    char url[128];
    struct rec x;
    probe_once(&loop, h, url_of(s.port, url, sizeof(url)), 5000, &x);
    CHECK_EQ(x.r.rc, 0);
    CHECK_EQ(x.r.http_code, 200);
    CHECK_EQ(x.r.has_head, 1);
    CHECK_EQ(x.r.head_block_num, 123);
    CHECK_STR(x.r.error, "");
    CHECK_STR(s.first_line, "GET /v1/chain/get_info HTTP/1.1");
    CHECK_EQ(s.nreq, 1);

    /* The same object serves further probes. */
    probe_once(&loop, h, url, 5000, &x);
    CHECK_EQ(x.r.rc, 0);
    CHECK_EQ(x.r.head_block_num, 123);
    CHECK_EQ(s.nreq, 2);
    teardown(&loop, h, &s);
    free(resp);
}

/* A kept-alive connection serves later probes (curl's socket is removed and added again), and closing the
 * health object hangs it up. */
TEST(health_keepalive_reuse)
{
    uv_loop_t loop;
    sk_health_t *h;
    setup(&loop, &h);
    char *resp = make_response_ex(200, "OK", "", "{\"head_block_num\":42}", true);
    struct server s;
    server_start(&loop, &s, resp);
    s.keepalive = true;
    char url[128];
    url_of(s.port, url, sizeof(url));
    for (int i = 0; i < 3; i++) {
        struct rec x;
        probe_once(&loop, h, url, 5000, &x);
        CHECK_EQ(x.r.rc, 0);
        CHECK_EQ(x.r.head_block_num, 42);
        run_for(&loop, 20);
    }
    CHECK_EQ(s.nreq, 3);
    CHECK_EQ(s.nconn, 1);
    CHECK_EQ(s.open, 1);
    int closed = 0;
    sk_health_close(h, on_closed, &closed);
    while (s.open > 0 || !closed)
        CHECK(uv_run(&loop, UV_RUN_ONCE) != 0 || (s.open == 0 && closed));
    server_close(&s);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&loop), 0);
    leak_check();
    free(resp);
}

TEST(health_503_with_head)
{
    uv_loop_t loop;
    sk_health_t *h;
    setup(&loop, &h);
    char *resp = make_response(503, "Service Unavailable", "",
                               "{\"code\":503,\"message\":\"Service Unavailable\",\"error\":{\"code\":0,"
                               "\"name\":\"catching_up\",\"what\":\"fakenode is catching up\",\"details\":[]},"
                               "\"head_block_num\":77}");
    struct server s;
    server_start(&loop, &s, resp);
    char url[128];
    struct rec x;
    probe_once(&loop, h, url_of(s.port, url, sizeof(url)), 5000, &x);
    CHECK_EQ(x.r.rc, 0);
    CHECK_EQ(x.r.http_code, 503);
    CHECK_EQ(x.r.has_head, 1);
    CHECK_EQ(x.r.head_block_num, 77);
    CHECK_STR(x.r.error, "");
    teardown(&loop, h, &s);
    free(resp);
}

TEST(health_body_not_understood)
{
    static const struct {
        int code;
        const char *reason, *headers, *body;
    } cases[] = {
        {200, "OK", "", "<html>not json</html>"},
        {200, "OK", "", ""},
        {200, "OK", "", "{\"head_block_num\":\"12\"}"},
        {200, "OK", "", "{\"head_block_num\":-1}"},
        {200, "OK", "", "{\"head_block_num\":1.5}"},
        {200, "OK", "", "[{\"head_block_num\":1}]"},
        {200, "OK", "", "{\"head_block_num\":1"},
        {200, "OK", "", "{\"last_irreversible_block_num\":5}"},
        {404, "Not Found", "", "{\"code\":404,\"message\":\"Not Found\",\"error\":{\"what\":\"Unknown Endpoint\"}}"},
        /* Redirects are not followed: the 302 itself is the answer. */
        {302, "Found", "Location: http://127.0.0.1:1/v1/chain/get_info\r\n", "{}"},
    };
    uv_loop_t loop;
    sk_health_t *h;
    setup(&loop, &h);
    struct server s;
    server_start(&loop, &s, NULL);
    char url[128], want[256];
    url_of(s.port, url, sizeof(url));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *resp = make_response(cases[i].code, cases[i].reason, cases[i].headers, cases[i].body);
        s.response = resp;
        struct rec x;
        probe_once(&loop, h, url, 5000, &x);
        if (x.r.rc != 0 || x.r.has_head)
            unit_note("case %zu: %s", i, cases[i].body);
        CHECK_EQ(x.r.rc, 0);
        CHECK_EQ(x.r.http_code, cases[i].code);
        CHECK_EQ(x.r.has_head, 0);
        snprintf(want, sizeof(want), "%s: answer has no head_block_num (HTTP %d)", url, cases[i].code);
        CHECK_STR(x.r.error, want);
        free(resp);
    }
    CHECK_EQ(s.nreq, (int)(sizeof(cases) / sizeof(cases[0])));
    teardown(&loop, h, &s);
}

TEST(health_body_cut_at_64k)
{
    uv_loop_t loop;
    sk_health_t *h;
    setup(&loop, &h);
    struct server s;
    server_start(&loop, &s, NULL);
    char url[128];
    url_of(s.port, url, sizeof(url));

    /* Exactly 64 KiB is kept whole; one byte more is cut, and the status still reported. */
    const size_t sizes[] = {65536, 65537, 300000};
    for (size_t i = 0; i < 3; i++) {
        size_t n = sizes[i];
        char *body = malloc(n + 1);
        CHECK(body);
        static const char head[] = "{\"head_block_num\":5,\"pad\":\"";
        memcpy(body, head, sizeof(head) - 1);
        memset(body + sizeof(head) - 1, 'x', n - (sizeof(head) - 1) - 2);
        memcpy(body + n - 2, "\"}", 3);
        CHECK_EQ(strlen(body), n);
        char *resp = make_response(200, "OK", "", body);
        s.response = resp;
        struct rec x;
        probe_once(&loop, h, url, 5000, &x);
        CHECK_EQ(x.r.rc, 0);
        CHECK_EQ(x.r.http_code, 200);
        if (n <= 65536) {
            CHECK_EQ(x.r.has_head, 1);
            CHECK_EQ(x.r.head_block_num, 5);
            CHECK_STR(x.r.error, "");
        } else {
            CHECK_EQ(x.r.has_head, 0);
            CHECK(strstr(x.r.error, "answer has no head_block_num") != NULL);
            CHECK(strstr(x.r.error, "cut at 64 KiB") != NULL);
        }
        /* Let the server see the hang-up before its buffer goes. */
        while (s.open > 0)
            uv_run(&loop, UV_RUN_ONCE);
        free(resp);
        free(body);
    }
    teardown(&loop, h, &s);
}

TEST(health_connection_refused)
{
    uv_loop_t loop;
    sk_health_t *h;
    setup(&loop, &h);
    int fd;
    int port = refusing_port(&fd);
    char url[128], want[256];
    url_of(port, url, sizeof(url));
    struct rec x;
    probe_once(&loop, h, url, 5000, &x);
    CHECK_EQ(x.r.rc, -ECONNREFUSED);
    CHECK_EQ(x.r.http_code, 0);
    CHECK_EQ(x.r.has_head, 0);
    snprintf(want, sizeof(want), "%s: connection refused", url);
    CHECK_STR(x.r.error, want);
    close(fd);
    teardown(&loop, h, NULL);
}

TEST(health_timeout)
{
    uv_loop_t loop;
    sk_health_t *h;
    setup(&loop, &h);
    struct server s;
    server_start(&loop, &s, NULL); /* accepts, reads, never answers */
    char url[128];
    url_of(s.port, url, sizeof(url));
    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    struct rec x;
    probe_once(&loop, h, url, 300, &x);
    uv_update_time(&loop);
    uint64_t took = uv_now(&loop) - t0;
    CHECK_EQ(x.r.rc, -ETIMEDOUT);
    CHECK_EQ(x.r.http_code, 0);
    CHECK_EQ(x.r.has_head, 0);
    CHECK(strncmp(x.r.error, url, strlen(url)) == 0);
    CHECK(strstr(x.r.error, "timed out") != NULL);
    CHECK(took >= 250 && took < 5000);
    CHECK_EQ(s.nreq, 1);
    /* curl hangs up on a probe that timed out. */
    while (s.open > 0)
        CHECK(uv_run(&loop, UV_RUN_ONCE) != 0);
    teardown(&loop, h, &s);
}

TEST(health_bad_urls)
{
    uv_loop_t loop;
    sk_health_t *h;
    setup(&loop, &h);
    static const char *const urls[] = {"ftp://127.0.0.1:1/", "file:///etc/passwd", "http://[::1/"};
    for (size_t i = 0; i < 3; i++) {
        struct rec x;
        probe_once(&loop, h, urls[i], 2000, &x);
        CHECK_EQ(x.r.rc, -EIO);
        CHECK_EQ(x.r.http_code, 0);
        CHECK(strncmp(x.r.error, urls[i], strlen(urls[i])) == 0);
        CHECK(strlen(x.r.error) > strlen(urls[i]) + 2);
        CHECK(strchr(x.r.error, '\n') == NULL);
    }
    /* A very long url is cut so that the reason still shows. */
    char url[400];
    int fd;
    int port = refusing_port(&fd);
    int n = snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    memset(url + n, 'a', sizeof(url) - (size_t)n - 1);
    url[sizeof(url) - 1] = '\0';
    struct rec x;
    probe_once(&loop, h, url, 2000, &x);
    CHECK_EQ(x.r.rc, -ECONNREFUSED);
    size_t len = strlen(x.r.error);
    CHECK(len < sizeof(x.r.error));
    CHECK(len >= strlen(": connection refused"));
    CHECK_STR(x.r.error + len - strlen(": connection refused"), ": connection refused");
    close(fd);
    teardown(&loop, h, NULL);
}

TEST(health_many_in_flight)
{
    enum { N = 20 };
    uv_loop_t loop;
    sk_health_t *h;
    setup(&loop, &h);
    char *resp = make_response(200, "OK", "", "{\"head_block_num\":123}");
    struct server s;
    server_start(&loop, &s, resp);
    char url[128];
    url_of(s.port, url, sizeof(url));
    struct rec x[N];
    memset(x, 0, sizeof(x));
    int total = 0;
    for (int i = 0; i < N; i++)
        CHECK(sk_health_probe(h, url, 5000, on_result, &x[i]) != NULL);
    for (int i = 0; i < N; i++)
        CHECK_EQ(x[i].calls, 0);
    while (total < N) {
        CHECK(uv_run(&loop, UV_RUN_ONCE) != 0);
        total = 0;
        for (int i = 0; i < N; i++)
            total += x[i].calls;
    }
    run_for(&loop, 100);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(x[i].calls, 1);
        CHECK_EQ(x[i].r.rc, 0);
        CHECK_EQ(x[i].r.has_head, 1);
        CHECK_EQ(x[i].r.head_block_num, 123);
    }
    CHECK_EQ(s.nreq, N);
    teardown(&loop, h, &s);
    free(resp);
}

TEST(health_cancel)
{
    uv_loop_t loop;
    sk_health_t *h;
    setup(&loop, &h);
    struct server s;
    server_start(&loop, &s, NULL);
    char url[128];
    url_of(s.port, url, sizeof(url));

    /* Before the loop ever ran it. */
    sk_probe_t *p = sk_health_probe(h, url, 5000, on_unexpected, NULL);
    CHECK(p != NULL);
    sk_health_cancel(p);

    /* While the server holds the request: curl hangs up. */
    p = sk_health_probe(h, url, 5000, on_unexpected, NULL);
    CHECK(p != NULL);
    run_until(&loop, &s.nreq, 1);
    CHECK_EQ(s.open, 1);
    sk_health_cancel(p);
    while (s.open > 0)
        CHECK(uv_run(&loop, UV_RUN_ONCE) != 0);
    run_for(&loop, 50);

    /* The object still works. */
    char *resp = make_response(200, "OK", "", "{\"head_block_num\":9}");
    s.response = resp;
    struct rec x;
    probe_once(&loop, h, url, 5000, &x);
    CHECK_EQ(x.r.rc, 0);
    CHECK_EQ(x.r.head_block_num, 9);
    teardown(&loop, h, &s);
    free(resp);
}

struct pair {
    sk_probe_t *p[2];
    int calls[2];
};

struct pair_arg {
    struct pair *pair;
    int i;
};

/* The first callback cancels the other probe, whether it is still in flight or already finished. */
static void on_pair(void *arg, const sk_probe_result_t *r)
{
    struct pair_arg *a = arg;
    struct pair *pr = a->pair;
    pr->calls[a->i]++;
    CHECK_EQ(r->rc, 0);
    sk_health_cancel(pr->p[a->i]); /* its own: a no-op while its callback runs */
    if (pr->calls[1 - a->i] == 0)
        sk_health_cancel(pr->p[1 - a->i]);
}

TEST(health_cancel_from_callback)
{
    uv_loop_t loop;
    sk_health_t *h;
    setup(&loop, &h);
    char *resp = make_response(200, "OK", "", "{\"head_block_num\":1}");
    struct server s;
    server_start(&loop, &s, resp);
    char url[128];
    url_of(s.port, url, sizeof(url));
    for (int round = 0; round < 10; round++) {
        struct pair pr = {{NULL, NULL}, {0, 0}};
        struct pair_arg a[2] = {{&pr, 0}, {&pr, 1}};
        pr.p[0] = sk_health_probe(h, url, 5000, on_pair, &a[0]);
        pr.p[1] = sk_health_probe(h, url, 5000, on_pair, &a[1]);
        CHECK(pr.p[0] && pr.p[1]);
        int total = 0;
        while (total < 1) {
            CHECK(uv_run(&loop, UV_RUN_ONCE) != 0);
            total = pr.calls[0] + pr.calls[1];
        }
        run_for(&loop, 20);
        CHECK_EQ(pr.calls[0] + pr.calls[1], 1);
    }
    teardown(&loop, h, &s);
    free(resp);
}

TEST(health_close_in_flight)
{
    enum { N = 5 };
    uv_loop_t loop;
    sk_health_t *h;
    setup(&loop, &h);
    struct server s;
    server_start(&loop, &s, NULL);
    char url[128];
    url_of(s.port, url, sizeof(url));
    for (int i = 0; i < N; i++)
        CHECK(sk_health_probe(h, url, 5000, on_unexpected, NULL) != NULL);
    run_until(&loop, &s.nreq, N);
    /* One more that never reached the loop. */
    CHECK(sk_health_probe(h, url, 5000, on_unexpected, NULL) != NULL);
    int closed = 0;
    sk_health_close(h, on_closed, &closed);
    CHECK_EQ(closed, 0);
    /* Every connection is hung up without the server closing its end. */
    while (s.open > 0 || !closed)
        CHECK(uv_run(&loop, UV_RUN_ONCE) != 0 || (s.open == 0 && closed));
    CHECK_EQ(closed, 1);
    server_close(&s);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(closed, 1);
    CHECK_EQ(uv_loop_close(&loop), 0);
    leak_check();
}

struct closer {
    sk_health_t *h;
    int calls;
    int closed;
};

static void on_close_from_cb(void *arg, const sk_probe_result_t *r)
{
    struct closer *c = arg;
    c->calls++;
    sk_health_close(c->h, on_closed, &c->closed);
    CHECK(sk_health_probe(c->h, "http://127.0.0.1:1/", 1000, on_unexpected, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
}

TEST(health_close_from_callback)
{
    uv_loop_t loop;
    sk_health_t *h;
    setup(&loop, &h);
    struct server silent, answers;
    server_start(&loop, &silent, NULL);
    char *resp = make_response(200, "OK", "", "{\"head_block_num\":1}");
    server_start(&loop, &answers, resp);
    char url[128];
    for (int i = 0; i < 3; i++)
        CHECK(sk_health_probe(h, url_of(silent.port, url, sizeof(url)), 5000, on_unexpected, NULL) != NULL);
    run_until(&loop, &silent.nreq, 3);
    struct closer c = {.h = h};
    CHECK(sk_health_probe(h, url_of(answers.port, url, sizeof(url)), 5000, on_close_from_cb, &c) != NULL);
    run_until(&loop, &c.closed, 1);
    CHECK_EQ(c.calls, 1);
    server_close(&silent);
    server_close(&answers);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(c.closed, 1);
    CHECK_EQ(uv_loop_close(&loop), 0);
    leak_check();
    free(resp);
}

TEST(health_close_idle)
{
    uv_loop_t loop;
    sk_health_t *h;
    setup(&loop, &h);
    /* An idle object does not keep the loop alive. */
    CHECK_EQ(uv_run(&loop, UV_RUN_NOWAIT), 0);
    teardown(&loop, h, NULL);

    /* Closed before a probe ever ran. */
    setup(&loop, &h);
    CHECK(sk_health_probe(h, "http://127.0.0.1:1/", 1000, on_unexpected, NULL) != NULL);
    teardown(&loop, h, NULL);
}

/* ---- against fakenode, when it is built ------------------------------------ */

static bool fakenode_path(char *out, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return false;
    *slash = '\0';
    static const char *const rel[] = {"fakenode", "../fakenode"};
    for (int i = 0; i < 2; i++) {
        if (snprintf(out, size, "%s/%s", exe, rel[i]) < (int)size && access(out, X_OK) == 0)
            return true;
    }
    return false;
}

struct node {
    uv_process_t proc;
    int exited;
};

static void on_node_exit(uv_process_t *proc, int64_t status, int sig)
{
    struct node *n = proc->data;
    n->exited = 1;
    uv_close((uv_handle_t *)proc, NULL);
}

TEST(health_fakenode)
{
    char bin[PATH_MAX];
    if (!fakenode_path(bin, sizeof(bin)))
        unit_skip("build/fakenode is not built (make build/fakenode)");
    /* A free port: bound by the kernel's choice, then released for fakenode. */
    int fd;
    int port = refusing_port(&fd);
    close(fd);
    char addr[64], url[128];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    url_of(port, url, sizeof(url));
    CHECK_EQ(mkdir("data", 0755), 0);
    const char *data = unit_abs("data", 0);

    uv_loop_t loop;
    sk_health_t *h;
    setup(&loop, &h);
    char *args[] = {bin, "--data-dir", (char *)data, "--http-server-address", addr, NULL};
    uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE}, {.flags = UV_IGNORE}, {.flags = UV_IGNORE}};
    uv_process_options_t po = {.exit_cb = on_node_exit, .file = bin, .args = args, .stdio_count = 3, .stdio = stdio};
    struct node node = {0};
    node.proc.data = &node;
    CHECK_EQ(uv_spawn(&loop, &node.proc, &po), 0);

    struct rec x;
    for (int tries = 0;; tries++) {
        probe_once(&loop, h, url, 2000, &x);
        if (x.r.rc == 0 || node.exited || tries == 100)
            break;
        CHECK_EQ(x.r.rc, -ECONNREFUSED);
        run_for(&loop, 100);
    }
    CHECK_EQ(node.exited, 0);
    CHECK_EQ(x.r.rc, 0);
    CHECK(x.r.http_code == 200 || x.r.http_code == 503);
    CHECK_EQ(x.r.has_head, 1);
    CHECK(x.r.head_block_num >= 1);
    CHECK_STR(x.r.error, "");

    CHECK_EQ(uv_process_kill(&node.proc, SIGTERM), 0);
    run_until(&loop, &node.exited, 1);
    teardown(&loop, h, NULL);
}
