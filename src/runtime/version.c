/* The library version string, shared by the CLI and the server. */
#include "omni.h"

const char *omni_version(void) { return "0.1.0"; }
