/*
 * fuzz_import: libFuzzer target for the tar import path (sk_import, snapshot/import.c): libarchive
 * with tar and none/gzip/zstd only, the path and type rules, unpacking into the session folder,
 * the manifest inside an export, the check of a plain tarball's data-dir, and the snapshot
 * that a good archive becomes.
 *
 * Input: byte 0, then the archive, read from a memfd.
 *   byte 0 bit 1: the archive starts with an export's manifest made from the input: a u16
 *         (little-endian) length and that many bytes of manifest body follow byte 0; the
 *         target writes the ustar header of .slotkeeper-manifest, the body and its checksum
 *         line, and the rest of the input follows as the remainder of the archive. So the
 *         fuzzer reaches the check of an archive against a manifest that is hostile but whose
 *         checksum is right.
 *   byte 0 bit 0: every 512-byte block that has the "ustar" magic at offset 257 gets its header
 *         checksum recomputed, so that mutated tar headers reach import.c instead of stopping
 *         at libarchive's checksum test.
 *
 * SK_FUZZ_VERBOSE=1 prints each import's outcome (to see what a corpus or a regression does).
 *
 * One repository per process, in a private temp folder (chunk size 4 KiB, zstd level 1). After
 * every run its tmp/ folder must be empty (a refusal leaves the repository as it was); a run
 * that succeeds published a snapshot, so the repository is then removed and made again: the
 * fuzzer never fills the disk. Use -max_len=65536 (the runners do).
 *
 * Seeds: tests/fuzz/corpus/import/ (exports of a small snapshot as .tar, .tar.gz, .tar.zst, and
 * split into manifest body and rest for bit 1, with lying manifests;
 * plain tarballs of a clean data-dir, GNU sparse and pax; the hostile archives of t_import.sh).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "slotkeeper/chunk.h"
#include "slotkeeper/export.h"
#include "slotkeeper/import.h"
#include "slotkeeper/repo.h"

static char rpath[PATH_MAX];
static sk_repo_t *repo;
static int afd = -1;

static void repo_make(void)
{
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_repo_init_ex(rpath, SK_CHUNK_SIZE_MIN, 0, 1, &err) < 0 ||
        sk_repo_open(rpath, SK_LOCK_SHARED, 0, "import", &repo, &err) < 0) {
        fprintf(stderr, "fuzz_import: %s: %s\n", err.path, err.msg);
        exit(1);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init("import");
    snprintf(rpath, sizeof(rpath), "%s/repo", fz_dir);
    repo_make();
    afd = memfd_create("sk-fuzz-archive", MFD_CLOEXEC);
    if (afd < 0) {
        perror("memfd_create");
        exit(1);
    }
    return 0;
}

static size_t count_entries(const char *sub)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", rpath, sub);
    DIR *d = opendir(p);
    if (!d)
        fz_fail("%s: cannot open", p);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void fix_tar_checksums(uint8_t *a, size_t n)
{
    for (size_t off = 0; off + 512 <= n; off += 512) {
        uint8_t *h = a + off;
        if (memcmp(h + 257, "ustar", 5))
            continue;
        memset(h + 148, ' ', 8);
        unsigned sum = 0;
        for (int i = 0; i < 512; i++)
            sum += h[i];
        char ck[8];
        snprintf(ck, sizeof(ck), "%06o", sum & 0777777);
        memcpy(h + 148, ck, 7); /* six digits, NUL, and the space left from above */
    }
}

/* The archive of mode bit 1: a ustar .slotkeeper-manifest entry holding body + its checksum
 * line, then rest. Returns its length (a is large enough: see the caller). */
static size_t with_manifest(uint8_t *a, const uint8_t *body, size_t blen, const uint8_t *rest, size_t rlen)
{
    size_t mlen = blen + 9 + SK_HASH_HEX_LEN + 1;
    uint8_t *h = a;
    memset(h, 0, 512);
    memcpy(h, SK_EXPORT_MANIFEST_NAME, strlen(SK_EXPORT_MANIFEST_NAME));
    memcpy(h + 100, "0000644", 7);
    memcpy(h + 108, "0000000", 7);
    memcpy(h + 116, "0000000", 7);
    char num[16];
    snprintf(num, sizeof(num), "%011o", (unsigned)mlen);
    memcpy(h + 124, num, 11);
    memcpy(h + 136, "00000000000", 11);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    fix_tar_checksums(h, 512);
    uint8_t *m = a + 512;
    memcpy(m, body, blen);
    sk_hash_t hash;
    sk_hash_compute(m, blen, &hash);
    char hex[SK_HASH_HEX_LEN + 1];
    sk_hash_hex(&hash, hex);
    memcpy(m + blen, "checksum ", 9);
    memcpy(m + blen + 9, hex, SK_HASH_HEX_LEN);
    m[mlen - 1] = '\n';
    size_t off = 512 + (mlen + 511) / 512 * 512;
    memset(a + 512 + mlen, 0, off - 512 - mlen);
    memcpy(a + off, rest, rlen);
    return off + rlen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t *a = malloc(size + 2048);
    if (!a)
        return 0;
    size_t n = size - 1;
    if (data[0] & 2) {
        size_t blen = size >= 3 ? (size_t)data[1] | (size_t)data[2] << 8 : 0;
        size_t left = size >= 3 ? size - 3 : 0;
        if (blen > left)
            blen = left;
        n = with_manifest(a, data + 3, blen, data + 3 + blen, left - blen);
    } else {
        memcpy(a, data + 1, n);
    }
    if (data[0] & 1)
        fix_tar_checksums(a, n);
    if (ftruncate(afd, 0) < 0 || sk_pwrite_all(afd, a, n, 0) < 0 || lseek(afd, 0, SEEK_SET) < 0) {
        perror("memfd");
        abort();
    }
    free(a);

    size_t snaps = count_entries("snapshots");
    sk_import_result_t res;
    sk_err_t err;
    sk_err_clear(&err);
    int rc = sk_import(repo, afd, "fuzz.tar", 1, NULL, &res, &err);
    if (getenv("SK_FUZZ_VERBOSE"))
        fprintf(stderr, "import: %d%s%s\n", rc, rc < 0 ? " " : "", rc < 0 ? err.msg : "");
    if (count_entries("tmp") != 0)
        fz_fail("import returned %d and left files in the repository's tmp/", rc);
    if (rc < 0) {
        if (rc != err.code || !err.msg[0])
            fz_fail("import refused (%d) without saying why (err %d)", rc, err.code);
        if (count_entries("snapshots") != snaps)
            fz_fail("a refused import changed snapshots/");
        return 0;
    }
    if (!sk_id_valid(res.snap.id) || count_entries("snapshots") != snaps + 1)
        fz_fail("import succeeded but published no snapshot");
    sk_repo_close(repo);
    repo = NULL;
    if (sk_rm_rf_at(AT_FDCWD, rpath) < 0)
        fz_fail("cannot remove %s", rpath);
    repo_make();
    return 0;
}
