/* The ABI promises of backprop.h, pinned at compile time: status and enum values are part of the
 * ABI (and of model files), so renumbering one must break this build rather than silently break
 * programs and Fortran modules compiled against the previous header (include/backprop.f90 repeats
 * the values; tests/install/fortran_module.cmake compares the two files). That the version macros
 * are project()'s version is checked when CMake configures (cmake/BackpropInstall.cmake). */
#include "bp_test.h"

_Static_assert(BP_OK == 0 && BP_ENULL == 1 && BP_EDIM == 2 && BP_EOVERFLOW == 3 && BP_ELD == 4 &&
                   BP_EBATCH == 5 && BP_EVALUE == 6 && BP_ECONFIG == 7 && BP_ENOMEM == 8 &&
                   BP_EIO == 9 && BP_EFORMAT == 10 && BP_ENUMERIC == 11 && BP_ESTOPPED == 12 &&
                   BP_EMISMATCH == 13,
               "bp_status values are pinned: add new codes at the end, never renumber");
_Static_assert(BP_SIGMOID == 0 && BP_TANH == 1 && BP_RELU == 2 && BP_LEAKY_RELU == 3 &&
                   BP_IDENTITY == 4 && BP_SOFTMAX == 5 && BP_SOFTPLUS == 6 && BP_SILU == 7 &&
                   BP_GELU == 8,
               "bp_activation values are pinned (model files store them)");
_Static_assert(BP_QUADRATIC == 0 && BP_CROSS_ENTROPY == 1 && BP_NLL == 2,
               "bp_cost values are pinned (model files store them)");
_Static_assert(BP_INIT_LARGE == 0 && BP_INIT_SCALED == 1 && BP_INIT_XAVIER == 2 && BP_INIT_HE == 3,
               "bp_init values are pinned");
_Static_assert(BP_OPT_SGD == 0 && BP_OPT_MOMENTUM == 1 && BP_OPT_NESTEROV == 2 && BP_OPT_ADAM == 3,
               "bp_optimizer_kind values are pinned");
_Static_assert(BP_LR_CONSTANT == 0 && BP_LR_STEP == 1 && BP_LR_COSINE == 2,
               "bp_schedule_kind values are pinned");
_Static_assert(BP_PATH_AUTO == 0 && BP_PATH_GEMM == 1 && BP_PATH_LOOPS == 2,
               "bp_path values are pinned");
_Static_assert(BP_CSV_CLASSES == 0 && BP_CSV_TARGETS == 1 && BP_CSV_FEATURES == 2,
               "bp_csv_kind values are pinned");
_Static_assert(BP_SCALE_INPUTS == 0 && BP_SCALE_TARGETS == 1, "bp_scaling_side values are pinned");
/* The Fortran module passes every enum as integer(c_int). */
_Static_assert(sizeof(bp_status) == sizeof(int) && sizeof(bp_activation) == sizeof(int) &&
                   sizeof(bp_cost) == sizeof(int) && sizeof(bp_init) == sizeof(int) &&
                   sizeof(bp_optimizer_kind) == sizeof(int) && sizeof(bp_path) == sizeof(int),
               "enums of the API are int-sized");

/* What an embedder checks at startup: the library it runs with has the ABI major it was compiled
 * against, and is at least as new (minor releases only add). */
static void linked_library_serves_this_header(void **state)
{
    (void)state;
    int linked = bp_version_number();
    assert_int_equal(linked / 10000, BP_VERSION_MAJOR);
    assert_true(linked >= BP_VERSION_NUMBER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(linked_library_serves_this_header)};
    return cmocka_run_group_tests_name("abi", tests, NULL, NULL);
}
