#include "rxlm/clinical/sample_file.h"

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "rxlm/clinical/prompt.h"
#include "rxlm/core/error.h"

namespace rxlm::clinical {

std::vector<ClinicalSample> read_samples(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open (expected JSONL chat samples as `rxlm prep` writes them)", path.string());
  std::vector<ClinicalSample> samples;
  std::set<std::string> ids;
  std::string text;
  for (int64_t number = 1; std::getline(in, text); ++number) {
    if (text.empty()) continue;
    ClinicalSample s;
    s.line = number;
    try {
      const nlohmann::json j = nlohmann::json::parse(text);
      const auto& messages = j.at("messages");
      if (!messages.is_array() || messages.size() != 3)
        fail("expected 3 messages (system, user, assistant), found {}", messages.is_array() ? messages.size() : 0);
      const char* roles[] = {"system", "user", "assistant"};
      for (int i = 0; i < 3; ++i)
        if (messages[i].at("role").get<std::string>() != roles[i])
          fail("message {} has role \"{}\", expected \"{}\"", i + 1, messages[i].at("role").get<std::string>(), roles[i]);
      s.system = messages[0].at("content").get<std::string>();
      s.user = messages[1].at("content").get<std::string>();
      s.answer = messages[2].at("content").get<std::string>();
      if (auto meta = j.find("meta"); meta != j.end() && meta->is_object()) {
        if (auto id = meta->find("sample_id"); id != meta->end()) s.sample_id = id->get<std::string>();
        if (auto atc = meta->find("atc"); atc != meta->end())
          for (const auto& code : *atc) s.atc.push_back(code.is_string() ? code.get<std::string>() : "");
      }
    } catch (const nlohmann::json::exception& e) {
      fail("{}:{}: not a chat sample ({}); expected {{\"messages\":[system,user,assistant],\"meta\":{{...}}}} as `rxlm "
           "prep` writes",
           path.string(), number, e.what());
    } catch (const Error& e) {
      fail("{}:{}: {}", path.string(), number, e.what());
    }
    ParsedAnswer parsed = parse_answer(s.answer);
    if (!parsed.ok) fail("{}:{}: the recorded answer is not in the answer format: {}", path.string(), number, parsed.error);
    s.drugs = std::move(parsed.drugs);
    if (!s.atc.empty() && s.atc.size() != s.drugs.size())
      fail("{}:{}: meta.atc has {} codes for {} drugs; they must be aligned", path.string(), number, s.atc.size(),
           s.drugs.size());
    if (!s.sample_id.empty() && !ids.insert(s.sample_id).second)
      fail("{}:{}: sample_id \"{}\" appears twice", path.string(), number, s.sample_id);
    samples.push_back(std::move(s));
  }
  return samples;
}

}  // namespace rxlm::clinical
