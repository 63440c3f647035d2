/*
 * fuzz_manifest: libFuzzer target for the manifest parser (sk_manifest_parse, snapshot/manifest.c).
 *
 * Input: manifest text. Each input is parsed twice:
 *   1. as it is (this mostly exercises the checksum-line check: a random input rarely ends
 *      with the right XXH3-128);
 *   2. as a body, with "checksum <xxh3-128 of the input>\n" appended, so that the fuzzer
 *      reaches the line and record parser behind the checksum.
 * A manifest that parses is serialised again (sk_manifest_serialize), and that text must parse
 * and serialise to the same bytes; its accessors (chunk sizes, chunk lengths, facts) are
 * called on every entry. A refusal must be -EBADMSG (or -ENOMEM) with a one-line reason.
 *
 * SK_FUZZ_VERBOSE=1 prints each parse's outcome.
 *
 * Seeds: tests/fuzz/corpus/manifest/ (real manifests from a snapshot of a mkdatadir data-dir,
 * their bodies without the checksum line, and the samples of tests/unit/test_manifest.c).
 * Run: build/fuzz/fuzz_manifest tests/fuzz/corpus/manifest (see mk/fuzz.mk, `make fuzz`).
 */
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "slotkeeper/chunk.h"
#include "slotkeeper/manifest.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *lv = getenv("SK_FUZZ_LOG");
    log_init("slotkeeper", "fuzz", lv && *lv ? atoi(lv) : SK_LOG_ERROR);
    return 0;
}

static void use(const sk_manifest_t *m)
{
    uint32_t max = sk_manifest_max_chunk_size(m);
    if (max < SK_CHUNK_SIZE_MIN || max > SK_CHUNK_SIZE_MAX)
        fz_fail("max chunk size %u out of range", max);
    uint64_t data = 0;
    for (size_t i = 0; i < m->nentries; i++) {
        const sk_mentry_t *e = &m->entries[i];
        if (!e->path || (e->type == 'l') != (e->target != NULL))
            fz_fail("entry %zu: path or target missing", i);
        if (e->type != 'f')
            continue;
        uint32_t cs = sk_mentry_chunk_size(m, e);
        if (cs > max)
            fz_fail("entry %zu: chunk size %u above the maximum %u", i, cs, max);
        for (size_t j = 0; j < e->nchunks; j++) {
            uint32_t len = sk_mentry_chunk_len(m, e, e->chunks[j].index);
            if (len == 0 || len > cs || (uint64_t)e->chunks[j].index * cs + len > e->size)
                fz_fail("entry %zu chunk %zu: length %u out of the file", i, j, len);
            data += len;
        }
    }
    if (data != m->data_bytes)
        fz_fail("data bytes %llu, chunks add up to %llu", (unsigned long long)m->data_bytes, (unsigned long long)data);
    for (size_t i = 0; i < m->nfacts; i++)
        if (sk_manifest_fact(m, m->facts[i].key) != m->facts[i].value)
            fz_fail("fact %s not found", m->facts[i].key);
}

static void roundtrip(const sk_manifest_t *m)
{
    char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    if (sk_manifest_serialize(m, &a, &alen) < 0)
        return; /* out of memory */
    sk_manifest_t *m2 = NULL;
    char why[256];
    int rc = sk_manifest_parse(a, alen, &m2, why, sizeof(why));
    if (rc == -ENOMEM) {
        free(a);
        return;
    }
    if (rc < 0)
        fz_fail("a parsed manifest, serialised again, does not parse: %s\n%.*s", why, (int)alen, a);
    if (sk_manifest_serialize(m2, &b, &blen) == 0 && (alen != blen || memcmp(a, b, alen)))
        fz_fail("serialise(parse(serialise(m))) differs from serialise(m)");
    free(a);
    free(b);
    sk_manifest_free(m2);
}

static void parse_one(const char *buf, size_t len)
{
    sk_manifest_t *m = NULL;
    char why[256];
    memset(why, 'x', sizeof(why));
    int rc = sk_manifest_parse(buf, len, &m, why, sizeof(why));
    if (getenv("SK_FUZZ_VERBOSE"))
        fprintf(stderr, "parse: %d %s\n", rc, rc == 0 ? "" : why);
    if (rc == 0) {
        if (!m)
            fz_fail("parse returned 0 without a manifest");
        use(m);
        roundtrip(m);
        sk_manifest_free(m);
        return;
    }
    if (m)
        fz_fail("parse failed but set the manifest");
    if (rc == -ENOMEM)
        return;
    if (rc != -EBADMSG)
        fz_fail("parse returned %d, not -EBADMSG", rc);
    if (!memchr(why, '\0', sizeof(why)) || !fz_one_line(why))
        fz_fail("refusal without a one-line reason");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* As it is, in a buffer of its own size, so that ASan sees any read past the end. */
    char *raw = malloc(size ? size : 1);
    if (!raw)
        return 0;
    memcpy(raw, data, size);
    parse_one(raw, size);
    free(raw);

    /* As a body with its checksum line. */
    char *buf = malloc(size + 64);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    sk_hash_t h;
    sk_hash_compute(buf, size, &h);
    char hex[SK_HASH_HEX_LEN + 1];
    sk_hash_hex(&h, hex);
    size_t n = size;
    memcpy(buf + n, "checksum ", 9);
    n += 9;
    memcpy(buf + n, hex, SK_HASH_HEX_LEN);
    n += SK_HASH_HEX_LEN;
    buf[n++] = '\n';
    char *exact = realloc(buf, n);
    parse_one(exact ? exact : buf, n);
    free(exact ? exact : buf);
    return 0;
}
