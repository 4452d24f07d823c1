# cmake -DSRC=<source dir>/src -P check_alloc.cmake: fails if a library source other than
# src/alloc.c calls malloc, calloc, realloc, strdup or strndup directly. Every allocation must go
# through bp__malloc & co., the sites that tests/test_faults.c makes fail one by one.
file(GLOB sources ${SRC}/*.c)
set(bad "")
foreach(f IN LISTS sources)
  if(f MATCHES "/alloc\\.c$")
    continue()
  endif()
  file(READ ${f} text)
  string(REGEX MATCHALL "[^\n]*[^A-Za-z0-9_\n](malloc|calloc|realloc|strdup|strndup) *\\([^\n]*"
         hits "${text}")
  foreach(hit IN LISTS hits)
    string(APPEND bad "\n  ${f}: ${hit}")
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "direct allocation outside src/alloc.c (use bp__malloc & co.):${bad}")
endif()
list(LENGTH sources count)
message(STATUS "${count} library sources allocate only through src/alloc.c")
