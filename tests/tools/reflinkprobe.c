/*
 * reflinkprobe: runs the library's clone probe (sk_reflink_probe) between two folders and
 * prints "yes", or "no <reason>", so shell tests see what slotkeeper itself will decide.
 *
 *   reflinkprobe SRC_DIR DST_DIR     exit 0 (yes or no), 1 on an error
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "slotkeeper/reflink.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: reflinkprobe SRC_DIR DST_DIR\n");
        return 2;
    }
    int a = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int b = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (a < 0 || b < 0) {
        fprintf(stderr, "reflinkprobe: %s: cannot open the folder\n", a < 0 ? argv[1] : argv[2]);
        return 1;
    }
    int why = 0;
    int rc = sk_reflink_probe(a, b, &why);
    if (rc < 0) {
        fprintf(stderr, "reflinkprobe: %s\n", strerror(-rc));
        return 1;
    }
    if (rc == 1)
        printf("yes\n");
    else
        printf("no %s\n", strerror(why));
    return 0;
}
