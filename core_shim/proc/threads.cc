#include "proc/threads.h"

#include <ev.h>

#include <atomic>
#include <condition_variable>
#include <list>
#include <mutex>
#include <set>
#include <thread>

#include "modules/loader.h"
#include "opensips/dprint.h"
#include "proc/roster.h"

namespace shim {
namespace {

struct managed_thread {
	int roster_id = 0;
	std::thread th;
	struct ev_loop *loop = nullptr;   // written by the thread before `ready`
	ev_async stop_watcher;
	bool ready = false;               // setup finished (guarded by g_mu)
	std::atomic<bool> done{false};    // left its loop, about to return
};

// Everything below is guarded by g_mu.
std::list<managed_thread> g_threads; // stable addresses
std::mutex g_mu;
std::condition_variable g_cv;
int g_pending = 0;
int g_failed = 0;
bool g_stopping = false;
std::set<int> g_joined;              // roster ids of reaped threads
std::atomic<int> g_next_rank{1};

void on_stop(struct ev_loop *loop, ev_async *, int) { ev_break(loop, EVBREAK_ALL); }

void thread_main(managed_thread *mt, int rank, bool child_init,
                 std::function<int()> setup, std::function<void()> teardown)
{
	roster_bind_self(mt->roster_id);
	proc_entry *self = roster_self();
	int rc = 0;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!loop) {
		rc = -1;
	} else {
		self->loop = loop;
		ev_async_init(&mt->stop_watcher, on_stop);
		ev_async_start(loop, &mt->stop_watcher);
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
		mt->loop = loop;
		mt->ready = true;
		g_pending--;
		if (rc < 0)
			g_failed++;
	}
	g_cv.notify_all();
	if (rc == 0) {
		ev_run(loop, 0);
		if (teardown)
			teardown();
	}
	self->running.store(false);
	mt->done.store(true);
}

void destroy_loop(managed_thread &mt)
{
	if (mt.loop) {
		proc_entry *e = roster_get(mt.roster_id);
		if (e)
			e->loop = nullptr;
		ev_loop_destroy(mt.loop);
		mt.loop = nullptr;
	}
}

} // namespace

int thread_spawn(int roster_id, int rank, bool child_init,
                 std::function<int()> setup, std::function<void()> teardown)
{
	std::lock_guard<std::mutex> lk(g_mu);
	if (g_stopping)
		return -1;
	g_joined.erase(roster_id);
	managed_thread &mt = g_threads.emplace_back();
	mt.roster_id = roster_id;
	g_pending++;
	mt.th = std::thread(thread_main, &mt, rank, child_init, std::move(setup),
	                    std::move(teardown));
	// Name the thread after its roster type (15 chars max for the kernel).
	std::string name = roster_get(roster_id)->type.substr(0, 15);
	pthread_setname_np(mt.th.native_handle(), name.c_str());
	return 0;
}

int threads_wait_ready()
{
	std::unique_lock<std::mutex> lk(g_mu);
	g_cv.wait(lk, [] { return g_pending == 0; });
	return g_failed ? -1 : 0;
}

int thread_retire(int roster_id)
{
	std::lock_guard<std::mutex> lk(g_mu);
	if (g_stopping)
		return -1;
	for (auto &mt : g_threads) {
		if (mt.roster_id != roster_id || mt.done.load())
			continue;
		if (!mt.ready || !mt.loop)
			return -1; // still starting (or failed): not retirable yet
		ev_async_send(mt.loop, &mt.stop_watcher);
		return 0;
	}
	return -1;
}

int threads_reap()
{
	std::list<managed_thread> finished;
	{
		std::lock_guard<std::mutex> lk(g_mu);
		if (g_stopping)
			return 0; // threads_stop_all owns the list now
		for (auto it = g_threads.begin(); it != g_threads.end();) {
			auto next = std::next(it);
			if (it->done.load() && it->ready)
				finished.splice(finished.end(), g_threads, it);
			it = next;
		}
	}
	// `done` is set as the thread's last action, so these joins are short.
	for (auto &mt : finished) {
		if (mt.th.joinable())
			mt.th.join();
		destroy_loop(mt);
	}
	std::lock_guard<std::mutex> lk(g_mu);
	for (auto &mt : finished)
		g_joined.insert(mt.roster_id);
	return (int)finished.size();
}

bool thread_joined(int roster_id)
{
	std::lock_guard<std::mutex> lk(g_mu);
	return g_joined.count(roster_id) > 0;
}

void threads_stop_all()
{
	std::unique_lock<std::mutex> lk(g_mu);
	g_stopping = true; // the list no longer grows
	g_cv.wait(lk, [] { return g_pending == 0; });
	for (auto &mt : g_threads)
		if (mt.loop && !mt.done.load())
			ev_async_send(mt.loop, &mt.stop_watcher);
	lk.unlock();
	for (auto &mt : g_threads)
		if (mt.th.joinable())
			mt.th.join();
	lk.lock();
	for (auto &mt : g_threads)
		destroy_loop(mt);
	g_threads.clear();
	g_joined.clear();
}

int proc_next_worker_rank() { return g_next_rank.fetch_add(1); }

} // namespace shim
