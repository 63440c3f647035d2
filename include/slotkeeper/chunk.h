/*
 * chunk: what a chunk is. A data-dir file is cut into fixed-size chunks at
 * aligned offsets; a chunk is named by the XXH3-128 of its uncompressed bytes
 * (32 lowercase hex digits, canonical big-endian form) and stored as one
 * standalone zstd frame that carries its content size and content checksum.
 *
 * sk_codec_t holds one thread's zstd contexts and buffers; create one per
 * worker thread. Every zstd return value is checked and translated here.
 */
#ifndef SLOTKEEPER_CHUNK_H
#define SLOTKEEPER_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SK_HASH_HEX_LEN 32

typedef struct sk_hash {
    uint8_t b[16];
} sk_hash_t;

void sk_hash_compute(const void *data, size_t len, sk_hash_t *out);
/* Writes 32 hex digits and a NUL into hex. */
void sk_hash_hex(const sk_hash_t *h, char hex[SK_HASH_HEX_LEN + 1]);
/* Parses exactly 32 lowercase hex digits; -EINVAL otherwise. */
int sk_hash_parse(const char *hex, sk_hash_t *out);
bool sk_hash_eq(const sk_hash_t *a, const sk_hash_t *b);

/* True if all len bytes are zero. */
bool sk_is_zero(const void *data, size_t len);

typedef struct sk_codec sk_codec_t;

/* A codec for chunks of at most max_chunk bytes, compressing at level. NULL on ENOMEM. */
sk_codec_t *sk_codec_new(uint32_t max_chunk, int level);
void sk_codec_free(sk_codec_t *c);

/* Compresses src into the codec's buffer; *out stays valid until the next call. */
int sk_codec_compress(sk_codec_t *c, const void *src, size_t len, const void **out, size_t *outlen);

/* Decompresses one frame of exactly expect bytes into dst (capacity >= expect) and
 * checks its XXH3-128 against want. -EBADMSG if the frame is damaged, has another
 * size, or the hash differs. */
int sk_codec_decompress_check(sk_codec_t *c, const void *src, size_t srclen, void *dst, size_t expect,
                              const sk_hash_t *want);

/* The largest compressed size a chunk of max_chunk bytes can have. */
size_t sk_codec_bound(uint32_t max_chunk);

#endif
