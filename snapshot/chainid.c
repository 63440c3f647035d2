/*
 * chainid: the chain id of a block log, a genesis.json or a data-dir (see chainid.h).
 *
 * The packing follows Leap's genesis_state (FC_REFLECT: initial_timestamp, initial_key,
 * initial_configuration) and chain_config_v0 (the field order of chain_config_v0's FC_REFLECT),
 * little-endian as fc::raw writes integers. Keys are nodeos's text forms: legacy "EOS" + base58
 * of the 33-byte key and the first 4 bytes of its RIPEMD-160, or "PUB_K1_"/"PUB_R1_" + base58 of
 * the key and the first 4 bytes of RIPEMD-160(key + "K1"/"R1"). The checksum is checked, as fc
 * does, so a mistyped key is refused rather than taken for another chain.
 */
#include "slotkeeper/chainid.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TOTEM_BYTE 0xff

bool sk_chainid_valid(const char *hex)
{
    if (!hex || strlen(hex) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
            return false;
    return true;
}

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void sk_chainid_of_packed(const unsigned char *genesis, size_t len, char hex[SK_CHAIN_ID_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(genesis, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        hex[0] = '\0';
        return;
    }
    to_hex(md, 32, hex);
}

#define CONFIG_V0_SIZE (8 + 14 * 4 + 2 * 2)

size_t sk_genesis_packed_len(const unsigned char *p, size_t n)
{
    size_t at = 8; /* initial_timestamp */
    if (n < at + 1)
        return 0;
    unsigned type = p[at++];
    if (type > 2)
        return 0;
    at += 33;
    if (type == 2) { /* webauthn: key, user presence, then a varint-sized rpid string */
        at += 1;
        uint64_t sz = 0;
        for (int shift = 0;; shift += 7) {
            if (at >= n || shift > 28)
                return 0;
            unsigned char c = p[at++];
            sz |= (uint64_t)(c & 0x7f) << shift;
            if (!(c & 0x80))
                break;
        }
        at += (size_t)sz;
    }
    at += CONFIG_V0_SIZE;
    return at <= n ? at : 0;
}

/* ---- base58 keys ---- */

static int ripemd160(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen, unsigned char out[20])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = c && EVP_DigestInit_ex(c, EVP_ripemd160(), NULL) == 1 && EVP_DigestUpdate(c, a, alen) == 1 &&
             (!blen || EVP_DigestUpdate(c, b, blen) == 1) && EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen == 20;
    EVP_MD_CTX_free(c);
    if (!ok)
        return -ENOSYS;
    memcpy(out, md, 20);
    return 0;
}

/* Decodes base58 text into exactly want bytes; -1 if it is not that. */
static int base58_decode(const char *s, unsigned char *out, size_t want)
{
    static const char alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    unsigned char buf[64] = {0};
    if (want > sizeof(buf))
        return -1;
    size_t zeros = 0;
    while (s[zeros] == '1')
        zeros++;
    for (const char *c = s; *c; c++) {
        const char *q = strchr(alphabet, *c);
        if (!q || !*c)
            return -1;
        unsigned carry = (unsigned)(q - alphabet);
        for (size_t i = sizeof(buf); i-- > 0;) {
            carry += 58U * buf[i];
            buf[i] = (unsigned char)(carry & 0xff);
            carry >>= 8;
        }
        if (carry)
            return -1;
    }
    size_t first = 0;
    while (first < sizeof(buf) && buf[first] == 0)
        first++;
    if (sizeof(buf) - first + zeros != want)
        return -1;
    memset(out, 0, zeros);
    memcpy(out + zeros, buf + first, sizeof(buf) - first);
    return 0;
}

/* A public key's text form as its packed variant (type byte + 33 bytes). */
static int pack_key(const char *s, unsigned char out[34], char *why, size_t whylen)
{
    const char *b58, *suffix = NULL;
    unsigned type;
    if (!strncmp(s, "PUB_K1_", 7)) {
        type = 0, b58 = s + 7, suffix = "K1";
    } else if (!strncmp(s, "PUB_R1_", 7)) {
        type = 1, b58 = s + 7, suffix = "R1";
    } else if (!strncmp(s, "EOS", 3)) {
        type = 0, b58 = s + 3;
    } else {
        snprintf(why, whylen, "initial_key '%.60s' is not an EOS..., PUB_K1_... or PUB_R1_... public key", s);
        return -EINVAL;
    }
    unsigned char raw[37], md[20];
    if (base58_decode(b58, raw, sizeof(raw)) < 0) {
        snprintf(why, whylen, "initial_key '%.60s' is not a base58 public key of 33 bytes and a checksum", s);
        return -EINVAL;
    }
    if (ripemd160(raw, 33, (const unsigned char *)suffix, suffix ? 2 : 0, md) < 0) {
        snprintf(why, whylen, "RIPEMD-160 is not available from libcrypto to check initial_key");
        return -EINVAL;
    }
    if (memcmp(md, raw + 33, 4)) {
        snprintf(why, whylen, "initial_key '%.60s': wrong checksum", s);
        return -EINVAL;
    }
    out[0] = (unsigned char)type;
    memcpy(out + 1, raw, 33);
    return 0;
}

/* ---- genesis.json ---- */

/* fc::time_point::from_iso_string: "YYYY-MM-DDTHH:MM:SS[.mmm]", as microseconds since the epoch. */
static int parse_time(const char *s, int64_t *us)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59 || y < 1970)
        return -1;
    const char *p = s + n;
    int ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        if (digits == 0 || digits > 3)
            return -1;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    if (*p == 'Z')
        p++;
    if (*p)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    *us = ((int64_t)timegm(&tm) * 1000 + ms) * 1000;
    return 0;
}

static unsigned char *put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
    return p + bytes;
}

/* chain_config_v0's fields in FC_REFLECT order, their sizes and nodeos's defaults (config.hpp). */
static const struct {
    const char *name;
    int bytes;
    uint64_t def;
} config_v0[] = {
    {"max_block_net_usage", 8, 1024 * 1024},
    {"target_block_net_usage_pct", 4, 1000},
    {"max_transaction_net_usage", 4, 512 * 1024},
    {"base_per_transaction_net_usage", 4, 12},
    {"net_usage_leeway", 4, 500},
    {"context_free_discount_net_usage_num", 4, 20},
    {"context_free_discount_net_usage_den", 4, 100},
    {"max_block_cpu_usage", 4, 200000},
    {"target_block_cpu_usage_pct", 4, 1000},
    {"max_transaction_cpu_usage", 4, 150000},
    {"min_transaction_cpu_usage", 4, 100},
    {"max_transaction_lifetime", 4, 3600},
    {"deferred_trx_expiration_window", 4, 600},
    {"max_transaction_delay", 4, 45 * 24 * 3600},
    {"max_inline_action_size", 4, 512 * 1024},
    {"max_inline_action_depth", 2, 4},
    {"max_authority_depth", 2, 6},
};

/* An unsigned integer of the given size from a JSON number or a decimal string (fc accepts both). */
static int json_uint(json_t *v, int bytes, uint64_t *out)
{
    uint64_t max = bytes == 8 ? UINT64_MAX : (1ULL << (8 * bytes)) - 1;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || (uint64_t)i > max)
            return -1;
        *out = (uint64_t)i;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        if (!*s || *s == '-' || *s == '+')
            return -1;
        unsigned long long u = strtoull(s, &end, 10);
        if (errno || *end || u > max)
            return -1;
        *out = u;
        return 0;
    }
    return -1;
}

int sk_genesis_pack(const char *text, size_t len, unsigned char *out, size_t *outlen, char *why, size_t whylen)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        snprintf(why, whylen, "not JSON: line %d: %s", je.line, je.text);
        return -EINVAL;
    }
    int rc = -EINVAL;
    unsigned char *p = out;
    if (!json_is_object(j)) {
        snprintf(why, whylen, "not a JSON object");
        goto out;
    }
    int64_t us = 1527854400LL * 1000000; /* nodeos's default: 2018-06-01T12:00:00 */
    json_t *v = json_object_get(j, "initial_timestamp");
    if (v && (!json_is_string(v) || parse_time(json_string_value(v), &us) < 0)) {
        snprintf(why, whylen, "initial_timestamp is not a time like \"2018-06-01T12:00:00.000\"");
        goto out;
    }
    p = put_le(p, (uint64_t)us, 8);
    v = json_object_get(j, "initial_key");
    if (v && !json_is_string(v)) {
        snprintf(why, whylen, "initial_key is not a string");
        goto out;
    }
    if (pack_key(v ? json_string_value(v) : "EOS6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5GDW5CV", p, why, whylen) <
        0)
        goto out;
    p += 34;
    json_t *cfg = json_object_get(j, "initial_configuration");
    if (cfg && !json_is_object(cfg)) {
        snprintf(why, whylen, "initial_configuration is not an object");
        goto out;
    }
    for (size_t i = 0; i < sizeof(config_v0) / sizeof(config_v0[0]); i++) {
        uint64_t val = config_v0[i].def;
        json_t *f = cfg ? json_object_get(cfg, config_v0[i].name) : NULL;
        if (f && json_uint(f, config_v0[i].bytes, &val) < 0) {
            snprintf(why, whylen, "initial_configuration.%s is not an unsigned %d-bit integer", config_v0[i].name,
                     8 * config_v0[i].bytes);
            goto out;
        }
        p = put_le(p, val, config_v0[i].bytes);
    }
    *outlen = (size_t)(p - out);
    rc = 0;
out:
    json_decref(j);
    return rc;
}

/* ---- files ---- */

static int read_head(int dirfd, const char *name, unsigned char *buf, size_t cap, size_t *got)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = S_ISREG(st.st_mode) ? -errno : -EINVAL;
        close(fd);
        return e;
    }
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = -errno;
            close(fd);
            return e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *got = n;
    return 0;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int sk_chainid_from_log(int dirfd, const char *name, char hex[SK_CHAIN_ID_HEX], sk_err_t *err)
{
    unsigned char pre[8 + SK_GENESIS_MAX + 8];
    size_t n = 0;
    int rc = read_head(dirfd, name, pre, sizeof(pre), &n);
    if (rc == -ENOENT || (rc == 0 && n == 0))
        return -ENOENT;
    if (rc < 0)
        return sk_err_set(err, rc, name, NULL);
    if (n < 4)
        return sk_err_set(err, -EBADMSG, name, "truncated block log preamble");
    uint32_t version = le32(pre) & 0x7fffffffU;
    if (version < 1 || version > 3)
        return sk_err_set(err, -EBADMSG, name, "block log version %u is not 1, 2 or 3", version);
    size_t at = 4;
    uint32_t first = 1;
    if (version != 1) {
        if (n < 8)
            return sk_err_set(err, -EBADMSG, name, "truncated block log preamble");
        first = le32(pre + 4);
        at = 8;
    }
    size_t glen = 0;
    if (version < 3 || first == 1) {
        glen = sk_genesis_packed_len(pre + at, n - at);
        if (!glen)
            return sk_err_set(err, -EBADMSG, name, "the block log preamble holds no genesis state nodeos could read");
        sk_chainid_of_packed(pre + at, glen, hex);
    } else {
        if (n < at + 32)
            return sk_err_set(err, -EBADMSG, name, "truncated block log preamble");
        to_hex(pre + at, 32, hex);
        glen = 32;
    }
    if (version != 1) {
        size_t t = at + glen;
        if (n < t + 8)
            return sk_err_set(err, -EBADMSG, name, "truncated block log preamble");
        for (int i = 0; i < 8; i++)
            if (pre[t + i] != TOTEM_BYTE)
                return sk_err_set(err, -EBADMSG, name, "no separator (totem) after the block log preamble at %zu", t);
    }
    if (!hex[0])
        return sk_err_set(err, -ENOSYS, name, "SHA-256 is not available from libcrypto");
    return 0;
}

int sk_chainid_from_genesis(int dirfd, const char *name, char hex[SK_CHAIN_ID_HEX], sk_err_t *err)
{
    enum { MAX = 64 * 1024 };
    char *buf = malloc(MAX);
    if (!buf)
        return sk_err_set(err, -ENOMEM, name, NULL);
    size_t n = 0;
    int rc = read_head(dirfd, name, (unsigned char *)buf, MAX, &n);
    if (rc == -ENOENT) {
        free(buf);
        return rc;
    }
    if (rc < 0) {
        free(buf);
        return sk_err_set(err, rc, name, NULL);
    }
    if (n == MAX) {
        free(buf);
        return sk_err_set(err, -EINVAL, name, "larger than %d bytes: not a genesis state", MAX);
    }
    unsigned char g[SK_GENESIS_MAX];
    size_t glen = 0;
    char why[256];
    rc = sk_genesis_pack(buf, n, g, &glen, why, sizeof(why));
    free(buf);
    if (rc < 0)
        return sk_err_set(err, rc, name, "%s", why);
    sk_chainid_of_packed(g, glen, hex);
    if (!hex[0])
        return sk_err_set(err, -ENOSYS, name, "SHA-256 is not available from libcrypto");
    return 0;
}

int sk_chainid_of_datadir(const char *dir, char hex[SK_CHAIN_ID_HEX], const char **source, sk_err_t *err)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return sk_err_errno(err, dir);
    char path[PATH_MAX];
    sk_err_t lerr, gerr;
    sk_err_clear(&lerr);
    sk_err_clear(&gerr);
    int lrc = sk_chainid_from_log(dfd, "blocks/blocks.log", hex, &lerr);
    if (lrc == 0) {
        close(dfd);
        if (source)
            *source = "blocks.log";
        return 0;
    }
    /* A damaged log (what a restore is for) leaves the genesis.json to tell the chain. */
    int grc = sk_chainid_from_genesis(dfd, "genesis.json", hex, &gerr);
    close(dfd);
    if (grc == 0) {
        if (source)
            *source = "genesis.json";
        return 0;
    }
    if (lrc != -ENOENT) {
        snprintf(path, sizeof(path), "%s/%s", dir, lerr.path);
        return sk_err_set(err, lrc, path, "%s", lerr.msg);
    }
    if (grc != -ENOENT) {
        snprintf(path, sizeof(path), "%s/%s", dir, gerr.path);
        return sk_err_set(err, grc, path, "%s", gerr.msg);
    }
    return -ENOENT;
}
