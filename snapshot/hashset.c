/*
 * hashset: open-addressing set of chunk hashes (see hashset.h).
 */
#include "slotkeeper/hashset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void sk_hset_init(sk_hset_t *s)
{
    s->slots = NULL;
    s->cap = 0;
    s->n = 0;
}

void sk_hset_free(sk_hset_t *s)
{
    free(s->slots);
    sk_hset_init(s);
}

static size_t slot_of(const sk_hash_t *k, size_t cap)
{
    uint64_t v;
    memcpy(&v, k->b + 8, sizeof(v));
    return (size_t)v & (cap - 1);
}

static sk_hset_slot_t *probe(sk_hset_slot_t *slots, size_t cap, const sk_hash_t *k)
{
    size_t i = slot_of(k, cap);
    for (;;) {
        sk_hset_slot_t *sl = &slots[i];
        if (!sl->used || sk_hash_eq(&sl->key, k))
            return sl;
        i = (i + 1) & (cap - 1);
    }
}

static int grow(sk_hset_t *s)
{
    size_t ncap = s->cap ? s->cap * 2 : 1024;
    sk_hset_slot_t *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return -ENOMEM;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i].used)
            *probe(ns, ncap, &s->slots[i].key) = s->slots[i];
    free(s->slots);
    s->slots = ns;
    s->cap = ncap;
    return 0;
}

int sk_hset_add(sk_hset_t *s, const sk_hash_t *key, uint32_t value)
{
    if ((s->n + 1) * 4 > s->cap * 3) {
        int rc = grow(s);
        if (rc < 0)
            return rc;
    }
    sk_hset_slot_t *sl = probe(s->slots, s->cap, key);
    if (sl->used)
        return 0;
    sl->key = *key;
    sl->value = value;
    sl->used = 1;
    s->n++;
    return 1;
}

sk_hset_slot_t *sk_hset_find(const sk_hset_t *s, const sk_hash_t *key)
{
    if (!s->cap)
        return NULL;
    sk_hset_slot_t *sl = probe(s->slots, s->cap, key);
    return sl->used ? sl : NULL;
}
