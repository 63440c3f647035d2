/*
 * inclist: parses and checks the list of included folders (see inclist.h).
 */
#include "slotkeeper/inclist.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "slotkeeper/buf.h"

int sk_include_check(const char *name, const char *path, sk_err_t *err)
{
    if (!path)
        path = name;
    bool plain = *name && strcmp(name, ".") && strcmp(name, "..");
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        if (*c <= 0x20 || *c >= 0x7f || *c == '/' || *c == '%')
            plain = false;
    if (!plain)
        return sk_err_set(err, -EINVAL, path,
                          "an included folder must be a plain name (printable ASCII, no space, '/' or '%%')");
    if (!strcmp(name, ".slotkeeper"))
        return sk_err_set(err, -EINVAL, path, "slotkeeper's own folder is never part of a snapshot");
    return 0;
}

void sk_include_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int sk_include_parse(const char *csv, char ***namesp, size_t *np, sk_err_t *err)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    const char *s = csv ? csv : "";
    while (rc == 0) {
        const char *end = strchr(s, ',');
        if (!end)
            end = s + strlen(s);
        const char *a = s, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a) {
            char *name = strndup(a, (size_t)(b - a));
            if (!name || sk_grow(&names, &cap, n + 1, sizeof(*names), 4) < 0) {
                free(name);
                rc = sk_err_set(err, -ENOMEM, csv, NULL);
                break;
            }
            names[n++] = name;
            rc = sk_include_check(name, NULL, err);
            for (size_t k = 0; rc == 0 && k + 1 < n; k++)
                if (!strcmp(names[k], name))
                    rc = sk_err_set(err, -EINVAL, name, "included twice");
        }
        if (!*end)
            break;
        s = end + 1;
    }
    if (rc == 0 && n == 0)
        rc = sk_err_set(err, -EINVAL, csv ? csv : "", "nothing to include");
    if (rc < 0) {
        sk_include_free(names, n);
        return rc;
    }
    *namesp = names;
    *np = n;
    return 0;
}
