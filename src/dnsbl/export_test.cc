#include "dnsbl/export.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "dnsbl/atomic_file.h"
#include "dnsbl/txt.h"

namespace backstop::dnsbl {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (auto* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  closedir(d);
  return out;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/dnsbl-export-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string path;
};

store::Listing listing(std::string ip, std::map<std::string, std::uint64_t> hits, std::int64_t first,
                       std::int64_t last) {
  store::Listing l;
  l.ip = std::move(ip);
  l.hits = std::move(hits);
  l.first_seen = first;
  l.last_seen = last;
  l.listed = true;
  return l;
}

constexpr std::int64_t kNov1 = 1'793'491'200;  // 2026-11-01 00:00:00 UTC

TEST(UtcDate, FormatsDays) {
  EXPECT_EQ(utc_date(0), "1970-01-01");
  EXPECT_EQ(utc_date(kNov1), "2026-11-01");
  EXPECT_EQ(utc_date(kNov1 + 86399), "2026-11-01");
}

TEST(ListingTxt, SaysWhyAndSinceWhenWithinBounds) {
  ExportOptions o;
  o.zone = "bl.example.org";
  o.url = "https://bl.example.org/lookup";
  auto l = listing("192.0.2.10", {{"bounce", 3}, {"autoreply", 1}}, kNov1, kNov1 + 5 * 86400);
  auto t = listing_txt(l, o);
  EXPECT_EQ(t, "192.0.2.10 sent backscatter (autoreply x1, bounce x3) to bl.example.org spamtraps since "
               "2026-11-01, last 2026-11-06; expires 2026-12-04 unless seen again; free delisting: "
               "https://bl.example.org/lookup");
  EXPECT_LE(t.size(), kMaxTxtBytes);
  // Hostile values cannot break the line or the bound.
  auto evil = listing("2001:db8::1", {{"bounce\r\n127.0.0.1 :2:x", 1}}, kNov1, kNov1);
  o.txt_template = std::string(400, 'y') + " {kinds} $";
  auto e = listing_txt(evil, o);
  EXPECT_LE(e.size(), kMaxTxtBytes);
  EXPECT_EQ(e.find('\n'), std::string::npos);
  EXPECT_EQ(e.find('\r'), std::string::npos);
}

TEST(ExportZone, WritesIp4setAndIp6trieWithTestEntriesAtomically) {
  TempDir dir;
  ExportOptions o;
  o.zone = "bl.test";
  o.out_dir = dir.path;
  o.ns = "ns.bl.test";
  o.txt_template = "listed since {first}: {kinds} cost $5";
  std::vector<store::Listing> ls = {
      listing("192.0.2.10", {{"bounce", 1}}, kNov1, kNov1),
      listing("2001:db8:ffff::25", {{"autoreply", 2}}, kNov1, kNov1),
      listing("127.0.0.1", {{"bounce", 1}}, kNov1, kNov1),  // RFC 5782: never
      listing("127.0.0.2", {{"bounce", 1}}, kNov1, kNov1),  // already the test entry
      listing("garbage", {{"bounce", 1}}, kNov1, kNov1),
  };
  auto st = export_zone(ls, o, kNov1);
  ASSERT_TRUE(st) << st.error().to_string();
  EXPECT_EQ(st->ipv4, 1u);
  EXPECT_EQ(st->ipv6, 1u);
  EXPECT_EQ(st->skipped, 3u);
  const std::string v4 = read_all(dir.path + "/bl.test.ip4set");
  const std::string v6 = read_all(dir.path + "/bl.test.ip6trie");
  EXPECT_NE(v4.find("\n$TTL 2100\n$SOA 2100 ns.bl.test hostmaster.bl.test 0 600 120 604800 300\n"
                    "$NS 2100 ns.bl.test\n:127.0.0.2:Listed in bl.test\n"),
            std::string::npos)
      << v4;
  EXPECT_NE(v4.find("\n127.0.0.2 :127.0.0.2:RFC 5782 test entry of bl.test\n"), std::string::npos);
  EXPECT_NE(v4.find("\n192.0.2.10 :127.0.0.2:listed since 2026-11-01: bounce x1 cost $$5\n"), std::string::npos) << v4;
  EXPECT_EQ(v4.find("\n127.0.0.1"), std::string::npos);
  EXPECT_EQ(v4.find("2001:"), std::string::npos);
  EXPECT_NE(v6.find("\n::ffff:7f00:2/128 :127.0.0.2:RFC 5782 test entry of bl.test\n"), std::string::npos) << v6;
  EXPECT_NE(v6.find("\n2001:db8:ffff::25/128 :127.0.0.2:listed since 2026-11-01: autoreply x2 cost $$5\n"),
            std::string::npos);
  struct stat sb{};
  ASSERT_EQ(stat((dir.path + "/bl.test.ip4set").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0644u);
  // Only the two data files and the lock file: no temporary left behind.
  auto entries = dir_entries(dir.path);
  EXPECT_EQ(entries.size(), 3u);
  for (const auto& e : entries) EXPECT_EQ(e.find(".tmp."), std::string::npos) << e;
}

TEST(ExportZone, RefusesBadOptionsAndKeepsOldFiles) {
  TempDir dir;
  ExportOptions o;
  o.zone = "bl.test";
  o.out_dir = dir.path;
  ASSERT_TRUE(export_zone({}, o, kNov1));
  const std::string before = read_all(dir.path + "/bl.test.ip4set");
  o.a_value = "10.0.0.2";
  EXPECT_FALSE(export_zone({}, o, kNov1 + 86400));
  o.a_value = "127.0.0.2";
  o.zone = "bad zone";
  EXPECT_FALSE(export_zone({}, o, kNov1 + 86400));
  o.zone = "bl.test";
  o.out_dir = dir.path + "/missing";
  EXPECT_FALSE(export_zone({}, o, kNov1 + 86400));
  EXPECT_EQ(read_all(dir.path + "/bl.test.ip4set"), before);
}

TEST(AtomicFile, UncommittedWritesLeaveNothingAndCommitReplaces) {
  TempDir dir;
  const std::string path = dir.path + "/zone";
  ASSERT_TRUE(write_file_atomically(path, "old\n"));
  {
    auto f = AtomicFile::create(path);
    ASSERT_TRUE(f);
    ASSERT_TRUE((*f)->write("half of the new"));
    EXPECT_EQ(read_all(path), "old\n");  // readers still see the old file
  }  // destroyed without commit
  EXPECT_EQ(read_all(path), "old\n");
  EXPECT_EQ(dir_entries(dir.path).size(), 1u);
  auto f = AtomicFile::create(path);
  ASSERT_TRUE(f);
  std::string big(3 * kAtomicWriteBuffer + 17, 'x');
  ASSERT_TRUE((*f)->write(big));
  ASSERT_TRUE((*f)->commit());
  EXPECT_EQ(read_all(path), big);
  EXPECT_FALSE((*f)->commit());
  EXPECT_FALSE(AtomicFile::create(dir.path + "/no/such/dir/zone"));
}

}  // namespace
}  // namespace backstop::dnsbl
