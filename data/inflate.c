/* DEFLATE decoding from RFC 1951, with its zlib and gzip containers (RFC 1950, 1952).
 *
 * Bits are read LSB-first through a 64-bit buffer. While 8 input bytes remain, a refill is one
 * unaligned load (the bits it brings beyond the counted ones are the true next input bits, so
 * OR-ing them again later is harmless); near the end, bytes are added one at a time and zero
 * bytes past the end are counted as "phantom". Consuming a phantom bit means the stream was
 * truncated: it is detected at the next refill or at the end of the block.
 *
 * Huffman codes decode through a table indexed by the next ROOT bits (bit-reversed code):
 * codes up to ROOT bits resolve in one look-up, longer ones through a second-level table whose
 * width is that of the longest code sharing the root prefix. */
#include "inflate.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/error.h"

/* ---- CRC-32 (reflected polynomial 0xEDB88320), slice-by-8 ------------------------------------ */

static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
        crc_tab[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++)
            crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xFF];
}

static inline uint32_t load_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t data_crc32(uint32_t crc, const void *buf, size_t n) {
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = buf;
    uint32_t c = ~crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t a = load_le32(p) ^ c, b = load_le32(p + 4);
        c = crc_tab[7][a & 0xFF] ^ crc_tab[6][(a >> 8) & 0xFF] ^ crc_tab[5][(a >> 16) & 0xFF] ^
            crc_tab[4][a >> 24] ^ crc_tab[3][b & 0xFF] ^ crc_tab[2][(b >> 8) & 0xFF] ^
            crc_tab[1][(b >> 16) & 0xFF] ^ crc_tab[0][b >> 24];
    }
    while (n--) c = (c >> 8) ^ crc_tab[0][(c ^ *p++) & 0xFF];
    return ~c;
}

uint32_t data_adler32(uint32_t adler, const void *buf, size_t n) {
    const uint8_t *p = buf;
    uint32_t a = adler & 0xFFFF, b = adler >> 16;
    while (n) {
        /* 5552 is the largest run for which b cannot overflow 32 bits before the modulo. */
        size_t k = n < 5552 ? n : 5552;
        n -= k;
        while (k--) {
            a += *p++;
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    return b << 16 | a;
}

/* ---- Huffman tables -------------------------------------------------------------------------
 * Entry: bits 0-7 bits to consume, 8-11 kind, 12-15 extra bits (or subtable index bits),
 * 16-31 value (literal, length/distance base, or subtable offset). */
enum { K_LIT = 0, K_BASE = 1, K_EOB = 2, K_SUB = 3, K_BAD = 4 };
#define ENT(len, kind, extra, val) ((uint32_t)(len) | (kind) << 8 | (extra) << 12 | (val) << 16)
#define E_LEN(e)                   ((e)&0xFF)
#define E_KIND(e)                  (((e) >> 8) & 0xF)
#define E_EXTRA(e)                 (((e) >> 12) & 0xF)
#define E_VAL(e)                   ((e) >> 16)

#define LIT_ROOT  10
#define DIST_ROOT 8
#define CL_ROOT   7
/* Each subtable is at most 2^(15 − root) entries and there is at most one per long code. */
#define LIT_TAB  ((1 << LIT_ROOT) + 288 * (1 << (15 - LIT_ROOT)))
#define DIST_TAB ((1 << DIST_ROOT) + 32 * (1 << (15 - DIST_ROOT)))

static const uint16_t len_base[29] = {3,  4,  5,  6,   7,   8,   9,   10,  11, 13,
                                      15, 17, 19, 23,  27,  31,  35,  43,  51, 59,
                                      67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {
    1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
    193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

enum tab_kind { TAB_LIT, TAB_DIST, TAB_CL };

static uint32_t sym_entry(enum tab_kind kind, int sym, int len) {
    if (kind == TAB_CL) return ENT(len, K_LIT, 0, (uint32_t)sym);
    if (kind == TAB_DIST)
        return sym < 30 ? ENT(len, K_BASE, dist_extra[sym], dist_base[sym]) : ENT(len, K_BAD, 0, 0);
    if (sym < 256) return ENT(len, K_LIT, 0, (uint32_t)sym);
    if (sym == 256) return ENT(len, K_EOB, 0, 0);
    if (sym < 286) return ENT(len, K_BASE, len_extra[sym - 257], len_base[sym - 257]);
    return ENT(len, K_BAD, 0, 0);
}

static unsigned reverse_bits(unsigned code, int len) {
    unsigned r = 0;
    for (int i = 0; i < len; i++, code >>= 1) r = r << 1 | (code & 1);
    return r;
}

/* Build the decoding table for code lengths lens[0, nsym). Over-subscribed codes are refused;
 * an incomplete code is accepted only when it is a single 1-bit code (RFC 1951 allows one
 * distance code) or, for distances, empty (a block of literals only). Unused entries decode
 * as K_BAD. */
static int build_table(uint32_t *tab, int root, const uint8_t *lens, int nsym, enum tab_kind kind) {
    int count[16] = {0}, offs[16];
    uint16_t sorted[320];
    unsigned codes[320];
    for (int s = 0; s < nsym; s++) count[lens[s]]++;
    count[0] = 0;
    int left = 1, total = 0, maxlen = 0;
    for (int l = 1; l < 16; l++) {
        left = (left << 1) - count[l];
        if (left < 0) return nn_err("over-subscribed Huffman code");
        total += count[l];
        if (count[l]) maxlen = l;
    }
    if (left > 0 && !(total == 1 && maxlen == 1) && !(total == 0 && kind == TAB_DIST))
        return nn_err("incomplete Huffman code");
    offs[1] = 0;
    for (int l = 1; l < 15; l++) offs[l + 1] = offs[l] + count[l];
    for (int s = 0; s < nsym; s++)
        if (lens[s]) sorted[offs[lens[s]]++] = (uint16_t)s;
    unsigned code = 0;
    int prev = 0;
    for (int i = 0; i < total; i++) {
        int l = lens[sorted[i]];
        code <<= l - prev;
        prev = l;
        codes[i] = code++;
    }
    int size = 1 << root;
    for (int i = 0; i < size; i++) tab[i] = ENT(0, K_BAD, 0, 0);
    int next = size;
    for (int i = 0; i < total;) {
        int s = sorted[i], l = lens[s];
        unsigned r = reverse_bits(codes[i], l);
        if (l <= root) {
            uint32_t e = sym_entry(kind, s, l);
            for (unsigned j = r; j < (unsigned)size; j += 1u << l) tab[j] = e;
            i++;
            continue;
        }
        /* A group of long codes sharing their first `root` bits: the last is the longest. */
        unsigned prefix = codes[i] >> (l - root);
        int end = i;
        while (end < total && lens[sorted[end]] > root &&
               codes[end] >> (lens[sorted[end]] - root) == prefix)
            end++;
        int sub = lens[sorted[end - 1]] - root;
        tab[r & (unsigned)(size - 1)] = ENT(root, K_SUB, sub, (uint32_t)next);
        for (int j = 0; j < 1 << sub; j++) tab[next + j] = ENT(0, K_BAD, 0, 0);
        for (; i < end; i++) {
            int si = sorted[i], li = lens[si];
            uint32_t e = sym_entry(kind, si, li - root);
            for (unsigned j = reverse_bits(codes[i], li) >> root; j < 1u << sub;
                 j += 1u << (li - root))
                tab[next + j] = e;
        }
        next += 1 << sub;
    }
    return 0;
}

/* ---- the decoder ----------------------------------------------------------------------------- */

struct inflater {
    const uint8_t *in;
    size_t n, pos; /* pos counts phantom bytes past n too */
    uint64_t buf;  /* LSB-first; bits above cnt are either zero or the true next input bits */
    unsigned cnt;
    uint8_t *out;
    size_t o, cap, max_out;
    int grow; /* 1: out is ours to realloc up to max_out */
    int fixed_ready;
    uint32_t lit[LIT_TAB], dist[DIST_TAB];
};

static inline uint64_t load_le64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static size_t bit_offset(const struct inflater *s) {
    return (s->pos * 8 - s->cnt) / 8;
}

/* Bring cnt to at least 56. Fails when a phantom bit has already been consumed. */
static inline int refill(struct inflater *s) {
    if (s->pos <= s->n && s->n - s->pos >= 8) {
        s->buf |= load_le64(s->in + s->pos) << s->cnt;
        s->pos += (63 - s->cnt) >> 3;
        s->cnt |= 56;
        return 0;
    }
    if (s->pos > s->n && (s->pos - s->n) * 8 > s->cnt)
        return nn_err("inflate: stream truncated at byte %zu", s->n);
    while (s->cnt <= 56) {
        uint64_t b = s->pos < s->n ? s->in[s->pos] : 0;
        s->pos++;
        s->buf |= b << s->cnt;
        s->cnt += 8;
    }
    return 0;
}

static int check_not_overrun(const struct inflater *s) {
    if (s->pos > s->n && (s->pos - s->n) * 8 > s->cnt)
        return nn_err("inflate: stream truncated at byte %zu", s->n);
    return 0;
}

static inline unsigned take(struct inflater *s, unsigned k) {
    unsigned v = (unsigned)(s->buf & ((1ull << k) - 1));
    s->buf >>= k;
    s->cnt -= k;
    return v;
}

/* Make room for `need` more bytes (plus 8 of slack for the 8-byte match copy when possible). */
static int reserve(struct inflater *s, size_t need) {
    if (need <= s->cap - s->o) return 0;
    if (need > s->max_out - s->o || !s->grow)
        return nn_err("inflate: output exceeds %zu bytes (at input byte %zu)", s->max_out,
                      bit_offset(s));
    /* Doubling, with 8 bytes of slack for the match copy, but never past max_out (which is at
     * least o + need here). */
    size_t want = s->o + need, cap = s->cap ? s->cap : 65536;
    while (cap < want + 8 && cap <= SIZE_MAX / 2) cap *= 2;
    if (cap > s->max_out) cap = s->max_out;
    uint8_t *p = realloc(s->out, cap);
    if (!p) return nn_err("inflate: out of memory for %zu bytes", cap);
    s->out = p;
    s->cap = cap;
    return 0;
}

static inline uint32_t decode_sym(struct inflater *s, const uint32_t *tab, int root) {
    uint32_t e = tab[s->buf & ((1u << root) - 1)];
    if (E_KIND(e) == K_SUB) {
        take(s, (unsigned)root);
        e = tab[E_VAL(e) + (s->buf & ((1u << E_EXTRA(e)) - 1))];
    }
    take(s, E_LEN(e));
    return e;
}

static int copy_match(struct inflater *s, size_t dist, size_t len) {
    if (dist > s->o)
        return nn_err("inflate: distance %zu beyond the %zu bytes written (input byte %zu)", dist,
                      s->o, bit_offset(s));
    if (reserve(s, len)) return -1;
    uint8_t *dst = s->out + s->o;
    const uint8_t *src = dst - dist;
    if (dist >= 8 && s->cap - s->o >= len + 8) {
        uint8_t *end = dst + len;
        do {
            memcpy(dst, src, 8);
            dst += 8;
            src += 8;
        } while (dst < end);
    } else if (dist == 1) {
        memset(dst, src[0], len);
    } else {
        for (size_t i = 0; i < len; i++) dst[i] = src[i];
    }
    s->o += len;
    return 0;
}

static int huffman_block(struct inflater *s) {
    for (;;) {
        /* 48 bits cover the longest length code, its extra bits, distance code and extra. */
        if (s->cnt < 48 && refill(s)) return -1;
        uint32_t e = decode_sym(s, s->lit, LIT_ROOT);
        unsigned kind = E_KIND(e);
        if (kind == K_LIT) {
            if (s->o >= s->cap && reserve(s, 1)) return -1;
            s->out[s->o++] = (uint8_t)E_VAL(e);
            continue;
        }
        if (kind == K_EOB) return check_not_overrun(s);
        if (kind != K_BASE)
            return nn_err("inflate: invalid literal/length code at byte %zu", bit_offset(s));
        size_t len = E_VAL(e) + take(s, E_EXTRA(e));
        e = decode_sym(s, s->dist, DIST_ROOT);
        if (E_KIND(e) != K_BASE)
            return nn_err("inflate: invalid distance code at byte %zu", bit_offset(s));
        size_t dist = E_VAL(e) + take(s, E_EXTRA(e));
        if (copy_match(s, dist, len)) return -1;
    }
}

static int stored_block(struct inflater *s) {
    take(s, s->cnt & 7);
    size_t next = s->pos - s->cnt / 8;
    if (next > s->n) return nn_err("inflate: stream truncated at byte %zu", s->n);
    s->pos = next;
    s->buf = 0;
    s->cnt = 0;
    if (s->n - s->pos < 4)
        return nn_err("inflate: stored block header truncated at byte %zu", next);
    unsigned len = s->in[next] | s->in[next + 1] << 8,
             nlen = s->in[next + 2] | s->in[next + 3] << 8;
    if ((len ^ 0xFFFF) != nlen)
        return nn_err("inflate: stored block length check fails at byte %zu", next);
    s->pos += 4;
    if (s->n - s->pos < len) return nn_err("inflate: stored block truncated at byte %zu", s->pos);
    if (reserve(s, len)) return -1;
    if (len) memcpy(s->out + s->o, s->in + s->pos, len);
    s->o += len;
    s->pos += len;
    return 0;
}

static int fixed_tables(struct inflater *s) {
    if (s->fixed_ready) return 0;
    uint8_t l[320];
    for (int i = 0; i < 288; i++) l[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
    if (build_table(s->lit, LIT_ROOT, l, 288, TAB_LIT)) return -1;
    memset(l, 5, 32);
    if (build_table(s->dist, DIST_ROOT, l, 32, TAB_DIST)) return -1;
    s->fixed_ready = 1;
    return 0;
}

static int dynamic_tables(struct inflater *s) {
    static const uint8_t order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                      11, 4,  12, 3, 13, 2, 14, 1, 15};
    if (refill(s)) return -1;
    unsigned nlit = take(s, 5) + 257, ndist = take(s, 5) + 1, ncl = take(s, 4) + 4;
    if (nlit > 286 || ndist > 30)
        return nn_err("inflate: %u literal/%u distance codes at byte %zu", nlit, ndist,
                      bit_offset(s));
    uint8_t cl[19] = {0}, lens[320];
    uint32_t cltab[1 << CL_ROOT];
    for (unsigned i = 0; i < ncl; i++) {
        if (s->cnt < 3 && refill(s)) return -1;
        cl[order[i]] = (uint8_t)take(s, 3);
    }
    if (build_table(cltab, CL_ROOT, cl, 19, TAB_CL))
        return nn_err_ctx("inflate: code-length code at byte %zu: ", bit_offset(s));
    for (unsigned i = 0; i < nlit + ndist;) {
        if (s->cnt < 16 && refill(s)) return -1;
        uint32_t e = decode_sym(s, cltab, CL_ROOT);
        if (E_KIND(e) == K_BAD)
            return nn_err("inflate: invalid code-length code at byte %zu", bit_offset(s));
        unsigned sym = E_VAL(e), rep, val = 0;
        if (sym < 16) {
            lens[i++] = (uint8_t)sym;
            continue;
        }
        if (sym == 16) {
            if (i == 0) return nn_err("inflate: repeat with no length at byte %zu", bit_offset(s));
            val = lens[i - 1];
            rep = 3 + take(s, 2);
        } else if (sym == 17) {
            rep = 3 + take(s, 3);
        } else {
            rep = 11 + take(s, 7);
        }
        if (rep > nlit + ndist - i)
            return nn_err("inflate: code lengths overrun at byte %zu", bit_offset(s));
        memset(lens + i, (int)val, rep);
        i += rep;
    }
    if (check_not_overrun(s)) return -1;
    if (lens[256] == 0) return nn_err("inflate: no end-of-block code at byte %zu", bit_offset(s));
    if (build_table(s->lit, LIT_ROOT, lens, (int)nlit, TAB_LIT) ||
        build_table(s->dist, DIST_ROOT, lens + nlit, (int)ndist, TAB_DIST))
        return nn_err_ctx("inflate: block at byte %zu: ", bit_offset(s));
    s->fixed_ready = 0;
    return 0;
}

/* Decode one stream starting at s->pos; on success s->pos is the first byte after it. */
static int inflate_stream(struct inflater *s) {
    s->buf = 0;
    s->cnt = 0;
    s->fixed_ready = 0;
    for (;;) {
        if (refill(s)) return -1;
        unsigned final = take(s, 1), type = take(s, 2);
        int rc;
        if (type == 0) {
            rc = stored_block(s);
        } else if (type == 1) {
            rc = fixed_tables(s) ? -1 : huffman_block(s);
        } else if (type == 2) {
            rc = dynamic_tables(s) ? -1 : huffman_block(s);
        } else {
            return nn_err("inflate: reserved block type at byte %zu", bit_offset(s));
        }
        if (rc) return -1;
        if (final) break;
    }
    if (check_not_overrun(s)) return -1;
    s->pos = (s->pos * 8 - s->cnt + 7) / 8;
    s->buf = 0;
    s->cnt = 0;
    return 0;
}

static struct inflater *inflater_new(const uint8_t *in, size_t n) {
    struct inflater *s = malloc(sizeof *s);
    if (!s) {
        nn_err("inflate: out of memory");
        return NULL;
    }
    s->in = in;
    s->n = n;
    s->pos = 0;
    s->out = NULL;
    s->o = s->cap = 0;
    return s;
}

/* Hand the grown buffer to the caller (a non-NULL pointer even when empty). */
static int finish_grown(struct inflater *s, int rc, uint8_t **out, size_t *out_n) {
    if (rc == 0 && !s->out && !(s->out = malloc(1))) rc = nn_err("inflate: out of memory");
    if (rc) {
        free(s->out);
    } else {
        *out = s->out;
        *out_n = s->o;
    }
    free(s);
    return rc;
}

int data_inflate(const uint8_t *in, size_t n, uint8_t **out, size_t *out_n, size_t max_out,
                 size_t *in_used) {
    struct inflater *s = inflater_new(in, n);
    if (!s) return -1;
    s->grow = 1;
    s->max_out = max_out;
    int rc = inflate_stream(s);
    if (rc == 0 && in_used) *in_used = s->pos;
    return finish_grown(s, rc, out, out_n);
}

int data_inflate_into(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_n,
                      size_t *in_used) {
    struct inflater *s = inflater_new(in, n);
    if (!s) return -1;
    s->grow = 0;
    s->out = out;
    s->cap = s->max_out = cap;
    int rc = inflate_stream(s);
    if (rc == 0) {
        *out_n = s->o;
        if (in_used) *in_used = s->pos;
    }
    free(s);
    return rc;
}

static inline uint32_t load_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int data_zlib_decompress(const uint8_t *in, size_t n, uint8_t **out, size_t *out_n,
                         size_t max_out) {
    if (n < 6) return nn_err("zlib: %zu bytes is too short", n);
    if ((in[0] & 0x0F) != 8 || (in[0] >> 4) > 7 || ((unsigned)in[0] << 8 | in[1]) % 31)
        return nn_err("zlib: bad header at byte 0");
    if (in[1] & 0x20) return nn_err("zlib: preset dictionary not supported (byte 1)");
    struct inflater *s = inflater_new(in, n);
    if (!s) return -1;
    s->grow = 1;
    s->max_out = max_out;
    s->pos = 2;
    int rc = inflate_stream(s);
    if (rc == 0 && n - s->pos < 4)
        rc = nn_err("zlib: Adler-32 trailer truncated at byte %zu", s->pos);
    if (rc == 0 && load_be32(in + s->pos) != data_adler32(1, s->out, s->o))
        rc = nn_err("zlib: Adler-32 mismatch at byte %zu", s->pos);
    return finish_grown(s, rc, out, out_n);
}

/* Parse one gzip member header at s->pos; leaves s->pos at the DEFLATE data. */
static int gzip_header(struct inflater *s) {
    const uint8_t *in = s->in;
    size_t start = s->pos, p = start, n = s->n;
    if (n - p < 10 || in[p] != 0x1F || in[p + 1] != 0x8B)
        return nn_err("gzip: no member header at byte %zu", p);
    if (in[p + 2] != 8) return nn_err("gzip: compression method %d at byte %zu", in[p + 2], p + 2);
    unsigned flg = in[p + 3];
    if (flg & 0xE0) return nn_err("gzip: reserved flags 0x%02x at byte %zu", flg, p + 3);
    p += 10;
    if (flg & 4) { /* FEXTRA */
        if (n - p < 2) return nn_err("gzip: extra field truncated at byte %zu", p);
        size_t xlen = in[p] | (size_t)in[p + 1] << 8;
        p += 2;
        if (n - p < xlen) return nn_err("gzip: extra field truncated at byte %zu", p);
        p += xlen;
    }
    for (unsigned bit = 8; bit <= 16; bit <<= 1) { /* FNAME, FCOMMENT: zero-terminated */
        if (!(flg & bit)) continue;
        const uint8_t *z = memchr(in + p, 0, n - p);
        if (!z)
            return nn_err("gzip: unterminated %s at byte %zu", bit == 8 ? "name" : "comment", p);
        p = (size_t)(z - in) + 1;
    }
    if (flg & 2) { /* FHCRC: low 16 bits of the CRC-32 of the header so far */
        if (n - p < 2) return nn_err("gzip: header CRC truncated at byte %zu", p);
        unsigned want = in[p] | in[p + 1] << 8;
        if ((data_crc32(0, in + start, p - start) & 0xFFFF) != want)
            return nn_err("gzip: header CRC mismatch at byte %zu", p);
        p += 2;
    }
    s->pos = p;
    return 0;
}

int data_gunzip(const uint8_t *in, size_t n, uint8_t **out, size_t *out_n, size_t max_out) {
    struct inflater *s = inflater_new(in, n);
    if (!s) return -1;
    s->grow = 1;
    s->max_out = max_out;
    int rc = 0;
    do {
        size_t o0 = s->o;
        if ((rc = gzip_header(s)) || (rc = inflate_stream(s))) break;
        if (n - s->pos < 8) {
            rc = nn_err("gzip: trailer truncated at byte %zu", s->pos);
            break;
        }
        /* an empty member may leave out NULL: no pointer arithmetic on it */
        uint32_t crc = s->o > o0 ? data_crc32(0, s->out + o0, s->o - o0) : 0;
        if (load_le32(in + s->pos) != crc) {
            rc = nn_err("gzip: CRC-32 mismatch at byte %zu", s->pos);
            break;
        }
        if (load_le32(in + s->pos + 4) != (uint32_t)(s->o - o0)) {
            rc = nn_err("gzip: ISIZE mismatch at byte %zu", s->pos + 4);
            break;
        }
        s->pos += 8;
        if (s->pos < n && in[s->pos] != 0x1F) {
            size_t k = s->pos;
            while (k < n && in[k] == 0) k++;
            if (k != n) rc = nn_err("gzip: trailing garbage at byte %zu", k);
            s->pos = n;
        }
    } while (rc == 0 && s->pos < n);
    return finish_grown(s, rc, out, out_n);
}

int data_read_file(const char *path, uint8_t **buf, size_t *n) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return nn_err("%s: %s", path, strerror(errno));
    struct stat st;
    size_t cap = (fstat(fd, &st) == 0 && st.st_size > 0) ? (size_t)st.st_size + 1 : 65536, len = 0;
    uint8_t *p = malloc(cap);
    if (!p) {
        close(fd);
        return nn_err("%s: out of memory", path);
    }
    for (;;) {
        if (len + 1 >= cap) {
            uint8_t *q = realloc(p, cap * 2);
            if (!q) {
                free(p);
                close(fd);
                return nn_err("%s: out of memory", path);
            }
            p = q;
            cap *= 2;
        }
        ssize_t r = read(fd, p + len, cap - 1 - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(p);
            close(fd);
            return nn_err("%s: %s", path, strerror(e));
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    close(fd);
    p[len] = 0;
    *buf = p;
    *n = len;
    return 0;
}

int data_gunzip_file(const char *path, uint8_t **out, size_t *n) {
    uint8_t *in;
    size_t len;
    if (data_read_file(path, &in, &len)) return -1;
    int rc = data_gunzip(in, len, out, n, UINT32_MAX);
    free(in);
    return rc ? nn_err_ctx("%s: ", path) : 0;
}
