/*
 * test_nodeos: nodeos's exit codes, corruption log lines and default include
 * lists (nodeos.h) are those of nodeos-facts.md.
 */
#include <string.h>

#include "slotkeeper/nodeos.h"
#include "unit.h"

TEST(nodeos_exit_codes)
{
    CHECK_EQ(SK_NODEOS_EXIT_DATABASE_DIRTY, 2);
    CHECK_EQ(SK_NODEOS_EXIT_OTHER_FAIL, 254);
    CHECK(sk_nodeos_exit_means_bad_data(2));
    CHECK(sk_nodeos_exit_means_bad_data(254));
    CHECK(!sk_nodeos_exit_means_bad_data(0));
    CHECK(!sk_nodeos_exit_means_bad_data(1));
    CHECK(!sk_nodeos_exit_means_bad_data(255));
    CHECK(!sk_nodeos_exit_means_bad_data(128 + 15));
}

TEST(nodeos_default_include)
{
    size_t n = 0;
    const char *const *l = sk_nodeos_default_include(SK_NODEOS_LAYOUT_DAWN3, &n);
    CHECK_EQ(n, 2);
    CHECK_STR(l[0], "blocks");
    CHECK_STR(l[1], "shared_mem");
    const char *others[] = {"eosio", "leap4", "leap5", "spring", "unknown", NULL};
    for (int i = 0; i <= 5; i++) {
        l = sk_nodeos_default_include(others[i], &n);
        CHECK_EQ(n, 2);
        CHECK_STR(l[0], "blocks");
        CHECK_STR(l[1], "state");
    }
}

TEST(nodeos_log_corruption)
{
    bool env = true;
    CHECK(!sk_nodeos_log_corruption("info  2024-01-01 chain_plugin.cpp starting\n", &env));
    CHECK(!env);
    const char *m =
        sk_nodeos_log_corruption("error ... database dirty flag set (likely due to unclean shutdown)", &env);
    CHECK_STR(m, "atabase dirty flag set");
    CHECK(!env);
    m = sk_nodeos_log_corruption("Database dirty flag set", NULL);
    CHECK_STR(m, "atabase dirty flag set");
    m = sk_nodeos_log_corruption("error: \"database created by a different compiler, build, or operating system\"",
                                 &env);
    CHECK_STR(m, "created by a different compiler");
    CHECK(env);
    m = sk_nodeos_log_corruption("No existing chain_head.dat file", &env);
    CHECK(m && !env);
    /* every message is found, and exactly the first SK_NODEOS_ENV_MESSAGES are environment ones */
    int i = 0;
    for (; sk_nodeos_corruption_messages[i]; i++) {
        CHECK(sk_nodeos_log_corruption(sk_nodeos_corruption_messages[i], &env));
        CHECK_EQ(env, i < SK_NODEOS_ENV_MESSAGES);
    }
    CHECK_EQ(i, 18);
}

TEST(nodeos_layout_names)
{
    CHECK_STR(SK_NODEOS_STATE_FILE, "state/shared_memory.bin");
    CHECK_STR(SK_NODEOS_DAWN_STATE_FILE, "shared_mem/shared_memory.bin");
    CHECK(strstr(SK_NODEOS_REVERSIBLE_FORK_DB, "reversible"));
}
