#include "report/writers.h"

#include <gtest/gtest.h>

#include <cstdio>

#include <string>
#include <vector>

#include "report/json_check.h"

namespace backstop::report {
namespace {

using testing::Json;
using testing::parse_json;

MessageRecord hostile() {
  MessageRecord r;
  r.file = "dir/with \"quotes\",comma\n.mbox";
  r.index = 7;
  r.kind = "bounce";
  r.confidence = 0.95;
  r.signals = {"dsn.report", "from.mailer_daemon"};
  r.subject = std::string("Undelivered \xFF\xFE mail <b>\x01") + std::string(1, '\0') + "\"";
  r.from = "MAILER-DAEMON@mx.example";
  r.date = "Tue, 1 Jul 2003 10:52:37 +0200";
  r.day = "2003-07-01";
  r.source_ip = "198.51.100.7";
  r.refs.message_id = "abc@\xC3";
  r.refs.original_sender = "alice@example.org";
  r.refs.recipients.push_back(RecipientRef{"", "bob@example.net", "failed", "5.1.1",
                                           "smtp; 550 5.1.1 <bob>... User unknown"});
  r.refs.recipients.push_back(RecipientRef{"carol@example.net", "carol@example.net", "delayed",
                                           "4.4.1", ""});
  r.size = 1234;
  return r;
}

TEST(Jsonl, ValidJsonWithRequiredFields) {
  std::string line = jsonl_line(hostile());
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto v = parse_json(line);
  ASSERT_TRUE(v.has_value()) << line;
  EXPECT_EQ((*v)["file"].str, "dir/with \"quotes\",comma\n.mbox");
  EXPECT_EQ((*v)["index"].number, 7);
  EXPECT_EQ((*v)["kind"].str, "bounce");
  EXPECT_DOUBLE_EQ((*v)["confidence"].number, 0.95);
  ASSERT_EQ((*v)["signals"].array.size(), 2u);
  EXPECT_EQ((*v)["signals"].array[1].str, "from.mailer_daemon");
  EXPECT_EQ((*v)["subject"].str,
            std::string("Undelivered \xEF\xBF\xBD\xEF\xBF\xBD mail <b>\x01") + std::string(1, '\0') + "\"");
  EXPECT_EQ((*v)["source_ip"].str, "198.51.100.7");
  EXPECT_EQ((*v)["feedback_report"].type, Json::Type::kBool);
  const Json& refs = (*v)["refs"];
  EXPECT_EQ(refs["message_id"].str, "abc@\xEF\xBF\xBD");
  EXPECT_EQ(refs["original_sender"].str, "alice@example.org");
  ASSERT_EQ(refs["original_recipients"].array.size(), 2u);
  EXPECT_EQ(refs["original_recipients"].array[0].str, "bob@example.net");
  EXPECT_EQ(refs["original_recipients"].array[1].str, "carol@example.net");
  ASSERT_EQ(refs["status_codes"].array.size(), 2u);
  EXPECT_EQ(refs["status_codes"].array[0].str, "5.1.1");
  EXPECT_EQ(refs["recipients"].array[0]["diagnostic"].str, "smtp; 550 5.1.1 <bob>... User unknown");
  EXPECT_EQ(refs["in_reply_to"].type, Json::Type::kArray);
}

TEST(Jsonl, EmptyStringsAreNullAndNanConfidenceIsValid) {
  MessageRecord r;
  r.kind = "none";
  r.confidence = 0.0 / 0.0;
  auto v = parse_json(jsonl_line(r));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ((*v)["subject"].type, Json::Type::kNull);
  EXPECT_EQ((*v)["source_ip"].type, Json::Type::kNull);
  EXPECT_EQ((*v)["confidence"].number, 0.0);
}

// Splits one CSV record per RFC 4180 (test-side parser).
std::vector<std::string> parse_csv_record(const std::string& row, std::size_t* consumed) {
  std::vector<std::string> out(1);
  std::size_t i = 0;
  bool quoted = false;
  bool at_start = true;
  for (; i < row.size(); ++i) {
    char c = row[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < row.size() && row[i + 1] == '"') {
          out.back() += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        out.back() += c;
      }
    } else if (c == '"' && at_start) {
      quoted = true;
      at_start = false;
    } else if (c == ',') {
      out.emplace_back();
      at_start = true;
    } else if (c == '\r' && i + 1 < row.size() && row[i + 1] == '\n') {
      i += 2;
      break;
    } else {
      EXPECT_NE(c, '"') << "bare quote inside an unquoted field";
      out.back() += c;
      at_start = false;
    }
  }
  *consumed = i;
  return out;
}

TEST(Csv, RowsRoundTripThroughAnRfc4180Parser) {
  std::size_t n = 0;
  auto header = parse_csv_record(csv_header(), &n);
  EXPECT_EQ(n, csv_header().size());
  std::string row = csv_row(hostile());
  auto cols = parse_csv_record(row, &n);
  EXPECT_EQ(n, row.size());
  ASSERT_EQ(cols.size(), header.size());
  EXPECT_EQ(cols[0], "dir/with \"quotes\",comma\n.mbox");
  EXPECT_EQ(cols[1], "7");
  EXPECT_EQ(cols[2], "bounce");
  EXPECT_EQ(cols[4], "dsn.report;from.mailer_daemon");
  EXPECT_EQ(cols[16], "bob@example.net;carol@example.net");
  EXPECT_EQ(header[16], "original_recipients");
}

TEST(Summary, ShowsSectionsAndKeepsHostileTextOnOneLine) {
  Aggregator a;
  MessageRecord r = hostile();
  r.local_recipients = {"victim@example.org\nInjected: line"};
  a.add(r);
  a.add_error(ErrorRecord{"bin\x1b[31m.dat", 0, "malformed", "no header section"});
  std::string text = text_summary(a.summary());
  EXPECT_NE(text.find("By kind"), std::string::npos);
  EXPECT_NE(text.find("bounce"), std::string::npos);
  EXPECT_NE(text.find("2003-07-01"), std::string::npos);
  EXPECT_NE(text.find("198.51.100.7"), std::string::npos);
  EXPECT_NE(text.find("alice@example.org"), std::string::npos);
  EXPECT_NE(text.find("victim@example.org Injected: line"), std::string::npos);
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_NE(text.find("malformed"), std::string::npos);
}

TEST(Summary, PeriodsFollowTheSpanWithTheShareOnItsOwnScale) {
  Aggregator a;
  for (int y = 2000; y < 2025; ++y) {
    for (int m = 1; m <= 12; ++m) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%d-%02d-15", y, m);
      MessageRecord r;
      r.day = buf;
      r.kind = "none";
      for (int i = 0; i < (y == 2024 && m == 12 ? 9 : 99); ++i) a.add(r);
      r.kind = "bounce";
      a.add(r);
    }
  }
  MessageRecord future;
  future.day = "2099-01-01";
  future.kind = "bounce";
  a.add(future);
  const std::string text = text_summary(a.summary(), 10, "2025-01-10");
  EXPECT_NE(text.find("By month (UTC, from Date)"), std::string::npos);
  EXPECT_EQ(text.find("2024-12-15"), std::string::npos);  // no day rows
  // 1% of 100 gets a short bar, 10% of 10 the full one (its own scale).
  EXPECT_NE(text.find("  2000-01             100            1    1.0%  ##\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  2024-12              10            1   10.0%  ####################\n"), std::string::npos);
  EXPECT_NE(text.find("(future)              1            1  (dated after the scan)"), std::string::npos);
}

TEST(Summary, LongSourcesArePrintedWhole) {
  Aggregator a;
  MessageRecord r;
  r.kind = "bounce";
  r.source_ip = "2001:db8::25";
  r.source_host = std::string(300, 'h') + ".relay.example.org";
  a.add(r);
  const std::string text = text_summary(a.summary());
  EXPECT_NE(text.find(r.source_ip + " (" + r.source_host + ")\n"), std::string::npos);
}

}  // namespace
}  // namespace backstop::report
