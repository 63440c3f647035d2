/*
 * slot_proc: the real jobs, processes and probes of a slot (slot_jobs.c,
 * slot_proc.c, slot_health.c), as the ops table of slot_ops.c names them. Part
 * of the slot module; only slot_ops.c and these files include it.
 */
#ifndef SLOTKEEPER_SLOT_PROC_H
#define SLOTKEEPER_SLOT_PROC_H

#include "daemon/slot_impl.h"

/* slot_jobs.c: queues a job on the loop's thread pool (ops->queue_job). */
int sk_slot_queue_job(sk_slot_t *s, sk_slot_job_t kind);
void sk_slot_frozen_release(void *frozen); /* ops->release_frozen */

/* slot_proc.c */
int sk_slot_spawn_node(sk_slot_t *s);            /* ops->spawn */
void sk_slot_signal_node(sk_slot_t *s, int sig); /* ops->signal */
bool sk_slot_await_log(sk_slot_t *s);            /* ops->await_log */

/* slot_health.c */
void sk_slot_probe_start(sk_slot_t *s); /* ops->probe */
void sk_slot_probe_stop(sk_slot_t *s);  /* stops probing: the node is gone */

#endif
