# Writes OUT, a C++ file defining the commit SOURCE_DIR is checked out at (git rev-parse, 12
# hex digits; "unknown" without git or a checkout), and rewrites it only when that changes: run
# at every build by core/CMakeLists.txt, it costs one small compile per new commit.
execute_process(COMMAND git -C "${SOURCE_DIR}" rev-parse --short=12 HEAD OUTPUT_VARIABLE commit
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE failed)
if(failed OR NOT commit MATCHES "^[0-9a-f]+$")
  set(commit "unknown")
endif()
file(WRITE "${OUT}.new" "namespace callproxy {\nextern const char* const callproxy_build_commit;\nconst char* const callproxy_build_commit = \"${commit}\";\n}  // namespace callproxy\n")
file(COPY_FILE "${OUT}.new" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.new")
