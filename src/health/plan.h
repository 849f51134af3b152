// SPDX-License-Identifier: Apache-2.0
// What a health check does, compiled from the configuration once: a plain
// TCP connect, a TLS hello probe (option ssl-hello-chk), a tcp-check rule
// sequence, or an HTTP check (option httpchk / http-check), with the
// server-specific parts (address, port, SNI, ALPN, PROXY header) resolved.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/model.h"
#include "core/diagnostics.h"
#include "route/expression.h"
#include "route/format.h"
#include "route/regex.h"

namespace sluice::health {

struct CheckStep {
  enum class Kind { Connect, Send, Expect };
  Kind kind = Kind::Connect;
  std::string comment;                       // "comment <text>" of any step
  // connect
  std::optional<uint16_t> port;
  std::optional<core::Address> addr;
  bool useServerSettings = false;            // "default", or the implicit first connect
  bool ssl = false;
  std::string sni;
  std::vector<std::string> alpn;
  bool sendProxy = false;
  bool viaSocks4 = false;
  // send
  std::string data;
  // expect
  enum class Match { String, RString, Binary, RBinary, Status, RStatus, Custom };
  Match match = Match::String;
  enum class Custom { None, MysqlHandshake, MysqlLogin, LdapBind, SpopHello };
  Custom custom = Custom::None;
  bool negate = false;
  std::string pattern;                       // String / Binary (raw bytes) / Status list
  std::shared_ptr<const route::Regex> regex; // RString / RBinary / RStatus
  size_t minRecv = 0;
  bool minRecvSet = false;                   // "min-recv N": a mismatch with N bytes is conclusive
  // Protocol checks judge a whole answer, then the verdict is final: a line
  // (Redis), or an SMTP reply (its last line has no '-' after the code).
  enum class Framing { None, Line, SmtpReply };
  Framing framing = Framing::None;
  bool farewell = false;                     // the answer to a goodbye: judged if it comes; none is no failure
  // ok-status / error-status / tout-status: empty for the defaults (L7OK, L7RSP, L7TOUT)
  std::string okStatus;
  std::string errorStatus;
  std::string timeoutStatus;
  std::shared_ptr<const route::FormatString> onSuccess;  // the result's info
  std::shared_ptr<const route::FormatString> onError;
  std::shared_ptr<const route::SampleExpr> statusCode;   // the result's code
  // The step as written, for "at step N of tcp-check (expect string 'x')".
  std::string describe() const;
};

struct CheckPlan {
  enum class Kind { Connect, SslHello, Steps, Http, External };
  Kind kind = Kind::Connect;
  // External: "external-check command" and its PATH; the arguments and
  // HAPROXY_* variables are made per check.
  std::string command;
  std::string path;
  std::string proxyAddress = "NOT_USED";     // the first bind of a listen section
  std::string proxyPort = "NOT_USED";
  std::vector<CheckStep> steps;              // Steps (tcp-check) and Http (after the request)
  bool userRules = false;                    // written as tcp-check lines: messages name the step
  std::string httpRequest;                   // Http: the request bytes
  std::vector<CheckStep> httpExpect;         // Http: expectations on the response
};

// Per-server check settings, resolved.
struct ServerCheckSpec {
  core::Address address;                     // where checks connect (as the file gives it)
  // No "addr": checks follow the server's live address (DNS and the runtime
  // API move it in place), on the "port" when one is given.
  bool followsServer = true;
  bool explicitPort = false;
  uint32_t inter = 2000;
  uint32_t fastinter = 2000;
  uint32_t downinter = 2000;
  uint32_t rise = 2;
  uint32_t fall = 3;
  // "init-state" (HAProxy 3.1) at a fresh start: "up" (also HAProxy's
  // default, "none") is UP until the first failed check, "fully-up" until
  // "fall" of them, "down" DOWN until the first passed one, "fully-down"
  // until "rise" of them.
  std::string initState;
  uint32_t timeout = 0;                      // "timeout check"; 0: inter bounds the whole check
  uint32_t connectTimeout = 0;               // "timeout connect"
  bool ssl = false;                          // check-ssl
  std::string sni;                           // check-sni
  std::vector<std::string> alpn;             // check-alpn
  bool verify = false;                       // verify required
  std::string caFile;
  config::ProxyProtocolOut sendProxy = config::ProxyProtocolOut::None;  // check-send-proxy
  bool proxyV2Local = true;                  // LOCAL command, unless "pp2-never-send-local"
  std::string probeHello;                    // ssl-hello-chk: the ClientHello bytes
  std::optional<core::Address> socks4;       // check-via-socks4: the SOCKS4 proxy
  std::shared_ptr<const CheckPlan> plan;
};

// Compiles a backend's check plan. Errors go to `diag` with file:line.
std::shared_ptr<const CheckPlan> compilePlan(const config::ProxyConfig& backend, route::MapRegistry& maps,
                                             core::Diagnostics& diag);

// Resolves one server's check settings; nullopt (and an error) if it cannot be checked.
std::optional<ServerCheckSpec> resolveServerCheck(const config::GlobalConfig& global,
                                                  const config::ProxyConfig& backend,
                                                  const config::ServerConfig& server,
                                                  std::shared_ptr<const CheckPlan> plan,
                                                  core::Diagnostics& diag);

}  // namespace sluice::health
