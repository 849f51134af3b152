// SPDX-License-Identifier: Apache-2.0
// Email alerts over SMTP (RFC 5321); see mail_alerts.h.
#include "observe/mail_alerts.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net/socket.h"

namespace sluice::observe {

namespace {

// RFC 5322 date: "Mon, 30 Nov 2026 19:53:02 +0000".
std::string mailDate() {
  time_t now = time(nullptr);
  tm t{};
  gmtime_r(&now, &t);
  char buf[64];
  strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S +0000", &t);
  return buf;
}

}  // namespace

// One SMTP session to one mailer: each command waits for its reply, whose
// first digit must be 2 (3 after DATA).
class MailAlerts::Delivery final : public event::EventHandler, public event::Timer {
 public:
  Delivery(MailAlerts& owner, const MailRecipe& r, const core::Address& mailer, const std::string& message)
      : owner_(owner), mailer_(mailer), proxy_(r.proxy) {
    std::string subject = message;
    for (char& c : subject) {
      if (c == '\r' || c == '\n') c = ' ';
    }
    std::string body = "From: <" + r.from + ">\r\nTo: <" + r.to + ">\r\nDate: " + mailDate() +
                       "\r\nSubject: [HAproxy Alert] " + subject + "\r\n\r\n";
    // Dot-stuffing: a line starting with "." gets one more.
    std::string text = subject + "\r\n";
    body += (text[0] == '.' ? "." : "") + text + ".\r\n";
    commands_ = {"",  // the greeting
                 "EHLO " + r.hostname + "\r\n", "MAIL FROM:<" + r.from + ">\r\n", "RCPT TO:<" + r.to + ">\r\n",
                 "DATA\r\n", body, "QUIT\r\n"};
    fd_ = net::startConnect(mailer, core::Address(), false);
    if (fd_ < 0) {
      failure_ = std::strerror(errno);
      return;
    }
    owner_.loop_.add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this);
    owner_.loop_.schedule(*this, owner_.loop_.now() + r.timeoutMs);
  }
  ~Delivery() override {
    owner_.loop_.cancel(*this);
    if (fd_ >= 0) {
      owner_.loop_.remove(fd_);
      ::close(fd_);
    }
  }
  const std::string& failure() const { return failure_; }
  bool started() const { return fd_ >= 0; }

  void onTimer() noexcept override { fail("timeout mail"); }

  void onEvents(uint32_t events) noexcept override {
    if (fd_ < 0 || over_) return;
    if (!connected_) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = net::socketError(fd_);
      if (err || !(events & EPOLLOUT)) {
        fail(std::strerror(err ? err : ECONNREFUSED));
        return;
      }
      connected_ = true;
    }
    char buf[2048];
    while (true) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n > 0) {
        in_.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) {
        // The server may close once it answered QUIT.
        if (step_ + 1 >= commands_.size() && replyComplete()) break;
        fail("the mailer closed the connection");
        return;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      fail(std::strerror(errno));
      return;
    }
    while (replyComplete()) {
      char first = in_[0];
      std::string line = in_.substr(0, in_.find('\n'));
      in_.erase(0, lastLineEnd_ + 1);
      const bool afterData = commands_[step_] == "DATA\r\n";
      if (first != '2' && !(afterData && first == '3')) {
        fail("the mailer answered '" + line.substr(0, line.find('\r')) + "'");
        return;
      }
      if (++step_ >= commands_.size()) {
        done();
        return;
      }
      const std::string& cmd = commands_[step_];
      if (::send(fd_, cmd.data(), cmd.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(cmd.size())) {
        fail("cannot send to the mailer");
        return;
      }
    }
  }

 private:
  // A reply's last line is "NNN text" (its other lines are "NNN-text").
  bool replyComplete() {
    size_t start = 0;
    while (true) {
      size_t eol = in_.find('\n', start);
      if (eol == std::string::npos) return false;
      if (eol - start < 4 || in_[start + 3] != '-') {
        lastLineEnd_ = eol;
        return !in_.empty();
      }
      start = eol + 1;
    }
  }

  void fail(const std::string& why) {
    failure_ = why;
    owner_.log_(4, "Email alert for proxy '" + proxy_ + "' to mailer " + mailer_.toString() +
                       " was not delivered: " + why);
    done();
  }
  void done() {
    over_ = true;
    owner_.loop_.cancel(*this);
    if (fd_ >= 0) {
      owner_.loop_.remove(fd_);
      ::close(fd_);
      fd_ = -1;
    }
    owner_.finished(this);
  }

  MailAlerts& owner_;
  core::Address mailer_;
  std::string proxy_;
  std::vector<std::string> commands_;
  size_t step_ = 0;
  int fd_ = -1;
  bool connected_ = false;
  bool over_ = false;
  std::string in_;
  size_t lastLineEnd_ = 0;
  std::string failure_;
};

MailAlerts::MailAlerts(event::EventLoop& loop, Log log) : loop_(loop), log_(std::move(log)) {}

MailAlerts::~MailAlerts() { stop(); }

void MailAlerts::stop() { deliveries_.clear(); }

void MailAlerts::send(const MailRecipe& recipe, int level, const std::string& message) {
  if (level > recipe.level) return;
  for (const core::Address& m : recipe.mailers) {
    if (deliveries_.size() >= 256) {
      log_(4, "Email alert for proxy '" + recipe.proxy + "' dropped: too many mails under way");
      return;
    }
    auto d = std::make_unique<Delivery>(*this, recipe, m, message);
    if (!d->started()) {
      log_(4, "Email alert for proxy '" + recipe.proxy + "' to mailer " + m.toString() +
                  " was not delivered: " + d->failure());
      continue;
    }
    deliveries_.push_back(std::move(d));
  }
}

// Called from the delivery's own event: it is freed after this batch.
void MailAlerts::finished(Delivery* d) {
  for (auto it = deliveries_.begin(); it != deliveries_.end(); ++it) {
    if (it->get() != d) continue;
    std::unique_ptr<Delivery> owned = std::move(*it);
    deliveries_.erase(it);
    loop_.deferDelete(std::move(owned));
    return;
  }
}

}  // namespace sluice::observe
