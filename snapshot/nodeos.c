/*
 * nodeos: nodeos's exit codes, corruption log lines, layouts and default
 * include lists (see nodeos.h; nodeos-facts.md sections 2 and 4).
 */
#include "slotkeeper/nodeos.h"

#include <string.h>

bool sk_nodeos_exit_means_bad_data(int code)
{
    return code == SK_NODEOS_EXIT_DATABASE_DIRTY || code == SK_NODEOS_EXIT_OTHER_FAIL;
}

const char *const *sk_nodeos_default_include(const char *layout, size_t *n)
{
    static const char *const dawn[] = {"blocks", "shared_mem"};
    static const char *const modern[] = {"blocks", "state"};
    *n = 2;
    return layout && !strcmp(layout, SK_NODEOS_LAYOUT_DAWN3) ? dawn : modern;
}

/* Spelling mistakes ("mulitple", "postion", "occuring") are nodeos's own. */
const char *const sk_nodeos_corruption_messages[] = {
    /* environment: the state was made by another build */
    "Database incompatible",
    "created by a different compiler",
    "from a different environment",
    "database format not compatible",
    /* damaged data */
    "atabase dirty flag set",
    "database metadata dirty flag set",
    "Database must be mulitple of",
    "content of memory does not match",
    "Failed to read DB header",
    "Block log was not setup properly",
    "Unsupported version of block log",
    "Expected separator between block log header",
    "does not match the last block postion",
    "Invalid block position",
    "No existing fork database despite existing chain state",
    "No existing chain_head.dat file",
    "basic_ios::clear: iostream error",
    "Append to index file occuring at wrong position",
    NULL,
};

const char *sk_nodeos_log_corruption(const char *text, bool *environment)
{
    for (int i = 0; sk_nodeos_corruption_messages[i]; i++) {
        if (strstr(text, sk_nodeos_corruption_messages[i])) {
            if (environment)
                *environment = i < SK_NODEOS_ENV_MESSAGES;
            return sk_nodeos_corruption_messages[i];
        }
    }
    if (environment)
        *environment = false;
    return NULL;
}
