/*
 * crashpoint: numbered disk steps and a SIGKILL at the chosen one (see crashpoint.h).
 * Compiled into build/crash/slotkeeper only; every other build gets an empty module.
 */
#include "slotkeeper/crashpoint.h"

#ifdef SK_CRASHPOINTS

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static _Atomic unsigned long steps;
static unsigned long crash_at; /* 0: never */
static int trace_fd = -1;

/* Before main: the environment is read while the process has one thread, and cleared
 * before it can start a child. */
__attribute__((constructor)) static void crashpoint_init(void)
{
    const char *at = getenv("SK_CRASH_AT"), *trace = getenv("SK_CRASH_TRACE");
    if (at && *at)
        crash_at = strtoul(at, NULL, 10);
    if (trace && *trace)
        trace_fd = open(trace, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    unsetenv("SK_CRASH_AT");
    unsetenv("SK_CRASH_TRACE");
}

void sk_crashpoint(const char *what, const char *file, int line)
{
    unsigned long n = atomic_fetch_add(&steps, 1) + 1;
    if (trace_fd >= 0) {
        char buf[256];
        int len = snprintf(buf, sizeof(buf), "%lu %s %s:%d\n", n, what, file, line);
        if (len > 0)
            (void)!write(trace_fd, buf, (size_t)len < sizeof(buf) ? (size_t)len : sizeof(buf) - 1);
    }
    if (n == crash_at) {
        /* What a kill -9 does: no handler, no atexit, no flushing, every thread at once. */
        kill(getpid(), SIGKILL);
        _exit(137);
    }
}

#else

typedef int sk_crashpoint_unused; /* ISO C wants a translation unit to declare something */

#endif
