// SPDX-License-Identifier: Apache-2.0
// The sockets of the control thread: the runtime API ("stats socket", UNIX
// or TCP, one command line per connection or interactive with "prompt") and
// the small HTTP server of stats proxies (the page, its CSV and JSON, the
// Prometheus exporter, the admin form). Everything runs on the control
// thread's event loop, never on a worker, with bounded buffers and timeouts:
// a slow or hostile client costs one connection, nothing else.
//
//   Endpoints ep(loop, host);
//   ep.configureCli(cfg.global, errors);          // at start (as root) and on reload
//   ep.setHttpListeners(std::move(plan.admin));   // from ListenerSet
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "admin/cli.h"
#include "admin/host.h"
#include "admin/stats_page.h"
#include "event/loop.h"
#include "session/worker.h"

namespace sluice::admin {

class Endpoints {
 public:
  Endpoints(event::EventLoop& loop, Host& host);
  ~Endpoints();
  Endpoints(const Endpoints&) = delete;
  Endpoints& operator=(const Endpoints&) = delete;

  // Opens the "stats socket" lines not open yet and closes those no longer
  // in the file (a changed level applies to new connections). Returns false
  // with `errors` ("file:line: error: ...") for the ones that failed.
  bool configureCli(const config::GlobalConfig& global, std::string& errors);

  // Listening sockets of the stats proxies (from ListenerSet), replacing the
  // previous ones; the descriptors are owned from now on.
  void setHttpListeners(std::vector<session::ListenerSpec> listeners);

  // Closes every socket and connection now; the object may be destroyed
  // once the loop's current batch of events is over.
  void shutdown();

  // Stops serving the stats proxies (soft stop); open connections finish.
  // The runtime API stays, so that an operator can watch the drain.
  void closeHttpListeners();

  const History& history() const { return history_; }
  size_t cliSocketCount() const { return cli_.size(); }

  // Internal: connections report their end here.
  class Connection;
  // Takes a new connection, or closes it at once when its kind is at its
  // limit ("stats maxconn" for the runtime API, 256 for HTTP): a flood of
  // clients costs descriptors for an instant, never the control thread.
  void adopt(std::unique_ptr<Connection> c, bool cli);
  void connectionDone(Connection* c);
  Host& host() { return host_; }
  event::EventLoop& loop() { return loop_; }
  Cli& cli() { return cli_interpreter_; }
  History& mutableHistory() { return history_; }

 private:
  class CliListener;
  class HttpListener;
  class Ticker;

  event::EventLoop& loop_;
  Host& host_;
  Cli cli_interpreter_;
  History history_;
  std::map<std::string, std::unique_ptr<CliListener>> cli_;   // by address
  std::vector<std::unique_ptr<HttpListener>> http_;
  std::vector<std::unique_ptr<Connection>> connections_;
  size_t cliConnections_ = 0;
  size_t httpConnections_ = 0;
  size_t cliLimit_ = 10;
  std::unique_ptr<Ticker> ticker_;
};

// Decodes "a%20b+c" (form and query encoding).
std::string urlDecode(std::string_view s);

}  // namespace sluice::admin
