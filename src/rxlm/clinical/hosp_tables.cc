// Reading the hosp tables: columns by name, typed fields with file:line errors, deterministic order.
#include "rxlm/clinical/hosp_tables.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <charconv>
#include <climits>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <tuple>
#include <utility>

#include "rxlm/core/error.h"
#include "rxlm/core/two_threads.h"
#include "rxlm/io/csv_parts.h"

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

[[gnu::always_inline]] inline std::int64_t required_integer(const CsvReader& reader, std::size_t column) {
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

// Runs `row` for every record of `reader` (its fields found by `columns`), counting rows into `count`;
// with skip_malformed, a row whose values do not parse is counted, not fatal.
template <class Row>
void for_each_record(CsvReader& reader, const std::vector<std::string>& columns, bool skip_malformed,
                     TableCount& count, Row&& row) {
  std::vector<std::size_t> index;
  for (const auto& column : columns) index.push_back(reader.column(column));
  reader.keep_fields(*std::max_element(index.begin(), index.end()) + 1);
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

// for_each_record over `table` of `source`.
template <class Row>
void for_each_row(HospSource& source, const std::string& table, const std::vector<std::string>& columns,
                  bool skip_malformed, HospTables& tables, Row&& row) {
  CsvReader reader = source.open(table, columns, CsvOptions{.skip_malformed = skip_malformed});
  for_each_record(reader, columns, skip_malformed, tables.counts.at(table), std::forward<Row>(row));
}

// push_back for the big tables. Where the vector would double, it grows instead to what the whole
// table will likely need, judged from how far through the file the reader is: the pages of the
// vector are then touched once, not again in every larger copy. Never by less than an eighth.
template <class T>
void push_back_sized(std::vector<T>& items, T&& item, const CsvReader& reader) {
  if (items.size() == items.capacity() && items.size() >= 4096) {
    const double read = reader.fraction_read();
    std::size_t want = items.size() + items.size() / 8;
    if (read > 0 && read < 1) {
      const double expected = static_cast<double>(items.size()) / read * 1.02;
      if (expected * sizeof(T) < 4e9) want = std::max(want, static_cast<std::size_t>(expected));
    } else {
      want = 2 * items.size();
    }
    items.reserve(want);
  }
  items.push_back(std::forward<T>(item));
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

// Ids of distinct keys of up to three strings (prescription products, ICD codes), looked up once per
// row of the big tables, straight from the fields (no key string built per row): open addressing over
// a power-of-two table whose slots hold what a comparison needs (hash, lengths, where the text is),
// so a lookup touches one slot and the key's text.
class TextIds {
 public:
  static constexpr std::size_t kParts = 3;
  using Key = std::array<std::string_view, kParts>;  // parts not used are empty

  // The id of `key`, adding it (as the next id) when new; `fresh` says which.
  std::int32_t get(const Key& key, bool& fresh) {
    if (2 * (count_ + 1) > slots_.size()) grow();
    const std::uint64_t h = hash(key);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.id < 0) {
        slot = store(h, key);
        fresh = true;
        return slot.id;
      }
      if (slot.hash == h && slot.equals(key)) {
        fresh = false;
        return slot.id;
      }
    }
  }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    const char* text = nullptr;  // the parts back to back, in texts_
    std::uint32_t length[kParts] = {};
    std::int32_t id = -1;

    bool equals(const Key& key) const {
      const char* at = text;
      for (std::size_t p = 0; p < kParts; ++p) {
        if (key[p].size() != length[p] || !same_bytes(at, key[p].data(), length[p])) return false;
        at += length[p];
      }
      return true;
    }
  };

  Slot store(std::uint64_t h, const Key& key) {
    Slot slot;
    slot.hash = h;
    slot.id = static_cast<std::int32_t>(count_++);
    std::string& text = *texts_.emplace_back(std::make_unique<std::string>());  // stays where it is
    for (std::size_t p = 0; p < kParts; ++p) {
      if (key[p].size() > UINT32_MAX) fail("a field of {} bytes is too long to be a name or code", key[p].size());
      text.append(key[p]);
      slot.length[p] = static_cast<std::uint32_t>(key[p].size());
    }
    slot.text = text.data();
    return slot;
  }

  static std::uint64_t load8(const char* p) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    return word;
  }
  static std::uint32_t load4(const char* p) {
    std::uint32_t word;
    std::memcpy(&word, p, 4);
    return word;
  }

  // memcmp(a, b, n) == 0 for the short texts of a key, inline: words, the last one overlapping.
  static bool same_bytes(const char* a, const char* b, std::size_t n) {
    if (n >= 8) {
      for (std::size_t i = 0; i + 8 < n; i += 8)
        if (load8(a + i) != load8(b + i)) return false;
      return load8(a + n - 8) == load8(b + n - 8);
    }
    if (n >= 4) return load4(a) == load4(b) && load4(a + n - 4) == load4(b + n - 4);
    for (std::size_t i = 0; i < n; ++i)
      if (a[i] != b[i]) return false;
    return true;
  }

  // 64 x 64 -> 128-bit product, folded.
  static std::uint64_t fold_multiply(std::uint64_t a, std::uint64_t b) {
    const unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
    return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
  }

  // A part's length and up to 24 of its bytes (first, middle and last 8); equal keys hash equal, and
  // the bytes left out only make a collision likelier, which the full comparison catches. The parts
  // are hashed independently so their multiplications overlap.
  static std::uint64_t hash_part(std::string_view text, std::uint64_t seed) {
    const char* p = text.data();
    const std::size_t n = text.size();
    std::uint64_t first = 0, last = 0;
    if (n >= 8) {
      first = load8(p);
      last = load8(p + n - 8) ^ (n > 16 ? std::rotl(load8(p + n / 2 - 4), 29) : 0);
    } else if (n >= 4) {
      first = load4(p);
      last = load4(p + n - 4);
    } else if (n > 0) {
      first = static_cast<unsigned char>(p[0]) | static_cast<unsigned>(static_cast<unsigned char>(p[n / 2])) << 8 |
              static_cast<unsigned>(static_cast<unsigned char>(p[n - 1])) << 16;
    }
    return fold_multiply(first ^ seed, last ^ n ^ 0xE7037ED1A0B428DB);
  }

  static std::uint64_t hash(const Key& key) {
    const std::uint64_t h = hash_part(key[0], 0xA0761D6478BD642F) ^
                            std::rotl(hash_part(key[1], 0x8EBC6AF09C88C6E3), 21) ^
                            std::rotl(hash_part(key[2], 0x589965CC75374CC3), 42);
    return fold_multiply(h, 0x1D8E4E27C47D124F);
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
  std::size_t mask_ = 0, count_ = 0;
  std::vector<std::unique_ptr<std::string>> texts_;  // by id
};

// What one stretch of the prescriptions table holds: its products (ids local to it, in order of first
// appearance) and its (admission, product) entries with row counts. A stretch can be read on its own
// thread; merge_prescriptions puts stretches together.
class PrescriptionPart {
 public:
  // `reader`: where the row comes from, for sizing the entries (see push_back_sized).
  void add(const CsvReader& reader, std::int64_t hadm_id, std::string_view drug_type, std::string_view drug,
           std::string_view gsn) {
    bool fresh = false;
    const std::int32_t product = ids_.get({drug_type, drug, gsn}, fresh);
    if (fresh) {
      products.push_back({std::string(drug_type), std::string(drug), std::string(gsn)});
      seen_.push_back({});
    }
    Seen& seen = seen_[product];
    ++seen.rows;
    ++rows;
    // Rows of one admission usually come together: within such a run each product is kept once, counted.
    if (hadm_id != run_hadm_id_ || run_ == 0) {
      if (run_ == 0) first_hadm_id = hadm_id;
      in_admission_order = in_admission_order && (run_ == 0 || hadm_id > run_hadm_id_);
      run_hadm_id_ = last_hadm_id = hadm_id;
      ++run_;
      lowest_hadm_id = std::min(lowest_hadm_id, hadm_id);
      highest_hadm_id = std::max(highest_hadm_id, hadm_id);
    }
    if (seen.run == run_) {
      ++entries[seen.entry].rows;
    } else {
      seen.run = run_;
      seen.entry = entries.size();
      push_back_sized(entries, PrescriptionRow{hadm_id, product, 1}, reader);
    }
  }

  // Source rows of a product (a local id).
  std::int64_t rows_of(std::size_t product) const { return seen_[product].rows; }

  std::vector<DrugProduct> products;        // by local id; their `rows` are in rows_of()
  std::vector<PrescriptionRow> entries;     // product: a local id
  std::uint64_t rows = 0;
  std::int64_t lowest_hadm_id = INT64_MAX, highest_hadm_id = INT64_MIN;  // over the entries
  std::int64_t first_hadm_id = 0, last_hadm_id = 0;                       // of the first and last entry
  bool in_admission_order = true;  // each admission's entries together, admissions ascending

 private:
  struct Seen {               // per product, together so that a row touches one place
    std::uint32_t run = 0;    // the last run it was seen in
    std::size_t entry = 0;    // its entry in that run
    std::int64_t rows = 0;
  };
  TextIds ids_;
  std::int64_t run_hadm_id_ = 0;
  std::uint32_t run_ = 0;
  std::vector<Seen> seen_;  // by local id
};

// The parts' products under one numbering, in sorted order (so ids, and everything derived, ignore
// source row order), into t.products; returns per part the new id of each of its local ids.
std::vector<std::vector<std::int32_t>> merge_products(std::span<PrescriptionPart> parts, HospTables& t) {
  std::vector<std::vector<std::int32_t>> merged_id(parts.size());
  TextIds ids;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    for (std::size_t local = 0; local < parts[p].products.size(); ++local) {
      DrugProduct& product = parts[p].products[local];
      bool fresh = false;
      const std::int32_t id = ids.get({product.drug_type, product.drug, product.gsn}, fresh);
      if (fresh) t.products.push_back(std::move(product));
      t.products[id].rows += parts[p].rows_of(local);
      merged_id[p].push_back(id);
    }
    t.prescription_rows += parts[p].rows;
  }
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
  for (auto& ids_of_part : merged_id)
    for (std::int32_t& id : ids_of_part) id = rank[id];
  return merged_id;
}

// Stable LSD radix sort of values[0, count) by their bits [low, low + width), in passes of at most
// 11 bits (2048 buckets: the scatter stays in cache), through `scratch`; returns the array that holds
// the result (values or scratch). Two threads: each scatters one half of the array, after the values
// of the first half in each bucket. While scattering, each counts the next pass's digits per half of
// the array it writes, so no pass reads the values twice.
std::uint64_t* radix_sort_bits(std::uint64_t* values, std::uint64_t* scratch, std::size_t count, int low, int width) {
  const int passes = (width + 10) / 11;
  if (passes == 0 || count < 2) return values;
  const int digit_bits = (width + passes - 1) / passes;
  const std::size_t buckets = std::size_t{1} << digit_bits;
  const std::uint64_t digit_mask = buckets - 1;
  const std::size_t middle = count / 2;
  const std::size_t begin_of[3] = {0, middle, count};
  auto digit = [&](std::uint64_t v, int pass) { return v >> (low + pass * digit_bits) & digit_mask; };
  // counts[h]: digits of this pass in half h; next[t][h]: of the next pass, written by thread t to half h
  std::vector<std::size_t> counts[2] = {std::vector<std::size_t>(buckets), std::vector<std::size_t>(buckets)};
  std::vector<std::size_t> next[2][2];
  maybe_in_parallel(
      true, [&] { for (std::size_t i = 0; i < middle; ++i) ++counts[0][digit(values[i], 0)]; },
      [&] { for (std::size_t i = middle; i < count; ++i) ++counts[1][digit(values[i], 0)]; });
  for (int pass = 0; pass < passes; ++pass) {
    std::size_t sum = 0;  // counts become where each half's values of a digit go
    for (std::size_t d = 0; d < buckets; ++d) {
      sum += std::exchange(counts[0][d], sum);
      sum += std::exchange(counts[1][d], sum);
    }
    const bool last = pass + 1 == passes;
    auto scatter_half = [&](int h) {
      std::size_t* to = counts[h].data();
      if (last) {
        for (std::size_t i = begin_of[h]; i < begin_of[h + 1]; ++i) scratch[to[digit(values[i], pass)]++] = values[i];
        return;
      }
      next[h][0].assign(buckets, 0);
      next[h][1].assign(buckets, 0);
      std::size_t* in_half[2] = {next[h][0].data(), next[h][1].data()};
      for (std::size_t i = begin_of[h]; i < begin_of[h + 1]; ++i) {
        const std::uint64_t v = values[i];
        const std::size_t at = to[digit(v, pass)]++;
        scratch[at] = v;
        ++in_half[at >= middle][digit(v, pass + 1)];
      }
    };
    maybe_in_parallel(true, [&] { scatter_half(0); }, [&] { scatter_half(1); });
    std::swap(values, scratch);
    if (!last)
      for (int h = 0; h < 2; ++h)
        for (std::size_t d = 0; d < buckets; ++d) counts[h][d] = next[0][h][d] + next[1][h][d];
  }
  return values;
}

// Runs `work(begin, end)` on [0, count) split in two at a boundary chosen by `boundary(middle)`, the
// halves on two threads; each returns how many items it wrote from its begin on into `out`; the second
// half's output is moved down to follow the first's. Returns the total written.
template <class T, class Boundary, class Work>
std::size_t compact_in_halves(T* out, std::size_t count, Boundary boundary, Work work) {
  const std::size_t split = boundary(count / 2);
  std::size_t low = 0, high = 0;
  maybe_in_parallel(count >= (std::size_t{1} << 16), [&] { low = work(std::size_t{0}, split); },
                    [&] { high = work(split, count); });
  if (low != split) std::memmove(out + low, out + split, high * sizeof(T));
  return low + high;
}

// For up to this many products order_admissions_by_bitmap is used (it scans a summary of
// products / 4096 words per admission); past it, the entries are sorted as in any other order.
constexpr std::size_t kBitmapProducts = std::size_t{1} << 20;

// entries[begin, end) hold whole admissions, each admission's entries together. Each admission's
// entries are put in product order with equal products merged (rows summed), written from `begin` on
// (never past what is still to be read); returns how many were written. The admission's products are
// marked in a bitmap (and its words in a summary bitmap) with their rows summed, then read back in bit
// order: sorted and merged without comparisons, a few times faster than sorting the few dozen entries.
std::size_t order_admissions_by_bitmap(PrescriptionRow* entries, std::size_t begin, std::size_t end,
                                       std::size_t products) {
  const std::size_t words = (products + 63) / 64, groups = (words + 63) / 64;
  std::vector<std::uint64_t> marked(words), marked_words(groups);
  std::vector<std::int64_t> rows_of(products);
  std::size_t out = begin;
  for (std::size_t i = begin; i < end;) {
    const std::int64_t hadm_id = entries[i].hadm_id;
    for (; i < end && entries[i].hadm_id == hadm_id; ++i) {
      const auto product = static_cast<std::uint32_t>(entries[i].product);
      const std::uint64_t bit = std::uint64_t{1} << (product & 63);
      std::uint64_t& word = marked[product >> 6];
      rows_of[product] = (word & bit ? rows_of[product] : 0) + entries[i].rows;
      word |= bit;
      marked_words[product >> 12] |= std::uint64_t{1} << (product >> 6 & 63);
    }
    for (std::size_t g = 0; g < groups; ++g) {
      for (std::uint64_t ws = marked_words[g]; ws; ws &= ws - 1) {
        const std::size_t w = g * 64 + static_cast<std::size_t>(std::countr_zero(ws));
        for (std::uint64_t bits = marked[w]; bits; bits &= bits - 1) {
          const std::size_t product = w * 64 + static_cast<std::size_t>(std::countr_zero(bits));
          entries[out++] = {hadm_id, static_cast<std::int32_t>(product), static_cast<std::int32_t>(rows_of[product])};
        }
        marked[w] = 0;
      }
      marked_words[g] = 0;
    }
  }
  return out - begin;
}

// Entries in admission order (each admission's entries together, admissions ascending, as in the
// synthetic tables): orders each admission's entries by product and merges equal pairs, in place.
// Returns how many entries are left.
std::size_t sort_within_admissions(PrescriptionRow* entries, std::size_t count, std::size_t products) {
  auto boundary = [&](std::size_t i) {  // the first admission start at or after i
    while (i > 0 && i < count && entries[i].hadm_id == entries[i - 1].hadm_id) ++i;
    return i;
  };
  return compact_in_halves(entries, count, boundary, [&](std::size_t begin, std::size_t end) {
    return order_admissions_by_bitmap(entries, begin, end, products);
  });
}

// Entries in any order: each packed into one integer, (admission offset, product, rows) from the high
// bits down, so that sorting the integers sorts the pairs; radix-sorted, then unpacked into `entries`
// with equal pairs merged. Returns how many entries are left, or nothing when the integers would need
// more than 63 bits.
std::optional<std::size_t> sort_packed(PrescriptionRow* entries, std::size_t count, std::int64_t lowest,
                                       std::int64_t highest, std::size_t products, std::uint64_t total_rows) {
  const int rows_bits = std::bit_width(total_rows);  // no entry counts more rows than all
  const int product_bits = std::bit_width(products - 1);
  const int admission_bits = std::bit_width(static_cast<std::uint64_t>(highest) - static_cast<std::uint64_t>(lowest));
  if (rows_bits + product_bits + admission_bits > 63) return std::nullopt;  // 63: every shift stays below 64
  const int admission_shift = rows_bits + product_bits;
  auto values = std::make_unique_for_overwrite<std::uint64_t[]>(count);
  auto scratch = std::make_unique_for_overwrite<std::uint64_t[]>(count);
  auto pack = [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      const PrescriptionRow& e = entries[i];
      values[i] = (static_cast<std::uint64_t>(e.hadm_id) - static_cast<std::uint64_t>(lowest)) << admission_shift |
                  static_cast<std::uint64_t>(e.product) << rows_bits | static_cast<std::uint64_t>(e.rows);
    }
  };
  maybe_in_parallel(count >= (std::size_t{1} << 16), [&] { pack(0, count / 2); }, [&] { pack(count / 2, count); });
  const std::uint64_t* sorted =
      radix_sort_bits(values.get(), scratch.get(), count, rows_bits, product_bits + admission_bits);
  // A pair whose rows were spread over the file is now adjacent to itself: one entry, rows summed.
  const std::uint64_t rows_mask = (std::uint64_t{1} << rows_bits) - 1;
  const std::uint64_t product_mask = (std::uint64_t{1} << product_bits) - 1;
  auto boundary = [&](std::size_t i) {  // the first pair start at or after i
    while (i > 0 && i < count && sorted[i] >> rows_bits == sorted[i - 1] >> rows_bits) ++i;
    return i;
  };
  return compact_in_halves(entries, count, boundary, [&](std::size_t begin, std::size_t end) {
    std::size_t out = begin;
    for (std::size_t i = begin; i < end;) {
      const std::uint64_t key = sorted[i] >> rows_bits;
      std::uint64_t rows = 0;
      for (; i < end && sorted[i] >> rows_bits == key; ++i) rows += sorted[i] & rows_mask;
      entries[out++] = {static_cast<std::int64_t>(static_cast<std::uint64_t>(lowest) + (key >> product_bits)),
                        static_cast<std::int32_t>(key & product_mask), static_cast<std::int32_t>(rows)};
    }
    return out - begin;
  });
}

// Products numbered in sorted order, entries sorted by (hadm_id, product) with each pair once and its
// rows summed. `parts`: at least one, in file order.
void merge_prescriptions(std::span<PrescriptionPart> parts, HospTables& t) {
  const std::vector<std::vector<std::int32_t>> merged_id = merge_products(parts, t);
  // All entries in one array (the first part's, whose reader reserved room for the whole file's: see
  // push_back_sized and csv_parts' PartSource), products renumbered.
  std::vector<PrescriptionRow>& entries = parts[0].entries;
  std::size_t total = 0;
  for (const PrescriptionPart& part : parts) total += part.entries.size();
  entries.reserve(total);
  bool ordered = true;  // every part in admission order, and each part's admissions after the last one's
  std::int64_t lowest = INT64_MAX, highest = INT64_MIN, previous_last = INT64_MIN;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    PrescriptionPart& part = parts[p];
    if (part.entries.empty()) continue;
    const std::size_t from = p == 0 ? 0 : entries.size();
    if (p > 0) {
      entries.insert(entries.end(), part.entries.begin(), part.entries.end());
      std::vector<PrescriptionRow>().swap(part.entries);
    }
    const std::int32_t* id = merged_id[p].data();
    auto renumber = [&](std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i < end; ++i) entries[i].product = id[entries[i].product];
    };
    const std::size_t middle = from + (entries.size() - from) / 2;
    maybe_in_parallel(entries.size() - from >= (std::size_t{1} << 16), [&] { renumber(from, middle); },
                      [&] { renumber(middle, entries.size()); });
    ordered = ordered && part.in_admission_order && part.first_hadm_id >= previous_last;
    previous_last = part.last_hadm_id;
    lowest = std::min(lowest, part.lowest_hadm_id);
    highest = std::max(highest, part.highest_hadm_id);
  }
  std::optional<std::size_t> kept;
  if (ordered && t.products.size() <= kBitmapProducts)
    kept = sort_within_admissions(entries.data(), entries.size(), t.products.size());
  else if (!entries.empty())
    kept = sort_packed(entries.data(), entries.size(), lowest, highest, t.products.size(), t.prescription_rows);
  if (kept) {
    entries.resize(*kept);
    t.prescriptions = std::move(entries);
    return;
  }
  t.prescriptions = std::move(entries);  // ids too wide to pack: sort the entries themselves
  sort_grouped(
      t.prescriptions, [](const PrescriptionRow& p) { return p.hadm_id; },
      [](const PrescriptionRow& a, const PrescriptionRow& b) {
        return std::tie(a.hadm_id, a.product) < std::tie(b.hadm_id, b.product);
      },
      /*two_threads=*/true);
  std::size_t count = 0;
  for (std::size_t i = 0; i < t.prescriptions.size(); ++i) {
    const PrescriptionRow& p = t.prescriptions[i];
    if (count > 0 && t.prescriptions[count - 1].hadm_id == p.hadm_id && t.prescriptions[count - 1].product == p.product)
      t.prescriptions[count - 1].rows += p.rows;
    else
      t.prescriptions[count++] = p;
  }
  t.prescriptions.resize(count);
}

const std::vector<std::string>& prescription_columns() {
  static const std::vector<std::string> columns{"hadm_id", "drug_type", "drug", "gsn"};
  return columns;
}

// The prescriptions rows of one byte stream into `part`. A table split into parts (read on several
// threads) is read part by part like this, each with its own reader and count, then merged.
void read_prescription_rows(CsvReader& reader, bool skip, TableCount& count, PrescriptionPart& part) {
  for_each_record(reader, prescription_columns(), skip, count,
                  [&](const CsvReader& r, const std::vector<std::size_t>& c) {
                    part.add(r, required_integer(r, c[0]), r.field(c[1]), r.field(c[2]), r.field(c[3]));
                  });
}

// prescriptions, by far the largest table (read while the other tables are read on another thread).
void read_prescriptions(HospSource& source, bool skip, HospTables& t) {
  // A big .csv.gz is inflated and parsed in two parts on two threads when it can be split (csv_parts.h);
  // when the split turns out invalid, everything is read again below, serially.
  if (const auto file = source.file("prescriptions"); file && !skip) {
    std::vector<PrescriptionPart> parts(2);
    std::vector<TableCount> counts(2);
    try {
      const int read = read_csv_in_parts(*file, CsvOptions{}, [&](CsvReader& reader, int part) {
        read_prescription_rows(reader, false, counts[part], parts[part]);
      });
      parts.resize(read);
      for (int part = 0; part < read; ++part) t.counts.at("prescriptions").rows += counts[part].rows;
      merge_prescriptions(parts, t);
      return;
    } catch (const GzipSplitFailed&) {
    }
  }
  std::vector<PrescriptionPart> parts(1);
  CsvReader reader = source.open("prescriptions", prescription_columns(), CsvOptions{.skip_malformed = skip});
  read_prescription_rows(reader, skip, t.counts.at("prescriptions"), parts.front());
  merge_prescriptions(parts, t);
}

}  // namespace

std::string icd_key(int version, std::string_view code) { return std::to_string(version) + "|" + std::string(code); }

std::optional<std::pair<int, int>> parse_date(std::string_view text) {
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int y = 0;
  unsigned m = 0, d = 0;
  auto digit = [&](std::size_t i) { return static_cast<unsigned>(static_cast<unsigned char>(text[i])) - '0'; };
  if (digit(0) <= 9 && digit(1) <= 9 && digit(2) <= 9 && digit(3) <= 9 && digit(5) <= 9 && digit(6) <= 9 &&
      digit(8) <= 9 && digit(9) <= 9) {  // the usual all-digit date, without from_chars
    y = static_cast<int>(digit(0) * 1000 + digit(1) * 100 + digit(2) * 10 + digit(3));
    m = digit(5) * 10 + digit(6);
    d = digit(8) * 10 + digit(9);
  } else {  // as from_chars judges it (it takes a sign in the year)
    if (std::from_chars(text.data(), text.data() + 4, y).ptr != text.data() + 4) return std::nullopt;
    if (std::from_chars(text.data() + 5, text.data() + 7, m).ptr != text.data() + 7) return std::nullopt;
    if (std::from_chars(text.data() + 8, text.data() + 10, d).ptr != text.data() + 10) return std::nullopt;
  }
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (m < 1 || m > 12 || d < 1 || d > kDays[m - 1] + (m == 2 && leap)) return std::nullopt;
  if (text.size() > 10 && text[10] != ' ' && text[10] != 'T') return std::nullopt;
  return std::make_pair(y, days_from_civil(y, m, d));
}

namespace {

// The five smaller tables, each read by its own function into its own members of HospTables (and its own
// entry of `counts`), so that any two can be read at once.
auto subject_of = [](const auto& row) { return row.subject_id; };
auto admission_of = [](const auto& row) { return row.hadm_id; };

void read_omr(HospSource& source, bool skip, HospTables& t) {
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
                 push_back_sized(t.omr, std::move(m), r);
               });
  t.counts.at("omr").duplicates = sort_unique(
      t.omr, subject_of, [](const OmrMeasurement& m) { return std::tie(m.subject_id, m.kind, m.day, m.seq_num, m.value); },
      [](const OmrMeasurement& a, const OmrMeasurement& b) {
        return std::tie(a.subject_id, a.kind, a.day, a.seq_num, a.value) <
               std::tie(b.subject_id, b.kind, b.day, b.seq_num, b.value);
      });
}

void read_patients(HospSource& source, bool skip, HospTables& t) {
  for_each_row(source, "patients", {"subject_id", "gender", "anchor_age", "anchor_year"}, skip, t,
               [&](const CsvReader& r, const std::vector<std::size_t>& c) {
                 Patient p;
                 p.subject_id = required_integer(r, c[0]);
                 p.gender = std::string(trim(r.field(c[1])));
                 if (auto age = r.integer(c[2])) p.anchor_age = static_cast<int>(*age);
                 p.anchor_year = static_cast<int>(required_integer(r, c[3]));
                 push_back_sized(t.patients, std::move(p), r);
               });
  t.counts.at("patients").duplicates = sort_unique(
      t.patients, subject_of, subject_of,
      [](const Patient& a, const Patient& b) {
        return std::tie(a.subject_id, a.anchor_year, a.gender, a.anchor_age) <
               std::tie(b.subject_id, b.anchor_year, b.gender, b.anchor_age);
      });
}

void read_admissions(HospSource& source, bool skip, HospTables& t) {
  for_each_row(source, "admissions", {"subject_id", "hadm_id", "admittime", "dischtime", "admission_type"}, skip, t,
               [&](const CsvReader& r, const std::vector<std::size_t>& c) {
                 Admission a;
                 a.subject_id = required_integer(r, c[0]);
                 a.hadm_id = required_integer(r, c[1]);
                 a.admit_day = required_day(r, c[2], &a.admit_year);
                 a.discharge_day = r.field(c[3]).empty() ? a.admit_day : required_day(r, c[3]);
                 a.admission_type = std::string(trim(r.field(c[4])));
                 push_back_sized(t.admissions, std::move(a), r);
               });
  t.counts.at("admissions").duplicates = sort_unique(
      t.admissions, admission_of, admission_of,
      [](const Admission& a, const Admission& b) {
        return std::tie(a.hadm_id, a.admit_day, a.subject_id, a.admission_type) <
               std::tie(b.hadm_id, b.admit_day, b.subject_id, b.admission_type);
      });
}

void read_icd_titles(HospSource& source, bool skip, HospTables& t) {
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
}

void read_diagnoses(HospSource& source, bool skip, HospTables& t) {
  TextIds code_ids;
  for_each_row(source, "diagnoses_icd", {"hadm_id", "seq_num", "icd_code", "icd_version"}, skip, t,
               [&](const CsvReader& r, const std::vector<std::size_t>& c) {
                 DiagnosisRow d;
                 d.hadm_id = required_integer(r, c[0]);
                 d.seq_num = static_cast<int>(required_integer(r, c[1]));
                 std::string_view code = trim(r.field(c[2]));
                 if (code.empty()) r.fail_field(c[2], "is empty but required");
                 int version = static_cast<int>(required_integer(r, c[3]));
                 char digits[16];  // the version as icd_key writes it: "09" and "9" are one code
                 const std::string_view version_text(digits, std::to_chars(digits, digits + sizeof digits, version).ptr - digits);
                 bool fresh = false;
                 d.code = code_ids.get({version_text, code, {}}, fresh);
                 if (fresh) t.codes.push_back({version, std::string(code)});
                 push_back_sized(t.diagnoses, std::move(d), r);
               });
  // Codes ranked once by (version, code text), so that the sort compares integers, not strings.
  std::vector<std::int32_t> by_text(t.codes.size()), code_rank(t.codes.size());
  for (std::size_t i = 0; i < by_text.size(); ++i) by_text[i] = static_cast<std::int32_t>(i);
  std::sort(by_text.begin(), by_text.end(), [&](std::int32_t a, std::int32_t b) {
    return std::tie(t.codes[a].icd_version, t.codes[a].icd_code) < std::tie(t.codes[b].icd_version, t.codes[b].icd_code);
  });
  for (std::size_t i = 0; i < by_text.size(); ++i) code_rank[by_text[i]] = static_cast<std::int32_t>(i);
  sort_grouped(
      t.diagnoses, admission_of,
      [&](const DiagnosisRow& a, const DiagnosisRow& b) {
        if (a.hadm_id != b.hadm_id) return a.hadm_id < b.hadm_id;
        if (a.seq_num != b.seq_num) return a.seq_num < b.seq_num;
        return code_rank[a.code] < code_rank[b.code];
      });
}

}  // namespace

HospTables read_hosp_tables(HospSource& source, bool skip) {
  HospTables t;
  // Every count entry exists before the threads start, so no thread inserts into the map.
  for (const char* table : {"patients", "admissions", "d_icd_diagnoses", "diagnoses_icd", "prescriptions", "omr"})
    t.counts[table];
  // The other tables are tasks taken in this order by whichever thread is free: omr, the largest,
  // first, so that what is left when the prescriptions are done is short. Their errors are reported
  // in this order too (before a prescriptions error), whichever thread met them.
  using ReadTable = void (*)(HospSource&, bool, HospTables&);
  constexpr std::array<ReadTable, 5> kOthers = {read_omr, read_diagnoses, read_admissions, read_patients,
                                                read_icd_titles};
  std::array<std::exception_ptr, kOthers.size()> others_errors;
  std::atomic<std::size_t> next_other{0};
  auto read_others = [&] {
    for (std::size_t i; (i = next_other.fetch_add(1)) < kOthers.size();) {
      try {
        kOthers[i](source, skip, t);
      } catch (...) {
        others_errors[i] = std::current_exception();
      }
    }
  };
  // prescriptions is by far the largest table, and inflating it is the longest chain of work: it is read
  // here while the other tables are read on a thread that yields to it (a lower priority, which the
  // threads inflating its files inherit). Then this thread takes what is left of the other tables.
  std::exception_ptr prescriptions_error;
  std::thread others([&] {
    // Nice 10: about a tenth of the share of a normal thread while both want a core, so that the thread
    // inflating prescriptions (the chain the whole read waits for when its file cannot be split) keeps
    // nearly a core to itself; these tables fill the time the prescriptions parser leaves free. Best
    // effort: where it is not allowed, the threads share the cores evenly.
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
    read_others();
  });
  try {
    read_prescriptions(source, skip, t);
  } catch (...) {
    prescriptions_error = std::current_exception();
  }
  read_others();
  others.join();
  for (const std::exception_ptr& error : others_errors)
    if (error) std::rethrow_exception(error);
  if (prescriptions_error) std::rethrow_exception(prescriptions_error);
  return t;
}

}  // namespace rxlm::clinical
