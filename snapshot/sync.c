/*
 * sync: copies snapshots from an upstream repository into a local one (see sync.h). The work of
 * one snapshot: the chunks the local repository lacks are read, checked and staged on the thread
 * pool; then the commit in the order a snapshot uses (chunks durable, manifest staged, chunks
 * into place, manifest published last).
 */
#include "slotkeeper/sync.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotkeeper/buf.h"
#include "slotkeeper/chunk.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/hashset.h"
#include "slotkeeper/manifest.h"
#include "slotkeeper/pool.h"
#include "slotkeeper/s3.h"

struct cjob {
    sk_hash_t hash;
    uint32_t csize, len;
};

struct run {
    sk_repo_t *from, *to;
    struct cjob *jobs;
    size_t njobs;
    uint32_t max_chunk;
    sk_progress_t *progress;
    sk_err_t *err;
    _Atomic uint64_t bytes;
};

struct worker {
    sk_codec_t *codec;
    void *cbuf;
    size_t ccap;
    void *out;
};

static int copy_init(void *arg, void **state)
{
    struct run *r = arg;
    struct worker *w = calloc(1, sizeof(*w));
    if (!w || !(w->codec = sk_codec_new(r->max_chunk, 1)) || !(w->out = malloc(r->max_chunk ? r->max_chunk : 1))) {
        if (w)
            sk_codec_free(w->codec);
        free(w);
        return sk_err_set(r->err, -ENOMEM, r->to->path, NULL);
    }
    *state = w;
    return 0;
}

static void copy_fini(void *arg, void *state)
{
    struct worker *w = state;
    if (!w)
        return;
    sk_codec_free(w->codec);
    free(w->cbuf);
    free(w->out);
    free(w);
}

/* One chunk: read upstream, check, stage locally. */
static int copy_item(void *arg, void *state, size_t i)
{
    struct run *r = arg;
    struct worker *w = state;
    struct cjob *j = &r->jobs[i];
    char rel[PATH_MAX], p[PATH_MAX];
    sk_repo_chunk_relpath(&j->hash, rel, sizeof(rel));
    sk_path_join(p, sizeof(p), r->from->path, rel);
    size_t clen = 0;
    int rc = sk_repo_chunk_read(r->from, &j->hash, &w->cbuf, &w->ccap, &clen);
    if (rc == -ENOENT)
        return sk_err_set(r->err, -EBADMSG, p, "missing upstream; the snapshot is not copied");
    if (rc == 0 && clen != j->csize)
        rc = -EBADMSG;
    if (rc == 0)
        rc = sk_codec_decompress_check(w->codec, w->cbuf, clen, w->out, j->len, &j->hash);
    if (rc == -EBADMSG)
        return sk_err_set(r->err, rc, p, "damaged upstream (fails its hash); the snapshot is not copied");
    if (rc < 0)
        return sk_err_set(r->err, rc, p, NULL);
    rc = sk_repo_chunk_stage(r->to, &j->hash, w->cbuf, clen, r->err);
    if (rc < 0)
        return rc;
    atomic_fetch_add(&r->bytes, clen);
    sk_progress_add(r->progress, j->len);
    return 0;
}

/* Copies one snapshot whose manifest m was loaded from upstream. */
static int copy_one(sk_repo_t *from, sk_repo_t *to, const sk_manifest_t *m, int threads, sk_progress_t *progress,
                    sk_sync_result_t *res, sk_err_t *err)
{
    struct run r = {
        .from = from, .to = to, .progress = progress, .err = err, .max_chunk = sk_manifest_max_chunk_size(m)};
    size_t cap = 0;
    int rc = 0;
    uint64_t total = 0;
    sk_hset_t seen;
    sk_hset_init(&seen);
    for (size_t i = 0; i < m->nentries && rc == 0; i++) {
        const sk_mentry_t *e = &m->entries[i];
        for (size_t c = 0; c < e->nchunks && rc == 0; c++) {
            const sk_mchunk_t *ch = &e->chunks[c];
            int added = sk_hset_add(&seen, &ch->hash, 0);
            if (added < 0)
                rc = sk_err_set(err, -ENOMEM, to->path, NULL);
            if (added != 1)
                continue;
            int have = sk_repo_chunk_stat(to, &ch->hash, NULL);
            if (have < 0) {
                char rel[PATH_MAX], p[PATH_MAX];
                sk_repo_chunk_relpath(&ch->hash, rel, sizeof(rel));
                sk_path_join(p, sizeof(p), to->path, rel);
                rc = sk_err_set(err, have, p, NULL);
                break;
            }
            if (have == 1) {
                res->chunks_present++;
                continue;
            }
            if (sk_grow(&r.jobs, &cap, r.njobs + 1, sizeof(*r.jobs), 1024) < 0) {
                rc = sk_err_set(err, -ENOMEM, to->path, NULL);
                break;
            }
            uint32_t len = sk_mentry_chunk_len(m, e, ch->index);
            r.jobs[r.njobs++] = (struct cjob){.hash = ch->hash, .csize = ch->csize, .len = len};
            total += len;
        }
    }
    sk_hset_free(&seen);
    if (rc == 0)
        rc = sk_repo_session_begin(to, err);
    if (rc == 0) {
        sk_progress_start(progress, "sync", total);
        sk_pool_each_t each = {.n = r.njobs,
                               .arg = &r,
                               .init = copy_init,
                               .item = copy_item,
                               .fini = copy_fini,
                               .err = err,
                               .path = from->path};
        sk_pool_each(threads, &each, sk_progress_tick, progress);
        sk_progress_end(progress);
        rc = err->code;
    }
    /* The commit, in a snapshot's order. */
    if (rc == 0 && r.njobs)
        rc = sk_repo_sync_all(to, err);
    char *buf = NULL;
    size_t len = 0;
    if (rc == 0 && (rc = sk_manifest_serialize(m, &buf, &len)) < 0)
        sk_err_set(err, rc, to->path, NULL);
    if (rc == 0)
        rc = sk_repo_manifest_stage(to, m->id, buf, len, err);
    free(buf);
    for (size_t i = 0; rc == 0 && i < r.njobs; i++)
        rc = sk_repo_chunk_publish(to, &r.jobs[i].hash, err);
    if (rc == 0 && r.njobs)
        rc = sk_repo_sync_all(to, err);
    if (rc == 0)
        rc = sk_repo_manifest_publish(to, m->id, err);
    sk_repo_session_end(to);
    if (rc == 0) {
        res->copied++;
        res->chunks += r.njobs;
        res->bytes += atomic_load(&r.bytes);
    }
    free(r.jobs);
    return rc;
}

/* Whether the local repository already has the snapshot. */
static bool have_snapshot(sk_repo_t *to, const char *id)
{
    char **ids;
    size_t n;
    sk_err_t e;
    sk_err_clear(&e);
    if (sk_repo_list_ids(to, &ids, &n, &e) < 0)
        return false;
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
        found = !strcmp(ids[i], id);
    sk_repo_ids_free(ids, n);
    return found;
}

/* Copies the snapshot id unless it is there; a damaged one upstream is reported, not copied. */
static int sync_id(sk_repo_t *from, sk_repo_t *to, const char *id, int threads, sk_progress_t *progress,
                   sk_sync_result_t *res, sk_err_t *err)
{
    if (have_snapshot(to, id)) {
        res->present++;
        return 0;
    }
    sk_manifest_t *m = NULL;
    int rc = sk_repo_manifest_load(from, id, &m, err);
    if (rc < 0)
        return rc;
    rc = copy_one(from, to, m, threads, progress, res, err);
    sk_manifest_free(m);
    return rc;
}

int sk_sync(sk_repo_t *from, sk_repo_t *to, const sk_sync_opts_t *opts, sk_progress_t *progress, sk_sync_result_t *res,
            sk_err_t *err)
{
    double t0 = sk_now();
    memset(res, 0, sizeof(*res));
    /* One request in flight per worker: on an object store, as many workers as it runs transfers. */
    int threads = opts->threads > 0 ? opts->threads : sk_pool_default_threads();
    threads = sk_s3_threads(to->st, sk_s3_threads(from->st, threads));
    sk_repo_sweep(to);
    int rc = 0;
    if (opts->all) {
        char **ids;
        size_t n;
        rc = sk_repo_list_ids(from, &ids, &n, err);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < n; i++) {
            if (sk_repo_is_bad(from, ids[i], NULL, 0))
                continue;
            /* A damaged one is reported (the first error is kept) and the others still copied. */
            sk_err_t e;
            sk_err_clear(&e);
            int r = sync_id(from, to, ids[i], threads, progress, res, &e);
            if (r < 0 && rc == 0) {
                rc = r;
                sk_err_set(err, e.code, e.path, "%s", e.msg);
            }
            if (r == 0)
                snprintf(res->newest, sizeof(res->newest), "%s", ids[i]);
        }
        sk_repo_ids_free(ids, n);
    } else {
        char id[SK_ID_MAX];
        if (opts->snapshot) {
            snprintf(id, sizeof(id), "%s", opts->snapshot);
            if (!sk_id_valid(id))
                return sk_err_set(err, -EINVAL, opts->snapshot, "not a valid snapshot id");
            char reason[256];
            if (sk_repo_is_bad(from, id, reason, sizeof(reason))) {
                char p[PATH_MAX];
                snprintf(p, sizeof(p), "%s/snapshots/%s", from->path, id);
                return sk_err_set(err, -EBADMSG, p, "marked bad upstream: %s", reason);
            }
        } else {
            sk_manifest_t *m;
            rc = sk_repo_latest_good(from, &m, err);
            if (rc < 0)
                return rc;
            snprintf(id, sizeof(id), "%s", m->id);
            sk_manifest_free(m);
        }
        rc = sync_id(from, to, id, threads, progress, res, err);
        if (rc == 0)
            snprintf(res->newest, sizeof(res->newest), "%s", id);
    }
    res->seconds = sk_now() - t0;
    return rc;
}
