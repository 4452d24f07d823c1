/* Fuzz target: a network built from the input, saved, loaded back: the same network, bit for bit.
 * Input: L - 2 (mod 6), then L widths (1 + b mod 16), L - 1 activations (hidden layers b mod 5,
 * never softmax; output b mod 6), the cost (b mod 3; quadratic when the library refuses the
 * combination), then the parameter bits, four bytes each, repeated to fill the block (all zero
 * without them): any bit pattern, NaN payloads, infinities and subnormals included, must survive.
 * The input's length mod 4 picks the scaling (bit 0 inputs, bit 1 targets when the cost is
 * quadratic; format version 2), its means and scales taken from the input's bytes; the scaling
 * must survive too, and the file must load from memory as it loads from disk. */
#include "fuzz.h"

#include <backprop.h>
#include <stdlib.h>
#include <string.h>

/* The next input byte, 0 once the input is used up. */
static unsigned take(const uint8_t **p, size_t *n)
{
    if (*n == 0)
        return 0;
    --*n;
    return *(*p)++;
}

static bp_net *build(const uint8_t *data, size_t size)
{
    int sizes[7];
    bp_activation acts[6];
    bp_net *net = NULL;
    float *params;
    const int L = 2 + (int)(take(&data, &size) % 6);
    for (int i = 0; i < L; i++)
        sizes[i] = 1 + (int)(take(&data, &size) % 16);
    for (int i = 0; i < L - 1; i++)
        acts[i] = (bp_activation)(take(&data, &size) % (i == L - 2 ? 6 : 5));
    bp_cost cost = (bp_cost)(take(&data, &size) % 3);
    if (bp_net_create(&net, L, sizes, acts, cost) == BP_ECONFIG)
        FUZZ_CHECK(bp_net_create(&net, L, sizes, acts, BP_QUADRATIC) == BP_OK);
    FUZZ_CHECK(net != NULL && bp_net_params(net, &params) == BP_OK);
    if (size >= 4) {
        bp_net_info info;
        FUZZ_CHECK(bp_net_describe(net, &info) == BP_OK);
        for (size_t i = 0, k = 0; i < info.num_params; i++, k = (k + 4) % (size - size % 4))
            memcpy(&params[i], data + k, sizeof params[i]);
    }
    return net;
}

/* The side's scaling of n entries: mean = byte - 128, scale = 1 + byte / 16 (always valid). */
static void scale_side(bp_net *net, bp_scaling_side side, int n, const uint8_t *data, size_t size)
{
    float mean[16], scale[16];
    for (int i = 0; i < n; i++) {
        mean[i] = size ? (float)data[(size_t)i % size] - 128 : 0;
        scale[i] = size ? 1 + (float)data[(size_t)(i + 1) % size] / 16 : 1;
    }
    FUZZ_CHECK(bp_net_set_scaling(net, side, mean, scale) == BP_OK);
}

/* Both sides' scaling of a and b hold the same bits. */
static void same_scaling(const bp_net *a, const bp_net *b, const bp_net_info *info)
{
    for (int side = BP_SCALE_INPUTS; side <= BP_SCALE_TARGETS; side++) {
        const float *ma, *sa, *mb, *sb;
        size_t n = (size_t)(side ? info->sizes[info->num_layers - 1] : info->sizes[0]);
        FUZZ_CHECK(bp_net_get_scaling(a, (bp_scaling_side)side, &ma, &sa) == BP_OK &&
                   bp_net_get_scaling(b, (bp_scaling_side)side, &mb, &sb) == BP_OK);
        FUZZ_CHECK((ma == NULL) == (mb == NULL));
        FUZZ_CHECK(!ma || (memcmp(ma, mb, n * sizeof *ma) == 0 &&
                           memcmp(sa, sb, n * sizeof *sa) == 0));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bp_net *net = build(data, size), *back = NULL, *mem = NULL;
    const char *path = fuzz_save_path();
    bp_net_info a, b;
    const float *pa, *pb;
    FUZZ_CHECK(bp_net_describe(net, &a) == BP_OK);
    if (size % 4 & 1)
        scale_side(net, BP_SCALE_INPUTS, a.sizes[0], data, size);
    if (size % 4 & 2 && a.cost == BP_QUADRATIC)
        scale_side(net, BP_SCALE_TARGETS, a.sizes[a.num_layers - 1], data, size);
    FUZZ_CHECK(bp_model_save(net, path) == BP_OK);
    FUZZ_CHECK(bp_model_load(&back, path) == BP_OK);
    FUZZ_CHECK(bp_net_describe(back, &b) == BP_OK);
    FUZZ_CHECK(a.num_layers == b.num_layers && a.cost == b.cost && a.num_params == b.num_params);
    FUZZ_CHECK(memcmp(a.sizes, b.sizes, (size_t)a.num_layers * sizeof *a.sizes) == 0);
    FUZZ_CHECK(memcmp(a.activations, b.activations,
                      (size_t)(a.num_layers - 1) * sizeof *a.activations) == 0);
    FUZZ_CHECK(bp_net_params_const(net, &pa) == BP_OK && bp_net_params_const(back, &pb) == BP_OK);
    FUZZ_CHECK(memcmp(pa, pb, a.num_params * sizeof *pa) == 0);
    same_scaling(net, back, &a);
    size_t len = 0;
    uint8_t *file = fuzz_read_file(path, &len);
    FUZZ_CHECK(bp_model_load_memory(&mem, file, len) == BP_OK);
    FUZZ_CHECK(bp_net_params_const(mem, &pb) == BP_OK);
    FUZZ_CHECK(memcmp(pa, pb, a.num_params * sizeof *pa) == 0);
    same_scaling(net, mem, &a);
    free(file);
    bp_net_free(mem);
    bp_net_free(net);
    bp_net_free(back);
    return 0;
}
