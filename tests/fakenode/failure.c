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
    if (opt.fl->appbase_note)
        raw_err("appbase: exception thrown during plugin \"chain_plugin\" initialization.");
}

/* A std::exception (chainbase's std::system_error) escaping chain_plugin::plugin_initialize. fc's log
 * message ends with a newline, so an empty line follows each (as Leap 4.0.6 prints it). */
_Noreturn void fail_std(const char *what)
{
    const struct flavour *fl = opt.fl;
    if (fl->exit_zero) {
        nlog(LV_ERROR, "main.cpp", fl->main_line, "main", "%s", what);
        fail_exit(RC_SUCCESS);
    }
    nlog(LV_WARN, "chain_plugin.cpp", fl->chain_line, "plugin_initialize",
         "13 N5boost10wrapexceptISt12system_errorEE: %s\nrethrow %s: \n    {\"what\":\"%s\"}\n"
         "    nodeos  chain_plugin.cpp:%d plugin_initialize\n",
         what, what, what, fl->chain_line);
    appbase_note();
    if (strstr(what, "atabase dirty flag set")) {
        nlog(LV_ERROR, "main.cpp", fl->main_line, "main", "%s",
             fl->capital_dirty ? "Database dirty flag set (likely due to unclean shutdown): replay required"
                               : "database dirty flag set (likely due to unclean shutdown): replay required");
        fail_exit(RC_DATABASE_DIRTY);
    }
    nlog(LV_ERROR, "main.cpp", fl->main_line + 8, "main",
         "13 N5boost10wrapexceptISt12system_errorEE: %s\nrethrow %s: \n    {\"what\":\"%s\"}\n"
         "    nodeos  chain_plugin.cpp:%d plugin_initialize\n",
         what, what, what, fl->chain_line);
    fail_exit(RC_OTHER_FAIL);
}

static _Noreturn void fail_fc_v(const char *code_name, const char *generic, const char *file, int line,
                                const char *method, const char *ctx, const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));

/* An fc::exception thrown at file:line in method: chain_plugin logs it as a warning (the exception's own
 * lines) and rethrows; main logs it as an error with the rethrow's lines added, and exits 254. */
static _Noreturn void fail_fc_v(const char *code_name, const char *generic, const char *file, int line,
                                const char *method, const char *ctx, const char *fmt, va_list ap)
{
    const struct flavour *fl = opt.fl;
    char msg[4096], detail[6144];
    vsnprintf(msg, sizeof msg, fmt, ap);
    snprintf(detail, sizeof detail, "%s: %s\n%s\n    %s\n    nodeos  %s:%d %s", code_name, generic, msg,
             ctx ? ctx : "{}", file, line, method);
    if (fl->exit_zero) {
        nlog(LV_ERROR, "main.cpp", fl->main_line, "main", "%s", detail);
        fail_exit(RC_SUCCESS);
    }
    nlog(LV_WARN, "chain_plugin.cpp", fl->chain_line, "plugin_initialize", "%s\n", detail);
    appbase_note();
    nlog(LV_ERROR, "main.cpp", fl->main_line + 4, "main",
         "%s\nrethrow\n    {}\n"
         "    nodeos  chain_plugin.cpp:%d plugin_initialize\n",
         detail, fl->chain_line);
    fail_exit(RC_OTHER_FAIL);
}

_Noreturn void fail_fc(const char *code_name, const char *generic, const char *file, int line, const char *method,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_fc_v(code_name, generic, file, line, method, NULL, fmt, ap);
}

_Noreturn void fail_fc_ctx(const char *code_name, const char *generic, const char *file, int line, const char *method,
                           const char *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_fc_v(code_name, generic, file, line, method, ctx, fmt, ap);
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
