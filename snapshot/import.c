/*
 * import: tar archive -> repository (see import.h for the rules it enforces).
 * Unpack into the session's "import" folder, check against the manifest (or
 * with `check` when there is none), then take an ordinary snapshot of it.
 */
#include "slotkeeper/import.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/buf.h"
#include "slotkeeper/datadir.h"
#include "slotkeeper/crashpoint.h"
#include "slotkeeper/export.h"
#include "slotkeeper/facts.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/hashset.h"
#include "slotkeeper/manifest.h"
#include "slotkeeper/pool.h"
#include "slotkeeper/notice.h"
#include "slotkeeper/restore.h"

#define MAX_INCLUDES 16

struct staged {
    char *path;
    char type;
    mode_t mode;
    uid_t uid;
    gid_t gid;
    struct timespec mtime;
};

struct imp {
    sk_repo_t *repo;
    const char *name;
    sk_err_t *err;
    int stagefd;
    char stage_path[PATH_MAX];
    sk_manifest_t *m;
    char *includes[MAX_INCLUDES];
    size_t nincludes;
    struct staged *st;
    size_t nst, capst;
    bool skipped_meta; /* a plain tarball's .slotkeeper/ was skipped */
};

static int refuse(struct imp *im, const char *entry, const char *fmt, const char *what)
{
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, what ? what : "");
    return sk_err_set(im->err, -EBADMSG, im->name, "refused: %s%s%s", entry ? entry : "", entry ? ": " : "", msg);
}

/* A relative path of plain components: no "..", ".", empty component or leading '/'. */
/* Opens (creating if needed) the folder holding rel, component by component, never following a link. */
static int open_parent(struct imp *im, const char *rel, const char **leaf)
{
    int fd = dup(im->stagefd);
    const char *s = rel;
    for (;;) {
        const char *sl = strchr(s, '/');
        if (!sl) {
            *leaf = s;
            return fd;
        }
        char comp[256];
        size_t n = (size_t)(sl - s);
        if (n >= sizeof(comp)) {
            close(fd);
            return -ENAMETOOLONG;
        }
        memcpy(comp, s, n);
        comp[n] = '\0';
        int nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0 && errno == ENOENT && (SK_CRASHPOINT("mkdir"), mkdirat(fd, comp, 0755)) == 0)
            nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(fd);
        if (nfd < 0)
            return -e;
        fd = nfd;
        s = sl + 1;
    }
}

#define MAX_ENTRIES 1000000 /* a data-dir has a few hundred; millions is an attack on memory */

static int remember(struct imp *im, const char *path, char type, struct archive_entry *ae)
{
    if (im->nst == MAX_ENTRIES)
        return refuse(im, path, "more than a million entries%s", NULL);
    if (sk_grow(&im->st, &im->capst, im->nst + 1, sizeof(*im->st), 64) < 0)
        return -ENOMEM;
    struct staged *s = &im->st[im->nst];
    if (!(s->path = strdup(path)))
        return -ENOMEM;
    s->type = type;
    /* No setuid, setgid or sticky bit from an archive: a data-dir never needs them, and a
     * restore would otherwise plant them in a slot. */
    s->mode = archive_entry_perm(ae) & 0777;
    s->uid = (uid_t)archive_entry_uid(ae);
    s->gid = (gid_t)archive_entry_gid(ae);
    s->mtime.tv_sec = archive_entry_mtime(ae);
    s->mtime.tv_nsec = archive_entry_mtime_nsec(ae);
    im->nst++;
    return 0;
}

static int read_manifest(struct imp *im, struct archive *a, struct archive_entry *ae, const char *mname)
{
    la_int64_t size = archive_entry_size(ae);
    if (archive_entry_filetype(ae) != AE_IFREG || size <= 0 || (uint64_t)size > SK_MANIFEST_MAX)
        return refuse(im, mname, "not a plausible manifest%s", NULL);
    char *buf = malloc((size_t)size + 1);
    if (!buf)
        return sk_err_set(im->err, -ENOMEM, im->name, NULL);
    la_ssize_t got = 0;
    while (got < size) {
        la_ssize_t n = archive_read_data(a, buf + got, (size_t)(size - got));
        if (n <= 0) {
            free(buf);
            return refuse(im, mname, "truncated%s", NULL);
        }
        got += n;
    }
    char why[256];
    int rc = sk_manifest_parse(buf, (size_t)size, &im->m, why, sizeof(why));
    free(buf);
    if (rc < 0)
        return sk_err_set(im->err, -EBADMSG, im->name, "refused: corrupt manifest inside: %s", why);
    return 0;
}

static int note_include(struct imp *im, const char *path)
{
    size_t n = strcspn(path, "/");
    for (size_t i = 0; i < im->nincludes; i++)
        if (strlen(im->includes[i]) == n && !strncmp(im->includes[i], path, n))
            return 0;
    if (im->m)
        return refuse(im, path, "not in a folder the manifest includes%s", NULL);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c <= 0x20 || c >= 0x7f || c == '%')
            return refuse(im, path, "top-level folder name is not plain%s", NULL);
    }
    if (im->nincludes == MAX_INCLUDES)
        return refuse(im, path, "too many top-level folders%s", NULL);
    if (!(im->includes[im->nincludes] = strndup(path, n)))
        return -ENOMEM;
    im->nincludes++;
    return 0;
}

static int unpack_entry(struct imp *im, struct archive *a, struct archive_entry *ae, const char *path)
{
    if (archive_entry_hardlink(ae))
        return refuse(im, path, "hard links are not accepted%s", NULL);
    mode_t ft = archive_entry_filetype(ae);
    if (ft != AE_IFDIR && ft != AE_IFREG && ft != AE_IFLNK)
        return refuse(im, path, "only folders, regular files and symbolic links are accepted%s", NULL);
    if (!sk_path_plain(path))
        return refuse(im, path, "unsafe path (absolute, '..', empty component or too long)%s", NULL);
    if (!im->m && (!strcmp(path, ".slotkeeper") || !strncmp(path, ".slotkeeper/", 12))) {
        /* A data-dir's own slotkeeper folder (marker, staging, quarantine) is never data. */
        if (!im->skipped_meta)
            sk_notice(SK_NOTICE_INFO, "%s: .slotkeeper/: skipped (slotkeeper's own folder in a data-dir)", im->name);
        im->skipped_meta = true;
        return 0;
    }
    if (ft != AE_IFDIR && !strchr(path, '/')) {
        if (im->m)
            return refuse(im, path, "a file outside the manifest's folders%s", NULL);
        /* A tarball of a whole data-dir also holds config.ini, genesis.json...: a snapshot
         * takes folders only, and every slot keeps its own copies of those. */
        sk_notice(SK_NOTICE_INFO, "%s: %s: skipped (a snapshot takes only folders)", im->name, path);
        return 0;
    }
    int rc = note_include(im, path);
    if (rc < 0)
        return rc;
    const char *leaf = NULL;
    int pfd = open_parent(im, path, &leaf);
    if (pfd < 0)
        return refuse(im, path, "cannot create its folder (%s)", strerror(-pfd));
    char full[PATH_MAX];
    sk_path_join(full, sizeof(full), im->stage_path, path);
    if (ft == AE_IFDIR) {
        SK_CRASHPOINT("mkdir");
        struct stat est;
        if (mkdirat(pfd, leaf, 0755) < 0 && errno != EEXIST)
            rc = sk_err_errno(im->err, full);
        else if (errno == EEXIST && fstatat(pfd, leaf, &est, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(est.st_mode))
            rc = refuse(im, path, "listed twice (a file, then a folder)%s", NULL);
        else
            rc = remember(im, path, 'd', ae);
    } else if (ft == AE_IFLNK) {
        const char *t = archive_entry_symlink(ae);
        if (!t || !sk_path_plain(t))
            rc = refuse(im, path, "symbolic link target is absolute, has '..' or is empty%s", NULL);
        else if ((SK_CRASHPOINT("symlink"), symlinkat(t, pfd, leaf)) < 0)
            rc = errno == EEXIST ? refuse(im, path, "listed twice%s", NULL) : sk_err_errno(im->err, full);
        else
            rc = remember(im, path, 'l', ae);
    } else {
        SK_CRASHPOINT("create");
        int fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            rc = errno == EEXIST ? refuse(im, path, "listed twice%s", NULL) : sk_err_errno(im->err, full);
        } else {
            la_int64_t size = archive_entry_size(ae);
            const void *buf;
            size_t len;
            la_int64_t off;
            int r;
            while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
                if (off < 0 || off + (la_int64_t)len > size) {
                    rc = refuse(im, path, "data beyond its stated size%s", NULL);
                    break;
                }
                rc = sk_pwrite_sparse(fd, buf, len, (off_t)off);
                if (rc < 0) {
                    sk_err_set(im->err, rc, full, NULL);
                    break;
                }
            }
            if (rc == 0 && r != ARCHIVE_EOF)
                rc = sk_err_set(im->err, -EBADMSG, im->name, "refused: %s: truncated or damaged archive: %s", path,
                                archive_error_string(a));
            SK_CRASHPOINT("truncate");
            if (rc == 0 && ftruncate(fd, (off_t)size) < 0)
                rc = sk_err_errno(im->err, full);
            SK_CRASHPOINT("fsync");
            if (rc == 0 && fsync(fd) < 0)
                rc = sk_err_errno(im->err, full);
            close(fd);
            if (rc == 0)
                rc = remember(im, path, 'f', ae);
        }
    }
    close(pfd);
    return rc;
}

/* Owner, mode and mtime as the archive says, deepest entries first. */
static int apply_meta(struct imp *im)
{
    for (size_t i = im->nst; i-- > 0;) {
        struct staged *s = &im->st[i];
        struct timespec ts[2] = {s->mtime, s->mtime};
        SK_CRASHPOINT("chown");
        if (fchownat(im->stagefd, s->path, s->uid, s->gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != EPERM)
            return sk_err_errno(im->err, s->path);
        SK_CRASHPOINT("chmod");
        if (s->type != 'l' && fchmodat(im->stagefd, s->path, s->mode, 0) < 0)
            return sk_err_errno(im->err, s->path);
        SK_CRASHPOINT("utimes");
        if (utimensat(im->stagefd, s->path, ts, AT_SYMLINK_NOFOLLOW) < 0)
            return sk_err_errno(im->err, s->path);
    }
    return 0;
}

/* Every manifest entry is staged as described, with the same chunk hashes, and nothing else is. */
static int check_against_manifest(struct imp *im)
{
    sk_manifest_t *m = im->m;
    if (im->nst != m->nentries)
        return sk_err_set(im->err, -EBADMSG, im->name, "refused: the archive holds %zu entries, its manifest lists %zu",
                          im->nst, m->nentries);
    uint32_t max_cs = sk_manifest_max_chunk_size(m);
    char *buf = malloc(max_cs);
    if (!buf)
        return sk_err_set(im->err, -ENOMEM, im->name, NULL);
    int rc = 0;
    for (size_t i = 0; i < m->nentries && rc == 0; i++) {
        const sk_mentry_t *e = &m->entries[i];
        struct stat st;
        if (fstatat(im->stagefd, e->path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = refuse(im, e->path, "listed in the manifest but not in the archive%s", NULL);
            break;
        }
        char t = S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' : 'f';
        if (t != e->type || (st.st_mode & 07777) != (e->type == 'l' ? st.st_mode & 07777 : e->mode)) {
            rc = refuse(im, e->path, "its type or mode differs from the manifest%s", NULL);
            break;
        }
        if (e->type == 'l') {
            char target[PATH_MAX];
            ssize_t n = readlinkat(im->stagefd, e->path, target, sizeof(target) - 1);
            if (n < 0 || (target[n] = '\0', strcmp(target, e->target)))
                rc = refuse(im, e->path, "its link target differs from the manifest%s", NULL);
            continue;
        }
        if (e->type != 'f')
            continue;
        if ((uint64_t)st.st_size != e->size) {
            rc = refuse(im, e->path, "its size differs from the manifest%s", NULL);
            break;
        }
        int fd = openat(im->stagefd, e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            rc = sk_err_errno(im->err, e->path);
            break;
        }
        uint64_t cs = sk_mentry_chunk_size(m, e), nchunks = (e->size + cs - 1) / cs;
        size_t next = 0; /* the next listed chunk */
        for (uint64_t c = 0; c < nchunks && rc == 0; c++) {
            size_t len = sk_mentry_chunk_len(m, e, c);
            bool listed_here = next < e->nchunks && e->chunks[next].index == c;
            if (!listed_here) {
                /* A chunk that is all hole needs no reading: a 4 GiB state file is mostly hole. */
                off_t d = lseek(fd, (off_t)(c * cs), SEEK_DATA);
                if ((d < 0 && errno == ENXIO) || (d >= 0 && (uint64_t)d >= c * cs + len))
                    continue;
            }
            if (sk_pread_full(fd, buf, len, (off_t)(c * cs)) != (ssize_t)len) {
                rc = sk_err_errno(im->err, e->path);
                break;
            }
            bool listed = next < e->nchunks && e->chunks[next].index == c;
            if (!listed) {
                if (!sk_is_zero(buf, len))
                    rc = refuse(im, e->path, "holds data where its manifest says zeros%s", NULL);
                continue;
            }
            sk_hash_t h;
            sk_hash_compute(buf, len, &h);
            if (!sk_hash_eq(&h, &e->chunks[next].hash))
                rc = refuse(im, e->path, "a chunk does not match the manifest's hash%s", NULL);
            next++;
        }
        close(fd);
    }
    free(buf);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A tarball made the usual way, `tar -C /srv/eos -czf x.tar.gz archive`, holds one top folder
 * that is the data-dir itself. When the staged tree is no data-dir but its only folder is one,
 * the snapshot is taken of that folder: data_dir becomes it and the includes become its
 * sub-folders (slotkeeper's own .slotkeeper/ and names that are not plain left out, files such
 * as config.ini ignored, as at the top level). 1 when it re-rooted, 0 when not, or -errno. */
static int reroot(struct imp *im, char *data_dir, size_t dsz, sk_datadir_report_t *chk)
{
    if (im->m || im->nincludes != 1 || chk->verdict != SK_VERDICT_MISSING)
        return 0;
    char sub[PATH_MAX];
    sk_path_join(sub, sizeof(sub), im->stage_path, im->includes[0]);
    sk_datadir_report_t subchk;
    sk_err_t cerr;
    sk_err_clear(&cerr);
    if (sk_datadir_check(sub, &(sk_check_opts_t){0}, &subchk, &cerr) < 0 || subchk.verdict == SK_VERDICT_MISSING)
        return 0;
    int dfd = openat(im->stagefd, im->includes[0], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return sk_err_errno(im->err, sub);
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return sk_err_errno(im->err, sub);
    }
    char *names[MAX_INCLUDES];
    size_t n = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) && rc == 0) {
        const char *nm = de->d_name;
        if (nm[0] == '.' && (!nm[1] || !strcmp(nm, "..") || !strcmp(nm, ".slotkeeper")))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
            continue;
        bool plain = true;
        for (const char *c = nm; *c; c++)
            if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == '%')
                plain = false;
        if (!plain)
            continue;
        if (n == MAX_INCLUDES)
            rc = refuse(im, im->includes[0], "too many folders in the data-dir%s", NULL);
        else if (!(names[n++] = strdup(nm)))
            rc = sk_err_set(im->err, -ENOMEM, im->name, NULL);
    }
    closedir(d);
    if (rc == 0 && n == 0)
        rc = refuse(im, im->includes[0], "no folders in the data-dir%s", NULL);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        return rc;
    }
    qsort(names, n, sizeof(names[0]), cmp_names);
    sk_notice(SK_NOTICE_INFO, "%s: %s/: a whole data-dir in one folder; its folders are imported", im->name,
              im->includes[0]);
    snprintf(data_dir, dsz, "%s", sub);
    free(im->includes[0]);
    for (size_t i = 0; i < n; i++)
        im->includes[i] = names[i];
    im->nincludes = n;
    *chk = subchk;
    return 1;
}

int sk_import(sk_repo_t *repo, int in_fd, const char *name, int threads, sk_progress_t *progress,
              sk_import_result_t *res, sk_err_t *err)
{
    memset(res, 0, sizeof(*res));
    struct imp im = {.repo = repo, .name = name, .err = err, .stagefd = -1};
    struct archive *a = archive_read_new();
    int rc = 0;
    if (!a)
        return sk_err_set(err, -ENOMEM, name, NULL);
    /* Only what an export or a snapshot tarball needs: tar, and none/gzip/zstd. */
    if (archive_read_support_format_tar(a) != ARCHIVE_OK || archive_read_support_filter_none(a) != ARCHIVE_OK ||
        archive_read_support_filter_gzip(a) < ARCHIVE_WARN || archive_read_support_filter_zstd(a) < ARCHIVE_WARN ||
        archive_read_open_fd(a, in_fd, 1 << 16) != ARCHIVE_OK) {
        rc = sk_err_set(err, -EBADMSG, name, "refused: not a tar, tar.gz or tar.zst archive: %s",
                        archive_error_string(a));
        goto out;
    }
    rc = sk_repo_session_begin(repo, err);
    if (rc < 0)
        goto out;
    rc = sk_repo_session_scratch(repo, "import", im.stage_path, sizeof(im.stage_path), &im.stagefd, err);
    if (rc < 0)
        goto out;
    struct archive_entry *ae;
    bool first = true;
    int r;
    while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        const char *path = archive_entry_pathname(ae);
        if (!path) {
            rc = refuse(&im, NULL, "an entry without a name%s", NULL);
            goto out;
        }
        while (path[0] == '.' && path[1] == '/')
            path += 2;
        size_t pl = strlen(path);
        char clean[PATH_MAX];
        if (pl >= sizeof(clean)) {
            rc = refuse(&im, NULL, "a name longer than PATH_MAX%s", NULL);
            goto out;
        }
        memcpy(clean, path, pl + 1);
        if (pl > 1 && clean[pl - 1] == '/')
            clean[pl - 1] = '\0'; /* folders may end with '/' */
        /* The archive's root folder itself, and the folder entry of .slotkeeper/ before the
         * manifest (an export repacked with tar): the manifest may still follow. */
        if (!strcmp(clean, ".") || !*clean ||
            (first && !strcmp(clean, SK_SLOT_META_DIR) && archive_entry_filetype(ae) == AE_IFDIR))
            continue;
        /* The manifest: .slotkeeper/manifest as the first entry (elsewhere it is a data-dir's
         * own folder, skipped), or an older export's .slotkeeper-manifest, which must be first. */
        if ((first && !strcmp(clean, SK_EXPORT_MANIFEST_NAME)) || !strcmp(clean, SK_EXPORT_MANIFEST_OLD_NAME)) {
            if (!first) {
                rc = refuse(&im, clean, "the manifest must come first%s", NULL);
                goto out;
            }
            rc = read_manifest(&im, a, ae, clean);
            if (rc < 0)
                goto out;
            for (size_t i = 0; i < im.m->ninclude; i++)
                im.includes[im.nincludes++] = strdup(im.m->include[i]);
            first = false;
            continue;
        }
        first = false;
        rc = unpack_entry(&im, a, ae, clean);
        if (rc < 0)
            goto out;
        if (sk_cancelled()) {
            rc = sk_err_set(err, -ECANCELED, name, "interrupted");
            goto out;
        }
    }
    if (r != ARCHIVE_EOF) {
        rc = sk_err_set(err, -EBADMSG, name, "refused: truncated or damaged archive: %s", archive_error_string(a));
        goto out;
    }
    if (im.nst == 0) {
        rc = refuse(&im, NULL, "the archive holds no data-dir%s", NULL);
        goto out;
    }
    rc = apply_meta(&im);
    if (rc == 0 && im.m)
        rc = check_against_manifest(&im);
    if (rc < 0)
        goto out;
    sk_facts_t fs; /* an archive without a manifest: what a check of it found (chain, blocks, state) */
    fs.n = 0;
    char data_dir[PATH_MAX];
    snprintf(data_dir, sizeof(data_dir), "%s", im.stage_path);
    if (!im.m) {
        sk_datadir_report_t chk;
        sk_err_t cerr;
        sk_err_clear(&cerr);
        if (sk_datadir_check(im.stage_path, &(sk_check_opts_t){0}, &chk, &cerr) < 0) {
            rc = sk_err_set(err, cerr.code, cerr.path, "%s", cerr.msg);
            goto out;
        }
        rc = reroot(&im, data_dir, sizeof(data_dir), &chk);
        if (rc < 0)
            goto out;
        if (chk.verdict != SK_VERDICT_CLEAN) {
            rc = sk_err_set(err, -EUCLEAN, name, "refused: the data-dir in it is %s: %s", sk_verdict_name(chk.verdict),
                            chk.reason);
            goto out;
        }
        sk_facts_from_check(&fs, data_dir, &chk);
    }
    sk_fact_t facts[64];
    size_t nfacts = 0;
    /* Where it was unpacked is no fact about its source node; its chain and head block are. */
    for (size_t i = 0; i < fs.n; i++)
        if (strcmp(fs.f[i].key, "source.host") && strcmp(fs.f[i].key, "source.data-dir"))
            facts[nfacts++] = fs.f[i];
    if (im.m) {
        res->had_manifest = true;
        snprintf(res->source_id, sizeof(res->source_id), "%s", im.m->id);
        for (size_t i = 0; i < im.m->nfacts && nfacts < 63; i++)
            facts[nfacts++] = im.m->facts[i];
        facts[nfacts++] = (sk_fact_t){.key = "import.source-id", .value = im.m->id};
    }
    sk_snapshot_opts_t so = {
        .data_dir = data_dir,
        .include = (const char *const *)im.includes,
        .ninclude = im.nincludes,
        .threads = threads,
        .facts = facts,
        .nfacts = nfacts,
        .staged_in_session = true,
    };
    rc = sk_snapshot_create(repo, &so, progress, &res->snap, err);
out:
    if (im.stagefd >= 0)
        close(im.stagefd);
    sk_repo_session_end(repo);
    archive_read_free(a);
    for (size_t i = 0; i < im.nst; i++)
        free(im.st[i].path);
    free(im.st);
    for (size_t i = 0; i < im.nincludes; i++)
        free(im.includes[i]);
    sk_manifest_free(im.m);
    return rc < 0 ? rc : 0;
}
