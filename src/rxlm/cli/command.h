// Subcommand registry: each src/rxlm/cli/<name>.cc registers itself, so adding a command touches no
// other file. A setup function adds options and a callback to its CLI::App.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace rxlm::cli {

struct Command {
  std::string name;
  std::string description;
  std::function<void(CLI::App&)> setup;
};

std::vector<Command>& commands();

inline bool register_command(std::string name, std::string description, std::function<void(CLI::App&)> setup) {
  commands().push_back({std::move(name), std::move(description), std::move(setup)});
  return true;
}

}  // namespace rxlm::cli
