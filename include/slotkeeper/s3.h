/*
 * s3: repositories on S3-compatible object storage (AWS S3, MinIO, Ceph RGW, OpenStack Swift's
 * s3api, ...), named s3://BUCKET/PREFIX.
 *
 * Where the server is and who we are, as the AWS tools take them:
 *   endpoint     AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else [repository] endpoint; none:
 *                AWS itself, https://BUCKET.s3.REGION.amazonaws.com (virtual-hosted style).
 *                With an endpoint, requests are path-style (ENDPOINT/BUCKET/KEY). http:// only
 *                when the endpoint says so; https verifies certificates (AWS_CA_BUNDLE: a CA file).
 *   region       AWS_REGION, else AWS_DEFAULT_REGION, else [repository] region, else us-east-1.
 *   credentials  AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), else the
 *                profile AWS_PROFILE (or "default") of AWS_SHARED_CREDENTIALS_FILE (or
 *                ~/.aws/credentials). Never a command-line argument.
 * Requests are signed by libcurl (CURLOPT_AWS_SIGV4); the payload's SHA-256 goes in
 * x-amz-content-sha256, so the server refuses a body damaged on the way.
 *
 * The pure parts (URL, environment, credentials file) are here so that they can be unit-tested;
 * the driver itself is storage_s3.c.
 */
#ifndef SLOTKEEPER_S3_H
#define SLOTKEEPER_S3_H

#include <stdbool.h>
#include <stddef.h>

#include "slotkeeper/error.h"
#include "slotkeeper/storage.h"

/* True when path names an object store ("s3://..."). */
bool sk_s3_is_url(const char *path);

typedef struct sk_s3_url {
    char bucket[64];   /* 3..63 characters: a-z 0-9 . - */
    char prefix[1024]; /* "" or "a/b" (no leading, trailing or doubled slash; no . or ..) */
} sk_s3_url_t;

/* Parses "s3://BUCKET[/PREFIX][/]". -EINVAL with why on a bad URL. */
int sk_s3_url_parse(const char *url, sk_s3_url_t *out, char *why, size_t len);

typedef struct sk_s3_conf {
    char endpoint[512]; /* "scheme://host[:port][/path]" without a final slash, or "" for AWS */
    char region[64];
    char access[256];
    char secret[256];
    char token[4096]; /* session token, or "" */
} sk_s3_conf_t;

/* Endpoint and region from the configuration file ([repository] endpoint, region), used when
 * the environment gives none. Process-wide; call before opening a repository (NULL or "":
 * none). */
void sk_s3_set_defaults(const char *endpoint, const char *region);

/* Where the environment comes from (getenv, or a table in the unit tests). */
typedef const char *(*sk_s3_getenv_fn)(const char *name);

/* Fills c from env (see above). -EINVAL / -ENOENT / -EACCES with a one-line reason in err
 * (path: the URL, or the credentials file) when something is missing or malformed. */
int sk_s3_conf_load(sk_s3_getenv_fn env, const char *url, sk_s3_conf_t *c, sk_err_t *err);

/* The URL of the bucket (without a final slash): ENDPOINT/BUCKET with an endpoint, else
 * https://BUCKET.s3.REGION.amazonaws.com. -ENAMETOOLONG when it does not fit. */
int sk_s3_bucket_url(const sk_s3_conf_t *c, const char *bucket, char *out, size_t len);

/* Percent-encodes s into out as S3 wants a key (keep_slash) or a query value: everything but
 * A-Z a-z 0-9 - . _ ~ (and / when keep_slash). -ENAMETOOLONG when it does not fit. */
int sk_s3_encode(const char *s, bool keep_slash, char *out, size_t len);

/* Opens the driver on url (s3://BUCKET/PREFIX): loads the configuration, checks that the bucket
 * answers (a one-line error in err otherwise: wrong credentials, no such bucket, no server). */
int sk_storage_s3_open(const char *url, sk_storage_t **out, sk_err_t *err);

#endif
