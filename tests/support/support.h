/* What the unit tests share: a counting, failing allocator and throwaway directories. */
#ifndef ECOM_TEST_SUPPORT_H
#define ECOM_TEST_SUPPORT_H

#include <stdatomic.h>
#include <stddef.h>

#include "ecom.h"

/*
 * An allocator that counts live blocks and calls, and fails exactly one chosen
 * allocation: set test_alloc_countdown to n and the nth allocation from then on
 * returns NULL (0 disarms). test_oom_setup installs it, test_oom_teardown removes it.
 */
extern _Atomic long test_alloc_live, test_alloc_countdown, test_alloc_calls;
int test_oom_setup(void **state);
int test_oom_teardown(void **state);

/* Makes path and its parents (mode 0755); existing ones are fine. */
void test_mkdir_p(const char *path);

/* A new, empty directory "<$ECOM_TEST_TMP or /tmp>/<prefix>_XXXXXX" in dir, and its
 * LMDB store URI in uri. */
void test_fresh_store_dir(char *dir, size_t dir_size, char *uri, size_t uri_size,
                          const char *prefix);

/* Removes an LMDB store directory made by test_fresh_store_dir. */
void test_remove_store_dir(const char *dir);

#endif
