/*
 * manifest: the text that is a snapshot. One manifest per snapshot, in
 * REPO/snapshots/<id>; a snapshot exists only once its manifest does.
 *
 * Format (version 2; version 1 is the same without the carry-run and x records, and is what
 * is written when a manifest has neither), one record per line, fields separated by one space,
 * paths and fact values percent-escaped (bytes <= 0x20, >= 0x7f and '%'):
 *
 *   slotkeeper-manifest 2
 *   id 20261126T195243Z-123456-3fa9
 *   time 1795723963 2026-11-26T19:52:43Z
 *   chunk-size 1048576
 *   include blocks state
 *   fact <key> <value>                  zero or more facts about the source node
 *   carry-run <n>                       optional: this snapshot is the n-th in a row that took
 *                                       regions of files from its parent without reading them
 *                                       (0: it read everything); see snapshot.h
 *   stats files=N logical=N data=N stored=N new=N chunks=N
 *   d <mode> <uid> <gid> <mtime> <path>                  a directory
 *   f <mode> <uid> <gid> <mtime> <size> [<chunk size>] <path>
 *                                                        a regular file, then its chunks; the
 *                                                        chunk size is given when it is not the
 *                                                        manifest's chunk-size
 *   x <st_dev> <st_ino> <carried bytes>                  optional, right after an f line: the
 *                                                        file's identity on its source, and the
 *                                                        prefix [0, carried) whose chunks were
 *                                                        taken from the parent snapshot
 *   c <index> <xxh3-128 hex> <compressed size>           chunk at offset index*chunk-size
 *   l <mode> <uid> <gid> <mtime> <path> <target>         a symbolic link
 *   end
 *   checksum <xxh3-128 hex of every byte before this line>
 *
 * Chunks not listed for a file are holes or all zeros. Paths are relative to
 * the data-dir, start with an included folder, and each entry's parent comes
 * before it. A manifest that does not parse, does not end with a matching
 * checksum, or breaks any of these rules is corrupt (-EBADMSG) and never used.
 */
#ifndef SLOTKEEPER_MANIFEST_H
#define SLOTKEEPER_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slotkeeper/chunk.h"

#define SK_ID_MAX         64
#define SK_MANIFEST_MAX   (1024ULL * 1024 * 1024) /* refuse to read larger manifests */
#define SK_CHUNK_SIZE_MIN (4U * 1024)
#define SK_CHUNK_SIZE_MAX (64U * 1024 * 1024)

typedef struct sk_mchunk {
    uint64_t index;
    sk_hash_t hash;
    uint32_t csize;
} sk_mchunk_t;

typedef struct sk_mentry {
    char type; /* 'd', 'f' or 'l' */
    char *path;
    char *target; /* 'l' only */
    uint32_t mode, uid, gid;
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    uint64_t size;       /* 'f' only */
    uint32_t chunk_size; /* 'f' only: this file's chunk size (0 when building: the manifest's) */
    bool has_ident;      /* 'f' only: an x record (dev, ino, carried) */
    uint64_t dev, ino;   /* the file's identity on its source (the frozen copy's origin) */
    uint64_t carried;    /* bytes of its prefix taken from the parent without reading them */
    sk_mchunk_t *chunks;
    size_t nchunks, capchunks;
} sk_mentry_t;

typedef struct sk_fact {
    char *key;
    char *value;
} sk_fact_t;

typedef struct sk_manifest {
    uint32_t version; /* as parsed (1 or 2); the serializer picks its own */
    char id[SK_ID_MAX];
    int64_t time;
    uint32_t chunk_size;
    char **include;
    size_t ninclude;
    sk_fact_t *facts;
    size_t nfacts;
    bool has_carry_run;
    uint64_t carry_run; /* snapshots in a row, this one included, that carried regions (0: none) */
    sk_mentry_t *entries;
    size_t nentries, capentries;
    /* stats */
    uint64_t files;         /* regular files */
    uint64_t logical_bytes; /* sum of file sizes */
    uint64_t data_bytes;    /* bytes in stored (non-zero) chunks: what a restore writes */
    uint64_t stored_bytes;  /* compressed bytes of the distinct chunks it references */
    uint64_t new_bytes;     /* compressed bytes this snapshot added to the repository */
    uint64_t chunks;        /* distinct chunks referenced */
} sk_manifest_t;

sk_manifest_t *sk_manifest_new(void);
void sk_manifest_free(sk_manifest_t *m);

int sk_manifest_add_include(sk_manifest_t *m, const char *name);
/* Sets fact key (sk_fact_key_valid) to value (1 to PATH_MAX-1 bytes, like the longest
 * fact, a path); -EINVAL otherwise, so that every manifest serialises to lines its parser reads. */
int sk_manifest_set_fact(sk_manifest_t *m, const char *key, const char *value);
const char *sk_manifest_fact(const sk_manifest_t *m, const char *key);
/* Appends a copy of e (path and target are copied, chunks are not); returns its index or -ENOMEM. */
long sk_manifest_add_entry(sk_manifest_t *m, const sk_mentry_t *e);
int sk_mentry_add_chunk(sk_mentry_t *e, uint64_t index, const sk_hash_t *hash, uint32_t csize);

/* Number of chunks of a file of size bytes with the manifest's chunk size. */
uint64_t sk_manifest_nchunks(const sk_manifest_t *m, uint64_t size);
/* A file's chunk size (its own, or the manifest's when it has none). */
uint32_t sk_mentry_chunk_size(const sk_manifest_t *m, const sk_mentry_t *e);
/* The largest chunk size any file of m uses. */
uint32_t sk_manifest_max_chunk_size(const sk_manifest_t *m);
/* Bytes of chunk index of file e: the chunk size, or less for the last chunk. */
uint32_t sk_mentry_chunk_len(const sk_manifest_t *m, const sk_mentry_t *e, uint64_t index);

/* Serialises m (stats as they are) into a malloc'd buffer ending with its checksum. */
int sk_manifest_serialize(const sk_manifest_t *m, char **buf, size_t *len);

/* Parses and validates; on failure returns -EBADMSG or -ENOMEM and writes the reason into why. */
int sk_manifest_parse(const char *buf, size_t len, sk_manifest_t **out, char *why, size_t whylen);

/* Snapshot ids: only what slotkeeper writes (sk_snapshot_new_id, the only format it ever wrote),
 * YYYYMMDDTHHMMSSZ-uuuuuu-xxxx: UTC time, microseconds, 4 lowercase hex digits. Any other name
 * under snapshots/ is not a snapshot (neither listed nor reported bad). */
bool sk_id_valid(const char *id);

/* True when a symbolic link at path (in the snapshot) with this target cannot point outside the
 * snapshot's included folders: relative, any ".." only leading and never above the snapshot's
 * root, and, when it climbs to the root, naming an included folder next. Snapshot refuses other
 * links, the parser refuses manifests that hold one, so restore never creates one. */
bool sk_manifest_link_ok(const sk_manifest_t *m, const char *path, const char *target);

/* A plain file name slotkeeper makes (e.g. a quarantine stamp): 1..63 characters of
 * [0-9A-Za-z_-], not starting with '-'. */
bool sk_name_valid(const char *name);

/* Fact keys: 1..64 characters of [a-z0-9._-]. */
bool sk_fact_key_valid(const char *key);

#endif
