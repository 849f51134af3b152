// SPDX-License-Identifier: Apache-2.0
// "program" sections; see programs.h.
#include "app/programs.h"

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace sluice::app {

bool Programs::start(const config::ProgramConfig& program, Running& out) {
  // Everything the child needs is prepared before fork(): after it, in a
  // process with threads, only async-signal-safe calls are allowed.
  std::vector<char*> argv;
  for (const std::string& a : program.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  if (!program.user.empty()) {
    passwd* pw = getpwnam(program.user.c_str());
    if (!pw) {
      log_(3, "sluice: program '" + program.name + "': no user '" + program.user + "'; not started");
      return false;
    }
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }
  if (!program.group.empty()) {
    group* gr = getgrnam(program.group.c_str());
    if (!gr) {
      log_(3, "sluice: program '" + program.name + "': no group '" + program.group + "'; not started");
      return false;
    }
    gid = gr->gr_gid;
  }
  pid_t pid = fork();
  if (pid < 0) {
    log_(3, "sluice: program '" + program.name + "': fork failed: " + std::strerror(errno));
    return false;
  }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);  // the control thread blocks them for its signalfd
    for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD}) signal(s, SIG_DFL);
    close_range(3, ~0U, 0);  // listening sockets and the rest stay with sluice
    if (gid != static_cast<gid_t>(-1) && (setgroups(0, nullptr) != 0 || setgid(gid) != 0)) _exit(126);
    if (uid != static_cast<uid_t>(-1) && setuid(uid) != 0) _exit(126);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  out.config = program;
  out.status.pid = pid;
  out.status.name = program.name;
  out.status.startedAt = static_cast<uint64_t>(time(nullptr));
  out.status.reloads = 0;
  log_(5, "sluice: new program '" + program.name + "' (" + std::to_string(pid) + ") started");
  return true;
}

void Programs::apply(const std::vector<config::ProgramConfig>& programs) {
  std::vector<Running> next;
  std::vector<pid_t> retired;
  for (Running& r : running_) {
    bool keep = false;
    for (const config::ProgramConfig& p : programs) {
      if (p.name == r.config.name && !p.startOnReload && r.status.pid > 0) keep = true;
    }
    if (keep) {
      ++r.status.reloads;
      next.push_back(std::move(r));
    } else if (r.status.pid > 0) {
      retired.push_back(r.status.pid);
    }
  }
  stop(retired);
  for (const config::ProgramConfig& p : programs) {
    bool kept = false;
    for (const Running& r : next) kept = kept || r.config.name == p.name;
    if (kept) continue;
    Running r;
    if (start(p, r)) next.push_back(std::move(r));
  }
  running_ = std::move(next);
}

void Programs::reap() {
  // Only this object's children: others (external health checks) are
  // collected by whoever started them.
  for (auto it = running_.begin(); it != running_.end();) {
    int status = 0;
    pid_t pid = it->status.pid;
    if (pid <= 0 || waitpid(pid, &status, WNOHANG) != pid) {
      ++it;
      continue;
    }
    std::string how = WIFEXITED(status)     ? "exited with code " + std::to_string(WEXITSTATUS(status))
                      : WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                            : "ended";
    log_(WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 5 : 4,
         "sluice: current program '" + it->config.name + "' (" + std::to_string(pid) + ") " + how);
    it = running_.erase(it);
  }
}

// SIGTERM, then SIGKILL for what is still there a second later.
void Programs::stop(std::vector<pid_t> pids) {
  for (pid_t p : pids) kill(p, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (!pids.empty()) {
    for (size_t i = 0; i < pids.size();) {
      if (waitpid(pids[i], nullptr, WNOHANG) != 0) {
        pids.erase(pids.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
    if (pids.empty()) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      for (pid_t p : pids) {
        kill(p, SIGKILL);
        waitpid(p, nullptr, 0);
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Programs::stopAll() {
  std::vector<pid_t> pids;
  for (const Running& r : running_) {
    if (r.status.pid > 0) pids.push_back(r.status.pid);
  }
  running_.clear();
  stop(pids);
}

std::vector<ProgramStatus> Programs::list() const {
  std::vector<ProgramStatus> out;
  for (const Running& r : running_) out.push_back(r.status);
  return out;
}

}  // namespace sluice::app
