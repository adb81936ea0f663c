/* The LMDB backend's commerce encoding: carts, idempotency keys, orders and their
 * index keys, payments (layout in lmdb_commerce.h). */
#include <string.h>

#include "lmdb_commerce.h"
#include "lmdb_value.h"

#define SIGN UINT64_C(0x8000000000000000)
#define CART_FIXED 18u    /* updated_at, expires_at, u16 line count */
#define ORDER_FIXED 17u   /* version, created_at, state */
#define PAYMENT_FIXED 25u /* time, seq, amount, approved */

/* ---- shared helpers ---- */

void ecom__cm_put_time(unsigned char out[8], int64_t t, int newest_first)
{
    uint64_t v = (uint64_t)t ^ SIGN;
    ecom__lmdb_put_u64be(out, newest_first ? ~v : v);
}

int64_t ecom__cm_get_time(const unsigned char in[8], int newest_first)
{
    uint64_t v = ecom__lmdb_get_u64be(in);
    return (int64_t)((newest_first ? ~v : v) ^ SIGN);
}

int64_t ecom__cm_add_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (!__builtin_add_overflow(a, b, &r))
        return r;
    return b > 0 ? INT64_MAX : INT64_MIN;
}

int ecom__cm_len_ok(const char *s, size_t max)
{
    if (s == NULL || *s == '\0')
        return 0;
    return strnlen(s, max + 1) <= max;
}

/* ---- carts ---- */

size_t ecom__cm_cart_size(const cm_cart *c)
{
    size_t total = CART_FIXED;
    ecom__lv_str_size(c->currency, &total);
    for (size_t i = 0; i < c->n; i++) {
        total += 16;
        ecom__lv_str_size(c->lines[i].sku, &total);
    }
    if (c->into[0])
        ecom__lv_str_size(c->into, &total);
    return total;
}

void ecom__cm_cart_encode(unsigned char *out, const cm_cart *c)
{
    ecom__lv_writer w = {out};
    ecom__lv_w_i64(&w, c->updated_at);
    ecom__lv_w_i64(&w, c->expires_at);
    ecom__lv_w_str(&w, c->currency);
    ecom__lv_w_u16(&w, c->n);
    for (size_t i = 0; i < c->n; i++) {
        ecom__lv_w_i64(&w, c->lines[i].qty);
        ecom__lv_w_i64(&w, c->lines[i].price);
        ecom__lv_w_str(&w, c->lines[i].sku);
    }
    if (c->into[0]) /* after the lines, so that every other cart reads as before */
        ecom__lv_w_str(&w, c->into);
}

int ecom__cm_cart_decode(cm_cart_view *view, const MDB_val *v)
{
    ecom__lv_reader r = ecom__lv_reader_of(v);
    view->updated_at = ecom__lv_r_i64(&r);
    view->expires_at = ecom__lv_r_i64(&r);
    view->currency = ecom__lv_r_str(&r);
    view->n = ecom__lv_r_u16(&r);
    if (r.bad)
        return ECOM_ECORRUPT;
    if (view->n > ECOM_CART_LINES_MAX)
        return ECOM_ELIMIT;
    for (size_t i = 0; i < view->n; i++) {
        view->lines[i].quantity = ecom__lv_r_i64(&r);
        view->lines[i].unit_price = ecom__lv_r_i64(&r);
        view->lines[i].sku = ecom__lv_r_str(&r);
    }
    view->into = r.p != r.end ? ecom__lv_r_str(&r) : "";
    return r.bad || r.p != r.end || (view->into[0] && view->n > 0) ? ECOM_ECORRUPT : ECOM_OK;
}

int ecom__cm_cart_copy(cm_cart *c, const cm_cart_view *view)
{
    size_t clen = strlen(view->currency);
    if (clen > CM_CURRENCY_MAX)
        return ECOM_ECORRUPT;
    memcpy(c->currency, view->currency, clen + 1);
    size_t ilen = strlen(view->into);
    if (ilen > CM_NAME_MAX)
        return ECOM_ECORRUPT;
    memcpy(c->into, view->into, ilen + 1);
    c->updated_at = view->updated_at;
    c->expires_at = view->expires_at;
    c->n = view->n;
    for (size_t i = 0; i < view->n; i++) {
        size_t len = strlen(view->lines[i].sku);
        if (len > ECOM_ID_MAX)
            return ECOM_ECORRUPT;
        memcpy(c->lines[i].sku, view->lines[i].sku, len + 1);
        c->lines[i].qty = view->lines[i].quantity;
        c->lines[i].price = view->lines[i].unit_price;
    }
    return ECOM_OK;
}

/* ---- idempotency keys ---- */

void ecom__cm_idem_encode(unsigned char *out, const cm_idem *k)
{
    ecom__lv_writer w = {out};
    ecom__lv_w_u8(&w, k->state);
    ecom__lv_w_i64(&w, k->result);
    ecom__lv_w_i64(&w, (int64_t)k->fingerprint);
    ecom__lv_w_i64(&w, k->created_at);
    ecom__lv_w_i64(&w, k->started_at);
    ecom__lv_w_i64(&w, (int64_t)k->holder);
    ecom__lv_w_str(&w, k->order_id);
}

int ecom__cm_idem_decode(cm_idem *k, const MDB_val *v)
{
    ecom__lv_reader r = ecom__lv_reader_of(v);
    k->state = ecom__lv_r_u8(&r);
    int64_t result = ecom__lv_r_i64(&r);
    k->fingerprint = (uint64_t)ecom__lv_r_i64(&r);
    k->created_at = ecom__lv_r_i64(&r);
    k->started_at = ecom__lv_r_i64(&r);
    k->holder = (uint64_t)ecom__lv_r_i64(&r);
    const char *order_id = ecom__lv_r_str(&r);
    size_t len = strlen(order_id);
    if (r.bad || r.p != r.end || len > ECOM_ID_MAX || result < INT32_MIN || result > 0 ||
        k->state < CM_IDEM_HELD || k->state > CM_IDEM_RELEASED)
        return ECOM_ECORRUPT;
    k->result = (int)result;
    memcpy(k->order_id, order_id, len + 1);
    return ECOM_OK;
}

/* ---- orders ---- */

size_t ecom__cm_order_size(const ecom_order_rec *rec)
{
    size_t total = ORDER_FIXED;
    if (strlen(rec->user) > CM_NAME_MAX || !ecom__lv_str_size(rec->user, &total))
        return 0;
    if (rec->data_len > SIZE_MAX - total)
        return 0;
    return total + rec->data_len;
}

void ecom__cm_order_encode(unsigned char *out, const ecom_order_rec *rec, uint64_t version)
{
    ecom__lv_writer w = {out};
    ecom__lv_w_i64(&w, (int64_t)version);
    ecom__lv_w_i64(&w, rec->created_at);
    ecom__lv_w_u8(&w, rec->state);
    ecom__lv_w_str(&w, rec->user);
    if (rec->data_len)
        memcpy(w.p, rec->data, rec->data_len);
}

int ecom__cm_order_decode(ecom_order_rec *rec, uint64_t *version, const char *id,
                          const MDB_val *v)
{
    ecom__lv_reader r = ecom__lv_reader_of(v);
    *version = (uint64_t)ecom__lv_r_i64(&r);
    rec->id = id;
    rec->created_at = ecom__lv_r_i64(&r);
    rec->state = ecom__lv_r_u8(&r);
    rec->user = ecom__lv_r_str(&r);
    if (r.bad)
        return ECOM_ECORRUPT;
    rec->data = r.p;
    rec->data_len = (size_t)(r.end - r.p);
    return ECOM_OK;
}

/* Appends s with its NUL at *o, if it fits in CM_KEY_MAX. */
static int key_str(unsigned char *out, size_t *o, const char *s, size_t max)
{
    size_t len = strlen(s);
    if (len > max || *o + len + 1 > CM_KEY_MAX)
        return 0;
    memcpy(out + *o, s, len + 1);
    *o += len + 1;
    return 1;
}

size_t ecom__cm_order_key(unsigned char *out, int which, const ecom_order_rec *rec)
{
    size_t o = 0;
    if (which == CM_BY_USER && !key_str(out, &o, rec->user, CM_NAME_MAX))
        return 0;
    if (which == CM_BY_STATE)
        out[o++] = (unsigned char)rec->state;
    ecom__cm_put_time(out + o, rec->created_at, 1);
    o += 8;
    return key_str(out, &o, rec->id, ECOM_ID_MAX) ? o : 0;
}

MDB_dbi ecom__cm_order_dbi(const ecom__lmdb *be, int which)
{
    return which == CM_BY_USER ? be->ord_user : which == CM_BY_STATE ? be->ord_state
                                                                      : be->ord_time;
}

int ecom__cm_order_key_split(cm_order_ikey *out, int which, const MDB_val *k)
{
    const unsigned char *p = k->mv_data, *end = p + k->mv_size;
    out->user = "";
    out->state = -1;
    if (which == CM_BY_USER) {
        const unsigned char *nul = memchr(p, '\0', k->mv_size);
        if (nul == NULL)
            return -1;
        out->user = (const char *)p;
        p = nul + 1;
    } else if (which == CM_BY_STATE) {
        if (p == end)
            return -1;
        out->state = *p++;
    }
    if (end - p < 10 || !ecom__lmdb_is_cstr(p + 8, (size_t)(end - p - 8)))
        return -1;
    out->created_at = ecom__cm_get_time(p, 1);
    out->id = (const char *)p + 8;
    return 0;
}

/* ---- payments ---- */

size_t ecom__cm_payment_size(const ecom_payment_rec *rec)
{
    size_t total = PAYMENT_FIXED;
    if (!ecom__lv_str_size(rec->order_id, &total) || !ecom__lv_str_size(rec->charge_id, &total) ||
        !ecom__lv_str_size(rec->kind, &total) || !ecom__lv_str_size(rec->reason, &total))
        return 0;
    return total;
}

void ecom__cm_payment_encode(unsigned char *out, const ecom_payment_rec *rec, uint64_t seq)
{
    ecom__lv_writer w = {out};
    ecom__lv_w_i64(&w, rec->time);
    ecom__lv_w_i64(&w, (int64_t)seq);
    ecom__lv_w_i64(&w, rec->amount);
    ecom__lv_w_u8(&w, rec->approved != 0);
    ecom__lv_w_str(&w, rec->order_id);
    ecom__lv_w_str(&w, rec->charge_id);
    ecom__lv_w_str(&w, rec->kind);
    ecom__lv_w_str(&w, rec->reason);
}

int ecom__cm_payment_decode(ecom_payment_rec *rec, uint64_t *seq, const char *key,
                            const MDB_val *v)
{
    ecom__lv_reader r = ecom__lv_reader_of(v);
    rec->key = key;
    rec->time = ecom__lv_r_i64(&r);
    *seq = (uint64_t)ecom__lv_r_i64(&r);
    rec->amount = ecom__lv_r_i64(&r);
    rec->approved = ecom__lv_r_u8(&r);
    rec->order_id = ecom__lv_r_str(&r);
    rec->charge_id = ecom__lv_r_str(&r);
    rec->kind = ecom__lv_r_str(&r);
    rec->reason = ecom__lv_r_str(&r);
    return r.bad || r.p != r.end || rec->approved > 1 ? ECOM_ECORRUPT : ECOM_OK;
}

size_t ecom__cm_payment_key(unsigned char *out, const char *order_id, int64_t time,
                            uint64_t seq, const char *key)
{
    size_t o = 0;
    if (!key_str(out, &o, order_id, ECOM_ID_MAX) || o + 16 > CM_KEY_MAX)
        return 0;
    ecom__cm_put_time(out + o, time, 0);
    ecom__lmdb_put_u64be(out + o + 8, seq);
    o += 16;
    return key_str(out, &o, key, CM_NAME_MAX) ? o : 0;
}
