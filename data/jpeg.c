/* JPEG decoding from ITU-T T.81 (see jpeg.h for what is supported and how output is defined).
 *
 * The pipeline: markers are parsed in order; each scan's entropy-coded data is first copied out
 * of the file with the 0xFF00 stuffing removed, split at its restart markers, each segment
 * followed by zero padding, so the Huffman decoder reads plain bytes with one 8-byte load per
 * refill and no marker checks. Sequential scans go straight from Huffman decoding through the
 * IDCT into one sample plane per component; progressive scans accumulate coefficients, which
 * are transformed once after the last scan. Upsampling and colour conversion then run row by
 * row into the output image. */
#include "jpeg.h"

#include <stdlib.h>
#include <string.h>

#include "data/inflate.h"
#include "nn/cpu.h"
#include "nn/error.h"

#define FAST_BITS 10
#define MAX_SCANS 1000

/* Zigzag index → natural (row-major) index; 16 extra entries absorb a corrupt run past 63. */
static const uint8_t natural[80] = {0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,
                                    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,  7,  14, 21, 28,
                                    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
                                    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
                                    63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63};

/* A Huffman table. look: the symbol of a code of at most FAST_BITS bits found from the next
 * FAST_BITS bits, as (length << 8 | symbol), 0 when the code is longer. fast: when the code and
 * the magnitude bits that follow it both fit in FAST_BITS, the decoded coefficient itself
 * (value, zero run, total bits); len = 0 otherwise. Longer codes use maxcode/valoff (T.81 F.2.2.3).
 */
struct fastv {
    int16_t v;
    uint8_t run, len;
};
struct htab {
    int defined;
    uint16_t look[1 << FAST_BITS];
    struct fastv fast[1 << FAST_BITS];
    int32_t maxcode[17], valoff[17];
    uint8_t vals[256];
};

enum up_kind { UP_COPY, UP_H2V1, UP_H1V2, UP_H2V2, UP_BOX };

struct comp {
    int id, h, v, tq;
    int cw, ch;         /* samples of this component as coded (downsampled size) */
    int bw, bh;         /* blocks covering cw × ch */
    int bstride, brows; /* blocks allocated: whole MCUs */
    int ks;             /* samples per block side after the IDCT: 8, or 4, 2, 1 when scaled */
    int sw, sh;         /* samples of this component in the plane (cw, ch scaled by ks/8) */
    size_t pstride;     /* plane row bytes (bstride · ks) */
    uint8_t *plane;     /* brows · ks rows */
    int16_t *coef;      /* progressive: [brows][bstride][64] raw coefficients */
    int32_t q[80];      /* quantization table latched at the first scan, zigzag order */
    int q_latched, scanned;
    int dc, ac, pred;
    enum up_kind up;
    int rh, rv; /* upsampling ratios */
};

struct seg {
    size_t off, n;
    int rst; /* RSTn number that ended the segment, −1 for another marker or the file end */
};

struct scan {
    int ns, ci[4], ss, se, ah, al;
};

struct data_jpeg {
    uint64_t max_pixels;
    const uint8_t *buf;
    size_t n;
    int w, h, ncomp, progressive, hmax, vmax, mcux, mcuy, restart;
    int denom, ow, oh; /* scale 1/denom, and the output size */
    int have_frame, jfif, adobe, adobe_transform, warn, nscans, info_only;
    struct comp comp[4];
    int32_t qt[4][80];
    int qdef[4];
    struct htab dc[4], ac[4];
    uint8_t *ecs;
    size_t ecs_cap;
    struct seg *segs;
    size_t nsegs, segs_cap;
    uint8_t *planes;
    size_t planes_cap;
    int16_t *coefs;
    size_t coefs_cap;
    uint8_t *rows;
    size_t rows_cap;
    int16_t *colsum; /* h2v2: one row of 3·near + far sums */
    size_t colsum_cap;
    void (*ycc)(const uint8_t *y, const uint8_t *cb, const uint8_t *cr, uint8_t *rgb, int n);
    data_jpeg_idct_fn idct;
    void (*idct_reduced)(const int16_t *coef, uint8_t *out, size_t stride, int k);
};

static const uint8_t zeros[16];

/* ---- tables ---------------------------------------------------------------------------------- */

static inline int extend(int v, int s) {
    return v < (1 << (s - 1)) ? v - (1 << s) + 1 : v;
}

/* Canonical codes from the 16 counts (T.81 C.2); refused when a length overflows its code space
 * (the all-ones code is reserved, as libjpeg requires). */
static int build_htab(struct htab *t, const uint8_t *counts, const uint8_t *vals, int nv, int dc) {
    int code = 0, k = 0;
    for (int l = 1; l <= 16; l++) {
        code += counts[l - 1];
        if (code >= 1 << l) return nn_err("jpeg: bad Huffman table (code space overflow)");
        code <<= 1;
    }
    code = 0;
    memset(t->look, 0, sizeof t->look);
    memset(t->fast, 0, sizeof t->fast);
    memcpy(t->vals, vals, (size_t)nv);
    for (int l = 1; l <= 16; l++) {
        t->valoff[l] = k - code;
        for (int i = 0; i < counts[l - 1]; i++, k++, code++) {
            if (l > FAST_BITS) continue;
            int sym = vals[k], shift = FAST_BITS - l;
            for (int j = code << shift; j < (code + 1) << shift; j++) {
                t->look[j] = (uint16_t)(l << 8 | sym);
                int run = dc ? 0 : sym >> 4, s = dc ? sym : sym & 15;
                if ((dc || s) && l + s <= FAST_BITS) {
                    int bits = s ? (j >> (FAST_BITS - l - s)) & ((1 << s) - 1) : 0;
                    t->fast[j].v = (int16_t)(s ? extend(bits, s) : 0);
                    t->fast[j].run = (uint8_t)run;
                    t->fast[j].len = (uint8_t)(l + s);
                }
            }
        }
        t->maxcode[l] = counts[l - 1] ? code - 1 : -1;
        code <<= 1;
    }
    if (dc)
        for (int i = 0; i < nv; i++)
            if (vals[i] > 15) return nn_err("jpeg: bad DC Huffman table (symbol %d)", vals[i]);
    t->defined = 1;
    return 0;
}

/* ---- bit reader -------------------------------------------------------------------------------
 * MSB-first, 64 bits. Bits below the cnt valid ones are the true following bits (or zeros past
 * the segment, which is padded with 8 zero bytes), so OR-ing a fresh load is harmless. Reading
 * past n is not an error here; the caller checks br_overrun after each MCU. */
struct bitrd {
    const uint8_t *p;
    size_t pos, n;
    uint64_t buf;
    unsigned cnt;
};

static inline uint64_t load_be64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void br_fill(struct bitrd *b) {
    size_t at = b->pos < b->n ? b->pos : b->n;
    b->buf |= load_be64(b->p + at) >> b->cnt;
    b->pos += (63 - b->cnt) >> 3;
    b->cnt |= 56;
}

static inline void br_need(struct bitrd *b, unsigned k) {
    if (b->cnt < k) br_fill(b);
}

static inline void br_skip(struct bitrd *b, unsigned k) {
    b->buf <<= k;
    b->cnt -= k;
}

/* 1 ≤ s ≤ 16 */
static inline int br_bits(struct bitrd *b, unsigned s) {
    int v = (int)(b->buf >> (64 - s));
    br_skip(b, s);
    return v;
}

static inline int br_overrun(const struct bitrd *b) {
    return b->pos * 8 - b->cnt > b->n * 8;
}

/* Next symbol; needs 16 valid bits. A code matching no symbol reads as 0 (libjpeg's choice)
 * and sets *bad. */
static inline int huff_decode(struct bitrd *b, const struct htab *t, int *bad) {
    unsigned e = t->look[b->buf >> (64 - FAST_BITS)];
    if (e) {
        br_skip(b, e >> 8);
        return (int)(e & 0xFF);
    }
    for (int l = FAST_BITS + 1; l <= 16; l++) {
        int32_t code = (int32_t)(b->buf >> (64 - l));
        if (code <= t->maxcode[l]) {
            br_skip(b, (unsigned)l);
            return t->vals[(code + t->valoff[l]) & 0xFF];
        }
    }
    br_skip(b, 16);
    *bad = 1;
    return 0;
}

static inline int16_t sat16(int32_t x) {
    return (int16_t)(x < -32768 ? -32768 : x > 32767 ? 32767 : x);
}

/* Decode the magnitude bits of a coefficient of category s (s ≤ 15, 16 valid bits). */
static inline int receive(struct bitrd *b, int s) {
    return extend(br_bits(b, (unsigned)s), s);
}

/* ---- block decoders -------------------------------------------------------------------------- */

/* Sequential: blk (zeroed) receives dequantized coefficients in natural order. Returns 1 when
 * an AC coefficient was set (0: the block is flat). */
static inline int decode_block_seq(struct bitrd *b, const struct htab *dct, const struct htab *act,
                                   const int32_t *q, int *pred, int16_t *blk, int *bad) {
    br_need(b, 32);
    int diff;
    const struct fastv *f = &dct->fast[b->buf >> (64 - FAST_BITS)];
    if (f->len) {
        br_skip(b, f->len);
        diff = f->v;
    } else {
        int s = huff_decode(b, dct, bad);
        diff = s ? receive(b, s) : 0;
    }
    *pred = (int16_t)(uint16_t)(*pred + diff);
    blk[0] = sat16(*pred * q[0]);
    int any = 0;
    for (int k = 1; k < 64; k++) {
        br_need(b, 32);
        f = &act->fast[b->buf >> (64 - FAST_BITS)];
        if (f->len) {
            k += f->run;
            br_skip(b, f->len);
            blk[natural[k]] = sat16(f->v * q[k]);
            any = 1;
            continue;
        }
        int rs = huff_decode(b, act, bad), r = rs >> 4, s = rs & 15;
        if (s) {
            k += r;
            blk[natural[k]] = sat16(receive(b, s) * q[k]);
            any = 1;
        } else {
            if (r != 15) break;
            k += 15;
        }
    }
    return any;
}

static inline void set_coef(int16_t *c, int v) {
    *c = (int16_t)(uint16_t)(unsigned)v;
}

static void decode_dc_first(struct bitrd *b, const struct htab *dct, int16_t *blk, int *pred,
                            int al, int *bad) {
    br_need(b, 32);
    int diff;
    const struct fastv *f = &dct->fast[b->buf >> (64 - FAST_BITS)];
    if (f->len) {
        br_skip(b, f->len);
        diff = f->v;
    } else {
        int s = huff_decode(b, dct, bad);
        diff = s ? receive(b, s) : 0;
    }
    *pred = (int16_t)(uint16_t)(*pred + diff);
    set_coef(&blk[0], (int)((unsigned)*pred << al));
}

static void decode_dc_refine(struct bitrd *b, int16_t *blk, int al) {
    br_need(b, 1);
    if (br_bits(b, 1)) set_coef(&blk[0], blk[0] | 1 << al);
}

static void decode_ac_first(struct bitrd *b, const struct htab *act, int16_t *blk, int ss, int se,
                            int al, int *eobrun, int *bad) {
    if (*eobrun > 0) {
        --*eobrun;
        return;
    }
    for (int k = ss; k <= se; k++) {
        br_need(b, 32);
        const struct fastv *f = &act->fast[b->buf >> (64 - FAST_BITS)];
        if (f->len) {
            k += f->run;
            br_skip(b, f->len);
            set_coef(&blk[natural[k]], (int)((unsigned)f->v << al));
            continue;
        }
        int rs = huff_decode(b, act, bad), r = rs >> 4, s = rs & 15;
        if (s) {
            k += r;
            set_coef(&blk[natural[k]], (int)((unsigned)receive(b, s) << al));
        } else if (r == 15) {
            k += 15;
        } else {
            *eobrun = (1 << r) - 1;
            if (r) *eobrun += br_bits(b, (unsigned)r);
            break;
        }
    }
}

/* Correction bits for the already-nonzero coefficient c (T.81 G.1.2.3). */
static inline void refine_nonzero(struct bitrd *b, int16_t *c, int p1) {
    br_need(b, 1);
    if (br_bits(b, 1) && (*c & p1) == 0) set_coef(c, *c >= 0 ? *c + p1 : *c - p1);
}

static void decode_ac_refine(struct bitrd *b, const struct htab *act, int16_t *blk, int ss, int se,
                             int al, int *eobrun, int *bad) {
    int p1 = 1 << al, k = ss;
    if (*eobrun == 0) {
        for (; k <= se; k++) {
            br_need(b, 32);
            int rs = huff_decode(b, act, bad), r = rs >> 4, s = rs & 15, val = 0;
            if (s) {
                if (s != 1) *bad = 1;
                val = br_bits(b, 1) ? p1 : -p1;
            } else if (r != 15) {
                *eobrun = 1 << r;
                if (r) *eobrun += br_bits(b, (unsigned)r);
                break;
            }
            /* Skip r zero coefficients (refining the nonzero ones passed), then place val. */
            while (k <= se) {
                int16_t *c = &blk[natural[k]];
                if (*c) {
                    refine_nonzero(b, c, p1);
                } else if (--r < 0) {
                    break;
                }
                k++;
            }
            if (val) set_coef(&blk[natural[k]], val);
        }
    }
    if (*eobrun > 0) {
        for (; k <= se; k++) {
            int16_t *c = &blk[natural[k]];
            if (*c) refine_nonzero(b, c, p1);
        }
        --*eobrun;
    }
}

/* ---- IDCT ---------------------------------------------------------------------------------------
 * Loeffler–Ligtenberg–Moschytz with 13-bit constants, as in libjpeg's islow: a column pass that
 * keeps 2 extra bits, then a row pass that removes them and the factor 8. Inputs within int16
 * and the column results saturated to int16 keep every sum within int32. */
#define CONST_BITS 13
#define PASS1_BITS 2
#define F_0_298    2446
#define F_0_390    3196
#define F_0_541    4433
#define F_0_765    6270
#define F_0_899    7373
#define F_1_175    9633
#define F_1_501    12299
#define F_1_847    15137
#define F_1_961    16069
#define F_2_053    16819
#define F_2_562    20995
#define F_3_072    25172

static inline int32_t clamp16(int32_t x) {
    return x < -32768 ? -32768 : x > 32767 ? 32767 : x;
}
static inline uint8_t clamp255(int32_t x) {
    return (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
}

/* One 1-D pass over the eight inputs i0..i7 (int32) into o[0..7]: the even part from i0, i2,
 * i4, i6 (t10..t13), the odd part from i1, i3, i5, i7 (a0..a3) with the rotations of the
 * LL&M flow graph, then o[k] = (even ± odd + round) >> shift. */
#define IDCT_1D(i0, i1, i2, i3, i4, i5, i6, i7, o, round, shift)                                   \
    do {                                                                                           \
        int32_t z2 = (i2), z3 = (i6);                                                              \
        int32_t z1 = (z2 + z3) * F_0_541;                                                          \
        int32_t t2 = z1 - z3 * F_1_847, t3 = z1 + z2 * F_0_765;                                    \
        int32_t t0 = ((i0) + (i4)) * (1 << CONST_BITS) + (round);                                  \
        int32_t t1 = ((i0) - (i4)) * (1 << CONST_BITS) + (round);                                  \
        int32_t t10 = t0 + t3, t13 = t0 - t3, t11 = t1 + t2, t12 = t1 - t2;                        \
        int32_t a0 = (i7), a1 = (i5), a2 = (i3), a3 = (i1);                                        \
        int32_t y1 = a0 + a3, y2 = a1 + a2, y3 = a0 + a2, y4 = a1 + a3;                            \
        int32_t y5 = (y3 + y4) * F_1_175;                                                          \
        a0 *= F_0_298;                                                                             \
        a1 *= F_2_053;                                                                             \
        a2 *= F_3_072;                                                                             \
        a3 *= F_1_501;                                                                             \
        y1 *= -F_0_899;                                                                            \
        y2 *= -F_2_562;                                                                            \
        y3 = y3 * -F_1_961 + y5;                                                                   \
        y4 = y4 * -F_0_390 + y5;                                                                   \
        a0 += y1 + y3;                                                                             \
        a1 += y2 + y4;                                                                             \
        a2 += y2 + y3;                                                                             \
        a3 += y1 + y4;                                                                             \
        o[0] = (t10 + a3) >> (shift);                                                              \
        o[7] = (t10 - a3) >> (shift);                                                              \
        o[1] = (t11 + a2) >> (shift);                                                              \
        o[6] = (t11 - a2) >> (shift);                                                              \
        o[2] = (t12 + a1) >> (shift);                                                              \
        o[5] = (t12 - a1) >> (shift);                                                              \
        o[3] = (t13 + a0) >> (shift);                                                              \
        o[4] = (t13 - a0) >> (shift);                                                              \
    } while (0)

void data_jpeg_idct_islow(const int16_t *in, uint8_t *out, size_t stride) {
    int32_t ws[64];
    for (int c = 0; c < 8; c++) {
        const int16_t *p = in + c;
        if ((p[8] | p[16] | p[24] | p[32] | p[40] | p[48] | p[56]) == 0) {
            int32_t dc = clamp16(p[0] * (1 << PASS1_BITS));
            for (int r = 0; r < 8; r++) ws[r * 8 + c] = dc;
            continue;
        }
        int32_t o[8];
        IDCT_1D(p[0], p[8], p[16], p[24], p[32], p[40], p[48], p[56], o,
                1 << (CONST_BITS - PASS1_BITS - 1), CONST_BITS - PASS1_BITS);
        for (int r = 0; r < 8; r++) ws[r * 8 + c] = clamp16(o[r]);
    }
    for (int r = 0; r < 8; r++, out += stride) {
        const int32_t *w = ws + r * 8;
        if ((w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7]) == 0) {
            memset(out, clamp255(((w[0] + (1 << (PASS1_BITS + 2))) >> (PASS1_BITS + 3)) + 128), 8);
            continue;
        }
        int32_t o[8];
        IDCT_1D(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], o,
                1 << (CONST_BITS + PASS1_BITS + 2), CONST_BITS + PASS1_BITS + 3);
        for (int i = 0; i < 8; i++) out[i] = clamp255(o[i] + 128);
    }
}

/* A block whose only nonzero coefficient is the (dequantized) DC: what the IDCT of any size k
 * gives, a flat k × k square. */
static void idct_flat(int16_t dc, uint8_t *out, size_t stride, int k) {
    int32_t w = clamp16(dc * (1 << PASS1_BITS));
    uint8_t v = clamp255(((w + (1 << (PASS1_BITS + 2))) >> (PASS1_BITS + 3)) + 128);
    for (int r = 0; r < k; r++, out += stride) memset(out, v, (size_t)k);
}

/* Reduced IDCT for scaled decoding, k = 4 or 2 samples a side: the 8-point IDCT averaged over
 * r × r squares (r = 8/k), i.e. an exact box filter and decimation folded into the transform:
 *   out[y][x] = 128 + 1/8 · Σ_{u,v<8} m[y][v] m[x][u] F(v,u) / 2^26,
 *   m[x][u] = 2^13 · c(u) · (1/r) Σ_{j<r} cos((2(r·x + j) + 1)uπ/16),  c(0) = 1, c(u>0) = √2,
 * in islow's fixed point (2 extra bits between the passes, int16 saturation in between).
 * Frequencies whose average over a square vanishes (u = 4 for r = 2; 2, 4, 6 for r = 4) have
 * zero weights. */
const int32_t data_jpeg_reduced_m4[4][8] = {{8192, 10498, 7568, 3686, 0, -2463, -3135, -2088},
                                            {8192, 4348, -7568, -8900, 0, 5946, 3135, -865},
                                            {8192, -4348, -7568, 8900, 0, -5946, 3135, 865},
                                            {8192, -10498, 7568, -3686, 0, 2463, -3135, 2088}};
const int32_t data_jpeg_reduced_m2[2][8] = {{8192, 7423, 0, -2607, 0, 1742, 0, -1477},
                                            {8192, -7423, 0, 2607, 0, -1742, 0, 1477}};

void data_jpeg_idct_reduced(const int16_t *in, uint8_t *out, size_t stride, int k) {
    /* Row k−1−x of m is row x with the odd frequencies negated, so each pass forms the even
     * and odd sums once for the pair. Every |Σ m·x| stays below 2^31 (row sums of |m| are at
     * most 38954 against int16 inputs). */
    const int32_t(*m)[8] = k == 4 ? data_jpeg_reduced_m4 : data_jpeg_reduced_m2;
    int32_t ws[4][8];
    for (int c = 0; c < 8; c++) {
        const int16_t *p = in + c;
        if ((p[0] | p[8] | p[16] | p[24] | p[32] | p[40] | p[48] | p[56]) == 0) {
            for (int y = 0; y < k; y++) ws[y][c] = 0;
            continue;
        }
        for (int y = 0; y < k / 2; y++) {
            int32_t e = m[y][0] * p[0] + m[y][2] * p[16] + m[y][4] * p[32] + m[y][6] * p[48];
            int32_t o = m[y][1] * p[8] + m[y][3] * p[24] + m[y][5] * p[40] + m[y][7] * p[56];
            e += 1 << (CONST_BITS - PASS1_BITS - 1);
            ws[y][c] = clamp16((e + o) >> (CONST_BITS - PASS1_BITS));
            ws[k - 1 - y][c] = clamp16((e - o) >> (CONST_BITS - PASS1_BITS));
        }
    }
    for (int y = 0; y < k; y++, out += stride) {
        const int32_t *w = ws[y];
        for (int x = 0; x < k / 2; x++) {
            int32_t e = m[x][0] * w[0] + m[x][2] * w[2] + m[x][4] * w[4] + m[x][6] * w[6];
            int32_t o = m[x][1] * w[1] + m[x][3] * w[3] + m[x][5] * w[5] + m[x][7] * w[7];
            e += 1 << (CONST_BITS + PASS1_BITS + 2);
            out[x] = clamp255(((e + o) >> (CONST_BITS + PASS1_BITS + 3)) + 128);
            out[k - 1 - x] = clamp255(((e - o) >> (CONST_BITS + PASS1_BITS + 3)) + 128);
        }
    }
}

/* ---- scans ----------------------------------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return nn_err("jpeg: out of memory");
    *p = q;
    *cap = c;
    return 0;
}

static int end_segment(struct data_jpeg *d, size_t start, size_t *o, int rst) {
    if (grow((void **)&d->segs, &d->segs_cap, d->nsegs + 1, sizeof *d->segs)) return -1;
    d->segs[d->nsegs++] = (struct seg){start, *o - start, rst};
    memset(d->ecs + *o, 0, 8);
    *o += 8;
    return 0;
}

/* Copy the entropy-coded data starting at p into d->ecs, unstuffed and split at RSTn markers.
 * *end receives the offset of the marker that ends the scan (or n). */
static int gather_scan(struct data_jpeg *d, size_t p, size_t *end) {
    const uint8_t *b = d->buf;
    size_t n = d->n, o = 0, start = 0;
    d->nsegs = 0;
    for (;;) {
        const uint8_t *ff = memchr(b + p, 0xFF, n - p);
        size_t q = ff ? (size_t)(ff - b) : n;
        if (grow((void **)&d->ecs, &d->ecs_cap, o + (q - p) + 16, 1)) return -1;
        memcpy(d->ecs + o, b + p, q - p);
        o += q - p;
        p = q;
        if (p + 1 >= n) {
            *end = n;
            return end_segment(d, start, &o, -1);
        }
        uint8_t m = b[p + 1];
        if (m == 0x00) {
            d->ecs[o++] = 0xFF;
            p += 2;
        } else if (m == 0xFF) {
            p += 1;
        } else if (m >= 0xD0 && m <= 0xD7) {
            if (end_segment(d, start, &o, m - 0xD0)) return -1;
            start = o;
            p += 2;
        } else {
            *end = p;
            return end_segment(d, start, &o, -1);
        }
    }
}

static void start_segment(struct data_jpeg *d, struct bitrd *br, size_t i) {
    if (i < d->nsegs) {
        br->p = d->ecs + d->segs[i].off;
        br->n = d->segs[i].n;
    } else {
        br->p = zeros;
        br->n = 0;
    }
    br->pos = 0;
    br->buf = 0;
    br->cnt = 0;
}

static void fill_grey(uint8_t *out, size_t stride, int k) {
    for (int r = 0; r < k; r++, out += stride) memset(out, 128, (size_t)k);
}

/* Transform one dequantized block (any = it has a nonzero AC coefficient) into k × k samples. */
static void idct_any(const struct data_jpeg *d, const int16_t *blk, int any, uint8_t *out,
                     size_t stride, int k) {
    if (!any || k == 1)
        idct_flat(blk[0], out, stride, k);
    else if (k == 8)
        d->idct(blk, out, stride);
    else
        d->idct_reduced(blk, out, stride, k);
}

/* Decode one MCU (or, after the data ran out, fill it grey / leave it) of a sequential scan. */
static void seq_mcu(struct data_jpeg *d, const struct scan *sc, struct bitrd *br, int mx, int my,
                    int skip, int *bad) {
    int16_t blk[64];
    for (int i = 0; i < sc->ns; i++) {
        struct comp *c = &d->comp[sc->ci[i]];
        int nh = sc->ns > 1 ? c->h : 1, nv = sc->ns > 1 ? c->v : 1;
        for (int v = 0; v < nv; v++)
            for (int h = 0; h < nh; h++) {
                int bx = mx * nh + h, by = my * nv + v;
                uint8_t *out = c->plane + ((size_t)by * c->pstride + (size_t)bx) * (size_t)c->ks;
                if (skip) {
                    fill_grey(out, c->pstride, c->ks);
                    continue;
                }
                memset(blk, 0, sizeof blk);
                int any =
                    decode_block_seq(br, &d->dc[c->dc], &d->ac[c->ac], c->q, &c->pred, blk, bad);
                if (any && c->ks == 8)
                    d->idct(blk, out, c->pstride);
                else
                    idct_any(d, blk, any, out, c->pstride, c->ks);
            }
    }
}

static void prog_mcu(struct data_jpeg *d, const struct scan *sc, struct bitrd *br, int mx, int my,
                     int *eobrun, int *bad) {
    for (int i = 0; i < sc->ns; i++) {
        struct comp *c = &d->comp[sc->ci[i]];
        int nh = sc->ns > 1 ? c->h : 1, nv = sc->ns > 1 ? c->v : 1;
        for (int v = 0; v < nv; v++)
            for (int h = 0; h < nh; h++) {
                int bx = mx * nh + h, by = my * nv + v;
                int16_t *blk = c->coef + ((size_t)by * (size_t)c->bstride + (size_t)bx) * 64;
                if (sc->ss == 0) {
                    if (sc->ah == 0)
                        decode_dc_first(br, &d->dc[c->dc], blk, &c->pred, sc->al, bad);
                    else
                        decode_dc_refine(br, blk, sc->al);
                } else if (sc->ah == 0) {
                    decode_ac_first(br, &d->ac[c->ac], blk, sc->ss, sc->se, sc->al, eobrun, bad);
                } else {
                    decode_ac_refine(br, &d->ac[c->ac], blk, sc->ss, sc->se, sc->al, eobrun, bad);
                }
            }
    }
}

static void run_scan(struct data_jpeg *d, const struct scan *sc) {
    int mw = d->mcux, mh = d->mcuy;
    if (sc->ns == 1) {
        mw = d->comp[sc->ci[0]].bw;
        mh = d->comp[sc->ci[0]].bh;
    }
    size_t total = (size_t)mw * (size_t)mh, interval = d->restart ? (size_t)d->restart : total;
    struct bitrd br;
    int bad = 0;
    size_t m = 0;
    for (size_t seg = 0; m < total; seg++) {
        size_t end = total - m < interval ? total : m + interval;
        start_segment(d, &br, seg);
        if (d->restart && end < total && (seg >= d->nsegs || d->segs[seg].rst != (int)(seg & 7)))
            d->warn |= DATA_JPEG_WARN_CORRUPT;
        for (int i = 0; i < sc->ns; i++) d->comp[sc->ci[i]].pred = 0;
        int eobrun = 0, dead = 0;
        for (; m < end; m++) {
            int mx = (int)(m % (size_t)mw), my = (int)(m / (size_t)mw);
            if (d->progressive) {
                if (dead) {
                    m = end - 1;
                    continue;
                }
                prog_mcu(d, sc, &br, mx, my, &eobrun, &bad);
            } else {
                seq_mcu(d, sc, &br, mx, my, dead, &bad);
            }
            if (!dead && br_overrun(&br)) {
                dead = 1;
                d->warn |= DATA_JPEG_WARN_TRUNCATED;
            }
        }
    }
    if (bad) d->warn |= DATA_JPEG_WARN_CORRUPT;
    for (int i = 0; i < sc->ns; i++) d->comp[sc->ci[i]].scanned = 1;
}

/* ---- marker segments ------------------------------------------------------------------------- */

static inline unsigned be16(const uint8_t *p) {
    return (unsigned)p[0] << 8 | p[1];
}

static int parse_dqt(struct data_jpeg *d, const uint8_t *s, size_t n, size_t at) {
    while (n > 0) {
        int pq = s[0] >> 4, tq = s[0] & 15;
        size_t need = 1 + 64 * (size_t)(pq + 1);
        if (pq > 1 || tq > 3 || n < need) return nn_err("jpeg: bad DQT segment at byte %zu", at);
        for (int k = 0; k < 64; k++) d->qt[tq][k] = pq ? (int32_t)be16(s + 1 + 2 * k) : s[1 + k];
        for (int k = 64; k < 80; k++) d->qt[tq][k] = d->qt[tq][63];
        d->qdef[tq] = 1;
        s += need;
        n -= need;
    }
    return 0;
}

static int parse_dht(struct data_jpeg *d, const uint8_t *s, size_t n, size_t at) {
    while (n > 0) {
        if (n < 17) return nn_err("jpeg: bad DHT segment at byte %zu", at);
        int tc = s[0] >> 4, th = s[0] & 15, nv = 0;
        for (int i = 0; i < 16; i++) nv += s[1 + i];
        if (tc > 1 || th > 3 || nv > 256 || n < 17 + (size_t)nv)
            return nn_err("jpeg: bad DHT segment at byte %zu", at);
        if (build_htab(tc ? &d->ac[th] : &d->dc[th], s + 1, s + 17, nv, !tc))
            return nn_err_ctx("byte %zu: ", at);
        s += 17 + nv;
        n -= 17 + (size_t)nv;
    }
    return 0;
}

static int parse_sof(struct data_jpeg *d, int marker, const uint8_t *s, size_t n, size_t at) {
    if (d->have_frame) return nn_err("jpeg: second frame header at byte %zu", at);
    if (n < 6) return nn_err("jpeg: short SOF segment at byte %zu", at);
    if (s[0] != 8) return nn_err("jpeg: %d-bit samples are not supported (byte %zu)", s[0], at);
    d->h = (int)be16(s + 1);
    d->w = (int)be16(s + 3);
    d->ncomp = s[5];
    if (d->h == 0) return nn_err("jpeg: height 0 (DNL) is not supported (byte %zu)", at);
    if (d->w == 0) return nn_err("jpeg: width 0 at byte %zu", at);
    if (d->ncomp != 1 && d->ncomp != 3 && d->ncomp != 4)
        return nn_err("jpeg: %d components are not supported (byte %zu)", d->ncomp, at);
    if (n < 6 + 3 * (size_t)d->ncomp) return nn_err("jpeg: short SOF segment at byte %zu", at);
    if ((uint64_t)d->w * (uint64_t)d->h > d->max_pixels)
        return nn_err("jpeg: %d×%d exceeds the limit of %llu pixels", d->w, d->h,
                      (unsigned long long)d->max_pixels);
    d->progressive = marker == 0xC2;
    d->hmax = d->vmax = 1;
    for (int i = 0; i < d->ncomp; i++) {
        struct comp *c = &d->comp[i];
        memset(c, 0, sizeof *c);
        c->id = s[6 + 3 * i];
        c->h = s[7 + 3 * i] >> 4;
        c->v = s[7 + 3 * i] & 15;
        c->tq = s[8 + 3 * i];
        if (c->h < 1 || c->h > 4 || c->v < 1 || c->v > 4 || c->tq > 3)
            return nn_err("jpeg: bad component %d in SOF at byte %zu", i, at);
        if (c->h > d->hmax) d->hmax = c->h;
        if (c->v > d->vmax) d->vmax = c->v;
    }
    d->mcux = (d->w + 8 * d->hmax - 1) / (8 * d->hmax);
    d->mcuy = (d->h + 8 * d->vmax - 1) / (8 * d->vmax);
    /* Scaled output as libjpeg sizes it: ceil(w / denom); the luma-rate components get
     * k = 8 / denom samples per block, and a subsampled component a larger k (up to 8) where
     * that replaces upsampling by a power of two. */
    int kmin = 8 / d->denom;
    d->ow = (d->w + d->denom - 1) / d->denom;
    d->oh = (d->h + d->denom - 1) / d->denom;
    size_t plane_bytes = 0, coef_count = 0;
    for (int i = 0; i < d->ncomp; i++) {
        struct comp *c = &d->comp[i];
        if (d->hmax % c->h || d->vmax % c->v)
            return nn_err("jpeg: fractional sampling ratios are not supported (byte %zu)", at);
        c->cw = (int)(((int64_t)d->w * c->h + d->hmax - 1) / d->hmax);
        c->ch = (int)(((int64_t)d->h * c->v + d->vmax - 1) / d->vmax);
        c->bw = (c->cw + 7) / 8;
        c->bh = (c->ch + 7) / 8;
        c->bstride = d->mcux * c->h;
        c->brows = d->mcuy * c->v;
        c->ks = kmin;
        while (c->ks < 8 && (d->hmax * kmin) % (c->h * c->ks * 2) == 0 &&
               (d->vmax * kmin) % (c->v * c->ks * 2) == 0)
            c->ks *= 2;
        c->sw = (int)(((int64_t)d->w * c->h * c->ks + d->hmax * 8 - 1) / (d->hmax * 8));
        c->sh = (int)(((int64_t)d->h * c->v * c->ks + d->vmax * 8 - 1) / (d->vmax * 8));
        c->rh = d->hmax * kmin / (c->h * c->ks);
        c->rv = d->vmax * kmin / (c->v * c->ks);
        c->pstride = (size_t)c->bstride * (size_t)c->ks;
        plane_bytes += c->pstride * (size_t)c->brows * (size_t)c->ks;
        coef_count += (size_t)c->bstride * (size_t)c->brows * 64;
        /* libjpeg's choice of upsampler: fancy (triangular) for exact 2:1 ratios when wide
         * enough and not at 1/8 scale, replication otherwise. */
        int fancy = kmin > 1;
        if (c->rh == 1 && c->rv == 1)
            c->up = UP_COPY;
        else if (fancy && c->rh == 2 && c->rv == 1 && c->sw > 2)
            c->up = UP_H2V1;
        else if (fancy && c->rh == 1 && c->rv == 2)
            c->up = UP_H1V2;
        else if (fancy && c->rh == 2 && c->rv == 2 && c->sw > 2)
            c->up = UP_H2V2;
        else
            c->up = UP_BOX;
    }
    d->have_frame = 1;
    if (d->info_only) return 0;
    if (grow((void **)&d->planes, &d->planes_cap, plane_bytes, 1)) return -1;
    uint8_t *pl = d->planes;
    for (int i = 0; i < d->ncomp; i++) {
        d->comp[i].plane = pl;
        pl += d->comp[i].pstride * (size_t)d->comp[i].brows * (size_t)d->comp[i].ks;
    }
    if (d->progressive) {
        if (grow((void **)&d->coefs, &d->coefs_cap, coef_count, sizeof(int16_t))) return -1;
        memset(d->coefs, 0, coef_count * sizeof(int16_t));
        int16_t *cf = d->coefs;
        for (int i = 0; i < d->ncomp; i++) {
            d->comp[i].coef = cf;
            cf += (size_t)d->comp[i].bstride * (size_t)d->comp[i].brows * 64;
        }
    }
    return 0;
}

static int parse_sos(struct data_jpeg *d, const uint8_t *s, size_t n, size_t at, struct scan *sc) {
    if (!d->have_frame) return nn_err("jpeg: scan before the frame header at byte %zu", at);
    if (n < 1 || s[0] < 1 || s[0] > d->ncomp || n < 4 + 2 * (size_t)s[0])
        return nn_err("jpeg: bad SOS segment at byte %zu", at);
    sc->ns = s[0];
    int blocks = 0;
    for (int i = 0; i < sc->ns; i++) {
        int id = s[1 + 2 * i], t = s[2 + 2 * i], ci = -1;
        for (int k = 0; k < d->ncomp && ci < 0; k++)
            if (d->comp[k].id == id) ci = k;
        for (int k = 0; k < i; k++)
            if (sc->ci[k] == ci) ci = -1;
        if (ci < 0 || (t >> 4) > 3 || (t & 15) > 3)
            return nn_err("jpeg: bad component selector in SOS at byte %zu", at);
        sc->ci[i] = ci;
        d->comp[ci].dc = t >> 4;
        d->comp[ci].ac = t & 15;
        blocks += d->comp[ci].h * d->comp[ci].v;
    }
    const uint8_t *t = s + 1 + 2 * sc->ns;
    sc->ss = t[0];
    sc->se = t[1];
    sc->ah = t[2] >> 4;
    sc->al = t[2] & 15;
    if (sc->ns > 1 && blocks > 10)
        return nn_err("jpeg: %d blocks per MCU exceeds 10 (byte %zu)", blocks, at);
    if (d->progressive) {
        if (sc->ss > sc->se || sc->se > 63 || (sc->ss == 0 && sc->se != 0) ||
            (sc->ss > 0 && sc->ns != 1) || sc->al > 13 || sc->ah > 13)
            return nn_err("jpeg: bad progressive scan parameters at byte %zu", at);
    } else {
        sc->ss = 0;
        sc->se = 63;
        sc->ah = sc->al = 0;
    }
    for (int i = 0; i < sc->ns; i++) {
        struct comp *c = &d->comp[sc->ci[i]];
        int need_dc = !d->progressive || (sc->ss == 0 && sc->ah == 0);
        int need_ac = !d->progressive || sc->ss > 0;
        if ((need_dc && !d->dc[c->dc].defined) || (need_ac && !d->ac[c->ac].defined))
            return nn_err("jpeg: scan at byte %zu uses an undefined Huffman table", at);
        if (!c->q_latched) {
            if (!d->qdef[c->tq])
                return nn_err("jpeg: quantization table %d is not defined (byte %zu)", c->tq, at);
            memcpy(c->q, d->qt[c->tq], sizeof c->q);
            c->q_latched = 1;
        }
    }
    return 0;
}

/* ---- output ---------------------------------------------------------------------------------- */

/* Row y of component c at full resolution (at least w samples). tmp has room for 2·cw + 16. */
static const uint8_t *comp_row(struct data_jpeg *d, const struct comp *c, int y, uint8_t *tmp) {
    const uint8_t *a, *b;
    int iy, nb, cw = c->sw;
    switch (c->up) {
    case UP_COPY:
        return c->plane + (size_t)y * c->pstride;
    case UP_BOX: {
        a = c->plane + (size_t)(y / c->rv) * c->pstride;
        for (int x = 0, o = 0; o < d->ow; x++)
            for (int k = 0; k < c->rh && o < d->ow; k++) tmp[o++] = a[x];
        return tmp;
    }
    case UP_H2V1: {
        a = c->plane + (size_t)y * c->pstride;
        tmp[0] = a[0];
        tmp[1] = (uint8_t)((a[0] * 3 + a[1] + 2) >> 2);
        for (int x = 1; x < cw - 1; x++) {
            tmp[2 * x] = (uint8_t)((a[x] * 3 + a[x - 1] + 1) >> 2);
            tmp[2 * x + 1] = (uint8_t)((a[x] * 3 + a[x + 1] + 2) >> 2);
        }
        tmp[2 * cw - 2] = (uint8_t)((a[cw - 1] * 3 + a[cw - 2] + 1) >> 2);
        tmp[2 * cw - 1] = a[cw - 1];
        return tmp;
    }
    case UP_H1V2:
    case UP_H2V2: {
        /* The nearer row weighs 3/4 and the next nearer (above for even output rows, below for
         * odd ones, the edge row repeated at the borders) 1/4. */
        iy = y >> 1;
        nb = (y & 1) ? (iy + 1 < c->sh ? iy + 1 : iy) : (iy > 0 ? iy - 1 : 0);
        a = c->plane + (size_t)iy * c->pstride;
        b = c->plane + (size_t)nb * c->pstride;
        if (c->up == UP_H1V2) {
            int bias = (y & 1) ? 2 : 1;
            for (int x = 0; x < d->ow; x++) tmp[x] = (uint8_t)((a[x] * 3 + b[x] + bias) >> 2);
            return tmp;
        }
        int16_t *cs = d->colsum;
        for (int x = 0; x < cw; x++) cs[x] = (int16_t)(a[x] * 3 + b[x]);
        tmp[0] = (uint8_t)((cs[0] * 4 + 8) >> 4);
        tmp[1] = (uint8_t)((cs[0] * 3 + cs[1] + 7) >> 4);
        for (int x = 1; x < cw - 1; x++) {
            tmp[2 * x] = (uint8_t)((cs[x] * 3 + cs[x - 1] + 8) >> 4);
            tmp[2 * x + 1] = (uint8_t)((cs[x] * 3 + cs[x + 1] + 7) >> 4);
        }
        tmp[2 * cw - 2] = (uint8_t)((cs[cw - 1] * 3 + cs[cw - 2] + 8) >> 4);
        tmp[2 * cw - 1] = (uint8_t)((cs[cw - 1] * 4 + 7) >> 4);
        return tmp;
    }
    }
    return tmp;
}

void data_jpeg_cmyk_to_rgb(const uint8_t *cmyk, uint8_t *rgb, size_t n) {
    for (size_t i = 0; i < n; i++, cmyk += 4, rgb += 3) {
        unsigned k = cmyk[3];
        /* round(c·k/255): c·k/255 never falls on .5, so +127 rounds exactly */
        rgb[0] = (uint8_t)((cmyk[0] * k + 127) / 255);
        rgb[1] = (uint8_t)((cmyk[1] * k + 127) / 255);
        rgb[2] = (uint8_t)((cmyk[2] * k + 127) / 255);
    }
}

void data_jpeg_ycc_rgb(const uint8_t *y, const uint8_t *cb, const uint8_t *cr, uint8_t *rgb,
                       int n) {
    for (int x = 0; x < n; x++, rgb += 3) {
        int32_t yy = y[x], u = cb[x] - 128, v = cr[x] - 128;
        rgb[0] = clamp255(yy + ((YCC_R_CR * v + YCC_HALF) >> 16));
        rgb[1] = clamp255(yy + ((YCC_HALF - YCC_G_CB * u - YCC_G_CR * v) >> 16));
        rgb[2] = clamp255(yy + ((YCC_B_CB * u + YCC_HALF) >> 16));
    }
}

static int emit(struct data_jpeg *d, struct data_image *img) {
    int ch = d->ncomp == 1 ? 1 : 3;
    int w = d->ow;
    if (data_image_alloc(img, w, d->oh, ch)) return -1;
    size_t rowlen = (size_t)w * 2 + 64;
    if (grow((void **)&d->rows, &d->rows_cap, rowlen * 6, 1) ||
        grow((void **)&d->colsum, &d->colsum_cap, rowlen, sizeof(int16_t)))
        return -1;
    uint8_t *tmp[4], *aux = d->rows + 4 * rowlen;
    for (int i = 0; i < 4; i++) tmp[i] = d->rows + (size_t)i * rowlen;
    /* Colour space as libjpeg infers it: JFIF or Adobe transform 1 or ids 1,2,3 (or unknown) →
     * YCbCr, Adobe transform 0 or ids 'R','G','B' → RGB; 4 components: Adobe transform 2 → YCCK,
     * else CMYK. */
    int rgb_ids = d->comp[0].id == 'R' && d->comp[1].id == 'G' && d->comp[2].id == 'B';
    int is_rgb = d->ncomp == 3 && !d->jfif && (d->adobe ? d->adobe_transform == 0 : rgb_ids);
    int is_ycck = d->ncomp == 4 && d->adobe && d->adobe_transform != 0;
    if (d->ncomp == 4 && d->adobe && d->adobe_transform > 2) d->warn |= DATA_JPEG_WARN_CORRUPT;
    for (int y = 0; y < d->oh; y++) {
        const uint8_t *r[4];
        for (int i = 0; i < d->ncomp; i++) r[i] = comp_row(d, &d->comp[i], y, tmp[i]);
        uint8_t *out = img->px + (size_t)y * (size_t)w * (size_t)ch;
        if (d->ncomp == 1) {
            memcpy(out, r[0], (size_t)w);
        } else if (d->ncomp == 3 && is_rgb) {
            for (int x = 0; x < w; x++) {
                out[3 * x] = r[0][x];
                out[3 * x + 1] = r[1][x];
                out[3 * x + 2] = r[2][x];
            }
        } else if (d->ncomp == 3) {
            d->ycc(r[0], r[1], r[2], out, w);
        } else {
            uint8_t *cmyk = aux;
            for (int x = 0; x < w; x++) {
                if (is_ycck) {
                    uint8_t px[3];
                    data_jpeg_ycc_rgb(r[0] + x, r[1] + x, r[2] + x, px, 1);
                    cmyk[4 * x] = (uint8_t)(255 - px[0]);
                    cmyk[4 * x + 1] = (uint8_t)(255 - px[1]);
                    cmyk[4 * x + 2] = (uint8_t)(255 - px[2]);
                } else {
                    cmyk[4 * x] = r[0][x];
                    cmyk[4 * x + 1] = r[1][x];
                    cmyk[4 * x + 2] = r[2][x];
                }
                cmyk[4 * x + 3] = r[3][x];
            }
            data_jpeg_cmyk_to_rgb(cmyk, out, (size_t)w);
        }
    }
    return 0;
}

/* Planes from coefficients (progressive), grey for components no scan reached. */
static void finish_planes(struct data_jpeg *d) {
    int16_t blk[64];
    for (int i = 0; i < d->ncomp; i++) {
        struct comp *c = &d->comp[i];
        int32_t qn[64]; /* the table in natural order */
        for (int k = 0; k < 64; k++) qn[natural[k]] = c->q[k];
        for (int by = 0; by < c->bh; by++)
            for (int bx = 0; bx < c->bw; bx++) {
                uint8_t *out = c->plane + ((size_t)by * c->pstride + (size_t)bx) * (size_t)c->ks;
                if (!c->scanned) {
                    fill_grey(out, c->pstride, c->ks);
                    continue;
                }
                if (!d->progressive) continue;
                const int16_t *cf = c->coef + ((size_t)by * (size_t)c->bstride + (size_t)bx) * 64;
                int any = 0;
                for (int k = 0; k < 64; k++) {
                    blk[k] = sat16(cf[k] * qn[k]);
                    any |= k ? blk[k] : 0;
                }
                idct_any(d, blk, any, out, c->pstride, c->ks);
            }
    }
}

/* ---- driver ---------------------------------------------------------------------------------- */

static void reset(struct data_jpeg *d, const uint8_t *buf, size_t n) {
    d->buf = buf;
    d->n = n;
    d->restart = d->have_frame = d->jfif = d->adobe = d->adobe_transform = 0;
    d->warn = d->nscans = d->ncomp = d->info_only = 0;
    memset(d->qdef, 0, sizeof d->qdef);
    for (int i = 0; i < 4; i++) d->dc[i].defined = d->ac[i].defined = 0;
    d->idct = data_jpeg_idct_islow;
    d->idct_reduced = data_jpeg_idct_reduced;
    d->ycc = data_jpeg_ycc_rgb;
#ifndef HAQ_NOSIMD
    if (nn_isa() == NN_ISA_AVX2) {
        d->idct = data_jpeg_idct_islow_avx2;
        d->idct_reduced = data_jpeg_idct_reduced_avx2;
        d->ycc = data_jpeg_ycc_rgb_avx2;
    }
#endif
}

/* Walk the markers. With info_only, stop after the frame header. */
static int parse(struct data_jpeg *d) {
    int info_only = d->info_only;
    const uint8_t *b = d->buf;
    size_t n = d->n, p = 2;
    if (n < 2 || b[0] != 0xFF || b[1] != 0xD8) return nn_err("jpeg: not a JPEG file (no SOI)");
    for (;;) {
        if (p < n && b[p] != 0xFF) {
            const uint8_t *ff = memchr(b + p, 0xFF, n - p);
            p = ff ? (size_t)(ff - b) : n;
            d->warn |= DATA_JPEG_WARN_CORRUPT;
        }
        while (p < n && b[p] == 0xFF) p++;
        if (p >= n) break;
        size_t at = p - 1;
        int m = b[p++];
        if (m == 0xD9) return 0;
        if (m == 0xD8) return nn_err("jpeg: second SOI at byte %zu", at);
        if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
            if (m != 0x01) d->warn |= DATA_JPEG_WARN_CORRUPT;
            continue;
        }
        if (n - p < 2 || be16(b + p) < 2 || n - p < be16(b + p)) {
            p = n;
            break;
        }
        size_t len = be16(b + p);
        const uint8_t *s = b + p + 2;
        size_t sl = len - 2;
        int rc = 0;
        switch (m) {
        case 0xC0:
        case 0xC1:
        case 0xC2:
            rc = parse_sof(d, m, s, sl, at);
            if (rc == 0 && info_only) return 0;
            break;
        case 0xC3:
        case 0xC5:
        case 0xC6:
        case 0xC7:
        case 0xC9:
        case 0xCA:
        case 0xCB:
        case 0xCD:
        case 0xCE:
        case 0xCF:
            return nn_err("jpeg: coding process SOF%d (lossless, hierarchical or arithmetic) is "
                          "not supported (byte %zu)",
                          m - 0xC0, at);
        case 0xC4:
            rc = parse_dht(d, s, sl, at);
            break;
        case 0xDB:
            rc = parse_dqt(d, s, sl, at);
            break;
        case 0xDD:
            if (sl < 2) return nn_err("jpeg: short DRI segment at byte %zu", at);
            d->restart = (int)be16(s);
            break;
        case 0xE0:
            if (sl >= 5 && !memcmp(s, "JFIF", 5)) d->jfif = 1;
            break;
        case 0xEE:
            if (sl >= 12 && !memcmp(s, "Adobe", 5)) {
                d->adobe = 1;
                d->adobe_transform = s[11];
            }
            break;
        case 0xDA: {
            if (info_only) return nn_err("jpeg: scan before the frame header at byte %zu", at);
            struct scan sc = {0};
            size_t end;
            if (parse_sos(d, s, sl, at, &sc) || gather_scan(d, p + len, &end)) return -1;
            run_scan(d, &sc);
            if (++d->nscans >= MAX_SCANS) {
                d->warn |= DATA_JPEG_WARN_CORRUPT;
                return 0;
            }
            p = end;
            continue;
        }
        default: /* APPn, COM, DNL, JPGn …: skipped */
            break;
        }
        if (rc) return -1;
        p += len;
    }
    if (!d->have_frame || info_only) return nn_err("jpeg: no frame header before the end of data");
    d->warn |= DATA_JPEG_WARN_TRUNCATED; /* no EOI */
    return 0;
}

struct data_jpeg *data_jpeg_new(void) {
    struct data_jpeg *d = calloc(1, sizeof *d);
    if (!d) {
        nn_err("jpeg: out of memory");
        return NULL;
    }
    d->max_pixels = (uint64_t)1 << 28;
    d->denom = 1;
    return d;
}

void data_jpeg_free(struct data_jpeg *d) {
    if (!d) return;
    free(d->ecs);
    free(d->segs);
    free(d->planes);
    free(d->coefs);
    free(d->rows);
    free(d->colsum);
    free(d);
}

void data_jpeg_set_max_pixels(struct data_jpeg *d, uint64_t max_pixels) {
    d->max_pixels = max_pixels;
}

int data_jpeg_set_scale(struct data_jpeg *d, int denom) {
    if (denom != 1 && denom != 2 && denom != 4 && denom != 8)
        return nn_err("jpeg: scale 1/%d (1, 2, 4 or 8 only)", denom);
    d->denom = denom;
    return 0;
}

int data_jpeg_decode(struct data_jpeg *d, const uint8_t *buf, size_t n, struct data_image *img,
                     int *warnings) {
    reset(d, buf, n);
    if (parse(d)) return -1;
    if (d->nscans == 0) return nn_err("jpeg: no scan in the file");
    finish_planes(d);
    if (emit(d, img)) return -1;
    if (warnings) *warnings = d->warn;
    return 0;
}

int data_jpeg_info(const uint8_t *buf, size_t n, struct data_jpeg_info *info) {
    struct data_jpeg *d = data_jpeg_new();
    if (!d) return -1;
    d->max_pixels = UINT64_MAX;
    reset(d, buf, n);
    d->info_only = 1;
    int rc = parse(d);
    if (rc == 0) {
        memset(info, 0, sizeof *info);
        info->w = d->w;
        info->h = d->h;
        info->ncomp = d->ncomp;
        info->channels = d->ncomp == 1 ? 1 : 3;
        info->progressive = d->progressive;
        for (int i = 0; i < d->ncomp; i++) {
            info->hs[i] = d->comp[i].h;
            info->vs[i] = d->comp[i].v;
        }
    }
    data_jpeg_free(d);
    return rc;
}

int data_jpeg_decode_mem(const uint8_t *buf, size_t n, struct data_image *img, int *warnings) {
    struct data_jpeg *d = data_jpeg_new();
    if (!d) return -1;
    int rc = data_jpeg_decode(d, buf, n, img, warnings);
    data_jpeg_free(d);
    return rc;
}

int data_jpeg_decode_file(const char *path, struct data_image *img, int *warnings) {
    uint8_t *buf;
    size_t n;
    if (data_read_file(path, &buf, &n)) return -1;
    int rc = data_jpeg_decode_mem(buf, n, img, warnings);
    free(buf);
    return rc ? nn_err_ctx("%s: ", path) : 0;
}
