// classify_eval ROOT...: classifies every message under each ROOT (files,
// mbox, Maildir, MH, directory trees) with the built-in rules (or --rules FILE)
// and prints one JSON object per message to stdout. Read errors go to stderr.
// Timing (parse+classify and classify alone) is printed to stderr.
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "classify/classifier.h"
#include "mail/envelope.h"
#include "mail/mailbox.h"
#include "mail/message.h"

namespace {

using backstop::classify::Classifier;
using backstop::classify::Verdict;

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> roots;
  std::string rules_path;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--rules" && i + 1 < argc) rules_path = argv[++i];
    else roots.emplace_back(a);
  }
  if (roots.empty()) {
    std::fprintf(stderr, "usage: classify_eval [--rules FILE] ROOT...\n");
    return 2;
  }
  auto rules = rules_path.empty() ? backstop::classify::builtin_rules()
                                  : backstop::classify::load_rules_file(rules_path);
  if (!rules) {
    std::fprintf(stderr, "classify_eval: %s\n", rules.error().to_string().c_str());
    return 2;
  }
  const Classifier classifier(*rules);
  using Clock = std::chrono::steady_clock;
  Clock::duration parse_time{}, classify_time{};
  std::size_t messages = 0, bytes = 0, errors = 0;
  for (const auto& root : roots) {
    auto source = backstop::mail::open_source(root);
    if (!source) {
      std::fprintf(stderr, "%s: %s\n", root.c_str(), source.error().to_string().c_str());
      ++errors;
      continue;
    }
    while (auto item = (*source)->next()) {
      if (!*item) {
        std::fprintf(stderr, "%s[%zu]: %s\n", item->error().location.c_str(), item->error().index,
                     item->error().error.to_string().c_str());
        ++errors;
        continue;
      }
      const auto& raw = **item;
      const auto t0 = Clock::now();
      auto msg = backstop::mail::parse_message(raw.bytes);
      const auto t1 = Clock::now();
      parse_time += t1 - t0;
      if (!msg) {
        std::fprintf(stderr, "%s[%zu]: %s\n", raw.location.c_str(), raw.index,
                     msg.error().to_string().c_str());
        ++errors;
        continue;
      }
      const Verdict v = classifier.classify(*msg, backstop::mail::envelope_from_mbox(raw.envelope_from));
      classify_time += Clock::now() - t1;
      ++messages;
      bytes += raw.bytes.size();
      std::string line = "{\"file\":" + json_string(raw.location) + ",\"index\":" +
                         std::to_string(raw.index) + ",\"kind\":" +
                         json_string(backstop::classify::kind_name(v.kind)) + ",\"signals\":[";
      for (std::size_t i = 0; i < v.signals.size(); ++i) {
        if (i) line += ",";
        line += json_string(v.signals[i]);
      }
      const auto subject = msg->headers.get("Subject");
      line += "],\"subject\":" +
              json_string(subject ? backstop::mail::decode_rfc2047(*subject) : std::string()) +
              ",\"refs_message_id\":" + json_string(v.refs.message_id) + "}\n";
      std::fwrite(line.data(), 1, line.size(), stdout);
    }
  }
  const double p = std::chrono::duration<double>(parse_time).count();
  const double c = std::chrono::duration<double>(classify_time).count();
  std::fprintf(stderr,
               "classify_eval: %zu messages, %.1f MB, %zu errors; parse %.3f s, classify %.3f s "
               "(%.0f msg/s classify only, %.0f msg/s parse+classify)\n",
               messages, static_cast<double>(bytes) / 1e6, errors, p, c,
               c > 0 ? static_cast<double>(messages) / c : 0.0,
               p + c > 0 ? static_cast<double>(messages) / (p + c) : 0.0);
  return errors > 0 && messages == 0 ? 1 : 0;
}
