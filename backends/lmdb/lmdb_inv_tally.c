/* The hash table of counters that the inventory check sums into (chained,
 * doubling, keys copied into the entries). */
#include <string.h>

#include "lmdb_inventory.h"

static size_t hash(const void *key, size_t len)
{
    /* FNV-1a: keys are short ids; this is a check, not a hot path. */
    const unsigned char *p = key;
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * UINT64_C(1099511628211);
    return (size_t)h;
}

inv_tally_entry *ecom__inv_tally_find(const inv_tally *t, const void *key, size_t len)
{
    if (t->nbuckets == 0)
        return NULL;
    for (inv_tally_entry *e = t->buckets[hash(key, len) & (t->nbuckets - 1)]; e; e = e->next)
        if (e->len == len && memcmp(e->key, key, len) == 0)
            return e;
    return NULL;
}

static int grow(inv_tally *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 64;
    inv_tally_entry **b = ecom__calloc(n, sizeof *b);
    if (b == NULL)
        return -1;
    for (size_t i = 0; i < t->nbuckets; i++)
        for (inv_tally_entry *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            size_t h = hash(e->key, e->len) & (n - 1);
            e->next = b[h];
            b[h] = e;
        }
    ecom__free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
    return 0;
}

inv_tally_entry *ecom__inv_tally_get(inv_tally *t, const void *key, size_t len)
{
    inv_tally_entry *e = ecom__inv_tally_find(t, key, len);
    if (e)
        return e;
    if (t->count >= t->nbuckets && grow(t) != 0)
        return NULL;
    if ((e = ecom__calloc(1, sizeof *e + len)) == NULL)
        return NULL;
    e->len = len;
    memcpy(e->key, key, len);
    size_t h = hash(key, len) & (t->nbuckets - 1);
    e->next = t->buckets[h];
    t->buckets[h] = e;
    t->count++;
    return e;
}

int ecom__inv_tally_each(const inv_tally *t, int (*fn)(void *ctx, inv_tally_entry *e), void *ctx)
{
    for (size_t i = 0; i < t->nbuckets; i++)
        for (inv_tally_entry *e = t->buckets[i]; e; e = e->next) {
            int rc = fn(ctx, e);
            if (rc != 0)
                return rc;
        }
    return 0;
}

void ecom__inv_tally_free(inv_tally *t)
{
    for (size_t i = 0; i < t->nbuckets; i++)
        for (inv_tally_entry *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            ecom__free(e);
        }
    ecom__free(t->buckets);
    *t = (inv_tally){NULL, 0, 0};
}
