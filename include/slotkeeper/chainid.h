/*
 * chainid: which chain a nodeos data-dir belongs to.
 *
 * nodeos names a chain by its chain id, the SHA-256 of the fc::raw-packed genesis_state:
 * initial_timestamp (i64 microseconds), initial_key (a public key variant: u8 type, then 33
 * bytes for K1 and R1), initial_configuration (chain_config_v0: u64, 14 u32, 2 u16). A block
 * log that starts at block 1 (or of version < 3) holds that packed state in its preamble; a log
 * that starts later holds the 32-byte chain id itself. A `genesis.json` holds the same state as
 * JSON, which this module packs the way nodeos does (fields it omits take nodeos's defaults).
 * Checked against a log and a genesis.json of Leap 4.0.6 (tests/fixtures/leap-4.0.6).
 */
#ifndef SLOTKEEPER_CHAINID_H
#define SLOTKEEPER_CHAINID_H

#include <stdbool.h>
#include <stddef.h>

#include "slotkeeper/error.h"

#define SK_CHAIN_ID_HEX 65  /* 64 lowercase hex digits and a NUL */
#define SK_GENESIS_MAX  512 /* a packed genesis state is 110 bytes with a K1 or R1 key */

/* True for 64 lowercase hex digits. */
bool sk_chainid_valid(const char *hex);

/* The chain id (lowercase hex) of a packed genesis state. */
void sk_chainid_of_packed(const unsigned char *genesis, size_t len, char hex[SK_CHAIN_ID_HEX]);

/* The length of the packed genesis state at the start of p (n bytes available), 0 if it is
 * not one (truncated, or an unknown key type). */
size_t sk_genesis_packed_len(const unsigned char *p, size_t n);

/* Packs the text of a genesis.json as nodeos does into out (SK_GENESIS_MAX bytes); *outlen is
 * set to its length. -EINVAL with why set (one line) if the JSON is not a genesis state. */
int sk_genesis_pack(const char *json, size_t len, unsigned char *out, size_t *outlen, char *why, size_t whylen);

/* The chain id a block log's preamble names: the SHA-256 of its genesis state, or the chain id
 * it stores. -ENOENT (err not set) if the file is missing or empty, -EBADMSG with err set if
 * the preamble is not one nodeos writes. dirfd/name as for openat; the last part of name is
 * not followed if it is a symbolic link. */
int sk_chainid_from_log(int dirfd, const char *name, char hex[SK_CHAIN_ID_HEX], sk_err_t *err);

/* The chain id of a genesis.json. -ENOENT (err not set) if it is missing, -EINVAL with err set if
 * it is not a genesis state. */
int sk_chainid_from_genesis(int dirfd, const char *name, char hex[SK_CHAIN_ID_HEX], sk_err_t *err);

/* The chain a data-dir belongs to: its blocks/blocks.log, else its genesis.json. *source (may
 * be NULL) is set to "blocks.log" or "genesis.json". -ENOENT (err not set) when neither names
 * a chain; another negative code with err set when the one that exists cannot be read or
 * parsed. */
int sk_chainid_of_datadir(const char *dir, char hex[SK_CHAIN_ID_HEX], const char **source, sk_err_t *err);

#endif
