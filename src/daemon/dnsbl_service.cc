#include "daemon/dnsbl_service.h"

#include <asio.hpp>

#include <thread>

#include "common/thread_name.h"
#include "dnsbl/client.h"
#include "dnsbl/settings.h"

namespace backstop::daemon {
namespace {

class Service final : public DnsblService {
 public:
  Service(Metrics* metrics) : metrics_(metrics), guard_(asio::make_work_guard(io_)) {}

  ~Service() override {
    guard_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    // Destroy the client and resolver on no thread but ours, after the loop.
    client_.reset();
    resolver_.reset();
  }

  Status init(const dnsbl::DnsblSettings& s, const Clock* clock) {
    auto resolver = dnsbl::make_cares_resolver(io_.get_executor(), s.resolver);
    BACKSTOP_TRY(resolver);
    resolver_ = std::move(*resolver);
    auto client = dnsbl::Client::create(io_.get_executor(), *resolver_, *clock, s.client);
    BACKSTOP_TRY(client);
    client_ = std::move(*client);
    thread_ = std::thread([this] {
      common::set_thread_name("bs-dnsbl");
      io_.run();
    });
    return {};
  }

  void check(std::string ip, std::string mail_from, std::function<void(MailCheckResult)> done) override {
    asio::post(io_, [this, ip = std::move(ip), from = std::move(mail_from), done = std::move(done)]() mutable {
      client_->check(ip, from, [this, done = std::move(done)](dnsbl::CheckResult r) {
        for (const auto& z : r.zones) metrics_->dnsbl(z.zone, dnsbl::status_name(z.status));
        auto d = dnsbl::decide(r);
        MailCheckResult out;
        if (d.verdict == dnsbl::SmtpDecision::Verdict::kReject) {
          out.reject = true;
          out.reply_code = d.reply_code;
          out.status_code = d.status_code;
          out.text = d.text;
        } else if (d.verdict == dnsbl::SmtpDecision::Verdict::kTag) {
          out.header_name = d.header_name;
          out.header_value = d.header_value;
        }
        done(std::move(out));
      });
    });
  }

 private:
  Metrics* metrics_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::unique_ptr<dnsbl::Resolver> resolver_;
  std::unique_ptr<dnsbl::Client> client_;
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<DnsblService>> DnsblService::start(const config::Config& cfg, Metrics* metrics,
                                                          const Clock* clock) {
  auto settings = dnsbl::dnsbl_settings(cfg);
  BACKSTOP_TRY(settings);
  if (settings->client.zones.empty()) return std::unique_ptr<DnsblService>();
  auto s = std::make_unique<Service>(metrics);
  BACKSTOP_TRY(s->init(*settings, clock));
  return std::unique_ptr<DnsblService>(std::move(s));
}

}  // namespace backstop::daemon
