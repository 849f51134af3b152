// SPDX-License-Identifier: Apache-2.0
// HAProxy's stats-file, written and read; see stats_file.h.
#include "admin/stats_file.h"

#include <atomic>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

#include "core/strings.h"
#include "runtime/runtime.h"

namespace sluice::admin {

namespace {

// One preloadable column of an object: the counter it sets and reads.
struct Slot {
  std::string_view column;
  std::atomic<uint64_t>* counter;
};

std::vector<Slot> frontendSlots(runtime::ProxyCounters& c) {
  return {{"stot", &c.total},       {"bin", &c.bytesIn},   {"bout", &c.bytesOut},
          {"dreq", &c.denied},      {"dcon", &c.deniedConnections}, {"ereq", &c.errors},
          {"cli_abrt", &c.clientAborts}, {"srv_abrt", &c.serverAborts}};
}

std::vector<Slot> backendSlots(runtime::ProxyCounters& c) {
  return {{"stot", &c.total},  {"bin", &c.bytesIn},        {"bout", &c.bytesOut},
          {"dreq", &c.denied}, {"dresp", &c.deniedResponses}, {"econ", &c.errors},
          {"cli_abrt", &c.clientAborts}, {"srv_abrt", &c.serverAborts}};
}

std::vector<Slot> serverSlots(balance::ServerCounters& c) {
  return {{"stot", &c.connections},   {"bin", &c.bytesIn},        {"bout", &c.bytesOut},
          {"econ", &c.connectErrors}, {"wretr", &c.retries},      {"wredis", &c.redispatches},
          {"chkfail", &c.checkFailures}, {"chkdown", &c.wentDown}, {"cli_abrt", &c.clientAborts},
          {"srv_abrt", &c.serverAborts}};
}

constexpr std::string_view kFrontendColumns[] = {"stot", "bin", "bout", "dreq", "dcon", "ereq", "cli_abrt", "srv_abrt"};
constexpr std::string_view kBackendColumns[] = {"stot", "bin",   "bout",   "dreq",    "dresp",   "econ",
                                                "wretr", "wredis", "chkfail", "chkdown", "cli_abrt", "srv_abrt"};

uint64_t counterValue(const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); }

// The counter behind `column` among `slots`, if there is one.
std::optional<uint64_t> slotValue(const std::vector<Slot>& slots, std::string_view column) {
  for (const Slot& s : slots) {
    if (s.column == column) return counterValue(*s.counter);
  }
  return std::nullopt;
}

// "<guid>,<value>,...": a column nothing counts reads 0.
template <size_t N, typename ValueOf>
std::string line(const std::string& guid, const std::string_view (&columns)[N], ValueOf valueOf) {
  std::string out = guid + ",";
  for (std::string_view col : columns) out += std::to_string(valueOf(col).value_or(0)) + ",";
  return out + "\n";
}

template <size_t N>
std::string line(const std::string& guid, const std::string_view (&columns)[N], const std::vector<Slot>& slots) {
  return line(guid, columns, [&](std::string_view col) { return slotValue(slots, col); });
}

template <size_t N>
std::string header(std::string_view domain, const std::string_view (&columns)[N]) {
  std::string out = "#" + std::string(domain) + " guid,";
  for (std::string_view col : columns) out += std::string(col) + ",";
  return out + "\n";
}

// The objects a GUID names, by the side of the file they belong to.
struct Targets {
  std::map<std::string, std::vector<Slot>, std::less<>> frontends;  // "#fe"
  std::map<std::string, std::vector<Slot>, std::less<>> backends;   // "#be": backends and servers
};

Targets targetsOf(runtime::Runtime& rt) {
  Targets t;
  for (const auto& fe : rt.frontends) {
    if (fe->config && !fe->config->guid.empty()) t.frontends[fe->config->guid] = frontendSlots(*fe->counters);
  }
  for (const auto& be : rt.backends) {
    if (be->config && !be->config->guid.empty()) t.backends[be->config->guid] = backendSlots(*be->counters);
    for (const auto& s : be->servers) {
      const std::string& guid = be->serverConfigs[s->position]->guid;
      if (!guid.empty()) t.backends[guid] = serverSlots(s->counters);
    }
  }
  return t;
}

}  // namespace

std::string dumpStatsFile(runtime::Runtime& rt) {
  std::string out = header("fe", kFrontendColumns);
  for (const auto& fe : rt.frontends) {
    if (fe->config && !fe->config->guid.empty()) {
      out += line(fe->config->guid, kFrontendColumns, frontendSlots(*fe->counters));
    }
  }
  out += header("be", kBackendColumns);
  for (const auto& be : rt.backends) {
    if (be->config && !be->config->guid.empty()) {
      // A backend's retries, redispatches and check counts are its servers'.
      const std::vector<Slot> own = backendSlots(*be->counters);
      std::vector<std::vector<Slot>> servers;
      for (const auto& s : be->servers) servers.push_back(serverSlots(s->counters));
      out += line(be->config->guid, kBackendColumns, [&](std::string_view col) -> std::optional<uint64_t> {
        if (auto v = slotValue(own, col)) return v;
        uint64_t sum = 0;
        for (const std::vector<Slot>& slots : servers) sum += slotValue(slots, col).value_or(0);
        return sum;
      });
    }
    for (const auto& s : be->servers) {
      const std::string& guid = be->serverConfigs[s->position]->guid;
      if (!guid.empty()) out += line(guid, kBackendColumns, serverSlots(s->counters));
    }
  }
  return out;
}

size_t applyStatsFile(runtime::Runtime& rt, std::string_view text) {
  Targets targets = targetsOf(rt);
  const std::map<std::string, std::vector<Slot>, std::less<>>* side = nullptr;  // none before a header
  std::vector<std::string> columns;
  size_t applied = 0;
  for (std::string_view raw : core::split(text, '\n')) {
    std::string_view l = core::trim(raw);
    if (l.empty()) continue;
    if (l[0] == '#') {
      // "#fe guid,a,b," or "#be guid,...": anything else ends the section.
      side = nullptr;
      columns.clear();
      size_t space = l.find(' ');
      std::string_view domain = l.substr(1, space == std::string_view::npos ? l.size() - 1 : space - 1);
      if (space == std::string_view::npos || (domain != "fe" && domain != "be")) continue;
      bool first = true;
      bool valid = true;
      for (std::string_view c : core::split(l.substr(space + 1), ',')) {
        if (first) {
          valid = c == "guid";
          first = false;
          continue;
        }
        columns.emplace_back(c);
      }
      if (valid) side = domain == "fe" ? &targets.frontends : &targets.backends;
      continue;
    }
    if (!side) continue;
    std::vector<std::string_view> fields = core::split(l, ',');
    auto it = side->find(fields[0]);
    if (it == side->end()) continue;  // unknown GUID, or one of the other side
    for (size_t i = 1; i < fields.size() && i - 1 < columns.size(); ++i) {
      auto v = core::parseInt(fields[i]);
      if (!v || *v < 0) continue;  // not a number: skipped
      for (const Slot& s : it->second) {
        if (s.column == columns[i - 1]) {
          s.counter->store(static_cast<uint64_t>(*v), std::memory_order_relaxed);
          ++applied;
        }
      }
    }
  }
  return applied;
}

void loadStatsFile(runtime::Runtime& rt, core::Diagnostics& diag) {
  const std::string& path = rt.source->global.statsFile;
  if (path.empty()) return;
  std::ifstream in(path);
  if (!in) {
    diag.warning(rt.source->global.statsFileWhere,
                 "cannot read the stats-file '" + path + "'; counters start from zero",
                 "write it with the runtime API's 'dump stats-file' before a restart");
    return;
  }
  std::ostringstream text;
  text << in.rdbuf();
  applyStatsFile(rt, text.str());
}

}  // namespace sluice::admin
