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
 * A failure names the seed and the step, and prints the steps before it.
 * ECOM_MODEL_SEED=<seed> runs one seed (ECOM_MODEL_STEPS=<n> steps), ECOM_MODEL_TRACE=1
 * prints every step, ECOM_MODEL_STATS=1 what each seed reached. What the model found
 * (a cancel's refund key open to callers; codes the documentation did not give) is
 * kept below as small tests.
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
                                 ECOM_EQUANTITY, END};
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
} m_cart;

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
    char rk[MAX_REFUND_KEYS][8];
    int64_t rk_amount[MAX_REFUND_KEYS];
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

/* Fails naming the seed, the step and what it did, and the steps before it. */
#define FAIL(...)                                                                           \
    do {                                                                                    \
        char why_[512];                                                                     \
        snprintf(why_, sizeof why_, __VA_ARGS__);                                           \
        for (unsigned i_ = nrecent < 8 ? 0 : nrecent - 8; i_ < nrecent; i_++)               \
            print_message("  before: %s\n", recent[i_ % 8]);                                \
        if (cur_seed)                                                                       \
            fail_msg("seed %" PRIu64 " step %d (%s): %s [errmsg: %s]", cur_seed, cur_step,  \
                     what, why_, store ? ecom_errmsg(store) : "");                          \
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

/* What a paid order bought leaves its cart (ECOM_CART_TAKE). */
static void model_take(const m_order *o)
{
    m_cart *c = &m.carts[o->cart];
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
    CHECK(st != ECOM_ORDER_PENDING_PAYMENT || !reason[0], "order %s is pending with reason "
          "'%s'", mo->id, reason);
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
    ecom_order_free(o);

    /* The test provider's ledger of it. */
    ledger l;
    read_ledger(mo->id, &l);
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
    m_cart *mc = &m.carts[cart];
    int64_t live[NSKU], due[NSKU];
    held_units(live, due);
    if (k && (k->cart != cart || k->user != user || k->token != token)) {
        expected = ECOM_EIDEMPOTENCY;
    } else if (k) {
        existing = k->order;
        expected = k->done ? k->result : model_resume(&m.orders[existing], &hold_end);
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
    if (creates) {
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
    if (hold_end == ECOM_EEXPIRED && rc == ECOM_EENDED)
        rc = ECOM_EEXPIRED; /* the same end, swept or not (test_checkout_void agrees) */
    expect_rc("ecom_checkout", rc, expected);
    const char *got = o ? ecom_order_id(o) : NULL;

    if (existing >= 0) {
        /* The same key and request: the same order, never a second one. */
        CHECK(got && strcmp(got, m.orders[existing].id) == 0, "the key's order is %s, the "
              "checkout answered %s", m.orders[existing].id, got ? got : "none");
        if (!k->done && key_result_final(rc)) {
            k->done = true;
            k->result = rc;
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
        *mo = (m_order){.cart = cart, .user = user, .token = token,
                        .state = ECOM_ORDER_PENDING_PAYMENT, .created_at = clock_ms,
                        .held = true};
        snprintf(mo->id, sizeof mo->id, "%s", got);
        memcpy(mo->cur, mc->cur, sizeof mo->cur);
        for (int s = 0; s < NSKU; s++)
            mo->qty[s] = mc->qty[s];
        mo->total = total_of(mc);
        m_key *nk = &m.keys[m.nkeys++];
        *nk = (m_key){.cart = cart, .user = user, .token = token, .order = m.norders - 1,
                      .created_at = clock_ms};
        snprintf(nk->key, sizeof nk->key, "%s", key);
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
        nk->done = key_result_final(rc);
        nk->result = rc;
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
    return true;
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
    else if (over || bad) /* more than left, a SKU the order has no line of, or nonsense */
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

static bool op_cancel(void)
{
    m_order *o = pick_order(ST(PENDING_PAYMENT) | ST(PAID) | ST(FULFILLING), 80);
    if (o == NULL)
        return false;
    vmode v = pick_vmode();
    step_begin("cancel %s (%s, refunded %" PRId64 " of %" PRId64 ", version %s)", o->id,
               sname(o->state), o->refunded, o->total, vname(v));
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

static int find_refund_key(const m_order *o, const char *key)
{
    for (int i = 0; i < o->refund_keys; i++)
        if (strcmp(o->rk[i], key) == 0)
            return i;
    return -1;
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
    int known = find_refund_key(o, key);
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
    if (store)
        close_model_store();
    return 0;
}

/* Ends every order: the holds swept, the pending ones recovered, those paid and not
 * shipped cancelled, the others shipped and delivered. Then no unit is held, and every
 * unit received is on hand or went out in an order not cancelled: none made or lost. */
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
    /* Conservation, from the store's own figures: what is on hand and what left in
     * orders not cancelled is what came in. */
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
    snprintf(what, sizeof what, "open");
    open_model_store("orders_model");
    for (int s = 0; s < NSKU; s++) {
        m.on_hand[s] = catalog[s].stock;
        m.limit[s] = catalog[s].limit;
    }
    verify_all();
    for (cur_step = 1; cur_step <= steps; cur_step++) {
        run_step();
        verify_all();
    }
    if (stats)
        print_reached();
    wind_down();
    if (stats)
        print_stats();
    close_model_store();
}

static void test_orders_model__random(void **state)
{
    (void)state;
    trace = getenv("ECOM_MODEL_TRACE") != NULL;
    stats = trace || getenv("ECOM_MODEL_STATS") != NULL;
    const char *one = getenv("ECOM_MODEL_SEED");
    const char *steps = getenv("ECOM_MODEL_STEPS");
    int n = steps ? atoi(steps) : STEPS;
    if (one) {
        run_seed(strtoull(one, NULL, 10), n);
        return;
    }
    for (uint64_t seed = 1; seed <= SEEDS; seed++)
        run_seed(seed, n);
}

/* ---- cases the model found, each kept as a small test ---- */

/* A store with the model's catalog, and a paid order of 2 mugs (total 3206). */
static void paid_order(const char *token, const char *key, char *id, size_t size)
{
    int rc = ecom_cart_add(store, "user:ann", "mug", 2, "USD");
    CHECK(rc == ECOM_OK, "add: %s", ecom_strerror(rc));
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = "user:ann";
    r.user = "ann";
    r.payment_token = token;
    ecom_order *o = NULL;
    rc = ecom_checkout(&o, store, &r, key);
    CHECK(o != NULL, "checkout: %s", ecom_strerror(rc));
    snprintf(id, size, "%s", ecom_order_id(o));
    ecom_order_free(o);
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

int main(void)
{
#define T(name) cmocka_unit_test_teardown(test_orders_model__##name, teardown)
    const struct CMUnitTest tests[] = {
        T(random),
        T(a_cancels_refund_key_is_the_stores),
        T(retry_after_the_hold_ended),
        T(notify_after_the_hold_ended),
        T(refund_key_reused),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
