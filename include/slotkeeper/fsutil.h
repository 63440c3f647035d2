/*
 * fsutil: small, careful file-system helpers shared by the snapshot/ modules.
 *
 * Everything returns 0 (or a count) on success and a negative errno on failure,
 * retries EINTR and short transfers, and never follows a caller's path further
 * than the call says. These are the only places that loop around read/write.
 */
#ifndef SLOTKEEPER_FSUTIL_H
#define SLOTKEEPER_FSUTIL_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Writes all of buf at fd's offset / at off. */
int sk_write_all(int fd, const void *buf, size_t len);
int sk_pwrite_all(int fd, const void *buf, size_t len, off_t off);

/* Writes buf at off but skips all-zero 4 KiB blocks, so that a file sized with ftruncate keeps
 * its holes at page granularity (skipped blocks read as zeros). */
int sk_pwrite_sparse(int fd, const void *buf, size_t len, off_t off);

/* Reads up to len bytes at off; returns the number read (less only at end of file). */
ssize_t sk_pread_full(int fd, void *buf, size_t len, off_t off);

/* fsync of a directory by path or relative to dirfd. */
int sk_fsync_dir(const char *path);
int sk_fsync_at(int dirfd, const char *name);

/* mkdir -p with mode for the missing components. */
int sk_mkdir_p(const char *path, mode_t mode);

/* Opens rel beneath dirfd without following any symbolic link on the way, nor leaving dirfd's
 * tree: every component of rel must be a real folder, and the last one is not followed either
 * (with O_PATH | O_NOFOLLOW, a link there is opened as the link itself). openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS where the kernel has it, else a walk with O_NOFOLLOW.
 * Returns the fd, or -ELOOP when a link is met, -EXDEV for an absolute rel or one with "..",
 * or another negative errno. */
int sk_open_beneath(int dirfd, const char *rel, int flags, mode_t mode);

/* For tests: resolve with the O_NOFOLLOW walk (what kernels without openat2 get) from now on,
 * or try openat2 again. */
void sk_beneath_force_walk(bool on);

/* Opens rel (e.g. "blocks/blocks.log") in a data-dir open as dfd: its first component may be a
 * symbolic link (a top-level folder on another disk, which snapshot follows too); nothing
 * below it is followed (-ELOOP, as sk_open_beneath). */
int sk_open_in_datadir(int dfd, const char *rel, int flags);

/* Opens the folder that holds rel beneath dirfd (as sk_open_beneath, O_RDONLY | O_DIRECTORY; a
 * duplicate of dirfd when rel has one component) and points *leaf at rel's last component. */
int sk_open_parent_beneath(int dirfd, const char *rel, const char **leaf);

/* fstat of rel beneath dirfd, following no link (a link in the last place is stat'ed as a link). */
int sk_stat_beneath(int dirfd, const char *rel, struct stat *st);

/* A DIR stream over a duplicate of dirfd, rewound, or NULL with errno set (the caller keeps dirfd). */
DIR *sk_opendir_at(int dirfd);

/* A message for an error of the calls above: "is a symbolic link where ... expects a folder or
 * file of its own" for -ELOOP, else strerror. */
const char *sk_beneath_strerror(int code);

/* True when p is a plain relative path: not empty, not absolute, no "." or ".." or empty
 * component, each at most NAME_MAX bytes. A symbolic link whose target is plain cannot point
 * outside the folder that holds it. */
bool sk_path_plain(const char *p);

/* Removes name under dirfd recursively (like rm -rf); a missing name is not an error. */
int sk_rm_rf_at(int dirfd, const char *name);

/* Reads a whole regular file of at most max bytes into a NUL-terminated malloc'd buffer. */
int sk_read_file_at(int dirfd, const char *name, size_t max, char **buf, size_t *len);

/* Writes data to dirfd/name atomically: temp file, fsync, rename, fsync the directory. */
int sk_write_file_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode);

/* Parses sizes like "4096", "64K", "64KiB", "1M", "2GiB" (binary units). */
int sk_parse_size(const char *s, uint64_t *out);
/* Parses durations like "0", "30", "30s", "5m", "1h", "250ms" into milliseconds. */
int sk_parse_duration_ms(const char *s, uint64_t *out);
/* Parses a non-negative decimal integer within [min, max]. */
int sk_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Formats n bytes as "1.5 GiB" into buf. */
const char *sk_fmt_bytes(uint64_t n, char *buf, size_t len);

/* If a process holds a POSIX (fcntl) lock on path that conflicts with a write lock,
 * returns 1 and its pid; 0 if none; -ENOENT if path does not exist; other -errno. */
int sk_fcntl_lock_holder(const char *path, pid_t *pid);
/* The same for an open descriptor of the file (F_GETLK works on a read-only one). */
int sk_fcntl_lock_holder_fd(int fd, pid_t *pid);

/* Bytes available to unprivileged writers on the file system holding path. */
int sk_fs_avail(const char *path, uint64_t *avail);

/* Monotonic time in seconds. */
double sk_now(void);

/* Joins a and b with a '/' into out; returns -ENAMETOOLONG if it does not fit. */
int sk_path_join(char *out, size_t len, const char *a, const char *b);

#endif
