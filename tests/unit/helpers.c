/*
 * helpers: what several unit test files share: a seeded random generator,
 * whole-file read/write, a recursive tree comparison, and helper processes
 * that hold a lock until the test releases them (synchronised with pipes).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slotkeeper/fsutil.h"
#include "unit.h"

uint64_t unit_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void unit_fill_random(void *buf, size_t len, uint64_t *state)
{
    unsigned char *p = buf;
    while (len >= 8) {
        uint64_t v = unit_rand(state);
        memcpy(p, &v, 8);
        p += 8;
        len -= 8;
    }
    if (len) {
        uint64_t v = unit_rand(state);
        memcpy(p, &v, len);
    }
}

void unit_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        unit_fail(__FILE__, __LINE__, "open(%s): %s", path, strerror(errno));
    int rc = sk_write_all(fd, data, len);
    if (rc < 0)
        unit_fail(__FILE__, __LINE__, "write(%s): %s", path, strerror(-rc));
    close(fd);
}

void unit_write_text(const char *path, const char *text)
{
    unit_write_file(path, text, strlen(text));
}

char *unit_read_file(const char *path, size_t *lenp)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = sk_read_file_at(AT_FDCWD, path, SIZE_MAX / 2, &buf, &len);
    if (rc < 0)
        unit_fail(__FILE__, __LINE__, "read(%s): %s", path, strerror(-rc));
    if (lenp)
        *lenp = len;
    return buf;
}

bool unit_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

const char *unit_abs(const char *name, int slot)
{
    static char bufs[4][PATH_MAX];
    char cwd[PATH_MAX];
    if (slot < 0 || slot > 3 || !getcwd(cwd, sizeof(cwd)))
        unit_fail(__FILE__, __LINE__, "unit_abs(%s)", name);
    if (sk_path_join(bufs[slot], sizeof(bufs[slot]), cwd, name) < 0)
        unit_fail(__FILE__, __LINE__, "unit_abs(%s): too long", name);
    return bufs[slot];
}

static bool skipped(const char *name, const char *const *skip)
{
    for (; skip && *skip; skip++)
        if (!strcmp(name, *skip))
            return true;
    return false;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir (without "." and ".."); *n gets the count. */
static char **list_dir(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d)
        unit_fail(__FILE__, __LINE__, "opendir(%s): %s", dir, strerror(errno));
    char **names = NULL;
    size_t cnt = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        names = realloc(names, (cnt + 1) * sizeof(*names));
        if (!names || !(names[cnt] = strdup(de->d_name)))
            unit_fail(__FILE__, __LINE__, "out of memory");
        cnt++;
    }
    closedir(d);
    if (cnt)
        qsort(names, cnt, sizeof(*names), cmp_name);
    *n = cnt;
    return names;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static void compare_files(const char *a, const char *b, off_t size)
{
    int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
    if (fa < 0 || fb < 0)
        unit_fail(__FILE__, __LINE__, "open(%s / %s): %s", a, b, strerror(errno));
    const size_t bs = 1 << 20;
    char *ba = malloc(bs), *bb = malloc(bs);
    if (!ba || !bb)
        unit_fail(__FILE__, __LINE__, "out of memory");
    for (off_t off = 0; off < size; off += (off_t)bs) {
        ssize_t na = sk_pread_full(fa, ba, bs, off), nb = sk_pread_full(fb, bb, bs, off);
        if (na != nb)
            unit_fail(__FILE__, __LINE__, "%s and %s: short read at %lld", a, b, (long long)off);
        if (memcmp(ba, bb, (size_t)na)) {
            size_t i = 0;
            while (ba[i] == bb[i])
                i++;
            unit_fail(__FILE__, __LINE__, "%s and %s differ at byte %lld", a, b, (long long)off + (long long)i);
        }
    }
    free(ba);
    free(bb);
    close(fa);
    close(fb);
}

static void compare_entry(const char *a, const char *b, bool mtimes)
{
    struct stat sa, sb;
    if (lstat(a, &sa) < 0)
        unit_fail(__FILE__, __LINE__, "lstat(%s): %s", a, strerror(errno));
    if (lstat(b, &sb) < 0)
        unit_fail(__FILE__, __LINE__, "lstat(%s): %s", b, strerror(errno));
    if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT))
        unit_fail(__FILE__, __LINE__, "%s and %s: types differ", a, b);
    if (!S_ISLNK(sa.st_mode) && (sa.st_mode & 07777) != (sb.st_mode & 07777))
        unit_fail(__FILE__, __LINE__, "%s and %s: modes differ (%04o / %04o)", a, b, sa.st_mode & 07777,
                  sb.st_mode & 07777);
    if (mtimes && (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec))
        unit_fail(__FILE__, __LINE__, "%s and %s: mtimes differ (%lld.%09ld / %lld.%09ld)", a, b,
                  (long long)sa.st_mtim.tv_sec, sa.st_mtim.tv_nsec, (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
    if (S_ISREG(sa.st_mode)) {
        if (sa.st_size != sb.st_size)
            unit_fail(__FILE__, __LINE__, "%s and %s: sizes differ (%lld / %lld)", a, b, (long long)sa.st_size,
                      (long long)sb.st_size);
        compare_files(a, b, sa.st_size);
    } else if (S_ISLNK(sa.st_mode)) {
        char ta[PATH_MAX], tb[PATH_MAX];
        ssize_t na = readlink(a, ta, sizeof(ta) - 1), nb = readlink(b, tb, sizeof(tb) - 1);
        if (na < 0 || nb < 0)
            unit_fail(__FILE__, __LINE__, "readlink(%s / %s): %s", a, b, strerror(errno));
        ta[na] = tb[nb] = '\0';
        if (strcmp(ta, tb))
            unit_fail(__FILE__, __LINE__, "%s and %s: link targets differ (%s / %s)", a, b, ta, tb);
    }
}

static void compare_dir(const char *a, const char *b, bool mtimes, const char *const *skip)
{
    size_t na, nb;
    char **la = list_dir(a, &na), **lb = list_dir(b, &nb);
    size_t i = 0, k = 0;
    for (;;) {
        while (i < na && skipped(la[i], skip))
            i++;
        while (k < nb && skipped(lb[k], skip))
            k++;
        if (i == na || k == nb)
            break;
        if (strcmp(la[i], lb[k]))
            unit_fail(__FILE__, __LINE__, "%s and %s: entries differ ('%s' / '%s')", a, b, la[i], lb[k]);
        char pa[PATH_MAX], pb[PATH_MAX];
        snprintf(pa, sizeof(pa), "%s/%s", a, la[i]);
        snprintf(pb, sizeof(pb), "%s/%s", b, lb[k]);
        compare_entry(pa, pb, mtimes);
        struct stat st;
        if (lstat(pa, &st) == 0 && S_ISDIR(st.st_mode))
            compare_dir(pa, pb, mtimes, NULL);
        i++;
        k++;
    }
    if (i < na)
        unit_fail(__FILE__, __LINE__, "%s/%s is missing from %s", a, la[i], b);
    if (k < nb)
        unit_fail(__FILE__, __LINE__, "%s/%s is not in %s", b, lb[k], a);
    free_names(la, na);
    free_names(lb, nb);
}

void unit_compare_trees(const char *a, const char *b, bool mtimes, const char *const *skip)
{
    compare_entry(a, b, mtimes);
    struct stat st;
    if (lstat(a, &st) == 0 && S_ISDIR(st.st_mode))
        compare_dir(a, b, mtimes, skip);
}

/* ---- helper processes --------------------------------------------------- */

void unit_child_start(unit_child_t *c, void (*fn)(void *arg, int ready_fd), void *arg)
{
    int ready[2], release[2];
    if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(release, O_CLOEXEC) < 0)
        unit_fail(__FILE__, __LINE__, "pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        unit_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(ready[0]);
        close(release[1]);
        fn(arg, ready[1]);
        char b;
        while (read(release[0], &b, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(ready[1]);
    close(release[0]);
    c->pid = pid;
    c->ready_rd = ready[0];
    c->release_wr = release[1];
}

void unit_child_ready(int ready_fd, const char *msg)
{
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "%s\n", msg ? msg : "");
    if (sk_write_all(ready_fd, buf, (size_t)n) < 0)
        _exit(3);
    close(ready_fd);
}

void unit_child_wait_ready(unit_child_t *c, char *buf, size_t len)
{
    char tmp[256];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(c->ready_rd, tmp + got, sizeof(tmp) - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (memchr(tmp, '\n', got) || got == sizeof(tmp) - 1)
            break;
    }
    tmp[got] = '\0';
    if (!memchr(tmp, '\n', got)) {
        int status = 0;
        waitpid(c->pid, &status, 0);
        unit_fail(__FILE__, __LINE__, "helper process %ld did not get ready (wait status 0x%x)", (long)c->pid, status);
    }
    tmp[strcspn(tmp, "\n")] = '\0';
    if (buf && len)
        snprintf(buf, len, "%s", tmp);
}

int unit_child_release(unit_child_t *c)
{
    char b = 'x';
    (void)!write(c->release_wr, &b, 1);
    close(c->release_wr);
    close(c->ready_rd);
    int status = 0;
    while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

void unit_child_kill(unit_child_t *c)
{
    kill(c->pid, SIGKILL);
    close(c->release_wr);
    close(c->ready_rd);
    while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
        ;
}
