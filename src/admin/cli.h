// SPDX-License-Identifier: Apache-2.0
// The runtime API's command interpreter: HAProxy's command words and output
// formats ("show stat", "set server be/s1 state drain", "add map ...") so
// that existing scripts and tools keep working. Pure with respect to I/O:
// the socket side (admin/endpoints) feeds it lines and writes its answers.
//
// Levels are enforced: "user" may only look, "operator" may also change maps
// and ACLs and see sessions, "admin" may change servers, end sessions and
// reload. (HAProxy lets a user socket edit maps; sluice does not.)
//
//   Cli cli(host);
//   CliSession s{Level::Admin};
//   std::string out = cli.execute("set server be/s1 state drain", "", s);
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "admin/host.h"

namespace sluice::admin {

enum class Level { User = 0, Operator = 1, Admin = 2 };

bool parseLevel(std::string_view text, Level& out);
std::string_view levelName(Level l);

struct CliSession {
  Level level = Level::User;
  bool prompt = false;   // interactive mode: answers end with "> "
  bool quit = false;     // the client asked to leave
  // The master CLI (-S): commands go to the master unless a "@<n>",
  // "@!<pid>" prefix (or a prefix alone, for the commands that follow)
  // sends them to a worker. sluice is one process: the master and worker 1.
  bool master = false;
  bool toWorker = false;
};

class Cli {
 public:
  explicit Cli(Host& host) : host_(host) {}

  // One command (no newline). `payload` is the text after "<<" (lines up to
  // an empty line), empty if none. The answer ends with a newline, as
  // HAProxy's do; an empty answer is "\n" only.
  std::string execute(std::string_view line, const std::string& payload, CliSession& session);
  // What interactive mode shows before each command: "> ", or on the
  // master CLI "master> " / "<pid>> ".
  static std::string promptText(const CliSession& session);

  // Splits a line into commands at unescaped ';' ("show info; show stat").
  static std::vector<std::string> splitCommands(std::string_view line);
  // Splits a command into words; '\' escapes the next character.
  static std::vector<std::string> splitWords(std::string_view command);

 private:
  std::string executeMaster(std::string_view line, const std::string& payload, CliSession& session);
  std::string executeHere(std::string_view line, const std::string& payload, CliSession& session);
  Host& host_;
};

}  // namespace sluice::admin
