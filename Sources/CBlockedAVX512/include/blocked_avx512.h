#ifndef DDPTRAIN_BLOCKED_AVX512_H
#define DDPTRAIN_BLOCKED_AVX512_H
/* AVX-512 builds of the bf16 passes over blocked tensors (16 channels per pixel, channel
 * order): the same operations in the same order as Kernels' portable Swift passes, so the
 * two give the same bits; call these only where ddp_avx512_usable() says so.
 * `pixels` counts 16-value vectors; per-channel arrays hold 16 values in channel order. */
#include <stdint.h>

/* The CPU has AVX-512F and the operating system saves its registers. */
int ddp_avx512_usable(void);

/* sum[c] += Σx, squares[c] += Σx² (float32 partials folded into double every 256 pixels). */
void ddp_bf16_moments(const uint16_t *x, long pixels, double *sum, double *squares);
/* y = x·scale + shift, then max(y, 0) if relu. y may be x. */
void ddp_bf16_affine(const uint16_t *x, long pixels, const float *scale, const float *shift, int relu, uint16_t *y);
/* With d = dy (0 where relu_output <= 0, if given): sum_dy[c] += Σd, sum_dy_xmu[c] += Σd·(x − mean). */
void ddp_bf16_backward_moments(const uint16_t *dy, const uint16_t *x, const uint16_t *relu_output, long pixels,
                               const float *mean, double *sum_dy, double *sum_dy_xmu);
/* dx = gain·((d − mean_dy) − (x − mean)·proj), d as above. dx may be dy. */
void ddp_bf16_normalize_backward(const uint16_t *dy, const uint16_t *x, const uint16_t *relu_output, long pixels,
                                 const float *gain, const float *mean_dy, const float *mean, const float *proj,
                                 uint16_t *dx);
/* y = a + b, then max(y, 0) if relu. y may be a or b. */
void ddp_bf16_add(const uint16_t *a, const uint16_t *b, int relu, uint16_t *y, long pixels);
/* dx = dy where y > 0, else 0. dx may be dy. */
void ddp_bf16_relu_backward(const uint16_t *y, const uint16_t *dy, uint16_t *dx, long pixels);
#endif
