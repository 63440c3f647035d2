/*
 * fakenode.h: declarations shared by the parts of fakenode, the nodeos stand-in for slotkeeper's tests.
 * main.c describes what the program does; each .c file starts with what it is responsible for.
 */
#ifndef FAKENODE_H
#define FAKENODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KIB ((uint64_t)1 << 10)
#define MIB ((uint64_t)1 << 20)

#define STATE_HEADER     1024                /* chainbase header; the boost segment manager starts here */
#define STATE_PAGE       4096                /* unit of the per-block state writes */
#define STATE_MAP_MAX    (64 * MIB)          /* blocks only touch the first 64 MiB of the state file */
#define STATE_CHAIN_ID   STATE_HEADER        /* fakenode keeps the chain id at 1024..1055, like a root object */
#define STATE_DATA       (STATE_HEADER + 64) /* first byte the per-block page writes may change */
#define DAWN_ENV_OFF     512                 /* Dawn: where fakenode keeps its environment record */
#define BLOCK_MAX        (64 * KIB)          /* upper bound of one generated block log entry */
#define GENESIS_SIZE     110                 /* packed genesis_state with a K1 key */
#define FORKDB_MAGIC     0x30510FDBU
#define CHAIN_HEAD_MAGIC 0xf1f2f3f4f4f3f2f1ULL
#define TOTEM            UINT64_MAX
#define EPOCH_2000_MS    946684800000LL /* block_timestamp epoch */

/* nodeos exit codes, as the shell sees them */
enum {
    RC_SUCCESS = 0,
    RC_BAD_ALLOC = 1,
    RC_DATABASE_DIRTY = 2,
    RC_OTHER_FAIL = 254,
    RC_INITIALIZE_FAIL = 255,
};

enum flavour_id { FL_LEAP, FL_LEAP4, FL_SPRING, FL_EOSIO2, FL_DAWN3 };

/* What differs between the nodeos generations fakenode can pretend to be. */
struct flavour {
    enum flavour_id id;
    const char *name;
    const char *db_id;       /* chainbase header id; NULL: no header and no dirty flag (Dawn 3.0) */
    const char *version;     /* server_version_string */
    const char *util;        /* tool named in block log errors */
    const char *state_dir;   /* "state", or "shared_mem" for Dawn */
    const char *forkdb;      /* fork_db.dat relative to the data-dir; NULL: none */
    const char *size_option; /* option that sets the state file size */
    bool chain_head;         /* Spring: state/chain_head.dat */
    bool preamble;           /* block log starts with version, first block, genesis, totem */
    bool strict_index;       /* Leap >= 4: a log/index mismatch is an error (older versions rebuilt the index) */
    bool reversible_db;      /* EOSIO 1.x-2.x: blocks/reversible/shared_memory.bin, a second chainbase database */
    bool exit_zero;          /* Dawn 3.0: a caught startup exception still exits 0 */
    bool capital_dirty;      /* EOSIO 2.x: "Database dirty flag set (likely ...": capital D */
    int main_line;           /* main.cpp line numbers in the log */
    int chain_line;          /* chain_plugin.cpp line of plugin_initialize's FC_LOG_AND_RETHROW */
    bool appbase_note;       /* appbase prints 'exception thrown during plugin "chain_plugin" initialization.' */
};

struct options {
    const char *data_dir;   /* absolute */
    const char *config_dir; /* absolute */
    const char *genesis;    /* genesis.json: --genesis-json, default <config-dir>/genesis.json */
    const char *logconf;    /* logging.json named by the SIGHUP message */
    char *http_addr;        /* NULL: HTTP disabled */
    uint64_t state_mb;
    const struct flavour *fl;
    uint32_t interval_ms;
    uint32_t catch_up_rate;
    uint64_t crash_after; /* 0: never */
    uint32_t shutdown_delay_ms;
    const char *fail_at; /* NULL or one of dirty blocklog forkdb environment lock initialize exhausted */
    uint32_t stop_at;    /* 0: never */
    bool replay;         /* --replay-blockchain */
    bool delete_all;     /* --delete-all-blocks */
};

extern struct options opt;

/* ---- log.c ---- */
enum level { LV_DEBUG, LV_INFO, LV_WARN, LV_ERROR };
int64_t now_ms(void);
void iso_time(char *buf, size_t n, int64_t ms);
void nlog(enum level lv, const char *file, int line, const char *method, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void raw_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- util.c ---- */
uint64_t mix64(uint64_t z);
struct rng {
    uint64_t s;
};
uint64_t rnd(struct rng *r);
uint32_t below(struct rng *r, uint32_t n);
void rand_fill(struct rng *r, uint8_t *p, size_t n);
uint8_t *put8(uint8_t *p, uint8_t v);
uint8_t *put16(uint8_t *p, uint16_t v);
uint8_t *put32(uint8_t *p, uint32_t v);
uint8_t *put64(uint8_t *p, uint64_t v);
uint8_t *putbe32(uint8_t *p, uint32_t v);
uint8_t *putvar(uint8_t *p, uint32_t v);
uint32_t get32(const uint8_t *p);
uint64_t get64(const uint8_t *p);
uint32_t getbe32(const uint8_t *p);
char *path_join(const char *dir, const char *name);
int mkdirs(const char *path);
int pread_full(int fd, void *buf, size_t len, off_t off);
int pwrite_full(int fd, const void *buf, size_t len, off_t off);
char *read_text(const char *path, size_t max, size_t *len);
int write_text(const char *path, const char *text);
bool exists(const char *path);
int remove_tree_contents(const char *dir);
void hex(char *out, const uint8_t *p, size_t n);
void *xmalloc(size_t n);

/* ---- failure.c: how startup errors reach the log and the exit code ---- */
void version_lines(void); /* main.cpp's "nodeos version", printed once plugin initialization succeeded */
_Noreturn void fail_std(const char *what);
_Noreturn void fail_fc(const char *code_name, const char *generic, const char *file, int line, const char *method,
                       const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* ... with the exception's context (fc's "{...}" line; NULL: "{}") */
_Noreturn void fail_fc_ctx(const char *code_name, const char *generic, const char *file, int line, const char *method,
                           const char *ctx, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
_Noreturn void fail_initialize(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fail_exhausted(void);
_Noreturn void fail_exit(int rc);

/* ---- chain.c: the deterministic chain ---- */
struct chain {
    uint8_t id[32];
    int64_t t0_ms;                 /* genesis initial_timestamp, ms since the epoch */
    uint8_t genesis[GENESIS_SIZE]; /* packed genesis_state for the block log preamble */
};
void chain_load(struct chain *c, const char *genesis_path, const char *blocks_log);
uint64_t chain_seed(const struct chain *c, uint32_t num, uint64_t salt);
void chain_block_id(const struct chain *c, uint32_t num, uint8_t id[32]);
size_t chain_block(const struct chain *c, uint32_t num, uint8_t *buf, uint64_t off, uint32_t *ntrx);
const char *chain_producer(uint32_t num);
int64_t chain_block_time(const struct chain *c, uint32_t num);
uint32_t chain_lib(uint32_t head);

/* ---- chainbase.c: shared_memory.bin ---- */
struct cdb {
    char *dir;
    char *path;
    const char *name; /* "state" or "reversible": the database name in chainbase's messages */
    int fd;
    uint64_t size;
    uint8_t *map;
    size_t maplen;
    bool created; /* this run created the file */
    bool open;    /* writable and dirty: a clean close must clear the flag */
    int meta_fd;  /* Dawn: shared_memory.meta, which holds the lock */
};
void cdb_open(struct cdb *db, const char *dir, const char *name, uint64_t size);
void cdb_store_chain_id(struct cdb *db, const uint8_t id[32]);
bool cdb_chain_id(const struct cdb *db, uint8_t id[32]);
void cdb_touch(struct cdb *db, const struct chain *c, uint32_t num);
void cdb_close(struct cdb *db);
int probe_lock(const char *path);

/* ---- blocklog.c: blocks.log and blocks.index ---- */
struct blog {
    char *dir, *log_path, *idx_path;
    int lfd, ifd;
    uint64_t log_size;
    uint64_t first_pos; /* offset of the first entry */
    uint32_t first_num; /* number of the first block the log holds (or would hold) */
    uint32_t head;      /* last block in the log; first_num - 1 when empty */
    uint64_t idx_size;  /* bytes in blocks.index */
    bool has_genesis;   /* the preamble holds a genesis state (first block 1) */
    bool has_chain_id;  /* the preamble holds a chain id instead (version 3, first block > 1) */
    uint8_t genesis[GENESIS_SIZE];
    uint8_t chain_id[32];
};
void blog_open(struct blog *b, const char *dir);
void blog_reset(struct blog *b, const struct chain *c);
void blog_append(struct blog *b, const struct chain *c, uint32_t num, uint32_t *ntrx);
void blog_close(struct blog *b);
bool blog_peek_genesis(const char *log_path, uint8_t genesis[GENESIS_SIZE]);

/* ---- layouts.c: strided block log, retained bundles, state history ---- */
bool layouts_config(const char *key, const char *value);
void layouts_open(struct blog *b, const struct chain *c);
void layouts_appended(struct blog *b, const struct chain *c, uint32_t num);
uint32_t layouts_first_block(const struct blog *b);
void layouts_close(void);

/* ---- http.c ---- */
struct uv_loop_s;
int http_start(struct uv_loop_s *loop, const char *addr, char *err, size_t errlen);
void http_stop(void);
/* provided by main.c: the get_info body; returns the HTTP status */
int node_get_info(char *buf, size_t n);

#endif
