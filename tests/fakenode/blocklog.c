/*
 * blocklog.c: blocks/blocks.log and blocks/blocks.index as nodeos writes and checks them.
 *
 * Log: a preamble (u32 version 3, u32 first_block_num, the packed genesis_state when the first block is 1 or a
 * 32-byte chain id otherwise, the u64 totem 0xFFFFFFFFFFFFFFFF), then entries, each a packed signed_block followed
 * by its own start offset as u64, so the last 8 bytes of the file point at the last entry.  Index: one u64 entry
 * offset per block.  Dawn 3.0 logs have no preamble: entries start at offset 0.
 *
 * Opening follows Leap >= 4's block_log::open: preamble errors ("Block log was not setup properly", "Unsupported
 * version of block log...", "Expected separator..."), "Invalid block position", then "... file is empty",
 * "... file is invalid" and "The last block position from ... does not match the last block postion ...", all
 * block_log_exception (exit 254).  EOSIO 2.x and Dawn instead rebuild a disagreeing index from the log, walking
 * the self-offsets backwards.
 */
#include "fakenode.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PRUNED_FLAG 0x80000000U

static _Noreturn __attribute__((format(printf, 2, 3))) void blfail(int line, const char *fmt, ...)
{
    char msg[3072];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (opt.fl->id == FL_DAWN3)
        fail_std("basic_ios::clear: iostream error"); /* what Dawn reported for a damaged log (eos#3174) */
    fail_fc("3190000 block_log_exception", "Block log exception", "block_log.cpp", line, "open", "%s", msg);
}

/* block_num_at: the position the log's last 8 bytes hold has no whole entry behind it (Leap 4.0.6, seen). */
static _Noreturn void bad_position(uint64_t pos)
{
    char ctx[64];
    snprintf(ctx, sizeof ctx, "{\"position\":\"%" PRIu64 "\"}", pos);
    if (opt.fl->id == FL_DAWN3)
        fail_std("basic_ios::clear: iostream error");
    fail_fc_ctx("3190000 block_log_exception", "Block log exception", "block_log.cpp", 247, "block_num_at", ctx,
                "Invalid block position %" PRIu64, pos);
}

static uint64_t file_size(int fd, const char *path)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        blfail(1180, "%s: %s", path, strerror(errno));
    return (uint64_t)st.st_size;
}

/* Parse the preamble of a log held in buf[0..have); returns the entries' offset, 0 if incomplete. */
static uint64_t parse_preamble(struct blog *b, const uint8_t *buf, size_t have, const char *path)
{
    if (have < 4)
        return 0;
    uint32_t ver = get32(buf) & ~PRUNED_FLAG;
    if (ver == 0)
        blfail(94, "Block log was not setup properly");
    if (ver > 3)
        fail_fc("3190001 block_log_unsupported_version", "unsupported version of block log", "block_log.cpp", 95,
                "read_from",
                "Unsupported version of block log. Block log version is %u while code supports version(s) [1,3], "
                "log file: %s",
                ver, path);
    size_t pos = 4;
    uint32_t first = 1;
    if (ver != 1) {
        if (have < 8)
            return 0;
        first = get32(buf + 4);
        if (first == 0)
            blfail(103, "Block log is malformed, first recorded block number is 0 but must be greater than or equal "
                        "to 1");
        pos = 8;
    }
    b->first_num = first;
    b->has_genesis = ver < 3 || first == 1;
    b->has_chain_id = !b->has_genesis;
    if (b->has_genesis) {
        if (have < pos + GENESIS_SIZE)
            return 0;
        if (buf[pos + 8] > 1)
            blfail(106, "fakenode: unsupported initial_key type %u in the genesis state of %s", buf[pos + 8], path);
        memcpy(b->genesis, buf + pos, GENESIS_SIZE);
        pos += GENESIS_SIZE;
    } else {
        if (have < pos + 32)
            return 0;
        memcpy(b->chain_id, buf + pos, 32);
        pos += 32;
    }
    if (ver != 1) {
        if (have < pos + 8)
            return 0;
        if (get64(buf + pos) != TOTEM) {
            char actual[17];
            hex(actual, buf + pos, 8);
            blfail(125,
                   "Expected separator between block log header and blocks was not found( expected: ffffffffffffffff, "
                   "actual: %s )",
                   actual);
        }
        pos += 8;
    }
    return pos;
}

bool blog_peek_genesis(const char *log_path, uint8_t genesis[GENESIS_SIZE])
{
    if (!opt.fl->preamble)
        return false;
    int fd = open(log_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    uint8_t buf[8 + GENESIS_SIZE];
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    close(fd);
    if (n < (ssize_t)sizeof buf)
        return false;
    uint32_t ver = get32(buf) & ~PRUNED_FLAG;
    if (ver == 1)
        memcpy(genesis, buf + 4, GENESIS_SIZE);
    else if (ver == 2 || (ver == 3 && get32(buf + 4) == 1))
        memcpy(genesis, buf + 8, GENESIS_SIZE);
    else
        return false;
    return true;
}

/* The EOSIO 2.x / Dawn repair: rebuild blocks.index from the entries' trailing self-offsets, last to first. */
static void rebuild_index(struct blog *b, uint64_t last_pos, uint32_t n)
{
    uint64_t *pos = xmalloc((size_t)n * 8);
    uint64_t p = last_pos;
    for (uint32_t i = n; i-- > 0;) {
        pos[i] = p;
        if (i == 0)
            break;
        uint8_t w[8];
        if (p < b->first_pos + 8 || pread_full(b->lfd, w, 8, (off_t)(p - 8)) < 0)
            blfail(640, "Invalid block position %" PRIu64, p);
        uint64_t prev = get64(w);
        if (prev >= p || prev < b->first_pos)
            blfail(642, "block log entry at %" PRIu64 " does not follow an entry (previous offset %" PRIu64 ")", p,
                   prev);
        p = prev;
    }
    if (n && pos[0] != b->first_pos)
        blfail(646, "block log entries do not start at the end of the preamble (%" PRIu64 " != %" PRIu64 ")", pos[0],
               b->first_pos);
    uint8_t *buf = xmalloc((size_t)n * 8);
    for (uint32_t i = 0; i < n; i++)
        put64(buf + 8 * (size_t)i, pos[i]);
    if (ftruncate(b->ifd, 0) < 0 || pwrite_full(b->ifd, buf, (size_t)n * 8, 0) < 0)
        blfail(650, "%s: %s", b->idx_path, strerror(errno));
    b->idx_size = (uint64_t)n * 8;
    free(buf);
    free(pos);
}

void blog_open(struct blog *b, const char *dir)
{
    const struct flavour *fl = opt.fl;
    memset(b, 0, sizeof *b);
    b->dir = strdup(dir);
    b->log_path = path_join(dir, "blocks.log");
    b->idx_path = path_join(dir, "blocks.index");
    b->first_num = 1;
    if (mkdirs(dir) < 0)
        blfail(1170, "%s: %s", dir, strerror(errno));
    b->lfd = open(b->log_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (b->lfd < 0)
        blfail(1174, "%s: %s", b->log_path, strerror(errno));
    b->ifd = open(b->idx_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (b->ifd < 0)
        blfail(1176, "%s: %s", b->idx_path, strerror(errno));
    b->log_size = file_size(b->lfd, b->log_path);
    b->idx_size = file_size(b->ifd, b->idx_path);

    if (b->log_size == 0) {
        b->head = 0;
        if (b->idx_size) {
            nlog(LV_INFO, "block_log.cpp", 1218, "open",
                 "Log file is empty while the index file is nonempty, discard the index file");
            if (ftruncate(b->ifd, 0) < 0)
                blfail(1219, "%s: %s", b->idx_path, strerror(errno));
            b->idx_size = 0;
        }
        return;
    }

    if (fl->preamble) {
        uint8_t buf[8 + GENESIS_SIZE + 8];
        size_t have = b->log_size < sizeof buf ? (size_t)b->log_size : sizeof buf;
        if (pread_full(b->lfd, buf, have, 0) < 0)
            blfail(1185, "%s: %s", b->log_path, strerror(errno));
        b->first_pos = parse_preamble(b, buf, have, b->log_path);
        if (b->first_pos == 0)
            blfail(1185, "only able to read %zu bytes of the block log preamble in file: %s", have, b->log_path);
    }

    /* number of blocks: from the block number in the entry the last 8 bytes point at */
    uint32_t n = 0;
    uint64_t last_pos = UINT64_MAX;
    if (b->log_size >= b->first_pos + 8) {
        uint8_t w[8];
        if (pread_full(b->lfd, w, 8, (off_t)(b->log_size - 8)) < 0)
            blfail(1190, "%s: %s", b->log_path, strerror(errno));
        last_pos = get64(w);
    }
    if (b->log_size > b->first_pos) {
        if (last_pos > b->log_size)
            bad_position(last_pos);
        uint8_t e[18];
        if (last_pos < b->first_pos || last_pos + 18 + 8 > b->log_size ||
            pread_full(b->lfd, e, sizeof e, (off_t)last_pos) < 0)
            bad_position(last_pos);
        uint32_t last_num = getbe32(e + 14) + 1;
        if (last_num < b->first_num || (uint64_t)(last_num - b->first_num) >= (b->log_size - b->first_pos) / 26)
            bad_position(last_pos);
        n = last_num - b->first_num + 1;
    }
    b->head = b->first_num + n - 1;
    nlog(LV_INFO, "block_log.cpp", 1195, "open", "Log has %u blocks", n);

    uint64_t idx_last = UINT64_MAX;
    if (b->idx_size >= 8) {
        uint8_t w[8];
        if (pread_full(b->ifd, w, 8, (off_t)(b->idx_size - 8)) < 0)
            blfail(1200, "%s: %s", b->idx_path, strerror(errno));
        idx_last = get64(w);
    }
    if (fl->strict_index) {
        if (n && b->idx_size == 0)
            blfail(1198, "%s file is empty, please use %s to fix the problem.", b->idx_path, fl->util);
        if (b->idx_size % 8)
            blfail(1201, "%s file is invalid, please use %s to reconstruct the index.", b->idx_path, fl->util);
        if (b->idx_size && idx_last != last_pos)
            blfail(1208,
                   "The last block position from %s is at %" PRIu64
                   " which does not match the last block postion %" PRIu64
                   " from %s, please use %s to fix the inconsistency.",
                   b->log_path, last_pos, idx_last, b->idx_path, fl->util);
    } else if (b->idx_size != (uint64_t)n * 8 || (n && idx_last != last_pos)) {
        nlog(LV_INFO, "block_log.cpp", 620, "open",
             fl->id == FL_DAWN3 ? "Reconstructing Block Log Index..."
                                : "The last block positions from blocks.log and blocks.index are different, "
                                  "Reconstructing index...");
        rebuild_index(b, last_pos, n);
    }
}

/* A new log: the preamble (version word written last, as nodeos does) and an empty index. */
void blog_reset(struct blog *b, const struct chain *c)
{
    uint8_t buf[8 + GENESIS_SIZE + 8], *p = buf;
    size_t len = 0;
    if (opt.fl->preamble) {
        p = put32(p, 0); /* version, filled in below */
        p = put32(p, 1); /* first_block_num */
        memcpy(p, c->genesis, GENESIS_SIZE);
        p += GENESIS_SIZE;
        p = put64(p, TOTEM);
        len = (size_t)(p - buf);
    }
    uint8_t ver[4];
    put32(ver, 3);
    if (ftruncate(b->lfd, 0) < 0 || ftruncate(b->ifd, 0) < 0 || pwrite_full(b->lfd, buf, len, 0) < 0 ||
        (len && pwrite_full(b->lfd, ver, 4, 0) < 0))
        blfail(1260, "%s: %s", b->log_path, strerror(errno));
    b->log_size = len;
    b->idx_size = 0;
    b->first_pos = len;
    b->first_num = 1;
    b->head = 0;
    b->has_genesis = opt.fl->preamble;
    memcpy(b->genesis, c->genesis, GENESIS_SIZE);
}

void blog_append(struct blog *b, const struct chain *c, uint32_t num, uint32_t *ntrx)
{
    static uint8_t buf[BLOCK_MAX];
    uint64_t want = (uint64_t)(num - b->first_num) * 8;
    if (b->idx_size != want) {
        nlog(LV_ERROR, "block_log.cpp", 1290, "append",
             "3190002 block_log_append_fail: block log append fail\nAppend to index file occuring at wrong "
             "position.\n    {\"position\":%" PRIu64 ",\"expected\":%" PRIu64 "}\n    nodeos  block_log.cpp:1290 "
             "append",
             b->idx_size, want);
        fail_exit(RC_OTHER_FAIL);
    }
    size_t len = chain_block(c, num, buf, b->log_size, ntrx);
    uint8_t w[8];
    put64(w, b->log_size);
    if (pwrite_full(b->lfd, buf, len, (off_t)b->log_size) < 0 || pwrite_full(b->ifd, w, 8, (off_t)b->idx_size) < 0) {
        nlog(LV_ERROR, "block_log.cpp", 1296, "append",
             "3190002 block_log_append_fail: block log append fail\n%s: %s\n    {}\n    nodeos  block_log.cpp:1296 "
             "append",
             b->log_path, strerror(errno));
        fail_exit(RC_OTHER_FAIL);
    }
    b->log_size += len;
    b->idx_size += 8;
    b->head = num;
    layouts_appended(b, c, num);
}

void blog_close(struct blog *b)
{
    if (b->lfd >= 0)
        close(b->lfd);
    if (b->ifd >= 0)
        close(b->ifd);
    b->lfd = b->ifd = -1;
}
