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
#include <stdint.h>

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

/* How many requests one opened S3 storage runs at once (its transfer engine: one thread driving
 * libcurl's multi interface, connections reused across requests): SLOTKEEPER_S3_TRANSFERS,
 * default 16. */
#define SK_S3_TRANSFERS_DEFAULT 16
#define SK_S3_TRANSFERS_MIN     1
#define SK_S3_TRANSFERS_MAX     128

/* Parses SLOTKEEPER_S3_TRANSFERS (v: NULL or "" gives the default) into *out: -EINVAL when it is
 * not a whole number within the bounds. */
int sk_s3_transfers_env(const char *v, int *out);

/* The transfer count of an S3 storage; 0 for any other storage. */
int sk_s3_transfers(sk_storage_t *st);

/* The worker threads a caller moving chunks to or from st should run: max(threads, the transfer
 * count) on S3 (each worker has one request in flight at a time), threads elsewhere. */
int sk_s3_threads(sk_storage_t *st, int threads);

/* What one opened S3 storage has sent: HTTP requests (retries included) by kind, and body bytes
 * each way. requests counts every one (also those of no kind below). */
typedef struct sk_s3_stats {
    uint64_t requests;
    uint64_t get;  /* GET of an object */
    uint64_t head; /* HEAD */
    uint64_t put;  /* PUT of an object (chunks, manifests, lock objects, folder markers) */
    uint64_t del;  /* DELETE */
    uint64_t list; /* GET ?list-type=2 (a page of up to 1000 names) */
    uint64_t copy; /* PUT with x-amz-copy-source (a server-side copy: a rename) */
    uint64_t bytes_up, bytes_down;
    unsigned peak; /* the most requests that were in flight at once (in the engine, connected or
                    * waiting for a connection) */
} sk_s3_stats_t;

/* Fills out with st's counters since it was opened; -EINVAL (out zeroed) when st is not S3. */
int sk_s3_stats(sk_storage_t *st, sk_s3_stats_t *out);

/* Opens the driver on url (s3://BUCKET/PREFIX): loads the configuration, checks that the bucket
 * answers (a one-line error in err otherwise: wrong credentials, no such bucket, no server). */
int sk_storage_s3_open(const char *url, sk_storage_t **out, sk_err_t *err);

#endif
