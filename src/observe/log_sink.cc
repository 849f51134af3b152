// SPDX-License-Identifier: Apache-2.0
// Log targets and syslog headers; see log_sink.h.
#include "observe/log_sink.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::observe {

namespace {

const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::string isoNow() {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  tm t{};
  localtime_r(&tv.tv_sec, &t);
  char buf[64];
  long off = t.tm_gmtoff;
  char sign = off < 0 ? '-' : '+';
  off = off < 0 ? -off : off;
  snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06ld%c%02ld:%02ld", t.tm_year + 1900,
           t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, static_cast<long>(tv.tv_usec),
           sign, off / 3600, (off % 3600) / 60);
  return buf;
}

}  // namespace

std::string formatAcceptDate(int64_t epochMicros) {
  time_t secs = static_cast<time_t>(epochMicros / 1'000'000);
  tm t{};
  localtime_r(&secs, &t);
  char buf[40];
  snprintf(buf, sizeof(buf), "%02d/%s/%04d:%02d:%02d:%02d.%03d", t.tm_mday, kMonths[t.tm_mon],
           t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec,
           static_cast<int>((epochMicros / 1000) % 1000));
  return buf;
}

std::shared_ptr<LogSink> LogSink::open(const config::LogTarget& target, std::string tag,
                                       std::string hostname, std::string& error) {
  std::shared_ptr<LogSink> sink(new LogSink());
  sink->target_ = target;
  sink->tag_ = std::move(tag);
  sink->hostname_ = std::move(hostname);
  switch (target.kind) {
    case config::LogTarget::Kind::Fd:
      sink->fd_ = target.fd;
      break;
    case config::LogTarget::Kind::Unix: {
      int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0) {
        error = std::string("socket(AF_UNIX): ") + std::strerror(errno);
        return nullptr;
      }
      sockaddr_un sun{};
      sun.sun_family = AF_UNIX;
      if (target.path.size() >= sizeof(sun.sun_path)) {
        ::close(fd);
        error = "log socket path too long: " + target.path;
        return nullptr;
      }
      std::memcpy(sun.sun_path, target.path.c_str(), target.path.size());
      // A missing syslog daemon is not fatal: lines are dropped until it exists.
      ::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun));
      sink->fd_ = fd;
      sink->ownsFd_ = true;
      break;
    }
    case config::LogTarget::Kind::Udp: {
      int fd = ::socket(target.address.family(), SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0 || ::connect(fd, target.address.sockaddrPtr(), target.address.length()) != 0) {
        error = "cannot open UDP log target " + target.address.toString() + ": " + std::strerror(errno);
        if (fd >= 0) ::close(fd);
        return nullptr;
      }
      sink->fd_ = fd;
      sink->ownsFd_ = true;
      break;
    }
  }
  return sink;
}

LogSink::~LogSink() {
  if (ownsFd_ && fd_ >= 0) {
    ::close(fd_);
  }
}

std::string LogSink::header(int level) const {
  int pri = target_.facility * 8 + level;
  char buf[128];
  switch (target_.format) {
    case config::LogFormat::Raw:
      return {};
    case config::LogFormat::Short:
      snprintf(buf, sizeof(buf), "<%d>", level);
      return buf;
    case config::LogFormat::Priority:
      snprintf(buf, sizeof(buf), "<%d>", pri);
      return buf;
    case config::LogFormat::Iso:
      return isoNow() + " ";
    case config::LogFormat::Timed:
      snprintf(buf, sizeof(buf), "<%d>", level);
      return buf + isoNow() + " ";
    case config::LogFormat::Rfc5424:
      snprintf(buf, sizeof(buf), "<%d>1 ", pri);
      return buf + isoNow() + " " + (hostname_.empty() ? "-" : hostname_) + " " + tag_ + " " +
             std::to_string(getpid()) + " - - ";
    case config::LogFormat::Local:
    case config::LogFormat::Rfc3164: {
      time_t now = time(nullptr);
      tm t{};
      localtime_r(&now, &t);
      snprintf(buf, sizeof(buf), "<%d>%s %2d %02d:%02d:%02d ", pri, kMonths[t.tm_mon], t.tm_mday,
               t.tm_hour, t.tm_min, t.tm_sec);
      std::string h = buf;
      if (target_.format == config::LogFormat::Rfc3164 || !hostname_.empty()) {
        h += (hostname_.empty() ? "localhost" : hostname_) + " ";
      }
      return h + tag_ + "[" + std::to_string(getpid()) + "]: ";
    }
  }
  return {};
}

void LogSink::send(int level, std::string_view message) {
  if (level > target_.maxLevel) {
    return;
  }
  if (level < target_.minLevel) {
    level = target_.minLevel;
  }
  std::string line = header(level);
  line.append(message);
  if (line.size() > target_.maxLength) {
    line.resize(target_.maxLength);
  }
  if (target_.kind == config::LogTarget::Kind::Fd) {
    line.push_back('\n');
    // Never block a worker on a slow terminal or pipe: drop instead.
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, 0) != 1 || ::write(fd_, line.data(), line.size()) < 0) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  if (::send(fd_, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
  }
}

void Logger::log(int level, std::string_view message) const {
  for (const auto& s : sinks_) {
    s->send(level, message);
  }
}

}  // namespace sluice::observe
