// `rxlm synth`: MIMIC-IV-shaped synthetic hosp tables for scale tests of `rxlm prep`.
#include <fmt/format.h>

#include "rxlm/clinical/synth.h"
#include "rxlm/cli/command.h"
#include "rxlm/core/paths.h"

namespace {

const bool registered = rxlm::cli::register_command(
    "synth", "Write synthetic MIMIC-IV-shaped hosp tables (resampled demo admissions) for scale tests",
    [](CLI::App& app) {
      auto options = std::make_shared<rxlm::clinical::SynthOptions>();
      auto out = std::make_shared<std::string>();
      auto demo = std::make_shared<std::string>((rxlm::shared_dir() / "data" / "mimic-iv-demo").string());
      app.add_option("--admissions", options->admissions, "number of admissions")->required();
      app.add_option("--out", *out, "output folder (gets hosp/*.csv.gz)")->required();
      app.add_option("--demo", *demo, "template release folder")->capture_default_str();
      app.add_option("--seed", options->seed, "random seed")->capture_default_str();
      app.add_option("--gzip-level", options->gzip_level, "gzip level of the files (PhysioNet's are 6)")
          ->check(CLI::Range(1, 9))
          ->capture_default_str();
      app.callback([options, out, demo] {
        auto counts = rxlm::clinical::synthesize_hosp(*demo, *out, *options);
        fmt::print("patients {}, admissions {}, diagnoses_icd {}, prescriptions {}, omr {} → {}/hosp\n",
                   counts.patients, counts.admissions, counts.diagnoses, counts.prescriptions, counts.omr, *out);
      });
    });

}  // namespace
