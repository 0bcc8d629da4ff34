// Catch2 helper: the body must throw shimcore::Error of one kind whose message names what it should.
#pragma once

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <string>

#include "shimcore/errdefs.h"

namespace shimcore::testing {

template <typename Body>
void require_error(ErrorKind kind, const std::string& text, Body body) {
  try {
    body();
    FAIL("no error; wanted " << to_string(kind) << " mentioning " << text);
  } catch (const Error& error) {
    CHECK(error.kind() == kind);
    CHECK_THAT(error.what(), Catch::Matchers::ContainsSubstring(text));
  }
}

}  // namespace shimcore::testing
