// The C header used from C++ (C++11 and later): owners for the library's objects, a plain SGD loop
// over the equations, and the classes of the trained network checked against XOR.
#include <backprop.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// Each object released by its own *_free, whatever path leaves the scope.
using net_ptr = std::unique_ptr<bp_net, decltype(&bp_net_free)>;
using workspace_ptr = std::unique_ptr<bp_workspace, decltype(&bp_workspace_free)>;

void check(bp_status st, const char *what)
{
    if (st != BP_OK)
        throw std::runtime_error(std::string(what) + ": " + bp_strerror(st) + ": " + bp_last_error());
}

void run()
{
    // Samples are the columns: x is 2 x 4, y is 2 x 4 one-hot (class 0, class 1).
    const std::vector<float> x = {0, 0, 0, 1, 1, 0, 1, 1};
    const std::vector<float> y = {1, 0, 0, 1, 0, 1, 1, 0};
    const int expected[] = {0, 1, 1, 0};
    const int sizes[] = {2, 8, 2};
    const bp_activation acts[] = {BP_TANH, BP_SOFTMAX};

    bp_net *raw_net = nullptr;
    check(bp_net_create(&raw_net, 3, sizes, acts, BP_NLL), "bp_net_create");
    net_ptr net(raw_net, bp_net_free);
    check(bp_net_init(net.get(), BP_INIT_XAVIER, 1), "bp_net_init");
    bp_workspace *raw_ws = nullptr;
    check(bp_workspace_create(&raw_ws, net.get(), 4), "bp_workspace_create");
    workspace_ptr ws(raw_ws, bp_workspace_free);
    bp_net_info info;
    check(bp_net_describe(net.get(), &info), "bp_net_describe");
    std::vector<float> grad(info.num_params);

    for (int epoch = 0; epoch < 1000; epoch++) {
        check(bp_grad_zero(net.get(), grad.data()), "bp_grad_zero");
        check(bp_forward_batch(net.get(), ws.get(), 4, x.data(), 2), "bp_forward_batch");
        check(bp_backward_batch(net.get(), ws.get(), 4, x.data(), 2, y.data(), 2, grad.data()),
              "bp_backward_batch");
        check(bp_sgd_step(net.get(), grad.data(), 1.0f, 4), "bp_sgd_step");
    }
    check(bp_forward_batch(net.get(), ws.get(), 4, x.data(), 2), "bp_forward_batch");
    double cost = 0;
    check(bp_cost_value(net.get(), ws.get(), y.data(), 2, &cost), "bp_cost_value");
    int classes[4];
    check(bp_workspace_classes(ws.get(), classes), "bp_workspace_classes");
    std::printf("c++: negative log-likelihood %.4f, classes %d %d %d %d\n", cost, classes[0],
                classes[1], classes[2], classes[3]);
    for (int j = 0; j < 4; j++)
        if (classes[j] != expected[j])
            throw std::runtime_error("XOR not learned");
}

} // namespace

int main()
{
    try {
        run();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "c++: %s\n", e.what());
        return 1;
    }
    return 0;
}
