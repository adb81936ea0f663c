/*
 * Fuzz target for the search query language (ecom__query_parse). A query either
 * fails with ECOM_EQUERY and a located message, or gives a request within every
 * limit: valid UTF-8 strings, price_min <= price_max, counts and limit in range, a
 * known sort and currency. The request, written back as a query (quoting every
 * value), must parse to the same request; anything else aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define QUERY_MAX 4096

static void check_string(const char *s, bool may_be_empty)
{
    if (s == NULL)
        abort();
    size_t len = strlen(s);
    if ((!may_be_empty && len == 0) || len > QUERY_MAX || ecom__utf8_invalid_at(s, len) >= 0)
        abort();
    /* No quote survives parsing: quotes only delimit. */
    if (strchr(s, '"'))
        abort();
}

static void check_request(const ecom_search_request *r, size_t size)
{
    if (r == NULL || r->version != ECOM_SEARCH_REQUEST_VERSION)
        abort();
    check_string(r->text, true);
    size_t tlen = strlen(r->text);
    if (tlen > size || (tlen > 0 && r->text[0] == ' ') || strstr(r->text, "  "))
        abort();
    if (r->category)
        check_string(r->category, false);
    if (r->cursor)
        check_string(r->cursor, false);
    if (r->brand_count + r->attr_count > ECOM_SEARCH_FILTERS_MAX ||
        r->facet_count > ECOM_SEARCH_FILTERS_MAX)
        abort();
    if ((r->brands == NULL) != (r->brand_count == 0) ||
        (r->attrs == NULL) != (r->attr_count == 0) ||
        (r->facets == NULL) != (r->facet_count == 0))
        abort();
    for (size_t i = 0; i < r->brand_count; i++)
        check_string(r->brands[i], false);
    for (size_t i = 0; i < r->attr_count; i++) {
        check_string(r->attrs[i].name, false);
        check_string(r->attrs[i].value, false);
    }
    for (size_t i = 0; i < r->facet_count; i++)
        check_string(r->facets[i], false);
    if (r->currency && !ecom_currency_valid(r->currency))
        abort();
    if (r->price_min < -1 || r->price_min > ECOM_PRICE_MAX || r->price_max < -1 ||
        r->price_max > ECOM_PRICE_MAX)
        abort();
    if (r->price_min >= 0 && r->price_max >= 0 && r->price_min > r->price_max)
        abort();
    if (r->in_stock != 0 && r->in_stock != 1)
        abort();
    if (r->sort < ECOM_SORT_RELEVANCE || r->sort > ECOM_SORT_NEWEST)
        abort();
    if (r->limit > ECOM_SEARCH_LIMIT_MAX)
        abort();
}

static void put(ecom__buf *b, const char *s)
{
    if (ecom__buf_put(b, s, strlen(s)) != ECOM_OK)
        abort();
}

static void put_field(ecom__buf *b, const char *name, const char *value)
{
    put(b, " \"");
    put(b, name);
    put(b, "\":\"");
    put(b, value);
    put(b, "\"");
}

static bool same_string(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void same_request(const ecom_search_request *r, const ecom_search_request *s)
{
    if (strcmp(r->text, s->text) != 0 || !same_string(r->category, s->category) ||
        !same_string(r->cursor, s->cursor) || !same_string(r->currency, s->currency) ||
        r->brand_count != s->brand_count || r->attr_count != s->attr_count ||
        r->facet_count != s->facet_count || r->in_stock != s->in_stock || r->sort != s->sort ||
        r->limit != s->limit)
        abort();
    for (size_t i = 0; i < r->brand_count; i++)
        if (strcmp(r->brands[i], s->brands[i]) != 0)
            abort();
    for (size_t i = 0; i < r->attr_count; i++)
        if (strcmp(r->attrs[i].name, s->attrs[i].name) != 0 ||
            strcmp(r->attrs[i].value, s->attrs[i].value) != 0)
            abort();
    for (size_t i = 0; i < r->facet_count; i++)
        if (strcmp(r->facets[i], s->facets[i]) != 0)
            abort();
}

/* The request as a query (prices left out: their amounts depend on the currency's
 * exponent), parsed again: the same request, prices aside. */
static void round_trip(const ecom_search_request *r)
{
    static const char *const sorts[] = {"relevance", "price", "-price", "newest"};
    ecom__buf b = {0};
    /* Words as phrases, except an open last word (a prefix): it goes last, bare. */
    size_t tlen = strlen(r->text);
    const char *open = NULL;
    const char *w = r->text;
    while (*w) {
        const char *end = strchr(w, ' ');
        size_t n = end ? (size_t)(end - w) : strlen(w);
        if (end == NULL) {
            open = w;
            break;
        }
        put(&b, " \"");
        if (ecom__buf_put(&b, w, n) != ECOM_OK)
            abort();
        put(&b, "\"");
        w = end + 1;
    }
    if (open && tlen > 0 && r->text[tlen - 1] == ' ')
        abort();
    for (size_t i = 0; i < r->brand_count; i++)
        put_field(&b, "brand", r->brands[i]);
    for (size_t i = 0; i < r->attr_count; i++)
        put_field(&b, r->attrs[i].name, r->attrs[i].value);
    for (size_t i = 0; i < r->facet_count; i++)
        put_field(&b, "facet", r->facets[i]);
    if (r->category)
        put_field(&b, "category", r->category);
    if (r->cursor)
        put_field(&b, "after", r->cursor);
    if (r->currency)
        put_field(&b, "currency", r->currency);
    if (r->in_stock)
        put(&b, " in:stock");
    put_field(&b, "sort", sorts[r->sort]);
    if (r->limit) {
        char limit[32];
        snprintf(limit, sizeof limit, " limit:%zu", r->limit);
        put(&b, limit);
    }
    if (open) {
        put(&b, " ");
        put(&b, open);
    }
    if (b.len <= QUERY_MAX) {
        ecom__parsed_query *q = NULL;
        char msg[256] = "";
        if (ecom__query_parse(&q, b.data, b.len, msg, sizeof msg) != ECOM_OK)
            abort();
        same_request(r, ecom__query_request(q));
        ecom__query_free(q);
    }
    ecom__buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ecom__parsed_query *q = NULL;
    char msg[256] = "";
    int rc = ecom__query_parse(&q, (const char *)data, size, msg, sizeof msg);
    if (rc != ECOM_OK) {
        if (rc != ECOM_EQUERY || q != NULL || strncmp(msg, "at ", 3) != 0)
            abort();
        return 0;
    }
    const ecom_search_request *r = ecom__query_request(q);
    check_request(r, size);
    round_trip(r);
    ecom__query_free(q);
    return 0;
}
