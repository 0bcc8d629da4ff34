// containerd-shim-lcow-v2: Linux containers in a Linux utility VM.
#include "shimcore/shim/main.h"
#include "shimcore/sandbox_kind.h"

int main(int argc, char** argv) { return shimcore::shim::run(shimcore::lcow_kind(), argc, argv); }
