/*
 * test_statefile: the daemon's state-file writer on a real libuv loop and thread
 * pool: writes land in the order asked, a waiting write of the same file is
 * replaced by a newer one, a removal after a write leaves no file (and removing
 * a missing file is no error), folders are made, no temp file is left, and a
 * write that fails is logged naming its path while the ones after it still land.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "daemon/statefile.h"
#include "unit.h"

static size_t entries(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void run_to_idle(uv_loop_t *loop, sk_statefiles_t *sf)
{
    CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0);
    CHECK(sk_statefiles_idle(sf));
}

/* run_to_idle with stderr in a file; returns what was logged. */
static char *run_logged(uv_loop_t *loop, sk_statefiles_t *sf)
{
    fflush(stderr);
    int saved = dup(2);
    int fd = open("stderr.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    close(fd);
    run_to_idle(loop, sf);
    fflush(stderr);
    CHECK(dup2(saved, 2) == 2);
    close(saved);
    char *err = unit_read_file("stderr.txt", NULL);
    CHECK(err != NULL);
    return err;
}

TEST(statefile_writes_in_order_newest_waiting_wins)
{
    uv_loop_t loop;
    CHECK(uv_loop_init(&loop) == 0);
    sk_statefiles_t *sf = sk_statefiles_new(&loop);
    CHECK(sf != NULL);
    CHECK(sk_statefiles_idle(sf));
    /* The first starts at once; the loop does not run between these calls, so the rest wait. */
    CHECK(sk_statefile_put(sf, "state/deep/slot-1.pid", "1 11\n", 5) == 0);
    CHECK(!sk_statefiles_idle(sf));
    CHECK(sk_statefile_put(sf, "state/deep/slot-1.pid", NULL, 0) == 0);
    CHECK(sk_statefile_put(sf, "state/deep/slot-1.pid", "2 22\n", 5) == 0); /* replaces the removal */
    CHECK(sk_statefile_put(sf, "state/deep/slot-1.restores", "100\n200\n", 8) == 0);
    CHECK(sk_statefile_put(sf, "state/deep/empty", "", 0) == 0);
    run_to_idle(&loop, sf);
    CHECK_STR(unit_read_file("state/deep/slot-1.pid", NULL), "2 22\n");
    CHECK_STR(unit_read_file("state/deep/slot-1.restores", NULL), "100\n200\n");
    struct stat st;
    CHECK(stat("state/deep/empty", &st) == 0 && st.st_size == 0 && (st.st_mode & 0777) == 0644);
    CHECK_EQ(entries("state/deep"), 3); /* no temp file left */
    sk_statefiles_free(sf);
    CHECK(uv_loop_close(&loop) == 0);
}

TEST(statefile_removal_after_write_and_missing_files)
{
    uv_loop_t loop;
    CHECK(uv_loop_init(&loop) == 0);
    sk_statefiles_t *sf = sk_statefiles_new(&loop);
    CHECK(sf != NULL);
    CHECK(sk_statefile_put(sf, "archive.pid", "7 77\n", 5) == 0);
    CHECK(sk_statefile_put(sf, "archive.pid", NULL, 0) == 0);
    CHECK(sk_statefile_put(sf, "gone/never.pid", NULL, 0) == 0); /* folder and file missing: no error */
    CHECK(sk_statefile_put(sf, "never.pid", NULL, 0) == 0);
    CHECK_STR(run_logged(&loop, sf), "");
    CHECK(access("archive.pid", F_OK) < 0);
    CHECK(access("gone", F_OK) < 0); /* a removal makes no folder */
    sk_statefiles_free(sf);
    CHECK(uv_loop_close(&loop) == 0);
}

TEST(statefile_failure_is_logged_and_the_queue_goes_on)
{
    uv_loop_t loop;
    CHECK(uv_loop_init(&loop) == 0);
    sk_statefiles_t *sf = sk_statefiles_new(&loop);
    CHECK(sf != NULL);
    int fd = open("afile", O_WRONLY | O_CREAT, 0644);
    CHECK(fd >= 0);
    close(fd);
    CHECK(sk_statefile_put(sf, "afile/sub/slot-2.pid", "1 1\n", 4) == 0); /* a file where a folder must be */
    CHECK(sk_statefile_put(sf, "afile/slot-3.pid", NULL, 0) == 0);        /* removal under a file */
    CHECK(sk_statefile_put(sf, "ok/slot-4.pid", "4 44\n", 5) == 0);
    char *err = run_logged(&loop, sf);
    unit_note("logged: %s", err);
    CHECK(strstr(err, "afile/sub/slot-2.pid: cannot write: Not a directory\n") != NULL);
    CHECK(strstr(err, "afile/slot-3.pid: cannot remove: Not a directory\n") != NULL);
    CHECK(strchr(err, '\n') != strrchr(err, '\n')); /* exactly those two lines */
    CHECK(strchr(strchr(err, '\n') + 1, '\n') == strrchr(err, '\n'));
    CHECK_STR(unit_read_file("ok/slot-4.pid", NULL), "4 44\n");
    sk_statefiles_free(sf);
    CHECK(uv_loop_close(&loop) == 0);
}
