/*
 * paths: real paths and their overlaps (see paths.h).
 *
 * The configuration and every command that names a data-dir and a repository
 * ask sk_paths_check_apart before touching anything, so that a restore never
 * quarantines a repository or another slot, and a snapshot never reads its own
 * repository. Resolution follows symbolic links the way the kernel would at the
 * time of the check, which is what matters for the overlap: two spellings of one
 * folder compare equal. A component that does not exist ends the look-ups; the
 * rest is applied lexically, so a slot that a restore will create is compared
 * where it will be. EACCES on a look-up is taken like a missing component (an
 * unprivileged `config check` of root's folders still compares them, lexically).
 */
#include "slotkeeper/paths.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Drops the last component of an absolute path ("/a/b" -> "/a", "/a" -> "/"). */
static void pop_component(char *p)
{
    char *s = strrchr(p, '/');
    if (!s)
        return;
    if (s == p)
        p[1] = '\0';
    else
        *s = '\0';
}

int sk_paths_normalize(const char *path, char *out, size_t len)
{
    if (!path || !*path)
        return -EINVAL;
    bool abs = path[0] == '/';
    size_t o = 0, base = 0; /* base: bytes of leading "../" a relative path keeps */
    char tmp[PATH_MAX];
    if (abs)
        tmp[o++] = '/';
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, "/");
        if (n == 1 && p[0] == '.') {
            p += n;
            continue;
        }
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (abs) {
                tmp[o] = '\0';
                pop_component(tmp);
                o = strlen(tmp);
                p += n;
                continue;
            }
            if (o > base) {
                p += n;
                /* Drop the last component of the relative part. */
                while (o > base && tmp[o - 1] != '/')
                    o--;
                if (o > base)
                    o--; /* its separator */
                continue;
            }
            /* Climbs above a relative path's start: kept. */
        }
        bool sep = o > 0 && tmp[o - 1] != '/';
        if (o + sep + n >= sizeof(tmp))
            return -ENAMETOOLONG;
        if (sep)
            tmp[o++] = '/';
        memcpy(tmp + o, p, n);
        o += n;
        if (!abs && n == 2 && p[0] == '.' && p[1] == '.')
            base = o;
        p += n;
    }
    if (o == 0)
        tmp[o++] = '.';
    tmp[o] = '\0';
    if (o >= len)
        return -ENAMETOOLONG;
    memcpy(out, tmp, o + 1);
    return 0;
}

int sk_paths_resolve(const char *path, char *out, size_t len)
{
    if (!path || !*path)
        return -EINVAL;
    char buf[PATH_MAX];
    if (path[0] == '/')
        snprintf(buf, sizeof(buf), "/");
    else if (!getcwd(buf, sizeof(buf)))
        return -errno;
    size_t missing = 0; /* trailing components of buf that do not exist */
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, "/");
        if (n == 1 && p[0] == '.') {
            p += n;
            continue;
        }
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            /* buf's existing part is a real path, so its parent is lexical. */
            pop_component(buf);
            if (missing)
                missing--;
            p += n;
            continue;
        }
        size_t bl = strlen(buf);
        bool sep = buf[bl - 1] != '/';
        if (bl + sep + n >= sizeof(buf))
            return -ENAMETOOLONG;
        if (sep)
            buf[bl++] = '/';
        memcpy(buf + bl, p, n);
        buf[bl + n] = '\0';
        p += n;
        if (missing) {
            missing++;
            continue;
        }
        char real[PATH_MAX];
        if (realpath(buf, real))
            memcpy(buf, real, strlen(real) + 1);
        else if (errno == ENOENT || errno == EACCES)
            missing = 1; /* a dangling link is kept as its name */
        else
            return -errno;
    }
    size_t bl = strlen(buf);
    if (bl >= len)
        return -ENAMETOOLONG;
    memcpy(out, buf, bl + 1);
    return 0;
}

enum sk_paths_rel sk_paths_relation(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la == lb && !memcmp(a, b, la))
        return SK_PATHS_SAME;
    if (lb < la && !memcmp(a, b, lb) && (a[lb] == '/' || (lb == 1 && b[0] == '/')))
        return SK_PATHS_INSIDE;
    if (la < lb && !memcmp(a, b, la) && (b[la] == '/' || (la == 1 && a[0] == '/')))
        return SK_PATHS_ABOVE;
    return SK_PATHS_APART;
}

/* Folders that are never a data-dir themselves. */
static const char *const system_dirs[] = {
    "/",          "/bin",       "/boot",          "/dev",           "/etc",       "/home",      "/lib",
    "/lib32",     "/lib64",     "/libx32",        "/media",         "/mnt",       "/opt",       "/proc",
    "/root",      "/run",       "/sbin",          "/srv",           "/sys",       "/tmp",       "/usr",
    "/var",       "/usr/bin",   "/usr/sbin",      "/usr/lib",       "/usr/lib32", "/usr/lib64", "/usr/libx32",
    "/usr/local", "/usr/share", "/usr/include",   "/usr/src",       "/var/lib",   "/var/log",   "/var/tmp",
    "/var/cache", "/var/spool", "/var/run",       "/var/lock",      "/var/mail",  "/var/opt",   "/var/backups",
    "/run/lock",  "/run/user",  "/usr/local/bin", "/usr/local/lib", "/dev/shm",   NULL,
};

/* Folders nothing inside which is ever a data-dir (kernel and device file systems). */
static const char *const system_trees[] = {"/proc", "/sys", "/dev", NULL};

const char *sk_paths_system(const char *resolved)
{
    for (int i = 0; system_dirs[i]; i++)
        if (!strcmp(resolved, system_dirs[i]))
            return system_dirs[i];
    if (sk_paths_relation(resolved, "/dev/shm") == SK_PATHS_INSIDE)
        return NULL;
    for (int i = 0; system_trees[i]; i++)
        if (sk_paths_relation(resolved, system_trees[i]) == SK_PATHS_INSIDE)
            return system_trees[i];
    return NULL;
}

int sk_paths_check_apart(const sk_paths_item_t *items, size_t n, size_t *bad, sk_err_t *err)
{
    if (n == 0)
        return 0;
    char(*real)[PATH_MAX] = malloc(n * sizeof(*real));
    if (!real)
        return sk_err_set(err, -ENOMEM, items[0].path, NULL);
    int rc = 0;
    for (size_t j = 0; j < n && rc == 0; j++) {
        if (!items[j].data_dir && strstr(items[j].path, "://")) {
            /* A repository on an object store (s3://...) is no folder here: nothing to overlap. */
            snprintf(real[j], sizeof(real[j]), "%s", items[j].path);
            continue;
        }
        int r = sk_paths_resolve(items[j].path, real[j], sizeof(real[j]));
        if (r < 0) {
            rc = sk_err_set(err, r, items[j].path, "%s: cannot resolve the path: %s", items[j].role, strerror(-r));
            if (bad)
                *bad = j;
            break;
        }
        const char *sys = items[j].data_dir ? sk_paths_system(real[j]) : NULL;
        if (sys) {
            rc = sk_err_set(err, -EINVAL, items[j].path,
                            !strcmp(sys, real[j]) ? "%s is the system folder %s; a data-dir needs a folder of its own"
                                                  : "%s is inside the system folder %s; a data-dir needs a folder of "
                                                    "its own",
                            items[j].role, sys);
            if (bad)
                *bad = j;
            break;
        }
        for (size_t i = 0; i < j; i++) {
            if ((!items[i].data_dir && !items[j].data_dir) || real[i][0] != '/' || real[j][0] != '/')
                continue;
            enum sk_paths_rel rel = sk_paths_relation(real[j], real[i]);
            if (rel == SK_PATHS_APART)
                continue;
            const char *how = rel == SK_PATHS_SAME     ? "is the same folder as"
                              : rel == SK_PATHS_INSIDE ? "is inside"
                                                       : "contains";
            rc = sk_err_set(err, -EINVAL, items[j].path, "%s %s %s %s%s%s%s", items[j].role, how, items[i].role,
                            items[i].path, strcmp(items[i].path, real[i]) ? " (" : "",
                            strcmp(items[i].path, real[i]) ? real[i] : "", strcmp(items[i].path, real[i]) ? ")" : "");
            if (bad)
                *bad = j;
            break;
        }
    }
    free(real);
    return rc;
}
