/*
 * manifest: builds, serialises and strictly parses snapshot manifests (see
 * manifest.h for the format). The parser trusts nothing: every number is
 * range-checked, every path is checked for shape and order, and the stats are
 * recomputed, so a manifest either parses whole or is reported corrupt.
 */
#include "slotkeeper/manifest.h"

#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "slotkeeper/buf.h"
#include "slotkeeper/error.h"
#include "slotkeeper/hashset.h"

/* ---- building ---------------------------------------------------------- */

sk_manifest_t *sk_manifest_new(void)
{
    return calloc(1, sizeof(sk_manifest_t));
}

void sk_manifest_free(sk_manifest_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->ninclude; i++)
        free(m->include[i]);
    free(m->include);
    for (size_t i = 0; i < m->nfacts; i++) {
        free(m->facts[i].key);
        free(m->facts[i].value);
    }
    free(m->facts);
    for (size_t i = 0; i < m->nentries; i++) {
        free(m->entries[i].path);
        free(m->entries[i].target);
        free(m->entries[i].chunks);
    }
    free(m->entries);
    free(m);
}

int sk_manifest_add_include(sk_manifest_t *m, const char *name)
{
    size_t cap = m->ninclude;
    if (sk_grow(&m->include, &cap, m->ninclude + 1, sizeof(*m->include), 1) < 0)
        return -ENOMEM;
    if (!(m->include[m->ninclude] = strdup(name)))
        return -ENOMEM;
    m->ninclude++;
    return 0;
}

int sk_manifest_set_fact(sk_manifest_t *m, const char *key, const char *value)
{
    if (!sk_fact_key_valid(key) || !value || !*value || strlen(value) >= PATH_MAX)
        return -EINVAL;
    for (size_t i = 0; i < m->nfacts; i++) {
        if (!strcmp(m->facts[i].key, key)) {
            char *v = strdup(value);
            if (!v)
                return -ENOMEM;
            free(m->facts[i].value);
            m->facts[i].value = v;
            return 0;
        }
    }
    size_t cap = m->nfacts;
    if (sk_grow(&m->facts, &cap, m->nfacts + 1, sizeof(*m->facts), 1) < 0)
        return -ENOMEM;
    sk_fact_t *f = m->facts;
    f[m->nfacts].key = strdup(key);
    f[m->nfacts].value = strdup(value);
    if (!f[m->nfacts].key || !f[m->nfacts].value) {
        free(f[m->nfacts].key);
        free(f[m->nfacts].value);
        return -ENOMEM;
    }
    m->nfacts++;
    return 0;
}

const char *sk_manifest_fact(const sk_manifest_t *m, const char *key)
{
    for (size_t i = 0; i < m->nfacts; i++)
        if (!strcmp(m->facts[i].key, key))
            return m->facts[i].value;
    return NULL;
}

long sk_manifest_add_entry(sk_manifest_t *m, const sk_mentry_t *e)
{
    if (sk_grow(&m->entries, &m->capentries, m->nentries + 1, sizeof(*m->entries), 32) < 0)
        return -ENOMEM;
    sk_mentry_t *d = &m->entries[m->nentries];
    *d = *e;
    d->chunks = NULL;
    d->nchunks = d->capchunks = 0;
    d->path = strdup(e->path);
    d->target = e->target ? strdup(e->target) : NULL;
    if (!d->path || (e->target && !d->target)) {
        free(d->path);
        free(d->target);
        return -ENOMEM;
    }
    return (long)m->nentries++;
}

int sk_mentry_add_chunk(sk_mentry_t *e, uint64_t index, const sk_hash_t *hash, uint32_t csize)
{
    if (sk_grow(&e->chunks, &e->capchunks, e->nchunks + 1, sizeof(*e->chunks), 16) < 0)
        return -ENOMEM;
    e->chunks[e->nchunks++] = (sk_mchunk_t){.index = index, .hash = *hash, .csize = csize};
    return 0;
}

uint64_t sk_manifest_nchunks(const sk_manifest_t *m, uint64_t size)
{
    return (size + m->chunk_size - 1) / m->chunk_size;
}

uint32_t sk_mentry_chunk_size(const sk_manifest_t *m, const sk_mentry_t *e)
{
    return e->chunk_size ? e->chunk_size : m->chunk_size;
}

uint32_t sk_manifest_max_chunk_size(const sk_manifest_t *m)
{
    uint32_t mx = m->chunk_size;
    for (size_t i = 0; i < m->nentries; i++)
        if (m->entries[i].type == 'f' && m->entries[i].chunk_size > mx)
            mx = m->entries[i].chunk_size;
    return mx;
}

uint32_t sk_mentry_chunk_len(const sk_manifest_t *m, const sk_mentry_t *e, uint64_t index)
{
    uint64_t cs = sk_mentry_chunk_size(m, e), off = index * cs;
    return (uint32_t)(e->size - off < cs ? e->size - off : cs);
}

bool sk_id_valid(const char *id)
{
    static const char form[] = "99999999T999999Z-999999-ffff"; /* 9: a digit, f: a lowercase hex digit */
    for (size_t i = 0;; i++) {
        char c = id[i], f = form[i];
        if (!f)
            return c == '\0';
        if (f == '9'   ? !(c >= '0' && c <= '9')
            : f == 'f' ? !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))
                       : c != f)
            return false;
    }
}

bool sk_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= SK_ID_MAX || name[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

bool sk_manifest_link_ok(const sk_manifest_t *m, const char *path, const char *target)
{
    if (!*target || target[0] == '/')
        return false;
    size_t depth = 0; /* folders between the snapshot's root and the link */
    for (const char *c = path; *c; c++)
        depth += *c == '/';
    size_t up = 0;
    const char *t = target;
    while (!strncmp(t, "../", 3)) {
        up++;
        t += 3;
    }
    if (up > depth || !*t)
        return false;
    for (const char *c = t;;) {
        const char *sl = strchr(c, '/');
        size_t n = sl ? (size_t)(sl - c) : strlen(c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        if (!sl)
            break;
        c = sl + 1;
    }
    if (up < depth)
        return true;
    size_t n = strcspn(t, "/");
    for (size_t i = 0; i < m->ninclude; i++)
        if (strlen(m->include[i]) == n && !strncmp(m->include[i], t, n))
            return true;
    return false;
}

bool sk_fact_key_valid(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '.' || c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* ---- serialising ------------------------------------------------------- */

static void buf_escaped(sk_mbuf_t *b, const char *s)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    if (sk_mbuf_reserve(b, 3 * n) < 0)
        return;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || c == '%') {
            b->data[b->len++] = '%';
            b->data[b->len++] = digits[c >> 4];
            b->data[b->len++] = digits[c & 15];
        } else {
            b->data[b->len++] = (char)c;
        }
    }
    b->data[b->len] = '\0';
}

static void put_meta(sk_mbuf_t *b, const sk_mentry_t *e)
{
    sk_mbuf_printf(b, "%c %04" PRIo32 " %" PRIu32 " %" PRIu32 " %" PRId64 ".%09" PRIu32 " ", e->type, e->mode, e->uid,
                   e->gid, e->mtime_sec, e->mtime_nsec);
}

int sk_manifest_serialize(const sk_manifest_t *m, char **out, size_t *outlen)
{
    sk_mbuf_t b = {0};
    char tbuf[32];
    time_t t = (time_t)m->time;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", &tm);

    /* Version 2 only when it says more than version 1 can: older readers keep reading the rest. */
    bool v2 = m->has_carry_run;
    for (size_t i = 0; i < m->nentries && !v2; i++)
        v2 = m->entries[i].type == 'f' && m->entries[i].has_ident;
    sk_mbuf_printf(&b, "slotkeeper-manifest %d\nid %s\ntime %" PRId64 " %s\nchunk-size %" PRIu32 "\ninclude",
                   v2 ? 2 : 1, m->id, m->time, tbuf, m->chunk_size);
    for (size_t i = 0; i < m->ninclude; i++) {
        sk_mbuf_printf(&b, " ");
        buf_escaped(&b, m->include[i]);
    }
    sk_mbuf_printf(&b, "\n");
    for (size_t i = 0; i < m->nfacts; i++) {
        sk_mbuf_printf(&b, "fact %s ", m->facts[i].key);
        buf_escaped(&b, m->facts[i].value);
        sk_mbuf_printf(&b, "\n");
    }
    if (m->has_carry_run)
        sk_mbuf_printf(&b, "carry-run %" PRIu64 "\n", m->carry_run);
    sk_mbuf_printf(&b,
                   "stats files=%" PRIu64 " logical=%" PRIu64 " data=%" PRIu64 " stored=%" PRIu64 " new=%" PRIu64
                   " chunks=%" PRIu64 "\n",
                   m->files, m->logical_bytes, m->data_bytes, m->stored_bytes, m->new_bytes, m->chunks);
    for (size_t i = 0; i < m->nentries; i++) {
        const sk_mentry_t *e = &m->entries[i];
        put_meta(&b, e);
        if (e->type == 'f') {
            sk_mbuf_printf(&b, "%" PRIu64 " ", e->size);
            if (e->chunk_size && e->chunk_size != m->chunk_size)
                sk_mbuf_printf(&b, "%" PRIu32 " ", e->chunk_size);
        }
        buf_escaped(&b, e->path);
        if (e->type == 'l') {
            sk_mbuf_printf(&b, " ");
            buf_escaped(&b, e->target);
        }
        sk_mbuf_printf(&b, "\n");
        if (e->type == 'f' && e->has_ident)
            sk_mbuf_printf(&b, "x %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", e->dev, e->ino, e->carried);
        for (size_t j = 0; j < e->nchunks; j++) {
            char hex[SK_HASH_HEX_LEN + 1];
            sk_hash_hex(&e->chunks[j].hash, hex);
            sk_mbuf_printf(&b, "c %" PRIu64 " %s %" PRIu32 "\n", e->chunks[j].index, hex, e->chunks[j].csize);
        }
    }
    sk_mbuf_printf(&b, "end\n");
    if (b.failed) {
        sk_mbuf_free(&b);
        return -ENOMEM;
    }
    sk_hash_t h;
    sk_hash_compute(b.data, b.len, &h);
    char hex[SK_HASH_HEX_LEN + 1];
    sk_hash_hex(&h, hex);
    sk_mbuf_printf(&b, "checksum %s\n", hex);
    if (b.failed) {
        sk_mbuf_free(&b);
        return -ENOMEM;
    }
    *out = b.data;
    *outlen = b.len;
    return 0;
}

/* ---- parsing ----------------------------------------------------------- */

struct parser {
    const char *p, *end; /* unread input */
    /* the longest line the serializer writes: a link whose path and target (each under
     * PATH_MAX bytes) are escaped to three bytes a byte */
    char line[PATH_MAX * 6 + 256];
    size_t lineno;
    char *why;
    size_t whylen;
};

static int SK_PRINTF(2, 3) bad(struct parser *ps, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* A name quoted from the manifest (unescaped: it may hold a newline) stays one line. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    if (ps->why && ps->lineno)
        snprintf(ps->why, ps->whylen, "line %zu: %s", ps->lineno, msg);
    else if (ps->why)
        snprintf(ps->why, ps->whylen, "%s", msg);
    return -EBADMSG;
}

/* Copies the next line (without '\n') into ps->line; 0 at end of input, 1 on a line, <0 if too long or unterminated. */
static int next_line(struct parser *ps)
{
    if (ps->p >= ps->end)
        return 0;
    const char *nl = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));
    ps->lineno++;
    if (!nl)
        return bad(ps, "unterminated line");
    size_t n = (size_t)(nl - ps->p);
    if (n >= sizeof(ps->line))
        return bad(ps, "line too long");
    if (memchr(ps->p, '\0', n))
        return bad(ps, "NUL byte");
    memcpy(ps->line, ps->p, n);
    ps->line[n] = '\0';
    ps->p = nl + 1;
    return 1;
}

/* Splits s in place at single spaces into at most max fields; returns the count or -1 on empty fields. */
static int split(char *s, char **f, int max)
{
    int n = 0;
    for (;;) {
        if (n == max)
            return -1;
        f[n++] = s;
        char *sp = strchr(s, ' ');
        if (!sp)
            break;
        *sp = '\0';
        s = sp + 1;
    }
    for (int i = 0; i < n; i++)
        if (!*f[i])
            return -1;
    return n;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!*s || (s[0] == '0' && s[1]))
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_octal(const char *s, uint32_t *out)
{
    if (strlen(s) != 4)
        return -1;
    uint32_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '7')
            return -1;
        v = v * 8 + (uint32_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static int unescape(const char *s, char **out)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1), *q = d;
    if (!d)
        return -ENOMEM;
    for (; *s; s++) {
        if (*s == '%') {
            int hi = -1, lo = -1;
            char c1 = s[1], c2 = c1 ? s[2] : 0;
            if (c1 >= '0' && c1 <= '9')
                hi = c1 - '0';
            else if (c1 >= 'A' && c1 <= 'F')
                hi = c1 - 'A' + 10;
            if (c2 >= '0' && c2 <= '9')
                lo = c2 - '0';
            else if (c2 >= 'A' && c2 <= 'F')
                lo = c2 - 'A' + 10;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(d);
                return -EINVAL;
            }
            *q++ = (char)(hi << 4 | lo);
            s += 2;
        } else {
            *q++ = *s;
        }
    }
    *q = '\0';
    *out = d;
    return 0;
}

static bool component_ok(const char *c, size_t n)
{
    if (n == 0 || n > 255)
        return false;
    if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
        return false;
    return memchr(c, '/', n) == NULL;
}

/* A relative path of valid components whose first is an included folder. */
static bool path_ok(const sk_manifest_t *m, const char *path)
{
    size_t len = strlen(path);
    if (len == 0 || len >= PATH_MAX || path[0] == '/')
        return false;
    const char *s = path;
    bool first = true;
    for (;;) {
        const char *sl = strchr(s, '/');
        size_t n = sl ? (size_t)(sl - s) : strlen(s);
        if (!component_ok(s, n))
            return false;
        if (first) {
            bool found = false;
            for (size_t i = 0; i < m->ninclude; i++)
                if (strlen(m->include[i]) == n && !memcmp(m->include[i], s, n))
                    found = true;
            if (!found)
                return false;
            first = false;
        }
        if (!sl)
            return true;
        s = sl + 1;
    }
}

static void path_key(const char *path, size_t len, sk_hash_t *k)
{
    sk_hash_compute(path, len, k);
}

static int parse_entry(struct parser *ps, sk_manifest_t *m, char **f, int nf, sk_hset_t *dirs, sk_hset_t *paths)
{
    char type = f[0][0];
    if (f[0][1] || (type != 'd' && type != 'f' && type != 'l'))
        return bad(ps, "unknown record '%s'", f[0]);
    int want = type == 'd' ? 6 : 7;
    if (nf != want && !(type == 'f' && nf == 8))
        return bad(ps, "wrong number of fields");
    sk_mentry_t e = {.type = type};
    uint64_t uid, gid, sec, nsec, size = 0;
    char *dot = strchr(f[4], '.');
    if (parse_octal(f[1], &e.mode) < 0 || parse_u64(f[2], UINT32_MAX, &uid) < 0 ||
        parse_u64(f[3], UINT32_MAX, &gid) < 0 || !dot)
        return bad(ps, "bad mode, owner or time");
    *dot = '\0';
    bool negative = f[4][0] == '-';
    if (parse_u64(f[4] + negative, INT64_MAX, &sec) < 0 || strlen(dot + 1) != 9 || (negative && sec == 0))
        return bad(ps, "bad time");
    for (const char *q = dot + 1; *q; q++)
        if (*q < '0' || *q > '9')
            return bad(ps, "bad time");
    nsec = strtoull(dot + 1, NULL, 10);
    e.uid = (uint32_t)uid;
    e.gid = (uint32_t)gid;
    e.mtime_sec = negative ? -(int64_t)sec : (int64_t)sec;
    e.mtime_nsec = (uint32_t)nsec;
    const char *rawpath = f[5];
    if (type == 'f') {
        if (parse_u64(f[5], INT64_MAX, &size) < 0)
            return bad(ps, "bad size");
        e.size = size;
        e.chunk_size = m->chunk_size;
        rawpath = f[6];
        if (nf == 8) {
            uint64_t cs;
            if (parse_u64(f[6], SK_CHUNK_SIZE_MAX, &cs) < 0 || cs < SK_CHUNK_SIZE_MIN || (cs & (cs - 1)))
                return bad(ps, "bad file chunk size");
            e.chunk_size = (uint32_t)cs;
            rawpath = f[7];
        }
    }
    char *path = NULL, *target = NULL;
    if (unescape(rawpath, &path) < 0)
        return bad(ps, "bad path escape");
    if (type == 'l' && unescape(f[6], &target) < 0) {
        free(path);
        return bad(ps, "bad link target escape");
    }
    int rc = 0;
    if (!path_ok(m, path)) {
        rc = bad(ps, "unsafe or malformed path");
        goto out;
    }
    if (type == 'l' && (!*target || strlen(target) >= PATH_MAX)) {
        rc = bad(ps, "bad link target");
        goto out;
    }
    /* A link that could leave the snapshot's folders is never restored. */
    if (type == 'l' && !sk_manifest_link_ok(m, path, target)) {
        rc = bad(ps, "a symbolic link that may point outside the snapshot's folders");
        goto out;
    }
    /* The parent must be a directory listed earlier; a top-level entry must be a directory. */
    const char *sl = strrchr(path, '/');
    sk_hash_t k;
    if (!sl) {
        if (type != 'd') {
            rc = bad(ps, "included folder is not a directory");
            goto out;
        }
    } else {
        path_key(path, (size_t)(sl - path), &k);
        if (!sk_hset_find(dirs, &k)) {
            rc = bad(ps, "entry before its directory");
            goto out;
        }
    }
    path_key(path, strlen(path), &k);
    int added = sk_hset_add(paths, &k, 0);
    if (added <= 0) {
        rc = added < 0 ? added : bad(ps, "duplicate path");
        goto out;
    }
    if (type == 'd' && sk_hset_add(dirs, &k, 0) < 0) {
        rc = -ENOMEM;
        goto out;
    }
    e.path = path;
    e.target = target;
    long idx = sk_manifest_add_entry(m, &e);
    if (idx < 0)
        rc = (int)idx;
out:
    free(path);
    free(target);
    return rc;
}

/* "x <dev> <ino> <carried>": right after its file's f line, once, carried within the file. */
static int parse_ident(struct parser *ps, sk_manifest_t *m, char **f, int nf, bool *x_ok)
{
    if (m->version < 2)
        return bad(ps, "unknown record 'x'");
    if (!*x_ok)
        return bad(ps, "identity record not right after its file");
    *x_ok = false;
    if (nf != 4)
        return bad(ps, "wrong number of fields");
    sk_mentry_t *e = &m->entries[m->nentries - 1];
    uint64_t dev, ino, carried;
    if (parse_u64(f[1], UINT64_MAX, &dev) < 0 || parse_u64(f[2], UINT64_MAX, &ino) < 0 ||
        parse_u64(f[3], e->size, &carried) < 0)
        return bad(ps, "bad identity or carried size");
    e->has_ident = true;
    e->dev = dev;
    e->ino = ino;
    e->carried = carried;
    return 0;
}

static int parse_chunk(struct parser *ps, sk_manifest_t *m, char **f, int nf, sk_hset_t *distinct, uint64_t *stored)
{
    if (m->nentries == 0 || m->entries[m->nentries - 1].type != 'f')
        return bad(ps, "chunk outside a file");
    if (nf != 4)
        return bad(ps, "wrong number of fields");
    sk_mentry_t *e = &m->entries[m->nentries - 1];
    uint64_t idx, csize;
    sk_hash_t h;
    uint64_t n = (e->size + e->chunk_size - 1) / e->chunk_size;
    if (parse_u64(f[1], UINT64_MAX, &idx) < 0 || idx >= n)
        return bad(ps, "chunk index out of range");
    if (e->nchunks && idx <= e->chunks[e->nchunks - 1].index)
        return bad(ps, "chunk indexes not increasing");
    if (strlen(f[2]) != SK_HASH_HEX_LEN || sk_hash_parse(f[2], &h) < 0)
        return bad(ps, "bad chunk hash");
    if (parse_u64(f[3], sk_codec_bound(e->chunk_size), &csize) < 0 || csize == 0)
        return bad(ps, "bad compressed size");
    int rc = sk_mentry_add_chunk(e, idx, &h, (uint32_t)csize);
    if (rc < 0)
        return rc;
    m->data_bytes += sk_mentry_chunk_len(m, e, idx);
    rc = sk_hset_add(distinct, &h, (uint32_t)csize);
    if (rc < 0)
        return rc;
    if (rc == 1)
        *stored += csize;
    return 0;
}

/* The stats line as recorded, compared with what the entries add up to once all are read. */
enum { ST_FILES, ST_LOGICAL, ST_DATA, ST_STORED, ST_NEW, ST_CHUNKS, ST_COUNT };

static int parse_header(struct parser *ps, sk_manifest_t *m, char **f, int nf, unsigned *seen, uint64_t *rec)
{
    uint64_t v;
    if (!strcmp(f[0], "id")) {
        if (nf != 2 || !sk_id_valid(f[1]) || (*seen & 1))
            return bad(ps, "bad id");
        snprintf(m->id, sizeof(m->id), "%s", f[1]);
        *seen |= 1;
    } else if (!strcmp(f[0], "time")) {
        if (nf != 3 || parse_u64(f[1], INT64_MAX, &v) < 0 || (*seen & 2))
            return bad(ps, "bad time");
        m->time = (int64_t)v;
        *seen |= 2;
    } else if (!strcmp(f[0], "chunk-size")) {
        if (nf != 2 || parse_u64(f[1], SK_CHUNK_SIZE_MAX, &v) < 0 || v < SK_CHUNK_SIZE_MIN || (v & (v - 1)) ||
            (*seen & 4))
            return bad(ps, "bad chunk size");
        m->chunk_size = (uint32_t)v;
        *seen |= 4;
    } else if (!strcmp(f[0], "include")) {
        if (nf < 2 || m->ninclude)
            return bad(ps, "bad include");
        for (int i = 1; i < nf; i++) {
            char *name;
            if (unescape(f[i], &name) < 0)
                return bad(ps, "bad included folder name");
            int rc = 0;
            if (!component_ok(name, strlen(name)))
                rc = bad(ps, "bad included folder name");
            /* .slotkeeper is each slot's own folder (restore marker, staging, quarantine). */
            else if (!strcmp(name, ".slotkeeper"))
                rc = bad(ps, "included folder '.slotkeeper' is slotkeeper's own");
            for (size_t j = 0; j < m->ninclude && rc == 0; j++)
                if (!strcmp(m->include[j], name))
                    rc = bad(ps, "included folder listed twice");
            if (rc == 0 && sk_manifest_add_include(m, name) < 0)
                rc = -ENOMEM;
            free(name);
            if (rc < 0)
                return rc;
        }
        *seen |= 8;
    } else if (!strcmp(f[0], "fact")) {
        char *val;
        if (nf != 3 || !sk_fact_key_valid(f[1]) || sk_manifest_fact(m, f[1]) || unescape(f[2], &val) < 0)
            return bad(ps, "bad fact");
        int rc = sk_manifest_set_fact(m, f[1], val);
        free(val);
        if (rc == -EINVAL)
            return bad(ps, "bad fact (a value of PATH_MAX bytes or more)");
        if (rc < 0)
            return rc;
    } else if (!strcmp(f[0], "carry-run")) {
        if (m->version < 2 || nf != 2 || m->has_carry_run || parse_u64(f[1], UINT32_MAX, &v) < 0)
            return bad(ps, "bad carry-run");
        m->has_carry_run = true;
        m->carry_run = v;
    } else if (!strcmp(f[0], "stats")) {
        static const char *keys[ST_COUNT] = {"files=", "logical=", "data=", "stored=", "new=", "chunks="};
        if (nf != 1 + ST_COUNT || (*seen & 16))
            return bad(ps, "bad stats");
        for (int i = 0; i < ST_COUNT; i++) {
            size_t kl = strlen(keys[i]);
            if (strncmp(f[i + 1], keys[i], kl) || parse_u64(f[i + 1] + kl, UINT64_MAX, &rec[i]) < 0)
                return bad(ps, "bad stats");
        }
        *seen |= 16;
    } else {
        return bad(ps, "unknown record '%s'", f[0]);
    }
    return 0;
}

int sk_manifest_parse(const char *buf, size_t len, sk_manifest_t **out, char *why, size_t whylen)
{
    struct parser ps = {.p = buf, .end = buf + len, .why = why, .whylen = whylen};
    if (why && whylen)
        why[0] = '\0';

    /* The last line is "checksum <hex>\n" and covers every byte before it. */
    static const char ck[] = "checksum ";
    size_t tail = sizeof(ck) - 1 + SK_HASH_HEX_LEN + 1;
    if (len < tail || buf[len - 1] != '\n' || memcmp(buf + len - tail, ck, sizeof(ck) - 1) ||
        (len > tail && buf[len - tail - 1] != '\n')) {
        ps.lineno = 0;
        return bad(&ps, "no checksum line at the end (truncated?)");
    }
    char hex[SK_HASH_HEX_LEN + 1];
    memcpy(hex, buf + len - tail + sizeof(ck) - 1, SK_HASH_HEX_LEN);
    hex[SK_HASH_HEX_LEN] = '\0';
    sk_hash_t want, got;
    if (sk_hash_parse(hex, &want) < 0)
        return bad(&ps, "bad checksum line");
    sk_hash_compute(buf, len - tail, &got);
    if (!sk_hash_eq(&want, &got))
        return bad(&ps, "checksum mismatch");
    ps.end = buf + len - tail;

    sk_manifest_t *m = sk_manifest_new();
    if (!m)
        return -ENOMEM;
    sk_hset_t dirs, paths, distinct;
    sk_hset_init(&dirs);
    sk_hset_init(&paths);
    sk_hset_init(&distinct);
    uint64_t rec[ST_COUNT] = {0};
    uint64_t stored = 0, files = 0, logical = 0;
    unsigned seen = 0;
    bool ended = false;
    bool x_ok = false; /* an x record may come next */
    int rc = next_line(&ps);
    if (rc > 0 && !strcmp(ps.line, "slotkeeper-manifest 1"))
        m->version = 1;
    else if (rc > 0 && !strcmp(ps.line, "slotkeeper-manifest 2"))
        m->version = 2;
    else {
        rc = bad(&ps, "not a version 1 or 2 slotkeeper manifest");
        goto fail;
    }
    while ((rc = next_line(&ps)) > 0) {
        char *f[8];
        if (ended) {
            rc = bad(&ps, "data after end");
            goto fail;
        }
        int nf = split(ps.line, f, 8);
        if (nf < 0) {
            rc = bad(&ps, "malformed fields");
            goto fail;
        }
        if (!strcmp(f[0], "end")) {
            if (nf != 1) {
                rc = bad(&ps, "malformed end");
                goto fail;
            }
            ended = true;
            continue;
        }
        bool was_x_ok = x_ok;
        x_ok = false;
        if (!strcmp(f[0], "c")) {
            rc = parse_chunk(&ps, m, f, nf, &distinct, &stored);
        } else if (!strcmp(f[0], "x")) {
            x_ok = was_x_ok;
            rc = parse_ident(&ps, m, f, nf, &x_ok);
        } else if (f[0][1] == '\0') {
            if (seen != 31) {
                rc = bad(&ps, "entry before the header is complete");
                goto fail;
            }
            rc = parse_entry(&ps, m, f, nf, &dirs, &paths);
            if (rc == 0 && f[0][0] == 'f') {
                x_ok = true;
                files++;
                logical += m->entries[m->nentries - 1].size;
            }
        } else {
            if (m->nentries) {
                rc = bad(&ps, "header record after entries");
                goto fail;
            }
            rc = parse_header(&ps, m, f, nf, &seen, rec);
        }
        if (rc < 0)
            goto fail;
    }
    if (rc < 0)
        goto fail;
    if (!ended) {
        rc = bad(&ps, "no end record");
        goto fail;
    }
    if (seen != 31) {
        rc = bad(&ps, "incomplete header");
        goto fail;
    }
    /* parse_chunk added up data_bytes; the rest is counted here. */
    if (files != rec[ST_FILES] || logical != rec[ST_LOGICAL] || m->data_bytes != rec[ST_DATA] ||
        stored != rec[ST_STORED] || distinct.n != rec[ST_CHUNKS]) {
        rc = bad(&ps, "stats do not match the entries");
        goto fail;
    }
    m->files = files;
    m->logical_bytes = logical;
    m->stored_bytes = stored;
    m->chunks = distinct.n;
    m->new_bytes = rec[ST_NEW];
    for (size_t i = 0; i < m->ninclude; i++) {
        sk_hash_t k;
        path_key(m->include[i], strlen(m->include[i]), &k);
        if (!sk_hset_find(&dirs, &k)) {
            rc = bad(&ps, "included folder '%s' has no entry", m->include[i]);
            goto fail;
        }
    }
    sk_hset_free(&dirs);
    sk_hset_free(&paths);
    sk_hset_free(&distinct);
    *out = m;
    return 0;
fail:
    sk_hset_free(&dirs);
    sk_hset_free(&paths);
    sk_hset_free(&distinct);
    sk_manifest_free(m);
    return rc < 0 ? rc : -EBADMSG;
}
