// SPDX-License-Identifier: Apache-2.0
// stick-table lines: type, size, expire, peers, and the data types stored.
#include "config/parser_impl.h"
#include "core/strings.h"

namespace sluice::config::detail {

std::string parseTableSpec(const std::vector<std::string>& w, stick::TableSpec& out) {
  bool haveType = false, haveSize = false;
  for (size_t i = 0; i < w.size(); ++i) {
    const std::string& k = w[i];
    auto value = [&]() -> const std::string* { return i + 1 < w.size() ? &w[++i] : nullptr; };
    if (k == "type") {
      const std::string* t = value();
      if (!t) return "'type' needs ip, ipv4, ipv6, integer, string or binary";
      if (*t == "ip" || *t == "ipv4")  // HAProxy 3.2 names IPv4 tables "ipv4" ("ip" stays its alias)
        out.keyType = stick::KeyType::Ip;
      else if (*t == "ipv6")
        out.keyType = stick::KeyType::Ipv6;
      else if (*t == "integer")
        out.keyType = stick::KeyType::Integer;
      else if (*t == "string")
        out.keyType = stick::KeyType::String;
      else if (*t == "binary")
        out.keyType = stick::KeyType::Binary;
      else
        return "unknown table type '" + *t + "' (use ip, ipv4, ipv6, integer, string or binary)";
      haveType = true;
      if ((*t == "string" || *t == "binary") && i + 1 < w.size() && w[i + 1] == "len") {
        ++i;
        const std::string* n = value();
        uint64_t len = 0;
        if (!n || !parseSize(*n, len) || len == 0 || len > 65535) {
          return "'len' needs a length between 1 and 65535";
        }
        out.keyLength = static_cast<uint32_t>(len);
      }
    } else if (k == "size") {
      const std::string* n = value();
      if (!n || !parseSize(*n, out.size) || out.size == 0) {
        return "'size' needs a number of entries, e.g. 100k";
      }
      haveSize = true;
    } else if (k == "expire") {
      const std::string* d = value();
      if (!d || !parseDuration(*d, out.expireMs)) return "'expire' needs a duration, e.g. 30s";
    } else if (k == "nopurge") {
      out.noPurge = true;
    } else if (k == "peers") {
      const std::string* section = value();
      if (!section) return "'peers' needs the name of a peers section";
      out.peers = *section;
    } else if (k == "srvkey" || k == "write-to") {
      // Server keys by address and writes to another table: not kept.
      if (!value()) return "'" + k + "' needs an argument";
    } else if (k == "store") {
      const std::string* list = value();
      if (!list) return "'store' needs data types, e.g. conn_cur,conn_rate(10s)";
      std::vector<std::string> items;
      size_t depth = 0, start = 0;
      for (size_t j = 0; j <= list->size(); ++j) {
        char c = j < list->size() ? (*list)[j] : ',';
        if (c == '(') ++depth;
        if (c == ')' && depth) --depth;
        if (c == ',' && depth == 0) {
          items.push_back(list->substr(start, j - start));
          start = j + 1;
        }
      }
      for (const std::string& item : items) {
        std::string name = item.substr(0, item.find('('));
        auto t = stick::dataTypeByName(name);
        if (!t) {
          if (name == "gpc" || name == "gpc_rate" || name == "gpt") {
            return "data type '" + name +
                   "' (arrays) is not supported; use gpc0, gpc1, gpc0_rate, "
                   "gpc1_rate or gpt0";
          }
          return "unknown data type '" + item + "'";
        }
        size_t ti = static_cast<size_t>(*t);
        out.stored[ti] = true;
        bool hasArg = item.find('(') != std::string::npos;
        if (stick::isRate(*t)) {
          if (!hasArg || item.back() != ')') return "'" + name + "' needs a period, e.g. " + name + "(10s)";
          std::string arg = item.substr(name.size() + 1, item.size() - name.size() - 2);
          if (!parseDuration(arg, out.period[ti]) || out.period[ti] == 0) {
            return "bad period '" + arg + "' for '" + name + "'";
          }
        } else if (hasArg) {
          return "'" + name + "' takes no argument";
        }
      }
    } else {
      return "unknown argument '" + k + "'";
    }
  }
  if (!haveType) return "'type' is missing";
  if (!haveSize) return "'size' is missing";
  return {};
}

void Parser::proxyStickTable(const ConfigLine& l) {
  ProxyConfig& p = current_;
  if (!needArgs(l, 2, "type <type> size <size> ...")) return;
  if (p.stickTable) {
    error(l, "only one 'stick-table' per section",
          "the first was declared at " + p.stickTableWhere.file + ":" + std::to_string(p.stickTableWhere.line));
    return;
  }
  stick::TableSpec spec;
  spec.name = p.name;
  std::string why = parseTableSpec(std::vector<std::string>(l.words.begin() + 1, l.words.end()), spec);
  if (!why.empty()) {
    error(l, "in 'stick-table': " + why,
          "e.g. 'stick-table type ip size 100k expire 30s store conn_cur,conn_rate(10s)'");
    return;
  }
  p.stickTable = spec;
  p.stickTableWhere = l.where;
}

}  // namespace sluice::config::detail
