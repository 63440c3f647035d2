/*
 * storage: choosing the driver a repository's name asks for (storage.h): s3://BUCKET/PREFIX is
 * an object store (storage_s3.c), anything else a local folder (storage_posix.c).
 */
#include "slotkeeper/storage.h"

#include "slotkeeper/error.h"
#include "slotkeeper/s3.h"

int sk_storage_open(const char *name, bool create, sk_storage_t **out, sk_err_t *err)
{
    if (sk_s3_is_url(name))
        return sk_storage_s3_open(name, out, err);
    return sk_storage_posix_open(name, create, out);
}
