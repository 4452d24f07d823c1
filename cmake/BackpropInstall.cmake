# Both library kinds, the install rules, the CMake package and the pkg-config file.
# Included at the end of the top-level CMakeLists.txt, once every target_* call on backprop is made
# (the second library copies the first one's link libraries at this point).
#
# One build makes one kind of library (BUILD_SHARED_LIBS, default static); the other kind is linked
# from the same object files, so `cmake --install` always puts libbackprop.so.MAJOR and libbackprop.a
# and both are the same code, compiled once. Installed targets:
#   backprop::backprop_shared, backprop::backprop_static, and backprop::backprop, an alias of the
#   kind BUILD_SHARED_LIBS chose (so that the default follows the builder's choice, as in-tree);
#   backprop::fortran, the interface module include/backprop.f90 as a source of the consumer;
#   with the MPI component, backprop::mpi_shared, backprop::mpi_static and backprop::mpi likewise
#   (find_package(backprop COMPONENTS mpi)).
#
# ABI versioning. The SONAME carries the ABI major (libbackprop.so.${PROJECT_VERSION_MAJOR}) and the
# package version file is SameMajorVersion: a release that breaks the ABI (a struct of the header,
# an enum value, a signature, a removed function) increments MAJOR, also before 1.0, so 0.x is one
# ABI: 0.2 runs programs built against 0.1 (minor releases only add functions and enum values).
# The unreleased 0.1 development line is not bound by this until its first release.

# The version of the header is the version of the project: a mismatch would install a package
# whose version file disagrees with BP_VERSION_NUMBER.
file(STRINGS ${PROJECT_SOURCE_DIR}/include/backprop.h bp_version_lines
     REGEX "^#define BP_VERSION_(MAJOR|MINOR|PATCH) [0-9]+")
string(REGEX REPLACE "#define BP_VERSION_[A-Z]+ ([0-9]+)[^;]*" "\\1" bp_header_version "${bp_version_lines}")
string(REPLACE ";" "." bp_header_version "${bp_header_version}")
if(NOT bp_header_version STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR "include/backprop.h says ${bp_header_version}, project() says ${PROJECT_VERSION}")
endif()

if(BUILD_SHARED_LIBS)
  set(bp_main_kind shared)
  set(bp_twin_kind static)
else()
  set(bp_main_kind static)
  set(bp_twin_kind shared)
endif()
string(TOUPPER ${bp_twin_kind} bp_twin_type)
set(bp_twin backprop_${bp_twin_kind})

# PIC so that the objects of a static build can also make the shared library.
set_target_properties(backprop PROPERTIES POSITION_INDEPENDENT_CODE ON EXPORT_NAME backprop_${bp_main_kind})
add_library(${bp_twin} ${bp_twin_type} $<TARGET_OBJECTS:backprop>)
add_library(backprop::backprop_${bp_main_kind} ALIAS backprop)
add_library(backprop::${bp_twin} ALIAS ${bp_twin})
# On Windows a static backprop.lib would collide with the DLL's import library.
if(WIN32)
  set(bp_twin_suffix _${bp_twin_kind})
else()
  set(bp_twin_suffix "")
endif()
set_target_properties(${bp_twin} PROPERTIES OUTPUT_NAME backprop${bp_twin_suffix}
                      EXPORT_NAME ${bp_twin}
                      VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
get_target_property(bp_link_libraries backprop LINK_LIBRARIES)
get_target_property(bp_interface_link_libraries backprop INTERFACE_LINK_LIBRARIES)
get_target_property(bp_interface_includes backprop INTERFACE_INCLUDE_DIRECTORIES)
target_link_libraries(${bp_twin} PRIVATE ${bp_link_libraries})
set_target_properties(${bp_twin} PROPERTIES INTERFACE_LINK_LIBRARIES "${bp_interface_link_libraries}"
                      INTERFACE_INCLUDE_DIRECTORIES "${bp_interface_includes}")
if(bp_twin_kind STREQUAL "static")
  target_compile_definitions(${bp_twin} INTERFACE BP_STATIC_DEFINE)
endif()

# The Fortran interface module, compiled into the consumer (a .mod file is compiler-specific, so the
# project ships the source): target_link_libraries(app PRIVATE backprop::fortran).
add_library(backprop_fortran INTERFACE)
add_library(backprop::fortran ALIAS backprop_fortran)
set_target_properties(backprop_fortran PROPERTIES EXPORT_NAME fortran)
target_sources(backprop_fortran INTERFACE
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include/backprop.f90>
  $<INSTALL_INTERFACE:$<INSTALL_PREFIX>/${CMAKE_INSTALL_INCLUDEDIR}/backprop.f90>)
target_link_libraries(backprop_fortran INTERFACE backprop)

include(CMakePackageConfigHelpers)
install(TARGETS backprop ${bp_twin} backprop_fortran EXPORT backpropTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES include/backprop.h include/backprop.f90 DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(BACKPROP_CUDA) # the cuBLAS backend's header; its users find CUDAToolkit (backpropConfig.cmake)
  install(FILES include/backprop_cuda.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endif()
set(BP_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/backprop)
install(EXPORT backpropTargets NAMESPACE backprop:: DESTINATION ${BP_CMAKE_DIR})
set(BP_DEFAULT_KIND ${bp_main_kind})
configure_package_config_file(cmake/backpropConfig.cmake.in
  ${PROJECT_BINARY_DIR}/backpropConfig.cmake INSTALL_DESTINATION ${BP_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/backpropConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/backpropConfig.cmake ${PROJECT_BINARY_DIR}/backpropConfigVersion.cmake
        cmake/BackpropBLAS.cmake cmake/BackpropOpenBLAS.cmake DESTINATION ${BP_CMAKE_DIR})

# The .pc file finds the prefix from its own place (lib/pkgconfig, or lib/<multiarch>/pkgconfig
# under Debian's layout), so the install can be relocated (cmake --install --prefix).
file(RELATIVE_PATH BP_PC_TO_PREFIX "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
configure_file(cmake/backprop.pc.in ${PROJECT_BINARY_DIR}/backprop.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/backprop.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The MPI component, when built (src/mpi): libbackprop_mpi of both kinds as well, each on the core
# of its kind, and backprop_mpi.h, in an export set of their own that backpropConfig.cmake loads
# only for find_package(backprop COMPONENTS mpi), so that no other consumer needs MPI. Installed
# targets: backprop::mpi_shared, backprop::mpi_static and backprop::mpi (the builder's kind).
if(TARGET backprop_mpi)
  set(bp_mpi_twin backprop_mpi_${bp_twin_kind})
  bp_mpi_library(${bp_mpi_twin} ${bp_twin_type} backprop::${bp_twin})
  add_library(backprop::mpi_${bp_main_kind} ALIAS backprop_mpi)
  add_library(backprop::mpi_${bp_twin_kind} ALIAS ${bp_mpi_twin})
  set_target_properties(backprop_mpi PROPERTIES EXPORT_NAME mpi_${bp_main_kind})
  set_target_properties(${bp_mpi_twin} PROPERTIES OUTPUT_NAME backprop_mpi${bp_twin_suffix}
                        EXPORT_NAME mpi_${bp_twin_kind})
  install(TARGETS backprop_mpi ${bp_mpi_twin} EXPORT backpropMpiTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(FILES include/backprop_mpi.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(EXPORT backpropMpiTargets NAMESPACE backprop:: DESTINATION ${BP_CMAKE_DIR})
  # backprop_mpi.pc names MPI by the flags CMake found it with rather than by a Requires: every MPI
  # names its .pc file differently (ompi-c, mpich, Debian's mpi-c), and some ship none.
  list(TRANSFORM MPI_C_COMPILE_DEFINITIONS PREPEND -D OUTPUT_VARIABLE bp_mpi_definitions)
  list(TRANSFORM MPI_C_INCLUDE_DIRS PREPEND -I OUTPUT_VARIABLE bp_mpi_includes)
  set(bp_mpi_cflags ${MPI_C_COMPILE_OPTIONS} ${bp_mpi_definitions} ${bp_mpi_includes})
  set(bp_mpi_libs ${MPI_C_LINK_FLAGS} ${MPI_C_LIBRARIES})
  list(JOIN bp_mpi_cflags " " BP_MPI_CFLAGS)
  list(JOIN bp_mpi_libs " " BP_MPI_LIBS)
  configure_file(cmake/backprop_mpi.pc.in ${PROJECT_BINARY_DIR}/backprop_mpi.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/backprop_mpi.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
