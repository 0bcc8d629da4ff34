// containerd-shim-process-v2: process-isolated and host-process Windows containers.
#include "shimcore/shim/main.h"
#include "shimcore/sandbox_kind.h"

int main(int argc, char** argv) { return shimcore::shim::run(shimcore::process_kind(), argc, argv); }
