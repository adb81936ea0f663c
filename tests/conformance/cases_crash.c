/*
 * Crash safety: a child doing reservations and claims (durably: fsync on) is killed
 * with SIGKILL at random moments, many times. After each kill the store reopens, the
 * check is clean, and everything the child was told had succeeded is there.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conformance.h"

#define KILLS 12
#define RECEIVED 1000000

/* Tells the parent, through fd, what has durably succeeded: "R id" or "C claim-id". */
static void report(int fd, char kind, const char *id)
{
    char line[128];
    int n = snprintf(line, sizeof line, "%c %s\n", kind, id);
    if (write(fd, line, (size_t)n) != n)
        _exit(3);
}

/* The child's endless mix of operations. */
static void child_main(const char *uri, int fd, unsigned seed)
{
    ecom_store *s = NULL;
    if (ecom_store_open(&s, uri, NULL) != ECOM_OK) /* default options: durable */
        _exit(2);
    srand(seed);
    char id[64], last_res[64] = "", last_claim[96] = "";
    for (unsigned i = 0;; i++) {
        int dice = rand() % 8;
        const char *skus[] = {"a", "b"};
        int64_t qty[] = {1 + rand() % 3, 1 + rand() % 2};
        if (dice < 3) {
            snprintf(id, sizeof id, "r%u-%u", seed, i);
            if (ecom_reserve(s, id, skus, qty, 2, NULL, 1 + rand() % 50) == ECOM_OK) {
                report(fd, 'R', id);
                snprintf(last_res, sizeof last_res, "%s", id);
            }
        } else if (dice == 3 && *last_res) {
            ecom_reservation_commit(s, last_res);
        } else if (dice == 4 && *last_res) {
            ecom_reservation_release(s, last_res);
        } else if (dice == 5) {
            ecom_claim_result r = ECOM_CLAIM_RESULT_INIT;
            snprintf(id, sizeof id, "k%u-%u", seed, i);
            if (ecom_flash_claim(&r, s, "sale", id, 1, id) == ECOM_OK &&
                r.outcome == ECOM_CLAIM_ADMITTED) {
                report(fd, 'C', r.claim_id);
                snprintf(last_claim, sizeof last_claim, "%s", r.claim_id);
            }
        } else if (dice == 6 && *last_claim) {
            rand() % 2 ? ecom_flash_commit(s, last_claim) : ecom_flash_release(s, last_claim);
        } else {
            ecom_inventory_expire(NULL, s, ecom_store_now(s));
        }
    }
}

/* Everything reported before the kill must be in the store. */
static void verify_reported(ecom_store *s, FILE *reported, int *seen)
{
    char line[160];
    while (fgets(line, sizeof line, reported)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == 'R') {
            ecom_reservation *r = NULL;
            if (ecom_reservation_get(&r, s, line + 2) != ECOM_OK)
                fail_msg("acknowledged reservation %s is lost", line + 2);
            ecom_reservation_free(r);
        } else if (line[0] == 'C') {
            ecom_claim_result c = ECOM_CLAIM_RESULT_INIT;
            if (ecom_flash_poll(&c, s, line + 2) != ECOM_OK)
                fail_msg("acknowledged claim %s is lost", line + 2);
        }
        (*seen)++;
    }
}

static void test_crash__sigkill_loses_nothing_acknowledged(void **state)
{
    (void)state;
    char uri[512];
    snprintf(uri, sizeof uri, "%s", conf_fresh_uri());
    ecom_store *s = conf_open(uri);
    conf_stock(s, "a", RECEIVED);
    conf_stock(s, "b", 50);
    ecom_flash_options o = ECOM_FLASH_OPTIONS_INIT;
    o.sku = "a";
    o.units = 200;
    o.claim_ttl_ms = 30;
    assert_int_equal(ecom_flash_open(s, "sale", &o), ECOM_OK);
    ecom_store_close(s);

    srand((unsigned)time(NULL));
    int acknowledged = 0;
    for (int k = 0; k < KILLS; k++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child_main(uri, fds[1], (unsigned)k + 1);
        }
        close(fds[1]);
        struct timespec nap = {0, (long)(20 + rand() % 180) * 1000000L};
        nanosleep(&nap, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status)); /* it died by our hand, not by a failure */

        FILE *reported = fdopen(fds[0], "r");
        assert_non_null(reported);
        s = conf_open(uri);
        verify_reported(s, reported, &acknowledged);
        fclose(reported);
        conf_assert_clean(s);
        int64_t reserved;
        int64_t on_hand = conf_on_hand(s, "b", &reserved);
        assert_true(reserved >= 0 && reserved <= on_hand && on_hand <= 50);
        ecom_store_close(s);
    }
    printf("    crash: %d kills, %d acknowledged operations all found\n", KILLS, acknowledged);
    assert_true(acknowledged > 0);
}

/* The child's endless checkouts: a cart, then a checkout with a random outcome. */
static void checkout_child(const char *uri, unsigned seed)
{
    ecom_store *s = NULL;
    if (ecom_store_open(&s, uri, NULL) != ECOM_OK) /* durable */
        _exit(2);
    srand(seed);
    static const char *const tokens[] = {"tok_approve", "tok_approve", "tok_decline",
                                         "tok_timeout", "tok_error"};
    char cart[64], user[32], key[64];
    for (unsigned i = 0;; i++) {
        snprintf(user, sizeof user, "u%u-%u", seed, i);
        snprintf(cart, sizeof cart, "user:%s", user);
        snprintf(key, sizeof key, "k%u-%u", seed, i);
        if (ecom_cart_add(s, cart, "a", 1 + rand() % 3, "USD") != ECOM_OK)
            continue;
        ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
        r.cart = cart;
        r.user = user;
        r.payment_token = tokens[rand() % 5];
        ecom_order *o = NULL;
        ecom_checkout(&o, s, &r, key);
        ecom_order_free(o);
    }
}

static void test_crash__sigkill_mid_checkout_leaks_nothing(void **state)
{
    (void)state;
    char uri[512];
    snprintf(uri, sizeof uri, "%s", conf_fresh_uri());
    ecom_store *s = conf_open(uri);
    conf_stock(s, "a", RECEIVED);
    ecom_store_close(s);
    srand((unsigned)time(NULL) ^ 0x5eed);
    for (int k = 0; k < KILLS; k++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            checkout_child(uri, (unsigned)k + 100);
        struct timespec nap = {0, (long)(30 + rand() % 170) * 1000000L};
        nanosleep(&nap, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));

        /* Reopen, finish what the crash left pending, let orphan holds expire. */
        ecom_store *t = NULL;
        assert_int_equal(ecom_store_open(&t, uri, NULL), ECOM_OK);
        uint64_t recovered = 0;
        if (ecom_checkout_recover(&recovered, t, 0) != ECOM_OK)
            fail_msg("recover: %s", ecom_errmsg(t));
        assert_int_equal(ecom_inventory_expire(NULL, t, ecom_store_now(t) + 3600 * 1000),
                         ECOM_OK);
        conf_assert_clean(t); /* includes: every charge belongs to one order, at most one */
        int64_t reserved;
        conf_on_hand(t, "a", &reserved);
        assert_int_equal(reserved, 0); /* no stock leaks */
        ecom_order_list_options opts = ECOM_ORDER_LIST_OPTIONS_INIT;
        opts.state = ECOM_ORDER_PENDING_PAYMENT;
        ecom_order_page *page = NULL;
        assert_int_equal(ecom_order_list(&page, t, &opts), ECOM_OK);
        assert_int_equal(ecom_order_page_count(page), 0); /* every checkout finished */
        ecom_order_page_free(page);
        ecom_store_close(t);
    }
}

int conf_run_crash(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash__sigkill_loses_nothing_acknowledged),
        cmocka_unit_test(test_crash__sigkill_mid_checkout_leaks_nothing),
    };
    return cmocka_run_group_tests_name("crash", tests, NULL, NULL);
}
