/* SHA-256 compression with the x86 SHA extensions (SHA-NI), for wattchain/script/_fastpaths.pyx.
 *
 * Why: a full block's BIP143 digests and key hashes are ~13 SHA-256 compressions per
 * transaction; the portable C compression costs ~0.3 us each, the SHA instructions a tenth of
 * that. Compiled for the instructions with a function attribute (no global -msha flag), and
 * only used when CPUID reports them (wc_sha256_shani_available); elsewhere, or with other
 * compilers and architectures, the stubs below make the portable code the only path.
 *
 * The schedule is written as a loop over the 16 groups of four rounds: group g's message words
 * are loaded (g < 4) or derived from the previous four groups with SHA256MSG1/MSG2 (FIPS 180-4's
 * W[t] recurrence, four words at a time); SHA256RNDS2 runs two rounds on the ABEF/CDGH halves.
 */
#ifndef WATTCHAIN_SHA256_SHANI_H
#define WATTCHAIN_SHA256_SHANI_H

#include <stddef.h>
#include <stdint.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

static int wc_sha256_shani_available(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (!(c & (1u << 9)) || !(c & (1u << 19)))  /* SSSE3, SSE4.1 */
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 29) & 1;  /* SHA */
}

static const uint32_t WC_SHA256_K[64] __attribute__((aligned(16))) = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

__attribute__((target("sha,sse4.1,ssse3")))
static void wc_sha256_shani(uint32_t *state, const uint8_t *data, size_t blocks) {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp, abef, cdgh, abef_save, cdgh_save, msg, w[4];
    int g;
    /* state[0..7] = A..H -> the ABEF / CDGH register layout of SHA256RNDS2 */
    tmp = _mm_loadu_si128((const __m128i *)&state[0]);   /* D C B A */
    cdgh = _mm_loadu_si128((const __m128i *)&state[4]);  /* H G F E */
    tmp = _mm_shuffle_epi32(tmp, 0xB1);                  /* C D A B */
    cdgh = _mm_shuffle_epi32(cdgh, 0x1B);                /* E F G H */
    abef = _mm_alignr_epi8(tmp, cdgh, 8);                /* A B E F */
    cdgh = _mm_blend_epi16(cdgh, tmp, 0xF0);             /* C D G H */
    while (blocks--) {
        abef_save = abef;
        cdgh_save = cdgh;
        for (g = 0; g < 16; g++) {
            if (g < 4) {
                w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * g)), mask);
            } else {
                __m128i prev = w[(g - 1) & 3];
                __m128i t = _mm_sha256msg1_epu32(w[g & 3], w[(g - 3) & 3]);
                t = _mm_add_epi32(t, _mm_alignr_epi8(prev, w[(g - 2) & 3], 4));
                w[g & 3] = _mm_sha256msg2_epu32(t, prev);
            }
            msg = _mm_add_epi32(w[g & 3], _mm_load_si128((const __m128i *)&WC_SHA256_K[4 * g]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, msg);
            msg = _mm_shuffle_epi32(msg, 0x0E);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, msg);
        }
        abef = _mm_add_epi32(abef, abef_save);
        cdgh = _mm_add_epi32(cdgh, cdgh_save);
        data += 64;
    }
    tmp = _mm_shuffle_epi32(abef, 0x1B);                 /* F E B A */
    cdgh = _mm_shuffle_epi32(cdgh, 0xB1);                /* D C H G */
    abef = _mm_blend_epi16(tmp, cdgh, 0xF0);             /* D C B A */
    cdgh = _mm_alignr_epi8(cdgh, tmp, 8);                /* H G F E */
    _mm_storeu_si128((__m128i *)&state[0], abef);
    _mm_storeu_si128((__m128i *)&state[4], cdgh);
}

#else

static int wc_sha256_shani_available(void) { return 0; }
static void wc_sha256_shani(uint32_t *state, const uint8_t *data, size_t blocks) {
    (void)state; (void)data; (void)blocks;
}

#endif
#endif
