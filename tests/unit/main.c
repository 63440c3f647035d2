/*
 * main: the unit test runner. Runs every registered test (or the ones named on
 * the command line) in its own forked child and process group, inside a fresh
 * temporary directory under $TMPDIR (or /tmp) with a 60 s alarm, and prints
 * TAP: "1..N", one "ok K - name" / "not ok K - name" per test ("ok K - name
 * # SKIP reason" for a test that called unit_skip) and a last line
 * "# unit: P passed, F failed, S skipped". A passing or skipped test's directory
 * is removed; a failing test's is kept and its path printed. Exits 1 if any
 * test failed. Built with -DSK_COVERAGE (build/cov/), a test's process writes
 * its coverage counters before it ends, as _exit would not.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "slotkeeper/fsutil.h"
#include "slotkeeper/log.h"
#include "unit.h"

#define UNIT_MAX_TESTS 512
/* A test that calls unit_skip exits with this status after writing its reason to skip_path. */
#define UNIT_SKIP_STATUS 77

#ifdef SK_COVERAGE
void __gcov_dump(void);
#define unit_exit(status) (__gcov_dump(), _exit(status))
#else
#define unit_exit(status) _exit(status)
#endif

#ifndef UNIT_TIMEOUT_S
#define UNIT_TIMEOUT_S 60 /* seconds per test */
#endif

struct unit_test {
    const char *name;
    const char *file;
    unit_fn fn;
};

static struct unit_test tests[UNIT_MAX_TESTS];
static size_t ntests;
/* The running test's skip file (absolute: a test may change its directory). */
static char skip_path[4200];

void unit_register(const char *name, unit_fn fn, const char *file)
{
    if (ntests == UNIT_MAX_TESTS) {
        fprintf(stderr, "unit: too many tests (raise UNIT_MAX_TESTS)\n");
        abort();
    }
    tests[ntests++] = (struct unit_test){.name = name, .file = file, .fn = fn};
}

void unit_fail(const char *file, int line, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "# %s:%d: %s failed\n", file, line, msg);
    fflush(stderr);
    unit_exit(1);
}

void unit_skip(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    FILE *f = fopen(skip_path, "w");
    if (f) {
        fputs(msg, f);
        fclose(f);
    }
    fflush(stdout);
    fflush(stderr);
    unit_exit(UNIT_SKIP_STATUS);
}

/* The reason a skipped test left in skip_path, one line (into buf). */
static void read_skip_reason(char *buf, size_t len)
{
    snprintf(buf, len, "no reason given");
    FILE *f = fopen(skip_path, "r");
    if (!f)
        return;
    if (!fgets(buf, (int)len, f))
        snprintf(buf, len, "no reason given");
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
}

void unit_note(const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "# %s\n", msg);
}

static int cmp_test(const void *a, const void *b)
{
    const struct unit_test *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : strcmp(x->name, y->name);
}

static const struct unit_test *find_test(const char *name)
{
    for (size_t i = 0; i < ntests; i++)
        if (!strcmp(tests[i].name, name))
            return &tests[i];
    return NULL;
}

enum unit_result { UNIT_PASS, UNIT_FAIL, UNIT_SKIP };

/* Runs one test; says whether it passed, failed or was skipped (then with its reason in why). */
static enum unit_result run_one(const struct unit_test *t, const char *base, double *secs, char *why, size_t whylen)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/sk-unit-%s-XXXXXX", base, t->name);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "# %s: mkdtemp %s: %s\n", t->name, dir, strerror(errno));
        return UNIT_FAIL;
    }
    snprintf(skip_path, sizeof(skip_path), "%s/.unit-skip", dir);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "# %s: fork: %s\n", t->name, strerror(errno));
        return UNIT_FAIL;
    }
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGALRM, SIG_DFL);
        signal(SIGPIPE, SIG_IGN); /* a helper process that died must not kill the test */
        alarm(UNIT_TIMEOUT_S);
        if (chdir(dir) < 0) {
            fprintf(stderr, "# %s: chdir %s: %s\n", t->name, dir, strerror(errno));
            unit_exit(1);
        }
        umask(022);
        t->fn();
        fflush(stdout);
        fflush(stderr);
        unit_exit(0);
    }
    setpgid(pid, pid);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    /* Whatever the test forked and left behind goes with it. */
    kill(-pid, SIGKILL);
    while (waitpid(-pid, NULL, 0) > 0 || errno == EINTR)
        ;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    bool skip = WIFEXITED(status) && WEXITSTATUS(status) == UNIT_SKIP_STATUS;
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (skip)
        read_skip_reason(why, whylen);
    if (!ok && !skip) {
        if (WIFSIGNALED(status))
            fprintf(stderr, "# %s: killed by signal %d%s\n", t->name, WTERMSIG(status),
                    WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
        else
            fprintf(stderr, "# %s: exit status %d\n", t->name, WEXITSTATUS(status));
        printf("# kept %s\n", dir);
        return UNIT_FAIL;
    }
    int rc = sk_rm_rf_at(AT_FDCWD, dir);
    if (rc < 0)
        fprintf(stderr, "# %s: cannot remove %s: %s\n", t->name, dir, strerror(-rc));
    return skip ? UNIT_SKIP : UNIT_PASS;
}

int main(int argc, char **argv)
{
    log_init("slotkeeper", "unit", SK_LOG_WARN);
    qsort(tests, ntests, sizeof(tests[0]), cmp_test);

    const struct unit_test **run = calloc(ntests + (size_t)argc, sizeof(*run));
    size_t nrun = 0;
    if (!run)
        return 2;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            if (!strcmp(argv[i], "-l") || !strcmp(argv[i], "--list")) {
                for (size_t k = 0; k < ntests; k++)
                    printf("%s\n", tests[k].name);
                free(run);
                return 0;
            }
            const struct unit_test *t = find_test(argv[i]);
            if (!t) {
                fprintf(stderr, "unit: no test named '%s' (use --list)\n", argv[i]);
                free(run);
                return 2;
            }
            run[nrun++] = t;
        }
    } else {
        for (size_t k = 0; k < ntests; k++)
            run[nrun++] = &tests[k];
    }

    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    printf("1..%zu\n", nrun);
    size_t passed = 0, failed = 0, skipped = 0;
    for (size_t k = 0; k < nrun; k++) {
        double secs = 0;
        char why[1024] = "";
        enum unit_result r = run_one(run[k], base, &secs, why, sizeof(why));
        if (r == UNIT_PASS)
            passed++;
        else if (r == UNIT_FAIL)
            failed++;
        else
            skipped++;
        if (r == UNIT_SKIP)
            printf("ok %zu - %s # SKIP %s\n", k + 1, run[k]->name, why);
        else
            printf("%s %zu - %s\n", r == UNIT_PASS ? "ok" : "not ok", k + 1, run[k]->name);
        if (secs >= 5.0)
            printf("# %s took %.1f s\n", run[k]->name, secs);
        fflush(stdout);
    }
    printf("# unit: %zu passed, %zu failed, %zu skipped\n", passed, failed, skipped);
    free(run);
    return failed ? 1 : 0;
}
