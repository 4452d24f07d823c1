# The API reference, built by Doxygen from include/backprop.h, include/backprop_mpi.h (the MPI
# component's) and include/backprop_cuda.h (the cuBLAS backend's), the last two documented whether
# or not this build has them (docs/Doxyfile.in), when Doxygen is
# installed: the target `doc` (HTML in <build>/docs/html, not part of `all`) and, with the tests,
# the ctest doc_reference (label doc), which fails on any Doxygen warning (an undocumented function,
# struct, field or macro, a malformed comment). Not when vendored: the parent may have its own `doc`.
if(BP_TOP_LEVEL)
  find_package(Doxygen QUIET)
endif()
if(BP_TOP_LEVEL AND DOXYGEN_FOUND)
  set(BP_DOC_OUTPUT ${PROJECT_BINARY_DIR}/docs)
  set(BP_DOC_WARN_AS_ERROR NO)
  configure_file(${PROJECT_SOURCE_DIR}/docs/Doxyfile.in ${PROJECT_BINARY_DIR}/docs/Doxyfile @ONLY)
  add_custom_target(doc COMMAND Doxygen::doxygen ${PROJECT_BINARY_DIR}/docs/Doxyfile
                    COMMENT "API reference in ${PROJECT_BINARY_DIR}/docs/html" VERBATIM)
  if(BACKPROP_BUILD_TESTS)
    set(BP_DOC_OUTPUT ${PROJECT_BINARY_DIR}/docs/check)
    set(BP_DOC_WARN_AS_ERROR FAIL_ON_WARNINGS)
    configure_file(${PROJECT_SOURCE_DIR}/docs/Doxyfile.in ${PROJECT_BINARY_DIR}/docs/Doxyfile-check @ONLY)
    add_test(NAME doc_reference COMMAND Doxygen::doxygen ${PROJECT_BINARY_DIR}/docs/Doxyfile-check)
    set_tests_properties(doc_reference PROPERTIES LABELS doc)
  endif()
endif()
