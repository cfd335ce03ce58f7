/* BISMO (Umuroglu et al., FPL 2018): a bit-serial matrix multiplication overlay for FPGAs.
 *
 * A Dm × Dn array of dot-product units, each a Dk-bit AND + popcount per cycle; a w-bit × a-bit
 * product is w·a binary passes, each pass shifted and accumulated. A layer is lowered to GEMMs
 * (hw/layer.h: M = batch·Ho·Wo, K = Cin·kh·kw/groups, N = Cout/groups per group). Grouped layers
 * (depthwise) pack g groups into one block-diagonal GEMM (g·K reduction lanes, g·N columns) with
 * g = min(groups, ⌊Dk/K⌋, ⌊Dn/N⌋) when group_packing = 1; group_packing = 0 runs each group as
 * its own GEMM (HAQ_SPEC's "C separate GEMMs").
 *   compute cycles = ⌈groups/g⌉ · w·a · ⌈M/Dm⌉·⌈gK/Dk⌉·⌈gN/Dn⌉
 * The fetch, execute and result stages overlap, so
 *   latency = fill/drain + max(compute, DRAM time)
 * with DRAM time = bits moved / bandwidth, bandwidth = min(ports·port_bits per cycle, the
 * board's DRAM bandwidth). Bits moved: the lowered activation matrix (M·K·a), the weights (K·N·w)
 * and the 32-bit results (M·N·32, the overlay writes accumulators); when the weights do not fit
 * half of their buffer the activations are re-fetched per weight chunk, or the weights per
 * activation chunk, whichever moves less. fill/drain = the first Dm-row activation tile and
 * Dn-column weight tile in, the last Dm×Dn result tile out.
 *
 * Energy = core energy per busy cycle + buffer bits (BRAM) × per-bit energy + DRAM bits ×
 * per-bit energy; each execute cycle reads Dm·Dk activation bits and Dn·Dk weight bits. */
#ifndef HAQ_HW_BISMO_H
#define HAQ_HW_BISMO_H

#include "hw/cost.h"
#include "hw/layer.h"

struct hw_bismo {
    int dm, dk, dn;                /* array rows, dot-product width (bits), columns */
    double freq_mhz;               /* clock */
    int ports, port_bits;          /* memory ports into the overlay */
    double dram_gbps;              /* sustained DRAM bandwidth of the board, GB/s */
    double lhs_bytes, rhs_bytes;   /* activation / weight buffers (half usable: double buffered) */
    int group_packing;             /* 1: pack groups into block-diagonal GEMMs */
    double core_pj;                /* energy of the whole array per busy cycle, pJ */
    double bram_rd_pj, bram_wr_pj; /* on-chip buffer energy, pJ/bit */
    double dram_pj;                /* DRAM transfer energy, pJ/bit */
};

/* DRAM bits per cycle: min(ports·port_bits, dram_gbps at the clock). */
double hw_bismo_bits_per_cycle(const struct hw_bismo *p);

/* Compute cycles of the layer at w, a ≥ 1 bits. */
double hw_bismo_compute_cycles(const struct hw_bismo *p, const struct hw_layer *l, int w, int a);

/* Cost at integer widths w, a ≥ 1. Returns 0. */
int hw_bismo_cost(const struct hw_bismo *p, const struct hw_layer *l, int w, int a,
                  struct hw_cost *c);

#endif
