# ctest: the dynamic symbols the shared library defines (nm -D --defined-only) must be exactly the
# functions its header declares with BP_API: nothing without the bp_ prefix (hidden
# visibility works), no bp__ internal (they are hidden too), and none declared but missing (a
# BP_API forgotten on a definition, or a declaration without a definition).
# The one exception: the internal functions INTERNAL (src/internal.h, for libbackprop) marks
# BP__COMPONENT_API, which the MPI component's shared library calls.
# Variables: LIBRARY (the shared library), HEADER (its header: backprop.h for libbackprop,
# backprop_mpi.h for libbackprop_mpi), INTERNAL (optional).
cmake_minimum_required(VERSION 3.25) # a -P script starts with old policies otherwise
find_program(NM nm REQUIRED)
execute_process(COMMAND ${NM} -D --defined-only "${LIBRARY}" RESULT_VARIABLE rc
                OUTPUT_VARIABLE nm_out ERROR_VARIABLE nm_err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm -D --defined-only ${LIBRARY} failed: ${nm_err}")
endif()
string(REGEX REPLACE "\n$" "" nm_out "${nm_out}")
string(REPLACE "\n" ";" nm_lines "${nm_out}")
set(exported "")
foreach(line IN LISTS nm_lines)
  # "ADDRESS TYPE NAME"; undefined-weak or absolute entries have the same shape.
  string(REGEX REPLACE "^.* ([^ ]+)$" "\\1" name "${line}")
  list(APPEND exported "${name}")
endforeach()

# EXTRA_HEADER (optional): a second header of the same library (backprop_cuda.h with BACKPROP_CUDA).
file(STRINGS "${HEADER}" api_lines REGEX "^BP_API ")
if(EXTRA_HEADER)
  file(STRINGS "${EXTRA_HEADER}" extra_lines REGEX "^BP_API ")
  list(APPEND api_lines ${extra_lines})
endif()
set(declared "")
foreach(line IN LISTS api_lines)
  string(REGEX MATCH "(bp_[a-z0-9_]+)\\(" name "${line}")
  list(APPEND declared "${CMAKE_MATCH_1}")
endforeach()

set(internal "")
if(INTERNAL)
  file(STRINGS "${INTERNAL}" internal_lines REGEX "^BP__COMPONENT_API ")
  foreach(line IN LISTS internal_lines)
    string(REGEX MATCH "(bp__[a-z0-9_]+)\\(" name "${line}")
    list(APPEND internal "${CMAKE_MATCH_1}")
  endforeach()
endif()

set(bad "")
foreach(name IN LISTS exported)
  if(name IN_LIST internal)
    continue()
  endif()
  if(NOT name MATCHES "^bp_[a-z0-9]" OR NOT name IN_LIST declared)
    list(APPEND bad "${name}")
  endif()
endforeach()
set(missing "")
foreach(name IN LISTS declared internal)
  if(NOT name IN_LIST exported)
    list(APPEND missing "${name}")
  endif()
endforeach()
list(LENGTH exported n_exported)
list(LENGTH declared n_declared)
if(bad OR missing OR n_declared EQUAL 0)
  message(FATAL_ERROR "${LIBRARY}: exported but not declared bp_ API: [${bad}]; "
                      "declared in the header but not exported: [${missing}]")
endif()
list(LENGTH internal n_internal)
message(STATUS "${n_exported} symbols exported: the header's ${n_declared} bp_ functions and "
               "${n_internal} for the MPI component")
