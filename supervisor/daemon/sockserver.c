/*
 * sockserver: listener, connection list and handle lifetimes for the daemon's
 * servers (see sockserver.h). The server counts its open handles (the listener,
 * and each connection until both of its handles have closed); it frees itself
 * when it is closing and the count reaches zero, then calls done.
 */
#include "daemon/sockserver.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slotkeeper/log.h"

struct sk_srv {
    uv_loop_t *loop;
    union {
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } listener;
    bool tcp;
    sk_srv_config_t cfg;
    sk_srv_conn_t *conns;
    unsigned nadmitted;
    unsigned handles; /* not yet closed: the listener and each connection */
    bool closing;
    void (*done)(void *arg);
    void *done_arg;
    char name[];
};

static void release(sk_srv_t *srv)
{
    if (--srv->handles > 0 || !srv->closing)
        return;
    void (*done)(void *) = srv->done;
    void *arg = srv->done_arg;
    free(srv);
    if (done)
        done(arg);
}

static void on_listener_closed(uv_handle_t *h)
{
    release(h->data);
}

static void on_conn_closed(uv_handle_t *h)
{
    sk_srv_conn_t *c = h->data;
    if (--c->open_handles > 0)
        return;
    sk_srv_t *srv = c->srv;
    if (srv->cfg.on_free)
        srv->cfg.on_free(c);
    free(c);
    release(srv);
}

void sk_srv_conn_close(sk_srv_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    sk_srv_t *srv = c->srv;
    if (srv->cfg.on_close)
        srv->cfg.on_close(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    if (c->counted)
        srv->nadmitted--;
    c->counted = false;
    uv_close((uv_handle_t *)&c->h.stream, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

bool sk_srv_admit(sk_srv_conn_t *c)
{
    sk_srv_t *srv = c->srv;
    if (c->counted)
        return true;
    if (srv->nadmitted >= srv->cfg.max_conns)
        return false;
    c->counted = true;
    srv->nadmitted++;
    return true;
}

static void on_connection(uv_stream_t *listener, int status)
{
    sk_srv_t *srv = listener->data;
    if (status < 0) {
        log_warnx("%s: cannot accept a connection: %s", srv->name, uv_strerror(status));
        return;
    }
    sk_srv_conn_t *c = malloc(srv->cfg.conn_size);
    if (!c) {
        log_warnx("%s: cannot accept a connection: out of memory", srv->name);
        return;
    }
    memset(c, 0, srv->cfg.conn_zero > sizeof(*c) ? srv->cfg.conn_zero : sizeof(*c));
    c->srv = srv;
    if (srv->tcp)
        uv_tcp_init(srv->loop, &c->h.tcp);
    else
        uv_pipe_init(srv->loop, &c->h.pipe, 0);
    uv_timer_init(srv->loop, &c->timer);
    c->h.stream.data = c;
    c->timer.data = c;
    c->open_handles = 2;
    srv->handles++;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    int rc = uv_accept(listener, &c->h.stream);
    if (rc < 0) {
        log_warnx("%s: cannot accept a connection: %s", srv->name, uv_strerror(rc));
        sk_srv_conn_close(c);
        return;
    }
    srv->cfg.on_accept(c);
}

static sk_srv_t *srv_new(uv_loop_t *loop, const sk_srv_config_t *cfg)
{
    size_t n = strlen(cfg->name);
    sk_srv_t *srv = calloc(1, sizeof(*srv) + n + 1);
    if (!srv)
        return NULL;
    memcpy(srv->name, cfg->name, n + 1);
    srv->loop = loop;
    srv->cfg = *cfg;
    srv->cfg.name = srv->name;
    return srv;
}

/* After the listener's init: listen, or close it (the server frees itself from the loop). */
static int srv_start(sk_srv_t *srv, int rc, sk_srv_t **out)
{
    srv->listener.stream.data = srv;
    srv->handles = 1;
    if (rc == 0)
        rc = uv_listen(&srv->listener.stream, SOMAXCONN, on_connection);
    if (rc < 0) {
        srv->closing = true;
        uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
        return rc;
    }
    /* A client that hangs up before its answer must not kill the daemon. */
    struct sigaction sact;
    if (sigaction(SIGPIPE, NULL, &sact) == 0 && sact.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
    *out = srv;
    return 0;
}

int sk_srv_listen_pipe(uv_loop_t *loop, int fd, const sk_srv_config_t *cfg, sk_srv_t **out)
{
    *out = NULL;
    sk_srv_t *srv = srv_new(loop, cfg);
    if (!srv) {
        close(fd);
        return UV_ENOMEM;
    }
    int rc = uv_pipe_init(loop, &srv->listener.pipe, 0);
    if (rc < 0) {
        free(srv);
        close(fd);
        return rc;
    }
    rc = uv_pipe_open(&srv->listener.pipe, fd);
    if (rc < 0)
        close(fd);
    return srv_start(srv, rc, out);
}

int sk_srv_listen_tcp(uv_loop_t *loop, const struct sockaddr *addr, const sk_srv_config_t *cfg, sk_srv_t **out)
{
    *out = NULL;
    sk_srv_t *srv = srv_new(loop, cfg);
    if (!srv)
        return UV_ENOMEM;
    int rc = uv_tcp_init(loop, &srv->listener.tcp);
    if (rc < 0) {
        free(srv);
        return rc;
    }
    srv->tcp = true;
    /* libuv sets SO_REUSEADDR; EADDRINUSE from bind() is reported by uv_listen. */
    rc = uv_tcp_bind(&srv->listener.tcp, addr, 0);
    return srv_start(srv, rc, out);
}

const uv_handle_t *sk_srv_listener(const sk_srv_t *srv)
{
    return (const uv_handle_t *)&srv->listener;
}

void *sk_srv_arg(const sk_srv_t *srv)
{
    return srv->cfg.arg;
}

void sk_srv_close(sk_srv_t *srv, void (*done)(void *arg), void *arg)
{
    if (!srv || srv->closing)
        return;
    srv->closing = true;
    srv->done = done;
    srv->done_arg = arg;
    uv_close((uv_handle_t *)&srv->listener, on_listener_closed); /* first: no new connections */
    while (srv->conns)
        sk_srv_conn_close(srv->conns);
}

uint64_t sk_srv_idle_ms_from_env(const char *name, uint64_t def)
{
    const char *e = getenv(name);
    if (e && *e) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(e, &end, 10);
        if (!errno && !*end && v > 0)
            return v;
        log_warnx("%s=%s: not a positive number of milliseconds; using %llu", name, e, (unsigned long long)def);
    }
    return def;
}
