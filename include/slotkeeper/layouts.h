/*
 * layouts: the files nodeos keeps beside blocks.log when operators run it at scale, read the way
 * nodeos reads them (Leap 4.0.6 sources, cited in layouts.c), for `check`.
 *
 *   strided block log   blocks-log-stride = N: when the head block is a multiple of N, nodeos
 *                       renames blocks.log/.index to <retained>/blocks-<first>-<last>.log/.index
 *                       and starts a new blocks.log (version 3, chain id, first block head+1).
 *                       <retained> is blocks-retained-dir (absolute, or relative to the blocks
 *                       folder; the blocks folder itself when not set). Beyond
 *                       max-retained-block-files the oldest bundle moves to blocks-archive-dir
 *                       (same rule; "archive" when not set), which nodeos never reads again.
 *   state history       state-history/{chain_state_history,trace_history}.{log,index}: entries
 *                       of a 48-byte header (u64 magic "ship" v0, 32-byte block id whose first 4
 *                       bytes are the big-endian block number, u64 payload size), the payload, and
 *                       the entry's own offset (u64); the index holds one u64 offset per block.
 *                       A pruned log (state-history-log-retain-blocks) has feature bit 1 in its
 *                       first magic and ends with a u32 block count. With state-history-stride,
 *                       <name>-<first>-<last>.log/.index bundles go to its retained folder
 *                       (state-history-retained-dir, relative to state-history/; "retained"
 *                       by default).
 *
 * Where the folders are comes from the data-dir's config.ini when it has one (relative paths
 * only: an absolute path is outside what a snapshot of the data-dir holds, and is not read);
 * without one, blocks/, blocks/retained/ and blocks/archive/ are looked at, and state-history/.
 *
 * The check reads each file's header and tail and its index's ends, so its cost does not grow
 * with the files' size; deep also walks every index entry. Nothing is followed through a
 * symbolic link below the data-dir's top-level folders.
 */
#ifndef SLOTKEEPER_LAYOUTS_H
#define SLOTKEEPER_LAYOUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What one log and its index hold. */
typedef struct sk_logfile_info {
    uint32_t first_block, last_block; /* 0 when the log holds no entry */
    uint64_t entries;                 /* index entries */
    bool pruned;
} sk_logfile_info_t;

/* One state-history log (chain_state_history or trace_history). */
typedef struct sk_ship_info {
    bool present;
    uint32_t first_block, last_block; /* over the retained bundles and the log; 0 when empty */
    unsigned retained_files;
    bool pruned;
} sk_ship_info_t;

typedef struct sk_layouts_info {
    uint32_t stride;                        /* blocks-log-stride from config.ini, 0 when not set */
    char retained_dir[128];                 /* where retained bundles were found, relative to the data-dir */
    unsigned retained_files;                /* blocks-<first>-<last>.log bundles */
    uint32_t retained_first, retained_last; /* their range, 0 when none */
    unsigned archived_files;                /* bundles in the archive folder (not checked: nodeos never reads them) */
    bool outside;                           /* config.ini names an absolute folder: not read */
    char ship_dir[128];                     /* the state-history folder, relative; "" when absent */
    sk_ship_info_t ship[2];                 /* chain_state_history, trace_history */
} sk_layouts_info_t;

extern const char *const sk_ship_log_names[2]; /* "chain_state_history", "trace_history" */

/* Reads a block log and its index (blocks.log or a retained bundle) at rel paths beneath dfd (a
 * data-dir, as sk_open_in_datadir). Returns 0 when they agree, -EBADMSG with a one-line problem
 * naming the file otherwise, or a negative errno when a file cannot be read (problem names it).
 * A missing index is a problem; a missing log is -ENOENT. */
int sk_blockfile_check(int dfd, const char *log, const char *index, bool deep, sk_logfile_info_t *fi, char *problem,
                       size_t plen);

/* The same for a state-history log and its index. An empty log (nodeos made it, no block yet) is
 * fine. */
int sk_shiplog_check(int dfd, const char *log, const char *index, bool deep, sk_logfile_info_t *fi, char *problem,
                     size_t plen);

/* Checks the layouts of the data-dir open as dfd: retained block bundles (each against its index
 * and its name, one after the other without gap or overlap, and the main blocks.log starting
 * right after the last; main_first is its first block, 0 when it has no preamble), and the
 * state-history logs. Returns 0 with problem empty (clean) or set (corrupt), or a negative errno
 * with problem naming what could not be read. */
int sk_layouts_check(int dfd, uint32_t main_first, bool deep, sk_layouts_info_t *li, char *problem, size_t plen);

#endif
