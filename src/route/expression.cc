// SPDX-License-Identifier: Apache-2.0
// Sample fetches, converters and expressions; see expression.h. The fetch
// table below is the list of fetches sluice knows (docs/configuration.md).
#include "route/expression.h"

#include <algorithm>
#include <filesystem>

#include "core/strings.h"
#include "proto/fingerprint.h"
#include "proto/fix.h"
#include "proto/mqtt.h"
#include "proto/proxy_protocol.h"
#include "proto/rdp.h"

namespace sluice::route {

namespace {

// ---------------------------------------------------------------------------
// Fetches

// ClientHello fetches see a value only once the whole hello has been read.
// Before that, they say "not yet" so that rules wait for it.
bool helloReady(const SessionView& v, Sample& out) {
  if (!v.helloFinal && !v.final) {
    out.mayChange = true;
    return false;
  }
  return v.hello != nullptr;
}

bool httpText(const SessionView& v, size_t index, std::string_view text, Sample& out) {
  if (index > 0 || !v.http) return false;
  out.type = SampleType::Str;
  out.text = std::string(text);
  return true;
}

bool fetchPath(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  return v.http && httpText(v, index, v.http->path, out);
}

bool fetchUrl(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (!v.http) return false;
  std::string url(v.http->path);
  if (!v.http->query.empty()) url += "?" + std::string(v.http->query);
  return httpText(v, index, url, out);
}

bool fetchQuery(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  return v.http && httpText(v, index, v.http->query, out);
}

bool fetchMethod(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  return v.http && httpText(v, index, v.http->method, out);
}

// req.hdr(<name>): every value of the header, one per index.
bool fetchHeader(const SessionView& v, const std::vector<Arg>& args, size_t index, Sample& out) {
  if (!v.http) return false;
  size_t seen = 0;
  for (const auto& [name, value] : v.http->headers) {
    if (!args.empty() && !core::iequals(name, args[0].text)) continue;
    if (seen++ == index) {
      out.type = SampleType::Str;
      out.text = std::string(value);
      return true;
    }
  }
  return false;
}

bool fetchSni(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0 || !helloReady(v, out) || !v.hello->hasSni) return false;
  out.type = SampleType::Str;
  out.text = v.hello->sni;
  return true;
}

bool fetchHelloType(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0 || !helloReady(v, out) || v.hello->handshakeType == 0) return false;
  out.type = SampleType::Int;
  out.integer = v.hello->handshakeType;
  return true;
}

bool fetchSslVer(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0 || !helloReady(v, out)) return false;
  out.type = SampleType::Int;
  out.integer = (int64_t{v.hello->legacyVersion >> 8} << 16) | (v.hello->legacyVersion & 0xff);
  return true;
}

bool fetchAlpn(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (!helloReady(v, out) || index >= v.hello->alpn.size()) return false;
  out.type = SampleType::Str;
  out.text = v.hello->alpn[index];
  return true;
}

bool fetchEcExt(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0 || !helloReady(v, out) || v.hello->sslv2 || !v.hello->hasEcExtension) return false;
  out.type = SampleType::Bool;
  out.integer = 1;
  return true;
}

bool fetchStExt(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0 || !helloReady(v, out) || v.hello->sslv2) return false;
  out.type = SampleType::Int;
  out.integer = v.hello->sessionTicket;
  return true;
}

// HAProxy 3.2's list fetches: the lists as the client sent them, GREASE
// included, in wire form (2 bytes per entry); none when the extension is
// absent (the cipher list is always there).
bool helloList(const SessionView& v, size_t index, const std::string proto::ClientHelloInfo::*list,
               bool needsExtension, uint16_t extension, Sample& out) {
  if (index > 0 || !helloReady(v, out) || v.hello->sslv2) return false;
  const auto& exts = v.hello->extensions;
  if (needsExtension && std::find(exts.begin(), exts.end(), extension) == exts.end()) return false;
  out.type = SampleType::Bin;
  out.text = v.hello->*list;
  return true;
}

bool fetchCipherList(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  return helloList(v, index, &proto::ClientHelloInfo::cipherSuites, false, 0, out);
}
bool fetchSigAlgs(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  return helloList(v, index, &proto::ClientHelloInfo::signatureAlgorithms, true, 13, out);
}
bool fetchSupportedGroups(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  return helloList(v, index, &proto::ClientHelloInfo::supportedGroups, true, 10, out);
}
bool fetchKeyShareGroups(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  return helloList(v, index, &proto::ClientHelloInfo::keyShareGroups, true, 51, out);
}

// JA3 and JA4 fingerprints (sluice's own fetches; proto/fingerprint.h).
template <std::string (*Compute)(const proto::ClientHelloInfo&)>
bool fetchFingerprint(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0 || !helloReady(v, out) || v.hello->sslv2) return false;
  out.type = SampleType::Str;
  out.text = Compute(*v.hello);
  return true;
}
std::string ja4Hashed(const proto::ClientHelloInfo& h) { return proto::ja4(h, proto::Ja4Form::Hashed); }
std::string ja4Raw(const proto::ClientHelloInfo& h) { return proto::ja4(h, proto::Ja4Form::Raw); }
std::string ja4Original(const proto::ClientHelloInfo& h) { return proto::ja4(h, proto::Ja4Form::HashedOriginal); }
std::string ja4RawOriginal(const proto::ClientHelloInfo& h) { return proto::ja4(h, proto::Ja4Form::RawOriginal); }

// Encrypted Client Hello: whether the hello carries the extension, its
// type (0 outer, 1 inner) and an outer one's config_id.
bool fetchEch(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0 || !helloReady(v, out) || v.hello->sslv2) return false;
  out.type = SampleType::Bool;
  out.integer = v.hello->hasEch ? 1 : 0;
  return true;
}
bool fetchEchType(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0 || !helloReady(v, out) || !v.hello->hasEch || v.hello->echType > 1) return false;
  out.type = SampleType::Int;
  out.integer = v.hello->echType;
  return true;
}
bool fetchEchConfigId(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0 || !helloReady(v, out) || !v.hello->hasEch || v.hello->echConfigId < 0) return false;
  out.type = SampleType::Int;
  out.integer = v.hello->echConfigId;
  return true;
}

// The payload fetches read the client's bytes (req.*) or, in health checks
// and tcp-response rules, the server's (res.*).
bool payloadLen(std::span<const uint8_t> bytes, bool final, size_t index, Sample& out) {
  if (index > 0) return false;
  out.type = SampleType::Int;
  out.integer = static_cast<int64_t>(bytes.size());
  out.mayChange = !final;
  return true;
}

bool payloadSlice(std::span<const uint8_t> bytes, bool final, const std::vector<Arg>& a, size_t index,
                  Sample& out) {
  if (index > 0) return false;
  auto offset = static_cast<size_t>(a[0].integer);
  auto length = static_cast<size_t>(a[1].integer);
  if (length == 0) {
    if (offset > bytes.size()) {
      out.mayChange = !final;
      return false;
    }
    out.type = SampleType::Bin;
    out.text.assign(reinterpret_cast<const char*>(bytes.data()) + offset, bytes.size() - offset);
    out.mayChange = !final;
    return true;
  }
  if (offset + length > bytes.size()) {
    out.mayChange = !final;
    return false;
  }
  out.type = SampleType::Bin;
  out.text.assign(reinterpret_cast<const char*>(bytes.data()) + offset, length);
  return true;
}

bool payloadLv(std::span<const uint8_t> bytes, bool final, const std::vector<Arg>& a, size_t index,
               Sample& out) {
  if (index > 0) return false;
  auto lenOffset = static_cast<size_t>(a[0].integer);
  auto lenSize = static_cast<size_t>(a[1].integer);
  if (lenSize == 0 || lenSize > 4) return false;
  if (lenOffset + lenSize > bytes.size()) {
    out.mayChange = !final;
    return false;
  }
  size_t size = 0;
  for (size_t i = 0; i < lenSize; ++i) size = (size << 8) | bytes[lenOffset + i];
  size_t start = lenOffset + lenSize;
  if (a.size() > 2) {
    const std::string& o = a[2].text;
    auto n = core::parseInt(o);
    if (!n) return false;
    if (!o.empty() && (o[0] == '+' || o[0] == '-')) {
      if (*n < 0 && static_cast<size_t>(-*n) > start) return false;
      start = static_cast<size_t>(static_cast<int64_t>(start) + *n);
    } else {
      start = static_cast<size_t>(*n);
    }
  }
  if (size == 0 || start + size > proto::kMaxHelloWireBytes) return false;  // will never match
  if (start + size > bytes.size()) {
    out.mayChange = !final;
    return false;
  }
  out.type = SampleType::Bin;
  out.text.assign(reinterpret_cast<const char*>(bytes.data()) + start, size);
  return true;
}

bool fetchLen(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  return payloadLen(v.payload, v.final, index, out);
}
bool fetchPayload(const SessionView& v, const std::vector<Arg>& a, size_t index, Sample& out) {
  return payloadSlice(v.payload, v.final, a, index, out);
}
bool fetchPayloadLv(const SessionView& v, const std::vector<Arg>& a, size_t index, Sample& out) {
  return payloadLv(v.payload, v.final, a, index, out);
}
bool fetchResLen(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  return payloadLen(v.response, v.responseFinal, index, out);
}
bool fetchResPayload(const SessionView& v, const std::vector<Arg>& a, size_t index, Sample& out) {
  return payloadSlice(v.response, v.responseFinal, a, index, out);
}
bool fetchResPayloadLv(const SessionView& v, const std::vector<Arg>& a, size_t index, Sample& out) {
  return payloadLv(v.response, v.responseFinal, a, index, out);
}

bool fetchSrc(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0 || !v.src.valid()) return false;
  out = Sample::ofIp(v.src);
  return true;
}

bool fetchDst(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0 || !v.dst.valid()) return false;
  out = Sample::ofIp(v.dst);
  return true;
}

bool fetchSrcPort(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0 || !v.src.valid()) return false;
  out = Sample::ofInt(v.src.port());
  return true;
}

bool fetchDstPort(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0 || !v.dst.valid()) return false;
  out = Sample::ofInt(v.dst.port());
  return true;
}

bool fetchTrue(const SessionView&, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0) return false;
  out = Sample::ofBool(true);
  return true;
}

bool fetchFalse(const SessionView&, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0) return false;
  out = Sample::ofBool(false);
  return true;
}

bool fetchWaitEnd(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0) return false;
  if (!v.final) {
    out.mayChange = true;
    return false;
  }
  out = Sample::ofBool(true);
  return true;
}

bool fetchVar(const SessionView& v, const std::vector<Arg>& a, size_t index, Sample& out) {
  if (index > 0 || !v.vars) return false;
  const Sample* s = v.vars->get(a[0].text);
  if (!s) return false;
  out = *s;
  return true;
}

bool fetchInt(const SessionView&, const std::vector<Arg>& a, size_t index, Sample& out) {
  if (index > 0) return false;
  out = Sample::ofInt(a[0].integer);
  return true;
}

bool fetchStr(const SessionView&, const std::vector<Arg>& a, size_t index, Sample& out) {
  if (index > 0) return false;
  out = Sample::ofStr(a[0].text);
  return true;
}

// bytes_in / bytes_out (HAProxy 3.0) and req./res.bytes_in/out (3.3): the
// session's byte counts so far.
template <uint64_t SessionView::*Field>
bool fetchBytes(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0 || !v.counted) return false;
  out = Sample::ofInt(static_cast<int64_t>(v.*Field));
  return true;
}

// fc_pp_tlv(<type>), fc_pp_authority, fc_pp_unique_id: a TLV of the client's
// PROXY v2 header (the first of its type).
bool proxyTlv(const SessionView& v, uint8_t type, size_t index, Sample& out) {
  if (index > 0) return false;
  std::optional<std::string_view> value = proto::findTlv(v.proxyTlvs, type);
  if (!value) return false;
  out = Sample::ofStr(*value);
  return true;
}

// The type was resolved (from a number or a name) when the rule was read.
bool fetchProxyTlv(const SessionView& v, const std::vector<Arg>& a, size_t index, Sample& out) {
  return proxyTlv(v, static_cast<uint8_t>(a[0].integer), index, out);
}
bool fetchProxyAuthority(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  return proxyTlv(v, proto::kTlvAuthority, index, out);
}
bool fetchProxyUniqueId(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  return proxyTlv(v, proto::kTlvUniqueId, index, out);
}

// ipv4(<a>) / ipv6(<a>): a constant address (checked when the rule is read).
bool fetchIpConstant(const SessionView&, const std::vector<Arg>& a, size_t index, Sample& out) {
  if (index > 0) return false;
  std::optional<core::Address> ip = core::Address::parse(a[0].text.find(':') != std::string::npos
                                                             ? "[" + a[0].text + "]:0"
                                                             : a[0].text + ":0");
  if (!ip) return false;
  out = Sample::ofIp(*ip);
  return true;
}

bool fetchBool(const SessionView&, const std::vector<Arg>& a, size_t index, Sample& out) {
  if (index > 0) return false;
  out = Sample::ofBool(a[0].integer != 0);
  return true;
}

// Response-side fetches: in request rules they never have a value (sluice
// does not inspect server responses yet), so rules using them simply fail.
bool fetchResponseOnly(const SessionView&, const std::vector<Arg>&, size_t, Sample&) {
  return false;
}

bool fetchFeName(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0 || v.frontendName.empty()) return false;
  out = Sample::ofStr(v.frontendName);
  return true;
}

// req.rdp_cookie([<name>]) / req.rdp_cookie_cnt([<name>]): the cookie of
// an RDP Connection Request ("mstshash" and "msts" are the usual names).
bool rdpCookieOf(const SessionView& v, const std::vector<Arg>& a, Sample& out, std::optional<proto::RdpCookie>& c) {
  proto::Completeness done = proto::rdpCookie(v.payload, c);
  if (done == proto::Completeness::NeedMore && !v.final) {
    out.mayChange = true;
    return false;
  }
  if (c && !a.empty() && !a[0].text.empty() && !core::iequals(c->name, a[0].text)) c.reset();
  return true;
}

bool fetchRdpCookie(const SessionView& v, const std::vector<Arg>& a, size_t index, Sample& out) {
  std::optional<proto::RdpCookie> c;
  if (index > 0 || !rdpCookieOf(v, a, out, c) || !c) return false;
  out = Sample::ofStr(c->value);
  return true;
}

bool fetchRdpCookieCount(const SessionView& v, const std::vector<Arg>& a, size_t index, Sample& out) {
  std::optional<proto::RdpCookie> c;
  if (index > 0 || !rdpCookieOf(v, a, out, c)) return false;
  out.type = SampleType::Int;
  out.integer = c ? 1 : 0;
  return true;
}

// capture.req.hdr(<slot>): what a "capture" rule stored.
bool fetchCapture(const SessionView& v, const std::vector<Arg>& a, size_t index, Sample& out) {
  if (index > 0 || !v.captures || a.empty() || a[0].integer < 0) return false;
  auto slot = static_cast<size_t>(a[0].integer);
  if (slot >= v.captures->size()) return false;
  out = Sample::ofStr((*v.captures)[slot]);
  return true;
}

bool fetchBeName(const SessionView& v, const std::vector<Arg>&, size_t index, Sample& out) {
  if (index > 0 || v.backendName.empty()) return false;
  out = Sample::ofStr(v.backendName);
  return true;
}

// name, type, min args, max args, uses hello, uses payload, dotted versions, fn
const FetchDef kFetches[] = {
    {"req.ssl_sni", SampleType::Str, 0, 0, true, true, false, fetchSni},
    {"req_ssl_sni", SampleType::Str, 0, 0, true, true, false, fetchSni},
    {"req.ssl_hello_type", SampleType::Int, 0, 0, true, true, false, fetchHelloType},
    {"req_ssl_hello_type", SampleType::Int, 0, 0, true, true, false, fetchHelloType},
    {"req.ssl_ver", SampleType::Int, 0, 0, true, true, true, fetchSslVer},
    {"req_ssl_ver", SampleType::Int, 0, 0, true, true, true, fetchSslVer},
    {"req.ssl_alpn", SampleType::Str, 0, 0, true, true, false, fetchAlpn},
    {"req.ssl_ec_ext", SampleType::Bool, 0, 0, true, true, false, fetchEcExt},
    {"req.ssl_st_ext", SampleType::Int, 0, 0, true, true, false, fetchStExt},
    {"req.ssl_cipherlist", SampleType::Bin, 0, 0, true, true, false, fetchCipherList},
    {"req.ssl_sigalgs", SampleType::Bin, 0, 0, true, true, false, fetchSigAlgs},
    {"req.ssl_supported_groups", SampleType::Bin, 0, 0, true, true, false, fetchSupportedGroups},
    {"req.ssl_keyshare_groups", SampleType::Bin, 0, 0, true, true, false, fetchKeyShareGroups},
    {"req.ssl_ja3", SampleType::Str, 0, 0, true, true, false, fetchFingerprint<proto::ja3Hash>},
    {"req.ssl_ja3_r", SampleType::Str, 0, 0, true, true, false, fetchFingerprint<proto::ja3String>},
    {"req.ssl_ja4", SampleType::Str, 0, 0, true, true, false, fetchFingerprint<ja4Hashed>},
    {"req.ssl_ja4_r", SampleType::Str, 0, 0, true, true, false, fetchFingerprint<ja4Raw>},
    {"req.ssl_ja4_o", SampleType::Str, 0, 0, true, true, false, fetchFingerprint<ja4Original>},
    {"req.ssl_ja4_ro", SampleType::Str, 0, 0, true, true, false, fetchFingerprint<ja4RawOriginal>},
    {"req.ssl_ech", SampleType::Bool, 0, 0, true, true, false, fetchEch},
    {"req.ssl_ech_type", SampleType::Int, 0, 0, true, true, false, fetchEchType},
    {"req.ssl_ech_config_id", SampleType::Int, 0, 0, true, true, false, fetchEchConfigId},
    {"req.len", SampleType::Int, 0, 0, false, true, false, fetchLen},
    {"req_len", SampleType::Int, 0, 0, false, true, false, fetchLen},
    {"req.payload", SampleType::Bin, 2, 2, false, true, false, fetchPayload},
    {"payload", SampleType::Bin, 2, 2, false, true, false, fetchPayload},
    {"req.payload_lv", SampleType::Bin, 2, 3, false, true, false, fetchPayloadLv},
    {"payload_lv", SampleType::Bin, 2, 3, false, true, false, fetchPayloadLv},
    {"res.len", SampleType::Int, 0, 0, false, false, false, fetchResLen},
    {"res.payload", SampleType::Bin, 2, 2, false, false, false, fetchResPayload},
    {"res.payload_lv", SampleType::Bin, 2, 3, false, false, false, fetchResPayloadLv},
    {"src", SampleType::Ip, 0, 0, false, false, false, fetchSrc},
    {"dst", SampleType::Ip, 0, 0, false, false, false, fetchDst},
    {"src_port", SampleType::Int, 0, 0, false, false, false, fetchSrcPort},
    {"dst_port", SampleType::Int, 0, 0, false, false, false, fetchDstPort},
    {"always_true", SampleType::Bool, 0, 0, false, false, false, fetchTrue},
    {"always_false", SampleType::Bool, 0, 0, false, false, false, fetchFalse},
    {"wait_end", SampleType::Bool, 0, 0, false, true, false, fetchWaitEnd},
    {"var", SampleType::Str, 1, 1, false, false, false, fetchVar},
    {"int", SampleType::Int, 1, 1, false, false, false, fetchInt},
    {"str", SampleType::Str, 1, 1, false, false, false, fetchStr},
    {"bool", SampleType::Bool, 1, 1, false, false, false, fetchBool},
    {"ipv4", SampleType::Ip, 1, 1, false, false, false, fetchIpConstant},
    {"ipv6", SampleType::Ip, 1, 1, false, false, false, fetchIpConstant},
    {"fc_pp_tlv", SampleType::Str, 1, 1, false, false, false, fetchProxyTlv},
    {"fc_pp_authority", SampleType::Str, 0, 0, false, false, false, fetchProxyAuthority},
    {"fc_pp_unique_id", SampleType::Str, 0, 0, false, false, false, fetchProxyUniqueId},
    {"bytes_in", SampleType::Int, 0, 0, false, false, false, fetchBytes<&SessionView::fromClient>},
    {"bytes_out", SampleType::Int, 0, 0, false, false, false, fetchBytes<&SessionView::toClient>},
    {"req.bytes_in", SampleType::Int, 0, 0, false, false, false, fetchBytes<&SessionView::fromClient>},
    {"req.bytes_out", SampleType::Int, 0, 0, false, false, false, fetchBytes<&SessionView::toServer>},
    {"res.bytes_in", SampleType::Int, 0, 0, false, false, false, fetchBytes<&SessionView::fromServer>},
    {"res.bytes_out", SampleType::Int, 0, 0, false, false, false, fetchBytes<&SessionView::toClient>},
    {"res.ssl_hello_type", SampleType::Int, 0, 0, false, false, false, fetchResponseOnly},
    {"rep_ssl_hello_type", SampleType::Int, 0, 0, false, false, false, fetchResponseOnly},
    {"fe_name", SampleType::Str, 0, 0, false, false, false, fetchFeName},
    // HTTP: only a stats proxy (which sluice serves itself) has a request.
    {"path", SampleType::Str, 0, 0, false, false, false, fetchPath},
    {"url", SampleType::Str, 0, 0, false, false, false, fetchUrl},
    {"query", SampleType::Str, 0, 0, false, false, false, fetchQuery},
    {"method", SampleType::Str, 0, 0, false, false, false, fetchMethod},
    {"req.hdr", SampleType::Str, 0, 1, false, false, false, fetchHeader},
    {"hdr", SampleType::Str, 0, 1, false, false, false, fetchHeader},
    {"be_name", SampleType::Str, 0, 0, false, false, false, fetchBeName},
    {"capture.req.hdr", SampleType::Str, 1, 1, false, false, false, fetchCapture},
    {"req.rdp_cookie", SampleType::Str, 0, 1, false, true, false, fetchRdpCookie},
    {"rdp_cookie", SampleType::Str, 0, 1, false, true, false, fetchRdpCookie},
    {"req.rdp_cookie_cnt", SampleType::Int, 0, 1, false, true, false, fetchRdpCookieCount},
    {"rdp_cookie_cnt", SampleType::Int, 0, 1, false, true, false, fetchRdpCookieCount},
};

// ---------------------------------------------------------------------------
// Converters

bool convLower(const ConverterCall&, Sample& s) {
  for (char& c : s.text) c = core::asciiLower(c);
  return true;
}

bool convUpper(const ConverterCall&, Sample& s) {
  for (char& c : s.text) c = core::asciiUpper(c);
  return true;
}

bool convLength(const ConverterCall&, Sample& s) {
  s.integer = static_cast<int64_t>(s.text.size());
  s.type = SampleType::Int;
  return true;
}

bool convHex(const ConverterCall&, Sample& s) {
  s.type = SampleType::Bin;
  s.text = sampleToString(s);
  s.type = SampleType::Str;
  return true;
}

// be2hex([<separator>[,<chunk_size>[,<truncate>]]]): the bytes in upper-case
// hex, in chunks of chunk_size bytes (default 1) joined by the separator;
// with truncate, a last chunk shorter than the others is dropped.
bool convBe2Hex(const ConverterCall& c, Sample& s) {
  const std::string sep = !c.args.empty() ? c.args[0].text : std::string();
  const size_t chunk = c.args.size() > 1 && c.args[1].integer > 0 ? static_cast<size_t>(c.args[1].integer) : 1;
  const bool truncate = c.args.size() > 2 && c.args[2].integer != 0;
  size_t n = s.text.size();
  if (truncate) n -= n % chunk;
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && i % chunk == 0) out += sep;
    const auto b = static_cast<uint8_t>(s.text[i]);
    out += "0123456789ABCDEF"[b >> 4];
    out += "0123456789ABCDEF"[b & 0xf];
  }
  s.text = std::move(out);
  s.type = SampleType::Str;
  return true;
}

// hex2i: the hex digits of a string as an integer; any other character
// makes it 0 (HAProxy's manual: "if the input value cannot be converted,
// then zero is returned").
bool convHex2i(const ConverterCall&, Sample& s) {
  uint64_t v = 0;
  for (char c : s.text) {
    int d = core::hexDigit(c);
    if (d < 0) {
      v = 0;
      break;
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  s.integer = static_cast<int64_t>(v);
  s.type = SampleType::Int;
  return true;
}

bool convBytes(const ConverterCall& c, Sample& s) {
  auto offset = static_cast<size_t>(c.args[0].integer);
  if (offset > s.text.size()) return false;
  size_t length = s.text.size() - offset;
  if (c.args.size() > 1) {
    length = std::min(length, static_cast<size_t>(c.args[1].integer));
  }
  s.text = s.text.substr(offset, length);
  return true;
}

// field(<index>,<delimiters>[,<count>]): 1-based, negative counts from the end.
bool convField(const ConverterCall& c, Sample& s) {
  int64_t index = c.args[0].integer;
  const std::string& delims = c.args[1].text;
  int64_t count = c.args.size() > 2 ? c.args[2].integer : 1;
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= s.text.size(); ++i) {
    if (i == s.text.size() || delims.find(s.text[i]) != std::string::npos) {
      parts.emplace_back(std::string_view(s.text).substr(start, i - start));
      start = i + 1;
    }
  }
  int64_t n = static_cast<int64_t>(parts.size());
  int64_t first = index > 0 ? index - 1 : n + index;
  if (first < 0 || first >= n) {
    s.text.clear();
    return true;
  }
  int64_t last = count <= 0 ? n - 1 : std::min(n - 1, first + count - 1);
  std::string out;
  for (int64_t i = first; i <= last; ++i) {
    if (i > first) out.push_back(delims[0]);
    out += parts[static_cast<size_t>(i)];
  }
  s.text = out;
  return true;
}

// ltrim(<chars>) / rtrim(<chars>): strips any of <chars> from one end.
bool convLtrim(const ConverterCall& c, Sample& s) {
  size_t first = s.text.find_first_not_of(c.args[0].text);
  s.text.erase(0, first == std::string::npos ? s.text.size() : first);
  return true;
}

bool convRtrim(const ConverterCall& c, Sample& s) {
  size_t last = s.text.find_last_not_of(c.args[0].text);
  s.text.erase(last == std::string::npos ? 0 : last + 1);
  return true;
}

// cut_crlf: the text up to its first CR or LF.
bool convCutCrlf(const ConverterCall&, Sample& s) {
  size_t eol = s.text.find_first_of("\r\n");
  if (eol != std::string::npos) s.text.erase(eol);
  return true;
}

std::span<const uint8_t> sampleBytes(const Sample& s) {
  return {reinterpret_cast<const uint8_t*>(s.text.data()), s.text.size()};
}

// A protocol check on a buffer that may still grow: "need more" waits while
// the input may change, and is a plain "no" once it cannot.
bool completenessToBool(proto::Completeness c, Sample& s) {
  if (c == proto::Completeness::NeedMore && s.mayChange) return false;
  s.mayChange = false;  // a whole message (or a wrong one) is judged for good
  s.type = SampleType::Bool;
  s.integer = c == proto::Completeness::Valid;
  return true;
}

bool convFixIsValid(const ConverterCall&, Sample& s) {
  return completenessToBool(proto::fixValidate(sampleBytes(s)), s);
}

bool convFixTagValue(const ConverterCall& c, Sample& s) {
  bool needMore = false;
  auto v = proto::fixTagValue(sampleBytes(s), c.args[0].text, needMore);
  if (!v) {
    s.mayChange = s.mayChange && needMore;
    return false;
  }
  s.type = SampleType::Str;
  s.text = *v;
  s.mayChange = false;
  return true;
}

bool convMqttIsValid(const ConverterCall&, Sample& s) {
  return completenessToBool(proto::mqttValidate(sampleBytes(s)), s);
}

bool convMqttFieldValue(const ConverterCall& c, Sample& s) {
  bool needMore = false;
  auto type = proto::mqttPacketType(c.args[0].text);
  auto v = type ? proto::mqttFieldValue(sampleBytes(s), *type, c.args[1].text, needMore) : std::nullopt;
  if (!v) {
    s.mayChange = s.mayChange && needMore;
    return false;
  }
  s.type = SampleType::Str;
  s.text = *v;
  s.mayChange = false;
  return true;
}

bool convMap(const ConverterCall& c, Sample& s) {
  std::shared_ptr<const PatternIndex> index = c.map->get();  // holds `e` alive
  const PatternEntry* e = index->lookup(s);
  std::string value;
  if (e) {
    value = e->value;
  } else if (c.hasDefault) {
    value = c.defaultValue;
  } else {
    return false;
  }
  Sample out = Sample::ofStr(value);
  if (!castSample(out, c.mapOutput)) return false;
  out.mayChange = s.mayChange;
  s = std::move(out);
  return true;
}

}  // namespace


namespace {

const ConverterDef kConverters[] = {
    {"lower", SampleType::Str, SampleType::Str, 0, 0, convLower},
    {"upper", SampleType::Str, SampleType::Str, 0, 0, convUpper},
    {"length", SampleType::Str, SampleType::Int, 0, 0, convLength},
    {"len", SampleType::Str, SampleType::Int, 0, 0, convLength},
    {"hex", SampleType::Bin, SampleType::Str, 0, 0, convHex},
    {"hex2i", SampleType::Str, SampleType::Int, 0, 0, convHex2i},
    {"be2hex", SampleType::Bin, SampleType::Str, 0, 3, convBe2Hex},
    {"bytes", SampleType::Bin, SampleType::Bin, 1, 2, convBytes},
    {"field", SampleType::Str, SampleType::Str, 2, 3, convField},
    {"ltrim", SampleType::Str, SampleType::Str, 1, 1, convLtrim},
    {"rtrim", SampleType::Str, SampleType::Str, 1, 1, convRtrim},
    {"cut_crlf", SampleType::Str, SampleType::Str, 0, 0, convCutCrlf},
    {"fix_is_valid", SampleType::Bin, SampleType::Bool, 0, 0, convFixIsValid, nullptr, 0, true},
    {"fix_tag_value", SampleType::Bin, SampleType::Str, 1, 1, convFixTagValue, nullptr, 0, true},
    {"mqtt_is_valid", SampleType::Bin, SampleType::Bool, 0, 0, convMqttIsValid, nullptr, 0, true},
    {"mqtt_field_value", SampleType::Bin, SampleType::Str, 2, 2, convMqttFieldValue, nullptr, 0, true},
};

// One entry stands for every map_* converter; the call carries the details.
const ConverterDef kMapConverter = {"map", SampleType::Str, SampleType::Str, 1, 2, convMap};

const ConverterDef* findConverter(std::string_view name) {
  for (const ConverterDef& c : kConverters) {
    if (c.name == name) return &c;
  }
  for (const ConverterDef& c : stickConverters()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// Splits at top-level commas (outside parentheses and quotes).
std::vector<std::string> splitTopLevel(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote) {
      cur.push_back(c);
      if (c == '\\' && i + 1 < text.size()) {
        cur.push_back(text[++i]);
      } else if (c == quote) {
        quote = 0;
      }
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      --depth;
    } else if (c == ',' && depth == 0) {
      out.push_back(cur);
      cur.clear();
      continue;
    }
    cur.push_back(c);
  }
  out.push_back(cur);
  return out;
}

bool parseArgs(const std::vector<std::string>& raw, int minArgs, int maxArgs,
               const std::string& what, std::vector<Arg>& out, std::string& error) {
  if (static_cast<int>(raw.size()) < minArgs || static_cast<int>(raw.size()) > maxArgs) {
    error = "'" + what + "' expects " +
            (minArgs == maxArgs ? std::to_string(minArgs)
                                : std::to_string(minArgs) + " to " + std::to_string(maxArgs)) +
            " argument" + (maxArgs == 1 ? "" : "s") + ", got " + std::to_string(raw.size());
    return false;
  }
  for (const std::string& r : raw) {
    Arg a;
    a.text = r;
    if (auto n = core::parseInt(r)) {
      a.integer = *n;
      a.isInt = true;
    }
    out.push_back(a);
  }
  return true;
}

}  // namespace

bool splitCall(std::string_view text, std::string& name, std::vector<std::string>& args,
               std::string& error) {
  args.clear();
  size_t open = text.find('(');
  if (open == std::string_view::npos) {
    name = std::string(text);
    return true;
  }
  name = std::string(text.substr(0, open));
  if (text.back() != ')') {
    error = "missing ')' at the end of '" + std::string(text) + "'";
    return false;
  }
  std::string_view inner = text.substr(open + 1, text.size() - open - 2);
  if (inner.empty()) {
    return true;
  }
  // Second-level quoting (manual §2.2): quotes group, backslash escapes.
  std::string cur;
  char quote = 0;
  int depth = 0;
  for (size_t i = 0; i < inner.size(); ++i) {
    char c = inner[i];
    if (c == '\\' && i + 1 < inner.size()) {
      cur.push_back(inner[++i]);
      continue;
    }
    if (quote) {
      if (c == quote) {
        quote = 0;
      } else {
        cur.push_back(c);
      }
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
      continue;
    }
    if (c == '(') ++depth;
    if (c == ')') {
      if (depth == 0) {
        error = "unexpected ')' in '" + std::string(text) + "'";
        return false;
      }
      --depth;
    }
    if (c == ',' && depth == 0) {
      args.push_back(cur);
      cur.clear();
      continue;
    }
    cur.push_back(c);
  }
  if (quote) {
    error = "unterminated quote in '" + std::string(text) + "'";
    return false;
  }
  args.push_back(cur);
  return true;
}

const FetchDef* findFetch(std::string_view name) {
  for (const FetchDef& f : kFetches) {
    if (f.name == name) return &f;
  }
  for (const FetchDef& f : stickFetches()) {
    if (f.name == name) return &f;
  }
  for (const FetchDef& f : stateFetches()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::vector<std::string_view> fetchNames() {
  std::vector<std::string_view> out;
  for (const FetchDef& f : kFetches) out.push_back(f.name);
  for (const FetchDef& f : stickFetches()) out.push_back(f.name);
  for (const FetchDef& f : stateFetches()) out.push_back(f.name);
  return out;
}

std::string MapRegistry::checkProxyArg(char kind, const std::string& arg) const {
  if (!checkProxies_) return {};
  if (kind == 'F') return frontends_.count(arg) ? std::string() : "no frontend is named '" + arg + "'";
  if (kind == 'B') return backends_.count(arg) ? std::string() : "no backend is named '" + arg + "'";
  const auto [backend, server] = serverRef(arg, currentProxy_);
  auto it = backends_.find(std::string(backend));
  if (it == backends_.end()) {
    return arg.find('/') == std::string::npos ? "'" + currentProxy_ + "' has no servers: write <backend>/<server>"
                                              : "no backend is named '" + std::string(backend) + "'";
  }
  for (const auto& s : it->second) {
    if (s == server) return {};
  }
  return "backend '" + std::string(backend) + "' has no server named '" + std::string(server) + "'";
}

std::string MapRegistry::resolve(const std::string& path) const {
  if (path.empty() || path[0] == '/' || basePath_.empty()) {
    return path;
  }
  return basePath_ + "/" + path;
}

std::shared_ptr<const LiveIndex> MapRegistry::map(const std::string& path, MatchMethod method,
                                                  bool ignoreCase, std::string& error,
                                                  const std::string& usedBy) {
  return patternFile(path, method, ignoreCase, false, true, error, usedBy);
}

std::shared_ptr<const LiveIndex> MapRegistry::patternFile(const std::string& path, MatchMethod method,
                                                          bool ignoreCase, bool dottedVersions,
                                                          bool asMap, std::string& error,
                                                          const std::string& usedBy) {
  std::string full = resolve(path);
  std::string key = (asMap ? "map:" : "acl:") + full;
  auto it = byFile_.find(key);
  std::shared_ptr<PatternRef> ref;
  if (it != byFile_.end()) {
    ref = it->second;
  } else {
    if (!fileAccess_) {
      error = "file access is disabled";
      return nullptr;
    }
    std::vector<std::pair<std::string, std::string>> entries;
    if (asMap) {
      if (!readMapFile(full, entries, error)) return nullptr;
    } else {
      std::vector<std::string> patterns;
      if (!readPatternFile(full, patterns, error)) return nullptr;
      for (auto& p : patterns) entries.emplace_back(std::move(p), std::string());
    }
    ref = std::make_shared<PatternRef>(static_cast<uint32_t>(refs_.size()), full, asMap,
                                       std::string(asMap ? "map" : "pattern") + " loaded from file '" +
                                           full + "'");
    ref->load(entries);
    files_.push_back(full);
    byFile_[key] = ref;
    refs_.push_back(ref);
  }
  if (!usedBy.empty()) ref->addUsage("used by " + usedBy);
  auto live = ref->attach(method, ignoreCase, dottedVersions, error);
  if (!live) error = std::string("in ") + (asMap ? "map" : "pattern") + " file '" + full + "': " + error;
  return live;
}

std::shared_ptr<const LiveIndex> MapRegistry::inlinePatterns(const std::vector<std::string>& patterns,
                                                             MatchMethod method, bool ignoreCase,
                                                             bool dottedVersions,
                                                             const std::string& description,
                                                             std::string& error) {
  auto ref = std::make_shared<PatternRef>(static_cast<uint32_t>(refs_.size()), std::string(), false,
                                          description);
  std::vector<std::pair<std::string, std::string>> entries;
  for (const std::string& p : patterns) entries.emplace_back(p, std::string());
  ref->load(entries);
  auto live = ref->attach(method, ignoreCase, dottedVersions, error);
  if (!live) return nullptr;
  refs_.push_back(ref);
  return live;
}

std::shared_ptr<PatternRef> MapRegistry::findRef(const std::string& nameOrId, bool maps) const {
  if (nameOrId.size() > 1 && nameOrId[0] == '#') {
    auto n = core::parseInt(nameOrId.substr(1));
    if (n && *n >= 0 && static_cast<size_t>(*n) < refs_.size()) {
      const auto& r = refs_[static_cast<size_t>(*n)];
      if (r->isMap() == maps) return r;
    }
    return nullptr;
  }
  for (const auto& r : refs_) {
    if (r->isMap() == maps && !r->name().empty() && (r->name() == nameOrId || r->name() == resolve(nameOrId))) {
      return r;
    }
  }
  return nullptr;
}

std::unique_ptr<SampleExpr> SampleExpr::parse(std::string_view text, MapRegistry& maps,
                                              std::string& error) {
  auto expr = std::make_unique<SampleExpr>();
  expr->text_ = std::string(text);
  std::vector<std::string> parts = splitTopLevel(text);
  std::string name;
  std::vector<std::string> rawArgs;
  if (parts.empty() || parts[0].empty()) {
    error = "empty sample expression";
    return nullptr;
  }
  if (!splitCall(parts[0], name, rawArgs, error)) {
    return nullptr;
  }
  expr->fetch_ = findFetch(name);
  if (!expr->fetch_) {
    std::string guess = core::closestMatch(name, fetchNames());
    error = "unknown fetch method '" + name + "'" +
            (guess.empty() ? std::string() : "; did you mean '" + guess + "'?");
    return nullptr;
  }
  if (!parseArgs(rawArgs, expr->fetch_->minArgs, expr->fetch_->maxArgs, name, expr->fetchArgs_,
                 error)) {
    return nullptr;
  }
  const FetchDef& def = *expr->fetch_;
  if (def.counterArg >= 0 && static_cast<size_t>(def.counterArg) < expr->fetchArgs_.size()) {
    const Arg& a = expr->fetchArgs_[static_cast<size_t>(def.counterArg)];
    // HAProxy accepts any number here (one above 2 never has a value).
    if (!a.isInt || a.integer < 0) {
      error = "'" + name + "' expects a tracked counter number 0, 1 or 2, got '" + a.text + "'";
      return nullptr;
    }
  }
  if (def.tableArg >= 0 && static_cast<size_t>(def.tableArg) < expr->fetchArgs_.size()) {
    const std::string& t = expr->fetchArgs_[static_cast<size_t>(def.tableArg)].text;
    if (!maps.knowsTable(t)) {
      error = "'" + name + "' names the table '" + t + "', but no proxy declares a stick-table by that name";
      return nullptr;
    }
  }
  if (def.proxyArg && !expr->fetchArgs_.empty()) {
    std::string wrong = maps.checkProxyArg(def.proxyArg, expr->fetchArgs_[0].text);
    if (!wrong.empty()) {
      error = "'" + name + "': " + wrong;
      return nullptr;
    }
  }
  if (def.ownTable && expr->fetchArgs_.size() <= static_cast<size_t>(def.tableArg) && !maps.hasOwnTable()) {
    error = "'" + name + "' reads this proxy's stick-table, but it declares none";
    return nullptr;
  }
  if (name == "fc_pp_tlv") {
    std::optional<uint8_t> type = proto::tlvTypeByName(expr->fetchArgs_[0].text);
    if (!type) {
      error = "'fc_pp_tlv' expects a TLV type from 0 to 255 or one of ALPN, AUTHORITY, CRC32C, NOOP, UNIQUE_ID, SSL, "
              "SSL_VERSION, SSL_CN, SSL_CIPHER, SSL_SIG_ALG, SSL_KEY_ALG, NETNS; got '" + expr->fetchArgs_[0].text + "'";
      return nullptr;
    }
    expr->fetchArgs_[0].integer = *type;
  }
  if (name == "ipv4" || name == "ipv6") {
    const std::string& text = expr->fetchArgs_[0].text;
    std::optional<core::Address> ip = core::Address::parse(name == "ipv6" ? "[" + text + "]:0" : text + ":0");
    if (!ip || (name == "ipv4") != ip->isV4() || text.find('/') != std::string::npos) {
      error = "'" + name + "' expects an " + (name == "ipv4" ? "IPv4" : "IPv6") + " address, got '" + text + "'";
      return nullptr;
    }
  }
  bool intArgs = name == "int" || name == "bool" || name.find("payload") != std::string::npos ||
                 name == "capture.req.hdr";
  for (size_t i = 0; intArgs && i < expr->fetchArgs_.size() && i < 2; ++i) {
    if (!expr->fetchArgs_[i].isInt || expr->fetchArgs_[i].integer < 0) {
      error = "'" + name + "' expects non-negative integer arguments, got '" +
              expr->fetchArgs_[i].text + "'";
      return nullptr;
    }
  }
  SampleType type = expr->fetch_->type;
  for (size_t i = 1; i < parts.size(); ++i) {
    std::string cname;
    std::vector<std::string> cargs;
    if (!splitCall(parts[i], cname, cargs, error)) {
      return nullptr;
    }
    ConverterCall call;
    if (core::startsWith(cname, "map")) {
      // map, map_<match>, map_<match>_<output>
      std::string rest = cname == "map" ? "str" : cname.substr(cname.find('_') + 1);
      std::string matchName = rest.substr(0, rest.find('_'));
      std::string outName = rest.find('_') == std::string::npos ? "str" : rest.substr(rest.find('_') + 1);
      MatchMethod method;
      if (cname != "map" && cname.rfind("map_", 0) != 0) {
        error = "unknown converter '" + cname + "'";
        return nullptr;
      }
      if (matchName == "regm" || !parseMatchMethod(matchName, method) ||
          method == MatchMethod::Found || method == MatchMethod::Bool ||
          method == MatchMethod::Len || method == MatchMethod::Bin) {
        error = "unknown or unsupported map converter '" + cname + "'";
        return nullptr;
      }
      if (outName == "str") {
        call.mapOutput = SampleType::Str;
      } else if (outName == "int") {
        call.mapOutput = SampleType::Int;
      } else if (outName == "ip") {
        call.mapOutput = SampleType::Ip;
      } else {
        error = "unknown output type '" + outName + "' in converter '" + cname + "'";
        return nullptr;
      }
      if (cargs.empty() || cargs.size() > 2) {
        error = "'" + cname + "' expects (<map file>[,<default value>])";
        return nullptr;
      }
      call.def = &kMapConverter;
      call.map = maps.map(cargs[0], method, /*ignoreCase=*/false, error);
      if (!call.map) {
        return nullptr;
      }
      if (cargs.size() == 2) {
        call.hasDefault = true;
        call.defaultValue = cargs[1];
      }
      call.mapInput = inputTypeOf(method);
      expr->converters_.push_back(std::move(call));
      type = expr->converters_.back().mapOutput;
      continue;
    }
    call.def = findConverter(cname);
    if (!call.def) {
      std::vector<std::string_view> names;
      for (const ConverterDef& c : kConverters) names.push_back(c.name);
      for (const ConverterDef& c : stickConverters()) names.push_back(c.name);
      names.push_back("map");
      std::string guess = core::closestMatch(cname, names);
      error = "unknown converter '" + cname + "'" +
              (guess.empty() ? std::string() : "; did you mean '" + guess + "'?");
      return nullptr;
    }
    if (!parseArgs(cargs, call.def->minArgs, call.def->maxArgs, cname, call.args, error)) {
      return nullptr;
    }
    if (cname == "fix_tag_value" && !proto::fixTagNumber(call.args[0].text)) {
      error = "fix_tag_value: '" + call.args[0].text +
              "' is neither a tag number nor BeginString, BodyLength, MsgType, SenderCompID, TargetCompID, "
              "CheckSum, MsgSeqNum or SendingTime";
      return nullptr;
    }
    if (cname == "mqtt_field_value" && !proto::mqttPacketType(call.args[0].text)) {
      error = "mqtt_field_value: packet type '" + call.args[0].text +
              "' is not supported (only the first packets can be read: connect or 1, connack or 2)";
      return nullptr;
    }
    if ((cname == "bytes" || cname == "field") && !call.args[0].isInt) {
      error = "'" + cname + "' expects an integer first argument";
      return nullptr;
    }
    if (call.def->withView && !call.args.empty() && !maps.knowsTable(call.args[0].text)) {
      error = "'" + cname + "' names the table '" + call.args[0].text +
              "', but no proxy declares a stick-table by that name";
      return nullptr;
    }
    type = call.def->output;
    expr->converters_.push_back(std::move(call));
  }
  expr->outputType_ = type;
  return expr;
}

bool SampleExpr::evaluate(const SessionView& view, size_t index, Sample& out) const {
  out = Sample{};
  bool got = fetch_->tagged ? fetch_->tagged(fetch_->tag, view, fetchArgs_, index, out)
                            : fetch_->fn(view, fetchArgs_, index, out);
  if (!got) {
    return false;
  }
  // "May change" travels with the sample: converters keep the fetch's, but
  // one that judges a whole message (fix_is_valid...) may settle it.
  for (const ConverterCall& c : converters_) {
    SampleType input = c.def == &kMapConverter ? c.mapInput : c.def->input;
    const bool mayChange = out.mayChange;
    bool ok = castSample(out, input) && (c.def->withView ? c.def->withView(c, view, out) : c.def->fn(c, out));
    if (!c.def->settles) out.mayChange = mayChange;
    if (!ok) return false;
  }
  return true;
}

bool SampleExpr::usesHello() const { return fetch_->usesHello; }
bool SampleExpr::usesPayload() const { return fetch_->usesPayload; }

}  // namespace sluice::route
