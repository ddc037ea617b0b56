#include "dnsbl/client.h"

#include <asio/post.hpp>

#include <algorithm>

#include "dnsbl/dns_answer.h"
#include "common/ip.h"
#include "dnsbl/query_name.h"
#include "dnsbl/txt.h"

namespace backstop::dnsbl {

struct Client::Check {
  std::string qname_prefix_ip;  // canonical IP
  std::vector<std::string> qnames;
  CheckResult result;
  std::size_t remaining = 0;
  CheckHandler handler;
};

Result<std::unique_ptr<Client>> Client::create(asio::any_io_executor executor, Resolver& resolver,
                                               const Clock& clock, ClientOptions options) {
  for (const auto& z : options.zones) BACKSTOP_TRY(validate_zone(z.name));
  return std::unique_ptr<Client>(new Client(std::move(executor), resolver, clock, std::move(options)));
}

Client::Client(asio::any_io_executor executor, Resolver& resolver, const Clock& clock,
               ClientOptions options)
    : executor_(std::move(executor)),
      resolver_(resolver),
      options_(std::move(options)),
      cache_(clock, options_.cache_entries) {}

Client::~Client() { *alive_ = false; }

void Client::check(std::string_view ip, std::string_view mail_from, CheckHandler handler) {
  ++stats_.checks;
  if (!should_query(options_.safe_mode, mail_from)) {
    ++stats_.skipped;
    CheckResult r;
    auto parsed = ip::parse(ip);
    r.ip = parsed ? ip::to_string(*parsed) : std::string(ip);
    asio::post(executor_, [h = std::move(handler), r = std::move(r)]() mutable { h(std::move(r)); });
    return;
  }
  lookup(ip, std::move(handler));
}

void Client::lookup(std::string_view ip, CheckHandler handler) {
  auto c = std::make_shared<Check>();
  c->handler = std::move(handler);
  c->result.queried = !options_.zones.empty();
  auto parsed = ip::parse(ip);
  c->result.ip = parsed ? ip::to_string(*parsed) : sanitize_txt(ip, ip::kMaxIpText);
  for (const auto& z : options_.zones) {
    ZoneResult zr;
    zr.zone = z.name;
    zr.action = z.action;
    zr.score = z.score;
    zr.message = z.message;
    c->result.zones.push_back(std::move(zr));
    std::string qname;
    if (parsed) {
      auto q = query_name(*parsed, z.name);
      if (q) qname = std::move(*q);
    }
    c->qnames.push_back(std::move(qname));
  }
  c->remaining = options_.zones.size() + 1;  // +1 released below, after all starts
  for (std::size_t i = 0; i < options_.zones.size(); ++i) {
    if (c->qnames[i].empty()) {
      ZoneResult r = c->result.zones[i];
      r.status = LookupStatus::kError;
      r.error = LookupError::kOther;
      r.detail = "not an IP address";
      finish_zone(c, i, std::move(r), 0, false);
      continue;
    }
    start_zone(c, i);
  }
  // Release the guard on the loop, so the handler never runs inside lookup().
  asio::post(executor_, [this, c, alive = alive_] {
    if (!*alive) return;
    if (--c->remaining == 0) c->handler(std::move(c->result));
  });
}

void Client::start_zone(const std::shared_ptr<Check>& c, std::size_t index) {
  const std::string& qname = c->qnames[index];
  if (auto hit = cache_.get(qname)) {
    ++stats_.cache_hits;
    finish_zone(c, index, std::move(*hit), 0, false);
    return;
  }
  ++stats_.queries;
  resolver_.query(qname, kTypeA, [this, c, index, alive = alive_](ResolveReply reply) {
    if (!*alive) return;
    const ZoneConfig& zone = options_.zones[index];
    ZoneResult r = c->result.zones[index];
    if (!reply) {
      r.status = LookupStatus::kError;
      r.error = reply.error().kind;
      r.detail = reply.error().detail;
      finish_zone(c, index, std::move(r), 0, false);
      return;
    }
    auto answer = parse_dns_answer(*reply, c->qnames[index], kTypeA);
    if (!answer || answer->truncated || (answer->rcode != kRcodeNoError && answer->rcode != kRcodeNxDomain)) {
      r.status = LookupStatus::kError;
      if (!answer) {
        r.error = LookupError::kMalformed;
        r.detail = answer.error().to_string();
      } else if (answer->truncated) {
        r.error = LookupError::kTruncated;
        r.detail = "truncated answer";
      } else {
        r.error = answer->rcode == kRcodeServFail ? LookupError::kServfail
                  : answer->rcode == kRcodeRefused ? LookupError::kRefused
                                                   : LookupError::kOther;
        r.detail = "rcode " + std::to_string(answer->rcode);
      }
      finish_zone(c, index, std::move(r), 0, false);
      return;
    }
    interpret_codes(zone, answer->a, &r);
    if (r.status != LookupStatus::kListed) {
      const std::uint32_t ttl = r.status == LookupStatus::kError ? 0
                                : answer->negative_ttl      ? *answer->negative_ttl
                                : answer->answer_ttl        ? *answer->answer_ttl
                                                            : kDefaultNegativeTtlSeconds;
      const bool cacheable = r.status != LookupStatus::kError;
      finish_zone(c, index, std::move(r), ttl, cacheable);
      return;
    }
    const std::uint32_t ttl = answer->answer_ttl.value_or(kDefaultNegativeTtlSeconds);
    if (!zone.query_txt) {
      finish_zone(c, index, std::move(r), ttl, true);
      return;
    }
    ++stats_.queries;
    resolver_.query(c->qnames[index], kTypeTxt,
                    [this, c, index, r = std::move(r), ttl, alive = alive_](ResolveReply txt_reply) mutable {
                      if (!*alive) return;
                      // A missing or broken TXT leaves the listing as it is, without text.
                      if (txt_reply) {
                        auto t = parse_dns_answer(*txt_reply, c->qnames[index], kTypeTxt);
                        if (t && !t->truncated && t->rcode == kRcodeNoError && !t->txt.empty()) {
                          r.txt = sanitize_txt(t->txt.front(), kMaxTxtBytes);
                        }
                      }
                      finish_zone(c, index, std::move(r), ttl, true);
                    });
  });
}

void Client::finish_zone(const std::shared_ptr<Check>& c, std::size_t index, ZoneResult r,
                         std::uint32_t ttl, bool cache_it) {
  if (cache_it) cache_.put(c->qnames[index], r, ttl);
  if (r.status == LookupStatus::kListed) ++stats_.listed;
  if (r.status == LookupStatus::kError) ++stats_.errors;
  c->result.zones[index] = std::move(r);
  if (--c->remaining == 0) c->handler(std::move(c->result));
}

}  // namespace backstop::dnsbl
