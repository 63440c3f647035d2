/*
 * test_paths: lexical normalisation, resolution of paths that exist only in
 * part (symbolic links followed, missing components applied lexically), the
 * same/inside/above relation, the system folders a data-dir may not be, and
 * the overlap check that the configuration and the commands run.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/paths.h"
#include "unit.h"

TEST(paths_normalize)
{
    static const char *const cases[][2] = {
        {"/", "/"},          {"//", "/"},  {"/a//b/", "/a/b"},      {"/a/./b/.", "/a/b"},        {"/a/b/..", "/a"},
        {"/a/b/../..", "/"}, {"/..", "/"}, {"/../a/../../b", "/b"}, {"/x/same/1/..", "/x/same"}, {"a/b/../c", "a/c"},
        {"a/..", "."},       {".", "."},   {"../a", "../a"},        {"a/../../b", "../b"},       {"../a/..", ".."},
    };
    char out[PATH_MAX];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_EQ(sk_paths_normalize(cases[i][0], out, sizeof(out)), 0);
        CHECK_STR(out, cases[i][1]);
    }
    CHECK_EQ(sk_paths_normalize("", out, sizeof(out)), -EINVAL);
    char small[4];
    CHECK_EQ(sk_paths_normalize("/abcd", small, sizeof(small)), -ENAMETOOLONG);
}

TEST(paths_resolve)
{
    char cwd[PATH_MAX], want[PATH_MAX * 2], out[PATH_MAX];
    CHECK(getcwd(cwd, sizeof(cwd)));
    CHECK_EQ(mkdir("real", 0755), 0);
    CHECK_EQ(mkdir("real/sub", 0755), 0);
    CHECK_EQ(symlink("real", "link"), 0);
    CHECK_EQ(symlink("nowhere", "dangling"), 0);

    /* Existing: links followed, relative paths from the working folder. */
    CHECK_EQ(sk_paths_resolve("link/sub", out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "%s/real/sub", cwd);
    CHECK_STR(out, want);
    CHECK_EQ(sk_paths_resolve("./link//sub/.", out, sizeof(out)), 0);
    CHECK_STR(out, want);
    /* ".." after a link is the link target's parent, as the kernel sees it. */
    CHECK_EQ(sk_paths_resolve("link/sub/..", out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "%s/real", cwd);
    CHECK_STR(out, want);

    /* Missing components: the longest existing ancestor plus the rest. */
    snprintf(want, sizeof(want), "%s/link/new/deeper", cwd);
    char in[PATH_MAX * 2];
    snprintf(in, sizeof(in), "%s", want);
    CHECK_EQ(sk_paths_resolve(in, out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "%s/real/new/deeper", cwd);
    CHECK_STR(out, want);
    /* A missing slot folder and "..": back to the existing folder, which is resolved. */
    CHECK_EQ(sk_paths_resolve("link/1/..", out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "%s/real", cwd);
    CHECK_STR(out, want);
    CHECK_EQ(sk_paths_resolve("nothere/a/../../link/sub", out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "%s/real/sub", cwd);
    CHECK_STR(out, want);
    /* A dangling link is kept as its name. */
    CHECK_EQ(sk_paths_resolve("dangling/x", out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "%s/dangling/x", cwd);
    CHECK_STR(out, want);
    /* Root and climbing above it. */
    CHECK_EQ(sk_paths_resolve("/../..", out, sizeof(out)), 0);
    CHECK_STR(out, "/");
    /* A file in the middle of the path. */
    unit_write_text("file", "x");
    CHECK_EQ(sk_paths_resolve("file/x", out, sizeof(out)), -ENOTDIR);
    CHECK_EQ(sk_paths_resolve("", out, sizeof(out)), -EINVAL);
    char small[8];
    CHECK_EQ(sk_paths_resolve("/a/b/c/d/e", small, sizeof(small)), -ENAMETOOLONG);
}

TEST(paths_relation)
{
    CHECK_EQ(sk_paths_relation("/a/b", "/a/b"), SK_PATHS_SAME);
    CHECK_EQ(sk_paths_relation("/a/b/c", "/a/b"), SK_PATHS_INSIDE);
    CHECK_EQ(sk_paths_relation("/a", "/a/b"), SK_PATHS_ABOVE);
    CHECK_EQ(sk_paths_relation("/a/bc", "/a/b"), SK_PATHS_APART);
    CHECK_EQ(sk_paths_relation("/a/b", "/a/bc"), SK_PATHS_APART);
    CHECK_EQ(sk_paths_relation("/x", "/"), SK_PATHS_INSIDE);
    CHECK_EQ(sk_paths_relation("/", "/x"), SK_PATHS_ABOVE);
    CHECK_EQ(sk_paths_relation("/", "/"), SK_PATHS_SAME);
    CHECK_EQ(sk_paths_relation("/srv/eos/1", "/srv/eos/10"), SK_PATHS_APART);
}

TEST(paths_system)
{
    static const char *const refused[] = {"/",       "/usr",     "/var",       "/home", "/root",  "/tmp",
                                          "/etc",    "/var/lib", "/usr/local", "/srv",  "/lib64", "/proc/1",
                                          "/sys/fs", "/dev/sda", "/dev/shm",   NULL};
    for (int i = 0; refused[i]; i++)
        if (!sk_paths_system(refused[i]))
            unit_fail(__FILE__, __LINE__, "%s taken for a data-dir", refused[i]);
    static const char *const fine[] = {"/srv/eos/1",   "/var/lib/eos", "/home/eos", "/tmp/x", "/opt/DockerJungleNet/1",
                                       "/dev/shm/eos", "/data",        "/usrx",     NULL};
    for (int i = 0; fine[i]; i++)
        if (sk_paths_system(fine[i]))
            unit_fail(__FILE__, __LINE__, "%s refused as a data-dir", fine[i]);
    CHECK_STR(sk_paths_system("/proc/1/root"), "/proc");
}

TEST(paths_check_apart)
{
    CHECK_EQ(mkdir("x", 0755), 0);
    CHECK_EQ(symlink("x", "alias"), 0);
    sk_err_t err;
    size_t bad = 99;

    sk_paths_item_t ok[] = {
        {"repository", "repo", false}, {"slot 1", "x/1", true}, {"slot 2", "x/2", true}, {"archive", "x/10", true}};
    sk_err_clear(&err);
    CHECK_OK(sk_paths_check_apart(ok, 4, &bad, &err), &err);

    /* Two slots on one folder, written differently. */
    sk_paths_item_t same[] = {{"slot 1", "x/same/1/..", true}, {"slot 2", "alias/same/2/..", true}};
    sk_err_clear(&err);
    CHECK_EQ(sk_paths_check_apart(same, 2, &bad, &err), -EINVAL);
    CHECK_EQ(bad, 1);
    CHECK_STR(err.path, "alias/same/2/..");
    CHECK(strstr(err.msg, "slot 2 is the same folder as slot 1 x/same/1/.. ("));

    /* A repository inside, above or equal to a data-dir. */
    sk_paths_item_t inside[] = {{"data-dir", "x/d", true}, {"repository", "alias/d/repo", false}};
    sk_err_clear(&err);
    CHECK_EQ(sk_paths_check_apart(inside, 2, &bad, &err), -EINVAL);
    CHECK(strstr(err.msg, "repository is inside data-dir x/d"));
    sk_paths_item_t above[] = {{"data-dir", "x/d", true}, {"repository", "x", false}};
    sk_err_clear(&err);
    CHECK_EQ(sk_paths_check_apart(above, 2, &bad, &err), -EINVAL);
    CHECK(strstr(err.msg, "repository contains data-dir x/d"));

    /* Two folders that are not data-dirs may nest. */
    sk_paths_item_t nest[] = {{"repository", "x/r", false}, {"state", "x/r/state", false}};
    sk_err_clear(&err);
    CHECK_OK(sk_paths_check_apart(nest, 2, &bad, &err), &err);

    /* A system folder as a data-dir; as a repository's parent it is fine. */
    sk_paths_item_t root[] = {{"repository", "/var/lib/slotkeeper/repo", false}, {"data-dir", "/x/../", true}};
    sk_err_clear(&err);
    CHECK_EQ(sk_paths_check_apart(root, 2, &bad, &err), -EINVAL);
    CHECK_EQ(bad, 1);
    CHECK(strstr(err.msg, "data-dir is the system folder /"));

    /* A path that cannot be resolved. */
    unit_write_text("file", "x");
    sk_paths_item_t notdir[] = {{"data-dir", "file/x", true}};
    sk_err_clear(&err);
    CHECK_EQ(sk_paths_check_apart(notdir, 1, &bad, &err), -ENOTDIR);
    CHECK_EQ(bad, 0);
}
