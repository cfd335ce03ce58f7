#include "size.h"

#include <math.h>

#include "quant/policy.h"

double hw_size_bytes(const struct hw_layer *l, int w_bits, int a_bits, enum hw_quantizer q) {
    double n = hw_layer_weights(l);
    double range = q == HW_Q_LINEAR && a_bits != Q_FLOAT ? 4 : 0; /* the activation's r */
    if (w_bits == Q_FLOAT) return 4 * n + range;
    double packed = ceil(w_bits * n / 8);
    if (q == HW_Q_KMEANS) return packed + 4 * ldexp(1, w_bits);
    return packed + 4 + range;
}

double hw_size_fp32_bytes(const struct hw_layer *l) {
    return 4 * hw_layer_weights(l);
}
