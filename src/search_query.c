/*
 * The search query language: one line of text, as a shopper or a storefront types
 * it, parsed into an ecom_search_request.
 *
 *   wireless headphones brand:sony brand:"bang & olufsen" category:electronics/audio
 *   price:20..150 currency:EUR color:black in:stock sort:price facet:brand limit:24
 *
 * Grammar (terms are separated by whitespace: space, tab, CR, LF):
 *   query   = { term }
 *   term    = word | phrase | name ":" value
 *   word    = a run of characters other than whitespace, '"' and ':'
 *   phrase  = '"' any characters but '"' '"'       (no escapes)
 *   name    = word | phrase                        (a quoted name may hold spaces)
 *   value   = a run of characters other than whitespace and '"' (':' allowed,
 *             "time:12:30" is time = "12:30") | phrase
 * A '"' always opens a quoted string, also in the middle of a word: foo"bar" is the
 * word foo then the phrase "bar". To search for a word holding a ':', quote it.
 *
 * Words and phrases form the request's text: their words, in order, joined by single
 * spaces. Phrases only group: "noise cancelling" adds the words noise and cancelling,
 * which must all match like any other words, anywhere; there is no phrase matching.
 * Type-ahead: the text's last word also matches as a prefix unless the text ends with
 * a space, and it ends with one when anything follows the last word in the query
 * (whitespace, a filter, or the closing quote of a phrase). So "sony headph" looks
 * for headph* while "sony headph " and "sony headph brand:sony" look for headph.
 *
 * Fields (names compared without ASCII case; values kept as written, except where
 * said):
 *   brand:X           repeatable, any of them
 *   category:a/b/c    once: that subtree
 *   price:LO..HI      LO.. and ..HI too; amounts in major units ("19.99") with at most
 *                     as many decimals as the currency has, converted to minor units;
 *                     0 <= LO <= HI <= ECOM_PRICE_MAX minor units; once
 *   currency:EUR      an ISO 4217 code (case-insensitive, stored upper case), once;
 *                     applies to price: wherever it stands; default USD
 *   in:stock          only products that can be sold now
 *   sort:S            relevance, price, -price (or price_desc), newest; once
 *   facet:NAME        repeatable: category, brand, price or an attribute name
 *   limit:N           1..100 hits per page; once
 *   after:CURSOR      the next page of an earlier result; once
 *   NAME:VALUE        any other name: an attribute filter, name and value as written
 *                     (a name with spaces may be quoted: "screen size":13)
 * Keyword values (in:, sort:) are compared without ASCII case too.
 *
 * Errors are ECOM_EQUERY with a message naming the token and its byte offset ("at 14:
 * price: '20..x' is not an amount range"): an unterminated quote, an empty field name
 * or value, an unknown sort, a bad price range (not numbers, too many decimals, LO >
 * HI, negative, above ECOM_PRICE_MAX), an unknown currency, a field that is only
 * allowed once given twice, in: other than stock, a limit outside 1..100, more than
 * ECOM_SEARCH_FILTERS_MAX filters (brands and attributes together) or facets, invalid
 * UTF-8, a control character (other than tab, CR, LF), or more than 4096 bytes. The
 * empty query is valid and matches every product.
 *
 * The parsed query owns every string the request points to: one arena, freed at once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "search.h"

#define QUERY_MAX 4096
/* How much of a token a message quotes. */
#define SHOW_MAX 64

struct ecom__parsed_query {
    ecom_search_request req;
    ecom__arena arena;
    const char *brands[ECOM_SEARCH_FILTERS_MAX];
    ecom_search_attr attrs[ECOM_SEARCH_FILTERS_MAX];
    const char *facets[ECOM_SEARCH_FILTERS_MAX];
    char currency[4];
};

/* ---- the lexer ---- */

typedef enum term_kind {
    TERM_END,
    TERM_WORD,
    TERM_PHRASE,
    TERM_FIELD,
    TERM_UNTERMINATED /* a '"' at `at` without its closing one */
} term_kind;

typedef struct term {
    term_kind kind;
    size_t at;          /* offset of the term's first byte */
    const char *name;   /* TERM_FIELD: the field name */
    size_t name_len;
    const char *value;  /* the word, the phrase's inside, or the field's value */
    size_t value_len;
    bool ends_query;    /* a word that runs to the end of the query */
} term;

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A quoted string at q[*pos] == '"': its inside in *s and *n, *pos past the closing quote.
 * false if there is no closing quote. */
static bool lex_quoted(const char *q, size_t len, size_t *pos, const char **s, size_t *n)
{
    const char *close = memchr(q + *pos + 1, '"', len - *pos - 1);
    if (close == NULL)
        return false;
    *s = q + *pos + 1;
    *n = (size_t)(close - *s);
    *pos = (size_t)(close - q) + 1;
    return true;
}

/* A bare run from *pos to whitespace, '"', or (if stop_colon) ':'. */
static void lex_run(const char *q, size_t len, size_t *pos, bool stop_colon, const char **s,
                    size_t *n)
{
    size_t i = *pos;
    while (i < len && !is_space(q[i]) && q[i] != '"' && !(stop_colon && q[i] == ':'))
        i++;
    *s = q + *pos;
    *n = i - *pos;
    *pos = i;
}

static void lex_value(const char *q, size_t len, size_t *pos, term *t)
{
    t->kind = TERM_FIELD;
    if (*pos < len && q[*pos] == '"') {
        size_t quote = *pos;
        if (!lex_quoted(q, len, pos, &t->value, &t->value_len)) {
            t->kind = TERM_UNTERMINATED;
            t->at = quote;
        }
        return;
    }
    lex_run(q, len, pos, false, &t->value, &t->value_len);
}

/* The next term from *pos. After TERM_UNTERMINATED, *pos is at the end. */
static void lex(const char *q, size_t len, size_t *pos, term *t)
{
    memset(t, 0, sizeof *t);
    while (*pos < len && is_space(q[*pos]))
        (*pos)++;
    t->at = *pos;
    if (*pos == len) {
        t->kind = TERM_END;
        return;
    }
    if (q[*pos] == '"') {
        const char *s;
        size_t n;
        if (!lex_quoted(q, len, pos, &s, &n)) {
            t->kind = TERM_UNTERMINATED;
            *pos = len;
            return;
        }
        if (*pos < len && q[*pos] == ':') {
            t->name = s;
            t->name_len = n;
            (*pos)++;
            lex_value(q, len, pos, t);
        } else {
            t->kind = TERM_PHRASE;
            t->value = s;
            t->value_len = n;
        }
    } else {
        const char *s;
        size_t n;
        lex_run(q, len, pos, true, &s, &n);
        if (*pos < len && q[*pos] == ':') {
            t->name = s;
            t->name_len = n;
            (*pos)++;
            lex_value(q, len, pos, t);
        } else {
            t->kind = TERM_WORD;
            t->value = s;
            t->value_len = n;
            t->ends_query = *pos == len;
        }
    }
    if (t->kind == TERM_UNTERMINATED)
        *pos = len;
}

/* ---- the parser ---- */

typedef struct parser {
    const char *q;
    size_t len;
    char *msg;
    size_t msg_size;
    ecom__parsed_query *out;
    char *text;         /* room for len + 1 bytes */
    size_t text_len;
    bool text_open;     /* the last word ended the query: it is a prefix */
    int exponent;       /* of the currency prices are in */
    const char *code;   /* that currency, for messages */
    bool seen_category, seen_price, seen_currency, seen_sort, seen_limit, seen_after;
} parser;

static bool ieq(const char *s, size_t n, const char *word)
{
    size_t i = 0;
    for (; i < n && word[i]; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != word[i])
            return false;
    }
    return i == n && word[i] == '\0';
}

static int fail(parser *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(parser *p, size_t at, const char *fmt, ...)
{
    if (p->msg == NULL || p->msg_size == 0)
        return ECOM_EQUERY;
    int n = snprintf(p->msg, p->msg_size, "at %zu: ", at);
    if (n > 0 && (size_t)n < p->msg_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->msg + n, p->msg_size - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return ECOM_EQUERY;
}

typedef struct shown {
    char s[SHOW_MAX];
} shown;

static shown show(const char *s, size_t n)
{
    shown out;
    ecom__quote(out.s, sizeof out.s, s, n);
    return out;
}

static const char *copy(parser *p, const char *s, size_t n)
{
    return ecom__arena_strndup(&p->out->arena, s, n);
}

/* Appends the words of s (split on whitespace) to the text. */
static void add_words(parser *p, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && is_space(s[i]))
            i++;
        size_t start = i;
        while (i < n && !is_space(s[i]))
            i++;
        if (i == start)
            break;
        if (p->text_len > 0)
            p->text[p->text_len++] = ' ';
        memcpy(p->text + p->text_len, s + start, i - start);
        p->text_len += i - start;
    }
}

/* One amount in major units, "19.99", as minor units in *out. */
static int parse_amount(parser *p, const term *t, const char *s, size_t n, int64_t *out)
{
    shown v = show(t->value, t->value_len);
    if (n > 0 && s[0] == '-')
        return fail(p, t->at, "price: '%s' is negative", v.s);
    size_t i = 0, digits = 0, decimals = 0;
    int64_t amount = 0;
    bool point = false;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '.' && !point && digits > 0) {
            point = true;
            continue;
        }
        if (c < '0' || c > '9')
            return fail(p, t->at, "price: '%s' is not an amount range (LO..HI, LO.. or ..HI)",
                         v.s);
        if (point && ++decimals > (size_t)p->exponent)
            return fail(p, t->at, "price: '%s' has more decimals than %s allows (%d)", v.s,
                        p->code, p->exponent);
        digits++;
        /* amount <= ECOM_PRICE_MAX here, so amount * 10 + 9 cannot overflow. */
        amount = amount * 10 + (c - '0');
        if (amount > ECOM_PRICE_MAX)
            return fail(p, t->at, "price: '%s' is above the largest price", v.s);
    }
    if (digits == 0 || (point && decimals == 0))
        return fail(p, t->at, "price: '%s' is not an amount range (LO..HI, LO.. or ..HI)", v.s);
    for (size_t k = decimals; k < (size_t)p->exponent; k++) {
        amount *= 10;
        if (amount > ECOM_PRICE_MAX)
            return fail(p, t->at, "price: '%s' is above the largest price", v.s);
    }
    *out = amount;
    return ECOM_OK;
}

static int parse_price(parser *p, const term *t)
{
    shown v = show(t->value, t->value_len);
    const char *s = t->value;
    size_t n = t->value_len;
    const char *dots = NULL;
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == '.' && s[i + 1] == '.') {
            dots = s + i;
            break;
        }
    if (dots == NULL || n == 2)
        return fail(p, t->at, "price: '%s' is not an amount range (LO..HI, LO.. or ..HI)", v.s);
    size_t lo_len = (size_t)(dots - s);
    const char *hi = dots + 2;
    size_t hi_len = n - lo_len - 2;
    int64_t lo_amount = -1, hi_amount = -1;
    int rc = ECOM_OK;
    if (lo_len > 0)
        rc = parse_amount(p, t, s, lo_len, &lo_amount);
    if (rc == ECOM_OK && hi_len > 0)
        rc = parse_amount(p, t, hi, hi_len, &hi_amount);
    if (rc != ECOM_OK)
        return rc;
    if (lo_amount >= 0 && hi_amount >= 0 && lo_amount > hi_amount)
        return fail(p, t->at, "price: '%s': the low end is above the high end", v.s);
    p->out->req.price_min = lo_amount;
    p->out->req.price_max = hi_amount;
    return ECOM_OK;
}

static int once(parser *p, const term *t, bool *seen)
{
    if (*seen) {
        shown name = show(t->name, t->name_len);
        return fail(p, t->at, "%s: given twice", name.s);
    }
    *seen = true;
    return ECOM_OK;
}

static int parse_sort(parser *p, const term *t)
{
    static const struct {
        const char *name;
        int sort;
    } sorts[] = {{"relevance", ECOM_SORT_RELEVANCE},
                 {"price", ECOM_SORT_PRICE_ASC},
                 {"-price", ECOM_SORT_PRICE_DESC},
                 {"price_desc", ECOM_SORT_PRICE_DESC},
                 {"newest", ECOM_SORT_NEWEST}};
    for (size_t i = 0; i < sizeof sorts / sizeof sorts[0]; i++)
        if (ieq(t->value, t->value_len, sorts[i].name)) {
            p->out->req.sort = sorts[i].sort;
            return ECOM_OK;
        }
    shown v = show(t->value, t->value_len);
    return fail(p, t->at, "sort: '%s' is not one of relevance, price, -price, price_desc, newest",
                v.s);
}

static int parse_limit(parser *p, const term *t)
{
    size_t n = 0;
    bool ok = true;
    for (size_t i = 0; ok && i < t->value_len; i++) {
        char c = t->value[i];
        ok = c >= '0' && c <= '9';
        if (n <= ECOM_SEARCH_LIMIT_MAX) /* stays past the limit without overflowing */
            n = n * 10 + (size_t)(c - '0');
    }
    if (!ok || n < 1 || n > ECOM_SEARCH_LIMIT_MAX) {
        shown v = show(t->value, t->value_len);
        return fail(p, t->at, "limit: '%s' is not a number in 1..%d", v.s,
                    ECOM_SEARCH_LIMIT_MAX);
    }
    p->out->req.limit = n;
    return ECOM_OK;
}

/* A currency value as an upper-case code in code[4] ("" if not three bytes). */
static void currency_code(char code[4], const term *t)
{
    memset(code, 0, 4);
    if (t->value_len != 3)
        return;
    for (size_t i = 0; i < 3; i++) {
        char c = t->value[i];
        code[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    }
}

static int parse_currency(parser *p, const term *t)
{
    char code[4];
    currency_code(code, t);
    if (!ecom_currency_valid(code)) {
        shown v = show(t->value, t->value_len);
        return fail(p, t->at, "currency: '%s' is not an ISO 4217 currency", v.s);
    }
    memcpy(p->out->currency, code, sizeof code);
    p->out->req.currency = p->out->currency;
    return ECOM_OK;
}

static int add_filter(parser *p, const term *t)
{
    ecom_search_request *r = &p->out->req;
    if (r->brand_count + r->attr_count >= ECOM_SEARCH_FILTERS_MAX) {
        shown name = show(t->name, t->name_len);
        return fail(p, t->at, "%s: more than %d filters", name.s, ECOM_SEARCH_FILTERS_MAX);
    }
    const char *value = copy(p, t->value, t->value_len);
    if (value == NULL)
        return ECOM_ENOMEM;
    if (ieq(t->name, t->name_len, "brand")) {
        p->out->brands[r->brand_count++] = value;
        return ECOM_OK;
    }
    const char *name = copy(p, t->name, t->name_len);
    if (name == NULL)
        return ECOM_ENOMEM;
    p->out->attrs[r->attr_count].name = name;
    p->out->attrs[r->attr_count].value = value;
    r->attr_count++;
    return ECOM_OK;
}

static int add_facet(parser *p, const term *t)
{
    ecom_search_request *r = &p->out->req;
    if (r->facet_count >= ECOM_SEARCH_FILTERS_MAX)
        return fail(p, t->at, "facet: more than %d facets", ECOM_SEARCH_FILTERS_MAX);
    const char *name = copy(p, t->value, t->value_len);
    if (name == NULL)
        return ECOM_ENOMEM;
    p->out->facets[r->facet_count++] = name;
    return ECOM_OK;
}

static int parse_field(parser *p, const term *t)
{
    if (t->name_len == 0) {
        shown v = show(t->value, t->value_len);
        return fail(p, t->at, "':%s': empty field name", v.s);
    }
    if (t->value_len == 0) {
        shown name = show(t->name, t->name_len);
        return fail(p, t->at, "%s: empty value", name.s);
    }
    ecom_search_request *r = &p->out->req;
    int rc;
    if (ieq(t->name, t->name_len, "category")) {
        if ((rc = once(p, t, &p->seen_category)) != ECOM_OK)
            return rc;
        r->category = copy(p, t->value, t->value_len);
        return r->category ? ECOM_OK : ECOM_ENOMEM;
    }
    if (ieq(t->name, t->name_len, "price")) {
        if ((rc = once(p, t, &p->seen_price)) != ECOM_OK)
            return rc;
        return parse_price(p, t);
    }
    if (ieq(t->name, t->name_len, "currency")) {
        if ((rc = once(p, t, &p->seen_currency)) != ECOM_OK)
            return rc;
        return parse_currency(p, t);
    }
    if (ieq(t->name, t->name_len, "in")) {
        if (!ieq(t->value, t->value_len, "stock")) {
            shown v = show(t->value, t->value_len);
            return fail(p, t->at, "in: '%s' is not 'stock'", v.s);
        }
        r->in_stock = 1;
        return ECOM_OK;
    }
    if (ieq(t->name, t->name_len, "sort")) {
        if ((rc = once(p, t, &p->seen_sort)) != ECOM_OK)
            return rc;
        return parse_sort(p, t);
    }
    if (ieq(t->name, t->name_len, "limit")) {
        if ((rc = once(p, t, &p->seen_limit)) != ECOM_OK)
            return rc;
        return parse_limit(p, t);
    }
    if (ieq(t->name, t->name_len, "after")) {
        if ((rc = once(p, t, &p->seen_after)) != ECOM_OK)
            return rc;
        r->cursor = copy(p, t->value, t->value_len);
        return r->cursor ? ECOM_OK : ECOM_ENOMEM;
    }
    if (ieq(t->name, t->name_len, "facet"))
        return add_facet(p, t);
    return add_filter(p, t);
}

/* The first invalid UTF-8 or control character (C0 but tab, CR, LF; DEL; C1). */
static int check_bytes(parser *p)
{
    long bad = ecom__utf8_invalid_at(p->q, p->len);
    if (bad >= 0)
        return fail(p, (size_t)bad, "invalid UTF-8");
    const unsigned char *u = (const unsigned char *)p->q;
    for (size_t i = 0; i < p->len; i++) {
        unsigned cp = u[i];
        if (cp == 0xC2 && i + 1 < p->len && u[i + 1] >= 0x80 && u[i + 1] <= 0x9F)
            cp = u[i + 1];
        else if ((cp >= 0x20 && cp != 0x7F) || is_space((char)cp))
            continue;
        return fail(p, i, "control character U+%04X", cp);
    }
    return ECOM_OK;
}

/* Prices are in the query's currency wherever currency: stands, so it is found
 * first. Only its first occurrence counts (a second one is an error anyway). */
static void find_currency(parser *p)
{
    size_t pos = 0;
    term t;
    p->code = "USD";
    p->exponent = 2;
    for (lex(p->q, p->len, &pos, &t); t.kind != TERM_END; lex(p->q, p->len, &pos, &t)) {
        if (t.kind != TERM_FIELD || !ieq(t.name, t.name_len, "currency"))
            continue;
        char code[4];
        currency_code(code, &t);
        if (ecom_currency_valid(code)) {
            memcpy(p->out->currency, code, sizeof code);
            p->code = p->out->currency;
            p->exponent = ecom__currency_digits(code);
        }
        return;
    }
}

static int parse_terms(parser *p)
{
    size_t pos = 0;
    term t;
    for (lex(p->q, p->len, &pos, &t); t.kind != TERM_END; lex(p->q, p->len, &pos, &t)) {
        int rc = ECOM_OK;
        p->text_open = false;
        switch (t.kind) {
        case TERM_WORD:
            add_words(p, t.value, t.value_len);
            p->text_open = t.ends_query;
            break;
        case TERM_PHRASE:
            add_words(p, t.value, t.value_len);
            break;
        case TERM_FIELD:
            rc = parse_field(p, &t);
            break;
        case TERM_UNTERMINATED:
            rc = fail(p, t.at, "unterminated quote");
            break;
        case TERM_END:
            break;
        }
        if (rc != ECOM_OK)
            return rc;
    }
    if (p->text_len > 0 && !p->text_open)
        p->text[p->text_len++] = ' ';
    p->text[p->text_len] = '\0';
    return ECOM_OK;
}

int ecom__query_parse(ecom__parsed_query **out, const char *query, size_t len, char *errmsg,
                      size_t errmsg_size)
{
    if (errmsg && errmsg_size)
        errmsg[0] = '\0';
    if (out == NULL)
        return ecom__msg(errmsg, errmsg_size, ECOM_EINVAL, "out: NULL");
    *out = NULL;
    if (query == NULL && len > 0)
        return ecom__msg(errmsg, errmsg_size, ECOM_EINVAL, "query: NULL");
    parser p = {.q = query ? query : "", .len = len, .msg = errmsg, .msg_size = errmsg_size};
    if (len > QUERY_MAX)
        return fail(&p, QUERY_MAX, "query is %zu bytes, longer than %d", len, QUERY_MAX);
    int rc = check_bytes(&p);
    if (rc != ECOM_OK)
        return rc;
    ecom__parsed_query *q = ecom__calloc(1, sizeof *q);
    if (q == NULL)
        return ecom__msg(errmsg, errmsg_size, ECOM_ENOMEM, "query: out of memory");
    ecom_search_request init = ECOM_SEARCH_REQUEST_INIT;
    q->req = init;
    p.out = q;
    /* Words and the spaces between them never outgrow the query (each space stands
     * for at least one byte that is in no word), plus the NUL. */
    p.text = ecom__arena_alloc(&q->arena, len + 1);
    if (p.text == NULL) {
        rc = ECOM_ENOMEM;
        goto cleanup;
    }
    find_currency(&p);
    rc = parse_terms(&p);
    if (rc != ECOM_OK)
        goto cleanup;
    q->req.text = p.text;
    q->req.brands = q->req.brand_count ? q->brands : NULL;
    q->req.attrs = q->req.attr_count ? q->attrs : NULL;
    q->req.facets = q->req.facet_count ? q->facets : NULL;
    *out = q;
    return ECOM_OK;

cleanup:
    if (rc == ECOM_ENOMEM)
        ecom__msg(errmsg, errmsg_size, ECOM_ENOMEM, "query: out of memory");
    ecom__query_free(q);
    return rc;
}

const ecom_search_request *ecom__query_request(const ecom__parsed_query *q)
{
    return q ? &q->req : NULL;
}

void ecom__query_free(ecom__parsed_query *q)
{
    if (q == NULL)
        return;
    ecom__arena_free(&q->arena);
    ecom__free(q);
}
