/* What the unit tests share: a counting, failing allocator and throwaway directories. */
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Atomic long test_alloc_live, test_alloc_countdown, test_alloc_calls;

/* True for the one allocation the countdown picked. */
static int doomed(void)
{
    atomic_fetch_add(&test_alloc_calls, 1);
    long left = atomic_load(&test_alloc_countdown);
    return left > 0 && atomic_fetch_sub(&test_alloc_countdown, 1) == 1;
}

static void *oom_malloc(void *ctx, size_t size)
{
    (void)ctx;
    if (doomed())
        return NULL;
    void *p = malloc(size);
    if (p)
        atomic_fetch_add(&test_alloc_live, 1);
    return p;
}

static void *oom_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    if (doomed())
        return NULL;
    void *p = realloc(ptr, size);
    if (p && ptr == NULL)
        atomic_fetch_add(&test_alloc_live, 1);
    return p;
}

static void oom_free(void *ctx, void *ptr)
{
    (void)ctx;
    if (ptr)
        atomic_fetch_sub(&test_alloc_live, 1);
    free(ptr);
}

int test_oom_setup(void **state)
{
    static const ecom_allocator a = {ECOM_ALLOCATOR_VERSION, oom_malloc, oom_realloc, oom_free,
                                     NULL};
    (void)state;
    atomic_store(&test_alloc_live, 0);
    atomic_store(&test_alloc_countdown, 0);
    atomic_store(&test_alloc_calls, 0);
    return ecom_set_allocator(&a);
}

int test_oom_teardown(void **state)
{
    (void)state;
    return ecom_set_allocator(NULL);
}

void test_mkdir_p(const char *path)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = strchr(buf + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(buf, 0755);
        *s = '/';
    }
    mkdir(buf, 0755);
}

void test_fresh_store_dir(char *dir, size_t dir_size, char *uri, size_t uri_size,
                          const char *prefix)
{
    const char *base = getenv("ECOM_TEST_TMP");
    base = base && *base ? base : "/tmp";
    test_mkdir_p(base);
    snprintf(dir, dir_size, "%s/%s_XXXXXX", base, prefix);
    assert_non_null(mkdtemp(dir));
    /* An absolute path after "lmdb://"; a relative ECOM_TEST_TMP after "lmdb:". */
    snprintf(uri, uri_size, dir[0] == '/' ? "lmdb://%s" : "lmdb:%s", dir);
}

void test_remove_store_dir(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
}
