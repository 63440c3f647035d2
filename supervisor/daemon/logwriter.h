/*
 * logwriter: the per-slot log process. The daemon starts each node with its
 * stdout and stderr on a pipe whose reading end belongs to a small process of
 * its own, `slotkeeper log-writer FILE MAX_SIZE KEEP`, which appends what it
 * reads to FILE and rotates it (FILE -> FILE.1 -> ... -> FILE.KEEP, the oldest
 * dropped) when it would grow past MAX_SIZE, cutting at a line end when one is
 * in the last 4 KiB of a read. Because neither end of the pipe is the daemon's,
 * a node keeps running (and logging) when the daemon dies or restarts: it never
 * gets SIGPIPE because of us. The writer exits 0 at end of input (the node and
 * every other writer of the pipe are gone).
 */
#ifndef SLOTKEEPER_LOGWRITER_H
#define SLOTKEEPER_LOGWRITER_H

#include <stddef.h>
#include <stdint.h>

/* Copies infd to path with rotation until end of input. Returns 0 at EOF, or a negative
 * errno if the file cannot be opened or written (it logs one line first, then keeps
 * reading and discarding input, so the node is never blocked by a full disk: it retries
 * opening the file at most once a second and returns only at EOF). */
int sk_logwriter_run(int infd, const char *path, uint64_t max_size, unsigned keep);

/* Reads at most len-1 bytes of the end of path (and, if path is shorter than that, of
 * path.1 before it) into buf, NUL-terminated. Returns the number of bytes, or a negative errno. */
int sk_log_tail(const char *path, char *buf, size_t len);

#endif
