/* Instruction-set selection, made once at start-up.
 *
 * The fastest path the CPU supports is chosen with __builtin_cpu_supports; HAQ_SIMD=scalar in
 * the environment (or nn_isa_set) forces the portable C kernels. A build with -DHAQ_NOSIMD
 * (make NOSIMD=1) contains no intrinsics at all and always reports "scalar". */
#ifndef HAQ_NN_CPU_H
#define HAQ_NN_CPU_H

enum nn_isa {
    NN_ISA_SCALAR = 0, /* portable C, whatever the compiler vectorizes by itself */
    NN_ISA_AVX2 = 1,   /* x86-64 AVX2 + FMA kernels */
};

enum nn_isa nn_isa(void);
const char *nn_isa_name(enum nn_isa isa);

/* Force a path (tests compare paths); a path the CPU or build lacks falls back to scalar.
 * Returns the path now in force. */
enum nn_isa nn_isa_set(enum nn_isa isa);

/* Monotonic wall clock in seconds. */
double nn_now(void);

#endif
