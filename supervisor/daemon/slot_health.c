/*
 * slot_health: probes of a running node's health. Every health_interval_ms
 * the slot asks get_info (health.h); a node that answers 200 with a head block
 * is healthy (SK_EV_HEALTHY while starting); one that does not answer, or whose
 * head does not move, for stall_timeout_ms is not (SK_EV_UNHEALTHY while
 * running). A slot without a health URL is never probed.
 */
#include "daemon/slot_proc.h"

#include <inttypes.h>
#include <stdio.h>

#include "slotkeeper/fsutil.h"

static void on_health_timer(uv_timer_t *t);

void sk_slot_probe_start(sk_slot_t *s)
{
    s->v.head_known = false;
    s->answered_at = s->head_changed_at = sk_now();
    if (s->health_url[0])
        uv_timer_start(&s->health_timer, on_health_timer, sk_slot_cfg(s)->health_interval_ms,
                       sk_slot_cfg(s)->health_interval_ms);
}

static void on_probe(void *arg, const sk_probe_result_t *r)
{
    sk_slot_t *s = arg;
    s->probe = NULL;
    double now = sk_now();
    if (r->rc == 0) {
        s->answered_at = now;
        if (r->has_head) {
            if (!s->v.head_known || r->head_block_num != s->v.head)
                s->head_changed_at = now;
            s->v.head = r->head_block_num;
            s->v.head_known = true;
        }
        if (r->http_code == 200 && r->has_head && s->v.state == SK_SLOT_STARTING) {
            sk_slot_event(s, SK_EV_HEALTHY);
            return;
        }
    }
    if (s->v.state != SK_SLOT_RUNNING)
        return;
    double stall = (double)sk_slot_cfg(s)->stall_timeout_ms / 1000.0;
    if (now - s->answered_at > stall) {
        sk_slot_fail_note(s, "get_info did not answer for %.0fs (%s)", now - s->answered_at,
                          r->error[0] ? r->error : s->health_url);
        sk_slot_event(s, SK_EV_UNHEALTHY);
    } else if (r->rc == 0 && r->http_code == 200 && now - s->head_changed_at > stall) {
        sk_slot_fail_note(s, "head block stuck at %" PRIu64 " for %.0fs", s->v.head, now - s->head_changed_at);
        sk_slot_event(s, SK_EV_UNHEALTHY);
    }
}

static void on_health_timer(uv_timer_t *t)
{
    sk_slot_t *s = t->data;
    if (s->probe || !s->host->health)
        return;
    uint64_t timeout = sk_slot_cfg(s)->health_interval_ms > 1000 ? sk_slot_cfg(s)->health_interval_ms - 500 : 900;
    if (timeout > 10000)
        timeout = 10000;
    s->probe = sk_health_probe(s->host->health, s->health_url, timeout, on_probe, s);
}

void sk_slot_probe_stop(sk_slot_t *s)
{
    uv_timer_stop(&s->health_timer);
    if (s->probe) {
        sk_health_cancel(s->probe);
        s->probe = NULL;
    }
}
