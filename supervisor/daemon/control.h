/*
 * control: the daemon's control socket (server, on the libuv loop) and its
 * client (blocking, for the CLI).
 *
 * Protocol version 1: JSON lines over a Unix stream socket. A request is one
 * JSON object on one line of at most SK_CTL_MAX_LINE bytes (newline included):
 *     {"v":1,"cmd":"status"}
 *     {"v":1,"cmd":"restore","slot":3,"snapshot":"20261126T..."}
 * The answer is one JSON object on one line:
 *     {"v":1,"ok":true, ...command-specific fields...}
 *     {"v":1,"ok":false,"error":"one-line reason","exit":N}
 * where N is the exit code the CLI should exit with (see cli.h). A connection
 * may carry several requests; each is answered, in order, before the next one
 * is read. Requests with another "v" are answered with an error naming the
 * versions the daemon speaks, so an old CLI and a new daemon fail clearly.
 *
 * The server never lets a bad client stall or crash the daemon: a line that is
 * not a JSON object, or lacks "v"/"cmd", is answered with an error (the
 * connection stays usable); a line longer than SK_CTL_MAX_LINE is answered with
 * an error and the connection closed; a peer that is neither root nor the
 * daemon's own user (SO_PEERCRED) is answered with an error and closed; a
 * partial request idle for SK_CTL_IDLE_MS is closed; past SK_CTL_MAX_CLIENTS
 * connections, new ones are told so and closed; a client that stops reading
 * is closed once more than SK_CTL_MAX_PENDING bytes of answers wait for it.
 */
#ifndef SLOTKEEPER_CONTROL_H
#define SLOTKEEPER_CONTROL_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "slotkeeper/error.h"

#define SK_CTL_VERSION     1
#define SK_CTL_MAX_LINE    65536
#define SK_CTL_MAX_CLIENTS 64
#define SK_CTL_IDLE_MS     30000
#define SK_CTL_MAX_PENDING (4u << 20)

typedef struct sk_ctl_server sk_ctl_server_t;
typedef struct sk_ctl_req sk_ctl_req_t;

/* Called on the loop for each well-formed request (an object with "v":1 and a string "cmd").
 * The handler must call sk_ctl_reply (or sk_ctl_reply_error) exactly once for req, now or
 * later from the loop. req stays valid until then even if the client hangs up (the answer
 * is then dropped). The request object belongs to req; do not keep it past the reply. */
typedef void (*sk_ctl_handler)(sk_ctl_req_t *req, const char *cmd, json_t *request, void *arg);

/* Listens on path with the given mode (e.g. 0600). A socket file left by a dead daemon is
 * replaced; if a daemon answers on it, -EADDRINUSE with err saying so. */
int sk_ctl_listen(uv_loop_t *loop, const char *path, unsigned mode, sk_ctl_handler fn, void *arg, sk_ctl_server_t **out,
                  sk_err_t *err);

/* Answers req with answer (stolen; "v" and, if absent, "ok":true are added) and frees req. */
void sk_ctl_reply(sk_ctl_req_t *req, json_t *answer);
/* Answers req with {"ok":false,"error":<formatted>,"exit":exit_code} and frees req. */
void sk_ctl_reply_error(sk_ctl_req_t *req, int exit_code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The peer's credentials, for logging. */
void sk_ctl_req_peer(const sk_ctl_req_t *req, pid_t *pid, uid_t *uid);

/* Stops listening, removes the socket file, closes every connection (answers not yet given
 * are dropped when they come), then calls done(arg) from the loop once all handles are closed. */
void sk_ctl_close(sk_ctl_server_t *s, void (*done)(void *arg), void *arg);

/* Client: connects to path, sends request (not stolen), and waits up to timeout_ms (0: no
 * limit) for the answer line, which it parses into *answer (caller frees). Returns 0, or
 * -ENOENT / -ECONNREFUSED when no daemon listens there (the CLI then works directly), or
 * another negative errno with err set (timeout: -ETIMEDOUT; a bad answer: -EPROTO). */
int sk_ctl_call(const char *path, json_t *request, uint64_t timeout_ms, json_t **answer, sk_err_t *err);

#endif
