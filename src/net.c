/* Network description, the contiguous parameter block and its initialisation. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *bp_activation_name(bp_activation a)
{
    static const char *const names[] = {"sigmoid", "tanh", "relu", "leaky-relu", "identity",
                                        "softmax"};
    return (unsigned)a < sizeof names / sizeof names[0] ? names[a] : NULL;
}

const char *bp_cost_name(bp_cost c)
{
    static const char *const names[] = {"quadratic", "cross-entropy", "nll"};
    return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : NULL;
}

const char *bp_init_name(bp_init i)
{
    static const char *const names[] = {"large", "scaled", "xavier", "he"};
    return (unsigned)i < sizeof names / sizeof names[0] ? names[i] : NULL;
}

bp_status bp__check_config(int num_layers, const int *sizes, const bp_activation *acts, bp_cost cost)
{
    if (!sizes)
        return bp__fail(BP_ENULL, "sizes is NULL");
    if (!acts)
        return bp__fail(BP_ENULL, "activations is NULL");
    if (num_layers < 2 || num_layers > BP_MAX_LAYERS)
        return bp__fail(BP_EDIM, "num_layers is %d, not in 2..%d", num_layers, BP_MAX_LAYERS);
    for (int i = 0; i < num_layers; i++)
        if (sizes[i] < 1) /* BP_MAX_WIDTH is INT_MAX: every positive int is a width */
            return bp__fail(BP_EDIM, "sizes[%d] is %d, not a positive width", i, sizes[i]);
    for (int i = 0; i < num_layers - 1; i++) {
        if (!bp_activation_name(acts[i]))
            return bp__fail(BP_EDIM, "activations[%d] is %d, not a bp_activation", i, (int)acts[i]);
        if (acts[i] == BP_SOFTMAX && i != num_layers - 2)
            return bp__fail(BP_ECONFIG, "activations[%d] is softmax on hidden layer %d; softmax is "
                            "for the output layer only", i, i + 2);
    }
    if (!bp_cost_name(cost))
        return bp__fail(BP_EDIM, "cost is %d, not a bp_cost", (int)cost);
    bp_activation out = acts[num_layers - 2];
    if (cost == BP_NLL && out != BP_SOFTMAX)
        return bp__fail(BP_ECONFIG, "cost nll needs a softmax output layer, not %s",
                        bp_activation_name(out));
    if (cost == BP_CROSS_ENTROPY && out != BP_SIGMOID)
        return bp__fail(BP_ECONFIG, "cost cross-entropy needs a sigmoid output layer, not %s",
                        bp_activation_name(out));
    return BP_OK;
}

bp_status bp_net_create(bp_net **out, int num_layers, const int *sizes,
                        const bp_activation *activations, bp_cost cost)
{
    bp__clear_error();
    if (!out)
        return bp__fail(BP_ENULL, "out is NULL");
    *out = NULL;
    bp_status st = bp__check_config(num_layers, sizes, activations, cost);
    if (st)
        return st;

    bp_net *net = bp__calloc(1, sizeof *net);
    if (!net)
        return bp__fail(BP_ENOMEM, "network of %d layers", num_layers);
    net->num_layers = num_layers;
    net->cost = cost;
    memcpy(net->sizes, sizes, (size_t)num_layers * sizeof *sizes);
    memcpy(net->acts, activations, (size_t)(num_layers - 1) * sizeof *activations);

    size_t total = 0;
    for (int l = 2; l <= num_layers; l++) {
        size_t rows = (size_t)sizes[l - 1], cols = (size_t)sizes[l - 2], w;
        if (!bp__mul_size(rows, cols, &w) || rows > SIZE_MAX - total ||
            w > SIZE_MAX - total - rows) {
            bp__free(net);
            return bp__fail(BP_EOVERFLOW, "parameter count overflows at layer %d (%zu x %zu)", l,
                            rows, cols);
        }
        net->w_off[l] = total;
        net->b_off[l] = total + w;
        total += w + rows;
        if (sizes[l - 1] > net->max_width)
            net->max_width = sizes[l - 1];
    }
    size_t bytes;
    if (!bp__mul_size(total, sizeof(float), &bytes)) {
        bp__free(net);
        return bp__fail(BP_EOVERFLOW, "parameter block of %zu floats overflows size_t", total);
    }
    net->num_params = total;
    net->params = bp__calloc(total, sizeof(float));
    if (!net->params) {
        bp__free(net);
        return bp__fail(BP_ENOMEM, "parameter block of %zu bytes", bytes);
    }
    *out = net;
    return BP_OK;
}

void bp_net_free(bp_net *net)
{
    if (!net)
        return;
    bp__free(net->params);
    bp__free(net->in_scaling);
    bp__free(net->out_scaling);
    bp__free(net);
}

bp_status bp_net_init(bp_net *net, bp_init scheme, uint64_t seed)
{
    bp__clear_error();
    if (!net)
        return bp__fail(BP_ENULL, "net is NULL");
    if (!bp_init_name(scheme))
        return bp__fail(BP_EDIM, "scheme is %d, not a bp_init", (int)scheme);
    bp__rng rng;
    bp__rng_seed(&rng, seed);
    for (int l = 2; l <= net->num_layers; l++) {
        double fan_in = net->sizes[l - 2], fan_out = net->sizes[l - 1];
        double sd_w = 1.0, sd_b = 0.0;
        switch (scheme) {
        case BP_INIT_LARGE: sd_b = 1.0; break;
        case BP_INIT_SCALED: sd_w = sqrt(1.0 / fan_in); sd_b = 1.0; break;
        case BP_INIT_XAVIER: sd_w = sqrt(2.0 / (fan_in + fan_out)); break;
        case BP_INIT_HE: sd_w = sqrt(2.0 / fan_in); break;
        }
        float *w = net->params + net->w_off[l];
        float *b = net->params + net->b_off[l];
        size_t nw = net->b_off[l] - net->w_off[l];
        for (size_t i = 0; i < nw; i++)
            w[i] = (float)(sd_w * bp__rng_normal(&rng));
        for (int i = 0; i < net->sizes[l - 1]; i++)
            b[i] = sd_b > 0 ? (float)(sd_b * bp__rng_normal(&rng)) : 0.0f;
    }
    return BP_OK;
}

bp_status bp_net_describe(const bp_net *net, bp_net_info *info)
{
    bp__clear_error();
    if (!net || !info)
        return bp__fail(BP_ENULL, "%s is NULL", net ? "info" : "net");
    info->num_layers = net->num_layers;
    info->sizes = net->sizes;
    info->activations = net->acts;
    info->cost = net->cost;
    info->num_params = net->num_params;
    return BP_OK;
}

bp_status bp_net_params(bp_net *net, float **params)
{
    bp__clear_error();
    if (!net || !params)
        return bp__fail(BP_ENULL, "%s is NULL", net ? "params" : "net");
    *params = net->params;
    return BP_OK;
}

bp_status bp_net_params_const(const bp_net *net, const float **params)
{
    bp__clear_error();
    if (!net || !params)
        return bp__fail(BP_ENULL, "%s is NULL", net ? "params" : "net");
    *params = net->params;
    return BP_OK;
}

bp_status bp_net_layer(const bp_net *net, int l, bp_layer_view *view)
{
    bp__clear_error();
    if (!net || !view)
        return bp__fail(BP_ENULL, "%s is NULL", net ? "view" : "net");
    if (l < 2 || l > net->num_layers)
        return bp__fail(BP_EDIM, "layer l is %d, not in 2..%d", l, net->num_layers);
    view->w_offset = net->w_off[l];
    view->b_offset = net->b_off[l];
    view->rows = net->sizes[l - 1];
    view->cols = net->sizes[l - 2];
    view->ld = view->rows;
    return BP_OK;
}

bp_status bp_grad_zero(const bp_net *net, float *grad)
{
    bp__clear_error();
    if (!net || !grad)
        return bp__fail(BP_ENULL, "%s is NULL", net ? "grad" : "net");
    memset(grad, 0, net->num_params * sizeof *grad);
    return BP_OK;
}
