// SPDX-License-Identifier: Apache-2.0
// The Prometheus exporter ("http-request use-service prometheus-exporter"):
// the text exposition format (version 0.0.4) with HAProxy's own metric names
// and labels (haproxy_frontend_current_sessions{proxy="..."},
// haproxy_server_status{proxy,server,state}, ...) for every metric that
// applies to TCP passthrough, so that existing dashboards work unchanged;
// sluice's own metrics (ClientHello results, routing misses, splice versus
// copy) under the sluice_ prefix.
#pragma once

#include <string>

#include "admin/stats.h"

namespace sluice::admin {

// `scopes`: HAProxy's "scope" query parameter values (global, frontend,
// backend, server, sluice); empty means all.
std::string renderPrometheus(const Snapshot& snap, const std::vector<std::string>& scopes = {});

}  // namespace sluice::admin
