/*
 * test_control: the control socket on real Unix sockets. The server runs on a
 * libuv loop in the test process; the clients (sk_ctl_call, or raw sockets that
 * speak the protocol line by line) run in a thread of their own and tell the
 * loop when they are done, which then closes the server. Covers answers given
 * at once and later, pipelined requests, malformed and oversized lines, hang-ups
 * before a late answer, answers given after sk_ctl_close, stale and live socket
 * files, the socket's mode, idle and client limits, a client that does not read,
 * the peer check, and the client's errors. Under ASan every test ends with a leak
 * check of its own (the runner's _exit would skip LSan's).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/control.h"
#include "unit.h"

#if defined(__SANITIZE_ADDRESS__)
#define CTL_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CTL_LSAN 1
#endif
#endif
#ifdef CTL_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#define SOCK    "ctl.sock"
#define CALL_MS 10000 /* generous: only a hang would reach it */

/* ---- fixture: a server on a loop, a client thread ------------------------- */

struct fx {
    uv_loop_t loop;
    sk_ctl_server_t *srv;
    uv_async_t finished;  /* the client thread is done: close the server */
    uv_timer_t defer;     /* answers "defer" 100 ms later */
    sk_ctl_req_t *held;   /* a request whose answer is owed */
    sk_ctl_req_t *waiter; /* "after_defer": answered once a deferred answer has been given */
    int deferred_given;
    bool close_on_hold;     /* "hold" closes the server from inside the handler */
    bool reply_after_close; /* ... and then answers at once */
    int requests;           /* requests the handler saw */
    int ndone;              /* done() calls */
    char path[PATH_MAX];
    void (*client)(struct fx *);
    pthread_t thread;
};

static void leak_check(void)
{
#ifdef CTL_LSAN
    __lsan_do_leak_check();
#endif
}

static void on_done(void *arg)
{
    struct fx *fx = arg;
    fx->ndone++;
    /* An answer given after the server is gone must be dropped safely. */
    if (fx->held) {
        sk_ctl_req_t *r = fx->held;
        fx->held = NULL;
        sk_ctl_reply(r, json_pack("{s:b}", "late", 1));
    }
}

static void on_defer(uv_timer_t *t)
{
    struct fx *fx = t->data;
    sk_ctl_req_t *r = fx->held;
    fx->held = NULL;
    CHECK(r != NULL);
    sk_ctl_reply(r, json_pack("{s:b}", "deferred", 1));
    fx->deferred_given++;
    if (fx->waiter) {
        r = fx->waiter;
        fx->waiter = NULL;
        sk_ctl_reply(r, json_pack("{s:b}", "after", 1));
    }
}

static void handler(sk_ctl_req_t *req, const char *cmd, json_t *request, void *arg)
{
    struct fx *fx = arg;
    fx->requests++;
    pid_t pid = 0;
    uid_t uid = (uid_t)-1;
    sk_ctl_req_peer(req, &pid, &uid);
    CHECK_EQ(pid, getpid()); /* the clients are threads of this process */
    CHECK_EQ(uid, geteuid());
    if (!strcmp(cmd, "status")) {
        sk_ctl_reply(req, json_pack("{s:s,s:i}", "state", "running", "n", fx->requests));
    } else if (!strcmp(cmd, "echo")) {
        sk_ctl_reply(req, json_pack("{s:O?}", "echo", json_object_get(request, "arg")));
    } else if (!strcmp(cmd, "fail")) {
        sk_ctl_reply_error(req, 3, "it failed: %s", "because");
    } else if (!strcmp(cmd, "big")) {
        size_t n = 1u << 20;
        char *s = malloc(n + 1);
        CHECK(s != NULL);
        memset(s, 'b', n);
        s[n] = '\0';
        sk_ctl_reply(req, json_pack("{s:s}", "big", s));
        free(s);
    } else if (!strcmp(cmd, "defer")) {
        CHECK(fx->held == NULL);
        fx->held = req;
        uv_timer_start(&fx->defer, on_defer, 100, 0);
    } else if (!strcmp(cmd, "after_defer")) {
        if (!fx->deferred_given)
            fx->waiter = req;
        else
            sk_ctl_reply(req, json_pack("{s:b}", "after", 1));
    } else if (!strcmp(cmd, "hold")) {
        CHECK(fx->held == NULL);
        fx->held = req;
        if (fx->close_on_hold) {
            sk_ctl_close(fx->srv, on_done, fx);
            fx->srv = NULL;
            if (fx->reply_after_close) {
                fx->held = NULL;
                sk_ctl_reply(req, json_pack("{s:b}", "late", 1));
            }
        }
    } else {
        sk_ctl_reply_error(req, 2, "unknown command %s", cmd);
    }
}

static void fx_init(struct fx *fx)
{
    memset(fx, 0, sizeof(*fx));
    CHECK_EQ(uv_loop_init(&fx->loop), 0);
    CHECK_EQ(uv_timer_init(&fx->loop, &fx->defer), 0);
    fx->defer.data = fx;
    snprintf(fx->path, sizeof(fx->path), "%s", unit_abs(SOCK, 0));
}

static void fx_listen(struct fx *fx, unsigned mode)
{
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_ctl_listen(&fx->loop, fx->path, mode, handler, fx, &fx->srv, &err), &err);
    CHECK(fx->srv != NULL);
}

static void on_finished(uv_async_t *a)
{
    struct fx *fx = a->data;
    uv_close((uv_handle_t *)&fx->finished, NULL);
    uv_close((uv_handle_t *)&fx->defer, NULL); /* a deferred answer not given yet is given in on_done */
    if (fx->srv) {
        sk_ctl_close(fx->srv, on_done, fx);
        fx->srv = NULL;
    }
}

static void *client_main(void *arg)
{
    struct fx *fx = arg;
    fx->client(fx);
    uv_async_send(&fx->finished);
    return NULL;
}

/* Runs client in a thread while the loop serves; then checks that the server closed cleanly. */
static void fx_run(struct fx *fx, void (*client)(struct fx *))
{
    fx->client = client;
    CHECK_EQ(uv_async_init(&fx->loop, &fx->finished, on_finished), 0);
    fx->finished.data = fx;
    CHECK_EQ(pthread_create(&fx->thread, NULL, client_main, fx), 0);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    CHECK_EQ(pthread_join(fx->thread, NULL), 0);
    CHECK_EQ(fx->ndone, 1);
    CHECK(fx->held == NULL);
    CHECK(!unit_exists(SOCK));
    CHECK_EQ(uv_loop_close(&fx->loop), 0);
    leak_check();
}

/* ---- client helpers (run in the client thread) ---------------------------- */

static json_t *call(struct fx *fx, const char *json)
{
    json_error_t jerr;
    json_t *req = json_loads(json, 0, &jerr);
    CHECK(req != NULL);
    json_t *ans = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_ctl_call(fx->path, req, CALL_MS, &ans, &err), &err);
    json_decref(req);
    CHECK(json_is_object(ans));
    CHECK_EQ(json_integer_value(json_object_get(ans, "v")), 1);
    return ans;
}

static int raw_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    CHECK(strlen(path) < sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void raw_send(int fd, const char *data, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        CHECK(w > 0);
        data += w;
        n -= (size_t)w;
    }
}

static void raw_sends(int fd, const char *text)
{
    raw_send(fd, text, strlen(text));
}

/* One answer line, without its newline (malloc'd), or NULL if the server closed first. */
static char *raw_line(int fd)
{
    size_t cap = 256, len = 0;
    char *buf = malloc(cap);
    CHECK(buf != NULL);
    for (;;) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0 || (r < 0 && errno == ECONNRESET)) {
            CHECK_EQ(len, 0); /* never half an answer */
            free(buf);
            return NULL;
        }
        CHECK(r == 1);
        if (ch == '\n')
            break;
        if (len + 2 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            CHECK(buf != NULL);
        }
        buf[len++] = ch;
    }
    buf[len] = '\0';
    return buf;
}

static json_t *raw_answer(int fd)
{
    char *line = raw_line(fd);
    CHECK(line != NULL);
    json_error_t jerr;
    json_t *ans = json_loads(line, 0, &jerr);
    if (!ans)
        unit_fail(__FILE__, __LINE__, "answer is not JSON: %s", line);
    free(line);
    CHECK(json_is_object(ans));
    CHECK_EQ(json_integer_value(json_object_get(ans, "v")), 1);
    return ans;
}

/* The server closes the connection without another answer. */
static void raw_expect_close(int fd)
{
    CHECK(raw_line(fd) == NULL);
}

static bool ans_ok(json_t *ans)
{
    return json_is_true(json_object_get(ans, "ok"));
}

static const char *ans_str(json_t *ans, const char *key)
{
    return json_string_value(json_object_get(ans, key));
}

static long long ans_int(json_t *ans, const char *key)
{
    return json_integer_value(json_object_get(ans, key));
}

/* Checks an error answer with the given exit code whose message contains needle. */
static void check_error(json_t *ans, int exit_code, const char *needle)
{
    CHECK(json_is_false(json_object_get(ans, "ok")));
    CHECK_EQ(ans_int(ans, "exit"), exit_code);
    const char *msg = ans_str(ans, "error");
    CHECK(msg != NULL);
    if (needle && !strstr(msg, needle))
        unit_fail(__FILE__, __LINE__, "error \"%s\" does not mention \"%s\"", msg, needle);
    json_decref(ans);
}

static void check_status(struct fx *fx)
{
    json_t *ans = call(fx, "{\"v\":1,\"cmd\":\"status\"}");
    CHECK(ans_ok(ans));
    CHECK_STR(ans_str(ans, "state"), "running");
    json_decref(ans);
}

/* A socket file that nobody listens on, as a daemon that died leaves it. */
static void make_stale_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
}

/* ---- tests ----------------------------------------------------------------- */

static void client_status(struct fx *fx)
{
    check_status(fx);
    /* A request without "v" gets one from sk_ctl_call. */
    json_t *ans = call(fx, "{\"cmd\":\"echo\",\"arg\":\"hello\"}");
    CHECK(ans_ok(ans));
    CHECK_STR(ans_str(ans, "echo"), "hello");
    json_decref(ans);
    /* An error answer, byte for byte. */
    int fd = raw_connect(fx->path);
    raw_sends(fd, "{\"v\":1,\"cmd\":\"fail\"}\n");
    char *line = raw_line(fd);
    CHECK_STR(line, "{\"v\":1,\"ok\":false,\"error\":\"it failed: because\",\"exit\":3}");
    free(line);
    raw_sends(fd, "{\"v\":1,\"cmd\":\"status\"}\n");
    line = raw_line(fd);
    CHECK_STR(line, "{\"v\":1,\"ok\":true,\"state\":\"running\",\"n\":4}");
    free(line);
    close(fd);
}

TEST(control_status)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx, 0600);
    fx_run(&fx, client_status);
    CHECK_EQ(fx.requests, 4);
}

static void client_deferred(struct fx *fx)
{
    json_t *ans = call(fx, "{\"v\":1,\"cmd\":\"defer\"}");
    CHECK(ans_ok(ans));
    CHECK(json_is_true(json_object_get(ans, "deferred")));
    json_decref(ans);
    check_status(fx);
}

TEST(control_deferred_reply)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx, 0600);
    fx_run(&fx, client_deferred);
}

static void client_pipelined(struct fx *fx)
{
    int fd = raw_connect(fx->path);
    /* Three requests in one write: the deferred one must still be answered first. */
    raw_sends(fd,
              "{\"v\":1,\"cmd\":\"defer\"}\n{\"v\":1,\"cmd\":\"status\"}\n{\"v\":1,\"cmd\":\"echo\",\"arg\":\"x\"}\n");
    json_t *ans = raw_answer(fd);
    CHECK(json_is_true(json_object_get(ans, "deferred")));
    json_decref(ans);
    ans = raw_answer(fd);
    CHECK_STR(ans_str(ans, "state"), "running");
    CHECK_EQ(ans_int(ans, "n"), 2);
    json_decref(ans);
    ans = raw_answer(fd);
    CHECK_STR(ans_str(ans, "echo"), "x");
    json_decref(ans);
    /* The last request may come without its newline when the client shuts its side. */
    raw_sends(fd, "{\"v\":1,\"cmd\":\"echo\",\"arg\":\"last\"}");
    CHECK_EQ(shutdown(fd, SHUT_WR), 0);
    ans = raw_answer(fd);
    CHECK_STR(ans_str(ans, "echo"), "last");
    json_decref(ans);
    raw_expect_close(fd);
    close(fd);
}

TEST(control_pipelined_in_order)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx, 0600);
    fx_run(&fx, client_pipelined);
    CHECK_EQ(fx.requests, 4);
}

static void client_garbage(struct fx *fx)
{
    int fd = raw_connect(fx->path);
    raw_sends(fd, "this is not json\n");
    check_error(raw_answer(fd), 2, "bad request");
    raw_sends(fd, "{\"v\":1,\"cmd\":\"status\"}\n");
    json_t *ans = raw_answer(fd);
    CHECK(ans_ok(ans));
    CHECK_EQ(ans_int(ans, "n"), 1);
    json_decref(ans);
    close(fd);
}

TEST(control_garbage_then_good)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx, 0600);
    fx_run(&fx, client_garbage);
    CHECK_EQ(fx.requests, 1);
}

static void client_bad_requests(struct fx *fx)
{
    int fd = raw_connect(fx->path);
    raw_sends(fd, "[1,2]\n");
    check_error(raw_answer(fd), 2, "not a JSON object");
    raw_sends(fd, "42\n");
    check_error(raw_answer(fd), 2, "bad request");
    raw_sends(fd, "\n");
    check_error(raw_answer(fd), 2, "bad request");
    raw_sends(fd, "{\"v\":1}\n");
    check_error(raw_answer(fd), 2, "cmd");
    raw_sends(fd, "{\"v\":1,\"cmd\":5}\n");
    check_error(raw_answer(fd), 2, "cmd");
    raw_sends(fd, "{\"cmd\":\"status\"}\n");
    check_error(raw_answer(fd), 2, "version 1");
    raw_sends(fd, "{\"v\":2,\"cmd\":\"status\"}\n");
    check_error(raw_answer(fd), 2, "speaks version 1");
    raw_sends(fd, "{\"v\":\"1\",\"cmd\":\"status\"}\n");
    check_error(raw_answer(fd), 2, "version");
    raw_sends(fd, "{\"v\":1,\"cmd\":\"status\"} trailing\n");
    check_error(raw_answer(fd), 2, "bad request");
    /* Still usable, and the handler saw none of the above. */
    raw_sends(fd, "{\"v\":1,\"cmd\":\"status\"}\n");
    json_t *ans = raw_answer(fd);
    CHECK(ans_ok(ans));
    CHECK_EQ(ans_int(ans, "n"), 1);
    json_decref(ans);
    close(fd);
}

TEST(control_bad_requests)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx, 0600);
    fx_run(&fx, client_bad_requests);
    CHECK_EQ(fx.requests, 1);
}

static void client_oversized(struct fx *fx)
{
    /* A request of exactly SK_CTL_MAX_LINE bytes, newline included, is taken. */
    const char *head = "{\"v\":1,\"cmd\":\"echo\",\"arg\":\"";
    size_t n = SK_CTL_MAX_LINE + 100;
    char *big = malloc(n + 1);
    CHECK(big != NULL);
    size_t hl = strlen(head), arglen = SK_CTL_MAX_LINE - hl - 3;
    memcpy(big, head, hl);
    memset(big + hl, 'a', arglen);
    memcpy(big + hl + arglen, "\"}\n", 3);
    int fd = raw_connect(fx->path);
    raw_send(fd, big, SK_CTL_MAX_LINE);
    json_t *ans = raw_answer(fd);
    CHECK(ans_ok(ans));
    CHECK_EQ(strlen(ans_str(ans, "echo")), arglen);
    json_decref(ans);
    /* One byte more is refused, and the connection closed. */
    raw_sends(fd, "{\"v\":1,\"cmd\":\"echo\",\"arg\":\"a");
    raw_send(fd, big + hl, arglen);
    raw_sends(fd, "\"}\n");
    check_error(raw_answer(fd), 2, "longer than");
    raw_expect_close(fd);
    close(fd);
    /* So is a long line without a newline at all. */
    memset(big, 'x', n);
    fd = raw_connect(fx->path);
    raw_send(fd, big, n);
    check_error(raw_answer(fd), 2, "longer than");
    raw_expect_close(fd);
    close(fd);
    free(big);
    /* The server still serves. */
    check_status(fx);
}

TEST(control_oversized_line)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx, 0600);
    fx_run(&fx, client_oversized);
    CHECK_EQ(fx.requests, 2);
}

static void client_gone(struct fx *fx)
{
    int fd = raw_connect(fx->path);
    raw_sends(fd, "{\"v\":1,\"cmd\":\"defer\"}\n");
    close(fd);
    /* Answered only once the deferred answer has been given (to nobody). */
    json_t *ans = call(fx, "{\"v\":1,\"cmd\":\"after_defer\"}");
    CHECK(json_is_true(json_object_get(ans, "after")));
    json_decref(ans);
    check_status(fx);
}

TEST(control_client_gone_before_reply)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx, 0600);
    fx_run(&fx, client_gone);
    CHECK_EQ(fx.requests, 3);
}

static void client_hold(struct fx *fx)
{
    int fd = raw_connect(fx->path);
    raw_sends(fd, "{\"v\":1,\"cmd\":\"hold\"}\n");
    raw_expect_close(fd); /* closed with the server, never answered */
    close(fd);
}

TEST(control_close_drops_late_reply)
{
    /* The handler closes the server while it owes an answer; it answers in done(). */
    struct fx fx;
    fx_init(&fx);
    fx.close_on_hold = true;
    fx_listen(&fx, 0600);
    fx_run(&fx, client_hold);
    CHECK_EQ(fx.requests, 1);
}

TEST(control_reply_after_close)
{
    /* The handler closes the server, then answers before the handles have closed. */
    struct fx fx;
    fx_init(&fx);
    fx.close_on_hold = true;
    fx.reply_after_close = true;
    fx_listen(&fx, 0600);
    fx_run(&fx, client_hold);
    CHECK_EQ(fx.requests, 1);
}

static void client_stale(struct fx *fx)
{
    check_status(fx);
}

TEST(control_stale_socket_replaced)
{
    struct fx fx;
    fx_init(&fx);
    make_stale_socket(fx.path);
    json_t *req = json_pack("{s:i,s:s}", "v", 1, "cmd", "status");
    json_t *ans = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_EQ(sk_ctl_call(fx.path, req, CALL_MS, &ans, &err), -ECONNREFUSED);
    CHECK(ans == NULL);
    CHECK_STR(err.path, fx.path);
    json_decref(req);
    fx_listen(&fx, 0600);
    fx_run(&fx, client_stale);
}

static void client_second_listen(struct fx *fx)
{
    check_status(fx);
}

TEST(control_second_listen_in_use)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx, 0600);
    sk_ctl_server_t *second = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_EQ(sk_ctl_listen(&fx.loop, fx.path, 0600, handler, &fx, &second, &err), -EADDRINUSE);
    CHECK(second == NULL);
    CHECK(strstr(err.msg, "another daemon is listening") != NULL);
    CHECK_STR(err.path, fx.path);
    /* The first one still owns the socket and serves. */
    struct stat st;
    CHECK_EQ(lstat(SOCK, &st), 0);
    CHECK(S_ISSOCK(st.st_mode));
    fx_run(&fx, client_second_listen);
}

TEST(control_refuses_non_socket)
{
    struct fx fx;
    fx_init(&fx);
    unit_write_text(SOCK, "precious\n");
    sk_ctl_server_t *s = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_EQ(sk_ctl_listen(&fx.loop, fx.path, 0600, handler, &fx, &s, &err), -ENOTSOCK);
    CHECK(s == NULL);
    CHECK_STR(err.path, fx.path);
    char *text = unit_read_file(SOCK, NULL);
    CHECK_STR(text, "precious\n");
    free(text);
    /* Nor a symlink to a socket. */
    CHECK_EQ(unlink(SOCK), 0);
    make_stale_socket(unit_abs("real.sock", 1));
    CHECK_EQ(symlink("real.sock", SOCK), 0);
    sk_err_clear(&err);
    CHECK_EQ(sk_ctl_listen(&fx.loop, fx.path, 0600, handler, &fx, &s, &err), -ENOTSOCK);
    CHECK(unit_exists("real.sock"));
    uv_close((uv_handle_t *)&fx.defer, NULL);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&fx.loop), 0);
    leak_check();
}

static void closed_cb(void *arg)
{
    (*(int *)arg)++;
}

static void listen_check_mode(uv_loop_t *loop, unsigned mode)
{
    sk_ctl_server_t *s = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_ctl_listen(loop, unit_abs(SOCK, 0), mode, handler, NULL, &s, &err), &err);
    struct stat st;
    CHECK_EQ(lstat(SOCK, &st), 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK_EQ(st.st_mode & 07777, mode);
    CHECK_EQ(st.st_uid, geteuid());
    int done = 0;
    sk_ctl_close(s, closed_cb, &done);
    CHECK(!unit_exists(SOCK)); /* removed at once */
    CHECK_EQ(done, 0);         /* but done() only from the loop */
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ(done, 1);
}

TEST(control_socket_mode)
{
    uv_loop_t loop;
    CHECK_EQ(uv_loop_init(&loop), 0);
    listen_check_mode(&loop, 0600);
    listen_check_mode(&loop, 0660); /* wider than the umask (022 in the runner) allows */
    CHECK_EQ(uv_loop_close(&loop), 0);
    leak_check();
}

TEST(control_close_removes_socket)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx, 0600);
    CHECK(unit_exists(SOCK));
    int done = 0;
    sk_ctl_close(fx.srv, closed_cb, &done);
    sk_ctl_close(fx.srv, closed_cb, &done); /* a second call is ignored */
    uv_close((uv_handle_t *)&fx.defer, NULL);
    CHECK(!unit_exists(SOCK));
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    CHECK_EQ(done, 1);
    CHECK_EQ(uv_loop_close(&fx.loop), 0);
    /* And a client then finds no daemon. */
    json_t *req = json_pack("{s:s}", "cmd", "status");
    json_t *ans = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_EQ(sk_ctl_call(fx.path, req, CALL_MS, &ans, &err), -ENOENT);
    json_decref(req);
    leak_check();
}

TEST(control_call_errors)
{
    json_t *req = json_pack("{s:i,s:s}", "v", 1, "cmd", "status");
    json_t *ans = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    const char *missing = unit_abs("missing.sock", 0);
    CHECK_EQ(sk_ctl_call(missing, req, CALL_MS, &ans, &err), -ENOENT);
    CHECK(ans == NULL);
    CHECK_EQ(err.code, -ENOENT);
    CHECK_STR(err.path, missing);

    make_stale_socket(unit_abs("stale.sock", 1));
    sk_err_clear(&err);
    CHECK_EQ(sk_ctl_call(unit_abs("stale.sock", 1), req, 0, &ans, &err), -ECONNREFUSED);
    CHECK(ans == NULL);

    char longpath[300];
    memset(longpath, 'p', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    sk_err_clear(&err);
    CHECK_EQ(sk_ctl_call(longpath, req, CALL_MS, &ans, &err), -ENAMETOOLONG);
    CHECK_STR(err.path, longpath);
    uv_loop_t loop;
    CHECK_EQ(uv_loop_init(&loop), 0);
    sk_ctl_server_t *s = NULL;
    sk_err_clear(&err);
    CHECK_EQ(sk_ctl_listen(&loop, longpath, 0600, handler, NULL, &s, &err), -ENAMETOOLONG);
    CHECK(s == NULL);
    CHECK_EQ(uv_loop_close(&loop), 0);

    /* A regular file is no daemon either. */
    unit_write_text("file.sock", "x");
    sk_err_clear(&err);
    CHECK_EQ(sk_ctl_call(unit_abs("file.sock", 2), req, CALL_MS, &ans, &err), -ECONNREFUSED);
    json_decref(req);
    leak_check();
}

static void client_timeout(struct fx *fx)
{
    json_t *req = json_pack("{s:i,s:s}", "v", 1, "cmd", "hold");
    json_t *ans = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_EQ(sk_ctl_call(fx->path, req, 200, &ans, &err), -ETIMEDOUT);
    CHECK(ans == NULL);
    CHECK_STR(err.path, fx->path);
    json_decref(req);
}

TEST(control_call_timeout)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx, 0600);
    fx_run(&fx, client_timeout); /* the held request is answered, too late, in done() */
}

/* A server that answers with garbage: the client says -EPROTO. */
static void *bad_server(void *arg)
{
    int lfd = *(int *)arg;
    const char *answers[] = {"not json\n", "[1,2,3]\n"};
    for (int i = 0; i < 2; i++) {
        int fd = accept(lfd, NULL, NULL);
        CHECK(fd >= 0);
        char buf[256];
        CHECK(read(fd, buf, sizeof(buf)) > 0);
        raw_sends(fd, answers[i]);
        close(fd);
    }
    return NULL;
}

TEST(control_call_bad_answer)
{
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(lfd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, unit_abs(SOCK, 0));
    CHECK_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    CHECK_EQ(listen(lfd, 4), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, bad_server, &lfd), 0);
    json_t *req = json_pack("{s:i,s:s}", "v", 1, "cmd", "status");
    for (int i = 0; i < 2; i++) {
        json_t *ans = NULL;
        sk_err_t err;
        sk_err_clear(&err);
        CHECK_EQ(sk_ctl_call(sa.sun_path, req, CALL_MS, &ans, &err), -EPROTO);
        CHECK(ans == NULL);
    }
    json_decref(req);
    CHECK_EQ(pthread_join(th, NULL), 0);
    close(lfd);
    leak_check();
}

static void client_idle(struct fx *fx)
{
    int fd = raw_connect(fx->path);
    raw_sends(fd, "{\"v\":1,");
    raw_expect_close(fd); /* closed after SK_CTL_IDLE_MS (200 ms here), unanswered */
    close(fd);
    check_status(fx);
}

TEST(control_idle_timeout)
{
    CHECK_EQ(setenv("SK_CTL_IDLE_MS", "200", 1), 0);
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx, 0600);
    fx_run(&fx, client_idle);
}

static void client_max(struct fx *fx)
{
    int fds[SK_CTL_MAX_CLIENTS];
    for (int i = 0; i < SK_CTL_MAX_CLIENTS; i++) {
        fds[i] = raw_connect(fx->path);
        raw_sends(fds[i], "{\"v\":1,\"cmd\":\"status\"}\n");
        json_t *ans = raw_answer(fds[i]); /* so the server holds this one */
        CHECK(ans_ok(ans));
        json_decref(ans);
    }
    int fd = raw_connect(fx->path);
    check_error(raw_answer(fd), 1, "too many clients");
    raw_expect_close(fd);
    close(fd);
    /* The ones admitted still work. */
    raw_sends(fds[0], "{\"v\":1,\"cmd\":\"status\"}\n");
    json_t *ans = raw_answer(fds[0]);
    CHECK(ans_ok(ans));
    json_decref(ans);
    for (int i = 0; i < SK_CTL_MAX_CLIENTS; i++)
        close(fds[i]);
}

TEST(control_max_clients)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx, 0600);
    fx_run(&fx, client_max);
    CHECK_EQ(fx.requests, SK_CTL_MAX_CLIENTS + 1);
}

static void client_slow_reader(struct fx *fx)
{
    /* Ten answers of 1 MiB queued for a client that does not read: more than SK_CTL_MAX_PENDING. */
    enum { N = 10 };
    char reqs[N * 32] = "";
    for (int i = 0; i < N; i++)
        strcat(reqs, "{\"v\":1,\"cmd\":\"big\"}\n");
    int fd = raw_connect(fx->path);
    raw_sends(fd, reqs);
    /* Now read: the server has closed before all of them were written. */
    int lines = 0;
    size_t total = 0;
    char buf[65536];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            break;
        CHECK(r > 0);
        total += (size_t)r;
        for (ssize_t i = 0; i < r; i++)
            lines += buf[i] == '\n';
    }
    close(fd);
    CHECK(lines < N);
    CHECK(total < (size_t)N << 20);
    check_status(fx);
}

TEST(control_slow_reader_closed)
{
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx, 0600);
    fx_run(&fx, client_slow_reader);
}

static void client_foreign_uid(struct fx *fx)
{
    check_status(fx); /* the daemon's own user may */
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(2);
        int fd = raw_connect(fx->path);
        char *line = raw_line(fd);
        CHECK(line != NULL);
        CHECK(strstr(line, "\"ok\":false") != NULL);
        CHECK(strstr(line, "permission denied") != NULL);
        raw_expect_close(fd);
        _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
}

TEST(control_peer_check)
{
    if (geteuid() != 0)
        unit_skip("not root: cannot connect as another user");
    CHECK_EQ(chmod(".", 0711), 0); /* let the other user reach the socket... */
    struct fx fx;
    fx_init(&fx);
    fx_listen(&fx, 0666); /* ...whose mode would stop it first */
    fx_run(&fx, client_foreign_uid);
    CHECK_EQ(fx.requests, 1);
}
