// milter_load: a milter load client (the MTA side of our own codec).
//
// C concurrent connections (Asio coroutines on one thread) each negotiate
// once, then send Postfix-shaped messages back to back for S seconds:
//   D(C) CONNECT, HELO, D(M) MAIL, D(R) RCPT, HEADER x H, EOH, BODY (B bytes
//   in 64 KiB chunks), EOM, ABORT (Postfix sends it after every message).
// A reply is awaited exactly where the negotiated protocol mask says the
// filter replies (no NR_* bit). Latency of a message = first byte sent ->
// final EOM decision received, i.e. the time an MTA spends waiting on the
// milter for that message. With --reconnect every message gets its own
// connection + negotiation (Postfix: one milter connection per SMTP session).
//
// --inproc N: no sockets; N messages encoded once are fed to one in-process
// Session (a synchronous filter like milter_testd's) to measure the protocol
// code alone, per core.
//
// --idle N: open N connections, negotiate, hold them S seconds, exit (for
// measuring the server's RSS per idle connection).
//
// --nagle: leave Nagle's algorithm on for the client socket, as Postfix does
// for its milter connections; each event is its own write, as in Postfix.
// --burst: each connection writes the events it needs no reply to back to
// back, as one Postfix process (smtpd, cleanup) does, instead of yielding to
// the other connections after every write. Without it the C connections'
// writes interleave event by event (one thread of coroutines), so the filter
// sees one event per connection per wake-up, a pattern of this client only.
// --latency-log FILE: also writes one line per message, "START LATENCY
// CONNECTION" (µs from the run's start; µs; 0-based), to find when the slow
// messages of a run happened.
// --message-id: each message also carries a unique Message-ID header (real
// mail does; backstop keeps per-message facts by it).
//
// --rate R: open loop. Instead of sending back to back (closed loop, where the
// latency at C connections is C / throughput by Little's law), the C
// connections together start R messages per second on a fixed schedule
// (connection i sends its k-th message at t0 + (k*C + i)/R). Latency is then
// measured from the scheduled start, so a message that had to wait for the
// one before it counts that wait (no coordinated omission).
//
// --bounce: every message is a delivery status notification (null sender,
// multipart/report) to user@example.test quoting the Message-ID
// <load.bounced@example.org>: the filter classifies it as a bounce and
// correlates it (a ledger look-up) before it answers.
//
// --connect takes inet:HOST:PORT or unix:PATH (Postfix's local milter socket).
//
// Usage: milter_load --connect inet:127.0.0.1:PORT|unix:PATH [--concurrency C]
//        [--seconds S] [--headers H] [--body-bytes B] [--reconnect] [--idle N]
//        [--nagle] [--burst] [--message-id] [--rate R] [--bounce]
//        [--latency-log FILE]
// Prints one line: concurrency, messages, msgs/s, p50/p90/p99/max latency (µs).
#include <algorithm>
#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <unistd.h>

#include "milter/codec.h"
#include "net/listen.h"
#include "milter/session.h"

using namespace backstop::milter;
namespace net = backstop::net;
using Clock = std::chrono::steady_clock;
using asio::ip::tcp;
using Socket = asio::generic::stream_protocol::socket;
using Endpoint = asio::generic::stream_protocol::endpoint;

namespace {

struct Options {
  Endpoint ep;
  bool tcp = true;
  double rate = 0;  // > 0: open loop, messages/s over all connections
  int concurrency = 1;
  double seconds = 5;
  int headers = 10;
  std::size_t body_bytes = 2000;
  bool reconnect = false;
  int idle = 0;
  bool nagle = false;  // leave Nagle on, as Postfix does on its milter sockets
  bool burst = false;  // a connection's no-reply events back to back (--burst)
  bool message_id = false;  // every message carries its own Message-ID header
  bool bounce = false;      // every message is a DSN (see --bounce)
  std::string latency_log;  // --latency-log FILE: one line per message
};

// The header fields and body of the --bounce message.
const std::vector<std::pair<std::string, std::string>> kBounceHeaders = {
    {"From", "MAILER-DAEMON@mx.remote.example (Mail Delivery System)"},
    {"To", "user@example.test"},
    {"Subject", "Undelivered Mail Returned to Sender"},
    {"Auto-Submitted", "auto-replied"},
    {"MIME-Version", "1.0"},
    {"Content-Type", "multipart/report; report-type=delivery-status; boundary=\"b1\""},
};
const std::string kBounceBody =
    "--b1\r\nContent-Type: text/plain\r\n\r\nThis is the mail system at host mx.remote.example.\r\n\r\n"
    "I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
    "<nobody@remote.example>: user unknown\r\n\r\n"
    "--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.remote.example\r\n\r\n"
    "Final-Recipient: rfc822; nobody@remote.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
    "--b1\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: user@example.test\r\nTo: nobody@remote.example\r\n"
    "Subject: hello\r\nMessage-ID: <load.bounced@example.org>\r\n\r\n--b1--\r\n";

struct Result {
  std::vector<std::uint32_t> lat_us;
  std::vector<std::uint32_t> start_us;  // with --latency-log: each start, from the run's start
  std::uint64_t errors = 0;
};

class Peer {
 public:
  explicit Peer(asio::io_context& io) : sock_(io) {}
  asio::awaitable<bool> open(const Endpoint& ep, bool is_tcp, bool nagle = false, bool burst = false) {
    auto [ec] = co_await sock_.async_connect(ep, asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) co_return false;
    burst_ = burst;
    if (burst_) sock_.non_blocking(true);
    if (is_tcp && !nagle) sock_.set_option(tcp::no_delay(true));
    std::string w;
    const Command optneg = OptNeg{6, act::kAll, 0x1fffff};
    (void)encode(optneg, w);
    co_await asio::async_write(sock_, asio::buffer(w), asio::use_awaitable);
    auto r = co_await read();
    if (!r || !std::holds_alternative<OptNegReply>(*r)) co_return false;
    proto_ = std::get<OptNegReply>(*r).protocol;
    co_return true;
  }
  // Sends one command; waits for its reply if the filter replies to it.
  // Returns false on a protocol/IO problem or a refusal of the message.
  asio::awaitable<bool> step(const Command& c, std::uint32_t nr_flag, std::uint32_t no_flag) {
    if (proto_ & no_flag) co_return true;
    out_.clear();
    (void)encode(c, out_);
    co_await write_out();
    if (nr_flag == 0 || (proto_ & nr_flag)) co_return true;
    auto r = co_await read();
    co_return r.has_value();
  }
  asio::awaitable<bool> send_only(const Command& c) {
    out_.clear();
    (void)encode(c, out_);
    co_await write_out();
    co_return true;
  }
  // Writes out_: with --burst at once while the socket takes it (the
  // coroutine does not yield), the rest, if any, asynchronously.
  asio::awaitable<void> write_out() {
    std::size_t done = 0;
    if (burst_) {
      asio::error_code ec;
      while (done < out_.size()) {
        const std::size_t n = sock_.write_some(asio::buffer(out_.data() + done, out_.size() - done), ec);
        if (ec) break;
        done += n;
      }
      if (done == out_.size()) co_return;
    }
    co_await asio::async_write(sock_, asio::buffer(out_.data() + done, out_.size() - done), asio::use_awaitable);
  }
  // Reads responses until a final decision.
  asio::awaitable<bool> until_final() {
    for (;;) {
      auto r = co_await read();
      if (!r) co_return false;
      if (is_final(*r)) co_return true;
    }
  }
  asio::awaitable<std::optional<Response>> read() {
    for (;;) {
      auto r = dec_.next();
      if (!r) co_return std::nullopt;
      if (r->has_value()) co_return std::move(**r);
      std::size_t n = co_await sock_.async_read_some(asio::buffer(buf_), asio::use_awaitable);
      dec_.feed(std::string_view(buf_.data(), n));
    }
  }
  void close() {
    asio::error_code ec;
    sock_.close(ec);
  }

 private:
  Socket sock_;
  std::uint32_t proto_ = 0;
  bool burst_ = false;
  ResponseDecoder dec_;
  std::string out_;
  std::vector<char> buf_ = std::vector<char>(16384);
};

// Commands are built before the co_await: GCC 12 miscompiles braced
// initializer lists inside a co_await expression ("array used as initializer").
asio::awaitable<bool> one_message(Peer& p, const Options& o, const std::string& body, int n) {
  const std::string id = std::to_string(n);
  std::vector<std::pair<std::string, std::string>> cm, mm, rm;
  cm.emplace_back("j", "mx.example.test");
  cm.emplace_back("{daemon_name}", "MTA");
  cm.emplace_back("_", "client [192.0.2.1]");
  mm.emplace_back("{mail_addr}", o.bounce ? "" : "sender@example.org");
  rm.emplace_back("i", "Q" + id);
  rm.emplace_back("{rcpt_addr}", "user@example.test");
  std::vector<std::string> mail_args, rcpt_args;
  mail_args.push_back(o.bounce ? "<>" : "<sender@example.org>");
  mail_args.push_back("SIZE=" + std::to_string(body.size()));
  rcpt_args.push_back("<user@example.test>");
  const Command c_macros = MacroDef{'C', std::move(cm)};
  const Command c_conn = Connect{"client.example", '4', 40000, "192.0.2.1"};
  const Command c_helo = Helo{"client.example"};
  const Command c_mmacros = MacroDef{'M', std::move(mm)};
  const Command c_mail = Mail{std::move(mail_args)};
  const Command c_rmacros = MacroDef{'R', std::move(rm)};
  const Command c_rcpt = Rcpt{std::move(rcpt_args)};
  const Command c_data = Data{};
  const Command c_eoh = Eoh{};
  const Command c_eob = Eob{};
  const Command c_abort = Abort{};
  bool ok = co_await p.send_only(c_macros);
  ok = ok && co_await p.step(c_conn, proto::kNrConn, proto::kNoConnect);
  ok = ok && co_await p.step(c_helo, proto::kNrHelo, proto::kNoHelo);
  ok = ok && co_await p.send_only(c_mmacros);
  ok = ok && co_await p.step(c_mail, proto::kNrMail, proto::kNoMail);
  ok = ok && co_await p.send_only(c_rmacros);
  ok = ok && co_await p.step(c_rcpt, proto::kNrRcpt, proto::kNoRcpt);
  ok = ok && co_await p.step(c_data, proto::kNrData, proto::kNoData);
  if (ok && o.message_id) {
    static std::uint64_t seq = 0;  // one io thread: no data race
    // Unique across runs too (the process and its start), so that runs one
    // after another (bench/e2e/soak.sh) add records instead of replacing them.
    static const std::string run = std::to_string(::getpid()) + "." +
                                   std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
    const Command mid = Header{"Message-ID", "<load." + run + "." + std::to_string(++seq) + "." + id + "@example.org>"};
    ok = co_await p.step(mid, proto::kNrHdr, proto::kNoHdrs);
  }
  for (int h = 0; ok && h < o.headers; ++h) {
    const Command hdr = Header{"X-Load-" + std::to_string(h), "value " + id};
    ok = co_await p.step(hdr, proto::kNrHdr, proto::kNoHdrs);
  }
  for (std::size_t h = 0; ok && o.bounce && h < kBounceHeaders.size(); ++h) {
    const Command hdr = Header{kBounceHeaders[h].first, kBounceHeaders[h].second};
    ok = co_await p.step(hdr, proto::kNrHdr, proto::kNoHdrs);
  }
  ok = ok && co_await p.step(c_eoh, proto::kNrEoh, proto::kNoEoh);
  for (std::size_t off = 0; ok && off < body.size(); off += 65535) {
    const Command chunk = Body{body.substr(off, 65535)};
    ok = co_await p.step(chunk, proto::kNrBody, proto::kNoBody);
  }
  ok = ok && co_await p.send_only(c_eob);
  ok = ok && co_await p.until_final();
  ok = ok && co_await p.send_only(c_abort);
  co_return ok;
}

asio::awaitable<void> worker(asio::io_context& io, const Options& o, Clock::time_point start,
                             Clock::time_point end, int index, Result& res,
                             const std::string& body) {
  int n = 0;
  Peer* p = nullptr;
  std::unique_ptr<Peer> holder;
  asio::steady_timer pace(io);
  const auto period = std::chrono::duration<double>(o.rate > 0 ? o.concurrency / o.rate : 0);
  const auto phase = std::chrono::duration<double>(o.rate > 0 ? index / o.rate : 0);
  try {
    while (Clock::now() < end) {
      auto t0 = Clock::now();
      if (o.rate > 0) {
        const auto due = start + std::chrono::duration_cast<Clock::duration>(phase + n * period);
        if (due >= end) break;
        if (due > t0) {
          pace.expires_at(due);
          co_await pace.async_wait(asio::use_awaitable);
        }
        t0 = due;  // a late start counts toward this message's latency
      }
      if (!p) {
        holder = std::make_unique<Peer>(io);
        p = holder.get();
        if (!co_await p->open(o.ep, o.tcp, o.nagle, o.burst)) {
          ++res.errors;
          co_return;
        }
      }
      const bool ok = co_await one_message(*p, o, body, n++);
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
      if (!ok) {
        ++res.errors;
        co_return;
      }
      res.lat_us.push_back(static_cast<std::uint32_t>(us));
      if (!o.latency_log.empty()) {
        res.start_us.push_back(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(t0 - start).count()));
      }
      if (o.reconnect) {
        const Command quit = Quit{};
        (void)co_await p->send_only(quit);
        p->close();
        p = nullptr;
      }
    }
    if (p) {
      const Command quit = Quit{};
      (void)co_await p->send_only(quit);
      p->close();
    }
  } catch (const std::exception& e) {
    ++res.errors;
    std::fprintf(stderr, "milter_load: %s\n", e.what());
  }
}

asio::awaitable<void> idle_holder(asio::io_context& io, const Options& o, Result& res,
                                  std::vector<std::unique_ptr<Peer>>& peers) {
  for (int i = 0; i < o.idle; ++i) {
    auto p = std::make_unique<Peer>(io);
    if (!co_await p->open(o.ep, o.tcp, o.nagle, o.burst)) {
      ++res.errors;
      break;
    }
    peers.push_back(std::move(p));
  }
  std::printf("holding %zu idle negotiated connections\n", peers.size());
  std::fflush(stdout);
  asio::steady_timer t(io, std::chrono::milliseconds(static_cast<long>(o.seconds * 1000)));
  co_await t.async_wait(asio::use_awaitable);
  for (auto& p : peers) p->close();
}

// Same decisions as milter_testd's default mode, synchronous.
struct InprocFilter final : Filter {
  Needs needs() const override {
    Needs n;
    n.decide_rcpt = true;
    n.actions = act::kAddHdrs | act::kChgFrom;
    return n;
  }
  struct H final : Handler {
    void on_rcpt(const Context&, const Recipient& r, Decide d) override {
      d(r.address.starts_with("<reject@") ? Action::reject(550, "5.7.1", "no") : Action::cont());
    }
    void on_eom(const Context& c, DecideEom d) override {
      EomResult r;
      r.mods.push_back(Modification::add_header("X-Backstop-Test", "seen; size=" + std::to_string(c.msg.body_size)));
      d(std::move(r));
    }
  };
  std::unique_ptr<Handler> open() override { return std::make_unique<H>(); }
};

int inproc(const Options& o, int n) {
  std::string body;
  while (body.size() < o.body_bytes) body += "This is a line of a load-test message body.\r\n";
  body.resize(o.body_bytes);
  std::string msg;  // one message as Postfix sends it with our NR flags
  auto add = [&](const Command& c) { (void)encode(c, msg); };
  std::vector<std::pair<std::string, std::string>> cm{{"j", "mx.example.test"}, {"_", "client [192.0.2.1]"}};
  add(MacroDef{'C', cm});
  add(Connect{"client.example", '4', 40000, "192.0.2.1"});
  add(Helo{"client.example"});
  add(Mail{{"<sender@example.org>", "SIZE=2000"}});
  add(Rcpt{{"<user@example.test>"}});
  for (int h = 0; h < o.headers; ++h) add(Header{"X-Load-" + std::to_string(h), "value"});
  for (std::size_t off = 0; off < body.size(); off += 65535) add(Body{body.substr(off, 65535)});
  add(Eob{});
  add(Abort{});
  InprocFilter f;
  auto s = Session::create(f, SessionConfig{}, [](std::function<void()> fn) { fn(); });
  std::string w;
  (void)encode(Command{OptNeg{6, act::kAll, 0x1fffff}}, w);
  s->feed(w);
  (void)s->take_output();
  std::size_t out_bytes = 0;
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    s->feed(msg);
    out_bytes += s->take_output().size();
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("inproc messages=%d seconds=%.3f msgs_per_s=%.0f us_per_msg=%.2f in_bytes_per_msg=%zu "
              "out_bytes_per_msg=%zu\n",
              n, secs, n / secs, secs * 1e6 / n, msg.size(), out_bytes / static_cast<std::size_t>(n));
  return s->closed() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string connect = "inet:127.0.0.1:8895";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--connect") connect = val();
    else if (a == "--concurrency") o.concurrency = std::stoi(val());
    else if (a == "--seconds") o.seconds = std::stod(val());
    else if (a == "--headers") o.headers = std::stoi(val());
    else if (a == "--body-bytes") o.body_bytes = std::stoul(val());
    else if (a == "--reconnect") o.reconnect = true;
    else if (a == "--nagle") o.nagle = true;
    else if (a == "--burst") o.burst = true;
    else if (a == "--message-id") o.message_id = true;
    else if (a == "--bounce") o.bounce = true;
    else if (a == "--idle") o.idle = std::stoi(val());
    else if (a == "--rate") o.rate = std::stod(val());
    else if (a == "--latency-log") o.latency_log = val();
    else if (a == "--inproc") return inproc(o, std::stoi(val()));
    else {
      std::fprintf(stderr, "milter_load: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  auto spec = net::parse_listen(connect);
  if (!spec) {
    std::fprintf(stderr, "milter_load: --connect needs inet:HOST:PORT or unix:PATH\n");
    return 2;
  }
  if (spec->kind == net::ListenSpec::Kind::kInet) {
    o.ep = Endpoint(tcp::endpoint(asio::ip::make_address(spec->host), spec->port));
  } else {
    o.tcp = false;
    o.ep = Endpoint(asio::local::stream_protocol::endpoint(spec->path));
  }
  asio::io_context io(1);
  if (o.idle > 0) {
    Result res;
    std::vector<std::unique_ptr<Peer>> peers;
    asio::co_spawn(io, idle_holder(io, o, res, peers), asio::detached);
    io.run();
    return res.errors ? 1 : 0;
  }
  std::string body;
  while (body.size() < o.body_bytes) body += "This is a line of a load-test message body.\r\n";
  body.resize(o.body_bytes);
  if (o.bounce) body = kBounceBody;
  std::vector<Result> results(static_cast<std::size_t>(o.concurrency));
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::milliseconds(static_cast<long>(o.seconds * 1000));
  for (int i = 0; i < o.concurrency; ++i) {
    asio::co_spawn(io, worker(io, o, t0, end, i, results[static_cast<std::size_t>(i)], body),
                   asio::detached);
  }
  io.run();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<std::uint32_t> all;
  std::uint64_t errors = 0;
  for (auto& r : results) {
    all.insert(all.end(), r.lat_us.begin(), r.lat_us.end());
    errors += r.errors;
  }
  if (!o.latency_log.empty()) {
    std::FILE* f = std::fopen(o.latency_log.c_str(), "w");
    if (!f) {
      std::fprintf(stderr, "milter_load: cannot write %s\n", o.latency_log.c_str());
      return 2;
    }
    for (std::size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      for (std::size_t k = 0; k < r.start_us.size(); ++k) {
        std::fprintf(f, "%u %u %zu\n", r.start_us[k], r.lat_us[k], i);
      }
    }
    const bool write_failed = std::ferror(f) != 0;
    if (std::fclose(f) != 0 || write_failed) {  // a short log would mislead its reader
      std::fprintf(stderr, "milter_load: writing %s failed\n", o.latency_log.c_str());
      return 2;
    }
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double q) -> std::uint32_t {
    if (all.empty()) return 0;
    return all[std::min(all.size() - 1, static_cast<std::size_t>(q * static_cast<double>(all.size())))];
  };
  if (o.rate > 0) std::printf("offered_rate=%.0f ", o.rate);
  std::printf("concurrency=%d reconnect=%d messages=%zu seconds=%.2f msgs_per_s=%.0f "
              "p50_us=%u p90_us=%u p99_us=%u max_us=%u errors=%llu\n",
              o.concurrency, o.reconnect ? 1 : 0, all.size(), secs,
              static_cast<double>(all.size()) / secs, pct(0.50), pct(0.90), pct(0.99),
              all.empty() ? 0 : all.back(), static_cast<unsigned long long>(errors));
  return errors ? 1 : 0;
}
