/*
 * The ecom search command. Its options become terms of the search query language
 * (src/search_query.c), so the query argument and the options go through the
 * library's one parser and mean the same thing; the command runs the query on a
 * search index opened over the store and prints the hits, the facets and the next
 * page's cursor, or the result as ecom_search_result_to_json writes it.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define SEARCH_DEFAULT_CURRENCY "USD"

/* ---- building the query ---- */

/* A growing string; after a failed allocation it stays failed. */
typedef struct query_buf {
    char *s;
    size_t len, cap;
    bool oom;
} query_buf;

static void put(query_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *s2 = realloc(b->s, cap);
        if (s2 == NULL) {
            b->oom = true;
            return;
        }
        b->s = s2;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void put_str(query_buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* The language has no escapes: a value holding '"' cannot be quoted. */
static int check_quotable(const char *opt, const char *value)
{
    if (strchr(value, '"') == NULL)
        return CLI_OK;
    char msg[200];
    snprintf(msg, sizeof msg, "%s '%.60s': a value holding '\"' cannot be written in a query",
             opt, value);
    return cli_usage_error(msg);
}

/* Appends the term NAME:"VALUE" (name quoted when quote_name), then a space. */
static void put_term(query_buf *b, const char *name, size_t name_len, bool quote_name,
                     const char *value)
{
    if (quote_name)
        put_str(b, "\"");
    put(b, name, name_len);
    put_str(b, quote_name ? "\":\"" : ":\"");
    put_str(b, value);
    put_str(b, "\" ");
}

static int add_facets(query_buf *b, const cli_list *facets)
{
    for (size_t i = 0; i < facets->n; i++) {
        int rc = check_quotable("--facet", facets->items[i]);
        if (rc != CLI_OK)
            return rc;
        put_term(b, "facet", 5, false, facets->items[i]);
    }
    return CLI_OK;
}

static int add_filters(query_buf *b, const cli_list *filters)
{
    for (size_t i = 0; i < filters->n; i++) {
        const char *f = filters->items[i], *eq = strchr(f, '=');
        if (eq == NULL || eq == f || eq[1] == '\0') {
            char msg[160];
            snprintf(msg, sizeof msg, "--filter needs NAME=VALUE, not '%.60s'", f);
            return cli_usage_error(msg);
        }
        int rc = check_quotable("--filter", f);
        if (rc != CLI_OK)
            return rc;
        put_term(b, f, (size_t)(eq - f), true, eq + 1);
    }
    return CLI_OK;
}

static int add_sort(query_buf *b, const char *sort)
{
    static const char *const sorts[] = {"relevance", "price", "-price", "newest"};
    for (size_t i = 0; i < sizeof sorts / sizeof sorts[0]; i++) {
        if (strcmp(sort, sorts[i]) == 0) {
            put_str(b, "sort:");
            put_str(b, sort);
            put_str(b, " ");
            return CLI_OK;
        }
    }
    return cli_usage_error("--sort must be relevance, price, -price or newest");
}

static int add_limit(query_buf *b, uint64_t limit)
{
    if (limit < 1 || limit > ECOM_SEARCH_LIMIT_MAX) {
        char msg[80];
        snprintf(msg, sizeof msg, "--limit must be between 1 and %d", ECOM_SEARCH_LIMIT_MAX);
        return cli_usage_error(msg);
    }
    char term[32];
    snprintf(term, sizeof term, "limit:%" PRIu64 " ", limit);
    put_str(b, term);
    return CLI_OK;
}

/*
 * The options as terms, then the query argument. The argument goes last so that its
 * last word stays a prefix (type-ahead) exactly when it would be on its own: the
 * language ends the prefix at anything that follows. *option_terms says whether the
 * options added any.
 */
static int build_query(query_buf *b, const cli_args *a, bool *option_terms)
{
    int rc = add_facets(b, &a->facets);
    if (rc == CLI_OK)
        rc = add_filters(b, &a->filters);
    if (rc == CLI_OK && (a->given & OPT_SORT))
        rc = add_sort(b, a->sort);
    if (rc == CLI_OK && (a->given & OPT_LIMIT))
        rc = add_limit(b, a->limit);
    if (rc == CLI_OK && (a->given & OPT_CURSOR)) {
        rc = check_quotable("--cursor", a->cursor);
        if (rc == CLI_OK)
            put_term(b, "after", 5, false, a->cursor);
    }
    if (rc != CLI_OK)
        return rc;
    *option_terms = b->len > 0;
    put_str(b, a->npos ? a->pos[0] : "");
    if (b->oom || b->s == NULL)
        return cli_fail_msg(ECOM_ENOMEM, NULL);
    return CLI_OK;
}

/* ---- the currency prices are shown in ---- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool ascii_ieq(const char *s, size_t n, const char *word)
{
    if (strlen(word) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
        if (c != word[i])
            return false;
    }
    return true;
}

/* A quoted string or a bare run at q[*i], as the language lexes them: *s and *n get
 * its text, *i moves past it. false at an unterminated quote. */
static bool lex_part(const char *q, size_t *i, bool stop_colon, const char **s, size_t *n)
{
    if (q[*i] == '"') {
        const char *close = strchr(q + *i + 1, '"');
        if (close == NULL)
            return false;
        *s = q + *i + 1;
        *n = (size_t)(close - *s);
        *i = (size_t)(close - q) + 1;
        return true;
    }
    size_t start = *i;
    while (q[*i] && !is_space(q[*i]) && q[*i] != '"' && !(stop_colon && q[*i] == ':'))
        (*i)++;
    *s = q + start;
    *n = *i - start;
    return true;
}

/*
 * The query's currency:C (the result carries prices but not their currency), found
 * with the language's own lexing rules; the query has parsed by now, so C is valid.
 * USD without one, as the library defaults.
 */
static void query_currency(char code[4], const char *q)
{
    memcpy(code, SEARCH_DEFAULT_CURRENCY, 4);
    size_t i = 0;
    for (;;) {
        while (is_space(q[i]))
            i++;
        const char *name, *value;
        size_t name_len, value_len;
        if (q[i] == '\0' || !lex_part(q, &i, true, &name, &name_len))
            return;
        if (q[i] != ':')
            continue; /* a word or a phrase */
        i++;
        if (!lex_part(q, &i, false, &value, &value_len))
            return;
        if (ascii_ieq(name, name_len, "currency") && value_len == 3) {
            for (size_t k = 0; k < 3; k++)
                code[k] = value[k] >= 'a' && value[k] <= 'z' ? (char)(value[k] - 'a' + 'A')
                                                             : value[k];
            return;
        }
    }
}

/* ---- printing ---- */

/* An amount in major units without the currency code: "19.99". */
static void format_amount(char *buf, size_t size, int64_t amount, const char *currency)
{
    cli_format_money(buf, size, amount, currency);
    char *space = strchr(buf, ' ');
    if (space)
        *space = '\0';
}

/* A price facet bucket, "lo..hi" or "lo.." in minor units, in major units; false if
 * the value has another form. */
static bool format_bucket(char *buf, size_t size, const char *value, const char *currency)
{
    char *end;
    int64_t lo = strtoll(value, &end, 10);
    if (end == value || value[0] == '-' || strncmp(end, "..", 2) != 0)
        return false;
    const char *hi_text = end + 2;
    char lo_s[48], hi_s[48] = "";
    format_amount(lo_s, sizeof lo_s, lo, currency);
    if (*hi_text) {
        int64_t hi = strtoll(hi_text, &end, 10);
        if (hi_text[0] == '-' || *end)
            return false;
        format_amount(hi_s, sizeof hi_s, hi, currency);
    }
    snprintf(buf, size, "%s..%s", lo_s, hi_s);
    return true;
}

static void print_facet(const ecom_search_result *r, size_t f, const char *currency)
{
    const char *name = ecom_search_result_facet_name(r, f);
    bool price = ascii_ieq(name, strlen(name), "price");
    if (price)
        printf("%s (%s):", name, currency);
    else
        printf("%s:", name);
    size_t size = ecom_search_result_facet_size(r, f);
    for (size_t j = 0; j < size; j++) {
        const char *value = ecom_search_result_facet_value(r, f, j);
        char bucket[112];
        if (price && format_bucket(bucket, sizeof bucket, value, currency))
            value = bucket;
        printf("%s %s %" PRIu64, j ? "," : "", value, ecom_search_result_facet_hits(r, f, j));
    }
    puts(size ? "" : " (none)");
}

static void print_text(const ecom_search_result *r, const char *currency)
{
    size_t total = ecom_search_result_total(r), count = ecom_search_result_count(r);
    printf("%zu %s\n", total, total == 1 ? "product matches" : "products match");
    /* Scores are 0 unless the hits are ranked by relevance: then there is no column. */
    bool scored = false;
    for (size_t i = 0; i < count; i++)
        scored = scored || ecom_search_result_score(r, i) > 0;
    if (count > 0)
        printf("%4s  %-24s %18s%s\n", "RANK", "ID", "PRICE", scored ? "     SCORE" : "");
    for (size_t i = 0; i < count; i++) {
        char price[48] = "-";
        int64_t amount = ecom_search_result_price(r, i);
        if (amount >= 0)
            cli_format_money(price, sizeof price, amount, currency);
        printf("%4zu  %-24s %18s", i + 1, ecom_search_result_id(r, i), price);
        if (scored)
            printf(" %9.3f", ecom_search_result_score(r, i));
        putchar('\n');
    }
    for (size_t f = 0; f < ecom_search_result_facet_count(r); f++)
        print_facet(r, f, currency);
    const char *cursor = ecom_search_result_cursor(r);
    if (cursor)
        printf("next page: --cursor %s\n", cursor);
}

static int print_json(const ecom_search_result *r)
{
    char *json = NULL;
    int rc = ecom_search_result_to_json(&json, r);
    if (rc != ECOM_OK)
        return cli_fail_msg(rc, NULL);
    puts(json);
    ecom_free(json);
    return CLI_OK;
}

/* ---- the command ---- */

int cmd_search(cli *c)
{
    query_buf query = {0};
    ecom_search *search = NULL;
    ecom_search_result *result = NULL;
    ecom_search_options opts = ECOM_SEARCH_OPTIONS_INIT;
    opts.manual = 1;        /* one query: no follower thread */
    opts.cache_ttl_ms = -1; /* nor a cache */
    bool option_terms = false;
    int err, rc = build_query(&query, &c->args, &option_terms);
    if (rc != CLI_OK)
        goto cleanup;
    err = ecom_search_open(&search, c->store, &opts);
    if (err != ECOM_OK) {
        rc = cli_fail(c, err);
        goto cleanup;
    }
    err = ecom_search_query(&result, search, query.s);
    if (err != ECOM_OK) {
        rc = cli_fail_msg(err, ecom_search_errmsg(search));
        /* The message's offset counts in the whole query, options included. */
        if (err == ECOM_EQUERY && option_terms)
            fprintf(stderr, "ecom: the query, with the options as terms: %s\n", query.s);
        goto cleanup;
    }
    if (c->args.json) {
        rc = print_json(result);
    } else {
        char currency[4];
        query_currency(currency, query.s);
        print_text(result, currency);
        rc = CLI_OK;
    }
cleanup:
    ecom_search_result_free(result);
    ecom_search_close(search);
    free(query.s);
    return rc;
}
