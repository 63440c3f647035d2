/*
 * datadir: reads a nodeos data-dir the way nodeos would at startup, without
 * booting it, and gives a verdict with the facts behind it. The facts come from
 * ../shared/reference/nodeos-facts.md (chainbase header, block log and index,
 * fork database, layouts per release).
 *
 * Verdicts, in the order they are decided:
 *   restoring     slotkeeper's restore marker is present (.slotkeeper/restoring)
 *   running       a live process holds the fcntl write lock on the state file
 *   missing       no state file or no block log where the layout needs one
 *   corrupt       state size not a multiple of 1 MiB (nodeos checks this first)
 *   incompatible  unknown state header id, or an environment that differs from the reference
 *   dirty         the state header's dirty flag is set
 *   corrupt       block log/index damaged, a retained block bundle or a state-history log
 *                 damaged or out of sequence (layouts.h), or the fork database (Spring: chain
 *                 head) missing
 *   clean         nodeos would start
 *
 * The default check reads only the state header, the block log's preamble and
 * tail, and the index's first and last entries, and the same few bytes of each
 * retained bundle and state-history log (layouts.h): milliseconds whatever the size.
 * With deep set it walks every index entry and checks each block's position,
 * number and trailing self-offset, and reports the first inconsistency.
 */
#ifndef SLOTKEEPER_DATADIR_H
#define SLOTKEEPER_DATADIR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "slotkeeper/error.h"
#include "slotkeeper/layouts.h"

#define SK_STATE_HEADER_SIZE 1024
#define SK_STATE_ENV_OFFSET  9
#define SK_STATE_ENV_SIZE    775 /* bytes 9..783: debug, os, arch, boost, reserved, compiler */

typedef enum sk_verdict {
    SK_VERDICT_CLEAN,
    SK_VERDICT_RUNNING,
    SK_VERDICT_DIRTY,
    SK_VERDICT_INCOMPATIBLE,
    SK_VERDICT_CORRUPT,
    SK_VERDICT_MISSING,
    SK_VERDICT_RESTORING,
} sk_verdict_t;

typedef struct sk_state_info {
    bool present;
    char path[64]; /* relative to the data-dir */
    uint64_t size; /* apparent size */
    uint64_t allocated;
    bool has_header; /* a chainbase header with a known id */
    char id[9];      /* printable form of bytes 0..7 */
    int dirty, debug, os, arch;
    uint32_t boost_version;
    char compiler[257];
    unsigned char env[SK_STATE_ENV_SIZE];
} sk_state_info_t;

typedef struct sk_blocklog_info {
    bool present, index_present;
    uint64_t log_size, index_size;
    uint32_t version; /* without the pruned bit */
    bool pruned;
    uint32_t first_block, last_block; /* 0 when unknown */
    uint64_t blocks;                  /* index entries */
    uint32_t kept_first;              /* pruned: the first block still in the log (the rest is a hole) */
    bool has_chain_id;                /* the preamble names the chain: its genesis state or its chain id */
    char chain_id[65];
    uint64_t first_offset, last_offset;
} sk_blocklog_info_t;

typedef struct sk_datadir_report {
    sk_verdict_t verdict;
    char reason[512];
    const char *layout; /* "dawn3", "eosio", "leap4", "leap5", "spring" or "unknown" */
    pid_t lock_pid;     /* the holder when running */
    sk_state_info_t state;
    sk_blocklog_info_t blocks;
    bool fork_db_present, chain_head_present;
    char fork_db_path[64];
    bool deep;
    uint64_t bad_offset; /* with deep: where the first inconsistency is, else 0 */
    /* The chain the data-dir belongs to (chainid.h): from the block log's preamble, else from
     * its genesis.json; empty, with chain_source NULL, when neither names one. */
    char chain_id[65];
    const char *chain_source; /* "blocks.log" or "genesis.json" */
    /* Retained block bundles and state-history logs (layouts.h). */
    sk_layouts_info_t layouts;
} sk_datadir_report_t;

typedef struct sk_check_opts {
    bool deep;
    /* The environment the state must match (bytes 9..783 of a state header), or NULL. */
    const unsigned char *reference_env;
    /* The chain id (64 hex digits) the data-dir must belong to, or NULL: a data-dir whose block
     * log or genesis.json names another chain is incompatible. */
    const char *reference_chain_id;
} sk_check_opts_t;

/* Checks the data-dir. Returns 0 with a verdict in the report (any verdict), or a negative code
 * if the data-dir itself cannot be read (err names it). */
int sk_datadir_check(const char *dir, const sk_check_opts_t *opts, sk_datadir_report_t *rep, sk_err_t *err);

const char *sk_verdict_name(sk_verdict_t v);

/*
 * The data-dir lock (invariant 13): flock(2) on the data-dir folder itself, taken for the whole
 * of an operation. Readers (snapshot, deep check, the daemon's cycle from its check to its
 * snapshot) take it shared; restore takes it exclusive. It is never waited for: a conflict is
 * -EBUSY, with a message saying what holds it. nodeos does not know this lock; its own fcntl
 * lock on the state file is checked separately.
 *
 * sk_datadir_flock locks an open descriptor of the data-dir (the lock lives as long as that
 * open file); sk_datadir_lock opens dir itself and returns the descriptor in *fd (close it to
 * release; -ENOENT when dir does not exist).
 */
int sk_datadir_flock(int fd, const char *dir, bool exclusive, sk_err_t *err);
int sk_datadir_lock(const char *dir, bool exclusive, int *fd, sk_err_t *err);

/* True for the verdicts nodeos would refuse to start on, which a restore cures: dirty,
 * corrupt, incompatible, missing, restoring (not clean, not running). */
bool sk_verdict_needs_restore(sk_verdict_t v);

/* Reads the environment bytes of a state file's header into env; -EBADMSG if it has no known header. */
int sk_state_read_env(const char *path, unsigned char env[SK_STATE_ENV_SIZE], sk_err_t *err);

/* Hex of the environment bytes (2 * SK_STATE_ENV_SIZE + 1 chars) and back. */
void sk_env_to_hex(const unsigned char env[SK_STATE_ENV_SIZE], char *hex);
int sk_env_from_hex(const char *hex, unsigned char env[SK_STATE_ENV_SIZE]);

#endif
