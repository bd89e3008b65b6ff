// Include this instead of <cmocka.h> in C++ unit tests, and include it
// LAST: cmocka's header has no extern "C" guard, and its `fail()` macro
// breaks standard headers included after it, so the common standard
// headers are pulled in first here.
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include <cmocka.h>
}
