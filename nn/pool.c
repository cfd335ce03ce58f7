#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define POOL_MAX 256
/* How long an idle worker (or a waiting caller) spins before it sleeps, in nanoseconds. Long
 * enough to cover the gap between two layers, short enough not to steal a core from the data
 * loader when training pauses. */
#define SPIN_NS 200000

struct pool {
    int size;
    pthread_t thr[POOL_MAX];
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    atomic_uint gen;    /* bumped to publish a region */
    atomic_int pending; /* workers still running the current region */
    atomic_int busy;    /* a caller owns the pool */
    int sleepers;       /* workers waiting on work_cv (guarded by mu) */
    int waiting;        /* caller waiting on done_cv (guarded by mu) */
    int stop;
    nn_pool_fn fn;
    void *arg;
    int nth;
};

static struct pool P;
static int started;
static _Thread_local int in_region;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct worker_arg {
    int tid;
};
static struct worker_arg wargs[POOL_MAX];

static void *worker_main(void *p) {
    int tid = ((struct worker_arg *)p)->tid;
    /* The generation the pool was created with: a region published before this thread got
     * to run must still be seen as new. */
    unsigned seen = 0;
    in_region = 1;
    for (;;) {
        unsigned g;
        uint64_t t0 = 0;
        for (unsigned spin = 0;; spin++) {
            g = atomic_load_explicit(&P.gen, memory_order_acquire);
            if (g != seen) break;
            if ((spin & 255) == 255) {
                uint64_t t = now_ns();
                if (!t0) t0 = t;
                else if (t - t0 > SPIN_NS) {
                    pthread_mutex_lock(&P.mu);
                    P.sleepers++;
                    while ((g = atomic_load(&P.gen)) == seen && !P.stop)
                        pthread_cond_wait(&P.work_cv, &P.mu);
                    P.sleepers--;
                    pthread_mutex_unlock(&P.mu);
                    break;
                }
                sched_yield(); /* a core to spare goes to whoever is runnable */
            }
            cpu_relax();
        }
        if (P.stop) return NULL;
        seen = g;
        if (tid < P.nth) P.fn(P.arg, tid, P.nth);
        if (atomic_fetch_sub_explicit(&P.pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&P.mu);
            if (P.waiting) pthread_cond_signal(&P.done_cv);
            pthread_mutex_unlock(&P.mu);
        }
    }
}

static int default_threads(void) {
    const char *e = getenv("HAQ_THREADS");
    if (e && *e) {
        int n = atoi(e);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void nn_pool_shutdown(void) {
    if (!started) return;
    pthread_mutex_lock(&P.mu);
    P.stop = 1;
    atomic_fetch_add(&P.gen, 1);
    pthread_cond_broadcast(&P.work_cv);
    pthread_mutex_unlock(&P.mu);
    for (int i = 1; i < P.size; i++) pthread_join(P.thr[i], NULL);
    pthread_mutex_destroy(&P.mu);
    pthread_cond_destroy(&P.work_cv);
    pthread_cond_destroy(&P.done_cv);
    started = 0;
}

static void shutdown_at_exit(void) { nn_pool_shutdown(); }

int nn_pool_init(int nthreads) {
    static int registered;
    if (nthreads <= 0) nthreads = default_threads();
    if (nthreads > POOL_MAX) nthreads = POOL_MAX;
    nn_pool_shutdown();
    P.size = nthreads;
    P.stop = 0;
    P.sleepers = 0;
    P.waiting = 0;
    atomic_store(&P.gen, 0);
    atomic_store(&P.pending, 0);
    atomic_store(&P.busy, 0);
    pthread_mutex_init(&P.mu, NULL);
    pthread_cond_init(&P.work_cv, NULL);
    pthread_cond_init(&P.done_cv, NULL);
    for (int i = 1; i < nthreads; i++) {
        wargs[i].tid = i;
        if (pthread_create(&P.thr[i], NULL, worker_main, &wargs[i]) != 0) {
            P.size = i; /* run with the threads we got */
            break;
        }
    }
    started = 1;
    if (!registered) {
        atexit(shutdown_at_exit);
        registered = 1;
    }
    return 0;
}

int nn_pool_size(void) {
    if (!started) nn_pool_init(0);
    return P.size;
}

/* Publish a region to the workers, run tid 0, wait for the rest; the caller owns P.busy. */
static void run_owned(nn_pool_fn fn, void *arg, int nth, int size);

void nn_pool_run(nn_pool_fn fn, void *arg, int nth) {
    int size = nn_pool_size();
    if (nth > size) nth = size;
    if (nth < 1) nth = 1;
    int expect = 0;
    if (nth == 1 || in_region || !atomic_compare_exchange_strong(&P.busy, &expect, 1)) {
        /* Serial: same partition, same arithmetic, same result. */
        int saved = in_region;
        in_region = 1;
        for (int t = 0; t < nth; t++) fn(arg, t, nth);
        in_region = saved;
        return;
    }
    run_owned(fn, arg, nth, size);
}

int nn_pool_run_parallel(nn_pool_fn fn, void *arg, int nth) {
    int size = nn_pool_size();
    if (nth > size || nth < 1 || in_region) return -1;
    if (nth == 1) {
        in_region = 1;
        fn(arg, 0, 1);
        in_region = 0;
        return 0;
    }
    int expect = 0;
    if (!atomic_compare_exchange_strong(&P.busy, &expect, 1)) return -1;
    run_owned(fn, arg, nth, size);
    return 0;
}

static void run_owned(nn_pool_fn fn, void *arg, int nth, int size) {
    P.fn = fn;
    P.arg = arg;
    P.nth = nth;
    atomic_store_explicit(&P.pending, size - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&P.gen, 1, memory_order_release);
    pthread_mutex_lock(&P.mu);
    if (P.sleepers) pthread_cond_broadcast(&P.work_cv);
    pthread_mutex_unlock(&P.mu);

    in_region = 1;
    fn(arg, 0, nth);
    in_region = 0;

    uint64_t t0 = 0;
    for (unsigned spin = 0; atomic_load_explicit(&P.pending, memory_order_acquire) > 0; spin++) {
        if ((spin & 255) == 255) {
            uint64_t t = now_ns();
            if (!t0) t0 = t;
            else if (t - t0 > SPIN_NS) {
                pthread_mutex_lock(&P.mu);
                P.waiting = 1;
                while (atomic_load(&P.pending) > 0) pthread_cond_wait(&P.done_cv, &P.mu);
                P.waiting = 0;
                pthread_mutex_unlock(&P.mu);
                break;
            }
            sched_yield();
        }
        cpu_relax();
    }
    atomic_store(&P.busy, 0);
}

void nn_split(size_t n, int parts, int i, size_t align, size_t *lo, size_t *hi) {
    if (align < 1) align = 1;
    size_t units = (n + align - 1) / align;
    size_t a = units * (size_t)i / (size_t)parts, b = units * (size_t)(i + 1) / (size_t)parts;
    a *= align;
    b *= align;
    *lo = a < n ? a : n;
    *hi = b < n ? b : n;
}

int nn_pool_threads_for(size_t work, size_t grain) {
    int size = nn_pool_size();
    if (grain < 1) grain = 1;
    size_t t = work / grain;
    if (t < 1) t = 1;
    return t < (size_t)size ? (int)t : size;
}

struct range_ctx {
    size_t n;
    nn_range_fn fn;
    void *arg;
};

static void range_task(void *p, int tid, int nth) {
    struct range_ctx *c = p;
    size_t lo, hi;
    nn_split(c->n, nth, tid, 1, &lo, &hi);
    if (lo < hi) c->fn(c->arg, lo, hi, tid);
}

void nn_parallel_for(size_t n, size_t grain, nn_range_fn fn, void *arg) {
    if (n == 0) return;
    struct range_ctx c = {n, fn, arg};
    nn_pool_run(range_task, &c, nn_pool_threads_for(n, grain));
}
