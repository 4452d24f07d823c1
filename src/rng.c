/* The project's generator: xoshiro256** (Blackman & Vigna) seeded through splitmix64. Integer
 * arithmetic only, so the same seed gives the same bits on every machine; the floating-point
 * transforms below use only correctly rounded operations and libm's log/cos/sqrt. */
#include "internal.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void bp__rng_seed(bp__rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t bp__rng_next(bp__rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double bp__rng_uniform(bp__rng *rng) { return (double)(bp__rng_next(rng) >> 11) * 0x1.0p-53; }

double bp__rng_normal(bp__rng *rng)
{
    double u1 = 1.0 - bp__rng_uniform(rng); /* (0,1]: log is finite */
    double u2 = bp__rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t bp__rng_below(bp__rng *rng, uint64_t n)
{
    /* Rejection of the top partial bucket removes modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do {
        r = bp__rng_next(rng);
    } while (r >= limit);
    return r % n;
}
