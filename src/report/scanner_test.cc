#include "report/scanner.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "report/scan_fixtures.h"

namespace backstop::report {
namespace {

using testing::dsn_message;
using testing::ham_message;
using testing::TempDir;

struct Collected {
  std::vector<MessageRecord> messages;
  std::vector<ErrorRecord> errors;
  std::vector<std::string> order;  // "file#index" of messages and errors, as delivered
};

Result<ScanStats> scan(ScanOptions o, Collected& c) {
  auto rules = classify::builtin_rules();
  if (!rules) return unexpected<Error>(rules.error());
  o.rules = *rules;
  ScanSink sink;
  sink.on_message = [&](const MessageRecord& r) {
    c.messages.push_back(r);
    c.order.push_back(r.file + "#" + std::to_string(r.index));
  };
  sink.on_error = [&](const ErrorRecord& e) {
    c.errors.push_back(e);
    c.order.push_back("error:" + e.file + "#" + std::to_string(e.index));
  };
  return run_scan(o, sink);
}

std::string mbox_of(int bounces, int hams) {
  std::string out;
  for (int i = 0; i < bounces + hams; ++i) {
    bool bounce = i % 2 == 0 ? i / 2 < bounces : (i / 2 >= hams);
    out += bounce ? "From MAILER-DAEMON Tue Jul  1 10:52:39 2003\n"
                  : "From bob@example.com Wed Jul  2 09:00:00 2003\n";
    out += bounce ? dsn_message(i) : ham_message(i);
    out += "\n";
  }
  return out;
}

TEST(Scan, MboxAndFilesInDeterministicOrderWithAnyJobs) {
  TempDir dir;
  std::string mbox = dir.write("inbox.mbox", mbox_of(20, 20));
  std::string eml = dir.write("single.eml", dsn_message(99));
  std::vector<std::string> first;
  for (unsigned jobs : {1u, 2u, 4u}) {
    Collected c;
    ScanOptions o;
    o.paths = {mbox, eml};
    o.jobs = jobs;
    auto st = scan(o, c);
    ASSERT_TRUE(st.has_value()) << st.error().to_string();
    EXPECT_EQ(st->messages, 41u);
    EXPECT_EQ(st->paths_opened, 2u);
    ASSERT_EQ(c.messages.size(), 41u);
    for (std::size_t i = 0; i < 40; ++i) {
      EXPECT_EQ(c.messages[i].file, mbox);
      EXPECT_EQ(c.messages[i].index, i);
    }
    EXPECT_EQ(c.messages[40].file, eml);
    EXPECT_EQ(c.messages[40].index, 0u);
    if (first.empty()) {
      first = c.order;
    } else {
      EXPECT_EQ(c.order, first) << "jobs=" << jobs;
    }
    // The classic DSN is a bounce, the ham is not.
    EXPECT_EQ(c.messages[40].kind, "bounce");
    std::size_t bounces = 0;
    for (const auto& m : c.messages) bounces += m.kind == "bounce";
    EXPECT_EQ(bounces, 21u);
  }
}

TEST(Scan, DirectoryPathsJoinTheInnerPath) {
  TempDir dir;
  dir.write("maildir/cur/1.host:2,S", dsn_message(1));
  dir.write("maildir/new/2.host", ham_message(2));
  dir.write("maildir/tmp/.keep", "");
  Collected c;
  ScanOptions o;
  o.paths = {(dir.path() / "maildir").string()};
  o.jobs = 2;
  auto st = scan(o, c);
  ASSERT_TRUE(st.has_value());
  ASSERT_EQ(c.messages.size(), 2u);
  for (const auto& m : c.messages) {
    EXPECT_EQ(m.file.rfind((dir.path() / "maildir").string() + "/", 0), 0u) << m.file;
  }
}

TEST(Scan, UnreadablePathIsAnErrorAndTheScanGoesOn) {
  TempDir dir;
  std::string eml = dir.write("a.eml", dsn_message(1));
  Collected c;
  ScanOptions o;
  o.paths = {(dir.path() / "missing").string(), eml};
  auto st = scan(o, c);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->paths_failed, 1u);
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0].file, (dir.path() / "missing").string());
  ASSERT_EQ(c.messages.size(), 1u);
  EXPECT_EQ(c.order.front(), "error:" + (dir.path() / "missing").string() + "#0");
}

TEST(Scan, NoReadablePathFails) {
  Collected c;
  ScanOptions o;
  o.paths = {"/nonexistent/backstop/a", "/nonexistent/backstop/b"};
  auto st = scan(o, c);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code(), Code::kNotFound);
  EXPECT_EQ(c.errors.size(), 2u);
}

TEST(Scan, BinaryFileIsAnErrorForThatFile) {
  TempDir dir;
  std::string bin(4096, '\0');
  for (std::size_t i = 0; i < bin.size(); ++i) bin[i] = static_cast<char>((i * 131) % 256);
  std::string b = dir.write("blob.bin", bin);
  std::string eml = dir.write("z.eml", ham_message(1));
  Collected c;
  ScanOptions o;
  o.paths = {b, eml};
  auto st = scan(o, c);
  ASSERT_TRUE(st.has_value());
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0].file, b);
  ASSERT_EQ(c.messages.size(), 1u);
  EXPECT_EQ(c.messages[0].kind, "none");
}

TEST(Scan, TinyWindowStillCompletesInOrder) {
  TempDir dir;
  std::string mbox = dir.write("m.mbox", mbox_of(30, 30));
  Collected c;
  ScanOptions o;
  o.paths = {mbox};
  o.jobs = 3;
  o.max_inflight_bytes = 1;  // one message at a time
  o.max_inflight_items = 2;
  auto st = scan(o, c);
  ASSERT_TRUE(st.has_value());
  ASSERT_EQ(c.messages.size(), 60u);
  for (std::size_t i = 0; i < c.messages.size(); ++i) EXPECT_EQ(c.messages[i].index, i);
}

TEST(Scan, RejectsEmptyOptions) {
  ScanSink sink;
  ScanOptions o;
  EXPECT_FALSE(run_scan(o, sink).has_value());
  o.paths = {"x"};
  EXPECT_FALSE(run_scan(o, sink).has_value());  // no rules
}

}  // namespace
}  // namespace backstop::report
