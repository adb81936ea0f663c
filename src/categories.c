/* The category tree: paths in use, their ancestors, and product counts. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct category_entry {
    char *path;
    size_t depth;
    uint64_t direct, total;
} category_entry;

struct ecom_categories {
    category_entry *entries;
    size_t count, cap;
};

static int add_entry(ecom_categories *c, const char *path, size_t len, uint64_t direct)
{
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        category_entry *e = ecom__realloc(c->entries, cap * sizeof *e);
        if (e == NULL)
            return ECOM_ENOMEM;
        c->entries = e;
        c->cap = cap;
    }
    char *copy = ecom__strndup(path, len);
    if (copy == NULL)
        return ECOM_ENOMEM;
    size_t depth = 0;
    for (size_t i = 0; i < len; i++)
        depth += path[i] == '/';
    c->entries[c->count++] = (category_entry){copy, depth, direct, 0};
    return ECOM_OK;
}

/* Each path in use, and each of its ancestors with no products of its own. */
static int category_fn(void *ctx, const char *path, uint64_t products)
{
    ecom_categories *c = ctx;
    if (*path == '\0')
        return ECOM_OK; /* uncategorised products are not a category */
    for (const char *slash = strchr(path, '/'); slash; slash = strchr(slash + 1, '/')) {
        int rc = add_entry(c, path, (size_t)(slash - path), 0);
        if (rc != ECOM_OK)
            return rc;
    }
    return add_entry(c, path, strlen(path), products);
}

/* Segment-wise order, so that a category's subtree follows it ("a", "a/b", "a-x"). */
static int compare_paths(const void *a, const void *b)
{
    const unsigned char *x = (const unsigned char *)((const category_entry *)a)->path;
    const unsigned char *y = (const unsigned char *)((const category_entry *)b)->path;
    for (;; x++, y++) {
        int cx = *x == '/' ? 1 : *x, cy = *y == '/' ? 1 : *y;
        if (cx != cy || cx == 0)
            return cx - cy;
    }
}

static bool in_subtree(const char *path, const char *root, size_t root_len)
{
    return strncmp(path, root, root_len) == 0 && (path[root_len] == '\0' || path[root_len] == '/');
}

/* Sorts, merges duplicate ancestors and sums each subtree. */
static void finish(ecom_categories *c)
{
    qsort(c->entries, c->count, sizeof *c->entries, compare_paths);
    size_t kept = 0;
    for (size_t i = 0; i < c->count; i++) {
        if (kept && strcmp(c->entries[kept - 1].path, c->entries[i].path) == 0) {
            c->entries[kept - 1].direct += c->entries[i].direct;
            ecom__free(c->entries[i].path);
        } else {
            c->entries[kept++] = c->entries[i];
        }
    }
    c->count = kept;
    for (size_t i = 0; i < c->count; i++) {
        size_t len = strlen(c->entries[i].path);
        for (size_t j = i; j < c->count && in_subtree(c->entries[j].path, c->entries[i].path, len);
             j++)
            c->entries[i].total += c->entries[j].direct;
    }
}

int ecom_catalog_categories(ecom_categories **out, ecom_store *store)
{
    if (out == NULL)
        return store ? ecom__fail(store, ECOM_EINVAL, "out: NULL") : ECOM_EINVAL;
    *out = NULL;
    int rc = ecom__enter(store);
    if (rc != ECOM_OK)
        return rc;
    ecom_categories *c = ecom__calloc(1, sizeof *c);
    if (c == NULL)
        return ecom__fail(store, ECOM_ENOMEM, "out of memory");
    rc = store->be->category_list(store->be, category_fn, c);
    if (rc != ECOM_OK) {
        ecom_categories_free(c);
        return ecom_errcode(store) == rc
                   ? rc
                   : ecom__fail(store, rc, "listing categories: %s", ecom_strerror(rc));
    }
    finish(c);
    *out = c;
    return ECOM_OK;
}

size_t ecom_categories_count(const ecom_categories *c)
{
    return c ? c->count : 0;
}

const char *ecom_categories_path(const ecom_categories *c, size_t i)
{
    return c && i < c->count ? c->entries[i].path : NULL;
}

size_t ecom_categories_depth(const ecom_categories *c, size_t i)
{
    return c && i < c->count ? c->entries[i].depth : 0;
}

uint64_t ecom_categories_direct(const ecom_categories *c, size_t i)
{
    return c && i < c->count ? c->entries[i].direct : 0;
}

uint64_t ecom_categories_total(const ecom_categories *c, size_t i)
{
    return c && i < c->count ? c->entries[i].total : 0;
}

void ecom_categories_free(ecom_categories *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->count; i++)
        ecom__free(c->entries[i].path);
    ecom__free(c->entries);
    ecom__free(c);
}
