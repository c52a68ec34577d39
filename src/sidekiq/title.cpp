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

std::optional<TitleReading> parse_sidekiq_title(std::string_view cmdline) {
  std::vector<std::string_view> words = split_words(cmdline);
  TitleReading reading;
  if (!words.empty() && words.back() == "stopping") {
    reading.stopping = true;
    words.pop_back();
  }
  // "sidekiq" version "[N" "of" "M" "busy]"; the tag between is free text
  // (empty, several words, even brackets), so the counts are read from the
  // right.
  const std::size_t n = words.size();
  if (n < 6 || words[0] != "sidekiq" || !looks_like_version(words[1])) return std::nullopt;
  std::string_view open = words[n - 4];
  if (open.size() < 2 || open.front() != '[' || words[n - 3] != "of" || words[n - 1] != "busy]") {
    return std::nullopt;
  }
  auto busy = count(open.substr(1));
  auto concurrency = count(words[n - 2]);
  if (!busy || !concurrency) return std::nullopt;
  reading.version = std::string(words[1]);
  reading.busy = *busy;
  reading.concurrency = *concurrency;
  return reading;
}

}  // namespace quiesce
