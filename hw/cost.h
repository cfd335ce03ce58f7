/* The cost of one layer on one accelerator at one bit-width pair (hw/model.h computes it). */
#ifndef HAQ_HW_COST_H
#define HAQ_HW_COST_H

struct hw_cost {
    double units;          /* the model's native cost: cycles, or the lookup table's entry */
    double cycles;         /* total clock cycles (NAN for a lookup table) */
    double compute_cycles; /* cycles the compute array is busy */
    double memory_cycles;  /* cycles DRAM transfers take, overlapped or not */
    double latency_ms;     /* cycles / clock (NAN for a lookup table) */
    double energy_mj;      /* e_compute + e_sram + e_dram (NAN for a lookup table) */
    double e_compute_mj;   /* compute array */
    double e_sram_mj;      /* on-chip buffers (SRAM / BRAM) */
    double e_dram_mj;      /* off-chip DRAM transfers */
    double dram_bytes;     /* bytes moved between DRAM and the chip (reads + writes) */
    int memory_bound;      /* 1: DRAM time exceeds compute time (stalls), 0: compute bound */
};

#endif
