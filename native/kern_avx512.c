/*
 * AVX-512 block kernels (x86-64 only): 16-lane vectors, one per lane group,
 * twice the lanes per instruction of the AVX2 set. Chosen at run time when
 * the CPU (and OS) has AVX-512 F/DQ/VL (strip.c); SURFACED_KERNEL=avx2 or
 * =generic picks a narrower set. See kern_body.h.
 */
#if defined(__x86_64__) || defined(__i386__)
#include <math.h>
#include <string.h>
#include <immintrin.h>

#pragma GCC target("avx512f,avx512dq,avx512vl,avx2,fma")
#pragma GCC optimize("fp-contract=fast")

#define KW 16
#define KFN sf_block_avx512
#include "kern_body.h"

#else
/* Nothing to build on other architectures. */
typedef int sf_kern_avx512_unused;
#endif
