// The SVG line chart: well-formed XML (checked by a small strict XML reader below, independent of the writer),
// one polyline per series with one coordinate pair per finite point, values mapped to pixels as computed by
// hand, nice ticks, escaped text, and TensorBoard's debiased smoothing.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "rxlm/core/error.h"
#include "rxlm/report/svg_chart.h"
#include "../support/xml_reader.h"

namespace rxlm {
namespace {

using test::all;
using test::Element;
using test::XmlReader;

ChartSeries series(std::string name, std::vector<std::pair<double, double>> points, bool markers = false) {
  ChartSeries s;
  s.name = std::move(name);
  s.points = std::move(points);
  s.markers = markers;
  return s;
}

std::vector<std::pair<double, double>> parse_points(const std::string& text) {
  std::vector<std::pair<double, double>> out;
  std::istringstream in(text);
  for (std::string pair; in >> pair;) {
    const size_t comma = pair.find(',');
    out.emplace_back(std::stod(pair.substr(0, comma)), std::stod(pair.substr(comma + 1)));
  }
  return out;
}

TEST(SvgChart, NiceTicksCoverTheRangeInStepsOfOneTwoOrFive) {
  EXPECT_EQ(nice_ticks(0, 10), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(nice_ticks(0, 5), (std::vector<double>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(nice_ticks(1, 160), (std::vector<double>{0, 50, 100, 150, 200}));  // raw step 31.8 → 50
  const std::vector<double> loss = nice_ticks(2.31, 5.87);                     // raw 0.712 → 1
  EXPECT_EQ(loss, (std::vector<double>{2, 3, 4, 5, 6}));
  // Zero width: widened by 10% to [2.7, 3.3]; raw step 0.6 / 5 = 0.12 → 0.2; 2.6 … 3.4.
  const std::vector<double> flat = nice_ticks(3, 3);
  EXPECT_NEAR(flat.front(), 2.6, 1e-12);
  EXPECT_NEAR(flat.back(), 3.4, 1e-12);
  EXPECT_EQ(flat.size(), 5u);
}

TEST(SvgChart, WellFormedWithOnePolylinePerSeriesAndHandComputedCoordinates) {
  LineChart chart;
  chart.title = "loss <train & val>";
  chart.x_label = "step";
  chart.y_label = "cross-entropy";
  chart.width = 400;
  chart.height = 300;
  chart.series.push_back(series("train", {{0, 0}, {5, 2.5}, {10, 5}}));
  chart.series.push_back(series("val \"held out\"", {{0, 4}, {10, 1}}, true));
  chart.series.push_back(series("only NaN dropped", {{2, 1}, {4, std::nan("")}, {6, 3}}));
  const std::string svg = render_svg(chart);
  std::unique_ptr<Element> root;
  ASSERT_NO_THROW(root = XmlReader(svg).document()) << svg;
  EXPECT_EQ(root->name, "svg");
  EXPECT_EQ(root->attributes["width"], "400");
  EXPECT_EQ(root->attributes["xmlns"], "http://www.w3.org/2000/svg");

  const auto polylines = all(*root, "polyline");
  ASSERT_EQ(polylines.size(), 3u);
  // Plot area: x 72 … 376 (400 − 24), y 40 … 244 (300 − 56); x ticks 0..10, y ticks 0..5.
  const auto train = parse_points(polylines[0]->attributes.at("points"));
  ASSERT_EQ(train.size(), 3u);
  EXPECT_DOUBLE_EQ(train[0].first, 72);
  EXPECT_DOUBLE_EQ(train[0].second, 244);
  EXPECT_DOUBLE_EQ(train[1].first, 224);   // 72 + 0.5 · 304
  EXPECT_DOUBLE_EQ(train[1].second, 142);  // 244 − 0.5 · 204
  EXPECT_DOUBLE_EQ(train[2].first, 376);
  EXPECT_DOUBLE_EQ(train[2].second, 40);
  const auto val = parse_points(polylines[1]->attributes.at("points"));
  ASSERT_EQ(val.size(), 2u);
  EXPECT_DOUBLE_EQ(val[0].second, 80.8);   // 244 − 0.8 · 204
  EXPECT_DOUBLE_EQ(val[1].second, 203.2);  // 244 − 0.2 · 204
  EXPECT_EQ(parse_points(polylines[2]->attributes.at("points")).size(), 2u);  // the NaN point is dropped
  EXPECT_EQ(all(*root, "circle").size(), 2u);                                 // markers: the val series only

  // Titles, labels and legend text come back unescaped; every tick value is labelled.
  std::map<std::string, std::string> by_class;
  std::vector<std::string> texts;
  for (const Element* t : all(*root, "text")) {
    texts.push_back(t->text);
    if (t->attributes.count("class")) by_class[t->attributes.at("class")] = t->text;
  }
  EXPECT_EQ(by_class["title"], "loss <train & val>");
  EXPECT_EQ(by_class["x-label"], "step");
  EXPECT_EQ(by_class["y-label"], "cross-entropy");
  for (const char* want : {"val \"held out\"", "train", "0", "2", "10", "5"})
    EXPECT_NE(std::find(texts.begin(), texts.end(), want), texts.end()) << want;
  EXPECT_EQ(all(*root, "title").size(), 3u);  // one tooltip per series

  // The frame's mapping is the one the points used.
  const ChartFrame f = chart_frame(chart);
  EXPECT_DOUBLE_EQ(f.px(7.5), 72 + 0.75 * 304);
  EXPECT_DOUBLE_EQ(f.py(1), 244 - 0.2 * 204);
}

TEST(SvgChart, MalformedDocumentsAreCaughtByTheChecker) {  // the checker itself can fail
  EXPECT_THROW(XmlReader("<svg><g></svg>").document(), std::runtime_error);
  EXPECT_THROW(XmlReader("<svg a=\"1 & 2\"/>").document(), std::runtime_error);
  EXPECT_THROW(XmlReader("<svg a=1/>").document(), std::runtime_error);
  EXPECT_NO_THROW(XmlReader("<?xml version=\"1.0\"?>\n<svg a=\"&lt;\"><g/>x &amp; y</svg>\n").document());
}

TEST(SvgChart, EmptyAndOnePointChartsStillRender) {
  LineChart chart;
  chart.series.push_back(series("none", {}));
  chart.series.push_back(series("one", {{3, 2}}, true));
  const auto root = XmlReader(render_svg(chart)).document();
  const auto polylines = all(*root, "polyline");
  ASSERT_EQ(polylines.size(), 2u);
  EXPECT_EQ(polylines[0]->attributes.at("points"), "");
  EXPECT_EQ(parse_points(polylines[1]->attributes.at("points")).size(), 1u);
  EXPECT_EQ(all(*root, "circle").size(), 1u);
  chart.width = 50;
  EXPECT_THROW(render_svg(chart), Error);
}

TEST(SvgChart, SmoothingIsTensorBoardsDebiasedEma) {
  const std::vector<double> s = smooth_ema({4, 2, 6}, 0.5);
  EXPECT_DOUBLE_EQ(s[0], 4);                        // debiased: the first value itself
  EXPECT_DOUBLE_EQ(s[1], (0.5 * 2 + 0.25 * 4) / 0.75);  // (0.5·4·0.5 + 0.5·2) / (1 − 0.5²)
  EXPECT_DOUBLE_EQ(s[2], (0.5 * 6 + 0.25 * 2 + 0.125 * 4) / 0.875);
  EXPECT_EQ(smooth_ema({1, 2, 3}, 0), (std::vector<double>{1, 2, 3}));
  EXPECT_THROW(smooth_ema({1}, 1.0), Error);
}

}  // namespace
}  // namespace rxlm
