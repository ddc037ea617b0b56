#include "dnsbl/web.h"

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "common/text.h"
#include "mail/header.h"
#include "net/form.h"

namespace backstop::dnsbl {
namespace {

constexpr std::int64_t kT0 = 1'790'000'000;

// Every tag of `html` is one the pages write, and no tag carries an event
// handler or a script URL: nothing from the store became markup.
void expect_only_our_markup(const std::string& html) {
  static const std::set<std::string> kTags = {
      "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "header", "a", "main", "h1", "h2", "h3",
      "p", "table", "tr", "th", "td", "section", "pre", "form", "input", "label", "br", "textarea", "button",
      "footer", "code"};
  for (std::size_t i = html.find('<'); i != std::string::npos; i = html.find('<', i + 1)) {
    std::size_t j = i + 1;
    if (j < html.size() && html[j] == '/') ++j;
    std::size_t k = j;
    while (k < html.size() && (std::isalnum(static_cast<unsigned char>(html[k])) || html[k] == '!')) ++k;
    const std::string name = html.substr(j, k - j);
    EXPECT_TRUE(kTags.contains(name)) << "unexpected tag <" << name << "> at " << i << ": "
                                      << html.substr(i, 80);
    const std::size_t end = html.find('>', i);
    ASSERT_NE(end, std::string::npos);
    const std::string tag = text::ascii_lower(html.substr(i, end - i));
    EXPECT_EQ(tag.find(" on"), std::string::npos) << tag;
    EXPECT_EQ(tag.find("javascript:"), std::string::npos) << tag;
  }
  EXPECT_EQ(html.find('\0'), std::string::npos);
  EXPECT_EQ(text::sanitize_utf8(html), html) << "valid UTF-8";
}

class WebTest : public ::testing::Test {
 protected:
  WebTest()
      : store_(store::make_memory_store({&clock})),
        listings_(*store_, clock, {}, [this](std::string_view l) { log.emplace_back(l); }),
        redactor_({"spam.trap@example.org"}, {"trap.test"}) {
    opts.zone = "bl.example.org";
    opts.contact = "dnsbl@example.org";
    opts.trusted_proxies = {*ip::parse_network("10.0.0.0/8")};
    make();
  }
  void make() {
    auto a = WebApp::create(listings_, *store_, clock, redactor_, opts, random_,
                            [this](std::string_view l) { log.emplace_back(l); });
    ASSERT_TRUE(a);
    app = std::move(*a);
  }
  WebResponse get(std::string_view target, std::string peer = "198.51.100.7") {
    WebRequest r;
    r.method = "GET";
    r.target = target;
    r.host = "bl.example.org";
    r.peer = std::move(peer);
    return app->handle(r);
  }
  // The hidden token of the lookup page's form.
  static std::string token_in(const std::string& page) {
    const std::string mark = "name=\"token\" value=\"";
    const auto i = page.find(mark);
    if (i == std::string::npos) return "";
    return page.substr(i + mark.size(), page.find('"', i + mark.size()) - i - mark.size());
  }
  WebResponse post(std::string body, std::string peer = "198.51.100.7", std::string_view origin = "",
                   std::string_view forwarded = "") {
    body_ = std::move(body);
    WebRequest r;
    r.method = "POST";
    r.target = "/delist";
    r.host = "bl.example.org";
    r.origin = origin;
    r.content_type = "application/x-www-form-urlencoded";
    r.forwarded_for = forwarded;
    r.body = body_;
    r.peer = std::move(peer);
    return app->handle(r);
  }
  std::string form_for(const std::string& ip, std::string peer = "198.51.100.7", std::string reason = "fixed") {
    return "ip=" + ip + "&token=" + token_in(get("/lookup/" + ip, std::move(peer)).body) + "&reason=" + reason;
  }
  void hit(const std::string& ip, std::string headers = "Received: from x\nSubject: Undelivered\n") {
    ASSERT_TRUE(listings_.record_hit(ip, {"bounce", "m@x", 0}));
    EvidenceEntry e{clock.now_unix(), "bounce", std::move(headers), false};
    const store::WriteOp op = evidence_append(ip, e, listings_.policy(), 90);
    ASSERT_TRUE(store_->apply(std::span<const store::WriteOp>(&op, 1)));
  }

  ManualClock clock{kT0};
  std::unique_ptr<store::Store> store_;
  Listings listings_;
  Redactor redactor_;
  SeededRandom random_{7};
  WebOptions opts;
  std::unique_ptr<WebApp> app;
  std::vector<std::string> log;
  std::string body_;
};

TEST_F(WebTest, IndexShowsThePolicyOnASelfContainedPage) {
  auto r = get("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.page, "index");
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("<meta name=\"viewport\""), std::string::npos);
  EXPECT_NE(r.body.find("bl.example.org lists the IP addresses"), std::string::npos);
  EXPECT_NE(r.body.find("28 days after"), std::string::npos);
  EXPECT_NE(r.body.find("up to 224 days"), std::string::npos);
  EXPECT_NE(r.body.find("Contact: dnsbl@example.org"), std::string::npos);
  EXPECT_EQ(r.body.find("<script"), std::string::npos);
  EXPECT_EQ(r.body.find("http"), std::string::npos) << "no external asset";
  expect_only_our_markup(r.body);
  // A policy file's text is text, not markup.
  opts.policy_text = "Our list: {zone}.\n\n<b>bold?</b> {contact}";
  make();
  r = get("/");
  EXPECT_NE(r.body.find("<p>Our list: bl.example.org.</p>"), std::string::npos);
  EXPECT_NE(r.body.find("&lt;b&gt;bold?&lt;/b&gt; dnsbl@example.org"), std::string::npos);
}

TEST_F(WebTest, SecurityHeadersAllowOnlyTheInlineStyleByHash) {
  const std::string& h = security_headers();
  EXPECT_NE(h.find("Content-Security-Policy: default-src 'none'; style-src 'sha256-"), std::string::npos);
  EXPECT_NE(h.find("form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n"), std::string::npos);
  EXPECT_NE(h.find("X-Content-Type-Options: nosniff\r\n"), std::string::npos);
  EXPECT_NE(h.find("Referrer-Policy: same-origin\r\n"), std::string::npos);
  EXPECT_EQ(h.find("unsafe"), std::string::npos);
}

TEST_F(WebTest, LookupStates) {
  auto never = get("/lookup/192.0.2.1");
  EXPECT_EQ(never.status, 200);
  EXPECT_NE(never.body.find("data-state=\"never_seen\""), std::string::npos);
  EXPECT_EQ(never.body.find("<form method=\"post\""), std::string::npos);

  hit("192.0.2.1");
  auto listed = get("/lookup?ip=192.0.2.1");
  EXPECT_NE(listed.body.find("data-state=\"listed\""), std::string::npos);
  EXPECT_NE(listed.body.find("bounce &times;1"), std::string::npos);
  EXPECT_NE(listed.body.find("Subject: Undelivered"), std::string::npos);
  EXPECT_NE(listed.body.find("<form method=\"post\" action=\"/delist\""), std::string::npos);
  expect_only_our_markup(listed.body);

  auto json = get("/lookup/192.0.2.1?format=json");
  EXPECT_EQ(json.content_type, "application/json; charset=utf-8");
  EXPECT_EQ(json.page, "lookup_json");
  EXPECT_NE(json.body.find("\"state\":\"listed\""), std::string::npos);
  EXPECT_NE(json.body.find("\"hits\":{\"bounce\":1}"), std::string::npos);
  EXPECT_NE(json.body.find("\"headers\":\"Received: from x\\nSubject: Undelivered\\n\""), std::string::npos);

  clock.advance(28 * 86400);
  EXPECT_NE(get("/lookup/192.0.2.1").body.find("data-state=\"expired\""), std::string::npos);

  // IPv6, spelled any way, percent-encoded or not; mapped IPv4 folds.
  hit("2001:db8::5");
  EXPECT_NE(get("/lookup/2001%3ADB8%3A%3A5").body.find("data-state=\"listed\""), std::string::npos);
  EXPECT_NE(get("/lookup/::ffff:192.0.2.1").body.find("<h1>192.0.2.1</h1>"), std::string::npos);

  auto bad = get("/lookup/%3Cscript%3Ealert(1)%3C%2Fscript%3E");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body.find("<script"), std::string::npos);
  expect_only_our_markup(bad.body);
  EXPECT_EQ(get("/nope").status, 404);
  EXPECT_EQ(get("/lookup/%zz").status, 400);
  WebRequest put;
  put.method = "PUT";
  put.target = "/";
  EXPECT_EQ(app->handle(put).status, 405);
  EXPECT_EQ(app->handle(put).allow, "GET, POST");
}

TEST_F(WebTest, HostileEvidenceIsInertText) {
  // What a trapped message may carry, as the evidence store keeps it.
  std::string hostile =
      "Subject: <script>alert(1)</script>\n"
      "X-A: \"><img src=x onerror=alert(2)>\n"
      "X-B: '><svg onload=alert(3)>\n"
      "X-C: </pre></section><iframe src=javascript:alert(4)></iframe>\n"
      "X-D: <!-- </style><style>body{display:none}</style> -->\n"
      "X-E: " + std::string("\0\x01\x1b[31m\x7f", 6) + "\n"
      "X-F: \xC0\xBC" "script\xC0\xBE \xED\xA0\x80 \xFF\xFE +ADw-script+AD4-\n"
      "X-G: =?utf-8?B?PHNjcmlwdD5hbGVydCg1KTwvc2NyaXB0Pg==?=\n"
      "X-H: &lt;script&gt; &#x3C;script&#x3E;\n";
  hit("192.0.2.66", hostile);
  // 100 KB in one header (the store keeps at most kMaxEvidenceHeaderBytes;
  // the page must survive whatever is stored).
  hit("192.0.2.66", "X-Big: " + std::string(100 * 1024, '<') + "\n");
  auto r = get("/lookup/192.0.2.66");
  ASSERT_EQ(r.status, 200);
  expect_only_our_markup(r.body);
  EXPECT_EQ(r.body.find("<script"), std::string::npos);
  EXPECT_EQ(r.body.find("<img"), std::string::npos);
  EXPECT_NE(r.body.find("Subject: &lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(r.body.find("X-A: &quot;&gt;&lt;img src=x onerror=alert(2)&gt;"), std::string::npos);
  EXPECT_NE(r.body.find("X-H: &amp;lt;script&amp;gt;"), std::string::npos);
  // Both evidence sections are there, in their own <pre>.
  std::size_t pres = 0;
  for (std::size_t i = r.body.find("<pre>"); i != std::string::npos; i = r.body.find("<pre>", i + 1)) ++pres;
  EXPECT_EQ(pres, 2u);
  auto json = get("/lookup/192.0.2.66?format=json");
  EXPECT_EQ(json.body.find('<'), std::string::npos) << "script-safe JSON";
  EXPECT_EQ(text::sanitize_utf8(json.body), json.body);
}

TEST_F(WebTest, TheLastMessageIdIsRedactedToo) {
  ASSERT_TRUE(listings_.record_hit("192.0.2.67", {"bounce", "abc.spam.trap@example.org", 0}));
  auto r = get("/lookup/192.0.2.67");
  EXPECT_EQ(r.body.find("spam.trap@example.org"), std::string::npos);
  EXPECT_NE(r.body.find("abc.[trap address]"), std::string::npos);
}

TEST_F(WebTest, SelfServiceDelistingAndEscalation) {
  hit("192.0.2.10");
  auto r = post(form_for("192.0.2.10", "198.51.100.7", "fixed+our+bounce+config"), "198.51.100.7",
                "https://bl.example.org");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.delisted);
  EXPECT_EQ(r.page, "delist");
  EXPECT_NE(r.body.find("listed again for 56 days"), std::string::npos);
  EXPECT_TRUE(listings_.active()->empty()) << "off at the next export";
  auto l = **listings_.get("192.0.2.10");
  EXPECT_EQ(l.self_delists, 1u);
  auto rec = store_->record_get("dnsbl:delist:192.0.2.10");
  ASSERT_TRUE(rec && *rec);
  EXPECT_NE((*rec)->find("self-service by 198.51.100.7: fixed our bounce config"), std::string::npos);
  bool logged = false;
  for (const auto& line : log) logged = logged || line.find("self-service delisted 192.0.2.10") != std::string::npos;
  EXPECT_TRUE(logged);
  // A second submission: nothing to delist.
  EXPECT_EQ(post(form_for("192.0.2.10")).refusal, "token") << "no form is offered for an IP not listed";
  // The next hit lists for twice as long.
  hit("192.0.2.10");
  EXPECT_EQ(expires_at(**listings_.get("192.0.2.10"), listings_.policy()), kT0 + 56 * 86400);
  EXPECT_NE(get("/lookup/192.0.2.10").body.find("56 days after the last hit"), std::string::npos);
}

TEST_F(WebTest, DelistingRefusals) {
  hit("192.0.2.11");
  // No token, a forged one, one for another IP, for another network, a stale one.
  EXPECT_EQ(post("ip=192.0.2.11").refusal, "token");
  EXPECT_EQ(post("ip=192.0.2.11&token=1790000000.00000000000000000000000000000000").refusal, "token");
  hit("192.0.2.12");
  const std::string other = token_in(get("/lookup/192.0.2.12").body);
  EXPECT_EQ(post("ip=192.0.2.11&token=" + other).refusal, "token");
  const std::string form = form_for("192.0.2.11");
  EXPECT_EQ(post(form, "203.0.113.9").refusal, "token") << "made for another network";
  clock.advance(kDelistTokenSeconds + 1);
  EXPECT_EQ(post(form).refusal, "token") << "stale";
  // Foreign origins and wrong content types.
  const std::string fresh = form_for("192.0.2.11");
  EXPECT_EQ(post(fresh, "198.51.100.7", "https://evil.example").refusal, "origin");
  EXPECT_EQ(post(fresh, "198.51.100.7", "null").refusal, "origin");
  WebRequest json;
  json.method = "POST";
  json.target = "/delist";
  json.content_type = "application/json";
  json.body = "{}";
  json.peer = "198.51.100.7";
  EXPECT_EQ(app->handle(json).status, 415);
  EXPECT_EQ(post("ip=%zz").refusal, "bad_form");
  EXPECT_EQ(post("ip=not-an-ip").refusal, "bad_form");
  EXPECT_EQ(post(std::string(net::kMaxFormBytes + 1, 'a')).refusal, "bad_form");
  // Not listed.
  EXPECT_EQ(post(form_for("192.0.2.99")).refusal, "token") << "no listing, no form";
}

TEST_F(WebTest, TheSameSlashTwentyFourSharesTheTokenAndTheLimit) {
  hit("192.0.2.13");
  const std::string form = form_for("192.0.2.13", "198.51.100.7");
  EXPECT_TRUE(post(form, "198.51.100.200").delisted) << "the token is bound to the network";
}

TEST_F(WebTest, LimitsPerListedIpPerNetworkAndPerHour) {
  // Per listed IP: after max_self_delists, the form is gone and a post refused.
  for (std::uint32_t i = 0; i < opts.max_self_delists; ++i) {
    hit("192.0.2.20");
    ASSERT_TRUE(post(form_for("192.0.2.20", "198.51.100." + std::to_string(i + 1)),
                     "198.51.100." + std::to_string(i + 1))
                    .delisted);
  }
  opts.delists_per_network = 100;
  make();
  hit("192.0.2.20");
  auto page = get("/lookup/192.0.2.20");
  EXPECT_EQ(page.body.find("<form method=\"post\""), std::string::npos);
  EXPECT_NE(page.body.find("self-service delisting is closed"), std::string::npos);
  // Per network: a day's budget, then 429 until the window ends.
  opts.delists_per_network = 2;
  make();
  for (int i = 0; i < 3; ++i) hit("192.0.2.3" + std::to_string(i));
  EXPECT_TRUE(post(form_for("192.0.2.30", "203.0.113.1"), "203.0.113.1").delisted);
  EXPECT_TRUE(post(form_for("192.0.2.31", "203.0.113.2"), "203.0.113.2").delisted);
  auto third = post(form_for("192.0.2.32", "203.0.113.3"), "203.0.113.3");
  EXPECT_EQ(third.status, 429);
  EXPECT_EQ(third.refusal, "network_limit");
  EXPECT_TRUE(post(form_for("192.0.2.32", "192.0.2.200"), "192.0.2.200").delisted) << "another network";
  clock.advance(86400);
  hit("192.0.2.30");
  EXPECT_TRUE(post(form_for("192.0.2.30", "203.0.113.1"), "203.0.113.1").delisted) << "a new day";
  // In all: the hourly cap, whatever the networks.
  opts.delists_per_hour = 1;
  make();
  clock.advance(3600);
  hit("192.0.2.40");
  hit("192.0.2.41");
  EXPECT_TRUE(post(form_for("192.0.2.40", "198.18.0.1"), "198.18.0.1").delisted);
  EXPECT_EQ(post(form_for("192.0.2.41", "198.18.1.1"), "198.18.1.1").refusal, "global_limit");
}

TEST_F(WebTest, ForwardedForIsBelievedOnlyFromTrustedProxies) {
  WebRequest r;
  r.peer = "198.51.100.7";
  r.forwarded_for = "203.0.113.5";
  EXPECT_EQ(app->requester(r), "198.51.100.7") << "not a proxy: its header is ignored";
  r.peer = "10.0.0.2";
  EXPECT_EQ(app->requester(r), "203.0.113.5");
  r.forwarded_for = "1.2.3.4, 203.0.113.5, 10.0.0.9";
  EXPECT_EQ(app->requester(r), "203.0.113.5") << "the client forged the leftmost entry";
  r.forwarded_for = "garbage";
  EXPECT_EQ(app->requester(r), "10.0.0.2");
  r.forwarded_for = "";
  EXPECT_EQ(app->requester(r), "10.0.0.2");
  // A delisting through the proxy is counted and logged for the client.
  hit("192.0.2.50");
  std::string page_body;
  {
    WebRequest g;
    g.method = "GET";
    g.target = "/lookup/192.0.2.50";
    g.peer = "10.0.0.2";
    g.forwarded_for = "203.0.113.5";
    page_body = app->handle(g).body;
  }
  auto d = post("ip=192.0.2.50&token=" + token_in(page_body), "10.0.0.2", "", "203.0.113.5");
  EXPECT_TRUE(d.delisted);
  auto rec = store_->record_get("dnsbl:delist:192.0.2.50");
  EXPECT_NE((*rec)->find("self-service by 203.0.113.5 via 10.0.0.2"), std::string::npos);
}

TEST_F(WebTest, StoreDownIsAnAnswerNotACrash) {
  // A store that fails every call (the front end answers 503, never aborts).
  struct Down final : store::Store {
    Error e{Code::kUnavailable, "down"};
    Status ledger_put(std::string_view, const store::LedgerEntry&) override { return unexpected<Error>(e); }
    Result<std::optional<store::LedgerEntry>> ledger_get(std::string_view) override { return unexpected<Error>(e); }
    Result<std::vector<store::LedgerItem>> ledger_recent(std::size_t) override { return unexpected<Error>(e); }
    Result<std::optional<std::int64_t>> ledger_first_time() override { return unexpected<Error>(e); }
    Status correspondent_record(std::string_view, std::string_view, std::int64_t) override { return unexpected<Error>(e); }
    Result<std::optional<std::int64_t>> correspondent_last_seen(std::string_view, std::string_view) override {
      return unexpected<Error>(e);
    }
    Result<std::vector<store::Correspondent>> correspondents(std::string_view, std::size_t) override {
      return unexpected<Error>(e);
    }
    Result<std::int64_t> counter_add(std::string_view, std::int64_t, std::int64_t) override { return unexpected<Error>(e); }
    Result<bool> counter_add_if_below(std::string_view, std::int64_t, std::int64_t, std::int64_t) override {
      return unexpected<Error>(e);
    }
    Result<std::int64_t> counter_get(std::string_view) override { return unexpected<Error>(e); }
    Status record_put(std::string_view, std::string_view, std::int64_t) override { return unexpected<Error>(e); }
    Result<std::optional<std::string>> record_get(std::string_view) override { return unexpected<Error>(e); }
    Status record_erase(std::string_view) override { return unexpected<Error>(e); }
    Status records_update(std::span<const std::string>, const store::RecordUpdateFn&) override {
      return unexpected<Error>(e);
    }
    Result<store::Listing> listing_hit(std::string_view, const store::Evidence&) override { return unexpected<Error>(e); }
    Result<std::optional<store::Listing>> listing_get(std::string_view) override { return unexpected<Error>(e); }
    Status listing_put(const store::Listing&) override { return unexpected<Error>(e); }
    Result<std::vector<store::Listing>> listing_all() override { return unexpected<Error>(e); }
    Result<std::vector<store::LedgerItem>> ledger_find(const store::LedgerFind&) override { return unexpected<Error>(e); }
    Result<bool> listing_remove(std::string_view) override { return unexpected<Error>(e); }
    Status allowlist_add(std::string_view) override { return unexpected<Error>(e); }
    Result<bool> allowlist_remove(std::string_view) override { return unexpected<Error>(e); }
    Result<std::vector<std::string>> allowlist() override { return unexpected<Error>(e); }
    Result<bool> allowlisted(std::string_view) override { return unexpected<Error>(e); }
    Status apply(std::span<const store::WriteOp>) override { return unexpected<Error>(e); }
    Status export_all(store::ExportVisitor&) override { return unexpected<Error>(e); }
    Result<std::size_t> purge_expired() override { return unexpected<Error>(e); }
  } down;
  Listings l(down, clock, {}, [](std::string_view) {});
  auto a = WebApp::create(l, down, clock, redactor_, opts, random_);
  ASSERT_TRUE(a);
  WebRequest r;
  r.method = "GET";
  r.target = "/lookup/192.0.2.1";
  auto out = (*a)->handle(r);
  EXPECT_EQ(out.status, 503);
  EXPECT_EQ(out.refusal, "store");
}

TEST_F(WebTest, RequestCost) {
  // Figures for docs/dnsbl.md: a lookup page with full evidence, memory store.
  for (std::size_t i = 0; i < kMaxEvidencePerIp; ++i) {
    hit("192.0.2.77", std::string(kMaxEvidenceHeaderBytes - 100, 'h') + "\n");
  }
  constexpr int kRounds = 200;
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t bytes = 0;
  for (int i = 0; i < kRounds; ++i) bytes += get("/lookup/192.0.2.77").body.size();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
  std::printf("lookup page with %zu evidence entries: %zu bytes, %lld us per request (this build)\n",
              kMaxEvidencePerIp, bytes / kRounds, static_cast<long long>(us / kRounds));
  EXPECT_GT(bytes, 0u);
}

}  // namespace
}  // namespace backstop::dnsbl
