/* Fuzz target: resuming a training run (bp_train_config.resume_path) from any bytes.
 * Input: a checkpoint (docs/checkpoint-format.md) of the run of fuzz_resume.h. Before the load both
 * CRC-32 fields are recomputed wherever the input's own model length places them, so that
 * mutations reach the field and state checks behind the checksums instead of stopping there; the
 * run resumed takes the optimizer kind and the early-stopping flag the state section names (when
 * the input is long enough to hold them), so that most inputs also pass the comparison with the
 * run. Promise checked: bp_train returns BP_OK, BP_ENUMERIC, BP_EFORMAT or BP_EMISMATCH; on a
 * refusal (EFORMAT, EMISMATCH) the network keeps its parameters bit for bit and the detail is set;
 * whatever happens the parameters it ends with are all finite (no poisoned state is resumed). */
#include "fuzz.h"
#include "fuzz_resume.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint64_t le(const uint8_t *p, int width)
{
    uint64_t v = 0;
    for (int i = 0; i < width; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Offset of the state section in b (size bytes), 0 if the header places none inside. */
static size_t reseal(uint8_t *b, size_t size)
{
    if (size < 20 + 4 + 4)
        return 0;
    uint64_t mlen = le(b + 12, 8);
    if (mlen < 4 || mlen > size - 20 - 4)
        return 0;
    size_t state = 20 + (size_t)mlen;
    put_le32(b + state - 4, (uint32_t)crc32(0L, b + 20, (uInt)(mlen - 4)));
    put_le32(b + size - 4, (uint32_t)crc32(0L, b + state, (uInt)(size - 4 - state)));
    return state;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *b = malloc(size ? size : 1);
    resume_data d;
    bp_net *net = resume_net();
    float *params, before[3 * 4 + 4 + 4 * 2 + 2];
    FUZZ_CHECK(b != NULL && net != NULL && bp_net_params(net, &params) == BP_OK);
    memcpy(b, data, size);
    size_t state = reseal(b, size);
    bp_optimizer_kind kind = BP_OPT_ADAM;
    int early = 1;
    if (state && size - state >= 68 + 4) {
        kind = (bp_optimizer_kind)(le(b + state, 4) % 4);
        early = le(b + state + 60, 4) != 0;
    }
    resume_data_make(&d);
    memcpy(before, params, sizeof before);
    bp_train_config cfg = resume_config(kind, early);
    cfg.resume_path = fuzz_file(0, b, size);
    bp_status st = bp_train(net, &d.ds, &d.ds, &cfg, NULL);
    FUZZ_CHECK(st == BP_OK || st == BP_ENUMERIC || st == BP_EFORMAT || st == BP_EMISMATCH);
    if (st == BP_EFORMAT || st == BP_EMISMATCH)
        FUZZ_CHECK(memcmp(params, before, sizeof before) == 0 && bp_last_error()[0] != '\0');
    for (size_t i = 0; i < sizeof before / sizeof before[0]; i++)
        FUZZ_CHECK(isfinite(params[i]));
    bp_net_free(net);
    free(b);
    return 0;
}
