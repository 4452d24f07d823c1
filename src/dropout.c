/* Inverted dropout: the masks and the two elementwise steps that use them. A mask entry is 0 (the
 * unit dropped, with probability p) or 1/(1-p) (kept and scaled, so that E[mask] = 1 and the
 * expected input of the next layer is the one evaluation sees, where nothing is dropped).
 *
 * The masks of a column depend only on (key, step, column): its own generator is seeded from the
 * three, so any split of a mini-batch's columns (worker threads, ranks) draws the same bits as one
 * pass over all of them, in any order, and a run resumed at a given step draws what the
 * uninterrupted run drew there. Integer arithmetic only: the same bits on every machine. */
#include "internal.h"

/* splitmix64's finaliser: a bijection of 64 bits in which every input bit moves every output bit. */
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* The masks' key of a run seeded with seed: another stream than the shuffle's generator (which is
 * seeded with seed itself). */
uint64_t bp__dropout_key(uint64_t seed) { return mix(seed ^ 0x64726f706f757421u); /* "dropout!" */ }

/* One layer's mask for one column: n entries, each from 32 bits of the generator (the low half of
 * a draw, then the high half): 0 if they are below p 2^32, else keep. */
static void draw_column(bp__rng *rng, float p, int n, float *mask)
{
    const uint64_t below = (uint64_t)((double)p * 4294967296.0); /* < 2^32 since p < 1 */
    const float keep = (float)(1.0 / (1.0 - (double)p));
    for (int i = 0; i < n; i += 2) {
        uint64_t r = bp__rng_next(rng);
        mask[i] = (r & 0xffffffffu) < below ? 0.0f : keep;
        if (i + 1 < n)
            mask[i + 1] = (r >> 32) < below ? 0.0f : keep;
    }
}

void bp__dropout_draw(int num_layers, const int *sizes, const float *rates, uint64_t key,
                      uint64_t step, int first, int batch, float *const *mask)
{
    for (int j = 0; j < batch; j++) {
        bp__rng rng;
        bp__rng_seed(&rng, mix(mix(key ^ step) ^ (uint64_t)(first + j)));
        for (int l = 1; l < num_layers; l++) /* layers in order, inputs first */
            if (rates[l - 1] > 0)
                draw_column(&rng, rates[l - 1], sizes[l - 1],
                            mask[l] + (size_t)j * (size_t)sizes[l - 1]);
    }
}

BP_CLONES static void apply(int rows, int batch, const float *restrict a, int lda,
                            const float *restrict mask, float *restrict out)
{
    for (int j = 0; j < batch; j++) {
        const float *aj = a + (size_t)j * (size_t)lda;
        const float *mj = mask + (size_t)j * (size_t)rows;
        float *oj = out + (size_t)j * (size_t)rows;
        for (int i = 0; i < rows; i++)
            oj[i] = aj[i] * mj[i];
    }
}

void bp__dropout_apply(int rows, int batch, const float *a, int lda, const float *mask, float *out)
{
    apply(rows, batch, a, lda, mask, out);
}

BP_CLONES static void mask_delta(float *restrict d, const float *restrict mask, size_t n)
{
    for (size_t i = 0; i < n; i++)
        d[i] *= mask[i];
}

void bp__dropout_mask_delta(float *d, const float *mask, size_t n) { mask_delta(d, mask, n); }

bp_status bp__check_dropout(int num_layers, const float *rates)
{
    for (int l = 1; rates && l < num_layers; l++)
        if (!(rates[l - 1] >= 0 && rates[l - 1] < 1))
            return bp__fail(BP_EVALUE, "dropout rate of layer %d is %g, must be in [0, 1)", l,
                            (double)rates[l - 1]);
    return BP_OK;
}
