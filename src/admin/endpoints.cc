// SPDX-License-Identifier: Apache-2.0
// Runtime API sockets and the stats proxies' HTTP server; see endpoints.h.
#include "admin/endpoints.h"

#include <fcntl.h>
#include <grp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "admin/http_request.h"
#include "admin/prometheus.h"
#include "core/strings.h"
#include "net/socket.h"

namespace sluice::admin {

namespace {

constexpr size_t kMaxCliLine = 64 * 1024;
constexpr size_t kMaxCliPayload = 16 * 1024 * 1024;
constexpr uint64_t kDefaultCliTimeoutMs = 10000;
constexpr uint64_t kDefaultHttpTimeoutMs = 10000;
constexpr size_t kMaxHttpConnections = 256;

std::string errnoText() { return std::strerror(errno); }

// A runtime API address: a path (or unix@path), abns@name, ipv4@/ipv6@
// host:port, a bare host:port, or fd@N (a socket the parent left open, as
// VTest hands over "stats socket fd@${cli}").
struct CliAddress {
  enum class Kind { Unix, Abstract, Tcp, Inherited } kind = Kind::Unix;
  std::string path;
  core::Address tcp;
  int fd = -1;
};

bool parseCliAddress(const std::string& text, CliAddress& out, std::string& error) {
  std::string t = text;
  if (core::startsWith(t, "fd@")) {
    auto n = core::parseInt(t.substr(3));
    if (!n || *n < 0 || *n > INT32_MAX) {
      error = "invalid descriptor in '" + text + "' (fd@ takes the number of an inherited socket)";
      return false;
    }
    out.kind = CliAddress::Kind::Inherited;
    out.fd = static_cast<int>(*n);
    return true;
  }
  if (core::startsWith(t, "unix@")) {
    out.kind = CliAddress::Kind::Unix;
    out.path = t.substr(5);
  } else if (core::startsWith(t, "abns@")) {
    out.kind = CliAddress::Kind::Abstract;
    out.path = t.substr(5);
  } else if (core::startsWith(t, "ipv4@") || core::startsWith(t, "ipv6@") || core::startsWith(t, "tcp@") ||
             core::startsWith(t, "tcp4@") || core::startsWith(t, "tcp6@")) {
    auto a = core::Address::parse(t.substr(t.find('@') + 1));
    if (!a || a->port() == 0) {
      error = "invalid address '" + text + "' (expected ipv4@<ip>:<port>)";
      return false;
    }
    out.kind = CliAddress::Kind::Tcp;
    out.tcp = *a;
  } else if (!t.empty() && t[0] != '/' && t[0] != '.' && core::Address::parse(t) && core::Address::parse(t)->port()) {
    out.kind = CliAddress::Kind::Tcp;
    out.tcp = *core::Address::parse(t);
  } else if (t.find('@') != std::string::npos && t[0] != '/') {
    error = "unsupported address family in '" + text + "' (use a path, unix@, abns@ or ipv4@)";
    return false;
  } else {
    out.kind = CliAddress::Kind::Unix;
    out.path = t;
  }
  if (out.kind != CliAddress::Kind::Tcp) {
    if (out.path.empty() || out.path.size() >= sizeof(sockaddr_un::sun_path) - 1) {
      error = "socket path '" + out.path + "' is empty or longer than 107 bytes";
      return false;
    }
  }
  return true;
}

int openCliSocket(const config::StatsSocketConfig& c, const CliAddress& a, std::string& error) {
  if (a.kind == CliAddress::Kind::Inherited) return net::adoptListener(a.fd, 64, /*tcpOnly=*/false, error);
  if (a.kind == CliAddress::Kind::Tcp) {
    net::ListenOptions lo;
    lo.reusePort = false;
    lo.backlog = 64;
    return net::openListener(a.tcp, lo, error);
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = "socket(AF_UNIX): " + errnoText();
    return -1;
  }
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  socklen_t len;
  if (a.kind == CliAddress::Kind::Abstract) {
    sun.sun_path[0] = '\0';
    std::memcpy(sun.sun_path + 1, a.path.data(), a.path.size());
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + a.path.size());
  } else {
    // A socket file left by a previous run is replaced; anything else is not.
    struct stat st {};
    if (lstat(a.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        ::close(fd);
        error = "'" + a.path + "' exists and is not a socket";
        return -1;
      }
      ::unlink(a.path.c_str());
    }
    std::memcpy(sun.sun_path, a.path.data(), a.path.size());
    len = static_cast<socklen_t>(sizeof(sun));
    // Debian's stock file names /run/haproxy/admin.sock; systemd creates the
    // directory (RuntimeDirectory), a plain start may not have it yet.
    size_t slash = a.path.rfind('/');
    if (slash != std::string::npos && slash > 0) {
      std::string parent = a.path.substr(0, slash);
      struct stat pst {};
      if (::stat(parent.c_str(), &pst) != 0 && errno == ENOENT) ::mkdir(parent.c_str(), 0755);
    }
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sun), len) != 0) {
    error = "cannot bind UNIX socket '" + a.path + "': " + errnoText();
    ::close(fd);
    return -1;
  }
  if (a.kind == CliAddress::Kind::Unix) {
    if (c.mode && ::chmod(a.path.c_str(), c.mode) != 0) {
      error = "cannot chmod '" + a.path + "': " + errnoText();
      ::close(fd);
      return -1;
    }
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    if (!c.user.empty()) {
      if (passwd* pw = getpwnam(c.user.c_str())) uid = pw->pw_uid;
    }
    if (!c.uid.empty()) uid = static_cast<uid_t>(core::parseInt(c.uid).value_or(-1));
    if (!c.group.empty()) {
      if (group* gr = getgrnam(c.group.c_str())) gid = gr->gr_gid;
    }
    if (!c.gid.empty()) gid = static_cast<gid_t>(core::parseInt(c.gid).value_or(-1));
    if ((uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) && ::chown(a.path.c_str(), uid, gid) != 0) {
      error = "cannot chown '" + a.path + "': " + errnoText();
      ::close(fd);
      return -1;
    }
  }
  if (::listen(fd, 64) != 0) {
    error = "cannot listen on '" + a.path + "': " + errnoText();
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string httpStatusText(int code) {
  switch (code) {
    case 200: return "OK";
    case 303: return "See Other";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

std::string httpResponse(int code, const std::string& type, const std::string& body,
                         const std::vector<std::string>& extra = {}, bool head = false) {
  std::string out = "HTTP/1.1 " + std::to_string(code) + " " + httpStatusText(code) + "\r\n";
  out += "Content-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nCache-Control: no-cache\r\nConnection: close\r\n";
  for (const std::string& h : extra) out += h + "\r\n";
  out += "\r\n";
  if (!head) out += body;
  return out;
}

std::string simplePage(int code, const std::string& text) {
  return "<html><body><h1>" + std::to_string(code) + " " + httpStatusText(code) + "</h1>\n" + htmlEscape(text) +
         "\n</body></html>\n";
}

bool basicAuthOk(const std::vector<std::string>& users, std::string_view header) {
  if (users.empty()) return true;
  std::string_view h = core::trim(header);
  if (h.size() < 6 || !core::iequals(h.substr(0, 6), "basic ")) return false;
  std::string_view b64 = core::trim(h.substr(6));
  if (b64.empty() || b64.size() > 1024) return false;
  std::string decoded(b64.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  if (n < 0) return false;
  size_t pad = 0;
  for (size_t i = b64.size(); i > 0 && b64[i - 1] == '='; --i) ++pad;
  decoded.resize(static_cast<size_t>(n) - std::min<size_t>(pad, static_cast<size_t>(n)));
  bool ok = false;
  for (const std::string& u : users) {
    // Constant time per candidate: no early exit on the first differing byte.
    if (u.size() == decoded.size() && CRYPTO_memcmp(u.data(), decoded.data(), u.size()) == 0) ok = true;
  }
  return ok;
}

}  // namespace

std::string urlDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Connections

class Endpoints::Connection : public event::EventHandler, public event::Timer {
 public:
  Connection(Endpoints& ep, int fd, uint64_t timeoutMs) : ep_(ep), fd_(fd), timeoutMs_(timeoutMs) {}
  ~Connection() override { net::closeFd(fd_); }

  bool isCli = false;

  bool start() {
    if (!ep_.loop().add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this)) return false;
    ep_.loop().schedule(*this, ep_.loop().now() + timeoutMs_);
    return true;
  }

  void onEvents(uint32_t events) noexcept override {
    if (done_) return;
    if (events & EPOLLOUT) writable_ = true;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readInput();
    flush();
  }

  void onTimer() noexcept override { finish(); }

  // Closes without reporting to the owner (which is going away).
  void quiesce() {
    done_ = true;
    ep_.loop().cancel(*this);
    if (fd_ >= 0) {
      ep_.loop().remove(fd_);
      net::closeFd(fd_);
    }
  }

 protected:
  virtual void onData() = 0;  // new bytes in in_
  virtual void onPeerClosed() { finish(); }

  void send(const std::string& s) {
    out_ += s;
    flush();
  }
  void closeAfterWrite() {
    closing_ = true;
    flush();
  }
  void touch() { ep_.loop().schedule(*this, ep_.loop().now() + timeoutMs_); }

  void finish() {
    if (done_) return;
    done_ = true;
    ep_.loop().cancel(*this);
    if (fd_ >= 0) {
      ep_.loop().remove(fd_);
      net::closeFd(fd_);
    }
    ep_.connectionDone(this);
  }

  Endpoints& ep_;
  std::string in_;
  bool done_ = false;
  int fd_;

 private:
  void readInput() {
    char buf[16384];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n > 0) {
        in_.append(buf, static_cast<size_t>(n));
        touch();
        onData();
        if (done_) return;
        continue;
      }
      if (n == 0) {
        peerClosed_ = true;
        if (out_.empty() && !busy()) onPeerClosed();
        return;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) finish();
      return;
    }
  }

  void flush() {
    if (done_) return;
    while (writable_ && !out_.empty()) {
      ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
      if (n > 0) {
        out_.erase(0, static_cast<size_t>(n));
        touch();
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        writable_ = false;
        break;
      }
      finish();
      return;
    }
    if (out_.empty() && (closing_ || peerClosed_)) {
      if (closing_) ::shutdown(fd_, SHUT_WR);
      finish();
    }
  }

  virtual bool busy() const { return false; }

  uint64_t timeoutMs_;
  std::string out_;
  bool writable_ = false;
  bool closing_ = false;
  bool peerClosed_ = false;
};

// One runtime API client: a line of commands, or many with "prompt".
class CliConnection final : public Endpoints::Connection {
 public:
  CliConnection(Endpoints& ep, int fd, uint64_t timeoutMs, Level level, bool master)
      : Connection(ep, fd, timeoutMs) {
    session_.level = level;
    session_.master = master;
  }

 protected:
  void onData() override {
    // Lines are cut where they end; the bytes before `scanned_` were already
    // searched, and the lines taken are erased once, so that a line sent a
    // byte at a time or a long pipelined batch costs linear work.
    size_t start = 0;
    struct Erase {
      std::string& in;
      size_t& start;
      size_t& scanned;
      ~Erase() {
        start = std::min(start, in.size());
        in.erase(0, start);
        scanned = scanned > start ? scanned - start : 0;
      }
    } erase{in_, start, scanned_};
    for (;;) {
      size_t nl = in_.find('\n', std::max(start, scanned_));
      if (nl == std::string::npos) {
        scanned_ = in_.size();
        if (in_.size() - start > kMaxCliLine && payloadFor_.empty()) {
          send("Command line too long.\n");
          closeAfterWrite();
        }
        return;
      }
      std::string line = in_.substr(start, nl - start);
      start = nl + 1;
      scanned_ = start;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!payloadFor_.empty()) {
        if (!line.empty()) {
          payload_ += line + "\n";
          if (payload_.size() > kMaxCliPayload) {
            send("Payload too large.\n");
            closeAfterWrite();
            return;
          }
          continue;
        }
        std::string cmd = std::move(payloadFor_);
        payloadFor_.clear();
        run(cmd, payload_);
        payload_.clear();
      } else {
        std::string_view t = core::trim(line);
        if (t.size() >= 2 && t.substr(t.size() - 2) == "<<") {
          payloadFor_ = std::string(t);
          continue;
        }
        run(line, {});
      }
      if (done_) return;
      if (!session_.prompt || session_.quit) {
        closeAfterWrite();
        return;
      }
      send(Cli::promptText(session_));
    }
  }

  void onPeerClosed() override {
    if (!payloadFor_.empty()) {  // a payload ended by EOF instead of an empty line
      std::string cmd = std::move(payloadFor_);
      payloadFor_.clear();
      run(cmd, payload_);
      closeAfterWrite();
      return;
    }
    finish();
  }

 private:
  void run(const std::string& line, const std::string& payload) {
    std::vector<std::string> commands = Cli::splitCommands(line);
    for (size_t i = 0; i < commands.size(); ++i) {
      // Only the last command of a line can take the payload.
      send(ep_.cli().execute(commands[i], i + 1 == commands.size() ? payload : std::string(), session_));
      if (session_.quit) return;
    }
  }

  CliSession session_;
  std::string payloadFor_;
  std::string payload_;
  size_t scanned_ = 0;   // in_ before this holds no end of line
};

// One HTTP request to a stats proxy, answered and closed.
class HttpConnection final : public Endpoints::Connection {
 public:
  HttpConnection(Endpoints& ep, int fd, uint64_t timeoutMs, std::shared_ptr<runtime::Runtime> rt,
                 runtime::Frontend* fe, const core::Address& src, const core::Address& dst)
      : Connection(ep, fd, timeoutMs), rt_(std::move(rt)), fe_(fe), src_(src), dst_(dst) {
    fe_->counters->opened();
  }
  ~HttpConnection() override {
    fe_->counters->bytesIn.fetch_add(bytesIn_, std::memory_order_relaxed);
    fe_->counters->bytesOut.fetch_add(bytesOut_, std::memory_order_relaxed);
    fe_->counters->closed();
  }

 protected:
  void onData() override {
    if (answered_ || in_.size() < waitFor_) return;
    HttpRequest req;
    switch (parseHttpRequest(in_, req, {}, &scanned_)) {
      case HttpParse::NeedMore:
        waitFor_ = req.needed;  // nothing to look at again before that
        return;
      case HttpParse::Error:
        answer(httpResponse(req.errorStatus, "text/html", simplePage(req.errorStatus, "Bad request.")));
        return;
      case HttpParse::Done:
        bytesIn_ = req.consumed;
        handle(req);
        return;
    }
  }

 private:
  void answer(const std::string& response) {
    answered_ = true;
    bytesOut_ += response.size();
    send(response);
    closeAfterWrite();
  }

  void handle(const HttpRequest& http) {
    route::HttpRequestView req;
    req.method = http.method;
    req.path = http.path;
    req.query = http.query;
    req.version = http.version;
    for (const auto& [k, v] : http.headers) req.headers.emplace_back(k, v);
    const std::string& path = http.path;
    const std::string& query = http.query;
    const std::string& body = http.body;
    std::string authorization = http.header("Authorization");
    bool headOnly = http.method == "HEAD";

    route::SessionView view;
    view.src = src_;
    view.dst = dst_;
    view.frontendName = fe_->name;
    view.http = &req;
    const runtime::StatsService& st = *fe_->stats;

    for (const runtime::HttpRule& rule : st.rules) {
      if (rule.condition && rule.condition->evaluate(view) != route::Tri::Pass) continue;
      if (rule.action == runtime::HttpRule::Action::Deny) {
        answer(httpResponse(403, "text/html", simplePage(403, "Request forbidden by administrative rules."), {},
                            headOnly));
        return;
      }
      if (rule.action == runtime::HttpRule::Action::Allow) break;
      // use-service prometheus-exporter
      std::vector<std::string> scopes;
      for (std::string_view kv : core::split(query, '&')) {
        if (core::startsWith(kv, "scope=")) scopes.push_back(urlDecode(kv.substr(6)));
      }
      Snapshot snap = collect(*rt_, ep_.host().processState(), ep_.host().facts());
      snap.resolvers = ep_.host().resolverCounters();
      if (st.config) applyScope(snap, st.config->scopes);
      answer(httpResponse(200, "text/plain; version=0.0.4; charset=utf-8", renderPrometheus(snap, scopes), {},
                          headOnly));
      return;
    }

    const config::StatsConfig* sc = st.config;
    std::string url = query.empty() ? path : path + "?" + query;
    if (!st.page || !sc || !core::startsWith(url, sc->uri)) {
      answer(httpResponse(503, "text/html", simplePage(503, "No server is available to handle this request."), {},
                          headOnly));
      return;
    }
    if (!basicAuthOk(sc->auth, authorization)) {
      answer(httpResponse(401, "text/html", simplePage(401, "You need a valid user and password to access this content."),
                          {"WWW-Authenticate: Basic realm=\"" + sc->realm + "\""}, headOnly));
      return;
    }
    bool admin = st.admin && st.adminCondition && st.adminCondition->evaluate(view) == route::Tri::Pass;
    std::string suffix = url.substr(sc->uri.size());

    if (http.method == "POST") {
      if (!admin) {
        answer(httpResponse(403, "text/html", simplePage(403, "Administrative actions are not allowed here.")));
        return;
      }
      std::string result = applyForm(body);
      std::string base = sc->uri.substr(0, sc->uri.find(';'));
      answer(httpResponse(303, "text/html", "", {"Location: " + base + ";st=" + result}));
      return;
    }
    if (http.method != "GET" && !headOnly) {
      answer(httpResponse(405, "text/html", simplePage(405, "Use GET or POST."), {"Allow: GET, HEAD, POST"}));
      return;
    }

    Snapshot snap = collect(*rt_, ep_.host().processState(), ep_.host().facts());
    applyScope(snap, sc->scopes);
    PageOptions po;
    po.config = sc;
    po.uri = url;
    po.admin = admin;
    if (suffix.find(";csv") != std::string::npos) {
      answer(httpResponse(200, "text/csv; charset=utf-8", renderStatCsv(snap, {}), {}, headOnly));
      return;
    }
    if (suffix.find(";json") != std::string::npos) {
      answer(httpResponse(200, "application/json", renderStatsJson(snap, ep_.history(), po), {}, headOnly));
      return;
    }
    size_t st_ = suffix.find(";st=");
    if (st_ != std::string::npos) {
      std::string code = suffix.substr(st_ + 4, suffix.find(';', st_ + 1) - st_ - 4);
      po.notice = code == "DONE"   ? "Action processed successfully."
                  : code == "NONE" ? "Nothing has changed."
                  : code == "PART" ? "Action not processed for some of the servers."
                  : code == "DENY" ? "Action denied."
                                   : "Action not processed: invalid parameters.";
      po.uri = url.substr(0, url.find(";st="));
    }
    answer(httpResponse(200, "text/html; charset=utf-8", renderStatsPage(snap, ep_.history(), po), {}, headOnly));
  }

  // The admin form: b=<backend>&s=<server>...&action=<action>.
  std::string applyForm(const std::string& body) {
    std::string backend, action;
    std::vector<std::string> servers;
    for (std::string_view kv : core::split(body, '&')) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos) continue;
      std::string k = urlDecode(kv.substr(0, eq)), v = urlDecode(kv.substr(eq + 1));
      if (k == "b") backend = v;
      else if (k == "s") servers.push_back(v);
      else if (k == "action") action = v;
    }
    if (backend.empty() || action.empty()) return "ERRP";
    if (servers.empty()) return "NONE";
    std::string verb = action == "ready" || action == "drain" || action == "maint" ? "set server %s state " + action
                       : action == "hrunn" ? "set server %s health up"
                       : action == "hdown" ? "set server %s health down"
                       : action == "shutdown" ? "shutdown sessions server %s"
                                              : "";
    if (verb.empty()) return "ERRP";
    CliSession admin;
    admin.level = Level::Admin;
    size_t ok = 0;
    for (const std::string& s : servers) {
      std::string cmd = verb;
      std::string name = backend + "/" + s;
      std::string escaped;
      for (char c : name) {
        if (c == ' ' || c == ';' || c == '\\') escaped += '\\';
        escaped += c;
      }
      cmd.replace(cmd.find("%s"), 2, escaped);
      if (ep_.cli().execute(cmd, {}, admin) == "\n") ++ok;
    }
    return ok == servers.size() ? "DONE" : ok ? "PART" : "ERRP";
  }

  std::shared_ptr<runtime::Runtime> rt_;
  runtime::Frontend* fe_;
  core::Address src_, dst_;
  size_t scanned_ = 0;   // where the search for the end of the head resumes
  size_t waitFor_ = 0;   // the request cannot be whole before this many bytes
  bool answered_ = false;
  uint64_t bytesIn_ = 0, bytesOut_ = 0;
};

// ---------------------------------------------------------------------------
// Listeners

class Endpoints::CliListener final : public event::EventHandler, public event::Timer {
 public:
  CliListener(Endpoints& ep, int fd, Level level, bool master, uint64_t timeoutMs, std::string path)
      : ep_(ep), fd_(fd), level_(level), master_(master), timeoutMs_(timeoutMs), path_(std::move(path)) {
    struct stat st {};
    if (!path_.empty() && ::stat(path_.c_str(), &st) == 0) inode_ = st.st_ino;
  }
  ~CliListener() override {
    if (armed()) ep_.loop().cancel(*this);
    stop();
    // The socket file goes with the socket (a reload that drops the line),
    // unless a new socket already took the path.
    struct stat st {};
    if (!path_.empty() && ::stat(path_.c_str(), &st) == 0 && st.st_ino == inode_) ::unlink(path_.c_str());
  }
  bool start() { return ep_.loop().add(fd_, EPOLLIN, this); }
  void stop() {
    if (fd_ >= 0) {
      ep_.loop().remove(fd_);
      net::closeFd(fd_);
    }
  }
  void update(Level level, uint64_t timeoutMs) {
    level_ = level;
    timeoutMs_ = timeoutMs;
  }
  // Edge-triggered: 64 at a time, then again on the timer until the queue
  // is empty, so that a burst never strands connections in it.
  void onEvents(uint32_t) noexcept override {
    for (int i = 0; i < 64 && fd_ >= 0; ++i) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) return;
      ep_.adopt(std::make_unique<CliConnection>(ep_, c, timeoutMs_, level_, master_), true);
    }
    if (fd_ >= 0) ep_.loop().schedule(*this, ep_.loop().now());
  }
  void onTimer() noexcept override { onEvents(EPOLLIN); }
  std::string signature;   // what the file said, to spot changes

 private:
  Endpoints& ep_;
  int fd_;
  Level level_;
  bool master_;
  uint64_t timeoutMs_;
  std::string path_;       // UNIX socket file to remove at the end
  ino_t inode_ = 0;
};

class Endpoints::HttpListener final : public event::EventHandler, public event::Timer {
 public:
  HttpListener(Endpoints& ep, session::ListenerSpec spec) : ep_(ep), spec_(spec) {}
  ~HttpListener() override {
    if (armed()) ep_.loop().cancel(*this);
    stop();
  }
  bool start() { return ep_.loop().add(spec_.fd, EPOLLIN, this); }
  void stop() {
    if (spec_.fd >= 0) {
      ep_.loop().remove(spec_.fd);
      net::closeFd(spec_.fd);
    }
  }
  void onEvents(uint32_t) noexcept override {
    for (int i = 0; i < 64 && spec_.fd >= 0; ++i) {
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      int c = ::accept4(spec_.fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) return;
      core::Address src = core::Address::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
      uint64_t timeout = spec_.frontend->timeoutClient ? spec_.frontend->timeoutClient : kDefaultHttpTimeoutMs;
      ep_.adopt(std::make_unique<HttpConnection>(ep_, c, std::min<uint64_t>(timeout, kDefaultHttpTimeoutMs),
                                                 ep_.host().currentRuntime(), spec_.frontend, src,
                                                 net::localAddress(c)),
                false);
    }
    if (spec_.fd >= 0) ep_.loop().schedule(*this, ep_.loop().now());  // the rest of a burst, next turn
  }
  void onTimer() noexcept override { onEvents(EPOLLIN); }

 private:
  Endpoints& ep_;
  session::ListenerSpec spec_;
};

// Samples the history for the page's chart, once a second.
class Endpoints::Ticker final : public event::Timer {
 public:
  explicit Ticker(Endpoints& ep) : ep_(ep) { ep_.loop().schedule(*this, ep_.loop().now() + 1000); }
  ~Ticker() override { ep_.loop().cancel(*this); }
  void onTimer() noexcept override {
    auto rt = ep_.host().currentRuntime();
    if (rt) ep_.mutableHistory().sample(collect(*rt, ep_.host().processState(), ep_.host().facts()));
    ep_.loop().schedule(*this, ep_.loop().now() + 1000);
  }

 private:
  Endpoints& ep_;
};

// ---------------------------------------------------------------------------

Endpoints::Endpoints(event::EventLoop& loop, Host& host)
    : loop_(loop), host_(host), cli_interpreter_(host), ticker_(std::make_unique<Ticker>(*this)) {}

Endpoints::~Endpoints() {
  ticker_.reset();
  for (auto& c : connections_) {
    loop_.cancel(*c);
  }
  connections_.clear();
  http_.clear();
  cli_.clear();
}

void Endpoints::adopt(std::unique_ptr<Connection> c, bool cli) {
  size_t& count = cli ? cliConnections_ : httpConnections_;
  if (count >= (cli ? cliLimit_ : kMaxHttpConnections) || !c->start()) return;  // closed by its destructor
  c->isCli = cli;
  ++count;
  connections_.push_back(std::move(c));
}

void Endpoints::connectionDone(Connection* c) {
  auto it = std::find_if(connections_.begin(), connections_.end(), [c](const auto& p) { return p.get() == c; });
  if (it == connections_.end()) return;
  std::unique_ptr<Connection> owned = std::move(*it);
  connections_.erase(it);
  --(owned->isCli ? cliConnections_ : httpConnections_);
  loop_.deferDelete(std::move(owned));
}

bool Endpoints::configureCli(const config::GlobalConfig& g, std::string& errors) {
  bool ok = true;
  std::map<std::string, std::unique_ptr<CliListener>> next;
  uint64_t timeout = g.statsTimeout ? *g.statsTimeout : kDefaultCliTimeoutMs;
  cliLimit_ = g.statsMaxconn ? std::max<uint32_t>(1, *g.statsMaxconn) : 10;
  for (const config::StatsSocketConfig& c : g.statsSockets) {
    Level level = Level::User;
    parseLevel(c.level, level);
    std::string signature = c.address + "|" + std::to_string(c.mode) + "|" + c.user + "|" + c.group + "|" +
                            c.uid + "|" + c.gid;
    auto old = cli_.find(c.address);
    if (old != cli_.end() && old->second->signature == signature) {
      old->second->update(level, timeout);
      next[c.address] = std::move(old->second);
      cli_.erase(old);
      continue;
    }
    if (old != cli_.end()) {  // mode or owner changed: a new socket file
      old->second->stop();
      loop_.deferDelete(std::move(old->second));
      cli_.erase(old);
    }
    CliAddress a;
    std::string error;
    int fd = -1;
    if (parseCliAddress(c.address, a, error)) fd = openCliSocket(c, a, error);
    if (fd < 0) {
      errors += c.where.toString() + ": error: 'stats socket': " + error + "\n";
      ok = false;
      continue;
    }
    auto l = std::make_unique<CliListener>(*this, fd, level, c.master, timeout,
                                           a.kind == CliAddress::Kind::Unix ? a.path : std::string());
    l->signature = signature;
    if (!l->start()) continue;
    next[c.address] = std::move(l);
  }
  // The rest close (and remove their files) once this batch of events is
  // over: an event already fetched for one of them must find it alive.
  for (auto& [address, l] : cli_) {
    l->stop();
    loop_.deferDelete(std::move(l));
  }
  cli_ = std::move(next);
  return ok;
}

void Endpoints::setHttpListeners(std::vector<session::ListenerSpec> listeners) {
  closeHttpListeners();
  for (const session::ListenerSpec& s : listeners) {
    auto l = std::make_unique<HttpListener>(*this, s);
    if (l->start()) http_.push_back(std::move(l));
  }
}

void Endpoints::closeHttpListeners() {
  for (auto& l : http_) {
    l->stop();
    loop_.deferDelete(std::move(l));
  }
  http_.clear();
}

void Endpoints::shutdown() {
  closeHttpListeners();
  for (auto& [address, l] : cli_) {
    l->stop();
    loop_.deferDelete(std::move(l));
  }
  cli_.clear();
  for (auto& c : connections_) {
    c->quiesce();
    loop_.deferDelete(std::move(c));
  }
  connections_.clear();
  ticker_.reset();
}

}  // namespace sluice::admin
