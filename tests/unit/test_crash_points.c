/*
 * Crash points the conformance SIGKILL test (tests/conformance/cases_crash.c) never
 * reaches: it kills checkouts at random, never a cancel, a refund or a notification
 * halfway through its provider calls. Here each is killed at one chosen point: a forked
 * child opens the store durably (fsync on) with a host payment provider that delegates
 * every call to the built-in test provider of the same store (so the store's ledger
 * records each call and ecom_check compares it with the orders), and the provider
 * raises SIGKILL just before or just after one chosen call. The parent then reopens the
 * store and, checking it after each step, runs the recovery sweep, retries the
 * operation with the same arguments and key, and asserts the end exactly: the order's
 * state and refunded amount, both SKUs' stock, and the order's approved charges, voids
 * and refunds in the ledger (docs/orders.md, docs/checkout.md).
 *
 * The library has no public way to reach its built-in provider's vtable, so the host
 * provider fills one with ecom__test_payments_init (src/orders.h, the call the store
 * makes at open) bound to the same store handle: the very calls the store would make
 * without a host provider. (A second handle on the same LMDB environment in one
 * process is what LMDB forbids.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cJSON.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "orders.h"
#include "support/support.h"

/* ---- a host provider that delegates to the built-in one, and dies where told ---- */

enum call { AUTHORIZE, CAPTURE, VOID, REFUND, LOOKUP, CALLS };
static const char *const call_names[CALLS] = {"authorize", "capture", "void", "refund",
                                              "lookup"};

typedef struct host {
    ecom_payment_provider inner; /* the built-in test provider of the open store */
    int kill_call;               /* -1: none; else the call whose first use kills */
    bool kill_after;             /* after the built-in provider answered (else before) */
    int calls[CALLS];            /* calls made through this handle */
} host;

static host H = {.kill_call = -1};

static void before(enum call c)
{
    H.calls[c]++;
    if (H.kill_call == (int)c && !H.kill_after)
        raise(SIGKILL);
}

static int after(enum call c, int rc)
{
    if (H.kill_call == (int)c && H.kill_after)
        raise(SIGKILL);
    return rc;
}

static int h_authorize(void *ctx, const ecom_payment_request *req, ecom_payment_result *out)
{
    (void)ctx;
    before(AUTHORIZE);
    return after(AUTHORIZE, H.inner.authorize(H.inner.ctx, req, out));
}

static int h_capture(void *ctx, const char *charge, int64_t amount, const char *key,
                     ecom_payment_result *out)
{
    (void)ctx;
    before(CAPTURE);
    return after(CAPTURE, H.inner.capture(H.inner.ctx, charge, amount, key, out));
}

static int h_void(void *ctx, const char *charge, const char *key, ecom_payment_result *out)
{
    (void)ctx;
    before(VOID);
    return after(VOID, H.inner.void_charge(H.inner.ctx, charge, key, out));
}

static int h_refund(void *ctx, const char *charge, int64_t amount, const char *key,
                    ecom_payment_result *out)
{
    (void)ctx;
    before(REFUND);
    return after(REFUND, H.inner.refund(H.inner.ctx, charge, amount, key, out));
}

static int h_lookup(void *ctx, const char *key, ecom_payment_result *out)
{
    (void)ctx;
    before(LOOKUP);
    return after(LOOKUP, H.inner.lookup(H.inner.ctx, key, out));
}

static const ecom_payment_provider host_provider = {
    ECOM_PAYMENT_PROVIDER_VERSION, "host", &H, h_authorize, h_capture, h_void, h_refund,
    h_lookup};

/* Opens the store durably with the host provider, bound to this handle's built-in one. */
static int open_store(ecom_store **s, const char *uri)
{
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 0;
    opts.payments = &host_provider;
    int rc = ecom_store_open(s, uri, &opts);
    if (rc == ECOM_OK)
        ecom__test_payments_init(&H.inner, *s);
    memset(H.calls, 0, sizeof H.calls);
    return rc;
}

/* ---- the story before the kill ---- */

#define MUG_STOCK 10
#define CUP_STOCK 5
#define MUGS 2
#define CUPS 1
#define TOTAL (MUGS * 100 + CUPS * 250)
#define PART 100 /* what ecom_order_refund gives back */

typedef struct fixture {
    char dir[512], uri[600];
    char order[ECOM_ID_MAX + 1];
    uint64_t version; /* the order's, as read when the operation was decided */
    char charge[72];  /* the built-in provider's charge (for an approved notification) */
    ecom_store *s;    /* the parent's open store (closed by teardown if a test fails) */
} fixture;

static int setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof f);
    H.kill_call = -1;
    test_fresh_store_dir(f.dir, sizeof f.dir, f.uri, sizeof f.uri, "crash_points");
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ecom_store_close(f->s);
    f->s = NULL;
    test_remove_store_dir(f->dir);
    return 0;
}

static ecom_store *reopen(fixture *f)
{
    int rc = open_store(&f->s, f->uri);
    if (rc != ECOM_OK)
        fail_msg("reopening %s: %s (%s)", f->uri, ecom_strerror(rc),
                 f->s ? ecom_errmsg(f->s) : "no store");
    return f->s;
}

static void close_store(fixture *f)
{
    ecom_store_close(f->s);
    f->s = NULL;
}

/* A store with two SKUs and one order of both from user:u1's cart, checked out with
 * token: tok_approve (paid) or tok_timeout (charged, its answer lost: pending payment);
 * moved to fulfilling if asked. The store is closed when this returns. */
static void prepare(fixture *f, const char *token, bool fulfilling)
{
    ecom_store *s = reopen(f);
    test_create_product(s, "{\"id\":\"p1\",\"title\":\"Mug and cup\",\"status\":\"active\","
                           "\"variants\":[{\"sku\":\"mug\",\"prices\":{\"USD\":100}},"
                           "{\"sku\":\"cup\",\"prices\":{\"USD\":250}}]}");
    test_receive(s, "mug", MUG_STOCK);
    test_receive(s, "cup", CUP_STOCK);
    test_must(s, ecom_cart_add(s, "user:u1", "mug", MUGS, "USD"), "cart_add mug");
    test_must(s, ecom_cart_add(s, "user:u1", "cup", CUPS, "USD"), "cart_add cup");
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = "user:u1";
    r.user = "u1";
    r.payment_token = token;
    ecom_order *o = NULL;
    int rc = ecom_checkout(&o, s, &r, "k1");
    assert_int_equal(rc, strcmp(token, "tok_timeout") == 0 ? ECOM_ETIMEOUT : ECOM_OK);
    assert_non_null(o);
    snprintf(f->order, sizeof f->order, "%s", ecom_order_id(o));
    assert_int_equal(ecom_order_total(o), TOTAL);
    ecom_order_free(o);
    if (fulfilling)
        test_must(s, ecom_order_transition(s, f->order, ECOM_VERSION_ANY, ECOM_ORDER_FULFILLING,
                                           "warehouse", NULL), "transition");
    o = test_order_of(s, f->order);
    f->version = ecom_order_version(o);
    ecom_order_free(o);
    ecom_payments *p = NULL;
    assert_int_equal(ecom_payments_list(&p, s, f->order), ECOM_OK);
    assert_true(ecom_payments_count(p) >= 1);
    snprintf(f->charge, sizeof f->charge, "%s", ecom_payments_charge_id(p, 0));
    ecom_payments_free(p);
    test_assert_clean(s);
    close_store(f);
}

/* ---- the operations, each with the one set of arguments its retry repeats ---- */

typedef int (*operation)(ecom_store *s, const fixture *f);

static int cancel(ecom_store *s, const fixture *f)
{
    return ecom_order_cancel(s, f->order, f->version, "cs", "buyer asked");
}

static int refund(ecom_store *s, const fixture *f)
{
    return ecom_order_refund(s, f->order, f->version, PART, "r1", "cs", "dented box");
}

static int notify_declined(ecom_store *s, const fixture *f)
{
    return ecom_payment_notify(s, f->order, 0, NULL, "card_declined");
}

static int notify_approved(ecom_store *s, const fixture *f)
{
    return ecom_payment_notify(s, f->order, 1, f->charge, NULL);
}

/* Runs op in a child that opens the store durably and dies by SIGKILL just before (or
 * after) its first provider call of kind `call`. The child never returns to cmocka: an
 * op that ends, or a store that does not open, exits instead, and fails the test. */
static void crash(const fixture *f, operation op, enum call call, bool kill_after)
{
    assert_null(f->s); /* one LMDB environment per process: the parent's is closed */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ecom_store *s = NULL;
        if (open_store(&s, f->uri) != ECOM_OK)
            _exit(2);
        H.kill_call = (int)call;
        H.kill_after = kill_after;
        int rc = op(s, f);
        fprintf(stderr, "child: the operation ended (%s: %s) before the %s\n",
                ecom_strerror(rc), ecom_errmsg(s), call_names[call]);
        _exit(3);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("the child was to die by SIGKILL %s its %s; status %d (exit %d)",
                 kill_after ? "after" : "before", call_names[call], status,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* ---- what must hold ---- */

static void print_violation(void *ctx, const char *message)
{
    print_message("    [%s] violation: %s\n", (const char *)ctx, message);
}

/* ecom_check must run and find nothing: after the kill, after the sweep, at the end. */
static void check_clean(ecom_store *s, const char *when)
{
    uint64_t n = UINT64_MAX;
    assert_int_equal(ecom_check(&n, s, print_violation, (void *)when), ECOM_OK);
    if (n != 0)
        fail_msg("ecom_check %s: %llu violations", when, (unsigned long long)n);
}

static uint64_t recover(ecom_store *s)
{
    uint64_t recovered = UINT64_MAX;
    test_must(s, ecom_checkout_recover(&recovered, s, 0), "checkout_recover");
    return recovered;
}

static void expect_order(ecom_store *s, const fixture *f, ecom_order_state state,
                         int64_t refunded, const char *reason)
{
    ecom_order *o = test_order_of(s, f->order);
    if (ecom_order_get_state(o) != state)
        fail_msg("order %s is %s, not %s", f->order,
                 ecom_order_state_name(ecom_order_get_state(o)), ecom_order_state_name(state));
    assert_int_equal(ecom_order_refunded(o), refunded);
    assert_int_equal(ecom_order_total(o), TOTAL);
    if (reason)
        assert_string_equal(ecom_order_reason(o), reason);
    ecom_order_free(o);
}

/* The refunds kept on the order (its JSON): how many are pending, and the pending
 * amount under key (0: none pending under it). */
static int pending_refunds(ecom_store *s, const fixture *f, const char *key, int64_t *amount)
{
    ecom_order *o = test_order_of(s, f->order);
    char *text = NULL;
    assert_int_equal(ecom_order_to_json(&text, o), ECOM_OK);
    ecom_order_free(o);
    cJSON *root = cJSON_Parse(text);
    ecom_free(text);
    assert_non_null(root);
    const cJSON *refunds = cJSON_GetObjectItemCaseSensitive(root, "refunds");
    assert_true(cJSON_IsArray(refunds));
    int pending = 0;
    *amount = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, refunds)
    {
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "pending")))
            continue;
        pending++;
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(r, "key");
        if (cJSON_IsString(k) && strcmp(k->valuestring, key) == 0)
            *amount = (int64_t)cJSON_GetObjectItemCaseSensitive(r, "amount")->valuedouble;
    }
    cJSON_Delete(root);
    return pending;
}

/* The order's only pending refund is amount under key (amount 0: none is pending). */
static void expect_pending(ecom_store *s, const fixture *f, const char *key, int64_t amount)
{
    int64_t got = 0;
    assert_int_equal(pending_refunds(s, f, key, &got), amount ? 1 : 0);
    assert_int_equal(got, amount);
}

static void expect_stock_of(ecom_store *s, const char *sku, int64_t on_hand, int64_t reserved)
{
    ecom_stock *st = NULL;
    assert_int_equal(ecom_stock_get(&st, s, sku, NULL), ECOM_OK);
    if (ecom_stock_on_hand(st) != on_hand || ecom_stock_reserved(st) != reserved)
        fail_msg("%s: on hand %lld, reserved %lld; expected %lld, %lld", sku,
                 (long long)ecom_stock_on_hand(st), (long long)ecom_stock_reserved(st),
                 (long long)on_hand, (long long)reserved);
    ecom_stock_free(st);
}

/* Both SKUs: sold (on hand less the order's units, nothing held), held (the order's
 * units reserved) or back (all on hand, nothing held). */
enum stock { SOLD, HELD, BACK };

static void expect_stock(ecom_store *s, enum stock how)
{
    expect_stock_of(s, "mug", MUG_STOCK - (how == SOLD ? MUGS : 0), how == HELD ? MUGS : 0);
    expect_stock_of(s, "cup", CUP_STOCK - (how == SOLD ? CUPS : 0), how == HELD ? CUPS : 0);
}

/* The order's approved records in the built-in provider's ledger; refunds also by sum. */
static void expect_ledger(ecom_store *s, const fixture *f, size_t charges, size_t voids,
                          size_t refunds, int64_t refunded)
{
    assert_int_equal(test_payments_of(s, f->order, "charge"), charges);
    assert_int_equal(test_payments_of(s, f->order, "void"), voids);
    assert_int_equal(test_payments_of(s, f->order, "refund"), refunds);
    ecom_payments *p = NULL;
    assert_int_equal(ecom_payments_list(&p, s, f->order), ECOM_OK);
    int64_t sum = 0;
    for (size_t i = 0; i < ecom_payments_count(p); i++)
        if (ecom_payments_approved(p, i) && strcmp(ecom_payments_kind(p, i), "refund") == 0)
            sum += ecom_payments_amount(p, i);
    ecom_payments_free(p);
    assert_int_equal(sum, refunded);
}

static char cancel_key[ECOM_ID_MAX + 16];

static const char *cancel_key_of(const fixture *f)
{
    snprintf(cancel_key, sizeof cancel_key, "refund-cancel-%s", f->order);
    return cancel_key;
}

/* ---- 1, 2: the cancel of a paid order, killed around its refund ---- */

/* The cancel's refund is reserved; paid before the kill or not, the order stays as it
 * was, with nothing left to refund, and does not ship (ECOM_EBUSY once fulfilling); the
 * sweep leaves it alone (it is not pending payment); the cancel again pays the refund
 * once, confirms it and returns the stock. */
static void cancel_paid(fixture *f, bool refund_paid, bool fulfilling)
{
    ecom_order_state was = fulfilling ? ECOM_ORDER_FULFILLING : ECOM_ORDER_PAID;
    prepare(f, "tok_approve", fulfilling);
    crash(f, cancel, REFUND, refund_paid);

    ecom_store *s = reopen(f);
    check_clean(s, "after the kill");
    expect_order(s, f, was, 0, "");
    expect_pending(s, f, cancel_key_of(f), TOTAL);
    expect_stock(s, SOLD);
    expect_ledger(s, f, 1, 0, refund_paid, refund_paid ? TOTAL : 0);
    /* Meanwhile: nothing is left to refund, and the goods do not leave. */
    assert_int_equal(ecom_order_refund(s, f->order, ECOM_VERSION_ANY, 1, "r-meanwhile", "cs",
                                       NULL), ECOM_EPRICE);
    int ship = ecom_order_ship(s, f->order, ECOM_VERSION_ANY, NULL, NULL, 0, "warehouse");
    /* A paid order does not ship (it moves to fulfilling first); a fulfilling one
     * waits while the cancel's refund is pending. */
    if (ship != (fulfilling ? ECOM_EBUSY : ECOM_ESTATE))
        fail_msg("a shipment while the cancel's refund is pending answered %s (%s)",
                 ecom_strerror(ship), ecom_errmsg(s));
    if (!fulfilling && refund_paid) {
        /* A fulfilment worker that read order.paid moves it on (a move the docs do not
         * forbid), and its shipment then waits for the cancel. */
        test_must(s, ecom_order_transition(s, f->order, ECOM_VERSION_ANY, ECOM_ORDER_FULFILLING,
                                           "worker", NULL), "transition meanwhile");
        was = ECOM_ORDER_FULFILLING;
        assert_int_equal(ecom_order_ship(s, f->order, ECOM_VERSION_ANY, NULL, NULL, 0,
                                         "worker"), ECOM_EBUSY);
        check_clean(s, "after the worker's moves");
    }

    assert_int_equal(recover(s), 0);
    check_clean(s, "after the sweep");
    expect_order(s, f, was, 0, "");
    expect_pending(s, f, cancel_key_of(f), TOTAL);
    assert_int_equal(H.calls[REFUND], 0);

    test_must(s, cancel(s, f), "the cancel again");
    assert_int_equal(H.calls[REFUND], 1);
    check_clean(s, "after the retry");
    expect_order(s, f, ECOM_ORDER_CANCELLED, TOTAL, "buyer asked");
    expect_pending(s, f, cancel_key_of(f), 0);
    expect_stock(s, BACK);
    expect_ledger(s, f, 1, 0, 1, TOTAL);
    /* Once the cancel has ended, the shipment is refused for good. */
    assert_int_equal(ecom_order_ship(s, f->order, ECOM_VERSION_ANY, NULL, NULL, 0,
                                     "warehouse"), ECOM_ESTATE);
    close_store(f);
}

static void test_crash_points__cancel_paid_killed_before_refund(void **state)
{
    cancel_paid(*state, false, false);
}

static void test_crash_points__cancel_paid_killed_after_refund(void **state)
{
    cancel_paid(*state, true, false);
}

static void test_crash_points__cancel_fulfilling_killed_after_refund(void **state)
{
    cancel_paid(*state, true, true);
}

/* ---- 3, 4: a refund, killed around the provider's call ---- */

/* The refund stays reserved (pending, not in refunded); a cancel waits for it
 * (ECOM_ECONFLICT); the retry with the same key pays it once and confirms it; the paid
 * order keeps its state and its stock; then the cancel refunds the rest. */
static void refund_paid(fixture *f, bool refund_made)
{
    prepare(f, "tok_approve", false);
    crash(f, refund, REFUND, refund_made);

    ecom_store *s = reopen(f);
    check_clean(s, "after the kill");
    expect_order(s, f, ECOM_ORDER_PAID, 0, "");
    expect_pending(s, f, "r1", PART);
    expect_stock(s, SOLD);
    expect_ledger(s, f, 1, 0, refund_made, refund_made ? PART : 0);
    assert_int_equal(ecom_order_cancel(s, f->order, ECOM_VERSION_ANY, "cs", "meanwhile"),
                     ECOM_ECONFLICT);
    expect_order(s, f, ECOM_ORDER_PAID, 0, "");
    expect_pending(s, f, "r1", PART); /* the cancel reserved nothing */
    /* Nor does another refund take what is reserved. */
    assert_int_equal(ecom_order_refund(s, f->order, ECOM_VERSION_ANY, TOTAL - PART + 1,
                                       "r2", "cs", NULL), ECOM_EPRICE);

    assert_int_equal(recover(s), 0);
    check_clean(s, "after the sweep");
    expect_pending(s, f, "r1", PART);
    assert_int_equal(H.calls[REFUND], 0);

    test_must(s, refund(s, f), "the refund again");
    assert_int_equal(H.calls[REFUND], 1);
    check_clean(s, "after the retry");
    expect_order(s, f, ECOM_ORDER_PAID, PART, "");
    expect_pending(s, f, "r1", 0);
    expect_stock(s, SOLD);
    expect_ledger(s, f, 1, 0, 1, PART);
    /* Once more: answered from the order, the provider not asked again. */
    test_must(s, refund(s, f), "the refund a third time");
    assert_int_equal(H.calls[REFUND], 1);
    expect_order(s, f, ECOM_ORDER_PAID, PART, "");
    expect_ledger(s, f, 1, 0, 1, PART);
    check_clean(s, "after the third refund");
    /* The cancel that had to wait goes through now, refunding what is left. */
    test_must(s, ecom_order_cancel(s, f->order, ECOM_VERSION_ANY, "cs", "after all"),
              "the cancel after the refund");
    check_clean(s, "at the end");
    expect_order(s, f, ECOM_ORDER_CANCELLED, TOTAL, "after all");
    expect_pending(s, f, "r1", 0);
    expect_stock(s, BACK);
    expect_ledger(s, f, 1, 0, 2, TOTAL);
    close_store(f);
}

static void test_crash_points__refund_killed_before_provider(void **state)
{
    refund_paid(*state, false);
}

static void test_crash_points__refund_killed_after_provider(void **state)
{
    refund_paid(*state, true);
}

/* ---- 5, 6, 7: an order pending payment (its answer lost), killed mid-way ---- */

/* What a half-made cancel of an order pending payment looks like: marked (its reason
 * set), still pending with its stock held, its charge voided. */
static void expect_marked_and_voided(ecom_store *s, const fixture *f, const char *reason)
{
    expect_order(s, f, ECOM_ORDER_PENDING_PAYMENT, 0, reason);
    expect_stock(s, HELD);
    expect_ledger(s, f, 1, 1, 0, 0);
}

static void expect_cancelled_and_voided(ecom_store *s, const fixture *f, const char *reason)
{
    expect_order(s, f, ECOM_ORDER_CANCELLED, 0, reason);
    expect_pending(s, f, cancel_key_of(f), 0);
    expect_stock(s, BACK);
    expect_ledger(s, f, 1, 1, 0, 0);
}

/* 5: a declined notification marks the order, voids its charge, and is killed before it
 * cancels: the sweep finishes the cancel (the same void key: no second void); the
 * notification again finds the order cancelled: stale (ECOM_ESTATE). */
static void test_crash_points__declined_notify_killed_after_void(void **state)
{
    fixture *f = *state;
    prepare(f, "tok_timeout", false);
    crash(f, notify_declined, VOID, true);

    ecom_store *s = reopen(f);
    check_clean(s, "after the kill");
    expect_marked_and_voided(s, f, "card_declined");

    assert_int_equal(recover(s), 1);
    check_clean(s, "after the sweep");
    expect_cancelled_and_voided(s, f, "card_declined");

    assert_int_equal(notify_declined(s, f), ECOM_ESTATE);
    check_clean(s, "after the retry");
    expect_cancelled_and_voided(s, f, "card_declined");
    close_store(f);
}

/* 5b: the same crash, the notification repeated before any sweep: it finishes the
 * cancel and answers ECOM_OK, "as it does when it cancels" (docs/checkout.md). */
static void test_crash_points__declined_notify_killed_after_void_retried_first(void **state)
{
    fixture *f = *state;
    prepare(f, "tok_timeout", false);
    crash(f, notify_declined, VOID, true);

    ecom_store *s = reopen(f);
    check_clean(s, "after the kill");
    expect_marked_and_voided(s, f, "card_declined");
    test_must(s, notify_declined(s, f), "the notification again");
    check_clean(s, "after the retry");
    expect_cancelled_and_voided(s, f, "card_declined");
    assert_int_equal(recover(s), 0);
    check_clean(s, "after the sweep");
    expect_cancelled_and_voided(s, f, "card_declined");
    close_store(f);
}

/* 6: an approved notification killed after its lookup, before it wrote anything: the
 * order is as the lost answer left it; the sweep completes it from the provider's
 * record (charged and captured: no capture call); the notification again finds it paid
 * (ECOM_OK). */
static void test_crash_points__approved_notify_killed_after_lookup(void **state)
{
    fixture *f = *state;
    prepare(f, "tok_timeout", false);
    crash(f, notify_approved, LOOKUP, true);

    ecom_store *s = reopen(f);
    check_clean(s, "after the kill");
    expect_order(s, f, ECOM_ORDER_PENDING_PAYMENT, 0, "");
    expect_stock(s, HELD);
    expect_ledger(s, f, 1, 0, 0, 0);
    assert_int_equal(test_payments_of(s, f->order, "capture"), 1);

    assert_int_equal(recover(s), 1);
    check_clean(s, "after the sweep");
    expect_order(s, f, ECOM_ORDER_PAID, 0, "");
    expect_stock(s, SOLD);
    assert_int_equal(test_cart_lines(s, "user:u1"), 0); /* what it bought left the cart */

    test_must(s, notify_approved(s, f), "the notification again");
    check_clean(s, "after the retry");
    expect_order(s, f, ECOM_ORDER_PAID, 0, "");
    ecom_order *o = test_order_of(s, f->order);
    assert_string_equal(ecom_order_charge_id(o), f->charge);
    ecom_order_free(o);
    expect_stock(s, SOLD);
    expect_ledger(s, f, 1, 0, 0, 0);
    assert_int_equal(test_payments_of(s, f->order, "capture"), 1);
    assert_int_equal(H.calls[CAPTURE] + H.calls[VOID] + H.calls[REFUND], 0);
    close_store(f);
}

/* 6b: the notification repeated before any sweep completes it the same way. */
static void test_crash_points__approved_notify_killed_after_lookup_retried_first(void **state)
{
    fixture *f = *state;
    prepare(f, "tok_timeout", false);
    crash(f, notify_approved, LOOKUP, true);

    ecom_store *s = reopen(f);
    test_must(s, notify_approved(s, f), "the notification again");
    check_clean(s, "after the retry");
    expect_order(s, f, ECOM_ORDER_PAID, 0, "");
    expect_stock(s, SOLD);
    assert_int_equal(recover(s), 0);
    check_clean(s, "after the sweep");
    expect_order(s, f, ECOM_ORDER_PAID, 0, "");
    expect_ledger(s, f, 1, 0, 0, 0);
    assert_int_equal(test_payments_of(s, f->order, "capture"), 1);
    close_store(f);
}

/* 7: a cancel of an order pending payment (its answer lost) killed after the void: the
 * order is marked, and no path pays it (an approved notification finishes the cancel,
 * ECOM_ESTATE); the sweep finishes it; the cancel again, with the version it was
 * decided on, is a stale write (ECOM_ECONFLICT), and with any version the order is
 * cancelled already (ECOM_ESTATE); one void throughout. */
static void test_crash_points__cancel_pending_killed_after_void(void **state)
{
    fixture *f = *state;
    prepare(f, "tok_timeout", false);
    crash(f, cancel, VOID, true);

    ecom_store *s = reopen(f);
    check_clean(s, "after the kill");
    expect_marked_and_voided(s, f, "buyer asked");

    assert_int_equal(recover(s), 1);
    check_clean(s, "after the sweep");
    expect_cancelled_and_voided(s, f, "buyer asked");

    assert_int_equal(cancel(s, f), ECOM_ECONFLICT);
    assert_int_equal(ecom_order_cancel(s, f->order, ECOM_VERSION_ANY, "cs", "buyer asked"),
                     ECOM_ESTATE);
    check_clean(s, "after the retry");
    expect_cancelled_and_voided(s, f, "buyer asked");
    close_store(f);
}

/* 7b: the same crash; an approval arriving before any sweep finishes the cancel
 * (ECOM_ESTATE, never paid); then the cancel again (same version) finds it cancelled. */
static void test_crash_points__cancel_pending_killed_after_void_then_approval(void **state)
{
    fixture *f = *state;
    prepare(f, "tok_timeout", false);
    crash(f, cancel, VOID, true);

    ecom_store *s = reopen(f);
    assert_int_equal(notify_approved(s, f), ECOM_ESTATE);
    check_clean(s, "after the approval");
    expect_cancelled_and_voided(s, f, "buyer asked");
    assert_int_equal(H.calls[CAPTURE], 0);
    assert_int_equal(recover(s), 0);
    close_store(f);
}

/* 7c: the same crash; the cancel repeated before any sweep, with the version it was
 * decided on, carries the marked cancel on (docs/orders.md): ECOM_OK, one void. */
static void test_crash_points__cancel_pending_killed_after_void_retried_first(void **state)
{
    fixture *f = *state;
    prepare(f, "tok_timeout", false);
    crash(f, cancel, VOID, true);

    ecom_store *s = reopen(f);
    test_must(s, cancel(s, f), "the cancel again");
    check_clean(s, "after the retry");
    expect_cancelled_and_voided(s, f, "buyer asked");
    assert_int_equal(recover(s), 0);
    check_clean(s, "after the sweep");
    expect_cancelled_and_voided(s, f, "buyer asked");
    close_store(f);
}

#define T(name) cmocka_unit_test_setup_teardown(test_crash_points__##name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(cancel_paid_killed_before_refund),
        T(cancel_paid_killed_after_refund),
        T(cancel_fulfilling_killed_after_refund),
        T(refund_killed_before_provider),
        T(refund_killed_after_provider),
        T(declined_notify_killed_after_void),
        T(declined_notify_killed_after_void_retried_first),
        T(approved_notify_killed_after_lookup),
        T(approved_notify_killed_after_lookup_retried_first),
        T(cancel_pending_killed_after_void),
        T(cancel_pending_killed_after_void_then_approval),
        T(cancel_pending_killed_after_void_retried_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
