/*
 * test_exitcode: the errno -> exit-code table (exitcode.h) gives README's
 * documented codes, and anything it does not name is a plain failure.
 */
#include <errno.h>

#include "slotkeeper/exitcode.h"
#include "unit.h"

TEST(exitcode_documented_codes)
{
    CHECK_EQ(sk_exit_code(0), 0);
    CHECK_EQ(sk_exit_code(-EIO), 1);
    CHECK_EQ(sk_exit_code(-ENOENT), 1);
    CHECK_EQ(sk_exit_code(-EBADMSG), 3);
    CHECK_EQ(sk_exit_code(-EWOULDBLOCK), 4);
    CHECK_EQ(sk_exit_code(-EBUSY), 5);
    CHECK_EQ(sk_exit_code(-ENOSPC), 6);
    CHECK_EQ(sk_exit_code(-EDQUOT), 6);
    CHECK_EQ(sk_exit_code(-EFBIG), 6);
    CHECK_EQ(sk_exit_code(-EUCLEAN), 7);
    CHECK_EQ(sk_exit_code(-EPROTOTYPE), 8);
}

TEST(exitcode_unknown_is_failure)
{
    CHECK_EQ(sk_exit_code(-EINVAL), SK_EXIT_FAIL);
    CHECK_EQ(sk_exit_code(5), SK_EXIT_FAIL); /* a positive value is not an errno */
    CHECK_EQ(sk_exit_code(-100000), SK_EXIT_FAIL);
}

TEST(exitcode_names)
{
    CHECK_STR(sk_exit_name(SK_EXIT_OK), "ok");
    CHECK_STR(sk_exit_name(SK_EXIT_LOCKED), "locked");
    CHECK_STR(sk_exit_name(SK_EXIT_INCOMPATIBLE), "incompatible");
    CHECK_STR(sk_exit_name(9), "unknown");
    CHECK_STR(sk_exit_name(-1), "unknown");
}
