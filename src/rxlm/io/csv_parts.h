// A large .csv.gz read on several threads: GzipParts inflates it as consecutive parts, and each part is
// parsed by its own CsvReader. Part k > 0 begins at an arbitrary byte, so its reader starts after the
// part's first newline and the bytes before that go to the end of part k - 1. Whether that newline really
// ended a record is known only when part k - 1 has been read to its end; any doubt becomes
// GzipSplitFailed, and the caller reads the file serially (which also gives exact line numbers).
#pragma once
#include <filesystem>
#include <functional>
#include <string>

#include "rxlm/io/csv.h"
#include "rxlm/io/gzip_parts.h"

namespace rxlm {

// Runs read(reader, k) for every part k of the CSV file at `path`, part 0 on this thread and the others
// on threads of their own; returns how many parts there were. With one part (a small file, one that
// cannot be split, options.skip_malformed) this is a plain serial read and errors pass through as they
// are. With several, any error (a corrupt file, a malformed record, an exception from `read`) becomes
// GzipSplitFailed once every thread has stopped: the results of all parts must then be discarded and the
// file read serially, which reports a genuine error with its line.
// `min_compressed`: smaller files are one part (tests lower it).
int read_csv_in_parts(const std::filesystem::path& path, CsvOptions options,
                      const std::function<void(CsvReader& reader, int part)>& read,
                      std::size_t min_compressed = GzipParts::kDefaultMinCompressed);

}  // namespace rxlm
