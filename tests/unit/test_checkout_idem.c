/*
 * ecom_checkout's idempotency keys (Stripe's rules, docs/checkout.md
 * "Idempotency") and flash-sale claims standing in for checkout lines
 * (docs/checkout.md "Flash-sale claims"), through the public API only.
 *
 * A host provider (ecom_payment_provider) that is idempotent on its key (the same key
 * returns the same charge) and whose authorize can be held mid-call per call, and an
 * injected clock (ecom_options.clock), let a test hold one checkout in flight while
 * time passes and another checkout with the same key arrives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ecom.h"
#include "ecom_backend.h"
#include "support/support.h"

#define HOUR (INT64_C(3600) * 1000)
#define T0 INT64_C(1700000000000)

/* ---- the clock ---- */

static _Atomic int64_t clock_now;

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return atomic_load(&clock_now);
}

/* ---- an idempotent provider whose authorize calls can be held ---- */

#define MAX_CALLS 16
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;                 /* authorize calls so far */
    unsigned hold;             /* bit n: call n (from 1) waits until released */
    unsigned released;         /* bit n: call n may answer */
    unsigned waiting;          /* bit n: call n is waiting */
    int rc[MAX_CALLS + 1];     /* what call n answers after charging (0: ECOM_OK) */
    int declined[MAX_CALLS + 1];
    char keys[MAX_CALLS][160]; /* distinct keys charged */
    int nkeys;
} gate;

static int key_index(gate *g, const char *key)
{
    for (int i = 0; i < g->nkeys; i++)
        if (strcmp(g->keys[i], key) == 0)
            return i;
    return -1;
}

static int gate_authorize(void *ctx, const ecom_payment_request *req, ecom_payment_result *out)
{
    gate *g = ctx;
    pthread_mutex_lock(&g->mu);
    int n = ++g->calls;
    if (n <= MAX_CALLS && (g->hold & (1u << n))) {
        g->waiting |= 1u << n;
        pthread_cond_broadcast(&g->cv);
        while (!(g->released & (1u << n)))
            pthread_cond_wait(&g->cv, &g->mu);
        g->waiting &= ~(1u << n);
    }
    int declined = n <= MAX_CALLS && g->declined[n];
    if (!declined && key_index(g, req->idempotency_key) < 0 && g->nkeys < MAX_CALLS)
        snprintf(g->keys[g->nkeys++], sizeof g->keys[0], "%s", req->idempotency_key);
    *out = (ecom_payment_result){.approved = !declined, .amount = req->amount,
                                 .captured = !declined && req->capture};
    if (declined)
        snprintf(out->reason, sizeof out->reason, "card_declined");
    else
        snprintf(out->charge_id, sizeof out->charge_id, "ch-%.60s", req->idempotency_key);
    int rc = n <= MAX_CALLS ? g->rc[n] : ECOM_OK;
    pthread_mutex_unlock(&g->mu);
    return rc;
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

static int gate_void(void *ctx, const char *charge_id, const char *key,
                     ecom_payment_result *out)
{
    return gate_settle(ctx, charge_id, 0, key, out);
}

static int gate_lookup(void *ctx, const char *key, ecom_payment_result *out)
{
    gate *g = ctx;
    pthread_mutex_lock(&g->mu);
    int seen = key_index(g, key) >= 0;
    pthread_mutex_unlock(&g->mu);
    *out = (ecom_payment_result){.approved = seen, .captured = seen};
    snprintf(out->charge_id, sizeof out->charge_id, "ch-%.60s", key);
    return seen ? ECOM_OK : ECOM_ENOTFOUND;
}

static void await_call(gate *g, int n)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 20;
    pthread_mutex_lock(&g->mu);
    int rc = 0;
    while (!(g->waiting & (1u << n)) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&g->cv, &g->mu, &deadline);
    int ok = (g->waiting & (1u << n)) != 0;
    pthread_mutex_unlock(&g->mu);
    if (!ok)
        fail_msg("authorize call %d never arrived", n);
}

static void release_call(gate *g, int n)
{
    pthread_mutex_lock(&g->mu);
    g->released |= 1u << n;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static int charges(gate *g)
{
    pthread_mutex_lock(&g->mu);
    int n = g->nkeys;
    pthread_mutex_unlock(&g->mu);
    return n;
}

/* ---- fixture ---- */

typedef struct fixture {
    char dir[512];
    ecom_store *s;
    gate g;
    ecom_payment_provider provider;
    pthread_t threads[4];
    int nthreads;
} fixture;

static fixture fx;

static void expect(ecom_store *s, int rc, int want, const char *what)
{
    if (rc != want)
        fail_msg("%s: got %d (%s: %s), wanted %d (%s)", what, rc, ecom_strerror(rc),
                 ecom_errmsg(s), want, ecom_strerror(want));
}

static void must(ecom_store *s, int rc, const char *what)
{
    expect(s, rc, ECOM_OK, what);
}

/* Opens a store with the given key TTL (0: the default), the clock at T0, SKUs mug
 * (10 units) and tv (5 units), and carts user:ann (2 mug) and user:bob (1 mug). */
static void open_fixture(fixture *f, int64_t ttl)
{
    char uri[600];
    atomic_store(&clock_now, T0);
    f->provider = (ecom_payment_provider){
        .version = ECOM_PAYMENT_PROVIDER_VERSION, .name = "gate", .ctx = &f->g,
        .authorize = gate_authorize, .capture = gate_settle, .void_charge = gate_void,
        .refund = gate_settle, .lookup = gate_lookup};
    test_fresh_store_dir(f->dir, sizeof f->dir, uri, sizeof uri, "checkout_idem");
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    opts.payments = &f->provider;
    opts.clock = test_clock;
    opts.idempotency_ttl_ms = ttl;
    assert_int_equal(ecom_store_open(&f->s, uri, &opts), ECOM_OK);
    test_create_product(f->s, "{\"id\":\"p1\",\"title\":\"Mug\",\"status\":\"active\","
                              "\"variants\":[{\"sku\":\"mug\",\"prices\":{\"USD\":1000}}]}");
    test_create_product(f->s, "{\"id\":\"p2\",\"title\":\"TV\",\"status\":\"active\","
                              "\"variants\":[{\"sku\":\"tv\",\"prices\":{\"USD\":50000}}]}");
    test_receive(f->s, "mug", 10);
    test_receive(f->s, "tv", 5);
    must(f->s, ecom_cart_add(f->s, "user:ann", "mug", 2, "USD"), "cart ann");
    must(f->s, ecom_cart_add(f->s, "user:bob", "mug", 1, "USD"), "cart bob");
}

static int setup(void **state)
{
    memset(&fx, 0, sizeof fx);
    pthread_mutex_init(&fx.g.mu, NULL);
    pthread_cond_init(&fx.g.cv, NULL);
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pthread_mutex_lock(&f->g.mu);
    f->g.released = ~0u;
    pthread_cond_broadcast(&f->g.cv);
    pthread_mutex_unlock(&f->g.mu);
    for (int i = 0; i < f->nthreads; i++)
        pthread_join(f->threads[i], NULL);
    ecom_store_close(f->s);
    if (f->dir[0])
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

/* One checkout, run synchronously or in a thread. */
typedef struct run {
    ecom_store *s;
    ecom_checkout_request r;
    const char *key;
    int rc;
    char order_id[80];
    char msg[300];
    ecom_order_state state;
} run;

static void *run_main(void *arg)
{
    run *a = arg;
    ecom_order *o = NULL;
    a->rc = ecom_checkout(&o, a->s, &a->r, a->key);
    snprintf(a->msg, sizeof a->msg, "%s", ecom_errmsg(a->s));
    if (o) {
        snprintf(a->order_id, sizeof a->order_id, "%s", ecom_order_id(o));
        a->state = ecom_order_get_state(o);
    }
    ecom_order_free(o);
    return NULL;
}

static void start(fixture *f, run *a)
{
    a->rc = 1;
    assert_int_equal(pthread_create(&f->threads[f->nthreads++], NULL, run_main, a), 0);
}

static void join_all(fixture *f)
{
    for (int i = 0; i < f->nthreads; i++)
        pthread_join(f->threads[i], NULL);
    f->nthreads = 0;
}

static size_t orders_of(ecom_store *s, const char *user, int state)
{
    ecom_order_list_options opts = ECOM_ORDER_LIST_OPTIONS_INIT;
    opts.user = user;
    opts.state = state;
    ecom_order_page *page = NULL;
    must(s, ecom_order_list(&page, s, &opts), "order list");
    size_t n = ecom_order_page_count(page);
    ecom_order_page_free(page);
    return n;
}

static int64_t reserved(ecom_store *s, const char *sku)
{
    ecom_stock *st = NULL;
    must(s, ecom_stock_get(&st, s, sku, NULL), "stock get");
    int64_t n = ecom_stock_reserved(st);
    ecom_stock_free(st);
    return n;
}

/* ===================================================================== */
/* Idempotency: a key is never taken from a request holding it           */
/* ===================================================================== */

/*
 * A key whose request is still in flight answers ECOM_EBUSY to the same request, even
 * once the key's TTL has passed (here one minute, shorter than the checkout): a key
 * expires, but not under a live holder, or the same request would make a second
 * order, charged.
 */
static void test_idem__ttl_does_not_expire_a_held_key(void **state)
{
    fixture *f = *state;
    alarm(60);
    open_fixture(f, 60 * 1000); /* keys kept one minute */
    f->g.hold = 1u << 1;
    run a = {.s = f->s, .r = request("user:ann", "ann", "tok_card"), .key = "K1"};
    start(f, &a);
    await_call(&f->g, 1); /* a holds K1, its order made, paying */
    atomic_fetch_add(&clock_now, 61 * 1000); /* a slow provider: 61 s */
    run b = {.s = f->s, .r = request("user:ann", "ann", "tok_card"), .key = "K1"};
    run_main(&b);
    release_call(&f->g, 1);
    join_all(f);
    must(f->s, a.rc, "the first checkout");
    fprintf(stderr, "  same key+request while in flight: rc=%d (%s) order=%s; "
                    "first order=%s; ann's orders=%zu, charges=%d\n",
            b.rc, ecom_strerror(b.rc), b.order_id, a.order_id,
            orders_of(f->s, "ann", -1), charges(&f->g));
    expect(f->s, b.rc, ECOM_EBUSY, "the same request while the first is in flight");
    assert_int_equal(orders_of(f->s, "ann", -1), 1);
    assert_int_equal(charges(&f->g), 1);
}

/*
 * The same with the default 24 h TTL and ecom_store_purge: a key first used at T0
 * whose payment timed out is released with its order; the retry at T0+24h-1s holds it
 * again (resuming that order) and is still paying when the purge at T0+24h+1s runs:
 * the purge leaves a held key, and another retry of the same request is ECOM_EBUSY.
 */
static void test_idem__purge_keeps_a_held_key(void **state)
{
    fixture *f = *state;
    alarm(60);
    open_fixture(f, 0);
    f->g.rc[1] = ECOM_ETIMEOUT; /* charged, answer lost */
    f->g.hold = 1u << 2;        /* the retry's authorize is slow */
    run a = {.s = f->s, .r = request("user:ann", "ann", "tok_card"), .key = "K2"};
    run_main(&a);
    expect(f->s, a.rc, ECOM_ETIMEOUT, "first attempt");
    atomic_store(&clock_now, T0 + 24 * HOUR - 1000);
    run b = {.s = f->s, .r = request("user:ann", "ann", "tok_card"), .key = "K2"};
    start(f, &b);
    await_call(&f->g, 2); /* the retry holds K2 and is paying order 1 */
    atomic_store(&clock_now, T0 + 24 * HOUR + 1000);
    uint64_t purged = 0;
    must(f->s, ecom_store_purge(&purged, f->s, T0 + 24 * HOUR + 1000), "purge");
    run c = {.s = f->s, .r = request("user:ann", "ann", "tok_card"), .key = "K2"};
    run_main(&c);
    release_call(&f->g, 2);
    join_all(f);
    fprintf(stderr, "  purged=%llu; third call rc=%d (%s) order=%s; first order=%s; "
                    "ann's orders=%zu\n",
            (unsigned long long)purged, c.rc, ecom_strerror(c.rc), c.order_id, a.order_id,
            orders_of(f->s, "ann", -1));
    expect(f->s, c.rc, ECOM_EBUSY, "the same request while its retry is in flight");
    assert_int_equal(orders_of(f->s, "ann", -1), 1);
}

/*
 * A request thought dead (its holder stale, 3 minutes) whose key has also expired: a
 * new request R2 (bob's, another request) takes the key. When the old holder (ann's
 * R1) ends, its FINISH must not write ann's order into the key that now carries R2's
 * fingerprint: R2's retry gets bob's order, not ann's.
 */
static void test_idem__a_taken_over_holder_cannot_finish_the_key(void **state)
{
    fixture *f = *state;
    alarm(60);
    open_fixture(f, 60 * 1000);
    f->g.hold = (1u << 1) | (1u << 2);
    run a = {.s = f->s, .r = request("user:ann", "ann", "tok_ann"), .key = "K3"};
    start(f, &a);
    await_call(&f->g, 1);
    atomic_fetch_add(&clock_now, 181 * 1000); /* K3 expired and its holder stale */
    run b = {.s = f->s, .r = request("user:bob", "bob", "tok_bob"), .key = "K3"};
    start(f, &b);
    await_call(&f->g, 2); /* bob's request holds K3, his order made, paying */
    release_call(&f->g, 1); /* ann's request ends: FINISH K3 -> ann's order */
    pthread_join(f->threads[0], NULL);
    must(f->s, a.rc, "ann's checkout");
    release_call(&f->g, 2);
    pthread_join(f->threads[1], NULL);
    f->nthreads = 0;
    must(f->s, b.rc, "bob's checkout");
    run retry = {.s = f->s, .r = request("user:bob", "bob", "tok_bob"), .key = "K3"};
    run_main(&retry);
    ecom_order *o = NULL;
    const char *user = "?";
    if (retry.order_id[0] && ecom_order_get(&o, f->s, retry.order_id) == ECOM_OK)
        user = ecom_order_user(o);
    fprintf(stderr, "  bob's order=%s, ann's order=%s; bob's retry: rc=%d order=%s (user %s)\n",
            b.order_id, a.order_id, retry.rc, retry.order_id, user);
    char owner[80];
    snprintf(owner, sizeof owner, "%s", user);
    ecom_order_free(o);
    must(f->s, retry.rc, "bob's retry");
    if (strcmp(retry.order_id, b.order_id) != 0)
        fail_msg("bob's retry of his own request with K3 returned order %s of user '%s', "
                 "not his order %s", retry.order_id, owner, b.order_id);
}

/* ===================================================================== */
/* Idempotency: bounds, options, fingerprints, takeover                   */
/* ===================================================================== */

static void test_idem__key_bounds_and_bytes(void **state)
{
    fixture *f = *state;
    open_fixture(f, 0);
    char key[200];
    memset(key, 'k', 128);
    key[128] = '\0';
    ecom_checkout_request r = request("user:ann", "ann", "tok");
    ecom_order *o = NULL;
    must(f->s, ecom_checkout(&o, f->s, &r, key), "128-byte key");
    char first[80];
    snprintf(first, sizeof first, "%s", ecom_order_id(o));
    ecom_order_free(o);
    o = NULL;
    must(f->s, ecom_checkout(&o, f->s, &r, key), "128-byte key again");
    assert_string_equal(ecom_order_id(o), first);
    ecom_order_free(o);
    o = NULL;
    key[127] = 'j'; /* differs only in the last byte: another key */
    must(f->s, ecom_cart_add(f->s, "user:ann", "mug", 1, "USD"), "refill");
    must(f->s, ecom_checkout(&o, f->s, &r, key), "another 128-byte key");
    assert_string_not_equal(ecom_order_id(o), first);
    ecom_order_free(o);
    o = NULL;
    memset(key, 'k', 129);
    key[129] = '\0';
    expect(f->s, ecom_checkout(&o, f->s, &r, key), ECOM_ETOOLONG, "129-byte key");
    expect(f->s, ecom_checkout(&o, f->s, &r, "a b"), ECOM_EBADID, "space");
    expect(f->s, ecom_checkout(&o, f->s, &r, "a\x7f"), ECOM_EBADID, "DEL");
    expect(f->s, ecom_checkout(&o, f->s, &r, "a\xc3\xa9"), ECOM_EBADID, "UTF-8");
    expect(f->s, ecom_checkout(&o, f->s, &r, ""), ECOM_EINVAL, "empty");
    expect(f->s, ecom_checkout(&o, f->s, &r, NULL), ECOM_EINVAL, "NULL");
    assert_null(o);
    test_assert_clean(f->s);
}

static void test_idem__ttl_option_bounds(void **state)
{
    fixture *f = *state;
    char uri[600];
    test_fresh_store_dir(f->dir, sizeof f->dir, uri, sizeof uri, "checkout_idem");
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.idempotency_ttl_ms = -1;
    ecom_store *s = NULL;
    assert_int_equal(ecom_store_open(&s, uri, &opts), ECOM_EINVAL);
    ecom_store_close(s);
    /* 0 = 24 h: a key is kept 24 h less 1 ms, and new again at 24 h */
    open_fixture(f, 0);
    ecom_checkout_request r = request("user:ann", "ann", "tok");
    ecom_order *o = NULL;
    must(f->s, ecom_checkout(&o, f->s, &r, "T"), "first");
    char first[80];
    snprintf(first, sizeof first, "%s", ecom_order_id(o));
    ecom_order_free(o);
    o = NULL;
    atomic_store(&clock_now, T0 + 24 * HOUR - 1);
    ecom_checkout_request r2 = request("user:bob", "bob", "tok");
    expect(f->s, ecom_checkout(&o, f->s, &r2, "T"), ECOM_EIDEMPOTENCY, "other request at 24h-1");
    must(f->s, ecom_checkout(&o, f->s, &r, "T"), "same request at 24h-1");
    assert_string_equal(ecom_order_id(o), first);
    ecom_order_free(o);
    o = NULL;
    uint64_t purged = 0;
    must(f->s, ecom_store_purge(&purged, f->s, T0 + 24 * HOUR - 1), "purge early");
    assert_int_equal(purged, 0);
    /* expired but not purged: new again (another request runs) */
    atomic_store(&clock_now, T0 + 24 * HOUR);
    must(f->s, ecom_checkout(&o, f->s, &r2, "T"), "other request at 24h");
    assert_string_not_equal(ecom_order_id(o), first);
    ecom_order_free(o);
    /* clock going backwards: the key created at T0+24h is not expired at T0 */
    atomic_store(&clock_now, T0);
    o = NULL;
    expect(f->s, ecom_checkout(&o, f->s, &r, "T"), ECOM_EIDEMPOTENCY, "clock back");
    ecom_order_free(o);
    test_assert_clean(f->s);
}

/* A key released after a retryable failure keeps its fingerprint: another request is
 * ECOM_EIDEMPOTENCY; the same request resumes the same order (one charge). The cart
 * changed meanwhile is still the same request (docs: cart id, not contents). */
static void test_idem__released_key_and_changed_cart(void **state)
{
    fixture *f = *state;
    open_fixture(f, 0);
    f->g.rc[1] = ECOM_ETIMEOUT;
    ecom_checkout_request r = request("user:ann", "ann", "tok");
    ecom_order *o = NULL;
    expect(f->s, ecom_checkout(&o, f->s, &r, "R"), ECOM_ETIMEOUT, "first");
    assert_non_null(o);
    char first[80];
    snprintf(first, sizeof first, "%s", ecom_order_id(o));
    ecom_order_free(o);
    o = NULL;
    ecom_checkout_request other = request("user:ann", "ann", "tok_other");
    expect(f->s, ecom_checkout(&o, f->s, &other, "R"), ECOM_EIDEMPOTENCY, "other token");
    ecom_checkout_request loc = r;
    loc.location = "warehouse2";
    expect(f->s, ecom_checkout(&o, f->s, &loc, "R"), ECOM_EIDEMPOTENCY, "other location");
    ecom_checkout_request bob = request("user:bob", "bob", "tok");
    expect(f->s, ecom_checkout(&o, f->s, &bob, "R"), ECOM_EIDEMPOTENCY, "other user");
    must(f->s, ecom_cart_add(f->s, "user:ann", "mug", 3, "USD"), "cart changed");
    must(f->s, ecom_checkout(&o, f->s, &r, "R"), "retry");
    assert_string_equal(ecom_order_id(o), first);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PAID);
    ecom_order_free(o);
    assert_int_equal(charges(&f->g), 1);
    assert_int_equal(test_cart_quantity(f->s, "user:ann", "mug"), 3); /* 5 - the 2 bought */
    assert_int_equal(orders_of(f->s, "ann", -1), 1);
    test_assert_clean(f->s);
}

/* A holder that is merely slow (> 2 min) is taken over; the takeover resumes its order
 * (same payment key): one order, one charge, both callers answered with it. */
static void test_idem__stale_takeover_races_slow_holder(void **state)
{
    fixture *f = *state;
    alarm(60);
    open_fixture(f, 0);
    f->g.hold = (1u << 1) | (1u << 2);
    run a = {.s = f->s, .r = request("user:ann", "ann", "tok"), .key = "S"};
    start(f, &a);
    await_call(&f->g, 1);
    atomic_fetch_add(&clock_now, 3 * 60 * 1000);
    run b = {.s = f->s, .r = request("user:ann", "ann", "tok"), .key = "S"};
    start(f, &b);
    await_call(&f->g, 2);
    release_call(&f->g, 2);
    release_call(&f->g, 1);
    join_all(f);
    must(f->s, a.rc, "slow holder");
    must(f->s, b.rc, "takeover");
    assert_string_equal(a.order_id, b.order_id);
    assert_int_equal(orders_of(f->s, "ann", -1), 1);
    assert_int_equal(charges(&f->g), 1);
    test_assert_clean(f->s);
}

/* ===================================================================== */
/* Flash-sale claims                                                      */
/* ===================================================================== */

/* Opens sale "fs" of 3 tv; claims for ann (fs:1, 1 unit), bob (fs:2, 1 unit), ann
 * (fs:3, 1 unit, a second key). ann's cart holds 1 tv besides her 2 mug. */
static void open_sale(fixture *f)
{
    ecom_flash_options fo = ECOM_FLASH_OPTIONS_INIT;
    fo.sku = "tv";
    fo.units = 3;
    must(f->s, ecom_flash_open(f->s, "fs", &fo), "flash open");
    ecom_claim_result c = ECOM_CLAIM_RESULT_INIT;
    must(f->s, ecom_flash_claim(&c, f->s, "fs", "ann", 1, "k1"), "claim ann");
    assert_string_equal(c.claim_id, "fs:1");
    must(f->s, ecom_flash_claim(&c, f->s, "fs", "bob", 1, "k2"), "claim bob");
    assert_string_equal(c.claim_id, "fs:2");
    must(f->s, ecom_flash_claim(&c, f->s, "fs", "ann", 1, "k3"), "claim ann 2");
    assert_string_equal(c.claim_id, "fs:3");
    must(f->s, ecom_cart_add(f->s, "user:ann", "tv", 1, "USD"), "cart tv");
}

static ecom_claim_outcome poll(ecom_store *s, const char *id)
{
    ecom_claim_result c = ECOM_CLAIM_RESULT_INIT;
    must(s, ecom_flash_poll(&c, s, id), "poll");
    return c.outcome;
}

static void test_claims__refusals(void **state)
{
    fixture *f = *state;
    open_fixture(f, 0);
    open_sale(f);
    ecom_order *o = NULL;
    ecom_checkout_request r = request("user:ann", "ann", "tok");
    const char *bobs[] = {"fs:2"};
    r.claims = bobs;
    r.claim_count = 1;
    expect(f->s, ecom_checkout(&o, f->s, &r, "c1"), ECOM_ENOTFOUND, "bob's claim");
    const char *twice[] = {"fs:1", "fs:1"};
    r.claims = twice;
    r.claim_count = 2;
    expect(f->s, ecom_checkout(&o, f->s, &r, "c2"), ECOM_EINVAL, "listed twice");
    const char *two[] = {"fs:1", "fs:3"}; /* 2 units for a line of 1 */
    r.claims = two;
    expect(f->s, ecom_checkout(&o, f->s, &r, "c3"), ECOM_EINVAL, "more than the line");
    const char *spell[] = {"fs:01"};
    r.claims = spell;
    r.claim_count = 1;
    expect(f->s, ecom_checkout(&o, f->s, &r, "c4"), ECOM_EINVAL, "second spelling");
    /* SKU not in the cart */
    must(f->s, ecom_cart_remove(f->s, "user:ann", "tv"), "remove tv");
    const char *one[] = {"fs:1"};
    r.claims = one;
    expect(f->s, ecom_checkout(&o, f->s, &r, "c5"), ECOM_EINVAL, "sku not in cart");
    must(f->s, ecom_cart_add(f->s, "user:ann", "tv", 1, "USD"), "cart tv");
    /* expired */
    atomic_fetch_add(&clock_now, 11 * 60 * 1000);
    expect(f->s, ecom_checkout(&o, f->s, &r, "c6"), ECOM_EINVAL, "expired claim");
    assert_null(o);
    assert_int_equal(orders_of(f->s, "ann", -1), 0);
    test_assert_clean(f->s);
}

/* A claim plus a reservation that fails: nothing made, the claim intact. Declined: the
 * claim released (docs: "released if it is declined"). */
static void test_claims__reservation_fails_then_decline(void **state)
{
    fixture *f = *state;
    open_fixture(f, 0);
    open_sale(f);
    must(f->s, ecom_cart_set(f->s, "user:ann", "mug", 11, "USD"), "too many mugs");
    ecom_order *o = NULL;
    ecom_checkout_request r = request("user:ann", "ann", "tok");
    const char *one[] = {"fs:1"};
    r.claims = one;
    r.claim_count = 1;
    expect(f->s, ecom_checkout(&o, f->s, &r, "m1"), ECOM_EINSUFFICIENT, "mugs short");
    assert_int_equal(poll(f->s, "fs:1"), ECOM_CLAIM_ADMITTED);
    assert_int_equal(reserved(f->s, "mug"), 0);
    must(f->s, ecom_cart_set(f->s, "user:ann", "mug", 2, "USD"), "fix");
    f->g.declined[1] = 1;
    expect(f->s, ecom_checkout(&o, f->s, &r, "m1"), ECOM_EDECLINED, "declined");
    ecom_order_free(o);
    o = NULL;
    assert_int_equal(poll(f->s, "fs:1"), ECOM_CLAIM_RELEASED);
    assert_int_equal(reserved(f->s, "mug"), 0);
    test_assert_clean(f->s);
}

/* One claim in two checkouts at once (two keys, a double submit): the claim is tied
 * to the first order made, so the second is refused (ECOM_EBUSY) before it is charged;
 * one order, paid, commits the claim, and ecom check is clean. */
static void test_claims__one_claim_two_checkouts(void **state)
{
    fixture *f = *state;
    alarm(60);
    open_fixture(f, 0);
    open_sale(f);
    f->g.hold = 1u << 1;
    const char *one[] = {"fs:1"};
    run a = {.s = f->s, .r = request("user:ann", "ann", "tok"), .key = "x1"};
    a.r.claims = one;
    a.r.claim_count = 1;
    run b = a;
    b.key = "x2";
    start(f, &a);
    await_call(&f->g, 1); /* a's order stands on fs:1, paying */
    run_main(&b);
    expect(f->s, b.rc, ECOM_EBUSY, "the second checkout on the same claim");
    if (strstr(ecom_errmsg(f->s), "stands in for order") == NULL)
        fail_msg("message: %s", ecom_errmsg(f->s));
    release_call(&f->g, 1);
    join_all(f);
    must(f->s, a.rc, "the first checkout");
    assert_int_equal(orders_of(f->s, "ann", -1), 1);
    assert_int_equal(orders_of(f->s, "ann", ECOM_ORDER_PAID), 1);
    assert_int_equal(charges(&f->g), 1);
    assert_int_equal(poll(f->s, "fs:1"), ECOM_CLAIM_COMMITTED);
    test_assert_clean(f->s);
}

/* A claim standing in for the line of an order still pending (its payment timed out)
 * is refused to a second checkout of the same buyer (another key), which so never gets
 * to be declined and release it: the first order's retry is paid with it. */
static void test_claims__a_pending_order_keeps_its_claim(void **state)
{
    fixture *f = *state;
    open_fixture(f, 0);
    open_sale(f);
    const char *one[] = {"fs:1"};
    ecom_checkout_request r = request("user:ann", "ann", "tok");
    r.claims = one;
    r.claim_count = 1;
    f->g.rc[1] = ECOM_ETIMEOUT; /* charged, answer lost: order A pending with fs:1 */
    ecom_order *o = NULL;
    expect(f->s, ecom_checkout(&o, f->s, &r, "A"), ECOM_ETIMEOUT, "checkout A");
    ecom_order_free(o);
    o = NULL;
    expect(f->s, ecom_checkout(&o, f->s, &r, "B"), ECOM_EBUSY, "checkout B on A's claim");
    assert_null(o);
    assert_int_equal(poll(f->s, "fs:1"), ECOM_CLAIM_ADMITTED);
    must(f->s, ecom_checkout(&o, f->s, &r, "A"), "A's retry");
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PAID);
    ecom_order_free(o);
    assert_int_equal(poll(f->s, "fs:1"), ECOM_CLAIM_COMMITTED);
    assert_int_equal(orders_of(f->s, "ann", -1), 1);
    test_assert_clean(f->s);
}

/* A claim an order stands on is that order's to end: the host's ecom_flash_commit or
 * ecom_flash_release of it is ECOM_EBUSY, so the order's payment still commits it (it
 * was refused after the charge, the order cancelled, the claim reported committed for
 * an order never paid). */
static void test_claims__the_host_cannot_end_a_claim_an_order_stands_on(void **state)
{
    fixture *f = *state;
    open_fixture(f, 0);
    open_sale(f);
    const char *one[] = {"fs:1"};
    ecom_checkout_request r = request("user:ann", "ann", "tok");
    r.claims = one;
    r.claim_count = 1;
    f->g.rc[1] = ECOM_ETIMEOUT; /* charged, answer lost: the order pending on fs:1 */
    ecom_order *o = NULL;
    expect(f->s, ecom_checkout(&o, f->s, &r, "A"), ECOM_ETIMEOUT, "checkout");
    ecom_order_free(o);
    o = NULL;
    expect(f->s, ecom_flash_commit(f->s, "fs:1"), ECOM_EBUSY, "the host's commit");
    if (strstr(ecom_errmsg(f->s), "stands in for order") == NULL)
        fail_msg("message: %s", ecom_errmsg(f->s));
    expect(f->s, ecom_flash_release(f->s, "fs:1"), ECOM_EBUSY, "the host's release");
    assert_int_equal(poll(f->s, "fs:1"), ECOM_CLAIM_ADMITTED);
    must(f->s, ecom_checkout(&o, f->s, &r, "A"), "the retry");
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PAID);
    ecom_order_free(o);
    assert_int_equal(poll(f->s, "fs:1"), ECOM_CLAIM_COMMITTED);
    expect(f->s, ecom_flash_release(f->s, "fs:1"), ECOM_EENDED, "a release after it sold");
    test_assert_clean(f->s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_idem__ttl_does_not_expire_a_held_key,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_idem__purge_keeps_a_held_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_idem__a_taken_over_holder_cannot_finish_the_key,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_idem__key_bounds_and_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idem__ttl_option_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idem__released_key_and_changed_cart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_idem__stale_takeover_races_slow_holder, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_claims__refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claims__reservation_fails_then_decline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_claims__one_claim_two_checkouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claims__a_pending_order_keeps_its_claim, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_claims__the_host_cannot_end_a_claim_an_order_stands_on, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
