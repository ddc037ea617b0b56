// Fuzzes the DNSBL client's handling of untrusted DNS responses: the bounded
// answer parser, name decompression, code interpretation, TXT sanitising and
// the SMTP reply built from it. Invariants checked: no crash, bounded output,
// no CR/LF in anything that reaches an SMTP reply or a zone file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "dnsbl/dns_answer.h"
#include "dnsbl/txt.h"
#include "dnsbl/zone.h"

namespace {

void check_line(const std::string& s, std::size_t max) {
  if (s.size() > max) std::abort();
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace backstop::dnsbl;
  std::span<const std::uint8_t> packet(data, size);
  for (std::uint16_t qtype : {kTypeA, kTypeTxt, kTypeMx}) {
    auto answer = parse_dns_answer(packet, "2.0.0.127.bl.test", qtype);
    if (!answer) continue;
    if (answer->mx.size() > kMaxRecordsPerSection) std::abort();
    for (const auto& mx : answer->mx) {
      if (mx.exchange.size() > 4 * kMaxWireNameBytes) std::abort();
    }
    ZoneConfig zone;
    zone.name = "bl.test";
    if (size > 0 && (data[0] & 1)) zone.codes = {{"127.0.0.2", "backscatter"}};
    ZoneResult r;
    r.zone = zone.name;
    interpret_codes(zone, answer->a, &r);
    for (const auto& t : answer->txt) {
      if (t.size() > kMaxTxtKeptBytes) std::abort();
      r.txt = sanitize_txt(t, kMaxTxtBytes);
      check_line(r.txt, kMaxTxtBytes);
      check_line(escape_rbldnsd_txt(t), 2 * kMaxTxtBytes);
    }
    CheckResult c;
    c.ip = "192.0.2.1";
    c.zones = {r};
    auto d = decide(c);
    check_line(d.reply(), 512);
    check_line(d.header_value, kMaxHeaderValueBytes);
  }
  std::size_t at = size > 12 ? 12 : 0;
  auto name = read_dns_name(packet, &at);
  if (name && name->size() > 4 * kMaxWireNameBytes) std::abort();
  check_line(sanitize_txt(std::string(reinterpret_cast<const char*>(data), size), 64), 64);
  return 0;
}
