/*
 * chainbase.c: state/shared_memory.bin the way chainbase's pinnable_mapped_file opens it.  The 1024-byte header
 * holds the id (EOSIODB2, EOSIODB3 or CHAINB01), the dirty byte at offset 8 and a 775-byte environment at 9..783
 * (debug, os, arch, boost version at 12, compiler string at 528) compared with memcmp.  A writable open checks,
 * in chainbase's order: id, dirty flag, environment; creates a missing file sparse (ftruncate) or grows a smaller
 * one (never shrinks); deletes shared_memory.meta; takes the fcntl F_SETLK/F_WRLCK whole-file lock boost's
 * file_lock uses; then sets the dirty byte and msyncs.  A clean close msyncs and clears the dirty byte.
 *
 * Dawn 3.0 (no db id): shared_mem/shared_memory.bin has no header and no dirty flag; fakenode keeps an environment
 * record at offset 512 (256-byte compiler string, debug, apple, windows) and the lock is on shared_memory.meta.
 *
 * The first 64 MiB are mapped MAP_SHARED, like chainbase's default "mapped" mode, and each block rewrites a few
 * 4 KiB pages there (cdb_touch).  fakenode also keeps the chain id at 1024..1055, where a root object would be.
 */
#include "fakenode.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENV_SIZE      775
#define FAKE_BOOST    108300
#define FAKE_COMPILER "fakenode-gcc-12.2.0"
#define DAWN_ENV_SIZE 259

enum { SALT_PAGES = 3, SALT_PAGE = 4 };

/* fakenode's own environment: debug 0, os 0 (Linux), arch 0 (x86_64), boost 1.83.0, compiler FAKE_COMPILER */
static void our_env(uint8_t env[ENV_SIZE])
{
    memset(env, 0, ENV_SIZE);
    put32(env + 3, FAKE_BOOST);
    memcpy(env + 519, FAKE_COMPILER, strlen(FAKE_COMPILER));
}

static const char *os_name(uint8_t v)
{
    static const char *const n[] = {"Linux", "macOS", "Windows", "Unknown"};
    return v < 4 ? n[v] : "error";
}

static const char *arch_name(uint8_t v)
{
    static const char *const n[] = {"x86_64", "ARM", "RISC-v", "Unknown"};
    return v < 4 ? n[v] : "error";
}

/* chainbase's operator<<(ostream, environment) */
static void dump_env(const uint8_t *env)
{
    char comp[257];
    memcpy(comp, env + 519, 256);
    comp[256] = 0;
    uint32_t b = get32(env + 3);
    raw_err("%17s%s", "Compiler: ", comp);
    raw_err("%17s%s", "Debug: ", env[0] ? "Yes" : "No");
    raw_err("%17s%s", "OS: ", os_name(env[1]));
    raw_err("%17s%s", "Arch: ", arch_name(env[2]));
    raw_err("%17s%u.%u.%u", "Boost: ", b / 100000, b / 100 % 1000, b % 100);
}

static void dawn_env(uint8_t env[DAWN_ENV_SIZE])
{
    memset(env, 0, DAWN_ENV_SIZE);
    memcpy(env, FAKE_COMPILER, strlen(FAKE_COMPILER));
}

/* whole-file write lock, as boost::interprocess::file_lock::try_lock does it on POSIX */
static int try_lock(int fd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    return fcntl(fd, F_SETLK, &fl);
}

static void set_dirty(struct cdb *db, uint8_t v)
{
    db->map[8] = v;
    if (msync(db->map, STATE_PAGE, MS_SYNC) < 0)
        raw_err("CHAINBASE: ERROR: syncing buffers failed");
}

static void map_file(struct cdb *db)
{
    db->maplen = (size_t)(db->size < STATE_MAP_MAX ? db->size : STATE_MAP_MAX);
    db->map = mmap(NULL, db->maplen, PROT_READ | PROT_WRITE, MAP_SHARED, db->fd, 0);
    if (db->map == MAP_FAILED) {
        db->map = NULL;
        fail_std(strerror(errno));
    }
}

/* Grow a smaller file to the configured size; a larger one stays as it is. */
static void fit_size(struct cdb *db, uint64_t existing, uint64_t want)
{
    db->size = existing;
    if (want > existing) {
        if (ftruncate(db->fd, (off_t)want) < 0)
            fail_std(strerror(errno));
        db->size = want;
    } else if (want < existing) {
        raw_err("CHAINBASE: \"%s\" requested size of %" PRIu64 " is less than existing size of %" PRIu64
                ". This database will not be shrunk and will remain at %" PRIu64,
                db->name, want, existing, existing);
    }
}

static void dawn_open(struct cdb *db, uint64_t size)
{
    uint8_t env[DAWN_ENV_SIZE], have[DAWN_ENV_SIZE];
    dawn_env(env);
    struct stat st;
    if (stat(db->path, &st) == 0) {
        db->fd = open(db->path, O_RDWR | O_CLOEXEC);
        if (db->fd < 0)
            fail_std(strerror(errno));
        if ((uint64_t)st.st_size < DAWN_ENV_OFF + DAWN_ENV_SIZE ||
            pread_full(db->fd, have, DAWN_ENV_SIZE, DAWN_ENV_OFF) < 0 || memcmp(have, env, DAWN_ENV_SIZE))
            fail_std("database created by a different compiler, build, or operating system");
        fit_size(db, (uint64_t)st.st_size, size);
    } else {
        db->fd = open(db->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (db->fd < 0 || ftruncate(db->fd, (off_t)size) < 0 || pwrite_full(db->fd, env, sizeof env, DAWN_ENV_OFF))
            fail_std(strerror(errno));
        db->size = size;
        db->created = true;
    }
    char *meta = path_join(db->dir, "shared_memory.meta");
    db->meta_fd = open(meta, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (db->meta_fd < 0)
        fail_std(strerror(errno));
    struct stat mst;
    if (fstat(db->meta_fd, &mst) == 0 && mst.st_size == 0 && ftruncate(db->meta_fd, 1024) < 0)
        fail_std(strerror(errno));
    free(meta);
    if (try_lock(db->meta_fd) < 0)
        fail_std("could not gain write access to the shared memory file");
    map_file(db);
    db->open = true;
}

void cdb_open(struct cdb *db, const char *dir, const char *name, uint64_t size)
{
    const struct flavour *fl = opt.fl;
    memset(db, 0, sizeof *db);
    db->fd = -1;
    db->meta_fd = -1;
    db->dir = strdup(dir);
    db->path = path_join(dir, "shared_memory.bin");
    db->name = name;

    if (size % MIB)
        fail_std("Database must be mulitple of 1048576 bytes: Bad size");
    if (mkdirs(dir) < 0)
        fail_std(strerror(errno));
    if (!fl->db_id) {
        dawn_open(db, size);
        return;
    }

    uint8_t env[ENV_SIZE];
    our_env(env);
    struct stat st;
    if (stat(db->path, &st) == 0) {
        uint8_t hdr[STATE_HEADER];
        db->fd = open(db->path, O_RDWR | O_CLOEXEC);
        if (db->fd < 0) {
            if (errno == EACCES || errno == EPERM)
                fail_std(strerror(errno));
            fail_std("Failed to read DB header");
        }
        if (st.st_size % (off_t)MIB)
            fail_std("Database must be mulitple of 1048576 bytes: Bad size");
        if (pread_full(db->fd, hdr, sizeof hdr, 0) < 0)
            fail_std("Failed to read DB header");
        if (memcmp(hdr, fl->db_id, 8)) {
            char what[256];
            snprintf(what, sizeof what,
                     "\"%s\" database format not compatible with this version of chainbase.: Database format not "
                     "compatible with this version of chainbase",
                     name);
            fail_std(what);
        }
        if (hdr[8])
            fail_std("Database dirty flag set");
        if (memcmp(hdr + 9, env, ENV_SIZE)) {
            raw_err("CHAINBASE: \"%s\" database was created with a chainbase from a different environment", name);
            raw_err("Current compiler environment:");
            dump_env(env);
            raw_err("DB created with compiler environment:");
            dump_env(hdr + 9);
            fail_std("Database incompatible; All environment parameters must match");
        }
        fit_size(db, (uint64_t)st.st_size, size);
    } else {
        uint8_t hdr[STATE_HEADER] = {0};
        memcpy(hdr, fl->db_id, 8);
        memcpy(hdr + 9, env, ENV_SIZE);
        db->fd = open(db->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (db->fd < 0 || ftruncate(db->fd, (off_t)size) < 0 || pwrite_full(db->fd, hdr, sizeof hdr, 0) < 0)
            fail_std(strerror(errno));
        db->size = size;
        db->created = true;
    }

    char *meta = path_join(dir, "shared_memory.meta");
    unlink(meta);
    free(meta);
    if (try_lock(db->fd) < 0)
        fail_std("Could not gain write access to the shared memory file");
    map_file(db);
    db->open = true;
    set_dirty(db, 1);
}

void cdb_store_chain_id(struct cdb *db, const uint8_t id[32])
{
    memcpy(db->map + STATE_CHAIN_ID, id, 32);
}

/* false when the state holds no chain id yet (all zero) */
bool cdb_chain_id(const struct cdb *db, uint8_t id[32])
{
    memcpy(id, db->map + STATE_CHAIN_ID, 32);
    for (int i = 0; i < 32; i++)
        if (id[i])
            return true;
    return false;
}

/* Block num's writes: 1-4 pages chosen by (chain, num), each filled with bytes that depend on (chain, num, page). */
void cdb_touch(struct cdb *db, const struct chain *c, uint32_t num)
{
    if (!db->map)
        return;
    uint64_t npages = db->maplen / STATE_PAGE;
    struct rng r = {chain_seed(c, num, SALT_PAGES)};
    uint32_t k = 1 + below(&r, 4);
    for (uint32_t i = 0; i < k; i++) {
        uint64_t page = rnd(&r) % npages;
        uint64_t start = page * STATE_PAGE, end = start + STATE_PAGE;
        if (start < STATE_DATA)
            start = STATE_DATA;
        struct rng pr = {chain_seed(c, num, SALT_PAGE ^ page << 8)};
        /* record-like: about a third of the words are zero and most others have a zero top half */
        for (uint64_t off = start; off + 8 <= end; off += 8) {
            uint64_t v = rnd(&pr);
            if (v % 3 == 0)
                v = 0;
            else if (v & 1)
                v &= 0xffffffffULL;
            memcpy(db->map + off, &v, 8);
        }
    }
}

/* Clean close: msync, clear the dirty byte, msync; closing the fd drops the lock. */
void cdb_close(struct cdb *db)
{
    if (!db->open)
        return;
    if (msync(db->map, db->maplen, MS_SYNC) < 0)
        raw_err("CHAINBASE: ERROR: syncing buffers failed");
    if (opt.fl->db_id)
        set_dirty(db, 0);
    munmap(db->map, db->maplen);
    db->map = NULL;
    close(db->fd);
    db->fd = -1;
    if (db->meta_fd >= 0)
        close(db->meta_fd);
    db->meta_fd = -1;
    db->open = false;
}

/* --probe-lock: print the pid holding a POSIX write lock on path (exit 0) or "unlocked" (exit 1). */
int probe_lock(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "fakenode: %s: %s\n", path, strerror(errno));
        return 2;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_GETLK, &fl) < 0) {
        fprintf(stderr, "fakenode: %s: %s\n", path, strerror(errno));
        close(fd);
        return 2;
    }
    close(fd);
    if (fl.l_type == F_UNLCK) {
        printf("unlocked\n");
        return 1;
    }
    printf("%ld\n", (long)fl.l_pid);
    return 0;
}
