// The errdefs kind <-> status code table, row by row, as containerd's errgrpc package defines it.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>

#include "shimcore/errdefs.h"

using shimcore::ErrorKind;
using shimcore::StatusCode;

TEST_CASE("every errdefs kind maps to containerd's status code", "[errdefs]") {
  const auto [kind, code] = GENERATE(table<ErrorKind, int>({
      {ErrorKind::Unknown, 2},
      {ErrorKind::InvalidArgument, 3},
      {ErrorKind::NotFound, 5},
      {ErrorKind::AlreadyExists, 6},
      {ErrorKind::PermissionDenied, 7},
      {ErrorKind::ResourceExhausted, 8},
      {ErrorKind::FailedPrecondition, 9},
      {ErrorKind::Conflict, 9},
      {ErrorKind::NotModified, 9},
      {ErrorKind::Aborted, 10},
      {ErrorKind::OutOfRange, 11},
      {ErrorKind::Unimplemented, 12},
      {ErrorKind::Internal, 13},
      {ErrorKind::Unavailable, 14},
      {ErrorKind::DataLoss, 15},
      {ErrorKind::Unauthenticated, 16},
      {ErrorKind::Canceled, 1},
      {ErrorKind::DeadlineExceeded, 4},
  }));
  CAPTURE(shimcore::to_string(kind));
  CHECK(static_cast<int>(shimcore::to_status_code(kind)) == code);
}

TEST_CASE("the table covers every kind and never yields OK", "[errdefs]") {
  for (ErrorKind kind : shimcore::kAllErrorKinds) {
    CAPTURE(shimcore::to_string(kind));
    CHECK(shimcore::to_status_code(kind) != StatusCode::Ok);
    CHECK_FALSE(shimcore::to_string(kind).empty());
  }
}

TEST_CASE("status codes come back as the kind that sent them", "[errdefs]") {
  for (ErrorKind kind : shimcore::kAllErrorKinds) {
    // Conflict and NotModified share FailedPrecondition on the wire, as in containerd.
    const ErrorKind expected =
        (kind == ErrorKind::Conflict || kind == ErrorKind::NotModified) ? ErrorKind::FailedPrecondition : kind;
    CAPTURE(shimcore::to_string(kind));
    CHECK(shimcore::from_status_code(static_cast<int>(shimcore::to_status_code(kind))) == expected);
  }
  CHECK(shimcore::from_status_code(0) == ErrorKind::Unknown);
  CHECK(shimcore::from_status_code(99) == ErrorKind::Unknown);
  CHECK(shimcore::from_status_code(-1) == ErrorKind::Unknown);
}

TEST_CASE("make_error formats the message and keeps the kind", "[errdefs]") {
  const shimcore::Error error = shimcore::make_error(ErrorKind::NotFound, "task {} not found", "t1");
  CHECK(error.kind() == ErrorKind::NotFound);
  CHECK(std::string(error.what()) == "task t1 not found");
}
