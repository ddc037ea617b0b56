// Every file listed in every LABELS.tsv under $BACKSTOP_SHARED/corpora is
// read through open_source and parsed: each yields at least one message, no
// ReadError, no parse error, and a non-empty header section.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "mail/mailbox.h"
#include "mail/message.h"

namespace backstop::mail {
namespace {

namespace fs = std::filesystem;

fs::path corpora_dir() {
  const char* shared = std::getenv("BACKSTOP_SHARED");
  return fs::path(shared != nullptr ? shared : "../shared") / "corpora";
}

// (labels file, message path) for every row of every LABELS.tsv.
std::vector<fs::path> labelled_files() {
  std::vector<fs::path> out;
  std::vector<fs::path> labels;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(corpora_dir(), ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename() == "LABELS.tsv") labels.push_back(it->path());
  }
  std::sort(labels.begin(), labels.end());
  for (const fs::path& l : labels) {
    std::ifstream in(l);
    std::string line;
    std::getline(in, line);  // header row
    while (std::getline(in, line)) {
      const std::string file = line.substr(0, line.find('\t'));
      if (!file.empty()) out.push_back(l.parent_path() / file);
    }
  }
  return out;
}

TEST(CorpusParse, EveryLabelledMessageParses) {
  const auto files = labelled_files();
  ASSERT_GT(files.size(), 3000u) << "corpora not found under " << corpora_dir();
  std::size_t messages = 0;
  std::map<std::string, std::size_t> counts;  // path relative to corpora -> messages
  for (const fs::path& f : files) {
    auto src = open_source(f.string());
    ASSERT_TRUE(src.has_value()) << f << ": " << src.error().to_string();
    std::size_t n = 0;
    while (auto r = (*src)->next()) {
      if (!r->has_value()) {
        ADD_FAILURE() << f << " #" << r->error().index << ": " << r->error().error.to_string();
        continue;
      }
      ++n;
      auto m = parse_message((*r)->bytes);
      if (!m.has_value()) {
        ADD_FAILURE() << f << " #" << (*r)->index << ": " << m.error().to_string();
        continue;
      }
      EXPECT_FALSE(m->headers.empty()) << f << " #" << (*r)->index;
      EXPECT_FALSE(m->parts.empty()) << f << " #" << (*r)->index;
    }
    EXPECT_GE(n, 1u) << f;
    messages += n;
    const std::string rel = fs::relative(f, corpora_dir()).string();
    counts[rel] = n;
    if (n > 1) std::printf("corpus_parse: %s holds %zu messages\n", rel.c_str(), n);
  }
  // mbox files with several messages (counted by hand: From_ lines after an
  // empty line, outside MIME parts).
  EXPECT_EQ(counts["php-bmh-voku-fixtures/bouncehammer/17-messages.eml"], 37u);
  EXPECT_EQ(counts["php-bmh-voku-fixtures/bouncehammer/double-messages.eml"], 2u);
  EXPECT_EQ(counts["php-bmh-voku-fixtures/bouncehammer/single-message.eml"], 1u);
  // A From_ line quoting the original inside a challenge body is no separator.
  EXPECT_EQ(counts["spamassassin-t.rules-bounce/BOUNCE_MESSAGE/10"], 1u);
  EXPECT_EQ(counts["sisimai-set-of-emails/not/rb-issue-368-bug.eml"], 1u);
  EXPECT_GT(messages, files.size());
  std::printf("corpus_parse: %zu files, %zu messages\n", files.size(), messages);
}

}  // namespace
}  // namespace backstop::mail
