/*
 * test_log: each log call is shown at its own level and dropped above the
 * current one; in particular log_warn/log_warnx are warnings, so `log_level =
 * warn` shows them and `error` does not (they used to log at error level).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slotkeeper/fsutil.h"
#include "slotkeeper/log.h"
#include "unit.h"

/* Logs one message of each kind at level into a file and returns what was written (caller frees). */
static char *log_all_at(int level)
{
    int fd = open("log.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    int saved = dup(2);
    CHECK(saved >= 0);
    fflush(stderr);
    CHECK(dup2(fd, 2) == 2);
    log_init("slotkeeper", "test", level);
    errno = ENOENT;
    log_error("error %d", 1);
    log_errorx("errorx %d", 2);
    errno = EACCES;
    log_warn("warn %d", 3);
    CHECK_EQ(errno, EACCES); /* errno survives a call */
    log_warnx("warnx %d", 4);
    log_info("info %d", 5);
    log_debug("debug %d", 6);
    fflush(stderr);
    CHECK(dup2(saved, 2) == 2);
    close(saved);
    close(fd);
    char *buf = NULL;
    size_t len = 0;
    CHECK_EQ(sk_read_file_at(AT_FDCWD, "log.txt", 1 << 20, &buf, &len), 0);
    log_init("slotkeeper", "unit", SK_LOG_WARN);
    return buf;
}

TEST(log_levels_error_only)
{
    char *s = log_all_at(SK_LOG_ERROR);
    CHECK(strstr(s, "slotkeeper: test: error 1: No such file or directory\n"));
    CHECK(strstr(s, "slotkeeper: test: errorx 2\n"));
    CHECK(!strstr(s, "warn"));
    CHECK(!strstr(s, "info"));
    free(s);
}

TEST(log_levels_warn_shows_warnings)
{
    char *s = log_all_at(SK_LOG_WARN);
    CHECK(strstr(s, "errorx 2\n"));
    CHECK(strstr(s, "slotkeeper: test: warn 3: Permission denied\n"));
    CHECK(strstr(s, "slotkeeper: test: warnx 4\n"));
    CHECK(!strstr(s, "info 5"));
    CHECK(!strstr(s, "debug 6"));
    free(s);
}

TEST(log_levels_info_and_debug)
{
    char *s = log_all_at(SK_LOG_INFO);
    CHECK(strstr(s, "warnx 4\n"));
    CHECK(strstr(s, "info 5\n"));
    CHECK(!strstr(s, "debug 6"));
    free(s);
    s = log_all_at(SK_LOG_DEBUG);
    CHECK(strstr(s, "error 1"));
    CHECK(strstr(s, "debug 6\n"));
    free(s);
}

TEST(log_one_line_per_message)
{
    char *s = log_all_at(SK_LOG_ERROR);
    free(s);
    int fd = open("log2.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int saved = dup(2);
    fflush(stderr);
    CHECK(dup2(fd, 2) == 2);
    log_init("slotkeeper", NULL, SK_LOG_ERROR);
    log_errorx("a\nslotkeeper: forged line");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    char *buf = NULL;
    size_t len = 0;
    CHECK_EQ(sk_read_file_at(AT_FDCWD, "log2.txt", 1 << 20, &buf, &len), 0);
    CHECK_STR(buf, "slotkeeper: a?slotkeeper: forged line\n");
    free(buf);
}
