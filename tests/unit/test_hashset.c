/*
 * test_hashset: the chunk hash set under load (200000 random keys through
 * several growths), duplicates, kept values, misses, and keys that all land
 * in the same home slot.
 */
#include <stdlib.h>
#include <string.h>

#include "slotkeeper/hashset.h"
#include "unit.h"

TEST(hashset_many_keys)
{
    const size_t n = 200000;
    sk_hash_t *keys = malloc(n * sizeof(*keys)), *miss = malloc(n * sizeof(*miss));
    CHECK(keys && miss);
    uint64_t seed = 42;
    for (size_t i = 0; i < n; i++)
        unit_fill_random(keys[i].b, 16, &seed);
    for (size_t i = 0; i < n; i++)
        unit_fill_random(miss[i].b, 16, &seed);

    sk_hset_t s;
    sk_hset_init(&s);
    CHECK(sk_hset_find(&s, &keys[0]) == NULL);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(sk_hset_add(&s, &keys[i], (uint32_t)i), 1);
    CHECK_EQ(s.n, n);
    CHECK(s.cap >= n && (s.cap & (s.cap - 1)) == 0);

    /* Every key is found with its value. */
    for (size_t i = 0; i < n; i++) {
        sk_hset_slot_t *sl = sk_hset_find(&s, &keys[i]);
        CHECK(sl != NULL);
        CHECK(sk_hash_eq(&sl->key, &keys[i]));
        CHECK_EQ(sl->value, i);
    }
    /* Adding again returns 0 and leaves the value alone. */
    for (size_t i = 0; i < n; i += 3)
        CHECK_EQ(sk_hset_add(&s, &keys[i], 0xdeadbeef), 0);
    CHECK_EQ(s.n, n);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(sk_hset_find(&s, &keys[i])->value, i);
    /* Values written through the slot stick. */
    sk_hset_find(&s, &keys[5])->value = 77;
    CHECK_EQ(sk_hset_find(&s, &keys[5])->value, 77);
    /* Keys never added are not found, including ones a single bit away from a stored key. */
    for (size_t i = 0; i < n; i++)
        CHECK(sk_hset_find(&s, &miss[i]) == NULL);
    for (size_t i = 0; i < 1000; i++) {
        sk_hash_t k = keys[i];
        k.b[i % 16] ^= (uint8_t)(1u << (i % 8));
        CHECK(sk_hset_find(&s, &k) == NULL);
    }
    sk_hset_free(&s);
    CHECK_EQ(s.n, 0);
    CHECK(sk_hset_find(&s, &keys[0]) == NULL);
    /* A freed set is usable again. */
    CHECK_EQ(sk_hset_add(&s, &keys[0], 9), 1);
    CHECK_EQ(sk_hset_find(&s, &keys[0])->value, 9);
    sk_hset_free(&s);
    free(keys);
    free(miss);
}

TEST(hashset_colliding_keys)
{
    /* Keys that differ only outside the bytes used for the home slot all probe from one
     * place; they must still be distinct entries, found after the table grows. */
    sk_hset_t s;
    sk_hset_init(&s);
    const uint32_t n = 5000;
    for (uint32_t i = 0; i < n; i++) {
        sk_hash_t k;
        memset(&k, 0x5a, sizeof(k));
        memcpy(k.b, &i, sizeof(i));
        CHECK_EQ(sk_hset_add(&s, &k, i + 1), 1);
    }
    CHECK_EQ(s.n, n);
    for (uint32_t i = 0; i < n; i++) {
        sk_hash_t k;
        memset(&k, 0x5a, sizeof(k));
        memcpy(k.b, &i, sizeof(i));
        sk_hset_slot_t *sl = sk_hset_find(&s, &k);
        CHECK(sl && sl->value == i + 1);
        CHECK_EQ(sk_hset_add(&s, &k, 0), 0);
    }
    sk_hash_t k;
    memset(&k, 0x5a, sizeof(k));
    uint32_t absent = n + 1;
    memcpy(k.b, &absent, sizeof(absent));
    CHECK(sk_hset_find(&s, &k) == NULL);
    /* The all-zero key is an ordinary key. */
    sk_hash_t zero;
    memset(&zero, 0, sizeof(zero));
    CHECK(sk_hset_find(&s, &zero) == NULL);
    CHECK_EQ(sk_hset_add(&s, &zero, 3), 1);
    CHECK_EQ(sk_hset_find(&s, &zero)->value, 3);
    sk_hset_free(&s);
}
