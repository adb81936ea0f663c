/*
 * A search result: its type, how the run builds one, the public getters, its JSON,
 * and copies (for a result cache). Strings live in one buffer, found by offset.
 */
#include <cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "json_build.h"
#include "search_index.h"

typedef struct rhit {
    size_t id;
    double score;
    int64_t price;
} rhit;

typedef struct rfacet {
    size_t name, first, count;
} rfacet;

typedef struct rvalue {
    size_t str;
    uint64_t hits;
} rvalue;

struct ecom_search_result {
    size_t total, count, nfacets, nvalues;
    int cached;
    rhit *hits;
    rfacet *facets;
    rvalue *values;
    char *strings; /* NUL-terminated, by offset */
    size_t strings_len;
    bool has_cursor;
    size_t cursor;
};

/* ---- building ---- */

static size_t add_string(ecom__rbuild *b, const char *s, size_t len)
{
    ecom_search_result *r = b->r;
    if (b->rc == ECOM_OK)
        b->rc = ecom__grow((void **)&r->strings, &b->strings_cap, r->strings_len + len + 1, 1);
    if (b->rc != ECOM_OK)
        return 0;
    size_t off = r->strings_len;
    memcpy(r->strings + off, s, len);
    r->strings[off + len] = '\0';
    r->strings_len += len + 1;
    return off;
}

int ecom__rbuild_start(ecom__rbuild *b, size_t total)
{
    memset(b, 0, sizeof *b);
    b->r = ecom__calloc(1, sizeof *b->r);
    if (b->r == NULL)
        return ECOM_ENOMEM;
    b->r->total = total;
    return ECOM_OK;
}

void ecom__rbuild_hit(ecom__rbuild *b, const char *id, double score, int64_t price)
{
    ecom_search_result *r = b->r;
    if (b->rc == ECOM_OK)
        b->rc = ecom__grow((void **)&r->hits, &b->hits_cap, r->count + 1, sizeof *r->hits);
    size_t off = add_string(b, id, strlen(id));
    if (b->rc == ECOM_OK)
        r->hits[r->count++] = (rhit){off, score, price};
}

void ecom__rbuild_facet(ecom__rbuild *b, const char *name)
{
    ecom_search_result *r = b->r;
    if (b->rc == ECOM_OK)
        b->rc = ecom__grow((void **)&r->facets, &b->facets_cap, r->nfacets + 1, sizeof *r->facets);
    size_t off = add_string(b, name, strlen(name));
    if (b->rc == ECOM_OK)
        r->facets[r->nfacets++] = (rfacet){off, r->nvalues, 0};
}

void ecom__rbuild_value(ecom__rbuild *b, const char *value, size_t len, uint64_t hits)
{
    ecom_search_result *r = b->r;
    if (b->rc == ECOM_OK)
        b->rc = ecom__grow((void **)&r->values, &b->values_cap, r->nvalues + 1, sizeof *r->values);
    size_t off = add_string(b, value, len);
    if (b->rc == ECOM_OK && r->nfacets > 0) {
        r->values[r->nvalues++] = (rvalue){off, hits};
        r->facets[r->nfacets - 1].count++;
    }
}

void ecom__rbuild_cursor(ecom__rbuild *b, const char *cursor)
{
    size_t off = add_string(b, cursor, strlen(cursor));
    if (b->rc == ECOM_OK) {
        b->r->cursor = off;
        b->r->has_cursor = true;
    }
}

ecom_search_result *ecom__rbuild_finish(ecom__rbuild *b, int *rc)
{
    *rc = b->rc;
    if (b->rc == ECOM_OK)
        return b->r;
    ecom_search_result_free(b->r);
    b->r = NULL;
    return NULL;
}

/* ---- copies ---- */

static void *dup_mem(const void *p, size_t n, size_t size, bool *ok)
{
    if (n == 0 || !*ok)
        return NULL;
    void *q = ecom__calloc(n, size);
    if (q == NULL)
        *ok = false;
    else
        memcpy(q, p, n * size);
    return q;
}

int ecom__search_result_copy(ecom_search_result **out, const ecom_search_result *r, bool cached)
{
    if (out == NULL || r == NULL)
        return ECOM_EINVAL;
    *out = NULL;
    ecom_search_result *c = ecom__calloc(1, sizeof *c);
    if (c == NULL)
        return ECOM_ENOMEM;
    *c = *r;
    bool ok = true;
    c->hits = dup_mem(r->hits, r->count, sizeof *r->hits, &ok);
    c->facets = dup_mem(r->facets, r->nfacets, sizeof *r->facets, &ok);
    c->values = dup_mem(r->values, r->nvalues, sizeof *r->values, &ok);
    c->strings = dup_mem(r->strings, r->strings_len, 1, &ok);
    if (!ok) {
        ecom_search_result_free(c);
        return ECOM_ENOMEM;
    }
    c->cached = cached;
    *out = c;
    return ECOM_OK;
}

/* ---- getters ---- */

void ecom_search_result_free(ecom_search_result *r)
{
    if (r == NULL)
        return;
    ecom__free(r->hits);
    ecom__free(r->facets);
    ecom__free(r->values);
    ecom__free(r->strings);
    ecom__free(r);
}

size_t ecom_search_result_total(const ecom_search_result *r)
{
    return r ? r->total : 0;
}

size_t ecom_search_result_count(const ecom_search_result *r)
{
    return r ? r->count : 0;
}

const char *ecom_search_result_id(const ecom_search_result *r, size_t i)
{
    return r && i < r->count ? r->strings + r->hits[i].id : NULL;
}

double ecom_search_result_score(const ecom_search_result *r, size_t i)
{
    return r && i < r->count ? r->hits[i].score : 0;
}

int64_t ecom_search_result_price(const ecom_search_result *r, size_t i)
{
    return r && i < r->count ? r->hits[i].price : -1;
}

size_t ecom_search_result_facet_count(const ecom_search_result *r)
{
    return r ? r->nfacets : 0;
}

const char *ecom_search_result_facet_name(const ecom_search_result *r, size_t f)
{
    return r && f < r->nfacets ? r->strings + r->facets[f].name : NULL;
}

size_t ecom_search_result_facet_size(const ecom_search_result *r, size_t f)
{
    return r && f < r->nfacets ? r->facets[f].count : 0;
}

const char *ecom_search_result_facet_value(const ecom_search_result *r, size_t f, size_t j)
{
    if (r == NULL || f >= r->nfacets || j >= r->facets[f].count)
        return NULL;
    return r->strings + r->values[r->facets[f].first + j].str;
}

uint64_t ecom_search_result_facet_hits(const ecom_search_result *r, size_t f, size_t j)
{
    if (r == NULL || f >= r->nfacets || j >= r->facets[f].count)
        return 0;
    return r->values[r->facets[f].first + j].hits;
}

const char *ecom_search_result_cursor(const ecom_search_result *r)
{
    return r && r->has_cursor ? r->strings + r->cursor : NULL;
}

int ecom_search_result_cached(const ecom_search_result *r)
{
    return r ? r->cached : 0;
}

/* ---- JSON ---- */

/* cJSON fails only for memory; the first failure makes ok false (see order.c). */
static void add_raw(ecom__jb *b, cJSON *parent, const char *key, const char *digits)
{
    ecom__jb_add(b, parent, key, cJSON_CreateRaw(digits));
}

static void add_hits(ecom__jb *b, cJSON *root, const ecom_search_result *r)
{
    cJSON *hits = ecom__jb_add(b, root, "hits", cJSON_CreateArray());
    for (size_t i = 0; hits && i < r->count; i++) {
        cJSON *h = ecom__jb_add(b, hits, NULL, cJSON_CreateObject());
        char digits[32];
        ecom__jb_add(b, h, "id", cJSON_CreateString(r->strings + r->hits[i].id));
        ecom__jb_add(b, h, "score", cJSON_CreateNumber(r->hits[i].score));
        snprintf(digits, sizeof digits, "%" PRId64, r->hits[i].price);
        add_raw(b, h, "price", digits);
    }
}

static void add_facets(ecom__jb *b, cJSON *root, const ecom_search_result *r)
{
    cJSON *facets = ecom__jb_add(b, root, "facets", cJSON_CreateObject());
    for (size_t f = 0; facets && f < r->nfacets; f++) {
        cJSON *values = cJSON_CreateArray();
        /* the name is copied: that can fail too */
        if (values && !cJSON_AddItemToObject(facets, r->strings + r->facets[f].name, values)) {
            cJSON_Delete(values);
            values = NULL;
        }
        if (values == NULL)
            b->ok = false;
        for (size_t j = 0; values && j < r->facets[f].count; j++) {
            const rvalue *v = &r->values[r->facets[f].first + j];
            cJSON *pair = ecom__jb_add(b, values, NULL, cJSON_CreateArray());
            char digits[32];
            snprintf(digits, sizeof digits, "%" PRIu64, v->hits);
            ecom__jb_add(b, pair, NULL, cJSON_CreateString(r->strings + v->str));
            add_raw(b, pair, NULL, digits);
        }
    }
}

int ecom_search_result_to_json(char **out, const ecom_search_result *r)
{
    if (out == NULL)
        return ECOM_EINVAL;
    *out = NULL;
    if (r == NULL)
        return ECOM_EINVAL;
    ecom__jb b = {true};
    cJSON *root = cJSON_CreateObject();
    if (root == NULL)
        return ECOM_ENOMEM;
    char digits[32];
    snprintf(digits, sizeof digits, "%zu", r->total);
    add_raw(&b, root, "total", digits);
    add_hits(&b, root, r);
    add_facets(&b, root, r);
    if (r->has_cursor)
        ecom__jb_add(&b, root, "cursor", cJSON_CreateString(r->strings + r->cursor));
    else
        ecom__jb_add(&b, root, "cursor", cJSON_CreateNull());
    char *text = b.ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (text == NULL)
        return ECOM_ENOMEM;
    *out = text;
    return ECOM_OK;
}
