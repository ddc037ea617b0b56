#include "store/redis_client.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "common/ip.h"

namespace backstop::store {

std::string RedisEndpoint::to_string() const {
  if (!path.empty()) return path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<RedisEndpoint> parse_redis_endpoint(std::string_view text) {
  RedisEndpoint e;
  if (text.starts_with('/')) {
    // sockaddr_un's sun_path holds 108 bytes with the NUL.
    if (text.size() > 107 || text.find('\0') != std::string_view::npos) {
      return fail(Code::kInvalidArgument, "unix socket path too long or with NUL: '" + redis::printable(text) + "'");
    }
    e.path = std::string(text);
    return e;
  }
  std::string_view host, port;
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail(Code::kInvalidArgument, "expected [IPv6]:PORT, got '" + redis::printable(text) + "'");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return fail(Code::kInvalidArgument, "expected HOST:PORT or a socket path, got '" + redis::printable(text) + "'");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  const bool port_ok = !port.empty() && ec == std::errc() && end == port.data() + port.size() && p > 0 && p <= 65535;
  // Names are refused: hiredis resolves them with no timeout.
  const bool host_ok = host == "localhost" || (host.find_first_not_of("0123456789abcdefABCDEF.:") == std::string_view::npos &&
                                               ip::parse(host).has_value());
  if (!port_ok || !host_ok) {
    return fail(Code::kInvalidArgument,
                "bad Redis address '" + redis::printable(text) + "' (an IP address or localhost and a port, or a socket path)");
  }
  e.host = std::string(host);
  e.port = static_cast<std::uint16_t>(p);
  return e;
}

Status check_redis_prefix(std::string_view prefix) {
  if (prefix.empty() || prefix.size() > kMaxRedisPrefixBytes) {
    return fail(Code::kInvalidArgument, "Redis key prefix must be 1 to " + std::to_string(kMaxRedisPrefixBytes) + " bytes");
  }
  for (char ch : prefix) {
    if (ch <= 0x20 || ch >= 0x7f) {
      return fail(Code::kInvalidArgument, "Redis key prefix must be printable ASCII without spaces");
    }
  }
  return {};
}

namespace redis {
namespace {

using Clock = std::chrono::steady_clock;

// Server text quoted in an error message: enough to recognise the reason,
// never a flood of a hostile reply into the log.
constexpr std::size_t kMaxQuotedBytes = 200;
// A host name or address in a Sentinel reply (DNS names are at most 253).
constexpr std::size_t kMaxHostBytes = 255;

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::string_view reply_text(const redisReply* r) {
  return r->str ? std::string_view(r->str, r->len) : std::string_view();
}

unexpected<Error> unavailable(std::string msg) { return fail(Code::kUnavailable, std::move(msg)); }
unexpected<Error> malformed(std::string_view what, std::string_view why) {
  return fail(Code::kMalformed, "redis: " + std::string(what) + ": " + std::string(why));
}


}  // namespace

bool is_failover_error(const redisReply* r) {
  if (!r || r->type != REDIS_REPLY_ERROR) return false;
  const std::string_view text = reply_text(r);
  return text.starts_with("READONLY") || text.starts_with("MASTERDOWN");
}

void ReplyDeleter::operator()(redisReply* r) const {
  if (r) freeReplyObject(r);
}

std::string printable(std::string_view text) {
  std::string out;
  for (char ch : text.substr(0, kMaxQuotedBytes)) {
    out.push_back(ch >= 0x20 && ch < 0x7f ? ch : '?');
  }
  if (text.size() > kMaxQuotedBytes) out += "...";
  return out;
}

// ---------------------------------------------------------------- Connection

Connection::~Connection() {
  if (ctx_) redisFree(ctx_);
}

Status append_commands(std::string& out, std::span<const Command> commands) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& cmd : commands) {
    argv.clear();
    lens.clear();
    for (const auto& a : cmd) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    char* formatted = nullptr;
    int len = redisFormatCommandArgv(&formatted, static_cast<int>(argv.size()), argv.data(), lens.data());
    if (len < 0 || !formatted) return fail(Code::kInternal, "redis: cannot format a command");
    out.append(formatted, static_cast<std::size_t>(len));
    redisFreeCommand(formatted);
  }
  return {};
}

int Connection::fd() const { return ctx_ ? ctx_->fd : -1; }

void Connection::set_health(Health h) {
  // A broken connection stays broken; kFailover outranks kBroken.
  if (health_ == Health::kFailover || (health_ == Health::kBroken && h != Health::kFailover)) return;
  health_ = h;
}

Result<std::unique_ptr<Connection>> Connection::open(const RedisEndpoint& at, std::chrono::milliseconds timeout) {
  const timeval tv = to_timeval(timeout);
  redisContext* c = at.path.empty() ? redisConnectWithTimeout(at.host.c_str(), at.port, tv)
                                    : redisConnectUnixWithTimeout(at.path.c_str(), tv);
  if (!c) return unavailable("redis " + at.to_string() + ": out of memory");
  std::unique_ptr<Connection> conn(new Connection());
  conn->ctx_ = c;
  if (c->err) return unavailable("redis " + at.to_string() + ": " + printable(c->errstr));
  if (redisSetTimeout(c, tv) != REDIS_OK) {
    return unavailable("redis " + at.to_string() + ": cannot set the timeout: " + printable(c->errstr));
  }
  if (at.path.empty()) (void)redisEnableKeepAlive(c);  // a dead peer is noticed by the timeout anyway
  return conn;
}

// hiredis writes with write(2), which raises SIGPIPE on a closed socket and
// kills a process that does not ignore it (the command-line tools, tests):
// we write ourselves with MSG_NOSIGNAL, and hiredis only reads.
Status Connection::send_all(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(ctx_->fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      health_ = Health::kBroken;
      error_ = std::string("send: ") + (e == EAGAIN || e == EWOULDBLOCK ? "timed out" : std::strerror(e));
      return unavailable("redis: " + error_);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<std::vector<Reply>> Connection::run(std::span<const Command> commands) {
  if (health_ == Health::kBroken || health_ == Health::kFailover) return unavailable("redis: connection broken");
  const auto start = std::chrono::steady_clock::now();
  auto tell = [&](RemoteObserver::Result result) {
    if (observer) {
      observer->round_trip(commands.size(),
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), result);
    }
  };
  std::string out;
  BACKSTOP_TRY(append_commands(out, commands));
  if (Status sent = send_all(out); !sent) {
    tell(RemoteObserver::Result::kFailed);
    return unexpected<Error>(std::move(sent).error());
  }
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  bool error_reply = false;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* r = nullptr;
    if (redisGetReply(ctx_, &r) != REDIS_OK || !r) {
      health_ = Health::kBroken;
      const std::string text = printable(ctx_->errstr);
      // hiredis reports a receive timeout as EAGAIN's text.
      error_ = text.find("temporarily unavailable") != std::string::npos ? "timed out" : text;
      tell(RemoteObserver::Result::kFailed);
      return unavailable("redis: " + error_);
    }
    replies.emplace_back(static_cast<redisReply*>(r));
    // A server that is no longer the master answers so to any command,
    // inside EXEC and from scripts too: ask again where the master is.
    const redisReply* rep = replies.back().get();
    error_reply |= rep->type == REDIS_REPLY_ERROR;
    if (is_failover_error(rep)) health_ = Health::kFailover;
    for (std::size_t j = 0; rep->type == REDIS_REPLY_ARRAY && j < rep->elements; ++j) {
      error_reply |= rep->element[j] != nullptr && rep->element[j]->type == REDIS_REPLY_ERROR;
      if (is_failover_error(rep->element[j])) health_ = Health::kFailover;
    }
  }
  tell(error_reply ? RemoteObserver::Result::kErrorReply : RemoteObserver::Result::kOk);
  return replies;
}

Result<Reply> Connection::run1(const Command& command) {
  auto r = run(std::span<const Command>(&command, 1));
  BACKSTOP_TRY(r);
  return std::move(r->front());
}

// ---------------------------------------------------------------- Lease, Pool

Lease::~Lease() {
  if (c_) pool_->give_back(std::move(c_));
}

Pool::Pool(PoolOptions o) : opt_(std::move(o)) {}
Pool::~Pool() = default;

void Pool::note_failure(std::string why, bool failover) {
  ++generation_;  // idle connections share the fate of the broken one
  open_ -= idle_.size();
  idle_.clear();
  retry_at_ = Clock::now() + backoff_;
  backoff_ = std::min(backoff_ * 2, kRedisBackoffMax);
  last_error_ = std::move(why);
  if (failover || !opt_.sentinel_master.empty()) master_.reset();
}

void Pool::give_back(std::unique_ptr<Connection> c) {
  std::unique_ptr<Connection> drop;
  {
    std::lock_guard lock(mu_);
    switch (c->health()) {
      case Health::kOk:
        backoff_ = kRedisBackoffMin;  // an exchange worked: the next failure starts small
        if (c->generation == generation_) {
          idle_.push_back(std::move(c));
        } else {
          drop = std::move(c);
          --open_;
        }
        break;
      case Health::kDiscard:
        drop = std::move(c);
        --open_;
        break;
      case Health::kBroken:
      case Health::kFailover: {
        const bool failover = c->health() == Health::kFailover;
        std::string why = !c->error().empty() ? c->error() : failover ? "a READONLY or MASTERDOWN reply" : "connection lost";
        // Connections made before the last failure fail with it (a restart
        // breaks them all): only the first report of a generation counts,
        // so a burst of them backs off once, not to the maximum.
        const bool first = c->generation == generation_;
        drop = std::move(c);
        --open_;
        if (first) note_failure(failover ? "the server is no longer the master: " + why : std::move(why), failover);
        break;
      }
    }
  }
  cv_.notify_all();
}

Result<Lease> Pool::acquire() {
  const auto deadline = Clock::now() + opt_.timeout;
  std::unique_lock lock(mu_);
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());  // the most recently used is warm
      idle_.pop_back();
      if (c->generation == generation_) return Lease(this, std::move(c));
      --open_;
    }
    if (open_ < opt_.max_connections && !connecting_) {
      const auto now = Clock::now();
      if (now < retry_at_) {
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now).count();
        return unavailable("redis unavailable (" + last_error_ + "); next attempt in " + std::to_string(wait) + " ms");
      }
      connecting_ = true;
      ++open_;
      lock.unlock();
      auto c = connect();
      if (opt_.observer) opt_.observer->connect_attempt(c.has_value());
      lock.lock();
      connecting_ = false;
      cv_.notify_all();
      if (!c) {
        --open_;
        note_failure(c.error().message(), true);
        return unexpected<Error>(std::move(c).error());
      }
      (*c)->generation = generation_;
      (*c)->observer = opt_.observer;
      return Lease(this, std::move(*c));
    }
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      return unavailable(connecting_ ? "redis: timed out waiting for a connection attempt"
                                     : "redis: all " + std::to_string(opt_.max_connections) + " connections busy");
    }
  }
}

Result<std::unique_ptr<Connection>> Pool::connect() {
  if (!opt_.sentinel_master.empty()) {
    std::optional<RedisEndpoint> master;
    {
      std::lock_guard lock(mu_);
      master = master_;
    }
    if (!master) {
      auto m = ask_sentinels();
      BACKSTOP_TRY(m);
      master = std::move(*m);
    }
    bool replica = false;
    auto c = connect_to(*master, &replica);
    BACKSTOP_TRY(c);
    if (replica) return unavailable("redis " + master->to_string() + " (Sentinel's master) answers as a replica");
    std::lock_guard lock(mu_);
    master_ = master;
    return c;
  }
  std::size_t first = 0;
  {
    std::lock_guard lock(mu_);
    first = preferred_;
  }
  std::string why;
  const std::size_t n = opt_.servers.size();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t at = (first + i) % n;
    bool replica = false;
    auto c = connect_to(opt_.servers[at], &replica);
    if (c && !replica) {
      std::lock_guard lock(mu_);
      preferred_ = at;
      return c;
    }
    if (!why.empty()) why += "; ";
    why += c ? "redis " + opt_.servers[at].to_string() + " is a replica" : c.error().message();
  }
  return unavailable(why.empty() ? "redis: no server configured" : why);
}

Result<std::unique_ptr<Connection>> Pool::connect_to(const RedisEndpoint& at, bool* replica) {
  auto c = Connection::open(at, opt_.timeout);
  BACKSTOP_TRY(c);
  std::vector<Command> setup;
  if (!opt_.password.empty()) {
    setup.push_back(opt_.user.empty() ? Command{"AUTH", opt_.password} : Command{"AUTH", opt_.user, opt_.password});
  }
  if (opt_.db != 0) setup.push_back({"SELECT", std::to_string(opt_.db)});
  setup.push_back({"ROLE"});
  auto replies = (*c)->run(setup);
  if (!replies) return unavailable("redis " + at.to_string() + ": " + replies.error().message());
  for (std::size_t i = 0; i + 1 < setup.size(); ++i) {
    if (auto st = check_reply((*replies)[i].get()); !st) {
      return unavailable("redis " + at.to_string() + ": " + setup[i][0] + " refused: " + st.error().message());
    }
  }
  // ROLE may be refused (an ACL without it, a proxy): then the server is
  // taken as it is, and a READONLY reply later moves us on.
  const redisReply* role = replies->back().get();
  if (role->type == REDIS_REPLY_ARRAY && role->elements > 0 && role->element[0]->type == REDIS_REPLY_STRING) {
    const std::string_view r = reply_text(role->element[0]);
    *replica = r == "slave" || r == "replica" || r == "sentinel";
  }
  return c;
}

Result<RedisEndpoint> Pool::ask_sentinels() {
  std::string why;
  for (const auto& s : opt_.sentinels) {
    auto c = Connection::open(s, opt_.timeout);
    if (!c) {
      why += (why.empty() ? "" : "; ") + c.error().message();
      continue;
    }
    auto r = (*c)->run1({"SENTINEL", "get-master-addr-by-name", opt_.sentinel_master});
    if (!r) {
      why += (why.empty() ? "" : "; ") + r.error().message();
      continue;
    }
    auto arr = array_of(r->get(), 2, "sentinel reply", true);
    if (!arr || arr->size() != 2) {
      why += (why.empty() ? "" : "; ") + std::string("sentinel ") + s.to_string() + " does not know master '" +
             printable(opt_.sentinel_master) + "'";
      continue;
    }
    auto host = string_of((*arr)[0], kMaxHostBytes, "sentinel master host");
    auto port = string_of((*arr)[1], 5, "sentinel master port");
    unsigned p = 0;
    bool ok = host && port && !host->empty() && host->find_first_of(" \r\n\t/") == std::string::npos;
    if (ok) {
      auto [end, ec] = std::from_chars(port->data(), port->data() + port->size(), p);
      ok = ec == std::errc() && end == port->data() + port->size() && p > 0 && p <= 65535;
    }
    if (!ok) {
      why += (why.empty() ? "" : "; ") + std::string("sentinel ") + s.to_string() + " gave a malformed address";
      continue;
    }
    return RedisEndpoint{"", std::move(*host), static_cast<std::uint16_t>(p)};
  }
  return unavailable("redis: no sentinel answered for master '" + printable(opt_.sentinel_master) + "': " + why);
}

// ---------------------------------------------------------------- replies

Status check_reply(const redisReply* r) {
  if (r->type != REDIS_REPLY_ERROR) return {};
  const std::string_view text = reply_text(r);
  if (text.starts_with("WRONGTYPE")) return fail(Code::kMalformed, "redis: a key holds a foreign type: " + printable(text));
  return unavailable("redis: " + printable(text));
}

Result<std::optional<std::string>> string_or_nil(const redisReply* r, std::size_t max, std::string_view what) {
  if (r->type == REDIS_REPLY_NIL) return std::optional<std::string>();
  BACKSTOP_TRY(check_reply(r));
  if (r->type != REDIS_REPLY_STRING) return malformed(what, "not a string");
  if (r->len > max) return malformed(what, "longer than " + std::to_string(max) + " bytes");
  return std::optional<std::string>(std::string(reply_text(r)));
}

Result<std::string> string_of(const redisReply* r, std::size_t max, std::string_view what) {
  auto s = string_or_nil(r, max, what);
  BACKSTOP_TRY(s);
  if (!*s) return malformed(what, "nil");
  return std::move(**s);
}

Result<long long> integer_of(const redisReply* r, std::string_view what) {
  BACKSTOP_TRY(check_reply(r));
  if (r->type != REDIS_REPLY_INTEGER) return malformed(what, "not an integer");
  return r->integer;
}

Result<std::span<redisReply*>> array_of(const redisReply* r, std::size_t max, std::string_view what, bool nil_ok) {
  if (nil_ok && r->type == REDIS_REPLY_NIL) return std::span<redisReply*>();
  BACKSTOP_TRY(check_reply(r));
  if (r->type != REDIS_REPLY_ARRAY) return malformed(what, "not an array");
  if (r->elements > max) return malformed(what, "more than " + std::to_string(max) + " elements");
  if (r->elements == 0) return std::span<redisReply*>();
  return std::span<redisReply*>(r->element, r->elements);
}

Result<std::int64_t> parse_exact_int(std::string_view text, std::string_view what) {
  // 16 digits and a sign hold ±(2^53 - 1).
  constexpr std::size_t kMaxDigits = 17;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || text.size() > kMaxDigits || ec != std::errc() || end != text.data() + text.size() ||
      v > kRedisMaxExactInt || v < -kRedisMaxExactInt) {
    return malformed(what, "not an integer: '" + printable(text) + "'");
  }
  return v;
}

}  // namespace redis
}  // namespace backstop::store
