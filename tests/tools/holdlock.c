/*
 * holdlock: takes the fcntl write lock that nodeos (chainbase, via boost
 * file_lock) takes on state/shared_memory.bin, writes READY_FILE once it holds
 * it, and keeps it until killed. Tests use it to stand for a running node.
 *
 *   holdlock FILE READY_FILE
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: holdlock FILE READY_FILE\n");
        return 2;
    }
    int fd = open(argv[1], O_RDWR);
    if (fd < 0) {
        fprintf(stderr, "holdlock: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_SETLK, &fl) < 0) {
        fprintf(stderr, "holdlock: %s: cannot lock: %s\n", argv[1], strerror(errno));
        return 1;
    }
    int r = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (r < 0) {
        fprintf(stderr, "holdlock: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    dprintf(r, "%ld\n", (long)getpid());
    close(r);
    for (;;)
        pause();
}
