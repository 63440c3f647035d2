/*
 * facts: turns a data-dir check report into manifest facts (see facts.h).
 */
#include "slotkeeper/facts.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void add_fact(sk_facts_t *fs, const char *key, const char *fmt, ...) SK_PRINTF(3, 4);
static void add_fact(sk_facts_t *fs, const char *key, const char *fmt, ...)
{
    if (fs->n >= SK_FACTS_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fs->buf[fs->n], sizeof(fs->buf[fs->n]), fmt, ap);
    va_end(ap);
    if (!fs->buf[fs->n][0])
        return;
    fs->f[fs->n].key = (char *)key;
    fs->f[fs->n].value = fs->buf[fs->n];
    fs->n++;
}

void sk_facts_from_check(sk_facts_t *fs, const char *dir, const sk_datadir_report_t *r)
{
    char host[256] = "", abs[PATH_MAX];
    fs->n = 0;
    gethostname(host, sizeof(host) - 1);
    add_fact(fs, "source.host", "%s", host);
    add_fact(fs, "source.data-dir", "%s", realpath(dir, abs) ? abs : dir);
    add_fact(fs, "source.layout", "%s", r->layout);
    /* The range the data-dir holds: a strided log's retained bundles come before blocks.log,
     * which holds no block right after a split (layouts.h). */
    const sk_layouts_info_t *li = &r->layouts;
    if (r->blocks.blocks || li->retained_files) {
        add_fact(fs, "source.first-block", "%u", li->retained_files ? li->retained_first : r->blocks.first_block);
        add_fact(fs, "source.last-block", "%u", r->blocks.blocks ? r->blocks.last_block : li->retained_last);
    }
    if (li->retained_files)
        add_fact(fs, "source.retained-blocks", "%u..%u", li->retained_first, li->retained_last);
    if (li->ship[0].present || li->ship[1].present)
        add_fact(fs, "source.state-history", "chain_state_history:%u..%u,trace_history:%u..%u", li->ship[0].first_block,
                 li->ship[0].last_block, li->ship[1].first_block, li->ship[1].last_block);
    /* The chain, whenever the block log or genesis.json names one: restores never cross chains. */
    if (r->chain_source)
        add_fact(fs, "source.chain-id", "%s", r->chain_id);
    if (r->state.has_header && fs->n < SK_FACTS_MAX - 8) {
        add_fact(fs, "state.id", "%s", r->state.id);
        add_fact(fs, "state.size", "%llu", (unsigned long long)r->state.size);
        add_fact(fs, "state.os", "%d", r->state.os);
        add_fact(fs, "state.arch", "%d", r->state.arch);
        add_fact(fs, "state.debug", "%d", r->state.debug);
        add_fact(fs, "state.boost-version", "%u", r->state.boost_version);
        add_fact(fs, "state.compiler", "%s", r->state.compiler);
        sk_env_to_hex(r->state.env, fs->buf[fs->n]);
        fs->f[fs->n].key = "state.environment";
        fs->f[fs->n].value = fs->buf[fs->n];
        fs->n++;
    }
}
