// parse_user, the inverse of render_user: round trips on varied admissions (unknown values, "90 or older",
// titles with punctuation, ICD-9 and ICD-10) and clear errors on messages render_user could not have written.
#include <gtest/gtest.h>

#include <string>

#include "rxlm/clinical/prompt.h"
#include "rxlm/core/error.h"

using namespace rxlm::clinical;

namespace {

void expect_same(const AdmissionPrompt& a, const AdmissionPrompt& b) {
  EXPECT_EQ(a.patient.age, b.patient.age);
  EXPECT_EQ(a.patient.sex, b.patient.sex);
  EXPECT_EQ(a.patient.height_cm, b.patient.height_cm);
  EXPECT_EQ(a.patient.weight_kg, b.patient.weight_kg);
  EXPECT_EQ(a.patient.bmi, b.patient.bmi);
  EXPECT_EQ(a.patient.admission_type, b.patient.admission_type);
  ASSERT_EQ(a.diagnoses.size(), b.diagnoses.size());
  for (std::size_t i = 0; i < a.diagnoses.size(); ++i) {
    EXPECT_EQ(a.diagnoses[i].icd_version, b.diagnoses[i].icd_version) << i;
    EXPECT_EQ(a.diagnoses[i].icd_code, b.diagnoses[i].icd_code) << i;
    EXPECT_EQ(a.diagnoses[i].title, b.diagnoses[i].title) << i;
  }
}

std::string error_of(const std::string& text) {
  try {
    parse_user(text);
  } catch (const rxlm::Error& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST(ParseUser, RoundTripsValuesAtTheirRenderedPrecision) {
  AdmissionPrompt admission;
  // Values already at the rendered precision come back exactly.
  admission.patient = {67, "female", 165.0, 72.5, 26.5, "urgent"};
  admission.diagnoses = {{10, "I2510", "Atherosclerotic heart disease of native coronary artery without angina pectoris"},
                         {9, "4019", "Unspecified essential hypertension"},
                         {9, "E8809", "Accidental fall on or from other stairs or steps"},
                         {9, "V1582", "Personal history of tobacco use"},
                         {10, "T7840XA", "Allergy, unspecified: initial encounter (a colon: and a comma, here)"}};
  const std::string text = render_user(admission);
  AdmissionPrompt parsed = parse_user(text);
  expect_same(parsed, admission);
  EXPECT_EQ(render_user(parsed), text);
}

TEST(ParseUser, UnknownValuesAndTheAgeCap) {
  AdmissionPrompt admission;
  admission.patient = {93, "", std::nullopt, 67.585, std::nullopt, ""};
  admission.diagnoses = {{10, "C73", "Malignant neoplasm of thyroid gland"}, {9, "V707", ""}};
  const std::string text = render_user(admission);
  AdmissionPrompt parsed = parse_user(text);
  EXPECT_EQ(parsed.patient.age, 90);  // "90 or older": the true age is withheld by design
  EXPECT_EQ(parsed.patient.sex, "");
  EXPECT_FALSE(parsed.patient.height_cm.has_value());
  EXPECT_DOUBLE_EQ(*parsed.patient.weight_kg, 67.6);  // rendered with one decimal
  EXPECT_FALSE(parsed.patient.bmi.has_value());
  EXPECT_EQ(parsed.patient.admission_type, "");
  ASSERT_EQ(parsed.diagnoses.size(), 2u);
  EXPECT_EQ(parsed.diagnoses[1].icd_code, "V707");
  EXPECT_EQ(parsed.diagnoses[1].title, "");  // "title unknown"
  EXPECT_EQ(render_user(parsed), text);

  AdmissionPrompt empty;  // everything unknown, no diagnosis line
  expect_same(parse_user(render_user(empty)), empty);
  EXPECT_EQ(render_user(parse_user(render_user(empty))), render_user(empty));
}

TEST(ParseUser, MultiWordAdmissionTypesAndManyDiagnoses) {
  AdmissionPrompt admission;
  admission.patient = {18, "male", 180.0, 80.0, 24.7, "surgical same-day admission"};
  for (int i = 0; i < 12; ++i)  // two-digit indices
    admission.diagnoses.push_back({i % 2 ? 9 : 10, "Z" + std::to_string(100 + i), "title " + std::to_string(i)});
  const std::string text = render_user(admission);
  expect_same(parse_user(text), admission);
  EXPECT_EQ(render_user(parse_user(text)), text);
}

TEST(ParseUser, RejectsOtherMessagesNamingTheLine) {
  const std::string good = render_user({{50, "male", std::nullopt, std::nullopt, std::nullopt, "elective"},
                                        {{9, "4019", "Unspecified essential hypertension"}}});
  EXPECT_EQ(error_of(good), "(accepted)");
  EXPECT_NE(error_of("Hello").find("line 1"), std::string::npos);
  std::string no_sex = good;
  no_sex.replace(no_sex.find(", sex "), 6, ", gender ");
  EXPECT_NE(error_of(no_sex).find("\", sex \""), std::string::npos) << error_of(no_sex);
  std::string bad_age = good;
  bad_age.replace(bad_age.find("age 50"), 6, "age fifty");
  EXPECT_NE(error_of(bad_age).find("age as a whole number"), std::string::npos) << error_of(bad_age);
  std::string bad_height = good;
  bad_height.replace(bad_height.find("height unknown"), 14, "height 170");
  EXPECT_NE(error_of(bad_height).find("height"), std::string::npos) << error_of(bad_height);
  std::string wrong_index = good;
  wrong_index.replace(wrong_index.find("1. ICD-9"), 8, "2. ICD-9");
  EXPECT_NE(error_of(wrong_index).find("line 3"), std::string::npos) << error_of(wrong_index);
  std::string no_end = good.substr(0, good.rfind('\n'));
  EXPECT_NE(error_of(no_end).find("List the drugs"), std::string::npos) << error_of(no_end);
  std::string no_title = good;
  no_title.replace(no_title.find("4019: "), 6, "4019 ");
  EXPECT_NE(error_of(no_title).find("line 3"), std::string::npos) << error_of(no_title);
}
