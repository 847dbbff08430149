#pragma once
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "e911/store.hpp"

// How many times longer a time bound of a test may be: E911_TEST_TIME_SCALE, which make
// test-sanitize sets to 5 (ASan and UBSan make every call several times slower), else 1.
inline double time_scale() {
  const char* v = std::getenv("E911_TEST_TIME_SCALE");
  const double s = v ? std::atof(v) : 0;
  return s > 1 ? s : 1;
}

// A fresh database file in its own temporary directory, removed afterwards.
struct TempDb {
  std::filesystem::path dir;
  std::string path;
  TempDb() {
    dir = std::filesystem::temp_directory_path() / ("e911-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    path = (dir / "e911.db").string();
  }
  ~TempDb() { std::filesystem::remove_all(dir); }
  std::string file(const std::string& name) const { return (dir / name).string(); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};
