/*
 * Group commit of inventory operations. Threads that submit at the same time are
 * served by one backend call (one transaction, one fsync): the first to arrive
 * leads, runs what is queued, and wakes the others; whoever is still queued when
 * it is done leads the next round. A hot SKU is then bound by the backend's cost
 * per batch, not per buyer.
 */
#include <string.h>

#include "internal.h"

/* Ops per backend call: large enough to amortize an fsync, small enough to bound latency. */
#define ECOM__BATCH_MAX 4096

int ecom__committer_init(ecom__committer *c)
{
    memset(c, 0, sizeof *c);
    if (pthread_mutex_init(&c->lock, NULL) != 0)
        return ECOM_ENOMEM;
    if (pthread_cond_init(&c->done, NULL) != 0) {
        pthread_mutex_destroy(&c->lock);
        return ECOM_ENOMEM;
    }
    c->ready = true;
    return ECOM_OK;
}

void ecom__committer_destroy(ecom__committer *c)
{
    if (!c->ready)
        return;
    pthread_cond_destroy(&c->done);
    pthread_mutex_destroy(&c->lock);
    ecom__free(c->scratch);
    c->ready = false;
}

/* Takes up to ECOM__BATCH_MAX queued jobs, oldest first. Called with the lock held. */
static ecom__job *take_batch(ecom__committer *c, size_t *n)
{
    ecom__job *first = c->head, *last = NULL;
    size_t count = 0;
    for (ecom__job *j = first; j && count < ECOM__BATCH_MAX; j = j->next) {
        last = j;
        count++;
    }
    c->head = last ? last->next : NULL;
    if (c->head == NULL)
        c->tail = NULL;
    if (last)
        last->next = NULL;
    *n = count;
    return first;
}

/* Runs one batch outside the lock: copy in, one backend call, copy results out. */
static void run_batch(ecom_store *store, ecom__committer *c, ecom__job *jobs, size_t n)
{
    if (n > c->scratch_cap) {
        ecom_inventory_op *grown = ecom__realloc(c->scratch, n * sizeof *grown);
        if (grown == NULL) {
            for (ecom__job *j = jobs; j; j = j->next)
                j->op->result = ECOM_ENOMEM;
            return;
        }
        c->scratch = grown;
        c->scratch_cap = n;
    }
    size_t i = 0;
    for (ecom__job *j = jobs; j; j = j->next)
        c->scratch[i++] = *j->op;
    int rc = store->be->inventory_apply(store->be, c->scratch, n, ecom__now(store));
    i = 0;
    for (ecom__job *j = jobs; j; j = j->next, i++) {
        *j->op = c->scratch[i];
        if (rc != ECOM_OK)
            j->op->result = rc;
    }
}

int ecom__committer_submit(ecom_store *store, ecom_inventory_op *op)
{
    ecom__committer *c = &store->committer;
    ecom__job job = {.op = op};
    pthread_mutex_lock(&c->lock);
    if (c->tail)
        c->tail->next = &job;
    else
        c->head = &job;
    c->tail = &job;
    while (!job.done) {
        if (c->leading) {
            pthread_cond_wait(&c->done, &c->lock);
            continue;
        }
        c->leading = true;
        size_t n;
        ecom__job *batch = take_batch(c, &n);
        pthread_mutex_unlock(&c->lock);
        run_batch(store, c, batch, n);
        pthread_mutex_lock(&c->lock);
        for (ecom__job *j = batch, *next; j; j = next) {
            next = j->next; /* j may go away as soon as it is marked done */
            j->done = true;
        }
        c->leading = false;
        c->batches++;
        c->batched_ops += n;
        pthread_cond_broadcast(&c->done);
    }
    pthread_mutex_unlock(&c->lock);
    return op->result;
}
