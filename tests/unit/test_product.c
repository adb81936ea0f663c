/*
 * The product handle: getters and setters, the arena, UTF-8, currencies, status
 * names, and ecom_product_validate() with one case per fault kind, each checking
 * the code and that the message names the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A valid product: two variants, an attribute, options and prices. */
static ecom_product *valid_product(void)
{
    ecom_product *p = NULL;
    assert_int_equal(ecom_product_new(&p, "p1"), ECOM_OK);
    assert_int_equal(ecom_product_set_title(p, "Shirt"), ECOM_OK);
    assert_int_equal(ecom_product_set_description(p, "Soft.\nWarm.\t\r"), ECOM_OK);
    assert_int_equal(ecom_product_set_brand(p, "Acme"), ECOM_OK);
    assert_int_equal(ecom_product_set_category(p, "clothing/shirts"), ECOM_OK);
    assert_int_equal(ecom_product_set_status(p, ECOM_STATUS_ACTIVE), ECOM_OK);
    assert_int_equal(ecom_product_add_attribute(p, "color", "red"), ECOM_OK);
    assert_int_equal(ecom_product_add_attribute(p, "color", "blue"), ECOM_OK);
    for (int v = 0; v < 2; v++) {
        size_t idx = 99;
        assert_int_equal(ecom_product_add_variant(p, v ? "p1-blue" : "p1-red", 250, &idx),
                         ECOM_OK);
        assert_int_equal(idx, (size_t)v);
        assert_int_equal(ecom_product_variant_set_option(p, idx, "color", v ? "blue" : "red"),
                         ECOM_OK);
        assert_int_equal(ecom_product_variant_set_price(p, idx, "USD", 1999), ECOM_OK);
        assert_int_equal(ecom_product_variant_set_price(p, idx, "EUR", 1850), ECOM_OK);
    }
    return p;
}

static void test_product__new_defaults(void **state)
{
    (void)state;
    ecom_product *p = NULL;
    assert_int_equal(ecom_product_new(&p, "abc"), ECOM_OK);
    assert_string_equal(ecom_product_id(p), "abc");
    assert_string_equal(ecom_product_title(p), "");
    assert_string_equal(ecom_product_description(p), "");
    assert_string_equal(ecom_product_brand(p), "");
    assert_string_equal(ecom_product_category(p), "");
    assert_int_equal(ecom_product_get_status(p), ECOM_STATUS_DRAFT);
    assert_int_equal(ecom_product_version(p), 0);
    assert_int_equal(ecom_product_variant_count(p), 0);
    assert_int_equal(ecom_product_attribute_count(p), 0);
    ecom_product_free(p);
    assert_int_equal(ecom_product_new(&p, NULL), ECOM_EINVAL);
    assert_null(p);
    assert_int_equal(ecom_product_new(NULL, "x"), ECOM_EINVAL);
    ecom_product_free(NULL);
}

static void test_product__getters_null_and_index_safe(void **state)
{
    (void)state;
    assert_null(ecom_product_id(NULL));
    assert_null(ecom_product_title(NULL));
    assert_int_equal(ecom_product_variant_count(NULL), 0);
    assert_null(ecom_product_variant_sku(NULL, 0));
    ecom_product *p = valid_product();
    assert_null(ecom_product_attribute_name(p, 1));
    assert_int_equal(ecom_product_attribute_value_count(p, 5), 0);
    assert_null(ecom_product_attribute_value(p, 0, 2));
    assert_null(ecom_product_variant_sku(p, 2));
    assert_int_equal(ecom_product_variant_weight(p, 2), 0);
    assert_int_equal(ecom_product_variant_option_count(p, 2), 0);
    assert_null(ecom_product_variant_option_name(p, 0, 1));
    assert_null(ecom_product_variant_option_value(p, 9, 0));
    assert_int_equal(ecom_product_variant_price_count(p, 2), 0);
    char cur[4] = "zzz";
    assert_int_equal(ecom_product_variant_price_at(p, 0, 2, cur), 0);
    assert_string_equal(cur, "");
    int64_t amount = 7;
    assert_int_equal(ecom_product_variant_price(&amount, p, 2, "USD"), ECOM_ENOTFOUND);
    assert_int_equal(ecom_product_variant_price(&amount, p, 0, "JPY"), ECOM_ENOTFOUND);
    assert_int_equal(ecom_product_variant_price(NULL, p, 0, "USD"), ECOM_EINVAL);
    assert_int_equal(amount, 7);
    assert_int_equal(ecom_product_find_variant(p, "nope"), -1);
    assert_int_equal(ecom_product_find_variant(p, NULL), -1);
    assert_int_equal(ecom_product_find_variant(NULL, "p1-red"), -1);
    ecom_product_free(p);
}

static void test_product__setters_copy(void **state)
{
    (void)state;
    ecom_product *p = valid_product();
    char buf[32];
    strcpy(buf, "Changing");
    assert_int_equal(ecom_product_set_title(p, buf), ECOM_OK);
    strcpy(buf, "XXXXXXXX");
    assert_string_equal(ecom_product_title(p), "Changing");
    assert_string_equal(ecom_product_description(p), "Soft.\nWarm.\t\r");
    assert_string_equal(ecom_product_brand(p), "Acme");
    assert_string_equal(ecom_product_category(p), "clothing/shirts");
    assert_int_equal(ecom_product_get_status(p), ECOM_STATUS_ACTIVE);
    assert_int_equal(ecom_product_set_title(p, NULL), ECOM_EINVAL);
    assert_int_equal(ecom_product_set_title(NULL, "x"), ECOM_EINVAL);
    assert_int_equal(ecom_product_set_brand(p, ""), ECOM_OK);
    assert_string_equal(ecom_product_brand(p), "");
    assert_int_equal(ecom_product_add_variant(p, NULL, 0, NULL), ECOM_EINVAL);
    assert_int_equal(ecom_product_variant_set_option(p, 7, "a", "b"), ECOM_EINVAL);
    assert_int_equal(ecom_product_variant_set_price(p, 7, "USD", 1), ECOM_EINVAL);
    assert_int_equal(ecom_product_variant_set_price(p, 0, "US", 1), ECOM_ECURRENCY);
    assert_int_equal(ecom_product_variant_set_price(p, 0, "USDX", 1), ECOM_ECURRENCY);
    assert_int_equal(ecom_product_add_attribute(p, "x", NULL), ECOM_EINVAL);
    ecom_product_free(p);
}

static void test_product__add_attribute_appends(void **state)
{
    (void)state;
    ecom_product *p = valid_product();
    assert_int_equal(ecom_product_add_attribute(p, "size", "S"), ECOM_OK);
    assert_int_equal(ecom_product_add_attribute(p, "color", "green"), ECOM_OK);
    assert_int_equal(ecom_product_attribute_count(p), 2);
    assert_string_equal(ecom_product_attribute_name(p, 0), "color");
    assert_int_equal(ecom_product_attribute_value_count(p, 0), 3);
    assert_string_equal(ecom_product_attribute_value(p, 0, 0), "red");
    assert_string_equal(ecom_product_attribute_value(p, 0, 2), "green");
    assert_string_equal(ecom_product_attribute_name(p, 1), "size");
    assert_string_equal(ecom_product_attribute_value(p, 1, 0), "S");
    ecom_product_free(p);
}

static void test_product__set_price_and_option_replace(void **state)
{
    (void)state;
    ecom_product *p = valid_product();
    assert_int_equal(ecom_product_variant_set_price(p, 1, "USD", 2500), ECOM_OK);
    assert_int_equal(ecom_product_variant_price_count(p, 1), 2);
    int64_t amount = 0;
    assert_int_equal(ecom_product_variant_price(&amount, p, 1, "USD"), ECOM_OK);
    assert_int_equal(amount, 2500);
    assert_int_equal(ecom_product_variant_price(&amount, p, 0, "USD"), ECOM_OK);
    assert_int_equal(amount, 1999);
    char cur[4];
    assert_int_equal(ecom_product_variant_price_at(p, 1, 1, cur), 1850);
    assert_string_equal(cur, "EUR");
    assert_int_equal(ecom_product_variant_set_option(p, 0, "color", "crimson"), ECOM_OK);
    assert_int_equal(ecom_product_variant_set_option(p, 0, "size", "L"), ECOM_OK);
    assert_int_equal(ecom_product_variant_option_count(p, 0), 2);
    assert_string_equal(ecom_product_variant_option_value(p, 0, 0), "crimson");
    assert_string_equal(ecom_product_variant_option_name(p, 0, 1), "size");
    assert_int_equal(ecom_product_find_variant(p, "p1-blue"), 1);
    assert_string_equal(ecom_product_variant_sku(p, 1), "p1-blue");
    assert_int_equal(ecom_product_variant_weight(p, 1), 250);
    ecom_product_free(p);
}

/* Many variants, prices and long strings: arrays double and the arena chains
 * chunks, big blocks included, and nothing moves under the getters. */
static void test_product__arena_growth(void **state)
{
    (void)state;
    ecom_product *p = NULL;
    assert_int_equal(ecom_product_new(&p, "big"), ECOM_OK);
    char *longtext = malloc(ECOM__DESCRIPTION_MAX + 1);
    memset(longtext, 'd', ECOM__DESCRIPTION_MAX);
    longtext[ECOM__DESCRIPTION_MAX] = '\0';
    assert_int_equal(ecom_product_set_title(p, "Big"), ECOM_OK);
    assert_int_equal(ecom_product_set_description(p, longtext), ECOM_OK);
    static const char *cur[] = {"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SEK",
                                "NOK", "DKK", "PLN", "CZK", "HUF", "NZD", "SGD", "HKD"};
    for (int v = 0; v < ECOM__VARIANTS_MAX; v++) {
        char sku[16];
        snprintf(sku, sizeof sku, "big-%d", v);
        size_t idx;
        assert_int_equal(ecom_product_add_variant(p, sku, v, &idx), ECOM_OK);
        for (int k = 0; k < ECOM__PRICES_MAX; k++)
            assert_int_equal(ecom_product_variant_set_price(p, idx, cur[k], v * 100 + k),
                             ECOM_OK);
    }
    for (int v = 0; v < ECOM__VARIANTS_MAX; v++) {
        char sku[16];
        snprintf(sku, sizeof sku, "big-%d", v);
        assert_string_equal(ecom_product_variant_sku(p, (size_t)v), sku);
        char c[4];
        assert_int_equal(ecom_product_variant_price_at(p, (size_t)v, 15, c), v * 100 + 15);
        assert_string_equal(c, "HKD");
    }
    assert_string_equal(ecom_product_description(p), longtext);
    assert_int_equal(ecom_product_validate(p, NULL, 0), ECOM_OK);
    free(longtext);
    ecom_product_free(p);
}

static void test_product__arena_alignment(void **state)
{
    (void)state;
    ecom__arena a = {0};
    for (size_t n = 0; n < 3000; n += 7) {
        void *x = ecom__arena_alloc(&a, n);
        assert_non_null(x);
        assert_int_equal((uintptr_t)x % _Alignof(max_align_t), 0);
        memset(x, 0xab, n);
        char *s = ecom__arena_strndup(&a, "hello", 3);
        assert_string_equal(s, "hel");
    }
    assert_non_null(ecom__arena_alloc(&a, 5u << 20)); /* a chunk of its own */
    assert_int_equal(ecom__arena_reserve(&a, 4096), ECOM_OK);
    ecom__arena_free(&a);
    assert_null(a.head);
}

static void test_product__utf8(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        long bad;
    } cases[] = {
        {"plain ascii", -1},
        {"caf\xc3\xa9", -1},
        {"\xe2\x82\xac 10", -1},           /* U+20AC */
        {"\xf0\x9f\x98\x80", -1},          /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", -1},          /* U+10FFFF */
        {"\xed\x9f\xbf", -1},              /* U+D7FF */
        {"\xee\x80\x80", -1},              /* U+E000 */
        {"ab\x80", 2},                     /* lone continuation */
        {"\xc0\xaf", 0},                   /* overlong '/' */
        {"\xc1\xbf", 0},                   /* overlong */
        {"\xe0\x80\xaf", 0},               /* overlong 3-byte */
        {"\xe0\x9f\xbf", 0},               /* overlong below U+0800 */
        {"\xf0\x80\x80\xaf", 0},           /* overlong 4-byte */
        {"\xf0\x8f\xbf\xbf", 0},           /* overlong below U+10000 */
        {"x\xed\xa0\x80", 1},              /* U+D800 */
        {"\xed\xbf\xbf", 0},               /* U+DFFF */
        {"\xf4\x90\x80\x80", 0},           /* U+110000 */
        {"\xf5\x80\x80\x80", 0},
        {"\xff", 0},
        {"abc\xc3", 3},                    /* truncated */
        {"\xe2\x82", 0},                   /* truncated */
        {"\xe2\x28\xa1", 0},               /* bad continuation */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(ecom__utf8_invalid_at(cases[i].s, strlen(cases[i].s)), cases[i].bad);
}

static void test_product__currency(void **state)
{
    (void)state;
    static const char *good[] = {"USD", "EUR", "JPY", "GBP", "CHF", "AED", "ZWL",
                                 "XAU", "BOV", "SLE", "VES", "MRU", "STN", "ZMW"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(ecom_currency_valid(good[i]));
    static const char *bad[] = {"usd", "US", "USDD", "", "XXX", "XTS", "ABC", "HRK",
                                "DEM", "AAA", "ZZZ", "US\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(ecom_currency_valid(bad[i]));
    assert_false(ecom_currency_valid(NULL));
    /* Every code from AAA to ZZZ: the table must be sorted for bsearch to find
     * all of them, and about 180 are known. */
    int known = 0;
    char code[4] = {0};
    for (char a = 'A'; a <= 'Z'; a++)
        for (char b = 'A'; b <= 'Z'; b++)
            for (char c = 'A'; c <= 'Z'; c++) {
                code[0] = a, code[1] = b, code[2] = c;
                known += ecom_currency_valid(code);
            }
    assert_in_range(known, 170, 190);
}

static void test_product__status_names(void **state)
{
    (void)state;
    assert_string_equal(ecom__status_name(ECOM_STATUS_DRAFT), "draft");
    assert_string_equal(ecom__status_name(ECOM_STATUS_ACTIVE), "active");
    assert_string_equal(ecom__status_name(ECOM_STATUS_ARCHIVED), "archived");
    assert_null(ecom__status_name(3));
    assert_null(ecom__status_name(-1));
    assert_int_equal(ecom__status_parse("archived"), ECOM_STATUS_ARCHIVED);
    assert_int_equal(ecom__status_parse("Active"), -1);
    assert_int_equal(ecom__status_parse(NULL), -1);
}

static void test_product__category(void **state)
{
    (void)state;
    char msg[256];
    static const char *good[] = {"", "a", "electronics/audio/headphones", "a-b_c/0x", "9/z"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(ecom__check_category(good[i], "category", msg, sizeof msg), ECOM_OK);
    static const char *bad[] = {"/a", "a/", "a//b", "A", "-a", "a/_b", "a b", "a/\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ecom__check_category(bad[i], "category", msg, sizeof msg),
                         ECOM_ECATEGORY);
        assert_non_null(strstr(msg, "category: "));
    }
    char deep[64] = "";
    for (int i = 0; i < 17; i++)
        strcat(deep, i ? "/a" : "a");
    assert_int_equal(ecom__check_category(deep, "category", msg, sizeof msg), ECOM_ECATEGORY);
    assert_non_null(strstr(msg, "more than 16 levels"));
    deep[strlen(deep) - 2] = '\0';
    assert_int_equal(ecom__check_category(deep, "category", msg, sizeof msg), ECOM_OK);
}

static void test_product__validate_ok(void **state)
{
    (void)state;
    ecom_product *p = valid_product();
    char msg[256] = "untouched";
    assert_int_equal(ecom_product_validate(p, msg, sizeof msg), ECOM_OK);
    assert_int_equal(ecom_product_validate(p, NULL, 0), ECOM_OK);
    assert_int_equal(ecom_product_validate(NULL, NULL, 0), ECOM_EINVAL);
    ecom_product_free(p);
}

/* ---- one case per fault kind ---- */

static char big[70000];

static const char *repeat(char c, size_t n)
{
    memset(big, c, n);
    big[n] = '\0';
    return big;
}

static void m_id_long(ecom_product *p) { p->id = ecom__arena_strndup(&p->arena, repeat('a', 70), 70); }
static void m_id_empty(ecom_product *p) { p->id = ""; }
static void m_id_char(ecom_product *p) { p->id = "p/1"; }
static void m_id_start(ecom_product *p) { p->id = "-p1"; }
static void m_title_empty(ecom_product *p) { ecom_product_set_title(p, ""); }
static void m_title_long(ecom_product *p) { ecom_product_set_title(p, repeat('t', 513)); }
static void m_title_utf8(ecom_product *p) { ecom_product_set_title(p, "Good shirt \xc3("); }
static void m_title_ctrl(ecom_product *p) { ecom_product_set_title(p, "a\nb"); }
static void m_title_c1(ecom_product *p) { ecom_product_set_title(p, "a\xc2\x85"); }
static void m_title_del(ecom_product *p) { ecom_product_set_title(p, "a\x7f"); }
static void m_desc_long(ecom_product *p) { ecom_product_set_description(p, repeat('d', 65537)); }
static void m_desc_ctrl(ecom_product *p) { ecom_product_set_description(p, "ok\n\x01"); }
static void m_desc_surrogate(ecom_product *p) { ecom_product_set_description(p, "\xed\xa0\x80"); }
static void m_brand_long(ecom_product *p) { ecom_product_set_brand(p, repeat('b', 129)); }
static void m_brand_ctrl(ecom_product *p) { ecom_product_set_brand(p, "a\tb"); }
static void m_category(ecom_product *p) { ecom_product_set_category(p, "Clothing"); }
static void m_category_long(ecom_product *p) { ecom_product_set_category(p, repeat('c', 257)); }
static void m_status(ecom_product *p) { ecom_product_set_status(p, (ecom_product_status)7); }
static void m_attr_name(ecom_product *p) { ecom_product_add_attribute(p, "Size", "S"); }
static void m_attr_name_long(ecom_product *p) { ecom_product_add_attribute(p, repeat('n', 65), "S"); }
static void m_attr_value_dup(ecom_product *p) { ecom_product_add_attribute(p, "color", "red"); }
static void m_attr_value_empty(ecom_product *p) { ecom_product_add_attribute(p, "color", ""); }
static void m_attr_value_long(ecom_product *p) { ecom_product_add_attribute(p, "color", repeat('v', 257)); }
static void m_attr_name_dup(ecom_product *p)
{
    ecom_product_add_attribute(p, "size", "S");
    p->attributes[1].name = "color";
}
static void m_attr_none(ecom_product *p) { p->attributes[0].value_count = 0; }

static void m_attr_many(ecom_product *p)
{
    for (int i = 0; i < 65; i++) {
        char name[16];
        snprintf(name, sizeof name, "a%d", i);
        ecom_product_add_attribute(p, name, "x");
    }
}

static void m_attr_values_many(ecom_product *p)
{
    for (int i = 0; i < 63; i++) {
        char v[16];
        snprintf(v, sizeof v, "v%d", i);
        ecom_product_add_attribute(p, "color", v);
    }
}

static void m_no_variants(ecom_product *p) { p->variant_count = 0; }

static void m_variants_many(ecom_product *p)
{
    for (int i = 0; i < 255; i++) {
        char sku[16];
        snprintf(sku, sizeof sku, "x%d", i);
        ecom_product_add_variant(p, sku, 0, NULL);
    }
}

static void m_sku_dup(ecom_product *p) { ecom_product_add_variant(p, "p1-red", 0, NULL); }
static void m_sku_char(ecom_product *p) { p->variants[1].sku = "p1 blue"; }
static void m_sku_long(ecom_product *p) { p->variants[1].sku = ecom__arena_strndup(&p->arena, repeat('s', 65), 65); }
static void m_sku_empty(ecom_product *p) { p->variants[1].sku = ""; }
static void m_weight_neg(ecom_product *p) { p->variants[1].weight_g = -1; }
static void m_weight_big(ecom_product *p) { p->variants[0].weight_g = ECOM__WEIGHT_MAX + 1; }
static void m_price_neg(ecom_product *p) { ecom_product_variant_set_price(p, 1, "EUR", -5); }
static void m_price_big(ecom_product *p) { ecom_product_variant_set_price(p, 0, "USD", ECOM_PRICE_MAX + 1); }
static void m_price_min(ecom_product *p) { ecom_product_variant_set_price(p, 0, "USD", INT64_MIN); }
static void m_currency(ecom_product *p) { ecom_product_variant_set_price(p, 1, "ABC", 1); }
static void m_currency_dup(ecom_product *p) { memcpy(p->variants[0].prices[1].currency, "USD", 4); }

static void m_prices_many(ecom_product *p)
{
    static const char *cur[] = {"GBP", "JPY", "CHF", "CAD", "AUD", "SEK", "NOK", "DKK",
                                "PLN", "CZK", "HUF", "NZD", "SGD", "HKD", "MXN"};
    for (size_t k = 0; k < 15; k++)
        ecom_product_variant_set_price(p, 0, cur[k], 1);
}

static void m_options_many(ecom_product *p)
{
    for (int i = 0; i < 16; i++) {
        char name[16];
        snprintf(name, sizeof name, "o%d", i);
        ecom_product_variant_set_option(p, 1, name, "x");
    }
}

static void m_option_dup(ecom_product *p)
{
    ecom_product_variant_set_option(p, 1, "size", "L");
    p->variants[1].options[1].name = "color";
}

static void m_option_empty_value(ecom_product *p) { ecom_product_variant_set_option(p, 1, "size", ""); }
static void m_option_empty_name(ecom_product *p) { ecom_product_variant_set_option(p, 1, "", "L"); }
static void m_option_name_long(ecom_product *p) { ecom_product_variant_set_option(p, 0, repeat('o', 65), "L"); }
static void m_option_value_utf8(ecom_product *p) { ecom_product_variant_set_option(p, 0, "size", "\xff"); }

typedef struct vcase {
    const char *name;
    void (*mutate)(ecom_product *p);
    int code;
    const char *msg; /* the start of the message */
} vcase;

static const vcase vcases[] = {
    {"id long", m_id_long, ECOM_ETOOLONG, "id: 70 bytes, longer than 64"},
    {"id empty", m_id_empty, ECOM_EFIELD, "id: missing"},
    {"id char", m_id_char, ECOM_EBADID, "id: '/' at byte 1"},
    {"id start", m_id_start, ECOM_EBADID, "id: '-' at byte 0"},
    {"title empty", m_title_empty, ECOM_EFIELD, "title: missing"},
    {"title long", m_title_long, ECOM_ETOOLONG, "title: 513 bytes, longer than 512"},
    {"title utf8", m_title_utf8, ECOM_EUTF8, "title: not valid UTF-8 at byte 11"},
    {"title newline", m_title_ctrl, ECOM_EUTF8, "title: control character U+000A at byte 1"},
    {"title C1", m_title_c1, ECOM_EUTF8, "title: control character U+0085 at byte 1"},
    {"title DEL", m_title_del, ECOM_EUTF8, "title: control character U+007F at byte 1"},
    {"description long", m_desc_long, ECOM_ETOOLONG, "description: 65537 bytes"},
    {"description ctrl", m_desc_ctrl, ECOM_EUTF8, "description: control character U+0001 at byte 3"},
    {"description surrogate", m_desc_surrogate, ECOM_EUTF8, "description: not valid UTF-8 at byte 0"},
    {"brand long", m_brand_long, ECOM_ETOOLONG, "brand: 129 bytes, longer than 128"},
    {"brand tab", m_brand_ctrl, ECOM_EUTF8, "brand: control character U+0009"},
    {"category", m_category, ECOM_ECATEGORY, "category: 'C' at byte 0"},
    {"category long", m_category_long, ECOM_ETOOLONG, "category: 257 bytes, longer than 256"},
    {"status", m_status, ECOM_ESTATUS, "status: 7 is not"},
    {"attribute name", m_attr_name, ECOM_EBADID, "attributes[1]: 'S' at byte 0"},
    {"attribute name long", m_attr_name_long, ECOM_ETOOLONG, "attributes[1]: 65 bytes"},
    {"attribute name dup", m_attr_name_dup, ECOM_EFIELD, "attributes[1]: \"color\" is given twice (first at attributes[0])"},
    {"attribute no values", m_attr_none, ECOM_ELIMIT, "attributes.color: no values"},
    {"attribute value dup", m_attr_value_dup, ECOM_EFIELD, "attributes.color[2]: \"red\" is given twice (first at attributes.color[0])"},
    {"attribute value empty", m_attr_value_empty, ECOM_EFIELD, "attributes.color[2]: missing"},
    {"attribute value long", m_attr_value_long, ECOM_ETOOLONG, "attributes.color[2]: 257 bytes"},
    {"attributes many", m_attr_many, ECOM_ELIMIT, "attributes: 66, more than 64"},
    {"attribute values many", m_attr_values_many, ECOM_ELIMIT, "attributes.color: 65 values, more than 64"},
    {"no variants", m_no_variants, ECOM_ELIMIT, "variants: none"},
    {"variants many", m_variants_many, ECOM_ELIMIT, "variants: 257, more than 256"},
    {"sku dup", m_sku_dup, ECOM_EDUPSKU, "variants[2].sku: \"p1-red\" is given twice (first at variants[0].sku)"},
    {"sku char", m_sku_char, ECOM_EBADID, "variants[1].sku: ' ' at byte 2"},
    {"sku long", m_sku_long, ECOM_ETOOLONG, "variants[1].sku: 65 bytes, longer than 64"},
    {"sku empty", m_sku_empty, ECOM_EFIELD, "variants[1].sku: missing"},
    {"weight negative", m_weight_neg, ECOM_EFIELD, "variants[1].weight_g: -1 is outside"},
    {"weight big", m_weight_big, ECOM_EFIELD, "variants[0].weight_g: 1000000001 is outside"},
    {"price negative", m_price_neg, ECOM_EPRICE, "variants[1].prices.EUR: -5 is negative"},
    {"price big", m_price_big, ECOM_EPRICE, "variants[0].prices.USD: 1000000000000001 is more than"},
    {"price INT64_MIN", m_price_min, ECOM_EPRICE, "variants[0].prices.USD: -9223372036854775808 is negative"},
    {"currency", m_currency, ECOM_ECURRENCY, "variants[1].prices.ABC: not an ISO 4217"},
    {"currency dup", m_currency_dup, ECOM_EFIELD, "variants[0].prices.USD: \"USD\" is given twice"},
    {"prices many", m_prices_many, ECOM_ELIMIT, "variants[0].prices: 17, more than 16"},
    {"options many", m_options_many, ECOM_ELIMIT, "variants[1].options: 17, more than 16"},
    {"option dup", m_option_dup, ECOM_EFIELD, "variants[1].options[1]: \"color\" is given twice"},
    {"option empty value", m_option_empty_value, ECOM_EFIELD, "variants[1].options.size: missing"},
    {"option empty name", m_option_empty_name, ECOM_EFIELD, "variants[1].options[1]: missing"},
    {"option name long", m_option_name_long, ECOM_ETOOLONG, "variants[0].options[1]: 65 bytes"},
    {"option value utf8", m_option_value_utf8, ECOM_EUTF8, "variants[0].options.size: not valid UTF-8 at byte 0"},
};

static void test_product__validate_faults(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vcases / sizeof vcases[0]; i++) {
        const vcase *c = &vcases[i];
        ecom_product *p = valid_product();
        c->mutate(p);
        char msg[256] = "";
        int rc = ecom_product_validate(p, msg, sizeof msg);
        if (rc != c->code || strncmp(msg, c->msg, strlen(c->msg)) != 0)
            fail_msg("case \"%s\": got %d \"%s\", want %d \"%s...\"", c->name, rc, msg,
                     c->code, c->msg);
        /* A short buffer is cut, never overrun. */
        char tiny[8];
        assert_int_equal(ecom_product_validate(p, tiny, sizeof tiny), c->code);
        assert_true(strlen(tiny) < sizeof tiny);
        ecom_product_free(p);
    }
}

/* A name with bytes that are not printable is quoted safely in the message. */
static void test_product__message_quotes_names(void **state)
{
    (void)state;
    ecom_product *p = valid_product();
    ecom_product_variant_set_price(p, 0, "\x01\"Z", 5);
    char msg[256];
    assert_int_equal(ecom_product_validate(p, msg, sizeof msg), ECOM_ECURRENCY);
    assert_string_equal(msg, "variants[0].prices.\\x01\"Z: not an ISO 4217 currency code");
    ecom_product_free(p);
    char q[16];
    ecom__quote(q, sizeof q, "abcdefghijklmnopqrstuvwxyz", 26);
    assert_string_equal(q, "abcdefghijkl...");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_product__new_defaults),
        cmocka_unit_test(test_product__getters_null_and_index_safe),
        cmocka_unit_test(test_product__setters_copy),
        cmocka_unit_test(test_product__add_attribute_appends),
        cmocka_unit_test(test_product__set_price_and_option_replace),
        cmocka_unit_test(test_product__arena_growth),
        cmocka_unit_test(test_product__arena_alignment),
        cmocka_unit_test(test_product__utf8),
        cmocka_unit_test(test_product__currency),
        cmocka_unit_test(test_product__status_names),
        cmocka_unit_test(test_product__category),
        cmocka_unit_test(test_product__validate_ok),
        cmocka_unit_test(test_product__validate_faults),
        cmocka_unit_test(test_product__message_quotes_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
