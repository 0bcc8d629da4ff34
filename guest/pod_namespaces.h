// The namespaces a CRI pod's containers share in the guest (network, IPC, UTS), kept alive as bind-mounted ns files
// while any container of the pod exists, so a pod without a pause container (containerd's shim sandboxer) has them too.
#pragma once

#include <map>
#include <mutex>
#include <string>

namespace shimcore::guest {

class PodNamespaces {
 public:
  // Pods' ns files live under `dir`/<pod>/{net,ipc,uts}.
  explicit PodNamespaces(std::string dir);
  ~PodNamespaces();  // unmounts what is left (a pod whose containers were never deleted)
  PodNamespaces(const PodNamespaces&) = delete;
  PodNamespaces& operator=(const PodNamespaces&) = delete;

  // The pod's ns file for each OCI namespace type it shares ("network", "ipc", "uts"), created with the pod's first
  // container; each call is one more container of the pod. `pod` must already be a valid file name.
  std::map<std::string, std::string> join(const std::string& pod);
  // One container of the pod is gone; the last one takes the namespaces with it.
  void leave(const std::string& pod);

 private:
  struct Pod {
    std::map<std::string, std::string> files;  // OCI type -> ns file
    int containers = 0;
  };
  void remove(const std::string& pod, Pod& state);  // caller holds mutex_

  std::string dir_;
  std::mutex mutex_;
  std::map<std::string, Pod> pods_;
};

}  // namespace shimcore::guest
