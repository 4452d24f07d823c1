/*
 * test_blas_info.c - bp_blas_describe and bp_blas_set_threads: the library names the BLAS this
 * test was built with (BP_TEST_BLAS, CMake's BACKPROP_BLAS), its kernels' vector width agrees with
 * the CPU's flags as the kernel reports them (/proc/cpuinfo, a source independent of the library's
 * __builtin_cpu_supports), and narrow says exactly when the kernels are the narrower. ctest runs
 * the suite twice on OpenBLAS: as the BLAS loads, and with OPENBLAS_CORETYPE=Prescott (its SSE3
 * fallback), which on a CPU with AVX must be reported narrow; a child started with the CPU's own
 * core (cpu_kernels) must not be.
 */
#include "bp_test.h"

#include <sys/wait.h>
#include <unistd.h>

#ifndef BP_TEST_BLAS
#error "BP_TEST_BLAS: the BLAS the library was built with (tests/CMakeLists.txt)"
#endif

static char *self_path; /* argv[0], for the child of wide_kernels_are_not_narrow */

/* Whether the CPU flags of /proc/cpuinfo hold every flag of the space-separated list. -1 when the
 * file cannot be read (not Linux). */
static int cpu_has(const char *flags)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return -1;
    char line[8192];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strncmp(line, "flags", 5) == 0;
    fclose(f);
    if (!found)
        return -1;
    char want[256];
    snprintf(want, sizeof want, "%s", flags);
    for (char *w = strtok(want, " "); w; w = strtok(NULL, " ")) {
        size_t n = strlen(w);
        const char *p = line;
        while ((p = strstr(p, w)) && ((p > line && p[-1] != ' ' && p[-1] != '\t' && p[-1] != ':') ||
                                      (p[n] != ' ' && p[n] != '\n' && p[n] != '\0')))
            p += n;
        if (!p)
            return 0;
    }
    return 1;
}

static int is_openblas(void) { return strcmp(BP_TEST_BLAS, "OpenBLAS") == 0; }

/* The OpenBLAS core that runs a CPU's widest vectors of cpu_bits, "" below AVX. */
static const char *openblas_core_of(int cpu_bits)
{
    if (cpu_bits == 512)
        return "SkylakeX";
    if (cpu_bits == 256)
        return cpu_has("avx2 fma") == 1 ? "Haswell" : "Sandybridge";
    return "";
}

static void names_the_blas_of_the_build(void **state)
{
    (void)state;
    bp_blas_info info;
    memset(&info, 0xa5, sizeof info); /* every field is written */
    bpt_ok(bp_blas_describe(&info));
    assert_string_equal(info.library, BP_TEST_BLAS);
    assert_non_null(info.kernels);
    assert_non_null(info.cpu_kernels);
    assert_non_null(info.threads_env);
    if (strcmp(BP_TEST_BLAS, "CBLAS") == 0) {
        assert_string_equal(info.kernels, "");
        assert_string_equal(info.threads_env, "");
    } else {
        assert_true(strlen(info.kernels) > 0);
        assert_string_equal(info.threads_env, is_openblas() ? "OPENBLAS_NUM_THREADS"
                                                            : "BLIS_NUM_THREADS");
    }
    if (!is_openblas())
        assert_string_equal(info.cpu_kernels, "");
}

/* cpu_bits against /proc/cpuinfo. Not equality with AVX-512 listed: valgrind's CPU hides it. */
static void cpu_width_agrees_with_the_cpu_flags(void **state)
{
    (void)state;
    bp_blas_info info;
    bpt_ok(bp_blas_describe(&info));
#if defined(__x86_64__)
    int avx = cpu_has("avx"), avx512 = cpu_has("avx512f avx512bw avx512vl avx512dq");
    if (avx < 0)
        skip();
    if (!avx)
        assert_int_equal(info.cpu_bits, 128);
    else if (!avx512)
        assert_int_equal(info.cpu_bits, 256);
    else
        assert_true(info.cpu_bits == 512 || info.cpu_bits == 256);
    if (is_openblas())
        assert_string_equal(info.cpu_kernels, openblas_core_of(info.cpu_bits));
#else
    assert_true(info.cpu_bits == 0 || info.cpu_bits >= 128);
#endif
}

static void narrow_is_kernels_narrower_than_the_cpu(void **state)
{
    (void)state;
    bp_blas_info info;
    bpt_ok(bp_blas_describe(&info));
    assert_true(info.kernel_bits == 0 || info.kernel_bits == 128 || info.kernel_bits == 256 ||
                info.kernel_bits == 512);
    assert_int_equal(info.narrow, info.kernel_bits > 0 && info.cpu_bits > 0 &&
                                      info.kernel_bits < info.cpu_bits);
    const char *forced = getenv("OPENBLAS_CORETYPE");
    if (!is_openblas() || !forced || strcmp(forced, "Prescott") != 0)
        return;
    /* OpenBLAS's SSE3 fallback: 128 bits, narrow on any CPU with AVX. */
    assert_string_equal(info.kernels, "Prescott");
    assert_int_equal(info.kernel_bits, 128);
    if (cpu_has("avx") == 1)
        assert_int_equal(info.narrow, 1);
}

/* A child on the CPU's own kernels (OPENBLAS_CORETYPE=cpu_kernels) reports them, as wide as the
 * CPU, not narrow. The child may see another CPU than this process: valgrind's emulated CPU hides
 * AVX-512 and does not follow the exec, so on an AVX-512 host the child runs natively on a wider
 * CPU than the one this process described; it is then narrow exactly as its own widths say. */
static void wide_kernels_are_not_narrow(void **state)
{
    (void)state;
    bp_blas_info info;
    bpt_ok(bp_blas_describe(&info));
    if (!is_openblas() || !*info.cpu_kernels)
        skip();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("OPENBLAS_CORETYPE", info.cpu_kernels, 1);
        char bits[16];
        snprintf(bits, sizeof bits, "%d", info.cpu_bits);
        execl(self_path, self_path, "--child-expect-wide", info.cpu_kernels, bits, (char *)NULL);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static int child_expect_wide(const char *core, int parent_cpu_bits)
{
    bp_blas_info info;
    if (bp_blas_describe(&info) != BP_OK) {
        fprintf(stderr, "child: %s\n", bp_last_error());
        return 1;
    }
    int same_cpu = info.cpu_bits == parent_cpu_bits;
    if (strcmp(info.kernels, core) != 0 || info.kernel_bits != parent_cpu_bits ||
        info.narrow != (same_cpu ? 0 : info.kernel_bits < info.cpu_bits)) {
        fprintf(stderr, "child: kernels %s (%d bits, CPU %d), narrow %d; expected %s (%d bits)%s\n",
                info.kernels, info.kernel_bits, info.cpu_bits, info.narrow, core, parent_cpu_bits,
                same_cpu ? ", not narrow" : "");
        return 1;
    }
    return 0;
}

/* The thread count set is the one described; a generic CBLAS refuses to set one. */
static void threads_set_and_described(void **state)
{
    (void)state;
    bp_blas_info info;
    bpt_ok(bp_blas_describe(&info));
    assert_int_equal(info.threads, 1); /* ctest's OPENBLAS_NUM_THREADS=1, BLIS_NUM_THREADS=1 */
    if (strcmp(BP_TEST_BLAS, "CBLAS") == 0) {
        bpt_assert_status(bp_blas_set_threads(2), BP_ECONFIG, "thread");
        return;
    }
    bpt_ok(bp_blas_set_threads(2));
    bpt_ok(bp_blas_describe(&info));
    assert_int_equal(info.threads, 2);
    bpt_ok(bp_blas_set_threads(1));
    bpt_ok(bp_blas_describe(&info));
    assert_int_equal(info.threads, 1);
}

static void bad_arguments(void **state)
{
    (void)state;
    bpt_assert_status(bp_blas_describe(NULL), BP_ENULL, "info");
    bpt_assert_status(bp_blas_set_threads(0), BP_EDIM, "threads");
    bpt_assert_status(bp_blas_set_threads(-3), BP_EDIM, "threads");
    bp_blas_info info;
    bpt_ok(bp_blas_describe(&info));
    assert_int_equal(info.threads, 1); /* a refused count changed nothing */
}

/* A success clears the detail of an earlier failure on this thread, as every bp_status function
 * promises (bp_last_error). */
static void success_clears_the_last_error(void **state)
{
    (void)state;
    bp_blas_info info;
    bpt_assert_status(bp_blas_set_threads(0), BP_EDIM, "threads");
    bpt_ok(bp_blas_describe(&info));
    assert_string_equal(bp_last_error(), "");
    if (strcmp(BP_TEST_BLAS, "CBLAS") == 0)
        return;
    bpt_assert_status(bp_blas_describe(NULL), BP_ENULL, "info");
    bpt_ok(bp_blas_set_threads(1));
    assert_string_equal(bp_last_error(), "");
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child-expect-wide") == 0)
        return child_expect_wide(argv[2], atoi(argv[3]));
    self_path = argv[0];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_the_blas_of_the_build),
        cmocka_unit_test(cpu_width_agrees_with_the_cpu_flags),
        cmocka_unit_test(narrow_is_kernels_narrower_than_the_cpu),
        cmocka_unit_test(wide_kernels_are_not_narrow),
        cmocka_unit_test(threads_set_and_described),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(success_clears_the_last_error),
    };
    return cmocka_run_group_tests_name("blas_info", tests, NULL, NULL);
}
