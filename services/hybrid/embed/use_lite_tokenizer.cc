#include "services/hybrid/embed/use_lite_tokenizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/text/absl_view.h"
#include "common/text/utf8.h"
#include "nlohmann/json.hpp"

namespace engram::hybrid {
namespace {

constexpr char32_t kSeparator = 0x2581;     // ▁
constexpr char32_t kReplacement = 0xFFFD;  // �

std::u32string DecodeAll(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const int32_t cp = text::DecodeUtf8(text, &pos);
    out.push_back(cp < 0 ? kReplacement : static_cast<char32_t>(cp));
  }
  return out;
}

}  // namespace

std::u32string UseLitePreprocess(std::string_view text) {
  if (text.empty()) return {};
  // Well-formed UTF-8 first: utf8proc refuses anything else.
  std::string clean;
  clean.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const int32_t cp = text::DecodeUtf8(text, &pos);
    text::AppendUtf8(cp < 0 ? static_cast<int32_t>(kReplacement) : cp, &clean);
  }
  utf8proc_uint8_t* normalized = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t*>(clean.data()), static_cast<utf8proc_ssize_t>(clean.size()),
      &normalized, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT));
  std::u32string symbols;
  if (n < 0 || normalized == nullptr) {
    symbols = DecodeAll(clean);  // cannot happen for well-formed input; keep the text as it is
  } else {
    symbols = DecodeAll(std::string_view(reinterpret_cast<const char*>(normalized), static_cast<size_t>(n)));
  }
  std::free(normalized);
  if (symbols.empty()) return symbols;
  std::replace(symbols.begin(), symbols.end(), U' ', kSeparator);
  symbols.insert(symbols.begin(), kSeparator);
  return symbols;
}

absl::StatusOr<UseLiteTokenizer> UseLiteTokenizer::FromVocabularyJson(std::string_view json,
                                                                      std::string_view file_name) {
  const nlohmann::json root = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  const auto bad = [&](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(AbslView(file_name), ": ", AbslView(what)));
  };
  if (root.is_discarded()) return bad("not valid JSON");
  if (!root.is_array() || root.size() <= kReservedPieces) {
    return bad(absl::StrCat("expected an array of more than ", kReservedPieces, " [piece, score] entries"));
  }
  UseLiteTokenizer t;
  t.trie_.emplace_back();
  t.scores_.reserve(root.size());
  t.utf16_units_.reserve(root.size());
  for (size_t i = 0; i < root.size(); ++i) {
    const nlohmann::json& entry = root[i];
    if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string() ||
        !(entry[1].is_number() || entry[1].is_null())) {
      return bad(absl::StrCat("entry ", i, ": expected [piece, score]"));
    }
    const std::string& piece = entry[0].get_ref<const std::string&>();
    if (piece.empty() || !text::IsValidUtf8(piece)) {
      return bad(absl::StrCat("entry ", i, ": the piece must be non-empty UTF-8"));
    }
    const double score = entry[1].is_null() ? 0.0 : entry[1].get<double>();
    const std::u32string symbols = DecodeAll(piece);
    int units = 0;
    for (char32_t c : symbols) units += c > 0xFFFF ? 2 : 1;
    t.scores_.push_back(score);
    t.utf16_units_.push_back(units);
    if (static_cast<int>(i) >= kReservedPieces) t.Insert(symbols, static_cast<int>(i));
  }
  return t;
}

void UseLiteTokenizer::Insert(const std::u32string& piece, int index) {
  int node = 0;
  for (char32_t c : piece) {
    auto it = trie_[node].children.find(c);
    if (it == trie_[node].children.end()) {
      const int depth = trie_[node].depth + 1;
      trie_.emplace_back();
      trie_.back().depth = depth;
      it = trie_[node].children.emplace(c, static_cast<int>(trie_.size() - 1)).first;
    }
    node = it->second;
  }
  trie_[node].piece = index;  // a later duplicate replaces an earlier one, as in the reference
}

std::vector<int> UseLiteTokenizer::Encode(std::string_view text) const {
  const std::u32string symbols = UseLitePreprocess(text);
  const size_t n = symbols.size();
  if (n == 0) return {};
  // The lattice: for each end position, the pieces ending there, in order of start position and,
  // for one start, shortest first (the reference's object-keyed lattice iterates the same way).
  struct Candidate {
    int index;
    int length;  // code points
  };
  std::vector<std::vector<Candidate>> ending(n + 1);
  for (size_t i = 0; i < n; ++i) {
    bool matched = false;
    auto child = trie_[0].children.find(symbols[i]);
    int node = child == trie_[0].children.end() ? -1 : child->second;
    for (size_t j = i; node >= 0;) {
      if (trie_[node].piece >= 0) {
        ending[i + trie_[node].depth].push_back({trie_[node].piece, trie_[node].depth});
        matched = true;
      }
      if (++j >= n) break;
      auto next = trie_[node].children.find(symbols[j]);
      node = next == trie_[node].children.end() ? -1 : next->second;
    }
    if (!matched) ending[i + 1].push_back({0, 1});  // unknown: one character, id 0, score 0
  }
  std::vector<double> best(n + 1, 0.0);
  std::vector<int> words(n + 1, 0);
  for (size_t end = 0; end <= n; ++end) {
    for (const Candidate& c : ending[end]) {
      const double score = scores_[c.index] + best[end - c.length];
      if (best[end] == 0 || score >= best[end]) {
        best[end] = score;
        words[end] = c.index;
      }
    }
  }
  // Back from the end, by each chosen piece's UTF-16 length (the reference's step; for pieces of
  // BMP characters it is their length in code points).
  std::vector<int> reversed;
  for (int64_t at = static_cast<int64_t>(n); at > 0; at -= utf16_units_[words[at]]) {
    reversed.push_back(words[at]);
  }
  std::vector<int> ids;
  ids.reserve(reversed.size());
  bool previous_unknown = false;
  for (int id : reversed) {
    if (!(previous_unknown && id == 0)) ids.push_back(id);
    previous_unknown = id == 0;
  }
  std::reverse(ids.begin(), ids.end());
  return ids;
}

}  // namespace engram::hybrid
