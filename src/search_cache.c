/*
 * The search result cache (search_cache.h): a small LRU of results keyed by the
 * normalized request, each with its expiry and a copy of its request, so that a
 * product change can drop exactly the entries it may alter: those whose request the
 * product matches before the change or after it (write-through invalidation).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "search_cache.h"
#include "search_index.h"

#define DEFAULT_TTL_MS (INT64_C(5) * 60 * 1000)
#define DEFAULT_ENTRIES 1024
#define KEY_MAX (1u << 20)

struct ecom__cache_entry {
    ecom__cache_entry *prev, *next;
    char *key;
    uint64_t hash;
    int64_t expires_at;
    ecom_search_result *result;
    ecom_search_request req; /* strings and arrays in `copy` */
    char *copy;
};

void ecom__search_cache_init(ecom__search_cache *c, int64_t ttl_ms, size_t max_entries)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->ttl_ms = ttl_ms == 0 ? DEFAULT_TTL_MS : ttl_ms;
    c->max_entries = max_entries ? max_entries : DEFAULT_ENTRIES;
}

static void entry_free(ecom__cache_entry *e)
{
    ecom_search_result_free(e->result);
    ecom__free(e->key);
    ecom__free(e->copy);
    ecom__free(e);
}

static void unlink_entry(ecom__search_cache *c, ecom__cache_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    c->entries--;
}

static void push_front(ecom__search_cache *c, ecom__cache_entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    else
        c->tail = e;
    c->head = e;
    c->entries++;
}

static void free_all(ecom__search_cache *c)
{
    for (ecom__cache_entry *e = c->head, *next; e; e = next) {
        next = e->next;
        entry_free(e);
    }
    c->head = c->tail = NULL;
    c->entries = 0;
}

void ecom__search_cache_destroy(ecom__search_cache *c)
{
    free_all(c);
    pthread_mutex_destroy(&c->lock);
    memset(c, 0, sizeof *c);
}

void ecom__search_cache_clear(ecom__search_cache *c)
{
    pthread_mutex_lock(&c->lock);
    free_all(c);
    pthread_mutex_unlock(&c->lock);
}

void ecom__search_cache_pause(ecom__search_cache *c, bool paused)
{
    c->paused = paused; /* changed and read by the writer of the index only */
}

/* ---- the normalized request ---- */

typedef struct keybuf {
    char *data;
    size_t len, cap;
    int failed;
} keybuf;

static void put_bytes(keybuf *b, const char *s, size_t n)
{
    if (b->failed || n > KEY_MAX || b->len > KEY_MAX) {
        b->failed = 1; /* no request makes a key this long */
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = ecom__realloc(b->data, cap);
        if (grown == NULL) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void put_str(keybuf *b, const char *s)
{
    put_bytes(b, s ? s : "", s ? strlen(s) : 0);
    put_bytes(b, "\x1f", 1); /* a unit separator: no field runs into the next */
}

/* Appends s folded, then a separator. Should the fold have been cut (never for a
 * request within limits), s as given follows it, so no two requests share a key. */
static void put_folded(keybuf *b, const char *s)
{
    size_t len = s ? strlen(s) : 0, size = len * 3 + 16;
    char stack[1024];
    char *buf = size <= sizeof stack ? stack : ecom__malloc(size);
    if (buf == NULL) {
        b->failed = 1;
        return;
    }
    size_t n = ecom__text_fold(buf, size, s ? s : "", len);
    put_bytes(b, buf, n);
    if (n + 1 >= size) {
        put_bytes(b, "\x1c", 1);
        put_bytes(b, s, len);
    }
    put_bytes(b, "\x1f", 1);
    if (buf != stack)
        ecom__free(buf);
}

static void put_int(keybuf *b, long long v)
{
    char num[32];
    snprintf(num, sizeof num, "%lld", v);
    put_str(b, num);
}

static int cmp_entries(const void *a, const void *b)
{
    const keybuf *x = a, *y = b;
    return strcmp(x->data ? x->data : "", y->data ? y->data : "");
}

/* n alternatives (brands, or attribute name and value pairs), each as `name` (kept as
 * given, if any) and its value folded, sorted: any order of the same alternatives is
 * the same request. */
static void put_alternatives(keybuf *b, const char *const *names, const char *const *values,
                             size_t n)
{
    keybuf each[ECOM_SEARCH_FILTERS_MAX];
    n = n < ECOM_SEARCH_FILTERS_MAX ? n : ECOM_SEARCH_FILTERS_MAX;
    memset(each, 0, sizeof each);
    for (size_t i = 0; i < n; i++) {
        if (names) {
            put_bytes(&each[i], names[i], strlen(names[i]));
            put_bytes(&each[i], "\x1d", 1);
        }
        put_folded(&each[i], values[i]);
        b->failed |= each[i].failed;
    }
    qsort(each, n, sizeof each[0], cmp_entries);
    for (size_t i = 0; i < n; i++) {
        put_bytes(b, each[i].data ? each[i].data : "", each[i].len);
        ecom__free(each[i].data);
    }
    put_bytes(b, "\x1e", 1);
}

int ecom__search_cache_key(ecom__cache_key *key, const ecom_search_request *req)
{
    keybuf b = {0};
    const char *text = req->text ? req->text : "";
    size_t tlen = strlen(text);
    put_folded(&b, text);
    /* A trailing space turns the last word's prefix matching off. */
    put_str(&b, tlen && strchr(" \t\r\n", text[tlen - 1]) ? "$" : "");
    put_str(&b, req->category);
    put_alternatives(&b, NULL, req->brands, req->brand_count);
    const char *names[ECOM_SEARCH_FILTERS_MAX], *values[ECOM_SEARCH_FILTERS_MAX];
    size_t na = req->attr_count < ECOM_SEARCH_FILTERS_MAX ? req->attr_count
                                                           : ECOM_SEARCH_FILTERS_MAX;
    for (size_t i = 0; i < na; i++) {
        names[i] = req->attrs[i].name;
        values[i] = req->attrs[i].value;
    }
    put_alternatives(&b, names, values, na);
    put_str(&b, req->currency ? req->currency : "USD");
    put_int(&b, req->price_min);
    put_int(&b, req->price_max);
    put_int(&b, req->in_stock);
    for (size_t i = 0; i < req->facet_count; i++)
        put_str(&b, req->facets[i]);
    put_bytes(&b, "\x1e", 1);
    put_int(&b, req->sort);
    put_int(&b, req->limit ? (long long)req->limit : 20);
    put_str(&b, req->cursor);
    if (b.failed) {
        ecom__free(b.data);
        return ECOM_ENOMEM;
    }
    key->text = b.data;
    key->hash = ecom__fnv1a(b.data, b.len, ECOM__FNV_INIT);
    return ECOM_OK;
}

void ecom__search_cache_key_free(ecom__cache_key *key)
{
    ecom__free(key->text);
    key->text = NULL;
}

/* ---- a request's own copy, to judge changes against ---- */

/* Copies s into the arena at *at (NULL stays NULL). */
static const char *dup_into(char **at, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*at, s, n);
    const char *copy = *at;
    *at += n;
    return copy;
}

static size_t strsize(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* The matching part of req (words and filters) in one allocation. */
static int copy_request(ecom__cache_entry *e, const ecom_search_request *req)
{
    size_t size = strsize(req->text) + strsize(req->category) + strsize(req->currency) +
                  req->brand_count * sizeof(char *) + req->attr_count * sizeof(ecom_search_attr);
    for (size_t i = 0; i < req->brand_count; i++)
        size += strsize(req->brands[i]);
    for (size_t i = 0; i < req->attr_count; i++)
        size += strsize(req->attrs[i].name) + strsize(req->attrs[i].value);
    e->copy = ecom__malloc(size ? size : 1);
    if (e->copy == NULL)
        return ECOM_ENOMEM;
    /* Pointer arrays first, so they are aligned as the allocation is. */
    const char **brands = (const char **)(void *)e->copy;
    ecom_search_attr *attrs = (ecom_search_attr *)(void *)(brands + req->brand_count);
    char *at = (char *)(attrs + req->attr_count);
    e->req = *req;
    e->req.text = dup_into(&at, req->text);
    e->req.category = dup_into(&at, req->category);
    e->req.currency = dup_into(&at, req->currency);
    for (size_t i = 0; i < req->brand_count; i++)
        brands[i] = dup_into(&at, req->brands[i]);
    for (size_t i = 0; i < req->attr_count; i++) {
        attrs[i].name = dup_into(&at, req->attrs[i].name);
        attrs[i].value = dup_into(&at, req->attrs[i].value);
    }
    e->req.brands = req->brand_count ? brands : NULL;
    e->req.attrs = req->attr_count ? attrs : NULL;
    e->req.facets = NULL; /* not part of matching */
    e->req.facet_count = 0;
    e->req.cursor = NULL;
    return ECOM_OK;
}

/* ---- get, put, drop ---- */

static ecom__cache_entry *find(ecom__search_cache *c, const ecom__cache_key *key)
{
    for (ecom__cache_entry *e = c->head; e; e = e->next)
        if (e->hash == key->hash && strcmp(e->key, key->text) == 0)
            return e;
    return NULL;
}

int ecom__search_cache_get(ecom_search_result **out, ecom__search_cache *c,
                           const ecom__cache_key *key, int64_t now)
{
    if (c->ttl_ms < 0)
        return ECOM_ENOTFOUND;
    pthread_mutex_lock(&c->lock);
    ecom__cache_entry *e = find(c, key);
    if (e && e->expires_at <= now) {
        unlink_entry(c, e);
        entry_free(e);
        e = NULL;
    }
    int rc = ECOM_ENOTFOUND;
    if (e) {
        unlink_entry(c, e);
        push_front(c, e);
        rc = ecom__search_result_copy(out, e->result, true);
    }
    if (rc == ECOM_OK)
        c->hits++;
    else
        c->misses++;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void ecom__search_cache_put(ecom__search_cache *c, const ecom__cache_key *key,
                            const ecom_search_request *req, const ecom_search_result *r,
                            int64_t now)
{
    if (c->ttl_ms < 0)
        return;
    ecom__cache_entry *e = ecom__calloc(1, sizeof *e);
    if (e == NULL)
        return;
    e->key = ecom__strdup(key->text);
    e->hash = key->hash;
    e->expires_at = now + c->ttl_ms;
    if (e->key == NULL || copy_request(e, req) != ECOM_OK ||
        ecom__search_result_copy(&e->result, r, false) != ECOM_OK) {
        entry_free(e);
        return;
    }
    pthread_mutex_lock(&c->lock);
    ecom__cache_entry *old = find(c, key);
    if (old) {
        unlink_entry(c, old);
        entry_free(old);
    }
    push_front(c, e);
    while (c->entries > c->max_entries) {
        ecom__cache_entry *lru = c->tail;
        unlink_entry(c, lru);
        entry_free(lru);
    }
    pthread_mutex_unlock(&c->lock);
}

void ecom__search_cache_drop_matching(ecom__search_cache *c, ecom__sindex *ix, const char *id,
                                      bool stock_only)
{
    if (c->ttl_ms < 0 || c->paused)
        return;
    pthread_mutex_lock(&c->lock);
    for (ecom__cache_entry *e = c->head, *next; e; e = next) {
        next = e->next;
        if ((!stock_only || e->req.in_stock) && ecom__sindex_matches(ix, &e->req, id)) {
            unlink_entry(c, e);
            entry_free(e);
        }
    }
    pthread_mutex_unlock(&c->lock);
}

void ecom__search_cache_stats(ecom__search_cache *c, size_t *entries, uint64_t *hits,
                              uint64_t *misses)
{
    pthread_mutex_lock(&c->lock);
    *entries = c->entries;
    *hits = c->hits;
    *misses = c->misses;
    pthread_mutex_unlock(&c->lock);
}
