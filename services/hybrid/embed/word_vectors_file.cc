#include "services/hybrid/embed/word_vectors_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/text/absl_view.h"

namespace engram::hybrid {

// Appends words in file order and builds the index at the end (views into the arena must not be
// taken while it still grows).
class WordVectorTableBuilder {
 public:
  explicit WordVectorTableBuilder(int dimension) { table_.dimension_ = dimension; }

  void Reserve(size_t words) {
    table_.offsets_.reserve(words);
    table_.ends_.reserve(words);
    table_.values_.reserve(words * table_.dimension_);
  }

  void Add(std::string_view word, const float* values) {
    table_.offsets_.push_back(static_cast<uint32_t>(table_.arena_.size()));
    table_.arena_.insert(table_.arena_.end(), word.begin(), word.end());
    table_.ends_.push_back(static_cast<uint32_t>(table_.arena_.size()));
    table_.values_.insert(table_.values_.end(), values, values + table_.dimension_);
  }

  size_t size() const { return table_.offsets_.size(); }
  size_t arena_bytes() const { return table_.arena_.size(); }

  WordVectorTable Finish() && {
    table_.arena_.shrink_to_fit();
    table_.values_.shrink_to_fit();
    table_.index_.reserve(table_.offsets_.size());
    for (size_t row = 0; row < table_.offsets_.size(); ++row) {
      if (!table_.index_.try_emplace(table_.word(row), static_cast<uint32_t>(row)).second) {
        ++table_.duplicate_words_;
      }
    }
    return std::move(table_);
  }

 private:
  WordVectorTable table_;
};

int64_t WordVectorTable::Find(std::string_view word) const {
  auto it = index_.find(word);
  return it == index_.end() ? -1 : static_cast<int64_t>(it->second);
}

std::string_view WordVectorTable::word(size_t row) const {
  return std::string_view(arena_.data(), arena_.size()).substr(offsets_[row], ends_[row] - offsets_[row]);
}

size_t WordVectorTable::MemoryBytes() const {
  return values_.capacity() * sizeof(float) + arena_.capacity() +
         (offsets_.capacity() + ends_.capacity()) * sizeof(uint32_t) +
         index_.capacity() * (sizeof(std::pair<std::string_view, uint32_t>) + 1);
}

namespace {

// Words longer than this are malformed input, not vocabulary.
constexpr size_t kMaxWordBytes = 4096;
constexpr uint64_t kMaxWords = std::numeric_limits<uint32_t>::max() / 2;
constexpr int kMaxDimension = 4096;
// The word arena is indexed with uint32_t offsets.
constexpr size_t kMaxArenaBytes = std::numeric_limits<uint32_t>::max() - kMaxWordBytes;

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

absl::StatusOr<File> OpenFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    const int err = errno;
    const std::string message = absl::StrCat(path, ": cannot open: ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(message) : absl::InvalidArgumentError(message);
  }
  return File(f);
}

// How many entries of at least `min_entry_bytes` the rest of `f` can hold: a header's word count
// is a claim, and reserving memory for it up front must not trust it.
uint64_t EntriesThatFit(FILE* f, uint64_t min_entry_bytes) {
  const long here = std::ftell(f);
  struct stat st;
  if (here < 0 || fstat(fileno(f), &st) != 0 || st.st_size <= here) return 0;
  return static_cast<uint64_t>(st.st_size - here) / std::max<uint64_t>(min_entry_bytes, 1);
}

// Reads lines with POSIX getline; strips "\n" and "\r\n".
class LineReader {
 public:
  explicit LineReader(FILE* f) : file_(f) {}
  ~LineReader() { std::free(buffer_); }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  bool Next(std::string_view* line) {
    const ssize_t n = getline(&buffer_, &capacity_, file_);
    if (n < 0) return false;
    ++line_number_;
    size_t len = static_cast<size_t>(n);
    while (len > 0 && (buffer_[len - 1] == '\n' || buffer_[len - 1] == '\r')) --len;
    *line = std::string_view(buffer_, len);
    return true;
  }
  bool failed() const { return std::ferror(file_) != 0; }
  size_t line_number() const { return line_number_; }

 private:
  FILE* file_;
  char* buffer_ = nullptr;
  size_t capacity_ = 0;
  size_t line_number_ = 0;
};

absl::Status LineError(const std::string& path, size_t line, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ":", line, ": ", AbslView(message)));
}

bool ParseFloat(std::string_view field, float* out) {
  if (field.empty()) return false;
  // from_chars does not accept a leading '+', which some writers emit.
  if (field.front() == '+') field.remove_prefix(1);
  const char* end = field.data() + field.size();
  auto [ptr, ec] = std::from_chars(field.data(), end, *out);
  return ec == std::errc() && ptr == end && std::isfinite(*out);
}

std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

// Parses "count dim" when `fields` is a valid header.
bool ParseHeader(const std::vector<std::string_view>& fields, uint64_t* count, int* dimension) {
  if (fields.size() != 2) return false;
  uint64_t c = 0;
  uint64_t d = 0;
  if (!absl::SimpleAtoi(AbslView(fields[0]), &c) || !absl::SimpleAtoi(AbslView(fields[1]), &d))
    return false;
  // Header fields are plain digits; "1e3" or "-1" are not headers (SimpleAtoi rejects both).
  *count = c;
  *dimension = d > static_cast<uint64_t>(kMaxDimension) ? kMaxDimension + 1 : static_cast<int>(d);
  return true;
}

absl::Status CheckHeader(const std::string& path, uint64_t count, int dimension) {
  if (dimension < 1 || dimension > kMaxDimension) {
    return LineError(path, 1, absl::StrCat("header dimension must be in 1..", kMaxDimension));
  }
  if (count > kMaxWords) return LineError(path, 1, "header word count too large");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<WordVectorTable> ReadTextWordVectors(const std::string& path, size_t max_words) {
  auto file = OpenFile(path);
  if (!file.ok()) return file.status();
  LineReader reader(file->get());

  std::string_view line;
  bool have_header = false;
  uint64_t header_count = 0;
  int dimension = 0;
  std::unique_ptr<WordVectorTableBuilder> builder;
  std::vector<float> values;
  bool first_content_line = true;

  while (reader.Next(&line)) {
    if (max_words > 0 && builder && builder->size() >= max_words) break;
    const std::vector<std::string_view> fields = SplitFields(line);
    if (fields.empty()) continue;  // blank line
    const size_t line_number = reader.line_number();
    if (first_content_line) {
      first_content_line = false;
      if (ParseHeader(fields, &header_count, &dimension)) {
        if (line_number != 1) return LineError(path, line_number, "header must be the first line");
        if (auto s = CheckHeader(path, header_count, dimension); !s.ok()) return s;
        have_header = true;
        builder = std::make_unique<WordVectorTableBuilder>(dimension);
        // A text entry is at least a 1-byte word and " x" per component.
        const uint64_t fits = EntriesThatFit(file->get(), 1 + 2 * static_cast<uint64_t>(dimension));
        builder->Reserve(std::min<uint64_t>(
            {max_words > 0 ? max_words : header_count, header_count, fits, 1u << 24}));
        continue;
      }
      if (fields.size() < 2) {
        return LineError(path, line_number,
                         "expected \"word v1 ... vD\" or a \"count dim\" header");
      }
      // D = the number of trailing numeric fields (the word itself may contain spaces).
      size_t numeric = 0;
      float ignored;
      while (numeric + 1 < fields.size() &&
             ParseFloat(fields[fields.size() - 1 - numeric], &ignored)) {
        ++numeric;
      }
      if (numeric == 0) {
        return LineError(path, line_number, "expected \"word v1 ... vD\": no numeric values");
      }
      dimension = static_cast<int>(std::min<size_t>(numeric, kMaxDimension + 1));
      if (dimension > kMaxDimension) {
        return LineError(path, line_number,
                         absl::StrCat("more than ", kMaxDimension, " values per vector"));
      }
      builder = std::make_unique<WordVectorTableBuilder>(dimension);
    }

    if (fields.size() < static_cast<size_t>(dimension) + 1) {
      return LineError(path, line_number,
                       absl::StrCat("expected a word and ", dimension, " values, found ",
                                    fields.size(), " fields"));
    }
    // The last `dimension` fields are the values; the rest is the word (which may hold spaces).
    const size_t word_fields = fields.size() - dimension;
    values.resize(dimension);
    for (int i = 0; i < dimension; ++i) {
      if (!ParseFloat(fields[word_fields + i], &values[i])) {
        return LineError(
            path, line_number,
            absl::StrCat("value ", i + 1, " \"", absl::CEscape(AbslView(fields[word_fields + i])),
                         "\" is not a finite number"));
      }
    }
    if (word_fields > 1) {
      // A word with spaces is legitimate only if its extra parts are not numbers; otherwise the
      // line simply has too many values.
      float ignored;
      for (size_t i = 1; i < word_fields; ++i) {
        if (ParseFloat(fields[i], &ignored)) {
          return LineError(
              path, line_number,
              absl::StrCat("expected ", dimension, " values, found ", fields.size() - 1));
        }
      }
    }
    const std::string_view word(
        fields[0].data(),
        fields[word_fields - 1].data() + fields[word_fields - 1].size() - fields[0].data());
    if (word.size() > kMaxWordBytes) {
      return LineError(path, line_number,
                       absl::StrCat("word longer than ", kMaxWordBytes, " bytes"));
    }
    if (builder->arena_bytes() + word.size() > kMaxArenaBytes) {
      return LineError(path, line_number, "vocabulary too large");
    }
    builder->Add(word, values.data());
  }
  if (reader.failed()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": read error after line ", reader.line_number()));
  }
  if (!builder || builder->size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no word vectors in file"));
  }
  if (have_header && max_words == 0 && builder->size() != header_count) {
    return LineError(path, 1,
                     absl::StrCat("header declares ", header_count, " words but the file has ",
                                  builder->size(), " (truncated file?)"));
  }
  return std::move(*builder).Finish();
}

absl::StatusOr<WordVectorTable> ReadBinaryWordVectors(const std::string& path, size_t max_words) {
  auto file = OpenFile(path);
  if (!file.ok()) return file.status();
  FILE* f = file->get();

  // Header: the first line, "count dim".
  std::string header;
  for (int c; (c = std::fgetc(f)) != EOF && c != '\n';) {
    header.push_back(static_cast<char>(c));
    if (header.size() > 64) return LineError(path, 1, "expected a \"count dim\" header line");
  }
  uint64_t count = 0;
  int dimension = 0;
  if (!ParseHeader(SplitFields(StdView(absl::StripTrailingAsciiWhitespace(header))), &count,
                   &dimension)) {
    return LineError(path, 1, "expected a \"count dim\" header line");
  }
  if (auto s = CheckHeader(path, count, dimension); !s.ok()) return s;
  const uint64_t wanted = max_words > 0 ? std::min<uint64_t>(max_words, count) : count;

  WordVectorTableBuilder builder(dimension);
  // A binary entry is at least a 1-byte word, a space and the components.
  const uint64_t fits = EntriesThatFit(f, 2 + 4 * static_cast<uint64_t>(dimension));
  builder.Reserve(std::min<uint64_t>({wanted, fits, 1u << 24}));
  std::vector<float> values(dimension);
  std::vector<unsigned char> raw(static_cast<size_t>(dimension) * 4);
  std::string word;
  for (uint64_t entry = 1; entry <= wanted; ++entry) {
    const long offset = std::ftell(f);
    const auto entry_error = [&](std::string_view message) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": entry ", entry, " (byte offset ",
                                                     offset, "): ", AbslView(message)));
    };
    int c = std::fgetc(f);
    while (c == '\n' || c == '\r') c = std::fgetc(f);
    word.clear();
    while (c != EOF && c != ' ') {
      word.push_back(static_cast<char>(c));
      if (word.size() > kMaxWordBytes) {
        return entry_error(absl::StrCat("word longer than ", kMaxWordBytes,
                                        " bytes (not a word2vec binary file?)"));
      }
      c = std::fgetc(f);
    }
    if (c == EOF) {
      return entry_error(
          absl::StrCat("unexpected end of file; the header declares ", count, " words"));
    }
    if (word.empty()) return entry_error("empty word");
    if (std::fread(raw.data(), 1, raw.size(), f) != raw.size()) {
      return entry_error(absl::StrCat("unexpected end of file inside the vector of \"",
                                      absl::CEscape(word), "\""));
    }
    for (int i = 0; i < dimension; ++i) {
      uint32_t bits;
      std::memcpy(&bits, raw.data() + 4 * i, 4);
      if constexpr (std::endian::native == std::endian::big) bits = __builtin_bswap32(bits);
      std::memcpy(&values[i], &bits, 4);
      if (!std::isfinite(values[i])) {
        return entry_error(
            absl::StrCat("value ", i + 1, " of \"", absl::CEscape(word), "\" is not finite"));
      }
    }
    if (builder.arena_bytes() + word.size() > kMaxArenaBytes) {
      return entry_error("vocabulary too large");
    }
    builder.Add(word, values.data());
  }
  if (builder.size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no word vectors in file"));
  }
  return std::move(builder).Finish();
}

absl::StatusOr<absl::flat_hash_map<std::string, uint64_t>> ReadWordFrequencies(
    const std::string& path) {
  auto file = OpenFile(path);
  if (!file.ok()) return file.status();
  LineReader reader(file->get());
  absl::flat_hash_map<std::string, uint64_t> counts;
  std::string_view line;
  while (reader.Next(&line)) {
    const std::vector<std::string_view> fields = SplitFields(line);
    if (fields.empty() || fields[0].front() == '#') continue;
    uint64_t count = 0;
    if (fields.size() != 2 || !absl::SimpleAtoi(AbslView(fields[1]), &count) || count == 0) {
      return LineError(path, reader.line_number(),
                       "expected \"word count\" with a positive integer count");
    }
    if (!counts.try_emplace(std::string(fields[0]), count).second) {
      return LineError(
          path, reader.line_number(),
          absl::StrCat("word \"", absl::CEscape(AbslView(fields[0])), "\" appears twice"));
    }
  }
  if (reader.failed()) return absl::InvalidArgumentError(absl::StrCat(path, ": read error"));
  if (counts.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no frequencies"));
  return counts;
}

absl::StatusOr<std::vector<float>> ReadFloatVector(const std::string& path, int dimension) {
  auto file = OpenFile(path);
  if (!file.ok()) return file.status();
  LineReader reader(file->get());
  std::vector<float> out;
  std::string_view line;
  while (reader.Next(&line)) {
    for (std::string_view field : SplitFields(line)) {
      float value;
      if (!ParseFloat(field, &value)) {
        return LineError(
            path, reader.line_number(),
            absl::StrCat("\"", absl::CEscape(AbslView(field)), "\" is not a finite number"));
      }
      if (out.size() == static_cast<size_t>(dimension)) {
        return LineError(path, reader.line_number(),
                         absl::StrCat("more than ", dimension, " values"));
      }
      out.push_back(value);
    }
  }
  if (out.size() != static_cast<size_t>(dimension)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": expected ", dimension, " values, found ", out.size()));
  }
  return out;
}

}  // namespace engram::hybrid
