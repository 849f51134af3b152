// SPDX-License-Identifier: Apache-2.0
// Signals, reloads and the soft stop, on the control thread; see control.h.
#include "app/control.h"

#include <future>

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <sys/resource.h>

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <sstream>

#ifdef SLUICE_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "app/privileges.h"
#include "config/parser.h"
#include "core/strings.h"
#include "observe/log_sink.h"

namespace sluice::app {

namespace {

// The file's "stats socket" lines, plus the -S socket of the command line
// (Debian's haproxy.service passes "-S /run/haproxy-master.sock").
config::GlobalConfig withMasterSocket(const config::GlobalConfig& g, const Options& o) {
  if (o.masterSocket.empty()) return g;
  config::GlobalConfig out = g;
  config::StatsSocketConfig s;
  s.where = {"-S", 0};
  s.level = "admin";
  s.mode = 0600;
  s.master = true;
  std::vector<std::string_view> parts = core::split(o.masterSocket, ',');
  s.address = std::string(parts[0]);
  for (size_t i = 1; i + 1 < parts.size(); i += 2) {
    std::string key(parts[i]), value(parts[i + 1]);
    if (key == "mode") s.mode = static_cast<uint32_t>(std::strtoul(value.c_str(), nullptr, 8));
    else if (key == "level") s.level = value;
    else if (key == "user") s.user = value;
    else if (key == "group") s.group = value;
    else if (key == "uid") s.uid = value;
    else if (key == "gid") s.gid = value;
  }
  out.statsSockets.push_back(s);
  return out;
}

}  // namespace

Control::Control(const Options& o, session::ProcessState& process,
                 std::vector<std::unique_ptr<session::Worker>>& workers, ListenerSet& listeners,
                 bool logToStderr)
    : o_(o), process_(process), workers_(workers), listeners_(listeners), logToStderr_(logToStderr) {
  startedAt_ = static_cast<uint64_t>(time(nullptr));
  process_.serverErrors = [this](std::shared_ptr<balance::ServerLive> server, int lastError) {
    loop_.post([this, server, lastError] {
      if (checker_) checker_->passiveErrors(server.get(), lastError);
    });
  };
}

Control::~Control() {
  endpoints_.reset();
  checker_.reset();
  if (signalFd_ >= 0) close(signalFd_);
}

void Control::notify(const std::string& state) {
#ifdef SLUICE_HAVE_SYSTEMD
  if (o_.systemd) sd_notify(0, state.c_str());
#else
  (void)state;
#endif
}

void Control::log(int level, const std::string& message) {
  if (rt_) rt_->globalLogger.log(level, message);
  if (logToStderr_) {
    std::cerr << (level <= observe::kAlert     ? "[ALERT] "
                  : level <= observe::kWarning ? "[WARNING] "
                                               : "[NOTICE] ")
              << message << std::endl;
  }
}

bool Control::prepare(std::shared_ptr<const config::Config> cfg, std::shared_ptr<runtime::Runtime> rt,
                      std::vector<session::ListenerSpec> statsListeners, std::string& errors) {
  cfg_ = std::move(cfg);
  rt_ = std::move(rt);
  rt_->mailAlerts = &mail_;
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) == 0) hostname_ = host;
  endpoints_ = std::make_unique<admin::Endpoints>(loop_, *this);
  endpoints_->setHttpListeners(std::move(statsListeners));
  return endpoints_->configureCli(withMasterSocket(cfg_->global, o_), errors);
}

void Control::run(const sigset_t& signals) {
  signalFd_ = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  loop_.add(signalFd_, EPOLLIN, static_cast<event::EventHandler*>(this));
  dns_ = std::make_unique<resolve::DnsResolver>(loop_, [this] { dnsChanged(); });
  dns_->configure(*cfg_);
  peers_ = std::make_unique<peers::PeersService>(loop_, [this](int level, const std::string& m) { log(level, m); });
  peers_->configure(*cfg_, localPeerName(), rt_, rt_->tables);
  startChecks();
  programs_.apply(cfg_->programs);
  notify("READY=1");
  loop_.run();
  programs_.stopAll();
}

std::vector<admin::ProgramInfo> Control::programs() const {
  std::vector<admin::ProgramInfo> out;
  for (const ProgramStatus& p : programs_.list()) {
    out.push_back({static_cast<uint64_t>(p.pid), p.name, p.startedAt, p.reloads});
  }
  return out;
}

void Control::startChecks() {
  retireChecker();
  checker_ = std::make_unique<health::HealthChecker>(
      loop_, rt_, [this](balance::ServerState* server, char cause) { killSessionsOn(server, cause); },
      logToStderr_);
  checker_->start();
}

// Called from event handlers: events of this loop iteration may still point
// at the checker's sockets, so it is stopped now and destroyed once the
// batch is over.
void Control::retireChecker() {
  if (!checker_) return;
  checker_->stop();
  std::shared_ptr<health::HealthChecker> old(std::move(checker_));
  loop_.post([old] {});
}

void Control::killSessionsOn(balance::ServerState* server, char cause) {
  for (auto& w : workers_) w->killSessionsOn(server, cause);
}

admin::ProcessFacts Control::facts() const {
  admin::ProcessFacts f;
  f.pid = static_cast<uint64_t>(getpid());
  f.startedAt = startedAt_;
  f.reloads = reloads_;
  f.rebuilds = rebuilds_;
  f.inPlaceChanges = inPlaceChanges_;
  f.threads = static_cast<uint32_t>(workers_.size());
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) f.fdLimit = rl.rlim_cur;
  f.stopping = softStopping_;
  f.listeningSockets = listeners_.socketCount();
  f.node = cfg_ && !cfg_->global.node.empty() ? cfg_->global.node : hostname_;
  f.description = cfg_ ? cfg_->global.description : std::string();
  return f;
}

namespace {

// Answers gathered from the workers; outlives a wait that timed out.
template <typename T>
struct Gather {
  std::mutex mutex;
  std::condition_variable done;
  size_t answers = 0;
  T value{};
};

constexpr auto kWorkerAnswerTimeout = std::chrono::seconds(1);

}  // namespace

std::vector<session::SessionInfo> Control::sessions() {
  auto g = std::make_shared<Gather<std::vector<session::SessionInfo>>>();
  for (auto& w : workers_) {
    w->describeSessions([g](std::vector<session::SessionInfo> list) {
      std::lock_guard<std::mutex> lock(g->mutex);
      g->value.insert(g->value.end(), std::make_move_iterator(list.begin()), std::make_move_iterator(list.end()));
      ++g->answers;
      g->done.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(g->mutex);
  g->done.wait_for(lock, kWorkerAnswerTimeout, [&] { return g->answers == workers_.size(); });
  return g->value;
}

bool Control::shutdownSession(uint64_t id) {
  auto g = std::make_shared<Gather<bool>>();
  for (auto& w : workers_) {
    w->shutdownSession(id, [g](bool found) {
      std::lock_guard<std::mutex> lock(g->mutex);
      g->value = g->value || found;
      ++g->answers;
      g->done.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(g->mutex);
  g->done.wait_for(lock, kWorkerAnswerTimeout, [&] { return g->value || g->answers == workers_.size(); });
  return g->value;
}

void Control::serverChanged(runtime::Backend& backend) {
  // A server that became usable may take connections waiting for a slot.
  for (size_t i = 0, n = backend.queue->size(); i < n && i < 4096; ++i) backend.queue->wakeOne();
}

void Control::onEvents(uint32_t) noexcept {
  signalfd_siginfo info{};
  while (read(signalFd_, &info, sizeof(info)) == sizeof(info)) {
    int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGCHLD) {
      programs_.reap();
      continue;
    }
    if (sig == SIGINT || sig == SIGTERM) {
      stopSignal_ = sig;
      log(observe::kNotice, "sluice: stopping now (signal " + std::to_string(sig) + ")");
      stopNow();
      return;
    }
    if (sig == SIGUSR1) softStop();
    if (sig == SIGHUP || sig == SIGUSR2) {
      std::string report;
      reload(sig == SIGHUP ? "SIGHUP" : "SIGUSR2", report);
    }
  }
}

bool Control::reload(const std::string& why, std::string& report) {
  if (softStopping_) {
    report = "not reloading: the process is stopping\n";
    return false;
  }
  struct timespec mono {};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  notify("RELOADING=1\nMONOTONIC_USEC=" +
         std::to_string(uint64_t(mono.tv_sec) * 1000000 + uint64_t(mono.tv_nsec) / 1000));
  log(observe::kNotice, "sluice: reloading the configuration (" + why + ")");

  // Files root may own and ports below 1024: what root could do at start.
  ReloadPrivilege privilege;
  core::Diagnostics diag;
  auto cfg = std::make_shared<config::Config>(config::loadConfig(o_.configFiles, diag));
  if (o_.maxconn > 0 && !cfg->global.maxconn) cfg->global.maxconn = static_cast<uint32_t>(o_.maxconn);
  // What was changed through the runtime API stands, unless the files now
  // say otherwise about the same server.
  std::vector<config::ServerEdit> kept;
  std::string dropped;
  if (!diag.hasErrors()) {
    for (config::ServerEdit e : edits_) {
      std::string why;
      if (!config::serverEditStillApplies(*cfg, e, why) || !config::applyServerEdit(*cfg, e).empty()) {
        dropped += "runtime API change to " + e.backend + "/" + e.server + " dropped: " +
                   (why.empty() ? std::string("it no longer applies") : why) + "\n";
        continue;
      }
      kept.push_back(std::move(e));
    }
  }
  // Servers keep what DNS gave them until it says otherwise.
  if (dns_ && !diag.hasErrors()) dns_->applyTo(*cfg);
  if (!install(cfg, diag, /*fromFiles=*/true, report)) return false;
  edits_ = std::move(kept);
  if (dns_) dns_->configure(*cfg_);
  if (peers_) peers_->configure(*cfg_, localPeerName(), rt_, rt_->tables);
  if (!dropped.empty()) {
    std::istringstream lines(dropped);
    for (std::string line; std::getline(lines, line);) log(observe::kWarning, "sluice: " + line);
    report = dropped + report;
  }
  return true;
}

std::string Control::editServer(config::ServerEdit edit) {
  if (softStopping_) return "The process is stopping.\n";
  auto cfg = std::make_shared<config::Config>(*cfg_);
  std::string error = config::applyServerEdit(*cfg, edit);
  if (!error.empty()) return error;
  if (edit.kind == config::ServerEdit::Kind::Address && applyAddressInPlace(*cfg, edit)) {
    cfg_ = cfg;
    edits_.push_back(std::move(edit));
    return {};
  }
  core::Diagnostics diag;
  std::string report;
  if (!install(cfg, diag, /*fromFiles=*/false, report)) return report;
  if (dns_) dns_->configure(*cfg_);  // an added server may name resolvers
  const std::string name = edit.backend + "/" + edit.server;
  if (edit.kind == config::ServerEdit::Kind::Delete) {
    // A server the runtime API added leaves no trace: its changes go with it.
    bool added = false;
    std::erase_if(edits_, [&](const config::ServerEdit& e) {
      bool same = e.backend == edit.backend && e.server == edit.server;
      if (same && e.kind == config::ServerEdit::Kind::Add) added = true;
      return same;
    });
    if (!added) edits_.push_back(std::move(edit));
  } else {
    edits_.push_back(std::move(edit));
  }
  log(observe::kNotice, "sluice: server " + name + " changed through the runtime API");
  return {};
}

// "set server addr": the running server moves at once (sessions queued or
// retrying included), as a DNS answer moves it; no new runtime. False when
// the server is not in the running runtime as the edit expects.
bool Control::applyAddressInPlace(const config::Config& cfg, const config::ServerEdit& edit) {
  runtime::Backend* be = rt_->findBackend(edit.backend);
  balance::ServerState* s = be ? be->findServer(edit.server) : nullptr;
  const config::ProxyConfig* pc = nullptr;
  for (const config::ProxyConfig& p : cfg.proxies) {
    if (p.isBackend && p.name == edit.backend) pc = &p;
  }
  const config::ServerConfig* sc = nullptr;
  if (pc) {
    for (const config::ServerConfig& c : pc->servers) {
      if (c.name == edit.server) sc = &c;
    }
  }
  if (!s || !sc || sc->portFromClient != s->portFromClient) return false;
  if (runtime::moveServer(*s, sc->address, sc->hasAddress) && (s->checked || sc->agentCheck)) startChecks();
  ++inPlaceChanges_;
  log(observe::kNotice, "sluice: server " + edit.backend + "/" + edit.server + " changed through the runtime API");
  return true;
}

// -L, else "localpeer", else the host name, as HAProxy names itself.
std::string Control::localPeerName() const {
  if (!o_.localPeer.empty()) return o_.localPeer;
  if (!cfg_->global.localPeer.empty()) return cfg_->global.localPeer;
  return hostname_;
}

std::string Control::showResolvers(const std::string& section, std::string& error) const {
  if (!dns_) {
    error = "Can't find resolvers section.\n";
    return {};
  }
  return dns_->show(section, error);
}

std::vector<admin::ResolverRow> Control::resolverCounters() const {
  std::vector<admin::ResolverRow> out;
  if (!dns_) return out;
  for (const auto& r : dns_->counters()) {
    const auto& c = r.counters;
    out.push_back({r.section, r.nameserver, c.sent, c.valid, c.update, c.nx, c.timeout, c.refused, c.other, c.invalid,
                   c.outdated});
  }
  return out;
}

// DNS gave servers other addresses (or none, or SRV weights): applied in
// place to the running servers, without a new runtime, so that a name
// whose answers change every round costs no rebuild and no listener swap.
// The configuration kept for later changes and reloads takes them too.
void Control::dnsChanged() {
  if (softStopping_) return;
  auto cfg = std::make_shared<config::Config>(*cfg_);
  dns_->applyTo(*cfg);
  // An SRV record gives a server without a port its first port: that is
  // the shape of the server, not only its place, and takes a new runtime.
  bool reshaped = false;
  for (const config::ProxyConfig& pc : cfg->proxies) {
    runtime::Backend* be = pc.isBackend ? rt_->findBackend(pc.name) : nullptr;
    for (const config::ServerConfig& sc : pc.servers) {
      const balance::ServerState* s = be ? be->findServer(sc.name) : nullptr;
      reshaped = reshaped || (be && (!s || s->portFromClient != sc.portFromClient));
    }
  }
  if (reshaped) {
    core::Diagnostics diag;
    std::string report;
    if (install(cfg, diag, /*fromFiles=*/false, report)) {
      log(observe::kNotice, "sluice: servers changed by DNS resolution");
    }
    return;
  }
  size_t moved = 0;
  bool checks = false;
  for (const config::ProxyConfig& pc : cfg->proxies) {
    runtime::Backend* be = pc.isBackend ? rt_->findBackend(pc.name) : nullptr;
    if (!be) continue;
    for (const config::ServerConfig& sc : pc.servers) {
      balance::ServerState* s = be->findServer(sc.name);
      if (!s) continue;
      const bool wasResolved = s->resolved();
      const bool changed = runtime::moveServer(*s, sc.address, sc.hasAddress) || wasResolved != sc.hasAddress;
      // An SRV record's weight, unless the runtime API set one.
      if (sc.weight != s->configWeight && !s->live->weightSetLive.load()) s->weight.store(sc.weight);
      if (!changed) continue;
      ++moved;
      checks = checks || s->checked || (be->serverConfigs[s->position]->agentCheck);
    }
  }
  cfg_ = cfg;
  ++inPlaceChanges_;
  // Checks follow the live address; one that starts or stops with its
  // server's resolution needs the checker started again (health carries over).
  if (checks) startChecks();
  log(observe::kNotice, "sluice: " + std::to_string(moved) + " server(s) changed by DNS resolution, in place");
}

bool Control::install(std::shared_ptr<config::Config> cfg, core::Diagnostics& diag, bool fromFiles,
                      std::string& report) {
  auto refuse = [&](const std::string& text) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) log(observe::kAlert, line);
    }
    const std::string what = fromFiles ? "reload refused" : "change refused";
    log(observe::kAlert, "sluice: " + what + "; the running configuration is unchanged");
    report += text + what + "; the running configuration is unchanged\n";
    if (fromFiles) notify("READY=1");
    return false;
  };
  std::shared_ptr<runtime::Runtime> rt;
  if (!diag.hasErrors()) rt = runtime::build(cfg, diag, rt_.get());
  if (rt && !fromFiles) {
    // The running process's thread count, whatever the files say now.
    rt->nbthread = static_cast<uint32_t>(workers_.size());
  }
  if (!rt || diag.hasErrors()) return refuse(diag.render());
  rt->mailAlerts = &mail_;
  if ((cfg->global.zeroWarning || o_.zeroWarning) && diag.warningCount() > 0) {
    return refuse(diag.render() + "warnings found and 'zero-warning' is set\n");
  }
  report = diag.render();
  if (rt->nbthread != workers_.size()) {
    std::string msg = "'nbthread " + std::to_string(rt->nbthread) +
                      "' takes effect at the next restart; keeping " + std::to_string(workers_.size()) +
                      " threads";
    log(observe::kWarning, "sluice: " + msg);
    report += "warning: " + msg + "\n";
    rt->nbthread = static_cast<uint32_t>(workers_.size());
  }
  if (cfg->global.cpuMap != cfg_->global.cpuMap || cfg->global.cpuSteering != cfg_->global.cpuSteering) {
    // Threads keep their binding, and the listening sockets their steering.
    std::string msg = "changes to cpu-map and tune.listener.cpu-steering take effect at the next restart";
    log(observe::kWarning, "sluice: " + msg);
    report += "warning: " + msg + "\n";
  }
  if (cfg->global.chroot != cfg_->global.chroot || cfg->global.user != cfg_->global.user ||
      cfg->global.uid != cfg_->global.uid || cfg->global.group != cfg_->global.group ||
      cfg->global.gid != cfg_->global.gid) {
    std::string msg = "changes to chroot, user or group take effect at the next restart";
    log(observe::kWarning, "sluice: " + msg);
    report += "warning: " + msg + "\n";
  }

  ListenerSet::Plan plan;
  std::string error;
  bool prepared = listeners_.prepare(*rt, static_cast<uint32_t>(workers_.size()),
                                     !cfg->global.noReusePort, plan, error);
  if (!prepared) return refuse(error + "\n");

  // From here on the new configuration replaces the old one.
  runtime::adoptLiveState(*rt, *rt_);
  process_.maxconn.store(rt->maxconn);
  std::vector<std::future<void>> switched;
  for (size_t t = 0; t < workers_.size(); ++t) {
    switched.push_back(workers_[t]->replaceRuntime(rt, std::move(plan.perWorker[t])));
  }
  // The reload is reported done (to the API, to systemd) once every worker
  // accepts with the new configuration, so that the next connection an
  // operator makes sees it. A worker answers within one loop turn; the
  // bound only guards against a wedged one.
  for (auto& f : switched) f.wait_for(std::chrono::seconds(2));
  std::vector<session::ListenerSpec> statsListeners = std::move(plan.admin);
  listeners_.commit(std::move(plan));
  cfg_ = cfg;
  rt_ = rt;
  endpoints_->setHttpListeners(std::move(statsListeners));
  std::string cliErrors;
  if (!endpoints_->configureCli(withMasterSocket(cfg_->global, o_), cliErrors)) {
    std::istringstream lines(cliErrors);
    for (std::string line; std::getline(lines, line);) log(observe::kAlert, line);
    report += cliErrors;
  }
  startChecks();
  if (!fromFiles) {
    ++rebuilds_;
    return true;
  }
  programs_.apply(cfg_->programs);
  ++reloads_;
  log(observe::kNotice, "sluice: configuration reloaded (" + std::to_string(rt->frontends.size()) +
                            " frontends, " + std::to_string(rt->backends.size()) + " backends, " +
                            std::to_string(listeners_.socketCount()) + " listening sockets)");
  report += "configuration reloaded\n";
  notify("READY=1");
  return true;
}


void Control::softStop() {
  if (softStopping_) return;
  notify("STOPPING=1");
  log(observe::kNotice, "sluice: soft stop: listeners closed, waiting for sessions to end");
  softStopping_ = true;
  process_.stopping.store(true);
  for (auto& w : workers_) w->softStop();
  listeners_.closeAll();
  if (endpoints_) endpoints_->closeHttpListeners();
  if (cfg_->global.hardStopAfter) hardStopAt_ = loop_.now() + *cfg_->global.hardStopAfter;
  loop_.schedule(*this, loop_.now() + 100);
}

void Control::stopNow() {
  notify("STOPPING=1");
  mail_.stop();
  retireChecker();
  if (endpoints_) {
    endpoints_->shutdown();
    std::shared_ptr<admin::Endpoints> old(std::move(endpoints_));
    loop_.post([old] {});
  }
  for (auto& w : workers_) w->stop();
  listeners_.closeAll();
  loop_.stop();
}

// While soft-stopping: done when no session is left, or at hard-stop-after.
void Control::onTimer() noexcept {
  if (process_.actconn.load() == 0) {
    stopNow();
    return;
  }
  if (hardStopAt_ && loop_.now() >= hardStopAt_) {
    log(observe::kNotice, "sluice: hard-stop-after reached, closing remaining sessions");
    stopNow();
    return;
  }
  loop_.schedule(*this, loop_.now() + 100);
}

}  // namespace sluice::app
