/* GEMM driver: BLIS-style cache blocking and packing in portable C, threaded on the pool.
 *
 * Loop nest for one thread's block of C (jc, pc, ic are the cache loops; jr, ir walk the
 * micro-tiles):
 *   for jc step NC:               B panel KC×NC → L3 (packed once per pc)
 *     for pc step KC:             pack B[pc:pc+KC, jc:jc+NC]
 *       for ic step MC:           A block MC×KC → L2, packed
 *         for jr step NR:         B sliver KC×NR stays in L1 …
 *           for ir step MR:       … while A slivers stream from L2
 *             micro-kernel(MR×NR tile of C)
 * Threads split C into a grid of blocks (or, for small m·n with a long k, split k and add the
 * partial products in a fixed order), so results depend only on the thread count. */
#include "gemm.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "gemm_kernel.h"
#include "layers.h"
#include "pool.h"

#define MR NN_GEMM_MR
#define NR NN_GEMM_NR
/* Blocking for a core with 32 KiB L1d and 512 KiB L2 (Zen 3; fine on Haswell-class cores):
 * a KC×NR B sliver is 16 KiB (L1), an MC×KC A block 72 KiB (L2), a KC×NC B panel 4 MiB (L3).
 * MC = 72 measured a little faster than 144 and 216 at n = 512; KC = 320 or 384 no better. */
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define KC 256
#define MC 72
#define NC 4080

/* ---- per-thread packing buffers ---------------------------------------------------------- */

struct packbuf {
    float *ap, *bp;
    size_t ap_cap, bp_cap; /* floats */
};

static pthread_key_t buf_key;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;

static void packbuf_free(void *p) {
    struct packbuf *b = p;
    free(b->ap);
    free(b->bp);
    free(b);
}

static void buf_key_init(void) { pthread_key_create(&buf_key, packbuf_free); }

static float *grow(float **p, size_t *cap, size_t need) {
    if (*cap >= need) return *p;
    free(*p);
    size_t bytes = (need * sizeof(float) + 63) & ~(size_t)63;
    *p = aligned_alloc(64, bytes);
    *cap = *p ? need : 0;
    return *p;
}

static struct packbuf *thread_bufs(void) {
    pthread_once(&buf_once, buf_key_init);
    struct packbuf *b = pthread_getspecific(buf_key);
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b) return NULL;
        pthread_setspecific(buf_key, b);
    }
    return b;
}

/* ---- the problem --------------------------------------------------------------------------- */

struct gemm {
    int ta, tb;
    int m, n, k;
    float alpha;
    const float *a, *b;
    int lda, ldb;
    const struct nn_gemm_epi *epi;
    nn_gemm_ukr ukr;
    nn_gemm_pack_a_fn pack_a_full; /* NULL: portable packing */
    const struct nn_gemm_asrc *asrc; /* A from a callback instead of memory */
};

/* Pack op(A)[i0:i0+mc, p0:p0+kc] into MR-row slivers, zero-padding the last one; only the
 * slivers q with q % step == first (threads packing one block together). */
static void pack_a(const struct gemm *g, int i0, int mc, int p0, int kc, float *restrict base,
                   int first, int step) {
    for (int s = first * MR; s < mc; s += step * MR) {
        float *dst = base + (size_t)(s / MR) * kc * MR;
        if (g->asrc) {
            g->asrc->pack(g->asrc->ctx, i0 + s, mc - s < MR ? mc - s : MR, p0, kc, dst);
            continue;
        }
        int mr = mc - s < MR ? mc - s : MR;
        if (!g->ta) {
            const float *rows[MR];
            for (int r = 0; r < MR; r++)
                rows[r] = g->a + (size_t)(i0 + s + (r < mr ? r : 0)) * g->lda + p0;
            if (mr == MR && g->pack_a_full) {
                g->pack_a_full(kc, rows[0], g->lda, dst);
            } else if (mr == MR) {
                for (int p = 0; p < kc; p++)
                    for (int r = 0; r < MR; r++) dst[p * MR + r] = rows[r][p];
            } else {
                for (int p = 0; p < kc; p++)
                    for (int r = 0; r < MR; r++) dst[p * MR + r] = r < mr ? rows[r][p] : 0.0f;
            }
        } else {
            const float *src = g->a + (size_t)p0 * g->lda + i0 + s;
            for (int p = 0; p < kc; p++, src += g->lda)
                for (int r = 0; r < MR; r++) dst[p * MR + r] = r < mr ? src[r] : 0.0f;
        }
    }
}

/* Pack op(B)[p0:p0+kc, j0:j0+nc] into NR-column slivers, zero-padding the last one. */
static void pack_b(const struct gemm *g, int p0, int kc, int j0, int nc, float *restrict dst) {
    size_t sliver = (size_t)kc * NR;
    if (!g->tb) {
        /* Rows of B are contiguous: take PB rows at a time and walk them across all slivers,
         * so reads are PB sequential streams (no page-strided misses) and each sliver gets
         * PB·64 contiguous bytes. */
        enum { PB = 16 };
        for (int pb = 0; pb < kc; pb += PB) {
            int pe = pb + PB < kc ? pb + PB : kc;
            float *d = dst;
            for (int s = 0; s < nc; s += NR, d += sliver) {
                int nr = nc - s < NR ? nc - s : NR;
                const float *src = g->b + (size_t)(p0 + pb) * g->ldb + j0 + s;
                if (nr == NR) {
                    for (int p = pb; p < pe; p++, src += g->ldb)
                        memcpy(d + (size_t)p * NR, src, NR * sizeof(float));
                } else {
                    for (int p = pb; p < pe; p++, src += g->ldb)
                        for (int j = 0; j < NR; j++) d[p * NR + j] = j < nr ? src[j] : 0.0f;
                }
            }
        }
        return;
    }
    /* B is stored n×k: each of the NR columns of op(B) is a contiguous row of B, read as one
     * of NR sequential streams (each cache line serves 16 consecutive p). */
    for (int s = 0; s < nc; s += NR, dst += sliver) {
        int nr = nc - s < NR ? nc - s : NR;
        const float *cols[NR];
        for (int j = 0; j < NR; j++)
            cols[j] = g->b + (size_t)(j0 + s + (j < nr ? j : 0)) * g->ldb + p0;
        for (int p = 0; p < kc; p++)
            for (int j = 0; j < NR; j++) dst[p * NR + j] = j < nr ? cols[j][p] : 0.0f;
    }
}

static void apply_epi(const struct nn_gemm_epi *epi, float *c, int ldc, int rows, int cols,
                      int j0) {
    for (int i = 0; i < rows; i++) {
        float *ci = c + (size_t)i * ldc;
        if (epi->bias)
            for (int j = 0; j < cols; j++) ci[j] += epi->bias[j0 + j];
        if (epi->lo != -INFINITY || epi->hi != INFINITY)
            for (int j = 0; j < cols; j++) ci[j] = nn_clamp_hi(nn_clamp_lo(ci[j], epi->lo), epi->hi);
    }
}

/* The macro-kernel: the mc×nc block of C at c (columns from j0 of the whole C, for the bias)
 * from a packed A block and a packed B panel of depth kc; C = alpha·A·B + b_eff·C, then the
 * epilogue when epi is set (the last depth block). */
static void macro_kernel(const struct gemm *g, int mc, int nc, int kc, const float *ap,
                         const float *bp, float *c, int ldc, float b_eff,
                         const struct nn_gemm_epi *epi, int j0) {
    float tile[MR * NR] __attribute__((aligned(64)));
    for (int jr = 0; jr < nc; jr += NR) {
        int nr = nc - jr < NR ? nc - jr : NR;
        const float *bs = bp + (size_t)jr * kc;
        for (int ir = 0; ir < mc; ir += MR) {
            int mr = mc - ir < MR ? mc - ir : MR;
            const float *as = ap + (size_t)ir * kc;
            float *cc = c + (size_t)ir * ldc + jr;
            if (mr == MR && nr == NR) {
                g->ukr(kc, as, bs, cc, ldc, g->alpha, b_eff);
            } else {
                g->ukr(kc, as, bs, tile, NR, g->alpha, 0.0f);
                for (int i = 0; i < mr; i++)
                    for (int j = 0; j < nr; j++) {
                        float *d = cc + (size_t)i * ldc + j;
                        *d = b_eff != 0.0f ? tile[i * NR + j] + b_eff * *d : tile[i * NR + j];
                    }
            }
            if (epi) apply_epi(epi, cc, ldc, mr, nr, j0 + jr);
        }
    }
}

/* Packing buffers of this thread for an A block of up to mcap rows and a B panel of up to
 * ncap columns at depth kcap; NULL pointers when memory is short. */
static void block_bufs(int mcap, int ncap, int kcap, float **ap, float **bp) {
    struct packbuf *pb = thread_bufs();
    *ap = *bp = NULL;
    if (!pb) return;
    size_t need_a = (size_t)((mcap + MR - 1) / MR) * MR * kcap;
    size_t need_b = (size_t)((ncap + NR - 1) / NR) * NR * kcap;
    if (mcap > 0) *ap = grow(&pb->ap, &pb->ap_cap, need_a ? need_a : 1);
    *bp = grow(&pb->bp, &pb->bp_cap, need_b ? need_b : 1);
}

static int imin(int a, int b) { return a < b ? a : b; }

/* C[m0:m1, n0:n1] = alpha · op(A)[m0:m1, k0:k1] · op(B)[k0:k1, n0:n1] + beta · C on the
 * calling thread (k1 > k0); c points at element (m0, n0) of the output. Without packing
 * memory the block is computed by the reference loops instead. */
static void gemm_block(const struct gemm *g, int m0, int m1, int n0, int n1, int k0, int k1,
                       float beta, float *c, int ldc, int with_epi) {
    float *ap, *bp;
    block_bufs(imin(m1 - m0, MC), imin(n1 - n0, NC), imin(k1 - k0, KC), &ap, &bp);
    const struct nn_gemm_epi *epi = with_epi ? g->epi : NULL;
    if ((!ap || !bp) && g->asrc) {
        /* no packing memory and no A in memory: pack one sliver at a time on the stack */
        float sl[MR * 64] __attribute__((aligned(64)));
        for (int i = m0; i < m1; i += MR) {
            int mr = imin(m1 - i, MR);
            for (int jn = n0; jn < n1; jn++) {
                double acc[MR] = {0};
                for (int p = k0; p < k1; p += 64) {
                    int kc = imin(k1 - p, 64);
                    g->asrc->pack(g->asrc->ctx, i, mr, p, kc, sl);
                    for (int q = 0; q < kc; q++) {
                        float bv = g->tb ? g->b[(size_t)jn * g->ldb + p + q]
                                         : g->b[(size_t)(p + q) * g->ldb + jn];
                        for (int r = 0; r < mr; r++) acc[r] += (double)sl[q * MR + r] * bv;
                    }
                }
                for (int r = 0; r < mr; r++) {
                    float *d = c + (size_t)(i - m0 + r) * ldc + (jn - n0);
                    float v = (float)(g->alpha * acc[r]) + (beta != 0.0f ? beta * *d : 0.0f);
                    if (epi) {
                        if (epi->bias) v += epi->bias[jn];
                        v = nn_clamp_hi(nn_clamp_lo(v, epi->lo), epi->hi);
                    }
                    *d = v;
                }
            }
        }
        return;
    }
    if (!ap || !bp) {
        const float *a = g->ta ? g->a + (size_t)k0 * g->lda + m0 : g->a + (size_t)m0 * g->lda + k0;
        const float *b = g->tb ? g->b + (size_t)n0 * g->ldb + k0 : g->b + (size_t)k0 * g->ldb + n0;
        struct nn_gemm_epi shifted;
        if (epi) {
            shifted = *epi;
            if (shifted.bias) shifted.bias += n0;
        }
        nn_sgemm_ref(g->ta, g->tb, m1 - m0, n1 - n0, k1 - k0, g->alpha, a, g->lda, b, g->ldb,
                     beta, c, ldc, epi ? &shifted : NULL);
        return;
    }
    for (int jc = n0; jc < n1; jc += NC) {
        int nc = imin(n1 - jc, NC);
        for (int pc = k0; pc < k1; pc += KC) {
            int kc = imin(k1 - pc, KC);
            pack_b(g, pc, kc, jc, nc, bp);
            for (int ic = m0; ic < m1; ic += MC) {
                int mc = imin(m1 - ic, MC);
                pack_a(g, ic, mc, pc, kc, ap, 0, 1);
                macro_kernel(g, mc, nc, kc, ap, bp, c + (size_t)(ic - m0) * ldc + (jc - n0), ldc,
                             pc == k0 ? beta : 1.0f, pc + KC >= k1 ? epi : NULL, jc);
            }
        }
    }
}

/* ---- threading ----------------------------------------------------------------------------- */

/* A spinning barrier for the threads of one region (all of them are running). */
struct barrier {
    atomic_int count, gen;
    int n;
};

static void barrier_wait(struct barrier *b) {
    int gen = atomic_load_explicit(&b->gen, memory_order_acquire);
    if (atomic_fetch_add_explicit(&b->count, 1, memory_order_acq_rel) == b->n - 1) {
        atomic_store_explicit(&b->count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&b->gen, 1, memory_order_release);
        return;
    }
    /* Spin a little, then yield: when the machine has more runnable threads than cores, the
     * thread everyone waits for may be off the core, and pure spinning would hold the core
     * it needs for a whole time slice. */
    for (unsigned spin = 0; atomic_load_explicit(&b->gen, memory_order_acquire) == gen; spin++) {
        if (spin < 4096) cpu_relax();
        else sched_yield();
    }
}

struct job {
    const struct gemm *g;
    float beta;
    float *c;
    int ldc;
    int tm, tn; /* grid of thread blocks; tm·tn = nth (ksplit: 1×1) */
    int ksplit; /* > 1: split k into that many parts, partial sums in part[] */
    float *part;
    float *shared_a[2]; /* coop: two A blocks all threads pack together and share */
    int coop_njc;       /* coop: column blocks every thread steps through */
    struct barrier bar;
};

/* The columns [n0, n1) of C for every row, with the A blocks packed by all threads together
 * (each packs every nth sliver) into a shared buffer: square products split over columns then
 * pack A once instead of once per thread. The two buffers alternate, so one barrier per block
 * suffices: a thread can only start refilling a buffer after everyone has passed the barrier
 * of the block that followed it, i.e. finished computing with it. Every thread walks the same
 * (column block, depth block, row block) sequence, idle where it has no columns. */
static void gemm_coop(struct job *j, int tid, int nth, int n0, int n1) {
    const struct gemm *g = j->g;
    float *own_a, *bp;
    block_bufs(0, imin(n1 - n0, NC), imin(g->k, KC), &own_a, &bp);
    int iter = 0, have = bp != NULL && n1 > n0;
    for (int q = 0; q < j->coop_njc; q++) {
        int jc = n0 + q * NC, nc = have ? imin(n1 - jc, NC) : 0;
        if (nc < 0) nc = 0;
        for (int pc = 0; pc < g->k; pc += KC) {
            int kc = imin(g->k - pc, KC);
            if (nc > 0) pack_b(g, pc, kc, jc, nc, bp);
            for (int ic = 0; ic < g->m; ic += MC, iter++) {
                int mc = imin(g->m - ic, MC);
                float *ap = j->shared_a[iter & 1];
                pack_a(g, ic, mc, pc, kc, ap, tid, nth);
                barrier_wait(&j->bar);
                if (nc > 0)
                    macro_kernel(g, mc, nc, kc, ap, bp, j->c + (size_t)ic * j->ldc + jc, j->ldc,
                                 pc == 0 ? j->beta : 1.0f, pc + KC >= g->k ? g->epi : NULL, jc);
            }
        }
    }
    if (!bp && n1 > n0) /* no memory for this thread's B panel: its columns the slow way */
        gemm_block(g, 0, g->m, n0, n1, 0, g->k, j->beta, j->c + n0, j->ldc, 1);
}

static void grid_task(void *p, int tid, int nth) {
    struct job *j = p;
    const struct gemm *g = j->g;
    if (j->ksplit > 1) {
        size_t k0, k1;
        nn_split((size_t)g->k, nth, tid, 8, &k0, &k1);
        float *dst = j->part + (size_t)tid * g->m * g->n;
        if (k1 > k0) gemm_block(g, 0, g->m, 0, g->n, (int)k0, (int)k1, 0.0f, dst, g->n, 0);
        else memset(dst, 0, (size_t)g->m * g->n * sizeof(float));
        return;
    }
    int bi = tid / j->tn, bj = tid % j->tn;
    size_t m0, m1, n0, n1;
    nn_split((size_t)g->m, j->tm, bi, MR, &m0, &m1);
    nn_split((size_t)g->n, j->tn, bj, NR, &n0, &n1);
    if (j->shared_a[0]) {
        gemm_coop(j, tid, nth, (int)n0, (int)n1);
        return;
    }
    if (m0 >= m1 || n0 >= n1) return;
    gemm_block(g, (int)m0, (int)m1, (int)n0, (int)n1, 0, g->k, j->beta,
               j->c + m0 * (size_t)j->ldc + n0, j->ldc, 1);
}

static int ceil_div(long a, long b) { return (int)((a + b - 1) / b); }

/* Choose the thread grid tm×tn (tm·tn = nth) that minimizes per-thread cost: padded tile area
 * (compute, in MAC/16 per k) plus the rows and columns each thread packs. */
static void choose_grid(int m, int n, int nth, int *tm, int *tn) {
    double best = INFINITY;
    for (int a = 1; a <= nth; a++) {
        if (nth % a) continue;
        int b = nth / a;
        long rows = (long)ceil_div(ceil_div(m, MR), a) * MR;
        long cols = (long)ceil_div(ceil_div(n, NR), b) * NR;
        double cost = (double)rows * cols / 16.0 + 0.5 * (double)(rows + cols);
        if (cost < best) {
            best = cost;
            *tm = a;
            *tn = b;
        }
    }
}

/* Run a prepared product on nth threads (0: the pool's, reduced for small problems). */
static void run_gemm(struct gemm *gp, int nth, float beta, float *c, int ldc) {
    struct gemm g = *gp;
    int m = g.m, n = g.n, k = g.k;
    const struct nn_gemm_epi *epi = g.epi;
    if (k <= 0 || g.alpha == 0.0f) {
        /* C = beta·C, then the epilogue. */
        for (int i = 0; i < m; i++) {
            float *ci = c + (size_t)i * ldc;
            for (int j = 0; j < n; j++) ci[j] = beta != 0.0f ? beta * ci[j] : 0.0f;
        }
        if (epi) apply_epi(epi, c, ldc, m, n, 0);
        return;
    }
    double macs = (double)m * n * k;
    if (nth <= 0) {
        nth = nn_pool_size();
        /* Below ~2·10^5 multiply-adds per thread a wake-up costs more than it saves. */
        int by_work = (int)(macs / 2e5);
        if (by_work < nth) nth = by_work < 1 ? 1 : by_work;
    }
    if (nth == 1) {
        gemm_block(&g, 0, m, 0, n, 0, k, beta, c, ldc, 1);
        return;
    }
    struct job j = {&g, beta, c, ldc, 1, 1, 1, NULL, {NULL, NULL}, 0, {0, 0, nth}};
    if ((long)m * n < 16384L * nth && k >= 64 * nth) {
        j.part = malloc((size_t)nth * m * n * sizeof(float));
        if (j.part) {
            j.ksplit = nth;
            nn_pool_run(grid_task, &j, nth);
            for (int i = 0; i < m; i++) {
                float *ci = c + (size_t)i * ldc;
                for (int jj = 0; jj < n; jj++) {
                    float s = j.part[(size_t)i * n + jj];
                    for (int t = 1; t < nth; t++) s += j.part[((size_t)t * m + i) * n + jj];
                    ci[jj] = beta != 0.0f ? s + beta * ci[jj] : s;
                }
            }
            if (epi) apply_epi(epi, c, ldc, m, n, 0);
            free(j.part);
            return;
        }
    }
    choose_grid(m, n, nth, &j.tm, &j.tn);
    if (j.tm == 1 && m > MC) {
        /* split over columns: share the packing of A (see gemm_coop) */
        size_t ablock = (size_t)MC * KC;
        float *bufs = aligned_alloc(64, 2 * ablock * sizeof(float));
        if (bufs) {
            j.shared_a[0] = bufs;
            j.shared_a[1] = bufs + ablock;
            size_t n0, n1, widest = 0;
            for (int t = 0; t < nth; t++) {
                nn_split((size_t)n, nth, t, NR, &n0, &n1);
                if (n1 - n0 > widest) widest = n1 - n0;
            }
            j.coop_njc = (int)((widest + NC - 1) / NC);
            if (j.coop_njc < 1) j.coop_njc = 1;
            /* the barriers need every thread running at once; else the plain split */
            int ran = nn_pool_run_parallel(grid_task, &j, nth) == 0;
            free(bufs);
            if (ran) return;
            j.shared_a[0] = j.shared_a[1] = NULL;
        }
    }
    nn_pool_run(grid_task, &j, nth);
}

void nn_sgemm_ex(int nth, int ta, int tb, int m, int n, int k, float alpha, const float *a,
                 int lda, const float *b, int ldb, float beta, float *c, int ldc,
                 const struct nn_gemm_epi *epi) {
    if (m <= 0 || n <= 0) return;
    struct gemm g = {ta, tb, m, n, k, alpha, a, b, lda, ldb, epi, nn_gemm_ukr_generic, NULL, NULL};
#ifndef HAQ_NOSIMD
    if (nn_isa() == NN_ISA_AVX2) {
        g.ukr = nn_gemm_ukr_avx2;
        g.pack_a_full = nn_gemm_pack_a6_avx2;
    }
#endif
    run_gemm(&g, nth, beta, c, ldc);
}

void nn_sgemm_asrc(int nth, const struct nn_gemm_asrc *a, int tb, int m, int n, int k,
                   float alpha, const float *b, int ldb, float beta, float *c, int ldc,
                   const struct nn_gemm_epi *epi) {
    if (m <= 0 || n <= 0) return;
    struct gemm g = {0, tb, m, n, k, alpha, NULL, b, 0, ldb, epi, nn_gemm_ukr_generic, NULL, a};
#ifndef HAQ_NOSIMD
    if (nn_isa() == NN_ISA_AVX2) g.ukr = nn_gemm_ukr_avx2;
#endif
    run_gemm(&g, nth, beta, c, ldc);
}

void nn_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc) {
    nn_sgemm_ex(0, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL);
}

/* ---- portable micro-kernel ----------------------------------------------------------------- */

void nn_gemm_ukr_generic(int kc, const float *restrict ap, const float *restrict bp,
                         float *restrict c, long ldc, float alpha, float beta) {
    float acc[MR][NR];
    memset(acc, 0, sizeof acc);
    for (int p = 0; p < kc; p++) {
        const float *bq = bp + (size_t)p * NR;
        for (int i = 0; i < MR; i++) {
            float av = ap[(size_t)p * MR + i];
            for (int j = 0; j < NR; j++) acc[i][j] += av * bq[j];
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) {
            float *d = c + i * ldc + j;
            *d = beta != 0.0f ? alpha * acc[i][j] + beta * *d : alpha * acc[i][j];
        }
}
