// SPDX-License-Identifier: Apache-2.0
// The stick counter fetches, HAProxy's families sc0_*, sc1_*, sc2_*, sc_*
// (tracked counters), src_* (the entry of the client's address) and
// table_cnt / table_avl; and the table_* converters, which look a sample up
// in a named table. One function serves them all; each name carries a
// tag saying which counter it reads or changes and where the entry is found.
#include <string>
#include <vector>

#include "route/expression.h"
#include "stick/table.h"

namespace sluice::route {

namespace {

using stick::DataType;

enum class Where : uint8_t { Sc0, Sc1, Sc2, ScN, Src, TableCnt, TableAvl, SrcUpdtConnCnt };

enum class Op : uint8_t { Read, KBytes, Inc, Clear, Tracked, Trackers };

uint16_t makeTag(Where w, Op op, DataType t) {
  return static_cast<uint16_t>((static_cast<unsigned>(w) << 10) | (static_cast<unsigned>(op) << 6) |
                               static_cast<unsigned>(t));
}
Where whereOf(uint16_t tag) { return static_cast<Where>(tag >> 10); }
Op opOf(uint16_t tag) { return static_cast<Op>((tag >> 6) & 0xf); }
DataType typeOf(uint16_t tag) { return static_cast<DataType>(tag & 0x3f); }

struct Family {
  std::string_view suffix;
  Op op;
  DataType type;
  bool trackedOnly;  // sc* only
  SampleType result;
};

constexpr Family kFamilies[] = {
    {"conn_cnt", Op::Read, DataType::ConnCnt, false, SampleType::Int},
    {"conn_cur", Op::Read, DataType::ConnCur, false, SampleType::Int},
    {"conn_rate", Op::Read, DataType::ConnRate, false, SampleType::Int},
    {"sess_cnt", Op::Read, DataType::SessCnt, false, SampleType::Int},
    {"sess_rate", Op::Read, DataType::SessRate, false, SampleType::Int},
    {"bytes_in_rate", Op::Read, DataType::BytesInRate, false, SampleType::Int},
    {"bytes_out_rate", Op::Read, DataType::BytesOutRate, false, SampleType::Int},
    {"kbytes_in", Op::KBytes, DataType::BytesInCnt, false, SampleType::Int},
    {"kbytes_out", Op::KBytes, DataType::BytesOutCnt, false, SampleType::Int},
    {"http_req_cnt", Op::Read, DataType::HttpReqCnt, false, SampleType::Int},
    {"http_req_rate", Op::Read, DataType::HttpReqRate, false, SampleType::Int},
    {"http_err_cnt", Op::Read, DataType::HttpErrCnt, false, SampleType::Int},
    {"http_err_rate", Op::Read, DataType::HttpErrRate, false, SampleType::Int},
    {"http_fail_cnt", Op::Read, DataType::HttpFailCnt, false, SampleType::Int},
    {"http_fail_rate", Op::Read, DataType::HttpFailRate, false, SampleType::Int},
    {"glitch_cnt", Op::Read, DataType::GlitchCnt, false, SampleType::Int},
    {"glitch_rate", Op::Read, DataType::GlitchRate, false, SampleType::Int},
    {"get_gpc0", Op::Read, DataType::Gpc0, false, SampleType::Int},
    {"get_gpc1", Op::Read, DataType::Gpc1, false, SampleType::Int},
    {"get_gpt0", Op::Read, DataType::Gpt0, false, SampleType::Int},
    {"gpc0_rate", Op::Read, DataType::Gpc0Rate, false, SampleType::Int},
    {"gpc1_rate", Op::Read, DataType::Gpc1Rate, false, SampleType::Int},
    {"inc_gpc0", Op::Inc, DataType::Gpc0, false, SampleType::Int},
    {"inc_gpc1", Op::Inc, DataType::Gpc1, false, SampleType::Int},
    {"clr_gpc0", Op::Clear, DataType::Gpc0, false, SampleType::Int},
    {"clr_gpc1", Op::Clear, DataType::Gpc1, false, SampleType::Int},
    {"tracked", Op::Tracked, DataType::ConnCnt, true, SampleType::Bool},
    {"trackers", Op::Trackers, DataType::ConnCnt, true, SampleType::Int},
};

// Applies an operation to an entry, under the table's lock.
bool apply(stick::Table& table, stick::Entry& e, Op op, DataType type, uint64_t now, Sample& out) {
  switch (op) {
    case Op::Read: {
      auto v = table.readLocked(e, type, now);
      if (!v) return false;
      out = Sample::ofInt(*v);
      return true;
    }
    case Op::KBytes: {
      auto v = table.readLocked(e, type, now);
      if (!v) return false;
      out = Sample::ofInt(*v >> 10);
      return true;
    }
    case Op::Inc: {
      auto v = table.incrementGpcLocked(e, type, now);
      if (!v) return false;
      out = Sample::ofInt(*v);
      return true;
    }
    case Op::Clear: {
      auto v = table.readLocked(e, type, now);
      if (!v) return false;
      table.setLocked(e, type, 0, now);
      out = Sample::ofInt(*v);
      return true;
    }
    case Op::Tracked:
    case Op::Trackers:
      out = Sample::ofInt(e.refs);
      return true;
  }
  return false;
}

stick::Table* tableNamed(const SessionView& v, const std::vector<Arg>& args, size_t at) {
  if (at < args.size()) return v.tables ? v.tables->find(args[at].text) : nullptr;
  return v.stickTable;
}

bool fetchStick(uint16_t tag, const SessionView& v, const std::vector<Arg>& args, size_t index,
                Sample& out) {
  if (index > 0) return false;
  Where where = whereOf(tag);
  Op op = opOf(tag);
  DataType type = typeOf(tag);
  uint64_t now = stick::monotonicMs();

  if (where == Where::TableCnt || where == Where::TableAvl) {
    stick::Table* t = tableNamed(v, args, 0);
    if (!t) return false;
    auto used = static_cast<int64_t>(t->used(now));
    out = Sample::ofInt(where == Where::TableCnt ? used : static_cast<int64_t>(t->size()) - used);
    return true;
  }

  if (where == Where::Src || where == Where::SrcUpdtConnCnt) {
    stick::Table* t = tableNamed(v, args, 0);
    if (!t) return false;
    auto key = t->keyFromAddress(v.src);
    if (!key) return false;
    bool create = op == Op::Inc || where == Where::SrcUpdtConnCnt;
    bool ok = true;
    bool found = t->update(*key, now, create, [&](stick::Entry& e) {
      if (where == Where::SrcUpdtConnCnt) {
        t->addLocked(e, DataType::ConnRate, 1, now);
        t->addLocked(e, DataType::ConnCnt, 1, now);
        auto c = t->readLocked(e, DataType::ConnCnt, now);
        ok = c.has_value();
        if (ok) out = Sample::ofInt(*c);
        return;
      }
      ok = apply(*t, e, op, type, now, out);
    });
    if (!found) {
      // An address the table does not know reads as zero.
      if (create) return false;
      if (!t->spec().stores(type)) return false;
      out = Sample::ofInt(0);
      return true;
    }
    return ok;
  }

  // Tracked counters.
  size_t ctr = 0;
  size_t tableAt = 0;
  if (where == Where::ScN) {
    ctr = static_cast<size_t>(args.empty() || args[0].integer < 0 ? stick::kTrackers : args[0].integer);
    tableAt = 1;
  } else {
    ctr = static_cast<size_t>(where);  // Sc0, Sc1, Sc2
  }
  const stick::Tracked* tr = v.tracking && ctr < stick::kTrackers ? &v.tracking->sc[ctr] : nullptr;
  if (!tr || !tr->entry) {
    if (op == Op::Tracked) {
      out = Sample::ofBool(false);
      return true;
    }
    return false;
  }
  if (op == Op::Tracked) {
    out = Sample::ofBool(true);
    return true;
  }
  stick::Table* t = tr->table;
  stick::Entry* entry = tr->entry;
  if (tableAt < args.size()) {
    // Another table: the tracked key looked up there.
    stick::Table* other = v.tables ? v.tables->find(args[tableAt].text) : nullptr;
    if (!other) return false;
    if (other != t) {
      std::string key = *entry->key;
      bool ok = false;
      bool found = other->update(key, now, op == Op::Inc, [&](stick::Entry& e) {
        ok = apply(*other, e, op, type, now, out);
      });
      if (!found) {
        if (op == Op::Inc || !other->spec().stores(type)) return false;
        out = Sample::ofInt(0);
        return true;
      }
      return ok;
    }
  }
  bool ok = false;
  t->withEntry(entry, [&](stick::Entry& e) { ok = apply(*t, e, op, type, now, out); });
  return ok;
}

// table_<data>(<table>): the input's entry in a named table, read without
// keeping or refreshing it. Tags: the data type, or one of these.
constexpr uint16_t kConvTrackers = 100, kConvExpire = 101, kConvIdle = 102, kConvKbytesIn = 103,
                   kConvKbytesOut = 104;

bool convertTable(const ConverterCall& c, const SessionView& v, Sample& out) {
  stick::Table* t = v.tables && !c.args.empty() ? v.tables->find(c.args[0].text) : nullptr;
  if (!t) return false;
  // The input's text form, read as the table's key type (binary tables
  // take the bytes as they are).
  auto key = t->spec().keyType == stick::KeyType::Binary ? t->keyFromBytes(out.text) : t->keyFromText(out.text);
  if (!key) return false;
  uint16_t tag = c.def->tag;
  uint64_t now = stick::monotonicMs();
  bool ok = false;
  Sample result;
  bool found = t->update(*key, now, false, [&](stick::Entry& e) {
    if (tag == kConvTrackers) {
      result = Sample::ofInt(e.refs);
      ok = true;
    } else if (tag == kConvExpire || tag == kConvIdle) {
      uint32_t expire = t->spec().expireMs;
      if (!expire || !e.expireAt) return;  // never expires: no value (the default applies)
      uint64_t left = e.expireAt > now ? e.expireAt - now : 0;
      result = Sample::ofInt(static_cast<int64_t>(tag == kConvExpire ? left : expire - std::min<uint64_t>(left, expire)));
      ok = true;
    } else if (tag == kConvKbytesIn || tag == kConvKbytesOut) {
      auto n = t->readLocked(e, tag == kConvKbytesIn ? DataType::BytesInCnt : DataType::BytesOutCnt, now);
      if (n) result = Sample::ofInt(*n >> 10);
      ok = n.has_value();
    } else {
      auto n = t->readLocked(e, static_cast<DataType>(tag), now);
      if (n) result = Sample::ofInt(*n);
      ok = n.has_value();
    }
  });
  if (!found) {
    if (tag == kConvExpire || tag == kConvIdle) {
      ok = false;
    } else {
      result = Sample::ofInt(0);  // an unknown key reads as zero
      ok = true;
    }
  }
  if (!ok && (tag == kConvExpire || tag == kConvIdle) && c.args.size() > 1) {
    result = Sample::ofInt(c.args[1].isInt ? c.args[1].integer : 0);
    ok = true;
  }
  if (!ok) return false;
  out = result;
  return true;
}

}  // namespace

const std::vector<ConverterDef>& stickConverters() {
  static const std::vector<ConverterDef> defs = [] {
    static std::vector<std::string> names;
    std::vector<std::pair<size_t, uint16_t>> pending;
    auto add = [&](std::string name, uint16_t tag) {
      names.push_back("table_" + name);
      pending.emplace_back(names.size() - 1, tag);
    };
    for (size_t i = 0; i < stick::kDataTypes; ++i) {
      auto t = static_cast<DataType>(i);
      if (t == DataType::BytesInCnt || t == DataType::BytesOutCnt) continue;  // kbytes_in/out instead
      std::string n(stick::dataTypeName(t));
      add(n, static_cast<uint16_t>(i));
    }
    add("kbytes_in", kConvKbytesIn);
    add("kbytes_out", kConvKbytesOut);
    add("trackers", kConvTrackers);
    add("expire", kConvExpire);
    add("idle", kConvIdle);
    std::vector<ConverterDef> out;
    for (const auto& [name, tag] : pending) {
      bool defaulted = tag == kConvExpire || tag == kConvIdle;
      ConverterDef d{names[name], SampleType::Str, SampleType::Int, 1, defaulted ? 2 : 1, nullptr};
      d.withView = convertTable;
      d.tag = tag;
      out.push_back(d);
    }
    return out;
  }();
  return defs;
}

const std::vector<FetchDef>& stickFetches() {
  static const std::vector<FetchDef> defs = [] {
    // Names first, so that the string_views below point at storage that no
    // longer moves.
    static std::vector<std::string> names;
    struct Pending {
      size_t name;
      SampleType type;
      int minArgs, maxArgs;
      uint16_t tag;
      int tableArg, counterArg;
    };
    std::vector<Pending> pending;
    auto add = [&](std::string name, SampleType type, int minArgs, int maxArgs, uint16_t tag,
                   int tableArg, int counterArg) {
      names.push_back(std::move(name));
      pending.push_back({names.size() - 1, type, minArgs, maxArgs, tag, tableArg, counterArg});
    };
    for (const Family& f : kFamilies) {
      const Where scs[] = {Where::Sc0, Where::Sc1, Where::Sc2};
      for (int n = 0; n < 3; ++n) {
        add("sc" + std::to_string(n) + "_" + std::string(f.suffix), f.result, 0, 1,
            makeTag(scs[n], f.op, f.type), 0, -1);
      }
      add("sc_" + std::string(f.suffix), f.result, 1, 2, makeTag(Where::ScN, f.op, f.type), 1, 0);
      if (!f.trackedOnly) {
        add("src_" + std::string(f.suffix), f.result, 0, 1, makeTag(Where::Src, f.op, f.type), 0, -1);
      }
    }
    add("src_updt_conn_cnt", SampleType::Int, 0, 1, makeTag(Where::SrcUpdtConnCnt, Op::Read, DataType::ConnCnt), 0, -1);
    add("table_cnt", SampleType::Int, 0, 1, makeTag(Where::TableCnt, Op::Read, DataType::ConnCnt), 0, -1);
    add("table_avl", SampleType::Int, 0, 1, makeTag(Where::TableAvl, Op::Read, DataType::ConnCnt), 0, -1);
    std::vector<FetchDef> out;
    out.reserve(pending.size());
    for (const Pending& p : pending) {
      FetchDef d{names[p.name], p.type, p.minArgs, p.maxArgs, false, false, false, nullptr};
      d.tagged = fetchStick;
      d.tag = p.tag;
      d.tableArg = p.tableArg;
      d.counterArg = p.counterArg;
      Where w = whereOf(p.tag);
      d.ownTable = w == Where::Src || w == Where::SrcUpdtConnCnt || w == Where::TableCnt || w == Where::TableAvl;
      out.push_back(d);
    }
    return out;
  }();
  return defs;
}

}  // namespace sluice::route
