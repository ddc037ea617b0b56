#include "batv/key_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace backstop::batv {
namespace {

class KeyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/backstop-batv-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text, mode_t mode) {
    const std::string p = dir_ + "/" + name;
    std::ofstream(p) << text;
    ::chmod(p.c_str(), mode);
    return p;
  }
  std::string dir_;
};

TEST_F(KeyFile, ParsesKeysAndSigningKey) {
  auto ring = parse_key_file("# c\n\n0 6b6579\n 1\t736563726574 \r\nsign 1\n");
  ASSERT_TRUE(ring) << ring.error().to_string();
  EXPECT_EQ(*ring->find(0), "key");
  EXPECT_EQ(*ring->find(1), "secret");
  EXPECT_EQ(*ring->signing_key(), 1);
  EXPECT_EQ(*parse_key_file("4 00\n2 01\n")->signing_key(), 4) << "default: first listed";
}

TEST_F(KeyFile, RefusesBadText) {
  EXPECT_EQ(parse_key_file("").error().code(), Code::kNotFound);
  EXPECT_EQ(parse_key_file("# only\n").error().code(), Code::kNotFound);
  EXPECT_EQ(parse_key_file("0 abc\n").error().code(), Code::kMalformed);
  EXPECT_EQ(parse_key_file("0 zz\n").error().code(), Code::kMalformed);
  EXPECT_EQ(parse_key_file("12 00\n").error().code(), Code::kMalformed);
  EXPECT_EQ(parse_key_file("0\n").error().code(), Code::kMalformed);
  EXPECT_EQ(parse_key_file("0 00\nsign 3\n").error().code(), Code::kInvalidArgument);
  EXPECT_EQ(parse_key_file("0 00\n0 01\n").error().code(), Code::kInvalidArgument);
  auto too_long = parse_key_file("0 " + std::string(130, 'a') + "\n");
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code(), Code::kInvalidArgument) << "a 65-byte secret";
  EXPECT_TRUE(parse_key_file("0 " + std::string(128, 'a') + "\n")) << "64 bytes is the maximum";
  EXPECT_EQ(parse_key_file(std::string(kMaxKeyFileBytes + 1, '#')).error().code(), Code::kTooLarge);
}

TEST_F(KeyFile, FormatRoundTrips) {
  const std::string secret("\x00\xff\x10 binary", 10);
  auto ring = parse_key_file(format_key_file(7, secret));
  ASSERT_TRUE(ring);
  EXPECT_EQ(*ring->find(7), secret);
}

TEST_F(KeyFile, GroupOrWorldReadableRefused) {
  const std::string p = write("keys", "0 6b6579\n", 0644);
  auto r = load_key_file(p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kPermission);
  EXPECT_NE(r.error().message().find("0644"), std::string::npos) << r.error().message();
  ::chmod(p.c_str(), 0640);
  EXPECT_EQ(load_key_file(p).error().code(), Code::kPermission);
  ::chmod(p.c_str(), 0602);
  EXPECT_EQ(load_key_file(p).error().code(), Code::kPermission) << "world-writable too";
  ::chmod(p.c_str(), 0600);
  EXPECT_TRUE(load_key_file(p));
  ::chmod(p.c_str(), 0400);
  EXPECT_TRUE(load_key_file(p));
}

TEST_F(KeyFile, NotARegularFileRefused) {
  const std::string target = write("real", "0 6b6579\n", 0600);
  const std::string link = dir_ + "/link";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_EQ(load_key_file(link).error().code(), Code::kPermission);
  const std::string sub = dir_ + "/sub";
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
  EXPECT_EQ(load_key_file(sub).error().code(), Code::kPermission);
  EXPECT_EQ(load_key_file(dir_ + "/absent").error().code(), Code::kNotFound);
}

TEST_F(KeyFile, GeneratedFileIs0600WhateverTheUmask) {
  SeededRandom random(42);
  const mode_t old = ::umask(0);  // the most permissive umask
  auto ring = load_or_create_key_file(dir_ + "/new.keys", random);
  ::umask(old);
  ASSERT_TRUE(ring) << ring.error().to_string();
  struct stat st{};
  ASSERT_EQ(::stat((dir_ + "/new.keys").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_NE(ring->find(0), nullptr);
  EXPECT_EQ(ring->find(0)->size(), kGeneratedSecretBytes);
  // A second call loads the same key instead of generating another.
  SeededRandom other(7);
  auto again = load_or_create_key_file(dir_ + "/new.keys", other);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again->find(0), *ring->find(0));
}

TEST_F(KeyFile, CreationNeverOverwritesOrFollowsLinks) {
  SeededRandom random(1);
  const std::string empty = write("empty", "", 0600);
  EXPECT_EQ(load_or_create_key_file(empty, random).error().code(), Code::kNotFound);
  EXPECT_EQ(std::filesystem::file_size(empty), 0u) << "an existing file is never overwritten";
  const std::string dangling = dir_ + "/dangling";
  ASSERT_EQ(::symlink((dir_ + "/target").c_str(), dangling.c_str()), 0);
  EXPECT_FALSE(load_or_create_key_file(dangling, random));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/target")) << "no file created through a symlink";
}

// keygen never replaces a key file; rotate adds a signing key and keeps the
// old ones, so tags signed before the rotation still verify.
TEST_F(KeyFile, KeygenThenRotateKeepsOldKeysVerifying) {
  SeededRandom random(1);
  const std::string path = dir_ + "/k.keys";
  ASSERT_TRUE(create_key_file(path, random));
  auto again = create_key_file(path, random);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("rotate"), std::string::npos);
  auto before = load_key_file(path);
  ASSERT_TRUE(before);
  const std::string old_secret = *before->find(0);

  auto text = read_key_file(path);
  ASSERT_TRUE(text);
  int key = -1;
  auto rotated = rotated_key_file(*text, random, &key);
  ASSERT_TRUE(rotated) << rotated.error().to_string();
  EXPECT_EQ(key, 1);
  ASSERT_TRUE(replace_key_file(path, *rotated));
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  auto after = load_key_file(path);
  ASSERT_TRUE(after) << after.error().to_string();
  EXPECT_EQ(after->signing_key(), std::optional<int>(1));
  ASSERT_NE(after->find(0), nullptr);
  EXPECT_EQ(*after->find(0), old_secret);
  ASSERT_NE(after->find(1), nullptr);
  EXPECT_NE(*after->find(1), old_secret);
}

// `batv rotate` run as root keeps the key file the daemon's user's: serve
// runs as daemon.run_as and re-reads the file on SIGHUP.
TEST_F(KeyFile, ReplacingAsRootKeepsTheOwner) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to own a file for another user";
  constexpr unsigned kNobody = 65534;
  const std::string path = write("keys", "0 6b6579\n", 0600);
  ASSERT_EQ(::chown(path.c_str(), kNobody, kNobody), 0);
  ASSERT_TRUE(replace_key_file(path, "0 6b6579\n1 736563726574\nsign 1\n"));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kNobody);
  EXPECT_EQ(st.st_gid, kNobody);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(*load_key_file(path)->signing_key(), 1);
}

TEST_F(KeyFile, RotationWrapsAndStopsWhenEveryDigitIsUsed) {
  SeededRandom random(2);
  std::string text = "8 00aa\n9 00bb\nsign 9\n";
  int key = -1;
  auto r = rotated_key_file(text, random, &key);
  ASSERT_TRUE(r);
  EXPECT_EQ(key, 0);  // after 9 comes 0
  std::string full;
  for (int k = 0; k < 10; ++k) full += std::to_string(k) + " 00aa\n";
  auto none = rotated_key_file(full, random, &key);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), Code::kInvalidArgument);
  EXPECT_FALSE(rotated_key_file("garbage line\n", random, &key));
}

TEST_F(KeyFile, RotationNeverWritesAFileTooLargeToRead) {
  // A fuzzer's finding: a file just under the size limit rotated into one
  // over it, which the daemon would then refuse to read.
  SeededRandom random(3);
  std::string text = "0 00aa\nsign 0\n";
  while (text.size() + 40 < kMaxKeyFileBytes) text += "# " + std::string(37, 'c') + "\n";
  ASSERT_TRUE(parse_key_file(text));
  int key = -1;
  auto r = rotated_key_file(text, random, &key);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kTooLarge);
  EXPECT_EQ(key, -1);
}

}  // namespace
}  // namespace backstop::batv
