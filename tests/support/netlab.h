// SPDX-License-Identifier: Apache-2.0
// The network lab: a topology of network namespaces that a test makes for
// itself, so that bytes cross real NICs' conditions instead of loopback's
// 64 KiB segments:
//
//   client ns (198.18.1.2) --veth-- sluice ns (198.18.1.1 | 198.18.2.1) --veth-- server ns (198.18.2.2)
//
// Each link has an MTU, offloads on (TSO/GSO/GRO, as a real NIC) or off (the
// sockets hold MTU-sized packets), and optionally a rate limit (tc tbf) and a
// random loss (nftables numgen). 198.18.0.0/15 is the range RFC 2544 sets
// aside for such tests; nothing here leaves the namespaces.
//
// Client and server ends run in this process: a thread enters a namespace
// only for socket(), and the socket stays there (setns). Every transfer is a
// known pseudo-random stream, so the receiving end checks each byte, the
// length and a hash. sluice runs in its namespace by `ip netns exec`, stopped
// by PID like every other process of the tests.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "harness.h"

namespace sluice::testing::lab {

// Why the lab cannot run here (not root, no namespaces, no ethtool...);
// empty when it can. Under CI=true a test that cannot run fails.
std::string unavailableReason();

// The bytes of stream `seed` at `offset`, and the FNV-1a hash of its first n.
// A stream's first 8 bytes are its seed (little-endian), so that a receiver
// that does not know which connection it serves learns it from them.
uint8_t streamByte(uint64_t seed, uint64_t offset);
uint64_t streamHash(uint64_t seed, uint64_t n);

struct LinkSpec {
  int mtu = 1500;
  bool offloads = false;       // TSO/GSO/GRO on, as a NIC; off: MTU-sized packets
  int rateKbit = 0;            // tc tbf on both ends of the link; 0: none
  int lossPermille = 0;        // packets dropped at random into the sluice namespace
};

// One end of a connection: what it sends, how it reads, how it ends.
struct PeerPlan {
  uint64_t sendBytes = 0;
  uint64_t seed = 1;           // the stream this end sends
  size_t writeChunk = 65536;
  int writeDelayMs = 0;        // pause after each write (a slow writer)
  size_t readChunk = 65536;
  int readDelayMs = 0;         // pause after each read (a slow reader) ...
  int slowReadForMs = -1;      // ... for this long (-1: for the whole transfer)
  bool sendAfterEof = false;   // send only once the peer's FIN arrived (half-close)
  bool shutdownAfterSend = true;   // FIN once all is sent; else close only after EOF
  uint64_t resetAfter = UINT64_MAX;  // abort (RST) once this many bytes are sent
  int rcvbuf = 0;              // SO_RCVBUF before connect/listen; 0: the default
  int timeoutMs = 30000;       // the whole conversation, scaled
};

struct PeerResult {
  uint64_t received = 0;
  uint64_t hash = 0;              // of what was received
  uint64_t firstMismatch = UINT64_MAX;  // offset of the first wrong byte
  uint64_t sent = 0;
  bool eof = false;               // the peer's FIN arrived
  bool reset = false;             // ECONNRESET/EPIPE seen
  bool timedOut = false;
  bool aborted = false;           // this end sent the RST
  uint64_t peerSeed = 0;          // the stream checked against (learned when 0 was given)
  uint16_t localPort = 0;
  std::string error;
  // Whole: exactly `n` bytes of stream `seed`, and the FIN after them.
  bool whole(uint64_t seed, uint64_t n) const;
  std::string describe() const;
};

// Runs one end of a conversation on a connected socket until it is over.
// `peerSeed` is the stream the other end sends (for the byte check); 0: learn
// it from the stream's first 8 bytes.
PeerResult runPeer(int fd, const PeerPlan& plan, uint64_t peerSeed);

// A network namespace made by the test and deleted at the end.
class Netns {
 public:
  explicit Netns(const std::string& name);
  ~Netns();
  const std::string& name() const { return name_; }
  bool ok() const { return ok_; }
  // Runs a command in the namespace; returns its exit status.
  int run(const std::string& cmd, std::string* output = nullptr) const;

 private:
  std::string name_;
  bool ok_ = false;
};

// The current thread inside a namespace while the guard lives.
class InNetns {
 public:
  explicit InNetns(const Netns& ns);
  ~InNetns();
  bool ok() const { return ok_; }

 private:
  int saved_ = -1;
  bool ok_ = false;
};

class Lab {
 public:
  static constexpr const char* kClientAddr = "198.18.1.2";
  static constexpr const char* kFrontAddr = "198.18.1.1";
  static constexpr const char* kBackAddr = "198.18.2.1";
  static constexpr const char* kServerAddr = "198.18.2.2";

  Lab(const LinkSpec& clientLink, const LinkSpec& serverLink);
  ~Lab();
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

  // Starts sluice in the middle namespace on `config`; waits for `port`
  // to listen on kFrontAddr.
  bool startSluice(const std::string& config, int port);
  // Stops sluice (SIGTERM); returns its log and fails the test on an
  // unclean exit or a sanitizer report.
  std::string stopSluice();
  pid_t sluicePid() const;
  std::string sluiceLog() const;
  // The file sluice was started on (rewrite it, then SIGHUP, to reload).
  std::string configPath() const { return dir_ + "/sluice.cfg"; }
  // A path for the runtime API socket (the config names it; startSluice
  // waits for it when it does).
  std::string adminSocket() const { return dir_ + "/admin.sock"; }
  // A counter of "show info" (SplicedBytes, CopiedBytes...), -1 if absent.
  long long info(const std::string& name) const;
  // Packets the loss rules dropped so far.
  uint64_t droppedPackets() const;

  // A listening socket in the server namespace (kServerAddr:port).
  int listenServer(int port, int rcvbuf = 0);
  // A connected socket from the client namespace to kFrontAddr:port.
  int connectClient(int port, int rcvbuf = 0, int timeoutMs = 5000);

  const Netns& clientNs() const { return *c_; }
  const Netns& proxyNs() const { return *p_; }
  const Netns& serverNs() const { return *s_; }

 private:
  bool setupLink(const Netns& a, const std::string& devA, const std::string& addrA, const Netns& b,
                 const std::string& devB, const std::string& addrB, const LinkSpec& spec);
  bool fail(const std::string& why);

  bool ok_ = false;
  std::string error_;
  std::string tag_;
  std::unique_ptr<Netns> c_, p_, s_;
  std::string dir_;
  std::unique_ptr<Process> sluice_;
  std::vector<std::string> lossTables_;
};

// A conversation through the lab: `connections` parallel connections, each
// a client end and a server end, run to completion on threads.
struct Conversation {
  PeerPlan client;
  PeerPlan server;
  int connections = 1;
};

struct ConversationResult {
  std::vector<PeerResult> clients;
  std::vector<PeerResult> servers;   // in accept order, matched to clients by port
};

ConversationResult converse(Lab& lab, int frontPort, int serverPort, const Conversation& c);

}  // namespace sluice::testing::lab
