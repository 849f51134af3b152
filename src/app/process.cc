// SPDX-License-Identifier: Apache-2.0
// Process start-up, privilege drop, threads and signals; see process.h.
#include "app/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <thread>


#include "admin/stats_file.h"
#include "app/control.h"
#include "app/cpu_map.h"
#include "app/listeners.h"
#include "app/privileges.h"
#include "app/version.h"
#include "config/lexer.h"
#include "config/parser.h"
#include "config/server_edit.h"
#include "core/files.h"
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

}  // namespace

int run(const Options& o) {
  if (o.version) {
    std::cout << versionText(o.buildInfo);
    return 0;
  }
  if (o.condition) {
    // -cc: HAProxy's exit status convention (0 true, 1 false, 2 error).
    bool result = false;
    std::string error;
    if (!config::evaluateCondition(*o.condition, config::processEnvironment(), result, error)) {
      std::cerr << "sluice: cannot evaluate condition '" << *o.condition << "': " << error << "\n";
      return 2;
    }
    return result ? 0 : 1;
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
  // The runtime API's server changes a server state file kept (not for -c,
  // which checks the files alone).
  std::vector<config::ServerEdit> restoredEdits;
  if (!diag.hasErrors() && !o.check) restoredEdits = config::restoreServerEdits(*cfg, diag);
  std::shared_ptr<runtime::Runtime> rt;
  if (!diag.hasErrors()) {
    rt = runtime::build(cfg, diag);
  }
  // "zero-warning": warnings refuse the file as errors do (HAProxy's -c too).
  const bool zeroWarning = (cfg->global.zeroWarning || o.zeroWarning) && diag.warningCount() > 0;
  if (o.check) {
    if (!o.quiet || diag.hasErrors() || zeroWarning) std::cerr << diag.render();
    if (zeroWarning && !diag.hasErrors()) {
      std::cerr << "sluice: warnings found and 'zero-warning' (or -dW) is set; the configuration is refused.\n";
      return 1;
    }
    if (diag.hasErrors()) {
      std::cerr << "sluice: " << diag.errorCount() << " error" << (diag.errorCount() > 1 ? "s" : "")
                << " found in the configuration; nothing was started.\n";
      return 1;
    }
    if (!o.quiet) std::cout << "Configuration file is valid" << std::endl;
    return 0;
  }
  if (diag.hasErrors() || zeroWarning) {
    std::cerr << diag.render();
    std::cerr << (zeroWarning && !diag.hasErrors()
                      ? "sluice: warnings found and 'zero-warning' (or -dW) is set; nothing was started.\n"
                      : "sluice: fatal errors in the configuration; nothing was started.\n");
    return 1;
  }
  runtime::loadServerStates(*rt, diag);
  admin::loadStatsFile(*rt, diag);
  if (!o.quiet && !cfg->global.quiet && diag.warningCount() > 0) {
    std::cerr << diag.render();
  }

  // Descriptors: two per connection, plus listeners, pipes and logs.
  uint64_t listenerFds = 0;
  for (const auto& fe : rt->frontends) {
    for (const auto& b : fe->config->binds) listenerFds += (b.addresses.size() + b.inheritedFds.size()) * rt->nbthread;
  }
  uint64_t wanted = cfg->global.ulimitN ? *cfg->global.ulimitN
                                        : uint64_t{rt->maxconn} * 2 + listenerFds + 128 * rt->nbthread + 64;
  raiseFdLimit(wanted, cfg->global.ulimitN.has_value(), o);

  session::ProcessState process;
  process.maxconn.store(rt->maxconn);

  std::vector<std::unique_ptr<session::Worker>> workers;
  for (uint32_t i = 0; i < rt->nbthread; ++i) {
    workers.push_back(std::make_unique<session::Worker>(i, process, rt));
  }
  std::vector<session::Worker*> peers;
  for (auto& w : workers) peers.push_back(w.get());
  for (auto& w : workers) w->setPeers(peers);

  // cpu-map: the CPUs of each thread, bound when it starts; one CPU each
  // lets the listeners steer connections to the thread of their CPU when
  // tune.listener.cpu-steering asks for it.
  const std::vector<std::vector<uint32_t>> cpusOfThread = threadCpus(cfg->global.cpuMap, rt->nbthread, allowedCpus());

  // Bind everything before giving up privileges (ports below 1024).
  ListenerSet listeners;
  if (cfg->global.cpuSteering) listeners.steerByCpu(steeringCpus(cpusOfThread));
  listeners.takeActivatedSockets();  // systemd socket activation, if any
  std::vector<session::ListenerSpec> statsListeners;
  {
    ListenerSet::Plan plan;
    std::string error;
    if (!listeners.prepare(*rt, rt->nbthread, !cfg->global.noReusePort, plan, error)) {
      const bool outOfDescriptors = error.find(std::strerror(EMFILE)) != std::string::npos ||
                                    error.find(std::strerror(ENFILE)) != std::string::npos;
      std::cerr << error << "\n"
                << (error.find(": fd@") != std::string::npos
                        ? "  hint: fd@N names a TCP socket the parent process left open for sluice\n"
                    : outOfDescriptors
                        ? "  hint: each bind line takes one socket per thread (nbthread) besides the "
                          "connections: raise 'ulimit-n' in the global section or the service's LimitNOFILE\n"
                        : "  hint: is another process listening there, or is the port privileged?\n");
      return 1;
    }
    for (uint32_t t = 0; t < rt->nbthread; ++t) {
      workers[t]->replaceRuntime(rt, std::move(plan.perWorker[t]));
    }
    statsListeners = std::move(plan.admin);
    listeners.commit(std::move(plan));
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

  // The control thread's state, and the runtime API sockets, which may
  // need root to create (/run/haproxy/admin.sock).
  bool logToStderr = !o.quiet && !cfg->global.quiet && !daemonize;
  auto control = std::make_unique<Control>(o, process, workers, listeners, logToStderr);
  control->setServerEdits(std::move(restoredEdits));
  {
    std::string errors;
    if (!control->prepare(cfg, rt, std::move(statsListeners), errors)) {
      std::cerr << errors << "  hint: check the directory of the socket and its permissions\n";
      return 1;
    }
  }

  if (!cfg->global.chroot.empty()) {
    core::keepOutsideRoot();  // reloads read the files through it
    if (chroot(cfg->global.chroot.c_str()) != 0 || chdir("/") != 0) {
      std::cerr << cfg->global.where.toString() << ": error: cannot chroot to '"
                << cfg->global.chroot << "': " << std::strerror(errno) << "\n"
                << "  hint: create the directory, or run sluice as root\n";
      return 1;
    }
  }
  std::string warning;
  if (!dropPrivileges(identity, usesTransparentConnects(*cfg), error, warning)) {
    std::cerr << cfg->global.where.toString() << ": error: " << error << "\n";
    return 1;
  }
  if (!warning.empty()) say(o, "sluice: warning: " + warning);
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
  for (int s : {SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGHUP, SIGTTOU, SIGTTIN, SIGCHLD}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  std::vector<std::thread> threads;
  for (size_t i = 0; i < workers.size(); ++i) {
    session::Worker* wp = workers[i].get();
    const std::vector<uint32_t>& cpus = cpusOfThread[i];
    if (!cpus.empty()) {
      std::string list;
      for (uint32_t c : cpus) list += (list.empty() ? "" : ",") + std::to_string(c);
      rt->globalLogger.log(6, "thread " + std::to_string(i + 1) + " bound to CPU " + list);
    }
    threads.emplace_back([wp] { wp->run(); });
    if (!cpus.empty() && !bindThread(threads.back().native_handle(), cpus)) {
      rt->globalLogger.log(4, "cpu-map: cannot bind thread " + std::to_string(i + 1) + ": " + std::strerror(errno));
    }
  }
  if (listeners.steeredGroups() > 0) {
    rt->globalLogger.log(6, "cpu-map: new connections go to the thread of the CPU that received them (" +
                                std::to_string(listeners.steeredGroups()) + " listening addresses)");
  }
  for (const auto& fe : rt->frontends) {
    rt->globalLogger.log(5, "Proxy " + fe->name + " started.");
  }
  for (const auto& be : rt->backends) {
    if (!rt->findFrontend(be->name)) {
      rt->globalLogger.log(5, "Proxy " + be->name + " started.");
    }
  }
  for (int pid : o.softStopPids) kill(pid, SIGUSR1);
  for (int pid : o.hardStopPids) kill(pid, SIGTERM);
  if (o.verbose) say(o, "sluice: started with " + std::to_string(rt->nbthread) + " threads");

  // The control thread (this one): signals, reloads, health checks.
  bool chrooted = !cfg->global.chroot.empty();
  cfg.reset();
  rt.reset();
  control->run(set);
  // -W: HAProxy's master exits with 128 + the signal that stopped it.
  const int exitStatus = o.masterWorker && control->stopSignal() ? 128 + control->stopSignal() : 0;
  control.reset();
  for (auto& t : threads) t.join();
  workers.clear();
  if (!pidfile.empty() && !chrooted) unlink(pidfile.c_str());
  return exitStatus;
}

}  // namespace sluice::app
