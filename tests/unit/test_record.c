/*
 * The record codec: round trips, the index fields, two allocations per decode,
 * and decoding of damaged bytes (every truncation, hand-made corruptions,
 * thousands of random mutations and random garbage): ECOM_ECORRUPT or a product,
 * never a crash or an over-read (run under ASan). Out of memory at every
 * allocation of encode and decode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "support/support.h"

static const char product_json[] =
    "{\"id\":\"p1\",\"title\":\"Caf\xc3\xa9 mug\",\"description\":\"Holds\\ncoffee\","
    "\"brand\":\"Acme\",\"category\":\"home/kitchen\",\"status\":\"archived\","
    "\"attributes\":{\"color\":[\"red\",\"blue\"],\"material\":[\"stoneware\"]},"
    "\"variants\":[{\"sku\":\"p1-red\",\"options\":{\"color\":\"red\"},"
    "\"prices\":{\"USD\":1999,\"EUR\":1850},\"weight_g\":250},"
    "{\"sku\":\"p1-blue\",\"options\":{\"color\":\"blue\",\"size\":\"L\"},"
    "\"prices\":{\"JPY\":1000000000000000},\"weight_g\":1000000000},"
    "{\"sku\":\"p1-bare\"}]}";

static ecom_product *sample(void)
{
    ecom_product *p = NULL;
    assert_int_equal(ecom_product_from_json(&p, product_json, strlen(product_json), NULL, 0),
                     ECOM_OK);
    return p;
}

/* Decodes data as the record of product "p1". */
static int decode(ecom_product **out, const void *data, size_t len)
{
    ecom_product_rec rec = {0};
    rec.id = "p1";
    rec.data = data;
    rec.data_len = len;
    ecom_product_meta meta = {7, 1000, 2000};
    return ecom__record_decode(out, &rec, &meta);
}

static void encode(ecom__buf *b, const ecom_product *p)
{
    *b = (ecom__buf){0};
    assert_int_equal(ecom__record_encode(b, p), ECOM_OK);
}

static void test_record__round_trip(void **state)
{
    (void)state;
    ecom_product *p = sample();
    ecom__buf b;
    encode(&b, p);
    ecom_product *q = NULL;
    assert_int_equal(decode(&q, b.data, b.len), ECOM_OK);
    assert_true(ecom__product_equal(p, q));
    assert_int_equal(ecom_product_version(q), 7);
    assert_int_equal(ecom_product_created_at(q), 1000);
    assert_int_equal(ecom_product_updated_at(q), 2000);
    assert_int_equal(ecom_product_validate(q, NULL, 0), ECOM_OK);
    /* A decoded product is an ordinary one: its setters still work. */
    assert_int_equal(ecom_product_add_attribute(q, "color", "green"), ECOM_OK);
    assert_int_equal(ecom_product_variant_set_price(q, 2, "GBP", 5), ECOM_OK);
    assert_int_equal(ecom_product_attribute_value_count(q, 0), 3);
    /* Appending: encode adds to what the buffer holds. */
    size_t first = b.len;
    assert_int_equal(ecom__record_encode(&b, p), ECOM_OK);
    assert_int_equal(b.len, 2 * first);
    assert_memory_equal(b.data, b.data + first, first);
    ecom__buf_free(&b);
    ecom_product_free(q);
    ecom_product_free(p);
}

/* Values an unvalidated product may hold survive too: the codec is not policy. */
static void test_record__round_trip_edges(void **state)
{
    (void)state;
    ecom_product *p = NULL;
    assert_int_equal(ecom_product_new(&p, ""), ECOM_OK);
    assert_int_equal(ecom_product_set_status(p, (ecom_product_status)-3), ECOM_OK);
    assert_int_equal(ecom_product_add_variant(p, "", INT64_MIN, NULL), ECOM_OK);
    assert_int_equal(ecom_product_add_variant(p, "x", INT64_MAX, NULL), ECOM_OK);
    assert_int_equal(ecom_product_variant_set_price(p, 1, "ZZZ", INT64_MIN), ECOM_OK);
    assert_int_equal(ecom_product_variant_set_price(p, 1, "USD", INT64_MAX), ECOM_OK);
    ecom__buf b;
    encode(&b, p);
    ecom_product_rec rec = {.id = "", .data = b.data, .data_len = b.len};
    ecom_product *q = NULL;
    assert_int_equal(ecom__record_decode(&q, &rec, NULL), ECOM_OK);
    assert_true(ecom__product_equal(p, q));
    assert_int_equal(ecom_product_version(q), 0);
    ecom__buf_free(&b);
    ecom_product_free(q);
    ecom_product_free(p);
}

static void test_record__index(void **state)
{
    (void)state;
    ecom_product *p = sample();
    ecom_product_rec rec;
    const char **skus = NULL;
    assert_int_equal(ecom__record_index(&rec, &skus, p), ECOM_OK);
    assert_string_equal(rec.id, "p1");
    assert_string_equal(rec.category, "home/kitchen");
    assert_int_equal(rec.status, ECOM_STATUS_ARCHIVED);
    assert_int_equal(rec.sku_count, 3);
    assert_ptr_equal(rec.skus, skus);
    assert_string_equal(rec.skus[0], "p1-red");
    assert_string_equal(rec.skus[2], "p1-bare");
    ecom__free(skus);
    ecom_product *empty = NULL;
    assert_int_equal(ecom_product_new(&empty, "e"), ECOM_OK);
    assert_int_equal(ecom__record_index(&rec, &skus, empty), ECOM_OK);
    assert_int_equal(rec.sku_count, 0);
    assert_null(skus);
    ecom_product_free(empty);
    ecom_product_free(p);
}

static void test_record__corrupt_cases(void **state)
{
    (void)state;
    ecom_product *q = (ecom_product *)1;
    static const struct {
        const char *name;
        const char *bytes;
        size_t len;
    } cases[] = {
        {"empty", "", 0},
        {"unknown format", "\x02\0\0\0\0\0\0\0", 8},
        {"format only", "\x01", 1},
        {"string past the end", "\x01\x05" "abc", 5},
        {"NUL in a string", "\x01\x03" "a\0c" "\0\0\0\0\0\0", 12},
        {"overlong varint", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11},
        {"varint with 11 bytes", "\x01\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 12},
        {"huge attribute count", "\x01\0\0\0\0\0\xff\xff\xff\xff\x0f\0", 12},
        {"huge variant count", "\x01\0\0\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 17},
        {"status beyond int", "\x01\0\0\0\0\x80\x80\x80\x80\x20\0\0", 12},
        {"trailing byte", "\x01\0\0\0\0\0\0\0\0", 9},
        {"NUL in currency", "\x01\0\0\0\0\0\0\x01\x01s\0\0\x01U\0D\0", 17},
        {"price past the end", "\x01\0\0\0\0\0\0\x01\x01s\0\0\x01US", 15},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = decode(&q, cases[i].bytes, cases[i].len);
        if (rc != ECOM_ECORRUPT)
            fail_msg("%s: got %d", cases[i].name, rc);
        assert_null(q);
    }
    /* The smallest valid record: empty texts, no attributes, no variants. */
    assert_int_equal(decode(&q, "\x01\0\0\0\0\0\0\0", 8), ECOM_OK);
    assert_int_equal(ecom_product_variant_count(q), 0);
    ecom_product_free(q);
    ecom_product_rec rec = {.id = NULL};
    assert_int_equal(ecom__record_decode(&q, &rec, NULL), ECOM_EINVAL);
    assert_int_equal(ecom__record_decode(NULL, &rec, NULL), ECOM_EINVAL);
}

static void test_record__truncated(void **state)
{
    (void)state;
    ecom_product *p = sample();
    ecom__buf b;
    encode(&b, p);
    for (size_t len = 0; len < b.len; len++) {
        /* A copy of exactly len bytes, so that ASan sees any over-read. */
        unsigned char *copy = malloc(len ? len : 1);
        memcpy(copy, b.data, len);
        ecom_product *q = (ecom_product *)1;
        assert_int_equal(decode(&q, copy, len), ECOM_ECORRUPT);
        assert_null(q);
        free(copy);
    }
    ecom__buf_free(&b);
    ecom_product_free(p);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Decodes len bytes; whatever decodes must encode again to the same bytes (the
 * format has one spelling per product, but a varint may be spelled long). */
static void decode_any(const unsigned char *data, size_t len, int *ok, int *corrupt)
{
    ecom_product *q = NULL;
    int rc = decode(&q, data, len);
    if (rc == ECOM_OK) {
        ecom__buf again = {0};
        assert_int_equal(ecom__record_encode(&again, q), ECOM_OK);
        ecom_product *r = NULL;
        assert_int_equal(decode(&r, again.data, again.len), ECOM_OK);
        assert_true(ecom__product_equal(q, r));
        ecom_product_free(r);
        ecom__buf_free(&again);
        ecom_product_free(q);
        (*ok)++;
        return;
    }
    assert_int_equal(rc, ECOM_ECORRUPT);
    assert_null(q);
    (*corrupt)++;
}

static void test_record__random_mutations(void **state)
{
    (void)state;
    ecom_product *p = sample();
    ecom__buf b;
    encode(&b, p);
    int ok = 0, corrupt = 0;
    unsigned char *m = malloc(b.len + 16);
    for (int round = 0; round < 20000; round++) {
        memcpy(m, b.data, b.len);
        size_t len = b.len;
        int edits = 1 + (int)(rng() % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = rng() % len;
            switch (rng() % 4) {
            case 0: m[at] = (unsigned char)rng(); break;
            case 1: m[at] ^= (unsigned char)(1u << (rng() % 8)); break;
            case 2: m[at] = (unsigned char)(rng() % 2 ? 0xff : 0x00); break;
            default: len = at + 1; break; /* truncate */
            }
        }
        unsigned char *copy = malloc(len);
        memcpy(copy, m, len);
        decode_any(copy, len, &ok, &corrupt);
        free(copy);
    }
    free(m);
    /* Both outcomes happen: a flip inside a text still decodes. */
    assert_true(ok > 100);
    assert_true(corrupt > 100);
    ecom__buf_free(&b);
    ecom_product_free(p);
}

static void test_record__random_garbage(void **state)
{
    (void)state;
    int ok = 0, corrupt = 0;
    for (int round = 0; round < 20000; round++) {
        size_t len = rng() % 64;
        unsigned char *g = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++)
            g[i] = (unsigned char)(rng() % 4 ? rng() % 8 : rng());
        if (len && rng() % 2)
            g[0] = 1; /* get past the format byte */
        decode_any(g, len, &ok, &corrupt);
        free(g);
    }
    assert_true(corrupt > 0);
}

/* ---- allocations ---- */


static void test_record__two_allocations(void **state)
{
    (void)state;
    ecom_product *p = sample();
    ecom__buf b;
    long before = test_alloc_calls;
    encode(&b, p);
    assert_int_equal(test_alloc_calls - before, 1); /* measured, then grown once */
    ecom_product *q = NULL;
    before = test_alloc_calls;
    assert_int_equal(decode(&q, b.data, b.len), ECOM_OK);
    assert_int_equal(test_alloc_calls - before, 2); /* the product and its one chunk */
    assert_non_null(q->arena.head);
    assert_null(q->arena.head->next);
    assert_true(q->arena.head->used <= q->arena.head->size);
    ecom_product_free(q);
    ecom__buf_free(&b);
    ecom_product_free(p);
    assert_int_equal(test_alloc_live, 0);
}

static void test_record__oom(void **state)
{
    (void)state;
    ecom_product *p = sample();
    long base = test_alloc_live;
    int rc = ECOM_ENOMEM;
    for (long n = 1; rc == ECOM_ENOMEM; n++) {
        test_alloc_countdown = n;
        ecom__buf b = {0};
        rc = ecom__record_encode(&b, p);
        test_alloc_countdown = 0;
        if (rc == ECOM_OK) {
            for (long k = 1, drc = ECOM_ENOMEM; drc == ECOM_ENOMEM; k++) {
                test_alloc_countdown = k;
                ecom_product *q = (ecom_product *)1;
                drc = decode(&q, b.data, b.len);
                test_alloc_countdown = 0;
                if (drc == ECOM_OK)
                    ecom_product_free(q);
                else
                    assert_null(q);
                assert_true(drc == ECOM_OK || drc == ECOM_ENOMEM);
                assert_int_equal(test_alloc_live, base + 1);
            }
            const char **skus = NULL;
            ecom_product_rec rec;
            test_alloc_countdown = 1;
            assert_int_equal(ecom__record_index(&rec, &skus, p), ECOM_ENOMEM);
            test_alloc_countdown = 0;
        } else {
            assert_int_equal(rc, ECOM_ENOMEM);
        }
        ecom__buf_free(&b);
        assert_int_equal(test_alloc_live, base);
    }
    ecom_product_free(p);
    assert_int_equal(test_alloc_live, 0);
}

/* Not a pass/fail test: prints how long one decode takes, for the record. */
static void test_record__decode_speed(void **state)
{
    (void)state;
    ecom_product *p = sample();
    ecom__buf b;
    encode(&b, p);
    int rounds = 100000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < rounds; i++) {
        ecom_product *q = NULL;
        assert_int_equal(decode(&q, b.data, b.len), ECOM_OK);
        ecom_product_free(q);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
                rounds;
    print_message("decode of a %zu-byte record (3 variants): %.0f ns\n", b.len, ns);
    ecom__buf_free(&b);
    ecom_product_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record__round_trip),
        cmocka_unit_test(test_record__round_trip_edges),
        cmocka_unit_test(test_record__index),
        cmocka_unit_test(test_record__corrupt_cases),
        cmocka_unit_test(test_record__truncated),
        cmocka_unit_test(test_record__random_mutations),
        cmocka_unit_test(test_record__random_garbage),
        cmocka_unit_test_setup_teardown(test_record__two_allocations, test_oom_setup,
                                        test_oom_teardown),
        cmocka_unit_test_setup_teardown(test_record__oom, test_oom_setup, test_oom_teardown),
        cmocka_unit_test(test_record__decode_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
