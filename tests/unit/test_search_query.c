/*
 * The search query language (src/search_query.c): every field, quoting, the
 * type-ahead rule for the text's last word, prices in each currency's minor units,
 * every error with its offset, the limits, and out of memory at every allocation.
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
#include "search.h"
#include "support/support.h"

static ecom__parsed_query *parsed;

static const ecom_search_request *parse_len(const char *query, size_t len)
{
    char msg[256] = "";
    ecom__query_free(parsed);
    parsed = NULL;
    int rc = ecom__query_parse(&parsed, query, len, msg, sizeof msg);
    if (rc != ECOM_OK)
        fail_msg("'%s' failed (%d): %s", query, rc, msg);
    assert_string_equal(msg, "");
    return ecom__query_request(parsed);
}

/* Parses query, which must be valid; the request lives until the next parse. */
static const ecom_search_request *parse(const char *query)
{
    return parse_len(query, strlen(query));
}

static void expect_error_len(const char *query, size_t len, const char *message)
{
    ecom__parsed_query *q = (ecom__parsed_query *)&q; /* must be reset to NULL */
    char msg[256] = "";
    assert_int_equal(ecom__query_parse(&q, query, len, msg, sizeof msg), ECOM_EQUERY);
    assert_null(q);
    assert_string_equal(msg, message);
}

/* Parses query, which must fail with exactly this message. */
static void expect_error(const char *query, const char *message)
{
    expect_error_len(query, strlen(query), message);
}

static int teardown(void **state)
{
    (void)state;
    ecom__query_free(parsed);
    parsed = NULL;
    return 0;
}

static void test_search_query__empty(void **state)
{
    (void)state;
    const ecom_search_request *r = parse("");
    assert_int_equal(r->version, ECOM_SEARCH_REQUEST_VERSION);
    assert_string_equal(r->text, "");
    assert_null(r->category);
    assert_null(r->brands);
    assert_int_equal(r->brand_count, 0);
    assert_null(r->attrs);
    assert_int_equal(r->attr_count, 0);
    assert_null(r->currency);
    assert_int_equal(r->price_min, -1);
    assert_int_equal(r->price_max, -1);
    assert_int_equal(r->in_stock, 0);
    assert_null(r->facets);
    assert_int_equal(r->facet_count, 0);
    assert_int_equal(r->sort, ECOM_SORT_RELEVANCE);
    assert_int_equal(r->limit, 0);
    assert_null(r->cursor);
    /* Whitespace alone is no word, so no trailing space either. */
    assert_string_equal(parse("  \t\r\n ")->text, "");
    /* NULL with no bytes is the empty query. */
    assert_string_equal(parse_len(NULL, 0)->text, "");
}

static void test_search_query__words(void **state)
{
    (void)state;
    assert_string_equal(parse("wireless headphones")->text, "wireless headphones");
    assert_string_equal(parse("  wireless \t\n headphones")->text, "wireless headphones");
    assert_string_equal(parse("Caf\xc3\xa9 CR\xc3\x88ME")->text, "Caf\xc3\xa9 CR\xc3\x88ME");
    assert_string_equal(parse("a-b & c.d")->text, "a-b & c.d");
}

static void test_search_query__trailing_space_prefix(void **state)
{
    (void)state;
    /* The last word is a prefix while the shopper is still typing it... */
    assert_string_equal(parse("sony headph")->text, "sony headph");
    assert_string_equal(parse("brand:sony headph")->text, "headph");
    /* ...and a whole word once anything follows it. */
    assert_string_equal(parse("sony headph ")->text, "sony headph ");
    assert_string_equal(parse("sony headph\t")->text, "sony headph ");
    assert_string_equal(parse("sony headph   ")->text, "sony headph ");
    assert_string_equal(parse("sony headph brand:sony")->text, "sony headph ");
    assert_string_equal(parse("\"sony headph\"")->text, "sony headph ");
    /* No words: no space. */
    assert_string_equal(parse("brand:sony ")->text, "");
    assert_string_equal(parse("\"\" ")->text, "");
}

static void test_search_query__quoting(void **state)
{
    (void)state;
    /* Phrases only group: their words join the text (no phrase matching). */
    assert_string_equal(parse("\"noise cancelling\" headphones")->text,
                        "noise cancelling headphones");
    assert_string_equal(parse("\"  noise   cancelling \"")->text, "noise cancelling ");
    assert_string_equal(parse("\"\" a")->text, "a");
    /* A quote opens a string also in the middle of a word. */
    assert_string_equal(parse("foo\"bar\"baz")->text, "foo bar baz");
    /* A quoted word may hold a colon; a bare one would be a filter. */
    const ecom_search_request *r = parse("\"12:30\" clock");
    assert_string_equal(r->text, "12:30 clock");
    assert_int_equal(r->attr_count, 0);
    /* Quoted values and names keep spaces and any other characters. */
    r = parse("brand:\"bang & olufsen\" \"screen size\":\"13 in\" \"Brand\":\"a:b\"");
    assert_int_equal(r->brand_count, 2);
    assert_string_equal(r->brands[0], "bang & olufsen");
    assert_string_equal(r->brands[1], "a:b");
    assert_int_equal(r->attr_count, 1);
    assert_string_equal(r->attrs[0].name, "screen size");
    assert_string_equal(r->attrs[0].value, "13 in");
    assert_string_equal(r->text, "");
    /* A quote right after a bare value starts a new term. */
    r = parse("brand:sony\"tv\"");
    assert_string_equal(r->brands[0], "sony");
    assert_string_equal(r->text, "tv ");
}

static void test_search_query__brand_category(void **state)
{
    (void)state;
    const ecom_search_request *r =
        parse("headphones BRAND:Sony brand:bose Category:electronics/audio/headphones");
    assert_string_equal(r->text, "headphones ");
    assert_int_equal(r->brand_count, 2);
    assert_string_equal(r->brands[0], "Sony");
    assert_string_equal(r->brands[1], "bose");
    assert_string_equal(r->category, "electronics/audio/headphones");
    expect_error("category:a x category:b", "at 13: category: given twice");
}

static void test_search_query__attributes(void **state)
{
    (void)state;
    const ecom_search_request *r = parse("color:black Color:Red time:12:30 size:L");
    assert_int_equal(r->attr_count, 4);
    assert_string_equal(r->attrs[0].name, "color");
    assert_string_equal(r->attrs[0].value, "black");
    assert_string_equal(r->attrs[1].name, "Color");
    assert_string_equal(r->attrs[1].value, "Red");
    assert_string_equal(r->attrs[2].name, "time");
    assert_string_equal(r->attrs[2].value, "12:30");
    assert_string_equal(r->attrs[3].name, "size");
    assert_string_equal(r->attrs[3].value, "L");
    assert_int_equal(r->brand_count, 0);
    assert_null(r->brands);
}

static void test_search_query__price_usd(void **state)
{
    (void)state;
    const ecom_search_request *r = parse("price:20..150");
    assert_null(r->currency);
    assert_int_equal(r->price_min, 2000);
    assert_int_equal(r->price_max, 15000);
    r = parse("price:19.99..");
    assert_int_equal(r->price_min, 1999);
    assert_int_equal(r->price_max, -1);
    r = parse("price:..150.5");
    assert_int_equal(r->price_min, -1);
    assert_int_equal(r->price_max, 15050);
    r = parse("price:0..0");
    assert_int_equal(r->price_min, 0);
    assert_int_equal(r->price_max, 0);
    r = parse("price:007.50..7.5");
    assert_int_equal(r->price_min, 750);
    assert_int_equal(r->price_max, 750);
    r = parse("PRICE:\"10..20\"");
    assert_int_equal(r->price_min, 1000);
    assert_int_equal(r->price_max, 2000);
    /* ECOM_PRICE_MAX exactly, then one cent more. */
    r = parse("price:..10000000000000");
    assert_int_equal(r->price_max, ECOM_PRICE_MAX);
    expect_error("price:..10000000000000.01",
                 "at 0: price: '..10000000000000.01' is above the largest price");
}

static void test_search_query__price_currencies(void **state)
{
    (void)state;
    /* JPY has no minor unit: amounts are whole yen, wherever currency: stands. */
    const ecom_search_request *r = parse("price:1000..2500 currency:JPY");
    assert_string_equal(r->currency, "JPY");
    assert_int_equal(r->price_min, 1000);
    assert_int_equal(r->price_max, 2500);
    expect_error("price:19.5.. currency:JPY",
                 "at 0: price: '19.5..' has more decimals than JPY allows (0)");
    expect_error("currency:jpy price:1.0..",
                 "at 13: price: '1.0..' has more decimals than JPY allows (0)");
    /* EUR has 2, lower case is fine (stored upper case). */
    r = parse("currency:eur price:19.99..20");
    assert_string_equal(r->currency, "EUR");
    assert_int_equal(r->price_min, 1999);
    assert_int_equal(r->price_max, 2000);
    expect_error("currency:EUR price:1.999..",
                 "at 13: price: '1.999..' has more decimals than EUR allows (2)");
    /* BHD has 3. */
    r = parse("price:1.234..2 currency:BHD");
    assert_int_equal(r->price_min, 1234);
    assert_int_equal(r->price_max, 2000);
    /* USD when none is given. */
    expect_error("price:1.999..", "at 0: price: '1.999..' has more decimals than USD allows (2)");
    /* JPY's ECOM_PRICE_MAX is 10^15 yen. */
    r = parse("currency:JPY price:..1000000000000000");
    assert_int_equal(r->price_max, ECOM_PRICE_MAX);
    expect_error("currency:JPY price:..1000000000000001",
                 "at 13: price: '..1000000000000001' is above the largest price");
}

static void test_search_query__price_errors(void **state)
{
    (void)state;
    expect_error("cheap headphones price:20..x",
                 "at 17: price: '20..x' is not an amount range (LO..HI, LO.. or ..HI)");
    expect_error("price:20", "at 0: price: '20' is not an amount range (LO..HI, LO.. or ..HI)");
    expect_error("price:..", "at 0: price: '..' is not an amount range (LO..HI, LO.. or ..HI)");
    expect_error("price:1...2",
                 "at 0: price: '1...2' is not an amount range (LO..HI, LO.. or ..HI)");
    expect_error("price:1...", "at 0: price: '1...' is not an amount range (LO..HI, LO.. or ..HI)");
    expect_error("price:.5..1",
                 "at 0: price: '.5..1' is not an amount range (LO..HI, LO.. or ..HI)");
    expect_error("price:5...1",
                 "at 0: price: '5...1' is not an amount range (LO..HI, LO.. or ..HI)");
    expect_error("price:1e3..",
                 "at 0: price: '1e3..' is not an amount range (LO..HI, LO.. or ..HI)");
    expect_error("price:+1..", "at 0: price: '+1..' is not an amount range (LO..HI, LO.. or ..HI)");
    expect_error("price:50..20", "at 0: price: '50..20': the low end is above the high end");
    expect_error("price:-5..10", "at 0: price: '-5..10' is negative");
    expect_error("price:..-10", "at 0: price: '..-10' is negative");
    expect_error("price:99999999999999999999999..",
                 "at 0: price: '99999999999999999999999..' is above the largest price");
    expect_error("price:1..2 price:3..4", "at 11: price: given twice");
}

static void test_search_query__currency(void **state)
{
    (void)state;
    expect_error("currency:ABC", "at 0: currency: 'ABC' is not an ISO 4217 currency");
    expect_error("currency:EURO", "at 0: currency: 'EURO' is not an ISO 4217 currency");
    expect_error("currency:USD currency:EUR", "at 13: currency: given twice");
    /* An unknown currency is reported where it stands, after a price before it. */
    expect_error("price:1..2 currency:XYZ", "at 11: currency: 'XYZ' is not an ISO 4217 currency");
}

static void test_search_query__in_stock(void **state)
{
    (void)state;
    assert_int_equal(parse("in:stock")->in_stock, 1);
    assert_int_equal(parse("IN:Stock in:stock")->in_stock, 1);
    expect_error("mug in:store", "at 4: in: 'store' is not 'stock'");
}

static void test_search_query__sort(void **state)
{
    (void)state;
    assert_int_equal(parse("sort:relevance")->sort, ECOM_SORT_RELEVANCE);
    assert_int_equal(parse("sort:price")->sort, ECOM_SORT_PRICE_ASC);
    assert_int_equal(parse("sort:-price")->sort, ECOM_SORT_PRICE_DESC);
    assert_int_equal(parse("sort:price_desc")->sort, ECOM_SORT_PRICE_DESC);
    assert_int_equal(parse("Sort:NEWEST")->sort, ECOM_SORT_NEWEST);
    expect_error("sort:cheapest",
                 "at 0: sort: 'cheapest' is not one of relevance, price, -price, price_desc, "
                 "newest");
    expect_error("sort:price sort:newest", "at 11: sort: given twice");
}

static void test_search_query__facets(void **state)
{
    (void)state;
    const ecom_search_request *r = parse("facet:brand facet:price facet:category facet:color");
    assert_int_equal(r->facet_count, 4);
    assert_string_equal(r->facets[0], "brand");
    assert_string_equal(r->facets[1], "price");
    assert_string_equal(r->facets[2], "category");
    assert_string_equal(r->facets[3], "color");
    assert_int_equal(r->attr_count, 0);
}

static void test_search_query__limit_after(void **state)
{
    (void)state;
    assert_int_equal(parse("limit:1")->limit, 1);
    assert_int_equal(parse("limit:100")->limit, 100);
    assert_int_equal(parse("limit:024")->limit, 24);
    expect_error("limit:0", "at 0: limit: '0' is not a number in 1..100");
    expect_error("limit:101", "at 0: limit: '101' is not a number in 1..100");
    expect_error("limit:-1", "at 0: limit: '-1' is not a number in 1..100");
    expect_error("limit:ten", "at 0: limit: 'ten' is not a number in 1..100");
    expect_error("limit:99999999999999999999999999",
                 "at 0: limit: '99999999999999999999999999' is not a number in 1..100");
    expect_error("limit:10 limit:20", "at 9: limit: given twice");
    const ecom_search_request *r = parse("mug after:p0123abcd");
    assert_string_equal(r->cursor, "p0123abcd");
    assert_string_equal(r->text, "mug ");
    expect_error("after:a after:b", "at 8: after: given twice");
}

static void test_search_query__everything(void **state)
{
    (void)state;
    const ecom_search_request *r =
        parse("wireless headphones brand:sony category:electronics/audio price:20..150 "
              "color:black in:stock sort:price facet:brand facet:price limit:24 currency:EUR "
              "after:c1 \"noise cancelling\"");
    assert_string_equal(r->text, "wireless headphones noise cancelling ");
    assert_int_equal(r->brand_count, 1);
    assert_string_equal(r->brands[0], "sony");
    assert_string_equal(r->category, "electronics/audio");
    assert_int_equal(r->price_min, 2000);
    assert_int_equal(r->price_max, 15000);
    assert_string_equal(r->currency, "EUR");
    assert_int_equal(r->attr_count, 1);
    assert_string_equal(r->attrs[0].name, "color");
    assert_int_equal(r->in_stock, 1);
    assert_int_equal(r->sort, ECOM_SORT_PRICE_ASC);
    assert_int_equal(r->facet_count, 2);
    assert_int_equal(r->limit, 24);
    assert_string_equal(r->cursor, "c1");
}

static void test_search_query__syntax_errors(void **state)
{
    (void)state;
    expect_error("foo \"bar baz", "at 4: unterminated quote");
    expect_error("brand:\"sony", "at 6: unterminated quote");
    expect_error("\"screen size:13", "at 0: unterminated quote");
    expect_error("a :x", "at 2: ':x': empty field name");
    expect_error("\"\":x", "at 0: ':x': empty field name");
    expect_error("brand: sony", "at 0: brand: empty value");
    expect_error("mug brand:", "at 4: brand: empty value");
    expect_error("color:\"\"", "at 0: color: empty value");
    expect_error("\"screen size\":", "at 0: screen size: empty value");
}

static void test_search_query__bad_bytes(void **state)
{
    (void)state;
    expect_error("abc \xff", "at 4: invalid UTF-8");
    expect_error("brand:\"caf\xc3\"", "at 10: invalid UTF-8");
    expect_error("\xc0\xaf", "at 0: invalid UTF-8");           /* overlong */
    expect_error("x \xed\xa0\x80", "at 2: invalid UTF-8");     /* surrogate */
    expect_error("a\x01", "at 1: control character U+0001");
    expect_error("brand:\"a\x1b\"", "at 8: control character U+001B");
    expect_error("a\x7f", "at 1: control character U+007F");
    expect_error("ab \xc2\x85", "at 3: control character U+0085");
    expect_error_len("ab\0cd", 5, "at 2: control character U+0000");
    /* Tab, CR and LF are whitespace, also inside quotes. */
    assert_string_equal(parse("brand:\"a\tb\"\r\n")->brands[0], "a\tb");
}

static void test_search_query__too_long(void **state)
{
    (void)state;
    char *q = malloc(4098);
    assert_non_null(q);
    memset(q, 'a', 4097);
    q[4097] = '\0';
    expect_error_len(q, 4097, "at 4096: query is 4097 bytes, longer than 4096");
    assert_int_equal(strlen(parse_len(q, 4096)->text), 4096);
    /* The longest text: every byte a word or a separator. */
    for (size_t i = 0; i < 4096; i++)
        q[i] = i % 2 ? ' ' : 'a';
    assert_int_equal(strlen(parse_len(q, 4096)->text), 4096);
    for (size_t i = 0; i < 4096; i++)
        q[i] = i % 2 ? '"' : 'a';
    q[4095] = 'a';
    q[4094] = '"';
    /* a"a"a"a ... "a"a: alternating words and phrases, ends in a bare word. */
    assert_int_equal(strlen(parse_len(q, 4096)->text), 4095);
    free(q);
}

static void test_search_query__too_many(void **state)
{
    (void)state;
    char q[1024] = "";
    size_t n = 0;
    for (int i = 0; i < ECOM_SEARCH_FILTERS_MAX; i++)
        n += (size_t)snprintf(q + n, sizeof q - n, i % 2 ? "brand:b%d " : "color:c%d ", i);
    const ecom_search_request *r = parse(q);
    assert_int_equal(r->brand_count + r->attr_count, ECOM_SEARCH_FILTERS_MAX);
    char more[1100];
    snprintf(more, sizeof more, "%sbrand:x", q);
    char message[64];
    snprintf(message, sizeof message, "at %zu: brand: more than 32 filters", n);
    expect_error(more, message);
    snprintf(more, sizeof more, "%scolor:x", q);
    snprintf(message, sizeof message, "at %zu: color: more than 32 filters", n);
    expect_error(more, message);

    n = 0;
    for (int i = 0; i < ECOM_SEARCH_FILTERS_MAX; i++)
        n += (size_t)snprintf(q + n, sizeof q - n, "facet:f%d ", i);
    assert_int_equal(parse(q)->facet_count, ECOM_SEARCH_FILTERS_MAX);
    snprintf(more, sizeof more, "%sfacet:brand", q);
    snprintf(message, sizeof message, "at %zu: facet: more than 32 facets", n);
    expect_error(more, message);
}

static void test_search_query__arguments(void **state)
{
    (void)state;
    char msg[64];
    ecom__parsed_query *q = NULL;
    assert_int_equal(ecom__query_parse(NULL, "x", 1, msg, sizeof msg), ECOM_EINVAL);
    assert_int_equal(ecom__query_parse(&q, NULL, 1, msg, sizeof msg), ECOM_EINVAL);
    assert_null(q);
    /* No room for a message is fine. */
    assert_int_equal(ecom__query_parse(&q, "price:x", 7, NULL, 0), ECOM_EQUERY);
    assert_int_equal(ecom__query_parse(&q, "price:x", 7, msg, 1), ECOM_EQUERY);
    assert_string_equal(msg, "");
    assert_int_equal(ecom__query_parse(&q, "price:20..x", 11, msg, 12), ECOM_EQUERY);
    assert_string_equal(msg, "at 0: price");
    assert_null(ecom__query_request(NULL));
    ecom__query_free(NULL);
}

static void test_search_query__oom(void **state)
{
    (void)state;
    const char *query = "wireless headphones brand:sony brand:\"bang & olufsen\" category:a/b "
                        "price:20..150 currency:EUR color:black \"screen size\":13 in:stock "
                        "sort:-price facet:brand facet:color limit:10 after:xyz";
    int rc = ECOM_ENOMEM;
    long n;
    for (n = 1; rc == ECOM_ENOMEM; n++) {
        test_alloc_countdown = n;
        ecom__parsed_query *q = (ecom__parsed_query *)&q;
        char msg[128] = "";
        rc = ecom__query_parse(&q, query, strlen(query), msg, sizeof msg);
        if (rc == ECOM_OK) {
            const ecom_search_request *r = ecom__query_request(q);
            assert_string_equal(r->text, "wireless headphones ");
            assert_int_equal(r->attr_count, 2);
            assert_string_equal(r->cursor, "xyz");
        } else {
            assert_int_equal(rc, ECOM_ENOMEM);
            assert_null(q);
            assert_string_equal(msg, "query: out of memory");
        }
        ecom__query_free(q);
        assert_int_equal(test_alloc_live, 0);
    }
    test_alloc_countdown = 0;
    assert_true(n > 2); /* at least one allocation failed */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_search_query__empty, teardown),
        cmocka_unit_test_teardown(test_search_query__words, teardown),
        cmocka_unit_test_teardown(test_search_query__trailing_space_prefix, teardown),
        cmocka_unit_test_teardown(test_search_query__quoting, teardown),
        cmocka_unit_test_teardown(test_search_query__brand_category, teardown),
        cmocka_unit_test_teardown(test_search_query__attributes, teardown),
        cmocka_unit_test_teardown(test_search_query__price_usd, teardown),
        cmocka_unit_test_teardown(test_search_query__price_currencies, teardown),
        cmocka_unit_test_teardown(test_search_query__price_errors, teardown),
        cmocka_unit_test_teardown(test_search_query__currency, teardown),
        cmocka_unit_test_teardown(test_search_query__in_stock, teardown),
        cmocka_unit_test_teardown(test_search_query__sort, teardown),
        cmocka_unit_test_teardown(test_search_query__facets, teardown),
        cmocka_unit_test_teardown(test_search_query__limit_after, teardown),
        cmocka_unit_test_teardown(test_search_query__everything, teardown),
        cmocka_unit_test_teardown(test_search_query__syntax_errors, teardown),
        cmocka_unit_test_teardown(test_search_query__bad_bytes, teardown),
        cmocka_unit_test_teardown(test_search_query__too_long, teardown),
        cmocka_unit_test_teardown(test_search_query__too_many, teardown),
        cmocka_unit_test_teardown(test_search_query__arguments, teardown),
        cmocka_unit_test_setup_teardown(test_search_query__oom, test_oom_setup, test_oom_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
