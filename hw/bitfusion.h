/* BitFusion (Sharma et al., ISCA 2018): a systolic array of Fusion Units, each built of
 * sixteen 2-bit BitBricks that fuse into one 8×8-bit … sixteen 2×2-bit multipliers.
 *
 * Array: `rows` (16) input lanes reduce over input channels, `cols` (32) columns produce output
 * channels. At w/a bits a unit does pf = ⌊pmax/max(a,pmin)⌋·⌊pmax/max(w,pmin)⌋ products per
 * cycle, so 3 bits run like 4 and 5–7 like 8; operands wider than pmax take ⌈b/pmax⌉ passes
 * each (temporal fusion).
 *   compute cycles = groups'·B·⌈cout'/cols⌉·Ho·Wo·kh·kw·⌈cin'/(rows·pf)⌉
 * where a grouped layer packs g groups into one block-diagonal convolution (cin' = g·Cin/groups,
 * cout' = g·Cout/groups, groups' = ⌈groups/g⌉, g chosen for fewest cycles); the network's first
 * layer is lowered on the host (im2col) as in the public simulator, so its reduction is
 * kh·kw·Cin in one lane set.
 *
 * DRAM traffic comes from a tiling search over (batch, Ho, Wo, Cin, Cout) tile sizes (powers of
 * two and the full size) and the loop orders of its three reuse classes (pixels, input channels,
 * output channels): a tile is kept on chip across the loops it does not depend on while the
 * enclosing footprint fits half of its SRAM (double buffering); partial sums are 32-bit and
 * spill to DRAM when the output footprint does not fit. Outputs leave at 32 bits.
 *   latency = compute + max(0, steady DRAM time − compute) + fill/drain
 * with fill/drain = the first weight and input tiles in and the last output tile out, which no
 * double buffering hides. The best tiling has the fewest cycles, then the least energy.
 *
 * Energy = core energy per busy cycle + buffer accesses × per-bit energies + DRAM bits × per-bit
 * energy. Buffer accesses: every MAC reads its weight (per-unit weight buffers), each input is
 * read once per 32-column block and per tap (it flows along the row), each output-channel block
 * writes its partial sums once per input-channel tile, and every DRAM transfer writes or reads
 * its buffer. */
#ifndef HAQ_HW_BITFUSION_H
#define HAQ_HW_BITFUSION_H

#include "hw/cost.h"
#include "hw/layer.h"

struct hw_bitfusion {
    int rows, cols;                            /* array: input lanes × output columns */
    int pmax, pmin;                            /* fused precision range, bits */
    double freq_mhz;                           /* clock */
    double wbuf_bytes, ibuf_bytes, obuf_bytes; /* SRAM sizes (half usable: double buffered) */
    double dram_bits;                          /* DRAM interface width, bits per cycle */
    double core_pj; /* dynamic energy of the whole array per busy cycle, pJ */
    double wbuf_rd_pj, wbuf_wr_pj, ibuf_rd_pj, ibuf_wr_pj, obuf_rd_pj, obuf_wr_pj; /* pJ/bit */
    double dram_pj; /* DRAM transfer energy, pJ/bit */
};

/* Products per cycle per Fusion Unit at (w, a) bits (both ≥ 1): ≥ 1, or the number of temporal
 * passes through *passes when an operand is wider than pmax. */
int hw_bitfusion_pf(const struct hw_bitfusion *p, int w, int a, int *passes);

/* Compute cycles of the whole layer with no tiling (the tiling search adds edge waste). */
double hw_bitfusion_compute_cycles(const struct hw_bitfusion *p, const struct hw_layer *l, int w,
                                   int a);

/* Cost at integer widths w, a ≥ 1. Returns 0. */
int hw_bitfusion_cost(const struct hw_bitfusion *p, const struct hw_layer *l, int w, int a,
                      struct hw_cost *c);

#endif
