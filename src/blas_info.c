/* What the library knows of its BLAS beyond the CBLAS calls: which library it is, the kernels it
 * runs, their vector width against the CPU's, and its thread count. The only file that calls a
 * BLAS's own functions; CMake compiles it for one of BP_BLAS_OPENBLAS, BP_BLAS_BLIS or
 * BP_BLAS_GENERIC (BACKPROP_BLAS), and a generic CBLAS gets the fallback: no kernels, one thread,
 * no thread control. */
#include "backprop.h"
#include "blas_info.h"
#include "internal.h"

#include <stddef.h>
#include <strings.h>

#if defined(BP_BLAS_OPENBLAS)
#include <cblas.h> /* OpenBLAS's: openblas_get_corename, openblas_{get,set}_num_threads */
#elif defined(BP_BLAS_BLIS)
#include <blis.h>
#elif !defined(BP_BLAS_GENERIC)
#error "define one of BP_BLAS_OPENBLAS, BP_BLAS_BLIS, BP_BLAS_GENERIC (CMake: BACKPROP_BLAS)"
#endif

/* Vector width of the kernel sets of OpenBLAS 0.3.21 (its DYNAMIC_ARCH cores on x86-64) and of
 * BLIS 0.9 (its x86-64 configurations), by name, case aside. The kernels of a name not listed
 * (another architecture, a newer core) have an unknown width. */
static const struct {
    const char *name;
    int bits;
} KERNEL_BITS[] = {
    {"SkylakeX", 512},   {"Cooperlake", 512},  {"SapphireRapids", 512}, {"skx", 512},
    {"knl", 512},        {"Haswell", 256},     {"Zen", 256},            {"zen2", 256},
    {"zen3", 256},       {"Sandybridge", 256}, {"Bulldozer", 256},      {"Piledriver", 256},
    {"Steamroller", 256}, {"Excavator", 256},  {"Prescott", 128},       {"Core2", 128},
    {"Penryn", 128},     {"Dunnington", 128},  {"Nehalem", 128},        {"Atom", 128},
    {"Barcelona", 128},  {"Opteron", 128},     {"Opteron_SSE3", 128},   {"Bobcat", 128},
    {"Nano", 128},
};

static int kernel_bits(const char *kernels)
{
    for (size_t i = 0; i < sizeof KERNEL_BITS / sizeof KERNEL_BITS[0]; i++)
        if (strcasecmp(kernels, KERNEL_BITS[i].name) == 0)
            return KERNEL_BITS[i].bits;
    return 0;
}

/* The widest vectors of this CPU, and the OpenBLAS core that uses them (NULL if none above SSE3).
 * __builtin_cpu_supports also checks that the OS saves the registers (XCR0), and valgrind's
 * emulated CPU reports no AVX-512. libgcc's constructor has initialised what it reads. */
static int cpu_bits(const char **core)
{
    *core = NULL;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
        *core = "SkylakeX";
        return 512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        *core = "Haswell";
    else if (__builtin_cpu_supports("avx"))
        *core = "Sandybridge";
    return *core ? 256 : 128;
#else
    return 0;
#endif
}

/* The library's name, its kernels, the variable its thread count comes from, its threads now. */
static void describe_library(bp_blas_info *info)
{
#if defined(BP_BLAS_OPENBLAS)
    info->library = "OpenBLAS";
    info->kernels = openblas_get_corename(); /* a static name, chosen when OpenBLAS loaded */
    info->threads_env = "OPENBLAS_NUM_THREADS";
    info->threads = openblas_get_num_threads();
#elif defined(BP_BLAS_BLIS)
    info->library = "BLIS";
    info->kernels = bli_arch_string(bli_arch_query_id());
    info->threads_env = "BLIS_NUM_THREADS";
    info->threads = bp__blas_threads();
#else
    info->library = "CBLAS";
    info->kernels = "";
    info->threads_env = "";
    info->threads = 1;
#endif
    if (!info->kernels)
        info->kernels = "";
}

bp_status bp_blas_describe(bp_blas_info *info)
{
    bp__clear_error();
    if (!info)
        return bp__fail(BP_ENULL, "info is NULL");
    describe_library(info);
    const char *core;
    info->cpu_bits = cpu_bits(&core);
    info->kernel_bits = kernel_bits(info->kernels);
    info->narrow = info->kernel_bits && info->cpu_bits && info->kernel_bits < info->cpu_bits;
#if defined(BP_BLAS_OPENBLAS)
    info->cpu_kernels = core ? core : "";
#else
    (void)core;
    info->cpu_kernels = "";
#endif
    return BP_OK;
}

int bp__blas_threads(void)
{
#if defined(BP_BLAS_OPENBLAS)
    return openblas_get_num_threads();
#elif defined(BP_BLAS_BLIS)
    /* -1 when no total count was set (none at all, or per-loop ways such as BLIS_JC_NT): BLIS
     * then runs one thread, or as many as those ways multiply to. */
    dim_t n = bli_thread_get_num_threads();
    return n < 1 ? 1 : (int)n;
#else
    return 1;
#endif
}

/* The BLAS's thread count for every later call; 0 when it offers no control (a generic CBLAS). */
static int set_threads(int threads)
{
#if defined(BP_BLAS_OPENBLAS)
    openblas_set_num_threads(threads);
    return 1;
#elif defined(BP_BLAS_BLIS)
    bli_thread_set_num_threads(threads);
    return 1;
#else
    (void)threads;
    return 0;
#endif
}

bp_status bp_blas_set_threads(int threads)
{
    bp__clear_error();
    if (threads < 1)
        return bp__fail(BP_EDIM, "threads is %d, must be at least 1", threads);
    if (!set_threads(threads))
        return bp__fail(BP_ECONFIG, "a generic CBLAS has no thread control: set the environment "
                                    "variable of the library it is");
    return BP_OK;
}

int bp__blas_threads_single(void)
{
    int threads = bp__blas_threads();
    if (threads > 1)
        set_threads(1);
    return threads;
}

void bp__blas_threads_restore(int threads)
{
    if (threads > 1)
        set_threads(threads);
}
