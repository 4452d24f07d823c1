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
message(STATUS "consumer: ${out}")
file(GLOB pc "${WORK}/prefix/lib*/pkgconfig/backprop.pc")
file(READ "${pc}" pc_text)
if(NOT pc_text MATCHES "prefix=\\$\\{pcfiledir\\}/../..")
  message(FATAL_ERROR "backprop.pc does not locate itself: ${pc_text}")
endif()
