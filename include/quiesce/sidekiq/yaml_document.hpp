#pragma once
// A YAML document as Ruby's Psych loads it (Psych is built on libyaml, and
// so is this): the first document of a text, its anchors and aliases shared
// rather than copied, its merge keys (`<<: *default`) applied in Psych's
// order when a key is looked up. Only what Sidekiq's config file needs is
// kept: mappings, sequences, and scalars with their style.
//
// Made for hostile input: the text is parsed by libyaml in one pass, nodes
// are kept in one flat vector (an alias is an index, so a billion-laughs
// document costs its own size, never its expansion), nesting and node count
// are capped, and every lookup through merge keys has a step budget.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace quiesce {

// What Psych makes of a scalar, as far as Sidekiq's config file cares.
enum class RubyKind { Nil, Boolean, Integer, Float, String, Symbol, Other };

struct RubyScalar {
  RubyKind kind = RubyKind::Nil;
  double number = 0;  // Integer and Float, capped in magnitude by the caller
  std::string text;   // String and Symbol: the name (":timeout" gives "timeout")
};

// Psych's reading of a plain (unquoted, untagged) scalar: ScalarScanner's
// integers (1_000, 0x1e, 017, 0b11, 1:30), floats (2.5, .inf), nil (~,
// null, empty), booleans (yes, on, true ...), symbols (:timeout), else a
// string.
RubyScalar ruby_plain_scalar(std::string_view text);

class YamlDocument {
 public:
  enum class Kind { Scalar, Mapping, Sequence };
  using NodeId = std::size_t;

  struct Node {
    Kind kind = Kind::Scalar;
    std::string text;              // scalars
    bool plain = true;             // an unquoted scalar (Psych tokenizes only these)
    std::string tag;               // "" when none: "tag:yaml.org,2002:str", ...
    std::vector<NodeId> children;  // mappings: key, value, key, value ...
  };

  // The first document of text; the problem (libyaml's, or a cap's) when it
  // cannot be read. An empty text is a document whose root is a nil scalar.
  static std::variant<YamlDocument, std::string> parse(std::string_view text);

  NodeId root() const { return 0; }
  const Node& node(NodeId id) const { return nodes_[id]; }

  // Psych's Ruby value of a scalar node: tags !!str, !!int, !!float, !!null
  // and !!bool honoured, any other tag an Other.
  RubyScalar scalar(NodeId id) const;

  // The value `name` has in a mapping once Psych has built its Hash (merge
  // keys applied where they stand, later keys winning) and Sidekiq has
  // symbolized its keys: `name:` and `:name:` are one key, and where both
  // are present the string one wins (it is symbolized last). nullopt when the
  // mapping has no such key, or when id is not a mapping. Throws
  // TooComplex when the merge keys would take too much work to follow.
  std::optional<NodeId> value_of(NodeId mapping, std::string_view name) const;

  struct TooComplex {};

 private:
  enum class KeyForm { String, Symbol };
  std::optional<NodeId> lookup(NodeId mapping, std::string_view name, KeyForm form,
                               std::size_t& budget, std::vector<NodeId>& path) const;
  bool key_is(NodeId key, std::string_view name, KeyForm form) const;
  bool is_merge_key(NodeId key) const;

  std::vector<Node> nodes_;
};

}  // namespace quiesce
