/*
 * fuzz_control: libFuzzer target for the control protocol (supervisor/daemon/control.c): the daemon's
 * request decoding (line framing in a fixed buffer, JSON, "v"/"cmd" checks, oversized lines,
 * answers given now or later, hang-ups) and the CLI's answer decoding (sk_ctl_call).
 *
 * The real server runs on a libuv loop in this process, on a Unix socket in a private temp
 * folder; a client socket in the same thread sends the input and reads the answers, so the
 * decoder is fuzzed exactly as the daemon runs it, with no change to control.c.
 *
 * Input: byte 0 chooses how, the rest is the byte stream.
 *   byte 0 & 3:     0, 1  the client sends the stream, shuts down its side and reads every
 *                         answer until the server closes; the number of answers must be the
 *                         number of request lines (each answered, in order, even the bad ones),
 *                         or, after a line longer than SK_CTL_MAX_LINE, the lines before it plus
 *                         one error; every answer is a JSON object with "v":1 and "ok".
 *                   2     the same, but the client hangs up after (byte 0 >> 6) answers and the
 *                         server is closed (sk_ctl_close) with requests still owed.
 *                   3     the stream is the daemon's answer to sk_ctl_call (client side): it
 *                         must return 0 with a JSON object, or an error with a one-line reason.
 *   (byte 0 >> 2) & 15:   0: the stream goes in one send; n: in sends of 1 << (n - 1) bytes
 *                         (at least 1/256 of the stream), with the server's loop run between.
 * The handler answers by "cmd": "later" after the loop turns once more (a timer), "fail" with
 * sk_ctl_reply_error, "echo" with the request itself, "null" with no object, "array" with
 * something that is not an object; anything else at once.
 *
 * Seeds: tests/fuzz/corpus/control/ (the requests of the CLI and of t_daemon.sh, pipelined,
 * half-sent, oversized, garbage; daemon answers for mode 3).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "fuzz_common.h"
#include "daemon/control.h"

#define MAX_HELD 256

static uv_loop_t loop;
static sk_ctl_server_t *srv;
static uv_timer_t later;
static sk_ctl_req_t *held[MAX_HELD];
static size_t nheld;
static char spath[PATH_MAX], cpath[PATH_MAX];
static int cli_listener = -1;
static bool server_done;

static void on_later(uv_timer_t *t)
{
    size_t n = nheld;
    nheld = 0;
    for (size_t i = 0; i < n; i++)
        sk_ctl_reply(held[i], json_pack("{s:b}", "later", 1));
}

static void handler(sk_ctl_req_t *req, const char *cmd, json_t *request, void *arg)
{
    json_t *v = json_object_get(request, "v"), *c = json_object_get(request, "cmd");
    if (!json_is_object(request) || !json_is_integer(v) || json_integer_value(v) != SK_CTL_VERSION ||
        !json_is_string(c) || strcmp(json_string_value(c), cmd))
        fz_fail("the handler got a request the decoder should have refused");
    if (!strcmp(cmd, "later") && nheld < MAX_HELD) {
        held[nheld++] = req;
        uv_timer_start(&later, on_later, 0, 0);
    } else if (!strcmp(cmd, "fail")) {
        sk_ctl_reply_error(req, 3, "it failed: %s", cmd);
    } else if (!strcmp(cmd, "echo")) {
        sk_ctl_reply(req, json_deep_copy(request));
    } else if (!strcmp(cmd, "null")) {
        sk_ctl_reply(req, NULL);
    } else if (!strcmp(cmd, "array")) {
        sk_ctl_reply(req, json_array());
    } else {
        sk_ctl_reply(req, json_pack("{s:s}", "cmd", cmd));
    }
}

static void on_server_done(void *arg)
{
    server_done = true;
    /* Answers owed when the server went away are dropped when given. */
    on_later(NULL);
}

static void server_start(void)
{
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_ctl_listen(&loop, spath, 0600, handler, NULL, &srv, &err) < 0) {
        fprintf(stderr, "fuzz_control: %s: %s\n", err.path, err.msg);
        exit(1);
    }
}

static void server_restart(void)
{
    server_done = false;
    sk_ctl_close(srv, on_server_done, NULL);
    srv = NULL;
    while (!server_done)
        uv_run(&loop, UV_RUN_ONCE);
    uv_run(&loop, UV_RUN_NOWAIT);
    server_start();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init("control");
    signal(SIGPIPE, SIG_IGN);
    snprintf(spath, sizeof(spath), "%s/ctl.sock", fz_dir);
    snprintf(cpath, sizeof(cpath), "%s/cli.sock", fz_dir);
    if (strlen(cpath) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fprintf(stderr, "fuzz_control: %s: TMPDIR too long for a socket path\n", cpath);
        exit(1);
    }
    uv_loop_init(&loop);
    uv_timer_init(&loop, &later);
    server_start();

    /* The fake daemon of mode 3: a plain listening socket. */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", cpath);
    cli_listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (cli_listener < 0 || bind(cli_listener, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(cli_listener, 16) < 0) {
        perror(cpath);
        exit(1);
    }
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Answers the server must give for stream s: one per line, a last line without its newline
 * included; a line of SK_CTL_MAX_LINE bytes or more ends it with one error. */
static size_t expected_answers(const uint8_t *s, size_t n, bool *oversize)
{
    size_t count = 0, start = 0;
    *oversize = false;
    for (size_t i = 0; i <= n; i++) {
        bool end = i == n;
        if (!end && s[i] != '\n')
            continue;
        size_t len = i - start;
        if (end && len == 0)
            break;
        count++;
        if (len >= SK_CTL_MAX_LINE) {
            *oversize = true;
            break;
        }
        start = i + 1;
    }
    return count;
}

/* Checks the complete answer lines in buf[0..*len), removes them, and counts them. */
static void take_answers(char *buf, size_t *len, size_t *answers)
{
    char *nl;
    while ((nl = memchr(buf, '\n', *len))) {
        size_t n = (size_t)(nl - buf);
        json_error_t jerr;
        json_t *a = json_loadb(buf, n, 0, &jerr);
        json_t *v = a ? json_object_get(a, "v") : NULL;
        if (!json_is_object(a) || !json_is_integer(v) || json_integer_value(v) != SK_CTL_VERSION ||
            !json_object_get(a, "ok"))
            fz_fail("answer %zu is not an object with \"v\":1 and \"ok\": %.*s", *answers, (int)n, buf);
        json_decref(a);
        (*answers)++;
        memmove(buf, nl + 1, *len - n - 1);
        *len -= n + 1;
    }
}

static void server_mode(const uint8_t *s, size_t n, unsigned frag_shift, bool hang_up, size_t hang_after)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", spath);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("connect");
        abort();
    }
    bool oversize;
    size_t want = expected_answers(s, n, &oversize);
    size_t frag = frag_shift ? (size_t)1 << (frag_shift - 1) : n;
    if (frag < n / 256 + 1)
        frag = n / 256 + 1;
    size_t sent = 0, answers = 0, len = 0;
    bool wr_done = false, eof = false;
    static char buf[8 << 20];
    double deadline = now() + 20;
    while (!eof) {
        uv_run(&loop, UV_RUN_NOWAIT);
        bool progress = false;
        if (!wr_done) {
            size_t k = n - sent < frag ? n - sent : frag;
            ssize_t w = k ? send(fd, s + sent, k, MSG_NOSIGNAL) : 0;
            if (w > 0) {
                sent += (size_t)w;
                progress = true;
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                wr_done = true; /* the server closed: an oversized line */
            }
            if (sent == n && !wr_done) {
                shutdown(fd, SHUT_WR);
                wr_done = true;
            }
        }
        ssize_t r = recv(fd, buf + len, sizeof(buf) - len, 0);
        if (r > 0) {
            len += (size_t)r;
            take_answers(buf, &len, &answers);
            progress = true;
        } else if (r == 0 || (r < 0 && errno == ECONNRESET)) {
            eof = true;
        } else if (r < 0 && errno != EAGAIN && errno != EINTR) {
            perror("recv");
            abort();
        }
        if (len == sizeof(buf))
            fz_fail("an answer longer than %zu bytes", sizeof(buf));
        if (hang_up && wr_done && answers >= hang_after)
            break;
        if (now() > deadline)
            fz_fail("the server neither answered nor closed within 20 s (%zu of %zu answers)", answers, want);
        if (!progress) {
            struct pollfd pf[2] = {{.fd = fd, .events = POLLIN | (wr_done ? 0 : POLLOUT)},
                                   {.fd = uv_backend_fd(&loop), .events = POLLIN}};
            int t = uv_backend_timeout(&loop);
            poll(pf, 2, t < 0 || t > 100 ? 100 : t);
        }
    }
    close(fd);
    if (hang_up) {
        for (int i = 0; i < 4; i++)
            uv_run(&loop, UV_RUN_NOWAIT);
        server_restart();
        return;
    }
    if (len)
        fz_fail("%zu bytes after the last answer line", len);
    if (answers != want)
        fz_fail("%zu answers for %zu request lines%s", answers, want, oversize ? " (one oversized)" : "");
    uv_run(&loop, UV_RUN_NOWAIT); /* the server closes its side */
}

struct fake {
    const uint8_t *s;
    size_t n;
};

static void *fake_daemon(void *arg)
{
    struct fake *f = arg;
    int c = accept4(cli_listener, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return NULL;
    char req[4096];
    (void)!read(c, req, sizeof(req)); /* the request line (short: one read takes it) */
    for (size_t off = 0; off < f->n;) {
        ssize_t w = send(c, f->s + off, f->n - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(c);
    return NULL;
}

static void client_mode(const uint8_t *s, size_t n)
{
    struct fake f = {s, n};
    pthread_t t;
    if (pthread_create(&t, NULL, fake_daemon, &f))
        abort();
    json_t *req = json_pack("{s:s}", "cmd", "status"), *answer = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    int rc = sk_ctl_call(cpath, req, 20000, &answer, &err);
    pthread_join(t, NULL);
    json_decref(req);
    if (rc == 0 && !json_is_object(answer))
        fz_fail("sk_ctl_call returned 0 without an object");
    if (rc < 0 && (answer || rc != err.code || !fz_one_line(err.msg)))
        fz_fail("sk_ctl_call failed (%d) without a one-line reason", rc);
    if (rc == -ETIMEDOUT)
        fz_fail("sk_ctl_call timed out on a daemon that answered and hung up");
    json_decref(answer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned mode = data[0] & 3, frag = (data[0] >> 2) & 15, after = data[0] >> 6;
    if (mode == 3)
        client_mode(data + 1, size - 1);
    else
        server_mode(data + 1, size - 1, frag, mode == 2, after);
    return 0;
}
