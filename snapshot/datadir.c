/*
 * datadir: diagnoses a nodeos data-dir without booting nodeos (see datadir.h).
 * Facts first (state header, lock, block log and index, fork database), then
 * the verdict by precedence, so a report always carries everything it found.
 */
#include "slotkeeper/datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/chainid.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/nodeos.h"
#include "slotkeeper/restore.h"

#define TOTEM            0xFFFFFFFFFFFFFFFFULL
#define FORK_DB_MAGIC    0x30510FDBU
#define CHAIN_HEAD_MAGIC 0xf1f2f3f4f4f3f2f1ULL

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

/* The first error reading a file during this thread's check: an I/O error is never a verdict
 * (a data-dir that cannot be read is not thereby damaged), so the check reports it instead. */
static _Thread_local int read_error;

/* Reads exactly len bytes at off; false if the file is shorter or unreadable. */
static bool read_exact(int fd, void *buf, size_t len, uint64_t off)
{
    if (off > (uint64_t)INT64_MAX - len)
        return false; /* a damaged offset, not an I/O error */
    ssize_t n = sk_pread_full(fd, buf, len, (off_t)off);
    if (n < 0 && n != -EINVAL && !read_error)
        read_error = (int)n;
    return n == (ssize_t)len;
}

/* What opening the data-dir's files met: the first I/O error, and the first symbolic link
 * below a top-level folder (never followed). */
struct probe {
    int dfd;
    int io;
    char io_rel[64];
    char link_rel[64];
};

/* Opens rel (e.g. "state/shared_memory.bin") in the data-dir. Its first component may be a
 * symbolic link (a folder on another disk, which snapshot follows too); nothing below it is
 * followed. A missing file is -ENOENT; a link or an I/O error is recorded in pr. */
static int open_data(struct probe *pr, const char *rel, int flags)
{
    int fd = sk_open_in_datadir(pr->dfd, rel, flags);
    if (fd == -ELOOP && !pr->link_rel[0])
        snprintf(pr->link_rel, sizeof(pr->link_rel), "%s", rel);
    else if (fd < 0 && fd != -ENOENT && fd != -ENOTDIR && fd != -ELOOP && !pr->io) {
        pr->io = fd;
        snprintf(pr->io_rel, sizeof(pr->io_rel), "%s", rel);
    }
    return fd < 0 ? (fd == -ELOOP || fd == -ENOTDIR ? -ENOENT : fd) : fd;
}

static bool read_u64(int fd, uint64_t off, uint64_t *v)
{
    unsigned char b[8];
    if (!read_exact(fd, b, 8, off))
        return false;
    *v = le64(b);
    return true;
}

const char *sk_verdict_name(sk_verdict_t v)
{
    static const char *names[] = {"clean", "running", "dirty", "incompatible", "corrupt", "missing", "restoring"};
    return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "unknown";
}

int sk_datadir_flock(int fd, const char *dir, bool exclusive, sk_err_t *err)
{
    int rc;
    do
        rc = flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
    while (rc < 0 && errno == EINTR);
    if (rc == 0)
        return 0;
    if (errno != EWOULDBLOCK)
        return sk_err_errno(err, dir);
    return sk_err_set(err, -EBUSY, dir,
                      exclusive ? "in use by another slotkeeper operation (a snapshot, restore or deep check); "
                                  "try again when it ends"
                                : "a restore is running on it; try again when it ends");
}

int sk_datadir_lock(const char *dir, bool exclusive, int *fdp, sk_err_t *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return sk_err_errno(err, dir);
    int rc = sk_datadir_flock(fd, dir, exclusive, err);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *fdp = fd;
    return 0;
}

bool sk_verdict_needs_restore(sk_verdict_t v)
{
    return v == SK_VERDICT_DIRTY || v == SK_VERDICT_CORRUPT || v == SK_VERDICT_INCOMPATIBLE ||
           v == SK_VERDICT_MISSING || v == SK_VERDICT_RESTORING;
}

void sk_env_to_hex(const unsigned char env[SK_STATE_ENV_SIZE], char *hex)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < SK_STATE_ENV_SIZE; i++) {
        hex[2 * i] = d[env[i] >> 4];
        hex[2 * i + 1] = d[env[i] & 15];
    }
    hex[2 * SK_STATE_ENV_SIZE] = '\0';
}

int sk_env_from_hex(const char *hex, unsigned char env[SK_STATE_ENV_SIZE])
{
    if (strlen(hex) != 2 * SK_STATE_ENV_SIZE)
        return -EINVAL;
    for (size_t i = 0; i < SK_STATE_ENV_SIZE; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (x < 0)
                return -EINVAL;
            v = v << 4 | x;
        }
        env[i] = (unsigned char)v;
    }
    return 0;
}

static bool known_id(const unsigned char *h)
{
    return !memcmp(h, "EOSIODB2", 8) || !memcmp(h, "EOSIODB3", 8) || !memcmp(h, "CHAINB01", 8);
}

static void parse_header(const unsigned char *h, sk_state_info_t *s)
{
    for (int i = 0; i < 8; i++)
        s->id[i] = h[i] >= 0x20 && h[i] < 0x7f ? (char)h[i] : '?';
    s->id[8] = '\0';
    s->has_header = known_id(h);
    s->dirty = h[8];
    s->debug = h[9];
    s->os = h[10];
    s->arch = h[11];
    s->boost_version = le32(h + 12);
    memcpy(s->compiler, h + 528, 256);
    s->compiler[256] = '\0';
    for (char *c = s->compiler; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            *c = '?';
    memcpy(s->env, h + SK_STATE_ENV_OFFSET, SK_STATE_ENV_SIZE);
}

int sk_state_read_env(const char *path, unsigned char env[SK_STATE_ENV_SIZE], sk_err_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sk_err_errno(err, path);
    unsigned char h[SK_STATE_HEADER_SIZE];
    bool ok = read_exact(fd, h, sizeof(h), 0);
    close(fd);
    if (!ok || !known_id(h))
        return sk_err_set(err, -EBADMSG, path, "not a chainbase state file (no known header)");
    memcpy(env, h + SK_STATE_ENV_OFFSET, SK_STATE_ENV_SIZE);
    return 0;
}

/* Finds the 8-byte totem in the first 64 KiB after offset 8 (genesis preambles have no fixed size). */
static uint64_t find_totem(int fd, uint64_t log_size)
{
    size_t n = log_size < 65536 ? (size_t)log_size : 65536;
    unsigned char *b = malloc(n);
    uint64_t at = 0;
    if (b && read_exact(fd, b, n, 0)) {
        for (size_t i = 8; i + 8 <= n; i++) {
            if (b[i] == 0xff && le64(b + i) == TOTEM) {
                at = i;
                break;
            }
        }
    }
    free(b);
    return at;
}

/* Walks every index entry (deep check); returns false with problem/bad_off set at the first inconsistency. */
static bool walk_index(int lfd, int ifd, sk_blocklog_info_t *b, uint64_t skip, bool has_totem, char *problem,
                       size_t plen, uint64_t *bad_off)
{
    enum { BATCH = 4096 };
    unsigned char *buf = malloc(BATCH * 8);
    if (!buf) {
        snprintf(problem, plen, "out of memory");
        return false;
    }
    uint64_t prev = 0;
    bool ok = true;
    uint64_t end = b->pruned ? b->log_size - 4 : b->log_size;
    for (uint64_t base = skip; base < b->blocks && ok; base += BATCH) {
        uint64_t n = b->blocks - base < BATCH ? b->blocks - base : BATCH;
        if (!read_exact(ifd, buf, (size_t)n * 8, base * 8)) {
            snprintf(problem, plen, "blocks.index: cannot read entry %llu", (unsigned long long)base);
            ok = false;
            break;
        }
        for (uint64_t k = 0; k < n; k++) {
            uint64_t i = base + k, off = le64(buf + k * 8);
            unsigned char num[4];
            uint64_t before = 0;
            uint32_t want = b->first_block + (uint32_t)i;
            if (i > skip && off <= prev) {
                snprintf(problem, plen, "blocks.index entry %llu (block %u) goes backwards to %llu",
                         (unsigned long long)i, want, (unsigned long long)off);
            } else if (off + 18 > end - 8 || !read_exact(lfd, num, 4, off + 14)) {
                snprintf(problem, plen, "block %u: position %llu is past the end of blocks.log", want,
                         (unsigned long long)off);
            } else if (be32(num) + 1 != want) {
                snprintf(problem, plen, "block %u: the entry at %llu holds block %u", want, (unsigned long long)off,
                         be32(num) + 1);
            } else if (i > skip && (!read_u64(lfd, off - 8, &before) || before != prev)) {
                snprintf(problem, plen, "block %u: the self-offset before %llu is %llu, not the previous block's %llu",
                         want - 1, (unsigned long long)off, (unsigned long long)before, (unsigned long long)prev);
            } else if (i == 0 && skip == 0 && has_totem && (!read_u64(lfd, off - 8, &before) || before != TOTEM)) {
                snprintf(problem, plen, "no separator (totem) before the first block at %llu", (unsigned long long)off);
            } else {
                prev = off;
                continue;
            }
            *bad_off = off;
            ok = false;
            break;
        }
    }
    free(buf);
    return ok;
}

/* Block log and index facts; problem is set (non-empty) when nodeos would refuse them. */
static void check_blocks(struct probe *pr, bool dawn, bool deep, sk_blocklog_info_t *b, char *problem, size_t plen,
                         uint64_t *bad_off)
{
    problem[0] = '\0';
    int lfd = open_data(pr, "blocks/blocks.log", O_RDONLY);
    if (lfd < 0)
        return;
    b->present = true;
    int ifd = open_data(pr, "blocks/blocks.index", O_RDONLY);
    struct stat st;
    if (fstat(lfd, &st) == 0)
        b->log_size = (uint64_t)st.st_size;
    if (ifd >= 0 && fstat(ifd, &st) == 0) {
        b->index_present = true;
        b->index_size = (uint64_t)st.st_size;
    }
    unsigned char pre[48];
    bool has_totem = false;
    uint64_t first_off = 0; /* where the first entry must start, 0 when only the index can tell */
    if (b->log_size == 0)
        goto out; /* nodeos discards the index of an empty log */
    if (dawn) {
        b->version = 0;
        b->first_block = 1;
    } else {
        size_t n = b->log_size < sizeof(pre) ? (size_t)b->log_size : sizeof(pre);
        if (!read_exact(lfd, pre, n, 0) || n < 4) {
            snprintf(problem, plen, "blocks.log: truncated preamble");
            goto out;
        }
        uint32_t v = le32(pre);
        b->pruned = (v & 0x80000000U) != 0;
        b->version = v & 0x7fffffffU;
        if (b->version == 0) {
            snprintf(problem, plen, "Block log was not setup properly (version 0)");
            goto out;
        }
        if (b->version > 3) {
            snprintf(problem, plen,
                     "Unsupported version of block log. Block log version is %u while code supports version(s) [1,3]",
                     b->version);
            goto out;
        }
        b->first_block = 1;
        if (b->version != 1) {
            if (n < 8) {
                snprintf(problem, plen, "blocks.log: truncated preamble");
                goto out;
            }
            b->first_block = le32(pre + 4);
            has_totem = true;
        }
        if (b->version >= 3 && b->first_block != 1) {
            if (n < 48) {
                snprintf(problem, plen, "blocks.log: truncated preamble");
                goto out;
            }
            b->has_chain_id = true;
            for (int i = 0; i < 32; i++)
                snprintf(b->chain_id + 2 * i, 3, "%02x", pre[8 + i]);
            if (le64(pre + 40) != TOTEM) {
                snprintf(problem, plen, "Expected separator between block log header and blocks was not found");
                goto out;
            }
            first_off = 48;
        }
    }
    if (b->index_present && b->index_size % 8) {
        snprintf(problem, plen, "blocks.index: file is invalid (size %llu is not a multiple of 8)",
                 (unsigned long long)b->index_size);
        goto out;
    }
    b->blocks = b->index_present ? b->index_size / 8 : 0;
    if (b->blocks == 0) {
        /* Only a preamble is fine (a fresh node); anything more needs an index. */
        uint64_t end = first_off ? first_off : (has_totem ? find_totem(lfd, b->log_size) + 8 : 0);
        if (!dawn && has_totem && end == 8) {
            snprintf(problem, plen, "Expected separator between block log header and blocks was not found");
        } else if (b->log_size > end) {
            snprintf(problem, plen, "blocks.index: file is empty while blocks.log holds blocks");
        }
        goto out;
    }
    if (!read_u64(ifd, 0, &b->first_offset) || !read_u64(ifd, b->index_size - 8, &b->last_offset)) {
        snprintf(problem, plen, "blocks.index: cannot read");
        goto out;
    }
    if (first_off && b->first_offset != first_off) {
        snprintf(problem, plen, "blocks.index: first block at %llu, but the preamble ends at %llu",
                 (unsigned long long)b->first_offset, (unsigned long long)first_off);
        goto out;
    }
    uint64_t v;
    if (has_totem && (b->first_offset < 16 || !read_u64(lfd, b->first_offset - 8, &v) || v != TOTEM)) {
        snprintf(problem, plen, "Expected separator between block log header and blocks was not found");
        goto out;
    }
    uint64_t skip = 0;
    if (b->pruned) {
        /* A pruned log (block-log-retain-blocks) ends with a u32 count of the blocks it still holds,
         * after the last block's position; the blocks before them are a hole (leap v4.0.6
         * block_log.cpp: punch_hole_block_log::post_append, log_data_base.hpp last_block_position). */
        unsigned char c[4];
        uint64_t tail;
        if (b->log_size < 12 || !read_exact(lfd, c, 4, b->log_size - 4) || !read_u64(lfd, b->log_size - 12, &tail)) {
            snprintf(problem, plen, "blocks.log: truncated (pruned log without its block count)");
            goto out;
        }
        if (tail != b->last_offset) {
            snprintf(problem, plen,
                     "blocks.log (pruned): the last block position before its block count is %llu, blocks.index "
                     "ends at %llu",
                     (unsigned long long)tail, (unsigned long long)b->last_offset);
            *bad_off = b->log_size - 12;
            goto out;
        }
        if (le32(c) == 0 || le32(c) > b->blocks) {
            snprintf(problem, plen, "blocks.log (pruned): it says it holds %u blocks, blocks.index lists %llu", le32(c),
                     (unsigned long long)b->blocks);
            *bad_off = b->log_size - 4;
            goto out;
        }
        skip = b->blocks - le32(c);
        b->kept_first = b->first_block + (uint32_t)skip;
        unsigned char num[4];
        if (b->last_offset + 18 > b->log_size - 12 || !read_exact(lfd, num, 4, b->last_offset + 14)) {
            snprintf(problem, plen, "Invalid block position %llu", (unsigned long long)b->last_offset);
            *bad_off = b->last_offset;
            goto out;
        }
        b->last_block = be32(num) + 1;
        goto deep;
    }
    if (b->log_size < 8 || !read_u64(lfd, b->log_size - 8, &v)) {
        snprintf(problem, plen, "blocks.log: truncated");
        goto out;
    }
    if (v != b->last_offset) {
        /* What slotkeeper found first, in its own words; then nodeos's message, whose first
         * position is whatever the last 8 bytes of a cut or overwritten tail hold. */
        char found[256];
        if (b->log_size - 8 < b->last_offset + 18)
            snprintf(found, sizeof(found),
                     "blocks.log is cut: it ends at byte %llu, before the end of the last block blocks.index lists "
                     "(at byte %llu)",
                     (unsigned long long)b->log_size, (unsigned long long)b->last_offset);
        else if (v > b->last_offset && v < b->log_size - 8)
            snprintf(found, sizeof(found),
                     "blocks.index ends early: blocks.log holds blocks after the last one it lists (at byte %llu)",
                     (unsigned long long)b->last_offset);
        else
            snprintf(found, sizeof(found),
                     "blocks.log's tail is cut or overwritten: its last 8 bytes do not hold the position of the last "
                     "block blocks.index lists (at byte %llu)",
                     (unsigned long long)b->last_offset);
        /* nodeos (Leap 4.0.6, seen) first reads the block number at that position: a position
         * with no whole entry there is "Invalid block position"; only a readable one gets as far
         * as the comparison with the index. */
        if (v < b->first_offset || v > b->log_size || b->log_size - v < 18 + 8)
            snprintf(problem, plen, "%s; nodeos refuses it with \"Invalid block position %llu\"", found,
                     (unsigned long long)v);
        else
            snprintf(problem, plen,
                     "%s; nodeos refuses it with \"The last block position from blocks.log is at %llu which does "
                     "not match the last block postion %llu from blocks.index\"",
                     found, (unsigned long long)v, (unsigned long long)b->last_offset);
        *bad_off = b->log_size - 8;
        goto out;
    }
    unsigned char num[4];
    if (b->last_offset < b->first_offset || b->last_offset + 18 > b->log_size - 8 ||
        !read_exact(lfd, num, 4, b->last_offset + 14)) {
        snprintf(problem, plen, "Invalid block position %llu", (unsigned long long)b->last_offset);
        *bad_off = b->last_offset;
        goto out;
    }
    b->last_block = be32(num) + 1;
    if (b->last_block != b->first_block + b->blocks - 1) {
        snprintf(problem, plen, "the last entry at %llu holds block %u, but the index ends at block %llu",
                 (unsigned long long)b->last_offset, b->last_block,
                 (unsigned long long)(b->first_block + b->blocks - 1));
        *bad_off = b->last_offset;
        goto out;
    }
    if (b->blocks >= 2) {
        uint64_t prev, before;
        if (!read_u64(ifd, b->index_size - 16, &prev) || !read_u64(lfd, b->last_offset - 8, &before) ||
            before != prev) {
            snprintf(problem, plen, "the entry before the last block does not end with its own position");
            *bad_off = b->last_offset - 8;
            goto out;
        }
    }
deep:
    if (deep)
        walk_index(lfd, ifd, b, skip, has_totem, problem, plen, bad_off);
out:
    if (b->last_block == 0 && b->blocks && !problem[0])
        b->last_block = b->first_block + (uint32_t)b->blocks - 1;
    close(lfd);
    if (ifd >= 0)
        close(ifd);
}

static bool magic_file(struct probe *pr, const char *rel, bool u64magic)
{
    int fd = open_data(pr, rel, O_RDONLY);
    if (fd < 0)
        return false;
    unsigned char b[8];
    bool ok = u64magic ? read_exact(fd, b, 8, 0) && le64(b) == CHAIN_HEAD_MAGIC
                       : read_exact(fd, b, 4, 0) && le32(b) == FORK_DB_MAGIC;
    close(fd);
    return ok;
}

/* The layout of an EOSIODB2 data-dir: EOSIO 1.x-2.x or Leap 4. A stopped Leap 4 node has
 * blocks/reversible/fork_db.dat; a running or killed one has none (nodeos deletes it at start)
 * but still has the blocks/reversible/ folder, without the reversible database
 * (blocks/reversible/shared_memory.bin) of EOSIO 1.x-2.0 and without EOSIO's
 * state/fork_db.dat. Anything else is taken for EOSIO. */
static const char *eosiodb2_layout(struct probe *pr)
{
    if (magic_file(pr, SK_NODEOS_REVERSIBLE_FORK_DB, false))
        return SK_NODEOS_LAYOUT_LEAP4;
    int fd = open_data(pr, "blocks/reversible", O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return SK_NODEOS_LAYOUT_EOSIO;
    close(fd);
    fd = open_data(pr, "blocks/reversible/shared_memory.bin", O_RDONLY);
    if (fd >= 0) {
        close(fd);
        return SK_NODEOS_LAYOUT_EOSIO;
    }
    fd = open_data(pr, SK_NODEOS_STATE_FORK_DB, O_RDONLY);
    if (fd >= 0) {
        close(fd);
        return SK_NODEOS_LAYOUT_EOSIO;
    }
    return SK_NODEOS_LAYOUT_LEAP4;
}

int sk_datadir_check(const char *dir, const sk_check_opts_t *opts, sk_datadir_report_t *rep, sk_err_t *err)
{
    memset(rep, 0, sizeof(*rep));
    rep->layout = SK_NODEOS_LAYOUT_UNKNOWN;
    rep->deep = opts && opts->deep;
    read_error = 0;
#define VERDICT(v, ...)                                                                                                \
    do {                                                                                                               \
        rep->verdict = (v);                                                                                            \
        snprintf(rep->reason, sizeof(rep->reason), __VA_ARGS__);                                                       \
        goto done;                                                                                                     \
    } while (0)
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        if (errno == ENOENT) {
            rep->verdict = SK_VERDICT_MISSING;
            snprintf(rep->reason, sizeof(rep->reason), "no such data-dir");
            return 0;
        }
        return sk_err_errno(err, dir);
    }
    /* A deep check reads the whole block log: it holds the data-dir lock (shared) meanwhile. */
    if (rep->deep && sk_datadir_flock(dfd, dir, false, err) < 0) {
        close(dfd);
        return err->code;
    }
    struct probe pr = {.dfd = dfd};
    sk_state_info_t *s = &rep->state;
    bool dawn = false;
    struct stat st;
    int sfd = open_data(&pr, SK_NODEOS_STATE_FILE, O_RDONLY);
    if (sfd >= 0) {
        snprintf(s->path, sizeof(s->path), SK_NODEOS_STATE_FILE);
    } else if ((sfd = open_data(&pr, SK_NODEOS_DAWN_STATE_FILE, O_RDONLY)) >= 0) {
        snprintf(s->path, sizeof(s->path), SK_NODEOS_DAWN_STATE_FILE);
        dawn = true;
        rep->layout = SK_NODEOS_LAYOUT_DAWN3;
    }
    unsigned char h[SK_STATE_HEADER_SIZE];
    bool header_read = false;
    if (sfd >= 0 && fstat(sfd, &st) < 0 && !pr.io) {
        pr.io = -errno;
        snprintf(pr.io_rel, sizeof(pr.io_rel), "%s", s->path);
    }
    if (sfd >= 0 && !pr.io) {
        s->present = true;
        s->size = (uint64_t)st.st_size;
        s->allocated = (uint64_t)st.st_blocks * 512;
        header_read = read_exact(sfd, h, sizeof(h), 0);
        if (header_read && !dawn)
            parse_header(h, s);
    }
    if (s->has_header) {
        if (!memcmp(s->id, "CHAINB01", 8))
            rep->layout = SK_NODEOS_LAYOUT_SPRING;
        else if (!memcmp(s->id, "EOSIODB3", 8))
            rep->layout = SK_NODEOS_LAYOUT_LEAP5;
        else
            rep->layout = eosiodb2_layout(&pr);
    }
    if (!strcmp(rep->layout, SK_NODEOS_LAYOUT_SPRING))
        snprintf(rep->fork_db_path, sizeof(rep->fork_db_path), SK_NODEOS_REVERSIBLE_FORK_DB);
    else if (!strcmp(rep->layout, SK_NODEOS_LAYOUT_EOSIO))
        snprintf(rep->fork_db_path, sizeof(rep->fork_db_path), SK_NODEOS_STATE_FORK_DB);
    else
        snprintf(rep->fork_db_path, sizeof(rep->fork_db_path), SK_NODEOS_REVERSIBLE_FORK_DB);
    rep->fork_db_present = magic_file(&pr, rep->fork_db_path, false);
    rep->chain_head_present = magic_file(&pr, SK_NODEOS_CHAIN_HEAD_FILE, true);
    char problem[512], lproblem[512] = "";
    check_blocks(&pr, dawn, rep->deep, &rep->blocks, problem, sizeof(problem), &rep->bad_offset);
    /* Retained bundles and state history: a file that cannot be read is an error, as above. */
    int lrc = dawn ? 0
                   : sk_layouts_check(dfd, rep->blocks.log_size ? rep->blocks.first_block : 0, rep->deep, &rep->layouts,
                                      lproblem, sizeof(lproblem));
    if (lrc < 0 && !pr.io) {
        pr.io = lrc;
        snprintf(pr.io_rel, sizeof(pr.io_rel), "%.63s", lproblem);
        char *colon = strchr(pr.io_rel, ':');
        if (colon)
            *colon = '\0';
    }
    bool eosio_fork_db =
        !strcmp(rep->layout, SK_NODEOS_LAYOUT_EOSIO) && magic_file(&pr, SK_NODEOS_REVERSIBLE_FORK_DB, false);
    int mfd = sk_open_beneath(dfd, SK_RESTORE_MARKER, O_PATH, 0);
    bool marker = mfd >= 0;
    if (mfd >= 0)
        close(mfd);
    else if (mfd == -ELOOP)
        snprintf(pr.link_rel, sizeof(pr.link_rel), "%s", SK_RESTORE_MARKER);
    else if (mfd != -ENOENT && mfd != -ENOTDIR && !pr.io) {
        pr.io = mfd;
        snprintf(pr.io_rel, sizeof(pr.io_rel), "%s", SK_RESTORE_MARKER);
    }
    /* What could not be read gives no verdict: an error, which the caller retries or reports. */
    if (pr.io || read_error) {
        char full[PATH_MAX];
        sk_path_join(full, sizeof(full), dir, pr.io ? pr.io_rel : "");
        if (sfd >= 0)
            close(sfd);
        close(dfd);
        return sk_err_set(err, pr.io ? pr.io : read_error, pr.io ? full : dir, "cannot read: %s",
                          strerror(-(pr.io ? pr.io : read_error)));
    }
    /* Which chain: the block log's preamble (Dawn 3.0 logs have none), else genesis.json. */
    sk_err_t cerr;
    sk_err_clear(&cerr);
    int bfd = dawn ? -1 : sk_open_in_datadir(dfd, "blocks", O_RDONLY | O_DIRECTORY);
    int clr = bfd >= 0 ? sk_chainid_from_log(bfd, "blocks.log", rep->chain_id, &cerr) : -ENOENT;
    if (bfd >= 0)
        close(bfd);
    if (clr == 0) {
        rep->chain_source = "blocks.log";
        if (!rep->blocks.has_chain_id) {
            rep->blocks.has_chain_id = true;
            memcpy(rep->blocks.chain_id, rep->chain_id, sizeof(rep->chain_id));
        }
    } else if (sk_chainid_from_genesis(dfd, "genesis.json", rep->chain_id, &cerr) == 0) {
        rep->chain_source = "genesis.json";
    } else {
        rep->chain_id[0] = '\0';
    }

    if (marker)
        VERDICT(SK_VERDICT_RESTORING, "a slotkeeper restore is unfinished (%s); run it again", SK_RESTORE_MARKER);
    if (s->present) {
        /* chainbase locks the state file; Dawn 3.0 locked shared_memory.meta. */
        pid_t pid = 0;
        int lfd = dawn ? open_data(&pr, SK_NODEOS_DAWN_META_FILE, O_RDONLY) : dup(sfd);
        if (lfd >= 0 && sk_fcntl_lock_holder_fd(lfd, &pid) == 1) {
            close(lfd);
            rep->lock_pid = pid;
            VERDICT(SK_VERDICT_RUNNING, "process %ld holds the lock on %s", (long)pid,
                    dawn ? SK_NODEOS_DAWN_META_FILE : s->path);
        }
        if (lfd >= 0)
            close(lfd);
    }
    if (pr.link_rel[0])
        VERDICT(SK_VERDICT_CORRUPT,
                "%s: a symbolic link inside the data-dir (slotkeeper never follows one there, and a restore "
                "replaces it with the snapshot's data)",
                pr.link_rel);
    if (!s->present)
        VERDICT(SK_VERDICT_MISSING, "no state file (state/shared_memory.bin)");
    if (!rep->blocks.present)
        VERDICT(SK_VERDICT_MISSING, "no block log (blocks/blocks.log)");
    if (!dawn && s->size % (1024 * 1024))
        VERDICT(SK_VERDICT_CORRUPT, "%s: Database must be mulitple of 1048576 bytes (size %llu)", s->path,
                (unsigned long long)s->size);
    if (!dawn && !header_read)
        VERDICT(SK_VERDICT_CORRUPT, "%s: Failed to read DB header", s->path);
    if (!dawn && !s->has_header)
        VERDICT(SK_VERDICT_INCOMPATIBLE,
                "%s: \"state\" database format not compatible with this version of chainbase "
                "(id '%s')",
                s->path, s->id);
    if (!dawn && s->dirty)
        VERDICT(SK_VERDICT_DIRTY, "%s: Database dirty flag set (unclean shutdown)", s->path);
    if (opts && opts->reference_chain_id && rep->chain_source && strcmp(opts->reference_chain_id, rep->chain_id))
        VERDICT(SK_VERDICT_INCOMPATIBLE, "%s names chain %s, the reference's chain is %s", rep->chain_source,
                rep->chain_id, opts->reference_chain_id);
    if (!dawn && opts && opts->reference_env && memcmp(opts->reference_env, s->env, SK_STATE_ENV_SIZE)) {
        char ref[257];
        memcpy(ref, opts->reference_env + (528 - SK_STATE_ENV_OFFSET), 256);
        ref[256] = '\0';
        VERDICT(SK_VERDICT_INCOMPATIBLE,
                "%s: database was created with a chainbase from a different environment (compiler '%s', reference "
                "'%s')",
                s->path, s->compiler, ref);
    }
    if (problem[0])
        VERDICT(SK_VERDICT_CORRUPT, "%s", problem);
    if (lproblem[0])
        VERDICT(SK_VERDICT_CORRUPT, "%s", lproblem);
    if (!dawn && !rep->fork_db_present && strcmp(rep->layout, SK_NODEOS_LAYOUT_EOSIO))
        VERDICT(SK_VERDICT_CORRUPT, "No existing fork database despite existing chain state. Replay required. (%s)",
                rep->fork_db_path);
    if (!dawn && !rep->fork_db_present && !strcmp(rep->layout, SK_NODEOS_LAYOUT_EOSIO) && !eosio_fork_db)
        VERDICT(SK_VERDICT_CORRUPT, "No existing fork database despite existing chain state. Replay required.");
    if (!strcmp(rep->layout, SK_NODEOS_LAYOUT_SPRING) && !rep->chain_head_present)
        VERDICT(SK_VERDICT_CORRUPT, "No existing chain_head.dat file (state/chain_head.dat)");
    rep->verdict = SK_VERDICT_CLEAN;
    snprintf(rep->reason, sizeof(rep->reason), "nodeos would start");
done:
    if (sfd >= 0)
        close(sfd);
    close(dfd);
    return 0;
#undef VERDICT
}
