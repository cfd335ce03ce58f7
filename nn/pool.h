/* The persistent thread pool and its static parallel-for.
 *
 * One pool per process, created by nn_pool_init (or lazily with the default size). A parallel
 * region runs fn(arg, tid, nth) once for every tid in [0, nth); the calling thread is tid 0.
 * Work is split by the caller with nn_split, a fixed partition that depends only on the size
 * and the thread count, so every result is bitwise reproducible for a given thread count.
 *
 * Workers spin briefly between regions (back-to-back layers cost no wake-up) and then sleep on
 * a condition variable, so an idle pool uses no CPU. A region started from inside a region, or
 * by a second thread while the pool is busy, runs its tids one after another on the caller:
 * same partition, same result. */
#ifndef HAQ_NN_POOL_H
#define HAQ_NN_POOL_H

#include <stddef.h>

typedef void (*nn_pool_fn)(void *arg, int tid, int nth);

/* Start the pool with nthreads threads in all (caller included); 0 = HAQ_THREADS from the
 * environment, else the number of online CPUs. Replaces a running pool. Returns 0 or -1. */
int nn_pool_init(int nthreads);

/* Stop the workers (also done at exit). */
void nn_pool_shutdown(void);

/* Threads of the pool (starting it with the default size if needed). */
int nn_pool_size(void);

/* Run fn for tid = 0 … nth−1 and wait for all; nth is clamped to [1, pool size]. */
void nn_pool_run(nn_pool_fn fn, void *arg, int nth);

/* As nn_pool_run, but only when all nth tids can run at once on distinct threads (so fn may
 * synchronize them with barriers): returns 0 after running, or −1 without calling fn when the
 * pool is smaller, busy, or the caller is itself inside a region. */
int nn_pool_run_parallel(nn_pool_fn fn, void *arg, int nth);

/* The part [*lo, *hi) of [0, n) that part i of `parts` equal contiguous parts owns. When
 * `align` > 1 the cut points fall on multiples of align (the last part takes the rest). */
void nn_split(size_t n, int parts, int i, size_t align, size_t *lo, size_t *hi);

/* Number of threads worth using for `work` units when one thread should get at least `grain`
 * units: min(pool size, max(1, work / grain)). */
int nn_pool_threads_for(size_t work, size_t grain);

/* Parallel-for over [0, n): fn(arg, lo, hi, tid) on each thread's static part. `grain` is the
 * least number of items worth a thread of its own. */
typedef void (*nn_range_fn)(void *arg, size_t lo, size_t hi, int tid);
void nn_parallel_for(size_t n, size_t grain, nn_range_fn fn, void *arg);

#endif
