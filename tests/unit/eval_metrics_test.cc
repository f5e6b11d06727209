// Evaluation metrics on hand-computed cases: set scores (empty predictions, duplicates), unparsed
// answers and the two denominators, unknown drugs, ATC-level matching, DDI pairs (a hand-made edge set
// and real pairs of the shared TSV), the pooled DDI rate, and seeded percentile bootstrap intervals.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "rxlm/core/error.h"
#include "rxlm/core/paths.h"
#include "rxlm/eval/bootstrap.h"
#include "rxlm/eval/ddi.h"
#include "rxlm/eval/eval_report.h"
#include "rxlm/eval/metrics.h"

using namespace rxlm::eval;

namespace {

PredictionRecord record(std::string id, bool parsed, std::vector<std::string> drugs, std::vector<std::string> reference,
                        std::vector<std::string> reference_atc = {}) {
  PredictionRecord r;
  r.sample_id = std::move(id);
  r.parsed = parsed;
  r.drugs = std::move(drugs);
  r.reference = std::move(reference);
  r.reference_atc = std::move(reference_atc);
  r.text = parsed ? "" : "free text";
  return r;
}

// Codes by name only (no shared maps), and a hand-made DDI table: A01A–B01A and B01A–C01A interact;
// D01A is covered and interacts with nothing.
EvalResources tiny_resources() {
  EvalResources resources{AtcCoder(), DdiTable({{"A01A", "B01A"}, {"C01A", "B01A"}}, {"D01A"})};
  resources.coder.add("alpha", "A01AA01");
  resources.coder.add("beta", "B01AB01");
  resources.coder.add("beta-two", "B01AB02");  // same ATC-4 as beta
  resources.coder.add("gamma", "C01AA01");
  resources.coder.add("delta", "D01AA01");
  resources.coder.add("epsilon", "E01AA01");  // ATC-3 E01A is outside the DDI table's vocabulary
  return resources;
}

EvalOptions no_bootstrap() {
  EvalOptions options;
  options.bootstrap.resamples = 0;
  return options;
}

double value(const EvalResult& r, const std::string& key) { return r.metric(key).value; }

std::filesystem::path drug_maps() { return rxlm::shared_dir() / "data" / "drug-maps"; }

}  // namespace

TEST(EvalSetScores, HandComputed) {
  // P = {a,b,c}, R = {b,c,d,e}: 2 matched; precision 2/3, recall 1/2, F1 4/7, Jaccard 2/5.
  SetScores s = score_sets({"a", "b", "c"}, {"b", "c", "d", "e"});
  EXPECT_EQ(s.matched, 2);
  EXPECT_DOUBLE_EQ(s.precision, 2.0 / 3);
  EXPECT_DOUBLE_EQ(s.recall, 0.5);
  EXPECT_DOUBLE_EQ(s.f1, 4.0 / 7);
  EXPECT_DOUBLE_EQ(s.jaccard, 0.4);
}

TEST(EvalSetScores, EmptyPredictionScoresZero) {
  SetScores s = score_sets({}, {"a", "b"});
  EXPECT_EQ(s.predicted, 0);
  EXPECT_EQ(s.precision, 0);
  EXPECT_EQ(s.recall, 0);
  EXPECT_EQ(s.f1, 0);
  EXPECT_EQ(s.jaccard, 0);
}

TEST(EvalSample, DuplicatesCountOnce) {
  EvalResources res = tiny_resources();
  // alpha twice: P = {alpha, beta}, R = {alpha, gamma} → precision 1/2 (not 2/3), recall 1/2, Jaccard 1/3.
  SampleMetrics m = score_sample(record("s", true, {"alpha", "alpha", "beta"}, {"alpha", "gamma"}),
                                 [&](const std::string& n) { return res.coder.code(n); }, res.ddi);
  EXPECT_EQ(m.suggested, 2);
  EXPECT_EQ(m.suggested_duplicates, 1);
  EXPECT_DOUBLE_EQ(m.drug.precision, 0.5);
  EXPECT_DOUBLE_EQ(m.drug.recall, 0.5);
  EXPECT_DOUBLE_EQ(m.drug.jaccard, 1.0 / 3);
}

TEST(EvalSample, ParsedEmptyPredictionIsZeroInBothAverages) {
  // A baseline may emit no drug: it counts as parsed (output rate 1) with precision 0.
  EvalResult r = evaluate({record("s1", true, {}, {"alpha"}), record("s2", true, {"alpha"}, {"alpha"})},
                          tiny_resources(), no_bootstrap());
  EXPECT_DOUBLE_EQ(value(r, "output_rate"), 1.0);
  EXPECT_DOUBLE_EQ(value(r, "accuracy_parsed"), 0.5);
  EXPECT_DOUBLE_EQ(value(r, "accuracy_all"), 0.5);
  EXPECT_DOUBLE_EQ(value(r, "drugs_per_sample_parsed"), 0.5);
}

TEST(EvalOverall, UnparsedCountsInOutputRateAndAsZeroOverAll) {
  // s1: precision 1/2, recall 1, F1 2/3, Jaccard 1/2; s2: precision 1, recall 1/2, F1 2/3, Jaccard 1/2;
  // s3 unparsed (its stored drugs are ignored); s4 unparsed.
  std::vector<PredictionRecord> records{record("s1", true, {"alpha", "beta"}, {"alpha"}),
                                        record("s2", true, {"gamma"}, {"gamma", "delta"}),
                                        record("s3", false, {"alpha"}, {"alpha"}), record("s4", false, {}, {"beta"})};
  EvalResult r = evaluate(records, tiny_resources(), no_bootstrap());
  EXPECT_EQ(r.samples, 4u);
  EXPECT_EQ(r.parsed, 2u);
  EXPECT_DOUBLE_EQ(value(r, "output_rate"), 0.5);
  EXPECT_DOUBLE_EQ(value(r, "accuracy_parsed"), 0.75);
  EXPECT_DOUBLE_EQ(value(r, "accuracy_all"), 0.375);
  EXPECT_DOUBLE_EQ(value(r, "recall_parsed"), 0.75);
  EXPECT_DOUBLE_EQ(value(r, "recall_all"), 0.375);
  EXPECT_DOUBLE_EQ(value(r, "f1_parsed"), 2.0 / 3);
  EXPECT_DOUBLE_EQ(value(r, "f1_all"), 1.0 / 3);
  EXPECT_DOUBLE_EQ(value(r, "jaccard_parsed"), 0.5);
  EXPECT_DOUBLE_EQ(value(r, "jaccard_all"), 0.25);
  EXPECT_DOUBLE_EQ(value(r, "drugs_per_sample_parsed"), 1.5);
  EXPECT_DOUBLE_EQ(value(r, "drugs_per_sample_all"), 0.75);
  EXPECT_DOUBLE_EQ(value(r, "recorded_drugs_per_sample"), 1.25);
  EXPECT_EQ(r.per_sample[2].suggested, 0);
  EXPECT_EQ(r.per_sample[2].drug.precision, 0);
}

TEST(EvalOverall, NothingParsedLeavesParsedAveragesUndefined) {
  EvalResult r = evaluate({record("s1", false, {}, {"alpha"})}, tiny_resources(), no_bootstrap());
  EXPECT_EQ(value(r, "output_rate"), 0);
  EXPECT_TRUE(std::isnan(value(r, "accuracy_parsed")));
  EXPECT_EQ(value(r, "accuracy_all"), 0);
}

TEST(EvalAtc, TwoNamesWithOneAtc4CountAsOneMatch) {
  EvalResources res = tiny_resources();
  const auto code = [&](const std::string& n) { return res.coder.code(n); };
  // beta and beta-two share ATC-4 B01AB: no drug-level match, a full ATC-4 and ATC-3 match.
  SampleMetrics m = score_sample(record("s", true, {"beta-two"}, {"beta"}), code, res.ddi);
  EXPECT_EQ(m.drug.matched, 0);
  EXPECT_EQ(m.atc4.matched, 1);
  EXPECT_DOUBLE_EQ(m.atc4.precision, 1);
  EXPECT_DOUBLE_EQ(m.atc3.jaccard, 1);
  // Both suggested: one ATC-4 code, one match; precision 1 at ATC-4 level, 1/2 at drug level.
  m = score_sample(record("s", true, {"beta", "beta-two"}, {"beta"}), code, res.ddi);
  EXPECT_DOUBLE_EQ(m.drug.precision, 0.5);
  EXPECT_EQ(m.atc4.predicted, 1);
  EXPECT_DOUBLE_EQ(m.atc4.precision, 1);
}

TEST(EvalAtc, UnknownDrugsLeaveAtcSetsAndAreCounted) {
  EvalResources res = tiny_resources();
  // "mystery" has no code: drug level P = {alpha, mystery}; ATC-4 level P = {A01AA} against {A01AA, B01AB}.
  EvalResult r = evaluate({record("s", true, {"alpha", "mystery"}, {"alpha", "beta"})}, res, no_bootstrap());
  const SampleMetrics& m = r.per_sample[0];
  EXPECT_DOUBLE_EQ(m.drug.precision, 0.5);
  EXPECT_EQ(m.atc4.predicted, 1);
  EXPECT_DOUBLE_EQ(m.atc4.precision, 1);
  EXPECT_DOUBLE_EQ(m.atc4.recall, 0.5);
  ASSERT_EQ(m.unknown_suggested, std::vector<std::string>{"mystery"});
  EXPECT_EQ(r.unknown_suggested.at("mystery"), 1);
  EXPECT_DOUBLE_EQ(value(r, "unknown_drug_share"), 0.5);
  // Only unknown names: empty ATC sets, every ATC score 0.
  r = evaluate({record("s", true, {"mystery"}, {"alpha"})}, res, no_bootstrap());
  EXPECT_EQ(r.per_sample[0].atc3.precision, 0);
}

TEST(EvalAtc, ReferenceCodesWinAndCodeSuggestedNames) {
  // The coder knows nothing; s1's reference codes x as C07AB02, so s2's suggestion x scores at ATC level
  // against s2's y (C07AB03). reference_atc "" marks a recorded drug without code.
  EvalResources res{AtcCoder(), DdiTable()};
  std::vector<PredictionRecord> records{record("s1", true, {"x"}, {"x", "z"}, {"C07AB02", ""}),
                                        record("s2", true, {"x"}, {"y"}, {"C07AB03"})};
  EvalResult r = evaluate(records, res, no_bootstrap());
  EXPECT_EQ(r.per_sample[1].drug.matched, 0);
  EXPECT_EQ(r.per_sample[1].atc4.matched, 1);
  EXPECT_EQ(r.per_sample[0].unknown_recorded, 1);
  EXPECT_DOUBLE_EQ(value(r, "recorded_unknown_drug_share"), 1.0 / 3);
}

TEST(EvalAtc, RealMapsCodeCanonicalNames) {
  AtcCoder coder(drug_maps());
  EXPECT_EQ(atc_at_level(coder.code("furosemide"), 4), "C03CA");
  EXPECT_EQ(atc_at_level(coder.code("metoprolol"), 4), "C07AB");
  EXPECT_EQ(atc_at_level(coder.code("atenolol"), 4), "C07AB");  // another name, the same ATC-4
  EXPECT_EQ(coder.code("zzzunknown"), "");
  EXPECT_EQ(atc_at_level("C07AB02", 3), "C07A");
  EXPECT_EQ(atc_at_level("C07", 3), "");
}

TEST(EvalDdi, HandMadeEdges) {
  DdiTable table({{"A01A", "B01A"}, {"C01A", "B01A"}}, {"D01A"});
  EXPECT_TRUE(table.interacts("B01A", "A01A"));
  EXPECT_FALSE(table.interacts("A01A", "C01A"));
  // {A,B,C,D}: 6 pairs, 2 interacting; E01A is outside the vocabulary and is not paired.
  DdiPairs p = count_ddi_pairs({"A01A", "B01A", "C01A", "D01A", "E01A"}, table);
  EXPECT_EQ(p.pairs, 6);
  EXPECT_EQ(p.interacting, 2);
  EXPECT_EQ(p.uncovered_codes, 1);
  EXPECT_EQ(count_ddi_pairs({"A01A"}, table).pairs, 0);
}

TEST(EvalDdi, RatePoolsPairsOverSamplesOnDistinctAtc3) {
  // s1 {alpha, beta, beta-two} → ATC-3 {A01A, B01A}: 1 pair, interacting (beta and beta-two are one class).
  // s2 {alpha, gamma, delta} → {A01A, C01A, D01A}: 3 pairs, none interacting.
  // Pooled: 1/4 (SafeDrug), not the mean of per-sample rates (1 + 0)/2.
  // Recorded: s1 {beta, gamma} → 1 pair interacting; s2 {alpha, epsilon} → E01A uncovered, 0 pairs → 1/1.
  std::vector<PredictionRecord> records{record("s1", true, {"alpha", "beta", "beta-two"}, {"beta", "gamma"}),
                                        record("s2", true, {"alpha", "gamma", "delta"}, {"alpha", "epsilon"})};
  EvalResult r = evaluate(records, tiny_resources(), no_bootstrap());
  EXPECT_EQ(r.per_sample[0].ddi.pairs, 1);
  EXPECT_EQ(r.per_sample[0].ddi.interacting, 1);
  EXPECT_EQ(r.per_sample[1].ddi.pairs, 3);
  EXPECT_DOUBLE_EQ(value(r, "ddi_rate"), 0.25);
  EXPECT_DOUBLE_EQ(value(r, "recorded_ddi_rate"), 1.0);
  EXPECT_EQ(r.per_sample[1].recorded_ddi.uncovered_codes, 1);
}

TEST(EvalDdi, RealTableFromSharedMaps) {
  DdiTable table = DdiTable::load(drug_maps());
  EXPECT_EQ(table.edge_count(), 467u);     // PROVENANCE.md: 467 unordered pairs
  EXPECT_EQ(table.vocabulary_size(), 154u);  // and 154 ATC-3 codes
  // First data line of atc3_ddi_edges_union.tsv: A01A  B03B  gamenet,safedrug,vita_mimic3,vita_mimic4
  EXPECT_TRUE(table.interacts("A01A", "B03B"));
  EXPECT_TRUE(table.interacts("B03B", "A01A"));
  EXPECT_FALSE(table.interacts("A01A", "B01A"));  // absent from the file, both covered
  DdiPairs p = count_ddi_pairs({"A01A", "B03B", "B01A"}, table);
  EXPECT_EQ(p.pairs, 3);
  EXPECT_EQ(p.interacting, 1);
}

TEST(EvalDdi, MissingTableIsAClearError) {
  try {
    DdiTable::load("/nonexistent/drug-maps");
    FAIL() << "no error";
  } catch (const rxlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("atc3_ddi_edges_union.tsv"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--drug-maps"), std::string::npos) << e.what();
  }
}

TEST(EvalBootstrap, QuantileInterpolatesLikeNumpy) {
  std::vector<double> v{4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(quantile(v, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(quantile(v, 0.0), 1);
  EXPECT_DOUBLE_EQ(quantile(v, 1.0), 4);
  EXPECT_DOUBLE_EQ(quantile(v, 0.25), 1.75);  // numpy.percentile([1,2,3,4], 25) = 1.75
}

TEST(EvalBootstrap, IndicesAreSeededAndInRange) {
  auto a = bootstrap_indices(10, 7, 3), b = bootstrap_indices(10, 7, 3), c = bootstrap_indices(10, 8, 3);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (auto i : a) EXPECT_LT(i, 10u);
}

TEST(EvalBootstrap, IntervalsContainEstimateAndAreDeterministic) {
  // 40 samples: 24 parsed with precision 1/2 (alpha of {alpha, beta} against {alpha}), 16 unparsed.
  std::vector<PredictionRecord> records;
  for (int i = 0; i < 40; ++i)
    records.push_back(i % 5 < 3 ? record("s" + std::to_string(i), true, {"alpha", "beta"}, {"alpha"})
                                : record("s" + std::to_string(i), false, {}, {"alpha"}));
  EvalOptions options;
  options.bootstrap = {500, 11, 0.95};
  const EvalResources res = tiny_resources();
  EvalResult r1 = evaluate(records, res, options), r2 = evaluate(records, res, options);
  for (const auto& m : r1.overall) {
    ASSERT_TRUE(m.has_interval) << m.key;
    if (!std::isfinite(m.value)) continue;
    EXPECT_LE(m.interval.low, m.value) << m.key;
    EXPECT_GE(m.interval.high, m.value) << m.key;
    EXPECT_EQ(m.interval.low, r2.metric(m.key).interval.low) << m.key;
    EXPECT_EQ(m.interval.high, r2.metric(m.key).interval.high) << m.key;
  }
  const OverallMetric& rate = r1.metric("output_rate");
  EXPECT_DOUBLE_EQ(rate.value, 0.6);
  EXPECT_LT(rate.interval.low, 0.6);  // a real spread: binomial sd sqrt(.24/40) ≈ 0.077
  EXPECT_GT(rate.interval.high, 0.6);
  EXPECT_GT(rate.interval.low, 0.3);
  EXPECT_LT(rate.interval.high, 0.9);
  // Every parsed sample has precision 1/2: the parsed average has no spread at all.
  EXPECT_DOUBLE_EQ(r1.metric("accuracy_parsed").interval.low, 0.5);
  EXPECT_DOUBLE_EQ(r1.metric("accuracy_parsed").interval.high, 0.5);
  options.bootstrap.seed = 12;
  EvalResult r3 = evaluate(records, res, options);
  EXPECT_NE(std::pair(rate.interval.low, rate.interval.high),
            std::pair(r3.metric("output_rate").interval.low, r3.metric("output_rate").interval.high));
}

TEST(EvalReport, NoRecordsIsAnError) {
  EXPECT_THROW(evaluate({}, tiny_resources(), no_bootstrap()), rxlm::Error);
}

TEST(EvalReport, ParserDisagreementsAreCounted) {
  PredictionRecord good = record("s1", true, {"alpha"}, {"alpha"});
  good.text = "Drugs:\n- alpha";
  PredictionRecord stale = record("s2", true, {"alpha"}, {"alpha"});
  stale.text = "alpha";  // the parser refuses this text, yet the record says parsed
  EvalResult r = evaluate({good, stale}, tiny_resources(), no_bootstrap());
  EXPECT_EQ(r.parser_disagreements, 1);
  EXPECT_DOUBLE_EQ(value(r, "output_rate"), 1.0);  // the stored fields decide
}

TEST(EvalReport, TablesNameEveryResult) {
  const EvalResources res = tiny_resources();
  std::vector<NamedResult> results{
      {"model", "a.jsonl", evaluate({record("s1", true, {"alpha"}, {"alpha"})}, res, no_bootstrap())},
      {"baseline:knn", "b.jsonl", evaluate({record("s1", false, {}, {"alpha"})}, res, no_bootstrap())}};
  const std::string md = markdown_report(results), text = text_summary_table(results);
  EXPECT_NE(md.find("| model | 1 | 100.0 | 100.0 | 100.0 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| baseline:knn | 1 | 0.0 | n/a | 0.0 |"), std::string::npos) << md;
  EXPECT_NE(text.find("baseline:knn"), std::string::npos);
  auto j = to_json(results);
  EXPECT_EQ(j["results"][1]["overall"]["accuracy_parsed"]["value"], nullptr);
  EXPECT_EQ(j["results"][0]["per_sample"][0]["drug"]["precision"], 1.0);
}
