/* The contract under concurrency: threads sharing a store, processes sharing a directory. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conformance.h"

#define THREADS 4
#define PER_THREAD 100
#define INCREMENTS 25

/* Read-modify-write with compare-and-set: the title carries a counter. */
static int increment(ecom_store *s, const char *id, int times)
{
    for (int done = 0; done < times;) {
        ecom_product *p = NULL;
        if (ecom_catalog_get(&p, s, id) != ECOM_OK)
            return -1;
        int n = atoi(ecom_product_title(p) + 2);
        char title[32];
        snprintf(title, sizeof title, "n=%d", n + 1);
        ecom_product_set_title(p, title);
        int rc = ecom_catalog_update(s, p, ecom_product_version(p));
        ecom_product_free(p);
        if (rc == ECOM_OK)
            done++;
        else if (rc != ECOM_ECONFLICT)
            return -1;
    }
    return 0;
}

/* Everyone tries to create a product holding the one SKU code `sku`. 1 if this one won. */
static int race_for_sku(ecom_store *s, const char *id, const char *sku)
{
    const char *skus[] = {sku, NULL};
    ecom_product *p = conf_product(id, "hot", skus);
    int rc = ecom_catalog_create(s, p);
    ecom_product_free(p);
    return rc == ECOM_OK ? 1 : rc == ECOM_EDUPSKU ? 0 : -1;
}

typedef struct worker {
    ecom_store *store;
    pthread_barrier_t *barrier;
    int index;
    int won; /* 1, 0, or -1 on an unexpected error */
    int failed;
} worker;

static void *thread_main(void *arg)
{
    worker *w = arg;
    char id[32];
    snprintf(id, sizeof id, "hot-%d", w->index);
    pthread_barrier_wait(w->barrier);
    w->won = race_for_sku(w->store, id, "HOT");
    for (int i = 0; i < PER_THREAD && !w->failed; i++) {
        snprintf(id, sizeof id, "t%d-%03d", w->index, i);
        const char *skus[] = {id, NULL};
        ecom_product *p = conf_product(id, i % 2 ? "a/b" : "a", skus);
        w->failed = ecom_catalog_create(w->store, p) != ECOM_OK;
        ecom_product_free(p);
        ecom_product *q = NULL;
        w->failed |= ecom_catalog_get(&q, w->store, id) != ECOM_OK;
        ecom_product_free(q);
    }
    if (increment(w->store, "ctr", INCREMENTS) != 0)
        w->failed = 1;
    return NULL;
}

static void assert_counter(ecom_store *s, const char *id, int n)
{
    ecom_product *p = NULL;
    assert_int_equal(ecom_catalog_get(&p, s, id), ECOM_OK);
    char title[32];
    snprintf(title, sizeof title, "n=%d", n);
    assert_string_equal(ecom_product_title(p), title);
    assert_int_equal(ecom_product_version(p), (uint64_t)n + 1);
    ecom_product_free(p);
}

static void create_counter(ecom_store *s, const char *id)
{
    const char *skus[] = {"ctr-sku", NULL};
    ecom_product *p = conf_product(id, "", skus);
    ecom_product_set_title(p, "n=0");
    assert_int_equal(ecom_catalog_create(s, p), ECOM_OK);
    ecom_product_free(p);
}

static void test_concurrency__threads_share_one_store(void **state)
{
    ecom_store *s = *state;
    create_counter(s, "ctr");
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, THREADS);
    worker w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.store = s, .barrier = &barrier, .index = i};
        assert_int_equal(pthread_create(&t[i], NULL, thread_main, &w[i]), 0);
    }
    int winners = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failed, 0);
        assert_true(w[i].won >= 0);
        winners += w[i].won;
    }
    pthread_barrier_destroy(&barrier);
    assert_int_equal(winners, 1);
    assert_counter(s, "ctr", THREADS * INCREMENTS);

    ecom_categories *c = NULL;
    assert_int_equal(ecom_catalog_categories(&c, s), ECOM_OK);
    assert_string_equal(ecom_categories_path(c, 0), "a");
    assert_int_equal(ecom_categories_total(c, 0), THREADS * PER_THREAD);
    ecom_categories_free(c);
    uint64_t last = 0;
    assert_int_equal(ecom_events_last_seq(&last, s), ECOM_OK);
    assert_int_equal(last, 1 + 1 + THREADS * PER_THREAD + THREADS * INCREMENTS);
    conf_assert_clean(s);
}

#define PROCESSES 3
#define PROCESS_INCREMENTS 20

/* A child: its own store on the shared directory. Exit code 10 + won, or 1. */
static int child_main(const char *uri, int index)
{
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    ecom_store *s = NULL;
    if (ecom_store_open(&s, uri, &opts) != ECOM_OK)
        return 1;
    char id[32];
    snprintf(id, sizeof id, "phot-%d", index);
    int won = race_for_sku(s, id, "PHOT");
    int ok = won >= 0;
    for (int i = 0; ok && i < 50; i++) {
        snprintf(id, sizeof id, "c%d-%02d", index, i);
        const char *skus[] = {id, NULL};
        ecom_product *p = conf_product(id, "proc", skus);
        ok = ecom_catalog_create(s, p) == ECOM_OK;
        ecom_product_free(p);
    }
    ok = ok && increment(s, "pctr", PROCESS_INCREMENTS) == 0;
    ecom_store_close(s);
    return ok ? 10 + won : 1;
}

static void test_concurrency__processes_share_one_directory(void **state)
{
    (void)state;
    char uri[512];
    snprintf(uri, sizeof uri, "%s", conf_fresh_uri());
    ecom_store *s = conf_open(uri);
    create_counter(s, "pctr");
    ecom_store_close(s); /* a child must not inherit an open environment */

    /* The children use the lmdb backend directly: the fault wrapper lives in this process. */
    const char *child_uri = strncmp(uri, "fault:", 6) == 0 ? uri + 6 : uri;
    pid_t pids[PROCESSES];
    for (int i = 0; i < PROCESSES; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0)
            _exit(child_main(child_uri, i));
    }
    int winners = 0;
    for (int i = 0; i < PROCESSES; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        int code = WEXITSTATUS(status);
        if (code != 10 && code != 11)
            fail_msg("child %d exited with %d", i, code);
        winners += code - 10;
    }
    assert_int_equal(winners, 1);

    s = conf_open(uri);
    assert_counter(s, "pctr", PROCESSES * PROCESS_INCREMENTS);
    ecom_product *p = NULL;
    assert_int_equal(ecom_catalog_get_by_sku(&p, NULL, s, "PHOT"), ECOM_OK);
    assert_memory_equal(ecom_product_id(p), "phot-", 5);
    ecom_product_free(p);
    conf_assert_clean(s);
    ecom_store_close(s);
}

int conf_run_concurrency(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrency__threads_share_one_store, conf_setup,
                                        conf_teardown),
        cmocka_unit_test(test_concurrency__processes_share_one_directory),
    };
    return cmocka_run_group_tests_name("concurrency", tests, NULL, NULL);
}
