// The non-LLM baselines on a hand-made 4-admission training set whose scores are computed by hand in the
// comments (docs/baselines.md gives the definitions): ties, unseen codes and categories, kNN weights and
// neighbour ties, list-length tuning and the median, the records written, and bad input.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "rxlm/clinical/prompt.h"
#include "rxlm/core/error.h"
#include "rxlm/eval/baselines.h"

using namespace rxlm::eval;

namespace {

// Vocabulary (sorted): aspirin, furosemide, insulin, metoprolol; admissions with each: 2, 1, 2, 2 of N = 4.
const std::vector<BaselineAdmission> kTrain = {
    {{"9:4019", "9:25000"}, {"metoprolol", "insulin"}},  // T0
    {{"9:4019"}, {"metoprolol", "aspirin"}},             // T1
    {{"9:25000", "9:5849"}, {"insulin", "furosemide"}},  // T2
    {{"10:I10"}, {"aspirin"}},                           // T3
};

std::map<std::string, double> scores_by_drug(const DrugRanker& ranker, const std::vector<std::string>& codes) {
  std::map<std::string, double> out;
  const auto scores = ranker.scores(codes);
  for (std::size_t d = 0; d < scores.size(); ++d) out[ranker.vocabulary()[d]] = scores[d];
  return out;
}

using Drugs = std::vector<std::string>;

}  // namespace

TEST(Baselines, MethodNames) {
  EXPECT_EQ(baseline_method_from_name("knn"), BaselineMethod::knn);
  EXPECT_EQ(baseline_method_name(baseline_method_from_name("most-frequent")), "most-frequent");
  EXPECT_EQ(baseline_method_name(baseline_method_from_name("cooccurrence")), "cooccurrence");
  try {
    baseline_method_from_name("random-forest");
    FAIL() << "accepted an unknown method";
  } catch (const rxlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("choose most-frequent, cooccurrence or knn"), std::string::npos);
  }
  EXPECT_EQ(icd_category("9:4019"), "9:401");
  EXPECT_EQ(icd_category("10:I2510"), "10:I25");
  EXPECT_EQ(icd_category("10:C7"), "10:C7");
}

TEST(Baselines, MostFrequentBreaksTiesByName) {
  const DrugRanker ranker(BaselineMethod::most_frequent, kTrain);
  EXPECT_EQ(ranker.vocabulary(), (Drugs{"aspirin", "furosemide", "insulin", "metoprolol"}));
  EXPECT_EQ(ranker.rank({"9:4019"}, 10), (Drugs{"aspirin", "insulin", "metoprolol", "furosemide"}));
  EXPECT_EQ(ranker.rank({}, 2), (Drugs{"aspirin", "insulin"}));
}

TEST(Baselines, CooccurrenceSeenCode) {
  const DrugRanker ranker(BaselineMethod::cooccurrence, kTrain);
  // Category 9:401 = {T0, T1}: P(d|g) = (n_gd + P(d)) / (2 + 1) with P = .5, .25, .5, .5
  //   aspirin (1+.5)/3 = .5, furosemide .25/3 = 1/12, insulin .5, metoprolol 2.5/3 = 5/6.
  // Code 9:4019 = {T0, T1}: P(d|c) = (n_cd + P(d|g)) / 3
  //   aspirin (1+.5)/3 = .5, furosemide (1/12)/3 = 1/36, insulin .5, metoprolol (2+5/6)/3 = 17/18.
  auto s = scores_by_drug(ranker, {"9:4019"});
  EXPECT_NEAR(s["aspirin"], 0.5, 1e-15);
  EXPECT_NEAR(s["furosemide"], 1.0 / 36, 1e-15);
  EXPECT_NEAR(s["insulin"], 0.5, 1e-15);
  EXPECT_NEAR(s["metoprolol"], 17.0 / 18, 1e-15);
  // aspirin and insulin tie (score and training count), so the name decides.
  EXPECT_EQ(ranker.rank({"9:4019"}, 4), (Drugs{"metoprolol", "aspirin", "insulin", "furosemide"}));

  // Two codes add up. Code 9:5849 = {T2}, category 9:584 = {T2}:
  //   P(d|g) = (n_gd + P(d)) / 2: aspirin .25, furosemide 1.25/2 = .625, insulin 1.5/2 = .75, metoprolol .25
  //   P(d|c) = (n_cd + P(d|g)) / 2: aspirin .125, furosemide .8125, insulin .875, metoprolol .125
  s = scores_by_drug(ranker, {"9:4019", "9:5849", "9:4019"});  // a repeated code counts once
  EXPECT_NEAR(s["aspirin"], 0.625, 1e-15);
  EXPECT_NEAR(s["furosemide"], 1.0 / 36 + 0.8125, 1e-15);
  EXPECT_NEAR(s["insulin"], 1.375, 1e-15);
  EXPECT_NEAR(s["metoprolol"], 17.0 / 18 + 0.125, 1e-15);
  EXPECT_EQ(ranker.rank({"9:4019", "9:5849"}, 3), (Drugs{"insulin", "metoprolol", "furosemide"}));
}

TEST(Baselines, CooccurrenceBacksOffToCategoryThenGlobal) {
  const DrugRanker ranker(BaselineMethod::cooccurrence, kTrain);
  // 9:4011 was never coded, but its category 9:401 was: P(d|g) from the case above.
  auto s = scores_by_drug(ranker, {"9:4011"});
  EXPECT_NEAR(s["aspirin"], 0.5, 1e-15);
  EXPECT_NEAR(s["furosemide"], 1.0 / 12, 1e-15);
  EXPECT_NEAR(s["metoprolol"], 5.0 / 6, 1e-15);
  // 10:J45909: neither code nor category seen → the global frequency n_d / N.
  s = scores_by_drug(ranker, {"10:J45909"});
  EXPECT_NEAR(s["aspirin"], 0.5, 1e-15);
  EXPECT_NEAR(s["furosemide"], 0.25, 1e-15);
  EXPECT_EQ(ranker.rank({"10:J45909"}, 4), (Drugs{"aspirin", "insulin", "metoprolol", "furosemide"}));
  // ICD versions are kept apart: 10:4019 is not 9:4019 (nor in its category).
  EXPECT_NEAR(scores_by_drug(ranker, {"10:4019"})["metoprolol"], 0.5, 1e-15);
}

TEST(Baselines, KnnWeightsByJaccard) {
  // Query {9:4019, 9:25000}: J(T0) = 2/2 = 1, J(T1) = 1/2, J(T2) = 1/3 (1 shared of 3), J(T3) = 0.
  const std::vector<std::string> query = {"9:4019", "9:25000"};
  auto s = scores_by_drug(DrugRanker(BaselineMethod::knn, kTrain, 2), query);  // T0, T1
  EXPECT_DOUBLE_EQ(s["metoprolol"], 1.5);
  EXPECT_DOUBLE_EQ(s["insulin"], 1.0);
  EXPECT_DOUBLE_EQ(s["aspirin"], 0.5);
  EXPECT_DOUBLE_EQ(s["furosemide"], 0.0);
  s = scores_by_drug(DrugRanker(BaselineMethod::knn, kTrain, 3), query);  // + T2
  EXPECT_DOUBLE_EQ(s["insulin"], 1.0 + 1.0 / 3);
  EXPECT_DOUBLE_EQ(s["furosemide"], 1.0 / 3);
  EXPECT_EQ(DrugRanker(BaselineMethod::knn, kTrain, 3).rank(query, 4),
            (Drugs{"metoprolol", "insulin", "aspirin", "furosemide"}));
}

TEST(Baselines, KnnTiesGoToTheEarlierAdmissionAndZeroVotesFallBackToFrequency) {
  // {9:25000}: T0 and T2 both have J = 1/2; with k = 1 the earlier (T0) is the neighbour.
  const DrugRanker one(BaselineMethod::knn, kTrain, 1);
  auto s = scores_by_drug(one, {"9:25000"});
  EXPECT_DOUBLE_EQ(s["metoprolol"], 0.5);
  EXPECT_DOUBLE_EQ(s["insulin"], 0.5);
  EXPECT_DOUBLE_EQ(s["furosemide"], 0.0);
  EXPECT_EQ(one.rank({"9:25000"}, 4), (Drugs{"insulin", "metoprolol", "aspirin", "furosemide"}));
  // No shared code: every score is 0, so training count (aspirin/insulin/metoprolol 2, furosemide 1), then name.
  EXPECT_EQ(one.rank({"10:Z00"}, 4), (Drugs{"aspirin", "insulin", "metoprolol", "furosemide"}));
}

TEST(Baselines, ScoresEqualInExactArithmeticTie) {
  EXPECT_NE(0.1 + 0.2, 0.3);
  EXPECT_EQ(rounded_score(0.1 + 0.2), rounded_score(0.3));
  EXPECT_EQ(rounded_score(0.3) + 1, rounded_score(0.3 + 1e-9));
  EXPECT_EQ(rounded_score(0.0), 0);
  // In a ranking: zinc's neighbours have Jaccard 2/10 and 1/10 (0.2 + 0.1 = 0.30000000000000004 in
  // doubles), atenolol's one neighbour 3/10 (0.3). Equal in exact arithmetic, and both drugs were
  // prescribed in 2 admissions, so the name decides: atenolol first (raw doubles would put zinc first).
  const std::vector<std::string> query = {"9:q0", "9:q1", "9:q2", "9:q3", "9:q4", "9:q5", "9:q6", "9:q7", "9:q8", "9:q9"};
  const std::vector<BaselineAdmission> train = {{{"9:q0"}, {"zinc"}},                  // J = 1/10
                                                {{"9:q1", "9:q2"}, {"zinc"}},          // J = 2/10
                                                {{"9:q3", "9:q4", "9:q5"}, {"atenolol"}},  // J = 3/10
                                                {{"9:other"}, {"atenolol"}}};          // J = 0
  const DrugRanker ranker(BaselineMethod::knn, train, 10);
  auto s = scores_by_drug(ranker, query);
  EXPECT_NE(s["zinc"], s["atenolol"]);
  EXPECT_EQ(ranker.rank(query, 2), (Drugs{"atenolol", "zinc"}));
}

TEST(Baselines, TuningPicksTheBestListLength) {
  const DrugRanker ranker(BaselineMethod::most_frequent, kTrain);  // aspirin, insulin, metoprolol, furosemide
  // {aspirin, insulin, metoprolol}: F1 at N = 1..4 is 2/4, 4/5, 6/6, 6/7 → N = 3.
  EXPECT_EQ(tune_list_length(ranker, {{{}, {"aspirin", "insulin", "metoprolol"}}}, 40).n, 3);
  // V0 {aspirin, insulin}: 2/3, 4/4, 4/5, 4/6; V1 (all four): 2/5, 4/6, 6/7, 8/8.
  // Means: .5333, .8333, .8286, .8333; N = 2 and N = 4 tie (and so does every N > 4, where the list stops
  // growing at the 4-drug vocabulary) → the shorter, 2.
  const std::vector<BaselineAdmission> validation = {{{}, {"aspirin", "insulin"}},
                                                     {{}, {"aspirin", "insulin", "metoprolol", "furosemide"}}};
  ListLengthChoice choice = tune_list_length(ranker, validation, 40);
  EXPECT_EQ(choice.n, 2);
  EXPECT_NE(choice.reason.find("0.8333"), std::string::npos) << choice.reason;
  EXPECT_EQ(tune_list_length(ranker, validation, 1).n, 1);  // the grid bounds the choice
  // The tuner's incremental F1 equals the plain set F1 of each prefix.
  EXPECT_DOUBLE_EQ(drug_set_f1({"aspirin", "insulin", "metoprolol"}, {"aspirin", "insulin"}), 0.8);
  EXPECT_DOUBLE_EQ(drug_set_f1({"aspirin", "aspirin"}, {"aspirin"}), 1.0);  // sets: duplicates count once
  EXPECT_DOUBLE_EQ(drug_set_f1({}, {"aspirin"}), 0.0);
  EXPECT_THROW(tune_list_length(ranker, {}, 40), rxlm::Error);
}

TEST(Baselines, MedianListLength) {
  EXPECT_EQ(median_list_length(kTrain).n, 2);  // 1, 2, 2, 2 → lower median 2
  EXPECT_EQ(median_list_length({{{}, {"a"}}, {{}, {"a", "b", "c"}}, {{}, {"a", "b", "c", "d"}}, {{}, {"a"}}}).n, 1);
}

namespace {

rxlm::clinical::ClinicalSample sample(const std::string& id, const std::vector<rxlm::clinical::DiagnosisLine>& diagnoses,
                                      const Drugs& drugs, int line) {
  rxlm::clinical::AdmissionPrompt admission;
  admission.patient = {70, "male", std::nullopt, 80.0, std::nullopt, "emergency"};
  admission.diagnoses = diagnoses;
  rxlm::clinical::ClinicalSample s;
  s.sample_id = id;
  s.system = rxlm::clinical::system_prompt();
  s.user = rxlm::clinical::render_user(admission);
  s.answer = rxlm::clinical::render_answer(drugs);
  s.drugs = drugs;
  s.atc.assign(drugs.size(), "X");
  s.line = line;
  return s;
}

SampleSplit train_split() {
  return {"train.jsonl",
          {sample("t0", {{9, "4019", "Hypertension"}, {9, "25000", "Diabetes"}}, {"metoprolol", "insulin"}, 1),
           sample("t1", {{9, "4019", "Hypertension"}}, {"metoprolol", "aspirin"}, 2),
           sample("t2", {{9, "25000", "Diabetes"}, {9, "5849", "Acute kidney failure"}}, {"insulin", "furosemide"}, 3),
           sample("t3", {{10, "I10", ""}}, {"aspirin"}, 4)}};
}

}  // namespace

TEST(Baselines, RunWritesRecordsInTheSharedFormat) {
  const SampleSplit train = train_split();
  const SampleSplit test = {"test.jsonl", {sample("x1", {{9, "4019", "Hypertension"}, {9, "5849", "AKF"}}, {"insulin"}, 1)}};
  BaselineOptions options;
  options.method = BaselineMethod::cooccurrence;
  BaselineRun run = run_baseline(train, test, options);  // no validation, no fixed N → median 2
  ASSERT_EQ(run.list_lengths.size(), 1u);
  EXPECT_EQ(run.list_lengths[0].n, 2);
  EXPECT_NE(run.list_lengths[0].reason.find("median"), std::string::npos);
  ASSERT_EQ(run.predictions.size(), 1u);
  const PredictionRecord& r = run.predictions[0];
  EXPECT_EQ(r.sample_id, "x1");
  EXPECT_EQ(r.method, "baseline:cooccurrence");
  EXPECT_EQ(r.text, "Drugs:\n- insulin\n- metoprolol");  // the hand-computed ranking above
  EXPECT_TRUE(r.parsed);
  EXPECT_EQ(r.drugs, (Drugs{"insulin", "metoprolol"}));
  EXPECT_EQ(r.reference, Drugs{"insulin"});
  EXPECT_EQ(r.reference_atc, Drugs{"X"});
  EXPECT_EQ(r.user, test.samples[0].user);

  options.list_length = 3;
  EXPECT_EQ(run_baseline(train, test, options).predictions[0].drugs, (Drugs{"insulin", "metoprolol", "furosemide"}));
  options.list_length = 10;  // longer than the vocabulary: all 4
  EXPECT_EQ(run_baseline(train, test, options).predictions[0].drugs.size(), 4u);
  options.list_length.reset();
  const SampleSplit validation = {"validation.jsonl", {sample("v1", {{9, "4019", "Hypertension"}}, {"metoprolol"}, 1)}};
  run = run_baseline(train, test, options, &validation);  // metoprolol ranks first for 9:4019 → N = 1
  EXPECT_EQ(run.list_lengths[0].n, 1);
  EXPECT_NE(run.list_lengths[0].reason.find("validation.jsonl"), std::string::npos);
}

TEST(Baselines, CrossValidationPredictsEverySampleOnce) {
  // Three folds of the four training samples plus one; fold i is predicted by a ranker on the others.
  SampleSplit all = train_split();
  std::vector<SampleSplit> folds = {{"fold_0.jsonl", {all.samples[0], all.samples[1]}},
                                    {"fold_1.jsonl", {all.samples[2]}},
                                    {"fold_2.jsonl", {all.samples[3]}}};
  BaselineOptions options;
  options.method = BaselineMethod::most_frequent;
  BaselineRun run = run_baseline_cv(folds, options);
  ASSERT_EQ(run.predictions.size(), 4u);
  ASSERT_EQ(run.list_lengths.size(), 3u);
  EXPECT_EQ(run.predictions[0].sample_id, "t0");
  EXPECT_EQ(run.predictions[3].sample_id, "t3");
  // Fold 0 is tuned on fold 1 ({insulin, furosemide}) with a ranker fitted on fold 2 (aspirin only):
  // the list is [aspirin] at every N, F1 = 0 everywhere → N = 1; then refitted on folds 1+2 → most
  // frequent of {insulin, furosemide, aspirin}, all 1 admission → by name: aspirin.
  EXPECT_EQ(run.list_lengths[0].n, 1);
  EXPECT_EQ(run.predictions[0].drugs, Drugs{"aspirin"});
  EXPECT_NE(run.list_lengths[0].reason.find("fold_1.jsonl"), std::string::npos) << run.list_lengths[0].reason;

  folds[2].samples.push_back(all.samples[0]);  // t0 twice
  options.list_length = 1;
  EXPECT_THROW(run_baseline_cv(folds, options), rxlm::Error);
  options.list_length.reset();
  EXPECT_THROW(run_baseline_cv({folds[0], folds[1]}, options), rxlm::Error);  // tuning needs 3 folds
}

TEST(Baselines, BadInput) {
  SampleSplit broken = train_split();
  broken.samples[2].user = "Patient: nothing to see";
  broken.samples[2].line = 7;
  try {
    baseline_admissions(broken);
    FAIL() << "accepted a malformed user message";
  } catch (const rxlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.jsonl:7: user message line 1"), std::string::npos) << e.what();
  }
  SampleSplit anonymous = {"test.jsonl", {sample("", {{9, "4019", "x"}}, {"aspirin"}, 3)}};
  try {
    run_baseline(train_split(), anonymous, {});
    FAIL() << "accepted a test sample without sample_id";
  } catch (const rxlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("test.jsonl:3: the sample has no meta.sample_id"), std::string::npos) << e.what();
  }
  EXPECT_THROW(run_baseline({"train.jsonl", {}}, anonymous, {}), rxlm::Error);
  EXPECT_THROW(DrugRanker(BaselineMethod::knn, kTrain, 0), rxlm::Error);
  BaselineOptions zero;
  zero.list_length = 0;
  EXPECT_THROW(run_baseline(train_split(), {"test.jsonl", {}}, zero), rxlm::Error);
}
