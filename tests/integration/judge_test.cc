// rxlm judge against real HTTP servers on loopback:
// - FakeJudgeServer (a cpp-httplib server in a thread) for the deterministic cases a real model cannot
//   give on demand: 500/429 then 200 (retries), garbage (malformed, counted), slow replies (timeout),
//   a server refusing response_format, bounded concurrency, a rerun answered from the cache alone.
// - llama-cpp-python's OpenAI-compatible server with SmolLM2-135M-Instruct, started and stopped by the
//   test: 4 predictions judged (the tiny model's malformed replies are counted, not fatal), then a
//   second run with the same cache against a dead endpoint sends nothing and reproduces the first.
//   JSON mode (response_format) as users get it, with short replies (48 tokens: the counts need ~15):
//   llama-cpp-python's JSON grammar is cheap on a quiet machine (the case took 30 s) but took 158 s for
//   one reply while the 2 cores ran ~15 jobs.
#include <gtest/gtest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "rxlm/core/error.h"
#include "rxlm/eval/judge.h"
#include "rxlm/eval/judge_cache.h"
#include "../support/run_cli.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace rxlm::eval {
namespace {

// ---------------------------------------------------------------------------------------------------
// Predictions to judge.

PredictionRecord prediction(std::string id, std::vector<std::string> drugs, std::string diagnosis) {
  PredictionRecord r;
  r.sample_id = std::move(id);
  r.method = "test";
  r.parsed = true;
  r.drugs = drugs;
  r.text = "Drugs:";
  for (const auto& d : drugs) r.text += "\n- " + d;
  r.reference = drugs;
  r.user = "Patient: age 71, sex male, height 178 cm, weight 84.0 kg, BMI 26.5, admission type emergency.\n"
           "Diagnoses (in coded order):\n1. " + diagnosis + "\nList the drugs to prescribe for this admission.";
  return r;
}

std::vector<PredictionRecord> four_predictions() {
  return {prediction("s1", {"heparin", "metoprolol tartrate", "warfarin"}, "ICD-10 I4891: Unspecified atrial fibrillation"),
          prediction("s2", {"insulin", "metformin"}, "ICD-10 E119: Type 2 diabetes mellitus without complications"),
          prediction("s3", {"ceftriaxone", "azithromycin", "acetaminophen", "sodium chloride 0.9%"},
                     "ICD-10 J189: Pneumonia, unspecified organism"),
          prediction("s4", {"furosemide"}, "ICD-10 I5023: Acute on chronic systolic (congestive) heart failure")};
}

void write_predictions(const fs::path& path, const std::vector<PredictionRecord>& records) {
  std::ofstream out(path);
  for (const auto& r : records) out << to_json(r).dump() << "\n";
}

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("rxlm_judge_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

int suggested_in(const std::string& prompt) {
  std::smatch m;
  static const std::regex count(R"(Suggested drugs \((\d+)\))");
  return std::regex_search(prompt, m, count) ? std::stoi(m[1]) : -1;
}

std::string completion(const std::string& content) {
  return json{{"id", "x"}, {"object", "chat.completion"},
              {"choices", json::array({{{"index", 0}, {"message", {{"role", "assistant"}, {"content", content}}},
                                        {"finish_reason", "stop"}}})}}
      .dump();
}

// The hand-checkable judge: with n drugs suggested, n-1 are appropriate (1 of 1 when n = 1).
std::string rule_reply(int n) {
  const int appropriate = n > 1 ? n - 1 : n;
  return json{{"appropriate", appropriate}, {"inappropriate", n - appropriate}}.dump();
}

// ---------------------------------------------------------------------------------------------------
// A programmable OpenAI-compatible server in a thread.

class FakeJudgeServer {
 public:
  // handler(call number from 0, request body, response)
  using Handler = std::function<void(int, const json&, httplib::Response&)>;

  explicit FakeJudgeServer(Handler handler) : handler_(std::move(handler)) {
    server_.Post("/v1/chat/completions", [this](const httplib::Request& request, httplib::Response& response) {
      const int call = calls_++;
      const int now = ++in_flight_;
      for (int seen = max_in_flight_.load(); now > seen && !max_in_flight_.compare_exchange_weak(seen, now);) {}
      {
        std::lock_guard lock(mutex_);
        bodies_.push_back(json::parse(request.body));
        authorizations_.push_back(request.get_header_value("Authorization"));
      }
      handler_(call, json::parse(request.body), response);
      --in_flight_;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 200 && !server_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~FakeJudgeServer() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    server_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int calls() const { return calls_; }
  int max_in_flight() const { return max_in_flight_; }
  std::vector<json> bodies() {
    std::lock_guard lock(mutex_);
    return bodies_;
  }
  std::vector<std::string> authorizations() {
    std::lock_guard lock(mutex_);
    return authorizations_;
  }

 private:
  Handler handler_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> calls_{0}, in_flight_{0}, max_in_flight_{0};
  std::mutex mutex_;
  std::vector<json> bodies_;
  std::vector<std::string> authorizations_;
};

std::string user_message(const json& body) { return body["messages"][1]["content"].get<std::string>(); }

JudgeOptions fast_options(const std::string& url) {
  JudgeOptions options;
  options.endpoint.url = url;
  options.endpoint.timeout_seconds = 5;
  options.endpoint.retries = 3;
  options.endpoint.backoff_seconds = 0.01;
  options.request.model = "fake-judge";
  options.concurrency = 2;
  options.show_progress = false;
  return options;
}

TEST(JudgeFakeServer, AppropriatenessIsTheMeanOfPerSampleShares) {
  FakeJudgeServer server([](int, const json& body, httplib::Response& response) {
    response.set_content(completion(rule_reply(suggested_in(user_message(body)))), "application/json");
  });
  const JudgeReport report = run_judge(four_predictions(), fast_options(server.url()));
  // Per sample: 2/3, 1/2, 3/4, 1/1 → mean (0.6667 + 0.5 + 0.75 + 1) / 4 = 0.72917.
  EXPECT_NEAR(report.appropriateness, (2.0 / 3 + 0.5 + 0.75 + 1.0) / 4, 1e-12);
  EXPECT_EQ(report.judged, 4);
  EXPECT_EQ(report.sent, 4);
  EXPECT_EQ(report.requests, 4);
  EXPECT_EQ(report.appropriate_total, 7);
  EXPECT_EQ(report.suggested_total, 10);
  EXPECT_EQ(report.samples[2].appropriate, 3);
  EXPECT_EQ(report.samples[2].inappropriate, 1);
  // What went over the wire: the judge model, deterministic sampling, JSON mode, the paper's question.
  const auto bodies = server.bodies();
  ASSERT_EQ(bodies.size(), 4u);
  for (const auto& body : bodies) {
    EXPECT_EQ(body["model"], "fake-judge");
    EXPECT_EQ(body["temperature"], 0.0);
    EXPECT_EQ(body["response_format"]["type"], "json_object");
    EXPECT_NE(user_message(body).find("number of appropriate and the number of inappropriate"), std::string::npos);
  }
}

TEST(JudgeFakeServer, RetriesServerErrorsAndRateLimits) {
  // Calls 0 and 1 fail (500, then 429), call 2 answers: one sample, three requests.
  FakeJudgeServer server([](int call, const json& body, httplib::Response& response) {
    if (call == 0) response.status = 500, response.set_content("boom", "text/plain");
    else if (call == 1) response.status = 429, response.set_content("slow down", "text/plain");
    else response.set_content(completion(rule_reply(suggested_in(user_message(body)))), "application/json");
  });
  const JudgeReport report = run_judge({four_predictions()[0]}, fast_options(server.url()));
  EXPECT_EQ(report.judged, 1);
  EXPECT_EQ(report.failed, 0);
  EXPECT_EQ(report.requests, 3);
  EXPECT_EQ(report.samples[0].attempts, 3);
  EXPECT_EQ(server.calls(), 3);
}

TEST(JudgeFakeServer, GivesUpAfterTheRetriesAndSaysWhy) {
  FakeJudgeServer server([](int, const json&, httplib::Response& response) {
    response.status = 503;
    response.set_content("overloaded", "text/plain");
  });
  JudgeOptions options = fast_options(server.url());
  options.endpoint.retries = 2;
  const JudgeReport report = run_judge({four_predictions()[0]}, options);
  EXPECT_EQ(report.failed, 1);
  EXPECT_EQ(report.requests, 3);
  EXPECT_EQ(report.samples[0].status, "failed");
  EXPECT_EQ(report.samples[0].error, "HTTP 503: overloaded (after 3 attempts)");
}

TEST(JudgeFakeServer, ClientErrorsAreNotRetried) {
  FakeJudgeServer server([](int, const json&, httplib::Response& response) {
    response.status = 401;
    response.set_content("{\"error\": \"invalid api key\"}", "application/json");
  });
  const JudgeReport report = run_judge({four_predictions()[0]}, fast_options(server.url()));
  EXPECT_EQ(report.failed, 1);
  EXPECT_EQ(server.calls(), 1);
}

TEST(JudgeFakeServer, GarbageRepliesAreCountedMalformedNotFatal) {
  // s1 gets prose, s2 a count that does not add up, s3 a non-chat-completion body, s4 a good verdict.
  FakeJudgeServer server([](int, const json& body, httplib::Response& response) {
    const std::string prompt = user_message(body);
    if (prompt.find("heparin") != std::string::npos)
      response.set_content(completion("These look fine to me!"), "application/json");
    else if (prompt.find("insulin") != std::string::npos)
      response.set_content(completion(R"({"appropriate": 5, "inappropriate": 0})"), "application/json");
    else if (prompt.find("ceftriaxone") != std::string::npos)
      response.set_content("<html>gateway</html>", "text/html");
    else
      response.set_content(completion("```json\n{\"appropriate\": \"1\", \"inappropriate\": \"0\"}\n```"),
                           "application/json");
  });
  const JudgeReport report = run_judge(four_predictions(), fast_options(server.url()));
  EXPECT_EQ(report.malformed, 2);
  EXPECT_EQ(report.failed, 1);  // a 200 that is not a chat completion: a failed request, not retried
  EXPECT_EQ(report.judged, 1);
  EXPECT_DOUBLE_EQ(report.appropriateness, 1.0);  // only s4 (1 of 1) counts
  EXPECT_EQ(report.samples[0].error, "no JSON object in the reply");
  EXPECT_EQ(report.samples[1].error, "counts 5 + 0 = 5, but 2 drugs were suggested");
  EXPECT_NE(report.samples[2].error.find("not JSON"), std::string::npos) << report.samples[2].error;
  EXPECT_EQ(report.samples[2].attempts, 1);
  EXPECT_EQ(report.samples[0].reply, "These look fine to me!");
}

TEST(JudgeFakeServer, SlowRepliesTimeOut) {
  FakeJudgeServer server([](int, const json& body, httplib::Response& response) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    response.set_content(completion(rule_reply(suggested_in(user_message(body)))), "application/json");
  });
  JudgeOptions options = fast_options(server.url());
  options.endpoint.timeout_seconds = 0.3;
  options.endpoint.retries = 1;
  const JudgeReport report = run_judge({four_predictions()[3]}, options);
  EXPECT_EQ(report.failed, 1);
  EXPECT_EQ(report.samples[0].attempts, 2);
  EXPECT_NE(report.samples[0].error.find("timeout"), std::string::npos) << report.samples[0].error;
}

TEST(JudgeFakeServer, FallsBackWhenResponseFormatIsRefused) {
  FakeJudgeServer server([](int, const json& body, httplib::Response& response) {
    if (body.contains("response_format")) {
      response.status = 400;
      response.set_content(R"({"error": "response_format is not supported"})", "application/json");
      return;
    }
    response.set_content(completion(rule_reply(suggested_in(user_message(body)))), "application/json");
  });
  JudgeOptions options = fast_options(server.url());
  options.concurrency = 1;
  const JudgeReport report = run_judge(four_predictions(), options);
  EXPECT_EQ(report.judged, 4);
  EXPECT_FALSE(report.json_mode_used);
  EXPECT_EQ(server.calls(), 5);  // one refusal, then plain requests only
}

TEST(JudgeFakeServer, ConcurrencyIsBounded) {
  std::vector<PredictionRecord> records;
  for (int i = 0; i < 9; ++i)
    records.push_back(prediction("c" + std::to_string(i), {"drug" + std::to_string(i)}, "ICD-10 R51: Headache"));
  FakeJudgeServer server([](int, const json& body, httplib::Response& response) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    response.set_content(completion(rule_reply(suggested_in(user_message(body)))), "application/json");
  });
  JudgeOptions options = fast_options(server.url());
  options.concurrency = 3;
  const JudgeReport report = run_judge(records, options);
  EXPECT_EQ(report.judged, 9);
  EXPECT_LE(server.max_in_flight(), 3);
  EXPECT_GE(server.max_in_flight(), 2);
}

TEST(JudgeFakeServer, IdenticalQuestionsAreAskedOnce) {
  auto records = four_predictions();
  PredictionRecord twin = records[0];
  twin.sample_id = "s1-twin";
  records.push_back(twin);
  FakeJudgeServer server([](int, const json& body, httplib::Response& response) {
    response.set_content(completion(rule_reply(suggested_in(user_message(body)))), "application/json");
  });
  const JudgeReport report = run_judge(records, fast_options(server.url()));
  EXPECT_EQ(server.calls(), 4);
  EXPECT_EQ(report.sent, 4);
  EXPECT_EQ(report.cached, 1);
  EXPECT_EQ(report.judged, 5);
  EXPECT_EQ(report.samples[4].appropriate, 2);
}

TEST(JudgeFakeServer, UnparsedPredictionsAreSkipped) {
  auto records = four_predictions();
  records[1].parsed = false;
  records[1].drugs.clear();
  records[1].parse_error = "line 2: expected \"- <name>\"";
  FakeJudgeServer server([](int, const json& body, httplib::Response& response) {
    response.set_content(completion(rule_reply(suggested_in(user_message(body)))), "application/json");
  });
  const JudgeReport report = run_judge(records, fast_options(server.url()));
  EXPECT_EQ(report.skipped, 1);
  EXPECT_EQ(report.judged, 3);
  EXPECT_EQ(server.calls(), 3);
  EXPECT_EQ(report.samples[1].status, "skipped");
}

json read_json(const fs::path& path) {
  std::ifstream in(path);
  return json::parse(in);
}

std::vector<json> read_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  return lines;
}

TEST(JudgeCli, RerunWithTheCacheSendsNothingAndTheKeyNeverLeaks) {
  const fs::path dir = fresh_dir("cli");
  write_predictions(dir / "preds.jsonl", four_predictions());
  auto server = std::make_unique<FakeJudgeServer>([](int, const json& body, httplib::Response& response) {
    response.set_content(completion(rule_reply(suggested_in(user_message(body)))), "application/json");
  });
  const std::string url = server->url();
  ::setenv("RXLM_TEST_JUDGE_KEY", "sk-test-secret-4242", 1);
  const std::string common = "judge --preds " + (dir / "preds.jsonl").string() + " --model fake-judge --quiet" +
                             " --api-key-env RXLM_TEST_JUDGE_KEY --retries 1 --backoff 0.01 --timeout 2" +
                             " --endpoint " + url;
  const std::string cache = " --cache " + (dir / "cache.jsonl").string();
  auto first = test::run_cli(common + cache + " --out " + (dir / "run1").string());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("appropriateness 72.9%"), std::string::npos) << first.out;
  EXPECT_EQ(server->calls(), 4);
  for (const auto& auth : server->authorizations()) EXPECT_EQ(auth, "Bearer sk-test-secret-4242");
  server->stop();  // from here on the endpoint is dead: any request would fail

  auto second = test::run_cli(common + cache + " --out " + (dir / "run2").string());
  ASSERT_EQ(second.exit_code, 0) << second.err;
  const json summary1 = read_json(dir / "run1" / "judge.json"), summary2 = read_json(dir / "run2" / "judge.json");
  EXPECT_EQ(summary1["counts"]["sent"], 4);
  EXPECT_EQ(summary2["counts"]["sent"], 0);
  EXPECT_EQ(summary2["counts"]["requests"], 0);
  EXPECT_EQ(summary2["counts"]["cached"], 4);
  EXPECT_EQ(summary2["appropriateness"], summary1["appropriateness"]);
  EXPECT_EQ(summary1["judge_model"], "fake-judge");
  EXPECT_EQ(summary1["prompt"]["user_template"], judge_user_template());
  const auto lines1 = read_lines(dir / "run1" / "judge.jsonl"), lines2 = read_lines(dir / "run2" / "judge.jsonl");
  ASSERT_EQ(lines1.size(), 4u);
  ASSERT_EQ(lines2.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(lines1[i]["reply"], lines2[i]["reply"]);
    EXPECT_EQ(lines1[i]["status"], "judged");
    EXPECT_EQ(lines2[i]["cached"], true);
  }
  for (const fs::path& file : {dir / "run1" / "judge.json", dir / "run1" / "judge.jsonl", dir / "cache.jsonl"})
    EXPECT_EQ(test::read_file(file).find("sk-test-secret"), std::string::npos) << file;

  // A fresh cache against the dead endpoint: every sample fails, the command says so and exits 1.
  auto dead = test::run_cli(common + " --out " + (dir / "run3").string() + " --cache " +
                            (dir / "empty-cache.jsonl").string());
  EXPECT_EQ(dead.exit_code, 1);
  EXPECT_NE(dead.err.find("4 sample(s) got no reply"), std::string::npos) << dead.err;
  EXPECT_EQ(read_json(dir / "run3" / "judge.json")["counts"]["failed"], 4);
  fs::remove_all(dir);
}

TEST(JudgeCli, MissingApiKeyVariableIsAnError) {
  ::unsetenv("RXLM_TEST_NO_SUCH_KEY");
  const fs::path dir = fresh_dir("nokey");
  write_predictions(dir / "preds.jsonl", four_predictions());
  auto result = test::run_cli("judge --preds " + (dir / "preds.jsonl").string() +
                              " --endpoint http://127.0.0.1:9 --model m --api-key-env RXLM_TEST_NO_SUCH_KEY");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("RXLM_TEST_NO_SUCH_KEY"), std::string::npos) << result.err;
  fs::remove_all(dir);
}

TEST(JudgeCache, TornLastLineIsCutAndWrongFilesRefused) {
  const fs::path dir = fresh_dir("cache");
  {
    JudgeCache cache(dir / "c.jsonl");
    cache.put("k1", {"m", "s1", "{\"appropriate\": 1}"});
  }
  { std::ofstream(dir / "c.jsonl", std::ios::app) << "{\"key\": \"k2\", \"mod"; }  // killed mid-write
  {
    JudgeCache cache(dir / "c.jsonl");
    EXPECT_EQ(cache.size(), 1u);
    EXPECT_EQ(cache.find("k1")->reply, "{\"appropriate\": 1}");
    cache.put("k2", {"m", "s2", "r2"});
  }
  EXPECT_EQ(JudgeCache(dir / "c.jsonl").size(), 2u);
  { std::ofstream(dir / "other.jsonl") << "{\"sample_id\": \"s1\"}\n"; }
  EXPECT_THROW(JudgeCache(dir / "other.jsonl"), Error);
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------------
// The real server: llama-cpp-python's OpenAI-compatible server with SmolLM2-135M-Instruct.

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0)
    port = ntohs(address.sin_port);
  ::close(fd);
  return port;
}

// The server process, in its own process group, killed with the group on destruction (also when an
// assertion returns early); PR_SET_PDEATHSIG takes it down if the test process itself dies.
class ServerProcess {
 public:
  ServerProcess(const std::vector<std::string>& argv, const fs::path& log) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  ~ServerProcess() { stop(); }
  bool exited() {
    int status = 0;
    if (pid_ <= 0) return true;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    return false;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (exited()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

std::string trimmed_file(const fs::path& path) {
  std::string text = test::read_file(path);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// The Python that has llama-cpp-python's server, or "" with the reason in `why`.
std::string server_python(std::string& why) {
  if (const char* env = std::getenv("RXLM_JUDGE_PYTHON"); env && *env) return env;
  const fs::path state = fs::path(RXLM_BIN).parent_path() / "test-judge-server";
  if (fs::exists(state / "python")) return trimmed_file(state / "python");
  if (fs::exists(state / "unavailable")) {
    why = "scripts/test.d/judge-server.sh could not install llama-cpp-python[server]: " +
          trimmed_file(state / "unavailable");
    return "";
  }
  if (std::system("python3 -c 'import llama_cpp.server.app' >/dev/null 2>&1") == 0) return "python3";
  why = "llama-cpp-python[server] is not installed: run `RXLM_BUILD_DIR=" + fs::path(RXLM_BIN).parent_path().string() +
        " bash scripts/test.d/judge-server.sh` (scripts/test.sh does) or set RXLM_JUDGE_PYTHON";
  return "";
}

TEST(JudgeLlamaCppServer, JudgesFourPredictionsThenRerunsFromTheCacheAlone) {
  const char* model = std::getenv("RXLM_SMOLLM2_GGUF");
  if (!model || !*model) GTEST_SKIP() << "RXLM_SMOLLM2_GGUF is not set: run through scripts/test.sh";
  std::string why;
  const std::string python = server_python(why);
  if (python.empty()) GTEST_SKIP() << why;

  const fs::path dir = fresh_dir("llamacpp");
  write_predictions(dir / "preds.jsonl", four_predictions());
  const int port = free_port();
  ASSERT_GT(port, 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  {
    ServerProcess server({python, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1", "--port",
                          std::to_string(port), "--n_ctx", "2048", "--n_threads", "2", "--model_alias", "smollm2"},
                         dir / "server.log");
    httplib::Client probe(url);
    probe.set_connection_timeout(std::chrono::seconds(1));
    bool ready = false;
    for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
         !ready && std::chrono::steady_clock::now() < deadline;) {
      if (server.exited()) break;
      auto result = probe.Get("/v1/models");
      ready = result && result->status == 200;
      if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    ASSERT_TRUE(ready) << "llama-cpp-python's server did not come up within 120 s:\n"
                       << test::read_file(dir / "server.log");

    auto first = test::run_cli("judge --preds " + (dir / "preds.jsonl").string() + " --endpoint " + url +
                               " --model smollm2 --out " + (dir / "run1").string() + " --cache " +
                               (dir / "cache.jsonl").string() + " --concurrency 2 --timeout 600 --max-tokens 48");
    ASSERT_EQ(first.exit_code, 0) << first.out << first.err << test::read_file(dir / "server.log");
    std::cout << first.out;
    const json summary = read_json(dir / "run1" / "judge.json");
    EXPECT_EQ(summary["counts"]["sent"], 4);
    EXPECT_EQ(summary["counts"]["failed"], 0);
    EXPECT_EQ(summary["counts"]["judged"].get<int>() + summary["counts"]["malformed"].get<int>(), 4);
    EXPECT_EQ(summary["counts"]["cached"], 0);
    EXPECT_GE(summary["counts"]["requests"].get<int>(), 4);
    for (const auto& line : read_lines(dir / "run1" / "judge.jsonl")) {
      std::cout << line["sample_id"] << " " << line["status"] << " " << line["error"] << " reply: " << line["reply"]
                << "\n";
      EXPECT_TRUE(line["status"] == "judged" || line["status"] == "malformed") << line.dump();
      if (line["status"] == "judged")
        EXPECT_EQ(line["appropriate"].get<int>() + line["inappropriate"].get<int>(), line["suggested"].get<int>());
      else
        EXPECT_FALSE(line["error"].get<std::string>().empty());
    }
  }  // the server is stopped here

  // The same cache against the now dead endpoint: nothing is sent, everything is reproduced.
  auto second = test::run_cli("judge --preds " + (dir / "preds.jsonl").string() + " --endpoint " + url +
                              " --model smollm2 --out " + (dir / "run2").string() + " --cache " +
                              (dir / "cache.jsonl").string() + " --retries 0 --timeout 2");
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  const json summary1 = read_json(dir / "run1" / "judge.json"), summary2 = read_json(dir / "run2" / "judge.json");
  EXPECT_EQ(summary2["counts"]["sent"], 0);
  EXPECT_EQ(summary2["counts"]["requests"], 0);
  EXPECT_EQ(summary2["counts"]["cached"], 4);
  EXPECT_EQ(summary2["counts"]["judged"], summary1["counts"]["judged"]);
  EXPECT_EQ(summary2["counts"]["malformed"], summary1["counts"]["malformed"]);
  EXPECT_EQ(summary2["appropriateness"], summary1["appropriateness"]);
  const auto lines1 = read_lines(dir / "run1" / "judge.jsonl"), lines2 = read_lines(dir / "run2" / "judge.jsonl");
  ASSERT_EQ(lines1.size(), lines2.size());
  for (size_t i = 0; i < lines1.size(); ++i) EXPECT_EQ(lines1[i]["reply"], lines2[i]["reply"]);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rxlm::eval
