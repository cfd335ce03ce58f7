#include "bismo.h"

#include <math.h>

/* The GEMMs of a layer: `reps` times an M × K × N product (groups packed by g). */
struct gemm {
    double reps, m, k, n;
};

static struct gemm layer_gemm(const struct hw_bismo *p, const struct hw_layer *l) {
    int k = l->cin / l->groups * l->kh * l->kw, n = l->cout / l->groups, g = 1;
    if (p->group_packing && l->groups > 1) {
        g = l->groups;
        if (p->dk / k < g) g = p->dk / k;
        if (p->dn / n < g) g = p->dn / n;
        if (g < 1) g = 1;
    }
    struct gemm q = {ceil((double)l->groups / g), (double)l->batch * l->ho * l->wo, (double)g * k,
                     (double)g * n};
    return q;
}

double hw_bismo_bits_per_cycle(const struct hw_bismo *p) {
    double port = (double)p->ports * p->port_bits;
    double dram = p->dram_gbps * 8e9 / (p->freq_mhz * 1e6);
    return dram < port ? dram : port;
}

static double gemm_compute(const struct hw_bismo *p, const struct gemm *q, int w, int a) {
    return q->reps * w * a * ceil(q->m / p->dm) * ceil(q->k / p->dk) * ceil(q->n / p->dn);
}

double hw_bismo_compute_cycles(const struct hw_bismo *p, const struct hw_layer *l, int w, int a) {
    struct gemm q = layer_gemm(p, l);
    return gemm_compute(p, &q, w, a);
}

int hw_bismo_cost(const struct hw_bismo *p, const struct hw_layer *l, int w, int a,
                  struct hw_cost *c) {
    struct gemm q = layer_gemm(p, l);
    double bw = hw_bismo_bits_per_cycle(p);
    double compute = gemm_compute(p, &q, w, a);

    /* Bits of one GEMM; the buffers hold half their size (the other half is being filled). */
    double lhs = q.m * q.k * a, rhs = q.k * q.n * w, res = q.m * q.n * 32;
    double lcap = p->lhs_bytes * 4, rcap = p->rhs_bytes * 4;
    double moved = lhs + rhs;
    if (rhs > rcap) {
        double a_first = lhs * ceil(rhs / rcap) + rhs; /* activations re-read per weight chunk */
        double w_first = rhs * ceil(lhs / lcap) + lhs; /* weights re-read per activation chunk */
        moved = a_first < w_first ? a_first : w_first;
    }
    moved += res;
    double fill = (fmin(p->dm, q.m) * q.k * a + q.k * fmin(p->dn, q.n) * w +
                   fmin(p->dm, q.m) * fmin(p->dn, q.n) * 32);
    double steady = (moved - fill) / bw;
    double per = compute / q.reps;
    double cycles = q.reps * (fill / bw + (steady > per ? steady : per));

    double bits = q.reps * moved;
    double bram = compute * (double)(p->dm + p->dn) * p->dk * p->bram_rd_pj +
                  q.reps * (moved - res) * p->bram_wr_pj;
    c->units = c->cycles = cycles;
    c->compute_cycles = compute;
    c->memory_cycles = bits / bw;
    c->latency_ms = cycles / (p->freq_mhz * 1e3);
    c->e_compute_mj = compute * p->core_pj * 1e-9;
    c->e_sram_mj = bram * 1e-9;
    c->e_dram_mj = bits * p->dram_pj * 1e-9;
    c->energy_mj = c->e_compute_mj + c->e_sram_mj + c->e_dram_mj;
    c->dram_bytes = bits / 8;
    c->memory_bound = steady > per;
    return 0;
}
