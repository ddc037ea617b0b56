// backstop audit smtp|postfix|scanners: find the settings and behaviours that
// make backscatter, each with its fix (docs/audit.md). Exit status: 0 no
// finding, 1 findings, 2 the audit could not run.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/common_options.h"
#include "audit/finding.h"
#include "audit/postfix.h"
#include "audit/probe.h"
#include "audit/scanners.h"
#include "audit/smtp.h"
#include "common/random.h"
#include "common/text.h"

namespace backstop::app {
namespace {

namespace fs = std::filesystem;

struct AuditOutput {
  std::string format = "text";
};

struct SmtpOptions {
  std::string host;
  std::string domain;
  std::string mx;
  std::string helo;
  std::string sender;
  double timeout = static_cast<double>(audit::kDefaultStepTimeout.count());
  std::string capture;
  std::string capture_sender;
  double capture_wait = static_cast<double>(audit::kDefaultCaptureWait.count());
  std::string dns_server;
  std::uint16_t mx_port = 25;
  bool transcript = false;
  AuditOutput out;
};

struct ScannerOptions {
  std::vector<std::string> amavis;
  std::vector<std::string> clamav;
  std::vector<std::string> sieve;
};

struct PostfixOptions {
  std::string config_dir;
  std::string postconf_file;
  std::string master_cf;
  ScannerOptions scanners;
  AuditOutput out;
};

void print_report(const audit::Report& r, const AuditOutput& o) {
  const std::string s = o.format == "json" ? audit::render_json(r) : audit::render_text(r);
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

// A whole file, at most `limit` bytes. kNotFound, kTooLarge, kEnvironment.
Result<std::string> read_file(const std::string& path, std::size_t limit) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return fail(Code::kNotFound, "cannot read " + path + ": not a regular file");
  const auto size = fs::file_size(path, ec);
  if (ec) return fail(Code::kNotFound, "cannot read " + path + ": " + ec.message());
  if (size > limit) return fail(Code::kTooLarge, path + " is larger than " + std::to_string(limit) + " bytes");
  std::ifstream in(path, std::ios::binary);
  std::string text(size, '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(size))) return fail(Code::kEnvironment, "cannot read " + path);
  return text;
}

// Regular files of a directory, sorted by name (amavisd reads conf.d in that
// order), skipping editor and dpkg leftovers; `recursive` walks below it too.
Result<std::vector<std::string>> files_of(const std::string& path, bool recursive) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return std::vector<std::string>{path};
  if (!fs::is_directory(path, ec)) return fail(Code::kNotFound, "cannot read " + path + ": no such file or directory");
  std::vector<std::string> out;
  auto keep = [](const fs::path& p) {
    const std::string n = p.filename().string();
    return !n.empty() && n.front() != '.' && n.back() != '~' && n.find(".dpkg-") == std::string::npos &&
           !n.ends_with(".svbin");
  };
  if (recursive) {
    for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file() && keep(it->path())) out.push_back(it->path().string());
      if (out.size() > audit::kMaxFilesPerDir) break;
    }
  } else {
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file() && keep(it->path())) out.push_back(it->path().string());
      if (out.size() > audit::kMaxFilesPerDir) break;
    }
  }
  if (ec) return fail(Code::kEnvironment, "cannot list " + path + ": " + ec.message());
  if (out.size() > audit::kMaxFilesPerDir) return fail(Code::kTooLarge, path + " holds more than " +
                                                                           std::to_string(audit::kMaxFilesPerDir) + " files");
  std::sort(out.begin(), out.end());
  return out;
}

// Lints --amavis, --clamav and --sieve into sections of `r`. Returns the
// amavisd-new findings (for the content_filter cross-check), or an error.
Result<std::vector<audit::Finding>> lint_scanners(const ScannerOptions& o, audit::Report* r) {
  std::vector<audit::Finding> amavis_findings;
  for (const auto& path : o.amavis) {
    auto files = files_of(path, false);
    if (!files) return unexpected<Error>(std::move(files).error());
    std::vector<audit::NamedText> texts;
    for (const auto& f : *files) {
      auto t = read_file(f, audit::kMaxScannerFileBytes);
      if (!t) return unexpected<Error>(std::move(t).error());
      texts.push_back({f, std::move(*t)});
    }
    audit::Section s{"amavisd-new " + path, audit::lint_amavis(texts), {}};
    s.notes.push_back(std::to_string(texts.size()) + " file(s) read");
    amavis_findings.insert(amavis_findings.end(), s.findings.begin(), s.findings.end());
    r->sections.push_back(std::move(s));
  }
  for (const auto& path : o.clamav) {
    auto t = read_file(path, audit::kMaxScannerFileBytes);
    if (!t) return unexpected<Error>(std::move(t).error());
    r->sections.push_back(audit::Section{"clamav " + path, audit::lint_clamav({path, std::move(*t)}), {}});
  }
  for (const auto& path : o.sieve) {
    auto files = files_of(path, true);
    if (!files) return unexpected<Error>(std::move(files).error());
    audit::Section s{"sieve " + path, {}, {}};
    std::size_t scripts = 0;
    for (const auto& f : *files) {
      if (files->size() > 1 && !f.ends_with(".sieve") && !f.ends_with(".siv")) continue;
      auto t = read_file(f, audit::kMaxScannerFileBytes);
      if (!t) {
        s.notes.push_back(t.error().message());
        continue;
      }
      ++scripts;
      for (auto& fi : audit::lint_sieve({f, std::move(*t)})) s.findings.push_back(std::move(fi));
    }
    s.notes.push_back(std::to_string(scripts) + " script(s) read");
    r->sections.push_back(std::move(s));
  }
  return amavis_findings;
}

// The postconf program, or "" when it is not installed.
std::string find_postconf() {
  for (const char* dir : {"/usr/sbin", "/usr/local/sbin", "/usr/bin", "/sbin"}) {
    const std::string p = std::string(dir) + "/postconf";
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

// stdout of `postconf -n -c DIR` (no shell), bounded. kEnvironment when it fails.
Result<std::string> run_postconf(const std::string& postconf, const std::string& dir) {
  int fds[2];
  if (::pipe(fds) != 0) return fail(Code::kEnvironment, "pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) return fail(Code::kEnvironment, "fork failed");
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execl(postconf.c_str(), "postconf", "-n", "-c", dir.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  bool too_large = false;
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.size() + static_cast<std::size_t>(n) > audit::kMaxPostfixConfigBytes) too_large = true;
    if (!too_large) out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (too_large) return fail(Code::kTooLarge, "postconf -n output is larger than 1 MiB");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return fail(Code::kEnvironment, postconf + " -n -c " + dir + " failed (exit " +
                                        std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
  }
  return out;
}

int run_postfix(const PostfixOptions& o) {
  audit::PostfixInput in;
  const std::string dir = o.config_dir.empty() ? "/etc/postfix" : o.config_dir;
  in.config_dir = o.config_dir.empty() || o.config_dir == "/etc/postfix" ? std::string() : o.config_dir;
  std::string target;
  if (!o.postconf_file.empty()) {
    auto t = read_file(o.postconf_file, audit::kMaxPostfixConfigBytes);
    if (!t) return report_error(t.error());
    auto m = audit::parse_main_cf(*t, "postconf -n");
    if (!m) return report_error(m.error());
    in.main = std::move(*m);
    target = "postfix " + o.postconf_file;
  } else {
    auto main_text = read_file(dir + "/main.cf", audit::kMaxPostfixConfigBytes);
    const std::string postconf = find_postconf();
    if (!postconf.empty()) {
      auto t = run_postconf(postconf, dir);
      if (!t) return report_error(t.error());
      auto m = audit::parse_main_cf(*t, "postconf -n");
      if (!m) return report_error(m.error());
      in.main = std::move(*m);
      // Line numbers for the report: where main.cf sets each parameter.
      if (main_text) {
        if (auto direct = audit::parse_main_cf(*main_text)) {
          for (auto& [name, p] : in.main.params) {
            if (auto it = direct->params.find(name); it != direct->params.end()) p.line = it->second.line;
          }
          in.main.source = "main.cf";
        }
      }
      target = "postfix " + dir + " (postconf -n)";
    } else {
      if (!main_text) return report_error(main_text.error());
      auto m = audit::parse_main_cf(*main_text);
      if (!m) return report_error(m.error());
      in.main = std::move(*m);
      target = "postfix " + dir + " (main.cf)";
    }
    if (o.master_cf.empty()) {
      if (auto mt = read_file(dir + "/master.cf", audit::kMaxPostfixConfigBytes)) {
        auto ms = audit::parse_master_cf(*mt);
        if (!ms) return report_error(ms.error());
        in.master = std::move(*ms);
        in.have_master = true;
      }
    }
  }
  if (!o.master_cf.empty()) {
    auto mt = read_file(o.master_cf, audit::kMaxPostfixConfigBytes);
    if (!mt) return report_error(mt.error());
    auto ms = audit::parse_master_cf(*mt);
    if (!ms) return report_error(ms.error());
    in.master = std::move(*ms);
    in.have_master = true;
  }
  in.read_file = [](const std::string& path) { return read_file(path, audit::kMaxMapFileBytes); };
  audit::Report report;
  report.sections.push_back(audit::lint_postfix(in, target));
  if (!in.have_master) report.sections.back().notes.push_back("master.cf not read: -o overrides not checked");
  auto amavis = lint_scanners(o.scanners, &report);
  if (!amavis) return report_error(amavis.error());
  const std::string filter = audit::after_queue_filter(in);
  if (!filter.empty() && !amavis->empty()) {
    std::string which;
    for (const auto& f : *amavis) which += (which.empty() ? "" : ", ") + f.title;
    report.sections.front().findings.push_back(audit::Finding{
        "postfix.content-filter-bounces", audit::Severity::kHigh, "content_filter = " + filter,
        "the after-queue content filter is set to answer with notices or bounces: " + which,
        "Postfix has already accepted the mail when the filter judges it, so every notice or refusal the "
        "filter makes goes to the (often forged) envelope sender",
        "apply the fixes of the amavisd-new section below (D_DISCARD, no sender warnings), or filter before "
        "the queue (smtpd_proxy_filter or a milter) so refusals happen during the SMTP dialogue"});
  }
  print_report(report, o.out);
  return audit::exit_status(report);
}

int run_scanners(const ScannerOptions& o, const AuditOutput& out) {
  if (o.amavis.empty() && o.clamav.empty() && o.sieve.empty()) {
    std::fprintf(stderr, "backstop: audit scanners needs --amavis, --clamav or --sieve\n");
    return 2;
  }
  audit::Report report;
  auto amavis = lint_scanners(o, &report);
  if (!amavis) return report_error(amavis.error());
  print_report(report, out);
  return audit::exit_status(report);
}

// HOST, HOST:PORT, [IPv6]:PORT, IPv6.
bool split_host_port(const std::string& s, std::string* host, std::uint16_t* port) {
  std::string h = s, p;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string::npos) return false;
    h = s.substr(1, close - 1);
    if (close + 1 < s.size()) {
      if (s[close + 1] != ':') return false;
      p = s.substr(close + 2);
    }
  } else if (std::count(s.begin(), s.end(), ':') == 1) {
    h = s.substr(0, s.find(':'));
    p = s.substr(s.find(':') + 1);
  }
  if (h.empty()) return false;
  *host = h;
  if (!p.empty()) {
    if (p.size() > 5 || !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
    const int n = std::stoi(p);
    if (n < 1 || n > 65535) return false;
    *port = static_cast<std::uint16_t>(n);
  }
  return true;
}

std::string rfc5322_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

std::string local_hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

std::chrono::milliseconds ms(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

int run_smtp(const SmtpOptions& o) {
  if (o.domain.empty() == o.mx.empty()) {
    std::fprintf(stderr, "backstop: audit smtp needs exactly one of --domain D and --mx D\n");
    return 2;
  }
  if (o.host.empty() == o.mx.empty()) {
    std::fprintf(stderr, "backstop: audit smtp takes HOST[:PORT] with --domain, and no HOST with --mx\n");
    return 2;
  }
  const std::string domain = o.domain.empty() ? o.mx : o.domain;
  audit::ProbePlan plan;
  plan.domain = text::ascii_lower(domain);
  plan.helo = o.helo.empty() ? local_hostname() : o.helo;
  plan.sender = o.sender.empty() ? std::string(audit::kProbeSenderLocal) + "@" + plan.helo : o.sender;
  if (!audit::valid_probe_domain(plan.domain)) return report_error(Error(Code::kInvalidArgument, "bad domain: " + domain));
  if (!audit::valid_probe_domain(plan.helo)) return report_error(Error(Code::kInvalidArgument, "bad HELO name: " + plan.helo));
  if (!audit::valid_probe_address(plan.sender)) return report_error(Error(Code::kInvalidArgument, "bad sender: " + plan.sender));
  auto local = audit::random_local_part(secure_random());
  if (!local) return report_error(local.error());
  plan.random_local = *local;

  audit::ProbeOptions po;
  po.step_timeout = ms(o.timeout);
  if (o.timeout <= 0 || o.capture_wait <= 0) {
    return report_error(Error(Code::kInvalidArgument, "--timeout and --capture-wait must be positive"));
  }
  if (!o.capture.empty()) {
    std::uint16_t port = 25;
    if (!split_host_port(o.capture, &po.capture_address, &port)) {
      return report_error(Error(Code::kInvalidArgument, "--capture wants ADDRESS:PORT, got " + o.capture));
    }
    po.capture_port = port;
    plan.capture = true;
    plan.capture_sender = o.capture_sender.empty() ? plan.sender : o.capture_sender;
    if (!audit::valid_probe_address(plan.capture_sender)) {
      return report_error(Error(Code::kInvalidArgument, "bad capture sender: " + plan.capture_sender));
    }
    plan.message = audit::probe_message(plan, rfc5322_now());
    po.capture_wait = ms(o.capture_wait);
  }
  po.plan = plan;

  std::vector<std::pair<std::string, std::uint16_t>> targets;
  if (!o.host.empty()) {
    std::string host;
    std::uint16_t port = 25;
    if (!split_host_port(o.host, &host, &port)) return report_error(Error(Code::kInvalidArgument, "bad HOST[:PORT]: " + o.host));
    targets.emplace_back(host, port);
  } else {
    audit::MxOptions mo;
    if (!o.dns_server.empty()) {
      std::uint16_t port = 53;
      if (!split_host_port(o.dns_server, &mo.dns_server, &port)) {
        return report_error(Error(Code::kInvalidArgument, "bad --dns-server: " + o.dns_server));
      }
      mo.dns_port = port;
    }
    auto hosts = audit::resolve_mx(plan.domain, mo);
    if (!hosts) return report_error(hosts.error());
    for (const auto& h : *hosts) targets.emplace_back(h.addresses.front(), o.mx_port);
  }

  audit::Report report;
  int status = 0;
  for (const auto& [host, port] : targets) {
    po.host = host;
    po.port = port;
    const auto run = audit::run_probe(po);
    if (o.transcript) {
      for (const auto& [cmd, reply] : run.outcome.transcript) {
        std::fprintf(stderr, "  > %s\n  < %s\n", text::log_safe(cmd).c_str(), text::log_safe(reply).c_str());
      }
    }
    if (!run.error.empty()) {
      std::fprintf(stderr, "backstop: audit smtp %s: %s\n", host.c_str(), text::log_safe(run.error).c_str());
      status = 2;
      continue;
    }
    const std::string target = "smtp " + run.connected_to + " (domain " + plan.domain + ")";
    auto section = audit::judge_smtp(target, plan, run.outcome, run.capture ? &*run.capture : nullptr);
    if (!run.outcome.rcpt_random && section.findings.empty()) {
      std::fprintf(stderr, "backstop: audit smtp %s: the probe could not test a recipient%s\n", host.c_str(),
                   run.outcome.aborted.empty() ? "" : (": " + text::log_safe(run.outcome.aborted)).c_str());
      status = 2;
    }
    report.sections.push_back(std::move(section));
  }
  if (!report.sections.empty()) print_report(report, o.out);
  return std::max(status, audit::exit_status(report));
}

void add_scanner_options(CLI::App* cmd, ScannerOptions* s) {
  cmd->add_option("--amavis", s->amavis, "amavisd-new configuration file or conf.d directory (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--clamav", s->clamav, "clamav-milter.conf or clamsmtpd.conf (repeatable)")->allow_extra_args(false);
  cmd->add_option("--sieve", s->sieve, "Sieve script, or a directory of *.sieve scripts (repeatable)")
      ->allow_extra_args(false);
}

}  // namespace

void add_audit(CLI::App& root, int* exit_code) {
  auto* cmd = root.add_subcommand(
      "audit", "Find what makes your own servers send backscatter, with the fix for each (exit 0 clean, 1 findings, 2 error)");
  cmd->require_subcommand(1);
  const char* footer =
      "Exit status: 0 no finding, 1 findings, 2 the audit could not run. Audit only servers you run "
      "(docs/audit.md).";
  cmd->footer(footer);

  auto so = std::make_shared<SmtpOptions>();
  auto* smtp = cmd->add_subcommand(
      "smtp", "Probe an SMTP server as the Internet would: a random nonexistent recipient, postmaster, the null sender");
  smtp->add_option("host", so->host, "HOST[:PORT] to probe (port 25 by default); not with --mx");
  smtp->add_option("--domain", so->domain, "The mail domain the server accepts mail for");
  smtp->add_option("--mx", so->mx, "Probe every MX host of this domain (up to 5)");
  smtp->add_option("--helo", so->helo, "EHLO name (default: this host's name)");
  smtp->add_option("--sender", so->sender, "MAIL FROM of the recipient tests (default: backstop-audit@<EHLO name>)");
  smtp->add_option("--timeout", so->timeout, "Seconds each step may take: connect, each reply, each write")
      ->capture_default_str();
  smtp->add_option("--capture", so->capture,
                   "ADDRESS:PORT: run a receiver there, send one message to the random recipient and wait for its bounce");
  smtp->add_option("--capture-sender", so->capture_sender,
                   "Envelope sender of the captured message, an address whose mail reaches --capture (default: --sender)");
  smtp->add_option("--capture-wait", so->capture_wait, "Seconds to wait for the bounce")->capture_default_str();
  smtp->add_option("--dns-server", so->dns_server, "IP[:PORT] of the DNS resolver for --mx (default: the system's)");
  smtp->add_option("--port", so->mx_port, "SMTP port of the MX hosts with --mx")->capture_default_str();
  smtp->add_flag("--transcript", so->transcript, "Print the SMTP dialogue on stderr");
  smtp->add_option("--format", so->out.format, "Output format")->check(CLI::IsMember({"text", "json"}));
  smtp->footer(footer);
  smtp->callback([so, exit_code] { *exit_code = run_smtp(*so); });

  auto po = std::make_shared<PostfixOptions>();
  auto* postfix = cmd->add_subcommand("postfix", "Lint a Postfix configuration for settings that make backscatter");
  postfix->add_option("--config-dir", po->config_dir,
                      "Postfix configuration directory (default /etc/postfix): `postconf -n -c DIR` and DIR/master.cf");
  postfix->add_option("--postconf", po->postconf_file, "A file of `postconf -n` output, instead of --config-dir");
  postfix->add_option("--master-cf", po->master_cf, "master.cf to read (default: DIR/master.cf)");
  add_scanner_options(postfix, &po->scanners);
  postfix->add_option("--format", po->out.format, "Output format")->check(CLI::IsMember({"text", "json"}));
  postfix->footer(footer);
  postfix->callback([po, exit_code] { *exit_code = run_postfix(*po); });

  auto sc = std::make_shared<std::pair<ScannerOptions, AuditOutput>>();
  auto* scanners = cmd->add_subcommand("scanners", "Lint amavisd-new, ClamAV and Sieve vacation settings only");
  add_scanner_options(scanners, &sc->first);
  scanners->add_option("--format", sc->second.format, "Output format")->check(CLI::IsMember({"text", "json"}));
  scanners->footer(footer);
  scanners->callback([sc, exit_code] { *exit_code = run_scanners(sc->first, sc->second); });
}

}  // namespace backstop::app
