/*
 * slot_jobs: a slot's disk work on libuv's thread pool, so that the loop never
 * blocks: the check of a data-dir (and of the node's last log lines after a
 * failed start), a restore from the newest good snapshot that fits, the
 * archival node's snapshot, and the verify, golden copy update (golden.h) and prune after a
 * cycle. A job
 * copies what it needs from the slot when it is queued and touches nothing of
 * it on the pool; its outcome goes back to the state machine on the loop
 * (sk_slot_job_finished).
 *
 * nodeos's own words come from slotkeeper/nodeos.h, the include list is split by
 * the library's sk_include_parse.
 */
#include "daemon/slot_proc.h"

#include "slotkeeper/inclist.h"
#include "slotkeeper/nodeos.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/chainid.h"
#include "slotkeeper/facts.h"
#include "slotkeeper/freeze.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/golden.h"
#include "slotkeeper/log.h"
#include "slotkeeper/prune.h"
#include "slotkeeper/repo.h"
#include "slotkeeper/restore.h"
#include "slotkeeper/snapshot.h"
#include "slotkeeper/verify.h"

struct job {
    uv_work_t w;
    sk_slot_t *s;
    unsigned gen;
    sk_slot_job_t kind;
    /* inputs */
    char data_dir[PATH_MAX], log_file[PATH_MAX], repo[PATH_MAX], snapshot[SK_ID_MAX];
    char include[256];
    bool read_log;
    uint64_t log_offset;
    bool ignore_env;
    int threads, level;
    unsigned keep, keep_last;
    unsigned full_reread_every;
    unsigned golden_full_verify_every;
    bool quarantine_delete;
    uint64_t lock_wait_ms;
    char chain_dir[PATH_MAX];    /* a worker's restore: the archive's data-dir, whose chain it follows */
    bool archive;                /* the archival node's: its checks sweep stale frozen copies */
    bool freeze;                 /* a cycle's snapshot may freeze first (freeze.h) */
    struct frozen_cycle *frozen; /* the frozen copy: made by a snapshot job, read by a frozen one */
    /* outputs */
    int rc;
    sk_err_t err;
    sk_verdict_t verdict;
    char reason[512];
    pid_t lock_pid;
    bool state_present;
    bool log_corrupt, log_env;
    char id[SK_ID_MAX];
    uint64_t bytes_read, new_bytes;
    char note[160];
    double stopped_s;
    char freeze_note[400];
    bool freeze_failed;
    char path[16];
    uint64_t bytes_written, bytes_cloned, bytes_unchanged;
};

/* A cycle's frozen copy and the facts of the check that preceded it, from the freeze to the
 * end of its snapshot (the facts point into themselves: this never moves). */
struct frozen_cycle {
    sk_frozen_t fz;
    sk_facts_t fs;
};

static void sweep_frozen(const char *data_dir)
{
    int fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    sk_err_t e;
    sk_err_clear(&e);
    unsigned n = 0;
    if (sk_freeze_sweep(fd, data_dir, &n, &e) < 0)
        log_warnx("%s: %s", e.path, e.msg);
    if (n)
        log_info("%s: removed %u stale frozen cop%s (left by an interrupted cycle)", data_dir, n, n == 1 ? "y" : "ies");
    close(fd);
}

/* The last len-1 bytes the node wrote to its log since offset (where the log ended when it
 * started), NUL-terminated: only this run's lines count. A log rotated since is read whole. */
static ssize_t log_since(const char *path, uint64_t offset, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return -errno;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < offset)
        offset = 0;
    uint64_t from = size - offset > len - 1 ? size - (len - 1) : offset;
    ssize_t n = sk_pread_full(fd, buf, (size_t)(size - from), (off_t)from);
    close(fd);
    if (n < 0)
        return n;
    buf[n] = '\0';
    return n;
}

static void job_check(struct job *j)
{
    if (j->archive)
        sweep_frozen(j->data_dir);
    sk_datadir_report_t r;
    if (sk_datadir_check(j->data_dir, &(sk_check_opts_t){0}, &r, &j->err) < 0) {
        j->rc = j->err.code;
        return;
    }
    j->verdict = r.verdict;
    snprintf(j->reason, sizeof(j->reason), "%s", r.reason);
    j->lock_pid = r.lock_pid;
    j->state_present = r.state.present;
    if (j->read_log) {
        char tail[4096];
        if (log_since(j->log_file, j->log_offset, tail, sizeof(tail)) > 0) {
            const char *m = sk_nodeos_log_corruption(tail, &j->log_env);
            if (m) {
                j->log_corrupt = true;
                snprintf(j->reason, sizeof(j->reason), "its log says \"%s\"", m);
            }
        }
    }
}

static void job_restore(struct job *j)
{
    char state[PATH_MAX];
    unsigned char env[SK_STATE_ENV_SIZE];
    char env_hex[2 * SK_STATE_ENV_SIZE + 1];
    const char *require = NULL;
    sk_path_join(state, sizeof(state), j->data_dir, "state/shared_memory.bin");
    sk_err_t e2;
    sk_err_clear(&e2);
    /* The slot's own state says which environment its node runs in, unless that state is the
     * problem (incompatible): then any good snapshot, the newest, is the best guess. */
    if (!j->ignore_env && sk_state_read_env(state, env, &e2) == 0) {
        sk_env_to_hex(env, env_hex);
        require = env_hex;
    }
    /* A worker with no chain of its own (no block log, no genesis.json) follows the archive's;
     * one whose own chain differs is refused by the restore (invariant 11). */
    char chain[SK_CHAIN_ID_HEX] = "", own[SK_CHAIN_ID_HEX];
    if (j->chain_dir[0] && sk_chainid_of_datadir(j->data_dir, own, NULL, &e2) < 0 &&
        sk_chainid_of_datadir(j->chain_dir, chain, NULL, &e2) < 0)
        chain[0] = '\0';
    sk_repo_t *repo;
    j->rc = sk_repo_open(j->repo, SK_LOCK_SHARED, j->lock_wait_ms, "daemon restore", &repo, &j->err);
    if (j->rc < 0)
        return;
    /* A snapshot found damaged mid-restore is marked bad by the restore; the next older good
     * one is tried then, a few times at most. */
    for (int attempt = 0; attempt < 4; attempt++) {
        sk_restore_opts_t ro = {
            .data_dir = j->data_dir,
            .snapshot = j->snapshot[0] ? j->snapshot : "latest",
            .threads = j->threads,
            .keep = j->keep,
            .quarantine_delete = j->quarantine_delete,
            .require_env = require,
            .chain_id = chain[0] ? chain : NULL,
        };
        sk_restore_result_t res;
        sk_err_clear(&j->err);
        j->rc = sk_restore(repo, &ro, NULL, &res, &j->err);
        if (j->rc == 0) {
            snprintf(j->id, sizeof(j->id), "%s", res.id);
            j->bytes_read = res.data_bytes;
            snprintf(j->path, sizeof(j->path), "%s", res.path);
            j->bytes_written = res.bytes_written;
            j->bytes_cloned = res.bytes_cloned;
            j->bytes_unchanged = res.bytes_unchanged;
            break;
        }
        if (j->rc != -EBADMSG || j->snapshot[0])
            break;
        log_warnx("%s: %s; trying the next older good snapshot", j->err.path, j->err.msg);
    }
    sk_repo_close(repo);
}

static void job_snapshot(struct job *j)
{
    /* The data-dir lock (shared) from the check to the published snapshot: no restore can
     * change the data-dir between the two. */
    int lockfd = -1;
    j->rc = sk_datadir_lock(j->data_dir, false, &lockfd, &j->err);
    if (j->rc < 0)
        return;
    sk_datadir_report_t r;
    if (sk_datadir_check(j->data_dir, &(sk_check_opts_t){0}, &r, &j->err) < 0) {
        j->rc = j->err.code;
        close(lockfd);
        return;
    }
    if (r.verdict != SK_VERDICT_CLEAN) {
        j->verdict = r.verdict;
        j->rc = sk_err_set(&j->err, r.verdict == SK_VERDICT_RUNNING ? -EBUSY : -EUCLEAN, j->data_dir,
                           "%s: %s; nothing published", sk_verdict_name(r.verdict), r.reason);
        close(lockfd);
        return;
    }
    sk_facts_t fs;
    sk_facts_from_check(&fs, j->data_dir, &r);
    char **inc = NULL;
    size_t ninc = 0;
    j->rc = sk_include_parse(j->include, &inc, &ninc, &j->err);
    if (j->rc < 0) {
        close(lockfd);
        return;
    }
    sk_err_t fe;
    sk_err_clear(&fe);
    sk_freeze_sweep(lockfd, j->data_dir, NULL, &fe);
    if (j->freeze) {
        /* Clone the folders, free the data-dir: the node restarts while the clone is read. */
        struct frozen_cycle *fc = calloc(1, sizeof(*fc));
        char why[sizeof(j->freeze_note) - 64];
        int f = fc ? sk_freeze(lockfd, j->data_dir, (const char *const *)inc, ninc, &fc->fz, why, sizeof(why), &fe)
                   : sk_err_set(&fe, -ENOMEM, j->data_dir, NULL);
        if (f == 0) {
            sk_facts_from_check(&fc->fs, j->data_dir, &r);
            close(lockfd);
            sk_include_free(inc, ninc);
            j->frozen = fc;
            j->stopped_s = fc->fz.seconds;
            return;
        }
        free(fc);
        if (f == 1)
            snprintf(j->freeze_note, sizeof(j->freeze_note), "no freeze: %s", why);
        else
            snprintf(j->freeze_note, sizeof(j->freeze_note), "no freeze: %s: %s", fe.path, fe.msg);
        j->freeze_failed = f < 0;
    }
    double t0 = sk_now();
    sk_repo_t *repo;
    j->rc = sk_repo_open(j->repo, SK_LOCK_SHARED, j->lock_wait_ms, "daemon snapshot", &repo, &j->err);
    if (j->rc < 0) {
        sk_include_free(inc, ninc);
        close(lockfd);
        return;
    }
    sk_repo_sweep(repo);
    sk_snapshot_opts_t so = {
        .data_dir = j->data_dir,
        .include = (const char *const *)inc,
        .ninclude = ninc,
        .threads = j->threads,
        .level = j->level,
        .facts = fs.f,
        .nfacts = fs.n,
        .full_reread_every = j->full_reread_every,
    };
    sk_snapshot_result_t res;
    j->rc = sk_snapshot_create(repo, &so, NULL, &res, &j->err);
    sk_include_free(inc, ninc);
    sk_repo_close(repo);
    close(lockfd);
    j->stopped_s = sk_now() - t0;
    if (j->rc == 0) {
        snprintf(j->id, sizeof(j->id), "%s", res.id);
        j->bytes_read = res.read_bytes; /* what the cycle read from the data-dir; the rest was carried */
        j->new_bytes = res.new_bytes;
    }
}

/* The snapshot of a cycle's frozen copy (the node runs again meanwhile); the copy is removed
 * whatever the outcome. Neither the data-dir's lock nor the data-dir is touched: the copy is
 * its own folder, held by its own lock. */
static void job_frozen_snapshot(struct job *j)
{
    struct frozen_cycle *fc = j->frozen;
    j->frozen = NULL;
    char **inc = NULL;
    size_t ninc = 0;
    sk_repo_t *repo = NULL;
    j->rc = sk_include_parse(j->include, &inc, &ninc, &j->err);
    if (j->rc == 0)
        j->rc = sk_repo_open(j->repo, SK_LOCK_SHARED, j->lock_wait_ms, "daemon snapshot", &repo, &j->err);
    if (j->rc == 0) {
        sk_repo_sweep(repo);
        sk_snapshot_opts_t so = {
            .data_dir = fc->fz.path,
            .include = (const char *const *)inc,
            .ninclude = ninc,
            .threads = j->threads,
            .level = j->level,
            .facts = fc->fs.f,
            .nfacts = fc->fs.n,
            .full_reread_every = j->full_reread_every,
        };
        sk_snapshot_result_t res;
        j->rc = sk_snapshot_create(repo, &so, NULL, &res, &j->err);
        sk_repo_close(repo);
        if (j->rc == 0) {
            snprintf(j->id, sizeof(j->id), "%s", res.id);
            j->bytes_read = res.read_bytes; /* read from the frozen copy; the rest was carried */
            j->new_bytes = res.new_bytes;
        }
    }
    sk_include_free(inc, ninc);
    sk_err_t e;
    sk_err_clear(&e);
    if (sk_frozen_discard(&fc->fz, &e) < 0)
        log_warnx("%s: %s", e.path, e.msg);
    free(fc);
}

void sk_slot_frozen_release(void *frozen)
{
    struct frozen_cycle *fc = frozen;
    if (!fc)
        return;
    /* Only its lock is let go, on the loop: the folder is swept by the next check or cycle. */
    if (fc->fz.fd >= 0)
        close(fc->fz.fd);
    if (fc->fz.metafd >= 0)
        close(fc->fz.metafd);
    free(fc);
}

/* After a cycle, with the node running again: verify the new snapshot, bring the golden copy up
 * to date (when the repository keeps one), then prune. */
static void job_after_cycle(struct job *j)
{
    sk_repo_t *repo;
    j->rc = sk_repo_open(j->repo, SK_LOCK_SHARED, j->lock_wait_ms, "daemon verify", &repo, &j->err);
    if (j->rc < 0)
        return;
    const char *ids[1] = {j->id};
    sk_verify_report_t vr;
    j->rc = sk_verify(repo, ids, 1, j->threads, NULL, &vr, &j->err);
    char gnote[160] = "";
    if (j->rc == 0 && vr.n == 1 && vr.snaps[0].ok && repo->golden) {
        /* Only the chunks that changed are written; a failure is logged, and the next cycle's
         * update catches up (restores fall back to writing chunks meanwhile). */
        sk_golden_result_t gr;
        sk_err_t gerr;
        sk_err_clear(&gerr);
        char a[32], b[32];
        sk_golden_opts_t go = {.full_verify_every = j->golden_full_verify_every};
        if (sk_golden_update_ex(repo, &go, NULL, &gr, &gerr) < 0)
            log_warnx("%s: golden copy not updated: %s", gerr.path, gerr.msg);
        else if (!gr.unchanged)
            snprintf(gnote, sizeof(gnote), "; golden copy updated (%s written, %s verified)",
                     sk_fmt_bytes(gr.bytes_written, a, sizeof(a)), sk_fmt_bytes(gr.bytes_verified, b, sizeof(b)));
    }
    sk_repo_close(repo);
    if (j->rc < 0)
        return;
    bool ok = vr.n == 1 && vr.snaps[0].ok;
    if (!ok)
        snprintf(j->note, sizeof(j->note), "verify: %s", vr.n ? vr.snaps[0].reason : "not found");
    sk_verify_report_free(&vr);
    if (!ok) {
        j->rc = -EBADMSG;
        return;
    }
    j->rc = sk_repo_open(j->repo, SK_LOCK_EXCLUSIVE, j->lock_wait_ms, "daemon prune", &repo, &j->err);
    if (j->rc < 0) {
        snprintf(j->note, sizeof(j->note), "verified; prune skipped: %s", j->err.msg);
        j->rc = 0;
        return;
    }
    sk_prune_result_t pr;
    j->rc = sk_prune(repo, j->keep_last, &pr, &j->err);
    sk_repo_close(repo);
    if (j->rc == 0) {
        snprintf(j->note, sizeof(j->note), "verified; pruned %zu snapshots%s", pr.nremoved, gnote);
        sk_prune_result_free(&pr);
    } else {
        snprintf(j->note, sizeof(j->note), "verified; prune failed: %s", j->err.msg);
        j->rc = 0;
    }
}

static void on_job(uv_work_t *w)
{
    struct job *j = w->data;
    sk_err_clear(&j->err);
    switch (j->kind) {
    case SK_JOB_CHECK:
        job_check(j);
        break;
    case SK_JOB_RESTORE:
        job_restore(j);
        break;
    case SK_JOB_SNAPSHOT:
        job_snapshot(j);
        break;
    case SK_JOB_AFTER_CYCLE:
        job_after_cycle(j);
        break;
    case SK_JOB_FROZEN_SNAPSHOT:
        job_frozen_snapshot(j);
        break;
    }
}

static void on_job_done(uv_work_t *w, int status)
{
    struct job *j = w->data;
    sk_slot_t *s = j->s;
    sk_slot_job_result_t r = {
        .kind = j->kind,
        .gen = j->gen,
        .rc = status == UV_ECANCELED && j->rc == 0 ? -ECANCELED : j->rc,
        .verdict = j->verdict,
        .lock_pid = j->lock_pid,
        .state_present = j->state_present,
        .log_corrupt = j->log_corrupt,
        .log_env = j->log_env,
        .bytes_read = j->bytes_read,
        .new_bytes = j->new_bytes,
        .frozen = j->frozen,
        .stopped_s = j->stopped_s,
        .bytes_written = j->bytes_written,
        .bytes_cloned = j->bytes_cloned,
        .bytes_unchanged = j->bytes_unchanged,
    };
    snprintf(r.freeze_note, sizeof(r.freeze_note), "%s", j->freeze_note);
    r.freeze_failed = j->freeze_failed;
    snprintf(r.path, sizeof(r.path), "%s", j->path);
    if (r.rc < 0)
        snprintf(r.err, sizeof(r.err), "%s%s%s", j->err.path, j->err.path[0] ? ": " : "",
                 j->err.msg[0] ? j->err.msg : strerror(-r.rc));
    snprintf(r.reason, sizeof(r.reason), "%s", j->reason);
    snprintf(r.id, sizeof(r.id), "%s", j->id);
    snprintf(r.note, sizeof(r.note), "%s", j->note);
    free(j);
    sk_slot_job_finished(s, &r);
}

int sk_slot_queue_job(sk_slot_t *s, sk_slot_job_t kind)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    const sk_config_t *c = sk_slot_cfg(s);
    j->s = s;
    j->gen = s->gen;
    j->kind = kind;
    j->w.data = j;
    snprintf(j->data_dir, sizeof(j->data_dir), "%s", s->v.data_dir);
    snprintf(j->log_file, sizeof(j->log_file), "%s", s->log_file);
    snprintf(j->repo, sizeof(j->repo), "%s", c->repo_path);
    snprintf(j->snapshot, sizeof(j->snapshot), "%s", kind == SK_JOB_RESTORE ? s->want_snapshot : "");
    snprintf(j->include, sizeof(j->include), "%s", s->include);
    if (kind == SK_JOB_AFTER_CYCLE)
        snprintf(j->id, sizeof(j->id), "%s", s->cur.id);
    /* A node's own words count only for a failure to start: an early exit or nodeos's codes. */
    j->read_log = s->check_after_exit && s->failed_start;
    j->log_offset = s->log_offset;
    j->ignore_env = s->restore_reason == SK_REASON_INCOMPATIBLE;
    j->threads = (int)c->threads;
    j->level = (int)c->level;
    j->keep = c->quarantine_keep;
    j->quarantine_delete = c->quarantine == 1;
    j->keep_last = c->keep_last;
    j->full_reread_every = c->full_reread_every;
    j->golden_full_verify_every = c->golden_full_verify_every;
    j->lock_wait_ms = c->lock_wait_ms;
    if (s->v.num && kind == SK_JOB_RESTORE)
        snprintf(j->chain_dir, sizeof(j->chain_dir), "%s", c->archive_data_dir);
    j->archive = s->v.archive;
    /* A cycle whose node restarts after it freezes first, unless [archive] freeze = off. */
    j->freeze = kind == SK_JOB_SNAPSHOT && c->archive_freeze == 0 && !s->stay_stopped_after;
    if (kind == SK_JOB_FROZEN_SNAPSHOT)
        j->frozen = s->frozen;
    int rc = uv_queue_work(s->host->loop, &j->w, on_job, on_job_done);
    if (rc < 0) {
        free(j);
        return rc;
    }
    if (kind == SK_JOB_FROZEN_SNAPSHOT) {
        s->frozen = NULL;
        s->frozen_busy = true;
    } else {
        s->job_busy = true;
    }
    return 0;
}
