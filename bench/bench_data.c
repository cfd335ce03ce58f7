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
 * mpx_s counts output megapixels per second. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/image.h"
#include "data/inflate.h"
#include "data/jpeg.h"
#include "nn/cpu.h"
#include "nn/error.h"
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
    data_jpeg_free(d);
    data_image_free(&img);
    for (int i = 0; i < NIMG; i++) free(buf[i]);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    return 0;
}
