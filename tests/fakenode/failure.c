/*
 * failure.c: how fakenode reports a startup failure, the way nodeos does.  chainbase throws std::system_error,
 * which chain_plugin's FC_LOG_AND_RETHROW logs as a warning and wraps; appbase notes the failing plugin; main()
 * turns "atabase dirty flag set" into exit 2 and everything else into exit 254 (Dawn 3.0: exit 0).  Before
 * exiting, node_release() does what the destructors of a partly constructed controller do: a chainbase database
 * that was opened for writing is closed cleanly (dirty flag cleared), and an opened fork database is written.
 */
#include "fakenode.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void node_release(void); /* main.c */

_Noreturn void fail_exit(int rc)
{
    node_release();
    exit(rc);
}

static void appbase_note(void)
{
    raw_err("appbase: exception thrown during plugin \"chain_plugin\" initialization.");
}

/* A std::exception (chainbase's std::system_error) escaping chain_plugin::plugin_initialize. */
_Noreturn void fail_std(const char *what)
{
    const struct flavour *fl = opt.fl;
    if (fl->exit_zero) {
        nlog(LV_ERROR, "main.cpp", fl->main_line, "main", "%s", what);
        fail_exit(RC_SUCCESS);
    }
    nlog(LV_WARN, "chain_plugin.cpp", 1074, "plugin_initialize",
         "13 N5boost10wrapexceptISt12system_errorEE: %s\nrethrow %s: \n    {\"what\":\"%s\"}\n"
         "    nodeos  chain_plugin.cpp:1074 plugin_initialize",
         what, what, what);
    appbase_note();
    if (strstr(what, "atabase dirty flag set")) {
        nlog(LV_ERROR, "main.cpp", fl->main_line, "main", "%s",
             fl->capital_dirty ? "Database dirty flag set (likely due to unclean shutdown): replay required"
                               : "database dirty flag set (likely due to unclean shutdown): replay required");
        fail_exit(RC_DATABASE_DIRTY);
    }
    nlog(LV_ERROR, "main.cpp", fl->main_line + 8, "main",
         "13 N5boost10wrapexceptISt12system_errorEE: %s\nrethrow %s: \n    {\"what\":\"%s\"}\n"
         "    nodeos  chain_plugin.cpp:1074 plugin_initialize",
         what, what, what);
    fail_exit(RC_OTHER_FAIL);
}

/* An fc::exception (block_log_exception, fork_database_exception, ...) thrown at file:line in method. */
_Noreturn void fail_fc(const char *code_name, const char *generic, const char *file, int line, const char *method,
                       const char *fmt, ...)
{
    const struct flavour *fl = opt.fl;
    char msg[4096], detail[6144];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(detail, sizeof detail, "%s: %s\n%s\n    {}\n    nodeos  %s:%d %s", code_name, generic, msg, file, line,
             method);
    if (fl->exit_zero) {
        nlog(LV_ERROR, "main.cpp", fl->main_line, "main", "%s", detail);
        fail_exit(RC_SUCCESS);
    }
    nlog(LV_WARN, "chain_plugin.cpp", 1074, "plugin_initialize",
         "%s\nrethrow\n    {}\n"
         "    nodeos  chain_plugin.cpp:1074 plugin_initialize",
         detail);
    appbase_note();
    nlog(LV_ERROR, "main.cpp", fl->main_line - 6, "main",
         "%s\nrethrow\n    {}\n"
         "    nodeos  chain_plugin.cpp:1074 plugin_initialize",
         detail);
    fail_exit(RC_OTHER_FAIL);
}

/* appbase's initialize() returning false: a bad option; nothing on disk has been touched yet. */
_Noreturn void fail_initialize(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    raw_err("Error: %s", msg);
    exit(RC_INITIALIZE_FAIL);
}

/* chain_plugin::handle_db_exhaustion: std::_Exit(1), no destructors, so the dirty flag stays set. */
_Noreturn void fail_exhausted(void)
{
    nlog(LV_ERROR, "chain_plugin.cpp", 1238, "handle_db_exhaustion", "database memory exhausted: increase %s",
         opt.fl->size_option);
    fflush(stderr);
    _Exit(RC_BAD_ALLOC);
}
