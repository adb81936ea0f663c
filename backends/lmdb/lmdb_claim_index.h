/*
 * The in-memory index of one flash sale's claims (lmdb_claim_index.c): which
 * ticket each (user, key) got, and the units each user holds or bought. It is
 * derived from the claim records and never stored; lmdb_claim_sync.c keeps it in
 * step with the store inside write transactions.
 */
#ifndef ECOM_LMDB_CLAIM_INDEX_H
#define ECOM_LMDB_CLAIM_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "ecom.h"

typedef struct cix_user {
    uint32_t name; /* offset of the NUL-terminated name in strs */
    uint32_t hash;
    int64_t units; /* qty of the user's held and committed claims */
} cix_user;

typedef struct cix_key {
    uint64_t ticket;
    uint32_t user; /* index in users */
    uint32_t key;  /* offset in strs */
    uint32_t hash;
    uint32_t counted; /* the claim's qty is in its user's units (held or committed) */
} cix_key;

typedef struct cix {
    struct cix *next;  /* the backend's list of indexed sales */
    uint64_t synced;   /* the sale's claim_changes this index reflects */
    int built;         /* filled from the store (a new index is empty until then) */
    int pending;       /* changed by the write txn in flight: dropped unless it commits */
    uint64_t seed;     /* per index, so crafted ids cannot collide in every process */
    char *strs;        /* names and keys, NUL-terminated, packed */
    size_t strs_len, strs_cap;
    cix_user *users;
    cix_key *keys;
    uint32_t nusers, users_cap, nkeys, keys_cap;
    uint32_t *utab, *ktab; /* open addressing: index + 1, 0 empty; sizes are powers of 2 */
    size_t utab_size, ktab_size;
    char sale[ECOM_ID_MAX + 1];
} cix;

/* A new, empty, unbuilt index of sale (NULL when out of memory or too long). */
cix *ecom__cix_new(const char *sale);
void ecom__cix_free(cix *ix);
/* Empties the index, keeping its memory for the rebuild that follows. */
void ecom__cix_clear(cix *ix);
/* The ticket (user, key) got: 1 found, 0 not. */
int ecom__cix_find(const cix *ix, const char *user, const char *key, uint64_t *ticket);
/* Units the user holds or bought (0 if unknown). */
int64_t ecom__cix_units(const cix *ix, const char *user);
/* Records claim ticket of (user, key) as it now stands: live (held or committed)
 * counts qty for the user, ended does not. Idempotent: noting a claim again, in
 * the same or a later state, counts it once. ECOM_ENOMEM, or ECOM_ECORRUPT when
 * (user, key) already names another ticket. */
int ecom__cix_note(cix *ix, uint64_t ticket, const char *user, const char *key, int64_t qty,
                   int live);

#endif /* ECOM_LMDB_CLAIM_INDEX_H */
