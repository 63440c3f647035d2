/*
 * cmd_node: the commands about a node's data-dir and its process: check, run,
 * and config check.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "slotkeeper/chainid.h"
#include "slotkeeper/config.h"
#include "slotkeeper/datadir.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/log.h"
#include "slotkeeper/manifest.h"
#include "run.h"

/* Reads the state environment of --reference: a snapshot manifest (its state.environment fact)
 * or a state file's header. */
int cli_load_reference(const char *path, unsigned char env[SK_STATE_ENV_SIZE], sk_err_t *err)
{
    char *buf;
    size_t len;
    int rc = sk_read_file_at(AT_FDCWD, path, SK_MANIFEST_MAX, &buf, &len);
    if (rc == -EFBIG || rc == -EINVAL)
        return sk_state_read_env(path, env, err);
    if (rc < 0)
        return sk_err_set(err, rc, path, NULL);
    if (len < 20 || memcmp(buf, "slotkeeper-manifest ", 20)) {
        free(buf);
        return sk_state_read_env(path, env, err);
    }
    sk_manifest_t *m = NULL;
    char why[256];
    rc = sk_manifest_parse(buf, len, &m, why, sizeof(why));
    free(buf);
    if (rc < 0)
        return sk_err_set(err, rc, path, "corrupt manifest: %s", why);
    const char *hex = sk_manifest_fact(m, "state.environment");
    rc = hex ? sk_env_from_hex(hex, env) : -ENOENT;
    sk_manifest_free(m);
    if (rc < 0)
        return sk_err_set(err, -EINVAL, path, "the manifest records no state environment");
    return 0;
}

/* The chain id --reference names: a snapshot manifest's source.chain-id. 0 and chain set, or -ENOENT
 * when the reference names no chain (a state file, or a manifest that records none). */
static int load_reference_chain(const char *path, char chain[SK_CHAIN_ID_HEX])
{
    char *buf;
    size_t len;
    if (sk_read_file_at(AT_FDCWD, path, SK_MANIFEST_MAX, &buf, &len) < 0)
        return -ENOENT;
    sk_manifest_t *m = NULL;
    char why[256];
    int rc = len >= 20 && !memcmp(buf, "slotkeeper-manifest ", 20) ? sk_manifest_parse(buf, len, &m, why, sizeof(why))
                                                                   : -ENOENT;
    free(buf);
    if (rc < 0)
        return -ENOENT;
    const char *c = sk_manifest_fact(m, "source.chain-id");
    rc = c && sk_chainid_valid(c) ? 0 : -ENOENT;
    if (rc == 0)
        snprintf(chain, SK_CHAIN_ID_HEX, "%s", c);
    sk_manifest_free(m);
    return rc;
}

int cmd_check(struct options *o)
{
    sk_err_t err;
    sk_err_clear(&err);
    unsigned char env[SK_STATE_ENV_SIZE];
    sk_check_opts_t co = {.deep = o->deep};
    char ref_chain[SK_CHAIN_ID_HEX];
    if (o->reference) {
        if (cli_load_reference(o->reference, env, &err) < 0)
            return cli_fail(&err);
        co.reference_env = env;
        if (load_reference_chain(o->reference, ref_chain) == 0)
            co.reference_chain_id = ref_chain;
    }
    const char *dir = o->args[0];
    sk_datadir_report_t r;
    if (sk_datadir_check(dir, &co, &r, &err) < 0)
        return cli_fail(&err);
    const sk_state_info_t *s = &r.state;
    const sk_blocklog_info_t *b = &r.blocks;
    if (o->json) {
        json_t *j = json_object();
        json_object_set_new(j, "data_dir", json_string(dir));
        json_object_set_new(j, "verdict", json_string(sk_verdict_name(r.verdict)));
        json_object_set_new(j, "reason", json_string(r.reason));
        json_object_set_new(j, "layout", json_string(r.layout));
        if (r.lock_pid)
            json_object_set_new(j, "lock_pid", json_integer(r.lock_pid));
        json_t *js = json_object();
        json_object_set_new(js, "present", json_boolean(s->present));
        if (s->present) {
            json_object_set_new(js, "path", json_string(s->path));
            json_object_set_new(js, "size", json_integer((json_int_t)s->size));
            json_object_set_new(js, "allocated", json_integer((json_int_t)s->allocated));
        }
        if (s->has_header) {
            json_object_set_new(js, "id", json_string(s->id));
            json_object_set_new(js, "dirty", json_integer(s->dirty));
            json_object_set_new(js, "debug", json_integer(s->debug));
            json_object_set_new(js, "os", json_integer(s->os));
            json_object_set_new(js, "arch", json_integer(s->arch));
            json_object_set_new(js, "boost_version", json_integer(s->boost_version));
            json_object_set_new(js, "compiler", json_string(s->compiler));
        }
        json_object_set_new(j, "state", js);
        json_t *jb = json_object();
        json_object_set_new(jb, "present", json_boolean(b->present));
        if (b->present) {
            json_object_set_new(jb, "log_size", json_integer((json_int_t)b->log_size));
            json_object_set_new(jb, "index_size", json_integer((json_int_t)b->index_size));
            json_object_set_new(jb, "version", json_integer(b->version));
            json_object_set_new(jb, "pruned", json_boolean(b->pruned));
            if (b->pruned && b->kept_first)
                json_object_set_new(jb, "kept_first_block", json_integer(b->kept_first));
            json_object_set_new(jb, "first_block", json_integer(b->first_block));
            json_object_set_new(jb, "last_block", json_integer(b->last_block));
            json_object_set_new(jb, "blocks", json_integer((json_int_t)b->blocks));
            if (b->has_chain_id)
                json_object_set_new(jb, "chain_id", json_string(b->chain_id));
        }
        json_object_set_new(j, "blocks", jb);
        const sk_layouts_info_t *li = &r.layouts;
        if (li->retained_files || li->archived_files || li->stride) {
            json_t *jr = json_object();
            json_object_set_new(jr, "stride", json_integer(li->stride));
            json_object_set_new(jr, "dir", json_string(li->retained_dir));
            json_object_set_new(jr, "files", json_integer(li->retained_files));
            json_object_set_new(jr, "first_block", json_integer(li->retained_first));
            json_object_set_new(jr, "last_block", json_integer(li->retained_last));
            json_object_set_new(jr, "archived_files", json_integer(li->archived_files));
            json_object_set_new(j, "retained", jr);
        }
        if (li->ship_dir[0]) {
            json_t *jh = json_object();
            json_object_set_new(jh, "dir", json_string(li->ship_dir));
            for (int k = 0; k < 2; k++) {
                if (!li->ship[k].present)
                    continue;
                json_t *jl = json_object();
                json_object_set_new(jl, "first_block", json_integer(li->ship[k].first_block));
                json_object_set_new(jl, "last_block", json_integer(li->ship[k].last_block));
                json_object_set_new(jl, "retained_files", json_integer(li->ship[k].retained_files));
                json_object_set_new(jl, "pruned", json_boolean(li->ship[k].pruned));
                json_object_set_new(jh, sk_ship_log_names[k], jl);
            }
            json_object_set_new(j, "state_history", jh);
        }
        json_object_set_new(j, "fork_db", json_boolean(r.fork_db_present));
        if (r.chain_source) {
            json_object_set_new(j, "chain_id", json_string(r.chain_id));
            json_object_set_new(j, "chain_id_from", json_string(r.chain_source));
        }
        if (r.deep)
            json_object_set_new(j, "bad_offset", r.bad_offset ? json_integer((json_int_t)r.bad_offset) : json_null());
        char *txt = json_dumps(j, JSON_INDENT(2));
        if (txt)
            printf("%s\n", txt);
        free(txt);
        json_decref(j);
    } else {
        char a[32], c[32];
        printf("%s: %s: %s\n", dir, sk_verdict_name(r.verdict), r.reason);
        printf("  layout:  %s\n", r.layout);
        if (s->present) {
            printf("  state:   %s, %s (%s allocated)", s->path, sk_fmt_bytes(s->size, a, sizeof(a)),
                   sk_fmt_bytes(s->allocated, c, sizeof(c)));
            if (s->has_header)
                printf(", id %s, dirty %d, os %d, arch %d, boost %u, compiler '%s'", s->id, s->dirty, s->os, s->arch,
                       s->boost_version, s->compiler);
            printf("\n");
        }
        if (b->present) {
            printf("  blocks:  blocks.log %s, version %u%s, ", sk_fmt_bytes(b->log_size, a, sizeof(a)), b->version,
                   b->pruned ? " (pruned)" : "");
            if (b->last_block)
                printf("blocks %u..%u (%llu in the index)", b->first_block, b->last_block,
                       (unsigned long long)b->blocks);
            else if (b->blocks)
                /* The log's last block could not be read (a cut or damaged tail: the verdict says
                 * which); the index's range is all that is known. */
                printf("the index lists blocks %u..%llu; the log's last block could not be read", b->first_block,
                       (unsigned long long)b->first_block + b->blocks - 1);
            else
                printf("no blocks in the index");
            if (b->pruned && b->kept_first)
                printf(", keeps blocks %u..%u", b->kept_first, b->last_block);
            if (b->has_chain_id)
                printf(", chain id %s", b->chain_id);
            printf("\n");
        }
        const sk_layouts_info_t *li = &r.layouts;
        if (li->retained_files)
            printf("  retained: %u bundles in %s, blocks %u..%u\n", li->retained_files, li->retained_dir,
                   li->retained_first, li->retained_last);
        if (li->archived_files)
            printf("  archived: %u bundles (not checked: nodeos never reads them again)\n", li->archived_files);
        for (int k = 0; k < 2; k++)
            if (li->ship[k].present)
                printf("  history: %s/%s, blocks %u..%u%s\n", li->ship_dir, sk_ship_log_names[k],
                       li->ship[k].first_block, li->ship[k].last_block, li->ship[k].pruned ? " (pruned)" : "");
        if (li->outside)
            printf("  note:    config.ini names a folder outside the data-dir: not checked\n");
        printf("  fork db: %s\n", r.fork_db_present ? "present" : "absent");
        if (r.chain_source)
            printf("  chain:   %s (from %s)\n", r.chain_id, r.chain_source);
        if (r.deep && r.bad_offset)
            printf("  first inconsistency at offset %llu\n", (unsigned long long)r.bad_offset);
    }
    static const int codes[] = {[SK_VERDICT_CLEAN] = 0,         [SK_VERDICT_RUNNING] = 10, [SK_VERDICT_DIRTY] = 11,
                                [SK_VERDICT_INCOMPATIBLE] = 12, [SK_VERDICT_CORRUPT] = 13, [SK_VERDICT_MISSING] = 14,
                                [SK_VERDICT_RESTORING] = 15};
    return codes[r.verdict];
}
int cmd_run(struct options *o)
{
    /* Its restores quarantine what they replace: never the repository, never a system folder. */
    int ex = cli_check_paths(o->data_dir, o->given[O_REPO] ? o->repo : NULL);
    if (ex)
        return ex;
    sk_run_opts_t ro = {
        .data_dir = o->data_dir,
        .repo = o->given[O_REPO] ? o->repo : NULL,
        .argv = o->args,
        .tries = o->tries ? o->tries : 2,
        .startup_grace_ms = o->given[O_STARTUP_GRACE] || o->config ? o->startup_grace_ms : 120000,
        .lock_wait_ms = o->lock_wait_ms,
        .control_socket = o->config && o->given[O_SLOT] ? cli_config()->control_socket : NULL,
        .slot = o->given[O_SLOT] ? o->slot : 0,
    };
    /* The run's own SIGINT/SIGTERM handler would only cancel slotkeeper's work: the node gets them. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return sk_run(&ro);
}

int cmd_config_check(struct options *o)
{
    sk_err_t err;
    sk_err_clear(&err);
    sk_config_t cf;
    if (sk_config_load(o->config, &cf, &err) < 0)
        return cli_config_error(&err);
    /* A command whose program does not exist would have the daemon retry it forever. */
    if (sk_config_check_programs(&cf, &err) < 0) {
        sk_config_free(&cf);
        cli_config_error(&err);
        return SK_EXIT_USAGE;
    }
    printf("# effective configuration of %s, defaults included\n", o->config);
    sk_config_print(&cf, stdout);
    sk_config_free(&cf);
    if (!o->quiet)
        log_info("%s: configuration OK", o->config);
    return SK_EXIT_OK;
}
