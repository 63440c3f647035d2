/*
 * test_logwriter: the per-slot log writer fed through a real pipe by a forked
 * child: plain copies and appends, rotation at the size bound into files that
 * end at line ends (checked against a greedy split of the input, for a large
 * keep, keep 2 and keep 0), a line longer than the bound, input interrupted
 * by signals, and files that cannot be opened or written (all input is still
 * drained, one line is logged per change of state); and sk_log_tail across
 * FILE.1 and FILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/logwriter.h"
#include "unit.h"

/* ---- helpers --------------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void write_fully(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(2);
        p += w;
        n -= (size_t)w;
    }
}

/* Forks a child that writes data into a new pipe in writes of at most step bytes, each ending
 * at a line end (so at most PIPE_BUF bytes each arrive whole), and exits 0. Returns the read end. */
static int feed_start(const char *data, size_t len, size_t step, pid_t *pid)
{
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t c = fork();
    CHECK(c >= 0);
    if (c == 0) {
        close(p[0]);
        size_t off = 0;
        while (off < len) {
            size_t n = len - off < step ? len - off : step;
            while (off + n < len && n > 1 && data[off + n - 1] != '\n')
                n--;
            write_fully(p[1], data + off, n);
            off += n;
        }
        _exit(0);
    }
    close(p[1]);
    *pid = c;
    return p[0];
}

static void child_wait_ok(pid_t pid)
{
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
}

/* Runs the writer on data fed by a child and returns its result. */
static int run_fed(const char *data, size_t len, size_t step, const char *path, uint64_t max, unsigned keep)
{
    pid_t pid;
    int rd = feed_start(data, len, step, &pid);
    int rc = sk_logwriter_run(rd, path, max, keep);
    close(rd);
    child_wait_ok(pid);
    return rc;
}

/* count lines "NNNNNN <letters>\n" of 8 to 8 + spread bytes. */
static char *make_lines(size_t count, size_t spread, uint64_t seed, size_t *lenp)
{
    char *buf = malloc(count * (spread + 9) + 1);
    CHECK(buf);
    size_t len = 0;
    for (size_t i = 0; i < count; i++) {
        len += (size_t)sprintf(buf + len, "%06zu ", i % 1000000);
        size_t n = (size_t)(unit_rand(&seed) % (spread + 1));
        for (size_t k = 0; k < n; k++)
            buf[len++] = (char)('a' + unit_rand(&seed) % 26);
        buf[len++] = '\n';
    }
    *lenp = len;
    return buf;
}

/* Splits data (whole lines, each shorter than max) as the writer must: a new file whenever the
 * next line would take the current one past max. Fills starts[] and returns the number of files. */
static size_t expect_files(const char *data, size_t len, uint64_t max, size_t *starts, size_t cap)
{
    size_t nf = 1, cur = 0, off = 0;
    starts[0] = 0;
    while (off < len) {
        const char *nl = memchr(data + off, '\n', len - off);
        CHECK(nl);
        size_t line = (size_t)(nl - (data + off)) + 1;
        CHECK(line <= max);
        if (cur + line > max) {
            CHECK(nf < cap);
            starts[nf++] = off;
            cur = 0;
        }
        cur += line;
        off += line;
    }
    return nf;
}

static const char *kept_name(const char *path, unsigned k)
{
    static char name[4][256];
    if (k == 0)
        return path;
    snprintf(name[k % 4], sizeof(name[0]), "%s.%u", path, k);
    return name[k % 4];
}

/* Checks that path, path.1 ... hold exactly the last files of the greedy split of data, that
 * no more are kept than keep, and that each is within max and ends at a line end. Returns the
 * number of bytes kept. */
static size_t check_kept(const char *path, const char *data, size_t len, uint64_t max, unsigned keep)
{
    static size_t starts[4096];
    size_t nf = expect_files(data, len, max, starts, 4096);
    size_t kept = nf - 1 < keep ? nf - 1 : keep, total = 0;
    for (size_t k = 0; k <= kept; k++) {
        size_t i = nf - 1 - k, n;
        size_t want = (i + 1 < nf ? starts[i + 1] : len) - starts[i];
        char *got = unit_read_file(kept_name(path, (unsigned)k), &n);
        if (n != want || memcmp(got, data + starts[i], n) != 0)
            unit_fail(__FILE__, __LINE__, "%s: %zu bytes, want %zu bytes from offset %zu", kept_name(path, (unsigned)k),
                      n, want, starts[i]);
        CHECK(n <= max);
        CHECK(n > 0 && got[n - 1] == '\n');
        free(got);
        total += n;
    }
    CHECK(!unit_exists(kept_name(path, (unsigned)kept + 1)));
    CHECK_EQ(total, len - starts[nf - 1 - kept]);
    return total;
}

/* Redirects stderr to a file, to count what the writer logs. */
static int capture_start(const char *name)
{
    fflush(stderr);
    int saved = dup(2);
    CHECK(saved >= 0);
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(dup2(fd, 2) == 2);
    close(fd);
    return saved;
}

static void capture_end(int saved)
{
    fflush(stderr);
    CHECK(dup2(saved, 2) == 2);
    close(saved);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ---- tests ----------------------------------------------------------------- */

TEST(logwriter_copy)
{
    size_t len;
    char *data = make_lines(20000, 80, 1, &len);
    CHECK_EQ(run_fed(data, len, 3000, "log", 0, 3), 0);
    size_t n;
    char *got = unit_read_file("log", &n);
    CHECK_EQ(n, len);
    CHECK(memcmp(got, data, len) == 0);
    CHECK(!unit_exists("log.1"));
    struct stat st;
    CHECK(stat("log", &st) == 0);
    CHECK_EQ(st.st_mode & 0777 & ~0640, 0);
    free(got);

    /* A second run appends. */
    CHECK_EQ(run_fed("more\n", 5, 4096, "log", 0, 3), 0);
    got = unit_read_file("log", &n);
    CHECK_EQ(n, len + 5);
    CHECK(memcmp(got + len, "more\n", 5) == 0);
    free(got);

    /* No input at all: the file is created, empty. */
    CHECK_EQ(run_fed("", 0, 4096, "empty", 1000, 1), 0);
    got = unit_read_file("empty", &n);
    CHECK_EQ(n, 0);
    free(got);
    free(data);
}

TEST(logwriter_rotate_keeps_all)
{
    size_t len;
    char *data = make_lines(4000, 100, 2, &len);
    /* Many small writes and the odd big read: both paths of the cut. */
    CHECK_EQ(run_fed(data, len, 4096, "log", 10000, 100), 0);
    CHECK_EQ(check_kept("log", data, len, 10000, 100), len);
    CHECK(unit_exists("log.10"));

    /* The tail reads across the rotation. */
    char buf[10001]; /* log.1 holds more than 10000 - 110 bytes */
    CHECK_EQ(sk_log_tail("log", buf, sizeof(buf)), 10000);
    CHECK(memcmp(buf, data + len - 10000, 10000) == 0);
    CHECK_EQ(buf[10000], '\0');
    free(data);
}

TEST(logwriter_rotate_keep2)
{
    size_t len;
    char *data = make_lines(4000, 100, 3, &len);
    CHECK_EQ(run_fed(data, len, 1000, "log", 10000, 2), 0);
    CHECK(unit_exists("log") && unit_exists("log.1") && unit_exists("log.2"));
    CHECK(!unit_exists("log.3"));
    size_t kept = check_kept("log", data, len, 10000, 2);
    CHECK(kept < len);               /* the oldest content is gone */
    CHECK(kept > 2 * (10000 - 110)); /* two full files and the current one */
    free(data);
}

TEST(logwriter_rotate_existing_file)
{
    /* What is there already counts toward the bound, and a file that ends at a line end is
     * rotated before a line that would not fit. */
    char old[901];
    memset(old, 'o', 899);
    old[899] = '\n';
    old[900] = '\0';
    unit_write_text("log", old);
    char line[201];
    memset(line, 'n', 199);
    line[199] = '\n';
    line[200] = '\0';
    CHECK_EQ(run_fed(line, 200, 4096, "log", 1000, 1), 0);
    char *got = unit_read_file("log.1", NULL);
    CHECK_STR(got, old);
    free(got);
    got = unit_read_file("log", NULL);
    CHECK_STR(got, line);
    free(got);
}

TEST(logwriter_keep0)
{
    size_t len;
    char *data = make_lines(500, 60, 4, &len);
    CHECK_EQ(run_fed(data, len, 700, "log", 1000, 0), 0);
    CHECK(!unit_exists("log.1"));
    size_t kept = check_kept("log", data, len, 1000, 0);
    CHECK(kept < len);
    free(data);
}

TEST(logwriter_long_line)
{
    /* One write of 3512 bytes (< PIPE_BUF): one read. */
    char data[3520];
    strcpy(data, "short\n");
    memset(data + 6, 'x', 3500);
    strcpy(data + 3506, "\ntail\n");
    CHECK_EQ(strlen(data), 3512);
    CHECK_EQ(run_fed(data, 3512, 4096, "log", 1000, 5), 0);

    char xs[1001];
    memset(xs, 'x', 1000);
    xs[1000] = '\0';
    const char *want[5] = {NULL, xs, xs, xs, "short\n"};
    char last[600];
    memset(last, 'x', 500);
    strcpy(last + 500, "\ntail\n");
    want[0] = last;
    for (unsigned k = 0; k < 5; k++) {
        char *got = unit_read_file(kept_name("log", k), NULL);
        CHECK_STR(got, want[k]);
        free(got);
    }
    CHECK(!unit_exists("log.5"));
}

static volatile sig_atomic_t usr1_count;

static void on_usr1(int sig)
{
    (void)sig;
    usr1_count++;
}

TEST(logwriter_eintr)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1; /* no SA_RESTART: the blocked read fails with EINTR */
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);

    size_t len;
    char *data = make_lines(40, 30, 5, &len);
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t parent = getpid(), pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        const char *s = data;
        for (const char *nl; (nl = memchr(s, '\n', (size_t)(data + len - s))) != NULL; s = nl + 1) {
            kill(parent, SIGUSR1);
            sleep_ms(3);
            write_fully(p[1], s, (size_t)(nl + 1 - s));
        }
        _exit(0);
    }
    close(p[1]);
    CHECK_EQ(sk_logwriter_run(p[0], "log", 400, 3), 0);
    close(p[0]);
    child_wait_ok(pid);
    CHECK(usr1_count > 0);
    /* One line per read: a line that does not fit starts the next file whole. */
    CHECK_EQ(check_kept("log", data, len, 400, 3), len);
    free(data);
}

TEST(logwriter_unwritable_drains)
{
    /* 1 MiB, far more than a pipe holds: the child completes only if everything is read. */
    size_t len = 1 << 20;
    char *data = malloc(len);
    CHECK(data);
    for (size_t i = 0; i < len; i++)
        data[i] = i % 64 == 63 ? '\n' : 'd';
    int saved = capture_start("stderr.txt");
    int rc = run_fed(data, len, 8192, "nodir/log", 100000, 2);
    capture_end(saved);
    CHECK_EQ(rc, -ENOENT);
    CHECK(!unit_exists("nodir"));

    char *err = unit_read_file("stderr.txt", NULL);
    CHECK_EQ(count_lines(err), 1);
    CHECK(strstr(err, "nodir/log") != NULL);
    CHECK(strstr(err, strerror(ENOENT)) != NULL);
    free(err);
    free(data);
}

/* Issue 10: a link planted in place of the log (in a slot a worker's container can write) is
 * never written through; the input is drained and the linked file stays as it was. */
TEST(logwriter_never_writes_through_a_link)
{
    CHECK_EQ(symlink("victim", "log"), 0);
    FILE *f = fopen("victim", "w");
    CHECK(f);
    fputs("precious\n", f);
    fclose(f);
    int saved = capture_start("stderr.txt");
    int rc = run_fed("node output\n", 12, 4096, "log", 100000, 2);
    capture_end(saved);
    CHECK_EQ(rc, -ELOOP);
    size_t n;
    char *got = unit_read_file("victim", &n);
    CHECK_EQ(n, 9);
    CHECK(memcmp(got, "precious\n", 9) == 0);
    free(got);
}

TEST(logwriter_write_fails_enospc)
{
    if (access("/dev/full", W_OK) != 0)
        unit_skip("no writable /dev/full");
    /* Opening works, every write fails; a retry after a second fails again, silently. */
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        static char block[65536];
        memset(block, 'z', sizeof(block));
        for (int i = 0; i < 16; i++)
            write_fully(p[1], block, sizeof(block));
        for (int i = 0; i < 13; i++) {
            sleep_ms(100);
            write_fully(p[1], "later\n", 6);
        }
        _exit(0);
    }
    close(p[1]);
    int saved = capture_start("stderr.txt");
    int rc = sk_logwriter_run(p[0], "/dev/full", 0, 0);
    capture_end(saved);
    close(p[0]);
    child_wait_ok(pid);
    CHECK_EQ(rc, -ENOSPC);
    char *err = unit_read_file("stderr.txt", NULL);
    CHECK_EQ(count_lines(err), 1);
    CHECK(strstr(err, "/dev/full") != NULL);
    CHECK(strstr(err, strerror(ENOSPC)) != NULL);
    free(err);
}

TEST(logwriter_recovers)
{
    /* The folder appears a while after the first failure: the writer opens the file on a retry
     * (at most once a second), logs that it writes again and how much it dropped, and still
     * returns the first error. */
    size_t early_len, late_len;
    char *early = make_lines(100, 40, 6, &early_len);
    char *late = make_lines(30, 40, 7, &late_len);
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        write_fully(p[1], early, early_len);
        sleep_ms(300);
        if (mkdir("d", 0755) != 0)
            _exit(3);
        const char *s = late;
        for (const char *nl; (nl = memchr(s, '\n', (size_t)(late + late_len - s))) != NULL; s = nl + 1) {
            sleep_ms(50);
            write_fully(p[1], s, (size_t)(nl + 1 - s));
        }
        _exit(0);
    }
    close(p[1]);
    int saved = capture_start("stderr.txt");
    int rc = sk_logwriter_run(p[0], "d/log", 0, 0);
    capture_end(saved);
    close(p[0]);
    child_wait_ok(pid);
    CHECK_EQ(rc, -ENOENT);

    char *err = unit_read_file("stderr.txt", NULL);
    CHECK_EQ(count_lines(err), 2);
    char *second = strchr(err, '\n') + 1;
    const char *why = strstr(err, strerror(ENOENT));
    CHECK(strstr(err, "d/log") < second && why != NULL && why < second);
    const char *again = strstr(second, "d/log: writing again, ");
    CHECK(again != NULL);
    unsigned long long dropped = 0;
    CHECK(sscanf(again, "d/log: writing again, %llu bytes were dropped", &dropped) == 1);

    size_t n;
    char *got = unit_read_file("d/log", &n);
    CHECK(n > 0 && n < late_len);
    CHECK_EQ(dropped + n, early_len + late_len);
    CHECK(memcmp(got, late + late_len - n, n) == 0);
    free(got);
    free(err);
    free(early);
    free(late);
}

TEST(logwriter_tail)
{
    char buf[64];
    CHECK_EQ(sk_log_tail("log", buf, sizeof(buf)), -ENOENT);

    unit_write_text("log.1", "one\ntwo\n");
    CHECK_EQ(sk_log_tail("log", buf, sizeof(buf)), 8); /* just rotated: path.1 alone */
    CHECK_STR(buf, "one\ntwo\n");

    unit_write_text("log", "three\n");
    CHECK_EQ(sk_log_tail("log", buf, sizeof(buf)), 14);
    CHECK_STR(buf, "one\ntwo\nthree\n");
    CHECK_EQ(sk_log_tail("log", buf, 9), 8);
    CHECK_STR(buf, "o\nthree\n");
    CHECK_EQ(sk_log_tail("log", buf, 7), 6);
    CHECK_STR(buf, "three\n");
    CHECK_EQ(sk_log_tail("log", buf, 4), 3);
    CHECK_STR(buf, "ee\n");
    CHECK_EQ(sk_log_tail("log", buf, 1), 0);
    CHECK_STR(buf, "");

    CHECK(unlink("log.1") == 0);
    CHECK_EQ(sk_log_tail("log", buf, sizeof(buf)), 6);
    CHECK_STR(buf, "three\n");
    CHECK(unlink("log") == 0);
    CHECK_EQ(sk_log_tail("log", buf, 1), -ENOENT);
}
