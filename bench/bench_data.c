/* JPEG decode throughput on photo-like 500×375 images, beside libjpeg-turbo in the same run.
 *
 * Images: 8 synthetic photo-like PPMs (gradients, soft discs, hard-edged tiles, noise), made into
 * JPEGs by cjpeg -quality 90 -sample 2x2,1x1,1x1 (4:2:0) in a temporary directory.
 * Ours: every file decoded in memory round-robin, best of several rounds.
 * djpeg: one process per file (`djpeg -outfile /dev/null`), the same file list repeated, timed
 * as a whole; the cost of starting a process is measured with a 1×1 JPEG run the same number
 * of times and subtracted, so djpeg's figure is its decoding plus writing the PPM to /dev/null.
 * tjbench (libjpeg-turbo's in-process benchmark, same default islow IDCT and fancy upsampling)
 * is reported too when present, as the tightest reference.
 *
 * mb_s counts megabytes (10^6 bytes) of JPEG input per second, for us and for djpeg alike;
 * mpx_s counts output megapixels per second.
 *
 * The loader: an ImageFolder of 128 more such JPEGs (4 classes) made the same way, read by the
 * batch loader with the ImageNet train transform at 224 px (RandomResizedCrop + flip +
 * normalization, batches of 32) on 1 and 2 threads, then from a cache of the same images made
 * with `--size 256`; beside MobileNetV2's training rate at 224 px, batch 32 (forward, loss,
 * backward, SGD on the engine's pool, best of a few steps) measured in the same run:
 *
 *   bench=loader source=jpeg|cache size=224 threads=T img_s=… train_img_s=… loader_over_train=…
 *   bench=loader_feed source=jpeg threads=1 fixed_img_s=… fed_img_s=… slowdown=…
 *
 * loader_over_train > 1 means the loader outruns training (train_img_s: the best step).
 * loader_feed trains on the loader's batches (one loader thread beside the pool's, as `haq
 * train` runs by default) against fixed input, mean rates over the same number of steps, so
 * slowdown counts what decoding beside training costs on the same cores. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/cache.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/inflate.h"
#include "data/jpeg.h"
#include "data/loader.h"
#include "nn/cpu.h"
#include "nn/error.h"
#include "nn/models.h"
#include "nn/optim.h"
#include "nn/pool.h"
#include "nn/rng.h"

#define W    500
#define H    375
#define NIMG 8

/* A photo-like test image: smooth colour fields, six discs blended in, every seventh 16×16 tile
 * inverted (sharp edges), Gaussian noise of σ = 6. */
static void synth(struct data_image *img, uint64_t seed) {
    struct nn_rng r;
    nn_rng_seed(&r, seed);
    data_image_alloc(img, W, H, 3);
    double disc[6][6];
    for (int i = 0; i < 6; i++) {
        disc[i][0] = nn_rng_uniform_d(&r) * W;
        disc[i][1] = nn_rng_uniform_d(&r) * H;
        disc[i][2] = 3 + nn_rng_uniform_d(&r) * H / 3;
        for (int c = 0; c < 3; c++) disc[i][3 + c] = (double)nn_rng_below(&r, 256);
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double c[3] = {128 +
                               100 * sin(x / (W / 3.1 + 1) + (double)seed) * cos(y / (H / 2.3 + 1)),
                           255.0 * x / (W - 1) * 0.6 + 60 * sin((x + y) / 7.0),
                           255.0 * y / (H - 1) * 0.7 + 40 * cos(x / 5.0 - y / 9.0)};
            for (int i = 0; i < 6; i++) {
                double dx = x - disc[i][0], dy = y - disc[i][1];
                if (dx * dx + dy * dy < disc[i][2] * disc[i][2])
                    for (int k = 0; k < 3; k++) c[k] = 0.3 * c[k] + 0.7 * disc[i][3 + k];
            }
            int inv = (x / 16 + y / 16) % 7 == 0;
            for (int k = 0; k < 3; k++) {
                double v = (inv ? 255 - c[k] : c[k]) + 6 * nn_rng_normal(&r);
                img->px[((size_t)y * W + x) * 3 + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
}

static double run_shell(const char *cmd) {
    double t = nn_now();
    if (system(cmd) != 0) return -1;
    return nn_now() - t;
}

#define LOADER_CLASSES 4
#define LOADER_PER_CLASS 32
#define LOADER_SIZE 224
#define LOADER_BATCH 32

/* Images per second through a loader over `src`'s train split: best of 3 rounds of 2 epochs. */
static double loader_rate(struct data_source *src, int threads) {
    struct data_loader_cfg c = {DATA_TRAIN, LOADER_BATCH, LOADER_SIZE, 1, 1, 0, 1, threads,
                                NULL, 0};
    struct data_loader *L = data_loader_new(src, &c);
    if (!L) return -1;
    double best = 0;
    for (int round = 0; round < 3; round++) {
        size_t images = 0;
        double t = nn_now();
        for (int e = 0; e < 2; e++) {
            if (data_loader_start(L, round * 2 + e)) return -1;
            const float *x;
            const int *y;
            int n;
            while (data_loader_next(L, &x, &y, &n) == 0 && n > 0) images += (size_t)n;
        }
        double r = (double)images / (nn_now() - t);
        if (r > best) best = r;
    }
    data_loader_free(L);
    return best;
}

/* One training step of g on a batch. */
static int train_step(struct nn_graph *g, struct nn_sgd *o, const struct nn_param_set *ps,
                      const float *x, const int *y, int n) {
    if (nn_graph_forward(g, x, n)) return -1;
    nn_graph_xent(g, y, NULL, NULL);
    nn_graph_zero_grad(g);
    if (nn_graph_backward(g)) return -1;
    nn_sgd_step(o, ps);
    return 0;
}

/* MobileNetV2 at 224 px, batch 32: the best training step rate on fixed input (*best_img_s),
 * and, in two alternating rounds, the mean rate over 6 steps on fixed input (*fixed_img_s) and
 * over 6 steps on batches from a one-thread loader over src (*fed_img_s; each epoch's first
 * batch, made before any step can overlap it, untimed), the best round of each. */
static int train_rates(struct data_source *src, double *best_img_s, double *fixed_img_s,
                       double *fed_img_s) {
    struct nn_model_cfg c = nn_model_defaults("mobilenet_v2");
    c.classes = LOADER_CLASSES;
    struct nn_graph *g = nn_model_build(&c);
    if (!g || nn_graph_alloc(g, LOADER_BATCH, 1)) return -1;
    struct nn_rng rng;
    nn_rng_seed(&rng, 1);
    nn_graph_init(g, &rng);
    size_t n = (size_t)LOADER_BATCH * LOADER_SIZE * LOADER_SIZE * 3;
    float *x = malloc(n * sizeof *x);
    int y[LOADER_BATCH];
    if (!x) return -1;
    for (size_t i = 0; i < n; i++) x[i] = nn_rng_uniform(&rng) - 0.5f;
    for (int i = 0; i < LOADER_BATCH; i++) y[i] = i % LOADER_CLASSES;
    struct nn_param_set ps = nn_graph_params(g);
    struct nn_sgd o;
    if (nn_sgd_init(&o, ps.n, 0.001f, 0.9f, 4e-5f, 0)) return -1;
    nn_graph_set_train(g, 1);
    if (train_step(g, &o, &ps, x, y, LOADER_BATCH)) return -1; /* warm-up */
    struct data_loader_cfg lc = {DATA_TRAIN, LOADER_BATCH, LOADER_SIZE, 1, 1, 1, 1, 1, NULL, 0};
    struct data_loader *L = data_loader_new(src, &lc);
    if (!L) return -1;
    double best = 1e30;
    *fixed_img_s = *fed_img_s = 0;
    for (int round = 0; round < 2; round++) {
        double total = 0;
        for (int s = 0; s < 6; s++) {
            double t0 = nn_now();
            if (train_step(g, &o, &ps, x, y, LOADER_BATCH)) return -1;
            double t = nn_now() - t0;
            total += t;
            if (t < best) best = t;
        }
        if (6 * LOADER_BATCH / total > *fixed_img_s) *fixed_img_s = 6 * LOADER_BATCH / total;
        size_t images = 0;
        double secs = 0;
        for (int e = 0; e < 2; e++) {
            const float *bx;
            const int *by;
            int bn;
            if (data_loader_start(L, round * 2 + e) || data_loader_next(L, &bx, &by, &bn) ||
                train_step(g, &o, &ps, bx, by, bn))
                return -1;
            double t0 = nn_now();
            for (;;) {
                if (data_loader_next(L, &bx, &by, &bn)) return -1;
                if (bn == 0) break;
                if (train_step(g, &o, &ps, bx, by, bn)) return -1;
                images += (size_t)bn;
            }
            secs += nn_now() - t0;
        }
        if ((double)images / secs > *fed_img_s) *fed_img_s = (double)images / secs;
    }
    *best_img_s = LOADER_BATCH / best;
    data_loader_free(L);
    nn_sgd_free(&o);
    nn_graph_free(g);
    free(x);
    return 0;
}

/* The loader lines: an ImageFolder of photo-like JPEGs under dir/folder, then its cache. */
static int bench_loader(const char *dir) {
    char path[512], cmd[2048];
    struct data_image img = {0};
    for (int k = 0; k < LOADER_CLASSES; k++) {
        snprintf(path, sizeof path, "mkdir -p %s/folder/train/class%d", dir, k);
        if (system(path) != 0) return -1;
        for (int i = 0; i < LOADER_PER_CLASS; i++) {
            synth(&img, 1000 + (uint64_t)(k * LOADER_PER_CLASS + i));
            snprintf(path, sizeof path, "%s/src.ppm", dir);
            if (data_image_write_pnm(path, &img)) return -1;
            snprintf(cmd, sizeof cmd,
                     "cjpeg -quality 90 -sample 2x2,1x1,1x1 %s/src.ppm > %s/folder/train/class%d/"
                     "%03d.jpg",
                     dir, dir, k, i);
            if (system(cmd) != 0) return -1;
        }
    }
    data_image_free(&img);
    char spec[600];
    snprintf(spec, sizeof spec, "imagenet:%s/folder", dir);
    struct data_source *jpg, *cache;
    if (data_open(spec, &jpg)) return -1;
    snprintf(path, sizeof path, "%s/folder.cache", dir);
    struct data_cache_cfg cc = data_cache_defaults(256);
    if (data_cache_write(jpg, path, &cc)) return -1;
    snprintf(spec, sizeof spec, "cache:%s/folder.cache", dir);
    if (data_open(spec, &cache)) return -1;
    double train_s, fixed_s, fed_s;
    if (train_rates(jpg, &train_s, &fixed_s, &fed_s)) return -1;
    for (int src = 0; src < 2; src++)
        for (int t = 1; t <= 2; t++) {
            double r = loader_rate(src ? cache : jpg, t);
            if (r < 0) return -1;
            printf("bench=loader source=%s size=%d threads=%d img_s=%.1f train_img_s=%.1f "
                   "loader_over_train=%.1f\n",
                   src ? "cache" : "jpeg", LOADER_SIZE, t, r, train_s, r / train_s);
        }
    printf("bench=loader_feed source=jpeg threads=1 fixed_img_s=%.1f fed_img_s=%.1f "
           "slowdown=%.3f\n",
           fixed_s, fed_s, fixed_s / fed_s);
    data_close(jpg);
    data_close(cache);
    return 0;
}

struct par {
    struct data_jpeg **dec;
    struct data_image *img;
    uint8_t **buf;
    size_t *len;
};

static void decode_part(void *arg, size_t lo, size_t hi, int tid) {
    struct par *p = arg;
    for (size_t i = lo; i < hi; i++) {
        size_t f = i % NIMG;
        data_jpeg_decode(p->dec[tid], p->buf[f], p->len[f], &p->img[tid], NULL);
    }
}

int main(void) {
    if (access("/usr/bin/cjpeg", X_OK) != 0) {
        printf("bench=jpeg skipped=1 reason=no_cjpeg\n");
        return 0;
    }
    char dir[] = "/tmp/haq_bench_jpeg_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    uint8_t *buf[NIMG];
    size_t len[NIMG], total_bytes = 0;
    struct data_image img = {0};
    char path[512], cmd[2048];
    for (int i = 0; i < NIMG; i++) {
        synth(&img, 100 + (uint64_t)i);
        snprintf(path, sizeof path, "%s/%d.ppm", dir, i);
        if (data_image_write_pnm(path, &img)) return 1;
        snprintf(cmd, sizeof cmd, "cjpeg -quality 90 -sample 2x2,1x1,1x1 %s/%d.ppm > %s/%d.jpg",
                 dir, i, dir, i);
        if (system(cmd) != 0) return 1;
        snprintf(path, sizeof path, "%s/%d.jpg", dir, i);
        if (data_read_file(path, &buf[i], &len[i])) return 1;
        total_bytes += len[i];
    }
    /* a 1×1 JPEG for the process start-up cost of djpeg */
    data_image_alloc(&img, 1, 1, 3);
    memset(img.px, 100, 3);
    snprintf(path, sizeof path, "%s/tiny.ppm", dir);
    data_image_write_pnm(path, &img);
    snprintf(cmd, sizeof cmd, "cjpeg %s/tiny.ppm > %s/tiny.jpg", dir, dir);
    if (system(cmd) != 0) return 1;

    struct data_jpeg *d = data_jpeg_new();
    const int reps = 12; /* decodes of each file per round */
    double best = 1e30;
    for (int round = 0; round < 7; round++) {
        double t = nn_now();
        for (int k = 0; k < reps; k++)
            for (int i = 0; i < NIMG; i++)
                if (data_jpeg_decode(d, buf[i], len[i], &img, NULL)) {
                    fprintf(stderr, "bench_data: %s\n", nn_errmsg());
                    return 1;
                }
        t = nn_now() - t;
        if (t < best) best = t;
    }
    double n_dec = (double)reps * NIMG, img_s = n_dec / best;
    double mb_s = (double)total_bytes * reps / best / 1e6, mpx_s = img_s * W * H / 1e6;

    double dj_mb_s = 0, dj_img_s = 0;
    if (access("/usr/bin/djpeg", X_OK) == 0) {
        const int drep = 6;
        double tb = 1e30, tt = 1e30;
        for (int round = 0; round < 3; round++) {
            snprintf(cmd, sizeof cmd,
                     "cd %s && for r in $(seq %d); do for i in 0 1 2 3 4 5 6 7; do "
                     "djpeg -outfile /dev/null $i.jpg || exit 1; done; done",
                     dir, drep);
            double t = run_shell(cmd);
            if (t > 0 && t < tb) tb = t;
            snprintf(cmd, sizeof cmd,
                     "cd %s && for r in $(seq %d); do for i in 0 1 2 3 4 5 6 7; do "
                     "djpeg -outfile /dev/null tiny.jpg || exit 1; done; done",
                     dir, drep);
            t = run_shell(cmd);
            if (t > 0 && t < tt) tt = t;
        }
        double net = tb - tt;
        if (net > 0) {
            dj_img_s = (double)drep * NIMG / net;
            dj_mb_s = (double)total_bytes * drep / net / 1e6;
        }
    }
    printf("bench=jpeg img_s=%.1f mb_s=%.2f djpeg_mb_s=%.2f ratio=%.2f mpx_s=%.1f "
           "djpeg_img_s=%.1f w=%d h=%d files=%d bytes=%zu isa=%s\n",
           img_s, mb_s, dj_mb_s, dj_mb_s > 0 ? mb_s / dj_mb_s : 0.0, mpx_s, dj_img_s, W, H, NIMG,
           total_bytes, nn_isa_name(nn_isa()));

    if (access("/usr/bin/tjbench", X_OK) == 0) {
        /* tjbench prints "Throughput: X Megapixels/sec" for decompression of file 0 */
        snprintf(cmd, sizeof cmd,
                 "tjbench %s/0.jpg -benchtime 1 -warmup 1 2>/dev/null | "
                 "awk '/Throughput/ {v=$2} END {print v}'",
                 dir);
        FILE *f = popen(cmd, "r");
        double tj = 0;
        if (f) {
            if (fscanf(f, "%lf", &tj) != 1) tj = 0;
            pclose(f);
        }
        double ours0 = 0;
        for (int round = 0; round < 7; round++) {
            double t = nn_now();
            for (int k = 0; k < 50; k++) data_jpeg_decode(d, buf[0], len[0], &img, NULL);
            t = 50.0 * W * H / (nn_now() - t) / 1e6;
            if (t > ours0) ours0 = t;
        }
        printf("bench=jpeg_vs_tjbench file=0 mpx_s=%.1f tjbench_mpx_s=%.1f ratio=%.2f\n", ours0, tj,
               tj > 0 ? ours0 / tj : 0.0);
    }

    /* scaled decoding (DCT scaling, as djpeg -scale 1/N) of the same files */
    for (int denom = 2; denom <= 8; denom *= 2) {
        data_jpeg_set_scale(d, denom);
        double bs = 1e30;
        for (int round = 0; round < 5; round++) {
            double t = nn_now();
            for (int k = 0; k < reps; k++)
                for (int i = 0; i < NIMG; i++) data_jpeg_decode(d, buf[i], len[i], &img, NULL);
            t = nn_now() - t;
            if (t < bs) bs = t;
        }
        printf("bench=jpeg_scaled denom=%d out=%dx%d img_s=%.1f mb_s=%.2f speedup=%.2f\n", denom,
               img.w, img.h, n_dec / bs, (double)total_bytes * reps / bs / 1e6, best / bs);
    }
    data_jpeg_set_scale(d, 1);

    /* decode-only with two threads, one decoder each */
    nn_pool_init(2);
    if (nn_pool_size() >= 2) {
        struct data_jpeg *dec[2] = {d, data_jpeg_new()};
        struct data_image imgs[2] = {{0}, {0}};
        struct par p = {dec, imgs, buf, len};
        double best2 = 1e30;
        for (int round = 0; round < 5; round++) {
            double t = nn_now();
            nn_parallel_for((size_t)reps * NIMG * 2, 1, decode_part, &p);
            t = nn_now() - t;
            if (t < best2) best2 = t;
        }
        double img2 = (double)reps * NIMG * 2 / best2;
        printf("bench=jpeg_threads threads=2 img_s=%.1f mb_s=%.2f speedup=%.2f\n", img2,
               (double)total_bytes * reps * 2 / best2 / 1e6, img2 / img_s);
        data_jpeg_free(dec[1]);
        data_image_free(&imgs[0]);
        data_image_free(&imgs[1]);
    }
    if (bench_loader(dir)) {
        fprintf(stderr, "bench_data: loader: %s\n", nn_errmsg());
        return 1;
    }
    data_jpeg_free(d);
    data_image_free(&img);
    for (int i = 0; i < NIMG; i++) free(buf[i]);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    return 0;
}
