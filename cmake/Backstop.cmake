# Warnings, sanitizers and one-line helpers for libraries, tests, fuzzers, benches.

add_library(backstop_flags INTERFACE)
target_compile_options(backstop_flags INTERFACE -Wall -Wextra -Wpedantic -Wshadow
  -Wnon-virtual-dtor -Wcast-align -Wunused -Wnull-dereference -Wimplicit-fallthrough)
if(BACKSTOP_WERROR)
  target_compile_options(backstop_flags INTERFACE -Werror)
endif()
target_include_directories(backstop_flags INTERFACE ${PROJECT_SOURCE_DIR}/src)
target_compile_definitions(backstop_flags INTERFACE BACKSTOP_VERSION="${PROJECT_VERSION}")
# Tests and benchmarks find the tree's docs and samples through
# BACKSTOP_SOURCE_DIR. Libraries do not get it: a define holding the checkout's
# path would make every compile of every library miss ccache in another
# checkout (a CI clone, a second work tree).
add_library(backstop_source_dir INTERFACE)
target_compile_definitions(backstop_source_dir INTERFACE BACKSTOP_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

if(BACKSTOP_SANITIZE)
  add_compile_options(-fsanitize=${BACKSTOP_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${BACKSTOP_SANITIZE})
endif()

# GCC 12's -Wnull-dereference reports false positives in code inlined from the
# header-only libraries (Asio's scheduler; libstdc++ strings inside CLI11) at
# -O2: about 30 warnings in a release build, none in our code. A pragma around
# the #include does not reach these middle-end warnings (tried), so the flag
# is turned off for exactly the translation units that include such a header,
# directly or through one of the project headers below, and stays on for every
# other file: a warning in the build means something again.
set(BACKSTOP_HEADER_ONLY_INCLUDE_RE
  "^#include [<\"](asio|CLI/|net/protocol\\.h|dnsbl/(client|cares_resolver|settings)\\.h|app/(commands|common_options)\\.h)")
# backstop_scope_warnings(TARGET): applies the rule above to TARGET's sources.
function(backstop_scope_warnings target)
  get_target_property(srcs ${target} SOURCES)
  get_target_property(dir ${target} SOURCE_DIR)
  foreach(src ${srcs})
    if(IS_ABSOLUTE "${src}")
      set(path "${src}")
    else()
      set(path "${dir}/${src}")
    endif()
    if(EXISTS "${path}")
      file(STRINGS "${path}" hits REGEX "${BACKSTOP_HEADER_ONLY_INCLUDE_RE}")
      if(hits)
        set_source_files_properties(${src} TARGET_DIRECTORY ${target} PROPERTIES COMPILE_OPTIONS -Wno-null-dereference)
      endif()
    endif()
  endforeach()
endfunction()

# backstop_library(NAME SOURCES... [DEPS libs...])
function(backstop_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SOURCES})
  target_link_libraries(${name} PUBLIC backstop_flags ${A_DEPS})
  backstop_scope_warnings(${name})
endfunction()

# backstop_test(NAME SOURCES... [DEPS libs...] [LABELS l...]): a gtest binary run by ctest.
function(backstop_test name)
  cmake_parse_arguments(A "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT BACKSTOP_BUILD_TESTS OR BACKSTOP_FUZZ_ONLY)
    return()
  endif()
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE backstop_flags backstop_source_dir ${A_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  backstop_scope_warnings(${name})
  add_test(NAME ${name} COMMAND ${name})
  if(NOT A_LABELS)
    set(A_LABELS unit)
  endif()
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${A_LABELS}" TIMEOUT ${A_TIMEOUT}
    ENVIRONMENT "BACKSTOP_SHARED=${PROJECT_SOURCE_DIR}/../shared;BACKSTOP_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()

# backstop_fuzzer(NAME SOURCE [DEPS libs...]): a libFuzzer target; seeds in fuzz/corpus/NAME.
function(backstop_fuzzer name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE backstop_flags ${A_DEPS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
endfunction()

# backstop_bench(NAME SOURCES... [DEPS libs...])
function(backstop_bench name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE backstop_flags backstop_source_dir ${A_DEPS} benchmark::benchmark)
  backstop_scope_warnings(${name})
endfunction()
