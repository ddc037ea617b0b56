# Every dependency is a Debian 12 package; scripts/install-deps.sh installs them.
# docs/dependencies.md says why each one is here.
find_package(PkgConfig REQUIRED)
pkg_check_modules(GMIME REQUIRED IMPORTED_TARGET gmime-3.0)
pkg_check_modules(HS REQUIRED IMPORTED_TARGET libhs)
pkg_check_modules(CARES REQUIRED IMPORTED_TARGET libcares)
pkg_check_modules(LMDB REQUIRED IMPORTED_TARGET lmdb)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)  # the store, also in the fuzz build
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(Threads REQUIRED)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)  # also for the config fuzzer
find_package(prometheus-cpp REQUIRED COMPONENTS core)  # also for the engine behind fuzz_session

if(NOT BACKSTOP_FUZZ_ONLY)
  find_package(fmt REQUIRED)
  find_package(spdlog REQUIRED)
  find_package(CLI11 REQUIRED)
  if(BACKSTOP_BUILD_TESTS)
    find_package(GTest REQUIRED)
  endif()
  if(BACKSTOP_BUILD_BENCHMARKS)
    find_package(benchmark REQUIRED)
  endif()
endif()

# Standalone Asio is header-only: /usr/include/asio.hpp from libasio-dev.
add_library(backstop_asio INTERFACE)
target_compile_definitions(backstop_asio INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED)
# Asio 1.22 recycles handler memory allocated with operator new and frees it
# with std::free when std::aligned_alloc is used: ASan reports
# alloc-dealloc-mismatch. Use operator new/delete throughout.
target_compile_definitions(backstop_asio INTERFACE ASIO_DISABLE_STD_ALIGNED_ALLOC)
target_link_libraries(backstop_asio INTERFACE Threads::Threads)
