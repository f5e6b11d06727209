// The HTTP side of the judge: one OpenAI-compatible POST /v1/chat/completions with timeouts and
// retries (exponential backoff on connection errors, timeouts, 5xx and 429), over cpp-httplib.
// One ChatClient per worker thread (an httplib client is not safe to share between threads).
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace httplib {
class Client;
}

namespace rxlm::eval {

struct EndpointOptions {
  // Base URL: "http://host:port", ".../v1" or the full ".../v1/chat/completions" (https too).
  std::string url;
  std::string api_key;          // sent as "Authorization: Bearer"; never logged or stored
  double timeout_seconds = 60;  // connect, read and write timeout of each attempt
  int retries = 3;              // further attempts after the first
  double backoff_seconds = 1;   // wait before retry k is backoff·2^(k-1), at most 30 s
};

// "http://h:8080" → {"http://h:8080", "/v1/chat/completions"}; throws rxlm::Error on a malformed URL.
struct ChatUrl {
  std::string origin;  // scheme://host[:port]
  std::string path;
};
ChatUrl chat_completions_url(const std::string& url);

struct ChatReply {
  bool ok = false;        // true: `content` holds the assistant message
  std::string content;
  int attempts = 0;       // HTTP requests made (1 + retries used)
  int http_status = 0;    // of the last attempt; 0 when no HTTP response came
  std::string error;      // why it failed (only when !ok)
  bool rejected_response_format = false;  // the server answered 4xx naming response_format
};

class ChatClient {
 public:
  explicit ChatClient(EndpointOptions options);
  ~ChatClient();
  ChatClient(const ChatClient&) = delete;
  ChatClient& operator=(const ChatClient&) = delete;

  // Sends `request` (a chat completion body), retrying as configured; never throws for network or
  // server trouble, only returns ok=false with the reason.
  ChatReply complete(const nlohmann::json& request);

 private:
  EndpointOptions options_;
  ChatUrl url_;
  std::unique_ptr<httplib::Client> client_;
};

// The assistant text of a chat completion response body; throws rxlm::Error when the body is not one.
std::string chat_completion_content(const std::string& body);

}  // namespace rxlm::eval
