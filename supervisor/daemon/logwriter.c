/*
 * logwriter: the per-slot log process (see logwriter.h). It copies its input
 * pipe to a file with plain blocking reads and writes, and rotates the file
 * before a chunk would take it past the size bound: it first writes up to the
 * last line end in the final 4 KiB of what still fits (the current end of the
 * file counts when it is a line end, so a chunk of whole lines never has its
 * first line cut), or without one exactly what fits, so a line longer than
 * that is cut; then it shifts FILE.1 ... to FILE.2 ..., FILE to FILE.1 (the
 * oldest is overwritten; KEEP 0 keeps none) and starts FILE afresh.
 *
 * A file that cannot be opened or written never stops the reading: the input
 * is then read and dropped, so the node on the other end never blocks on a
 * full pipe. Opening is retried at most once a second (checked when input
 * arrives), and only changes of state are logged: the first failure, and the
 * first successful write after it, with the number of bytes dropped meanwhile.
 */
#include "daemon/logwriter.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/fsutil.h"
#include "slotkeeper/log.h"

#define LW_CHUNK       (64 * 1024)
#define LW_LINE_WINDOW 4096
#define LW_RETRY_SEC   1.0

struct logwriter {
    const char *path;
    uint64_t max_size;
    unsigned keep;
    int fd;
    uint64_t size;    /* bytes in the current file */
    bool at_line_end; /* the file is known to end with '\n' */
    bool regular;     /* only a regular file is rotated (never /dev/null, a FIFO...) */
    bool failing;     /* the file is unusable: input is dropped */
    double next_try;  /* sk_now() from which opening may be retried */
    uint64_t dropped; /* bytes dropped since failing began */
    int first_err;    /* first negative errno, the return value */
    bool rename_warned;
};

static void lw_record(struct logwriter *w, int rc)
{
    if (w->first_err == 0)
        w->first_err = rc;
}

/* Enters (or stays in) the failing state after an error rc of what on the file. */
static void lw_fail(struct logwriter *w, int rc, const char *what)
{
    lw_record(w, rc);
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    w->next_try = sk_now() + LW_RETRY_SEC;
    if (!w->failing) {
        w->failing = true;
        errno = -rc;
        log_warn("%s %s", what, w->path);
    }
}

/* Whether the regular file path (with status st) ends with '\n'; false when it cannot be read. */
static bool ends_at_line_end(const char *path, const struct stat *st)
{
    char c = 0;
    if (!S_ISREG(st->st_mode) || st->st_size <= 0)
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
    if (fd < 0)
        return false;
    ssize_t n = sk_pread_full(fd, &c, 1, st->st_size - 1);
    close(fd);
    return n == 1 && c == '\n';
}

static int lw_open(struct logwriter *w, bool trunc)
{
    /* O_NOFOLLOW: the log usually lives in the slot, which a worker's container can write; a
     * link planted in its place must not have this (root) process append to another file. */
    int flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (trunc ? O_TRUNC : 0);
    int fd = open(w->path, flags, 0640);
    if (fd < 0) {
        int rc = -errno;
        lw_fail(w, rc, "cannot open");
        return rc;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int rc = -errno;
        close(fd);
        lw_fail(w, rc, "cannot open");
        return rc;
    }
    w->fd = fd;
    w->size = (uint64_t)st.st_size;
    w->at_line_end = ends_at_line_end(w->path, &st);
    w->regular = S_ISREG(st.st_mode);
    return 0;
}

/* Writes len bytes to the open file; on failure counts what did not reach it as dropped. */
static int lw_write(struct logwriter *w, const char *buf, size_t len)
{
    int rc = sk_write_all(w->fd, buf, len);
    if (rc == 0) {
        w->size += len;
        w->at_line_end = len > 0 && buf[len - 1] == '\n';
        if (w->failing) {
            w->failing = false;
            log_warnx("%s: writing again, %llu bytes were dropped", w->path, (unsigned long long)w->dropped);
            w->dropped = 0;
        }
        return 0;
    }
    /* O_APPEND and a single writer: the growth of the file is what was written. */
    size_t written = 0;
    struct stat st;
    if (fstat(w->fd, &st) == 0 && (uint64_t)st.st_size > w->size)
        written = (uint64_t)st.st_size - w->size < len ? (size_t)((uint64_t)st.st_size - w->size) : len;
    w->dropped += len - written;
    lw_fail(w, rc, "cannot write");
    return rc;
}

static int lw_name(char *out, size_t len, const char *path, unsigned n)
{
    int k = snprintf(out, len, "%s.%u", path, n);
    return k < 0 || (size_t)k >= len ? -ENAMETOOLONG : 0;
}

static void lw_rename(struct logwriter *w, const char *from, const char *to)
{
    if (rename(from, to) == 0 || errno == ENOENT)
        return;
    lw_record(w, -errno);
    if (!w->rename_warned) {
        w->rename_warned = true;
        log_warn("cannot rename %s to %s", from, to);
    }
}

/* Closes the current file, shifts the kept ones and opens path empty. */
static int lw_rotate(struct logwriter *w)
{
    char from[PATH_MAX], to[PATH_MAX];

    close(w->fd);
    w->fd = -1;
    if (w->keep > 0) {
        for (unsigned i = w->keep - 1; i >= 1; i--) {
            if (lw_name(from, sizeof(from), w->path, i) == 0 && lw_name(to, sizeof(to), w->path, i + 1) == 0)
                lw_rename(w, from, to);
        }
        if (lw_name(to, sizeof(to), w->path, 1) == 0)
            lw_rename(w, w->path, to);
    }
    /* O_TRUNC: with keep 0, or when path could not be renamed, the bound still holds. */
    return lw_open(w, true);
}

/* Puts one chunk of input into the file, rotating as needed, or drops it. */
static void lw_put(struct logwriter *w, const char *buf, size_t n)
{
    if (w->fd < 0) {
        if (sk_now() < w->next_try || lw_open(w, false) < 0) {
            w->dropped += n;
            return;
        }
    }
    while (n > 0) {
        size_t piece = n;
        bool rotate = false;
        if (w->max_size > 0 && w->regular && w->size + n > w->max_size) {
            size_t room = w->size < w->max_size ? (size_t)(w->max_size - w->size) : 0; /* < n */
            size_t lo = room > LW_LINE_WINDOW ? room - LW_LINE_WINDOW : 0;
            /* Candidates: the file's own end if a line end, then any '\n' before the bound. An empty
             * file is never rotated, so a line longer than max_size is cut at max_size. */
            piece = w->size > 0 && w->at_line_end && room <= LW_LINE_WINDOW ? 0 : room;
            for (size_t i = room; i > lo; i--) {
                if (buf[i - 1] == '\n') {
                    piece = i;
                    break;
                }
            }
            rotate = true;
        }
        if (piece > 0 && lw_write(w, buf, piece) < 0) {
            w->dropped += n - piece;
            return;
        }
        buf += piece;
        n -= piece;
        if (rotate && lw_rotate(w) < 0) {
            w->dropped += n;
            return;
        }
    }
}

int sk_logwriter_run(int infd, const char *path, uint64_t max_size, unsigned keep)
{
    struct logwriter w = {.path = path, .max_size = max_size, .keep = keep, .fd = -1};
    char buf[LW_CHUNK];

    lw_open(&w, false);
    for (;;) {
        ssize_t r = read(infd, buf, sizeof(buf));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            lw_record(&w, -errno);
            log_warn("reading the input of %s", path);
            break;
        }
        if (r == 0)
            break;
        lw_put(&w, buf, (size_t)r);
    }
    if (w.fd >= 0 && close(w.fd) < 0 && errno != EINTR)
        lw_record(&w, -errno);
    return w.first_err;
}

/* Opens name and reads its last want bytes (fewer if it is shorter) into buf. */
static int tail_of(const char *name, char *buf, size_t want, size_t *got)
{
    *got = 0;
    int fd = open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    uint64_t size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
    size_t n = size < want ? (size_t)size : want;
    ssize_t r = n > 0 ? sk_pread_full(fd, buf, n, (off_t)(size - n)) : 0;
    close(fd);
    if (r < 0)
        return (int)r;
    *got = (size_t)r; /* less only if the file shrank meanwhile */
    return 0;
}

int sk_log_tail(const char *path, char *buf, size_t len)
{
    char old[PATH_MAX];
    size_t got = 0, got_old = 0;

    if (!buf || len == 0)
        return -EINVAL;
    size_t want = len - 1 < (size_t)INT_MAX ? len - 1 : (size_t)INT_MAX;
    int rc = lw_name(old, sizeof(old), path, 1);
    if (rc < 0)
        return rc;

    /* path first, into the end of buf, then what is missing from path.1 before it. */
    int rc_main = tail_of(path, buf, want, &got);
    if (rc_main < 0 && rc_main != -ENOENT)
        return rc_main;
    if (got < want || rc_main == -ENOENT) {
        memmove(buf + (want - got), buf, got);
        rc = tail_of(old, buf, want - got, &got_old);
        if (rc < 0 && rc != -ENOENT)
            return rc;
        if (rc == -ENOENT && rc_main == -ENOENT)
            return -ENOENT;
        memmove(buf + got_old, buf + (want - got), got);
    }
    buf[got_old + got] = '\0';
    return (int)(got_old + got);
}
