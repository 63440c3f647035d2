/*
 * cmd_repo: the repository commands of the command line: repo init, snapshot,
 * restore, list, verify and prune. Each parses nothing itself (main.c did), calls
 * the snapshot/ module, and prints its result.
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
#include <unistd.h>

#include "cli.h"
#include "slotkeeper/config.h"
#include "slotkeeper/nodeos.h"
#include "slotkeeper/datadir.h"
#include "slotkeeper/facts.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/log.h"
#include "progress.h"
#include "slotkeeper/prune.h"
#include "slotkeeper/repo.h"
#include "slotkeeper/restore.h"
#include "slotkeeper/snapshot.h"
#include "slotkeeper/sync.h"
#include "slotkeeper/verify.h"

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
        printf("initialised repository %s (chunk size %s, log chunk size %s, zstd level %d)\n", o->repo,
               sk_fmt_bytes(repo->chunk_size, b, sizeof(b)), sk_fmt_bytes(repo->log_chunk_size, c, sizeof(c)), level);
    sk_repo_close(repo);
    return SK_EXIT_OK;
}

static int snapshot_locked(struct options *o);

int cmd_snapshot(struct options *o)
{
    /* `snapshot -c FILE` is what cron runs: with a daemon, its cycle does it. */
    if (o->config && !o->explicit_repo && !o->explicit_data_dir) {
        int ex = cli_daemon_snapshot(o);
        if (ex != CLI_NO_DAEMON)
            return ex;
    }
    /* Never snapshot a repository into itself, nor a system folder. */
    int ex = cli_check_paths(o->data_dir, o->repo);
    if (ex)
        return ex;
    sk_err_t err;
    sk_err_clear(&err);
    /* The data-dir lock (shared) from the check to the published snapshot: a restore into this
     * data-dir cannot start in between, and one running makes this refuse (exit 5). */
    int lockfd = -1;
    if (sk_datadir_lock(o->data_dir, false, &lockfd, &err) < 0)
        return cli_fail(&err);
    ex = snapshot_locked(o);
    close(lockfd);
    return ex;
}

/* cmd_snapshot with the data-dir lock held. */
static int snapshot_locked(struct options *o)
{
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
    sk_repo_t *repo;
    int ex = cli_open_repo(o, SK_LOCK_SHARED, "snapshot", &repo);
    if (ex)
        return ex;
    sk_repo_sweep(repo);
    size_t ndefault;
    const char *const *defaults = sk_nodeos_default_include(chk.layout, &ndefault);
    sk_snapshot_opts_t so = {
        .data_dir = o->data_dir,
        .include = o->ninclude ? (const char *const *)o->include : defaults,
        .ninclude = o->ninclude ? o->ninclude : ndefault,
        .threads = o->threads,
        .level = o->level,
        .facts = fs.f,
        .nfacts = fs.n,
    };
    sk_progress_t prog;
    sk_progress_init(&prog, "snapshot", o->progress);
    sk_snapshot_result_t res;
    int rc = sk_snapshot_create(repo, &so, &prog, &res, &err);
    sk_repo_close(repo);
    if (rc < 0)
        return cli_fail(&err);
    char a[32], b[32], c[32], d[32];
    if (!o->quiet)
        log_info("%s: %" PRIu64 " files, %s logical, %s data, %s stored, %s new in %" PRIu64 " new chunks, %.2fs",
                 res.id, res.files, sk_fmt_bytes(res.logical_bytes, a, sizeof(a)),
                 sk_fmt_bytes(res.data_bytes, b, sizeof(b)), sk_fmt_bytes(res.stored_bytes, c, sizeof(c)),
                 sk_fmt_bytes(res.new_bytes, d, sizeof(d)), res.new_chunks, res.seconds);
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
    };
    sk_progress_t prog;
    sk_progress_init(&prog, "restore", o->progress);
    sk_restore_result_t res;
    int rc = sk_restore(repo, &ro, &prog, &res, &err);
    sk_repo_close(repo);
    if (rc < 0)
        return cli_fail(&err);
    char a[32];
    if (!o->quiet) {
        log_info("restored snapshot %s into %s: %" PRIu64 " files, %s written, %.2fs%s", res.id, o->data_dir, res.files,
                 sk_fmt_bytes(res.data_bytes, a, sizeof(a)), res.seconds,
                 res.resumed ? " (finished an interrupted restore)" : "");
        if (res.quarantine[0])
            log_info("replaced folders kept in %s", res.quarantine);
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
    sk_repo_ids_free(all, nall);
    free(named);
    sk_repo_close(repo);
    if (rc < 0) {
        sk_verify_report_free(&rep);
        return cli_fail(&err);
    }
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
        char *s = json_dumps(root, JSON_INDENT(2));
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(root);
    } else if (!o->quiet) {
        char b[32];
        log_info("%zu snapshot(s) checked, %d bad; %" PRIu64 " chunks read, %s in %.2fs", rep.n, bad, rep.chunks_read,
                 sk_fmt_bytes(rep.bytes_checked, b, sizeof(b)), rep.seconds);
    }
    sk_verify_report_free(&rep);
    return bad ? SK_EXIT_DAMAGED : SK_EXIT_OK;
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
    sk_repo_close(repo);
    if (rc < 0) {
        sk_prune_result_free(&res);
        return cli_fail(&err);
    }
    char b[32];
    for (size_t i = 0; i < res.nremoved; i++)
        printf("removed %s\n", res.removed[i]);
    if (!o->quiet)
        printf("kept %zu snapshot(s), removed %zu; removed %" PRIu64 " chunks, freed %s\n", res.kept, res.nremoved,
               res.chunks_removed, sk_fmt_bytes(res.bytes_freed, b, sizeof(b)));
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
    sk_repo_close(to);
    sk_repo_close(from);
    if (rc < 0)
        return cli_fail(&err);
    char b[32];
    if (res.newest[0])
        printf("%s\n", res.newest);
    if (!o->quiet)
        fprintf(stderr,
                "slotkeeper: sync: %zu snapshot(s) copied, %zu already here; %" PRIu64 " chunks copied (%s), %" PRIu64
                " already here, %.2fs\n",
                res.copied, res.present, res.chunks, sk_fmt_bytes(res.bytes, b, sizeof(b)), res.chunks_present,
                res.seconds);
    return SK_EXIT_OK;
}
