// Picks this build's HCS backend.
#include <cstdlib>
#include <string_view>
#include <utility>

#include "shimcore/hcs/emulator.h"

#ifdef _WIN32
#include "shimcore/hcs/computecore_client.h"
#endif

namespace shimcore::hcs {

std::unique_ptr<Client> make_default_client(std::string_view namespace_name) {
#ifdef _WIN32
  // The emulator runs POSIX processes and is not built for Windows yet; computecore is the only backend there.
  (void)namespace_name;
  return make_computecore_client();
#else
  EmulatorOptions options = emulator_options_from_environment();
  options.namespace_name = namespace_name;
  return make_emulator_client(std::move(options));
#endif
}

}  // namespace shimcore::hcs
