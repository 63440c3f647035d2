/*
 * verify: reads back every chunk a snapshot references, decompresses it and
 * checks its size and XXH3-128 name; a snapshot with a corrupt manifest or a
 * missing or damaged chunk is marked bad (repo.h) and never chosen again.
 * Chunks shared by several snapshots are read once per run. Snapshots are
 * handled one at a time, so memory stays at one manifest plus one status per
 * distinct chunk.
 */
#ifndef SLOTKEEPER_VERIFY_H
#define SLOTKEEPER_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slotkeeper/error.h"
#include "slotkeeper/manifest.h"
#include "slotkeeper/progress.h"
#include "slotkeeper/repo.h"

#define SK_VERIFY_MAX_LISTED 1000 /* damaged chunk/file pairs listed per snapshot */

typedef struct sk_verify_damage {
    char chunk[64]; /* "chunks/ab/<hash>" */
    char *file;     /* the data-dir path that uses it */
    uint64_t index; /* chunk index within that file */
    bool missing;
} sk_verify_damage_t;

typedef struct sk_verify_snapshot {
    char id[SK_ID_MAX];
    bool ok;
    bool was_bad;     /* marked bad before this run */
    char reason[512]; /* why it is bad */
    sk_verify_damage_t *damage;
    size_t ndamage;         /* listed (at most SK_VERIFY_MAX_LISTED) */
    uint64_t ndamaged;      /* damaged references in all */
    uint64_t chunks, bytes; /* distinct chunks referenced, data bytes they hold */
} sk_verify_snapshot_t;

typedef struct sk_verify_report {
    sk_verify_snapshot_t *snaps;
    size_t n;
    uint64_t chunks_read, bytes_checked;
    double seconds;
} sk_verify_report_t;

/* Verifies the snapshots named in ids (all of them when nids is 0). Returns 0 when the
 * run completed, whatever it found (see the report), or a negative code if it could not. */
int sk_verify(sk_repo_t *repo, const char *const *ids, size_t nids, int threads, sk_progress_t *progress,
              sk_verify_report_t *report, sk_err_t *err);
void sk_verify_report_free(sk_verify_report_t *report);

#endif
