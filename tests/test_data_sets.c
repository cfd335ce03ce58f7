/* Data sets: ImageFolder and ImageNet-100 built at test time from the JPEG fixtures, HAQ's
 * search splits against NumPy's permutation, Fashion-MNIST (IDX) and CIFAR-10 fixtures whose
 * bytes follow the formulas of tests/fixtures/make_data_fixtures.py, the packed cache (round
 * trips, thread-count independence, hostile files), and `haq data info`. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/cache.h"
#include "data/cmd.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/inflate.h"
#include "data/loader.h"
#include "data/split.h"
#include "nn/error.h"
#include "nn/pool.h"
#include "tests/testutil.h"

/* ---- scratch directories ------------------------------------------------------------------- */

/* A fresh directory build/test_sets.XXXXXX (the tests run from the repository root). */
static void scratch(char *dir, size_t cap) {
    snprintf(dir, cap, "build/test_sets.XXXXXX");
    mkdir("build", 0777);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void mkdirs(const char *path) {
    char b[1024];
    snprintf(b, sizeof b, "%s", path);
    for (char *p = b + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(b, 0777);
            *p = '/';
        }
    mkdir(b, 0777);
}

static void write_bytes(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "%s", path);
    ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static uint8_t *read_bytes(const char *path, size_t *n) {
    uint8_t *b;
    ck_assert_msg(data_read_file(path, &b, n) == 0, "%s", nn_errmsg());
    return b;
}

/* Copy a fixture to dir/rel (the first `keep` bytes when keep > 0). */
static void put(const char *dir, const char *rel, const char *fixture, size_t keep) {
    size_t n;
    uint8_t *b = read_bytes(fixture, &n);
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    write_bytes(p, b, keep ? keep : n);
    free(b);
}

/* A reference image as the folder serves it: RGB, gray expanded. */
static void reference(const char *pnm, struct data_image *im) {
    ck_assert_int_eq(data_image_read_pnm(pnm, im), 0);
    if (im->c == 3) return;
    struct data_image g = *im;
    struct data_image rgb = {0};
    ck_assert_int_eq(data_image_alloc(&rgb, g.w, g.h, 3), 0);
    for (size_t i = 0; i < (size_t)g.w * g.h; i++)
        rgb.px[3 * i] = rgb.px[3 * i + 1] = rgb.px[3 * i + 2] = g.px[i];
    data_image_free(im);
    *im = rgb;
}

static void expect_image(struct data_source *s, int split, size_t idx, const char *pnm,
                         int label) {
    struct data_image a = {0}, b = {0};
    int l;
    ck_assert_msg(data_load(s, split, idx, &a, &l) == 0, "%s", nn_errmsg());
    reference(pnm, &b);
    ck_assert_int_eq(l, label);
    ck_assert(a.w == b.w && a.h == b.h && a.c == 3);
    ck_assert_msg(memcmp(a.px, b.px, (size_t)a.w * a.h * 3) == 0, "image %zu differs from %s",
                  idx, pnm);
    data_image_free(&a);
    data_image_free(&b);
}

/* The folder of most tests:
 *   train/a_cat: 1.JPEG (gray), 2.jpg (4:2:0), 3.ppm, notes.txt, .hidden.jpg, sub/
 *   train/b_dog: x.jpeg (Adobe CMYK), y.jpg (progressive 333×251)
 *   val/a_cat:   v.jpg (17×13)                     (no val/b_dog: that class has 0 there) */
static void make_folder(const char *root) {
    char p[1024];
    snprintf(p, sizeof p, "%s/train/a_cat/sub", root);
    mkdirs(p);
    snprintf(p, sizeof p, "%s/train/b_dog", root);
    mkdirs(p);
    snprintf(p, sizeof p, "%s/val/a_cat", root);
    mkdirs(p);
    put(root, "train/a_cat/1.JPEG", TU_FIXTURE("jpeg/gray.jpg"), 0);
    put(root, "train/a_cat/2.jpg", TU_FIXTURE("jpeg/b420.jpg"), 0);
    put(root, "train/a_cat/3.ppm", TU_FIXTURE("jpeg/b420.ppm"), 0);
    put(root, "train/a_cat/notes.txt", TU_FIXTURE("jpeg/b420.ppm"), 100);
    put(root, "train/a_cat/.hidden.jpg", TU_FIXTURE("jpeg/b420.jpg"), 0);
    put(root, "train/b_dog/x.jpeg", TU_FIXTURE("jpeg/cmyk.jpg"), 0);
    put(root, "train/b_dog/y.jpg", TU_FIXTURE("jpeg/prog420.jpg"), 0);
    put(root, "val/a_cat/v.jpg", TU_FIXTURE("jpeg/odd17.jpg"), 0);
}

static struct data_source *open_ok(const char *spec) {
    struct data_source *s = NULL;
    ck_assert_msg(data_open(spec, &s) == 0, "%s: %s", spec, nn_errmsg());
    return s;
}

static void open_fails(const char *spec, const char *needle) {
    struct data_source *s = NULL;
    ck_assert_msg(data_open(spec, &s) == -1, "%s opened", spec);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(nn_errmsg(), needle) != NULL, "%s: '%s' lacks '%s'", spec, nn_errmsg(),
                  needle);
}

/* ---- ImageFolder ----------------------------------------------------------------------------- */

START_TEST(imagefolder_scan_and_decode) {
    char root[64], spec[128];
    scratch(root, sizeof root);
    make_folder(root);
    snprintf(spec, sizeof spec, "imagenet:%s", root);
    struct data_source *s = open_ok(spec);
    ck_assert_str_eq(s->kind, "imagenet");
    ck_assert_int_eq(s->classes, 2);
    ck_assert_str_eq(s->class_names[0], "a_cat");
    ck_assert_str_eq(s->class_names[1], "b_dog");
    ck_assert_uint_eq(s->count[DATA_TRAIN], 5);
    ck_assert_uint_eq(s->count[DATA_VAL], 1);
    ck_assert_uint_eq(s->skipped, 3); /* notes.txt, .hidden.jpg, sub/ */
    ck_assert(s->c == 3 && s->h == 0 && s->w == 0);
    ck_assert_float_eq_tol(s->mean[0], 0.485f, 1e-6f);
    ck_assert_float_eq_tol(s->std[2], 0.225f, 1e-6f);
    /* files sorted by name within classes sorted by name; gray expanded, CMYK converted */
    expect_image(s, DATA_TRAIN, 0, TU_FIXTURE("jpeg/gray.pgm"), 0);
    expect_image(s, DATA_TRAIN, 1, TU_FIXTURE("jpeg/b420.ppm"), 0);
    expect_image(s, DATA_TRAIN, 2, TU_FIXTURE("jpeg/b420.ppm"), 0);
    expect_image(s, DATA_TRAIN, 3, TU_FIXTURE("jpeg/cmyk.ppm"), 1);
    expect_image(s, DATA_TRAIN, 4, TU_FIXTURE("jpeg/prog420.ppm"), 1);
    expect_image(s, DATA_VAL, 0, TU_FIXTURE("jpeg/odd17.ppm"), 0);
    int w, h;
    ck_assert_int_eq(s->ops->dims(s, DATA_TRAIN, 4, &w, &h), 0);
    ck_assert(w == 333 && h == 251);
    ck_assert_int_eq(s->ops->dims(s, DATA_TRAIN, 2, &w, &h), 0);
    ck_assert(w == 96 && h == 72);
    struct data_image im = {0};
    int l;
    ck_assert_int_eq(data_load(s, DATA_VAL, 1, &im, &l), -1);
    /* the loader over it with the ImageNet train transform, on two threads */
    struct data_loader_cfg c = {DATA_TRAIN, 2, 40, 1, 1, 0, 3, 2, NULL, 0};
    struct data_loader *L = data_loader_new(s, &c);
    ck_assert_ptr_nonnull(L);
    ck_assert_int_eq(data_loader_start(L, 0), 0);
    const float *x;
    const int *y;
    int n, total = 0;
    while (data_loader_next(L, &x, &y, &n) == 0 && n > 0) total += n;
    ck_assert_int_eq(total, 5);
    data_loader_free(L);
    data_image_free(&im);
    data_close(s);
    /* a trailing slash names the same folder */
    snprintf(spec, sizeof spec, "imagenet:%s/", root);
    s = open_ok(spec);
    ck_assert_uint_eq(s->count[DATA_TRAIN], 5);
    data_close(s);
    tu_rm_rf(root);
}
END_TEST

START_TEST(imagefolder_errors) {
    char root[64], spec[200], p[200];
    scratch(root, sizeof root);
    make_folder(root);
    /* a val class that train lacks */
    snprintf(p, sizeof p, "%s/val/zebra", root);
    mkdirs(p);
    snprintf(spec, sizeof spec, "imagenet:%s", root);
    open_fails(spec, "zebra");
    rmdir(p);
    /* only a train folder: allowed, the held-out split is empty */
    snprintf(p, sizeof p, "%s/val/a_cat/v.jpg", root);
    remove(p);
    snprintf(p, sizeof p, "%s/val/a_cat", root);
    rmdir(p);
    snprintf(p, sizeof p, "%s/val", root);
    rmdir(p);
    struct data_source *s = open_ok(spec);
    ck_assert_uint_eq(s->count[DATA_VAL], 0);
    data_close(s);
    snprintf(spec, sizeof spec, "imagenet:%s/nothing", root);
    open_fails(spec, "neither");
    open_fails("imagenet:", "directory is required");
    snprintf(spec, sizeof spec, "imagenet:%s,colour=1", root);
    open_fails(spec, "colour");
    /* broken files: the loader's error names the file */
    static const struct {
        const char *name, *fixture, *needle;
        size_t keep;
    } bad[] = {
        {"half.jpg", TU_FIXTURE("jpeg/b420.jpg"), "truncated", 1500},
        {"gif.jpg", NULL, "not a JPEG", 0},
        {"png.jpeg", NULL, "PNG", 0},
        {"arith.jpg", TU_FIXTURE("jpeg/arith.jpg"), "SOF9", 0},
        {"empty.jpg", NULL, "empty", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char broken[64], rel[64];
        scratch(broken, sizeof broken);
        snprintf(p, sizeof p, "%s/train/k", broken);
        mkdirs(p);
        snprintf(rel, sizeof rel, "train/k/%s", bad[i].name);
        snprintf(p, sizeof p, "%s/%s", broken, rel);
        if (bad[i].fixture) put(broken, rel, bad[i].fixture, bad[i].keep);
        else if (strstr(bad[i].name, "gif")) write_bytes(p, "GIF89a......", 12);
        else if (strstr(bad[i].name, "png")) write_bytes(p, "\x89PNG\r\n\x1a\n....", 12);
        else write_bytes(p, "", 0);
        snprintf(spec, sizeof spec, "imagenet:%s", broken);
        s = open_ok(spec);
        struct data_loader_cfg c = {DATA_TRAIN, 1, 32, 0, 0, 0, 1, 1, NULL, 0};
        struct data_loader *L = data_loader_new(s, &c);
        ck_assert_int_eq(data_loader_start(L, 0), 0);
        const float *x;
        const int *y;
        int n;
        ck_assert_int_eq(data_loader_next(L, &x, &y, &n), -1);
        ck_assert_msg(strstr(nn_errmsg(), p) && strstr(nn_errmsg(), bad[i].needle), "%s",
                      nn_errmsg());
        data_loader_free(L);
        data_close(s);
        tu_rm_rf(broken);
    }
    tu_rm_rf(root);
}
END_TEST

/* ImageNet-100: exactly the 100 WNIDs of the release's list, in its order (its first 100
 * ImageNet-1k classes in sorted order), so labels equal ImageNet-1k labels; a missing class
 * directory is an error naming it; classes=FILE picks any list. */
START_TEST(imagenet100_classes) {
    for (int k = 1; k < 100; k++)
        ck_assert_int_lt(strcmp(data_imagenet100[k - 1], data_imagenet100[k]), 0);
    ck_assert_str_eq(data_imagenet100[0], "n01440764");
    ck_assert_str_eq(data_imagenet100[99], "n01855672");
    char root[64], p[256], spec[256];
    scratch(root, sizeof root);
    for (int k = 0; k < 100; k++) {
        snprintf(p, sizeof p, "%s/train/%s", root, data_imagenet100[k]);
        mkdirs(p);
    }
    snprintf(p, sizeof p, "%s/train/n99999999", root); /* a class outside the list: ignored */
    mkdirs(p);
    static const int with[] = {0, 7, 99};
    for (int i = 0; i < 3; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "train/%s/a.jpg", data_imagenet100[with[i]]);
        put(root, rel, TU_FIXTURE("jpeg/one.jpg"), 0);
    }
    put(root, "train/n99999999/a.jpg", TU_FIXTURE("jpeg/one.jpg"), 0);
    snprintf(spec, sizeof spec, "imagenet100:%s", root);
    struct data_source *s = open_ok(spec);
    ck_assert_str_eq(s->kind, "imagenet100");
    ck_assert_int_eq(s->classes, 100);
    ck_assert_uint_eq(s->count[DATA_TRAIN], 3);
    ck_assert_uint_eq(s->count[DATA_VAL], 0);
    struct data_image im = {0};
    for (int i = 0; i < 3; i++) {
        int l;
        ck_assert_int_eq(data_load(s, DATA_TRAIN, (size_t)i, &im, &l), 0);
        ck_assert_int_eq(l, with[i]);
        ck_assert_str_eq(s->class_names[l], data_imagenet100[with[i]]);
    }
    data_image_free(&im);
    data_close(s);
    /* the full set's scan takes every directory, sorted: 101 classes */
    snprintf(spec, sizeof spec, "imagenet:%s", root);
    s = open_ok(spec);
    ck_assert_int_eq(s->classes, 101);
    ck_assert_uint_eq(s->count[DATA_TRAIN], 4);
    data_close(s);
    /* a class list given as a file: its order, blanks ignored */
    snprintf(p, sizeof p, "%s/list.txt", root);
    char list[128];
    snprintf(list, sizeof list, "  %s\n\n%s\r\n%s\n", data_imagenet100[99], data_imagenet100[0],
             data_imagenet100[5]);
    write_bytes(p, list, strlen(list));
    snprintf(spec, sizeof spec, "imagenet100:%s,classes=%s/list.txt", root, root);
    s = open_ok(spec);
    ck_assert_int_eq(s->classes, 3);
    ck_assert_uint_eq(s->count[DATA_TRAIN], 2);
    int l;
    ck_assert_int_eq(data_load(s, DATA_TRAIN, 0, &im, &l), 0);
    ck_assert_int_eq(l, 0); /* n01855672 listed first */
    ck_assert_int_eq(data_load(s, DATA_TRAIN, 1, &im, &l), 0);
    ck_assert_int_eq(l, 1);
    data_image_free(&im);
    data_close(s);
    snprintf(list, sizeof list, "%s\n%s\n", data_imagenet100[3], data_imagenet100[3]);
    write_bytes(p, list, strlen(list));
    open_fails(spec, "twice");
    /* a missing class of the list */
    snprintf(p, sizeof p, "%s/train/%s", root, data_imagenet100[42]);
    rmdir(p);
    snprintf(spec, sizeof spec, "imagenet100:%s", root);
    open_fails(spec, data_imagenet100[42]);
    tu_rm_rf(root);
}
END_TEST

/* ---- search splits --------------------------------------------------------------------------- */

START_TEST(numpy_permutation) {
    /* np.random.seed(7); x = list(range(50)); np.random.shuffle(x) */
    static const size_t want7[50] = {13, 15, 22, 42, 30, 27, 1,  20, 10, 36, 32, 46, 34,
                                     18, 17, 35, 29, 41, 9,  2,  33, 16, 21, 31, 38, 24,
                                     5,  12, 45, 6,  37, 40, 11, 0,  7,  48, 43, 26, 49,
                                     8,  44, 14, 28, 39, 23, 19, 3,  25, 4,  47};
    size_t x[50];
    data_numpy_permutation(7, x, 50);
    for (int i = 0; i < 50; i++) ck_assert_uint_eq(x[i], want7[i]);
    /* seed 1 over the 1,281,167 images of ImageNet-1k's train folder, as the release draws
     * its 10,000 + 20,000 search images */
    size_t n = 1281167, *p = malloc(n * sizeof *p);
    data_numpy_permutation(1, p, n);
    static const size_t head[12] = {924390, 141906, 1140780, 841480, 740241, 105060,
                                    738466, 185974, 853360,  81277,  260657, 734779};
    for (int i = 0; i < 12; i++) ck_assert_uint_eq(p[i], head[i]);
    ck_assert_uint_eq(p[10000], 739486);
    ck_assert_uint_eq(p[10001], 995634);
    ck_assert_uint_eq(p[n - 1], 128037);
    free(p);
    data_numpy_permutation(1, x, 1);
    ck_assert_uint_eq(x[0], 0);
}
END_TEST

START_TEST(search_split) {
    struct data_source *s = open_ok("synthetic:classes=3,size=8,train=1000,val=10");
    struct data_subsets a, b, c;
    ck_assert_int_eq(data_search_split(s, 100, 300, 1, &a), 0);
    ck_assert_uint_eq(a.n_val, 100);
    ck_assert_uint_eq(a.n_train, 300);
    char seen[1000] = {0};
    for (size_t i = 0; i < a.n_val; i++) {
        ck_assert_uint_lt(a.val[i], 1000);
        ck_assert_int_eq(seen[a.val[i]]++, 0);
    }
    for (size_t i = 0; i < a.n_train; i++) {
        ck_assert_uint_lt(a.train[i], 1000);
        ck_assert_int_eq(seen[a.train[i]]++, 0); /* disjoint from val and from itself */
    }
    /* the same seed gives the same lists; another seed others; the lists are the permutation */
    ck_assert_int_eq(data_search_split(s, 100, 300, 1, &b), 0);
    ck_assert_int_eq(memcmp(a.val, b.val, 100 * sizeof(size_t)), 0);
    ck_assert_int_eq(memcmp(a.train, b.train, 300 * sizeof(size_t)), 0);
    data_subsets_free(&b);
    ck_assert_int_eq(data_search_split(s, 100, 300, 2, &b), 0);
    ck_assert_int_ne(memcmp(a.val, b.val, 100 * sizeof(size_t)), 0);
    size_t *perm = malloc(1000 * sizeof *perm);
    data_numpy_permutation(1, perm, 1000);
    ck_assert_int_eq(memcmp(a.val, perm, 100 * sizeof(size_t)), 0);
    ck_assert_int_eq(memcmp(a.train, perm + 100, 300 * sizeof(size_t)), 0);
    /* train size 0: the rest */
    ck_assert_int_eq(data_search_split(s, 100, 0, 1, &c), 0);
    ck_assert_uint_eq(c.n_train, 900);
    ck_assert_int_eq(memcmp(c.train, perm + 100, 900 * sizeof(size_t)), 0);
    free(perm);
    data_subsets_free(&a);
    data_subsets_free(&b);
    data_subsets_free(&c);
    /* too few images */
    ck_assert_int_eq(data_search_split(s, 700, 301, 1, &a), -1);
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "fewer"));
    ck_assert_ptr_null(a.val);
    ck_assert_int_eq(data_search_split(s, 700, 300, 1, &a), 0);
    data_subsets_free(&a);
    ck_assert_int_eq(data_search_split(s, 1000, 0, 1, &a), -1);
    ck_assert_int_eq(data_search_split(s, 0, 10, 1, &a), -1);
    data_close(s);
    /* the command-line flags */
    struct data_cli_split sp = DATA_CLI_SPLIT_DEFAULTS;
    ck_assert_int_eq(data_cli_split_opt("t", DATA_OPT_VAL_SIZE, "10000", &sp), 1);
    ck_assert_int_eq(data_cli_split_opt("t", DATA_OPT_TRAIN_SIZE, "20000", &sp), 1);
    ck_assert_int_eq(data_cli_split_opt("t", NN_ERRMSG_MAX, "1", &sp), 0);
    ck_assert(sp.val_size == 10000 && sp.train_size == 20000 && sp.seed == 1);
    ck_assert_int_eq(data_cli_split_check("t", &sp), 0);
    struct data_cli_split lone = DATA_CLI_SPLIT_DEFAULTS;
    lone.train_size = 5;
    ck_assert_int_eq(data_cli_split_check("t", &lone), -1);
}
END_TEST

/* ---- Fashion-MNIST and CIFAR-10 ------------------------------------------------------------ */

static void expect_idx(struct data_source *s) {
    ck_assert(s->c == 1 && s->h == 28 && s->w == 28 && s->classes == 10);
    ck_assert_uint_eq(s->count[DATA_TRAIN], 6);
    ck_assert_uint_eq(s->count[DATA_VAL], 4);
    struct data_image im = {0};
    for (int sp = 0; sp < 2; sp++)
        for (size_t i = 0; i < s->count[sp]; i++) {
            int l;
            ck_assert_int_eq(data_load(s, sp, i, &im, &l), 0);
            ck_assert_int_eq(l, (int)(3 * i + sp) % 10);
            ck_assert(im.w == 28 && im.h == 28 && im.c == 1);
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                    ck_assert_int_eq(im.px[y * 28 + x],
                                     (97 * sp + 31 * (int)i + 7 * y + 3 * x) % 256);
        }
    data_image_free(&im);
}

START_TEST(fashion_mnist_fixture) {
    struct data_source *s = open_ok("fashion-mnist:tests/fixtures/idx");
    expect_idx(s);
    ck_assert_str_eq(s->class_names[9], "Ankle boot");
    ck_assert_float_eq_tol(s->mean[0], 0.2860f, 1e-6f);
    data_close(s);
    /* uncompressed files, and damaged ones */
    static const char *const names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                          "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    char dir[64], p[256], spec[128];
    scratch(dir, sizeof dir);
    uint8_t *raw[4];
    size_t len[4];
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, TU_FIXTURE("idx/%s.gz"), names[i]);
        ck_assert_int_eq(data_gunzip_file(p, &raw[i], &len[i]), 0);
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        write_bytes(p, raw[i], len[i]);
    }
    snprintf(spec, sizeof spec, "fashion-mnist:%s", dir);
    s = open_ok(spec);
    expect_idx(s);
    data_close(s);
    static const struct {
        int file;
        size_t at, cut; /* byte set to v, bytes cut from the end */
        uint8_t v;
        const char *needle;
    } bad[] = {
        {0, 3, 0, 0x02, "magic"},      {1, 2, 0, 0x09, "magic"},
        {2, 0, 1, 0, "data bytes"},    {3, 7, 1, 3, "3 labels for 4 images"},
        {1, 9, 0, 10, "label 10"},     {2, 11, 4 * 28, 27, "27x28 images"}, /* consistent alone */
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        int f = bad[k].file;
        uint8_t *b = malloc(len[f]);
        memcpy(b, raw[f], len[f]);
        size_t n = len[f] - bad[k].cut;
        if (bad[k].at) b[bad[k].at] = bad[k].v;
        snprintf(p, sizeof p, "%s/%s", dir, names[f]);
        write_bytes(p, b, n);
        open_fails(spec, bad[k].needle);
        ck_assert_ptr_nonnull(strstr(nn_errmsg(), names[f]));
        write_bytes(p, raw[f], len[f]);
        free(b);
    }
    snprintf(p, sizeof p, "%s/%s", dir, names[3]);
    remove(p);
    open_fails(spec, "t10k-labels-idx1-ubyte(.gz): no such file");
    for (int i = 0; i < 4; i++) free(raw[i]);
    tu_rm_rf(dir);
}
END_TEST

/* The real set, when the dataset-fashion-mnist package is installed (not in CI). */
START_TEST(fashion_mnist_real) {
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK)) {
        fprintf(stderr, "fashion_mnist_real: skipped (no /usr/share/datasets/fashion-mnist)\n");
        return;
    }
    struct data_source *s = open_ok("fashion-mnist");
    ck_assert_uint_eq(s->count[DATA_TRAIN], 60000);
    ck_assert_uint_eq(s->count[DATA_VAL], 10000);
    ck_assert(s->h == 28 && s->w == 28 && s->c == 1);
    /* the stated normalization is the training pixels' own; every class 6,000 times */
    double sum = 0, sq = 0;
    int per[10] = {0};
    struct data_image im = {0};
    for (size_t i = 0; i < 60000; i++) {
        int l;
        ck_assert_int_eq(data_load(s, DATA_TRAIN, i, &im, &l), 0);
        per[l]++;
        for (int p = 0; p < 784; p++) {
            double v = im.px[p] / 255.0;
            sum += v;
            sq += v * v;
        }
    }
    double m = sum / (60000.0 * 784), sd = sqrt(sq / (60000.0 * 784) - m * m);
    ck_assert_double_eq_tol(m, s->mean[0], 5e-5);
    ck_assert_double_eq_tol(sd, s->std[0], 5e-5);
    for (int k = 0; k < 10; k++) ck_assert_int_eq(per[k], 6000);
    data_image_free(&im);
    data_close(s);
}
END_TEST

START_TEST(cifar10_fixture) {
    struct data_source *s = open_ok("cifar10:tests/fixtures/cifar");
    ck_assert(s->c == 3 && s->h == 32 && s->w == 32 && s->classes == 10);
    ck_assert_uint_eq(s->count[DATA_TRAIN], 10);
    ck_assert_uint_eq(s->count[DATA_VAL], 3);
    ck_assert_str_eq(s->class_names[0], "AIRPLANE"); /* from batches.meta.txt */
    ck_assert_str_eq(s->class_names[9], "TRUCK");
    struct data_image im = {0};
    for (int sp = 0; sp < 2; sp++)
        for (size_t i = 0; i < s->count[sp]; i++) {
            int l;
            ck_assert_int_eq(data_load(s, sp, i, &im, &l), 0);
            ck_assert_int_eq(l, (int)(7 * i + 1 + sp) % 10);
            for (int p = 0; p < 1024; p++)
                for (int c = 0; c < 3; c++)
                    ck_assert_int_eq(im.px[p * 3 + c], (50 * sp + 13 * (int)i + 71 * c + p) % 256);
        }
    data_image_free(&im);
    data_close(s);
    /* the archive's own directory is found inside DIR; damaged batches are named */
    char dir[64], p[256], spec[128];
    scratch(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/cifar-10-batches-bin", dir);
    mkdirs(p);
    static const char *const files[6] = {"data_batch_1.bin", "data_batch_2.bin",
                                         "data_batch_3.bin", "data_batch_4.bin",
                                         "data_batch_5.bin", "test_batch.bin"};
    char rel[128], fix[128];
    for (int i = 0; i < 6; i++) {
        snprintf(rel, sizeof rel, "cifar-10-batches-bin/%s", files[i]);
        snprintf(fix, sizeof fix, TU_FIXTURE("cifar/%s"), files[i]);
        put(dir, rel, fix, 0);
    }
    snprintf(spec, sizeof spec, "cifar10:%s", dir);
    s = open_ok(spec);
    ck_assert_uint_eq(s->count[DATA_TRAIN], 10);
    ck_assert_str_eq(s->class_names[0], "airplane"); /* no meta file: the standard names */
    data_close(s);
    snprintf(p, sizeof p, "%s/cifar-10-batches-bin/data_batch_3.bin", dir);
    put(dir, "cifar-10-batches-bin/data_batch_3.bin", TU_FIXTURE("cifar/data_batch_3.bin"), 3072);
    open_fails(spec, "data_batch_3.bin: 3072 bytes");
    size_t n;
    uint8_t *b = read_bytes(TU_FIXTURE("cifar/data_batch_3.bin"), &n);
    b[3073] = 10;
    write_bytes(p, b, n);
    open_fails(spec, "data_batch_3.bin: record 1 has label 10");
    free(b);
    remove(p);
    open_fails(spec, "data_batch_3.bin");
    open_fails("cifar10:", "directory is required");
    snprintf(p, sizeof p, "%s/cifar-10-batches-bin/batches.meta.txt", dir);
    write_bytes(p, "a\nb\n", 4);
    put(dir, "cifar-10-batches-bin/data_batch_3.bin", TU_FIXTURE("cifar/data_batch_3.bin"), 0);
    open_fails(spec, "2 class names");
    tu_rm_rf(dir);
}
END_TEST

/* ---- the packed cache ------------------------------------------------------------------------ */

static void expect_same_images(struct data_source *a, int split_a, const size_t *idx,
                               struct data_source *b, int split_b, size_t n, int fit) {
    struct data_image x = {0}, y = {0}, z = {0};
    for (size_t i = 0; i < n; i++) {
        int la, lb;
        ck_assert_int_eq(data_load(a, split_a, idx ? idx[i] : i, &x, &la), 0);
        ck_assert_int_eq(data_load(b, split_b, i, &y, &lb), 0);
        ck_assert_int_eq(la, lb);
        const struct data_image *want = &x;
        if (fit) {
            ck_assert_int_eq(data_resize_crop(&x, fit, &z), 0);
            want = &z;
        }
        ck_assert(want->w == y.w && want->h == y.h && want->c == y.c);
        ck_assert_msg(!memcmp(want->px, y.px, (size_t)y.w * y.h * y.c), "image %zu differs", i);
    }
    data_image_free(&x);
    data_image_free(&y);
    data_image_free(&z);
}

/* No temporary file is left beside a cache (name.tmp.PID). */
static int leftovers(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

START_TEST(cache_round_trips) {
    char dir[64], path[128], spec[160];
    scratch(dir, sizeof dir);
    /* a fixed-size source is stored as it is */
    struct data_source *src = open_ok("cifar10:tests/fixtures/cifar");
    snprintf(path, sizeof path, "%s/c.cache", dir);
    struct data_cache_cfg cfg = data_cache_defaults(0);
    ck_assert_msg(data_cache_write(src, path, &cfg) == 0, "%s", nn_errmsg());
    snprintf(spec, sizeof spec, "cache:%s", path);
    struct data_source *c = open_ok(spec);
    ck_assert_str_eq(c->kind, "cache");
    ck_assert(c->h == 32 && c->w == 32 && c->c == 3 && c->classes == 10);
    ck_assert_uint_eq(c->count[DATA_TRAIN], 10);
    ck_assert_uint_eq(c->count[DATA_VAL], 3);
    ck_assert_str_eq(c->class_names[3], "CAT");
    ck_assert_ptr_nonnull(strstr(c->desc, "cifar10"));
    for (int k = 0; k < 3; k++) {
        ck_assert_float_eq(c->mean[k], src->mean[k]);
        ck_assert_float_eq(c->std[k], src->std[k]);
    }
    expect_same_images(src, DATA_TRAIN, NULL, c, DATA_TRAIN, 10, 0);
    expect_same_images(src, DATA_VAL, NULL, c, DATA_VAL, 3, 0);
    ck_assert_int_eq(data_cache_verify(c), 0);
    ck_assert_int_eq(data_cache_verify(src), -1);
    data_close(c);
    /* --size 32 on 32×32 images changes nothing */
    cfg = data_cache_defaults(32);
    ck_assert_int_eq(data_cache_write(src, path, &cfg), 0);
    c = open_ok(spec);
    expect_same_images(src, DATA_TRAIN, NULL, c, DATA_TRAIN, 10, 0);
    data_close(c);
    /* a selection: the search splits of the train split */
    struct data_subsets sub;
    ck_assert_int_eq(data_search_split(src, 3, 5, 1, &sub), 0);
    cfg = data_cache_defaults(0);
    cfg.from[0] = cfg.from[1] = DATA_TRAIN;
    cfg.idx[0] = sub.train;
    cfg.n[0] = sub.n_train;
    cfg.idx[1] = sub.val;
    cfg.n[1] = sub.n_val;
    ck_assert_int_eq(data_cache_write(src, path, &cfg), 0);
    c = open_ok(spec);
    ck_assert_uint_eq(c->count[DATA_TRAIN], 5);
    ck_assert_uint_eq(c->count[DATA_VAL], 3);
    expect_same_images(src, DATA_TRAIN, sub.train, c, DATA_TRAIN, 5, 0);
    expect_same_images(src, DATA_TRAIN, sub.val, c, DATA_VAL, 3, 0);
    data_close(c);
    data_subsets_free(&sub);
    data_close(src);
    /* gray images stay gray */
    src = open_ok("fashion-mnist:tests/fixtures/idx");
    cfg = data_cache_defaults(0);
    ck_assert_int_eq(data_cache_write(src, path, &cfg), 0);
    c = open_ok(spec);
    ck_assert_int_eq(c->c, 1);
    expect_same_images(src, DATA_VAL, NULL, c, DATA_VAL, 4, 0);
    data_close(c);
    data_close(src);
    /* a folder of varying sizes: fitted to S×S, the same bytes for 1 and 2 threads */
    char root[64];
    scratch(root, sizeof root);
    make_folder(root);
    snprintf(spec, sizeof spec, "imagenet:%s", root);
    src = open_ok(spec);
    cfg = data_cache_defaults(0);
    ck_assert_int_eq(data_cache_write(src, path, &cfg), -1); /* sizes vary: --size needed */
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "--size"));
    char path2[128];
    snprintf(path2, sizeof path2, "%s/d2.cache", dir);
    cfg = data_cache_defaults(48);
    nn_pool_init(1);
    ck_assert_msg(data_cache_write(src, path, &cfg) == 0, "%s", nn_errmsg());
    nn_pool_init(2);
    ck_assert_int_eq(data_cache_write(src, path2, &cfg), 0);
    size_t n1, n2;
    uint8_t *b1 = read_bytes(path, &n1), *b2 = read_bytes(path2, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_int_eq(memcmp(b1, b2, n1), 0);
    free(b1);
    free(b2);
    snprintf(spec, sizeof spec, "cache:%s", path);
    c = open_ok(spec);
    ck_assert(c->h == 48 && c->w == 48 && c->c == 3 && c->classes == 2);
    ck_assert_str_eq(c->class_names[1], "b_dog");
    expect_same_images(src, DATA_TRAIN, NULL, c, DATA_TRAIN, 5, 48);
    expect_same_images(src, DATA_VAL, NULL, c, DATA_VAL, 1, 48);
    /* the cache as a loader source: the small-image recipe does not apply to 48 px */
    struct data_loader_cfg lc = {DATA_TRAIN, 5, 32, 1, 1, 0, 1, 2, NULL, 0};
    struct data_loader *L = data_loader_new(c, &lc);
    ck_assert_int_eq(data_loader_start(L, 0), 0);
    const float *x;
    const int *y;
    int n;
    ck_assert_int_eq(data_loader_next(L, &x, &y, &n), 0);
    ck_assert_int_eq(n, 5);
    data_loader_free(L);
    data_close(c);
    data_close(src);
    ck_assert_int_eq(leftovers(dir), 0);
    /* a failing image stops the run and leaves neither the file nor a temporary */
    put(root, "train/b_dog/z.jpg", TU_FIXTURE("jpeg/arith.jpg"), 0);
    snprintf(spec, sizeof spec, "imagenet:%s", root);
    src = open_ok(spec);
    remove(path);
    ck_assert_int_eq(data_cache_write(src, path, &cfg), -1);
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "z.jpg"));
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_eq(leftovers(dir), 0);
    data_close(src);
    tu_rm_rf(root);
    tu_rm_rf(dir);
}
END_TEST

/* The fit: shorter side to S, center crop; S×S copied; geometry exact at scale 1. */
START_TEST(resize_crop) {
    struct data_image a = {0}, b = {0};
    ck_assert_int_eq(data_image_alloc(&a, 96, 48, 3), 0); /* w 96, h 48 */
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 96; x++)
            for (int c = 0; c < 3; c++)
                a.px[(y * 96 + x) * 3 + c] = (uint8_t)(x < 24 || x >= 72 ? 0 : x + 2 * y + c);
    ck_assert_int_eq(data_resize_crop(&a, 48, &b), 0);
    ck_assert(b.w == 48 && b.h == 48 && b.c == 3);
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 48; x++)
            for (int c = 0; c < 3; c++)
                ck_assert_int_eq(b.px[(y * 48 + x) * 3 + c], x + 24 + 2 * y + c);
    /* a halving of a constant image stays constant; portrait images crop rows */
    ck_assert_int_eq(data_image_alloc(&a, 40, 80, 1), 0);
    memset(a.px, 77, 40 * 80);
    for (int x = 0; x < 40; x++) a.px[x] = a.px[79 * 40 + x] = 0; /* outside the crop */
    ck_assert_int_eq(data_resize_crop(&a, 20, &b), 0);
    ck_assert(b.w == 20 && b.h == 20 && b.c == 1);
    for (int i = 0; i < 400; i++) ck_assert_int_eq(b.px[i], 77);
    ck_assert_int_eq(data_image_alloc(&a, 20, 20, 1), 0);
    for (int i = 0; i < 400; i++) a.px[i] = (uint8_t)(i * 7);
    ck_assert_int_eq(data_resize_crop(&a, 20, &b), 0);
    ck_assert_int_eq(memcmp(a.px, b.px, 400), 0);
    data_image_free(&a);
    data_image_free(&b);
}
END_TEST

static void put32le(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> 8 * i);
}

static uint32_t get32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Recompute the header's CRC after an edit (the field at 88 covers [0, pixel offset)). */
static void fix_header_crc(uint8_t *b) {
    uint32_t pix = get32le(b + 72);
    put32le(b + 88, 0);
    put32le(b + 88, data_crc32(0, b, pix));
}

START_TEST(cache_hostile_files) {
    char dir[64], path[128], bad[128], spec[160];
    scratch(dir, sizeof dir);
    struct data_source *src = open_ok("cifar10:tests/fixtures/cifar");
    snprintf(path, sizeof path, "%s/c.cache", dir);
    struct data_cache_cfg cfg = data_cache_defaults(0);
    ck_assert_int_eq(data_cache_write(src, path, &cfg), 0);
    data_close(src);
    size_t n;
    uint8_t *orig = read_bytes(path, &n), *b = malloc(n + 1);
    uint32_t pix = get32le(orig + 72), lab = get32le(orig + 80);
    ck_assert_uint_eq(pix % 64, 0);
    ck_assert_uint_eq(lab, pix + 13 * 3072);
    ck_assert_uint_eq(n, lab + 13 * 4);
    snprintf(bad, sizeof bad, "%s/bad.cache", dir);
    snprintf(spec, sizeof spec, "cache:%s", bad);
    /* every truncation, and one byte too many */
    static const size_t cuts[] = {0, 1, 8, 100, 255, 256, 300};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        write_bytes(bad, orig, cuts[i]);
        open_fails(spec, bad);
    }
    for (size_t k = pix; k < n; k += 997) {
        write_bytes(bad, orig, k);
        open_fails(spec, "bytes");
    }
    write_bytes(bad, orig, n - 1);
    open_fails(spec, "bytes");
    memcpy(b, orig, n);
    b[n] = 0;
    write_bytes(bad, b, n + 1);
    open_fails(spec, "bytes");
    /* any header byte changed: the CRC (or an earlier check) objects */
    for (size_t k = 0; k < pix; k += 7) {
        memcpy(b, orig, n);
        b[k] ^= 0x40;
        write_bytes(bad, b, n);
        struct data_source *s = NULL;
        ck_assert_msg(data_open(spec, &s) == -1, "byte %zu changed and the cache opened", k);
    }
    /* fields that pass the CRC yet lie: sizes, offsets, counts, shape, normalization */
    static const struct {
        size_t at;
        uint32_t v;
        const char *needle;
    } lies[] = {
        {12, 0, "shape"},           {16, 70000, "shape"},      {20, 2, "shape"},
        {24, 0, "class"},           {28, 200, "pixel offset"},   {32, 0xffffffffu, "describes"},
        {36, 0x100, "counts"},      {72, 384, "pixel offset"}, {80, 1, "bytes"},
        {60, 0, "normalization"},   {48, 0x7fc00000u, "normalization"},
        {8, 2, "version"},
    };
    for (size_t i = 0; i < sizeof lies / sizeof *lies; i++) {
        memcpy(b, orig, n);
        put32le(b + lies[i].at, lies[i].v);
        fix_header_crc(b);
        write_bytes(bad, b, n);
        open_fails(spec, lies[i].needle);
    }
    memcpy(b, orig, n);
    memcpy(b, "HAQCACHX", 8);
    write_bytes(bad, b, n);
    open_fails(spec, "magic");
    /* a label out of range with both CRCs made right, and a damaged label */
    memcpy(b, orig, n);
    put32le(b + lab + 4 * 5, 10);
    put32le(b + 92, data_crc32(0, b + lab, 13 * 4));
    fix_header_crc(b);
    write_bytes(bad, b, n);
    open_fails(spec, "image 5 has label 10");
    memcpy(b, orig, n);
    b[lab + 8] ^= 1;
    write_bytes(bad, b, n);
    open_fails(spec, "labels do not match");
    /* the class-name table must hold exactly `classes` strings */
    memcpy(b, orig, n);
    b[256 + 2] = 0; /* "AIRPLANE" cut: one string too many */
    fix_header_crc(b);
    write_bytes(bad, b, n);
    open_fails(spec, "name table");
    /* a damaged pixel opens (the pixels are not read on open) but fails verification */
    memcpy(b, orig, n);
    b[pix + 5000] ^= 1;
    write_bytes(bad, b, n);
    struct data_source *s = open_ok(spec);
    ck_assert_int_eq(data_cache_verify(s), -1);
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "CRC"));
    data_close(s);
    open_fails("cache:", "file is required");
    snprintf(spec, sizeof spec, "cache:%s/none.cache", dir);
    open_fails(spec, "none.cache");
    free(b);
    free(orig);
    tu_rm_rf(dir);
}
END_TEST

/* ---- haq data info / cache ------------------------------------------------------------------- */

/* Run `haq data ARGS…` with stdout captured into out (cap bytes). Returns the exit status. */
static int run_data(char *out, size_t cap, int argc, char **argv) {
    return tu_run_cmd(data_cmd_data, out, cap, argc, argv);
}

START_TEST(data_info_and_cache_commands) {
    char root[64], spec[128], out[4096];
    scratch(root, sizeof root);
    make_folder(root);
    snprintf(spec, sizeof spec, "imagenet:%s", root);
    char *a1[] = {"data", "info", "--data", spec, NULL};
    ck_assert_int_eq(run_data(out, sizeof out, 4, a1), 0);
    ck_assert_msg(strstr(out, "result kind=imagenet classes=2 train=5 val=1 c=3 h=0 w=0 "
                              "min_w=17 max_w=333 min_h=13 max_h=251 sampled=6 skipped=3\n"),
                  "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "classes   2 (a_cat, b_dog)"));
    ck_assert_ptr_nonnull(strstr(out, "skipped   3 "));
    ck_assert_ptr_nonnull(strstr(out, "mean      0.4850 0.4560 0.4060"));
    char *a2[] = {"data", "info", "--data", spec, "--sample", "1", NULL};
    ck_assert_int_eq(run_data(out, sizeof out, 6, a2), 0);
    ck_assert_ptr_nonnull(strstr(out, "min_w=17 max_w=96 min_h=13 max_h=72 sampled=2"));
    char *a3[] = {"data", "info", "--data", "fashion-mnist:tests/fixtures/idx", NULL};
    ck_assert_int_eq(run_data(out, sizeof out, 4, a3), 0);
    ck_assert_ptr_nonnull(strstr(out, "result kind=fashion-mnist classes=10 train=6 val=4 c=1 "
                                      "h=28 w=28"));
    ck_assert_ptr_nonnull(strstr(out, "std       0.3530\n"));
    /* data cache, then info --scan on it (pixel CRC checked) */
    char cpath[128], cspec[160];
    snprintf(cpath, sizeof cpath, "%s/s.cache", root);
    snprintf(cspec, sizeof cspec, "cache:%s", cpath);
    char *a4[] = {"data", "cache", "--data", spec, "--size", "24", "--out", cpath, NULL};
    ck_assert_int_eq(run_data(out, sizeof out, 8, a4), 0);
    ck_assert_msg(strstr(out, "result images=6 train=5 val=1 h=24 w=24 c=3"), "%s", out);
    char *a5[] = {"data", "info", "--data", cspec, "--scan", NULL};
    ck_assert_int_eq(run_data(out, sizeof out, 5, a5), 0);
    ck_assert_ptr_nonnull(strstr(out, "pixels    CRC-32 ok"));
    ck_assert_ptr_nonnull(strstr(out, "result kind=cache classes=2 train=5 val=1 c=3 h=24 w=24"));
    char *a6[] = {"data", "cache", "--data", spec, "--size", "24", "--out", cpath, "--val-size",
                  "2", "--train-size", "3", NULL};
    ck_assert_int_eq(run_data(out, sizeof out, 12, a6), 0);
    ck_assert_ptr_nonnull(strstr(out, "result images=5 train=3 val=2 "));
    char *a7[] = {"data", "cache", "--data", spec, "--size", "24", "--out", cpath, "--val-size",
                  "5", "--train-size", "3", NULL};
    ck_assert_int_eq(run_data(out, sizeof out, 12, a7), 1);
    /* usage errors */
    char *a8[] = {"data", "frobnicate", NULL};
    ck_assert_int_eq(run_data(out, sizeof out, 2, a8), 2);
    char *a9[] = {"data", "cache", "--data", spec, "--train-size", "3", "--out", cpath, NULL};
    ck_assert_int_eq(run_data(out, sizeof out, 8, a9), 2);
    char *a10[] = {"data", "info", "--data", "nonsense:x", NULL};
    ck_assert_int_eq(run_data(out, sizeof out, 4, a10), 1);
    tu_rm_rf(root);
}
END_TEST

Suite *suite_data_sets(void) {
    Suite *s = suite_create("data_sets");
    TCase *tc = tcase_create("sets");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, imagefolder_scan_and_decode);
    tcase_add_test(tc, imagefolder_errors);
    tcase_add_test(tc, imagenet100_classes);
    tcase_add_test(tc, numpy_permutation);
    tcase_add_test(tc, search_split);
    tcase_add_test(tc, fashion_mnist_fixture);
    tcase_add_test(tc, fashion_mnist_real);
    tcase_add_test(tc, cifar10_fixture);
    tcase_add_test(tc, cache_round_trips);
    tcase_add_test(tc, resize_crop);
    tcase_add_test(tc, cache_hostile_files);
    tcase_add_test(tc, data_info_and_cache_commands);
    suite_add_tcase(s, tc);
    return s;
}
