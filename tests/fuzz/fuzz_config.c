/*
 * fuzz_config: libFuzzer target for the configuration reader (sk_config_load, supervisor/config.c:
 * the prescan, inih, the key table and the rules across keys).
 *
 * Input: the configuration file, byte for byte. sk_config_load takes a path, so the input is
 * written to a file in a private temp folder (not a memfd: /proc/self/fd/N is a symbolic link,
 * and the reader opens with O_NOFOLLOW).
 *
 * Checks: a refusal leaves the caller's config untouched and gives a one-line reason; a file
 * that loads is expanded for a few slots into large and small buffers (sk_config_expand), then
 * printed (sk_config_print) and the printed file must load again and print the same text
 * (config.h: "an INI file that sk_config_load reads back to the same values").
 *
 * Seeds: tests/fuzz/corpus/config/ (etc/slotkeeper.conf, the files of t_config.sh and
 * t_daemon.sh, the output of `slotkeeper config check`, and small files per key type).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "slotkeeper/config.h"

static int mfd = -1, mfd2 = -1;
static char mpath[PATH_MAX], mpath2[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init("config");
    snprintf(mpath, sizeof(mpath), "%s/sk.conf", fz_dir);
    snprintf(mpath2, sizeof(mpath2), "%s/printed.conf", fz_dir);
    mfd = open(mpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    mfd2 = open(mpath2, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (mfd < 0 || mfd2 < 0) {
        perror(fz_dir);
        exit(1);
    }
    return 0;
}

static void set(int fd, const void *data, size_t len)
{
    if (ftruncate(fd, 0) < 0 || sk_pwrite_all(fd, data, len, 0) < 0) {
        perror("config file");
        abort();
    }
}

/* The printed form of c, malloc'd. */
static char *print(const sk_config_t *c, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f)
        abort();
    sk_config_print(c, f);
    fclose(f);
    return text;
}

static void expand_all(const sk_config_t *c)
{
    const char *tmpls[] = {c->worker_data_dir, c->worker_command, c->archive_command,
                           c->health_url,      c->log_file,       c->archive_data_dir};
    static const unsigned slots[] = {0, 1, 7, 1000, 4294967295U};
    for (size_t i = 0; i < sizeof(tmpls) / sizeof(tmpls[0]); i++) {
        for (size_t s = 0; s < sizeof(slots) / sizeof(slots[0]); s++) {
            char big[PATH_MAX], small[16];
            int rc = sk_config_expand(c, tmpls[i], slots[s], big, sizeof(big));
            if (rc < 0 && rc != -ENAMETOOLONG)
                fz_fail("expand returned %d", rc);
            if (rc == 0 && strlen(big) >= sizeof(big))
                fz_fail("expand overran");
            memset(small, 'x', sizeof(small));
            rc = sk_config_expand(c, tmpls[i], slots[s], small, sizeof(small));
            if (rc == 0 && !memchr(small, '\0', sizeof(small)))
                fz_fail("expand into a small buffer left it unterminated");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    set(mfd, data, size);
    sk_config_t c;
    memset(&c, 0xa5, sizeof(c));
    sk_config_t before = c;
    sk_err_t err;
    sk_err_clear(&err);
    int rc = sk_config_load(mpath, &c, &err);
    if (rc < 0) {
        if (memcmp(&c, &before, sizeof(c)))
            fz_fail("a refused file changed the caller's config");
        if (rc != err.code || !fz_one_line(err.msg))
            fz_fail("refusal %d without a one-line reason (err %d '%s')", rc, err.code, err.msg);
        return 0;
    }
    expand_all(&c);
    size_t alen = 0, blen = 0;
    char *a = print(&c, &alen);
    set(mfd2, a, alen);
    sk_config_t c2;
    sk_err_clear(&err);
    if (sk_config_load(mpath2, &c2, &err) < 0)
        fz_fail("the printed configuration does not load: %s\n--- input\n%.*s\n--- printed\n%s", err.msg, (int)size,
                (const char *)data, a);
    char *b = print(&c2, &blen);
    if (alen != blen || memcmp(a, b, alen))
        fz_fail("the printed configuration loads to other values:\n--- first\n%s\n--- second\n%s", a, b);
    free(a);
    free(b);
    sk_config_free(&c2);
    sk_config_free(&c);
    return 0;
}
