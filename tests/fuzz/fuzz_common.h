/*
 * fuzz_common.h: helpers shared by the libFuzzer targets in tests/fuzz/ (header only, so each
 * target is one translation unit linked against the library objects of build/fuzz/).
 *
 *   fz_init(tag)          quiet logs (errors only; SK_FUZZ_LOG=0..3 to change), and a private
 *                         temp folder ${TMPDIR:-/tmp}/sk-fuzz-<tag>.XXXXXX removed at exit
 *   fz_dir                that folder
 *   fz_write(path, ...)   creates/replaces a file with the given bytes
 *   fz_fail(fmt, ...)     an invariant broke: prints and aborts, so libFuzzer saves the input
 *
 * The runners (make fuzz, tests/integration/t_fuzz.sh) also point TMPDIR at a folder of their
 * own and remove it, so that nothing is left behind when a fuzzer dies without exiting.
 */
#ifndef SK_FUZZ_COMMON_H
#define SK_FUZZ_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/fsutil.h"
#include "slotkeeper/log.h"

static char fz_dir[PATH_MAX] __attribute__((unused));
static pid_t fz_owner __attribute__((unused));

/* Gives every folder u+rwx first: an archive may have planted a folder we cannot empty. */
static inline int fz_chmod_dir(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (flag == FTW_D || flag == FTW_DNR)
        chmod(path, (st->st_mode & 07777) | 0700);
    return 0;
}

static inline void fz_cleanup(void)
{
    if (fz_dir[0] && getpid() == fz_owner) {
        nftw(fz_dir, fz_chmod_dir, 16, FTW_PHYS);
        sk_rm_rf_at(AT_FDCWD, fz_dir);
    }
}

static inline void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), __noreturn__));
static inline void fz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz invariant broken: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

static inline void fz_init(const char *tag)
{
    const char *lv = getenv("SK_FUZZ_LOG");
    log_init("slotkeeper", "fuzz", lv && *lv ? atoi(lv) : SK_LOG_ERROR);
    const char *tmp = getenv("TMPDIR");
    snprintf(fz_dir, sizeof(fz_dir), "%s/sk-fuzz-%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    if (!mkdtemp(fz_dir)) {
        perror(fz_dir);
        exit(1);
    }
    fz_owner = getpid();
    atexit(fz_cleanup);
}

/* Creates or replaces path (relative to fz_dir when not absolute) with data. */
static inline void fz_write(const char *path, const void *data, size_t len)
{
    char full[PATH_MAX];
    if (path[0] != '/')
        snprintf(full, sizeof(full), "%s/%s", fz_dir, path);
    else
        snprintf(full, sizeof(full), "%s", path);
    int fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || sk_write_all(fd, data, len) < 0) {
        perror(full);
        abort();
    }
    close(fd);
}

/* One line, not empty: what every error message of slotkeeper promises. */
static inline int fz_one_line(const char *s)
{
    return s[0] && !strchr(s, '\n');
}

#endif
