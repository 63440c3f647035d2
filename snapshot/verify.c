/*
 * verify: reads and checks every referenced chunk (see verify.h).
 */
#include "slotkeeper/verify.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotkeeper/buf.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/hashset.h"
#include "slotkeeper/pool.h"
#include "slotkeeper/s3.h"

enum { CHUNK_OK = 1, CHUNK_MISSING = 2, CHUNK_DAMAGED = 3 };

struct vjob {
    sk_hash_t hash;
    uint32_t csize;
    uint32_t len;
    int status;
};

struct vrun {
    sk_repo_t *repo;
    sk_err_t *err;
    sk_progress_t *progress;
    uint32_t cs;
    struct vjob *jobs;
    size_t njobs;
    _Atomic uint64_t bytes;
};

/* One worker's buffers. */
struct vworker {
    void *out, *cbuf;
    size_t ccap;
    sk_codec_t *codec;
};

static int verify_init(void *arg, void **state)
{
    struct vrun *v = arg;
    struct vworker *w = calloc(1, sizeof(*w));
    if (w) {
        w->out = malloc(v->cs);
        w->codec = sk_codec_new(v->cs, 1);
    }
    *state = w;
    return w && w->out && w->codec ? 0 : -ENOMEM;
}

static void verify_fini(void *arg, void *state)
{
    struct vworker *w = state;
    if (!w)
        return;
    free(w->out);
    free(w->cbuf);
    sk_codec_free(w->codec);
    free(w);
}

static int verify_item(void *arg, void *state, size_t i)
{
    struct vrun *v = arg;
    struct vworker *w = state;
    struct vjob *j = &v->jobs[i];
    size_t clen = 0;
    int rc = sk_repo_chunk_read(v->repo, &j->hash, &w->cbuf, &w->ccap, &clen);
    if (rc == -ENOENT) {
        j->status = CHUNK_MISSING;
        return 0;
    }
    if (rc == 0 && clen != j->csize)
        rc = -EBADMSG;
    if (rc == 0)
        rc = sk_codec_decompress_check(w->codec, w->cbuf, clen, w->out, j->len, &j->hash);
    if (rc == -EBADMSG) {
        j->status = CHUNK_DAMAGED;
        sk_repo_chunk_set_aside(v->repo, &j->hash);
    } else if (rc < 0) {
        char p[PATH_MAX], rel[PATH_MAX];
        sk_repo_chunk_relpath(&j->hash, rel, sizeof(rel));
        sk_path_join(p, sizeof(p), v->repo->path, rel);
        return sk_err_set(v->err, rc, p, NULL);
    } else {
        j->status = CHUNK_OK;
    }
    atomic_fetch_add(&v->bytes, j->len);
    sk_progress_add(v->progress, j->len);
    return 0;
}

static void add_damage(sk_verify_snapshot_t *s, const sk_hash_t *h, const char *file, uint64_t index, bool missing)
{
    s->ndamaged++;
    if (s->ndamage >= SK_VERIFY_MAX_LISTED)
        return;
    sk_verify_damage_t *n = realloc(s->damage, (s->ndamage + 1) * sizeof(*n));
    if (!n)
        return;
    s->damage = n;
    sk_verify_damage_t *d = &n[s->ndamage];
    sk_repo_chunk_relpath(h, d->chunk, sizeof(d->chunk));
    d->file = strdup(file);
    d->index = index;
    d->missing = missing;
    if (d->file)
        s->ndamage++;
}

/* Checks one snapshot; status maps hash -> chunk status over the whole run. */
static int verify_one(struct vrun *v, sk_verify_snapshot_t *s, sk_hset_t *status, int threads)
{
    sk_err_t lerr;
    sk_err_clear(&lerr);
    char reason[256];
    s->was_bad = sk_repo_is_bad(v->repo, s->id, reason, sizeof(reason)) == 1;
    sk_manifest_t *m = NULL;
    int rc = sk_repo_manifest_load(v->repo, s->id, &m, &lerr);
    if (rc == -EBADMSG) {
        s->ok = false;
        snprintf(s->reason, sizeof(s->reason), "%s", lerr.msg);
        if (!s->was_bad)
            sk_repo_mark_bad(v->repo, s->id, lerr.msg);
        return 0;
    }
    if (rc < 0)
        return sk_err_set(v->err, rc, lerr.path, "%s", lerr.msg);
    v->cs = sk_manifest_max_chunk_size(m);
    /* The chunks this run has not read yet. */
    v->njobs = 0;
    size_t cap = 0;
    sk_hset_t seen;
    sk_hset_init(&seen);
    for (size_t i = 0; i < m->nentries && rc == 0; i++) {
        sk_mentry_t *e = &m->entries[i];
        for (size_t c = 0; c < e->nchunks; c++) {
            sk_mchunk_t *ch = &e->chunks[c];
            uint32_t len = sk_mentry_chunk_len(m, e, ch->index);
            if (sk_hset_add(&seen, &ch->hash, 0) == 1) {
                s->chunks++;
                s->bytes += len;
            }
            if (sk_hset_find(status, &ch->hash))
                continue;
            if (sk_hset_add(status, &ch->hash, 0) < 0) {
                rc = sk_err_set(v->err, -ENOMEM, v->repo->path, NULL);
                break;
            }
            if (sk_grow(&v->jobs, &cap, v->njobs + 1, sizeof(*v->jobs), 1024) < 0) {
                rc = sk_err_set(v->err, -ENOMEM, v->repo->path, NULL);
                break;
            }
            v->jobs[v->njobs++] = (struct vjob){.hash = ch->hash, .csize = ch->csize, .len = len};
        }
    }
    sk_hset_free(&seen);
    if (rc == 0) {
        uint64_t total = 0;
        for (size_t i = 0; i < v->njobs; i++)
            total += v->jobs[i].len;
        sk_progress_start(v->progress, "verify", total);
        sk_pool_each_t each = {.n = v->njobs,
                               .arg = v,
                               .init = verify_init,
                               .item = verify_item,
                               .fini = verify_fini,
                               .err = v->err,
                               .path = v->repo->path};
        sk_pool_each(threads, &each, sk_progress_tick, v->progress);
        sk_progress_end(v->progress);
        rc = v->err->code;
    }
    if (rc == 0) {
        for (size_t i = 0; i < v->njobs; i++)
            sk_hset_find(status, &v->jobs[i].hash)->value = (uint32_t)v->jobs[i].status;
        for (size_t i = 0; i < m->nentries; i++) {
            sk_mentry_t *e = &m->entries[i];
            for (size_t c = 0; c < e->nchunks; c++) {
                uint32_t st = sk_hset_find(status, &e->chunks[c].hash)->value;
                if (st == CHUNK_MISSING || st == CHUNK_DAMAGED)
                    add_damage(s, &e->chunks[c].hash, e->path, e->chunks[c].index, st == CHUNK_MISSING);
            }
        }
        s->ok = s->ndamaged == 0;
        if (!s->ok) {
            sk_verify_damage_t *d = s->ndamage ? &s->damage[0] : NULL;
            snprintf(s->reason, sizeof(s->reason),
                     "%llu damaged or missing chunk reference(s); first: %s %s (chunk %llu of %s)",
                     (unsigned long long)s->ndamaged, d && d->missing ? "missing" : "damaged", d ? d->chunk : "?",
                     d ? (unsigned long long)d->index : 0ULL, d ? d->file : "?");
            if (!s->was_bad)
                sk_repo_mark_bad(v->repo, s->id, s->reason);
        }
    }
    sk_manifest_free(m);
    return rc;
}

int sk_verify(sk_repo_t *repo, const char *const *ids, size_t nids, int threads, sk_progress_t *progress,
              sk_verify_report_t *report, sk_err_t *err)
{
    double t0 = sk_now();
    memset(report, 0, sizeof(*report));
    char **all = NULL;
    size_t nall = 0;
    int rc = 0;
    if (nids == 0) {
        rc = sk_repo_list_ids(repo, &all, &nall, err);
        if (rc < 0)
            return rc;
        ids = (const char *const *)all;
        nids = nall;
    }
    if (threads <= 0)
        threads = sk_pool_default_threads();
    threads = sk_s3_threads(repo->st, threads); /* one request in flight per worker */
    report->snaps = calloc(nids ? nids : 1, sizeof(*report->snaps));
    if (!report->snaps) {
        sk_repo_ids_free(all, nall);
        return sk_err_set(err, -ENOMEM, repo->path, NULL);
    }
    struct vrun v = {.repo = repo, .err = err, .progress = progress};
    sk_hset_t status;
    sk_hset_init(&status);
    for (size_t i = 0; i < nids && rc == 0; i++) {
        sk_verify_snapshot_t *s = &report->snaps[report->n++];
        if (!sk_id_valid(ids[i])) {
            rc = sk_err_set(err, -EINVAL, ids[i], "not a valid snapshot id");
            break;
        }
        snprintf(s->id, sizeof(s->id), "%s", ids[i]);
        rc = verify_one(&v, s, &status, threads);
    }
    report->chunks_read = status.n;
    report->bytes_checked = atomic_load(&v.bytes);
    report->seconds = sk_now() - t0;
    sk_hset_free(&status);
    free(v.jobs);
    sk_repo_ids_free(all, nall);
    return rc;
}

void sk_verify_report_free(sk_verify_report_t *report)
{
    for (size_t i = 0; i < report->n; i++) {
        for (size_t k = 0; k < report->snaps[i].ndamage; k++)
            free(report->snaps[i].damage[k].file);
        free(report->snaps[i].damage);
    }
    free(report->snaps);
    memset(report, 0, sizeof(*report));
}
