/*
 * buf: a growable buffer and array growth (see buf.h).
 */
#include "slotkeeper/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sk_grow(void *arr, size_t *cap, size_t need, size_t elem, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : (first ? first : 1);
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return -ENOMEM;
        ncap *= 2;
    }
    if (elem && ncap > SIZE_MAX / elem)
        return -ENOMEM;
    void **p = arr;
    void *n = realloc(*p, ncap * elem);
    if (!n)
        return -ENOMEM;
    *p = n;
    *cap = ncap;
    return 0;
}

int sk_mbuf_reserve(sk_mbuf_t *b, size_t more)
{
    if (b->failed)
        return -ENOMEM;
    if (more > SIZE_MAX - b->len - 1 || sk_grow(&b->data, &b->cap, b->len + more + 1, 1, 256) < 0) {
        b->failed = 1;
        return -ENOMEM;
    }
    return 0;
}

void sk_mbuf_append(sk_mbuf_t *b, const void *p, size_t n)
{
    if (sk_mbuf_reserve(b, n) < 0)
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sk_mbuf_printf(sk_mbuf_t *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    size_t room = b->cap - b->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n >= room) {
        if (sk_mbuf_reserve(b, (size_t)n) < 0)
            return;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void sk_mbuf_free(sk_mbuf_t *b)
{
    free(b->data);
    *b = (sk_mbuf_t){0};
}
