// containerd-shim-wcow-v2: Hyper-V isolated Windows containers in a Windows utility VM.
#include "shimcore/shim/main.h"
#include "shimcore/sandbox_kind.h"

int main(int argc, char** argv) { return shimcore::shim::run(shimcore::wcow_kind(), argc, argv); }
