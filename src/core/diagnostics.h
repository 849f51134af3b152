// SPDX-License-Identifier: Apache-2.0
// Where a configuration line came from, and the errors and warnings found in
// it. Every message a user sees names `file:line:`, says what is wrong, and,
// where we can tell, what to do about it.
//
//   Diagnostics diag;
//   diag.error(where, "unknown keyword 'bnd' in frontend 'web'", "did you mean 'bind'?");
//   if (diag.hasErrors()) { std::cerr << diag.render(); }
#pragma once

#include <map>
#include <string>
#include <vector>

namespace sluice::core {

struct SourceLocation {
  std::string file;
  int line = 0;

  std::string toString() const {
    if (file.empty()) {
      return "<config>";
    }
    return line > 0 ? file + ":" + std::to_string(line) : file;
  }
};

enum class Severity { Warning, Error };

struct Diagnostic {
  Severity severity;
  SourceLocation where;
  std::string message;
  std::string hint;
};

class Diagnostics {
 public:
  void error(const SourceLocation& where, std::string message, std::string hint = {}) {
    items_.push_back({Severity::Error, where, std::move(message), std::move(hint)});
    ++errors_;
  }

  void warning(const SourceLocation& where, std::string message, std::string hint = {}) {
    items_.push_back({Severity::Warning, where, std::move(message), std::move(hint)});
    ++warnings_;
  }

  // Warns once per `key`: later occurrences only raise the count shown on the
  // first one ("... (and 6 more lines)"), so a file with seven errorfile lines
  // gets one warning, not seven.
  void warnOnce(const std::string& key, const SourceLocation& where, std::string message,
                std::string hint = {}) {
    auto it = onceIndex_.find(key);
    if (it != onceIndex_.end()) {
      ++onceRepeats_[key];
      return;
    }
    onceIndex_[key] = items_.size();
    warning(where, std::move(message), std::move(hint));
  }

  bool hasErrors() const { return errors_ > 0; }
  size_t errorCount() const { return errors_; }
  size_t warningCount() const { return warnings_; }
  const std::vector<Diagnostic>& items() const { return items_; }

  // "file:line: error: message\n  hint: ...\n" lines, in the order found.
  std::string render() const {
    std::string out;
    for (size_t i = 0; i < items_.size(); ++i) {
      const Diagnostic& d = items_[i];
      out += d.where.toString();
      out += d.severity == Severity::Error ? ": error: " : ": warning: ";
      out += d.message;
      for (const auto& [key, index] : onceIndex_) {
        if (index == i) {
          auto rep = onceRepeats_.find(key);
          if (rep != onceRepeats_.end() && rep->second > 0) {
            out += " (and " + std::to_string(rep->second) + " more line" +
                   (rep->second > 1 ? "s" : "") + ")";
          }
        }
      }
      out += "\n";
      if (!d.hint.empty()) {
        out += "  hint: " + d.hint + "\n";
      }
    }
    return out;
  }

 private:
  std::vector<Diagnostic> items_;
  std::map<std::string, size_t> onceIndex_;
  std::map<std::string, size_t> onceRepeats_;
  size_t errors_ = 0;
  size_t warnings_ = 0;
};

}  // namespace sluice::core
