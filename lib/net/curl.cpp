// Loads libcurl at run time (see curl.hpp).
#include "curl.hpp"

#include <dlfcn.h>

#include <string>

#include "e911/error.hpp"

namespace e911::net {

namespace {

template <typename F>
void bind(void* lib, F& fn, const char* name) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!fn) throw Error(ErrorKind::failure, std::string("libcurl lacks '") + name + "'", "install libcurl4 7.85 or later");
}

Curl load() {
  Curl c;
  c.lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (!c.lib) throw Error(ErrorKind::failure, "cannot load libcurl: " + std::string(dlerror()), "install it: apt-get install libcurl4");
  bind(c.lib, c.global_init, "curl_global_init");
  bind(c.lib, c.multi_init, "curl_multi_init");
  bind(c.lib, c.multi_setopt, "curl_multi_setopt");
  bind(c.lib, c.multi_cleanup, "curl_multi_cleanup");
  bind(c.lib, c.multi_add_handle, "curl_multi_add_handle");
  bind(c.lib, c.multi_remove_handle, "curl_multi_remove_handle");
  bind(c.lib, c.multi_perform, "curl_multi_perform");
  bind(c.lib, c.multi_poll, "curl_multi_poll");
  bind(c.lib, c.multi_info_read, "curl_multi_info_read");
  bind(c.lib, c.multi_wakeup, "curl_multi_wakeup");
  bind(c.lib, c.easy_init, "curl_easy_init");
  bind(c.lib, c.easy_cleanup, "curl_easy_cleanup");
  bind(c.lib, c.easy_setopt, "curl_easy_setopt");
  bind(c.lib, c.easy_perform, "curl_easy_perform");
  bind(c.lib, c.easy_getinfo, "curl_easy_getinfo");
  bind(c.lib, c.easy_strerror, "curl_easy_strerror");
  bind(c.lib, c.slist_append, "curl_slist_append");
  bind(c.lib, c.slist_free_all, "curl_slist_free_all");
  if (c.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw Error(ErrorKind::failure, "cannot initialise libcurl");
  return c;
}

}  // namespace

Curl& curl() {
  static Curl c = load();  // a failed load throws, and the next call tries again
  return c;
}

}  // namespace e911::net
