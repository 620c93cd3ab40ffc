#include "cli/logging.h"

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "core/json_text.h"
#include "core/log_escape.h"

namespace callproxy::cli {
namespace {

// `text` as a line of the text log may hold it (core/log_escape.h): what a peer put in a message
// can neither end the line nor reach a reader's terminal as a control sequence.
void append_log_text(std::string_view text, spdlog::memory_buf_t& dest) {
  const auto plain = log_safe_prefix(text);
  dest.append(text.data(), text.data() + plain);
  if (plain == text.size()) return;
  const auto rest = log_escaped(text.substr(plain));
  dest.append(rest.data(), rest.data() + rest.size());
}

// %V: the message of a text line, escaped. Every text line's message goes through it, so no call
// site has to remember which of its arguments a peer chose.
class TextMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    append_log_text(std::string_view(msg.payload.data(), msg.payload.size()), dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<TextMessageFlag>(); }
};

// %j: the message as a JSON string (quoted and escaped), so JSON lines stay valid whatever
// a peer put in a log message.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const auto text = dump_json(nlohmann::json(std::string(msg.payload.data(), msg.payload.size())));
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

// %F: an access record (a JSON object, see HttpSession) as fields of the JSON line.
class JsonFieldsFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    if (payload.size() >= 2 && payload.front() == '{' && payload.back() == '}') {
      dest.append(payload.data() + 1, payload.data() + payload.size() - 1);
    } else {
      const auto text = "\"text\":" + dump_json(nlohmann::json(std::string(payload)));
      dest.append(text.data(), text.data() + text.size());
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonFieldsFlag>(); }
};

// %A: an access record as one text line: "http: GET /path 200 1.234 ms request_id=... peer=...".
class AccessTextFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string payload(msg.payload.data(), msg.payload.size());
    const auto record = nlohmann::json::parse(payload, nullptr, false);
    std::string text;
    if (record.is_object()) {
      text = fmt::format("http: {} {} {} {:.3f} ms request_id={} peer={}", record.value("method", std::string("-")),
                         record.value("path", std::string("-")), record.value("status", 0),
                         record.value("durationMs", 0.0), record.value("requestId", std::string("-")),
                         record.value("peer", std::string("-")));
    } else {
      text = payload;
    }
    // The method and the path may hold any bytes a client sent.
    append_log_text(text, dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<AccessTextFlag>(); }
};

}  // namespace

void configure_logging(const LogOptions& options) {
  // Logs go to stderr: stdout belongs to a subcommand's output (sign, --json summaries).
  auto logger = spdlog::stderr_color_mt("callproxy");
  if (options.format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<JsonMessageFlag>('j').set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":%j})");
    logger->set_formatter(std::move(formatter));
  } else {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<TextMessageFlag>('V').set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %V");
    logger->set_formatter(std::move(formatter));
  }
  logger->set_level(spdlog::level::from_str(options.level));

  // serve's access lines: their fields as fields. Their own sink: a formatter set on a logger is
  // set on its sinks, so a shared sink would format every line as an access line. Console sinks
  // share one lock, so lines of the two never interleave.
  auto access = spdlog::stderr_color_mt("access");
  auto access_formatter = std::make_unique<spdlog::pattern_formatter>();
  if (options.format == "json") {
    access_formatter->add_flag<JsonFieldsFlag>('F').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"access",%F})");
  } else {
    access_formatter->add_flag<AccessTextFlag>('A').set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %A");
  }
  access->set_formatter(std::move(access_formatter));
  access->set_level(logger->level());
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace callproxy::cli
