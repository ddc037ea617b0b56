#include "dnsbl/export.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "dnsbl/atomic_file.h"
#include "common/ip.h"
#include "dnsbl/query_name.h"
#include "dnsbl/txt.h"

namespace backstop::dnsbl {
namespace {

std::string kinds_text(const store::Listing& l) {
  std::string out;
  for (const auto& [kind, n] : l.hits) {
    if (!out.empty()) out += ", ";
    out += kind;
    out += " x";
    out += std::to_string(n);
  }
  return out.empty() ? "unknown" : out;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

bool is_forbidden_test_address(const ip::Address& a) {
  // RFC 5782 §5: 127.0.0.1 (and ::FFFF:7F00:1, folded to it) must not be listed.
  return !a.v6 && a.bytes[0] == 127 && a.bytes[1] == 0 && a.bytes[2] == 0 && a.bytes[3] == 1;
}

bool is_test_entry(const ip::Address& a) {
  return !a.v6 && a.bytes[0] == 127 && a.bytes[1] == 0 && a.bytes[2] == 0 && a.bytes[3] == 2;
}

// Holds an exclusive flock on <out>/.<zone>.lock for the export's duration.
class ExportLock {
 public:
  explicit ExportLock(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~ExportLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

std::string header(const ExportOptions& o, const char* type, std::int64_t now) {
  std::string h;
  h += "# rbldnsd " + std::string(type) + " data for " + o.zone + ", written by backstop dnsbl export at " +
       utc_date(now) + " (unix " + std::to_string(now) + "). Do not edit: it is rewritten.\n";
  h += "$TTL " + std::to_string(o.ttl) + "\n";
  if (!o.ns.empty()) {
    const std::string hostmaster = o.hostmaster.empty() ? "hostmaster." + o.zone : o.hostmaster;
    // serial 0: rbldnsd uses the newest file mtime.
    h += "$SOA " + std::to_string(o.ttl) + " " + o.ns + " " + hostmaster + " 0 600 120 604800 300\n";
    h += "$NS " + std::to_string(o.ttl) + " " + o.ns + "\n";
  }
  h += ":" + o.a_value + ":" + escape_rbldnsd_txt("Listed in " + o.zone) + "\n";
  return h;
}

}  // namespace

std::string utc_date(std::int64_t unix_seconds) {
  using namespace std::chrono;
  const sys_days day{days{unix_seconds >= 0 ? unix_seconds / 86400 : (unix_seconds - 86399) / 86400}};
  const year_month_day ymd{day};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

std::string listing_txt(const store::Listing& l, const ExportOptions& o) {
  std::string t = o.txt_template;
  // Values first through sanitize_txt, so a hostile Message-ID or kind cannot
  // inject line breaks; the whole text is bounded at the end.
  replace_all(t, "{ip}", sanitize_txt(l.ip, ip::kMaxIpText));
  replace_all(t, "{zone}", sanitize_txt(o.zone, kMaxDnsNameBytes));
  replace_all(t, "{kinds}", sanitize_txt(kinds_text(l), 120));
  replace_all(t, "{hits}", std::to_string(l.total_hits()));
  replace_all(t, "{first}", utc_date(l.first_seen));
  replace_all(t, "{last}", utc_date(l.last_seen));
  replace_all(t, "{expires}", utc_date(expires_at(l, o.policy)));
  replace_all(t, "{url}", o.url.empty() ? std::string("ask the operator") : sanitize_txt(o.url, 120));
  return sanitize_txt(t, kMaxTxtBytes);
}

Result<ExportStats> export_zone(std::span<const store::Listing> listings, const ExportOptions& o,
                                std::int64_t now) {
  BACKSTOP_TRY(validate_zone(o.zone));
  auto a = ip::parse(o.a_value);
  if (!a || a->v6 || a->bytes[0] != 127) {
    return fail(Code::kInvalidArgument, "A value must be an address in 127.0.0.0/8: " + o.a_value);
  }
  if (!o.ns.empty()) BACKSTOP_TRY(validate_zone(o.ns));
  const std::string base = o.out_dir + "/" + o.zone;
  ExportLock lock(o.out_dir + "/." + o.zone + ".lock");
  if (!lock.ok()) return fail(Code::kEnvironment, "cannot lock " + o.out_dir + "/." + o.zone + ".lock");

  ExportStats stats;
  stats.ip4_path = base + ".ip4set";
  stats.ip6_path = base + ".ip6trie";
  auto f4 = AtomicFile::create(stats.ip4_path);
  if (!f4) return unexpected<Error>(std::move(f4).error());
  auto f6 = AtomicFile::create(stats.ip6_path);
  if (!f6) return unexpected<Error>(std::move(f6).error());

  const std::string a_field = " :" + o.a_value + ":";
  BACKSTOP_TRY((*f4)->write(header(o, "ip4set", now)));
  BACKSTOP_TRY((*f4)->write("# RFC 5782 test entry (127.0.0.1 is never listed)\n127.0.0.2" + a_field +
                            escape_rbldnsd_txt("RFC 5782 test entry of " + o.zone) + "\n"));
  BACKSTOP_TRY((*f6)->write(header(o, "ip6trie", now)));
  BACKSTOP_TRY((*f6)->write("# RFC 5782 test entry (::ffff:7f00:1 is never listed)\n::ffff:7f00:2/128" +
                            a_field + escape_rbldnsd_txt("RFC 5782 test entry of " + o.zone) + "\n"));

  std::string line;
  for (const auto& l : listings) {
    auto addr = ip::parse(l.ip);
    if (!addr || is_forbidden_test_address(*addr) || is_test_entry(*addr)) {
      ++stats.skipped;
      continue;
    }
    line.clear();
    line += ip::to_string(*addr);
    if (addr->v6) line += "/128";
    line += a_field;
    line += escape_rbldnsd_txt(listing_txt(l, o));
    line += '\n';
    if (addr->v6) {
      BACKSTOP_TRY((*f6)->write(line));
      ++stats.ipv6;
    } else {
      BACKSTOP_TRY((*f4)->write(line));
      ++stats.ipv4;
    }
  }
  BACKSTOP_TRY((*f4)->commit());
  BACKSTOP_TRY((*f6)->commit());
  return stats;
}

}  // namespace backstop::dnsbl
