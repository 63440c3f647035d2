/*
 * buf: the one growable buffer, and the one way to grow an array.
 *
 * sk_mbuf_t is a text (or byte) buffer that appends and keeps a terminating NUL; an
 * allocation failure sets failed and turns later appends into no-ops, so a writer
 * appends freely and checks once at the end. sk_grow doubles an array's capacity
 * until it holds need elements: the loop every list in snapshot/ used to write by hand.
 */
#ifndef SLOTKEEPER_BUF_H
#define SLOTKEEPER_BUF_H

#include <stddef.h>

#include "slotkeeper/error.h"

typedef struct sk_mbuf {
    char *data; /* NUL-terminated once anything was appended */
    size_t len, cap;
    int failed; /* an allocation failed (or a format was bad): the contents are incomplete */
} sk_mbuf_t;

/* Makes room for more bytes plus a NUL. 0, or -ENOMEM (and failed is set). */
int sk_mbuf_reserve(sk_mbuf_t *b, size_t more);
/* Appends n bytes. */
void sk_mbuf_append(sk_mbuf_t *b, const void *p, size_t n);
/* Appends printf-formatted text. */
void sk_mbuf_printf(sk_mbuf_t *b, const char *fmt, ...) SK_PRINTF(2, 3);
/* Frees the contents; b is empty and usable again. */
void sk_mbuf_free(sk_mbuf_t *b);

/* Grows *arr (of elements of size elem, capacity *cap) so that it holds at least need
 * elements: doubles from first (when *cap is 0). 0, or -ENOMEM (then *arr is unchanged). */
int sk_grow(void *arr, size_t *cap, size_t need, size_t elem, size_t first);

#endif
