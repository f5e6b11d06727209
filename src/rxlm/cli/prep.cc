// `rxlm prep`: MIMIC-IV hosp tables (csv folder or PostgreSQL) → de-identified JSONL chat samples.
#include <fmt/format.h>

#include "rxlm/clinical/hosp_source.h"
#include "rxlm/clinical/prep_pipeline.h"
#include "rxlm/cli/command.h"
#include "rxlm/core/batch_memory.h"
#include "rxlm/core/error.h"

namespace {

struct PrepOptions {
  std::string mimic, pg, schema = "mimiciv_hosp", out, config, link, tokenizer, drug_maps;
  int max_tokens = 0, folds = -1;
  long long seed = -1;
  bool skip_malformed = false;
};

const bool registered = rxlm::cli::register_command(
    "prep", "Build training samples (one per admission) from MIMIC-IV hosp tables", [](CLI::App& app) {
      auto options = std::make_shared<PrepOptions>();
      auto* mimic = app.add_option("--mimic", options->mimic, "MIMIC-IV release folder (holding hosp/*.csv.gz)");
      auto* pg = app.add_option("--pg", options->pg, "PostgreSQL URI of a mimic-code database");
      mimic->excludes(pg);
      pg->excludes(mimic);
      app.add_option("--schema", options->schema, "schema of the hosp tables in PostgreSQL")->capture_default_str();
      app.add_option("--out", options->out, "output folder")->required();
      app.add_option("--config", options->config, "prep.toml overriding the documented defaults (docs/prep.md)");
      app.add_option("--link", options->link, "also write sample_id → subject_id, hadm_id to this TSV file");
      app.add_option("--tokenizer", options->tokenizer, "tokenizer for the length filter");
      app.add_option("--max-tokens", options->max_tokens, "drop samples longer than this many tokens");
      app.add_option("--folds", options->folds, "write k patient folds instead of train/validation/test");
      app.add_option("--seed", options->seed, "split seed (overrides the config)");
      app.add_option("--drug-maps", options->drug_maps, "drug-maps folder (default ../shared/data/drug-maps)");
      app.add_flag("--skip-malformed", options->skip_malformed, "skip and count malformed rows instead of failing");
      app.callback([options] {
        using namespace rxlm::clinical;
        if (options->mimic.empty() == options->pg.empty()) rxlm::fail("prep: give exactly one of --mimic DIR or --pg URI");
        PrepConfig config = options->config.empty() ? default_prep_config() : load_prep_config(options->config);
        if (!options->drug_maps.empty()) config.drug_maps = options->drug_maps;
        if (options->folds >= 0) config.folds = options->folds;
        if (config.folds == 1) rxlm::fail("prep: --folds must be 0 or at least 2");
        if (options->seed >= 0) config.seed = static_cast<std::uint64_t>(options->seed);
        config.skip_malformed = options->skip_malformed;
        config.tokenizer = options->tokenizer;
        config.max_tokens = options->max_tokens;
        if (config.tokenizer.empty() != (config.max_tokens == 0))
          rxlm::fail("prep: --tokenizer and --max-tokens go together");
        rxlm::keep_freed_memory();  // prep frees one big table and builds the next, then exits
        auto source = options->mimic.empty() ? open_postgres(options->pg, options->schema) : open_csv_folder(options->mimic);
        auto report = run_prep(*source, config, options->out, options->link);
        fmt::print("admissions in: {}; samples out: {}; dropped: {}\n", report["admissions_in"].dump(),
                   report["admissions_out"].dump(), report["dropped_total"].dump());
        for (const auto& [reason, count] : report["admissions_dropped"].items())
          fmt::print("  dropped ({}): {}\n", reason, count.dump());
        for (const auto& [name, split] : report["splits"].items())
          fmt::print("  {}: {} samples, {} patients\n", name, split["samples"].dump(), split["patients"].dump());
        fmt::print("ATC share of therapeutic prescription rows: {:.2f}%\n",
                   100 * report["prescriptions"]["atc_row_share"].get<double>());
        fmt::print("report: {}/prep_report.md\n", options->out);
      });
    });

}  // namespace
