// Test-only: builds DNS queries and responses byte by byte, so the parser,
// the client and the hostile responder tests can craft good and bad packets.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace backstop::dnsbl::testing {

inline void put16(std::vector<std::uint8_t>& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v & 0xff));
}
inline void put32(std::vector<std::uint8_t>& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v & 0xffff));
}
inline void put_name(std::vector<std::uint8_t>& b, std::string_view name) {
  while (!name.empty()) {
    auto dot = name.find('.');
    auto label = name.substr(0, dot);
    b.push_back(static_cast<std::uint8_t>(label.size()));
    b.insert(b.end(), label.begin(), label.end());
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  b.push_back(0);
}

struct Rr {
  std::uint16_t type = 1;
  std::uint32_t ttl = 300;
  std::vector<std::uint8_t> rdata;
  bool compressed_owner = true;  // owner = pointer to the question name
};

inline Rr a_rr(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, std::uint32_t ttl = 300) {
  return Rr{1, ttl, {a, b, c, d}, true};
}
inline Rr txt_rr(std::string_view text, std::uint32_t ttl = 300) {
  Rr r{16, ttl, {}, true};
  r.rdata.push_back(static_cast<std::uint8_t>(text.size()));
  r.rdata.insert(r.rdata.end(), text.begin(), text.end());
  return r;
}

// An MX record whose exchange is written uncompressed.
inline Rr mx_rr(std::uint16_t preference, std::string_view exchange, std::uint32_t ttl = 300) {
  Rr r{15, ttl, {}, true};
  put16(r.rdata, preference);
  put_name(r.rdata, exchange);
  return r;
}

struct Response {
  std::uint16_t id = 0x1234;
  std::string qname;
  std::uint16_t qtype = 1;
  int rcode = 0;
  bool tc = false;
  std::vector<Rr> answers;
  bool soa = false;            // add an SOA in the authority section
  std::uint32_t soa_ttl = 600;
  std::uint32_t soa_minimum = 120;
};

inline std::vector<std::uint8_t> build(const Response& r) {
  std::vector<std::uint8_t> b;
  put16(b, r.id);
  b.push_back(static_cast<std::uint8_t>(0x80 | 0x04 | (r.tc ? 0x02 : 0) | 0x01));  // QR AA [TC] RD
  b.push_back(static_cast<std::uint8_t>(0x80 | (r.rcode & 0x0f)));                // RA rcode
  put16(b, 1);
  put16(b, static_cast<std::uint16_t>(r.answers.size()));
  put16(b, r.soa ? 1 : 0);
  put16(b, 0);
  put_name(b, r.qname);
  put16(b, r.qtype);
  put16(b, 1);
  for (const auto& rr : r.answers) {
    if (rr.compressed_owner) {
      b.push_back(0xc0);
      b.push_back(12);
    } else {
      put_name(b, r.qname);
    }
    put16(b, rr.type);
    put16(b, 1);
    put32(b, rr.ttl);
    put16(b, static_cast<std::uint16_t>(rr.rdata.size()));
    b.insert(b.end(), rr.rdata.begin(), rr.rdata.end());
  }
  if (r.soa) {
    std::vector<std::uint8_t> rd;
    put_name(rd, "ns.bl.test");
    put_name(rd, "hostmaster.bl.test");
    put32(rd, 1);
    put32(rd, 600);
    put32(rd, 120);
    put32(rd, 604800);
    put32(rd, r.soa_minimum);
    put_name(b, "bl.test");
    put16(b, 6);
    put16(b, 1);
    put32(b, r.soa_ttl);
    put16(b, static_cast<std::uint16_t>(rd.size()));
    b.insert(b.end(), rd.begin(), rd.end());
  }
  return b;
}

// Reads id, qname and qtype from a query packet; false if it does not parse.
inline bool parse_query(const std::uint8_t* p, std::size_t n, std::uint16_t* id, std::string* qname,
                        std::uint16_t* qtype) {
  if (n < 17) return false;
  *id = static_cast<std::uint16_t>((p[0] << 8) | p[1]);
  std::size_t at = 12;
  qname->clear();
  while (at < n && p[at] != 0) {
    std::size_t len = p[at];
    if ((len & 0xc0) != 0 || at + 1 + len >= n) return false;
    if (!qname->empty()) *qname += '.';
    for (std::size_t i = 0; i < len; ++i) {
      char c = static_cast<char>(p[at + 1 + i]);
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      *qname += c;
    }
    at += 1 + len;
  }
  if (at + 5 > n) return false;
  *qtype = static_cast<std::uint16_t>((p[at + 1] << 8) | p[at + 2]);
  return true;
}

}  // namespace backstop::dnsbl::testing
