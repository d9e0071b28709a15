# Engram build helpers.
#
#   engram_proto_library(NAME <target> PROTOS <files...> [DEPS <proto targets...>] [GRPC])
#     One library per proto package; code is generated into the build tree. <target> holds the
#     messages and needs only protobuf; with GRPC, <target>_grpc adds the service stubs and gRPC, so
#     code that only stores or parses the messages (the storage engine) builds without gRPC.
#   engram_cc_test(NAME <test> SRCS <files...> DEPS <targets...> [LABELS <labels...>])
#     A GoogleTest binary registered with ctest.
#   engram_fuzz_target(NAME <target> SOURCES <files...> LIBS <targets...>)
#     A libFuzzer target (only when ENGRAM_FUZZ is on: the clang sanitizer tree of scripts/asan.sh)
#     over the seed corpus committed in testdata/fuzz/<target>/ beside it. Registered with ctest
#     (label "fuzz") to run for ENGRAM_FUZZ_SECONDS over that corpus; it fails only when libFuzzer
#     finds a crash, a leak, a sanitizer report or an input that runs longer than 30 s. New inputs
#     and crash artifacts go to <build>/fuzz/<target>/, never into the source tree.

set(ENGRAM_PROTO_ROOT "${PROJECT_SOURCE_DIR}/proto")
set(ENGRAM_PROTO_GEN "${PROJECT_BINARY_DIR}/proto_gen")
file(MAKE_DIRECTORY "${ENGRAM_PROTO_GEN}")

function(engram_proto_library)
  cmake_parse_arguments(P "GRPC" "NAME" "PROTOS;DEPS" ${ARGN})
  set(srcs)
  set(grpc_srcs)
  foreach(proto ${P_PROTOS})
    get_filename_component(abs "${proto}" ABSOLUTE)
    file(RELATIVE_PATH rel "${ENGRAM_PROTO_ROOT}" "${abs}")
    string(REGEX REPLACE "\\.proto$" "" base "${rel}")
    set(outs "${ENGRAM_PROTO_GEN}/${base}.pb.cc" "${ENGRAM_PROTO_GEN}/${base}.pb.h")
    set(grpc_outs)
    set(plugin_args)
    if(P_GRPC)
      # <base>_mock.grpc.pb.h (gMock stubs of every service) is for tests only.
      set(grpc_outs "${ENGRAM_PROTO_GEN}/${base}.grpc.pb.cc" "${ENGRAM_PROTO_GEN}/${base}.grpc.pb.h"
                    "${ENGRAM_PROTO_GEN}/${base}_mock.grpc.pb.h")
      set(plugin_args --grpc_out=generate_mock_code=true:${ENGRAM_PROTO_GEN} --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>)
    endif()
    add_custom_command(
      OUTPUT ${outs} ${grpc_outs}
      COMMAND protobuf::protoc --proto_path=${ENGRAM_PROTO_ROOT} --cpp_out=${ENGRAM_PROTO_GEN} ${plugin_args} ${abs}
      DEPENDS "${abs}" protobuf::protoc
      COMMENT "protoc ${rel}"
      VERBATIM)
    list(APPEND srcs ${outs})
    list(APPEND grpc_srcs ${grpc_outs})
  endforeach()
  add_library(${P_NAME} ${srcs})
  target_include_directories(${P_NAME} SYSTEM PUBLIC "${ENGRAM_PROTO_GEN}")
  target_link_libraries(${P_NAME} PUBLIC protobuf::libprotobuf ${P_DEPS})
  # Generated code is not ours to lint.
  target_compile_options(${P_NAME} PRIVATE -w)
  if(P_GRPC)
    add_library(${P_NAME}_grpc ${grpc_srcs})
    target_link_libraries(${P_NAME}_grpc PUBLIC ${P_NAME} gRPC::grpc++)
    target_compile_options(${P_NAME}_grpc PRIVATE -w)
  endif()
endfunction()

function(engram_cc_test)
  if(NOT BUILD_TESTING)
    return()
  endif()
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SRCS})
  target_link_libraries(${T_NAME} PRIVATE ${T_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  # A test's own code (gtest/gmock macros, the generated gRPC mocks) is over half of the Release
  # build's compile time and gains nothing from -O3; the libraries it tests stay at -O3. -O1 compiles
  # a mock-heavy test in about a third of the time (commands_test.cc: 122 s -> 39 s).
  if(CMAKE_BUILD_TYPE STREQUAL "Release")
    target_compile_options(${T_NAME} PRIVATE -O1)
  endif()
  # Each test's scratch directory is its own: /tmp/engram-tests-<this build tree's hash>/<test>, so
  # test runs of two build trees on one machine never share a path; removed after a passing run
  # (cmake/scratch-test.sh).
  string(MD5 tree "${CMAKE_BINARY_DIR}")
  string(SUBSTRING "${tree}" 0 10 tree)
  add_test(NAME ${T_NAME}
           COMMAND sh ${PROJECT_SOURCE_DIR}/cmake/scratch-test.sh /tmp/engram-tests-${tree}/${T_NAME}
                   $<TARGET_FILE:${T_NAME}>)
  set(labels unit)
  if(T_LABELS)
    set(labels ${T_LABELS})
  endif()
  # In a ThreadSanitizer build (scripts/tsan.sh) the concurrency tests also carry the "tsan" label.
  if(ENGRAM_TSAN AND T_NAME IN_LIST ENGRAM_TSAN_TESTS)
    list(APPEND labels tsan)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${labels}" TIMEOUT ${T_TIMEOUT})
endfunction()

set(ENGRAM_FUZZ_SECONDS 10 CACHE STRING "Seconds each fuzz target runs in ctest")

function(engram_fuzz_target)
  if(NOT ENGRAM_FUZZ)
    return()
  endif()
  cmake_parse_arguments(F "" "NAME" "SOURCES;LIBS" ${ARGN})
  add_executable(${F_NAME} ${F_SOURCES})
  target_link_libraries(${F_NAME} PRIVATE ${F_LIBS})
  target_link_options(${F_NAME} PRIVATE -fsanitize=fuzzer)
  set(seeds "${CMAKE_CURRENT_SOURCE_DIR}/testdata/fuzz/${F_NAME}")
  if(NOT IS_DIRECTORY "${seeds}")
    message(FATAL_ERROR "engram_fuzz_target(${F_NAME}): no seed corpus at ${seeds}")
  endif()
  set(work "${PROJECT_BINARY_DIR}/fuzz/${F_NAME}")
  file(MAKE_DIRECTORY "${work}/corpus")
  # libFuzzer writes new inputs into the first directory only: the build tree's, seeded from the
  # committed corpus (the second directory).
  add_test(NAME ${F_NAME}
    COMMAND ${F_NAME} -max_total_time=${ENGRAM_FUZZ_SECONDS} -timeout=30 -rss_limit_mb=2048
            -print_final_stats=1 -artifact_prefix=${work}/ ${work}/corpus ${seeds})
  set_tests_properties(${F_NAME} PROPERTIES LABELS fuzz TIMEOUT 300)
endfunction()
