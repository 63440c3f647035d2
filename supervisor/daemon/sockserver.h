/*
 * sockserver: the listening and connection plumbing that the control socket
 * (control.c, a Unix stream socket) and the metrics endpoint (metrics.c, TCP)
 * share. It owns the listener and, per connection, a stream handle and a
 * timer, the list of open connections, the count of admitted ones against a
 * maximum, and the libuv lifetimes: every handle is closed with uv_close and
 * freed in its close callback, a connection once both its handles have closed,
 * and the server once its last handle has; then its done callback runs.
 *
 * What is said over a connection is the protocol's business: each protocol
 * embeds sk_srv_conn_t as the first member of its own connection struct
 * (conn_size), starts reading and timing in on_accept, and keeps its own state
 * there. Nothing here reads or writes bytes.
 */
#ifndef SLOTKEEPER_SOCKSERVER_H
#define SLOTKEEPER_SOCKSERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

typedef struct sk_srv sk_srv_t;
typedef struct sk_srv_conn sk_srv_conn_t;

/* One connection, the first member of the protocol's connection struct. The protocol uses
 * the stream and the timer and leaves the rest alone; both handles' data point at the conn. */
struct sk_srv_conn {
    sk_srv_t *srv;
    sk_srv_conn_t *prev, *next;
    union {
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } h;
    uv_timer_t timer;
    int open_handles; /* of h and timer; the conn is freed when both have closed */
    bool counted;     /* admitted: counts towards max_conns */
    bool closing;     /* sk_srv_conn_close was called */
};

typedef struct sk_srv_config {
    const char *name;   /* for logs, e.g. "/run/slotkeeper/control.sock" or "metrics: 127.0.0.1:9100" */
    size_t conn_size;   /* bytes of the protocol's connection struct (at least sizeof(sk_srv_conn_t)) */
    size_t conn_zero;   /* of which the first conn_zero bytes are zeroed at accept (large buffers may stay out) */
    unsigned max_conns; /* admitted connections at most (sk_srv_admit) */
    /* A connection was accepted; the protocol admits it (sk_srv_admit) or refuses it, and
     * starts it. Called once per connection. */
    void (*on_accept)(sk_srv_conn_t *c);
    /* The connection is closing (optional): drop what still points at it. */
    void (*on_close)(sk_srv_conn_t *c);
    /* Both handles have closed; c is freed right after (optional): free what it holds. */
    void (*on_free)(sk_srv_conn_t *c);
    void *arg; /* sk_srv_arg() */
} sk_srv_config_t;

/* Serves on fd, a bound and listening Unix stream socket (taken over: closed on failure too).
 * 0, or a negative libuv error (the server then frees itself from the loop). */
int sk_srv_listen_pipe(uv_loop_t *loop, int fd, const sk_srv_config_t *cfg, sk_srv_t **out);

/* Binds addr over TCP and serves on it. 0, or a negative libuv error (UV_EADDRINUSE...). */
int sk_srv_listen_tcp(uv_loop_t *loop, const struct sockaddr *addr, const sk_srv_config_t *cfg, sk_srv_t **out);

/* The listener (for getsockname), and cfg->arg. */
const uv_handle_t *sk_srv_listener(const sk_srv_t *srv);

/* A connection's idle limit in milliseconds: the environment variable name (tests shorten it)
 * when it holds a positive number, else def (a bad value is named in a warning). */
uint64_t sk_srv_idle_ms_from_env(const char *name, uint64_t def);
void *sk_srv_arg(const sk_srv_t *srv);

/* Counts c among the admitted connections; false if max_conns are already admitted. */
bool sk_srv_admit(sk_srv_conn_t *c);

/* Closes c's handles (a write or shutdown in flight sees UV_ECANCELED first); c is freed
 * from the loop. Calling it again does nothing. */
void sk_srv_conn_close(sk_srv_conn_t *c);

/* Stops listening, closes every connection, and calls done(arg) from the loop once every
 * handle has closed and the server is freed. */
void sk_srv_close(sk_srv_t *srv, void (*done)(void *arg), void *arg);

#endif
