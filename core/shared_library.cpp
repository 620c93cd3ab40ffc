#include "core/shared_library.h"

#include <dlfcn.h>

namespace callproxy {

Result<SharedLibrary> SharedLibrary::open(const char* soname, const char* package) {
  // RTLD_LOCAL: the library's symbols resolve only through bind(), never against ours.
  void* handle = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = ::dlerror();
    return Error{std::string(soname) + " cannot be loaded (install the " + package +
                 " package): " + (why ? why : "unknown error")};
  }
  return SharedLibrary(handle, soname);
}

void* SharedLibrary::address(const char* name) {
  ::dlerror();
  void* p = ::dlsym(handle_, name);
  if (!p) error_ = soname_ + " has no symbol " + name + ": it is not the version callproxy was built for";
  return p;
}

}  // namespace callproxy
