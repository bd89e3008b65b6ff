// Bindable module APIs, host lifecycle and identity (include/opensips/host.h).
// APIs are published at load/init time on the main thread and only read
// afterwards; a mutex still guards the table so a late lookup is safe.
#include "api/registry.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "opensips/dprint.h"
#include "opensips/host.h"
#include "opensips/version.h"

namespace shim {
namespace {
std::mutex g_api_mu;
std::map<std::string, const void *> g_apis;
std::vector<std::pair<shim_lifecycle_cb, void *>> g_lifecycle_cbs;
std::atomic<int> g_state{SHIM_STATE_NONE};
std::atomic<bool> g_stop{false};
long g_started = time(nullptr);
} // namespace

void lifecycle_set(int state)
{
	g_state.store(state);
	for (auto &cb : g_lifecycle_cbs)
		cb.first(state, cb.second);
}

void shim_request_stop()
{
	g_stop.store(true);
	kill(getpid(), SIGTERM);
}

void lifecycle_mark_stopping() { g_stop.store(true); }
void lifecycle_set_startup_time(long t) { g_started = t; }

} // namespace shim

using namespace shim;

extern "C" {

int shim_register_api(const char *name, const void *api)
{
	if (!name || !api)
		return -1;
	std::lock_guard<std::mutex> lk(g_api_mu);
	if (!g_apis.emplace(name, api).second) {
		LM_ERR("API '%s' is already registered", name);
		return -1;
	}
	return 0;
}

const void *shim_find_api(const char *name)
{
	if (!name)
		return nullptr;
	std::lock_guard<std::mutex> lk(g_api_mu);
	auto it = g_apis.find(name);
	return it == g_apis.end() ? nullptr : it->second;
}

int shim_add_lifecycle_cb(shim_lifecycle_cb cb, void *param)
{
	if (!cb)
		return -1;
	g_lifecycle_cbs.emplace_back(cb, param);
	return 0;
}

int shim_get_state(void) { return g_state.load(); }

int shim_should_stop(void) { return g_stop.load(std::memory_order_relaxed); }

const char *shim_server_version(void)
{
	return SHIM_NAME " (" SHIM_VERSION " (" SHIM_ARCH "/" SHIM_OS "))";
}

long shim_startup_time(void) { return g_started; }

} // extern "C"
