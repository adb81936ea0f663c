/*
 * Products as JSON: parsing (every error code, with the field named), exact
 * integers, hostile input, the fixed output form, round trips, and out of
 * memory at every allocation of from_json and to_json.
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
#include "support/support.h"

#define FULL                                                                            \
    "{\"id\":\"p1\",\"title\":\"Caf\xc3\xa9 \\\"mug\\\" \\u20ac\",\"description\":"     \
    "\"Line 1\\nLine 2\\tTab\\r\",\"brand\":\"Acme\",\"category\":\"home/kitchen\","     \
    "\"status\":\"active\",\"attributes\":{\"color\":[\"red\",\"blue\"],\"size\":[\"L\"]}," \
    "\"variants\":[{\"sku\":\"p1-red\",\"options\":{\"color\":\"red\"},"                \
    "\"prices\":{\"USD\":1999,\"EUR\":1850},\"weight_g\":250},"                         \
    "{\"sku\":\"p1-blue\",\"options\":{\"color\":\"blue\",\"size\":\"L\"},"             \
    "\"prices\":{\"JPY\":1000000000000000},\"weight_g\":0}],"                           \
    "\"version\":3,\"created_at\":1700000000000,\"updated_at\":1700000000001}"

static int parse(ecom_product **p, const char *json, char *msg, size_t msg_size)
{
    *p = NULL;
    return ecom_product_from_json(p, json, strlen(json), msg, msg_size);
}

static void test_json__parse_full(void **state)
{
    (void)state;
    ecom_product *p;
    char msg[256] = "";
    assert_int_equal(parse(&p, FULL, msg, sizeof msg), ECOM_OK);
    assert_string_equal(ecom_product_id(p), "p1");
    assert_string_equal(ecom_product_title(p), "Caf\xc3\xa9 \"mug\" \xe2\x82\xac");
    assert_string_equal(ecom_product_description(p), "Line 1\nLine 2\tTab\r");
    assert_string_equal(ecom_product_category(p), "home/kitchen");
    assert_int_equal(ecom_product_get_status(p), ECOM_STATUS_ACTIVE);
    assert_int_equal(ecom_product_attribute_count(p), 2);
    assert_string_equal(ecom_product_attribute_value(p, 0, 1), "blue");
    assert_int_equal(ecom_product_variant_count(p), 2);
    int64_t amount;
    assert_int_equal(ecom_product_variant_price(&amount, p, 1, "JPY"), ECOM_OK);
    assert_int_equal(amount, ECOM_PRICE_MAX);
    assert_int_equal(ecom_product_variant_weight(p, 0), 250);
    assert_string_equal(ecom_product_variant_option_name(p, 1, 1), "size");
    /* Input versions and timestamps are the store's business. */
    assert_int_equal(ecom_product_version(p), 0);
    assert_int_equal(ecom_product_created_at(p), 0);
    ecom_product_free(p);
}

static void test_json__minimal_defaults(void **state)
{
    (void)state;
    ecom_product *p;
    const char *js = " {\"variants\":[{\"sku\":\"a\"}],\"title\":\"T\",\"id\":\"x\"}\n\t\r ";
    assert_int_equal(parse(&p, js, NULL, 0), ECOM_OK);
    assert_string_equal(ecom_product_brand(p), "");
    assert_int_equal(ecom_product_get_status(p), ECOM_STATUS_DRAFT);
    assert_int_equal(ecom_product_variant_price_count(p, 0), 0);
    ecom_product_free(p);
    /* The length bounds the input: what follows is not read. */
    char buf[64] = "{\"id\":\"x\",\"title\":\"T\",\"variants\":[{\"sku\":\"a\"}]}garbage";
    assert_int_equal(ecom_product_from_json(&p, buf, strlen(buf) - 7, NULL, 0), ECOM_OK);
    ecom_product_free(p);
}

static void test_json__output_form(void **state)
{
    (void)state;
    ecom_product *p;
    assert_int_equal(parse(&p, FULL, NULL, 0), ECOM_OK);
    p->version = UINT64_MAX;
    p->created_at = INT64_MIN;
    p->updated_at = INT64_MAX;
    char *out = NULL;
    assert_int_equal(ecom_product_to_json(&out, p), ECOM_OK);
    assert_string_equal(
        out, "{\"id\":\"p1\",\"title\":\"Caf\xc3\xa9 \\\"mug\\\" \xe2\x82\xac\","
             "\"description\":\"Line 1\\nLine 2\\tTab\\r\",\"brand\":\"Acme\","
             "\"category\":\"home/kitchen\",\"status\":\"active\","
             "\"attributes\":{\"color\":[\"red\",\"blue\"],\"size\":[\"L\"]},"
             "\"variants\":[{\"sku\":\"p1-red\",\"options\":{\"color\":\"red\"},"
             "\"prices\":{\"USD\":1999,\"EUR\":1850},\"weight_g\":250},"
             "{\"sku\":\"p1-blue\",\"options\":{\"color\":\"blue\",\"size\":\"L\"},"
             "\"prices\":{\"JPY\":1000000000000000},\"weight_g\":0}],"
             "\"version\":18446744073709551615,\"created_at\":-9223372036854775808,"
             "\"updated_at\":9223372036854775807}");
    ecom_free(out);
    /* Control characters an unvalidated product may hold still give valid JSON. */
    ecom_product_set_brand(p, "a\x01\x1f\b\f\\b");
    assert_int_equal(ecom_product_to_json(&out, p), ECOM_OK);
    assert_non_null(strstr(out, "\"brand\":\"a\\u0001\\u001f\\b\\f\\\\b\""));
    ecom_free(out);
    ecom_product_set_status(p, (ecom_product_status)9);
    assert_int_equal(ecom_product_to_json(&out, p), ECOM_ESTATUS);
    assert_null(out);
    assert_int_equal(ecom_product_to_json(&out, NULL), ECOM_EINVAL);
    ecom_product_free(p);
}

static void test_json__round_trip(void **state)
{
    (void)state;
    ecom_product *p, *q;
    assert_int_equal(parse(&p, FULL, NULL, 0), ECOM_OK);
    char *out = NULL, *out2 = NULL;
    assert_int_equal(ecom_product_to_json(&out, p), ECOM_OK);
    assert_int_equal(parse(&q, out, NULL, 0), ECOM_OK);
    assert_true(ecom__product_equal(p, q));
    assert_int_equal(ecom_product_to_json(&out2, q), ECOM_OK);
    assert_string_equal(out, out2);
    ecom_free(out);
    ecom_free(out2);
    ecom_product_free(p);
    ecom_product_free(q);
}

/* Equal values in other spellings, and the integers at the edges. */
static void test_json__exact_integers(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int code;
        int64_t value;
    } cases[] = {
        {"0", ECOM_OK, 0},
        {"-0", ECOM_OK, 0},
        {"1999", ECOM_OK, 1999},
        {"1.999e3", ECOM_OK, 1999},
        {"19990e-1", ECOM_OK, 1999},
        {"1999.000", ECOM_OK, 1999},
        {"1E3", ECOM_OK, 1000},
        {"1e+3", ECOM_OK, 1000},
        {"0.0e-99999", ECOM_OK, 0},
        {"1000000000000000", ECOM_OK, ECOM_PRICE_MAX},
        {"1e15", ECOM_OK, ECOM_PRICE_MAX},
        {"19.99", ECOM_EPRICE, 0},
        {"1999.0000000000000001", ECOM_EPRICE, 0},
        {"1e-400", ECOM_EPRICE, 0},
        {"0.5", ECOM_EPRICE, 0},
        {"1000000000000001", ECOM_EPRICE, 0},     /* above the maximum */
        {"9007199254740993", ECOM_EPRICE, 0},     /* 2^53 + 1: no double has it */
        {"9223372036854775807", ECOM_EPRICE, 0},  /* INT64_MAX: in range, too big */
        {"9223372036854775808", ECOM_EPRICE, 0},  /* beyond int64 */
        {"-9223372036854775808", ECOM_EPRICE, 0}, /* INT64_MIN: negative */
        {"-9223372036854775809", ECOM_EPRICE, 0},
        {"1e19", ECOM_EPRICE, 0},
        {"1e400", ECOM_EPRICE, 0},
        {"-1", ECOM_EPRICE, 0},
        {"\"1999\"", ECOM_EPRICE, 0},
        {"null", ECOM_EPRICE, 0},
        {"01", ECOM_EJSON, 0},
        {"1.", ECOM_EJSON, 0},
        {".5", ECOM_EJSON, 0},
        {"+1", ECOM_EJSON, 0},
        {"1e", ECOM_EJSON, 0},
        {"0x10", ECOM_EJSON, 0},
        {"Infinity", ECOM_EJSON, 0},
        {"NaN", ECOM_EJSON, 0},
        {"1000000000000000000000000000000000000000000000000000000000000000000", ECOM_EJSON, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char js[256], msg[256] = "";
        snprintf(js, sizeof js,
                 "{\"id\":\"p\",\"title\":\"t\",\"variants\":[{\"sku\":\"s\","
                 "\"prices\":{\"USD\":%s}}]}",
                 cases[i].text);
        ecom_product *p;
        int rc = parse(&p, js, msg, sizeof msg);
        if (rc != cases[i].code)
            fail_msg("%s: got %d (%s), want %d", cases[i].text, rc, msg, cases[i].code);
        if (rc == ECOM_OK) {
            int64_t amount;
            assert_int_equal(ecom_product_variant_price(&amount, p, 0, "USD"), ECOM_OK);
            assert_int_equal(amount, cases[i].value);
        } else if (rc == ECOM_EPRICE) {
            assert_non_null(strstr(msg, "variants[0].prices.USD: "));
        }
        ecom_product_free(p);
    }
}

typedef struct jcase {
    const char *json;
    int code;
    const char *msg; /* the start of the message */
} jcase;

#define V "\"variants\":[{\"sku\":\"s\"}]"
#define PT "{\"id\":\"p\",\"title\":\"t\","

static const jcase jcases[] = {
    /* syntax */
    {"", ECOM_EJSON, "JSON: unexpected end of input at byte 0"},
    {"   ", ECOM_EJSON, "JSON: unexpected end of input"},
    {"{", ECOM_EJSON, "JSON: expected a string key at byte 1"},
    {"{\"id\":\"p\"", ECOM_EJSON, "JSON: unexpected end of input"},
    {"{\"id\":\"p}", ECOM_EJSON, "JSON: unterminated string at byte 6"},
    {"{\"id\":\"p\\", ECOM_EJSON, "JSON: unterminated string"},
    {"{\"id\" \"p\"}", ECOM_EJSON, "JSON: expected ':'"},
    {"{\"id\":\"p\",}", ECOM_EJSON, "JSON: expected a string key"},
    {"[1,]", ECOM_EJSON, "JSON: unexpected character"},
    {"{\"id\":\"p\"]", ECOM_EJSON, "JSON: expected ',' or '}'"},
    {"{} {}", ECOM_EJSON, "JSON: trailing characters at byte 3"},
    {"{}\x01", ECOM_EJSON, "JSON: trailing characters"},
    {"\xef\xbb\xbf{}", ECOM_EJSON, "JSON: unexpected character at byte 0"},
    {"{\"id\":\"a\tb\"}", ECOM_EJSON, "JSON: raw control character in a string"},
    {"{\"id\":\"\\x41\"}", ECOM_EJSON, "JSON: bad escape"},
    {"{\"id\":\"\\u12G4\"}", ECOM_EJSON, "JSON: bad \\u escape"},
    {"{\"id\":\"\\u12\"}", ECOM_EJSON, "JSON: bad \\u escape"},
    {"{\"id\":tru}", ECOM_EJSON, "JSON: unexpected character"},
    {"{\"id\":nul}", ECOM_EJSON, "JSON: unexpected character"},
    {"{'id':1}", ECOM_EJSON, "JSON: expected a string key"},
    {"{\"a\":1 /* c */}", ECOM_EJSON, "JSON: expected ',' or '}'"},
    /* strings */
    {PT "\"brand\":\"\\ud800\"," V "}", ECOM_EUTF8, "JSON: lone surrogate \\uD800"},
    {PT "\"brand\":\"\\udc00x\"," V "}", ECOM_EUTF8, "JSON: lone surrogate \\uDC00"},
    {PT "\"brand\":\"\\ud800\\u0041\"," V "}", ECOM_EUTF8, "JSON: lone surrogate"},
    {PT "\"brand\":\"a\\u0000b\"," V "}", ECOM_EUTF8, "brand: holds \\u0000 (NUL)"},
    {PT "\"brand\":\"a\xff\"," V "}", ECOM_EUTF8, "brand: not valid UTF-8 at byte 1"},
    {PT "\"brand\":\"\xed\xa0\x80\"," V "}", ECOM_EUTF8, "brand: not valid UTF-8 at byte 0"},
    {PT "\"brand\":\"\xc0\xaf\"," V "}", ECOM_EUTF8, "brand: not valid UTF-8 at byte 0"},
    {PT "\"brand\":\"a\\u0001\"," V "}", ECOM_EUTF8, "brand: control character U+0001"},
    {PT "\"attributes\":{\"c\xff\":[\"x\"]}," V "}", ECOM_EUTF8, "attributes.c\\xFF: not valid UTF-8"},
    {PT "\"attributes\":{\"c\":[\"x\\u0000\"]}," V "}", ECOM_EUTF8, "attributes.c[0]: holds \\u0000"},
    {PT "\"variants\":[{\"sku\":\"s\",\"options\":{\"a\":\"\xe2\x82\"}}]}", ECOM_EUTF8, "variants[0].options.a: not valid UTF-8"},
    /* fields */
    {"[]", ECOM_EFIELD, "(root): expected an object"},
    {"\"p\"", ECOM_EFIELD, "(root): expected an object"},
    {"{\"title\":\"t\"," V "}", ECOM_EFIELD, "id: missing"},
    {"{\"id\":\"p\"," V "}", ECOM_EFIELD, "title: missing"},
    {"{\"id\":\"p\",\"title\":\"t\"}", ECOM_EFIELD, "variants: missing"},
    {PT "\"colour\":\"red\"," V "}", ECOM_EFIELD, "colour: unknown field"},
    {PT "\"title\":\"u\"," V "}", ECOM_EFIELD, "title: given twice"},
    {PT "\"brand\":null," V "}", ECOM_EFIELD, "brand: expected a string"},
    {PT "\"brand\":5," V "}", ECOM_EFIELD, "brand: expected a string"},
    {"{\"id\":7,\"title\":\"t\"," V "}", ECOM_EFIELD, "id: expected a string"},
    {PT "\"version\":\"3\"," V "}", ECOM_EFIELD, "version: expected a number"},
    {PT "\"title\":\"\"," V "}", ECOM_EFIELD, "title: given twice"},
    {"{\"id\":\"p\",\"title\":\"\"," V "}", ECOM_EFIELD, "title: missing"},
    {PT "\"variants\":{}}", ECOM_EFIELD, "variants: expected an array"},
    {PT "\"variants\":[5]}", ECOM_EFIELD, "variants[0]: expected an object"},
    {PT "\"variants\":[{\"options\":{}}]}", ECOM_EFIELD, "variants[0].sku: missing"},
    {PT "\"variants\":[{\"sku\":\"s\",\"sku\":\"t\"}]}", ECOM_EFIELD, "variants[0].sku: given twice"},
    {PT "\"variants\":[{\"sku\":\"s\",\"price\":{}}]}", ECOM_EFIELD, "variants[0].price: unknown field"},
    {PT "\"variants\":[{\"sku\":5}]}", ECOM_EFIELD, "variants[0].sku: expected a string"},
    {PT "\"variants\":[{\"sku\":\"s\",\"options\":[]}]}", ECOM_EFIELD, "variants[0].options: expected an object"},
    {PT "\"variants\":[{\"sku\":\"s\",\"options\":{\"a\":1}}]}", ECOM_EFIELD, "variants[0].options.a: expected a string"},
    {PT "\"variants\":[{\"sku\":\"s\",\"options\":{\"a\":\"x\",\"a\":\"y\"}}]}", ECOM_EFIELD, "variants[0].options.a: given twice"},
    {PT "\"variants\":[{\"sku\":\"s\",\"options\":{\"a\":\"\"}}]}", ECOM_EFIELD, "variants[0].options.a: missing"},
    {PT "\"variants\":[{\"sku\":\"s\",\"prices\":[]}]}", ECOM_EFIELD, "variants[0].prices: expected an object"},
    {PT "\"variants\":[{\"sku\":\"s\",\"prices\":{\"USD\":1,\"USD\":2}}]}", ECOM_EFIELD, "variants[0].prices.USD: given twice"},
    {PT "\"variants\":[{\"sku\":\"s\",\"weight_g\":1.5}]}", ECOM_EFIELD, "variants[0].weight_g: 1.5 is not a whole number of grams"},
    {PT "\"variants\":[{\"sku\":\"s\",\"weight_g\":-1}]}", ECOM_EFIELD, "variants[0].weight_g: -1 is outside"},
    {PT "\"variants\":[{\"sku\":\"s\",\"weight_g\":\"1\"}]}", ECOM_EFIELD, "variants[0].weight_g: expected an integer"},
    {PT "\"variants\":[{\"sku\":\"s\",\"weight_g\":1e30}]}", ECOM_EFIELD, "variants[0].weight_g: 1e30 is out of range"},
    {PT "\"attributes\":[]," V "}", ECOM_EFIELD, "attributes: expected an object"},
    {PT "\"attributes\":{\"c\":\"red\"}," V "}", ECOM_EFIELD, "attributes.c: expected an array of strings"},
    {PT "\"attributes\":{\"c\":[1]}," V "}", ECOM_EFIELD, "attributes.c[0]: expected a string"},
    {PT "\"attributes\":{\"c\":[\"x\"],\"c\":[\"y\"]}," V "}", ECOM_EFIELD, "attributes.c: given twice"},
    {PT "\"attributes\":{\"c\":[\"x\",\"x\"]}," V "}", ECOM_EFIELD, "attributes.c[1]: \"x\" is given twice"},
    /* limits and values */
    {PT "\"variants\":[]}", ECOM_ELIMIT, "variants: none"},
    {PT "\"attributes\":{\"c\":[]}," V "}", ECOM_ELIMIT, "attributes.c: no values"},
    {PT "\"attributes\":{\"C\":[\"x\"]}," V "}", ECOM_EBADID, "attributes[0]: 'C' at byte 0"},
    {"{\"id\":\"p!\",\"title\":\"t\"," V "}", ECOM_EBADID, "id: '!' at byte 1"},
    {PT "\"variants\":[{\"sku\":\"s s\"}]}", ECOM_EBADID, "variants[0].sku: ' ' at byte 1"},
    {"{\"id\":\"0123456789012345678901234567890123456789012345678901234567890123456789\",\"title\":\"t\"," V "}",
     ECOM_ETOOLONG, "id: 70 bytes, longer than 64"},
    {PT "\"variants\":[{\"sku\":\"s\"},{\"sku\":\"s\"}]}", ECOM_EDUPSKU, "variants[1].sku: \"s\" is given twice"},
    {PT "\"variants\":[{\"sku\":\"s\",\"prices\":{\"usd\":1}}]}", ECOM_ECURRENCY, "variants[0].prices.usd: not an ISO 4217"},
    {PT "\"variants\":[{\"sku\":\"s\",\"prices\":{\"US\":1}}]}", ECOM_ECURRENCY, "variants[0].prices.US: not an ISO 4217"},
    {PT "\"variants\":[{\"sku\":\"s\",\"prices\":{\"EUR\":-5}}]}", ECOM_EPRICE, "variants[0].prices.EUR: -5 is negative"},
    {PT "\"variants\":[{\"sku\":\"s\",\"prices\":{\"EUR\":19.99}}]}", ECOM_EPRICE, "variants[0].prices.EUR: 19.99 is not a whole number of minor units"},
    {PT "\"category\":\"a//b\"," V "}", ECOM_ECATEGORY, "category: empty level at byte 2"},
    {PT "\"status\":\"published\"," V "}", ECOM_ESTATUS, "status: \"published\" is not draft, active or archived"},
    {PT "\"status\":1," V "}", ECOM_EFIELD, "status: expected a string"},
};

static void test_json__errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof jcases / sizeof jcases[0]; i++) {
        const jcase *c = &jcases[i];
        ecom_product *p = (ecom_product *)1;
        char msg[256] = "";
        int rc = ecom_product_from_json(&p, c->json, strlen(c->json), msg, sizeof msg);
        if (rc != c->code || strncmp(msg, c->msg, strlen(c->msg)) != 0)
            fail_msg("case %zu %s: got %d \"%s\", want %d \"%s...\"", i, c->json, rc, msg,
                     c->code, c->msg);
        assert_null(p);
    }
}

/* Counts past a limit are refused before the work they would cost. */
static void test_json__limits(void **state)
{
    (void)state;
    ecom__buf b = {0};
    ecom__buf_put(&b, PT "\"variants\":[", strlen(PT "\"variants\":["));
    for (int i = 0; i < 300; i++) {
        char v[64];
        snprintf(v, sizeof v, "%s{\"sku\":\"s%d\"}", i ? "," : "", i);
        ecom__buf_put(&b, v, strlen(v));
    }
    ecom__buf_put(&b, "]}", 2);
    char msg[256];
    ecom_product *p;
    assert_int_equal(ecom_product_from_json(&p, b.data, b.len, msg, sizeof msg), ECOM_ELIMIT);
    assert_string_equal(msg, "variants: 300, more than 256");
    ecom__buf_free(&b);

    ecom__buf_put(&b, PT "\"attributes\":{\"c\":[", strlen(PT "\"attributes\":{\"c\":["));
    for (int i = 0; i < 65; i++)
        ecom__buf_put(&b, i ? ",\"x\"" : "\"x\"", i ? 4 : 3);
    ecom__buf_put(&b, "]}," V "}", strlen("]}," V "}"));
    assert_int_equal(ecom_product_from_json(&p, b.data, b.len, msg, sizeof msg), ECOM_ELIMIT);
    assert_string_equal(msg, "attributes.c: 65 values, more than 64");
    ecom__buf_free(&b);

    ecom__buf_put(&b, PT V ",\"attributes\":{", strlen(PT V ",\"attributes\":{"));
    for (int i = 0; i < 65; i++) {
        char a[32];
        snprintf(a, sizeof a, "%s\"a%d\":[\"x\"]", i ? "," : "", i);
        ecom__buf_put(&b, a, strlen(a));
    }
    ecom__buf_put(&b, "}}", 2);
    assert_int_equal(ecom_product_from_json(&p, b.data, b.len, msg, sizeof msg), ECOM_ELIMIT);
    assert_string_equal(msg, "attributes: 65, more than 64");
    ecom__buf_free(&b);
}

/* Nesting far past what a product needs is refused early, without recursion. */
static void test_json__deep_nesting(void **state)
{
    (void)state;
    size_t n = 1000000;
    char *js = malloc(2 * n + 1);
    memset(js, '[', n);
    memset(js + n, ']', n);
    js[2 * n] = '\0';
    ecom_product *p;
    char msg[256];
    assert_int_equal(ecom_product_from_json(&p, js, 2 * n, msg, sizeof msg), ECOM_EJSON);
    assert_string_equal(msg, "JSON: nesting deeper than 32 levels at byte 32");
    for (size_t i = 0; i < n; i++)
        js[i] = (i & 1) ? '[' : '{';
    assert_int_equal(ecom_product_from_json(&p, js, n, msg, sizeof msg), ECOM_EJSON);
    free(js);
    assert_int_equal(ecom_product_from_json(NULL, "{}", 2, NULL, 0), ECOM_EINVAL);
    assert_int_equal(ecom_product_from_json(&p, NULL, 2, NULL, 0), ECOM_EINVAL);
}

/* An embedded NUL byte is not JSON whitespace nor allowed raw in a string. */
static void test_json__nul_bytes(void **state)
{
    (void)state;
    static const char a[] = PT V "}\0";
    static const char b[] = "{\"id\":\"p\0\",\"title\":\"t\"," V "}";
    ecom_product *p;
    char msg[256];
    assert_int_equal(ecom_product_from_json(&p, a, sizeof a - 1, msg, sizeof msg), ECOM_EJSON);
    assert_int_equal(ecom_product_from_json(&p, b, sizeof b - 1, msg, sizeof msg), ECOM_EJSON);
    assert_string_equal(msg, "JSON: raw control character in a string at byte 8");
}

/* ---- out of memory ---- */


static void test_json__oom_from_json(void **state)
{
    (void)state;
    int rc = ECOM_ENOMEM;
    long n;
    for (n = 1; rc == ECOM_ENOMEM; n++) {
        test_alloc_countdown = n;
        ecom_product *p = (ecom_product *)1;
        char msg[128] = "";
        rc = parse(&p, FULL, msg, sizeof msg);
        if (rc == ECOM_ENOMEM) {
            assert_null(p);
            assert_string_equal(msg, "out of memory");
        } else {
            assert_int_equal(rc, ECOM_OK);
            ecom_product_free(p);
        }
        assert_int_equal(test_alloc_live, 0);
    }
    test_alloc_countdown = 0;
    assert_true(n > 10); /* cJSON's nodes, the product, its arena */
}

static void test_json__oom_to_json(void **state)
{
    (void)state;
    ecom_product *p;
    assert_int_equal(parse(&p, FULL, NULL, 0), ECOM_OK);
    long base = test_alloc_live;
    int rc = ECOM_ENOMEM;
    for (long n = 1; rc == ECOM_ENOMEM; n++) {
        test_alloc_countdown = n;
        char *out = (char *)1;
        rc = ecom_product_to_json(&out, p);
        if (rc == ECOM_ENOMEM) {
            assert_null(out);
        } else {
            assert_int_equal(rc, ECOM_OK);
            ecom_free(out);
        }
        assert_int_equal(test_alloc_live, base);
    }
    test_alloc_countdown = 0;
    ecom_product_free(p);
    assert_int_equal(test_alloc_live, 0);
}

static void test_json__oom_setters(void **state)
{
    (void)state;
    int rc = ECOM_ENOMEM;
    for (long n = 1; rc == ECOM_ENOMEM; n++) {
        test_alloc_countdown = n;
        ecom_product *p = NULL;
        rc = ecom_product_new(&p, "p");
        for (int i = 0; rc == ECOM_OK && i < 40; i++) {
            char s[16];
            snprintf(s, sizeof s, "v%d", i);
            size_t v;
            rc = ecom_product_add_variant(p, s, 1, &v);
            if (rc == ECOM_OK)
                rc = ecom_product_add_attribute(p, i % 2 ? "a" : s, s);
            if (rc == ECOM_OK)
                rc = ecom_product_variant_set_option(p, v, "size", s);
            if (rc == ECOM_OK)
                rc = ecom_product_variant_set_price(p, v, "USD", i);
        }
        if (rc == ECOM_OK)
            assert_int_equal(ecom_product_variant_count(p), 40);
        else
            assert_int_equal(rc, ECOM_ENOMEM);
        ecom_product_free(p);
        assert_int_equal(test_alloc_live, 0);
    }
    test_alloc_countdown = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json__parse_full),
        cmocka_unit_test(test_json__minimal_defaults),
        cmocka_unit_test(test_json__output_form),
        cmocka_unit_test(test_json__round_trip),
        cmocka_unit_test(test_json__exact_integers),
        cmocka_unit_test(test_json__errors),
        cmocka_unit_test(test_json__limits),
        cmocka_unit_test(test_json__deep_nesting),
        cmocka_unit_test(test_json__nul_bytes),
        cmocka_unit_test_setup_teardown(test_json__oom_from_json, test_oom_setup, test_oom_teardown),
        cmocka_unit_test_setup_teardown(test_json__oom_to_json, test_oom_setup, test_oom_teardown),
        cmocka_unit_test_setup_teardown(test_json__oom_setters, test_oom_setup, test_oom_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
