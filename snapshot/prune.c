/*
 * prune: retention and garbage collection of chunks (see prune.h).
 */
#include "slotkeeper/prune.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static int sweep_chunks(sk_repo_t *repo, const sk_hset_t *refs, sk_prune_result_t *res, sk_err_t *err)
{
    for (int i = 0; i < 256; i++) {
        char sub[3], p[PATH_MAX];
        snprintf(sub, sizeof(sub), "%02x", i);
        snprintf(p, sizeof(p), "%s/chunks/%s", repo->path, sub);
        int fd = openat(repo->chunksfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            if (errno == ENOENT)
                continue;
            return sk_err_errno(err, p);
        }
        DIR *d = fdopendir(fd);
        if (!d) {
            close(fd);
            return sk_err_errno(err, p);
        }
        struct dirent *de;
        bool changed = false;
        int rc = 0;
        while ((de = readdir(d)) != NULL) {
            sk_hash_t h;
            char name[SK_HASH_HEX_LEN + 1];
            size_t len = strlen(de->d_name);
            bool aside = len == SK_HASH_HEX_LEN + 8 && !strcmp(de->d_name + SK_HASH_HEX_LEN, ".damaged");
            if (len != SK_HASH_HEX_LEN && !aside)
                continue;
            memcpy(name, de->d_name, SK_HASH_HEX_LEN);
            name[SK_HASH_HEX_LEN] = '\0';
            if (sk_hash_parse(name, &h) < 0 || h.b[0] != i)
                continue;
            if (!aside && sk_hset_find(refs, &h))
                continue;
            struct stat st;
            if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                continue;
            SK_CRASHPOINT("unlink");
            if (unlinkat(fd, de->d_name, 0) < 0) {
                rc = sk_err_errno(err, p);
                break;
            }
            res->chunks_removed++;
            res->bytes_freed += (uint64_t)st.st_blocks * 512;
            changed = true;
        }
        if (rc == 0 && changed && (SK_CRASHPOINT("fsync"), fsync(fd)) < 0)
            rc = sk_err_errno(err, p);
        closedir(d);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Removes the marks "<id>.bad" whose manifest is gone: a prune killed between removing a bad
 * snapshot's manifest and its mark leaves the mark alone. Returns whether it removed any. */
static bool sweep_orphan_marks(sk_repo_t *repo)
{
    DIR *d = sk_opendir_at(repo->snapsfd);
    if (!d)
        return false;
    bool removed = false;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char id[SK_ID_MAX];
        size_t n = strlen(de->d_name);
        if (n <= 4 || n - 4 >= sizeof(id) || strcmp(de->d_name + n - 4, ".bad"))
            continue;
        memcpy(id, de->d_name, n - 4);
        id[n - 4] = '\0';
        if (!sk_id_valid(id) || faccessat(repo->snapsfd, id, F_OK, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
            continue;
        SK_CRASHPOINT("unlink");
        if (unlinkat(repo->snapsfd, de->d_name, 0) == 0)
            removed = true;
    }
    closedir(d);
    return removed;
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
    if (sweep_orphan_marks(repo))
        removed_any = true;
    if (removed_any && (SK_CRASHPOINT("fsync"), fsync(repo->snapsfd)) < 0) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/snapshots", repo->path);
        rc = sk_err_errno(err, p);
        goto out;
    }
    /* 2. what interrupted writers left, then the chunks nothing references */
    res->sessions_swept = sk_repo_sweep(repo);
    sk_hset_t refs;
    sk_hset_init(&refs);
    rc = collect_refs(repo, &refs, err);
    if (rc == 0)
        rc = sweep_chunks(repo, &refs, res, err);
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
