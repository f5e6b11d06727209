// The judge's reply parser (eval/judge_reply) on the replies LLMs actually write: bare JSON, fenced
// JSON, JSON in prose, numbers as strings, per-drug verdicts, and the many ways a reply is unusable
// (each refused with its reason). Also the prompt, the request body, the cache key and the URL rules.
#include <gtest/gtest.h>

#include "rxlm/core/error.h"
#include "rxlm/eval/judge.h"

namespace rxlm::eval {
namespace {

JudgeVerdict ok_reply(std::string_view reply, int suggested) {
  JudgeVerdict v = parse_judge_reply(reply, suggested);
  EXPECT_TRUE(v.ok) << "reply: " << reply << "\nerror: " << v.error;
  return v;
}

std::string refused(std::string_view reply, int suggested) {
  JudgeVerdict v = parse_judge_reply(reply, suggested);
  EXPECT_FALSE(v.ok) << "accepted: " << reply;
  EXPECT_FALSE(v.error.empty());
  return v.error;
}

TEST(JudgeReply, BareJson) {
  auto v = ok_reply(R"({"appropriate": 2, "inappropriate": 1})", 3);
  EXPECT_EQ(v.appropriate, 2);
  EXPECT_EQ(v.inappropriate, 1);
  EXPECT_TRUE(v.verdicts.empty());
}

TEST(JudgeReply, FencedJsonWithProseAround) {
  auto v = ok_reply("Here is my assessment:\n```json\n{\n  \"appropriate\": 4,\n  \"inappropriate\": 0\n}\n```\n"
                    "All four drugs fit the diagnoses.",
                    4);
  EXPECT_EQ(v.appropriate, 4);
  EXPECT_EQ(v.inappropriate, 0);
}

TEST(JudgeReply, JsonInsideProseWithStrayBraceBefore) {
  // An unbalanced "{" in the prose must not swallow the real object.
  auto v = ok_reply("Counting {roughly: the result is {\"appropriate\": 1, \"inappropriate\": 1} as asked.", 2);
  EXPECT_EQ(v.appropriate, 1);
}

TEST(JudgeReply, BracesInsideStringsAreNotStructure) {
  auto v = ok_reply(R"({"note": "dose {x} } unclear", "appropriate": 3, "inappropriate": 2})", 5);
  EXPECT_EQ(v.appropriate, 3);
  EXPECT_EQ(v.inappropriate, 2);
}

TEST(JudgeReply, NumbersAsStringsAndWholeFloats) {
  auto v = ok_reply(R"({"appropriate": " 2 ", "inappropriate": "0"})", 2);
  EXPECT_EQ(v.appropriate, 2);
  auto w = ok_reply(R"({"appropriate": 1.0, "inappropriate": 2e0})", 3);
  EXPECT_EQ(w.appropriate, 1);
  EXPECT_EQ(w.inappropriate, 2);
}

TEST(JudgeReply, KeysAreCaseInsensitiveAndMayBeNested) {
  auto v = ok_reply(R"({"Appropriate": 1, "INAPPROPRIATE": 2})", 3);
  EXPECT_EQ(v.inappropriate, 2);
  auto w = ok_reply(R"({"result": {"appropriate": 2, "inappropriate": 0}})", 2);
  EXPECT_EQ(w.appropriate, 2);
}

TEST(JudgeReply, FirstObjectWithCountsWins) {
  // An object without the keys (an echo of something) is passed over; the first verdict is used.
  auto v = ok_reply(R"({"drug": "heparin"} then {"appropriate": 1, "inappropriate": 0} and {"appropriate": 0, "inappropriate": 1})", 1);
  EXPECT_EQ(v.appropriate, 1);
}

TEST(JudgeReply, PerDrugVerdictsRecordedAndChecked) {
  auto v = ok_reply(R"({"appropriate": 1, "inappropriate": 1, "verdicts": [
      {"drug": "heparin", "appropriate": true}, {"drug": "insulin", "appropriate": "no"}]})", 2);
  ASSERT_EQ(v.verdicts.size(), 2u);
  EXPECT_EQ(v.verdicts[0].drug, "heparin");
  EXPECT_TRUE(v.verdicts[0].appropriate);
  EXPECT_FALSE(v.verdicts[1].appropriate);
  // Verdicts alone are enough: the counts are tallied from them.
  auto w = ok_reply(R"({"verdicts": [{"drug": "a", "appropriate": false}, {"drug": "b", "appropriate": true},
      {"drug": "c", "appropriate": true}]})", 3);
  EXPECT_EQ(w.appropriate, 2);
  EXPECT_EQ(w.inappropriate, 1);
}

TEST(JudgeReply, BrokenVerdictsAreDroppedWhenCountsStand) {
  auto v = ok_reply(R"({"appropriate": 2, "inappropriate": 0, "verdicts": "all good"})", 2);
  EXPECT_TRUE(v.verdicts.empty());
  EXPECT_NE(refused(R"({"verdicts": [{"drug": "a", "appropriate": "maybe"}]})", 1).find("verdicts[0]"),
            std::string::npos);
}

TEST(JudgeReply, VerdictsContradictingCounts) {
  const auto error = refused(R"({"appropriate": 2, "inappropriate": 0, "verdicts": [
      {"drug": "a", "appropriate": true}, {"drug": "b", "appropriate": false}]})", 2);
  EXPECT_NE(error.find("contradict"), std::string::npos) << error;
}

TEST(JudgeReply, CountsMustAddUpToTheSuggestedDrugs) {
  EXPECT_EQ(refused(R"({"appropriate": 2, "inappropriate": 2})", 3), "counts 2 + 2 = 4, but 3 drugs were suggested");
  EXPECT_EQ(refused(R"({"appropriate": 0, "inappropriate": 0})", 1), "counts 0 + 0 = 0, but 1 drug was suggested");
}

TEST(JudgeReply, MalformedRepliesSayWhy) {
  EXPECT_EQ(refused("", 2), "empty reply");
  EXPECT_EQ(refused("   \n ", 2), "empty reply");
  EXPECT_EQ(refused("All of the drugs look appropriate to me.", 2), "no JSON object in the reply");
  EXPECT_NE(refused("{appropriate: 2, inappropriate: 0}", 2).find("no valid JSON"), std::string::npos);
  EXPECT_NE(refused(R"({"appropriate": 2, "inappropriate": 0)", 2).find("no JSON object"), std::string::npos);
  EXPECT_EQ(refused(R"({"score": 0.8, "comment": "fine"})", 2),
            "the JSON has no \"appropriate\"/\"inappropriate\" counts (keys: comment, score)");
  EXPECT_EQ(refused(R"({"appropriate": "three", "inappropriate": 0})", 3), "\"appropriate\" is \"three\", not a number");
  EXPECT_EQ(refused(R"({"appropriate": 1.5, "inappropriate": 0.5})", 2), "\"appropriate\" is 1.5, not a whole number");
  EXPECT_EQ(refused(R"({"appropriate": -1, "inappropriate": 3})", 2), "\"appropriate\" is -1, outside 0..1000000");
  EXPECT_EQ(refused(R"({"appropriate": null, "inappropriate": 1})", 1), "\"appropriate\" is null, not a number");
  EXPECT_EQ(refused(R"({"appropriate": [1], "inappropriate": 0})", 1), "\"appropriate\" is [1], not a number");
  EXPECT_EQ(refused(R"({"appropriate": true, "inappropriate": 0})", 1), "\"appropriate\" is true, not a number");
  EXPECT_EQ(refused(R"({"appropriate": 2})", 2), "missing \"inappropriate\"");
  EXPECT_EQ(refused(R"({"inappropriate": 2})", 2), "missing \"appropriate\"");
  EXPECT_EQ(refused(R"({"appropriate": "2 of 3", "inappropriate": "1"})", 3),
            "\"appropriate\" is \"2 of 3\", not a number");
}

TEST(JudgeReply, ReplyCutOffByTheTokenLimit) {
  // finish_reason "length": the object never closes.
  EXPECT_EQ(refused("{\"appropriate\": 3, \"inappropriate\": 0, \"verdicts\": [{\"drug\": \"hepa", 3),
            "no JSON object in the reply");
}

TEST(JudgeReply, FindJsonObjects) {
  const auto objects = find_json_objects("a {\"x\": {\"y\": 1}} b {} c { unbalanced");
  ASSERT_EQ(objects.size(), 2u);
  EXPECT_EQ(objects[0], "{\"x\": {\"y\": 1}}");
  EXPECT_EQ(objects[1], "{}");
}

PredictionRecord record(std::vector<std::string> drugs) {
  PredictionRecord r;
  r.sample_id = "s1";
  r.parsed = true;
  r.drugs = std::move(drugs);
  r.user = "Patient: age 67, sex female, height unknown, weight unknown, BMI unknown, admission type urgent.\n"
           "Diagnoses (in coded order):\n1. ICD-10 I4891: Unspecified atrial fibrillation\n"
           "List the drugs to prescribe for this admission.";
  return r;
}

TEST(JudgePrompt, AsksThePapersQuestionAboutThisAdmission) {
  const std::string prompt = render_judge_prompt(record({"heparin", "metoprolol tartrate"}));
  EXPECT_NE(prompt.find("tell me the number of appropriate and the number of inappropriate prescriptions"),
            std::string::npos);
  EXPECT_NE(prompt.find("1. ICD-10 I4891: Unspecified atrial fibrillation\n\nSuggested drugs (2):\n1. heparin\n"
                        "2. metoprolol tartrate\n"),
            std::string::npos)
      << prompt;
  EXPECT_EQ(prompt.find("List the drugs to prescribe"), std::string::npos);  // the predictor's instruction is dropped
  EXPECT_NE(prompt.find("must add up to 2"), std::string::npos);
  EXPECT_EQ(prompt.find("{admission}"), std::string::npos);
}

TEST(JudgePrompt, RequestBody) {
  JudgeRequestOptions options;
  options.model = "judge-model";
  auto body = chat_completion_request(options, "question");
  EXPECT_EQ(body["model"], "judge-model");
  EXPECT_EQ(body["messages"][0]["role"], "system");
  EXPECT_EQ(body["messages"][1]["content"], "question");
  EXPECT_EQ(body["temperature"], 0.0);
  EXPECT_EQ(body["response_format"]["type"], "json_object");
  options.json_mode = false;
  EXPECT_FALSE(chat_completion_request(options, "q").contains("response_format"));
}

TEST(JudgePrompt, CacheKeyDependsOnModelAndPromptOnly) {
  const std::string key = judge_cache_key("m", "prompt");
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(key, judge_cache_key("m", "prompt"));
  EXPECT_NE(key, judge_cache_key("m2", "prompt"));
  EXPECT_NE(key, judge_cache_key("m", "prompt2"));
  // Field boundaries are unambiguous: moving bytes between model and prompt changes the key.
  EXPECT_NE(judge_cache_key("ab", "c"), judge_cache_key("a", "bc"));
}

TEST(JudgeEndpoint, UrlForms) {
  EXPECT_EQ(chat_completions_url("http://127.0.0.1:8080").origin, "http://127.0.0.1:8080");
  EXPECT_EQ(chat_completions_url("http://127.0.0.1:8080").path, "/v1/chat/completions");
  EXPECT_EQ(chat_completions_url("http://h:1/v1/").path, "/v1/chat/completions");
  EXPECT_EQ(chat_completions_url("https://api.example.com/openai/v1").path, "/openai/v1/chat/completions");
  EXPECT_EQ(chat_completions_url("http://h/x/v1/chat/completions").path, "/x/v1/chat/completions");
  EXPECT_THROW(chat_completions_url("127.0.0.1:8080"), Error);
  EXPECT_THROW(chat_completions_url("ftp://h/"), Error);
  EXPECT_THROW(chat_completions_url("http:///v1"), Error);
}

TEST(JudgeEndpoint, ChatCompletionContent) {
  EXPECT_EQ(chat_completion_content(R"({"choices":[{"message":{"role":"assistant","content":"hi"}}]})"), "hi");
  EXPECT_EQ(chat_completion_content(R"({"choices":[{"message":{"role":"assistant","content":null}}]})"), "");
  EXPECT_THROW(chat_completion_content("<html>busy</html>"), Error);
  EXPECT_THROW(chat_completion_content(R"({"error": "overloaded"})"), Error);
}

}  // namespace
}  // namespace rxlm::eval
