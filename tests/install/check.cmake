# ctest driver: install the built project into a fresh prefix, build tests/install against it with
# find_package(backprop), run the result, and check the pkg-config file points into the prefix.
# Variables: BUILD_DIR (the project's build), SOURCE_DIR (tests/install), WORK (scratch), EXAMPLE.
file(REMOVE_RECURSE "${WORK}")
function(run)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY "${WORK}" RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()
file(MAKE_DIRECTORY "${WORK}")
run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK}/prefix")
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK}/build" "-DCMAKE_PREFIX_PATH=${WORK}/prefix"
    "-DEXAMPLE=${EXAMPLE}")
run(${CMAKE_COMMAND} --build "${WORK}/build")
run("${WORK}/build/consumer")
set(consumer_out "${out}")
# pkg-config, relocated with the install, must point at the installed header.
file(GLOB_RECURSE pc "${WORK}/prefix/*/backprop.pc")
get_filename_component(pc_dir "${pc}" DIRECTORY)
set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
run(pkg-config --variable=includedir backprop)
string(STRIP "${out}" includedir)
if(NOT EXISTS "${includedir}/backprop.h")
  message(FATAL_ERROR "backprop.pc: includedir ${includedir} does not hold backprop.h")
endif()
# Printed last: the test passes on this line, which a failure above never reaches.
message(STATUS "consumer: ${consumer_out}")
