// The guest end of the GCS bridge: dials the host, decodes requests, answers NegotiateProtocol, runs every other
// request on its own worker thread, and sends container notifications (queued while no host is connected).
#pragma once

#include <atomic>
#include <deque>
#include <mutex>
#include <string>

#include "agent.h"
#include "posix.h"
#include "shimcore/gcs/messages.h"

namespace shimcore::guest {

class Bridge {
 public:
  Bridge(Agent& agent, Transport& transport);
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  // Dials (retrying with back-off), serves the connection, and re-dials after it ends, as hcsshim's GCS does; returns
  // once the host has asked the utility VM to shut down.
  void run();
  // Sends now when a negotiated connection exists, else queues for the next one.
  void notify(const gcs::ContainerNotification& notification);

 private:
  struct Connection;
  bool serve(Fd fd);  // true: the host asked for shutdown
  Fd dial_with_backoff();

  Agent& agent_;
  Transport& transport_;
  std::mutex mutex_;
  Connection* current_ = nullptr;    // negotiated connection, guarded by mutex_
  std::deque<std::string> pending_;  // encoded notification bodies
};

}  // namespace shimcore::guest
