/*
 * carry: what an incremental snapshot may take from its parent without reading it.
 *
 * nodeos only appends to a few files: blocks/blocks.log and blocks.index, the retained and
 * archived stride files blocks-<first>-<last>.log/.index, and the state-history logs and
 * indexes (state-history/<name>.log/.index and their strided <name>-<first>-<last> files). It
 * cuts their tail when it repairs them or (state history) meets a fork, and a pruned log
 * (block-log-retain-blocks, state-history-log-retain-blocks) has its front punched into holes,
 * its first word rewritten (the pruned flag) and a 4-byte block count rewritten at its end.
 * snapshot.c uses these helpers to decide, per file, which prefix it takes from the parent
 * snapshot; see snapshot.h for the rule.
 *
 * The frozen origin: a data-dir cloned into a frozen folder (the freeze) holds
 * .slotkeeper/frozen-origin, whose lines name each cloned file's identity on the real data-dir:
 *
 *   slotkeeper-frozen-origin 1
 *   <st_dev> <st_ino> <size> <mtime_ns> <relpath>      one per regular file, relpath as
 *                                                      blocks/blocks.log (the rest of the line)
 *
 * A snapshot of that folder records and matches those identities instead of the copy's own,
 * for each file whose size is the one listed (mtime_ns is read but not compared: a clone's
 * own mtime is the freezer's business). A file the list lacks records no identity, so the next
 * snapshot reads it whole.
 */
#ifndef SLOTKEEPER_CARRY_H
#define SLOTKEEPER_CARRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slotkeeper/error.h"

#define SK_FROZEN_ORIGIN     ".slotkeeper/frozen-origin"
#define SK_FROZEN_ORIGIN_MAX (64U * 1024 * 1024)

typedef struct sk_origin_file {
    char *path;
    uint64_t dev, ino, size, mtime_ns;
} sk_origin_file_t;

typedef struct sk_origin {
    sk_origin_file_t *f; /* sorted by path */
    size_t n;
} sk_origin_t;

/* Reads data_dir's frozen-origin (opened beneath datafd). *out is NULL when there is none;
 * a file that does not parse is -EBADMSG with its path and line in err. */
int sk_origin_load(int datafd, const char *data_dir, sk_origin_t **out, sk_err_t *err);
/* Parses a frozen-origin's bytes (for tests); why gets the reason of a -EBADMSG. */
int sk_origin_parse(const char *buf, size_t len, sk_origin_t **out, char *why, size_t whylen);
const sk_origin_file_t *sk_origin_find(const sk_origin_t *o, const char *relpath);
void sk_origin_free(sk_origin_t *o);

/* Kinds of file, by name (relpath as in a manifest, e.g. "blocks/blocks.log"). */
#define SK_CARRY_APPEND   1 /* nodeos only appends to it (and may cut its tail) */
#define SK_CARRY_PRUNABLE 2 /* it may be a pruned log: its first chunk is always read again */
#define SK_CARRY_BLOCKLOG 4 /* a block log (entries hold their block number), not a state-history log */
#define SK_CARRY_INDEX    8 /* the .index of a log */
int sk_carry_kind(const char *relpath);
/* The other file of a log/index pair ("x.log" <-> "x.index"); -ENAMETOOLONG or -EINVAL. */
int sk_carry_companion(const char *relpath, char *out, size_t len);

/* Whether a log and its index agree where a carried prefix ends: the last entry the index
 * lists below log_limit (when log_limit is not 0), and the entry the index's last carried slot
 * (index_limit / 8 - 1, when index_limit is not 0) points at, start where the index says: the
 * u64 before the next entry (or at the log's end) holds their position, the one before them
 * holds the previous position, and, in a block log, the entry holds the block number its slot
 * stands for. false with the reason in why when they do not, or when they cannot be read. */
bool sk_carry_log_sound(int lfd, uint64_t lsize, int ifd, uint64_t isize, bool blocklog, uint64_t log_limit,
                        uint64_t index_limit, char *why, size_t whylen);

#endif
