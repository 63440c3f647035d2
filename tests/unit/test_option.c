/*
 * test_option: the option table (supervisor/option.h) serves the file and the
 * command line with one set of bounds; config.c's errors name the file and
 * line; every key's default loads.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../supervisor/option.h"
#include "slotkeeper/config.h"
#include "unit.h"

static int parse(int id, const char *v, bool file, uint64_t *n)
{
    sk_optval_t val;
    char why[256];
    int rc = sk_option_parse(sk_option_by_id(id), v, file, &val, why, sizeof(why));
    if (n)
        *n = val.n;
    return rc;
}

TEST(option_shared_rows_have_one_bound)
{
    /* --keep-last and [repository] keep_last are one row */
    CHECK(sk_option_by_id(O_KEEP_LAST) == sk_option_by_key("repository", "keep_last"));
    CHECK(sk_option_by_id(O_THREADS) == sk_option_by_key("repository", "threads"));
    CHECK(sk_option_by_id(O_LEVEL) == sk_option_by_key("repository", "level"));
    uint64_t n;
    CHECK_EQ(parse(O_KEEP_LAST, "0", false, NULL), -EINVAL);
    CHECK_EQ(parse(O_KEEP_LAST, "100000", false, &n), 0);
    CHECK_EQ(n, 100000);
    CHECK_EQ(parse(O_KEEP_LAST, "100001", true, NULL), -EINVAL);
    CHECK_EQ(parse(O_LEVEL, "20", false, NULL), -EINVAL);
    CHECK_EQ(parse(O_LOCK_WAIT, "30s", false, &n), 0);
    CHECK_EQ(n, 30000);
    CHECK_EQ(parse(O_LOCK_WAIT, "soon", false, NULL), -EINVAL);
    CHECK_EQ(parse(O_CHUNK_SIZE, "1000", false, NULL), -EINVAL);
    CHECK_EQ(parse(O_CHUNK_SIZE, "64KiB", false, &n), 0);
    CHECK_EQ(parse(O_QUARANTINE, "delete", false, &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(parse(O_SNAPSHOT, "../x", false, NULL), -EINVAL);
    CHECK_EQ(parse(O_SNAPSHOT, "latest", false, NULL), 0);
    /* a path is absolute in the file, may be relative on the command line */
    CHECK_EQ(parse(O_REPO, "rel/repo", false, NULL), 0);
    CHECK_EQ(parse(O_REPO, "rel/repo", true, NULL), -EINVAL);
}

TEST(option_include_list)
{
    /* The list keys parse through the library's one include parser (slotkeeper/inclist.h). */
    CHECK_EQ(parse(O_INCLUDE, "blocks,state", false, NULL), 0);
    CHECK_EQ(parse(O_INCLUDE, "../etc", false, NULL), -EINVAL);
    CHECK_EQ(parse(O_INCLUDE, "blocks,blocks", false, NULL), -EINVAL);
    CHECK_EQ(parse(O_INCLUDE, ".slotkeeper", false, NULL), -EINVAL);
    /* no cap on the number of names */
    CHECK_EQ(parse(O_INCLUDE, "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r", false, NULL), 0);
}

TEST(option_every_default_parses)
{
    for (size_t i = 0; i < sk_noptions; i++) {
        const sk_option_t *k = &sk_options[i];
        CHECK(k->key || k->flag);
        CHECK(k->doc && *k->doc);
        if (k->def && *k->def && k->type != T_FLAG) {
            sk_optval_t v;
            char why[256];
            if (sk_option_parse(k, k->def, k->key != NULL, &v, why, sizeof(why)) < 0)
                unit_fail(__FILE__, __LINE__, "default of %s: %s", k->key ? k->key : k->flag, why);
        }
        if (k->type == T_UINT || k->type == T_DURATION)
            CHECK(k->min <= k->max);
    }
}

static void write_conf(const char *text)
{
    FILE *f = fopen("c.conf", "w");
    CHECK(f);
    fputs(text, f);
    fclose(f);
}

TEST(config_errors_name_file_and_line)
{
    sk_config_t c;
    sk_err_t err;
    sk_err_clear(&err);
    write_conf("[repository]\npath = /tmp/r\nkeep_last = 0\n");
    CHECK_EQ(sk_config_load("c.conf", &c, &err), -EINVAL);
    CHECK_STR(err.path, "c.conf");
    CHECK(strstr(err.msg, "line 3: [repository] keep_last: '0' is not a whole number from 1 to 100000"));
    sk_err_clear(&err);
    write_conf("[archive]\ninclude = blocks\n");
    CHECK_EQ(sk_config_load("c.conf", &c, &err), -EINVAL);
    CHECK(strstr(err.msg, "[repository] path: required"));
    sk_err_clear(&err);
    write_conf("[repository]\npath = /tmp/r\n[nope]\nx = 1\n");
    CHECK_EQ(sk_config_load("c.conf", &c, &err), -EINVAL);
    CHECK(strstr(err.msg, "line 4: [nope] x: unknown section"));
}

TEST(config_defaults_load)
{
    sk_config_t c;
    sk_err_t err;
    sk_err_clear(&err);
    write_conf("[repository]\npath = /tmp/r\n");
    CHECK_OK(sk_config_load("c.conf", &c, &err), &err);
    CHECK_EQ(c.keep_last, 6);
    CHECK_EQ(c.level, 3);
    CHECK_EQ(c.threads, 0);
    CHECK_EQ(c.lock_wait_ms, 60000);
    CHECK_EQ(c.quarantine_keep, 1);
    CHECK_EQ(c.log_max_size, 64ULL << 20);
    CHECK_STR(c.archive_include, "blocks,state");
    sk_config_free(&c);
}
