// Joins threads whose owner was destroyed on that very thread, for the emulator's watcher and reaper threads.
#pragma once

#include <mutex>
#include <thread>
#include <vector>

namespace shimcore::hcs::emulator {

// An owner destroyed on its own thread (an exit callback dropping the last reference) cannot join that thread: it is
// adopted here and joined by the next adoption or at exit. Every such thread is past the last thing it does when it
// is adopted.
class OrphanedThreads {
 public:
  static void adopt(std::thread thread) {
    static OrphanedThreads threads;
    std::vector<std::thread> finished;
    {
      const std::lock_guard lock(threads.mutex_);
      finished.swap(threads.threads_);
      threads.threads_.push_back(std::move(thread));
    }
    for (std::thread& done : finished) done.join();
  }
  ~OrphanedThreads() {
    for (std::thread& thread : threads_) thread.join();
  }

 private:
  std::mutex mutex_;
  std::vector<std::thread> threads_;
};

}  // namespace shimcore::hcs::emulator
