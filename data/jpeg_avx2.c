/* The islow IDCT of jpeg.c on AVX2: one block as eight int32 vectors, the column pass on
 * rows-as-vectors (lane = column), a transpose, the row pass, a transpose back, and packing with
 * saturation. The arithmetic is the portable version's operation for operation (its DC-only
 * shortcuts are exact special cases of the full formulas), so results are bitwise equal. */
#include "jpeg.h"

#include <immintrin.h>
#include <string.h>

#define CONST_BITS 13
#define PASS1_BITS 2

static inline __m256i mulc(__m256i x, int c) {
    return _mm256_mullo_epi32(x, _mm256_set1_epi32(c));
}

/* v[0..7] in, v[0..7] out (before the final shift), as IDCT_1D in jpeg.c. */
static inline void idct_1d(__m256i *v, int round, int shift) {
    __m256i z2 = v[2], z3 = v[6];
    __m256i z1 = mulc(_mm256_add_epi32(z2, z3), 4433);
    __m256i t2 = _mm256_sub_epi32(z1, mulc(z3, 15137));
    __m256i t3 = _mm256_add_epi32(z1, mulc(z2, 6270));
    __m256i r = _mm256_set1_epi32(round);
    __m256i t0 = _mm256_add_epi32(_mm256_slli_epi32(_mm256_add_epi32(v[0], v[4]), CONST_BITS), r);
    __m256i t1 = _mm256_add_epi32(_mm256_slli_epi32(_mm256_sub_epi32(v[0], v[4]), CONST_BITS), r);
    __m256i t10 = _mm256_add_epi32(t0, t3), t13 = _mm256_sub_epi32(t0, t3);
    __m256i t11 = _mm256_add_epi32(t1, t2), t12 = _mm256_sub_epi32(t1, t2);
    __m256i a0 = v[7], a1 = v[5], a2 = v[3], a3 = v[1];
    __m256i y1 = _mm256_add_epi32(a0, a3), y2 = _mm256_add_epi32(a1, a2);
    __m256i y3 = _mm256_add_epi32(a0, a2), y4 = _mm256_add_epi32(a1, a3);
    __m256i y5 = mulc(_mm256_add_epi32(y3, y4), 9633);
    a0 = mulc(a0, 2446);
    a1 = mulc(a1, 16819);
    a2 = mulc(a2, 25172);
    a3 = mulc(a3, 12299);
    y1 = mulc(y1, -7373);
    y2 = mulc(y2, -20995);
    y3 = _mm256_add_epi32(mulc(y3, -16069), y5);
    y4 = _mm256_add_epi32(mulc(y4, -3196), y5);
    a0 = _mm256_add_epi32(a0, _mm256_add_epi32(y1, y3));
    a1 = _mm256_add_epi32(a1, _mm256_add_epi32(y2, y4));
    a2 = _mm256_add_epi32(a2, _mm256_add_epi32(y2, y3));
    a3 = _mm256_add_epi32(a3, _mm256_add_epi32(y1, y4));
    __m128i sh = _mm_cvtsi32_si128(shift);
    v[0] = _mm256_sra_epi32(_mm256_add_epi32(t10, a3), sh);
    v[7] = _mm256_sra_epi32(_mm256_sub_epi32(t10, a3), sh);
    v[1] = _mm256_sra_epi32(_mm256_add_epi32(t11, a2), sh);
    v[6] = _mm256_sra_epi32(_mm256_sub_epi32(t11, a2), sh);
    v[2] = _mm256_sra_epi32(_mm256_add_epi32(t12, a1), sh);
    v[5] = _mm256_sra_epi32(_mm256_sub_epi32(t12, a1), sh);
    v[3] = _mm256_sra_epi32(_mm256_add_epi32(t13, a0), sh);
    v[4] = _mm256_sra_epi32(_mm256_sub_epi32(t13, a0), sh);
}

static inline void transpose8(__m256i *r) {
    __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

void data_jpeg_idct_islow_avx2(const int16_t *coef, uint8_t *out, size_t stride) {
    __m256i v[8];
    for (int i = 0; i < 8; i++)
        v[i] = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(coef + 8 * i)));
    idct_1d(v, 1 << (CONST_BITS - PASS1_BITS - 1), CONST_BITS - PASS1_BITS);
    const __m256i lo = _mm256_set1_epi32(-32768), hi = _mm256_set1_epi32(32767);
    for (int i = 0; i < 8; i++) v[i] = _mm256_min_epi32(_mm256_max_epi32(v[i], lo), hi);
    transpose8(v);
    idct_1d(v, 1 << (CONST_BITS + PASS1_BITS + 2), CONST_BITS + PASS1_BITS + 3);
    transpose8(v);
    const __m256i c128 = _mm256_set1_epi32(128);
    for (int i = 0; i < 8; i += 4) {
        __m256i p01 =
            _mm256_packs_epi32(_mm256_add_epi32(v[i], c128), _mm256_add_epi32(v[i + 1], c128));
        __m256i p23 =
            _mm256_packs_epi32(_mm256_add_epi32(v[i + 2], c128), _mm256_add_epi32(v[i + 3], c128));
        p01 = _mm256_permute4x64_epi64(p01, 0xD8);
        p23 = _mm256_permute4x64_epi64(p23, 0xD8);
        /* bytes: [row i | row i+2 | row i+1 | row i+3] */
        __m256i b = _mm256_packus_epi16(p01, p23);
        __m128i l0 = _mm256_castsi256_si128(b), l1 = _mm256_extracti128_si256(b, 1);
        _mm_storel_epi64((__m128i *)(out + (size_t)i * stride), l0);
        _mm_storel_epi64((__m128i *)(out + (size_t)(i + 1) * stride), l1);
        _mm_storel_epi64((__m128i *)(out + (size_t)(i + 2) * stride), _mm_unpackhi_epi64(l0, l0));
        _mm_storel_epi64((__m128i *)(out + (size_t)(i + 3) * stride), _mm_unpackhi_epi64(l1, l1));
    }
}

/* Eight pixels of one channel: y + ((m1·a + m2·b + HALF) >> 16), as int32. */
static inline __m256i ycc_term(__m256i y, __m256i a, int m1, __m256i b, int m2) {
    __m256i t = _mm256_add_epi32(mulc(a, m1), _mm256_set1_epi32(YCC_HALF));
    if (m2) t = _mm256_add_epi32(t, mulc(b, m2));
    return _mm256_add_epi32(y, _mm256_srai_epi32(t, 16));
}

/* 16 int32 (two vectors) → 16 bytes saturated to [0, 255], in order. */
static inline __m128i pack16(__m256i lo, __m256i hi) {
    __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xD8);
    return _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
}

void data_jpeg_ycc_rgb_avx2(const uint8_t *y, const uint8_t *cb, const uint8_t *cr, uint8_t *rgb,
                            int n) {
    /* pshufb masks interleaving 16 R, G, B bytes into 48: output byte p takes channel p % 3 of
     * pixel p / 3; −128 zeroes a byte. */
    const __m128i m[3][3] = {
        {_mm_setr_epi8(0, -128, -128, 1, -128, -128, 2, -128, -128, 3, -128, -128, 4, -128, -128,
                       5),
         _mm_setr_epi8(-128, 0, -128, -128, 1, -128, -128, 2, -128, -128, 3, -128, -128, 4, -128,
                       -128),
         _mm_setr_epi8(-128, -128, 0, -128, -128, 1, -128, -128, 2, -128, -128, 3, -128, -128, 4,
                       -128)},
        {_mm_setr_epi8(-128, -128, 6, -128, -128, 7, -128, -128, 8, -128, -128, 9, -128, -128, 10,
                       -128),
         _mm_setr_epi8(5, -128, -128, 6, -128, -128, 7, -128, -128, 8, -128, -128, 9, -128, -128,
                       10),
         _mm_setr_epi8(-128, 5, -128, -128, 6, -128, -128, 7, -128, -128, 8, -128, -128, 9, -128,
                       -128)},
        {_mm_setr_epi8(-128, 11, -128, -128, 12, -128, -128, 13, -128, -128, 14, -128, -128, 15,
                       -128, -128),
         _mm_setr_epi8(-128, -128, 11, -128, -128, 12, -128, -128, 13, -128, -128, 14, -128, -128,
                       15, -128),
         _mm_setr_epi8(10, -128, -128, 11, -128, -128, 12, -128, -128, 13, -128, -128, 14, -128,
                       -128, 15)},
    };
    const __m256i c128 = _mm256_set1_epi32(128);
    int x = 0;
    for (; x + 16 <= n; x += 16, rgb += 48) {
        __m128i ch[3];
        __m256i r[2], g[2], b[2];
        for (int h = 0; h < 2; h++) {
            __m256i yy = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(y + x + 8 * h)));
            __m256i u = _mm256_sub_epi32(
                _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(cb + x + 8 * h))), c128);
            __m256i v = _mm256_sub_epi32(
                _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(cr + x + 8 * h))), c128);
            r[h] = ycc_term(yy, v, YCC_R_CR, v, 0);
            g[h] = ycc_term(yy, u, -YCC_G_CB, v, -YCC_G_CR);
            b[h] = ycc_term(yy, u, YCC_B_CB, u, 0);
        }
        ch[0] = pack16(r[0], r[1]);
        ch[1] = pack16(g[0], g[1]);
        ch[2] = pack16(b[0], b[1]);
        for (int j = 0; j < 3; j++) {
            __m128i o = _mm_or_si128(
                _mm_or_si128(_mm_shuffle_epi8(ch[0], m[j][0]), _mm_shuffle_epi8(ch[1], m[j][1])),
                _mm_shuffle_epi8(ch[2], m[j][2]));
            _mm_storeu_si128((__m128i *)(rgb + 16 * j), o);
        }
    }
    if (x < n) data_jpeg_ycc_rgb(y + x, cb + x, cr + x, rgb, n - x);
}

/* Σ of the 8 int32 lanes of a, b, c, d → one 128-bit vector {Σa, Σb, Σc, Σd}. */
static inline __m128i hsum4(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

/* The reduced IDCT of jpeg.c, the same sums in another order (exact in int32): the column
 * pass on rows-as-vectors, each output row then a dot product of its 8 column results with a
 * weight row. */
void data_jpeg_idct_reduced_avx2(const int16_t *coef, uint8_t *out, size_t stride, int k) {
    const int32_t(*m)[8] = k == 4 ? data_jpeg_reduced_m4 : data_jpeg_reduced_m2;
    __m256i v[8], ws[4], mr[4];
    for (int i = 0; i < 8; i++)
        v[i] = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(coef + 8 * i)));
    const __m256i r1 = _mm256_set1_epi32(1 << (CONST_BITS - PASS1_BITS - 1));
    const __m256i lo = _mm256_set1_epi32(-32768), hi = _mm256_set1_epi32(32767);
    for (int y = 0; y < k / 2; y++) {
        __m256i e = _mm256_add_epi32(_mm256_add_epi32(mulc(v[0], m[y][0]), mulc(v[2], m[y][2])),
                                     _mm256_add_epi32(mulc(v[4], m[y][4]), mulc(v[6], m[y][6])));
        __m256i o = _mm256_add_epi32(_mm256_add_epi32(mulc(v[1], m[y][1]), mulc(v[3], m[y][3])),
                                     _mm256_add_epi32(mulc(v[5], m[y][5]), mulc(v[7], m[y][7])));
        e = _mm256_add_epi32(e, r1);
        __m256i a = _mm256_srai_epi32(_mm256_add_epi32(e, o), CONST_BITS - PASS1_BITS);
        __m256i b = _mm256_srai_epi32(_mm256_sub_epi32(e, o), CONST_BITS - PASS1_BITS);
        ws[y] = _mm256_min_epi32(_mm256_max_epi32(a, lo), hi);
        ws[k - 1 - y] = _mm256_min_epi32(_mm256_max_epi32(b, lo), hi);
    }
    for (int x = 0; x < k; x++) mr[x] = _mm256_loadu_si256((const __m256i *)m[x]);
    const __m128i r2 = _mm_set1_epi32(1 << (CONST_BITS + PASS1_BITS + 2)),
                  c128 = _mm_set1_epi32(128);
    for (int y = 0; y < k; y++, out += stride) {
        __m256i p0 = _mm256_mullo_epi32(ws[y], mr[0]), p1 = _mm256_mullo_epi32(ws[y], mr[1]);
        __m256i p2 = p0, p3 = p1;
        if (k == 4) {
            p2 = _mm256_mullo_epi32(ws[y], mr[2]);
            p3 = _mm256_mullo_epi32(ws[y], mr[3]);
        }
        __m128i sum = _mm_add_epi32(hsum4(p0, p1, p2, p3), r2);
        sum = _mm_add_epi32(_mm_srai_epi32(sum, CONST_BITS + PASS1_BITS + 3), c128);
        __m128i b = _mm_packus_epi16(_mm_packs_epi32(sum, sum), _mm_setzero_si128());
        uint32_t px = (uint32_t)_mm_cvtsi128_si32(b);
        memcpy(out, &px, (size_t)k);
    }
}
