/*
 * facts: what `check` found about a data-dir, as the facts a snapshot's
 * manifest records about its source node (host, data-dir, layout, block range,
 * chain id, retained block bundles and state history, and the chainbase state header's environment, which a restore
 * matches against the node that will use the state).
 */
#ifndef SLOTKEEPER_FACTS_H
#define SLOTKEEPER_FACTS_H

#include <stddef.h>

#include "slotkeeper/datadir.h"
#include "slotkeeper/manifest.h"

#define SK_FACTS_MAX 20

typedef struct sk_facts {
    sk_fact_t f[SK_FACTS_MAX];
    size_t n;
    char buf[SK_FACTS_MAX][2 * SK_STATE_ENV_SIZE + 1];
} sk_facts_t;

/* Fills fs (which must not move afterwards: the facts point into it) from a check of dir. */
void sk_facts_from_check(sk_facts_t *fs, const char *dir, const sk_datadir_report_t *r);

#endif
