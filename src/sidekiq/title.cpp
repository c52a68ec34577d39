#include "quiesce/sidekiq/title.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>
#include <vector>

namespace quiesce {
namespace {

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  auto is_space = [](char c) { return c == '\0' || std::isspace(static_cast<unsigned char>(c)); };
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    std::size_t start = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

// Sidekiq::VERSION: "6.4.1", "7.0.0.beta1", "8.0.0.rc1".
bool looks_like_version(std::string_view word) {
  if (word.empty() || !std::isdigit(static_cast<unsigned char>(word.front()))) return false;
  return std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
  });
}

std::optional<int> count(std::string_view digits) {
  int value = 0;
  if (digits.empty() || digits.size() > 9 || !std::isdigit(static_cast<unsigned char>(digits[0]))) {
    return std::nullopt;
  }
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

}  // namespace

// "sidekiq" version tag... "[N" "of" "M" "busy]" ["stopping"] extra...: the
// tag is free text (empty, several words, even brackets) and Sidekiq's
// PROCTITLES lets an app append words after the brackets, so the counts are
// the rightmost "[N of M busy]" and "stopping" is the word right after it.
std::optional<TitleReading> parse_sidekiq_title(std::string_view cmdline) {
  std::vector<std::string_view> words = split_words(cmdline);
  if (words.size() < 6 || words[0] != "sidekiq" || !looks_like_version(words[1])) {
    return std::nullopt;
  }
  for (std::size_t k = words.size() - 1; k >= 5; --k) {
    std::string_view open = words[k - 3];
    if (words[k] != "busy]" || words[k - 2] != "of" || open.size() < 2 || open.front() != '[') {
      continue;
    }
    auto busy = count(open.substr(1));
    auto concurrency = count(words[k - 1]);
    if (!busy || !concurrency) continue;
    TitleReading reading;
    reading.version = std::string(words[1]);
    for (std::size_t w = 2; w + 3 < k; ++w) {
      if (!reading.tag.empty()) reading.tag += ' ';
      reading.tag += words[w];
    }
    reading.busy = *busy;
    reading.concurrency = *concurrency;
    reading.stopping = k + 1 < words.size() && words[k + 1] == "stopping";
    return reading;
  }
  return std::nullopt;
}

}  // namespace quiesce
