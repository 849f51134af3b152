// SPDX-License-Identifier: Apache-2.0
// The lines a session logs: HAProxy's TCP log format ("option tcplog"), its
// default "Connect from" line, and custom "log-format" strings with the
// %-variables of HAProxy's manual §8.2.6 and %[sample] expressions.
//
//   LogRecord r; ... fill from the session ...
//   logger.log(kInfo, formatTcpLog(r));
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/address.h"
#include "route/format.h"
#include "route/sample.h"

namespace sluice::observe {

struct LogRecord {
  core::Address client;
  core::Address frontendAddress;   // the address the client connected to
  core::Address backendSource;     // our side of the server connection
  core::Address serverAddress;
  int64_t acceptWallMicros = 0;
  std::string_view frontend;
  std::string_view backend;
  std::string_view server;         // "<NOSRV>" when none
  int64_t tw = -1;                 // queue wait, ms
  int64_t tc = -1;                 // connect, ms
  int64_t tt = 0;                  // total, ms
  bool early = false;              // option logasap: counts are not final
  uint64_t bytesIn = 0;            // client -> server
  uint64_t bytesOut = 0;           // server -> client (%B)
  char term[2] = {'-', '-'};
  int32_t actconn = 0;
  int32_t feconn = 0;
  int32_t beconn = 0;
  int32_t srvconn = 0;
  uint32_t retries = 0;
  bool redispatched = false;
  uint32_t srvQueue = 0;
  uint32_t beQueue = 0;
  const route::SessionView* view = nullptr;   // for %[...] samples
  const std::vector<std::string>* captures = nullptr;  // %hr, %hrl
};

std::string formatTcpLog(const LogRecord& r);
std::string formatConnectLog(const LogRecord& r);
// HAProxy's one line for a connection that failed before it became a
// session (a PROXY header that is missing, wrong or late):
// "<client> [<accept date>] <frontend>/<listener>: <what>".
std::string formatEmbryonicLog(const LogRecord& r, std::string_view listener, std::string_view what);
std::string formatCustomLog(const route::FormatString& fmt, const LogRecord& r);

}  // namespace sluice::observe
