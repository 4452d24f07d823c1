# ctest driver of the embedding routes (tests/install/CMakeLists.txt registers one test per MODE):
#   install           install the build into a fresh PREFIX and check what is there
#   find_package      build tests/install/consumer (CONSUMER = c, cxx, fortran) against PREFIX, run it
#   pkg_config        compile the examples with pkg-config's flags (shared, then -static), run them
#   add_subdirectory  a parent project vendors the source tree (tests/install/parent), run its program
# Variables: BUILD_DIR, SOURCE_DIR (the project's), PREFIX, WORK (scratch), C_COMPILER, VERSION.
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

if(MODE STREQUAL "install")
  file(REMOVE_RECURSE "${PREFIX}")
  set(WORK "${BUILD_DIR}")
  run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${PREFIX}")
  file(GLOB_RECURSE archive "${PREFIX}/*/libbackprop.a")
  get_filename_component(libdir "${archive}" DIRECTORY)
  string(REGEX MATCH "^[0-9]+" major "${VERSION}")
  # libbackprop.so -> libbackprop.so.MAJOR -> libbackprop.so.VERSION, whose SONAME is the middle one.
  foreach(file include/backprop.h include/backprop.f90 ${libdir}/libbackprop.so.${VERSION}
          ${libdir}/cmake/backprop/backpropConfig.cmake ${libdir}/pkgconfig/backprop.pc)
    get_filename_component(file "${file}" ABSOLUTE BASE_DIR "${PREFIX}")
    if(NOT EXISTS "${file}")
      message(FATAL_ERROR "not installed: ${file}")
    endif()
  endforeach()
  foreach(link_target IN ITEMS "libbackprop.so:libbackprop.so.${major}"
                               "libbackprop.so.${major}:libbackprop.so.${VERSION}")
    string(REPLACE ":" ";" pair "${link_target}")
    list(GET pair 0 link)
    list(GET pair 1 target)
    file(READ_SYMLINK "${libdir}/${link}" got)
    if(NOT got STREQUAL target)
      message(FATAL_ERROR "${libdir}/${link} should link to ${target}, not '${got}'")
    endif()
  endforeach()
  find_program(READELF readelf REQUIRED)
  execute_process(COMMAND ${READELF} -d "${libdir}/libbackprop.so.${VERSION}" OUTPUT_VARIABLE dyn)
  if(NOT dyn MATCHES "\\(SONAME\\)[^[]*\\[libbackprop\\.so\\.${major}\\]")
    message(FATAL_ERROR "SONAME is not libbackprop.so.${major}:\n${dyn}")
  endif()
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
      needed(libs "${WORK}/xor_${kind}")
      list(FILTER libs INCLUDE REGEX "^libbackprop\\.")
      set(expected "")
      if(kind STREQUAL "shared")
        string(REGEX MATCH "^[0-9]+" major "${VERSION}")
        set(expected "libbackprop.so.${major}")
      endif()
      if(NOT "${libs}" STREQUAL "${expected}")
        message(FATAL_ERROR "xor_${kind} needs '${libs}', expected '${expected}'")
      endif()
    endforeach()
    run("${WORK}/threads")
  elseif(CONSUMER STREQUAL "cxx")
    run("${WORK}/xor_cpp")
  else()
    run("${WORK}/xor_f90")
  endif()

elseif(MODE STREQUAL "pkg_config")
  file(REMOVE_RECURSE "${WORK}")
  file(MAKE_DIRECTORY "${WORK}")
  set(ENV{PKG_CONFIG_PATH} "${libdir}/pkgconfig")
  set(ENV{LD_LIBRARY_PATH} "${libdir}")
  set(example "${SOURCE_DIR}/examples/train_xor.c")
  # cc app.c $(pkg-config --cflags --libs backprop): the shared library.
  run(pkg-config --cflags --libs backprop)
  separate_arguments(flags UNIX_COMMAND "${out}")
  run(${C_COMPILER} -o xor_shared "${example}" ${flags})
  run("${WORK}/xor_shared")
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
      "${SOURCE_DIR}/examples/train_xor.f90" ${flags})
  run("${WORK}/xor_f90")

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
