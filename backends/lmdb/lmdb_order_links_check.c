/* The LMDB backend's check of one order against the records it names, in the check's
 * snapshot: the holds of its stock (its reservation and flash-sale claims) in the
 * state its life puts them in, and its charge, when the test provider's ledger holds
 * it, as that order's approved charge. The order's own fields are the core's check. */
#include <string.h>

#include "lmdb_commerce.h"
#include "lmdb_inventory.h"
/* The core's order codec: the holds and the charge are in the order's opaque content. */
#include "orders.h"

#define QUOTE 160

typedef struct link_chk {
    ecom__lmdb *be;
    MDB_txn *txn;
    ecom_check_sink *sink;
    const ecom_order *o;
    char qo[QUOTE]; /* the order's id, quoted */
} link_chk;

/* A violation, through the sink of checker c. */
#define report(c, ...) ecom__lmdb_report((c)->sink, __VA_ARGS__)

static const char *q(char buf[QUOTE], const char *s)
{
    ecom__lmdb_quote(buf, QUOTE, s, strlen(s));
    return buf;
}

/* 1 found (into v), 0 not, or a negative error. */
static int lookup(link_chk *c, MDB_dbi dbi, const void *key, size_t len, MDB_val *v)
{
    return ecom__lmdb_check_get(c->be, c->txn, dbi, key, len, v);
}

static const char *hold_state_name(int state)
{
    static const char *const names[] = {"held", "committed", "released", "expired"};
    return state >= 0 && state < 4 ? names[state] : "in an unknown state";
}

/*
 * A hold's state against the order's life: the move to paid commits its holds in the
 * same unit, so an order paid once has every hold committed (a cancel after that
 * returns the units with an adjustment, the holds stay committed), one never paid
 * none; a cancel ends the holds it finds, so a cancelled order holds nothing. Holds
 * are never deleted: a missing one is damage. state is -1 for a missing hold; one that
 * does not parse is the inventory check's.
 */
static void judge_hold(link_chk *c, const char *what, const char *id, int state)
{
    char qh[QUOTE];
    bool paid = ecom__order_was_paid(c->o);
    if (state < 0)
        report(c, "order %s: its %s %s is missing", c->qo, what, q(qh, id));
    else if (paid && state != ECOM_RESERVATION_COMMITTED)
        report(c, "order %s was paid but its %s %s is %s, not committed", c->qo, what,
               q(qh, id), hold_state_name(state));
    else if (!paid && state == ECOM_RESERVATION_COMMITTED)
        report(c, "order %s was never paid but its %s %s is committed", c->qo, what,
               q(qh, id));
    else if (c->o->state == ECOM_ORDER_CANCELLED && state == ECOM_RESERVATION_HELD)
        report(c, "order %s is cancelled but its %s %s is still held", c->qo, what,
               q(qh, id));
}

static int check_reservation(link_chk *c)
{
    const char *id = c->o->reservation_id;
    if (id == NULL || id[0] == '\0')
        return ECOM_OK;
    MDB_val v;
    int rc = lookup(c, c->be->resv, id, strlen(id) + 1, &v);
    if (rc < 0)
        return rc;
    int state = -1;
    size_t n;
    if (rc == 1) {
        if (ecom__inv_resv_lines(&v, &n) != ECOM_OK)
            return ECOM_OK;
        const char **skus = ecom__calloc(n ? n : 1, sizeof *skus);
        int64_t *qtys = ecom__calloc(n ? n : 1, sizeof *qtys);
        inv_resv r;
        bool parsed = skus && qtys && ecom__inv_resv_decode(&r, &v, skus, qtys) == ECOM_OK;
        ecom__free(skus);
        ecom__free(qtys);
        if (skus == NULL || qtys == NULL)
            return ecom__lmdb_fail(c->be, ECOM_ENOMEM, "lmdb: out of memory in check");
        if (!parsed)
            return ECOM_OK;
        state = r.state;
    }
    judge_hold(c, "reservation", id, state);
    return ECOM_OK;
}

static int check_claims(link_chk *c)
{
    for (size_t i = 0; i < c->o->claim_count; i++) {
        char sale[ECOM_ID_MAX + 1];
        uint64_t ticket;
        if (!ecom__claim_parse(c->o->claims[i], sale, &ticket))
            continue; /* the core's check reports it */
        unsigned char key[INV_KEY_MAX];
        MDB_val v;
        int rc = lookup(c, c->be->claims, key, ecom__inv_claim_key(key, sale, ticket), &v);
        if (rc < 0)
            return rc;
        inv_claim claim;
        if (rc == 1 && ecom__inv_claim_decode(&claim, &v) != ECOM_OK)
            continue;
        judge_hold(c, "claim", c->o->claims[i], rc == 1 ? claim.state : -1);
        char qh[QUOTE], qw[QUOTE];
        if (rc == 1 && claim.order[0] && strcmp(claim.order, c->o->id) != 0)
            report(c, "order %s names claim %s, which stands in for order %s", c->qo,
                   q(qh, c->o->claims[i]), q(qw, claim.order));
    }
    return ECOM_OK;
}

/* The order's charge, when the test provider's ledger holds it (its charge record is
 * stored under the charge id): that order's own, and approved if the order was paid
 * with it. A charge the ledger does not hold went through another provider. */
static int check_charge(link_chk *c)
{
    const char *charge = c->o->charge_id;
    if (charge == NULL || charge[0] == '\0')
        return ECOM_OK;
    MDB_val v;
    int rc = lookup(c, c->be->payments, charge, strlen(charge) + 1, &v);
    if (rc <= 0)
        return rc;
    ecom_payment_rec rec;
    uint64_t seq;
    char qc[QUOTE], qw[QUOTE];
    if (ecom__cm_payment_decode(&rec, &seq, charge, &v) != ECOM_OK ||
        strcmp(rec.kind, "charge") != 0)
        return ECOM_OK; /* the ledger's check reports a malformed record */
    if (strcmp(rec.order_id, c->o->id) != 0)
        report(c, "order %s names charge %s, which the test provider made for order %s",
               c->qo, q(qc, charge), q(qw, rec.order_id));
    else if (!rec.approved && ecom__order_was_paid(c->o))
        report(c, "order %s was paid but the test provider declined its charge %s", c->qo,
               q(qc, charge));
    return ECOM_OK;
}

int ecom__lmdb_check_order_links(ecom__lmdb *be, MDB_txn *txn, ecom_check_sink *sink,
                                 const ecom_order_rec *rec, uint64_t version)
{
    ecom_order *o = NULL;
    int rc = ecom__order_decode(&o, rec, version);
    if (rc == ECOM_ENOMEM)
        return ecom__lmdb_fail(be, rc, "lmdb: out of memory in check");
    if (rc != ECOM_OK)
        return ECOM_OK; /* the core's check of the order reports it */
    link_chk c = {be, txn, sink, o, ""};
    q(c.qo, o->id);
    rc = check_reservation(&c);
    if (rc == ECOM_OK)
        rc = check_claims(&c);
    if (rc == ECOM_OK)
        rc = check_charge(&c);
    ecom_order_free(o);
    return rc;
}
