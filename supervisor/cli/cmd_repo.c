/*
 * cmd_repo: the repository commands of the command line: repo init, snapshot,
 * restore, list, verify and prune. Each parses nothing itself (main.c did), calls
 * the snapshot/ module, and prints its result. `repo golden` and the golden copy's update after
 * a snapshot and check in verify are here too (golden.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "slotkeeper/config.h"
#include "slotkeeper/nodeos.h"
#include "slotkeeper/datadir.h"
#include "slotkeeper/facts.h"
#include "slotkeeper/freeze.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/golden.h"
#include "slotkeeper/log.h"
#include "progress.h"
#include "slotkeeper/prune.h"
#include "slotkeeper/repo.h"
#include "slotkeeper/restore.h"
#include "slotkeeper/s3.h"
#include "slotkeeper/snapshot.h"
#include "slotkeeper/sync.h"
#include "slotkeeper/verify.h"

/* The requests of the S3 repositories among repos (NULL ones skipped), added up: false when none
 * is S3. Read before the repositories are closed (the release of their locks is not counted). */
static bool s3_stats_of(sk_repo_t *const *repos, size_t n, sk_s3_stats_t *out)
{
    bool any = false;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        sk_s3_stats_t st;
        if (!repos[i] || sk_s3_stats(repos[i]->st, &st) < 0)
            continue;
        any = true;
        out->requests += st.requests;
        out->get += st.get;
        out->head += st.head;
        out->put += st.put;
        out->del += st.del;
        out->list += st.list;
        out->copy += st.copy;
        out->bytes_up += st.bytes_up;
        out->bytes_down += st.bytes_down;
        if (st.peak > out->peak)
            out->peak = st.peak;
    }
    return any;
}

/* --json's "s3" object. */
static json_t *s3_json(const sk_s3_stats_t *st)
{
#define I(v) ((json_int_t)(v))
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "requests", I(st->requests), "get", I(st->get), "put",
                     I(st->put), "head", I(st->head), "list", I(st->list), "delete", I(st->del), "copy", I(st->copy),
                     "bytes_up", I(st->bytes_up), "bytes_down", I(st->bytes_down), "in_flight_max", I(st->peak));
#undef I
}

/* The plain output's line (on stderr, unless --quiet). */
static void s3_log(const struct options *o, bool have, const sk_s3_stats_t *st)
{
    if (!have || o->quiet || o->json)
        return;
    char a[32], b[32];
    log_info("s3: %" PRIu64 " requests (%" PRIu64 " get, %" PRIu64 " put, %" PRIu64 " head, %" PRIu64 " list, %" PRIu64
             " delete, %" PRIu64 " copy), %s up, %s down",
             st->requests, st->get, st->put, st->head, st->list, st->del, st->copy,
             sk_fmt_bytes(st->bytes_up, a, sizeof(a)), sk_fmt_bytes(st->bytes_down, b, sizeof(b)));
}

static void fmt_time(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cmd_repo_init(struct options *o)
{
    sk_err_t err;
    sk_err_clear(&err);
    if (o->nargs == 1) {
        if (o->repo)
            return cli_usage_error("give the repository once");
        o->repo = o->args[0];
    }
    if (!o->repo)
        return cli_usage_error("missing REPO");
    uint32_t cs = o->given[O_CHUNK_SIZE] ? (uint32_t)o->chunk_size : SK_REPO_DEFAULT_CHUNK;
    uint32_t lcs = o->given[O_LOG_CHUNK_SIZE] ? (uint32_t)o->log_chunk_size : 0;
    int level = o->given[O_LEVEL] ? o->level : SK_REPO_DEFAULT_LEVEL;
    if (sk_repo_init_ex(o->repo, cs, lcs, level, &err) < 0)
        return cli_fail(&err);
    sk_repo_t *repo;
    if (sk_repo_open(o->repo, SK_LOCK_SHARED, 0, NULL, &repo, &err) < 0)
        return cli_fail(&err);
    char b[32], c[32];
    if (!o->quiet)
        printf("initialised repository %s (chunk size %s, log chunk size %s, zstd level %d%s)\n", o->repo,
               sk_fmt_bytes(repo->chunk_size, b, sizeof(b)), sk_fmt_bytes(repo->log_chunk_size, c, sizeof(c)), level,
               o->golden ? ", golden copy on" : "");
    int rc = 0;
    if (o->golden) {
        /* No golden copy where it cannot be kept (a storage that is not a local file system). */
        sk_golden_status_t gs;
        rc = sk_golden_status(repo, &gs, &err);
        if (rc == 0)
            rc = sk_repo_set_golden(repo, true, &err);
    }
    sk_repo_close(repo);
    return rc < 0 ? cli_fail(&err) : SK_EXIT_OK;
}

/* How an update took the unchanged bytes: from the previous golden copy (cloned or copied), or
 * none (built from the chunks alone). */
static const char *golden_how(const sk_golden_result_t *gr)
{
    return gr->from_scratch ? "taken from a previous copy (none: built from the chunks)"
           : gr->reflinked  ? "cloned from the previous copy"
                            : "copied from the previous copy";
}

/* How an update verifies: [repository] golden_full_verify_every from -c's file, else the
 * table's default. */
static sk_golden_opts_t golden_opts(bool rebuild)
{
    sk_golden_opts_t go = {.rebuild = rebuild, .full_verify_every = SK_GOLDEN_FULL_VERIFY_EVERY};
    const sk_config_t *cf = cli_config();
    const sk_option_t *k = sk_option_by_key("repository", "golden_full_verify_every");
    sk_optval_t v;
    char why[128];
    if (cf)
        go.full_verify_every = cf->golden_full_verify_every;
    else if (k && sk_option_parse(k, k->def, true, &v, why, sizeof(why)) == 0)
        go.full_verify_every = (unsigned)v.n;
    return go;
}

/* The golden copy's update as JSON: what it wrote and re-hashed (cost follows change). */
static json_t *golden_result_json(const sk_golden_result_t *gr)
{
    json_t *j = json_object();
    json_object_set_new(j, "snapshot", gr->id[0] ? json_string(gr->id) : json_null());
    json_object_set_new(j, "unchanged", json_boolean(gr->unchanged));
    json_object_set_new(j, "from_scratch", json_boolean(gr->from_scratch));
    json_object_set_new(j, "full_verify", json_boolean(gr->full_verify));
    json_object_set_new(j, "files", json_integer((json_int_t)gr->files));
    json_object_set_new(j, "files_rewritten", json_integer((json_int_t)gr->files_rewritten));
    json_object_set_new(j, "written_bytes", json_integer((json_int_t)gr->bytes_written));
    json_object_set_new(j, "verified_bytes", json_integer((json_int_t)gr->bytes_verified));
    json_object_set_new(j, "reused_bytes", json_integer((json_int_t)gr->bytes_reused));
    if (gr->recovered[0])
        json_object_set_new(j, "recovered", json_string(gr->recovered));
    json_object_set_new(j, "seconds", json_real(gr->seconds));
    return j;
}

/* Brings the golden copy up to date after a snapshot, when the repository keeps one; a failure
 * is a warning (the snapshot is published; the next update catches up), never a failed command.
 * Returns the line to log in note. */
static void golden_after_snapshot(sk_repo_t *repo, sk_progress_t *prog, char *note, size_t len)
{
    note[0] = '\0';
    if (!repo->golden)
        return;
    sk_err_t err;
    sk_err_clear(&err);
    sk_golden_result_t gr;
    char a[32], b[32], c[32];
    sk_golden_opts_t go = golden_opts(false);
    if (sk_golden_update_ex(repo, &go, prog, &gr, &err) < 0)
        snprintf(note, len, "golden copy not updated: %s: %s", err.path, err.msg);
    else if (gr.unchanged)
        snprintf(note, len, "golden copy already holds %s", gr.id);
    else
        snprintf(note, len, "golden copy updated to %s: %s written, %s %s, %s verified (%s), %.2fs%s%s", gr.id,
                 sk_fmt_bytes(gr.bytes_written, a, sizeof(a)), sk_fmt_bytes(gr.bytes_reused, b, sizeof(b)),
                 golden_how(&gr), sk_fmt_bytes(gr.bytes_verified, c, sizeof(c)),
                 gr.full_verify ? "every byte" : "what changed", gr.seconds,
                 gr.recovered[0] ? "; the update from the previous copy failed its check, made from the chunks: " : "",
                 gr.recovered);
}

static bool golden_verify(sk_repo_t *repo, sk_progress_t *prog, json_t **jout, char *line, size_t len);

int cmd_repo_golden(struct options *o)
{
    const char *action = "status";
    if (o->nargs == 2) {
        if (o->repo)
            return cli_usage_error("give the repository once");
        o->repo = o->args[0];
        action = o->args[1];
    } else if (o->nargs == 1) {
        if (o->repo)
            action = o->args[0];
        else
            o->repo = o->args[0];
    }
    if (!o->repo)
        return cli_usage_error("missing REPO");
    bool on = !strcmp(action, "on"), off = !strcmp(action, "off"), rebuild = !strcmp(action, "rebuild");
    bool verify = !strcmp(action, "verify");
    if (!on && !off && !rebuild && !verify && strcmp(action, "status"))
        return cli_usage_error("unknown action '%s': on, off, rebuild, verify or status", action);
    sk_err_t err;
    sk_err_clear(&err);
    sk_repo_t *repo;
    int ex = cli_open_repo(o, SK_LOCK_SHARED, "repo golden", &repo);
    if (ex)
        return ex;
    int rc = 0;
    sk_golden_status_t gs;
    rc = sk_golden_status(repo, &gs, &err);
    if (rc == 0 && (on || off) && repo->golden != on)
        rc = sk_repo_set_golden(repo, on, &err);
    if (rc == 0 && off) {
        rc = sk_golden_remove(repo, &err);
        if (rc == 0 && !o->quiet)
            log_info("%s: golden copy off and removed", o->repo);
    }
    if (rc == 0 && (on || rebuild)) {
        if (!repo->golden) {
            sk_err_set(&err, -EINVAL, o->repo,
                       "the golden copy is off (turn it on with 'slotkeeper repo golden %s on')", o->repo);
            sk_repo_close(repo);
            return cli_fail(&err);
        }
        sk_progress_t prog;
        sk_progress_init(&prog, "golden", o->progress);
        sk_golden_result_t gr;
        sk_golden_opts_t go = golden_opts(rebuild);
        rc = sk_golden_update_ex(repo, &go, &prog, &gr, &err);
        char a[32], b[32], c[32];
        if (rc == 0 && o->json) {
            json_t *j = golden_result_json(&gr);
            char *js = json_dumps(j, JSON_INDENT(2));
            if (js)
                printf("%s\n", js);
            free(js);
            json_decref(j);
        }
        if (rc == 0 && !o->quiet) {
            if (!gr.id[0])
                log_info("%s: golden copy on; no snapshot yet, it is made after the first", o->repo);
            else if (gr.unchanged)
                log_info("%s: golden copy on, holds %s (verified)", o->repo, gr.id);
            else
                log_info("%s: golden copy of %s made: %" PRIu64 " files, %s written, %s %s, %s verified (%s), %.2fs",
                         o->repo, gr.id, gr.files, sk_fmt_bytes(gr.bytes_written, a, sizeof(a)),
                         sk_fmt_bytes(gr.bytes_reused, b, sizeof(b)), golden_how(&gr),
                         sk_fmt_bytes(gr.bytes_verified, c, sizeof(c)), gr.full_verify ? "every byte" : "what changed",
                         gr.seconds);
        }
    }
    if (rc == 0 && verify) {
        /* Only the golden copy, as `verify` does it: re-hashed, marked and rebuilt if damaged. */
        sk_progress_t prog;
        sk_progress_init(&prog, "golden verify", o->progress);
        json_t *j = NULL;
        char line[1024];
        bool bad = golden_verify(repo, &prog, &j, line, sizeof(line));
        if (o->json) {
            char *js = json_dumps(j, JSON_INDENT(2));
            if (js)
                printf("%s\n", js);
            free(js);
        } else {
            printf("%s\n", line);
        }
        json_decref(j);
        sk_repo_close(repo);
        return bad ? SK_EXIT_DAMAGED : SK_EXIT_OK;
    }
    if (rc == 0 && !strcmp(action, "status")) {
        char t[32] = "-", a[32];
        if (gs.verified)
            fmt_time(gs.verified, t, sizeof(t));
        if (o->json) {
            json_t *j = json_object();
            json_object_set_new(j, "repository", json_string(o->repo));
            json_object_set_new(j, "enabled", json_boolean(gs.enabled));
            json_object_set_new(j, "present", json_boolean(gs.present));
            json_object_set_new(j, "damaged", json_boolean(gs.damaged));
            json_object_set_new(j, "snapshot", gs.id[0] ? json_string(gs.id) : json_null());
            json_object_set_new(j, "verified", gs.verified ? json_string(t) : json_null());
            json_object_set_new(j, "files", json_integer((json_int_t)gs.files));
            json_object_set_new(j, "bytes", json_integer((json_int_t)gs.size));
            /* what the update that made it cost, and how many updates since a full verification */
            json_object_set_new(j, "written_bytes", json_integer((json_int_t)gs.last_written));
            json_object_set_new(j, "verified_bytes", json_integer((json_int_t)gs.last_verified));
            json_object_set_new(j, "reused_bytes", json_integer((json_int_t)gs.last_reused));
            json_object_set_new(j, "full_verify", json_boolean(gs.last_full));
            json_object_set_new(j, "files_rewritten", json_integer((json_int_t)gs.last_rewritten));
            json_object_set_new(j, "incremental", json_integer((json_int_t)gs.incremental));
            if (gs.damaged)
                json_object_set_new(j, "reason", json_string(gs.reason));
            char *s = json_dumps(j, JSON_INDENT(2));
            if (s)
                printf("%s\n", s);
            free(s);
            json_decref(j);
        } else if (!gs.present) {
            printf("golden copy %s, none made yet\n", gs.enabled ? "on" : "off");
        } else if (gs.damaged) {
            printf("golden copy %s: DAMAGED (%s); never cloned from, rebuilt at the next update\n",
                   gs.enabled ? "on" : "off", gs.reason);
        } else {
            printf("golden copy %s: snapshot %s, %" PRIu64 " files, %s, verified %s\n", gs.enabled ? "on" : "off",
                   gs.id, gs.files, sk_fmt_bytes(gs.size, a, sizeof(a)), t);
        }
    }
    sk_repo_close(repo);
    return rc < 0 ? cli_fail(&err) : SK_EXIT_OK;
}

static int snapshot_locked(struct options *o, int *lockfd);

int cmd_snapshot(struct options *o)
{
    /* `snapshot -c FILE` is what cron runs: with a daemon, its cycle does it. */
    if (o->config && !o->explicit_repo && !o->explicit_data_dir) {
        int ex = cli_daemon_snapshot(o);
        if (ex != CLI_NO_DAEMON) {
            if (o->after_freeze)
                log_warnx("--after-freeze not run: the daemon restarts its archival node itself");
            return ex;
        }
    }
    /* Never snapshot a repository into itself, nor a system folder. */
    int ex = cli_check_paths(o->data_dir, o->repo);
    if (ex)
        return ex;
    sk_err_t err;
    sk_err_clear(&err);
    /* The data-dir lock (shared) from the check to the freeze, or to the published snapshot
     * when there is no freeze: a restore into this data-dir cannot start in between, and one
     * running makes this refuse (exit 5). */
    int lockfd = -1;
    if (sk_datadir_lock(o->data_dir, false, &lockfd, &err) < 0)
        return cli_fail(&err);
    ex = snapshot_locked(o, &lockfd);
    if (lockfd >= 0)
        close(lockfd);
    return ex;
}

/* --after-freeze: CMD through sh -c, its output on our stderr (stdout is the snapshot id's),
 * waited for. Its failure is a warning: the snapshot goes on. */
static void run_after_freeze(struct options *o)
{
    if (!o->after_freeze)
        return;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        log_warn("--after-freeze: cannot start '%s'", o->after_freeze);
        return;
    }
    if (pid == 0) {
        dup2(2, 1);
        setenv("SLOTKEEPER_DATA_DIR", o->data_dir, 1);
        execl("/bin/sh", "sh", "-c", o->after_freeze, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return;
    if (WIFEXITED(st))
        log_warnx("--after-freeze: '%s' exited with status %d", o->after_freeze, WEXITSTATUS(st));
    else
        log_warnx("--after-freeze: '%s' was killed by signal %d", o->after_freeze, WTERMSIG(st));
}

/* snapshot --json: one object on stdout. */
static void print_snapshot_json(const sk_snapshot_result_t *res, double stopped, bool frozen, bool have_s3,
                                const sk_s3_stats_t *s3)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(res->id));
    json_object_set_new(j, "files", json_integer((json_int_t)res->files));
    json_object_set_new(j, "logical_bytes", json_integer((json_int_t)res->logical_bytes));
    json_object_set_new(j, "data_bytes", json_integer((json_int_t)res->data_bytes));
    json_object_set_new(j, "stored_bytes", json_integer((json_int_t)res->stored_bytes));
    json_object_set_new(j, "new_bytes", json_integer((json_int_t)res->new_bytes));
    json_object_set_new(j, "chunks", json_integer((json_int_t)res->chunks));
    json_object_set_new(j, "new_chunks", json_integer((json_int_t)res->new_chunks));
    json_object_set_new(j, "seconds", json_real(res->seconds));
    /* freeze: how long the data-dir had to stay unchanged, and how it was read */
    json_object_set_new(j, "stopped_seconds", json_real(stopped));
    json_object_set_new(j, "path", json_string(frozen ? "frozen" : "direct"));
    /* append-aware snapshots: what was read, what was taken from the parent unread */
    json_object_set_new(j, "read_bytes", json_integer((json_int_t)res->read_bytes));
    json_object_set_new(j, "carried_bytes", json_integer((json_int_t)res->carried_bytes));
    json_object_set_new(j, "parent", res->parent[0] ? json_string(res->parent) : json_null());
    if (have_s3)
        json_object_set_new(j, "s3", s3_json(s3));
    json_dumpf(j, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(j);
}

/* cmd_snapshot with the data-dir lock held (*lockfd); a freeze releases it early (-1 after). */
static int snapshot_locked(struct options *o, int *lockfd)
{
    double t0 = sk_now();
    sk_err_t err;
    sk_err_clear(&err);
    /* Never snapshot a data-dir nodeos would not start from, nor one in use. */
    sk_datadir_report_t chk;
    if (sk_datadir_check(o->data_dir, &(sk_check_opts_t){0}, &chk, &err) < 0)
        return cli_fail(&err);
    if (chk.verdict == SK_VERDICT_RUNNING) {
        char p[PATH_MAX];
        sk_path_join(p, sizeof(p), o->data_dir, chk.state.path);
        sk_err_set(&err, -EBUSY, p, "in use by process %ld (a running node holds its lock)", (long)chk.lock_pid);
        return cli_fail(&err);
    }
    if (chk.verdict != SK_VERDICT_CLEAN) {
        sk_err_set(&err, chk.verdict == SK_VERDICT_MISSING ? -ENOENT : -EUCLEAN, o->data_dir,
                   "%s: %s; refusing to snapshot it (see 'slotkeeper check')", sk_verdict_name(chk.verdict),
                   chk.reason);
        return cli_fail(&err);
    }
    sk_facts_t fs;
    sk_facts_from_check(&fs, o->data_dir, &chk);
    size_t ndefault;
    const char *const *defaults = sk_nodeos_default_include(chk.layout, &ndefault);
    const char *const *include = o->ninclude ? (const char *const *)o->include : defaults;
    size_t ninclude = o->ninclude ? o->ninclude : ndefault;
    /* Freeze: clone the folders, free the data-dir, snapshot the clone. */
    sk_frozen_t fz = {.fd = -1, .metafd = -1};
    bool frozen = false;
    double stopped = 0;
    char no_freeze[PATH_MAX + 128] = "";
    sk_freeze_sweep(*lockfd, o->data_dir, NULL, &err);
    sk_err_clear(&err);
    if (!o->no_freeze) {
        char why[sizeof(no_freeze)];
        int f = sk_freeze(*lockfd, o->data_dir, include, ninclude, &fz, why, sizeof(why), &err);
        if (f == 0) {
            frozen = true;
            close(*lockfd);
            *lockfd = -1;
            stopped = sk_now() - t0;
            if (!o->quiet)
                log_info("frozen: data-dir free (%" PRIu64 " files cloned in %.2fs); snapshotting the clone", fz.files,
                         fz.seconds);
            run_after_freeze(o);
        } else if (f == 1) {
            /* Said once the snapshot is published: an error keeps to its one line. */
            snprintf(no_freeze, sizeof(no_freeze), "%s", why);
        } else {
            log_warnx("no freeze: %s: %s; snapshotting the stopped data-dir", err.path, err.msg);
            sk_err_clear(&err);
        }
    }
    sk_repo_t *repo;
    int ex = cli_open_repo(o, SK_LOCK_SHARED, "snapshot", &repo);
    if (ex) {
        sk_frozen_discard(&fz, &err);
        return ex;
    }
    sk_repo_sweep(repo);
    sk_snapshot_opts_t so = {
        .data_dir = frozen ? fz.path : o->data_dir,
        .include = include,
        .ninclude = ninclude,
        .threads = o->threads,
        .level = o->level,
        .facts = fs.f,
        .nfacts = fs.n,
        .full_reread = o->full_reread,
        .full_reread_every = o->full_reread_every,
    };
    sk_progress_t prog;
    sk_progress_init(&prog, "snapshot", o->progress);
    sk_snapshot_result_t res;
    int rc = sk_snapshot_create(repo, &so, &prog, &res, &err);
    char gnote[512] = "";
    if (rc == 0)
        golden_after_snapshot(repo, &prog, gnote, sizeof(gnote));
    sk_s3_stats_t s3;
    bool have_s3 = s3_stats_of(&repo, 1, &s3);
    sk_repo_close(repo);
    sk_err_t e2;
    sk_err_clear(&e2);
    if (frozen && sk_frozen_discard(&fz, &e2) < 0)
        log_warnx("%s: %s", e2.path, e2.msg);
    if (!frozen) {
        stopped = sk_now() - t0;
        close(*lockfd);
        *lockfd = -1;
    }
    if (rc < 0) {
        if (!frozen)
            run_after_freeze(o);
        return cli_fail(&err);
    }
    char a[32], b[32], c[32], d[32], e[32], f[32];
    if (!o->quiet && no_freeze[0])
        log_info("no freeze: %s; the data-dir stayed locked for the whole snapshot", no_freeze);
    if (!o->quiet)
        log_info("%s: %" PRIu64 " files, %s logical, %s data, %s stored, %s new in %" PRIu64
                 " new chunks, %s read, %s carried from %s, %.2fs (%s, data-dir held %.2fs)",
                 res.id, res.files, sk_fmt_bytes(res.logical_bytes, a, sizeof(a)),
                 sk_fmt_bytes(res.data_bytes, b, sizeof(b)), sk_fmt_bytes(res.stored_bytes, c, sizeof(c)),
                 sk_fmt_bytes(res.new_bytes, d, sizeof(d)), res.new_chunks, sk_fmt_bytes(res.read_bytes, e, sizeof(e)),
                 sk_fmt_bytes(res.carried_bytes, f, sizeof(f)), res.parent[0] ? res.parent : "no parent", res.seconds,
                 frozen ? "frozen" : "direct", stopped);
    if (gnote[0] && (!o->quiet || strstr(gnote, "not updated")))
        log_info("%s", gnote);
    s3_log(o, have_s3, &s3);
    if (!frozen)
        run_after_freeze(o);
    if (o->json)
        print_snapshot_json(&res, stopped, frozen, have_s3, &s3);
    else
        printf("%s\n", res.id);
    return SK_EXIT_OK;
}

int cmd_restore(struct options *o)
{
    /* `restore --slot N`: the daemon stops the node, restores and starts it. */
    if (o->config && o->given[O_SLOT] && !o->explicit_repo && !o->reference && !o->chain_id && !o->force_chain) {
        int ex = cli_daemon_restore(o);
        if (ex != CLI_NO_DAEMON)
            return ex;
    }
    /* A restore quarantines what it replaces: never the repository, never a system folder. */
    int ex = cli_check_paths(o->data_dir, o->repo);
    if (ex)
        return ex;
    sk_err_t err;
    sk_err_clear(&err);
    static char env_hex[2 * SK_STATE_ENV_SIZE + 1];
    if (o->reference) {
        unsigned char env[SK_STATE_ENV_SIZE];
        if (cli_load_reference(o->reference, env, &err) < 0)
            return cli_fail(&err);
        sk_env_to_hex(env, env_hex);
    }
    sk_repo_t *repo;
    ex = cli_open_repo(o, SK_LOCK_SHARED, "restore", &repo);
    if (ex)
        return ex;
    sk_restore_opts_t ro = {
        .require_env = o->reference ? env_hex : NULL,
        .data_dir = o->data_dir,
        .snapshot = o->snapshot ? o->snapshot : "latest",
        .threads = o->threads,
        .keep = o->given[O_KEEP_QUARANTINE] ? o->keep_quarantine : SK_QUARANTINE_KEEP,
        .quarantine_delete = o->quarantine_delete,
        .chain_id = o->chain_id,
        .force_chain = o->force_chain,
        .full = o->full,
    };
    sk_progress_t prog;
    sk_progress_init(&prog, "restore", o->progress);
    sk_restore_result_t res;
    int rc = sk_restore(repo, &ro, &prog, &res, &err);
    sk_s3_stats_t s3;
    bool have_s3 = s3_stats_of(&repo, 1, &s3);
    sk_repo_close(repo);
    if (rc < 0)
        return cli_fail(&err);
    s3_log(o, have_s3, &s3);
    char a[32], b[32], c[32];
    if (!o->quiet) {
        log_info("restored snapshot %s into %s (path %s): %" PRIu64
                 " files, %s written, %s cloned, %s unchanged, %.2fs%s",
                 res.id, o->data_dir, res.path, res.files, sk_fmt_bytes(res.bytes_written, a, sizeof(a)),
                 sk_fmt_bytes(res.bytes_cloned, b, sizeof(b)), sk_fmt_bytes(res.bytes_unchanged, c, sizeof(c)),
                 res.seconds, res.resumed ? " (finished an interrupted restore)" : "");
        if (res.quarantine[0])
            log_info("what it replaced is kept in %s", res.quarantine);
    }
    if (o->json) {
        json_t *j = json_object();
        json_object_set_new(j, "id", json_string(res.id));
        json_object_set_new(j, "data_dir", json_string(o->data_dir));
        json_object_set_new(j, "path", json_string(res.path));
        json_object_set_new(j, "files", json_integer((json_int_t)res.files));
        json_object_set_new(j, "data_bytes", json_integer((json_int_t)res.data_bytes));
        json_object_set_new(j, "bytes_written", json_integer((json_int_t)res.bytes_written));
        json_object_set_new(j, "bytes_cloned", json_integer((json_int_t)res.bytes_cloned));
        json_object_set_new(j, "bytes_unchanged", json_integer((json_int_t)res.bytes_unchanged));
        json_object_set_new(j, "quarantine", res.quarantine[0] ? json_string(res.quarantine) : json_null());
        json_object_set_new(j, "resumed", json_boolean(res.resumed));
        json_object_set_new(j, "seconds", json_real(res.seconds));
        if (have_s3)
            json_object_set_new(j, "s3", s3_json(&s3));
        json_dumpf(j, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(j);
        return SK_EXIT_OK;
    }
    printf("%s\n", res.id);
    return SK_EXIT_OK;
}

int cmd_list(struct options *o)
{
    sk_repo_t *repo;
    int ex = cli_open_repo(o, SK_LOCK_SHARED, "list", &repo);
    if (ex)
        return ex;
    sk_err_t err;
    sk_err_clear(&err);
    char **ids;
    size_t n;
    if (sk_repo_list_ids(repo, &ids, &n, &err) < 0) {
        sk_repo_close(repo);
        return cli_fail(&err);
    }
    json_t *arr = o->json ? json_array() : NULL;
    if (!o->json)
        printf("%-29s %-20s %10s %-8s %6s %10s %10s %10s  %s\n", "ID", "TIME", "HEAD", "CHAIN", "FILES", "LOGICAL",
               "STORED", "NEW", "STATUS");
    for (size_t i = 0; i < n; i++) {
        sk_manifest_t *m = NULL;
        sk_err_t lerr;
        sk_err_clear(&lerr);
        char reason[512] = "";
        bool bad = sk_repo_is_bad(repo, ids[i], reason, sizeof(reason)) == 1;
        int rc = sk_repo_manifest_load(repo, ids[i], &m, &lerr);
        if (rc < 0) {
            bad = true;
            snprintf(reason, sizeof(reason), "%s", lerr.msg);
        }
        char t[32] = "?";
        if (m)
            fmt_time(m->time, t, sizeof(t));
        if (o->json) {
            json_t *j = json_object();
            json_object_set_new(j, "id", json_string(ids[i]));
            json_object_set_new(j, "time", m ? json_string(t) : json_null());
            json_object_set_new(j, "files", m ? json_integer((json_int_t)m->files) : json_null());
            json_object_set_new(j, "logical_bytes", m ? json_integer((json_int_t)m->logical_bytes) : json_null());
            json_object_set_new(j, "data_bytes", m ? json_integer((json_int_t)m->data_bytes) : json_null());
            json_object_set_new(j, "stored_bytes", m ? json_integer((json_int_t)m->stored_bytes) : json_null());
            json_object_set_new(j, "new_bytes", m ? json_integer((json_int_t)m->new_bytes) : json_null());
            json_object_set_new(j, "chunks", m ? json_integer((json_int_t)m->chunks) : json_null());
            json_object_set_new(j, "status", json_string(bad ? "bad" : "good"));
            if (bad)
                json_object_set_new(j, "reason", json_string(reason));
            if (m && m->nfacts) {
                json_t *facts = json_object();
                for (size_t f = 0; f < m->nfacts; f++)
                    json_object_set_new(facts, m->facts[f].key, json_string(m->facts[f].value));
                json_object_set_new(j, "facts", facts);
            }
            json_array_append_new(arr, j);
        } else {
            char a[32] = "-", b[32] = "-", c[32] = "-", files[32] = "-";
            if (m) {
                sk_fmt_bytes(m->logical_bytes, a, sizeof(a));
                sk_fmt_bytes(m->stored_bytes, b, sizeof(b));
                sk_fmt_bytes(m->new_bytes, c, sizeof(c));
                snprintf(files, sizeof(files), "%" PRIu64, m->files);
            }
            /* Oldest first as "newest" means (repo.h): the head block, then the time. */
            const char *head = m ? sk_manifest_fact(m, "source.last-block") : NULL;
            const char *chain = m ? sk_manifest_fact(m, "source.chain-id") : NULL;
            printf("%-29s %-20s %10s %-8.8s %6s %10s %10s %10s  %s%s%s\n", ids[i], t, head ? head : "-",
                   chain ? chain : "-", files, a, b, c, bad ? "bad" : "good", bad ? ": " : "", bad ? reason : "");
        }
        sk_manifest_free(m);
    }
    if (o->json) {
        json_t *root = json_object();
        json_object_set_new(root, "repository", json_string(repo->path));
        json_object_set_new(root, "snapshots", arr);
        char *s = json_dumps(root, JSON_INDENT(2));
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(root);
    }
    sk_repo_ids_free(ids, n);
    sk_repo_close(repo);
    return SK_EXIT_OK;
}

/* verify's part for the golden copy: re-hash it; a damaged one is marked, then rebuilt from the
 * chunks. Returns true when damage was found; line: what to print. */
static bool golden_verify(sk_repo_t *repo, sk_progress_t *prog, json_t **jout, char *line, size_t len)
{
    sk_err_t err;
    sk_err_clear(&err);
    sk_golden_verify_t gv;
    char b[32];
    *jout = json_object();
    line[0] = '\0';
    if (sk_golden_verify(repo, prog, &gv, &err) < 0) {
        snprintf(line, len, "golden copy not checked: %s: %s", err.path, err.msg);
        json_object_set_new(*jout, "status", json_string("not checked"));
        json_object_set_new(*jout, "reason", json_string(err.msg));
        return false;
    }
    if (!gv.checked) {
        snprintf(line, len, "golden copy: none made yet");
        json_object_set_new(*jout, "status", json_string("none"));
        return false;
    }
    json_object_set_new(*jout, "snapshot", json_string(gv.id));
    json_object_set_new(*jout, "bytes", json_integer((json_int_t)gv.bytes));
    if (gv.ok) {
        snprintf(line, len, "golden copy of %s good: %" PRIu64 " files, %s checked", gv.id, gv.files,
                 sk_fmt_bytes(gv.bytes, b, sizeof(b)));
        json_object_set_new(*jout, "status", json_string("good"));
        return false;
    }
    json_object_set_new(*jout, "status", json_string("damaged"));
    json_object_set_new(*jout, "reason", json_string(gv.reason));
    sk_golden_result_t gr;
    if (sk_golden_update(repo, true, NULL, &gr, &err) < 0) {
        snprintf(line, len, "golden copy DAMAGED (%s); marked, never cloned from; rebuild failed: %s: %s", gv.reason,
                 err.path, err.msg);
        json_object_set_new(*jout, "rebuilt", json_false());
    } else {
        snprintf(line, len, "golden copy DAMAGED (%s); rebuilt from the chunks (snapshot %s, %s written)", gv.reason,
                 gr.id, sk_fmt_bytes(gr.bytes_written, b, sizeof(b)));
        json_object_set_new(*jout, "rebuilt", json_true());
    }
    return true;
}

int cmd_verify(struct options *o)
{
    if (o->all && o->nargs)
        return cli_usage_error("give snapshot ids or --all, not both");
    sk_repo_t *repo;
    int ex = cli_open_repo(o, SK_LOCK_SHARED, "verify", &repo);
    if (ex)
        return ex;
    sk_err_t err;
    sk_err_clear(&err);
    const char *const *ids = (const char *const *)o->args;
    size_t nids = (size_t)o->nargs;
    char **all = NULL;
    size_t nall = 0;
    const char *latest[1];
    if (!o->all && nids == 0) {
        if (sk_repo_list_ids(repo, &all, &nall, &err) < 0) {
            sk_repo_close(repo);
            return cli_fail(&err);
        }
        if (nall == 0) {
            sk_repo_ids_free(all, nall);
            sk_repo_close(repo);
            sk_err_set(&err, -ENOENT, o->repo, "no snapshot to verify");
            return cli_fail(&err);
        }
        latest[0] = all[nall - 1];
        ids = latest;
        nids = 1;
    }
    /* 'latest', as restore and export take it: the newest good snapshot (highest head block). */
    char latest_id[SK_ID_MAX] = "";
    const char **named = NULL;
    for (size_t i = 0; i < nids && !o->all; i++) {
        if (strcmp(ids[i], "latest"))
            continue;
        if (!named) {
            sk_manifest_t *lm;
            if (sk_repo_latest_good(repo, &lm, &err) < 0) {
                sk_repo_ids_free(all, nall);
                sk_repo_close(repo);
                return cli_fail(&err);
            }
            snprintf(latest_id, sizeof(latest_id), "%s", lm->id);
            sk_manifest_free(lm);
            if (!(named = calloc(nids, sizeof(*named)))) {
                sk_repo_ids_free(all, nall);
                sk_repo_close(repo);
                sk_err_set(&err, -ENOMEM, o->repo, NULL);
                return cli_fail(&err);
            }
            memcpy(named, ids, nids * sizeof(*named));
        }
        named[i] = latest_id;
    }
    if (named)
        ids = named;
    for (size_t i = 0; i < nids; i++) {
        sk_manifest_t *m;
        sk_err_t lerr;
        sk_err_clear(&lerr);
        int rc = sk_repo_manifest_load(repo, ids[i], &m, &lerr);
        if (rc == 0)
            sk_manifest_free(m);
        else if (rc != -EBADMSG) {
            sk_repo_ids_free(all, nall);
            free(named);
            sk_repo_close(repo);
            return cli_fail(&lerr);
        }
    }
    sk_progress_t prog;
    sk_progress_init(&prog, "verify", o->progress);
    sk_verify_report_t rep;
    int rc = sk_verify(repo, ids, o->all ? 0 : nids, o->threads, &prog, &rep, &err);
    /* The golden copy too, when the repository keeps one (invariant 5: what restores clone). */
    json_t *gjson = NULL;
    char gline[1024] = "";
    bool gbad = rc == 0 && repo->golden && golden_verify(repo, &prog, &gjson, gline, sizeof(gline));
    sk_s3_stats_t s3;
    bool have_s3 = s3_stats_of(&repo, 1, &s3);
    sk_repo_ids_free(all, nall);
    free(named);
    sk_repo_close(repo);
    if (rc < 0) {
        sk_verify_report_free(&rep);
        return cli_fail(&err);
    }
    if (gline[0] && !o->json)
        printf("%s\n", gline);
    int bad = 0;
    json_t *arr = o->json ? json_array() : NULL;
    for (size_t i = 0; i < rep.n; i++) {
        sk_verify_snapshot_t *s = &rep.snaps[i];
        if (!s->ok)
            bad++;
        if (o->json) {
            json_t *j = json_object();
            json_object_set_new(j, "id", json_string(s->id));
            json_object_set_new(j, "status", json_string(s->ok ? "good" : "bad"));
            json_object_set_new(j, "chunks", json_integer((json_int_t)s->chunks));
            json_object_set_new(j, "bytes", json_integer((json_int_t)s->bytes));
            if (!s->ok) {
                json_object_set_new(j, "reason", json_string(s->reason));
                json_object_set_new(j, "damaged_references", json_integer((json_int_t)s->ndamaged));
                json_t *dl = json_array();
                for (size_t k = 0; k < s->ndamage; k++) {
                    json_t *d = json_object();
                    json_object_set_new(d, "chunk", json_string(s->damage[k].chunk));
                    json_object_set_new(d, "file", json_string(s->damage[k].file));
                    json_object_set_new(d, "index", json_integer((json_int_t)s->damage[k].index));
                    json_object_set_new(d, "problem", json_string(s->damage[k].missing ? "missing" : "damaged"));
                    json_array_append_new(dl, d);
                }
                json_object_set_new(j, "damaged", dl);
            }
            json_array_append_new(arr, j);
        } else {
            char b[32];
            if (s->ok) {
                printf("%s good: %" PRIu64 " chunks, %s checked%s\n", s->id, s->chunks,
                       sk_fmt_bytes(s->bytes, b, sizeof(b)), s->was_bad ? " (stays marked bad from before)" : "");
            } else {
                printf("%s BAD: %s\n", s->id, s->reason);
                for (size_t k = 0; k < s->ndamage; k++)
                    printf("  %s %s: chunk %" PRIu64 " of %s\n", s->damage[k].missing ? "missing" : "damaged",
                           s->damage[k].chunk, s->damage[k].index, s->damage[k].file);
            }
        }
    }
    if (o->json) {
        json_t *root = json_object();
        json_object_set_new(root, "repository", json_string(o->repo));
        json_object_set_new(root, "snapshots", arr);
        json_object_set_new(root, "chunks_read", json_integer((json_int_t)rep.chunks_read));
        json_object_set_new(root, "bytes_checked", json_integer((json_int_t)rep.bytes_checked));
        json_object_set_new(root, "bad", json_integer(bad));
        if (gjson)
            json_object_set_new(root, "golden", gjson);
        gjson = NULL;
        if (have_s3)
            json_object_set_new(root, "s3", s3_json(&s3));
        char *s = json_dumps(root, JSON_INDENT(2));
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(root);
    } else if (!o->quiet) {
        char b[32];
        log_info("%zu snapshot(s) checked, %d bad; %" PRIu64 " chunks read, %s in %.2fs", rep.n, bad, rep.chunks_read,
                 sk_fmt_bytes(rep.bytes_checked, b, sizeof(b)), rep.seconds);
        s3_log(o, have_s3, &s3);
    }
    sk_verify_report_free(&rep);
    json_decref(gjson);
    return bad || gbad ? SK_EXIT_DAMAGED : SK_EXIT_OK;
}

int cmd_prune(struct options *o)
{
    sk_repo_t *repo;
    int ex = cli_open_repo(o, SK_LOCK_EXCLUSIVE, "prune", &repo);
    if (ex)
        return ex;
    sk_err_t err;
    sk_err_clear(&err);
    sk_prune_result_t res;
    int rc = sk_prune(repo, o->keep_last, &res, &err);
    sk_s3_stats_t s3;
    bool have_s3 = s3_stats_of(&repo, 1, &s3);
    sk_repo_close(repo);
    if (rc < 0) {
        sk_prune_result_free(&res);
        return cli_fail(&err);
    }
    if (o->json) {
        json_t *j = json_object(), *rm = json_array();
        for (size_t i = 0; i < res.nremoved; i++)
            json_array_append_new(rm, json_string(res.removed[i]));
        json_object_set_new(j, "repository", json_string(o->repo));
        json_object_set_new(j, "kept", json_integer((json_int_t)res.kept));
        json_object_set_new(j, "removed", rm);
        json_object_set_new(j, "chunks_removed", json_integer((json_int_t)res.chunks_removed));
        json_object_set_new(j, "bytes_freed", json_integer((json_int_t)res.bytes_freed));
        if (have_s3)
            json_object_set_new(j, "s3", s3_json(&s3));
        json_dumpf(j, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(j);
        sk_prune_result_free(&res);
        return SK_EXIT_OK;
    }
    char b[32];
    for (size_t i = 0; i < res.nremoved; i++)
        printf("removed %s\n", res.removed[i]);
    if (!o->quiet)
        printf("kept %zu snapshot(s), removed %zu; removed %" PRIu64 " chunks, freed %s\n", res.kept, res.nremoved,
               res.chunks_removed, sk_fmt_bytes(res.bytes_freed, b, sizeof(b)));
    s3_log(o, have_s3, &s3);
    sk_prune_result_free(&res);
    return SK_EXIT_OK;
}

int cmd_sync(struct options *o)
{
    const char *want = o->snapshot && strcmp(o->snapshot, "latest") ? o->snapshot : NULL;
    if (o->all && want)
        return cli_usage_error("give --snapshot or --all, not both");
    if (!strcmp(o->from, o->repo))
        return cli_usage_error("--from and --repo name the same repository");
    sk_err_t err;
    sk_err_clear(&err);
    /* Upstream shared: its prune (exclusive) waits until the copy is done. */
    sk_repo_t *from, *to;
    if (sk_repo_open(o->from, SK_LOCK_SHARED, o->lock_wait_ms, "sync", &from, &err) < 0)
        return cli_fail(&err);
    int ex = cli_open_repo(o, SK_LOCK_SHARED, "sync", &to);
    if (ex) {
        sk_repo_close(from);
        return ex;
    }
    sk_progress_t prog;
    sk_progress_init(&prog, "sync", o->progress);
    sk_sync_opts_t so = {.snapshot = want, .all = o->all, .threads = o->threads};
    sk_sync_result_t res;
    int rc = sk_sync(from, to, &so, &prog, &res, &err);
    /* Then the golden copy, where the local repository keeps one: restores clone the new snapshot. */
    char gnote[512] = "";
    if (rc == 0 && res.copied)
        golden_after_snapshot(to, &prog, gnote, sizeof(gnote));
    sk_s3_stats_t s3;
    sk_repo_t *both[2] = {from, to};
    bool have_s3 = s3_stats_of(both, 2, &s3);
    sk_repo_close(to);
    sk_repo_close(from);
    if (rc < 0)
        return cli_fail(&err);
    if (gnote[0] && (!o->quiet || strstr(gnote, "not updated")))
        log_info("%s", gnote);
    if (o->json) {
        json_t *j = json_object();
        json_object_set_new(j, "from", json_string(o->from));
        json_object_set_new(j, "repository", json_string(o->repo));
        json_object_set_new(j, "newest", res.newest[0] ? json_string(res.newest) : json_null());
        json_object_set_new(j, "copied", json_integer((json_int_t)res.copied));
        json_object_set_new(j, "present", json_integer((json_int_t)res.present));
        json_object_set_new(j, "chunks", json_integer((json_int_t)res.chunks));
        json_object_set_new(j, "bytes", json_integer((json_int_t)res.bytes));
        json_object_set_new(j, "chunks_present", json_integer((json_int_t)res.chunks_present));
        json_object_set_new(j, "seconds", json_real(res.seconds));
        if (have_s3)
            json_object_set_new(j, "s3", s3_json(&s3));
        json_dumpf(j, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(j);
        return SK_EXIT_OK;
    }
    char b[32];
    if (res.newest[0])
        printf("%s\n", res.newest);
    s3_log(o, have_s3, &s3);
    if (!o->quiet)
        fprintf(stderr,
                "slotkeeper: sync: %zu snapshot(s) copied, %zu already here; %" PRIu64 " chunks copied (%s), %" PRIu64
                " already here, %.2fs\n",
                res.copied, res.present, res.chunks, sk_fmt_bytes(res.bytes, b, sizeof(b)), res.chunks_present,
                res.seconds);
    return SK_EXIT_OK;
}
