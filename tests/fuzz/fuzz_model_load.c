/* Fuzz target: bp_model_load and bp_model_load_memory on any bytes.
 * Promise checked: both loaders give the same answer. A file is either refused with BP_EFORMAT, a
 * detail and no network, or it is exactly the documented layout (docs/model-format.md: version 1,
 * 28 + 8L + 4P bytes; version 2, 32 + 8L + 4P + 4S bytes with the scaling flags after the cost and
 * the S scaling floats after the parameters) and the network holds the sizes, activations, cost,
 * parameter and scaling bits stored in it. Nothing may be allocated from a claimed size: the
 * header is checked against the real length first (the huge-claim seeds of fuzz_corpus.c are
 * replayed under a 1 MB allocation limit). */
#include "fuzz.h"

#include <backprop.h>
#include <string.h>

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* n floats at p hold the little-endian bits at data. */
static void check_bits(const float *p, size_t n, const uint8_t *data)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &p[i], sizeof bits);
        FUZZ_CHECK(bits == le32(data + 4 * i));
    }
}

/* The scaling of one side (n entries) is absent, or it is [mean | scale] stored at *at. */
static void check_side(const bp_net *net, bp_scaling_side side, int present, size_t n,
                       const uint8_t *data, size_t *at)
{
    const float *mean, *scale;
    FUZZ_CHECK(bp_net_get_scaling(net, side, &mean, &scale) == BP_OK);
    FUZZ_CHECK((mean != NULL) == present && (scale != NULL) == present);
    if (!present)
        return;
    check_bits(mean, n, data + *at);
    check_bits(scale, n, data + *at + 4 * n);
    *at += 8 * n;
}

static void check_layout(const bp_net *net, const uint8_t *data, size_t size)
{
    bp_net_info info;
    const float *params;
    FUZZ_CHECK(bp_net_describe(net, &info) == BP_OK && bp_net_params_const(net, &params) == BP_OK);
    const uint32_t version = le32(data + 8);
    const size_t L = (size_t)info.num_layers, v2 = version == 2 ? 4 : 0;
    const size_t at = 24 + 8 * L + v2; /* offset of the parameters */
    const uint32_t flags = v2 ? le32(data + 16 + 8 * L) : 0;
    const size_t n1 = (size_t)info.sizes[0], nL = (size_t)info.sizes[L - 1];
    FUZZ_CHECK((version == 1 || version == 2) && flags <= 3 && le32(data + 12) == L);
    const size_t S = (flags & 1 ? 2 * n1 : 0) + (flags & 2 ? 2 * nL : 0);
    FUZZ_CHECK(size == at + 4 * info.num_params + 4 * S + 4);
    for (size_t i = 0; i < L; i++)
        FUZZ_CHECK(le32(data + 16 + 4 * i) == (uint32_t)info.sizes[i]);
    for (size_t i = 0; i + 1 < L; i++)
        FUZZ_CHECK(le32(data + 16 + 4 * L + 4 * i) == (uint32_t)info.activations[i]);
    FUZZ_CHECK(le32(data + 12 + 8 * L) == (uint32_t)info.cost);
    check_bits(params, info.num_params, data + at);
    size_t s_at = at + 4 * info.num_params;
    check_side(net, BP_SCALE_INPUTS, flags & 1, n1, data, &s_at);
    check_side(net, BP_SCALE_TARGETS, (flags & 2) != 0, nL, data, &s_at);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bp_net *net = NULL, *mem = NULL;
    bp_status st = bp_model_load(&net, fuzz_file(0, data, size));
    bp_status sm = bp_model_load_memory(&mem, size ? data : (const uint8_t *)"", size);
    FUZZ_CHECK(st == sm);
    if (st != BP_OK) {
        FUZZ_CHECK(st == BP_EFORMAT && net == NULL && mem == NULL && bp_last_error()[0] != '\0');
        return 0;
    }
    check_layout(net, data, size);
    check_layout(mem, data, size);
    bp_net_free(net);
    bp_net_free(mem);
    return 0;
}
