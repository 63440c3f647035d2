/*
 * carry: the helpers of append-aware incremental snapshots (see carry.h): which files nodeos
 * only appends to, the frozen-origin list of a frozen copy, and the structural check of a
 * log and its index where a carried prefix ends.
 */
#include "slotkeeper/carry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/buf.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/paths.h"

/* ---- the frozen origin --------------------------------------------------- */

static int cmp_origin(const void *a, const void *b)
{
    return strcmp(((const sk_origin_file_t *)a)->path, ((const sk_origin_file_t *)b)->path);
}

void sk_origin_free(sk_origin_t *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++)
        free(o->f[i].path);
    free(o->f);
    free(o);
}

/* A decimal number without sign or leading zeros, ending at a space. */
static const char *parse_num(const char *p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    const char *s = p;
    while (p < end && *p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return NULL;
        v = v * 10 + d;
        p++;
    }
    if (p == s || (p - s > 1 && *s == '0') || p >= end || *p != ' ')
        return NULL;
    *out = v;
    return p + 1;
}

int sk_origin_parse(const char *buf, size_t len, sk_origin_t **out, char *why, size_t whylen)
{
    static const char head[] = "slotkeeper-frozen-origin 1\n";
    *out = NULL;
    if (len < sizeof(head) - 1 || memcmp(buf, head, sizeof(head) - 1)) {
        snprintf(why, whylen, "line 1: not a 'slotkeeper-frozen-origin 1' file");
        return -EBADMSG;
    }
    sk_origin_t *o = calloc(1, sizeof(*o));
    if (!o)
        return -ENOMEM;
    size_t cap = 0, line = 1;
    const char *p = buf + sizeof(head) - 1, *end = buf + len;
    int rc = 0;
    while (p < end) {
        line++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            snprintf(why, whylen, "line %zu: unterminated line", line);
            rc = -EBADMSG;
            break;
        }
        sk_origin_file_t f = {0};
        const char *q = p;
        if (!(q = parse_num(q, nl, &f.dev)) || !(q = parse_num(q, nl, &f.ino)) || !(q = parse_num(q, nl, &f.size)) ||
            !(q = parse_num(q, nl, &f.mtime_ns))) {
            snprintf(why, whylen, "line %zu: expected '<st_dev> <st_ino> <size> <mtime_ns> <relpath>'", line);
            rc = -EBADMSG;
            break;
        }
        size_t n = (size_t)(nl - q);
        if (n == 0 || n >= PATH_MAX || memchr(q, '\0', n)) {
            snprintf(why, whylen, "line %zu: bad path", line);
            rc = -EBADMSG;
            break;
        }
        if (sk_grow(&o->f, &cap, o->n + 1, sizeof(*o->f), 16) < 0 || !(f.path = strndup(q, n))) {
            rc = -ENOMEM;
            break;
        }
        if (!sk_path_plain(f.path)) {
            free(f.path);
            snprintf(why, whylen, "line %zu: bad path", line);
            rc = -EBADMSG;
            break;
        }
        o->f[o->n++] = f;
        p = nl + 1;
    }
    if (rc == 0 && o->n) {
        qsort(o->f, o->n, sizeof(*o->f), cmp_origin);
        for (size_t i = 1; i < o->n; i++)
            if (!strcmp(o->f[i - 1].path, o->f[i].path)) {
                snprintf(why, whylen, "'%s' listed twice", o->f[i].path);
                rc = -EBADMSG;
                break;
            }
    }
    if (rc < 0) {
        sk_origin_free(o);
        return rc;
    }
    *out = o;
    return 0;
}

int sk_origin_load(int datafd, const char *data_dir, sk_origin_t **out, sk_err_t *err)
{
    char full[PATH_MAX];
    sk_path_join(full, sizeof(full), data_dir, SK_FROZEN_ORIGIN);
    *out = NULL;
    int fd = sk_open_beneath(datafd, SK_FROZEN_ORIGIN, O_RDONLY, 0);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return sk_err_set(err, fd, full, "%s", sk_beneath_strerror(fd));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int rc = sk_err_errno(err, full);
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > SK_FROZEN_ORIGIN_MAX) {
        close(fd);
        return sk_err_set(err, -EBADMSG, full, "not a regular file of at most 64 MiB");
    }
    size_t len = (size_t)st.st_size;
    char *buf = malloc(len ? len : 1);
    if (!buf) {
        close(fd);
        return sk_err_set(err, -ENOMEM, full, NULL);
    }
    ssize_t n = sk_pread_full(fd, buf, len, 0);
    close(fd);
    if (n < 0 || (size_t)n != len) {
        free(buf);
        return sk_err_set(err, n < 0 ? (int)n : -EIO, full, n < 0 ? NULL : "changed while being read");
    }
    char why[256] = "";
    int rc = sk_origin_parse(buf, len, out, why, sizeof(why));
    free(buf);
    if (rc == -EBADMSG)
        return sk_err_set(err, rc, full, "%s", why);
    if (rc < 0)
        return sk_err_set(err, rc, full, NULL);
    return 0;
}

const sk_origin_file_t *sk_origin_find(const sk_origin_t *o, const char *relpath)
{
    if (!o)
        return NULL;
    size_t lo = 0, hi = o->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(o->f[mid].path, relpath);
        if (c == 0)
            return &o->f[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- names --------------------------------------------------------------- */

/* "<stem>-<digits>-<digits>" */
static bool strided(const char *s, size_t n)
{
    size_t i = n, dashes = 0;
    while (i > 0 && dashes < 2) {
        size_t d = 0;
        while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9') {
            i--;
            d++;
        }
        if (d == 0 || i == 0 || s[i - 1] != '-')
            return false;
        i--;
        dashes++;
    }
    return dashes == 2 && i > 0;
}

int sk_carry_kind(const char *relpath)
{
    const char *base = strrchr(relpath, '/');
    base = base ? base + 1 : relpath;
    size_t n = strlen(base);
    int index = 0;
    size_t stem;
    if (n > 4 && !strcmp(base + n - 4, ".log"))
        stem = n - 4;
    else if (n > 6 && !strcmp(base + n - 6, ".index"))
        stem = n - 6, index = SK_CARRY_INDEX;
    else
        return 0;
    bool in_ship = !strncmp(relpath, "state-history/", 14) || strstr(relpath, "/state-history/");
    if (stem == 6 && !strncmp(base, "blocks", 6))
        return SK_CARRY_APPEND | SK_CARRY_BLOCKLOG | index | (index ? 0 : SK_CARRY_PRUNABLE);
    if (stem > 6 && !strncmp(base, "blocks-", 7) && strided(base, stem))
        return SK_CARRY_APPEND | SK_CARRY_BLOCKLOG | index;
    if (in_ship)
        return SK_CARRY_APPEND | index | (index || strided(base, stem) ? 0 : SK_CARRY_PRUNABLE);
    return 0;
}

int sk_carry_companion(const char *relpath, char *out, size_t len)
{
    size_t n = strlen(relpath);
    int w;
    if (n > 4 && !strcmp(relpath + n - 4, ".log"))
        w = snprintf(out, len, "%.*s.index", (int)(n - 4), relpath);
    else if (n > 6 && !strcmp(relpath + n - 6, ".index"))
        w = snprintf(out, len, "%.*s.log", (int)(n - 6), relpath);
    else
        return -EINVAL;
    return w < 0 || (size_t)w >= len ? -ENAMETOOLONG : 0;
}

/* ---- the structure where a prefix ends ----------------------------------- */

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static bool rd64(int fd, uint64_t off, uint64_t *v)
{
    unsigned char b[8];
    if (sk_pread_full(fd, b, 8, (off_t)off) != 8)
        return false;
    *v = le64(b);
    return true;
}

struct pair {
    int lfd, ifd;
    uint64_t lsize, n; /* n: index entries */
    uint64_t end;      /* where the last entry's trailing position is: lsize - 8, or - 12 when pruned */
    bool blocklog;
    uint32_t first_block;
    char *why;
    size_t whylen;
};

/* Entry i of the index starts where the index says (see sk_carry_log_sound). */
static bool entry_sound(struct pair *p, uint64_t i)
{
    uint64_t off, next_pos, v;
    if (!rd64(p->ifd, i * 8, &off)) {
        snprintf(p->why, p->whylen, "index entry %llu unreadable", (unsigned long long)i);
        return false;
    }
    if (i + 1 < p->n) {
        if (!rd64(p->ifd, (i + 1) * 8, &next_pos) || next_pos < off + 8 + 18 || next_pos > p->lsize) {
            snprintf(p->why, p->whylen, "index entry %llu is out of order", (unsigned long long)(i + 1));
            return false;
        }
        next_pos -= 8;
    } else {
        next_pos = p->end;
    }
    if (off + 18 > next_pos || !rd64(p->lfd, next_pos, &v) || v != off) {
        snprintf(p->why, p->whylen, "the entry at %llu (index slot %llu) does not end with its own position",
                 (unsigned long long)off, (unsigned long long)i);
        return false;
    }
    if (i > 0) {
        uint64_t prev;
        if (!rd64(p->ifd, (i - 1) * 8, &prev) || off < 8 || !rd64(p->lfd, off - 8, &v) || v != prev) {
            snprintf(p->why, p->whylen, "the entry before %llu does not end with its own position",
                     (unsigned long long)off);
            return false;
        }
    }
    if (p->blocklog) {
        unsigned char num[4];
        if (sk_pread_full(p->lfd, num, 4, (off_t)(off + 14)) != 4 ||
            ((uint32_t)num[0] << 24 | (uint32_t)num[1] << 16 | (uint32_t)num[2] << 8 | num[3]) + 1 !=
                p->first_block + (uint32_t)i) {
            snprintf(p->why, p->whylen, "the entry at %llu does not hold block %llu", (unsigned long long)off,
                     (unsigned long long)(p->first_block + i));
            return false;
        }
    }
    return true;
}

bool sk_carry_log_sound(int lfd, uint64_t lsize, int ifd, uint64_t isize, bool blocklog, uint64_t log_limit,
                        uint64_t index_limit, char *why, size_t whylen)
{
    struct pair p = {.lfd = lfd,
                     .ifd = ifd,
                     .lsize = lsize,
                     .n = isize / 8,
                     .blocklog = blocklog,
                     .why = why,
                     .whylen = whylen,
                     .first_block = 1};
    if (isize % 8 || p.n == 0 || lsize < 64) {
        snprintf(why, whylen, "no index entries to check against");
        return false;
    }
    unsigned char pre[8];
    if (sk_pread_full(lfd, pre, 8, 0) != 8) {
        snprintf(why, whylen, "unreadable preamble");
        return false;
    }
    uint32_t ver = (uint32_t)le64(pre);
    bool pruned = false;
    if (blocklog) {
        pruned = (ver & 0x80000000U) != 0;
        ver &= 0x7fffffffU;
        if (ver >= 2 && ver <= 3)
            p.first_block = (uint32_t)(le64(pre) >> 32);
    } else {
        /* a state-history log's first header: its magic "ship" with the pruned feature (bit 16) */
        pruned = (le64(pre) & 0xffffffff00000000ULL) != 0 && (le64(pre) & 0x10000ULL);
    }
    p.end = lsize - 8 - (pruned ? 4 : 0);
    if (log_limit) {
        /* the last entry that starts below log_limit: the index is increasing */
        uint64_t lo = 0, hi = p.n, off;
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            if (!rd64(ifd, mid * 8, &off)) {
                snprintf(why, whylen, "index unreadable");
                return false;
            }
            if (off < log_limit)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == 0) {
            snprintf(why, whylen, "no entry starts in the carried prefix");
            return false;
        }
        if (!entry_sound(&p, lo - 1))
            return false;
    }
    if (index_limit) {
        if (index_limit < 8 || index_limit / 8 > p.n) {
            snprintf(why, whylen, "the index is shorter than its carried prefix");
            return false;
        }
        if (!entry_sound(&p, index_limit / 8 - 1))
            return false;
    }
    return true;
}
