// Small test helpers shared by the transport tests: a scratch folder, a stop-aware gate, bounded polling.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <random>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>

namespace shimcore::testing {

// A unique scratch folder per test, removed afterwards. Kept short: socket paths must fit in 107 bytes.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix = "shimcore-test-") {
    std::random_device random;
    path = std::filesystem::temp_directory_path() / (prefix + std::to_string(random()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// A one-shot gate that handlers wait on; honours the call's stop token.
class Gate {
 public:
  void open() {
    const std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  // True if opened, false if the stop token fired first.
  bool wait(std::stop_token stop) {
    std::unique_lock lock(mutex_);
    return changed_.wait(lock, stop, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable_any changed_;
  bool open_ = false;
};

// Polls `predicate` until it holds or `timeout` passes; returns its last value. For state that settles
// asynchronously, never as a timing assertion.
template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return predicate();
}

}  // namespace shimcore::testing
