#include "settings/globals.h"

namespace shim {

core_globals g_globals;

} // namespace shim
