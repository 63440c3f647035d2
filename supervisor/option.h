/*
 * option: the one table of slotkeeper's options, for the command line and the
 * configuration file alike (private to supervisor/; pgBackRest's option table
 * is the model). Each row is one option: its [section] key in the file and/or
 * its --flag on the command line, its type, bounds, default, the name of its
 * value in help and one line of documentation. An option that exists in both
 * places is one row, so its bounds and default cannot disagree: config.c
 * loads, checks and prints the file from the rows that have a key, and the
 * command line (cli/main.c) parses and documents `--help` from the rows that
 * have a flag, both through sk_option_parse.
 */
#ifndef SLOTKEEPER_OPTION_H
#define SLOTKEEPER_OPTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The command line's options, one bit each in a command's allowed/required masks. */
enum sk_opt_id {
    O_REPO,
    O_DATA_DIR,
    O_INCLUDE,
    O_LEVEL,
    O_THREADS,
    O_LOCK_WAIT,
    O_CHUNK_SIZE,
    O_LOG_CHUNK_SIZE,
    O_SNAPSHOT,
    O_QUARANTINE,
    O_KEEP_QUARANTINE,
    O_KEEP_LAST,
    O_JSON,
    O_ALL,
    O_NO_PROGRESS,
    O_QUIET,
    O_DEEP,
    O_REFERENCE,
    O_CONFIG,
    O_SLOT,
    O_OUTPUT,
    O_TRIES,
    O_STARTUP_GRACE,
    O_CHAIN_ID,
    O_FORCE_CHAIN,
    O_FULL_REREAD,
    O_NO_FREEZE,    /* snapshot: the direct path (freeze.h) */
    O_AFTER_FREEZE, /* snapshot: a command run once the data-dir is free */
    O_FULL,
    O_GOLDEN,
    O_FROM,
    O_HELP,
    O_COUNT,
    O_NONE = -1 /* a row of the configuration file only */
};
/* A command's masks hold one bit per option. */
_Static_assert(O_COUNT <= 64, "a command's option masks are 64 bits");

/* Value types. T_PATH and T_SOCKET are absolute in the file (a command line's may be
 * relative); T_SOCKET fits a UNIX socket address (max: bytes); T_ADDRESS is HOST:PORT or
 * empty; T_LIST is comma-separated plain folder names; T_POW2 a size that is a power of two;
 * T_FLAG takes no value. */
enum sk_opt_type {
    T_STR,
    T_PATH,
    T_TEMPLATE,
    T_LIST,
    T_UINT,
    T_DURATION,
    T_SIZE,
    T_POW2,
    T_MODE,
    T_ENUM,
    T_SOCKET,
    T_ADDRESS,
    T_SNAPSHOT_ID,
    T_CHAIN_ID,
    T_FLAG,
};

typedef struct sk_option {
    const char *section, *key; /* [section] key in the file; NULL: command line only */
    const char *flag;          /* --flag; NULL: file only */
    int id;                    /* enum sk_opt_id, or O_NONE */
    char short_flag;           /* -c, -o, -h; 0: none */
    enum sk_opt_type type;
    size_t offset; /* of the field in sk_config_t (rows with a key) */
    uint64_t min, max;
    const char *def;           /* NULL: required (file) or no default; "": optional, empty */
    const char *const *values; /* T_ENUM */
    const char *arg;           /* the value's name in --help, e.g. "N", "DUR" */
    const char *doc;
} sk_option_t;

/* The table, in the order `config check` prints the file's keys. */
extern const sk_option_t sk_options[];
extern const size_t sk_noptions;

/* The row of a command-line option, or NULL. */
const sk_option_t *sk_option_by_id(int id);
/* The row of [section] key, or NULL. */
const sk_option_t *sk_option_by_key(const char *section, const char *key);

/* A parsed value: n for numbers, durations (ms), sizes, modes and enums (the index); s (v
 * itself) for strings. */
typedef struct sk_optval {
    uint64_t n;
    const char *s;
} sk_optval_t;

/* Parses and checks v for row k. from_file: v comes from the configuration file (paths must be
 * absolute there; on the command line they are relative to the working folder). Returns 0, or
 * -EINVAL with the reason in why ("'v' is not a whole number from 1 to 19"). */
int sk_option_parse(const sk_option_t *k, const char *v, bool from_file, sk_optval_t *out, char *why, size_t len);

/* Splits a T_LIST value into at most max names in buf (a copy of v the caller frees).
 * Returns the count, or -EINVAL (why: the bad name, or more than max), or -ENOMEM. */

/* Writes "  --flag ARG   doc (MIN..MAX, default DEF)" lines for every option whose bit is set
 * in mask, in the table's order. */
void sk_option_print_help(uint64_t mask, FILE *f);

/* Writes a duration as the largest whole unit (90s, 5m, 1h, 250ms), and a size likewise
 * (64MiB). */
void sk_option_print_duration(FILE *f, uint64_t ms);
void sk_option_print_size(FILE *f, uint64_t n);

#endif
