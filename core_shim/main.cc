// opensips-shim: the host. Startup order (design.md, decisions.md §1, §14):
//   roster/attendant -> core MI commands -> state INITIALIZING -> cfg parse
//   (auto-loads status_report, core_events, event_profiling) -> modules init
//   -> script fixups -> sockets -> startup_route -> threads (module procs in
//   reverse load order, timer, SIP receivers) -> state RUNNING -> wait for a
//   signal -> TERMINATING -> stop threads -> destroy modules.
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "api/hooks.h"
#include "api/registry.h"
#include "settings/globals.h"
#include "cfg/script.h"
#include "evi/evi_core.h"
#include "log/log.h"
#include "mem/pools.h"
#include "mi/mi_core.h"
#include "modules/loader.h"
#include "opensips/dprint.h"
#include "opensips/host.h"
#include "opensips/version.h"
#include "proc/autoscale.h"
#include "proc/roster.h"
#include "proc/threads.h"
#include "profiling/prof_core.h"
#include "net/resolve.h"
#include "net/send_datagrams.h"
#include "sip/sip_stats.h"
#include "sip/tcp_receiver.h"
#include "stats/stats.h"
#include "sip/udp_receiver.h"

using namespace shim;

namespace {

struct options {
	std::string cfg = "/etc/opensips/opensips.cfg";
	bool foreground = false;
	bool check_only = false;
	long shm_mb = 32;
	long pkg_mb = 4;
	std::string workdir;
	std::string pidfile;
};

void usage(FILE *out)
{
	fprintf(out,
	        "Usage: opensips-shim [options]\n"
	        "  -f FILE   configuration file (default /etc/opensips/opensips.cfg)\n"
	        "  -F        stay in the foreground\n"
	        "  -c        check the configuration file and exit\n"
	        "  -m MB     shared memory pool size (default 32)\n"
	        "  -M MB     private memory pool size per thread (default 4)\n"
	        "  -w DIR    working directory\n"
	        "  -P FILE   write the process id to FILE\n"
	        "  -V        print the version and exit\n"
	        "  -h        this help\n");
}

bool parse_size(const char *arg, long *out)
{
	char *end = nullptr;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (errno || !end || *end || v <= 0 || v > (1L << 20))
		return false;
	*out = v;
	return true;
}

int parse_options(int argc, char **argv, options &o)
{
	int c;
	opterr = 0;
	while ((c = getopt(argc, argv, ":f:Fcm:M:w:P:Vh")) != -1) {
		switch (c) {
		case 'f': o.cfg = optarg; break;
		case 'F': o.foreground = true; break;
		case 'c': o.check_only = true; break;
		case 'm':
			if (!parse_size(optarg, &o.shm_mb)) {
				fprintf(stderr, "bad -m value '%s': expected megabytes\n", optarg);
				return -1;
			}
			break;
		case 'M':
			if (!parse_size(optarg, &o.pkg_mb)) {
				fprintf(stderr, "bad -M value '%s': expected megabytes\n", optarg);
				return -1;
			}
			break;
		case 'w': o.workdir = optarg; break;
		case 'P': o.pidfile = optarg; break;
		case 'V':
			printf("version: %s\n", shim_server_version());
			printf("abi: %s\n", SHIM_ABI_STRING);
			exit(0);
		case 'h': usage(stdout); exit(0);
		case ':':
			fprintf(stderr, "option -%c needs a value\n", optopt);
			usage(stderr);
			return -1;
		default:
			fprintf(stderr, "unknown option -%c\n", optopt);
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return 0;
}

// Daemon mode: the parent waits on a pipe until the child is running (or
// dies) so its exit code tells whether startup worked.
int g_ready_fd = -1;

int daemonize()
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		char c = 0;
		ssize_t n = read(p[0], &c, 1);
		_exit(n == 1 && c == 'R' ? 0 : 1);
	}
	close(p[0]);
	g_ready_fd = p[1];
	setsid();
	return 0;
}

void signal_ready()
{
	if (g_ready_fd >= 0) {
		ssize_t n = write(g_ready_fd, "R", 1);
		(void)n;
		close(g_ready_fd);
		g_ready_fd = -1;
	}
}

void start_module_threads()
{
	const auto &mods = modules_list();
	for (auto it = mods.rbegin(); it != mods.rend(); ++it) {
		const module_exports *exp = (*it)->exp;
		if (!exp->procs)
			continue;
		for (const proc_export_t *p = exp->procs; p->name; p++) {
			if (p->pre_fork_f && p->pre_fork_f() < 0)
				LM_ERR("pre-fork of '%s' failed", p->name);
			for (unsigned int i = 0; i < p->no; i++) {
				int id = roster_add(p->name, PROC_TYPE_NONE);
				mod_proc fn = p->function;
				int rank = (int)i;
				thread_spawn(id, PROC_MODULE, p->flags & PROC_FLAG_INITCHILD,
				             [fn, rank]() {
					             if (fn)
						             fn(rank);
					             return 0;
				             });
			}
			if (p->post_fork_f && p->post_fork_f() < 0)
				LM_ERR("post-fork of '%s' failed", p->name);
		}
	}
}

// Frees what the cfg and the modules hold, in dependency order (script
// tree, MI table, then module handles), so leak checkers see a clean exit.
void release_everything()
{
	cfg_reset();
	mi_reset();
	modules_reset(false);
}

void write_pidfile(const std::string &path)
{
	if (path.empty())
		return;
	FILE *f = fopen(path.c_str(), "w");
	if (!f) {
		LM_ERR("cannot write pid file %s: %s", path.c_str(), strerror(errno));
		return;
	}
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
}

} // namespace

int main(int argc, char **argv)
{
	options o;
	if (parse_options(argc, argv, o) < 0)
		return 1;

	lifecycle_set_startup_time(time(nullptr));
	mi_set_argv(argc, argv);
	roster_bind_self(roster_add("attendant", PROC_TYPE_NONE));
	roster_self()->running.store(true);

	// Signals are taken synchronously by the attendant (sigwait below);
	// every thread inherits this mask. Nobody wants SIGPIPE.
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
	signal(SIGPIPE, SIG_IGN);

	pools_configure((size_t)o.shm_mb << 20, (size_t)o.pkg_mb << 20);
	mi_register_core_commands();
	// statistics: the host's groups first, in the reference's order; the
	// modules' come with their init, the threads' as they are added
	if (stats_mi_register() < 0 || mem_stats_register() < 0 || sip_stats_register() < 0 ||
	    dns_stats_register() < 0 || proc_stats_start_sampler() < 0) {
		fprintf(stderr, "ERROR: cannot register the host statistics\n");
		return 1;
	}
	if (evi_init() < 0) {
		fprintf(stderr, "ERROR: cannot initialise the Event Interface\n");
		return 1;
	}
	evi_stats_register();
	// Give back what bursts left free in malloc's arenas (threads.md).
	if (pools_start_trim_timer(10) < 0)
		return 1;
	log_register_mi();
	lifecycle_set(SHIM_STATE_INITIALIZING);

	std::string err;
	if (cfg_parse_file(o.cfg, err) < 0) {
		fprintf(stderr, "ERROR: bad config file: %s\n", err.c_str());
		return 1;
	}
	if (autoscale_validate(err) < 0) {
		fprintf(stderr, "ERROR: bad config file: %s\n", err.c_str());
		return 1;
	}
	log_apply_cfg();
	if (g_globals.udp_gso && udp_gso_stats_register() < 0) {
		fprintf(stderr, "ERROR: cannot register the net statistics\n");
		return 1;
	}
	pools_set_thresholds(g_globals.event_shm_threshold, g_globals.event_pkg_threshold);
	if (modules_init(err) < 0) {
		fprintf(stderr, "ERROR: module initialisation failed: %s\n", err.c_str());
		modules_destroy();
		return 1;
	}
	if (cfg_fixup(err) < 0) {
		fprintf(stderr, "ERROR: bad config file: %s\n", err.c_str());
		modules_destroy();
		return 1;
	}
	run_post_fixup_cbs();
	if (o.check_only) {
		fprintf(stderr, "config file ok, exiting...\n");
		modules_destroy();
		release_everything();
		return 0;
	}
	if (!o.workdir.empty() && chdir(o.workdir.c_str()) < 0) {
		fprintf(stderr, "ERROR: cannot chdir to %s: %s\n", o.workdir.c_str(),
		        strerror(errno));
		return 1;
	}
	if (udp_sockets_open(err) < 0 || tcp_sockets_open(err) < 0 ||
	    autoscale_setup(err) < 0) {
		fprintf(stderr, "ERROR: %s\n", err.c_str());
		modules_destroy();
		udp_sockets_close();
		tcp_sockets_close();
		return 1;
	}
	if (!o.foreground && daemonize() < 0) {
		fprintf(stderr, "ERROR: cannot fork: %s\n", strerror(errno));
		return 1;
	}
	write_pidfile(o.pidfile);

	script_run_startup();

	start_module_threads();
	thread_spawn(roster_add("timer", PROC_TYPE_TIMER), PROC_TIMER, true,
	             timer_thread_setup);
	udp_receivers_start();
	tcp_threads_start();
	// our own threads come last in the roster (decisions.md §14)
	if (evi_start_sender_thread() < 0)
		LM_CRIT("cannot start the EVI sender thread");
	if (prof_start_sender_thread() < 0)
		LM_CRIT("cannot start the profiling sender thread");
	proc_stats_register_globals();
	int rc = 0;
	if (threads_wait_ready() < 0) {
		LM_CRIT("a thread failed to start, shutting down");
		rc = 1;
	} else {
		lifecycle_set(SHIM_STATE_RUNNING);
		LM_INFO("%s started, %d threads", shim_server_version(), roster_size());
		signal_ready();
		for (;;) {
			int sig = 0;
			if (sigwait(&sigs, &sig) != 0)
				continue;
			if (sig == SIGHUP) {
				LM_INFO("SIGHUP received");
				run_sighup_cbs();
				continue;
			}
			LM_INFO("signal %d received, shutting down", sig);
			break;
		}
	}

	lifecycle_mark_stopping();
	lifecycle_set(SHIM_STATE_TERMINATING);
	if (rc == 0 && g_globals.shutdown_grace > 0) {
		// Listeners keep serving while probes learn we are going away; a
		// second signal ends the grace period early.
		timespec grace{g_globals.shutdown_grace / 1000,
		               (long)(g_globals.shutdown_grace % 1000) * 1000000L};
		sigtimedwait(&sigs, nullptr, &grace);
	}
	threads_stop_all();
	modules_destroy();
	udp_sockets_close();
	tcp_sockets_close();
	autoscale_reset();
	release_everything();
	if (!o.pidfile.empty())
		unlink(o.pidfile.c_str());
	return rc;
}
