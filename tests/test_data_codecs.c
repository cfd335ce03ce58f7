/* data codecs: CRC-32, inflate/zlib/gzip, zip (with a torch.save file), JPEG against djpeg's
 * output, PPM/PGM, the decode command, and robustness on truncated and bit-flipped inputs. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/cmd_decode.h"
#include "data/image.h"
#include "data/inflate.h"
#include "data/jpeg.h"
#include "data/zip.h"
#include "nn/cpu.h"
#include "nn/error.h"
#include "nn/rng.h"
#include "tests/testutil.h"

static uint8_t *load(const char *path, size_t *n) {
    uint8_t *b;
    ck_assert_msg(data_read_file(path, &b, n) == 0, "%s", nn_errmsg());
    return b;
}

/* ---- checksums ------------------------------------------------------------------------------- */

START_TEST(checksums) {
    const char *s = "123456789";
    ck_assert_uint_eq(data_crc32(0, s, 9), 0xCBF43926u);
    ck_assert_uint_eq(data_crc32(data_crc32(0, s, 4), s + 4, 5), 0xCBF43926u);
    ck_assert_uint_eq(data_crc32(0, "", 0), 0);
    ck_assert_uint_eq(data_adler32(1, "Wikipedia", 9), 0x11E60398u);
    /* every split of a longer buffer chains to the same value */
    uint8_t buf[300];
    for (int i = 0; i < 300; i++) buf[i] = (uint8_t)(i * 37 + 11);
    uint32_t whole = data_crc32(0, buf, 300);
    for (size_t k = 0; k <= 300; k += 7)
        ck_assert_uint_eq(data_crc32(data_crc32(0, buf, k), buf + k, 300 - k), whole);
}
END_TEST

/* ---- inflate --------------------------------------------------------------------------------- */

static void expect_orig(const uint8_t *out, size_t n, int copies) {
    size_t on;
    uint8_t *orig = load(TU_FIXTURE("inflate/orig.bin"), &on);
    ck_assert_uint_eq(n, on * (size_t)copies);
    for (int c = 0; c < copies; c++) ck_assert(memcmp(out + on * (size_t)c, orig, on) == 0);
    free(orig);
}

START_TEST(gzip_levels_and_members) {
    static const struct {
        const char *path;
        int copies;
    } cases[] = {{TU_FIXTURE("inflate/orig.1.gz"), 1},
                 {TU_FIXTURE("inflate/orig.6.gz"), 1},
                 {TU_FIXTURE("inflate/orig.9.gz"), 1},
                 {TU_FIXTURE("inflate/multi.gz"), 2},
                 {TU_FIXTURE("inflate/flags.gz"), 1}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint8_t *out;
        size_t n;
        ck_assert_msg(data_gunzip_file(cases[i].path, &out, &n) == 0, "%s", nn_errmsg());
        expect_orig(out, n, cases[i].copies);
        free(out);
    }
    /* trailing zeros are padding; anything else is garbage */
    size_t n, on;
    uint8_t *gz = load(TU_FIXTURE("inflate/orig.6.gz"), &n), *out;
    uint8_t *pad = calloc(n + 9, 1);
    memcpy(pad, gz, n);
    ck_assert_int_eq(data_gunzip(pad, n + 9, &out, &on, 1 << 20), 0);
    free(out);
    pad[n + 4] = 7;
    ck_assert_int_eq(data_gunzip(pad, n + 9, &out, &on, 1 << 20), -1);
    /* the output cap holds */
    ck_assert_int_eq(data_gunzip(gz, n, &out, &on, 100), -1);
    ck_assert(strstr(nn_errmsg(), "exceeds") != NULL);
    /* a flipped CRC byte is caught */
    gz[n - 6] ^= 1;
    ck_assert_int_eq(data_gunzip(gz, n, &out, &on, 1 << 20), -1);
    ck_assert(strstr(nn_errmsg(), "CRC") != NULL);
    free(pad);
    free(gz);
}
END_TEST

START_TEST(raw_stored_fixed_and_zlib) {
    size_t n, on, used;
    uint8_t *out;
    const char *raw[] = {TU_FIXTURE("inflate/stored.deflate"), TU_FIXTURE("inflate/fixed.deflate")};
    for (int i = 0; i < 2; i++) {
        uint8_t *in = load(raw[i], &n);
        ck_assert_msg(data_inflate(in, n, &out, &on, 1 << 20, &used) == 0, "%s", nn_errmsg());
        ck_assert_uint_eq(used, n);
        expect_orig(out, on, 1);
        /* into a buffer of exactly the size, and one byte short */
        uint8_t *fixed = malloc(on);
        size_t got;
        ck_assert_int_eq(data_inflate_into(in, n, fixed, on, &got, NULL), 0);
        ck_assert_uint_eq(got, on);
        ck_assert(memcmp(fixed, out, on) == 0);
        ck_assert_int_eq(data_inflate_into(in, n, fixed, on - 1, &got, NULL), -1);
        free(fixed);
        free(out);
        free(in);
    }
    uint8_t *z = load(TU_FIXTURE("inflate/orig.zlib"), &n);
    ck_assert_msg(data_zlib_decompress(z, n, &out, &on, 1 << 20) == 0, "%s", nn_errmsg());
    expect_orig(out, on, 1);
    free(out);
    z[n - 1] ^= 0x10; /* Adler-32 */
    ck_assert_int_eq(data_zlib_decompress(z, n, &out, &on, 1 << 20), -1);
    free(z);
}
END_TEST

START_TEST(inflate_handmade_streams) {
    uint8_t *out;
    size_t on;
    /* empty fixed block; empty stored block */
    static const uint8_t empty_fixed[] = {0x03, 0x00}, empty_stored[] = {0x01, 0, 0, 0xFF, 0xFF};
    ck_assert_int_eq(data_inflate(empty_fixed, 2, &out, &on, 10, NULL), 0);
    ck_assert_uint_eq(on, 0);
    free(out);
    ck_assert_int_eq(data_inflate(empty_stored, 5, &out, &on, 10, NULL), 0);
    ck_assert_uint_eq(on, 0);
    free(out);
    /* fixed block: 'a', then a match of length 3 at distance 1 → "aaaa" */
    static const uint8_t aaaa[] = {0x4b, 0x04, 0x02, 0x00};
    ck_assert_int_eq(data_inflate(aaaa, 4, &out, &on, 10, NULL), 0);
    ck_assert_uint_eq(on, 4);
    ck_assert(memcmp(out, "aaaa", 4) == 0);
    free(out);
    /* the same match at distance 2, with only one byte written: refused */
    static const uint8_t far[] = {0x4b, 0x04, 0x42, 0x00};
    ck_assert_int_eq(data_inflate(far, 4, &out, &on, 10, NULL), -1);
    ck_assert(strstr(nn_errmsg(), "distance") != NULL);
    /* reserved block type; stored length check; truncation */
    static const uint8_t bad_type[] = {0x07, 0}, bad_len[] = {0x01, 5, 0, 0xFF, 0xFF};
    ck_assert_int_eq(data_inflate(bad_type, 2, &out, &on, 10, NULL), -1);
    ck_assert_int_eq(data_inflate(bad_len, 5, &out, &on, 10, NULL), -1);
    ck_assert_int_eq(data_inflate(aaaa, 2, &out, &on, 10, NULL), -1);
    ck_assert(strstr(nn_errmsg(), "truncated") != NULL);
    ck_assert_int_eq(data_inflate(aaaa, 0, &out, &on, 10, NULL), -1);
    /* a gzip member of nothing (as `gzip < /dev/null` writes), twice */
    static const uint8_t gz_empty[40] = {
        0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, [20] = 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0};
    ck_assert_msg(data_gunzip(gz_empty, 40, &out, &on, 10) == 0, "%s", nn_errmsg());
    ck_assert_uint_eq(on, 0);
    free(out);
}
END_TEST

START_TEST(inflate_hostile_inputs) {
    static const char *files[] = {TU_FIXTURE("inflate/orig.9.gz"), TU_FIXTURE("inflate/multi.gz"),
                                  TU_FIXTURE("inflate/flags.gz"),
                                  TU_FIXTURE("inflate/fixed.deflate"),
                                  TU_FIXTURE("inflate/stored.deflate")};
    struct nn_rng r;
    nn_rng_seed(&r, 1951);
    size_t orig_n;
    free(load(TU_FIXTURE("inflate/orig.bin"), &orig_n));
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        size_t n, on;
        uint8_t *src = load(files[f], &n), *out;
        int gz = strstr(files[f], ".gz") != NULL;
        /* every truncation of a gzip file fails (the trailer is missing), except multi.gz cut
         * after its first member */
        for (size_t k = 0; k < n; k++) {
            uint8_t *cut = malloc(k ? k : 1);
            memcpy(cut, src, k);
            int rc = gz ? data_gunzip(cut, k, &out, &on, 1 << 20)
                        : data_inflate(cut, k, &out, &on, 1 << 20, NULL);
            if (gz && rc == 0) ck_assert(strstr(files[f], "multi") && on == orig_n);
            if (rc == 0) free(out);
            free(cut);
        }
        /* random flips: an error or some output, never a fault (ASan checks the rest) */
        uint8_t *mut = malloc(n);
        for (int t = 0; t < 300; t++) {
            memcpy(mut, src, n);
            int flips = 1 + (int)nn_rng_below(&r, 4);
            for (int i = 0; i < flips; i++)
                mut[nn_rng_below(&r, n)] ^= (uint8_t)(1u << nn_rng_below(&r, 8));
            int rc = gz ? data_gunzip(mut, n, &out, &on, 1 << 16)
                        : data_inflate(mut, n, &out, &on, 1 << 16, NULL);
            if (rc == 0) {
                ck_assert_uint_le(on, 1 << 16);
                free(out);
            }
        }
        free(mut);
        free(src);
    }
}
END_TEST

/* ---- zip ------------------------------------------------------------------------------------- */

static const uint8_t *entry_bytes(struct data_zip *z, const char *name, size_t *n, uint8_t **own) {
    const struct data_zip_entry *e = data_zip_find(z, name);
    ck_assert_msg(e != NULL, "no entry %s", name);
    const uint8_t *d;
    ck_assert_msg(data_zip_read(z, e, 1 << 20, &d, own) == 0, "%s", nn_errmsg());
    *n = (size_t)e->size;
    return d;
}

START_TEST(zip_archives) {
    struct data_zip z;
    size_t n, on;
    uint8_t *own, *orig = load(TU_FIXTURE("inflate/orig.bin"), &on);
    const char *paths[] = {TU_FIXTURE("zip/a.zip"), TU_FIXTURE("zip/zip64.zip")};
    for (int k = 0; k < 2; k++) {
        ck_assert_msg(data_zip_open(&z, paths[k]) == 0, "%s", nn_errmsg());
        const uint8_t *d = entry_bytes(&z, "text.bin", &n, &own);
        ck_assert_uint_eq(data_zip_find(&z, "text.bin")->method, 8);
        ck_assert_ptr_nonnull(own);
        ck_assert_uint_eq(n, on);
        ck_assert(memcmp(d, orig, on) == 0);
        free(own);
        data_zip_close(&z);
    }
    ck_assert_int_eq(data_zip_open(&z, paths[0]), 0);
    ck_assert_uint_eq(z.count, 4);
    const uint8_t *d = entry_bytes(&z, "dir/small.txt", &n, &own);
    ck_assert_ptr_null(own); /* STORED: a pointer into the mapping */
    ck_assert_uint_eq(n, 13);
    ck_assert(memcmp(d, "stored bytes\n", 13) == 0);
    entry_bytes(&z, "empty", &n, &own);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(data_zip_find(&z, "missing"));
    /* a limit below the entry size is refused */
    ck_assert_int_eq(data_zip_read(&z, data_zip_find(&z, "text.bin"), 100, &d, &own), -1);
    data_zip_close(&z);
    free(orig);
}
END_TEST

START_TEST(zip_torch_save) {
    struct data_zip z;
    ck_assert_msg(data_zip_open(&z, TU_FIXTURE("zip/tiny.pth")) == 0, "%s", nn_errmsg());
    ck_assert_ptr_nonnull(data_zip_find(&z, "tiny/data.pkl"));
    ck_assert_ptr_nonnull(data_zip_find(&z, "tiny/version"));
    for (size_t i = 0; i < z.count; i++) {
        ck_assert_uint_eq(z.entries[i].method, 0);
        ck_assert_uint_eq(z.entries[i].data_off % 64, 0); /* torch aligns the data */
    }
    size_t n;
    uint8_t *own;
    /* the float tensor arange(12) and the int64 tensor [1, -2, 3], little-endian */
    size_t n1;
    const uint8_t *e0 = entry_bytes(&z, "tiny/data/0", &n, &own);
    const uint8_t *e1 = entry_bytes(&z, "tiny/data/1", &n1, &own);
    ck_assert_uint_eq(n + n1, 72);
    const uint8_t *f = n == 48 ? e0 : e1, *g = n == 48 ? e1 : e0;
    for (int i = 0; i < 12; i++) {
        float v;
        memcpy(&v, f + 4 * i, 4);
        ck_assert(v == (float)i);
    }
    int64_t iv[3];
    memcpy(iv, g, 24);
    ck_assert(iv[0] == 1 && iv[1] == -2 && iv[2] == 3);
    size_t pn;
    const uint8_t *pkl = entry_bytes(&z, "tiny/data.pkl", &pn, &own);
    ck_assert(pn > 2 && pkl[0] == 0x80); /* pickle PROTO opcode */
    data_zip_close(&z);
}
END_TEST

START_TEST(zip_hostile_inputs) {
    size_t n;
    uint8_t *src = load(TU_FIXTURE("zip/a.zip"), &n), *mut = malloc(n);
    struct nn_rng r;
    nn_rng_seed(&r, 1989);
    struct data_zip z;
    for (size_t k = 0; k < n; k++) { /* a truncated archive loses its directory */
        memcpy(mut, src, k);
        ck_assert_int_eq(data_zip_open_mem(&z, mut, k), -1);
    }
    for (int t = 0; t < 2000; t++) {
        memcpy(mut, src, n);
        int flips = 1 + (int)nn_rng_below(&r, 3);
        for (int i = 0; i < flips; i++)
            mut[nn_rng_below(&r, n)] ^= (uint8_t)(1u << nn_rng_below(&r, 8));
        if (data_zip_open_mem(&z, mut, n)) continue;
        for (size_t i = 0; i < z.count; i++) {
            const uint8_t *d;
            uint8_t *own;
            if (data_zip_read(&z, &z.entries[i], 1 << 20, &d, &own) == 0) free(own);
        }
        data_zip_close(&z);
    }
    free(mut);
    free(src);
}
END_TEST

/* ---- JPEG ------------------------------------------------------------------------------------ */

/* Every fixture of tests/fixtures/make_jpeg_fixtures.sh with djpeg's output beside it. */
static const char *jpeg_fixtures[] = {
    "b444",     "b422",   "b420", "b440",   "b311",   "b131",  "b421", "bmix",     "gray",
    "grayprog", "q100",   "q10",  "opt",    "rst1",   "rst3b", "rgb",  "prog420",  "progrst",
    "odd17",    "odd17p", "one",  "narrow", "jtprog", "jtrst", "cmyk", "cmykprog", "ycck"};
#define N_JPEG (sizeof jpeg_fixtures / sizeof *jpeg_fixtures)

static void fixture_paths(const char *name, char *jpg, char *ref, size_t cap) {
    snprintf(jpg, cap, "tests/fixtures/jpeg/%s.jpg", name);
    snprintf(ref, cap, "tests/fixtures/jpeg/%s.%s", name, strncmp(name, "gray", 4) ? "ppm" : "pgm");
}

/* Mean absolute difference and PSNR (dB, 99 when equal) of two images of equal shape. */
static void image_diff(const struct data_image *a, const struct data_image *b, double *mad,
                       double *psnr) {
    size_t n = (size_t)a->w * (size_t)a->h * (size_t)a->c;
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a->px[i] - b->px[i];
        s += fabs(d);
        s2 += d * d;
    }
    *mad = s / (double)n;
    *psnr = s2 > 0 ? 10 * log10(255.0 * 255.0 / (s2 / (double)n)) : 99.0;
}

static void check_against_djpeg(enum nn_isa isa) {
    enum nn_isa before = nn_isa();
    nn_isa_set(isa);
    struct data_jpeg *d = data_jpeg_new();
    struct data_image img = {0}, ref = {0};
    double worst_mad = 0, worst_psnr = 99;
    const char *worst = "";
    for (size_t i = 0; i < N_JPEG; i++) {
        char jpg[256], rp[256];
        fixture_paths(jpeg_fixtures[i], jpg, rp, sizeof jpg);
        size_t n;
        uint8_t *buf = load(jpg, &n);
        int warn = -1;
        ck_assert_msg(data_jpeg_decode(d, buf, n, &img, &warn) == 0, "%s: %s", jpg, nn_errmsg());
        ck_assert_msg(warn == 0, "%s: warnings %d", jpg, warn);
        ck_assert_msg(data_image_read_pnm(rp, &ref) == 0, "%s", nn_errmsg());
        ck_assert_int_eq(img.w, ref.w);
        ck_assert_int_eq(img.h, ref.h);
        ck_assert_int_eq(img.c, ref.c);
        double mad, psnr;
        image_diff(&img, &ref, &mad, &psnr);
        ck_assert_msg(mad <= 1.0 && psnr >= 40.0, "%s: MAD %.3f PSNR %.2f", jpg, mad, psnr);
        if (mad > worst_mad) {
            worst_mad = mad;
            worst = jpeg_fixtures[i];
        }
        if (psnr < worst_psnr) worst_psnr = psnr;
        free(buf);
    }
    printf("jpeg vs djpeg (%s): %zu fixtures, worst MAD %.4f (%s), worst PSNR %.2f dB\n",
           nn_isa_name(nn_isa()), N_JPEG, worst_mad, *worst ? worst : "all bit-exact", worst_psnr);
    data_image_free(&img);
    data_image_free(&ref);
    data_jpeg_free(d);
    nn_isa_set(before);
}

START_TEST(jpeg_matches_djpeg) {
    check_against_djpeg(NN_ISA_AVX2);
    check_against_djpeg(NN_ISA_SCALAR);
}
END_TEST

START_TEST(jpeg_scaled_matches_djpeg) {
    /* decoding at 1/N against djpeg -scale 1/N: equal within rounding of the reduced IDCTs */
    static const struct {
        const char *name;
        int denom;
    } cases[] = {{"b420", 2},    {"b420", 8},    {"b444", 4}, {"b422", 2}, {"gray", 4},
                 {"prog420", 4}, {"progrst", 2}, {"b311", 2}, {"ycck", 2}, {"odd17", 2}};
    struct data_jpeg *d = data_jpeg_new();
    struct data_image img = {0}, ref = {0};
    double worst_mad = 0, worst_psnr = 99;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char jpg[256], rp[256];
        snprintf(jpg, sizeof jpg, "tests/fixtures/jpeg/%s.jpg", cases[i].name);
        snprintf(rp, sizeof rp, "tests/fixtures/jpeg/%s_s%d.%s", cases[i].name, cases[i].denom,
                 strcmp(cases[i].name, "gray") ? "ppm" : "pgm");
        size_t n;
        uint8_t *buf = load(jpg, &n);
        ck_assert_int_eq(data_jpeg_set_scale(d, cases[i].denom), 0);
        ck_assert_msg(data_jpeg_decode(d, buf, n, &img, NULL) == 0, "%s", nn_errmsg());
        ck_assert_msg(data_image_read_pnm(rp, &ref) == 0, "%s", nn_errmsg());
        ck_assert(img.w == ref.w && img.h == ref.h && img.c == ref.c);
        double mad, psnr;
        image_diff(&img, &ref, &mad, &psnr);
        ck_assert_msg(mad <= 0.05 && psnr >= 60, "%s 1/%d: MAD %.4f PSNR %.1f", cases[i].name,
                      cases[i].denom, mad, psnr);
        if (mad > worst_mad) worst_mad = mad;
        if (psnr < worst_psnr) worst_psnr = psnr;
        free(buf);
    }
    printf("jpeg 1/N vs djpeg -scale: %zu cases, worst MAD %.4f, worst PSNR %.1f dB\n",
           sizeof cases / sizeof *cases, worst_mad, worst_psnr);
    ck_assert_int_eq(data_jpeg_set_scale(d, 3), -1);
    data_image_free(&img);
    data_image_free(&ref);
    data_jpeg_free(d);
}
END_TEST

START_TEST(jpeg_info_and_errors) {
    size_t n;
    uint8_t *buf = load(TU_FIXTURE("jpeg/prog420.jpg"), &n);
    struct data_jpeg_info info;
    ck_assert_int_eq(data_jpeg_info(buf, n, &info), 0);
    ck_assert(info.w == 333 && info.h == 251 && info.ncomp == 3 && info.progressive == 1);
    ck_assert(info.hs[0] == 2 && info.vs[0] == 2 && info.hs[1] == 1 && info.channels == 3);
    struct data_jpeg *d = data_jpeg_new();
    struct data_image img = {0};
    data_jpeg_set_max_pixels(d, 333 * 250);
    ck_assert_int_eq(data_jpeg_decode(d, buf, n, &img, NULL), -1);
    ck_assert(strstr(nn_errmsg(), "limit") != NULL);
    data_jpeg_set_max_pixels(d, 333 * 251);
    ck_assert_int_eq(data_jpeg_decode(d, buf, n, &img, NULL), 0);
    free(buf);
    /* arithmetic coding: a clean error naming the process */
    buf = load(TU_FIXTURE("jpeg/arith.jpg"), &n);
    ck_assert_int_eq(data_jpeg_decode(d, buf, n, &img, NULL), -1);
    ck_assert(strstr(nn_errmsg(), "not supported") != NULL);
    free(buf);
    static const uint8_t not_jpeg[] = "P6 1 1 255 xyz", soi_only[] = {0xFF, 0xD8, 0xFF, 0xD9};
    ck_assert_int_eq(data_jpeg_decode(d, not_jpeg, sizeof not_jpeg, &img, NULL), -1);
    ck_assert_int_eq(data_jpeg_decode(d, soi_only, 4, &img, NULL), -1);
    ck_assert_int_eq(data_jpeg_decode(d, soi_only, 1, &img, NULL), -1);
    /* a DHT whose counts overflow the code space (three 1-bit codes) */
    uint8_t dht[4 + 2 + 17 + 3 + 2] = {0xFF, 0xD8, 0xFF, 0xC4, 0, 2 + 17 + 3, 0x00, 3};
    dht[sizeof dht - 2] = 0xFF;
    dht[sizeof dht - 1] = 0xD9;
    ck_assert_int_eq(data_jpeg_decode(d, dht, sizeof dht, &img, NULL), -1);
    ck_assert(strstr(nn_errmsg(), "Huffman") != NULL);
    data_image_free(&img);
    data_jpeg_free(d);
}
END_TEST

START_TEST(jpeg_truncated_tail_is_grey) {
    size_t n;
    uint8_t *buf = load(TU_FIXTURE("jpeg/b444.jpg"), &n);
    struct data_image full = {0}, part = {0};
    int warn;
    ck_assert_int_eq(data_jpeg_decode_mem(buf, n, &full, &warn), 0);
    /* cut in the middle of the scan: an image with the tail missing, and a warning */
    ck_assert_int_eq(data_jpeg_decode_mem(buf, n * 2 / 3, &part, &warn), 0);
    ck_assert(warn & DATA_JPEG_WARN_TRUNCATED);
    ck_assert_int_eq(part.w, full.w);
    ck_assert(memcmp(part.px, full.px, (size_t)full.w * 3 * 8) == 0); /* first MCU row intact */
    const uint8_t *last = part.px + ((size_t)part.h * part.w - 1) * 3;
    ck_assert(last[0] == 128 && last[1] == 128 && last[2] == 128);
    data_image_free(&full);
    data_image_free(&part);
    free(buf);
}
END_TEST

START_TEST(jpeg_hostile_inputs) {
    struct nn_rng r;
    nn_rng_seed(&r, 81);
    struct data_jpeg *d = data_jpeg_new();
    data_jpeg_set_max_pixels(d, 1 << 20);
    struct data_image img = {0};
    int ok = 0, failed = 0;
    for (size_t i = 0; i < N_JPEG; i++) {
        char jpg[256], rp[256];
        fixture_paths(jpeg_fixtures[i], jpg, rp, sizeof jpg);
        size_t n;
        uint8_t *src = load(jpg, &n), *mut = malloc(n);
        /* truncations at 48 points spread over the file, each in an exact-size buffer */
        for (int t = 0; t < 48; t++) {
            size_t k = (size_t)((double)n * t / 48.0);
            uint8_t *cut = malloc(k ? k : 1);
            memcpy(cut, src, k);
            int warn = 0;
            if (data_jpeg_decode(d, cut, k, &img, &warn) == 0) {
                ok++;
                ck_assert(img.w > 0 && img.h > 0 && (img.c == 1 || img.c == 3));
            } else {
                failed++;
            }
            free(cut);
        }
        /* bit flips anywhere (markers included), at every scale */
        for (int t = 0; t < 40; t++) {
            data_jpeg_set_scale(d, 1 << (t & 3));
            memcpy(mut, src, n);
            int flips = 1 + (int)nn_rng_below(&r, 6);
            for (int k = 0; k < flips; k++)
                mut[nn_rng_below(&r, n)] ^= (uint8_t)(1u << nn_rng_below(&r, 8));
            if (data_jpeg_decode(d, mut, n, &img, NULL) == 0)
                ok++;
            else
                failed++;
        }
        data_jpeg_set_scale(d, 1);
        free(mut);
        free(src);
    }
    ck_assert_int_gt(ok, 0);
    ck_assert_int_gt(failed, 0);
    data_image_free(&img);
    data_jpeg_free(d);
}
END_TEST

START_TEST(idct_and_color_paths_agree) {
    struct nn_rng r;
    nn_rng_seed(&r, 8);
    int16_t blk[64];
    uint8_t a[64];
    int unclamped = 0;
    for (int t = 0; t < 5000; t++) {
        /* sparse and dense blocks, magnitudes of real data and the int16 extremes */
        int range = t % 5 == 0 ? 32767 : t % 2 ? 1024 : 64;
        int dens = 1 + (int)nn_rng_below(&r, 64);
        for (int i = 0; i < 64; i++)
            blk[i] = (int)nn_rng_below(&r, 64) < dens
                         ? (int16_t)((int)nn_rng_below(&r, (uint64_t)(2 * range + 1)) - range)
                         : 0;
        data_jpeg_idct_islow(blk, a, 8);
        uint8_t r4[16], r2[4];
        data_jpeg_idct_reduced(blk, r4, 4, 4);
        data_jpeg_idct_reduced(blk, r2, 2, 2);
#ifndef HAQ_NOSIMD
        if (nn_isa() == NN_ISA_AVX2) {
            uint8_t b[64];
            data_jpeg_idct_islow_avx2(blk, b, 8);
            ck_assert_msg(memcmp(a, b, 64) == 0, "IDCT paths differ on block %d", t);
            data_jpeg_idct_reduced_avx2(blk, b, 4, 4);
            ck_assert_msg(memcmp(r4, b, 16) == 0, "4×4 IDCT paths differ on block %d", t);
            data_jpeg_idct_reduced_avx2(blk, b, 2, 2);
            ck_assert_msg(memcmp(r2, b, 4) == 0, "2×2 IDCT paths differ on block %d", t);
        }
#endif
        /* the reduced IDCTs are box averages of the full one, up to rounding, where nothing
         * clamps */
        int clamped = 0;
        for (int i = 0; i < 64; i++) clamped |= a[i] == 0 || a[i] == 255;
        unclamped += !clamped;
        if (!clamped)
            for (int y = 0; y < 4; y++)
                for (int x = 0; x < 4; x++) {
                    int avg = (a[16 * y + 2 * x] + a[16 * y + 2 * x + 1] + a[16 * y + 8 + 2 * x] +
                               a[16 * y + 9 + 2 * x] + 2) /
                              4;
                    ck_assert_int_le(abs(avg - r4[4 * y + x]), 2);
                }
    }
    ck_assert_int_gt(unclamped, 500);
    /* flat block: 8·(mean − 128) dequantized DC gives the mean back */
    memset(blk, 0, sizeof blk);
    blk[0] = 8 * (200 - 128);
    data_jpeg_idct_islow(blk, a, 8);
    for (int i = 0; i < 64; i++) ck_assert_int_eq(a[i], 200);
    enum { N = 4099 };
    uint8_t *y = malloc(N), *cb = malloc(N), *cr = malloc(N), *o1 = malloc(3 * N),
            *o2 = malloc(3 * N);
    for (int i = 0; i < N; i++) {
        y[i] = (uint8_t)nn_rng_below(&r, 256);
        cb[i] = (uint8_t)nn_rng_below(&r, 256);
        cr[i] = (uint8_t)nn_rng_below(&r, 256);
    }
    data_jpeg_ycc_rgb(y, cb, cr, o1, N);
    /* grey stays grey; the JFIF equations at a few points */
    uint8_t g[3], k128 = 128, yv = 77;
    data_jpeg_ycc_rgb(&yv, &k128, &k128, g, 1);
    ck_assert(g[0] == 77 && g[1] == 77 && g[2] == 77);
    uint8_t crmax = 255, cbmin = 0;
    data_jpeg_ycc_rgb(&yv, &cbmin, &crmax, g, 1);
    ck_assert_int_eq(g[0], 255); /* 77 + 1.402·127 > 255 */
    ck_assert_int_eq(g[1], (int)lround(77 + 0.34414 * 128 - 0.71414 * 127));
    ck_assert_int_eq(g[2], 0);
#ifndef HAQ_NOSIMD
    if (nn_isa() == NN_ISA_AVX2) {
        for (int off = 0; off < 20; off++) {
            data_jpeg_ycc_rgb_avx2(y + off, cb + off, cr + off, o2, N - off);
            ck_assert(memcmp(o1 + 3 * off, o2, 3 * (size_t)(N - off)) == 0);
        }
    }
#endif
    free(y);
    free(cb);
    free(cr);
    free(o1);
    free(o2);
}
END_TEST

START_TEST(cmyk_conversion) {
    /* R = round(C·K/255) on the stored (Adobe-inverted) values */
    static const uint8_t cmyk[] = {255, 255, 255, 255, 0,   10, 128, 255,
                                   128, 64,  1,   128, 200, 7,  0,   0};
    uint8_t rgb[12];
    data_jpeg_cmyk_to_rgb(cmyk, rgb, 4);
    static const uint8_t want[] = {255, 255, 255, 0, 10, 128, 64, 32, 1, 0, 0, 0};
    ck_assert(memcmp(rgb, want, 12) == 0);
    for (int c = 0; c < 256; c++)
        for (int k = 0; k < 256; k += 5) {
            uint8_t px[4] = {(uint8_t)c, (uint8_t)c, (uint8_t)c, (uint8_t)k}, o[3];
            data_jpeg_cmyk_to_rgb(px, o, 1);
            ck_assert_int_eq(o[0], (int)floor(c * k / 255.0 + 0.5));
        }
}
END_TEST

START_TEST(decoder_reuse_is_stateless) {
    struct data_jpeg *d = data_jpeg_new();
    struct data_image a = {0}, b = {0};
    /* big then small then progressive then CMYK: buffers are reused, results unchanged */
    const char *order[] = {"prog420", "one", "gray", "cmykprog", "b421", "odd17p", "rst1"};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        char jpg[256], rp[256];
        fixture_paths(order[i], jpg, rp, sizeof jpg);
        size_t n;
        uint8_t *buf = load(jpg, &n);
        ck_assert_int_eq(data_jpeg_decode(d, buf, n, &a, NULL), 0);
        ck_assert_int_eq(data_jpeg_decode_mem(buf, n, &b, NULL), 0);
        ck_assert(a.w == b.w && a.h == b.h && a.c == b.c);
        ck_assert(memcmp(a.px, b.px, (size_t)a.w * a.h * a.c) == 0);
        free(buf);
    }
    data_image_free(&a);
    data_image_free(&b);
    data_jpeg_free(d);
}
END_TEST

START_TEST(pnm_and_decode_command) {
    char dir[] = "/tmp/haq_codecs_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char out[300];
    snprintf(out, sizeof out, "%s/o.ppm", dir);
    char *argv[] = {"decode", (char *)TU_FIXTURE("jpeg/bmix.jpg"), "-o", out, NULL};
    ck_assert_int_eq(data_cmd_decode(4, argv), 0);
    struct data_image a = {0}, b = {0};
    ck_assert_int_eq(data_image_read_pnm(out, &a), 0);
    ck_assert_int_eq(data_image_read_pnm(TU_FIXTURE("jpeg/bmix.ppm"), &b), 0);
    ck_assert(a.w == b.w && a.h == b.h && a.c == 3);
    double mad, psnr;
    image_diff(&a, &b, &mad, &psnr);
    ck_assert(mad <= 1.0);
    /* grayscale goes to P5; the temporary name is gone after the rename */
    snprintf(out, sizeof out, "%s/g.pgm", dir);
    char *argv2[] = {"decode", (char *)TU_FIXTURE("jpeg/gray.jpg"), "-o", out, NULL};
    ck_assert_int_eq(data_cmd_decode(4, argv2), 0);
    size_t n;
    uint8_t *g = load(out, &n);
    ck_assert(g[0] == 'P' && g[1] == '5');
    free(g);
    char tmp[310];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    ck_assert_int_ne(access(tmp, F_OK), 0);
    remove(out);
    /* usage errors */
    char *argv3[] = {"decode", NULL};
    ck_assert_int_eq(data_cmd_decode(1, argv3), 2);
    /* PNM with comments parses; a short raster does not */
    static const uint8_t pnm[] = "P5\n# c\n2 1\n255\nAB";
    ck_assert_int_eq(data_pnm_decode(pnm, sizeof pnm - 1, &a), 0);
    ck_assert(a.w == 2 && a.h == 1 && a.c == 1 && a.px[1] == 'B');
    ck_assert_int_eq(data_pnm_decode(pnm, sizeof pnm - 2, &a), -1);
    snprintf(out, sizeof out, "%s/o.ppm", dir);
    remove(out);
    rmdir(dir);
    data_image_free(&a);
    data_image_free(&b);
}
END_TEST

Suite *suite_data_codecs(void) {
    Suite *s = suite_create("data_codecs");
    TCase *tc = tcase_create("codecs");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, checksums);
    tcase_add_test(tc, gzip_levels_and_members);
    tcase_add_test(tc, raw_stored_fixed_and_zlib);
    tcase_add_test(tc, inflate_handmade_streams);
    tcase_add_test(tc, inflate_hostile_inputs);
    tcase_add_test(tc, zip_archives);
    tcase_add_test(tc, zip_torch_save);
    tcase_add_test(tc, zip_hostile_inputs);
    tcase_add_test(tc, jpeg_matches_djpeg);
    tcase_add_test(tc, jpeg_scaled_matches_djpeg);
    tcase_add_test(tc, jpeg_info_and_errors);
    tcase_add_test(tc, jpeg_truncated_tail_is_grey);
    tcase_add_test(tc, jpeg_hostile_inputs);
    tcase_add_test(tc, idct_and_color_paths_agree);
    tcase_add_test(tc, cmyk_conversion);
    tcase_add_test(tc, decoder_reuse_is_stateless);
    tcase_add_test(tc, pnm_and_decode_command);
    suite_add_tcase(s, tc);
    return s;
}
