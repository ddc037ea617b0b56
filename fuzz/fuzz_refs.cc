// Reference extraction (classify/refs.h) from a message parsed from arbitrary
// bytes. Invariants:
//  - In-Reply-To and References keep at most kMaxIds ids each; every id (and
//    the original's Message-ID) is non-empty, trimmed, and no longer than one
//    header field value (Limits::max_field_bytes);
//  - the original's Received chain keeps at most kMaxHops hops: IPs that are
//    valid literals, non-empty host names;
//  - addresses of the original's To are non-empty;
//  - extraction is pure (twice gives the same), and references_json is valid JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "classify/refs.h"
#include "classify/verdict_json.h"
#include "common/text.h"
#include "json_valid.h"
#include "mail/message.h"
#include "mail/received.h"

namespace {

using namespace backstop;

void check_id(std::string_view id, std::size_t max) {
  if (id.empty() || id.size() > max || text::trim(id).size() != id.size()) std::abort();
}

void check_ids(const std::vector<std::string>& ids, std::size_t max) {
  if (ids.size() > classify::kMaxIds) std::abort();
  for (const auto& id : ids) check_id(id, max);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  mail::Limits limits;
  limits.max_parts = 64;  // small limits so the fuzzer reaches them
  limits.max_mime_depth = 8;
  limits.max_body_text = 16 * 1024;
  limits.max_embedded = 4;
  auto m = mail::parse_message(in, limits);
  if (!m) return 0;
  const classify::References r = classify::extract_references(*m);

  check_ids(r.in_reply_to, limits.max_field_bytes);
  check_ids(r.references, limits.max_field_bytes);
  if (!r.message_id.empty()) check_id(r.message_id, limits.max_field_bytes);
  if (r.original_received_ips.size() > classify::kMaxHops || r.original_received_hosts.size() > classify::kMaxHops ||
      r.original_hops.size() > classify::kMaxHops) {
    std::abort();
  }
  for (const auto& ip : r.original_received_ips) {
    if (!mail::is_ip_literal(ip)) std::abort();
  }
  for (const auto& h : r.original_received_hosts) {
    if (h.empty()) std::abort();
  }
  for (const auto& a : r.to) {
    if (a.empty()) std::abort();
  }
  const std::string json = classify::references_json(r);
  if (!backstop::fuzz::valid_json(json)) std::abort();
  if (classify::references_json(classify::extract_references(*m)) != json) std::abort();
  return 0;
}
