/*
 * test_fsutil: the parsers of sizes, durations and bounded integers (what
 * they accept and what they must reject), rm -rf that never follows a
 * symbolic link out of the tree, atomic writes that leave no temporary file,
 * fcntl lock holders seen from another process, and the smaller helpers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/chunk.h"
#include "slotkeeper/fsutil.h"
#include "unit.h"

struct size_case {
    const char *s;
    uint64_t v;
};

TEST(fsutil_parse_size)
{
    const struct size_case ok[] = {
        {"0", 0},
        {"4096", 4096},
        {"1B", 1},
        {"64K", 64ULL << 10},
        {"64k", 64ULL << 10},
        {"64KiB", 64ULL << 10},
        {"1M", 1ULL << 20},
        {"64MiB", 64ULL << 20},
        {"1G", 1ULL << 30},
        {"2GiB", 2ULL << 30},
        {"3T", 3ULL << 40},
        {"1TiB", 1ULL << 40},
        {"18446744073709551615", UINT64_MAX},
        {"16777215T", 16777215ULL << 40},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 12345;
        int rc = sk_parse_size(ok[i].s, &v);
        if (rc != 0 || v != ok[i].v)
            unit_fail(__FILE__, __LINE__, "sk_parse_size(\"%s\"): rc %d, %llu (want %llu)", ok[i].s, rc,
                      (unsigned long long)v, (unsigned long long)ok[i].v);
    }
    const char *bad[] = {
        "",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1.5M",
        "1,5M",
        "12X",
        "M",
        "KiB",
        "1 M",
        "1MB",
        "1Mi",
        "1mib",
        "0x10",
        "1e3",
        "1KK",
        "1Kb",
        "1.0",
        "99999999999999999999",
        "16777216T",
        "18446744073709551616",
        "17179869184G",
        "-0",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 0;
        if (sk_parse_size(bad[i], &v) >= 0)
            unit_fail(__FILE__, __LINE__, "sk_parse_size(\"%s\") accepted it as %llu", bad[i], (unsigned long long)v);
    }
}

TEST(fsutil_parse_duration)
{
    const struct size_case ok[] = {
        {"0", 0},       {"30", 30000}, {"30s", 30000},   {"5m", 300000},    {"1h", 3600000},
        {"250ms", 250}, {"0ms", 0},    {"1000ms", 1000}, {"24h", 86400000}, {"18446744073709551615ms", UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 12345;
        int rc = sk_parse_duration_ms(ok[i].s, &v);
        if (rc != 0 || v != ok[i].v)
            unit_fail(__FILE__, __LINE__, "sk_parse_duration_ms(\"%s\"): rc %d, %llu (want %llu)", ok[i].s, rc,
                      (unsigned long long)v, (unsigned long long)ok[i].v);
    }
    const char *bad[] = {"",
                         "-1",
                         "+1",
                         " 1",
                         "1.5s",
                         "12X",
                         "s",
                         "ms",
                         "5 m",
                         "5M",
                         "1d",
                         "5mm",
                         "1hs",
                         "0x10",
                         "1e3",
                         "99999999999999999999",
                         "18446744073709551615",
                         "5124095576030432h"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 0;
        if (sk_parse_duration_ms(bad[i], &v) >= 0)
            unit_fail(__FILE__, __LINE__, "sk_parse_duration_ms(\"%s\") accepted it as %llu", bad[i],
                      (unsigned long long)v);
    }
}

TEST(fsutil_parse_uint)
{
    uint64_t v = 0;
    CHECK_EQ(sk_parse_uint("0", 0, 10, &v), 0);
    CHECK_EQ(v, 0);
    CHECK_EQ(sk_parse_uint("10", 0, 10, &v), 0);
    CHECK_EQ(v, 10);
    CHECK_EQ(sk_parse_uint("007", 0, 10, &v), 0);
    CHECK_EQ(v, 7);
    CHECK_EQ(sk_parse_uint("19", 1, 19, &v), 0);
    CHECK_EQ(v, 19);
    CHECK_EQ(sk_parse_uint("18446744073709551615", 0, UINT64_MAX, &v), 0);
    CHECK(v == UINT64_MAX);
    /* Out of range. */
    CHECK(sk_parse_uint("11", 0, 10, &v) < 0);
    CHECK(sk_parse_uint("0", 1, 19, &v) < 0);
    CHECK(sk_parse_uint("20", 1, 19, &v) < 0);
    const char *bad[] = {
        "", "-1", "+1", " 1", "1 ", "1.5", "12X", "1K", "0x1", "1e1", "99999999999999999999", "18446744073709551616"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 0;
        if (sk_parse_uint(bad[i], 0, UINT64_MAX, &v) >= 0)
            unit_fail(__FILE__, __LINE__, "sk_parse_uint(\"%s\") accepted it as %llu", bad[i], (unsigned long long)v);
    }
}

TEST(fsutil_rm_rf_keeps_link_targets)
{
    CHECK_EQ(sk_mkdir_p("outside/dir", 0755), 0);
    unit_write_text("outside/keep", "precious\n");
    unit_write_text("outside/dir/keep2", "precious too\n");
    CHECK_EQ(sk_mkdir_p("t/a/b/c", 0755), 0);
    CHECK_EQ(sk_mkdir_p("t/empty", 0755), 0);
    unit_write_text("t/a/b/c/file", "x");
    unit_write_text("t/a/file", "y");
    unit_write_text("t/.hidden", "z");
    CHECK_EQ(symlink("../../outside", "t/a/up"), 0);                       /* relative, to a folder */
    CHECK_EQ(symlink(unit_abs("outside/dir", 0), "t/a/b/abs"), 0);         /* absolute, to a folder */
    CHECK_EQ(symlink(unit_abs("outside/keep", 0), "t/a/b/c/filelink"), 0); /* to a file */
    CHECK_EQ(symlink("/nonexistent/dangling", "t/dangling"), 0);
    CHECK_EQ(mkfifo("t/a/fifo", 0644), 0);
    /* A folder without permissions for others still goes (we own it). */
    CHECK_EQ(chmod("t/a/b", 0700), 0);

    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0);
    CHECK_EQ(sk_rm_rf_at(dfd, "t"), 0);
    CHECK(!unit_exists("t"));
    size_t len;
    char *s = unit_read_file("outside/keep", &len);
    CHECK_STR(s, "precious\n");
    free(s);
    s = unit_read_file("outside/dir/keep2", &len);
    CHECK_STR(s, "precious too\n");
    free(s);

    /* A missing name is not an error; a plain file and a symlink to a folder are removed themselves. */
    CHECK_EQ(sk_rm_rf_at(dfd, "t"), 0);
    unit_write_text("plain", "p");
    CHECK_EQ(sk_rm_rf_at(dfd, "plain"), 0);
    CHECK(!unit_exists("plain"));
    CHECK_EQ(symlink("outside", "toplink"), 0);
    CHECK_EQ(sk_rm_rf_at(dfd, "toplink"), 0);
    CHECK(!unit_exists("toplink"));
    CHECK(unit_exists("outside/keep"));
    CHECK(unit_exists("outside/dir/keep2"));
    close(dfd);
}

/* The number of names in dir other than ".", ".." and except. */
static int count_entries(const char *dir, const char *except)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (except && !strcmp(de->d_name, except))
            continue;
        n++;
    }
    closedir(d);
    return n;
}

TEST(fsutil_write_file_atomic)
{
    CHECK_EQ(mkdir("d", 0755), 0);
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0);
    CHECK_EQ(sk_write_file_atomic(dfd, "cfg", "one\n", 4, 0640), 0);
    size_t len;
    char *s = unit_read_file("d/cfg", &len);
    CHECK_STR(s, "one\n");
    free(s);
    struct stat st;
    CHECK_EQ(stat("d/cfg", &st), 0);
    CHECK_EQ(st.st_mode & 07777, 0640);
    CHECK_EQ(count_entries("d", "cfg"), 0);

    /* Replacing: readers see the old or the new file, never a mix; no temporary is left. */
    ino_t old = st.st_ino;
    CHECK_EQ(sk_write_file_atomic(dfd, "cfg", "two two\n", 8, 0640), 0);
    s = unit_read_file("d/cfg", &len);
    CHECK_STR(s, "two two\n");
    free(s);
    CHECK_EQ(stat("d/cfg", &st), 0);
    CHECK(st.st_ino != old);
    CHECK_EQ(count_entries("d", "cfg"), 0);

    /* Empty content is a valid file. */
    CHECK_EQ(sk_write_file_atomic(dfd, "empty", "", 0, 0644), 0);
    CHECK_EQ(stat("d/empty", &st), 0);
    CHECK_EQ(st.st_size, 0);
    CHECK_EQ(unlink("d/empty"), 0);

    /* A failed rename (the name is a non-empty folder) leaves nothing behind. */
    CHECK_EQ(mkdir("d/sub", 0755), 0);
    unit_write_text("d/sub/x", "x");
    CHECK(sk_write_file_atomic(dfd, "sub", "z", 1, 0644) < 0);
    CHECK_EQ(count_entries("d", "cfg"), 1); /* only "sub" */
    s = unit_read_file("d/sub/x", &len);
    CHECK_STR(s, "x");
    free(s);
    close(dfd);
}

struct lock_arg {
    const char *path;
    short type;
};

static void hold_fcntl_lock(void *arg, int ready_fd)
{
    struct lock_arg *a = arg;
    int fd = open(a->path, a->type == F_WRLCK ? O_RDWR : O_RDONLY);
    if (fd < 0)
        _exit(2);
    struct flock fl = {.l_type = a->type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_SETLK, &fl) < 0)
        _exit(2);
    unit_child_ready(ready_fd, NULL);
    /* fd stays open (and the lock held) until the process exits. */
}

TEST(fsutil_fcntl_lock_holder)
{
    unit_write_text("shared_memory.bin", "state");
    pid_t pid = -1;
    CHECK_EQ(sk_fcntl_lock_holder("shared_memory.bin", &pid), 0);
    CHECK_EQ(sk_fcntl_lock_holder("missing.bin", &pid), -ENOENT);

    /* A write lock held by another process. */
    struct lock_arg wr = {.path = "shared_memory.bin", .type = F_WRLCK};
    unit_child_t c;
    unit_child_start(&c, hold_fcntl_lock, &wr);
    unit_child_wait_ready(&c, NULL, 0);
    pid = -1;
    CHECK_EQ(sk_fcntl_lock_holder("shared_memory.bin", &pid), 1);
    CHECK_EQ(pid, c.pid);
    int status = unit_child_release(&c);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(sk_fcntl_lock_holder("shared_memory.bin", &pid), 0);

    /* A read lock also conflicts with a write lock. */
    struct lock_arg rd = {.path = "shared_memory.bin", .type = F_RDLCK};
    unit_child_start(&c, hold_fcntl_lock, &rd);
    unit_child_wait_ready(&c, NULL, 0);
    pid = -1;
    CHECK_EQ(sk_fcntl_lock_holder("shared_memory.bin", &pid), 1);
    CHECK_EQ(pid, c.pid);

    /* A holder that dies releases it. */
    unit_child_kill(&c);
    CHECK_EQ(sk_fcntl_lock_holder("shared_memory.bin", &pid), 0);

    /* Our own lock is not a conflict for ourselves (F_GETLK ignores the caller's locks). */
    int fd = open("shared_memory.bin", O_RDWR);
    CHECK(fd >= 0);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    CHECK_EQ(fcntl(fd, F_SETLK, &fl), 0);
    CHECK_EQ(sk_fcntl_lock_holder("shared_memory.bin", &pid), 0);
    close(fd);
}

TEST(fsutil_small_helpers)
{
    char out[16];
    CHECK_EQ(sk_path_join(out, sizeof(out), "a", "b"), 0);
    CHECK_STR(out, "a/b");
    CHECK_EQ(sk_path_join(out, sizeof(out), "a/", "b"), 0);
    CHECK_STR(out, "a/b");
    CHECK_EQ(sk_path_join(out, sizeof(out), "", "b"), 0);
    CHECK_STR(out, "b");
    CHECK_EQ(sk_path_join(out, sizeof(out), NULL, "b"), 0);
    CHECK_STR(out, "b");
    CHECK_EQ(sk_path_join(out, sizeof(out), "0123456", "789abcde"), -ENAMETOOLONG);
    CHECK_EQ(sk_path_join(out, sizeof(out), "0123456", "789abcd"), 0);
    CHECK_STR(out, "0123456/789abcd");

    char b[32];
    CHECK_STR(sk_fmt_bytes(0, b, sizeof(b)), "0 B");
    CHECK_STR(sk_fmt_bytes(1023, b, sizeof(b)), "1023 B");
    CHECK_STR(sk_fmt_bytes(1536, b, sizeof(b)), "1.5 KiB");
    CHECK_STR(sk_fmt_bytes(3ULL << 30, b, sizeof(b)), "3.0 GiB");

    CHECK_EQ(sk_mkdir_p("m/n/o", 0755), 0);
    CHECK_EQ(sk_mkdir_p("m/n/o", 0755), 0);
    CHECK_EQ(sk_mkdir_p("m/n/o/", 0755), 0);
    unit_write_text("m/file", "f");
    CHECK(sk_mkdir_p("m/file", 0755) < 0);
    CHECK(sk_mkdir_p("m/file/sub", 0755) < 0);
    CHECK_EQ(sk_mkdir_p(unit_abs("p/q", 0), 0755), 0);
    CHECK(unit_exists("p/q"));

    /* sk_read_file_at: limits, NUL termination, no symlinks, no folders. */
    unit_write_text("r", "hello");
    char *buf = NULL;
    size_t len = 0;
    CHECK_EQ(sk_read_file_at(AT_FDCWD, "r", 5, &buf, &len), 0);
    CHECK_EQ(len, 5);
    CHECK_STR(buf, "hello");
    free(buf);
    CHECK_EQ(sk_read_file_at(AT_FDCWD, "r", 4, &buf, &len), -EFBIG);
    CHECK_EQ(symlink("r", "rl"), 0);
    CHECK(sk_read_file_at(AT_FDCWD, "rl", 100, &buf, &len) < 0);
    CHECK(sk_read_file_at(AT_FDCWD, "m", 100, &buf, &len) < 0);
    CHECK_EQ(sk_read_file_at(AT_FDCWD, "nope", 100, &buf, &len), -ENOENT);

    /* sk_pread_full stops at the end of the file. */
    int fd = open("r", O_RDONLY);
    CHECK(fd >= 0);
    char rb[16];
    CHECK_EQ(sk_pread_full(fd, rb, sizeof(rb), 2), 3);
    CHECK(!memcmp(rb, "llo", 3));
    CHECK_EQ(sk_pread_full(fd, rb, sizeof(rb), 100), 0);
    close(fd);

    /* sk_pwrite_all at an offset leaves a hole before it. */
    fd = open("w", O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0);
    CHECK_EQ(sk_pwrite_all(fd, "xy", 2, 10), 0);
    char wb[12];
    CHECK_EQ(sk_pread_full(fd, wb, sizeof(wb), 0), 12);
    CHECK(sk_is_zero(wb, 10));
    CHECK(!memcmp(wb + 10, "xy", 2));
    close(fd);

    uint64_t avail = 0;
    CHECK_EQ(sk_fs_avail(".", &avail), 0);
    CHECK(avail > 0);
    double t0 = sk_now(), t1 = sk_now();
    CHECK(t1 >= t0 && t0 > 0);
}
