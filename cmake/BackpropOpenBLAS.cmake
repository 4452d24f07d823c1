# Finds OpenBLAS and its cblas.h and wraps them as the imported target backprop::openblas.
# First through openblas.pc (Debian ships it, and it points at the OpenBLAS cblas.h rather than the
# alternatives symlink that may name netlib's), then through FindBLAS with BLA_VENDOR=OpenBLAS.
include_guard(GLOBAL)

if(TARGET backprop::openblas)
  return()
endif()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(BP_OPENBLAS QUIET IMPORTED_TARGET openblas)
endif()

add_library(backprop::openblas INTERFACE IMPORTED)
if(BP_OPENBLAS_FOUND)
  target_link_libraries(backprop::openblas INTERFACE PkgConfig::BP_OPENBLAS)
  message(STATUS "backprop: OpenBLAS ${BP_OPENBLAS_VERSION} through pkg-config")
else()
  set(BLA_VENDOR OpenBLAS)
  find_package(BLAS REQUIRED)
  find_path(BP_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas openblas-pthread)
  if(NOT BP_CBLAS_INCLUDE_DIR)
    message(FATAL_ERROR "backprop: OpenBLAS found but not its cblas.h (Debian: libopenblas-dev)")
  endif()
  target_link_libraries(backprop::openblas INTERFACE BLAS::BLAS)
  target_include_directories(backprop::openblas INTERFACE "${BP_CBLAS_INCLUDE_DIR}")
  message(STATUS "backprop: OpenBLAS through FindBLAS (${BLAS_LIBRARIES})")
endif()
