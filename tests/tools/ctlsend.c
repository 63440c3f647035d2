/*
 * ctlsend: sends raw bytes to a Unix stream socket and prints what comes back, for the
 * control-socket tests (garbage, oversized and partial requests).
 *
 *   ctlsend SOCKET [IDLE_MS]   sends standard input as it is, then prints every byte the peer
 *                              sends until it closes the connection (exit 0) or stays silent for
 *                              IDLE_MS (default 3000; exit 3)
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ctlsend SOCKET [IDLE_MS]\n");
        return 2;
    }
    int idle = argc > 2 ? atoi(argv[2]) : 3000;
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "ctlsend: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(0, buf, sizeof(buf))) > 0) {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                /* The peer closed on us (an oversized request): read its last words. */
                goto drain;
            }
            off += w;
        }
    }
drain:
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, idle);
        if (r == 0)
            return 3;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            return 0;
        fwrite(buf, 1, (size_t)n, stdout);
        fflush(stdout);
    }
}
