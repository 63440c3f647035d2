/*
 * inclist: the list of a data-dir's sub-folders a snapshot takes ("blocks,state").
 *
 * One parser for the command line, the config file and the daemon, and one check of a name,
 * the one snapshot applies: a plain name (printable ASCII, no space, '/' or '%', not "." or
 * ".."), never slotkeeper's own ".slotkeeper", and no name twice. The list is unbounded.
 */
#ifndef SLOTKEEPER_INCLIST_H
#define SLOTKEEPER_INCLIST_H

#include <stddef.h>

#include "slotkeeper/error.h"

/* Checks one name: 0, or -EINVAL recorded in err on path (NULL: the name itself). */
int sk_include_check(const char *name, const char *path, sk_err_t *err);

/* Parses a comma-separated list; blanks around a name and empty items are ignored. Each name
 * is checked (sk_include_check) and may appear once; an empty list is -EINVAL. On success
 * *names holds *n strings (free with sk_include_free); on failure nothing is returned. */
int sk_include_parse(const char *csv, char ***names, size_t *n, sk_err_t *err);
void sk_include_free(char **names, size_t n);

#endif
