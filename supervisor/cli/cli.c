/*
 * cli: what every command of the command line shares (see cli.h): the one-line
 * error and its exit code, usage errors naming the running command, the
 * repository and path checks, and the configuration main loaded. main.c
 * dispatches to the cmd_*.c files; they and main call in here, never back into
 * main, so the command line has no circle of calls.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "slotkeeper/config.h"
#include "slotkeeper/exitcode.h"
#include "slotkeeper/log.h"
#include "slotkeeper/paths.h"

const char *cli_command;
sk_config_t cli_the_config;
bool cli_the_config_loaded;

int cli_fail(const sk_err_t *err)
{
    if (err->path[0])
        log_errorx("%s: %s", err->path, err->msg);
    else
        log_errorx("%s", err->msg);
    return sk_exit_code(err->code);
}

int cli_config_error(const sk_err_t *err)
{
    /* The line is "slotkeeper: FILE: line N: [section] key: reason", as README and
     * `config check --help` show it: the file names the problem, not the command. */
    log_set_command(NULL);
    log_errorx("%s: %s", err->path, err->msg);
    log_set_command(cli_command);
    /* A file that cannot be read is a failure (1); a file that reads but is wrong is a usage
     * error (2). */
    return err->code == -EINVAL || err->code == -EFBIG ? SK_EXIT_USAGE : SK_EXIT_FAIL;
}

int cli_usage_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_errorx("%s (see 'slotkeeper %s --help')", msg, cli_command ? cli_command : "");
    return SK_EXIT_USAGE;
}

int cli_check_paths(const char *data_dir, const char *repo)
{
    sk_paths_item_t items[] = {{"the data-dir", data_dir, true}, {"the repository", repo, false}};
    sk_err_t err;
    sk_err_clear(&err);
    int rc = sk_paths_check_apart(items, repo ? 2 : 1, NULL, &err);
    if (rc < 0) {
        int ex = cli_fail(&err);
        return rc == -EINVAL ? SK_EXIT_USAGE : ex;
    }
    return 0;
}

int cli_open_repo(struct options *o, enum sk_lock_mode mode, const char *command, sk_repo_t **repo)
{
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_repo_open(o->repo, mode, o->lock_wait_ms, command, repo, &err) < 0)
        return cli_fail(&err);
    return 0;
}

const struct sk_config *cli_config(void)
{
    return cli_the_config_loaded ? &cli_the_config : NULL;
}
