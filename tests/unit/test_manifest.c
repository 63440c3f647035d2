/*
 * test_manifest: manifests survive serialise -> parse with every field intact
 * (odd paths, facts with spaces, '%' and newlines, symlinks, sparse chunk
 * lists), any damage to the text is caught (every single-byte change, every
 * deletion, every truncation), and hand-written manifests with a correct
 * checksum that break one rule each are refused, on the line that breaks it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotkeeper/chunk.h"
#include "slotkeeper/hashset.h"
#include "slotkeeper/manifest.h"
#include "unit.h"

/* ---- helpers ----------------------------------------------------------- */

/* body + "checksum <xxh3-128 hex of body>\n", malloc'd. */
static char *with_checksum(const char *body, size_t *len)
{
    size_t n = strlen(body);
    char *out = malloc(n + 64);
    CHECK(out);
    memcpy(out, body, n);
    sk_hash_t h;
    sk_hash_compute(body, n, &h);
    char hex[SK_HASH_HEX_LEN + 1];
    sk_hash_hex(&h, hex);
    int k = snprintf(out + n, 64, "checksum %s\n", hex);
    *len = n + (size_t)k;
    return out;
}

/* Parses body with its checksum appended; returns the code and the reason in why. */
static int parse_body(const char *body, sk_manifest_t **out, char *why, size_t whylen)
{
    size_t len;
    char *buf = with_checksum(body, &len);
    sk_manifest_t *m = NULL;
    int rc = sk_manifest_parse(buf, len, &m, why, whylen);
    free(buf);
    if (rc == 0 && out)
        *out = m;
    else
        sk_manifest_free(m);
    return rc;
}

static void add_chunk(sk_mentry_t *e, uint64_t index, const sk_hash_t *h, uint32_t csize)
{
    CHECK_EQ(sk_mentry_add_chunk(e, index, h, csize), 0);
}

static sk_mentry_t *add_entry(sk_manifest_t *m, char type, const char *path, const char *target, uint32_t mode,
                              uint64_t size, int64_t sec, uint32_t nsec)
{
    sk_mentry_t e = {.type = type,
                     .path = (char *)path,
                     .target = (char *)target,
                     .mode = mode,
                     .uid = (uint32_t)(1000 + m->nentries),
                     .gid = m->nentries % 2 ? 0 : UINT32_MAX,
                     .mtime_sec = sec,
                     .mtime_nsec = nsec,
                     .size = size};
    long idx = sk_manifest_add_entry(m, &e);
    CHECK(idx >= 0);
    return &m->entries[idx];
}

/* Sets the stats the parser recomputes (files, logical, data, stored, chunks). */
static void fill_stats(sk_manifest_t *m)
{
    sk_hset_t distinct;
    sk_hset_init(&distinct);
    m->files = m->logical_bytes = m->data_bytes = m->stored_bytes = m->chunks = 0;
    for (size_t i = 0; i < m->nentries; i++) {
        sk_mentry_t *e = &m->entries[i];
        if (e->type != 'f')
            continue;
        m->files++;
        m->logical_bytes += e->size;
        for (size_t c = 0; c < e->nchunks; c++) {
            uint64_t off = e->chunks[c].index * m->chunk_size;
            m->data_bytes += e->size - off < m->chunk_size ? e->size - off : m->chunk_size;
            if (sk_hset_add(&distinct, &e->chunks[c].hash, e->chunks[c].csize) == 1)
                m->stored_bytes += e->chunks[c].csize;
        }
    }
    m->chunks = distinct.n;
    sk_hset_free(&distinct);
}

/* A manifest with a bit of everything. */
static sk_manifest_t *sample_manifest(void)
{
    sk_manifest_t *m = sk_manifest_new();
    CHECK(m);
    snprintf(m->id, sizeof(m->id), "20261126T195243Z-000000-3fa9");
    m->time = 1795723963;
    m->chunk_size = 65536;
    CHECK_EQ(sk_manifest_add_include(m, "blocks"), 0);
    CHECK_EQ(sk_manifest_add_include(m, "state"), 0);
    CHECK_EQ(sk_manifest_set_fact(m, "nodeos.version", "v5.0.3 (leap) build 1"), 0);
    CHECK_EQ(sk_manifest_set_fact(m, "head", "123456789"), 0);
    CHECK_EQ(sk_manifest_set_fact(m, "odd_value", "100% sure, %41 is not A; a=b c\td"), 0);
    CHECK_EQ(sk_manifest_set_fact(m, "multi-line", "line one\nline two\r\n\x7f\x01 h\xc3\xa9llo"), 0);
    CHECK_EQ(sk_manifest_set_fact(m, "x", "%"), 0);
    /* Setting a fact again replaces its value. */
    CHECK_EQ(sk_manifest_set_fact(m, "head", "123456790"), 0);
    CHECK_EQ(sk_manifest_set_fact(m, "Bad Key", "v"), -EINVAL);

    uint64_t seed = 99;
    sk_hash_t h[8];
    for (int i = 0; i < 8; i++)
        unit_fill_random(h[i].b, 16, &seed);

    add_entry(m, 'd', "blocks", NULL, 0755, 0, 1700000000, 0);
    add_entry(m, 'd', "blocks/reversible", NULL, 0750, 0, 1700000001, 999999999);
    sk_mentry_t *e = add_entry(m, 'f', "blocks/blocks.log", NULL, 0644, 3 * 65536 + 100, 1700000002, 123456789);
    add_chunk(e, 0, &h[0], 1000);
    add_chunk(e, 1, &h[1], 65536 + 13); /* incompressible: larger than the chunk */
    add_chunk(e, 3, &h[2], 57);         /* the 100-byte tail; chunk 2 is zeros */
    e = add_entry(m, 'f', "blocks/file with spaces %25 and % and\ttab", NULL, 0600, 10, 0, 1);
    add_chunk(e, 0, &h[3], 19);
    add_entry(m, 'f', "blocks/reversible/empty", NULL, 0444, 0, 1, 0);
    e = add_entry(m, 'f', "blocks/reversible/same-as-first", NULL, 04755, 65536, 2, 0);
    add_chunk(e, 0, &h[0], 1000); /* shared chunk: counted once */
    add_entry(m, 'l', "blocks/link", "../state/shared memory.bin", 0777, 0, 1700000003, 5);
    add_entry(m, 'd', "state", NULL, 01777, 0, 1700000004, 0);
    e = add_entry(m, 'f', "state/shared_memory.bin", NULL, 0600, 64ULL << 20, 1700000005, 0);
    add_chunk(e, 16, &h[4], 300);
    add_chunk(e, 17, &h[5], 301);
    add_chunk(e, 640, &h[6], 4000);
    add_chunk(e, 1023, &h[7], 1);
    add_entry(m, 'l', "state/rel", "sub dir/target with space/%", 0777, 0, 1700000006, 0);
    add_entry(m, 'd', "state/dir\nnew line", NULL, 0700, 0, 1700000007, 0);
    e = add_entry(m, 'f', "state/dir\nnew line/x\x7f\x80\xc3\xa9", NULL, 0640, 5ULL << 40, 1700000008, 0);
    add_chunk(e, (5ULL << 40) / 65536 - 1, &h[1], 65536 + 13);
    fill_stats(m);
    m->new_bytes = 424242;
    return m;
}

static void compare_manifests(const sk_manifest_t *a, const sk_manifest_t *b)
{
    CHECK_STR(a->id, b->id);
    CHECK_EQ(a->time, b->time);
    CHECK_EQ(a->chunk_size, b->chunk_size);
    CHECK_EQ(a->ninclude, b->ninclude);
    for (size_t i = 0; i < a->ninclude; i++)
        CHECK_STR(a->include[i], b->include[i]);
    CHECK_EQ(a->nfacts, b->nfacts);
    for (size_t i = 0; i < a->nfacts; i++) {
        CHECK_STR(a->facts[i].key, b->facts[i].key);
        CHECK_STR(a->facts[i].value, b->facts[i].value);
        CHECK_STR(sk_manifest_fact(b, a->facts[i].key), a->facts[i].value);
    }
    CHECK_EQ(a->files, b->files);
    CHECK_EQ(a->logical_bytes, b->logical_bytes);
    CHECK_EQ(a->data_bytes, b->data_bytes);
    CHECK_EQ(a->stored_bytes, b->stored_bytes);
    CHECK_EQ(a->new_bytes, b->new_bytes);
    CHECK_EQ(a->chunks, b->chunks);
    CHECK_EQ(a->has_carry_run, b->has_carry_run);
    CHECK_EQ(a->carry_run, b->carry_run);
    CHECK_EQ(a->nentries, b->nentries);
    for (size_t i = 0; i < a->nentries; i++) {
        const sk_mentry_t *x = &a->entries[i], *y = &b->entries[i];
        CHECK_EQ(x->type, y->type);
        CHECK_STR(x->path, y->path);
        if (x->type == 'l')
            CHECK_STR(x->target, y->target);
        else
            CHECK(y->target == NULL);
        CHECK_EQ(x->mode, y->mode);
        CHECK_EQ(x->uid, y->uid);
        CHECK_EQ(x->gid, y->gid);
        CHECK_EQ(x->mtime_sec, y->mtime_sec);
        CHECK_EQ(x->mtime_nsec, y->mtime_nsec);
        CHECK_EQ(x->type == 'f' ? x->size : 0, y->size);
        CHECK_EQ(x->has_ident, y->has_ident);
        CHECK_EQ(x->dev, y->dev);
        CHECK_EQ(x->ino, y->ino);
        CHECK_EQ(x->carried, y->carried);
        CHECK_EQ(x->nchunks, y->nchunks);
        for (size_t c = 0; c < x->nchunks; c++) {
            CHECK_EQ(x->chunks[c].index, y->chunks[c].index);
            CHECK(sk_hash_eq(&x->chunks[c].hash, &y->chunks[c].hash));
            CHECK_EQ(x->chunks[c].csize, y->chunks[c].csize);
        }
    }
}

/* ---- round trip ---------------------------------------------------------- */

TEST(manifest_round_trip)
{
    sk_manifest_t *m = sample_manifest();
    CHECK_EQ(m->files, 6);
    CHECK_EQ(m->chunks, 8);
    CHECK_EQ(sk_manifest_nchunks(m, 0), 0);
    CHECK_EQ(sk_manifest_nchunks(m, 1), 1);
    CHECK_EQ(sk_manifest_nchunks(m, 65536), 1);
    CHECK_EQ(sk_manifest_nchunks(m, 65537), 2);

    char *buf;
    size_t len;
    CHECK_EQ(sk_manifest_serialize(m, &buf, &len), 0);
    CHECK_EQ(strlen(buf), len);
    CHECK(!strncmp(buf, "slotkeeper-manifest 1\n", 22));
    /* Escaped text: no raw control bytes or high bytes; every line ends in '\n'. */
    for (size_t i = 0; i < len; i++)
        CHECK(buf[i] == '\n' || ((unsigned char)buf[i] >= 0x20 && (unsigned char)buf[i] < 0x7f));
    CHECK(strstr(buf, "\nend\nchecksum ") != NULL);
    CHECK(strstr(buf, "include blocks state\n") != NULL);
    CHECK(strstr(buf, "blocks/file%20with%20spaces%20%2525%20and%20%25%20and%09tab\n") != NULL);

    char why[256] = "unset";
    sk_manifest_t *p = NULL;
    int rc = sk_manifest_parse(buf, len, &p, why, sizeof(why));
    if (rc != 0)
        unit_fail(__FILE__, __LINE__, "the serializer's output does not parse: %s", why);
    CHECK_STR(why, "");
    compare_manifests(m, p);

    /* Serialising the parsed manifest gives the same bytes. */
    char *buf2;
    size_t len2;
    CHECK_EQ(sk_manifest_serialize(p, &buf2, &len2), 0);
    CHECK_EQ(len2, len);
    CHECK(!memcmp(buf, buf2, len));

    /* A NULL why is allowed. */
    sk_manifest_t *q = NULL;
    CHECK_EQ(sk_manifest_parse(buf, len, &q, NULL, 0), 0);
    sk_manifest_free(q);

    free(buf);
    free(buf2);
    sk_manifest_free(m);
    sk_manifest_free(p);
}

/* Version 2: identities, carried prefixes and the carry run survive a round trip; a manifest
 * with none of them is still written as version 1. */
TEST(manifest_round_trip_v2)
{
    sk_manifest_t *m = sample_manifest();
    m->has_carry_run = true;
    m->carry_run = 7;
    for (size_t i = 0; i < m->nentries; i++) {
        sk_mentry_t *e = &m->entries[i];
        if (e->type != 'f' || !strcmp(e->path, "blocks/reversible/empty"))
            continue;
        e->has_ident = true;
        e->dev = UINT64_MAX;
        e->ino = 1000 + i;
        e->carried = e->size / 2;
    }
    char *buf;
    size_t len;
    CHECK_EQ(sk_manifest_serialize(m, &buf, &len), 0);
    CHECK(!strncmp(buf, "slotkeeper-manifest 2\n", 22));
    CHECK(strstr(buf, "\ncarry-run 7\nstats ") != NULL);
    CHECK(strstr(buf, " blocks/blocks.log\nx 18446744073709551615 1002 98354\nc 0 ") != NULL);
    char why[256] = "";
    sk_manifest_t *p = NULL;
    int rc = sk_manifest_parse(buf, len, &p, why, sizeof(why));
    if (rc != 0)
        unit_fail(__FILE__, __LINE__, "the serializer's output does not parse: %s", why);
    CHECK_EQ(p->version, 2);
    compare_manifests(m, p);
    char *buf2;
    size_t len2;
    CHECK_EQ(sk_manifest_serialize(p, &buf2, &len2), 0);
    CHECK(len2 == len && !memcmp(buf, buf2, len));
    free(buf);
    free(buf2);
    sk_manifest_free(p);
    /* Only an identity: version 2 too; nothing: version 1. */
    m->has_carry_run = false;
    CHECK_EQ(sk_manifest_serialize(m, &buf, &len), 0);
    CHECK(!strncmp(buf, "slotkeeper-manifest 2\n", 22));
    CHECK(strstr(buf, "carry-run") == NULL);
    free(buf);
    for (size_t i = 0; i < m->nentries; i++)
        m->entries[i].has_ident = false;
    CHECK_EQ(sk_manifest_serialize(m, &buf, &len), 0);
    CHECK(!strncmp(buf, "slotkeeper-manifest 1\n", 22));
    CHECK(strstr(buf, "\nx ") == NULL);
    free(buf);
    sk_manifest_free(m);
}

TEST(manifest_empty_snapshot_round_trip)
{
    /* Included folders with nothing in them. */
    sk_manifest_t *m = sk_manifest_new();
    CHECK(m);
    snprintf(m->id, sizeof(m->id), "20261126T195243Z-000000-000a");
    m->chunk_size = SK_CHUNK_SIZE_MIN;
    CHECK_EQ(sk_manifest_add_include(m, "blocks"), 0);
    add_entry(m, 'd', "blocks", NULL, 0755, 0, 0, 0);
    char *buf;
    size_t len;
    CHECK_EQ(sk_manifest_serialize(m, &buf, &len), 0);
    sk_manifest_t *p = NULL;
    char why[256];
    CHECK_EQ(sk_manifest_parse(buf, len, &p, why, sizeof(why)), 0);
    compare_manifests(m, p);
    free(buf);
    sk_manifest_free(m);
    sk_manifest_free(p);
}

/* ---- damage -------------------------------------------------------------- */

static int parse_quiet(const char *buf, size_t len)
{
    sk_manifest_t *m = NULL;
    char why[256];
    int rc = sk_manifest_parse(buf, len, &m, why, sizeof(why));
    if (rc == 0)
        sk_manifest_free(m);
    else if (!why[0])
        unit_fail(__FILE__, __LINE__, "parse failed (%d) without a reason", rc);
    return rc;
}

TEST(manifest_any_changed_byte_is_caught)
{
    sk_manifest_t *m = sample_manifest();
    char *buf;
    size_t len;
    CHECK_EQ(sk_manifest_serialize(m, &buf, &len), 0);
    sk_manifest_free(m);
    char *copy = malloc(len + 1);
    CHECK(copy);
    const unsigned char masks[] = {0x01, 0x02, 0x20, 0x80, 0xff};
    long tried = 0;
    for (size_t pos = 0; pos < len; pos++) {
        for (size_t k = 0; k <= sizeof(masks); k++) {
            memcpy(copy, buf, len);
            if (k < sizeof(masks))
                copy[pos] = (char)(copy[pos] ^ masks[k]);
            else if (copy[pos] != '\n')
                copy[pos] = '\n';
            else
                copy[pos] = ' ';
            int rc = parse_quiet(copy, len);
            if (rc != -EBADMSG)
                unit_fail(__FILE__, __LINE__, "byte %zu changed to 0x%02x: parse returned %d", pos,
                          (unsigned char)copy[pos], rc);
            tried++;
        }
        /* The byte deleted. */
        memcpy(copy, buf, pos);
        memcpy(copy + pos, buf + pos + 1, len - pos - 1);
        CHECK_EQ(parse_quiet(copy, len - 1), -EBADMSG);
        /* A byte inserted. */
        memcpy(copy, buf, pos);
        copy[pos] = pos % 2 ? ' ' : '0';
        memcpy(copy + pos + 1, buf + pos, len - pos);
        CHECK_EQ(parse_quiet(copy, len + 1), -EBADMSG);
    }
    CHECK(tried > 1000);
    /* Unchanged, it still parses. */
    CHECK_EQ(parse_quiet(buf, len), 0);
    free(copy);
    free(buf);
}

TEST(manifest_every_truncation_is_caught)
{
    sk_manifest_t *m = sample_manifest();
    char *buf;
    size_t len;
    CHECK_EQ(sk_manifest_serialize(m, &buf, &len), 0);
    sk_manifest_free(m);
    for (size_t cut = 0; cut < len; cut++) {
        /* A private copy, so a read past the prefix is an ASan error rather than luck. */
        char *prefix = malloc(cut ? cut : 1);
        CHECK(prefix);
        memcpy(prefix, buf, cut);
        int rc = parse_quiet(prefix, cut);
        if (rc != -EBADMSG)
            unit_fail(__FILE__, __LINE__, "prefix of %zu of %zu bytes: parse returned %d", cut, len, rc);
        free(prefix);
    }
    /* Data after the checksum line, and a second checksum line. */
    char *more = malloc(2 * len + 2);
    CHECK(more);
    memcpy(more, buf, len);
    memcpy(more + len, "x\n", 2);
    CHECK_EQ(parse_quiet(more, len + 2), -EBADMSG);
    memcpy(more + len, buf + len - 42, 42);
    CHECK_EQ(parse_quiet(more, len + 42), -EBADMSG);
    memcpy(more + len, buf, len);
    CHECK_EQ(parse_quiet(more, 2 * len), -EBADMSG);
    free(more);
    free(buf);
}

/* ---- hand-written manifests ---------------------------------------------- */

#define L_MAGIC "slotkeeper-manifest 1\n"
#define L_ID    "id 20261126T195243Z-000001-5a91\n"
#define L_TIME  "time 1700000000 2023-11-14T22:13:20Z\n"
#define L_CS    "chunk-size 65536\n"
#define L_INC   "include blocks\n"
#define HEAD    L_MAGIC L_ID L_TIME L_CS L_INC
#define L2_HEAD "slotkeeper-manifest 2\n" L_ID L_TIME L_CS L_INC
#define STATS0  "stats files=0 logical=0 data=0 stored=0 new=0 chunks=0\n"
#define STATS1  "stats files=1 logical=100 data=100 stored=50 new=50 chunks=1\n"
#define D_BLK   "d 0755 0 0 1700000000.000000000 blocks\n"
#define F_A100  "f 0644 0 0 1700000000.000000000 100 blocks/a\n"
#define HASH    "0123456789abcdef0123456789abcdef"
#define C0      "c 0 " HASH " 50\n"

struct crafted {
    const char *name;
    const char *body;
    int line; /* the line the parser must blame ("line N: ..."), or 0 for any */
};

TEST(manifest_crafted_valid)
{
    const char *good[] = {
        HEAD STATS0 D_BLK "end\n",
        HEAD STATS1 D_BLK F_A100 C0 "end\n",
        /* Facts, several includes, a link, a file with no chunks (all holes). */
        L_MAGIC L_ID L_TIME L_CS "include blocks state\nfact chain-id abc%20def\nfact a.b-c_d %25\n"
                                 "stats files=2 logical=65636 data=100 stored=50 new=0 chunks=1\n" D_BLK
                                 "d 0700 1 2 5.000000001 state\n"
                                 "f 0600 0 0 6.000000000 65536 state/holes\n"
                                 "l 0777 0 0 7.000000000 state/l ../blocks/a\n"
                                 "f 0644 0 0 1700000000.000000000 100 blocks/a\n" C0 "end\n",
        /* The same chunk twice counts once in stored and chunks. */
        HEAD "stats files=1 logical=131072 data=131072 stored=50 new=0 chunks=1\n" D_BLK
             "f 0644 0 0 1.000000000 131072 blocks/a\nc 0 " HASH " 50\nc 1 " HASH " 50\nend\n",
        /* The largest chunk size. */
        L_MAGIC L_ID L_TIME "chunk-size 67108864\n" L_INC STATS0 D_BLK "end\n",
        /* Version 2: carry-run, and a file's identity with its carried prefix. */
        L2_HEAD "carry-run 3\n" STATS1 D_BLK F_A100 "x 2049 123456 64\n" C0 "end\n",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char why[256] = "";
        sk_manifest_t *m = NULL;
        int rc = parse_body(good[i], &m, why, sizeof(why));
        if (rc != 0)
            unit_fail(__FILE__, __LINE__, "valid manifest %zu refused (%d): %s", i, rc, why);
        if (i == 1) {
            CHECK_STR(m->id, "20261126T195243Z-000001-5a91");
            CHECK_EQ(m->time, 1700000000);
            CHECK_EQ(m->chunk_size, 65536);
            CHECK_EQ(m->nentries, 2);
            CHECK_EQ(m->entries[1].nchunks, 1);
            CHECK_EQ(m->entries[1].chunks[0].csize, 50);
            CHECK_EQ(m->data_bytes, 100);
            CHECK_EQ(m->new_bytes, 50);
        }
        if (i == 5) {
            CHECK_EQ(m->version, 2);
            CHECK(m->has_carry_run);
            CHECK_EQ(m->carry_run, 3);
            CHECK(m->entries[1].has_ident);
            CHECK_EQ(m->entries[1].dev, 2049);
            CHECK_EQ(m->entries[1].ino, 123456);
            CHECK_EQ(m->entries[1].carried, 64);
        }
        if (i == 2) {
            CHECK_STR(sk_manifest_fact(m, "chain-id"), "abc def");
            CHECK_STR(sk_manifest_fact(m, "a.b-c_d"), "%");
            CHECK(sk_manifest_fact(m, "nope") == NULL);
            CHECK_STR(m->entries[3].target, "../blocks/a");
            CHECK_EQ(m->entries[1].mtime_nsec, 1);
            CHECK_EQ(m->entries[1].mode, 0700);
        }
        sk_manifest_free(m);
    }
}

static void expect_refused(const struct crafted *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char why[256] = "";
        int rc = parse_body(c[i].body, NULL, why, sizeof(why));
        if (rc != -EBADMSG)
            unit_fail(__FILE__, __LINE__, "crafted manifest '%s' was not refused (%d)", c[i].name, rc);
        if (!why[0])
            unit_fail(__FILE__, __LINE__, "crafted manifest '%s': no reason given", c[i].name);
        if (c[i].line) {
            char want[32];
            snprintf(want, sizeof(want), "line %d: ", c[i].line);
            if (strncmp(why, want, strlen(want)))
                unit_fail(__FILE__, __LINE__, "crafted manifest '%s' refused for another reason: %s (want %s...)",
                          c[i].name, why, want);
        }
    }
}

TEST(manifest_crafted_bad_paths)
{
    const struct crafted c[] = {
        {"dot-dot component",
         HEAD STATS0 D_BLK "d 0755 0 0 1.000000000 blocks/..\n"
                           "end\n",
         8},
        {"dot-dot inside",
         HEAD STATS0 D_BLK "d 0755 0 0 1.000000000 blocks/x\nd 0755 0 0 1.000000000 blocks/x/../y\n"
                           "end\n",
         9},
        {"dot-dot escaped", HEAD STATS0 D_BLK "d 0755 0 0 1.000000000 blocks/%2E%2E\nend\n", 8},
        {"link to an absolute path", HEAD STATS0 D_BLK "l 0777 0 0 1.000000000 blocks/l /etc/passwd\nend\n", 8},
        {"link out of the snapshot", HEAD STATS0 D_BLK "l 0777 0 0 1.000000000 blocks/l ../../x\nend\n", 8},
        {"dot component", HEAD STATS0 D_BLK "d 0755 0 0 1.000000000 blocks/.\nend\n", 8},
        {"dot-dot at the top", L_MAGIC L_ID L_TIME L_CS "include ..\n" STATS0 "d 0755 0 0 1.000000000 ..\nend\n", 5},
        {"absolute path", HEAD STATS0 D_BLK "d 0755 0 0 1.000000000 /blocks\nend\n", 8},
        {"absolute path under", HEAD STATS0 D_BLK "f 0644 0 0 1.000000000 0 /etc/passwd\nend\n", 8},
        {"escaped slash makes it absolute", HEAD STATS0 D_BLK "d 0755 0 0 1.000000000 %2Fblocks\nend\n", 8},
        {"empty component", HEAD STATS0 D_BLK "d 0755 0 0 1.000000000 blocks//x\nend\n", 8},
        {"trailing slash", HEAD STATS0 D_BLK "d 0755 0 0 1.000000000 blocks/x/\nend\n", 8},
        {"parent not listed",
         HEAD "stats files=1 logical=0 data=0 stored=0 new=0 chunks=0\n" D_BLK
              "f 0644 0 0 1.000000000 0 blocks/sub/a\nend\n",
         8},
        {"parent listed later",
         HEAD "stats files=1 logical=0 data=0 stored=0 new=0 chunks=0\n" D_BLK
              "f 0644 0 0 1.000000000 0 blocks/sub/a\nd 0755 0 0 1.000000000 blocks/sub\nend\n",
         8},
        {"parent is a file",
         HEAD "stats files=2 logical=0 data=0 stored=0 new=0 chunks=0\n" D_BLK
              "f 0644 0 0 1.000000000 0 blocks/a\nf 0644 0 0 1.000000000 0 blocks/a/b\nend\n",
         9},
        {"parent is a link",
         HEAD STATS0 D_BLK "l 0777 0 0 1.000000000 blocks/l tmp\nd 0755 0 0 1.000000000 blocks/l/x\n"
                           "end\n",
         9},
        {"top-level file",
         HEAD "stats files=1 logical=0 data=0 stored=0 new=0 chunks=0\n"
              "f 0644 0 0 1.000000000 0 blocks\nend\n",
         7},
        {"top-level link", HEAD STATS0 "l 0777 0 0 1.000000000 blocks /elsewhere\nend\n", 7},
        {"not an included folder", HEAD STATS0 D_BLK "d 0755 0 0 1.000000000 state\nend\n", 8},
        {"included folder without entry", L_MAGIC L_ID L_TIME L_CS "include blocks state\n" STATS0 D_BLK "end\n", 0},
        {"duplicate folder", HEAD STATS0 D_BLK D_BLK "end\n", 8},
        {"duplicate file",
         HEAD "stats files=2 logical=0 data=0 stored=0 new=0 chunks=0\n" D_BLK
              "f 0644 0 0 1.000000000 0 blocks/a\nf 0644 0 0 1.000000000 0 blocks/a\nend\n",
         9},
        {"duplicate through an escape",
         HEAD STATS0 D_BLK "d 0755 0 0 1.000000000 blocks/a\nd 0755 0 0 1.000000000 blocks/%61\nend\n", 9},
        {"file and folder with one name",
         HEAD "stats files=1 logical=0 data=0 stored=0 new=0 chunks=0\n" D_BLK
              "d 0755 0 0 1.000000000 blocks/a\nf 0644 0 0 1.000000000 0 blocks/a\nend\n",
         9},
        {"bad escape", HEAD STATS0 D_BLK "d 0755 0 0 1.000000000 blocks/%zz\nend\n", 8},
        {"lowercase escape", HEAD STATS0 D_BLK "d 0755 0 0 1.000000000 blocks/%2f\nend\n", 8},
        {"escaped NUL", HEAD STATS0 D_BLK "d 0755 0 0 1.000000000 blocks/a%00b\nend\n", 8},
        {"short escape", HEAD STATS0 D_BLK "d 0755 0 0 1.000000000 blocks/a%2\nend\n", 8},
        {"component too long",
         HEAD STATS0 D_BLK "d 0755 0 0 1.000000000 blocks/"
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
                           "end\n",
         8},
    };
    expect_refused(c, sizeof(c) / sizeof(c[0]));
}

TEST(manifest_crafted_bad_chunks)
{
    const struct crafted c[] = {
        {"index out of range", HEAD STATS1 D_BLK F_A100 "c 1 " HASH " 50\nend\n", 9},
        {"index far out of range", HEAD STATS1 D_BLK F_A100 "c 18446744073709551615 " HASH " 50\nend\n", 9},
        {"index overflows", HEAD STATS1 D_BLK F_A100 "c 18446744073709551616 " HASH " 50\nend\n", 9},
        {"chunk of an empty file",
         HEAD "stats files=1 logical=0 data=0 stored=0 new=0 chunks=0\n" D_BLK
              "f 0644 0 0 1.000000000 0 blocks/a\nc 0 " HASH " 50\nend\n",
         9},
        {"index repeated",
         HEAD "stats files=1 logical=200000 data=131072 stored=50 new=0 chunks=1\n" D_BLK
              "f 0644 0 0 1.000000000 200000 blocks/a\nc 1 " HASH " 50\nc 1 " HASH " 50\nend\n",
         10},
        {"index decreasing",
         HEAD "stats files=1 logical=200000 data=131072 stored=50 new=0 chunks=1\n" D_BLK
              "f 0644 0 0 1.000000000 200000 blocks/a\nc 2 " HASH " 50\nc 1 " HASH " 50\nend\n",
         10},
        {"chunk after a folder", HEAD STATS1 D_BLK C0 "end\n", 8},
        {"chunk before any entry", HEAD STATS1 C0 D_BLK "end\n", 7},
        {"chunk in the header", L_MAGIC L_ID C0 L_TIME L_CS L_INC STATS0 D_BLK "end\n", 3},
        {"chunk after a link", HEAD STATS1 D_BLK "l 0777 0 0 1.000000000 blocks/l x\n" C0 "end\n", 9},
        {"uppercase hash", HEAD STATS1 D_BLK F_A100 "c 0 0123456789ABCDEF0123456789ABCDEF 50\nend\n", 9},
        {"short hash", HEAD STATS1 D_BLK F_A100 "c 0 0123456789abcdef0123456789abcde 50\nend\n", 9},
        {"long hash", HEAD STATS1 D_BLK F_A100 "c 0 0123456789abcdef0123456789abcdef0 50\nend\n", 9},
        {"non-hex hash", HEAD STATS1 D_BLK F_A100 "c 0 0123456789abcdef0123456789abcdeg 50\nend\n", 9},
        {"csize 0",
         HEAD "stats files=1 logical=100 data=100 stored=0 new=0 chunks=1\n" D_BLK F_A100 "c 0 " HASH " 0\nend\n", 9},
        {"csize too large",
         HEAD "stats files=1 logical=100 data=100 stored=99999999 new=0 chunks=1\n" D_BLK F_A100 "c 0 " HASH
              " 99999999\nend\n",
         9},
        {"csize with a sign", HEAD STATS1 D_BLK F_A100 "c 0 " HASH " +50\nend\n", 9},
        {"index with leading zero", HEAD STATS1 D_BLK F_A100 "c 00 " HASH " 50\nend\n", 9},
        {"missing field", HEAD STATS1 D_BLK F_A100 "c 0 " HASH "\nend\n", 9},
        {"extra field", HEAD STATS1 D_BLK F_A100 "c 0 " HASH " 50 1\nend\n", 9},
    };
    expect_refused(c, sizeof(c) / sizeof(c[0]));
}

TEST(manifest_crafted_bad_records)
{
    const struct crafted c[] = {
        {"stats files wrong",
         HEAD "stats files=2 logical=100 data=100 stored=50 new=50 chunks=1\n" D_BLK F_A100 C0 "end\n", 0},
        {"stats logical wrong",
         HEAD "stats files=1 logical=101 data=100 stored=50 new=50 chunks=1\n" D_BLK F_A100 C0 "end\n", 0},
        {"stats data wrong",
         HEAD "stats files=1 logical=100 data=99 stored=50 new=50 chunks=1\n" D_BLK F_A100 C0 "end\n", 0},
        {"stats stored wrong",
         HEAD "stats files=1 logical=100 data=100 stored=51 new=50 chunks=1\n" D_BLK F_A100 C0 "end\n", 0},
        {"stats chunks wrong",
         HEAD "stats files=1 logical=100 data=100 stored=50 new=50 chunks=2\n" D_BLK F_A100 C0 "end\n", 0},
        {"stats of an empty manifest wrong",
         HEAD "stats files=0 logical=0 data=1 stored=0 new=0 chunks=0\n" D_BLK "end\n", 0},
        {"stats keys out of order",
         HEAD "stats logical=100 files=1 data=100 stored=50 new=50 chunks=1\n" D_BLK F_A100 C0 "end\n", 6},
        {"stats field missing", HEAD "stats files=1 logical=100 data=100 stored=50 new=50\n" D_BLK F_A100 C0 "end\n",
         6},
        {"unknown entry record", HEAD STATS0 D_BLK "x 0755 0 0 1.000000000 blocks/x\nend\n", 8},
        {"unknown header record", L_MAGIC L_ID "colour blue\n" L_TIME L_CS L_INC STATS0 D_BLK "end\n", 3},
        {"unknown record after entries", HEAD STATS0 D_BLK "colour blue\nend\n", 8},
        {"fact after entries", HEAD STATS0 D_BLK "fact a b\nend\n", 8},
        {"id after entries", HEAD STATS0 D_BLK "id 20261126T195243Z-000002-5a92\nend\n", 8},
        {"stats after entries", HEAD STATS0 D_BLK STATS0 "end\n", 8},
        {"entry before the header is complete", L_MAGIC L_ID L_TIME L_CS L_INC D_BLK STATS0 "end\n", 6},
        {"missing end", HEAD STATS0 D_BLK, 0},
        {"end with a field", HEAD STATS0 D_BLK "end now\n", 8},
        {"data after end", HEAD STATS0 D_BLK "end\nd 0755 0 0 1.000000000 blocks/x\n", 9},
        {"two ends", HEAD STATS0 D_BLK "end\nend\n", 9},
        {"empty line after end", HEAD STATS0 D_BLK "end\n\n", 9},
        {"chunk size not a power of two", L_MAGIC L_ID L_TIME "chunk-size 65535\n" L_INC STATS0 D_BLK "end\n", 4},
        {"chunk size 100000", L_MAGIC L_ID L_TIME "chunk-size 100000\n" L_INC STATS0 D_BLK "end\n", 4},
        {"chunk size too small", L_MAGIC L_ID L_TIME "chunk-size 2048\n" L_INC STATS0 D_BLK "end\n", 4},
        {"chunk size too large", L_MAGIC L_ID L_TIME "chunk-size 134217728\n" L_INC STATS0 D_BLK "end\n", 4},
        {"chunk size 0", L_MAGIC L_ID L_TIME "chunk-size 0\n" L_INC STATS0 D_BLK "end\n", 4},
        {"chunk size leading zero", L_MAGIC L_ID L_TIME "chunk-size 065536\n" L_INC STATS0 D_BLK "end\n", 4},
        {"id starting with '-'", L_MAGIC "id -snap\n" L_TIME L_CS L_INC STATS0 D_BLK "end\n", 2},
        {"id with a dot", L_MAGIC "id snap.1\n" L_TIME L_CS L_INC STATS0 D_BLK "end\n", 2},
        {"id with a slash", L_MAGIC "id ../snap\n" L_TIME L_CS L_INC STATS0 D_BLK "end\n", 2},
        {"id too long",
         L_MAGIC "id abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz01\n" L_TIME L_CS L_INC STATS0 D_BLK
                 "end\n",
         2},
        {"id missing", L_MAGIC L_TIME L_CS L_INC STATS0 D_BLK "end\n", 6},
        {"time missing", L_MAGIC L_ID L_CS L_INC STATS0 D_BLK "end\n", 6},
        {"negative time", L_MAGIC L_ID "time -1 1969-12-31T23:59:59Z\n" L_CS L_INC STATS0 D_BLK "end\n", 3},
        {"no include", L_MAGIC L_ID L_TIME L_CS STATS0 "end\n", 0},
        {"include twice", HEAD L_INC STATS0 D_BLK "end\n", 6},
        {"included folder listed twice", L_MAGIC L_ID L_TIME L_CS "include blocks blocks\n" STATS0 D_BLK "end\n", 5},
        {"include with a slash", L_MAGIC L_ID L_TIME L_CS "include blocks/x\n" STATS0 D_BLK "end\n", 5},
        {"fact key uppercase", HEAD "fact Key v\n" STATS0 D_BLK "end\n", 6},
        {"fact key twice", HEAD "fact k v\nfact k w\n" STATS0 D_BLK "end\n", 7},
        {"fact without value", HEAD "fact k\n" STATS0 D_BLK "end\n", 6},
        {"fact bad escape", HEAD "fact k %4\n" STATS0 D_BLK "end\n", 6},
        {"x in version 1", HEAD STATS1 D_BLK F_A100 "x 1 2 0\n" C0 "end\n", 9},
        {"carry-run in version 1", HEAD "carry-run 1\n" STATS0 D_BLK "end\n", 6},
        {"carry-run twice", L2_HEAD "carry-run 1\ncarry-run 1\n" STATS0 D_BLK "end\n", 7},
        {"carry-run negative", L2_HEAD "carry-run -1\n" STATS0 D_BLK "end\n", 6},
        {"x after a chunk", L2_HEAD STATS1 D_BLK F_A100 C0 "x 1 2 0\nend\n", 10},
        {"x twice", L2_HEAD STATS1 D_BLK F_A100 "x 1 2 0\nx 1 2 0\n" C0 "end\n", 10},
        {"x after a folder", L2_HEAD STATS0 D_BLK "x 1 2 0\nend\n", 8},
        {"x carried past the size", L2_HEAD STATS1 D_BLK F_A100 "x 1 2 101\n" C0 "end\n", 9},
        {"x missing a field", L2_HEAD STATS1 D_BLK F_A100 "x 1 2\n" C0 "end\n", 9},
        {"x with a leading zero", L2_HEAD STATS1 D_BLK F_A100 "x 01 2 0\n" C0 "end\n", 9},
        {"wrong version", "slotkeeper-manifest 3\n" L_ID L_TIME L_CS L_INC STATS0 D_BLK "end\n", 1},
        {"no magic", L_ID L_TIME L_CS L_INC STATS0 D_BLK "end\n", 1},
        {"empty body", "", 0},
        {"only magic", L_MAGIC, 0},
        {"mode with three digits", HEAD STATS0 "d 755 0 0 1.000000000 blocks\nend\n", 7},
        {"mode not octal", HEAD STATS0 "d 0855 0 0 1.000000000 blocks\nend\n", 7},
        {"uid too large", HEAD STATS0 "d 0755 4294967296 0 1.000000000 blocks\nend\n", 7},
        {"gid negative", HEAD STATS0 "d 0755 0 -1 1.000000000 blocks\nend\n", 7},
        {"time without nanoseconds", HEAD STATS0 "d 0755 0 0 1 blocks\nend\n", 7},
        {"short nanoseconds", HEAD STATS0 "d 0755 0 0 1.00000000 blocks\nend\n", 7},
        {"non-digit nanoseconds", HEAD STATS0 "d 0755 0 0 1.00000000x blocks\nend\n", 7},
        {"size with leading zero",
         HEAD "stats files=1 logical=100 data=0 stored=0 new=0 chunks=0\n" D_BLK
              "f 0644 0 0 1.000000000 0100 blocks/a\nend\n",
         8},
        {"size too large",
         HEAD "stats files=1 logical=9223372036854775808 data=0 stored=0 new=0 chunks=0\n" D_BLK
              "f 0644 0 0 1.000000000 9223372036854775808 blocks/a\nend\n",
         8},
        {"folder with a size", HEAD STATS0 "d 0755 0 0 1.000000000 0 blocks\nend\n", 7},
        {"link without target", HEAD STATS0 D_BLK "l 0777 0 0 1.000000000 blocks/l\nend\n", 8},
        {"two spaces", HEAD STATS0 "d 0755 0 0  1.000000000 blocks\nend\n", 7},
        {"trailing space", HEAD STATS0 "d 0755 0 0 1.000000000 blocks \nend\n", 7},
        {"carriage return", HEAD STATS0 D_BLK "end\r\n", 8},
        {"empty line", HEAD STATS0 "\n" D_BLK "end\n", 7},
    };
    expect_refused(c, sizeof(c) / sizeof(c[0]));
}

TEST(manifest_bad_checksum_line)
{
    const char *body = HEAD STATS0 D_BLK "end\n";
    size_t len;
    char *buf = with_checksum(body, &len);
    CHECK_EQ(parse_quiet(buf, len), 0);
    char *copy = malloc(len + 8);
    CHECK(copy);
    /* Uppercase hex digits in the checksum. */
    memcpy(copy, buf, len);
    for (size_t i = len - 33; i < len - 1; i++)
        if (copy[i] >= 'a' && copy[i] <= 'f')
            copy[i] = (char)(copy[i] - 'a' + 'A');
    if (memcmp(copy, buf, len))
        CHECK_EQ(parse_quiet(copy, len), -EBADMSG);
    /* No final newline. */
    CHECK_EQ(parse_quiet(buf, len - 1), -EBADMSG);
    /* The checksum of another body. */
    size_t olen;
    char *other = with_checksum(HEAD STATS0 D_BLK "end\n\n", &olen);
    memcpy(copy, buf, len);
    memcpy(copy + len - 33, other + olen - 33, 33);
    CHECK_EQ(parse_quiet(copy, len), -EBADMSG);
    /* A checksum line glued to the end record. */
    CHECK(len > 43);
    memcpy(copy, buf, len);
    memmove(copy + len - 43, copy + len - 42, 42);
    CHECK_EQ(parse_quiet(copy, len - 1), -EBADMSG);
    /* "checksum" alone. */
    CHECK_EQ(parse_quiet("checksum 0123456789abcdef0123456789abcdef\n", 42), -EBADMSG);
    free(other);
    free(copy);
    free(buf);
}

TEST(manifest_ids_and_fact_keys)
{
    CHECK(sk_id_valid("20261126T195243Z-000000-3fa9"));
    /* Only what slotkeeper writes: YYYYMMDDTHHMMSSZ-uuuuuu-xxxx. */
    CHECK(!sk_id_valid("a"));
    CHECK(!sk_id_valid("A_b-9"));
    CHECK(!sk_id_valid("blocks"));
    CHECK(!sk_id_valid("20261126T195243Z-3fa9c1"));
    CHECK(!sk_id_valid("20261126T195243Z-123456-3FA9"));
    CHECK(!sk_id_valid("20261126T195243Z-123456-3fa9x"));
    CHECK(!sk_id_valid("20261126T195243Z-123456-3fa"));
    CHECK(!sk_id_valid(""));
    CHECK(!sk_id_valid("-a"));
    CHECK(!sk_id_valid("a.bad"));
    CHECK(!sk_id_valid(".x"));
    CHECK(!sk_id_valid("a/b"));
    CHECK(!sk_id_valid("a b"));
    char id[80];
    memset(id, 'x', sizeof(id));
    id[63] = '\0';
    CHECK(!sk_id_valid(id));
    id[63] = 'x';
    id[64] = '\0';
    CHECK(!sk_id_valid(id));

    CHECK(sk_fact_key_valid("nodeos.version"));
    CHECK(sk_fact_key_valid("a-b_c.d0"));
    CHECK(!sk_fact_key_valid(""));
    CHECK(!sk_fact_key_valid("Upper"));
    CHECK(!sk_fact_key_valid("a b"));
    CHECK(!sk_fact_key_valid("a=b"));
    char key[80];
    memset(key, 'k', sizeof(key));
    key[64] = '\0';
    CHECK(sk_fact_key_valid(key));
    key[64] = 'k';
    key[65] = '\0';
    CHECK(!sk_fact_key_valid(key));
}

/* ---- rules the parser should enforce, and what the serializer must never produce ---- */

/* A header record given twice is ambiguous (which chunk-size holds?); "include" and
 * facts already refuse repeats, the other header records must too. */
TEST(manifest_crafted_repeated_header_records)
{
    const struct crafted c[] = {
        {"id twice", L_MAGIC L_ID "id 20261126T195243Z-000002-5a92\n" L_TIME L_CS L_INC STATS0 D_BLK "end\n", 3},
        {"time twice", L_MAGIC L_ID L_TIME "time 1 1970-01-01T00:00:01Z\n" L_CS L_INC STATS0 D_BLK "end\n", 4},
        {"chunk-size twice", L_MAGIC L_ID L_TIME L_CS "chunk-size 4096\n" L_INC STATS0 D_BLK "end\n", 5},
        {"stats twice", HEAD STATS0 STATS0 D_BLK "end\n", 7},
    };
    expect_refused(c, sizeof(c) / sizeof(c[0]));
}

/* Serialises m and checks that the result parses back to the same values. */
static void check_serialized_parses(sk_manifest_t *m, const char *what)
{
    fill_stats(m);
    char *buf;
    size_t len;
    int rc = sk_manifest_serialize(m, &buf, &len);
    if (rc < 0)
        return; /* refusing to serialise is also acceptable */
    char why[256] = "";
    sk_manifest_t *p = NULL;
    rc = sk_manifest_parse(buf, len, &p, why, sizeof(why));
    if (rc != 0)
        unit_fail(__FILE__, __LINE__, "%s: the serializer wrote a manifest its parser refuses (%d): %s\n%s", what, rc,
                  why, buf);
    compare_manifests(m, p);
    sk_manifest_free(p);
    free(buf);
}

static sk_manifest_t *tiny_manifest(const char *inc)
{
    sk_manifest_t *m = sk_manifest_new();
    CHECK(m);
    snprintf(m->id, sizeof(m->id), "20261126T195243Z-000000-0007");
    m->chunk_size = 65536;
    m->time = 1700000000;
    CHECK_EQ(sk_manifest_add_include(m, inc), 0);
    add_entry(m, 'd', inc, NULL, 0755, 0, 1700000000, 0);
    return m;
}

/* sk_manifest_set_fact accepts an empty value; the serializer must then write
 * something its parser reads back (it writes "fact key " + "", an empty field). */
TEST(manifest_serialize_empty_fact_value)
{
    sk_manifest_t *m = tiny_manifest("blocks");
    int rc = sk_manifest_set_fact(m, "empty", "");
    if (rc == 0)
        check_serialized_parses(m, "fact with an empty value");
    sk_manifest_free(m);
}

/* A file can have an mtime before 1970 (negative seconds); snapshot.c copies st_mtim
 * as it is, so the serializer and the parser must agree on it. */
TEST(manifest_serialize_negative_mtime)
{
    sk_manifest_t *m = tiny_manifest("blocks");
    add_entry(m, 'f', "blocks/old", NULL, 0644, 0, -86400, 0);
    add_entry(m, 'f', "blocks/older", NULL, 0644, 0, -1, 500000000);
    check_serialized_parses(m, "file with an mtime before 1970");
    sk_manifest_free(m);
}

/* Included folder names are written unescaped on the include line, so a name with a
 * space (which snapshot.c and the CLI's --include accept) splits into two. */
TEST(manifest_serialize_include_with_space)
{
    sk_manifest_t *m = tiny_manifest("my blocks");
    check_serialized_parses(m, "included folder with a space");
    sk_manifest_free(m);
}

/* The longest lines: a link whose path and target are both near PATH_MAX bytes of bytes the
 * serializer escapes (three bytes each), and a fact value of PATH_MAX-1 such bytes; found by
 * fuzz_manifest (a long fact value parsed, then serialised to a line the parser refused). */
TEST(manifest_serialize_longest_lines)
{
    sk_manifest_t *m = tiny_manifest("blocks");
    char path[PATH_MAX], target[PATH_MAX], value[PATH_MAX + 1];
    size_t o = (size_t)snprintf(path, sizeof(path), "blocks");
    while (o + 201 < PATH_MAX - 1) { /* folders of 200 bytes of 0xE9, each an entry, then the link */
        if (o > 6) {
            path[o] = '\0';
            add_entry(m, 'd', path, NULL, 0755, 0, 1700000000, 0);
        }
        path[o++] = '/';
        memset(path + o, 0xE9, 200);
        o += 200;
    }
    path[o] = '\0';
    CHECK(o > PATH_MAX - 210);
    memset(target, '%', PATH_MAX - 1);
    target[PATH_MAX - 1] = '\0';
    add_entry(m, 'l', path, target, 0777, 0, 1700000000, 0);
    memset(value, 0x01, PATH_MAX - 1);
    value[PATH_MAX - 1] = '\0';
    CHECK_EQ(sk_manifest_set_fact(m, "source.long", value), 0);
    check_serialized_parses(m, "a link of long escaped names and a long fact");
    value[PATH_MAX - 1] = 'x';
    value[PATH_MAX] = '\0';
    CHECK_EQ(sk_manifest_set_fact(m, "source.longer", value), -EINVAL); /* PATH_MAX bytes: refused */
    sk_manifest_free(m);
}

/* Issue 10, item 2: which link targets stay within the snapshot's folders. */
TEST(manifest_link_targets_stay_within)
{
    sk_manifest_t *m = sk_manifest_new();
    CHECK(m);
    CHECK_EQ(sk_manifest_add_include(m, "blocks"), 0);
    CHECK_EQ(sk_manifest_add_include(m, "state"), 0);
    struct {
        const char *path, *target;
        bool ok;
    } c[] = {
        {"blocks/l", "x", true},
        {"blocks/sub/l", "../x", true},
        {"blocks/l", "../state/shared_memory.bin", true},
        {"blocks/sub/l", "../../state/x", true},
        {"blocks/l", "/etc/passwd", false},
        {"blocks/l", "../../etc/passwd", false},
        {"blocks/l", "../config.ini", false}, /* the data-dir's root, outside the snapshot */
        {"blocks/l", "a/../../../x", false},
        {"blocks/l", "..", false},
        {"blocks/l", "./x", false},
        {"blocks/l", "x//y", false},
        {"blocks/l", "", false},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
        if (sk_manifest_link_ok(m, c[i].path, c[i].target) != c[i].ok)
            unit_fail(__FILE__, __LINE__, "%s -> '%s': want %s", c[i].path, c[i].target,
                      c[i].ok ? "accepted" : "refused");
    sk_manifest_free(m);
}
