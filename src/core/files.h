// SPDX-License-Identifier: Apache-2.0
// Reading configuration-side files (the configuration itself, map and pattern
// files, CA bundles) in a way that still works after "chroot": before the
// process enters the jail it hands over descriptors of the real root and of
// its working directory, and every later read resolves paths through them.
// Without a jail the calls are plain open()/read().
//
//   core::keepOutsideRoot();          // before chroot()
//   std::string text, error;
//   if (!core::readFile("/etc/haproxy/haproxy.cfg", text, error)) ...
#pragma once

#include <string>
#include <vector>

namespace sluice::core {

// Opens "/" and "." so that later reads resolve against them. Idempotent.
void keepOutsideRoot();

// The whole file at `path`. False with `error` ("cannot open ...: reason").
bool readFile(const std::string& path, std::string& out, std::string& error);

// Whether `path` names a directory.
bool isDirectory(const std::string& path);

// The regular files in directory `path` (names joined to `path`), sorted.
std::vector<std::string> listDirectory(const std::string& path);

}  // namespace sluice::core
