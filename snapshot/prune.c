/*
 * prune: retention and garbage collection of chunks (see prune.h).
 */
#include "slotkeeper/prune.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slotkeeper/crashpoint.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/hashset.h"

static int collect_refs(sk_repo_t *repo, sk_hset_t *refs, sk_err_t *err)
{
    char **ids;
    size_t n;
    int rc = sk_repo_list_ids(repo, &ids, &n, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sk_manifest_t *m;
        sk_err_t lerr;
        sk_err_clear(&lerr);
        rc = sk_repo_manifest_load(repo, ids[i], &m, &lerr);
        if (rc < 0) {
            rc = sk_err_set(err, rc, lerr.path, "%s; no chunk was removed", lerr.msg);
            break;
        }
        for (size_t e = 0; e < m->nentries && rc == 0; e++)
            for (size_t c = 0; c < m->entries[e].nchunks; c++)
                if (sk_hset_add(refs, &m->entries[e].chunks[c].hash, 0) < 0) {
                    rc = sk_err_set(err, -ENOMEM, repo->path, NULL);
                    break;
                }
        sk_manifest_free(m);
    }
    sk_repo_ids_free(ids, n);
    return rc;
}

static bool referenced(const sk_hash_t *h, void *arg)
{
    return sk_hset_find(arg, h) != NULL;
}

int sk_prune(sk_repo_t *repo, unsigned keep_last, sk_prune_result_t *res, sk_err_t *err)
{
    memset(res, 0, sizeof(*res));
    if (keep_last < 1)
        return sk_err_set(err, -EINVAL, repo->path, "--keep-last must be at least 1");
    char **ids;
    size_t n;
    int rc = sk_repo_list_ids(repo, &ids, &n, err);
    if (rc < 0)
        return rc;
    bool *keep = calloc(n ? n : 1, sizeof(bool));
    res->removed = calloc(n ? n : 1, sizeof(char *));
    if (!keep || !res->removed) {
        rc = sk_err_set(err, -ENOMEM, repo->path, NULL);
        goto out;
    }
    /* Newest first (sk_snap_order_cmp): keep, for each chain, the first keep_last snapshots that
     * are good (not marked, manifest sound). Snapshots that record no chain id count as one
     * chain of their own, so one chain's snapshots never push another's out. */
    size_t kept = 0, nchains = 0;
    struct {
        char id[65];
        unsigned kept;
    } *chains = calloc(n ? n : 1, sizeof(*chains));
    if (!chains) {
        rc = sk_err_set(err, -ENOMEM, repo->path, NULL);
        goto out;
    }
    for (size_t i = n; i-- > 0;) {
        if (sk_repo_is_bad(repo, ids[i], NULL, 0))
            continue;
        sk_manifest_t *m;
        sk_err_t lerr;
        sk_err_clear(&lerr);
        int lr = sk_repo_manifest_load(repo, ids[i], &m, &lerr);
        if (lr == -EBADMSG) {
            sk_repo_mark_bad(repo, ids[i], lerr.msg);
            continue;
        }
        if (lr < 0) {
            rc = sk_err_set(err, lr, lerr.path, "%s", lerr.msg);
            goto out;
        }
        const char *chain = sk_manifest_fact(m, "source.chain-id");
        size_t c = 0;
        while (c < nchains && strcmp(chains[c].id, chain ? chain : ""))
            c++;
        if (c == nchains)
            snprintf(chains[nchains++].id, sizeof(chains[0].id), "%s", chain ? chain : "");
        sk_manifest_free(m);
        if (chains[c].kept >= keep_last)
            continue;
        chains[c].kept++;
        keep[i] = true;
        kept++;
    }
    free(chains);
    res->kept = kept;
    /* 1. manifests */
    bool removed_any = false;
    for (size_t i = 0; i < n; i++) {
        if (keep[i])
            continue;
        rc = sk_repo_snapshot_remove(repo, ids[i], err);
        if (rc < 0)
            goto out;
        res->removed[res->nremoved++] = ids[i];
        ids[i] = NULL;
        removed_any = true;
    }
    if (sk_repo_sweep_orphan_marks(repo) > 0)
        removed_any = true;
    if (removed_any && (rc = sk_repo_snapshots_sync(repo, err)) < 0)
        goto out;
    /* 2. what interrupted writers left, then the chunks nothing references */
    res->sessions_swept = sk_repo_sweep(repo);
    sk_hset_t refs;
    sk_hset_init(&refs);
    rc = collect_refs(repo, &refs, err);
    if (rc == 0)
        rc = sk_repo_chunk_sweep(repo, referenced, &refs, &res->chunks_removed, &res->bytes_freed, err);
    sk_hset_free(&refs);
out:
    free(keep);
    sk_repo_ids_free(ids, n);
    return rc;
}

void sk_prune_result_free(sk_prune_result_t *res)
{
    for (size_t i = 0; i < res->nremoved; i++)
        free(res->removed[i]);
    free(res->removed);
    memset(res, 0, sizeof(*res));
}
