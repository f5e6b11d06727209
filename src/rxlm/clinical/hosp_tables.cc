// Reading the hosp tables: columns by name, typed fields with file:line errors, deterministic order.
#include "rxlm/clinical/hosp_tables.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <exception>
#include <span>
#include <thread>
#include <tuple>

#include "rxlm/core/error.h"

namespace rxlm::clinical {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int days_from_civil(int y, unsigned m, unsigned d) {  // H. Hinnant's algorithm, proleptic Gregorian
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int>(doe) - 719468;
}

std::int64_t required_integer(const CsvReader& reader, std::size_t column) {
  auto value = reader.integer(column);
  if (!value) reader.fail_field(column, "is empty but required");
  return *value;
}

int required_day(const CsvReader& reader, std::size_t column, int* year = nullptr) {
  auto date = parse_date(reader.field(column));
  if (!date) reader.fail_field(column, "is not a valid date (YYYY-MM-DD[ HH:MM:SS])");
  if (year) *year = date->first;
  return date->second;
}

// Runs `row` for every record; with skip_malformed, a row whose values do not parse is counted, not fatal.
template <class Row>
void for_each_row(HospSource& source, const std::string& table, const std::vector<std::string>& columns,
                  bool skip_malformed, HospTables& tables, Row&& row) {
  CsvReader reader = source.open(table, columns, CsvOptions{.skip_malformed = skip_malformed});
  std::vector<std::size_t> index;
  for (const auto& column : columns) index.push_back(reader.column(column));
  TableCount& count = tables.counts.at(table);
  while (reader.next()) {
    ++count.rows;
    if (!skip_malformed) {
      row(reader, index);
      continue;
    }
    try {
      row(reader, index);
    } catch (const Error& e) {
      ++count.skipped;
      if (count.skip_examples.size() < 5) count.skip_examples.push_back(e.what());
    }
  }
  count.skipped += reader.skipped();
  for (const auto& example : reader.skip_examples())
    if (count.skip_examples.size() < 5) count.skip_examples.push_back(example);
}

// Stable LSD radix sort of `items` by the integer group_of(item), 16 bits a pass, through `scratch` (as
// long as items); false (items in some other order) when the keys span 2^32 or more, which MIMIC's
// ids never do.
template <class T, class Group>
bool radix_sort_by(std::span<T> items, std::span<T> scratch, Group group_of) {
  if (items.size() < 2) return true;
  auto [lowest, highest] = std::minmax_element(items.begin(), items.end(),
                                               [&](const T& a, const T& b) { return group_of(a) < group_of(b); });
  const std::int64_t base = group_of(*lowest);
  const std::uint64_t range = static_cast<std::uint64_t>(group_of(*highest)) - static_cast<std::uint64_t>(base);
  if (range >= (std::uint64_t{1} << 32)) return false;
  std::vector<std::size_t> start(65536 + 1);
  std::span<T> from = items, to = scratch;
  for (int shift = 0; shift < 32 && (range >> shift) != 0; shift += 16) {
    auto digit = [&](const T& item) {
      return (static_cast<std::uint64_t>(group_of(item)) - static_cast<std::uint64_t>(base)) >> shift & 0xFFFF;
    };
    std::fill(start.begin(), start.end(), 0);
    for (const T& item : from) ++start[digit(item) + 1];
    for (std::size_t d = 1; d < start.size(); ++d) start[d] += start[d - 1];
    for (const T& item : from) to[start[digit(item)]++] = item;
    std::swap(from, to);
  }
  if (from.data() != items.data()) std::copy(from.begin(), from.end(), items.begin());
  return true;
}

// Runs `low` here and `high` on a second thread when `two_threads`, else one after the other.
template <class Low, class High>
void maybe_in_parallel(bool two_threads, Low&& low, High&& high) {
  if (!two_threads) {
    low();
    high();
    return;
  }
  std::thread helper(std::forward<High>(high));
  low();
  helper.join();
}

// Sorts by `less` (a strict order whose first key is the integer group_of). Rows are first put in
// group order: nothing to do when they arrive sorted by group (the synthetic tables), a radix pass
// otherwise (MIMIC's files group rows by neither admission nor patient order). Then only the short
// runs within each group are sorted, which is much cheaper than sorting everything with `less`.
// `two_threads`: both halves of the work run at once (for the last table read, when a core is free).
template <class T, class Group, class Less>
void sort_grouped(std::vector<T>& items, Group group_of, Less less, bool two_threads = false) {
  auto by_group = [&](const T& a, const T& b) { return group_of(a) < group_of(b); };
  two_threads = two_threads && items.size() >= (std::size_t{1} << 16);
  const std::size_t mid = items.size() / 2;
  if (!std::is_sorted(items.begin(), items.end(), by_group)) {
    std::vector<T> scratch(items.size());
    const std::span<T> all(items), spare(scratch);
    bool low_ok = true, high_ok = true;
    if (two_threads) {  // each half in group order, then one merge
      maybe_in_parallel(
          true, [&] { low_ok = radix_sort_by(all.first(mid), spare.first(mid), group_of); },
          [&] { high_ok = radix_sort_by(all.subspan(mid), spare.subspan(mid), group_of); });
      if (low_ok && high_ok) {
        std::merge(items.begin(), items.begin() + mid, items.begin() + mid, items.end(), scratch.begin(), by_group);
        items.swap(scratch);
      }
    } else {
      low_ok = radix_sort_by(all, spare, group_of);
    }
    if (!low_ok || !high_ok) {
      std::sort(items.begin(), items.end(), less);
      return;
    }
  }
  auto sort_runs = [&](auto begin, auto end) {
    for (auto run = begin; run != end;) {
      auto run_end = run + 1;
      while (run_end != end && group_of(*run_end) == group_of(*run)) ++run_end;
      if (run_end - run > 1) std::sort(run, run_end, less);
      run = run_end;
    }
  };
  auto split = items.begin() + mid;  // the first group boundary at or after the middle
  while (split != items.begin() && split != items.end() && group_of(*split) == group_of(*(split - 1))) ++split;
  maybe_in_parallel(
      two_threads, [&] { sort_runs(items.begin(), split); }, [&] { sort_runs(split, items.end()); });
}

// sort_grouped, then drops items whose key equals the previous item's; returns how many were dropped.
template <class T, class Group, class Key, class Less>
std::uint64_t sort_unique(std::vector<T>& items, Group group_of, Key key, Less less) {
  sort_grouped(items, group_of, less);
  auto end = std::unique(items.begin(), items.end(), [&](const T& a, const T& b) { return key(a) == key(b); });
  std::uint64_t removed = static_cast<std::uint64_t>(items.end() - end);
  items.erase(end, items.end());
  return removed;
}

// Ids of distinct strings (prescription products, ICD codes), looked up once per row of the big tables:
// open addressing over a power-of-two table with a hash that takes 8 bytes a step (no division, no
// node per entry).
class TextIds {
 public:
  // The id of `text`, adding it (as the next id) when new; `fresh` says which.
  std::int32_t get(std::string_view text, bool& fresh) {
    if (2 * (texts_.size() + 1) > slots_.size()) grow();
    const std::uint64_t h = hash(text);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.id < 0) {
        slot = {h, static_cast<std::int32_t>(texts_.size())};
        texts_.emplace_back(text);
        fresh = true;
        return slot.id;
      }
      if (slot.hash == h && texts_[slot.id] == text) {
        fresh = false;
        return slot.id;
      }
    }
  }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    std::int32_t id = -1;
  };

  static std::uint64_t hash(std::string_view text) {
    constexpr std::uint64_t kMultiplier = 0x9E3779B97F4A7C15;
    std::uint64_t h = text.size() * kMultiplier;
    std::size_t i = 0;
    for (; i + 8 <= text.size(); i += 8) {
      std::uint64_t word;
      std::memcpy(&word, text.data() + i, 8);
      h = (h ^ word) * kMultiplier;
      h ^= h >> 32;
    }
    std::uint64_t tail = 0;
    std::memcpy(&tail, text.data() + i, text.size() - i);
    h = (h ^ tail) * kMultiplier;
    return h ^ (h >> 29);
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(std::max<std::size_t>(64, old.size() * 2), Slot{});
    mask_ = slots_.size() - 1;
    for (const Slot& slot : old) {
      if (slot.id < 0) continue;
      std::size_t i = slot.hash & mask_;
      while (slots_[i].id >= 0) i = (i + 1) & mask_;
      slots_[i] = slot;
    }
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::vector<std::string> texts_;  // by id
};

// prescriptions is by far the largest table: read on its own thread while the others are read.
void read_prescriptions(HospSource& source, bool skip, HospTables& t) {
  TextIds product_ids;
  std::string key;
  // Rows of one admission usually come together: within such a run each product is kept once, counted.
  std::int64_t run_hadm_id = 0;
  std::uint32_t run = 0;
  std::vector<std::uint32_t> run_of_product;  // per product: the last run it was seen in
  std::vector<std::size_t> row_of_product;    // per product: its entry in t.prescriptions in that run
  for_each_row(source, "prescriptions", {"hadm_id", "drug_type", "drug", "gsn"}, skip, t,
               [&](const CsvReader& r, const std::vector<std::size_t>& c) {
                 const std::int64_t hadm_id = required_integer(r, c[0]);
                 key.assign(r.field(c[1])).append("\x1f").append(r.field(c[2])).append("\x1f").append(r.field(c[3]));
                 bool fresh = false;
                 const std::int32_t product = product_ids.get(key, fresh);
                 if (fresh) {
                   t.products.push_back({std::string(r.field(c[1])), std::string(r.field(c[2])), std::string(r.field(c[3]))});
                   run_of_product.push_back(0);
                   row_of_product.push_back(0);
                 }
                 ++t.products[product].rows;
                 ++t.prescription_rows;
                 if (hadm_id != run_hadm_id || run == 0) {
                   run_hadm_id = hadm_id;
                   ++run;
                 }
                 if (run_of_product[product] == run) {
                   ++t.prescriptions[row_of_product[product]].rows;
                 } else {
                   run_of_product[product] = run;
                   row_of_product[product] = t.prescriptions.size();
                   t.prescriptions.push_back({hadm_id, product, 1});
                 }
               });
  // Renumber products in sorted order so ids (and everything derived) ignore source row order.
  std::vector<std::int32_t> order(t.products.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int32_t>(i);
  std::sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
    const auto &x = t.products[a], &y = t.products[b];
    return std::tie(x.drug_type, x.drug, x.gsn) < std::tie(y.drug_type, y.drug, y.gsn);
  });
  std::vector<std::int32_t> rank(order.size());
  std::vector<DrugProduct> sorted;
  sorted.reserve(order.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    rank[order[i]] = static_cast<std::int32_t>(i);
    sorted.push_back(std::move(t.products[order[i]]));
  }
  t.products = std::move(sorted);
  for (auto& p : t.prescriptions) p.product = rank[p.product];
  sort_grouped(
      t.prescriptions, [](const PrescriptionRow& p) { return p.hadm_id; },
      [](const PrescriptionRow& a, const PrescriptionRow& b) {
        return std::tie(a.hadm_id, a.product) < std::tie(b.hadm_id, b.product);
      },
      /*two_threads=*/true);
  // A pair whose rows were spread over the file is now adjacent to itself: one entry, rows summed.
  std::size_t kept = 0;
  for (std::size_t i = 0; i < t.prescriptions.size(); ++i) {
    const PrescriptionRow& p = t.prescriptions[i];
    if (kept > 0 && t.prescriptions[kept - 1].hadm_id == p.hadm_id && t.prescriptions[kept - 1].product == p.product)
      t.prescriptions[kept - 1].rows += p.rows;
    else
      t.prescriptions[kept++] = p;
  }
  t.prescriptions.resize(kept);
}

}  // namespace

std::string icd_key(int version, std::string_view code) { return std::to_string(version) + "|" + std::string(code); }

std::optional<std::pair<int, int>> parse_date(std::string_view text) {
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int y = 0;
  unsigned m = 0, d = 0;
  if (std::from_chars(text.data(), text.data() + 4, y).ptr != text.data() + 4) return std::nullopt;
  if (std::from_chars(text.data() + 5, text.data() + 7, m).ptr != text.data() + 7) return std::nullopt;
  if (std::from_chars(text.data() + 8, text.data() + 10, d).ptr != text.data() + 10) return std::nullopt;
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (m < 1 || m > 12 || d < 1 || d > kDays[m - 1] + (m == 2 && leap)) return std::nullopt;
  if (text.size() > 10 && text[10] != ' ' && text[10] != 'T') return std::nullopt;
  return std::make_pair(y, days_from_civil(y, m, d));
}

HospTables read_hosp_tables(HospSource& source, bool skip) {
  HospTables t;
  // Every count entry exists before the second thread starts, so neither thread inserts into the map.
  for (const char* table : {"patients", "admissions", "d_icd_diagnoses", "diagnoses_icd", "prescriptions", "omr"})
    t.counts[table];
  std::exception_ptr prescriptions_error;
  std::thread prescriptions([&] {
    try {
      read_prescriptions(source, skip, t);
    } catch (...) {
      prescriptions_error = std::current_exception();
    }
  });
  struct JoinOnExit {  // an error in the other tables must not leave the thread running
    std::thread& thread;
    ~JoinOnExit() {
      if (thread.joinable()) thread.join();
    }
  } join_on_exit{prescriptions};

  for_each_row(source, "patients", {"subject_id", "gender", "anchor_age", "anchor_year"}, skip, t,
               [&](const CsvReader& r, const std::vector<std::size_t>& c) {
                 Patient p;
                 p.subject_id = required_integer(r, c[0]);
                 p.gender = std::string(trim(r.field(c[1])));
                 if (auto age = r.integer(c[2])) p.anchor_age = static_cast<int>(*age);
                 p.anchor_year = static_cast<int>(required_integer(r, c[3]));
                 t.patients.push_back(std::move(p));
               });
  auto subject = [](const auto& row) { return row.subject_id; };
  t.counts.at("patients").duplicates = sort_unique(
      t.patients, subject, subject,
      [](const Patient& a, const Patient& b) {
        return std::tie(a.subject_id, a.anchor_year, a.gender, a.anchor_age) <
               std::tie(b.subject_id, b.anchor_year, b.gender, b.anchor_age);
      });

  for_each_row(source, "admissions", {"subject_id", "hadm_id", "admittime", "dischtime", "admission_type"}, skip, t,
               [&](const CsvReader& r, const std::vector<std::size_t>& c) {
                 Admission a;
                 a.subject_id = required_integer(r, c[0]);
                 a.hadm_id = required_integer(r, c[1]);
                 a.admit_day = required_day(r, c[2], &a.admit_year);
                 a.discharge_day = r.field(c[3]).empty() ? a.admit_day : required_day(r, c[3]);
                 a.admission_type = std::string(trim(r.field(c[4])));
                 t.admissions.push_back(std::move(a));
               });
  auto admission = [](const auto& row) { return row.hadm_id; };
  t.counts.at("admissions").duplicates = sort_unique(
      t.admissions, admission, admission,
      [](const Admission& a, const Admission& b) {
        return std::tie(a.hadm_id, a.admit_day, a.subject_id, a.admission_type) <
               std::tie(b.hadm_id, b.admit_day, b.subject_id, b.admission_type);
      });

  for_each_row(source, "d_icd_diagnoses", {"icd_code", "icd_version", "long_title"}, skip, t,
               [&](const CsvReader& r, const std::vector<std::size_t>& c) {
                 int version = static_cast<int>(required_integer(r, c[1]));
                 auto [it, fresh] = t.icd_titles.emplace(icd_key(version, trim(r.field(c[0]))), trim(r.field(c[2])));
                 // Keep the smaller title on a clash so the result does not depend on row order.
                 if (!fresh) {
                   ++t.counts.at("d_icd_diagnoses").duplicates;
                   std::string title(trim(r.field(c[2])));
                   if (title < it->second) it->second = title;
                 }
               });

  TextIds code_ids;
  std::string key;
  for_each_row(source, "diagnoses_icd", {"hadm_id", "seq_num", "icd_code", "icd_version"}, skip, t,
               [&](const CsvReader& r, const std::vector<std::size_t>& c) {
                 DiagnosisRow d;
                 d.hadm_id = required_integer(r, c[0]);
                 d.seq_num = static_cast<int>(required_integer(r, c[1]));
                 std::string_view code = trim(r.field(c[2]));
                 if (code.empty()) r.fail_field(c[2], "is empty but required");
                 int version = static_cast<int>(required_integer(r, c[3]));
                 char digits[16];  // key = icd_key(version, code), built without allocating
                 key.assign(digits, std::to_chars(digits, digits + sizeof digits, version).ptr).append("|").append(code);
                 bool fresh = false;
                 d.code = code_ids.get(key, fresh);
                 if (fresh) t.codes.push_back({version, std::string(code)});
                 t.diagnoses.push_back(d);
               });
  sort_grouped(
      t.diagnoses, admission,
      [&](const DiagnosisRow& a, const DiagnosisRow& b) {
        if (a.hadm_id != b.hadm_id) return a.hadm_id < b.hadm_id;
        if (a.seq_num != b.seq_num) return a.seq_num < b.seq_num;
        const auto &x = t.codes[a.code], &y = t.codes[b.code];
        return std::tie(x.icd_version, x.icd_code) < std::tie(y.icd_version, y.icd_code);
      });

  for_each_row(source, "omr", {"subject_id", "chartdate", "seq_num", "result_name", "result_value"}, skip, t,
               [&](const CsvReader& r, const std::vector<std::size_t>& c) {
                 std::string_view name = trim(r.field(c[3]));
                 OmrMeasurement m;
                 if (name == "Height (Inches)") m.kind = OmrKind::Height;
                 else if (name == "Weight (Lbs)") m.kind = OmrKind::Weight;
                 else if (name == "BMI (kg/m2)") m.kind = OmrKind::Bmi;
                 else return;  // blood pressure, eGFR, ...: not physical information we use
                 m.subject_id = required_integer(r, c[0]);
                 m.day = required_day(r, c[1]);
                 m.seq_num = static_cast<int>(required_integer(r, c[2]));
                 std::string_view text = trim(r.field(c[4]));
                 auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), m.value);
                 if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
                   ++t.counts.at("omr").unusable;  // a free-text value is not a measurement; counted, not fatal
                   return;
                 }
                 t.omr.push_back(m);
               });
  t.counts.at("omr").duplicates = sort_unique(
      t.omr, subject, [](const OmrMeasurement& m) { return std::tie(m.subject_id, m.kind, m.day, m.seq_num, m.value); },
      [](const OmrMeasurement& a, const OmrMeasurement& b) {
        return std::tie(a.subject_id, a.kind, a.day, a.seq_num, a.value) <
               std::tie(b.subject_id, b.kind, b.day, b.seq_num, b.value);
      });
  prescriptions.join();
  if (prescriptions_error) std::rethrow_exception(prescriptions_error);
  return t;
}

}  // namespace rxlm::clinical
