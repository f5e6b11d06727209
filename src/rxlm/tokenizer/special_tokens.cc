// Special-token matching: a first-byte bucket scan, longest token first at each position.
#include "rxlm/tokenizer/special_tokens.h"

#include <algorithm>

#include "rxlm/tokenizer/utf8.h"

namespace rxlm {

void SpecialTokenMatcher::add(std::string text, int32_t id, bool always, bool lstrip, bool rstrip) {
  if (text.empty()) return;  // an empty token would match everywhere
  auto& bucket = by_first_byte_[static_cast<unsigned char>(text[0])];
  tokens_.push_back({std::move(text), id, always, lstrip, rstrip});
  bucket.push_back(static_cast<uint32_t>(tokens_.size() - 1));
  std::stable_sort(bucket.begin(), bucket.end(),
                   [&](uint32_t a, uint32_t b) { return tokens_[a].text.size() > tokens_[b].text.size(); });
}

void SpecialTokenMatcher::split(std::string_view text, bool parse_special, std::vector<TextSegment>& out) const {
  size_t plain_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const Entry* match = nullptr;
    for (uint32_t index : by_first_byte_[static_cast<unsigned char>(text[pos])]) {
      const Entry& entry = tokens_[index];
      if (!entry.always && !parse_special) continue;
      if (text.compare(pos, entry.text.size(), entry.text) == 0) {
        match = &entry;
        break;
      }
    }
    if (!match) {
      ++pos;
      continue;
    }
    size_t start = pos;
    size_t end = pos + match->text.size();
    if (match->lstrip)
      while (start > plain_start)
        if (size_t n = trailing_space(text.substr(plain_start, start - plain_start), SpaceSet::Unicode)) start -= n;
        else break;
    if (match->rstrip)
      while (size_t n = leading_space(text.substr(end), SpaceSet::Unicode)) end += n;
    if (start > plain_start) out.push_back({text.substr(plain_start, start - plain_start), -1});
    out.push_back({text.substr(start, end - start), match->id});
    pos = end;
    plain_start = pos;
  }
  if (plain_start < text.size()) out.push_back({text.substr(plain_start), -1});
}

}  // namespace rxlm
