/*
 * log: the one logging module of slotkeeper.
 *
 * Messages go to stderr as "slotkeeper: <command>: <message>". Each call has a
 * level, and a message above the current level is dropped before anything is
 * formatted: log_error/log_errorx (an error that ends the operation or the
 * run), log_warn/log_warnx (something went wrong and the program carries on),
 * log_info, log_debug; fatal/fatalx log at error level and exit(1). The forms
 * without x append strerror(errno). `log_level = warn` therefore shows errors
 * and warnings, `error` only errors. The daemon issue adds syslog.
 */
#ifndef SLOTKEEPER_LOG_H
#define SLOTKEEPER_LOG_H

#include <stdnoreturn.h>

enum sk_log_level { SK_LOG_ERROR = 0, SK_LOG_WARN = 1, SK_LOG_INFO = 2, SK_LOG_DEBUG = 3 };

#ifndef SK_PRINTF
#define SK_PRINTF(a, b) __attribute__((__format__(printf, a, b)))
#endif

/* Sets the program name, the command shown in each line (may be NULL) and the level. */
void log_init(const char *prog, const char *command, int level);
void log_set_command(const char *command);
int log_level(void);

void log_error(const char *fmt, ...) SK_PRINTF(1, 2);
void log_errorx(const char *fmt, ...) SK_PRINTF(1, 2);
void log_warn(const char *fmt, ...) SK_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) SK_PRINTF(1, 2);
void log_info(const char *fmt, ...) SK_PRINTF(1, 2);
void log_debug(const char *fmt, ...) SK_PRINTF(1, 2);
noreturn void fatal(const char *fmt, ...) SK_PRINTF(1, 2);
noreturn void fatalx(const char *fmt, ...) SK_PRINTF(1, 2);

#endif
