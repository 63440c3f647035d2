/*
 * reflink: FICLONE and FICLONERANGE, and a probe that tries them (see reflink.h).
 */
#include "slotkeeper/reflink.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int sk_clone_fd(int src, int dst)
{
    if (ioctl(dst, FICLONE, src) == 0)
        return 0;
    return -errno;
}

int sk_clone_range(int src, uint64_t src_off, uint64_t len, int dst, uint64_t dst_off)
{
    struct file_clone_range r = {.src_fd = src, .src_offset = src_off, .src_length = len, .dest_offset = dst_off};
    if (ioctl(dst, FICLONERANGE, &r) == 0)
        return 0;
    return -errno;
}

bool sk_clone_impossible(int rc)
{
    switch (-rc) {
    case EOPNOTSUPP:
#if ENOTSUP != EOPNOTSUPP
    case ENOTSUP:
#endif
    case EXDEV:
    case EINVAL:
    case ENOTTY:
    case ENOSYS:
        return true;
    default:
        return false;
    }
}

int sk_reflink_probe(int src_dir, int dst_dir, int *why)
{
    static const char block[4096] = {1};
    int src = openat(src_dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (src < 0) {
        /* A file system without O_TMPFILE cannot be probed without leaving a name behind;
         * none of those that clone lacks it. */
        if (errno != EOPNOTSUPP && errno != EISDIR)
            return -errno;
        if (why)
            *why = EOPNOTSUPP;
        return 0;
    }
    int rc = 0;
    if (write(src, block, sizeof(block)) != (ssize_t)sizeof(block)) {
        rc = errno ? -errno : -EIO;
        close(src);
        return rc;
    }
    int dst = openat(dst_dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (dst < 0) {
        rc = -errno;
        close(src);
        return rc;
    }
    rc = sk_clone_fd(src, dst);
    close(src);
    close(dst);
    if (rc == 0)
        return 1;
    if (sk_clone_impossible(rc)) {
        if (why)
            *why = -rc;
        return 0;
    }
    return rc;
}
