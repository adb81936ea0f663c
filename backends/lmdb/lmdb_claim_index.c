/* The in-memory index of one sale's claims: hash maps (user, key) -> ticket and
 * user -> units, in dense arrays with open-addressing tables over them. Everything
 * grows geometrically and nothing is ever removed, so noting a claim allocates
 * only when a doubling is due. */
#include <string.h>
#include <time.h>

#include "internal.h"
#include "lmdb_claim_index.h"

#define FIRST_CAP 16u
#define FIRST_TABLE 32u
#define FIRST_STRS 1024u

/* ---- hashing ---- */

/* FNV-1a from a per-index seed, then a 64-bit finaliser: ids come from buyers, so
 * the seed keeps one crafted set of them from colliding in every process. */
static uint32_t hash_str(uint64_t seed, uint64_t salt, const char *s)
{
    uint64_t h = seed ^ (salt * UINT64_C(0x9e3779b97f4a7c15)) ^ UINT64_C(1469598103934665603);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * UINT64_C(1099511628211);
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return (uint32_t)h;
}

static uint32_t user_hash(const cix *ix, const char *user)
{
    return hash_str(ix->seed, 0, user);
}

/* A key's hash mixes in its user's index: the same key of two users is two entries. */
static uint32_t key_hash(const cix *ix, uint32_t user, const char *key)
{
    return hash_str(ix->seed, (uint64_t)user + 1, key);
}

/* ---- storage ---- */

/* arr with room for n + 1 elements of elem bytes (doubled if full), or NULL. */
static void *room(void *arr, uint32_t *cap, uint32_t n, size_t elem)
{
    if (n < *cap)
        return arr;
    if (*cap > UINT32_MAX / 2)
        return NULL;
    uint32_t ncap = *cap ? *cap * 2 : FIRST_CAP;
    void *p = ecom__realloc(arr, (size_t)ncap * elem);
    if (p != NULL)
        *cap = ncap;
    return p;
}

/* Copies s into strs; *off receives where. */
static int str_add(cix *ix, const char *s, uint32_t *off)
{
    size_t len = strlen(s) + 1;
    if (ix->strs_len + len > ix->strs_cap) {
        size_t cap = ix->strs_cap ? ix->strs_cap : FIRST_STRS;
        while (cap < ix->strs_len + len)
            cap *= 2;
        if (cap > UINT32_MAX)
            return ECOM_ENOMEM; /* offsets are 32 bits: 4 GiB of ids per sale */
        char *p = ecom__realloc(ix->strs, cap);
        if (p == NULL)
            return ECOM_ENOMEM;
        ix->strs = p;
        ix->strs_cap = cap;
    }
    memcpy(ix->strs + ix->strs_len, s, len);
    *off = (uint32_t)ix->strs_len;
    ix->strs_len += len;
    return ECOM_OK;
}

static void table_put(uint32_t *tab, size_t size, uint32_t hash, uint32_t idx)
{
    size_t i = hash & (size - 1);
    while (tab[i] != 0)
        i = (i + 1) & (size - 1);
    tab[i] = idx + 1;
}

/* A table of twice the size, filled from the dense array's hashes. */
static uint32_t *table_grown(size_t *size, const void *arr, uint32_t n, size_t elem,
                             size_t hash_at)
{
    size_t nsize = *size ? *size * 2 : FIRST_TABLE;
    uint32_t *tab = ecom__calloc(nsize, sizeof *tab);
    if (tab == NULL)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t h;
        memcpy(&h, (const char *)arr + (size_t)i * elem + hash_at, sizeof h);
        table_put(tab, nsize, h, i);
    }
    *size = nsize;
    return tab;
}

/* Keeps the load of a table at most one half, so probes stay short. */
static int table_fit(uint32_t **tab, size_t *size, const void *arr, uint32_t n, size_t elem,
                     size_t hash_at)
{
    if ((size_t)n + 1 <= *size / 2)
        return ECOM_OK;
    uint32_t *grown = table_grown(size, arr, n, elem, hash_at);
    if (grown == NULL)
        return ECOM_ENOMEM;
    ecom__free(*tab);
    *tab = grown;
    return ECOM_OK;
}

/* ---- lookups ---- */

/* The slot holding user, or the empty slot where it would go (utab not empty). */
static uint32_t *user_slot(const cix *ix, const char *user, uint32_t h)
{
    size_t mask = ix->utab_size - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t *slot = &ix->utab[i];
        if (*slot == 0)
            return slot;
        const cix_user *u = &ix->users[*slot - 1];
        if (u->hash == h && strcmp(ix->strs + u->name, user) == 0)
            return slot;
    }
}

static uint32_t *key_slot(const cix *ix, uint32_t user, const char *key, uint32_t h)
{
    size_t mask = ix->ktab_size - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t *slot = &ix->ktab[i];
        if (*slot == 0)
            return slot;
        const cix_key *k = &ix->keys[*slot - 1];
        if (k->hash == h && k->user == user && strcmp(ix->strs + k->key, key) == 0)
            return slot;
    }
}

/* The user's index: 1 found, 0 not. */
static int user_find(const cix *ix, const char *user, uint32_t *idx)
{
    if (ix->utab_size == 0)
        return 0;
    uint32_t *slot = user_slot(ix, user, user_hash(ix, user));
    *idx = *slot - 1;
    return *slot != 0;
}

static cix_key *key_find(const cix *ix, uint32_t user, const char *key)
{
    if (ix->ktab_size == 0)
        return NULL;
    uint32_t *slot = key_slot(ix, user, key, key_hash(ix, user, key));
    return *slot ? &ix->keys[*slot - 1] : NULL;
}

int ecom__cix_find(const cix *ix, const char *user, const char *key, uint64_t *ticket)
{
    uint32_t u;
    const cix_key *k = user_find(ix, user, &u) ? key_find(ix, u, key) : NULL;
    if (k != NULL)
        *ticket = k->ticket;
    return k != NULL;
}

int64_t ecom__cix_units(const cix *ix, const char *user)
{
    uint32_t u;
    return user_find(ix, user, &u) ? ix->users[u].units : 0;
}

/* ---- adding ---- */

/* Every allocation comes before the insert, so a failure leaves the maps whole. */
static int user_add(cix *ix, const char *user, uint32_t *idx)
{
    uint32_t h = user_hash(ix, user), name;
    cix_user *users = room(ix->users, &ix->users_cap, ix->nusers, sizeof *users);
    if (users == NULL)
        return ECOM_ENOMEM;
    ix->users = users;
    int rc = table_fit(&ix->utab, &ix->utab_size, users, ix->nusers, sizeof *users,
                       offsetof(cix_user, hash));
    if (rc == ECOM_OK)
        rc = str_add(ix, user, &name);
    if (rc != ECOM_OK)
        return rc;
    *idx = ix->nusers++;
    users[*idx] = (cix_user){name, h, 0};
    *user_slot(ix, user, h) = *idx + 1;
    return ECOM_OK;
}

static int key_add(cix *ix, uint32_t user, const char *key, uint64_t ticket, cix_key **out)
{
    uint32_t h = key_hash(ix, user, key), off;
    cix_key *keys = room(ix->keys, &ix->keys_cap, ix->nkeys, sizeof *keys);
    if (keys == NULL)
        return ECOM_ENOMEM;
    ix->keys = keys;
    int rc = table_fit(&ix->ktab, &ix->ktab_size, keys, ix->nkeys, sizeof *keys,
                       offsetof(cix_key, hash));
    if (rc == ECOM_OK)
        rc = str_add(ix, key, &off);
    if (rc != ECOM_OK)
        return rc;
    uint32_t i = ix->nkeys++;
    keys[i] = (cix_key){ticket, user, off, h, 0};
    *key_slot(ix, user, key, h) = i + 1;
    *out = &keys[i];
    return ECOM_OK;
}

int ecom__cix_note(cix *ix, uint64_t ticket, const char *user, const char *key, int64_t qty,
                   int live)
{
    uint32_t u;
    int rc = user_find(ix, user, &u) ? ECOM_OK : user_add(ix, user, &u);
    cix_key *k = rc == ECOM_OK ? key_find(ix, u, key) : NULL;
    if (rc == ECOM_OK && k == NULL)
        rc = key_add(ix, u, key, ticket, &k);
    if (rc != ECOM_OK)
        return rc;
    if (k->ticket != ticket)
        return ECOM_ECORRUPT;
    /* A claim counts while live; qty never changes, so taking it back is exact. */
    if (live && !k->counted)
        ix->users[u].units += qty;
    else if (!live && k->counted)
        ix->users[u].units -= qty;
    k->counted = live != 0;
    return ECOM_OK;
}

/* ---- life ---- */

cix *ecom__cix_new(const char *sale)
{
    size_t len = strlen(sale);
    cix *ix = len <= ECOM_ID_MAX ? ecom__calloc(1, sizeof *ix) : NULL;
    if (ix == NULL)
        return NULL;
    memcpy(ix->sale, sale, len + 1);
    ix->seed = (uint64_t)(uintptr_t)ix ^ ((uint64_t)time(NULL) << 20) ^ (uint64_t)clock();
    return ix;
}

void ecom__cix_clear(cix *ix)
{
    ix->nusers = ix->nkeys = 0;
    ix->strs_len = 0;
    if (ix->utab)
        memset(ix->utab, 0, ix->utab_size * sizeof *ix->utab);
    if (ix->ktab)
        memset(ix->ktab, 0, ix->ktab_size * sizeof *ix->ktab);
    ix->built = 0;
    ix->synced = 0;
}

void ecom__cix_free(cix *ix)
{
    if (ix == NULL)
        return;
    ecom__free(ix->strs);
    ecom__free(ix->users);
    ecom__free(ix->keys);
    ecom__free(ix->utab);
    ecom__free(ix->ktab);
    ecom__free(ix);
}
