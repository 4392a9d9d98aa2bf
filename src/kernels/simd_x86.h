/* Internal to the kernels: the x86 switch, the target attributes of the
 * run-time-dispatched SIMD forms, and the horizontal sum they share. */
#ifndef DV_SIMD_X86_H
#define DV_SIMD_X86_H

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DV_X86 1
#else
#define DV_X86 0
#endif

/* Runs avx2_call where `simd` asks for it and dv_cpu_vec_level() allows
 * (the caller includes kernels/cpu.h), else scalar_call: the dispatch of
 * the elementwise kernels' _simd forms. */
#if DV_X86
#define DV_PICK(simd, avx2_call, scalar_call)                                                   \
    do {                                                                                        \
        if ((simd) && dv_cpu_vec_level() >= 1)                                                  \
            avx2_call;                                                                          \
        else                                                                                    \
            scalar_call;                                                                        \
    } while (0)
#else
#define DV_PICK(simd, avx2_call, scalar_call)                                                   \
    do {                                                                                        \
        (void)(simd);                                                                           \
        scalar_call;                                                                            \
    } while (0)
#endif

#if DV_X86
#define AVX2 __attribute__((target("avx2,fma")))
#define F16C __attribute__((target("avx2,fma,f16c")))

AVX2 static inline float dv_hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

#endif
