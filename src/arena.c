/*
 * The product arena: a chain of chunks holding every string and array of one
 * product, freed all at once. Allocations are aligned to max_align_t (strings to
 * 1 byte), and each new chunk doubles the last, up to ARENA_GROWTH_MAX.
 */
#include <stdalign.h>
#include <stddef.h>
#include <string.h>

#include "internal.h"

#define ARENA_ALIGN ((size_t)alignof(max_align_t))
/* The header is padded so that the data after it keeps malloc's alignment. */
#define ARENA_HEADER \
    ((sizeof(ecom__arena_chunk) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN)
/* A typical product (a few variants, short texts) fits in the first chunk. */
#define ARENA_FIRST_CHUNK ((size_t)1024)
/* Beyond this, doubling wastes more than it saves in malloc calls. */
#define ARENA_GROWTH_MAX ((size_t)1 << 20)

static unsigned char *chunk_data(ecom__arena_chunk *c)
{
    return (unsigned char *)c + ARENA_HEADER;
}

static ecom__arena_chunk *chunk_new(size_t size)
{
    if (size > SIZE_MAX - ARENA_HEADER)
        return NULL;
    ecom__arena_chunk *c = ecom__malloc(ARENA_HEADER + size);
    if (c == NULL)
        return NULL;
    c->next = NULL;
    c->used = 0;
    c->size = size;
    return c;
}

/* Takes size bytes aligned to align (a power of two) from c, or NULL if they
 * do not fit. The chunk's data is max-aligned, so aligning the offset suffices. */
static void *chunk_take(ecom__arena_chunk *c, size_t size, size_t align)
{
    if (c->used > SIZE_MAX - (align - 1))
        return NULL;
    size_t at = (c->used + align - 1) & ~(align - 1);
    if (at > c->size || size > c->size - at)
        return NULL;
    c->used = at + size;
    return chunk_data(c) + at;
}

static size_t next_chunk_size(const ecom__arena *a)
{
    if (a->head == NULL)
        return ARENA_FIRST_CHUNK;
    if (a->head->size >= ARENA_GROWTH_MAX / 2)
        return ARENA_GROWTH_MAX;
    return a->head->size * 2;
}

static void *arena_take(ecom__arena *a, size_t size, size_t align)
{
    if (a->head) {
        void *p = chunk_take(a->head, size, align);
        if (p)
            return p;
    }
    size_t next = next_chunk_size(a);
    if (size > next / 2) {
        /* A big block gets a chunk of its own, linked behind the head so that the
         * head's free space stays in use for the small allocations to come. */
        ecom__arena_chunk *c = chunk_new(size);
        if (c == NULL)
            return NULL;
        if (a->head) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            a->head = c;
        }
        return chunk_take(c, size, 1);
    }
    ecom__arena_chunk *c = chunk_new(next);
    if (c == NULL)
        return NULL;
    c->next = a->head;
    a->head = c;
    return chunk_take(c, size, align);
}

void *ecom__arena_alloc(ecom__arena *a, size_t size)
{
    return arena_take(a, size, ARENA_ALIGN);
}

int ecom__arena_reserve(ecom__arena *a, size_t size)
{
    if (a->head) {
        size_t room = a->head->size - a->head->used;
        if (room >= ARENA_ALIGN && room - ARENA_ALIGN >= size)
            return ECOM_OK;
    }
    ecom__arena_chunk *c = chunk_new(size);
    if (c == NULL)
        return ECOM_ENOMEM;
    c->next = a->head;
    a->head = c;
    return ECOM_OK;
}

char *ecom__arena_strndup(ecom__arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *d = arena_take(a, n + 1, 1);
    if (d == NULL)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void ecom__arena_free(ecom__arena *a)
{
    ecom__arena_chunk *c = a->head;
    while (c) {
        ecom__arena_chunk *next = c->next;
        ecom__free(c);
        c = next;
    }
    a->head = NULL;
}
