// The Client interface's defaults: a backend without layer storage refuses it.
#include "shimcore/hcs/client.h"

#include "shimcore/errdefs.h"

namespace shimcore::hcs {

ContainerVolume Client::attach_container_storage(const std::string& id, const std::vector<std::string>&,
                                                 const std::string&) {
  throw make_error(ErrorKind::Unimplemented,
                   "container {}: this HCS backend cannot attach layer storage (computestorage's layer API is not "
                   "bound yet)",
                   id);
}

void Client::detach_container_storage(const std::string&) {}

}  // namespace shimcore::hcs
