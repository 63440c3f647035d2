/*
 * http.c: the minimal HTTP server behind --http-server-address.  It answers /v1/chain/get_info (any method, any
 * query string) with the JSON main.c builds, and everything else with nodeos's 404 "Unknown Endpoint" body.  Each
 * connection reads until the end of the headers (plus a Content-Length body, so that closing does not reset the
 * connection), answers once and closes.  Requests over 16 KiB get 431, idle connections are dropped after 10 s,
 * and at most 256 connections are open at a time (a new one pushes out the oldest).  Responses are small, so they go
 * out with one non-blocking send(MSG_NOSIGNAL): a client that hangs up early cannot raise SIGPIPE, which nodeos treats
 * as "quit".
 */
#include "fakenode.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <uv.h>

#define REQ_MAX  16384
#define CONN_MAX 256
#define IDLE_MS  10000
#define RESP_MAX 8192

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    int open_handles;
    size_t len;
    size_t need; /* total request bytes once the headers are complete; 0 before */
    bool done;
    struct conn *prev, *next;
    char buf[REQ_MAX + 1];
};

static uv_tcp_t server;
static bool listening;
static struct conn *conns;
static int nconns;

static void on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->open_handles == 0)
        free(c);
}

static void conn_close(struct conn *c)
{
    if (c->done)
        return;
    c->done = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    nconns--;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 413:
        return "Payload Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

static void respond(struct conn *c, int status, const char *body)
{
    char out[RESP_MAX + 512];
    int n = snprintf(out, sizeof out,
                     "HTTP/1.1 %d %s\r\nServer: nodeos/%s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     status, reason(status), opt.fl->version, strlen(body), body);
    if (n > (int)sizeof out - 1)
        n = (int)sizeof out - 1;
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
        size_t off = 0;
        while (off < (size_t)n) {
            ssize_t w = send(fd, out + off, (size_t)n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        shutdown(fd, SHUT_WR);
    }
    conn_close(c);
}

static void error_body(char *body, size_t n, int status, const char *name, const char *what, const char *message)
{
    snprintf(body, n,
             "{\"code\":%d,\"message\":\"%s\",\"error\":{\"code\":0,\"name\":\"%s\",\"what\":\"%s\","
             "\"details\":[{\"message\":\"%s\",\"file\":\"http_plugin.cpp\",\"line_number\":0,"
             "\"method\":\"handle_http_request\"}]}}",
             status, reason(status), name, what, message);
}

static void handle(struct conn *c)
{
    char body[RESP_MAX];
    char *sp1 = memchr(c->buf, ' ', c->len);
    char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(c->buf + c->len - sp1 - 1)) : NULL;
    if (!sp1 || !sp2) {
        error_body(body, sizeof body, 400, "bad_request", "bad request", "malformed request line");
        respond(c, 400, body);
        return;
    }
    size_t plen = (size_t)(sp2 - sp1 - 1);
    char *q = memchr(sp1 + 1, '?', plen);
    if (q)
        plen = (size_t)(q - sp1 - 1);
    static const char get_info[] = "/v1/chain/get_info";
    if (plen == sizeof get_info - 1 && memcmp(sp1 + 1, get_info, plen) == 0) {
        int status = node_get_info(body, sizeof body);
        respond(c, status, body);
        return;
    }
    error_body(body, sizeof body, 404, "exception", "unspecified", "Unknown Endpoint");
    respond(c, 404, body);
}

/* After the headers: how many body bytes Content-Length announces (0 if none). */
static size_t content_length(const char *hdr, size_t len)
{
    const char *p = hdr, *end = hdr + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            break;
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "content-length:", 15) == 0)
            return (size_t)strtoull(p + 15, NULL, 10);
        p = eol + 1;
    }
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    buf->base = c->buf + c->len;
    buf->len = REQ_MAX - c->len;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (c->done)
        return;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)nread;
    c->buf[c->len] = 0;
    if (c->need == 0) {
        char *end = strstr(c->buf, "\r\n\r\n");
        if (!end) {
            if (c->len >= REQ_MAX) {
                char body[512];
                error_body(body, sizeof body, 431, "bad_request", "request too large", "request headers too large");
                respond(c, 431, body);
            }
            return;
        }
        size_t hdr = (size_t)(end - c->buf) + 4;
        size_t clen = content_length(c->buf, hdr);
        if (clen > REQ_MAX - hdr) {
            char body[512];
            error_body(body, sizeof body, 413, "bad_request", "request too large", "request body too large");
            respond(c, 413, body);
            return;
        }
        c->need = hdr + clen;
    }
    if (c->len >= c->need) {
        uv_read_stop(s);
        handle(c);
    }
}

static void on_idle(uv_timer_t *t)
{
    conn_close(t->data);
}

static void on_connection(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    nconns++;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    if (nconns > CONN_MAX) { /* drop the oldest connection, so that idle clients cannot lock everyone out */
        struct conn *old = conns;
        while (old->next)
            old = old->next;
        conn_close(old);
    }
    uv_timer_start(&c->timer, on_idle, IDLE_MS, 0);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* Listen on "host:port" ("[v6]:port" too; an empty host means all interfaces). */
int http_start(uv_loop_t *loop, const char *addr, char *err, size_t errlen)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || !colon[1]) {
        snprintf(err, errlen, "invalid address %s: expected HOST:PORT", addr);
        return -1;
    }
    char host[256];
    size_t hlen = (size_t)(colon - addr);
    if (hlen >= sizeof host) {
        snprintf(err, errlen, "invalid address %s", addr);
        return -1;
    }
    memcpy(host, addr, hlen);
    host[hlen] = 0;
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = 0;
    }
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "unable to resolve %s: %s", addr, gai_strerror(rc));
        return -1;
    }
    uv_tcp_init(loop, &server);
    rc = uv_tcp_bind(&server, res->ai_addr, 0);
    freeaddrinfo(res);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server, 128, on_connection);
    if (rc < 0) {
        snprintf(err, errlen, "%s", uv_strerror(rc));
        uv_close((uv_handle_t *)&server, NULL);
        return -1;
    }
    listening = true;
    return 0;
}

/* Stop accepting and drop open connections (the first thing a nodeos shutdown does to the HTTP plugin). */
void http_stop(void)
{
    if (listening) {
        uv_close((uv_handle_t *)&server, NULL);
        listening = false;
    }
    while (conns)
        conn_close(conns);
}
