/*
 * chain.c: fakenode's deterministic chain.  As in nodeos, genesis.json is packed as an fc::raw genesis_state
 * (slotkeeper's snapshot/chainid.c, checked against real Leap 4.0.6) and the chain id is its SHA-256;
 * initial_timestamp in genesis.json gives the time of block 1.  Every block's bytes, its id and the state pages it
 * touches come from splitmix64 streams seeded with chain_seed(chain id, block number, salt), so two nodes with the
 * same genesis.json that reach the same head have byte-identical block logs and state data.
 *
 * Blocks are fc::raw-packed signed_blocks like nodeos writes them: block_timestamp, producer, confirmed, previous
 * id (whose first 4 bytes are the big-endian number of the previous block, so entry bytes 14..17 hold num-1),
 * merkle roots, schedule version, producer signature, and 0-8 transaction receipts with packed transfers.
 */
#include "fakenode.h"

#include "slotkeeper/chainid.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { SALT_BLOCK = 1, SALT_ID = 2 };

static const char *const producers[21] = {
    "eosnationftw", "eoshuobipool", "binancestake", "bitfinexeos1", "eosasia11111", "atticlabeosb", "newdex.bp",
    "eoscannonchn", "starteosiobp", "hashfineosio", "eosinfstones", "whaleex.com",  "okcapitalbp1", "eosiosg11111",
    "big.one",      "eoslaomaocom", "zbeosbp11111", "eos42freedom", "truststaking", "eosphereiobp", "blockpooleos",
};

static const char *const accounts[] = {
    "eosio",        "eosio.token",  "binancecleos", "huobideposit", "okbtothemoon", "gateiowallet", "eosbetdice11",
    "betdicegroup", "pptqipaelyog", "whaleextrust", "newdexpocket", "defisswapcnt", "tethertether", "mykeypostman",
    "dfsfarmsmine", "eosdaqoperat", "alice1111111", "bob111111111", "carol1111111", "dave11111111",
};
#define NACCOUNTS (sizeof accounts / sizeof accounts[0])

static const char *const memos[] = {"deposit", "withdraw", "swap", "reward", "airdrop", "payment", "refund", "bet",
                                    "claim",   "order",    "buy",  "sell",   "fee",     "vote",    "rent",   ""};
#define NMEMOS (sizeof memos / sizeof memos[0])

/* eosio::name from its string form (same algorithm as eosio::string_to_name) */
static uint64_t name_of(const char *s)
{
    uint64_t n = 0;
    for (int i = 0; s[i] && i < 13; i++) {
        char ch = s[i];
        uint64_t v = 0;
        if (ch >= 'a' && ch <= 'z')
            v = (uint64_t)(ch - 'a') + 6;
        else if (ch >= '1' && ch <= '5')
            v = (uint64_t)(ch - '1') + 1;
        if (i < 12)
            n |= (v & 0x1f) << (64 - 5 * (i + 1));
        else
            n |= v & 0x0f;
    }
    return n;
}

uint64_t chain_seed(const struct chain *c, uint32_t num, uint64_t salt)
{
    uint64_t h = mix64(((uint64_t)num << 20) ^ salt);
    for (int i = 0; i < 4; i++)
        h = mix64(h ^ get64(c->id + 8 * i));
    return h;
}

const char *chain_producer(uint32_t num)
{
    return producers[(num / 12) % 21];
}

int64_t chain_block_time(const struct chain *c, uint32_t num)
{
    return c->t0_ms + (int64_t)(num ? num - 1 : 0) * opt.interval_ms;
}

uint32_t chain_lib(uint32_t head)
{
    if (head > 326)
        return head - 325;
    return head > 1 ? head - 1 : 1;
}

/* block id: big-endian block number, then 28 bytes that depend on the chain and the number */
void chain_block_id(const struct chain *c, uint32_t num, uint8_t id[32])
{
    struct rng r = {chain_seed(c, num, SALT_ID)};
    putbe32(id, num);
    rand_fill(&r, id + 4, 28);
}

/* ---- genesis.json ---- */

/* "YYYY-MM-DDTHH:MM:SS[.fff]" as ms since the epoch; -1 if malformed */
static int64_t parse_iso(const char *s)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n == 0)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
        return -1;
    int ms = 0;
    const char *p = s + n;
    if (*p == '.') {
        int scale = 100;
        for (p++; *p >= '0' && *p <= '9'; p++) {
            ms += (*p - '0') * scale;
            scale /= 10;
        }
    }
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* The value of "initial_timestamp"; -1 if absent or malformed. */
static int64_t genesis_timestamp(const char *text)
{
    const char *p = strstr(text, "\"initial_timestamp\"");
    if (!p)
        return -1;
    p += strlen("\"initial_timestamp\"");
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    if (*p++ != ':')
        return -1;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    if (*p++ != '"')
        return -1;
    return parse_iso(p);
}

/* The genesis.json fakenode writes when there is none: always the same text for the same timestamp. */
static char *canonical_genesis(int64_t t0)
{
    char when[32];
    iso_time(when, sizeof when, t0);
    char *s = xmalloc(2048);
    snprintf(s, 2048,
             "{\n"
             "  \"initial_timestamp\": \"%s\",\n"
             "  \"initial_key\": \"EOS6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5GDW5CV\",\n"
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
             "    \"max_inline_action_size\": 524288,\n"
             "    \"max_inline_action_depth\": 4,\n"
             "    \"max_authority_depth\": 6\n"
             "  }\n"
             "}\n",
             when);
    return s;
}

/*
 * Read genesis_path (creating it when missing: with the timestamp of the genesis state in an existing block log,
 * else with now rounded down to the second) and derive the chain.
 */
void chain_load(struct chain *c, const char *genesis_path, const char *blocks_log)
{
    size_t len = 0;
    char *text = read_text(genesis_path, 1 << 20, &len);
    if (!text) {
        if (errno != ENOENT)
            fail_fc("3110006 plugin_config_exception", "Incorrect plugin configuration", "chain_plugin.cpp", 705,
                    "plugin_initialize", "unable to read genesis file %s: %s", genesis_path, strerror(errno));
        int64_t t0 = now_ms() / 1000 * 1000;
        uint8_t g[GENESIS_SIZE];
        if (blog_peek_genesis(blocks_log, g))
            t0 = (int64_t)(get64(g) / 1000);
        text = canonical_genesis(t0);
        len = strlen(text);
        if (write_text(genesis_path, text) < 0)
            fail_fc("3110006 plugin_config_exception", "Incorrect plugin configuration", "chain_plugin.cpp", 705,
                    "plugin_initialize", "unable to write genesis file %s: %s", genesis_path, strerror(errno));
        nlog(LV_INFO, "chain_plugin.cpp", 707, "plugin_initialize", "fakenode: wrote %s (no genesis.json found)",
             genesis_path);
    }
    c->t0_ms = genesis_timestamp(text);
    if (c->t0_ms < 0)
        fail_fc("3110006 plugin_config_exception", "Incorrect plugin configuration", "chain_plugin.cpp", 712,
                "plugin_initialize", "genesis file %s has no valid \"initial_timestamp\"", genesis_path);
    unsigned char g[SK_GENESIS_MAX];
    size_t glen = 0;
    char why[256], hex[SK_CHAIN_ID_HEX];
    if (sk_genesis_pack(text, len, g, &glen, why, sizeof why) < 0 || glen != GENESIS_SIZE)
        fail_fc("3110006 plugin_config_exception", "Incorrect plugin configuration", "chain_plugin.cpp", 712,
                "plugin_initialize", "genesis file %s: %s", genesis_path,
                glen != GENESIS_SIZE ? "fakenode supports K1 and R1 initial keys only" : why);
    free(text);
    memcpy(c->genesis, g, GENESIS_SIZE);
    sk_chainid_of_packed(g, glen, hex);
    for (int i = 0; i < 32; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        c->id[i] = (uint8_t)v;
    }
}

/* ---- blocks ---- */

static uint8_t *put_receipt(const struct chain *c, struct rng *r, uint8_t *p, uint32_t num, uint32_t slot)
{
    uint8_t trx[512], *q = trx;
    uint32_t ref = num > 3 ? num - 1 - below(r, 3) : 1;
    uint8_t ref_id[32];
    chain_block_id(c, ref, ref_id);

    q = put32(q, slot / 2 + (uint32_t)(EPOCH_2000_MS / 1000) + 30 + below(r, 270)); /* expiration */
    q = put16(q, (uint16_t)ref);                                                    /* ref_block_num */
    q = put32(q, get32(ref_id + 8));                                                /* ref_block_prefix */
    q = putvar(q, 0);                                                               /* max_net_usage_words */
    q = put8(q, 0);                                                                 /* max_cpu_usage_ms */
    q = putvar(q, 0);                                                               /* delay_sec */
    q = putvar(q, 0);                                                               /* context_free_actions */
    uint32_t nact = below(r, 3) ? 1 : 2;
    q = putvar(q, nact);
    for (uint32_t i = 0; i < nact; i++) {
        uint64_t from = name_of(accounts[2 + below(r, NACCOUNTS - 2)]);
        uint64_t to = name_of(accounts[2 + below(r, NACCOUNTS - 2)]);
        const char *memo = memos[below(r, NMEMOS)];
        size_t mlen = strlen(memo);
        q = put64(q, name_of(below(r, 4) ? "eosio.token" : "tethertether"));
        q = put64(q, name_of("transfer"));
        q = putvar(q, 1); /* authorization */
        q = put64(q, from);
        q = put64(q, name_of("active"));
        q = putvar(q, (uint32_t)(8 + 8 + 16 + 1 + mlen));
        q = put64(q, from);
        q = put64(q, to);
        q = put64(q, 1 + rnd(r) % 100000000);      /* amount */
        q = put64(q, 4 | (uint64_t)0x534f45 << 8); /* 4,EOS */
        q = putvar(q, (uint32_t)mlen);
        memcpy(q, memo, mlen);
        q += mlen;
    }
    q = putvar(q, 0); /* transaction_extensions */
    uint32_t tlen = (uint32_t)(q - trx);

    p = put8(p, below(r, 100) ? 0 : 1); /* status: executed, rarely soft_fail */
    p = put32(p, 100 + below(r, 2400)); /* cpu_usage_us */
    p = putvar(p, (tlen + 66 + 4 + 7) / 8);
    p = putvar(p, 1); /* variant: packed_transaction */
    p = putvar(p, 1); /* signatures */
    p = put8(p, 0);   /* K1 */
    rand_fill(r, p, 65);
    p += 65;
    p = put8(p, 0);   /* compression: none */
    p = putvar(p, 0); /* packed_context_free_data */
    p = putvar(p, tlen);
    memcpy(p, trx, tlen);
    return p + tlen;
}

/* One blocks.log entry for block num, followed by the u64 entry offset off; returns its length. */
size_t chain_block(const struct chain *c, uint32_t num, uint8_t *buf, uint64_t off, uint32_t *ntrx_out)
{
    struct rng r = {chain_seed(c, num, SALT_BLOCK)};
    uint8_t *p = buf;
    int64_t since_2000 = c->t0_ms - EPOCH_2000_MS;
    uint32_t slot = (uint32_t)(since_2000 > 0 ? since_2000 / 500 : 0) + (num - 1);
    uint32_t ntrx = below(&r, 4) == 0 ? 0 : 1 + below(&r, 8);

    p = put32(p, slot);
    p = put64(p, name_of(chain_producer(num)));
    p = put16(p, 0); /* confirmed */
    if (num > 1)
        chain_block_id(c, num - 1, p); /* previous: starts with BE(num - 1) */
    else
        memset(p, 0, 32);
    p += 32;
    if (ntrx)
        rand_fill(&r, p, 32); /* transaction_mroot */
    else
        memset(p, 0, 32);
    p += 32;
    rand_fill(&r, p, 32); /* action_mroot */
    p += 32;
    p = put32(p, 1);  /* schedule_version */
    p = put8(p, 0);   /* new_producers: none */
    p = putvar(p, 0); /* header_extensions */
    p = put8(p, 0);   /* producer_signature: K1 */
    rand_fill(&r, p, 65);
    p += 65;
    p = putvar(p, ntrx);
    for (uint32_t i = 0; i < ntrx; i++)
        p = put_receipt(c, &r, p, num, slot);
    p = putvar(p, 0); /* block_extensions */
    p = put64(p, off);
    if (ntrx_out)
        *ntrx_out = ntrx;
    return (size_t)(p - buf);
}
