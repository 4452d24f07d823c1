# Finds CMocka (Debian's 1.1.5 config sets only CMOCKA_LIBRARIES / CMOCKA_INCLUDE_DIR, no target)
# and wraps it as the imported target backprop::cmocka.
include_guard(GLOBAL)

find_package(cmocka CONFIG QUIET)
add_library(backprop::cmocka INTERFACE IMPORTED)
if(cmocka_FOUND AND CMOCKA_LIBRARIES)
  target_link_libraries(backprop::cmocka INTERFACE ${CMOCKA_LIBRARIES})
  target_include_directories(backprop::cmocka INTERFACE ${CMOCKA_INCLUDE_DIR})
else()
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(BP_CMOCKA REQUIRED IMPORTED_TARGET cmocka)
  target_link_libraries(backprop::cmocka INTERFACE PkgConfig::BP_CMOCKA)
endif()
