/*
 * mkdatadir: test helper that fabricates a nodeos (Leap 5) data-dir which looks like a real one on disk,
 * for slotkeeper's integration tests and benchmark.
 *
 *   mkdatadir create DIR [--blocks-size SIZE] [--state-size SIZE] [--state-data SIZE] [--seed N]
 *   mkdatadir mutate DIR [--append-pct P] [--rewrite-pct P] [--seed N]
 *   mkdatadir --help          (what every option means, with an example; README's walkthrough uses it)
 *
 * "create" writes blocks/blocks.log (version 3 preamble with the genesis state of the nodeos 1.8 fixture, then
 * synthetic fc-packed signed_blocks, each followed by its own start offset), blocks/blocks.index,
 * blocks/reversible/fork_db.dat, a sparse state/shared_memory.bin with a chainbase header and a contiguous run of
 * record-like data after it, plus config.ini and genesis.json.  The content is produced by a seeded splitmix64
 * generator, so a given seed always gives the same bytes, and is shaped to compress with zstd -3 about like real
 * data (roughly 2-3x for blocks, 2-4x for state).
 *
 * Layouts (create): --stride N [--retained K] [--retained-dir NAME] cuts the log into retained bundles
 * blocks/<retained>/blocks-<first>-<last>.log/.index as nodeos's blocks-log-stride would have, the oldest beyond K
 * in blocks/archive/; --pruned N makes a pruned log (block-log-retain-blocks); --state-history writes
 * state-history/{chain_state_history,trace_history}.{log,index}. config.ini gets the matching keys.
 *
 * "mutate" makes the data-dir look like a node that ran for a while: it appends blocks (continuing the numbering
 * found in the log, and extending the index) and rewrites a percentage of the 4 KiB pages of the state file's data
 * region, found with SEEK_DATA/SEEK_HOLE, without ever writing into a hole.
 *
 * SIZE takes binary suffixes K, M, G, T.  Errors print "mkdatadir: <path>: <reason>" and exit 1; usage errors exit 2.
 */
#include <dirent.h>
#include <linux/falloc.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define PROG "mkdatadir"

#define KIB ((uint64_t)1 << 10)
#define MIB ((uint64_t)1 << 20)

#define OUTBUF_SIZE  (8 * MIB)   /* write() granularity */
#define BLOCK_MAX    (64 * KIB)  /* generous upper bound of one generated block entry */
#define RECORD_MAX   (4 * KIB)   /* upper bound of one generated state record */
#define STATE_HEADER 1024        /* chainbase header size; the segment manager starts here */
#define PAGE         4096        /* page size used by mutate */
#define GENESIS_SLOT 1262304000U /* block_timestamp slot of the fixture's genesis, 2020-01-01T00:00:00 */
#define EPOCH_2000   946684800U  /* block_timestamp epoch, in unix seconds */
#define FORKDB_MAGIC 0x30510FDBU

/* Packed genesis_state of tests/fixtures/nodeos-1.8/blocks.log: bytes 8 .. 0x75 (the totem follows at 0x76). */
static const uint8_t genesis_state[110] = {
    0x00, 0x40, 0xfa, 0xc1, 0x08, 0x9b, 0x05, 0x00, 0x00, 0x02, 0x40, 0xe5, 0x4a, 0x7b, 0x27, 0xe0, 0x42, 0xb8, 0x0a,
    0x81, 0x01, 0x53, 0xbe, 0xc1, 0xdd, 0x16, 0x6e, 0xef, 0x95, 0xfa, 0x69, 0xf6, 0xc9, 0x88, 0x6a, 0xe2, 0x83, 0x36,
    0x3b, 0xc2, 0xad, 0xd8, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe8, 0x03, 0x00, 0x00, 0x00, 0x00, 0x08,
    0x00, 0x0c, 0x00, 0x00, 0x00, 0xf4, 0x01, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0x40, 0x0d,
    0x03, 0x00, 0xe8, 0x03, 0x00, 0x00, 0xf0, 0x49, 0x02, 0x00, 0x64, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0x00, 0x58,
    0x02, 0x00, 0x00, 0x80, 0x53, 0x3b, 0x00, 0x00, 0x10, 0x00, 0x00, 0x04, 0x00, 0x06, 0x00,
};

/* ---------------------------------------------------------------------------------------------------------------- */
/* errors */

static void die(const char *path, const char *reason)
{
    fprintf(stderr, PROG ": %s: %s\n", path, reason);
    exit(1);
}

static void die_errno(const char *path)
{
    die(path, strerror(errno));
}

static const char help_text[] =
    "usage: " PROG " create DIR [--blocks-size SIZE] [--state-size SIZE] [--state-data SIZE] [--seed N]\n"
    "                  [--stride N [--retained K] [--retained-dir NAME]] [--pruned N] [--state-history]\n"
    "       " PROG " mutate DIR [--append-pct P] [--rewrite-pct P] [--seed N]\n"
    "       " PROG " --help\n"
    "\n"
    "Makes a data-dir that looks like a stopped nodeos (Leap 5) node's on disk, for trying slotkeeper\n"
    "and for its tests. It is not a chain nodeos can run: the blocks are synthetic.\n"
    "\n"
    "create DIR   writes DIR/blocks/blocks.log (version 3, from block 1, the genesis state of the\n"
    "             nodeos 1.8 fixture), DIR/blocks/blocks.index, DIR/blocks/reversible/fork_db.dat,\n"
    "             a sparse DIR/state/shared_memory.bin with a clean chainbase header (dirty flag 0,\n"
    "             at byte 8), DIR/config.ini and DIR/genesis.json. DIR must be missing or empty;\n"
    "             missing parent folders are created.\n"
    "  --blocks-size SIZE  about how many bytes of blocks to write to blocks.log (default 16M)\n"
    "  --state-size SIZE   the size of shared_memory.bin, a multiple of 1M (default 64M)\n"
    "  --state-data SIZE   how much of it holds data after the 1 KiB header; the rest is a hole\n"
    "                      (default 8M)\n"
    "  --stride N          a strided block log (blocks-log-stride = N): blocks 1..N, N+1..2N, ... in\n"
    "                      DIR/blocks/retained/blocks-<first>-<last>.log and .index, the rest in\n"
    "                      blocks.log (version 3, the chain id, first block after the last bundle)\n"
    "  --retained K        max-retained-block-files = K: only the K newest bundles stay retained, the\n"
    "                      older ones are in DIR/blocks/archive/ (blocks-archive-dir = archive)\n"
    "  --retained-dir NAME the retained folder under blocks/ (default retained)\n"
    "  --pruned N          a pruned log (block-log-retain-blocks = N): version bit 31, a hole up to\n"
    "                      the first of the last N blocks, a trailing u32 block count\n"
    "  --state-history     DIR/state-history/chain_state_history.log and .index (blocks 1..last) and\n"
    "                      trace_history.log and .index (blocks 2..last), as the state_history_plugin\n"
    "                      writes them; config.ini gets the matching keys\n"
    "mutate DIR   makes DIR look like the same node after it ran a while: appends blocks to the\n"
    "             log and index (and their entries to the state-history logs), and rewrites some\n"
    "             4 KiB pages of the state's data, never a hole. It never splits a strided log.\n"
    "  --append-pct P      grow blocks.log by P percent (default 1)\n"
    "  --rewrite-pct P     rewrite P percent of the state's data pages, at most 100 (default 1)\n"
    "--seed N     the generator's seed (default 1 for create, 2 for mutate): the same seed gives\n"
    "             the same bytes.\n"
    "\n"
    "SIZE takes the binary suffixes K, M, G, T (KiB, MiB also read). Prints one line saying what it\n"
    "wrote. Errors print \"" PROG ": PATH: REASON\" and exit 1; usage errors exit 2.\n"
    "\n"
    "Example:\n"
    "  " PROG " create /tmp/sk/node --blocks-size 64M --state-size 256M --state-data 32M\n"
    "  " PROG " mutate /tmp/sk/node --append-pct 2 --rewrite-pct 5\n";

static void usage(const char *msg)
{
    if (msg)
        fprintf(stderr, PROG ": %s\n", msg);
    fprintf(stderr,
            "usage: " PROG " create DIR [--blocks-size SIZE] [--state-size SIZE] [--state-data SIZE] [--seed N]\n"
            "                  [--stride N [--retained K] [--retained-dir NAME]] [--pruned N] [--state-history]\n"
            "       " PROG " mutate DIR [--append-pct P] [--rewrite-pct P] [--seed N]\n"
            "       " PROG " --help\n");
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        die("malloc", strerror(ENOMEM));
    return p;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* file helpers */

static void write_all(int fd, const void *buf, size_t len, const char *path)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die_errno(path);
        }
        p += n;
        len -= (size_t)n;
    }
}

static void pwrite_all(int fd, const void *buf, size_t len, off_t off, const char *path)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die_errno(path);
        }
        p += n;
        len -= (size_t)n;
        off += n;
    }
}

static void pread_all(int fd, void *buf, size_t len, off_t off, const char *path)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die_errno(path);
        }
        if (n == 0)
            die(path, "unexpected end of file");
        p += n;
        len -= (size_t)n;
        off += n;
    }
}

static void xclose(int fd, const char *path)
{
    if (close(fd) < 0)
        die_errno(path);
}

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *s = xmalloc(n);
    snprintf(s, n, "%s/%s", dir, name);
    return s;
}

static int create_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        die_errno(path);
    return fd;
}

static void make_dir(const char *path)
{
    if (mkdir(path, 0755) < 0)
        die_errno(path);
}

/* Buffered sequential writer: collects generated bytes and hands them to write() in OUTBUF_SIZE pieces. */
struct out {
    int fd;
    const char *path;
    uint8_t *buf;
    size_t len;
    uint64_t off; /* file offset of buf[0] */
};

static void out_init(struct out *o, int fd, const char *path, uint64_t off)
{
    o->fd = fd;
    o->path = path;
    o->buf = xmalloc(OUTBUF_SIZE + BLOCK_MAX);
    o->len = 0;
    o->off = off;
}

static void out_flush(struct out *o)
{
    write_all(o->fd, o->buf, o->len, o->path);
    o->off += o->len;
    o->len = 0;
}

/* Make sure at least `need` bytes can be appended at o->buf + o->len. */
static void out_reserve(struct out *o, size_t need)
{
    if (o->len + need > OUTBUF_SIZE + BLOCK_MAX)
        out_flush(o);
}

static uint64_t out_pos(const struct out *o)
{
    return o->off + o->len;
}

static void out_done(struct out *o)
{
    out_flush(o);
    free(o->buf);
    xclose(o->fd, o->path);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* pseudo-random numbers: splitmix64, fast and deterministic */

struct rng {
    uint64_t s;
};

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rnd(struct rng *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    return mix64(r->s);
}

/* Uniform-enough value in [0, n), n < 2^32. */
static inline uint32_t below(struct rng *r, uint32_t n)
{
    return (uint32_t)(((rnd(r) >> 32) * n) >> 32);
}

static inline uint32_t range(struct rng *r, uint32_t lo, uint32_t hi)
{
    return lo + below(r, hi - lo + 1);
}

static uint8_t *rand_bytes(struct rng *r, uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint64_t v = rnd(r);
        memcpy(p, &v, 8);
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = rnd(r);
        memcpy(p, &v, n);
        p += n;
    }
    return p;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* fc::raw packing */

static inline uint8_t *put8(uint8_t *p, uint8_t v)
{
    *p = v;
    return p + 1;
}

static inline uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

static inline uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
    return p + 4;
}

static inline uint8_t *put64(uint8_t *p, uint64_t v)
{
    p = put32(p, (uint32_t)v);
    return put32(p, (uint32_t)(v >> 32));
}

static inline uint8_t *putbe32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

/* fc::unsigned_int: LEB128 */
static inline uint8_t *putvar(uint8_t *p, uint32_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint8_t *putzero(uint8_t *p, size_t n)
{
    memset(p, 0, n);
    return p + n;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint32_t getbe32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* eosio::name from its string form (same algorithm as eosio::string_to_name) */
static uint64_t name_of(const char *s)
{
    uint64_t n = 0;
    int i;
    for (i = 0; s[i] && i < 13; i++) {
        char c = s[i];
        uint64_t v = 0;
        if (c >= 'a' && c <= 'z')
            v = (uint64_t)(c - 'a') + 6;
        else if (c >= '1' && c <= '5')
            v = (uint64_t)(c - '1') + 1;
        if (i < 12)
            n |= (v & 0x1f) << (64 - 5 * (i + 1));
        else
            n |= v & 0x0f;
    }
    return n;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* dictionaries */

static const char *const producer_names[21] = {
    "eosnationftw", "eoshuobipool", "binancestake", "bitfinexeos1", "eosasia11111", "atticlabeosb", "newdex.bp",
    "eoscannonchn", "starteosiobp", "hashfineosio", "eosinfstones", "whaleex.com",  "okcapitalbp1", "eosiosg11111",
    "big.one",      "eoslaomaocom", "zbeosbp11111", "eos42freedom", "truststaking", "eosphereiobp", "blockpooleos",
};

static const char *const hot_names[] = {
    "eosio",        "eosio.token",  "eosio.ram",    "eosio.stake",  "binancecleos", "huobideposit", "okbtothemoon",
    "gateiowallet", "eosbetdice11", "betdicegroup", "pptqipaelyog", "whaleextrust", "newdexpocket", "defisswapcnt",
    "tethertether", "eosiotptoken", "eidosonecoin", "mykeypostman", "dfsfarmsmine", "eosdaqoperat",
};
#define NHOT (sizeof hot_names / sizeof hot_names[0])

/* clang-format off */
static const char *const memo_words[] = {
    "deposit", "withdraw", "swap", "reward", "mining", "airdrop", "stake", "unstake", "payment", "refund", "bet",
    "win", "lose", "dice", "roll", "under", "over", "seed", "claim", "transfer", "from", "to", "for", "the", "your",
    "order", "buy", "sell", "limit", "market", "pool", "liquidity", "token", "fee", "daily", "bonus", "invite", "ref",
    "game", "round", "ticket", "lucky", "vote", "proxy", "producer", "resource", "cpu", "net", "ram", "rent",
    "exchange", "eos", "usdt", "box", "dfs", "tpt", "newdex", "defibox", "thanks", "ok", "EOS", "USDT",
    "https://eosnation.io", "https://bloks.io",
};
/* clang-format on */
#define NWORDS (sizeof memo_words / sizeof memo_words[0])

struct symbol {
    const char *code;
    uint8_t precision;
};

static const struct symbol symbols[] = {
    {"EOS", 4}, {"EOS", 4}, {"EOS", 4}, {"USDT", 4}, {"BOX", 6}, {"DFS", 4}, {"TPT", 4}, {"DICE", 4}, {"EIDOS", 4},
};
#define NSYMBOLS (sizeof symbols / sizeof symbols[0])

enum { A_TRANSFER, A_BUYRAM, A_DELEGATE, A_VOTE, A_GENERIC };

struct action_kind {
    const char *account;
    const char *name;
    int kind;
    int weight;
};

static const struct action_kind action_kinds[] = {
    {"eosio.token", "transfer", A_TRANSFER, 30}, {"tethertether", "transfer", A_TRANSFER, 8},
    {"eidosonecoin", "transfer", A_TRANSFER, 6}, {"eosio", "buyrambytes", A_BUYRAM, 5},
    {"eosio", "delegatebw", A_DELEGATE, 5},      {"eosio", "undelegatebw", A_DELEGATE, 2},
    {"eosio", "voteproducer", A_VOTE, 3},        {"betdicegroup", "bet", A_GENERIC, 8},
    {"pptqipaelyog", "mine", A_GENERIC, 10},     {"defisswapcnt", "swap", A_GENERIC, 6},
    {"dfsfarmsmine", "claim", A_GENERIC, 4},     {"mykeypostman", "sendmsg", A_GENERIC, 3},
    {"eosdaqoperat", "order", A_GENERIC, 5},     {"whaleextrust", "settle", A_GENERIC, 5},
};
#define NACTIONS (sizeof action_kinds / sizeof action_kinds[0])

#define NPOOL 4096 /* ordinary user accounts */

struct dict {
    uint64_t producers[21];
    uint64_t hot[NHOT];
    uint64_t pool[NPOOL];
    uint64_t sym[NSYMBOLS];
    uint64_t act_account[NACTIONS];
    uint64_t act_name[NACTIONS];
    int act_total;
    uint64_t active, owner;
    uint8_t word_len[NWORDS];
};

static struct dict D;

/* The dictionaries do not depend on --seed, so that create and mutate talk about the same accounts. */
static void dict_init(void)
{
    struct rng r = {0x6e616d6573ULL};
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz12345";
    for (int i = 0; i < 21; i++)
        D.producers[i] = name_of(producer_names[i]);
    for (size_t i = 0; i < NHOT; i++)
        D.hot[i] = name_of(hot_names[i]);
    for (int i = 0; i < NPOOL; i++) {
        char s[13];
        for (int j = 0; j < 12; j++)
            s[j] = j < 8 ? alphabet[below(&r, 26)] : alphabet[below(&r, 31)];
        s[12] = 0;
        D.pool[i] = name_of(s);
    }
    for (size_t i = 0; i < NSYMBOLS; i++) {
        uint64_t v = symbols[i].precision;
        for (int j = 0; symbols[i].code[j]; j++)
            v |= (uint64_t)(uint8_t)symbols[i].code[j] << (8 * (j + 1));
        D.sym[i] = v;
    }
    D.act_total = 0;
    for (size_t i = 0; i < NACTIONS; i++) {
        D.act_account[i] = name_of(action_kinds[i].account);
        D.act_name[i] = name_of(action_kinds[i].name);
        D.act_total += action_kinds[i].weight;
    }
    D.active = name_of("active");
    D.owner = name_of("owner");
    for (size_t i = 0; i < NWORDS; i++)
        D.word_len[i] = (uint8_t)strlen(memo_words[i]);
}

/* A user account: mostly the skewed pool (a few accounts are very busy), sometimes a well-known one. */
static uint64_t pick_account(struct rng *r)
{
    if (below(r, 100) < 35)
        return D.hot[below(r, NHOT)];
    return D.pool[below(r, below(r, NPOOL) + 1)];
}

/* A token amount: spread over many orders of magnitude, like real transfers. */
static uint64_t pick_amount(struct rng *r)
{
    static const uint64_t pow10[] = {10ULL,      100ULL,      1000ULL,      10000ULL,     100000ULL,
                                     1000000ULL, 10000000ULL, 100000000ULL, 1000000000ULL};
    uint64_t m = pow10[below(r, 9)];
    if (below(r, 2))
        return range(r, 1, 99) * (m / 10); /* round amounts: 5.0000 EOS, 120.0000 USDT */
    return rnd(r) % m + 1;
}

static uint8_t *put_asset(struct rng *r, uint8_t *p)
{
    p = put64(p, pick_amount(r));
    return put64(p, D.sym[below(r, NSYMBOLS)]);
}

/* Memo text of at most max bytes: words, numbers (exchange deposit ids) or nothing. */
static uint8_t *put_memo(struct rng *r, uint8_t *p, uint32_t max)
{
    uint8_t text[256];
    uint32_t n = 0, want = below(r, 4) == 0 ? 0 : range(r, 4, 90);
    if (want > max)
        want = max;
    if (want && below(r, 4) == 0) {
        uint32_t digits = range(r, 6, 10);
        for (uint32_t i = 0; i < digits && n < want; i++)
            text[n++] = (uint8_t)('0' + below(r, 10));
    }
    while (n < want) {
        uint32_t w = below(r, NWORDS);
        uint32_t l = D.word_len[w];
        if (n + l + 1 > want)
            break;
        if (n)
            text[n++] = ' ';
        memcpy(text + n, memo_words[w], l);
        n += l;
    }
    p = putvar(p, n);
    memcpy(p, text, n);
    return p + n;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* blocks */

#define NTEMPLATES 32 /* recent transactions that bots send again with small changes */

struct trx_template {
    uint16_t len;      /* packed transaction length, 0 if unused */
    uint16_t data_off; /* where the last action's data starts */
    uint16_t data_len;
    uint8_t trx[1024];
};

struct chain {
    struct rng r;
    uint64_t seed;
    uint32_t num;     /* number of the next block */
    uint32_t slot;    /* its block_timestamp */
    uint8_t *data_at; /* set by put_action: its data */
    uint32_t data_len;
    struct trx_template *tpl; /* NTEMPLATES */
};

static void chain_init(struct chain *c, uint64_t rng_seed, uint64_t chain_seed, uint32_t num, uint32_t slot)
{
    memset(c, 0, sizeof *c);
    c->r.s = rng_seed;
    c->seed = chain_seed;
    c->num = num;
    c->slot = slot;
    c->tpl = calloc(NTEMPLATES, sizeof *c->tpl);
    if (!c->tpl)
        die("calloc", strerror(ENOMEM));
}

/* action data of exactly `len` bytes for contracts we do not model: names, numbers, assets, short strings, zeros */
static uint8_t *put_generic_data(struct rng *r, uint8_t *p, uint32_t len)
{
    uint8_t tmp[512];
    uint8_t *q = tmp;
    while ((uint32_t)(q - tmp) < len) {
        switch (below(r, 6)) {
        case 0:
        case 1:
            q = put64(q, pick_account(r));
            break;
        case 2:
            q = put64(q, pick_amount(r));
            break;
        case 3:
            q = put_asset(r, q);
            break;
        case 4:
            q = put_memo(r, q, 40);
            break;
        default:
            q = put32(q, below(r, 1000));
            q = putzero(q, below(r, 8));
            break;
        }
    }
    memcpy(p, tmp, len);
    return p + len;
}

static uint8_t *put_action(struct chain *c, uint8_t *p)
{
    struct rng *r = &c->r;
    int w = (int)below(r, (uint32_t)D.act_total);
    size_t k = 0;
    while (w >= action_kinds[k].weight) {
        w -= action_kinds[k].weight;
        k++;
    }
    uint64_t actor = pick_account(r);
    p = put64(p, D.act_account[k]);
    p = put64(p, D.act_name[k]);

    uint32_t nauth = below(r, 5) == 0 ? 2 : 1;
    p = putvar(p, nauth);
    p = put64(p, actor);
    p = put64(p, below(r, 20) == 0 ? D.owner : D.active);
    if (nauth == 2) {
        p = put64(p, D.hot[below(r, NHOT)]);
        p = put64(p, D.active);
    }

    uint8_t data[256];
    uint8_t *q = data;
    switch (action_kinds[k].kind) {
    case A_TRANSFER:
        q = put64(q, actor);
        q = put64(q, pick_account(r));
        q = put_asset(r, q);
        q = put_memo(r, q, 160);
        break;
    case A_BUYRAM:
        q = put64(q, actor);
        q = put64(q, below(r, 2) ? actor : pick_account(r));
        q = put32(q, range(r, 1, 64) * 1024);
        break;
    case A_DELEGATE:
        q = put64(q, actor);
        q = put64(q, below(r, 2) ? actor : pick_account(r));
        q = put_asset(r, q);
        q = put_asset(r, q);
        q = put8(q, (uint8_t)below(r, 2));
        break;
    case A_VOTE: {
        uint32_t n = range(r, 1, 21);
        q = put64(q, actor);
        q = put64(q, 0);
        q = putvar(q, n);
        for (uint32_t i = 0; i < n; i++)
            q = put64(q, D.producers[(i * 5 + below(r, 3)) % 21]);
        break;
    }
    default:
        q = put_generic_data(r, q, range(r, 20, 200));
        break;
    }
    uint32_t dlen = (uint32_t)(q - data);
    if (dlen < 20) { /* keep every action's data within 20..200 bytes */
        memset(q, 0, 20 - dlen);
        dlen = 20;
    }
    p = putvar(p, dlen);
    memcpy(p, data, dlen);
    c->data_at = p;
    c->data_len = dlen;
    return p + dlen;
}

/* one transaction_receipt: header, then a packed_transaction (or, rarely, only a transaction id) */
static uint8_t *put_receipt(struct chain *c, uint8_t *p)
{
    struct rng *r = &c->r;
    uint32_t cpu = range(r, 100, 2500);

    if (below(r, 40) == 0) { /* deferred / delayed transaction: receipt carries only the id */
        p = put8(p, below(r, 2) ? 0 : 3);
        p = put32(p, cpu);
        p = putvar(p, range(r, 12, 40));
        p = putvar(p, 0);
        return rand_bytes(r, p, 32);
    }

    uint8_t buf[1024], *trx = buf;
    uint32_t tlen, ref = c->num - 1 - below(r, 3);
    struct trx_template *t = &c->tpl[below(r, NTEMPLATES)];
    if (t->len && below(r, 100) < 60) {
        /* a bot repeating a recent transaction: same actions, a few bytes of the last action's data changed */
        trx = t->trx;
        tlen = t->len;
        for (uint32_t i = range(r, 1, 4); i > 0; i--)
            trx[t->data_off + below(r, t->data_len)] = (uint8_t)rnd(r);
    } else {
        uint8_t *q = trx + 10;
        q = putvar(q, 0); /* max_net_usage_words */
        q = put8(q, 0);   /* max_cpu_usage_ms */
        q = putvar(q, 0); /* delay_sec */
        q = putvar(q, 0); /* context_free_actions */
        uint32_t nact = below(r, 10) < 5 ? 1 : range(r, 2, 3);
        q = putvar(q, nact);
        for (uint32_t i = 0; i < nact; i++)
            q = put_action(c, q);
        q = putvar(q, 0); /* transaction_extensions */
        tlen = (uint32_t)(q - trx);
        if (below(r, 4) == 0) {
            memcpy(t->trx, trx, tlen);
            t->len = (uint16_t)tlen;
            t->data_off = (uint16_t)(c->data_at - trx);
            t->data_len = (uint16_t)c->data_len;
        }
    }
    put32(trx, c->slot / 2 + EPOCH_2000 + range(r, 30, 300)); /* expiration */
    put16(trx + 4, (uint16_t)ref);                            /* ref_block_num */
    put32(trx + 6, (uint32_t)mix64(c->seed ^ ref));           /* ref_block_prefix, fixed per referenced block */

    p = put8(p, below(r, 100) == 0 ? 1 : 0); /* status: executed, rarely soft_fail */
    p = put32(p, cpu);
    p = putvar(p, (tlen + 66 + 4 + 7) / 8); /* net_usage_words */
    p = putvar(p, 1);                       /* variant: packed_transaction */
    p = putvar(p, 1);                       /* signatures */
    p = put8(p, 0);                         /* K1 */
    p = rand_bytes(r, p, 65);
    p = put8(p, 0);   /* compression: none */
    p = putvar(p, 0); /* packed_context_free_data */
    p = putvar(p, tlen);
    memcpy(p, trx, tlen);
    return p + tlen;
}

/* One blocks.log entry: packed signed_block of block c->num followed by the u64 entry offset `off`. */
static size_t put_block(struct chain *c, uint8_t *start, uint64_t off)
{
    struct rng *r = &c->r;
    uint8_t *p = start;
    uint32_t ntrx = below(r, 31);

    p = put32(p, c->slot);
    p = put64(p, D.producers[(c->num / 12) % 21]);
    p = put16(p, 0);            /* confirmed */
    p = putbe32(p, c->num - 1); /* previous id starts with the previous block number */
    p = rand_bytes(r, p, 28);
    if (ntrx)
        p = rand_bytes(r, p, 32); /* transaction_mroot */
    else
        p = putzero(p, 32);             /* no transactions: zero transaction_mroot */
    p = rand_bytes(r, p, 32);           /* action_mroot (never empty: there is always onblock) */
    p = put32(p, 1 + c->num / 2000000); /* schedule_version */
    p = put8(p, 0);                     /* new_producers: none */
    p = putvar(p, 0);                   /* header_extensions */
    p = put8(p, 0);                     /* producer_signature: K1 */
    p = rand_bytes(r, p, 65);
    p = putvar(p, ntrx);
    for (uint32_t i = 0; i < ntrx; i++)
        p = put_receipt(c, p);
    p = putvar(p, 0); /* block_extensions */
    p = put64(p, off);
    c->num++;
    c->slot++;
    return (size_t)(p - start);
}

/* Append blocks to log (positioned at its end) until it reaches target bytes; always at least one block. */
static uint32_t append_blocks(struct chain *c, struct out *log, struct out *idx, uint64_t target)
{
    uint32_t n = 0;
    while (n == 0 || out_pos(log) < target) {
        uint64_t off = out_pos(log);
        out_reserve(log, BLOCK_MAX);
        out_reserve(idx, 8);
        log->len += put_block(c, log->buf + log->len, off);
        put64(idx->buf + idx->len, off);
        idx->len += 8;
        n++;
    }
    return n;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* state records */

/* Record-like content shaped after chainbase objects in a boost interprocess segment: allocator block headers,
 * rb-tree node links (small relative offsets), then object fields.  Writes whole records; returns bytes written,
 * which is at least `need` and at most need + RECORD_MAX. */
static size_t put_records(struct rng *r, uint8_t *start, size_t need, uint64_t *next_id)
{
    uint8_t *p = start;
    while ((size_t)(p - start) < need) {
        uint8_t *rec = p;
        uint32_t kind = below(r, 100);

        if (kind < 4) { /* free space or padding */
            p = putzero(p, 16 * range(r, 1, 32));
            continue;
        }
        p += 16; /* block_ctrl: m_prev_size, m_size, filled in below */
        uint32_t nidx = range(r, 2, 3);
        for (uint32_t i = 0; i < nidx * 3; i++) {
            int64_t rel = (int64_t)below(r, 1 << 20) * 16 - (1 << 19) * 16;
            if (below(r, 8) == 0)
                rel = 0;
            p = put64(p, (uint64_t)rel | (i % 3 == 0 ? below(r, 2) : 0));
        }
        p = put64(p, (*next_id)++);

        if (kind < 60) {                  /* key_value_object: a contract table row */
            p = put64(p, below(r, 5000)); /* t_id */
            p = put64(p, below(r, 2) ? pick_account(r) : below(r, 100000));
            p = put64(p, pick_account(r)); /* payer */
            switch (below(r, 3)) {
            case 0: /* accounts row: balance */
                p = put32(p, 16);
                p = put_asset(r, p);
                break;
            case 1: { /* a row with some owner, amounts and a string */
                uint8_t *len = p;
                p += 4;
                uint8_t *row = p;
                p = put64(p, pick_account(r));
                p = put_asset(r, p);
                p = put64(p, (uint64_t)(GENESIS_SLOT + below(r, 1 << 26)) * 500000ULL);
                p = put_memo(r, p, 60);
                put32(len, (uint32_t)(p - row));
                break;
            }
            default: { /* opaque contract data */
                uint32_t n = range(r, 8, 96);
                p = put32(p, n);
                p = put_generic_data(r, p, n);
                break;
            }
            }
        } else if (kind < 70) { /* table_id_object */
            p = put64(p, D.act_account[below(r, NACTIONS)]);
            p = put64(p, pick_account(r));
            p = put64(p, name_of(below(r, 2) ? "accounts" : "stat"));
            p = put64(p, pick_account(r));
            p = put32(p, below(r, 1000));
        } else if (kind < 78) { /* account_object / account_metadata_object */
            p = put64(p, pick_account(r));
            p = put32(p, GENESIS_SLOT + below(r, 1 << 26));
            p = put64(p, below(r, 1000000));
            p = put64(p, below(r, 1000));
            p = put64(p, below(r, 10));
            if (below(r, 10) == 0)
                p = rand_bytes(r, p, 32); /* code_hash */
            else
                p = putzero(p, 32);
            if (below(r, 20) == 0) { /* abi: type and field names */
                uint32_t n = range(r, 100, 1500);
                p = put32(p, n);
                uint8_t *abi = p;
                while ((uint32_t)(p - abi) < n) {
                    uint32_t w = below(r, NWORDS);
                    p = putvar(p, D.word_len[w]);
                    memcpy(p, memo_words[w], D.word_len[w]);
                    p += D.word_len[w];
                }
            } else {
                p = put32(p, 0);
            }
        } else if (kind < 86) { /* permission_object with one key */
            p = put64(p, (*next_id) * 3);
            p = put64(p, below(r, 4) ? (*next_id) - 1 : 0);
            p = put64(p, pick_account(r));
            p = put64(p, below(r, 2) ? D.active : D.owner);
            p = put64(p, (uint64_t)(GENESIS_SLOT + below(r, 1 << 26)) * 500000ULL);
            p = put32(p, 1);
            p = putvar(p, 1);
            p = put8(p, 0);
            p = put8(p, (uint8_t)(2 + below(r, 2)));
            p = rand_bytes(r, p, 32);
            p = put16(p, 1);
            p = putvar(p, 0);
            p = putvar(p, 0);
        } else { /* resource_limits_object / resource_usage_object */
            p = put64(p, pick_account(r));
            p = put8(p, 0);
            p = put64(p, pick_amount(r));
            p = put64(p, pick_amount(r));
            p = put64(p, 2996 + below(r, 8192) * 16);
            p = put64(p, below(r, 100000));
            p = put32(p, GENESIS_SLOT + below(r, 1 << 26));
        }
        /* pad to 16 and fill in the allocator header */
        size_t len = (size_t)(p - rec);
        size_t pad = (16 - len % 16) % 16;
        p = putzero(p, pad);
        len += pad;
        put64(rec, below(r, 4) ? 0 : 16 * range(r, 2, 40));
        put64(rec + 8, (len / 16) << 1 | 1);
    }
    return (size_t)(p - start);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* layouts: a strided block log with retained and archived bundles, a pruned block log, state history.
 * Formats and rules from AntelopeIO/leap v4.0.6 (snapshot/layouts.c cites the files): split_log makes
 * <retained>/blocks-<first>-<last>.log/.index each time the head is a multiple of the stride, the new
 * blocks.log has version 3, the chain id and first_block_num = head + 1; beyond max-retained-block-files the
 * oldest bundles move to the archive folder; a pruned log has bit 31 in its version, a hole from the first file
 * system block after the largest possible preamble (122 bytes) up to the first kept block, and a trailing u32
 * block count; a state-history entry is a 48-byte header (u64 magic "ship" v0, the block id with the big-endian
 * block number first, u64 payload size), the payload and its own offset (u64). */

/* SHA-256 of genesis_state above: the chain id a version 3 preamble holds when it does not start at block 1. */
static const uint8_t chain_id_bytes[32] = {
    0x90, 0xd8, 0xc7, 0x43, 0x60, 0x17, 0x00, 0x1e, 0x64, 0x89, 0x1e, 0x8b, 0x6b, 0x7e, 0xb0, 0x06,
    0x0b, 0xae, 0xb3, 0x50, 0x04, 0x8e, 0xb5, 0x2d, 0x2c, 0xdb, 0x59, 0x4f, 0xdb, 0xc2, 0x61, 0x7d,
};

#define SHIP_MAGIC   0xc35d500000000000ULL /* "ship"_n.to_uint64_t() | version 0 */
#define PREAMBLE_MAX 122                   /* punch_hole_block_log::prune: max(4 + 110 + 8, 48) */

struct layouts {
    uint32_t stride;   /* 0: one blocks.log */
    uint32_t retained; /* 0: keep every bundle in the retained folder */
    const char *retained_dir;
    uint32_t pruned; /* 0: not pruned */
    int state_history;
};

static size_t put_preamble(uint8_t *buf, uint32_t first)
{
    uint8_t *p = put32(buf, 3);
    p = put32(p, first);
    if (first == 1) {
        memcpy(p, genesis_state, sizeof genesis_state);
        p += sizeof genesis_state;
    } else {
        memcpy(p, chain_id_bytes, 32);
        p += 32;
    }
    p = put64(p, UINT64_MAX);
    return (size_t)(p - buf);
}

/* Writes blocks a..b of the source log (entry offsets offs[], block n at offs[n - 1]; src_end: the log's size)
 * as a log and index of their own, each entry's trailing self-offset rewritten. */
static void write_bundle(int src, const char *src_path, const uint64_t *offs, uint32_t nblocks, uint64_t src_end,
                         uint32_t a, uint32_t b, const char *log_path, const char *idx_path)
{
    struct out log, idx;
    out_init(&log, create_file(log_path), log_path, 0);
    out_init(&idx, create_file(idx_path), idx_path, 0);
    log.len = put_preamble(log.buf, a);
    for (uint32_t n = a; n <= b; n++) {
        uint64_t from = offs[n - 1], to = n < nblocks ? offs[n] : src_end;
        if (to - from > BLOCK_MAX || to - from < 26)
            die(src_path, "an entry of unexpected size");
        out_reserve(&log, BLOCK_MAX);
        out_reserve(&idx, 8);
        uint64_t at = out_pos(&log);
        pread_all(src, log.buf + log.len, (size_t)(to - from), (off_t)from, src_path);
        put64(log.buf + log.len + (to - from) - 8, at);
        log.len += (size_t)(to - from);
        put64(idx.buf + idx.len, at);
        idx.len += 8;
    }
    out_done(&log);
    out_done(&idx);
}

static uint64_t *read_index(const char *idx_path, uint32_t nblocks)
{
    uint64_t *offs = xmalloc((size_t)nblocks * 8 + 8);
    int fd = open(idx_path, O_RDONLY);
    if (fd < 0)
        die_errno(idx_path);
    uint8_t *raw = xmalloc((size_t)nblocks * 8 + 8);
    pread_all(fd, raw, (size_t)nblocks * 8, 0, idx_path);
    for (uint32_t i = 0; i < nblocks; i++)
        offs[i] = get64(raw + (size_t)i * 8);
    free(raw);
    xclose(fd, idx_path);
    return offs;
}

/* Cuts blocks 1..nblocks of DIR/blocks/blocks.log into strides as nodeos would have while making them. */
static void make_strided(const char *dir, uint32_t nblocks, const struct layouts *L, unsigned *nretained,
                         unsigned *narchived)
{
    char *blocks = path_join(dir, "blocks");
    char *log_path = path_join(blocks, "blocks.log"), *idx_path = path_join(blocks, "blocks.index");
    char *ret = path_join(blocks, L->retained_dir), *arc = path_join(blocks, "archive");
    uint64_t *offs = read_index(idx_path, nblocks);
    int src = open(log_path, O_RDONLY);
    if (src < 0)
        die_errno(log_path);
    struct stat st;
    if (fstat(src, &st) < 0)
        die_errno(log_path);
    uint32_t full = nblocks / L->stride; /* bundles nodeos would have split off */
    uint32_t keep_from = L->retained && full > L->retained ? full - L->retained : 0;
    make_dir(ret);
    if (keep_from)
        make_dir(arc);
    *nretained = *narchived = 0;
    for (uint32_t k = 0; k < full; k++) {
        uint32_t a = k * L->stride + 1, b = (k + 1) * L->stride;
        char name[64];
        snprintf(name, sizeof name, "blocks-%u-%u", a, b);
        char *base = path_join(k < keep_from ? arc : ret, name);
        size_t bl = strlen(base);
        char *lp = xmalloc(bl + 8), *ip = xmalloc(bl + 8);
        snprintf(lp, bl + 8, "%s.log", base);
        snprintf(ip, bl + 8, "%s.index", base);
        write_bundle(src, log_path, offs, nblocks, (uint64_t)st.st_size, a, b, lp, ip);
        (k < keep_from ? (*narchived)++ : (*nretained)++);
        free(base);
        free(lp);
        free(ip);
    }
    /* the head's log: what is left after the last stride (only a preamble when nothing is) */
    char *tl = path_join(blocks, "blocks.log.tmp"), *ti = path_join(blocks, "blocks.index.tmp");
    uint32_t first = full * L->stride + 1;
    if (first <= nblocks) {
        write_bundle(src, log_path, offs, nblocks, (uint64_t)st.st_size, first, nblocks, tl, ti);
    } else {
        uint8_t pre[64];
        int fd = create_file(tl);
        write_all(fd, pre, put_preamble(pre, first), tl);
        xclose(fd, tl);
        xclose(create_file(ti), ti);
    }
    xclose(src, log_path);
    if (rename(tl, log_path) < 0)
        die_errno(log_path);
    if (rename(ti, idx_path) < 0)
        die_errno(idx_path);
    free(offs);
    free(tl);
    free(ti);
    free(blocks);
    free(log_path);
    free(idx_path);
    free(ret);
    free(arc);
}

/* Turns DIR/blocks/blocks.log into a pruned log that keeps its last `keep` blocks. */
static void make_pruned(const char *dir, uint32_t nblocks, uint32_t keep)
{
    char *log_path = path_join(dir, "blocks/blocks.log"), *idx_path = path_join(dir, "blocks/blocks.index");
    if (keep > nblocks)
        keep = nblocks;
    uint64_t *offs = read_index(idx_path, nblocks);
    int fd = open(log_path, O_RDWR);
    if (fd < 0)
        die_errno(log_path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        die_errno(log_path);
    uint64_t blk = (uint64_t)st.st_blksize ? (uint64_t)st.st_blksize : 4096;
    uint64_t from = (PREAMBLE_MAX + blk - 1) / blk * blk, to = offs[nblocks - keep] / blk * blk;
    if (from < to && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)from, (off_t)(to - from)) < 0)
        die_errno(log_path);
    uint8_t b[4];
    put32(b, 3 | 0x80000000U);
    pwrite_all(fd, b, 4, 0, log_path);
    put32(b, keep);
    pwrite_all(fd, b, 4, st.st_size, log_path);
    xclose(fd, log_path);
    free(offs);
    free(log_path);
    free(idx_path);
}

/* Appends entries for blocks from..to to DIR/state-history/<name>.log and .index (created when missing). */
static void ship_append(const char *dir, const char *name, uint32_t from, uint32_t to, uint64_t seed)
{
    char *sd = path_join(dir, "state-history");
    if (mkdir(sd, 0755) < 0 && errno != EEXIST)
        die_errno(sd);
    char file[64];
    snprintf(file, sizeof file, "%s.log", name);
    char *log_path = path_join(sd, file);
    snprintf(file, sizeof file, "%s.index", name);
    char *idx_path = path_join(sd, file);
    int lfd = open(log_path, O_WRONLY | O_CREAT, 0644), ifd = open(idx_path, O_WRONLY | O_CREAT, 0644);
    if (lfd < 0)
        die_errno(log_path);
    if (ifd < 0)
        die_errno(idx_path);
    off_t lend = lseek(lfd, 0, SEEK_END), iend = lseek(ifd, 0, SEEK_END);
    if (lend < 0 || iend < 0)
        die_errno(log_path);
    struct out log, idx;
    out_init(&log, lfd, log_path, (uint64_t)lend);
    out_init(&idx, ifd, idx_path, (uint64_t)iend);
    struct rng r = {mix64(seed ^ name_of(name) ^ (uint64_t)from << 20)};
    for (uint32_t n = from; n <= to; n++) {
        uint32_t payload = range(&r, 60, 1200);
        out_reserve(&log, 48 + payload + 16);
        out_reserve(&idx, 8);
        uint64_t at = out_pos(&log);
        uint8_t *p = log.buf + log.len;
        p = put64(p, SHIP_MAGIC);
        p = putbe32(p, n); /* block id: the number, then 28 bytes of hash */
        p = rand_bytes(&r, p, 28);
        p = put64(p, payload);
        p = put32(p, 0); /* no length prefix: zlib bytes follow (read_unpacked_entry) */
        p = putzero(p, payload / 3);
        p = rand_bytes(&r, p, payload - 4 - payload / 3);
        p = put64(p, at);
        log.len = (size_t)(p - log.buf);
        put64(idx.buf + idx.len, at);
        idx.len += 8;
    }
    out_done(&log);
    out_done(&idx);
    free(sd);
    free(log_path);
    free(idx_path);
}

/* Where the state-history logs end: the block after the last entry (0 when there is no log). */
static uint32_t ship_next(const char *dir, const char *name)
{
    char file[96];
    snprintf(file, sizeof file, "state-history/%s.log", name);
    char *path = path_join(dir, file);
    int fd = open(path, O_RDONLY);
    free(path);
    if (fd < 0)
        return 0;
    struct stat st;
    uint8_t b[48];
    uint32_t next = 0;
    if (fstat(fd, &st) == 0 && st.st_size >= 56) {
        pread_all(fd, b, 8, st.st_size - 8, file);
        uint64_t at = get64(b);
        if (at + 48 <= (uint64_t)st.st_size) {
            pread_all(fd, b, 48, (off_t)at, file);
            next = getbe32(b + 8) + 1;
        }
    }
    close(fd);
    return next;
}

static void config_layouts(char *config, size_t n, const struct layouts *L)
{
    size_t l = strlen(config);
    if (L->stride)
        l += (size_t)snprintf(config + l, n - l, "blocks-log-stride = %u\nblocks-retained-dir = %s\n", L->stride,
                              L->retained_dir);
    if (L->stride && L->retained)
        l += (size_t)snprintf(config + l, n - l, "max-retained-block-files = %u\nblocks-archive-dir = archive\n",
                              L->retained);
    if (L->pruned)
        l += (size_t)snprintf(config + l, n - l, "block-log-retain-blocks = %u\n", L->pruned);
    if (L->state_history)
        snprintf(config + l, n - l,
                 "plugin = eosio::state_history_plugin\nstate-history-dir = \"state-history\"\n"
                 "trace-history = true\nchain-state-history = true\n");
}

static struct layouts LAYOUTS = {.retained_dir = "retained"};

/* ---------------------------------------------------------------------------------------------------------------- */
/* create */

static void write_text(const char *dir, const char *name, const char *text)
{
    char *path = path_join(dir, name);
    int fd = create_file(path);
    write_all(fd, text, strlen(text), path);
    xclose(fd, path);
    free(path);
}

/* Creates the missing parent folders of PATH (as mkdir -p would), not PATH itself. */
static void make_parents(const char *path)
{
    size_t n = strlen(path);
    char *p = xmalloc(n + 1);
    memcpy(p, path, n + 1);
    while (n > 1 && p[n - 1] == '/') /* "a/b/" is a/b */
        p[--n] = 0;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        struct stat st;
        if (stat(p, &st) < 0) {
            if (errno != ENOENT || (mkdir(p, 0755) < 0 && errno != EEXIST))
                die_errno(p);
        } else if (!S_ISDIR(st.st_mode)) {
            die(p, "not a directory");
        }
        *s = '/';
        while (s[1] == '/') /* a//b */
            s++;
    }
    free(p);
}

/* DIR may exist, but only as an empty directory; its missing parents are created. */
static void make_top_dir(const char *dir)
{
    make_parents(dir);
    if (mkdir(dir, 0755) == 0)
        return;
    if (errno != EEXIST)
        die_errno(dir);
    DIR *d = opendir(dir);
    if (!d)
        die_errno(dir);
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            die(dir, "directory exists and is not empty");
    }
    if (errno)
        die_errno(dir);
    if (closedir(d) < 0)
        die_errno(dir);
}

static void create(const char *dir, uint64_t blocks_size, uint64_t state_size, uint64_t state_data, uint64_t seed)
{
    char *blocks = path_join(dir, "blocks");
    char *reversible = path_join(blocks, "reversible");
    char *state = path_join(dir, "state");
    char *log_path = path_join(blocks, "blocks.log");
    char *idx_path = path_join(blocks, "blocks.index");
    char *fork_path = path_join(reversible, "fork_db.dat");
    char *shm_path = path_join(state, "shared_memory.bin");

    make_top_dir(dir);
    make_dir(blocks);
    make_dir(reversible);
    make_dir(state);

    /* blocks.log and blocks.index */
    struct out log, idx;
    out_init(&log, create_file(log_path), log_path, 0);
    out_init(&idx, create_file(idx_path), idx_path, 0);
    uint8_t *p = log.buf;
    p = put32(p, 3); /* version */
    p = put32(p, 1); /* first_block_num */
    memcpy(p, genesis_state, sizeof genesis_state);
    p += sizeof genesis_state;
    p = put64(p, UINT64_MAX); /* totem */
    log.len = (size_t)(p - log.buf);
    struct chain c;
    chain_init(&c, mix64(seed ^ 0x626c6f636b73ULL), mix64(seed), 1, GENESIS_SLOT);
    uint32_t nblocks = append_blocks(&c, &log, &idx, blocks_size);
    free(c.tpl);
    uint64_t log_size = out_pos(&log);
    out_done(&log);
    out_done(&idx);

    /* fork_db.dat */
    struct rng sr = {mix64(seed ^ 0x7374617465ULL)};
    uint64_t next_id = 1;
    {
        uint8_t *buf = xmalloc(4096 + RECORD_MAX);
        p = put32(buf, FORKDB_MAGIC);
        p = put32(p, 1);
        p = rand_bytes(&sr, p, 32); /* head id */
        put_records(&sr, p, 4096 - 40, &next_id);
        int fd = create_file(fork_path);
        write_all(fd, buf, 4096, fork_path);
        xclose(fd, fork_path);
        free(buf);
    }

    /* shared_memory.bin: sparse, header, then state_data bytes of records, then hole */
    {
        int fd = create_file(shm_path);
        if (ftruncate(fd, (off_t)state_size) < 0)
            die_errno(shm_path);
        uint8_t *buf = xmalloc(OUTBUF_SIZE + RECORD_MAX);
        memset(buf, 0, STATE_HEADER);
        memcpy(buf, "EOSIODB3", 8);
        buf[8] = 0;  /* dirty */
        buf[9] = 0;  /* debug */
        buf[10] = 0; /* os: linux */
        buf[11] = 0; /* arch: x86_64 */
        put32(buf + 12, 108300);
        memcpy(buf + 528, "12.2.0", 6);
        size_t have = STATE_HEADER; /* bytes in buf, not written yet */
        uint64_t left = state_data; /* data bytes not generated yet */
        next_id = 1;
        while (have > 0 || left > 0) {
            if (left > 0 && have < OUTBUF_SIZE) {
                size_t n = put_records(&sr, buf + have, OUTBUF_SIZE - have, &next_id);
                if (n > left) /* the last record is cut at the end of the data region */
                    n = (size_t)left;
                have += n;
                left -= n;
            }
            size_t w = have < OUTBUF_SIZE ? have : OUTBUF_SIZE;
            write_all(fd, buf, w, shm_path);
            memmove(buf, buf + w, have - w); /* a record that crossed the buffer's end */
            have -= w;
        }
        free(buf);
        xclose(fd, shm_path);
    }

    /* config.ini and genesis.json, which a restore must leave alone */
    char config[2048];
    snprintf(config, sizeof config,
             "# nodeos configuration (generated by mkdatadir for slotkeeper tests)\n"
             "blocks-dir = \"blocks\"\n"
             "chain-state-db-size-mb = %" PRIu64 "\n"
             "chain-state-db-guard-size-mb = 128\n"
             "http-server-address = 127.0.0.1:8888\n"
             "p2p-listen-endpoint = 0.0.0.0:9876\n"
             "p2p-peer-address = p2p.eosnation.example:9876\n"
             "p2p-peer-address = peer.main.alohaeos.example:9876\n"
             "p2p-peer-address = p2p.eossweden.example:9876\n"
             "agent-name = \"slotkeeper test node\"\n"
             "plugin = eosio::chain_api_plugin\n"
             "plugin = eosio::net_plugin\n",
             state_size / MIB);
    config_layouts(config, sizeof config, &LAYOUTS);
    write_text(dir, "config.ini", config);
    /* The genesis state in the block log's preamble, as JSON: both name chain
     * 90d8c7436017001e64891e8b6b7eb0060baeb350048eb52d2cdb594fdbc2617d. */
    write_text(dir, "genesis.json",
               "{\n"
               "  \"initial_timestamp\": \"2020-01-01T00:00:00.000\",\n"
               "  \"initial_key\": \"EOS5P52UyPoYL7vMiSREPvqxh6WebuMAunCMK4w53J7Gu6zmk4qyN\",\n"
               "  \"initial_configuration\": {\n"
               "    \"max_block_net_usage\": 1048576,\n"
               "    \"target_block_net_usage_pct\": 1000,\n"
               "    \"max_transaction_net_usage\": 524288,\n"
               "    \"base_per_transaction_net_usage\": 12,\n"
               "    \"net_usage_leeway\": 500,\n"
               "    \"context_free_discount_net_usage_num\": 20,\n"
               "    \"context_free_discount_net_usage_den\": 100,\n"
               "    \"max_block_cpu_usage\": 200000,\n"
               "    \"target_block_cpu_usage_pct\": 1000,\n"
               "    \"max_transaction_cpu_usage\": 150000,\n"
               "    \"min_transaction_cpu_usage\": 100,\n"
               "    \"max_transaction_lifetime\": 3600,\n"
               "    \"deferred_trx_expiration_window\": 600,\n"
               "    \"max_transaction_delay\": 3888000,\n"
               "    \"max_inline_action_size\": 4096,\n"
               "    \"max_inline_action_depth\": 4,\n"
               "    \"max_authority_depth\": 6\n"
               "  }\n"
               "}\n");

    printf("created %s: blocks.log %" PRIu64 " bytes, %" PRIu32 " blocks; shared_memory.bin %" PRIu64
           " bytes with %" PRIu64 " bytes of data\n",
           dir, log_size, nblocks, state_size, state_data);
    if (LAYOUTS.stride) {
        unsigned nr, na;
        make_strided(dir, nblocks, &LAYOUTS, &nr, &na);
        printf("strided by %u: %u bundles in blocks/%s, %u in blocks/archive, blocks %u..%u in blocks.log\n",
               LAYOUTS.stride, nr, LAYOUTS.retained_dir, na, nblocks / LAYOUTS.stride * LAYOUTS.stride + 1, nblocks);
    }
    if (LAYOUTS.pruned) {
        make_pruned(dir, nblocks, LAYOUTS.pruned);
        printf("pruned: blocks.log keeps its last %u blocks\n", LAYOUTS.pruned < nblocks ? LAYOUTS.pruned : nblocks);
    }
    if (LAYOUTS.state_history) {
        ship_append(dir, "chain_state_history", 1, nblocks, seed);
        if (nblocks >= 2)
            ship_append(dir, "trace_history", 2, nblocks, seed);
        printf("state history: chain_state_history blocks 1..%u, trace_history blocks 2..%u\n", nblocks, nblocks);
    }

    free(blocks);
    free(reversible);
    free(state);
    free(log_path);
    free(idx_path);
    free(fork_path);
    free(shm_path);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* mutate */

struct log_tail {
    uint64_t log_size;
    uint32_t last_num;
    uint32_t last_slot;
    uint32_t nblocks;
};

/* Check that blocks.log and blocks.index agree, and find the last block's number and timestamp. */
static struct log_tail read_log_tail(int lfd, const char *log_path, int ifd, const char *idx_path)
{
    struct log_tail t;
    struct stat st;
    uint8_t b[18];

    if (fstat(lfd, &st) < 0)
        die_errno(log_path);
    t.log_size = (uint64_t)st.st_size;
    if (t.log_size < 16)
        die(log_path, "too short to be a block log");
    pread_all(lfd, b, 8, 0, log_path);
    uint32_t version = get32(b);
    if (version & 0x80000000U)
        die(log_path, "pruned block logs are not supported");
    if (version < 1 || version > 3)
        die(log_path, "unsupported block log version");
    uint32_t first = version == 1 ? 1 : get32(b + 4);

    pread_all(lfd, b, 8, (off_t)(t.log_size - 8), log_path);
    uint64_t last_off = get64(b);
    if (last_off < 8 || last_off + 18 + 8 > t.log_size)
        die(log_path, "last 8 bytes do not hold a valid entry offset");
    pread_all(lfd, b, 18, (off_t)last_off, log_path);
    t.last_slot = get32(b);
    t.last_num = getbe32(b + 14) + 1;
    if (t.last_num < first)
        die(log_path, "last block number is before the first block number");

    if (fstat(ifd, &st) < 0)
        die_errno(idx_path);
    if (st.st_size == 0 || st.st_size % 8)
        die(idx_path, "size is not a positive multiple of 8");
    pread_all(ifd, b, 8, st.st_size - 8, idx_path);
    if (get64(b) != last_off)
        die(idx_path, "last entry does not match the last block position in blocks.log");
    t.nblocks = t.last_num - first + 1;
    if ((uint64_t)st.st_size / 8 != t.nblocks)
        die(idx_path, "number of entries does not match the block numbers in blocks.log");
    return t;
}

struct extent {
    uint64_t start, end; /* data bytes [start, end) */
    uint64_t npages;     /* 4 KiB file pages it touches */
};

/* Open shared_memory.bin for mutate and check that it is a chainbase database. */
static int open_state(const char *path)
{
    int fd = open(path, O_RDWR);
    if (fd < 0)
        die_errno(path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        die_errno(path);
    uint8_t hdr[8];
    if (st.st_size < STATE_HEADER)
        die(path, "too short to be a chainbase database");
    pread_all(fd, hdr, 8, 0, path);
    if (memcmp(hdr, "EOSIODB", 7) && memcmp(hdr, "CHAINB0", 7))
        die(path, "not a chainbase database (bad id)");
    return fd;
}

/* Rewrite pct percent of the 4 KiB pages that hold data after the header; returns pages rewritten. */
static uint64_t rewrite_state(int fd, const char *path, double pct, uint64_t seed, uint64_t *total_pages,
                              uint64_t *bytes)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        die_errno(path);

    size_t next = 0, cap = 16;
    struct extent *ext = xmalloc(cap * sizeof *ext);
    uint64_t npages = 0;
    off_t off = STATE_HEADER;
    while (off < st.st_size) {
        off_t d = lseek(fd, off, SEEK_DATA);
        if (d < 0) {
            if (errno == ENXIO)
                break;
            die_errno(path);
        }
        off_t h = lseek(fd, d, SEEK_HOLE);
        if (h < 0)
            die_errno(path);
        if (next == cap) {
            cap *= 2;
            ext = realloc(ext, cap * sizeof *ext);
            if (!ext)
                die("realloc", strerror(ENOMEM));
        }
        ext[next].start = (uint64_t)d;
        ext[next].end = (uint64_t)h;
        ext[next].npages = ((uint64_t)h - 1) / PAGE - (uint64_t)d / PAGE + 1;
        npages += ext[next].npages;
        next++;
        off = h;
    }

    uint64_t k = (uint64_t)((double)npages * pct / 100.0 + 0.5);
    if (k == 0 && pct > 0 && npages > 0)
        k = 1;
    if (k > npages)
        k = npages;

    /* Floyd's algorithm: k distinct page indices out of npages */
    struct rng r = {mix64(seed ^ 0x7061676573ULL)};
    uint8_t *chosen = calloc(npages / 8 + 1, 1);
    if (!chosen)
        die("calloc", strerror(ENOMEM));
    for (uint64_t j = npages - k; j < npages; j++) {
        uint64_t t = rnd(&r) % (j + 1);
        if (chosen[t / 8] & (1u << (t % 8)))
            t = j;
        chosen[t / 8] |= (uint8_t)(1u << (t % 8));
    }

    uint8_t *buf = xmalloc(PAGE + RECORD_MAX);
    uint64_t next_id = rnd(&r) % 100000000, g = 0;
    *bytes = 0;
    for (size_t e = 0; e < next; e++) {
        for (uint64_t i = 0; i < ext[e].npages; i++, g++) {
            if (!(chosen[g / 8] & (1u << (g % 8))))
                continue;
            uint64_t page = ext[e].start / PAGE + i;
            uint64_t a = page * PAGE, b = a + PAGE;
            if (a < ext[e].start)
                a = ext[e].start;
            if (b > ext[e].end)
                b = ext[e].end;
            put_records(&r, buf, PAGE, &next_id);
            pwrite_all(fd, buf, (size_t)(b - a), (off_t)a, path);
            *bytes += b - a;
        }
    }
    xclose(fd, path);
    free(buf);
    free(chosen);
    free(ext);
    *total_pages = npages;
    return k;
}

static void mutate(const char *dir, double append_pct, double rewrite_pct, uint64_t seed)
{
    char *log_path = path_join(dir, "blocks/blocks.log");
    char *idx_path = path_join(dir, "blocks/blocks.index");
    char *shm_path = path_join(dir, "state/shared_memory.bin");

    int lfd = open(log_path, O_RDWR);
    if (lfd < 0)
        die_errno(log_path);
    int ifd = open(idx_path, O_RDWR);
    if (ifd < 0)
        die_errno(idx_path);
    struct log_tail t = read_log_tail(lfd, log_path, ifd, idx_path);
    int sfd = rewrite_pct > 0 ? open_state(shm_path) : -1; /* check everything before changing anything */

    uint64_t appended = 0;
    uint32_t nnew = 0;
    if (append_pct > 0) {
        double want = (double)t.log_size * append_pct / 100.0;
        uint64_t grow = (uint64_t)want;
        if ((double)grow < want)
            grow++;
        struct chain c;
        chain_init(&c, mix64(seed ^ 0x626c6f636b73ULL ^ (uint64_t)t.last_num << 24), mix64(seed), t.last_num + 1,
                   t.last_slot + 1);
        if (lseek(lfd, 0, SEEK_END) < 0)
            die_errno(log_path);
        if (lseek(ifd, 0, SEEK_END) < 0)
            die_errno(idx_path);
        struct out log, idx;
        out_init(&log, lfd, log_path, t.log_size);
        out_init(&idx, ifd, idx_path, (uint64_t)t.nblocks * 8);
        nnew = append_blocks(&c, &log, &idx, t.log_size + grow);
        free(c.tpl);
        appended = out_pos(&log) - t.log_size;
        out_done(&log);
        out_done(&idx);
    } else {
        xclose(lfd, log_path);
        xclose(ifd, idx_path);
    }

    /* state history grows with the blocks, as the state_history_plugin appends an entry per block */
    for (int k = 0; k < 2 && nnew; k++) {
        const char *name = k ? "trace_history" : "chain_state_history";
        uint32_t next = ship_next(dir, name);
        if (next && next <= t.last_num + nnew)
            ship_append(dir, name, next, t.last_num + nnew, seed);
    }

    uint64_t total = 0, bytes = 0, pages = 0;
    if (rewrite_pct > 0)
        pages = rewrite_state(sfd, shm_path, rewrite_pct, seed ^ (uint64_t)t.last_num << 24, &total, &bytes);

    printf("mutated %s: appended %" PRIu64 " bytes (%" PRIu32 " blocks, %" PRIu32 "..%" PRIu32 ") to blocks.log; "
           "rewrote %" PRIu64 " of %" PRIu64 " state pages (%" PRIu64 " bytes)\n",
           dir, appended, nnew, nnew ? t.last_num + 1 : 0, nnew ? t.last_num + nnew : 0, pages, total, bytes);
    free(log_path);
    free(idx_path);
    free(shm_path);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* command line */

static uint64_t parse_size(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        goto bad;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        goto bad;
    unsigned shift = 0;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case 't':
    case 'T':
        shift = 40;
        break;
    case 0:
        break;
    default:
        goto bad;
    }
    if (shift) {
        end++;
        if (*end == 'i')
            end++;
        if (*end == 'B')
            end++;
    }
    if (*end || v > (UINT64_MAX >> shift) || (v << shift) > (uint64_t)INT64_MAX)
        goto bad;
    return (uint64_t)v << shift;
bad:
    fprintf(stderr, PROG ": %s: invalid size '%s'\n", opt, s);
    usage(NULL);
    return 0;
}

static double parse_pct(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0 && v <= 1000)) {
        fprintf(stderr, PROG ": %s: invalid percentage '%s'\n", opt, s);
        usage(NULL);
    }
    return v;
}

static uint64_t parse_seed(const char *s)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == 0)
        goto bad;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        goto bad;
    return v;
bad:
    fprintf(stderr, PROG ": --seed: invalid number '%s'\n", s);
    usage(NULL);
    return 0;
}

static uint64_t parse_count(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = *s >= '1' && *s <= '9' ? strtoull(s, &end, 10) : 0;
    if (errno || v == 0 || *end || v > UINT32_MAX - 1) {
        fprintf(stderr, PROG ": %s: invalid count '%s' (1 .. 4294967294)\n", opt, s);
        usage(NULL);
    }
    return v;
}

/* Accepts "--name VALUE" and "--name=VALUE"; returns the value or NULL if argv[*i] is not this option. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n))
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != 0)
        return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, PROG ": %s needs a value\n", name);
        usage(NULL);
    }
    return argv[++*i];
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help_text, stdout);
            return fflush(stdout) == EOF ? 1 : 0;
        }
    }
    if (argc < 3)
        usage(NULL);
    const char *cmd = argv[1], *dir = argv[2];
    int is_create = strcmp(cmd, "create") == 0;
    if (!is_create && strcmp(cmd, "mutate"))
        usage("unknown command");
    if (dir[0] == 0 || dir[0] == '-')
        usage("missing DIR");

    uint64_t blocks_size = 16 * MIB, state_size = 64 * MIB, state_data = 8 * MIB;
    uint64_t seed = is_create ? 1 : 2;
    double append_pct = 1, rewrite_pct = 1;
    for (int i = 3; i < argc; i++) {
        const char *v;
        if ((v = opt_value(argc, argv, &i, "--seed")))
            seed = parse_seed(v);
        else if (is_create && (v = opt_value(argc, argv, &i, "--blocks-size")))
            blocks_size = parse_size("--blocks-size", v);
        else if (is_create && (v = opt_value(argc, argv, &i, "--state-size")))
            state_size = parse_size("--state-size", v);
        else if (is_create && (v = opt_value(argc, argv, &i, "--state-data")))
            state_data = parse_size("--state-data", v);
        else if (is_create && (v = opt_value(argc, argv, &i, "--stride")))
            LAYOUTS.stride = (uint32_t)parse_count("--stride", v);
        else if (is_create && (v = opt_value(argc, argv, &i, "--retained")))
            LAYOUTS.retained = (uint32_t)parse_count("--retained", v);
        else if (is_create && (v = opt_value(argc, argv, &i, "--retained-dir")))
            LAYOUTS.retained_dir = v;
        else if (is_create && (v = opt_value(argc, argv, &i, "--pruned")))
            LAYOUTS.pruned = (uint32_t)parse_count("--pruned", v);
        else if (is_create && !strcmp(argv[i], "--state-history"))
            LAYOUTS.state_history = 1;
        else if (!is_create && (v = opt_value(argc, argv, &i, "--append-pct")))
            append_pct = parse_pct("--append-pct", v);
        else if (!is_create && (v = opt_value(argc, argv, &i, "--rewrite-pct")))
            rewrite_pct = parse_pct("--rewrite-pct", v);
        else {
            fprintf(stderr, PROG ": unknown argument '%s'\n", argv[i]);
            usage(NULL);
        }
    }

    dict_init();
    if (is_create) {
        if (state_size == 0 || state_size % MIB)
            usage("--state-size must be a positive multiple of 1 MiB (chainbase requires it)");
        if (state_data > state_size - STATE_HEADER)
            usage("--state-data does not fit in --state-size after the 1 KiB header");
        if (LAYOUTS.retained && !LAYOUTS.stride)
            usage("--retained needs --stride");
        if (LAYOUTS.pruned && LAYOUTS.stride)
            usage("--pruned cannot go with --stride (nodeos refuses block-log-retain-blocks with blocks-log-stride)");
        if (!LAYOUTS.retained_dir[0] || strchr(LAYOUTS.retained_dir, '/') || !strcmp(LAYOUTS.retained_dir, ".") ||
            !strcmp(LAYOUTS.retained_dir, "..") || !strcmp(LAYOUTS.retained_dir, "reversible") ||
            !strcmp(LAYOUTS.retained_dir, "archive"))
            usage("--retained-dir must be a plain folder name (not reversible or archive)");
        create(dir, blocks_size, state_size, state_data, seed);
    } else {
        if (rewrite_pct > 100)
            usage("--rewrite-pct must be at most 100");
        mutate(dir, append_pct, rewrite_pct, seed);
    }
    if (fflush(stdout) == EOF)
        die_errno("stdout");
    return 0;
}
