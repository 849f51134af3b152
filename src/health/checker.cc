// SPDX-License-Identifier: Apache-2.0
// Health checks on the control loop; see checker.h.
#include "health/checker.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <random>

#include "config/dialect.h"
#include "core/strings.h"
#include "health/protocols.h"
#include "health/tls_probe.h"
#include "net/socket.h"
#include "net/udp.h"
#include "proto/proxy_protocol.h"
#include "proto/quic_initial.h"
#include "proto/socks4.h"

namespace sluice::health {

std::string socketErrorText(int err) {
  if (!config::dialectAtLeast(3, 1)) return std::strerror(err);
  // HAProxy 3.1 and later name the common errors of connect/recv/send first.
  const char* name = nullptr;
  switch (err) {
    case ECONNREFUSED: name = "ECONNREFUSED"; break;
    case ECONNRESET: name = "ECONNRESET"; break;
    case EHOSTUNREACH:
    case ENETUNREACH: name = "ENETUNREACH"; break;
    case ENOMEM: name = "ENOMEM"; break;
    case EBADF: name = "EBADF"; break;
    case EFAULT: name = "EFAULT"; break;
    case EINVAL: name = "EINVAL"; break;
    case ENOTCONN: name = "ENCONN"; break;
    case ENOTSOCK: name = "ENSOCK"; break;
    case ENOBUFS: name = "ENOBUFS"; break;
    case EPIPE: name = "EPIPE"; break;
    default: return std::strerror(err);
  }
  return std::string(name) + " returned by OS (" + std::strerror(err) + ")";
}

std::string_view reasonText(const std::string& code) {
  if (code == "L4OK") return "Layer4 check passed";
  if (code == "L4TOUT") return "Layer4 timeout";
  if (code == "L4CON") return "Layer4 connection problem";
  if (code == "L6OK") return "Layer6 check passed";
  if (code == "L6TOUT") return "Layer6 timeout";
  if (code == "L6RSP") return "Layer6 invalid response";
  if (code == "L7OK") return "Layer7 check passed";
  if (code == "L7TOUT") return "Layer7 timeout";
  if (code == "L7RSP") return "Layer7 invalid response";
  if (code == "L7STS") return "Layer7 wrong status";
  if (code == "HANA") return "Health analyze";
  if (code == "PROCOK") return "External check passed";
  if (code == "PROCERR") return "External check error";
  if (code == "PROCTOUT") return "External check timeout";
  return "Socket error";
}

class ServerCheck final : public event::EventHandler, public event::Timer {
 public:
  ServerCheck(HealthChecker& hc, runtime::Backend& be, balance::ServerState& server,
              std::shared_ptr<const ServerCheckSpec> spec, uint32_t slowstart)
      : hc_(hc), be_(be), server_(server), spec_(std::move(spec)), slowstart_(slowstart) {
    // After a reload the server's health carries over; so does the check's
    // view of it, so that a DOWN server needs "rise" successes again. With
    // the same rise and fall, so do the results counted so far: a runtime
    // that is rebuilt more often than "fall" checks take must not keep a
    // failing server up (nor a recovering one down).
    up_ = server_.up.load();
    balance::ServerLive& live = *server_.live;
    if (live.checkRise == spec_->rise && live.checkFall == spec_->fall && live.checkDueAt) {
      passed_ = up_ ? 0 : std::min(live.checkPassed, spec_->rise - 1);
      failed_ = up_ ? std::min(live.checkFailed, spec_->fall - 1) : 0;
    } else if (!live.checkDueAt) {
      // Never checked: HAProxy's start ("init-state"). By default a server
      // is UP, but its first failed check takes it DOWN.
      const std::string& init = spec_->initState;
      if (up_) failed_ = init == "fully-up" ? 0 : spec_->fall - 1;
      if (!up_ && init == "down") passed_ = spec_->rise - 1;
    }
    live.checkRise = spec_->rise;
    live.checkFall = spec_->fall;
    live.checkHealth = up_ ? spec_->rise + spec_->fall - 1 - failed_ : passed_;
    // A slow start under way goes on, over the same "slowstart".
    const uint64_t now = hc_.loop_.now();
    if (up_ && slowstart_ && live.rampUntil > now && live.rampUntil - live.rampFrom == slowstart_) {
      rampFrom_ = live.rampFrom;
      rampUntil_ = live.rampUntil;
      updateRamp(now);
    } else {
      live.rampFrom = live.rampUntil = 0;
    }
  }
  ~ServerCheck() override { closeConnection(); }

  // No more timers, no connection: events already fetched for this check
  // find fd_ < 0 and do nothing.
  void quiesce() {
    hc_.loop_.cancel(*this);
    closeConnection();
  }

  balance::ServerState& server() { return server_; }
  runtime::Backend& backend() { return be_; }
  bool up() const { return up_; }

  // "on-error" after error-limit failed connections in a row: fastinter
  // checks, and a failed check (fail-check), all but the last one
  // (sudden-death) or all of them (mark-down).
  void passiveFailure(const std::string& action, uint32_t errors, int lastError) {
    const uint32_t limit = be_.serverConfigs[server_.position]->errorLimit;
    const std::string last = lastError == ETIMEDOUT ? "L4 timeout" : "L4 unsuccessful connection";
    CheckResult r{false, "HANA", "Detected " + std::to_string(errors ? errors : limit) +
                                     " consecutive errors, last one was: " + last, 0};
    if (action != "fastinter" && up_) {
      uint32_t before = failed_;
      if (action == "fail-check") failed_ = failed_ + 1;
      if (action == "sudden-death") failed_ = std::max(failed_, spec_->fall > 1 ? spec_->fall - 1 : 1);
      if (action == "mark-down") failed_ = spec_->fall;
      passed_ = 0;
      if (failed_ != before && be_.logHealthChecks) {
        const bool stillUp = failed_ < spec_->fall;
        hc_.logFor(be_, observe::kNotice,
                   "Health check for server " + be_.name + "/" + server_.name + " failed, reason: " +
                       std::string(reasonText(r.code)) + ", info: \"" + r.info + "\", status: " +
                       (stillUp ? std::to_string(spec_->fall - failed_) + "/" + std::to_string(spec_->fall) + " UP."
                                : "0/" + std::to_string(spec_->rise) + " DOWN."));
      }
      if (failed_ >= spec_->fall) {
        up_ = false;
        last_ = r;
        server_.live->checkStatus = "HANA";
        server_.live->checkInfo = r.info;
        hc_.transition(*this, false, r);
      }
      server_.live->checkHealth = up_ ? spec_->rise + spec_->fall - 1 - std::min(failed_, spec_->fall - 1) : 0;
      server_.live->checkPassed = passed_;
      server_.live->checkFailed = up_ ? failed_ : 0;
    }
    // The next check comes at fastinter, whatever the action.
    if (fd_ < 0) {
      nextCheck_ = std::min(nextCheck_, hc_.loop_.now() + spec_->fastinter);
      server_.live->checkDueAt = nextCheck_;
      rescheduleIdle();
    }
  }

  void onTimer() noexcept override {
    uint64_t now = hc_.loop_.now();
    if (rampUntil_ && now < rampUntil_) {
      // Slow start: the weight grows with the time since the server came up.
      updateRamp(now);
    } else if (rampUntil_) {
      if (!server_.live->weightSetLive.load()) server_.weight.store(server_.configWeight);
      server_.live->throttle.store(-1);
      rampUntil_ = 0;
      server_.live->rampFrom = server_.live->rampUntil = 0;
    }
    if (fd_ >= 0 || phase_ == Phase::External) {
      if (phase_ == Phase::External) externalEnded();  // without a pidfd, looked at here
      if (phase_ != Phase::Idle && now >= deadline_) timedOut();
      if (phase_ != Phase::Idle) rescheduleWhileRunning();
      return;
    }
    if (now >= nextCheck_) {
      if (server_.live->healthDisabled.load()) {
        // "disable health": no check until "enable health".
        nextCheck_ = now + spec_->inter;
        rescheduleIdle();
        return;
      }
      begin();
      return;
    }
    rescheduleIdle();
  }

  void onEvents(uint32_t events) noexcept override {
    if (fd_ < 0) return;
    if (phase_ == Phase::External) {
      externalEnded();
      return;
    }
    if (phase_ == Phase::QuicProbe) {
      quicProbeEvents();
      return;
    }
    if (phase_ == Phase::Connecting) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = net::socketError(fd_);
      if (err != 0 || !(events & EPOLLOUT)) {
        failConnect(socketErrorText(err ? err : ECONNREFUSED));
        return;
      }
      connected();
      return;
    }
    drive();
  }

 private:
  // Socks: the SOCKS4 request is out, its 8-byte answer awaited.
  // External: an "external-check command" runs; fd_ is its pidfd.
  // QuicProbe: a QUIC server's Version Negotiation awaited on a UDP socket.
  enum class Phase { Idle, Connecting, Socks, Handshake, Sending, Receiving, External, QuicProbe };

  const CheckPlan& plan() const { return *spec_->plan; }
  bool stepped() const { return plan().kind == CheckPlan::Kind::Steps || plan().kind == CheckPlan::Kind::Http; }

  void begin() {
    startedAt_ = hc_.loop_.now();
    step_ = 0;
    code_ = 0;
    info_.clear();
    lastExpect_ = nullptr;
    deadline_ = startedAt_ + spec_->inter;
    if (server_.quic) {
      startQuicProbe();
      return;
    }
    if (plan().kind == CheckPlan::Kind::External) {
      startExternal();
      return;
    }
    openConnection();
  }

  // A QUIC server is checked without TLS: a datagram of a reserved version
  // must bring back Version Negotiation (RFC 9000 §6). A closed port shows
  // as an ICMP refusal on the connected socket.
  // Where this check connects: the server's live address (on the check's
  // own port when it has one), unless "addr" names another host.
  core::Address checkAddress() const {
    if (!spec_->followsServer) return spec_->address;
    core::Address a = server_.currentAddress();
    if (spec_->explicitPort) a.setPort(spec_->address.port());
    return a;
  }

  void startQuicProbe() {
    closeConnection();
    const config::SourceSpec& src = be_.sourceFor(server_);
    fd_ = net::openUdpConnected(checkAddress(), src.address, false, src.interface);
    if (fd_ < 0) {
      done({false, "L4CON", "General socket error (" + std::string(std::strerror(errno)) + ")", 0});
      return;
    }
    std::uniform_int_distribution<int> byte(0, 255);
    for (auto* id : {&probeDcid_, &probeScid_}) {
      id->resize(8);
      for (uint8_t& b : *id) b = static_cast<uint8_t>(byte(probeRandom_));
    }
    std::vector<uint8_t> probe = proto::quicVersionProbe(probeDcid_, probeScid_);
    phase_ = Phase::QuicProbe;
    hc_.loop_.add(fd_, EPOLLIN, this);
    if (::send(fd_, probe.data(), probe.size(), MSG_DONTWAIT) < 0) {
      done({false, "L4CON", socketErrorText(errno), 0});
      return;
    }
    if (spec_->timeout) deadline_ = startedAt_ + std::min(spec_->timeout, spec_->inter);
    rescheduleWhileRunning();
  }

  void quicProbeEvents() {
    uint8_t buf[1500];
    for (int i = 0; i < 16; ++i) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        done({false, "L4CON", socketErrorText(errno), 0});
        return;
      }
      if (proto::isVersionNegotiationFor({buf, static_cast<size_t>(n)}, probeDcid_, probeScid_)) {
        done({true, "L6OK", "QUIC Version Negotiation", 0});
        return;
      }
    }
  }

  // "option external-check": the command runs with HAProxy's arguments
  // (proxy address and port, server address and port) and HAPROXY_*
  // variables; exit status 0 passes. Its end is watched through a pidfd.
  void startExternal() {
    const CheckPlan& pl = plan();
    std::string program = pl.command;
    if (program.find('/') == std::string::npos) {  // searched in "external-check path"
      for (auto dir : core::split(pl.path, ':')) {
        std::string candidate = std::string(dir) + "/" + pl.command;
        if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) {
          program = candidate;
          break;
        }
      }
    }
    const core::Address at = server_.currentAddress();
    const std::string serverAddr = at.ipString();
    const std::string serverPort = server_.portFromClient ? "" : std::to_string(at.port());
    const bool noProxyAddr = pl.proxyAddress == "NOT_USED";
    std::vector<std::string> args = {pl.command, pl.proxyAddress, pl.proxyPort, serverAddr,
                                     serverPort.empty() ? "NOT_USED" : serverPort};
    std::vector<std::string> env = {
        "HAPROXY_PROXY_ADDR=" + (noProxyAddr ? std::string() : pl.proxyAddress),
        "HAPROXY_PROXY_ID=" + (be_.config && be_.config->id ? std::to_string(be_.config->id) : std::string()),
        "HAPROXY_PROXY_NAME=" + be_.name,
        "HAPROXY_PROXY_PORT=" + (noProxyAddr ? std::string() : pl.proxyPort),
        "HAPROXY_SERVER_ADDR=" + serverAddr,
        "HAPROXY_SERVER_CURCONN=" + std::to_string(std::max(0, server_.currentConnections.load())),
        "HAPROXY_SERVER_ID=" + std::to_string(server_.id),
        "HAPROXY_SERVER_MAXCONN=" + std::to_string(server_.maxconn.load()),
        "HAPROXY_SERVER_NAME=" + server_.name,
        "HAPROXY_SERVER_PORT=" + serverPort,
        "HAPROXY_SERVER_SSL=0",
        "HAPROXY_SERVER_PROTO=tcp",
        "PATH=" + pl.path};
    std::vector<char*> argv, envp;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
      fail("PROCERR", std::string("fork failed: ") + std::strerror(errno));
      return;
    }
    if (pid == 0) {
      // Only async-signal-safe calls here (the process has threads).
      sigset_t none;
      sigemptyset(&none);
      pthread_sigmask(SIG_SETMASK, &none, nullptr);
      for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD}) signal(sig, SIG_DFL);
      int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) ::dup2(devnull, 0);
      close_range(3, ~0U, 0);
      execve(program.c_str(), argv.data(), envp.data());
      _exit(127);
    }
    externalPid_ = pid;
    fd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (fd_ < 0) {  // cannot watch it: wait for it at the deadline
      fd_ = -1;
    } else {
      hc_.loop_.add(fd_, EPOLLIN, this);
    }
    phase_ = Phase::External;
    if (spec_->timeout) deadline_ = startedAt_ + spec_->timeout;
    rescheduleWhileRunning();
  }

  // The command's end: 0 passes.
  void externalEnded() {
    int status = 0;
    if (externalPid_ <= 0 || waitpid(externalPid_, &status, WNOHANG) != externalPid_) return;
    externalPid_ = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      pass("PROCOK", "");
    } else if (WIFEXITED(status)) {
      fail("PROCERR", WEXITSTATUS(status) == 127 ? "cannot run '" + plan().command + "'"
                                                   : "exit status " + std::to_string(WEXITSTATUS(status)));
    } else {
      fail("PROCERR", "killed by signal " + std::to_string(WTERMSIG(status)));
    }
  }

  void killExternal() {
    if (externalPid_ <= 0) return;
    kill(externalPid_, SIGKILL);
    waitpid(externalPid_, nullptr, 0);
    externalPid_ = 0;
  }

  // Opens the connection of step_ (a connect step, or the check's only one).
  void openConnection() {
    closeConnection();
    in_.clear();
    out_.clear();
    written_ = 0;
    tls_.reset();
    pendingTls_ = false;
    connectStep_ = step_;
    const CheckStep* c = stepped() ? &plan().steps[step_] : nullptr;
    const bool server = !c || c->useServerSettings;
    core::Address target = checkAddress();
    if (c && c->addr) {
      target = *c->addr;
      target.setPort(checkAddress().port());
    }
    if (c && c->port) target.setPort(*c->port);
    viaSocks_ = (c && c->viaSocks4) || (server && spec_->socks4);
    if (viaSocks_ && !spec_->socks4) {
      fail("L4CON", "'via-socks4' needs 'socks4 <address>' on the server line");
      return;
    }
    socksTarget_ = target;
    if (viaSocks_) target = *spec_->socks4;
    // Checks come from sluice's own address, never a client's ("usesrc").
    const config::SourceSpec& src = be_.sourceFor(server_);
    fd_ = net::startConnect(target, src.address, false, src.interface);
    if (fd_ < 0) {
      // connect() itself refused (no route, no address): HAProxy's words.
      failConnect("General socket error (" + std::string(std::strerror(errno)) + ")");
      return;
    }
    net::setLingerZero(fd_);  // checks end with a reset, like HAProxy's: no TIME_WAIT pile-up
    phase_ = Phase::Connecting;
    hc_.loop_.add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this);
    // "timeout check" set: "timeout connect" bounds the connection and
    // "timeout check" the rest; otherwise "inter" bounds the whole check.
    if (spec_->timeout) {
      uint32_t connectLimit = spec_->connectTimeout ? std::min(spec_->connectTimeout, spec_->inter) : spec_->inter;
      deadline_ = hc_.loop_.now() + connectLimit;
    }
    rescheduleWhileRunning();
  }

  void connected() {
    if (spec_->timeout) deadline_ = hc_.loop_.now() + spec_->timeout;
    if (viaSocks_) {
      const auto req = proto::socks4Connect(socksTarget_);
      out_.assign(reinterpret_cast<const char*>(req.data()), req.size());
      written_ = 0;
      phase_ = Phase::Socks;
      drive();
      return;
    }
    transportReady();
  }

  // The TCP (and SOCKS) path is open: PROXY header, TLS, then the check.
  void transportReady() {
    requestSent_ = false;
    const CheckStep* c = stepped() ? &plan().steps[connectStep_] : nullptr;
    const bool server = !c || c->useServerSettings;
    step_ = connectStep_ + 1;
    bool sendProxy = (c && c->sendProxy) || (server && spec_->sendProxy != config::ProxyProtocolOut::None);
    bool ssl = (c && c->ssl) || (server && spec_->ssl);
    std::string sni = c && !c->sni.empty() ? c->sni : server ? spec_->sni : "";
    std::vector<std::string> alpn = c && !c->alpn.empty() ? c->alpn : server ? spec_->alpn : std::vector<std::string>{};
    out_.clear();
    written_ = 0;
    if (sendProxy) {
      core::Address local = net::localAddress(fd_);
      core::Address peer = viaSocks_ ? socksTarget_ : net::peerAddress(fd_);
      if (spec_->sendProxy == config::ProxyProtocolOut::V2) {
        proto::ProxyV2Options o;
        o.local = spec_->proxyV2Local;  // a health check is not a client connection
        out_ = proto::encodeProxyV2(local, peer, o);
      } else {
        out_ = proto::encodeProxyV1(local, peer);
      }
    }
    switch (plan().kind) {
      case CheckPlan::Kind::Connect:
        if (out_.empty()) {
          pass("L4OK", "");
          return;
        }
        phase_ = Phase::Sending;
        drive();
        return;
      case CheckPlan::Kind::SslHello:
        out_ += spec_->probeHello;
        phase_ = Phase::Sending;
        drive();
        return;
      default:
        break;
    }
    phase_ = Phase::Sending;
    if (ssl) {
      // A PROXY header goes in clear first, then the TLS handshake.
      tls_ = std::make_unique<TlsClient>(sni, alpn, spec_->verify, spec_->caFile);
      pendingTls_ = true;
      if (out_.empty()) {
        startTls();
        return;
      }
    }
    drive();
  }

  void startTls() {
    pendingTls_ = false;
    if (!tls_->attach(fd_)) {
      fail("L6RSP", "cannot start TLS");
      return;
    }
    phase_ = Phase::Handshake;
    out_.clear();
    written_ = 0;
    drive();
  }

  bool writeOut() {  // false: error (the check ended)
    while (written_ < out_.size()) {
      if (tls_ && !pendingTls_ && phase_ != Phase::Handshake) {
        int r = tls_->write(out_, written_);
        if (r < 0) {
          fail("L6RSP", tls_->lastError());
          return false;
        }
        if (r == 0) return true;
        continue;
      }
      ssize_t n = ::send(fd_, out_.data() + written_, out_.size() - written_, MSG_NOSIGNAL);
      if (n > 0) {
        written_ += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      failConnect(socketErrorText(errno));
      return false;
    }
    return true;
  }

  // Returns 1 read something, 0 nothing now, -1 EOF, -2 error (the check ended).
  int readIn() {
    if (tls_ && phase_ != Phase::Socks) {
      int r = tls_->read(in_);
      if (r > 0) return 1;
      if (tls_->eof()) return -1;
      if (r < 0) {
        fail("L6RSP", tls_->lastError());
        return -2;
      }
      return 0;
    }
    char buf[8192];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      in_.append(buf, static_cast<size_t>(n));
      return 1;
    }
    if (n == 0) return -1;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    failConnect(socketErrorText(errno));
    return -2;
  }

  // Moves consecutive "send" steps into the output. What the server said so
  // far answered the steps before this send: the expects after it look at
  // the answer to it (consecutive expects share one buffer, as HAProxy's).
  void queueSends() {
    in_.clear();
    while (step_ < plan().steps.size() && plan().steps[step_].kind == CheckStep::Kind::Send) {
      out_ += plan().steps[step_].data;
      ++step_;
    }
  }

  // After the output went out: what the plan does next.
  void afterSend() {
    out_.clear();
    written_ = 0;
    switch (plan().kind) {
      case CheckPlan::Kind::Connect:
        pass("L4OK", "");
        return;
      case CheckPlan::Kind::SslHello:
        phase_ = Phase::Receiving;
        return;
      case CheckPlan::Kind::Http:
        if (!requestSent_) {
          out_ = plan().httpRequest;
          requestSent_ = true;
          return;  // drive() writes it
        }
        phase_ = Phase::Receiving;
        return;
      case CheckPlan::Kind::Steps:
        nextStep();
        return;
      case CheckPlan::Kind::External:
        return;  // an external check runs a program and never sends here
    }
  }

  // Steps: runs the plan from step_ until it must wait.
  void nextStep() {
    const auto& steps = plan().steps;
    if (step_ >= steps.size()) {
      finishSteps();
      return;
    }
    const CheckStep& s = steps[step_];
    if (s.kind == CheckStep::Kind::Send) {
      queueSends();
      phase_ = Phase::Sending;
      return;
    }
    if (s.kind == CheckStep::Kind::Connect) {
      openConnection();
      return;
    }
    phase_ = Phase::Receiving;
  }

  void drive() {
    for (int guard = 0; guard < 1000 && fd_ >= 0; ++guard) {
      switch (phase_) {
        case Phase::Socks: {
          if (!writeOut()) return;
          if (written_ < out_.size()) return;
          int r = readIn();
          if (r == -2) return;
          if (in_.size() >= proto::kSocks4ReplySize) {
            if (static_cast<uint8_t>(in_[1]) != proto::kSocks4Granted) {
              char code[8];
              snprintf(code, sizeof(code), "0x%02x", static_cast<uint8_t>(in_[1]));
              failConnect("SOCKS4 proxy refused the connection (code " + std::string(code) + ")");
              return;
            }
            in_.erase(0, proto::kSocks4ReplySize);
            transportReady();
            return;
          }
          if (r == -1) {
            failConnect("SOCKS4 proxy closed the connection before answering");
            return;
          }
          if (r == 0) return;
          continue;
        }
        case Phase::Handshake: {
          int r = tls_->handshake();
          if (r < 0) {
            fail("L6RSP", "TLS handshake failed: " + tls_->lastError());
            return;
          }
          if (r == 0) return;
          phase_ = Phase::Sending;
          requestSent_ = false;
          afterSend();
          continue;
        }
        case Phase::Sending: {
          if (!writeOut()) return;
          if (written_ < out_.size()) return;
          if (pendingTls_) {
            startTls();
            return;
          }
          afterSend();
          continue;
        }
        case Phase::Receiving: {
          int r = readIn();
          if (r == -2) return;
          bool eof = r == -1;
          if (!evaluate(eof)) {
            if (fd_ >= 0 && phase_ != Phase::Receiving) continue;  // a send or a new connection
            return;
          }
          if (r == 0) return;
          continue;
        }
        default:
          return;
      }
    }
  }

  route::SessionView responseView(bool eof) const {
    route::SessionView v;
    v.response = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(in_.data()), in_.size());
    v.responseFinal = eof;
    v.backendName = be_.name;
    return v;
  }

  // An expect's on-success/on-error text, or `fallback` without one.
  std::string message(const std::shared_ptr<const route::FormatString>& fmt, bool eof, std::string fallback) const {
    if (!fmt) return fallback;
    // Samples render as text; a binary one (res.payload) as its own bytes.
    std::string text;
    const route::SessionView view = responseView(eof);
    for (const route::FormatString::Segment& seg : fmt->segments()) {
      route::Sample smp;
      if (seg.kind == route::FormatString::Segment::Kind::Literal) {
        text += seg.text;
      } else if (seg.expr && seg.expr->evaluate(view, 0, smp) && route::castSample(smp, route::SampleType::Str)) {
        text += smp.text;
      }
    }
    size_t nul = text.find('\0');  // binary payloads end at their first NUL, as C strings
    if (nul != std::string::npos) text.erase(nul);
    return text;
  }

  void takeStatusCode(const CheckStep& s, bool eof) {
    if (!s.statusCode) return;
    route::Sample smp;
    if (!s.statusCode->evaluate(responseView(eof), 0, smp)) return;
    if (smp.type == route::SampleType::Int || smp.type == route::SampleType::Bool) {
      code_ = static_cast<int>(smp.integer);
    } else if (auto n = core::parseInt(smp.text)) {
      code_ = static_cast<int>(*n);
    }
  }

  std::string atStep() const {
    return plan().userRules ? " at step " + std::to_string(step_ + 1) + " of tcp-check" : "";
  }

  // Looks at what was received. Returns true to keep reading.
  bool evaluate(bool eof) {
    if (plan().kind == CheckPlan::Kind::SslHello) {
      HelloAnswer a = classifyHelloResponse(in_);
      if (a == HelloAnswer::ServerHello) {
        pass("L6OK", "");
      } else if (a == HelloAnswer::Alert) {
        fail("L6RSP", "TLS alert in response to the ClientHello");
      } else if (a == HelloAnswer::NotTls) {
        fail("L6RSP", "not a TLS ServerHello");
      } else if (eof) {
        fail("L6RSP", "connection closed before a ServerHello");
      } else {
        return true;
      }
      return false;
    }
    if (plan().kind == CheckPlan::Kind::Http) return evaluateHttp(eof);
    const auto& steps = plan().steps;
    while (step_ < steps.size() && steps[step_].kind == CheckStep::Kind::Expect) {
      const CheckStep& s = steps[step_];
      const bool framed = eof || in_.size() > 65536 || answerComplete(s.framing, in_);
      if (s.framing != CheckStep::Framing::None && !framed) return true;
      if (s.farewell && in_.empty()) {
        // A goodbye (SMTP's QUIT) the server answered by closing: the
        // verdict already reached stands. An answer is judged as usual.
        finishSteps();
        return false;
      }
      if (s.match == CheckStep::Match::Custom) {
        ProtocolVerdict v = judge(s, eof);
        if (v.state == ProtocolVerdict::State::NeedMore) {
          if (in_.size() > 65536) {
            fail("L7RSP", "response too long");
            return false;
          }
          return true;
        }
        code_ = v.code;
        if (v.state == ProtocolVerdict::State::Fail) {
          fail(v.status, v.info);
          return false;
        }
        if (!v.info.empty()) info_ = v.info;
        lastExpect_ = &s;
        ++step_;
        continue;
      }
      bool found = false;
      if (in_.size() >= s.minRecv) {
        switch (s.match) {
          case CheckStep::Match::String:
          case CheckStep::Match::Binary:
            found = in_.find(s.pattern) != std::string::npos;
            break;
          case CheckStep::Match::RBinary:
            found = s.regex->matches(core::hexEncode(in_));  // rbinary looks at the hexadecimal form
            break;
          default:
            found = s.regex->matches(in_);
            break;
        }
      }
      // Without min-recv a mismatch waits for more data (until the end or
      // the timeout); with it, a mismatch over min-recv bytes is final; a
      // protocol check may also decide on its first whole line.
      const bool enough = (s.minRecvSet && in_.size() >= s.minRecv) || s.framing != CheckStep::Framing::None;
      if (found != s.negate && (found || eof || enough)) {
        takeStatusCode(s, eof);
        if (s.onSuccess) info_ = message(s.onSuccess, eof, "");
        lastExpect_ = &s;
        ++step_;
        continue;
      }
      if (found && s.negate) {
        takeStatusCode(s, eof);
        fail(s.errorStatus.empty() ? "L7RSP" : s.errorStatus,
             message(s.onError, eof, "TCPCHK matched unwanted content" + atStep()));
        return false;
      }
      if (eof || enough) {
        takeStatusCode(s, eof);
        fail(s.errorStatus.empty() ? "L7RSP" : s.errorStatus,
             message(s.onError, eof, "TCPCHK did not match content" + atStep()));
        return false;
      }
      if (in_.size() > 65536) {
        fail("L7RSP", "TCPCHK response too long" + atStep());
        return false;
      }
      return true;
    }
    nextStep();
    return false;
  }

  ProtocolVerdict judge(const CheckStep& s, bool eof) const {
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(in_.data()), in_.size());
    switch (s.custom) {
      case CheckStep::Custom::MysqlHandshake:
        return mysqlHandshake(bytes, eof);
      case CheckStep::Custom::MysqlLogin:
        return mysqlLoginReply(bytes, eof);
      case CheckStep::Custom::LdapBind:
        return ldapBindResponse(bytes, eof);
      case CheckStep::Custom::SpopHello:
        return spopAgentHello(bytes, eof);
      case CheckStep::Custom::None:
        break;
    }
    return ProtocolVerdict::fail("L7RSP", "no judge for this answer");
  }

  // Has the whole answer arrived? A line; or an SMTP reply, whose lines
  // are "250-..." but for the last, "250 ..." (or a bare "250").
  static bool answerComplete(CheckStep::Framing framing, const std::string& in) {
    if (framing == CheckStep::Framing::Line) return in.find('\n') != std::string::npos;
    size_t start = 0;
    while (true) {
      size_t eol = in.find('\n', start);
      if (eol == std::string::npos) return false;
      if (eol - start < 4 || in[start + 3] != '-') return true;
      start = eol + 1;
    }
  }

  // Every step passed: the verdict of the last expect.
  void finishSteps() {
    const CheckStep* last = lastExpect_;
    std::string status = last && !last->okStatus.empty() ? last->okStatus : "L7OK";
    std::string info = info_;
    if (info.empty() && plan().userRules) info = "(tcp-check)";
    if (!last && !plan().userRules) status = "L4OK";
    pass(status, info);
  }

  bool evaluateHttp(bool eof) {
    size_t eol = in_.find("\r\n");
    if (eol == std::string::npos) {
      if (eof || in_.size() > 8192) {
        fail("L7RSP", in_.empty() ? "connection closed without a response" : "no status line");
        return false;
      }
      return true;
    }
    std::string line = in_.substr(0, eol);
    if (line.compare(0, 5, "HTTP/") != 0 || line.size() < 12) {
      fail("L7RSP", "not an HTTP status line");
      return false;
    }
    auto code = core::parseInt(line.substr(9, 3));
    if (!code) {
      fail("L7RSP", "bad HTTP status");
      return false;
    }
    std::string reason = line.size() > 13 ? line.substr(13) : "";
    bool needBody = false;
    for (const CheckStep& e : plan().httpExpect) {
      if (e.match == CheckStep::Match::String || e.match == CheckStep::Match::RString) needBody = true;
    }
    if (needBody && !eof && in_.size() < 65536) return true;
    bool ok = true;
    if (plan().httpExpect.empty()) {
      ok = *code >= 200 && *code < 400;
    } else {
      for (const CheckStep& e : plan().httpExpect) {
        bool m = false;
        if (e.match == CheckStep::Match::Status) {
          for (auto part : core::split(e.pattern, ',')) {
            size_t dash = part.find('-');
            auto lo = core::parseInt(part.substr(0, dash));
            auto hi = dash == std::string_view::npos ? lo : core::parseInt(part.substr(dash + 1));
            if (lo && hi && *code >= *lo && *code <= *hi) m = true;
          }
        } else if (e.match == CheckStep::Match::RStatus) {
          m = e.regex->matches(std::to_string(*code));
        } else if (e.match == CheckStep::Match::String) {
          m = in_.find(e.pattern, eol) != std::string::npos;
        } else {
          m = e.regex->matches(in_.substr(in_.find("\r\n\r\n") == std::string::npos ? eol : in_.find("\r\n\r\n") + 4));
        }
        if (m == e.negate) ok = false;
      }
    }
    code_ = static_cast<int>(*code);
    if (ok) {
      pass("L7OK", reason);
    } else {
      fail("L7STS", reason);
    }
    return false;
  }

  void pass(const std::string& status, const std::string& info) { done({true, status, info, code_}); }
  void fail(const std::string& status, const std::string& info) { done({false, status, info, code_}); }

  // A connection that could not be made or broke: a user's tcp-check says
  // at which step, as HAProxy's does.
  void failConnect(const std::string& what) {
    std::string info = what;
    if (plan().userRules && connectStep_ < plan().steps.size()) {
      info += " at step " + std::to_string(connectStep_ + 1) + " of tcp-check (" +
              plan().steps[connectStep_].describe() + ")";
    }
    done({false, "L4CON", info, 0});
  }

  void timedOut() {
    if (phase_ == Phase::External) {
      killExternal();
      fail("PROCTOUT", "");
      return;
    }
    std::string status = phase_ == Phase::Connecting || phase_ == Phase::Socks ? "L4TOUT"
                         : plan().kind == CheckPlan::Kind::SslHello || phase_ == Phase::Handshake ||
                                 phase_ == Phase::QuicProbe
                             ? "L6TOUT"
                             : "L7TOUT";
    std::string info;
    const auto& steps = plan().steps;
    if (plan().kind == CheckPlan::Kind::Steps && step_ < steps.size() && phase_ == Phase::Receiving) {
      const CheckStep& st = steps[step_];
      if (st.farewell) {  // the goodbye went unanswered: the verdict stands
        finishSteps();
        return;
      }
      if (!st.timeoutStatus.empty()) status = st.timeoutStatus;
      if (plan().userRules) info = "at step " + std::to_string(step_ + 1) + " of tcp-check (" + st.describe() + ")";
    } else if (status == "L4TOUT" && plan().userRules && connectStep_ < steps.size()) {
      info = "at step " + std::to_string(connectStep_ + 1) + " of tcp-check (" + steps[connectStep_].describe() + ")";
    }
    done({false, status, info, code_});
  }

  void closeConnection() {
    if (fd_ >= 0) {
      hc_.loop_.remove(fd_);
      tls_.reset();
      ::close(fd_);
      fd_ = -1;
    }
    killExternal();  // a check stopped before its command ended
    phase_ = Phase::Idle;
  }

  void done(CheckResult r) {
    r.durationMs = hc_.loop_.now() - startedAt_;
    closeConnection();
    if (r.ok) {
      ++passed_;
      failed_ = 0;
    } else {
      ++failed_;
      passed_ = 0;
    }
    const bool goDown = up_ && failed_ >= spec_->fall;
    const bool goUp = !up_ && passed_ >= spec_->rise;
    const bool nowUp = goDown ? false : goUp ? true : up_;
    // HAProxy's health counter, 0 .. rise+fall-1: rise and above is UP.
    const uint32_t full = spec_->rise + spec_->fall - 1;
    const uint32_t health = nowUp ? full - std::min(failed_, spec_->fall - 1) : passed_;
    // option log-health-checks: a result whose status differs from the last
    // (the first one too: last_ has no code yet), and every result while the
    // counter moves, before the state change it leads to, as HAProxy logs them.
    if (be_.logHealthChecks &&
        (last_.code.empty() || r.code != last_.code || (!r.ok && health != 0) || (r.ok && health != full))) {
      bool upText = health >= spec_->rise;
      uint32_t num = upText ? health - spec_->rise + 1 : health;
      uint32_t den = upText ? spec_->fall : spec_->rise;
      hc_.logFor(be_, observe::kNotice,  // HAProxy logs results at notice, failed or not
                 "Health check for server " + be_.name + "/" + server_.name + " " +
                     (r.ok ? "succeeded" : "failed") + ", reason: " + std::string(reasonText(r.code)) +
                     (r.statusCode ? ", code: " + std::to_string(r.statusCode) : "") +
                     (r.info.empty() ? "" : ", info: \"" + r.info + "\"") + ", check duration: " +
                     std::to_string(r.durationMs) + "ms, status: " + std::to_string(num) + "/" + std::to_string(den) +
                     (upText ? " UP." : " DOWN."));
    }
    if (goDown) {
      up_ = false;
      hc_.transition(*this, false, r);
    } else if (goUp) {
      up_ = true;
      if (slowstart_ > 0) {
        rampFrom_ = hc_.loop_.now();
        rampUntil_ = rampFrom_ + slowstart_;
        server_.live->rampFrom = rampFrom_;
        server_.live->rampUntil = rampUntil_;
        updateRamp(rampFrom_);
      }
      hc_.transition(*this, true, r);
    }
    last_ = r;
    balance::ServerLive& live = *server_.live;
    if (!r.ok) live.counters.checkFailures.fetch_add(1, std::memory_order_relaxed);
    live.checkStatus = r.code;
    live.checkInfo = r.info;
    live.checkCode = r.statusCode;
    live.checkDurationMs = r.durationMs;
    live.checkHealth = up_ ? spec_->rise + spec_->fall - 1 - std::min(failed_, spec_->fall - 1) : passed_;
    live.checkPassed = passed_;
    live.checkFailed = failed_;
    bool transitional = (up_ && failed_ > 0) || (!up_ && passed_ > 0);
    uint32_t next = transitional ? spec_->fastinter : up_ ? spec_->inter : spec_->downinter;
    nextCheck_ = hc_.loop_.now() + next;
    live.checkDueAt = nextCheck_;
    rescheduleIdle();
  }

  void updateRamp(uint64_t now) {
    uint64_t elapsed = now - rampFrom_;
    uint32_t w = static_cast<uint32_t>((uint64_t{server_.configWeight} * elapsed + slowstart_ - 1) / slowstart_);
    w = std::max<uint32_t>(1, std::min(w, server_.configWeight));
    server_.live->throttle.store(static_cast<int32_t>(std::min<uint64_t>(100, elapsed * 100 / slowstart_)));
    server_.weight.store(w);  // the balancers see a change (Watched)
  }

  void rescheduleIdle() {
    uint64_t when = nextCheck_;
    if (rampUntil_) when = std::min(when, hc_.loop_.now() + std::max<uint64_t>(slowstart_ / 20, 100));
    hc_.loop_.schedule(*this, when);
  }

  void rescheduleWhileRunning() {
    uint64_t when = deadline_;
    if (rampUntil_) when = std::min(when, hc_.loop_.now() + std::max<uint64_t>(slowstart_ / 20, 100));
    hc_.loop_.schedule(*this, when);
  }

 public:
  // The first check of this object: when the previous runtime's check of
  // the same server was due (now, if it was running), else at `spread`.
  void firstCheckAt(uint64_t spread) {
    balance::ServerLive& live = *server_.live;
    const uint64_t when = live.checkDueAt ? std::max(live.checkDueAt, hc_.loop_.now()) : spread;
    nextCheck_ = live.checkDueAt = when;
    rescheduleIdle();  // sooner when a slow start goes on
  }
  const CheckResult& last() const { return last_; }

 private:
  HealthChecker& hc_;
  runtime::Backend& be_;
  balance::ServerState& server_;
  std::shared_ptr<const ServerCheckSpec> spec_;
  uint32_t slowstart_;
  int fd_ = -1;
  std::vector<uint8_t> probeDcid_, probeScid_;   // the QUIC probe's connection IDs
  std::mt19937 probeRandom_{std::random_device{}()};
  Phase phase_ = Phase::Idle;
  std::unique_ptr<TlsClient> tls_;
  bool pendingTls_ = false;
  bool requestSent_ = false;                 // HTTP: the request is queued
  bool viaSocks_ = false;
  core::Address socksTarget_;                // where the SOCKS4 proxy connects us
  std::string out_;
  size_t written_ = 0;
  std::string in_;
  size_t step_ = 0;
  size_t connectStep_ = 0;                   // the step that opened the connection
  int code_ = 0;                             // the protocol's status code (HTTP, SMTP, MySQL...)
  std::string info_;                         // the info of the last expect that passed
  const CheckStep* lastExpect_ = nullptr;
  pid_t externalPid_ = 0;                    // the running external check command
  uint64_t startedAt_ = 0;
  uint64_t deadline_ = 0;
  uint64_t nextCheck_ = 0;
  uint64_t rampFrom_ = 0;
  uint64_t rampUntil_ = 0;
  bool up_ = true;
  uint32_t passed_ = 0;
  uint32_t failed_ = 0;
  CheckResult last_;
};

// agent-check: every agent-inter, connect to the server's agent, send
// agent-send, read one line, and apply it: weight in percent of the
// configured one, maxconn, ready/drain/maint, up/down/stopped/fail. An agent
// that cannot be reached changes nothing (the health check judges
// reachability), as HAProxy's manual says.
class AgentCheck final : public event::EventHandler, public event::Timer {
 public:
  AgentCheck(HealthChecker& hc, runtime::Backend& be, balance::ServerState& server, core::Address address,
             uint32_t inter, uint32_t timeout, std::string send)
      : hc_(hc), be_(be), server_(server), address_(address), inter_(inter), timeout_(timeout),
        send_(std::move(send)) {}
  ~AgentCheck() override { closeConnection(); }

  void quiesce() {
    hc_.loop_.cancel(*this);
    closeConnection();
  }
  // As the server check: when the previous runtime's agent was due, else
  // at the start-up spread.
  void firstCheckAt(uint64_t spread) {
    balance::ServerLive& live = *server_.live;
    live.agentDueAt = live.agentDueAt ? std::max(live.agentDueAt, hc_.loop_.now()) : spread;
    hc_.loop_.schedule(*this, live.agentDueAt);
  }

  void onTimer() noexcept override {
    if (fd_ >= 0) {
      finish({false, connecting_ ? "L4TOUT" : "L7TOUT", "", 0});
      return;
    }
    begin();
  }

  void onEvents(uint32_t events) noexcept override {
    if (fd_ < 0) return;
    if (connecting_) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = net::socketError(fd_);
      if (err != 0 || !(events & EPOLLOUT)) {
        finish({false, "L4CON", socketErrorText(err ? err : ECONNREFUSED), 0});
        return;
      }
      connecting_ = false;
      if (!send_.empty() && ::send(fd_, send_.data(), send_.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(send_.size())) {
        finish({false, "L4CON", socketErrorText(errno ? errno : EIO), 0});
        return;
      }
    }
    char buf[1024];
    while (true) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n > 0) {
        in_.append(buf, static_cast<size_t>(n));
        if (in_.size() > 4096) break;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (auto reply = parseAgentReply(in_, false)) apply(*reply);
        return;
      }
      break;  // closed or failed: judge what came
    }
    auto reply = parseAgentReply(in_, true);
    if (in_.empty() || !reply) {
      finish({false, "L7RSP", "the agent closed without a line", 0});
      return;
    }
    apply(*reply);
  }

 private:
  void begin() {
    in_.clear();
    startedAt_ = hc_.loop_.now();
    fd_ = net::startConnect(address_, core::Address(), false, "");
    if (fd_ < 0) {
      finish({false, "L4CON", "General socket error (" + std::string(std::strerror(errno)) + ")", 0});
      return;
    }
    net::setLingerZero(fd_);
    connecting_ = true;
    hc_.loop_.add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this);
    hc_.loop_.schedule(*this, startedAt_ + timeout_);
  }

  void apply(const AgentReply& r) {
    balance::ServerState& s = server_;
    if (r.weightPercent) {
      uint64_t w = (uint64_t{s.configWeight} * *r.weightPercent + 50) / 100;
      s.weight.store(static_cast<uint32_t>(std::min<uint64_t>(w, 256)));
    }
    if (r.maxconn) {
      s.maxconn.store(*r.maxconn);
      for (int i = 0; i < 64; ++i) be_.queue->wakeOne();  // a higher limit frees slots
    }
    using Admin = AgentReply::Admin;
    if (r.admin != Admin::None) {
      balance::AdminState want = r.admin == Admin::Maint   ? balance::AdminState::Maint
                                 : r.admin == Admin::Drain ? balance::AdminState::Drain
                                                           : balance::AdminState::Ready;
      runtime::setServerAdmin(*hc_.rt_, be_, s, want);
    }
    using Health = AgentReply::Health;
    std::string said = r.health == Health::Down      ? "down"
                       : r.health == Health::Stopped ? "stopped"
                       : r.health == Health::Fail    ? "fail"
                       : r.health == Health::Up      ? "up"
                                                     : "";
    std::string info = r.description.empty() ? "" : r.description;
    CheckResult result{true, "L7OK", info.empty() && !said.empty() ? "the agent says " + said : info, 0};
    if (r.health != Health::None && r.health != Health::Up) result.ok = false, result.code = "L7STS";
    result.durationMs = hc_.loop_.now() - startedAt_;
    // The agent's result is logged before the state change it brings, as
    // HAProxy orders them.
    logResult(result);
    if (r.health != Health::None) hc_.agentSays(be_, s, r.health != Health::Up, result);
    finish(result);
  }

  void finish(CheckResult r) {
    r.durationMs = hc_.loop_.now() - startedAt_;
    closeConnection();
    logResult(r);
    last_ = r;
    server_.live->agentDueAt = hc_.loop_.now() + inter_;
    hc_.loop_.schedule(*this, server_.live->agentDueAt);
  }

  // With "option log-health-checks": a result whose status or words changed.
  void logResult(const CheckResult& r) {
    if (logged_.code == r.code && logged_.info == r.info && !logged_.code.empty()) return;
    logged_ = r;
    if (be_.logHealthChecks) {
      hc_.logFor(be_, observe::kNotice,
                 "Agent check for server " + be_.name + "/" + server_.name + " " + (r.ok ? "succeeded" : "failed") +
                     ", reason: " + std::string(reasonText(r.code)) +
                     (r.info.empty() ? "" : ", info: \"" + r.info + "\"") + ", check duration: " +
                     std::to_string(r.durationMs) + "ms.");
    }
  }

  void closeConnection() {
    if (fd_ >= 0) {
      hc_.loop_.remove(fd_);
      ::close(fd_);
      fd_ = -1;
    }
    connecting_ = false;
  }

  HealthChecker& hc_;
  runtime::Backend& be_;
  balance::ServerState& server_;
  core::Address address_;
  uint32_t inter_;
  uint32_t timeout_;
  CheckResult logged_;  // the last result logged
  std::string send_;
  int fd_ = -1;
  bool connecting_ = false;
  std::string in_;
  uint64_t startedAt_ = 0;
  CheckResult last_;
};

HealthChecker::HealthChecker(event::EventLoop& loop, std::shared_ptr<const runtime::Runtime> rt,
                             KillSessions kill, bool logToStderr)
    : loop_(loop), rt_(std::move(rt)), kill_(std::move(kill)), logToStderr_(logToStderr) {}

HealthChecker::~HealthChecker() { stop(); }

void HealthChecker::stop() {
  for (auto& c : checks_) c->quiesce();
  for (auto& a : agents_) a->quiesce();
}

void HealthChecker::start() {
  // Spread the first checks over one interval, so that a farm is not probed
  // all at once at start.
  std::mt19937 rng(static_cast<unsigned>(getpid()));
  for (const auto& be : rt_->backends) {
    for (size_t i = 0; i < be->servers.size(); ++i) {
      if (!be->checks[i] || !be->servers[i]->resolved()) continue;
      const config::ServerConfig& sc = *be->serverConfigs[i];
      auto c = std::make_unique<ServerCheck>(*this, *be, *be->servers[i], be->checks[i],
                                             sc.slowstart.value_or(0));
      uint64_t spread = be->checks[i]->inter ? rng() % std::max<uint32_t>(1, be->checks[i]->inter / 4) : 0;
      c->firstCheckAt(loop_.now() + spread);
      checkOf_[be->servers[i].get()] = c.get();
      checks_.push_back(std::move(c));
    }
    for (size_t i = 0; i < be->servers.size(); ++i) {
      const config::ServerConfig& sc = *be->serverConfigs[i];
      if (!sc.agentCheck || !sc.agentPort || !be->servers[i]->resolved()) continue;
      core::Address address = be->servers[i]->currentAddress();
      if (!sc.agentAddr.empty()) {
        const std::string& a = sc.agentAddr;
        if (auto parsed = core::Address::parse(a.find(':') != std::string::npos && a[0] != '[' ? "[" + a + "]" : a)) {
          address = *parsed;
        }
      }
      address.setPort(*sc.agentPort);
      uint32_t inter = sc.agentInter.value_or(2000);
      uint32_t timeout = be->config && be->config->timeoutCheck ? *be->config->timeoutCheck : inter;
      auto a = std::make_unique<AgentCheck>(*this, *be, *be->servers[i], address, inter, timeout, sc.agentSend);
      a->firstCheckAt(loop_.now() + rng() % std::max<uint32_t>(1, inter / 4));
      agents_.push_back(std::move(a));
    }
  }
}

void HealthChecker::passiveErrors(const balance::ServerLive* server, int lastError) {
  for (auto& c : checks_) {
    if (c->server().live.get() != server) continue;
    const config::ServerConfig& sc = *c->backend().serverConfigs[c->server().position];
    uint32_t errors = c->server().live->consecutiveErrors.exchange(0);
    c->passiveFailure(sc.onError, errors, lastError);
    return;
  }
}

void HealthChecker::logFor(const runtime::Backend& be, int level, const std::string& message) {
  emit(be.eventLog(rt_->globalLogger), level, message);
  // Email alerts: a check's result counts as "info", a state change at its
  // log level (HAProxy's email-alert level rules).
  if (be.mail && rt_->mailAlerts) {
    rt_->mailAlerts->send(*be.mail, message.starts_with("Health check for ") ? observe::kInfo : level, message);
  }
}

void HealthChecker::log(int level, const std::string& message) { emit(rt_->globalLogger, level, message); }

void HealthChecker::emit(const observe::Logger& to, int level, const std::string& message) {
  to.log(level, message);
  if (logToStderr_) {
    std::cerr << (level <= observe::kAlert ? "[ALERT] " : level <= observe::kWarning ? "[WARNING] " : "[NOTICE] ")
              << message << std::endl;
  }
}

void HealthChecker::transition(ServerCheck& c, bool up, const CheckResult& r) {
  // An agent that said "down" keeps the server down until it says "up".
  if (up && agentDown_.count(&c.server())) return;
  setHealth(c.backend(), c.server(), up, r);
}

void HealthChecker::agentSays(runtime::Backend& be, balance::ServerState& s, bool down, const CheckResult& r) {
  if (down) {
    agentDown_.insert(&s);
    if (s.up.load()) setHealth(be, s, false, r);
    return;
  }
  agentDown_.erase(&s);
  auto check = checkOf_.find(&s);
  bool checkUp = check == checkOf_.end() || check->second->up();
  if (checkUp && !s.up.load()) setHealth(be, s, true, r);
}

void HealthChecker::setHealth(runtime::Backend& be, balance::ServerState& s, bool up, const CheckResult& r,
                              const balance::ServerState* via) {
  s.up.store(up);
  uint64_t now = static_cast<uint64_t>(time(nullptr));
  if (up && s.live->downSince) {
    s.live->downtimeTotal += now - s.live->downSince;
    s.live->downSince = 0;
  } else if (!up) {
    s.live->downSince = now;
  }
  s.lastChange.store(now);
  (up ? s.counters.wentUp : s.counters.wentDown).fetch_add(1, std::memory_order_relaxed);
  auto [active, backup] = be.usableServers();
  std::string code = r.statusCode ? ", code: " + std::to_string(r.statusCode) : "";
  std::string info = r.info.empty() ? "" : ", info: \"" + r.info + "\"";
  // A tracking server says which one it follows instead of a check's result;
  // with "option log-health-checks" the check's own line said why, so, as
  // in HAProxy, the state change does not repeat it.
  const std::string why = via                  ? " via " + via->backendName + "/" + via->name + ". "
                          : be.logHealthChecks ? std::string(". ")
                                               : ", reason: " + std::string(reasonText(r.code)) + code +
                                                     (up ? std::string() : info) + ", check duration: " +
                                                     std::to_string(r.durationMs) + "ms. ";
  if (up) {
    logFor(be, observe::kNotice, "Server " + be.name + "/" + s.name + " is UP" + why + std::to_string(active) +
                              " active and " + std::to_string(backup) +
                              " backup servers online. 0 sessions requeued, 0 total in queue.");
    // Connections waiting for a slot may now have one.
    for (size_t i = 0, n = be.queue->size(); i < n && i < 4096; ++i) be.queue->wakeOne();
    if (!s.backup && be.serverConfigs[s.position]->onMarkedUp == "shutdown-backup-sessions") {
      for (const auto& other : be.servers) {
        if (other->backup) kill_(other.get(), 'U');
      }
    }
  } else {
    logFor(be, observe::kAlert, "Server " + be.name + "/" + s.name + " is DOWN" + why + std::to_string(active) +
                             " active and " + std::to_string(backup) + " backup servers left. " +
                             std::to_string(s.currentConnections.load()) +
                             " sessions active, 0 requeued, 0 remaining in queue.");
    if (active == 0 && backup == 0) {
      logFor(be, observe::kEmerg, "backend " + be.name + " has no server available!");
    }
    if (be.serverConfigs[s.position]->onMarkedDown == "shutdown-sessions") kill_(&s, 'D');
  }
  // Servers that track this one follow it.
  for (balance::ServerState* t : s.trackers) {
    runtime::Backend* tb = rt_->findBackend(t->backendName);
    if (tb && t->up.load() != up) setHealth(*tb, *t, up, r, &s);
  }
}

}  // namespace sluice::health
