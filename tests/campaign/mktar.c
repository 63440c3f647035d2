/*
 * mktar: hand-crafts hostile tar and zstd streams for tests/campaign/hostile.sh, so that the
 * corpus does not depend on python3 or on what GNU tar/bsdtar agree to write.  Every command
 * writes to stdout; the script concatenates the pieces.
 *
 *   mktar hdr NAME TYPE SIZE [OPTIONS]   one tar header (512 bytes), preceded by a GNU 'L'/'K'
 *                                        record when NAME/--link is over 100 bytes (or --long pax:
 *                                        a pax 'x' record).  TYPE is the typeflag character:
 *                                        0 file, 1 hard link, 2 symlink, 3 char dev, 4 block dev,
 *                                        5 folder, 6 fifo.  SIZE is the size written in the header.
 *       --mode OCT  --uid N  --gid N  --mtime N  --link TARGET  --dev MAJ:MIN
 *       --size-b256 N     write the size field in GNU base-256 (N may be negative)
 *       --size-raw STR    write STR (at most 12 bytes) into the size field as it is
 *       --pax KEY=VALUE   add a record to a pax 'x' header written before this one (repeatable)
 *       --long gnu|pax    how to carry a name over 100 bytes (default gnu)
 *   mktar pad N           zero bytes that round N up to a multiple of 512
 *   mktar end             the two zero blocks that end an archive
 *   mktar fill HEXBYTE N  N bytes of HEXBYTE (N takes K, M, G suffixes)
 *   mktar many PREFIX N   N empty regular files PREFIX0000001, PREFIX0000002... (a tar bomb by
 *                         count: 512 bytes each)
 *   mktar zframe          standard input as one zstd frame of raw (stored) blocks
 *   mktar zrle HEXBYTE N  a zstd frame of RLE blocks expanding to N bytes of HEXBYTE: 4 bytes
 *                         per 128 KiB, so 8 GiB of zeros take 256 KiB (a decompression bomb)
 *
 * Concatenated zstd frames are one valid zstd stream.  Errors: "mktar: <reason>", exit 2.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLK 512

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "mktar: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

static void out(const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, stdout) != n)
        die("write error", NULL);
}

static uint64_t parse_size(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    switch (*end) {
    case 'K':
        v <<= 10;
        end++;
        break;
    case 'M':
        v <<= 20;
        end++;
        break;
    case 'G':
        v <<= 30;
        end++;
        break;
    default:
        break;
    }
    if (*end || end == s)
        die("bad number", s);
    return v;
}

/* A numeric field: octal with a NUL when it fits, all digits when one more fits (a 12-byte size
 * field then holds up to 64 GiB), else GNU base-256. */
static void octal(char *field, size_t width, uint64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%0*llo", (int)width - 1, (unsigned long long)v);
    if ((size_t)n <= width) {
        memcpy(field, tmp, (size_t)n);
        if ((size_t)n < width)
            field[n] = '\0';
        return;
    }
    unsigned char *f = (unsigned char *)field;
    for (size_t i = width; i-- > 1; v >>= 8)
        f[i] = (unsigned char)(v & 0xff);
    f[0] = 0x80;
}

static void finish_header(unsigned char *h)
{
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < BLK; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
}

static void simple_header(const char *name, char type, uint64_t size)
{
    unsigned char h[BLK] = {0};
    memcpy(h, name, strlen(name) < 100 ? strlen(name) : 99);
    octal((char *)h + 100, 8, 0644);
    octal((char *)h + 108, 8, 0);
    octal((char *)h + 116, 8, 0);
    octal((char *)h + 124, 12, size);
    octal((char *)h + 136, 12, 0);
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar  ", 8); /* GNU magic + version */
    finish_header(h);
    out(h, BLK);
}

static void pad(uint64_t n)
{
    static const unsigned char z[BLK];
    if (n % BLK)
        out(z, BLK - n % BLK);
}

/* A record that carries data: a GNU long name/link, or a pax extended header. */
static void data_record(const char *name, char type, const char *data, size_t len)
{
    simple_header(name, type, len);
    out(data, len);
    pad(len);
}

static char *pax_record(const char *kv)
{
    size_t l = strlen(kv) + 2; /* space and newline */
    size_t n = l + 1;
    for (;;) { /* the length counts its own digits */
        char d[32];
        size_t t = l + (size_t)snprintf(d, sizeof(d), "%zu", n);
        if (t == n)
            break;
        n = t;
    }
    char *r = malloc(n + 1);
    snprintf(r, n + 1, "%zu %s\n", n, kv);
    return r;
}

static int cmd_hdr(int argc, char **argv)
{
    if (argc < 5)
        die("usage: mktar hdr NAME TYPE SIZE [OPTIONS]", NULL);
    const char *name = argv[2], *link = "";
    char type = argv[3][0];
    uint64_t size = parse_size(argv[4]);
    unsigned long mode = 0644, uid = 0, gid = 0, mtime = 1700000000, maj = 0, min = 0;
    const char *size_raw = NULL, *longmode = "gnu";
    int b256 = 0;
    long long b256v = 0;
    char *pax = calloc(1, 1);
    size_t paxlen = 0;
    for (int i = 5; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            die("option needs a value", o);
        i++;
        if (!strcmp(o, "--mode"))
            mode = strtoul(v, NULL, 8);
        else if (!strcmp(o, "--uid"))
            uid = strtoul(v, NULL, 10);
        else if (!strcmp(o, "--gid"))
            gid = strtoul(v, NULL, 10);
        else if (!strcmp(o, "--mtime"))
            mtime = strtoul(v, NULL, 10);
        else if (!strcmp(o, "--link"))
            link = v;
        else if (!strcmp(o, "--dev")) {
            if (sscanf(v, "%lu:%lu", &maj, &min) != 2)
                die("bad --dev", v);
        } else if (!strcmp(o, "--size-b256")) {
            b256 = 1;
            b256v = strtoll(v, NULL, 0);
        } else if (!strcmp(o, "--size-raw"))
            size_raw = v;
        else if (!strcmp(o, "--long"))
            longmode = v;
        else if (!strcmp(o, "--pax")) {
            char *r = pax_record(v);
            pax = realloc(pax, paxlen + strlen(r) + 1);
            memcpy(pax + paxlen, r, strlen(r) + 1);
            paxlen += strlen(r);
            free(r);
        } else
            die("unknown option", o);
    }
    if (strlen(name) >= 100 || strlen(link) >= 100) {
        if (!strcmp(longmode, "pax")) {
            for (int k = 0; k < 2; k++) {
                const char *val = k ? link : name;
                if (strlen(val) < 100)
                    continue;
                char *kv = malloc(strlen(val) + 10);
                sprintf(kv, "%s=%s", k ? "linkpath" : "path", val);
                char *r = pax_record(kv);
                pax = realloc(pax, paxlen + strlen(r) + 1);
                memcpy(pax + paxlen, r, strlen(r) + 1);
                paxlen += strlen(r);
                free(r);
                free(kv);
            }
        } else {
            if (strlen(link) >= 100)
                data_record("././@LongLink", 'K', link, strlen(link) + 1);
            if (strlen(name) >= 100)
                data_record("././@LongLink", 'L', name, strlen(name) + 1);
        }
    }
    if (paxlen)
        data_record("PaxHeaders/x", 'x', pax, paxlen);
    unsigned char h[BLK] = {0};
    memcpy(h, name, strlen(name) < 100 ? strlen(name) : 100);
    octal((char *)h + 100, 8, mode);
    octal((char *)h + 108, 8, uid);
    octal((char *)h + 116, 8, gid);
    octal((char *)h + 124, 12, size);
    if (b256) { /* big-endian two's complement, first byte's top bit set */
        unsigned long long u = (unsigned long long)b256v;
        for (int i = 11; i >= 1; i--, u >>= 8)
            h[124 + i] = (unsigned char)(u & 0xff);
        h[124] = b256v < 0 ? 0xff : 0x80;
    }
    if (size_raw) {
        memset(h + 124, 0, 12);
        memcpy(h + 124, size_raw, strlen(size_raw) < 12 ? strlen(size_raw) : 12);
    }
    octal((char *)h + 136, 12, mtime);
    h[156] = (unsigned char)type;
    memcpy(h + 157, link, strlen(link) < 100 ? strlen(link) : 100);
    memcpy(h + 257, "ustar  ", 8);
    memcpy(h + 265, "root", 4);
    memcpy(h + 297, "root", 4);
    octal((char *)h + 329, 8, maj);
    octal((char *)h + 337, 8, min);
    finish_header(h);
    out(h, BLK);
    free(pax);
    return 0;
}

static void fill(int byte, uint64_t n)
{
    static unsigned char b[1 << 16];
    memset(b, byte, sizeof(b));
    while (n) {
        size_t k = n < sizeof(b) ? (size_t)n : sizeof(b);
        out(b, k);
        n -= k;
    }
}

/* Frame header: magic, descriptor 0 (no content size, no checksum, no dictionary, not single
 * segment), window descriptor 0x38 (128 KiB, the largest block). */
static void zhead(void)
{
    static const unsigned char h[] = {0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38};
    out(h, sizeof(h));
}

static void zblock(int last, int type, uint32_t size)
{
    uint32_t v = (uint32_t)last | ((uint32_t)type << 1) | (size << 3);
    unsigned char b[3] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff};
    out(b, 3);
}

#define ZMAX (128u * 1024)

static int cmd_zframe(void)
{
    static unsigned char buf[ZMAX];
    zhead();
    size_t n;
    int any = 0;
    unsigned char pending[ZMAX];
    size_t plen = 0;
    /* Keep one block back, so that the last one carries the Last_Block bit. */
    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
        if (any) {
            zblock(0, 0, (uint32_t)plen);
            out(pending, plen);
        }
        memcpy(pending, buf, n);
        plen = n;
        any = 1;
    }
    zblock(1, 0, (uint32_t)plen);
    out(pending, plen);
    return 0;
}

static int cmd_zrle(int byte, uint64_t n)
{
    zhead();
    unsigned char b = (unsigned char)byte;
    if (!n) {
        zblock(1, 0, 0);
        return 0;
    }
    while (n) {
        uint32_t k = n < ZMAX ? (uint32_t)n : ZMAX;
        n -= k;
        zblock(n == 0, 1, k);
        out(&b, 1);
    }
    return 0;
}

static void many(const char *prefix, uint64_t n)
{
    for (uint64_t i = 1; i <= n; i++) {
        char name[100];
        if (snprintf(name, sizeof(name), "%s%07llu", prefix, (unsigned long long)i) >= (int)sizeof(name))
            die("prefix too long", prefix);
        simple_header(name, '0', 0);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: mktar hdr|pad|end|fill|zframe|zrle ...", NULL);
    const char *c = argv[1];
    if (!strcmp(c, "hdr"))
        cmd_hdr(argc, argv);
    else if (!strcmp(c, "pad") && argc == 3)
        pad(parse_size(argv[2]));
    else if (!strcmp(c, "end") && argc == 2)
        fill(0, 2 * BLK);
    else if (!strcmp(c, "fill") && argc == 4)
        fill((int)strtol(argv[2], NULL, 16), parse_size(argv[3]));
    else if (!strcmp(c, "many") && argc == 4)
        many(argv[2], parse_size(argv[3]));
    else if (!strcmp(c, "zframe") && argc == 2)
        cmd_zframe();
    else if (!strcmp(c, "zrle") && argc == 4)
        cmd_zrle((int)strtol(argv[2], NULL, 16), parse_size(argv[3]));
    else
        die("bad command line", c);
    if (fflush(stdout) != 0)
        die("write error", NULL);
    return 0;
}
