/* Model size of a quantized network, as the packed export stores it.
 *
 * Per quantizable layer, weights only (biases and BN stay fp32 and are left out, as HAQ's size
 * budget does):
 *   linear:  ⌈bits·weights / 8⌉ bytes + 4 (the fp32 weight scale)
 *            + 4 when the activation is quantized (its fp32 range r)
 *   k-means: ⌈bits·weights / 8⌉ bytes + 4·2^bits (the fp32 codebook)
 *   float weights (Q_FLOAT): 4·weights bytes (+ 4 for a quantized activation's range).
 * The fp32 reference is 4·weights per layer. This is the size the packed export
 * (nn_packed_save, haq export) stores for those tensors, byte for byte; the quantization tests
 * check the two against each other. */
#ifndef HAQ_HW_SIZE_H
#define HAQ_HW_SIZE_H

#include "hw/layer.h"

enum hw_quantizer { HW_Q_LINEAR, HW_Q_KMEANS };

/* Bytes of one layer's weights and quantizer parameters at (w_bits, a_bits) (policy codes). */
double hw_size_bytes(const struct hw_layer *l, int w_bits, int a_bits, enum hw_quantizer q);

/* Bytes of the layer's weights in fp32. */
double hw_size_fp32_bytes(const struct hw_layer *l);

#endif
