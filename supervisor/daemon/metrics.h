/*
 * metrics: a minimal HTTP server on the libuv loop that serves Prometheus'
 * text exposition format (version 0.0.4) on a TCP address the configuration
 * gives ("127.0.0.1:9488"; off when empty). Every GET answers the text that the
 * render callback writes at that moment, with Content-Type
 * "text/plain; version=0.0.4; charset=utf-8"; a path other than /metrics gets
 * 404, a method other than GET/HEAD 405, a request head over 8 KiB or not
 * complete within 10 s is closed. One request per connection (Connection:
 * close). Like the control socket, a bad client never stalls the daemon: at
 * most 64 connections, writes bounded.
 */
#ifndef SLOTKEEPER_METRICS_H
#define SLOTKEEPER_METRICS_H

#include <stddef.h>
#include <uv.h>

#include "slotkeeper/buf.h" /* sk_mbuf_t, the text buffer the render callback appends to */
#include "slotkeeper/error.h"

typedef struct sk_metrics sk_metrics_t;

/* Writes the metrics into b, called on the loop for each scrape. */
typedef void (*sk_metrics_render_fn)(sk_mbuf_t *b, void *arg);

/* Parses "HOST:PORT" into ss: an IPv4 address, "[IPv6]" or "localhost" (127.0.0.1), port
 * 0..65535. -EINVAL with err naming the address and the reason ("not HOST:PORT (...)"). The
 * configuration checks [daemon] metrics_address with it, so config check refuses what
 * sk_metrics_listen would. */
int sk_metrics_parse_address(const char *address, struct sockaddr_storage *ss, sk_err_t *err);

/* Listens on address "HOST:PORT" (IPv4 or [IPv6]:PORT; port 0 picks a free one, see
 * sk_metrics_port). -EINVAL for an address it cannot parse, -EADDRINUSE etc. from bind,
 * with err naming the address. */
int sk_metrics_listen(uv_loop_t *loop, const char *address, sk_metrics_render_fn fn, void *arg, sk_metrics_t **out,
                      sk_err_t *err);

/* The port it listens on. */
int sk_metrics_port(const sk_metrics_t *m);

/* Closes the listener and every connection, then calls done(arg) from the loop. */
void sk_metrics_close(sk_metrics_t *m, void (*done)(void *arg), void *arg);

#endif
