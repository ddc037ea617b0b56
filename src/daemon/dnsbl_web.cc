#include "daemon/dnsbl_web.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "common/random.h"
#include "common/text.h"
#include "dnsbl/evidence.h"
#include "dnsbl/listings.h"
#include "dnsbl/settings.h"
#include "dnsbl/web.h"
#include "net/form.h"
#include "net/http_head.h"
#include "net/listen.h"
#include "net/protocol.h"

namespace backstop::daemon {
namespace {

constexpr std::string_view kKey = "dnsbl.web.listen";

std::string response(int status, const dnsbl::WebResponse& w) {
  std::string out = "HTTP/1.0 " + std::to_string(status) + " " + std::string(dnsbl::status_text(status)) + "\r\n";
  out += "Content-Type: " + (w.content_type.empty() ? std::string("text/plain; charset=utf-8") : w.content_type) +
         "\r\n";
  out += "Content-Length: " + std::to_string(w.body.size()) + "\r\n";
  if (!w.allow.empty()) out += "Allow: " + w.allow + "\r\n";
  out += dnsbl::security_headers();
  out += "Connection: close\r\n\r\n";
  out += w.body;
  return out;
}

dnsbl::WebResponse plain(int status, std::string_view page, std::string body) {
  dnsbl::WebResponse w;
  w.status = status;
  w.content_type = "text/plain; charset=utf-8";
  w.body = std::move(body);
  w.page = page;
  return w;
}

Result<std::string> read_policy(const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Code::kEnvironment, "dnsbl.web.policy_file: cannot read " + path);
  std::string out(dnsbl::kMaxPolicyBytes + 1, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<std::size_t>(in.gcount()));
  if (out.size() > dnsbl::kMaxPolicyBytes) {
    return fail(Code::kEnvironment, "dnsbl.web.policy_file: " + path + " is larger than 64 KiB");
  }
  return out;
}

// The TCP peer's address, or "" for a unix socket or a failed lookup.
std::string peer_of(net::Conn& c) {
  if (!c.tcp()) return {};
  asio::error_code ec;
  auto remote = c.sock.remote_endpoint(ec);
  if (ec) return {};
  asio::ip::tcp::endpoint te;
  if (remote.size() > te.capacity()) return {};
  std::memcpy(te.data(), remote.data(), remote.size());
  te.resize(remote.size());
  return te.address().to_string();
}

class Web final : public DnsblWeb {
 public:
  Web(store::Store& store, const Clock& clock, Metrics* metrics, std::function<void(std::string_view)> log,
      dnsbl::ListingPolicy policy, dnsbl::Redactor redactor)
      : store_(store),
        metrics_(metrics),
        log_(std::move(log)),
        listings_(store, clock, policy, [this](std::string_view l) { say(l); }),
        redactor_(std::move(redactor)) {}
  ~Web() override {
    if (server_) {
      server_->stop();
      server_->wait();
    }
  }

  Status open(const config::Config& cfg, const Clock& clock, std::shared_ptr<net::Listening> bound) {
    dnsbl::WebOptions wo;
    wo.zone = cfg.get_string("dnsbl.web.zone");
    wo.contact = cfg.get_string("dnsbl.web.contact");
    auto policy = read_policy(cfg.get_string("dnsbl.web.policy_file"));
    BACKSTOP_TRY(policy);
    wo.policy_text = std::move(*policy);
    for (const auto& p : cfg.get_list("dnsbl.web.trusted_proxies")) {
      auto n = ip::parse_network(p);
      if (!n) return fail(Code::kInvalidArgument, "dnsbl.web.trusted_proxies: " + n.error().message());
      wo.trusted_proxies.push_back(*n);
    }
    wo.delists_per_network = cfg.get_int("dnsbl.web.delists_per_network");
    wo.delists_per_hour = cfg.get_int("dnsbl.web.delists_per_hour");
    wo.max_self_delists = static_cast<std::uint32_t>(cfg.get_int("dnsbl.web.max_self_delists"));
    wo.export_interval_seconds = cfg.get_int("dnsbl.web.export_interval");
    auto app = dnsbl::WebApp::create(listings_, store_, clock, redactor_, std::move(wo), secure_random(),
                                     [this](std::string_view l) { say(l); });
    BACKSTOP_TRY(app);
    app_ = std::move(*app);
    if (!bound) {
      auto b = DnsblWeb::bind(cfg);
      BACKSTOP_TRY(b);
      bound = std::move(*b);
    }
    net::ServerOptions so = net::defaults("web", kWebRequestTimeout);
    so.bound = std::move(bound);
    so.threads = kWebThreads;
    so.max_connections = static_cast<std::size_t>(cfg.get_int("dnsbl.web.max_connections"));
    so.allow_networks = cfg.get_list("dnsbl.web.allow_clients");
    so.log = log_;
    auto s = net::create_server(std::move(so), [this](std::shared_ptr<net::Conn> c) { return serve(std::move(c)); });
    if (!s) return fail(s.error().code(), std::string(kKey) + ": " + s.error().message());
    server_ = std::move(*s);
    server_->start();
    return {};
  }

  std::string endpoint() const override { return server_ ? server_->endpoints().front() : std::string(); }
  void stop() override {
    if (server_) server_->stop();
  }
  net::ServerStats stats() const override { return server_ ? server_->stats() : net::ServerStats{}; }

 private:
  void say(std::string_view line) const {
    if (log_) log_("dnsbl web: " + std::string(line));
  }

  // Reads the head, and for a POST its body; answers; closes.
  asio::awaitable<void> serve(std::shared_ptr<net::Conn> c) {
    c->set_timeout(kWebRequestTimeout);
    std::string buf;
    auto [ec, n] = co_await asio::async_read_until(c->sock, asio::dynamic_buffer(buf, kMaxWebRequestHead),
                                                   "\r\n\r\n", net::kTok);
    if (c->timed_out() || c->closing()) co_return;
    // A drain waits for a request being answered, not for an idle client.
    c->busy = [] { return true; };
    if (ec) {
      if (ec == asio::error::not_found) co_await answer(*c, plain(400, "bad_request", "request head too large\n"));
      co_return;  // the peer went away
    }
    const std::string head = buf.substr(0, n);
    std::string body = buf.substr(n);
    dnsbl::WebRequest req;
    auto line = net::parse_request_line(head);
    auto host = net::header_value(head, "Host");
    auto origin = net::header_value(head, "Origin");
    auto ctype = net::header_value(head, "Content-Type");
    auto xff = net::header_value(head, "X-Forwarded-For");
    if (!line || !host || !origin || !ctype || !xff) {
      server_->note_protocol_error("malformed request head");
      co_await answer(*c, plain(400, "bad_request", "bad request\n"));
      co_return;
    }
    req.method = line->method;
    req.target = line->target;
    req.host = host->value_or("");
    req.origin = origin->value_or("");
    req.content_type = ctype->value_or("");
    req.forwarded_for = xff->value_or("");
    req.peer = peer_of(*c);
    if (req.method == "POST") {
      auto len = net::content_length(head);
      if (!len || !*len) {
        co_await answer(*c, plain(400, "bad_request", "a POST needs a Content-Length\n"));
        co_return;
      }
      if (**len > net::kMaxFormBytes) {
        co_await answer(*c, plain(413, "bad_request", "form too large\n"));
        co_return;
      }
      const auto want = static_cast<std::size_t>(**len);
      if (body.size() < want) {
        const std::size_t missing = want - body.size();
        auto [rec, rn] = co_await asio::async_read(c->sock, asio::dynamic_buffer(body, want),
                                                   asio::transfer_exactly(missing), net::kTok);
        (void)rn;
        if (rec || c->timed_out() || c->closing()) co_return;
      }
      body.resize(want);
      req.body = body;
    }
    dnsbl::WebResponse w;
    try {
      w = app_->handle(req);
    } catch (const std::exception& e) {
      server_->note_exception(e.what());
      w = plain(503, "error", "internal error\n");
    }
    if (metrics_) {
      if (w.delisted) metrics_->dnsbl_web_delisting();
      if (!w.refusal.empty()) metrics_->dnsbl_web_refusal(w.refusal);
    }
    co_await answer(*c, std::move(w));
  }

  asio::awaitable<void> answer(net::Conn& c, dnsbl::WebResponse w) {
    if (metrics_) metrics_->dnsbl_web_request(w.page, w.status);
    server_->note_request();
    const std::string out = response(w.status, w);
    if (co_await c.write(out, kWebRequestTimeout)) {
      asio::error_code ignored;
      c.sock.shutdown(net::Socket::shutdown_both, ignored);
    }
  }

  store::Store& store_;
  Metrics* metrics_;
  std::function<void(std::string_view)> log_;
  dnsbl::Listings listings_;
  dnsbl::Redactor redactor_;
  std::unique_ptr<dnsbl::WebApp> app_;
  std::unique_ptr<net::Server> server_;
};

}  // namespace

Result<std::shared_ptr<net::Listening>> DnsblWeb::bind(const config::Config& cfg) {
  const std::string& listen = cfg.get_string(std::string(kKey));
  auto hp = net::split_host_port(listen);
  if (!hp) return fail(Code::kInvalidArgument, std::string(kKey) + ": " + hp.error().message());
  net::ListenSpec spec;
  spec.host = hp->first;
  spec.port = hp->second;
  auto l = net::Listening::bind("web", {spec.to_string()}, 0);
  if (!l) return fail(l.error().code(), std::string(kKey) + ": " + l.error().message());
  return l;
}

Result<std::unique_ptr<DnsblWeb>> DnsblWeb::start(const config::Config& cfg, store::Store& store, const Clock& clock,
                                                  Metrics* metrics, std::shared_ptr<net::Listening> bound,
                                                  std::function<void(std::string_view)> log) {
  auto web = std::make_unique<Web>(store, clock, metrics, std::move(log), dnsbl::listing_policy(cfg),
                                   dnsbl::Redactor(cfg.get_list("trap.addresses"), cfg.get_list("trap.domains")));
  BACKSTOP_TRY(web->open(cfg, clock, std::move(bound)));
  return std::unique_ptr<DnsblWeb>(std::move(web));
}

}  // namespace backstop::daemon
