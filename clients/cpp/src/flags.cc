#include "flags.h"

#include <cmath>

namespace asrclient {

const std::set<std::string> kConnectionSwitches = {"tls"};
const std::set<std::string> kConnectionValued = {"server", "ca", "api-key", "timeout"};

Flags::Flags(int argc, char** argv, const std::set<std::string>& switches, const std::set<std::string>& valued) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-') {
      positionals_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(arg[1] == '-' ? 2 : 1);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (switches.count(name) || kConnectionSwitches.count(name)) {
      if (value) throw UsageError("--" + name + " takes no value");
      values_[name] = "true";
    } else if (valued.count(name) || kConnectionValued.count(name)) {
      if (!value) {
        if (i + 1 >= argc) throw UsageError("--" + name + " needs a value");
        value = argv[++i];
      }
      values_[name] = *value;
    } else {
      throw UsageError("unknown flag " + arg);
    }
  }
}

std::string Flags::Get(const std::string& name, const std::string& fallback) const {
  auto found = values_.find(name);
  return found == values_.end() ? fallback : found->second;
}

double Flags::PositiveNumber(const std::string& name, double fallback) const {
  if (!Has(name)) return fallback;
  const std::string text = Get(name);
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !std::isfinite(value) || value <= 0) {
    throw UsageError("--" + name + " takes a positive number, not \"" + text + "\"");
  }
  return value;
}

Options Flags::Connection() const {
  Options options;
  options.server = Get("server", DefaultServer());
  options.tls = Has("tls");
  options.ca = Get("ca");
  options.api_key = Get("api-key", DefaultApiKey());
  if (Has("timeout")) {
    options.timeout = std::chrono::milliseconds(static_cast<long long>(PositiveNumber("timeout", 0) * 1000));
  }
  return options;
}

}  // namespace asrclient
