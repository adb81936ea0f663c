/*
 * Products as JSON: parsing one product (strict, every field checked and named
 * in the message) and serializing it compactly with keys in a fixed order.
 *
 * Parsing runs three passes over the input:
 *   1. our own lexer/validator checks the whole text against the JSON grammar
 *      (stricter than cJSON: no leading zeros, no raw control characters in
 *      strings, only JSON whitespace, nesting at most JSON_DEPTH_MAX, lone
 *      surrogate escapes rejected with ECOM_EUTF8). So cJSON only ever sees valid
 *      JSON, and if it then fails, the only cause left is memory: ECOM_ENOMEM.
 *   2. cJSON builds the tree.
 *   3. the walker turns the tree into a product. cJSON keeps numbers as doubles
 *      and loses the text, and turns "\u0000" into an early end of string, so
 *      the walker re-lexes the input alongside the tree: cJSON's children come in
 *      document order, so the k-th string or number token is the k-th string or
 *      number node. Each price's exact value comes from its token text, with no
 *      double in between: "1999", "1.999e3" and "19990e-1" are 1999, "19.99",
 *      "1999.000000000000001" and "1e-400" are not integers, and "1e19" is out of
 *      range. Strings whose token holds \u0000 are rejected.
 * Then ecom_product_validate() checks every limit.
 */
#include <cJSON.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* A product nests 4 deep (root, variants, variant, options); anything much
 * deeper is hostile, and this keeps cJSON's recursion shallow. */
#define JSON_DEPTH_MAX 32
/* cJSON copies a number into a 64-byte buffer and fails on longer ones. */
#define JSON_NUMBER_MAX 63
#define PATH_LEN 160
#define QUOTE_LEN 48

/* Field paths are built for every member, error or not, so without printf:
 * out = a + sep + b, cut short (it is only for messages) to fit size. */
static void path_join(char *out, size_t size, const char *a, const char *sep, const char *b)
{
    size_t o = 0;
    const char *parts[3] = {a, sep, b};
    for (size_t k = 0; k < 3; k++)
        for (const char *c = parts[k]; *c && o + 1 < size; c++)
            out[o++] = *c;
    out[o] = '\0';
}

/* out = a + "[" + i + "]" */
static void path_index(char *out, size_t size, const char *a, size_t i)
{
    char tmp[24];
    size_t n = sizeof tmp;
    tmp[--n] = '\0';
    tmp[--n] = ']';
    do {
        tmp[--n] = (char)('0' + i % 10);
        i /= 10;
    } while (i);
    tmp[--n] = '[';
    path_join(out, size, a, "", tmp + n);
}

typedef struct jctx {
    const unsigned char *src;
    size_t len;
    size_t pos; /* the walker's lexer position */
    char *msg;
    size_t msg_size;
    ecom_product *p;
} jctx;

typedef enum tok_kind { TOK_NONE, TOK_STRING, TOK_NUMBER, TOK_LITERAL } tok_kind;

typedef struct token {
    tok_kind kind;
    size_t start, end;
    bool has_nul; /* a string with a \u0000 escape */
} token;

/* ---- lexing ---- */

static bool json_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int syntax(jctx *j, size_t at, const char *what)
{
    return ecom__msg(j->msg, j->msg_size, ECOM_EJSON, "JSON: %s at byte %zu", what, at);
}

static size_t skip_ws(const jctx *j, size_t i)
{
    while (i < j->len && json_ws(j->src[i]))
        i++;
    return i;
}

static bool hex4(const unsigned char *s, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char c = s[k];
        unsigned d;
        if (digit(c))
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        v = v << 4 | d;
    }
    *out = v;
    return true;
}

/* A \u escape at s[i] (i + 6 <= len checked by the caller): how many bytes it and a
 * low surrogate after it take, or 0 for a lone surrogate. */
static size_t unicode_escape(const jctx *j, size_t i, unsigned cp)
{
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return 0;
    if (cp < 0xD800 || cp > 0xDBFF)
        return 6;
    unsigned lo;
    const unsigned char *s = j->src;
    if (i + 12 > j->len || s[i + 6] != '\\' || s[i + 7] != 'u' || !hex4(s + i + 8, &lo) ||
        lo < 0xDC00 || lo > 0xDFFF)
        return 0;
    return 12;
}

/* Scans the string token starting at the quote at *pos. */
static int scan_string(jctx *j, size_t *pos, bool *has_nul)
{
    const unsigned char *s = j->src;
    size_t i = *pos + 1;
    *has_nul = false;
    for (;;) {
        if (i >= j->len)
            return syntax(j, *pos, "unterminated string");
        unsigned char c = s[i];
        if (c == '"')
            break;
        if (c < 0x20)
            return syntax(j, i, "raw control character in a string");
        if (c != '\\') {
            i++;
            continue;
        }
        if (i + 1 >= j->len)
            return syntax(j, i, "unterminated string");
        c = s[i + 1];
        if (c != 'u') {
            if (c == 0 || strchr("\"\\/bfnrt", c) == NULL)
                return syntax(j, i, "bad escape in a string");
            i += 2;
            continue;
        }
        unsigned cp;
        if (i + 6 > j->len || !hex4(s + i + 2, &cp))
            return syntax(j, i, "bad \\u escape in a string");
        size_t n = unicode_escape(j, i, cp);
        if (n == 0)
            return ecom__msg(j->msg, j->msg_size, ECOM_EUTF8,
                             "JSON: lone surrogate \\u%04X at byte %zu", cp, i);
        if (cp == 0)
            *has_nul = true;
        i += n;
    }
    *pos = i + 1;
    return ECOM_OK;
}

/* Scans a number token at *pos by the JSON grammar:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int scan_number(jctx *j, size_t *pos)
{
    const unsigned char *s = j->src;
    size_t n = j->len, i = *pos;
    if (s[i] == '-')
        i++;
    if (i >= n || !digit(s[i]))
        return syntax(j, *pos, "malformed number");
    if (s[i] == '0')
        i++;
    else
        while (i < n && digit(s[i]))
            i++;
    if (i < n && s[i] == '.') {
        if (++i >= n || !digit(s[i]))
            return syntax(j, *pos, "malformed number");
        while (i < n && digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        if (++i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !digit(s[i]))
            return syntax(j, *pos, "malformed number");
        while (i < n && digit(s[i]))
            i++;
    }
    /* What cJSON would read on as part of the number ("01", "1.2.3"). */
    if (i < n && s[i] != 0 && strchr("0123456789+-.eE", s[i]))
        return syntax(j, *pos, "malformed number");
    if (i - *pos > JSON_NUMBER_MAX)
        return syntax(j, *pos, "number longer than 63 characters");
    *pos = i;
    return ECOM_OK;
}

static int scan_literal(jctx *j, size_t *pos)
{
    static const char *const words[] = {"true", "false", "null"};
    for (size_t k = 0; k < 3; k++) {
        size_t wl = strlen(words[k]);
        if (j->len - *pos >= wl && memcmp(j->src + *pos, words[k], wl) == 0) {
            *pos += wl;
            return ECOM_OK;
        }
    }
    return syntax(j, *pos, "unexpected character");
}

static int scan_scalar(jctx *j, size_t *pos, token *t)
{
    unsigned char c = j->src[*pos];
    t->start = *pos;
    t->has_nul = false;
    int rc;
    if (c == '"') {
        t->kind = TOK_STRING;
        rc = scan_string(j, pos, &t->has_nul);
    } else if (c == '-' || digit(c)) {
        t->kind = TOK_NUMBER;
        rc = scan_number(j, pos);
    } else {
        t->kind = TOK_LITERAL;
        rc = scan_literal(j, pos);
    }
    t->end = *pos;
    return rc;
}

/* ---- pass 1: the grammar ---- */

/* An object key and its colon, from *i. */
static int scan_key(jctx *j, size_t *i)
{
    *i = skip_ws(j, *i);
    if (*i >= j->len || j->src[*i] != '"')
        return syntax(j, *i, "expected a string key");
    bool nul;
    int rc = scan_string(j, i, &nul);
    if (rc)
        return rc;
    *i = skip_ws(j, *i);
    if (*i >= j->len || j->src[*i] != ':')
        return syntax(j, *i, "expected ':'");
    (*i)++;
    return ECOM_OK;
}

/* Opens a container at *i; on an immediate close, *closed is set. */
static int open_container(jctx *j, size_t *i, char *stack, size_t *depth, bool *closed)
{
    unsigned char c = j->src[*i];
    if (*depth == JSON_DEPTH_MAX)
        return syntax(j, *i, "nesting deeper than 32 levels");
    stack[(*depth)++] = (char)c;
    *i = skip_ws(j, *i + 1);
    *closed = *i < j->len && j->src[*i] == (c == '{' ? '}' : ']');
    if (*closed) {
        (*depth)--;
        (*i)++;
        return ECOM_OK;
    }
    return c == '{' ? scan_key(j, i) : ECOM_OK;
}

/* After a value: a comma (and the next key), a matching close, or the end. */
static int after_value(jctx *j, size_t *i, char *stack, size_t *depth, bool *want_value)
{
    unsigned char c = j->src[*i];
    char top = stack[*depth - 1];
    if (c == ',') {
        (*i)++;
        *want_value = true;
        return top == '{' ? scan_key(j, i) : ECOM_OK;
    }
    if ((c == '}' && top == '{') || (c == ']' && top == '[')) {
        (*depth)--;
        (*i)++;
        *want_value = false;
        return ECOM_OK;
    }
    return syntax(j, *i, top == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
}

/* Iterative, so hostile nesting costs no stack. */
static int json_check(jctx *j)
{
    char stack[JSON_DEPTH_MAX];
    size_t depth = 0, i = 0;
    bool want_value = true;
    for (;;) {
        i = skip_ws(j, i);
        if (!want_value && depth == 0)
            return i == j->len ? ECOM_OK : syntax(j, i, "trailing characters");
        if (i >= j->len)
            return syntax(j, i, "unexpected end of input");
        int rc;
        if (!want_value) {
            rc = after_value(j, &i, stack, &depth, &want_value);
        } else if (j->src[i] == '{' || j->src[i] == '[') {
            bool closed;
            rc = open_container(j, &i, stack, &depth, &closed);
            want_value = !closed;
        } else {
            token t;
            rc = scan_scalar(j, &i, &t);
            want_value = false;
        }
        if (rc)
            return rc;
    }
}

/* ---- pass 3: the walker's lexer, in step with cJSON's tree ---- */

static bool punct(unsigned char c)
{
    return c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':';
}

/* The next string, number or literal token. The input passed json_check, so this
 * fails only if the walker and the tree fell out of step. */
static int next_token(jctx *j, tok_kind want, token *t)
{
    while (j->pos < j->len && (json_ws(j->src[j->pos]) || punct(j->src[j->pos])))
        j->pos++;
    if (j->pos >= j->len || scan_scalar(j, &j->pos, t) != ECOM_OK || t->kind != want)
        return syntax(j, j->pos, "internal: lexer out of step with the parser");
    return ECOM_OK;
}

/* The exact value of a number token. */
typedef enum num_result { NUM_OK, NUM_FRACTION, NUM_RANGE } num_result;

typedef struct digits {
    const unsigned char *ip, *fp; /* integer and fraction digits */
    size_t il, fl;
} digits;

static unsigned digit_at(const digits *d, size_t k)
{
    return (unsigned)((k < d->il ? d->ip[k] : d->fp[k - d->il]) - '0');
}

static num_result number_value(const unsigned char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = s[0] == '-';
    if (neg)
        i++;
    digits d = {s + i, NULL, 0, 0};
    while (i < n && digit(s[i]))
        i++, d.il++;
    d.fp = s + i;
    if (i < n && s[i] == '.') {
        d.fp = s + ++i;
        while (i < n && digit(s[i]))
            i++, d.fl++;
    }
    long e = 0;
    if (i < n) { /* 'e' or 'E' */
        bool eneg = s[++i] == '-';
        if (s[i] == '-' || s[i] == '+')
            i++;
        /* Clamped: a token is at most 63 characters, so beyond this the value is
         * 0, a fraction or out of range whatever the exact exponent. */
        for (; i < n; i++)
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
        if (eneg)
            e = -e;
    }
    size_t total = d.il + d.fl, first = 0, last = total;
    while (first < total && digit_at(&d, first) == 0)
        first++;
    if (first == total) {
        *out = 0;
        return NUM_OK;
    }
    while (digit_at(&d, last - 1) == 0)
        last--;
    /* value = digits[first, last) * 10^scale */
    long scale = e - (long)d.fl + (long)(total - last);
    if (scale < 0)
        return NUM_FRACTION;
    if ((long)(last - first) + scale > 19)
        return NUM_RANGE;
    uint64_t v = 0;
    for (size_t k = first; k < last; k++)
        v = v * 10 + digit_at(&d, k);
    for (long k = 0; k < scale; k++) {
        if (v > UINT64_MAX / 10)
            return NUM_RANGE;
        v *= 10;
    }
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (v > limit)
        return NUM_RANGE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return NUM_OK;
}

/* ---- pass 3: the walker ---- */

static int field_error(jctx *j, int code, const char *path, const char *what)
{
    return ecom__msg(j->msg, j->msg_size, code, "%s: %s", path, what);
}

/* Checks a string's token and bytes; the string is node's value, or its key. */
static int take_string(jctx *j, const char *s, const char *path)
{
    token t;
    int rc = next_token(j, TOK_STRING, &t);
    if (rc)
        return rc;
    if (t.has_nul)
        return field_error(j, ECOM_EUTF8, path, "holds \\u0000 (NUL)");
    long bad = ecom__utf8_invalid_at(s, strlen(s));
    if (bad >= 0)
        return ecom__msg(j->msg, j->msg_size, ECOM_EUTF8, "%s: not valid UTF-8 at byte %ld",
                         path, bad);
    return ECOM_OK;
}

/* A member's key, and the path prefix.key for what follows. */
static int take_key(jctx *j, const cJSON *member, const char *prefix, char *path, size_t size)
{
    char shown[QUOTE_LEN];
    ecom__quote(shown, sizeof shown, member->string, strlen(member->string));
    path_join(path, size, prefix, prefix[0] ? "." : "", shown);
    return take_string(j, member->string, path);
}

static int take_number(jctx *j, token *t)
{
    return next_token(j, TOK_NUMBER, t);
}

/* An integer value (price, weight): exact, from the token text. */
static int take_integer(jctx *j, const cJSON *node, const char *path, int code,
                        const char *unit, int64_t *out)
{
    if (!cJSON_IsNumber(node))
        return ecom__msg(j->msg, j->msg_size, code, "%s: expected an integer number of %s",
                         path, unit);
    token t;
    int rc = take_number(j, &t);
    if (rc)
        return rc;
    const unsigned char *text = j->src + t.start;
    int len = (int)(t.end - t.start);
    switch (number_value(text, t.end - t.start, out)) {
    case NUM_OK:
        return ECOM_OK;
    case NUM_FRACTION:
        return ecom__msg(j->msg, j->msg_size, code, "%s: %.*s is not a whole number of %s",
                         path, len, (const char *)text, unit);
    case NUM_RANGE:
        break;
    }
    return ecom__msg(j->msg, j->msg_size, code, "%s: %.*s is out of range", path, len,
                     (const char *)text);
}

/* The members of an object, checked for count and for duplicate keys. */
static int check_members(jctx *j, const cJSON *obj, const char *path, int limit)
{
    int n = cJSON_GetArraySize(obj);
    if (n > limit)
        return ecom__msg(j->msg, j->msg_size, ECOM_ELIMIT, "%s: %d, more than %d", path, n,
                         limit);
    for (const cJSON *a = obj->child; a; a = a->next) {
        for (const cJSON *b = obj->child; b != a; b = b->next) {
            if (strcmp(a->string, b->string) == 0) {
                char shown[QUOTE_LEN];
                ecom__quote(shown, sizeof shown, a->string, strlen(a->string));
                return ecom__msg(j->msg, j->msg_size, ECOM_EFIELD, "%s.%s: given twice", path,
                                 shown);
            }
        }
    }
    return ECOM_OK;
}

static int nomem(jctx *j)
{
    return ecom__msg(j->msg, j->msg_size, ECOM_ENOMEM, "out of memory");
}

static int walk_attribute(jctx *j, const cJSON *member)
{
    char path[PATH_LEN];
    int rc = take_key(j, member, "attributes", path, sizeof path);
    if (rc)
        return rc;
    if (!cJSON_IsArray(member))
        return field_error(j, ECOM_EFIELD, path, "expected an array of strings");
    int n = cJSON_GetArraySize(member);
    if (n == 0)
        return ecom__msg(j->msg, j->msg_size, ECOM_ELIMIT, "%s: no values (1..%d required)",
                         path, ECOM__VALUES_MAX);
    if (n > ECOM__VALUES_MAX)
        return ecom__msg(j->msg, j->msg_size, ECOM_ELIMIT, "%s: %d values, more than %d", path,
                         n, ECOM__VALUES_MAX);
    size_t k = 0;
    for (const cJSON *v = member->child; v; v = v->next, k++) {
        char vpath[PATH_LEN + 16];
        path_index(vpath, sizeof vpath, path, k);
        if (!cJSON_IsString(v))
            return field_error(j, ECOM_EFIELD, vpath, "expected a string");
        rc = take_string(j, v->valuestring, vpath);
        if (rc)
            return rc;
        if (ecom_product_add_attribute(j->p, member->string, v->valuestring) != ECOM_OK)
            return nomem(j);
    }
    return ECOM_OK;
}

static int walk_attributes(jctx *j, const cJSON *node)
{
    if (!cJSON_IsObject(node))
        return field_error(j, ECOM_EFIELD, "attributes", "expected an object");
    int rc = check_members(j, node, "attributes", ECOM__ATTRIBUTES_MAX);
    for (const cJSON *m = node->child; rc == ECOM_OK && m; m = m->next)
        rc = walk_attribute(j, m);
    return rc;
}

static int walk_options(jctx *j, const cJSON *node, size_t v, const char *vpath)
{
    char prefix[PATH_LEN];
    path_join(prefix, sizeof prefix, vpath, ".options", "");
    if (!cJSON_IsObject(node))
        return field_error(j, ECOM_EFIELD, prefix, "expected an object");
    int rc = check_members(j, node, prefix, ECOM__OPTIONS_MAX);
    for (const cJSON *m = node->child; rc == ECOM_OK && m; m = m->next) {
        char path[PATH_LEN + QUOTE_LEN];
        rc = take_key(j, m, prefix, path, sizeof path);
        if (rc)
            return rc;
        if (!cJSON_IsString(m))
            return field_error(j, ECOM_EFIELD, path, "expected a string");
        rc = take_string(j, m->valuestring, path);
        if (rc)
            return rc;
        if (ecom_product_variant_set_option(j->p, v, m->string, m->valuestring) != ECOM_OK)
            return nomem(j);
    }
    return rc;
}

static int walk_prices(jctx *j, const cJSON *node, size_t v, const char *vpath)
{
    char prefix[PATH_LEN];
    path_join(prefix, sizeof prefix, vpath, ".prices", "");
    if (!cJSON_IsObject(node))
        return field_error(j, ECOM_EFIELD, prefix, "expected an object");
    int rc = check_members(j, node, prefix, ECOM__PRICES_MAX);
    for (const cJSON *m = node->child; rc == ECOM_OK && m; m = m->next) {
        char path[PATH_LEN + QUOTE_LEN];
        rc = take_key(j, m, prefix, path, sizeof path);
        if (rc)
            return rc;
        if (!ecom_currency_valid(m->string))
            return field_error(j, ECOM_ECURRENCY, path, "not an ISO 4217 currency code");
        int64_t amount;
        rc = take_integer(j, m, path, ECOM_EPRICE, "minor units", &amount);
        if (rc)
            return rc;
        if (ecom_product_variant_set_price(j->p, v, m->string, amount) != ECOM_OK)
            return nomem(j);
    }
    return rc;
}

enum variant_field { VF_SKU = 1, VF_OPTIONS = 2, VF_PRICES = 4, VF_WEIGHT = 8 };

static int walk_variant_member(jctx *j, const cJSON *m, size_t v, const char *vpath,
                               unsigned *seen)
{
    char path[PATH_LEN + QUOTE_LEN];
    int rc = take_key(j, m, vpath, path, sizeof path);
    if (rc)
        return rc;
    unsigned bit = strcmp(m->string, "sku") == 0       ? VF_SKU
                   : strcmp(m->string, "options") == 0 ? VF_OPTIONS
                   : strcmp(m->string, "prices") == 0  ? VF_PRICES
                   : strcmp(m->string, "weight_g") == 0 ? VF_WEIGHT
                                                        : 0;
    if (bit == 0)
        return field_error(j, ECOM_EFIELD, path, "unknown field");
    if (*seen & bit)
        return field_error(j, ECOM_EFIELD, path, "given twice");
    *seen |= bit;
    ecom__variant *var = &j->p->variants[v];
    switch (bit) {
    case VF_SKU:
        if (!cJSON_IsString(m))
            return field_error(j, ECOM_EFIELD, path, "expected a string");
        rc = take_string(j, m->valuestring, path);
        if (rc == ECOM_OK) {
            const char *sku = ecom__arena_strndup(&j->p->arena, m->valuestring,
                                                  strlen(m->valuestring));
            if (sku == NULL)
                return nomem(j);
            var->sku = sku;
        }
        return rc;
    case VF_OPTIONS:
        return walk_options(j, m, v, vpath);
    case VF_PRICES:
        return walk_prices(j, m, v, vpath);
    default:
        return take_integer(j, m, path, ECOM_EFIELD, "grams", &var->weight_g);
    }
}

static int walk_variants(jctx *j, const cJSON *node)
{
    if (!cJSON_IsArray(node))
        return field_error(j, ECOM_EFIELD, "variants", "expected an array");
    int n = cJSON_GetArraySize(node);
    if (n > ECOM__VARIANTS_MAX)
        return ecom__msg(j->msg, j->msg_size, ECOM_ELIMIT, "variants: %d, more than %d", n,
                         ECOM__VARIANTS_MAX);
    size_t v = 0;
    for (const cJSON *e = node->child; e; e = e->next, v++) {
        char vpath[32];
        path_index(vpath, sizeof vpath, "variants", v);
        if (!cJSON_IsObject(e))
            return field_error(j, ECOM_EFIELD, vpath, "expected an object");
        if (ecom_product_add_variant(j->p, "", 0, NULL) != ECOM_OK)
            return nomem(j);
        unsigned seen = 0;
        for (const cJSON *m = e->child; m; m = m->next) {
            int rc = walk_variant_member(j, m, v, vpath, &seen);
            if (rc)
                return rc;
        }
        if (!(seen & VF_SKU)) {
            char path[48];
            path_join(path, sizeof path, vpath, ".sku", "");
            return field_error(j, ECOM_EFIELD, path, "missing");
        }
    }
    return ECOM_OK;
}

/* The product's top-level fields, in the order to_json writes them. */
static const char *const root_fields[] = {"id",         "title",    "description", "brand",
                                          "category",   "status",   "attributes",  "variants",
                                          "version",    "created_at", "updated_at"};
enum { RF_ID, RF_TITLE, RF_DESCRIPTION, RF_BRAND, RF_CATEGORY, RF_STATUS, RF_ATTRIBUTES,
       RF_VARIANTS, RF_VERSION, RF_CREATED, RF_UPDATED, RF_COUNT };

static int root_field(const char *key)
{
    for (int f = 0; f < RF_COUNT; f++)
        if (strcmp(key, root_fields[f]) == 0)
            return f;
    return -1;
}

static int walk_text(jctx *j, const cJSON *m, const char *path, const char **field)
{
    if (!cJSON_IsString(m))
        return field_error(j, ECOM_EFIELD, path, "expected a string");
    int rc = take_string(j, m->valuestring, path);
    if (rc)
        return rc;
    size_t n = strlen(m->valuestring);
    if (n == 0) {
        *field = "";
        return ECOM_OK;
    }
    const char *copy = ecom__arena_strndup(&j->p->arena, m->valuestring, n);
    if (copy == NULL)
        return nomem(j);
    *field = copy;
    return ECOM_OK;
}

static int walk_status(jctx *j, const cJSON *m, const char *path)
{
    if (!cJSON_IsString(m))
        return field_error(j, ECOM_EFIELD, path, "expected a string");
    int rc = take_string(j, m->valuestring, path);
    if (rc)
        return rc;
    int status = ecom__status_parse(m->valuestring);
    if (status < 0) {
        char shown[QUOTE_LEN];
        ecom__quote(shown, sizeof shown, m->valuestring, strlen(m->valuestring));
        return ecom__msg(j->msg, j->msg_size, ECOM_ESTATUS,
                         "%s: \"%s\" is not draft, active or archived", path, shown);
    }
    j->p->status = (ecom_product_status)status;
    return ECOM_OK;
}

/* version, created_at, updated_at: the store assigns them, so input only has to
 * be a number. */
static int walk_ignored(jctx *j, const cJSON *m, const char *path)
{
    if (!cJSON_IsNumber(m))
        return field_error(j, ECOM_EFIELD, path, "expected a number");
    token t;
    return take_number(j, &t);
}

static int walk_root_member(jctx *j, const cJSON *m, unsigned *seen)
{
    char path[PATH_LEN];
    int rc = take_key(j, m, "", path, sizeof path);
    if (rc)
        return rc;
    int f = root_field(m->string);
    if (f < 0)
        return field_error(j, ECOM_EFIELD, path, "unknown field");
    if (*seen & (1u << f))
        return field_error(j, ECOM_EFIELD, path, "given twice");
    *seen |= 1u << f;
    ecom_product *p = j->p;
    switch (f) {
    case RF_ID: return walk_text(j, m, path, &p->id);
    case RF_TITLE: return walk_text(j, m, path, &p->title);
    case RF_DESCRIPTION: return walk_text(j, m, path, &p->description);
    case RF_BRAND: return walk_text(j, m, path, &p->brand);
    case RF_CATEGORY: return walk_text(j, m, path, &p->category);
    case RF_STATUS: return walk_status(j, m, path);
    case RF_ATTRIBUTES: return walk_attributes(j, m);
    case RF_VARIANTS: return walk_variants(j, m);
    default: return walk_ignored(j, m, path);
    }
}

static int walk_root(jctx *j, const cJSON *root)
{
    if (!cJSON_IsObject(root))
        return ecom__msg(j->msg, j->msg_size, ECOM_EFIELD, "(root): expected an object");
    unsigned seen = 0;
    for (const cJSON *m = root->child; m; m = m->next) {
        int rc = walk_root_member(j, m, &seen);
        if (rc)
            return rc;
    }
    if (!(seen & (1u << RF_ID)))
        return ecom__msg(j->msg, j->msg_size, ECOM_EFIELD, "id: missing");
    if (!(seen & (1u << RF_TITLE)))
        return ecom__msg(j->msg, j->msg_size, ECOM_EFIELD, "title: missing");
    if (!(seen & (1u << RF_VARIANTS)))
        return ecom__msg(j->msg, j->msg_size, ECOM_EFIELD, "variants: missing");
    return ECOM_OK;
}

int ecom_product_from_json(ecom_product **out, const char *json, size_t len, char *errmsg,
                           size_t errmsg_size)
{
    if (out == NULL || json == NULL)
        return ecom__msg(errmsg, errmsg_size, ECOM_EINVAL, "NULL argument");
    *out = NULL;
    jctx j = {(const unsigned char *)json, len, 0, errmsg, errmsg_size, NULL};
    int rc = json_check(&j);
    if (rc)
        return rc;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, NULL, false);
    if (root == NULL)
        return nomem(&j); /* the text is valid JSON: see the top of the file */
    rc = ecom_product_new(&j.p, "");
    if (rc) {
        rc = nomem(&j);
        goto cleanup;
    }
    rc = walk_root(&j, root);
    if (rc == ECOM_OK)
        rc = ecom_product_validate(j.p, errmsg, errmsg_size);
cleanup:
    cJSON_Delete(root);
    if (rc) {
        ecom_product_free(j.p);
        return rc;
    }
    *out = j.p;
    return ECOM_OK;
}

/* ---- output ---- */

static int put_str(ecom__buf *b, const char *s)
{
    return ecom__buf_put(b, s, strlen(s));
}

/* A JSON string: quotes, backslashes and control characters escaped, other bytes
 * (UTF-8, already validated) as they are. */
static int put_json_string(ecom__buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    int rc = ecom__buf_putc(b, '"');
    const char *run = s;
    for (const char *c = s; rc == ECOM_OK && *c; c++) {
        unsigned char u = (unsigned char)*c;
        if (u >= 0x20 && u != '"' && u != '\\')
            continue;
        rc = ecom__buf_put(b, run, (size_t)(c - run));
        run = c + 1;
        char esc[7] = {'\\', (char)u, 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (u) {
        case '"': case '\\': break;
        case '\n': esc[1] = 'n'; break;
        case '\t': esc[1] = 't'; break;
        case '\r': esc[1] = 'r'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[u >> 4];
            esc[5] = hex[u & 15];
            n = 6;
        }
        if (rc == ECOM_OK)
            rc = ecom__buf_put(b, esc, n);
    }
    if (rc == ECOM_OK)
        rc = put_str(b, run);
    if (rc == ECOM_OK)
        rc = ecom__buf_putc(b, '"');
    return rc;
}

/* Integers are printed digit by digit: exact over the whole int64 range. */
static int put_uint(ecom__buf *b, uint64_t v)
{
    char tmp[20];
    size_t n = sizeof tmp;
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return ecom__buf_put(b, tmp + n, sizeof tmp - n);
}

static int put_int(ecom__buf *b, int64_t v)
{
    if (v >= 0)
        return put_uint(b, (uint64_t)v);
    int rc = ecom__buf_putc(b, '-');
    return rc ? rc : put_uint(b, 0 - (uint64_t)v);
}

/* "key": with the comma before it unless first. */
static int put_key(ecom__buf *b, const char *key, bool first)
{
    int rc = first ? ECOM_OK : ecom__buf_putc(b, ',');
    if (rc == ECOM_OK)
        rc = put_json_string(b, key);
    if (rc == ECOM_OK)
        rc = ecom__buf_putc(b, ':');
    return rc;
}

static int put_text_field(ecom__buf *b, const char *key, const char *value, bool first)
{
    int rc = put_key(b, key, first);
    return rc ? rc : put_json_string(b, value);
}

static int put_attributes(ecom__buf *b, const ecom_product *p)
{
    int rc = put_key(b, "attributes", false);
    if (rc == ECOM_OK)
        rc = ecom__buf_putc(b, '{');
    for (size_t i = 0; rc == ECOM_OK && i < p->attribute_count; i++) {
        const ecom__attribute *a = &p->attributes[i];
        rc = put_key(b, a->name, i == 0);
        if (rc == ECOM_OK)
            rc = ecom__buf_putc(b, '[');
        for (size_t k = 0; rc == ECOM_OK && k < a->value_count; k++) {
            if (k)
                rc = ecom__buf_putc(b, ',');
            if (rc == ECOM_OK)
                rc = put_json_string(b, a->values[k]);
        }
        if (rc == ECOM_OK)
            rc = ecom__buf_putc(b, ']');
    }
    return rc ? rc : ecom__buf_putc(b, '}');
}

static int put_variant(ecom__buf *b, const ecom__variant *var)
{
    int rc = ecom__buf_putc(b, '{');
    if (rc == ECOM_OK)
        rc = put_text_field(b, "sku", var->sku, true);
    if (rc == ECOM_OK)
        rc = put_key(b, "options", false);
    if (rc == ECOM_OK)
        rc = ecom__buf_putc(b, '{');
    for (size_t i = 0; rc == ECOM_OK && i < var->option_count; i++)
        rc = put_text_field(b, var->options[i].name, var->options[i].value, i == 0);
    if (rc == ECOM_OK)
        rc = ecom__buf_putc(b, '}');
    if (rc == ECOM_OK)
        rc = put_key(b, "prices", false);
    if (rc == ECOM_OK)
        rc = ecom__buf_putc(b, '{');
    for (size_t i = 0; rc == ECOM_OK && i < var->price_count; i++) {
        rc = put_key(b, var->prices[i].currency, i == 0);
        if (rc == ECOM_OK)
            rc = put_int(b, var->prices[i].amount);
    }
    if (rc == ECOM_OK)
        rc = ecom__buf_putc(b, '}');
    if (rc == ECOM_OK)
        rc = put_key(b, "weight_g", false);
    if (rc == ECOM_OK)
        rc = put_int(b, var->weight_g);
    return rc ? rc : ecom__buf_putc(b, '}');
}

static int put_product(ecom__buf *b, const ecom_product *p, const char *status)
{
    int rc = ecom__buf_putc(b, '{');
    if (rc == ECOM_OK)
        rc = put_text_field(b, "id", p->id, true);
    if (rc == ECOM_OK)
        rc = put_text_field(b, "title", p->title, false);
    if (rc == ECOM_OK)
        rc = put_text_field(b, "description", p->description, false);
    if (rc == ECOM_OK)
        rc = put_text_field(b, "brand", p->brand, false);
    if (rc == ECOM_OK)
        rc = put_text_field(b, "category", p->category, false);
    if (rc == ECOM_OK)
        rc = put_text_field(b, "status", status, false);
    if (rc == ECOM_OK)
        rc = put_attributes(b, p);
    if (rc == ECOM_OK)
        rc = put_key(b, "variants", false);
    if (rc == ECOM_OK)
        rc = ecom__buf_putc(b, '[');
    for (size_t v = 0; rc == ECOM_OK && v < p->variant_count; v++) {
        if (v)
            rc = ecom__buf_putc(b, ',');
        if (rc == ECOM_OK)
            rc = put_variant(b, &p->variants[v]);
    }
    if (rc == ECOM_OK)
        rc = ecom__buf_putc(b, ']');
    if (rc == ECOM_OK)
        rc = put_key(b, "version", false);
    if (rc == ECOM_OK)
        rc = put_uint(b, p->version);
    if (rc == ECOM_OK)
        rc = put_key(b, "created_at", false);
    if (rc == ECOM_OK)
        rc = put_int(b, p->created_at);
    if (rc == ECOM_OK)
        rc = put_key(b, "updated_at", false);
    if (rc == ECOM_OK)
        rc = put_int(b, p->updated_at);
    if (rc == ECOM_OK)
        rc = ecom__buf_putc(b, '}');
    return rc;
}

int ecom_product_to_json(char **out, const ecom_product *p)
{
    if (out == NULL)
        return ECOM_EINVAL;
    *out = NULL;
    if (p == NULL)
        return ECOM_EINVAL;
    const char *status = ecom__status_name((int)p->status);
    if (status == NULL)
        return ECOM_ESTATUS;
    ecom__buf b = {0};
    /* One reservation covers most products: the texts plus the punctuation. */
    int rc = ecom__buf_reserve(&b, 256 + strlen(p->title) + strlen(p->description) +
                                       64 * p->variant_count);
    if (rc == ECOM_OK)
        rc = put_product(&b, p, status);
    if (rc == ECOM_OK)
        rc = ecom__buf_putc(&b, '\0');
    if (rc) {
        ecom__buf_free(&b);
        return rc;
    }
    *out = b.data;
    return ECOM_OK;
}
