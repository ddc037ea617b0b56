#include "daemon/engine.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "batv/key_file.h"
#include "common/random.h"
#include "config/config.h"
#include "store/store.h"

namespace backstop::daemon {
namespace {

class EngineStart : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/backstop-engine-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  Result<std::unique_ptr<Engine>> open() {
    auto cfg = config::Config::parse("state.dir = \"" + dir_ + "/state\"\ndomains.local = [\"example.org\"]\n");
    EXPECT_TRUE(cfg);
    return Engine::create(*cfg);
  }
  std::string keys() const { return dir_ + "/state/batv.keys"; }
  std::string dir_;
};

// A missing key file is generated on the first start only. Once the state has
// signed with it, a missing key file stops the start with an error naming the
// file and the fix: a new key would make every outstanding tag fail.
TEST_F(EngineStart, AMissingKeyFileIsRefusedOnceTheStateHasSigned) {
  {
    auto first = open();
    ASSERT_TRUE(first) << first.error().to_string();
  }
  ASSERT_TRUE(std::filesystem::exists(keys()));
  {
    auto again = open();  // the same key file: fine
    ASSERT_TRUE(again) << again.error().to_string();
  }
  std::filesystem::remove(keys());
  auto lost = open();
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error().code(), Code::kEnvironment);
  EXPECT_NE(lost.error().message().find(keys()), std::string::npos) << lost.error().message();
  EXPECT_NE(lost.error().message().find("batv keygen"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(keys())) << "must not be regenerated silently";

  SeededRandom random(3);
  ASSERT_TRUE(batv::create_key_file(keys(), random));  // the operator's deliberate choice
  auto restored = open();
  ASSERT_TRUE(restored) << restored.error().to_string();
}

// A damaged record is an error naming it at start (exit 2 in serve), not an
// exception that would abort the daemon into a crash loop.
TEST_F(EngineStart, ADamagedFirstStartRecordIsAnErrorNotACrash) {
  {
    auto first = open();
    ASSERT_TRUE(first) << first.error().to_string();
  }
  {
    auto st = store::open_lmdb_store({.dir = dir_ + "/state"});
    ASSERT_TRUE(st) << st.error().to_string();
    ASSERT_TRUE((*st)->record_put("serve:first_start", "12x34", 0));
  }
  auto damaged = open();
  ASSERT_FALSE(damaged);
  EXPECT_EQ(damaged.error().code(), Code::kEnvironment);
  EXPECT_NE(damaged.error().message().find("serve:first_start"), std::string::npos) << damaged.error().message();
}

// A damaged state file is an error at start naming the directory (serve
// exits 2 with it), not a crash that systemd would restart in a loop.
TEST_F(EngineStart, ADamagedStateFileIsAnErrorNotACrash) {
  {
    auto first = open();
    ASSERT_TRUE(first) << first.error().to_string();
  }
  const std::string data = dir_ + "/state/data.mdb";
  ASSERT_TRUE(std::filesystem::exists(data));
  {  // garbage over the meta pages
    std::ofstream f(data, std::ios::binary | std::ios::in | std::ios::out);
    const std::string junk(8192, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto damaged = open();
  ASSERT_FALSE(damaged);
  EXPECT_EQ(damaged.error().code(), Code::kEnvironment);
  EXPECT_NE(damaged.error().message().find(dir_ + "/state"), std::string::npos) << damaged.error().message();
}

// Inbound facts have their own environment and bound: a flood that fills it
// leaves the outbound counters (and the state) writable, and /healthz well.
TEST_F(EngineStart, InboundFactsFillingTheirBoundDoNotStarveTheLimiter) {
  auto cfg = config::Config::parse("state.dir = \"" + dir_ + "/state\"\nstate.map_size_mb = 16\n"
                                   "domains.local = [\"example.org\"]\n");
  ASSERT_TRUE(cfg) << cfg.error().to_string();
  auto e = Engine::create(*cfg);
  ASSERT_TRUE(e) << e.error().to_string();
  Engine& eng = **e;
  ASSERT_NE(&eng.facts(), &eng.counters());
  ASSERT_TRUE(std::filesystem::exists(dir_ + "/state/facts/data.mdb"));
  const std::string value(16 * 1024, 'f');
  Status last;
  int written = 0;
  for (int i = 0; i < 4096 && last; ++i, ++written) {
    last = eng.facts().record_put("in:flood-" + std::to_string(i) + "@example.net", value, 0);
  }
  ASSERT_FALSE(last) << "the facts environment never filled up";
  EXPECT_EQ(last.error().code(), Code::kUnavailable) << last.error().to_string();
  EXPECT_GT(written, 100);
  for (int i = 0; i < 100; ++i) {
    auto ok = eng.counters().counter_add_if_below("lim:alice:" + std::to_string(i), 1, 10, 0);
    ASSERT_TRUE(ok) << ok.error().to_string();
    EXPECT_TRUE(*ok);
  }
  EXPECT_TRUE(eng.healthy());
}

}  // namespace
}  // namespace backstop::daemon
