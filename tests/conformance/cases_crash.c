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

int conf_run_crash(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash__sigkill_loses_nothing_acknowledged),
    };
    return cmocka_run_group_tests_name("crash", tests, NULL, NULL);
}
