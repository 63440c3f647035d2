/*
 * layouts: retained block bundles and state-history logs, read without booting nodeos (see
 * layouts.h). The formats and rules are AntelopeIO/leap v4.0.6's:
 *   - libraries/chain/block_log.cpp: the preamble (block_log_preamble::read_from), the pruned
 *     flag (bit 31 of the version) and its trailing u32 block count (punch_hole_block_log),
 *     partitioned_block_log::split_log (a new log of version 3 with the chain id and
 *     first_block_num = head + 1, when head % stride == 0);
 *   - include/eosio/chain/log_catalog.hpp: bundles named "<name>-<first>-<last>.log/.index"
 *     (log_catalog::add), the retained folder (open: relative to the log's folder, the log's folder
 *     itself when empty), the archive folder nodeos never reads again, a bundle whose index
 *     disagrees (index_matches_data: the entry count and the last position), overlapping bundles;
 *   - include/eosio/chain/log_index.hpp, log_data_base.hpp: an index is u64 offsets, its size a
 *     multiple of 8; a log's last 8 bytes (before a pruned log's u32 count) are the last entry's
 *     offset;
 *   - plugins/chain_plugin/chain_plugin.cpp L231-249, L644-666: the options, and the archive
 *     folder "archive" by default;
 *   - libraries/state_history/include/eosio/state_history/log.hpp: the state-history entry
 *     (state_history_log_header: u64 magic, block id, u64 payload size; payload; u64 offset of the
 *     entry), ship_magic ("ship" | version | features << 16, pruned = feature 1), get_last_block
 *     and recover_blocks (a cut tail is truncated back to the last whole entry), open_index (an
 *     index of the wrong size is regenerated), partition_config (retained folder "retained");
 *   - plugins/state_history_plugin/state_history_plugin.cpp L389-417: the options.
 * nodeos repairs some of these silently (it recreates a retained bundle's index, truncates a
 * state-history log's cut tail, regenerates its index); a data-dir in that shape has lost data or
 * was damaged after nodeos stopped, so check reports it as corrupt and names what nodeos would do.
 */
#include "slotkeeper/layouts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/buf.h"
#include "slotkeeper/fsutil.h"

#define TOTEM       0xFFFFFFFFFFFFFFFFULL
#define PRUNED_FLAG 0x80000000U
#define SHIP_HEADER 48
#define SHIP_NAME   0xc35d500000000000ULL /* "ship"_n.to_uint64_t() */
#define SHIP_PRUNED 1U                    /* ship_feature_pruned_log */
#define ENTRY_MIN   18                    /* a block entry holds at least the previous block's number at 14..17 */
#define CONFIG_MAX  (1 << 20)

const char *const sk_ship_log_names[2] = {"chain_state_history", "trace_history"};

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* A pair of open files and what reading them met. */
struct pair {
    int lfd, ifd;
    const char *log, *index;
    uint64_t lsize, isize;
    int io;             /* first read error */
    const char *io_rel; /* where */
};

static bool rd(struct pair *p, int fd, void *buf, size_t len, uint64_t off)
{
    if (off > (uint64_t)INT64_MAX - len)
        return false;
    ssize_t n = sk_pread_full(fd, buf, len, (off_t)off);
    if (n < 0 && !p->io) {
        p->io = (int)n;
        p->io_rel = fd == p->lfd ? p->log : p->index;
    }
    return n == (ssize_t)len;
}

static bool rd64(struct pair *p, int fd, uint64_t off, uint64_t *v)
{
    unsigned char b[8];
    if (!rd(p, fd, b, 8, off))
        return false;
    *v = le64(b);
    return true;
}

static int open_pair(struct pair *p, int dfd, const char *log, const char *index, char *problem, size_t plen)
{
    memset(p, 0, sizeof(*p));
    p->log = log;
    p->index = index;
    p->ifd = -1;
    p->lfd = sk_open_in_datadir(dfd, log, O_RDONLY);
    if (p->lfd < 0) {
        snprintf(problem, plen, "%s: %s", log,
                 p->lfd == -ELOOP ? "a symbolic link inside the data-dir (never followed)" : strerror(-p->lfd));
        return p->lfd == -ELOOP ? -EBADMSG : p->lfd;
    }
    struct stat st;
    if (fstat(p->lfd, &st) < 0) {
        int rc = -errno;
        snprintf(problem, plen, "%s: %s", log, strerror(-rc));
        close(p->lfd);
        return rc;
    }
    p->lsize = (uint64_t)st.st_size;
    p->ifd = sk_open_in_datadir(dfd, index, O_RDONLY);
    if (p->ifd >= 0 && fstat(p->ifd, &st) == 0) {
        p->isize = (uint64_t)st.st_size;
    } else if (p->ifd != -ENOENT) {
        int rc = p->ifd >= 0 ? -errno : p->ifd;
        snprintf(problem, plen, "%s: %s", index,
                 rc == -ELOOP ? "a symbolic link inside the data-dir (never followed)" : strerror(-rc));
        if (p->ifd >= 0)
            close(p->ifd);
        close(p->lfd);
        return rc == -ELOOP ? -EBADMSG : rc;
    }
    return 0;
}

static int close_pair(struct pair *p, int rc, char *problem, size_t plen)
{
    if (p->lfd >= 0)
        close(p->lfd);
    if (p->ifd >= 0)
        close(p->ifd);
    if (p->io) {
        snprintf(problem, plen, "%s: cannot read: %s", p->io_rel, strerror(-p->io));
        return p->io;
    }
    return rc;
}

#define BAD(...)                                                                                                       \
    do {                                                                                                               \
        snprintf(problem, plen, __VA_ARGS__);                                                                          \
        rc = -EBADMSG;                                                                                                 \
        goto out;                                                                                                      \
    } while (0)

/* Every index entry from skip on: block number, order, and the self-offset before it (deep). */
static int walk_blocks(struct pair *p, uint64_t entries, uint64_t skip, uint32_t first, uint64_t end, char *problem,
                       size_t plen)
{
    enum { BATCH = 4096 };
    unsigned char *buf = malloc(BATCH * 8);
    if (!buf)
        return -ENOMEM;
    int rc = 0;
    uint64_t prev = 0;
    for (uint64_t base = skip; base < entries && rc == 0; base += BATCH) {
        uint64_t n = entries - base < BATCH ? entries - base : BATCH;
        if (!rd(p, p->ifd, buf, (size_t)n * 8, base * 8))
            BAD("%s: cannot read entry %" PRIu64, p->index, base);
        for (uint64_t k = 0; k < n; k++) {
            uint64_t i = base + k, off = le64(buf + k * 8), before = 0;
            uint32_t want = first + (uint32_t)i;
            unsigned char num[4];
            if (i > skip && off <= prev)
                BAD("%s: entry %" PRIu64 " (block %u) goes backwards to %" PRIu64, p->index, i, want, off);
            if (off + ENTRY_MIN > end - 8 || !rd(p, p->lfd, num, 4, off + 14))
                BAD("%s: block %u: position %" PRIu64 " is past the end of the log", p->log, want, off);
            if (be32(num) + 1 != want)
                BAD("%s: block %u: the entry at %" PRIu64 " holds block %u", p->log, want, off, be32(num) + 1);
            if (i > skip && (!rd64(p, p->lfd, off - 8, &before) || before != prev))
                BAD("%s: block %u does not end with its own position", p->log, want - 1);
            prev = off;
        }
    }
out:
    free(buf);
    return rc;
}

int sk_blockfile_check(int dfd, const char *log, const char *index, bool deep, sk_logfile_info_t *fi, char *problem,
                       size_t plen)
{
    memset(fi, 0, sizeof(*fi));
    problem[0] = '\0';
    struct pair p;
    int rc = open_pair(&p, dfd, log, index, problem, plen);
    if (rc < 0)
        return rc;
    unsigned char pre[48];
    size_t n = p.lsize < sizeof(pre) ? (size_t)p.lsize : sizeof(pre);
    if (n < 8 || !rd(&p, p.lfd, pre, n, 0))
        BAD("%s: truncated preamble (%" PRIu64 " bytes)", log, p.lsize);
    uint32_t ver = le32(pre);
    fi->pruned = (ver & PRUNED_FLAG) != 0;
    ver &= ~PRUNED_FLAG;
    if (ver < 1 || ver > 3)
        BAD("%s: Unsupported version of block log. Block log version is %u while code supports version(s) [1,3]", log,
            ver);
    fi->first_block = ver == 1 ? 1 : le32(pre + 4);
    if (fi->first_block == 0)
        BAD("%s: first block number 0 in the preamble", log);
    uint64_t first_off = 0; /* 0: a genesis preamble, whose size only the index tells */
    if (ver == 3 && fi->first_block != 1) {
        if (n < 48)
            BAD("%s: truncated preamble (%" PRIu64 " bytes)", log, p.lsize);
        if (le64(pre + 40) != TOTEM)
            BAD("%s: Expected separator between block log header and blocks was not found", log);
        first_off = 48;
    }
    if (p.ifd < 0)
        BAD("%s: no index (%s); nodeos would rebuild it", log, index);
    if (p.isize % 8)
        BAD("%s: The size is not a multiple of sizeof(uint64_t) (%" PRIu64 " bytes)", index, p.isize);
    fi->entries = p.isize / 8;
    uint64_t end = fi->pruned ? p.lsize - 4 : p.lsize;
    if (fi->entries == 0) {
        if (first_off && p.lsize > first_off)
            BAD("%s: empty while %s holds blocks", index, log);
        goto out; /* a log that holds only its preamble */
    }
    uint64_t ifirst, ilast, tail;
    if (!rd64(&p, p.ifd, 0, &ifirst) || !rd64(&p, p.ifd, p.isize - 8, &ilast))
        BAD("%s: cannot read", index);
    if (first_off && ifirst != first_off)
        BAD("%s: the first block is at %" PRIu64 ", but the preamble of %s ends at %" PRIu64, index, ifirst, log,
            first_off);
    if (ver != 1 && (ifirst < 16 || !rd64(&p, p.lfd, ifirst - 8, &tail) || tail != TOTEM))
        BAD("%s: Expected separator between block log header and blocks was not found", log);
    if (end < ifirst + 8 || !rd64(&p, p.lfd, end - 8, &tail))
        BAD("%s: cut: %" PRIu64 " bytes, before the end of its first block", log, p.lsize);
    if (tail != ilast) {
        /* Does the log's tail point at a block of this log? Then the index is what disagrees
         * (nodeos's catalog would rebuild it); else the log's tail is cut or overwritten. */
        unsigned char tn[4];
        if (tail >= ifirst && tail + ENTRY_MIN <= end - 8 && rd(&p, p.lfd, tn, 4, tail + 14) &&
            be32(tn) + 1 >= fi->first_block && be32(tn) + 1 < fi->first_block + fi->entries + 1000000)
            BAD("%s: disagrees with %s: it ends at %" PRIu64 ", the log's last block (%u) is at %" PRIu64
                "; nodeos would rebuild it",
                index, log, ilast, be32(tn) + 1, tail);
        BAD("%s: tail cut or overwritten: %" PRIu64 " bytes, its last 8 bytes are not the position of the last "
            "block %s lists (%" PRIu64 ")",
            log, p.lsize, index, ilast);
    }
    unsigned char num[4];
    if (ilast < ifirst || ilast + ENTRY_MIN > end - 8 || !rd(&p, p.lfd, num, 4, ilast + 14))
        BAD("%s: Invalid block position %" PRIu64, log, ilast);
    fi->last_block = be32(num) + 1;
    if ((uint64_t)fi->last_block != fi->first_block + fi->entries - 1)
        BAD("%s: its last entry holds block %u, but %s lists blocks %u..%" PRIu64, log, fi->last_block, index,
            fi->first_block, fi->first_block + fi->entries - 1);
    uint64_t skip = 0;
    if (fi->pruned) {
        unsigned char c[4];
        if (!rd(&p, p.lfd, c, 4, p.lsize - 4))
            BAD("%s: cannot read the pruned block count", log);
        uint32_t count = le32(c);
        if (count == 0 || count > fi->entries)
            BAD("%s: pruned log says it keeps %u blocks, its index lists %" PRIu64, log, count, fi->entries);
        skip = fi->entries - count;
    }
    if (fi->entries - skip >= 2) {
        uint64_t prev, before;
        if (!rd64(&p, p.ifd, p.isize - 16, &prev) || !rd64(&p, p.lfd, ilast - 8, &before) || before != prev)
            BAD("%s: the entry before the last block does not end with its own position", log);
    }
    if (deep)
        rc = walk_blocks(&p, fi->entries, skip, fi->first_block, end, problem, plen);
out:
    return close_pair(&p, rc, problem, plen);
}

static bool is_ship(uint64_t magic)
{
    return (magic & 0xffffffff00000000ULL) == SHIP_NAME && (uint16_t)magic == 0;
}

int sk_shiplog_check(int dfd, const char *log, const char *index, bool deep, sk_logfile_info_t *fi, char *problem,
                     size_t plen)
{
    memset(fi, 0, sizeof(*fi));
    problem[0] = '\0';
    struct pair p;
    int rc = open_pair(&p, dfd, log, index, problem, plen);
    if (rc < 0)
        return rc;
    if (p.lsize == 0)
        goto out; /* nodeos made it; no block yet */
    unsigned char h[SHIP_HEADER];
    if (p.lsize < SHIP_HEADER || !rd(&p, p.lfd, h, SHIP_HEADER, 0))
        BAD("%s: corrupt: %" PRIu64 " bytes, less than one entry header", log, p.lsize);
    uint64_t magic = le64(h);
    if (!is_ship(magic))
        BAD("%s: corrupt: not a state-history log (magic %016" PRIx64 ")", log, magic);
    fi->pruned = (magic >> 16 & SHIP_PRUNED) != 0;
    fi->first_block = be32(h + 8);
    uint64_t end = fi->pruned ? p.lsize - 4 : p.lsize, suffix;
    const char *cut = "nodeos would truncate it to its last whole entry";
    if (end < SHIP_HEADER + 8 || !rd64(&p, p.lfd, end - 8, &suffix))
        BAD("%s: tail cut: %" PRIu64 " bytes, less than one entry; %s", log, p.lsize, cut);
    unsigned char lh[SHIP_HEADER];
    if (suffix + SHIP_HEADER + 8 > end || !rd(&p, p.lfd, lh, SHIP_HEADER, suffix) || !is_ship(le64(lh)) ||
        suffix + SHIP_HEADER + le64(lh + 40) + 8 != end)
        BAD("%s: tail cut: its last 8 bytes do not point at a whole last entry; %s", log, cut);
    fi->last_block = be32(lh + 8);
    if (fi->last_block < fi->first_block)
        BAD("%s: corrupt: the last entry holds block %u, before the first (%u)", log, fi->last_block, fi->first_block);
    uint64_t count = (uint64_t)fi->last_block - fi->first_block + 1;
    if (p.ifd < 0)
        BAD("%s: no index (%s); nodeos would regenerate it", log, index);
    fi->entries = p.isize / 8;
    uint64_t ilast = 0;
    if (p.isize % 8 || fi->entries != count)
        BAD("%s: disagrees with %s: %" PRIu64 " bytes, %" PRIu64 " for blocks %u..%u; nodeos would regenerate it",
            index, log, p.isize, count * 8, fi->first_block, fi->last_block);
    if (!rd64(&p, p.ifd, p.isize - 8, &ilast) || ilast != suffix)
        BAD("%s: disagrees with %s: its last entry is at %" PRIu64 ", the log's last block is at %" PRIu64
            "; nodeos would regenerate it",
            index, log, ilast, suffix);
    uint64_t skip = 0;
    if (fi->pruned) {
        unsigned char c[4];
        if (!rd(&p, p.lfd, c, 4, p.lsize - 4))
            BAD("%s: cannot read the pruned block count", log);
        if (le32(c) == 0 || le32(c) > count)
            BAD("%s: pruned log says it keeps %u blocks of %" PRIu64, log, le32(c), count);
        skip = count - le32(c);
    }
    if (deep) {
        uint64_t prev_end = 0;
        for (uint64_t i = skip; i < count; i++) {
            uint64_t pos, tail;
            if (!rd64(&p, p.ifd, i * 8, &pos))
                BAD("%s: cannot read entry %" PRIu64, index, i);
            if (pos + SHIP_HEADER + 8 > end || !rd(&p, p.lfd, h, SHIP_HEADER, pos) || !is_ship(le64(h)))
                BAD("%s: block %" PRIu64 ": no entry header at %" PRIu64, log, fi->first_block + i, pos);
            if (be32(h + 8) != fi->first_block + i)
                BAD("%s: the entry at %" PRIu64 " holds block %u, not %" PRIu64, log, pos, be32(h + 8),
                    fi->first_block + i);
            uint64_t next = pos + SHIP_HEADER + le64(h + 40) + 8;
            if (next > end || !rd64(&p, p.lfd, next - 8, &tail) || tail != pos || (i > skip && pos != prev_end))
                BAD("%s: block %" PRIu64 ": the entry at %" PRIu64 " does not end with its own position", log,
                    fi->first_block + i, pos);
            prev_end = next;
        }
    }
out:
    return close_pair(&p, rc, problem, plen);
}

/* ---- the data-dir's layout ---- */

struct bundle {
    uint32_t first, last;
    char name[192]; /* a folder of at most 127 characters, a name of at most 36 */
};

static int cmp_bundle(const void *a, const void *b)
{
    const struct bundle *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first ? 1 : x->last < y->last ? -1 : x->last > y->last;
}

/* "<prefix>-<first>-<last>.log" (log_catalog's regex: prefix-\d+-\d+\.log). */
static bool bundle_name(const char *name, const char *prefix, uint32_t *first, uint32_t *last)
{
    size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) || name[pl] != '-')
        return false;
    const char *s = name + pl + 1;
    uint64_t v[2];
    for (int k = 0; k < 2; k++) {
        if (*s < '0' || *s > '9')
            return false;
        v[k] = 0;
        while (*s >= '0' && *s <= '9') {
            v[k] = v[k] * 10 + (uint64_t)(*s++ - '0');
            if (v[k] > UINT32_MAX)
                return false;
        }
        if (k == 0 && *s++ != '-')
            return false;
    }
    if (strcmp(s, ".log"))
        return false;
    *first = (uint32_t)v[0];
    *last = (uint32_t)v[1];
    return true;
}

/* Appends the bundles named prefix-A-B.log in folder rel (relative to the data-dir) to b. A
 * missing folder adds none. */
static int list_bundles(int dfd, const char *rel, const char *prefix, struct bundle **b, size_t *n, size_t *cap,
                        char *problem, size_t plen)
{
    int fd = sk_open_in_datadir(dfd, rel, O_RDONLY | O_DIRECTORY);
    if (fd == -ENOENT || fd == -ENOTDIR)
        return 0;
    if (fd < 0) {
        snprintf(problem, plen, "%s: %s", rel,
                 fd == -ELOOP ? "a symbolic link inside the data-dir (never followed)" : strerror(-fd));
        return fd == -ELOOP ? -EBADMSG : fd;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        int rc = -errno;
        close(fd);
        snprintf(problem, plen, "%s: %s", rel, strerror(-rc));
        return rc;
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        uint32_t a, z;
        if (!bundle_name(e->d_name, prefix, &a, &z))
            continue;
        if (sk_grow(b, cap, *n + 1, sizeof(**b), 16) < 0) {
            rc = -ENOMEM;
            break;
        }
        struct bundle *x = &(*b)[(*n)++];
        x->first = a;
        x->last = z;
        if (snprintf(x->name, sizeof(x->name), "%s/%s", rel, e->d_name) >= (int)sizeof(x->name)) {
            snprintf(problem, plen, "%s/%s: name too long", rel, e->d_name);
            rc = -ENAMETOOLONG;
            break;
        }
    }
    closedir(d);
    return rc;
}

/* Checks bundles sorted by range: each against its name, in sequence; with ship, state-history
 * logs. Sets first and last to the range covered. */
static int check_bundles(int dfd, struct bundle *b, size_t n, bool ship, bool deep, uint32_t *first, uint32_t *last,
                         char *problem, size_t plen)
{
    if (n > 1)
        qsort(b, n, sizeof(*b), cmp_bundle);
    for (size_t i = 0; i < n; i++) {
        char index[200];
        size_t l = strlen(b[i].name);
        snprintf(index, sizeof(index), "%.*s.index", (int)(l - 4), b[i].name);
        sk_logfile_info_t fi;
        int rc = ship ? sk_shiplog_check(dfd, b[i].name, index, deep, &fi, problem, plen)
                      : sk_blockfile_check(dfd, b[i].name, index, deep, &fi, problem, plen);
        if (rc < 0)
            return rc == -EBADMSG ? 0 : rc;
        if (fi.first_block != b[i].first || fi.last_block != b[i].last) {
            snprintf(problem, plen, "%s: holds blocks %u..%u, not the %u..%u its name says", b[i].name, fi.first_block,
                     fi.last_block, b[i].first, b[i].last);
            return 0;
        }
        if (!ship && fi.pruned) {
            snprintf(problem, plen, "%s: a retained bundle in pruned format", b[i].name);
            return 0;
        }
        if (i > 0 && b[i].first != b[i - 1].last + 1) {
            snprintf(problem, plen, "%s: %s blocks %u..%u after %s (which ends at %u)", b[i].name,
                     b[i].first <= b[i - 1].last ? "overlaps: it starts again at" : "a gap: missing",
                     b[i].first <= b[i - 1].last ? b[i].first : b[i - 1].last + 1,
                     b[i].first <= b[i - 1].last ? b[i - 1].last : b[i].first - 1, b[i - 1].name, b[i - 1].last);
            return 0;
        }
    }
    *first = n ? b[0].first : 0;
    *last = n ? b[n - 1].last : 0;
    return 0;
}

/* A folder from config.ini (value) relative to base: "" when absolute (outside), or not plain. */
static void config_dir(const char *base, const char *value, char *out, size_t len, bool *outside)
{
    out[0] = '\0';
    if (value[0] == '/') {
        *outside = true;
        return;
    }
    int n = 0;
    if (!value[0] || !strcmp(value, "."))
        n = snprintf(out, len, "%s", base);
    else if (sk_path_plain(value))
        n = snprintf(out, len, "%s/%s", base, value);
    else
        *outside = true;
    if (n < 0 || (size_t)n >= len) { /* too long to be a folder of the data-dir we would name */
        out[0] = '\0';
        *outside = true;
    }
}

/* The values of config.ini's keys we need; missing ones stay "" (set: key present). */
struct cfg {
    char retained[128], archive[128], ship_dir[128], ship_retained[128];
    bool has_retained, has_archive, has_ship_dir, has_ship_retained, partitioned;
    uint32_t stride;
};

static void read_config(int dfd, struct cfg *c)
{
    memset(c, 0, sizeof(*c));
    char *buf = NULL;
    size_t len = 0;
    if (sk_read_file_at(dfd, "config.ini", CONFIG_MAX, &buf, &len) < 0)
        return; /* none (or not a plain file): the default folders */
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *eq = strchr(line, '=');
        if (!eq || line[0] == '#')
            continue;
        char *k = line, *ke = eq, *v = eq + 1;
        while (*k == ' ' || *k == '\t')
            k++;
        while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
            ke--;
        *ke = '\0';
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t' || v[vl - 1] == '\r'))
            v[--vl] = '\0';
        if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
            v[--vl] = '\0';
            v++;
        }
        if (!strcmp(k, "blocks-retained-dir")) {
            snprintf(c->retained, sizeof(c->retained), "%s", v);
            c->has_retained = c->partitioned = true;
        } else if (!strcmp(k, "blocks-archive-dir")) {
            snprintf(c->archive, sizeof(c->archive), "%s", v);
            c->has_archive = c->partitioned = true;
        } else if (!strcmp(k, "state-history-dir")) {
            snprintf(c->ship_dir, sizeof(c->ship_dir), "%s", v);
            c->has_ship_dir = true;
        } else if (!strcmp(k, "state-history-retained-dir")) {
            snprintf(c->ship_retained, sizeof(c->ship_retained), "%s", v);
            c->has_ship_retained = true;
        } else if (!strcmp(k, "blocks-log-stride")) {
            c->stride = (uint32_t)strtoul(v, NULL, 10);
            c->partitioned = true;
        } else if (!strcmp(k, "max-retained-block-files")) {
            c->partitioned = true;
        }
    }
    free(buf);
}

static int count_bundles(int dfd, const char *rel, const char *prefix, unsigned *count, char *problem, size_t plen)
{
    struct bundle *b = NULL;
    size_t n = 0, cap = 0;
    int rc = list_bundles(dfd, rel, prefix, &b, &n, &cap, problem, plen);
    free(b);
    *count = (unsigned)n;
    return rc;
}

int sk_layouts_check(int dfd, uint32_t main_first, bool deep, sk_layouts_info_t *li, char *problem, size_t plen)
{
    memset(li, 0, sizeof(*li));
    problem[0] = '\0';
    struct cfg c;
    read_config(dfd, &c);
    li->stride = c.stride;

    /* Retained block bundles: where config.ini says, else the blocks folder (nodeos's default)
     * and blocks/retained. */
    char dirs[2][128];
    size_t ndirs = 0;
    if (c.has_retained) {
        config_dir("blocks", c.retained, dirs[0], sizeof(dirs[0]), &li->outside);
        ndirs = dirs[0][0] ? 1 : 0;
    } else {
        snprintf(dirs[0], sizeof(dirs[0]), "blocks");
        snprintf(dirs[1], sizeof(dirs[1]), "blocks/retained");
        ndirs = 2;
    }
    struct bundle *b = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (size_t i = 0; i < ndirs && rc == 0; i++) {
        size_t before = n;
        rc = list_bundles(dfd, dirs[i], "blocks", &b, &n, &cap, problem, plen);
        if (n > before && !li->retained_dir[0])
            snprintf(li->retained_dir, sizeof(li->retained_dir), "%s", dirs[i]);
    }
    if (rc == 0) {
        li->retained_files = (unsigned)n;
        rc = check_bundles(dfd, b, n, false, deep, &li->retained_first, &li->retained_last, problem, plen);
    }
    free(b);
    if (rc < 0 || problem[0])
        return rc == -EBADMSG ? 0 : rc;
    if (li->retained_files && main_first && main_first != li->retained_last + 1) {
        snprintf(problem, plen, "blocks/blocks.log: starts at block %u, but the retained bundles end at %u (%s)",
                 main_first, li->retained_last, main_first <= li->retained_last ? "an overlap" : "a gap");
        return 0;
    }
    char archive[128] = "";
    if (c.has_archive)
        config_dir("blocks", c.archive, archive, sizeof(archive), &li->outside);
    else
        snprintf(archive, sizeof(archive), "blocks/archive");
    /* Counted for the report only: nodeos never reads the archive again, so an archive it cannot
     * list (a link to another disk, which is never followed here) is no verdict. */
    if (archive[0] && count_bundles(dfd, archive, "blocks", &li->archived_files, problem, plen) < 0) {
        li->archived_files = 0;
        problem[0] = '\0';
    }

    /* State history. */
    char ship[128] = "";
    bool ship_outside = false;
    config_dir("", c.has_ship_dir ? c.ship_dir : "state-history", ship, sizeof(ship), &ship_outside);
    if (ship_outside)
        li->outside = true;
    const char *sd = ship[0] == '/' ? ship + 1 : ship;
    if (!sd[0])
        return 0;
    /* The first component may be a link to another disk, as blocks/ and state/ may. */
    int sfd = sk_open_in_datadir(dfd, sd, O_RDONLY | O_DIRECTORY);
    if (sfd == -ENOENT || sfd == -ENOTDIR)
        return 0;
    if (sfd < 0) {
        snprintf(problem, plen, "%s: %s", sd,
                 sfd == -ELOOP ? "a symbolic link inside the data-dir (never followed)" : strerror(-sfd));
        return sfd == -ELOOP ? 0 : sfd;
    }
    close(sfd);
    snprintf(li->ship_dir, sizeof(li->ship_dir), "%s", sd);
    for (int k = 0; k < 2; k++) {
        sk_ship_info_t *si = &li->ship[k];
        char log[192], index[192], ret[192];
        snprintf(log, sizeof(log), "%s/%s.log", sd, sk_ship_log_names[k]);
        snprintf(index, sizeof(index), "%s/%s.index", sd, sk_ship_log_names[k]);
        /* state-history-retained-dir: relative to the state-history folder, "retained" by default
         * (partition_config); the folder itself is looked at too when it is not set. */
        config_dir(sd, c.has_ship_retained ? c.ship_retained : "retained", ret, sizeof(ret), &li->outside);
        struct bundle *sb = NULL;
        size_t sn = 0, scap = 0;
        rc = c.has_ship_retained ? 0 : list_bundles(dfd, sd, sk_ship_log_names[k], &sb, &sn, &scap, problem, plen);
        if (rc == 0 && ret[0] && strcmp(ret, sd))
            rc = list_bundles(dfd, ret, sk_ship_log_names[k], &sb, &sn, &scap, problem, plen);
        else if (rc == 0 && ret[0] && c.has_ship_retained)
            rc = list_bundles(dfd, sd, sk_ship_log_names[k], &sb, &sn, &scap, problem, plen);
        uint32_t rf = 0, rl = 0;
        if (rc == 0)
            rc = check_bundles(dfd, sb, sn, true, deep, &rf, &rl, problem, plen);
        free(sb);
        if (rc < 0 || problem[0])
            return rc == -EBADMSG ? 0 : rc;
        si->retained_files = (unsigned)sn;
        sk_logfile_info_t fi;
        rc = sk_shiplog_check(dfd, log, index, deep, &fi, problem, plen);
        if (rc == -ENOENT) {
            problem[0] = '\0';
            si->present = sn > 0;
            si->first_block = rf;
            si->last_block = rl;
            continue;
        }
        if (rc < 0)
            return rc == -EBADMSG ? 0 : rc;
        si->present = true;
        si->pruned = fi.pruned;
        if (sn && fi.first_block && fi.first_block != rl + 1) {
            snprintf(problem, plen, "%s: starts at block %u, but its retained bundles end at %u (%s)", log,
                     fi.first_block, rl, fi.first_block <= rl ? "an overlap" : "a gap");
            return 0;
        }
        si->first_block = sn ? rf : fi.first_block;
        si->last_block = fi.last_block ? fi.last_block : rl;
    }
    return 0;
}
