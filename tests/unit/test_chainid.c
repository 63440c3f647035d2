/*
 * test_chainid: chain ids from block logs and genesis.json, checked against what real nodeos
 * wrote and reported (tests/fixtures/leap-4.0.6: `cleos get info` said chain_id 8a34ec7d...).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/chainid.h"
#include "unit.h"

#define LEAP406_CHAIN  "8a34ec7df1b8cd06ff4a8abbaa7cc50300823350cadc59ab296cb00d104d2b8f"
#define NODEOS18_CHAIN "90d8c7436017001e64891e8b6b7eb0060baeb350048eb52d2cdb594fdbc2617d"

/* The source tree's tests/fixtures/<name>: found from the test binary (build/[san/]unit-tests). */
static const char *fixture(const char *name)
{
    static char out[PATH_MAX];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    CHECK(n > 0);
    exe[n] = '\0';
    for (int up = 0; up < 4; up++) {
        char *slash = strrchr(exe, '/');
        CHECK(slash);
        *slash = '\0';
        snprintf(out, sizeof(out), "%s/tests/fixtures/%s", exe, name);
        if (access(out, F_OK) == 0)
            return out;
    }
    unit_fail(__FILE__, __LINE__, "fixture %s not found above the test binary", name);
}

TEST(chainid_from_real_nodeos_logs)
{
    char hex[SK_CHAIN_ID_HEX];
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_chainid_from_log(AT_FDCWD, fixture("leap-4.0.6/blocks.log"), hex, &err), &err);
    CHECK_STR(hex, LEAP406_CHAIN);
    CHECK_OK(sk_chainid_from_genesis(AT_FDCWD, fixture("leap-4.0.6/genesis.json"), hex, &err), &err);
    CHECK_STR(hex, LEAP406_CHAIN);
    CHECK_OK(sk_chainid_from_log(AT_FDCWD, fixture("nodeos-1.8/blocks.log"), hex, &err), &err);
    CHECK_STR(hex, NODEOS18_CHAIN);
}

TEST(chainid_genesis_json_packing)
{
    char hex[SK_CHAIN_ID_HEX];
    sk_err_t err;
    sk_err_clear(&err);
    /* Every field omitted: nodeos's defaults, which are what Leap's genesis.json spells out. */
    unit_write_text("g0.json", "{}");
    CHECK_OK(sk_chainid_from_genesis(AT_FDCWD, "g0.json", hex, &err), &err);
    CHECK_STR(hex, LEAP406_CHAIN);
    /* The 1.8 fixture's genesis state, written as JSON (its key in both text forms, numbers as strings). */
    static const char g18[] = "{\"initial_timestamp\": \"2020-01-01T00:00:00.000\",\n"
                              " \"initial_key\": \"%s\",\n"
                              " \"initial_configuration\": {\"max_inline_action_size\": %s}}";
    char text[512];
    snprintf(text, sizeof(text), g18, "EOS5P52UyPoYL7vMiSREPvqxh6WebuMAunCMK4w53J7Gu6zmk4qyN", "4096");
    unit_write_text("g1.json", text);
    CHECK_OK(sk_chainid_from_genesis(AT_FDCWD, "g1.json", hex, &err), &err);
    CHECK_STR(hex, NODEOS18_CHAIN);
    snprintf(text, sizeof(text), g18, "PUB_K1_5P52UyPoYL7vMiSREPvqxh6WebuMAunCMK4w53J7Gu6zrTunYm", "\"4096\"");
    unit_write_text("g2.json", text);
    CHECK_OK(sk_chainid_from_genesis(AT_FDCWD, "g2.json", hex, &err), &err);
    CHECK_STR(hex, NODEOS18_CHAIN);
    /* A mistyped key (checksum), a bad time, an out-of-range u16, not JSON: refused with a reason. */
    snprintf(text, sizeof(text), g18, "EOS5P52UyPoYL7vMiSREPvqxh6WebuMAunCMK4w53J7Gu6zmk4qyM", "4096");
    unit_write_text("bad1.json", text);
    CHECK_EQ(sk_chainid_from_genesis(AT_FDCWD, "bad1.json", hex, &err), -EINVAL);
    CHECK(strstr(err.msg, "checksum"));
    sk_err_clear(&err);
    unit_write_text("bad2.json", "{\"initial_timestamp\": \"yesterday\"}");
    CHECK_EQ(sk_chainid_from_genesis(AT_FDCWD, "bad2.json", hex, &err), -EINVAL);
    CHECK(strstr(err.msg, "initial_timestamp"));
    sk_err_clear(&err);
    unit_write_text("bad3.json", "{\"initial_configuration\": {\"max_authority_depth\": 65536}}");
    CHECK_EQ(sk_chainid_from_genesis(AT_FDCWD, "bad3.json", hex, &err), -EINVAL);
    sk_err_clear(&err);
    unit_write_text("bad4.json", "{\"initial_timestamp\": ");
    CHECK_EQ(sk_chainid_from_genesis(AT_FDCWD, "bad4.json", hex, &err), -EINVAL);
    sk_err_clear(&err);
    CHECK_EQ(sk_chainid_from_genesis(AT_FDCWD, "none.json", hex, &err), -ENOENT);
    CHECK_EQ(err.code, 0);
}

TEST(chainid_log_variants)
{
    char hex[SK_CHAIN_ID_HEX];
    sk_err_t err;
    sk_err_clear(&err);
    /* A version 3 log that starts at block 500 stores the chain id itself. */
    unsigned char pre[48];
    memcpy(pre, "\x03\x00\x00\x00\xf4\x01\x00\x00", 8);
    for (int i = 0; i < 32; i++)
        pre[8 + i] = (unsigned char)(0xa0 + i);
    memset(pre + 40, 0xff, 8);
    unit_write_file("later.log", pre, sizeof(pre));
    CHECK_OK(sk_chainid_from_log(AT_FDCWD, "later.log", hex, &err), &err);
    CHECK_STR(hex, "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf");
    /* Version 1: the genesis state right after the version word, no totem. */
    size_t len;
    char *log = unit_read_file(fixture("leap-4.0.6/blocks.log"), &len);
    unsigned char v1[4 + 110];
    memcpy(v1, "\x01\x00\x00\x00", 4);
    memcpy(v1 + 4, log + 8, 110);
    unit_write_file("v1.log", v1, sizeof(v1));
    CHECK_OK(sk_chainid_from_log(AT_FDCWD, "v1.log", hex, &err), &err);
    CHECK_STR(hex, LEAP406_CHAIN);
    /* No totem after the genesis state: not a log nodeos wrote. */
    log[118] = 0;
    unit_write_file("nototem.log", log, 126);
    CHECK_EQ(sk_chainid_from_log(AT_FDCWD, "nototem.log", hex, &err), -EBADMSG);
    free(log);
    sk_err_clear(&err);
    unit_write_file("empty.log", "", 0);
    CHECK_EQ(sk_chainid_from_log(AT_FDCWD, "empty.log", hex, &err), -ENOENT);
}

TEST(chainid_of_datadir)
{
    char hex[SK_CHAIN_ID_HEX];
    const char *src = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_EQ(mkdir("d", 0755), 0);
    CHECK_EQ(sk_chainid_of_datadir("d", hex, &src, &err), -ENOENT);
    unit_write_text("d/genesis.json", "{}");
    CHECK_OK(sk_chainid_of_datadir("d", hex, &src, &err), &err);
    CHECK_STR(src, "genesis.json");
    CHECK_STR(hex, LEAP406_CHAIN);
    /* The block log wins over genesis.json. */
    CHECK_EQ(mkdir("d/blocks", 0755), 0);
    size_t len;
    char *log = unit_read_file(fixture("nodeos-1.8/blocks.log"), &len);
    unit_write_file("d/blocks/blocks.log", log, len);
    CHECK_OK(sk_chainid_of_datadir("d", hex, &src, &err), &err);
    CHECK_STR(src, "blocks.log");
    CHECK_STR(hex, NODEOS18_CHAIN);
    /* A damaged preamble: genesis.json still tells the chain. */
    log[0] = 9;
    unit_write_file("d/blocks/blocks.log", log, len);
    free(log);
    CHECK_OK(sk_chainid_of_datadir("d", hex, &src, &err), &err);
    CHECK_STR(src, "genesis.json");
    CHECK(sk_chainid_valid(hex));
    CHECK(!sk_chainid_valid("8A34"));
}
