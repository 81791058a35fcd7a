/*
 * AVX2 + FMA block kernels (x86-64 only): 8-lane vectors, one per lane
 * group. Chosen at run time when the CPU has both (strip.c), so the package
 * still builds for baseline x86-64 and the same source serves every CPU.
 * See kern_body.h.
 */
#if defined(__x86_64__) || defined(__i386__)
#include <math.h>
#include <string.h>
#include <immintrin.h>

#pragma GCC target("avx2,fma")
#pragma GCC optimize("fp-contract=fast")

#define KW 8
#define KFN sf_block_avx2
#include "kern_body.h"

#else
/* Nothing to build on other architectures. */
typedef int sf_kern_avx2_unused;
#endif
