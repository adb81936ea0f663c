/*
 * Crash safety: a child doing reservations and claims, or checkouts (durably: fsync
 * on), is killed with SIGKILL at random moments, many times. After each kill the store
 * reopens, the check is clean, and everything the child was told had succeeded is
 * there; after a checkout's kill and recovery, no stock is held, no order is pending,
 * and every charge belongs to exactly one order.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

/*
 * The checkout case kills many times (ECOM_CRASH_KILLS overrides, for a longer soak;
 * ECOM_CRASH_SEED replays a run's delays). Each kill waits until the child's store is
 * open, then a uniformly random time over about KILL_WINDOW_CHECKOUTS checkouts (their
 * length measured on the kills before, as disks differ), so the kills fall across
 * every step of a checkout in proportion to its time, each step being one durable
 * commit, and the store stays small enough to check after every kill. 300 kills take
 * about 10 s in the sanitizer build on two cores.
 */
#define CHECKOUT_KILLS 300
#define KILL_WINDOW_CHECKOUTS 6

/* Where the child was when it died: written by the child, read after its death. */
enum { AT_OPENING, AT_CART, AT_CHECKOUT, AT_RETURNED };

typedef struct progress {
    _Atomic int at;
    _Atomic unsigned iteration;
} progress;

/* The child's endless checkouts: a cart, then a checkout with a random outcome. */
static void checkout_child(const char *uri, unsigned seed, progress *pg)
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
        atomic_store(&pg->iteration, i);
        atomic_store(&pg->at, AT_CART);
        if (ecom_cart_add(s, cart, "a", 1 + rand() % 3, "USD") != ECOM_OK)
            continue;
        ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
        r.cart = cart;
        r.user = user;
        r.payment_token = tokens[rand() % 5];
        ecom_order *o = NULL;
        atomic_store(&pg->at, AT_CHECKOUT);
        ecom_checkout(&o, s, &r, key);
        atomic_store(&pg->at, AT_RETURNED);
        ecom_order_free(o);
    }
}

static unsigned env_unsigned(const char *name, unsigned otherwise)
{
    const char *v = getenv(name);
    char *end = NULL;
    unsigned long n = v && *v ? strtoul(v, &end, 10) : 0;
    return v && *v && *end == '\0' && n > 0 && n <= 1000000 ? (unsigned)n : otherwise;
}

/* How far a killed checkout got, read from the store before recovery touches it. */
enum { STEP_NO_ORDER, STEP_ORDER_HELD, STEP_CHARGED, STEP_COMPLETED, STEPS };
static const char *const step_names[STEPS] = {
    "before its order was written", "order and hold written, not charged",
    "charged, order still pending", "order paid or cancelled, call not returned"};

static int killed_step(ecom_store *t, const char *user)
{
    ecom_order_list_options opts = ECOM_ORDER_LIST_OPTIONS_INIT;
    opts.user = user;
    ecom_order_page *page = NULL;
    assert_int_equal(ecom_order_list(&page, t, &opts), ECOM_OK);
    size_t n = ecom_order_page_count(page);
    assert_true(n <= 1); /* one checkout, one key: never a second order */
    int step = STEP_NO_ORDER;
    if (n == 1) {
        const ecom_order *o = ecom_order_page_order(page, 0);
        step = STEP_COMPLETED;
        if (ecom_order_get_state(o) == ECOM_ORDER_PENDING_PAYMENT) {
            ecom_payments *p = NULL;
            assert_int_equal(ecom_payments_list(&p, t, ecom_order_id(o)), ECOM_OK);
            step = ecom_payments_count(p) ? STEP_CHARGED : STEP_ORDER_HELD;
            ecom_payments_free(p);
        }
    }
    ecom_order_page_free(page);
    return step;
}

/* Over every order the kills left, once recovered: none is pending, a paid order has
 * exactly one approved charge not voided and a cancelled one none, and the stock that
 * left is exactly what the paid orders bought. Returns the number of orders. */
static size_t assert_orders_settled(ecom_store *t, int64_t received)
{
    ecom_order_list_options opts = ECOM_ORDER_LIST_OPTIONS_INIT;
    opts.limit = 1000;
    char cursor[256] = "";
    int64_t sold = 0;
    size_t orders = 0;
    for (;;) {
        opts.cursor = *cursor ? cursor : NULL;
        ecom_order_page *page = NULL;
        assert_int_equal(ecom_order_list(&page, t, &opts), ECOM_OK);
        for (size_t i = 0; i < ecom_order_page_count(page); i++, orders++) {
            const ecom_order *o = ecom_order_page_order(page, i);
            ecom_order_state st = ecom_order_get_state(o);
            if (st != ECOM_ORDER_PAID && st != ECOM_ORDER_CANCELLED)
                fail_msg("order %s is %s after recovery", ecom_order_id(o),
                         ecom_order_state_name(st));
            ecom_payments *p = NULL;
            assert_int_equal(ecom_payments_list(&p, t, ecom_order_id(o)), ECOM_OK);
            int live = 0; /* approved charges not voided */
            for (size_t c = 0; c < ecom_payments_count(p); c++) {
                bool approved = ecom_payments_approved(p, c);
                live += approved && strcmp(ecom_payments_kind(p, c), "charge") == 0;
                live -= approved && strcmp(ecom_payments_kind(p, c), "void") == 0;
            }
            ecom_payments_free(p);
            if (live != (st == ECOM_ORDER_PAID))
                fail_msg("order %s is %s with %d approved charges not voided", ecom_order_id(o),
                         ecom_order_state_name(st), live);
            for (size_t l = 0; st == ECOM_ORDER_PAID && l < ecom_order_line_count(o); l++)
                sold += ecom_order_line_quantity(o, l);
        }
        const char *next = ecom_order_page_next_cursor(page);
        assert_true(next == NULL || strlen(next) < sizeof cursor);
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        ecom_order_page_free(page);
        if (*cursor == '\0')
            break;
    }
    int64_t reserved;
    assert_int_equal(conf_on_hand(t, "a", &reserved), received - sold); /* no stock leaks */
    assert_int_equal(reserved, 0);
    return orders;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Waits until the child has opened its store (or died trying). */
static void await_open(pid_t pid, const progress *pg)
{
    struct timespec tick = {0, 200000};
    for (int waited = 0; atomic_load(&pg->at) == AT_OPENING; waited++) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid)
            fail_msg("checkout child died before its first checkout (status %d)", status);
        if (waited > 150000) /* 30 s */
            fail_msg("checkout child never opened its store");
        nanosleep(&tick, NULL);
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
    unsigned kills = env_unsigned("ECOM_CRASH_KILLS", CHECKOUT_KILLS);
    unsigned seed = env_unsigned("ECOM_CRASH_SEED", (unsigned)time(NULL) ^ 0x5eed);
    printf("    crash: %u checkout kills, seed %u (ECOM_CRASH_KILLS, ECOM_CRASH_SEED)\n", kills,
           seed);
    srand(seed);
    progress *pg = mmap(NULL, sizeof *pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                        -1, 0);
    assert_true(pg != MAP_FAILED);
    unsigned where[AT_RETURNED + 1] = {0}, steps[STEPS] = {0}, checkouts = 0, first = 0;
    int64_t ran_us = 0; /* the children's time from open to kill, over `checkouts` */
    for (unsigned k = 0; k < kills; k++) {
        atomic_store(&pg->at, AT_OPENING);
        atomic_store(&pg->iteration, 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            checkout_child(uri, k + 100, pg);
        await_open(pid, pg);
        int64_t opened = now_us();
        int64_t cycle_us = checkouts > 10 ? ran_us / checkouts : 10000;
        long us = (long)((double)rand() / ((double)RAND_MAX + 1) * KILL_WINDOW_CHECKOUTS *
                         (double)cycle_us);
        struct timespec nap = {us / 1000000, us % 1000000 * 1000L};
        nanosleep(&nap, NULL);
        kill(pid, SIGKILL);
        ran_us += now_us() - opened;
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        int at = atomic_load(&pg->at);
        unsigned iteration = atomic_load(&pg->iteration);
        checkouts += iteration;
        where[at]++;
        first += iteration == 0;

        ecom_store *t = NULL;
        assert_int_equal(ecom_store_open(&t, uri, NULL), ECOM_OK);
        if (at == AT_CHECKOUT) {
            char user[32];
            snprintf(user, sizeof user, "u%u-%u", k + 100, iteration);
            steps[killed_step(t, user)]++;
        }
        /* Finish what the crash left pending, let orphan holds expire. */
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
    munmap(pg, sizeof *pg);
    ecom_store *t = conf_open(uri);
    size_t orders = assert_orders_settled(t, RECEIVED);
    ecom_store_close(t);
    printf("    crash: %u kills over %u checkouts (%zu orders, %.1f ms a checkout; %u kills in a "
           "child's first): %u filling a cart, %u after a checkout returned, %u mid-checkout:\n",
           kills, checkouts, orders, checkouts ? (double)ran_us / checkouts / 1000 : 0.0,
           first, where[AT_CART], where[AT_RETURNED], where[AT_CHECKOUT]);
    for (int i = 0; i < STEPS; i++)
        printf("      %4u %s\n", steps[i], step_names[i]);
    assert_true(where[AT_CHECKOUT] > 0);
}

int conf_run_crash(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash__sigkill_loses_nothing_acknowledged),
        cmocka_unit_test(test_crash__sigkill_mid_checkout_leaks_nothing),
    };
    return cmocka_run_group_tests_name("crash", tests, NULL, NULL);
}
