# ctest: include/backprop.f90 repeats the enum values and version numbers of include/backprop.h
# (Fortran cannot include a C header); every NAME = value it declares must be the header's
# (an enumerator "NAME = value" or "#define NAME value"), so that the two cannot drift apart.
# Variables: HEADER, MODULE.
cmake_minimum_required(VERSION 3.25) # a -P script starts with old policies otherwise
file(READ "${HEADER}" header)
file(READ "${MODULE}" module)
string(REGEX MATCHALL "BP_[A-Z0-9_]+ = [0-9]+" pairs "${module}")
set(checked 0)
set(wrong "")
foreach(pair IN LISTS pairs)
  string(REGEX REPLACE " = .*" "" name "${pair}")
  string(REGEX REPLACE ".* = " "" value "${pair}")
  if(NOT header MATCHES "[ \n]${name} = ${value}[,\n ]" AND
     NOT header MATCHES "#define ${name} ${value}[ \n]")
    list(APPEND wrong "${pair}")
  endif()
  math(EXPR checked "${checked} + 1")
endforeach()
if(wrong OR checked LESS 30)
  message(FATAL_ERROR "backprop.f90 disagrees with backprop.h on: [${wrong}] (${checked} checked)")
endif()
message(STATUS "${checked} values of backprop.f90 agree with backprop.h")
