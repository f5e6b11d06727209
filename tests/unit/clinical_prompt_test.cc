// The prompt/answer format and the strict answer parser (the paper's "output rate"), plus the patient split.
#include <gtest/gtest.h>

#include <set>

#include "rxlm/clinical/prompt.h"
#include "rxlm/clinical/split.h"

using namespace rxlm::clinical;

TEST(Prompt, UserMessageSaysUnknownAndCapsAge) {
  AdmissionPrompt admission;
  admission.patient = {93, "female", std::nullopt, 67.585, std::nullopt, "urgent"};
  admission.diagnoses = {{10, "C73", "Malignant neoplasm of thyroid gland"}, {9, "V707", ""}};
  EXPECT_EQ(render_user(admission),
            "Patient: age 90 or older, sex female, height unknown, weight 67.6 kg, BMI unknown, admission type urgent.\n"
            "Diagnoses (in coded order):\n"
            "1. ICD-10 C73: Malignant neoplasm of thyroid gland\n"
            "2. ICD-9 V707: title unknown\n"
            "List the drugs to prescribe for this admission.");
  admission.patient = {};
  EXPECT_EQ(render_user(admission).substr(0, render_user(admission).find('\n')),
            "Patient: age unknown, sex unknown, height unknown, weight unknown, BMI unknown, admission type unknown.");
}

TEST(Prompt, AnswerRoundTripsThroughTheParser) {
  std::vector<std::string> drugs = {"acetaminophen", "acetaminophen/oxycodone", "insulin regular", "vitamin d3"};
  std::string answer = render_answer(drugs);
  EXPECT_EQ(answer, "Drugs:\n- acetaminophen\n- acetaminophen/oxycodone\n- insulin regular\n- vitamin d3");
  ParsedAnswer parsed = parse_answer(answer);
  ASSERT_TRUE(parsed.ok) << parsed.error;
  EXPECT_EQ(parsed.drugs, drugs);
  EXPECT_TRUE(parse_answer(answer + "\n").ok);  // a final newline is tolerated
  auto sample = chat_sample(AdmissionPrompt{}, drugs, {{"sample_id", "s000001"}});
  EXPECT_EQ(sample["messages"][0]["role"], "system");
  EXPECT_EQ(sample["messages"][2]["content"], answer);
  EXPECT_EQ(sample["meta"]["sample_id"], "s000001");
}

TEST(Prompt, FastJsonLineEqualsTheJsonLibrary) {
  AdmissionPrompt admission;
  admission.patient = {40, "male", 180.0, 80.0, 24.7, "emergency"};
  // Quotes, backslashes, control characters and UTF-8 must be escaped exactly as nlohmann does.
  admission.diagnoses = {{10, "T7840XA", "Allergy, \"unspecified\" \\ tab\there\x01 caf\xC3\xA9"}};
  std::vector<std::string> drugs = {"epinephrine", "diphenhydramine"};
  nlohmann::ordered_json meta = {{"sample_id", "s000007"}, {"split", "test"}, {"atc", {"C01CA24", ""}}};
  std::string line;
  append_chat_line(line, render_user(admission), render_answer(drugs), meta.dump());
  EXPECT_EQ(line, chat_sample(admission, drugs, meta).dump() + "\n");
  line.clear();
  append_chat_line(line, "u", "a", "");
  EXPECT_EQ(line, R"({"messages":[{"role":"system","content":)" + nlohmann::json(system_prompt()).dump() +
                      R"(},{"role":"user","content":"u"},{"role":"assistant","content":"a"}]})" + "\n");
}

TEST(Prompt, OnePassJsonLineEqualsTheTwoPassOne) {
  PatientFacts patient{40, "male", 180.0, 80.04, 24.75, "surgical same-day admission"};
  std::vector<std::string> titles = {"Allergy, \"unspecified\" \\ tab\there\x01", "", std::string(70, 'x')};
  std::vector<DiagnosisView> diagnoses = {{10, "T7840XA", titles[0]}, {9, "V707", titles[1]}, {10, "I10", titles[2]}};
  std::vector<std::string_view> drugs = {"epinephrine", "diphenhydramine", "a\"b"};
  const std::string meta = R"({"sample_id":"s000007"})";
  for (const std::string_view meta_json : {std::string_view(meta), std::string_view()}) {
    std::string user, answer, expected;
    append_user(user, patient, diagnoses);
    append_answer(answer, drugs);
    append_chat_line(expected, user, answer, meta_json);
    rxlm::TextBuffer buffer;
    buffer.append("kept:");
    ASSERT_TRUE(append_chat_line(buffer, patient, diagnoses, drugs, meta_json));
    EXPECT_EQ(buffer.view(), "kept:" + expected);
  }
  // The views render like the AdmissionPrompt they come from.
  AdmissionPrompt admission{patient, {{10, "T7840XA", titles[0]}, {9, "V707", ""}, {10, "I10", titles[2]}}};
  std::string user;
  append_user(user, patient, diagnoses);
  EXPECT_EQ(user, render_user(admission));
  // Text beyond ASCII is left to the two-pass writer, which checks UTF-8 as nlohmann does.
  diagnoses[1].title = "caf\xC3\xA9";
  rxlm::TextBuffer buffer;
  buffer.append("kept:");
  EXPECT_FALSE(append_chat_line(buffer, patient, diagnoses, drugs, meta));
  EXPECT_EQ(buffer.view(), "kept:");
}

TEST(Prompt, LinesRenderedOnceEqualTheLinesWrittenFromTheFields) {
  // prep renders each code's and each drug's JSON text once (json_diagnosis_rest, json_drug_line) and
  // copies it into every line: the lines must not change, with a cache for some entries or for all.
  PatientFacts patient{67, "female", std::nullopt, 108.4, std::nullopt, "direct emergency"};
  const std::vector<std::string> titles = {"Septic \"shock\"\t", "", "Unspecified essential hypertension"};
  std::vector<DiagnosisView> diagnoses = {{9, "78552", titles[0]}, {10, "Z9989", titles[1]}, {9, "4019", titles[2]}};
  const std::vector<std::string_view> drugs = {"acetaminophen", "a\\b\"c", "senna"};
  const std::string meta = R"({"sample_id":"s000001"})";
  rxlm::TextBuffer plain;
  ASSERT_TRUE(append_chat_line(plain, patient, diagnoses, drugs, meta));
  std::vector<std::string> diagnosis_json, drug_json;
  for (const auto& d : diagnoses) diagnosis_json.push_back(json_diagnosis_rest(d));
  for (const auto& drug : drugs) drug_json.push_back(json_drug_line(drug));
  EXPECT_EQ(diagnosis_json[0], R"(. ICD-9 78552: Septic \"shock\"\t\n)");
  EXPECT_EQ(diagnosis_json[1], R"(. ICD-10 Z9989: title unknown\n)");
  EXPECT_EQ(drug_json[1], R"(\n- a\\b\"c)");
  for (std::size_t cached : {std::size_t{1}, std::size_t{3}}) {  // the first entry only, or all of them
    std::vector<DiagnosisView> with = diagnoses;
    std::vector<std::string_view> drug_lines;
    for (std::size_t i = 0; i < cached; ++i) {
      with[i].json_rest = diagnosis_json[i];
      drug_lines.push_back(drug_json[i]);
    }
    rxlm::TextBuffer buffer;
    ASSERT_TRUE(append_chat_line(buffer, patient, with, drugs, meta, drug_lines));
    EXPECT_EQ(buffer.view(), plain.view()) << cached << " cached";
  }
  EXPECT_EQ(json_drug_line("caf\xC3\xA9"), "") << "beyond ASCII is left to the checked writer";
}

TEST(Prompt, ParserRejectsAnythingElse) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "does not start"},
      {"Drugs:", "no drug listed"},
      {"drugs:\n- aspirin", "does not start"},
      {"Sure! Drugs:\n- aspirin", "does not start"},
      {"Drugs:\n- aspirin\nThese are suggestions.", "line 3: does not start with \"- \""},
      {"Drugs:\n-aspirin", "line 2"},
      {"Drugs:\n- ", "line 2"},
      {"Drugs:\n-  aspirin", "line 2: empty drug name"},
      {"Drugs:\n- Aspirin", "character 'A'"},
      {"Drugs:\n- aspirin\n- aspirin", "'aspirin' repeated"},
      {"Drugs:\n\n- aspirin", "line 2"},
      {"Drugs: aspirin", "expected a new line"},
  };
  for (const auto& [text, why] : bad) {
    ParsedAnswer parsed = parse_answer(text);
    EXPECT_FALSE(parsed.ok) << text;
    EXPECT_TRUE(parsed.drugs.empty());
    EXPECT_NE(parsed.error.find(why), std::string::npos) << "'" << text << "': " << parsed.error;
  }
}

TEST(Split, PatientsGoToExactlyOneSplitInTheRequestedShares) {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 1000; ++i) ids.push_back(10000000 + 7 * i);
  auto split = split_patients(ids, 42, 0.1, 0.1);
  ASSERT_EQ(split.size(), ids.size());
  std::map<std::string, int> sizes;
  for (const auto& [id, name] : split) ++sizes[name];
  EXPECT_EQ(sizes["test"], 100);
  EXPECT_EQ(sizes["validation"], 100);
  EXPECT_EQ(sizes["train"], 800);
  // Same seed, input order irrelevant → same split; another seed → a different one.
  std::vector<std::int64_t> reversed(ids.rbegin(), ids.rend());
  EXPECT_EQ(split_patients(reversed, 42, 0.1, 0.1), split);
  EXPECT_NE(split_patients(ids, 43, 0.1, 0.1), split);
}

TEST(Split, PositionsInTheShuffledOrderDecideTheSplit) {
  // prep takes each patient's split from its place in shuffled_patients' order: test first, then
  // validation, then train (rounded shares); folds round-robin. split_patients must agree with that.
  EXPECT_EQ(split_by_position(10, 0.1, 0.2), (std::vector<std::uint32_t>{2, 2, 1, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(split_by_position(3, 0.5, 0.9), (std::vector<std::uint32_t>{2, 2, 2}));  // test takes all it asks
  EXPECT_EQ(fold_by_position(7, 3), (std::vector<std::uint32_t>{0, 1, 2, 0, 1, 2, 0}));
  EXPECT_EQ(split_names(0), (std::vector<std::string>{"train", "validation", "test"}));
  EXPECT_EQ(split_names(3), (std::vector<std::string>{"fold_0", "fold_1", "fold_2"}));
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 57; ++i) ids.push_back(30000000 + 11 * i);
  const auto order = shuffled_patients(ids, 9);
  const auto by_position = split_by_position(order.size(), 0.2, 0.1);
  const auto split = split_patients(ids, 9, 0.2, 0.1);
  for (std::size_t i = 0; i < order.size(); ++i) EXPECT_EQ(split.at(order[i]), split_names(0)[by_position[i]]) << i;
}

TEST(Split, FoldsPartitionPatients) {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 103; ++i) ids.push_back(i * 13);
  auto folds = fold_patients(ids, 7, 5);
  std::map<std::string, int> sizes;
  for (const auto& [id, fold] : folds) ++sizes[fold];
  ASSERT_EQ(sizes.size(), 5u);
  for (const auto& [fold, size] : sizes) EXPECT_TRUE(size == 20 || size == 21) << fold << " " << size;
}
