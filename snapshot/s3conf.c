/*
 * s3conf: what an s3:// repository name means, and where its server and credentials come from
 * (see s3.h): URL parsing, the AWS environment variables, the shared credentials file, and the
 * percent-encoding of keys. No network here.
 */
#include "slotkeeper/s3.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char def_endpoint[512], def_region[64];

bool sk_s3_is_url(const char *path)
{
    return path && !strncmp(path, "s3://", 5);
}

void sk_s3_set_defaults(const char *endpoint, const char *region)
{
    snprintf(def_endpoint, sizeof(def_endpoint), "%s", endpoint ? endpoint : "");
    snprintf(def_region, sizeof(def_region), "%s", region ? region : "");
}

static bool bucket_ok(const char *b, size_t n)
{
    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
            return false;
    }
    return isalnum((unsigned char)b[0]) && isalnum((unsigned char)b[n - 1]);
}

int sk_s3_url_parse(const char *url, sk_s3_url_t *out, char *why, size_t len)
{
    memset(out, 0, sizeof(*out));
    if (!sk_s3_is_url(url)) {
        snprintf(why, len, "not an s3:// URL");
        return -EINVAL;
    }
    const char *b = url + 5, *slash = strchr(b, '/');
    size_t bn = slash ? (size_t)(slash - b) : strlen(b);
    if (!bucket_ok(b, bn)) {
        snprintf(why, len,
                 "bad bucket name '%.*s' (3 to 63 of a-z 0-9 . -, starting and ending with a letter or digit)",
                 (int)(bn > 80 ? 80 : bn), b);
        return -EINVAL;
    }
    memcpy(out->bucket, b, bn);
    const char *p = slash ? slash + 1 : "";
    size_t pn = strlen(p);
    if (pn && p[pn - 1] == '/')
        pn--; /* one final slash is allowed: s3://b/p/ */
    if (pn >= sizeof(out->prefix)) {
        snprintf(why, len, "prefix longer than %zu bytes", sizeof(out->prefix) - 1);
        return -EINVAL;
    }
    /* Each component: not empty, not . or .., printable, no backslash. */
    for (size_t i = 0; i < pn;) {
        size_t j = i;
        while (j < pn && p[j] != '/') {
            unsigned char c = (unsigned char)p[j];
            if (c < 0x21 || c == 0x7f || c == '\\') {
                snprintf(why, len, "prefix holds a space, a control character or a backslash");
                return -EINVAL;
            }
            j++;
        }
        size_t cn = j - i;
        if (cn == 0 || (cn == 1 && p[i] == '.') || (cn == 2 && p[i] == '.' && p[i + 1] == '.')) {
            snprintf(why, len, "prefix has an empty, '.' or '..' component");
            return -EINVAL;
        }
        i = j + 1;
    }
    memcpy(out->prefix, p, pn);
    out->prefix[pn] = '\0';
    return 0;
}

int sk_s3_encode(const char *s, bool keep_slash, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
        if (o + (plain ? 1 : 3) >= len)
            return -ENAMETOOLONG;
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (o >= len)
        return -ENAMETOOLONG;
    out[o] = '\0';
    return 0;
}

static const char *env_or(sk_s3_getenv_fn env, const char *a, const char *b)
{
    const char *v = env(a);
    if ((!v || !*v) && b)
        v = env(b);
    return v && *v ? v : NULL;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    size_t k = 0;
    while (isspace((unsigned char)s[k]))
        k++;
    memmove(s, s + k, n - k + 1);
}

/* Reads aws_access_key_id, aws_secret_access_key, aws_session_token of [profile] from the
 * shared credentials file. -ENOENT when the file or the profile is missing. */
static int read_credentials(const char *file, const char *profile, sk_s3_conf_t *c, sk_err_t *err)
{
    FILE *f = fopen(file, "re");
    if (!f)
        return -errno;
    char line[4400];
    bool in = false, found = false;
    int lineno = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        trim(line);
        if (!line[0] || line[0] == '#' || line[0] == ';')
            continue;
        if (line[0] == '[') {
            char *e = strchr(line, ']');
            if (!e) {
                fclose(f);
                return sk_err_set(err, -EINVAL, file, "line %d: unterminated section", lineno);
            }
            *e = '\0';
            char *name = line + 1;
            trim(name);
            in = !strcmp(name, profile);
            found |= in;
            continue;
        }
        if (!in)
            continue;
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char *k = line, *v = eq + 1;
        trim(k);
        trim(v);
        char *dst = NULL;
        size_t dn = 0;
        if (!strcmp(k, "aws_access_key_id"))
            dst = c->access, dn = sizeof(c->access);
        else if (!strcmp(k, "aws_secret_access_key"))
            dst = c->secret, dn = sizeof(c->secret);
        else if (!strcmp(k, "aws_session_token"))
            dst = c->token, dn = sizeof(c->token);
        if (dst && strlen(v) >= dn) {
            fclose(f);
            return sk_err_set(err, -EINVAL, file, "line %d: %s is too long", lineno, k);
        }
        if (dst)
            snprintf(dst, dn, "%s", v);
    }
    fclose(f);
    return found ? 0 : -ENOENT;
}

int sk_s3_conf_load(sk_s3_getenv_fn env, const char *url, sk_s3_conf_t *c, sk_err_t *err)
{
    memset(c, 0, sizeof(*c));
    const char *ep = env_or(env, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
    if (!ep && def_endpoint[0])
        ep = def_endpoint;
    if (ep) {
        if (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8))
            return sk_err_set(err, -EINVAL, url, "endpoint '%s' must start with http:// or https://", ep);
        if (strlen(ep) >= sizeof(c->endpoint))
            return sk_err_set(err, -EINVAL, url, "endpoint is too long");
        snprintf(c->endpoint, sizeof(c->endpoint), "%s", ep);
        size_t n = strlen(c->endpoint);
        while (n && c->endpoint[n - 1] == '/')
            c->endpoint[--n] = '\0';
        if (strchr(c->endpoint + 8, '?') || strchr(c->endpoint + 8, '#') || strchr(c->endpoint, ' '))
            return sk_err_set(err, -EINVAL, url, "endpoint '%s' must not hold a query, fragment or space", ep);
    }
    const char *rg = env_or(env, "AWS_REGION", "AWS_DEFAULT_REGION");
    if (!rg)
        rg = def_region[0] ? def_region : "us-east-1";
    for (const char *p = rg; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-')
            return sk_err_set(err, -EINVAL, url, "bad region '%s'", rg);
    if (strlen(rg) >= sizeof(c->region))
        return sk_err_set(err, -EINVAL, url, "bad region '%s'", rg);
    snprintf(c->region, sizeof(c->region), "%s", rg);

    const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
    if (ak && *ak) {
        if (!sk || !*sk)
            return sk_err_set(err, -EINVAL, url, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
        const char *tk = env("AWS_SESSION_TOKEN");
        if (strlen(ak) >= sizeof(c->access) || strlen(sk) >= sizeof(c->secret) ||
            (tk && strlen(tk) >= sizeof(c->token)))
            return sk_err_set(err, -EINVAL, url, "AWS credentials in the environment are too long");
        snprintf(c->access, sizeof(c->access), "%s", ak);
        snprintf(c->secret, sizeof(c->secret), "%s", sk);
        snprintf(c->token, sizeof(c->token), "%s", tk ? tk : "");
        return 0;
    }
    char file[1024];
    const char *cf = env("AWS_SHARED_CREDENTIALS_FILE"), *home = env("HOME");
    if (cf && *cf)
        snprintf(file, sizeof(file), "%s", cf);
    else if (home && *home)
        snprintf(file, sizeof(file), "%s/.aws/credentials", home);
    else
        file[0] = '\0';
    const char *profile = env("AWS_PROFILE");
    if (!profile || !*profile)
        profile = "default";
    int rc = file[0] ? read_credentials(file, profile, c, err) : -ENOENT;
    if (rc == -EINVAL)
        return rc;
    if (rc == 0 && c->access[0] && c->secret[0])
        return 0;
    if (rc == 0 || rc == -ENOENT)
        return sk_err_set(err, -EACCES, url,
                          "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or profile '%s' in %s",
                          profile, file[0] ? file : "~/.aws/credentials");
    return sk_err_set(err, rc, file, "cannot read the credentials file: %s", strerror(-rc));
}

int sk_s3_bucket_url(const sk_s3_conf_t *c, const char *bucket, char *out, size_t len)
{
    int n = c->endpoint[0] ? snprintf(out, len, "%s/%s", c->endpoint, bucket)
                           : snprintf(out, len, "https://%s.s3.%s.amazonaws.com", bucket, c->region);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int sk_s3_transfers_env(const char *v, int *out)
{
    *out = SK_S3_TRANSFERS_DEFAULT;
    if (!v || !*v)
        return 0;
    if (!isdigit((unsigned char)v[0]))
        return -EINVAL;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || end == v || n < SK_S3_TRANSFERS_MIN || n > SK_S3_TRANSFERS_MAX)
        return -EINVAL;
    *out = (int)n;
    return 0;
}
