# Finds OpenBLAS and wraps it as the imported target backprop::openblas.
# First through openblas.pc (Debian ships it, and it points at the OpenBLAS cblas.h rather than the
# alternatives symlink that may name netlib's), then through FindBLAS with BLA_VENDOR=OpenBLAS.
# Included by cmake/BackpropBLAS.cmake, for the build (which also needs cblas.h) and for the
# installed backpropConfig.cmake (BP_OPENBLAS_FOR_PACKAGE: a consumer only links OpenBLAS, and a
# missing one makes find_package(backprop) report "not found" instead of stopping its configure).
if(TARGET backprop::openblas) # a second find_package(backprop) in the same directory
  return()
endif()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(BP_OPENBLAS QUIET IMPORTED_TARGET openblas)
endif()

if(BP_OPENBLAS_FOUND)
  add_library(backprop::openblas INTERFACE IMPORTED)
  target_link_libraries(backprop::openblas INTERFACE PkgConfig::BP_OPENBLAS)
  if(NOT BP_OPENBLAS_FOR_PACKAGE)
    message(STATUS "backprop: OpenBLAS ${BP_OPENBLAS_VERSION} through pkg-config")
  endif()
  return()
endif()

if(BP_OPENBLAS_FOR_PACKAGE)
  # In a function, so that BLA_VENDOR stays out of the consumer's scope; find_dependency forwards
  # the consumer's REQUIRED and QUIET, and its "not found" is reported for backprop below.
  function(bp_find_blas_dependency)
    set(BLA_VENDOR OpenBLAS)
    find_dependency(BLAS)
  endfunction()
  bp_find_blas_dependency()
  if(NOT TARGET BLAS::BLAS)
    set(backprop_NOT_FOUND_MESSAGE "backprop needs OpenBLAS, found neither by pkg-config nor by FindBLAS")
    set(backprop_FOUND FALSE)
    return()
  endif()
  add_library(backprop::openblas INTERFACE IMPORTED)
  target_link_libraries(backprop::openblas INTERFACE BLAS::BLAS)
  return()
endif()
set(bp_saved_bla_vendor "${BLA_VENDOR}") # the including project's, when vendored
set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)
set(BLA_VENDOR "${bp_saved_bla_vendor}")
find_path(BP_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas openblas-pthread)
if(NOT BP_CBLAS_INCLUDE_DIR)
  message(FATAL_ERROR "backprop: OpenBLAS found but not its cblas.h (Debian: libopenblas-dev)")
endif()
add_library(backprop::openblas INTERFACE IMPORTED)
target_link_libraries(backprop::openblas INTERFACE BLAS::BLAS)
target_include_directories(backprop::openblas INTERFACE "${BP_CBLAS_INCLUDE_DIR}")
message(STATUS "backprop: OpenBLAS through FindBLAS (${BLAS_LIBRARIES})")
