# The cuBLAS backend (BACKPROP_CUDA, docs/cuda.md): src/cublas.c, src/cuda_train.c and
# src/cuda_kernels.cu compiled into the library, which then links the CUDA runtime and cuBLAS
# (CMake's CUDAToolkit) and exports the functions of include/backprop_cuda.h. Included only when the
# option is on: without it the library has neither these sources nor these dependencies.
#
# The device code is compiled for Hopper (sm_90, the SASS) and as compute_75 PTX, which the driver
# compiles for any other GPU from Turing on (CUDA 13's oldest); set CMAKE_CUDA_ARCHITECTURES to
# choose others (e.g. "native" on a machine with a GPU).
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 90-real 75-virtual)
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
target_sources(backprop PRIVATE src/cublas.c src/cuda_train.c src/cuda_kernels.cu)
target_link_libraries(backprop PRIVATE CUDA::cudart CUDA::cublas)
# BP_HAVE_CUDA tells the library's users (the program, the tests, the benchmarks) that
# backprop_cuda.h's functions exist.
target_compile_definitions(backprop PUBLIC BP_HAVE_CUDA)
# (The library existed before the CUDA language did: its architectures are set here.) It is linked
# as C: the device code needs no device link step (no separable compilation).
set_target_properties(backprop PROPERTIES CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}"
                      CUDA_VISIBILITY_PRESET hidden CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON
                      CUDA_EXTENSIONS OFF LINKER_LANGUAGE C)
# The warnings of backprop_flags, in nvcc's words for the device code and its host compiler.
target_compile_options(backprop PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra,-Wshadow>
  $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${BACKPROP_WERROR}>>:-Werror=all-warnings -Xcompiler=-Werror>)
# What the installed package says of these dependencies (both empty without BACKPROP_CUDA, so
# that the package files are then those of a CPU-only build): the CMake package finds CUDAToolkit
# (its targets are in the static library's link interface), the .pc file links the two libraries.
set(BP_CONFIG_CUDA "# The cuBLAS backend (BACKPROP_CUDA) links the CUDA runtime and cuBLAS.\nfind_dependency(CUDAToolkit)\n")
get_filename_component(bp_cuda_libdir "${CUDA_cublas_LIBRARY}" DIRECTORY)
set(BP_PC_LIBS_CUDA " -L${bp_cuda_libdir} -lcublas -lcudart")
message(STATUS "backprop: the cuBLAS backend, CUDA ${CUDAToolkit_VERSION} (${CUDAToolkit_NVCC_EXECUTABLE}), "
               "architectures ${CMAKE_CUDA_ARCHITECTURES}")
