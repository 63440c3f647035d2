/*
 * test_chunk: chunk names (XXH3-128 hex: round trip, strict parsing, known
 * values) and the zstd frame codec (round trip, and -EBADMSG for every kind of
 * damaged frame), plus sk_is_zero at the lengths and positions that matter.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "slotkeeper/chunk.h"
#include "unit.h"

TEST(chunk_hash_hex_round_trip)
{
    uint64_t seed = 1;
    for (int n = 0; n < 1000; n++) {
        sk_hash_t h, back;
        unit_fill_random(h.b, sizeof(h.b), &seed);
        char hex[SK_HASH_HEX_LEN + 1];
        memset(hex, 'Z', sizeof(hex));
        sk_hash_hex(&h, hex);
        CHECK_EQ(strlen(hex), SK_HASH_HEX_LEN);
        for (int i = 0; i < SK_HASH_HEX_LEN; i++)
            CHECK((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'));
        CHECK_EQ(sk_hash_parse(hex, &back), 0);
        CHECK(sk_hash_eq(&h, &back));
        CHECK(!memcmp(h.b, back.b, 16));
    }
    /* The canonical form is big-endian: the first byte is the first two digits. */
    sk_hash_t h;
    CHECK_EQ(sk_hash_parse("0123456789abcdeffedcba9876543210", &h), 0);
    CHECK_EQ(h.b[0], 0x01);
    CHECK_EQ(h.b[7], 0xef);
    CHECK_EQ(h.b[15], 0x10);
    char hex[SK_HASH_HEX_LEN + 1];
    sk_hash_hex(&h, hex);
    CHECK_STR(hex, "0123456789abcdeffedcba9876543210");
}

TEST(chunk_hash_parse_errors)
{
    sk_hash_t h;
    const char *bad[] = {
        "",
        "0",
        "0123456789abcdef0123456789abcde",  /* 31 digits */
        "0123456789ABCDEF0123456789ABCDEF", /* uppercase */
        "0123456789abcdef0123456789abcdeF", /* one uppercase digit at the end */
        "g123456789abcdef0123456789abcdef", /* non-hex */
        "0123456789abcdef0123456789abcdeg",
        "0123456789abcdef 123456789abcdef",
        "0123456789abcdef-123456789abcdef",
        "x123456789abcdef0123456789abcdef",
        " 0123456789abcdef0123456789abcde",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sk_hash_parse(bad[i], &h) != -EINVAL)
            unit_fail(__FILE__, __LINE__, "sk_hash_parse(\"%s\") did not return -EINVAL", bad[i]);
    }
    /* A NUL at every position of an otherwise valid name. */
    for (int cut = 0; cut < SK_HASH_HEX_LEN; cut++) {
        char s[SK_HASH_HEX_LEN + 1] = "0123456789abcdef0123456789abcdef";
        s[cut] = '\0';
        CHECK_EQ(sk_hash_parse(s, &h), -EINVAL);
    }
}

/* chunk.h: "Parses exactly 32 lowercase hex digits; -EINVAL otherwise." */
TEST(chunk_hash_parse_rejects_long)
{
    sk_hash_t h;
    CHECK_EQ(sk_hash_parse("0123456789abcdef0123456789abcdef0", &h), -EINVAL);
    CHECK_EQ(sk_hash_parse("0123456789abcdef0123456789abcdef.bad", &h), -EINVAL);
    CHECK_EQ(sk_hash_parse("0123456789abcdef0123456789abcdef\n", &h), -EINVAL);
}

static void hex_of_xxh128(const void *data, size_t len, char out[SK_HASH_HEX_LEN + 1])
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", c.digest[i]);
}

/* The hex name printed by `xxhsum -H2 path`, if xxhsum is installed; else false. */
static bool xxhsum_hex(const char *path, char out[SK_HASH_HEX_LEN + 1])
{
    if (system("command -v xxhsum >/dev/null 2>&1") != 0)
        return false;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "xxhsum -H2 '%s' 2>/dev/null", path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return false;
    char line[512] = "";
    bool ok = fgets(line, sizeof(line), p) != NULL;
    pclose(p);
    if (!ok || strlen(line) < SK_HASH_HEX_LEN)
        return false;
    /* "<hex>  <path>" (older versions may print "XXH128 (path) = <hex>" with --tag only). */
    memcpy(out, line, SK_HASH_HEX_LEN);
    out[SK_HASH_HEX_LEN] = '\0';
    return true;
}

TEST(chunk_hash_known_values)
{
    char hex[SK_HASH_HEX_LEN + 1], want[SK_HASH_HEX_LEN + 1];
    sk_hash_t h;

    /* Fixed reference values of XXH3-128, seed 0, canonical form: what `xxhsum -H2` prints
     * for an empty file and for a file holding "abc". */
    sk_hash_compute("", 0, &h);
    sk_hash_hex(&h, hex);
    CHECK_STR(hex, "99aa06d3014798d86001c324468d497f");
    sk_hash_compute("abc", 3, &h);
    sk_hash_hex(&h, hex);
    CHECK_STR(hex, "06b05ab6733a618578af5f94892f3950");

    /* Sizes around the algorithm's internal boundaries, against the library directly
     * (and against xxhsum when it is installed). */
    uint64_t seed = 7;
    size_t lens[] = {1, 3, 4, 8, 9, 16, 17, 128, 129, 240, 241, 1024, 4096, 65536, 1 << 20};
    unsigned char *buf = malloc(1 << 20);
    CHECK(buf);
    unit_fill_random(buf, 1 << 20, &seed);
    bool have_xxhsum = true;
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        sk_hash_compute(buf, lens[i], &h);
        sk_hash_hex(&h, hex);
        hex_of_xxh128(buf, lens[i], want);
        CHECK_STR(hex, want);
        if (have_xxhsum) {
            unit_write_file("input", buf, lens[i]);
            char ext[SK_HASH_HEX_LEN + 1];
            have_xxhsum = xxhsum_hex("input", ext);
            if (have_xxhsum)
                CHECK_STR(hex, ext);
            else
                unit_note("xxhsum is not installed: compared with XXH3_128bits only");
        }
    }
    free(buf);
}

/* Compresses len bytes of buf and returns a malloc'd copy of the frame. */
static unsigned char *compress_copy(sk_codec_t *c, const void *buf, size_t len, size_t *flen)
{
    const void *out;
    size_t outlen;
    CHECK_EQ(sk_codec_compress(c, buf, len, &out, &outlen), 0);
    CHECK(outlen > 0 && outlen <= sk_codec_bound((uint32_t)len));
    unsigned char *copy = malloc(outlen + 64);
    CHECK(copy);
    memcpy(copy, out, outlen);
    *flen = outlen;
    return copy;
}

TEST(chunk_codec_round_trip)
{
    const uint32_t max = 256 * 1024;
    sk_codec_t *c = sk_codec_new(max, 3), *d = sk_codec_new(max, 1);
    CHECK(c && d);
    unsigned char *src = malloc(max), *dst = malloc(max);
    CHECK(src && dst);
    uint64_t seed = 3;
    /* Random (incompressible), repetitive, zeros, text-like, and sizes that are not powers of two. */
    for (int kind = 0; kind < 4; kind++) {
        size_t lens[] = {1, 2, 100, 4096, 65535, 65536, max};
        for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
            size_t len = lens[li];
            if (kind == 0)
                unit_fill_random(src, len, &seed);
            else if (kind == 1)
                for (size_t i = 0; i < len; i++)
                    src[i] = (unsigned char)(i % 251);
            else if (kind == 2)
                memset(src, 0, len);
            else
                for (size_t i = 0; i < len; i++)
                    src[i] = (unsigned char)("slotkeeper "[i % 11] ^ (unit_rand(&seed) % 3 == 0));
            sk_hash_t h;
            sk_hash_compute(src, len, &h);
            size_t flen;
            unsigned char *frame = compress_copy(c, src, len, &flen);
            if (kind == 1 || kind == 2)
                CHECK(len < 4096 || flen < len / 10);
            memset(dst, 0xAA, max);
            CHECK_EQ(sk_codec_decompress_check(d, frame, flen, dst, len, &h), 0);
            CHECK(!memcmp(src, dst, len));
            /* The codec is reusable after a success. */
            CHECK_EQ(sk_codec_decompress_check(c, frame, flen, dst, len, &h), 0);
            free(frame);
        }
    }
    free(src);
    free(dst);
    sk_codec_free(c);
    sk_codec_free(d);
}

TEST(chunk_codec_rejects_damage)
{
    const size_t len = 16384;
    sk_codec_t *c = sk_codec_new(64 * 1024, 3);
    CHECK(c);
    unsigned char *src = malloc(len), *dst = malloc(2 * len);
    CHECK(src && dst);
    uint64_t seed = 11;
    /* Half random, half repetitive: the frame has both raw and compressed parts. */
    unit_fill_random(src, len / 2, &seed);
    for (size_t i = len / 2; i < len; i++)
        src[i] = (unsigned char)(i % 13);
    sk_hash_t h, other;
    sk_hash_compute(src, len, &h);
    size_t flen;
    unsigned char *frame = compress_copy(c, src, len, &flen);
    CHECK_EQ(sk_codec_decompress_check(c, frame, flen, dst, len, &h), 0);

    /* A flipped byte in the middle of the frame. */
    frame[flen / 2] ^= 0xff;
    CHECK_EQ(sk_codec_decompress_check(c, frame, flen, dst, len, &h), -EBADMSG);
    frame[flen / 2] ^= 0xff;
    CHECK_EQ(sk_codec_decompress_check(c, frame, flen, dst, len, &h), 0);

    /* A flipped byte anywhere: damage is reported, or (when zstd ignores that bit) the
     * output is still exactly the original. A success never hands back wrong bytes. */
    int detected = 0;
    for (size_t pos = 0; pos < flen; pos++) {
        for (int m = 0; m < 2; m++) {
            unsigned char mask = m ? 0xff : 0x01;
            frame[pos] ^= mask;
            memset(dst, 0x55, len);
            int rc = sk_codec_decompress_check(c, frame, flen, dst, len, &h);
            frame[pos] ^= mask;
            if (rc == 0) {
                if (memcmp(dst, src, len))
                    unit_fail(__FILE__, __LINE__, "byte %zu ^ 0x%02x: accepted with wrong output", pos, mask);
            } else {
                if (rc != -EBADMSG)
                    unit_fail(__FILE__, __LINE__, "byte %zu ^ 0x%02x: rc %d instead of -EBADMSG", pos, mask, rc);
                detected++;
            }
        }
    }
    CHECK(detected >= (int)flen);
    /* And the codec still works after all those failures. */
    CHECK_EQ(sk_codec_decompress_check(c, frame, flen, dst, len, &h), 0);

    /* Truncated frames, down to nothing. */
    for (size_t cut = 0; cut < flen; cut += (cut < 32 || flen - cut < 32) ? 1 : 97)
        CHECK_EQ(sk_codec_decompress_check(c, frame, cut, dst, len, &h), -EBADMSG);

    /* Trailing garbage: one byte, a zero byte, a second copy of the frame. */
    unsigned char *big = malloc(2 * flen + 1);
    CHECK(big);
    memcpy(big, frame, flen);
    big[flen] = 0x42;
    CHECK_EQ(sk_codec_decompress_check(c, big, flen + 1, dst, len, &h), -EBADMSG);
    big[flen] = 0;
    CHECK_EQ(sk_codec_decompress_check(c, big, flen + 1, dst, len, &h), -EBADMSG);
    memcpy(big + flen, frame, flen);
    CHECK_EQ(sk_codec_decompress_check(c, big, 2 * flen, dst, 2 * len, &h), -EBADMSG);
    free(big);

    /* Wrong expected size, smaller and larger (dst is big enough for both). */
    CHECK_EQ(sk_codec_decompress_check(c, frame, flen, dst, len - 1, &h), -EBADMSG);
    CHECK_EQ(sk_codec_decompress_check(c, frame, flen, dst, len + 1, &h), -EBADMSG);
    CHECK_EQ(sk_codec_decompress_check(c, frame, flen, dst, 0, &h), -EBADMSG);

    /* Wrong expected hash: another input's, and one bit off. */
    sk_hash_compute(src, len - 1, &other);
    CHECK_EQ(sk_codec_decompress_check(c, frame, flen, dst, len, &other), -EBADMSG);
    other = h;
    other.b[15] ^= 1;
    CHECK_EQ(sk_codec_decompress_check(c, frame, flen, dst, len, &other), -EBADMSG);

    /* Not a zstd frame at all. */
    CHECK_EQ(sk_codec_decompress_check(c, src, 64, dst, len, &h), -EBADMSG);

    CHECK_EQ(sk_codec_decompress_check(c, frame, flen, dst, len, &h), 0);
    CHECK(!memcmp(dst, src, len));
    free(frame);
    free(src);
    free(dst);
    sk_codec_free(c);
}

TEST(chunk_is_zero)
{
    /* Offsets 0..7 into an allocation, so the buffer is not always aligned. */
    const size_t lens[] = {0, 1, 2, 15, 16, 17, 31, 32, 33, 4095, 4096, 4097};
    unsigned char *mem = calloc(1, 4097 + 16);
    CHECK(mem);
    for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
        size_t len = lens[li];
        for (size_t align = 0; align < 8; align++) {
            unsigned char *p = mem + align;
            memset(mem, 0, 4097 + 16);
            CHECK(sk_is_zero(p, len));
            /* Non-zero bytes just outside the range do not count. */
            if (align)
                p[-1] = 1;
            p[len] = 1;
            CHECK(sk_is_zero(p, len));
            p[len] = 0;
            if (align)
                p[-1] = 0;
            for (size_t pos = 0; pos < len; pos++) {
                unsigned char v = (pos & 1) ? 0x80 : 0x01;
                p[pos] = v;
                if (sk_is_zero(p, len))
                    unit_fail(__FILE__, __LINE__, "sk_is_zero(len %zu, align %zu) missed byte 0x%02x at %zu", len,
                              align, v, pos);
                p[pos] = 0;
            }
            CHECK(sk_is_zero(p, len));
        }
    }
    free(mem);
}
