/*
 * Product search, inside the library: the parts and how they meet.
 *
 *   search_text.c     text analysis: UTF-8 tokens, case and accent folding, English
 *                     stemming (libstemmer), one-typo variants
 *   search_query.c    the query language, parsed into an ecom_search_request
 *   search_index.c    the in-memory index: documents, dictionary, postings
 *   search_exec.c     running a request on the index: matching, BM25, filters,
 *                     facets, sorting, cursors
 *   search_snapshot.c saving and loading the index
 *   search.c          the public handle: build at open, the follower thread that
 *                     feeds the index from the event log, the result cache
 *
 * The store stays the truth; the index is derived, rebuilt or caught up at will.
 */
#ifndef ECOM_SEARCH_H
#define ECOM_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ecom.h"

/* ---- text analysis (search_text.c) ---- */

/* The longest token kept, in bytes of folded UTF-8; longer runs are cut there. */
#define ECOM__TOKEN_MAX 64

/*
 * Receives one token: folded (lower case, accents removed, so "Café" gives "cafe",
 * "STRASSE" and "Straße" give "strasse"), len bytes (not NUL-terminated), and its
 * position (0, 1, 2, ... within the text). A nonzero return stops the walk and is
 * returned by ecom__text_tokens.
 */
typedef int (*ecom__token_fn)(void *ctx, const char *token, size_t len, uint32_t position);

/* How ecom__text_tokens cuts runs of han, kana and hangul: into their overlapping
 * pairs of characters (QUERY, and a run of one character is that character), or
 * into those pairs and each character as well (INDEX, so that a one-character query
 * finds it). */
#define ECOM__TEXT_QUERY 0
#define ECOM__TEXT_INDEX 1

/*
 * Splits UTF-8 text into tokens: runs of letters and digits (any script), but runs of
 * han, kana and hangul into pairs (flags); everything else separates. Invalid UTF-8
 * bytes separate too (never fail). Returns 0, or the first nonzero return of fn.
 */
int ecom__text_tokens(const char *text, size_t len, int flags, ecom__token_fn fn, void *ctx);

/* Folds one string the same way as tokens (for brands, attribute values and
 * category paths compared without case or accents): out receives at most size-1
 * bytes and a NUL. Returns the folded length (cut at size-1). */
size_t ecom__text_fold(char *out, size_t size, const char *text, size_t len);

/* An English stemmer (Snowball's, through libstemmer). Not thread-safe: one per
 * thread, or under a lock. */
typedef struct ecom__stemmer ecom__stemmer;
int ecom__stemmer_new(ecom__stemmer **out); /* ECOM_ENOMEM */
void ecom__stemmer_free(ecom__stemmer *s);
/* Stems a folded token ("running" -> "run"). Writes at most ECOM__TOKEN_MAX bytes
 * and a NUL to out (ECOM__TOKEN_MAX + 1 bytes); returns the stem's length. */
size_t ecom__stem(ecom__stemmer *s, const char *token, size_t len,
                  char out[ECOM__TOKEN_MAX + 1]);

/*
 * Calls fn once for each string at Damerau-Levenshtein distance exactly 1 from token
 * (deletion, transposition of neighbours, substitution or insertion of a letter a-z
 * or a digit; on whole UTF-8 characters), possibly repeating one. A nonzero return
 * of fn stops the walk and is returned.
 */
typedef int (*ecom__variant_fn)(void *ctx, const char *variant, size_t len);
int ecom__text_edits1(const char *token, size_t len, ecom__variant_fn fn, void *ctx);

/* ---- the query language (search_query.c) ---- */

/* A parsed query: the request and the memory its strings live in. */
typedef struct ecom__parsed_query ecom__parsed_query;

/*
 * Parses the query language (docs/search.md) into a request: ECOM_OK, or
 * ECOM_EQUERY with a message naming the offending token and its byte offset in
 * errmsg (errmsg_size bytes; may be NULL), or ECOM_ENOMEM. Caller owns *out.
 */
int ecom__query_parse(ecom__parsed_query **out, const char *query, size_t len, char *errmsg,
                      size_t errmsg_size);
const ecom_search_request *ecom__query_request(const ecom__parsed_query *q);
void ecom__query_free(ecom__parsed_query *q);

/* ---- the index (search_index.c, search_exec.c, search_snapshot.c) ---- */

typedef struct ecom__sindex ecom__sindex;

/* What the index knows about a product's stock: in stock if any variant can be sold. */
int ecom__sindex_new(ecom__sindex **out);
void ecom__sindex_free(ecom__sindex *ix);

/* Adds the product, or replaces the one with its id. Products that are not active
 * are removed instead (drafts and archived products are not found by shoppers). */
int ecom__sindex_put(ecom__sindex *ix, const ecom_product *p, bool in_stock);
/* Removes a product by id (no error if absent). */
int ecom__sindex_remove(ecom__sindex *ix, const char *id);
/* Sets the stock flag of the product with this id (ECOM_ENOTFOUND if absent). */
int ecom__sindex_set_stock(ecom__sindex *ix, const char *id, bool in_stock);
/* Finishes a batch of writes: sorts the dictionary's new terms for prefix lookups and
 * drops tombstones if due. Queries are right without it, prefix lookups slower. */
int ecom__sindex_prepare(ecom__sindex *ix);

/* Checks a request against the index's rules (ECOM_EINVAL for NULLs, ECOM_EVERSION,
 * ECOM_ECURRENCY, ECOM_EQUERY for the rest, with the message naming the field in
 * errmsg). */
int ecom__sindex_check(const ecom_search_request *req, char *errmsg, size_t errmsg_size);

/* Runs a request. Caller owns *out (ecom_search_result_free). Errors: those of
 * ecom__sindex_check, ECOM_EQUERY for a malformed cursor or one of another request
 * (message in errmsg), ECOM_ENOMEM. */
int ecom__sindex_run(ecom_search_result **out, ecom__sindex *ix,
                     const ecom_search_request *req, char *errmsg, size_t errmsg_size);

/* Whether the product with this id, as the index has it now, matches the request's
 * words and filters (for dropping cached results when it changes). */
bool ecom__sindex_matches(ecom__sindex *ix, const ecom_search_request *req, const char *id);

/* A copy of r that ecom_search_result_cached reports as cached or not (for a result
 * cache). Caller owns *out. Errors: ECOM_EINVAL, ECOM_ENOMEM. */
int ecom__search_result_copy(ecom_search_result **out, const ecom_search_result *r,
                             bool cached);

/* Live products indexed, and the bytes the index holds. */
size_t ecom__sindex_products(const ecom__sindex *ix);
size_t ecom__sindex_memory(const ecom__sindex *ix);

/* The index as a file, with the event sequence it reflects; load gives ECOM_ECORRUPT
 * for a file that is not a whole snapshot of this format. */
int ecom__sindex_save(const ecom__sindex *ix, FILE *f, uint64_t applied_seq);
int ecom__sindex_load(ecom__sindex **out, FILE *f, uint64_t *applied_seq);

#endif
