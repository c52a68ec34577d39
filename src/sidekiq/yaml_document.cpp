#include "quiesce/sidekiq/yaml_document.hpp"

#include <yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>

namespace quiesce {
namespace {

// A real sidekiq.yml has a few dozen nodes; these only stop a hostile one.
constexpr std::size_t kMaxNodes = 100'000;
constexpr std::size_t kMaxDepth = 64;
// Steps through merge keys for one lookup: a billion-laughs chain of merges
// (each level merging the one below nine times) would take 9^9 without it.
constexpr std::size_t kLookupBudget = 100'000;

constexpr std::string_view kTagStr = "tag:yaml.org,2002:str";
constexpr std::string_view kTagInt = "tag:yaml.org,2002:int";
constexpr std::string_view kTagFloat = "tag:yaml.org,2002:float";
constexpr std::string_view kTagNull = "tag:yaml.org,2002:null";
constexpr std::string_view kTagBool = "tag:yaml.org,2002:bool";

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  }
  return true;
}

// The characters of ScalarScanner's "this is a string" pattern.
bool is_wordish(char c) {
  auto u = static_cast<unsigned char>(c);
  return std::isalpha(u) || std::isspace(u) || c == '_' ||
         (c != 0 && std::strchr("!@#$%^&*(){}<>|/\\~;=", c) != nullptr);
}

// ^[-+]?(0|[1-9]([0-9]|,[0-9]|_[0-9])*)$, 0b[01_,]+, 0[0-7_,]+, 0x[0-9a-f_,]+
std::optional<double> psych_integer(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || !is_digit(s[0])) return std::nullopt;
  int base = 10;
  std::string_view digits = s;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'x')) {
    base = s[1] == 'b' ? 2 : 16;
    digits = s.substr(2);
  } else if (s.size() > 1 && s[0] == '0') {
    base = 8;
    digits = s.substr(1);
  } else if (s != "0") {
    // Decimal: a separator only between digits.
    for (std::size_t i = 1; i < s.size(); ++i) {
      if (s[i] == ',' || s[i] == '_') {
        if (i + 1 >= s.size() || !is_digit(s[i + 1])) return std::nullopt;
      } else if (!is_digit(s[i])) {
        return std::nullopt;
      }
    }
  }
  double value = 0;
  bool any = false;
  for (char c : digits) {
    if (c == '_' || c == ',') continue;
    int d = is_digit(c) ? c - '0'
            : std::isxdigit(static_cast<unsigned char>(c))
                ? std::tolower(static_cast<unsigned char>(c)) - 'a' + 10
                : 99;
    if (d >= base) return std::nullopt;
    value = value * base + d;
    any = true;
  }
  if (!any) return std::nullopt;  // "0x_": Integer() raises, Psych keeps... a string
  return negative ? -value : value;
}

// ^[-+]?([0-9][0-9_,]*)?\.[0-9]*([eE][-+][0-9]+)?$, but not "." alone.
std::optional<double> psych_float(std::string_view s) {
  std::string clean;
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) clean += s[i++];
  bool integer_digits = false;
  if (i < s.size() && is_digit(s[i])) {
    integer_digits = true;
    while (i < s.size() && (is_digit(s[i]) || s[i] == '_' || s[i] == ',')) {
      if (is_digit(s[i])) clean += s[i];
      ++i;
    }
  }
  if (i >= s.size() || s[i] != '.') return std::nullopt;
  ++i;
  bool fraction_digits = false;
  std::string fraction;
  while (i < s.size() && is_digit(s[i])) {
    fraction += s[i++];
    fraction_digits = true;
  }
  if (!integer_digits && !fraction_digits) return std::nullopt;
  clean += integer_digits ? "" : "0";
  clean += '.';
  clean.append(fraction_digits ? fraction : std::string("0"));
  if (i < s.size()) {
    if (s[i] != 'e' && s[i] != 'E') return std::nullopt;
    if (i + 2 >= s.size() || (s[i + 1] != '-' && s[i + 1] != '+')) return std::nullopt;
    std::size_t exp_start = i + 2;
    for (std::size_t k = exp_start; k < s.size(); ++k) {
      if (!is_digit(s[k])) return std::nullopt;
    }
    if (exp_start >= s.size()) return std::nullopt;
    clean += 'e';
    clean.append(s.substr(i + 1));
  }
  return std::strtod(clean.c_str(), nullptr);
}

// ^[-+]?[0-9][0-9_]*(:[0-5]?[0-9]){1,2}$, added up as Psych does (its
// powers of 60 count from hours even with two parts: 1:30 is 5400).
std::optional<double> psych_sexagesimal(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == ':') {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  if (parts.size() < 2 || parts.size() > 3) return std::nullopt;
  std::string_view first = parts[0];
  bool negative = false;
  if (!first.empty() && (first[0] == '-' || first[0] == '+')) {
    negative = first[0] == '-';
    first.remove_prefix(1);
  }
  if (first.empty() || !is_digit(first[0])) return std::nullopt;
  double head = 0;
  for (char c : first) {
    if (c == '_') continue;
    if (!is_digit(c)) return std::nullopt;
    head = head * 10 + (c - '0');
  }
  double total = (negative ? -head : head) * 3600;
  for (std::size_t e = 1; e < parts.size(); ++e) {
    auto p = parts[e];
    if (p.empty() || p.size() > 2 || !is_digit(p.back())) return std::nullopt;
    if (p.size() == 2 && (p[0] < '0' || p[0] > '5')) return std::nullopt;
    double v = 0;
    for (char c : p) v = v * 10 + (c - '0');
    total += v * (e == 1 ? 60 : 1);
  }
  return total;
}

}  // namespace

RubyScalar ruby_plain_scalar(std::string_view s) {
  RubyScalar r;
  if (s.empty()) return r;  // nil
  bool stringy = s.find('\n') != std::string_view::npos || is_wordish(s[0]) ||
                 (s.size() > 1 && !is_digit(s[0]) && s[0] != '.' && s[0] != ':' && s[0] != '-' &&
                  is_wordish(s[1]));
  if (stringy) {
    r.kind = RubyKind::String;
    r.text = std::string(s);
    if (s.size() > 5) return r;
    if (s == "~" || equals_ignoring_case(s, "null")) {
      r.kind = RubyKind::Nil;
      r.text.clear();
    } else if (equals_ignoring_case(s, "yes") || equals_ignoring_case(s, "true") ||
               equals_ignoring_case(s, "on") || equals_ignoring_case(s, "no") ||
               equals_ignoring_case(s, "false") || equals_ignoring_case(s, "off")) {
      r.kind = RubyKind::Boolean;
    }
    return r;
  }
  // Dates and times (2024-01-31): Psych makes Date and Time objects.
  if (s.size() >= 8 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) &&
      s[4] == '-') {
    r.kind = RubyKind::Other;
    return r;
  }
  if (equals_ignoring_case(s, ".inf") || equals_ignoring_case(s, "+.inf")) {
    r.kind = RubyKind::Float;
    r.number = std::numeric_limits<double>::infinity();
    return r;
  }
  if (equals_ignoring_case(s, "-.inf")) {
    r.kind = RubyKind::Float;
    r.number = -std::numeric_limits<double>::infinity();
    return r;
  }
  if (equals_ignoring_case(s, ".nan")) {
    r.kind = RubyKind::Other;  // NaN: no deadline Sidekiq could keep
    return r;
  }
  if (s.size() >= 2 && s[0] == ':') {
    r.kind = RubyKind::Symbol;
    std::string_view name = s.substr(1);
    if (name.size() >= 2 && (name[0] == '"' || name[0] == '\'') && name.back() == name[0]) {
      name = name.substr(1, name.size() - 2);
    }
    if (!name.empty() && name[0] == ':') name.remove_prefix(1);
    r.text = std::string(name);
    return r;
  }
  if (auto v = psych_sexagesimal(s)) {
    r.kind = RubyKind::Integer;
    r.number = *v;
    return r;
  }
  if (auto v = psych_float(s)) {
    r.kind = RubyKind::Float;
    r.number = *v;
    return r;
  }
  if (auto v = psych_integer(s)) {
    r.kind = RubyKind::Integer;
    r.number = *v;
    return r;
  }
  r.kind = RubyKind::String;
  r.text = std::string(s);
  return r;
}

namespace {

struct Parser {
  yaml_parser_t parser{};
  yaml_event_t event{};
  bool has_event = false;
  Parser() { yaml_parser_initialize(&parser); }
  ~Parser() {
    if (has_event) yaml_event_delete(&event);
    yaml_parser_delete(&parser);
  }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;
  bool next() {
    if (has_event) yaml_event_delete(&event);
    has_event = yaml_parser_parse(&parser, &event) != 0;
    return has_event;
  }
  std::string problem() const {
    std::string text = parser.problem ? parser.problem : "not YAML";
    return text + " at line " + std::to_string(parser.problem_mark.line + 1);
  }
};

std::string text_of(const yaml_char_t* s) {
  return s ? std::string(reinterpret_cast<const char*>(s)) : std::string();
}

}  // namespace

std::variant<YamlDocument, std::string> YamlDocument::parse(std::string_view text) {
  YamlDocument doc;
  Parser p;
  yaml_parser_set_input_string(&p.parser, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());
  std::map<std::string, NodeId> anchors;
  std::vector<NodeId> open;  // the collections being filled, innermost last
  bool in_document = false;
  // Adds a node (or, for an alias, an existing one) where it belongs.
  auto place = [&](NodeId id) {
    if (!open.empty()) doc.nodes_[open.back()].children.push_back(id);
  };
  auto add = [&](Node node, const yaml_char_t* anchor) -> std::optional<std::string> {
    if (doc.nodes_.size() >= kMaxNodes) return "more than 100000 nodes";
    NodeId id = doc.nodes_.size();
    doc.nodes_.push_back(std::move(node));
    if (anchor) anchors[text_of(anchor)] = id;
    place(id);
    return std::nullopt;
  };
  for (;;) {
    if (!p.next()) return p.problem();
    const yaml_event_t& e = p.event;
    switch (e.type) {
      case YAML_STREAM_START_EVENT:
      case YAML_NO_EVENT:
        break;
      case YAML_DOCUMENT_START_EVENT:
        in_document = true;
        break;
      case YAML_STREAM_END_EVENT:
      case YAML_DOCUMENT_END_EVENT:
        // Psych's safe_load reads the first document only.
        if (doc.nodes_.empty()) doc.nodes_.push_back(Node{});  // nil
        return doc;
      case YAML_SCALAR_EVENT: {
        Node n;
        n.text.assign(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
        n.plain = e.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        n.tag = text_of(e.data.scalar.tag);
        if (auto problem = add(std::move(n), e.data.scalar.anchor)) return *problem;
        break;
      }
      case YAML_ALIAS_EVENT: {
        auto it = anchors.find(text_of(e.data.alias.anchor));
        if (it == anchors.end())
          return "an alias to an unknown anchor: " + text_of(e.data.alias.anchor);
        place(it->second);
        break;
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        if (open.size() >= kMaxDepth) return "nested deeper than 64";
        Node n;
        bool mapping = e.type == YAML_MAPPING_START_EVENT;
        n.kind = mapping ? Kind::Mapping : Kind::Sequence;
        n.tag = text_of(mapping ? e.data.mapping_start.tag : e.data.sequence_start.tag);
        auto anchor = mapping ? e.data.mapping_start.anchor : e.data.sequence_start.anchor;
        if (auto problem = add(std::move(n), anchor)) return *problem;
        open.push_back(doc.nodes_.size() - 1);
        break;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        if (!open.empty()) open.pop_back();
        break;
    }
    (void)in_document;
  }
}

RubyScalar YamlDocument::scalar(NodeId id) const {
  const Node& n = nodes_[id];
  RubyScalar r;
  if (n.kind != Kind::Scalar) {
    r.kind = RubyKind::Other;
    return r;
  }
  if (n.tag.empty() || n.tag == "!") {
    if (n.plain && n.tag.empty()) return ruby_plain_scalar(n.text);
    r.kind = RubyKind::String;
    r.text = n.text;
    return r;
  }
  if (n.tag == kTagStr) {
    r.kind = RubyKind::String;
    r.text = n.text;
    return r;
  }
  RubyScalar read = ruby_plain_scalar(n.text);
  if ((n.tag == kTagInt && read.kind == RubyKind::Integer) ||
      (n.tag == kTagFloat && (read.kind == RubyKind::Float || read.kind == RubyKind::Integer)) ||
      (n.tag == kTagNull && read.kind == RubyKind::Nil) ||
      (n.tag == kTagBool && read.kind == RubyKind::Boolean)) {
    if (n.tag == kTagFloat) read.kind = RubyKind::Float;
    return read;
  }
  r.kind = RubyKind::Other;
  return r;
}

bool YamlDocument::key_is(NodeId key, std::string_view name, KeyForm form) const {
  if (nodes_[key].kind != Kind::Scalar) return false;
  RubyScalar k = scalar(key);
  if (form == KeyForm::String) return k.kind == RubyKind::String && k.text == name;
  return k.kind == RubyKind::Symbol && k.text == name;
}

// Psych merges on a key that reads "<<" unless it is tagged !!str.
bool YamlDocument::is_merge_key(NodeId key) const {
  const Node& n = nodes_[key];
  return n.kind == Kind::Scalar && n.text == "<<" && n.tag != kTagStr;
}

std::optional<YamlDocument::NodeId> YamlDocument::lookup(NodeId mapping, std::string_view name,
                                                         KeyForm form, std::size_t& budget,
                                                         std::vector<NodeId>& path) const {
  const Node& m = nodes_[mapping];
  if (m.kind != Kind::Mapping) return std::nullopt;
  // A mapping that merges itself (or one it is inside) merges the part
  // Psych has built so far: nothing this lookup has not seen already.
  if (std::find(path.begin(), path.end(), mapping) != path.end()) return std::nullopt;
  if (path.size() > kMaxDepth) throw TooComplex{};
  path.push_back(mapping);
  struct Pop {
    std::vector<NodeId>& path;
    ~Pop() { path.pop_back(); }
  } pop{path};
  std::optional<NodeId> found;
  for (std::size_t i = 0; i + 1 < m.children.size(); i += 2) {
    if (budget == 0) throw TooComplex{};
    --budget;
    NodeId key = m.children[i];
    NodeId value = m.children[i + 1];
    if (is_merge_key(key)) {
      const Node& v = nodes_[value];
      if (v.kind == Kind::Mapping) {
        // Hash#merge!: the merged keys replace those written before the <<.
        if (auto inner = lookup(value, name, form, budget, path)) found = inner;
      } else if (v.kind == Kind::Sequence) {
        // Merged in reverse, so the first mapping of the list wins; a list
        // holding anything but mappings raises, and is kept as a "<<" key.
        bool all_mappings = true;
        for (NodeId item : v.children)
          all_mappings = all_mappings && nodes_[item].kind == Kind::Mapping;
        if (!all_mappings) continue;
        for (NodeId item : v.children) {
          if (auto inner = lookup(item, name, form, budget, path)) {
            found = inner;
            break;
          }
        }
      }
      continue;
    }
    if (key_is(key, name, form)) found = value;
  }
  return found;
}

std::optional<YamlDocument::NodeId> YamlDocument::value_of(NodeId mapping,
                                                           std::string_view name) const {
  std::size_t budget = kLookupBudget;
  std::vector<NodeId> path;
  // deep_symbolize_keys! walks the keys in order, and "timeout" is
  // symbolized onto :timeout whether it comes before or after it.
  if (auto as_string = lookup(mapping, name, KeyForm::String, budget, path)) return as_string;
  return lookup(mapping, name, KeyForm::Symbol, budget, path);
}

}  // namespace quiesce
