/*
 * fuzz_check: libFuzzer target for the readers behind `slotkeeper check` (sk_datadir_check,
 * snapshot/datadir.c): the chainbase state header, the block log's preamble, tail and (deep)
 * every index entry, the fork database and chain head magics.
 *
 * Input: a data-dir, written into a private temp folder before each run.
 *   byte 0, flags:  0x01 deep check          0x02 Dawn 3.0 layout (shared_mem/ instead of state/)
 *                   0x04 blocks/reversible/fork_db.dat with its magic
 *                   0x08 state/fork_db.dat with its magic
 *                   0x10 state/chain_head.dat with its magic
 *                   0x20 no blocks/blocks.index
 *                   0x40 state file exactly as given (else padded, sparse, to a multiple of 1 MiB)
 *   byte 1, flags:  0x01 no state file       0x02 no blocks/blocks.log
 *                   0x04 the restore marker (.slotkeeper/restoring)
 *                   0x08 a reference environment: the state piece's own bytes 9..783
 *                   0x10 a reference environment of zeros
 *   then u16 (little-endian) length + that many bytes: the state file's head (its header);
 *   then u16 length + bytes: blocks/blocks.log; the rest: blocks/blocks.index.
 * Lengths past the end of the input are cut to what is there.
 *
 * Checks: sk_datadir_check returns 0 with a known verdict and a one-line, non-empty reason
 * (it cannot fail to read a folder we just wrote); a clean verdict has a state header and a
 * block log; a block range is consistent (last >= first when both are known).
 *
 * Seeds: tests/fuzz/corpus/check/ (the nodeos 1.8 block log and index of tests/fixtures, with a
 * mkdatadir state header, in each layout; damaged copies as in t_check.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "slotkeeper/datadir.h"
#include "slotkeeper/restore.h"

static char dd[PATH_MAX];
static int ddfd = -1;

static const char *const files[] = {
    "state/shared_memory.bin",
    "shared_mem/shared_memory.bin",
    "blocks/blocks.log",
    "blocks/blocks.index",
    "blocks/reversible/fork_db.dat",
    "state/fork_db.dat",
    "state/chain_head.dat",
    SK_RESTORE_MARKER,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init("check");
    snprintf(dd, sizeof(dd), "%s/dd", fz_dir);
    static const char *const dirs[] = {"", "/state", "/shared_mem", "/blocks", "/blocks/reversible", "/.slotkeeper"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s%s", dd, dirs[i]);
        if (mkdir(p, 0755) < 0) {
            perror(p);
            exit(1);
        }
    }
    ddfd = open(dd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ddfd < 0) {
        perror(dd);
        exit(1);
    }
    return 0;
}

static void put(const char *rel, const void *data, size_t len, uint64_t size)
{
    int fd = openat(ddfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || sk_write_all(fd, data, len) < 0 || (size > len && ftruncate(fd, (off_t)size) < 0)) {
        perror(rel);
        abort();
    }
    close(fd);
}

/* The next piece: a u16 length, then the bytes (cut to what is left). */
static const uint8_t *piece(const uint8_t **p, size_t *left, size_t *len)
{
    size_t n = 0;
    if (*left >= 2) {
        n = (size_t)(*p)[0] | (size_t)(*p)[1] << 8;
        *p += 2;
        *left -= 2;
    } else {
        *p += *left;
        *left = 0;
    }
    if (n > *left)
        n = *left;
    const uint8_t *out = *p;
    *p += n;
    *left -= n;
    *len = n;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t f0 = size > 0 ? data[0] : 0, f1 = size > 1 ? data[1] : 0;
    const uint8_t *p = data + (size > 2 ? 2 : size);
    size_t left = size > 2 ? size - 2 : 0;
    size_t slen, llen;
    const uint8_t *state = piece(&p, &left, &slen);
    const uint8_t *log = piece(&p, &left, &llen);
    const uint8_t *index = p;
    size_t ilen = left;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        unlinkat(ddfd, files[i], 0);

    if (!(f1 & 0x01)) {
        uint64_t sz = slen;
        if (!(f0 & 0x40))
            sz = (slen / (1 << 20) + 1) * (1 << 20);
        put(f0 & 0x02 ? "shared_mem/shared_memory.bin" : "state/shared_memory.bin", state, slen, sz);
    }
    if (!(f1 & 0x02))
        put("blocks/blocks.log", log, llen, 0);
    if (!(f0 & 0x20))
        put("blocks/blocks.index", index, ilen, 0);
    static const uint8_t fork_db_magic[4] = {0xdb, 0x0f, 0x51, 0x30};
    static const uint8_t chain_head_magic[8] = {0xf1, 0xf2, 0xf3, 0xf4, 0xf4, 0xf3, 0xf2, 0xf1};
    if (f0 & 0x04)
        put("blocks/reversible/fork_db.dat", fork_db_magic, sizeof(fork_db_magic), 0);
    if (f0 & 0x08)
        put("state/fork_db.dat", fork_db_magic, sizeof(fork_db_magic), 0);
    if (f0 & 0x10)
        put("state/chain_head.dat", chain_head_magic, sizeof(chain_head_magic), 0);
    if (f1 & 0x04)
        put(SK_RESTORE_MARKER, "", 0, 0);

    unsigned char env[SK_STATE_ENV_SIZE];
    memset(env, 0, sizeof(env));
    if (f1 & 0x08 && slen > SK_STATE_ENV_OFFSET) {
        size_t n = slen - SK_STATE_ENV_OFFSET;
        memcpy(env, state + SK_STATE_ENV_OFFSET, n < sizeof(env) ? n : sizeof(env));
    }
    sk_check_opts_t opts = {.deep = f0 & 0x01, .reference_env = f1 & 0x18 ? env : NULL};
    sk_datadir_report_t rep;
    sk_err_t err;
    sk_err_clear(&err);
    int rc = sk_datadir_check(dd, &opts, &rep, &err);
    if (rc < 0)
        fz_fail("check failed on a readable data-dir: %d %s", rc, err.msg);
    if (!strcmp(sk_verdict_name(rep.verdict), "unknown"))
        fz_fail("unknown verdict %d", (int)rep.verdict);
    if (!memchr(rep.reason, '\0', sizeof(rep.reason)) || !fz_one_line(rep.reason))
        fz_fail("verdict %s without a one-line reason", sk_verdict_name(rep.verdict));
    if (rep.verdict == SK_VERDICT_CLEAN && (!rep.state.present || !rep.blocks.present))
        fz_fail("clean without a state file or a block log");
    if (rep.verdict == SK_VERDICT_CLEAN && !(f0 & 0x02) && !rep.state.has_header)
        fz_fail("clean without a known state header");
    if (rep.verdict == SK_VERDICT_CLEAN && rep.blocks.first_block && rep.blocks.last_block &&
        rep.blocks.last_block < rep.blocks.first_block)
        fz_fail("clean with last block %u before first block %u", rep.blocks.last_block, rep.blocks.first_block);
    return 0;
}
