#include "proc/threads.h"

#include <ev.h>

#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>

#include "modules/loader.h"
#include "opensips/dprint.h"
#include "proc/roster.h"

namespace shim {
namespace {

struct managed_thread {
	int roster_id = 0;
	std::thread th;
	struct ev_loop *loop = nullptr;
	ev_async stop_watcher;
};

std::list<managed_thread> g_threads; // stable addresses
std::mutex g_mu;
std::condition_variable g_cv;
int g_pending = 0;
int g_failed = 0;

void on_stop(struct ev_loop *loop, ev_async *, int) { ev_break(loop, EVBREAK_ALL); }

void thread_main(managed_thread *mt, int rank, bool child_init,
                 std::function<int()> setup)
{
	roster_bind_self(mt->roster_id);
	proc_entry *self = roster_self();
	int rc = 0;
	mt->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!mt->loop) {
		rc = -1;
	} else {
		self->loop = mt->loop;
		ev_async_init(&mt->stop_watcher, on_stop);
		ev_async_start(mt->loop, &mt->stop_watcher);
		if (child_init && modules_child_init(rank) < 0) {
			LM_ERR("child_init(%d) failed in '%s'", rank, self->type.c_str());
			rc = -1;
		}
		if (rc == 0 && setup && setup() < 0) {
			LM_ERR("setup of '%s' failed", self->type.c_str());
			rc = -1;
		}
	}
	self->running.store(rc == 0);
	{
		std::lock_guard<std::mutex> lk(g_mu);
		g_pending--;
		if (rc < 0)
			g_failed++;
	}
	g_cv.notify_all();
	if (rc == 0)
		ev_run(mt->loop, 0);
	self->running.store(false);
}

} // namespace

void thread_spawn(int roster_id, int rank, bool child_init,
                  std::function<int()> setup)
{
	managed_thread &mt = g_threads.emplace_back();
	mt.roster_id = roster_id;
	{
		std::lock_guard<std::mutex> lk(g_mu);
		g_pending++;
	}
	mt.th = std::thread(thread_main, &mt, rank, child_init, std::move(setup));
	// Name the thread after its roster type (15 chars max for the kernel).
	std::string name = roster_get(roster_id)->type.substr(0, 15);
	pthread_setname_np(mt.th.native_handle(), name.c_str());
}

int threads_wait_ready()
{
	std::unique_lock<std::mutex> lk(g_mu);
	g_cv.wait(lk, [] { return g_pending == 0; });
	return g_failed ? -1 : 0;
}

void threads_stop_all()
{
	threads_wait_ready();
	for (auto &mt : g_threads)
		if (mt.loop)
			ev_async_send(mt.loop, &mt.stop_watcher);
	for (auto &mt : g_threads)
		if (mt.th.joinable())
			mt.th.join();
	for (auto &mt : g_threads) {
		if (mt.loop) {
			roster_get(mt.roster_id)->loop = nullptr;
			ev_loop_destroy(mt.loop);
			mt.loop = nullptr;
		}
	}
	g_threads.clear();
}

} // namespace shim
