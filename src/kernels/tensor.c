#include "kernels/tensor.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct { const char *name; size_t size; } dtypes[DV_DTYPE_COUNT] = {
    [DV_F32] = { "F32", 4 },  [DV_F16] = { "F16", 2 }, [DV_BF16] = { "BF16", 2 },
    [DV_F64] = { "F64", 8 },  [DV_I64] = { "I64", 8 }, [DV_I32] = { "I32", 4 },
    [DV_I16] = { "I16", 2 },  [DV_I8] = { "I8", 1 },   [DV_U8] = { "U8", 1 },
    [DV_BOOL] = { "BOOL", 1 },
};

size_t dv_dtype_size(dv_dtype t) { return (unsigned)t < DV_DTYPE_COUNT ? dtypes[t].size : 0; }

const char *dv_dtype_name(dv_dtype t)
{
    return (unsigned)t < DV_DTYPE_COUNT ? dtypes[t].name : "?";
}

int dv_dtype_from_name(const char *s, dv_dtype *out)
{
    for (int i = 0; i < DV_DTYPE_COUNT; i++)
        if (strcmp(s, dtypes[i].name) == 0) {
            *out = (dv_dtype)i;
            return 0;
        }
    return -1;
}

int64_t dv_tensor_numel(const dv_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

const char *dv_shape_str(const int64_t *shape, int ndim, char *buf, size_t len)
{
    size_t at = 0;
    at += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (at < len)
        snprintf(buf + at, len - at, "]");
    return buf;
}

float dv_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    union { uint32_t u; float f; } v;
    if (exp == 0) {
        /* zero or subnormal: exact in f32 */
        float f = ldexpf((float)man, -24);
        return sign ? -f : f;
    }
    if (exp == 31)
        v.u = sign | 0x7f800000u | (man << 13);
    else
        v.u = sign | ((exp + 112) << 23) | (man << 13);
    return v.f;
}

uint16_t dv_f32_to_bf16(float f)
{
    union { float f; uint32_t u; } v = { f };
    if ((v.u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((v.u >> 16) | 0x40); /* quiet NaN */
    uint32_t rounding = 0x7fffu + ((v.u >> 16) & 1u);
    return (uint16_t)((v.u + rounding) >> 16);
}

uint16_t dv_f32_to_f16(float f)
{
    union { float f; uint32_t u; } v = { f };
    uint32_t sign = (v.u >> 16) & 0x8000u;
    uint32_t a = v.u & 0x7fffffffu;
    if (a >= 0x7f800000u)
        return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0));
    if (a >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) {
        /* subnormal half: value = m * 2^-24 */
        float af = fabsf(f);
        float m = nearbyintf(af * 16777216.0f); /* default rounding mode: ties to even */
        return (uint16_t)(sign | (uint32_t)m);
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u);
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

static void widen_bf16_scalar(const uint16_t *s, size_t n, float *dst)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = dv_bf16_to_f32(s[i]);
}

#if defined(__x86_64__) || defined(__i386__)
/* Sixteen at a time: zero-extend to 32 bits and shift into the high half. The
 * same bits as the scalar form; widening is on the path of every prefill
 * panel and of quantizing at load. */
__attribute__((target("avx2"))) static void widen_bf16_avx2(const uint16_t *s, size_t n, float *dst)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i a = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(s + i)));
        __m256i b = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(s + i + 8)));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(a, 16));
        _mm256_storeu_si256((__m256i *)(dst + i + 8), _mm256_slli_epi32(b, 16));
    }
    widen_bf16_scalar(s + i, n - i, dst + i);
}
#endif

static void widen_bf16(const uint16_t *s, size_t n, float *dst)
{
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_cpu_supports("avx2")) {
        widen_bf16_avx2(s, n, dst);
        return;
    }
#endif
    widen_bf16_scalar(s, n, dst);
}

void dv_widen(const dv_tensor *t, size_t offset, size_t n, float *dst)
{
    switch (t->dtype) {
    case DV_F32:
        memcpy(dst, (const float *)t->data + offset, n * sizeof(float));
        break;
    case DV_BF16:
        widen_bf16((const uint16_t *)t->data + offset, n, dst);
        break;
    case DV_F16: {
        const uint16_t *s = (const uint16_t *)t->data + offset;
        for (size_t i = 0; i < n; i++)
            dst[i] = dv_f16_to_f32(s[i]);
        break;
    }
    default:
        memset(dst, 0, n * sizeof(float));
        break;
    }
}
