#include "classify/verdict_json.h"

#include <gtest/gtest.h>

namespace backstop::classify {
namespace {

TEST(VerdictJson, EscapesAndOmitsEmptyFields) {
  References hostile;
  hostile.subject = "a\"b\\c\nd\x01\xFF";
  EXPECT_EQ(references_json(hostile), "{\"subject\":\"a\\\"b\\\\c\\nd\\u0001\xEF\xBF\xBD\"}");
  Verdict v;
  v.kind = Kind::kBounce;
  v.confidence = 0.875;
  v.signals = {"x", "y"};
  v.refs.message_id = "m@x";
  v.refs.recipients.push_back(DsnRecipient{"", "r@x", "failed", "5.1.1", ""});
  EXPECT_EQ(verdict_json(v),
            "{\"kind\":\"bounce\",\"confidence\":0.875,\"feedback_report\":false,"
            "\"signals\":[\"x\",\"y\"],\"refs\":{\"message_id\":\"m@x\",\"recipients\":"
            "[{\"final_recipient\":\"r@x\",\"action\":\"failed\",\"status\":\"5.1.1\"}]}}");
  EXPECT_EQ(references_json(References{}), "{}");
}

}  // namespace
}  // namespace backstop::classify
