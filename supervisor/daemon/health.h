/*
 * health: probes of a node's /v1/chain/get_info over HTTP, with libcurl's
 * multi interface driven by the libuv loop (curl_multi_socket_action with
 * uv_poll_t per socket and one uv_timer_t), so the loop never blocks on a
 * probe. nodeos answers 200 with {"head_block_num":N,...} when it serves
 * requests; nodeos (and fakenode) answer 200 with "head_block_num" while they catch up.
 */
#ifndef SLOTKEEPER_HEALTH_H
#define SLOTKEEPER_HEALTH_H

#include <stdint.h>
#include <uv.h>

typedef struct sk_health sk_health_t;
typedef struct sk_probe sk_probe_t;

typedef struct sk_probe_result {
    int rc;         /* 0: an HTTP answer came (see http_code); negative errno: none did
                     * (-ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, -EIO for others) */
    long http_code; /* e.g. 200, 503; 0 when rc < 0 */
    int has_head;   /* the body was a JSON object with an unsigned "head_block_num" */
    uint64_t head_block_num;
    char error[160]; /* one line when rc < 0 or the body was not understood, else "" */
} sk_probe_result_t;

typedef void (*sk_probe_cb)(void *arg, const sk_probe_result_t *r);

/* One per loop; calls curl_global_init once per process. */
int sk_health_init(uv_loop_t *loop, sk_health_t **out);

/* Starts a GET of url that must complete within timeout_ms. cb(arg, result) is called exactly
 * once, from the loop, never from inside this call, unless the probe is cancelled first.
 * Bodies beyond 64 KiB are cut (the probe then still reports http_code). NULL on ENOMEM. */
sk_probe_t *sk_health_probe(sk_health_t *h, const char *url, uint64_t timeout_ms, sk_probe_cb cb, void *arg);

/* Cancels a probe whose callback has not run yet; its callback will not run. */
void sk_health_cancel(sk_probe_t *p);

/* Cancels every probe (no callbacks), closes the handles, then calls done(arg) from the loop. */
void sk_health_close(sk_health_t *h, void (*done)(void *arg), void *arg);

#endif
