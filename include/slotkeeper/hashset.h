/*
 * hashset: a set of chunk hashes with one 32-bit value each (used for the
 * compressed size). Open addressing over keys that are already uniform hashes.
 * Not thread-safe by itself; callers that share one hold their own lock.
 */
#ifndef SLOTKEEPER_HASHSET_H
#define SLOTKEEPER_HASHSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slotkeeper/chunk.h"

typedef struct sk_hset_slot {
    sk_hash_t key;
    uint32_t value;
    uint32_t used;
} sk_hset_slot_t;

typedef struct sk_hset {
    sk_hset_slot_t *slots;
    size_t cap; /* a power of two, or 0 */
    size_t n;
} sk_hset_t;

void sk_hset_init(sk_hset_t *s);
void sk_hset_free(sk_hset_t *s);
/* Adds key with value: 1 if added, 0 if it was there (value untouched), -ENOMEM. */
int sk_hset_add(sk_hset_t *s, const sk_hash_t *key, uint32_t value);
/* Returns the slot of key or NULL. */
sk_hset_slot_t *sk_hset_find(const sk_hset_t *s, const sk_hash_t *key);

#endif
