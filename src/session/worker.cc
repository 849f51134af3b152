// SPDX-License-Identifier: Apache-2.0
// Worker threads and their listeners; see worker.h.
#include "session/worker.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net/socket.h"
#include "session/quic_flow.h"
#include "session/quic_flows.h"
#include "session/quic_listener.h"
#include "session/session.h"

namespace sluice::session {

namespace {
// How long a listener rests when the process is out of descriptors or at its
// connection limit before trying again.
constexpr uint64_t kFullRetryMs = 20;
constexpr uint64_t kNoFdRetryMs = 100;
}  // namespace

class Worker::Listener final : public event::EventHandler, public event::Timer {
 public:
  Listener(Worker& w, int fd, runtime::Frontend* fe, const config::BindConfig* bind, const core::Address& local,
           bool shared, bool sockpair)
      : w_(w), fd_(fd), fe_(fe), bind_(bind), local_(local), shared_(shared), sockpair_(sockpair) {}
  ~Listener() override {
    w_.loop_.cancel(*this);
    net::closeFd(fd_);
  }

  // A socket shared by every worker wakes one of those waiting for events,
  // not all of them: the connection goes to a thread with nothing else to do.
  bool start() {
    return w_.loop_.add(fd_, EPOLLIN | (shared_ ? EPOLLEXCLUSIVE : 0u), static_cast<event::EventHandler*>(this));
  }

  void onEvents(uint32_t) noexcept override {
    if (!paused_) acceptSome();
  }

  void onTimer() noexcept override {
    paused_ = false;
    acceptSome();
  }

  void resume() {
    if (paused_ && !w_.softStopped_) {
      w_.loop_.cancel(*this);
      paused_ = false;
      acceptSome();
    }
  }

  void close() {
    if (fd_ >= 0) {
      w_.loop_.remove(fd_);
      w_.loop_.cancel(*this);
      net::closeFd(fd_);
    }
  }

 private:
  static constexpr int kPeerGone = -2;

  // sockpair@: one byte carries one descriptor (SCM_RIGHTS), the connection
  // the other process accepted. Returns it, -1 with errno, or kPeerGone
  // when that process closed its end (the listener then stops).
  int receiveConnection(sockaddr_storage& ss, socklen_t& len) {
    char byte;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = ::recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) return -1;
    if (n == 0) {
      w_.runtime_->globalLogger.log(4, "sockpair listener of frontend '" + fe_->name + "': the sending side closed it");
      close();
      return kPeerGone;
    }
    int fd = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
      }
    }
    if (fd < 0) {  // a byte without a descriptor: nothing to serve
      errno = EPROTO;
      return -1;
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    len = sizeof(ss);
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) len = 0;
    return fd;
  }

  void pause(uint64_t ms) {
    paused_ = true;
    w_.loop_.schedule(*this, w_.loop_.now() + ms);
  }

  // Accepts until the socket is drained (edge-triggered), a limit is hit, or
  // this batch is done (then continue on the next loop turn, for fairness).
  void acceptSome() {
    if (fd_ < 0) return;
    ProcessState& ps = w_.process_;
    for (uint32_t i = 0; i < w_.runtime_->maxAccept; ++i) {
      if (ps.full(*fe_)) {
        pause(kFullRetryMs);
        return;
      }
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      int fd = sockpair_ ? receiveConnection(ss, len)
                         : ::accept4(fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd == kPeerGone) return;
      if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO || errno == EPERM) continue;
        ps.acceptErrors.fetch_add(1, std::memory_order_relaxed);
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          w_.pipes_.trim();  // idle pipes hold descriptors that sessions need more
          uint64_t now = w_.loop_.now();
          if (now >= lastWarning_ + 1000) {
            lastWarning_ = now;
            std::string msg = "accept(): " + std::string(std::strerror(errno)) + " on frontend '" +
                              fe_->name + "'; pausing this listener for " +
                              std::to_string(kNoFdRetryMs) + " ms";
            w_.runtime_->globalLogger.log(4, msg);
          }
          pause(kNoFdRetryMs);
          return;
        }
        pause(kNoFdRetryMs);
        return;
      }
      ps.admitted();
      core::Address src = core::Address::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
      core::Address dst = local_.valid() ? local_ : net::localAddress(fd);
      if (Worker* peer = w_.lighterPeer()) {
        if (peer->handOver(fd, w_.runtime_, fe_, src, dst, bind_)) continue;
      }
      w_.load_.fetch_add(1, std::memory_order_relaxed);
      w_.startSession(fd, w_.runtime_, *fe_, src, dst, bind_);
    }
    // More may be waiting: come back after the other ready descriptors have
    // had their turn. The listener's own timer, not a posted task: a reload
    // may destroy this listener first, and its destructor cancels the timer.
    pause(0);
  }

  Worker& w_;
  int fd_;
  runtime::Frontend* fe_;
  const config::BindConfig* bind_;
  core::Address local_;
  bool shared_ = false;
  bool sockpair_ = false;
  bool paused_ = false;
  uint64_t lastWarning_ = 0;
};

Worker::Worker(unsigned index, ProcessState& process, std::shared_ptr<const runtime::Runtime> rt)
    : index_(index), process_(process), runtime_(std::move(rt)), pipes_(runtime_->pipeSize) {}

Worker::~Worker() {
  killAll('K');
  listeners_.clear();
  quicListeners_.clear();
}

void Worker::addQuicListener(int fd, runtime::Frontend* frontend, const core::Address& local) {
  if (!quic_) quic_ = std::make_unique<QuicFlows>(*this, quicDirectory_);
  auto endpoint = std::make_shared<UdpEndpoint>(fd, local.valid() ? local : net::localAddress(fd));
  auto l = std::make_unique<QuicListener>(*this, *quic_, std::move(endpoint), frontend, runtime_);
  if (l->start()) quicListeners_.push_back(std::move(l));
}

Worker* Worker::peer(unsigned index) const {
  for (Worker* p : peers_) {
    if (p->index() == index) return p;
  }
  return nullptr;
}

QuicFlows* Worker::quicFlows() { return quic_.get(); }

size_t Worker::flowCount() const { return quic_ ? quic_->count() : 0; }

void Worker::flowClosed() {
  // A listener kept only for the flows of a bind a reload removed goes
  // with the last of them (the flows and it share the endpoint).
  // This may run inside that listener's own read: it is retired (no more
  // events) and freed after the loop's batch.
  for (auto it = quicListeners_.begin(); it != quicListeners_.end();) {
    if (!(*it)->accepting() && (*it)->endpoint().use_count() == 1) {
      retireQuicListener(std::move(*it));
      it = quicListeners_.erase(it);
    } else {
      ++it;
    }
  }
  if (softStopped_) stopIfIdle();
}

void Worker::retireQuicListener(std::unique_ptr<QuicListener> l) {
  l->close();
  loop_.deferDelete(std::move(l));
}

void Worker::addListener(int fd, runtime::Frontend* frontend, const config::BindConfig* bind, const core::Address& local,
                         bool shared, bool sockpair) {
  auto l = std::make_unique<Listener>(*this, fd, frontend, bind, local, shared, sockpair);
  if (l->start()) {
    listeners_.push_back(std::move(l));
  }
}

std::future<void> Worker::replaceRuntime(std::shared_ptr<const runtime::Runtime> rt,
                                         std::vector<ListenerSpec> listeners) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> result = done->get_future();
  loop_.post([this, done, rt = std::move(rt), listeners = std::move(listeners)]() mutable {
    // The old listeners' descriptors are duplicates: closing them leaves the
    // shared sockets (and their accept queues) open for the new ones.
    closeListeners();
    listeners_.clear();
    runtime_ = std::move(rt);
    std::vector<std::unique_ptr<QuicListener>> oldQuic = std::move(quicListeners_);
    quicListeners_.clear();
    for (const ListenerSpec& l : listeners) {
      if (softStopped_) {
        int fd = l.fd;
        net::closeFd(fd);
        continue;
      }
      if (l.quic) {
        addQuicListener(l.fd, l.frontend, l.local);
      } else {
        addListener(l.fd, l.frontend, l.bind, l.local, l.shared, l.sockpair);
      }
    }
    // A QUIC socket the new configuration still uses is read by its new
    // listener (the flow table is the worker's, so flows carry on); one it
    // dropped keeps a draining reader while flows still use it.
    for (auto& old : oldQuic) {
      bool kept = std::any_of(quicListeners_.begin(), quicListeners_.end(), [&](const auto& n) {
        return n->endpoint()->inode == old->endpoint()->inode;
      });
      if (!kept && old->endpoint().use_count() > 1) {
        old->stopAccepting();
        quicListeners_.push_back(std::move(old));
      }
    }
    done->set_value();
  });
  return result;
}

void Worker::run() { loop_.run(); }

void Worker::stop() {
  loop_.post([this] {
    closeListeners();
    quicListeners_.clear();
    killAll('K');
    loop_.stop();
  });
}

void Worker::softStop() {
  loop_.post([this] {
    softStopped_ = true;
    accepting_.store(false);
    closeListeners();
    // A QUIC flow's client datagrams come through the listening socket:
    // it stays open, for known flows only, until the last flow ends.
    for (auto& l : quicListeners_) l->stopAccepting();
    stopIfIdle();
  });
}

void Worker::stopIfIdle() {
  if (sessionCount_ == 0 && flowCount() == 0 && pendingHandOvers_.load() == 0) {
    for (auto& l : quicListeners_) retireQuicListener(std::move(l));
    quicListeners_.clear();
    loop_.stop();
  }
}

void Worker::startSession(int fd, std::shared_ptr<const runtime::Runtime> rt, runtime::Frontend& fe,
                          const core::Address& src, const core::Address& dst, const config::BindConfig* bind) {
  auto* s = new Session(*this, std::move(rt), fe, fd, src, dst, bind);
  s->next = sessions_;
  if (sessions_) sessions_->prev = s;
  sessions_ = s;
  ++sessionCount_;
  s->start();
}

Worker* Worker::lighterPeer() const {
  uint32_t mine = load();
  Worker* best = nullptr;
  uint32_t bestLoad = mine;
  for (Worker* p : peers_) {
    if (p == this) continue;
    uint32_t l = p->load();
    if (l < bestLoad) {
      best = p;
      bestLoad = l;
    }
  }
  // Only a clear difference is worth a trip through another thread's loop:
  // one session against none, or more than a quarter of this one's load.
  if (!best || (mine - bestLoad) * 4 <= mine + 1) return nullptr;
  return best;
}

bool Worker::handOver(int fd, std::shared_ptr<const runtime::Runtime> rt, runtime::Frontend* fe,
                      const core::Address& src, const core::Address& dst, const config::BindConfig* bind) {
  pendingHandOvers_.fetch_add(1);
  if (!accepting_.load()) {
    pendingHandOvers_.fetch_sub(1);
    return false;
  }
  load_.fetch_add(1, std::memory_order_relaxed);
  // A loop that has ended (hard stop) refuses the task: the caller keeps the
  // connection, so its descriptor and its actconn count are not lost.
  bool posted = loop_.post([this, fd, rt = std::move(rt), fe, src, dst, bind]() mutable {
    pendingHandOvers_.fetch_sub(1);
    startSession(fd, std::move(rt), *fe, src, dst, bind);
  });
  if (!posted) {
    load_.fetch_sub(1, std::memory_order_relaxed);
    pendingHandOvers_.fetch_sub(1);
  }
  return posted;
}

balance::WaitQueue::Wake Worker::queueWaker(uint64_t sessionId, const std::shared_ptr<balance::WaitQueue>& queue) {
  // Weak: a reload may free the queue (its backend gone) before the task
  // runs, and a queue must not own the wake-ups it holds.
  std::weak_ptr<balance::WaitQueue> weak = queue;
  return [this, sessionId, weak] {
    bool posted = loop_.post([this, sessionId, weak] {
      if (wakeWaiting(sessionId)) return;
      // Gone meanwhile: hand the slot to the next one.
      if (auto q = weak.lock()) q->wakeOne();
    });
    if (!posted) {
      if (auto q = weak.lock()) q->wakeOne();  // this thread has stopped
    }
  };
}

bool Worker::wakeWaiting(uint64_t id) {
  auto it = waiting_.find(id);
  if (it == waiting_.end()) return false;
  Session* s = it->second;
  waiting_.erase(it);
  s->dequeued();
  return true;
}

void Worker::killSessionsOn(const balance::ServerState* server, char cause) {
  loop_.post([this, server, cause] {
    Session* s = sessions_;
    while (s) {
      Session* next = s->next;
      // Compared by live state: a session of the previous configuration
      // holds another ServerState object for the same server.
      if (s->server() && s->server()->live == server->live) s->kill(cause);
      s = next;
    }
    if (quic_) quic_->killOn(server, cause);
  });
}

void Worker::describeSessions(std::function<void(std::vector<SessionInfo>)> done) {
  loop_.post([this, done = std::move(done)] {
    std::vector<SessionInfo> out;
    out.reserve(sessionCount_);
    for (Session* s = sessions_; s; s = s->next) out.push_back(s->describe());
    if (quic_) quic_->describe(out);
    done(std::move(out));
  });
}

void Worker::shutdownSession(uint64_t id, std::function<void(bool)> done) {
  loop_.post([this, id, done = std::move(done)] {
    for (Session* s = sessions_; s; s = s->next) {
      if (s->id() == id) {
        s->kill('K');
        done(true);
        return;
      }
    }
    done(quic_ && quic_->shutdown(id));
  });
}

void Worker::closeListeners() {
  for (auto& l : listeners_) l->close();
}

void Worker::killAll(char cause) {
  if (quic_) quic_->killAll(cause);
  while (sessions_) {
    Session* s = sessions_;
    s->kill(cause);  // unlinks itself through sessionClosed
    if (sessions_ == s) {
      // Should not happen; avoid an endless loop.
      sessions_ = s->next;
    }
  }
}

void Worker::sessionClosed(Session* s) {
  if (s->prev) s->prev->next = s->next;
  if (s->next) s->next->prev = s->prev;
  if (sessions_ == s) sessions_ = s->next;
  s->prev = s->next = nullptr;
  --sessionCount_;
  load_.fetch_sub(1, std::memory_order_relaxed);
  loop_.deferDelete(std::unique_ptr<event::EventHandler>(s));
  if (softStopped_) {
    stopIfIdle();
  } else {
    resumeListeners();
  }
}

void Worker::resumeListeners() {
  for (auto& l : listeners_) l->resume();
}

}  // namespace sluice::session
