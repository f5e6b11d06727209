#include "rxlm/eval/judge_http.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include <fmt/format.h>

#include "rxlm/core/error.h"

namespace rxlm::eval {

ChatUrl chat_completions_url(const std::string& url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos || (url.compare(0, scheme_end, "http") != 0 && url.compare(0, scheme_end, "https") != 0))
    fail("judge: endpoint \"{}\" is not an http:// or https:// URL (e.g. http://127.0.0.1:8080)", url);
  const std::size_t path_start = url.find('/', scheme_end + 3);
  ChatUrl result;
  result.origin = url.substr(0, path_start);
  if (result.origin.size() == scheme_end + 3) fail("judge: endpoint \"{}\" has no host", url);
  std::string path = path_start == std::string::npos ? "" : url.substr(path_start);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.ends_with("/chat/completions")) result.path = path;
  else if (path.ends_with("/v1")) result.path = path + "/chat/completions";
  else result.path = path + "/v1/chat/completions";
  return result;
}

std::string chat_completion_content(const std::string& body) {
  const auto response = nlohmann::json::parse(body, nullptr, false);
  if (response.is_discarded()) fail("the response is not JSON: {}", body.substr(0, 120));
  try {
    const auto& message = response.at("choices").at(0).at("message");
    const auto& content = message.at("content");
    if (content.is_null()) return "";
    return content.get<std::string>();
  } catch (const nlohmann::json::exception&) {
    fail("the response is not a chat completion (no choices[0].message.content): {}", body.substr(0, 120));
  }
}

ChatClient::ChatClient(EndpointOptions options)
    : options_(std::move(options)), url_(chat_completions_url(options_.url)) {
  client_ = std::make_unique<httplib::Client>(url_.origin);
  if (!client_->is_valid()) fail("judge: cannot use endpoint \"{}\" (is https supported in this build?)", options_.url);
  const auto timeout = std::chrono::duration<double>(options_.timeout_seconds);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(timeout);
  client_->set_connection_timeout(micros);
  client_->set_read_timeout(micros);
  client_->set_write_timeout(micros);
  client_->set_keep_alive(true);
  if (!options_.api_key.empty()) client_->set_bearer_token_auth(options_.api_key);
}

ChatClient::~ChatClient() = default;

namespace {

bool retriable_status(int status) { return status == 429 || status >= 500; }

// Retry-After in whole seconds, if the server sent one we can read (the HTTP-date form is ignored).
double retry_after_seconds(const httplib::Response& response) {
  const std::string value = response.get_header_value("Retry-After");
  if (value.empty() || !std::all_of(value.begin(), value.end(), ::isdigit) || value.size() > 4) return 0;
  return std::stod(value);
}

}  // namespace

ChatReply ChatClient::complete(const nlohmann::json& request) {
  const std::string body = request.dump();
  ChatReply reply;
  double server_wait = 0;  // a Retry-After the server asked for
  for (int attempt = 0; attempt <= options_.retries; ++attempt) {
    if (attempt > 0) {
      const double backoff = std::min(30.0, options_.backoff_seconds * std::pow(2.0, attempt - 1));
      std::this_thread::sleep_for(std::chrono::duration<double>(std::max(backoff, server_wait)));
      server_wait = 0;
    }
    ++reply.attempts;
    auto result = client_->Post(url_.path, body, "application/json");
    if (!result) {
      const auto error = result.error();
      reply.http_status = 0;
      reply.error = error == httplib::Error::Read
                        ? fmt::format("no reply within the {} s timeout (or the connection broke while reading)",
                                      options_.timeout_seconds)
                        : fmt::format("HTTP request failed: {}", httplib::to_string(error));
      client_->stop();  // drop a half-used connection before the next attempt
      continue;
    }
    reply.http_status = result->status;
    if (result->status == 200) {
      try {
        reply.content = chat_completion_content(result->body);
      } catch (const Error& e) {
        reply.error = e.what();  // a server speaking another protocol: retrying will not help
        return reply;
      }
      reply.ok = true;
      reply.error.clear();
      return reply;
    }
    reply.error = fmt::format("HTTP {}: {}", result->status, result->body.substr(0, 200));
    if (!retriable_status(result->status)) {
      reply.rejected_response_format = result->status >= 400 && result->body.find("response_format") != std::string::npos;
      return reply;
    }
    server_wait = std::min(retry_after_seconds(*result), 60.0);
  }
  if (options_.retries > 0) reply.error += fmt::format(" (after {} attempts)", reply.attempts);
  return reply;
}

}  // namespace rxlm::eval
