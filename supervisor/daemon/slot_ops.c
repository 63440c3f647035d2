/*
 * slot_ops: the table of the real jobs and processes a slot's state machine
 * runs through (sk_slot_node_ops): thread-pool jobs, uv_spawn with a
 * log-writer, signals, health probes. The daemon hands it to its slots in the
 * host interface; the state machine's tests hand theirs.
 */
#include "daemon/slot_proc.h"

const sk_slot_ops_t sk_slot_node_ops = {
    .queue_job = sk_slot_queue_job,
    .spawn = sk_slot_spawn_node,
    .signal = sk_slot_signal_node,
    .probe = sk_slot_probe_start,
    .await_log = sk_slot_await_log,
    .release_frozen = sk_slot_frozen_release,
    .adopt = sk_slot_adopt,
};
