# The BLAS under the library, as the imported target backprop::blas. BACKPROP_BLAS chooses it:
#   OpenBLAS  (default) cmake/BackpropOpenBLAS.cmake: openblas.pc, else FindBLAS.
#   BLIS      Debian's libblis-dev: blis.h and libblis through the alternatives system; BLIS's
#             cblas.h sits beside its blis.h (include/<multiarch>/blis-openmp/ on Debian), and
#             libblis.so carries the CBLAS functions.
#   Generic   any CBLAS: pkg-config's blas (Debian's blas.pc follows the libblas.so alternative:
#             the reference libblas3, which has held CBLAS since Debian merged libcblas into it, or
#             OpenBLAS, or BLIS), else FindBLAS; cblas.h from the include path (Debian's follows the
#             same alternative). -DBLAS_LIBRARIES=... and -DBP_CBLAS_INCLUDE_DIR=... override.
# Sets BP_BLAS_DEFINE (the compile definition of src/blas_info.c), BP_BLAS_LIBRARY_NAME (what
# bp_blas_describe calls it), BP_PC_REQUIRES_BLAS and BP_PC_LIBS_BLAS (backprop.pc's private
# dependencies). The installed backpropConfig.cmake includes this file with BP_BLAS_FOR_PACKAGE
# set to the BACKPROP_BLAS the library was built with: a consumer only links the BLAS (backprop.h
# includes no BLAS header), and a missing one makes find_package(backprop) report "not found"
# instead of stopping the consumer's configure.
if(TARGET backprop::blas) # a second find_package(backprop) in the same directory
  return()
endif()

if(BP_BLAS_FOR_PACKAGE) # the installed package: the BLAS the library was built on
  set(bp_blas_kind "${BP_BLAS_FOR_PACKAGE}")
else()
  set(BACKPROP_BLAS "OpenBLAS" CACHE STRING "The BLAS to build on: OpenBLAS, BLIS or Generic")
  set_property(CACHE BACKPROP_BLAS PROPERTY STRINGS OpenBLAS BLIS Generic)
  set(bp_blas_kind "${BACKPROP_BLAS}")
endif()
set(BP_PC_REQUIRES_BLAS "")
set(BP_PC_LIBS_BLAS "")

# What is missing: for a consumer, backprop_FOUND false with the reason (return() from this file,
# as a macro does); for the build, a fatal error.
macro(bp_blas_missing why)
  if(BP_BLAS_FOR_PACKAGE)
    set(backprop_NOT_FOUND_MESSAGE "${why}")
    set(backprop_FOUND FALSE)
    return()
  endif()
  message(FATAL_ERROR "backprop: ${why}")
endmacro()

if(bp_blas_kind STREQUAL "OpenBLAS")
  if(BP_BLAS_FOR_PACKAGE)
    set(BP_OPENBLAS_FOR_PACKAGE ON)
  endif()
  include("${CMAKE_CURRENT_LIST_DIR}/BackpropOpenBLAS.cmake")
  unset(BP_OPENBLAS_FOR_PACKAGE)
  if(NOT TARGET backprop::openblas) # package mode: backprop_FOUND is false, and says why
    return()
  endif()
  add_library(backprop::blas INTERFACE IMPORTED)
  target_link_libraries(backprop::blas INTERFACE backprop::openblas)
  set(BP_BLAS_DEFINE BP_BLAS_OPENBLAS)
  set(BP_BLAS_LIBRARY_NAME "OpenBLAS")
  set(BP_PC_REQUIRES_BLAS "openblas ") # the .pc file appends zlib

elseif(bp_blas_kind STREQUAL "BLIS")
  find_library(BP_BLIS_LIBRARY blis)
  if(NOT BP_BLIS_LIBRARY)
    bp_blas_missing("BLIS not found (Debian: libblis-dev; or -DBP_BLIS_LIBRARY=/path/libblis.so)")
  endif()
  add_library(backprop::blas INTERFACE IMPORTED)
  target_link_libraries(backprop::blas INTERFACE "${BP_BLIS_LIBRARY}")
  if(NOT BP_BLAS_FOR_PACKAGE)
    find_path(BP_BLIS_INCLUDE_DIR blis.h PATH_SUFFIXES blis)
    if(BP_BLIS_INCLUDE_DIR) # the directory of the real blis.h, past the alternatives' symlink
      file(REAL_PATH "${BP_BLIS_INCLUDE_DIR}/blis.h" bp_blis_h)
      get_filename_component(bp_blis_dir "${bp_blis_h}" DIRECTORY)
    endif()
    if(NOT BP_BLIS_INCLUDE_DIR OR NOT EXISTS "${bp_blis_dir}/cblas.h")
      bp_blas_missing("BLIS's blis.h and cblas.h not found (Debian: libblis-dev)")
    endif()
    target_include_directories(backprop::blas INTERFACE "${bp_blis_dir}")
    # For a static link of backprop.pc: libblis.a needs the threads of the flavour it was built
    # with (Debian's default, libblis-openmp, needs libgomp).
    file(REAL_PATH "${BP_BLIS_LIBRARY}" bp_blis_real)
    set(bp_blis_threads "-lpthread")
    if(bp_blis_real MATCHES "openmp")
      set(bp_blis_threads "-lgomp -lpthread")
    endif()
    get_filename_component(bp_blis_libdir "${BP_BLIS_LIBRARY}" DIRECTORY)
    set(BP_PC_LIBS_BLAS "-L${bp_blis_libdir} -lblis ${bp_blis_threads}")
    message(STATUS "backprop: BLIS ${BP_BLIS_LIBRARY} (${bp_blis_real}), headers ${bp_blis_dir}")
  endif()
  set(BP_BLAS_DEFINE BP_BLAS_BLIS)
  set(BP_BLAS_LIBRARY_NAME "BLIS")

elseif(bp_blas_kind STREQUAL "Generic")
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND AND NOT BLAS_LIBRARIES)
    pkg_check_modules(BP_GENERIC_BLAS QUIET IMPORTED_TARGET blas)
  endif()
  add_library(backprop::blas INTERFACE IMPORTED)
  if(BP_GENERIC_BLAS_FOUND)
    target_link_libraries(backprop::blas INTERFACE PkgConfig::BP_GENERIC_BLAS)
    set(BP_PC_REQUIRES_BLAS "blas ")
  else()
    # In a function, so that BLA_VENDOR stays out of the including project's scope; a
    # BLAS_LIBRARIES given on the command line is taken as it is.
    function(bp_find_generic_blas)
      if(NOT BLAS_LIBRARIES)
        set(BLA_VENDOR Generic)
        find_package(BLAS QUIET)
      endif()
      set(BP_GENERIC_LIBRARIES "${BLAS_LIBRARIES}" PARENT_SCOPE)
    endfunction()
    bp_find_generic_blas()
    if(NOT BP_GENERIC_LIBRARIES)
      bp_blas_missing("no CBLAS found (Debian: libblas-dev; or -DBLAS_LIBRARIES=/path/libblas.so)")
    endif()
    target_link_libraries(backprop::blas INTERFACE ${BP_GENERIC_LIBRARIES})
    foreach(bp_lib IN LISTS BP_GENERIC_LIBRARIES) # /dir/libNAME.so as -L/dir -lNAME
      string(REGEX REPLACE "^(.*)/lib([^/]+)\\.(so|a)$" "-L\\1 -l\\2" bp_lib "${bp_lib}")
      string(APPEND BP_PC_LIBS_BLAS " ${bp_lib}")
    endforeach()
  endif()
  if(NOT BP_BLAS_FOR_PACKAGE)
    find_path(BP_CBLAS_INCLUDE_DIR cblas.h HINTS ${BP_GENERIC_BLAS_INCLUDE_DIRS})
    if(NOT BP_CBLAS_INCLUDE_DIR)
      bp_blas_missing("no cblas.h found (Debian: libblas-dev; or -DBP_CBLAS_INCLUDE_DIR=...)")
    endif()
    target_include_directories(backprop::blas INTERFACE "${BP_CBLAS_INCLUDE_DIR}")
    message(STATUS "backprop: a generic CBLAS, ${BP_GENERIC_BLAS_LINK_LIBRARIES}"
                   "${BP_GENERIC_LIBRARIES}, cblas.h in ${BP_CBLAS_INCLUDE_DIR}")
  endif()
  set(BP_BLAS_DEFINE BP_BLAS_GENERIC)
  set(BP_BLAS_LIBRARY_NAME "CBLAS")

else()
  bp_blas_missing("BACKPROP_BLAS is '${bp_blas_kind}': OpenBLAS, BLIS or Generic")
endif()
