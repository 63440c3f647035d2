/*
 * test_s3: what an s3:// name means and where the server and credentials come from (s3conf.c):
 * URL parsing, the AWS environment variables and their order, the shared credentials file and
 * its profiles, the bucket URL (path-style with an endpoint, virtual-hosted on AWS), and the
 * percent-encoding of keys and query values. No network (t_s3.sh drives a real server).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotkeeper/s3.h"
#include "unit.h"

static const char *const *env_table;

static const char *fake_env(const char *name)
{
    for (size_t i = 0; env_table && env_table[i]; i += 2)
        if (!strcmp(env_table[i], name))
            return env_table[i + 1];
    return NULL;
}

static int load(const char *const *table, sk_s3_conf_t *c, sk_err_t *err)
{
    env_table = table;
    sk_err_clear(err);
    return sk_s3_conf_load(fake_env, "s3://b-1/p", c, err);
}

TEST(s3_url_parse)
{
    sk_s3_url_t u;
    char why[256];
    CHECK(sk_s3_is_url("s3://x"));
    CHECK(!sk_s3_is_url("/srv/repo"));
    CHECK(!sk_s3_is_url("S3://x"));
    CHECK_EQ(sk_s3_url_parse("s3://my-bucket/slotkeeper/main", &u, why, sizeof(why)), 0);
    CHECK_STR(u.bucket, "my-bucket");
    CHECK_STR(u.prefix, "slotkeeper/main");
    CHECK_EQ(sk_s3_url_parse("s3://my.bucket.1", &u, why, sizeof(why)), 0);
    CHECK_STR(u.bucket, "my.bucket.1");
    CHECK_STR(u.prefix, "");
    CHECK_EQ(sk_s3_url_parse("s3://abc/", &u, why, sizeof(why)), 0);
    CHECK_STR(u.prefix, "");
    CHECK_EQ(sk_s3_url_parse("s3://abc/p/q/", &u, why, sizeof(why)), 0);
    CHECK_STR(u.prefix, "p/q");
    static const char *const bad[] = {"s3://",        "s3://ab",
                                      "s3://Upper",   "s3://under_score/x",
                                      "s3://-abc/x",  "s3://abc-/x",
                                      "s3://abc//x",  "s3://abc/x//y",
                                      "s3://abc/./x", "s3://abc/x/..",
                                      "s3://abc/x y", "s3://abc/x\\y",
                                      "/abc/x",       NULL};
    for (size_t i = 0; bad[i]; i++) {
        why[0] = '\0';
        if (sk_s3_url_parse(bad[i], &u, why, sizeof(why)) != -EINVAL || !why[0])
            unit_fail(__FILE__, __LINE__, "%s was accepted", bad[i]);
    }
    char longb[80];
    memset(longb, 'a', 69); /* a 64-character bucket */
    memcpy(longb, "s3://", 5);
    longb[69] = '\0';
    CHECK_EQ(sk_s3_url_parse(longb, &u, why, sizeof(why)), -EINVAL);
}

TEST(s3_env_endpoint_region_keys)
{
    sk_s3_conf_t c;
    sk_err_t err;
    sk_s3_set_defaults(NULL, NULL);
    const char *const a[] = {"AWS_ACCESS_KEY_ID", "AK", "AWS_SECRET_ACCESS_KEY", "SK", NULL};
    CHECK_OK(load(a, &c, &err), &err);
    CHECK_STR(c.endpoint, "");
    CHECK_STR(c.region, "us-east-1");
    CHECK_STR(c.access, "AK");
    CHECK_STR(c.secret, "SK");
    CHECK_STR(c.token, "");
    char url[256];
    CHECK_EQ(sk_s3_bucket_url(&c, "bkt", url, sizeof(url)), 0);
    CHECK_STR(url, "https://bkt.s3.us-east-1.amazonaws.com");

    /* AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL; AWS_REGION over AWS_DEFAULT_REGION; a final
     * slash goes; path-style with an endpoint. */
    const char *const b[] = {"AWS_ENDPOINT_URL",
                             "http://other:1",
                             "AWS_ENDPOINT_URL_S3",
                             "http://127.0.0.1:9000/",
                             "AWS_DEFAULT_REGION",
                             "eu-west-1",
                             "AWS_REGION",
                             "eu-central-1",
                             "AWS_ACCESS_KEY_ID",
                             "AK",
                             "AWS_SECRET_ACCESS_KEY",
                             "SK",
                             "AWS_SESSION_TOKEN",
                             "TOK",
                             NULL};
    CHECK_OK(load(b, &c, &err), &err);
    CHECK_STR(c.endpoint, "http://127.0.0.1:9000");
    CHECK_STR(c.region, "eu-central-1");
    CHECK_STR(c.token, "TOK");
    CHECK_EQ(sk_s3_bucket_url(&c, "bkt", url, sizeof(url)), 0);
    CHECK_STR(url, "http://127.0.0.1:9000/bkt");

    const char *const d[] = {"AWS_ENDPOINT_URL",
                             "https://s3.example",
                             "AWS_DEFAULT_REGION",
                             "ap-south-1",
                             "AWS_ACCESS_KEY_ID",
                             "AK",
                             "AWS_SECRET_ACCESS_KEY",
                             "SK",
                             NULL};
    CHECK_OK(load(d, &c, &err), &err);
    CHECK_STR(c.endpoint, "https://s3.example");
    CHECK_STR(c.region, "ap-south-1");

    /* The configuration file's endpoint and region come after the environment's. */
    sk_s3_set_defaults("http://conf:1", "conf-region");
    CHECK_OK(load(a, &c, &err), &err);
    CHECK_STR(c.endpoint, "http://conf:1");
    CHECK_STR(c.region, "conf-region");
    CHECK_OK(load(b, &c, &err), &err);
    CHECK_STR(c.endpoint, "http://127.0.0.1:9000");
    CHECK_STR(c.region, "eu-central-1");
    sk_s3_set_defaults(NULL, NULL);

    const char *const e1[] = {
        "AWS_ENDPOINT_URL", "ftp://x", "AWS_ACCESS_KEY_ID", "AK", "AWS_SECRET_ACCESS_KEY", "SK", NULL};
    CHECK_EQ(load(e1, &c, &err), -EINVAL);
    CHECK(strstr(err.msg, "http://"));
    const char *const e2[] = {"AWS_REGION", "us east", "AWS_ACCESS_KEY_ID", "AK", "AWS_SECRET_ACCESS_KEY", "SK", NULL};
    CHECK_EQ(load(e2, &c, &err), -EINVAL);
    CHECK(strstr(err.msg, "region"));
    const char *const e3[] = {"AWS_ACCESS_KEY_ID", "AK", NULL};
    CHECK_EQ(load(e3, &c, &err), -EINVAL);
    CHECK(strstr(err.msg, "AWS_SECRET_ACCESS_KEY"));
    const char *const e4[] = {"HOME", "/nonexistent-home", NULL};
    CHECK_EQ(load(e4, &c, &err), -EACCES);
    CHECK(strstr(err.msg, "no credentials"));
    CHECK(strstr(err.msg, "/nonexistent-home/.aws/credentials"));
}

TEST(s3_credentials_file)
{
    FILE *f = fopen("creds", "w");
    CHECK(f);
    fputs("# comment\n[default]\naws_access_key_id = DEFAK\naws_secret_access_key=DEFSK\n\n"
          "[ prod ]\n  aws_access_key_id =  PAK  \naws_secret_access_key = PSK\naws_session_token = PTOK\n"
          "[empty]\nregion = x\n",
          f);
    fclose(f);
    sk_s3_conf_t c;
    sk_err_t err;
    const char *const a[] = {"AWS_SHARED_CREDENTIALS_FILE", "creds", NULL};
    CHECK_OK(load(a, &c, &err), &err);
    CHECK_STR(c.access, "DEFAK");
    CHECK_STR(c.secret, "DEFSK");
    const char *const b[] = {"AWS_SHARED_CREDENTIALS_FILE", "creds", "AWS_PROFILE", "prod", NULL};
    CHECK_OK(load(b, &c, &err), &err);
    CHECK_STR(c.access, "PAK");
    CHECK_STR(c.secret, "PSK");
    CHECK_STR(c.token, "PTOK");
    /* The environment's keys win over the file. */
    const char *const e[] = {
        "AWS_SHARED_CREDENTIALS_FILE", "creds", "AWS_ACCESS_KEY_ID", "EAK", "AWS_SECRET_ACCESS_KEY", "ESK", NULL};
    CHECK_OK(load(e, &c, &err), &err);
    CHECK_STR(c.access, "EAK");
    const char *const m[] = {"AWS_SHARED_CREDENTIALS_FILE", "creds", "AWS_PROFILE", "missing", NULL};
    CHECK_EQ(load(m, &c, &err), -EACCES);
    CHECK(strstr(err.msg, "profile 'missing'"));
    const char *const n[] = {"AWS_SHARED_CREDENTIALS_FILE", "creds", "AWS_PROFILE", "empty", NULL};
    CHECK_EQ(load(n, &c, &err), -EACCES);
    f = fopen("bad", "w");
    fputs("[default\naws_access_key_id = x\n", f);
    fclose(f);
    const char *const x[] = {"AWS_SHARED_CREDENTIALS_FILE", "bad", NULL};
    CHECK_EQ(load(x, &c, &err), -EINVAL);
    CHECK_STR(err.path, "bad");
    CHECK(strstr(err.msg, "line 1"));
}

TEST(s3_encode)
{
    char out[64];
    CHECK_EQ(sk_s3_encode("repo/chunks/ab/x-y_z.~", true, out, sizeof(out)), 0);
    CHECK_STR(out, "repo/chunks/ab/x-y_z.~");
    CHECK_EQ(sk_s3_encode("a/b c+d=", false, out, sizeof(out)), 0);
    CHECK_STR(out, "a%2Fb%20c%2Bd%3D");
    CHECK_EQ(sk_s3_encode("\xc3\xa9", true, out, sizeof(out)), 0);
    CHECK_STR(out, "%C3%A9");
    CHECK_EQ(sk_s3_encode("abcdef", true, out, 6), -ENAMETOOLONG);
    CHECK_EQ(sk_s3_encode("abcde", true, out, 6), 0);
    CHECK_EQ(sk_s3_encode("ab/", false, out, 5), -ENAMETOOLONG);
}

TEST(s3_transfers_env)
{
    int n = -1;
    CHECK_EQ(sk_s3_transfers_env(NULL, &n), 0);
    CHECK_EQ(n, SK_S3_TRANSFERS_DEFAULT);
    CHECK_EQ(sk_s3_transfers_env("", &n), 0);
    CHECK_EQ(n, 16);
    CHECK_EQ(sk_s3_transfers_env("1", &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(sk_s3_transfers_env("128", &n), 0);
    CHECK_EQ(n, 128);
    const char *bad[] = {"0", "129", "-1", "abc", "16x", " 16", "99999999999999999999", "1.5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ(sk_s3_transfers_env(bad[i], &n), -EINVAL);
        CHECK_EQ(n, SK_S3_TRANSFERS_DEFAULT);
    }
    /* Not an S3 storage: no transfer count, the caller's threads stand. */
    CHECK_EQ(sk_s3_transfers(NULL), 0);
    CHECK_EQ(sk_s3_threads(NULL, 3), 3);
    sk_s3_stats_t st;
    CHECK_EQ(sk_s3_stats(NULL, &st), -EINVAL);
    CHECK_EQ(st.requests, 0);
}
