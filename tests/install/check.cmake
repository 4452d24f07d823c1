# ctest driver of the embedding routes (tests/install/CMakeLists.txt registers one test per MODE):
#   install           install the build into a fresh PREFIX and check what is there
#   find_package      build tests/install/consumer (CONSUMER = c, cxx, fortran, mpi) against PREFIX,
#                     run it
#   components        find_package(backprop COMPONENTS ...) of a component that cannot be had fails
#   pkg_config        compile the examples with pkg-config's flags (shared, then -static), run them;
#                     CONSUMER=mpi: xor_mpi.c with backprop_mpi.pc's (shared)
#   add_subdirectory  a parent project vendors the source tree (tests/install/parent), run its program
# Variables: BUILD_DIR, SOURCE_DIR (the project's), PREFIX, WORK (scratch), C_COMPILER, VERSION,
# WITH_MPI (the MPI component was built), and for CONSUMER=mpi MPIEXEC and MPIEXEC_NUMPROC_FLAG.
# SANITIZE_FLAGS (an instrumented build): compiler and linker flags every consumer is built with.
# Every example checks its own result and exits non-zero on failure; a failure here is FATAL_ERROR.

cmake_minimum_required(VERSION 3.25) # a -P script starts with old policies otherwise
function(run)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY "${WORK}" RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}")
  endif()
  message(STATUS "${out}")
  set(out "${out}" PARENT_SCOPE)
endfunction()

# The shared libraries an executable needs (DT_NEEDED), into var.
function(needed var exe)
  find_program(READELF readelf REQUIRED)
  execute_process(COMMAND ${READELF} -d "${exe}" OUTPUT_VARIABLE dyn RESULT_VARIABLE rc)
  string(REGEX MATCHALL "\\(NEEDED\\)[^[]*\\[[^]]*\\]" entries "${dyn}")
  string(REGEX REPLACE "\\(NEEDED\\)[^[]*\\[([^]]*)\\]" "\\1" libs "${entries}")
  set(${var} "${libs}" PARENT_SCOPE)
endfunction()

# exe needs exactly the shared libraries of backprop in the list expected (readelf).
function(expect_needed exe expected)
  needed(libs "${exe}")
  list(FILTER libs INCLUDE REGEX "^libbackprop[._]")
  list(SORT libs)
  list(SORT expected)
  if(NOT "${libs}" STREQUAL "${expected}")
    message(FATAL_ERROR "${exe} needs '${libs}', expected '${expected}'")
  endif()
endfunction()

# A consumer that needs a compiler this machine lacks is skipped, except in CI, which installs it.
function(skip_without_compiler output)
  if(output MATCHES "No CMAKE_([A-Za-z]+)_COMPILER could be found|(gfortran): not found")
    if(DEFINED ENV{CI})
      message(FATAL_ERROR "CI must provide the ${CMAKE_MATCH_1}${CMAKE_MATCH_2} compiler:\n${output}")
    endif()
    message(STATUS "backprop-skip: no ${CMAKE_MATCH_1}${CMAKE_MATCH_2} compiler here")
    set(skipped ON PARENT_SCOPE)
  endif()
endfunction()

file(GLOB_RECURSE pc "${PREFIX}/*/backprop.pc")
get_filename_component(pc_dir "${pc}" DIRECTORY)
get_filename_component(libdir "${pc_dir}" DIRECTORY)
string(REGEX MATCH "^[0-9]+" major "${VERSION}") # the ABI major, in every SONAME

if(MODE STREQUAL "install")
  file(REMOVE_RECURSE "${PREFIX}")
  set(WORK "${BUILD_DIR}")
  run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${PREFIX}")
  file(GLOB_RECURSE archive "${PREFIX}/*/libbackprop.a")
  get_filename_component(libdir "${archive}" DIRECTORY)
  set(files include/backprop.h include/backprop.f90 ${libdir}/cmake/backprop/backpropConfig.cmake
      ${libdir}/pkgconfig/backprop.pc)
  set(mpi_files include/backprop_mpi.h ${libdir}/cmake/backprop/backpropMpiTargets.cmake
      ${libdir}/pkgconfig/backprop_mpi.pc)
  set(libraries backprop)
  # The MPI component is installed exactly when it was built.
  if(WITH_MPI)
    list(APPEND files ${mpi_files})
    list(APPEND libraries backprop_mpi)
  else()
    foreach(file IN LISTS mpi_files)
      if(EXISTS "${PREFIX}/${file}")
        message(FATAL_ERROR "installed without the MPI component: ${file}")
      endif()
    endforeach()
  endif()
  foreach(file IN LISTS files)
    get_filename_component(file "${file}" ABSOLUTE BASE_DIR "${PREFIX}")
    if(NOT EXISTS "${file}")
      message(FATAL_ERROR "not installed: ${file}")
    endif()
  endforeach()
  # Each library: libNAME.a, and libNAME.so -> libNAME.so.MAJOR -> libNAME.so.VERSION, whose
  # SONAME is the middle one.
  find_program(READELF readelf REQUIRED)
  foreach(lib IN LISTS libraries)
    if(NOT EXISTS "${libdir}/lib${lib}.a")
      message(FATAL_ERROR "not installed: ${libdir}/lib${lib}.a")
    endif()
    foreach(link_target IN ITEMS "lib${lib}.so:lib${lib}.so.${major}"
                                 "lib${lib}.so.${major}:lib${lib}.so.${VERSION}")
      string(REPLACE ":" ";" pair "${link_target}")
      list(GET pair 0 link)
      list(GET pair 1 target)
      file(READ_SYMLINK "${libdir}/${link}" got)
      if(NOT got STREQUAL target)
        message(FATAL_ERROR "${libdir}/${link} should link to ${target}, not '${got}'")
      endif()
    endforeach()
    execute_process(COMMAND ${READELF} -d "${libdir}/lib${lib}.so.${VERSION}" OUTPUT_VARIABLE dyn)
    if(NOT dyn MATCHES "\\(SONAME\\)[^[]*\\[lib${lib}\\.so\\.${major}\\]")
      message(FATAL_ERROR "SONAME of lib${lib}.so.${VERSION} is not lib${lib}.so.${major}:\n${dyn}")
    endif()
  endforeach()
  # SameMajorVersion: any 0.x request up to the installed version is served, 1.0 and newer are not.
  set(CMAKE_SIZEOF_VOID_P 8)
  foreach(case "0.0:TRUE" "${VERSION}:TRUE" "${major}.99:FALSE" "1.0:FALSE")
    string(REPLACE ":" ";" case "${case}")
    list(GET case 0 PACKAGE_FIND_VERSION)
    list(GET case 1 expected)
    string(REGEX MATCH "^[0-9]+" PACKAGE_FIND_VERSION_MAJOR "${PACKAGE_FIND_VERSION}")
    include("${libdir}/cmake/backprop/backpropConfigVersion.cmake")
    if(NOT PACKAGE_VERSION_COMPATIBLE STREQUAL expected)
      message(FATAL_ERROR "find_package(backprop ${PACKAGE_FIND_VERSION}): compatible is "
                          "${PACKAGE_VERSION_COMPATIBLE}, expected ${expected}")
    endif()
  endforeach()
  # pkg-config, relocated with the install, must point at the installed header.
  set(ENV{PKG_CONFIG_PATH} "${libdir}/pkgconfig")
  run(pkg-config --variable=includedir backprop)
  string(STRIP "${out}" includedir)
  if(NOT EXISTS "${includedir}/backprop.h")
    message(FATAL_ERROR "backprop.pc: includedir ${includedir} does not hold backprop.h")
  endif()

elseif(MODE STREQUAL "find_package")
  file(REMOVE_RECURSE "${WORK}")
  file(MAKE_DIRECTORY "${WORK}")
  execute_process(COMMAND ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/install/consumer" -B "${WORK}"
                          "-DCMAKE_PREFIX_PATH=${PREFIX}" "-DCONSUMER=${CONSUMER}"
                          "-DCMAKE_C_FLAGS=${SANITIZE_FLAGS}" "-DCMAKE_CXX_FLAGS=${SANITIZE_FLAGS}"
                          "-DCMAKE_Fortran_FLAGS=${SANITIZE_FLAGS}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    skip_without_compiler("${out}")
    if(skipped)
      return()
    endif()
    message(FATAL_ERROR "configuring the consumer failed:\n${out}")
  endif()
  run(${CMAKE_COMMAND} --build "${WORK}")
  if(CONSUMER STREQUAL "c")
    # Each kind really is what it says: only the shared build needs libbackprop.so.MAJOR.
    foreach(kind shared static)
      run("${WORK}/xor_${kind}")
      if(NOT out MATCHES "mean cross-entropy 0\\.0")
        message(FATAL_ERROR "xor_${kind} did not learn XOR: ${out}")
      endif()
      set(expected "")
      if(kind STREQUAL "shared")
        set(expected "libbackprop.so.${major}")
      endif()
      expect_needed("${WORK}/xor_${kind}" "${expected}")
    endforeach()
    run("${WORK}/threads")
  elseif(CONSUMER STREQUAL "mpi")
    # Each kind on the core of its kind, run as a singleton (no mpirun: MPI_Init makes a world of
    # one) and as 2 ranks, whose gradients bp_mpi_parallel sums.
    foreach(kind shared static)
      set(expected "")
      if(kind STREQUAL "shared")
        set(expected "libbackprop_mpi.so.${major};libbackprop.so.${major}")
      endif()
      expect_needed("${WORK}/xor_mpi_${kind}" "${expected}")
      foreach(ranks 1 2)
        if(ranks EQUAL 1)
          run("${WORK}/xor_mpi_${kind}")
        else()
          run("${MPIEXEC}" ${MPIEXEC_NUMPROC_FLAG} ${ranks} --oversubscribe
              "${WORK}/xor_mpi_${kind}")
        endif()
        if(NOT out MATCHES "xor_mpi: ${ranks} ranks, mean cross-entropy 0\\.0")
          message(FATAL_ERROR "xor_mpi_${kind} on ${ranks} ranks did not learn XOR: ${out}")
        endif()
      endforeach()
    endforeach()
  elseif(CONSUMER STREQUAL "cxx")
    run("${WORK}/xor_cpp")
  else()
    run("${WORK}/xor_f90")
  endif()

elseif(MODE STREQUAL "components")
  # Configuring the consumer must fail, with backpropConfig.cmake's reason, for an unknown
  # component, and for mpi from an install without it: PREFIX itself when the component was not
  # built, otherwise a copy of PREFIX without its export set.
  file(REMOVE_RECURSE "${WORK}")
  file(MAKE_DIRECTORY "${WORK}")
  set(without_mpi "${PREFIX}")
  if(WITH_MPI)
    set(without_mpi "${WORK}/prefix")
    file(COPY "${PREFIX}/" DESTINATION "${without_mpi}")
    file(GLOB_RECURSE mpi_targets "${without_mpi}/backpropMpiTargets*.cmake")
    if(NOT mpi_targets)
      message(FATAL_ERROR "no backpropMpiTargets.cmake under ${PREFIX}")
    endif()
    file(REMOVE ${mpi_targets})
  endif()
  foreach(case "nosuch:${PREFIX}:unknown component 'nosuch'"
               "mpi:${without_mpi}:component mpi not installed")
    string(REPLACE ":" ";" case "${case}")
    list(GET case 0 component)
    list(GET case 1 prefix)
    list(GET case 2 reason)
    execute_process(COMMAND ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/install/consumer"
                            -B "${WORK}/${component}" "-DCMAKE_PREFIX_PATH=${prefix}"
                            -DCONSUMER=c -DCOMPONENTS=${component}
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    string(REGEX REPLACE "[ \n]+" " " out_line "${out}") # CMake wraps the message
    if(rc EQUAL 0 OR NOT out_line MATCHES "backprop_FOUND to FALSE" OR
       NOT out_line MATCHES "${reason}")
      message(FATAL_ERROR "find_package(backprop COMPONENTS ${component}) from ${prefix} should "
                          "fail saying '${reason}' (exit ${rc}):\n${out}")
    endif()
  endforeach()

elseif(MODE STREQUAL "pkg_config")
  file(REMOVE_RECURSE "${WORK}")
  file(MAKE_DIRECTORY "${WORK}")
  set(ENV{PKG_CONFIG_PATH} "${libdir}/pkgconfig")
  set(ENV{LD_LIBRARY_PATH} "${libdir}")
  set(example "${SOURCE_DIR}/examples/train_xor.c")
  set(package backprop)
  if(CONSUMER STREQUAL "mpi")
    set(example "${SOURCE_DIR}/tests/install/consumer/xor_mpi.c")
    set(package backprop_mpi)
  endif()
  separate_arguments(sanitize UNIX_COMMAND "${SANITIZE_FLAGS}")
  # cc app.c $(pkg-config --cflags --libs PACKAGE): the shared library.
  run(pkg-config --cflags --libs ${package})
  separate_arguments(flags UNIX_COMMAND "${out}")
  run(${C_COMPILER} -o xor_shared "${example}" ${flags} ${sanitize})
  run("${WORK}/xor_shared")
  if(CONSUMER STREQUAL "mpi")
    # A singleton run. Shared only: MPI distributions rarely ship static libraries (Debian's
    # Open MPI does not), so backprop_mpi.pc promises no --static link.
    if(NOT out MATCHES "xor_mpi: 1 ranks, mean cross-entropy 0\\.0")
      message(FATAL_ERROR "xor_mpi through pkg-config did not learn XOR: ${out}")
    endif()
  elseif(SANITIZE_FLAGS)
    # The sanitizers' runtimes are shared libraries: no program linked with -static can hold them.
    message(STATUS "pkg_config: no -static link under the sanitizers")
  elseif(WITH_CUDA)
    # cuBLAS is linked shared (CUDAToolkit's CUDA::cublas): the toolkit's static cuBLAS is optional.
    message(STATUS "pkg_config: no -static link with the cuBLAS backend (BACKPROP_CUDA)")
  else()
    # cc -static app.c $(pkg-config --static --cflags --libs backprop): libbackprop.a, and
    # Requires.private / Libs.private must name everything it needs (OpenBLAS, zlib, libm).
    run(pkg-config --static --cflags --libs backprop)
    separate_arguments(flags UNIX_COMMAND "${out}")
    run(${C_COMPILER} -static -o xor_static "${example}" ${flags})
    needed(libs "${WORK}/xor_static")
    if(libs)
      message(FATAL_ERROR "xor_static is not static: it needs ${libs}")
    endif()
    run("${WORK}/xor_static")
  endif()
  if(NOT CONSUMER STREQUAL "mpi")
    # Fortran without CMake: the installed interface module compiled with the program.
    find_program(FORTRAN_COMPILER gfortran)
    if(NOT FORTRAN_COMPILER)
      skip_without_compiler("gfortran: not found")
      return()
    endif()
    run(pkg-config --variable=includedir backprop)
    string(STRIP "${out}" includedir)
    run(pkg-config --libs backprop)
    separate_arguments(flags UNIX_COMMAND "${out}")
    run(${FORTRAN_COMPILER} -o xor_f90 "${includedir}/backprop.f90"
        "${SOURCE_DIR}/examples/train_xor.f90" ${flags} ${sanitize})
    run("${WORK}/xor_f90")
  endif()

elseif(MODE STREQUAL "add_subdirectory")
  file(REMOVE_RECURSE "${WORK}")
  file(MAKE_DIRECTORY "${WORK}")
  run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/install/parent" -B "${WORK}"
      "-DBACKPROP_SOURCE=${SOURCE_DIR}")
  run(${CMAKE_COMMAND} --build "${WORK}" --target app --parallel 2)
  run("${WORK}/app")

else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()
# Printed last: a failure above never reaches it.
message(STATUS "${MODE} ${CONSUMER}: passed")
