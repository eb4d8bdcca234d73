/* ssm_kern.h's delta rule compiled for AVX-512 (its 16-lane accumulators fill registers). */
#include "core/ssm_kern.h"

void ops_delta_rule_step_avx512(float *restrict S, const float *restrict q, const float *restrict k,
                                const float *restrict v, float decay, float beta, float scale, float *restrict o,
                                int n);
void ops_delta_rule_step_avx512(float *restrict S, const float *restrict q, const float *restrict k,
                                const float *restrict v, float decay, float beta, float scale, float *restrict o,
                                int n) {
    delta_rule_step(S, q, k, v, decay, beta, scale, o, n);
}
