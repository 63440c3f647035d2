/*
 * test_beneath: sk_open_beneath and its relatives, with openat2 and with the walk that kernels
 * without openat2 get (forced here): nested paths resolve, a symbolic link anywhere on the
 * way or at the end is -ELOOP, "..", an absolute path and an empty one are refused, O_CREAT
 * creates beneath, and a stat or a parent open follow the same rules. Plus the directory
 * fsync helpers and the POSIX storage driver over the same tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/fsutil.h"
#include "slotkeeper/storage.h"
#include "unit.h"

static void tree(void)
{
    CHECK_EQ(sk_mkdir_p("root/a/b", 0755), 0);
    CHECK_EQ(sk_mkdir_p("outside", 0755), 0);
    unit_write_text("root/a/b/f", "f\n");
    unit_write_text("outside/secret", "s\n");
    CHECK_EQ(symlink("../../outside", "root/a/up"), 0);
    CHECK_EQ(symlink("f", "root/a/b/flink"), 0);
    CHECK_EQ(symlink("b", "root/a/blink"), 0);
}

static void rules(int rootfd)
{
    int fd = sk_open_beneath(rootfd, "a/b/f", O_RDONLY, 0);
    CHECK(fd >= 0);
    close(fd);
    fd = sk_open_beneath(rootfd, "a/b", O_RDONLY | O_DIRECTORY, 0);
    CHECK(fd >= 0);
    close(fd);
    CHECK_EQ(sk_open_beneath(rootfd, "a/up/secret", O_RDONLY, 0), -ELOOP);
    CHECK_EQ(sk_open_beneath(rootfd, "a/blink/f", O_RDONLY, 0), -ELOOP);
    CHECK_EQ(sk_open_beneath(rootfd, "a/b/flink", O_RDONLY, 0), -ELOOP);
    CHECK_EQ(sk_open_beneath(rootfd, "a/blink", O_RDONLY | O_DIRECTORY, 0), -ELOOP);
    CHECK_EQ(sk_open_beneath(rootfd, "a/b/f/x", O_RDONLY, 0), -ENOTDIR);
    CHECK_EQ(sk_open_beneath(rootfd, "a/../../outside/secret", O_RDONLY, 0), -EXDEV);
    CHECK_EQ(sk_open_beneath(rootfd, "/etc/passwd", O_RDONLY, 0), -EXDEV);
    CHECK_EQ(sk_open_beneath(rootfd, "", O_RDONLY, 0), -EINVAL);
    CHECK_EQ(sk_open_beneath(rootfd, "a/missing/f", O_RDONLY, 0), -ENOENT);
    fd = sk_open_beneath(rootfd, "a/b/new", O_WRONLY | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    close(fd);
    CHECK(unit_exists("root/a/b/new"));
    CHECK_EQ(unlink("root/a/b/new"), 0);
    struct stat st;
    CHECK_EQ(sk_stat_beneath(rootfd, "a/b/flink", &st), 0);
    CHECK(S_ISLNK(st.st_mode));
    CHECK_EQ(sk_stat_beneath(rootfd, "a/up/secret", &st), -ELOOP);
    const char *leaf;
    int pfd = sk_open_parent_beneath(rootfd, "a/b/f", &leaf);
    CHECK(pfd >= 0);
    CHECK_STR(leaf, "f");
    close(pfd);
    pfd = sk_open_parent_beneath(rootfd, "top", &leaf);
    CHECK(pfd >= 0);
    CHECK_STR(leaf, "top");
    close(pfd);
    CHECK_EQ(sk_open_parent_beneath(rootfd, "a/up/secret", &leaf), -ELOOP);
    CHECK(strstr(sk_beneath_strerror(-ELOOP), "symbolic link"));
    CHECK(!strcmp(sk_beneath_strerror(-ENOENT), strerror(ENOENT)));
}

TEST(beneath_with_openat2)
{
    tree();
    int rootfd = open("root", O_RDONLY | O_DIRECTORY);
    CHECK(rootfd >= 0);
    rules(rootfd);
    close(rootfd);
}

TEST(beneath_with_the_walk)
{
    tree();
    int rootfd = open("root", O_RDONLY | O_DIRECTORY);
    CHECK(rootfd >= 0);
    sk_beneath_force_walk(true);
    rules(rootfd);
    char longname[PATH_MAX + 10];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    CHECK_EQ(sk_open_beneath(rootfd, longname, O_RDONLY, 0), -ENAMETOOLONG);
    CHECK_EQ(sk_open_beneath(rootfd, "/", O_RDONLY, 0), -EXDEV);
    sk_beneath_force_walk(false);
    close(rootfd);
}

TEST(beneath_fsync_helpers)
{
    CHECK_EQ(sk_mkdir_p("d/e", 0755), 0);
    CHECK_EQ(sk_fsync_dir("d"), 0);
    CHECK_EQ(sk_fsync_dir("nosuch"), -ENOENT);
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    CHECK_EQ(sk_fsync_at(dfd, "e"), 0);
    CHECK_EQ(symlink("e", "d/elink"), 0);
    CHECK(sk_fsync_at(dfd, "elink") < 0); /* never through a link beneath a folder */
    close(dfd);
}

static int count(void *arg, const char *name)
{
    (void)name;
    ++*(int *)arg;
    return 0;
}

static int stop_at_first(void *arg, const char *name)
{
    (void)arg;
    (void)name;
    return 7;
}

TEST(storage_posix_driver)
{
    tree();
    sk_storage_t *s;
    CHECK_EQ(sk_storage_posix_open("nosuch", false, &s), -ENOENT);
    CHECK_EQ(sk_storage_posix_open("made/here", true, &s), 0);
    sk_storage_close(s);
    CHECK_EQ(sk_storage_posix_open("root", false, &s), 0);
    sk_storage_info_t in;
    CHECK_EQ(sk_storage_info(s, "", &in), 0);
    CHECK_EQ(in.type, SK_STORAGE_DIR);
    CHECK_EQ(sk_storage_info(s, "a/b/flink", &in), 0);
    CHECK_EQ(in.type, SK_STORAGE_LINK);
    CHECK_EQ(sk_storage_info(s, "a/up/secret", &in), -ELOOP);
    /* write, read (whole, bounded, prefix), rename, list, remove */
    CHECK_EQ(sk_storage_write(s, "a/x", "hello", 5, SK_STORAGE_SYNC | SK_STORAGE_WRITEBACK), 0);
    CHECK_EQ(sk_storage_write(s, "a/x", "again", 5, SK_STORAGE_EXCL), -EEXIST);
    CHECK_EQ(sk_storage_write(s, "a/y", "atomic", 6, SK_STORAGE_ATOMIC), 0);
    CHECK_EQ(sk_storage_write(s, "a/up/evil", "x", 1, 0), -ELOOP);
    void *buf = NULL;
    size_t cap = 0, len = 0;
    CHECK_EQ(sk_storage_read(s, "a/x", 100, 0, &buf, &cap, &len), 0);
    CHECK_EQ(len, 5);
    CHECK_STR((char *)buf, "hello");
    CHECK_EQ(sk_storage_read(s, "a/x", 3, 0, &buf, &cap, &len), -EFBIG);
    CHECK_EQ(sk_storage_read(s, "a/x", 3, SK_STORAGE_PREFIX, &buf, &cap, &len), 0);
    CHECK_STR((char *)buf, "hel");
    CHECK_EQ(sk_storage_read(s, "a/b", 100, 0, &buf, &cap, &len), -EINVAL);
    CHECK_EQ(sk_storage_read(s, "a/b/flink", 100, 0, &buf, &cap, &len), -ELOOP);
    free(buf);
    CHECK_EQ(sk_storage_rename(s, "a/x", "a/y", SK_STORAGE_NOREPLACE), -EEXIST);
    CHECK_EQ(sk_storage_rename(s, "a/x", "a/z", SK_STORAGE_NOREPLACE), 0);
    CHECK_EQ(sk_storage_rename(s, "a/z", "a/y", 0), 0);
    int n = 0;
    CHECK_EQ(sk_storage_list(s, "a", count, &n), 0);
    CHECK_EQ(n, 4); /* b, up, blink, y */
    CHECK_EQ(sk_storage_list(s, "a", stop_at_first, NULL), 7);
    CHECK_EQ(sk_storage_list(s, "a/up", count, &n), -ELOOP);
    CHECK_EQ(sk_storage_mkdir(s, "a/d", 0700), 0);
    CHECK_EQ(sk_storage_mkdir(s, "a/d", 0700), -EEXIST);
    CHECK_EQ(sk_storage_sync(s, "a/d", 0), 0);
    CHECK_EQ(sk_storage_sync(s, "a/y", SK_STORAGE_DATA), 0);
    CHECK_EQ(sk_storage_sync(s, "", SK_STORAGE_ALL), 0);
    CHECK_EQ(sk_storage_remove(s, "a/d", SK_STORAGE_EMPTY_DIR), 0);
    CHECK_EQ(sk_storage_remove(s, "a/y", 0), 0);
    CHECK_EQ(sk_storage_remove(s, "a/y", 0), -ENOENT);
    CHECK_EQ(sk_storage_remove(s, "a/nothing", SK_STORAGE_TREE), 0);
    CHECK_EQ(sk_storage_remove(s, "", 0), -EINVAL);
    CHECK_EQ(sk_storage_remove(s, "a/up", 0), 0); /* the link itself, not its target */
    CHECK(unit_exists("outside/secret"));
    /* locks: exclusive excludes, shared shares, a note is the lock file's contents */
    sk_storage_lock_t *l1, *l2;
    CHECK_EQ(sk_storage_lock(s, "lock", SK_STORAGE_LOCK_NB, &l1), -ENOENT);
    CHECK_EQ(sk_storage_lock(s, "lock", SK_STORAGE_LOCK_CREATE | SK_STORAGE_LOCK_EX | SK_STORAGE_LOCK_WRITE, &l1), 0);
    CHECK_EQ(sk_storage_lock_note(s, l1, "me\n", 3), 0);
    char *t = unit_read_file("root/lock", NULL);
    CHECK_STR(t, "me\n");
    free(t);
    /* flock locks belong to the open file: a second open conflicts even in one process */
    CHECK_EQ(sk_storage_lock(s, "lock", SK_STORAGE_LOCK_NB, &l2), -EWOULDBLOCK);
    sk_storage_unlock(s, l1);
    CHECK_EQ(sk_storage_lock(s, "lock", SK_STORAGE_LOCK_NB, &l1), 0);
    CHECK_EQ(sk_storage_lock(s, "lock", SK_STORAGE_LOCK_NB, &l2), 0);
    sk_storage_unlock(s, l1);
    sk_storage_unlock(s, l2);
    CHECK_EQ(sk_storage_lock(s, "a/b", SK_STORAGE_LOCK_EX | SK_STORAGE_LOCK_NB, &l1), 0); /* a folder */
    sk_storage_unlock(s, l1);
    int dfd = sk_storage_open_dir(s, "a/b");
    CHECK(dfd >= 0);
    close(dfd);
    sk_storage_close(s);
}
