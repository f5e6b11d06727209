// rxlm command-line entry point: dispatches to the registered subcommands; the only place that exits.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "rxlm/cli/command.h"
#include "rxlm/core/error.h"

namespace rxlm::cli {
std::vector<Command>& commands() {
  static std::vector<Command> registry;
  return registry;
}
}  // namespace rxlm::cli

int main(int argc, char** argv) {
  CLI::App app{"rxlm: drug recommendation with fine-tuned Llama models (decision support; a clinician reviews every suggestion)"};
  app.require_subcommand(1);
  auto& registry = rxlm::cli::commands();
  std::sort(registry.begin(), registry.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (auto& command : registry) command.setup(*app.add_subcommand(command.name, command.description));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const rxlm::Error& e) {
    std::fflush(stdout);
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
