/* Never oversell: many threads and several processes on one hot SKU. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conformance.h"

#define THREADS 8

typedef struct hammer {
    ecom_store *store;
    int index;
    int attempts;
    const char *user; /* NULL: one user per claim */
    int (*one)(struct hammer *h, int i); /* 1 got units, 0 refused, -1 unexpected */
    int won;
    int failed;
} hammer;

static int reserve_one(hammer *h, int i)
{
    char id[32];
    snprintf(id, sizeof id, "t%d-%d", h->index, i);
    const char *skus[] = {"hot"};
    int64_t one[] = {1};
    int rc = ecom_reserve(h->store, id, skus, one, 1, NULL, 600000);
    return rc == ECOM_OK ? 1 : rc == ECOM_EINSUFFICIENT ? 0 : -1;
}

static int claim_one(hammer *h, int i)
{
    char user[32], key[32];
    snprintf(user, sizeof user, "u%d-%d", h->index, i);
    snprintf(key, sizeof key, "k%d-%d", h->index, i);
    ecom_claim_result r = ECOM_CLAIM_RESULT_INIT;
    if (ecom_flash_claim(&r, h->store, "sale", h->user ? h->user : user, 1, key) != ECOM_OK) {
        fprintf(stderr, "claim %s: %s\n", key, ecom_errmsg(h->store));
        return -1;
    }
    if (r.outcome == ECOM_CLAIM_ADMITTED)
        return 1;
    if (r.outcome == ECOM_CLAIM_SOLD_OUT || r.outcome == ECOM_CLAIM_LIMIT)
        return 0;
    fprintf(stderr, "claim %s: unexpected outcome %d\n", key, (int)r.outcome);
    return -1;
}

static void *hammer_main(void *arg)
{
    hammer *h = arg;
    for (int i = 0; i < h->attempts; i++) {
        int got = h->one(h, i);
        if (got < 0)
            h->failed++;
        else
            h->won += got;
    }
    return NULL;
}

/* Runs THREADS hammers on one store; returns the units they got in all. */
static int run_threads(ecom_store *s, int attempts, const char *user,
                       int (*one)(hammer *, int))
{
    hammer h[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        h[i] = (hammer){.store = s, .index = i, .attempts = attempts, .user = user, .one = one};
        assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h[i]), 0);
    }
    int won = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(h[i].failed, 0);
        won += h[i].won;
    }
    return won;
}

static void open_sale(ecom_store *s, int64_t units, int64_t limit)
{
    ecom_flash_options o = ECOM_FLASH_OPTIONS_INIT;
    o.sku = "hot";
    o.units = units;
    o.per_user_limit = limit;
    assert_int_equal(ecom_flash_open(s, "sale", &o), ECOM_OK);
}

static void test_inventory_concurrency__threads_reserve_exactly_the_stock(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "hot", 200);
    assert_int_equal(run_threads(s, 40, NULL, reserve_one), 200);
    int64_t reserved;
    assert_int_equal(conf_on_hand(s, "hot", &reserved), 200);
    assert_int_equal(reserved, 200);
    conf_assert_clean(s);
}

static void test_inventory_concurrency__threads_claim_exactly_the_pool(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "hot", 500);
    open_sale(s, 100, 0);
    assert_int_equal(run_threads(s, 50, NULL, claim_one), 100);
    conf_assert_clean(s);
}

static void test_inventory_concurrency__per_user_limit_holds_under_load(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "hot", 500);
    open_sale(s, 400, 5);
    assert_int_equal(run_threads(s, 20, "whale", claim_one), 5);
    conf_assert_clean(s);
}

/* Each child hammers its own store on the shared directory; exit code = units won. */
static int child_main(const char *uri, int index, int (*one)(hammer *, int), const char *user)
{
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    ecom_store *s = NULL;
    if (ecom_store_open(&s, uri, &opts) != ECOM_OK) {
        fprintf(stderr, "child %d: open: %s\n", index, ecom_errmsg(s));
        return 255;
    }
    hammer h = {.store = s, .index = 100 + index, .attempts = 60, .user = user, .one = one};
    hammer_main(&h);
    ecom_store_close(s);
    return h.failed ? 255 : h.won;
}

static int run_processes(const char *uri, int (*one)(hammer *, int), const char *user)
{
    const char *child_uri = strncmp(uri, "fault:", 6) == 0 ? uri + 6 : uri;
    pid_t pids[3];
    for (int i = 0; i < 3; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0)
            _exit(child_main(child_uri, i, one, user));
    }
    int won = 0;
    for (int i = 0; i < 3; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_not_equal(WEXITSTATUS(status), 255);
        won += WEXITSTATUS(status);
    }
    return won;
}

static void test_inventory_concurrency__processes_never_oversell(void **state)
{
    (void)state;
    char uri[512];
    snprintf(uri, sizeof uri, "%s", conf_fresh_uri());
    ecom_store *s = conf_open(uri);
    conf_stock(s, "hot", 100);
    ecom_store_close(s);
    assert_int_equal(run_processes(uri, reserve_one, NULL), 100);

    s = conf_open(uri);
    int64_t reserved;
    assert_int_equal(conf_on_hand(s, "hot", &reserved), 100);
    assert_int_equal(reserved, 100);
    conf_assert_clean(s);
    ecom_store_close(s);
}

static void test_inventory_concurrency__processes_claim_exactly_the_pool(void **state)
{
    (void)state;
    char uri[512];
    snprintf(uri, sizeof uri, "%s", conf_fresh_uri());
    ecom_store *s = conf_open(uri);
    conf_stock(s, "hot", 200);
    open_sale(s, 50, 4);
    ecom_store_close(s);
    assert_int_equal(run_processes(uri, claim_one, "whale"), 4);
    assert_int_equal(run_processes(uri, claim_one, NULL), 46);
    s = conf_open(uri);
    conf_assert_clean(s);
    ecom_store_close(s);
}

#define CASE(name) cmocka_unit_test_setup_teardown(name, conf_setup, conf_teardown)

int conf_run_inventory_concurrency(void)
{
    const struct CMUnitTest tests[] = {
        CASE(test_inventory_concurrency__threads_reserve_exactly_the_stock),
        CASE(test_inventory_concurrency__threads_claim_exactly_the_pool),
        CASE(test_inventory_concurrency__per_user_limit_holds_under_load),
        cmocka_unit_test(test_inventory_concurrency__processes_never_oversell),
        cmocka_unit_test(test_inventory_concurrency__processes_claim_exactly_the_pool),
    };
    return cmocka_run_group_tests_name("inventory concurrency", tests, NULL, NULL);
}
