/*
 * Voids and cancels of an order pending payment, through the public API only: an
 * order is marked as being cancelled before its charge is voided, so no completion can
 * mark it paid with its money given back (a provider whose void blocks holds a decline
 * or a cancel between the two while an approval arrives); a void that fails leaves the
 * mark, and the sweep or a repeated cancel carries the cancel on; a late approval of an
 * order paid and
 * then cancelled (and so refunded) voids nothing; a payment undone because its stock
 * hold ended leaves no paid entry in the order's history.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ecom.h"
#include "support/support.h"

/* ---- a provider whose first authorize loses its answer and whose void can wait ---- */

typedef struct provider_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int authorized; /* the charge was made (its answer may have been lost) */
    int lost;       /* the first authorize's answer is lost */
    int hold_void;  /* the next void waits for release_void */
    int in_void;    /* a void is waiting */
    int voids;      /* void calls */
    int fail_voids; /* the next ones fail (the provider is down) */
    int voided;     /* voids made */
    int authorize_only; /* authorizations are not captured with them */
    int captures;
    int hold_lookup; /* the next lookup waits for release_lookup */
    int in_lookup;
    int decline_voids; /* voids are declined (a captured charge cannot be voided) */
    int decline_captures; /* captures are declined (the authorization expired) */
    int short_by;         /* authorizations approve this much less than asked (partial) */
    int fail_captures;    /* the next ones time out (the answer is lost) */
    int refunds;
    ecom_store *sweep_store; /* the next authorize first runs the sweep on it */
} provider_state;

static provider_state ps = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void approved(ecom_payment_result *out, int64_t amount)
{
    *out = (ecom_payment_result){.approved = 1, .captured = !ps.authorize_only,
                                 .amount = amount};
    snprintf(out->charge_id, sizeof out->charge_id, "ch1");
}

static int p_authorize(void *ctx, const ecom_payment_request *req, ecom_payment_result *out)
{
    (void)ctx;
    pthread_mutex_lock(&ps.mu);
    ecom_store *sweep = ps.sweep_store;
    ps.sweep_store = NULL;
    pthread_mutex_unlock(&ps.mu);
    if (sweep) { /* a sweep with too short a bound, while this call is on its way */
        uint64_t recovered = 0;
        assert_int_equal(ecom_checkout_recover(&recovered, sweep, 0), ECOM_OK);
        assert_int_equal(recovered, 1);
    }
    pthread_mutex_lock(&ps.mu);
    ps.authorized = 1;
    int lost = ps.lost;
    ps.lost = 0;
    int64_t short_by = ps.short_by;
    pthread_mutex_unlock(&ps.mu);
    approved(out, req->amount - short_by);
    return lost ? ECOM_ETIMEOUT : ECOM_OK;
}

static int p_settle(void *ctx, const char *charge, int64_t amount, const char *key,
                    ecom_payment_result *out)
{
    (void)ctx;
    (void)charge;
    (void)key;
    approved(out, amount);
    return ECOM_OK;
}

static int p_capture(void *ctx, const char *charge, int64_t amount, const char *key,
                     ecom_payment_result *out)
{
    pthread_mutex_lock(&ps.mu);
    ps.captures++;
    int declined = ps.decline_captures, fail = ps.fail_captures > 0;
    ps.fail_captures -= fail;
    pthread_mutex_unlock(&ps.mu);
    if (fail)
        return ECOM_ETIMEOUT;
    int rc = p_settle(ctx, charge, amount, key, out);
    if (declined) {
        out->approved = 0;
        snprintf(out->reason, sizeof out->reason, "authorization_expired");
    }
    return rc;
}

static int p_void(void *ctx, const char *charge, const char *key, ecom_payment_result *out)
{
    (void)ctx;
    (void)charge;
    (void)key;
    pthread_mutex_lock(&ps.mu);
    ps.voids++;
    if (ps.hold_void) {
        ps.hold_void = 0;
        ps.in_void = 1;
        pthread_cond_broadcast(&ps.cv);
        while (ps.in_void)
            pthread_cond_wait(&ps.cv, &ps.mu);
    }
    int fail = ps.fail_voids > 0, declined = ps.decline_voids;
    ps.fail_voids -= fail;
    ps.voided += !fail && !declined;
    pthread_mutex_unlock(&ps.mu);
    approved(out, 0);
    out->approved = !declined;
    return fail ? ECOM_EPAYMENT : ECOM_OK;
}

static int p_refund(void *ctx, const char *charge, int64_t amount, const char *key,
                    ecom_payment_result *out)
{
    pthread_mutex_lock(&ps.mu);
    ps.refunds++;
    pthread_mutex_unlock(&ps.mu);
    return p_settle(ctx, charge, amount, key, out);
}

/* Like many processors' records (and the test provider's): a void does not show. */
static int p_lookup(void *ctx, const char *key, ecom_payment_result *out)
{
    (void)ctx;
    (void)key;
    pthread_mutex_lock(&ps.mu);
    int seen = ps.authorized;
    if (ps.hold_lookup) {
        ps.hold_lookup = 0;
        ps.in_lookup = 1;
        pthread_cond_broadcast(&ps.cv);
        while (ps.in_lookup)
            pthread_cond_wait(&ps.cv, &ps.mu);
    }
    pthread_mutex_unlock(&ps.mu);
    approved(out, 0);
    return seen ? ECOM_OK : ECOM_ENOTFOUND;
}

static ecom_payment_provider provider = {ECOM_PAYMENT_PROVIDER_VERSION, "void-race", NULL,
                                         p_authorize, p_capture, p_void, p_refund, p_lookup};

static void await_void(void)
{
    pthread_mutex_lock(&ps.mu);
    while (!ps.in_void)
        pthread_cond_wait(&ps.cv, &ps.mu);
    pthread_mutex_unlock(&ps.mu);
}

static void release_void(void)
{
    pthread_mutex_lock(&ps.mu);
    ps.in_void = 0;
    pthread_cond_broadcast(&ps.cv);
    pthread_mutex_unlock(&ps.mu);
}

/* ---- fixture ---- */

typedef struct fixture {
    char dir[512];
    ecom_store *s;
} fixture;

static int open_store(fixture *f, ecom_payment_provider *payments)
{
    char uri[600];
    test_fresh_store_dir(f->dir, sizeof f->dir, uri, sizeof uri, "checkout_void");
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    opts.payments = payments;
    f->s = NULL;
    assert_int_equal(ecom_store_open(&f->s, uri, &opts), ECOM_OK);
    const char *json = "{\"id\":\"p1\",\"title\":\"Mug\",\"status\":\"active\",\"variants\":["
                       "{\"sku\":\"mug\",\"prices\":{\"USD\":100}}]}";
    test_create_product(f->s, json);
    test_receive(f->s, "mug", 10);
    assert_int_equal(ecom_cart_add(f->s, "user:u1", "mug", 2, "USD"), ECOM_OK);
    return 0;
}

static int setup_race(void **state)
{
    static fixture f;
    pthread_mutex_lock(&ps.mu);
    ps.authorized = ps.hold_void = ps.in_void = ps.voids = ps.fail_voids = ps.voided = 0;
    ps.authorize_only = ps.captures = ps.hold_lookup = ps.in_lookup = 0;
    ps.decline_voids = ps.refunds = ps.decline_captures = ps.short_by = ps.fail_captures = 0;
    ps.lost = 1;
    ps.sweep_store = NULL;
    pthread_mutex_unlock(&ps.mu);
    *state = &f;
    return open_store(&f, &provider);
}

static int setup_test_provider(void **state)
{
    static fixture f;
    *state = &f;
    return open_store(&f, NULL);
}

static int teardown(void **state)
{
    fixture *f = *state;
    ecom_store_close(f->s);
    test_remove_store_dir(f->dir);
    return 0;
}

/* A checkout of user:u1's cart with token; its answer and the order's id. */
static int checkout(ecom_store *s, const char *token, const char *key, char *id, size_t size)
{
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = "user:u1";
    r.user = "u1";
    r.payment_token = token;
    ecom_order *o = NULL;
    int rc = ecom_checkout(&o, s, &r, key);
    assert_non_null(o);
    snprintf(id, size, "%s", ecom_order_id(o));
    ecom_order_free(o);
    return rc;
}

static ecom_order_state state_of(ecom_store *s, const char *id)
{
    ecom_order *o = NULL;
    assert_int_equal(ecom_order_get(&o, s, id), ECOM_OK);
    ecom_order_state st = ecom_order_get_state(o);
    ecom_order_free(o);
    return st;
}

static int64_t reserved(ecom_store *s)
{
    ecom_stock *st = NULL;
    assert_int_equal(ecom_stock_get(&st, s, "mug", NULL), ECOM_OK);
    int64_t n = ecom_stock_reserved(st);
    ecom_stock_free(st);
    return n;
}

/* ---- the race: a void held while an approval arrives ---- */

typedef struct canceller {
    ecom_store *s;
    const char *id;
    int decline; /* 1: a declined notification; 0: ecom_order_cancel */
    int rc;
} canceller;

static void *cancel_main(void *arg)
{
    canceller *c = arg;
    c->rc = c->decline ? ecom_payment_notify(c->s, c->id, 0, NULL, "declined, it says")
                       : ecom_order_cancel(c->s, c->id, ECOM_VERSION_ANY, "cs", "asked");
    return NULL;
}

static void race(fixture *f, int decline)
{
    char id[80];
    assert_int_equal(checkout(f->s, "tok", "k1", id, sizeof id), ECOM_ETIMEOUT);
    assert_int_equal(state_of(f->s, id), ECOM_ORDER_PENDING_PAYMENT);
    pthread_mutex_lock(&ps.mu);
    ps.hold_void = 1;
    pthread_mutex_unlock(&ps.mu);
    canceller c = {f->s, id, decline, 1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cancel_main, &c), 0);
    await_void(); /* the cancel (or decline) is asking the provider to void */
    /* The approval arriving now finds the order cancelled: it cannot be paid. */
    assert_int_equal(ecom_payment_notify(f->s, id, 1, "ch1", NULL), ECOM_ESTATE);
    release_void();
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(c.rc, ECOM_OK);
    assert_int_equal(state_of(f->s, id), ECOM_ORDER_CANCELLED);
    assert_int_equal(reserved(f->s), 0);
    assert_true(ps.voids >= 1);
    uint64_t violations = 99;
    assert_int_equal(ecom_check(&violations, f->s, NULL, NULL), ECOM_OK);
    assert_int_equal(violations, 0);
}

static void test_checkout_void__a_decline_cancels_before_it_voids(void **state)
{
    race(*state, 1);
}

static void test_checkout_void__a_cancel_cancels_before_it_voids(void **state)
{
    race(*state, 0);
}

static void test_checkout_void__the_sweep_carries_a_cancel_on(void **state)
{
    fixture *f = *state;
    char id[80];
    assert_int_equal(checkout(f->s, "tok", "k1", id, sizeof id), ECOM_ETIMEOUT);
    ps.fail_voids = 1;
    assert_int_equal(ecom_order_cancel(f->s, id, ECOM_VERSION_ANY, "cs", "asked"),
                     ECOM_EPAYMENT);
    assert_int_equal(state_of(f->s, id), ECOM_ORDER_PENDING_PAYMENT); /* marked */
    assert_int_equal(reserved(f->s), 2);
    assert_int_equal(ps.voided, 0);
    uint64_t recovered = 0;
    assert_int_equal(ecom_checkout_recover(&recovered, f->s, 0), ECOM_OK);
    assert_int_equal(recovered, 1);
    assert_int_equal(state_of(f->s, id), ECOM_ORDER_CANCELLED);
    assert_int_equal(ps.voided, 1);
    assert_int_equal(reserved(f->s), 0);
    ecom_order *o = NULL;
    assert_int_equal(ecom_order_get(&o, f->s, id), ECOM_OK);
    assert_string_equal(ecom_order_reason(o), "asked"); /* the cancel's, carried on */
    ecom_order_free(o);
    test_assert_clean(f->s);
}

static void test_checkout_void__a_repeated_cancel_carries_it_on(void **state)
{
    fixture *f = *state;
    char id[80];
    assert_int_equal(checkout(f->s, "tok", "k1", id, sizeof id), ECOM_ETIMEOUT);
    ecom_order *o = NULL;
    assert_int_equal(ecom_order_get(&o, f->s, id), ECOM_OK);
    uint64_t v = ecom_order_version(o);
    ecom_order_free(o);
    ps.fail_voids = 1;
    assert_int_equal(ecom_order_cancel(f->s, id, v, "cs", NULL), ECOM_EPAYMENT);
    /* The retry a caller makes, with the version it had: the cancel was decided. */
    assert_int_equal(ecom_order_cancel(f->s, id, v, "cs", NULL), ECOM_OK);
    assert_int_equal(state_of(f->s, id), ECOM_ORDER_CANCELLED);
    assert_int_equal(ps.voided, 1);
    assert_int_equal(ecom_payment_notify(f->s, id, 1, "ch1", NULL), ECOM_ESTATE);
    test_assert_clean(f->s);
}

/* An approval that read the order before a cancel marked it captures nothing: what it
 * would capture is looked at again as stored, and the cancel finished instead. */
typedef struct notifier {
    ecom_store *s;
    const char *id;
    int rc;
} notifier;

static void *notify_main(void *arg)
{
    notifier *n = arg;
    n->rc = ecom_payment_notify(n->s, n->id, 1, "ch1", NULL);
    return NULL;
}

static void test_checkout_void__an_approval_read_before_the_mark_captures_nothing(void **state)
{
    fixture *f = *state;
    ps.authorize_only = 1;
    char id[80];
    assert_int_equal(checkout(f->s, "tok", "k1", id, sizeof id), ECOM_ETIMEOUT);
    assert_int_equal(ps.captures, 0);
    pthread_mutex_lock(&ps.mu);
    ps.hold_lookup = 1;
    pthread_mutex_unlock(&ps.mu);
    notifier n = {f->s, id, 1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, notify_main, &n), 0);
    pthread_mutex_lock(&ps.mu); /* the notification has read the order, and asks */
    while (!ps.in_lookup)
        pthread_cond_wait(&ps.cv, &ps.mu);
    ps.fail_voids = 1; /* the cancel marks the order, and its void fails */
    pthread_mutex_unlock(&ps.mu);
    assert_int_equal(ecom_order_cancel(f->s, id, ECOM_VERSION_ANY, "cs", "asked"),
                     ECOM_EPAYMENT);
    pthread_mutex_lock(&ps.mu);
    ps.in_lookup = 0;
    pthread_cond_broadcast(&ps.cv);
    pthread_mutex_unlock(&ps.mu);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(n.rc, ECOM_ESTATE); /* it finished the cancel */
    assert_int_equal(ps.captures, 0);
    assert_int_equal(ps.voided, 1);
    assert_int_equal(state_of(f->s, id), ECOM_ORDER_CANCELLED);
    /* A later approval of the marked order... here cancelled: still nothing captured. */
    assert_int_equal(ecom_payment_notify(f->s, id, 1, "ch1", NULL), ECOM_ESTATE);
    assert_int_equal(ps.captures, 0);
    test_assert_clean(f->s);
}

typedef struct sweeper {
    ecom_store *s;
    uint64_t recovered;
    int rc;
} sweeper;

static void *sweep_main(void *arg)
{
    sweeper *w = arg;
    w->rc = ecom_checkout_recover(&w->recovered, w->s, 0);
    return NULL;
}

/* A cancel marks the order (its void failing) while the sweep asks the provider about
 * it: the sweep, reading the order again before it captures, finishes the cancel
 * instead, captures nothing, and counts the order as recovered. */
static void test_checkout_void__the_sweep_finishes_a_cancel_marked_meanwhile(void **state)
{
    fixture *f = *state;
    ps.authorize_only = 1;
    char id[80];
    assert_int_equal(checkout(f->s, "tok", "k1", id, sizeof id), ECOM_ETIMEOUT);
    pthread_mutex_lock(&ps.mu);
    ps.hold_lookup = 1;
    pthread_mutex_unlock(&ps.mu);
    sweeper w = {f->s, 0, -1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, sweep_main, &w), 0);
    pthread_mutex_lock(&ps.mu); /* the sweep has read the order, and asks */
    while (!ps.in_lookup)
        pthread_cond_wait(&ps.cv, &ps.mu);
    ps.fail_voids = 1; /* the cancel marks the order, and its void fails */
    pthread_mutex_unlock(&ps.mu);
    assert_int_equal(ecom_order_cancel(f->s, id, ECOM_VERSION_ANY, "cs", "asked"),
                     ECOM_EPAYMENT);
    pthread_mutex_lock(&ps.mu);
    ps.in_lookup = 0;
    pthread_cond_broadcast(&ps.cv);
    pthread_mutex_unlock(&ps.mu);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(w.rc, ECOM_OK);
    assert_int_equal(w.recovered, 1);
    assert_int_equal(ps.captures, 0);
    assert_int_equal(ps.voided, 1);
    assert_int_equal(state_of(f->s, id), ECOM_ORDER_CANCELLED);
    test_assert_clean(f->s);
}

/* A provider that declines the void (a captured charge) refunds it instead. */
static void test_checkout_void__a_declined_void_is_refunded(void **state)
{
    fixture *f = *state;
    char id[80];
    assert_int_equal(checkout(f->s, "tok", "k1", id, sizeof id), ECOM_ETIMEOUT);
    ps.decline_voids = 1;
    assert_int_equal(ecom_order_cancel(f->s, id, ECOM_VERSION_ANY, "cs", NULL), ECOM_OK);
    assert_int_equal(state_of(f->s, id), ECOM_ORDER_CANCELLED);
    assert_int_equal(ps.voided, 0);
    assert_int_equal(ps.refunds, 1);
    test_assert_clean(f->s);
}

/* ---- the test provider ---- */

static int ledger_count(ecom_store *s, const char *id, const char *kind)
{
    ecom_payments *p = NULL;
    assert_int_equal(ecom_payments_list(&p, s, id), ECOM_OK);
    int n = 0;
    for (size_t i = 0; i < ecom_payments_count(p); i++)
        n += strcmp(ecom_payments_kind(p, i), kind) == 0 && ecom_payments_approved(p, i);
    ecom_payments_free(p);
    return n;
}

/* A capture the provider declines (its authorization expired) can never take the money:
 * the order is cancelled with its authorization voided, never marked paid; the same key
 * gives the same answer and no second capture. */
static void test_checkout_void__a_declined_capture_cancels_the_order(void **state)
{
    fixture *f = *state;
    ps.lost = 0;
    ps.authorize_only = 1;
    ps.decline_captures = 1;
    char id[80];
    assert_int_equal(checkout(f->s, "tok", "k1", id, sizeof id), ECOM_EDECLINED);
    assert_non_null(strstr(ecom_errmsg(f->s), "declined its capture (authorization_expired)"));
    assert_int_equal(ps.captures, 1);
    assert_int_equal(ps.voided, 1);
    assert_int_equal(state_of(f->s, id), ECOM_ORDER_CANCELLED);
    assert_int_equal(reserved(f->s), 0);
    assert_int_equal(checkout(f->s, "tok", "k1", id, sizeof id), ECOM_EDECLINED);
    assert_int_equal(ps.captures, 1);
    test_assert_clean(f->s);
}

/* A capture whose answer is lost leaves the order pending and its key open: the retry
 * captures again under the same key and pays the order. */
static void test_checkout_void__a_lost_capture_is_retried(void **state)
{
    fixture *f = *state;
    ps.lost = 0;
    ps.authorize_only = 1;
    ps.fail_captures = 1;
    char id[80];
    assert_int_equal(checkout(f->s, "tok", "k1", id, sizeof id), ECOM_ETIMEOUT);
    assert_non_null(strstr(ecom_errmsg(f->s), "capture failed; retry with the same key"));
    assert_int_equal(state_of(f->s, id), ECOM_ORDER_PENDING_PAYMENT);
    assert_int_equal(reserved(f->s), 2);
    assert_int_equal(checkout(f->s, "tok", "k1", id, sizeof id), ECOM_OK);
    assert_int_equal(state_of(f->s, id), ECOM_ORDER_PAID);
    assert_int_equal(ps.captures, 2);
    assert_int_equal(ps.voided, 0);
    assert_int_equal(reserved(f->s), 0);
    test_assert_clean(f->s);
}

/* A partial authorization (less approved than the total) pays no order: what it took is
 * voided and the order cancelled. */
static void test_checkout_void__a_partial_approval_cancels_the_order(void **state)
{
    fixture *f = *state;
    ps.lost = 0;
    ps.short_by = 1;
    char id[80];
    assert_int_equal(checkout(f->s, "tok", "k1", id, sizeof id), ECOM_EDECLINED);
    assert_non_null(strstr(ecom_errmsg(f->s), "approved 199, not the total 200"));
    assert_int_equal(ps.voided, 1);
    assert_int_equal(state_of(f->s, id), ECOM_ORDER_CANCELLED);
    assert_int_equal(reserved(f->s), 0);
    test_assert_clean(f->s);
}

/* A declined capture found by the recovery sweep: the order counts as recovered. */
static void test_checkout_void__the_sweep_cancels_on_a_declined_capture(void **state)
{
    fixture *f = *state;
    ps.authorize_only = 1;
    char id[80];
    assert_int_equal(checkout(f->s, "tok", "k1", id, sizeof id), ECOM_ETIMEOUT);
    assert_int_equal(ps.captures, 0);
    ps.decline_captures = 1;
    uint64_t recovered = 0;
    assert_int_equal(ecom_checkout_recover(&recovered, f->s, 0), ECOM_OK);
    assert_int_equal(recovered, 1);
    assert_int_equal(ps.captures, 1);
    assert_int_equal(ps.voided, 1);
    assert_int_equal(state_of(f->s, id), ECOM_ORDER_CANCELLED);
    assert_int_equal(reserved(f->s), 0);
    test_assert_clean(f->s);
}

static void test_checkout_void__a_late_approval_of_a_refunded_order_voids_nothing(void **state)
{
    fixture *f = *state;
    char id[80];
    assert_int_equal(checkout(f->s, "tok_approve", "k2", id, sizeof id), ECOM_OK);
    assert_int_equal(ecom_order_cancel(f->s, id, ECOM_VERSION_ANY, "cs", NULL), ECOM_OK);
    assert_int_equal(ledger_count(f->s, id, "refund"), 1);
    ecom_payments *p = NULL;
    assert_int_equal(ecom_payments_list(&p, f->s, id), ECOM_OK);
    char charge[80];
    snprintf(charge, sizeof charge, "%s", ecom_payments_charge_id(p, 0));
    ecom_payments_free(p);
    assert_int_equal(ecom_payment_notify(f->s, id, 1, charge, NULL), ECOM_ESTATE);
    assert_int_equal(ledger_count(f->s, id, "void"), 0); /* refunded by the cancel */
    uint64_t violations = 99;
    assert_int_equal(ecom_check(&violations, f->s, NULL, NULL), ECOM_OK);
    assert_int_equal(violations, 0);
}

static void test_checkout_void__an_undone_payment_was_never_paid(void **state)
{
    fixture *f = *state;
    char id[80];
    assert_int_equal(checkout(f->s, "tok_timeout", "k3", id, sizeof id), ECOM_ETIMEOUT);
    uint64_t expired = 0; /* the hold ends while the buyer is paying */
    assert_int_equal(ecom_inventory_expire(&expired, f->s, INT64_C(99999999999999)), ECOM_OK);
    assert_int_equal(expired, 1);
    char again[80];
    int rc = checkout(f->s, "tok_timeout", "k3", again, sizeof again);
    assert_true(rc == ECOM_EEXPIRED || rc == ECOM_EENDED);
    assert_string_equal(again, id);
    ecom_order *o = NULL;
    assert_int_equal(ecom_order_get(&o, f->s, id), ECOM_OK);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_CANCELLED);
    assert_int_equal(ecom_order_history_count(o), 2); /* pending_payment, cancelled */
    assert_int_equal(ecom_order_history_state(o, 1), ECOM_ORDER_CANCELLED);
    ecom_order_free(o);
    assert_int_equal(ledger_count(f->s, id, "void"), 1);
    uint64_t violations = 99;
    assert_int_equal(ecom_check(&violations, f->s, NULL, NULL), ECOM_OK);
    assert_int_equal(violations, 0);
}

/* ---- a cancel with one hold ended and one live: the live one is released ---- */

/* A sweep that cancels the order while its authorize is on its way (it found no
 * payment yet), and the authorize then charges and loses its answer: the checkout
 * reads the order again, finds it cancelled, and voids what the call took, instead of
 * leaving money with a cancelled order until a retry that may never come. */
static void test_checkout_void__a_lost_answer_of_an_order_swept_meanwhile_is_voided(void **state)
{
    fixture *f = *state;
    ps.sweep_store = f->s;
    char id[80];
    assert_int_equal(checkout(f->s, "tok", "k-swept", id, sizeof id), ECOM_ESTATE);
    assert_non_null(strstr(ecom_errmsg(f->s), "abandoned before payment"));
    assert_int_equal(state_of(f->s, id), ECOM_ORDER_CANCELLED);
    assert_int_equal(ps.voided, 1);
    assert_int_equal(reserved(f->s), 0);
    test_assert_clean(f->s);
    /* The retry answers the same, and voids nothing more. */
    assert_int_equal(checkout(f->s, "tok", "k-swept", id, sizeof id), ECOM_ESTATE);
    assert_int_equal(ps.voided, 1);
}

static int64_t clock_ms = INT64_C(1800000000000);

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return clock_ms;
}

static void test_checkout_void__a_cancel_releases_the_holds_still_live(void **state)
{
    (void)state;
    fixture f;
    char uri[600];
    test_fresh_store_dir(f.dir, sizeof f.dir, uri, sizeof uri, "checkout_holds");
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    opts.clock = test_clock;
    assert_int_equal(ecom_store_open(&f.s, uri, &opts), ECOM_OK);
    const char *json = "{\"id\":\"p1\",\"title\":\"TV\",\"status\":\"active\",\"variants\":["
                       "{\"sku\":\"tv\",\"prices\":{\"USD\":500}},"
                       "{\"sku\":\"mug\",\"prices\":{\"USD\":100}}]}";
    test_create_product(f.s, json);
    test_receive(f.s, "tv", 5);
    test_receive(f.s, "mug", 5);
    ecom_flash_options fo = ECOM_FLASH_OPTIONS_INIT;
    fo.sku = "tv";
    fo.units = 2;
    assert_int_equal(ecom_flash_open(f.s, "fs", &fo), ECOM_OK);
    ecom_claim_result c = ECOM_CLAIM_RESULT_INIT;
    assert_int_equal(ecom_flash_claim(&c, f.s, "fs", "ann", 1, "k-ann"), ECOM_OK);
    assert_int_equal(ecom_cart_add(f.s, "user:ann", "tv", 1, "USD"), ECOM_OK);
    assert_int_equal(ecom_cart_add(f.s, "user:ann", "mug", 1, "USD"), ECOM_OK);
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = "user:ann";
    r.user = "ann";
    r.payment_token = "tok_timeout";
    const char *claims[] = {c.claim_id};
    r.claims = claims;
    r.claim_count = 1;
    ecom_order *o = NULL;
    assert_int_equal(ecom_checkout(&o, f.s, &r, "k1"), ECOM_ETIMEOUT);
    char id[80];
    snprintf(id, sizeof id, "%s", ecom_order_id(o));
    ecom_order_free(o);
    /* The claim's hold (10 minutes) has ended; the mug's reservation (15) has not. */
    clock_ms += INT64_C(11) * 60 * 1000;
    assert_int_equal(ecom_order_cancel(f.s, id, ECOM_VERSION_ANY, "cs", "asked"), ECOM_OK);
    assert_int_equal(state_of(f.s, id), ECOM_ORDER_CANCELLED);
    ecom_stock *st = NULL;
    assert_int_equal(ecom_stock_get(&st, f.s, "mug", NULL), ECOM_OK);
    assert_int_equal(ecom_stock_reserved(st), 0);
    ecom_stock_free(st);
    uint64_t violations = 99;
    assert_int_equal(ecom_check(&violations, f.s, NULL, NULL), ECOM_OK);
    assert_int_equal(violations, 0);
    ecom_store_close(f.s);
    test_remove_store_dir(f.dir);
}

int main(void)
{
#define T(name, setup) cmocka_unit_test_setup_teardown(test_checkout_void__##name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(a_decline_cancels_before_it_voids, setup_race),
        T(a_cancel_cancels_before_it_voids, setup_race),
        T(the_sweep_carries_a_cancel_on, setup_race),
        T(a_repeated_cancel_carries_it_on, setup_race),
        T(an_approval_read_before_the_mark_captures_nothing, setup_race),
        T(a_declined_void_is_refunded, setup_race),
        T(the_sweep_finishes_a_cancel_marked_meanwhile, setup_race),
        T(a_declined_capture_cancels_the_order, setup_race),
        T(the_sweep_cancels_on_a_declined_capture, setup_race),
        T(a_partial_approval_cancels_the_order, setup_race),
        T(a_lost_capture_is_retried, setup_race),
        T(a_lost_answer_of_an_order_swept_meanwhile_is_voided, setup_race),
        T(a_late_approval_of_a_refunded_order_voids_nothing, setup_test_provider),
        T(an_undone_payment_was_never_paid, setup_test_provider),
        cmocka_unit_test(test_checkout_void__a_cancel_releases_the_holds_still_live),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
