/* Model files: save through a temporary file and rename, load with every field validated before
 * anything is allocated. The format is described byte by byte in docs/model-format.md; the codec,
 * the atomic save and the length-checked reader are the binary-file toolkit of binfile.c. */
#include "internal.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

/* PNG-style signature: 0x89 (high bit: catches 7-bit channels, is not text), CR LF (catches a
 * CRLF -> LF conversion), 0x1A (stops DOS `type`), LF (catches a LF -> CRLF conversion). */
static const unsigned char magic[BP__MAGIC_BYTES] = {0x89, 'B', 'P', 'N', '\r', '\n', 0x1a, '\n'};
/* Version 1: no scaling; version 2 adds the scaling flags after the cost and the scaling after the
 * parameters. The saver writes version 1 for a network without scaling, so those files stay the
 * bytes every earlier release wrote. */
#define FORMAT_VERSION 2
enum { SCALED_INPUTS = 1, SCALED_TARGETS = 2 }; /* the bits of the scaling flags */
/* Chunk of encoded bytes: the whole header fits (magic, version, layer count, BP_MAX_LAYERS sizes,
 * BP_MAX_LAYERS - 1 activations, cost, flags, 8-byte parameter count), then 1024 parameters at a
 * time. */
#define CHUNK BP__IO_CHUNK
_Static_assert(8 + 4 + 4 + 4 * BP_MAX_LAYERS + 4 * (BP_MAX_LAYERS - 1) + 4 + 4 + 8 <= CHUNK,
               "the largest header fits one chunk");

/* Magic 8, version 4, layer count 4, sizes 4 L, activations 4 (L - 1), cost 4, [version 2:
 * scaling flags 4], parameter count 8, parameters 4 P, [version 2: scaling 4 S], CRC 4; S the
 * scaling's floats. */
static uint64_t file_bytes(uint32_t version, int num_layers, uint64_t num_params, uint64_t S)
{
    return 28 + 8 * (uint64_t)num_layers + 4 * num_params + (version >= 2 ? 4 + 4 * S : 0);
}

/* Floats of the scaling the flags announce: [mean | scale] of n^1 inputs, of n^L targets. */
static uint64_t scaling_floats(uint32_t flags, int n1, int nL)
{
    return (flags & SCALED_INPUTS ? 2 * (uint64_t)n1 : 0) +
           (flags & SCALED_TARGETS ? 2 * (uint64_t)nL : 0);
}

static uint32_t flags_of(const bp_net *net)
{
    return (net->in_scaling ? SCALED_INPUTS : 0) | (net->out_scaling ? SCALED_TARGETS : 0);
}

uint64_t bp__model_bytes(const bp_net *net)
{
    uint32_t flags = flags_of(net);
    return file_bytes(flags ? 2 : 1, net->num_layers, net->num_params,
                      scaling_floats(flags, net->sizes[0], net->sizes[net->num_layers - 1]));
}

/* ---------------------------------------------------------------- save */

/* The whole model file (magic to CRC) to f: version 1 without scaling, else 2. 0 on failure,
 * with errno set. */
static int write_model(FILE *f, const bp_net *net, const bp_net_info *info, const float *params)
{
    unsigned char buf[CHUNK], *p;
    uLong crc = crc32(0L, Z_NULL, 0);
    uint32_t flags = flags_of(net);
    int n1 = info->sizes[0], nL = info->sizes[info->num_layers - 1];

    p = bp__put_signature(buf, magic, flags ? 2 : 1);
    p = bp__put_le(p, (uint64_t)info->num_layers, 4);
    for (int i = 0; i < info->num_layers; i++)
        p = bp__put_le(p, (uint64_t)info->sizes[i], 4);
    for (int i = 0; i < info->num_layers - 1; i++)
        p = bp__put_le(p, (uint64_t)info->activations[i], 4);
    p = bp__put_le(p, (uint64_t)info->cost, 4);
    if (flags)
        p = bp__put_le(p, flags, 4);
    p = bp__put_le(p, (uint64_t)info->num_params, 8);
    if (!bp__emit(f, &crc, buf, (size_t)(p - buf)) ||
        !bp__emit_floats(f, &crc, params, info->num_params) ||
        (net->in_scaling && !bp__emit_floats(f, &crc, net->in_scaling, 2 * (size_t)n1)) ||
        (net->out_scaling && !bp__emit_floats(f, &crc, net->out_scaling, 2 * (size_t)nL)))
        return 0;

    bp__put_le(buf, crc, 4);
    return fwrite(buf, 1, 4, f) == 4;
}

int bp__write_model(FILE *f, const void *net)
{
    bp_net_info info;
    const float *params;
    bp_net_describe(net, &info);
    bp_net_params_const(net, &params);
    return write_model(f, net, &info, params);
}

bp_status bp_model_save(const bp_net *net, const char *path)
{
    bp__clear_error();
    if (!net || !path)
        return bp__fail(BP_ENULL, "%s is NULL", net ? "path" : "net");
    return bp__save_atomic(path, bp__write_model, net);
}

/* ---------------------------------------------------------------- load */

typedef bp__reader reader; /* internal.h */

/* The header fields after the signature, each validated as it is read. */
typedef struct model_header {
    uint32_t version;
    uint32_t flags;     /* SCALED_INPUTS | SCALED_TARGETS; 0 in version 1 */
    int num_layers;
    int sizes[BP_MAX_LAYERS];
    bp_activation acts[BP_MAX_LAYERS - 1];
    bp_cost cost;
    uint64_t num_params;
    uint64_t sizes_at, acts_at; /* offsets of the first size and the first activation */
} model_header;

/* Layer count, layer sizes and activations, each in its range. */
static bp_status read_layers(reader *r, model_header *h)
{
    uint64_t v, at;
    bp_status st;
    if ((st = bp__read_uint(r, 4, "layer count", &v, &at)))
        return st;
    if (v < 2 || v > BP_MAX_LAYERS)
        return bp__bad(r, at, "layer count %" PRIu64 " not in 2..%d", v, BP_MAX_LAYERS);
    h->num_layers = (int)v;
    h->sizes_at = r->off;
    for (int i = 0; i < h->num_layers; i++) {
        if ((st = bp__read_uint(r, 4, "layer sizes", &v, &at)))
            return st;
        if (v < 1 || v > BP_MAX_WIDTH)
            return bp__bad(r, at, "layer size sizes[%d] = %" PRIu64 " not in 1..%d", i, v,
                           BP_MAX_WIDTH);
        h->sizes[i] = (int)v;
    }
    h->acts_at = r->off;
    for (int i = 0; i < h->num_layers - 1; i++) {
        if ((st = bp__read_uint(r, 4, "activations", &v, &at)))
            return st;
        if (v > INT_MAX || !bp_activation_name((bp_activation)v))
            return bp__bad(r, at, "activations[%d] = %" PRIu64 " is not a known activation", i,
                           v);
        h->acts[i] = (bp_activation)v;
    }
    return BP_OK;
}

/* The parameter count stored at at (v) against the one the layer sizes imply, capped so that the
 * file length fits in uint64_t. */
static bp_status check_param_count(const reader *r, const model_header *h, uint64_t v,
                                   uint64_t at)
{
    /* Room for the scaling's at most 4 (2^31 - 1) floats, so that no file length overflows. */
    const uint64_t cap = (UINT64_MAX - CHUNK) / 4 - ((uint64_t)1 << 33);
    uint64_t count = 0;
    for (int l = 1; l < h->num_layers; l++) {
        uint64_t n = (uint64_t)h->sizes[l] * ((uint64_t)h->sizes[l - 1] + 1); /* < 2^62 + 2^31 */
        if (n > cap - count)
            return bp__bad(r, h->sizes_at, "the layer sizes imply more than %" PRIu64
                           " parameters", cap);
        count += n;
    }
    if (v != count)
        return bp__bad(r, at, "parameter count %" PRIu64 " but the layer sizes imply %" PRIu64, v,
                       count);
    return BP_OK;
}

/* Version 2's scaling flags: known bits, target scaling only with the quadratic cost. */
static bp_status read_flags(reader *r, model_header *h)
{
    uint64_t v, at;
    bp_status st;
    h->flags = 0;
    if (h->version < 2)
        return BP_OK;
    if ((st = bp__read_uint(r, 4, "scaling flags", &v, &at)))
        return st;
    if (v > (SCALED_INPUTS | SCALED_TARGETS))
        return bp__bad(r, at, "scaling flags %" PRIu64 " not in 0..3", v);
    if ((v & SCALED_TARGETS) && h->cost != BP_QUADRATIC)
        return bp__bad(r, at, "target scaling with the %s cost (only quadratic)",
                       bp_cost_name(h->cost));
    h->flags = (uint32_t)v;
    return BP_OK;
}

/* Signature to parameter count, validated in file order. */
static bp_status read_header(reader *r, model_header *h)
{
    uint64_t v, at;
    bp_status st;
    if ((st = bp__read_signature(r, magic, FORMAT_VERSION, "model file", &h->version)) ||
        (st = read_layers(r, h)))
        return st;
    if ((st = bp__read_uint(r, 4, "cost", &v, &at)))
        return st;
    if (v > INT_MAX || !bp_cost_name((bp_cost)v))
        return bp__bad(r, at, "cost %" PRIu64 " is not a known cost", v);
    h->cost = (bp_cost)v;
    if (bp__check_config(h->num_layers, h->sizes, h->acts, h->cost) != BP_OK)
        return bp__bad(r, h->acts_at, "activations and cost: %s", bp_last_error());
    if ((st = read_flags(r, h)))
        return st;
    if ((st = bp__read_uint(r, 8, "parameter count", &v, &at)) ||
        (st = check_param_count(r, h, v, at)))
        return st;
    h->num_params = v;
    return BP_OK;
}

/* [mean | scale] of n entries into *dst (allocated here), each value as bp_net_set_scaling
 * requires it. */
static bp_status read_scaling(reader *r, float **dst, int n, const char *what)
{
    uint64_t at = r->off;
    float *ms = bp__calloc(2 * (size_t)n, sizeof *ms);
    if (!ms)
        return bp__fail(BP_ENOMEM, "%s scaling of %d floats", what, 2 * n);
    bp_status st = bp__read_floats(r, ms, 2 * (size_t)n, "scaling");
    if (!st && bp__scaling_check(n, ms, ms + n, what) != BP_OK)
        st = bp__bad(r, at, "%s", bp_last_error());
    if (st)
        bp__free(ms);
    else
        *dst = ms;
    return st;
}

/* Header and length validated in file order before anything is allocated; then the network, its
 * parameters, its scaling and the CRC. */
bp_status bp__read_model(reader *r, bp_net **out)
{
    model_header h;
    uint64_t start = r->off;
    bp_status st;
    if ((st = read_header(r, &h)))
        return st;
    int n1 = h.sizes[0], nL = h.sizes[h.num_layers - 1];
    if ((st = bp__check_length(r, start + file_bytes(h.version, h.num_layers, h.num_params,
                                                     scaling_floats(h.flags, n1, nL)))))
        return st;

    /* Every field is valid and the length is exact: read the parameters straight into the network,
     * which is dropped again if the checksum does not match. */
    bp_net *net = NULL;
    float *params;
    if ((st = bp_net_create(&net, h.num_layers, h.sizes, h.acts, h.cost)))
        return st;
    bp_net_params(net, &params);
    st = bp__read_floats(r, params, (size_t)h.num_params, "parameters");
    if (!st && (h.flags & SCALED_INPUTS))
        st = read_scaling(r, &net->in_scaling, n1, "input");
    if (!st && (h.flags & SCALED_TARGETS))
        st = read_scaling(r, &net->out_scaling, nL, "target");
    if (!st)
        st = bp__read_checksum(r);
    if (st)
        bp_net_free(net);
    else
        *out = net;
    return st;
}

/* A file that is exactly one model. */
static bp_status read_model_file(reader *r, void *out) { return bp__read_model(r, out); }

bp_status bp_model_load_memory(bp_net **out, const void *data, size_t size)
{
    bp__clear_error();
    if (!out)
        return bp__fail(BP_ENULL, "out is NULL");
    *out = NULL;
    if (!data)
        return bp__fail(BP_ENULL, "data is NULL");
    return bp__load_memory(data, size, "memory", read_model_file, out);
}

bp_status bp_model_load(bp_net **out, const char *path)
{
    bp__clear_error();
    if (!out)
        return bp__fail(BP_ENULL, "out is NULL");
    *out = NULL;
    if (!path)
        return bp__fail(BP_ENULL, "path is NULL");
    return bp__load_file(path, read_model_file, out);
}
