#include "dnsbl/dns_answer.h"

#include <algorithm>

#include "common/text.h"

namespace backstop::dnsbl {
namespace {

constexpr std::size_t kHeaderBytes = 12;
constexpr std::uint16_t kTypeCname = 5;

unexpected<Error> malformed(const char* what) { return fail(Code::kMalformed, what); }

std::uint16_t u16(std::span<const std::uint8_t> p, std::size_t at) {
  return static_cast<std::uint16_t>((p[at] << 8) | p[at + 1]);
}
std::uint32_t u32(std::span<const std::uint8_t> p, std::size_t at) {
  return (std::uint32_t{p[at]} << 24) | (std::uint32_t{p[at + 1]} << 16) |
         (std::uint32_t{p[at + 2]} << 8) | std::uint32_t{p[at + 3]};
}

bool equal_names(std::string_view a, std::string_view b) {
  if (!a.empty() && a.back() == '.') a.remove_suffix(1);
  if (!b.empty() && b.back() == '.') b.remove_suffix(1);
  return text::iequals(a, b);
}

struct Rr {
  std::string name;
  std::uint16_t type = 0;
  std::uint16_t klass = 0;
  std::uint32_t ttl = 0;
  std::size_t rdata = 0;  // offset
  std::uint16_t rdlen = 0;
};

Result<Rr> read_rr(std::span<const std::uint8_t> p, std::size_t* offset) {
  Rr rr;
  auto name = read_dns_name(p, offset);
  if (!name) return unexpected<Error>(std::move(name).error());
  rr.name = std::move(*name);
  if (p.size() - *offset < 10) return malformed("DNS record header cut short");
  rr.type = u16(p, *offset);
  rr.klass = u16(p, *offset + 2);
  rr.ttl = u32(p, *offset + 4);
  rr.rdlen = u16(p, *offset + 8);
  *offset += 10;
  if (p.size() - *offset < rr.rdlen) return malformed("DNS record data cut short");
  rr.rdata = *offset;
  *offset += rr.rdlen;
  // RFC 2181 §8: a TTL with the top bit set is treated as zero.
  if (rr.ttl > 0x7fffffffu) rr.ttl = 0;
  return rr;
}

}  // namespace

Result<std::string> read_dns_name(std::span<const std::uint8_t> p, std::size_t* offset) {
  std::string out;
  std::size_t at = *offset;
  std::size_t hops = 0;
  std::size_t wire = 0;
  bool jumped = false;
  for (;;) {
    if (at >= p.size()) return malformed("DNS name runs past the packet");
    const std::uint8_t len = p[at];
    if ((len & 0xc0) == 0xc0) {
      if (at + 1 >= p.size()) return malformed("DNS compression pointer cut short");
      if (++hops > kMaxPointerHops) return malformed("too many DNS compression pointers");
      const std::size_t target = static_cast<std::size_t>(((len & 0x3f) << 8) | p[at + 1]);
      if (!jumped) *offset = at + 2;
      jumped = true;
      at = target;
      continue;
    }
    if ((len & 0xc0) != 0) return malformed("DNS label with reserved type bits");
    wire += 1u + len;
    if (wire > kMaxWireNameBytes) return malformed("DNS name longer than 255 octets");
    if (len == 0) {
      if (!jumped) *offset = at + 1;
      return out;
    }
    if (p.size() - at - 1 < len) return malformed("DNS label runs past the packet");
    if (!out.empty()) out += '.';
    for (std::size_t i = 0; i < len; ++i) {
      auto c = static_cast<unsigned char>(p[at + 1 + i]);
      if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c - 'A' + 'a');
      const bool plain = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      if (plain) {
        out += static_cast<char>(c);
      } else {
        out += '\\';
        out += static_cast<char>('0' + c / 100);
        out += static_cast<char>('0' + (c / 10) % 10);
        out += static_cast<char>('0' + c % 10);
      }
    }
    at += 1u + len;
  }
}

Result<DnsAnswer> parse_dns_answer(std::span<const std::uint8_t> p, std::string_view qname,
                                   std::uint16_t qtype) {
  if (p.size() > kMaxDnsPacketBytes) return fail(Code::kMalformed, "DNS packet too large");
  if (p.size() < kHeaderBytes) return malformed("DNS packet shorter than a header");
  DnsAnswer out;
  out.id = u16(p, 0);
  const std::uint8_t flags1 = p[2];
  const std::uint8_t flags2 = p[3];
  if ((flags1 & 0x80) == 0) return fail(Code::kProtocol, "DNS packet is a query, not a response");
  if (((flags1 >> 3) & 0x0f) != 0) return fail(Code::kProtocol, "DNS response with a non-QUERY opcode");
  out.truncated = (flags1 & 0x02) != 0;
  out.rcode = flags2 & 0x0f;
  const std::size_t qd = u16(p, 4), an = u16(p, 6), ns = u16(p, 8);
  if (qd != 1) return fail(Code::kProtocol, "DNS response without exactly one question");

  std::size_t at = kHeaderBytes;
  auto q = read_dns_name(p, &at);
  if (!q) return unexpected<Error>(std::move(q).error());
  if (p.size() - at < 4) return malformed("DNS question cut short");
  if (!equal_names(*q, qname) || u16(p, at) != qtype || u16(p, at + 2) != kClassIn) {
    return fail(Code::kProtocol, "DNS response to a different question");
  }
  at += 4;

  // Answer section: records owned by the query name or by a CNAME target of it.
  std::string owner(qname);
  if (!owner.empty() && owner.back() == '.') owner.pop_back();
  std::size_t seen = 0;
  for (std::size_t i = 0; i < an; ++i) {
    if (++seen > kMaxRecordsPerSection) return malformed("too many DNS answer records");
    auto rr = read_rr(p, &at);
    if (!rr) return unexpected<Error>(std::move(rr).error());
    if (rr->klass != kClassIn || !equal_names(rr->name, owner)) continue;
    if (rr->type == kTypeCname) {
      std::size_t target_at = rr->rdata;
      auto target = read_dns_name(p, &target_at);
      if (!target) return unexpected<Error>(std::move(target).error());
      owner = std::move(*target);
      continue;
    }
    if (rr->type != qtype) continue;
    if (rr->type == kTypeA) {
      if (rr->rdlen != 4) return malformed("DNS A record with a length other than 4");
      out.a.push_back({p[rr->rdata], p[rr->rdata + 1], p[rr->rdata + 2], p[rr->rdata + 3]});
    } else if (rr->type == kTypeTxt) {
      if (rr->rdlen == 0) return malformed("empty DNS TXT record");
      std::string text;
      std::size_t t = rr->rdata;
      const std::size_t end = rr->rdata + rr->rdlen;
      while (t < end) {
        const std::size_t len = p[t];
        if (end - t - 1 < len) return malformed("DNS TXT string runs past its record");
        const std::size_t keep = std::min(len, kMaxTxtKeptBytes - std::min(kMaxTxtKeptBytes, text.size()));
        text.append(reinterpret_cast<const char*>(p.data() + t + 1), keep);
        t += 1 + len;
      }
      out.txt.push_back(std::move(text));
    } else if (rr->type == kTypeMx) {
      if (rr->rdlen < 3) return malformed("DNS MX record too short");
      std::size_t x = rr->rdata + 2;
      auto exchange = read_dns_name(p, &x);
      if (!exchange) return unexpected<Error>(std::move(exchange).error());
      if (x != rr->rdata + rr->rdlen) return malformed("DNS MX record of the wrong length");
      out.mx.push_back(MxRecord{u16(p, rr->rdata), std::move(*exchange)});
    } else {
      continue;
    }
    out.answer_ttl = out.answer_ttl ? std::min(*out.answer_ttl, rr->ttl) : rr->ttl;
  }

  // Authority section: an SOA gives the negative-caching TTL.
  seen = 0;
  for (std::size_t i = 0; i < ns; ++i) {
    if (++seen > kMaxRecordsPerSection) return malformed("too many DNS authority records");
    auto rr = read_rr(p, &at);
    if (!rr) return unexpected<Error>(std::move(rr).error());
    if (rr->type != kTypeSoa || rr->klass != kClassIn) continue;
    std::size_t s = rr->rdata;
    auto mname = read_dns_name(p, &s);
    if (!mname) return unexpected<Error>(std::move(mname).error());
    auto rname = read_dns_name(p, &s);
    if (!rname) return unexpected<Error>(std::move(rname).error());
    if (s + 20 != rr->rdata + rr->rdlen) return malformed("DNS SOA record of the wrong length");
    const std::uint32_t minimum = u32(p, s + 16);
    out.negative_ttl = std::min(rr->ttl, minimum);
  }
  // The additional section is not needed and not read.
  return out;
}

}  // namespace backstop::dnsbl
