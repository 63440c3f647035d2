/*
 * unit: a tiny test harness in the style of libuv's runner, plus the helpers
 * that several test files share.
 *
 * TEST(name) { ... } defines a test and registers it before main runs. The
 * runner (main.c) runs every test in its own forked child, inside a fresh
 * temporary directory that is the child's working directory, with a 60 s
 * alarm. A failed CHECK prints file:line and the expression to stderr and
 * ends the test (the child exits 1); processes a test forks may use CHECK too.
 */
#ifndef SLOTKEEPER_UNIT_H
#define SLOTKEEPER_UNIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

typedef void (*unit_fn)(void);

void unit_register(const char *name, unit_fn fn, const char *file);

#define TEST(name)                                                                                                     \
    static void unit_test_##name(void);                                                                                \
    __attribute__((constructor)) static void unit_register_##name(void)                                                \
    {                                                                                                                  \
        unit_register(#name, unit_test_##name, __FILE__);                                                              \
    }                                                                                                                  \
    static void unit_test_##name(void)

/* Report a failed check and end the test; never returns. */
_Noreturn void unit_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A diagnostic line ("# ...") on stderr that does not fail the test. */
void unit_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The test cannot run here (a missing tool, not root, ...): ends it, and the runner reports
 * "ok N - name # SKIP reason", which tests/run.sh counts as a skip, not a pass. Call it from
 * the test's own process (not from a thread or a child it started), before it checks anything. */
_Noreturn void unit_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            unit_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                                                         \
    } while (0)

#define CHECK_EQ(a, b)                                                                                                 \
    do {                                                                                                               \
        long long unit_a_ = (long long)(a), unit_b_ = (long long)(b);                                                  \
        if (unit_a_ != unit_b_)                                                                                        \
            unit_fail(__FILE__, __LINE__, "CHECK_EQ(%s, %s): %lld != %lld", #a, #b, unit_a_, unit_b_);                 \
    } while (0)

#define CHECK_STR(a, b)                                                                                                \
    do {                                                                                                               \
        const char *unit_sa_ = (a), *unit_sb_ = (b);                                                                   \
        if (!unit_sa_ || !unit_sb_ || strcmp(unit_sa_, unit_sb_))                                                      \
            unit_fail(__FILE__, __LINE__, "CHECK_STR(%s, %s): \"%s\" != \"%s\"", #a, #b,                               \
                      unit_sa_ ? unit_sa_ : "(null)", unit_sb_ ? unit_sb_ : "(null)");                                 \
    } while (0)

/* Like CHECK_EQ(rc, 0) for calls that fill in an sk_err_t: also prints the error record. */
#define CHECK_OK(rc, err)                                                                                              \
    do {                                                                                                               \
        long long unit_rc_ = (long long)(rc);                                                                          \
        if (unit_rc_ != 0)                                                                                             \
            unit_fail(__FILE__, __LINE__, "CHECK_OK(%s): %lld: %s: %s", #rc, unit_rc_, (err)->path, (err)->msg);       \
    } while (0)

/* ---- shared helpers (helpers.c) ---------------------------------------- */

/* A deterministic pseudo-random generator (splitmix64). */
uint64_t unit_rand(uint64_t *state);
void unit_fill_random(void *buf, size_t len, uint64_t *state);

/* Writes / reads a whole file relative to the working directory; CHECK-fails on error. */
void unit_write_file(const char *path, const void *data, size_t len);
void unit_write_text(const char *path, const char *text);
/* Malloc'd, NUL-terminated contents; *len may be NULL. */
char *unit_read_file(const char *path, size_t *len);
bool unit_exists(const char *path);
/* Absolute path of name in the working directory (static buffer per call slot 0..3). */
const char *unit_abs(const char *name, int slot);

/* Compares two trees (or two files, or two links) recursively: types, modes, sizes,
 * contents, link targets and, when mtimes is set, modification times of the roots
 * and everything below them. Names listed in skip (NULL-terminated, may be NULL)
 * are ignored directly below the roots. CHECK-fails naming the first difference. */
void unit_compare_trees(const char *a, const char *b, bool mtimes, const char *const *skip);

/* A pipe-synchronised helper process: the child runs fn(arg) (which should call
 * unit_child_ready once it holds what it must hold), then waits until the parent
 * calls unit_child_release, then exits 0. */
typedef struct unit_child {
    pid_t pid;
    int ready_rd;   /* parent reads the child's ready byte here */
    int release_wr; /* parent closes this to release the child */
} unit_child_t;

void unit_child_start(unit_child_t *c, void (*fn)(void *arg, int ready_fd), void *arg);
/* Called by fn in the child: tells the parent it is ready and may pass a message. */
void unit_child_ready(int ready_fd, const char *msg);
/* Parent: waits for the ready byte (and message into buf, if given). */
void unit_child_wait_ready(unit_child_t *c, char *buf, size_t len);
/* Parent: lets the child exit and reaps it; returns its wait status. */
int unit_child_release(unit_child_t *c);
/* Parent: SIGKILLs the child and reaps it. */
void unit_child_kill(unit_child_t *c);

#endif
