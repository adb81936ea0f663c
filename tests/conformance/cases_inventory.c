/* The inventory part of the contract: stock, ledger, reservations, expiry. */
#include <stdio.h>
#include <string.h>

#include "conformance.h"

static void assert_fails(ecom_store *s, int rc, int code, const char *needle)
{
    if (rc != code)
        fail_msg("got %d (%s), wanted %d", rc, ecom_errmsg(s), code);
    if (needle && strstr(ecom_errmsg(s), needle) == NULL)
        fail_msg("message '%s' lacks '%s'", ecom_errmsg(s), needle);
}

static void test_inventory__adjustments_move_on_hand(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "mug", 10);
    assert_int_equal(ecom_stock_adjust(s, "mug", NULL, ECOM_ADJUST_DAMAGE, 2, "dropped", NULL),
                     ECOM_OK);
    assert_int_equal(ecom_stock_adjust(s, "mug", NULL, ECOM_ADJUST_RETURN, 1, NULL, "rma-7"),
                     ECOM_OK);
    assert_int_equal(ecom_stock_adjust(s, "mug", NULL, ECOM_ADJUST_CORRECT, -1, "count", NULL),
                     ECOM_OK);
    assert_int_equal(conf_on_hand(s, "mug", NULL), 8);
    assert_int_equal(ecom_stock_set(s, "mug", NULL, 20, "stock take"), ECOM_OK);
    assert_int_equal(ecom_stock_set_safety(s, "mug", NULL, 3), ECOM_OK);
    ecom_stock *st = NULL;
    assert_int_equal(ecom_stock_get(&st, s, "mug", NULL), ECOM_OK);
    assert_int_equal(ecom_stock_on_hand(st), 20);
    assert_int_equal(ecom_stock_safety(st), 3);
    assert_int_equal(ecom_stock_available(st), 20);
    assert_int_equal(ecom_stock_sellable(st), 17);
    assert_int_equal(ecom_stock_backorder(st), ECOM_BACKORDER_DENY);
    ecom_stock_free(st);
    conf_assert_clean(s);
}

static void test_inventory__bad_adjustments_are_refused_distinctly(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "mug", 5);
    assert_fails(s, ecom_stock_adjust(s, "mug", NULL, ECOM_ADJUST_RECEIVE, 0, NULL, NULL),
                 ECOM_EQUANTITY, "quantity");
    assert_fails(s, ecom_stock_adjust(s, "mug", NULL, ECOM_ADJUST_RECEIVE, -3, NULL, NULL),
                 ECOM_EQUANTITY, "negative");
    assert_fails(s, ecom_stock_adjust(s, "mug", NULL, ECOM_ADJUST_RECEIVE, INT64_MAX, NULL, NULL),
                 ECOM_EQUANTITY, "maximum");
    assert_fails(s, ecom_stock_adjust(s, "nope", NULL, ECOM_ADJUST_RECEIVE, 1, NULL, NULL),
                 ECOM_ESKU, "nope");
    assert_fails(s, ecom_stock_adjust(s, "mug", "mars", ECOM_ADJUST_RECEIVE, 1, NULL, NULL),
                 ECOM_ELOCATION, "mars");
    assert_fails(s, ecom_stock_adjust(s, "mug", NULL, ECOM_ADJUST_DAMAGE, 6, NULL, NULL),
                 ECOM_EINSUFFICIENT, "mug");
    assert_fails(s, ecom_stock_adjust(s, "mug", NULL, (ecom_adjust_kind)9, 1, NULL, NULL),
                 ECOM_EINVAL, "kind");
    assert_fails(s, ecom_stock_adjust(s, "mu g", NULL, ECOM_ADJUST_RECEIVE, 1, NULL, NULL),
                 ECOM_EBADID, "sku");
    assert_fails(s, ecom_stock_set(s, "mug", NULL, -1, NULL), ECOM_EQUANTITY, "on_hand");
    assert_fails(s, ecom_stock_set_backorder(s, "mug", (ecom_backorder_policy)5), ECOM_EINVAL,
                 "policy");
    ecom_stock *st = NULL;
    assert_fails(s, ecom_stock_get(&st, s, "ghost", NULL), ECOM_ESKU, "ghost");
    assert_int_equal(conf_on_hand(s, "mug", NULL), 5);
    conf_assert_clean(s);
}

static void test_inventory__locations_keep_their_own_stock(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "mug", 5);
    assert_int_equal(ecom_location_add(s, "berlin", "Berlin warehouse"), ECOM_OK);
    assert_fails(s, ecom_location_add(s, "berlin", "again"), ECOM_EEXISTS, "berlin");
    assert_fails(s, ecom_location_add(s, "no way", NULL), ECOM_EBADID, "location");
    assert_int_equal(ecom_stock_adjust(s, "mug", "berlin", ECOM_ADJUST_RECEIVE, 7, NULL, NULL),
                     ECOM_OK);
    ecom_locations *l = NULL;
    assert_int_equal(ecom_location_list(&l, s), ECOM_OK);
    assert_int_equal(ecom_locations_count(l), 2);
    assert_string_equal(ecom_locations_code(l, 0), "berlin");
    assert_string_equal(ecom_locations_name(l, 0), "Berlin warehouse");
    assert_string_equal(ecom_locations_code(l, 1), "default");
    ecom_locations_free(l);
    ecom_stock *st = NULL;
    assert_int_equal(ecom_stock_get(&st, s, "mug", "berlin"), ECOM_OK);
    assert_int_equal(ecom_stock_on_hand(st), 7);
    ecom_stock_free(st);
    const char *skus[] = {"mug"};
    int64_t qty[] = {6};
    assert_fails(s, ecom_reserve(s, "r1", skus, qty, 1, NULL, 60000), ECOM_EINSUFFICIENT, "mug");
    assert_int_equal(ecom_reserve(s, "r1", skus, qty, 1, "berlin", 60000), ECOM_OK);
    conf_assert_clean(s);
}

static void test_inventory__reservations_are_all_or_nothing(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "a", 5);
    conf_stock(s, "b", 1);
    const char *skus[] = {"a", "b"};
    int64_t too_many[] = {2, 2};
    assert_fails(s, ecom_reserve(s, "r1", skus, too_many, 2, NULL, 60000), ECOM_EINSUFFICIENT,
                 "'b'");
    int64_t reserved = -1;
    assert_int_equal(conf_on_hand(s, "a", &reserved), 5);
    assert_int_equal(reserved, 0); /* nothing of the refused request is held */
    int64_t fits[] = {3, 1};
    assert_int_equal(ecom_reserve(s, "r2", skus, fits, 2, NULL, 60000), ECOM_OK);
    conf_on_hand(s, "a", &reserved);
    assert_int_equal(reserved, 3);

    /* A bundle of one SKU in three lines is judged by its total. */
    const char *bundle[] = {"a", "a", "a"};
    int64_t ones[] = {1, 1, 1};
    assert_fails(s, ecom_reserve(s, "r3", bundle, ones, 3, NULL, 60000), ECOM_EINSUFFICIENT,
                 "'a'");
    assert_int_equal(ecom_reserve(s, "r3", bundle, ones, 2, NULL, 60000), ECOM_OK);
    ecom_reservation *r = NULL;
    assert_int_equal(ecom_reservation_get(&r, s, "r3"), ECOM_OK);
    assert_int_equal(ecom_reservation_line_count(r), 1);
    assert_string_equal(ecom_reservation_line_sku(r, 0), "a");
    assert_int_equal(ecom_reservation_line_quantity(r, 0), 2);
    assert_int_equal(ecom_reservation_get_state(r), ECOM_RESERVATION_HELD);
    /* The hold lasts its whole TTL from the moment it is made. */
    assert_int_equal(ecom_reservation_expires_at(r) - ecom_reservation_created_at(r), 60000);
    ecom_reservation_free(r);

    const char *unknown[] = {"a", "zzz"};
    int64_t q[] = {1, 1};
    assert_fails(s, ecom_reserve(s, "r4", unknown, q, 2, NULL, 60000), ECOM_ESKU, "zzz");
    int64_t zero[] = {1, 0};
    assert_fails(s, ecom_reserve(s, "r4", skus, zero, 2, NULL, 60000), ECOM_EQUANTITY,
                 "lines[1].quantity");
    assert_fails(s, ecom_reserve(s, "r4", skus, fits, 0, NULL, 60000), ECOM_EINVAL, "no lines");
    assert_fails(s, ecom_reserve(s, "r4", skus, fits, 2, NULL, 0), ECOM_EINVAL, "ttl");
    assert_fails(s, ecom_reserve(s, "r4", skus, fits, 2, "nowhere", 1000), ECOM_ELOCATION,
                 "nowhere");
    conf_assert_clean(s);
}

static void test_inventory__reserve_is_idempotent_on_its_id(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "a", 5);
    conf_stock(s, "b", 5);
    const char *skus[] = {"a", "b"}, *swapped[] = {"b", "a"};
    int64_t qty[] = {2, 1}, swapped_qty[] = {1, 2}, other[] = {3, 1};
    assert_int_equal(ecom_reserve(s, "r1", skus, qty, 2, NULL, 60000), ECOM_OK);
    assert_int_equal(ecom_reserve(s, "r1", swapped, swapped_qty, 2, NULL, 60000), ECOM_OK);
    int64_t reserved;
    conf_on_hand(s, "a", &reserved);
    assert_int_equal(reserved, 2); /* the retry held nothing more */
    assert_fails(s, ecom_reserve(s, "r1", skus, other, 2, NULL, 60000), ECOM_ECONFLICT, "r1");
    conf_assert_clean(s);
}

static void test_inventory__a_reservation_ends_exactly_once(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "a", 5);
    const char *skus[] = {"a"};
    int64_t two[] = {2};
    assert_int_equal(ecom_reserve(s, "sold", skus, two, 1, NULL, 60000), ECOM_OK);
    assert_int_equal(ecom_reserve(s, "let-go", skus, two, 1, NULL, 60000), ECOM_OK);
    assert_int_equal(ecom_reservation_commit(s, "sold"), ECOM_OK);
    assert_fails(s, ecom_reservation_commit(s, "sold"), ECOM_EENDED, "sold");
    assert_fails(s, ecom_reservation_release(s, "sold"), ECOM_EENDED, "sold");
    assert_int_equal(ecom_reservation_release(s, "let-go"), ECOM_OK);
    assert_fails(s, ecom_reservation_release(s, "let-go"), ECOM_EENDED, "let-go");
    assert_fails(s, ecom_reservation_commit(s, "let-go"), ECOM_EENDED, NULL);
    assert_fails(s, ecom_reservation_commit(s, "never"), ECOM_ENOTFOUND, "never");
    int64_t reserved;
    assert_int_equal(conf_on_hand(s, "a", &reserved), 3);
    assert_int_equal(reserved, 0);
    ecom_reservation *r = NULL;
    assert_int_equal(ecom_reservation_get(&r, s, "sold"), ECOM_OK);
    assert_int_equal(ecom_reservation_get_state(r), ECOM_RESERVATION_COMMITTED);
    ecom_reservation_free(r);
    conf_assert_clean(s);
}

static void test_inventory__expired_holds_block_nobody(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "a", 3);
    const char *skus[] = {"a"};
    int64_t all[] = {3};
    assert_int_equal(ecom_reserve(s, "early", skus, all, 1, NULL, 1000), ECOM_OK);
    assert_fails(s, ecom_reserve(s, "blocked", skus, all, 1, NULL, 1000), ECOM_EINSUFFICIENT,
                 NULL);
    conf_clock_advance(2000);
    /* No sweeper has run: the expired hold is ended on the way. */
    assert_int_equal(ecom_reserve(s, "late", skus, all, 1, NULL, 60000), ECOM_OK);
    ecom_reservation *r = NULL;
    assert_int_equal(ecom_reservation_get(&r, s, "early"), ECOM_OK);
    assert_int_equal(ecom_reservation_get_state(r), ECOM_RESERVATION_EXPIRED);
    ecom_reservation_free(r);
    assert_fails(s, ecom_reservation_commit(s, "early"), ECOM_EEXPIRED, "early");
    assert_fails(s, ecom_reservation_extend(s, "early", 1000), ECOM_EEXPIRED, NULL);
    conf_assert_clean(s);
}

static void test_inventory__commit_after_expiry_is_eexpired(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "a", 3);
    const char *skus[] = {"a"};
    int64_t one[] = {1};
    assert_int_equal(ecom_reserve(s, "r", skus, one, 1, NULL, 1000), ECOM_OK);
    assert_int_equal(ecom_reservation_extend(s, "r", 5000), ECOM_OK);
    conf_clock_advance(3000); /* past the first expiry, within the extended one */
    assert_int_equal(ecom_reservation_commit(s, "r"), ECOM_OK);
    assert_int_equal(ecom_reserve(s, "q", skus, one, 1, NULL, 1000), ECOM_OK);
    conf_clock_advance(2000);
    assert_fails(s, ecom_reservation_commit(s, "q"), ECOM_EEXPIRED, "q");
    int64_t reserved;
    assert_int_equal(conf_on_hand(s, "a", &reserved), 2);
    assert_int_equal(reserved, 0);
    conf_assert_clean(s);
}

static void test_inventory__the_sweeper_ends_due_holds(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "a", 100);
    const char *skus[] = {"a"};
    int64_t one[] = {1};
    char id[16];
    for (int i = 0; i < 30; i++) {
        snprintf(id, sizeof id, "r%02d", i);
        assert_int_equal(ecom_reserve(s, id, skus, one, 1, NULL, i < 20 ? 1000 : 100000),
                         ECOM_OK);
    }
    uint64_t expired = 0;
    assert_int_equal(ecom_inventory_expire(&expired, s, conf_clock_peek()), ECOM_OK);
    assert_int_equal(expired, 0);
    assert_int_equal(ecom_inventory_expire(&expired, s, conf_clock_peek() + 5000), ECOM_OK);
    assert_int_equal(expired, 20);
    assert_int_equal(ecom_inventory_expire(&expired, s, conf_clock_peek() + 5000), ECOM_OK);
    assert_int_equal(expired, 0);
    int64_t reserved;
    conf_on_hand(s, "a", &reserved);
    assert_int_equal(reserved, 10);
    conf_assert_clean(s);
}

static void test_inventory__backorders_when_allowed(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "pre", 1);
    const char *skus[] = {"pre"};
    int64_t three[] = {3};
    assert_fails(s, ecom_reserve(s, "r", skus, three, 1, NULL, 60000), ECOM_EINSUFFICIENT, NULL);
    assert_int_equal(ecom_stock_set_backorder(s, "pre", ECOM_BACKORDER_ALLOW), ECOM_OK);
    assert_int_equal(ecom_reserve(s, "r", skus, three, 1, NULL, 60000), ECOM_OK);
    assert_int_equal(ecom_reservation_commit(s, "r"), ECOM_OK);
    assert_int_equal(conf_on_hand(s, "pre", NULL), -2);
    conf_assert_clean(s);
}

static void test_inventory__changes_are_events(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "a", 3);
    const char *skus[] = {"a"};
    int64_t one[] = {1};
    assert_int_equal(ecom_reserve(s, "r", skus, one, 1, NULL, 60000), ECOM_OK);
    assert_int_equal(ecom_reservation_commit(s, "r"), ECOM_OK);
    ecom_events *e = NULL;
    assert_int_equal(ecom_events_read(&e, s, 0, 100), ECOM_OK);
    int created = 0, committed = 0, stock = 0;
    for (size_t i = 0; i < ecom_events_count(e); i++) {
        const char *type = ecom_events_type(e, i);
        created += strcmp(type, "reservation.created") == 0;
        committed += strcmp(type, "reservation.committed") == 0;
        stock += strcmp(type, "stock.changed") == 0 &&
                 strcmp(ecom_events_key(e, i), "a@default") == 0;
    }
    ecom_events_free(e);
    assert_int_equal(created, 1);
    assert_int_equal(committed, 1);
    assert_true(stock >= 3); /* receive, reserve, commit */
}

#define CASE(name) cmocka_unit_test_setup_teardown(name, conf_setup, conf_teardown)

int conf_run_inventory(void)
{
    const struct CMUnitTest tests[] = {
        CASE(test_inventory__adjustments_move_on_hand),
        CASE(test_inventory__bad_adjustments_are_refused_distinctly),
        CASE(test_inventory__locations_keep_their_own_stock),
        CASE(test_inventory__reservations_are_all_or_nothing),
        CASE(test_inventory__reserve_is_idempotent_on_its_id),
        CASE(test_inventory__a_reservation_ends_exactly_once),
        CASE(test_inventory__expired_holds_block_nobody),
        CASE(test_inventory__commit_after_expiry_is_eexpired),
        CASE(test_inventory__the_sweeper_ends_due_holds),
        CASE(test_inventory__backorders_when_allowed),
        CASE(test_inventory__changes_are_events),
    };
    return cmocka_run_group_tests_name("inventory", tests, NULL, NULL);
}
