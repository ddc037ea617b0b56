// Correlation against real mail from ../shared/corpora (found through
// $BACKSTOP_SHARED): expectations come from the corpus labels and the
// SpamAssassin test configuration files, never from file names.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "classify/classifier.h"
#include "correlate/correlate.h"
#include "mail/mailbox.h"
#include "mail/message.h"
#include "store/store.h"

namespace backstop {
namespace {

namespace fs = std::filesystem;

fs::path corpora() {
  const char* s = std::getenv("BACKSTOP_SHARED");
  return fs::path(s ? s : "../shared") / "corpora";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Label {
  std::string label;
  std::string source;
};

std::map<std::string, Label> labels(const fs::path& dir) {
  std::map<std::string, Label> out;
  std::istringstream in(slurp(dir / "LABELS.tsv"));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    auto t1 = line.find('\t');
    auto t2 = line.find('\t', t1 + 1);
    if (t1 == std::string::npos) continue;
    out[line.substr(0, t1)] = {line.substr(t1 + 1, t2 - t1 - 1),
                               t2 == std::string::npos ? "" : line.substr(t2 + 1)};
  }
  return out;
}

const classify::Classifier& classifier() {
  static auto rules = classify::builtin_rules();
  static classify::Classifier c(*rules);
  return c;
}

constexpr std::int64_t kNow = 1'800'000'000;
constexpr std::int64_t kDay = 86400;

// SpamAssassin t.rules BOUNCE_MESSAGE cases: each .cf names the site's
// relays (whitelist_bounce_relays). A bounce whose quoted original passed
// through them is legitimate (SA must MISS): ours. The others (SA must HIT)
// are forged: never ours, and not_ours whenever a Received chain is visible.
TEST(VBounceRelays, DecidedByTheRelayRule) {
  fs::path dir = corpora() / "spamassassin-t.rules-bounce";
  ASSERT_TRUE(fs::exists(dir)) << dir;
  ManualClock clock(kNow);
  int legit = 0, forged = 0, forged_proven = 0;
  for (const auto& [file, l] : labels(dir)) {
    if (l.label != "dsn_bounce") continue;
    fs::path msg = dir / file;
    fs::path cf = msg;
    cf += ".cf";
    if (!fs::exists(cf)) continue;
    std::vector<std::string> relays;
    std::istringstream in(slurp(cf));
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream words(line);
      std::string key, value;
      words >> key >> value;
      if (key == "whitelist_bounce_relays") relays.push_back(value);
    }
    ASSERT_FALSE(relays.empty()) << cf;
    bool expect_ours = l.source.find("must MISS") != std::string::npos;
    bool expect_forged = l.source.find("must HIT") != std::string::npos;
    ASSERT_NE(expect_ours, expect_forged) << file << ": label source says neither";

    auto m = mail::parse_message(slurp(msg));
    ASSERT_TRUE(m) << file;
    auto v = classifier().classify(*m);
    ASSERT_NE(v.kind, classify::Kind::kNone) << file;
    correlate::Settings s;
    s.local_domains = {"example.org"};
    auto rs = correlate::RelaySet::parse(relays);
    ASSERT_TRUE(rs) << file;
    s.relays = *rs;
    // whitelist_bounce_relays names hosts, not the Received format they write
    // (CommuniGate Pro, Postfix...): the chain rule applies, the format does not.
    s.received_format = correlate::ReceivedFormat::kAny;
    correlate::Correlator c(s, nullptr, nullptr, &clock);
    auto o = c.correlate(v, {}, &*m);
    ASSERT_TRUE(o);
    std::string evidence;
    for (const auto& e : o->evidence) evidence += e.source + ": " + e.detail + "; ";
    if (expect_ours) {
      ++legit;
      EXPECT_EQ(o->verdict, correlate::Verdict::kOurs) << file << " " << evidence;
    } else {
      ++forged;
      EXPECT_NE(o->verdict, correlate::Verdict::kOurs) << file << " " << evidence;
      forged_proven += o->verdict == correlate::Verdict::kNotOurs;
    }
  }
  EXPECT_GE(legit, 3);
  EXPECT_GE(forged, 10);
  std::printf("VBounce cases: %d legitimate -> ours, %d forged (%d proven not_ours by their "
              "Received chain, the rest without a visible chain -> unknown)\n",
              legit, forged, forged_proven);
}

// Ledger round trip through real MTAs' DSN formats: a DSN whose embedded
// Message-ID is rewritten to one recorded in the ledger is ours; the
// untouched DSN (after the warm-up) is not ours.
TEST(LedgerRoundTrip, RealDsnFormats) {
  fs::path dir = corpora() / "sisimai-set-of-emails";
  ASSERT_TRUE(fs::exists(dir)) << dir;
  ManualClock clock(kNow);
  auto store = store::make_memory_store({&clock});
  correlate::Settings s;
  s.local_domains = {"example.org"};
  correlate::Correlator c(s, store.get(), nullptr, &clock);
  const std::string ours_id = "20261127.roundtrip.4711@mx.example.org";
  ASSERT_TRUE(store->ledger_put("warm@example.org", {kNow - 10 * kDay, "a@example.org", {"b@x.example"}}));
  ASSERT_TRUE(store->ledger_put(ours_id, {kNow - kDay, "a@example.org", {"b@x.example"}}));

  int tried = 0, ours = 0, not_ours = 0, encoded = 0;
  std::map<std::string, int> by_mta;
  for (const auto& [file, l] : labels(dir)) {
    if (l.label != "dsn_bounce") continue;
    std::string raw = slurp(dir / file);
    auto m = mail::parse_message(raw);
    if (!m) continue;
    auto v = classifier().classify(*m);
    const std::string& id = v.refs.message_id;
    if (v.kind == classify::Kind::kNone || id.size() < 8) continue;
    ++tried;
    // untouched: the original id is not ours
    auto o1 = c.correlate(v, {});
    ASSERT_TRUE(o1);
    not_ours += o1->verdict == correlate::Verdict::kNotOurs;
    EXPECT_EQ(o1->verdict, correlate::Verdict::kNotOurs) << file << " id " << id;
    // rewritten: every occurrence of the original id becomes ours. An id that
    // is not in the raw bytes verbatim (inside a base64 part) cannot be
    // rewritten this way; such DSNs are counted apart.
    if (raw.find(id) == std::string::npos) {
      ++encoded;
      continue;
    }
    std::string rewritten = raw;
    for (auto pos = rewritten.find(id); pos != std::string::npos; pos = rewritten.find(id, pos + ours_id.size())) {
      rewritten.replace(pos, id.size(), ours_id);
    }
    auto m2 = mail::parse_message(rewritten);
    ASSERT_TRUE(m2) << file;
    auto v2 = classifier().classify(*m2);
    auto o2 = c.correlate(v2, {});
    ASSERT_TRUE(o2);
    ours += o2->verdict == correlate::Verdict::kOurs;
    EXPECT_EQ(o2->verdict, correlate::Verdict::kOurs) << file << " rewritten id " << v2.refs.message_id;
    std::string mta = file.substr(file.find('/') + 1);
    mta = mta.substr(0, mta.rfind('-'));
    by_mta[mta]++;
  }
  EXPECT_GE(tried, 200);
  EXPECT_GE(by_mta.size(), 40u) << "DSN formats of many MTAs";
  std::printf("ledger round trip: %d DSNs with an original Message-ID from %zu MTA families: "
              "%d not_ours untouched, %d ours after rewrite (%d with the id only inside an "
              "encoded part, not rewritten)\n",
              tried, by_mta.size(), not_ours, ours, encoded);
}

}  // namespace
}  // namespace backstop
