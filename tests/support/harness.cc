// SPDX-License-Identifier: Apache-2.0
// Integration test harness; see harness.h.
#include "harness.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <system_error>

namespace sluice::testing {

namespace {

// The tests' own servers and clients write to peers that may be gone (a
// health check that hung up early, a client the proxy reset): that is a
// write error to handle, not a signal that kills the test process.
const bool kSigpipeIgnored = [] {
  signal(SIGPIPE, SIG_IGN);
  return true;
}();

}  // namespace

namespace {

using Clock = std::chrono::steady_clock;

int64_t msSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

bool parseHostPort(const std::string& host, int port, sockaddr_storage& ss, socklen_t& len) {
  std::memset(&ss, 0, sizeof(ss));
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in);
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

std::string addrToString(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf));
    return std::string(buf) + ":" + std::to_string(ntohs(s4->sin_port));
  }
  const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
  inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf));
  return "[" + std::string(buf) + "]:" + std::to_string(ntohs(s6->sin6_port));
}

void setTimeouts(int fd, int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

}  // namespace

int scaled(int ms) {
  const char* s = std::getenv("SLUICE_TEST_TIMEOUT_SCALE");
  double f = s ? std::atof(s) : 1.0;
  if (f < 1.0) f = 1.0;
  return static_cast<int>(ms * f);
}

int64_t sized(int64_t n, int64_t floor) {
  const char* s = std::getenv("SLUICE_TEST_SIZE_DIVISOR");
  int64_t d = s ? std::atoll(s) : 1;
  if (d < 1) d = 1;
  return std::max(n / d, floor);
}

std::vector<std::string> terminationStates(const std::string& log) {
  // ... %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq
  static const std::regex line(R"( -?\d+/-?\d+/\+?\d+ \+?\d+ ([A-Za-z-]{2}) \d+/\d+/\d+/\d+/\+?\d+ \d+/\d+)");
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator(); ++it) {
    out.push_back((*it)[1]);
  }
  return out;
}

size_t countStates(const std::string& log, const std::string& state) {
  size_t n = 0;
  for (const std::string& s : terminationStates(log)) {
    if (state.size() == 1 ? s[0] == state[0] : s == state) ++n;
  }
  return n;
}

int connectUnix(const std::string& path);

bool eventually(const std::function<bool()>& condition, int timeoutMs) {
  auto until = Clock::now() + std::chrono::milliseconds(scaled(timeoutMs));
  while (!condition()) {
    if (Clock::now() >= until) return condition();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::string binaryPath() {
  const char* b = std::getenv("SLUICE_BINARY");
  return b ? b : SLUICE_BINARY_PATH;
}

std::string dataDir() { return SLUICE_TEST_DATA_DIR; }

namespace {

// Every directory a test made, removed with everything in it when the test
// program ends (CTest runs each test in a program of its own), so that a
// run leaves nothing under /tmp. SLUICE_KEEP_TEMP=1 keeps them to look at.
class TempDirs {
 public:
  void add(const std::string& dir) {
    std::lock_guard<std::mutex> lock(mutex_);
    dirs_.push_back(dir);
  }
  ~TempDirs() {
    if (const char* keep = std::getenv("SLUICE_KEEP_TEMP"); keep && *keep == '1') return;
    for (const std::string& d : dirs_) {
      std::error_code ec;
      std::filesystem::remove_all(d, ec);
    }
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> dirs_;
};

TempDirs& tempDirs() {
  static TempDirs dirs;
  return dirs;
}

}  // namespace

std::string makeTempDir(const std::string& tag) {
  TempDirs& registry = tempDirs();  // constructed before any use, destroyed after
  std::string tmpl = "/tmp/sluice-test-" + tag + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  char* d = mkdtemp(buf.data());
  if (!d) return "/tmp";
  registry.add(d);
  return d;
}

void writeFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int listenLoopback(int& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  port = ntohs(a.sin_port);
  return fd;
}

int freePort(const std::string& host) {
  sockaddr_storage ss;
  socklen_t len;
  parseHostPort(host, 0, ss, len);
  int fd = socket(ss.ss_family, SOCK_STREAM, 0);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    close(fd);
    return -1;
  }
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  int port = ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                           : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  close(fd);
  return port;
}

// Looks for a listening socket on `port` in /proc/net/tcp and tcp6, so that
// waiting for a listener does not open a connection the test would then see.
static bool isListening(int port) {
  char hexPort[8];
  snprintf(hexPort, sizeof(hexPort), "%04X", port);
  for (const char* f : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::istringstream in(readFile(f));
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string sl, local, remote, state;
      ls >> sl >> local >> remote >> state;
      size_t colon = local.rfind(':');
      if (colon != std::string::npos && local.substr(colon + 1) == hexPort && state == "0A") {
        return true;
      }
    }
  }
  return false;
}

bool waitForPort(const std::string& host, int port, int timeoutMs) {
  (void)host;
  auto start = Clock::now();
  while (msSince(start) < timeoutMs) {
    if (isListening(port)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

Cert makeCert(const std::string& dir, const std::string& name) {
  Cert c;
  c.name = name;
  c.certFile = dir + "/" + name + ".crt";
  c.keyFile = dir + "/" + name + ".key";
  std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
                    " -keyout '" + c.keyFile + "' -out '" + c.certFile + "' -days 30 -subj '/CN=" +
                    name + "' -addext 'subjectAltName=DNS:" + name + "' 2>/dev/null";
  runCommand(cmd);
  c.certPem = readFile(c.certFile);
  return c;
}

// ---------------------------------------------------------------------------
// Process

Process::Process(const std::vector<std::string>& argv, const std::string& outputFile,
                 const std::map<std::string, std::string>& env, long fdLimit)
    : outputFile_(outputFile) {
  pid_ = fork();
  if (pid_ == 0) {
    int out = open(outputFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (out >= 0) {
      dup2(out, 1);
      dup2(out, 2);
      close(out);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      dup2(devnull, 0);
      close(devnull);
    }
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    signal(SIGPIPE, SIG_DFL);  // as a shell would start it, not as the test runs
    if (fdLimit > 0) {
      rlimit rl{static_cast<rlim_t>(fdLimit), static_cast<rlim_t>(fdLimit)};
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
}

Process::~Process() {
  if (pid_ > 0 && !exited_) stop(SIGTERM, 3000);
}

bool Process::running() {
  if (pid_ <= 0 || exited_) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    status_ = st;
    return false;
  }
  return true;
}

int Process::wait(int timeoutMs) {
  auto start = Clock::now();
  while (!exited_) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      status_ = st;
      break;
    }
    if (msSince(start) > timeoutMs) return -1000;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return -WTERMSIG(status_);
  return -999;
}

int Process::stop(int signal, int timeoutMs) {
  if (pid_ <= 0) return -999;
  if (!exited_) kill(pid_, signal);
  int r = wait(timeoutMs);
  if (r == -1000) {
    kill(pid_, SIGKILL);
    r = wait(5000);
    return r == -1000 ? -1000 : -9;
  }
  return r;
}

std::string Process::output() const { return readFile(outputFile_); }

bool Process::waitForOutput(const std::string& needle, int timeoutMs) const {
  auto start = Clock::now();
  while (msSince(start) <= timeoutMs) {
    if (output().find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

size_t Process::countInOutput(const std::string& needle) const {
  std::string out = output();
  size_t n = 0;
  for (size_t pos = out.find(needle); pos != std::string::npos; pos = out.find(needle, pos + 1)) ++n;
  return n;
}

// ---------------------------------------------------------------------------
// Sluice

Sluice::Sluice(const std::string& config, const std::vector<int>& ports,
               const std::vector<std::string>& extraArgs, long fdLimit, const std::string& host,
               const std::map<std::string, std::string>& env) {
  dir_ = makeTempDir("sluice");
  std::string cfg = dir_ + "/sluice.cfg";
  writeFile(cfg, config);
  std::vector<std::string> argv = {binaryPath(), "-db", "-f", cfg};
  argv.insert(argv.end(), extraArgs.begin(), extraArgs.end());
  process_ = std::make_unique<Process>(argv, dir_ + "/output.log", env, fdLimit);
  started_ = true;
  for (int p : ports) {
    if (!waitForPort(host, p, scaled(5000))) {
      started_ = false;
      break;
    }
  }
  // The runtime API sockets too: the control thread makes them after the
  // workers listen, and a test may use them at once.
  std::istringstream in(config);
  std::string line;
  while (started_ && std::getline(in, line)) {
    std::istringstream words(line);
    std::string a, b, path;
    words >> a >> b >> path;
    if (a != "stats" || b != "socket" || path.empty() || path.find('@') != std::string::npos ||
        path.find(':') != std::string::npos) {
      continue;
    }
    if (!path.empty() && path.front() == '"') path = path.substr(1, path.size() - 2);
    started_ = eventually([&] {
      int fd = connectUnix(path);
      if (fd >= 0) ::close(fd);
      return fd >= 0;
    });
  }
}

Sluice::~Sluice() {
  if (!process_) return;
  int status = process_->stop(SIGTERM, scaled(5000));
  // A clean stop exits 0; sanitizer reports in the output fail the test too.
  std::string out = process_->output();
  if (status != 0 && expectCleanExit_) {
    ADD_FAILURE() << "sluice did not exit cleanly on SIGTERM (status " << status << ")\n" << out;
  }
  for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                             "WARNING: ThreadSanitizer"}) {
    if (out.find(marker) != std::string::npos) {
      ADD_FAILURE() << "sanitizer report in sluice's output:\n" << out;
      break;
    }
  }
}

std::vector<std::string> Sluice::logLines(const std::string& containing) const {
  std::vector<std::string> out;
  std::istringstream in(log());
  std::string line;
  while (std::getline(in, line)) {
    if (containing.empty() || line.find(containing) != std::string::npos) out.push_back(line);
  }
  return out;
}

// ---------------------------------------------------------------------------
// TestServer

uint8_t patternByte(uint64_t offset) { return static_cast<uint8_t>((offset * 31 + (offset >> 12)) & 0xff); }

uint64_t fnv64(const std::string& data, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

TestServer::TestServer(const std::string& name, Mode mode, const Cert* cert, const std::string& host,
                       int port)
    : name_(name), mode_(mode) {
  if (cert) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate_chain_file(ctx_, cert->certFile.c_str());
    SSL_CTX_use_PrivateKey_file(ctx_, cert->keyFile.c_str(), SSL_FILETYPE_PEM);
  }
  sockaddr_storage ss;
  socklen_t len;
  parseHostPort(host, port, ss, len);
  listenFd_ = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  bind(listenFd_, reinterpret_cast<sockaddr*>(&ss), len);
  listen(listenFd_, 1024);
  getsockname(listenFd_, reinterpret_cast<sockaddr*>(&ss), &len);
  port_ = ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                        : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  acceptThread_ = std::thread([this] { acceptLoop(); });
}

TestServer::~TestServer() {
  stop();
  if (ctx_) SSL_CTX_free(ctx_);
}

void TestServer::stop() {
  if (stopping_.exchange(true)) return;
  if (acceptThread_.joinable()) acceptThread_.join();
  if (listenFd_ >= 0) close(listenFd_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int fd : openFds_) shutdown(fd, SHUT_RDWR);
  }
  std::vector<std::thread> ws;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ws.swap(workers_);
  }
  for (auto& t : ws) t.join();
}

static int sniGate(SSL* ssl, int* alert, void* arg) {
  const std::string* want = static_cast<const std::string*>(arg);
  const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!sni || *want != sni) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

void TestServer::requireSni(const std::string& name) {
  requiredSni_ = name;
  if (ctx_) {
    SSL_CTX_set_tlsext_servername_callback(ctx_, sniGate);
    SSL_CTX_set_tlsext_servername_arg(ctx_, &requiredSni_);
  }
}

std::vector<std::string> TestServer::snis() {
  std::lock_guard<std::mutex> lock(mutex_);
  return snis_;
}

std::vector<std::string> TestServer::peers() {
  std::lock_guard<std::mutex> lock(mutex_);
  return peers_;
}

std::vector<std::string> TestServer::recorded() {
  std::lock_guard<std::mutex> lock(mutex_);
  return recorded_;
}

void TestServer::acceptLoop() {
  while (!stopping_) {
    pollfd p{listenFd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    int fd = accept4(listenFd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::string peer = addrToString(ss);
    std::lock_guard<std::mutex> lock(mutex_);
    openFds_.push_back(fd);
    peers_.push_back(peer);
    connections_++;
    workers_.emplace_back([this, fd, peer] { serve(fd, peer); });
  }
}

void TestServer::serve(int fd, std::string peer) {
  active_++;
  setTimeouts(fd, scaled(30000));
  SSL* ssl = nullptr;
  auto rd = [&](char* buf, size_t n) -> ssize_t {
    if (ssl) {
      int r = SSL_read(ssl, buf, static_cast<int>(n));
      return r > 0 ? r : (SSL_get_error(ssl, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
    }
    return recv(fd, buf, n, 0);
  };
  auto wr = [&](const char* buf, size_t n) -> bool {
    size_t off = 0;
    while (off < n) {
      ssize_t w = ssl ? SSL_write(ssl, buf + off, static_cast<int>(n - off))
                      : send(fd, buf + off, n - off, MSG_NOSIGNAL);
      if (w <= 0) return false;
      off += static_cast<size_t>(w);
    }
    return true;
  };
  bool ok = true;
  if (ctx_) {
    ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    ok = SSL_accept(ssl) == 1;
    // The SNI is known once the ClientHello was read, even if the handshake
    // then failed (a health probe hangs up after the ServerHello).
    const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (ok || sni) {
      std::lock_guard<std::mutex> lock(mutex_);
      snis_.push_back(sni ? sni : "");
    }
  }
  char buf[65536];
  if (ok) {
    switch (mode_) {
      case Mode::Identify: {
        std::string req;
        while (req.find("\r\n\r\n") == std::string::npos && req.size() < 65536) {
          ssize_t n = rd(buf, sizeof(buf));
          if (n <= 0) break;
          req.append(buf, static_cast<size_t>(n));
        }
        if (holdMs_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(holdMs_.load()));
        std::string body = "server=" + name_ + "\n";
        int st = status_.load();
        std::string resp = "HTTP/1.0 " + std::to_string(st) + (st == 200 ? " OK" : " Service Unavailable") +
                           "\r\nContent-Type: text/plain\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
        wr(resp.data(), resp.size());
        break;
      }
      case Mode::Echo:
        while (true) {
          ssize_t n = rd(buf, sizeof(buf));
          if (n <= 0 || !wr(buf, static_cast<size_t>(n))) break;
        }
        break;
      case Mode::Sink: {
        uint64_t count = 0;
        uint64_t h = 1469598103934665603ULL;
        while (true) {
          ssize_t n = rd(buf, sizeof(buf));
          if (n <= 0) break;
          for (ssize_t i = 0; i < n; ++i) {
            h ^= static_cast<unsigned char>(buf[i]);
            h *= 1099511628211ULL;
          }
          count += static_cast<uint64_t>(n);
        }
        char line[64];
        snprintf(line, sizeof(line), "%llu %016llx\n", static_cast<unsigned long long>(count),
                 static_cast<unsigned long long>(h));
        wr(line, strlen(line));
        break;
      }
      case Mode::Source: {
        uint64_t total = sourceBytes_;
        for (uint64_t off = 0; off < total;) {
          size_t n = static_cast<size_t>(std::min<uint64_t>(sizeof(buf), total - off));
          for (size_t i = 0; i < n; ++i) buf[i] = static_cast<char>(patternByte(off + i));
          if (!wr(buf, n)) break;
          off += n;
        }
        break;
      }
      case Mode::Silent:
        while (rd(buf, sizeof(buf)) > 0) {
        }
        break;
      case Mode::Hold:
        while (rd(buf, sizeof(buf)) > 0) {
        }
        while (!stopping_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        break;
      case Mode::Record: {
        std::string all;
        while (true) {
          ssize_t n = rd(buf, sizeof(buf));
          if (n <= 0) break;
          all.append(buf, static_cast<size_t>(n));
        }
        std::lock_guard<std::mutex> lock(mutex_);
        recorded_.push_back(all);
        break;
      }
    }
  }
  if (ssl) {
    SSL_shutdown(ssl);
    SSL_free(ssl);
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = openFds_.begin(); it != openFds_.end(); ++it) {
      if (*it == fd) {
        openFds_.erase(it);
        break;
      }
    }
  }
  shutdown(fd, SHUT_WR);
  close(fd);
  active_--;
}

BlackHole::BlackHole() {
  port_ = freePort();
  listenFd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port_));
  a.sin_addr.s_addr = htonl(0x7f000001);
  bind(listenFd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  listen(listenFd_, 0);
  for (int i = 0; i < 4; ++i) {
    int f = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    connect(f, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    fillers_.push_back(f);
  }
  // Until the backlog is full: a further SYN is then dropped, not answered.
  // The fillers that completed their handshake say so.
  eventually([this] {
    int done = 0;
    for (int f : fillers_) {
      pollfd p{f, POLLOUT, 0};
      if (::poll(&p, 1, 0) == 1 && (p.revents & POLLOUT)) ++done;
    }
    return done >= 1;
  }, 1000);
}

BlackHole::~BlackHole() {
  for (int f : fillers_) close(f);
  close(listenFd_);
}

// ---------------------------------------------------------------------------
// Clients

int connectTcp(const std::string& host, int port, const std::string& source, int timeoutMs) {
  sockaddr_storage ss;
  socklen_t len;
  if (!parseHostPort(host, port, ss, len)) return -1;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (!source.empty()) {
    sockaddr_storage src;
    socklen_t slen;
    parseHostPort(source, 0, src, slen);
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), slen) != 0) {
      close(fd);
      return -1;
    }
  }
  int r = connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  if (r != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  if (r != 0 && (poll(&p, 1, timeoutMs) != 1 || (p.revents & (POLLERR | POLLHUP)))) {
    close(fd);
    return -1;
  }
  int err = 0;
  socklen_t elen = sizeof(err);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
  if (err != 0) {
    close(fd);
    return -1;
  }
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

bool sendAll(int fd, const std::string& data, int timeoutMs) {
  setTimeouts(fd, timeoutMs);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string recvAll(int fd, int timeoutMs, size_t limit) {
  std::string out;
  auto start = Clock::now();
  char buf[65536];
  while (out.size() < limit) {
    int left = timeoutMs - static_cast<int>(msSince(start));
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, left) != 1) break;
    ssize_t n = recv(fd, buf, std::min(sizeof(buf), limit - out.size()), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

bool waitClosed(int fd, int timeoutMs) {
  auto start = Clock::now();
  char buf[4096];
  while (true) {
    int left = timeoutMs - static_cast<int>(msSince(start));
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, left) != 1) return false;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
  }
}

TlsResult tlsRequest(const std::string& host, int port, const TlsClientOptions& o,
                     const std::string& request) {
  TlsResult res;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!o.caFile.empty()) {
    SSL_CTX_load_verify_locations(ctx, o.caFile.c_str(), nullptr);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  if (o.maxSendFragment >= 512) SSL_CTX_set_max_send_fragment(ctx, o.maxSendFragment);
  std::vector<std::string> alpn = o.alpn;
  if (o.padAlpnTo > 0) {
    size_t total = 0;
    for (const auto& a : alpn) total += a.size() + 1;
    for (int i = 0; total < o.padAlpnTo; ++i) {
      std::string name = "pad-" + std::to_string(i) + "-" + std::string(200, 'p');
      total += name.size() + 1;
      alpn.push_back(name);
    }
  }
  std::string wire;
  for (const auto& a : alpn) {
    wire.push_back(static_cast<char>(a.size()));
    wire += a;
  }
  if (!wire.empty()) {
    SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
  SSL* ssl = SSL_new(ctx);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, rbio, wbio);
  SSL_set_connect_state(ssl);
  if (!o.sni.empty()) {
    SSL_set_tlsext_host_name(ssl, o.sni.c_str());
    if (!o.caFile.empty()) SSL_set1_host(ssl, o.sni.c_str());
  }
  int fd = connectTcp(host, port, o.sourceAddress, o.timeoutMs);
  auto cleanup = [&] {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    if (fd >= 0) close(fd);
  };
  if (fd < 0) {
    res.error = "connect failed";
    cleanup();
    return res;
  }
  auto start = Clock::now();
  auto flush = [&]() -> bool {
    char buf[16384];
    int n;
    while ((n = BIO_read(wbio, buf, sizeof(buf))) > 0) {
      std::string data(buf, static_cast<size_t>(n));
      if (o.segment == 0) {
        if (!sendAll(fd, data, o.timeoutMs)) return false;
      } else {
        for (size_t off = 0; off < data.size(); off += o.segment) {
          if (!sendAll(fd, data.substr(off, o.segment), o.timeoutMs)) return false;
          if (o.segmentDelayMs > 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(o.segmentDelayMs));
          }
        }
      }
    }
    return true;
  };
  auto fill = [&]() -> int {  // 1 data, 0 EOF, -1 timeout/error
    int left = o.timeoutMs - static_cast<int>(msSince(start));
    if (left <= 0) return -1;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, left) != 1) return -1;
    char buf[16384];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return 0;
    BIO_write(rbio, buf, static_cast<int>(n));
    return 1;
  };
  while (true) {
    int r = SSL_do_handshake(ssl);
    if (!flush()) {
      res.error = "send failed during handshake";
      break;
    }
    if (r == 1) {
      res.handshake = true;
      break;
    }
    int err = SSL_get_error(ssl, r);
    if (err != SSL_ERROR_WANT_READ) {
      char e[256];
      ERR_error_string_n(ERR_get_error(), e, sizeof(e));
      res.error = std::string("handshake failed: ") + e;
      break;
    }
    int f = fill();
    if (f <= 0) {
      res.error = f == 0 ? "connection closed during handshake" : "timeout during handshake";
      break;
    }
  }
  if (res.handshake) {
    res.verified = o.caFile.empty() ? false : SSL_get_verify_result(ssl) == X509_V_OK;
    X509* peer = SSL_get1_peer_certificate(ssl);
    if (peer) {
      char cn[256] = {0};
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
      res.peerCertCn = cn;
      X509_free(peer);
    }
    SSL_write(ssl, request.data(), static_cast<int>(request.size()));
    flush();
    char buf[16384];
    while (true) {
      int n = SSL_read(ssl, buf, sizeof(buf));
      if (n > 0) {
        res.response.append(buf, static_cast<size_t>(n));
        continue;
      }
      int err = SSL_get_error(ssl, n);
      if (err != SSL_ERROR_WANT_READ) break;
      if (fill() <= 0) break;
    }
  }
  cleanup();
  return res;
}

int checkConfig(const std::string& text, std::string& output) {
  std::string dir = makeTempDir("check");
  writeFile(dir + "/c.cfg", text);
  return runCommand(binaryPath() + " -c -f " + dir + "/c.cfg 2>&1", &output);
}

int runCommand(const std::string& cmd, std::string* output) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  std::string out;
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int st = pclose(p);
  if (output) *output = out;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int openFdCount(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(path.c_str());
  if (!d) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

long cpuTimeMs(pid_t pid) {
  std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream in(stat.substr(close + 2));
  std::string field;
  long utime = 0;
  long stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::atol(field.c_str());
    if (i == 15) stime = std::atol(field.c_str());
  }
  long ticks = sysconf(_SC_CLK_TCK);
  return (utime + stime) * 1000 / (ticks > 0 ? ticks : 100);
}

}  // namespace sluice::testing

namespace sluice::testing {

int connectUnix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (path.size() >= sizeof(sun.sun_path)) {
    close(fd);
    return -1;
  }
  memcpy(sun.sun_path, path.c_str(), path.size());
  if (connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::vector<std::string> statRow(const std::string& csv, const std::string& proxy, const std::string& server) {
  std::istringstream in(csv);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(proxy + "," + server + ",", 0) != 0) continue;
    std::vector<std::string> f;
    std::string cur;
    for (char c : line) {
      if (c == ',') {
        f.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    return f;
  }
  return {};
}

std::string cliRequest(const std::string& socketPath, const std::string& input, int timeoutMs) {
  int fd = connectUnix(socketPath);
  if (fd < 0) return "<connect failed: " + std::string(strerror(errno)) + ">";
  sendAll(fd, input, scaled(timeoutMs));
  std::string out = recvAll(fd, scaled(timeoutMs));
  close(fd);
  return out;
}

CliSession::CliSession(const std::string& socketPath) {
  fd_ = connectUnix(socketPath);
  if (fd_ >= 0) command("prompt");
}

CliSession::~CliSession() {
  if (fd_ >= 0) close(fd_);
}

std::string CliSession::command(const std::string& line, int timeoutMs) {
  if (fd_ < 0) return {};
  if (!sendAll(fd_, line + "\n", scaled(timeoutMs))) return {};
  auto start = Clock::now();
  char buf[65536];
  for (;;) {
    size_t p = pending_.find("\n> ");
    if (p != std::string::npos) {
      std::string answer = pending_.substr(0, p + 1);
      pending_.erase(0, p + 3);
      return answer;
    }
    int left = scaled(timeoutMs) - static_cast<int>(msSince(start));
    if (left <= 0) return "<timeout> " + pending_;
    pollfd pfd{fd_, POLLIN, 0};
    if (poll(&pfd, 1, left) <= 0) continue;
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
      std::string rest = pending_;
      pending_.clear();
      return rest;
    }
    pending_.append(buf, static_cast<size_t>(n));
  }
}

std::string httpRequest(int port, const std::string& method, const std::string& target,
                        const std::vector<std::string>& headers, const std::string& body, int timeoutMs) {
  int fd = connectTcp("127.0.0.1", port, "", scaled(timeoutMs));
  if (fd < 0) return {};
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& h : headers) req += h + "\r\n";
  if (!body.empty() || method == "POST") {
    req += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n";
  }
  req += "Connection: close\r\n\r\n" + body;
  sendAll(fd, req, scaled(timeoutMs));
  std::string out = recvAll(fd, scaled(timeoutMs));
  close(fd);
  return out;
}

std::string askServerName(int port, const std::string& source, int timeoutMs) {
  int fd = connectTcp("127.0.0.1", port, source);
  if (fd < 0) return "connect-failed";
  sendAll(fd, "GET / HTTP/1.0\r\n\r\n");
  std::string r = recvAll(fd, scaled(timeoutMs));
  close(fd);
  size_t p = r.find("server=");
  return p == std::string::npos ? "none" : r.substr(p + 7, r.find('\n', p) - p - 7);
}

int httpStatus(const std::string& response) {
  if (response.size() < 12 || response.compare(0, 5, "HTTP/") != 0) return 0;
  return atoi(response.c_str() + 9);
}

std::string httpBody(const std::string& response) {
  size_t p = response.find("\r\n\r\n");
  return p == std::string::npos ? std::string() : response.substr(p + 4);
}

}  // namespace sluice::testing
