#include "dnsbl/web.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <array>
#include <charconv>
#include <map>

#include "common/text.h"
#include "dnsbl/txt.h"
#include "net/form.h"
#include "net/http_head.h"

namespace backstop::dnsbl {

const std::string_view kDefaultPolicy =
    "{zone} lists the IP addresses of mail servers that sent backscatter to its spamtraps: bounces, "
    "virus notices, challenges, subscription confirmations and autoreplies addressed to a forged "
    "sender. The trap addresses never send mail, so every such message they receive went to the "
    "wrong person.\n\n"
    "A listing starts with the first backscatter message and ends by itself {expire_days} days after "
    "the last one. Nothing else lists an address, and nothing is for sale.\n\n"
    "Delisting is free and self-service: look your address up, read the evidence (the headers of "
    "the last messages the traps received from it, trap addresses hidden), fix the cause (reject "
    "during the SMTP dialogue instead of bouncing later; do not notify forged senders), then use "
    "the form on the lookup page. A delisting reaches the DNS at the next export of the zone. If "
    "the traps hear from the address again after a self-service delisting, the new listing lasts "
    "twice as long, up to {max_days} days.\n\n"
    "Query this list only for connections with a null envelope sender (MAIL FROM:<>) or postmaster@, "
    "as backscatter lists advise.\n\n"
    "Contact: {contact}";

namespace {

// The one inline style of every page; allowed by its hash in the CSP.
constexpr std::string_view kStyle =
    "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:52rem;padding:1rem;line-height:1.5;"
    "color:#222;background:#fff}"
    "h1{font-size:1.5rem;overflow-wrap:anywhere}h2{font-size:1.2rem;margin-top:2rem}h3{font-size:1rem}"
    "pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f4f4f4;padding:.6rem;font-size:.85rem}"
    "table{border-collapse:collapse}th,td{padding:.2rem .7rem .2rem 0;text-align:left;vertical-align:top;"
    "border-bottom:1px solid #ddd;overflow-wrap:anywhere}"
    ".listed{color:#a00;font-weight:bold}.clear{color:#070;font-weight:bold}"
    "input,textarea,button{font:inherit;max-width:100%}textarea{width:100%;box-sizing:border-box}"
    "button{padding:.4rem 1rem}footer{margin-top:3rem;font-size:.85rem;color:#555}";

std::string base64(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

std::string style_hash() {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> d{};
  SHA256(reinterpret_cast<const unsigned char*>(kStyle.data()), kStyle.size(), d.data());
  return "sha256-" + base64(d.data(), d.size());
}

std::string esc(std::string_view s) { return text::html_escape(s); }

std::string replace(std::string s, std::string_view what, std::string_view with) {
  for (std::size_t i = s.find(what); i != std::string::npos; i = s.find(what, i + with.size())) {
    s.replace(i, what.size(), with);
  }
  return s;
}

std::string page(std::string_view title, std::string_view zone, std::string_view contact, const std::string& main) {
  std::string out;
  out.reserve(main.size() + 2048);
  out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<meta name=\"referrer\" content=\"same-origin\">\n<title>";
  out += esc(title);
  out += "</title>\n<style>";
  out += kStyle;
  out += "</style></head>\n<body>\n<header><a href=\"/\">";
  out += esc(zone.empty() ? std::string_view("DNSBL") : zone);
  out += "</a></header>\n<main>\n";
  out += main;
  out += "</main>\n<footer>Free delisting, no account. ";
  if (!contact.empty()) out += "Contact: " + esc(contact);
  out += "</footer>\n</body></html>\n";
  return out;
}

WebResponse html(int status, std::string_view page_name, std::string body) {
  WebResponse r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::move(body);
  r.page = page_name;
  return r;
}

std::string when(std::int64_t t) { return t > 0 ? text::iso_time(t) : std::string("-"); }

// Paragraphs of plain text: blank lines separate them.
std::string paragraphs(std::string_view textv) {
  std::string out;
  std::string para;
  auto flush = [&] {
    const std::string_view t = text::trim(para);
    if (!t.empty()) out += "<p>" + esc(t) + "</p>\n";
    para.clear();
  };
  std::size_t pos = 0;
  while (pos <= textv.size()) {
    std::size_t nl = textv.find('\n', pos);
    if (nl == std::string_view::npos) nl = textv.size();
    std::string_view line = textv.substr(pos, nl - pos);
    if (line.ends_with('\r')) line.remove_suffix(1);
    pos = nl + 1;
    if (text::trim(line).empty()) {
      flush();
    } else {
      if (!para.empty()) para += ' ';
      para += line;
    }
  }
  flush();
  return out;
}

std::string hex(const unsigned char* d, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += kHex[d[i] >> 4];
    out += kHex[d[i] & 15];
  }
  return out;
}

// The requester's network as counted by the limits.
std::string network_of(std::string_view requester) {
  auto a = ip::parse(requester);
  if (!a) return "unknown";
  auto n = ip::parse_network(ip::to_string(*a) + "/" +
                             std::to_string(a->v6 ? kRequesterPrefixV6 : kRequesterPrefixV4));
  return n ? ip::to_string(*n) : std::string("unknown");
}

bool trusted(const std::vector<ip::Network>& proxies, std::string_view addr) {
  auto a = ip::parse(addr);
  if (!a) return false;
  for (const auto& n : proxies)
    if (ip::contains(n, *a)) return true;
  return false;
}

// Does the Origin header name the Host the request was sent to?
bool same_origin(std::string_view origin, std::string_view host) {
  if (origin.empty()) return true;  // not sent (older clients, curl): the token decides
  for (std::string_view scheme : {"http://", "https://"}) {
    if (origin.starts_with(scheme)) return !host.empty() && text::iequals(origin.substr(scheme.size()), host);
  }
  return false;  // "null" (sandboxed, privacy-sensitive contexts) or garbage
}

std::string state_word(const std::optional<store::Listing>& l, const ListingPolicy& p, std::int64_t now) {
  if (!l) return "never_seen";
  switch (listing_state(*l, p, now)) {
    case ListingState::kActive: return "listed";
    case ListingState::kBelowThreshold: return "below_threshold";
    case ListingState::kExpired: return "expired";
    case ListingState::kDelisted: return "delisted";
  }
  return "never_seen";
}

}  // namespace

std::string_view status_text(int status) noexcept {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Service Unavailable";
  }
}

const std::string& security_headers() {
  static const std::string h =
      "Content-Security-Policy: default-src 'none'; style-src '" + style_hash() +
      "'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n"
      "X-Content-Type-Options: nosniff\r\n"
      "Referrer-Policy: same-origin\r\n"
      "X-Frame-Options: DENY\r\n"
      "Cache-Control: no-store\r\n";
  return h;
}

Result<std::unique_ptr<WebApp>> WebApp::create(Listings& listings, store::Store& store, const Clock& clock,
                                               const Redactor& redactor, WebOptions options, Random& random,
                                               ListingLog log) {
  std::array<std::uint8_t, 32> key{};
  BACKSTOP_TRY(random.fill(key));
  return std::unique_ptr<WebApp>(new WebApp(listings, store, clock, redactor, std::move(options),
                                            std::string(key.begin(), key.end()), std::move(log)));
}

WebApp::WebApp(Listings& listings, store::Store& store, const Clock& clock, const Redactor& redactor,
               WebOptions options, std::string key, ListingLog log)
    : listings_(listings), store_(store), clock_(clock), redactor_(redactor), opt_(std::move(options)),
      key_(std::move(key)), log_(std::move(log)) {}

void WebApp::log(const std::string& line) const {
  if (log_) log_(line);
}

std::string WebApp::requester(const WebRequest& r) const {
  std::string candidate = r.peer;
  if (candidate.empty() || !trusted(opt_.trusted_proxies, candidate) || r.forwarded_for.empty()) {
    if (auto a = ip::parse(candidate)) return ip::to_string(*a);
    return candidate;
  }
  // Walk X-Forwarded-For from the right (the hop nearest us) while the hop
  // that told us is a trusted proxy.
  std::string_view rest = r.forwarded_for;
  for (std::size_t hops = 0; hops < kMaxForwardedHops && !rest.empty(); ++hops) {
    const auto comma = rest.rfind(',');
    const std::string_view entry = text::trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    auto a = ip::parse(entry);
    if (!a) break;  // garbage: the last trusted hop's own view stands
    candidate = ip::to_string(*a);
    if (!trusted(opt_.trusted_proxies, candidate)) break;
  }
  return candidate;
}

std::string WebApp::token(std::string_view ip, std::string_view requester, std::int64_t now) const {
  const std::string issued = std::to_string(now);
  const std::string msg = std::string(ip) + "\n" + network_of(requester) + "\n" + issued;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), mac, &len);
  return issued + "." + hex(mac, 16);
}

bool WebApp::token_ok(std::string_view tok, std::string_view ip, std::string_view requester,
                      std::int64_t now) const {
  const auto dot = tok.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 19) return false;
  std::int64_t issued = 0;
  auto [p, ec] = std::from_chars(tok.data(), tok.data() + dot, issued);
  if (ec != std::errc() || p != tok.data() + dot) return false;
  if (issued > now || now - issued > kDelistTokenSeconds) return false;
  const std::string want = token(ip, requester, issued);
  return want.size() == tok.size() && CRYPTO_memcmp(want.data(), tok.data(), tok.size()) == 0;
}

WebResponse WebApp::handle(const WebRequest& r) const {
  const net::Target t = net::split_target(r.target);
  if (r.method == "GET") {
    if (t.path == "/") return index();
    auto query = net::parse_form(t.query);
    if (!query) return html(400, "bad_request", page("Bad request", opt_.zone, opt_.contact, "<p>Bad query string.</p>\n"));
    const bool json = net::form_value(*query, "format") == std::optional<std::string_view>("json");
    if (t.path == "/lookup") {
      auto ip = net::form_value(*query, "ip");
      return lookup(ip ? text::trim(*ip) : std::string_view(), json, r);
    }
    if (t.path.starts_with("/lookup/")) {
      auto ip = net::percent_decode(t.path.substr(8), false);
      if (!ip) return html(400, "bad_request", page("Bad request", opt_.zone, opt_.contact, "<p>Bad address.</p>\n"));
      return lookup(*ip, json, r);
    }
    return html(404, "not_found", page("Not found", opt_.zone, opt_.contact,
                                       "<h1>Not found</h1>\n<p><a href=\"/\">Look an address up</a>.</p>\n"));
  }
  if (r.method == "POST") {
    if (t.path == "/delist") return delist(r);
    return html(404, "not_found", page("Not found", opt_.zone, opt_.contact, "<h1>Not found</h1>\n"));
  }
  auto out = html(405, "method", page("Method not allowed", opt_.zone, opt_.contact, "<p>GET or POST only.</p>\n"));
  out.allow = "GET, POST";
  return out;
}

WebResponse WebApp::index() const {
  std::string policy = opt_.policy_text.empty() ? std::string(kDefaultPolicy) : opt_.policy_text;
  const auto& p = listings_.policy();
  policy = replace(policy, "{zone}", opt_.zone.empty() ? "This list" : opt_.zone);
  policy = replace(policy, "{expire_days}", std::to_string(p.expire_days));
  policy = replace(policy, "{max_days}", std::to_string(longest_listing_seconds(p) / 86400));
  policy = replace(policy, "{contact}", opt_.contact.empty() ? "the operator of this list" : opt_.contact);
  std::string main = "<h1>" + esc(opt_.zone.empty() ? std::string_view("Backscatter DNSBL") : opt_.zone) + "</h1>\n";
  main += "<form method=\"get\" action=\"/lookup\"><p><label for=\"ip\">IP address</label><br>"
          "<input id=\"ip\" name=\"ip\" required maxlength=\"64\" inputmode=\"text\" autocomplete=\"off\"> "
          "<button type=\"submit\">Look up</button></p></form>\n";
  main += "<h2>Policy</h2>\n" + paragraphs(policy);
  return html(200, "index", page(opt_.zone.empty() ? "Backscatter DNSBL" : opt_.zone, opt_.zone, opt_.contact, main));
}

WebResponse WebApp::lookup(std::string_view ip_text, bool json, const WebRequest& r) const {
  auto addr = ip::parse(ip_text);
  if (!addr) {
    return html(400, "bad_request",
                page("Not an IP address", opt_.zone, opt_.contact,
                     "<h1>Not an IP address</h1>\n<p>" + esc(ip_text.substr(0, 64)) +
                         " is not an IPv4 or IPv6 address.</p>\n<p><a href=\"/\">Try again</a>.</p>\n"));
  }
  const std::string ip = ip::to_string(*addr);
  auto got = listings_.get(ip);
  if (!got) {
    log("lookup of " + ip + " failed: " + text::log_safe(got.error().message()));
    auto out = html(503, json ? "lookup_json" : "lookup",
                    page("Unavailable", opt_.zone, opt_.contact, "<p>The listing store is unavailable; try again later.</p>\n"));
    out.refusal = "store";
    return out;
  }
  const std::optional<store::Listing>& l = *got;
  std::vector<EvidenceEntry> evidence;
  if (l) {
    auto ev = load_evidence(store_, ip);
    if (ev) evidence = std::move(*ev);
  }
  const std::int64_t now = clock_.now_unix();
  const ListingPolicy& p = listings_.policy();
  const std::string state = state_word(l, p, now);
  const bool may_delist = state == "listed" && l->self_delists < opt_.max_self_delists;
  const std::int64_t listing_days = l ? p.expire_days * escalation_factor(*l) : p.expire_days;
  const std::string mid = l ? redactor_.redact(l->last_evidence.message_id) : std::string();

  if (json) {
    std::string j = "{\"ip\":" + text::quote(ip) + ",\"zone\":" + text::quote(opt_.zone) +
                    ",\"state\":" + text::quote(state);
    if (l) {
      j += ",\"hits\":{";
      bool first = true;
      for (const auto& [kind, n] : l->hits) {
        j += (first ? "" : ",") + text::quote(kind) + ":" + std::to_string(n);
        first = false;
      }
      j += "},\"first_seen\":" + text::quote(when(l->first_seen)) + ",\"last_seen\":" + text::quote(when(l->last_seen)) +
           ",\"expires\":" + text::quote(when(expires_at(*l, p))) + ",\"listing_days\":" + std::to_string(listing_days) +
           ",\"self_delists\":" + std::to_string(l->self_delists) +
           ",\"self_delist_allowed\":" + (may_delist ? "true" : "false") +
           ",\"last_message_id\":" + text::quote(mid) + ",\"evidence\":[";
      for (std::size_t i = 0; i < evidence.size(); ++i) {
        const auto& e = evidence[i];
        j += (i ? "," : "") + std::string("{\"time\":") + text::quote(when(e.time)) + ",\"kind\":" + text::quote(e.kind) +
             ",\"truncated\":" + (e.truncated ? "true" : "false") + ",\"headers\":" +
             text::quote(e.headers, text::Quote::kScriptSafe) + "}";
      }
      j += "]";
    }
    j += "}\n";
    WebResponse out;
    out.content_type = "application/json; charset=utf-8";
    out.body = std::move(j);
    out.page = "lookup_json";
    return out;
  }

  std::string m = "<h1>" + esc(ip) + "</h1>\n";
  const std::string zone = opt_.zone.empty() ? std::string("this list") : opt_.zone;
  if (!l) {
    m += "<p class=\"clear\" id=\"state\" data-state=\"never_seen\">Not listed: the traps of " + esc(zone) +
         " have never received backscatter from this address.</p>\n";
  } else {
    if (state == "listed") {
      m += "<p class=\"listed\" id=\"state\" data-state=\"listed\">Listed in " + esc(zone) + " until " +
           esc(when(expires_at(*l, p))) + " unless the traps hear from it again.</p>\n";
    } else if (state == "expired") {
      m += "<p class=\"clear\" id=\"state\" data-state=\"expired\">Not listed: the listing expired on " +
           esc(when(expires_at(*l, p))) + ".</p>\n";
    } else if (state == "delisted") {
      m += "<p class=\"clear\" id=\"state\" data-state=\"delisted\">Not listed: delisted. A new backscatter message "
           "to the traps lists it again";
      if (l->self_delists > 0) m += ", for " + std::to_string(listing_days) + " days";
      m += ".</p>\n";
    } else {
      m += "<p class=\"clear\" id=\"state\" data-state=\"below_threshold\">Not listed: too few trap hits.</p>\n";
    }
    m += "<table id=\"listing\">\n";
    std::string kinds;
    for (const auto& [kind, n] : l->hits) kinds += (kinds.empty() ? "" : ", ") + esc(kind) + " &times;" + std::to_string(n);
    auto row = [&](std::string_view k, const std::string& v_escaped) {
      m += "<tr><th>" + std::string(k) + "</th><td>" + v_escaped + "</td></tr>\n";
    };
    row("Hits", std::to_string(l->total_hits()) + " (" + kinds + ")");
    row("First seen", esc(when(l->first_seen)));
    row("Last seen", esc(when(l->last_seen)));
    row(state == "listed" ? "Expires" : "Would expire", esc(when(expires_at(*l, p))));
    row("Listing length", std::to_string(listing_days) + " days after the last hit");
    row("Self-service delistings", std::to_string(l->self_delists) + " of " + std::to_string(opt_.max_self_delists));
    if (!mid.empty()) row("Last Message-ID", "<code>" + esc(mid) + "</code>");
    m += "</table>\n";
  }

  if (l) {
    m += "<h2>Evidence</h2>\n";
    if (evidence.empty()) {
      m += "<p>No message headers are kept for this address (they expire with the listing).</p>\n";
    } else {
      m += std::string(evidence.size() == 1 ? "<p>The header section of the last trapped message"
                                            : "<p>The header sections of the last " + std::to_string(evidence.size()) +
                                                  " trapped messages") +
           " from this address, newest first. Trap addresses and domains are shown as " +
           esc(kRedactedAddress) + " and " + esc(kRedactedDomain) + ".</p>\n";
      for (std::size_t i = 0; i < evidence.size(); ++i) {
        const auto& e = evidence[i];
        m += "<section class=\"evidence\"><h3>" + esc(when(e.time)) + ": " + esc(e.kind) + "</h3>\n<pre>" +
             esc(e.headers) + "</pre>\n";
        if (e.truncated) m += "<p>(header section cut at " + std::to_string(kMaxEvidenceHeaderBytes) + " bytes)</p>\n";
        m += "</section>\n";
      }
    }
  }

  if (state == "listed") {
    m += "<h2>Delisting</h2>\n";
    if (may_delist) {
      const std::string tok = token(ip, requester(r), now);
      m += "<p>Free. Fix the cause first: a server that bounces after accepting mail, notifies forged senders or "
           "answers spam will be listed again";
      m += ", and after a self-service delisting for twice as long (" + std::to_string(2 * listing_days) +
           " days next time, at most " + std::to_string(longest_listing_seconds(p) / 86400) + ").</p>\n";
      m += "<form method=\"post\" action=\"/delist\" id=\"delist-form\">\n"
           "<input type=\"hidden\" name=\"ip\" value=\"" + esc(ip) + "\">\n"
           "<input type=\"hidden\" name=\"token\" value=\"" + esc(tok) + "\">\n"
           "<p><label for=\"reason\">What did you fix? (optional, at most " + std::to_string(kMaxDelistReasonBytes) +
           " characters)</label><br>\n<textarea id=\"reason\" name=\"reason\" rows=\"3\" maxlength=\"" +
           std::to_string(kMaxDelistReasonBytes) + "\"></textarea></p>\n"
           "<p><button type=\"submit\" id=\"delist\">Delist " + esc(ip) + "</button></p>\n</form>\n";
      m += "<p>The delisting reaches the DNS ";
      m += opt_.export_interval_seconds > 0 ? "within " + std::to_string(opt_.export_interval_seconds) + " seconds"
                                            : std::string("at the next export of the zone");
      m += "; resolvers may keep the old answer for its TTL.</p>\n";
    } else {
      m += "<p>This address was delisted here " + std::to_string(l->self_delists) +
           " times and listed again each time; self-service delisting is closed for it. It expires by itself on " +
           esc(when(expires_at(*l, p))) + ", or contact " +
           esc(opt_.contact.empty() ? std::string_view("the operator") : std::string_view(opt_.contact)) + ".</p>\n";
    }
  }
  m += "<p><a href=\"/lookup/" + esc(ip) + "?format=json\">JSON</a> &middot; <a href=\"/\">Policy</a></p>\n";
  return html(200, "lookup", page(ip + " - " + zone, opt_.zone, opt_.contact, m));
}

WebResponse WebApp::delist(const WebRequest& r) const {
  auto refuse = [&](int status, std::string_view why, const std::string& text) {
    auto out = html(status, "delist", page("Not delisted", opt_.zone, opt_.contact,
                                          "<h1>Not delisted</h1>\n<p>" + text + "</p>\n<p><a href=\"/\">Back</a></p>\n"));
    out.refusal = why;
    return out;
  };
  const std::string who = requester(r);
  const std::string_view ctype = text::trim(r.content_type.substr(0, r.content_type.find(';')));
  if (!text::iequals(ctype, "application/x-www-form-urlencoded")) {
    return refuse(415, "bad_form", "The form must be sent as application/x-www-form-urlencoded.");
  }
  if (!same_origin(r.origin, r.host)) {
    log("delisting refused (origin " + text::log_safe(r.origin) + ") for requester " + who);
    return refuse(403, "origin", "The form was sent from another site.");
  }
  auto form = net::parse_form(r.body);
  if (!form) return refuse(400, "bad_form", "The form could not be read.");
  const auto ip_field = net::form_value(*form, "ip");
  auto addr = ip::parse(ip_field ? text::trim(*ip_field) : std::string_view());
  if (!addr) return refuse(400, "bad_form", "The form names no IP address.");
  const std::string ip = ip::to_string(*addr);
  const std::int64_t now = clock_.now_unix();
  const auto tok = net::form_value(*form, "token");
  if (!tok || !token_ok(*tok, ip, who, now)) {
    log("delisting of " + ip + " refused (stale or foreign form) for requester " + who);
    return refuse(403, "token",
                  "This form has expired or was not made for you. <a href=\"/lookup/" + esc(ip) +
                      "\">Open the lookup page again</a> and send it from there.");
  }
  std::string reason = text::sanitize_utf8(net::form_value(*form, "reason").value_or(""));
  reason = sanitize_txt(reason, kMaxDelistReasonBytes);

  auto got = listings_.get(ip);
  if (!got) return refuse(503, "store", "The listing store is unavailable; try again later.");
  const ListingPolicy& p = listings_.policy();
  if (!*got || listing_state(**got, p, now) != ListingState::kActive) {
    return refuse(409, "not_listed", esc(ip) + " is not listed; there is nothing to delist.");
  }
  if ((*got)->self_delists >= opt_.max_self_delists) {
    log("delisting of " + ip + " refused (self-service limit) for requester " + who);
    return refuse(403, "ip_limit",
                  esc(ip) + " was delisted here too often and listed again each time. It expires by itself on " +
                      esc(when(expires_at(**got, p))) + ".");
  }
  const std::string net_key = "dnsbl:web:net:" + network_of(who);
  auto per_net = store_.counter_add_if_below(net_key, 1, opt_.delists_per_network, now + 86400);
  if (!per_net) return refuse(503, "store", "The listing store is unavailable; try again later.");
  if (!*per_net) {
    log("delisting of " + ip + " refused (network limit) for requester " + who);
    return refuse(429, "network_limit",
                  "Your network has used its " + std::to_string(opt_.delists_per_network) +
                      " delistings for today. Try again tomorrow.");
  }
  auto all = store_.counter_add_if_below("dnsbl:web:all", 1, opt_.delists_per_hour, now + 3600);
  if (!all) return refuse(503, "store", "The listing store is unavailable; try again later.");
  if (!*all) {
    log("delisting of " + ip + " refused (hourly limit) for requester " + who);
    return refuse(429, "global_limit", "Too many delistings this hour. Try again later.");
  }
  const std::string record = "self-service by " + who + (who != r.peer ? " via " + r.peer : std::string()) +
                             (reason.empty() ? std::string() : ": " + reason);
  auto d = listings_.delist(ip, record, DelistBy::kSelfService);
  if (!d) {
    log("delisting of " + ip + " failed: " + text::log_safe(d.error().message()));
    return refuse(503, "store", "The listing store is unavailable; try again later.");
  }
  const std::int64_t next_days = p.expire_days * escalation_factor(**got) * 2;
  const std::int64_t max_days = longest_listing_seconds(p) / 86400;
  std::string m = "<h1>" + esc(ip) + " is delisted</h1>\n<p class=\"clear\" id=\"state\" data-state=\"delisted\">"
                  "The delisting reaches the DNS ";
  m += opt_.export_interval_seconds > 0 ? "within " + std::to_string(opt_.export_interval_seconds) + " seconds"
                                        : std::string("at the next export of the zone");
  m += "; resolvers may keep the old answer for its TTL.</p>\n<p>If the traps receive backscatter from " + esc(ip) +
       " again, it is listed again for " + std::to_string(next_days < max_days ? next_days : max_days) +
       " days.</p>\n<p><a href=\"/lookup/" + esc(ip) + "\">Back to the lookup page</a></p>\n";
  auto out = html(200, "delist", page(ip + " delisted", opt_.zone, opt_.contact, m));
  out.delisted = true;
  return out;
}

}  // namespace backstop::dnsbl
