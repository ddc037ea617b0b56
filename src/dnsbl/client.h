// The asynchronous DNSBL client: looks a client IP up in every configured
// zone at once, through a Resolver, with a TTL-honouring cache.
//
// The milter (at MAIL FROM) and the policy service call
//   client.check(ip, mail_from, handler)     // callback style
//   co_await async_check(client, ip, mail_from, asio::use_awaitable)
// and turn the CheckResult into an SMTP answer with decide() (zone.h).
// Safe mode (default on) skips the lookup unless the sender is null or
// postmaster@ (CheckResult::queried == false). A DNS error, timeout or
// malformed answer yields LookupStatus::kError for that zone: never a listing.
//
// Thread-safety: a Client belongs to one event-loop thread (the executor's);
// call it only from there. The handler runs on that thread, never inside
// check() itself.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "dnsbl/cache.h"
#include "dnsbl/resolver.h"
#include "dnsbl/zone.h"

namespace backstop::dnsbl {

struct ClientOptions {
  std::vector<ZoneConfig> zones;
  bool safe_mode = true;                         // dnsbl.safe_mode
  std::size_t cache_entries = kDefaultCacheEntries;
};

struct ClientStats {
  std::uint64_t checks = 0;       // check() calls
  std::uint64_t skipped = 0;      // of which safe mode skipped
  std::uint64_t queries = 0;      // DNS queries sent
  std::uint64_t cache_hits = 0;
  std::uint64_t listed = 0;       // zone results kListed
  std::uint64_t errors = 0;       // zone results kError
};

using CheckHandler = std::function<void(CheckResult)>;

class Client {
 public:
  // `resolver` and `clock` are not owned and outlive the client.
  // kInvalidArgument when a zone name is invalid.
  static Result<std::unique_ptr<Client>> create(asio::any_io_executor executor, Resolver& resolver,
                                                const Clock& clock, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Looks `ip` up (see the file comment). `mail_from` is the envelope sender
  // as given at MAIL ("" or "<>" for the null sender). An `ip` that does not
  // parse gives an error result for every zone.
  void check(std::string_view ip, std::string_view mail_from, CheckHandler handler);
  // Looks up regardless of safe mode (CLI "dnsbl query", probes).
  void lookup(std::string_view ip, CheckHandler handler);

  const ClientOptions& options() const noexcept { return options_; }
  const ClientStats& stats() const noexcept { return stats_; }
  const LookupCache& cache() const noexcept { return cache_; }

 private:
  struct Check;
  Client(asio::any_io_executor executor, Resolver& resolver, const Clock& clock, ClientOptions options);
  void start_zone(const std::shared_ptr<Check>& c, std::size_t index);
  void finish_zone(const std::shared_ptr<Check>& c, std::size_t index, ZoneResult r,
                   std::uint32_t ttl, bool cache_it);

  asio::any_io_executor executor_;
  Resolver& resolver_;
  ClientOptions options_;
  LookupCache cache_;
  ClientStats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Completion-token form of Client::check for coroutines:
//   CheckResult r = co_await async_check(client, ip, from, asio::use_awaitable);
template <class Token>
auto async_check(Client& client, std::string ip, std::string mail_from, Token&& token) {
  return asio::async_initiate<Token, void(CheckResult)>(
      [&client](auto handler, std::string ip_, std::string from_) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        client.check(ip_, from_, [h](CheckResult r) { std::move(*h)(std::move(r)); });
      },
      token, std::move(ip), std::move(mail_from));
}

}  // namespace backstop::dnsbl
