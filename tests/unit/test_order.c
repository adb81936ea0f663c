/*
 * Orders without a store: the model and its getters (NULL- and index-safe), the
 * state machine's table, the codec (round trips, every truncation, hand-made
 * corruptions, random mutations and garbage: ECOM_ECORRUPT or an order, never a
 * crash or an over-read under ASan), JSON with exact money, the consistency check,
 * the stock operations, and out of memory at every allocation of encode, decode and
 * to_json.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orders.h"
#include "support/support.h"

#define BIG_PRICE INT64_C(1000000000000000) /* 10^15: 999 of them pass 2^53 */

static ecom_order *sample(void)
{
    ecom_order *o = NULL;
    assert_int_equal(ecom__order_new(&o, "o-1", "alice", "USD", "default", 1000), ECOM_OK);
    assert_int_equal(ecom__order_add_line(o, "mug-red", 2, 1999), ECOM_OK);
    assert_int_equal(ecom__order_add_line(o, "big", 999, BIG_PRICE), ECOM_OK);
    assert_int_equal(ecom__order_add_claim(o, "sale1:7"), ECOM_OK);
    o->reservation_id = ecom__order_strdup(o, "co-o-1");
    o->payment_key = ecom__order_strdup(o, "pay-o-1");
    o->charge_id = ecom__order_strdup(o, "ch_0123456789abcdef");
    o->cart = ecom__order_strdup(o, "user:alice");
    o->subtotal = 2 * 1999 + 999 * BIG_PRICE;
    o->shipping = 500;
    o->tax = 10;
    o->total = o->subtotal + 510;
    assert_int_equal(ecom__order_push(o, ECOM_ORDER_PENDING_PAYMENT, 1000, "alice", "checkout"),
                     ECOM_OK);
    assert_int_equal(ecom__order_push(o, ECOM_ORDER_PAID, 2000, "checkout", "payment approved"),
                     ECOM_OK);
    o->version = 2;
    return o;
}

static void encode(ecom__buf *b, const ecom_order *o)
{
    *b = (ecom__buf){0};
    assert_int_equal(ecom__order_encode(b, o), ECOM_OK);
}

/* Decodes data as the record of order "o-1" of "alice", paid, version 9. */
static int decode(ecom_order **out, const void *data, size_t len)
{
    ecom_order_rec rec = {"o-1", "alice", ECOM_ORDER_PAID, 1000, data, len};
    return ecom__order_decode(out, &rec, 9);
}

static void assert_same(const ecom_order *a, const ecom_order *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->user, b->user);
    assert_string_equal(a->currency, b->currency);
    assert_string_equal(a->location, b->location);
    assert_string_equal(a->reservation_id, b->reservation_id);
    assert_string_equal(a->payment_key, b->payment_key);
    assert_string_equal(a->charge_id, b->charge_id);
    assert_string_equal(a->reason, b->reason);
    assert_string_equal(a->cart, b->cart);
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->created_at, b->created_at);
    assert_true(a->subtotal == b->subtotal && a->shipping == b->shipping &&
                a->tax == b->tax && a->total == b->total && a->refunded == b->refunded);
    assert_int_equal(a->line_count, b->line_count);
    for (size_t i = 0; i < a->line_count; i++) {
        assert_string_equal(a->lines[i].sku, b->lines[i].sku);
        assert_true(a->lines[i].quantity == b->lines[i].quantity);
        assert_true(a->lines[i].unit_price == b->lines[i].unit_price);
        assert_true(a->lines[i].shipped == b->lines[i].shipped);
    }
    assert_int_equal(a->claim_count, b->claim_count);
    for (size_t i = 0; i < a->claim_count; i++)
        assert_string_equal(a->claims[i], b->claims[i]);
    assert_int_equal(a->history_count, b->history_count);
    for (size_t i = 0; i < a->history_count; i++) {
        assert_int_equal(a->history[i].state, b->history[i].state);
        assert_true(a->history[i].time == b->history[i].time);
        assert_string_equal(a->history[i].who, b->history[i].who);
        assert_string_equal(a->history[i].why, b->history[i].why);
    }
    assert_int_equal(a->refund_count, b->refund_count);
    for (size_t i = 0; i < a->refund_count; i++) {
        assert_string_equal(a->refunds[i].key, b->refunds[i].key);
        assert_true(a->refunds[i].amount == b->refunds[i].amount);
        assert_int_equal(a->refunds[i].pending, b->refunds[i].pending);
    }
}

static void test_order__model(void **state)
{
    (void)state;
    ecom_order *o = sample();
    assert_string_equal(ecom_order_id(o), "o-1");
    assert_string_equal(ecom_order_user(o), "alice");
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PAID);
    assert_int_equal(ecom_order_version(o), 2);
    assert_string_equal(ecom_order_currency(o), "USD");
    assert_true(ecom_order_subtotal(o) == 2 * 1999 + 999 * BIG_PRICE);
    assert_int_equal(ecom_order_shipping(o), 500);
    assert_int_equal(ecom_order_tax(o), 10);
    assert_true(ecom_order_total(o) == o->subtotal + 510);
    assert_int_equal(ecom_order_refunded(o), 0);
    assert_string_equal(ecom_order_charge_id(o), "ch_0123456789abcdef");
    assert_string_equal(ecom_order_reason(o), "");
    assert_int_equal(ecom_order_created_at(o), 1000);
    assert_int_equal(ecom_order_line_count(o), 2);
    assert_string_equal(ecom_order_line_sku(o, 1), "big");
    assert_int_equal(ecom_order_line_quantity(o, 1), 999);
    assert_true(ecom_order_line_unit_price(o, 1) == BIG_PRICE);
    assert_int_equal(ecom_order_line_shipped(o, 0), 0);
    assert_int_equal(ecom_order_history_count(o), 2);
    assert_int_equal(ecom_order_history_state(o, 1), ECOM_ORDER_PAID);
    assert_int_equal(ecom_order_history_time(o, 1), 2000);
    assert_string_equal(ecom_order_history_who(o, 0), "alice");
    assert_string_equal(ecom_order_history_why(o, 1), "payment approved");
    /* Out of range and NULL: NULL / 0, never a crash. */
    assert_null(ecom_order_line_sku(o, 2));
    assert_int_equal(ecom_order_line_quantity(o, 99), 0);
    assert_null(ecom_order_history_who(o, 2));
    assert_int_equal(ecom_order_history_time(o, SIZE_MAX), 0);
    assert_null(ecom_order_id(NULL));
    assert_null(ecom_order_charge_id(NULL));
    assert_int_equal(ecom_order_total(NULL), 0);
    assert_int_equal(ecom_order_line_count(NULL), 0);
    assert_int_equal(ecom_order_history_count(NULL), 0);
    assert_null(ecom_order_history_why(NULL, 0));
    assert_int_equal(ecom_order_version(NULL), 0);
    ecom_order_free(NULL);
    /* Bounds of lines and claims; history grows without limit. */
    for (int i = 2; i < ECOM__ORDER_LINES_MAX; i++) {
        char sku[16];
        snprintf(sku, sizeof sku, "s%d", i);
        assert_int_equal(ecom__order_add_line(o, sku, 1, 1), ECOM_OK);
    }
    assert_int_equal(ecom__order_add_line(o, "one-more", 1, 1), ECOM_ELIMIT);
    assert_string_equal(ecom_order_line_sku(o, 0), "mug-red"); /* kept across growth */
    assert_string_equal(ecom_order_line_sku(o, ECOM__ORDER_LINES_MAX - 1), "s99");
    for (int i = 1; i < ECOM__ORDER_CLAIMS_MAX; i++)
        assert_int_equal(ecom__order_add_claim(o, "s:1"), ECOM_OK);
    assert_int_equal(ecom__order_add_claim(o, "s:1"), ECOM_ELIMIT);
    for (int i = 0; i < 50; i++)
        assert_int_equal(ecom__order_push(o, ECOM_ORDER_FULFILLING, i, NULL, NULL), ECOM_OK);
    assert_int_equal(ecom_order_history_count(o), 52);
    assert_string_equal(ecom_order_history_who(o, 51), "");
    assert_int_equal(ecom__order_push(o, (ecom_order_state)9, 0, "x", "y"), ECOM_EINVAL);
    assert_string_equal(ecom__order_strdup(o, NULL), "");
    ecom_order_free(o);
}

static void test_order__refunds(void **state)
{
    (void)state;
    ecom_order *o = sample();
    assert_null(ecom__order_find_refund(o, "r1"));
    assert_int_equal(ecom__order_add_refund(o, "r1", 100, false), ECOM_OK);
    assert_int_equal(ecom__order_add_refund(o, "r2", 50, false), ECOM_OK);
    assert_int_equal(ecom_order_refunded(o), 150);
    assert_non_null(ecom__order_find_refund(o, "r2"));
    assert_int_equal(ecom__order_find_refund(o, "r2")->amount, 50);
    assert_int_equal(ecom__order_add_refund(o, "r3", INT64_MAX, false), ECOM_EPRICE);
    assert_int_equal(ecom_order_refunded(o), 150);
    assert_int_equal(ecom__order_add_refund(o, "r4", -1, false), ECOM_EINVAL);
    /* Pending: reserved, not refunded, until confirmed; or dropped. */
    assert_int_equal(ecom__order_add_refund(o, "p1", 30, true), ECOM_OK);
    assert_int_equal(ecom__order_add_refund(o, "p2", 20, true), ECOM_OK);
    assert_int_equal(ecom_order_refunded(o), 150);
    assert_int_equal(ecom__order_pending_refunds(o), 50);
    assert_int_equal(ecom__order_confirm_refund(o, "p1"), ECOM_OK);
    assert_int_equal(ecom_order_refunded(o), 180);
    assert_false(ecom__order_find_refund(o, "p1")->pending);
    assert_int_equal(ecom__order_confirm_refund(o, "p1"), ECOM_ENOTFOUND); /* not pending */
    assert_int_equal(ecom__order_confirm_refund(o, "nope"), ECOM_ENOTFOUND);
    ecom__order_drop_refund(o, "r1"); /* confirmed: kept */
    ecom__order_drop_refund(o, "p2");
    assert_null(ecom__order_find_refund(o, "p2"));
    assert_non_null(ecom__order_find_refund(o, "r1"));
    assert_int_equal(ecom__order_pending_refunds(o), 0);
    assert_int_equal(o->refund_count, 3);
    ecom_order_free(o);
}

static void test_order__state_names(void **state)
{
    (void)state;
    static const char *const names[] = {"pending_payment", "paid", "fulfilling",
                                        "partially_shipped", "shipped", "delivered",
                                        "cancelled", "refunded", "partially_refunded"};
    for (int s = 0; s < 9; s++)
        assert_string_equal(ecom_order_state_name((ecom_order_state)s), names[s]);
    assert_null(ecom_order_state_name((ecom_order_state)9));
    assert_null(ecom_order_state_name((ecom_order_state)-1));
}

static void test_order__can_move(void **state)
{
    (void)state;
    /* Exactly the moves ecom.h lists, one row per state. */
    static const char *const legal[9] = {
        "paid cancelled",
        "fulfilling cancelled",
        "partially_shipped shipped cancelled",
        "partially_shipped shipped",
        "delivered refunded",
        "refunded partially_refunded",
        "",
        "",
        "partially_refunded refunded",
    };
    int count = 0;
    for (int from = 0; from < 9; from++) {
        for (int to = 0; to < 9; to++) {
            char word[40];
            snprintf(word, sizeof word, " %s ", ecom_order_state_name((ecom_order_state)to));
            char row[80];
            snprintf(row, sizeof row, " %s ", legal[from]);
            bool want = strstr(row, word) != NULL;
            assert_int_equal(ecom__order_can_move((ecom_order_state)from, (ecom_order_state)to),
                             want);
            count += want;
        }
        assert_false(ecom__order_can_move((ecom_order_state)from, (ecom_order_state)9));
        assert_false(ecom__order_can_move((ecom_order_state)9, (ecom_order_state)from));
    }
    assert_int_equal(count, 15);
}

static void test_order__claim_parse(void **state)
{
    (void)state;
    char sale[ECOM_ID_MAX + 1];
    uint64_t t = 0;
    assert_true(ecom__claim_parse("sale1:7", sale, &t));
    assert_string_equal(sale, "sale1");
    assert_int_equal(t, 7);
    assert_true(ecom__claim_parse("a:b:18446744073709551614", sale, &t));
    assert_string_equal(sale, "a:b");
    assert_true(t == UINT64_C(18446744073709551614));
    const char *bad[] = {"", "sale", ":7", "sale:", "sale:0", "sale:07", "sale:-1", "sale:+1",
                         "sale:7x", "sale:99999999999999999999", NULL};
    for (size_t i = 0; bad[i]; i++)
        assert_false(ecom__claim_parse(bad[i], sale, &t));
    assert_false(ecom__claim_parse(NULL, sale, &t));
    char longsale[ECOM_ID_MAX + 8];
    memset(longsale, 'a', ECOM_ID_MAX + 1);
    strcpy(longsale + ECOM_ID_MAX + 1, ":1");
    assert_false(ecom__claim_parse(longsale, sale, &t));
}

static void test_order__stock_ops(void **state)
{
    (void)state;
    ecom_order *o = sample();
    assert_int_equal(ecom__order_add_claim(o, "other:12"), ECOM_OK);
    ecom_inventory_op ops[4];
    char sales[4][ECOM_ID_MAX + 1];
    size_t n = ecom__order_stock_ops(ops, sales, 4, o, true);
    assert_int_equal(n, 3);
    assert_int_equal(ops[0].kind, ECOM_INV_COMMIT);
    assert_string_equal(ops[0].id, "co-o-1");
    assert_int_equal(ops[1].kind, ECOM_INV_FLASH_COMMIT);
    assert_string_equal(ops[1].id, "sale1");
    assert_int_equal(ops[1].ticket, 7);
    assert_string_equal(ops[2].id, "other");
    assert_int_equal(ops[2].ticket, 12);
    n = ecom__order_stock_ops(ops, sales, 4, o, false);
    assert_int_equal(n, 3);
    assert_int_equal(ops[0].kind, ECOM_INV_RELEASE);
    assert_int_equal(ops[2].kind, ECOM_INV_FLASH_RELEASE);
    assert_int_equal(ecom__order_stock_ops(ops, sales, 2, o, false), 2); /* cap */
    o->reservation_id = "";
    n = ecom__order_stock_ops(ops, sales, 4, o, true);
    assert_int_equal(n, 2);
    assert_int_equal(ops[0].kind, ECOM_INV_FLASH_COMMIT);
    ecom_order_free(o);
}

static void test_order__round_trip(void **state)
{
    (void)state;
    ecom_order *o = sample();
    assert_int_equal(ecom__order_add_refund(o, "refund-1", 77, false), ECOM_OK);
    assert_int_equal(ecom__order_add_refund(o, "refund-p", 5, true), ECOM_OK);
    o->reason = ecom__order_strdup(o, "caf\xc3\xa9");
    ecom__buf b;
    encode(&b, o);
    ecom_order *q = NULL;
    assert_int_equal(decode(&q, b.data, b.len), ECOM_OK);
    assert_same(o, q);
    assert_int_equal(ecom_order_version(q), 9); /* from the rec, not the data */
    /* A decoded order is an ordinary one: it grows. */
    assert_int_equal(ecom__order_add_line(q, "x", 1, 1), ECOM_OK);
    assert_int_equal(ecom__order_add_claim(q, "x:1"), ECOM_OK);
    assert_int_equal(ecom__order_push(q, ECOM_ORDER_FULFILLING, 3, "ops", ""), ECOM_OK);
    assert_int_equal(ecom__order_add_refund(q, "refund-2", 1, false), ECOM_OK);
    assert_string_equal(ecom_order_line_sku(q, 0), "mug-red");
    assert_int_equal(ecom_order_history_count(q), 3);
    /* Encode appends. */
    size_t first = b.len;
    assert_int_equal(ecom__order_encode(&b, o), ECOM_OK);
    assert_int_equal(b.len, 2 * first);
    assert_memory_equal(b.data, b.data + first, first);
    ecom__buf_free(&b);
    ecom_order_free(q);

    /* The smallest order: empty strings, nothing in any list. */
    ecom_order *e = NULL;
    assert_int_equal(ecom__order_new(&e, "o-1", "alice", NULL, NULL, 1000), ECOM_OK);
    e->state = ECOM_ORDER_PAID;
    encode(&b, e);
    assert_int_equal(decode(&q, b.data, b.len), ECOM_OK);
    assert_same(e, q);
    ecom_order_free(q);
    /* Format 1, written before orders named their cart: the same, without the cart's
     * empty string at the end; and a cart after format 1's end is trailing garbage. */
    unsigned char *bytes = (unsigned char *)b.data;
    assert_int_equal(bytes[0], 2);
    assert_int_equal(bytes[b.len - 1], 0);
    bytes[0] = 1;
    assert_int_equal(decode(&q, b.data, b.len - 1), ECOM_OK);
    assert_same(e, q);
    ecom_order_free(q);
    assert_int_equal(decode(&q, b.data, b.len), ECOM_ECORRUPT);
    ecom__buf_free(&b);
    ecom_order_free(e);
    ecom_order_free(o);
}

static void test_order__decode_args(void **state)
{
    (void)state;
    ecom_order *o = sample();
    ecom__buf b;
    encode(&b, o);
    ecom_order *q = (ecom_order *)1;
    assert_int_equal(ecom__order_decode(NULL, NULL, 1), ECOM_EINVAL);
    assert_int_equal(ecom__order_decode(&q, NULL, 1), ECOM_EINVAL);
    assert_null(q);
    ecom_order_rec rec = {"o-1", "alice", ECOM_ORDER_PAID, 1, NULL, 0};
    assert_int_equal(ecom__order_decode(&q, &rec, 1), ECOM_ECORRUPT);
    rec.data = b.data;
    rec.data_len = b.len;
    rec.state = 9;
    assert_int_equal(ecom__order_decode(&q, &rec, 1), ECOM_ECORRUPT);
    rec.state = -1;
    assert_int_equal(ecom__order_decode(&q, &rec, 1), ECOM_ECORRUPT);
    rec.state = 0;
    rec.user = NULL;
    assert_int_equal(ecom__order_decode(&q, &rec, 1), ECOM_EINVAL);
    assert_int_equal(ecom__order_encode(NULL, o), ECOM_EINVAL);
    assert_int_equal(ecom__order_encode(&b, NULL), ECOM_EINVAL);
    ecom__buf_free(&b);
    ecom_order_free(o);
}

static void test_order__truncated(void **state)
{
    (void)state;
    ecom_order *o = sample();
    ecom__buf b;
    encode(&b, o);
    for (size_t len = 0; len < b.len; len++) {
        /* Its own allocation, exactly len bytes: ASan sees any read past it. */
        unsigned char *copy = malloc(len ? len : 1);
        memcpy(copy, b.data, len);
        ecom_order *q = (ecom_order *)1;
        assert_int_equal(decode(&q, len ? copy : NULL, len), ECOM_ECORRUPT);
        assert_null(q);
        free(copy);
    }
    ecom__buf_free(&b);
    ecom_order_free(o);
}

/* Builds records by hand, byte by byte. */
typedef struct raw {
    unsigned char d[256];
    size_t n;
} raw;

static void byte(raw *r, unsigned char c)
{
    r->d[r->n++] = c;
}

static void str(raw *r, const char *s)
{
    byte(r, (unsigned char)strlen(s));
    memcpy(r->d + r->n, s, strlen(s));
    r->n += strlen(s);
}

/* A minimal valid record up to the lists, with the money given (zigzag-encoded). */
static void head(raw *r, unsigned char money)
{
    r->n = 0;
    byte(r, 1);
    str(r, "USD");
    for (int i = 0; i < 5; i++)
        str(r, "");
    for (int i = 0; i < 5; i++)
        byte(r, money);
}

static int decode_raw(const raw *r)
{
    ecom_order *q = NULL;
    int rc = decode(&q, r->d, r->n);
    ecom_order_free(q);
    return rc;
}

static void test_order__corrupt_cases(void **state)
{
    (void)state;
    raw r;
    head(&r, 2);
    byte(&r, 0), byte(&r, 0), byte(&r, 0), byte(&r, 0);
    assert_int_equal(decode_raw(&r), ECOM_OK);
    r.d[0] = 2; /* unknown format */
    assert_int_equal(decode_raw(&r), ECOM_ECORRUPT);
    head(&r, 1); /* money -1 */
    byte(&r, 0), byte(&r, 0), byte(&r, 0), byte(&r, 0);
    assert_int_equal(decode_raw(&r), ECOM_ECORRUPT);
    head(&r, 2);
    byte(&r, 0), byte(&r, 0), byte(&r, 0), byte(&r, 0), byte(&r, 0); /* trailing byte */
    assert_int_equal(decode_raw(&r), ECOM_ECORRUPT);
    head(&r, 2);
    byte(&r, 0x7f); /* 127 lines in a few bytes */
    byte(&r, 0), byte(&r, 0), byte(&r, 0);
    assert_int_equal(decode_raw(&r), ECOM_ECORRUPT);
    head(&r, 2); /* a line with quantity above the maximum */
    byte(&r, 1);
    str(&r, "sku");
    for (int i = 0; i < 9; i++)
        byte(&r, 0xff);
    byte(&r, 0x01); /* a 10-byte varint: -2^63 zigzagged */
    byte(&r, 2), byte(&r, 0);
    byte(&r, 0), byte(&r, 0), byte(&r, 0);
    assert_int_equal(decode_raw(&r), ECOM_ECORRUPT);
    head(&r, 2); /* history with an unknown state */
    byte(&r, 0), byte(&r, 0);
    byte(&r, 1);
    byte(&r, 9), byte(&r, 0);
    str(&r, "");
    str(&r, "");
    byte(&r, 0);
    assert_int_equal(decode_raw(&r), ECOM_ECORRUPT);
    r.d[r.n - 5] = 8; /* the same with a known one */
    assert_int_equal(decode_raw(&r), ECOM_OK);
    head(&r, 2); /* a claim holding NUL */
    byte(&r, 0);
    byte(&r, 1);
    byte(&r, 3), byte(&r, 'a'), byte(&r, 0), byte(&r, 'b');
    byte(&r, 0), byte(&r, 0);
    assert_int_equal(decode_raw(&r), ECOM_ECORRUPT);
    head(&r, 2); /* an 11-byte varint */
    for (int i = 0; i < 10; i++)
        byte(&r, 0x80);
    byte(&r, 0);
    assert_int_equal(decode_raw(&r), ECOM_ECORRUPT);
    head(&r, 2); /* a string longer than what is left */
    byte(&r, 0);
    byte(&r, 1);
    byte(&r, 50), byte(&r, 'a');
    assert_int_equal(decode_raw(&r), ECOM_ECORRUPT);
    head(&r, 2); /* a refund of INT64_MIN (negative is pending: its negation must fit) */
    byte(&r, 0), byte(&r, 0), byte(&r, 0);
    byte(&r, 1);
    str(&r, "k");
    for (int i = 0; i < 9; i++)
        byte(&r, 0xff);
    byte(&r, 1);
    assert_int_equal(decode_raw(&r), ECOM_ECORRUPT);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void decode_any(const unsigned char *data, size_t len)
{
    unsigned char *copy = malloc(len ? len : 1);
    if (len)
        memcpy(copy, data, len);
    ecom_order *q = NULL;
    int rc = decode(&q, len ? copy : NULL, len);
    assert_true(rc == ECOM_OK || rc == ECOM_ECORRUPT);
    if (rc == ECOM_OK) {
        /* Whatever decodes can be encoded and shown. */
        ecom__buf b = {0};
        assert_int_equal(ecom__order_encode(&b, q), ECOM_OK);
        ecom__buf_free(&b);
        char *json = NULL;
        assert_int_equal(ecom_order_to_json(&json, q), ECOM_OK);
        ecom_free(json);
        ecom_order_free(q);
    } else {
        assert_null(q);
    }
    free(copy);
}

static void test_order__random_mutations(void **state)
{
    (void)state;
    ecom_order *o = sample();
    assert_int_equal(ecom__order_add_refund(o, "r", 5, false), ECOM_OK);
    ecom__buf b;
    encode(&b, o);
    unsigned char *m = malloc(b.len);
    for (int round = 0; round < 20000; round++) {
        memcpy(m, b.data, b.len);
        int edits = 1 + (int)(rnd() % 4);
        for (int k = 0; k < edits; k++) {
            size_t at = rnd() % b.len;
            switch (rnd() % 3) {
            case 0: m[at] = (unsigned char)rnd(); break;
            case 1: m[at] ^= (unsigned char)(1u << (rnd() % 8)); break;
            default: m[at] = (unsigned char)(rnd() % 2 ? 0x00 : 0xff); break;
            }
        }
        decode_any(m, b.len - (round % 7 == 0 ? rnd() % b.len : 0));
    }
    free(m);
    ecom__buf_free(&b);
    ecom_order_free(o);
}

static void test_order__random_garbage(void **state)
{
    (void)state;
    unsigned char buf[512];
    for (int round = 0; round < 20000; round++) {
        size_t len = rnd() % sizeof buf;
        for (size_t i = 0; i < len; i++)
            buf[i] = (unsigned char)(rnd() % 4 ? rnd() % 8 : rnd());
        if (len)
            buf[0] = 1; /* get past the format byte */
        decode_any(buf, len);
    }
}

static void test_order__to_json(void **state)
{
    (void)state;
    ecom_order *o = sample();
    assert_int_equal(ecom__order_add_refund(o, "r1", 10, false), ECOM_OK);
    o->reason = ecom__order_strdup(o, "said \"no\"\n");
    char *json = NULL;
    assert_int_equal(ecom_order_to_json(&json, o), ECOM_OK);
    /* Money past 2^53 comes out digit for digit. */
    char want[64];
    snprintf(want, sizeof want, "\"subtotal\":%lld,", (long long)o->subtotal);
    assert_non_null(strstr(json, want));
    assert_non_null(strstr(json, "\"unit_price\":1000000000000000,"));
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    assert_string_equal(cJSON_GetObjectItem(root, "id")->valuestring, "o-1");
    assert_string_equal(cJSON_GetObjectItem(root, "user")->valuestring, "alice");
    assert_string_equal(cJSON_GetObjectItem(root, "state")->valuestring, "paid");
    assert_int_equal(cJSON_GetObjectItem(root, "version")->valuedouble, 2);
    assert_int_equal(cJSON_GetObjectItem(root, "created_at")->valuedouble, 1000);
    assert_string_equal(cJSON_GetObjectItem(root, "currency")->valuestring, "USD");
    assert_string_equal(cJSON_GetObjectItem(root, "charge_id")->valuestring,
                        "ch_0123456789abcdef");
    assert_string_equal(cJSON_GetObjectItem(root, "reason")->valuestring, "said \"no\"\n");
    assert_int_equal(cJSON_GetObjectItem(root, "refunded")->valuedouble, 10);
    cJSON *lines = cJSON_GetObjectItem(root, "lines");
    assert_int_equal(cJSON_GetArraySize(lines), 2);
    cJSON *l0 = cJSON_GetArrayItem(lines, 0);
    assert_string_equal(cJSON_GetObjectItem(l0, "sku")->valuestring, "mug-red");
    assert_int_equal(cJSON_GetObjectItem(l0, "quantity")->valuedouble, 2);
    assert_int_equal(cJSON_GetObjectItem(l0, "unit_price")->valuedouble, 1999);
    assert_int_equal(cJSON_GetObjectItem(l0, "shipped")->valuedouble, 0);
    cJSON *claims = cJSON_GetObjectItem(root, "claims");
    assert_string_equal(cJSON_GetArrayItem(claims, 0)->valuestring, "sale1:7");
    cJSON *history = cJSON_GetObjectItem(root, "history");
    assert_int_equal(cJSON_GetArraySize(history), 2);
    cJSON *h1 = cJSON_GetArrayItem(history, 1);
    assert_string_equal(cJSON_GetObjectItem(h1, "state")->valuestring, "paid");
    assert_int_equal(cJSON_GetObjectItem(h1, "time")->valuedouble, 2000);
    assert_string_equal(cJSON_GetObjectItem(h1, "who")->valuestring, "checkout");
    assert_string_equal(cJSON_GetObjectItem(h1, "why")->valuestring, "payment approved");
    cJSON *refunds = cJSON_GetObjectItem(root, "refunds");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(refunds, 0), "amount")->valuedouble,
                     10);
    cJSON_Delete(root);
    ecom_free(json);
    assert_int_equal(ecom_order_to_json(NULL, o), ECOM_EINVAL);
    assert_int_equal(ecom_order_to_json(&json, NULL), ECOM_EINVAL);
    assert_null(json);
    ecom_order_free(o);
}

/* ---- the consistency check, with a sink that keeps the reports ---- */

typedef struct sink {
    ecom_check_sink base;
    int reports;
    char last[512];
} sink;

static void sink_report(ecom_check_sink *s, const char *message)
{
    sink *k = (sink *)s;
    k->reports++;
    snprintf(k->last, sizeof k->last, "%s", message);
}

static int check(const ecom_order *o, sink *k)
{
    ecom__buf b;
    encode(&b, o);
    *k = (sink){{sink_report, NULL, NULL}, 0, ""};
    ecom_order_rec rec = {o->id, o->user, (int)o->state, o->created_at, b.data, b.len};
    ecom__order_check(&k->base, &rec, o->version);
    ecom__buf_free(&b);
    return k->reports;
}

static void test_order__check(void **state)
{
    (void)state;
    sink k;
    ecom_order *o = sample();
    assert_int_equal(check(o, &k), 0);

    o->subtotal++;
    assert_int_equal(check(o, &k), 2); /* the lines' sum, and the total */
    assert_non_null(strstr(k.last, "order 'o-1'"));
    o->subtotal--;
    o->total++;
    assert_int_equal(check(o, &k), 1);
    assert_non_null(strstr(k.last, "total"));
    o->total--;

    o->lines[0].shipped = 3;
    assert_true(check(o, &k) >= 1);
    o->lines[0].shipped = 0;

    o->state = ECOM_ORDER_FULFILLING; /* the history still ends at paid */
    assert_int_equal(check(o, &k), 1);
    assert_non_null(strstr(k.last, "history ends at paid"));
    o->state = ECOM_ORDER_PAID;

    o->history[1].state = ECOM_ORDER_SHIPPED; /* pending -> shipped: illegal */
    o->state = ECOM_ORDER_SHIPPED;
    assert_true(check(o, &k) >= 2); /* the move, and nothing shipped */
    o->history[1].state = ECOM_ORDER_PAID;
    o->state = ECOM_ORDER_PAID;

    o->charge_id = "";
    assert_int_equal(check(o, &k), 1);
    assert_non_null(strstr(k.last, "no charge id"));
    o->charge_id = "ch_1";

    o->refunded = 5; /* paid, refunded, and no refund recorded */
    assert_int_equal(check(o, &k), 1);
    assert_non_null(strstr(k.last, "confirmed refunds add up to 0"));
    o->state = ECOM_ORDER_PENDING_PAYMENT; /* refunded before it was paid */
    assert_int_equal(check(o, &k), 3);
    o->state = ECOM_ORDER_PAID;
    o->refunded = 0;

    o->claims[0] = "nonsense";
    assert_int_equal(check(o, &k), 1);
    o->claims[0] = "sale1:7";

    /* paid -> refunded is no longer made, but a store written before holds it: its
     * history is still sound. paid -> shipped never was. */
    ecom_order *old = sample();
    assert_int_equal(ecom__order_add_refund(old, "r-all", old->total, false), ECOM_OK);
    assert_int_equal(ecom__order_push(old, ECOM_ORDER_REFUNDED, 3, "cs", ""), ECOM_OK);
    assert_false(ecom__order_can_move(ECOM_ORDER_PAID, ECOM_ORDER_REFUNDED));
    assert_int_equal(check(old, &k), 0);
    old->history[2].state = ECOM_ORDER_SHIPPED;
    old->state = ECOM_ORDER_SHIPPED;
    assert_true(check(old, &k) >= 1);
    ecom_order_free(old);

    /* A full walk: fulfilling, shipped in two steps, delivered, refunded in two. */
    assert_int_equal(ecom__order_push(o, ECOM_ORDER_FULFILLING, 3, "ops", ""), ECOM_OK);
    o->lines[0].shipped = 1;
    assert_int_equal(ecom__order_push(o, ECOM_ORDER_PARTIALLY_SHIPPED, 4, "ops", ""), ECOM_OK);
    assert_int_equal(check(o, &k), 0);
    o->lines[0].shipped = 2;
    o->lines[1].shipped = 999;
    assert_int_equal(ecom__order_push(o, ECOM_ORDER_SHIPPED, 5, "ops", ""), ECOM_OK);
    assert_int_equal(ecom__order_push(o, ECOM_ORDER_DELIVERED, 6, "ops", ""), ECOM_OK);
    assert_int_equal(check(o, &k), 0);
    assert_int_equal(ecom__order_add_refund(o, "r1", 100, false), ECOM_OK);
    assert_int_equal(ecom__order_push(o, ECOM_ORDER_PARTIALLY_REFUNDED, 7, "ops", ""), ECOM_OK);
    assert_int_equal(check(o, &k), 0);
    o->state = ECOM_ORDER_REFUNDED; /* claims a full refund */
    o->history[o->history_count - 1].state = ECOM_ORDER_REFUNDED;
    assert_int_equal(check(o, &k), 1);
    assert_non_null(strstr(k.last, "is refunded but"));
    assert_int_equal(ecom__order_add_refund(o, "r2", o->total - 100, false), ECOM_OK);
    assert_int_equal(check(o, &k), 0);

    o->history_count = 0;
    o->history = NULL;
    assert_int_equal(check(o, &k), 1);
    assert_non_null(strstr(k.last, "empty history"));
    ecom_order_free(o);

    /* Undecodable. */
    k = (sink){{sink_report, NULL, NULL}, 0, ""};
    ecom_order_rec rec = {"o-9", "bob", 0, 0, "\x02", 1};
    ecom__order_check(&k.base, &rec, 1);
    assert_int_equal(k.reports, 1);
    assert_non_null(strstr(k.last, "order 'o-9': record does not decode"));
}

static void test_order__two_allocations(void **state)
{
    (void)state;
    ecom_order *o = sample();
    ecom__buf b;
    encode(&b, o);
    long before = test_alloc_calls;
    ecom_order *q = NULL;
    assert_int_equal(decode(&q, b.data, b.len), ECOM_OK);
    assert_int_equal(test_alloc_calls - before, 2); /* the order and its one chunk */
    assert_null(q->arena.head->next);
    ecom_order_free(q);
    ecom__buf_free(&b);
    ecom_order_free(o);
    assert_int_equal(test_alloc_live, 0);
}

static void test_order__oom(void **state)
{
    (void)state;
    ecom_order *o = sample();
    assert_int_equal(ecom__order_add_refund(o, "r", 5, false), ECOM_OK);
    long base = test_alloc_live;
    int rc = ECOM_ENOMEM;
    for (long n = 1; rc == ECOM_ENOMEM; n++) {
        test_alloc_countdown = n;
        ecom__buf b = {0};
        rc = ecom__order_encode(&b, o);
        test_alloc_countdown = 0;
        assert_true(rc == ECOM_OK || rc == ECOM_ENOMEM);
        if (rc == ECOM_OK) {
            for (long k = 1, drc = ECOM_ENOMEM; drc == ECOM_ENOMEM; k++) {
                test_alloc_countdown = k;
                ecom_order *q = (ecom_order *)1;
                drc = decode(&q, b.data, b.len);
                test_alloc_countdown = 0;
                assert_true(drc == ECOM_OK || drc == ECOM_ENOMEM);
                if (drc == ECOM_OK)
                    ecom_order_free(q);
                else
                    assert_null(q);
                assert_int_equal(test_alloc_live, base + 1);
            }
        }
        ecom__buf_free(&b);
        assert_int_equal(test_alloc_live, base);
    }
    rc = ECOM_ENOMEM;
    for (long n = 1; rc == ECOM_ENOMEM; n++) {
        char *json = (char *)1;
        test_alloc_countdown = n;
        rc = ecom_order_to_json(&json, o);
        test_alloc_countdown = 0;
        assert_true(rc == ECOM_OK || rc == ECOM_ENOMEM);
        if (rc == ECOM_OK)
            ecom_free(json);
        else
            assert_null(json);
        assert_int_equal(test_alloc_live, base);
    }
    /* Making an order and growing it. */
    rc = ECOM_ENOMEM;
    for (long n = 1; rc == ECOM_ENOMEM; n++) {
        ecom_order *x = NULL;
        test_alloc_countdown = n;
        rc = ecom__order_new(&x, "o-2", "bob", "EUR", "default", 5);
        for (int i = 0; rc == ECOM_OK && i < 40; i++)
            rc = ecom__order_add_line(x, "a-long-enough-sku-code-to-fill-the-arena", 1, 1);
        for (int i = 0; rc == ECOM_OK && i < 40; i++)
            rc = ecom__order_push(x, ECOM_ORDER_PAID, i, "someone", "a reason long enough");
        test_alloc_countdown = 0;
        assert_true(rc == ECOM_OK || rc == ECOM_ENOMEM);
        ecom_order_free(x);
        assert_int_equal(test_alloc_live, base);
    }
    ecom_order_free(o);
    assert_int_equal(test_alloc_live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order__model),
        cmocka_unit_test(test_order__refunds),
        cmocka_unit_test(test_order__state_names),
        cmocka_unit_test(test_order__can_move),
        cmocka_unit_test(test_order__claim_parse),
        cmocka_unit_test(test_order__stock_ops),
        cmocka_unit_test(test_order__round_trip),
        cmocka_unit_test(test_order__decode_args),
        cmocka_unit_test(test_order__truncated),
        cmocka_unit_test(test_order__corrupt_cases),
        cmocka_unit_test(test_order__random_mutations),
        cmocka_unit_test(test_order__random_garbage),
        cmocka_unit_test(test_order__to_json),
        cmocka_unit_test(test_order__check),
        cmocka_unit_test_setup_teardown(test_order__two_allocations, test_oom_setup,
                                        test_oom_teardown),
        cmocka_unit_test_setup_teardown(test_order__oom, test_oom_setup, test_oom_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
