// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: ACL conditions and sample expressions. The input's first
// line is a condition ("if ..."), the second an expression; both are compiled
// (file access disabled) and, when valid, evaluated against a fixed hello.
#include <cstdint>
#include <sstream>
#include <string>

#include "route/acl.h"
#include "route/expression.h"
#include "route/format.h"
#include "stick/table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::string condLine = text.substr(0, text.find('\n'));
  std::string exprLine = text.find('\n') == std::string::npos ? "" : text.substr(text.find('\n') + 1);

  sluice::route::MapRegistry maps;
  maps.setFileAccess(false);
  // One stick table "t" (the proxy's own), tracked as sc0, so that the
  // stick counter fetches are parsed and evaluated too.
  static std::shared_ptr<sluice::stick::Table> table = [] {
    sluice::stick::TableSpec spec;
    spec.name = "t";
    spec.size = 64;
    spec.expireMs = 1000;
    for (size_t i = 0; i < sluice::stick::kDataTypes; ++i) {
      spec.stored[i] = true;
      spec.period[i] = 1000;
    }
    return std::make_shared<sluice::stick::Table>(spec);
  }();
  sluice::stick::TableSet tables;
  tables.add(table);
  maps.setTableNames({"t"});
  maps.setOwnTable(true);
  sluice::stick::Tracking tracking;
  sluice::stick::Entry* entry = table->acquire("\xc0\x00\x02\x01", sluice::stick::monotonicMs());
  tracking.sc[0] = {table.get(), entry, true};
  sluice::route::AclScope scope(maps);
  sluice::proto::ClientHelloInfo info;
  info.hasSni = true;
  info.sni = "www.example.com";
  info.alpn = {"h2", "http/1.1"};
  info.handshakeType = 1;
  info.legacyVersion = 0x0303;
  sluice::route::Variables vars;
  std::vector<uint8_t> payload(data, data + std::min<size_t>(size, 64));
  sluice::route::SessionView view;
  view.src = *sluice::core::Address::parse("192.0.2.1:1234");
  view.dst = *sluice::core::Address::parse("198.51.100.2:443");
  view.hello = &info;
  view.payload = payload;
  view.vars = &vars;
  view.tables = &tables;
  view.stickTable = table.get();
  view.tracking = &tracking;

  std::vector<std::string> words;
  std::istringstream in(condLine);
  std::string w;
  while (in >> w) words.push_back(w);
  std::string error;
  if (auto cond = scope.compileCondition(words, error)) {
    (void)cond->evaluate(view);
    view.final = false;
    view.helloFinal = false;
    (void)cond->evaluate(view);
    view.final = true;
    view.helloFinal = true;
  }
  if (auto expr = sluice::route::SampleExpr::parse(exprLine, maps, error)) {
    sluice::route::Sample s;
    for (size_t i = 0; i < 3; ++i) (void)expr->evaluate(view, i, s);
  }
  if (auto fmt = sluice::route::FormatString::parse(exprLine, maps, true, error)) {
    (void)fmt->renderSamples(view);
  }
  if (entry) table->release(entry, sluice::stick::monotonicMs());
  return 0;
}
