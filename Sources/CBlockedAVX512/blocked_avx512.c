#include "blocked_avx512.h"
#include <immintrin.h>

/* The Swift passes never fuse a multiply and an add; neither may these. */
#pragma clang fp contract(off)

#define AVX512 __attribute__((target("avx512f")))

int ddp_avx512_usable(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

/* bf16 widened exactly. */
static inline AVX512 __m512 load16(const uint16_t *p) {
    __m512i words = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(words, 16));
}

/* Rounded to nearest even; a NaN stays a (quiet) NaN: BFloat16Lanes.store's integer rule. */
static inline AVX512 void store16(uint16_t *p, __m512 v) {
    __m512i bits = _mm512_castps_si512(v);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    __m512i rounded = _mm512_add_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(0x7FFF)), lsb);
    __m512i quiet = _mm512_or_si512(bits, _mm512_set1_epi32(0x00400000));
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    __m512i chosen = _mm512_mask_mov_epi32(rounded, nan, quiet);
    _mm256_storeu_si256((__m256i *)p, _mm512_cvtepi32_epi16(_mm512_srli_epi32(chosen, 16)));
}

/* v, with +0 where v < 0 (a NaN stays). */
static inline AVX512 __m512 relu16(__m512 v) {
    __m512 zero = _mm512_setzero_ps();
    return _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), zero);
}

/* dy, with +0 where the saved ReLU output is not positive. */
static inline AVX512 __m512 passed16(const uint16_t *dy, const uint16_t *relu_output, long offset) {
    __m512 d = load16(dy + offset);
    if (!relu_output) return d;
    __m512 zero = _mm512_setzero_ps();
    return _mm512_mask_mov_ps(d, _mm512_cmp_ps_mask(load16(relu_output + offset), zero, _CMP_LE_OQ), zero);
}

/* target[c] += (double)v[c]. */
static inline AVX512 void fold16(double *target, __m512 v) {
    __m512d low = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    __m512d high = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    _mm512_storeu_pd(target, _mm512_add_pd(_mm512_loadu_pd(target), low));
    _mm512_storeu_pd(target + 8, _mm512_add_pd(_mm512_loadu_pd(target + 8), high));
}

AVX512 void ddp_bf16_moments(const uint16_t *x, long pixels, double *sum, double *squares) {
    long i = 0;
    while (i < pixels) {
        long end = pixels < i + 256 ? pixels : i + 256;
        __m512 s = _mm512_setzero_ps(), q = _mm512_setzero_ps();
        for (; i < end; i++) {
            __m512 v = load16(x + 16 * i);
            s = _mm512_add_ps(s, v);
            q = _mm512_add_ps(q, _mm512_mul_ps(v, v));
        }
        fold16(sum, s);
        fold16(squares, q);
    }
}

AVX512 void ddp_bf16_affine(const uint16_t *x, long pixels, const float *scale, const float *shift, int relu, uint16_t *y) {
    __m512 a = _mm512_loadu_ps(scale), b = _mm512_loadu_ps(shift);
    for (long i = 0; i < pixels; i++) {
        __m512 v = _mm512_add_ps(_mm512_mul_ps(load16(x + 16 * i), a), b);
        store16(y + 16 * i, relu ? relu16(v) : v);
    }
}

AVX512 void ddp_bf16_backward_moments(const uint16_t *dy, const uint16_t *x, const uint16_t *relu_output, long pixels,
                                      const float *mean, double *sum_dy, double *sum_dy_xmu) {
    __m512 m = _mm512_loadu_ps(mean);
    long i = 0;
    while (i < pixels) {
        long end = pixels < i + 256 ? pixels : i + 256;
        __m512 s = _mm512_setzero_ps(), q = _mm512_setzero_ps();
        for (; i < end; i++) {
            __m512 d = passed16(dy, relu_output, 16 * i);
            s = _mm512_add_ps(s, d);
            q = _mm512_add_ps(q, _mm512_mul_ps(d, _mm512_sub_ps(load16(x + 16 * i), m)));
        }
        fold16(sum_dy, s);
        fold16(sum_dy_xmu, q);
    }
}

AVX512 void ddp_bf16_normalize_backward(const uint16_t *dy, const uint16_t *x, const uint16_t *relu_output, long pixels,
                                        const float *gain, const float *mean_dy, const float *mean, const float *proj,
                                        uint16_t *dx) {
    __m512 g = _mm512_loadu_ps(gain), md = _mm512_loadu_ps(mean_dy), m = _mm512_loadu_ps(mean), p = _mm512_loadu_ps(proj);
    for (long i = 0; i < pixels; i++) {
        __m512 d = passed16(dy, relu_output, 16 * i);
        __m512 centred = _mm512_mul_ps(_mm512_sub_ps(load16(x + 16 * i), m), p);
        store16(dx + 16 * i, _mm512_mul_ps(g, _mm512_sub_ps(_mm512_sub_ps(d, md), centred)));
    }
}

AVX512 void ddp_bf16_add(const uint16_t *a, const uint16_t *b, int relu, uint16_t *y, long pixels) {
    for (long i = 0; i < pixels; i++) {
        __m512 v = _mm512_add_ps(load16(a + 16 * i), load16(b + 16 * i));
        store16(y + 16 * i, relu ? relu16(v) : v);
    }
}

AVX512 void ddp_bf16_relu_backward(const uint16_t *y, const uint16_t *dy, uint16_t *dx, long pixels) {
    for (long i = 0; i < pixels; i++) store16(dx + 16 * i, passed16(dy, y, 16 * i));
}
