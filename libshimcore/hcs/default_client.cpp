// Picks this build's HCS backend.
#include <cstdlib>
#include <string_view>

#include "shimcore/hcs/emulator.h"

#ifdef _WIN32
#include "shimcore/hcs/computecore_client.h"
#endif

namespace shimcore::hcs {

std::unique_ptr<Client> make_default_client() {
#ifdef _WIN32
  // The emulator runs POSIX processes and is not built for Windows yet; computecore is the only backend there.
  return make_computecore_client();
#else
  return make_emulator_client(emulator_options_from_environment());
#endif
}

}  // namespace shimcore::hcs
