#include "audit/probe.h"

// GCC 12 reports Asio's coroutine frame operator delete as mismatched with
// its operator new when a coroutine uses awaitable_operators (a known false
// positive of the middle end, as with -Wnull-dereference in Backstop.cmake);
// this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>

#include "classify/classifier.h"
#include "common/text.h"
#include "dnsbl/cares_resolver.h"
#include "dnsbl/dns_answer.h"
#include "mail/envelope.h"
#include "mail/message.h"

namespace backstop::audit {
namespace {

using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;
constexpr auto kTok = asio::experimental::as_tuple(asio::use_awaitable);

std::string seconds(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

struct State {
  const ProbeOptions& o;
  ProbeRun run;
  ProbeDialogue dialogue;
  asio::steady_timer* wait = nullptr;  // the capture wait; cancelled when the bounce arrives
  std::optional<Clock::time_point> sent_at;
  std::size_t sessions = 0;
  asio::io_context* io = nullptr;
  // Built before the probe starts (compiling the rules takes a while), so
  // the time to the bounce is the server's, not ours.
  std::unique_ptr<classify::Classifier> classifier;
  State(const ProbeOptions& opts) : o(opts), dialogue(opts.plan) {}

  // A message reached the receiver: is it the bounce of the probe?
  void consider(const CapturedMessage& m) {
    if (!run.capture || run.capture->bounce_received) return;
    const bool to_us = std::any_of(m.rcpts.begin(), m.rcpts.end(),
                                   [&](const std::string& r) { return text::iequals(r, o.plan.capture_sender); });
    if (!to_us || m.data.find(o.plan.random_local) == std::string::npos) return;
    auto& c = *run.capture;
    c.bounce_received = true;
    c.envelope_from = m.mail_from;
    const auto now = Clock::now();
    c.seconds = std::chrono::duration<double>(now - sent_at.value_or(now)).count();
    c.kind = "unparsed";
    if (classifier) {
      if (auto msg = mail::parse_message(m.data)) {
        mail::Envelope env;
        env.known = true;
        env.mail_from = m.mail_from;
        env.rcpts = m.rcpts;
        const auto v = classifier->classify(*msg, env);
        c.kind = std::string(classify::kind_name(v.kind));
        c.confidence = v.confidence;
        for (const auto& r : v.refs.recipients) {
          // One line: folded diagnostics keep their runs of spaces otherwise.
          for (char ch : r.status + (r.diagnostic.empty() ? "" : " " + r.diagnostic)) {
            if (text::is_space(ch)) {
              if (!c.status.empty() && c.status.back() != ' ') c.status += ' ';
            } else {
              c.status += ch;
            }
          }
          break;
        }
      }
    }
    if (wait != nullptr) wait->cancel();
  }
};

asio::awaitable<bool> write_all(tcp::socket& s, std::string_view data, std::chrono::milliseconds timeout) {
  asio::steady_timer t(s.get_executor());
  t.expires_after(timeout);
  auto r = co_await (asio::async_write(s, asio::buffer(data), kTok) || t.async_wait(kTok));
  if (r.index() == 1) co_return false;
  co_return !std::get<0>(std::get<0>(r));
}

asio::awaitable<void> serve_capture(State& st, tcp::socket s) {
  ++st.sessions;
  ReceiverSession rs;
  std::array<char, 4096> buf;
  if (co_await write_all(s, rs.greeting("capture.backstop-audit"), st.o.step_timeout)) {
    while (!rs.closed()) {
      asio::steady_timer t(s.get_executor());
      t.expires_after(st.o.step_timeout);
      auto r = co_await (s.async_read_some(asio::buffer(buf), kTok) || t.async_wait(kTok));
      if (r.index() == 1) break;
      auto [ec, n] = std::get<0>(r);
      if (ec) break;
      const std::string out = rs.feed(std::string_view(buf.data(), n));
      for (const auto& m : rs.take_messages()) st.consider(m);
      if (!out.empty() && !co_await write_all(s, out, st.o.step_timeout)) break;
    }
  }
  asio::error_code ignored;
  s.close(ignored);
  --st.sessions;
}

asio::awaitable<void> accept_loop(State& st, tcp::acceptor& acc) {
  for (;;) {
    auto [ec, s] = co_await acc.async_accept(kTok);
    if (ec) co_return;
    if (st.sessions >= kMaxCaptureConnections) {
      asio::error_code ignored;
      s.close(ignored);
      continue;
    }
    asio::co_spawn(acc.get_executor(), serve_capture(st, std::move(s)), asio::detached);
  }
}

asio::awaitable<void> client(State& st, tcp::acceptor* acc) {
  auto ex = co_await asio::this_coro::executor;
  const auto step = st.o.step_timeout;
  asio::steady_timer timer(ex);
  tcp::resolver resolver(ex);
  tcp::socket sock(ex);
  bool connected = false;
  {
    timer.expires_after(step);
    auto rr = co_await (resolver.async_resolve(st.o.host, std::to_string(st.o.port), kTok) || timer.async_wait(kTok));
    if (rr.index() == 1) {
      st.run.error = "resolving " + st.o.host + " took longer than " + seconds(step);
    } else if (auto [ec, results] = std::get<0>(rr); ec) {
      st.run.error = "cannot resolve " + st.o.host + ": " + ec.message();
    } else {
      timer.expires_after(step);
      auto cr = co_await (asio::async_connect(sock, results, kTok) || timer.async_wait(kTok));
      if (cr.index() == 1) {
        st.run.error = "connecting to " + st.o.host + " took longer than " + seconds(step);
      } else if (auto [cec, ep] = std::get<0>(cr); cec) {
        st.run.error = "cannot connect to " + st.o.host + ":" + std::to_string(st.o.port) + ": " + cec.message();
      } else {
        connected = true;
        st.run.connected_to = (ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string()) +
                              ":" + std::to_string(ep.port());
      }
    }
  }
  if (connected) {
    ReplyParser parser;
    std::vector<Reply> replies;
    std::array<char, 4096> buf;
    while (!st.dialogue.done()) {
      timer.expires_after(step);
      auto r = co_await (sock.async_read_some(asio::buffer(buf), kTok) || timer.async_wait(kTok));
      if (r.index() == 1) {
        st.dialogue.abort("no reply within " + seconds(step));
        break;
      }
      auto [ec, n] = std::get<0>(r);
      if (ec) {
        st.dialogue.abort(ec == asio::error::eof ? "the server closed the connection" : "connection lost: " + ec.message());
        break;
      }
      replies.clear();
      if (auto ps = parser.feed(std::string_view(buf.data(), n), &replies); !ps) {
        for (const auto& rep : replies) (void)st.dialogue.on_reply(rep);
        st.dialogue.abort("unusable reply: " + ps.error().message());
        break;
      }
      for (const auto& rep : replies) {
        const std::string out = st.dialogue.on_reply(rep);
        if (st.dialogue.message_sent() && !st.sent_at) st.sent_at = Clock::now();
        if (!out.empty() && !co_await write_all(sock, out, step)) {
          st.dialogue.abort("cannot send within " + seconds(step));
          break;
        }
        if (st.dialogue.done()) break;
      }
    }
    asio::error_code ignored;
    sock.close(ignored);
  }
  st.run.outcome = st.dialogue.outcome();
  if (st.run.capture) {
    st.run.capture->message_sent = st.dialogue.message_sent();
    if (st.run.capture->message_sent && !st.run.capture->bounce_received) {
      asio::steady_timer wait(ex);
      st.wait = &wait;
      wait.expires_at(*st.sent_at + st.o.capture_wait);
      (void)co_await wait.async_wait(kTok);
      st.wait = nullptr;
    }
    st.run.capture->waited_seconds =
        st.sent_at ? std::chrono::duration<double>(Clock::now() - *st.sent_at).count() : 0.0;
  }
  if (acc != nullptr) {
    asio::error_code ignored;
    acc->close(ignored);
  }
  st.io->stop();  // capture sessions still open end here
}

}  // namespace

ProbeRun run_probe(const ProbeOptions& o) {
  asio::io_context io;
  auto st = std::make_unique<State>(o);
  st->io = &io;
  std::optional<tcp::acceptor> acc;
  if (o.plan.capture) {
    st->run.capture = CaptureResult{};
    asio::error_code ec;
    const auto addr = asio::ip::make_address(o.capture_address, ec);
    if (ec) {
      st->run.error = "capture address is not an IP address: " + o.capture_address;
      return std::move(st->run);
    }
    acc.emplace(io);
    const tcp::endpoint ep(addr, o.capture_port);
    acc->open(ep.protocol(), ec);
    if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      st->run.error = "cannot listen on " + o.capture_address + ":" + std::to_string(o.capture_port) + ": " + ec.message();
      return std::move(st->run);
    }
    if (auto rules = classify::builtin_rules()) st->classifier = std::make_unique<classify::Classifier>(*rules);
    asio::co_spawn(io, accept_loop(*st, *acc), asio::detached);
  }
  asio::co_spawn(io, client(*st, acc ? &*acc : nullptr), asio::detached);
  io.run();
  ProbeRun out = std::move(st->run);
  return out;
}

Result<std::string> random_local_part(Random& r) {
  std::array<std::uint8_t, 8> b{};
  if (auto s = r.fill(b); !s) return unexpected<Error>(std::move(s).error());
  std::string out = kProbeRecipientPrefix;
  static constexpr char kHex[] = "0123456789abcdef";
  for (auto c : b) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string probe_message(const ProbePlan& plan, std::string_view date) {
  const std::string to = plan.random_local + "@" + plan.domain;
  return "From: <" + plan.capture_sender + ">\r\n" + "To: <" + to + ">\r\n" +
         "Subject: backstop audit probe " + plan.random_local + "\r\n" + "Date: " + std::string(date) + "\r\n" +
         "Message-ID: <" + plan.random_local + "@" + plan.helo + ">\r\n" + "MIME-Version: 1.0\r\n" +
         "Content-Type: text/plain; charset=us-ascii\r\n\r\n" +
         "This message was sent by `backstop audit smtp --capture` run by the postmaster of " + plan.domain +
         "\r\nto a recipient that does not exist (" + to + "), to see whether the server\r\n" +
         "bounces such mail after accepting it. Token: " + plan.random_local + "\r\n";
}

Result<std::vector<MxHost>> resolve_mx(const std::string& domain, const MxOptions& o) {
  asio::io_context io;
  dnsbl::CaresOptions co;
  co.server = o.dns_server;
  co.port = o.dns_port;
  co.timeout = o.timeout;
  co.tries = 2;
  auto resolver = dnsbl::make_cares_resolver(io.get_executor(), co);
  if (!resolver) return unexpected<Error>(std::move(resolver).error());
  std::optional<Error> error;
  std::vector<MxHost> hosts;
  std::size_t pending = 0;

  auto lookup_a = [&](std::size_t idx) {
    ++pending;
    const std::string name = hosts[idx].name;
    (*resolver)->query(name, dnsbl::kTypeA, [&, idx, name](dnsbl::ResolveReply r) {
      --pending;
      if (!r) return;  // a host without an address is skipped (reported below if none has one)
      auto a = dnsbl::parse_dns_answer(*r, name, dnsbl::kTypeA);
      if (!a) return;
      for (const auto& ip : a->a) {
        hosts[idx].addresses.push_back(std::to_string(ip[0]) + "." + std::to_string(ip[1]) + "." +
                                       std::to_string(ip[2]) + "." + std::to_string(ip[3]));
      }
    });
  };

  ++pending;
  (*resolver)->query(domain, dnsbl::kTypeMx, [&](dnsbl::ResolveReply r) {
    --pending;
    if (!r) {
      error = Error(Code::kUnavailable, "MX lookup of " + domain + ": " + r.error().detail);
      return;
    }
    auto a = dnsbl::parse_dns_answer(*r, domain, dnsbl::kTypeMx);
    if (!a) {
      error = Error(Code::kMalformed, "MX answer for " + domain + ": " + a.error().message());
      return;
    }
    if (a->rcode == dnsbl::kRcodeNxDomain) {
      error = Error(Code::kNotFound, domain + " does not exist (NXDOMAIN)");
      return;
    }
    if (a->rcode != dnsbl::kRcodeNoError || a->truncated) {
      error = Error(Code::kUnavailable, "MX lookup of " + domain + " failed (RCODE " + std::to_string(a->rcode) + ")");
      return;
    }
    auto mx = a->mx;
    std::stable_sort(mx.begin(), mx.end(), [](const auto& x, const auto& y) { return x.preference < y.preference; });
    if (mx.size() == 1 && mx[0].exchange.empty()) {
      error = Error(Code::kNotFound, domain + " publishes a null MX (RFC 7505): it takes no mail");
      return;
    }
    if (mx.empty()) mx.push_back(dnsbl::MxRecord{0, domain});  // implicit MX
    for (const auto& m : mx) {
      if (hosts.size() >= kMaxMxHosts || m.exchange.empty()) continue;
      hosts.push_back(MxHost{m.preference, m.exchange, {}});
    }
    for (std::size_t i = 0; i < hosts.size(); ++i) lookup_a(i);
  });
  io.run_for(o.timeout * 3);
  if (error) return unexpected<Error>(std::move(*error));
  if (pending > 0) return fail(Code::kUnavailable, "DNS lookups for " + domain + " did not finish in time");
  std::erase_if(hosts, [](const MxHost& h) { return h.addresses.empty(); });
  if (hosts.empty()) return fail(Code::kNotFound, "no MX host of " + domain + " has an IPv4 address");
  return hosts;
}

}  // namespace backstop::audit
