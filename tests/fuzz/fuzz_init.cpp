// Linked into every fuzz target: what each needs once, before the first input. The project's
// logging is silenced, so that a run prints only libFuzzer's lines and the targets' findings.
#include <spdlog/spdlog.h>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}
