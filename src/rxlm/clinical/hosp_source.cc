// HospSource implementations: csv/csv.gz folder, and PostgreSQL through libpq's COPY protocol.
#include "rxlm/clinical/hosp_source.h"

#include <cstring>

#include "rxlm/core/error.h"

#ifdef RXLM_HAVE_LIBPQ
#include <libpq-fe.h>
#endif

namespace rxlm::clinical {
namespace {

class CsvFolder final : public HospSource {
 public:
  explicit CsvFolder(std::filesystem::path dir) : dir_(std::move(dir)) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir_, ec))
      fail("{}: not a folder; pass the MIMIC-IV release folder (the one holding hosp/)", dir_.string());
  }

  CsvReader open(const std::string& table, const std::vector<std::string>& columns, CsvOptions options) override {
    CsvReader reader = CsvReader::open(find(table), options);
    for (const auto& column : columns) reader.column(column);  // fail early, naming the file
    return reader;
  }

  std::optional<std::filesystem::path> file(const std::string& table) const override { return find(table); }

  std::string describe() const override { return "csv folder " + dir_.string(); }

 private:
  std::filesystem::path find(const std::string& table) const {
    for (const auto& folder : {dir_ / "hosp", dir_}) {
      for (const char* ext : {".csv.gz", ".csv"}) {
        auto path = folder / (table + ext);
        std::error_code ec;
        if (std::filesystem::is_regular_file(path, ec)) return path;
      }
    }
    fail("{}: table '{}' not found (looked for hosp/{}.csv.gz, hosp/{}.csv, {}.csv.gz, {}.csv)", dir_.string(), table,
         table, table, table, table);
  }

  std::filesystem::path dir_;
};

#ifdef RXLM_HAVE_LIBPQ
// One connection per table read, so readers can be open one after another without sharing state.
struct PgCopy {
  PGconn* conn = nullptr;
  std::string pending;  // bytes of the current COPY row not yet handed out
  std::size_t pending_pos = 0;
  bool done = false;
  std::string table;
  ~PgCopy() {
    if (conn) PQfinish(conn);
  }

  std::size_t read(char* buffer, std::size_t capacity) {
    std::size_t filled = 0;
    while (filled < capacity) {
      if (pending_pos == pending.size()) {
        if (done) break;
        char* row = nullptr;
        int length = PQgetCopyData(conn, &row, 0);
        if (length == -1) {
          done = true;
          PGresult* result = PQgetResult(conn);
          bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
          std::string message = ok ? "" : PQresultErrorMessage(result);
          PQclear(result);
          if (!ok) fail("postgres table {}: COPY failed: {}", table, message);
          break;
        }
        if (length < 0) fail("postgres table {}: COPY failed: {}", table, PQerrorMessage(conn));
        pending.assign(row, static_cast<std::size_t>(length));
        PQfreemem(row);
        pending_pos = 0;
      }
      std::size_t take = std::min(capacity - filled, pending.size() - pending_pos);
      std::memcpy(buffer + filled, pending.data() + pending_pos, take);
      filled += take;
      pending_pos += take;
    }
    return filled;
  }
};

class Postgres final : public HospSource {
 public:
  Postgres(std::string uri, std::string schema) : uri_(std::move(uri)), schema_(std::move(schema)) {
    auto probe = connect();  // fail now, with the server's message, rather than at the first table
  }

  CsvReader open(const std::string& table, const std::vector<std::string>& columns, CsvOptions options) override {
    auto copy = std::make_shared<PgCopy>();
    copy->table = schema_ + "." + table;
    copy->conn = connect().release();
    std::string select;
    for (const auto& column : columns) {
      if (!select.empty()) select += ", ";
      char* quoted = PQescapeIdentifier(copy->conn, column.c_str(), column.size());
      select += quoted;
      PQfreemem(quoted);
    }
    char* schema = PQescapeIdentifier(copy->conn, schema_.c_str(), schema_.size());
    char* name = PQescapeIdentifier(copy->conn, table.c_str(), table.size());
    std::string sql = fmt::format("COPY (SELECT {} FROM {}.{}) TO STDOUT WITH (FORMAT csv, HEADER true)", select,
                                  schema, name);
    PQfreemem(schema);
    PQfreemem(name);
    PGresult* result = PQexec(copy->conn, sql.c_str());
    bool ok = PQresultStatus(result) == PGRES_COPY_OUT;
    std::string message = ok ? "" : PQresultErrorMessage(result);
    PQclear(result);
    if (!ok)
      fail("postgres table {}: {}(is the database built with mimic-code, schema {}?)", copy->table, message, schema_);
    return CsvReader("postgres table " + copy->table,
                     [copy](char* buffer, std::size_t capacity) { return copy->read(buffer, capacity); }, options);
  }

  std::string describe() const override { return "postgres schema " + schema_; }

 private:
  struct Closer {
    void operator()(PGconn* conn) const { PQfinish(conn); }
  };
  std::unique_ptr<PGconn, Closer> connect() const {
    std::unique_ptr<PGconn, Closer> conn(PQconnectdb(uri_.c_str()));
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK)
      fail("postgres: cannot connect: {}check the URI and that the server is running",
           conn ? PQerrorMessage(conn.get()) : "out of memory; ");
    // Text forms that match the PhysioNet CSV files byte for byte (ISO dates, UTF-8).
    PGresult* result = PQexec(conn.get(), "SET DateStyle = 'ISO, YMD'; SET client_encoding = 'UTF8'");
    PQclear(result);
    return conn;
  }

  std::string uri_, schema_;
};
#endif

}  // namespace

std::unique_ptr<HospSource> open_csv_folder(const std::filesystem::path& dir) { return std::make_unique<CsvFolder>(dir); }

std::unique_ptr<HospSource> open_postgres(const std::string& uri, const std::string& schema) {
#ifdef RXLM_HAVE_LIBPQ
  return std::make_unique<Postgres>(uri, schema);
#else
  fail("this rxlm was built without libpq; install libpq-dev and rebuild to read from PostgreSQL");
#endif
}

}  // namespace rxlm::clinical
