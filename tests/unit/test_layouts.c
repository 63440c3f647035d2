/*
 * test_layouts: the readers of retained block bundles and state-history logs (layouts.h) on
 * files built here entry by entry (good ones, then each damage: a cut tail, an index that
 * disagrees or is missing, a bad magic, a wrong block deep inside), the sequence rules (a gap,
 * an overlap, blocks.log after the last bundle), config.ini's folders, and the real nodeos
 * fixture tests/fixtures/leap-4.0.6-layouts.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/layouts.h"
#include "unit.h"

static unsigned char *put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
    return p + 8;
}

static unsigned char *putbe32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return p + 4;
}

/* A block log of blocks first..last (version 3, chain id preamble when first > 1, else a 110-byte
 * "genesis"), 40-byte entries, and its index. */
static void mk_blocks(const char *log, const char *index, uint32_t first, uint32_t last)
{
    unsigned char buf[65536], ibuf[8192], *p = buf, *q = ibuf;
    memset(buf, 0, sizeof(buf));
    p[0] = 3;
    p += 4;
    p[0] = (unsigned char)first;
    p[1] = (unsigned char)(first >> 8);
    p += 4;
    p += first == 1 ? 110 : 32;
    p = put64(p, UINT64_MAX);
    for (uint32_t n = first; n <= last; n++) {
        uint64_t at = (uint64_t)(p - buf);
        memset(p, 0xab, 32);
        putbe32(p + 14, n - 1);
        p = put64(p + 32, at);
        q = put64(q, at);
    }
    unit_write_file(log, buf, (size_t)(p - buf));
    unit_write_file(index, ibuf, (size_t)(q - ibuf));
}

/* A state-history log of blocks first..last (optionally pruned, keeping `keep`) and its index. */
static void mk_ship(const char *log, const char *index, uint32_t first, uint32_t last, uint32_t keep)
{
    unsigned char buf[65536], ibuf[8192], *p = buf, *q = ibuf;
    for (uint32_t n = first; n <= last; n++) {
        uint64_t at = (uint64_t)(p - buf), payload = 20 + n % 7;
        p = put64(p, 0xc35d500000000000ULL | (keep && n == first ? 1ULL << 16 : 0));
        memset(p, 0x5a, 32);
        putbe32(p, n);
        p = put64(p + 32, payload);
        memset(p, 0, payload);
        p = put64(p + payload, at);
        q = put64(q, at);
    }
    if (keep) {
        p[0] = (unsigned char)keep;
        p[1] = p[2] = p[3] = 0;
        p += 4;
    }
    unit_write_file(log, buf, (size_t)(p - buf));
    unit_write_file(index, ibuf, (size_t)(q - ibuf));
}

static void cut(const char *path, off_t by)
{
    struct stat st;
    CHECK(stat(path, &st) == 0);
    CHECK(truncate(path, st.st_size - by) == 0);
}

static void poke(const char *path, off_t off, unsigned char byte)
{
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    CHECK(pwrite(fd, &byte, 1, off) == 1);
    close(fd);
}

static int dir_fd(const char *d)
{
    int fd = open(d, O_RDONLY | O_DIRECTORY);
    CHECK(fd >= 0);
    return fd;
}

#define HAS(problem, text)                                                                                             \
    do {                                                                                                               \
        if (!strstr(problem, text))                                                                                    \
            unit_note("problem: %s", problem);                                                                         \
        CHECK(strstr(problem, text) != NULL);                                                                          \
    } while (0)

TEST(layouts_block_bundle_reader)
{
    CHECK(mkdir("d", 0755) == 0 && mkdir("d/blocks", 0755) == 0);
    int dfd = dir_fd("d");
    char problem[512];
    sk_logfile_info_t fi;
    mk_blocks("d/blocks/a.log", "d/blocks/a.index", 21, 40);
    CHECK_EQ(sk_blockfile_check(dfd, "blocks/a.log", "blocks/a.index", true, &fi, problem, sizeof(problem)), 0);
    CHECK_EQ(fi.first_block, 21);
    CHECK_EQ(fi.last_block, 40);
    CHECK_EQ(fi.entries, 20);
    mk_blocks("d/blocks/g.log", "d/blocks/g.index", 1, 5); /* a genesis preamble */
    CHECK_EQ(sk_blockfile_check(dfd, "blocks/g.log", "blocks/g.index", true, &fi, problem, sizeof(problem)), 0);
    CHECK_EQ(fi.last_block, 5);

    cut("d/blocks/a.log", 3);
    CHECK_EQ(sk_blockfile_check(dfd, "blocks/a.log", "blocks/a.index", false, &fi, problem, sizeof(problem)), -EBADMSG);
    HAS(problem, "blocks/a.log: tail cut");
    mk_blocks("d/blocks/a.log", "d/blocks/a.index", 21, 40);
    cut("d/blocks/a.index", 8);
    CHECK_EQ(sk_blockfile_check(dfd, "blocks/a.log", "blocks/a.index", false, &fi, problem, sizeof(problem)), -EBADMSG);
    HAS(problem, "blocks/a.index: disagrees with blocks/a.log");
    cut("d/blocks/a.index", 3);
    CHECK_EQ(sk_blockfile_check(dfd, "blocks/a.log", "blocks/a.index", false, &fi, problem, sizeof(problem)), -EBADMSG);
    HAS(problem, "not a multiple");
    CHECK(unlink("d/blocks/a.index") == 0);
    CHECK_EQ(sk_blockfile_check(dfd, "blocks/a.log", "blocks/a.index", false, &fi, problem, sizeof(problem)), -EBADMSG);
    HAS(problem, "no index");
    CHECK_EQ(sk_blockfile_check(dfd, "blocks/none.log", "blocks/none.index", false, &fi, problem, sizeof(problem)),
             -ENOENT);

    /* A block in the middle holds the wrong number: only the deep walk reads it. */
    mk_blocks("d/blocks/a.log", "d/blocks/a.index", 21, 40);
    poke("d/blocks/a.log", 48 + 5 * 40 + 17, 0x77);
    CHECK_EQ(sk_blockfile_check(dfd, "blocks/a.log", "blocks/a.index", false, &fi, problem, sizeof(problem)), 0);
    CHECK_EQ(sk_blockfile_check(dfd, "blocks/a.log", "blocks/a.index", true, &fi, problem, sizeof(problem)), -EBADMSG);
    HAS(problem, "block 26");
    /* A broken totem. */
    mk_blocks("d/blocks/a.log", "d/blocks/a.index", 21, 40);
    poke("d/blocks/a.log", 41, 0);
    CHECK_EQ(sk_blockfile_check(dfd, "blocks/a.log", "blocks/a.index", false, &fi, problem, sizeof(problem)), -EBADMSG);
    HAS(problem, "separator");
    close(dfd);
    CHECK_EQ(system("rm -rf d"), 0);
}

TEST(layouts_ship_reader)
{
    CHECK(mkdir("d", 0755) == 0 && mkdir("d/sh", 0755) == 0);
    int dfd = dir_fd("d");
    char problem[512];
    sk_logfile_info_t fi;
    mk_ship("d/sh/t.log", "d/sh/t.index", 2, 30, 0);
    CHECK_EQ(sk_shiplog_check(dfd, "sh/t.log", "sh/t.index", true, &fi, problem, sizeof(problem)), 0);
    CHECK_EQ(fi.first_block, 2);
    CHECK_EQ(fi.last_block, 30);
    CHECK(!fi.pruned);
    unit_write_file("d/sh/e.log", "", 0);
    CHECK_EQ(sk_shiplog_check(dfd, "sh/e.log", "sh/e.index", true, &fi, problem, sizeof(problem)), 0);
    CHECK_EQ(fi.last_block, 0);

    cut("d/sh/t.log", 5);
    CHECK_EQ(sk_shiplog_check(dfd, "sh/t.log", "sh/t.index", false, &fi, problem, sizeof(problem)), -EBADMSG);
    HAS(problem, "sh/t.log: tail cut");
    mk_ship("d/sh/t.log", "d/sh/t.index", 2, 30, 0);
    cut("d/sh/t.index", 8);
    CHECK_EQ(sk_shiplog_check(dfd, "sh/t.log", "sh/t.index", false, &fi, problem, sizeof(problem)), -EBADMSG);
    HAS(problem, "sh/t.index: disagrees with sh/t.log");
    mk_ship("d/sh/t.log", "d/sh/t.index", 2, 30, 0);
    poke("d/sh/t.index", 8 * 28, 1); /* the last entry's position */
    CHECK_EQ(sk_shiplog_check(dfd, "sh/t.log", "sh/t.index", false, &fi, problem, sizeof(problem)), -EBADMSG);
    HAS(problem, "its last entry is at");
    mk_ship("d/sh/t.log", "d/sh/t.index", 2, 30, 0);
    poke("d/sh/t.log", 7, 0x11);
    CHECK_EQ(sk_shiplog_check(dfd, "sh/t.log", "sh/t.index", false, &fi, problem, sizeof(problem)), -EBADMSG);
    HAS(problem, "not a state-history log");
    CHECK(unlink("d/sh/t.index") == 0);
    mk_ship("d/sh/t.log", "d/sh/x.index", 2, 30, 0);
    CHECK_EQ(sk_shiplog_check(dfd, "sh/t.log", "sh/t.index", false, &fi, problem, sizeof(problem)), -EBADMSG);
    HAS(problem, "no index");

    /* Deep: an entry in the middle names another block. */
    mk_ship("d/sh/t.log", "d/sh/t.index", 2, 30, 0);
    size_t ilen = 0;
    unsigned char *idx = (unsigned char *)unit_read_file("d/sh/t.index", &ilen);
    CHECK(idx && ilen == 29 * 8);
    poke("d/sh/t.log", (off_t)(idx[8 * 5] | idx[8 * 5 + 1] << 8) + 8 + 3, 0x63); /* block 7's entry */
    free(idx);
    CHECK_EQ(sk_shiplog_check(dfd, "sh/t.log", "sh/t.index", false, &fi, problem, sizeof(problem)), 0);
    CHECK_EQ(sk_shiplog_check(dfd, "sh/t.log", "sh/t.index", true, &fi, problem, sizeof(problem)), -EBADMSG);
    HAS(problem, "holds block");

    /* Pruned: feature bit 1 in the first magic, a trailing u32 count. */
    mk_ship("d/sh/p.log", "d/sh/p.index", 1, 20, 8);
    CHECK_EQ(sk_shiplog_check(dfd, "sh/p.log", "sh/p.index", true, &fi, problem, sizeof(problem)), 0);
    CHECK(fi.pruned);
    CHECK_EQ(fi.last_block, 20);
    mk_ship("d/sh/p.log", "d/sh/p.index", 1, 20, 30);
    CHECK_EQ(sk_shiplog_check(dfd, "sh/p.log", "sh/p.index", false, &fi, problem, sizeof(problem)), -EBADMSG);
    HAS(problem, "keeps 30 blocks");
    close(dfd);
    CHECK_EQ(system("rm -rf d"), 0);
}

TEST(layouts_sequence_and_folders)
{
    CHECK_EQ(system("mkdir -p d/blocks/retained d/blocks/archive d/state-history/retained"), 0);
    int dfd = dir_fd("d");
    char problem[512];
    sk_layouts_info_t li;
    mk_blocks("d/blocks/retained/blocks-1-10.log", "d/blocks/retained/blocks-1-10.index", 1, 10);
    mk_blocks("d/blocks/retained/blocks-11-20.log", "d/blocks/retained/blocks-11-20.index", 11, 20);
    mk_blocks("d/blocks/archive/blocks-1-5.log", "d/blocks/archive/x", 1, 2); /* never read */
    mk_ship("d/state-history/retained/trace_history-2-10.log", "d/state-history/retained/trace_history-2-10.index", 2,
            10, 0);
    mk_ship("d/state-history/trace_history.log", "d/state-history/trace_history.index", 11, 25, 0);
    CHECK_EQ(sk_layouts_check(dfd, 21, true, &li, problem, sizeof(problem)), 0);
    CHECK_STR(problem, "");
    CHECK_EQ(li.retained_files, 2);
    CHECK_EQ(li.retained_first, 1);
    CHECK_EQ(li.retained_last, 20);
    CHECK_EQ(li.archived_files, 1);
    CHECK_STR(li.retained_dir, "blocks/retained");
    CHECK(li.ship[1].present && !li.ship[0].present);
    CHECK_EQ(li.ship[1].first_block, 2);
    CHECK_EQ(li.ship[1].last_block, 25);
    CHECK_EQ(li.ship[1].retained_files, 1);

    /* blocks.log must start right after the last bundle. */
    CHECK_EQ(sk_layouts_check(dfd, 25, false, &li, problem, sizeof(problem)), 0);
    HAS(problem, "blocks/blocks.log: starts at block 25, but the retained bundles end at 20 (a gap)");
    CHECK_EQ(sk_layouts_check(dfd, 19, false, &li, problem, sizeof(problem)), 0);
    HAS(problem, "(an overlap)");
    /* Bundles overlap, or leave a gap. */
    mk_blocks("d/blocks/retained/blocks-15-30.log", "d/blocks/retained/blocks-15-30.index", 15, 30);
    CHECK_EQ(sk_layouts_check(dfd, 31, false, &li, problem, sizeof(problem)), 0);
    HAS(problem, "blocks/retained/blocks-15-30.log: overlaps");
    CHECK(unlink("d/blocks/retained/blocks-15-30.log") == 0 && unlink("d/blocks/retained/blocks-15-30.index") == 0);
    CHECK(unlink("d/blocks/retained/blocks-11-20.log") == 0 && unlink("d/blocks/retained/blocks-11-20.index") == 0);
    CHECK_EQ(sk_layouts_check(dfd, 11, false, &li, problem, sizeof(problem)), 0);
    CHECK_STR(problem, "");
    mk_blocks("d/blocks/retained/blocks-12-20.log", "d/blocks/retained/blocks-12-20.index", 12, 20);
    CHECK_EQ(sk_layouts_check(dfd, 21, false, &li, problem, sizeof(problem)), 0);
    HAS(problem, "a gap: missing blocks 11..11");
    CHECK(unlink("d/blocks/retained/blocks-12-20.log") == 0 && unlink("d/blocks/retained/blocks-12-20.index") == 0);
    /* The state-history log must follow its retained bundles. */
    mk_ship("d/state-history/trace_history.log", "d/state-history/trace_history.index", 12, 25, 0);
    CHECK_EQ(sk_layouts_check(dfd, 11, false, &li, problem, sizeof(problem)), 0);
    HAS(problem, "state-history/trace_history.log: starts at block 12, but its retained bundles end at 10");
    mk_ship("d/state-history/trace_history.log", "d/state-history/trace_history.index", 11, 25, 0);
    /* state-history-retained-dir names the bundles' folder. */
    CHECK(rename("d/state-history/retained", "d/state-history/old") == 0);
    CHECK_EQ(sk_layouts_check(dfd, 11, false, &li, problem, sizeof(problem)), 0);
    CHECK_EQ(li.ship[1].retained_files, 0);
    CHECK_EQ(li.ship[1].first_block, 11);
    unit_write_text("d/config.ini", "state-history-retained-dir = old\n");
    CHECK_EQ(sk_layouts_check(dfd, 11, false, &li, problem, sizeof(problem)), 0);
    CHECK_STR(problem, "");
    CHECK_EQ(li.ship[1].retained_files, 1);
    CHECK(unlink("d/config.ini") == 0);
    CHECK(rename("d/state-history/old", "d/state-history/retained") == 0);

    /* config.ini names the folders: relative to blocks/, nothing outside the data-dir is read. */
    CHECK_EQ(system("mkdir -p d/blocks/mine && mv d/blocks/retained/blocks-1-10.* d/blocks/mine/"), 0);
    CHECK_EQ(sk_layouts_check(dfd, 11, false, &li, problem, sizeof(problem)), 0);
    CHECK_STR(problem, "");
    CHECK_EQ(li.retained_files, 0); /* not where they are looked for without config.ini */
    unit_write_text("d/config.ini", "blocks-log-stride = 10\nblocks-retained-dir = \"mine\"\n");
    CHECK_EQ(sk_layouts_check(dfd, 11, false, &li, problem, sizeof(problem)), 0);
    CHECK_STR(problem, "");
    CHECK_STR(li.retained_dir, "blocks/mine");
    CHECK_EQ(li.stride, 10);
    CHECK(!li.outside);
    unit_write_text("d/config.ini", "blocks-retained-dir = /etc\nstate-history-dir = ../../x\n");
    CHECK_EQ(sk_layouts_check(dfd, 11, false, &li, problem, sizeof(problem)), 0);
    CHECK_STR(problem, "");
    CHECK(li.outside);
    CHECK_EQ(li.retained_files, 0);
    CHECK(!li.ship_dir[0]);
    char cfg[600];
    snprintf(cfg, sizeof(cfg), "blocks-retained-dir = %0300d\n", 7);
    unit_write_text("d/config.ini", cfg);
    CHECK_EQ(sk_layouts_check(dfd, 11, false, &li, problem, sizeof(problem)), 0);
    CHECK_STR(problem, "");
    CHECK(li.outside); /* a name too long for a folder we would read */
    /* A link among the bundles is never followed. */
    unit_write_text("d/config.ini", "blocks-retained-dir = mine\n");
    CHECK(symlink("/etc/passwd", "d/blocks/mine/blocks-11-12.log") == 0);
    CHECK_EQ(sk_layouts_check(dfd, 13, false, &li, problem, sizeof(problem)), 0);
    HAS(problem, "blocks/mine/blocks-11-12.log: a symbolic link");
    close(dfd);
    CHECK_EQ(system("rm -rf d"), 0);
}

TEST(layouts_real_nodeos_fixture)
{
    char exe[PATH_MAX], src[PATH_MAX] = "", cmd[3 * PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    CHECK(n > 0);
    exe[n] = '\0';
    for (int up = 0; up < 4 && !src[0]; up++) {
        *strrchr(exe, '/') = '\0';
        char cand[PATH_MAX + 64];
        snprintf(cand, sizeof(cand), "%s/tests/fixtures/leap-4.0.6-layouts", exe);
        if (access(cand, F_OK) == 0)
            snprintf(src, sizeof(src), "%s", cand);
    }
    CHECK(src[0]);
    snprintf(cmd, sizeof(cmd),
             "mkdir d && cp -a %s/blocks %s/state-history d/ && cp %s/config-layouts.ini d/config.ini", src, src, src);
    CHECK_EQ(system(cmd), 0);
    int dfd = dir_fd("d");
    char problem[512];
    sk_layouts_info_t li;
    CHECK_EQ(sk_layouts_check(dfd, 81, true, &li, problem, sizeof(problem)), 0);
    CHECK_STR(problem, "");
    CHECK_EQ(li.retained_files, 3);
    CHECK_EQ(li.retained_first, 21);
    CHECK_EQ(li.retained_last, 80);
    CHECK_EQ(li.archived_files, 1);
    CHECK_EQ(li.stride, 20);
    CHECK_EQ(li.ship[0].first_block, 1);
    CHECK_EQ(li.ship[1].first_block, 2);
    CHECK(li.ship[0].last_block >= 87 && li.ship[1].last_block == li.ship[0].last_block);
    sk_logfile_info_t fi;
    CHECK_EQ(sk_blockfile_check(dfd, "blocks/archive/blocks-1-20.log", "blocks/archive/blocks-1-20.index", true, &fi,
                                problem, sizeof(problem)),
             0);
    CHECK_EQ(fi.first_block, 1);
    CHECK_EQ(fi.last_block, 20);
    close(dfd);
    CHECK_EQ(system("rm -rf d"), 0);
}
