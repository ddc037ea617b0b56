// The DNS transport behind the DNSBL client, as an interface so unit tests
// are hermetic (a fake answers from memory) and production uses c-ares
// (cares_resolver.h).
//
// Contract: query() returns at once; the handler runs exactly once, later, on
// the resolver's event loop (never inside query()), with the raw response
// bytes or a transport error. The resolver does not interpret the response
// (RCODE, TC, answers): the client does, with parse_dns_answer. A resolver
// must outlive its pending queries; destroying it drops their handlers.
// Thread-safety: one event-loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/expected.h"
#include "dnsbl/zone.h"

namespace backstop::dnsbl {

struct ResolveError {
  LookupError kind = LookupError::kOther;  // kTimeout, kRefused, kMalformed, kOther
  std::string detail;
};

using ResolveReply = expected<std::vector<std::uint8_t>, ResolveError>;
using ResolveHandler = std::function<void(ResolveReply)>;

class Resolver {
 public:
  virtual ~Resolver() = default;
  // Sends one query (class IN, recursion desired) for `name` and `qtype`
  // (kTypeA, kTypeTxt, or kTypeMx for `backstop audit smtp --mx`).
  virtual void query(const std::string& name, std::uint16_t qtype, ResolveHandler handler) = 0;
};

}  // namespace backstop::dnsbl
