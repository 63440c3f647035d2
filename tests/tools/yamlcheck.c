/*
 * yamlcheck: parses a YAML file with libyaml's event parser and prints each scalar leaf as
 * one line "path = value", so that shell tests (tests/integration/t_deploy.sh on
 * etc/docker/stack.yml) can grep the structure instead of the text. Mapping keys join with
 * '.', sequence items with [i]; an alias prints as "*name"; a newline in a value prints as \n.
 *
 *   yamlcheck FILE
 *
 * Exit 0 when FILE parses; 1 on a syntax error ("FILE:LINE:COL: problem context") or on a
 * duplicate key in a mapping ("FILE:LINE: duplicate key 'x'"), which compose-file parsers
 * refuse too; 2 on a usage or I/O error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static const char *file;
static yaml_parser_t parser;
static char *path; /* the current node's path; only its first len bytes are meaningful */
static size_t path_cap;

static _Noreturn void oom(void)
{
    fprintf(stderr, "yamlcheck: out of memory\n");
    exit(2);
}

static void *xrealloc(void *p, size_t n)
{
    if (!(p = realloc(p, n)))
        oom();
    return p;
}

/* next: the next event into *ev; on a syntax error prints it and returns -1. */
static int next(yaml_event_t *ev)
{
    if (yaml_parser_parse(&parser, ev))
        return 0;
    yaml_mark_t m = parser.error == YAML_READER_ERROR ? parser.mark : parser.problem_mark;
    fprintf(stderr, "%s:%zu:%zu: %s%s%s\n", file, m.line + 1, m.column + 1,
            parser.problem ? parser.problem : "cannot parse", parser.context ? " " : "",
            parser.context ? parser.context : "");
    return -1;
}

/* path_at: writes the formatted suffix at offset len of the path; returns the new length. */
static size_t path_at(size_t len, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(path + len, path_cap - len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            fprintf(stderr, "yamlcheck: cannot format a path\n");
            exit(2);
        }
        if (len + (size_t)n < path_cap)
            return len + (size_t)n;
        path_cap = 2 * (len + (size_t)n + 1);
        path = xrealloc(path, path_cap);
    }
}

/* leaf: prints "path = PREFIXvalue", with newlines as \n. */
static void leaf(size_t len, const char *prefix, const unsigned char *value, size_t n)
{
    printf("%.*s = %s", len ? (int)len : 1, len ? path : ".", prefix);
    for (size_t i = 0; i < n; i++) {
        if (value[i] == '\n')
            fputs("\\n", stdout);
        else
            putchar(value[i]);
    }
    putchar('\n');
}

static int node(yaml_event_t *ev, size_t len);

/* sequence: the items after a SEQUENCE-START, up to and with its SEQUENCE-END. */
static int sequence(size_t len)
{
    for (size_t i = 0;; i++) {
        yaml_event_t ev;
        if (next(&ev) < 0)
            return -1;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        if (node(&ev, path_at(len, "[%zu]", i)) < 0)
            return -1;
    }
}

/* mapping: the key/value pairs after a MAPPING-START, up to and with its MAPPING-END. */
static int mapping(size_t len)
{
    char **keys = NULL;
    size_t nkeys = 0;
    int rc = 0;
    for (;;) {
        yaml_event_t k, v;
        if (next(&k) < 0) {
            rc = -1;
            break;
        }
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&k);
            break;
        }
        char *name = NULL;
        if (k.type == YAML_SCALAR_EVENT) {
            name = strndup((const char *)k.data.scalar.value, k.data.scalar.length);
        } else if (k.type == YAML_ALIAS_EVENT) {
            if (asprintf(&name, "*%s", (const char *)k.data.alias.anchor) < 0)
                name = NULL;
        } else {
            fprintf(stderr, "%s:%zu:%zu: a collection as a mapping key is not supported\n", file, k.start_mark.line + 1,
                    k.start_mark.column + 1);
            yaml_event_delete(&k);
            rc = -1;
            break;
        }
        if (!name)
            oom();
        for (size_t i = 0; i < nkeys && rc == 0; i++) {
            if (strcmp(keys[i], name) == 0) {
                fprintf(stderr, "%s:%zu: duplicate key '%s'\n", file, k.start_mark.line + 1, name);
                rc = -1;
            }
        }
        yaml_event_delete(&k);
        if (rc < 0) {
            free(name);
            break;
        }
        keys = xrealloc(keys, (nkeys + 1) * sizeof *keys);
        keys[nkeys++] = name;
        size_t l = path_at(len, len ? ".%s" : "%s", name);
        if (next(&v) < 0 || node(&v, l) < 0) {
            rc = -1;
            break;
        }
    }
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i]);
    free(keys);
    return rc;
}

/* node: one node whose first event is *ev, at path length len; deletes *ev (and only that
 * if it is not a node's: a stream or document start or end). */
static int node(yaml_event_t *ev, size_t len)
{
    int rc = 0;
    if (ev->type == YAML_SCALAR_EVENT)
        leaf(len, "", ev->data.scalar.value, ev->data.scalar.length);
    else if (ev->type == YAML_ALIAS_EVENT)
        leaf(len, "*", ev->data.alias.anchor, strlen((const char *)ev->data.alias.anchor));
    else if (ev->type == YAML_SEQUENCE_START_EVENT)
        rc = sequence(len);
    else if (ev->type == YAML_MAPPING_START_EVENT)
        rc = mapping(len);
    yaml_event_delete(ev);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: yamlcheck FILE\n");
        return 2;
    }
    file = argv[1];
    FILE *f = fopen(file, "rb");
    if (!f) {
        fprintf(stderr, "yamlcheck: %s: %s\n", file, strerror(errno));
        return 2;
    }
    if (!yaml_parser_initialize(&parser))
        oom();
    yaml_parser_set_input_file(&parser, f);
    path_cap = 256;
    path = xrealloc(NULL, path_cap);
    int rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (next(&ev) < 0) {
            rc = 1;
            break;
        }
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        /* node() skips (and deletes) the stream and document events */
        if (node(&ev, 0) < 0) {
            rc = 1;
            break;
        }
    }
    yaml_parser_delete(&parser);
    fclose(f);
    free(path);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "yamlcheck: cannot write the output: %s\n", strerror(errno));
        return 2;
    }
    return rc;
}
