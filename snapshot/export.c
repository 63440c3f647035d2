/*
 * export: snapshot -> portable .tar.zst (see export.h). libarchive writes the
 * pax stream into our callback, which feeds one multithreaded zstd stream.
 */
#include "slotkeeper/export.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "slotkeeper/chunk.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/manifest.h"
#include "slotkeeper/pool.h"
#include "slotkeeper/notice.h"

struct out {
    int fd;
    ZSTD_CCtx *cctx;
    void *buf;
    size_t cap;
    uint64_t written;
    sk_err_t *err;
    const char *what;
};

/* Compresses src into the output file; mode ZSTD_e_continue or ZSTD_e_end. */
static int out_feed(struct out *o, const void *src, size_t len, ZSTD_EndDirective mode)
{
    ZSTD_inBuffer in = {src, len, 0};
    for (;;) {
        ZSTD_outBuffer ob = {o->buf, o->cap, 0};
        size_t left = ZSTD_compressStream2(o->cctx, &ob, &in, mode);
        if (ZSTD_isError(left))
            return sk_err_set(o->err, -EIO, o->what, "zstd: %s", ZSTD_getErrorName(left));
        if (ob.pos) {
            int rc = sk_write_all(o->fd, o->buf, ob.pos);
            if (rc < 0)
                return sk_err_set(o->err, rc, o->what, NULL);
            o->written += ob.pos;
        }
        if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
            return 0;
    }
}

static la_ssize_t on_write(struct archive *a, void *client, const void *buf, size_t len)
{
    (void)a;
    return out_feed(client, buf, len, ZSTD_e_continue) < 0 ? -1 : (la_ssize_t)len;
}

static int fail_archive(struct archive *a, struct out *o, const char *path)
{
    if (o->err->code)
        return o->err->code;
    return sk_err_set(o->err, -EIO, path, "libarchive: %s", archive_error_string(a));
}

/* Writes len zero bytes of a file's holes; the pax writer drops them from the stream. */
static int write_zeros(struct archive *a, struct out *o, const char *path, uint64_t len)
{
    static const char zeros[1 << 16];
    while (len > 0) {
        size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
        if (archive_write_data(a, zeros, n) < 0)
            return fail_archive(a, o, path);
        len -= n;
    }
    return 0;
}

static int write_file(sk_repo_t *repo, struct archive *a, struct out *o, const sk_manifest_t *m, const sk_mentry_t *e,
                      sk_codec_t *codec, void *chunk, void **cbuf, size_t *ccap, sk_progress_t *prog)
{
    uint64_t cs = sk_mentry_chunk_size(m, e), pos = 0;
    for (size_t i = 0; i < e->nchunks; i++) {
        const sk_mchunk_t *c = &e->chunks[i];
        uint64_t off = c->index * cs;
        size_t len = sk_mentry_chunk_len(m, e, c->index), clen = 0;
        int rc = write_zeros(a, o, e->path, off - pos);
        if (rc < 0)
            return rc;
        rc = sk_repo_chunk_read(repo, &c->hash, cbuf, ccap, &clen);
        if (rc == 0 && clen != c->csize)
            rc = -EBADMSG;
        if (rc == 0)
            rc = sk_codec_decompress_check(codec, *cbuf, clen, chunk, len, &c->hash);
        if (rc < 0) {
            char p[PATH_MAX], rel[PATH_MAX];
            sk_repo_chunk_relpath(&c->hash, rel, sizeof(rel));
            sk_path_join(p, sizeof(p), repo->path, rel);
            return sk_err_set(o->err, rc == -ENOENT ? -EBADMSG : rc, p, "%s chunk %llu of %s",
                              rc == -ENOENT    ? "missing"
                              : rc == -EBADMSG ? "damaged"
                                               : "cannot read",
                              (unsigned long long)c->index, e->path);
        }
        if (archive_write_data(a, chunk, len) < 0)
            return fail_archive(a, o, e->path);
        sk_progress_add(prog, len);
        pos = off + len;
    }
    return write_zeros(a, o, e->path, e->size - pos);
}

int sk_export(sk_repo_t *repo, const char *which, int out_fd, int level, int threads, sk_progress_t *progress,
              sk_export_result_t *res, sk_err_t *err)
{
    double t0 = sk_now();
    memset(res, 0, sizeof(*res));
    sk_manifest_t *m = NULL;
    int rc;
    if (!strcmp(which, "latest")) {
        rc = sk_repo_latest_good(repo, &m, err);
    } else {
        char reason[256];
        if (sk_repo_is_bad(repo, which, reason, sizeof(reason)) == 1)
            return sk_err_set(err, -EBADMSG, which, "snapshot is marked bad: %s", reason);
        rc = sk_repo_manifest_load(repo, which, &m, err);
    }
    if (rc < 0)
        return rc;
    snprintf(res->id, sizeof(res->id), "%s", m->id);
    char *mtext = NULL;
    size_t mlen = 0;
    struct out o = {.fd = out_fd, .err = err, .what = "output"};
    struct archive *a = NULL;
    struct archive_entry *ae = NULL;
    uint32_t max_cs = sk_manifest_max_chunk_size(m);
    sk_codec_t *codec = sk_codec_new(max_cs, 1);
    void *chunk = malloc(max_cs), *cbuf = NULL;
    size_t ccap = 0;
    o.cctx = ZSTD_createCCtx();
    o.cap = ZSTD_CStreamOutSize();
    o.buf = malloc(o.cap);
    if (!codec || !chunk || !o.cctx || !o.buf) {
        rc = sk_err_set(err, -ENOMEM, repo->path, NULL);
        goto out;
    }
    if (threads <= 0)
        threads = sk_pool_default_threads();
    if (ZSTD_isError(ZSTD_CCtx_setParameter(o.cctx, ZSTD_c_compressionLevel, level ? level : repo->level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(o.cctx, ZSTD_c_checksumFlag, 1))) {
        rc = sk_err_set(err, -EINVAL, repo->path, "zstd: bad compression parameters");
        goto out;
    }
    if (threads > 1 && ZSTD_isError(ZSTD_CCtx_setParameter(o.cctx, ZSTD_c_nbWorkers, threads)))
        sk_notice(SK_NOTICE_DEBUG, "zstd without multithreading here: compressing on one thread");
    rc = sk_manifest_serialize(m, &mtext, &mlen);
    if (rc < 0) {
        sk_err_set(err, rc, repo->path, NULL);
        goto out;
    }
    a = archive_write_new();
    ae = archive_entry_new();
    if (!a || !ae) {
        rc = sk_err_set(err, -ENOMEM, repo->path, NULL);
        goto out;
    }
    if (archive_write_set_format_pax(a) != ARCHIVE_OK || archive_write_set_bytes_in_last_block(a, 1) ||
        archive_write_open2(a, &o, NULL, on_write, NULL, NULL) != ARCHIVE_OK) {
        rc = fail_archive(a, &o, repo->path);
        goto out;
    }
    sk_progress_start(progress, "export", m->data_bytes);
    /* The manifest first, so that import can check everything that follows against it. */
    archive_entry_set_pathname(ae, SK_EXPORT_MANIFEST_NAME);
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_perm(ae, 0644);
    archive_entry_set_size(ae, (la_int64_t)mlen);
    archive_entry_set_mtime(ae, (time_t)m->time, 0);
    if (archive_write_header(a, ae) != ARCHIVE_OK || archive_write_data(a, mtext, mlen) < 0) {
        rc = fail_archive(a, &o, SK_EXPORT_MANIFEST_NAME);
        goto out;
    }
    for (size_t i = 0; i < m->nentries; i++) {
        const sk_mentry_t *e = &m->entries[i];
        archive_entry_clear(ae);
        archive_entry_set_pathname(ae, e->path);
        archive_entry_set_perm(ae, e->mode);
        archive_entry_set_uid(ae, e->uid);
        archive_entry_set_gid(ae, e->gid);
        archive_entry_set_mtime(ae, (time_t)e->mtime_sec, (long)e->mtime_nsec);
        if (e->type == 'd') {
            archive_entry_set_filetype(ae, AE_IFDIR);
        } else if (e->type == 'l') {
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_symlink(ae, e->target);
        } else {
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_size(ae, (la_int64_t)e->size);
            /* Data runs of adjacent stored chunks; what lies between them is a hole. */
            uint64_t cs = sk_mentry_chunk_size(m, e), run_off = 0, run_len = 0, data = 0;
            for (size_t c = 0; c < e->nchunks; c++) {
                uint64_t off = e->chunks[c].index * cs, len = sk_mentry_chunk_len(m, e, e->chunks[c].index);
                data += len;
                if (run_len && run_off + run_len == off) {
                    run_len += len;
                    continue;
                }
                if (run_len)
                    archive_entry_sparse_add_entry(ae, (la_int64_t)run_off, (la_int64_t)run_len);
                run_off = off;
                run_len = len;
            }
            if (data < e->size) { /* only files with holes get a sparse map */
                if (run_len)
                    archive_entry_sparse_add_entry(ae, (la_int64_t)run_off, (la_int64_t)run_len);
                else
                    archive_entry_sparse_add_entry(ae, (la_int64_t)e->size, 0);
            }
        }
        if (archive_write_header(a, ae) != ARCHIVE_OK) {
            rc = fail_archive(a, &o, e->path);
            goto out;
        }
        if (e->type == 'f') {
            rc = write_file(repo, a, &o, m, e, codec, chunk, &cbuf, &ccap, progress);
            if (rc < 0)
                goto out;
        }
        if (sk_cancelled()) {
            rc = sk_err_set(err, -ECANCELED, repo->path, "interrupted");
            goto out;
        }
        res->entries++;
    }
    if (archive_write_close(a) != ARCHIVE_OK) {
        rc = fail_archive(a, &o, repo->path);
        goto out;
    }
    rc = out_feed(&o, NULL, 0, ZSTD_e_end);
    if (rc < 0)
        goto out;
    res->data_bytes = m->data_bytes;
    res->out_bytes = o.written;
    res->seconds = sk_now() - t0;
out:
    sk_progress_end(progress);
    if (a)
        archive_write_free(a);
    if (ae)
        archive_entry_free(ae);
    ZSTD_freeCCtx(o.cctx);
    free(o.buf);
    free(mtext);
    free(chunk);
    free(cbuf);
    sk_codec_free(codec);
    sk_manifest_free(m);
    return rc < 0 ? rc : 0;
}
