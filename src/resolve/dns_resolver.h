// SPDX-License-Identifier: Apache-2.0
// DNS service discovery: the servers that name a "resolvers" section are
// resolved again every "timeout resolve" through that section's name
// servers, with c-ares, on the control thread. A server named by a host name
// takes one address of its A/AAAA records (resolve-prefer's family first,
// the current one kept while it is still listed); the servers of a
// "server-template" share the addresses, one each; an SRV label fills them
// with the records' targets, ports and weights. A server DNS gives no
// address takes no traffic ("MAINT (resolution)"). A failed resolution
// (NXDOMAIN, refused, timeout, garbage) leaves servers as they were for the
// section's "hold" period. Every name server is asked; the first valid
// answer counts, as in HAProxy, and each one's results are counted for
// "show resolvers".
//
//   DnsResolver dns(loop, [&] { /* rebuild the runtime with dns.applyTo(cfg) */ });
//   dns.configure(cfg);      // at start and after each reload
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/model.h"
#include "core/address.h"
#include "event/loop.h"

namespace sluice::resolve {

struct NameserverCounters {
  uint64_t sent = 0, sendErrors = 0, valid = 0, update = 0, nx = 0, timeout = 0, refused = 0, other = 0,
           invalid = 0, outdated = 0;
};

class DnsResolver final : public event::Timer {
 public:
  DnsResolver(event::EventLoop& loop, std::function<void()> changed);
  ~DnsResolver() override;
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  // The sections and the servers to resolve (start, reload, runtime
  // change). What was resolved for servers that are still there is kept.
  void configure(const config::Config& cfg);
  // Puts what DNS gave into `cfg`'s servers (address, SRV port and weight,
  // hasAddress), before a runtime is built from it.
  void applyTo(config::Config& cfg) const;
  // HAProxy's "show resolvers [<section>]"; "" and `error` set when unknown.
  std::string show(const std::string& section, std::string& error) const;
  struct NameserverReport {
    std::string section;
    std::string nameserver;
    NameserverCounters counters;
  };
  std::vector<NameserverReport> counters() const;

  void onTimer() noexcept override;

 private:
  struct Channel;
  struct Target;
  struct Query;
  struct Assigned {
    bool has = false;
    core::Address address;   // the port included
    std::optional<uint32_t> weight;
  };

  void startRound(Target& t, uint64_t now);
  void ask(Target& t, const std::string& name, int type, int phase);
  static void answered(void* arg, int status, int timeouts, unsigned char* abuf, int alen);
  void finishPhase(Target& t);
  void conclude(Target& t, bool valid, int status);
  void assign(Target& t, const std::vector<std::pair<core::Address, std::optional<uint32_t>>>& found);
  void poll();
  void reschedule();

  event::EventLoop& loop_;
  std::function<void()> changed_;
  bool pendingChange_ = false;
  std::vector<std::unique_ptr<Channel>> channels_;
  std::vector<std::unique_ptr<Target>> targets_;
  // What DNS gave each server ("backend/server"), kept across configure().
  std::map<std::string, Assigned> assigned_;
  std::map<std::string, std::vector<NameserverCounters*>> sectionCounters_;
};

}  // namespace sluice::resolve
