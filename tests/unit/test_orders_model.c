/*
 * A model-based randomized test of the order lifecycle, through the public API only.
 *
 * One store (no_sync, a clock that moves only when told, the built-in test payment
 * provider, a shipping fee and a tax rate) is driven by a seeded xorshift generator
 * through random cart edits and merges, checkouts (new keys, retries of old ones, the
 * same key with another request), moves, ships, cancels, refunds, notifications,
 * recovery sweeps, purchase limits, clock jumps, expiry sweeps and purges. A model kept
 * here says what each call must answer and what must hold after it, from include/ecom.h,
 * docs/orders.md and docs/checkout.md. After every step the store is compared with it:
 * each answer is a code documented for its call; ecom_check is clean; every order's
 * state, history (a walk of the state machine that only grows), version (only grows),
 * lines, money and charge, the test provider's ledger of it, its events and its place in
 * the listings; every cart; every SKU's stock (on hand exactly, reserved within the holds
 * live and due) are what the model says. A last phase ends every order and checks that
 * no unit was made or lost.
 *
 * A second run (random_host_provider) makes the same steps in a store whose payments go
 * to a host provider written here (host_provider, in opts.payments). What it does with
 * each idempotency key is drawn once by the seed's generator and kept in its own ledger,
 * so that the same key always gets the same answer: an authorize approved with its
 * capture or without, declined, approved for less (partial) or with no charge id, failing
 * before charging (ECOM_EPAYMENT) or after (ECOM_ETIMEOUT, the charge kept), a while or
 * for good; a capture approved, declined ("authorization_expired") or failing; a void or
 * refund approved, declined or failing; a lookup that tells the ledger (ECOM_ENOTFOUND
 * if never authorized). The model plays every call the store should make to it (sim_*,
 * from docs/checkout.md "One completion path" and docs/orders.md: the mark, void and
 * cancel of an order pending payment, a declined void refunded in full, refunds in three
 * steps) on a ledger of its own. After every step, besides all the first run checks:
 * the two ledgers agree call by call; each order's version moved by exactly the writes
 * the model expects; its refunds (key, amount, pending) are the model's; the provider
 * saw one authorization per order, under the order's own keys, and no authorize or
 * capture of an order marked or cancelled; an order paid or further along has its total
 * authorized and captured, not voided, and the provider's refunds of it lie between its
 * confirmed refunds and those plus its pending ones; a cancelled order's captured money
 * was voided or refunded in full, its uncaptured authorization voided.
 *
 * A failure names the run, the seed and the step, and prints the steps before it.
 * ECOM_MODEL_SEED=<seed> runs one seed (ECOM_MODEL_STEPS=<n> steps), ECOM_MODEL_TRACE=1
 * prints every step, ECOM_MODEL_STATS=1 what each seed reached (and, with the host
 * provider, what its calls came to); each applies to both runs. What the model found (a
 * cancel's refund key open to callers; codes the documentation did not give; a retry
 * that finishes its own checkout's refusal answering ECOM_ESTATE) is kept below as
 * small tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecom.h"
#include "support/support.h"

#define SEEDS 8
#define STEPS 300
#define HOST_SEEDS 6 /* the run with a host provider */
#define HOST_STEPS 250

#define MINUTE_MS (INT64_C(60) * 1000)
#define HOLD_MS (15 * MINUTE_MS)                  /* a checkout's hold (docs/checkout.md) */
#define KEY_TTL_MS (INT64_C(24) * 60 * MINUTE_MS) /* idempotency keys (ecom.h) */
#define SHIPPING 500
#define TAX_BP 825

/* ---- the generator: xorshift64, one stream per seed ---- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* 0..n-1 (n >= 1). */
static int64_t below(int64_t n)
{
    return (int64_t)(rng_next() % (uint64_t)n);
}

static bool chance(int percent)
{
    return below(100) < percent;
}

/* ---- the catalog, carts and buyers ---- */

#define NSKU 4
#define NCART 5
#define NUSER 3

typedef struct sku_def {
    const char *sku;
    int64_t usd, eur; /* eur -1: no EUR price */
    int64_t stock;
    int64_t limit; /* purchase limit, 0 = none */
} sku_def;

/* In SKU order, the order a cart keeps its lines in. */
static const sku_def catalog[NSKU] = {
    {"lamp", 3999, 3500, 24, 3},
    {"mug", 1250, 1100, 40, 0},
    {"sock", 399, 350, 90, 0},
    {"tv", 49900, -1, 9, 0},
};

static const char *const cart_names[NCART] = {"user:ann", "user:bob", "user:cy", "guest:g1",
                                              "guest:g2"};
static const char *const users[NUSER] = {"ann", "bob", "cy"};

enum { TOK_APPROVE, TOK_DECLINE, TOK_TIMEOUT, TOK_ERROR, TOKENS };
static const char *const tokens[TOKENS] = {"tok_approve", "tok_decline", "tok_timeout",
                                           "tok_error"};

static int64_t price_in(int sku, const char *currency)
{
    return strcmp(currency, "EUR") == 0 ? catalog[sku].eur : catalog[sku].usd;
}

/* ---- the host provider of the second run: its plans and its ledger ---- */

/* The keys the store gives a provider for an order O (docs/checkout.md, docs/orders.md):
 * "pay-O" (authorize, and lookup), "capture-O", "void-cancel-O", "refund-void-O" (a void
 * declined), and "refund-O:<refund key>" for a refund: a cancel's ("refund-cancel-O") or
 * a caller's (the model's r0..r3). */
enum { HK_AUTH, HK_CAPTURE, HK_VOID, HK_RVOID, HK_RCANCEL, HK_R0, HK_KEYS = HK_R0 + 4 };
static const char *const hk_names[HK_KEYS] = {"authorize", "capture", "void", "refund-void",
                                              "cancel's refund", "refund r0", "refund r1",
                                              "refund r2", "refund r3"};

#define ALWAYS 1000 /* a key whose every call fails */

/* What the provider does with one key, drawn once: the same key always gets the same
 * answer (ecom.h). The first `fails` calls fail: ECOM_EPAYMENT before doing anything,
 * or ECOM_ETIMEOUT after doing it (the answer lost); every later call gets the answer. */
typedef struct h_plan {
    int fails;
    int fail_rc;
    bool approved;
    bool captured;    /* authorize: with automatic capture */
    int64_t short_by; /* authorize: approves this much less than asked (partial) */
    bool no_id;       /* authorize: the answer names no charge (lookup's does) */
} h_plan;

/* The provider's record of one order's payment. */
typedef struct h_ledger {
    int calls[HK_KEYS];
    bool done[HK_KEYS];      /* done once (its answer recorded) */
    bool ok[HK_KEYS];        /* approved */
    int64_t amount[HK_KEYS]; /* authorize: approved; capture, refunds: asked */
    bool captured, voided;   /* the authorization */
    int64_t captured_amount;
} h_ledger;

static bool h_authorized(const h_ledger *l)
{
    return l->done[HK_AUTH] && l->ok[HK_AUTH];
}

/* Approved refunds, the refund-void's aside. */
static int64_t h_refunds(const h_ledger *l)
{
    int64_t sum = 0;
    for (int k = HK_RCANCEL; k < HK_KEYS; k++)
        sum += l->done[k] && l->ok[k] ? l->amount[k] : 0;
    return sum;
}

static int64_t h_refund_void(const h_ledger *l)
{
    return l->done[HK_RVOID] && l->ok[HK_RVOID] ? l->amount[HK_RVOID] : 0;
}

/* Doing key k for the first time, as a processor would: a capture of an authorization
 * approved, not voided; a void (an authorization not captured is always voidable, a
 * captured one as planned); a refund of money captured, not voided, within it. */
static void h_do(h_ledger *l, const h_plan *p, int k, int64_t amount)
{
    switch (k) {
    case HK_AUTH:
        l->ok[k] = p->approved;
        l->amount[k] = amount - (p->short_by < amount ? p->short_by : amount / 2);
        if (p->approved && p->captured) {
            l->captured = true;
            l->captured_amount = l->amount[k];
        }
        break;
    case HK_CAPTURE:
        l->ok[k] = p->approved && h_authorized(l) && !l->voided && !l->captured;
        l->amount[k] = amount;
        if (l->ok[k]) {
            l->captured = true;
            l->captured_amount = amount;
        }
        break;
    case HK_VOID:
        l->ok[k] = h_authorized(l) && (!l->captured || p->approved);
        l->voided = l->voided || l->ok[k];
        break;
    default:
        l->ok[k] = p->approved && l->captured && !l->voided &&
                   h_refunds(l) + h_refund_void(l) + amount <= l->captured_amount;
        l->amount[k] = amount;
        break;
    }
}

static void h_charge_id(char *out, size_t size, const char *order_id)
{
    snprintf(out, size, "ch_%s", order_id);
}

/* One call of key k of an order: the store's through the provider, or the model's
 * expectation of it (each on its own ledger, with the same plans). */
static int h_call(h_ledger *l, const h_plan *plans, int k, int64_t amount, const char *order_id,
                  ecom_payment_result *out)
{
    static const char *const declined[HK_KEYS] = {
        "card_declined", "authorization_expired", "charge_already_captured",
        "charge_disputed", "charge_disputed", "charge_disputed", "charge_disputed",
        "charge_disputed", "charge_disputed"};
    const h_plan *p = &plans[k];
    int n = l->calls[k]++;
    *out = (ecom_payment_result){0};
    if (n < p->fails && p->fail_rc == ECOM_EPAYMENT)
        return ECOM_EPAYMENT;
    if (!l->done[k]) {
        l->done[k] = true;
        h_do(l, p, k, amount);
    }
    if (n < p->fails)
        return ECOM_ETIMEOUT;
    out->approved = l->ok[k];
    if (!out->approved)
        snprintf(out->reason, sizeof out->reason, "%s", declined[k]);
    if (k != HK_AUTH || !p->no_id)
        h_charge_id(out->charge_id, sizeof out->charge_id, order_id);
    if (k == HK_AUTH) {
        out->amount = l->amount[k];
        out->captured = p->approved && p->captured;
    } else if (k != HK_VOID) {
        out->amount = l->amount[k];
    }
    return ECOM_OK;
}

/* What the provider knows of the order's authorize: ECOM_ENOTFOUND if never made; else
 * the authorization as it stands (a void does not show, as with many processors). */
static int h_lookup(const h_ledger *l, const char *order_id, ecom_payment_result *out)
{
    *out = (ecom_payment_result){0};
    if (!l->done[HK_AUTH])
        return ECOM_ENOTFOUND;
    out->approved = l->ok[HK_AUTH];
    if (!out->approved)
        snprintf(out->reason, sizeof out->reason, "card_declined");
    h_charge_id(out->charge_id, sizeof out->charge_id, order_id);
    out->amount = l->amount[HK_AUTH];
    out->captured = l->captured;
    return ECOM_OK;
}

/* ---- the documented answers of each call (ecom.h; docs/checkout.md for ESTATE) ---- */

#define END 1 /* no code is positive */

static const int cart_put_codes[] = {ECOM_OK, ECOM_EBADID, ECOM_ESKU, ECOM_EQUANTITY,
                                     ECOM_ECURRENCY, ECOM_EMIXEDCURRENCY, ECOM_EUNAVAILABLE,
                                     ECOM_ELIMIT, END};
static const int cart_remove_codes[] = {ECOM_OK, ECOM_ENOTFOUND, END};
static const int cart_merge_codes[] = {ECOM_OK, ECOM_EBADID, ECOM_EMIXEDCURRENCY, ECOM_ELIMIT,
                                       END};
/* ecom.h's list, and ESTATE: "a cancel meanwhile (ECOM_ESTATE)" in docs/checkout.md. */
static const int checkout_codes[] = {ECOM_OK, ECOM_EEMPTY, ECOM_ESTALE, ECOM_ELIMIT,
                                     ECOM_EINSUFFICIENT, ECOM_EPRICE, ECOM_EDECLINED,
                                     ECOM_EEXPIRED, ECOM_EENDED,
                                     ECOM_ETIMEOUT, ECOM_EPAYMENT, ECOM_EIDEMPOTENCY, ECOM_EBUSY,
                                     ECOM_ETOOLONG, ECOM_EBADID, ECOM_EINVAL, ECOM_ENOTFOUND,
                                     ECOM_EUNSUPPORTED, ECOM_ESTATE, END};
static const int notify_codes[] = {ECOM_OK, ECOM_ENOTFOUND, ECOM_ESTATE, ECOM_EINVAL,
                                   ECOM_ETOOLONG, ECOM_EUTF8, ECOM_EBADID, ECOM_EPAYMENT,
                                   ECOM_ETIMEOUT, ECOM_EDECLINED, ECOM_EEXPIRED, ECOM_EENDED,
                                   END};
static const int transition_codes[] = {ECOM_OK, ECOM_ENOTFOUND, ECOM_ECONFLICT, ECOM_ESTATE,
                                       END};
static const int ship_codes[] = {ECOM_OK, ECOM_ENOTFOUND, ECOM_ECONFLICT, ECOM_ESTATE,
                                 ECOM_EQUANTITY, ECOM_EBUSY, END};
/* "Errors: as transition", and a provider failing in between (ETIMEOUT, EPAYMENT). */
static const int cancel_codes[] = {ECOM_OK, ECOM_ENOTFOUND, ECOM_ECONFLICT, ECOM_ESTATE,
                                   ECOM_ETIMEOUT, ECOM_EPAYMENT, END};
static const int refund_codes[] = {ECOM_OK, ECOM_ENOTFOUND, ECOM_ECONFLICT, ECOM_ESTATE,
                                   ECOM_EPRICE, ECOM_EIDEMPOTENCY, ECOM_EINVAL, ECOM_EPAYMENT,
                                   ECOM_ETIMEOUT, END};
static const int limit_codes[] = {ECOM_OK, ECOM_EBADID, ECOM_ESKU, ECOM_EQUANTITY, END};
/* ecom.h lists no errors for these with valid arguments. */
static const int ok_codes[] = {ECOM_OK, END};

static bool code_in(const int *codes, int rc)
{
    for (; *codes != END; codes++)
        if (*codes == rc)
            return true;
    return false;
}

/* ---- the model ---- */

#define MAX_ORDERS 512
#define MAX_KEYS 512
#define MAX_REFUND_KEYS 8
#define MAX_HISTORY 128

typedef struct m_cart {
    char cur[4]; /* "" when empty */
    int64_t qty[NSKU];
    int into; /* a guest cart merged away: 1 + the user cart it forwards to; else 0 */
} m_cart;

/* What marked an order pending payment as being cancelled. */
enum { MARK_CANCEL, MARK_REFUSED, MARK_HOLD, MARK_ABANDONED };

typedef struct m_order {
    char id[80];
    int cart, user, token;
    char cur[4];
    int64_t qty[NSKU], shipped[NSKU];
    int64_t total;
    ecom_order_state state;
    int64_t created_at;
    bool held;      /* its checkout hold is held (not committed, released or swept) */
    bool charged;   /* an approved charge of it in the ledger */
    bool voided;    /* an approved void of it in the ledger */
    bool paid;      /* its stock was committed: it was paid once */
    int64_t refunded;       /* confirmed refunds on the order */
    int64_t ledger_refunds; /* approved refunds in the ledger */
    int refund_keys;
    char rk[MAX_REFUND_KEYS][48];
    int64_t rk_amount[MAX_REFUND_KEYS];
    bool rk_pending[MAX_REFUND_KEYS]; /* reserved, not confirmed (the host run) */
    /* The host run: */
    bool marked;           /* marked as being cancelled (its reason set) */
    int mark_why;          /* MARK_*: what marked it */
    h_plan plans[HK_KEYS]; /* the provider's plans for its keys */
    h_ledger hx;           /* the provider's ledger of it, as the model expects */
    int writes;            /* its writes the model expects of the step */
    uint64_t step_version; /* its version when the step began (1: made in it) */
    uint64_t version; /* as last read */
    size_t nhist;     /* its history as last read */
    ecom_order_state hist[MAX_HISTORY];
    uint64_t ev_version; /* of its last event read */
    size_t ev_states;    /* its "order.<state>" events read */
} m_order;

typedef struct m_key {
    char key[32];
    int cart, user, token; /* what the fingerprint covers */
    int order;             /* the order it made (a key that made none is not kept) */
    bool done;             /* finished (else released for a retry) */
    int result;            /* when done */
    int64_t created_at;
} m_key;

typedef struct model {
    m_cart carts[NCART];
    m_order orders[MAX_ORDERS];
    int norders;
    m_key keys[MAX_KEYS];
    int nkeys;
    int next_key;
    char refused[16][32]; /* keys of requests refused before they made an order */
    int nrefused;
    int64_t on_hand[NSKU];
    int64_t limit[NSKU]; /* purchase limits, 0 = none */
    uint64_t events_seen;
} model;

static model m;
static ecom_store *store;
static char store_dir[512];
static int64_t clock_ms;
static uint64_t cur_seed;
static int cur_step;
static bool trace, stats;
static bool host; /* the second run: a host provider (opts.payments), host_provider */
static char what[320];       /* the step being made */
static char recent[8][320]; /* the steps before it, a ring */
static unsigned nrecent;

/* What a run reached, printed per seed: calls and their answers, orders' last states. */
enum { C_CART, C_CHECKOUT, C_RETRY, C_TRANSITION, C_SHIP, C_CANCEL, C_REFUND, C_NOTIFY,
       C_RECOVER, C_CALLS };
static const char *const call_names[C_CALLS] = {"cart", "checkout", "retry", "transition",
                                                "ship", "cancel", "refund", "notify",
                                                "recover"};
static unsigned long calls[C_CALLS], calls_ok[C_CALLS];
static unsigned long answers[C_CALLS][48];

static void count(int call, int rc)
{
    calls[call]++;
    calls_ok[call] += rc == ECOM_OK;
    if (rc <= 0 && rc > -48)
        answers[call][-rc]++;
}

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return clock_ms;
}

static void on_violation(void *ctx, const char *message)
{
    (void)ctx;
    print_message("violation: %s\n", message);
}

/* ---- the host provider: what the store calls (opts.payments) ---- */

/* One order the provider was asked to authorize, with the plans drawn for its keys. */
typedef struct h_entry {
    char id[80];
    int64_t asked; /* the amount its authorize asked */
    h_plan plans[HK_KEYS];
    h_ledger l;
} h_entry;

static h_entry hp[MAX_ORDERS];
static int nhp;
static h_plan h_next[HK_KEYS]; /* the plans of the next order to authorize */
static bool h_next_ready;
static char h_breach[320];     /* the first call that broke the contract, if any */

static void breach(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void breach(const char *fmt, ...)
{
    if (h_breach[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h_breach, sizeof h_breach, fmt, ap);
    va_end(ap);
}

static h_entry *h_find(const char *id)
{
    for (int i = 0; i < nhp; i++)
        if (strcmp(hp[i].id, id) == 0)
            return &hp[i];
    return NULL;
}

/* The order a key names after its prefix (followed by end or ':'), and what follows. */
static h_entry *h_keyed(const char *key, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(key, prefix, n) != 0)
        return NULL;
    for (int i = 0; i < nhp; i++) {
        size_t len = strlen(hp[i].id);
        if (strncmp(key + n, hp[i].id, len) == 0 && (key[n + len] == '\0' ||
                                                     key[n + len] == ':')) {
            *rest = key + n + len;
            return &hp[i];
        }
    }
    return NULL;
}

/* The charge a call names is the order's. */
static void h_charge_ok(const h_entry *e, const char *charge, const char *call)
{
    char want[96];
    h_charge_id(want, sizeof want, e->id);
    if (charge == NULL || strcmp(charge, want) != 0)
        breach("%s of order %s names charge '%s'", call, e->id, charge ? charge : "(null)");
}

/* From the mark on, no path pays an order or starts a capture of it (docs/orders.md):
 * the order, as stored when the provider is asked, is neither marked nor cancelled. */
static void h_not_cancelling(const char *id, const char *call)
{
    ecom_order *o = NULL;
    if (ecom_order_get(&o, store, id) == ECOM_OK) {
        ecom_order_state st = ecom_order_get_state(o);
        if (st == ECOM_ORDER_CANCELLED ||
            (st == ECOM_ORDER_PENDING_PAYMENT && ecom_order_reason(o)[0]))
            breach("%s of order %s, %s (reason '%s')", call, id,
                   st == ECOM_ORDER_CANCELLED ? "cancelled" : "marked as being cancelled",
                   ecom_order_reason(o));
    } else {
        breach("%s of order %s, which cannot be read", call, id);
    }
    ecom_order_free(o);
}

static int hp_authorize(void *ctx, const ecom_payment_request *req, ecom_payment_result *out)
{
    (void)ctx;
    *out = (ecom_payment_result){0};
    h_entry *e = h_find(req->order_id);
    if (e == NULL) {
        if (!h_next_ready || nhp == MAX_ORDERS) {
            breach("authorize of order %s, not one the model made", req->order_id);
            return ECOM_EPAYMENT;
        }
        e = &hp[nhp++];
        *e = (h_entry){.asked = req->amount};
        snprintf(e->id, sizeof e->id, "%s", req->order_id);
        memcpy(e->plans, h_next, sizeof e->plans);
        h_next_ready = false;
    }
    char key[96];
    snprintf(key, sizeof key, "pay-%s", e->id);
    if (strcmp(req->idempotency_key, key) != 0 || req->capture != 1 ||
        req->amount != e->asked || req->amount <= 0)
        breach("authorize of order %s: key '%s', capture %d, amount %" PRId64 " (first %"
               PRId64 ")", e->id, req->idempotency_key, req->capture, req->amount, e->asked);
    h_not_cancelling(e->id, "authorize");
    return h_call(&e->l, e->plans, HK_AUTH, req->amount, e->id, out);
}

static int hp_capture(void *ctx, const char *charge, int64_t amount, const char *key,
                      ecom_payment_result *out)
{
    (void)ctx;
    *out = (ecom_payment_result){0};
    const char *rest = NULL;
    h_entry *e = h_keyed(key, "capture-", &rest);
    if (e == NULL || *rest) {
        breach("capture under key '%s'", key);
        return ECOM_EPAYMENT;
    }
    h_charge_ok(e, charge, "capture");
    if (amount != e->asked)
        breach("capture of order %s for %" PRId64 ", its total %" PRId64, e->id, amount,
               e->asked);
    h_not_cancelling(e->id, "capture");
    return h_call(&e->l, e->plans, HK_CAPTURE, amount, e->id, out);
}

static int hp_void(void *ctx, const char *charge, const char *key, ecom_payment_result *out)
{
    (void)ctx;
    *out = (ecom_payment_result){0};
    const char *rest = NULL;
    h_entry *e = h_keyed(key, "void-cancel-", &rest);
    if (e == NULL || *rest) {
        breach("void under key '%s'", key);
        return ECOM_EPAYMENT;
    }
    h_charge_ok(e, charge, "void");
    return h_call(&e->l, e->plans, HK_VOID, 0, e->id, out);
}

static int hp_refund(void *ctx, const char *charge, int64_t amount, const char *key,
                     ecom_payment_result *out)
{
    (void)ctx;
    *out = (ecom_payment_result){0};
    const char *rest = NULL;
    int k = -1;
    h_entry *e = h_keyed(key, "refund-void-", &rest);
    if (e && *rest == '\0') {
        k = HK_RVOID;
    } else if ((e = h_keyed(key, "refund-", &rest)) != NULL && *rest == ':') {
        char own[96];
        snprintf(own, sizeof own, "refund-cancel-%s", e->id);
        if (strcmp(rest + 1, own) == 0)
            k = HK_RCANCEL;
        else if (rest[1] == 'r' && rest[2] >= '0' && rest[2] <= '3' && rest[3] == '\0')
            k = HK_R0 + (rest[2] - '0');
    }
    if (k < 0) {
        breach("refund under key '%s'", key);
        return ECOM_EPAYMENT;
    }
    h_charge_ok(e, charge, "refund");
    const h_ledger *l = &e->l;
    if (!l->done[k] && (!l->captured || l->voided || amount <= 0 ||
                        h_refunds(l) + h_refund_void(l) + amount > l->captured_amount))
        breach("%s of order %s: %" PRId64 ", with %" PRId64 " captured%s and %" PRId64
               " refunded", hk_names[k], e->id, amount, l->captured_amount,
               l->voided ? " (voided)" : "", h_refunds(l) + h_refund_void(l));
    if (l->done[k] && l->ok[k] && amount != l->amount[k])
        breach("%s of order %s again, for %" PRId64 " (made for %" PRId64 ")", hk_names[k],
               e->id, amount, l->amount[k]);
    return h_call(&e->l, e->plans, k, amount, e->id, out);
}

static int hp_lookup(void *ctx, const char *key, ecom_payment_result *out)
{
    (void)ctx;
    *out = (ecom_payment_result){0};
    const char *rest = NULL;
    h_entry *e = h_keyed(key, "pay-", &rest);
    if (e == NULL || *rest)
        return ECOM_ENOTFOUND;
    return h_lookup(&e->l, e->id, out);
}

static const ecom_payment_provider host_provider = {
    ECOM_PAYMENT_PROVIDER_VERSION, "model", NULL, hp_authorize, hp_capture, hp_void,
    hp_refund, hp_lookup};

/* The plans of one order's keys, drawn by the run's generator. */
static void h_draw(h_plan plans[HK_KEYS])
{
    for (int k = 0; k < HK_KEYS; k++) {
        h_plan *p = &plans[k];
        *p = (h_plan){.fail_rc = chance(50) ? ECOM_ETIMEOUT : ECOM_EPAYMENT};
        int64_t r = below(100);
        switch (k) {
        case HK_AUTH: /* approved (captured or not, maybe partial or without an id),
                       * declined, failing a while or always */
            p->fails = r < 66 ? 0 : r < 80 ? 1 : r < 88 ? 2 : ALWAYS;
            p->approved = chance(82);
            p->captured = chance(55);
            p->short_by = chance(8) ? 1 + below(100) : 0;
            p->no_id = chance(6);
            break;
        case HK_CAPTURE:
            p->fails = r < 78 ? 0 : r < 95 ? 1 : ALWAYS;
            p->approved = chance(85);
            break;
        default: /* voids and refunds: approved, declined, failing a while */
            p->fails = r < 72 ? 0 : r < 92 ? 1 : 2;
            p->approved = chance(k == HK_VOID ? 60 : 85);
            break;
        }
    }
}

/* Fails naming the seed, the step and what it did, and the steps before it. */
#define FAIL(...)                                                                           \
    do {                                                                                    \
        char why_[512];                                                                     \
        snprintf(why_, sizeof why_, __VA_ARGS__);                                           \
        for (unsigned i_ = nrecent < 8 ? 0 : nrecent - 8; i_ < nrecent; i_++)               \
            print_message("  before: %s\n", recent[i_ % 8]);                                \
        if (cur_seed)                                                                       \
            fail_msg("%sseed %" PRIu64 " step %d (%s): %s [errmsg: %s]",                   \
                     host ? "host provider, " : "", cur_seed, cur_step, what, why_,         \
                     store ? ecom_errmsg(store) : "");                                      \
        fail_msg("%s: %s [errmsg: %s]", what, why_, store ? ecom_errmsg(store) : "");       \
    } while (0)

#define CHECK(cond, ...)       \
    do {                       \
        if (!(cond))           \
            FAIL(__VA_ARGS__); \
    } while (0)

static void step_begin(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void step_begin(const char *fmt, ...)
{
    snprintf(recent[nrecent++ % 8], sizeof recent[0], "%s", what);
    va_list ap;
    va_start(ap, fmt);
    int len = snprintf(what, sizeof what, "%d: ", cur_step);
    vsnprintf(what + len, sizeof what - (size_t)len, fmt, ap);
    va_end(ap);
    if (trace)
        print_message("[%" PRIu64 ":%d t=%" PRId64 "] %s\n", cur_seed, cur_step, clock_ms, what);
}

/* rc is documented for the call. */
static void documented(const char *call, const int *codes, int rc)
{
    CHECK(code_in(codes, rc), "%s answered %s (%d), a code its documentation does not give",
          call, ecom_strerror(rc), rc);
}

static void expect_rc(const char *call, int rc, int expected)
{
    CHECK(rc == expected, "%s answered %s, the model expects %s", call, ecom_strerror(rc),
          ecom_strerror(expected));
}

/* The most units a cart line (and an order line) of sku may hold now. */
static int64_t line_cap(int sku)
{
    return m.limit[sku] > 0 ? m.limit[sku] : ECOM_CART_QUANTITY_MAX;
}

static bool cart_empty(const m_cart *c)
{
    for (int i = 0; i < NSKU; i++)
        if (c->qty[i])
            return false;
    return true;
}

static void cart_normalize(m_cart *c)
{
    if (cart_empty(c))
        c->cur[0] = '\0';
}

/* Due: its hold's time is up (expires_at <= now), swept or not. */
static bool hold_due(const m_order *o)
{
    return o->created_at + HOLD_MS <= clock_ms;
}

/* Units a live (held, not due) hold keeps, and what holds due but not swept keep. */
static void held_units(int64_t live[NSKU], int64_t due[NSKU])
{
    for (int s = 0; s < NSKU; s++)
        live[s] = due[s] = 0;
    for (int i = 0; i < m.norders; i++) {
        const m_order *o = &m.orders[i];
        if (!o->held)
            continue;
        for (int s = 0; s < NSKU; s++)
            *(hold_due(o) ? &due[s] : &live[s]) += o->qty[s];
    }
}

static bool key_expired(const m_key *k)
{
    return k->created_at + KEY_TTL_MS <= clock_ms;
}

static m_key *find_key(const char *key)
{
    for (int i = 0; i < m.nkeys; i++)
        if (strcmp(m.keys[i].key, key) == 0)
            return &m.keys[i];
    return NULL;
}

static void forget_key(m_key *k)
{
    *k = m.keys[--m.nkeys];
}

/* What a paid order bought leaves its cart (ECOM_CART_TAKE), or the cart its lines
 * were merged into. */
static void model_take(const m_order *o)
{
    m_cart *c = &m.carts[o->cart];
    if (cart_empty(c) && c->into)
        c = &m.carts[c->into - 1];
    for (int s = 0; s < NSKU; s++)
        c->qty[s] = c->qty[s] > o->qty[s] ? c->qty[s] - o->qty[s] : 0;
    cart_normalize(c);
}

static void model_pay(m_order *o)
{
    o->state = ECOM_ORDER_PAID;
    o->held = false;
    o->paid = true;
    for (int s = 0; s < NSKU; s++)
        m.on_hand[s] -= o->qty[s];
    model_take(o);
}

/* A pending order cancelled: its hold ends, what its payment took is voided. */
static void model_cancel_pending(m_order *o)
{
    o->state = ECOM_ORDER_CANCELLED;
    o->held = false;
    if (o->charged)
        o->voided = true;
}

static int order_index(const char *id)
{
    for (int i = 0; i < m.norders; i++)
        if (strcmp(m.orders[i].id, id) == 0)
            return i;
    return -1;
}

/* Refunds reserved on the order and not confirmed (the host run). */
static int64_t rk_pending_sum(const m_order *o)
{
    int64_t sum = 0;
    for (int i = 0; i < o->refund_keys; i++)
        sum += o->rk_pending[i] ? o->rk_amount[i] : 0;
    return sum;
}

/* ---- checking the store against the model ---- */

static const unsigned legal_moves[] = {
    /* ecom.h, ecom_order_transition */
    [ECOM_ORDER_PENDING_PAYMENT] = 1u << ECOM_ORDER_PAID | 1u << ECOM_ORDER_CANCELLED,
    [ECOM_ORDER_PAID] = 1u << ECOM_ORDER_FULFILLING | 1u << ECOM_ORDER_CANCELLED,
    [ECOM_ORDER_FULFILLING] = 1u << ECOM_ORDER_PARTIALLY_SHIPPED | 1u << ECOM_ORDER_SHIPPED |
                              1u << ECOM_ORDER_CANCELLED,
    [ECOM_ORDER_PARTIALLY_SHIPPED] = 1u << ECOM_ORDER_PARTIALLY_SHIPPED |
                                     1u << ECOM_ORDER_SHIPPED,
    [ECOM_ORDER_SHIPPED] = 1u << ECOM_ORDER_DELIVERED | 1u << ECOM_ORDER_REFUNDED,
    [ECOM_ORDER_DELIVERED] = 1u << ECOM_ORDER_REFUNDED | 1u << ECOM_ORDER_PARTIALLY_REFUNDED,
    [ECOM_ORDER_CANCELLED] = 0,
    [ECOM_ORDER_REFUNDED] = 0,
    [ECOM_ORDER_PARTIALLY_REFUNDED] = 1u << ECOM_ORDER_PARTIALLY_REFUNDED |
                                      1u << ECOM_ORDER_REFUNDED,
};

static bool legal(ecom_order_state from, ecom_order_state to)
{
    return (unsigned)from <= ECOM_ORDER_PARTIALLY_REFUNDED &&
           (unsigned)to <= ECOM_ORDER_PARTIALLY_REFUNDED && (legal_moves[from] >> to & 1u);
}

static const char *sname(ecom_order_state s)
{
    const char *n = ecom_order_state_name(s);
    return n ? n : "?";
}

static int sku_index(const char *sku)
{
    for (int s = 0; s < NSKU; s++)
        if (sku && strcmp(catalog[s].sku, sku) == 0)
            return s;
    return -1;
}

typedef struct ledger {
    int charges, voids;     /* approved */
    int64_t charge_amount;  /* of the approved charge */
    char charge_id[80];     /* of the approved charge */
    int64_t refunds;        /* approved refunds, added up */
} ledger;

static void read_ledger(const char *id, ledger *l)
{
    ecom_payments *p = NULL;
    int rc = ecom_payments_list(&p, store, id);
    CHECK(rc == ECOM_OK, "ecom_payments_list(%s): %s", id, ecom_strerror(rc));
    *l = (ledger){0};
    for (size_t i = 0; i < ecom_payments_count(p); i++) {
        if (!ecom_payments_approved(p, i))
            continue;
        const char *kind = ecom_payments_kind(p, i);
        if (strcmp(kind, "charge") == 0) {
            l->charges++;
            l->charge_amount = ecom_payments_amount(p, i);
            snprintf(l->charge_id, sizeof l->charge_id, "%s", ecom_payments_charge_id(p, i));
        } else if (strcmp(kind, "void") == 0) {
            l->voids++;
        } else if (strcmp(kind, "refund") == 0) {
            l->refunds += ecom_payments_amount(p, i);
        }
    }
    ecom_payments_free(p);
}

/* The order's refunds, in its JSON, are the model's: each key, amount and whether it is
 * pending, in the order they were reserved. */
static void verify_refunds(const m_order *mo, const ecom_order *o)
{
    char want[1024];
    size_t len = (size_t)snprintf(want, sizeof want, "\"refunds\":[");
    for (int i = 0; i < mo->refund_keys && len < sizeof want; i++)
        len += (size_t)snprintf(want + len, sizeof want - len, "%s{\"key\":\"%s\",\"amount\":%"
                                PRId64 "%s}", i ? "," : "", mo->rk[i], mo->rk_amount[i],
                                mo->rk_pending[i] ? ",\"pending\":true" : "");
    if (len < sizeof want)
        snprintf(want + len, sizeof want - len, "]");
    char *json = NULL;
    CHECK(ecom_order_to_json(&json, o) == ECOM_OK, "order %s: to_json", mo->id);
    const char *got = strstr(json, "\"refunds\":[");
    char have[1024];
    snprintf(have, sizeof have, "%.*s", got ? (int)(strcspn(got, "]") + 1) : 4, got ? got : "none");
    free(json);
    CHECK(strcmp(have, want) == 0, "order %s: refunds %s, the model %s", mo->id, have, want);
}

/* The host provider's ledger of an order: what the model expects, call by call; and,
 * from the ledger and the order as stored, the money rules. */
static void verify_host_money(const m_order *mo, ecom_order_state st, const char *charge_id)
{
    CHECK(h_breach[0] == '\0', "the provider was called against its contract: %s", h_breach);
    const h_entry *e = h_find(mo->id);
    CHECK(e != NULL, "order %s: the provider was never asked to authorize it", mo->id);
    const h_ledger *a = &e->l, *x = &mo->hx;
    for (int k = 0; k < HK_KEYS; k++)
        CHECK(a->calls[k] == x->calls[k] && a->done[k] == x->done[k] && a->ok[k] == x->ok[k] &&
                  a->amount[k] == x->amount[k],
              "order %s: %s called %d time(s) (%s, %s, %" PRId64 "); the model: %d (%s, %s, %"
              PRId64 ")", mo->id, hk_names[k], a->calls[k], a->done[k] ? "made" : "not made",
              a->ok[k] ? "approved" : "not approved", a->amount[k], x->calls[k],
              x->done[k] ? "made" : "not made", x->ok[k] ? "approved" : "not approved",
              x->amount[k]);
    CHECK(a->captured == x->captured && a->voided == x->voided &&
              a->captured_amount == x->captured_amount, "order %s: captured %d (%" PRId64
          "), voided %d; the model %d (%" PRId64 "), %d", mo->id, a->captured,
          a->captured_amount, a->voided, x->captured, x->captured_amount, x->voided);
    /* One authorization (its key is the order's own: any other was a breach), and: */
    bool authorized = h_authorized(a);
    int64_t refunds = h_refunds(a), rvoid = h_refund_void(a);
    int64_t pending = rk_pending_sum(mo); /* the store's, as verify_refunds found */
    if (st != ECOM_ORDER_PENDING_PAYMENT && st != ECOM_ORDER_CANCELLED)
        /* paid or further along: its authorization, for its total, captured for its
         * total, not voided */
        CHECK(authorized && a->amount[HK_AUTH] == mo->total && a->captured &&
                  a->captured_amount == mo->total && !a->voided && rvoid == 0,
              "order %s is %s: authorized %d for %" PRId64 ", captured %d for %" PRId64
              ", voided %d, refunded as a void %" PRId64 "; its total %" PRId64, mo->id,
              sname(st), authorized, a->amount[HK_AUTH], a->captured, a->captured_amount,
              a->voided, rvoid, mo->total);
    if (st == ECOM_ORDER_CANCELLED && a->captured) /* the money taken given back */
        CHECK(a->voided || refunds + rvoid == a->captured_amount, "order %s is cancelled, "
              "its %" PRId64 " captured neither voided nor refunded in full (%" PRId64 ")",
              mo->id, a->captured_amount, refunds + rvoid);
    if (st == ECOM_ORDER_CANCELLED && authorized && !a->captured)
        CHECK(a->voided, "order %s is cancelled, its authorization not voided", mo->id);
    /* Refunds made: the confirmed ones, and at most the pending ones besides. */
    CHECK(refunds >= mo->refunded && refunds <= mo->refunded + pending, "order %s: the "
          "provider refunded %" PRId64 ", the order %" PRId64 " confirmed and %" PRId64
          " pending", mo->id, refunds, mo->refunded, pending);
    char want[96];
    h_charge_id(want, sizeof want, mo->id);
    if (mo->paid)
        CHECK(strcmp(charge_id, want) == 0, "order %s: charge id '%s', the provider's '%s'",
              mo->id, charge_id, want);
    else
        CHECK(charge_id[0] == '\0', "order %s never paid has charge id '%s'", mo->id,
              charge_id);
}

static void verify_order(m_order *mo)
{
    ecom_order *o = NULL;
    int rc = ecom_order_get(&o, store, mo->id);
    CHECK(rc == ECOM_OK, "order %s: get: %s", mo->id, ecom_strerror(rc));
    ecom_order_state st = ecom_order_get_state(o);
    uint64_t version = ecom_order_version(o);
    size_t nh = ecom_order_history_count(o);
    CHECK(st == mo->state, "order %s is %s, the model says %s", mo->id, sname(st),
          sname(mo->state));
    CHECK(version >= mo->version, "order %s: version went back from %" PRIu64 " to %" PRIu64,
          mo->id, mo->version, version);
    /* The history only grows, along the state machine, and ends in the state. */
    CHECK(nh >= 1 && nh <= MAX_HISTORY, "order %s: %zu history entries", mo->id, nh);
    CHECK(nh >= mo->nhist, "order %s: history shrank from %zu to %zu", mo->id, mo->nhist, nh);
    CHECK(nh == mo->nhist || version > mo->version,
          "order %s: history grew at the same version %" PRIu64, mo->id, version);
    for (size_t i = 0; i < nh; i++) {
        ecom_order_state h = ecom_order_history_state(o, i);
        if (i < mo->nhist)
            CHECK(h == mo->hist[i], "order %s: history[%zu] was %s, is now %s", mo->id, i,
                  sname(mo->hist[i]), sname(h));
        if (i == 0)
            CHECK(h == ECOM_ORDER_PENDING_PAYMENT, "order %s: history starts at %s", mo->id,
                  sname(h));
        else
            CHECK(legal(mo->hist[i - 1], h), "order %s: history[%zu] moves %s -> %s, not a move "
                  "of the state machine", mo->id, i, sname(mo->hist[i - 1]), sname(h));
        mo->hist[i] = h;
    }
    CHECK(mo->hist[nh - 1] == st, "order %s: history ends at %s, state %s", mo->id,
          sname(mo->hist[nh - 1]), sname(st));
    mo->nhist = nh;
    mo->version = version;
    /* The host run: each write the model expects is one version, and no other. */
    CHECK(!host || version - mo->step_version == (uint64_t)mo->writes, "order %s moved from "
          "version %" PRIu64 " to %" PRIu64 " in this step, the model expects %d write(s)",
          mo->id, mo->step_version, version, mo->writes);
    /* Lines, money. */
    CHECK(strcmp(ecom_order_user(o), users[mo->user]) == 0 &&
              ecom_order_created_at(o) == mo->created_at &&
              strcmp(ecom_order_currency(o), mo->cur) == 0,
          "order %s: user %s, created at %" PRId64 ", in %s", mo->id, ecom_order_user(o),
          ecom_order_created_at(o), ecom_order_currency(o));
    CHECK(ecom_order_total(o) == mo->total, "order %s: total %" PRId64 ", the model %" PRId64,
          mo->id, ecom_order_total(o), mo->total);
    /* Why it was cancelled is kept; an order pending payment is not being cancelled. */
    const char *reason = ecom_order_reason(o);
    CHECK(st != ECOM_ORDER_CANCELLED || reason[0], "order %s is cancelled with no reason",
          mo->id);
    CHECK(st != ECOM_ORDER_PENDING_PAYMENT || (reason[0] != '\0') == mo->marked,
          "order %s is pending with reason '%s', the model says %s", mo->id, reason,
          mo->marked ? "marked as being cancelled" : "not marked");
    char charge_id[80];
    snprintf(charge_id, sizeof charge_id, "%s", ecom_order_charge_id(o));
    CHECK(ecom_order_refunded(o) == mo->refunded,
          "order %s: refunded %" PRId64 ", the model %" PRId64, mo->id, ecom_order_refunded(o),
          mo->refunded);
    CHECK(mo->refunded >= 0 && mo->refunded <= mo->total, "order %s: refunded %" PRId64
          " of %" PRId64, mo->id, mo->refunded, mo->total);
    int64_t qty[NSKU] = {0}, shipped[NSKU] = {0};
    for (size_t i = 0; i < ecom_order_line_count(o); i++) {
        int s = sku_index(ecom_order_line_sku(o, i));
        CHECK(s >= 0 && qty[s] == 0, "order %s: line %zu", mo->id, i);
        qty[s] = ecom_order_line_quantity(o, i);
        shipped[s] = ecom_order_line_shipped(o, i);
        CHECK(ecom_order_line_unit_price(o, i) == price_in(s, mo->cur),
              "order %s: %s at %" PRId64, mo->id, catalog[s].sku,
              ecom_order_line_unit_price(o, i));
    }
    for (int s = 0; s < NSKU; s++)
        CHECK(qty[s] == mo->qty[s] && shipped[s] == mo->shipped[s],
              "order %s: %s %" PRId64 " (shipped %" PRId64 "), the model %" PRId64
              " (shipped %" PRId64 ")", mo->id, catalog[s].sku, qty[s], shipped[s], mo->qty[s],
              mo->shipped[s]);
    if (host)
        verify_refunds(mo, o);
    ecom_order_free(o);

    /* The test provider's ledger of it: empty with a host provider, whose own is
     * compared instead. */
    ledger l;
    read_ledger(mo->id, &l);
    if (host) {
        CHECK(l.charges == 0 && l.voids == 0 && l.refunds == 0, "order %s: the built-in "
              "provider's ledger has %d charge(s) with a host provider", mo->id, l.charges);
        verify_host_money(mo, st, charge_id);
        return;
    }
    CHECK(l.charges <= 1, "order %s: %d approved charges", mo->id, l.charges);
    CHECK(l.voids <= 1, "order %s: %d approved voids", mo->id, l.voids);
    CHECK(l.charges == (int)mo->charged && l.voids == (int)mo->voided &&
              l.refunds == mo->ledger_refunds,
          "order %s: ledger has %d charge(s), %d void(s), %" PRId64 " refunded; the model %d, "
          "%d, %" PRId64, mo->id, l.charges, l.voids, l.refunds, (int)mo->charged,
          (int)mo->voided, mo->ledger_refunds);
    if (l.charges)
        CHECK(l.charge_amount == mo->total, "order %s: charged %" PRId64 " of %" PRId64, mo->id,
              l.charge_amount, mo->total);
    /* "" until charged (paid): then the ledger's approved charge. */
    if (mo->paid)
        CHECK(l.charges == 1 && strcmp(charge_id, l.charge_id) == 0, "order %s: charge id '%s', "
              "the ledger's '%s'", mo->id, charge_id, l.charge_id);
    else
        CHECK(charge_id[0] == '\0', "order %s never paid has charge id '%s'", mo->id,
              charge_id);
    bool charged_state = st != ECOM_ORDER_PENDING_PAYMENT && st != ECOM_ORDER_CANCELLED;
    if (charged_state)
        CHECK(l.charges == 1 && l.voids == 0, "order %s is %s with %d approved charge(s) and %d "
              "void(s)", mo->id, sname(st), l.charges, l.voids);
    if (st == ECOM_ORDER_CANCELLED && l.charges)
        CHECK(l.voids == 1 || l.refunds >= l.charge_amount, "order %s is cancelled but its "
              "charge of %" PRId64 " is neither voided nor refunded (%" PRId64 ")", mo->id,
              l.charge_amount, l.refunds);
    CHECK(l.refunds <= mo->total, "order %s: the ledger refunded %" PRId64 " of %" PRId64,
          mo->id, l.refunds, mo->total);
}

static void verify_cart(int c)
{
    ecom_cart *cart = NULL;
    int rc = ecom_cart_get(&cart, store, cart_names[c]);
    CHECK(rc == ECOM_OK, "cart %s: %s", cart_names[c], ecom_strerror(rc));
    const m_cart *mc = &m.carts[c];
    CHECK(strcmp(ecom_cart_currency(cart), mc->cur) == 0, "cart %s in '%s', the model '%s'",
          cart_names[c], ecom_cart_currency(cart), mc->cur);
    int64_t qty[NSKU] = {0};
    for (size_t i = 0; i < ecom_cart_line_count(cart); i++) {
        int s = sku_index(ecom_cart_line_sku(cart, i));
        CHECK(s >= 0 && qty[s] == 0, "cart %s: line %zu", cart_names[c], i);
        qty[s] = ecom_cart_line_quantity(cart, i);
        CHECK(ecom_cart_line_unit_price(cart, i) == price_in(s, mc->cur),
              "cart %s: %s at %" PRId64, cart_names[c], catalog[s].sku,
              ecom_cart_line_unit_price(cart, i));
    }
    ecom_cart_free(cart);
    for (int s = 0; s < NSKU; s++)
        CHECK(qty[s] == mc->qty[s], "cart %s: %s x%" PRId64 ", the model x%" PRId64,
              cart_names[c], catalog[s].sku, qty[s], mc->qty[s]);
}

static void verify_stock(void)
{
    int64_t live[NSKU], due[NSKU];
    held_units(live, due);
    for (int s = 0; s < NSKU; s++) {
        ecom_stock *st = NULL;
        int rc = ecom_stock_get(&st, store, catalog[s].sku, NULL);
        CHECK(rc == ECOM_OK, "stock %s: %s", catalog[s].sku, ecom_strerror(rc));
        int64_t on_hand = ecom_stock_on_hand(st), reserved = ecom_stock_reserved(st);
        ecom_stock_free(st);
        /* on_hand: what was received less what paid orders not cancelled took. */
        int64_t sold = 0;
        for (int i = 0; i < m.norders; i++)
            if (m.orders[i].paid && m.orders[i].state != ECOM_ORDER_CANCELLED)
                sold += m.orders[i].qty[s];
        CHECK(m.on_hand[s] == catalog[s].stock - sold, "model: %s", catalog[s].sku);
        CHECK(on_hand == m.on_hand[s], "%s: on_hand %" PRId64 ", the model %" PRId64
              " (received %" PRId64 ", sold %" PRId64 ")", catalog[s].sku, on_hand, m.on_hand[s],
              catalog[s].stock, sold);
        /* reserved: the live holds of orders pending payment, and those due but not
         * swept yet (ended lazily by any inventory write). */
        CHECK(reserved >= live[s] && reserved <= live[s] + due[s],
              "%s: reserved %" PRId64 ", the model %" PRId64 " held live and %" PRId64
              " due", catalog[s].sku, reserved, live[s], due[s]);
        CHECK(reserved >= 0 && reserved <= on_hand, "%s: reserved %" PRId64 ", on_hand %" PRId64,
              catalog[s].sku, reserved, on_hand);
    }
}

/* Orders listed (all, one user's, or in one state), each checked to be what it was
 * listed as; how many. */
static size_t listed(int user, int state)
{
    ecom_order_list_options lo = ECOM_ORDER_LIST_OPTIONS_INIT;
    lo.limit = 1000;
    lo.user = user >= 0 ? users[user] : NULL;
    lo.state = state;
    ecom_order_page *page = NULL;
    int rc = ecom_order_list(&page, store, &lo);
    CHECK(rc == ECOM_OK, "order list: %s", ecom_strerror(rc));
    size_t n = ecom_order_page_count(page);
    CHECK(ecom_order_page_next_cursor(page) == NULL, "more than 1000 orders");
    for (size_t i = 0; i < n; i++) {
        const ecom_order *o = ecom_order_page_order(page, i);
        int k = order_index(ecom_order_id(o));
        CHECK(k >= 0, "listed an order the model does not know: %s", ecom_order_id(o));
        CHECK(state < 0 || (ecom_order_get_state(o) == (ecom_order_state)state &&
                            m.orders[k].state == (ecom_order_state)state),
              "order %s listed as %s is %s", ecom_order_id(o), sname((ecom_order_state)state),
              sname(m.orders[k].state));
        CHECK(user < 0 || (strcmp(ecom_order_user(o), users[user]) == 0 &&
                           m.orders[k].user == user),
              "order %s listed for %s", ecom_order_id(o), users[user]);
    }
    ecom_order_page_free(page);
    return n;
}

/* Every order once, in the listing of all, of its user and of its state. */
static void verify_lists(void)
{
    size_t all = listed(-1, -1);
    CHECK(all == (size_t)m.norders, "%zu orders listed, the model has %d", all, m.norders);
    size_t by_user = 0, by_state = 0;
    for (int u = 0; u < NUSER; u++) {
        size_t n = listed(u, -1), want = 0;
        for (int i = 0; i < m.norders; i++)
            want += m.orders[i].user == u;
        CHECK(n == want, "%zu orders listed for %s, the model has %zu", n, users[u], want);
        by_user += n;
    }
    for (int st = 0; st <= ECOM_ORDER_PARTIALLY_REFUNDED; st++) {
        size_t n = listed(-1, st), want = 0;
        for (int i = 0; i < m.norders; i++)
            want += m.orders[i].state == (ecom_order_state)st;
        CHECK(n == want, "%zu orders listed as %s, the model has %zu", n,
              sname((ecom_order_state)st), want);
        by_state += n;
    }
    CHECK(by_user == all && by_state == all, "listings disagree");
}

static bool state_named(const char *name, ecom_order_state *st)
{
    for (int i = 0; i <= ECOM_ORDER_PARTIALLY_REFUNDED; i++)
        if (strcmp(name, sname((ecom_order_state)i)) == 0) {
            *st = (ecom_order_state)i;
            return true;
        }
    return false;
}

/* The event log, read on from where the last step left it: each write of an order
 * appends one event carrying its new version (1 at creation, then one more each time),
 * and each move of its history an "order.<state>" event, in the same unit (ecom.h). */
static void verify_events(void)
{
    for (;;) {
        ecom_events *e = NULL;
        int rc = ecom_events_read(&e, store, m.events_seen, 500);
        CHECK(rc == ECOM_OK, "events read: %s", ecom_strerror(rc));
        size_t n = ecom_events_count(e);
        for (size_t i = 0; i < n; i++) {
            uint64_t seq = ecom_events_seq(e, i);
            CHECK(seq == m.events_seen + 1, "event %" PRIu64 " after %" PRIu64, seq,
                  m.events_seen);
            m.events_seen = seq;
            const char *type = ecom_events_type(e, i), *key = ecom_events_key(e, i);
            if (strncmp(type, "order.", 6) != 0)
                continue;
            int k = order_index(key);
            CHECK(k >= 0, "event %" PRIu64 " %s of an order the model does not know: %s", seq,
                  type, key);
            m_order *mo = &m.orders[k];
            uint64_t version = ecom_events_version(e, i);
            CHECK(version == mo->ev_version + 1, "event %" PRIu64 " %s of %s at version %" PRIu64
                  " after %" PRIu64, seq, type, key, version, mo->ev_version);
            mo->ev_version = version;
            ecom_order_state st;
            if (version == 1) {
                CHECK(strcmp(type, "order.created") == 0, "%s's first event is %s", key, type);
            } else if (state_named(type + 6, &st)) {
                size_t h = ++mo->ev_states;
                CHECK(h < mo->nhist && mo->hist[h] == st, "event %" PRIu64 " %s of %s, but its "
                      "history[%zu] is %s", seq, type, key, h,
                      h < mo->nhist ? sname(mo->hist[h]) : "not there");
            } else {
                CHECK(strcmp(type + 6, "cancelling") == 0 ||
                          strcmp(type + 6, "refund_pending") == 0 ||
                          strcmp(type + 6, "refund_confirmed") == 0 ||
                          strcmp(type + 6, "refund_refused") == 0,
                      "event %" PRIu64 ": unknown type %s", seq, type);
            }
        }
        ecom_events_free(e);
        if (n < 500)
            break;
    }
    for (int i = 0; i < m.norders; i++) {
        const m_order *mo = &m.orders[i];
        CHECK(mo->ev_version == mo->version, "order %s at version %" PRIu64 ", its last event "
              "at %" PRIu64, mo->id, mo->version, mo->ev_version);
        CHECK(mo->ev_states + 1 == mo->nhist, "order %s: %zu moves in its history, %zu "
              "events of them", mo->id, mo->nhist - 1, mo->ev_states);
    }
}

static void verify_all(void)
{
    uint64_t violations = 99;
    int rc = ecom_check(&violations, store, on_violation, NULL);
    CHECK(rc == ECOM_OK, "ecom_check: %s", ecom_strerror(rc));
    CHECK(violations == 0, "ecom_check found %" PRIu64 " violation(s) (printed above)",
          violations);
    for (int i = 0; i < m.norders; i++)
        verify_order(&m.orders[i]);
    /* Every order the host provider was asked about is one the model made. */
    CHECK(!host || nhp == m.norders, "the provider saw %d orders, the model made %d", nhp,
          m.norders);
    verify_lists();
    verify_events();
    for (int c = 0; c < NCART; c++)
        verify_cart(c);
    verify_stock();
}

/* ---- choosing ---- */

/* A random order, preferably one in a state of mask (bits of ecom_order_state). */
static m_order *pick_order(unsigned mask, int prefer_percent)
{
    if (m.norders == 0)
        return NULL;
    if (chance(prefer_percent)) {
        int n = 0;
        for (int i = 0; i < m.norders; i++)
            n += (mask >> m.orders[i].state) & 1u;
        if (n > 0) {
            int k = (int)below(n);
            for (int i = 0; i < m.norders; i++)
                if (((mask >> m.orders[i].state) & 1u) && k-- == 0)
                    return &m.orders[i];
        }
    }
    return &m.orders[below(m.norders)];
}

#define ST(x) (1u << ECOM_ORDER_##x)

typedef enum vmode { V_ANY, V_CURRENT, V_STALE } vmode;

static vmode pick_vmode(void)
{
    int64_t r = below(10);
    return r < 5 ? V_ANY : r < 8 ? V_CURRENT : V_STALE;
}

static uint64_t version_for(const m_order *o, vmode v)
{
    switch (v) {
    case V_ANY: return ECOM_VERSION_ANY;
    case V_CURRENT: return o->version;
    default:
        if (o->version > 1 && chance(70))
            return o->version - 1;
        return chance(50) ? 0 : o->version + 3;
    }
}

static const char *vname(vmode v)
{
    return v == V_ANY ? "any" : v == V_CURRENT ? "current" : "stale";
}

/* After a refused call: the order as it was, its version too. */
static void unchanged(m_order *o, uint64_t version, const char *call)
{
    verify_order(o);
    CHECK(o->version == version, "%s changed the version (%" PRIu64 " -> %" PRIu64 ") but "
          "the model says nothing changed", call, version, o->version);
}

/* ---- the operations: each returns false when it found nothing to act on ---- */

static bool op_cart_put(bool set)
{
    int c = (int)below(NCART), s = (int)below(NSKU);
    m_cart *mc = &m.carts[c];
    const char *cur = mc->cur[0] && chance(85) ? mc->cur : chance(75) ? "USD" : "EUR";
    int64_t q = set ? below(5) : 1 + below(3);
    step_begin("cart %s %s %s x%" PRId64 " %s", set ? "set" : "add", cart_names[c],
               catalog[s].sku, q, cur);
    int64_t now_qty = set ? q : mc->qty[s] + q;
    bool no_price = price_in(s, cur) < 0, mixed = mc->cur[0] && strcmp(mc->cur, cur) != 0;
    int rc = set ? ecom_cart_set(store, cart_names[c], catalog[s].sku, q, cur)
                 : ecom_cart_add(store, cart_names[c], catalog[s].sku, q, cur);
    count(C_CART, rc);
    documented(set ? "ecom_cart_set" : "ecom_cart_add", cart_put_codes, rc);
    if (set && q == 0) { /* a removal: any currency, no line is fine */
        expect_rc("cart set 0", rc, ECOM_OK);
        mc->into = 0;
        mc->qty[s] = 0;
        cart_normalize(mc);
        return true;
    }
    if (no_price && mixed) /* both apply: the documentation gives no precedence */
        CHECK(rc == ECOM_ECURRENCY || rc == ECOM_EMIXEDCURRENCY, "got %s", ecom_strerror(rc));
    else if (no_price)
        expect_rc("cart put", rc, ECOM_ECURRENCY);
    else if (mixed)
        expect_rc("cart put", rc, ECOM_EMIXEDCURRENCY);
    else if (now_qty > line_cap(s))
        expect_rc("cart put", rc, ECOM_ELIMIT);
    else
        expect_rc("cart put", rc, ECOM_OK);
    if (rc != ECOM_OK)
        return true;
    mc->into = 0; /* a write ends a forward */
    mc->qty[s] = now_qty;
    if (mc->cur[0] == '\0')
        memcpy(mc->cur, cur, sizeof mc->cur);
    return true;
}

static bool op_cart_remove(void)
{
    int c = (int)below(NCART), s = (int)below(NSKU);
    step_begin("cart remove %s %s", cart_names[c], catalog[s].sku);
    int rc = ecom_cart_remove(store, cart_names[c], catalog[s].sku);
    count(C_CART, rc);
    documented("ecom_cart_remove", cart_remove_codes, rc);
    expect_rc("cart remove", rc, m.carts[c].qty[s] ? ECOM_OK : ECOM_ENOTFOUND);
    m.carts[c].qty[s] = 0;
    cart_normalize(&m.carts[c]);
    return true;
}

static bool op_cart_merge(void)
{
    int g = NUSER + (int)below(NCART - NUSER), u = (int)below(NUSER);
    step_begin("cart merge %s into %s", cart_names[g], cart_names[u]);
    m_cart *gc = &m.carts[g], *uc = &m.carts[u];
    int rc = ecom_cart_merge(store, cart_names[g], cart_names[u]);
    count(C_CART, rc);
    documented("ecom_cart_merge", cart_merge_codes, rc);
    if (!cart_empty(gc) && !cart_empty(uc) && strcmp(gc->cur, uc->cur) != 0) {
        expect_rc("cart merge", rc, ECOM_EMIXEDCURRENCY);
        return true;
    }
    expect_rc("cart merge", rc, ECOM_OK);
    if (cart_empty(gc))
        return true;
    if (cart_empty(uc))
        memcpy(uc->cur, gc->cur, sizeof uc->cur);
    int64_t kept[NSKU];
    bool either[NSKU] = {false};
    for (int s = 0; s < NSKU; s++) {
        int64_t q = uc->qty[s] + gc->qty[s];
        /* A user's line over a limit lowered since, with no guest line to sum it with:
         * "quantities of the same SKU are summed (capped ...)" does not say whether it
         * is capped too, so either is taken. */
        either[s] = gc->qty[s] == 0 && q > line_cap(s);
        kept[s] = uc->qty[s];
        uc->qty[s] = q > line_cap(s) ? line_cap(s) : q;
        gc->qty[s] = 0;
    }
    cart_normalize(gc);
    gc->into = 1 + u;
    ecom_cart *cart = NULL;
    CHECK(ecom_cart_get(&cart, store, cart_names[u]) == ECOM_OK, "cart get");
    for (size_t i = 0; i < ecom_cart_line_count(cart); i++) {
        int s = sku_index(ecom_cart_line_sku(cart, i));
        int64_t q = ecom_cart_line_quantity(cart, i);
        if (s >= 0 && either[s] && q == kept[s])
            uc->qty[s] = q;
    }
    ecom_cart_free(cart);
    return true;
}

static bool op_limit(void)
{
    static const int64_t limits[] = {0, 2, 3, 4, 6};
    int s = (int)below(2); /* lamp or mug */
    int64_t limit = limits[below(5)];
    step_begin("purchase limit of %s: %" PRId64, catalog[s].sku, limit);
    int rc = ecom_stock_set_purchase_limit(store, catalog[s].sku, limit);
    documented("ecom_stock_set_purchase_limit", limit_codes, rc);
    expect_rc("purchase limit", rc, ECOM_OK);
    m.limit[s] = limit;
    return true;
}

static int64_t total_of(const m_cart *c)
{
    int64_t subtotal = 0;
    for (int s = 0; s < NSKU; s++)
        subtotal += c->qty[s] * price_in(s, c->cur);
    int64_t tax = subtotal / 10000 * TAX_BP + (subtotal % 10000 * TAX_BP + 5000) / 10000;
    return subtotal + SHIPPING + tax;
}

/* ---- what the store does with a host provider, call by call: the model of the second
 * run (docs/checkout.md "One completion path"; docs/orders.md, cancelling an order
 * pending payment, and refunds). Each returns the answer expected, plays the provider's
 * calls on the order's expected ledger, and counts the order's writes in o->writes. ---- */

static int sim_call(m_order *o, int k, int64_t amount, ecom_payment_result *res)
{
    return h_call(&o->hx, o->plans, k, amount, o->id, res);
}

/* What the payment took is given back: looked up by the payment key, voided under
 * "void-cancel-O", or, the void declined, refunded in full under "refund-void-O". */
static int sim_void_charge(m_order *o)
{
    ecom_payment_result res;
    int rc = h_lookup(&o->hx, o->id, &res);
    if (rc == ECOM_ENOTFOUND || !res.approved)
        return ECOM_OK;
    int64_t amount = res.amount > 0 ? res.amount : o->total;
    rc = sim_call(o, HK_VOID, 0, &res);
    if (rc == ECOM_OK && res.approved)
        return ECOM_OK;
    if (rc == ECOM_OK) {
        rc = sim_call(o, HK_RVOID, amount, &res);
        if (rc == ECOM_OK && res.approved)
            return ECOM_OK;
    }
    return rc == ECOM_ETIMEOUT ? ECOM_ETIMEOUT : ECOM_EPAYMENT;
}

/* A cancel of an order pending payment: marked (unless it is), voided, cancelled. A
 * void that fails leaves the mark. */
static int sim_cancel_and_void(m_order *o, int why)
{
    if (!o->marked) {
        o->marked = true;
        o->mark_why = why;
        o->writes++;
    }
    int rc = sim_void_charge(o);
    if (rc != ECOM_OK)
        return rc;
    o->state = ECOM_ORDER_CANCELLED;
    o->held = false;
    o->writes++;
    return ECOM_OK;
}

/* A pending order cancelled at once (a declined authorize; the sweep finding nothing
 * approved): nothing to give back. */
static void sim_cancel_unmarked(m_order *o)
{
    o->state = ECOM_ORDER_CANCELLED;
    o->held = false;
    o->writes++;
}

/* One who finishes a cancel it found marked answers ECOM_ESTATE, the cancel's reason in
 * the message, whatever began it (docs/checkout.md, "One completion path"). */
static int sim_finish_cancelling(m_order *o)
{
    int rc = sim_cancel_and_void(o, o->mark_why);
    return rc == ECOM_OK ? ECOM_ESTATE : rc;
}

/* Found cancelled while its payment ran: what that payment took is voided (an order
 * paid before its cancel was refunded by it). */
static int sim_cancelled_meanwhile(m_order *o)
{
    int rc = o->paid ? ECOM_OK : sim_void_charge(o);
    return rc == ECOM_OK ? ECOM_ESTATE : rc;
}

/* An approval that cannot pay the order (its capture declined, another amount): the
 * order is cancelled like a declined payment, what it took voided; ECOM_EDECLINED. */
static int sim_refuse(m_order *o)
{
    int rc = sim_cancel_and_void(o, MARK_REFUSED);
    return rc == ECOM_OK ? ECOM_EDECLINED : rc;
}

static int sim_capture_and_complete(m_order *o, const ecom_payment_result *auth)
{
    if (o->state == ECOM_ORDER_PENDING_PAYMENT && o->marked)
        return sim_finish_cancelling(o);
    if (o->state != ECOM_ORDER_PENDING_PAYMENT)
        return o->state == ECOM_ORDER_CANCELLED ? sim_cancelled_meanwhile(o) : ECOM_OK;
    if (auth->charge_id[0] == '\0') /* breaks the contract: stays pending */
        return ECOM_EPAYMENT;
    if (auth->amount > 0 && auth->amount != o->total)
        return sim_refuse(o);
    if (!auth->captured) {
        ecom_payment_result cap;
        int rc = sim_call(o, HK_CAPTURE, o->total, &cap);
        if (rc != ECOM_OK)
            return rc == ECOM_ETIMEOUT ? rc : ECOM_EPAYMENT;
        if (!cap.approved)
            return sim_refuse(o);
    }
    if (hold_due(o)) { /* the hold ended while paying: cancelled, voided */
        int rc = sim_cancel_and_void(o, MARK_HOLD);
        return rc == ECOM_OK ? ECOM_EEXPIRED : rc;
    }
    model_pay(o);
    o->writes++;
    return ECOM_OK;
}

/* The checkout's payment: authorize (automatic capture asked), then capture if needed. */
static int sim_pay(m_order *o)
{
    if (o->marked)
        return sim_finish_cancelling(o);
    ecom_payment_result res;
    int rc = sim_call(o, HK_AUTH, o->total, &res);
    if (rc != ECOM_OK)
        return rc; /* ETIMEOUT or EPAYMENT: the key released, the order pending */
    if (!res.approved) {
        sim_cancel_unmarked(o);
        return ECOM_EDECLINED;
    }
    return sim_capture_and_complete(o, &res);
}

/* A retry of a key released with its order. */
static int sim_resume(m_order *o)
{
    switch (o->state) {
    case ECOM_ORDER_PENDING_PAYMENT: return sim_pay(o);
    case ECOM_ORDER_CANCELLED: return sim_cancelled_meanwhile(o);
    default: return ECOM_OK;
    }
}

static int sim_notify(m_order *o, bool approved)
{
    if (o->state == ECOM_ORDER_CANCELLED)
        return sim_cancelled_meanwhile(o);
    if (o->state != ECOM_ORDER_PENDING_PAYMENT)
        return approved ? ECOM_OK : ECOM_ESTATE; /* stale */
    if (!approved)
        return sim_cancel_and_void(o, MARK_CANCEL);
    if (o->marked)
        return sim_finish_cancelling(o);
    ecom_payment_result res;
    int rc = h_lookup(&o->hx, o->id, &res);
    if (rc == ECOM_ENOTFOUND || !res.approved) /* not borne out: stays pending */
        return ECOM_EPAYMENT;
    return sim_capture_and_complete(o, &res);
}

/* One order the recovery sweep meets: ECOM_OK if it finished it. */
static int sim_recover_one(m_order *o)
{
    if (o->marked)
        return sim_cancel_and_void(o, o->mark_why);
    ecom_payment_result res;
    int rc = h_lookup(&o->hx, o->id, &res);
    if (rc == ECOM_ENOTFOUND) /* marked first: a charge landing meanwhile is voided */
        return sim_cancel_and_void(o, MARK_ABANDONED);
    if (!res.approved) {
        sim_cancel_unmarked(o);
        return ECOM_OK;
    }
    rc = sim_capture_and_complete(o, &res);
    return rc == ECOM_EDECLINED || rc == ECOM_EEXPIRED || rc == ECOM_ESTATE ? ECOM_OK : rc;
}

static int rk_find(const m_order *o, const char *key)
{
    for (int i = 0; i < o->refund_keys; i++)
        if (strcmp(o->rk[i], key) == 0)
            return i;
    return -1;
}

/* A refund reserved, pending (step 1). */
static int rk_reserve(m_order *o, const char *key, int64_t amount)
{
    CHECK(o->refund_keys < MAX_REFUND_KEYS, "model: refund keys");
    int i = o->refund_keys++;
    snprintf(o->rk[i], sizeof o->rk[i], "%s", key);
    o->rk_amount[i] = amount;
    o->rk_pending[i] = true;
    o->writes++;
    return i;
}

/* Refused by the provider: forgotten. */
static void rk_drop(m_order *o, int i)
{
    for (int j = i; j + 1 < o->refund_keys; j++) {
        memcpy(o->rk[j], o->rk[j + 1], sizeof o->rk[j]);
        o->rk_amount[j] = o->rk_amount[j + 1];
        o->rk_pending[j] = o->rk_pending[j + 1];
    }
    o->refund_keys--;
    o->writes++;
}

/* Confirmed: counted in refunded; all of it back moves a shipped or delivered order to
 * refunded, part of it a delivered one to partially_refunded (ecom.h); with_move false:
 * the cancel's own write confirms it. */
static void rk_confirm(m_order *o, int i, bool with_move)
{
    o->rk_pending[i] = false;
    o->refunded += o->rk_amount[i];
    if (!with_move)
        return;
    bool all = o->refunded == o->total;
    if (all && (o->state == ECOM_ORDER_SHIPPED || o->state == ECOM_ORDER_DELIVERED ||
                o->state == ECOM_ORDER_PARTIALLY_REFUNDED))
        o->state = ECOM_ORDER_REFUNDED;
    else if (!all && (o->state == ECOM_ORDER_DELIVERED ||
                      o->state == ECOM_ORDER_PARTIALLY_REFUNDED))
        o->state = ECOM_ORDER_PARTIALLY_REFUNDED;
    o->writes++;
}

/* Steps 2 and 3 of refund i: asked of the provider (key k), then confirmed, or, the
 * provider refusing it, forgotten (ECOM_EPAYMENT). A failure leaves it pending. */
static int sim_settle(m_order *o, int i, int k)
{
    if (!o->rk_pending[i])
        return ECOM_OK;
    ecom_payment_result res;
    int rc = sim_call(o, k, o->rk_amount[i], &res);
    if (rc != ECOM_OK)
        return rc == ECOM_ETIMEOUT ? rc : ECOM_EPAYMENT;
    if (!res.approved) {
        rk_drop(o, i);
        return ECOM_EPAYMENT;
    }
    return ECOM_OK;
}

static int sim_refund(m_order *o, const char *key, int64_t amount, bool stale)
{
    if (amount <= 0)
        return ECOM_EPRICE;
    int i = rk_find(o, key);
    if (i >= 0 && o->rk_amount[i] != amount)
        return ECOM_EIDEMPOTENCY;
    if (i < 0) {
        if (stale)
            return ECOM_ECONFLICT;
        if (o->state == ECOM_ORDER_PENDING_PAYMENT || o->state == ECOM_ORDER_CANCELLED ||
            o->state == ECOM_ORDER_REFUNDED)
            return ECOM_ESTATE;
        if (amount > o->total - o->refunded - rk_pending_sum(o))
            return ECOM_EPRICE;
        i = rk_reserve(o, key, amount);
    }
    bool pending = o->rk_pending[i];
    int rc = sim_settle(o, i, HK_R0 + (key[1] - '0'));
    if (rc == ECOM_OK && pending)
        rk_confirm(o, i, true);
    return rc;
}

static bool cancellable_paid(const m_order *o)
{
    if (o->state != ECOM_ORDER_PAID && o->state != ECOM_ORDER_FULFILLING)
        return false;
    for (int s = 0; s < NSKU; s++)
        if (o->shipped[s])
            return false;
    return true;
}

static int sim_cancel(m_order *o, bool stale)
{
    if (o->state == ECOM_ORDER_PENDING_PAYMENT) { /* marked, voided, cancelled */
        if (stale && !o->marked) /* one marked is finished whatever the version */
            return ECOM_ECONFLICT;
        return sim_cancel_and_void(o, MARK_CANCEL);
    }
    char key[96];
    snprintf(key, sizeof key, "refund-cancel-%s", o->id);
    int i = rk_find(o, key);
    if (i < 0 && !(cancellable_paid(o) && o->total > o->refunded)) {
        /* Nothing to refund: one move, or why not; a cancelled order never paid has
         * what a late charge took voided. */
        if (stale)
            return ECOM_ECONFLICT;
        if (!cancellable_paid(o)) {
            int rc = o->state == ECOM_ORDER_CANCELLED && !o->paid ? sim_void_charge(o)
                                                                   : ECOM_OK;
            return rc == ECOM_OK ? ECOM_ESTATE : rc;
        }
        CHECK(rk_pending_sum(o) == 0, "model: refunded in full with refunds pending");
    } else {
        /* What is left is refunded first (under the cancel's key, reserved once: a
         * cancel retried carries it on whatever the version), then confirmed by the
         * cancel's own write. */
        if (i < 0) {
            if (stale)
                return ECOM_ECONFLICT;
            if (rk_pending_sum(o) > 0) /* waits for the other refunds */
                return ECOM_ECONFLICT;
            i = rk_reserve(o, key, o->total - o->refunded);
        }
        int rc = sim_settle(o, i, HK_RCANCEL);
        if (rc != ECOM_OK)
            return rc;
        if (!cancellable_paid(o)) { /* moved on meanwhile: the refund is confirmed alone */
            if (o->rk_pending[i])
                rk_confirm(o, i, true);
            return ECOM_ESTATE;
        }
        if (o->rk_pending[i])
            rk_confirm(o, i, false);
        CHECK(o->refunded == o->total && rk_pending_sum(o) == 0, "model: a cancel with "
              "money left");
    }
    o->state = ECOM_ORDER_CANCELLED; /* the units come back */
    for (int s = 0; s < NSKU; s++)
        m.on_hand[s] += o->qty[s];
    o->writes++;
    return ECOM_OK;
}

/* What a retry of a key released with its order does: pays a pending order again
 * through the provider, under the order's own payment key. Returns the code expected,
 * and in *hold_end ECOM_EEXPIRED if the hold ended while paying (one already swept
 * answers ECOM_EENDED: the same end), else END. */
static int model_resume(m_order *o, int *hold_end)
{
    *hold_end = END;
    switch (o->state) {
    case ECOM_ORDER_PENDING_PAYMENT:
        if (o->token == TOK_ERROR)
            return ECOM_EPAYMENT;
        /* tok_timeout: the provider's record is found, approved and captured. */
        if (hold_due(o)) { /* the hold ended while paying: cancelled, voided */
            model_cancel_pending(o);
            *hold_end = ECOM_EEXPIRED;
            return ECOM_EEXPIRED;
        }
        model_pay(o);
        return ECOM_OK;
    case ECOM_ORDER_CANCELLED:
        return ECOM_ESTATE; /* "a cancel meanwhile" (docs/checkout.md) */
    default:
        return ECOM_OK; /* paid meanwhile (a notification, the sweep), or further along */
    }
}

/* The results a key keeps for good; the others release it for a retry. */
static bool key_result_final(int rc)
{
    return rc != ECOM_ETIMEOUT && rc != ECOM_EPAYMENT;
}

static bool op_checkout(bool retry)
{
    char key[32];
    int cart, user, token;
    bool changed = false;
    if (m.norders == MAX_ORDERS || m.nkeys == MAX_KEYS)
        return false; /* a long run (ECOM_MODEL_STEPS) filled the model */
    retry = retry && m.nkeys > 0;
    if (retry) {
        const m_key *k = &m.keys[below(m.nkeys)];
        snprintf(key, sizeof key, "%s", k->key);
        cart = k->cart;
        user = k->user;
        token = k->token;
        if (chance(20)) { /* the same key with another request */
            changed = true;
            if (chance(50))
                token = (token + 1 + (int)below(TOKENS - 1)) % TOKENS;
            else
                cart = (cart + 1 + (int)below(NCART - 1)) % NCART;
        }
    } else {
        /* A key whose request was refused before it made an order kept nothing: it is
         * new again, for any request (ecom.h). */
        if (m.nrefused > 0 && chance(25)) {
            int i = (int)below(m.nrefused);
            snprintf(key, sizeof key, "%s", m.refused[i]);
            memcpy(m.refused[i], m.refused[--m.nrefused], sizeof m.refused[i]);
        } else {
            snprintf(key, sizeof key, "k%" PRIu64 "-%d", cur_seed, m.next_key++);
        }
        cart = (int)below(NCART);
        for (int i = 0; i < NCART && chance(85) && cart_empty(&m.carts[cart]); i++)
            cart = (cart + 1) % NCART; /* mostly a cart with something in it */
        user = cart < NUSER ? cart : (int)below(NUSER);
        int64_t r = below(100);
        token = r < 50 ? TOK_APPROVE : r < 62 ? TOK_DECLINE : r < 84 ? TOK_TIMEOUT : TOK_ERROR;
    }
    step_begin("checkout %s%s key %s cart %s user %s %s", retry ? "retry" : "new",
               changed ? " (another request)" : "", key, cart_names[cart], users[user],
               tokens[token]);
    m_key *k = find_key(key);
    if (k && key_expired(k)) { /* older than the TTL: new again */
        forget_key(k);
        k = NULL;
    }
    /* What the model expects. */
    int expected = ECOM_OK, hold_end = END;
    int existing = -1; /* the order the key answers with */
    bool creates = false;
    m_order fresh; /* the host run: the order a new key makes, as the model expects it */
    m_cart *mc = &m.carts[cart];
    int64_t live[NSKU], due[NSKU];
    held_units(live, due);
    if (k && (k->cart != cart || k->user != user || k->token != token)) {
        expected = ECOM_EIDEMPOTENCY;
    } else if (k) {
        existing = k->order;
        m_order *eo = &m.orders[existing];
        expected = k->done ? k->result
                   : host  ? sim_resume(eo)
                           : model_resume(eo, &hold_end);
        if (k->done && k->result == ECOM_EEXPIRED)
            hold_end = ECOM_EEXPIRED; /* the key answers it again */
    } else if (cart_empty(mc)) {
        expected = ECOM_EEMPTY;
    } else {
        /* A limit lowered since a line was added refuses it "before anything is held"
         * (docs/checkout.md); holds due are ended before a hold is refused
         * (docs/inventory.md). */
        for (int s = 0; s < NSKU; s++)
            if (mc->qty[s] > m.on_hand[s] - live[s])
                expected = ECOM_EINSUFFICIENT;
        for (int s = 0; s < NSKU; s++)
            if (mc->qty[s] > line_cap(s))
                expected = ECOM_ELIMIT;
        creates = expected == ECOM_OK;
    }
    if (creates && host) {
        if (!h_next_ready) { /* the plans the provider gives the next order it sees */
            h_draw(h_next);
            h_next_ready = true;
        }
        fresh = (m_order){.cart = cart, .user = user, .token = token,
                          .state = ECOM_ORDER_PENDING_PAYMENT, .created_at = clock_ms,
                          .held = true, .total = total_of(mc), .step_version = 1};
        memcpy(fresh.cur, mc->cur, sizeof fresh.cur);
        for (int s = 0; s < NSKU; s++)
            fresh.qty[s] = mc->qty[s];
        memcpy(fresh.plans, h_next, sizeof fresh.plans);
        expected = sim_pay(&fresh);
    } else if (creates) {
        static const int first[TOKENS] = {ECOM_OK, ECOM_EDECLINED, ECOM_ETIMEOUT, ECOM_EPAYMENT};
        expected = first[token];
    }

    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = cart_names[cart];
    r.user = users[user];
    r.payment_token = tokens[token];
    ecom_order *o = NULL;
    int rc = ecom_checkout(&o, store, &r, key);
    count(retry ? C_RETRY : C_CHECKOUT, rc);
    documented("ecom_checkout", checkout_codes, rc);
    int answered = rc; /* what the key keeps */
    if ((hold_end == ECOM_EEXPIRED || (host && expected == ECOM_EEXPIRED)) &&
        rc == ECOM_EENDED)
        rc = ECOM_EEXPIRED; /* the same end, swept or not (test_checkout_void agrees) */
    expect_rc("ecom_checkout", rc, expected);
    const char *got = o ? ecom_order_id(o) : NULL;

    if (existing >= 0) {
        /* The same key and request: the same order, never a second one. */
        CHECK(got && strcmp(got, m.orders[existing].id) == 0, "the key's order is %s, the "
              "checkout answered %s", m.orders[existing].id, got ? got : "none");
        if (!k->done && key_result_final(rc)) {
            k->done = true;
            k->result = host ? answered : rc;
        }
    } else if (!creates) {
        CHECK(got == NULL || order_index(got) >= 0, "checkout answered %s with a new order %s",
              ecom_strerror(rc), got);
        if (!k && m.nrefused < 16)
            snprintf(m.refused[m.nrefused++], sizeof m.refused[0], "%s", key);
    } else {
        CHECK(got != NULL, "checkout made no order (%s)", ecom_strerror(rc));
        CHECK(order_index(got) < 0, "checkout answered an old order %s for a new key", got);
        CHECK(m.norders < MAX_ORDERS && m.nkeys < MAX_KEYS, "model full");
        m_order *mo = &m.orders[m.norders++];
        m_key *nk = &m.keys[m.nkeys++];
        *nk = (m_key){.cart = cart, .user = user, .token = token, .order = m.norders - 1,
                      .created_at = clock_ms};
        snprintf(nk->key, sizeof nk->key, "%s", key);
        nk->done = key_result_final(rc);
        nk->result = rc;
        if (host) { /* paid, declined, ... as sim_pay played it */
            *mo = fresh;
            snprintf(mo->id, sizeof mo->id, "%s", got);
            ecom_order_free(o);
            return true;
        }
        *mo = (m_order){.cart = cart, .user = user, .token = token,
                        .state = ECOM_ORDER_PENDING_PAYMENT, .created_at = clock_ms,
                        .held = true};
        snprintf(mo->id, sizeof mo->id, "%s", got);
        memcpy(mo->cur, mc->cur, sizeof mo->cur);
        for (int s = 0; s < NSKU; s++)
            mo->qty[s] = mc->qty[s];
        mo->total = total_of(mc);
        switch (token) {
        case TOK_APPROVE:
            mo->charged = true;
            model_pay(mo);
            break;
        case TOK_DECLINE:
            model_cancel_pending(mo);
            break;
        case TOK_TIMEOUT:
            mo->charged = true; /* charged, the answer lost */
            break;
        default:
            break; /* tok_error: nothing charged */
        }
    }
    ecom_order_free(o);
    return true;
}

static bool op_transition(void)
{
    m_order *o = pick_order(ST(PAID) | ST(SHIPPED), 85);
    if (o == NULL)
        return false;
    ecom_order_state to;
    if (chance(90))
        to = o->state == ECOM_ORDER_SHIPPED ? ECOM_ORDER_DELIVERED
             : o->state == ECOM_ORDER_PAID  ? ECOM_ORDER_FULFILLING
             : chance(50)                   ? ECOM_ORDER_DELIVERED
                                            : ECOM_ORDER_FULFILLING;
    else
        to = (ecom_order_state)below(ECOM_ORDER_PARTIALLY_REFUNDED + 1);
    vmode v = pick_vmode();
    step_begin("transition %s %s -> %s (version %s)", o->id, sname(o->state), sname(to),
               vname(v));
    bool ok = (o->state == ECOM_ORDER_PAID && to == ECOM_ORDER_FULFILLING) ||
              (o->state == ECOM_ORDER_SHIPPED && to == ECOM_ORDER_DELIVERED);
    uint64_t before = o->version;
    int rc = ecom_order_transition(store, o->id, version_for(o, v), to, "model", "step");
    count(C_TRANSITION, rc);
    documented("ecom_order_transition", transition_codes, rc);
    if (to != ECOM_ORDER_FULFILLING && to != ECOM_ORDER_DELIVERED) /* moves of other calls */
        CHECK(rc == ECOM_ESTATE || (v == V_STALE && rc == ECOM_ECONFLICT), "got %s",
              ecom_strerror(rc));
    else if (v == V_STALE && !ok) /* stale and illegal: either answer is documented */
        CHECK(rc == ECOM_ECONFLICT || rc == ECOM_ESTATE, "got %s", ecom_strerror(rc));
    else
        expect_rc("transition", rc, v == V_STALE ? ECOM_ECONFLICT : ok ? ECOM_OK : ECOM_ESTATE);
    if (rc != ECOM_OK) {
        unchanged(o, before, "a refused move");
        return true;
    }
    o->state = to;
    o->writes++;
    return true;
}

/* Whether a cancel of o reserved its refund and has not ended (a timeout in between). */
static bool cancel_refund_pending(const m_order *o)
{
    char own[96];
    snprintf(own, sizeof own, "refund-cancel-%s", o->id);
    int i = rk_find(o, own);
    return i >= 0 && o->rk_pending[i];
}

static bool op_ship(void)
{
    m_order *o = pick_order(ST(FULFILLING) | ST(PARTIALLY_SHIPPED), 90);
    if (o == NULL)
        return false;
    vmode v = pick_vmode();
    /* All that is left (n = 0), or one or two entries (maybe of one SKU, maybe of a SKU
     * the order has no line of), each of 1..left+1 units. */
    size_t n = chance(35) ? 0 : chance(75) ? 1 : 2;
    const char *skus[2];
    int64_t qty[2], add[NSKU] = {0};
    bool bad = false; /* a quantity out of 1..ECOM_QUANTITY_MAX */
    char desc[160] = "all";
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        int s = (int)below(NSKU);
        if (o->qty[s] == 0 && chance(80)) /* mostly a line of the order */
            for (int j = 0; j < NSKU; j++)
                if (o->qty[(s + j) % NSKU]) {
                    s = (s + j) % NSKU;
                    break;
                }
        int64_t left = o->qty[s] - o->shipped[s];
        static const int64_t odd[] = {0, -1, INT64_MAX, ECOM_QUANTITY_MAX + 1};
        skus[i] = catalog[s].sku;
        qty[i] = 1 + below(left > 1 ? left : 1) + (chance(10) ? 1 : 0); /* maybe 1 too many */
        if (chance(4))
            qty[i] = odd[below(4)];
        bad = bad || qty[i] < 1 || qty[i] > ECOM_QUANTITY_MAX;
        add[s] += bad ? 0 : qty[i];
        len += (size_t)snprintf(desc + len, sizeof desc - len, "%s%s x%" PRId64, i ? ", " : "",
                                skus[i], qty[i]);
    }
    step_begin("ship %s %s (%s, version %s)", o->id, desc, sname(o->state), vname(v));
    bool over = false;
    for (int s = 0; s < NSKU; s++)
        over = over || o->shipped[s] + add[s] > o->qty[s];
    uint64_t before = o->version;
    int rc = ecom_order_ship(store, o->id, version_for(o, v), n ? skus : NULL, n ? qty : NULL,
                             n, "model");
    count(C_SHIP, rc);
    documented("ecom_order_ship", ship_codes, rc);
    bool shippable = o->state == ECOM_ORDER_FULFILLING ||
                     o->state == ECOM_ORDER_PARTIALLY_SHIPPED;
    if (bad && (v == V_STALE || !shippable)) /* refused either way */
        CHECK(rc == ECOM_EQUANTITY || rc == ECOM_ECONFLICT || rc == ECOM_ESTATE, "got %s",
              ecom_strerror(rc));
    else if (v == V_STALE)
        CHECK(rc == ECOM_ECONFLICT || (!shippable && rc == ECOM_ESTATE), "got %s",
              ecom_strerror(rc));
    else if (!shippable)
        expect_rc("ship", rc, ECOM_ESTATE);
    else if (bad) /* nonsense: refused before the order is read */
        expect_rc("ship", rc, ECOM_EQUANTITY);
    else if (cancel_refund_pending(o)) /* a cancel is paying its refund: not now */
        expect_rc("ship", rc, ECOM_EBUSY);
    else if (over) /* more than left, or a SKU the order has no line of */
        expect_rc("ship", rc, ECOM_EQUANTITY);
    else
        expect_rc("ship", rc, ECOM_OK);
    if (rc != ECOM_OK) {
        unchanged(o, before, "a refused ship");
        return true;
    }
    bool done = true;
    for (int s = 0; s < NSKU; s++) {
        o->shipped[s] = n ? o->shipped[s] + add[s] : o->qty[s];
        done = done && o->shipped[s] == o->qty[s];
    }
    o->state = done ? ECOM_ORDER_SHIPPED : ECOM_ORDER_PARTIALLY_SHIPPED;
    o->writes++;
    return true;
}

/* A paid order cancelled: what is left is refunded, its units come back. */
static void model_cancel_paid(m_order *o)
{
    o->ledger_refunds += o->total - o->refunded;
    o->refunded = o->total;
    o->state = ECOM_ORDER_CANCELLED;
    for (int s = 0; s < NSKU; s++)
        m.on_hand[s] += o->qty[s];
}

/* A cancel in the host run: the answer sim_cancel expects. */
static int h_cancel(m_order *o, vmode v)
{
    uint64_t version = version_for(o, v);
    int expected = sim_cancel(o, v == V_STALE);
    int rc = ecom_order_cancel(store, o->id, version, "model", "changed mind");
    count(C_CANCEL, rc);
    documented("ecom_order_cancel", cancel_codes, rc);
    expect_rc("cancel", rc, expected);
    verify_order(o);
    return rc;
}

static bool op_cancel(void)
{
    m_order *o = pick_order(ST(PENDING_PAYMENT) | ST(PAID) | ST(FULFILLING), 80);
    if (o == NULL)
        return false;
    vmode v = pick_vmode();
    step_begin("cancel %s (%s, refunded %" PRId64 " of %" PRId64 ", version %s)", o->id,
               sname(o->state), o->refunded, o->total, vname(v));
    if (host) {
        h_cancel(o, v);
        return true;
    }
    uint64_t before = o->version;
    int rc = ecom_order_cancel(store, o->id, version_for(o, v), "model", "changed mind");
    count(C_CANCEL, rc);
    documented("ecom_order_cancel", cancel_codes, rc);
    bool cancellable = o->state == ECOM_ORDER_PENDING_PAYMENT || o->state == ECOM_ORDER_PAID ||
                       o->state == ECOM_ORDER_FULFILLING;
    if (v == V_STALE)
        CHECK(rc == ECOM_ECONFLICT || (!cancellable && rc == ECOM_ESTATE), "got %s",
              ecom_strerror(rc));
    else
        expect_rc("cancel", rc, cancellable ? ECOM_OK : ECOM_ESTATE);
    if (rc != ECOM_OK) {
        unchanged(o, before, "a refused cancel");
        return true;
    }
    if (o->state == ECOM_ORDER_PENDING_PAYMENT)
        model_cancel_pending(o);
    else
        model_cancel_paid(o);
    return true;
}

/* A refund in the host run: the answer sim_refund expects. */
static int h_refund(m_order *o, const char *key, int64_t amount, vmode v)
{
    uint64_t version = version_for(o, v);
    int expected = sim_refund(o, key, amount, v == V_STALE);
    int rc = ecom_order_refund(store, o->id, version, amount, key, "model", "dent");
    count(C_REFUND, rc);
    documented("ecom_order_refund", refund_codes, rc);
    expect_rc("refund", rc, expected);
    verify_order(o);
    return rc;
}

static bool op_refund(void)
{
    m_order *o = pick_order(ST(PAID) | ST(FULFILLING) | ST(PARTIALLY_SHIPPED) | ST(SHIPPED) |
                                ST(DELIVERED) | ST(PARTIALLY_REFUNDED),
                            80);
    if (o == NULL)
        return false;
    char key[8];
    snprintf(key, sizeof key, "r%d", (int)below(4));
    int known = rk_find(o, key);
    int64_t left = o->total - o->refunded, amount;
    if (known >= 0 && chance(60)) {
        amount = o->rk_amount[known];
    } else {
        switch (below(8)) {
        case 0: amount = 1; break;
        case 1: amount = left / 2 > 0 ? left / 2 : 1; break;
        case 2: amount = left > 0 ? left : 1; break;
        case 3: amount = left + 1; break;
        case 4: amount = chance(50) ? o->total * 2 : INT64_MAX; break;
        case 5: amount = chance(50) ? 0 : -7; break;
        default: amount = 1 + below(left > 0 ? left : o->total); break;
        }
    }
    vmode v = pick_vmode();
    step_begin("refund %s %" PRId64 " key %s%s (%s, refunded %" PRId64 " of %" PRId64
               ", version %s)", o->id, amount, key, known >= 0 ? " (used)" : "", sname(o->state),
               o->refunded, o->total, vname(v));
    if (host) {
        h_refund(o, key, amount, v);
        return true;
    }
    uint64_t before = o->version;
    bool reused = known >= 0 && amount > 0 && amount != o->rk_amount[known];
    int rc = ecom_order_refund(store, o->id, version_for(o, v), amount, key, "model", "dent");
    count(C_REFUND, rc);
    documented("ecom_order_refund", refund_codes, rc);
    bool refundable = o->state != ECOM_ORDER_PENDING_PAYMENT &&
                      o->state != ECOM_ORDER_CANCELLED && o->state != ECOM_ORDER_REFUNDED;
    int expected;
    if (amount <= 0)
        expected = ECOM_EPRICE;
    else if (known >= 0) /* the same refund again: done already; another amount: refused */
        expected = reused ? ECOM_EIDEMPOTENCY : ECOM_OK;
    else if (v == V_STALE)
        expected = ECOM_ECONFLICT;
    else if (!refundable)
        expected = ECOM_ESTATE;
    else if (amount > left)
        expected = ECOM_EPRICE;
    else
        expected = ECOM_OK;
    if (expected == ECOM_ECONFLICT && (!refundable || amount > left)) /* either applies */
        CHECK(rc == ECOM_ECONFLICT || rc == (refundable ? ECOM_EPRICE : ECOM_ESTATE), "got %s",
              ecom_strerror(rc));
    else
        expect_rc("refund", rc, expected);
    if (rc != ECOM_OK || known >= 0) {
        unchanged(o, before, "a refused or repeated refund");
        return true;
    }
    CHECK(o->refund_keys < MAX_REFUND_KEYS, "model: refund keys");
    snprintf(o->rk[o->refund_keys], sizeof o->rk[0], "%s", key);
    o->rk_amount[o->refund_keys++] = amount;
    o->refunded += amount;
    o->ledger_refunds += amount;
    /* All of it back moves a shipped or delivered order to refunded; part of it moves a
     * delivered one to partially_refunded; any other keeps its state (ecom.h). */
    bool all = o->refunded == o->total;
    if (all && (o->state == ECOM_ORDER_SHIPPED || o->state == ECOM_ORDER_DELIVERED ||
                o->state == ECOM_ORDER_PARTIALLY_REFUNDED))
        o->state = ECOM_ORDER_REFUNDED;
    else if (!all && (o->state == ECOM_ORDER_DELIVERED ||
                      o->state == ECOM_ORDER_PARTIALLY_REFUNDED))
        o->state = ECOM_ORDER_PARTIALLY_REFUNDED;
    return true;
}

static bool op_notify(void)
{
    m_order *o = pick_order(ST(PENDING_PAYMENT), 85);
    if (o == NULL)
        return false;
    bool approved = chance(55);
    step_begin("notify %s %s (%s, %s%s)", o->id, approved ? "approved" : "declined",
               sname(o->state), tokens[o->token], hold_due(o) ? ", hold due" : "");
    char charge[80];
    snprintf(charge, sizeof charge, "ch_pay-%.60s", o->id);
    if (host) {
        int expected = sim_notify(o, approved);
        int rc = ecom_payment_notify(store, o->id, approved ? 1 : 0, approved ? charge : NULL,
                                     approved ? NULL : "card_declined");
        count(C_NOTIFY, rc);
        documented("ecom_payment_notify", notify_codes, rc);
        if (expected == ECOM_EEXPIRED && rc == ECOM_EENDED)
            rc = ECOM_EEXPIRED;
        expect_rc("notify", rc, expected);
        verify_order(o);
        return true;
    }
    uint64_t before = o->version;
    int expected, hold_end = END;
    bool changes = false;
    switch (o->state) {
    case ECOM_ORDER_PENDING_PAYMENT:
        if (!approved) { /* cancelled, what was taken voided */
            expected = ECOM_OK;
            changes = true;
        } else if (o->token == TOK_ERROR) {
            expected = ECOM_EPAYMENT; /* the provider has no record of it: stays pending */
        } else if (hold_due(o)) {
            expected = hold_end = ECOM_EEXPIRED;
            changes = true;
        } else {
            expected = ECOM_OK;
            changes = true;
        }
        break;
    case ECOM_ORDER_CANCELLED:
        expected = ECOM_ESTATE;
        break;
    default:
        expected = approved ? ECOM_OK : ECOM_ESTATE; /* a stale notification */
        break;
    }
    int rc = ecom_payment_notify(store, o->id, approved ? 1 : 0, approved ? charge : NULL,
                                 approved ? NULL : "card_declined");
    count(C_NOTIFY, rc);
    documented("ecom_payment_notify", notify_codes, rc);
    if (hold_end == ECOM_EEXPIRED && rc == ECOM_EENDED)
        rc = ECOM_EEXPIRED;
    expect_rc("notify", rc, expected);
    if (!changes) {
        unchanged(o, before, "a notification that changes nothing");
        return true;
    }
    if (approved && expected == ECOM_OK)
        model_pay(o);
    else
        model_cancel_pending(o);
    return true;
}

/* older < 0: a bound chosen at random. */
static bool op_recover(int64_t older)
{
    if (older < 0)
        older = chance(50) ? 0 : chance(50) ? 5 * MINUTE_MS : HOLD_MS + MINUTE_MS;
    step_begin("recover older than %" PRId64 " ms", older);
    uint64_t expected = 0;
    for (int i = 0; i < m.norders; i++) {
        m_order *o = &m.orders[i];
        if (o->state != ECOM_ORDER_PENDING_PAYMENT || o->created_at > clock_ms - older)
            continue;
        if (host) { /* as far as the provider lets it */
            expected += sim_recover_one(o) == ECOM_OK;
            continue;
        }
        expected++;
        if (o->token == TOK_TIMEOUT && !hold_due(o))
            model_pay(o); /* the provider's record: approved, captured */
        else
            model_cancel_pending(o); /* never charged, or its hold ended: voided */
    }
    uint64_t recovered = 99;
    int rc = ecom_checkout_recover(&recovered, store, older);
    count(C_RECOVER, rc);
    documented("ecom_checkout_recover", ok_codes, rc);
    expect_rc("recover", rc, ECOM_OK);
    CHECK(recovered == expected, "recovered %" PRIu64 ", the model %" PRIu64, recovered,
          expected);
    return true;
}

static bool op_sweep(void)
{
    step_begin("inventory expire at %" PRId64, clock_ms);
    uint64_t due = 0;
    for (int i = 0; i < m.norders; i++)
        if (m.orders[i].held && hold_due(&m.orders[i])) {
            due++;
            m.orders[i].held = false;
        }
    uint64_t expired = 99;
    int rc = ecom_inventory_expire(&expired, store, clock_ms);
    documented("ecom_inventory_expire", ok_codes, rc);
    expect_rc("expire", rc, ECOM_OK);
    /* Some may have ended lazily already, by another inventory write. */
    CHECK(expired <= due, "expired %" PRIu64 " holds, the model has %" PRIu64 " due", expired,
          due);
    return true;
}

static bool op_purge(void)
{
    step_begin("purge at %" PRId64, clock_ms);
    uint64_t expected = 0;
    for (int i = 0; i < m.nkeys;) {
        if (key_expired(&m.keys[i])) {
            forget_key(&m.keys[i]);
            expected++;
        } else {
            i++;
        }
    }
    uint64_t purged = 99;
    int rc = ecom_store_purge(&purged, store, clock_ms);
    documented("ecom_store_purge", ok_codes, rc);
    expect_rc("purge", rc, ECOM_OK);
    CHECK(purged == expected, "purged %" PRIu64 ", the model %" PRIu64 " keys", purged,
          expected);
    return true;
}

static int day_jumps;

static bool op_clock(void)
{
    int64_t r = below(20);
    bool day = r >= 18 && day_jumps < 8; /* carts expire after 30 days: stay well within */
    int64_t by = r < 13 ? 1 + below(90 * 1000)
                 : !day ? HOLD_MS - 30 * 1000 + below(60 * 1000) /* about the hold */
                        : KEY_TTL_MS + below(2 * MINUTE_MS);      /* past the keys' TTL */
    step_begin("clock +%" PRId64 " ms", by);
    clock_ms += by;
    if (day) {
        day_jumps++;
        if (chance(70)) {
            verify_all();
            op_purge();
        }
    }
    return true;
}

/* One operation, by weight; drawn again when it found nothing to act on. */
static void run_step(void)
{
    for (;;) {
        int64_t r = below(100);
        bool done = r < 12   ? op_cart_put(false)
                    : r < 15 ? op_cart_put(true)
                    : r < 16 ? op_cart_remove()
                    : r < 17 ? op_limit()
                    : r < 20 ? op_cart_merge()
                    : r < 33 ? op_checkout(false)
                    : r < 39 ? op_checkout(true)
                    : r < 48 ? op_transition()
                    : r < 58 ? op_ship()
                    : r < 62 ? op_cancel()
                    : r < 72 ? op_refund()
                    : r < 79 ? op_notify()
                    : r < 82 ? op_recover(-1)
                    : r < 94 ? op_clock()
                    : r < 98 ? op_sweep()
                             : op_purge();
        if (done)
            return;
    }
}

/* ---- a run ---- */

static void create_product(const char *json)
{
    ecom_product *p = NULL;
    int rc = ecom_product_from_json(&p, json, strlen(json), NULL, 0);
    if (rc == ECOM_OK)
        rc = ecom_catalog_create(store, p);
    ecom_product_free(p);
    CHECK(rc == ECOM_OK, "create %s: %s", json, ecom_strerror(rc));
}

static void open_model_store(const char *prefix)
{
    char uri[600];
    test_fresh_store_dir(store_dir, sizeof store_dir, uri, sizeof uri, prefix);
    clock_ms = INT64_C(1800000000000);
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    opts.clock = test_clock;
    opts.shipping_fee = SHIPPING;
    opts.tax_rate_bp = TAX_BP;
    opts.payments = host ? &host_provider : NULL;
    store = NULL;
    int rc = ecom_store_open(&store, uri, &opts);
    CHECK(rc == ECOM_OK, "open: %s", ecom_strerror(rc));
    for (int s = 0; s < NSKU; s++) {
        char json[512];
        if (catalog[s].eur >= 0)
            snprintf(json, sizeof json, "{\"id\":\"p-%s\",\"title\":\"%s\",\"status\":\"active\","
                     "\"variants\":[{\"sku\":\"%s\",\"prices\":{\"USD\":%" PRId64 ",\"EUR\":%"
                     PRId64 "}}]}", catalog[s].sku, catalog[s].sku, catalog[s].sku,
                     catalog[s].usd, catalog[s].eur);
        else
            snprintf(json, sizeof json, "{\"id\":\"p-%s\",\"title\":\"%s\",\"status\":\"active\","
                     "\"variants\":[{\"sku\":\"%s\",\"prices\":{\"USD\":%" PRId64 "}}]}",
                     catalog[s].sku, catalog[s].sku, catalog[s].sku, catalog[s].usd);
        create_product(json);
        rc = ecom_stock_adjust(store, catalog[s].sku, NULL, ECOM_ADJUST_RECEIVE,
                               catalog[s].stock, "in", "");
        CHECK(rc == ECOM_OK, "receive: %s", ecom_strerror(rc));
        if (catalog[s].limit) {
            rc = ecom_stock_set_purchase_limit(store, catalog[s].sku, catalog[s].limit);
            CHECK(rc == ECOM_OK, "limit: %s", ecom_strerror(rc));
        }
    }
}

static void close_model_store(void)
{
    ecom_store_close(store);
    store = NULL;
    test_remove_store_dir(store_dir);
}

/* A test that failed left its store open. */
static int teardown(void **state)
{
    (void)state;
    host = false;
    if (store)
        close_model_store();
    return 0;
}

/* Ends every order: the holds swept, the pending ones recovered, those paid and not
 * shipped cancelled, the others shipped and delivered. Then no unit is held, and every
 * unit received is on hand or went out in an order not cancelled: none made or lost. */
static void verify_conservation(void);

static void wind_down(void)
{
    cur_step++;
    clock_ms += HOLD_MS + MINUTE_MS;
    op_sweep();
    verify_all();
    cur_step++;
    op_recover(0); /* every hold has ended: each pending order is cancelled, voided */
    verify_all();
    for (int i = 0; i < m.norders; i++) {
        m_order *o = &m.orders[i];
        cur_step++;
        step_begin("wind down %s (%s)", o->id, sname(o->state));
        int rc;
        if (o->state == ECOM_ORDER_PAID || o->state == ECOM_ORDER_FULFILLING) {
            rc = ecom_order_cancel(store, o->id, ECOM_VERSION_ANY, "model", "wind down");
            documented("ecom_order_cancel", cancel_codes, rc);
            expect_rc("cancel", rc, ECOM_OK);
            model_cancel_paid(o);
        }
        if (o->state == ECOM_ORDER_PARTIALLY_SHIPPED) {
            rc = ecom_order_ship(store, o->id, ECOM_VERSION_ANY, NULL, NULL, 0, "model");
            documented("ecom_order_ship", ship_codes, rc);
            expect_rc("ship", rc, ECOM_OK);
            for (int s = 0; s < NSKU; s++)
                o->shipped[s] = o->qty[s];
            o->state = ECOM_ORDER_SHIPPED;
        }
        if (o->state == ECOM_ORDER_SHIPPED) {
            rc = ecom_order_transition(store, o->id, ECOM_VERSION_ANY, ECOM_ORDER_DELIVERED,
                                       "model", NULL);
            documented("ecom_order_transition", transition_codes, rc);
            expect_rc("deliver", rc, ECOM_OK);
            o->state = ECOM_ORDER_DELIVERED;
        }
        CHECK(o->state == ECOM_ORDER_CANCELLED || o->state == ECOM_ORDER_DELIVERED ||
                  o->state == ECOM_ORDER_REFUNDED || o->state == ECOM_ORDER_PARTIALLY_REFUNDED,
              "order %s still %s", o->id, sname(o->state));
    }
    verify_all();
    verify_conservation();
}

/* Conservation, from the store's own figures: what is on hand and what left in orders
 * not cancelled is what came in. */
static void verify_conservation(void)
{
    for (int s = 0; s < NSKU; s++) {
        ecom_stock *st = NULL;
        CHECK(ecom_stock_get(&st, store, catalog[s].sku, NULL) == ECOM_OK, "stock");
        int64_t on_hand = ecom_stock_on_hand(st), reserved = ecom_stock_reserved(st);
        ecom_stock_free(st);
        int64_t out = 0;
        for (int i = 0; i < m.norders; i++)
            if (m.orders[i].state != ECOM_ORDER_CANCELLED)
                out += m.orders[i].shipped[s];
        CHECK(reserved == 0, "%s: %" PRId64 " still reserved", catalog[s].sku, reserved);
        CHECK(on_hand + out == catalog[s].stock, "%s: %" PRId64 " on hand and %" PRId64
              " shipped, %" PRId64 " received", catalog[s].sku, on_hand, out, catalog[s].stock);
    }
}

/* The host run: a step begins; no write of any order is expected yet. */
static void h_step_start(void)
{
    for (int i = 0; i < m.norders; i++) {
        m.orders[i].writes = 0;
        m.orders[i].step_version = m.orders[i].version;
    }
}

/* A pending refund of o (a caller's, or with cancel its cancel's), or -1. */
static int h_pending_refund(const m_order *o, bool cancel)
{
    for (int i = 0; i < o->refund_keys; i++)
        if (o->rk_pending[i] && (o->rk[i][0] == 'r' && o->rk[i][2] == '\0') != cancel)
            return i;
    return -1;
}

/* The host run's end: every hold ended; the sweep run until the provider has no more
 * failures to give; refunds left pending asked again with their keys; every order that
 * can be cancelled cancelled (a pending one, a paid one, or one whose cancel's refund is
 * pending); the paid ones whose cancel's refund the provider declined, and the others,
 * shipped and delivered. One stays pending only if the provider declined both its void
 * and the refund of it all (nothing can give its money back). Then, as in the first
 * run, no unit is held, none made or lost. */
static void h_wind_down(void)
{
    cur_step++;
    h_step_start();
    clock_ms += HOLD_MS + MINUTE_MS;
    op_sweep();
    verify_all();
    for (int round = 0; round < 3; round++) {
        cur_step++;
        h_step_start();
        op_recover(0);
        verify_all();
    }
    for (int i = 0; i < m.norders; i++) {
        m_order *o = &m.orders[i];
        for (int tries = 0; tries < 8; tries++) {
            int p = h_pending_refund(o, false);
            bool cancel = o->state == ECOM_ORDER_PENDING_PAYMENT || cancellable_paid(o) ||
                          h_pending_refund(o, true) >= 0;
            if (p < 0 && !cancel)
                break;
            cur_step++;
            h_step_start();
            if (p >= 0) {
                char key[8];
                snprintf(key, sizeof key, "%s", o->rk[p]);
                step_begin("wind down: refund %s %" PRId64 " key %s again", o->id,
                           o->rk_amount[p], key);
                h_refund(o, key, o->rk_amount[p], V_ANY);
            } else {
                step_begin("wind down: cancel %s (%s)", o->id, sname(o->state));
                h_cancel(o, V_ANY);
            }
        }
        cur_step++;
        h_step_start();
        step_begin("wind down %s (%s)", o->id, sname(o->state));
        int rc;
        if (o->state == ECOM_ORDER_PAID) { /* its cancel's refund declined */
            rc = ecom_order_transition(store, o->id, ECOM_VERSION_ANY, ECOM_ORDER_FULFILLING,
                                       "model", NULL);
            documented("ecom_order_transition", transition_codes, rc);
            expect_rc("fulfil", rc, ECOM_OK);
            o->state = ECOM_ORDER_FULFILLING;
            o->writes++;
        }
        if (o->state == ECOM_ORDER_FULFILLING || o->state == ECOM_ORDER_PARTIALLY_SHIPPED) {
            rc = ecom_order_ship(store, o->id, ECOM_VERSION_ANY, NULL, NULL, 0, "model");
            documented("ecom_order_ship", ship_codes, rc);
            expect_rc("ship", rc, ECOM_OK);
            for (int s = 0; s < NSKU; s++)
                o->shipped[s] = o->qty[s];
            o->state = ECOM_ORDER_SHIPPED;
            o->writes++;
        }
        if (o->state == ECOM_ORDER_SHIPPED) {
            rc = ecom_order_transition(store, o->id, ECOM_VERSION_ANY, ECOM_ORDER_DELIVERED,
                                       "model", NULL);
            documented("ecom_order_transition", transition_codes, rc);
            expect_rc("deliver", rc, ECOM_OK);
            o->state = ECOM_ORDER_DELIVERED;
            o->writes++;
        }
        verify_order(o);
        const h_ledger *x = &o->hx;
        bool stuck = o->state == ECOM_ORDER_PENDING_PAYMENT && o->marked && x->done[HK_VOID] &&
                     !x->ok[HK_VOID] && x->done[HK_RVOID] && !x->ok[HK_RVOID];
        CHECK(o->state == ECOM_ORDER_CANCELLED || o->state == ECOM_ORDER_DELIVERED ||
                  o->state == ECOM_ORDER_REFUNDED || o->state == ECOM_ORDER_PARTIALLY_REFUNDED ||
                  stuck,
              "order %s still %s", o->id, sname(o->state));
    }
    verify_all();
    verify_conservation();
}

static const char *code_name(int rc)
{
    static const char *const names[] = {
        "OK", "ERROR", "ENOMEM", "EINVAL", "ENOTFOUND", "EEXISTS", "ECONFLICT", "EURI",
        "EUNSUPPORTED", "EBACKEND", "EJSON", "EUTF8", "EPRICE", "ECURRENCY", "EDUPSKU", "ETOOLONG",
        "EBADID", "EFIELD", "EVERSION", "ECORRUPT", "EBUSY", "EIO", "ELIMIT", "ECATEGORY",
        "ESTATUS", "EREADONLY", "EQUANTITY", "ESKU", "ELOCATION", "EINSUFFICIENT", "EENDED",
        "EEXPIRED", "EUNAVAILABLE", "EEMPTY", "ESTALE", "EDECLINED", "ETIMEOUT", "EPAYMENT",
        "EIDEMPOTENCY", "ESTATE", "EQUERY", "EMIXEDCURRENCY",
    };
    return rc <= 0 && -rc < (int)(sizeof names / sizeof names[0]) ? names[-rc] : "?";
}

/* One line per seed: what the calls answered, and where the orders ended. */
static void print_stats(void)
{
    char line[1024];
    size_t len = (size_t)snprintf(line, sizeof line, "seed %" PRIu64 ":", cur_seed);
    for (int c = 0; c < C_CALLS && len < sizeof line; c++) {
        len += (size_t)snprintf(line + len, sizeof line - len, " %s %lu/%lu", call_names[c],
                                calls_ok[c], calls[c]);
        for (int e = 1; e < 48 && len < sizeof line; e++)
            if (answers[c][e])
                len += (size_t)snprintf(line + len, sizeof line - len, " %s:%lu", code_name(-e),
                                        answers[c][e]);
    }
    print_message("%s\n", line);
}

/* The host run: what the provider's calls came to, over the seed's orders. */
static void print_provider(void)
{
    unsigned long calls_k[HK_KEYS] = {0}, ok[HK_KEYS] = {0}, no[HK_KEYS] = {0};
    unsigned long partial = 0, no_id = 0, auto_capture = 0, stuck = 0, lost = 0;
    for (int i = 0; i < nhp; i++) {
        const h_entry *e = &hp[i];
        for (int k = 0; k < HK_KEYS; k++) {
            calls_k[k] += (unsigned long)e->l.calls[k];
            ok[k] += e->l.done[k] && e->l.ok[k];
            no[k] += e->l.done[k] && !e->l.ok[k];
            lost += (unsigned long)(e->l.calls[k] < e->plans[k].fails ? e->l.calls[k]
                                                                       : e->plans[k].fails);
        }
        bool approved = h_authorized(&e->l);
        partial += approved && e->l.amount[HK_AUTH] != e->asked;
        no_id += approved && e->plans[HK_AUTH].no_id;
        auto_capture += approved && e->plans[HK_AUTH].captured;
        const h_ledger *l = &e->l;
        stuck += l->done[HK_VOID] && !l->ok[HK_VOID] && l->done[HK_RVOID] && !l->ok[HK_RVOID];
    }
    char line[1024];
    size_t len = (size_t)snprintf(line, sizeof line, "seed %" PRIu64 " provider: %d orders, "
                                  "%lu partial, %lu without charge id, %lu captured at once, "
                                  "%lu calls failed, %lu never given back;", cur_seed, nhp,
                                  partial, no_id, auto_capture, lost, stuck);
    for (int k = 0; k < HK_KEYS && len < sizeof line; k++)
        len += (size_t)snprintf(line + len, sizeof line - len, " %s %lu (%lu ok, %lu no)",
                                hk_names[k], calls_k[k], ok[k], no[k]);
    print_message("%s\n", line);
}

static void print_reached(void)
{
    unsigned long reached[ECOM_ORDER_PARTIALLY_REFUNDED + 1] = {0};
    for (int i = 0; i < m.norders; i++)
        for (size_t h = 0; h < m.orders[i].nhist; h++)
            if (h == 0 || m.orders[i].hist[h] != m.orders[i].hist[h - 1])
                reached[m.orders[i].hist[h]]++;
    char line[512];
    size_t len = (size_t)snprintf(line, sizeof line, "seed %" PRIu64 ": %d orders reached",
                                  cur_seed, m.norders);
    for (int st = 0; st <= ECOM_ORDER_PARTIALLY_REFUNDED; st++)
        len += (size_t)snprintf(line + len, sizeof line - len, " %s %lu",
                                sname((ecom_order_state)st), reached[st]);
    print_message("%s\n", line);
}

static void run_seed(uint64_t seed, int steps)
{
    cur_seed = seed;
    rng_state = seed * UINT64_C(0x9e3779b97f4a7c15) + 1;
    memset(&m, 0, sizeof m);
    memset(recent, 0, sizeof recent);
    nrecent = 0;
    memset(calls, 0, sizeof calls);
    memset(calls_ok, 0, sizeof calls_ok);
    memset(answers, 0, sizeof answers);
    day_jumps = 0;
    cur_step = 0;
    nhp = 0;
    h_next_ready = false;
    h_breach[0] = '\0';
    snprintf(what, sizeof what, "open");
    open_model_store(host ? "orders_model_host" : "orders_model");
    for (int s = 0; s < NSKU; s++) {
        m.on_hand[s] = catalog[s].stock;
        m.limit[s] = catalog[s].limit;
    }
    verify_all();
    for (cur_step = 1; cur_step <= steps; cur_step++) {
        h_step_start();
        run_step();
        verify_all();
    }
    if (stats)
        print_reached();
    if (host)
        h_wind_down();
    else
        wind_down();
    if (stats)
        print_stats();
    if (stats && host)
        print_provider();
    close_model_store();
}

/* Seeds 1..seeds of steps each, or what the environment asks (the same knobs for both
 * runs: ECOM_MODEL_SEED, ECOM_MODEL_STEPS, ECOM_MODEL_TRACE, ECOM_MODEL_STATS). */
static void run_seeds(bool with_host, uint64_t seeds, int steps)
{
    host = with_host;
    trace = getenv("ECOM_MODEL_TRACE") != NULL;
    stats = trace || getenv("ECOM_MODEL_STATS") != NULL;
    const char *one = getenv("ECOM_MODEL_SEED");
    const char *n = getenv("ECOM_MODEL_STEPS");
    if (n)
        steps = atoi(n);
    if (one) {
        run_seed(strtoull(one, NULL, 10), steps);
    } else {
        for (uint64_t seed = 1; seed <= seeds; seed++)
            run_seed(seed, steps);
    }
    host = false;
}

static void test_orders_model__random(void **state)
{
    (void)state;
    run_seeds(false, SEEDS, STEPS);
}

/* The same, with a host provider whose every answer is drawn per key (host_provider):
 * the model plays each of the store's calls to it (sim_*), and its ledger of every order
 * is compared with the provider's, and the money rules checked on it, after every step. */
static void test_orders_model__random_host_provider(void **state)
{
    (void)state;
    run_seeds(true, HOST_SEEDS, HOST_STEPS);
}

/* ---- cases the model found, each kept as a small test ---- */

/* A checkout of user:ann's cart under key: its answer, and its order's id. */
static int checkout_ann(const char *token, const char *key, char *id, size_t size)
{
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = "user:ann";
    r.user = "ann";
    r.payment_token = token;
    ecom_order *o = NULL;
    int rc = ecom_checkout(&o, store, &r, key);
    CHECK(o != NULL, "checkout: %s", ecom_strerror(rc));
    snprintf(id, size, "%s", ecom_order_id(o));
    ecom_order_free(o);
    return rc;
}

/* A store with the model's catalog, and a paid order of 2 mugs (total 3206). */
static void paid_order(const char *token, const char *key, char *id, size_t size)
{
    int rc = ecom_cart_add(store, "user:ann", "mug", 2, "USD");
    CHECK(rc == ECOM_OK, "add: %s", ecom_strerror(rc));
    checkout_ann(token, key, id, size);
}

static ecom_order_state state_now(const char *id)
{
    ecom_order *o = NULL;
    CHECK(ecom_order_get(&o, store, id) == ECOM_OK, "get %s", id);
    ecom_order_state st = ecom_order_get_state(o);
    ecom_order_free(o);
    return st;
}

static void case_begin(const char *name)
{
    cur_seed = 0;
    cur_step = 0;
    nrecent = 0;
    snprintf(what, sizeof what, "%s", name);
    open_model_store("orders_case");
}

/* A refund key a cancel keeps its own refund under ("refund-cancel-<order id>") is
 * refused: taken by a caller's refund, it made every later cancel of the order find
 * that refund, take it for its own and refuse the move (money left), for ever. */
static void test_orders_model__a_cancels_refund_key_is_the_stores(void **state)
{
    (void)state;
    case_begin("a cancel's refund key");
    char id[80], key[128];
    paid_order("tok_approve", "k1", id, sizeof id);
    snprintf(key, sizeof key, "refund-cancel-%s", id);
    int rc = ecom_order_refund(store, id, ECOM_VERSION_ANY, 100, key, "cs", "dented box");
    expect_rc("refund under a cancel's key", rc, ECOM_EINVAL);
    CHECK(strstr(ecom_errmsg(store), "are the store's own") != NULL, "%s", ecom_errmsg(store));
    rc = ecom_order_cancel(store, id, ECOM_VERSION_ANY, "cs", "changed mind");
    expect_rc("cancel of a paid order, nothing shipped", rc, ECOM_OK);
    CHECK(state_now(id) == ECOM_ORDER_CANCELLED, "not cancelled");
    close_model_store();
}

/* A checkout retried after its order's stock hold ended while the payment was in
 * flight: the order is cancelled, its charge voided, and the answer, ECOM_EEXPIRED, is
 * among ecom_checkout's documented ones. */
static void test_orders_model__retry_after_the_hold_ended(void **state)
{
    (void)state;
    case_begin("retry after the hold ended");
    char id[80];
    paid_order("tok_timeout", "k1", id, sizeof id); /* ETIMEOUT: pending, charged */
    clock_ms += HOLD_MS;
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = "user:ann";
    r.user = "ann";
    r.payment_token = "tok_timeout";
    ecom_order *o = NULL;
    int rc = ecom_checkout(&o, store, &r, "k1");
    ecom_order_free(o);
    expect_rc("retry", rc, ECOM_EEXPIRED);
    documented("ecom_checkout", checkout_codes, rc);
    CHECK(state_now(id) == ECOM_ORDER_CANCELLED, "not cancelled");
    close_model_store();
}

/* The same through an approved notification. */
static void test_orders_model__notify_after_the_hold_ended(void **state)
{
    (void)state;
    case_begin("notify after the hold ended");
    char id[80], charge[96];
    paid_order("tok_timeout", "k1", id, sizeof id);
    clock_ms += HOLD_MS;
    snprintf(charge, sizeof charge, "ch_pay-%.60s", id);
    int rc = ecom_payment_notify(store, id, 1, charge, NULL);
    expect_rc("notify", rc, ECOM_EEXPIRED);
    documented("ecom_payment_notify", notify_codes, rc);
    CHECK(state_now(id) == ECOM_ORDER_CANCELLED, "not cancelled");
    close_model_store();
}

/* A refund key used again for another amount: ECOM_EIDEMPOTENCY, documented. */
static void test_orders_model__refund_key_reused(void **state)
{
    (void)state;
    case_begin("refund key reused");
    char id[80];
    paid_order("tok_approve", "k1", id, sizeof id);
    int rc = ecom_order_refund(store, id, ECOM_VERSION_ANY, 100, "r1", "cs", "dent");
    expect_rc("refund", rc, ECOM_OK);
    rc = ecom_order_refund(store, id, ECOM_VERSION_ANY, 200, "r1", "cs", "dent");
    expect_rc("the same key, another amount", rc, ECOM_EIDEMPOTENCY);
    documented("ecom_order_refund", refund_codes, rc);
    close_model_store();
}

/* A store with the host provider, whose plans for the next order approve every call at
 * once (the authorization captured with it); a case changes what it needs. */
static void host_case_begin(const char *name)
{
    host = true;
    nhp = 0;
    h_breach[0] = '\0';
    for (int k = 0; k < HK_KEYS; k++)
        h_next[k] = (h_plan){.fail_rc = ECOM_EPAYMENT, .approved = true};
    h_next[HK_AUTH].captured = true;
    h_next_ready = true;
    case_begin(name);
}

/* A retry that finishes the cancel its own checkout began (a partial authorization
 * whose void failed once: ECOM_EPAYMENT, the order marked, the key released) voids and
 * cancels the order and answers ECOM_ESTATE with the cancel's reason, as a retry
 * finishing any half-made cancel does (docs/checkout.md); the key keeps that answer. */
static void test_orders_model__a_retry_finishes_its_own_refusal(void **state)
{
    (void)state;
    host_case_begin("a retry finishing its own refusal");
    h_next[HK_AUTH].short_by = 1;                                    /* 3205 of 3206 */
    h_next[HK_VOID] = (h_plan){.fails = 1, .fail_rc = ECOM_EPAYMENT, .approved = true};
    int rc = ecom_cart_add(store, "user:ann", "mug", 2, "USD");
    CHECK(rc == ECOM_OK, "add: %s", ecom_strerror(rc));
    char id[80], again[80];
    rc = checkout_ann("tok", "k1", id, sizeof id);
    expect_rc("checkout, the partial authorization's void failing", rc, ECOM_EPAYMENT);
    CHECK(state_now(id) == ECOM_ORDER_PENDING_PAYMENT, "not pending");
    rc = checkout_ann("tok", "k1", again, sizeof again);
    expect_rc("the retry", rc, ECOM_ESTATE);
    CHECK(strstr(ecom_errmsg(store), "approved 3205, not the total 3206") != NULL, "%s",
          ecom_errmsg(store));
    CHECK(strcmp(again, id) == 0, "another order");
    rc = checkout_ann("tok", "k1", again, sizeof again); /* the key keeps the answer */
    expect_rc("the next retry", rc, ECOM_ESTATE);
    CHECK(strcmp(again, id) == 0, "another order");
    CHECK(state_now(id) == ECOM_ORDER_CANCELLED, "not cancelled");
    CHECK(hp[0].l.voided && hp[0].l.calls[HK_CAPTURE] == 0, "not voided, or captured");
    close_model_store();
}

int main(void)
{
#define T(name) cmocka_unit_test_teardown(test_orders_model__##name, teardown)
    const struct CMUnitTest tests[] = {
        T(random),
        T(random_host_provider),
        T(a_cancels_refund_key_is_the_stores),
        T(retry_after_the_hold_ended),
        T(notify_after_the_hold_ended),
        T(refund_key_reused),
        T(a_retry_finishes_its_own_refusal),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
