// Fuzzes the milter codec and session with arbitrary bytes from a "MTA":
//  1. CommandDecoder over the input split into two chunks at a data-chosen
//     point; every decoded command must survive encode -> decode unchanged;
//  2. ResponseDecoder (the MTA side) over the same bytes, same round trip;
//  3. a Session with a synchronous filter fed the bytes (after a valid OPTNEG):
//     must never crash, hang or grow without bound.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "milter/codec.h"
#include "milter/session.h"

using namespace backstop::milter;

namespace {

template <class Decoder, class T>
void round_trip_all(std::string_view in, std::size_t split) {
  Decoder d;
  d.feed(in.substr(0, split));
  bool fed_rest = false;
  for (int guard = 0; guard < 100000; ++guard) {
    auto r = d.next();
    if (!r) return;
    if (!r->has_value()) {
      if (fed_rest) return;
      d.feed(in.substr(split));
      fed_rest = true;
      continue;
    }
    const T& v = **r;
    std::string w;
    if (!encode(v, w)) std::abort();  // decoded values always re-encode
    Decoder d2;
    d2.feed(w);
    auto r2 = d2.next();
    if (!r2 || !r2->has_value() || !(**r2 == v)) std::abort();
  }
}

struct SyncFilter final : Filter {
  Needs needs() const override {
    Needs n;
    n.decide_connect = n.decide_helo = n.decide_rcpt = n.decide_header = n.decide_body = true;
    n.actions = act::kAll;
    n.macros[2] = "{auth_authen} i";
    return n;
  }
  struct H final : Handler {
    void on_rcpt(const Context&, const Recipient& r, Decide d) override {
      d(r.address.size() % 2 ? Action::reject(550, "5.7.1", r.address) : Action::cont());
    }
    void on_header(const Context&, const StoredHeader& h, Decide d) override {
      d(h.name == "Q" ? Action::quarantine(h.value) : Action::cont());
    }
    void on_eom(const Context& c, DecideEom d) override {
      EomResult r;
      r.mods.push_back(Modification::add_header("X-Test", std::to_string(c.msg.body_size)));
      if (!c.msg.sender.empty()) r.mods.push_back(Modification::change_from(c.msg.sender));
      for (const auto& rc : c.msg.rcpts) r.mods.push_back(Modification::delete_rcpt(rc.address));
      d(std::move(r));
    }
  };
  std::unique_ptr<Handler> open() override { return std::make_unique<H>(); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t split = size ? data[0] % (size + 1) : 0;
  round_trip_all<CommandDecoder, Command>(in, split);
  round_trip_all<ResponseDecoder, Response>(in, split);

  SyncFilter f;
  auto s = Session::create(f, SessionConfig{.max_body = 1024}, [](std::function<void()> fn) { fn(); });
  std::string w;
  (void)encode(Command{OptNeg{6, act::kAll, 0x1fffff}}, w);
  s->feed(w);
  s->feed(in.substr(0, split));
  s->feed(in.substr(split));
  // Whatever the session answered must itself be valid milter responses.
  ResponseDecoder rd;
  rd.feed(s->take_output());
  for (;;) {
    auto r = rd.next();
    if (!r) std::abort();
    if (!r->has_value()) break;
  }
  s->shutdown();
  return 0;
}
