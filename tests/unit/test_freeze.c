/*
 * test_freeze: the parts of the freeze (freeze.h) that need no file system that clones (the
 * working folder is on whatever the tests run on; t_freeze.sh covers XFS): a file system that
 * cannot clone is said so and left untouched, a missing included folder is an error naming it,
 * and the sweep removes the frozen folders nobody holds and keeps the one held.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/freeze.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/reflink.h"
#include "unit.h"

static int open_dir(const char *p)
{
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(fd >= 0);
    return fd;
}

TEST(freeze_without_clones_says_why_and_leaves_nothing)
{
    CHECK(mkdir("dd", 0755) == 0 && mkdir("dd/blocks", 0755) == 0 && mkdir("dd/state", 0755) == 0);
    unit_write_text("dd/blocks/blocks.log", "log");
    int fd = open_dir("dd");
    int why = 0;
    if (sk_reflink_probe(fd, fd, &why) == 1) {
        unit_note("the working folder clones: covered by t_freeze.sh");
        close(fd);
        return;
    }
    const char *inc[] = {"blocks", "state"};
    sk_frozen_t fz;
    char reason[512];
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_EQ(sk_freeze(fd, unit_abs("dd", 0), inc, 2, &fz, reason, sizeof(reason), &err), 1);
    CHECK(strstr(reason, "cannot be cloned") != NULL);
    CHECK(!unit_exists("dd/.slotkeeper")); /* not even its folder */
    CHECK_EQ(fz.fd, -1);
    const char *missing[] = {"nothere"};
    sk_err_clear(&err);
    CHECK(sk_freeze(fd, unit_abs("dd", 0), missing, 1, &fz, reason, sizeof(reason), &err) == -ENOENT);
    CHECK(strstr(err.path, "nothere") != NULL);
    close(fd);
}

TEST(freeze_sweep_removes_what_nobody_holds)
{
    CHECK(mkdir("dd", 0755) == 0 && mkdir("dd/.slotkeeper", 0700) == 0);
    CHECK(mkdir("dd/.slotkeeper/frozen-20000101T000000Z-000000-0a1d", 0700) == 0 &&
          mkdir("dd/.slotkeeper/frozen-20000101T000000Z-000000-0a1d/blocks", 0500) == 0);
    CHECK(mkdir("dd/.slotkeeper/frozen-20000101T000000Z-000000-0e1d", 0700) == 0);
    CHECK(mkdir("dd/.slotkeeper/quarantine", 0700) == 0);
    /* Not a freeze's: a file with an id name, and a frozen copy's own frozen-origin file. */
    unit_write_text("dd/.slotkeeper/frozen-20000101T000000Z-000000-5a1e", "a file");
    unit_write_text("dd/.slotkeeper/frozen-origin", "slotkeeper-frozen-origin 1\n");
    int held = open_dir("dd/.slotkeeper/frozen-20000101T000000Z-000000-0e1d");
    CHECK(flock(held, LOCK_SH | LOCK_NB) == 0);
    int fd = open_dir("dd");
    unsigned n = 0;
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_EQ(sk_freeze_sweep(fd, unit_abs("dd", 0), &n, &err), 0);
    CHECK_EQ(n, 1);
    CHECK(!unit_exists("dd/.slotkeeper/frozen-20000101T000000Z-000000-0a1d"));
    CHECK(unit_exists("dd/.slotkeeper/frozen-20000101T000000Z-000000-5a1e"));
    CHECK(unit_exists("dd/.slotkeeper/frozen-origin"));
    CHECK(unit_exists("dd/.slotkeeper/frozen-20000101T000000Z-000000-0e1d"));
    CHECK(unit_exists("dd/.slotkeeper/quarantine"));
    close(held); /* let go: the next sweep takes it */
    CHECK_EQ(sk_freeze_sweep(fd, unit_abs("dd", 0), &n, &err), 0);
    CHECK_EQ(n, 1);
    CHECK(!unit_exists("dd/.slotkeeper/frozen-20000101T000000Z-000000-0e1d"));
    close(fd);
    /* a data-dir without .slotkeeper */
    CHECK(mkdir("ee", 0755) == 0);
    fd = open_dir("ee");
    CHECK_EQ(sk_freeze_sweep(fd, unit_abs("ee", 0), &n, &err), 0);
    CHECK_EQ(n, 0);
    close(fd);
}

TEST(frozen_discard_is_safe_twice)
{
    sk_frozen_t fz = {.fd = -1, .metafd = -1};
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_EQ(sk_frozen_discard(&fz, &err), 0);
    CHECK_EQ(sk_frozen_discard(&fz, &err), 0);
}
