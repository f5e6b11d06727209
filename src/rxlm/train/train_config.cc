// TrainConfig from TOML (toml++): every key checked for its section, type and range, errors at file:line.
#include "rxlm/train/train_config.h"

// Debian 12 ships toml++ 3.3 as <toml++/toml.h>; newer releases name it toml.hpp. Header-only either way.
#if __has_include(<toml++/toml.hpp>)
#include <toml++/toml.hpp>
#else
#include <toml++/toml.h>
#endif

#include <algorithm>
#include <fstream>
#include <iterator>

#include "rxlm/core/error.h"
#include "rxlm/lora/lora_config.h"

namespace rxlm {
namespace {

const char* type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date/time";
  }
}

// A --set assignment is one line of its own: its line number would only add noise.
bool has_lines(const std::string& source) { return source.rfind("--set ", 0) != 0; }

// One section being read: knows the file and section for error messages.
class Section {
 public:
  Section(const toml::table& table, std::string source, std::string name)
      : table_(table), source_(std::move(source)), name_(std::move(name)) {}

  std::string where(const toml::node& node, std::string_view key) const {
    const auto line = has_lines(source_) ? node.source().begin.line : 0;
    return line > 0 ? fmt::format("{}:{}: [{}] {}", source_, line, name_, key)
                    : fmt::format("{}: [{}] {}", source_, name_, key);
  }
  [[noreturn]] void wrong(const toml::node& node, std::string_view key, std::string_view expected) const {
    fail("{}: expected {}, got {}", where(node, key), expected, type_name(node.type()));
  }

  void check_keys(std::initializer_list<std::string_view> known) const {
    for (const auto& [key, node] : table_) {
      if (std::find(known.begin(), known.end(), key.str()) != known.end()) continue;
      std::string list;
      for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      fail("{}: unknown key (known in [{}]: {})", where(node, key.str()), name_, list);
    }
  }
  const toml::node* get(std::string_view key) const { return table_.get(key); }

  void take(std::string_view key, double& out, double min, bool min_exclusive, double max = 1e300) const {
    const toml::node* node = get(key);
    if (!node) return;
    const auto v = node->value<double>();  // integers are accepted for floats (lr = 1 is 1.0)
    if (!v || node->is_boolean()) wrong(*node, key, "a number");
    if (*v < min || (min_exclusive && *v == min) || *v > max)
      fail("{}: {} is out of range (must be {} {}{})", where(*node, key), *v, min_exclusive ? ">" : "≥", min,
           max < 1e300 ? fmt::format(" and ≤ {}", max) : "");
    out = *v;
  }
  template <class Int>
  void take_int(std::string_view key, Int& out, int64_t min) const {
    const toml::node* node = get(key);
    if (!node) return;
    const auto v = node->value_exact<int64_t>();
    if (!v) wrong(*node, key, "an integer");
    if (*v < min) fail("{}: {} is out of range (must be ≥ {})", where(*node, key), *v, min);
    out = static_cast<Int>(*v);
  }
  void take(std::string_view key, bool& out) const {
    const toml::node* node = get(key);
    if (!node) return;
    const auto v = node->value_exact<bool>();
    if (!v) wrong(*node, key, "true or false");
    out = *v;
  }
  void take_choice(std::string_view key, std::string& out, std::initializer_list<std::string_view> choices) const {
    const toml::node* node = get(key);
    if (!node) return;
    const auto v = node->value_exact<std::string>();
    if (!v) wrong(*node, key, "a string");
    if (std::find(choices.begin(), choices.end(), *v) == choices.end()) {
      std::string list;
      for (auto c : choices) list += (list.empty() ? "" : ", ") + std::string(c);
      fail("{}: '{}' is not one of {}", where(*node, key), *v, list);
    }
    out = *v;
  }
  void take_targets(std::string_view key, std::vector<std::string>& out) const {
    const toml::node* node = get(key);
    if (!node) return;
    std::vector<std::string> names;
    if (const auto s = node->value_exact<std::string>()) {
      try {
        names = parse_lora_targets(*s);
      } catch (const Error& e) {
        fail("{}: {}", where(*node, key), e.what());
      }
    } else if (const toml::array* a = node->as_array()) {
      for (const toml::node& item : *a) {
        const auto s = item.value_exact<std::string>();
        if (!s) wrong(item, key, "module names as strings");
        names.push_back(*s);
      }
    } else {
      wrong(*node, key, "an array of module names or a comma-separated string");
    }
    const auto& known = lora_module_names();
    for (const std::string& n : names)
      if (std::find(known.begin(), known.end(), n) == known.end())
        fail("{}: unknown module '{}' (choose from q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)",
             where(*node, key), n);
    if (names.empty()) fail("{}: no modules given", where(*node, key));
    out = names;
  }
  void take_betas(std::string_view key, double& beta1, double& beta2) const {
    const toml::node* node = get(key);
    if (!node) return;
    const toml::array* a = node->as_array();
    if (!a || a->size() != 2) wrong(*node, key, "an array of two numbers [beta1, beta2]");
    double b[2];
    for (size_t i = 0; i < 2; ++i) {
      const auto v = (*a)[i].value<double>();
      if (!v || (*a)[i].is_boolean()) wrong((*a)[i], key, "a number");
      if (!(*v >= 0 && *v < 1)) fail("{}: {} is out of range (each beta must be in [0, 1))", where(*node, key), *v);
      b[i] = *v;
    }
    beta1 = b[0], beta2 = b[1];
  }

 private:
  const toml::table& table_;
  std::string source_, name_;
};

void read_table(const toml::table& root, const std::string& source, TrainConfig& c) {
  for (const auto& [key, node] : root) {
    const std::string_view k = key.str();
    const bool known = k == "lora" || k == "optim" || k == "data" || k == "run";
    const auto line = has_lines(source) ? node.source().begin.line : 0;
    const std::string at = line > 0 ? fmt::format("{}:{}", source, line) : source;
    if (!known)
      fail("{}: unknown {} '{}' (sections: [lora], [optim], [data], [run]; see docs/training.md)", at,
           node.is_table() ? "section" : "key", k);
    if (!node.is_table()) fail("{}: '{}' must be a section ([{}]), not a single value", at, k, k);
  }
  if (const toml::table* t = root["lora"].as_table()) {
    const Section s(*t, source, "lora");
    s.check_keys({"rank", "alpha", "targets", "freeze_a", "rslora"});
    s.take_int("rank", c.rank, 1);
    s.take("alpha", c.alpha, 0, true);
    s.take_targets("targets", c.targets);
    s.take("freeze_a", c.freeze_a);
    s.take("rslora", c.rslora);
  }
  if (const toml::table* t = root["optim"].as_table()) {
    const Section s(*t, source, "optim");
    s.check_keys({"name", "lr", "weight_decay", "betas", "eps", "accumulation", "schedule", "warmup", "max_grad_norm"});
    s.take_choice("name", c.optimizer, {"sgd", "adamw"});
    s.take("lr", c.lr, 0, true);
    s.take("weight_decay", c.weight_decay, 0, false);
    s.take_betas("betas", c.beta1, c.beta2);
    s.take("eps", c.eps, 0, true);
    s.take_int("accumulation", c.accumulation, 1);
    s.take_choice("schedule", c.schedule, {"constant", "constant_with_warmup", "linear", "cosine"});
    s.take_int("warmup", c.warmup_steps, 0);
    s.take("max_grad_norm", c.max_grad_norm, 0, false);
  }
  if (const toml::table* t = root["data"].as_table()) {
    const Section s(*t, source, "data");
    s.check_keys({"batch_size", "max_length"});
    s.take_int("batch_size", c.batch_size, 1);
    s.take_int("max_length", c.max_length, 2);
  }
  if (const toml::table* t = root["run"].as_table()) {
    const Section s(*t, source, "run");
    s.check_keys({"epochs", "seed", "save_steps", "max_steps", "checkpoint_activations"});
    s.take_int("epochs", c.epochs, 1);
    s.take_int("seed", c.seed, 0);
    s.take_int("save_steps", c.save_steps, 0);
    s.take_int("max_steps", c.max_steps, 0);
    s.take("checkpoint_activations", c.checkpoint_activations);
  }
}

}  // namespace

void read_train_config_text(std::string_view toml_text, const std::string& source, TrainConfig& config) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    if (!has_lines(source)) fail("{}: {}", source, e.description());
    fail("{}:{}: {}", source, e.source().begin.line, e.description());
  }
  read_table(root, source, config);
}

void read_train_config(const std::filesystem::path& path, TrainConfig& config) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open the training config (a TOML file; see docs/training.md)", path.string());
  const std::string text(std::istreambuf_iterator<char>(in), {});
  read_train_config_text(text, path.string(), config);
}

void apply_train_setting(std::string_view assignment, TrainConfig& config) {
  const size_t eq = assignment.find('=');
  const size_t dot = assignment.find('.');
  if (eq == std::string_view::npos || dot == std::string_view::npos || dot > eq)
    fail("--set '{}': expected section.key=value, e.g. lora.freeze_a=false", assignment);
  const std::string key(assignment.substr(0, eq));
  std::string value(assignment.substr(eq + 1));
  const std::string source = fmt::format("--set {}", assignment);
  // A bare word (optim.name=adamw) is taken as a string; anything TOML can parse keeps its TOML type.
  const bool bare_word = !value.empty() && std::all_of(value.begin(), value.end(), [](char ch) {
    return std::isalpha(static_cast<unsigned char>(ch)) || ch == '_';
  }) && value != "true" && value != "false" && value != "inf" && value != "nan";
  if (bare_word || (value.find(',') != std::string::npos && value.front() != '[')) value = "\"" + value + "\"";
  read_train_config_text(key + " = " + value + "\n", source, config);
}

}  // namespace rxlm
