/*
 * runstat: tiny timing wrapper used by the slotkeeper benchmark.
 *
 *   runstat [-o FILE] -- COMMAND ARGS...
 *
 * Runs COMMAND (looked up in PATH with execvp), waits for it, and prints one line
 *
 *   wall=<seconds, 3 decimals> maxrss_kib=<ru_maxrss of RUSAGE_CHILDREN> status=<exit status or 128+signal>
 *
 * to stderr, or appends it to FILE with -o.  runstat then exits with the child's status (128+signal if it was
 * killed), so it can sit in front of any command in a script.  If the command cannot be executed the status is 127
 * (not found) or 126 (other exec errors), as in the shell.  runstat's own errors print "runstat: <what>: <reason>"
 * and exit 1; usage errors exit 2.
 *
 * About maxrss: getrusage(RUSAGE_CHILDREN) reports the largest ru_maxrss of all descendants that have terminated and
 * been waited for, not a sum.  For a pipeline run as `runstat -- sh -c 'a | b'` the shell waits for a and b, so
 * their usage is folded into the shell's, and the value printed is the peak RSS of the largest single process of
 * the pipeline (or of the shell itself).  Processes of the pipeline that are not waited for (daemonised ones) are
 * not counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROG "runstat"

static void die(const char *what, const char *reason)
{
    fprintf(stderr, PROG ": %s: %s\n", what, reason);
    exit(1);
}

static void usage(void)
{
    fprintf(stderr, "usage: " PROG " [-o FILE] -- COMMAND ARGS...\n");
    exit(2);
}

static double now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        die("clock_gettime", strerror(errno));
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *out_path = NULL;
    int opt;

    /* "+" stops at the first non-option, so options of COMMAND are never taken for ours */
    while ((opt = getopt(argc, argv, "+o:")) != -1) {
        switch (opt) {
        case 'o':
            out_path = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind >= argc)
        usage();
    char **cmd = argv + optind;

    /* open the report file first, so a bad -o fails before the command runs */
    int out_fd = STDERR_FILENO;
    if (out_path) {
        out_fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (out_fd < 0)
            die(out_path, strerror(errno));
    }

    /* like time(1): while the child runs, a ^C or ^\ is for the child only; we report how it ended */
    struct sigaction ign = {0}, old_int, old_quit;
    ign.sa_handler = SIG_IGN;
    if (sigemptyset(&ign.sa_mask) < 0)
        die("sigemptyset", strerror(errno));

    double start = now();
    pid_t pid = fork();
    if (pid < 0)
        die("fork", strerror(errno));
    if (pid == 0) {
        execvp(cmd[0], cmd);
        int err = errno;
        fprintf(stderr, PROG ": %s: %s\n", cmd[0], strerror(err));
        _exit(err == ENOENT ? 127 : 126);
    }
    if (sigaction(SIGINT, &ign, &old_int) < 0 || sigaction(SIGQUIT, &ign, &old_quit) < 0)
        die("sigaction", strerror(errno));

    int wstatus;
    while (waitpid(pid, &wstatus, 0) < 0) {
        if (errno != EINTR)
            die("waitpid", strerror(errno));
    }
    double wall = now() - start;

    if (sigaction(SIGINT, &old_int, NULL) < 0 || sigaction(SIGQUIT, &old_quit, NULL) < 0)
        die("sigaction", strerror(errno));

    struct rusage ru;
    if (getrusage(RUSAGE_CHILDREN, &ru) < 0)
        die("getrusage", strerror(errno));

    int status;
    if (WIFEXITED(wstatus))
        status = WEXITSTATUS(wstatus);
    else if (WIFSIGNALED(wstatus))
        status = 128 + WTERMSIG(wstatus);
    else
        status = 255;

    char line[128];
    int n = snprintf(line, sizeof line, "wall=%.3f maxrss_kib=%ld status=%d\n", wall, ru.ru_maxrss, status);
    if (n < 0 || (size_t)n >= sizeof line)
        die("snprintf", "line too long");
    const char *p = line;
    size_t left = (size_t)n;
    while (left > 0) { /* a single write() with O_APPEND keeps lines from parallel runs whole */
        ssize_t w = write(out_fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die(out_path ? out_path : "stderr", strerror(errno));
        }
        p += w;
        left -= (size_t)w;
    }
    if (out_path && close(out_fd) < 0)
        die(out_path, strerror(errno));
    return status;
}
