#pragma once
// libcurl, loaded at run time (private to lib/net). libcurl and the thirty libraries it pulls in
// are loaded only by the commands that talk over HTTP: linked, they would cost every other
// command most of its start-up time. Its headers give the types; dlsym gives the functions.
#include <curl/curl.h>

namespace e911::net {

struct Curl {
  void* lib = nullptr;
  CURLcode (*global_init)(long);
  CURLM* (*multi_init)();
  CURLMcode (*multi_setopt)(CURLM*, CURLMoption, ...);
  CURLMcode (*multi_cleanup)(CURLM*);
  CURLMcode (*multi_add_handle)(CURLM*, CURL*);
  CURLMcode (*multi_remove_handle)(CURLM*, CURL*);
  CURLMcode (*multi_perform)(CURLM*, int*);
  CURLMcode (*multi_poll)(CURLM*, curl_waitfd*, unsigned int, int, int*);
  CURLMsg* (*multi_info_read)(CURLM*, int*);
  CURLMcode (*multi_wakeup)(CURLM*);
  CURL* (*easy_init)();
  void (*easy_cleanup)(CURL*);
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_perform)(CURL*);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  const char* (*easy_strerror)(CURLcode);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
};

/// The loaded library, initialised on first use and kept for the life of the process. Throws
/// Error(failure) with a hint when libcurl 4 is missing or lacks a function.
Curl& curl();

}  // namespace e911::net
