// SPDX-License-Identifier: Apache-2.0
// Test harness for integration tests: starts the real sluice binary, real
// TLS servers (OpenSSL) and plain TCP servers on loopback, and real TLS
// clients. Everything a test starts, it stops by PID or by joining its
// thread; every wait is bounded (scaled by SLUICE_TEST_TIMEOUT_SCALE).
#pragma once

#include <openssl/ssl.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ci.h"

namespace sluice::testing {

// Milliseconds scaled for slow machines (sanitizer builds set the scale).
int scaled(int ms);
// A volume of work (entries, bytes) for tests whose size is not what they
// check, divided under the sanitizers (SLUICE_TEST_SIZE_DIVISOR), which run
// the same paths several times slower; never below `floor`.
int64_t sized(int64_t n, int64_t floor = 1);



std::string binaryPath();          // the sluice binary under test
std::string dataDir();             // tests/data
std::string makeTempDir(const std::string& tag);
void writeFile(const std::string& path, const std::string& content);
std::string readFile(const std::string& path);

// A listening TCP socket on 127.0.0.1 and a free port; -1 on failure.
int listenLoopback(int& port);

// A port that was free a moment ago on this loopback address.
int freePort(const std::string& host = "127.0.0.1");
bool waitForPort(const std::string& host, int port, int timeoutMs);

// A self-signed certificate for one DNS name, written as PEM files.
struct Cert {
  std::string name;
  std::string certFile;
  std::string keyFile;
  std::string certPem;
};
Cert makeCert(const std::string& dir, const std::string& name);

// A child process with its output captured to a file, stopped by PID.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& outputFile,
          const std::map<std::string, std::string>& env = {}, long fdLimit = 0);
  ~Process();
  pid_t pid() const { return pid_; }
  bool running();
  int stop(int signal = 15, int timeoutMs = 5000);  // returns exit status (or -signal)
  int wait(int timeoutMs);                          // waits for exit, -1000 on timeout
  std::string output() const;
  bool waitForOutput(const std::string& needle, int timeoutMs) const;
  size_t countInOutput(const std::string& needle) const;

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool exited_ = false;
  std::string outputFile_;
};

// Writes a configuration and starts sluice on it; waits for the ports.
class Sluice {
 public:
  Sluice(const std::string& config, const std::vector<int>& ports,
         const std::vector<std::string>& extraArgs = {}, long fdLimit = 0,
         const std::string& host = "127.0.0.1",
         const std::map<std::string, std::string>& env = {});
  ~Sluice();
  Process& process() { return *process_; }
  std::string log() const { return process_->output(); }
  bool waitForLog(const std::string& needle, int timeoutMs = 5000) const {
    return process_->waitForOutput(needle, scaled(timeoutMs));
  }
  std::vector<std::string> logLines(const std::string& containing = "") const;
  const std::string& dir() const { return dir_; }
  bool started() const { return started_; }
  // For tests that kill sluice on purpose.
  void expectCleanExit(bool v) { expectCleanExit_ = v; }

 private:
  bool expectCleanExit_ = true;
  std::string dir_;
  std::unique_ptr<Process> process_;
  bool started_ = false;
};

// A server on loopback, one thread per connection. The behaviour decides
// what it does with each accepted (and, for TLS, handshaken) connection.
class TestServer {
 public:
  enum class Mode {
    Identify,   // read a request, answer "HTTP/1.0 200 OK" with "server=<name>" and close
    Echo,       // echo everything until EOF, then close
    Sink,       // read to EOF, then answer "<bytes> <fnv64 hex>\n" and close
    Source,     // send `sourceBytes` bytes of a known pattern, then close
    Silent,     // accept and do nothing until the peer goes away
    Hold,       // read to EOF, then keep the connection open until stop()
    Record,     // read to EOF (or stopRecordingAt bytes) and keep the bytes
  };

  // TLS when `cert` is given; plain TCP otherwise.
  TestServer(const std::string& name, Mode mode, const Cert* cert = nullptr,
             const std::string& host = "127.0.0.1", int port = 0);
  ~TestServer();

  int port() const { return port_; }
  const std::string& name() const { return name_; }
  int connections() const { return connections_.load(); }
  int active() const { return active_.load(); }
  std::vector<std::string> snis();           // SNI seen per TLS connection
  std::vector<std::string> peers();          // client address of each connection
  std::vector<std::string> recorded();       // bytes of each Record connection
  void setSourceBytes(uint64_t n) { sourceBytes_ = n; }
  void setHoldMs(int ms) { holdMs_ = ms; }   // Identify: wait before answering
  void setStatus(int status) { status_ = status; }  // Identify: the HTTP status to answer
  // TLS: refuse (alert) handshakes whose SNI is not this name.
  void requireSni(const std::string& name);
  void stop();

 private:
  void acceptLoop();
  void serve(int fd, std::string peer);

  std::string name_;
  Mode mode_;
  SSL_CTX* ctx_ = nullptr;
  int listenFd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> active_{0};
  std::atomic<uint64_t> sourceBytes_{0};
  std::atomic<int> holdMs_{0};
  std::atomic<int> status_{200};
  std::string requiredSni_;
  std::thread acceptThread_;
  std::mutex mutex_;
  std::vector<std::thread> workers_;
  std::vector<int> openFds_;
  std::vector<std::string> snis_;
  std::vector<std::string> peers_;
  std::vector<std::string> recorded_;
};

// The byte pattern Source servers send and Sink servers can verify.
uint8_t patternByte(uint64_t offset);
uint64_t fnv64(const std::string& data, uint64_t seed = 1469598103934665603ULL);

// A TLS client over a real socket, driven through memory BIOs so that the
// bytes it sends can be cut into segments of any size with pauses between.
struct TlsClientOptions {
  std::string sni;
  std::vector<std::string> alpn;
  std::string caFile;              // verify the server against this certificate
  size_t segment = 0;              // 0: send as produced; N: N bytes per send()
  int segmentDelayMs = 0;
  size_t maxSendFragment = 0;      // >= 512: cut handshake records (RFC 6066 style)
  size_t padAlpnTo = 0;            // grow the hello with ALPN names up to this size
  std::string sourceAddress;       // bind the client to this local address
  int timeoutMs = 5000;
};

struct TlsResult {
  bool handshake = false;
  bool verified = false;
  std::string peerCertCn;
  std::string response;            // what the server sent after the request
  std::string error;
};

TlsResult tlsRequest(const std::string& host, int port, const TlsClientOptions& opts,
                     const std::string& request = "GET / HTTP/1.0\r\n\r\n");

// A loopback port whose SYNs go unanswered: a listener that never accepts,
// with its accept queue filled first. Connects to it hang until they time out.
class BlackHole {
 public:
  BlackHole();
  ~BlackHole();
  int port() const { return port_; }

 private:
  int listenFd_ = -1;
  int port_ = 0;
  std::vector<int> fillers_;
};

// The runtime API over a real UNIX socket: sends `input` (one or more lines)
// and returns everything sluice answers until it closes the connection.
std::string cliRequest(const std::string& socketPath, const std::string& input, int timeoutMs = 5000);
// The fields of the "show stat" row of <proxy>,<server> ("FRONTEND" and
// "BACKEND" for those rows); empty when there is none.
std::vector<std::string> statRow(const std::string& csv, const std::string& proxy, const std::string& server);

// An interactive runtime API session ("prompt" mode) on one connection.
class CliSession {
 public:
  explicit CliSession(const std::string& socketPath);
  ~CliSession();
  bool connected() const { return fd_ >= 0; }
  // Sends one line and returns the answer, up to the next "> " prompt.
  std::string command(const std::string& line, int timeoutMs = 5000);

 private:
  int fd_ = -1;
  std::string pending_;
};

// A plain HTTP/1.1 GET (or POST with a form body) on loopback; returns the
// whole response (status line, headers, body).
std::string httpRequest(int port, const std::string& method, const std::string& target,
                        const std::vector<std::string>& headers = {}, const std::string& body = {},
                        int timeoutMs = 5000);
int httpStatus(const std::string& response);
std::string httpBody(const std::string& response);

// Sends an HTTP/1.0 request over plain TCP to `port` (an Identify server,
// usually through sluice) and returns the name the server answered with,
// "none" when it did not, "connect-failed" when the connection failed.
std::string askServerName(int port, const std::string& source = "", int timeoutMs = 3000);

// Plain TCP helpers.
int connectTcp(const std::string& host, int port, const std::string& source = "", int timeoutMs = 3000);
bool sendAll(int fd, const std::string& data, int timeoutMs = 5000);
std::string recvAll(int fd, int timeoutMs, size_t limit = SIZE_MAX);  // until EOF or timeout
// Returns true when the peer closed (EOF or reset) within the time.
bool waitClosed(int fd, int timeoutMs);

// The termination states ("--", "KD", "sD", ...) of the tcplog lines
// (option tcplog's default format) in a log, in order.
std::vector<std::string> terminationStates(const std::string& log);
// How many of them equal `state`, or start with it when it is one letter.
size_t countStates(const std::string& log, const std::string& state);

// Polls `condition` every 10 ms until it holds or scaled(timeoutMs) passed;
// returns its last value. Tests wait for what they need, never for a time.
bool eventually(const std::function<bool()>& condition, int timeoutMs = 5000);

// Runs a shell command; returns its exit status and stdout.
int runCommand(const std::string& cmd, std::string* output = nullptr);
// "sluice -c" on a configuration text (written to c.cfg in a new temporary
// directory, so messages say "c.cfg:LINE:"); its exit status and output.
int checkConfig(const std::string& text, std::string& output);

// Open descriptors of a process (/proc/PID/fd).
int openFdCount(pid_t pid);
// CPU time (user+system) of a process in ms (/proc/PID/stat).
long cpuTimeMs(pid_t pid);

}  // namespace sluice::testing
