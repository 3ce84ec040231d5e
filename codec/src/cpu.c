/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CPU feature probe for kernel dispatch: cpuid + xgetbv on x86 (a feature
 * counts only if the OS saves the register state it needs), getauxval on
 * ARM (NEON is architectural on AArch64).
 */
#include <stdint.h>

#include "gf_internal.h"

#if WEFT_ARCH_X86
#include <cpuid.h>

static uint64_t
xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

unsigned
weft_cpu_probe(void)
{
    unsigned a, b, c, d, feats = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    int ssse3 = (c >> 9) & 1;
    int osxsave = (c >> 27) & 1;
    int avx = (c >> 28) & 1;
    if (ssse3)
        feats |= WEFT_CPU_SSSE3;
    if (!osxsave || !avx)
        return feats;
    uint64_t xcr0 = xgetbv0();
    int ymm_ok = (xcr0 & 0x6) == 0x6;   /* XMM and YMM state */
    int zmm_ok = (xcr0 & 0xe6) == 0xe6; /* plus opmask, ZMM_Hi256, Hi16_ZMM */
    if (!ymm_ok)
        return feats;
    /* No variable: gcc's cpuid.h returns unsigned, clang's int. */
    if (__get_cpuid_max(0, 0) < 7)
        return feats;
    __cpuid_count(7, 0, a, b, c, d);
    unsigned avx2 = (b >> 5) & 1;
    unsigned avx512f = (b >> 16) & 1;
    unsigned avx512bw = (b >> 30) & 1;
    unsigned avx512vl = (b >> 31) & 1;
    unsigned gfni = (c >> 8) & 1;
    if (avx2)
        feats |= WEFT_CPU_AVX2;
    if (avx512f && avx512bw && avx512vl && zmm_ok)
        feats |= WEFT_CPU_AVX512BW;
    if (gfni)
        feats |= WEFT_CPU_GFNI;
    return feats;
}

#elif WEFT_ARCH_ARM64
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif

unsigned
weft_cpu_probe(void)
{
    unsigned long hw = getauxval(AT_HWCAP);
    return (hw & HWCAP_ASIMD) ? WEFT_CPU_NEON : 0;
}

#else
unsigned
weft_cpu_probe(void)
{
    return 0;
}
#endif
