// SPDX-License-Identifier: Apache-2.0
// Health checks on the control loop; see checker.h.
#include "health/checker.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <random>

#include "core/strings.h"
#include "health/tls_probe.h"
#include "net/socket.h"
#include "proto/proxy_protocol.h"

namespace sluice::health {

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
  return "Socket error";
}

class ServerCheck final : public event::EventHandler, public event::Timer {
 public:
  ServerCheck(HealthChecker& hc, runtime::Backend& be, balance::ServerState& server,
              std::shared_ptr<const ServerCheckSpec> spec, uint32_t slowstart)
      : hc_(hc), be_(be), server_(server), spec_(std::move(spec)), slowstart_(slowstart) {
    // After a reload the server's health carries over; so does the check's
    // view of it, so that a DOWN server needs "rise" successes again.
    up_ = server_.up.load();
    balance::ServerLive& live = *server_.live;
    live.checkRise = spec_->rise;
    live.checkFall = spec_->fall;
    live.checkHealth = up_ ? spec_->rise + spec_->fall - 1 : 0;
  }
  ~ServerCheck() override { closeConnection(); }

  // No more timers, no connection: events already fetched for this check
  // find fd_ < 0 and do nothing.
  void quiesce() {
    hc_.loop_.cancel(*this);
    closeConnection();
  }

  void schedule(uint64_t delayMs) { hc_.loop_.schedule(*this, hc_.loop_.now() + delayMs); }
  balance::ServerState& server() { return server_; }
  runtime::Backend& backend() { return be_; }
  bool up() const { return up_; }
  uint32_t rise() const { return spec_->rise; }
  uint32_t fall() const { return spec_->fall; }

  void onTimer() noexcept override {
    uint64_t now = hc_.loop_.now();
    if (rampUntil_ && now < rampUntil_) {
      // Slow start: the weight grows with the time since the server came up.
      updateRamp(now);
    } else if (rampUntil_) {
      if (!server_.live->weightSetLive.load()) server_.weight.store(server_.configWeight);
      server_.live->throttle.store(-1);
      rampUntil_ = 0;
      be_.balancer->refresh();
    }
    if (fd_ >= 0) {
      if (now >= deadline_) timedOut();
      rescheduleWhileRunning();
      return;
    }
    if (now >= nextCheck_) {
      begin();
      return;
    }
    rescheduleIdle();
  }

  void onEvents(uint32_t events) noexcept override {
    if (fd_ < 0) return;
    if (phase_ == Phase::Connecting) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = net::socketError(fd_);
      if (err != 0 || !(events & EPOLLOUT)) {
        done({false, "L4CON", std::strerror(err ? err : ECONNREFUSED)});
        return;
      }
      connected();
      return;
    }
    drive();
  }

 private:
  enum class Phase { Idle, Connecting, Handshake, Sending, Receiving };

  void begin() {
    startedAt_ = hc_.loop_.now();
    in_.clear();
    out_.clear();
    written_ = 0;
    step_ = 0;
    tls_.reset();
    core::Address target = spec_->address;
    const CheckPlan& plan = *spec_->plan;
    if (plan.kind == CheckPlan::Kind::Steps || (plan.kind == CheckPlan::Kind::Http && !plan.steps.empty())) {
      const CheckStep& c = plan.steps[0];
      if (c.port) target.setPort(*c.port);
    }
    // Checks come from sluice's own address, never a client's ("usesrc").
    const config::SourceSpec& src = be_.serverConfigs[server_.position]->source.set
                                        ? be_.serverConfigs[server_.position]->source
                                        : be_.source;
    fd_ = net::startConnect(target, src.address, false, src.interface);
    if (fd_ < 0) {
      done({false, "L4CON", std::strerror(errno)});
      return;
    }
    net::setLingerZero(fd_);  // checks end with a reset, like HAProxy's: no TIME_WAIT pile-up
    phase_ = Phase::Connecting;
    hc_.loop_.add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this);
    uint32_t overall = spec_->inter;
    uint32_t connectLimit = spec_->timeout && spec_->connectTimeout
                                ? std::min(spec_->connectTimeout, spec_->inter)
                                : overall;
    deadline_ = startedAt_ + (spec_->timeout ? connectLimit : overall);
    rescheduleWhileRunning();
  }

  void connected() {
    const CheckPlan& plan = *spec_->plan;
    if (spec_->timeout) deadline_ = hc_.loop_.now() + spec_->timeout;
    bool sendProxy = spec_->sendProxy != config::ProxyProtocolOut::None;
    bool ssl = spec_->ssl;
    std::string sni = spec_->sni;
    std::vector<std::string> alpn = spec_->alpn;
    if (!plan.steps.empty()) {
      const CheckStep& c = plan.steps[0];
      sendProxy = sendProxy || c.sendProxy;
      ssl = ssl || c.ssl;
      if (!c.sni.empty()) sni = c.sni;
      if (!c.alpn.empty()) alpn = c.alpn;
      step_ = 1;
    }
    if (sendProxy) {
      core::Address local = net::localAddress(fd_);
      core::Address peer = net::peerAddress(fd_);
      if (spec_->sendProxy == config::ProxyProtocolOut::V2) {
        proto::ProxyV2Options o;
        o.local = true;  // a health check is not a client connection
        out_ = proto::encodeProxyV2(local, peer, o);
      } else {
        out_ = proto::encodeProxyV1(local, peer);
      }
    }
    if (plan.kind == CheckPlan::Kind::Connect) {
      if (out_.empty()) {
        done({true, "L4OK", ""});
        return;
      }
      phase_ = Phase::Sending;
      drive();
      if (fd_ >= 0 && phase_ == Phase::Receiving) done({true, "L4OK", ""});
      return;
    }
    if (plan.kind == CheckPlan::Kind::SslHello) {
      out_ += spec_->probeHello;
      phase_ = Phase::Sending;
      drive();
      return;
    }
    // Steps and HTTP may run over TLS (check-ssl / connect ssl). A PROXY
    // header, if any, goes in clear first.
    if (ssl) {
      tls_ = std::make_unique<TlsClient>(sni, alpn, spec_->verify, spec_->caFile);
      if (!out_.empty()) {
        pendingTls_ = true;
        phase_ = Phase::Sending;
      } else {
        startTls();
        return;
      }
    } else {
      phase_ = Phase::Sending;
    }
    if (plan.kind == CheckPlan::Kind::Http && !pendingTls_) out_ += plan.httpRequest;
    if (plan.kind == CheckPlan::Kind::Steps && !pendingTls_) queueSends();
    drive();
  }

  void startTls() {
    pendingTls_ = false;
    if (!tls_->attach(fd_)) {
      done({false, "L6RSP", "cannot start TLS"});
      return;
    }
    phase_ = Phase::Handshake;
    out_.clear();
    written_ = 0;
    drive();
  }

  // Moves consecutive "send" steps into the output.
  void queueSends() {
    const CheckPlan& plan = *spec_->plan;
    // What the server said so far was for the expects before this send;
    // those after it look at the answer to it (consecutive expects share
    // one buffer, as HAProxy's do).
    in_.clear();
    while (step_ < plan.steps.size() && plan.steps[step_].kind == CheckStep::Kind::Send) {
      out_ += plan.steps[step_].data;
      ++step_;
    }
  }

  bool writeOut() {  // false: error (done() was called)
    while (written_ < out_.size()) {
      if (tls_ && !pendingTls_ && phase_ != Phase::Handshake) {
        int r = tls_->write(out_, written_);
        if (r < 0) {
          done({false, "L6RSP", tls_->lastError()});
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
      done({false, "L4CON", std::strerror(errno)});
      return false;
    }
    return true;
  }

  // Returns 1 read something, 0 nothing now, -1 EOF, -2 error (done() called).
  int readIn() {
    if (tls_) {
      int r = tls_->read(in_);
      if (r > 0) return 1;
      if (tls_->eof()) return -1;
      if (r < 0) {
        done({false, "L6RSP", tls_->lastError()});
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
    done({false, "L4CON", std::strerror(errno)});
    return -2;
  }

  void drive() {
    const CheckPlan& plan = *spec_->plan;
    for (int guard = 0; guard < 1000 && fd_ >= 0; ++guard) {
      if (phase_ == Phase::Handshake) {
        int r = tls_->handshake();
        if (r < 0) {
          done({false, "L6RSP", "TLS handshake failed: " + tls_->lastError()});
          return;
        }
        if (r == 0) return;
        phase_ = Phase::Sending;
        if (plan.kind == CheckPlan::Kind::Http) out_ = plan.httpRequest;
        if (plan.kind == CheckPlan::Kind::Steps) queueSends();
        continue;
      }
      if (phase_ == Phase::Sending) {
        if (!writeOut()) return;
        if (written_ < out_.size()) return;
        if (pendingTls_) {
          startTls();
          return;
        }
        out_.clear();
        written_ = 0;
        phase_ = Phase::Receiving;
        if (plan.kind == CheckPlan::Kind::Connect) return;
        if (plan.kind == CheckPlan::Kind::Steps && step_ >= plan.steps.size()) {
          done({true, "L7OK", "(tcp-check)"});
          return;
        }
      }
      if (phase_ == Phase::Receiving) {
        int r = readIn();
        if (r == -2) return;
        bool eof = r == -1;
        if (!evaluate(eof)) return;  // verdict given, or waiting
        if (r == 0) return;
        continue;
      }
      return;
    }
  }

  // Looks at what was received. Returns true to keep reading.
  bool evaluate(bool eof) {
    const CheckPlan& plan = *spec_->plan;
    if (plan.kind == CheckPlan::Kind::SslHello) {
      HelloAnswer a = classifyHelloResponse(in_);
      if (a == HelloAnswer::ServerHello) {
        done({true, "L6OK", ""});
      } else if (a == HelloAnswer::Alert) {
        done({false, "L6RSP", "TLS alert in response to the ClientHello"});
      } else if (a == HelloAnswer::NotTls) {
        done({false, "L6RSP", "not a TLS ServerHello"});
      } else if (eof) {
        done({false, "L6RSP", "connection closed before a ServerHello"});
      } else {
        return true;
      }
      return false;
    }
    if (plan.kind == CheckPlan::Kind::Http) return evaluateHttp(eof);
    // tcp-check steps
    while (step_ < plan.steps.size()) {
      const CheckStep& s = plan.steps[step_];
      if (s.kind == CheckStep::Kind::Send) {
        queueSends();
        phase_ = Phase::Sending;
        drive();
        return false;
      }
      if (s.kind == CheckStep::Kind::Connect) {
        done({false, "L7RSP", "only one 'tcp-check connect' per check is supported"});
        return false;
      }
      bool found = false;
      if (in_.size() >= s.minRecv) {
        if (s.match == CheckStep::Match::String || s.match == CheckStep::Match::Binary) {
          found = in_.find(s.pattern) != std::string::npos;
        } else {
          found = s.regex->matches(in_);
        }
      }
      // Without min-recv a mismatch waits for more data (until the end or
      // the timeout); with it, a mismatch over min-recv bytes is final.
      const bool enough = s.minRecvSet && in_.size() >= s.minRecv;
      if (found != s.negate && (found || eof || enough)) {
        ++step_;
        continue;
      }
      if (found && s.negate) {
        done({false, "L7RSP", "TCPCHK matched unwanted content at step " + std::to_string(step_ + 1)});
        return false;
      }
      if (eof || enough ||
          (s.infoFromResponse && in_.find("\r\n") != std::string::npos && in_.size() >= s.pattern.size())) {
        // A protocol check decides on the first whole line, as the server
        // may keep the connection open after an error line.
        done({false, s.errorCode.empty() ? "L7RSP" : s.errorCode,
              s.infoFromResponse ? in_.substr(0, in_.find("\r\n"))
                                 : "TCPCHK did not match content at step " + std::to_string(step_ + 1)});
        return false;
      }
      if (in_.size() > 65536) {
        done({false, "L7RSP", "TCPCHK response too long at step " + std::to_string(step_ + 1)});
        return false;
      }
      return true;
    }
    const CheckStep* last = plan.steps.empty() ? nullptr : &plan.steps.back();
    done({true, "L7OK", last && !last->okInfo.empty() ? last->okInfo : "(tcp-check)"});
    return false;
  }

  bool evaluateHttp(bool eof) {
    const CheckPlan& plan = *spec_->plan;
    size_t eol = in_.find("\r\n");
    if (eol == std::string::npos) {
      if (eof || in_.size() > 8192) {
        done({false, "L7RSP", in_.empty() ? "connection closed without a response" : "no status line"});
        return false;
      }
      return true;
    }
    std::string line = in_.substr(0, eol);
    if (line.compare(0, 5, "HTTP/") != 0 || line.size() < 12) {
      done({false, "L7RSP", "not an HTTP status line"});
      return false;
    }
    auto code = core::parseInt(line.substr(9, 3));
    if (!code) {
      done({false, "L7RSP", "bad HTTP status"});
      return false;
    }
    std::string reason = line.size() > 13 ? line.substr(13) : "";
    bool needBody = false;
    for (const CheckStep& e : plan.httpExpect) {
      if (e.match == CheckStep::Match::String || e.match == CheckStep::Match::RString) needBody = true;
    }
    if (needBody && !eof && in_.size() < 65536) return true;
    CheckResult r;
    r.httpStatus = static_cast<int>(*code);
    if (plan.httpExpect.empty()) {
      r.ok = *code >= 200 && *code < 400;
    } else {
      r.ok = true;
      for (const CheckStep& e : plan.httpExpect) {
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
        if (m == e.negate) r.ok = false;
      }
    }
    r.code = r.ok ? "L7OK" : "L7STS";
    r.info = reason;
    done(r);
    return false;
  }

  void timedOut() {
    const CheckPlan& plan = *spec_->plan;
    std::string code = phase_ == Phase::Connecting ? "L4TOUT"
                       : plan.kind == CheckPlan::Kind::SslHello || phase_ == Phase::Handshake
                           ? "L6TOUT"
                           : "L7TOUT";
    std::string info;
    if (code == "L7TOUT" && plan.kind == CheckPlan::Kind::Steps && step_ < plan.steps.size()) {
      const CheckStep& st = plan.steps[step_];
      std::string what = st.match == CheckStep::Match::String   ? "string '" + st.pattern + "'"
                         : st.match == CheckStep::Match::Binary ? "binary"
                                                                : "regex";
      info = "at step " + std::to_string(step_ + 1) + " of tcp-check (expect " + what + ")";
    }
    done({false, code, info});
  }

  void closeConnection() {
    if (fd_ >= 0) {
      hc_.loop_.remove(fd_);
      tls_.reset();
      ::close(fd_);
      fd_ = -1;
    }
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
                     (r.httpStatus ? ", code: " + std::to_string(r.httpStatus) : "") +
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
        updateRamp(rampFrom_);
      }
      hc_.transition(*this, true, r);
    }
    last_ = r;
    balance::ServerLive& live = *server_.live;
    if (!r.ok) live.counters.checkFailures.fetch_add(1, std::memory_order_relaxed);
    live.checkStatus = r.code;
    live.checkInfo = r.info;
    live.checkCode = r.httpStatus;
    live.checkDurationMs = r.durationMs;
    live.checkHealth = up_ ? spec_->rise + spec_->fall - 1 - std::min(failed_, spec_->fall - 1) : passed_;
    bool transitional = (up_ && failed_ > 0) || (!up_ && passed_ > 0);
    uint32_t next = transitional ? spec_->fastinter : up_ ? spec_->inter : spec_->downinter;
    nextCheck_ = hc_.loop_.now() + next;
    rescheduleIdle();
  }

  void updateRamp(uint64_t now) {
    uint64_t elapsed = now - rampFrom_;
    uint32_t w = static_cast<uint32_t>((uint64_t{server_.configWeight} * elapsed + slowstart_ - 1) / slowstart_);
    w = std::max<uint32_t>(1, std::min(w, server_.configWeight));
    server_.live->throttle.store(static_cast<int32_t>(std::min<uint64_t>(100, elapsed * 100 / slowstart_)));
    if (w != server_.weight.load()) {
      server_.weight.store(w);
      be_.balancer->refresh();
    }
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
  void firstCheckAt(uint64_t when) {
    nextCheck_ = when;
    hc_.loop_.schedule(*this, when);
  }
  const CheckResult& last() const { return last_; }

 private:
  HealthChecker& hc_;
  runtime::Backend& be_;
  balance::ServerState& server_;
  std::shared_ptr<const ServerCheckSpec> spec_;
  uint32_t slowstart_;
  int fd_ = -1;
  Phase phase_ = Phase::Idle;
  std::unique_ptr<TlsClient> tls_;
  bool pendingTls_ = false;
  std::string out_;
  size_t written_ = 0;
  std::string in_;
  size_t step_ = 0;
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

HealthChecker::HealthChecker(event::EventLoop& loop, std::shared_ptr<const runtime::Runtime> rt,
                             KillSessions kill, bool logToStderr)
    : loop_(loop), rt_(std::move(rt)), kill_(std::move(kill)), logToStderr_(logToStderr) {}

HealthChecker::~HealthChecker() { stop(); }

void HealthChecker::stop() {
  for (auto& c : checks_) c->quiesce();
}

void HealthChecker::start() {
  // Spread the first checks over one interval, so that a farm is not probed
  // all at once at start.
  std::mt19937 rng(static_cast<unsigned>(getpid()));
  for (const auto& be : rt_->backends) {
    for (size_t i = 0; i < be->servers.size(); ++i) {
      if (!be->checks[i]) continue;
      const config::ServerConfig& sc = *be->serverConfigs[i];
      auto c = std::make_unique<ServerCheck>(*this, *be, *be->servers[i], be->checks[i],
                                             sc.slowstart.value_or(0));
      uint64_t spread = be->checks[i]->inter ? rng() % std::max<uint32_t>(1, be->checks[i]->inter / 4) : 0;
      c->firstCheckAt(loop_.now() + spread);
      checks_.push_back(std::move(c));
    }
  }
}

void HealthChecker::logFor(const runtime::Backend& be, int level, const std::string& message) {
  emit(be.eventLog(rt_->globalLogger), level, message);
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
  balance::ServerState& s = c.server();
  runtime::Backend& be = c.backend();
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
  be.balancer->refresh();
  auto [active, backup] = be.usableServers();
  std::string code = r.httpStatus ? ", code: " + std::to_string(r.httpStatus) : "";
  std::string info = r.info.empty() ? "" : ", info: \"" + r.info + "\"";
  if (up) {
    logFor(be, observe::kNotice, "Server " + be.name + "/" + s.name + " is UP, reason: " +
                              std::string(reasonText(r.code)) + code + ", check duration: " +
                              std::to_string(r.durationMs) + "ms. " + std::to_string(active) +
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
    logFor(be, observe::kAlert, "Server " + be.name + "/" + s.name + " is DOWN, reason: " +
                             std::string(reasonText(r.code)) + code + info + ", check duration: " +
                             std::to_string(r.durationMs) + "ms. " + std::to_string(active) +
                             " active and " + std::to_string(backup) + " backup servers left. " +
                             std::to_string(s.currentConnections.load()) +
                             " sessions active, 0 requeued, 0 remaining in queue.");
    if (active == 0 && backup == 0) {
      logFor(be, observe::kEmerg, "backend " + be.name + " has no server available!");
    }
    if (be.serverConfigs[s.position]->onMarkedDown == "shutdown-sessions") kill_(&s, 'D');
  }
}

}  // namespace sluice::health
