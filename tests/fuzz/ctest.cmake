# The fuzzers in the test suite (included by tests/CMakeLists.txt). libFuzzer needs clang, and
# this build may be gcc's: the fuzzers are built in a clang sub-build, fuzz/ in this build
# directory (-DE911_FUZZ=ON: only the library and the fuzz targets). Each then runs for
# E911_FUZZ_TEST_SECONDS over a copy of its corpus (tests/fuzz/run.sh --fresh), and its kept
# crashes (tests/fuzz/regressions/<target>) are replayed. Without a working clang and libFuzzer
# every fuzz test fails, saying what to install: they are never skipped in silence.
set(E911_FUZZ_TARGETS sip pidf held yaml csv)
set(E911_FUZZ_TEST_SECONDS 15 CACHE STRING "seconds each fuzzer runs in ctest")
set(E911_FUZZ_BUILD ${CMAKE_BINARY_DIR}/fuzz CACHE PATH "the clang sub-build the fuzzers are built in")

find_program(E911_CLANGXX NAMES clang++ clang++-14)
set(E911_FUZZ_MISSING "")
if(NOT E911_CLANGXX)
  set(E911_FUZZ_MISSING "clang++ was not found")
else()
    # clang without its runtime libraries (libclang-rt-14-dev) compiles but cannot link a fuzzer.
    set(probe ${CMAKE_CURRENT_BINARY_DIR}/fuzz_probe)
    file(WRITE ${probe}.cpp "#include <cstddef>\n#include <cstdint>\nextern \"C\" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }\n")
    execute_process(COMMAND ${E911_CLANGXX} -fsanitize=fuzzer,address,undefined ${probe}.cpp -o ${probe}
                    RESULT_VARIABLE probe_rc OUTPUT_QUIET ERROR_VARIABLE probe_err)
    if(NOT probe_rc EQUAL 0)
      set(E911_FUZZ_MISSING "${E911_CLANGXX} cannot link a libFuzzer program (is libclang-rt-14-dev installed?)")
    endif()
endif()

  if(E911_FUZZ_MISSING)
  message(WARNING "the fuzz tests will fail: ${E911_FUZZ_MISSING}; run scripts/install-deps")
  foreach(t IN LISTS E911_FUZZ_TARGETS)
    add_test(NAME fuzz.${t} COMMAND bash -c "echo \"fuzz.${t}: ${E911_FUZZ_MISSING}; run scripts/install-deps (it installs clang and libclang-rt-14-dev), then configure again\" >&2; exit 1")
  endforeach()
else()
  include(ExternalProject)
  ExternalProject_Add(fuzzers
    SOURCE_DIR ${PROJECT_SOURCE_DIR}
    BINARY_DIR ${E911_FUZZ_BUILD}
    CMAKE_GENERATOR ${CMAKE_GENERATOR}
    CMAKE_ARGS -DCMAKE_CXX_COMPILER=${E911_CLANGXX} -DCMAKE_BUILD_TYPE=RelWithDebInfo -DE911_FUZZ=ON
    BUILD_COMMAND ${CMAKE_COMMAND} --build <BINARY_DIR> --target fuzzers
    INSTALL_COMMAND ""
    BUILD_ALWAYS ON
    CONFIGURE_HANDLED_BY_BUILD ON)
  foreach(t IN LISTS E911_FUZZ_TARGETS)
    add_test(NAME fuzz.${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run.sh --fresh ${E911_FUZZ_BUILD} ${E911_FUZZ_TEST_SECONDS} ${t})
    add_test(NAME fuzz.${t}.regressions COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run.sh --replay ${E911_FUZZ_BUILD} ${t})
    # A fuzzer keeps a core busy for its whole time; the limit leaves room to load its corpus.
    math(EXPR limit "${E911_FUZZ_TEST_SECONDS} * 3 + 60")
    set_tests_properties(fuzz.${t} PROPERTIES TIMEOUT ${limit} PROCESSORS 1)
    set_tests_properties(fuzz.${t}.regressions PROPERTIES TIMEOUT 120)
  endforeach()
endif()
