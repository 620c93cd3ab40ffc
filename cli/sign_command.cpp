// callproxy sign: the X-Twilio-Signature Twilio would send, for curl and scripts; and --verify,
// which applies the same rules serve does.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "core/json_text.h"
#include "twilio/percent_encoding.h"
#include "twilio/signature.h"

namespace callproxy::cli {
namespace {

struct SignOptions {
  std::string url;
  std::vector<std::string> params;  // KEY=VALUE, split on the first '='
  std::optional<std::string> body;
  std::string body_file;
  std::optional<std::string> auth_token;
  std::string format = "plain";
  std::optional<std::string> verify;
};

// A word for a POSIX shell, single-quoted.
std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') out += "'\\''";
    else out.push_back(c);
  }
  return out + "'";
}

std::string curl_command(const std::string& url, const std::string& signature, const twilio::RequestParams& params,
                         const std::optional<std::string>& body) {
  std::string out = "curl -sS -X " + std::string(body || !params.empty() ? "POST" : "GET") + " " + shell_quote(url) +
                    " -H " + shell_quote("X-Twilio-Signature: " + signature);
  if (body) {
    const bool json = !nlohmann::json::parse(*body, nullptr, false).is_discarded();
    out += " -H " +
           shell_quote(std::string("Content-Type: ") + (json ? "application/json" : "text/plain; charset=utf-8"));
    out += " --data-binary " + shell_quote(*body);
  }
  for (const auto& [key, value] : params) {
    // curl's --data-urlencode encodes the value only; the name must arrive encoded.
    out += " --data-urlencode " + shell_quote(twilio::percent_encode(key, "-_.~") + "=" + value);
  }
  return out;
}

int run_sign(SignOptions& options, bool token_given) {
  if (!token_given) {
    std::cerr << "callproxy sign: no auth token: pass --auth-token or set TWILIO_AUTH_TOKEN\n";
    return exit_usage;
  }
  const std::string& token = *options.auth_token;

  if (!options.body_file.empty()) {
    std::ifstream in(options.body_file, std::ios::binary);
    if (!in) {
      std::cerr << "callproxy sign: --body-file: cannot read '" << options.body_file << "'\n";
      return exit_usage;
    }
    std::ostringstream text;
    text << in.rdbuf();
    options.body = text.str();
  }

  twilio::RequestParams params;
  for (const auto& p : options.params) {
    const auto eq = p.find('=');
    params.emplace_back(p.substr(0, eq), p.substr(eq + 1));
  }
  if (options.body && !params.empty()) {
    std::cerr << "callproxy sign: --param cannot be combined with a body: a JSON-body request signs "
                 "the URL alone (with bodySHA256)\n";
    return exit_usage;
  }
  if (twilio::signature_url_variants(options.url).empty()) {
    std::cerr << "callproxy sign: --url: '" << options.url << "' is not an absolute URL\n";
    return exit_usage;
  }

  if (options.verify) {
    // --url is the URL as the request arrived; with a body it already carries bodySHA256.
    const twilio::SignatureValidator validator(token);
    const auto verdict = options.body ? validator.validate_with_body(*options.verify, options.url, *options.body)
                                      : validator.validate(*options.verify, options.url, params);
    if (verdict == twilio::SignatureVerdict::valid) {
      std::cout << "valid\n";
      return exit_ok;
    }
    std::cout << "invalid: " << twilio::describe(verdict) << "\n";
    return exit_failure;
  }

  std::optional<std::string> body_hash;
  std::string url = options.url;
  if (options.body) {
    if (twilio::has_body_hash(url)) {
      std::cerr << "callproxy sign: --url already has bodySHA256; give the URL without it and the "
                   "body's hash is appended\n";
      return exit_usage;
    }
    body_hash = twilio::sha256_hex(*options.body);
    url = twilio::url_with_body_hash(url, *options.body);
  }
  const auto signature = twilio::compute_signature(token, url, params);

  if (options.format == "plain") {
    std::cout << signature << "\n";
  } else if (options.format == "header") {
    std::cout << "X-Twilio-Signature: " << signature << "\n";
  } else if (options.format == "json") {
    nlohmann::json out{{"url", url}, {"signature", signature}, {"bodySHA256", nullptr}};
    if (body_hash) out["bodySHA256"] = *body_hash;
    std::cout << dump_json(out) << "\n";
  } else {
    std::cout << curl_command(url, signature, params, options.body) << "\n";
  }
  return exit_ok;
}

}  // namespace

RunFunction setup_sign(CLI::App& parent) {
  auto options = std::make_shared<SignOptions>();
  auto* app = parent.add_subcommand("sign", "Compute (or --verify) a Twilio request signature");
  app->add_option("--url", options->url, "The full URL Twilio requests (scheme, host, path, query)")->required();
  app->add_option("--param", options->params, "A POST parameter KEY=VALUE (repeatable; a key may repeat)")
      ->check([](const std::string& p) {
        return p.find('=') == std::string::npos ? std::string("expected KEY=VALUE, got '" + p + "'") : std::string();
      })
      ->allow_extra_args(false);
  auto* body = app->add_option("--body", options->body, "A raw request body (JSON): signed through bodySHA256");
  auto* body_file = app->add_option("--body-file", options->body_file, "Read the body from FILE");
  body->excludes(body_file);
  app->add_option("--auth-token", options->auth_token, "Twilio auth token (HMAC key)")->envname("TWILIO_AUTH_TOKEN");
  app->add_option("--format", options->format, "Output: plain|header|json|curl")
      ->check(CLI::IsMember({"plain", "header", "json", "curl"}))
      ->capture_default_str();
  app->add_option("--verify", options->verify, "Check SIGNATURE instead of printing one: exit 0 valid, 1 invalid");
  return [options, app] {
    const bool token_given = app->count("--auth-token") > 0 || options->auth_token.has_value();
    return run_sign(*options, token_given);
  };
}

}  // namespace callproxy::cli
