/*
 * Group commit of writes (inventory, carts, orders, idempotency keys, payments).
 * Threads that submit at the same time are served by one backend call, write_batch
 * (one transaction, one fsync, whatever kinds the batch mixes; a backend without
 * it gets one call per kind present): the first to arrive
 * leads, runs what is queued, wakes the threads it served, and hands the lead to
 * the oldest job still queued. A hot SKU is then bound by the backend's cost per
 * batch, not per buyer.
 *
 * Waking is the expensive part on machines with few cores (a wake-up is an
 * inter-processor interrupt, and under virtualization a VM exit), so each waiter
 * sleeps on its own word and is woken exactly once, outside the queue's lock, and
 * never has to take the lock again on its way out.
 *
 * A leader may first wait a little for the threads the last batch served, so that a
 * few threads share batches instead of taking turns (gather_waiters).
 *
 * Asynchronous jobs (ecom_flash_claim_submit) have no thread waiting: they carry a
 * completion function, and a committer thread, started on first use, leads while
 * only they are queued. A sync leader that finds one at the head of the queue hands
 * the lead to that thread instead.
 */
#ifdef __linux__
#define _DEFAULT_SOURCE /* syscall() */
#endif
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#else
#include <sched.h>
#endif

#include "internal.h"

/* Ops per backend call: large enough to amortize an fsync, small enough to bound latency. */
#define ECOM__BATCH_MAX 4096
/* The longest a leader waits for the threads the last batch served (gather_waiters). */
#define ECOM__GATHER_MAX_NS 250000

enum { JOB_WAITING = 0, JOB_DONE = 1, JOB_LEAD = 2 };

static void job_wait(ecom__job *job)
{
    while (atomic_load_explicit(&job->state, memory_order_acquire) == JOB_WAITING) {
#ifdef __linux__
        syscall(SYS_futex, &job->state, FUTEX_WAIT_PRIVATE, JOB_WAITING, NULL, NULL, 0);
#else
        sched_yield();
#endif
    }
}

/* Sets the state and wakes the job's thread. The job lives on that thread's stack and
 * may be gone as soon as the store is seen: a late wake of a reused address is
 * harmless, since every waiter re-checks its own word. */
static void job_wake(ecom__job *job, uint32_t state)
{
    atomic_store_explicit(&job->state, state, memory_order_release);
#ifdef __linux__
    syscall(SYS_futex, &job->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#endif
}

int ecom__committer_init(ecom__committer *c)
{
    memset(c, 0, sizeof *c);
    if (pthread_mutex_init(&c->lock, NULL) != 0)
        return ECOM_ENOMEM;
    if (pthread_cond_init(&c->work, NULL) != 0) {
        pthread_mutex_destroy(&c->lock);
        return ECOM_ENOMEM;
    }
    c->ready = true;
    ecom__committer_fit(c, ECOM_BACKEND_VERSION);
    return ECOM_OK;
}

void ecom__committer_destroy(ecom_store *store)
{
    ecom__committer *c = &store->committer;
    if (!c->ready)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_signal(&c->work);
    pthread_mutex_unlock(&c->lock);
    if (c->thread_started)
        pthread_join(c->thread, NULL); /* it completes what is queued first */
    pthread_cond_destroy(&c->work);
    pthread_mutex_destroy(&c->lock);
    for (size_t k = 0; k < ECOM__WRITE_KINDS; k++)
        ecom__free(c->scratch[k]);
    ecom__free(c->items);
    c->ready = false;
}

static void passenger_done(ecom__job *job);

/* Takes up to ECOM__BATCH_MAX queued jobs, oldest first, and never part of a group (a
 * passenger goes with the rest of its group: one unit, and no dependent without its
 * anchor). Called with the lock held. */
static ecom__job *take_batch(ecom__committer *c, size_t *n)
{
    ecom__job *first = c->head, *last = NULL;
    size_t count = 0;
    uint32_t served = 0; /* jobs a thread waits on */
    for (ecom__job *j = first;
         j && (count < ECOM__BATCH_MAX || last->complete == passenger_done); j = j->next) {
        last = j;
        count++;
        served += j->complete == NULL;
    }
    c->head = last ? last->next : NULL;
    if (c->head == NULL)
        c->tail = NULL;
    if (last)
        last->next = NULL;
    atomic_fetch_sub_explicit(&c->waiting, served, memory_order_relaxed);
    c->served = served;
    *n = count;
    return first;
}

/* How the committer handles one kind of write: the op's size, the backend call, and
 * where the op keeps its result. */
typedef struct write_kind {
    size_t size;
    int (*apply)(ecom_backend *be, void *ops, size_t n, int64_t now);
    void (*set_result)(void *op, int rc);
} write_kind;

static int apply_inventory(ecom_backend *be, void *ops, size_t n, int64_t now)
{
    return be->inventory_apply(be, ops, n, now);
}

static int apply_cart(ecom_backend *be, void *ops, size_t n, int64_t now)
{
    return be->cart_apply(be, ops, n, now);
}

static int apply_order(ecom_backend *be, void *ops, size_t n, int64_t now)
{
    return be->order_apply(be, ops, n, now);
}

static int apply_idem(ecom_backend *be, void *ops, size_t n, int64_t now)
{
    return be->idem_apply(be, ops, n, now);
}

static int apply_payment(ecom_backend *be, void *ops, size_t n, int64_t now)
{
    return be->payment_apply(be, ops, n, now);
}

static void result_inventory(void *op, int rc)
{
    ((ecom_inventory_op *)op)->result = rc;
}

static void result_cart(void *op, int rc)
{
    ((ecom_cart_op *)op)->result = rc;
}

static void result_order(void *op, int rc)
{
    ((ecom_order_op *)op)->result = rc;
}

static void result_idem(void *op, int rc)
{
    ((ecom_idem_op *)op)->op_result = rc;
}

static void result_payment(void *op, int rc)
{
    ((ecom_payment_op *)op)->result = rc;
}

static const write_kind write_kinds[ECOM__WRITE_KINDS] = {
    [ECOM__WRITE_INVENTORY] = {sizeof(ecom_inventory_op), apply_inventory, result_inventory},
    [ECOM__WRITE_CART] = {sizeof(ecom_cart_op), apply_cart, result_cart},
    [ECOM__WRITE_ORDER] = {sizeof(ecom_order_op), apply_order, result_order},
    [ECOM__WRITE_IDEM] = {sizeof(ecom_idem_op), apply_idem, result_idem},
    [ECOM__WRITE_PAYMENT] = {sizeof(ecom_payment_op), apply_payment, result_payment},
};

void ecom__committer_fit(ecom__committer *c, int backend_version)
{
    for (size_t k = 0; k < ECOM__WRITE_KINDS; k++)
        c->op_size[k] = write_kinds[k].size;
    if (backend_version < 5) { /* before TAKE's lines, and a claim's user, were appended */
        c->op_size[ECOM__WRITE_CART] = offsetof(ecom_cart_op, skus);
        c->op_size[ECOM__WRITE_INVENTORY] =
            offsetof(ecom_inventory_op, claim) + offsetof(ecom_claim_result, user);
    }
}

ecom_inventory_op *ecom__inventory_array(ecom_store *store, ecom_inventory_op *inv, size_t n,
                                         void **copy)
{
    size_t size = store->committer.op_size[ECOM__WRITE_INVENTORY];
    *copy = NULL;
    if (n == 0 || size == sizeof *inv)
        return inv;
    char *narrow = ecom__calloc(n, size);
    for (size_t i = 0; narrow && i < n; i++)
        memcpy(narrow + size * i, &inv[i], size);
    *copy = narrow;
    return (ecom_inventory_op *)narrow;
}

void ecom__inventory_array_done(ecom_store *store, ecom_inventory_op *inv, size_t n, void *copy)
{
    size_t size = store->committer.op_size[ECOM__WRITE_INVENTORY];
    for (size_t i = 0; copy && i < n; i++)
        memcpy(&inv[i], (const char *)copy + size * i, size);
    ecom__free(copy);
}

/* The older layouts are prefixes only while the grown parts stay at the ends. */
_Static_assert(offsetof(ecom_inventory_op, claim) + sizeof(ecom_claim_result) ==
                   sizeof(ecom_inventory_op),
               "the claim is an inventory op's last member");

/* Makes room for n ops of kind k in the leader's scratch array. */
static int scratch_for(ecom__committer *c, ecom__write_kind k, size_t n)
{
    if (n <= c->scratch_cap[k])
        return ECOM_OK;
    void *grown = ecom__realloc(c->scratch[k], n * c->op_size[k]);
    if (grown == NULL)
        return ECOM_ENOMEM;
    c->scratch[k] = grown;
    c->scratch_cap[k] = n;
    return ECOM_OK;
}

/* Copies the batch's ops of kind k (n of them) into the kind's scratch array, in
 * queue order: the backend works on contiguous copies, never on the submitters'. */
static int gather(ecom__committer *c, ecom__job *jobs, ecom__write_kind k, size_t n)
{
    int rc = scratch_for(c, k, n);
    if (rc != ECOM_OK)
        return rc;
    char *scratch = c->scratch[k];
    size_t i = 0;
    for (ecom__job *j = jobs; j; j = j->next)
        if (j->kind == k)
            memcpy(scratch + c->op_size[k] * i++, j->op, c->op_size[k]);
    return ECOM_OK;
}

/* Hands the results of kind k back to the jobs: the copies if gather made them
 * (copied), and rc as every result if the unit failed. */
static void scatter(ecom__committer *c, ecom__job *jobs, ecom__write_kind k, bool copied,
                    int rc)
{
    const write_kind *wk = &write_kinds[k];
    size_t size = c->op_size[k];
    const char *scratch = c->scratch[k];
    size_t i = 0;
    for (ecom__job *j = jobs; j; j = j->next) {
        if (j->kind != k)
            continue;
        if (copied)
            memcpy(j->op, scratch + size * i++, size);
        if (rc != ECOM_OK)
            wk->set_result(j->op, rc);
    }
}

static uint64_t elapsed_ns(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (uint64_t)((t1.tv_sec - t0->tv_sec) * 1000000000L + (t1.tv_nsec - t0->tv_nsec));
}

/*
 * Waits a little before a batch for the threads the last one served, as PostgreSQL's
 * commit_delay does. The threads a batch wakes spend a while on their next request,
 * and a leader that started at once would take only the first of them, leaving the
 * rest to a batch of their own: with few threads every batch then serves one, and
 * pays a whole fsync for it. So when the last batch served several threads and fewer
 * are queued now, the leader sleeps until as many are, or for a quarter of the last
 * batch's time (at most ECOM__GATHER_MAX_NS), whichever comes first. A lone thread,
 * and a stream of asynchronous jobs, never wait.
 */
static void gather_waiters(ecom__committer *c)
{
#ifdef __linux__
    pthread_mutex_lock(&c->lock);
    uint32_t want = c->served;
    uint64_t budget = c->last_batch_ns / 4;
    pthread_mutex_unlock(&c->lock);
    if (want < 2 || atomic_load_explicit(&c->waiting, memory_order_relaxed) >= want)
        return;
    if (budget > ECOM__GATHER_MAX_NS)
        budget = ECOM__GATHER_MAX_NS;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* A submitter that brings the count to want after this wakes the leader; one that
     * came before changed the word, and the futex wait returns at once. */
    atomic_store(&c->gather_until, want);
    for (;;) {
        uint32_t now_waiting = atomic_load_explicit(&c->waiting, memory_order_relaxed);
        uint64_t spent = elapsed_ns(&t0);
        if (now_waiting >= want || spent >= budget)
            break;
        struct timespec left = {0, (long)(budget - spent)};
        syscall(SYS_futex, &c->waiting, FUTEX_WAIT_PRIVATE, now_waiting, &left, NULL, 0);
    }
    atomic_store_explicit(&c->gather_until, 0, memory_order_relaxed);
#else
    (void)c;
#endif
}

/* Counts a thread whose job was just queued, and wakes a gathering leader that waits
 * for this many. Called with the lock held. */
static void count_waiting(ecom__committer *c)
{
    uint32_t now_waiting = atomic_fetch_add_explicit(&c->waiting, 1, memory_order_relaxed) + 1;
    uint32_t want = atomic_load(&c->gather_until);
#ifdef __linux__
    if (want && now_waiting >= want)
        syscall(SYS_futex, &c->waiting, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#else
    (void)now_waiting;
    (void)want;
#endif
}

/* Runs the jobs of one kind as one backend call: copy in, call, copy results out. */
static void run_kind(ecom_store *store, ecom__committer *c, ecom__job *jobs,
                     ecom__write_kind k, size_t n)
{
    int rc = gather(c, jobs, k, n);
    bool copied = rc == ECOM_OK;
    if (copied)
        rc = write_kinds[k].apply(store->be, c->scratch[k], n, ecom__now(store));
    scatter(c, jobs, k, copied, rc);
}

/* Makes room for n items in the leader's write_batch array. */
static int items_for(ecom__committer *c, size_t n)
{
    if (n <= c->items_cap)
        return ECOM_OK;
    ecom_write_item *grown = ecom__realloc(c->items, n * sizeof *grown);
    if (grown == NULL)
        return ECOM_ENOMEM;
    c->items = grown;
    c->items_cap = n;
    return ECOM_OK;
}

/* Runs the whole batch as one write_batch call: one transaction, one fsync, however
 * many kinds it mixes. The items go in queue order, which keeps each group's jobs
 * side by side and in the order their submitter gave (a dependent right after its
 * anchor); each kind's ops are copied in that same order, so consecutive jobs of one
 * kind are one run the backend judges in one go. */
static void run_mixed(ecom_store *store, ecom__committer *c, ecom__job *jobs,
                      const size_t count[ECOM__WRITE_KINDS], size_t n)
{
    bool copied[ECOM__WRITE_KINDS] = {false};
    int rc = items_for(c, n);
    for (size_t k = 0; k < ECOM__WRITE_KINDS && rc == ECOM_OK; k++)
        if (count[k])
            copied[k] = (rc = gather(c, jobs, (ecom__write_kind)k, count[k])) == ECOM_OK;
    if (rc == ECOM_OK) {
        size_t m = 0, at[ECOM__WRITE_KINDS] = {0};
        for (ecom__job *j = jobs; j; j = j->next) {
            ecom__write_kind k = j->kind;
            c->items[m++] = (ecom_write_item){
                (int)k | (j->dependent ? ECOM_WRITE_DEPENDENT : 0),
                (char *)c->scratch[k] + c->op_size[k] * at[k]++};
        }
        rc = store->be->write_batch(store->be, c->items, m, ecom__now(store));
    }
    for (size_t k = 0; k < ECOM__WRITE_KINDS; k++)
        if (count[k])
            scatter(c, jobs, (ecom__write_kind)k, copied[k], rc);
}

/* Runs one batch outside the lock: one write_batch call when the backend has it,
 * else one backend call per kind present. */
static void run_batch(ecom_store *store, ecom__committer *c, ecom__job *jobs, size_t n)
{
    size_t count[ECOM__WRITE_KINDS] = {0};
    for (ecom__job *j = jobs; j; j = j->next)
        count[j->kind]++;
    if (store->be->version >= 3 && store->be->write_batch) {
        run_mixed(store, c, jobs, count, n);
        return;
    }
    /* Idempotency keys first, so that a request may claim its key and create the
     * order naming it in one batch (no dependents reach this path). */
    static const ecom__write_kind kind_order[ECOM__WRITE_KINDS] = {
        ECOM__WRITE_IDEM, ECOM__WRITE_INVENTORY, ECOM__WRITE_CART, ECOM__WRITE_ORDER,
        ECOM__WRITE_PAYMENT};
    for (size_t a = 0; a < ECOM__WRITE_KINDS; a++)
        if (count[kind_order[a]])
            run_kind(store, c, jobs, kind_order[a], count[kind_order[a]]);
}

/* Tells every job of a finished batch. A job's memory belongs to its owner again as
 * soon as it is told, so the next pointer is read first. */
static void complete_batch(ecom__job *batch, ecom__job *self)
{
    for (ecom__job *j = batch, *after; j; j = after) {
        after = j->next;
        if (j == self)
            atomic_store_explicit(&self->state, JOB_DONE, memory_order_relaxed);
        else if (j->complete)
            j->complete(j);
        else
            job_wake(j, JOB_DONE);
    }
}

/* Who may take the lead from the head of the queue: the thread waiting on the head
 * job, or on the last job of the group the head begins (its passengers are done with
 * it), never an asynchronous job; NULL then, and the committer thread leads. */
static ecom__job *successor(ecom__job *head)
{
    while (head && head->complete == passenger_done)
        head = head->next;
    return head && head->complete == NULL ? head : NULL;
}

/*
 * Leads batches: a thread with a job of its own (self) until that job is done, then
 * hands the lead to the next queued job's thread, or to the committer thread if that
 * job is asynchronous; the committer thread (self NULL) until the queue is empty.
 * Called with c->leading set by the caller.
 */
static void lead(ecom_store *store, ecom__committer *c, ecom__job *self)
{
    for (;;) {
        size_t n;
        gather_waiters(c);
        pthread_mutex_lock(&c->lock);
        ecom__job *batch = take_batch(c, &n);
        pthread_mutex_unlock(&c->lock);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (n)
            run_batch(store, c, batch, n);
        uint64_t took = elapsed_ns(&t0);

        pthread_mutex_lock(&c->lock);
        if (n)
            c->last_batch_ns = took;
        bool mine = self == NULL ||
                    atomic_load_explicit(&self->state, memory_order_relaxed) == JOB_DONE;
        for (ecom__job *j = batch; j && !mine; j = j->next)
            mine = j == self;
        ecom__job *next = NULL;
        bool go_on = !mine || (self == NULL && c->head != NULL);
        if (!go_on) {
            next = successor(c->head);
            c->leading = next != NULL; /* a sync successor inherits the lead */
            if (c->head && next == NULL)
                pthread_cond_signal(&c->work); /* async work left: the thread leads */
        }
        pthread_mutex_unlock(&c->lock);

        /* The successor first: it starts the next batch while this thread wakes the
         * ones it served (a wake is a system call each, and on 2 cores they overlap). */
        if (next)
            job_wake(next, JOB_LEAD); /* it is still queued, so still alive */
        complete_batch(batch, self);
        if (go_on)
            continue;
        return;
    }
}

/* The committer thread: leads whenever asynchronous jobs wait and nobody leads. */
static void *committer_main(void *arg)
{
    ecom_store *store = arg;
    ecom__committer *c = &store->committer;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        if (c->head && !c->leading) {
            c->leading = true;
            pthread_mutex_unlock(&c->lock);
            lead(store, c, NULL);
            pthread_mutex_lock(&c->lock);
            continue;
        }
        if (c->stopping && c->head == NULL && !c->leading)
            break;
        pthread_cond_wait(&c->work, &c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static void enqueue(ecom__committer *c, ecom__job *job)
{
    job->next = NULL;
    if (c->tail)
        c->tail->next = job;
    else
        c->head = job;
    c->tail = job;
}

/* Starts the committer thread if it is not running. Called with the lock held. */
static int ensure_thread(ecom_store *store, ecom__committer *c)
{
    if (c->thread_started)
        return ECOM_OK;
    if (pthread_create(&c->thread, NULL, committer_main, store) != 0)
        return ECOM_ENOMEM;
    c->thread_started = true;
    return ECOM_OK;
}

int ecom__committer_submit_async(ecom_store *store, ecom__job *job)
{
    ecom__committer *c = &store->committer;
    atomic_init(&job->state, JOB_WAITING);
    pthread_mutex_lock(&c->lock);
    int rc = ensure_thread(store, c);
    if (rc == ECOM_OK) {
        enqueue(c, job);
        if (!c->leading)
            pthread_cond_signal(&c->work);
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* A passenger: a job of a group whose last job's thread waits for them all. */
static void passenger_done(ecom__job *job)
{
    (void)job;
}

/*
 * Queues n jobs side by side (so they share a batch) and waits for the last; leads if
 * nobody does. The jobs before the last are passengers: nobody sleeps on them and the
 * lead is never handed to them (the committer thread takes it instead), and since a
 * batch completes its jobs in queue order, they are done when the last one is.
 */
static int submit_and_wait(ecom_store *store, ecom__job *jobs, size_t n)
{
    ecom__committer *c = &store->committer;
    ecom__job *last = &jobs[n - 1];
    for (size_t i = 0; i < n; i++) {
        atomic_init(&jobs[i].state, JOB_WAITING);
        jobs[i].complete = i + 1 < n ? passenger_done : NULL;
    }
    pthread_mutex_lock(&c->lock);
    if (n > 1 && ensure_thread(store, c) != ECOM_OK) {
        pthread_mutex_unlock(&c->lock);
        return ECOM_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        enqueue(c, &jobs[i]);
    count_waiting(c);
    bool leader = !c->leading;
    c->leading = true;
    pthread_mutex_unlock(&c->lock);
    if (!leader)
        job_wait(last);
    if (leader || atomic_load_explicit(&last->state, memory_order_acquire) == JOB_LEAD)
        lead(store, c, last);
    return ECOM_OK;
}

int ecom__committer_submit(ecom_store *store, ecom_inventory_op *op)
{
    ecom__job job = {.kind = ECOM__WRITE_INVENTORY, .op = op};
    submit_and_wait(store, &job, 1);
    return op->result;
}

/* Whether the backend has the kind's batch operation (the contract version that
 * added it, and the pointer). */
static bool supported(const ecom_backend *be, ecom__write_kind kind)
{
    switch (kind) {
    case ECOM__WRITE_INVENTORY: return be->version >= 2 && be->inventory_apply;
    case ECOM__WRITE_CART: return be->version >= 3 && be->cart_apply;
    case ECOM__WRITE_ORDER: return be->version >= 3 && be->order_apply;
    case ECOM__WRITE_IDEM: return be->version >= 3 && be->idem_apply;
    case ECOM__WRITE_PAYMENT: return be->version >= 3 && be->payment_apply;
    default: return false;
    }
}

/* The result an op of this kind carries. */
static int result_of(ecom__write_kind kind, const void *op)
{
    switch (kind) {
    case ECOM__WRITE_INVENTORY: return ((const ecom_inventory_op *)op)->result;
    case ECOM__WRITE_CART: return ((const ecom_cart_op *)op)->result;
    case ECOM__WRITE_ORDER: return ((const ecom_order_op *)op)->result;
    case ECOM__WRITE_IDEM: return ((const ecom_idem_op *)op)->op_result;
    default: return ((const ecom_payment_op *)op)->result;
    }
}

int ecom__commit_chain(ecom_store *store, const ecom__write_kind *kinds, void *const *ops,
                       size_t n, size_t anchor)
{
    ecom__job jobs[ECOM__GROUP_MAX];
    if (n == 0 || n > ECOM__GROUP_MAX || anchor >= n)
        return ECOM_EINVAL;
    /* A backend that cannot skip a dependent gets the chain one wait at a time. */
    bool atomic = store->be->version >= 4 && store->be->write_batch;
    for (size_t i = 0; i < n; i++) {
        if (!supported(store->be, kinds[i]))
            return ECOM_EUNSUPPORTED;
        write_kinds[kinds[i]].set_result(ops[i], ECOM_OK);
        jobs[i] = (ecom__job){.kind = kinds[i], .dependent = atomic && i > anchor,
                              .op = ops[i]};
    }
    int rc = submit_and_wait(store, jobs, atomic ? n : anchor + 1);
    int anchor_rc = result_of(kinds[anchor], ops[anchor]);
    for (size_t i = anchor + 1; !atomic && rc == ECOM_OK && i < n; i++) {
        if (anchor_rc != ECOM_OK)
            write_kinds[kinds[i]].set_result(ops[i], anchor_rc);
        else
            rc = submit_and_wait(store, &jobs[i], 1);
    }
    for (size_t i = 0; rc == ECOM_OK && i < n; i++)
        rc = result_of(kinds[i], ops[i]);
    return rc;
}

int ecom__commit_group(ecom_store *store, const ecom__write_kind *kinds, void *const *ops,
                       size_t n)
{
    return ecom__commit_chain(store, kinds, ops, n, n ? n - 1 : 0);
}

int ecom__commit(ecom_store *store, ecom__write_kind kind, void *op)
{
    return ecom__commit_group(store, &kind, &op, 1);
}
