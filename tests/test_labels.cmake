# CTest labels for the tests catch_discover_tests finds, from Catch test specs.
#
#   callproxy_test_labels(TARGET LABEL SPEC [LABEL SPEC ...])
#
# After TARGET is built (as catch_discover_tests lists its tests), each SPEC is run with
# --filenames-as-tags (every test is also tagged [#<its source file's name, no extension>]) and
# --list-test-names-only; every test it matches gets LABEL. A test may match several specs.
# A test that no spec labels "unit" or "integration" fails the build, naming it: a new test file
# must be put in one of the two lists (tests/CMakeLists.txt).
#
# Run as a script (cmake -P) with TEST_EXECUTABLE, RULES (LABEL=SPEC entries) and OUTPUT, it
# writes OUTPUT: set_tests_properties(... LABELS ...) for every test, for CTest to include after
# the tests themselves.

if(CMAKE_SCRIPT_MODE_FILE)
  cmake_policy(VERSION 3.25)
  execute_process(COMMAND "${TEST_EXECUTABLE}" --list-test-names-only OUTPUT_VARIABLE listed RESULT_VARIABLE result)
  if(result LESS 0)
    message(FATAL_ERROR "cannot list the tests of ${TEST_EXECUTABLE}: ${result}")
  endif()
  string(REPLACE "\n" ";" all_tests "${listed}")
  list(REMOVE_ITEM all_tests "")
  set(label_names)
  foreach(rule IN LISTS RULES)
    string(FIND "${rule}" "=" eq)
    string(SUBSTRING "${rule}" 0 ${eq} label)
    math(EXPR after "${eq} + 1")
    string(SUBSTRING "${rule}" ${after} -1 spec)
    execute_process(COMMAND "${TEST_EXECUTABLE}" --filenames-as-tags "${spec}" --list-test-names-only
                    OUTPUT_VARIABLE listed RESULT_VARIABLE result)
    if(result LESS 0)
      message(FATAL_ERROR "cannot list the tests of ${TEST_EXECUTABLE} for ${spec}: ${result}")
    endif()
    string(REPLACE "\n" ";" matched "${listed}")
    list(REMOVE_ITEM matched "")
    list(APPEND "tests_${label}" ${matched})
    list(APPEND label_names ${label})
  endforeach()
  list(REMOVE_DUPLICATES label_names)

  set(script "")
  set(unlabelled "")
  foreach(test IN LISTS all_tests)
    set(labels "")
    foreach(label IN LISTS label_names)
      list(FIND "tests_${label}" "${test}" at)
      if(NOT at EQUAL -1)
        list(APPEND labels ${label})
      endif()
    endforeach()
    if(NOT "unit" IN_LIST labels AND NOT "integration" IN_LIST labels)
      string(APPEND unlabelled "\n  ${test}")
    endif()
    if(labels)
      string(APPEND script "set_tests_properties([==[${test}]==] PROPERTIES LABELS \"${labels}\")\n")
    endif()
  endforeach()
  if(unlabelled)
    message(FATAL_ERROR "tests neither unit nor integration (put their file in a list in tests/CMakeLists.txt):"
                        "${unlabelled}")
  endif()
  file(WRITE "${OUTPUT}" "${script}")
  return()
endif()

set(_CALLPROXY_TEST_LABELS_SCRIPT "${CMAKE_CURRENT_LIST_FILE}")

function(callproxy_test_labels target)
  set(rules)
  set(args ${ARGN})
  list(LENGTH args count)
  math(EXPR last "${count} - 1")
  foreach(i RANGE 0 ${last} 2)
    math(EXPR j "${i} + 1")
    list(GET args ${i} label)
    list(GET args ${j} spec)
    list(APPEND rules "${label}=${spec}")
  endforeach()
  set(labels_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_labels.cmake")
  set(include_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_labels_include.cmake")
  add_custom_command(
    TARGET ${target} POST_BUILD
    BYPRODUCTS "${labels_file}"
    COMMAND "${CMAKE_COMMAND}" -D "TEST_EXECUTABLE=$<TARGET_FILE:${target}>" -D "RULES=${rules}"
            -D "OUTPUT=${labels_file}" -P "${_CALLPROXY_TEST_LABELS_SCRIPT}"
    VERBATIM)
  file(WRITE "${include_file}" "if(EXISTS \"${labels_file}\")\n  include(\"${labels_file}\")\nendif()\n")
  # After catch_discover_tests' include file: the tests exist by the time their labels are set.
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${include_file}")
endfunction()
