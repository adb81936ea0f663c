/*
 * A checkout whose idempotency key is in flight, through the public API only: a host's
 * payment provider (ecom_payment_provider) whose authorize blocks until the test lets
 * it go holds one checkout mid-payment while another thread calls with the same key.
 * The same request is ECOM_EBUSY, and another request with that key is
 * ECOM_EIDEMPOTENCY (docs/checkout.md, "Idempotency": a key used with a different
 * request is refused whatever its state); neither reaches the provider nor holds stock.
 * An order cancelled while its checkout is paying has the charge voided when the
 * payment lands, and a cancel waits for a refund still pending. With a provider that
 * only authorizes and whose answer is lost, the provider's notification of the
 * approval captures the money (once), and is taken only as far as the provider's own
 * record bears it out. A backend before contract version 3 has no checkout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ecom.h"
#include "ecom_backend.h"
#include "support/support.h"

/* ---- a provider whose authorize waits for the test ---- */

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int authorizes;  /* authorize calls so far */
    int waiting;     /* an authorize is blocked */
    int open;        /* authorize may answer */
    char key[160];   /* the idempotency key of the last authorize */
    char charge[72]; /* the charge it approved */
    int64_t amount;
    int voids;       /* void calls so far */
    char voided[72]; /* the charge the last one voided */
    int refund_rc;   /* what refund answers (ECOM_ETIMEOUT: the answer is lost) */
    int auth_rc;     /* what authorize answers once it has charged (ECOM_ETIMEOUT: the
                        answer is lost) */
    int auth_only;   /* authorize never captures, whatever it is asked: capture does */
    int captured;    /* the charge is captured */
    int captures;    /* capture calls so far */
    int lookup_rc;   /* what lookup answers instead of its record, when not ECOM_OK */
    int declined;    /* lookup's record says declined */
} gate;

static int gate_authorize(void *ctx, const ecom_payment_request *req, ecom_payment_result *out)
{
    gate *g = ctx;
    pthread_mutex_lock(&g->mu);
    g->authorizes++;
    g->waiting = 1;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    g->waiting = 0;
    snprintf(g->key, sizeof g->key, "%s", req->idempotency_key);
    snprintf(g->charge, sizeof g->charge, "ch-%.60s", req->order_id);
    g->amount = req->amount;
    g->captured = req->capture && !g->auth_only;
    *out = (ecom_payment_result){.approved = 1, .amount = req->amount,
                                 .captured = g->captured};
    snprintf(out->charge_id, sizeof out->charge_id, "%s", g->charge);
    pthread_mutex_unlock(&g->mu);
    return g->auth_rc;
}

static int gate_settle(void *ctx, const char *charge_id, int64_t amount, const char *key,
                       ecom_payment_result *out)
{
    (void)ctx;
    (void)key;
    *out = (ecom_payment_result){.approved = 1, .amount = amount, .captured = 1};
    snprintf(out->charge_id, sizeof out->charge_id, "%s", charge_id);
    return ECOM_OK;
}

static int gate_capture(void *ctx, const char *charge_id, int64_t amount, const char *key,
                        ecom_payment_result *out)
{
    gate *g = ctx;
    pthread_mutex_lock(&g->mu);
    g->captures++;
    g->captured = 1;
    pthread_mutex_unlock(&g->mu);
    return gate_settle(ctx, charge_id, amount, key, out);
}

static int gate_void(void *ctx, const char *charge_id, const char *key,
                     ecom_payment_result *out)
{
    gate *g = ctx;
    pthread_mutex_lock(&g->mu);
    g->voids++;
    snprintf(g->voided, sizeof g->voided, "%s", charge_id);
    pthread_mutex_unlock(&g->mu);
    return gate_settle(ctx, charge_id, 0, key, out);
}

static int gate_refund(void *ctx, const char *charge_id, int64_t amount, const char *key,
                       ecom_payment_result *out)
{
    gate *g = ctx;
    if (g->refund_rc != ECOM_OK)
        return g->refund_rc;
    return gate_settle(ctx, charge_id, amount, key, out);
}

static int gate_lookup(void *ctx, const char *key, ecom_payment_result *out)
{
    gate *g = ctx;
    pthread_mutex_lock(&g->mu);
    int seen = g->charge[0] && strcmp(g->key, key) == 0, rc = g->lookup_rc;
    *out = (ecom_payment_result){.approved = seen && !g->declined, .amount = g->amount,
                                 .captured = seen && g->captured};
    snprintf(out->charge_id, sizeof out->charge_id, "%s", g->charge);
    pthread_mutex_unlock(&g->mu);
    return rc != ECOM_OK ? rc : seen ? ECOM_OK : ECOM_ENOTFOUND;
}

/* Waits (at most 20 s) until an authorize is blocked in the gate. */
static void await_authorize(gate *g)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 20;
    pthread_mutex_lock(&g->mu);
    int rc = 0;
    while (!g->waiting && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&g->cv, &g->mu, &deadline);
    int waiting = g->waiting;
    pthread_mutex_unlock(&g->mu);
    if (!waiting)
        fail_msg("the first checkout never reached authorize");
}

static void release(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static int authorizes(gate *g)
{
    pthread_mutex_lock(&g->mu);
    int n = g->authorizes;
    pthread_mutex_unlock(&g->mu);
    return n;
}

/* ---- fixture: a store paying through the gate, a stocked SKU, a cart ---- */

/* The checkout held in authorize, and how it ended. */
typedef struct first {
    ecom_store *s;
    int rc;
    char order_id[80];
    ecom_order_state state;
    char msg[256]; /* its ecom_errmsg (messages are per thread) */
} first;

typedef struct fixture {
    char dir[512];
    ecom_store *s;
    gate g;
    ecom_payment_provider provider;
    first a;
    pthread_t a_thread;
    bool a_running; /* until finish_first joins it */
} fixture;

static int setup(void **state)
{
    static fixture f;
    char uri[600];
    memset(&f, 0, sizeof f);
    pthread_mutex_init(&f.g.mu, NULL);
    pthread_cond_init(&f.g.cv, NULL);
    f.provider = (ecom_payment_provider){
        .version = ECOM_PAYMENT_PROVIDER_VERSION, .name = "gate", .ctx = &f.g,
        .authorize = gate_authorize, .capture = gate_capture, .void_charge = gate_void,
        .refund = gate_refund, .lookup = gate_lookup};
    test_fresh_store_dir(f.dir, sizeof f.dir, uri, sizeof uri, "checkout_busy");
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    opts.payments = &f.provider;
    assert_int_equal(ecom_store_open(&f.s, uri, &opts), ECOM_OK);
    const char *json = "{\"id\":\"p1\",\"title\":\"Mug\",\"status\":\"active\",\"variants\":["
                       "{\"sku\":\"mug\",\"prices\":{\"USD\":1000}}]}";
    test_create_product(f.s, json);
    test_receive(f.s, "mug", 10);
    assert_int_equal(ecom_cart_add(f.s, "user:ann", "mug", 2, "USD"), ECOM_OK);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->a_running) { /* a case failed with it held: let it end before the store */
        release(&f->g);
        pthread_join(f->a_thread, NULL);
    }
    ecom_store_close(f->s);
    test_remove_store_dir(f->dir);
    pthread_cond_destroy(&f->g.cv);
    pthread_mutex_destroy(&f->g.mu);
    return 0;
}

static ecom_checkout_request request(const char *cart, const char *user, const char *token)
{
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = cart;
    r.user = user;
    r.payment_token = token;
    return r;
}

static int64_t reserved(ecom_store *s)
{
    ecom_stock *st = NULL;
    assert_int_equal(ecom_stock_get(&st, s, "mug", NULL), ECOM_OK);
    int64_t n = ecom_stock_reserved(st);
    ecom_stock_free(st);
    return n;
}

static size_t orders_of(ecom_store *s, const char *user)
{
    ecom_order_list_options opts = ECOM_ORDER_LIST_OPTIONS_INIT;
    opts.user = user;
    ecom_order_page *page = NULL;
    assert_int_equal(ecom_order_list(&page, s, &opts), ECOM_OK);
    size_t n = ecom_order_page_count(page);
    ecom_order_page_free(page);
    return n;
}

/* Asserts rc == want, saying what came back instead. */
static void expect(ecom_store *s, int rc, int want, const char *what)
{
    if (rc != want)
        fail_msg("%s: got %d (%s: %s), wanted %d (%s)", what, rc, ecom_strerror(rc),
                 ecom_errmsg(s), want, ecom_strerror(want));
}

/* ---- the checkout held in authorize ---- */

static void *first_main(void *arg)
{
    first *a = arg;
    ecom_checkout_request r = request("user:ann", "ann", "tok_card");
    ecom_order *o = NULL;
    a->rc = ecom_checkout(&o, a->s, &r, "K");
    snprintf(a->msg, sizeof a->msg, "%s", ecom_errmsg(a->s));
    if (o) {
        snprintf(a->order_id, sizeof a->order_id, "%s", ecom_order_id(o));
        a->state = ecom_order_get_state(o);
    }
    ecom_order_free(o);
    return NULL;
}

/* Starts the first checkout and waits until it is blocked in authorize. */
static first *start_first(fixture *f)
{
    f->a = (first){.s = f->s, .rc = 1};
    assert_int_equal(pthread_create(&f->a_thread, NULL, first_main, &f->a), 0);
    f->a_running = true;
    await_authorize(&f->g);
    return &f->a;
}

/* Lets the first checkout finish; it must have paid its order. */
static void finish_first(fixture *f)
{
    release(&f->g);
    f->a_running = false;
    assert_int_equal(pthread_join(f->a_thread, NULL), 0);
    expect(f->s, f->a.rc, ECOM_OK, "the first checkout");
    assert_int_equal(f->a.state, ECOM_ORDER_PAID);
}

static void test_checkout_busy__same_request_in_flight_is_busy(void **state)
{
    fixture *f = *state;
    alarm(60); /* a checkout that blocks where it must not ends the test */
    first *a = start_first(f);
    assert_int_equal(reserved(f->s), 2); /* the first checkout's hold */

    ecom_checkout_request same = request("user:ann", "ann", "tok_card");
    ecom_order *o = NULL;
    int rc = ecom_checkout(&o, f->s, &same, "K");
    expect(f->s, rc, ECOM_EBUSY, "the same request while the first is in flight");
    assert_null(o);
    assert_non_null(strstr(ecom_errmsg(f->s), "'K'"));
    assert_int_equal(authorizes(&f->g), 1); /* not sent to the provider */
    assert_int_equal(reserved(f->s), 2);    /* its speculative order held nothing */
    assert_int_equal(orders_of(f->s, "ann"), 1);

    finish_first(f);
    rc = ecom_checkout(&o, f->s, &same, "K"); /* the retry EBUSY asked for */
    expect(f->s, rc, ECOM_OK, "the retry after the first finished");
    assert_non_null(o);
    assert_string_equal(ecom_order_id(o), a->order_id);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PAID);
    ecom_order_free(o);
    assert_int_equal(authorizes(&f->g), 1);
    assert_int_equal(orders_of(f->s, "ann"), 1);
    assert_int_equal(reserved(f->s), 0);
    uint64_t violations = 99;
    assert_int_equal(ecom_check(&violations, f->s, NULL, NULL), ECOM_OK);
    assert_int_equal(violations, 0);
    alarm(0);
}

static void test_checkout_busy__other_request_in_flight_is_a_mismatch(void **state)
{
    fixture *f = *state;
    alarm(60);
    first *a = start_first(f);

    /* Another token over the same cart: its order is built, and refused with the key. */
    ecom_checkout_request token = request("user:ann", "ann", "tok_other");
    ecom_order *o = NULL;
    int rc = ecom_checkout(&o, f->s, &token, "K");
    expect(f->s, rc, ECOM_EIDEMPOTENCY, "another token with the key in flight");
    assert_null(o);
    /* Another cart, empty: refused by the key, not as an empty cart. */
    ecom_checkout_request cart = request("user:bob", "bob", "tok_card");
    rc = ecom_checkout(&o, f->s, &cart, "K");
    expect(f->s, rc, ECOM_EIDEMPOTENCY, "another cart with the key in flight");
    assert_null(o);
    assert_int_equal(authorizes(&f->g), 1);
    assert_int_equal(reserved(f->s), 2);
    assert_int_equal(orders_of(f->s, "ann") + orders_of(f->s, "bob"), 1);

    finish_first(f);
    /* Still a mismatch once the key is finished, and the key's own request still its
     * order: the in-flight refusals changed nothing. */
    rc = ecom_checkout(&o, f->s, &token, "K");
    expect(f->s, rc, ECOM_EIDEMPOTENCY, "another token once the key is finished");
    ecom_checkout_request same = request("user:ann", "ann", "tok_card");
    rc = ecom_checkout(&o, f->s, &same, "K");
    expect(f->s, rc, ECOM_OK, "the key's own request once finished");
    assert_string_equal(ecom_order_id(o), a->order_id);
    ecom_order_free(o);
    assert_int_equal(authorizes(&f->g), 1);
    alarm(0);
}

/* The id of user's only order. */
static void only_order_of(ecom_store *s, const char *user, char *id, size_t size)
{
    ecom_order_list_options opts = ECOM_ORDER_LIST_OPTIONS_INIT;
    opts.user = user;
    ecom_order_page *page = NULL;
    assert_int_equal(ecom_order_list(&page, s, &opts), ECOM_OK);
    assert_int_equal(ecom_order_page_count(page), 1);
    snprintf(id, size, "%s", ecom_order_id(ecom_order_page_order(page, 0)));
    ecom_order_page_free(page);
}

static void test_checkout_busy__cancelled_while_paying_is_voided(void **state)
{
    fixture *f = *state;
    alarm(60);
    first *a = start_first(f);
    char id[80];
    only_order_of(f->s, "ann", id, sizeof id);
    /* Nothing charged yet: the cancel finds nothing to void, and returns the stock. */
    expect(f->s, ecom_order_cancel(f->s, id, ECOM_VERSION_ANY, "cs", "changed her mind"),
           ECOM_OK, "the cancel while paying");
    assert_int_equal(reserved(f->s), 0);
    assert_int_equal(f->g.voids, 0);

    release(&f->g); /* the authorize charges now, for an order already cancelled */
    f->a_running = false;
    assert_int_equal(pthread_join(f->a_thread, NULL), 0);
    expect(f->s, a->rc, ECOM_ESTATE, "the checkout whose order was cancelled");
    assert_non_null(strstr(a->msg, "changed her mind"));
    assert_int_equal(f->g.voids, 1);
    assert_string_equal(f->g.voided, f->g.charge);
    assert_int_equal(a->state, ECOM_ORDER_CANCELLED);

    /* A retry hears the same, and voids nothing more. */
    ecom_checkout_request same = request("user:ann", "ann", "tok_card");
    ecom_order *o = NULL;
    expect(f->s, ecom_checkout(&o, f->s, &same, "K"), ECOM_ESTATE, "the retry");
    ecom_order_free(o);
    assert_int_equal(f->g.voids, 1);
    assert_int_equal(authorizes(&f->g), 1);
    assert_int_equal(reserved(f->s), 0);
    uint64_t violations = 99;
    assert_int_equal(ecom_check(&violations, f->s, NULL, NULL), ECOM_OK);
    assert_int_equal(violations, 0);
    alarm(0);
}

static void test_checkout_busy__cancel_waits_for_a_pending_refund(void **state)
{
    fixture *f = *state;
    alarm(60);
    start_first(f);
    finish_first(f);
    char id[80];
    only_order_of(f->s, "ann", id, sizeof id);
    f->g.refund_rc = ECOM_ETIMEOUT; /* refunded, maybe: the refund stays pending */
    expect(f->s, ecom_order_refund(f->s, id, ECOM_VERSION_ANY, 300, "r1", "cs", NULL),
           ECOM_ETIMEOUT, "the refund whose answer is lost");
    expect(f->s, ecom_order_cancel(f->s, id, ECOM_VERSION_ANY, "cs", NULL), ECOM_ECONFLICT,
           "the cancel while a refund is pending");
    assert_non_null(strstr(ecom_errmsg(f->s), "pending"));

    f->g.refund_rc = ECOM_OK;
    expect(f->s, ecom_order_refund(f->s, id, ECOM_VERSION_ANY, 300, "r1", "cs", NULL), ECOM_OK,
           "the refund retried");
    expect(f->s, ecom_order_cancel(f->s, id, ECOM_VERSION_ANY, "cs", NULL), ECOM_OK,
           "the cancel once the refund is settled");
    ecom_order *o = NULL;
    assert_int_equal(ecom_order_get(&o, f->s, id), ECOM_OK);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_CANCELLED);
    assert_int_equal(ecom_order_refunded(o), ecom_order_total(o));
    ecom_order_free(o);
    uint64_t violations = 99;
    assert_int_equal(ecom_check(&violations, f->s, NULL, NULL), ECOM_OK);
    assert_int_equal(violations, 0);
    alarm(0);
}

/* ---- a provider that only authorizes, and whose answer is lost ---- */

/* Ann's checkout through a provider that authorizes without capturing, charges, and
 * loses its answer: the order stays pending. Its id goes to id. */
static void authorized_answer_lost(fixture *f, char *id, size_t size)
{
    f->g.open = 1;
    f->g.auth_only = 1;
    f->g.auth_rc = ECOM_ETIMEOUT;
    ecom_checkout_request r = request("user:ann", "ann", "tok_card");
    ecom_order *o = NULL;
    expect(f->s, ecom_checkout(&o, f->s, &r, "K"), ECOM_ETIMEOUT, "the checkout");
    assert_non_null(o);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PENDING_PAYMENT);
    snprintf(id, size, "%s", ecom_order_id(o));
    ecom_order_free(o);
    assert_int_equal(f->g.captures, 0);
}

static ecom_order_state state_of(ecom_store *s, const char *id)
{
    ecom_order *o = NULL;
    assert_int_equal(ecom_order_get(&o, s, id), ECOM_OK);
    ecom_order_state st = ecom_order_get_state(o);
    ecom_order_free(o);
    return st;
}

static void test_checkout_busy__notified_approval_is_captured_once(void **state)
{
    fixture *f = *state;
    char id[80];
    authorized_answer_lost(f, id, sizeof id);
    expect(f->s, ecom_payment_notify(f->s, id, 1, f->g.charge, NULL), ECOM_OK,
           "the notification of the approval");
    ecom_order *o = NULL;
    assert_int_equal(ecom_order_get(&o, f->s, id), ECOM_OK);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PAID);
    assert_string_equal(ecom_order_charge_id(o), f->g.charge);
    ecom_order_free(o);
    assert_int_equal(f->g.captures, 1);

    /* Again, and the checkout's retry: paid already, nothing more is captured. */
    expect(f->s, ecom_payment_notify(f->s, id, 1, f->g.charge, NULL), ECOM_OK,
           "a duplicate notification");
    ecom_checkout_request same = request("user:ann", "ann", "tok_card");
    expect(f->s, ecom_checkout(&o, f->s, &same, "K"), ECOM_OK, "the checkout's retry");
    assert_string_equal(ecom_order_id(o), id);
    ecom_order_free(o);
    assert_int_equal(f->g.captures, 1);
    assert_int_equal(authorizes(&f->g), 1);
    assert_int_equal(reserved(f->s), 0);
    uint64_t violations = 99;
    assert_int_equal(ecom_check(&violations, f->s, NULL, NULL), ECOM_OK);
    assert_int_equal(violations, 0);
}

/* A notification the provider does not bear out leaves the order pending: retryable. */
static void test_checkout_busy__notified_approval_unknown_to_the_provider_waits(void **state)
{
    fixture *f = *state;
    char id[80];
    authorized_answer_lost(f, id, sizeof id);
    static const struct {
        int lookup_rc, forgotten, declined, want;
        const char *says;
    } cases[] = {
        {ECOM_ETIMEOUT, 0, 0, ECOM_ETIMEOUT, "did not answer the lookup"},
        {ECOM_EPAYMENT, 0, 0, ECOM_EPAYMENT, "failed to look up its payment"},
        {ECOM_OK, 1, 0, ECOM_EPAYMENT, "the payment provider has no record of its payment"},
        {ECOM_OK, 0, 1, ECOM_EPAYMENT, "the payment provider says it was not"},
    };
    char charge[72];
    snprintf(charge, sizeof charge, "%s", f->g.charge);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        f->g.lookup_rc = cases[i].lookup_rc;
        f->g.declined = cases[i].declined;
        snprintf(f->g.charge, sizeof f->g.charge, "%s", cases[i].forgotten ? "" : charge);
        expect(f->s, ecom_payment_notify(f->s, id, 1, charge, NULL), cases[i].want,
               cases[i].says);
        if (strstr(ecom_errmsg(f->s), cases[i].says) == NULL)
            fail_msg("message '%s' lacks '%s'", ecom_errmsg(f->s), cases[i].says);
        assert_non_null(strstr(ecom_errmsg(f->s), "stays pending"));
        assert_int_equal(state_of(f->s, id), ECOM_ORDER_PENDING_PAYMENT);
        assert_int_equal(f->g.captures, 0);
    }
    f->g.lookup_rc = ECOM_OK;
    f->g.declined = 0;
    snprintf(f->g.charge, sizeof f->g.charge, "%s", charge);
    expect(f->s, ecom_payment_notify(f->s, id, 1, charge, NULL), ECOM_OK,
           "the notification once the provider knows");
    assert_int_equal(state_of(f->s, id), ECOM_ORDER_PAID);
    assert_int_equal(f->g.captures, 1);
}

/* ---- a backend before carts and orders ---- */

/* "v2:lmdb://...": the LMDB backend presenting contract version 2. */
static int v2_open(ecom_backend **out, ecom_store *store, const char *uri,
                   const ecom_options *opts)
{
    int rc = ecom_backend_lookup("lmdb")->open(out, store, uri + 3, opts);
    if (rc == ECOM_OK)
        (*out)->version = 2;
    return rc;
}

static void test_checkout_busy__a_backend_without_checkout_says_so(void **state)
{
    (void)state;
    static const ecom_backend_factory v2 = {ECOM_BACKEND_VERSION, "v2", v2_open};
    assert_int_equal(ecom_backend_register(&v2), ECOM_OK);
    char dir[512], uri[600], v2_uri[610];
    test_fresh_store_dir(dir, sizeof dir, uri, sizeof uri, "checkout_v2");
    snprintf(v2_uri, sizeof v2_uri, "v2:%s", uri);
    ecom_store *s = NULL;
    assert_int_equal(ecom_store_open(&s, v2_uri, NULL), ECOM_OK);
    ecom_checkout_request r = request("user:ann", "ann", "tok_card");
    ecom_order *o = NULL;
    expect(s, ecom_checkout(&o, s, &r, "K"), ECOM_EUNSUPPORTED, "checkout");
    assert_non_null(strstr(ecom_errmsg(s), "has no checkout"));
    uint64_t recovered = 99;
    expect(s, ecom_checkout_recover(&recovered, s, 0), ECOM_EUNSUPPORTED, "recovery");
    assert_non_null(strstr(ecom_errmsg(s), "has no checkout"));
    assert_int_equal(recovered, 0);
    ecom_store_close(s);
    test_remove_store_dir(dir);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(test_checkout_busy__##name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(same_request_in_flight_is_busy),
        T(other_request_in_flight_is_a_mismatch),
        T(cancelled_while_paying_is_voided),
        T(cancel_waits_for_a_pending_refund),
        T(notified_approval_is_captured_once),
        T(notified_approval_unknown_to_the_provider_waits),
        cmocka_unit_test(test_checkout_busy__a_backend_without_checkout_says_so),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
