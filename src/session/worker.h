// SPDX-License-Identifier: Apache-2.0
// Worker: one thread with its own event loop, its own listening sockets (one
// per bind address, SO_REUSEPORT), its own sessions and its own pipe pool.
// Workers share only the read-only Runtime and the atomics of ProcessState.
//
// Accepting obeys the limits: at the global or frontend maxconn, or when the
// process runs out of descriptors (EMFILE), a listener pauses and retries a
// little later; it never spins and never crashes.
//
//   ProcessState process;
//   Worker w(0, process, runtime);
//   w.addListener(fd, frontend);
//   std::thread t([&] { w.run(); });
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <unordered_map>
#include <vector>

#include "balance/wait_queue.h"
#include "event/loop.h"
#include "net/pipe_pool.h"
#include "observe/counters.h"
#include "runtime/runtime.h"
#include "session/linger.h"
#include "session/quic_directory.h"

namespace sluice::session {

class Session;
struct SessionInfo;
class QuicFlows;
class QuicListener;

// A listening socket handed to a worker, which owns the descriptor.
struct ListenerSpec {
  int fd = -1;
  runtime::Frontend* frontend = nullptr;
  const config::BindConfig* bind = nullptr;  // its bind line (accept-proxy, name); the runtime's
  core::Address local;   // the address accepted connections arrive on; invalid: ask the socket
  bool shared = false;   // one socket for all workers: woken one at a time (EPOLLEXCLUSIVE)
  bool sockpair = false; // "sockpair@": connections arrive as descriptors over a UNIX socket
  bool quic = false;     // "quic4@"/"quic6@": a UDP socket whose datagrams are QUIC flows
};

struct ProcessState {
  std::atomic<int32_t> actconn{0};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> acceptErrors{0};
  std::atomic<bool> stopping{false};
  observe::RateCounter connectionRate;
  std::atomic<uint64_t> nextSessionId{0};
  std::atomic<uint64_t> splicedBytes{0};   // forwarded with splice(), never copied
  std::atomic<uint64_t> copiedBytes{0};    // forwarded through a buffer
  std::atomic<uint32_t> maxconn{0};
  // At the global maxconn, or `fe`'s: no new connection or QUIC flow now.
  bool full(const runtime::Frontend& fe) const {
    return static_cast<uint32_t>(actconn.load(std::memory_order_relaxed)) >= maxconn.load(std::memory_order_relaxed) ||
           (fe.maxconn && static_cast<uint32_t>(fe.counters->current.load(std::memory_order_relaxed)) >= fe.maxconn);
  }
  // A connection (or QUIC flow) was taken in: it now counts against maxconn.
  void admitted() {
    actconn.fetch_add(1, std::memory_order_relaxed);
    accepted.fetch_add(1, std::memory_order_relaxed);
    connectionRate.add();
  }
  // "observe layer4": a worker saw a server reach its error-limit. Set
  // before the workers start; runs on the worker's thread and only hands
  // the news to the control thread.
  std::function<void(std::shared_ptr<balance::ServerLive> server, int lastError)> serverErrors;
};

class Worker {
 public:
  Worker(unsigned index, ProcessState& process, std::shared_ptr<const runtime::Runtime> rt);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Takes ownership of a listening fd that feeds `frontend` from `bind`
  // (a line of the runtime's configuration: accept-proxy, its name).
  void addListener(int fd, runtime::Frontend* frontend, const config::BindConfig* bind = nullptr,
                   const core::Address& local = {}, bool shared = false, bool sockpair = false);

  // Takes ownership of a UDP socket whose datagrams are QUIC flows for `frontend`.
  void addQuicListener(int fd, runtime::Frontend* frontend, const core::Address& local);

  // Thread-safe: a reload. New connections go to `rt` through `listeners`
  // (which replace the current ones without closing a shared socket);
  // sessions already running keep the configuration they started with.
  // The future is ready once this worker accepts with the new runtime.
  std::future<void> replaceRuntime(std::shared_ptr<const runtime::Runtime> rt,
                                   std::vector<ListenerSpec> listeners);

  void run();          // the thread body; returns when stopped
  void stop();         // thread-safe: ends the loop, killing sessions
  void softStop();     // thread-safe: stop accepting, let sessions finish
  // Thread-safe: ends this worker's sessions on `server` (health or the
  // runtime API decided so), whichever configuration they started with.
  void killSessionsOn(const balance::ServerState* server, char cause);

  event::EventLoop& loop() { return loop_; }
  net::PipePool& pipes() { return pipes_; }
  // One buffer per thread for copying small data: a session reads into it
  // and sends at once, keeping memory only for what the peer did not take.
  static constexpr size_t kScratchSize = 65536;
  char* scratch() { return scratch_.get(); }
  // Closes a client socket once the client has read what was sent last
  // (see linger.h); the socket is already shut for writing.
  void lingerClose(int fd) { lingering_.add(fd); }
  ProcessState& process() { return process_; }
  unsigned index() const { return index_; }
  size_t sessionCount() const { return sessionCount_; }

  // Called by a session when it ends.
  void sessionClosed(Session* s);
  // Called by a QUIC flow when it ends.
  void flowClosed();
  size_t flowCount() const;
  QuicFlows* quicFlows();
  // Where every worker's QUIC flows are, as this worker knows it (changed
  // only on this worker's thread: see quic_directory.h).
  QuicDirectory& quicDirectory() { return quicDirectory_; }

  // The other workers, for handing new connections over (set once, before
  // the threads run). A worker that accepts a connection while carrying
  // clearly more sessions than another passes it to that one, as the kernel's
  // SO_REUSEPORT hash may put a few heavy connections on one thread.
  void setPeers(std::vector<Worker*> peers) { peers_ = std::move(peers); }
  const std::vector<Worker*>& peers() const { return peers_; }
  // The worker of that index (set by setPeers), or null.
  Worker* peer(unsigned index) const;
  // Sessions running here plus connections handed over and not started yet.
  uint32_t load() const { return load_.load(std::memory_order_relaxed); }

  // Thread-safe: `done` receives, on this worker's thread, a description of
  // every session it runs (for "show sess").
  void describeSessions(std::function<void(std::vector<SessionInfo>)> done);
  // Thread-safe: ends session `id` if this worker runs it; `done(found)`.
  void shutdownSession(uint64_t id, std::function<void(bool)> done);

  // Sessions waiting in a backend queue, found again by id when woken.
  void registerWaiting(uint64_t id, Session* s) { waiting_[id] = s; }
  void unregisterWaiting(uint64_t id) { waiting_.erase(id); }
  bool wakeWaiting(uint64_t id);
  // The wake-up a session leaves in its backend's queue: runs on this
  // worker's thread; a session gone meanwhile passes the slot on.
  balance::WaitQueue::Wake queueWaker(uint64_t sessionId, const std::shared_ptr<balance::WaitQueue>& queue);
  // Thread-safe: asks this worker to start a session for `fd`. False when it
  // no longer takes connections (stopping, or its loop has ended): the caller keeps it.
  bool handOver(int fd, std::shared_ptr<const runtime::Runtime> rt, runtime::Frontend* fe,
                const core::Address& src, const core::Address& dst, const config::BindConfig* bind);

 private:
  class Listener;
  friend class Listener;

  void resumeListeners();
  void closeListeners();
  void retireQuicListener(std::unique_ptr<QuicListener> l);
  void killAll(char cause);
  // Starts a session for an accepted connection on this worker's thread.
  void startSession(int fd, std::shared_ptr<const runtime::Runtime> rt, runtime::Frontend& fe,
                    const core::Address& src, const core::Address& dst, const config::BindConfig* bind);
  // A peer that should take a new connection instead of this worker, or null.
  Worker* lighterPeer() const;
  void stopIfIdle();

  unsigned index_;
  ProcessState& process_;
  std::shared_ptr<const runtime::Runtime> runtime_;
  event::EventLoop loop_;
  net::PipePool pipes_;
  std::unique_ptr<char[]> scratch_ = std::make_unique<char[]>(kScratchSize);
  LingeringCloses lingering_{loop_, scratch_.get(), kScratchSize};
  std::vector<std::unique_ptr<Listener>> listeners_;
  // QUIC: the flows first, so that listeners (declared after) go first.
  QuicDirectory quicDirectory_;
  std::unique_ptr<QuicFlows> quic_;
  std::vector<std::unique_ptr<QuicListener>> quicListeners_;
  Session* sessions_ = nullptr;
  size_t sessionCount_ = 0;
  bool softStopped_ = false;
  std::unordered_map<uint64_t, Session*> waiting_;
  std::vector<Worker*> peers_;
  std::atomic<uint32_t> load_{0};
  // Hand-overs and the soft stop meet through these two (seq_cst): either
  // the sender sees `accepting_` false and keeps the connection, or this
  // worker sees `pendingHandOvers_` and does not stop before running them.
  std::atomic<bool> accepting_{true};
  std::atomic<uint32_t> pendingHandOvers_{0};
};

}  // namespace sluice::session
