/* Measured compute peak of one core, for benchmark roofline fractions. */
#ifndef HAQ_NN_PEAK_H
#define HAQ_NN_PEAK_H

/* Single-precision GFLOP/s of one core running independent fused multiply-adds on the active
 * ISA (nn_isa()); measured for ~0.2 s, best of several rounds. */
double nn_fma_peak_gflops(void);

/* Best-of-rounds GB/s of the thread pool copying a buffer larger than the last-level cache
 * (read + write bytes counted), for memory-bound rooflines. */
double nn_copy_bandwidth_gbs(void);

#endif
