/*
 * control: the daemon's control socket (see control.h for the protocol).
 *
 * The server lives on the daemon's libuv loop; the listening pipe, each
 * client's pipe and idle timer, and their lifetimes are sockserver.h's (shared
 * with metrics.c); this file speaks the protocol. Each connection reads into a fixed buffer of SK_CTL_MAX_LINE bytes
 * and takes its lines one at a time: while the handler owes an answer the connection does not read. A request
 * (sk_ctl_req_t) points back at its connection only while that connection is open, so an answer given after a hang-up
 * or after sk_ctl_close is simply dropped.
 *
 * The client, for the CLI, is plain blocking sockets with a deadline.
 */
#include "daemon/control.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/sockserver.h"
#include "slotkeeper/log.h"

struct conn;

struct sk_ctl_req {
    struct conn *conn; /* NULL once the connection is gone: the answer is dropped */
    json_t *request;
    pid_t pid;
    uid_t uid;
};

struct conn {
    sk_srv_conn_t base; /* the pipe (base.h.pipe), the idle timer (base.timer), the server's bookkeeping */
    sk_ctl_server_t *s;
    sk_ctl_req_t *pending; /* the request whose answer the handler owes */
    unsigned nwrites;      /* answers not yet written */
    pid_t pid;
    uid_t uid;
    bool reading;    /* uv_read_start is in effect */
    bool in_handler; /* the handler runs: a reply from inside it must not recurse */
    bool eof;        /* the client has shut down its side */
    bool finishing;  /* no more requests: close once the answers are written */
    size_t len;      /* bytes in buf */
    char buf[SK_CTL_MAX_LINE];
};

struct sk_ctl_server {
    sk_srv_t *srv; /* the listener and the connections */
    sk_ctl_handler fn;
    void *arg;
    uint64_t idle_ms;
    dev_t dev; /* the socket file we bound, so that close removes only ours */
    ino_t ino;
    bool closing;
    void (*done)(void *arg);
    void *done_arg;
    char path[];
};

struct wreq {
    uv_write_t w;
    struct conn *c;
    char data[];
};

/* ---- answers --------------------------------------------------------------- */

/* A JSON string of s; bytes that are not valid UTF-8 become '?'. */
static json_t *json_text(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static json_t *error_object(int exit_code, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    json_t *o = json_object();
    if (o) {
        json_object_set_new(o, "ok", json_false());
        json_object_set_new(o, "error", json_text(msg));
        json_object_set_new(o, "exit", json_integer(exit_code));
    }
    return o;
}

/* The answer as sent: "v" first, then "ok" (true unless given), then answer's other fields.
 * Steals answer; NULL when out of memory. */
static json_t *build_answer(json_t *answer)
{
    json_t *out = json_object();
    if (!out) {
        json_decref(answer);
        return NULL;
    }
    json_object_set_new(out, "v", json_integer(SK_CTL_VERSION));
    if (answer && !json_is_object(answer)) {
        log_warnx("control: a handler answered with something that is not a JSON object");
        json_decref(answer);
        json_object_set_new(out, "ok", json_false());
        json_object_set_new(out, "error", json_string("internal error: the answer is not a JSON object"));
        json_object_set_new(out, "exit", json_integer(1));
        return out;
    }
    json_t *ok = answer ? json_object_get(answer, "ok") : NULL;
    json_object_set(out, "ok", ok ? ok : json_true());
    if (answer) {
        const char *key;
        json_t *val;
        json_object_foreach(answer, key, val)
        {
            if (strcmp(key, "v") && strcmp(key, "ok"))
                json_object_set(out, key, val);
        }
        json_decref(answer);
    }
    return out;
}

/* ---- connections ----------------------------------------------------------- */

/* The server closes c: an answer owed to it is dropped when it comes. */
static void on_conn_close(sk_srv_conn_t *b)
{
    struct conn *c = (struct conn *)b;
    if (c->pending) {
        c->pending->conn = NULL;
        c->pending = NULL;
    }
}

static void conn_close(struct conn *c)
{
    sk_srv_conn_close(&c->base);
}

static void on_idle(uv_timer_t *t)
{
    struct conn *c = t->data;
    log_debug("control: closing the connection of pid %ld: idle for %llu ms", (long)c->pid,
              (unsigned long long)c->s->idle_ms);
    conn_close(c);
}

/* Takes no more requests; closes once the answers queued are written (or the idle time passes). */
static void conn_finish(struct conn *c)
{
    if (c->base.closing)
        return;
    c->finishing = true;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->base.h.pipe);
        c->reading = false;
    }
    if (c->nwrites == 0)
        conn_close(c);
    else
        uv_timer_start(&c->base.timer, on_idle, c->s->idle_ms, 0);
}

static void on_write(uv_write_t *w, int status)
{
    struct wreq *r = (struct wreq *)w;
    struct conn *c = r->c;
    free(r);
    c->nwrites--;
    if (status < 0) {
        if (status != UV_ECANCELED) {
            log_debug("control: cannot answer pid %ld: %s", (long)c->pid, uv_strerror(status));
            conn_close(c);
        }
        return;
    }
    if (c->finishing && c->nwrites == 0)
        conn_close(c);
}

/* Sends the answer out (stolen) as one line. */
static void conn_send(struct conn *c, json_t *out)
{
    if (!out || c->base.closing) {
        json_decref(out);
        if (!out)
            conn_close(c);
        return;
    }
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    size_t n = text ? strlen(text) : 0;
    struct wreq *r = text ? malloc(sizeof(*r) + n + 1) : NULL;
    if (!r) {
        free(text);
        log_warnx("control: cannot encode an answer: out of memory");
        conn_close(c);
        return;
    }
    memcpy(r->data, text, n);
    r->data[n] = '\n';
    free(text);
    r->c = c;
    uv_buf_t b = uv_buf_init(r->data, (unsigned)(n + 1));
    int rc = uv_write(&r->w, (uv_stream_t *)&c->base.h.pipe, &b, 1, on_write);
    if (rc < 0) {
        free(r);
        log_debug("control: cannot answer pid %ld: %s", (long)c->pid, uv_strerror(rc));
        conn_close(c);
        return;
    }
    c->nwrites++;
    size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&c->base.h.pipe);
    if (queued > SK_CTL_MAX_PENDING) {
        log_warnx("control: pid %ld does not read its answers (%zu bytes waiting); closing its connection",
                  (long)c->pid, queued);
        conn_close(c);
    }
}

static void conn_send_error(struct conn *c, int exit_code, const char *fmt, ...) SK_PRINTF(3, 4);
static void conn_send_error(struct conn *c, int exit_code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *o = error_object(exit_code, fmt, ap);
    va_end(ap);
    conn_send(c, build_answer(o));
}

/* Checks one parsed line (stolen; NULL if it did not parse) and hands it to the handler. */
static void conn_request(struct conn *c, json_t *req, const json_error_t *jerr)
{
    if (!req) {
        conn_send_error(c, 2, "bad request: %s", jerr->text);
        return;
    }
    if (!json_is_object(req)) {
        json_decref(req);
        conn_send_error(c, 2, "bad request: not a JSON object");
        return;
    }
    json_t *v = json_object_get(req, "v");
    if (!v) {
        json_decref(req);
        conn_send_error(c, 2, "bad request: no \"v\" (protocol version); this daemon speaks version %d",
                        SK_CTL_VERSION);
        return;
    }
    if (!json_is_integer(v) || json_integer_value(v) != SK_CTL_VERSION) {
        char vs[64] = "that is not a number";
        if (json_is_integer(v))
            snprintf(vs, sizeof(vs), "%lld", (long long)json_integer_value(v));
        json_decref(req);
        conn_send_error(c, 2, "unsupported protocol version (%s); this daemon speaks version %d", vs, SK_CTL_VERSION);
        return;
    }
    json_t *cmd = json_object_get(req, "cmd");
    if (!json_is_string(cmd)) {
        json_decref(req);
        conn_send_error(c, 2, "bad request: no \"cmd\" string");
        return;
    }
    sk_ctl_req_t *r = malloc(sizeof(*r));
    if (!r) {
        json_decref(req);
        conn_send_error(c, 1, "out of memory");
        return;
    }
    *r = (sk_ctl_req_t){.conn = c, .request = req, .pid = c->pid, .uid = c->uid};
    c->pending = r;
    c->in_handler = true;
    c->s->fn(r, json_string_value(cmd), req, c->s->arg);
    c->in_handler = false;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/* Takes the complete lines buffered, one at a time, until a request waits for its answer;
 * then reads on (with the idle timer running) or, if a request is pending, stops reading. */
static void conn_advance(struct conn *c)
{
    if (c->in_handler)
        return; /* the handler answered from inside conn_request: its caller goes on */
    while (!c->base.closing && !c->finishing && !c->pending) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (!nl) {
            if (c->len == sizeof(c->buf)) {
                log_warnx("control: pid %ld sent a request longer than %d bytes; closing its connection", (long)c->pid,
                          SK_CTL_MAX_LINE);
                conn_send_error(c, 2, "bad request: longer than %d bytes", SK_CTL_MAX_LINE);
                conn_finish(c);
                return;
            }
            if (!c->eof)
                break;
            if (c->len == 0) {
                conn_finish(c);
                return;
            }
            c->buf[c->len++] = '\n'; /* the last request, without its newline */
            continue;
        }
        size_t n = (size_t)(nl - c->buf);
        json_error_t jerr;
        json_t *req = json_loadb(c->buf, n, 0, &jerr);
        memmove(c->buf, nl + 1, c->len - n - 1);
        c->len -= n + 1;
        conn_request(c, req, &jerr);
    }
    if (c->base.closing || c->finishing)
        return;
    if (c->pending) {
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->base.h.pipe);
            c->reading = false;
        }
        uv_timer_stop(&c->base.timer);
        return;
    }
    if (!c->reading) {
        int rc = uv_read_start((uv_stream_t *)&c->base.h.pipe, on_alloc, on_read);
        if (rc < 0) {
            log_debug("control: cannot read from pid %ld: %s", (long)c->pid, uv_strerror(rc));
            conn_close(c);
            return;
        }
        c->reading = true;
    }
    uv_timer_start(&c->base.timer, on_idle, c->s->idle_ms, 0);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    if (nread > 0) {
        c->len += (size_t)nread;
        conn_advance(c);
    } else if (nread == UV_EOF) {
        c->eof = true;
        uv_read_stop(stream);
        c->reading = false;
        conn_advance(c);
    } else if (nread < 0) {
        log_debug("control: connection of pid %ld: %s", (long)c->pid, uv_strerror((int)nread));
        conn_close(c);
    }
}

static void on_accept(sk_srv_conn_t *b)
{
    struct conn *c = (struct conn *)b;
    sk_ctl_server_t *s = sk_srv_arg(b->srv);
    c->s = s;
    c->pid = -1;
    c->uid = (uid_t)-1;
    uv_os_fd_t fd;
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    if (uv_fileno((uv_handle_t *)&c->base.h.pipe, &fd) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
        log_warn("%s: cannot get the credentials of a client", s->path);
        conn_close(c);
        return;
    }
    c->pid = cred.pid;
    c->uid = cred.uid;
    if (cred.uid != 0 && cred.uid != geteuid()) {
        log_warnx("%s: refused pid %ld: uid %lu is neither root nor the daemon's user", s->path, (long)cred.pid,
                  (unsigned long)cred.uid);
        conn_send_error(c, 1, "permission denied: uid %lu may not control this daemon", (unsigned long)cred.uid);
        conn_finish(c);
        return;
    }
    if (!sk_srv_admit(&c->base)) {
        log_warnx("%s: refused pid %ld: already %d clients", s->path, (long)cred.pid, SK_CTL_MAX_CLIENTS);
        conn_send_error(c, 1, "too many clients (%d); try again later", SK_CTL_MAX_CLIENTS);
        conn_finish(c);
        return;
    }
    conn_advance(c);
}

/* ---- server ---------------------------------------------------------------- */

static int make_addr(struct sockaddr_un *sa, const char *path, sk_err_t *err)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n == 0)
        return sk_err_set(err, -EINVAL, path, "empty socket path");
    if (n >= sizeof(sa->sun_path))
        return sk_err_set(err, -ENAMETOOLONG, path, "socket path too long (at most %zu bytes)",
                          sizeof(sa->sun_path) - 1);
    memcpy(sa->sun_path, path, n);
    return 0;
}

/* Makes way for our socket: a socket file nobody answers on is removed; a live one or
 * anything that is not a socket is left alone. */
static int clear_stale(const struct sockaddr_un *sa, const char *path, sk_err_t *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : sk_err_errno(err, path);
    if (!S_ISSOCK(st.st_mode))
        return sk_err_set(err, -ENOTSOCK, path, "exists and is not a socket; not replacing it");
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return sk_err_errno(err, path);
    int rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
    int e = errno;
    close(fd);
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
        return sk_err_set(err, -EADDRINUSE, path, "another daemon is listening");
    if (e == ENOENT)
        return 0;
    if (e != ECONNREFUSED) {
        errno = e;
        return sk_err_errno(err, path);
    }
    if (unlink(path) < 0 && errno != ENOENT)
        return sk_err_errno(err, path);
    log_info("%s: removed the socket of a daemon that is gone", path);
    return 0;
}

static void on_srv_closed(void *arg)
{
    sk_ctl_server_t *s = arg;
    void (*done)(void *) = s->done;
    void *done_arg = s->done_arg;
    free(s);
    if (done)
        done(done_arg);
}

int sk_ctl_listen(uv_loop_t *loop, const char *path, unsigned mode, sk_ctl_handler fn, void *arg, sk_ctl_server_t **out,
                  sk_err_t *err)
{
    *out = NULL;
    struct sockaddr_un sa;
    int rc = make_addr(&sa, path, err);
    if (rc < 0)
        return rc;
    rc = clear_stale(&sa, path, err);
    if (rc < 0)
        return rc;

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return sk_err_errno(err, path);
    /* Created owner-only, then opened up to mode: never briefly wider than asked. */
    mode_t old = umask(077);
    rc = bind(fd, (const struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    umask(old);
    if (rc < 0) {
        close(fd);
        if (e == EADDRINUSE)
            return sk_err_set(err, -EADDRINUSE, path, "another daemon is starting on this socket");
        errno = e;
        return sk_err_errno(err, path);
    }
    struct stat st;
    if (listen(fd, SOMAXCONN) < 0 || chmod(path, mode & 07777) < 0 || lstat(path, &st) < 0) {
        rc = sk_err_errno(err, path);
        unlink(path);
        close(fd);
        return rc;
    }

    size_t plen = strlen(path);
    sk_ctl_server_t *s = calloc(1, sizeof(*s) + plen + 1);
    if (!s) {
        unlink(path);
        close(fd);
        return sk_err_set(err, -ENOMEM, path, NULL);
    }
    memcpy(s->path, path, plen + 1);
    s->fn = fn;
    s->arg = arg;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->idle_ms = sk_srv_idle_ms_from_env("SK_CTL_IDLE_MS", SK_CTL_IDLE_MS);
    sk_srv_config_t sc = {
        .name = path,
        .conn_size = sizeof(struct conn),
        .conn_zero = offsetof(struct conn, buf),
        .max_conns = SK_CTL_MAX_CLIENTS,
        .on_accept = on_accept,
        .on_close = on_conn_close,
        .arg = s,
    };
    rc = sk_srv_listen_pipe(loop, fd, &sc, &s->srv); /* fd is the server's now, also on failure */
    if (rc < 0) {
        unlink(path);
        free(s);
        return sk_err_set(err, rc, path, "%s", uv_strerror(rc));
    }
    log_debug("%s: listening (mode %04o)", path, mode & 07777);
    *out = s;
    return 0;
}

void sk_ctl_close(sk_ctl_server_t *s, void (*done)(void *arg), void *arg)
{
    if (!s || s->closing)
        return;
    s->closing = true;
    s->done = done;
    s->done_arg = arg;
    struct stat st;
    if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino && unlink(s->path) < 0)
        log_warn("%s: cannot remove the socket", s->path);
    sk_srv_close(s->srv, on_srv_closed, s);
}

/* ---- requests -------------------------------------------------------------- */

void sk_ctl_reply(sk_ctl_req_t *req, json_t *answer)
{
    if (!req) {
        json_decref(answer);
        return;
    }
    struct conn *c = req->conn;
    if (!c) {
        log_debug("control: the client (pid %ld) is gone; its answer is dropped", (long)req->pid);
        json_decref(answer);
    } else {
        c->pending = NULL;
        conn_send(c, build_answer(answer));
    }
    json_decref(req->request);
    free(req);
    if (c && !c->in_handler)
        conn_advance(c);
}

void sk_ctl_reply_error(sk_ctl_req_t *req, int exit_code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *o = error_object(exit_code, fmt, ap);
    va_end(ap);
    sk_ctl_reply(req, o);
}

void sk_ctl_req_peer(const sk_ctl_req_t *req, pid_t *pid, uid_t *uid)
{
    if (pid)
        *pid = req->pid;
    if (uid)
        *uid = req->uid;
}

/* ---- client ---------------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Milliseconds left before deadline: -1 without one, 0 once it has passed. */
static int time_left(uint64_t deadline)
{
    if (!deadline)
        return -1;
    uint64_t now = now_ms();
    if (now >= deadline)
        return 0;
    return deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
}

/* Bounds the blocking connect and send by the time left (SO_SNDTIMEO; 0 means none). */
static void set_send_timeout(int fd, int ms)
{
    struct timeval tv = {0, 0};
    if (ms > 0) {
        tv.tv_sec = ms / 1000;
        tv.tv_usec = (ms % 1000) * 1000;
    }
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* The request as one line in *line (malloc'd), with "v" added first when it has none. */
static int encode_request(json_t *request, char **line, size_t *len, const char *path, sk_err_t *err)
{
    json_t *msg = request;
    if (!json_object_get(request, "v")) {
        msg = json_object();
        if (!msg)
            return sk_err_set(err, -ENOMEM, path, NULL);
        json_object_set_new(msg, "v", json_integer(SK_CTL_VERSION));
        json_object_update(msg, request);
    }
    char *text = json_dumps(msg, JSON_COMPACT);
    if (msg != request)
        json_decref(msg);
    if (!text)
        return sk_err_set(err, -EINVAL, path, "cannot encode the request");
    size_t n = strlen(text);
    if (n + 1 > SK_CTL_MAX_LINE) {
        free(text);
        return sk_err_set(err, -EMSGSIZE, path, "request longer than %d bytes", SK_CTL_MAX_LINE);
    }
    char *l = realloc(text, n + 2);
    if (!l) {
        free(text);
        return sk_err_set(err, -ENOMEM, path, NULL);
    }
    l[n] = '\n';
    l[n + 1] = '\0';
    *line = l;
    *len = n + 1;
    return 0;
}

static int client_connect(int fd, const struct sockaddr_un *sa, uint64_t deadline, const char *path, sk_err_t *err)
{
    for (;;) {
        int ms = time_left(deadline);
        if (ms == 0)
            return sk_err_set(err, -ETIMEDOUT, path, "timed out connecting to the daemon");
        set_send_timeout(fd, ms);
        if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
            return 0;
        switch (errno) {
        case EINTR:
            continue; /* a Unix socket stays unconnected when interrupted: try again */
        case EISCONN:
            return 0;
        case EAGAIN:
            return sk_err_set(err, -ETIMEDOUT, path, "timed out connecting to the daemon");
        case ENOENT:
            return sk_err_set(err, -ENOENT, path, "no daemon is listening (no socket)");
        case ECONNREFUSED:
            return sk_err_set(err, -ECONNREFUSED, path, "no daemon is listening (connection refused)");
        default:
            return sk_err_errno(err, path);
        }
    }
}

/* Sends the whole line. Returns 0, 1 if the daemon hung up (its answer may still be there
 * to read), or a negative errno. */
static int client_send(int fd, const char *p, size_t n, uint64_t deadline, const char *path, sk_err_t *err)
{
    while (n > 0) {
        int ms = time_left(deadline);
        if (ms == 0)
            return sk_err_set(err, -ETIMEDOUT, path, "timed out sending the request");
        set_send_timeout(fd, ms);
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return sk_err_set(err, -ETIMEDOUT, path, "timed out sending the request");
            if (errno == EPIPE || errno == ECONNRESET)
                return 1;
            return sk_err_errno(err, path);
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int client_read(int fd, uint64_t deadline, json_t **answer, const char *path, sk_err_t *err)
{
    char *buf = malloc(SK_CTL_MAX_LINE);
    if (!buf)
        return sk_err_set(err, -ENOMEM, path, NULL);
    size_t len = 0;
    char *nl = NULL;
    int rc = 0;
    while (!nl) {
        int ms = time_left(deadline);
        if (ms == 0) {
            rc = sk_err_set(err, -ETIMEDOUT, path, "timed out waiting for the daemon's answer");
            break;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = poll(&pfd, 1, ms);
        if (n < 0 && errno != EINTR) {
            rc = sk_err_errno(err, path);
            break;
        }
        if (n <= 0)
            continue;
        ssize_t r = read(fd, buf + len, SK_CTL_MAX_LINE - len);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r == 0 || (r < 0 && errno == ECONNRESET)) {
            rc = sk_err_set(err, -ECONNRESET, path, "the daemon closed the connection %s",
                            len ? "in the middle of its answer" : "without answering");
            break;
        }
        if (r < 0) {
            rc = sk_err_errno(err, path);
            break;
        }
        nl = memchr(buf + len, '\n', (size_t)r);
        len += (size_t)r;
        if (!nl && len == SK_CTL_MAX_LINE) {
            rc = sk_err_set(err, -EPROTO, path, "the daemon's answer is longer than %d bytes", SK_CTL_MAX_LINE);
            break;
        }
    }
    if (rc == 0) {
        json_error_t jerr;
        json_t *j = json_loadb(buf, (size_t)(nl - buf), 0, &jerr);
        if (!j)
            rc = sk_err_set(err, -EPROTO, path, "bad answer from the daemon: %s", jerr.text);
        else if (!json_is_object(j))
            rc = sk_err_set(err, -EPROTO, path, "bad answer from the daemon: not a JSON object");
        if (rc == 0)
            *answer = j;
        else
            json_decref(j);
    }
    free(buf);
    return rc;
}

int sk_ctl_call(const char *path, json_t *request, uint64_t timeout_ms, json_t **answer, sk_err_t *err)
{
    *answer = NULL;
    if (!json_is_object(request))
        return sk_err_set(err, -EINVAL, path, "the request is not a JSON object");
    struct sockaddr_un sa;
    int rc = make_addr(&sa, path, err);
    if (rc < 0)
        return rc;
    size_t len = 0;
    char *line = NULL;
    rc = encode_request(request, &line, &len, path, err);
    if (rc < 0)
        return rc;
    uint64_t deadline = timeout_ms ? now_ms() + timeout_ms : 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = sk_err_errno(err, path);
        free(line);
        return rc;
    }
    rc = client_connect(fd, &sa, deadline, path, err);
    if (rc == 0)
        rc = client_send(fd, line, len, deadline, path, err);
    free(line);
    if (rc >= 0)
        rc = client_read(fd, deadline, answer, path, err);
    close(fd);
    return rc;
}
