/*
 * nodeos: what slotkeeper knows of nodeos itself, in one place
 * (/work/shared/reference/nodeos-facts.md has the sources): its exit codes,
 * the log lines it prints when it will not start on its data, the data-dir
 * layouts of its releases with the files that tell them apart, and the
 * sub-folders a snapshot of each layout takes by default. It is knowledge of
 * nodeos's formats, not of slotkeeper's processes, so both halves use it: the
 * data-dir check, `run`, the slot state machine and the command line.
 */
#ifndef SLOTKEEPER_NODEOS_H
#define SLOTKEEPER_NODEOS_H

#include <stdbool.h>
#include <stddef.h>

/* nodeos's process exit codes ($? of programs/nodeos/main.cpp's return values). */
enum sk_nodeos_exit {
    SK_NODEOS_EXIT_SUCCESS = 0,
    SK_NODEOS_EXIT_BAD_ALLOC = 1,
    SK_NODEOS_EXIT_DATABASE_DIRTY = 2, /* the state's dirty flag is set */
    SK_NODEOS_EXIT_NODE_MANAGEMENT_SUCCESS = 5,
    SK_NODEOS_EXIT_OTHER_FAIL = 254,      /* -2: block log, fork db, environment or lock errors */
    SK_NODEOS_EXIT_INITIALIZE_FAIL = 255, /* -1 */
};

/* True for the exit codes that mean "cannot start on this data": DATABASE_DIRTY and
 * OTHER_FAIL. */
bool sk_nodeos_exit_means_bad_data(int code);

/* The files and folders of a data-dir that tell its layout. */
#define SK_NODEOS_STATE_FILE         "state/shared_memory.bin"
#define SK_NODEOS_DAWN_STATE_FILE    "shared_mem/shared_memory.bin"
#define SK_NODEOS_DAWN_META_FILE     "shared_mem/shared_memory.meta" /* Dawn 3.0 locks this one */
#define SK_NODEOS_REVERSIBLE_FORK_DB "blocks/reversible/fork_db.dat" /* Leap 4 and later */
#define SK_NODEOS_STATE_FORK_DB      "state/fork_db.dat"             /* EOSIO 1.x-2.1 */
#define SK_NODEOS_CHAIN_HEAD_FILE    "state/chain_head.dat"          /* Spring */

/* Layout names, as `check` reports them and manifests record them. */
#define SK_NODEOS_LAYOUT_DAWN3   "dawn3"
#define SK_NODEOS_LAYOUT_EOSIO   "eosio"
#define SK_NODEOS_LAYOUT_LEAP4   "leap4"
#define SK_NODEOS_LAYOUT_LEAP5   "leap5"
#define SK_NODEOS_LAYOUT_SPRING  "spring"
#define SK_NODEOS_LAYOUT_UNKNOWN "unknown"

/* The sub-folders a snapshot of a data-dir of layout takes when --include is not given:
 * blocks and shared_mem for Dawn 3.0, blocks and state for every other layout (layout may be
 * NULL). Sets *n to the number of names; the array is static. */
const char *const *sk_nodeos_default_include(const char *layout, size_t *n);

/* The log lines nodeos prints when it will not start on its data, NULL-terminated. The first
 * SK_NODEOS_ENV_MESSAGES say the state was made by another build (compiler, Boost, OS). */
extern const char *const sk_nodeos_corruption_messages[];
#define SK_NODEOS_ENV_MESSAGES 4

/* Looks for a corruption message in text (the tail of a node's log). Returns the first one
 * found, or NULL; sets *environment (may be NULL) to whether it is one of the environment
 * messages. */
const char *sk_nodeos_log_corruption(const char *text, bool *environment);

#endif
