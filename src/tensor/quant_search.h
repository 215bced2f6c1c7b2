// Internal to tensor: ggml's iterative scale searches used by the K-quant reference quantizers.
#pragma once

#include <cstdint>

namespace berth::quant {

// Round to nearest, ties to even (ggml nearest_int; valid for |x| < 2^22).
int nearest_int(float x);

// Symmetric scale search (ggml make_qx_quants): L[i] in [0, 2*nmax), value = scale * (L[i] - nmax).
// rmse_type 1 weighs by x², as the Q6_K reference does. Returns the scale.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L, int rmse_type);

// Asymmetric scale+min search (ggml make_qkx2_quants): value = scale * L[i] - the_min, L[i] in [0, nmax].
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min, uint8_t* Laux,
                       float rmin, float rdelta, int nstep, bool use_mad);

// Symmetric 3-bit search with an RMSE refinement (ggml make_q3_quants): L[i] in [0, 2*nmax).
float make_q3_quants(int n, int nmax, const float* x, int8_t* L);

}  // namespace berth::quant
