// SPDX-License-Identifier: Apache-2.0
// Process start-up, privilege drop, threads and signals; see process.h.
#include "app/process.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <thread>

#ifdef SLUICE_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "config/parser.h"
#include "event/loop.h"
#include "health/checker.h"
#include "net/socket.h"
#include "runtime/runtime.h"
#include "session/worker.h"

namespace sluice::app {

namespace {

void say(const Options& o, const std::string& line) {
  if (!o.quiet) std::cerr << line << std::endl;
}

// Sets the descriptor limit: exactly `wanted` when the file says "ulimit-n"
// (which may lower it), otherwise at least `wanted`.
bool raiseFdLimit(uint64_t wanted, bool exact, const Options& o) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
  if (exact && rl.rlim_cur > wanted) {
    rl.rlim_cur = wanted;
    return setrlimit(RLIMIT_NOFILE, &rl) == 0;
  }
  if (rl.rlim_cur >= wanted) return true;
  rlimit want = rl;
  want.rlim_cur = wanted;
  if (want.rlim_max < wanted) want.rlim_max = wanted;  // works as root
  if (setrlimit(RLIMIT_NOFILE, &want) == 0) return true;
  want.rlim_max = rl.rlim_max;
  want.rlim_cur = std::min<rlim_t>(wanted, rl.rlim_max);
  setrlimit(RLIMIT_NOFILE, &want);
  say(o, "sluice: warning: the descriptor limit is " + std::to_string(want.rlim_cur) +
             ", below the " + std::to_string(wanted) +
             " that maxconn needs; connections beyond it will wait (raise 'ulimit-n')");
  return false;
}

struct Identity {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
};

// Names are resolved before chroot: /etc/passwd is not inside the jail.
bool resolveIdentity(const config::GlobalConfig& g, Identity& id, std::string& error) {
  if (!g.user.empty()) {
    passwd* pw = getpwnam(g.user.c_str());
    if (!pw) {
      error = "cannot find user id for '" + g.user + "'";
      return false;
    }
    id.uid = pw->pw_uid;
    if (g.group.empty() && !g.gid) id.gid = pw->pw_gid;
  }
  if (g.uid) id.uid = *g.uid;
  if (!g.group.empty()) {
    group* gr = getgrnam(g.group.c_str());
    if (!gr) {
      error = "cannot find group id for '" + g.group + "'";
      return false;
    }
    id.gid = gr->gr_gid;
  }
  if (g.gid) id.gid = *g.gid;
  return true;
}

bool dropPrivileges(const Identity& id, const Options& o, std::string& error) {
  if (id.uid == static_cast<uid_t>(-1) && id.gid == static_cast<gid_t>(-1)) return true;
  if (geteuid() != 0) {
    say(o, "sluice: warning: not running as root, so 'user'/'group' cannot be applied; "
           "staying as uid " + std::to_string(geteuid()));
    return true;
  }
  if (id.gid != static_cast<gid_t>(-1)) {
    if (setgroups(1, &id.gid) != 0 || setgid(id.gid) != 0) {
      error = "cannot set gid " + std::to_string(id.gid) + ": " + std::strerror(errno);
      return false;
    }
  }
  if (id.uid != static_cast<uid_t>(-1)) {
    if (setuid(id.uid) != 0) {
      error = "cannot set uid " + std::to_string(id.uid) + ": " + std::strerror(errno);
      return false;
    }
  }
  return true;
}

void notifySystemd(const Options& o, const char* state) {
#ifdef SLUICE_HAVE_SYSTEMD
  if (o.systemd) sd_notify(0, state);
#else
  (void)o;
  (void)state;
#endif
}

// Signals (through a signalfd) and the soft stop's end, on the control loop.
class Control final : public event::EventHandler, public event::Timer {
 public:
  Control(event::EventLoop& loop, const Options& o, std::shared_ptr<config::Config> cfg,
          std::shared_ptr<runtime::Runtime> rt, session::ProcessState& process,
          std::vector<std::unique_ptr<session::Worker>>& workers, const sigset_t& signals)
      : loop_(loop), o_(o), cfg_(std::move(cfg)), rt_(std::move(rt)), process_(process),
        workers_(workers) {
    fd_ = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  }
  ~Control() override {
    if (fd_ >= 0) close(fd_);
  }

  void start() { loop_.add(fd_, EPOLLIN, this); }

  void onEvents(uint32_t) noexcept override {
    signalfd_siginfo info{};
    while (read(fd_, &info, sizeof(info)) == sizeof(info)) {
      int sig = static_cast<int>(info.ssi_signo);
      if (sig == SIGINT || sig == SIGTERM) {
        notifySystemd(o_, "STOPPING=1");
        rt_->globalLogger.log(observe::kNotice, "sluice: stopping now (signal " + std::to_string(sig) + ")");
        stopAll();
        return;
      }
      if (sig == SIGUSR1 && !softStopping_) {
        notifySystemd(o_, "STOPPING=1");
        rt_->globalLogger.log(observe::kNotice, "sluice: soft stop: listeners closed, waiting for sessions to end");
        softStopping_ = true;
        process_.stopping.store(true);
        for (auto& w : workers_) w->softStop();
        if (cfg_->global.hardStopAfter) hardStopAt_ = loop_.now() + *cfg_->global.hardStopAfter;
        loop_.schedule(*this, loop_.now() + 100);
      }
      if (sig == SIGHUP || sig == SIGUSR2) {
        rt_->globalLogger.log(observe::kWarning,
                              "sluice: reload requested, but reloading is not available in this "
                              "version; the running configuration is unchanged");
      }
    }
  }

  // While soft-stopping: done when no session is left, or at hard-stop-after.
  void onTimer() noexcept override {
    if (process_.actconn.load() == 0) {
      stopAll();
      return;
    }
    if (hardStopAt_ && loop_.now() >= hardStopAt_) {
      rt_->globalLogger.log(observe::kNotice, "sluice: hard-stop-after reached, closing remaining sessions");
      stopAll();
      return;
    }
    loop_.schedule(*this, loop_.now() + 100);
  }

 private:
  void stopAll() {
    for (auto& w : workers_) w->stop();
    loop_.stop();
  }

  event::EventLoop& loop_;
  const Options& o_;
  std::shared_ptr<config::Config> cfg_;
  std::shared_ptr<runtime::Runtime> rt_;
  session::ProcessState& process_;
  std::vector<std::unique_ptr<session::Worker>>& workers_;
  int fd_ = -1;
  bool softStopping_ = false;
  uint64_t hardStopAt_ = 0;
};

}  // namespace

int run(const Options& o) {
  if (o.version) {
    std::cout << "sluice version " << SLUICE_VERSION
              << " - TLS passthrough load balancer (HAProxy 2.6 configuration dialect)\n";
    if (o.buildInfo) {
      std::cout << "Build options: C++20, epoll, splice, SO_REUSEPORT, PCRE2"
#ifdef SLUICE_HAVE_SYSTEMD
                << ", systemd"
#endif
                << "\n";
    }
    return 0;
  }
  if (!o.chdirTo.empty() && chdir(o.chdirTo.c_str()) != 0) {
    std::cerr << "sluice: cannot change to directory '" << o.chdirTo << "': " << std::strerror(errno) << "\n";
    return 1;
  }
  if (o.configFiles.empty()) {
    std::cerr << "sluice: no configuration file given\n" << usage();
    return 1;
  }

  core::Diagnostics diag;
  auto cfg = std::make_shared<config::Config>(config::loadConfig(o.configFiles, diag));
  if (o.maxconn > 0 && !cfg->global.maxconn) cfg->global.maxconn = static_cast<uint32_t>(o.maxconn);
  std::shared_ptr<runtime::Runtime> rt;
  if (!diag.hasErrors()) {
    rt = runtime::build(cfg, diag);
  }
  if (o.check) {
    std::cerr << diag.render();
    if (diag.hasErrors()) {
      std::cerr << "sluice: " << diag.errorCount() << " error" << (diag.errorCount() > 1 ? "s" : "")
                << " found in the configuration; nothing was started.\n";
      return 1;
    }
    std::cout << "Configuration file is valid" << std::endl;
    return 0;
  }
  if (diag.hasErrors()) {
    std::cerr << diag.render();
    std::cerr << "sluice: fatal errors in the configuration; nothing was started.\n";
    return 1;
  }
  if (!o.quiet && !cfg->global.quiet && diag.warningCount() > 0) {
    std::cerr << diag.render();
  }

  // Descriptors: two per connection, plus listeners, pipes and logs.
  uint64_t listenerFds = 0;
  for (const auto& fe : rt->frontends) {
    for (const auto& b : fe->config->binds) listenerFds += b.addresses.size() * rt->nbthread;
  }
  uint64_t wanted = cfg->global.ulimitN ? *cfg->global.ulimitN
                                        : uint64_t{rt->maxconn} * 2 + listenerFds + 128 * rt->nbthread + 64;
  raiseFdLimit(wanted, cfg->global.ulimitN.has_value(), o);

  session::ProcessState process;
  process.maxconn = rt->maxconn;

  std::vector<std::unique_ptr<session::Worker>> workers;
  for (uint32_t i = 0; i < rt->nbthread; ++i) {
    workers.push_back(std::make_unique<session::Worker>(i, process, rt));
  }

  // Bind everything before giving up privileges (ports below 1024).
  for (const auto& fe : rt->frontends) {
    for (const config::BindConfig& b : fe->config->binds) {
      for (const core::Address& a : b.addresses) {
        net::ListenOptions lo;
        lo.reusePort = !cfg->global.noReusePort;
        lo.v4v6 = b.v4v6;
        lo.v6only = b.v6only;
        lo.deferAccept = b.deferAccept;
        lo.transparent = b.transparent;
        lo.fastOpen = b.tfo;
        lo.interface = b.interface;
        lo.mss = b.mss ? static_cast<int>(*b.mss) : 0;
        lo.backlog = static_cast<int>(b.backlog ? *b.backlog
                                       : fe->config->backlog ? *fe->config->backlog
                                       : fe->maxconn ? std::max<uint32_t>(fe->maxconn, 1024) : 4096);
        uint32_t copies = lo.reusePort ? rt->nbthread : 1;
        for (uint32_t t = 0; t < copies; ++t) {
          std::string error;
          int fd = net::openListener(a, lo, error);
          if (fd < 0) {
            std::cerr << b.where.toString() << ": error: " << fe->config->kind << " '" << fe->name
                      << "': " << error << "\n"
                      << "  hint: is another process listening there, or is the port privileged?\n";
            return 1;
          }
          workers[t]->addListener(fd, fe.get(), b.acceptProxy);
        }
      }
    }
  }

  Identity identity;
  std::string error;
  if (!resolveIdentity(cfg->global, identity, error)) {
    std::cerr << cfg->global.where.toString() << ": error: " << error << "\n"
              << "  hint: create the user/group, or remove 'user'/'group' from the global section\n";
    return 1;
  }
  bool daemonize = (o.daemon || cfg->global.daemon) && !o.noDaemon && !o.debug;
  if (daemonize) {
    pid_t pid = fork();
    if (pid < 0) {
      std::cerr << "sluice: fork(): " << std::strerror(errno) << "\n";
      return 1;
    }
    if (pid > 0) {
      _exit(0);
    }
    setsid();
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      if (!o.debug) {
        dup2(devnull, 1);
        dup2(devnull, 2);
      }
      if (devnull > 2) close(devnull);
    }
  }

  std::string pidfile = !o.pidfile.empty() ? o.pidfile : cfg->global.pidfile;
  if (!pidfile.empty()) {
    std::ofstream pf(pidfile, std::ios::trunc);
    if (!pf) {
      std::cerr << "sluice: cannot write pid file '" << pidfile << "': " << std::strerror(errno) << "\n";
      return 1;
    }
    pf << getpid() << "\n";
  }

  if (!cfg->global.chroot.empty()) {
    if (chroot(cfg->global.chroot.c_str()) != 0 || chdir("/") != 0) {
      std::cerr << cfg->global.where.toString() << ": error: cannot chroot to '"
                << cfg->global.chroot << "': " << std::strerror(errno) << "\n"
                << "  hint: create the directory, or run sluice as root\n";
      return 1;
    }
  }
  if (!dropPrivileges(identity, o, error)) {
    std::cerr << cfg->global.where.toString() << ": error: " << error << "\n";
    return 1;
  }
  // A process that changed its uid is not dumpable: no core file, no ptrace.
  // "set-dumpable" asks for it back; sanitizer builds need it for their
  // leak check at exit.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  prctl(PR_SET_DUMPABLE, 1);
#endif
  if (cfg->global.setDumpable) prctl(PR_SET_DUMPABLE, 1);

  // Signals are taken by this thread only: block them before starting workers.
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGHUP, SIGTTOU, SIGTTIN}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  std::vector<std::thread> threads;
  for (auto& w : workers) {
    session::Worker* wp = w.get();
    threads.emplace_back([wp] { wp->run(); });
  }
  for (const auto& fe : rt->frontends) {
    rt->globalLogger.log(5, "Proxy " + fe->name + " started.");
  }
  for (const auto& be : rt->backends) {
    if (std::find_if(rt->frontends.begin(), rt->frontends.end(),
                     [&](const auto& f) { return f->name == be->name; }) == rt->frontends.end()) {
      rt->globalLogger.log(5, "Proxy " + be->name + " started.");
    }
  }
  for (int pid : o.softStopPids) kill(pid, SIGUSR1);
  for (int pid : o.hardStopPids) kill(pid, SIGTERM);
  notifySystemd(o, "READY=1");
  if (o.verbose) say(o, "sluice: started with " + std::to_string(rt->nbthread) + " threads");

  // The control thread (this one): signals and health checks, on its own
  // event loop so that nothing here ever runs on a worker.
  event::EventLoop control;
  Control ctl(control, o, cfg, rt, process, workers, set);
  health::HealthChecker checker(
      control, rt,
      [&workers](balance::ServerState* server, char cause) {
        for (auto& w : workers) w->killSessionsOn(server, cause);
      },
      /*logToStderr=*/!o.quiet && !cfg->global.quiet && !daemonize);
  checker.start();
  ctl.start();
  control.run();
  for (auto& t : threads) t.join();
  workers.clear();
  if (!pidfile.empty() && cfg->global.chroot.empty()) unlink(pidfile.c_str());
  return 0;
}

}  // namespace sluice::app
