// Command-line flags as the Node and Go clients take them: `--name VALUE`, `--name=VALUE`, `--switch`,
// flags before or after the positional arguments ("-" alone is a positional: standard input).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "connection.h"

namespace asrclient {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Flags {
 public:
  // `switches` take no value, `valued` take one; anything else is a UsageError.
  Flags(int argc, char** argv, const std::set<std::string>& switches, const std::set<std::string>& valued);
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  double PositiveNumber(const std::string& name, double fallback) const;
  const std::vector<std::string>& positionals() const { return positionals_; }
  // --server, --tls, --ca, --api-key, --timeout (seconds), with the environment's defaults.
  Options Connection() const;

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positionals_;
};

// The flags every program takes for its connection, to add to its own.
extern const std::set<std::string> kConnectionSwitches;
extern const std::set<std::string> kConnectionValued;

}  // namespace asrclient
