/*
 * The built-in test payment provider: the outcome is chosen by the payment token, and
 * every call is recorded in the store's payment ledger (the backend's payment_apply),
 * idempotent on its key, so that tests can count charges and a retry never charges
 * twice. Also ecom__payments: which provider a store uses.
 *
 * The ledger is keyed by idempotency key, and capture, void and refund name a charge by
 * its id: so a charge's record is stored under its charge id, which is a function of
 * the authorize's idempotency key. One record, written in one unit: a crash can never
 * leave a charge that capture cannot find, and lookup by key computes the same id.
 */
#include <stdio.h>
#include <string.h>

#include "orders.h"

typedef struct found {
    bool seen;
    int approved;
    int64_t amount;
    char kind[16];
    char order_id[ECOM_ID_MAX + 1];
    char charge_id[72];
    char reason[128];
} found;

static int found_fn(void *ctx, const ecom_payment_rec *rec)
{
    found *f = ctx;
    f->seen = true;
    f->approved = rec->approved;
    f->amount = rec->amount;
    snprintf(f->kind, sizeof f->kind, "%s", rec->kind ? rec->kind : "");
    snprintf(f->order_id, sizeof f->order_id, "%s", rec->order_id ? rec->order_id : "");
    snprintf(f->charge_id, sizeof f->charge_id, "%s", rec->charge_id ? rec->charge_id : "");
    snprintf(f->reason, sizeof f->reason, "%s", rec->reason ? rec->reason : "");
    return 1;
}

static bool has_ledger(const ecom_store *store)
{
    const ecom_backend *be = store->be;
    return be && be->version >= 3 && be->payment_apply && be->payment_get;
}

static int no_ledger(ecom_store *store)
{
    return ecom__fail(store, ECOM_EUNSUPPORTED, "test payment provider: the %s backend has no "
                      "payment ledger (contract version %d; it needs 3)",
                      store->be ? store->be->name : "(none)", store->be ? store->be->version : 0);
}

/* Reads the record under key into f. ECOM_ENOTFOUND if none. */
static int get(ecom_store *store, const char *key, found *f)
{
    memset(f, 0, sizeof *f);
    int rc = store->be->payment_get(store->be, key, found_fn, f);
    if (rc == ECOM_OK && !f->seen)
        rc = ECOM_ENOTFOUND;
    return rc;
}


/* Stores n records in one batch (one wait): a charge and its automatic capture. */
static int put_all(ecom_store *store, ecom_payment_op *ops, size_t n)
{
    const ecom__write_kind kinds[] = {ECOM__WRITE_PAYMENT, ECOM__WRITE_PAYMENT};
    void *const ptrs[] = {&ops[0], &ops[1]};
    for (size_t i = 0; i < n; i++)
        ops[i].rec.time = ecom__now(store);
    int rc = ecom__commit_group(store, kinds, ptrs, n);
    if (rc == ECOM_EUNSUPPORTED)
        return no_ledger(store);
    if (rc != ECOM_OK)
        return ecom_errcode(store) == rc
                   ? rc
                   : ecom__fail(store, rc, "test payment provider: recording '%s' failed: %s",
                                ops[0].rec.key, ecom_strerror(rc));
    for (size_t i = 0; i < n; i++)
        if (!ops[i].existing) {
            ops[i].approved = ops[i].rec.approved;
            ops[i].amount = ops[i].rec.amount;
            snprintf(ops[i].charge_id, sizeof ops[i].charge_id, "%s", ops[i].rec.charge_id);
            snprintf(ops[i].reason, sizeof ops[i].reason, "%s", ops[i].rec.reason);
        }
    return ECOM_OK;
}

/* The key of a charge's automatic capture. */
static void capture_key_of(char *out, size_t size, const char *charge_id)
{
    snprintf(out, size, "%s.capture", charge_id);
}

static void result_of(ecom_payment_result *out, const ecom_payment_op *op)
{
    out->approved = op->approved ? 1 : 0;
    out->amount = op->amount;
    snprintf(out->charge_id, sizeof out->charge_id, "%s", op->charge_id);
    snprintf(out->reason, sizeof out->reason, "%s", op->reason);
}

/* "ch_" and 16 hex digits of the key's FNV-1a hash: the same key, the same charge. */
static void charge_id_of(char *out, size_t size, const char *key)
{
    /* "ch_" + the key when it fits: checkout's keys carry time-ordered order ids, so
     * charges land side by side in the ledger's B-tree (fewer pages per commit). A
     * longer key is hashed; the "h" keeps the two forms apart. */
    if (strlen(key) + 4 <= size && strlen(key) <= 60) {
        snprintf(out, size, "ch_%s", key);
        return;
    }
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * UINT64_C(0x100000001b3);
    snprintf(out, size, "chh%016llx", (unsigned long long)h);
}

static bool bad_key(const char *key)
{
    return key == NULL || *key == '\0';
}

static int test_authorize(void *ctx, const ecom_payment_request *req, ecom_payment_result *out)
{
    ecom_store *store = ctx;
    if (out)
        memset(out, 0, sizeof *out);
    if (req == NULL || out == NULL || bad_key(req->idempotency_key) || req->amount < 0)
        return ecom__fail(store, ECOM_EPAYMENT, "test payment provider: authorize needs a "
                          "request, an idempotency key and an amount >= 0");
    if (!has_ledger(store))
        return no_ledger(store);
    const char *token = req->token ? req->token : "";
    if (strcmp(token, "tok_error") == 0)
        return ecom__fail(store, ECOM_EPAYMENT, "test payment provider: token 'tok_error' "
                          "fails (nothing was charged)");
    bool timeout = strcmp(token, "tok_timeout") == 0;
    bool approve = timeout || strcmp(token, "tok_approve") == 0;
    const char *reason = approve ? "" : strcmp(token, "tok_decline") == 0 ? "card_declined"
                                                                          : "invalid_token";
    char charge_id[72], capture_key[96];
    charge_id_of(charge_id, sizeof charge_id, req->idempotency_key);
    capture_key_of(capture_key, sizeof capture_key, charge_id);
    const char *order = req->order_id ? req->order_id : "";
    ecom_payment_op ops[2] = {
        {.rec = {charge_id, order, charge_id, "charge", req->amount, approve, reason, 0}},
        {.rec = {capture_key, order, charge_id, "capture", req->amount, 1, "", 0}}};
    bool capture = approve && req->capture;
    int rc = put_all(store, ops, capture ? 2 : 1);
    if (rc != ECOM_OK)
        return rc;
    ecom_payment_op op = ops[0];
    if (timeout && !op.existing)
        return ecom__fail(store, ECOM_ETIMEOUT, "test payment provider: token 'tok_timeout': "
                          "charged, but the answer was lost; retry with the same key");
    result_of(out, &op);
    out->captured = capture && op.approved;
    return ECOM_OK;
}

/* capture, void and refund: a record of kind `kind` under its own key, against an
 * approved charge. amount < 0: the charge's amount. */
static int act(ecom_store *store, const char *kind, const char *charge_id, int64_t amount,
               const char *key, ecom_payment_result *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (out == NULL || charge_id == NULL || bad_key(key))
        return ecom__fail(store, ECOM_EPAYMENT, "test payment provider: %s needs a charge id "
                          "and an idempotency key", kind);
    if (!has_ledger(store))
        return no_ledger(store);
    found charge;
    int rc = *charge_id ? get(store, charge_id, &charge) : ECOM_ENOTFOUND;
    bool known = rc == ECOM_OK && charge.approved && strcmp(charge.kind, "charge") == 0;
    if (rc == ECOM_ENOTFOUND || (rc == ECOM_OK && !known))
        return ecom__fail(store, ECOM_EPAYMENT, "test payment provider: %s of unknown charge "
                          "'%s'", kind, charge_id);
    if (rc != ECOM_OK)
        return ecom_errcode(store) == rc
                   ? rc
                   : ecom__fail(store, rc, "test payment provider: reading charge '%s': %s",
                                charge_id, ecom_strerror(rc));
    ecom_payment_op op = {.rec = {key, charge.order_id, charge_id, kind,
                                  amount < 0 ? charge.amount : amount, 1, "", 0}};
    rc = put_all(store, &op, 1);
    if (rc == ECOM_OK)
        result_of(out, &op);
    return rc;
}

static int test_capture(void *ctx, const char *charge_id, int64_t amount, const char *key,
                        ecom_payment_result *out)
{
    if (amount < 0)
        return ecom__fail(ctx, ECOM_EPAYMENT, "test payment provider: capture of %lld",
                          (long long)amount);
    return act(ctx, "capture", charge_id, amount, key, out);
}

static int test_void(void *ctx, const char *charge_id, const char *key,
                     ecom_payment_result *out)
{
    return act(ctx, "void", charge_id, -1, key, out);
}

static int test_refund(void *ctx, const char *charge_id, int64_t amount, const char *key,
                       ecom_payment_result *out)
{
    if (amount <= 0)
        return ecom__fail(ctx, ECOM_EPAYMENT, "test payment provider: refund of %lld",
                          (long long)amount);
    return act(ctx, "refund", charge_id, amount, key, out);
}

static int test_lookup(void *ctx, const char *key, ecom_payment_result *out)
{
    ecom_store *store = ctx;
    if (out)
        memset(out, 0, sizeof *out);
    if (out == NULL || bad_key(key))
        return ecom__fail(store, ECOM_EPAYMENT, "test payment provider: lookup needs a key");
    if (!has_ledger(store))
        return no_ledger(store);
    found f;
    char charge_id[72];
    charge_id_of(charge_id, sizeof charge_id, key);
    int rc = get(store, charge_id, &f);
    if (rc == ECOM_ENOTFOUND)
        return ecom__fail(store, rc, "test payment provider: no payment under key '%s'", key);
    if (rc != ECOM_OK)
        return ecom_errcode(store) == rc
                   ? rc
                   : ecom__fail(store, rc, "test payment provider: lookup of '%s': %s", key,
                                ecom_strerror(rc));
    out->approved = f.approved ? 1 : 0;
    out->amount = f.amount;
    snprintf(out->charge_id, sizeof out->charge_id, "%s", f.charge_id);
    snprintf(out->reason, sizeof out->reason, "%s", f.reason);
    char capture_key[96];
    found cap;
    capture_key_of(capture_key, sizeof capture_key, charge_id);
    out->captured = f.approved && get(store, capture_key, &cap) == ECOM_OK && cap.approved;
    return ECOM_OK;
}

void ecom__test_payments_init(ecom_payment_provider *provider, ecom_store *store)
{
    *provider = (ecom_payment_provider){
        .version = ECOM_PAYMENT_PROVIDER_VERSION,
        .name = "test",
        .ctx = store,
        .authorize = test_authorize,
        .capture = test_capture,
        .void_charge = test_void,
        .refund = test_refund,
        .lookup = test_lookup,
    };
}

const ecom_payment_provider *ecom__payments(ecom_store *store)
{
    const ecom_payment_provider *p = store->opts.payments;
    if (p && p->version == ECOM_PAYMENT_PROVIDER_VERSION)
        return p;
    return &store->test_payments;
}
