/* Fuzz target: bp_model_load on any bytes.
 * Promise checked: a file is either refused with BP_EFORMAT, a detail and no network, or it is
 * exactly the documented layout (docs/model-format.md: 28 + 8L + 4P bytes) and the network holds
 * the sizes, activations, cost and parameter bits stored in it. Nothing may be allocated from a
 * claimed size: the header is checked against the real length first (the huge-claim seeds of
 * fuzz_corpus.c are replayed under a 1 MB allocation limit). */
#include "fuzz.h"

#include <backprop.h>
#include <string.h>

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bp_net *net = NULL;
    bp_net_info info;
    const float *params;
    bp_status st = bp_model_load(&net, fuzz_file(0, data, size));
    if (st != BP_OK) {
        FUZZ_CHECK(st == BP_EFORMAT && net == NULL && bp_last_error()[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(bp_net_describe(net, &info) == BP_OK && bp_net_params_const(net, &params) == BP_OK);
    const size_t L = (size_t)info.num_layers, at = 24 + 8 * L; /* offset of the parameters */
    FUZZ_CHECK(size == at + 4 * info.num_params + 4 && le32(data + 12) == L);
    for (size_t i = 0; i < L; i++)
        FUZZ_CHECK(le32(data + 16 + 4 * i) == (uint32_t)info.sizes[i]);
    for (size_t i = 0; i + 1 < L; i++)
        FUZZ_CHECK(le32(data + 16 + 4 * L + 4 * i) == (uint32_t)info.activations[i]);
    FUZZ_CHECK(le32(data + 12 + 8 * L) == (uint32_t)info.cost);
    for (size_t i = 0; i < info.num_params; i++) {
        uint32_t bits;
        memcpy(&bits, &params[i], sizeof bits);
        FUZZ_CHECK(bits == le32(data + at + 4 * i));
    }
    bp_net_free(net);
    return 0;
}
