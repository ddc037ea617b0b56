#include "dnsbl/cares_resolver.h"

#include <ares.h>
#include <arpa/inet.h>

#include <asio/post.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>

#include <memory>
#include <mutex>
#include <unordered_map>

namespace backstop::dnsbl {
namespace {

// One socket c-ares told us about.
struct Watch {
  explicit Watch(const asio::any_io_executor& ex, ares_socket_t s) : sd(ex), fd(s) {}
  asio::posix::stream_descriptor sd;
  ares_socket_t fd;
  bool want_read = false;
  bool want_write = false;
  bool read_armed = false;
  bool write_armed = false;
  bool alive = true;
};

struct PendingQuery;

class CaresResolver final : public Resolver {
 public:
  CaresResolver(asio::any_io_executor ex) : ex_(std::move(ex)), timer_(ex_) {}
  ~CaresResolver() override;

  Status init(const CaresOptions& o);
  void query(const std::string& name, std::uint16_t qtype, ResolveHandler handler) override;

 private:
  static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable);
  static void on_answer(void* arg, int status, int timeouts, unsigned char* abuf, int alen);
  void arm(const std::shared_ptr<Watch>& w);
  void reschedule();

  asio::any_io_executor ex_;
  asio::steady_timer timer_;
  ares_channel channel_ = nullptr;
  std::unordered_map<ares_socket_t, std::shared_ptr<Watch>> watches_;
  // Cleared in the destructor: asynchronous handlers check it before touching `this`.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool destroying_ = false;
};

struct PendingQuery {
  CaresResolver* owner;
  ResolveHandler handler;
  std::shared_ptr<bool> alive;
};

void library_init() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

CaresResolver::~CaresResolver() {
  destroying_ = true;
  *alive_ = false;
  timer_.cancel();
  if (channel_ != nullptr) ares_destroy(channel_);  // runs callbacks with ARES_EDESTRUCTION
  for (auto& [fd, w] : watches_) {
    w->alive = false;
    w->sd.release();
  }
}

Status CaresResolver::init(const CaresOptions& o) {
  library_init();
  ares_options opts{};
  int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
  // NOCHECKRESP: hand SERVFAIL/REFUSED answers to us instead of failing over.
  opts.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_NOSEARCH;
  if (!o.tcp_on_truncation) opts.flags |= ARES_FLAG_IGNTC;
  const int tries = o.tries < 1 ? 1 : o.tries;
  // c-ares doubles the per-try timeout each round: t + 2t + 4t ... = total.
  const long long total = o.timeout.count() < 1 ? 1 : o.timeout.count();
  const long long per_try = total / ((1LL << tries) - 1);
  opts.timeout = static_cast<int>(per_try < 1 ? 1 : per_try);
  opts.tries = tries;
  opts.sock_state_cb = &CaresResolver::on_sock_state;
  opts.sock_state_cb_data = this;
  if (int rc = ares_init_options(&channel_, &opts, mask); rc != ARES_SUCCESS) {
    channel_ = nullptr;
    return fail(Code::kEnvironment, std::string("c-ares init: ") + ares_strerror(rc));
  }
  if (!o.server.empty()) {
    unsigned char buf[16];
    std::string csv;
    if (inet_pton(AF_INET, o.server.c_str(), buf) == 1) {
      csv = o.server + ":" + std::to_string(o.port);
    } else if (inet_pton(AF_INET6, o.server.c_str(), buf) == 1) {
      csv = "[" + o.server + "]:" + std::to_string(o.port);
    } else {
      return fail(Code::kInvalidArgument, "DNS resolver address is not an IP literal: " + o.server);
    }
    if (int rc = ares_set_servers_ports_csv(channel_, csv.c_str()); rc != ARES_SUCCESS) {
      return fail(Code::kInvalidArgument, "DNS resolver " + csv + ": " + ares_strerror(rc));
    }
  }
  return {};
}

void CaresResolver::query(const std::string& name, std::uint16_t qtype, ResolveHandler handler) {
  unsigned char* buf = nullptr;
  int len = 0;
  int rc = ares_create_query(name.c_str(), 1 /* IN */, qtype, 0, 1, &buf, &len, 0);
  if (rc != ARES_SUCCESS) {
    asio::post(ex_, [h = std::move(handler), msg = std::string(ares_strerror(rc))] {
      h(ResolveReply(unexpected<ResolveError>(ResolveError{LookupError::kOther, "query: " + msg})));
    });
    return;
  }
  auto* pending = new PendingQuery{this, std::move(handler), alive_};
  ares_send(channel_, buf, len, &CaresResolver::on_answer, pending);
  ares_free_string(buf);
  reschedule();
}

void CaresResolver::on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  std::unique_ptr<PendingQuery> p(static_cast<PendingQuery*>(arg));
  if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED || !*p->alive) return;
  ResolveReply reply = [&]() -> ResolveReply {
    if (status == ARES_SUCCESS && abuf != nullptr && alen > 0) {
      return std::vector<std::uint8_t>(abuf, abuf + alen);
    }
    ResolveError e;
    e.detail = ares_strerror(status);
    switch (status) {
      case ARES_ETIMEOUT: e.kind = LookupError::kTimeout; break;
      case ARES_ECONNREFUSED: e.kind = LookupError::kRefused; break;
      case ARES_EBADRESP: e.kind = LookupError::kMalformed; break;
      case ARES_ESERVFAIL: e.kind = LookupError::kServfail; break;
      default: e.kind = LookupError::kOther; break;
    }
    return unexpected<ResolveError>(std::move(e));
  }();
  // Never call the user inside c-ares' processing: post to the loop.
  asio::post(p->owner->ex_, [h = std::move(p->handler), r = std::move(reply), alive = p->alive]() mutable {
    if (*alive) h(std::move(r));
  });
}

void CaresResolver::on_sock_state(void* data, ares_socket_t fd, int readable, int writable) {
  auto* self = static_cast<CaresResolver*>(data);
  auto it = self->watches_.find(fd);
  if (!readable && !writable) {
    if (it == self->watches_.end()) return;
    auto w = it->second;
    self->watches_.erase(it);
    w->alive = false;
    // c-ares closes the socket right after this call: cancel our waits and
    // let go of the descriptor without closing it.
    asio::error_code ignored;
    w->sd.cancel(ignored);
    w->sd.release();
    return;
  }
  if (self->destroying_) return;
  std::shared_ptr<Watch> w;
  if (it == self->watches_.end()) {
    w = std::make_shared<Watch>(self->ex_, fd);
    asio::error_code ec;
    w->sd.assign(fd, ec);
    if (ec) return;  // c-ares then times the query out: an error, never a listing
    self->watches_.emplace(fd, w);
  } else {
    w = it->second;
  }
  w->want_read = readable != 0;
  w->want_write = writable != 0;
  self->arm(w);
}

void CaresResolver::arm(const std::shared_ptr<Watch>& w) {
  if (w->want_read && !w->read_armed) {
    w->read_armed = true;
    w->sd.async_wait(asio::posix::stream_descriptor::wait_read,
                     [this, w, alive = alive_](const asio::error_code& ec) {
                       w->read_armed = false;
                       if (ec || !*alive || !w->alive) return;
                       ares_process_fd(channel_, w->fd, ARES_SOCKET_BAD);
                       if (w->alive) arm(w);
                       reschedule();
                     });
  }
  if (w->want_write && !w->write_armed) {
    w->write_armed = true;
    w->sd.async_wait(asio::posix::stream_descriptor::wait_write,
                     [this, w, alive = alive_](const asio::error_code& ec) {
                       w->write_armed = false;
                       if (ec || !*alive || !w->alive) return;
                       ares_process_fd(channel_, ARES_SOCKET_BAD, w->fd);
                       if (w->alive) arm(w);
                       reschedule();
                     });
  }
}

void CaresResolver::reschedule() {
  if (destroying_) return;
  timeval tv{};
  if (ares_timeout(channel_, nullptr, &tv) == nullptr) {
    timer_.cancel();
    return;
  }
  timer_.expires_after(std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec));
  timer_.async_wait([this, alive = alive_](const asio::error_code& ec) {
    if (ec || !*alive) return;
    ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    reschedule();
  });
}

}  // namespace

Result<std::unique_ptr<Resolver>> make_cares_resolver(asio::any_io_executor executor,
                                                      const CaresOptions& options) {
  auto r = std::make_unique<CaresResolver>(std::move(executor));
  auto st = r->init(options);
  if (!st) return unexpected<Error>(std::move(st).error());
  return std::unique_ptr<Resolver>(std::move(r));
}

}  // namespace backstop::dnsbl
