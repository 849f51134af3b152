// SPDX-License-Identifier: Apache-2.0
// Samples: the typed values that fetches produce and converters transform,
// and the read-only view of a connection that fetches read them from.
//
// A fetch may fail in two ways, as in HAProxy: "no value, and none will come"
// (final) or "no value yet" (mayChange). Rules evaluated before the
// inspection window closes treat the second as "wait for more data".
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/address.h"
#include "proto/client_hello.h"

namespace sluice::stick {
class Table;
class TableSet;
struct Tracking;
}  // namespace sluice::stick

namespace sluice::route {

enum class SampleType : uint8_t { None, Bool, Int, Str, Bin, Ip };

std::string_view toString(SampleType t);

struct Sample {
  SampleType type = SampleType::None;
  int64_t integer = 0;   // Bool and Int
  std::string text;      // Str and Bin
  core::Address ip;      // Ip
  bool mayChange = false;

  static Sample ofInt(int64_t v) {
    Sample s;
    s.type = SampleType::Int;
    s.integer = v;
    return s;
  }
  static Sample ofBool(bool v) {
    Sample s;
    s.type = SampleType::Bool;
    s.integer = v ? 1 : 0;
    return s;
  }
  static Sample ofStr(std::string_view v) {
    Sample s;
    s.type = SampleType::Str;
    s.text.assign(v);
    return s;
  }
  static Sample ofIp(const core::Address& a) {
    Sample s;
    s.type = SampleType::Ip;
    s.ip = a.unmapped();
    return s;
  }
};

// Converts a sample in place to `to`, as HAProxy's casts do (int <-> string,
// address -> string, string -> address, bool -> int). Returns false when the
// value has no form of that type.
bool castSample(Sample& s, SampleType to);

// The text form used in logs and dynamic backend names.
std::string sampleToString(const Sample& s);

// Per-connection variables set by "set-var(txn.x)" and read by "var(txn.x)".
class Variables {
 public:
  const Sample* get(std::string_view name) const {
    for (const auto& [k, v] : items_) {
      if (k == name) return &v;
    }
    return nullptr;
  }
  void set(std::string_view name, Sample value) {
    value.mayChange = false;
    for (auto& [k, v] : items_) {
      if (k == name) {
        v = std::move(value);
        return;
      }
    }
    items_.emplace_back(std::string(name), std::move(value));
  }
  void unset(std::string_view name) {
    for (size_t i = 0; i < items_.size(); ++i) {
      if (items_[i].first == name) {
        items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(i));
        return;
      }
    }
  }

 private:
  std::vector<std::pair<std::string, Sample>> items_;
};

// What a fetch may look at. The session fills it; fetches never touch
// sockets. `hello` is set only once the whole ClientHello has been read.
// An HTTP request, for the few HTTP fetches that stats proxies use
// ("http-request use-service prometheus-exporter if { path /metrics }").
struct HttpRequestView {
  std::string_view method;
  std::string_view path;
  std::string_view query;
  std::string_view version;
  std::vector<std::pair<std::string_view, std::string_view>> headers;
};

// What the fetches of proxy and server state read (nbsrv, srv_is_up,
// be_conn, connslots, ...): the runtime answers, route knows no runtime.
struct ProxyStateView {
  int64_t usableServers = 0;  // nbsrv: servers that may take a connection now
  int64_t connections = 0;    // be_conn / fe_conn
  int64_t queued = 0;         // queue: connections waiting for a server
  int64_t sessionRate = 0;    // per second, the last complete one
  int64_t freeSlots = -1;     // be_conn_free: room on usable servers; -1 when one has no maxconn
  int64_t queueRoom = -1;     // room left in the queue (maxqueue); -1 unlimited
};
struct ServerStateView {
  bool up = false;            // usable: up, in service, resolved, weight above 0
  int64_t connections = 0;
  int64_t queued = 0;
  int64_t sessionRate = 0;
  int64_t freeSlots = -1;     // srv_conn_free; -1 without maxconn
  int64_t weight = 0;         // effective (srv_weight), as configured (srv_iweight), as set (srv_uweight)
  int64_t initialWeight = 0;
  int64_t userWeight = 0;
};
class ProxyStates {
 public:
  virtual bool backendState(std::string_view name, ProxyStateView& out) const = 0;
  virtual bool frontendState(std::string_view name, ProxyStateView& out) const = 0;
  virtual bool serverState(std::string_view backend, std::string_view server, ServerStateView& out) const = 0;

 protected:
  ~ProxyStates() = default;
};

struct SessionView {
  core::Address src;
  core::Address dst;
  std::string_view frontendName;
  std::string_view backendName;
  const proto::ClientHelloInfo* hello = nullptr;
  bool helloFinal = true;        // the ClientHello reader has reached a final state
  std::span<const uint8_t> payload;  // client bytes buffered so far
  bool final = true;             // the inspection window is over: no more data will be awaited
  std::span<const uint8_t> response;  // server bytes (health checks, tcp-response rules)
  const std::vector<std::string>* captures = nullptr;  // "capture" slots
  std::string_view proxyTlvs;  // the TLV bytes of the client's PROXY v2 header (proto::findTlv)
  bool responseFinal = true;
  Variables* vars = nullptr;
  const HttpRequestView* http = nullptr;  // only in stats proxies
  // Stick tables: all of them, the one of the proxy whose rules run (the
  // default of src_* fetches), and the counters the session tracks.
  const stick::TableSet* tables = nullptr;
  stick::Table* stickTable = nullptr;
  stick::Tracking* tracking = nullptr;
  const ProxyStates* proxies = nullptr;  // for nbsrv, srv_is_up, be_conn, ...
  // Bytes so far (bytes_in, req.bytes_out, ...): from the client, to the
  // server, from the server, to the client. Without `counted`, no value.
  bool counted = false;
  uint64_t fromClient = 0, toServer = 0, fromServer = 0, toClient = 0;
};

}  // namespace sluice::route
