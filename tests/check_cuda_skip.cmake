# cmake -DEXE=<test_cuda> -P check_cuda_skip.cmake: with every GPU hidden (CUDA_VISIBLE_DEVICES
# empty), test_cuda must pass its no-device group and exit with 77, the SKIP_RETURN_CODE that makes
# ctest report it skipped: neither 0 (a pass that compared nothing) nor a crash or a failure.
cmake_minimum_required(VERSION 3.25)
execute_process(COMMAND ${CMAKE_COMMAND} -E env CUDA_VISIBLE_DEVICES= OPENBLAS_NUM_THREADS=1
                        CMOCKA_MESSAGE_OUTPUT=STDOUT ${EXE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc STREQUAL "77")
  message(FATAL_ERROR "test_cuda without a GPU exited with '${rc}', expected 77 (skip):\n${out}${err}")
endif()
string(APPEND out "${err}") # CMocka's summary goes to either stream, by its version and settings
if(NOT out MATCHES "PASSED *\\] 3 test" OR NOT out MATCHES "skipped: the GPU comparisons")
  message(FATAL_ERROR "test_cuda without a GPU did not pass its no-device group then skip:\n${out}")
endif()
message(STATUS "test_cuda without a GPU: no-device group passed, exit 77 (skip)")
