/*
 * reflink: clone a file's extents instead of copying its bytes, where the file system can
 * share them (XFS made with reflink=1, btrfs). Whether it can is found out by trying
 * (FICLONE / FICLONERANGE), never guessed from the file system's name: an XFS without
 * reflink, ext4 and tmpfs answer EOPNOTSUPP, two file systems EXDEV.
 *
 * A clone shares extents until one side is written; the clone's bytes are exactly the
 * source's at the moment of the call. Neither call syncs: fsync the destination as after
 * a write.
 */
#ifndef SLOTKEEPER_REFLINK_H
#define SLOTKEEPER_REFLINK_H

#include <stdbool.h>
#include <stdint.h>

/* Makes dst (open for writing) a clone of the whole of src (open for reading): dst takes
 * src's size. 0, or a negative errno: see sk_clone_impossible. */
int sk_clone_fd(int src, int dst);

/* Clones len bytes of src at src_off into dst at dst_off (len 0: to src's end). Offsets and
 * len must be multiples of the file system's block size, except a len that reaches src's end. */
int sk_clone_range(int src, uint64_t src_off, uint64_t len, int dst, uint64_t dst_off);

/* True when rc (from sk_clone_*) means "this file system, or this pair of file systems,
 * cannot clone": the caller copies instead. Any other negative rc is a real error (EIO,
 * ENOSPC, EBADF...). */
bool sk_clone_impossible(int rc);

/* Tries a clone of a small unnamed file made in folder src_dir into one made in dst_dir
 * (O_TMPFILE: nothing is left behind). 1: clones work between them; 0: impossible (why in
 * *why when non-NULL: the errno); < 0: an error unrelated to cloning (the folder is missing,
 * not writable...). */
int sk_reflink_probe(int src_dir, int dst_dir, int *why);

#endif
