/*
 * cmd_archive: the portable-archive commands: export and import.
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
#include "slotkeeper/export.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/import.h"
#include "slotkeeper/log.h"
#include "progress.h"
#include "slotkeeper/repo.h"

int cmd_export(struct options *o)
{
    const char *which = o->args[0];
    if (strcmp(which, "latest") && !sk_id_valid(which))
        return cli_usage_error("'%s' is not a snapshot id", which);
    sk_err_t err;
    sk_err_clear(&err);
    bool to_stdout = !strcmp(o->output, "-");
    if (to_stdout && isatty(STDOUT_FILENO)) {
        log_warnx("refusing to write an archive to a terminal (use -o FILE or a pipe)");
        return SK_EXIT_USAGE;
    }
    /* A file appears under its name only when complete: written as a temporary, then renamed. */
    char tmp[PATH_MAX];
    int fd = STDOUT_FILENO;
    if (!to_stdout) {
        if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", o->output, (long)getpid()) >= (int)sizeof(tmp))
            return cli_usage_error("-o: path too long");
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
            sk_err_errno(&err, o->output);
            return cli_fail(&err);
        }
    }
    sk_repo_t *repo;
    int ex = cli_open_repo(o, SK_LOCK_SHARED, "export", &repo);
    if (ex) {
        if (!to_stdout) {
            close(fd);
            unlink(tmp);
        }
        return ex;
    }
    sk_progress_t prog;
    sk_progress_init(&prog, "export", o->progress);
    sk_export_result_t res;
    int rc = sk_export(repo, which, fd, o->level, o->threads, &prog, &res, &err);
    sk_repo_close(repo);
    if (!to_stdout) {
        if (rc == 0 && fsync(fd) < 0)
            rc = sk_err_errno(&err, o->output);
        if (close(fd) < 0 && rc == 0)
            rc = sk_err_errno(&err, o->output);
        if (rc == 0 && rename(tmp, o->output) < 0)
            rc = sk_err_errno(&err, o->output);
        if (rc < 0)
            unlink(tmp);
    }
    if (rc < 0)
        return cli_fail(&err);
    char a[32], b[32];
    if (!o->quiet)
        log_info("%s: snapshot %s, %" PRIu64 " entries, %s of data in %s, %.2fs", to_stdout ? "stdout" : o->output,
                 res.id, res.entries, sk_fmt_bytes(res.data_bytes, a, sizeof(a)),
                 sk_fmt_bytes(res.out_bytes, b, sizeof(b)), res.seconds);
    return SK_EXIT_OK;
}

int cmd_import(struct options *o)
{
    const char *file = o->args[0];
    sk_err_t err;
    sk_err_clear(&err);
    int fd = STDIN_FILENO;
    if (strcmp(file, "-")) {
        fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            sk_err_errno(&err, file);
            return cli_fail(&err);
        }
    }
    sk_repo_t *repo;
    int ex = cli_open_repo(o, SK_LOCK_SHARED, "import", &repo);
    if (ex) {
        if (fd != STDIN_FILENO)
            close(fd);
        return ex;
    }
    sk_repo_sweep(repo);
    sk_progress_t prog;
    sk_progress_init(&prog, "import", o->progress);
    sk_import_result_t res;
    int rc = sk_import(repo, fd, strcmp(file, "-") ? file : "stdin", o->threads, &prog, &res, &err);
    sk_repo_close(repo);
    if (fd != STDIN_FILENO)
        close(fd);
    if (rc < 0)
        return cli_fail(&err);
    char a[32], b[32];
    if (!o->quiet)
        log_info("%s: %s%s%s; %" PRIu64 " files, %s of data, %s new", res.snap.id,
                 res.had_manifest ? "checked against its manifest, from snapshot " : "no manifest, data-dir clean",
                 res.had_manifest ? res.source_id : "", "", res.snap.files,
                 sk_fmt_bytes(res.snap.data_bytes, a, sizeof(a)), sk_fmt_bytes(res.snap.new_bytes, b, sizeof(b)));
    printf("%s\n", res.snap.id);
    return SK_EXIT_OK;
}
