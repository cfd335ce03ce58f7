/* .npy: the release's table, round trips of every dtype and rank, Fortran order, v2/v3
 * headers, half floats, and hostile files (every truncation, byte flips, malformed dicts). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/error.h"
#include "nn/npy.h"
#include "tests/testutil.h"

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* A .npy image with the given version and header text (padded with spaces and '\n' unless
 * raw), followed by data. */
static size_t build(unsigned char *out, int major, const char *header, int raw, const void *data,
                    size_t dlen) {
    size_t hoff = major == 1 ? 10 : 12, hl = strlen(header);
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = 0;
    memcpy(out + hoff, header, hl);
    if (!raw) {
        while ((hoff + hl + 1) % 16) out[hoff + hl++] = ' ';
        out[hoff + hl++] = '\n';
    }
    out[8] = (unsigned char)(hl & 0xff);
    out[9] = (unsigned char)(hl >> 8);
    if (major > 1) out[10] = out[11] = 0;
    memcpy(out + hoff + hl, data, dlen);
    return hoff + hl + dlen;
}

START_TEST(release_table) {
    struct nn_npy a;
    ck_assert_int_eq(nn_npy_read(&a, TU_FIXTURE("haq_mobilenetv2_latency_table.npy")), 0);
    ck_assert_int_eq(a.dtype, NN_NPY_I8);
    ck_assert_int_eq(a.ndim, 3);
    ck_assert_int_eq(a.shape[0], 53);
    ck_assert_int_eq(a.shape[1], 8);
    ck_assert_int_eq(a.shape[2], 8);
    double s88 = 0;
    for (int l = 0; l < 53; l++) s88 += nn_npy_get(&a, (size_t)l * 64 + 63);
    ck_assert_double_eq(s88, 39624933);
    ck_assert_double_eq(nn_npy_get(&a, 64), 401408); /* layer 1, w1 a1 */
    ck_assert_double_eq(nn_npy_get(&a, 30 * 64 + 63), 331888);
    /* Written back, the file is byte for byte the release's. */
    char path[] = "/tmp/haq_npy_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    ck_assert_int_eq(nn_npy_write(path, a.dtype, a.ndim, a.shape, a.data), 0);
    size_t n0, n1;
    unsigned char *b0 = slurp(TU_FIXTURE("haq_mobilenetv2_latency_table.npy"), &n0);
    unsigned char *b1 = slurp(path, &n1);
    ck_assert_uint_eq(n0, n1);
    ck_assert_int_eq(memcmp(b0, b1, n0), 0);
    free(b0);
    free(b1);
    unlink(path);
    nn_npy_free(&a);
}
END_TEST

START_TEST(round_trip_dtypes_ranks) {
    const enum nn_npy_dtype types[] = {NN_NPY_F4, NN_NPY_F8, NN_NPY_I8, NN_NPY_I4, NN_NPY_U1};
    const int64_t shapes[][4] = {{0}, {7}, {2, 3, 5}, {1, 0, 4}, {3, 1, 2, 2}};
    const int ranks[] = {0, 1, 3, 3, 4};
    char path[] = "/tmp/haq_npy_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    for (size_t t = 0; t < 5; t++)
        for (size_t s = 0; s < 5; s++) {
            size_t count = 1, item = nn_npy_itemsize(types[t]);
            for (int k = 0; k < ranks[s]; k++) count *= (size_t)shapes[s][k];
            unsigned char *d = malloc(count * item + 1);
            for (size_t i = 0; i < count * item; i++) d[i] = (unsigned char)(i * 37 + t);
            ck_assert_int_eq(nn_npy_write(path, types[t], ranks[s], shapes[s], d), 0);
            struct nn_npy a;
            ck_assert_msg(nn_npy_read(&a, path) == 0, "%s", nn_errmsg());
            ck_assert_int_eq(a.dtype, types[t]);
            ck_assert_int_eq(a.ndim, ranks[s]);
            ck_assert_uint_eq(a.count, count);
            for (int k = 0; k < ranks[s]; k++) ck_assert_int_eq(a.shape[k], shapes[s][k]);
            ck_assert_int_eq(memcmp(a.data, d, count * item), 0);
            size_t len;
            unsigned char *raw = slurp(path, &len);
            ck_assert_uint_eq((len - count * item) % 64, 0); /* data 64-byte aligned */
            free(raw);
            nn_npy_free(&a);
            free(d);
        }
    unlink(path);
    ck_assert_int_ne(nn_npy_write("/nonexistent-dir/x.npy", NN_NPY_F4, 0, NULL, "abcd"), 0);
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "/nonexistent-dir/x.npy"));
}
END_TEST

START_TEST(fortran_order_and_versions) {
    unsigned char buf[512];
    int32_t f[6] = {0, 3, 1, 4, 2, 5}; /* F order of [[0,1,2],[3,4,5]] */
    size_t n =
        build(buf, 1, "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }", 0, f, sizeof f);
    struct nn_npy a;
    ck_assert_int_eq(nn_npy_parse(&a, buf, n, "f.npy"), 0);
    for (int i = 0; i < 6; i++) ck_assert_double_eq(nn_npy_get(&a, (size_t)i), i);
    nn_npy_free(&a);
    /* v2 and v3 (UTF-8) headers, double quotes, no trailing comma, Python 2 long suffix. */
    double d[2] = {1.5, -2.25};
    for (int major = 2; major <= 3; major++) {
        n = build(buf, major, "{\"shape\": (2L,), \"descr\": \"<f8\", \"fortran_order\": False}", 0,
                  d, sizeof d);
        ck_assert_msg(nn_npy_parse(&a, buf, n, "v.npy") == 0, "%s", nn_errmsg());
        ck_assert_double_eq(nn_npy_get(&a, 1), -2.25);
        nn_npy_free(&a);
    }
    /* v3 must be UTF-8: a stray 0xff byte in the padding is rejected, latin-1 v1 is not. */
    n = build(buf, 3, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\xff", 0, d,
              sizeof d);
    ck_assert_int_ne(nn_npy_parse(&a, buf, n, "u.npy"), 0);
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "UTF-8"));
    /* Half floats: 1, −2, 0.5, the smallest subnormal, infinity. */
    uint16_t h[5] = {0x3c00, 0xc000, 0x3800, 0x0001, 0x7c00};
    n = build(buf, 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (5,), }", 0, h, sizeof h);
    ck_assert_int_eq(nn_npy_parse(&a, buf, n, "h.npy"), 0);
    ck_assert_double_eq(nn_npy_get(&a, 0), 1.0);
    ck_assert_double_eq(nn_npy_get(&a, 1), -2.0);
    ck_assert_double_eq(nn_npy_get(&a, 2), 0.5);
    ck_assert_double_eq(nn_npy_get(&a, 3), 5.960464477539063e-08);
    ck_assert(isinf(nn_npy_get(&a, 4)));
    nn_npy_free(&a);
}
END_TEST

START_TEST(malformed_headers) {
    static const struct {
        const char *header, *expect;
    } bad[] = {
        {"{'descr': '<f4', 'fortran_order': False, }", "missing key 'shape'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (), }", "duplicate"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}", "unknown key"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4), }", "not a tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", "negative"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", "big-endian"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", "structured"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", "not supported"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", "True or False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x", "garbage"},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (1,), }", "expected ','"},
        {"{'descr: '<f4', 'fortran_order': False, 'shape': (1,), }", "expected ':'"},
        {"['descr', '<f4']", "not a dict"},
        {"{'descr': '<f4', 'fortran_order': Falsey, 'shape': (1,), }", "True or False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1 2), }", "expected ','"},
        {"{'descr': '\\x3cf4', 'fortran_order': False, 'shape': (1,), }", "escape"},
    };
    unsigned char buf[512];
    float one = 1;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t n = build(buf, 1, bad[i].header, 0, &one, sizeof one);
        struct nn_npy a;
        ck_assert_int_ne(nn_npy_parse(&a, buf, n, "bad.npy"), 0);
        ck_assert_msg(strstr(nn_errmsg(), bad[i].expect) && strstr(nn_errmsg(), "bad.npy"),
                      "case %zu: '%s'", i, nn_errmsg());
    }
    /* No final newline; wrong data length either way; bad magic; bad version; short file. */
    const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }";
    struct nn_npy a;
    size_t n = build(buf, 1, ok, 1, &one, sizeof one);
    ck_assert_int_ne(nn_npy_parse(&a, buf, n, "nl.npy"), 0);
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "'\\n'"));
    n = build(buf, 1, ok, 0, &one, sizeof one);
    ck_assert_int_ne(nn_npy_parse(&a, buf, n - 1, "t.npy"), 0);
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "truncated"));
    buf[n] = 0;
    ck_assert_int_ne(nn_npy_parse(&a, buf, n + 1, "t.npy"), 0);
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "trailing"));
    ck_assert_int_eq(nn_npy_parse(&a, buf, n, "t.npy"), 0);
    nn_npy_free(&a);
    buf[6] = 4;
    ck_assert_int_ne(nn_npy_parse(&a, buf, n, "v.npy"), 0);
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "version"));
    buf[0] = 'x';
    ck_assert_int_ne(nn_npy_parse(&a, buf, n, "m.npy"), 0);
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "magic"));
    ck_assert_int_ne(nn_npy_read(&a, "/nonexistent.npy"), 0);
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "/nonexistent.npy"));
}
END_TEST

/* Every prefix of the release's file and every single-byte corruption of its header either
 * parses or fails cleanly (the sanitizer build catches any out-of-bounds read). */
START_TEST(hostile_bytes) {
    size_t len;
    unsigned char *b = slurp(TU_FIXTURE("haq_mobilenetv2_latency_table.npy"), &len);
    struct nn_npy a;
    for (size_t n = 0; n < len; n += n < 200 ? 1 : 997) {
        unsigned char *c = malloc(n ? n : 1);
        memcpy(c, b, n);
        ck_assert_int_ne(nn_npy_parse(&a, c, n, "p.npy"), 0);
        free(c);
    }
    static const unsigned char vals[] = {0,   '\'', '"', '(',  ')',  ',',  ':', '{',
                                         '}', '-',  '9', 0x80, 0xff, '\n', 'L', 'T'};
    for (size_t i = 0; i < 128; i++)
        for (size_t v = 0; v < sizeof vals; v++) {
            unsigned char save = b[i];
            b[i] = vals[v];
            if (nn_npy_parse(&a, b, len, "x.npy") == 0) {
                ck_assert_uint_le(a.count * nn_npy_itemsize(a.dtype), len);
                nn_npy_free(&a);
            }
            b[i] = save;
        }
    free(b);
}
END_TEST

Suite *suite_nn_npy(void) {
    Suite *s = suite_create("nn_npy");
    TCase *tc = tcase_create("npy");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, release_table);
    tcase_add_test(tc, round_trip_dtypes_ranks);
    tcase_add_test(tc, fortran_order_and_versions);
    tcase_add_test(tc, malformed_headers);
    tcase_add_test(tc, hostile_bytes);
    suite_add_tcase(s, tc);
    return s;
}
