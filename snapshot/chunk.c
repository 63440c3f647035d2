/*
 * chunk: chunk names (XXH3-128) and the zstd frame codec (see chunk.h).
 */
#include "slotkeeper/chunk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>
#include <zstd_errors.h>

struct sk_codec {
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    void *buf;
    size_t cap;
    int level;
};

void sk_hash_compute(const void *data, size_t len, sk_hash_t *out)
{
    XXH128_hash_t h = XXH3_128bits(data, len);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    memcpy(out->b, c.digest, sizeof(out->b));
}

void sk_hash_hex(const sk_hash_t *h, char hex[SK_HASH_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        hex[2 * i] = digits[h->b[i] >> 4];
        hex[2 * i + 1] = digits[h->b[i] & 15];
    }
    hex[SK_HASH_HEX_LEN] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int sk_hash_parse(const char *hex, sk_hash_t *out)
{
    for (int i = 0; i < 16; i++) {
        int hi = hexval(hex[2 * i]);
        if (hi < 0)
            return -EINVAL;
        int lo = hexval(hex[2 * i + 1]);
        if (lo < 0)
            return -EINVAL;
        out->b[i] = (uint8_t)(hi << 4 | lo);
    }
    return hex[SK_HASH_HEX_LEN] == '\0' ? 0 : -EINVAL;
}

bool sk_hash_eq(const sk_hash_t *a, const sk_hash_t *b)
{
    return memcmp(a->b, b->b, 16) == 0;
}

bool sk_is_zero(const void *data, size_t len)
{
    const unsigned char *p = data;
    /* Check a prefix byte by byte, then compare the buffer with itself shifted:
     * memcmp is vectorised and this touches each byte about twice. */
    size_t head = len < 16 ? len : 16;
    for (size_t i = 0; i < head; i++)
        if (p[i])
            return false;
    if (len <= 16)
        return true;
    return memcmp(p, p + 16, len - 16) == 0;
}

size_t sk_codec_bound(uint32_t max_chunk)
{
    return ZSTD_compressBound(max_chunk);
}

sk_codec_t *sk_codec_new(uint32_t max_chunk, int level)
{
    sk_codec_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->cap = ZSTD_compressBound(max_chunk);
    c->buf = malloc(c->cap);
    c->cctx = ZSTD_createCCtx();
    c->dctx = ZSTD_createDCtx();
    c->level = level;
    if (!c->buf || !c->cctx || !c->dctx)
        goto fail;
    if (ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_contentSizeFlag, 1)))
        goto fail;
    return c;
fail:
    sk_codec_free(c);
    return NULL;
}

void sk_codec_free(sk_codec_t *c)
{
    if (!c)
        return;
    ZSTD_freeCCtx(c->cctx);
    ZSTD_freeDCtx(c->dctx);
    free(c->buf);
    free(c);
}

int sk_codec_compress(sk_codec_t *c, const void *src, size_t len, const void **out, size_t *outlen)
{
    size_t n = ZSTD_compress2(c->cctx, c->buf, c->cap, src, len);
    if (ZSTD_isError(n)) {
        ZSTD_CCtx_reset(c->cctx, ZSTD_reset_session_only);
        return ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? -ENOMEM : -EIO;
    }
    *out = c->buf;
    *outlen = n;
    return 0;
}

int sk_codec_decompress_check(sk_codec_t *c, const void *src, size_t srclen, void *dst, size_t expect,
                              const sk_hash_t *want)
{
    unsigned long long fsize = ZSTD_getFrameContentSize(src, srclen);
    if (fsize == ZSTD_CONTENTSIZE_ERROR || fsize == ZSTD_CONTENTSIZE_UNKNOWN || fsize != expect)
        return -EBADMSG;
    /* The chunk must be exactly one frame: no trailing bytes, nothing missing. */
    size_t flen = ZSTD_findFrameCompressedSize(src, srclen);
    if (ZSTD_isError(flen) || flen != srclen)
        return -EBADMSG;
    size_t n = ZSTD_decompressDCtx(c->dctx, dst, expect, src, srclen);
    if (ZSTD_isError(n)) {
        ZSTD_DCtx_reset(c->dctx, ZSTD_reset_session_only);
        return ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? -ENOMEM : -EBADMSG;
    }
    if (n != expect)
        return -EBADMSG;
    sk_hash_t got;
    sk_hash_compute(dst, n, &got);
    if (!sk_hash_eq(&got, want))
        return -EBADMSG;
    return 0;
}
