/* The one allocator hook, and the small buffers built on it. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void *default_malloc(void *ctx, size_t size)
{
    ECOM__UNUSED(ctx);
    return malloc(size);
}

static void *default_realloc(void *ctx, void *ptr, size_t size)
{
    ECOM__UNUSED(ctx);
    return realloc(ptr, size);
}

static void default_free(void *ctx, void *ptr)
{
    ECOM__UNUSED(ctx);
    free(ptr);
}

static ecom_allocator allocator = {ECOM_ALLOCATOR_VERSION, default_malloc, default_realloc,
                                   default_free, NULL};

_Thread_local unsigned long ecom__alloc_failures;

/* cJSON's hooks take no context, so they go through ours. */
static void *cjson_malloc(size_t size)
{
    return ecom__malloc(size);
}

static void cjson_free(void *ptr)
{
    ecom__free(ptr);
}

int ecom_set_allocator(const ecom_allocator *a)
{
    if (a == NULL) {
        allocator = (ecom_allocator){ECOM_ALLOCATOR_VERSION, default_malloc, default_realloc,
                                     default_free, NULL};
        cJSON_InitHooks(NULL);
        return ECOM_OK;
    }
    if (a->version != ECOM_ALLOCATOR_VERSION)
        return ECOM_EVERSION;
    if (a->malloc == NULL || a->realloc == NULL || a->free == NULL)
        return ECOM_EINVAL;
    allocator = *a;
    cJSON_Hooks hooks = {cjson_malloc, cjson_free};
    cJSON_InitHooks(&hooks);
    return ECOM_OK;
}

void *ecom__malloc(size_t size)
{
    void *p = allocator.malloc(allocator.ctx, size ? size : 1);
    if (p == NULL)
        ecom__alloc_failures++;
    return p;
}

void *ecom__calloc(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    void *p = ecom__malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *ecom__realloc(void *ptr, size_t size)
{
    void *p = allocator.realloc(allocator.ctx, ptr, size ? size : 1);
    if (p == NULL)
        ecom__alloc_failures++;
    return p;
}

void ecom__free(void *ptr)
{
    if (ptr)
        allocator.free(allocator.ctx, ptr);
}

void ecom_free(void *ptr)
{
    ecom__free(ptr);
}

char *ecom__strndup(const char *s, size_t n)
{
    char *d = ecom__malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *ecom__strdup(const char *s)
{
    return ecom__strndup(s, strlen(s));
}

int ecom__buf_reserve(ecom__buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len)
        return ECOM_ENOMEM;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return ECOM_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *d = ecom__realloc(b->data, cap);
    if (d == NULL)
        return ECOM_ENOMEM;
    b->data = d;
    b->cap = cap;
    return ECOM_OK;
}

int ecom__buf_put(ecom__buf *b, const void *data, size_t len)
{
    int rc = ecom__buf_reserve(b, len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    return ECOM_OK;
}

int ecom__buf_putc(ecom__buf *b, char c)
{
    return ecom__buf_put(b, &c, 1);
}

void ecom__buf_free(ecom__buf *b)
{
    ecom__free(b->data);
    *b = (ecom__buf){0};
}
