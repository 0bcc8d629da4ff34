// Pod facts from outside bytes: CRI annotations and the CRI PodSandboxConfig wire format.
#include "shimcore/oci/pod.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "shimcore/errdefs.h"

using Catch::Matchers::ContainsSubstring;
using shimcore::ErrorKind;
using namespace shimcore::oci;

namespace {

// Protobuf wire bytes written field by field, independent of the decoder under test.
class Wire {
 public:
  Wire& bytes(int field, const std::string& value) {
    varint(static_cast<std::uint64_t>(field) << 3 | 2);
    varint(value.size());
    out_ += value;
    return *this;
  }
  Wire& number(int field, std::uint64_t value) {
    varint(static_cast<std::uint64_t>(field) << 3);
    varint(value);
    return *this;
  }
  Wire& entry(int field, const std::string& key, const std::string& value) {
    return bytes(field, Wire().bytes(1, key).bytes(2, value).str());
  }
  Wire& raw(const std::string& bytes) {
    out_ += bytes;
    return *this;
  }
  const std::string& str() const { return out_; }

 private:
  void varint(std::uint64_t value) {
    while (value >= 0x80) {
      out_ += static_cast<char>((value & 0x7f) | 0x80);
      value >>= 7;
    }
    out_ += static_cast<char>(value);
  }
  std::string out_;
};

void require_invalid(const std::string& bytes, const std::string& text) {
  try {
    parse_pod_sandbox_config(bytes);
    FAIL("accepted malformed bytes; wanted an error mentioning " << text);
  } catch (const shimcore::Error& error) {
    CHECK(error.kind() == ErrorKind::InvalidArgument);
    CHECK_THAT(error.what(), ContainsSubstring(text));
  }
}

}  // namespace

TEST_CASE("a CRI PodSandboxConfig decodes metadata, hostname, log directory, labels and annotations", "[oci]") {
  const std::string metadata = Wire().bytes(1, "web").bytes(2, "uid-1").bytes(3, "prod").number(4, 2).str();
  const std::string bytes = Wire()
                                .bytes(1, metadata)
                                .bytes(2, "web-0")
                                .bytes(3, "/var/log/pods/web")
                                .bytes(4, Wire().bytes(1, "10.0.0.10").str())  // dns_config: skipped
                                .entry(6, "app", "web")
                                .entry(7, "io.microsoft.x", "1")
                                .entry(7, "b", "2")
                                .number(99, 7)  // a field from a newer CRI: skipped
                                .str();
  const PodSandboxConfig config = parse_pod_sandbox_config(bytes);
  CHECK(config.name == "web");
  CHECK(config.uid == "uid-1");
  CHECK(config.namespace_name == "prod");
  CHECK(config.attempt == 2);
  CHECK(config.hostname == "web-0");
  CHECK(config.log_directory == "/var/log/pods/web");
  CHECK(config.labels == std::map<std::string, std::string>{{"app", "web"}});
  CHECK(config.annotations == std::map<std::string, std::string>{{"b", "2"}, {"io.microsoft.x", "1"}});
  CHECK(parse_pod_sandbox_config("").name.empty());
}

TEST_CASE("malformed PodSandboxConfig bytes are InvalidArgument naming the field", "[oci]") {
  require_invalid(Wire().number(2, 5).str(), "hostname");                     // wrong wire type
  require_invalid(Wire().bytes(2, "abcdef").str().substr(0, 4), "hostname");  // truncated
  require_invalid(Wire().bytes(1, Wire().number(1, 3).str()).str(), "metadata.name");
  require_invalid(Wire().bytes(7, Wire().number(1, 3).str()).str(), "annotations");
  require_invalid(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11), "PodSandboxConfig");
  require_invalid(std::string("\x00", 1), "PodSandboxConfig");  // field number 0
}

TEST_CASE("CRI annotations say whether a task is a pod's sandbox, one of its containers, or standalone", "[oci]") {
  CHECK(pod_membership(nullptr).role == PodRole::Standalone);
  CHECK(pod_membership(nlohmann::json::object()).role == PodRole::Standalone);
  CHECK(pod_membership({{"io.kubernetes.cri.sandbox-id", "p"}}).role == PodRole::Standalone);
  const PodMembership sandbox =
      pod_membership({{"io.kubernetes.cri.container-type", "sandbox"}, {"io.kubernetes.cri.sandbox-id", "p"}});
  CHECK(sandbox.role == PodRole::Sandbox);
  CHECK(sandbox.sandbox_id == "p");
  const PodMembership container =
      pod_membership({{"io.kubernetes.cri.container-type", "container"}, {"io.kubernetes.cri.sandbox-id", "p"}});
  CHECK(container.role == PodRole::Container);
  CHECK(container.sandbox_id == "p");
  // A sandbox task names itself as its pod; containers and standalone tasks are not checked.
  CHECK_NOTHROW(require_sandbox_names_itself(sandbox, "p"));
  CHECK_NOTHROW(require_sandbox_names_itself(container, "c1"));
  CHECK_NOTHROW(require_sandbox_names_itself(pod_membership(nullptr), "t"));
  try {
    require_sandbox_names_itself(sandbox, "q");
    FAIL("accepted");
  } catch (const shimcore::Error& error) {
    CHECK(error.kind() == shimcore::ErrorKind::FailedPrecondition);
    CHECK(std::string(error.what()) == "expected annotation 'io.kubernetes.cri.sandbox-id': 'q' got 'p'");
  }
  for (const auto& [annotations, text] : std::vector<std::pair<nlohmann::json, std::string>>{
           {{{"io.kubernetes.cri.container-type", "vm"}, {"io.kubernetes.cri.sandbox-id", "p"}},
            "unknown container type"},
           {{{"io.kubernetes.cri.container-type", "container"}}, "needs annotation io.kubernetes.cri.sandbox-id"},
           {{{"io.kubernetes.cri.container-type", 3}}, "must be a string"},
           {nlohmann::json::array(), "must be a JSON object"}}) {
    try {
      pod_membership(annotations);
      FAIL("accepted " << annotations.dump());
    } catch (const shimcore::Error& error) {
      CHECK(error.kind() == ErrorKind::InvalidArgument);
      CHECK_THAT(error.what(), ContainsSubstring(text));
    }
  }
}
