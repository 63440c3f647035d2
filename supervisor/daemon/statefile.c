/*
 * statefile: the daemon's small state files written on the thread pool (see
 * statefile.h). A FIFO of waiting writes and at most one uv_work_t in flight:
 * the work callback does the file system calls, the after-work callback (on the
 * loop) logs a failure, frees the write and starts the next one.
 */
#include "daemon/statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slotkeeper/crashpoint.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/log.h"

struct write {
    struct write *next;
    char *buf; /* NULL: remove the file */
    size_t len;
    int rc;
    char path[PATH_MAX];
};

struct sk_statefiles {
    uv_loop_t *loop;
    uv_work_t work;
    struct write *running;
    struct write *head, *tail; /* waiting, oldest first */
};

sk_statefiles_t *sk_statefiles_new(uv_loop_t *loop)
{
    sk_statefiles_t *sf = calloc(1, sizeof(*sf));
    if (sf) {
        sf->loop = loop;
        sf->work.data = sf;
    }
    return sf;
}

/* On a pool thread: the folder, then the atomic write or the removal, then the folder's fsync. */
static void do_write(uv_work_t *w)
{
    sk_statefiles_t *sf = w->data;
    struct write *x = sf->running;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", x->path);
    char *slash = strrchr(dir, '/');
    const char *name = x->path;
    if (slash == dir) {
        dir[1] = '\0';
        name = x->path + 1;
    } else if (slash) {
        *slash = '\0';
        name = slash + 1;
    } else {
        snprintf(dir, sizeof(dir), ".");
    }
    int rc = x->buf ? sk_mkdir_p(dir, 0755) : 0;
    int dfd = -1;
    if (rc == 0 && (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        rc = -errno;
    if (rc == 0 && x->buf) {
        rc = sk_write_file_atomic(dfd, name, x->buf, x->len, 0644);
    } else if (rc == 0) {
        SK_CRASHPOINT("unlink");
        if (unlinkat(dfd, name, 0) == 0) {
            SK_CRASHPOINT("fsync");
            rc = fsync(dfd) < 0 ? -errno : 0;
        } else if (errno != ENOENT) {
            rc = -errno;
        }
    }
    if (dfd >= 0)
        close(dfd);
    /* a removal of a file whose folder is gone has nothing left to remove */
    x->rc = !x->buf && rc == -ENOENT ? 0 : rc;
}

static void start_next(sk_statefiles_t *sf);

static void after_write(uv_work_t *w, int status)
{
    sk_statefiles_t *sf = w->data;
    struct write *x = sf->running;
    sf->running = NULL;
    int rc = status < 0 ? status : x->rc;
    if (rc < 0) {
        errno = -rc;
        log_warn("%s: cannot %s", x->path, x->buf ? "write" : "remove");
    }
    free(x->buf);
    free(x);
    start_next(sf);
}

static void start_next(sk_statefiles_t *sf)
{
    while (!sf->running && sf->head) {
        struct write *x = sf->head;
        sf->head = x->next;
        if (!sf->head)
            sf->tail = NULL;
        x->next = NULL;
        sf->running = x;
        int rc = uv_queue_work(sf->loop, &sf->work, do_write, after_write);
        if (rc < 0) {
            errno = -rc;
            log_warn("%s: cannot %s", x->path, x->buf ? "write" : "remove");
            sf->running = NULL;
            free(x->buf);
            free(x);
        }
    }
}

int sk_statefile_put(sk_statefiles_t *sf, const char *path, const void *buf, size_t len)
{
    char *copy = NULL;
    if (buf && !(copy = malloc(len ? len : 1))) {
        log_warnx("%s: cannot write: out of memory", path);
        return -ENOMEM;
    }
    if (buf && len)
        memcpy(copy, buf, len);
    for (struct write *x = sf->head; x; x = x->next) {
        if (!strcmp(x->path, path)) {
            free(x->buf);
            x->buf = copy;
            x->len = len;
            return 0;
        }
    }
    struct write *x = calloc(1, sizeof(*x));
    if (!x) {
        free(copy);
        log_warnx("%s: cannot %s: out of memory", path, buf ? "write" : "remove");
        return -ENOMEM;
    }
    snprintf(x->path, sizeof(x->path), "%s", path);
    x->buf = copy;
    x->len = len;
    if (sf->tail)
        sf->tail->next = x;
    else
        sf->head = x;
    sf->tail = x;
    start_next(sf);
    return 0;
}

bool sk_statefiles_idle(const sk_statefiles_t *sf)
{
    return !sf->running && !sf->head;
}

void sk_statefiles_free(sk_statefiles_t *sf)
{
    if (!sf)
        return;
    for (struct write *x = sf->head, *next; x; x = next) {
        next = x->next;
        free(x->buf);
        free(x);
    }
    free(sf);
}
