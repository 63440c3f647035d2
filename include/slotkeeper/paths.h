/*
 * paths: where slots, the archival node's data-dir and repositories are, and
 * whether they overlap (ARCHITECTURE.md, invariant 10).
 *
 * A restore moves a data-dir's folders to its quarantine and a snapshot reads
 * it whole, so two data-dirs that are one folder, a repository inside (or
 * above, or equal to) a data-dir, or a data-dir such as / or /usr would have
 * slotkeeper damage what it is meant to keep. These functions compare real
 * paths: symbolic links resolved, and a path that does not exist yet (a slot
 * folder a restore will create) taken as its longest existing ancestor's real
 * path plus the rest, with "." and ".." applied. Quarantine lives inside its
 * data-dir (DIR/.slotkeeper/quarantine), so keeping data-dirs and repositories
 * apart keeps quarantines apart too.
 *
 * Pure functions apart from the file system look-ups of sk_paths_resolve;
 * return 0 or a negative errno.
 */
#ifndef SLOTKEEPER_PATHS_H
#define SLOTKEEPER_PATHS_H

#include <stdbool.h>
#include <stddef.h>

#include "slotkeeper/error.h"

/* Normalises path without looking at the file system: collapses repeated slashes, drops "."
 * and applies ".." to the part before it ("/.." is "/"). A relative path stays relative and
 * keeps the ".." that climb above its start. -ENAMETOOLONG if out (len bytes) is too small,
 * -EINVAL for an empty path. */
int sk_paths_normalize(const char *path, char *out, size_t len);

/* The real absolute path of path into out: a relative path is taken from the working folder,
 * each existing component is resolved (symbolic links followed, as the kernel would), and
 * from the first component that does not exist on, the rest is applied lexically (a later
 * ".." may come back into existing folders, which are resolved again). -ENAMETOOLONG,
 * -ELOOP, -EACCES etc. from the look-ups; a missing component is not an error. */
int sk_paths_resolve(const char *path, char *out, size_t len);

/* How two resolved paths relate. */
enum sk_paths_rel {
    SK_PATHS_APART = 0,
    SK_PATHS_SAME,   /* a is b */
    SK_PATHS_INSIDE, /* a is inside b */
    SK_PATHS_ABOVE,  /* a contains b */
};
enum sk_paths_rel sk_paths_relation(const char *a, const char *b);

/* When resolved (a real path) is a system folder that must never be a data-dir: "/", the
 * top-level folders of the file-system hierarchy (/bin, /boot, /dev, /etc, /home, /lib*,
 * /media, /mnt, /opt, /proc, /root, /run, /sbin, /srv, /sys, /tmp, /usr, /var) and the
 * usual second-level ones (/usr/local, /usr/lib, /var/lib, /var/tmp, ...) themselves, and
 * anything inside /proc, /sys or /dev (other than under /dev/shm), returns the folder it hit
 * (a static string); else NULL. A folder below one of the others (/srv/eos/1, /var/lib/eos)
 * is fine. */
const char *sk_paths_system(const char *resolved);

/* One path to keep apart from the others: what it is ("repository", "slot 2's data-dir")
 * and its path as given. A data-dir may not be a system folder either. */
typedef struct sk_paths_item {
    const char *role;
    const char *path;
    bool data_dir;
} sk_paths_item_t;

/* Resolves every item and checks that no data-dir is the same folder as another item, inside
 * it or above it, and that no data-dir is a system folder (two items that are not data-dirs,
 * such as a repository and the daemon's state folder, may nest). On a conflict: -EINVAL, *bad set to the index of the
 * later item of the pair (or of the data-dir that is a system folder) and err naming its path
 * and the reason ("is inside the repository /r"). A path that cannot be resolved: its
 * negative errno, *bad its index. bad may be NULL. */
int sk_paths_check_apart(const sk_paths_item_t *items, size_t n, size_t *bad, sk_err_t *err);

#endif
