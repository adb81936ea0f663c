/* The conformance suite: one table of contract cases, run against the backend named
 * on the command line (lmdb; fault: LMDB behind the fault-injecting wrapper; lmdb-v3:
 * LMDB presented as a contract version 3 backend). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conformance.h"

const char *conf_backend;

static char uri_buf[512];
static unsigned store_counter;

const char *conf_fresh_uri(void)
{
    const char *tmp = getenv("ECOM_TEST_TMP");
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tmp && *tmp ? tmp : "/tmp");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0)
        abort();
    char path[400];
    snprintf(path, sizeof path, "%s/conformance-%s-%ld-%u", dir, conf_backend, (long)getpid(),
             ++store_counter);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        abort();
    const char *prefix = strcmp(conf_backend, "fault") == 0   ? "fault:lmdb://"
                         : strcmp(conf_backend, "lmdb-v3") == 0 ? "fault3:lmdb://"
                                                                : "lmdb://";
    snprintf(uri_buf, sizeof uri_buf, "%s%s", prefix, path);
    return uri_buf;
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "lmdb") != 0 && strcmp(argv[1], "fault") != 0 &&
                      strcmp(argv[1], "lmdb-v3") != 0)) {
        fprintf(stderr, "usage: %s lmdb|fault|lmdb-v3\n", argv[0]);
        return 2;
    }
    conf_backend = argv[1];
    if (conf_fault_register() != ECOM_OK) {
        fprintf(stderr, "cannot register the fault backend\n");
        return 1;
    }
    printf("conformance: backend %s (libecom %s)\n", conf_backend, ecom_version());
    int failed = conf_run_catalog();
    failed += conf_run_concurrency();
    failed += conf_run_inventory();
    failed += conf_run_flash();
    failed += conf_run_inventory_concurrency();
    failed += conf_run_commerce();
    if (strcmp(conf_backend, "lmdb") == 0)
        failed += conf_run_crash();
    if (strcmp(conf_backend, "fault") == 0)
        failed += conf_run_faults();
    return failed ? 1 : 0;
}
