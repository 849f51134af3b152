// SPDX-License-Identifier: Apache-2.0
// The stats page: one self-contained HTML document (no external assets) with
// a table per proxy (frontend, servers, backend: state, sessions, rates,
// bytes, checks, weights) and a live chart of connections and bytes per
// second. The tables are rendered on the server, so the page works without
// JavaScript; with it, the page polls "<uri>;json" every second and updates
// the chart and tables in place (no reload, no flicker). Admin mode adds a
// checkbox per server and an action form posted back to the same URI.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "admin/stats.h"
#include "config/model.h"

namespace sluice::admin {

// Per-second samples of the process totals, for the chart (five minutes).
class History {
 public:
  struct Point {
    uint64_t time = 0;             // wall-clock seconds
    double connectionsPerSecond = 0;
    double bytesInPerSecond = 0;
    double bytesOutPerSecond = 0;
  };
  static constexpr size_t kPoints = 300;

  void sample(const Snapshot& snap);
  const std::deque<Point>& points() const { return points_; }

 private:
  std::deque<Point> points_;
  uint64_t lastTime_ = 0;
  uint64_t lastConnections_ = 0;
  uint64_t lastIn_ = 0;
  uint64_t lastOut_ = 0;
};

struct PageOptions {
  const config::StatsConfig* config = nullptr;
  std::string uri;               // the stats URI prefix, for links and the form
  bool admin = false;            // this client may use the admin form
  std::string notice;            // result of the last admin action, shown once
};

std::string renderStatsPage(const Snapshot& snap, const History& history, const PageOptions& o);
std::string renderStatsJson(const Snapshot& snap, const History& history, const PageOptions& o);

// Keeps only the proxies named by "stats scope" (all when none).
void applyScope(Snapshot& snap, const std::vector<std::string>& scopes);

std::string htmlEscape(const std::string& s);
std::string jsonEscape(const std::string& s);
std::string humanBytes(uint64_t v);
std::string humanDuration(uint64_t seconds);   // "3m12s", "2h5m", "4d3h"

}  // namespace sluice::admin
