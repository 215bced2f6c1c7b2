# berth_module(NAME SOURCES ... DEPS ...): one static library per module; tests are every *_test.cpp beside it.
function(berth_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;TEST_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  set_target_properties(${name} PROPERTIES OUTPUT_NAME berth_${name})
  if(BERTH_TESTS)
    file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cpp)
    if(tests)
      add_executable(${name}_test ${tests})
      target_link_libraries(${name}_test PRIVATE ${name} ${ARG_TEST_DEPS} GTest::gtest_main Threads::Threads)
      target_compile_definitions(${name}_test PRIVATE BERTH_TESTDATA="${BERTH_TESTDATA}"
                                 BERTH_BINARY_DIR="${PROJECT_BINARY_DIR}")
      gtest_discover_tests(${name}_test DISCOVERY_TIMEOUT 120 PROPERTIES LABELS ${name})
    endif()
  endif()
endfunction()

# berth_embed(TARGET FILE SYMBOL): compiles FILE's bytes into TARGET as `extern const char SYMBOL[]` with
# `extern const unsigned long SYMBOL_size`, so the binary carries its assets (no files at run time).
function(berth_embed target file symbol)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${symbol}_embed.cpp")
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DIN=${file} -DOUT=${out} -DSYMBOL=${symbol} -P ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    DEPENDS ${file} ${PROJECT_SOURCE_DIR}/cmake/embed.cmake VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
