/*
 * layouts.c: the block log and state-history layouts nodeos uses at scale, as far as slotkeeper's tests need
 * them (AntelopeIO/leap v4.0.6; snapshot/layouts.c cites the sources):
 *
 *   blocks-log-stride = N        when the head block is a multiple of N, blocks.log/.index are renamed to
 *                                <retained>/blocks-<first>-<head>.log/.index and a new blocks.log starts (version
 *                                3, the chain id, first block head + 1; the version word written last)
 *   blocks-retained-dir = D      <retained>: absolute, or relative to the blocks folder; the blocks folder itself
 *                                when not set
 *   max-retained-block-files = K beyond K bundles, the oldest move to the archive folder, or are deleted when
 *   blocks-archive-dir = A       blocks-archive-dir is set empty (default "archive", relative to the blocks folder)
 *   state-history-dir = S        default "state-history", relative to the data-dir
 *   chain-state-history = true   S/chain_state_history.log/.index: an entry per block, from the first block applied
 *   trace-history = true         S/trace_history.log/.index: from the first block after genesis
 *
 * A state-history entry: u64 magic ("ship" v0), the block id (its first 4 bytes the big-endian block number), u64
 * payload size, the payload, the entry's own offset (u64); the index holds one u64 offset per block.  At start a
 * log whose tail is cut is truncated to its last whole entry and an index of the wrong size is regenerated, as
 * state_history_log::open_log / open_index do.
 *
 * Hooks: read_config_ini hands unknown keys to layouts_config; startup calls layouts_open after blog_open;
 * blog_append calls layouts_appended; the fork database check asks layouts_first_block.
 */
#include "fakenode.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHIP_MAGIC  0xc35d500000000000ULL /* "ship"_n.to_uint64_t() | version 0 */
#define SHIP_HEADER 48
#define SALT_SHIP   0x73686970ULL

static struct {
    uint32_t stride;
    uint32_t max_retained; /* 0: no limit */
    char *retained_dir;    /* as configured; NULL: the blocks folder */
    char *archive_dir;     /* as configured; NULL: "archive" */
    char *ship_dir;        /* NULL: "state-history" */
    bool trace, chain_state;
    /* resolved at open */
    char *retained, *archive; /* absolute; archive "" when bundles beyond the limit are deleted */
    uint32_t retained_first;  /* first block of the oldest retained bundle, 0 when none */
    struct ship {
        const char *name;
        bool on;
        char *log_path, *idx_path;
        int lfd, ifd;
        uint64_t size;
        uint32_t next; /* next block to append; 0: the log is empty */
    } ship[2];
} L = {
    .ship = {{.name = "chain_state_history", .lfd = -1, .ifd = -1}, {.name = "trace_history", .lfd = -1, .ifd = -1}}};

static bool is_true(const char *v)
{
    return !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "on");
}

static char *unquote(const char *v)
{
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
        return strndup(v + 1, n - 2);
    return strdup(v);
}

bool layouts_config(const char *k, const char *v)
{
    if (!strcmp(k, "blocks-log-stride"))
        L.stride = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "max-retained-block-files"))
        L.max_retained = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "blocks-retained-dir"))
        free(L.retained_dir), L.retained_dir = unquote(v);
    else if (!strcmp(k, "blocks-archive-dir"))
        free(L.archive_dir), L.archive_dir = unquote(v);
    else if (!strcmp(k, "state-history-dir"))
        free(L.ship_dir), L.ship_dir = unquote(v);
    else if (!strcmp(k, "trace-history"))
        L.trace = is_true(v);
    else if (!strcmp(k, "chain-state-history"))
        L.chain_state = is_true(v);
    else
        return false;
    return true;
}

static char *resolve(const char *base, const char *v)
{
    if (!v || !*v)
        return strdup(base);
    if (v[0] == '/')
        return strdup(v);
    return path_join(base, v);
}

static _Noreturn void lfail(const char *what, const char *path)
{
    fail_fc("3190000 block_log_exception", "Block log exception", "log_catalog.hpp", 70, "open", "%s: %s: %s", what,
            path, strerror(errno));
}

/* bundles "blocks-A-B.log" in dir, sorted by A */
struct bundle {
    uint32_t first, last;
};

static int cmp_bundle(const void *a, const void *b)
{
    const struct bundle *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

static size_t list_bundles(const char *dir, struct bundle **out)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        unsigned a, b;
        char tail[8];
        if (sscanf(e->d_name, "blocks-%u-%u%7s", &a, &b, tail) != 3 || strcmp(tail, ".log"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = realloc(*out, cap * sizeof **out);
            if (!*out)
                lfail("out of memory", dir);
        }
        (*out)[n++] = (struct bundle){a, b};
    }
    closedir(d);
    if (n > 1)
        qsort(*out, n, sizeof **out, cmp_bundle);
    return n;
}

static void bundle_path(char *out, size_t n, const char *dir, uint32_t a, uint32_t b, const char *ext)
{
    snprintf(out, n, "%s/blocks-%u-%u.%s", dir, a, b, ext);
}

/* log_catalog::add: beyond max_retained_files, the oldest bundles go to the archive folder, or are deleted */
static void enforce_retained(void)
{
    struct bundle *b;
    size_t n = list_bundles(L.retained, &b);
    size_t drop = L.max_retained && n > L.max_retained ? n - L.max_retained : 0;
    for (size_t i = 0; i < drop; i++) {
        for (int k = 0; k < 2; k++) {
            const char *ext = k ? "index" : "log";
            char from[4096], to[4096];
            bundle_path(from, sizeof from, L.retained, b[i].first, b[i].last, ext);
            if (L.archive[0]) {
                if (mkdirs(L.archive) < 0)
                    lfail("cannot create", L.archive);
                bundle_path(to, sizeof to, L.archive, b[i].first, b[i].last, ext);
                if (exists(to))
                    unlink(from);
                else if (rename(from, to) < 0)
                    lfail("cannot move", from);
            } else {
                unlink(from);
            }
        }
    }
    L.retained_first = n > drop ? b[drop].first : 0;
    free(b);
}

/* a preamble-only blocks.log starting at first (split_log: version 3, the chain id, the version word last) */
static void new_log(struct blog *bl, const struct chain *c, uint32_t first)
{
    uint8_t buf[48], *p = buf;
    p = put32(p, 0);
    p = put32(p, first);
    memcpy(p, c->id, 32);
    p += 32;
    put64(p, TOTEM);
    uint8_t ver[4];
    put32(ver, 3);
    if (ftruncate(bl->lfd, 0) < 0 || ftruncate(bl->ifd, 0) < 0 || pwrite_full(bl->lfd, buf, sizeof buf, 0) < 0 ||
        fsync(bl->lfd) < 0 || pwrite_full(bl->lfd, ver, 4, 0) < 0)
        lfail("cannot write", bl->log_path);
    bl->log_size = sizeof buf;
    bl->idx_size = 0;
    bl->first_pos = sizeof buf;
    bl->first_num = first;
    bl->head = first - 1;
    bl->has_genesis = false;
    bl->has_chain_id = true;
    memcpy(bl->chain_id, c->id, 32);
}

static void split_log(struct blog *bl, const struct chain *c, uint32_t head)
{
    if (mkdirs(L.retained) < 0)
        lfail("cannot create", L.retained);
    char to[4096];
    uint32_t first = bl->first_num;
    close(bl->lfd);
    close(bl->ifd);
    bundle_path(to, sizeof to, L.retained, bl->first_num, head, "log");
    if (rename(bl->log_path, to) < 0)
        lfail("cannot rename", bl->log_path);
    bundle_path(to, sizeof to, L.retained, bl->first_num, head, "index");
    if (rename(bl->idx_path, to) < 0)
        lfail("cannot rename", bl->idx_path);
    bl->lfd = open(bl->log_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    bl->ifd = open(bl->idx_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (bl->lfd < 0 || bl->ifd < 0)
        lfail("cannot create", bl->log_path);
    new_log(bl, c, head + 1);
    nlog(LV_INFO, "block_log.cpp", 1001, "split_log", "split blocks.log at block %u: blocks-%u-%u.log", head, first,
         head);
    enforce_retained();
}

/* ---- state history ---- */

static uint64_t fsize(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* open_log + open_index: the last whole entry, a cut tail truncated, an index of the wrong size regenerated */
static void ship_open(struct ship *s, const char *dir)
{
    char file[64];
    snprintf(file, sizeof file, "%s.log", s->name);
    s->log_path = path_join(dir, file);
    snprintf(file, sizeof file, "%s.index", s->name);
    s->idx_path = path_join(dir, file);
    s->lfd = open(s->log_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    s->ifd = open(s->idx_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lfd < 0 || s->ifd < 0)
        fail_fc("3110000 plugin_exception", "Plugin exception", "state_history_plugin.cpp", 507, "plugin_initialize",
                "%s: %s", s->log_path, strerror(errno));
    uint64_t size = fsize(s->lfd), pos = 0, n = 0;
    uint32_t first = 0, last = 0;
    uint8_t h[SHIP_HEADER];
    while (pos + SHIP_HEADER + 8 <= size && pread_full(s->lfd, h, SHIP_HEADER, (off_t)pos) == 0 &&
           get64(h) == SHIP_MAGIC) {
        uint64_t end = pos + SHIP_HEADER + get64(h + 40) + 8, tail;
        uint8_t w[8];
        if (end > size || end < pos || pread_full(s->lfd, w, 8, (off_t)(end - 8)) < 0 || (tail = get64(w)) != pos)
            break;
        if (!n)
            first = getbe32(h + 8);
        last = getbe32(h + 8);
        n++;
        pos = end;
    }
    if (pos != size) {
        nlog(LV_ERROR, "log.hpp", 602, "get_last_block", "corrupt %s.log (2)", s->name);
        nlog(LV_INFO, "log.hpp", 640, "recover_blocks", "recover %s.log", s->name);
        if (ftruncate(s->lfd, (off_t)pos) < 0)
            lfail("cannot truncate", s->log_path);
    }
    s->size = pos;
    s->next = n ? last + 1 : 0;
    if (fsize(s->ifd) != n * 8) {
        nlog(LV_INFO, "log.hpp", 700, "open_index", "Regenerate %s.index", s->name);
        if (ftruncate(s->ifd, 0) < 0)
            lfail("cannot truncate", s->idx_path);
        for (uint64_t p = 0, i = 0; p < pos; i++) {
            uint8_t w[8];
            if (pread_full(s->lfd, h, SHIP_HEADER, (off_t)p) < 0)
                lfail("cannot read", s->log_path);
            put64(w, p);
            if (pwrite_full(s->ifd, w, 8, (off_t)(i * 8)) < 0)
                lfail("cannot write", s->idx_path);
            p += SHIP_HEADER + get64(h + 40) + 8;
        }
    }
    if (n)
        nlog(LV_INFO, "log.hpp", 690, "open_log", "%s.log has blocks %u-%u", s->name, first, last);
    else
        nlog(LV_INFO, "log.hpp", 694, "open_log", "%s.log is empty", s->name);
}

static void ship_write(struct ship *s, const struct chain *c, uint32_t num)
{
    static uint8_t buf[SHIP_HEADER + 2048 + 8];
    struct rng r = {chain_seed(c, num, SALT_SHIP ^ (uint64_t)s->name[0])};
    uint32_t payload = 60 + below(&r, 1000);
    uint8_t *p = buf, id[32];
    chain_block_id(c, num, id);
    p = put64(p, SHIP_MAGIC);
    memcpy(p, id, 32);
    putbe32(p, num);
    p += 32;
    p = put64(p, payload);
    p = put32(p, 0);
    memset(p, 0, payload / 3);
    p += payload / 3;
    rand_fill(&r, p, payload - 4 - payload / 3);
    p += payload - 4 - payload / 3;
    p = put64(p, s->size);
    uint8_t w[8];
    put64(w, s->size);
    uint64_t idx = fsize(s->ifd);
    if (pwrite_full(s->lfd, buf, (size_t)(p - buf), (off_t)s->size) < 0 || pwrite_full(s->ifd, w, 8, (off_t)idx) < 0) {
        nlog(LV_ERROR, "log.hpp", 520, "write_entry", "%s.log: %s", s->name, strerror(errno));
        fail_exit(RC_OTHER_FAIL);
    }
    s->size += (uint64_t)(p - buf);
    s->next = num + 1;
}

void layouts_open(struct blog *bl, const struct chain *c)
{
    if (L.stride || L.max_retained || L.retained_dir || L.archive_dir) {
        L.retained = resolve(bl->dir, L.retained_dir);
        L.archive =
            L.archive_dir && !*L.archive_dir ? strdup("") : resolve(bl->dir, L.archive_dir ? L.archive_dir : "archive");
        struct bundle *b;
        size_t n = list_bundles(L.retained, &b);
        L.retained_first = n ? b[0].first : 0;
        /* partitioned_block_log: an empty blocks.log continues after the last bundle */
        if (n && bl->log_size == 0)
            new_log(bl, c, b[n - 1].last + 1);
        free(b);
    }
    L.ship[0].on = L.chain_state;
    L.ship[1].on = L.trace;
    if (!L.chain_state && !L.trace)
        return;
    char *dir = resolve(opt.data_dir, L.ship_dir ? L.ship_dir : "state-history");
    if (mkdirs(dir) < 0)
        fail_fc("3110000 plugin_exception", "Plugin exception", "state_history_plugin.cpp", 446, "plugin_initialize",
                "%s: %s", dir, strerror(errno));
    for (int k = 0; k < 2; k++)
        if (L.ship[k].on)
            ship_open(&L.ship[k], dir);
    free(dir);
}

void layouts_appended(struct blog *bl, const struct chain *c, uint32_t num)
{
    for (int k = 0; k < 2; k++) {
        struct ship *s = &L.ship[k];
        if (!s->on || s->lfd < 0 || (k == 1 && num < 2))
            continue; /* the genesis block has no traces */
        if (!s->next)
            s->next = num;
        while (s->next <= num)
            ship_write(s, c, s->next);
    }
    if (L.stride && num % L.stride == 0)
        split_log(bl, c, num);
}

uint32_t layouts_first_block(const struct blog *bl)
{
    return L.retained_first && L.retained_first < bl->first_num ? L.retained_first : bl->first_num;
}

void layouts_close(void)
{
    for (int k = 0; k < 2; k++) {
        if (L.ship[k].lfd >= 0)
            close(L.ship[k].lfd);
        if (L.ship[k].ifd >= 0)
            close(L.ship[k].ifd);
        L.ship[k].lfd = L.ship[k].ifd = -1;
    }
}
