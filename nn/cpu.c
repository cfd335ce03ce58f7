#include "cpu.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static int chosen = -1;

static enum nn_isa best_supported(void) {
#if !defined(HAQ_NOSIMD) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return NN_ISA_AVX2;
#endif
    return NN_ISA_SCALAR;
}

enum nn_isa nn_isa(void) {
    if (chosen < 0) {
        const char *e = getenv("HAQ_SIMD");
        chosen = (e && strcmp(e, "scalar") == 0) ? NN_ISA_SCALAR : best_supported();
    }
    return (enum nn_isa)chosen;
}

enum nn_isa nn_isa_set(enum nn_isa isa) {
    chosen = (isa == NN_ISA_AVX2 && best_supported() == NN_ISA_AVX2) ? NN_ISA_AVX2
                                                                       : NN_ISA_SCALAR;
    return (enum nn_isa)chosen;
}

const char *nn_isa_name(enum nn_isa isa) { return isa == NN_ISA_AVX2 ? "avx2+fma" : "scalar"; }

double nn_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
