// SPDX-License-Identifier: Apache-2.0
// File reads that survive chroot; see files.h.
#include "core/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace sluice::core {

namespace {

std::atomic<int> gRootFd{-1};
std::atomic<int> gCwdFd{-1};

// Opens `path` relative to the kept root/cwd when there are some.
int openOutside(const std::string& path, int flags) {
  int root = gRootFd.load();
  if (root < 0) return ::open(path.c_str(), flags | O_CLOEXEC);
  if (!path.empty() && path[0] == '/') {
    size_t i = path.find_first_not_of('/');
    std::string rel = i == std::string::npos ? "." : path.substr(i);
    return ::openat(root, rel.c_str(), flags | O_CLOEXEC);
  }
  return ::openat(gCwdFd.load(), path.c_str(), flags | O_CLOEXEC);
}

}  // namespace

void keepOutsideRoot() {
  if (gRootFd.load() >= 0) return;
  int root = ::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  int cwd = ::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0 || cwd < 0) {
    if (root >= 0) ::close(root);
    if (cwd >= 0) ::close(cwd);
    return;
  }
  gCwdFd.store(cwd);
  gRootFd.store(root);
}

bool readFile(const std::string& path, std::string& out, std::string& error) {
  int fd = openOutside(path, O_RDONLY);
  if (fd < 0) {
    error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    error = "cannot read '" + path + "': it is a directory";
    return false;
  }
  out.clear();
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = "cannot read '" + path + "': " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    break;
  }
  ::close(fd);
  return true;
}

bool isDirectory(const std::string& path) {
  int fd = openOutside(path, O_PATH);
  if (fd < 0) return false;
  struct stat st {};
  bool dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  ::close(fd);
  return dir;
}

std::vector<std::string> listDirectory(const std::string& path) {
  std::vector<std::string> out;
  int fd = openOutside(path, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return out;
  DIR* d = fdopendir(fd);
  if (!d) {
    ::close(fd);
    return out;
  }
  std::string prefix = path;
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  while (dirent* e = readdir(d)) {
    struct stat st {};
    if (fstatat(dirfd(d), e->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode)) continue;
    out.push_back(prefix + e->d_name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace sluice::core
