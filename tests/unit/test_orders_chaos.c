/*
 * A randomized stress test of one store shared by several threads, through the public
 * API only: it looks for races, not for exact answers.
 *
 * NTHREADS threads share one ecom_store (ecom.h: "One ecom_store may be shared by any
 * number of threads") and each makes a fixed number of random steps from its own seeded
 * xorshift generator: cart adds, sets, removes and merges on a few user and guest carts
 * that all threads share; checkouts with the built-in test provider's tokens (tok_approve,
 * tok_decline, tok_timeout, tok_error) under idempotency keys drawn from a small pool, so
 * that retries of the same request, the same key with another request and concurrent
 * submits of one key all happen; checkouts naming flash-sale claims (one sale opened at
 * setup, claimed by the users); ecom_payment_notify; ecom_checkout_recover; order moves
 * (to fulfilling or delivered, shipping all or part, cancels, refunds in part or in full
 * under keys from a small pool); ecom_store_purge and ecom_inventory_expire at a clock
 * (ecom_options.clock) that the threads move forward, a little and now and then by
 * minutes (holds, claims, keys and carts expire mid-run); event consumers reading and
 * acknowledging. Thread 0 also runs ecom_check every CHECK_EVERY steps: it must be clean
 * whenever it runs.
 *
 * Every call's answer must be a code its documentation in include/ecom.h gives it (one
 * table per call, as test_orders_model.c keeps them); an undocumented code is a failure
 * naming the seed, the thread, the step, the call with its arguments, the code and
 * ecom_errmsg. A few invariants are checked as the threads go: an event read is a run of
 * consecutive sequence numbers; a consumer's position never falls below what was
 * acknowledged. Failures in the threads are collected and reported after they join (with
 * each thread's last steps), never asserted from a thread.
 *
 * After the threads join, everything is wound down (the clock past every hold, the
 * sweep, recovery, the sale closed; each order pending or paid and not shipped
 * cancelled, the rest shipped and delivered), and then: ecom_check is clean; each order
 * has at most one approved charge in the test provider's ledger, an order paid or further
 * along exactly one and no void, a cancelled order's charge voided or refunded in full,
 * and no order more refunded than it took; no unit is reserved; every SKU's on_hand is
 * what was received less what the orders not cancelled shipped (from ecom_order_list).
 *
 * ECOM_CHAOS_SEED=<n> runs that seed only (default: the seeds in default_seeds);
 * ECOM_CHAOS_STEPS=<n> steps per thread; ECOM_CHAOS_THREADS=<n> threads;
 * ECOM_CHAOS_CHECK_EVERY=<n> thread 0's ecom_check every n steps (0: never);
 * ECOM_CHAOS_KEY_TTL_MS=<n> the checkout keys' TTL; ECOM_CHAOS_STATS=1 prints what the
 * calls answered; ECOM_CHAOS_TRACE=<file> writes every call and its answer there, in the
 * order they happened. ECOM_CHAOS_EAGER_RECOVER=1 also runs ecom_checkout_recover with
 * older_than_ms 0, below the provider calls in flight, which docs/checkout.md advises
 * against: the sweep then cancels orders whose authorize is under way, and their charge
 * is voided (a check in between would see it: thread 0 checks only at the end then);
 * the second test runs one seed so. (It once left charges on cancelled orders:
 * the sweep cancelled on a lookup made before the charge, and a lost answer went
 * unchecked; the sweep now marks first, and a failed payment call reads the order again.)
 * Threads interleave as the scheduler lets them, so a seed fixes each thread's choices,
 * not the interleaving: run a failing seed a few times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecom.h"
#include "support/support.h"

#define NTHREADS 6
#define STEPS 1500      /* per thread */
#define CHECK_EVERY 60  /* thread 0's ecom_check */
#define MAX_THREADS 16

static const uint64_t default_seeds[] = {20240611, 7, 42};

#define SECOND_MS INT64_C(1000)
#define MINUTE_MS (60 * SECOND_MS)
#define HOLD_MS (15 * MINUTE_MS) /* a checkout's stock hold (docs/checkout.md) */
#define CLAIM_TTL_MS (4 * MINUTE_MS)
#define KEY_TTL_MS (90 * SECOND_MS)

/* ---- the catalog, carts, buyers ---- */

#define NSKU 4
typedef struct sku_def {
    const char *sku;
    int64_t usd, eur;
    int64_t stock;
    int64_t limit; /* purchase limit, 0 = none */
} sku_def;

static const sku_def catalog[NSKU] = {
    {"lamp", 3999, 3500, 40, 3},
    {"mug", 1250, 1100, 120, 0},
    {"sock", 399, 350, 200, 0},
    {"tv", 49900, 45000, 50, 0},
};
#define TV 3
#define SALE "drop"
#define SALE_UNITS 30

#define NUSER 3
#define NCART 6
static const char *const users[NUSER] = {"ann", "bob", "cy"};
/* Carts 0..2 are the users' own; 3..5 guests'. */
static const char *const carts[NCART] = {"user:ann", "user:bob", "user:cy",
                                         "guest:g1", "guest:g2", "guest:g3"};

enum { TOK_APPROVE, TOK_DECLINE, TOK_TIMEOUT, TOK_ERROR, TOKENS };
static const char *const tokens[TOKENS] = {"tok_approve", "tok_decline", "tok_timeout",
                                           "tok_error"};

#define NKEYS 40        /* checkout keys k0..k39 */
#define NREFUND_KEYS 4  /* refund keys r0..r3 */
#define NCLAIM_KEYS 6   /* claim keys c0..c5 */

/* ---- the documented answers of each call (include/ecom.h) ---- */

#define END 1 /* no code is positive */

/* Every cart call: EINVAL, EBADID, EFIELD, ETOOLONG, EREADONLY. */
#define CART_COMMON ECOM_EINVAL, ECOM_EBADID, ECOM_EFIELD, ECOM_ETOOLONG, ECOM_EREADONLY
static const int cart_put_codes[] = {ECOM_OK, CART_COMMON, ECOM_ESKU, ECOM_EQUANTITY,
                                     ECOM_ECURRENCY, ECOM_EMIXEDCURRENCY, ECOM_EUNAVAILABLE,
                                     ECOM_ELIMIT, END};
static const int cart_remove_codes[] = {ECOM_OK, CART_COMMON, ECOM_ENOTFOUND, END};
static const int cart_merge_codes[] = {ECOM_OK, CART_COMMON, ECOM_EMIXEDCURRENCY,
                                       ECOM_ELIMIT, END};
static const int checkout_codes[] = {
    ECOM_OK, ECOM_EEMPTY, ECOM_ESTALE, ECOM_ELIMIT, ECOM_EINSUFFICIENT, ECOM_EPRICE,
    ECOM_EDECLINED, ECOM_EEXPIRED, ECOM_EENDED, ECOM_ESTATE, ECOM_EVERSION, ECOM_ETIMEOUT,
    ECOM_EPAYMENT, ECOM_EIDEMPOTENCY, ECOM_EBUSY, ECOM_ELOCATION, ECOM_EFIELD, ECOM_ETOOLONG,
    ECOM_EBADID, ECOM_EINVAL, ECOM_ENOTFOUND, ECOM_EUNSUPPORTED, ECOM_ENOMEM, ECOM_EBACKEND,
    END};
static const int notify_codes[] = {ECOM_OK, ECOM_ENOTFOUND, ECOM_ESTATE, ECOM_EINVAL,
                                   ECOM_ETOOLONG, ECOM_EUTF8, ECOM_EBADID, ECOM_EPAYMENT,
                                   ECOM_ETIMEOUT, ECOM_EDECLINED, ECOM_EEXPIRED, ECOM_EENDED,
                                   ECOM_EBUSY, ECOM_ECONFLICT, ECOM_EFIELD, END};
static const int transition_codes[] = {ECOM_OK, ECOM_ENOTFOUND, ECOM_ECONFLICT, ECOM_ESTATE,
                                       END};
static const int ship_codes[] = {ECOM_OK, ECOM_ENOTFOUND, ECOM_ECONFLICT, ECOM_ESTATE,
                                 ECOM_EQUANTITY, ECOM_EINVAL, ECOM_ELIMIT, ECOM_EBUSY, END};
static const int cancel_codes[] = {ECOM_OK, ECOM_ENOTFOUND, ECOM_ECONFLICT, ECOM_ESTATE,
                                   ECOM_ETIMEOUT, ECOM_EPAYMENT, END};
static const int refund_codes[] = {ECOM_OK, ECOM_ENOTFOUND, ECOM_ECONFLICT, ECOM_ESTATE,
                                   ECOM_EPRICE, ECOM_EIDEMPOTENCY, ECOM_EINVAL, ECOM_EFIELD,
                                   ECOM_ETOOLONG, ECOM_EUTF8, ECOM_EPAYMENT, ECOM_ETIMEOUT,
                                   END};
static const int claim_codes[] = {ECOM_OK, ECOM_ENOTFOUND, ECOM_EQUANTITY, ECOM_EBADID,
                                  ECOM_EVERSION, END};
static const int list_codes[] = {ECOM_OK, ECOM_EINVAL, ECOM_EVERSION, ECOM_ESTATE, ECOM_EFIELD,
                                 ECOM_ETOOLONG, ECOM_EBADID, ECOM_EUNSUPPORTED, ECOM_ENOMEM,
                                 END};
static const int adjust_codes[] = {ECOM_OK, ECOM_EQUANTITY, ECOM_ESKU, ECOM_ELOCATION,
                                   ECOM_EINSUFFICIENT, ECOM_ETOOLONG, ECOM_EUTF8, END};
static const int ack_codes[] = {ECOM_OK, ECOM_EINVAL, END};
static const int flash_close_codes[] = {ECOM_OK, ECOM_ENOTFOUND, ECOM_EENDED, END};
/* ecom.h gives no errors for these with valid arguments (ecom_order_get of an order that
 * exists; recover, purge, expire, check, consumer reads with a valid name). */
static const int ok_codes[] = {ECOM_OK, END};

static bool code_in(const int *codes, int rc)
{
    for (; *codes != END; codes++)
        if (*codes == rc)
            return true;
    return false;
}

static const char *code_name(int rc)
{
    static const char *const names[] = {
        "OK", "ERROR", "ENOMEM", "EINVAL", "ENOTFOUND", "EEXISTS", "ECONFLICT", "EURI",
        "EUNSUPPORTED", "EBACKEND", "EJSON", "EUTF8", "EPRICE", "ECURRENCY", "EDUPSKU",
        "ETOOLONG", "EBADID", "EFIELD", "EVERSION", "ECORRUPT", "EBUSY", "EIO", "ELIMIT",
        "ECATEGORY", "ESTATUS", "EREADONLY", "EQUANTITY", "ESKU", "ELOCATION", "EINSUFFICIENT",
        "EENDED", "EEXPIRED", "EUNAVAILABLE", "EEMPTY", "ESTALE", "EDECLINED", "ETIMEOUT",
        "EPAYMENT", "EIDEMPOTENCY", "ESTATE", "EQUERY", "EMIXEDCURRENCY",
    };
    return rc <= 0 && -rc < (int)(sizeof names / sizeof names[0]) ? names[-rc] : "?";
}

/* ---- what the threads share ---- */

#define MAX_ORDERS 4096
#define MAX_CLAIMS 512
#define MAX_FAILURES 8
#define RING 12

typedef struct key_req { /* what a checkout key was last used with */
    bool used;
    int cart, user, token;
    char claim[96]; /* "" = none */
} key_req;

typedef struct claim_ref {
    char id[96];
    int user;
    int64_t qty;
} claim_ref;

static struct {
    ecom_store *store;
    char dir[512];
    uint64_t seed;
    int nthreads, steps, check_every;
    _Atomic int64_t clock;
    atomic_bool stop;
    bool eager_recover; /* ECOM_CHAOS_EAGER_RECOVER=1 */
    /* A jump of the clock by minutes waits until no call is in flight (a quiet point), so
     * that no provider call lasts minutes of the store's time: recovery's older_than_ms
     * is then "well above the provider's longest authorize call" (docs/checkout.md). */
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    int active;
    bool jumping;
    pthread_mutex_t mu; /* guards what follows */
    char orders[MAX_ORDERS][80];
    int norders;
    claim_ref claims[MAX_CLAIMS];
    int nclaims;
    key_req keys[NKEYS];
    unsigned long outcomes[ECOM_CLAIM_COMMITTED + 1]; /* of claims answered OK */
    int64_t received[NSKU]; /* units received, the setup's included */
    char failures[MAX_FAILURES][2048];
    int nfailures;
    unsigned long answers[16][48]; /* per call kind, per -code */
} g;

typedef struct order_list {
    char (*ids)[80];
    size_t n, cap;
} order_list;

/* The orders listed at the end; freed by teardown too (a failure jumps past its free). */
static order_list all_orders;

static int64_t chaos_clock(void *ctx)
{
    (void)ctx;
    return atomic_load(&g.clock);
}

/* One thread's state. */
typedef struct worker {
    int id;
    uint64_t rng;
    int step;
    char what[512];         /* the call being made, with its arguments */
    char ring[RING][512];   /* the calls before it */
    unsigned nring;
    pthread_t thread;
} worker;

/* ECOM_CHAOS_TRACE=<file>: every call, its start and its answer, in one global order. */
static FILE *trace_file;
static _Atomic uint64_t trace_seq;

static void trace_line(const worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void trace_line(const worker *w, const char *fmt, ...)
{
    if (!trace_file)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(trace_file, "%8" PRIu64 " T%d %s\n", atomic_fetch_add(&trace_seq, 1), w ? w->id : -1,
            line);
}

static uint64_t rng_next(worker *w)
{
    uint64_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return w->rng = x;
}

static int64_t below(worker *w, int64_t n)
{
    return (int64_t)(rng_next(w) % (uint64_t)n);
}

static bool chance(worker *w, int percent)
{
    return below(w, 100) < percent;
}

static void begin(worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void begin(worker *w, const char *fmt, ...)
{
    if (w->what[0])
        snprintf(w->ring[w->nring++ % RING], sizeof w->ring[0], "%s", w->what);
    va_list ap;
    va_start(ap, fmt);
    int len = snprintf(w->what, sizeof w->what, "[step %d t=%" PRId64 "] ", w->step,
                       atomic_load(&g.clock));
    vsnprintf(w->what + len, sizeof w->what - (size_t)len, fmt, ap);
    va_end(ap);
    trace_line(w, "%s", w->what);
}

/* Records a failure of this thread (with its recent calls) and stops every thread. */
static void failure(worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void failure(worker *w, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&g.mu);
    if (g.nfailures < MAX_FAILURES) {
        char *out = g.failures[g.nfailures++];
        size_t size = sizeof g.failures[0];
        int len = snprintf(out, size, "seed %" PRIu64 " thread %d: %s\n    during %s\n",
                           g.seed, w ? w->id : -1, msg, w ? w->what : "wind down");
        if (w) {
            unsigned first = w->nring > 4 ? w->nring - 4 : 0;
            for (unsigned i = first; i < w->nring && (size_t)len < size; i++)
                len += snprintf(out + len, size - (size_t)len, "    after %s\n",
                                w->ring[i % RING]);
        }
    }
    pthread_mutex_unlock(&g.mu);
    atomic_store(&g.stop, true);
}

enum { A_CART, A_MERGE, A_CHECKOUT, A_NOTIFY, A_RECOVER, A_TRANSITION, A_SHIP, A_CANCEL,
       A_REFUND, A_CLAIM, A_PURGE, A_EXPIRE, A_CONSUMER, A_CHECK, A_RECEIVE, A_KINDS };
static const char *const kind_names[A_KINDS] = {
    "cart", "merge", "checkout", "notify", "recover", "transition", "ship", "cancel",
    "refund", "claim", "purge", "expire", "consumer", "check", "receive"};

/* rc is a code the call's documentation gives: else a failure naming the call. */
static bool documented(worker *w, int kind, const char *call, const int *codes, int rc)
{
    pthread_mutex_lock(&g.mu);
    if (rc <= 0 && rc > -48)
        g.answers[kind][-rc]++;
    pthread_mutex_unlock(&g.mu);
    trace_line(w, "  -> %s %s", code_name(rc), rc ? ecom_errmsg(g.store) : "");
    if (code_in(codes, rc))
        return true;
    failure(w, "%s answered %s (%d), a code its documentation does not give: %s", call,
            code_name(rc), rc, ecom_errmsg(g.store));
    return false;
}

/* ---- shared tables ---- */

static void add_order(const char *id)
{
    pthread_mutex_lock(&g.mu);
    bool known = false;
    for (int i = g.norders - 1; i >= 0 && i >= g.norders - 64 && !known; i--)
        known = strcmp(g.orders[i], id) == 0;
    if (!known && g.norders < MAX_ORDERS)
        snprintf(g.orders[g.norders++], sizeof g.orders[0], "%s", id);
    pthread_mutex_unlock(&g.mu);
}

/* A known order's id, recent ones more often; false if none yet. */
static bool pick_order(worker *w, char *id, size_t size)
{
    pthread_mutex_lock(&g.mu);
    int n = g.norders;
    if (n > 0) {
        int i = chance(w, 70) && n > 12 ? n - 1 - (int)below(w, 12) : (int)below(w, n);
        snprintf(id, size, "%s", g.orders[i]);
    }
    pthread_mutex_unlock(&g.mu);
    return n > 0;
}

static void add_claim(const char *id, int user, int64_t qty)
{
    pthread_mutex_lock(&g.mu);
    bool known = false;
    for (int i = 0; i < g.nclaims && !known; i++)
        known = strcmp(g.claims[i].id, id) == 0;
    if (!known && g.nclaims < MAX_CLAIMS) {
        claim_ref *c = &g.claims[g.nclaims++];
        snprintf(c->id, sizeof c->id, "%s", id);
        c->user = user;
        c->qty = qty;
    }
    pthread_mutex_unlock(&g.mu);
}

static bool pick_claim(worker *w, claim_ref *out)
{
    pthread_mutex_lock(&g.mu);
    int n = g.nclaims;
    if (n > 0) {
        int i = chance(w, 90) && n > 4 ? n - 1 - (int)below(w, 4) : (int)below(w, n);
        *out = g.claims[i];
    }
    pthread_mutex_unlock(&g.mu);
    return n > 0;
}

/* ---- the operations ---- */

static int pick_sku(worker *w)
{
    int64_t r = below(w, 100);
    return r < 25 ? 0 : r < 55 ? 1 : r < 85 ? 2 : TV;
}

static void op_cart_put(worker *w, bool set)
{
    const char *cart = carts[below(w, NCART)];
    int sku = pick_sku(w);
    int64_t qty = set ? below(w, 4) : 1 + below(w, 3);
    if (chance(w, 2))
        qty = set ? 1000 : 0; /* out of bounds: EQUANTITY */
    const char *cur = chance(w, 6) ? "EUR" : "USD";
    begin(w, "ecom_cart_%s(%s, %s, %" PRId64 ", %s)", set ? "set" : "add", cart,
          catalog[sku].sku, qty, cur);
    int rc = set ? ecom_cart_set(g.store, cart, catalog[sku].sku, qty, cur)
                 : ecom_cart_add(g.store, cart, catalog[sku].sku, qty, cur);
    documented(w, A_CART, set ? "ecom_cart_set" : "ecom_cart_add", cart_put_codes, rc);
}

static void op_cart_remove(worker *w)
{
    const char *cart = carts[below(w, NCART)];
    int sku = pick_sku(w);
    begin(w, "ecom_cart_remove(%s, %s)", cart, catalog[sku].sku);
    int rc = ecom_cart_remove(g.store, cart, catalog[sku].sku);
    documented(w, A_CART, "ecom_cart_remove", cart_remove_codes, rc);
}

static void op_cart_merge(worker *w)
{
    const char *guest = carts[3 + below(w, 3)];
    const char *user = carts[below(w, 3)];
    begin(w, "ecom_cart_merge(%s, %s)", guest, user);
    int rc = ecom_cart_merge(g.store, guest, user);
    documented(w, A_MERGE, "ecom_cart_merge", cart_merge_codes, rc);
}

static int pick_token(worker *w)
{
    int64_t r = below(w, 100);
    return r < 65 ? TOK_APPROVE : r < 75 ? TOK_DECLINE : r < 90 ? TOK_TIMEOUT : TOK_ERROR;
}

static void op_checkout(worker *w, bool with_claim)
{
    int k = (int)below(w, NKEYS);
    key_req req = {0};
    pthread_mutex_lock(&g.mu);
    key_req old = g.keys[k];
    pthread_mutex_unlock(&g.mu);
    bool retry = old.used && chance(w, 55);
    if (retry) {
        req = old;
    } else {
        req.used = true;
        req.cart = (int)below(w, NCART);
        req.user = req.cart < 3 && chance(w, 90) ? req.cart : (int)below(w, NUSER);
        req.token = pick_token(w);
        claim_ref c;
        if (with_claim && pick_claim(w, &c)) {
            snprintf(req.claim, sizeof req.claim, "%s", c.id);
            req.user = chance(w, 85) ? c.user : (int)below(w, NUSER);
            req.cart = req.user;
            /* The claim stands in for the cart's tv line: make sure it has one. */
            begin(w, "ecom_cart_set(%s, tv, %" PRId64 ", USD) for claim %s", carts[req.cart],
                  c.qty, c.id);
            int rc = ecom_cart_set(g.store, carts[req.cart], "tv", c.qty, "USD");
            documented(w, A_CART, "ecom_cart_set", cart_put_codes, rc);
        }
    }
    pthread_mutex_lock(&g.mu);
    g.keys[k] = req;
    pthread_mutex_unlock(&g.mu);

    char key[16];
    snprintf(key, sizeof key, "k%d", k);
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = carts[req.cart];
    r.user = users[req.user];
    r.payment_token = tokens[req.token];
    const char *claims[1] = {req.claim};
    if (req.claim[0]) {
        r.claims = claims;
        r.claim_count = 1;
    }
    begin(w, "ecom_checkout(cart %s, user %s, token %s, claims [%s], key %s)%s", r.cart,
          r.user, r.payment_token, req.claim, key, retry ? " (a retry)" : "");
    ecom_order *o = NULL;
    int rc = ecom_checkout(&o, g.store, &r, key);
    documented(w, A_CHECKOUT, "ecom_checkout", checkout_codes, rc);
    if (o) {
        trace_line(w, "  order %s %s", ecom_order_id(o),
                   ecom_order_state_name(ecom_order_get_state(o)));
        add_order(ecom_order_id(o));
        if (rc == ECOM_OK && ecom_order_get_state(o) == ECOM_ORDER_PENDING_PAYMENT)
            failure(w, "ecom_checkout answered OK with order %s still pending_payment",
                    ecom_order_id(o));
        ecom_order_free(o);
    } else if (rc == ECOM_OK) {
        failure(w, "ecom_checkout answered OK without an order");
    }
}

/* Reads an order; false (a failure recorded) if it cannot. */
static bool read_order(worker *w, const char *id, ecom_order **o)
{
    *o = NULL;
    int rc = ecom_order_get(o, g.store, id);
    if (rc != ECOM_OK) {
        failure(w, "ecom_order_get(%s) of a known order answered %s: %s", id, code_name(rc),
                ecom_errmsg(g.store));
        return false;
    }
    return true;
}

/* An order of the run, picked and read: false if there is none yet or the read failed
 * (a failure recorded). */
static bool pick_and_read(worker *w, char *id, size_t size, ecom_order **o)
{
    *o = NULL;
    return pick_order(w, id, size) && read_order(w, id, o);
}

/* The version to send: the one read (most often), any, or a stale one. */
static uint64_t pick_version(worker *w, const ecom_order *o)
{
    int64_t r = below(w, 100);
    uint64_t v = ecom_order_version(o);
    return r < 60 ? v : r < 90 || v < 2 ? ECOM_VERSION_ANY : v - 1;
}

static void op_notify(worker *w)
{
    char id[80];
    ecom_order *o = NULL;
    if (!pick_and_read(w, id, sizeof id, &o))
        return;
    char charge[72];
    snprintf(charge, sizeof charge, "%s", ecom_order_charge_id(o)[0] ? ecom_order_charge_id(o)
                                                                      : "ch-notified");
    ecom_order_free(o);
    bool approved = chance(w, 70);
    begin(w, "ecom_payment_notify(%s, %s, %s, \"chaos\")", id, approved ? "approved" : "declined",
          charge);
    int rc = ecom_payment_notify(g.store, id, approved ? 1 : 0, approved ? charge : NULL,
                                 "chaos");
    documented(w, A_NOTIFY, "ecom_payment_notify", notify_codes, rc);
}

static void op_recover(worker *w)
{
    /* Well above the longest provider call, in the store's time (see jump_clock); with
     * ECOM_CHAOS_EAGER_RECOVER=1 also 0, below calls in flight. */
    int64_t older = g.eager_recover && chance(w, 30) ? 0 : 2 * MINUTE_MS + below(w, 18) * MINUTE_MS;
    begin(w, "ecom_checkout_recover(older than %" PRId64 " ms)", older);
    uint64_t n = 0;
    int rc = ecom_checkout_recover(&n, g.store, older);
    documented(w, A_RECOVER, "ecom_checkout_recover", ok_codes, rc);
}

static void op_transition(worker *w)
{
    char id[80];
    ecom_order *o = NULL;
    if (!pick_and_read(w, id, sizeof id, &o))
        return;
    ecom_order_state st = ecom_order_get_state(o);
    ecom_order_state to = chance(w, 80) ? (st == ECOM_ORDER_PAID ? ECOM_ORDER_FULFILLING
                                                                  : ECOM_ORDER_DELIVERED)
                                        : chance(w, 50) ? ECOM_ORDER_FULFILLING
                                                        : ECOM_ORDER_DELIVERED;
    uint64_t v = pick_version(w, o);
    ecom_order_free(o);
    begin(w, "ecom_order_transition(%s, version %" PRIu64 ", %s -> %s)", id, v,
          ecom_order_state_name(st), ecom_order_state_name(to));
    int rc = ecom_order_transition(g.store, id, v, to, "chaos", NULL);
    documented(w, A_TRANSITION, "ecom_order_transition", transition_codes, rc);
}

static void op_ship(worker *w)
{
    char id[80];
    ecom_order *o = NULL;
    if (!pick_and_read(w, id, sizeof id, &o))
        return;
    uint64_t v = pick_version(w, o);
    char sku[ECOM_ID_MAX + 1] = "";
    int64_t qty = 0;
    size_t n = 0;
    if (chance(w, 50) && ecom_order_line_count(o) > 0) {
        size_t i = (size_t)below(w, (int64_t)ecom_order_line_count(o));
        snprintf(sku, sizeof sku, "%s", ecom_order_line_sku(o, i));
        int64_t left = ecom_order_line_quantity(o, i) - ecom_order_line_shipped(o, i);
        qty = left > 0 && chance(w, 90) ? 1 + below(w, left) : 1 + below(w, 3);
        n = 1;
    }
    ecom_order_state st = ecom_order_get_state(o);
    ecom_order_free(o);
    const char *skus[1] = {sku};
    int64_t qtys[1] = {qty};
    begin(w, "ecom_order_ship(%s (%s), version %" PRIu64 ", %s %" PRId64 "%s)", id,
          ecom_order_state_name(st), v, n ? sku : "everything", qty, n ? "" : " left");
    int rc = ecom_order_ship(g.store, id, v, n ? skus : NULL, n ? qtys : NULL, n, "chaos");
    documented(w, A_SHIP, "ecom_order_ship", ship_codes, rc);
}

static void op_cancel(worker *w)
{
    char id[80];
    ecom_order *o = NULL;
    if (!pick_and_read(w, id, sizeof id, &o))
        return;
    uint64_t v = pick_version(w, o);
    ecom_order_state st = ecom_order_get_state(o);
    ecom_order_free(o);
    begin(w, "ecom_order_cancel(%s (%s), version %" PRIu64 ")", id, ecom_order_state_name(st),
          v);
    int rc = ecom_order_cancel(g.store, id, v, "chaos", "changed my mind");
    documented(w, A_CANCEL, "ecom_order_cancel", cancel_codes, rc);
}

static void op_refund(worker *w)
{
    char id[80];
    ecom_order *o = NULL;
    if (!pick_and_read(w, id, sizeof id, &o))
        return;
    uint64_t v = pick_version(w, o);
    ecom_order_state st = ecom_order_get_state(o);
    int64_t left = ecom_order_total(o) - ecom_order_refunded(o);
    ecom_order_free(o);
    int64_t r = below(w, 100);
    int64_t amount = left <= 0 ? 1 + below(w, 100)
                     : r < 40  ? left                           /* in full */
                     : r < 92  ? 1 + below(w, left > 1 ? left / 2 : 1) /* in part */
                               : left + 1 + below(w, 100);       /* too much: EPRICE */
    char key[8];
    snprintf(key, sizeof key, "r%d", (int)below(w, NREFUND_KEYS));
    begin(w, "ecom_order_refund(%s (%s), version %" PRIu64 ", %" PRId64 " of %" PRId64
          " left, key %s)", id, ecom_order_state_name(st), v, amount, left, key);
    int rc = ecom_order_refund(g.store, id, v, amount, key, "chaos", "refund");
    documented(w, A_REFUND, "ecom_order_refund", refund_codes, rc);
}

static void op_claim(worker *w)
{
    int user = (int)below(w, NUSER);
    int64_t qty = 1 + below(w, 2);
    char key[24]; /* a fresh key mostly; else one of a small pool (a retry, maybe) */
    if (chance(w, 70))
        snprintf(key, sizeof key, "t%d-%d", w->id, w->step);
    else
        snprintf(key, sizeof key, "c%d", (int)below(w, NCLAIM_KEYS));
    begin(w, "ecom_flash_claim(%s, user %s, %" PRId64 ", key %s)", SALE, users[user], qty, key);
    ecom_claim_result res = ECOM_CLAIM_RESULT_INIT;
    int rc = ecom_flash_claim(&res, g.store, SALE, users[user], qty, key);
    documented(w, A_CLAIM, "ecom_flash_claim", claim_codes, rc);
    if (rc != ECOM_OK)
        return;
    pthread_mutex_lock(&g.mu);
    if ((unsigned)res.outcome <= ECOM_CLAIM_COMMITTED)
        g.outcomes[res.outcome]++;
    pthread_mutex_unlock(&g.mu);
    if (res.outcome == ECOM_CLAIM_ADMITTED || res.outcome == ECOM_CLAIM_QUEUED) {
        if (strcmp(res.user, users[user]) != 0)
            failure(w, "claim %s of user %s names user '%s'", res.claim_id, users[user],
                    res.user);
        add_claim(res.claim_id, user, res.quantity);
    }
}

/* Goods in, while everything else goes on (counted for conservation). */
static void op_receive(worker *w)
{
    int sku = pick_sku(w);
    int64_t qty = 1 + below(w, 12);
    begin(w, "ecom_stock_adjust(%s, receive %" PRId64 ")", catalog[sku].sku, qty);
    int rc = ecom_stock_adjust(g.store, catalog[sku].sku, NULL, ECOM_ADJUST_RECEIVE, qty,
                               "chaos", "restock");
    documented(w, A_RECEIVE, "ecom_stock_adjust", adjust_codes, rc);
    if (rc == ECOM_OK) {
        pthread_mutex_lock(&g.mu);
        g.received[sku] += qty;
        pthread_mutex_unlock(&g.mu);
    } else {
        failure(w, "receiving %" PRId64 " of %s answered %s: %s", qty, catalog[sku].sku,
                code_name(rc), ecom_errmsg(g.store));
    }
}

static void op_purge(worker *w)
{
    int64_t now = atomic_load(&g.clock);
    begin(w, "ecom_store_purge(now %" PRId64 ")", now);
    uint64_t n = 0;
    int rc = ecom_store_purge(&n, g.store, now);
    documented(w, A_PURGE, "ecom_store_purge", ok_codes, rc);
}

static void op_expire(worker *w)
{
    int64_t now = atomic_load(&g.clock);
    begin(w, "ecom_inventory_expire(now %" PRId64 ")", now);
    uint64_t n = 0;
    int rc = ecom_inventory_expire(&n, g.store, now);
    documented(w, A_EXPIRE, "ecom_inventory_expire", ok_codes, rc);
}

static void op_consumer(worker *w)
{
    const char *name = chance(w, 50) ? "ship-feed" : "mail-feed";
    size_t max = 1 + (size_t)below(w, 40);
    begin(w, "ecom_consumer_read(%s, max %zu)", name, max);
    ecom_events *ev = NULL;
    int rc = ecom_consumer_read(&ev, g.store, name, max);
    if (!documented(w, A_CONSUMER, "ecom_consumer_read", ok_codes, rc) || rc != ECOM_OK)
        return;
    size_t n = ecom_events_count(ev);
    for (size_t i = 1; i < n; i++)
        if (ecom_events_seq(ev, i) != ecom_events_seq(ev, i - 1) + 1) {
            failure(w, "consumer %s read event %" PRIu64 " after %" PRIu64 " (a gap)", name,
                    ecom_events_seq(ev, i), ecom_events_seq(ev, i - 1));
            break;
        }
    if (n > max)
        failure(w, "consumer %s read %zu events, asked for %zu", name, n, max);
    uint64_t seq = n ? ecom_events_seq(ev, (size_t)below(w, (int64_t)n)) : 0;
    ecom_events_free(ev);
    if (n == 0 || chance(w, 15))
        return;
    begin(w, "ecom_consumer_ack(%s, %" PRIu64 ")", name, seq);
    rc = ecom_consumer_ack(g.store, name, seq);
    if (!documented(w, A_CONSUMER, "ecom_consumer_ack", ack_codes, rc))
        return;
    if (rc != ECOM_OK) {
        failure(w, "ecom_consumer_ack(%s, %" PRIu64 ") of an event read answered %s: %s",
                name, seq, code_name(rc), ecom_errmsg(g.store));
        return;
    }
    uint64_t pos = 0;
    rc = ecom_consumer_position(&pos, g.store, name);
    if (rc != ECOM_OK || pos < seq)
        failure(w, "consumer %s: position %" PRIu64 " (%s) after an ack of %" PRIu64, name,
                pos, code_name(rc), seq);
}

typedef struct violations {
    int count;
    char first[3][512];
} violations;

static void collect(void *ctx, const char *message)
{
    violations *v = ctx;
    if (v->count < 3)
        snprintf(v->first[v->count], sizeof v->first[0], "%s", message);
    v->count++;
}

static void op_check(worker *w)
{
    begin(w, "ecom_check (mid-run)");
    violations v = {0};
    uint64_t n = 0;
    int rc = ecom_check(&n, g.store, collect, &v);
    if (!documented(w, A_CHECK, "ecom_check", ok_codes, rc))
        return;
    if (n != 0 || v.count != 0)
        failure(w, "ecom_check mid-run found %" PRIu64 " violations: %s%s%s%s%s", n,
                v.first[0], v.count > 1 ? " | " : "", v.first[1], v.count > 2 ? " | " : "",
                v.first[2]);
}

static void calls_enter(void)
{
    pthread_mutex_lock(&g.qmu);
    while (g.jumping)
        pthread_cond_wait(&g.qcv, &g.qmu);
    g.active++;
    pthread_mutex_unlock(&g.qmu);
}

static void calls_leave(void)
{
    pthread_mutex_lock(&g.qmu);
    if (--g.active == 0)
        pthread_cond_broadcast(&g.qcv);
    pthread_mutex_unlock(&g.qmu);
}

static void jump_clock(int64_t by)
{
    pthread_mutex_lock(&g.qmu);
    while (g.jumping)
        pthread_cond_wait(&g.qcv, &g.qmu);
    g.jumping = true;
    while (g.active > 0)
        pthread_cond_wait(&g.qcv, &g.qmu);
    atomic_fetch_add(&g.clock, by);
    g.jumping = false;
    pthread_cond_broadcast(&g.qcv);
    pthread_mutex_unlock(&g.qmu);
}

/* A little, mostly, at any time; now and then, at a quiet point, past a claim's life,
 * the keys' TTL, or with a few jumps a hold's. */
static void op_clock(worker *w)
{
    if (chance(w, 97)) {
        atomic_fetch_add(&g.clock, below(w, 3 * SECOND_MS));
        return;
    }
    jump_clock(2 * MINUTE_MS + below(w, 5 * MINUTE_MS));
}

static void step(worker *w)
{
    int64_t r = below(w, 1000);
    if (r >= 890) {
        op_clock(w);
        return;
    }
    calls_enter();
    if (r < 150)
        op_cart_put(w, false);
    else if (r < 190)
        op_cart_put(w, true);
    else if (r < 205)
        op_cart_remove(w);
    else if (r < 230)
        op_cart_merge(w);
    else if (r < 380)
        op_checkout(w, false);
    else if (r < 430)
        op_checkout(w, true);
    else if (r < 470)
        op_notify(w);
    else if (r < 490)
        op_recover(w);
    else if (r < 575)
        op_transition(w);
    else if (r < 655)
        op_ship(w);
    else if (r < 680)
        op_cancel(w);
    else if (r < 750)
        op_refund(w);
    else if (r < 810)
        op_claim(w);
    else if (r < 830)
        op_purge(w);
    else if (r < 850)
        op_expire(w);
    else if (r < 865)
        op_receive(w);
    else
        op_consumer(w);
    calls_leave();
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (w->step = 0; w->step < g.steps && !atomic_load(&g.stop); w->step++) {
        step(w);
        if (w->id == 0 && g.check_every > 0 && w->step % g.check_every == g.check_every - 1) {
            calls_enter();
            op_check(w);
            calls_leave();
        }
    }
    return NULL;
}

/* ---- setup, the run, the wind-down ---- */

static int env_int(const char *name, int fallback, int lo, int hi)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return fallback;
    long n = strtol(v, NULL, 10);
    return n < lo ? lo : n > hi ? hi : (int)n;
}

static void setup_store(void)
{
    char uri[600];
    test_fresh_store_dir(g.dir, sizeof g.dir, uri, sizeof uri, "orders_chaos");
    atomic_store(&g.clock, INT64_C(1800000000000));
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    opts.clock = chaos_clock;
    opts.shipping_fee = 500;
    opts.tax_rate_bp = 825;
    opts.idempotency_ttl_ms = env_int("ECOM_CHAOS_KEY_TTL_MS", (int)KEY_TTL_MS, 1, INT32_MAX);
    opts.guest_cart_ttl_ms = 3 * MINUTE_MS;
    opts.user_cart_ttl_ms = 20 * MINUTE_MS;
    g.store = NULL;
    int rc = ecom_store_open(&g.store, uri, &opts);
    if (rc != ECOM_OK)
        fail_msg("open %s: %s (%s)", uri, ecom_strerror(rc), ecom_errmsg(g.store));
    for (int s = 0; s < NSKU; s++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"id\":\"p-%s\",\"title\":\"%s\",\"status\":\"active\",\"variants\":"
                 "[{\"sku\":\"%s\",\"prices\":{\"USD\":%" PRId64 ",\"EUR\":%" PRId64 "}}]}",
                 catalog[s].sku, catalog[s].sku, catalog[s].sku, catalog[s].usd, catalog[s].eur);
        test_create_product(g.store, json);
        test_receive(g.store, catalog[s].sku, catalog[s].stock);
        g.received[s] = catalog[s].stock;
        if (catalog[s].limit)
            test_must(g.store, ecom_stock_set_purchase_limit(g.store, catalog[s].sku,
                                                             catalog[s].limit), "limit");
    }
    ecom_flash_options fo = ECOM_FLASH_OPTIONS_INIT;
    fo.sku = catalog[TV].sku;
    fo.units = SALE_UNITS;
    fo.per_user_limit = 0;
    fo.claim_ttl_ms = CLAIM_TTL_MS;
    test_must(g.store, ecom_flash_open(g.store, SALE, &fo), "flash open");
}

static void teardown_store(void)
{
    ecom_store_close(g.store);
    g.store = NULL;
    test_remove_store_dir(g.dir);
}

static int teardown(void **state)
{
    (void)state;
    if (g.store)
        teardown_store();
    free(all_orders.ids);
    all_orders = (order_list){0};
    return 0;
}

/* The failures the threads recorded, as one cmocka failure. */
static void dump_order(const char *id)
{
    ecom_order *o = NULL;
    if (ecom_order_get(&o, g.store, id) == ECOM_OK) {
        char *json = NULL;
        if (ecom_order_to_json(&json, o) == ECOM_OK)
            print_message("    order now: %s\n", json);
        ecom_free(json);
        ecom_order_free(o);
    }
    ecom_payments *p = NULL;
    if (ecom_payments_list(&p, g.store, id) == ECOM_OK) {
        for (size_t i = 0; i < ecom_payments_count(p); i++)
            print_message("    ledger: %s %s %" PRId64 " %s\n", ecom_payments_kind(p, i),
                          ecom_payments_charge_id(p, i), ecom_payments_amount(p, i),
                          ecom_payments_approved(p, i) ? "approved" : "not approved");
        ecom_payments_free(p);
    }
}

static void report_failures(void)
{
    if (g.nfailures == 0)
        return;
    for (int i = 0; i < g.nfailures; i++) {
        print_message("%s", g.failures[i]);
        const char *at = strstr(g.failures[i], "order '");
        if (at) {
            char id[80];
            size_t n = strcspn(at + 7, "'");
            snprintf(id, sizeof id, "%.*s", (int)(n < 79 ? n : 79), at + 7);
            dump_order(id);
        }
    }
    fail_msg("seed %" PRIu64 ": %d failure(s) (ECOM_CHAOS_SEED=%" PRIu64 " repeats the seed)",
             g.seed, g.nfailures, g.seed);
}



/* Every order in the store, by ecom_order_list. */
static void list_all(order_list *out)
{
    out->n = 0;
    char cursor[256] = "";
    for (;;) {
        ecom_order_list_options lo = ECOM_ORDER_LIST_OPTIONS_INIT;
        lo.limit = 1000;
        lo.cursor = cursor[0] ? cursor : NULL;
        ecom_order_page *page = NULL;
        int rc = ecom_order_list(&page, g.store, &lo);
        if (!code_in(list_codes, rc) || rc != ECOM_OK)
            fail_msg("seed %" PRIu64 ": ecom_order_list answered %s: %s", g.seed,
                     code_name(rc), ecom_errmsg(g.store));
        for (size_t i = 0; i < ecom_order_page_count(page); i++) {
            if (out->n == out->cap) {
                out->cap = out->cap ? 2 * out->cap : 256;
                out->ids = realloc(out->ids, out->cap * sizeof *out->ids);
                assert_non_null(out->ids);
            }
            snprintf(out->ids[out->n++], sizeof out->ids[0], "%s",
                     ecom_order_id(ecom_order_page_order(page, i)));
        }
        const char *next = ecom_order_page_next_cursor(page);
        if (next)
            snprintf(cursor, sizeof cursor, "%s", next);
        ecom_order_page_free(page);
        if (!next)
            break;
    }
}

static void wind_call(const char *call, const int *codes, int rc, const char *id)
{
    if (!code_in(codes, rc))
        fail_msg("seed %" PRIu64 ": wind down: %s(%s) answered %s (%d), a code its "
                 "documentation does not give: %s", g.seed, call, id, code_name(rc), rc,
                 ecom_errmsg(g.store));
}

static ecom_order *get_order(const char *id)
{
    ecom_order *o = NULL;
    int rc = ecom_order_get(&o, g.store, id);
    if (rc != ECOM_OK)
        fail_msg("seed %" PRIu64 ": ecom_order_get(%s): %s: %s", g.seed, id, code_name(rc),
                 ecom_errmsg(g.store));
    return o;
}

static bool final_state(ecom_order_state st)
{
    return st == ECOM_ORDER_CANCELLED || st == ECOM_ORDER_DELIVERED ||
           st == ECOM_ORDER_REFUNDED || st == ECOM_ORDER_PARTIALLY_REFUNDED;
}

/* Ends every order, as test_orders_model.c's wind_down does. */
static void wind_down(order_list *all)
{
    atomic_fetch_add(&g.clock, HOLD_MS + CLAIM_TTL_MS + MINUTE_MS);
    uint64_t n = 0;
    int rc = ecom_inventory_expire(&n, g.store, atomic_load(&g.clock));
    wind_call("ecom_inventory_expire", ok_codes, rc, "");
    for (int round = 0; round < 3; round++) {
        rc = ecom_checkout_recover(&n, g.store, 0);
        wind_call("ecom_checkout_recover", ok_codes, rc, "");
    }
    rc = ecom_flash_close(g.store, SALE);
    wind_call("ecom_flash_close", flash_close_codes, rc, SALE);
    list_all(all);
    for (size_t i = 0; i < all->n; i++) {
        const char *id = all->ids[i];
        for (int tries = 0; tries < 6; tries++) {
            ecom_order *o = get_order(id);
            ecom_order_state st = ecom_order_get_state(o);
            ecom_order_free(o);
            if (final_state(st))
                break;
            if (st == ECOM_ORDER_PENDING_PAYMENT || st == ECOM_ORDER_PAID ||
                st == ECOM_ORDER_FULFILLING) {
                rc = ecom_order_cancel(g.store, id, ECOM_VERSION_ANY, "chaos", "wind down");
                wind_call("ecom_order_cancel", cancel_codes, rc, id);
            } else if (st == ECOM_ORDER_PARTIALLY_SHIPPED) {
                rc = ecom_order_ship(g.store, id, ECOM_VERSION_ANY, NULL, NULL, 0, "chaos");
                wind_call("ecom_order_ship", ship_codes, rc, id);
            } else if (st == ECOM_ORDER_SHIPPED) {
                rc = ecom_order_transition(g.store, id, ECOM_VERSION_ANY, ECOM_ORDER_DELIVERED,
                                           "chaos", NULL);
                wind_call("ecom_order_transition", transition_codes, rc, id);
            }
        }
        ecom_order *o = get_order(id);
        ecom_order_state st = ecom_order_get_state(o);
        ecom_order_free(o);
        if (!final_state(st))
            fail_msg("seed %" PRIu64 ": wind down: order %s still %s (%s)", g.seed, id,
                     ecom_order_state_name(st), ecom_errmsg(g.store));
    }
    /* The claims left have expired; sweep them (and anything else due). */
    atomic_fetch_add(&g.clock, CLAIM_TTL_MS + MINUTE_MS);
    rc = ecom_inventory_expire(&n, g.store, atomic_load(&g.clock));
    wind_call("ecom_inventory_expire", ok_codes, rc, "");
}

/* The test provider's approved records of an order: counts by kind, refunds' sum. */
typedef struct ledger {
    size_t charges, captures, voids, refunds;
    int64_t charged, refunded;
} ledger;

static ledger ledger_of(const char *id)
{
    ecom_payments *p = NULL;
    test_must(g.store, ecom_payments_list(&p, g.store, id), "payments list");
    ledger l = {0};
    for (size_t i = 0; i < ecom_payments_count(p); i++) {
        if (!ecom_payments_approved(p, i))
            continue;
        const char *kind = ecom_payments_kind(p, i);
        int64_t amount = ecom_payments_amount(p, i);
        if (strcmp(kind, "charge") == 0) {
            l.charges++;
            l.charged += amount;
        } else if (strcmp(kind, "capture") == 0) {
            l.captures++;
        } else if (strcmp(kind, "void") == 0) {
            l.voids++;
        } else if (strcmp(kind, "refund") == 0) {
            l.refunds++;
            l.refunded += amount;
        }
    }
    ecom_payments_free(p);
    return l;
}

static void verify_end(const order_list *all)
{
    violations v = {0};
    uint64_t found = 0;
    int rc = ecom_check(&found, g.store, collect, &v);
    if (rc == ECOM_OK && found != 0) {
        for (int i = 0; i < v.count && i < 3; i++) {
            print_message("seed %" PRIu64 ": violation after the wind-down: %s\n", g.seed,
                          v.first[i]);
            const char *at = strstr(v.first[i], "order '");
            if (at) {
                char id[80];
                size_t n = strcspn(at + 7, "'");
                snprintf(id, sizeof id, "%.*s", (int)(n < 79 ? n : 79), at + 7);
                dump_order(id);
            }
        }
        fail_msg("seed %" PRIu64 ": ecom_check found %" PRIu64 " violations after the "
                 "wind-down (ECOM_CHAOS_SEED=%" PRIu64 " repeats the seed)", g.seed, found,
                 g.seed);
    }
    test_assert_clean(g.store);
    int64_t out[NSKU] = {0};
    unsigned long states[ECOM_ORDER_PARTIALLY_REFUNDED + 1] = {0};
    for (size_t i = 0; i < all->n; i++) {
        const char *id = all->ids[i];
        ecom_order *o = get_order(id);
        ecom_order_state st = ecom_order_get_state(o);
        states[st]++;
        int64_t total = ecom_order_total(o), refunded = ecom_order_refunded(o);
        ledger l = ledger_of(id);
        /* The test provider's payment key (hence its charge) is the order's own: one. */
        if (l.charges > 1 || l.voids > 1)
            fail_msg("seed %" PRIu64 ": order %s (%s): %zu approved charges, %zu voids",
                     g.seed, id, ecom_order_state_name(st), l.charges, l.voids);
        if (st != ECOM_ORDER_CANCELLED && (l.charges != 1 || l.voids != 0 || l.charged != total))
            fail_msg("seed %" PRIu64 ": order %s (%s, total %" PRId64 "): %zu approved charges "
                     "of %" PRId64 ", %zu voids", g.seed, id, ecom_order_state_name(st), total,
                     l.charges, l.charged, l.voids);
        if (st == ECOM_ORDER_CANCELLED && l.charges == 1 && l.voids == 0 && l.refunded != l.charged)
            fail_msg("seed %" PRIu64 ": cancelled order %s: charged %" PRId64 ", neither voided "
                     "nor refunded in full (%" PRId64 " refunded)", g.seed, id, l.charged,
                     l.refunded);
        if (l.refunded > l.charged || (l.voids && l.refunded))
            fail_msg("seed %" PRIu64 ": order %s (%s): charged %" PRId64 ", refunded %" PRId64
                     " (%zu voids)", g.seed, id, ecom_order_state_name(st), l.charged,
                     l.refunded, l.voids);
        if (refunded != l.refunded && !(l.voids && refunded == 0))
            fail_msg("seed %" PRIu64 ": order %s (%s): refunded %" PRId64 ", the ledger's "
                     "refunds %" PRId64, g.seed, id, ecom_order_state_name(st), refunded,
                     l.refunded);
        for (size_t j = 0; j < ecom_order_line_count(o); j++) {
            int s = -1;
            for (int k = 0; k < NSKU; k++)
                if (strcmp(ecom_order_line_sku(o, j), catalog[k].sku) == 0)
                    s = k;
            assert_true(s >= 0);
            if (st != ECOM_ORDER_CANCELLED) {
                if (ecom_order_line_shipped(o, j) != ecom_order_line_quantity(o, j))
                    fail_msg("seed %" PRIu64 ": order %s (%s): %s shipped %" PRId64 " of %"
                             PRId64, g.seed, id, ecom_order_state_name(st),
                             catalog[s].sku, ecom_order_line_shipped(o, j),
                             ecom_order_line_quantity(o, j));
                out[s] += ecom_order_line_quantity(o, j);
            }
        }
        ecom_order_free(o);
    }
    for (int s = 0; s < NSKU; s++) {
        ecom_stock *st = NULL;
        test_must(g.store, ecom_stock_get(&st, g.store, catalog[s].sku, NULL), "stock get");
        int64_t on_hand = ecom_stock_on_hand(st), reserved = ecom_stock_reserved(st);
        ecom_stock_free(st);
        if (reserved != 0)
            fail_msg("seed %" PRIu64 ": %s: %" PRId64 " still reserved after the wind-down",
                     g.seed, catalog[s].sku, reserved);
        if (on_hand != g.received[s] - out[s])
            fail_msg("seed %" PRIu64 ": %s: %" PRId64 " on hand, but %" PRId64 " received and %"
                     PRId64 " in orders not cancelled", g.seed, catalog[s].sku, on_hand,
                     g.received[s], out[s]);
    }
    if (getenv("ECOM_CHAOS_STATS")) {
        char line[1024];
        size_t len = (size_t)snprintf(line, sizeof line, "seed %" PRIu64 ": %zu orders:",
                                      g.seed, all->n);
        for (int st = 0; st <= ECOM_ORDER_PARTIALLY_REFUNDED; st++)
            if (states[st])
                len += (size_t)snprintf(line + len, sizeof line - len, " %s %lu",
                                        ecom_order_state_name((ecom_order_state)st), states[st]);
        print_message("%s\n", line);
        for (int k = 0; k < A_KINDS; k++) {
            len = (size_t)snprintf(line, sizeof line, "  %s:", kind_names[k]);
            for (int e = 0; e < 48 && len < sizeof line; e++)
                if (g.answers[k][e])
                    len += (size_t)snprintf(line + len, sizeof line - len, " %s %lu",
                                            code_name(-e), g.answers[k][e]);
            print_message("%s\n", line);
        }
        print_message("  claim outcomes: admitted %lu queued %lu sold out %lu limit %lu "
                      "not started %lu ended %lu expired %lu released %lu committed %lu\n",
                      g.outcomes[0], g.outcomes[1], g.outcomes[2], g.outcomes[3],
                      g.outcomes[4], g.outcomes[5], g.outcomes[6], g.outcomes[7],
                      g.outcomes[8]);
    }
}


static void run_seed(uint64_t seed, bool eager_recover)
{
    memset(&g, 0, sizeof g);
    pthread_mutex_init(&g.mu, NULL);
    pthread_mutex_init(&g.qmu, NULL);
    pthread_cond_init(&g.qcv, NULL);
    g.eager_recover = eager_recover || env_int("ECOM_CHAOS_EAGER_RECOVER", 0, 0, 1) != 0;
    g.seed = seed;
    g.nthreads = env_int("ECOM_CHAOS_THREADS", NTHREADS, 1, MAX_THREADS);
    g.steps = env_int("ECOM_CHAOS_STEPS", STEPS, 1, 1000000);
    /* With the sweep unbounded a check may run between a charge landing on an order the
     * sweep cancelled and the checkout voiding it: only the end is checked then. */
    g.check_every = env_int("ECOM_CHAOS_CHECK_EVERY", g.eager_recover ? 0 : CHECK_EVERY, 0,
                            1000000);
    setup_store();
    const char *trace = getenv("ECOM_CHAOS_TRACE");
    trace_file = trace && *trace ? fopen(trace, "w") : NULL;
    static worker workers[MAX_THREADS];
    memset(workers, 0, sizeof workers);
    for (int t = 0; t < g.nthreads; t++) {
        worker *w = &workers[t];
        w->id = t;
        /* splitmix64 of (seed, thread): never 0, as xorshift needs. */
        uint64_t z = seed * UINT64_C(0x9E3779B97F4A7C15) + (uint64_t)(t + 1) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        z ^= z >> 31;
        w->rng = z ? z : 1;
        assert_int_equal(pthread_create(&w->thread, NULL, worker_main, w), 0);
    }
    for (int t = 0; t < g.nthreads; t++)
        assert_int_equal(pthread_join(workers[t].thread, NULL), 0);
    if (trace_file)
        fclose(trace_file);
    trace_file = NULL;
    report_failures();
    wind_down(&all_orders);
    verify_end(&all_orders);
    teardown_store();
    pthread_mutex_destroy(&g.mu);
    pthread_mutex_destroy(&g.qmu);
    pthread_cond_destroy(&g.qcv);
}

static void test_orders_chaos__threads_share_one_store(void **state)
{
    (void)state;
    const char *env = getenv("ECOM_CHAOS_SEED");
    if (env && *env) {
        run_seed(strtoull(env, NULL, 10), false);
        return;
    }
    for (size_t i = 0; i < sizeof default_seeds / sizeof default_seeds[0]; i++)
        run_seed(default_seeds[i], false);
}

/* The sweep run with no bound while checkouts pay: orders it cancels under a payment in
 * flight have that payment voided, and ecom_check is clean at the end. */
static void test_orders_chaos__a_sweep_with_no_bound(void **state)
{
    (void)state;
    const char *env = getenv("ECOM_CHAOS_SEED");
    run_seed(env && *env ? strtoull(env, NULL, 10) : 11, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_orders_chaos__threads_share_one_store, teardown),
        cmocka_unit_test_teardown(test_orders_chaos__a_sweep_with_no_bound, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
