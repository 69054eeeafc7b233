/* Fused NTM step kernels (issue 3), compiled on first use by ntm_widgets/core/fused.py.
 * The body is in fused_body.h, included once per floating-point type. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NTM_EPS 1e-8

/* Where each kind of head parameter starts among the P rows of `raw` (see fused_body.h).
 * Built by fused.py's head_rows (a ctypes mirror of this struct, same field order). */
typedef struct {
    int P, key, add, beta, gamma, g, erase, s;
} ntm_rows_t;

/* Loops the compiler may vectorise (with -fopenmp-simd; plain loops otherwise). A
 * vectorised sum adds in another order than a scalar loop: fine for this maths. */
#define NTM_PRAGMA(x) _Pragma(#x)
#define NTM_SIMD NTM_PRAGMA(omp simd)
#define NTM_SIMD_SUM(a) NTM_PRAGMA(omp simd reduction(+ : a))
#define NTM_SIMD_SUM2(a, b) NTM_PRAGMA(omp simd reduction(+ : a, b))

#if defined(NTM_MVEC) && defined(__GNUC__) && defined(__x86_64__)
/* glibc's libmvec has vector versions of these; declaring them lets gcc call them
 * from vectorised loops (glibc's math.h does the same only under -ffast-math). */
#define NTM_VEC __attribute__((simd("notinbranch")))
NTM_VEC float expf(float);
NTM_VEC float logf(float);
NTM_VEC float log1pf(float);
NTM_VEC float tanhf(float);
NTM_VEC double exp(double);
NTM_VEC double log(double);
NTM_VEC double log1p(double);
NTM_VEC double tanh(double);
#endif
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SFX)

/* float32 for any batch, float32 for a batch of one (B a constant, so the batch loops
 * vanish: replays and single-sequence evaluation), float64 (tests, precision). */
#define REAL float
#define EXP expf
#define LOG logf
#define LOG1P log1pf
#define TANH tanhf
#define SQRT sqrtf
#define SFX _f32
#define NTM_B(b) (b)
#include "fused_body.h"
#undef SFX
#undef NTM_B
#define SFX _f32b1
#define NTM_B(b) 1
#include "fused_body.h"
#undef SFX
#undef NTM_B
#undef REAL
#undef EXP
#undef LOG
#undef LOG1P
#undef TANH
#undef SQRT

#define REAL double
#define EXP exp
#define LOG log
#define LOG1P log1p
#define TANH tanh
#define SQRT sqrt
#define SFX _f64
#define NTM_B(b) (b)
#include "fused_body.h"
