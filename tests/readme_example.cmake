# ctest: the README quotes each example of EXAMPLES (files separated by commas) verbatim, as a
# ```c block of everything from its first #include on (its opening comment is the README's
# sentence), so that the code a reader copies is the code the test suite builds and runs.
# Variables: README, EXAMPLES.
file(READ "${README}" readme)
string(REPLACE "," ";" EXAMPLES "${EXAMPLES}")
foreach(example IN LISTS EXAMPLES)
  file(READ "${example}" source)
  string(FIND "${source}" "#include" start)
  if(start LESS 0)
    message(FATAL_ERROR "${example} has no #include")
  endif()
  string(SUBSTRING "${source}" ${start} -1 body)
  string(FIND "${readme}" "```c\n${body}```" at)
  if(at LESS 0)
    message(FATAL_ERROR "${README} does not quote ${example} (from its first #include on) verbatim")
  endif()
  message(STATUS "${README} quotes ${example}")
endforeach()
