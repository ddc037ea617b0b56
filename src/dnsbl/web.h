// The trap DNSBL's public face (issue 19): an index page with the list's
// policy, a lookup page per IP (HTML, or JSON with ?format=json) showing the
// listing and its redacted evidence, and free self-service delisting
// (POST /delist). Pure request -> response over the store (no sockets; the
// daemon serves it on the network front end, daemon/dnsbl_web.h).
//
// Pages: self-contained HTML (one inline style allowed by its hash in the
// Content-Security-Policy, no script, no external asset), every stored or
// peer-supplied byte through text::html_escape; sent with
// default-src 'none', nosniff, same-origin referrers (a same-origin
// POST keeps its Origin: no-referrer would make it "null"), frame-ancestors 'none' and
// no-store.
//
// Delisting (POST /delist, fields ip, reason, token), in this order:
//  - the form's token: an HMAC (per-process key) over the IP, the
//    requester's network and the time the lookup page was made, valid for
//    kDelistTokenSeconds; so a cross-site form (CSRF) or a blind script must
//    first fetch the page from the requester's own network. An Origin
//    header, when sent, must name this Host;
//  - the IP must be listed now;
//  - per listed IP: at most max_self_delists self-service delistings over
//    the listing's life; each one doubles later listings (dnsbl/listings.h);
//  - per requesting network (/24 IPv4, /48 IPv6): delists_per_network a day;
//  - in all: delists_per_hour.
// Each delisting is logged with the reason and the requester (the peer, or
// with trusted proxies the client they name in X-Forwarded-For).
//
// Thread-safety: handle() may be called from several threads at once when
// the Store may (all backends may).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/ip.h"
#include "common/random.h"
#include "common/result.h"
#include "dnsbl/evidence.h"
#include "dnsbl/listings.h"
#include "store/store.h"

namespace backstop::dnsbl {

// How long a lookup page's delisting form stays valid: time to read the
// evidence and fix the cause, short enough that a harvested token is stale.
inline constexpr std::int64_t kDelistTokenSeconds = 3600;
// A policy file larger than this is not a policy text.
inline constexpr std::size_t kMaxPolicyBytes = 64 * 1024;
// Reason text kept per delisting (the form's textarea says so).
inline constexpr std::size_t kMaxDelistReasonBytes = 200;
// Requests are counted against the requester's network, not its address:
// one host rarely has a /24 or a /48 to itself, and a bot owner easily has
// many addresses in one.
inline constexpr int kRequesterPrefixV4 = 24;
inline constexpr int kRequesterPrefixV6 = 48;
// Defaults of dnsbl.web.*: an operator fixing a mail server needs one or two
// delistings; a day's five per network leaves room for a few servers.
inline constexpr std::int64_t kDefaultDelistsPerNetwork = 5;   // per day
inline constexpr std::int64_t kDefaultDelistsPerHour = 100;    // all requesters
inline constexpr std::uint32_t kDefaultMaxSelfDelists = 3;     // per listed IP
// Longest X-Forwarded-For list walked (a proxy chain is a few hops).
inline constexpr std::size_t kMaxForwardedHops = 16;

struct WebOptions {
  std::string zone;          // shown in titles and the default policy
  std::string policy_text;   // plain text; empty = kDefaultPolicy; {zone} {expire_days} {contact} {max_days}
  std::string contact;       // operator contact shown on the pages
  std::vector<ip::Network> trusted_proxies;  // whose X-Forwarded-For is believed
  std::int64_t delists_per_network = kDefaultDelistsPerNetwork;
  std::int64_t delists_per_hour = kDefaultDelistsPerHour;
  std::uint32_t max_self_delists = kDefaultMaxSelfDelists;
  std::int64_t export_interval_seconds = 0;  // "effective within ..." on the pages; 0 = "at the next export"
};

// The default policy text (placeholders as WebOptions::policy_text).
extern const std::string_view kDefaultPolicy;

// One request as the front end read it. Views into its buffers.
struct WebRequest {
  std::string_view method;
  std::string_view target;        // path and query
  std::string_view host;          // Host header ("" if none)
  std::string_view origin;        // Origin header ("" if none)
  std::string_view content_type;  // Content-Type header
  std::string_view forwarded_for; // X-Forwarded-For header
  std::string_view body;
  std::string peer;               // the TCP peer's address ("" for a unix socket)
};

struct WebResponse {
  int status = 200;
  std::string content_type;  // with charset
  std::string body;
  std::string allow;         // Allow header for 405
  // For metrics and logs: the page ("index", "lookup", "lookup_json",
  // "delist", "not_found", "bad_request", "method"), and when a delisting
  // was refused or failed, why ("token", "origin", "not_listed", "ip_limit",
  // "network_limit", "global_limit", "bad_form", "store").
  std::string_view page;
  std::string_view refusal;
  bool delisted = false;
};

// "OK", "Not Found"... for the status line.
std::string_view status_text(int status) noexcept;
// The header lines (each ending CRLF) every response carries: CSP,
// nosniff, same-origin referrers, frame denial, no-store.
const std::string& security_headers();

class WebApp {
 public:
  // `listings`, `store`, `clock`, `redactor` and `random` are not owned and
  // outlive the app. `log` gets one line per delisting and refusal.
  // kUnavailable when no key can be drawn from `random`.
  static Result<std::unique_ptr<WebApp>> create(Listings& listings, store::Store& store, const Clock& clock,
                                                const Redactor& redactor, WebOptions options, Random& random,
                                                ListingLog log = {});
  WebResponse handle(const WebRequest& request) const;

  // The requester a request stands for: the peer, or with a trusted proxy as
  // peer the last X-Forwarded-For entry that is not a trusted proxy. Empty
  // when none can be told (a unix-socket peer without a usable header).
  std::string requester(const WebRequest& request) const;
  // The delisting form's token for `ip` and `requester` at `now`.
  std::string token(std::string_view ip, std::string_view requester, std::int64_t now) const;

 private:
  WebApp(Listings& listings, store::Store& store, const Clock& clock, const Redactor& redactor, WebOptions options,
         std::string key, ListingLog log);
  WebResponse index() const;
  WebResponse lookup(std::string_view ip_text, bool json, const WebRequest& request) const;
  WebResponse delist(const WebRequest& request) const;
  bool token_ok(std::string_view token, std::string_view ip, std::string_view requester, std::int64_t now) const;
  void log(const std::string& line) const;

  Listings& listings_;
  store::Store& store_;
  const Clock& clock_;
  const Redactor& redactor_;
  WebOptions opt_;
  std::string key_;
  ListingLog log_;
};

}  // namespace backstop::dnsbl
