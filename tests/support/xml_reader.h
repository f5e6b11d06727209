// Test helper: a strict reader for the XML subset SVG writers use (declaration, elements, double-quoted
// attributes, text with the five predefined entities), to check that generated SVG is well-formed and to
// look at its elements. Independent of any writer in rxlm. Throws std::runtime_error when malformed.
#pragma once
#include <cctype>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace rxlm::test {

struct Element {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::vector<std::unique_ptr<Element>> children;
  std::string text;
};

class XmlReader {
 public:
  explicit XmlReader(std::string s) : s_(std::move(s)) {}
  std::unique_ptr<Element> document() {
    if (s_.compare(0, 5, "<?xml") == 0) {
      const size_t end = s_.find("?>");
      if (end == std::string::npos) error("unterminated XML declaration");
      i_ = end + 2;
    }
    space();
    auto root = element();
    space();
    if (i_ != s_.size()) error("content after the root element");
    return root;
  }

 private:
  [[noreturn]] void error(const std::string& what) { throw std::runtime_error(what + " at byte " + std::to_string(i_)); }
  void space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  std::string name() {
    const size_t start = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-' || s_[i_] == ':' ||
                              s_[i_] == '_'))
      ++i_;
    if (i_ == start) error("expected a name");
    return s_.substr(start, i_ - start);
  }
  std::string characters(char stop) {  // text up to `stop`, entities decoded
    std::string out;
    while (i_ < s_.size() && s_[i_] != stop) {
      if (s_[i_] == '<' && stop == '"') error("'<' inside an attribute value");
      if (s_[i_] == '&') {
        const size_t end = s_.find(';', i_);
        if (end == std::string::npos) error("unterminated entity");
        const std::string entity = s_.substr(i_, end - i_ + 1);
        static const std::map<std::string, char> known = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        const auto it = known.find(entity);
        if (it == known.end()) error("unknown entity " + entity);
        out += it->second;
        i_ = end + 1;
      } else {
        out += s_[i_++];
      }
    }
    if (i_ == s_.size()) error("unexpected end of document");
    return out;
  }
  std::unique_ptr<Element> element() {
    if (i_ >= s_.size() || s_[i_] != '<') error("expected '<'");
    ++i_;
    auto e = std::make_unique<Element>();
    e->name = name();
    for (;;) {
      space();
      if (s_.compare(i_, 2, "/>") == 0) {
        i_ += 2;
        return e;
      }
      if (i_ >= s_.size()) error("unexpected end of document");
      if (s_[i_] == '>') break;
      const std::string key = name();
      if (i_ + 1 >= s_.size() || s_[i_] != '=' || s_[i_ + 1] != '"') error("attribute " + key + " without =\"value\"");
      i_ += 2;
      if (e->attributes.count(key)) error("duplicate attribute " + key);
      e->attributes[key] = characters('"');
      ++i_;
    }
    ++i_;
    for (;;) {
      e->text += characters('<');
      if (s_.compare(i_, 2, "</") == 0) {
        i_ += 2;
        if (name() != e->name) error("closing tag does not match <" + e->name + ">");
        space();
        if (s_[i_] != '>') error("expected '>'");
        ++i_;
        return e;
      }
      e->children.push_back(element());
    }
  }
  std::string s_;
  size_t i_ = 0;
};

inline void collect(const Element& e, const std::string& name, std::vector<const Element*>& out) {
  if (e.name == name) out.push_back(&e);
  for (const auto& c : e.children) collect(*c, name, out);
}

inline std::vector<const Element*> all(const Element& root, const std::string& name) {
  std::vector<const Element*> out;
  collect(root, name, out);
  return out;
}

}  // namespace rxlm::test
