/*
 * The search result cache: results kept by their normalized request for a TTL, and
 * dropped as soon as a product they match (before or after its change) changes.
 */
#ifndef ECOM_SEARCH_CACHE_H
#define ECOM_SEARCH_CACHE_H

#include <pthread.h>

#include "search.h"

typedef struct ecom__cache_entry ecom__cache_entry;

typedef struct ecom__search_cache {
    pthread_mutex_t lock;
    int64_t ttl_ms;          /* <= 0: nothing is cached */
    size_t max_entries;
    ecom__cache_entry *head; /* most recently used first */
    ecom__cache_entry *tail;
    size_t entries;
    uint64_t hits, misses;
    bool paused; /* emptied for a round of changes: nothing to judge (search.c) */
} ecom__search_cache;

/* The normalized request: the same for requests that differ only in case, accents,
 * spacing or the order of their brands and attribute filters. */
typedef struct ecom__cache_key {
    char *text;
    uint64_t hash;
} ecom__cache_key;

/* ttl_ms: 0 = 5 minutes, < 0 = no cache; max_entries: 0 = 1024. */
void ecom__search_cache_init(ecom__search_cache *c, int64_t ttl_ms, size_t max_entries);
void ecom__search_cache_destroy(ecom__search_cache *c);

int ecom__search_cache_key(ecom__cache_key *key, const ecom_search_request *req);
void ecom__search_cache_key_free(ecom__cache_key *key);

/* A copy of the cached result for key, marked cached (ECOM_ENOTFOUND if none is fresh
 * at now). */
int ecom__search_cache_get(ecom_search_result **out, ecom__search_cache *c,
                           const ecom__cache_key *key, int64_t now);
/* Keeps a copy of r (and of the request, to judge later changes) under key. Silently
 * keeps nothing when out of memory. */
void ecom__search_cache_put(ecom__search_cache *c, const ecom__cache_key *key,
                            const ecom_search_request *req, const ecom_search_result *r,
                            int64_t now);
/* Drops every entry whose request the product with this id matches in ix now; with
 * stock_only, only among requests filtered on stock (a stock change alters no other). */
void ecom__search_cache_drop_matching(ecom__search_cache *c, ecom__sindex *ix, const char *id,
                                      bool stock_only);
/* Drops every entry. */
void ecom__search_cache_clear(ecom__search_cache *c);
/* While paused, drop_matching does nothing: the caller emptied the cache and holds off
 * every put (the index's write lock) until it resumes. */
void ecom__search_cache_pause(ecom__search_cache *c, bool paused);
void ecom__search_cache_stats(ecom__search_cache *c, size_t *entries, uint64_t *hits,
                              uint64_t *misses);

#endif
