// Where the MIMIC-IV hosp tables come from: a folder of PhysioNet csv/csv.gz files, or a PostgreSQL
// database built by MIT-LCP mimic-code (schema mimiciv_hosp). Both hand out the same CsvReader.
#pragma once
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rxlm/io/csv.h"

namespace rxlm::clinical {

class HospSource {
 public:
  virtual ~HospSource() = default;
  // A reader over `table` (e.g. "prescriptions") whose header holds at least `columns`.
  virtual CsvReader open(const std::string& table, const std::vector<std::string>& columns,
                         CsvOptions options) = 0;
  // The file `table` is read from, when it is one (a csv folder); it may then be read in parts.
  virtual std::optional<std::filesystem::path> file(const std::string& table) const { return std::nullopt; }
  // Human-readable origin for reports (a path, or the database without credentials).
  virtual std::string describe() const = 0;
};

// `dir` is the release root (holding hosp/) or the hosp folder itself; each table is <name>.csv.gz
// or <name>.csv.
std::unique_ptr<HospSource> open_csv_folder(const std::filesystem::path& dir);

// `uri` is a libpq connection string or URI. Tables are read with COPY ... TO STDOUT (FORMAT csv).
// Throws when rxlm was built without libpq or the server cannot be reached.
std::unique_ptr<HospSource> open_postgres(const std::string& uri, const std::string& schema = "mimiciv_hosp");

}  // namespace rxlm::clinical
